"""The event journal: an append-only file of length-prefixed, checksummed records.

The recorder writes every bus message, after one run-metadata record (config, seed, version),
to a journal; replay reads it back. After a crash the file may end in a torn record: the reader
detects it, reports it as a :class:`TornTail` and never yields it, and
:func:`truncate_torn_tail` (or :meth:`JournalWriter.open_append`) cuts it off.

Format, version 1 (all integers little-endian)::

    file   = header record*
    header = b"PYRTJ\\x00" (6-byte magic) + u16 format version
    record = u32 payload length | u32 crc32(kind byte + payload) | u8 kind | payload

Why this layout:

- The length comes first, so a reader takes each record in two reads and never scans for a
  delimiter. Lengths above :data:`MAX_RECORD_BYTES` are rejected *before* anything is read, so
  a corrupt length can never make the reader allocate gigabytes.
- The CRC covers the kind and the payload. It does not cover the length on its own, but a wrong
  length makes the CRC run over different bytes, so it fails all the same (except with
  probability 2**-32). A torn write, a flipped bit or a zero-filled tail therefore all end the
  valid data at the start of the damaged record.
- The 9-byte record header is not padded: records are read sequentially, never mapped.
- The magic's NUL byte marks the file as binary for text tools; the version lets a future
  layout be refused clearly instead of being misread.
- The writer adds no timestamps, sequence numbers or random ids, and metadata is written with
  sorted keys, so the same appends give a byte-identical file (messages carry their own
  ``ts_event``/``ts_init`` from the run's clock).

Record kinds (:class:`RecordKind`):

======== ==================================================================================
0        never written; a zero-filled tail (blocks allocated but not written before a
         crash) shows up as a bad kind
1        ``METADATA``: a JSON object, exactly once, as the first record
2        ``MESSAGE``: one bus message, as :func:`pyrt.messages.encode` makes it
3–127    kinds a reader must understand. Adding one bumps :data:`FORMAT_VERSION`, so in a
         version-1 file they can only come from corruption and end the valid data (bad kind)
128–255  kinds a reader may skip (room for e.g. raw inbound frames): a reader that does not
         know one checks its CRC and steps over it
======== ==================================================================================

A record whose checksum holds was written exactly as it reads, so a ``MESSAGE`` record that
does not decode is a bug (a codec or schema change), not a torn write: iteration raises
:class:`~pyrt.errors.DecodeError` naming its offset instead of skipping it.

Damage in the *middle* of a file (a flipped bit in an old record) also ends the valid data
there: everything after it is reported as the torn tail, and cutting the tail drops it.

Durability (:class:`Durability`) decides what a crash can lose:

``BUFFERED`` (the default)
    Appends are encoded into an in-memory buffer, handed to the OS (one ``write``) when it
    passes ``buffer_bytes`` (256 KiB by default) or on :meth:`~JournalWriter.flush`, and
    fsynced on :meth:`~JournalWriter.sync` and :meth:`~JournalWriter.close`. The recorder
    flushes after each bus batch and syncs on a timer, so a process crash loses at most the
    records appended since the last flush, and a power loss or kernel crash at most those
    since the last sync.
``FLUSH_EACH``
    Each ``append``/``append_many`` call is handed to the OS before it returns: a process crash
    loses nothing that was appended; a power loss loses what was not yet synced.
``SYNC_EACH``
    Each ``append``/``append_many`` call is written and fsynced before it returns: nothing that
    was appended is lost (as far as the disk honours fsync). Slow: one fsync per call.

Whatever the policy, ``create`` hands the header and metadata record to the OS before it
returns (and fsyncs them under ``SYNC_EACH``).
"""

from __future__ import annotations

import enum
import logging
import os
import struct
import zlib
from pathlib import Path
from typing import IO, TYPE_CHECKING, Final, final

import attrs
import orjson

from ..errors import DecodeError, JournalError
from ..messages import decode, encode

