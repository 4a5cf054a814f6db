"""Fast path for SendGrid JSON lines: DuckDB parses and normalizes whole blocks of lines.

Why: the per-record path in :mod:`._base` spends 60-90 µs per event in Python (``json.loads``,
the normalizer, one dict per row, ``DataFrame.from_records`` and the pandas string work of the
chunk finisher); DuckDB parses and normalizes the same lines in C++ in about 5 µs. This
module reads a source in blocks of whole lines, lets DuckDB parse each block and compute the
canonical columns (the same rules as :func:`.sendgrid.normalize`), and only then returns to
Python for what must stay exactly shared with the slow path: provider lookup, scrubbing and the
final dtypes.

Exactness is the contract. A row takes the fast path only when it is *eligible*: every field the
normalizer reads has the JSON type the fast rules assume (strings where strings are expected,
an integer timestamp, ASCII where regular expressions or case folding are applied), and the row
would pass every check of the chunk finisher. A block with a parse error, a line that DuckDB
accepts but Python's ``json`` rejects (a trailing comma), a lone carriage return, or any row that
is not eligible is bisected; pieces that are clean go fast, and each small piece that still has a
problem goes through the exact per-record path of :mod:`._base`, with its true line numbers. So
quarantine, ignored counts, event ids and locations are those of the per-record path; only the
order in which quarantined records are listed may differ.

Set ``DELIVERABILITY_ECON_FAST_PATH=0`` (or :data:`ENABLED` to False) to use the per-record path
everywhere.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import hashlib
import io
import itertools
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .. import privacy, providers
from ..schema import BOUNCE_CLASSES, ESP_FORMATS, EVENT_COLUMNS, EVENT_DTYPES, EVENT_TYPES
from ._base import (
    EARLIEST_TIMESTAMP,
    FormatSpec,
    ReadOptions,
    ReadStats,
    Source,
    _iter_json_lines,
    is_json_lines,
    normalize_chunks,
)

#: Use the fast path at all (tests and debugging switch it off).
ENABLED: bool = os.environ.get("DELIVERABILITY_ECON_FAST_PATH", "1") != "0"

#: Bytes of whole lines handed to DuckDB at once [bytes]; bounds memory per block.
BLOCK_BYTES = 32 * 1024 * 1024

#: Threads submitting blocks to DuckDB while this thread builds the events of the previous block.
#: More than one gained nothing on two cores (each DuckDB query already uses every core).
WORKERS = 1

#: Reused block buffers: the blocks in flight (``WORKERS + 1``), the one being finished, and one
#: being filled.
_BUFFERS = WORKERS + 3

#: A piece with a problem is bisected down to this size, then read record by record [bytes].
SLOW_PIECE_BYTES = 128 * 1024

#: Above this share of ineligible rows a piece is read record by record without bisecting
#: [fraction 0-1]: bisecting a piece full of odd records costs more than it saves.
INELIGIBLE_SHARE_FOR_SLOW = 0.05

#: Canonical events as Arrow (and in the Parquet dataset): categoricals as plain strings (Parquet
#: dictionary-encodes them anyway), times as ``timestamp[ns, UTC]``, ``is_machine`` boolean.
EVENTS_ARROW_SCHEMA = pa.schema(
    [
        pa.field(name, pa.timestamp("ns", tz="UTC") if name == "timestamp"
                 else pa.bool_() if name == "is_machine" else pa.string())
        for name in EVENT_COLUMNS
    ]
)

_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_UTF8_BOM = b"\xef\xbb\xbf"

#: RE2 spelling of ``_base._ENHANCED``: RE2 has no look-behind, so the context characters are
#: matched (and left out of the group) instead. Equivalent on ASCII text, where ``\d`` means
#: the same in both engines; non-ASCII text is left to the exact path.
_ENHANCED_RE2 = r"(?:^|[^\d.])([245]\.\d{1,3}\.\d{1,3})(?:$|[^\d.])"

_DELIVERY_EVENTS = ("processed", "delivered", "deferred", "bounce", "dropped")

#: Fields read as text. DuckDB renders a string as its value and any other JSON value as its
#: (minified) JSON text, so a text that *could* be the rendering of a number, a boolean, an object
#: or an array is treated as "maybe not a string" and sent down the exact path. ``category`` and
#: ``pool`` are told apart by their first character (``[`` an array, ``{`` an object): a string
#: whose content starts with ``["`` or ``{"`` would look the same, so :func:`_is_suspicious`
#: sends any ``[\`` or ``{\`` in the raw bytes (how such a string starts) down the exact path, and
#: the texts ``[]`` and ``{}`` (an empty array or object, or a string) are not eligible.
_TEXT_FIELDS = (
    "event",
    "timestamp",
    "email",
    "sg_event_id",
    "sg_message_id",
    "smtp-id",
    "ip",
    "stream",
    "marketing_campaign_name",
    "type",
    "bounce_classification",
    "status",
    "reason",
    "response",
    "pool",
    "category",
)

#: Fields whose JSON type matters beyond "string or not": read as (minified) JSON fragments.
_JSON_FIELDS = ("sg_machine_open",)

#: The text DuckDB gives for a JSON value that is not a string (see ``_TEXT_FIELDS``).
_MAYBE_NOT_STRING = (
    r"(?s)-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|true|false|[\[{].*"
    r"|-?(?i:nan|inf|infinity)"
)

#: The same, less JSON integers: for the fields the normalizer turns into text with ``str()``
#: (``first_text``, ``enhanced_status``), an integer gives the digits DuckDB renders.
_MAYBE_NOT_TEXT = (
    r"(?s)-?(?:0|[1-9][0-9]*)(?:\.[0-9]+(?:[eE][+-]?[0-9]+)?|[eE][+-]?[0-9]+)|true|false|[\[{].*"
    r"|-?(?i:nan|inf|infinity)"
)

#: A recipient the fast path takes (SQL over ``"email"``): ASCII (so that lower-casing means the
#: same in Python, Arrow and DuckDB), with no blank or control character at either end (so that
#: stripping, which the chunk finisher does and the fast path does not, changes nothing), not
#: starting like a JSON object or array (DuckDB's rendering of a non-string), holding an ``@``.
_PLAIN_ADDRESS_SQL = (
    'strlen("email") = length("email") AND ascii("email") > 32 AND ascii("email") NOT IN (91, 123)'
    ' AND ascii(right("email", 1)) > 32 AND contains("email", \'@\')'
)

#: DuckDB's rendering of a non-empty array of strings without escapes.
_PLAIN_LIST_RENDERING = r'\["[^"\\]*"(?:,"[^"\\]*")*\]'

#: DuckDB's rendering of the ``pool`` objects the fast path takes: a string ``name``, an ``id``
#: (string or integer), either or both, in either order, nothing else. Groups: name, id, id, name.
_POOL_ID = r'("[^"\\]*"|-?(?:0|[1-9][0-9]{0,17}))'
_POOL_RENDERING = (
    r'\{(?:"name":"([^"\\]*)"(?:,"id":' + _POOL_ID + r')?|"id":' + _POOL_ID
    + r'(?:,"name":"([^"\\]*)")?)\}'
)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


_MACROS = f"""
CREATE OR REPLACE MACRO de_text_ok(v) AS
  (v IS NULL OR NOT regexp_full_match(v, {_quote(_MAYBE_NOT_STRING)}));
