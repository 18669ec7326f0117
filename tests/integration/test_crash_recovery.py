"""Kill -9 a real `pyrt run` mid-session; the next start recovers from SQLite and the venue (#5)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from pyrt.persistence.store import Store

PYRT = [sys.executable, "-m", "pyrt"]
KEY, SECRET = "PKCRASHTEST1", "crash-secret"


def env(**extra: str) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if not k.startswith("APCA_")}
    out.update(extra)
    return out


@pytest.mark.slow
def test_sigkill_mid_session_then_restart_recovers_without_duplicates_or_lost_fills(tmp_path: Path) -> None:
    venue = subprocess.Popen(
        [*PYRT, "venue", "--port", "0", "--symbols", "AAPL,MSFT", "--key", KEY, "--secret", SECRET],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
    )
    try:
        assert venue.stderr is not None
        url = venue.stderr.readline().split("listening on ")[1].split()[0]
        keys = {"APCA_API_KEY_ID": KEY, "APCA_API_SECRET_KEY": SECRET}

        # 1. a session that trades, killed with SIGKILL once it has filled orders
        first = subprocess.Popen(
            [*PYRT, "run", "--venue", url, "--duration", "120s", "--journal", str(tmp_path / "first.pyrtj")],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env(**keys),
        )
        assert first.stdout is not None
        fills = 0
        while fills < 3:
            line = first.stdout.readline()
            assert line, first.stderr.read() if first.stderr else ""
            match = re.search(r"fills (\d+)", line)
            fills = int(match.group(1)) if match else fills
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=30)
        assert first.returncode == -signal.SIGKILL

        # 2. the next start rebuilds from the store, reconciles with the venue and trades on
        second = subprocess.run(
            [*PYRT, "run", "--venue", url, "--duration", "4s", "--journal", str(tmp_path / "second.pyrtj")],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            env=env(**keys),
            timeout=60,
            check=False,
        )
        assert second.returncode == 0, second.stderr
        assert "trading state active" in second.stdout

        headers = {"APCA-API-KEY-ID": KEY, "APCA-API-SECRET-KEY": SECRET}
        venue_orders = httpx.get(
            f"{url}/v2/orders", params={"status": "all", "limit": 500}, headers=headers
        ).json()
        venue_positions = httpx.get(f"{url}/v2/positions", headers=headers).json()
    finally:
        venue.send_signal(signal.SIGINT)
        venue.communicate(timeout=30)

    (store_file,) = (tmp_path / "data").glob("store-*.sqlite3")
    with Store.open(store_file) as store:
        stored_orders = {o.client_order_id: o for o in store.orders()}
        stored_positions = store.positions()
        fills = store.fills()
        runs = store.runs()
    # no duplicated order: one venue order per client order id, and every one is ours
    ids = [o["client_order_id"] for o in venue_orders]
    assert len(ids) == len(set(ids))
    assert set(ids) <= set(stored_orders)
    # no lost fill: what the venue filled is what we recorded, order by order
    for order in venue_orders:
        recorded = sum(f.fill_quantity for f in fills if f.client_order_id == order["client_order_id"])
        assert recorded == pytest.approx(float(order["filled_qty"])), order["client_order_id"]
    # positions equal the venue's
    venue_qty = {p["symbol"]: float(p["qty"]) for p in venue_positions}
    ours = {s: p.quantity for s, p in stored_positions.items() if p.quantity}
    assert ours == pytest.approx(venue_qty)
    assert len(runs) == 2
    assert runs[0].ended_ns is None  # the killed run never ended
    assert runs[1].ended_ns is not None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _serve_venue(tmp_path: Path, port: int) -> subprocess.Popen[str]:
    venue = subprocess.Popen(
        [*PYRT, "venue", "--port", str(port), "--symbols", "AAPL,MSFT", "--key", KEY, "--secret", SECRET],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
    )
    assert venue.stderr is not None
    assert "listening on" in venue.stderr.readline()
    return venue


@pytest.mark.slow
def test_venue_killed_and_restarted_on_the_same_port_keeps_its_fills_and_halts_on_the_new_account(
    tmp_path: Path,
) -> None:
    # the restarted venue (same seed) reused order and execution ids: pyrt refused 11 real fills
    # as duplicate_execution, showed nothing, and only the next start noticed
    port = _free_port()
    config = tmp_path / "c.json"
    config.write_text(
        json.dumps(
            {
                "market_data": {"reconnect_delay_secs": 0.2},
                "execution": {"reconcile_interval_secs": 14.0},
            }
        )
    )
    journal = tmp_path / "j.pyrtj"
    venue = _serve_venue(tmp_path, port)
    run = subprocess.Popen(
        [
            *PYRT,
            "run",
            "--venue",
            f"http://127.0.0.1:{port}",
            "--config",
            str(config),
            "--duration",
            "20s",
            "--journal",
            str(journal),
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(APCA_API_KEY_ID=KEY, APCA_API_SECRET_KEY=SECRET),
    )
    try:
        assert run.stdout is not None
        fills = 0
        while fills < 2:
            line = run.stdout.readline()
            assert line, run.stderr.read() if run.stderr else ""
            match = re.search(r"fills (\d+)", line)
            fills = int(match.group(1)) if match else fills
        fills_before = fills
        venue.send_signal(signal.SIGKILL)
        venue.communicate(timeout=30)
        venue = _serve_venue(tmp_path, port)  # same port, same seed
        out, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
        venue.send_signal(signal.SIGINT)
        venue.communicate(timeout=30)

    assert run.returncode == 0, err
    assert "duplicate_execution" not in err
    assert "contradictory_execution" not in err
    shown = subprocess.run(
        [*PYRT, "journal", "show", str(journal)], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    messages = [json.loads(line) for line in shown.stdout.splitlines()[1:]]
    journal_fills = [m for m in messages if m.get("topic") == "order.filled"]
    assert len(journal_fills) > fills_before  # fills from the restarted venue were recorded
    with Store.open(tmp_path / "data" / f"store-127.0.0.1-{port}.sqlite3") as store:
        assert store.statistics().duplicate_fills == 0
        assert len(store.fills()) == len(journal_fills)
    halts = [m for m in messages if m.get("topic") == "control.command"]
    assert [(h["command"], h["source"]) for h in halts] == [("halt", "reconciler")]
    assert "account changed" in halts[0]["reason"]
    assert "trading state halted" in out