if TYPE_CHECKING:
    import io
    from collections.abc import Iterator, Mapping, Sequence
    from types import TracebackType

    from ..messages import Message

__all__ = [
    "DEFAULT_BUFFER_BYTES",
    "FORMAT_VERSION",
    "MAGIC",
    "MAX_RECORD_BYTES",
    "RECORD_HEADER_SIZE",
    "Durability",
    "JournalReader",
    "JournalStatistics",
    "JournalWriter",
    "RecordKind",
    "TornTail",
    "TornTailReason",
    "iter_json_lines",
    "truncate_torn_tail",
]

logger = logging.getLogger(__name__)

MAGIC: Final = b"PYRTJ\x00"
"""The first six bytes of every journal."""
FORMAT_VERSION: Final = 1
"""The layout this module writes and the only one it reads."""
MAX_RECORD_BYTES: Final = 16 * 1024 * 1024
"""Largest payload a record may have; a larger length field marks a torn tail."""
DEFAULT_BUFFER_BYTES: Final = 256 * 1024
"""Bytes a ``BUFFERED`` writer holds in memory before it hands them to the OS."""
RECORD_HEADER_SIZE: Final = 9
"""Bytes before each payload: length, CRC, kind."""

_FILE_HEADER: Final = MAGIC + struct.pack("<H", FORMAT_VERSION)
_FILE_HEADER_SIZE: Final = len(_FILE_HEADER)
_RECORD_HEAD: Final = struct.Struct("<IIB")
_READ_BUFFER_BYTES: Final = 1024 * 1024
_SMALL_RECORD_BYTES: Final = 64 * 1024
_FIRST_SKIPPABLE_KIND: Final = 128


class RecordKind(enum.IntEnum):
    """What a record's payload holds; see the module docstring for the reserved ranges."""

    METADATA = 1
    MESSAGE = 2


# CRC of each kind byte alone: the record CRC continues from it over the payload, so no
# kind+payload concatenation is ever built
_KIND_CRC: Final = tuple(zlib.crc32(bytes((kind,))) for kind in range(256))
_KNOWN_KINDS: Final = frozenset(int(kind) for kind in RecordKind)
_KIND_OK: Final = tuple(kind in _KNOWN_KINDS or kind >= _FIRST_SKIPPABLE_KIND for kind in range(256))
_MESSAGE: Final = int(RecordKind.MESSAGE)
_METADATA: Final = int(RecordKind.METADATA)
_MESSAGE_CRC: Final = _KIND_CRC[_MESSAGE]


class Durability(enum.StrEnum):
    """When appended records reach the OS and the disk; see the module docstring for crash loss."""

    BUFFERED = "buffered"
    """Buffer in memory; write when the buffer fills or on flush(); fsync on sync() and close()."""
    FLUSH_EACH = "flush_each"
    """Write each append/append_many call before it returns; fsync on sync() and close()."""
    SYNC_EACH = "sync_each"
    """Write and fsync each append/append_many call before it returns."""
    DEFAULT = BUFFERED
    """Alias of ``BUFFERED``: ≥ 500,000 records/s (``tools/bench/bench_journal.py``)."""


class TornTailReason(enum.StrEnum):
    """Why the valid data of a journal ends before the end of the file.

    There is no "undecodable payload" reason: a record whose checksum holds was written as it
    reads, so a payload that does not decode is a bug and raises DecodeError instead.
    """

    TRUNCATED_HEADER = "truncated_header"
    """Fewer bytes left than a record header (length, CRC, kind) needs."""
    TRUNCATED_PAYLOAD = "truncated_payload"
    """The length field promises more bytes than the file has."""
    CHECKSUM_MISMATCH = "checksum_mismatch"
    """The CRC does not match the kind and payload (a torn or corrupted write)."""
    BAD_KIND = "bad_kind"
    """The kind byte is not one a version-1 writer produces (e.g. 0 in a zero-filled tail)."""
    OVERSIZE_LENGTH = "oversize_length"
    """The length field exceeds ``MAX_RECORD_BYTES``; nothing was read or allocated for it."""


