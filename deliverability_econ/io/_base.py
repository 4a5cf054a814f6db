"""Machinery shared by every reader: sources, record splitting, normalization, quarantine, meta.

A format module under :mod:`deliverability_econ.io` supplies a :class:`FormatSpec`:

- ``sniff(head)`` says whether the first characters of a file look like the format;
- ``records(stream)`` splits a text stream into :class:`RawRecord` s (one per ESP record, with
  its location in the file, or the parse error that made it unreadable);
- ``normalize(payload)`` turns one parsed record into a list of canonical rows (dicts with the
  keys of :data:`ROW_KEYS`, recipient in clear, ``timestamp`` in epoch seconds), or raises
  :class:`RecordError` (bad record: quarantined) or :class:`IgnoreRecord` (out of scope:
  counted by reason).

Everything else, i.e. opening compressed files, decoding, chunking, pseudonymization, provider
lookup, timestamp sanity, quarantine, de-duplication and the reconciliation in ``meta``, happens
here once, so every format behaves the same way. The same chunk normalizer serves the in-memory
readers and the streaming :func:`~deliverability_econ.io.ingest`.
"""

from __future__ import annotations

import bz2
import glob
import gzip
import hashlib
import io
import json
import os
import re
import time
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from .. import privacy, providers
from ..schema import BOUNCE_CLASSES, EVENT_COLUMNS, EVENT_TYPES, coerce_events, empty_events

#: Keys a normalizer may set on a row; ``event_id`` may be None (a hash is then derived).
ROW_KEYS: tuple[str, ...] = (
    "timestamp",
    "event",
    "message_id",
    "event_id",
    "recipient",
    "sending_ip",
    "ip_pool",
    "stream",
    "campaign",
    "bounce_class",
    "is_machine",
    "smtp_status",
    "reason",
)

#: Earliest plausible event time [epoch s]: 2000-01-01. Earlier values are decoding errors
#: (a millisecond field read as seconds, or the reverse).
EARLIEST_TIMESTAMP = 946_684_800.0

#: How far past the reading time an event may lie before it is rejected [s]: clock skew.
DEFAULT_MAX_FUTURE_S = 2 * 86_400.0

#: Characters of a rejected record kept in the quarantine.
QUARANTINE_RAW_CHARS = 4_000

#: Raw records normalized per chunk.
DEFAULT_CHUNK_RECORDS = 50_000

_SURROGATE = re.compile("[\udc80-\udcff]")


class InputFormatError(ValueError):
    """Bad input, naming the file, the record (or line) and the field.

    Attributes
    ----------
    source : str
        The file (or ``archive.zip!member``).
    location : str
        Where in the file, e.g. ``line 12`` or ``line 1 (item 3)``.
    field : str or None
        The offending field, when one is to blame.
    reason : str
        What is wrong.
    """

    def __init__(self, source: str, location: str | None, field: str | None, reason: str):
        self.source = source
        self.location = location
        self.field = field
        self.reason = reason
        parts = [source]
        if location:
            parts.append(location)
        if field:
            parts.append(f"field {field!r}")
        super().__init__(", ".join(parts) + ": " + reason)

    def __reduce__(self):
        # Pickled by multiprocessing and Dask workers: rebuild from the four parts.
        return (type(self), (self.source, self.location, self.field, self.reason))


class RecordError(Exception):
    """Raised by a normalizer: the record is bad (it is quarantined, or raised as
    :class:`InputFormatError`)."""

    def __init__(self, field: str | None, reason: str):
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}" if field else reason)

    def __reduce__(self):
        return (type(self), (self.field, self.reason))


