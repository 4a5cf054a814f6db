"""Generic CSV: event exports from any other ESP, CRM or warehouse, one event per row.

A file whose header already uses the canonical names (``timestamp``, ``event``, ``message_id``,
``recipient``, and optionally ``event_id``, ``sending_ip``, ``ip_pool``, ``stream``,
``campaign``, ``bounce_class``, ``is_machine``, ``smtp_status``, ``reason``) reads as it is, and
is recognised by ``read_events(format="auto")``. Any other header needs
``mapping={canonical_name: source_column}``; canonical names the mapping leaves out are still
taken from a column of that name when there is one. Columns named ``recipient_domain``,
``mailbox_provider`` or ``esp`` (a re-read canonical table) are derived again, not read.

Rows are parsed by the standard library's ``csv`` module as the file streams: quoted fields may
hold delimiters, quotes (doubled) and line breaks; the delimiter is the one of ``,`` ``;`` tab
``|`` that the header line holds most often (or an Excel ``sep=;`` first line, or
``delimiter=``). A UTF-8 byte-order mark (Excel) is dropped. Locations are physical lines
counting the header (a row spanning lines is located at its first line).

Values:

- ``timestamp``: ISO-8601 with a zone (``Z``, ``+01:00``, a trailing ``UTC``), or epoch numbers
  in ``timestamp_unit``. A time without a zone is quarantined unless ``timezone=`` names the
  IANA zone it was written in.
- ``event``: ``event_map={source_value: canonical}`` first (exact, then ignoring case), then the
  canonical names and the synonyms in :data:`EVENT_SYNONYMS`; any other value is quarantined. A
  map value may be ``None`` (the rows are counted as ignored) or ``(event, bounce_class)``
  (``{"Hard Bounce": ("bounced", "hard")}``).
- ``bounce_class``: the canonical classes or a synonym in :data:`BOUNCE_CLASS_SYNONYMS`; on a
  bounced row without one, the class follows the status code (5.1.x hard, 5.7.x block, 4.x.x
  soft) or is ``undetermined``; on other events the column is not used.
- ``is_machine``: true/false, 1/0, yes/no, t/f, y/n (empty is false).
- ``smtp_status``: the first enhanced status code in the cell (``550 5.1.1`` gives ``5.1.1``).
- ``event_id``: the column when given and not empty; otherwise a hash of the row's cells by
  column name, so the same row read twice, or from two exports, counts once.
"""

from __future__ import annotations

import csv as _csv
import re
from collections import deque
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from typing import IO, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

from ..schema import BOUNCE_CLASSES, EVENT_TYPES
from ._base import (
    ROW_KEYS,
    FormatSpec,
    IgnoreRecord,
    InputFormatError,
    RawRecord,
    RecordError,
    enhanced_status,
    row,
    stable_hash,
)
from ._registry import make_reader, register

#: Canonical names a CSV column can supply.
CSV_FIELDS: tuple[str, ...] = ROW_KEYS

#: Columns every file must supply (through its header or the mapping).
REQUIRED_FIELDS: tuple[str, ...] = ("timestamp", "event", "message_id", "recipient")

#: Columns of a canonical events table that readers derive; ignored when present.
DERIVED_COLUMNS: frozenset[str] = frozenset({"recipient_domain", "mailbox_provider", "esp"})

#: Event words understood without an ``event_map`` (lower-cased source value -> canonical).
#: Ambiguous words such as ``sent`` (accepted by the ESP, or delivered?) are left out on purpose.
EVENT_SYNONYMS: dict[str, str] = {
    **{name: name for name in EVENT_TYPES},
    "delivery": "delivered",
    "deferral": "deferred",
    "bounce": "bounced",
    "drop": "dropped",
    "open": "opened",
    "click": "clicked",
    "complaint": "complained",
    "spamreport": "complained",
    "unsubscribe": "unsubscribed",
}

