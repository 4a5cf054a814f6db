"""Seed-list placement tests: where known seed mailboxes found a send (M1 in domain-facts).

A seed-list vendor (Validity Everest, GlockApps, SparkPost, Mailgun Inbox Placement, ...) sends
a test to its own mailboxes at many providers and reports, per provider, how many seeds found
the message in the inbox, in the spam folder, or not at all (*missing*: blocked, bounced or
still deferred). Those counts calibrate the placement model, which cannot tell inbox from spam
from logs alone (DESIGN.md, "Inbox placement").

The file is a CSV with a header, one row per test (or day) and provider, holding **counts of
seed mailboxes**, not percentages::

    date,mailbox_provider,inbox,spam,missing
    2025-03-03,gmail,18,2,0
    2025-03-03,outlook.com,11,6,3

Columns (headers are matched case-insensitively, ``Spam Folder``/``spamFolder`` read as
``spam_folder``; synonyms in :data:`COLUMN_ALIASES`):

- ``date`` (required): ``YYYY-MM-DD``, ``YYYYMMDD`` or an ISO date-time (converted to its UTC
  day, like the cube; without a zone it is taken as UTC); other layouts with ``date_format=``.
- ``mailbox_provider`` (required): a provider name of
  :data:`~deliverability_econ.schema.MAILBOX_PROVIDERS`, a display name vendors use
  (``Gmail``, ``Hotmail``, ``Office 365``, ``Yahoo!``, ``AOL``, ``iCloud``: see
  :data:`PROVIDER_ALIASES`), or a seed mailbox domain (``hotmail.co.uk``) mapped through
  :mod:`deliverability_econ.providers` (an unknown domain, such as a B2B seed at a company
  domain, is ``other``; pass ``mx_map`` to place it). Any other name is quarantined: pass
  ``provider_map={"Proofpoint": "other"}`` for the labels of your vendor.
- ``inbox``, ``spam``, ``missing`` (required): non-negative whole numbers of seed mailboxes.
- ``promotions`` (optional): Gmail tab placement reported apart by some vendors. It is added
  to ``inbox`` (a tab is in the inbox; vendors differ on this, which moves their headline
  numbers a lot: F20) and kept as an "of which" column.
- ``seeds`` (optional): total seeds of the row; when given it must equal
  ``inbox + promotions + spam + missing``.
- ``test_id``, ``stream``, ``campaign`` (optional): carried through. With a ``test_id`` the same
  test read twice (overlapping exports) counts once.

Any other column is an error by default (``unknown_columns="raise"``): a misspelt optional
column would otherwise be dropped without a word. Seed results are a sample of the send and
depend on how the test was sent (F22); they are evidence, not truth.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pandas as pd

from ..providers import provider_domains
from ..schema import MAILBOX_PROVIDERS
from ._base import InputFormatError, RecordError, expand_sources, open_text
from ._calibration import (
    TableStats,
    header_positions,
    iter_csv_rows,
    parse_count,
    parse_day,
    quarantine,
    quarantine_unreadable,
    reader_options,
    report_unknown_columns,
    table_meta,
)

#: The columns every seed-test table has, in order (DESIGN.md, ``estimate_placement``).
SEED_TEST_COLUMNS: tuple[str, ...] = ("date", "mailbox_provider", "inbox", "spam", "missing")

#: Optional columns, in output order when present.
OPTIONAL_COLUMNS: tuple[str, ...] = ("promotions", "seeds", "test_id", "stream", "campaign")

#: Normalized header -> canonical column.
COLUMN_ALIASES: dict[str, str] = {
    **{name: name for name in (*SEED_TEST_COLUMNS, *OPTIONAL_COLUMNS)},
    "day": "date",
    "test_date": "date",
    "send_date": "date",
    "sent_date": "date",
    "provider": "mailbox_provider",
    "isp": "mailbox_provider",
    "mbp": "mailbox_provider",
    "email_provider": "mailbox_provider",
    "mailbox_provider_domain": "mailbox_provider",
    "domain": "mailbox_provider",
    "seed_domain": "mailbox_provider",
    "inboxed": "inbox",
    "inbox_count": "inbox",
    "junk": "spam",
    "spam_junk": "spam",
    "spam_folder": "spam",
    "spam_count": "spam",
    "bulk": "spam",
    "not_received": "missing",
    "not_delivered": "missing",
    "missing_count": "missing",
    "tabs": "promotions",
    "promotions_tab": "promotions",
    "tab": "promotions",
    "total": "seeds",
    "seed_count": "seeds",
    "total_seeds": "seeds",
    "test": "test_id",
    "test_name": "test_id",
    "message_stream": "stream",
}

#: Display names seed vendors use -> mailbox provider (lower case, spaces collapsed).
PROVIDER_ALIASES: dict[str, str] = {
    "google": "gmail",
    "googlemail": "gmail",
    "google workspace": "gmail",
    "g suite": "gmail",
    "gsuite": "gmail",
    "outlook": "microsoft",
    "hotmail": "microsoft",
    "live": "microsoft",
    "msn": "microsoft",
    "office 365": "microsoft",
    "office365": "microsoft",
    "microsoft 365": "microsoft",
    "o365": "microsoft",
    "exchange online": "microsoft",
    "yahoo!": "yahoo",
    "aol": "yahoo",
    "yahoo/aol": "yahoo",
    "icloud": "apple",
    "apple mail": "apple",
    "mail.ru": "mailru",
    "at&t": "att",
    "protonmail": "proton",
    "proton mail": "proton",
    "spectrum": "charter",
    "telstra": "bigpond",
    "optus": "optusnet",
    "la poste": "laposte",
    "163": "netease",
    "126": "netease",
    "web.de": "gmx",
}

_COUNT_COLUMNS: tuple[str, ...] = ("inbox", "spam", "missing", "promotions", "seeds")
_TEXT_COLUMNS: tuple[str, ...] = ("test_id", "stream", "campaign")
_SPACES = re.compile(r"\s+")


def read_seed_tests(
    path: Any,
    *,
    errors: str = "quarantine",
    date_format: str | None = None,
    provider_map: Mapping[str, str] | None = None,
    mx_map: Mapping[str, str] | None = None,
    unknown_columns: str = "raise",
    encoding: str | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Read seed-list placement results (counts of seed mailboxes per provider).

    Parameters
    ----------
    path : path, glob, directory, file-like, or a list of them
        CSV files (``.gz``, ``.bz2``, ``.zip`` read as streams); each has its own header.
    errors : {"quarantine", "raise"}
        ``"quarantine"`` (default) keeps a bad row in ``meta["quarantine"]`` with its source,
        line, field and reason; ``"raise"`` raises
        :class:`~deliverability_econ.io.InputFormatError` at the first one. A bad header
        (a required column missing, a column named twice, an unknown column) always raises:
        no row of that file can be read.
    date_format : str, optional
        :func:`datetime.strptime` format for dates that are not ISO or ``YYYYMMDD``.
    provider_map : mapping, optional
        ``{label: mailbox_provider}`` for labels of your vendor (matched case-insensitively),
        consulted before everything else.
    mx_map : mapping, optional
        ``{domain: mailbox_provider}`` for seed domains the bundled table does not know.
    unknown_columns : {"raise", "warn", "ignore"}
        What to do with a column that is not understood (see the module docstring).
    encoding : str, optional
        Text encoding; default UTF-8 (a BOM is honoured).

    Returns
    -------
    seed_tests : DataFrame
        One row per accepted input row, sorted by ``date`` and ``mailbox_provider``: ``date``
        (datetime64[ns], the UTC day), ``mailbox_provider`` (category), ``inbox``, ``spam``,
        ``missing`` [seed mailboxes] (``inbox`` includes ``promotions``), then those of
        ``promotions``, ``seeds`` [seed mailboxes], ``test_id``, ``stream``, ``campaign``
        found in any input, and ``provider_label``, the provider as written in the file.
    meta : dict
        ``format`` ("seed_tests"), ``sources``, ``records_read``, ``rows``, ``duplicates``
        (same ``test_id``, day and provider read again), ``quarantined``, ``ignored`` (rows
        with no seed mailbox at all), ``quarantine`` (DataFrame: source, location, field,
        reason, raw), ``warnings``; ``records_read == rows + duplicates + quarantined +
        sum(ignored.values())``.

    Raises
    ------
    InputFormatError
        For a bad header, or for a bad row with ``errors="raise"``.

    Examples
    --------
    >>> import io
    >>> text = "date,provider,inbox,spam,missing\\n2025-03-03,Hotmail,11,6,3\\n"
    >>> table, meta = read_seed_tests(io.StringIO(text))
    >>> table[["date", "mailbox_provider", "inbox", "spam", "missing"]]
            date mailbox_provider  inbox  spam  missing
    0 2025-03-03        microsoft     11     6        3
    """
    if unknown_columns not in ("raise", "warn", "ignore"):
        raise ValueError(
            f"unknown_columns must be 'raise', 'warn' or 'ignore', not {unknown_columns!r}"
        )
    options = reader_options(errors)
    stats = TableStats()
    labels = {
        _label_key(k): _check_provider(v, "provider_map") for k, v in (provider_map or {}).items()
    }
    domains = {
        **provider_domains(),
        **{k.strip().lower(): _check_provider(v, "mx_map") for k, v in (mx_map or {}).items()},
    }
    rows: list[dict] = []
    seen_tests: set[tuple] = set()
    present: set[str] = set()
    sources = expand_sources(path)
    for source in sources:
        with open_text(source, encoding) as stream:
            row_iter = iter_csv_rows(stream)
            header = next(row_iter, None)
            if header is None:
                stats.warnings.append(f"{source.name}: empty file, no rows")
                continue
            positions = _header_positions(source.name, header, unknown_columns, stats)
            present.update(name for name in positions if name in OPTIONAL_COLUMNS)
            for csv_row in row_iter:
                location = f"line {csv_row.line}"
                if quarantine_unreadable(csv_row, stats, options, source.name):
                    continue
                try:
                    record = _normalize(
                        csv_row.fields, positions, len(header.fields), date_format, labels, domains
                    )
                except RecordError as exc:
                    quarantine(
                        stats, options, source.name, location, exc.field, exc.reason, csv_row.text
                    )
                    continue
                stats.records_read += 1
                if record is None:
                    stats.ignored["no seed mailbox in the row"] += 1
                    continue
                if record.get("test_id") is not None:
                    identity = (record["test_id"], record["date"], record["provider_label"].lower())
                    if identity in seen_tests:
                        stats.duplicates += 1
                        continue
                    seen_tests.add(identity)
                stats.rows += 1
                rows.append(record)
    table = _frame(rows, [c for c in OPTIONAL_COLUMNS if c in present])
    meta = table_meta("seed_tests", [s.name for s in sources], stats)
    return table, meta


