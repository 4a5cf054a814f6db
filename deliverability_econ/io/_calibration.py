"""Shared pieces of the calibration readers (seed tests, Google Postmaster, Microsoft SNDS).

These sources are not event logs: they are daily tables that calibrate the placement and
reputation models. They are not registered as event formats, but they follow the event readers'
conventions (:mod:`deliverability_econ.io._base`): sources are expanded the same way (globs,
directories, ``.gz``/``.bz2``/``.zip``, buffers), a bad row is quarantined with its file, line
and field (or raised as :class:`~deliverability_econ.io.InputFormatError` with
``errors="raise"``), and ``meta`` reconciles every record read::

    records_read == rows + duplicates + quarantined + sum(ignored.values())
"""

from __future__ import annotations

import csv
import math
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any, NamedTuple

import pandas as pd

from ._base import _SURROGATE, InputFormatError, ReadOptions, RecordError, _quarantine

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NOT_WORD = re.compile(r"[^a-z0-9]+")


@dataclass
class TableStats:
    """Counts that reconcile every record of a calibration table."""

    records_read: int = 0
    rows: int = 0
    duplicates: int = 0
    quarantined: int = 0
    ignored: Counter = field(default_factory=Counter)
    quarantine: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def reader_options(errors: str) -> ReadOptions:
    """Options for :func:`quarantine`: no pseudonymization key, so an address in a rejected
    row's raw text is scrubbed to ``redacted``."""
    return ReadOptions(errors=errors, pseudonymize=False)


def quarantine(
    stats: TableStats,
    options: ReadOptions,
    source: str,
    location: str,
    field_name: str | None,
    reason: str,
    text: str | None,
    payload: Any = None,
) -> None:
    """Count one rejected record and keep it aside (or raise, with ``errors="raise"``)."""
    stats.records_read += 1
    _quarantine(stats, options, source, location, field_name, reason, text, payload)  # type: ignore[arg-type]


def has_bad_bytes(text: str | None) -> bool:
    """True when ``text`` holds bytes that did not decode (see ``_base.open_text``)."""
    return text is not None and not text.isascii() and bool(_SURROGATE.search(text))


def readable(text: str) -> str:
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def quarantine_unreadable(row: CsvRow, stats: TableStats, options: ReadOptions, source: str) -> bool:
    """Quarantine a CSV row that did not decode or did not parse; True when it was rejected."""
    location = f"line {row.line}"
    if has_bad_bytes(row.text):
        quarantine(stats, options, source, location, None,
                   "bytes that are not valid UTF-8 (wrong encoding?)", readable(row.text))
        return True
    if row.error is not None:
        quarantine(stats, options, source, location, None, row.error, row.text)
        return True
    return False


def table_meta(format_name: str, sources: list[str], stats: TableStats, **extra: Any) -> dict:
    """The reconciliation dictionary of a calibration reader."""
    meta = {
        "format": format_name,
        "sources": sources,
        "records_read": stats.records_read,
        "rows": stats.rows,
        "duplicates": stats.duplicates,
        "quarantined": stats.quarantined,
        "ignored": dict(stats.ignored),
        "quarantine": pd.DataFrame(
            stats.quarantine, columns=["source", "location", "field", "reason", "raw"]
        ),
        "warnings": list(stats.warnings),
    }
    meta.update(extra)
    return meta


def check_table_reconciliation(meta: Mapping) -> bool:
    """``records_read == rows + duplicates + quarantined + sum(ignored)``."""
    return meta["records_read"] == (
        meta["rows"] + meta["duplicates"] + meta["quarantined"] + sum(meta["ignored"].values())
    )


# --------------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------------


def normalize_header(name: str) -> str:
    """A column header as a snake_case key: ``"userReportedSpamRatio"`` and
    ``"User Reported Spam Ratio"`` both give ``"user_reported_spam_ratio"``."""
    text = _CAMEL_BOUNDARY.sub("_", name.strip().lstrip("\ufeff"))
    return _NOT_WORD.sub("_", text.lower()).strip("_")


def header_positions(
    source: str, header: Any, aliases: Mapping[str, str]
) -> tuple[dict[str, int], list[str], str]:
    """Column positions of a CSV header: canonical column -> index.

    Parameters
    ----------
    source : str
        The file, for errors.
    header : CsvRow
        The header row (:func:`iter_csv_rows`).
    aliases : mapping of str to str
        :func:`normalize_header` key -> canonical column.

    Returns
    -------
    positions : dict of str to int
    unknown : list of str
        Headers that match no alias (blank ones left out), for :func:`report_unknown_columns`.
    location : str
        ``"line N (header)"``, for the caller's own errors.

    Raises
    ------
    InputFormatError
        For an unreadable header, or two columns giving the same canonical column.
    """
    location = f"line {header.line} (header)"
    if header.error is not None or has_bad_bytes(header.text):
        raise InputFormatError(
            source, location, None, header.error or "bytes that are not valid UTF-8"
        )
    positions: dict[str, int] = {}
    unknown: list[str] = []
    for index, name in enumerate(header.fields):
        column = aliases.get(normalize_header(name))
        if column is None:
            if name.strip():
                unknown.append(name.strip())
            continue
        if column in positions:
            raise InputFormatError(
                source,
                location,
                column,
                f"two columns give {column!r}: {header.fields[positions[column]]!r} and {name!r}",
            )
        positions[column] = index
    return positions, unknown, location


