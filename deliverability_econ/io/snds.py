"""Microsoft SNDS: Outlook.com's daily view of each sending IP (log-formats.md section 10, F13).

Smart Network Data Services' automated export (``data.aspx?key=...``) is a CSV **without a
header row**, one row per IP and activity window, columns by position::

    192.0.2.10,3/3/2025 12:00 AM,3/3/2025 11:59 PM,5214,5201,5198,GREEN,< 0.1%,,,0,mta1.example.com,bounces@mail.example.com,

 1. IP address            2. activity start        3. activity end
 4. RCPT commands         5. DATA commands         6. message recipients
 7. filter result: ``GREEN`` (under 10% of the IP's mail judged spam), ``YELLOW`` (10-90%),
    ``RED`` (over 90%) (F13)
 8. complaint rate: complaints over message recipients, as ``0.3%`` or ``< 0.1%``
 9-14. trap message period (start and end, or one field), spam trap hits, sample HELO,
    sample MAIL FROM, comments

Public descriptions of the layout differ (12, 13 or 14 columns: one "trap message period"
column or two, a comments column or none), so the columns after the eighth are read with a
tolerant rule: the trap-hit count is the first whole number at position 10 (one period column)
or 11 (two period columns); HELO and MAIL FROM follow it; anything after them is the comment
(re-joined with commas if the comment held unquoted commas). A row with fewer than 12 columns
is quarantined. A header line, as a copy from the portal's page may carry, is counted as
ignored.

Times carry no zone in the export. **Zone assumption:** they are read in ``timezone``
(default UTC) and returned in UTC. SNDS's official FAQ could not be read when this was written
(log-formats.md section 10); several third-party descriptions say the portal works in Pacific
time, so pass ``timezone="America/Los_Angeles"`` if your windows look shifted by 7-8 hours.
For daily reporting a shift of hours rarely matters; ``meta["timezone"]`` records the choice.
Dates are month first (``3/4/2025`` is 4 March), as the US-hosted portal writes them.

Microsoft omits days with fewer than 100 messages from an IP (F13).
"""

from __future__ import annotations

import ipaddress
import math
import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

from ._base import RecordError, expand_sources, open_text
from ._calibration import (
    TableStats,
    iter_csv_rows,
    parse_count,
    quarantine,
    quarantine_unreadable,
    reader_options,
    table_meta,
)

#: Filter verdicts, best first (the order of the output category), with their F13 meaning.
FILTER_RESULTS: dict[str, str] = {
    "GREEN": "under 10% of the IP's mail judged spam by Microsoft's filter",
    "YELLOW": "between 10% and 90% judged spam",
    "RED": "over 90% judged spam",
}

#: Output columns, in order:
#:
#: - ``ip`` (string); ``activity_start``, ``activity_end`` (datetime64[ns, UTC]);
#: - ``rcpt_commands``, ``data_commands``, ``message_recipients`` [count];
#: - ``filter_result``: ordered category ``GREEN`` < ``YELLOW`` < ``RED``;
#: - ``complaint_rate`` [fraction 0-1]: complaints over message recipients, reported on the
#:   day of the complaint; for ``< 0.1%`` it is the bound (0.001) and
#:   ``complaint_rate_is_upper_bound`` is True; NaN when the cell is empty;
#: - ``trap_period_start``, ``trap_period_end`` (datetime64[ns, UTC], NaT when empty);
#:   ``trap_hits`` [messages];
#: - ``sample_helo``, ``sample_mail_from``, ``comments`` (string; the MAIL FROM is the
#:   sender's own envelope address, kept as written).
SNDS_COLUMNS: tuple[str, ...] = (
    "ip",
    "activity_start",
    "activity_end",
    "rcpt_commands",
    "data_commands",
    "message_recipients",
    "filter_result",
    "complaint_rate",
    "complaint_rate_is_upper_bound",
    "trap_period_start",
    "trap_period_end",
    "trap_hits",
    "sample_helo",
    "sample_mail_from",
    "comments",
)

#: Fewest columns of an SNDS row (one trap-period column, no comments).
MIN_COLUMNS = 12

#: Time layouts tried in order (month first, as the portal writes dates).
TIME_FORMATS: tuple[str, ...] = (
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y",
)

_COMPLAINT = re.compile(r"(?P<bound><)?\s*(?P<number>\d+(?:\.\d+)?|\.\d+)\s*%")
_WHOLE = re.compile(r"\d+")
_COUNT_FIELDS: tuple[tuple[int, str], ...] = (
    (3, "rcpt_commands"),
    (4, "data_commands"),
    (5, "message_recipients"),
)


