"""Ingest on Dask: the streaming ingest of :mod:`.ingest`, one task per input, on a cluster.

The local :func:`~deliverability_econ.io.ingest.ingest` reads every source in turn; here each
source (a file, a zip member) is one task on a ``dask.distributed`` cluster, and a large plain
JSON-lines file is cut into byte ranges at line boundaries, one task per range. A task runs the
same per-chunk normalizers as the local engine (:func:`._base.normalize_chunks`, the SendGrid
fast path included) and writes the same staging files (:func:`.ingest._stage`), then returns its
:class:`._base.ReadStats` (counts, quarantined records, times). Once every read task is done,
one task per UTC day runs the local engine's compaction (:func:`.ingest._compact`) on that day's
staged files, in input order: so de-duplication by ``event_id`` within the run and against the
dataset keeps exactly the events the local engine keeps, and the dataset, the quarantine file
and the summary are the local engine's.

Byte ranges. A range starts right after a line feed, at a line that parses as JSON on its own
(so that the record splitter reads the range as JSON lines, as it reads the whole file) and holds
no carriage return; a cut with no such line within :data:`CUT_SEARCH_BYTES` is dropped. Only
formats whose record splitter is :func:`._base.iter_json_values` itself (SendGrid, SES, Brevo)
are cut, and only uncompressed files read as UTF-8; other inputs are one task each. Each range
counts its lines (as Python's universal newlines count them); the quarantine locations of a
range (``line N``) are then shifted by the lines of the ranges before it, so they name the line
of the file. Everything a reader derives from a record (event ids included) depends on the
record alone, never on its position.

Needs the optional ``dask`` extra (``pip install 'deliverability-econ[dask]'``); nothing in the
package imports Dask until one of these functions is called.
"""

from __future__ import annotations

import functools
import io
import json
import os
import re
import shutil
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..schema import EVENT_COLUMNS, EVENT_DTYPES, coerce_events
from . import _registry
from ._base import (
    InputFormatError,
    ReadOptions,
    ReadStats,
    Source,
    expand_sources,
    is_json_lines,
    iter_json_values,
    normalize_chunks,
    read_head,
    report_stream_damage,
)

# The local engine's stages, reused so that both engines write the same dataset.
from .ingest import (
    _PARTITIONING,
    INGEST_LOG,
    PARTITION_COLUMN,
    STAGING_DIRECTORY,
    _compact,
    _stage,
    _summary,
    _write_quarantine,
)

#: Plain JSON-lines files larger than this are read as byte ranges of about this size [bytes].
DEFAULT_BLOCK_BYTES = 128 * 2**20

#: How far past a nominal cut to look for a line a range can start with [bytes].
CUT_SEARCH_BYTES = 2**20

_READ_BLOCK_BYTES = 16 * 2**20
_LINE_LOCATION = re.compile(r"^line (\d+)")
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_EXTRA_MESSAGE = (
    "the Dask engine needs the optional 'dask' extra: pip install 'deliverability-econ[dask]'"
)


def import_distributed():
    """``dask.distributed``, or an ImportError naming the extra that provides it."""
    try:
        import dask.dataframe  # noqa: F401
        import distributed
    except ImportError as exc:
        raise ImportError(_EXTRA_MESSAGE) from exc
    return distributed


def import_dask_dataframe():
    """``dask.dataframe``, or an ImportError naming the extra that provides it."""
    try:
        import dask.dataframe as dd
    except ImportError as exc:
        raise ImportError(_EXTRA_MESSAGE) from exc
    return dd


# --------------------------------------------------------------------------------------------
# Ingest
# --------------------------------------------------------------------------------------------


