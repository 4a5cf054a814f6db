"""Exports straight to the messages table, streaming, without building the events table.

:func:`read_messages` gives exactly ``messages(read_events(paths))`` and the same ``meta``, but
never holds the events in pandas: every source's events go into one DuckDB database (memory-
limited, spilling to a temporary directory), which de-duplicates them by ``event_id`` and
aggregates the messages on every core. Only the messages (one row per message) come back.

Two ways in:

- **Plain or gzip-compressed SendGrid JSON-lines files are read by DuckDB whole**, each in one
  parallel query with the normalization rules and eligibility test of the SendGrid fast path
  (:mod:`._fast`) that groups the events into partial messages; pseudonyms are HMAC-SHA256
  spelled in SQL (checked against :mod:`..privacy` on probes). This is taken only when every
  input is such a file and every file is clean: no byte pattern that DuckDB and Python's
  ``json`` read differently (:func:`._fast._is_suspicious`), no parse error, every row
  eligible, message ids without surrounding blanks, and duplicated event ids (within or across
  files) only as identical copies; a gzip file must also decompress in Python without damage
  or blank lines, into as many lines as DuckDB read rows. Otherwise the inputs go the second way, so quarantine, counts and locations are
  always those of the per-record readers.
- **Any other input is read in chunks** by the readers of :func:`read_events` (the SendGrid
  block fast path included) and each chunk is appended to the database.

De-duplication follows :func:`read_events`: the first occurrence of an ``event_id`` in read
order is kept (sources in order, records in order within a source).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .. import _duck_messages, privacy, providers
from ..messages import FINAL_STATUSES, messages
from ..schema import BOUNCE_CLASSES, EVENT_DTYPES, EVENT_TYPES
from . import _fast, _registry
from ._base import ReadOptions, ReadStats, Source, concat_events, expand_sources
from .ingest import _to_arrow

#: DuckDB's memory limit for the staged events [bytes]: above it DuckDB spills to disk, so the
#: messages of a file larger than RAM are still built.
MEMORY_LIMIT_BYTES = 768 * 1024 * 1024

_PROVIDERS = list(EVENT_DTYPES["mailbox_provider"].categories)
_ESPS = list(EVENT_DTYPES["esp"].categories)

#: The staged event columns (DuckDB types): ``src`` and ``ord`` give the read order.
_STAGED = {
    "src": "INTEGER",
    "ord": "BIGINT",
    "event_id": "VARCHAR",
    "t": "BIGINT",
    "event": "VARCHAR",
    "message_id": "VARCHAR",
    "recipient": "VARCHAR",
    "bounce_class": "VARCHAR",
    "is_machine": "BOOLEAN",
    "recipient_domain": "VARCHAR",
    "mailbox_provider": "SMALLINT",  # category position, the order messages() compares by
    "sending_ip": "VARCHAR",
    "ip_pool": "VARCHAR",
    "stream": "VARCHAR",
    "campaign": "VARCHAR",
    "esp": "SMALLINT",
}


def read_messages(
    paths: Any,
    format: str = "auto",
    *,
    errors: str = "quarantine",
    pseudonymize: bool = True,
    salt: str | bytes | None = None,
    mx_map: Mapping[str, str] | None = None,
    encoding: str | None = None,
    format_options: Mapping[str, Mapping] | None = None,
    now: float | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Read ESP exports and MTA logs straight into the messages table.

    The same inputs, options and rules as :func:`~deliverability_econ.read_events`, for a user
    who needs the messages (and the cube, placement and money built on them) but not every
    event: the events are staged in DuckDB under a memory limit instead of a DataFrame, and a
    clean SendGrid JSON-lines file is parsed by DuckDB in one parallel pass.

    Parameters
    ----------
    paths : path, glob, directory, file-like, or a list of them
        Inputs; ``.gz``, ``.bz2`` and ``.zip`` are read as streams (a stream cut short is read
        up to the cut, the damage quarantined as one record), directories recursively.
    format : str
        ``"auto"`` (default) detects each file's format from its content; or one of
        ``io.FORMATS`` to force it.
    errors : {"quarantine", "raise"}
        What to do with a bad record (see :class:`~deliverability_econ.io.InputFormatError`).
    pseudonymize : bool
        Replace recipient addresses by a keyed hash (default True).
    salt : str or bytes, optional
        Pseudonymization key; else ``$DELIVERABILITY_ECON_SALT``; else the installation key.
    mx_map : mapping, optional
        ``{domain: mailbox_provider}`` for business domains.
    encoding : str, optional
        Text encoding when not UTF-8.
    format_options : mapping, optional
        Per-format options, e.g. ``{"postfix": {"year": 2025}}``.
    now : float, optional
        Reading time [epoch s] for the future-timestamp check; default the clock.

    Returns
    -------
    messages : DataFrame
        Exactly ``messages(read_events(paths, ...)[0])``: columns
        :data:`~deliverability_econ.messages.MESSAGE_COLUMNS`, sorted by ``sent_at`` then key.
    meta : dict
        Exactly the ``meta`` of :func:`~deliverability_econ.read_events` (``records_read ==
        events + duplicates + quarantined + sum(ignored.values())``).

    Examples
    --------
    >>> table, meta = read_messages(["exports/*.json"])  # doctest: +SKIP
    >>> table.groupby("mailbox_provider", observed=True)["delivered"].mean()  # doctest: +SKIP
    """
    options = ReadOptions(errors=errors, pseudonymize=pseudonymize, salt=salt, mx_map=mx_map,
                          encoding=encoding, now=now)
    format_options = format_options or {}
    configured = bool(format != "auto" and format_options.get(format))
    resolved = []
    for source in expand_sources(paths):
        source_stats = ReadStats()
        spec = _registry._resolve_spec(source, format, options, source_stats, strict=True,
                                       configured=configured)
        resolved.append((source, spec, source_stats))

    with _Staging(options) as staging:
        whole = None
        if all(spec is None or _whole_file_eligible(source, spec, options, format_options)
               for source, spec, _ in resolved):
            whole = staging.whole_files([(source, spec) for source, spec, _ in resolved
                                         if spec is not None])
        stats = ReadStats()
        per_source: list = []
        formats_seen: list[str] = []
        if whole is not None:
            table, counts, distinct = whole  # Arrow: made a frame once DuckDB's memory is freed
            for source, spec, source_stats in resolved:
                if spec is not None:
                    rows, low, high = counts[source.name]
                    source_stats.raw_records += rows
                    source_stats.records_read += rows
                    if rows:
                        source_stats.add_times(pd.Series(
                            pd.to_datetime([low, high], unit="s", utc=True).as_unit("ns")))
                        if spec.name not in formats_seen:
                            formats_seen.append(spec.name)
                per_source.append((source.name, spec.name if spec else None, source_stats))
                stats.merge(source_stats)
            stats.duplicates += stats.records_read - distinct
            stats.events = distinct
        else:
            for number, (source, spec, source_stats) in enumerate(resolved):
                if spec is not None:
                    for chunk in _registry.source_chunks(spec, source, options, source_stats,
                                                         format_options, arrow=True):
                        if spec.name not in formats_seen:  # as read_events: formats that gave chunks
                            formats_seen.append(spec.name)
                        staging.add_events(chunk, number)
                per_source.append((source.name, spec.name if spec else None, source_stats))
                stats.merge(source_stats)
            table = staging.messages(stats)
    if isinstance(table, pa.Table):
        table = _duck_messages._to_frame(table, {"mailbox_provider": None, "esp": None})
    meta = _registry.build_read_meta(format, formats_seen, per_source, stats)
    return table, meta


