"""Google Postmaster Tools: Gmail's daily view of a sending domain (log-formats.md section 9).

Two inputs give the same table, one row per domain and day:

**The v1 API's** ``TrafficStats`` **JSON** (``domains.trafficStats.list`` / ``.get``): a list
response ``{"trafficStats": [...], "nextPageToken": "..."}``, a bare list of objects, one object,
or JSON lines of any of those (one page per line, as a paginating script stores them). Each
object is named ``domains/{domain}/trafficStats/{yyyymmdd}``; the fields read are
``userReportedSpamRatio`` (+ ``LowerBound``/``UpperBound``), ``domainReputation``,
``ipReputations[] {reputation, ipCount, sampleIps}``, ``spf``/``dkim``/``dmarcSuccessRatio``,
``outbound``/``inboundEncryptionRatio`` and ``deliveryErrors[] {errorClass, errorType,
errorRatio}``. int64 fields such as ``ipCount`` arrive as JSON strings, as in every Google API.
A field Google leaves out (days under its volume floor, F5) is missing (NaN), not zero.

**A flat CSV**, as dashboards and export scripts write it, with a header such as::

    date,domain,user_reported_spam_ratio,domain_reputation,spf_success_ratio,...

Headers are matched case-insensitively and camelCase is accepted (``userReportedSpamRatio``);
synonyms are in :data:`CSV_ALIASES`. Ratios are fractions as in the API (``0.0012``) unless they
carry a ``%`` sign (``0.12%``) or ``ratio_unit="percent"`` says bare numbers are percents.

The spam rate is the *user-reported spam ratio*: spam reports divided by mail that reached the
**inbox**, DKIM-authenticated mail only (F4). It is not a complaint rate per delivered message
(F14): it reads higher for the same reports, and a low value can coexist with poor placement,
because spam-foldered mail draws no reports. Postmaster v2 (F6) has no reputation levels, so
those columns may be empty.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import pandas as pd

from ._base import InputFormatError, RecordError, expand_sources, iter_json_values, open_text
from ._calibration import (
    TableStats,
    has_bad_bytes,
    header_positions,
    iter_csv_rows,
    normalize_header,
    parse_count,
    parse_day,
    parse_fraction,
    quarantine,
    quarantine_unreadable,
    readable,
    reader_options,
    report_unknown_columns,
    table_meta,
)

#: Reputation levels of Postmaster v1, worst first (the order of the output category).
REPUTATION_LEVELS: tuple[str, ...] = ("BAD", "LOW", "MEDIUM", "HIGH")

#: The API's "no data" value.
REPUTATION_UNSPECIFIED = "REPUTATION_CATEGORY_UNSPECIFIED"

#: Delivery error classes of the v1 API -> output column.
ERROR_CLASS_COLUMNS: dict[str, str] = {
    "PERMANENT_ERROR": "permanent_error_ratio",
    "TEMPORARY_ERROR": "temporary_error_ratio",
}

#: Output columns, in order, with their units:
#:
#: - ``date`` (datetime64[ns] midnight) and ``domain`` (string);
#: - ``spam_rate`` [fraction 0-1]: user-reported spam over inbox-placed mail (F4), with
#:   ``spam_rate_low`` / ``spam_rate_high``, Google's bounds;
#: - ``domain_reputation``: ordered category ``BAD`` < ``LOW`` < ``MEDIUM`` < ``HIGH``;
#: - ``ip_count`` [IPs] with a reputation and ``ip_reputation_high``/``_medium``/``_low``/
#:   ``_bad`` [fraction 0-1 of those IPs];
#: - ``spf_success_ratio``, ``dkim_success_ratio``, ``dmarc_success_ratio``,
#:   ``outbound_encryption_ratio``, ``inbound_encryption_ratio`` [fraction 0-1];
#: - ``permanent_error_ratio``, ``temporary_error_ratio`` [fraction 0-1 of the traffic]: sums
#:   of ``deliveryErrors[].errorRatio`` per class, and ``top_delivery_error``, the error type
#:   with the largest ratio.
POSTMASTER_COLUMNS: tuple[str, ...] = (
    "date",
    "domain",
    "spam_rate",
    "spam_rate_low",
    "spam_rate_high",
    "domain_reputation",
    "ip_count",
    "ip_reputation_high",
    "ip_reputation_medium",
    "ip_reputation_low",
    "ip_reputation_bad",
    "spf_success_ratio",
    "dkim_success_ratio",
    "dmarc_success_ratio",
    "outbound_encryption_ratio",
    "inbound_encryption_ratio",
    "permanent_error_ratio",
    "temporary_error_ratio",
    "top_delivery_error",
)

#: Counts a CSV may add (a simulator or an in-house panel knows them; Google shows neither):
#: ``inbox`` [messages placed in the inbox] and ``spam_reports`` [reports].
OPTIONAL_COUNT_COLUMNS: tuple[str, ...] = ("inbox", "spam_reports")

_RATIO_COLUMNS: tuple[str, ...] = (
    "spam_rate",
    "spam_rate_low",
    "spam_rate_high",
    "ip_reputation_high",
    "ip_reputation_medium",
    "ip_reputation_low",
    "ip_reputation_bad",
    "spf_success_ratio",
    "dkim_success_ratio",
    "dmarc_success_ratio",
    "outbound_encryption_ratio",
    "inbound_encryption_ratio",
    "permanent_error_ratio",
    "temporary_error_ratio",
)

#: API field -> output column, for the plain ratio fields.
API_RATIO_FIELDS: dict[str, str] = {
    "userReportedSpamRatio": "spam_rate",
    "userReportedSpamRatioLowerBound": "spam_rate_low",
    "userReportedSpamRatioUpperBound": "spam_rate_high",
    "spfSuccessRatio": "spf_success_ratio",
    "dkimSuccessRatio": "dkim_success_ratio",
    "dmarcSuccessRatio": "dmarc_success_ratio",
    "outboundEncryptionRatio": "outbound_encryption_ratio",
    "inboundEncryptionRatio": "inbound_encryption_ratio",
}

#: Normalized CSV header -> output column.
CSV_ALIASES: dict[str, str] = {
    **{name: name for name in (*POSTMASTER_COLUMNS, *OPTIONAL_COUNT_COLUMNS)},
    **{normalize_header(api): column for api, column in API_RATIO_FIELDS.items()},
    "name": "name",
    "day": "date",
    "sending_domain": "domain",
    "user_reported_spam_rate": "spam_rate",
    "spam_ratio": "spam_rate",
    "user_reported_spam_ratio_lower": "spam_rate_low",
    "user_reported_spam_ratio_upper": "spam_rate_high",
    "spam_rate_lower_bound": "spam_rate_low",
    "spam_rate_upper_bound": "spam_rate_high",
    "reputation": "domain_reputation",
    "ip_reputation_count": "ip_count",
    "spf_success_rate": "spf_success_ratio",
    "dkim_success_rate": "dkim_success_ratio",
    "dmarc_success_rate": "dmarc_success_ratio",
    "tls_outbound_ratio": "outbound_encryption_ratio",
    "tls_inbound_ratio": "inbound_encryption_ratio",
    "delivery_errors_permanent": "permanent_error_ratio",
    "delivery_errors_temporary": "temporary_error_ratio",
    "spam_report_count": "spam_reports",
}

_NAME = re.compile(r"domains/(?P<domain>[^/\s]+)/trafficStats/(?P<day>\d{8})")


def read_postmaster(
    path: Any,
    *,
    errors: str = "quarantine",
    format: str = "auto",
    ratio_unit: str = "fraction",
    date_format: str | None = None,
    unknown_columns: str = "warn",
    encoding: str | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Read Google Postmaster Tools traffic statistics (API v1 JSON or a flat CSV).

    Parameters
    ----------
    path : path, glob, directory, file-like, or a list of them
        ``.gz``, ``.bz2``, ``.zip`` read as streams.
    errors : {"quarantine", "raise"}
        ``"quarantine"`` (default) keeps a bad record in ``meta["quarantine"]`` with its source,
        location, field and reason; ``"raise"`` raises
        :class:`~deliverability_econ.io.InputFormatError` at the first one. A CSV header
        without a date and a domain (or ``name``) column always raises.
    format : {"auto", "json", "csv"}
        ``"auto"`` (default) takes a file starting with ``[`` or ``{`` as JSON, else CSV.
    ratio_unit : {"fraction", "percent"}
        How a CSV ratio without a ``%`` sign is read (JSON ratios are always fractions).
    date_format : str, optional
        :func:`datetime.strptime` format of CSV dates that are not ISO or ``YYYYMMDD``.
    unknown_columns : {"warn", "raise", "ignore"}
        CSV columns that are not understood: noted in ``meta["warnings"]`` (default; exports
        carry many extras), an error, or skipped silently.
    encoding : str, optional
        Text encoding; default UTF-8.

    Returns
    -------
    postmaster : DataFrame
        One row per domain and day, sorted: :data:`POSTMASTER_COLUMNS`, plus ``inbox`` and
        ``spam_reports`` (Int64) when a CSV gives them.
    meta : dict
        ``format`` ("postmaster"), ``sources``, ``records_read``, ``rows``, ``duplicates`` (a
        domain-day read again; the first is kept and a differing copy is noted in
        ``warnings``), ``quarantined``, ``ignored``, ``quarantine`` (DataFrame),
        ``warnings``; ``records_read == rows + duplicates + quarantined +
        sum(ignored.values())``.

    Examples
    --------
    >>> import io
    >>> page = io.StringIO('{"trafficStats": [{"name": "domains/example.com/trafficStats/20250303",'
    ...                    ' "userReportedSpamRatio": 0.0021, "domainReputation": "MEDIUM"}]}')
    >>> table, meta = read_postmaster(page)
    >>> table[["date", "domain", "spam_rate", "domain_reputation"]]
            date       domain  spam_rate domain_reputation
    0 2025-03-03  example.com     0.0021            MEDIUM
    """
    if format not in ("auto", "json", "csv"):
        raise ValueError(f"format must be 'auto', 'json' or 'csv', not {format!r}")
    if ratio_unit not in ("fraction", "percent"):
        raise ValueError(f"ratio_unit must be 'fraction' or 'percent', not {ratio_unit!r}")
    if unknown_columns not in ("raise", "warn", "ignore"):
        raise ValueError(
            f"unknown_columns must be 'raise', 'warn' or 'ignore', not {unknown_columns!r}"
        )
    options = reader_options(errors)
    stats = TableStats()
    rows: list[dict] = []
    index: dict[tuple, int] = {}
    has_counts: set[str] = set()
    sources = expand_sources(path)
    formats: dict[str, str] = {}

    def accept(record: dict, source_name: str, location: str) -> None:
        stats.records_read += 1
        key = (record["date"], record["domain"])
        if key in index:
            stats.duplicates += 1
            if not _same(rows[index[key]], record):
                stats.warnings.append(
                    f"{source_name}, {location}: {record['domain']} on {record['date'].date()} "
                    "read again with different values; the first copy is kept"
                )
            return
        index[key] = len(rows)
        stats.rows += 1
        rows.append(record)

    for source in sources:
        with open_text(source, encoding) as stream:
            head = stream.read(4096)
        if not head.strip():
            stats.warnings.append(f"{source.name}: empty file, no rows")
            continue
        kind = (
            format
            if format != "auto"
            else ("json" if head.lstrip().startswith(("[", "{")) else "csv")
        )
        formats[source.name] = kind
        with open_text(source, encoding) as stream:
            if kind == "json":
                for raw in iter_json_values(stream, _explode):
                    if raw.text is not None and has_bad_bytes(raw.text):
                        quarantine(
                            stats,
                            options,
                            source.name,
                            raw.location,
                            None,
                            "bytes that are not valid UTF-8 (wrong encoding?)",
                            readable(raw.text),
                        )
                        continue
                    if raw.error is not None:
                        quarantine(
                            stats, options, source.name, raw.location, None, raw.error, raw.text
                        )
                        continue
                    try:
                        record = traffic_stats_row(raw.payload)
                    except RecordError as exc:
                        quarantine(
                            stats,
                            options,
                            source.name,
                            raw.location,
                            exc.field,
                            exc.reason,
                            raw.text,
                            raw.payload,
                        )
                        continue
                    accept(record, source.name, raw.location)
            else:
                row_iter = iter_csv_rows(stream)
                header = next(row_iter)
                positions = _csv_positions(source.name, header, unknown_columns, stats)
                has_counts.update(c for c in OPTIONAL_COUNT_COLUMNS if c in positions)
                for csv_row in row_iter:
                    location = f"line {csv_row.line}"
                    if quarantine_unreadable(csv_row, stats, options, source.name):
                        continue
                    try:
                        record = _csv_row(
                            csv_row.fields, positions, len(header.fields), ratio_unit, date_format
                        )
                    except RecordError as exc:
                        quarantine(
                            stats,
                            options,
                            source.name,
                            location,
                            exc.field,
                            exc.reason,
                            csv_row.text,
                        )
                        continue
                    accept(record, source.name, location)
    table = _frame(rows, [c for c in OPTIONAL_COUNT_COLUMNS if c in has_counts])
    meta = table_meta("postmaster", [s.name for s in sources], stats, source_formats=formats)
    return table, meta