def ingest_dask(
    paths: Any,
    out_dir: str | os.PathLike,
    *,
    client: Any = None,
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
    block_bytes: int = DEFAULT_BLOCK_BYTES,
) -> dict:
    """:func:`~deliverability_econ.io.ingest.ingest` on a ``dask.distributed`` cluster.

    Same inputs, same dataset on disk, same quarantine file and same summary as the local
    engine (see the module docstring for how the work is split).

    Parameters
    ----------
    paths, out_dir, format, errors, pseudonymize, salt, mx_map, encoding, format_options, now, chunk_records
        As for :func:`~deliverability_econ.io.ingest.ingest`. Every path must be readable by
        the workers and by this process (a shared file system), and so must ``out_dir``.
    client : distributed.Client, optional
        The cluster to run on; default the current client (``distributed.get_client()``), else
        a temporary in-process cluster for this call (threads: little parallelism, since
        normalizing is mostly Python; pass a client with process workers for that).
    progress : bool
        Show a progress bar (read tasks done) on a terminal; never when stderr is not a TTY.
    block_bytes : int
        Plain JSON-lines files larger than this are read as ranges of about this size [bytes].

    Returns
    -------
    dict
        The run's summary, as :func:`~deliverability_econ.io.ingest.ingest` returns it.

    Raises
    ------
    InputFormatError
        With ``errors="raise"``, the first bad record in input order (every read task runs to
        its own end or first error before the run is rolled back); nothing is written.
    ImportError
        When Dask is not installed.
    """
    distributed = import_distributed()
    started = time.time()
    if int(block_bytes) < 1:
        raise ValueError(f"block_bytes must be a positive number of bytes, not {block_bytes!r}")
    options = ReadOptions(errors=errors, pseudonymize=pseudonymize, salt=salt, mx_map=mx_map,
                          encoding=encoding, now=now)
    if chunk_records is not None:
        options.chunk_records = int(chunk_records)
    format_options = {name: dict(value) for name, value in (format_options or {}).items()}
    dataset = Path(out_dir)
    created = not dataset.exists()
    run_id = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(started)) + "-" + uuid.uuid4().hex[:8]
    staging = dataset / STAGING_DIRECTORY / run_id
    staging.mkdir(parents=True, exist_ok=True)
    # Workers may run elsewhere: they get absolute paths (the summary keeps the one given).
    staging_path, dataset_path = str(staging.resolve()), str(dataset.resolve())
    client, own_client = _client_or_temporary(client, distributed)
    try:
        sources = expand_sources(paths)
        plans = [_plan(number, source, format, options, format_options, int(block_bytes))
                 for number, source in enumerate(sources)]
        pieces = [piece for plan in plans if plan.error is None for piece in plan.pieces]
        futures = [client.submit(_read_piece, piece, format, options, format_options, staging_path,
                                 key=f"deliverability-econ-read-{run_id}-{piece.source_number}-"
                                     f"{piece.range_number}", pure=False)
                   for piece in pieces]
        # Every task runs to its end before anything is judged, so that a failed run is rolled
        # back only once no task writes any more.
        _wait(futures, distributed, progress)
        by_piece = {(p.source_number, p.range_number): f for p, f in zip(pieces, futures,
                                                                         strict=True)}
        stats, per_source, outcomes = _merge(plans, by_piece)  # the first error in input order

        by_day: dict[str, list[str]] = {}
        for key in sorted(outcomes):
            for label, path in outcomes[key].staged:
                by_day.setdefault(label, []).append(path)
        compactions = [client.submit(_compact_day, label, files, staging_path, dataset_path, run_id,
                                     key=f"deliverability-econ-compact-{run_id}-{label}", pure=False)
                       for label, files in sorted(by_day.items())]
        distributed.wait(compactions)
        written: dict[str, dict] = {}
        for day in client.gather(compactions):
            written.update(day)
        quarantine_file = _write_quarantine(stats, dataset, run_id)
    except BaseException:
        if created:
            shutil.rmtree(dataset, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        try:
            (dataset / STAGING_DIRECTORY).rmdir()
        except OSError:
            pass  # another run is staging
        if own_client is not None:
            own_client.close()

    summary = _summary(run_id, dataset, per_source, stats, written, quarantine_file, started)
    with open(dataset / INGEST_LOG, "a", encoding="utf-8") as log:
        log.write(json.dumps(summary, sort_keys=True) + "\n")
    return summary


def _client_or_temporary(client: Any, distributed) -> tuple[Any, Any]:
    """The client to use, and the one to close afterwards (a temporary one) or None."""
    if client is not None:
        return client, None
    try:
        return distributed.get_client(), None
    except ValueError:  # no client in this process
        temporary = distributed.Client(processes=False, dashboard_address=None)
        return temporary, temporary


def _wait(futures: list, distributed, progress: bool) -> None:
    from tqdm.auto import tqdm

    disable = not progress or not sys.stderr.isatty()
    with tqdm(total=len(futures), unit=" inputs", desc="ingest (dask)", disable=disable,
              leave=False) as bar:
        for _ in distributed.as_completed(futures):
            bar.update(1)


# --------------------------------------------------------------------------------------------
# Planning: one piece per source, or per byte range of a large JSON-lines file
# --------------------------------------------------------------------------------------------


@dataclass
class _Piece:
    """One read task: a whole source, or bytes ``[start, stop)`` of a plain file."""

    source_number: int
    range_number: int
    source: Source
    start: int | None = None
    stop: int | None = None
    #: Format already resolved for the source (ranges); None: the task resolves it.
    format_name: str | None = None


@dataclass
class _Plan:
    """How one source is read: its pieces, or the error that stops the run at this source."""

    source_number: int
    source: Source
    pieces: list[_Piece] = field(default_factory=list)
    #: Spec resolution done here (ranges): its warnings, format name.
    stats: ReadStats | None = None
    format_name: str | None = None
    error: BaseException | None = None


@dataclass
class _Outcome:
    """What a read task returns."""

    stats: ReadStats
    format_name: str | None
    staged: list[tuple[str, str]]
    lines: int = 0
    error: InputFormatError | None = None


def _plan(number: int, source: Source, format_name: str, options: ReadOptions,
          format_options: Mapping[str, Mapping], block_bytes: int) -> _Plan:
    plan = _Plan(number, source)
    path = Path(source.name)
    splittable = (
        path.suffix.lower() not in (".gz", ".bz2", ".zip")
        and (options.encoding or "utf-8").lower().replace("_", "-") in ("utf-8", "utf8", "utf-8-sig")
        and path.is_file()
        and path.stat().st_size > block_bytes
    )
    if not splittable:
        plan.pieces = [_Piece(number, 0, source)]
        return plan
    stats = ReadStats()
    try:
        spec = _resolve(source, format_name, options, stats, format_options)
    except InputFormatError as exc:
        plan.error = exc
        return plan
    cuts = (_cuts(path, block_bytes) if spec is not None and spec.records is iter_json_values
            and _is_json_lines(source, options) else [])
    if not cuts:
        plan.pieces = [_Piece(number, 0, source)]
        return plan
    plan.stats, plan.format_name = stats, spec.name
    bounds = [0, *cuts, path.stat().st_size]
    plan.pieces = [_Piece(number, index, source, start, stop, spec.name)
                   for index, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:], strict=True))]
    return plan