def _whole_file_eligible(source: Source, spec: Any, options: ReadOptions,
                         format_options: Mapping[str, Mapping]) -> bool:
    """Whether a source may be read by DuckDB whole: a plain or gzip-compressed SendGrid
    JSON-lines file, UTF-8 without a byte-order mark, with the default options."""
    if (not _fast.ENABLED or (source.path is None and source.gzip_path is None)
            or format_options.get(spec.name)
            or not isinstance(spec.chunk_reader, _fast.FastSendGridChunks)
            or (options.encoding or "utf-8").lower().replace("_", "-") not in ("utf-8", "utf8")):
        return False
    try:
        with source.open_binary() as handle:  # a damaged gzip stream ends, noted in source.damage
            head = handle.read(1024 * 1024)  # a first line longer than this is not taken: safe
    except OSError:
        return False
    return not (source.damage or head[:3] == _fast._UTF8_BOM or head[:2] in _fast._UTF16_BOMS
                or not _fast._is_line_mode(head))


def _file_and_compression(source: Source) -> tuple[str, str]:
    """The file DuckDB reads for a whole-file source, and its compression."""
    if source.path is not None:
        return source.path, "none"
    return str(source.gzip_path), "gzip"


class _Staging:
    """One DuckDB database holding the run's events until the messages are aggregated."""

    def __init__(self, options: ReadOptions):
        self.options = options
        self.finisher: _fast._Finisher | None = None
        self.rows = 0  # events staged so far, for the read order of the chunk path
        self.chunks_table = False  # whether chunk_events (the chunk path's events) exists

    def __enter__(self) -> _Staging:
        import duckdb

        self.directory = tempfile.mkdtemp(prefix="deliverability-econ-messages-")
        self.connection = duckdb.connect()
        for statement in (
            "SET enable_progress_bar = false",
            f"SET memory_limit = '{MEMORY_LIMIT_BYTES // (1024 * 1024)}MB'",
            f"SET temp_directory = {_fast._quote(os.path.join(self.directory, 'spill'))}",
            "SET preserve_insertion_order = false",
        ):
            self.connection.sql(statement)
        self.connection.sql(_fast._MACROS)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.connection.close()
        shutil.rmtree(self.directory, ignore_errors=True)

    # ---------------------------------------------------------------------------- chunk path

    def add_events(self, chunk: pd.DataFrame | pa.Table, number: int) -> None:
        """Append canonical events (a DataFrame, or an Arrow table of the dataset schema)."""
        if len(chunk) == 0:
            return
        table = _to_arrow(chunk)
        n = table.num_rows
        columns = {
            "src": pa.array(np.full(n, number, dtype=np.int32)),
            "ord": pa.array(np.arange(self.rows, self.rows + n, dtype=np.int64)),
            "event_id": table["event_id"],
            "t": table["timestamp"].cast(pa.int64()),
            "event": table["event"],
            "message_id": table["message_id"],
            "recipient": table["recipient"],
            "bounce_class": table["bounce_class"],
            "is_machine": table["is_machine"],
            "recipient_domain": table["recipient_domain"],
            "mailbox_provider": _positions(table["mailbox_provider"], _PROVIDERS),
            "sending_ip": table["sending_ip"],
            "ip_pool": table["ip_pool"],
            "stream": table["stream"],
            "campaign": table["campaign"],
            "esp": _positions(table["esp"], _ESPS),
        }
        self.rows += n
        arrow = pa.table(columns)
        if not self.chunks_table:
            schema = ", ".join(f'"{name}" {kind}' for name, kind in _STAGED.items())
            self.connection.sql(f"CREATE TABLE chunk_events ({schema})")
            self.chunks_table = True
        self.connection.register("incoming_chunk", arrow)
        try:
            self.connection.sql("INSERT INTO chunk_events SELECT * FROM incoming_chunk")
        finally:
            self.connection.unregister("incoming_chunk")

    # ------------------------------------------------------------------------ whole-file path

    def whole_files(self, files: list[tuple[Source, Any]]) -> tuple[pa.Table, dict, int] | None:
        """See :meth:`_whole_files`; drops what it staged when it hands over to the chunk path."""
        result = self._whole_files(files)
        if result is None:
            self._drop_parts()
        return result

    def _whole_files(self, files: list[tuple[Source, Any]]) -> tuple[pa.Table, dict, int] | None:
        """The messages of plain or gzip SendGrid files, each parsed and aggregated by one
        DuckDB query.

        Returns ``(messages as Arrow, {source name: (rows, first, last epoch s)}, distinct event
        ids)`` (:func:`._duck_messages._to_frame` makes the frame, once DuckDB is closed),
        or None when any file is not clean (see the module docstring), for the chunk path.
        """
        import duckdb

        if not files:
            return None
        spec = files[0][1]
        reader = spec.chunk_reader
        esp_code = _ESPS.index(spec.name)
        recipient = _hmac_sql(self.options.key, "a.address", self.connection)
        self._register_domains()
        scans = [_SuspiciousScan(source) for source, _ in files]  # pyarrow's regex frees the GIL
        counts: dict[str, tuple[int, Any, Any]] = {}
        try:
            for number, (source, _) in enumerate(files):
                if not self._file_parts(number, source, reader, with_ids=False):
                    return None
                rows, low, high = self.connection.sql(
                    f"SELECT coalesce(sum(n), 0), min(first_s), max(last_s) FROM parts_{number}"
                ).fetchall()[0]
                counts[source.name] = (int(rows), low, high)
        except duckdb.Error:
            return None
        finally:
            suspicious = [scan.result() for scan in scans]
        if any(suspicious):
            return None
        for scan, (source, _) in zip(scans, files, strict=True):
            if scan.records is not None and scan.records != counts[source.name][0]:
                return None  # DuckDB decompressed other lines than Python: never silently
        union = " UNION ALL ".join(f"SELECT * FROM parts_{n}" for n in range(len(files)))
        rows, distinct_hashes = self.connection.sql(
            f"SELECT count(*), count(DISTINCT h) FROM (SELECT unnest(events) AS h FROM ({union}))"
        ).fetchall()[0]
        distinct = rows
        duplicated = distinct_hashes < rows
        if duplicated:  # perhaps duplicated events (or equal hashes): look at the ids themselves
            for number, (source, _) in enumerate(files):
                self.connection.sql(f"DROP TABLE parts_{number}")
                self._file_parts(number, source, reader, with_ids=True)
            rows, distinct, variants = self.connection.sql(
                f"""SELECT count(*), count(DISTINCT e.id), count(DISTINCT (e.id, e.c, message_id, address))
                    FROM (SELECT message_id, address, unnest(events) AS e FROM ({union}))"""
            ).fetchall()[0]
            if variants != distinct:  # one event id with two contents, or on two messages
                return None
            duplicated = distinct < rows
        self.connection.sql(f"CREATE VIEW file_parts AS {union}")
        if len(files) > 1 or duplicated:
            self.connection.sql(f"CREATE TABLE message_parts AS {_combine_sql('file_parts', duplicated)}")
        else:
            self.connection.sql("CREATE VIEW message_parts AS SELECT * FROM parts_0")
        if recipient is None:  # the SQL spelling of the pseudonym disagrees: Python, per address
            if self.finisher is None:
                self.finisher = _fast._Finisher(self.options, spec.name)
            addresses = self.connection.sql("SELECT DISTINCT address FROM message_parts").to_arrow_table()
            self.connection.register("address_map", self.finisher.address_table(addresses["address"]))
        else:
            self.connection.sql(f"""
                CREATE VIEW address_map AS
                SELECT a.address AS email, {recipient} AS recipient, {_DOMAIN_SQL} AS recipient_domain,
                       coalesce(d.code, {_PROVIDERS.index("other")})::SMALLINT AS mailbox_provider
                FROM (SELECT DISTINCT address FROM message_parts) AS a
                LEFT JOIN domain_table AS d ON d.domain = {_DOMAIN_SQL}""")
        result = self.connection.sql(_final_sql(esp_code)).to_arrow_table()
        return result, counts, int(distinct)

    def _drop_parts(self) -> None:
        """Drop the partial messages (tables and views) of the whole-file path."""
        for view in ("address_map", "message_parts", "file_parts"):
            self.connection.sql(f"DROP VIEW IF EXISTS {view}")
        for (name,) in self.connection.sql(
                "SELECT table_name FROM duckdb_tables() WHERE table_name = 'message_parts' "
                "OR table_name LIKE 'parts_%'").fetchall():
            self.connection.sql(f"DROP TABLE {name}")

    def _register_domains(self) -> None:
        """``domain_table``: every domain the provider table (and ``mx_map``) knows, with its
        provider's category position; any other domain is ``other``, as in
        :func:`providers.mailbox_provider`."""
        known = {**providers.provider_domains(), **(self.options.mx_map or {})}
        domains = list(known)
        provider = providers.mailbox_provider(pd.Series(domains, dtype=object), self.options.mx_map)
        codes = pd.Categorical(provider, dtype=EVENT_DTYPES["mailbox_provider"]).codes
        self.connection.register("domain_table", pa.table(
            {"domain": pa.array(domains, type=pa.string()),
             "code": pa.array(codes.astype(np.int16), mask=codes < 0)}))

    def _file_parts(self, number: int, source: Source, reader: Any, with_ids: bool) -> bool:
        """Create ``parts_<number>`` from one file; False when a row is not clean."""
        path, compression = _file_and_compression(source)
        sql = _fast._build_sql(path, reader.event_map, reader.bounce_map, outputs="messages",
                               compression=compression)
        self.connection.execute(
            f"CREATE TABLE parts_{number} AS {_parts_sql(sql, self.options.pseudonymize, with_ids)}",
            {"latest": float(self.options.latest)})
        unclean = self.connection.sql(
            f"SELECT count(*) FILTER (WHERE NOT clean) FROM parts_{number}").fetchall()[0][0]
        return unclean == 0

    # ---------------------------------------------------------------------------- the result

    def messages(self, stats: ReadStats) -> pd.DataFrame:
        """De-duplicate the staged events (counting into ``stats``) and aggregate them."""
        if not self.chunks_table:
            stats.events = 0
            return messages(concat_events([]))
        total, distinct = self.connection.sql(
            "SELECT count(*), count(DISTINCT event_id) FROM chunk_events").fetchall()[0]
        stats.duplicates += total - distinct
        stats.events = distinct
        relation = "chunk_events"
        if distinct < total:
            relation = ("(SELECT * FROM chunk_events QUALIFY row_number() OVER "
                        "(PARTITION BY event_id ORDER BY src, ord) = 1)")
        self.connection.sql(f"CREATE VIEW events AS SELECT * FROM {relation}")
        result = self.connection.sql(_duck_messages._build_sql(ranked_keys=False)).to_arrow_table()
        return _duck_messages._to_frame(result, {"mailbox_provider": None, "esp": None})