CREATE OR REPLACE MACRO de_str_ok(v) AS
  (v IS NULL OR NOT regexp_full_match(v, {_quote(_MAYBE_NOT_TEXT)}));
CREATE OR REPLACE MACRO de_status(v) AS
  CASE WHEN v IS NULL OR NOT contains(v, '.') THEN NULL
       WHEN strlen(v) <> length(v) THEN '?'
       ELSE nullif(regexp_extract(v, {_quote(_ENHANCED_RE2)}, 1), '') END;
CREATE OR REPLACE MACRO de_odd_status(v) AS
  (v IS NOT NULL AND contains(v, '.') AND strlen(v) <> length(v));
"""


def _build_sql(path: str, event_map: dict[str, str], bounce_map: dict[str, str],
               outputs: str = "events", compression: str = "none") -> str:
    """The query that parses one block (or file) and computes the canonical columns and
    eligibility.

    ``compression`` is DuckDB's for the file (``"none"``, or ``"gzip"`` for a file that the
    readers decompress as gzip): never guessed from the name, which the readers do not do.
    ``outputs="events"`` gives every canonical column; ``"messages"`` leaves out ``smtp_status``
    and ``reason`` (the messages table does not use them), with the same eligibility. Conditions
    that concern few rows (bounces, delivery IPs, non-ASCII status texts) sit in ``CASE``
    branches, which DuckDB evaluates only for the rows that reach them.
    """
    events = outputs == "events"
    text_fields = [f for f in _TEXT_FIELDS if events or f != "response"]
    columns = "{" + ", ".join(
        [f"{_quote(f)}: 'VARCHAR'" for f in text_fields] + [f"{_quote(f)}: 'JSON'" for f in _JSON_FIELDS]
    ) + "}"
    event_code = " ".join(
        f"WHEN {_quote(raw)} THEN {EVENT_TYPES.index(canonical)}" for raw, canonical in event_map.items()
    )
    delivery = " ".join(f"WHEN {_quote(e)} THEN TRUE" for e in _DELIVERY_EVENTS)
    bounced = EVENT_TYPES.index("bounced")
    opened = EVENT_TYPES.index("opened")
    smtp_status = 'coalesce(de_status("status"), de_status("reason"), de_status("response"))'
    if events:
        text_outputs = f"""{smtp_status} AS smtp_status,
    coalesce(nullif("reason", ''), nullif("response", '')) AS reason,"""
        # The diagnostic texts are outputs: as text they must equal what str() gives, and the
        # status code found in them must be found alike (ASCII, see de_status).
        text_checks = f"""AND de_str_ok("status") AND de_str_ok("reason") AND de_str_ok("response")
      AND CASE WHEN de_odd_status("status") OR de_odd_status("reason") OR de_odd_status("response")
               THEN {smtp_status} IS DISTINCT FROM '?' ELSE TRUE END"""
    else:
        # The messages table reads no diagnostic text (which never makes a record quarantined),
        # except the status code of a bounce, for its class.
        text_outputs = text_checks = ""

    return f"""
