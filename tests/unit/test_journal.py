from __future__ import annotations

import os
import struct
import tracemalloc
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path

import orjson
import pytest

from pyrt.errors import DecodeError, JournalError
from pyrt.messages import (
    BarReceived,
    BookLevel,
    BookReceived,
    Heartbeat,
    Message,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    OrderSubmitted,
    OrderType,
    QuoteReceived,
    RiskApproved,
    RiskRejected,
    Side,
    SignalGenerated,
    SupervisorEvent,
    SupervisorEventKind,
    TimeInForce,
    TradeReceived,
    decode,
    encode,
)
from pyrt.runtime.journal import (
    FORMAT_VERSION,
    MAGIC,
    MAX_RECORD_BYTES,
    RECORD_HEADER_SIZE,
    Durability,
    JournalReader,
    JournalStatistics,
    JournalWriter,
    RecordKind,
    TornTail,
    TornTailReason,
    iter_json_lines,
    truncate_torn_tail,
)

METADATA = {"seed": 42, "version": "0.1.0", "config": {"symbols": ["AAPL", "BTC/USD"], "max_order": 10.5}}
T0 = 1_700_000_000_000_000_000


def make_messages() -> list[Message]:
    signal = SignalGenerated(
        signal_id="sig-1",
        strategy="sma",
        symbol="AAPL",
        side=Side.BUY,
        quantity=10.0,
        order_type=OrderType.LIMIT,
        limit_price=189.5,
        reference_price=189.7,
        ts_event=T0 + 3,
        ts_init=T0 + 4,
    )
    return [
        TradeReceived(symbol="AAPL", price=189.71, size=100.0, trade_id=7, ts_event=T0, ts_init=T0 + 1),
        QuoteReceived(
            symbol="BTC/USD",
            bid_price=64000.5,
            bid_size=0.25,
            ask_price=64001.0,
            ask_size=0.0,
            ts_event=T0,
            ts_init=T0,
        ),
        BarReceived(
            symbol="AAPL",
            timeframe="1m",
            open=189.0,
            high=190.0,
            low=188.5,
            close=189.7,
            volume=12_345.0,
            vwap=189.4,
            trade_count=321,
            ts_event=T0,
            ts_init=T0 + 2,
        ),
        BookReceived(
            symbol="AAPL",
            bids=(BookLevel(price=189.6, size=300.0), BookLevel(price=189.5, size=0.0)),
            asks=(BookLevel(price=189.8, size=200.0),),
            reset=True,
            ts_event=T0 + 1,
            ts_init=T0 + 2,
        ),
        signal,
        RiskApproved(signal=signal, client_order_id="pyrt-sig-1", ts_event=T0 + 5, ts_init=T0 + 5),
        RiskRejected(
            signal=signal,
            reason_code="MAX_ORDER_SIZE",
            reason="qty 10 > 5 — too big",
            ts_event=T0 + 5,
            ts_init=T0 + 5,
        ),
        OrderSubmitted(
            client_order_id="pyrt-sig-1",
            symbol="AAPL",
            side=Side.BUY,
            quantity=10.0,
            order_type=OrderType.LIMIT,
            time_in_force=TimeInForce.DAY,
            limit_price=189.5,
            ts_event=T0 + 6,
            ts_init=T0 + 6,
        ),
        OrderAccepted(
            client_order_id="pyrt-sig-1", venue_order_id="v-9", symbol="AAPL", ts_event=T0 + 7, ts_init=T0 + 8
        ),
        OrderFilled(
            client_order_id="pyrt-sig-1",
            venue_order_id="v-9",
            execution_id="x-1",
            symbol="AAPL",
            side=Side.BUY,
            fill_price=189.5,
            fill_quantity=4.0,
            cumulative_quantity=4.0,
            leaves_quantity=6.0,
            fee=0.01,
            ts_event=T0 + 9,
            ts_init=T0 + 10,
        ),
        OrderCanceled(
            client_order_id="pyrt-sig-1",
            venue_order_id="v-9",
            symbol="AAPL",
            filled_quantity=4.0,
            reason="canceled",
            ts_event=T0 + 11,
            ts_init=T0 + 11,
        ),
        OrderRejected(
            client_order_id="pyrt-sig-2",
            symbol="AAPL",
            reason="insufficient buying power",
            status_code=403,
            ts_event=T0 + 12,
            ts_init=T0 + 12,
        ),
        Heartbeat(actor="risk", sequence=3, ts_event=T0 + 13, ts_init=T0 + 13),
        SupervisorEvent(
            supervisor="root",
            child="execution",
            kind=SupervisorEventKind.CRASHED,
            error="TransportError('reset')",
            restarts=1,
            ts_event=T0 + 14,
            ts_init=T0 + 14,
        ),
    ]