#: Bits of the per-event outcome mask (``bit_or`` over a message gives its evidence).
_BITS = {name: 1 << bit for bit, name in enumerate((
    "saw_delivered", "saw_dropped", "saw_bounce_hard", "saw_block", "saw_bounce_soft",
    "opened_human", "opened_machine", "clicked", "clicked_machine", "complained", "unsubscribed"))}

#: The key columns a SendGrid event carries itself (the others follow from the address).
_EVENT_KEYS = ("sending_ip", "ip_pool", "stream", "campaign")


def _parts_sql(normalized: str, pseudonymize: bool, with_ids: bool) -> str:
    """Partial messages of one file: its events (``normalized``, the fast path's query)
    grouped by message id and address, with the evidence, times and key values of each, and
    whether every row was clean. For de-duplication, ``events`` lists each event's id hash;
    ``with_ids`` lists instead ``{id, c}``: the event id and a hash of what the messages table
    reads of the event, with the ids of the deferrals in ``deferred_ids``.

    Times are epoch seconds; each key is ``{'t': first time, 'v': smallest value then}``.
    """
    code = {name: EVENT_TYPES.index(name) for name in EVENT_TYPES}
    klass = {name: BOUNCE_CLASSES.index(name) for name in BOUNCE_CLASSES}
    bits = _BITS
    mask = f"""CASE event_code
        WHEN {code['delivered']} THEN {bits['saw_delivered']}
        WHEN {code['dropped']} THEN {bits['saw_dropped']}
        WHEN {code['bounced']} THEN CASE bounce_code WHEN {klass['hard']} THEN {bits['saw_bounce_hard']}
             WHEN {klass['block']} THEN {bits['saw_block']} ELSE {bits['saw_bounce_soft']} END
        WHEN {code['opened']} THEN CASE WHEN is_machine THEN {bits['opened_machine']}
             ELSE {bits['opened_human']} END
        WHEN {code['clicked']} THEN CASE WHEN is_machine THEN {bits['clicked_machine']}
             ELSE {bits['clicked']} END
        WHEN {code['complained']} THEN {bits['complained']}
        WHEN {code['unsubscribed']} THEN {bits['unsubscribed']}
        ELSE 0 END"""
    keys = ",\n  ".join(
        f"min({{'t': ts, 'v': {name}}}) FILTER (WHERE {name} IS NOT NULL) AS {name}"
        for name in _EVENT_KEYS)
    content = ", ".join(("ts", "event_code", "bounce_code", "is_machine", *_EVENT_KEYS))
    address = "lower(email)" if pseudonymize else "email"
    if with_ids:
        ids = (f"list({{'id': event_id, 'c': hash({content})}}) AS events, list(event_id) FILTER "
               f"(WHERE event_code = {code['deferred']}) AS deferred_ids")
    else:
        ids = "list(hash(event_id)) AS events"
    return f"""
WITH n AS ({normalized})
SELECT message_id_raw AS message_id, {address} AS address,
  min(ts) AS first_s, max(ts) AS last_s,
  min(ts) FILTER (WHERE event_code = {code['processed']}) AS processed_s,
  min(ts) FILTER (WHERE event_code = {code['delivered']}) AS delivered_s,
  min(ts) FILTER (WHERE event_code = {code['opened']} AND NOT is_machine) AS human_open_s,
  {keys},
  bit_or({mask}) AS flags,
  count(*) FILTER (WHERE event_code = {code['deferred']}) AS deferred_attempts,
  count(*) AS n,
  {ids},
  bool_and(eligible) AND ascii(message_id_raw) > 32 AND ascii(right(message_id_raw, 1)) > 32
    AND strlen(message_id_raw) = length(message_id_raw) AS clean
FROM n
GROUP BY message_id_raw, {address}
"""