def _resolve(source: Source, format_name: str, options: ReadOptions, stats: ReadStats,
             format_options: Mapping[str, Mapping]):
    # The same call as _registry.iter_read makes for each source.
    return _registry._resolve_spec(
        source, format_name, options, stats, strict=True,
        configured=bool(format_name != "auto" and format_options.get(format_name)))


def _is_json_lines(source: Source, options: ReadOptions) -> bool:
    """Whether :func:`iter_json_values` reads the whole source as JSON lines (its rule)."""
    with source.open_binary() as raw:
        if raw.read(2) in _UTF16_BOMS:
            return False
    head = read_head(source, encoding=options.encoding)
    for line in io.StringIO(head, newline=None):
        stripped = line.strip()
        if not stripped:
            continue
        if not line.endswith("\n"):
            return False  # a first line longer than the head: leave the file whole
        return is_json_lines(stripped)
    return False


def _cuts(path: Path, block_bytes: int) -> list[int]:
    """Byte offsets where a range may start, about ``block_bytes`` apart (see the module doc)."""
    size = path.stat().st_size
    cuts: list[int] = []
    with open(path, "rb") as handle:
        nominal = block_bytes
        while nominal < size:
            handle.seek(nominal)
            window = handle.read(CUT_SEARCH_BYTES)
            cut = _first_clean_line_start(window)
            if cut is not None:
                offset = nominal + cut
                if offset < size and (not cuts or offset > cuts[-1]):
                    cuts.append(offset)
                nominal = max(offset, nominal) + block_bytes
            else:
                nominal += block_bytes
    return cuts