def read_snds(
    path: Any,
    *,
    errors: str = "quarantine",
    timezone: str = "UTC",
    encoding: str | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Read Microsoft SNDS data exports (CSV without a header row).

    Parameters
    ----------
    path : path, glob, directory, file-like, or a list of them
        ``.gz``, ``.bz2``, ``.zip`` read as streams.
    errors : {"quarantine", "raise"}
        ``"quarantine"`` (default) keeps a bad row in ``meta["quarantine"]`` with its source,
        line, field and reason; ``"raise"`` raises
        :class:`~deliverability_econ.io.InputFormatError` at the first one.
    timezone : str
        IANA zone the export's times are written in (see the module docstring); default UTC.
    encoding : str, optional
        Text encoding; default UTF-8.

    Returns
    -------
    snds : DataFrame
        :data:`SNDS_COLUMNS`, one row per IP and activity window, sorted by start and IP.
    meta : dict
        ``format`` ("snds"), ``sources``, ``records_read``, ``rows``, ``duplicates`` (the same
        IP and window read again), ``quarantined``, ``ignored`` (header lines), ``quarantine``
        (DataFrame), ``warnings``, ``timezone``; ``records_read == rows + duplicates +
        quarantined + sum(ignored.values())``.

    Examples
    --------
    >>> import io
    >>> line = ("192.0.2.10,3/3/2025 12:00 AM,3/3/2025 11:59 PM,5214,5201,5198,YELLOW,0.3%,,,2,"
    ...         "mta1.example.com,bounces@mail.example.com,\\n")
    >>> table, meta = read_snds(io.StringIO(line))
    >>> table[["ip", "filter_result", "complaint_rate", "trap_hits"]]
               ip filter_result  complaint_rate  trap_hits
    0  192.0.2.10        YELLOW           0.003          2
    """
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # a directory name such as "Pacific"
        raise ValueError(f"timezone {timezone!r} is not an IANA zone name") from None
    options = reader_options(errors)
    stats = TableStats()
    rows: list[dict] = []
    seen: set[tuple] = set()
    sources = expand_sources(path)
    for source in sources:
        with open_text(source, encoding) as stream:
            for csv_row in iter_csv_rows(stream, delimiter=","):
                location = f"line {csv_row.line}"
                if quarantine_unreadable(csv_row, stats, options, source.name):
                    continue
                if _is_header(csv_row.fields):
                    stats.records_read += 1
                    stats.ignored["header row"] += 1
                    continue
                try:
                    record = snds_row(csv_row.fields, zone)
                except RecordError as exc:
                    quarantine(
                        stats, options, source.name, location, exc.field, exc.reason, csv_row.text
                    )
                    continue
                stats.records_read += 1
                key = (record["ip"], record["activity_start"], record["activity_end"])
                if key in seen:
                    stats.duplicates += 1
                    continue
                seen.add(key)
                stats.rows += 1
                rows.append(record)
    table = _frame(rows)
    meta = table_meta("snds", [s.name for s in sources], stats, timezone=timezone)
    return table, meta


def snds_row(fields: list[str], zone: ZoneInfo | None = None) -> dict:
    """One SNDS row (a list of cells) as a dict of :data:`SNDS_COLUMNS`.

    Raises
    ------
    RecordError
        Naming the column that is missing or malformed.
    """
    zone = zone or ZoneInfo("UTC")
    raw_tail = fields[8:]
    fields = [value.strip() for value in fields]
    if len(fields) < MIN_COLUMNS:
        raise RecordError(
            None, f"{len(fields)} columns; an SNDS row has {MIN_COLUMNS} to 14 (log-formats.md §10)"
        )
    record: dict[str, Any] = {"ip": _ip(fields[0])}
    record["activity_start"] = snds_time(fields[1], "activity_start", zone)
    record["activity_end"] = snds_time(fields[2], "activity_end", zone)
    if record["activity_start"] is None:
        raise RecordError("activity_start", "missing")
    if record["activity_end"] is None:
        raise RecordError("activity_end", "missing")
    if record["activity_end"] < record["activity_start"]:
        raise RecordError(
            "activity_end", f"before the activity start: {fields[2]!r} < {fields[1]!r}"
        )
    for index, name in _COUNT_FIELDS:
        record[name] = parse_count(fields[index], name)
    verdict = fields[6].upper()
    if verdict not in FILTER_RESULTS:
        raise RecordError("filter_result", f"not GREEN, YELLOW or RED: {fields[6][:40]!r}")
    record["filter_result"] = verdict
    record["complaint_rate"], record["complaint_rate_is_upper_bound"] = complaint_rate(fields[7])
    record.update(_trailing(fields[8:], raw_tail, zone))
    return record


def complaint_rate(text: str, field_name: str = "complaint_rate") -> tuple[float, bool]:
    """SNDS's complaint-rate cell as ``(fraction, is_upper_bound)``.

    Examples
    --------
    >>> complaint_rate("< 0.1%"), complaint_rate("0.3%"), complaint_rate("")
    ((0.001, True), (0.003, False), (nan, False))

    Raises
    ------
    RecordError
        For a cell that is not a percentage (a bare ``0.3`` is ambiguous and rejected).
    """
    text = text.strip()
    if not text:
        return math.nan, False
    match = _COMPLAINT.fullmatch(text)
    if match is None:
        raise RecordError(field_name, f"not a percentage such as '0.3%' or '< 0.1%': {text[:40]!r}")
    value = float(match.group("number")) / 100.0
    if value > 1.0:
        raise RecordError(field_name, f"above 100%: {text[:40]!r}")
    return round(value, 12), match.group("bound") is not None


def snds_time(text: str, field_name: str, zone: ZoneInfo | None = None) -> pd.Timestamp | None:
    """An SNDS time (``3/3/2025 11:59 PM``, 24-hour or ISO) in ``zone``, as a UTC Timestamp;
    None for an empty cell.

    Raises
    ------
    RecordError
        For a cell in none of :data:`TIME_FORMATS` nor ISO 8601.
    """
    text = text.strip()
    if not text:
        return None
    zone = zone or ZoneInfo("UTC")
    parsed = None
    for layout in TIME_FORMATS:
        try:
            parsed = datetime.strptime(text, layout)
            break
        except ValueError:
            continue
    if parsed is None:
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise RecordError(
                field_name, f"not a time such as '3/3/2025 11:59 PM': {text[:40]!r}"
            ) from None
    if parsed.year < 2000:
        raise RecordError(field_name, f"before 2000: {text[:40]!r}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return pd.Timestamp(parsed).tz_convert("UTC")


def _ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise RecordError("ip", f"not an IP address: {text[:45]!r}") from None


def _trailing(tail: list[str], raw_tail: list[str], zone: ZoneInfo) -> dict:
    """Columns 9 on (stripped, and as read): trap period (one or two columns), trap hits,
    HELO, MAIL FROM, comments."""
    if _WHOLE.fullmatch(tail[1]):
        start, end = _trap_period(tail[0], zone)
        hits_at = 1
    elif len(tail) >= 5 and _WHOLE.fullmatch(tail[2]):
        start = snds_time(tail[0], "trap_period_start", zone)
        end = snds_time(tail[1], "trap_period_end", zone)
        hits_at = 2
    else:
        raise RecordError(
            "trap_hits",
            f"no whole number at column 10 or 11 (found {tail[1][:20]!r}, "
            f"{tail[2][:20] if len(tail) > 2 else ''!r})",
        )
    rest = tail[hits_at + 1 :]
    comments = ",".join(raw_tail[hits_at + 3 :]).strip()
    return {
        "trap_period_start": start,
        "trap_period_end": end,
        "trap_hits": int(tail[hits_at]),
        "sample_helo": rest[0] or None,
        "sample_mail_from": rest[1] or None,
        "comments": comments or None,
    }


def _trap_period(text: str, zone: ZoneInfo) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    """One trap-period column: empty, one time, or ``start - end``."""
    if not text:
        return None, None
    parts = re.split(r"\s+-\s+|\s+to\s+", text)
    if len(parts) == 2:
        return snds_time(parts[0], "trap_period", zone), snds_time(parts[1], "trap_period", zone)
    return snds_time(text, "trap_period", zone), None


def _is_header(fields: list[str]) -> bool:
    first = fields[0].strip().lower() if fields else ""
    return first.startswith("ip ") or first in ("ip", "ip address", "ip_address")


def _frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(rows, columns=list(SNDS_COLUMNS))
    utc = pd.DatetimeTZDtype(unit="ns", tz="UTC")
    out = pd.DataFrame({"ip": frame["ip"].astype("string")})
    for column in ("activity_start", "activity_end"):
        out[column] = pd.to_datetime(frame[column], utc=True).astype(utc)
    for column in ("rcpt_commands", "data_commands", "message_recipients"):
        out[column] = frame[column].astype("int64")
    out["filter_result"] = pd.Categorical(
        frame["filter_result"], categories=list(FILTER_RESULTS), ordered=True
    )
    out["complaint_rate"] = frame["complaint_rate"].astype("float64")
    out["complaint_rate_is_upper_bound"] = frame["complaint_rate_is_upper_bound"].astype(bool)
    for column in ("trap_period_start", "trap_period_end"):
        out[column] = pd.to_datetime(frame[column], utc=True).astype(utc)
    out["trap_hits"] = frame["trap_hits"].astype("int64")
    for column in ("sample_helo", "sample_mail_from", "comments"):
        out[column] = frame[column].astype("string")
    return out.sort_values(["activity_start", "ip"], kind="stable", ignore_index=True)