def _combine_sql(relation: str, duplicated: bool) -> str:
    """Partial messages of several files (or with duplicated events) merged per message: an
    event id counts once (its copies are identical, as checked before)."""
    keys = ", ".join(f"min({name}) AS {name}" for name in _EVENT_KEYS)
    if duplicated:
        counts = ("coalesce(len(list_distinct(flatten(list(deferred_ids)))), 0) AS deferred_attempts, "
                  "len(list_distinct(flatten(list(events)))) AS n")
    else:
        counts = "sum(deferred_attempts) AS deferred_attempts, sum(n) AS n"
    return f"""
SELECT message_id, address, min(first_s) AS first_s, max(last_s) AS last_s,
  min(processed_s) AS processed_s, min(delivered_s) AS delivered_s,
  min(human_open_s) AS human_open_s, {keys}, bit_or(flags) AS flags, {counts}
FROM {relation}
GROUP BY message_id, address
"""


#: The recipient's domain as the chunk finisher computes it, in SQL, from ``a.address``.
_DOMAIN_SQL = "rtrim(lower(string_split(a.address, '@')[-1]), '.')"


def _final_sql(esp_code: int) -> str:
    """The messages table from ``message_parts`` and ``address_map``, in the columns and order
    of :func:`._duck_messages._build_sql` (times as epoch nanoseconds)."""
    bits = _BITS
    flag = {name: f"(flags & {bit}) <> 0" for name, bit in bits.items()}
    status = {name: code for code, name in enumerate(FINAL_STATUSES)}
    keys = ", ".join(f"struct_extract(p.{name}, 'v') AS {name}" for name in _EVENT_KEYS)
    engagement = ", ".join(f"{flag[name]} AS {name}" for name in (
        "opened_human", "opened_machine", "clicked", "clicked_machine", "complained", "unsubscribed"))
    return f"""
SELECT p.message_id, a.recipient,
  coalesce(p.processed_s, p.first_s) * 1000000000 AS sent_at,
  a.recipient_domain, a.mailbox_provider, {keys}, {esp_code}::SMALLINT AS esp,
  CASE WHEN {flag['saw_bounce_hard']} THEN {status['bounced_hard']}
       WHEN {flag['saw_block']} THEN {status['blocked']}
       WHEN {flag['saw_bounce_soft']} THEN {status['bounced_soft']}
       WHEN {flag['saw_dropped']} THEN {status['dropped']}
       WHEN {flag['saw_delivered']} THEN {status['delivered']} ELSE {status['pending']} END::TINYINT
    AS final_status,
  p.deferred_attempts, {engagement},
  ((p.delivered_s - p.processed_s) * 1000000000) / 1e9 AS delivery_latency_s,
  p.human_open_s * 1000000000 AS first_open_human_at,
  p.n AS event_count
FROM message_parts AS p JOIN address_map AS a ON p.address = a.email
ORDER BY sent_at ASC NULLS LAST, p.message_id ASC NULLS LAST, a.recipient ASC NULLS LAST
"""


