"""A REST fault storm against a real ``pyrt run``: the plan of issue 8 §1, then the checks.

Serves the embedded Alpaca-compatible venue in this process on a free 127.0.0.1 port, starts
``pyrt run --venue http://127.0.0.1:PORT`` as a subprocess against it, and switches the venue's
REST faults on a timetable while the run trades:

    t = 10 s   20 × 429 (a burst, whatever the rate limit says)
    t = 18 s   10 × 503
    t = 26 s    6 × 502 with HTML bodies (as a proxy sends them)
    t = 34 s   500 at p = 0.3, until t = 50 s
    t = 50 s    3 replies held 3 s
    t = 56 s    2 replies held 12 s (past the client's timeout: ambiguous)
    t = 64 s    5 mutating requests carried out, then the connection dropped unanswered
    t = 72 s   no faults; the run goes on to t = 100 s

``--scale`` stretches or shrinks every time (0.5 → a 50 s run). When the run has ended, the
venue's own books are compared with the run's journal:

- the run exited 0;
- no client order id was submitted twice, and every order at the venue is one the run sent;
- no order is stuck: each one the run sent ended (filled, canceled, rejected) or is still open at
  the venue;
- the run's positions (from its journaled fills) equal the venue's;
- no position is short (the default strategy is long-only);
- signals and fills happened after the faults stopped (trading resumed by itself).

Prints one line per check, then, as its last line, one JSON object. Exits 1 if a check failed.

    python tools/storm.py                # the 100 s plan
    python tools/storm.py --scale 0.4    # the same plan in 40 s
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import trio

from pyrt.messages import OrderCanceled, OrderFilled, OrderRejected, OrderSubmitted, SignalGenerated
from pyrt.runtime.journal import JournalReader
from pyrt.venues.local import LocalVenue, VenueFaults

SYMBOLS = ("AAPL", "MSFT")
KEY, SECRET = "storm-key", "storm-secret-not-logged"

# (seconds into the run, faults from then on)
PLAN: tuple[tuple[float, VenueFaults], ...] = (
    (10.0, VenueFaults(rest_429_next=20)),
    (18.0, VenueFaults(rest_error_next=10, rest_error_status=503)),
    (26.0, VenueFaults(rest_error_next=6, rest_error_status=502, rest_error_html=True)),
    (34.0, VenueFaults(rest_error_probability=0.3, rest_error_status=500)),
    (50.0, VenueFaults(rest_delay_next=3, rest_delay_seconds=3.0)),
    (56.0, VenueFaults(rest_delay_next=2, rest_delay_seconds=12.0)),
    (64.0, VenueFaults(rest_drop_next=5)),
)
CALM_AT = 72.0
DURATION = 100.0


async def storm(scale: float, workdir: Path) -> dict[str, Any]:
    venue = LocalVenue(symbols=SYMBOLS, seed=int(time.time()), key=KEY, secret=SECRET)
    journal = workdir / "storm.pyrtj"
    env = {k: v for k, v in os.environ.items() if not k.startswith("APCA_")}
    env.update(APCA_API_KEY_ID=KEY, APCA_API_SECRET_KEY=SECRET)
    result: dict[str, Any] = {}
    async with trio.open_nursery() as nursery:
        port = await nursery.start(venue.serve)
        started = trio.current_time()

        async def plan() -> None:
            for at, faults in PLAN:
                await trio.sleep_until(started + at * scale)
                venue.faults = faults
            await trio.sleep_until(started + CALM_AT * scale)
            venue.faults = VenueFaults()
            result["calm_at_ns"] = time.time_ns()

        nursery.start_soon(plan)
        argv = [
            sys.executable,
            "-m",
            "pyrt",
            "run",
            "--venue",
            f"http://127.0.0.1:{port}",
            "--duration",
            f"{DURATION * scale:g}s",
            "--journal",
            str(journal),
            "--quiet",
        ]
        with trio.fail_after(DURATION * scale + 60):  # a frozen run is a failure, not a hang
            proc = await trio.run_process(
                argv, cwd=workdir, env=env, capture_stdout=True, capture_stderr=True, check=False
            )
        venue.faults = VenueFaults()
        result["returncode"] = proc.returncode
        result["stderr_tail"] = proc.stderr.decode(errors="replace")[-4000:]
        result["stdout_tail"] = proc.stdout.decode(errors="replace")[-2000:]
        result["venue_orders"] = venue.engine.orders()
        result["venue_positions"] = {p.symbol: p.qty for p in venue.engine.positions()}
        result["faults_injected"] = dict(venue.statistics().faults_injected)
        nursery.cancel_scope.cancel()
    result["journal"] = journal
    return result


def check(result: dict[str, Any]) -> tuple[list[tuple[str, bool, str]], dict[str, Any]]:
    journal: Path = result["journal"]
    messages = list(JournalReader(journal)) if journal.exists() else []
    submitted = Counter(m.client_order_id for m in messages if isinstance(m, OrderSubmitted))
    fills = [m for m in messages if isinstance(m, OrderFilled)]
    ended: set[str] = {m.client_order_id for m in messages if isinstance(m, OrderCanceled | OrderRejected)}
    ended |= {f.client_order_id for f in fills if f.leaves_quantity == 0}
    venue_orders = result["venue_orders"]
    venue_ids = Counter(o.client_order_id for o in venue_orders)
    open_at_venue = {o.client_order_id for o in venue_orders if o.is_open}
    positions: dict[str, float] = {}
    for f in fills:
        positions[f.symbol] = positions.get(f.symbol, 0.0) + f.side.sign * f.fill_quantity
    positions = {s: q for s, q in positions.items() if q != 0}
    venue_positions = {s: q for s, q in result["venue_positions"].items() if q != 0}
    calm_at = result.get("calm_at_ns", math.inf)
    signals_after = sum(1 for m in messages if isinstance(m, SignalGenerated) and m.ts_init > calm_at)
    fills_after = sum(1 for f in fills if f.ts_init > calm_at)
    twice = sorted(
        cid for cid, n in (submitted + venue_ids).items() if submitted[cid] > 1 or venue_ids[cid] > 1
    )
    unknown = sorted(set(venue_ids) - set(submitted))
    stuck = sorted(cid for cid in submitted if cid not in ended and cid not in open_at_venue)
    shorts = {s: q for s, q in venue_positions.items() if q < 0}
    mismatch = {
        s: (positions.get(s, 0.0), venue_positions.get(s, 0.0))
        for s in set(positions) | set(venue_positions)
        if not math.isclose(positions.get(s, 0.0), venue_positions.get(s, 0.0), abs_tol=1e-9)
    }
    checks = [
        ("exit 0", result["returncode"] == 0, f"exit code {result['returncode']}"),
        ("no client order id twice", not twice, f"{twice[:5]}"),
        ("every venue order was sent by the run", not unknown, f"{unknown[:5]}"),
        ("no order stuck", not stuck, f"{len(stuck)} stuck: {stuck[:5]}"),
        ("positions equal the venue's", not mismatch, f"run vs venue: {mismatch}"),
        ("no short position", not shorts, f"{shorts}"),
        (
            "trading resumed after the faults",
            signals_after > 0 and fills_after > 0,
            f"{signals_after} signals, {fills_after} fills after the faults stopped",
        ),
    ]
    figures = {
        "returncode": result["returncode"],
        "orders_submitted": sum(submitted.values()),
        "venue_orders": len(venue_orders),
        "fills": len(fills),
        "stuck": len(stuck),
        "duplicate_client_order_ids": len(twice),
        "position_mismatches": len(mismatch),
        "shorts": len(shorts),
        "signals_after_faults": signals_after,
        "fills_after_faults": fills_after,
        "faults_injected": result["faults_injected"],
        "passed": all(ok for _, ok, _ in checks),
    }
    return checks, figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiply every time of the plan (default 1: 100 s)"
    )
    parser.add_argument(
        "--keep", type=Path, help="work in this folder and keep the journal (default: a temporary one)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="print the run's stderr tail")
    args = parser.parse_args(argv)
    if not (args.scale > 0 and math.isfinite(args.scale)):
        parser.error(f"--scale must be a finite number > 0, was {args.scale}")
    with tempfile.TemporaryDirectory(prefix="pyrt-storm-") as tmp:
        workdir = args.keep or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        result = trio.run(storm, args.scale, workdir)
        checks, figures = check(result)
    for name, ok, detail in checks:
        print(f"{'ok  ' if ok else 'FAIL'} {name}" + ("" if ok else f": {detail}"))
    if args.verbose or not figures["passed"]:
        print("--- pyrt run stderr (tail) ---")
        print(result["stderr_tail"])
    print(json.dumps(figures))
    return 0 if figures["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
