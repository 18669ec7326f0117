"""Time and randomness only through the clock and the run's RNG (design.md: Time and randomness)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

PYRT = Path(__file__).resolve().parents[2] / "pyrt"
FORBIDDEN = [
    (re.compile(r"\btime\.(time|time_ns|monotonic|monotonic_ns|perf_counter)\("), "reads real time"),
    (re.compile(r"\bdatetime\.now\(|\bdt\.datetime\.now\(|\bdatetime\.utcnow\("), "reads real time"),
    (
        re.compile(r"^\s*random\.(random|randint|choice|shuffle|uniform|seed|gauss|getrandbits)\(", re.M),
        "uses the global RNG",
    ),
    (
        re.compile(r"(?<![\w.])random\.(random|randint|choice|shuffle|uniform|seed|gauss|getrandbits)\("),
        "uses the global RNG",
    ),
    (re.compile(r"\btrio\.sleep\("), "sleeps outside the clock"),
]
# where real time is the point: the wall clock itself, and the local venue's wall-clock HTTP dates
ALLOWED = {"clock.py"}


def sources() -> list[Path]:
    return sorted(p for p in PYRT.rglob("*.py") if p.name not in ALLOWED)


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(PYRT)))
def test_module_reads_time_and_randomness_only_through_clock_and_rng(path: Path) -> None:
    text = path.read_text()
    problems = [f"{path.name}: {why}: {m.group(0)!r}" for rx, why in FORBIDDEN for m in rx.finditer(text)]

    assert problems == []