@final
@attrs.frozen(kw_only=True)
class TornTail:
    """Where a journal's valid data ends, and why."""

    offset: int
    """Byte offset just past the last valid record: the file's length once the tail is cut."""
    discarded_bytes: int
    """Bytes from ``offset`` to the end of the file, which are not trusted."""
    reason: TornTailReason
    """What was wrong with the record starting at ``offset``."""


@final
@attrs.frozen(kw_only=True)
class JournalStatistics:
    """A snapshot of one :class:`JournalWriter`'s counters (this writer only, not the file)."""

    records: int
    """Message records appended (the metadata record is not counted)."""
    bytes_written: int
    """Bytes handed to the OS, file header and metadata included."""
    bytes_buffered: int
    """Bytes appended but still in memory: what a process crash would lose right now."""
    flushes: int
    """Writes to the OS: explicit flushes with data pending, plus automatic ones."""
    syncs: int
    """fsync calls that completed."""


# --- reading ---------------------------------------------------------------------------------


@attrs.define
class _ScanState:
    torn_tail: TornTail | None = None


def _open_journal(path: Path, mode: str = "rb") -> IO[bytes]:
    try:
        f: IO[bytes] = open(path, mode, buffering=_READ_BUFFER_BYTES)  # noqa: SIM115  # returned open
    except FileNotFoundError as exc:
        raise JournalError(f"no journal at {str(path)!r}: file not found") from exc
    except OSError as exc:
        raise JournalError(f"cannot open journal {str(path)!r}: {exc.strerror or exc}") from exc
    ok = False
    try:
        try:
            header = f.read(_FILE_HEADER_SIZE)
        except OSError as exc:
            raise JournalError(f"cannot read journal {str(path)!r}: {exc.strerror or exc}") from exc
        if len(header) < _FILE_HEADER_SIZE or not header.startswith(MAGIC):
            found = "an empty file" if not header else repr(header)
            raise JournalError(
                f"{str(path)!r} is not a pyrt journal: expected it to start with {MAGIC!r}, found {found}"
            )
        (version,) = struct.unpack_from("<H", header, len(MAGIC))
        if version != FORMAT_VERSION:
            raise JournalError(
                f"{str(path)!r} has journal format version {version}; this pyrt reads only {FORMAT_VERSION}"
            )
        ok = True
    finally:
        if not ok:
            f.close()
    return f


def _records(f: IO[bytes], offset: int, state: _ScanState) -> Iterator[tuple[int, int, bytes]]:
    """Yield ``(offset, kind, payload)`` of each valid record; fill ``state`` when done."""
    try:
        yield from _records_unchecked(f, offset, state)
    except OSError as exc:
        raise JournalError(f"cannot read journal {str(f.name)!r}: {exc.strerror or exc}") from exc


def _records_unchecked(f: IO[bytes], offset: int, state: _ScanState) -> Iterator[tuple[int, int, bytes]]:
    read = f.read
    unpack = _RECORD_HEAD.unpack
    kind_ok = _KIND_OK
    kind_crc = _KIND_CRC
    crc32 = zlib.crc32
    reason: TornTailReason | None = None
    while True:
        head = read(RECORD_HEADER_SIZE)
        if len(head) < RECORD_HEADER_SIZE:
            if head:
                reason = TornTailReason.TRUNCATED_HEADER
            break
        length, crc, kind = unpack(head)
        if length > MAX_RECORD_BYTES:
            reason = TornTailReason.OVERSIZE_LENGTH
            break
        if not kind_ok[kind]:
            reason = TornTailReason.BAD_KIND
            break
        if (
            length > _SMALL_RECORD_BYTES
            and offset + RECORD_HEADER_SIZE + length > os.fstat(f.fileno()).st_size
        ):
            # a large read would allocate its full length before finding the file too short
            reason = TornTailReason.TRUNCATED_PAYLOAD
            break
        payload = read(length)
        if len(payload) < length:
            reason = TornTailReason.TRUNCATED_PAYLOAD
            break
        if crc32(payload, kind_crc[kind]) != crc:
            reason = TornTailReason.CHECKSUM_MISMATCH
            break
        yield offset, kind, payload
        offset += RECORD_HEADER_SIZE + length
    if reason is not None:
        size = os.fstat(f.fileno()).st_size
        state.torn_tail = TornTail(offset=offset, discarded_bytes=size - offset, reason=reason)