def trade(i: int) -> TradeReceived:
    return TradeReceived(
        symbol="AAPL", price=100.0 + i, size=1.0 + i, trade_id=i, ts_event=T0 + i, ts_init=T0 + i
    )


def write_journal(path: Path, msgs: Sequence[Message], **kwargs: object) -> None:
    with JournalWriter.create(path, metadata=METADATA, **kwargs) as writer:  # type: ignore[arg-type]
        writer.append_many(msgs)


def record(kind: int, payload: bytes) -> bytes:
    crc = zlib.crc32(bytes((kind,)) + payload)
    return struct.pack("<IIB", len(payload), crc, kind) + payload


def last_record_start(path: Path) -> int:
    data = path.read_bytes()
    offset = len(MAGIC) + 2
    start = offset
    while offset < len(data):
        (length,) = struct.unpack_from("<I", data, offset)
        start = offset
        offset += RECORD_HEADER_SIZE + length
    return start


@pytest.fixture
def journal_path(tmp_path: Path) -> Path:
    return tmp_path / "run.pyrtj"


# --- round trip -------------------------------------------------------------------------------


def test_round_trip_of_every_message_type_keeps_order_and_metadata(journal_path: Path) -> None:
    msgs = make_messages()

    with JournalWriter.create(journal_path, metadata=METADATA) as writer:
        writer.append(msgs[0])
        writer.append_many(msgs[1:5])
        for msg in msgs[5:]:
            writer.append(msg)
    reader = JournalReader(journal_path)

    assert reader.metadata == METADATA
    assert list(reader) == msgs
    assert [type(m) for m in reader] == [type(m) for m in msgs]
    assert reader.torn_tail is None


def test_empty_journal_has_metadata_and_no_messages(journal_path: Path) -> None:
    JournalWriter.create(journal_path, metadata={}).close()

    reader = JournalReader(journal_path)

    assert reader.metadata == {}
    assert list(reader) == []
    assert reader.scan() is None


def test_metadata_is_readable_as_soon_as_create_returns(journal_path: Path) -> None:
    writer = JournalWriter.create(journal_path, metadata=METADATA)
    try:
        writer.append(trade(1))  # buffered, not yet written

        reader = JournalReader(journal_path)

        assert reader.metadata == METADATA
        assert list(reader) == []
        assert reader.torn_tail is None
    finally:
        writer.close()


def test_metadata_access_returns_a_fresh_copy(journal_path: Path) -> None:
    write_journal(journal_path, [])
    reader = JournalReader(journal_path)

    reader.metadata["seed"] = 0

    assert reader.metadata["seed"] == 42


def test_same_appends_give_byte_identical_files(tmp_path: Path) -> None:
    msgs = make_messages() * 3
    reordered_metadata = dict(reversed(list(METADATA.items())))

    with JournalWriter.create(tmp_path / "a", metadata=METADATA) as writer:
        writer.append_many(msgs)
    with JournalWriter.create(tmp_path / "b", metadata=reordered_metadata, buffer_bytes=100) as writer:
        for msg in msgs:
            writer.append(msg)
            writer.flush()
    with JournalWriter.create(tmp_path / "c", metadata=METADATA, durability=Durability.SYNC_EACH) as writer:
        writer.append_many(msgs[:7])
        writer.append_many(msgs[7:])

    a = (tmp_path / "a").read_bytes()
    assert a == (tmp_path / "b").read_bytes() == (tmp_path / "c").read_bytes()
    assert a.startswith(MAGIC + struct.pack("<H", FORMAT_VERSION))