#: ``bounce_class`` cells (lower-cased) -> canonical class.
BOUNCE_CLASS_SYNONYMS: dict[str, str] = {
    **{name: name for name in BOUNCE_CLASSES},
    "permanent": "hard",
    "transient": "soft",
    "temporary": "soft",
    "blocked": "block",
}

#: ``is_machine`` cells (lower-cased) -> flag.
BOOLEAN_WORDS: dict[str, bool] = {
    "true": True, "1": True, "yes": True, "t": True, "y": True,
    "false": False, "0": False, "no": False, "f": False, "n": False, "": False,
}

#: Seconds per unit of an epoch timestamp, by ``timestamp_unit``.
EPOCH_UNITS: dict[str, float] = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}

#: Delimiters looked for in the header line.
DELIMITERS: tuple[str, ...] = (",", ";", "\t", "|")

#: A quoted field running over more lines than this is taken for an unbalanced quote: its first
#: line is quarantined and reading resumes on the next line.
MAX_LINES_PER_ROW = 200

_EXCEL_SEPARATOR = re.compile(r'^"?sep=(.)"?\s*$')
_EPOCH = re.compile(r"^[+-]?\d+(?:\.\d+)?$")
_ZONE_WORD = re.compile(r"\s*(?:UTC|GMT)$", re.IGNORECASE)


def sniff(head: str) -> bool:
    """True only for a header row holding ``timestamp``, ``event``, ``message_id`` and
    ``recipient``: a mapped export is never guessed, it is read with ``read_csv``."""
    lines = [line for line in head.splitlines() if line.strip()][:2]
    if not lines:
        return False
    header_line = lines[0]
    delimiter = None
    separator = _EXCEL_SEPARATOR.match(header_line)
    if separator and len(lines) > 1:
        delimiter, header_line = separator[1], lines[1]
    names = _split_line(header_line.lstrip("\ufeff"), delimiter or _detect_delimiter(header_line))
    return set(REQUIRED_FIELDS) <= {name.strip().lower() for name in names}


def _detect_delimiter(header_line: str) -> str:
    unquoted = re.sub(r'"[^"]*"', "", header_line)
    counts = {d: unquoted.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])  # ties keep the earlier: comma first
    return best if counts[best] else ","


def _split_line(text: str, delimiter: str) -> list[str]:
    return next(_csv.reader([text], delimiter=delimiter), [])


# --------------------------------------------------------------------------------------------
# Splitter
# --------------------------------------------------------------------------------------------


def records(stream: IO[str]) -> Iterator[RawRecord]:
    """One record per data row; the payload holds the cells, the raw text and (shared by all
    rows of the file) the header, its location and the delimiter.

    A row the ``csv`` module cannot read, whose quoted field does not close within
    :data:`MAX_LINES_PER_ROW` lines, or that spans lines but has not the header's width, is a
    record with an ``error`` for its first line; reading resumes on the line after it, so the
    rows that follow an unbalanced quote are not swallowed.
    """
    source = str(getattr(stream, "name", None) or "<buffer>")
    numbered = enumerate(stream, start=1)
    header_number, header_text = _next_content_line(numbered)
    if header_text is None:
        return
    delimiter = None
    separator = _EXCEL_SEPARATOR.match(header_text)
    if separator:
        delimiter = separator[1]
        header_number, header_text = _next_content_line(numbered)
        if header_text is None:
            return
    header_text = header_text.rstrip("\r\n")
    delimiter = delimiter or _detect_delimiter(header_text)
    header = tuple(_split_line(header_text, delimiter))
    context = {
        "source": source,
        "header": header,
        "header_text": header_text,
        "header_location": f"line {header_number}",
        "delimiter": delimiter,
    }

    pushed_back: deque[tuple[int, str]] = deque()
    consumed: list[tuple[int, str]] = []

    def feed() -> Iterator[str]:
        while True:
            if pushed_back:
                item = pushed_back.popleft()
            else:
                item = next(numbered, None)
                if item is None:
                    return
            consumed.append(item)
            yield item[1]

    reader = _csv.reader(feed(), delimiter=delimiter, strict=True)
    while True:
        consumed.clear()
        try:
            cells = next(reader)
            error = None
        except StopIteration:
            return
        except _csv.Error as exc:
            cells, error = None, f"unreadable CSV row: {exc} (an unbalanced quote?)"
        if not consumed:
            return
        first_number = consumed[0][0]
        if error is None and len(consumed) > 1 and (
            len(consumed) > MAX_LINES_PER_ROW or len(cells) != len(header)
        ):
            # A quoted field that ran to the end of the file, or over too many lines, or a
            # multi-line row of the wrong width: the quote opened here is not a real one.
            error = (f"a quoted field opened here runs over {len(consumed)} lines "
                     f"(an unbalanced quote?)")
        if error is not None:
            # Quarantine the first line only and read the rest again.
            pushed_back.extendleft(reversed(consumed[1:]))
            consumed[:] = consumed[:1]
            yield RawRecord(f"line {first_number}", consumed[0][1].rstrip("\r\n"), error=error)
            reader = _csv.reader(feed(), delimiter=delimiter, strict=True)
            continue
        if not cells or all(not cell.strip() for cell in cells):
            continue
        text = "".join(line for _, line in consumed).rstrip("\r\n")
        yield RawRecord(f"line {first_number}", text, {"cells": cells, "text": text, "file": context})