def _read_metadata(f: IO[bytes], path: Path) -> bytes:
    state = _ScanState()
    for _offset, kind, payload in _records(f, _FILE_HEADER_SIZE, state):
        if kind != _METADATA:
            raise JournalError(
                f"journal {str(path)!r}: first record must be metadata (kind {_METADATA}), was kind {kind}"
            )
        try:
            meta = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            raise JournalError(f"journal {str(path)!r}: metadata record is not JSON: {exc}") from exc
        if not isinstance(meta, dict):
            raise JournalError(
                f"journal {str(path)!r}: metadata must be a JSON object, was {type(meta).__name__}"
            )
        return payload
    detail = f" ({state.torn_tail.reason})" if state.torn_tail is not None else ""
    raise JournalError(
        f"journal {str(path)!r} has no complete metadata record at offset {_FILE_HEADER_SIZE}{detail}"
    )


@final
class JournalReader:
    """Read a journal back: its metadata, then its messages in order.

    The constructor checks the header and the metadata record. Each iteration opens the file
    afresh and reads it sequentially, so iterating twice reads it twice. Reading a journal that
    a writer still has open reports its unflushed end as a torn tail.

    Args:
        path: the journal file.

    Raises:
        JournalError: the file is missing or unreadable, is not a pyrt journal (wrong magic),
            has another format version, or has no complete metadata record.
    """

    __slots__ = ("_data_start", "_meta_payload", "_path", "_scan")

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = Path(path)
        with _open_journal(self._path) as f:
            self._meta_payload = _read_metadata(f, self._path)
        self._data_start = _FILE_HEADER_SIZE + RECORD_HEADER_SIZE + len(self._meta_payload)
        self._scan: _ScanState | None = None

    @property
    def path(self) -> Path:
        """The journal file."""
        return self._path

    @property
    def metadata(self) -> dict[str, object]:
        """The run metadata (the first record), as a fresh dict on each access."""
        meta: dict[str, object] = orjson.loads(self._meta_payload)
        return meta

    def __iter__(self) -> Iterator[Message]:
        """Yield each message in the order it was appended, stopping before a torn tail.

        Records of skippable kinds this reader does not know are stepped over. Once the
        iteration completes, :attr:`torn_tail` reports where the valid data ended.

        Raises:
            JournalError: the file vanished or changed into a non-journal since construction.
            DecodeError: a record has a valid checksum but does not hold a message (a second
                metadata record, or a payload that does not decode); its offset is named.
        """
        source = f"journal {str(self._path)!r}"
        with _open_journal(self._path) as f:
            f.seek(self._data_start)
            state = _ScanState()
            for offset, kind, payload in _records(f, self._data_start, state):
                if kind == _MESSAGE:
                    try:
                        msg = decode(payload)
                    except DecodeError as exc:
                        raise DecodeError(
                            f"record at offset {offset} has a valid checksum but does not decode "
                            f"as a message: {exc}",
                            source=source,
                        ) from exc
                    yield msg
                elif kind == _METADATA:
                    raise DecodeError(
                        f"record at offset {offset} is a second metadata record; only the first may be",
                        source=source,
                    )
        self._scan = state

    def scan(self) -> TornTail | None:
        """Check the framing and checksums of every record, without decoding messages.

        Returns:
            Where the valid data ends and why, or None when the file ends on a record boundary.

        Raises:
            JournalError: the file vanished or changed into a non-journal since construction.
        """
        with _open_journal(self._path) as f:
            f.seek(self._data_start)
            state = _ScanState()
            for _ in _records(f, self._data_start, state):
                pass
        self._scan = state
        return state.torn_tail

    @property
    def torn_tail(self) -> TornTail | None:
        """The torn tail found by the last complete iteration or :meth:`scan` (runs one if none has)."""
        if self._scan is None:
            return self.scan()
        return self._scan.torn_tail