def test_different_appends_give_different_files(tmp_path: Path) -> None:
    write_journal(tmp_path / "a", [trade(1), trade(2)])
    write_journal(tmp_path / "b", [trade(2), trade(1)])

    assert (tmp_path / "a").read_bytes() != (tmp_path / "b").read_bytes()


def test_record_layout_is_length_crc_kind_payload(journal_path: Path) -> None:
    msg = trade(1)
    write_journal(journal_path, [msg])
    payload = encode(msg)

    data = journal_path.read_bytes()

    assert data.endswith(record(RecordKind.MESSAGE, payload))
    meta = orjson.dumps(METADATA, option=orjson.OPT_SORT_KEYS)
    assert data == MAGIC + struct.pack("<H", 1) + record(RecordKind.METADATA, meta) + record(2, payload)


# --- create / open errors --------------------------------------------------------------------


def test_create_refuses_an_existing_file(journal_path: Path) -> None:
    journal_path.write_bytes(b"precious")

    with pytest.raises(JournalError, match=r"already exists; pass overwrite=True"):
        JournalWriter.create(journal_path, metadata={})

    assert journal_path.read_bytes() == b"precious"


def test_create_with_overwrite_replaces_the_file(journal_path: Path) -> None:
    write_journal(journal_path, [trade(1), trade(2)])

    write_journal(journal_path, [trade(3)], overwrite=True)

    assert list(JournalReader(journal_path)) == [trade(3)]


@pytest.mark.parametrize("relative", ["missing-dir/run.pyrtj", "."])
def test_create_on_an_unwritable_path_raises_journal_error(tmp_path: Path, relative: str) -> None:
    with pytest.raises(JournalError, match=r"^cannot create journal"):
        JournalWriter.create(tmp_path / relative, metadata={}, overwrite=True)


def test_create_when_the_disk_is_full_raises_journal_error() -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("needs /dev/full")

    with pytest.raises(JournalError, match=r"^cannot write journal '/dev/full'"):
        JournalWriter.create("/dev/full", metadata={}, overwrite=True)

    assert os.path.exists("/dev/full")


@pytest.mark.parametrize(
    "metadata",
    [{"when": object()}, {1: "non-str key"}, {"big": 2**64}],
    ids=["unserialisable", "int-key", "int-too-big"],
)
def test_create_with_bad_metadata_raises_and_leaves_no_file(
    journal_path: Path, metadata: dict[object, object]
) -> None:
    with pytest.raises(JournalError, match=r"^metadata must be a JSON object"):
        JournalWriter.create(journal_path, metadata=metadata)  # type: ignore[arg-type]

    assert not journal_path.exists()


def test_create_with_zero_buffer_bytes_raises_value_error(journal_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^buffer_bytes must be >= 1, was 0$"):
        JournalWriter.create(journal_path, metadata={}, buffer_bytes=0)

    assert not journal_path.exists()


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"", r"is not a pyrt journal: expected .* found an empty file$"),
        (b"PYRT", r"is not a pyrt journal"),
        (b'{"topic":"market.trade"}\n', r"is not a pyrt journal"),
        (os.urandom(4096).replace(b"P", b"Q"), r"is not a pyrt journal"),
        (MAGIC + struct.pack("<H", 2), r"has journal format version 2; this pyrt reads only 1$"),
        (MAGIC + struct.pack("<H", 1), r"has no complete metadata record at offset 8$"),
        (
            MAGIC + struct.pack("<H", 1) + record(1, b"{}")[:-1],
            r"no complete metadata .*\(truncated_payload\)$",
        ),
        (MAGIC + struct.pack("<H", 1) + record(2, encode(trade(1))), r"first record must be metadata"),
        (MAGIC + struct.pack("<H", 1) + record(1, b"[1, 2]"), r"metadata must be a JSON object, was list$"),
        (MAGIC + struct.pack("<H", 1) + record(1, b"{nope"), r"metadata record is not JSON"),
    ],
    ids=[
        "empty",
        "short",
        "json-lines",
        "garbage",
        "future-version",
        "header-only",
        "torn-metadata",
        "message-first",
        "metadata-not-object",
        "metadata-not-json",
    ],
)
def test_reader_on_a_non_journal_raises_journal_error(journal_path: Path, content: bytes, match: str) -> None:
    journal_path.write_bytes(content)

    with pytest.raises(JournalError, match=match):
        JournalReader(journal_path)
    with pytest.raises(JournalError):
        JournalWriter.open_append(journal_path)
    assert journal_path.read_bytes() == content  # nothing was cut from a file that is not a journal