def _hmac_sql(key: bytes | None, column: str, connection: Any) -> str | None:
    """SQL for :func:`privacy.pseudonymize_address` of a lower-cased, blank-free address column
    (HMAC-SHA256 with DuckDB's ``sha256`` on blobs), the column itself without a key, or None
    when DuckDB's result (on ``connection``) differs from Python's on the probes."""
    if key is None:
        return column
    inner, outer = (pad.hex() for pad in privacy.hmac_pads(key))

    def spelled(value: str) -> str:
        return (f"left(sha256(unhex('{outer}') || unhex(sha256(unhex('{inner}') || encode({value})))), "
                f"{privacy.PSEUDONYM_LENGTH})")

    probes = ["probe.address+1@example.com", "x@y.z", "o'brien@example.org", "a" * 300 + "@b.c"]
    computed = connection.sql(
        f"SELECT {spelled('v')} FROM (SELECT unnest($probes) AS v, generate_subscripts($probes, 1) "
        "AS i) ORDER BY i", params={"probes": probes}).fetchall()
    if [row[0] for row in computed] != [privacy.pseudonymize_address(p, key) for p in probes]:
        return None
    return spelled(column)


def _positions(column: pa.ChunkedArray | pa.Array, categories: list[str]) -> pa.Array:
    """Category positions of a string column (null where missing or not a category)."""
    return pc.index_in(column, value_set=pa.array(categories, type=pa.string())).cast(pa.int16())