def _next_content_line(numbered: Iterator[tuple[int, str]]) -> tuple[int, str | None]:
    for number, line in numbered:
        if line.strip():
            return number, line
    return 0, None


# --------------------------------------------------------------------------------------------
# Normalizer
# --------------------------------------------------------------------------------------------


def normalize(
    payload: dict,
    *,
    mapping: Mapping[str, str] | None = None,
    event_map: Mapping[str, Any] | None = None,
    timestamp_unit: str = "s",
    timezone: str | None = None,
    delimiter: str | None = None,
    **unknown: Any,
) -> list[dict]:
    """The canonical row of one CSV row (see the module docstring for the rules)."""
    if unknown:
        raise _configuration_error(
            payload, sorted(unknown)[0],
            "unknown CSV option; the options are mapping=, event_map=, timestamp_unit=, "
            "timezone= and delimiter=",
        )
    context = payload["file"]
    header, cells = context["header"], payload["cells"]
    if delimiter is not None and delimiter != context["delimiter"]:
        header = tuple(_split_line(context["header_text"], delimiter))
        cells = _split_text(payload["text"], delimiter)
    plan = _plan(
        header,
        _frozen(mapping, "mapping", payload),
        _frozen(event_map, "event_map", payload),
        timestamp_unit,
        timezone,
        context["source"],
        context["header_location"],
    )
    if len(cells) != len(header):
        raise RecordError(
            None,
            f"{len(cells)} cells where the header ({context['header_location']}) has "
            f"{len(header)} columns (an unquoted delimiter or a missing quote?)",
        )
    values = {name: cells[index].strip() for name, index in plan.columns.items()}

    event_column = plan.sources["event"]
    event, mapped_class = _event(values["event"], event_column, plan.event_map)
    bounce_class = None
    if event == "bounced":
        bounce_class = mapped_class or _bounce_class(values.get("bounce_class"),
                                                     plan.sources.get("bounce_class"),
                                                     values.get("smtp_status"))
    for name in ("message_id", "recipient"):
        if not values[name]:
            raise RecordError(plan.sources[name], _missing(name, plan.sources[name]))
    event_id = values.get("event_id") or "csv:" + stable_hash(dict(zip(header, cells, strict=True)))
    return [
        row(
            timestamp=_timestamp(values["timestamp"], plan.sources["timestamp"], plan.unit, plan.zone),
            event=event,
            message_id=values["message_id"],
            event_id=event_id,
            recipient=values["recipient"],
            sending_ip=values.get("sending_ip") or None,
            ip_pool=values.get("ip_pool") or None,
            stream=values.get("stream") or None,
            campaign=values.get("campaign") or None,
            bounce_class=bounce_class,
            is_machine=_flag(values.get("is_machine", ""), plan.sources.get("is_machine")),
            smtp_status=enhanced_status(values.get("smtp_status")),
            reason=values.get("reason") or None,
        )
    ]