def test_reader_on_a_missing_file_raises_journal_error(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match=r"^no journal at .*: file not found$"):
        JournalReader(tmp_path / "absent.pyrtj")


def test_reader_on_a_directory_raises_journal_error(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match=r"^cannot open journal"):
        JournalReader(tmp_path)


def test_truncate_torn_tail_on_a_missing_file_raises_journal_error(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match=r"^no journal at"):
        truncate_torn_tail(tmp_path / "absent.pyrtj")


# --- torn tails -------------------------------------------------------------------------------


def test_torn_tail_at_every_offset_inside_the_last_record_yields_the_earlier_records(tmp_path: Path) -> None:
    msgs = [trade(i) for i in range(5)]
    full = tmp_path / "full.pyrtj"
    write_journal(full, msgs)
    data = full.read_bytes()
    start = last_record_start(full)
    torn = tmp_path / "torn.pyrtj"

    for cut in range(start + 1, len(data)):
        torn.write_bytes(data[:cut])
        reader = JournalReader(torn)

        assert list(reader) == msgs[:-1], cut
        expected_reason = (
            TornTailReason.TRUNCATED_HEADER
            if cut - start < RECORD_HEADER_SIZE
            else TornTailReason.TRUNCATED_PAYLOAD
        )
        assert reader.torn_tail == TornTail(
            offset=start, discarded_bytes=cut - start, reason=expected_reason
        ), cut


def test_open_append_after_a_torn_tail_at_every_offset_cuts_it_then_appends_cleanly(tmp_path: Path) -> None:
    msgs = [trade(i) for i in range(3)]
    full = tmp_path / "full.pyrtj"
    write_journal(full, msgs)
    data = full.read_bytes()
    start = last_record_start(full)
    torn = tmp_path / "torn.pyrtj"

    for cut in range(start + 1, len(data)):
        torn.write_bytes(data[:cut])

        with JournalWriter.open_append(torn, durability=Durability.FLUSH_EACH) as writer:
            writer.append(trade(99))

        assert writer.cut_tail is not None
        assert (writer.cut_tail.offset, writer.cut_tail.discarded_bytes) == (start, cut - start)
        reader = JournalReader(torn)
        assert list(reader) == [*msgs[:-1], trade(99)], cut
        assert reader.torn_tail is None
        assert torn.read_bytes() == data[:start] + record(RecordKind.MESSAGE, encode(trade(99)))


def test_open_append_on_a_clean_journal_cuts_nothing(journal_path: Path) -> None:
    write_journal(journal_path, [trade(1)])

    with JournalWriter.open_append(journal_path) as writer:
        writer.append_many([trade(2), trade(3)])

    assert writer.cut_tail is None
    assert list(JournalReader(journal_path)) == [trade(1), trade(2), trade(3)]
    assert writer.statistics().records == 2


def test_open_append_when_metadata_is_torn_raises_and_keeps_the_file(journal_path: Path) -> None:
    write_journal(journal_path, [])
    data = journal_path.read_bytes()
    journal_path.write_bytes(data[:-3])

    with pytest.raises(JournalError, match=r"has no complete metadata record"):
        JournalWriter.open_append(journal_path)

    assert journal_path.read_bytes() == data[:-3]