def traffic_stats_row(payload: Any) -> dict:
    """One v1 ``TrafficStats`` object as an output row (a dict of :data:`POSTMASTER_COLUMNS`).

    Raises
    ------
    RecordError
        Naming the API field that is missing or out of its vocabulary or range.

    Examples
    --------
    >>> row = traffic_stats_row({
    ...     "name": "domains/mail.example.com/trafficStats/20250304",
    ...     "ipReputations": [{"reputation": "HIGH", "ipCount": "3"},
    ...                       {"reputation": "LOW", "ipCount": "1"}],
    ...     "deliveryErrors": [{"errorClass": "TEMPORARY_ERROR", "errorType": "RATE_LIMIT_EXCEEDED",
    ...                         "errorRatio": 0.012}]})
    >>> row["ip_count"], row["ip_reputation_high"], row["temporary_error_ratio"]
    (4, 0.75, 0.012)
    """
    if not isinstance(payload, Mapping):
        raise RecordError(None, "a TrafficStats record must be a JSON object")
    name = payload.get("name")
    if not isinstance(name, str) or not name.strip():
        raise RecordError("name", "missing (expected domains/{domain}/trafficStats/{yyyymmdd})")
    match = _NAME.fullmatch(name.strip())
    if match is None:
        raise RecordError(
            "name", f"not domains/{{domain}}/trafficStats/{{yyyymmdd}}: {name[:80]!r}"
        )
    record: dict[str, Any] = {
        "date": parse_day(match.group("day"), "name"),
        "domain": match.group("domain").lower().rstrip("."),
    }
    for api_field, column in API_RATIO_FIELDS.items():
        record[column] = _api_ratio(payload.get(api_field), api_field)
    record["domain_reputation"] = reputation_level(
        payload.get("domainReputation"), "domainReputation"
    )
    record.update(_ip_reputations(payload.get("ipReputations")))
    record.update(_delivery_errors(payload.get("deliveryErrors")))
    _check_bounds(record, "userReportedSpamRatioLowerBound")
    return record