class _Plan:
    """Where each canonical field comes from in one header, with the validated options."""

    def __init__(self, columns: dict[str, int], sources: dict[str, str],
                 event_map: dict[str, tuple[str | None, str | None]], unit: float,
                 zone: tzinfo | None):
        self.columns = columns  # canonical name -> cell index
        self.sources = sources  # canonical name -> source column name (for messages)
        self.event_map = event_map  # source value -> (event or None, bounce class or None)
        self.unit = unit
        self.zone = zone


@lru_cache(maxsize=32)
def _plan(
    header: tuple[str, ...],
    mapping: tuple[tuple[str, Any], ...] | None,
    event_map: tuple[tuple[str, Any], ...] | None,
    timestamp_unit: Any,
    timezone: Any,
    source: str,
    header_location: str,
) -> _Plan:
    def fail(field_name: str, reason: str) -> InputFormatError:
        return InputFormatError(source, f"{header_location} (header)", field_name, reason)

    names = [name.strip().lstrip("\ufeff") for name in header]
    listing = ", ".join(repr(n) for n in names if n)
    columns: dict[str, int] = {}
    sources: dict[str, str] = {}

    def locate(column: Any, canonical: str) -> int:
        if not isinstance(column, str) or not column.strip():
            raise fail("mapping", f"the column for {canonical!r} must be a column name, not {column!r}")
        wanted = column.strip()
        exact = [i for i, n in enumerate(names) if n == wanted]
        matches = exact or [i for i, n in enumerate(names) if n.lower() == wanted.lower()]
        if not matches:
            raise fail(wanted, f"mapping names column {wanted!r} for {canonical!r}, but the "
                               f"header has no such column; the columns are {listing}")
        if len(matches) > 1:
            raise fail(wanted, f"column {wanted!r} (for {canonical!r}) appears {len(matches)} "
                               "times in the header")
        return matches[0]

    for canonical, column in mapping or ():
        if canonical not in CSV_FIELDS:
            raise fail("mapping", f"{canonical!r} is not a canonical name; the mapping's keys "
                                  f"are canonical names: {', '.join(CSV_FIELDS)}")
        columns[canonical] = locate(column, canonical)
        sources[canonical] = names[columns[canonical]]
    lowered = [n.lower() for n in names]
    for canonical in CSV_FIELDS:
        if canonical not in columns and lowered.count(canonical) == 1:
            columns[canonical] = lowered.index(canonical)
            sources[canonical] = names[columns[canonical]]
    missing = [name for name in REQUIRED_FIELDS if name not in columns]
    if missing:
        raise fail(missing[0], f"no column for {', '.join(map(repr, missing))}: the header has "
                               f"{listing}; pass mapping={{canonical_name: column}}")

    if timestamp_unit not in EPOCH_UNITS:
        raise fail("timestamp_unit", f"{timestamp_unit!r} is not one of {', '.join(EPOCH_UNITS)}")
    zone = None
    if timezone is not None:
        try:
            zone = UTC if str(timezone).upper() == "UTC" else ZoneInfo(str(timezone))
        except (ZoneInfoNotFoundError, ValueError):
            raise fail("timezone", f"{timezone!r} is not an IANA time zone name "
                                   "(such as 'Europe/Berlin' or 'UTC')") from None

    events: dict[str, tuple[str | None, str | None]] = {}
    for value, target in event_map or ():
        if target is None:
            events[str(value)] = (None, None)
            continue
        if isinstance(target, str):
            event, bounce_class = target, None
        elif isinstance(target, tuple) and len(target) == 2:
            event, bounce_class = target
        else:
            raise fail("event_map", f"{value!r}: {target!r} is neither an event nor "
                                    "(event, bounce_class)")
        if event not in EVENT_TYPES:
            raise fail("event_map", f"{value!r} maps to {event!r}, which is not one of "
                                    f"{', '.join(EVENT_TYPES)} (or None to ignore it)")
        if bounce_class is not None and (event != "bounced" or bounce_class not in BOUNCE_CLASSES):
            raise fail("event_map", f"{value!r}: a bounce class ({', '.join(BOUNCE_CLASSES)}) "
                                    "goes with 'bounced' only")
        events[str(value)] = (event, bounce_class)
    return _Plan(columns, sources, events, EPOCH_UNITS[timestamp_unit], zone)


