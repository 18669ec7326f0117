"""specs/marketdata.md is the contract: every rule M<n> has a test named after it, and back."""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "specs" / "marketdata.md"

_HEADING = re.compile(r"^### (M\d+) — \S")
_TEST_ID = re.compile(r"^test_(M\d+)_")


def spec_ids() -> list[str]:
    return [m[1] for line in SPEC.read_text().splitlines() if (m := _HEADING.match(line))]


def rule_test_ids() -> set[str]:
    found: set[str] = set()
    for path in (REPO / "tests").rglob("test_*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and (m := _TEST_ID.match(node.name)):
                found.add(m[1])
    return found


def test_spec_numbers_rules_once_and_in_order() -> None:
    ids = spec_ids()

    assert ids == [f"M{n}" for n in range(1, len(ids) + 1)]
    assert len(ids) >= 13


def test_every_rule_has_a_test_named_after_it_and_every_such_test_names_a_rule() -> None:
    ids = set(spec_ids())
    tested = rule_test_ids()

    assert sorted(ids - tested) == []
    assert sorted(tested - ids) == []