def iter_json_lines(path: str | os.PathLike[str]) -> Iterator[bytes]:
    """Yield one JSON line (ending in ``\\n``) per record, for ``pyrt journal show``.

    The first line is the metadata, tagged ``{"journal":"meta","format_version":1,"metadata":{…}}``.
    Each message line is the message's own JSON (it has a ``"topic"`` key). A skippable record of
    an unknown kind gives ``{"journal":"record","kind":K,"offset":O,"length":N}``, and a torn tail
    a last line ``{"journal":"torn_tail","offset":O,"discarded_bytes":N,"reason":"…"}``.

    Args:
        path: the journal file.

    Raises:
        JournalError: as :class:`JournalReader` does.
        DecodeError: a second metadata record (its offset is named).
    """
    reader = JournalReader(path)
    yield b'{"journal":"meta","format_version":%d,"metadata":%s}\n' % (FORMAT_VERSION, reader._meta_payload)
    with _open_journal(reader.path) as f:
        f.seek(reader._data_start)
        state = _ScanState()
        for offset, kind, payload in _records(f, reader._data_start, state):
            if kind == _MESSAGE:
                yield payload + b"\n"
            elif kind == _METADATA:
                raise DecodeError(
                    f"record at offset {offset} is a second metadata record; only the first may be",
                    source=f"journal {str(reader.path)!r}",
                )
            else:
                line = {"journal": "record", "kind": kind, "offset": offset, "length": len(payload)}
                yield orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE)
    if state.torn_tail is not None:
        tail = state.torn_tail
        line = {
            "journal": "torn_tail",
            "offset": tail.offset,
            "discarded_bytes": tail.discarded_bytes,
            "reason": str(tail.reason),
        }
        yield orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE)


def truncate_torn_tail(path: str | os.PathLike[str]) -> TornTail | None:
    """Cut a torn tail off a journal, in place, and fsync the cut.

    Only framing and checksums are checked (messages are not decoded). Never call this on a
    journal that a writer still has open.

    Args:
        path: the journal file.

    Returns:
        The tail that was cut, or None when the file already ended on a record boundary.

    Raises:
        JournalError: the file is missing, unwritable, not a pyrt journal, or its metadata
            record itself is torn (cutting would leave no journal).
    """
    path = Path(path)
    with _open_journal(path, "r+b") as f:
        meta = _read_metadata(f, path)
        start = _FILE_HEADER_SIZE + RECORD_HEADER_SIZE + len(meta)
        f.seek(start)
        state = _ScanState()
        for _ in _records(f, start, state):
            pass
        tail = state.torn_tail
        if tail is not None:
            try:
                f.truncate(tail.offset)
                os.fsync(f.fileno())
            except OSError as exc:
                raise JournalError(
                    f"cannot cut the torn tail of {str(path)!r}: {exc.strerror or exc}"
                ) from exc
            logger.warning(
                "cut torn tail of journal %s at offset %d: %d bytes discarded (%s)",
                path,
                tail.offset,
                tail.discarded_bytes,
                tail.reason,
            )
    return tail


# --- writing ---------------------------------------------------------------------------------


def _encode_metadata(metadata: Mapping[str, object]) -> bytes:
    try:
        # sorted keys: the same metadata gives the same bytes whatever order it was built in
        payload = orjson.dumps(dict(metadata), option=orjson.OPT_SORT_KEYS)
    except (TypeError, ValueError) as exc:
        raise JournalError(f"metadata must be a JSON object with str keys: {exc}") from exc
    if len(payload) > MAX_RECORD_BYTES:
        raise JournalError(f"metadata must encode to <= {MAX_RECORD_BYTES} bytes, was {len(payload)}")
    return payload