def _first_clean_line_start(window: bytes) -> int | None:
    """Offset in ``window`` just after a line feed where a whole, CR-free line parses as JSON."""
    position = window.find(b"\n")
    while position >= 0:
        start = position + 1
        end = window.find(b"\n", start)
        if end < 0:
            return None  # the line runs past the window: no proof it is whole
        line = window[start:end]
        if b"\r" not in line and line.strip():
            try:
                json.loads(line.decode("utf-8"))
                return start
            except ValueError:  # UnicodeDecodeError too
                pass
        position = end
    return None


# --------------------------------------------------------------------------------------------
# Tasks
# --------------------------------------------------------------------------------------------


class _RangeReader(io.RawIOBase):
    """Bytes ``[start, stop)`` of a file as a readable binary stream."""

    def __init__(self, path: str, start: int, stop: int):
        self._handle = open(path, "rb")
        self._handle.seek(start)
        self._left = stop - start

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        if self._left <= 0:
            return 0
        view = memoryview(buffer)[: min(len(buffer), self._left)]
        count = self._handle.readinto(view)
        self._left -= count
        return count

    def close(self) -> None:
        self._handle.close()
        super().close()


def _range_source(piece: _Piece) -> Source:
    path, start, stop = piece.source.name, piece.start, piece.stop
    return Source(piece.source.name, lambda: _RangeReader(path, start, stop))


def _count_lines(piece: _Piece) -> int:
    """Lines in the range as universal newlines count them: ``\\n``, ``\\r\\n`` and ``\\r``."""
    lines = 0
    previous_cr = False
    with _RangeReader(piece.source.name, piece.start, piece.stop) as stream:
        while block := stream.read(_READ_BLOCK_BYTES):
            crlf = block.count(b"\r\n") + (previous_cr and block[:1] == b"\n")
            lines += block.count(b"\n") + block.count(b"\r") - crlf
            previous_cr = block[-1:] == b"\r"
    return lines


def _read_piece(piece: _Piece, format_name: str, options: ReadOptions,
                format_options: Mapping[str, Mapping], staging: str) -> _Outcome:
    """Normalize one piece and stage its events by day (a worker task)."""
    stats = ReadStats()
    directory = Path(staging) / f"read-{piece.source_number:08d}-{piece.range_number:06d}"
    directory.mkdir()
    staged: list[tuple[str, str]] = []
    spec_name: str | None = None
    try:
        if piece.format_name is None:
            spec = _resolve(piece.source, format_name, options, stats, format_options)
            source = piece.source
        else:
            spec = _registry.FORMATS[piece.format_name]
            source = _range_source(piece)
        if spec is not None:
            spec_name = spec.name
            normalize = spec.normalize
            if format_options.get(spec.name):
                normalize = functools.partial(spec.normalize, **format_options[spec.name])
            sequence = 0
            for chunk in normalize_chunks(spec, source, options, stats, normalize):
                sequence += _stage(chunk, directory, sequence)
            report_stream_damage(source, options, stats)
    except InputFormatError as exc:
        # Returned, not raised: the run raises the first error in input order (_merge).
        return _Outcome(stats, spec_name, [], error=exc)
    for day_directory in sorted(p for p in directory.iterdir() if p.is_dir()):
        label = day_directory.name.split("=", 1)[1]
        staged.extend((label, str(p)) for p in sorted(day_directory.glob("*.arrow")))
    # Only the ranges after this one need its line count.
    lines = _count_lines(piece) if piece.start is not None else 0
    return _Outcome(stats, spec_name, staged, lines)


def _compact_day(label: str, files: Sequence[str], staging: str, dataset: str,
                 run_id: str) -> dict[str, dict]:
    """The local engine's compaction of one day, on that day's staged files in input order."""
    day_staging = Path(staging) / f"compact-{label}"
    directory = day_staging / f"{PARTITION_COLUMN}={label}"
    directory.mkdir(parents=True)
    for number, file in enumerate(files):
        os.replace(file, directory / f"part-{number:08d}.arrow")  # names fix the order
    return _compact(day_staging, Path(dataset), run_id)


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