def test_flipped_bit_in_last_payload_is_a_checksum_mismatch(journal_path: Path) -> None:
    msgs = [trade(i) for i in range(4)]
    write_journal(journal_path, msgs)
    data = bytearray(journal_path.read_bytes())
    start = last_record_start(journal_path)
    data[start + RECORD_HEADER_SIZE + 20] ^= 0x04
    journal_path.write_bytes(data)

    reader = JournalReader(journal_path)

    assert list(reader) == msgs[:-1]
    assert reader.torn_tail == TornTail(
        offset=start, discarded_bytes=len(data) - start, reason=TornTailReason.CHECKSUM_MISMATCH
    )


def test_any_flipped_bit_in_the_last_record_never_yields_a_wrong_record(journal_path: Path) -> None:
    msgs = [trade(i) for i in range(3)]
    write_journal(journal_path, msgs)
    original = journal_path.read_bytes()
    start = last_record_start(journal_path)
    reasons: set[TornTailReason] = set()

    for position in range(start, len(original)):
        # every bit of the 9-byte header; one bit per payload byte (which one rotates)
        bits = range(8) if position < start + RECORD_HEADER_SIZE else [position % 8]
        for bit in bits:
            data = bytearray(original)
            data[position] ^= 1 << bit
            journal_path.write_bytes(data)
            reader = JournalReader(journal_path)

            assert list(reader) == msgs[:-1], (position, bit)
            assert reader.torn_tail is not None
            assert reader.torn_tail.offset == start
            reasons.add(reader.torn_tail.reason)

    assert reasons == {
        TornTailReason.CHECKSUM_MISMATCH,
        TornTailReason.BAD_KIND,
        TornTailReason.OVERSIZE_LENGTH,
        TornTailReason.TRUNCATED_PAYLOAD,
    }


def test_zero_filled_tail_is_a_bad_kind(journal_path: Path) -> None:
    write_journal(journal_path, [trade(1)])
    size = journal_path.stat().st_size
    with journal_path.open("ab") as f:
        f.write(bytes(4096))

    reader = JournalReader(journal_path)

    assert list(reader) == [trade(1)]
    assert reader.torn_tail == TornTail(offset=size, discarded_bytes=4096, reason=TornTailReason.BAD_KIND)


def test_huge_length_field_is_rejected_without_allocating(journal_path: Path) -> None:
    write_journal(journal_path, [trade(1)])
    size = journal_path.stat().st_size
    with journal_path.open("ab") as f:
        f.write(struct.pack("<IIB", 0xFFFF_FFF0, 0, RecordKind.MESSAGE) + b"x" * 100)

    tracemalloc.start()
    try:
        reader = JournalReader(journal_path)
        msgs = list(reader)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert msgs == [trade(1)]
    assert reader.torn_tail == TornTail(
        offset=size, discarded_bytes=109, reason=TornTailReason.OVERSIZE_LENGTH
    )
    assert peak < 4 * 1024 * 1024


def test_length_at_the_cap_in_a_short_file_is_truncated_without_allocating(journal_path: Path) -> None:
    write_journal(journal_path, [trade(1)])
    size = journal_path.stat().st_size
    with journal_path.open("ab") as f:
        f.write(struct.pack("<IIB", MAX_RECORD_BYTES, 0, RecordKind.MESSAGE) + b"x" * 100)

    tracemalloc.start()
    try:
        tail = JournalReader(journal_path).scan()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert tail == TornTail(offset=size, discarded_bytes=109, reason=TornTailReason.TRUNCATED_PAYLOAD)
    assert peak < 4 * 1024 * 1024


def test_unknown_must_understand_kind_is_a_bad_kind(journal_path: Path) -> None:
    write_journal(journal_path, [trade(1)])
    size = journal_path.stat().st_size
    extra = record(3, b"{}") + record(2, encode(trade(2)))
    with journal_path.open("ab") as f:
        f.write(extra)

    reader = JournalReader(journal_path)

    assert list(reader) == [trade(1)]
    assert reader.torn_tail == TornTail(
        offset=size, discarded_bytes=len(extra), reason=TornTailReason.BAD_KIND
    )