def _check_options(durability: Durability, buffer_bytes: int) -> Durability:
    if buffer_bytes < 1:
        raise ValueError(f"buffer_bytes must be >= 1, was {buffer_bytes}")
    return Durability(durability)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@final
class JournalWriter:
    """Append messages to a journal; see the module docstring for the format and durability.

    Build one with :meth:`create` or :meth:`open_append`. Not thread-safe: call its methods from
    one thread, except :meth:`sync_flushed`. Once a write fails the writer is unusable (the file
    may end in a torn record, which :meth:`open_append` cuts).
    """

    __slots__ = (
        "_buffer",
        "_buffer_bytes",
        "_bytes_written",
        "_cut_tail",
        "_dir_unsynced",
        "_durability",
        "_eager",
        "_failure",
        "_file",
        "_flushes",
        "_path",
        "_records",
        "_syncs",
    )

    def __init__(
        self,
        file: io.FileIO,
        path: Path,
        *,
        durability: Durability,
        buffer_bytes: int,
        new_file: bool,
        cut_tail: TornTail | None,
    ) -> None:
        """Wrap an open file; use :meth:`create` or :meth:`open_append` instead."""
        self._file: io.FileIO | None = file
        self._path = path
        self._durability = durability
        self._eager = self._durability is not Durability.BUFFERED
        self._buffer_bytes = buffer_bytes
        # one bytearray, not a list of bytes: holding thousands of small payloads alive until a
        # flush fragments the heap and made append ~2x slower (tools/bench/bench_journal.py)
        self._buffer = bytearray()
        self._records = 0
        self._bytes_written = 0
        self._flushes = 0
        self._syncs = 0
        self._dir_unsynced = new_file  # a new file's directory entry needs its own fsync
        self._cut_tail = cut_tail
        self._failure: str | None = None

    @classmethod
    def create(
        cls,
        path: str | os.PathLike[str],
        *,
        metadata: Mapping[str, object],
        durability: Durability = Durability.DEFAULT,
        overwrite: bool = False,
        buffer_bytes: int = DEFAULT_BUFFER_BYTES,
    ) -> JournalWriter:
        """Create a journal and write its header and metadata record.

        The header and metadata are handed to the OS before this returns (and fsynced under
        ``SYNC_EACH``), so a reader finds a valid, empty journal at once.

        Args:
            path: the file to create.
            metadata: the run metadata (config, seed, version …): a JSON-serialisable mapping
                with str keys. Written with sorted keys (orjson writes NaN and infinities as
                null); do not put wall-clock time in it if the file must be reproducible.
            durability: when appended records reach the OS and the disk.
            overwrite: replace an existing file instead of refusing.
            buffer_bytes: how many bytes a ``BUFFERED`` writer holds before writing them.

        Returns:
            The writer, positioned after the metadata record.

        Raises:
            JournalError: the file exists (and ``overwrite`` is false), cannot be created or
                written, or the metadata is not a JSON object.
        """
        path = Path(path)
        durability = _check_options(durability, buffer_bytes)
        meta_payload = _encode_metadata(metadata)
        try:
            file = open(path, "wb" if overwrite else "xb", buffering=0)  # noqa: SIM115  # owned by the writer
        except FileExistsError as exc:
            raise JournalError(
                f"journal {str(path)!r} already exists; pass overwrite=True to replace it"
            ) from exc
        except OSError as exc:
            raise JournalError(f"cannot create journal {str(path)!r}: {exc.strerror or exc}") from exc
        writer = cls(
            file, path, durability=durability, buffer_bytes=buffer_bytes, new_file=True, cut_tail=None
        )
        head = _RECORD_HEAD.pack(len(meta_payload), zlib.crc32(meta_payload, _KIND_CRC[_METADATA]), _METADATA)
        writer._buffer += _FILE_HEADER + head + meta_payload
        try:
            writer._write_pending()
            if writer._durability is Durability.SYNC_EACH:
                writer._fsync()
        except JournalError:
            writer._abandon()
            if not overwrite:  # we made this file, and without its metadata it is no journal
                try:
                    path.unlink()
                except OSError:
                    pass
            raise
        logger.debug("created journal %s (durability %s)", path, writer._durability)
        return writer

    @classmethod
    def open_append(
        cls,
        path: str | os.PathLike[str],
        *,
        durability: Durability = Durability.DEFAULT,
        buffer_bytes: int = DEFAULT_BUFFER_BYTES,
    ) -> JournalWriter:
        """Cut any torn tail off an existing journal (logged as a warning), then append to it.

        Args:
            path: the journal file.
            durability: when appended records reach the OS and the disk.
            buffer_bytes: how many bytes a ``BUFFERED`` writer holds before writing them.

        Returns:
            The writer; :attr:`cut_tail` tells what was cut.

        Raises:
            JournalError: as :func:`truncate_torn_tail` does, or the file cannot be opened.
        """
        path = Path(path)
        durability = _check_options(durability, buffer_bytes)
        tail = truncate_torn_tail(path)
        try:
            file = open(path, "ab", buffering=0)  # noqa: SIM115  # owned by the writer
        except OSError as exc:
            raise JournalError(f"cannot open journal {str(path)!r} to append: {exc.strerror or exc}") from exc
        logger.debug("reopened journal %s to append (durability %s)", path, durability)
        return cls(
            file, path, durability=durability, buffer_bytes=buffer_bytes, new_file=False, cut_tail=tail
        )

    @property
    def path(self) -> Path:
        """The journal file."""
        return self._path

    @property
    def durability(self) -> Durability:
        """The durability policy this writer was opened with."""
        return self._durability

    @property
    def cut_tail(self) -> TornTail | None:
        """The torn tail :meth:`open_append` cut before appending, or None."""
        return self._cut_tail

    @property
    def closed(self) -> bool:
        """Whether the writer was closed (or failed): it accepts no more appends."""
        return self._file is None

    def append(self, msg: Message) -> None:
        """Encode one message and append it as a record.

        Args:
            msg: the message.

        Raises:
            JournalError: the writer is closed or failed, a write or fsync that the durability
                policy asked for failed, or the message encodes to more than MAX_RECORD_BYTES.
        """
        if self._file is None:
            raise self._unusable()
        payload = encode(msg)
        length = len(payload)
        if length > MAX_RECORD_BYTES:
            raise JournalError(f"a record must be <= {MAX_RECORD_BYTES} bytes, {msg.TOPIC} was {length}")
        buffer = self._buffer
        buffer += _RECORD_HEAD.pack(length, zlib.crc32(payload, _MESSAGE_CRC), _MESSAGE)
        buffer += payload
        self._records += 1
        if self._eager:
            self._commit()
        elif len(buffer) >= self._buffer_bytes:
            self._write_pending()

    def append_many(self, msgs: Sequence[Message]) -> None:
        """Append messages in order, as one unit for the durability policy (one write, one fsync).

        Args:
            msgs: the messages, e.g. one bus batch.

        Raises:
            JournalError: as :meth:`append`. A message too large to record raises before it is
                buffered; the messages before it stay buffered.
        """
        if self._file is None:
            raise self._unusable()
        buffer = self._buffer
        pack = _RECORD_HEAD.pack
        crc32 = zlib.crc32
        message_crc = _MESSAGE_CRC
        kind = _MESSAGE
        limit = self._buffer_bytes
        for msg in msgs:
            payload = encode(msg)
            length = len(payload)
            if length > MAX_RECORD_BYTES:
                raise JournalError(f"a record must be <= {MAX_RECORD_BYTES} bytes, {msg.TOPIC} was {length}")
            buffer += pack(length, crc32(payload, message_crc), kind)
            buffer += payload
            self._records += 1
            if len(buffer) >= limit:
                self._write_pending()
        if self._eager:
            self._commit()

    def flush(self) -> None:
        """Hand buffered records to the OS (one ``write``); they then survive a process crash.

        Raises:
            JournalError: the writer is closed or failed, or the write failed.
        """
        if self._file is None:
            raise self._unusable()
        self._write_pending()

    def sync(self) -> None:
        """Flush, then fsync: the records survive a power loss. Blocks until the disk confirms.

        From trio, prefer ``writer.flush()`` followed by
        ``await trio.to_thread.run_sync(writer.sync_flushed)``.

        Raises:
            JournalError: the writer is closed or failed, or the write or fsync failed.
        """
        if self._file is None:
            raise self._unusable()
        self._write_pending()
        self._fsync()

    def sync_flushed(self) -> None:
        """Fsync what was already flushed, leaving the buffer alone.

        This is the one method safe to run in a worker thread while the owning thread keeps
        appending and flushing; it must finish before :meth:`close` is called.

        Raises:
            JournalError: the writer is closed or failed, or the fsync failed.
        """
        if self._file is None:
            raise self._unusable()
        self._fsync()

    def close(self) -> None:
        """Flush, fsync and close. Idempotent; closing a failed writer only releases the file.

        Raises:
            JournalError: the final write or fsync failed (the file is closed all the same).
        """
        if self._file is None:
            return
        try:
            self._write_pending()
            self._fsync()
        finally:
            self._abandon()
        logger.debug(
            "closed journal %s: %d records, %d bytes", self._path, self._records, self._bytes_written
        )

    def statistics(self) -> JournalStatistics:
        """Return a snapshot of this writer's counters."""
        return JournalStatistics(
            records=self._records,
            bytes_written=self._bytes_written,
            bytes_buffered=len(self._buffer),
            flushes=self._flushes,
            syncs=self._syncs,
        )

    def __enter__(self) -> JournalWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._file is None else "open"
        return f"<JournalWriter {str(self._path)!r} {self._durability} {state}>"

    # -- internals --

    def _unusable(self) -> JournalError:
        if self._failure is not None:
            return JournalError(
                f"journal {str(self._path)!r} is unusable after an earlier failure: {self._failure}"
            )
        return JournalError(f"journal {str(self._path)!r} is closed")

    def _commit(self) -> None:
        self._write_pending()
        if self._durability is Durability.SYNC_EACH:
            self._fsync()

    def _write_pending(self) -> None:
        buffer = self._buffer
        if not buffer:
            return
        file = self._file
        assert file is not None  # callers check
        total = len(buffer)
        try:
            while buffer:
                # a regular file may take fewer bytes than offered (disk full, signal)
                written = file.write(buffer)
                if written is None:  # only for non-blocking files, which this never is
                    raise BlockingIOError("write would block")
                self._bytes_written += written
                del buffer[:written]  # O(1) for a bytearray prefix
        except OSError as exc:
            unwritten = len(buffer)
            self._fail(f"write failed: {exc.strerror or exc}")
            raise JournalError(
                f"cannot write journal {str(self._path)!r}: {exc.strerror or exc}; "
                f"{unwritten} of {total} bytes were not written"
            ) from exc
        self._flushes += 1

    def _fsync(self) -> None:
        file = self._file
        assert file is not None  # callers check
        try:
            os.fsync(file.fileno())
            if self._dir_unsynced:
                _fsync_dir(self._path.parent)
                self._dir_unsynced = False
        except OSError as exc:
            self._fail(f"fsync failed: {exc.strerror or exc}")
            raise JournalError(f"cannot fsync journal {str(self._path)!r}: {exc.strerror or exc}") from exc
        self._syncs += 1

    def _fail(self, reason: str) -> None:
        self._failure = reason
        self._abandon()

    def _abandon(self) -> None:
        file, self._file = self._file, None
        self._buffer.clear()
        if file is not None:
            try:
                file.close()
            except OSError:
                pass  # the failure that brought us here is the one worth reporting
