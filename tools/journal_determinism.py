"""Run one ``--venue local`` session in many processes and compare their journals byte for byte.

Each child runs ``tests.sim.test_simnet.run_local_session`` (the whole tree, the real Alpaca
client against the embedded venue over the simulated network, on trio's MockClock) with the same
run seed and its own ``PYTHONHASHSEED``. A hash seed lays memory out differently, and trio breaks
ties between wake-ups due at one virtual instant by object address, so these children differ in
exactly what a same-instant tie would follow (issue 10). ``--gc-off`` runs every child with
``gc.disable()`` as well.

Prints one line per child (hash seed, SHA-256 prefix, size), then, as its last line, one JSON
object. Exits 1 if two journals differ or a child failed.

    python tools/journal_determinism.py                       # seed 11, hash seeds 0..19
    python tools/journal_determinism.py --seed 12 --children 8 --gc-off
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHILD = (
    "import gc, sys\n"
    "if sys.argv[3] == 'off': gc.disable()\n"
    "from tests.sim.test_simnet import run_local_session\n"
    "run_local_session(int(sys.argv[1]), sys.argv[2], float(sys.argv[4]))\n"
)


def run_child(seed: int, hash_seed: int, path: Path, *, gc_off: bool, duration: float) -> str | None:
    env = {**os.environ, "PYTHONHASHSEED": str(hash_seed)}
    args = [sys.executable, "-c", CHILD, str(seed), str(path), "off" if gc_off else "on", str(duration)]
    done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, timeout=600, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr.decode(errors="replace")[-2000:])
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=11, help="the run's seed (default 11)")
    parser.add_argument("--children", type=int, default=20, help="processes, hash seeds 0..N-1 (default 20)")
    parser.add_argument("--first-hash-seed", type=int, default=0)
    parser.add_argument("--duration", type=float, default=20.0, help="virtual seconds (default 20)")
    parser.add_argument("--gc-off", action="store_true", help="gc.disable() in every child")
    options = parser.parse_args()

    digests: dict[int, str | None] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for hash_seed in range(options.first_hash_seed, options.first_hash_seed + options.children):
            path = Path(tmp) / f"{hash_seed}.pyrtj"
            digest = run_child(
                options.seed, hash_seed, path, gc_off=options.gc_off, duration=options.duration
            )
            digests[hash_seed] = digest
            size = path.stat().st_size if digest is not None else 0
            print(f"PYTHONHASHSEED={hash_seed:<4} {(digest or 'FAILED')[:16]} {size} bytes", flush=True)
    distinct = sorted({d for d in digests.values() if d is not None})
    ok = len(distinct) == 1 and None not in digests.values()
    print(
        json.dumps(
            {
                "seed": options.seed,
                "gc_off": options.gc_off,
                "children": len(digests),
                "failed": sum(d is None for d in digests.values()),
                "distinct_journals": len(distinct),
                "identical": ok,
            }
        )
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
