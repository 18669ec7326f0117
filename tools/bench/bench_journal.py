"""Benchmark: journal append rate with the default durability policy.

Pre-builds N ``market.trade``/``market.quote`` messages from ``random.Random(seed)``, then, per
repeat, creates a journal in a temp directory and appends them all (``append`` one by one, and
``append_many`` in bus-sized batches), ending with ``flush()`` so every byte has reached the OS.
The final fsync (``close``) is timed separately: it measures the disk, not the writer.

Baselines in the same run: ``encode`` alone (the codec floor), and a raw ``file.write`` of the
same records pre-encoded and pre-framed (the I/O floor).

Run: ``python tools/bench/bench_journal.py [--records N] [--repeats R] [--batch B] [--seed S]``.
The last line is one JSON object; ``records_per_s`` is the median ``append`` rate.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import struct
import tempfile
import time
import zlib
from pathlib import Path

from pyrt.messages import Message, QuoteReceived, TradeReceived, encode
from pyrt.runtime.journal import Durability, JournalWriter

SYMBOLS = ("AAPL", "MSFT", "NVDA", "SPY", "BTC/USD", "ETH/USD")


def build_messages(count: int, seed: int) -> list[Message]:
    rng = random.Random(seed)
    ts = 1_700_000_000_000_000_000
    out: list[Message] = []
    for i in range(count):
        ts += rng.randrange(1_000, 2_000_000)
        symbol = rng.choice(SYMBOLS)
        price = round(rng.uniform(10.0, 500.0), 2)
        if rng.random() < 0.5:
            size = float(rng.randrange(1, 500))
            out.append(
                TradeReceived(
                    symbol=symbol, price=price, size=size, trade_id=i, ts_event=ts, ts_init=ts + 1_000
                )
            )
        else:
            spread = round(rng.uniform(0.01, 0.05), 2)
            out.append(
                QuoteReceived(
                    symbol=symbol,
                    bid_price=price,
                    bid_size=float(rng.randrange(1, 50) * 100),
                    ask_price=round(price + spread, 2),
                    ask_size=float(rng.randrange(1, 50) * 100),
                    ts_event=ts,
                    ts_init=ts + 1_000,
                )
            )
    return out


def time_append(msgs: list[Message], path: Path) -> tuple[float, float]:
    writer = JournalWriter.create(path, metadata={"bench": "journal"}, durability=Durability.DEFAULT)
    append = writer.append
    start = time.perf_counter()
    for msg in msgs:
        append(msg)
    writer.flush()
    elapsed = time.perf_counter() - start
    start = time.perf_counter()
    writer.close()
    return elapsed, time.perf_counter() - start


def time_append_many(msgs: list[Message], path: Path, batch: int) -> float:
    batches = [msgs[i : i + batch] for i in range(0, len(msgs), batch)]
    writer = JournalWriter.create(path, metadata={"bench": "journal"}, durability=Durability.DEFAULT)
    start = time.perf_counter()
    for chunk in batches:
        writer.append_many(chunk)
        writer.flush()  # what the recorder does after each bus batch
    elapsed = time.perf_counter() - start
    writer.close()
    return elapsed


def time_encode_only(msgs: list[Message]) -> float:
    # outputs are dropped as they come, as the writer drops them: keeping 200k small bytes
    # objects alive fragments the heap and slows every later repeat
    total = 0
    start = time.perf_counter()
    for msg in msgs:
        total += len(encode(msg))
    elapsed = time.perf_counter() - start
    assert total > 0
    return elapsed


def time_raw_write(framed: list[bytes], path: Path, chunk_records: int) -> float:
    start = time.perf_counter()
    with open(path, "wb", buffering=0) as f:
        for i in range(0, len(framed), chunk_records):
            f.write(b"".join(framed[i : i + chunk_records]))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=64, help="messages per append_many call")
    parser.add_argument("--seed", type=int, default=20240607)
    args = parser.parse_args()

    msgs = build_messages(args.records, args.seed)
    head = struct.Struct("<IIB")
    framed: list[bytes] = []
    for msg in msgs:
        payload = encode(msg)
        framed.append(head.pack(len(payload), zlib.crc32(payload, zlib.crc32(b"\x02")), 2) + payload)
    mean_record = sum(map(len, framed)) / len(framed)
    chunk_records = max(1, int(256 * 1024 / mean_record))

    append_s: list[float] = []
    close_s: list[float] = []
    many_s: list[float] = []
    encode_s: list[float] = []
    raw_s: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench_journal_") as tmp:
        directory = Path(tmp)
        for repeat in range(args.repeats):
            elapsed, closing = time_append(msgs, directory / f"append{repeat}.pyrtj")
            append_s.append(elapsed)
            close_s.append(closing)
            many_s.append(time_append_many(msgs, directory / f"many{repeat}.pyrtj", args.batch))
            encode_s.append(time_encode_only(msgs))
            raw_s.append(time_raw_write(framed, directory / f"raw{repeat}.bin", chunk_records))
            for file in directory.iterdir():
                file.unlink()

    n = args.records

    def rate(samples: list[float]) -> float:
        return n / statistics.median(samples)

    append_rate, many_rate = rate(append_s), rate(many_s)
    encode_rate, raw_rate = rate(encode_s), rate(raw_s)
    print(f"records: {n} (mean {mean_record:.1f} bytes framed), repeats: {args.repeats}, median of each")
    print(f"  journal append        {append_rate:>12,.0f} records/s   {1e6 / append_rate:.3f} us/record")
    print(f"  journal append_many   {many_rate:>12,.0f} records/s   (batch {args.batch}, flush per batch)")
    print(f"  baseline encode only  {encode_rate:>12,.0f} records/s")
    print(f"  baseline raw write    {raw_rate:>12,.0f} records/s   (pre-encoded, pre-framed)")
    print(f"  close (flush+fsync)   {statistics.median(close_s) * 1e3:>12.1f} ms")
    print(f"  append / encode-only  {append_rate / encode_rate:>12.3f}")
    target = 500_000
    status = "meets" if append_rate >= target else "MISSES"
    print(f"  target {target:,} records/s: {status}")
    print(
        json.dumps(
            {
                "records_per_s": round(append_rate, 1),
                "append_many_records_per_s": round(many_rate, 1),
                "encode_only_records_per_s": round(encode_rate, 1),
                "raw_write_records_per_s": round(raw_rate, 1),
                "ratio_vs_encode_only": round(append_rate / encode_rate, 3),
                "ratio_vs_raw_write": round(append_rate / raw_rate, 3),
                "close_ms": round(statistics.median(close_s) * 1e3, 2),
                "records": n,
                "repeats": args.repeats,
            }
        )
    )


if __name__ == "__main__":
    main()