WITH raw AS (
  SELECT * FROM read_json({_quote(path)}, format = 'newline_delimited', columns = {columns},
                          maximum_object_size = 16777216, compression = {_quote(compression)})
),
base AS (
  SELECT raw.*,
    CAST(CASE "event" {event_code} END AS TINYINT) AS event_code,
    CASE "event" {delivery} ELSE FALSE END AS is_delivery,
    TRY_CAST("timestamp" AS BIGINT) AS ts,
    CAST(sg_machine_open AS VARCHAR) AS machine_text,
    CASE
      WHEN "sg_message_id" <> '' THEN split_part("sg_message_id", '.filter', 1)
      WHEN coalesce("sg_message_id", '') = '' AND "smtp-id" <> ''
           AND regexp_full_match("smtp-id", '[ -~]+') AND de_text_ok("smtp-id")
        THEN split_part(trim(trim("smtp-id"), '<>'), '@', 1)
    END AS message_id_raw,
    CASE
      WHEN category IS NULL THEN NULL
      WHEN left(category, 1) <> '[' THEN CASE WHEN de_text_ok(category) THEN category END
      WHEN regexp_full_match(category, {_quote(_PLAIN_LIST_RENDERING)})
        THEN replace(category[3:-3], '","', ',')
    END AS category_value,
    CASE WHEN left(pool, 1) = '{{' AND regexp_full_match(pool, {_quote(_POOL_RENDERING)})
      THEN regexp_extract(pool, {_quote(_POOL_RENDERING)}, ['n1', 'i1', 'i2', 'n2'])
    END AS pool_parts
  FROM raw
),
shaped AS (
  SELECT base.*,
    CASE
      WHEN pool IS NULL THEN NULL
      WHEN left(pool, 1) <> '{{' THEN CASE WHEN de_text_ok(pool) THEN nullif(pool, '') END
      WHEN pool_parts IS NOT NULL THEN coalesce(
        nullif(coalesce(nullif(pool_parts.n1, ''), pool_parts.n2), ''),
        nullif(trim(coalesce(nullif(pool_parts.i1, ''), pool_parts.i2), '"'), ''), '')
    END AS pool_value,
    {_bounce_inputs_sql(f"event_code = {bounced}")}
  FROM base
),
final AS (
  SELECT
    ts, event_code, message_id_raw, "sg_event_id" AS event_id, "email",
    CASE WHEN is_delivery THEN nullif("ip", '') END AS sending_ip,
    nullif(pool_value, '') AS ip_pool,
    nullif("stream", '') AS stream,
    coalesce(nullif(category_value, ''), nullif("marketing_campaign_name", '')) AS campaign,
    CASE WHEN event_code = {bounced} THEN {_bounce_code_sql(bounce_map)} END AS bounce_code,
    event_code = {opened} AND coalesce(machine_text = 'true', FALSE) AS is_machine,
    {text_outputs}
    coalesce(
      event_code IS NOT NULL
      AND ts >= {int(EARLIEST_TIMESTAMP)} AND ts <= $latest AND CAST(ts AS VARCHAR) = "timestamp"
      AND {_PLAIN_ADDRESS_SQL}
      AND "sg_event_id" <> '' AND de_str_ok("sg_event_id")
      AND message_id_raw <> '' AND de_text_ok("sg_message_id")
      AND CASE WHEN is_delivery THEN de_str_ok("ip") ELSE TRUE END
      AND (category IS NULL OR category_value IS NOT NULL)
      AND (pool IS NULL OR pool_value IS NOT NULL)
      AND de_str_ok("stream") AND de_str_ok("marketing_campaign_name")
      {text_checks}
      AND CASE WHEN event_code = {bounced} THEN {_bounce_checks_sql(status_checks=not events)}
          ELSE TRUE END
      AND CASE WHEN event_code = {opened} THEN sg_machine_open IS NULL OR machine_text IN ('true', 'false')
          ELSE TRUE END,
      FALSE
    ) AS eligible
  FROM shaped
)
SELECT * FROM final
"""


def _bounce_inputs_sql(is_bounce: str) -> str:
    """Two columns the bounce class is read from, computed for bounce rows only (``is_bounce``):
    the normalized ``bounce_classification`` (``bounce_key``) and the enhanced status code of
    ``status``, else ``reason`` (``bounce_status``). Computed once in a query's earlier step,
    they keep :func:`_bounce_code_sql` small: DuckDB pays for each node of an expression on
    every block of rows, even where a ``CASE`` leaves few rows to evaluate it on, and the
    inline spelling repeated the status five times and the key twice per class."""
    return f"""CASE WHEN {is_bounce} THEN regexp_replace(lower(trim("bounce_classification")), ' +', ' ', 'g')
         END AS bounce_key,
    CASE WHEN {is_bounce} THEN coalesce(de_status("status"), de_status("reason")) END AS bounce_status"""


def _bounce_code_sql(bounce_map: dict[str, str]) -> str:
    """SQL for a bounce's class (its position in ``BOUNCE_CLASSES``), as
    :func:`.sendgrid._bounce_class` finds it, from a bounce row's raw fields and the columns of
    :func:`_bounce_inputs_sql` (only meaningful where :func:`_bounce_checks_sql` holds)."""
    bounce_code = {c: i for i, c in enumerate(BOUNCE_CLASSES)}
    keys = ", ".join(_quote(key) for key in bounce_map)
    codes = ", ".join(str(bounce_code[value]) for value in bounce_map.values())
    return f"""coalesce(
      CASE WHEN "bounce_classification" <> '' AND regexp_full_match("bounce_classification", '[ -~]+')
        THEN [{codes}][list_position([{keys}], bounce_key)] END,
      CASE
        WHEN lower(coalesce("type", '')) = 'blocked' THEN {bounce_code["block"]}
        WHEN lower(coalesce("type", '')) = 'bounce' OR starts_with(bounce_status, '5.1.')
          THEN {bounce_code["hard"]}
        WHEN starts_with(bounce_status, '4.') THEN {bounce_code["soft"]}
        WHEN coalesce("type", '') = '' AND starts_with(bounce_status, '5.') THEN {bounce_code["hard"]}
        ELSE {bounce_code["undetermined"]} END)"""


def _bounce_checks_sql(status_checks: bool) -> str:
    """SQL: whether :func:`_bounce_code_sql` gives a bounce row's class exactly (text fields that
    are strings, ASCII where case folding or the status pattern applies). ``status_checks``
    adds the string checks of ``status`` and ``reason`` (which the events query makes for every
    row)."""
    status = 'AND de_str_ok("status") AND de_str_ok("reason")' if status_checks else ""
    return f"""de_text_ok("type") AND de_text_ok("bounce_classification") {status}
            AND regexp_full_match(coalesce("type", ''), '[ -~]*')
            AND (coalesce("bounce_classification", '') = ''
                 OR regexp_full_match("bounce_classification", '[ -~]+'))
            AND bounce_status IS DISTINCT FROM '?'"""


_DATABASE: Any = None
_DATABASE_LOCK = threading.Lock()


def _cursor():
    """A cursor on the process's one in-memory DuckDB database (its start-up and the JSON
    extension cost tens of milliseconds: too much to pay per file)."""
    global _DATABASE
    with _DATABASE_LOCK:
        if _DATABASE is None:
            import duckdb

            database = duckdb.connect()
            database.sql("SET enable_progress_bar = false")
            database.sql(_MACROS)
            _DATABASE = database
        return _DATABASE.cursor()


class _BlockReader:
    """A DuckDB cursor, a scratch file and the SQL, for one source."""

    def __init__(self, event_map: dict[str, str], bounce_map: dict[str, str], latest: float):
        import duckdb

        self._error = duckdb.Error
        self.directory = tempfile.mkdtemp(prefix="deliverability-econ-")
        self.path = os.path.join(self.directory, "block.jsonl")
        self.connection = _cursor()
        self.connection.sql("SET enable_progress_bar = false")
        self.sql = _build_sql(self.path, event_map, bounce_map)
        self.parameters = {"latest": float(latest)}

    def read(self, piece: bytes) -> pa.Table | None:
        """Parse and normalize one piece of whole lines; None when DuckDB rejects it."""
        with open(self.path, "wb") as handle:
            handle.write(piece)
        try:
            return self.connection.sql(self.sql, params=self.parameters).to_arrow_table()
        except self._error:
            return None

    def close(self) -> None:
        self.connection.close()
        shutil.rmtree(self.directory, ignore_errors=True)


class _PerValueCache:
    """``function(value)`` memoized across blocks (recipients and diagnostics repeat), bounded."""

    def __init__(self, function, max_entries: int = 1_000_000):
        self.function = function
        self.max_entries = max_entries
        self.values: dict[str, Any] = {}

    def map(self, column: pa.ChunkedArray) -> tuple[list, pa.Array]:
        """Apply to the distinct values of ``column``: (results per distinct value, indices)."""
        encoded = column.combine_chunks().dictionary_encode()
        distinct = encoded.dictionary.to_pylist()
        values, function = self.values, self.function
        if len(values) + len(distinct) > self.max_entries:
            values.clear()
        results = []
        for value in distinct:
            result = values.get(value)
            if result is None:
                result = values[value] = function(value)
            results.append(result)
        return results, encoded.indices


def _fast_pseudonym(key: bytes):
    """:func:`privacy.pseudonymize_address` with the HMAC key schedule done once (the padded
    key's hash states are copied per address): same digest, a third of the cost. Used only
    after a probe confirms it agrees with ``privacy``."""
    inner_pad, outer_pad = privacy.hmac_pads(key)
    inner, outer = hashlib.sha256(inner_pad), hashlib.sha256(outer_pad)
    length = privacy.PSEUDONYM_LENGTH

    def pseudonym(address: str) -> str:
        state = inner.copy()
        state.update(address.strip().lower().encode("utf-8"))
        result = outer.copy()
        result.update(state.digest())
        return result.hexdigest()[:length]

    return pseudonym, ("Probe.Address+1@Example.COM", " mixed@Case.org ", "x@y.z")


_EVENT_NAMES = pa.array(EVENT_TYPES, type=pa.string())
_BOUNCE_NAMES = pa.array(BOUNCE_CLASSES, type=pa.string())


class _Finisher:
    """What the chunk finisher does after validation, for blocks whose rows are all eligible."""

    def __init__(self, options: ReadOptions, esp: str):
        self.options = options
        self.esp_code = ESP_FORMATS.index(esp)
        key = options.key
        pseudonym = None
        if key is not None:
            candidate, probes = _fast_pseudonym(key)
            if all(candidate(p) == privacy.pseudonymize_address(p, key) for p in probes):
                pseudonym = candidate
            else:
                pseudonym = functools.partial(privacy.pseudonymize_address, key=key)

        def parts(address: str) -> tuple[str, str]:
            # The chunk finisher's rules, for an eligible address (see _PLAIN_ADDRESS_SQL).
            domain = address.rsplit("@", 1)[-1].lower().rstrip(".")
            return (pseudonym(address) if pseudonym is not None else address), domain

        def scrub(text: str) -> str:
            # privacy.scrub_text, with the faster pseudonym when it agrees.
            if pseudonym is None:
                return privacy.scrub_text(text, None)
            return privacy.EMAIL_PATTERN.sub(lambda match: "addr:" + pseudonym(match.group(0)), text)

        self.addresses = _PerValueCache(parts)
        self.reasons = _PerValueCache(scrub, 200_000)
        probe = "550 5.1.1 <Probe.Address+1@Example.COM>: unknown; cc x@y.z"
        if scrub(probe) != privacy.scrub_text(probe, key):
            self.reasons = _PerValueCache(lambda text: privacy.scrub_text(text, key), 200_000)

    def _recipients(self, table: pa.Table) -> tuple[pa.Array, pa.Array, pa.Array]:
        """Recipient (pseudonym or address), domain and mailbox provider of every row, each
        computed once per distinct address or domain."""
        parts, indices = self.addresses.map(table["email"])
        recipient = pa.array([p[0] for p in parts], type=pa.string()).take(indices)
        distinct_domains = pa.array([p[1] for p in parts], type=pa.string())
        domain = distinct_domains.take(indices)
        encoded = domain.dictionary_encode()
        provider = pa.array(
            providers.mailbox_provider(pd.Series(encoded.dictionary.to_pylist(), dtype=object),
                                       self.options.mx_map).astype(object).tolist(),
            type=pa.string(),
        ).take(encoded.indices)
        return recipient, domain, provider

    def address_table(self, emails: pa.ChunkedArray | pa.Array) -> pa.Table:
        """For distinct addresses (eligible ones, see :data:`_PLAIN_ADDRESS_SQL`): ``email``,
        ``recipient`` (pseudonym or address), ``recipient_domain`` and ``mailbox_provider`` (its
        position in the categories of ``EVENT_DTYPES["mailbox_provider"]``, null if none)."""
        parts = [self.addresses.function(address) for address in emails.to_pylist()]
        domains = pd.Series([p[1] for p in parts], dtype=object)
        provider = providers.mailbox_provider(domains, self.options.mx_map)
        codes = pd.Categorical(provider, dtype=EVENT_DTYPES["mailbox_provider"]).codes
        return pa.table({
            "email": emails,
            "recipient": pa.array([p[0] for p in parts], type=pa.string()),
            "recipient_domain": pa.array(domains.tolist(), type=pa.string()),
            "mailbox_provider": pa.array(codes.astype(np.int16), mask=codes < 0),
        })

    def _scrubbed_reason(self, table: pa.Table) -> pa.Array:
        reason = table["reason"].combine_chunks()
        has_address = pc.fill_null(pc.match_substring(reason, "@"), False)
        if pc.any(has_address).as_py():  # scrub only texts that can hold an address
            scrubbed, indices = self.reasons.map(pa.chunked_array([reason.filter(has_address)]))
            replacement = pa.array(scrubbed, type=pa.string()).take(indices)
            reason = pc.replace_with_mask(reason, has_address, replacement)
        return reason

    def arrow(self, table: pa.Table) -> pa.Table:
        """The canonical events of an all-eligible block as Arrow (:data:`EVENTS_ARROW_SCHEMA`),
        value for value what :meth:`frame` gives, without a pandas round trip (for ingest)."""
        n = table.num_rows
        recipient, domain, provider = self._recipients(table)
        seconds = table["ts"].combine_chunks().cast(pa.int64())
        columns = {
            "timestamp": pc.multiply(seconds, 1_000_000_000).cast(pa.timestamp("ns", tz="UTC")),
            "event": _EVENT_NAMES.take(table["event_code"].combine_chunks()),
            "message_id": pc.utf8_trim_whitespace(table["message_id_raw"]),
            "event_id": table["event_id"],
            "recipient": recipient,
            "recipient_domain": domain,
            "mailbox_provider": provider,
            "sending_ip": table["sending_ip"],
            "ip_pool": table["ip_pool"],
            "stream": table["stream"],
            "campaign": table["campaign"],
            "bounce_class": _BOUNCE_NAMES.take(table["bounce_code"].combine_chunks()),
            "is_machine": table["is_machine"],
            "smtp_status": table["smtp_status"],
            "reason": self._scrubbed_reason(table),
            "esp": pa.array(np.full(n, ESP_FORMATS[self.esp_code], dtype=object), type=pa.string()),
        }
        arrays = [columns[field.name] for field in EVENTS_ARROW_SCHEMA]
        arrays = [a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a for a in arrays]
        arrays = [a if a.type == f.type else a.cast(f.type) for a, f in zip(arrays, EVENTS_ARROW_SCHEMA,
                                                                           strict=True)]
        return pa.Table.from_arrays(arrays, schema=EVENTS_ARROW_SCHEMA)

    def frame(self, table: pa.Table) -> pd.DataFrame:
        n = table.num_rows
        string = EVENT_DTYPES["message_id"]

        def strings(array) -> pd.api.extensions.ExtensionArray:
            return pd.array(array, dtype=string)

        def category(column: str, name: str) -> pd.Categorical:
            codes = table[column].to_numpy(zero_copy_only=False)
            codes = np.where(pd.isna(codes), -1, codes).astype(np.int8)
            return pd.Categorical.from_codes(codes, dtype=EVENT_DTYPES[name])

        parts, indices = self.addresses.map(table["email"])
        recipient = pa.array([p[0] for p in parts], type=pa.string()).take(indices)
        domain = pd.Series(strings(pa.array([p[1] for p in parts], type=pa.string()).take(indices)))
        reason = self._scrubbed_reason(table)
        timestamps = pd.to_datetime(table["ts"].to_numpy() * 1_000_000_000, unit="ns", utc=True)
        return pd.DataFrame(
            {
                "timestamp": timestamps.astype(EVENT_DTYPES["timestamp"]).array,
                "event": category("event_code", "event"),
                "message_id": strings(pc.utf8_trim_whitespace(table["message_id_raw"])),
                "event_id": strings(table["event_id"]),
                "recipient": strings(recipient),
                "recipient_domain": domain.array,
                "mailbox_provider": providers.mailbox_provider(domain, self.options.mx_map).array,
                "sending_ip": strings(table["sending_ip"]),
                "ip_pool": strings(table["ip_pool"]),
                "stream": strings(table["stream"]),
                "campaign": strings(table["campaign"]),
                "bounce_class": category("bounce_code", "bounce_class"),
                "is_machine": pd.array(table["is_machine"].to_numpy(zero_copy_only=False),
                                       dtype="boolean"),
                "smtp_status": strings(table["smtp_status"]),
                "reason": strings(reason),
                "esp": pd.Categorical.from_codes(np.full(n, self.esp_code, dtype=np.int8),
                                                 dtype=EVENT_DTYPES["esp"]),
            }
        )


def _count_lines(piece: bytes) -> int:
    """Lines in a piece as Python's universal newlines count them (``\\n``, ``\\r\\n``, ``\\r``)."""
    newlines = int(np.count_nonzero(np.frombuffer(piece, dtype=np.uint8) == 0x0A))
    if piece.find(b"\r") >= 0:
        newlines += piece.count(b"\r") - piece.count(b"\r\n")
    return newlines


#: A trailing comma: DuckDB accepts ``{"a": 1,}``, Python's ``json`` does not.
_TRAILING_COMMA = rb",[ \t\r\n]*[}\]]"


def _is_suspicious(piece: bytes) -> bool:
    """Whether a piece holds a trailing comma, a carriage return that is not part of CRLF (a
    line break for Python's universal newlines, whitespace for DuckDB), or a string starting
    like the rendering of an array or object (``[\\`` or ``{\\``, see :data:`_TEXT_FIELDS`):
    any of them sends the piece down the exact path. False positives only cost time."""
    if piece.find(b"\r") >= 0 and piece.count(b"\r") != piece.count(b"\r\n"):
        return True
    if piece.find(b"\\") >= 0 and (piece.find(b"[\\") >= 0 or piece.find(b"{\\") >= 0):
        return True
    return _has_trailing_comma(piece)


def _has_trailing_comma(buffer: Any) -> bool:
    """:data:`_TRAILING_COMMA` in a bytes-like object (see :func:`_matches`)."""
    return _matches(buffer, _TRAILING_COMMA)


def _matches(buffer: Any, pattern: bytes) -> bool:
    """Whether an RE2 pattern matches somewhere in a bytes-like object (a memory map's view
    too), by pyarrow without copying the bytes (and without the GIL)."""
    size = memoryview(buffer).nbytes
    offsets = pa.py_buffer(np.array([0, size], dtype=np.int64))
    array = pa.LargeBinaryArray.from_buffers(pa.large_binary(), 1, [None, offsets, pa.py_buffer(buffer)])
    return bool(pc.match_substring_regex(array, pattern=pattern)[0].as_py())


@dataclasses.dataclass
class _Run:
    """Everything one source's blocks need."""

    exact_spec: FormatSpec
    source: Source
    options: ReadOptions
    stats: ReadStats
    finisher: _Finisher
    make_reader: Any
    reader: _BlockReader | None = None  # for bisection, in the consuming thread; made on demand
    arrow: bool = False  # yield fast blocks as Arrow tables (EVENTS_ARROW_SCHEMA), not frames

    def bisecting_reader(self) -> _BlockReader:
        if self.reader is None:
            self.reader = self.make_reader()
        return self.reader


class FastSendGridChunks:
    """The chunk reader hooked into ``normalize_chunks`` for SendGrid JSON lines.

    A worker thread reads the next block and has DuckDB parse it while this thread turns the
    previous block into events: DuckDB works outside the GIL, so the two overlap.
    """

    def __init__(self, event_map: dict[str, str], bounce_map: dict[str, str]):
        self.event_map = dict(event_map)
        self.bounce_map = dict(bounce_map)

    def __call__(self, spec: FormatSpec, source: Source, options: ReadOptions,
                 stats: ReadStats, *, arrow: bool = False) -> Iterator[pd.DataFrame | pa.Table]:
        """Canonical event chunks of one source.

        With ``arrow=True`` (used by ingest) the blocks that take the fast path come as Arrow
        tables of :data:`EVENTS_ARROW_SCHEMA` instead of DataFrames; the pieces read record by
        record still come as DataFrames. Either holds the same events.
        """
        exact_spec = dataclasses.replace(spec, chunk_reader=None)
        if not ENABLED or (options.encoding or "utf-8").lower().replace("_", "-") not in (
            "utf-8", "utf8", "utf-8-sig"
        ):
            yield from normalize_chunks(exact_spec, source, options, stats, spec.normalize)
            return
        raw = source.open_binary()
        stream = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)  # type: ignore[arg-type]
        run: _Run | None = None
        workers: list[_BlockReader] = []
        pool: ThreadPoolExecutor | None = None
        try:
            first = stream.read(BLOCK_BYTES)
            if first[:2] in _UTF16_BOMS or not _is_line_mode(first):
                stream.close()
                yield from normalize_chunks(exact_spec, source, options, stats, spec.normalize)
                return
            if first.startswith(_UTF8_BOM):
                first = first[len(_UTF8_BOM):]

            def make_reader() -> _BlockReader:
                return _BlockReader(self.event_map, self.bounce_map, options.latest)

            run = _Run(exact_spec, source, options, stats, _Finisher(options, spec.name), make_reader,
                       arrow=arrow)
            workers: list[_BlockReader] = []
            local = threading.local()

            def parse(block: bytes) -> pa.Table | None:  # in a worker thread
                if _is_suspicious(block):
                    return None
                reader = getattr(local, "reader", None)
                if reader is None:
                    reader = local.reader = make_reader()
                    workers.append(reader)
                return reader.read(block)

            pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="deliverability-econ")
            in_flight: collections.deque = collections.deque()
            blocks = _blocks(first, stream)
            line = 1
            while True:
                # Keep every worker busy: DuckDB parses outside the GIL, one block per thread.
                while len(in_flight) < WORKERS + 1:
                    block = next(blocks, None)
                    if block is None:
                        break
                    in_flight.append((block, _count_lines(block), pool.submit(parse, block)))
                if not in_flight:
                    break
                block, lines, future = in_flight.popleft()
                yield from self._piece(block, line, run, future.result(), parsed=True)
                line += lines
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
            stream.close()
            for reader in [*workers, run.reader if run is not None else None]:
                if reader is not None:
                    reader.close()

    def _piece(self, piece: bytes, first_line: int, run: _Run, table: pa.Table | None = None,
               parsed: bool = False) -> Iterator[pd.DataFrame]:
        """Events of a piece of whole lines: fast when every row is eligible, else bisected."""
        if not parsed:
            table = None if _is_suspicious(piece) else run.bisecting_reader().read(piece)
        if table is not None:
            ineligible = table.num_rows - (pc.sum(table["eligible"]).as_py() or 0)
            if ineligible == 0:
                if table.num_rows:
                    run.stats.raw_records += table.num_rows
                    run.stats.records_read += table.num_rows
                    if run.arrow:
                        low, high = pc.min_max(table["ts"]).values()
                        run.stats.add_times(pd.Series(pd.to_datetime(
                            [low.as_py(), high.as_py()], unit="s", utc=True).as_unit("ns")))
                        yield run.finisher.arrow(table)
                    else:
                        frame = run.finisher.frame(table)
                        run.stats.add_times(frame["timestamp"])
                        yield frame
                return
            if ineligible > INELIGIBLE_SHARE_FOR_SLOW * table.num_rows:
                yield from _exact(piece, first_line, run)
                return
        if len(piece) <= SLOW_PIECE_BYTES:
            yield from _exact(piece, first_line, run)
            return
        middle = piece.rfind(b"\n", 0, len(piece) // 2)
        if middle < 0:
            middle = piece.find(b"\n", len(piece) // 2, len(piece) - 1)
        if middle < 0:  # a single line
            yield from _exact(piece, first_line, run)
            return
        head, tail = piece[: middle + 1], piece[middle + 1:]
        yield from self._piece(head, first_line, run)
        yield from self._piece(tail, first_line + _count_lines(head), run)


def _blocks(first: bytes, stream: io.BufferedReader) -> Iterator[bytearray]:
    """Blocks of whole lines (each ends with a newline, except possibly the file's last).

    The blocks live in :data:`_BUFFERS` reused buffers, filled with ``readinto``: allocating
    and faulting in fresh memory for every block (and joining the tail of one read to the next)
    cost more CPU than DuckDB's parse of the block. A block is overwritten ``_BUFFERS`` blocks
    later; the reader keeps at most ``WORKERS + 2`` alive at once.
    """
    buffers = [bytearray() for _ in range(_BUFFERS)]
    pending: bytes | bytearray = first
    for number in itertools.count():
        buffer = buffers[number % _BUFFERS]
        size = len(pending)
        if len(buffer) < size + BLOCK_BYTES:
            buffer.extend(bytes(size + BLOCK_BYTES - len(buffer)))
        buffer[:size] = pending
        view = memoryview(buffer)
        while True:
            read = stream.readinto(view[size: size + BLOCK_BYTES])
            size += read or 0
            if not read:  # end of the source
                view.release()
                del buffer[size:]
                if size:
                    yield buffer
                return
            cut = buffer.rfind(b"\n", 0, size)
            if cut >= 0:
                break
            # A line longer than a block: grow the buffer and read on.
            view.release()
            buffer.extend(bytes(BLOCK_BYTES))
            view = memoryview(buffer)
        view.release()
        pending = bytes(buffer[cut + 1: size])
        del buffer[cut + 1:]  # shrinking keeps the allocation: the next fill reuses it
        yield buffer


def _is_line_mode(head: bytes) -> bool:
    """Whether ``iter_json_values`` reads this source as JSON lines (:func:`._base.is_json_lines`
    of its first content line)."""
    if head.startswith(_UTF8_BOM):
        head = head[len(_UTF8_BOM):]
    end = head.find(b"\n", min(len(head), 65_536))  # enough to hold the first content line
    text = head[: end + 1 if end >= 0 else len(head)].decode("utf-8", "surrogateescape")
    for line in io.StringIO(text, newline=None):
        stripped = line.strip()
        if not stripped:
            continue
        if not line.endswith("\n") and len(head) >= BLOCK_BYTES:
            return False  # the first line is longer than a block: leave it to the exact path
        return is_json_lines(stripped)
    return False


def _exact(piece: bytes, first_line: int, run: _Run) -> Iterator[pd.DataFrame]:
    """The per-record path of ``_base`` on one piece, numbering lines from ``first_line``."""
    text = io.TextIOWrapper(io.BytesIO(piece), encoding="utf-8", errors="surrogateescape", newline=None)
    numbered = enumerate(text, start=first_line)
    spec = dataclasses.replace(run.exact_spec, records=lambda _stream: _iter_json_lines(numbered, None))
    empty = Source(run.source.name, lambda: io.BytesIO(b""))
    yield from normalize_chunks(spec, empty, run.options, run.stats, run.exact_spec.normalize)
