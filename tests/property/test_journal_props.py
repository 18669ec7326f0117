from __future__ import annotations

import itertools
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from pyrt.messages import Message, decode
from pyrt.runtime.journal import (
    MAGIC,
    RECORD_HEADER_SIZE,
    Durability,
    JournalReader,
    JournalWriter,
    iter_json_lines,
    truncate_torn_tail,
)
from tests.strategies import any_message

pytestmark = pytest.mark.slow  # each test runs 50-100 examples, each writing and fsyncing files

# one directory for every example: hypothesis runs many examples per test, and function-scoped
# fixtures are not reset between them
_counter = itertools.count()

message_lists = st.lists(any_message, min_size=0, max_size=25)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("journal_props")


def fresh(workdir: Path) -> Path:
    return workdir / f"j{next(_counter)}.pyrtj"


def record_ends(data: bytes) -> Iterator[int]:
    """Yield the offset just past each record (metadata first) of an intact journal."""
    offset = len(MAGIC) + 2
    while offset < len(data):
        (length,) = struct.unpack_from("<I", data, offset)
        offset += RECORD_HEADER_SIZE + length
        yield offset


def write(path: Path, msgs: list[Message], *, durability: Durability = Durability.DEFAULT) -> bytes:
    with JournalWriter.create(path, metadata={"seed": 7}, durability=durability, buffer_bytes=512) as writer:
        writer.append_many(msgs)
    return path.read_bytes()


@given(msgs=message_lists, data=st.data())
def test_truncation_anywhere_after_metadata_recovers_exactly_a_prefix(
    workdir: Path, msgs: list[Message], data: st.DataObject
) -> None:
    path = fresh(workdir)
    full = write(path, msgs)
    ends = list(record_ends(full))
    cut = data.draw(st.integers(min_value=ends[0], max_value=len(full)), label="cut")
    path.write_bytes(full[:cut])
    whole = sum(1 for end in ends[1:] if end <= cut)  # message records entirely before the cut

    reader = JournalReader(path)
    recovered = list(reader)

    assert recovered == msgs[:whole]
    boundary = ends[whole]  # offset just past the last whole record
    if cut == boundary:
        assert reader.torn_tail is None
    else:
        assert reader.torn_tail is not None
        assert (reader.torn_tail.offset, reader.torn_tail.discarded_bytes) == (boundary, cut - boundary)
    path.unlink()


@given(msgs=message_lists.filter(bool), extra=message_lists, data=st.data())
def test_bit_flip_after_metadata_never_yields_a_wrong_record_and_append_recovers(
    workdir: Path, msgs: list[Message], extra: list[Message], data: st.DataObject
) -> None:
    path = fresh(workdir)
    full = bytearray(write(path, msgs))
    ends = list(record_ends(bytes(full)))
    position = data.draw(st.integers(min_value=ends[0], max_value=len(full) - 1), label="position")
    full[position] ^= 1 << data.draw(st.integers(0, 7), label="bit")
    path.write_bytes(full)
    damaged = next(i for i, end in enumerate(ends[1:]) if position < end)  # index of the hit message

    reader = JournalReader(path)
    recovered = list(reader)

    assert recovered == msgs[:damaged]
    assert reader.torn_tail is not None
    assert reader.torn_tail.offset == ends[damaged]

    tail = truncate_torn_tail(path)
    assert tail == reader.torn_tail
    with JournalWriter.open_append(path) as writer:
        writer.append_many(extra)
    reader = JournalReader(path)
    assert list(reader) == msgs[:damaged] + extra
    assert reader.torn_tail is None
    path.unlink()


@given(msgs=message_lists, split=st.data())
def test_same_appends_give_byte_identical_files_whatever_the_policy_and_batching(
    workdir: Path, msgs: list[Message], split: st.DataObject
) -> None:
    a, b = fresh(workdir), fresh(workdir)
    reference = write(a, msgs)
    cuts = sorted(split.draw(st.lists(st.integers(0, len(msgs)), max_size=4), label="cuts"))
    policy = split.draw(st.sampled_from([Durability.BUFFERED, Durability.FLUSH_EACH]), label="policy")

    with JournalWriter.create(b, metadata={"seed": 7}, durability=policy, buffer_bytes=64) as writer:
        for start, stop in itertools.pairwise([0, *cuts, len(msgs)]):
            writer.append_many(msgs[start:stop])

    assert b.read_bytes() == reference
    assert [decode(line) for line in list(iter_json_lines(a))[1:]] == msgs
    a.unlink()
    b.unlink()
