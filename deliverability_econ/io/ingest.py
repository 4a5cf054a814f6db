"""Streaming ingest: ESP exports into a day-partitioned Parquet dataset, with bounded memory.

Layout of a dataset directory::

    DATASET/
      date=2024-06-01/part-<run>.parquet     canonical events of that UTC day, one file per run
      date=2024-06-02/...
      _quarantine/<run>.jsonl                rejected records: source, location, field, reason,
                                             raw (addresses scrubbed)
      _ingest_log.jsonl                      one line per run: its summary

Records are read with the same per-chunk normalizers as :func:`~deliverability_econ.read_events`
(``_registry.iter_read``), so memory is bounded by the chunk size, never by the file size: each
chunk is split by UTC day and written to a staging area; at the end of the run each day is
compacted on its own, dropping event ids seen earlier in the run or already in the dataset.
An event's day follows from its timestamp, so a redelivered event always lands in the same
partition and de-duplication per partition is complete: ingesting the same file twice adds
nothing, and the second run reports those events as duplicates. A run that fails (``errors=
"raise"``, a bad path) leaves the dataset as it was.

Parquet written here is plain (strings, ``timestamp[ns, UTC]``, booleans) and readable by
pandas, DuckDB, Dask and Spark; :func:`read_dataset` loads it back with the canonical dtypes.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from ..schema import EVENT_COLUMNS, EVENT_DTYPES, coerce_events
from . import _registry
from ._base import ReadOptions, ReadStats, expand_sources
from ._fast import EVENTS_ARROW_SCHEMA

#: Name of the hive partition column.
PARTITION_COLUMN = "date"

QUARANTINE_DIRECTORY = "_quarantine"
STAGING_DIRECTORY = "_staging"
INGEST_LOG = "_ingest_log.jsonl"

_NS_PER_DAY = 86_400 * 1_000_000_000

#: On-disk schema of the events: categoricals as plain strings (Parquet dictionary-encodes them
#: anyway), so that any Parquet reader sees ordinary columns.
ARROW_SCHEMA = EVENTS_ARROW_SCHEMA

#: Columns with few distinct values, dictionary-encoded in Parquet; the others (ids, pseudonyms,
#: diagnostics) are nearly unique, where a dictionary costs time and saves nothing.
_DICTIONARY_COLUMNS = ["event", "recipient_domain", "mailbox_provider", "sending_ip", "ip_pool",
                       "stream", "campaign", "bounce_class", "smtp_status", "esp"]

#: Columns with min/max statistics (what filters and engines prune on); statistics of long
#: diagnostic texts cost time and prune nothing.
_STATISTICS_COLUMNS = ["timestamp", "event", "message_id", "event_id", "recipient",
                       "recipient_domain", "mailbox_provider", "esp"]

_PARTITIONING = pads.partitioning(pa.schema([(PARTITION_COLUMN, pa.string())]), flavor="hive")


def ingest(
    paths: Any,
    out_dir: str | os.PathLike,
    *,
    format: str = "auto",
    errors: str = "quarantine",
    pseudonymize: bool = True,
    salt: str | bytes | None = None,
    progress: bool = True,
    mx_map: Mapping[str, str] | None = None,
    encoding: str | None = None,
    format_options: Mapping[str, Mapping] | None = None,
    now: float | None = None,
    chunk_records: int | None = None,
    engine: str = "local",
    client: Any = None,
) -> dict:
    """Read ESP exports and MTA logs into a day-partitioned Parquet dataset.

    Parameters
    ----------
    paths : path, glob, directory, file-like, or a list of them
        Inputs; ``.gz``, ``.bz2`` and ``.zip`` are read as streams, directories recursively.
    out_dir : path
        The dataset directory; created if missing, added to if it exists.
    format : str
        ``"auto"`` (default) detects each file's format from its content; or one of
        ``io.FORMATS`` to force it.
    errors : {"quarantine", "raise"}
        ``"quarantine"`` keeps bad records in ``_quarantine/`` and counts them; ``"raise"`` stops
        at the first with :class:`~deliverability_econ.io.InputFormatError` and writes nothing.
    pseudonymize : bool
        Replace recipient addresses by a keyed hash (default True).
    salt : str or bytes, optional
        Pseudonymization key; else ``$DELIVERABILITY_ECON_SALT``; else the installation key.
        Use the same key for every run into one dataset, or recipients will not join.
    progress : bool
        Show a progress bar (events read) on a terminal; never when stderr is not a TTY.
    mx_map : mapping, optional
        ``{domain: mailbox_provider}`` for business domains.
    encoding : str, optional
        Text encoding when not UTF-8.
    format_options : mapping, optional
        Per-format options, e.g. ``{"postfix": {"year": 2025}}``.
    now : float, optional
        Reading time [epoch s] for the future-timestamp check; default the clock.
    chunk_records : int, optional
        Records normalized per chunk [records]; bounds the memory of the reading stage.
    engine : {"local", "dask"}
        ``"local"`` (default) streams the inputs in this process. ``"dask"`` reads them as tasks
        on a ``dask.distributed`` cluster (one per file, or per byte range of a large JSON-lines
        file) with the same normalizers, and writes the same dataset, quarantine and summary
        (:func:`._dask.ingest_dask`; needs the ``dask`` extra). Inputs and ``out_dir`` must be
        readable by the workers.
    client : distributed.Client, optional
        The cluster for ``engine="dask"``; default the current client, else a temporary
        in-process one.

    Returns
    -------
    dict
        The run's summary: ``run_id``, ``dataset``, ``sources``, ``records_read``, ``events``
        (new events written), ``duplicates`` (within the run and against the dataset),
        ``quarantined``, ``ignored`` (count by reason), ``by_format`` (the same counts per
        format), ``partitions`` (days written), ``time_min``, ``time_max`` (ISO 8601, UTC),
        ``quarantine_file``, ``seconds``. ``records_read == events + duplicates + quarantined
        + sum(ignored.values())``.

    Examples
    --------
    >>> summary = ingest(["exports/*.json.gz"], "events/")  # doctest: +SKIP
    >>> events = read_dataset("events/", filters=[("date", ">=", "2024-06-01")])  # doctest: +SKIP
    """
    if engine == "dask":
        from ._dask import ingest_dask

        return ingest_dask(paths, out_dir, client=client, format=format, errors=errors,
                           pseudonymize=pseudonymize, salt=salt, progress=progress,
                           mx_map=mx_map, encoding=encoding, format_options=format_options,
                           now=now, chunk_records=chunk_records)
    if engine != "local":
        raise ValueError(f"engine must be 'local' or 'dask', not {engine!r}")
    started = time.time()
    options = ReadOptions(errors=errors, pseudonymize=pseudonymize, salt=salt, mx_map=mx_map,
                          encoding=encoding, now=now)
    if chunk_records is not None:
        options.chunk_records = int(chunk_records)
    dataset = Path(out_dir)
    created = not dataset.exists()
    run_id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(started)) + "-" + uuid.uuid4().hex[:8]
    staging = dataset / STAGING_DIRECTORY / run_id
    staging.mkdir(parents=True, exist_ok=True)
    stats = ReadStats()
    per_source: list = []
    bar = _progress_bar(progress)
    try:
        staged_parts = 0
        for chunk in _iter_chunks(paths, format, options, stats, format_options, per_source):
            staged_parts += _stage(chunk, staging, staged_parts)
            bar.update(len(chunk))
        bar.close()
        written = _compact(staging, dataset, run_id)
        quarantine_file = _write_quarantine(stats, dataset, run_id)
    except BaseException:
        if created:
            shutil.rmtree(dataset, ignore_errors=True)
        raise
    finally:
        bar.close()
        shutil.rmtree(staging, ignore_errors=True)
        try:
            (dataset / STAGING_DIRECTORY).rmdir()
        except OSError:
            pass  # another run is staging

    summary = _summary(run_id, dataset, per_source, stats, written, quarantine_file, started)
    with open(dataset / INGEST_LOG, "a", encoding="utf-8") as log:
        log.write(json.dumps(summary, sort_keys=True) + "\n")
    return summary


def read_dataset(
    out_dir: str | os.PathLike,
    columns: Sequence[str] | None = None,
    filters: Any = None,
    engine: str = "local",
) -> pd.DataFrame:
    """Load a dataset written by :func:`ingest` as canonical events.

    Parameters
    ----------
    out_dir : path
        The dataset directory.
    columns : sequence of str, optional
        Canonical columns to load (default all); loading fewer saves memory.
    filters : list of tuples or pyarrow expression, optional
        Row filters in the ``pyarrow.parquet`` form, e.g. ``[("date", ">=", "2024-06-01")]``
        (the partition column ``date`` holds ``YYYY-MM-DD`` strings, so only matching days are
        read) or ``[("event", "==", "bounced")]``.
    engine : {"local", "dask"}
        ``"dask"`` returns a lazy Dask DataFrame with the same columns and dtypes, one partition
        per file, not sorted across partitions (:func:`._dask.read_dataset_dask`).

    Returns
    -------
    DataFrame
        The requested columns with the dtypes of ``schema.EVENT_DTYPES`` (all columns: exactly
        ``schema.coerce_events``), sorted by ``timestamp`` then ``event_id`` when both are loaded.
    """
    if engine == "dask":
        from ._dask import read_dataset_dask

        return read_dataset_dask(out_dir, columns=columns, filters=filters)
    if engine != "local":
        raise ValueError(f"engine must be 'local' or 'dask', not {engine!r}")
    directory = Path(out_dir)
    wanted = list(EVENT_COLUMNS) if columns is None else list(columns)
    unknown = [c for c in wanted if c not in EVENT_DTYPES and c != PARTITION_COLUMN]
    if unknown:
        raise ValueError(f"unknown columns {unknown}; known: {', '.join(EVENT_COLUMNS)}")
    if not any(directory.glob(f"{PARTITION_COLUMN}=*/*.parquet")):
        frame = coerce_events(pd.DataFrame())
        return frame[[c for c in wanted if c in frame.columns]]
    table = pq.read_table(directory, columns=wanted, filters=filters, partitioning=_PARTITIONING)
    sort_keys = [(c, "ascending") for c in ("timestamp", "event_id") if c in wanted]
    if sort_keys and table.num_rows:
        table = table.take(pc.sort_indices(table, sort_keys=sort_keys))
    frame = table.to_pandas(types_mapper={pa.string(): EVENT_DTYPES["message_id"],
                                          pa.large_string(): EVENT_DTYPES["message_id"]}.get)
    if columns is None:
        return coerce_events(frame)
    for name in wanted:
        if name == "timestamp":
            frame[name] = pd.to_datetime(frame[name], utc=True).astype(EVENT_DTYPES[name])
        elif name in EVENT_DTYPES:
            frame[name] = frame[name].astype(EVENT_DTYPES[name])
    return frame


# --------------------------------------------------------------------------------------------
# Stages
# --------------------------------------------------------------------------------------------


def _progress_bar(progress: bool):
    from tqdm.auto import tqdm

    disable = not progress or not sys.stderr.isatty()
    return tqdm(unit=" events", unit_scale=True, desc="ingest", disable=disable, leave=False)


def _iter_chunks(paths: Any, format_name: str, options: ReadOptions, stats: ReadStats,
                 format_options: Mapping[str, Mapping] | None, per_source: list):
    """``_registry.iter_read`` for ingest: the same sources, formats and counts, but the fast
    SendGrid reader hands its blocks over as Arrow tables, so they reach Parquet without a
    pandas round trip. Yields DataFrames and Arrow tables of canonical events."""
    format_options = format_options or {}
    for source in expand_sources(paths):
        source_stats = ReadStats()
        configured = bool(format_name != "auto" and format_options.get(format_name))
        spec = _registry._resolve_spec(source, format_name, options, source_stats, strict=True,
                                       configured=configured)
        if spec is not None:
            yield from _registry.source_chunks(spec, source, options, source_stats, format_options,
                                               arrow=True)
        per_source.append((source.name, spec.name if spec else None, source_stats))
        stats.merge(source_stats)


def _to_arrow(events: pd.DataFrame | pa.Table) -> pa.Table:
    """Canonical events as an Arrow table of :data:`ARROW_SCHEMA` (categoricals as strings)."""
    if isinstance(events, pa.Table):
        return events
    arrays = [pa.array(events[field.name].array).cast(field.type) for field in ARROW_SCHEMA]
    return pa.Table.from_arrays(arrays, schema=ARROW_SCHEMA)


def _day_labels(days: np.ndarray) -> list[str]:
    return [str(np.datetime64(int(day), "D")) for day in days]


def _stage(chunk: pd.DataFrame | pa.Table, staging: Path, sequence: int) -> int:
    """Write one normalized chunk (a DataFrame, or an Arrow table of :data:`ARROW_SCHEMA`) to the
    staging area, one file per UTC day; returns files written."""
    if len(chunk) == 0:
        return 0
    table = _to_arrow(chunk)
    day = table["timestamp"].cast(pa.int64()).to_numpy() // _NS_PER_DAY
    distinct, starts = np.unique(day, return_index=True)
    if len(distinct) > 1:
        # One stable take groups the rows by day (keeping their order within a day); each day is
        # then a zero-copy slice.
        order = np.argsort(day, kind="stable")
        table = table.take(order)
        starts = np.searchsorted(day[order], distinct)
    bounds = [*starts.tolist(), table.num_rows]
    written = 0
    for index, label in enumerate(_day_labels(distinct)):
        part = table.slice(bounds[index], bounds[index + 1] - bounds[index]) if len(distinct) > 1 else table
        directory = staging / f"{PARTITION_COLUMN}={label}"
        directory.mkdir(exist_ok=True)
        # Arrow IPC: staging is read back once, by this run; cheaper than Parquet both ways.
        with pa.OSFile(str(directory / f"part-{sequence + written:08d}.arrow"), "wb") as sink:
            with pa.ipc.new_file(sink, ARROW_SCHEMA) as writer:
                writer.write_table(part)
        written += 1
    return written


def _compact(staging: Path, dataset: Path, run_id: str) -> dict[str, dict[str, int]]:
    """De-duplicate each staged day against itself and the dataset; write the new events.

    Returns ``{day: {"events": new, "duplicates": dropped, "by_format": {format: [new, dropped]}}}``.
    """
    written: dict[str, dict] = {}
    for day_directory in sorted(p for p in staging.iterdir() if p.is_dir()):
        label = day_directory.name.split("=", 1)[1]
        parts = sorted(day_directory.glob("*.arrow"))
        staged = pa.concat_tables([_read_staged(p) for p in parts])
        target = dataset / day_directory.name
        existing = [p for p in sorted(target.glob("*.parquet"))] if target.exists() else []
        known_ids = (pa.concat_arrays([pq.read_table(p, columns=["event_id"])["event_id"].combine_chunks()
                                       for p in existing])
                     if existing else pa.array([], type=pa.string()))
        keep = _first_new(staged["event_id"].combine_chunks(), known_ids)
        new = staged.filter(keep)
        dropped = staged.filter(pc.invert(keep))
        by_format: dict[str, list[int]] = {}
        for position, part in enumerate((new, dropped)):
            for entry in pc.value_counts(part["esp"].combine_chunks()).to_pylist():
                by_format.setdefault(entry["values"], [0, 0])[position] += entry["counts"]
        written[label] = {"events": new.num_rows, "duplicates": dropped.num_rows,
                          "by_format": by_format}
        if new.num_rows == 0:
            continue
        new = new.take(pc.sort_indices(new, sort_keys=[("timestamp", "ascending"),
                                                       ("event_id", "ascending")]))
        target.mkdir(parents=True, exist_ok=True)
        final = target / f"part-{run_id}.parquet"
        temporary = target / f".part-{run_id}.parquet.tmp"
        pq.write_table(new, temporary, use_dictionary=_DICTIONARY_COLUMNS,
                       write_statistics=_STATISTICS_COLUMNS)
        os.replace(temporary, final)  # readers never see a half-written file
    return written


def _read_staged(path: Path) -> pa.Table:
    with pa.OSFile(str(path), "rb") as source:
        return pa.ipc.open_file(source).read_all()


def _first_new(event_ids: pa.Array, known_ids: pa.Array) -> pa.Array:
    """True for each event id that is neither in ``known_ids`` nor earlier in ``event_ids``."""
    if len(event_ids) == 0:
        return pa.array([], type=pa.bool_())
    codes, _ = pd.factorize(pd.Series(pd.array(event_ids, dtype=EVENT_DTYPES["event_id"])))
    first = np.zeros(len(codes), dtype=bool)
    _, first_positions = np.unique(codes, return_index=True)
    first[first_positions] = True
    if len(known_ids):
        first &= ~pc.is_in(event_ids, value_set=known_ids).to_numpy(zero_copy_only=False)
    return pa.array(first)


def _write_quarantine(stats: ReadStats, dataset: Path, run_id: str) -> str | None:
    if not stats.quarantine:
        return None
    directory = dataset / QUARANTINE_DIRECTORY
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{run_id}.jsonl"
    with open(path, "w", encoding="utf-8") as handle:
        for entry in stats.quarantine:
            handle.write(json.dumps({"run_id": run_id, **entry}, ensure_ascii=False) + "\n")
    return str(path)


def _summary(run_id: str, dataset: Path, per_source: list, stats: ReadStats,
             written: dict[str, dict], quarantine_file: str | None, started: float) -> dict:
    by_format: dict[str, dict[str, Any]] = {}
    for _source, format_name, source_stats in per_source:
        entry = by_format.setdefault(format_name or "(empty)", {
            "sources": 0, "records_read": 0, "events": 0, "duplicates": 0, "quarantined": 0,
            "ignored": 0})
        entry["sources"] += 1
        entry["records_read"] += source_stats.records_read
        entry["quarantined"] += source_stats.quarantined
        entry["ignored"] += sum(source_stats.ignored.values())
    for day in written.values():
        for name, (new, dropped) in day["by_format"].items():
            entry = by_format[name]
            entry["events"] += new
            entry["duplicates"] += dropped
    events = sum(day["events"] for day in written.values())
    duplicates = sum(day["duplicates"] for day in written.values())
    return {
        "run_id": run_id,
        "dataset": str(dataset),
        "sources": [name for name, _, _ in per_source],
        "records_read": stats.records_read,
        "events": events,
        "duplicates": duplicates,
        "quarantined": stats.quarantined,
        "ignored": dict(stats.ignored),
        "by_format": by_format,
        "partitions": sorted(day for day, info in written.items() if info["events"]),
        "time_min": stats.time_min.isoformat() if stats.time_min is not None else None,
        "time_max": stats.time_max.isoformat() if stats.time_max is not None else None,
        "quarantine_file": quarantine_file,
        "warnings": list(stats.warnings),
        "seconds": round(time.time() - started, 3),
    }