class IgnoreRecord(Exception):
    """Raised by a normalizer: the record is well formed but deliberately out of scope
    (inbound mail, a ping, a resubscribe); it is counted under ``meta['ignored'][reason]``."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


@dataclass
class RawRecord:
    """One record as split from a file: parsed ``payload`` or the ``error`` that prevented it."""

    location: str
    text: str | None
    payload: Any = None
    error: str | None = None


@dataclass(frozen=True)
class FormatSpec:
    """How to read one source format."""

    name: str
    label: str
    sniff: Callable[[str], bool]
    records: Callable[[IO[str]], Iterator[RawRecord]]
    normalize: Callable[[Any], list[dict]]
    #: Options a reader passes to ``normalize`` (e.g. Postfix's year); bound with functools.partial.
    priority: int = 50
    #: Optional fast path: ``chunk_reader(spec, source, options, stats, *, arrow=False)`` replaces
    #: the per-record loop of :func:`normalize_chunks` and must yield exactly what that loop would
    #: (with ``arrow=True`` it may yield Arrow tables of the dataset schema instead of frames).
    chunk_reader: Callable[..., Iterator[pd.DataFrame]] | None = None


# --------------------------------------------------------------------------------------------
# Sources: paths, globs, buffers, compressed files
# --------------------------------------------------------------------------------------------


@dataclass
class Source:
    """A readable input: a name for messages and a way to open it (again) as bytes."""

    name: str
    open_binary: Callable[[], IO[bytes]]
    #: The file on disk when the source is one plain (uncompressed, not archived) file, for
    #: readers that hand the file itself to an engine (:mod:`._read_messages`); else None.
    path: str | None = None
    #: The file on disk when the source is one gzip file (decompressed by ``open_binary``), for
    #: the same readers when the engine decompresses it itself; else None.
    gzip_path: str | None = None
    #: What went wrong decompressing the source (a stream cut short, bytes that are not of its
    #: format after it): the readers read up to there and report it once
    #: (:func:`report_stream_damage`).
    damage: list[str] = field(default_factory=list)


def expand_sources(paths: Any, *, open_archives: bool = True) -> list[Source]:
    """Turn paths, globs, directories, archives and buffers into a flat list of sources.

    Directories are read recursively, in name order, skipping hidden files and folders. Zip
    archives contribute one source per member (named ``archive.zip!member``); ``.gz`` and
    ``.bz2`` files and buffers are decompressed as streams. With ``open_archives=False`` every
    file and buffer is one source of its raw bytes, for readers that recognise and decompress
    archives themselves (under their own size limits, see :mod:`.dmarc`).
    """
    if isinstance(paths, (str, os.PathLike)) or hasattr(paths, "read"):
        paths = [paths]
    sources: list[Source] = []
    for item in paths:
        if hasattr(item, "read"):
            sources.append(_buffer_source(item, open_archives))
            continue
        text = os.fspath(item)
        if any(ch in text for ch in "*?[") and not os.path.exists(text):
            matches = sorted(glob.glob(text, recursive=True))
            if not matches:
                raise FileNotFoundError(f"{text}: no file matches this pattern")
            files = [file for match in matches for file in _files_under(Path(match))]
        else:
            files = _files_under(Path(text))
        for file in files:
            sources.extend(_path_sources(file) if open_archives
                           else [Source(str(file), _raw_opener(file))])
    return sources


def _files_under(path: Path) -> list[Path]:
    """``path`` itself, or the files below a directory (hidden files and folders skipped)."""
    if path.is_dir():
        return sorted(
            p for p in path.rglob("*")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    return [path]


def _raw_opener(path: Path) -> Callable[[], IO[bytes]]:
    return lambda: open(path, "rb")


def _path_sources(path: Path) -> list[Source]:
    suffix = path.suffix.lower()
    if suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.namelist() if not m.endswith("/")]

        def member_opener(member: str) -> Callable[[], IO[bytes]]:
            def opener() -> IO[bytes]:
                archive = zipfile.ZipFile(path)
                return _ClosingMember(archive, archive.open(member))

            return opener

        return [Source(f"{path}!{m}", member_opener(m)) for m in members]
    if suffix == ".gz":
        return [_decompressed(str(path), lambda: gzip.open(path, "rb"), gzip_path=str(path))]
    if suffix == ".bz2":
        return [_decompressed(str(path), lambda: bz2.open(path, "rb"))]
    return [Source(str(path), _raw_opener(path), path=str(path))]


#: What a decompressor raises on a damaged stream (``gzip.BadGzipFile`` is an ``OSError``).
_STREAM_DAMAGE = (EOFError, OSError, zlib.error)


def _decompressed(name: str, opener: Callable[[], IO[bytes]], **paths: str) -> Source:
    """A source read through a decompressor: a damaged stream ends where the damage starts,
    and what went wrong is noted in ``source.damage`` instead of escaping mid-read."""
    source = Source(name, opener, **paths)
    source.open_binary = lambda: _DamageTolerantStream(opener(), source.damage)
    return source


class _DamageTolerantStream(io.BufferedIOBase):
    """A decompressing stream that ends, instead of raising, where its data is damaged."""

    def __init__(self, inner: IO[bytes], damage: list[str]):
        super().__init__()
        self._inner = inner
        self._damage = damage

    def _damaged(self, error: BaseException) -> None:
        reason = f"{type(error).__name__}: {error}"
        if reason not in self._damage:
            self._damage.append(reason)

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        try:
            return self._inner.read(size)
        except _STREAM_DAMAGE as error:
            self._damaged(error)
            return b""

    def read1(self, size: int = -1) -> bytes:
        try:
            return self._inner.read1(size)  # type: ignore[attr-defined]
        except _STREAM_DAMAGE as error:
            self._damaged(error)
            return b""

    def readinto(self, buffer: Any) -> int:
        try:
            return self._inner.readinto(buffer)  # type: ignore[attr-defined]
        except _STREAM_DAMAGE as error:
            self._damaged(error)
            return 0

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            super().close()


def report_stream_damage(source: Source, options: ReadOptions, stats: ReadStats) -> None:
    """Quarantine (or, with ``errors="raise"``, raise) a damaged compressed stream once the
    readers have read what came before the damage: one record, located at the stream's end,
    stands for whatever the damage hid (the count cannot be known)."""
    if not source.damage:
        return
    stats.raw_records += 1
    stats.records_read += 1
    _quarantine(stats, options, source.name, "end of the compressed stream", None,
                "the compressed stream is damaged, records after the damage are lost ("
                + "; ".join(source.damage)[:200] + ")", None)


class _ClosingMember(io.RawIOBase):
    """A zip member stream that also closes its archive."""

    def __init__(self, archive: zipfile.ZipFile, member: IO[bytes]):
        self._archive, self._member = archive, member

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        data = self._member.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._member.close()
        self._archive.close()
        super().close()


def _buffer_source(buffer: Any, open_archives: bool = True) -> Source:
    name = getattr(buffer, "name", None) or "<buffer>"
    data = buffer.read()
    if isinstance(data, str):
        data = data.encode("utf-8")
    if open_archives and data[:2] == b"\x1f\x8b":
        return _decompressed(str(name), lambda: gzip.GzipFile(fileobj=io.BytesIO(data), mode="rb"))
    if open_archives and data[:3] == b"BZh":
        return _decompressed(str(name), lambda: bz2.BZ2File(io.BytesIO(data), mode="rb"))
    return Source(str(name), lambda: io.BytesIO(data))


def open_text(source: Source, encoding: str | None = None) -> IO[str]:
    """Open a source as text. UTF-8 (with or without BOM) unless a UTF-16 BOM says otherwise;
    undecodable bytes survive as surrogates so that the record holding them is quarantined
    instead of the whole file failing."""
    raw = source.open_binary()
    buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)  # type: ignore[arg-type]
    if encoding is None:
        head = buffered.peek(4)[:4]
        if head[:2] in (b"\xff\xfe", b"\xfe\xff"):
            encoding = "utf-16"
        else:
            encoding = "utf-8-sig"
    return io.TextIOWrapper(buffered, encoding=encoding, errors="surrogateescape", newline=None)


def read_head(source: Source, size: int = 65_536, encoding: str | None = None) -> str:
    """The first ``size`` characters of a source, for format detection."""
    with open_text(source, encoding) as stream:
        return stream.read(size)


# --------------------------------------------------------------------------------------------
# Record splitting helpers
# --------------------------------------------------------------------------------------------


def iter_json_values(
    stream: IO[str],
    explode: Callable[[Any], list | None] | None = None,
) -> Iterator[RawRecord]:
    """Split a stream holding JSON lines, one JSON document, or a JSON array, into records.

    - JSON lines (one object per line, as stored by most webhook consumers): one record per line;
      a line holding an array (a stored POST body) gives one record per element.
    - One pretty-printed document (an array as posted, or an API page): parsed incrementally, one
      record per top-level array element.
    - ``explode(payload)`` may return the inner items of a wrapper object (an Events API page's
      ``items``); each becomes a record of its own.

    Unparseable lines and truncated documents become records with ``error`` set.
    """
    first_line, lines = _peek_first_content_line(stream)
    if first_line is None:
        return
    if is_json_lines(first_line):
        yield from _iter_json_lines(lines, explode)
    else:
        yield from _iter_json_document(lines, explode)


def is_json_lines(first_content_line: str) -> bool:
    """Whether :func:`iter_json_values` reads a source as JSON lines, from its first non-blank
    line: the line parses as JSON on its own, or it does not start like a document (then each
    line is a record, bad ones quarantined). The fast path and the Dask engine ask the same."""
    stripped = first_content_line.strip()
    try:
        json.loads(stripped)
        return True
    except ValueError:
        return not stripped.startswith(("[", "{"))


def _peek_first_content_line(stream: IO[str]) -> tuple[str | None, Iterator[tuple[int, str]]]:
    numbered = enumerate(stream, start=1)
    skipped: list[tuple[int, str]] = []
    for number, line in numbered:
        skipped.append((number, line))
        if line.strip():
            return line, _chain(skipped, numbered)
    return None, iter(())


def _chain(first: list, rest: Iterator) -> Iterator:
    yield from first
    yield from rest


def _expand(payload: Any, location: str, text: str, explode) -> Iterator[RawRecord]:
    if isinstance(payload, list):
        for index, item in enumerate(payload, start=1):
            yield from _expand(item, f"{location} (item {index})", None, explode)
        return
    inner = explode(payload) if explode is not None else None
    if inner is not None:
        for index, item in enumerate(inner, start=1):
            yield RawRecord(f"{location} (entry {index})", None, item)
        return
    yield RawRecord(location, text, payload)


def _iter_json_lines(lines: Iterator[tuple[int, str]], explode) -> Iterator[RawRecord]:
    loads = json.loads
    for number, line in lines:
        text = line.strip()
        if not text:
            continue
        location = f"line {number}"
        try:
            payload = loads(text)
        except ValueError as exc:
            yield RawRecord(location, text, error=f"invalid JSON ({exc.msg}, column {exc.colno})")
            continue
        if isinstance(payload, (dict, list)):
            yield from _expand(payload, location, text, explode)
        else:
            yield RawRecord(location, text, error="a JSON value that is not an object")


def _iter_json_document(lines: Iterator[tuple[int, str]], explode) -> Iterator[RawRecord]:
    """Incremental parse of one (possibly huge, possibly pretty-printed) JSON document."""
    decoder = json.JSONDecoder()
    buffer = ""
    line_of_buffer_start = 1
    exhausted = False
    lines_iter = iter(lines)

    def refill() -> bool:
        nonlocal buffer, exhausted
        chunk = []
        for _, line in lines_iter:
            chunk.append(line)
            if len(chunk) >= 2000:
                break
        else:
            exhausted = True
        buffer += "".join(chunk)
        return bool(chunk)

    def skip_ws(pos: int) -> int:
        while pos < len(buffer) and buffer[pos] in " \t\r\n":
            pos += 1
        return pos

    refill()
    pos = skip_ws(0)
    in_array = buffer[pos : pos + 1] == "["
    if in_array:
        pos += 1
    item = 0
    while True:
        pos = skip_ws(pos)
        while pos >= len(buffer) and not exhausted:
            buffer, pos, line_of_buffer_start = _drop_consumed(buffer, pos, line_of_buffer_start)
            refill()
            pos = skip_ws(pos)
        if pos >= len(buffer):
            if in_array:
                yield RawRecord(
                    f"line {line_of_buffer_start + buffer.count(chr(10), 0, pos)}",
                    None,
                    error="truncated JSON: the array has no closing bracket",
                )
            return
        char = buffer[pos]
        if in_array and char == ",":
            pos += 1
            continue
        if in_array and char == "]":
            in_array = False
            pos += 1
            continue
        line_number = line_of_buffer_start + buffer.count("\n", 0, pos)
        while True:
            try:
                payload, end = decoder.raw_decode(buffer, pos)
                break
            except ValueError as exc:
                if not exhausted:
                    buffer, pos, line_of_buffer_start = _drop_consumed(buffer, pos, line_of_buffer_start)
                    refill()
                    continue
                rest = buffer[pos:]
                yield RawRecord(
                    f"line {line_number}",
                    rest[:QUARANTINE_RAW_CHARS],
                    error=f"truncated or invalid JSON ({exc.msg})",
                )
                return
        text = buffer[pos:end]
        item += 1
        location = f"line {line_number} (item {item})" if in_array else f"line {line_number}"
        if in_array:
            if isinstance(payload, dict):
                yield from _expand(payload, location, text, explode)
            else:
                yield RawRecord(location, text[:QUARANTINE_RAW_CHARS], error="an array element that is not an object")
        elif isinstance(payload, (dict, list)):
            yield from _expand(payload, location, text, explode)
        else:
            yield RawRecord(location, text[:QUARANTINE_RAW_CHARS], error="a JSON value that is not an object")
        pos = end


def _drop_consumed(buffer: str, pos: int, line_start: int) -> tuple[str, int, int]:
    return buffer[pos:], 0, line_start + buffer.count("\n", 0, pos)


def iter_lines(stream: IO[str]) -> Iterator[RawRecord]:
    """One record per non-empty text line (payload = the line without its newline)."""
    for number, line in enumerate(stream, start=1):
        text = line.rstrip("\r\n")
        if text.strip():
            yield RawRecord(f"line {number}", text, text)


# --------------------------------------------------------------------------------------------
# Field helpers for normalizers
# --------------------------------------------------------------------------------------------


def require(record: Mapping, key: str, field_name: str | None = None) -> Any:
    """``record[key]``, or a :class:`RecordError` naming the field when it is absent or empty."""
    value = record.get(key) if isinstance(record, Mapping) else None
    if value is None or value == "":
        raise RecordError(field_name or key, "missing")
    return value


def epoch_seconds(value: Any, field_name: str = "timestamp", *, unit: str = "s") -> float:
    """An epoch value (int, float or numeric string) in seconds."""
    if isinstance(value, bool) or value is None or value == "":
        raise RecordError(field_name, "missing" if value in (None, "") else f"not a time: {value!r}")
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise RecordError(field_name, f"not an epoch time: {str(value)[:40]!r}") from None
    if not np.isfinite(seconds):
        raise RecordError(field_name, f"not a finite time: {value!r}")
    return seconds / 1000.0 if unit == "ms" else seconds


def iso_seconds(value: Any, field_name: str = "timestamp") -> float:
    """An ISO-8601 timestamp with a zone (``Z`` or an offset) in epoch seconds.

    Seven fractional digits (Postmark) are accepted. A timestamp without a zone is rejected:
    guessing one would shift events by hours.
    """
    if not isinstance(value, str) or not value:
        raise RecordError(field_name, "missing" if not value else f"not a time string: {value!r}")
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise RecordError(field_name, f"not an ISO-8601 time: {text[:40]!r}") from None
    if parsed.tzinfo is None:
        raise RecordError(field_name, f"time without a zone: {text[:40]!r}")
    return parsed.timestamp()


def any_time_seconds(value: Any, field_name: str = "timestamp") -> float:
    """Epoch seconds (number or digit string) or ISO-8601 with a zone."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return epoch_seconds(value, field_name)
    if isinstance(value, str) and re.fullmatch(r"\s*\d+(\.\d+)?\s*", value):
        return epoch_seconds(value, field_name)
    return iso_seconds(value, field_name)