class _SuspiciousScan:
    """:func:`._fast._is_suspicious` over a whole file, in a background thread.

    A plain file is memory-mapped and handed to pyarrow's RE2 in large slices (no copies; the
    regex releases the GIL, so the scan overlaps the DuckDB query). Slices overlap by a margin,
    and a slice that ends in a comma and blanks is extended to the next closing character, so
    that a trailing comma across a slice boundary is seen whole.

    A gzip file is decompressed here by Python's ``gzip`` (the readers' decompressor: a stream
    it rejects sends the file to the chunk path) and scanned in pieces cut after a line end
    that follows neither a blank nor a comma. Its lines are counted too (``records``), to be
    compared with the rows DuckDB read from its own decompression; a blank line, which both
    skip, only makes the count uncertain, so it counts as suspicious."""

    SLICE_BYTES = 64 * 1024 * 1024
    #: Pieces of a decompressed stream [bytes]: two are alive at once.
    STREAM_BYTES = 16 * 1024 * 1024
    #: Bytes without a line end to cut at after which a stream is left to the chunk path (DuckDB
    #: reads objects of 16 MiB at most).
    LONGEST_LINE_BYTES = 64 * 1024 * 1024

    def __init__(self, source: Source):
        self.found = False
        self.records: int | None = None  # lines of a gzip file (None for a plain file)
        self.error: BaseException | None = None
        target = self._run if source.path is not None else self._run_stream
        self.thread = threading.Thread(target=target, args=(source,), daemon=True)
        self.thread.start()

    def _run(self, source: Source) -> None:
        import mmap

        try:
            with open(str(source.path), "rb") as handle:
                if os.fstat(handle.fileno()).st_size == 0:
                    return
                with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                    size, start = len(mapped), 0
                    while start < size and not self.found:
                        end = min(size, start + self.SLICE_BYTES)
                        while end < size and mapped[end - 1:end] in b" \t\r\n,":
                            end += 1  # never cut between a comma, its blanks and a bracket
                        self.found = _mapped_slice_is_suspicious(mapped, start, end)
                        # Drop the scanned pages from this process (they stay in the page
                        # cache): resident memory stays one slice, whatever the file size.
                        page_start = start - start % mmap.PAGESIZE
                        mapped.madvise(mmap.MADV_DONTNEED, page_start, end - page_start)
                        start = end
        except BaseException as error:  # reported by result(): a failed scan never passes
            self.error = error

    def _run_stream(self, source: Source) -> None:
        try:
            records = 0
            carry = b""
            with source.open_binary() as stream:
                while not self.found:
                    chunk = stream.read(self.STREAM_BYTES)
                    data = carry + chunk
                    if not chunk:  # the end: the last line may lack its line end
                        records += data.count(b"\n") + (1 if data[data.rfind(b"\n") + 1:].strip() else 0)
                        self.found = _piece_is_suspicious(data)
                        break
                    cut = _line_cut(data)
                    if cut <= 0:
                        if len(data) > self.LONGEST_LINE_BYTES:
                            self.found = True  # no line end to cut at: leave it to the chunk path
                        carry = data
                        continue
                    piece, carry = data[:cut], data[cut:]
                    records += piece.count(b"\n")
                    self.found = _piece_is_suspicious(piece)
            self.records = records
            if source.damage:  # the readers stop at the damage and report it; DuckDB may not
                self.found = True
        except BaseException as error:  # reported by result(): a failed scan never passes
            self.error = error

    def result(self) -> bool:
        """True when the file holds something the whole-file path must not read."""
        self.thread.join()
        return self.found or self.error is not None