def seed_provider(
    label: str,
    provider_map: Mapping[str, str] | None = None,
    domains: Mapping[str, str] | None = None,
) -> str:
    """The mailbox provider of a seed label: a provider name, a display name or a domain.

    Parameters
    ----------
    label : str
        As written by the vendor, e.g. ``"Gmail"``, ``"Yahoo!"``, ``"outlook.com"``.
    provider_map : mapping, optional
        ``{label: provider}`` overrides (keys lower-cased, spaces collapsed).
    domains : mapping, optional
        ``{domain: provider}``; default the bundled table.

    Returns
    -------
    str
        A name of :data:`~deliverability_econ.schema.MAILBOX_PROVIDERS`.

    Raises
    ------
    RecordError
        For a label that is neither a known name nor a domain.

    Examples
    --------
    >>> [seed_provider(x) for x in ("Gmail", "Office 365", "yahoo.co.uk", "acme-corp.com")]
    ['gmail', 'microsoft', 'yahoo', 'other']
    """
    key = _label_key(label)
    if not key:
        raise RecordError("mailbox_provider", "missing")
    if provider_map and key in provider_map:
        return provider_map[key]
    if key in MAILBOX_PROVIDERS:
        return key
    if key in PROVIDER_ALIASES:
        return PROVIDER_ALIASES[key]
    domain = key.lstrip("@").rstrip(".")
    if re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", domain):
        table = domains if domains is not None else provider_domains()
        return table.get(domain, "other")
    raise RecordError(
        "mailbox_provider",
        f"unknown provider {label.strip()[:60]!r}: not a provider name "
        f"({', '.join(MAILBOX_PROVIDERS[:6])}, ...), a known display name or a domain; "
        "pass provider_map={label: provider}",
    )