def reputation_level(value: Any, field_name: str = "domain_reputation") -> str | None:
    """``HIGH``/``MEDIUM``/``LOW``/``BAD`` (any case), or None for no data.

    Raises
    ------
    RecordError
        For any other value.
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    text = str(value).strip().upper()
    if text == REPUTATION_UNSPECIFIED:
        return None
    if text not in REPUTATION_LEVELS:
        raise RecordError(
            field_name,
            f"not a reputation level: {str(value)[:40]!r} (expected HIGH, MEDIUM, LOW or BAD)",
        )
    return text


def _explode(payload: Any) -> list | None:
    if isinstance(payload, dict):
        if "trafficStats" in payload:
            inner = payload["trafficStats"]
            return inner if isinstance(inner, list) else [inner]
        if "name" not in payload and set(payload) <= {"nextPageToken"}:
            return []  # an empty page: the API returns {} when there is no data
    return None


def _api_ratio(value: Any, field_name: str) -> float:
    if isinstance(value, str):
        # A string ratio is not how the API writes a double; accept it only as a plain number.
        try:
            value = float(value)
        except ValueError:
            raise RecordError(field_name, f"not a number: {value[:40]!r}") from None
    if value is not None and not isinstance(value, (int, float)):
        raise RecordError(field_name, f"not a number: {value!r}")
    return parse_fraction(value, field_name)


def _ip_reputations(entries: Any) -> dict:
    out: dict[str, Any] = {"ip_count": None}
    levels = {level: 0 for level in REPUTATION_LEVELS}
    if entries is None:
        for level in REPUTATION_LEVELS:
            out[f"ip_reputation_{level.lower()}"] = math.nan
        return out
    if not isinstance(entries, list):
        raise RecordError("ipReputations", "not a list")
    for position, entry in enumerate(entries, start=1):
        field_name = f"ipReputations[{position}]"
        if not isinstance(entry, Mapping):
            raise RecordError(field_name, "not an object")
        level = reputation_level(entry.get("reputation"), f"{field_name}.reputation")
        count = parse_count(entry.get("ipCount", 0), f"{field_name}.ipCount")
        if level is not None:
            levels[level] += count
    total = sum(levels.values())
    out["ip_count"] = total
    for level, count in levels.items():
        out[f"ip_reputation_{level.lower()}"] = count / total if total else math.nan
    return out


def _delivery_errors(entries: Any) -> dict:
    out: dict[str, Any] = {column: math.nan for column in ERROR_CLASS_COLUMNS.values()}
    out["top_delivery_error"] = None
    if entries is None:
        return out
    if not isinstance(entries, list):
        raise RecordError("deliveryErrors", "not a list")
    totals = {column: 0.0 for column in ERROR_CLASS_COLUMNS.values()}
    largest = -1.0
    for position, entry in enumerate(entries, start=1):
        field_name = f"deliveryErrors[{position}]"
        if not isinstance(entry, Mapping):
            raise RecordError(field_name, "not an object")
        error_class = str(entry.get("errorClass", "")).strip().upper()
        if error_class not in ERROR_CLASS_COLUMNS:
            raise RecordError(
                f"{field_name}.errorClass",
                f"not PERMANENT_ERROR or TEMPORARY_ERROR: {entry.get('errorClass')!r}",
            )
        ratio = _api_ratio(entry.get("errorRatio"), f"{field_name}.errorRatio")
        if math.isnan(ratio):
            continue
        totals[ERROR_CLASS_COLUMNS[error_class]] += ratio
        if ratio > largest:
            largest = ratio
            out["top_delivery_error"] = str(entry.get("errorType") or "") or None
    for column, total in totals.items():
        out[column] = min(total, 1.0)
    return out


def _check_bounds(record: dict, field_name: str) -> None:
    low, high = record["spam_rate_low"], record["spam_rate_high"]
    if not math.isnan(low) and not math.isnan(high) and low > high:
        raise RecordError(field_name, f"lower bound {low} above the upper bound {high}")


def _csv_positions(source: str, header, unknown_columns: str, stats: TableStats) -> dict[str, int]:
    positions, unknown, location = header_positions(source, header, CSV_ALIASES)
    if "name" not in positions:
        missing = [c for c in ("date", "domain") if c not in positions]
        if missing:
            raise InputFormatError(
                source,
                location,
                missing[0],
                "required column missing: a Postmaster CSV needs 'date' and 'domain' (or the "
                f"API's 'name'); found {', '.join(f.strip() for f in header.fields)}",
            )
    report_unknown_columns(source, location, unknown, unknown_columns, stats)
    return positions


def _csv_row(
    fields: list[str],
    positions: dict[str, int],
    width: int,
    ratio_unit: str,
    date_format: str | None,
) -> dict:
    if len(fields) > width and any(value.strip() for value in fields[width:]):
        raise RecordError(None, f"{len(fields)} fields for a header of {width} columns")

    def cell(name: str) -> str | None:
        index = positions.get(name)
        if index is None or index >= len(fields):
            return None
        value = fields[index].strip()
        return value or None

    record: dict[str, Any] = {}
    if "date" in positions or "name" not in positions:
        record["date"] = parse_day(cell("date"), "date", date_format)
        domain = cell("domain")
        if domain is None:
            raise RecordError("domain", "missing")
        record["domain"] = domain.lower().rstrip(".")
    else:
        match = _NAME.fullmatch(cell("name") or "")
        if match is None:
            raise RecordError(
                "name", f"not domains/{{domain}}/trafficStats/{{yyyymmdd}}: {cell('name')!r}"
            )
        record["date"] = parse_day(match.group("day"), "name")
        record["domain"] = match.group("domain").lower().rstrip(".")
    for column in _RATIO_COLUMNS:
        record[column] = parse_fraction(cell(column), column, bare_unit=ratio_unit)
    record["domain_reputation"] = reputation_level(cell("domain_reputation"), "domain_reputation")
    count = cell("ip_count")
    record["ip_count"] = parse_count(count, "ip_count") if count is not None else None
    record["top_delivery_error"] = cell("top_delivery_error")
    for column in OPTIONAL_COUNT_COLUMNS:
        value = cell(column)
        record[column] = parse_count(value, column) if value is not None else None
    _check_bounds(record, "spam_rate_low")
    return record


def _same(first: dict, second: dict) -> bool:
    for key, value in first.items():
        other = second.get(key)
        if isinstance(value, float) and isinstance(other, float):
            if not (value == other or (math.isnan(value) and math.isnan(other))):
                return False
        elif value != other:
            return False
    return True


def _frame(rows: list[dict], optional: list[str]) -> pd.DataFrame:
    columns = [*POSTMASTER_COLUMNS, *optional]
    frame = pd.DataFrame.from_records(rows, columns=columns)
    out = pd.DataFrame(
        {
            "date": pd.to_datetime(frame["date"]).astype("datetime64[ns]"),
            "domain": frame["domain"].astype("string"),
        }
    )
    for column in POSTMASTER_COLUMNS[2:]:
        if column == "domain_reputation":
            out[column] = pd.Categorical(
                frame[column], categories=list(REPUTATION_LEVELS), ordered=True
            )
        elif column == "ip_count":
            out[column] = frame[column].astype("Int64")
        elif column == "top_delivery_error":
            out[column] = frame[column].astype("string")
        else:
            out[column] = frame[column].astype("float64")
    for column in optional:
        out[column] = frame[column].astype("Int64")
    return out.sort_values(["domain", "date"], kind="stable", ignore_index=True)