def _frozen(value: Any, option: str, payload: dict) -> tuple | None:
    """A hashable copy of a mapping option (for the plan cache)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise _configuration_error(payload, option, f"must be a dict, not {type(value).__name__}")
    return tuple(
        (key, tuple(target) if isinstance(target, list) else target)
        for key, target in value.items()
    )


def _configuration_error(payload: dict, field_name: str, reason: str) -> InputFormatError:
    return InputFormatError(payload["file"]["source"], None, field_name, reason)


def _split_text(text: str, delimiter: str) -> list[str]:
    return next(_csv.reader(text.splitlines(keepends=True), delimiter=delimiter), [])


def _missing(canonical: str, column: str) -> str:
    return "missing" if canonical == column else f"missing (the {canonical} column)"


def _event(value: str, column: str, event_map: dict) -> tuple[str, str | None]:
    if not value:
        raise RecordError(column, _missing("event", column))
    target = event_map.get(value)
    if target is None:
        folded = value.lower()
        target = next((t for k, t in event_map.items() if k.lower() == folded), None)
    if target is not None:
        if target[0] is None:
            raise IgnoreRecord(f"event {value!r} (event_map: None)")
        return target
    canonical = EVENT_SYNONYMS.get(value.lower())
    if canonical is None:
        raise RecordError(
            column,
            f"unknown event value {value[:40]!r}; pass event_map={{{value[:40]!r}: <one of "
            f"{', '.join(EVENT_TYPES)}>}} (or None to ignore it)",
        )
    return canonical, None


def _bounce_class(value: str | None, column: str | None, status_text: str | None) -> str:
    if value:
        canonical = BOUNCE_CLASS_SYNONYMS.get(value.lower())
        if canonical is None:
            raise RecordError(column, f"{value[:40]!r} is not a bounce class; expected one of "
                                      f"{', '.join(BOUNCE_CLASSES)}")
        return canonical
    status = enhanced_status(status_text) or ""
    if status.startswith("5.1."):
        return "hard"
    if status.startswith("5.7."):
        return "block"
    if status.startswith("4."):
        return "soft"
    return "undetermined"


def _flag(value: str, column: str | None) -> bool:
    flag = BOOLEAN_WORDS.get(value.lower())
    if flag is None:
        raise RecordError(column, f"{value[:40]!r} is not true/false, 1/0 or yes/no")
    return flag


def _timestamp(value: str, column: str, seconds_per_unit: float, zone: tzinfo | None) -> float:
    if not value:
        raise RecordError(column, _missing("timestamp", column))
    if _EPOCH.match(value):
        return float(value) / seconds_per_unit
    text = _ZONE_WORD.sub("+00:00", value)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise RecordError(column, f"not an ISO-8601 time or an epoch number: {value[:40]!r}") from None
    if parsed.tzinfo is None:
        if zone is None:
            raise RecordError(column, f"time without a zone: {value[:40]!r}; pass timezone= "
                                      "(the IANA zone it was written in, e.g. 'Europe/Berlin')")
        parsed = parsed.replace(tzinfo=zone)
        round_trip = parsed.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
        if round_trip != parsed.replace(tzinfo=None):
            raise RecordError(column, f"{value[:40]!r} does not exist in {zone} (skipped by "
                                      "daylight saving time): is timezone= right?")
    return parsed.timestamp()


SPEC = register(
    FormatSpec(
        name="csv",
        label="CSV with canonical column names",
        sniff=sniff,
        records=records,
        normalize=normalize,
        priority=90,  # generic: after every ESP-specific format
    )
)

_read_csv = make_reader(
    "csv",
    """Read a CSV export of e-mail events, one event per row (any ESP, CRM or warehouse).

    Parameters
    ----------
    mapping : dict, optional
        ``{canonical_name: source_column}``; needed unless the header uses canonical names.
        A column the mapping names that is not in the header raises
        :class:`~deliverability_econ.io.InputFormatError` naming the file and the column.
    event_map : dict, optional
        ``{source_value: canonical_event}``; a value may also be ``None`` (ignore those rows)
        or ``("bounced", bounce_class)``.
    timestamp_unit : {"s", "ms", "us", "ns"}
        Unit of epoch timestamps (default seconds); ISO-8601 cells are read as such.
    timezone : str, optional
        IANA zone of timestamps written without one; without it they are quarantined.
    delimiter : str, optional
        Field delimiter; by default the one of ``, ; tab |`` found most in the header line.

    Examples
    --------
    An export with its own column names and event words, in a European spreadsheet's dialect:

    >>> import io
    >>> export = io.StringIO(
    ...     "Date;Type;Message;Email\\n"
    ...     "2025-11-05 14:03:11;Sent;m-1;ann@gmail.com\\n"
    ...     "2025-11-05 14:09:40;Hard Bounce;m-2;bob@outlook.com\\n")
    >>> events, meta = read_csv(
    ...     export,
    ...     mapping={"timestamp": "Date", "event": "Type", "message_id": "Message",
    ...              "recipient": "Email"},
    ...     event_map={"Sent": "delivered", "Hard Bounce": ("bounced", "hard")},
    ...     timezone="Europe/Berlin", salt="example")
    >>> print(events[["timestamp", "event", "bounce_class"]].to_string(index=False))
                    timestamp     event bounce_class
    2025-11-05 13:03:11+00:00 delivered          NaN
    2025-11-05 13:09:40+00:00   bounced         hard