_ENHANCED = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")


def enhanced_status(*texts: Any) -> str | None:
    """The first RFC 3463 enhanced status code (``5.1.1``) found in the given texts."""
    for text in texts:
        if text is None:
            continue
        match = _ENHANCED.search(str(text))
        if match:
            return ".".join(match.groups())
    return None


def first_text(*values: Any) -> str | None:
    """The first non-empty value, as a string."""
    for value in values:
        if value is not None and value != "" and value != []:
            return str(value)
    return None


def stable_hash(*parts: Any) -> str:
    """A deterministic id from JSON-serializable parts (for ESPs that give no event id)."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def row(**values: Any) -> dict:
    """A canonical row; unknown keys are a programming error."""
    unknown = set(values) - set(ROW_KEYS)
    if unknown:
        raise KeyError(f"unknown canonical keys: {sorted(unknown)}")
    return values


# --------------------------------------------------------------------------------------------
# The read loop
# --------------------------------------------------------------------------------------------


@dataclass
class ReadOptions:
    errors: str = "quarantine"
    pseudonymize: bool = True
    salt: str | bytes | None = None
    mx_map: Mapping[str, str] | None = None
    encoding: str | None = None
    max_future_s: float = DEFAULT_MAX_FUTURE_S
    now: float | None = None
    chunk_records: int = DEFAULT_CHUNK_RECORDS

    def __post_init__(self) -> None:
        if self.errors not in ("quarantine", "raise"):
            raise ValueError(f"errors must be 'quarantine' or 'raise', not {self.errors!r}")
        self.key = privacy.resolve_salt(self.salt) if self.pseudonymize else None
        # Diagnostics are scrubbed even with pseudonymize=False... but to pseudonyms only when
        # there is a key; otherwise to "<redacted>".
        self.latest = (self.now if self.now is not None else time.time()) + self.max_future_s


@dataclass
class ReadStats:
    """Counts that reconcile every record read (see DESIGN.md, ``meta``)."""

    records_read: int = 0
    raw_records: int = 0
    events: int = 0
    duplicates: int = 0
    quarantined: int = 0
    ignored: Counter = field(default_factory=Counter)
    quarantine: list[dict] = field(default_factory=list)
    time_min: pd.Timestamp | None = None
    time_max: pd.Timestamp | None = None
    warnings: list[str] = field(default_factory=list)

    def add_times(self, timestamps: pd.Series) -> None:
        if timestamps.empty:
            return
        low, high = timestamps.min(), timestamps.max()
        self.time_min = low if self.time_min is None else min(self.time_min, low)
        self.time_max = high if self.time_max is None else max(self.time_max, high)

    def merge(self, other: ReadStats) -> None:
        self.records_read += other.records_read
        self.raw_records += other.raw_records
        self.events += other.events
        self.duplicates += other.duplicates
        self.quarantined += other.quarantined
        self.ignored.update(other.ignored)
        self.quarantine.extend(other.quarantine)
        self.warnings.extend(other.warnings)
        if other.time_min is not None:
            self.add_times(pd.Series([other.time_min, other.time_max]))


def _quarantine(
    stats: ReadStats,
    options: ReadOptions,
    source: str,
    location: str,
    field_name: str | None,
    reason: str,
    text: str | None,
    payload: Any = None,
) -> None:
    if options.errors == "raise":
        raise InputFormatError(source, location, field_name, reason)
    if text is None and payload is not None:
        try:
            text = json.dumps(payload, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            text = repr(payload)
    if text is not None:
        text = text[:QUARANTINE_RAW_CHARS]
        if not text.isascii():
            text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        text = privacy.scrub_text(text, options.key)
    stats.quarantined += 1
    stats.quarantine.append(
        {"source": source, "location": location, "field": field_name, "reason": reason, "raw": text}
    )


def normalize_chunks(
    spec: FormatSpec,
    source: Source,
    options: ReadOptions,
    stats: ReadStats,
    normalize: Callable[[Any], list[dict]] | None = None,
) -> Iterator[pd.DataFrame]:
    """Read one source with one format and yield canonical event chunks (not de-duplicated)."""
    if spec.chunk_reader is not None and (normalize is None or normalize is spec.normalize):
        yield from spec.chunk_reader(spec, source, options, stats)
        return
    normalize = normalize or spec.normalize
    with open_text(source, options.encoding) as stream:
        rows: list[dict] = []
        locations: list[tuple[str, str | None, Any]] = []
        for raw in spec.records(stream):
            stats.raw_records += 1
            if raw.text is not None and not raw.text.isascii() and _SURROGATE.search(raw.text):
                stats.records_read += 1
                _quarantine(stats, options, source.name, raw.location, None,
                            "bytes that are not valid UTF-8 (wrong encoding?)",
                            raw.text.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
                continue
            if raw.error is not None:
                stats.records_read += 1
                _quarantine(stats, options, source.name, raw.location, None, raw.error, raw.text)
                continue
            try:
                produced = normalize(raw.payload)
            except RecordError as exc:
                stats.records_read += 1
                _quarantine(stats, options, source.name, raw.location, exc.field, exc.reason,
                            raw.text, raw.payload)
                continue
            except IgnoreRecord as exc:
                stats.records_read += 1
                stats.ignored[exc.reason] += 1
                continue
            except InputFormatError:
                raise
            except (KeyError, TypeError, AttributeError, ValueError, IndexError) as exc:
                # A record of an unexpected shape: never let it escape as a bare exception.
                stats.records_read += 1
                _quarantine(stats, options, source.name, raw.location, None,
                            f"unexpected record shape ({type(exc).__name__}: {exc})"[:300],
                            raw.text, raw.payload)
                continue
            if not produced:
                stats.records_read += 1
                stats.ignored["no event in record"] += 1
                continue
            if raw.text is None and any(_has_surrogate(r) for r in produced):
                # An item split out of a larger record: its bytes were not checked above.
                stats.records_read += 1
                _quarantine(stats, options, source.name, raw.location, None,
                            "bytes that are not valid UTF-8 (wrong encoding?)", None,
                            _replace_surrogates(raw.payload))
                continue
            stats.records_read += len(produced)
            for ordinal, produced_row in enumerate(produced):
                if produced_row.get("event_id") is None:
                    produced_row["event_id"] = f"{spec.name}:" + stable_hash(raw.payload, ordinal)
                rows.append(produced_row)
                locations.append((raw.location, raw.text, raw.payload))
            if len(rows) >= options.chunk_records:
                yield _finish_chunk(spec, source, rows, locations, options, stats)
                rows, locations = [], []
        if rows:
            yield _finish_chunk(spec, source, rows, locations, options, stats)


def _has_surrogate(produced_row: dict) -> bool:
    return any(
        isinstance(v, str) and not v.isascii() and _SURROGATE.search(v) for v in produced_row.values()
    )


def _replace_surrogates(payload: Any) -> Any:
    if isinstance(payload, str):
        return payload.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    if isinstance(payload, dict):
        return {_replace_surrogates(k): _replace_surrogates(v) for k, v in payload.items()}
    if isinstance(payload, list):
        return [_replace_surrogates(v) for v in payload]
    return payload


def _finish_chunk(
    spec: FormatSpec,
    source: Source,
    rows: list[dict],
    locations: list[tuple[str, str | None, Any]],
    options: ReadOptions,
    stats: ReadStats,
) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(rows, columns=list(ROW_KEYS))
    timestamps = pd.to_numeric(frame["timestamp"], errors="coerce").to_numpy(dtype="float64")
    recipient = frame["recipient"].astype("string").str.strip()
    event = frame["event"].astype("string")
    bad = pd.Series("", index=frame.index, dtype="object")
    bad_field = pd.Series("", index=frame.index, dtype="object")

    def mark(mask: np.ndarray | pd.Series, field_name: str, reason: str) -> None:
        mask = np.asarray(mask, dtype=bool) & (bad.to_numpy() == "")
        bad[mask] = reason
        bad_field[mask] = field_name

    mark(~np.isfinite(timestamps), "timestamp", "missing")
    mark(timestamps < EARLIEST_TIMESTAMP, "timestamp", "before 2000: a wrong unit or a broken clock")
    mark(timestamps > options.latest, "timestamp", "in the future beyond the allowed clock skew")
    mark(recipient.isna() | (recipient == ""), "recipient", "missing")
    mark(~recipient.str.contains("@", regex=False).fillna(False), "recipient", "not an e-mail address")
    mark(frame["message_id"].isna() | (frame["message_id"].astype("string") == ""), "message_id", "missing")
    mark(~event.isin(EVENT_TYPES).fillna(False), "event", "not a canonical event type")
    bounce_class = frame["bounce_class"].astype("string")
    mark(bounce_class.notna() & ~bounce_class.isin(BOUNCE_CLASSES).fillna(False), "bounce_class",
         "outside the vocabulary")

    rejected = np.flatnonzero(bad.to_numpy() != "")
    for position in rejected:
        location, text, payload = locations[position]
        _quarantine(stats, options, source.name, location, bad_field.iat[position],
                    f"{bad.iat[position]} ({_describe(frame, position, bad_field.iat[position])})",
                    text, payload)
    if len(rejected):
        keep = np.ones(len(frame), dtype=bool)
        keep[rejected] = False
        frame = frame.loc[keep].reset_index(drop=True)
        timestamps = timestamps[keep]
        recipient = recipient[keep].reset_index(drop=True)

    domain = recipient.str.rsplit("@", n=1).str[-1].str.lower().str.rstrip(".")
    frame["recipient_domain"] = domain
    frame["mailbox_provider"] = providers.mailbox_provider(domain, options.mx_map)
    if options.key is not None:
        frame["recipient"] = privacy.pseudonymize(recipient, options.key)
    else:
        frame["recipient"] = recipient
    frame["reason"] = privacy.scrub(frame["reason"], options.key)
    # Float seconds carry ~0.1 us of noise at today's epoch; ESPs stamp at most microseconds.
    frame["timestamp"] = pd.to_datetime(timestamps, unit="s", utc=True).round("us")
    frame["is_machine"] = frame["is_machine"].fillna(False).astype(bool)
    frame["esp"] = spec.name
    frame["message_id"] = frame["message_id"].astype("string").str.strip()
    out = coerce_events(frame)
    stats.add_times(out["timestamp"])
    return out


def _describe(frame: pd.DataFrame, position: int, field_name: str) -> str:
    if field_name == "timestamp":
        value = frame["timestamp"].iat[position]
        try:
            return "value " + pd.Timestamp(float(value), unit="s", tz="UTC").isoformat()
        except (TypeError, ValueError, OverflowError, pd.errors.OutOfBoundsDatetime):
            return f"value {value!r}"
    if field_name == "recipient":
        return "recipient field"
    value = frame[field_name].iat[position] if field_name in frame.columns else None
    return f"value {value!r}"


def deduplicate(events: pd.DataFrame, stats: ReadStats) -> pd.DataFrame:
    """Drop events whose ``event_id`` was seen before (webhooks are delivered at least once)."""
    duplicated = events["event_id"].duplicated(keep="first").to_numpy()
    count = int(duplicated.sum())
    stats.duplicates += count
    if count:
        events = events.loc[~duplicated].reset_index(drop=True)
    stats.events = len(events)
    return events


def build_meta(format_name: str | list[str], sources: list[str], stats: ReadStats, **extra: Any) -> dict:
    """The reconciliation dictionary every reader returns next to its events."""
    quarantine = pd.DataFrame(stats.quarantine, columns=["source", "location", "field", "reason", "raw"])
    meta = {
        "format": format_name,
        "sources": sources,
        "records_read": stats.records_read,
        "raw_records": stats.raw_records,
        "events": stats.events,
        "duplicates": stats.duplicates,
        "quarantined": stats.quarantined,
        "ignored": dict(stats.ignored),
        "quarantine": quarantine,
        "time_min": stats.time_min,
        "time_max": stats.time_max,
        "warnings": list(stats.warnings),
    }
    meta.update(extra)
    return meta


def check_reconciliation(meta: Mapping) -> bool:
    """``records_read == events + duplicates + quarantined + sum(ignored)``."""
    return meta["records_read"] == (
        meta["events"] + meta["duplicates"] + meta["quarantined"] + sum(meta["ignored"].values())
    )


def concat_events(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return empty_events()
    if len(frames) == 1:
        return frames[0]
    return pd.concat(frames, ignore_index=True)[list(EVENT_COLUMNS)]