def report_unknown_columns(
    source: str, location: str, unknown: list[str], unknown_columns: str, stats: TableStats,
    known: str = "",
) -> None:
    """Raise, warn about or ignore the unknown columns of a header (``unknown_columns``).

    ``known`` is appended to the message (e.g. the columns the reader knows)."""
    if not unknown:
        return
    message = f"unknown column(s) {', '.join(map(repr, unknown))}{known}"
    if unknown_columns == "raise":
        raise InputFormatError(
            source, location, unknown[0], message + "; pass unknown_columns='ignore' to skip them"
        )
    if unknown_columns == "warn":
        stats.warnings.append(f"{source}: {message}; ignored")


def detect_delimiter(line: str) -> str:
    """The one of ``,`` ``;`` tab ``|`` that the (header) line holds most often; ``,`` on a tie."""
    counts = {delimiter: line.count(delimiter) for delimiter in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


class CsvRow(NamedTuple):
    """One CSV row: its first physical line, its fields, its raw text, or a parse error."""

    line: int
    fields: list[str]
    text: str
    error: str | None = None


def iter_csv_rows(stream: IO[str], delimiter: str | None = None) -> Iterator[CsvRow]:
    """Rows of a CSV text stream, blank lines skipped.

    The delimiter is detected from the first content line when not given; an Excel ``sep=;``
    first line sets it and is skipped. Quoted fields may span lines; a row is located at its
    first physical line.
    """
    numbered = enumerate(stream, start=1)
    first: tuple[int, str] | None = None
    for number, line in numbered:
        if line.strip():
            first = (number, line)
            break
    if first is None:
        return
    if delimiter is None:
        match = re.fullmatch(r"\s*sep=(.)\s*", first[1].rstrip("\r\n"))
        if match:
            delimiter, first = match.group(1), None
        else:
            delimiter = detect_delimiter(first[1])
    last_line = [0]
    record_lines: list[str] = []

    def lines() -> Iterator[str]:
        if first is not None:
            last_line[0] = first[0]
            record_lines.append(first[1].rstrip("\r\n"))
            yield first[1]
        for number, line in numbered:
            last_line[0] = number
            record_lines.append(line.rstrip("\r\n"))
            yield line

    reader = csv.reader(lines(), delimiter=delimiter)
    while True:
        record_lines.clear()
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            start = last_line[0] - len(record_lines) + 1
            yield CsvRow(start, [], "\n".join(record_lines), f"unreadable CSV row ({exc})")
            continue
        if not any(value.strip() for value in fields):
            continue
        start = last_line[0] - len(record_lines) + 1
        yield CsvRow(start, fields, "\n".join(record_lines))


# --------------------------------------------------------------------------------------------
# Value parsers: each raises RecordError(field, reason)
# --------------------------------------------------------------------------------------------


def parse_count(value: Any, field_name: str) -> int:
    """A non-negative integer count (``"12"``, ``12``, ``"12.0"`` from a spreadsheet)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise RecordError(field_name, "missing")
    if isinstance(value, bool):
        raise RecordError(field_name, f"not a count: {value!r}")
    text = str(value).strip()
    if text.endswith("%"):
        raise RecordError(field_name, f"a percentage ({text!r}), not a count")
    try:
        number = float(text.replace("_", "")) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise RecordError(field_name, f"not a number: {text[:40]!r}") from None
    if not math.isfinite(number) or number != int(number):
        raise RecordError(field_name, f"not a whole number: {text[:40]!r}")
    if number < 0:
        raise RecordError(field_name, f"negative count: {text[:40]!r}")
    return int(number)


def parse_fraction(value: Any, field_name: str, *, bare_unit: str = "fraction") -> float:
    """A ratio in [0, 1]; ``"0.12%"`` is read as a percent; missing gives NaN.

    ``bare_unit`` says how a number without a ``%`` sign is read: ``"fraction"`` (as the
    Postmaster API writes it) or ``"percent"``.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return math.nan
    if isinstance(value, bool):
        raise RecordError(field_name, f"not a ratio: {value!r}")
    text = str(value).strip()
    scale = 1.0 if bare_unit == "fraction" else 0.01
    if text.endswith("%"):
        text, scale = text[:-1].strip(), 0.01
    try:
        number = float(text) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise RecordError(field_name, f"not a ratio: {str(value)[:40]!r}") from None
    number *= scale
    if not math.isfinite(number) or number < 0.0 or number > 1.0:
        raise RecordError(field_name, f"outside [0, 1] as a fraction: {str(value)[:40]!r}")
    return number


_DIGIT_DATE = re.compile(r"\d{8}")


def parse_day(value: Any, field_name: str = "date", date_format: str | None = None) -> pd.Timestamp:
    """A calendar day as a timezone-naive midnight ``Timestamp`` (UTC days, as in the cube).

    Accepted: ISO dates (``2025-03-04``), ``yyyymmdd`` (``20250304``), ISO date-times (with a
    zone they are converted to UTC first; without one they are taken as UTC), or
    ``date_format`` (a :func:`datetime.strptime` format) when given. Slash dates such as
    ``03/04/2025`` are rejected without ``date_format``: month-first and day-first are both in
    use.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        raise RecordError(field_name, "missing")
    text = str(value).strip()
    try:
        if date_format is not None:
            parsed = datetime.strptime(text, date_format)
        elif _DIGIT_DATE.fullmatch(text):
            parsed = datetime.strptime(text, "%Y%m%d")
        else:
            parsed = datetime.fromisoformat(text.replace(" UTC", "+00:00"))
    except ValueError:
        hint = (
            f" (expected {date_format!r})"
            if date_format
            else (" (expected YYYY-MM-DD or YYYYMMDD; pass date_format= for other layouts)")
        )
        raise RecordError(field_name, f"not a date: {text[:40]!r}{hint}") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    if parsed.year < 2000:
        raise RecordError(field_name, f"before 2000: {text[:40]!r}")
    return pd.Timestamp(parsed.year, parsed.month, parsed.day)