""",
)


def read_csv(
    path_or_buffer: Any,
    *,
    mapping: Mapping[str, str] | None = None,
    event_map: Mapping[str, Any] | None = None,
    timestamp_unit: str = "s",
    timezone: str | None = None,
    delimiter: str | None = None,
    errors: str = "quarantine",
    pseudonymize: bool = True,
    salt: str | bytes | None = None,
    mx_map: Mapping[str, str] | None = None,
    encoding: str | None = None,
    now: float | None = None,
) -> tuple[pd.DataFrame, dict]:
    options: dict[str, Any] = {"timestamp_unit": timestamp_unit}
    for name, value in (("mapping", mapping), ("event_map", event_map), ("timezone", timezone),
                        ("delimiter", delimiter)):
        if value is not None:
            options[name] = value
    if timestamp_unit not in EPOCH_UNITS:
        raise ValueError(f"timestamp_unit={timestamp_unit!r}: expected one of {', '.join(EPOCH_UNITS)}")
    if delimiter is not None and (not isinstance(delimiter, str) or len(delimiter) != 1):
        raise ValueError(f"delimiter={delimiter!r}: expected one character")
    if timezone is not None:
        try:
            ZoneInfo(str(timezone))
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timezone={timezone!r} is not an IANA time zone name "
                             "(such as 'Europe/Berlin' or 'UTC')") from None
    return _read_csv(path_or_buffer, errors=errors, pseudonymize=pseudonymize, salt=salt,
                     mx_map=mx_map, encoding=encoding, now=now, **options)


read_csv.__doc__ = _read_csv.__doc__