def _line_cut(data: bytes) -> int:
    """The position after the last line end (LF or CRLF) of ``data`` that follows neither a
    blank nor a comma (so that no trailing comma, CRLF or two-byte pattern spans it), or -1."""
    cut = data.rfind(b"\n")
    while cut > 0:
        before = cut - 1 if data[cut - 1:cut] != b"\r" else cut - 2
        if before >= 0 and data[before:before + 1] not in b" \t\r\n,":
            return cut + 1
        cut = data.rfind(b"\n", 0, cut)
    return -1


#: A blank line (only blanks before its line end) at the start of a piece or after a line end.
_BLANK_LINE = rb"(?:^|\n)[ \t\r]*\n"


def _piece_is_suspicious(piece: bytes) -> bool:
    """:func:`._fast._is_suspicious`, or a blank line (which would make a line count differ
    from a record count)."""
    return _fast._is_suspicious(piece) or _fast._matches(piece, _BLANK_LINE)


def _mapped_slice_is_suspicious(mapped: Any, start: int, end: int) -> bool:
    """:func:`._fast._is_suspicious` of ``mapped[start:end]`` without copying it, except in the
    rare slice that holds a carriage return or a backslash."""
    if mapped.find(b"\r", start, end) >= 0 or mapped.find(b"\\", start, end) >= 0:
        return _fast._is_suspicious(mapped[start:end])
    with memoryview(mapped)[start:end] as view:
        return _fast._has_trailing_comma(view)