def test_unknown_skippable_kind_is_stepped_over(journal_path: Path) -> None:
    write_journal(journal_path, [trade(1)])
    size = journal_path.stat().st_size
    with journal_path.open("ab") as f:
        f.write(record(200, b"raw frame bytes \x00\xff") + record(2, encode(trade(2))))

    reader = JournalReader(journal_path)
    lines = list(iter_json_lines(journal_path))

    assert list(reader) == [trade(1), trade(2)]
    assert reader.torn_tail is None
    assert orjson.loads(lines[2]) == {"journal": "record", "kind": 200, "offset": size, "length": 18}


def test_skippable_kind_with_a_bad_checksum_ends_the_valid_data(journal_path: Path) -> None:
    write_journal(journal_path, [trade(1)])
    size = journal_path.stat().st_size
    bad = bytearray(record(200, b"frame"))
    bad[-1] ^= 1
    with journal_path.open("ab") as f:
        f.write(bytes(bad) + record(2, encode(trade(2))))

    reader = JournalReader(journal_path)

    assert list(reader) == [trade(1)]
    assert reader.torn_tail is not None
    assert (reader.torn_tail.offset, reader.torn_tail.reason) == (size, TornTailReason.CHECKSUM_MISMATCH)


def test_corruption_in_the_middle_discards_everything_after_it(journal_path: Path) -> None:
    msgs = [trade(i) for i in range(6)]
    write_journal(journal_path, msgs)
    data = bytearray(journal_path.read_bytes())
    payload_len = len(encode(trade(0)))
    third = len(MAGIC) + 2 + RECORD_HEADER_SIZE + len(orjson.dumps(METADATA, option=orjson.OPT_SORT_KEYS))
    third += 2 * (RECORD_HEADER_SIZE + payload_len)
    data[third + RECORD_HEADER_SIZE + 3] ^= 0x80
    journal_path.write_bytes(data)

    reader = JournalReader(journal_path)

    assert list(reader) == msgs[:2]
    assert reader.torn_tail == TornTail(
        offset=third, discarded_bytes=len(data) - third, reason=TornTailReason.CHECKSUM_MISMATCH
    )


def test_truncate_torn_tail_cuts_the_file_and_is_then_a_no_op(journal_path: Path) -> None:
    write_journal(journal_path, [trade(1), trade(2)])
    clean = journal_path.read_bytes()
    with journal_path.open("ab") as f:
        f.write(record(2, encode(trade(3)))[:-5])

    tail = truncate_torn_tail(journal_path)

    assert tail == TornTail(
        offset=len(clean),
        discarded_bytes=RECORD_HEADER_SIZE + len(encode(trade(3))) - 5,
        reason=TornTailReason.TRUNCATED_PAYLOAD,
    )
    assert journal_path.read_bytes() == clean
    assert truncate_torn_tail(journal_path) is None
    assert journal_path.read_bytes() == clean


# --- records with a valid checksum but bad content ---------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [b"not json at all", b'{"topic":"market.nope"}', b'{"topic":"market.trade","symbol":"AAPL"}'],
    ids=["not-json", "unknown-topic", "missing-fields"],
)
def test_message_record_that_does_not_decode_raises_decode_error_naming_its_offset(
    journal_path: Path, payload: bytes
) -> None:
    write_journal(journal_path, [trade(1)])
    offset = journal_path.stat().st_size
    with journal_path.open("ab") as f:
        f.write(record(RecordKind.MESSAGE, payload) + record(RecordKind.MESSAGE, encode(trade(2))))
    messages = iter(JournalReader(journal_path))
    first = next(messages)

    with pytest.raises(
        DecodeError, match=rf"record at offset {offset} has a valid checksum but does not decode"
    ):
        next(messages)

    assert first == trade(1)
    assert JournalReader(journal_path).scan() is None  # framing is fine: this is a bug, not a torn write


def test_second_metadata_record_raises_decode_error(journal_path: Path) -> None:
    write_journal(journal_path, [trade(1)])
    offset = journal_path.stat().st_size
    with journal_path.open("ab") as f:
        f.write(record(RecordKind.METADATA, b"{}"))

    with pytest.raises(DecodeError, match=rf"record at offset {offset} is a second metadata record"):
        list(JournalReader(journal_path))
    with pytest.raises(DecodeError, match=rf"record at offset {offset} is a second metadata record"):
        list(iter_json_lines(journal_path))