def _merge(plans: list[_Plan], futures: Mapping[tuple[int, int], Any]
           ) -> tuple[ReadStats, list, dict[tuple[int, int], _Outcome]]:
    """The run's stats and ``per_source`` list, as the local engine builds them, and each
    piece's outcome; the first error in input order is raised here."""
    stats = ReadStats()
    per_source: list = []
    outcomes: dict[tuple[int, int], _Outcome] = {}
    for plan in plans:
        if plan.error is not None:
            raise plan.error
        source_stats = plan.stats if plan.stats is not None else ReadStats()
        format_name = plan.format_name
        lines_before = 0
        for piece in plan.pieces:
            key = (piece.source_number, piece.range_number)
            outcome = outcomes[key] = futures[key].result()  # raises what the task raised
            if outcome.error is not None:
                raise outcome.error
            piece_stats = outcome.stats
            if lines_before:
                for entry in piece_stats.quarantine:
                    entry["location"] = _shift_line(entry["location"], lines_before)
            lines_before += outcome.lines
            source_stats.merge(piece_stats)
            format_name = format_name or outcome.format_name
        per_source.append((plan.source.name, format_name, source_stats))
        stats.merge(source_stats)
    return stats, per_source, outcomes


def _shift_line(location: str, lines_before: int) -> str:
    return _LINE_LOCATION.sub(lambda match: f"line {int(match[1]) + lines_before}", location,
                              count=1)


# --------------------------------------------------------------------------------------------
# Reading a dataset
# --------------------------------------------------------------------------------------------


def read_dataset_dask(
    out_dir: str | os.PathLike,
    columns: Sequence[str] | None = None,
    filters: Any = None,
):
    """A dataset written by ``ingest`` as a Dask DataFrame of canonical events.

    Parameters
    ----------
    out_dir : path
        The dataset directory.
    columns : sequence of str, optional
        Canonical columns to load (default all).
    filters : list of tuples or pyarrow expression, optional
        Row filters as for :func:`~deliverability_econ.io.ingest.read_dataset`, e.g.
        ``[("date", ">=", "2024-06-01")]``.

    Returns
    -------
    dask.dataframe.DataFrame
        The requested columns with the dtypes of ``schema.EVENT_DTYPES``, lazily; partitions
        follow the files (so one day's events are never split across partitions of different
        days, but one message's events may be). Unlike the local reader, rows are not sorted
        across partitions; within a file they are sorted by ``timestamp`` then ``event_id``.
    """
    dd = import_dask_dataframe()
    directory = Path(out_dir)
    wanted = list(EVENT_COLUMNS) if columns is None else list(columns)
    unknown = [c for c in wanted if c not in EVENT_DTYPES and c != PARTITION_COLUMN]
    if unknown:
        raise ValueError(f"unknown columns {unknown}; known: {', '.join(EVENT_COLUMNS)}")
    meta = _canonical(pd.DataFrame(), wanted)
    if not any(directory.glob(f"{PARTITION_COLUMN}=*/*.parquet")):
        return dd.from_pandas(meta, npartitions=1)
    frame = dd.read_parquet(str(directory), columns=wanted, filters=filters,
                            dataset={"partitioning": _PARTITIONING})
    return frame.map_partitions(_canonical, wanted, meta=meta)


def _canonical(frame: pd.DataFrame, wanted: list[str]) -> pd.DataFrame:
    """``frame`` with the canonical dtypes of the ``wanted`` columns (as ``read_dataset``)."""
    events = coerce_events(frame.reset_index(drop=True).drop(
        columns=[c for c in frame.columns if c not in EVENT_DTYPES]))
    if PARTITION_COLUMN in wanted:
        # As read_dataset gives it: the day label as a string, like the other string columns.
        day = (frame[PARTITION_COLUMN] if PARTITION_COLUMN in frame.columns
               else pd.Series(index=frame.index, dtype=object))
        events[PARTITION_COLUMN] = pd.array(day.astype(object).to_numpy(),
                                            dtype=EVENT_DTYPES["message_id"])
    return events[wanted]