def _label_key(label: Any) -> str:
    return _SPACES.sub(" ", str(label).strip().lower())


def _check_provider(provider: str, option: str) -> str:
    name = str(provider).strip().lower()
    if name not in MAILBOX_PROVIDERS:
        raise ValueError(
            f"{option} maps to unknown provider {provider!r}; known: {', '.join(MAILBOX_PROVIDERS)}"
        )
    return name


def _header_positions(
    source: str, header, unknown_columns: str, stats: TableStats
) -> dict[str, int]:
    positions, unknown, location = header_positions(source, header, COLUMN_ALIASES)
    missing = [name for name in SEED_TEST_COLUMNS if name not in positions]
    if missing:
        raise InputFormatError(
            source,
            location,
            missing[0],
            f"required column missing (need {', '.join(SEED_TEST_COLUMNS)}; found "
            f"{', '.join(f.strip() for f in header.fields)})",
        )
    report_unknown_columns(
        source, location, unknown, unknown_columns, stats,
        known=f"; known: {', '.join((*SEED_TEST_COLUMNS, *OPTIONAL_COLUMNS))} and their synonyms",
    )
    return positions


def _normalize(
    fields: list[str],
    positions: dict[str, int],
    width: int,
    date_format: str | None,
    labels: Mapping[str, str],
    domains: Mapping[str, str],
) -> dict | None:
    if len(fields) > width and any(value.strip() for value in fields[width:]):
        raise RecordError(None, f"{len(fields)} fields for a header of {width} columns")

    def cell(name: str) -> str | None:
        index = positions.get(name)
        if index is None or index >= len(fields):
            return None
        value = fields[index].strip()
        return value or None

    record: dict[str, Any] = {"date": parse_day(cell("date"), "date", date_format)}
    label = cell("mailbox_provider") or ""
    record["mailbox_provider"] = seed_provider(label, labels, domains)
    record["provider_label"] = label
    for name in _COUNT_COLUMNS:
        if name in positions:
            value = cell(name)
            if value is None and name in ("promotions", "seeds"):
                record[name] = None
                continue
            record[name] = parse_count(value, name)
    promotions = record.get("promotions") or 0
    total = record["inbox"] + promotions + record["spam"] + record["missing"]
    if record.get("seeds") is not None and record["seeds"] != total:
        raise RecordError(
            "seeds",
            f"{record['seeds']} seeds but inbox + promotions + spam + missing = {total}",
        )
    record["inbox"] += promotions
    for name in _TEXT_COLUMNS:
        if name in positions:
            record[name] = cell(name)
    return record if total > 0 else None


def _frame(rows: list[dict], optional: list[str]) -> pd.DataFrame:
    columns = [*SEED_TEST_COLUMNS, *optional, "provider_label"]
    frame = pd.DataFrame.from_records(rows, columns=columns)
    out = pd.DataFrame(
        {
            "date": pd.to_datetime(frame["date"]).astype("datetime64[ns]"),
            "mailbox_provider": pd.Categorical(
                frame["mailbox_provider"], categories=list(MAILBOX_PROVIDERS)
            ),
        }
    )
    for name in ("inbox", "spam", "missing"):
        out[name] = frame[name].astype("int64")
    for name in optional:
        if name in _COUNT_COLUMNS:
            out[name] = frame[name].astype("Int64")
        else:
            out[name] = frame[name].astype("string")
    out["provider_label"] = frame["provider_label"].astype("string")
    return out.sort_values(["date", "mailbox_provider"], kind="stable", ignore_index=True)