# --- iter_json_lines ---------------------------------------------------------------------------


def test_iter_json_lines_gives_tagged_metadata_then_one_line_per_message(journal_path: Path) -> None:
    msgs = make_messages()
    write_journal(journal_path, msgs)

    lines = list(iter_json_lines(journal_path))

    assert all(line.endswith(b"\n") and line.count(b"\n") == 1 for line in lines)
    assert orjson.loads(lines[0]) == {"journal": "meta", "format_version": 1, "metadata": METADATA}
    assert [decode(line) for line in lines[1:]] == msgs


def test_iter_json_lines_ends_with_a_torn_tail_line(journal_path: Path) -> None:
    write_journal(journal_path, [trade(1), trade(2)])
    size = journal_path.stat().st_size
    with journal_path.open("ab") as f:
        f.write(b"\x01\x02\x03")

    lines = list(iter_json_lines(journal_path))

    assert len(lines) == 4
    assert orjson.loads(lines[-1]) == {
        "journal": "torn_tail",
        "offset": size,
        "discarded_bytes": 3,
        "reason": "truncated_header",
    }


def test_iter_json_lines_on_a_non_journal_raises_journal_error(journal_path: Path) -> None:
    journal_path.write_bytes(b"hello")

    with pytest.raises(JournalError):
        next(iter_json_lines(journal_path))


# --- writer behaviour: durability, statistics, lifecycle ---------------------------------------


def test_buffered_writer_hands_records_to_the_os_only_on_flush(journal_path: Path) -> None:
    with JournalWriter.create(journal_path, metadata={}) as writer:
        writer.append_many([trade(1), trade(2)])
        before_flush = list(JournalReader(journal_path))
        writer.flush()
        after_flush = list(JournalReader(journal_path))

    assert before_flush == []
    assert after_flush == [trade(1), trade(2)]


def test_buffered_writer_writes_by_itself_when_the_buffer_fills(journal_path: Path) -> None:
    record_size = RECORD_HEADER_SIZE + len(encode(trade(0)))

    with JournalWriter.create(journal_path, metadata={}, buffer_bytes=3 * record_size) as writer:
        for i in range(7):
            writer.append(trade(i))
        on_disk = list(JournalReader(journal_path))
        stats = writer.statistics()

    assert on_disk == [trade(i) for i in range(6)]
    assert stats.bytes_buffered == record_size
    assert stats.flushes == 3  # header+metadata, then two full buffers


@pytest.mark.parametrize("durability", [Durability.FLUSH_EACH, Durability.SYNC_EACH])
def test_eager_policies_write_each_call_before_returning(journal_path: Path, durability: Durability) -> None:
    with JournalWriter.create(journal_path, metadata={}, durability=durability) as writer:
        writer.append(trade(1))
        after_append = list(JournalReader(journal_path))
        writer.append_many([trade(2), trade(3)])
        after_many = list(JournalReader(journal_path))
        stats = writer.statistics()

    assert after_append == [trade(1)]
    assert after_many == [trade(1), trade(2), trade(3)]
    assert stats.bytes_buffered == 0
    assert stats.flushes == 3
    assert stats.syncs == (3 if durability is Durability.SYNC_EACH else 0)


def test_default_durability_is_buffered() -> None:
    assert Durability.__members__["DEFAULT"] is Durability.BUFFERED
    assert Durability("buffered") is Durability.DEFAULT


def test_statistics_count_records_bytes_flushes_and_syncs(journal_path: Path) -> None:
    writer = JournalWriter.create(journal_path, metadata=METADATA)
    header_and_meta = journal_path.stat().st_size

    writer.append_many([trade(1), trade(2)])
    buffered = writer.statistics()
    writer.sync()
    writer.flush()  # nothing pending: no write
    writer.append(trade(3))
    writer.sync_flushed()  # fsyncs, leaves the buffer alone
    mid = writer.statistics()
    writer.close()
    final = writer.statistics()

    two = 2 * (RECORD_HEADER_SIZE + len(encode(trade(1))))
    assert buffered == JournalStatistics(
        records=2, bytes_written=header_and_meta, bytes_buffered=two, flushes=1, syncs=0
    )
    assert mid == JournalStatistics(
        records=3, bytes_written=header_and_meta + two, bytes_buffered=two // 2, flushes=2, syncs=2
    )
    assert final.bytes_written == journal_path.stat().st_size
    assert (final.records, final.bytes_buffered, final.flushes, final.syncs) == (3, 0, 3, 3)


def test_statistics_is_a_frozen_snapshot(journal_path: Path) -> None:
    with JournalWriter.create(journal_path, metadata={}) as writer:
        stats = writer.statistics()
        writer.append(trade(1))

    assert stats.records == 0
    with pytest.raises(AttributeError):
        stats.records = 5  # type: ignore[misc]


def test_close_is_idempotent_and_later_use_raises(journal_path: Path) -> None:
    writer = JournalWriter.create(journal_path, metadata={})
    writer.append(trade(1))

    writer.close()
    writer.close()

    assert writer.closed
    assert list(JournalReader(journal_path)) == [trade(1)]
    calls: list[Callable[[], None]] = [
        lambda: writer.append(trade(2)),
        lambda: writer.append_many([trade(2)]),
        writer.flush,
        writer.sync,
        writer.sync_flushed,
    ]
    for call in calls:
        with pytest.raises(JournalError, match=r"is closed$"):
            call()


def test_context_manager_flushes_and_closes_when_the_body_raises(journal_path: Path) -> None:
    writers: list[JournalWriter] = []

    def crash_while_writing() -> None:
        with JournalWriter.create(journal_path, metadata={}) as writer:
            writers.append(writer)
            writer.append(trade(1))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match=r"^boom$"):
        crash_while_writing()

    assert writers[0].closed
    assert list(JournalReader(journal_path)) == [trade(1)]


def test_failed_write_makes_the_writer_unusable(journal_path: Path) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("needs /dev/full")
    writer = JournalWriter.create(journal_path, metadata={})
    assert writer._file is not None
    writer._file.close()
    writer._file = open("/dev/full", "wb", buffering=0)  # noqa: SIM115  # the writer closes it
    writer.append(trade(1))

    with pytest.raises(JournalError, match=r"^cannot write journal .*: No space left on device"):
        writer.flush()

    assert writer.closed
    with pytest.raises(JournalError, match=r"unusable after an earlier failure: write failed"):
        writer.append(trade(2))
    writer.close()  # releases nothing more and does not raise again


def test_oversized_message_is_refused_before_it_is_buffered(journal_path: Path) -> None:
    big = OrderRejected(
        client_order_id="c", symbol="AAPL", reason="x" * (MAX_RECORD_BYTES + 1), ts_event=0, ts_init=0
    )

    with JournalWriter.create(journal_path, metadata={}) as writer:
        writer.append(trade(1))
        with pytest.raises(JournalError, match=r"^a record must be <= 16777216 bytes, order.rejected was"):
            writer.append(big)
        with pytest.raises(JournalError, match=r"^a record must be <= 16777216 bytes"):
            writer.append_many([trade(2), big, trade(3)])

    assert list(JournalReader(journal_path)) == [trade(1), trade(2)]


def test_append_many_of_nothing_writes_nothing(journal_path: Path) -> None:
    with JournalWriter.create(journal_path, metadata={}, durability=Durability.FLUSH_EACH) as writer:
        before = writer.statistics()
        writer.append_many([])

        assert writer.statistics() == before


def test_writer_exposes_path_and_durability(journal_path: Path) -> None:
    with JournalWriter.create(journal_path, metadata={}, durability=Durability.FLUSH_EACH) as writer:
        assert writer.path == journal_path
        assert writer.durability is Durability.FLUSH_EACH
        assert writer.cut_tail is None
        assert "open" in repr(writer)
    assert "closed" in repr(writer)
