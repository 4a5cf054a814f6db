"""Performance suite: every path against its peer, measured in the same run.

One command runs every benchmark of issue 8 and writes ``benchmarks/suite.md`` (Markdown, with
the machine, library versions, the date, the exact command and the load average around every
row) and ``benchmarks/_work/suite.csv`` (one row per measured path)::

    .venv/bin/python benchmarks/run_suite.py --quick        # small sizes, a few minutes
    .venv/bin/python benchmarks/run_suite.py                # full sizes, about 45 minutes
    .venv/bin/python benchmarks/run_suite.py --only scaling --sizes 1e6,4e6,16e6

Sections (``--only``):

- ``ingest``: throughput for every format. Inputs are written by the project's simulator
  (:func:`deliverability_econ.simulate.sender`, then :func:`~deliverability_econ.simulate.
  write_logs`); ours (``read_events`` + ``messages``, ``read_messages``, and streaming
  ``ingest`` to Parquet) against the plain pandas path (``read_json(lines=True)``, or ``json.loads`` +
  ``json_normalize``, or ``read_csv``, then a group-by on the format's message id) and DuckDB
  (``read_json`` / ``read_csv``, a regular expression for Postfix lines, and a group-by).
- ``aggregate``: ``messages`` and ``daily_cube`` on 10 million SendGrid events read from a
  Parquet dataset written by ``ingest``; peers: a pandas group-by on the events and a DuckDB
  group-by on the Parquet files.
- ``placement``: ``estimate_placement`` on a 365-day daily cube of a simulated sender, against
  the naive open-rate proxy ``naive_inbox_rate`` (there is no other peer).
- ``monte_carlo``: ``scenarios.simulate_option`` with 10,000 draws (as
  ``bench_scenarios.py``).
- ``scaling``: time and peak memory at 1, 4 and 16 million SendGrid events for the local
  streaming ingest (then messages from the dataset) and for the Dask engine on a
  ``LocalCluster`` of two workers when the package has it; a linear fit of time against size
  and a flatness check of the streaming path's memory.

Every path runs in a fresh subprocess (``--child``): imports and the Dask cluster start before
the clock; wall seconds come from ``time.perf_counter``; CPU seconds are every thread's user +
system time (and, for Dask, every worker's); peak memory is the child's peak resident set
(``VmHWM``: its ``ru_maxrss`` without the parent's image inherited at fork); for Dask, the
largest sum of resident memory over the child and its workers, sampled every 0.1 s.
The parent kills a child whose process tree grows above ``--memory-limit-gib`` (the machine is
shared) and records it.

Inputs are cached in ``benchmarks/_work/suite/`` (git-ignored) and reused across runs:
SendGrid files come in parts of one million events, so the 1M, 4M, 10M and 16M inputs are the
first 1, 4, 10 and 16 parts; the first six are ``bench_ingest_sendgrid.
generate_sendgrid_jsonl`` with seed ``20240601 + part``, later ones copies of those with every
id tagged (see :func:`sendgrid_parts`).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent
ROOT = BENCHMARKS.parent
WORK = BENCHMARKS / "_work" / "suite"
CSV_PATH = BENCHMARKS / "_work" / "suite.csv"
MARKDOWN_PATH = BENCHMARKS / "suite.md"

sys.path.insert(0, str(BENCHMARKS))
import _suite_lib as lib  # noqa: E402

SECTIONS = ("ingest", "aggregate", "placement", "monte_carlo", "scaling")
FORMATS = ("sendgrid", "ses", "mailgun", "postmark", "sparkpost", "mandrill", "brevo", "postfix",
           "csv")

#: Writer options of the simulated inputs (the writers' defaults, spelled out) and reader
#: options (the classic syslog lines carry no year).
WRITER_OPTIONS = {"sendgrid": {"layout": "jsonl"}, "ses": {"transport": "firehose"},
                  "mandrill": {"layout": "form"}, "postfix": {"syslog": "classic"}}
SIMULATION_START = "2026-03-02"
FORMAT_OPTIONS = {"postfix": {"year": 2026}}

#: Seed of the first SendGrid part; part ``i`` uses ``SENDGRID_SEED + i``.
SENDGRID_SEED = 20_240_601


class Settings:
    """Sizes of a run: the full suite, or ``--quick``."""

    def __init__(self, quick: bool, sizes: list[int] | None):
        self.quick = quick
        if quick:
            self.format_recipients, self.format_days = 2_000, 14
            self.aggregate_events = 200_000
            self.sizes = sizes or [100_000, 200_000, 400_000]
            self.placement_recipients = 3_000
            self.draws = 1_000
        else:
            self.format_recipients, self.format_days = 12_000, 30
            self.aggregate_events = 10_000_000
            self.sizes = sizes or [1_000_000, 4_000_000, 16_000_000]
            self.placement_recipients = 50_000
            self.draws = 10_000
        self.placement_days = 365
        self.part_events = math.gcd(self.aggregate_events, *self.sizes)


def size_label(n: int) -> str:
    """``1M``, ``250k``, ``16M``: short labels for event counts."""
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)


# ============================================================================================
# Inputs (generated once, cached under benchmarks/_work/suite/)
# ============================================================================================


def _load_sendgrid_generator() -> Callable:
    """``generate_sendgrid_jsonl`` from ``bench_ingest_sendgrid.py`` (imported by path)."""
    spec = importlib.util.spec_from_file_location(
        "_bench_ingest_sendgrid", BENCHMARKS / "bench_ingest_sendgrid.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate_sendgrid_jsonl


#: Parts written by the generator; later parts are copies of these with every id tagged
#: (:func:`_derive_part`): the generator runs at about 30,000 events/s on one core, too slow
#: for 16 million events on a shared machine, while a copy takes seconds.
GENERATED_PARTS = 6

#: The id fields a derived part tags: a tag before the id keeps every event id, message id and
#: SMTP id distinct from those of the part it copies (recipients repeat: the same audience).
_TAGGED_FIELDS = (b'"sg_event_id": "', b'"sg_message_id": "', b'"smtp-id": "<')


def _derive_part(source: Path, target: Path, tag: str) -> None:
    """Copy a SendGrid part, prefixing every event, message and SMTP id with ``tag``."""
    temporary = target.with_suffix(".tmp")
    with open(source, "rb") as reader, open(temporary, "wb") as writer:
        while True:
            lines = reader.readlines(64 * 2**20)
            if not lines:
                break
            block = b"".join(lines)
            for field in _TAGGED_FIELDS:
                block = block.replace(field, field + tag.encode("ascii"))
            writer.write(block)
    temporary.rename(target)


def sendgrid_parts(n_events: int, part_events: int) -> list[Path]:
    """The SendGrid input of ``n_events``: the first ``n_events / part_events`` part files.

    Part ``i`` below :data:`GENERATED_PARTS` is ``generate_sendgrid_jsonl`` with seed
    ``SENDGRID_SEED + i``; a later part copies part ``i % GENERATED_PARTS`` with its ids
    tagged ``c<i>-``. Parts are cached and reused.
    """
    if n_events % part_events:
        raise ValueError(f"{n_events} events is not a multiple of the part size {part_events}")
    WORK.mkdir(parents=True, exist_ok=True)
    paths = []
    generate = None
    for index in range(n_events // part_events):
        path = WORK / f"sendgrid_{size_label(part_events)}_part{index:02d}.jsonl"
        if not path.exists():
            started = time.perf_counter()
            if index < GENERATED_PARTS:
                generate = generate or _load_sendgrid_generator()
                temporary = path.with_suffix(".tmp")
                generate(temporary, part_events, seed=SENDGRID_SEED + index)
                temporary.rename(path)
            else:
                _derive_part(paths[index % GENERATED_PARTS], path, f"c{index}-")
            log(f"  wrote {path.name} in {time.perf_counter() - started:.0f} s")
        paths.append(path)
    return paths


def format_inputs(settings: Settings) -> dict[str, list[str]]:
    """Simulated logs in every format (written once per size, in a child process)."""
    directory = WORK / f"formats_{settings.format_recipients}x{settings.format_days}"
    marker = directory / "files.json"
    if not marker.exists():
        log(f"simulating {settings.format_recipients:,} recipients x {settings.format_days} "
            "days and writing every format (once) ...")
        prepare({"task": "prepare_formats", "directory": str(directory),
                   "recipients": settings.format_recipients, "days": settings.format_days},
                  timeout=3600)
    return json.loads(marker.read_text())


def aggregate_dataset(settings: Settings) -> Path:
    """A Parquet dataset of ``aggregate_events`` SendGrid events, written once by ``ingest``."""
    n = settings.aggregate_events
    directory = WORK / f"dataset_sendgrid_{size_label(n)}"
    marker = directory / "_suite_complete.json"
    if not marker.exists():
        files = sendgrid_parts(n, settings.part_events)
        shutil.rmtree(directory, ignore_errors=True)
        log(f"ingesting {n:,} events into {directory.name} (once) ...")
        prepare({"task": "prepare_dataset", "files": [str(p) for p in files],
                   "dataset": str(directory)}, timeout=7200)
    return directory


def placement_inputs(settings: Settings) -> Path:
    """A daily cube of a year of a simulated sender, and its calibration tables (once)."""
    directory = WORK / f"placement_{settings.placement_recipients}x{settings.placement_days}"
    if not (directory / "cube.parquet").exists():
        log(f"simulating {settings.placement_recipients:,} recipients x "
            f"{settings.placement_days} days for the placement cube (once) ...")
        prepare({"task": "prepare_placement", "directory": str(directory),
                   "recipients": settings.placement_recipients, "days": settings.placement_days},
                  timeout=3600)
    return directory


# ============================================================================================
# Child side: preparation tasks and measured paths
# ============================================================================================


class Unavailable(Exception):
    """The path cannot run here (e.g. the Dask engine is not in this version of the package)."""


def _prepare_formats(task: dict) -> dict:
    from deliverability_econ.simulate import sender, write_logs

    directory = Path(task["directory"])
    shutil.rmtree(directory, ignore_errors=True)
    result = sender(days=task["days"], recipients=task["recipients"], random_state=8,
                    start=SIMULATION_START)
    files = {}
    for name in FORMATS:
        written = write_logs(result, name, directory / name, **WRITER_OPTIONS.get(name, {}))
        files[name] = [str(p) for p in written]
    (directory / "files.json").write_text(json.dumps(files, indent=1))
    return {"records": len(result.events), "notes": "simulated events"}


def _prepare_dataset(task: dict) -> dict:
    from deliverability_econ.io.ingest import ingest

    summary = ingest(task["files"], task["dataset"], format="sendgrid", progress=False)
    Path(task["dataset"], "_suite_complete.json").write_text(json.dumps(summary, default=str))
    return {"records": summary["events"]}


def _prepare_placement(task: dict) -> dict:
    from deliverability_econ import daily_cube, messages
    from deliverability_econ.simulate import sender

    directory = Path(task["directory"])
    directory.mkdir(parents=True, exist_ok=True)
    start = "2025-06-02"  # a Monday; the year ends before today
    result = sender(days=task["days"], recipients=task["recipients"], random_state=11,
                    start=start)
    table = messages(result.events)
    cube = daily_cube(table, by=("mailbox_provider", "stream"))
    for name, frame in (("seed_tests", result.seed_tests), ("postmaster", result.postmaster),
                        ("snds", result.snds)):
        frame.to_parquet(directory / f"{name}.parquet")
    cube.to_parquet(directory / "cube.parquet")
    return {"records": len(result.events),
            "notes": f"{len(table):,} messages, {len(cube):,} cube rows"}


# --- ingest: ours -----------------------------------------------------------------------------


def _import_ours() -> None:
    import deliverability_econ  # noqa: F401
    import deliverability_econ.io.ingest  # noqa: F401


def _ours_read(task: dict) -> dict:
    from deliverability_econ import messages, read_events

    events, meta = read_events(task["files"], format=task["format"],
                               format_options=FORMAT_OPTIONS)
    table = messages(events)
    return {"records": meta["records_read"],
            "notes": f"{meta['events']:,} events, {len(table):,} messages, "
                     f"{meta['quarantined']:,} quarantined"}



def _ours_read_messages(task: dict) -> dict:
    from deliverability_econ import read_messages

    table, meta = read_messages(task["files"], format=task["format"], format_options=FORMAT_OPTIONS)
    return {"records": meta["records_read"],
            "notes": f"{meta['events']:,} events, {len(table):,} messages, "
                     f"{meta['quarantined']:,} quarantined"}

def _ours_ingest(task: dict) -> dict:
    from deliverability_econ.io.ingest import ingest

    out = Path(task["out"])
    shutil.rmtree(out, ignore_errors=True)
    try:
        summary = ingest(task["files"], out, format=task["format"], progress=False,
                         format_options=FORMAT_OPTIONS)
    finally:
        if not task.get("keep"):
            shutil.rmtree(out, ignore_errors=True)
    return {"records": summary["records_read"],
            "notes": f"{summary['events']:,} events, {summary['quarantined']:,} quarantined"}


# --- ingest: pandas ---------------------------------------------------------------------------


def _import_pandas() -> None:
    import pandas  # noqa: F401


def _pandas_group(frame, key: str, time_column: str | None = None) -> int:
    """The peer's group-by: events per message id (and the first time when there is one)."""
    aggregations = {"events": (key, "size")}
    if time_column is not None:
        aggregations["first"] = (time_column, "min")
    return len(frame.groupby(key, sort=False).agg(**aggregations))


def _json_lines(paths: list[str]) -> list:
    records = []
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            records.extend(json.loads(line) for line in handle if line.strip())
    return records


def _pandas_ingest(task: dict) -> dict:
    import pandas as pd

    name, paths = task["format"], task["files"]
    if name in ("sendgrid", "postmark", "brevo"):
        frame = pd.concat([pd.read_json(p, lines=True) for p in paths], ignore_index=True)
        key, when = {"sendgrid": ("sg_message_id", "timestamp"), "postmark": ("MessageID", None),
                     "brevo": ("message-id", "ts_epoch")}[name]
    elif name in ("ses", "mailgun"):
        frame = pd.json_normalize(_json_lines(paths))
        key, when = {"ses": ("mail.messageId", "mail.timestamp"),
                     "mailgun": ("event-data.message.headers.message-id",
                                 "event-data.timestamp")}[name]
    elif name == "sparkpost":
        # Each element is {"msys": {"<event class>": {...}}}: unwrap the class, then flatten.
        frame = pd.json_normalize([next(iter(element["msys"].values()))
                                   for batch in _json_lines(paths) for element in batch])
        key, when = "message_id", "timestamp"
    elif name == "mandrill":
        from urllib.parse import unquote_plus

        events = []
        for path in paths:
            with open(path, encoding="utf-8") as handle:
                for line in handle:
                    body = line.strip()
                    if body:
                        events.extend(json.loads(unquote_plus(body.partition("=")[2])))
        frame = pd.json_normalize(events)
        key, when = "_id", "ts"
    elif name == "postfix":
        lines = pd.concat([pd.read_csv(p, sep="\x01", header=None, names=["line"],
                                       quoting=3, dtype="string") for p in paths],
                          ignore_index=True)["line"]
        frame = lines.str.extract(
            r"^(?P<time>\w{3} +\d+ [\d:]+) (?P<host>\S+) (?P<process>[\w/-]+)\[\d+\]: "
            r"(?P<queue_id>[0-9A-F]{6,}): (?P<message>.*)$")
        frame = frame[frame["queue_id"].notna()]
        key, when = "queue_id", None
    elif name == "csv":
        frame = pd.concat([pd.read_csv(p) for p in paths], ignore_index=True)
        key, when = "message_id", "timestamp"
    else:
        raise ValueError(name)
    groups = _pandas_group(frame, key, when)
    return {"records": len(frame), "notes": f"{groups:,} message ids"}


# --- ingest: DuckDB ---------------------------------------------------------------------------


def _import_duckdb() -> None:
    import duckdb  # noqa: F401


def _import_duckdb_pandas() -> None:
    """DuckDB, and pandas, which DuckDB imports on the first ``.df()``."""
    import duckdb  # noqa: F401
    import pandas  # noqa: F401


def _sql_list(paths: list[str]) -> str:
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


def _duckdb_ingest(task: dict) -> dict:
    import duckdb

    name, files = task["format"], _sql_list(task["files"])
    ndjson = f"read_json({files}, format='newline_delimited', maximum_object_size=67108864)"
    # Whole lines as text, for the formats that are not one JSON object per line.
    lines = (f"read_csv({files}, columns={{'line': 'VARCHAR'}}, delim=chr(1), quote='', "
             "escape='', header=false, auto_detect=false, max_line_size=67108864)")
    source = {
        "sendgrid": f"SELECT sg_message_id AS id, timestamp AS t FROM {ndjson}",
        "ses": f"SELECT mail.messageId AS id, mail.timestamp AS t FROM {ndjson}",
        "mailgun": f"""SELECT "event-data".message.headers."message-id" AS id,
                              "event-data".timestamp AS t FROM {ndjson}""",
        "postmark": f"SELECT MessageID AS id, NULL AS t FROM {ndjson}",
        "brevo": f"""SELECT "message-id" AS id, ts_epoch AS t FROM {ndjson}""",
        "sparkpost": f"""SELECT unnest(json_extract_string(line, '$[*].msys.*.message_id')) AS id,
                                NULL AS t FROM {lines}""",
        "mandrill": f"""SELECT unnest(json_extract_string(
                                 url_decode(replace(substr(line, 17), '+', ' ')), '$[*]._id'))
                               AS id, NULL AS t FROM {lines}""",
        "postfix": f"""SELECT regexp_extract(line, '^\\w{{3}} +\\d+ [\\d:]+ \\S+ [\\w/-]+\\[\\d+\\]: '
                                                   || '([0-9A-F]{{6,}}): ', 1) AS id,
                              NULL AS t FROM {lines}""",
        "csv": f"SELECT message_id AS id, timestamp AS t FROM read_csv({files})",
    }[name]
    connection = duckdb.connect()
    records, groups = connection.execute(
        f"""WITH events AS (SELECT id::VARCHAR AS id, t FROM ({source})),
                 grouped AS (SELECT id, count(*) AS events, min(t) AS first
                             FROM events WHERE id IS NOT NULL AND id <> '' GROUP BY id)
            SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM grouped)"""
    ).fetchone()
    return {"records": records, "notes": f"{groups:,} message ids"}


# --- messages and daily cube on a dataset -------------------------------------------------------


def _import_aggregate() -> None:
    import deliverability_econ  # noqa: F401
    import deliverability_econ.io.ingest  # noqa: F401
    import deliverability_econ.messages  # noqa: F401


def _staged(stages: dict, name: str, started: float) -> float:
    now = time.perf_counter()
    stages[name] = now - started
    return now


def _stage_notes(stages: dict, extra: str = "") -> str:
    text = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in stages.items())
    return f"{text}; {extra}" if extra else text


def _aggregate_columns() -> list[str]:
    from deliverability_econ.messages import _EVENT_INPUT_COLUMNS

    return list(_EVENT_INPUT_COLUMNS)


def _cube_result(table, n_events: int, stages: dict, started: float) -> dict:
    """The last stage of our aggregate paths: the daily cube of ``table``, and the row."""
    from deliverability_econ import daily_cube

    cube = daily_cube(table)
    _staged(stages, "daily_cube", started)
    return {"records": n_events,
            "notes": _stage_notes(stages, f"{len(table):,} messages, {len(cube):,} cube rows")}


def _ours_in_memory(task: dict) -> dict:
    """The documented in-memory path: read_dataset (the needed columns), messages, daily_cube."""
    from deliverability_econ import messages
    from deliverability_econ.io.ingest import read_dataset

    stages: dict = {}
    started = time.perf_counter()
    events = read_dataset(task["dataset"], columns=_aggregate_columns())
    started = _staged(stages, "read", started)
    table = messages(events)
    n_events = len(events)
    del events
    started = _staged(stages, "messages", started)
    return _cube_result(table, n_events, stages, started)


def _ours_duck_messages(task: dict) -> dict:
    """``_duck_messages.messages_from_dataset`` (DuckDB groups the Parquet columns; the same
    table as ``messages(read_dataset(...))``), then ``daily_cube``."""
    from deliverability_econ._duck_messages import messages_from_dataset

    stages: dict = {}
    started = time.perf_counter()
    table = messages_from_dataset(task["dataset"])
    started = _staged(stages, "messages", started)
    return _cube_result(table, int(table["event_count"].sum()), stages, started)


def _import_duck_messages() -> None:
    _import_aggregate()
    if importlib.util.find_spec("deliverability_econ._duck_messages") is None:
        raise Unavailable("deliverability_econ._duck_messages is not in this version")
    import duckdb  # noqa: F401

    import deliverability_econ._duck_messages  # noqa: F401


def _day_partitions(dataset: str) -> list[str]:
    return sorted(p.name.split("=", 1)[1] for p in Path(dataset).glob("date=*") if p.is_dir())


def streaming_messages(dataset: str, combine_every: int = 8):
    """Messages from a day-partitioned dataset one day at a time: ``message_parts`` per day,
    ``combine_message_parts`` every few days (a message's opens arrive days after its send, so
    parts are merged, never counted twice), ``finalize_messages`` at the end."""
    from deliverability_econ.io.ingest import read_dataset
    from deliverability_econ.messages import (
        combine_message_parts,
        finalize_messages,
        message_parts,
    )

    columns = _aggregate_columns()
    parts, n_events = [], 0
    for day in _day_partitions(dataset):
        events = read_dataset(dataset, columns=columns, filters=[("date", "==", day)])
        n_events += len(events)
        parts.append(message_parts(events))
        del events
        if len(parts) > combine_every:
            parts = [combine_message_parts(parts)]
    return finalize_messages(combine_message_parts(parts)), n_events


def _ours_streaming(task: dict) -> dict:
    stages: dict = {}
    started = time.perf_counter()
    table, n_events = streaming_messages(task["dataset"])
    started = _staged(stages, "messages", started)
    return _cube_result(table, n_events, stages, started)


def _pandas_aggregate(task: dict) -> dict:
    """The pandas peer: a plain group-by of the events by message key, then by day and provider.

    With ``chunks`` > 1 the day partitions are read in that many groups, each grouped on its
    own, and the partial aggregates grouped again (min of minima, any of anys, sum of counts).
    """
    import pandas as pd
    import pyarrow.parquet as pq

    columns = ["message_id", "recipient", "timestamp", "event", "is_machine",
               "mailbox_provider", "bounce_class"]
    days = _day_partitions(task["dataset"])
    n_chunks = max(1, int(task.get("chunks", 1)))
    stages: dict = {}
    started = time.perf_counter()
    partials, n_events = [], 0
    for index in range(n_chunks):
        chosen = days[index::n_chunks]
        if not chosen:
            continue
        events = pq.read_table(task["dataset"], columns=columns,
                               filters=[("date", "in", chosen)]).to_pandas()
        n_events += len(events)
        event = events["event"]
        flags = pd.DataFrame({
            "message_id": events["message_id"], "recipient": events["recipient"],
            "timestamp": events["timestamp"], "mailbox_provider": events["mailbox_provider"],
            "delivered": event == "delivered",
            "bounced": event == "bounced",
            "dropped": event == "dropped",
            "opened_human": (event == "opened") & ~events["is_machine"].fillna(False),
            "opened_machine": (event == "opened") & events["is_machine"].fillna(False),
            "clicked": (event == "clicked") & ~events["is_machine"].fillna(False),
            "complained": event == "complained",
            "events": 1,
        })
        del events, event
        partials.append(flags.groupby(["message_id", "recipient"], sort=False).agg(
            sent_at=("timestamp", "min"), mailbox_provider=("mailbox_provider", "first"),
            delivered=("delivered", "any"), bounced=("bounced", "any"),
            dropped=("dropped", "any"), opened_human=("opened_human", "any"),
            opened_machine=("opened_machine", "any"), clicked=("clicked", "any"),
            complained=("complained", "any"), events=("events", "sum")))
        del flags
    table = pd.concat(partials) if len(partials) > 1 else partials[0]
    del partials
    if n_chunks > 1:
        table = table.groupby(level=[0, 1], sort=False).agg(
            sent_at=("sent_at", "min"), mailbox_provider=("mailbox_provider", "first"),
            delivered=("delivered", "any"), bounced=("bounced", "any"),
            dropped=("dropped", "any"), opened_human=("opened_human", "any"),
            opened_machine=("opened_machine", "any"), clicked=("clicked", "any"),
            complained=("complained", "any"), events=("events", "sum"))
    started = _staged(stages, "messages", started)
    table["date"] = table["sent_at"].dt.floor("D")
    table["messages"] = 1
    counts = ["messages", "delivered", "bounced", "dropped", "opened_human", "opened_machine",
              "clicked", "complained"]
    cube = table.groupby(["date", "mailbox_provider"], sort=True)[counts].sum()
    _staged(stages, "daily_cube", started)
    how = f"{n_chunks} chunks of day partitions" if n_chunks > 1 else "one frame"
    return {"records": n_events,
            "notes": _stage_notes(stages, f"{len(table):,} messages, {len(cube):,} cube rows, "
                                          f"{how}")}


def _duckdb_aggregate(task: dict) -> dict:
    import duckdb

    glob = str(Path(task["dataset"]) / "date=*" / "*.parquet").replace("'", "''")
    connection = duckdb.connect()
    stages: dict = {}
    started = time.perf_counter()
    connection.execute(f"""
        CREATE TEMP TABLE messages AS
        SELECT message_id, recipient,
               min(timestamp) AS sent_at,
               arg_min(mailbox_provider, timestamp) AS mailbox_provider,
               bool_or(event = 'delivered') AS delivered,
               bool_or(event = 'bounced') AS bounced,
               bool_or(event = 'dropped') AS dropped,
               bool_or(event = 'opened' AND NOT coalesce(is_machine, false)) AS opened_human,
               bool_or(event = 'opened' AND coalesce(is_machine, false)) AS opened_machine,
               bool_or(event = 'clicked' AND NOT coalesce(is_machine, false)) AS clicked,
               bool_or(event = 'complained') AS complained,
               count(*) AS events
        FROM read_parquet('{glob}', hive_partitioning = true)
        GROUP BY message_id, recipient""")
    n_messages, n_events = connection.execute(
        "SELECT count(*), sum(events) FROM messages").fetchone()
    started = _staged(stages, "messages", started)
    cube = connection.execute("""
        SELECT date_trunc('day', sent_at AT TIME ZONE 'UTC') AS date, mailbox_provider,
               count(*) AS messages, sum(delivered::INT) AS delivered,
               sum(bounced::INT) AS bounced, sum(dropped::INT) AS dropped,
               sum(opened_human::INT) AS opened_human, sum(opened_machine::INT) AS opened_machine,
               sum(clicked::INT) AS clicked, sum(complained::INT) AS complained
        FROM messages GROUP BY ALL ORDER BY ALL""").df()
    _staged(stages, "daily_cube", started)
    return {"records": int(n_events),
            "notes": _stage_notes(stages, f"{n_messages:,} messages, {len(cube):,} cube rows")}


# --- Dask ---------------------------------------------------------------------------------------


_CLUSTER: dict = {}


def _start_dask() -> None:
    """Import the package and start a LocalCluster of two single-threaded worker processes."""
    _import_aggregate()
    if importlib.util.find_spec("deliverability_econ._dask_engine") is None:
        raise Unavailable("deliverability_econ._dask_engine is not in this version")
    import dask.dataframe  # noqa: F401
    from dask.distributed import Client, LocalCluster

    import deliverability_econ._dask_engine  # noqa: F401
    import deliverability_econ.io._dask  # noqa: F401

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                           dashboard_address=None, memory_limit="6GiB")
    client = Client(cluster)
    # Workers import the package before the clock too (else the first tasks pay for it).
    for module in ("deliverability_econ.io._dask", "deliverability_econ._dask_engine",
                   "deliverability_econ.io.ingest", "deliverability_econ.messages",
                   "dask.dataframe", "duckdb", "pyarrow.parquet"):
        client.run(importlib.import_module, module)
    _CLUSTER["cluster"], _CLUSTER["client"] = cluster, client


def _stop_dask() -> None:
    if "client" in _CLUSTER:
        _CLUSTER.pop("client").close()
        _CLUSTER.pop("cluster").close()


def dask_ingest(files: list[str], out: str, client) -> dict:
    """The ingest on Dask: ``ingest(..., engine="dask", client=client)`` when the public
    function takes an engine, else ``io._dask.ingest_dask`` (the function it dispatches to)."""
    import inspect

    from deliverability_econ.io.ingest import ingest

    if "engine" in inspect.signature(ingest).parameters:
        return ingest(files, out, format="sendgrid", progress=False, engine="dask",
                      client=client)
    try:
        from deliverability_econ.io._dask import ingest_dask
    except ImportError as error:
        raise Unavailable(f"no Dask ingest in this version ({error})") from error
    return ingest_dask(files, out, format="sendgrid", progress=False, client=client)


def dask_messages(dataset: str, client):
    """The messages table of a dataset on Dask, kept on the workers (persisted).

    The public path: ``read_dataset(..., engine="dask")`` (the columns the table needs) then
    ``messages`` on the Dask DataFrame (per-partition parts, a shuffle by message id, combine
    and finalize); older versions: the engine module's functions. Returns the persisted Dask
    DataFrame.
    """
    import inspect

    from distributed import wait

    import deliverability_econ
    from deliverability_econ.io.ingest import read_dataset

    columns = _aggregate_columns()
    if "engine" in inspect.signature(read_dataset).parameters:
        table = deliverability_econ.messages(read_dataset(dataset, columns=columns,
                                                          engine="dask"))
    else:
        try:
            from deliverability_econ._dask_engine import messages_dask
            from deliverability_econ.io._dask import read_dataset_dask
        except ImportError as error:
            raise Unavailable(f"no Dask messages in this version ({error})") from error
        table = messages_dask(read_dataset_dask(dataset, columns=columns))
    table = client.persist(table)
    wait(table)
    return table


def dask_daily_cube(table):
    """``daily_cube`` of a Dask messages table (partial cubes on the workers, summed)."""
    import deliverability_econ

    return deliverability_econ.daily_cube(table)


def _dask_aggregate(task: dict) -> dict:
    client = _CLUSTER["client"]
    stages: dict = {}
    started = time.perf_counter()
    table = dask_messages(task["dataset"], client)
    n_messages, n_events = client.compute([table.shape[0], table["event_count"].sum()],
                                          sync=True)
    started = _staged(stages, "messages", started)
    cube = dask_daily_cube(table)
    _staged(stages, "daily_cube", started)
    return {"records": int(n_events),
            "notes": _stage_notes(stages, f"{int(n_messages):,} messages, {len(cube):,} cube "
                                          "rows")}


def _dask_scaling_ingest(task: dict) -> dict:
    out = Path(task["out"])
    shutil.rmtree(out, ignore_errors=True)
    summary = dask_ingest(task["files"], str(out), _CLUSTER["client"])
    return {"records": summary["records_read"], "notes": f"{summary['events']:,} events"}


def _dask_scaling_messages(task: dict) -> dict:
    client = _CLUSTER["client"]
    table = dask_messages(task["dataset"], client)
    n_messages, n_events = client.compute([table.shape[0], table["event_count"].sum()],
                                          sync=True)
    return {"records": int(n_events), "notes": f"{int(n_messages):,} messages"}


# --- scaling: local -----------------------------------------------------------------------------


def _local_scaling_messages(task: dict) -> dict:
    table, n_events = streaming_messages(task["dataset"])
    return {"records": n_events, "notes": f"{len(table):,} messages"}


# --- placement and Monte Carlo -------------------------------------------------------------------


def _import_placement() -> None:
    import deliverability_econ.placement  # noqa: F401


def _placement_inputs(directory: Path):
    import pandas as pd

    return {name: pd.read_parquet(directory / f"{name}.parquet")
            for name in ("cube", "seed_tests", "postmaster", "snds")}


def _placement(task: dict) -> dict:
    import warnings

    from deliverability_econ.placement import estimate_placement

    inputs = _placement_inputs(Path(task["directory"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table = estimate_placement(inputs["cube"], by="mailbox_provider", freq="W",
                                   seed_tests=inputs["seed_tests"],
                                   postmaster=inputs["postmaster"], snds=inputs["snds"],
                                   random_state=1)
    return {"records": len(inputs["cube"]),
            "notes": f"{len(table):,} provider-weeks, {int(inputs['cube']['messages'].sum()):,} "
                     "messages in the cube (records = cube rows); reading the inputs included"}


def _naive(task: dict) -> dict:
    from deliverability_econ.placement import naive_inbox_rate

    inputs = _placement_inputs(Path(task["directory"]))
    table = naive_inbox_rate(inputs["cube"], by="mailbox_provider", freq="W")
    return {"records": len(inputs["cube"]),
            "notes": f"{len(table):,} provider-weeks; reading the inputs included"}


def _import_scenarios() -> None:
    import deliverability_econ.scenarios  # noqa: F401


def _monte_carlo(task: dict) -> dict:
    from deliverability_econ.scenarios import simulate_option

    result = simulate_option("dedicated_ip", 3_000_000.0, horizon_months=24,
                             draws=task["draws"], random_state=1)
    draws, months, providers = result.monthly_inbox_rate.shape
    return {"records": draws,
            "notes": f"{draws:,} draws x {months} months x {providers} providers, daily inside"}


#: task name -> (setup before the clock, measured run, teardown after it).
TASKS: dict[str, tuple[Callable, Callable, Callable | None]] = {
    "prepare_formats": (_import_ours, _prepare_formats, None),
    "prepare_dataset": (_import_ours, _prepare_dataset, None),
    "prepare_placement": (_import_ours, _prepare_placement, None),
    "ours_read": (_import_ours, _ours_read, None),
    "ours_read_messages": (_import_ours, _ours_read_messages, None),
    "ours_ingest": (_import_ours, _ours_ingest, None),
    "pandas_ingest": (_import_pandas, _pandas_ingest, None),
    "duckdb_ingest": (_import_duckdb, _duckdb_ingest, None),
    "ours_in_memory": (_import_aggregate, _ours_in_memory, None),
    "ours_streaming": (_import_aggregate, _ours_streaming, None),
    "ours_duck_messages": (_import_duck_messages, _ours_duck_messages, None),
    "pandas_aggregate": (_import_pandas, _pandas_aggregate, None),
    "duckdb_aggregate": (_import_duckdb_pandas, _duckdb_aggregate, None),
    "dask_aggregate": (_start_dask, _dask_aggregate, _stop_dask),
    "local_scaling_ingest": (_import_ours, _ours_ingest, None),
    "local_scaling_messages": (_import_aggregate, _local_scaling_messages, None),
    "dask_scaling_ingest": (_start_dask, _dask_scaling_ingest, _stop_dask),
    "dask_scaling_messages": (_start_dask, _dask_scaling_messages, _stop_dask),
    "placement": (_import_placement, _placement, None),
    "naive": (_import_placement, _naive, None),
    "monte_carlo": (_import_scenarios, _monte_carlo, None),
}


class _TreeSampler:
    """Peak of the summed resident memory of this process and its descendants (Dask workers),
    sampled every ``interval`` seconds in a thread; and their CPU seconds."""

    def __init__(self, interval: float = 0.1):
        import psutil

        self._psutil = psutil
        self._me = psutil.Process()
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _processes(self) -> list:
        return [self._me, *self._me.children(recursive=True)]

    def cpu_seconds(self) -> float:
        total = 0.0
        for process in self._processes():
            try:
                times = process.cpu_times()
                total += times.user + times.system
            except self._psutil.Error:
                pass
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            total = 0
            for process in self._processes():
                try:
                    total += process.memory_info().rss
                except self._psutil.Error:
                    pass
            self.peak_bytes = max(self.peak_bytes, total)
            self._stop.wait(0.1)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def _peak_resident_mib(usage) -> float:
    """Peak resident memory of this process since it started [MiB].

    ``VmHWM`` of ``/proc/self/status`` where it exists: ``ru_maxrss`` also counts the parent's
    memory image, which the child briefly shares between fork and exec.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return usage.ru_maxrss / 1024  # KiB on Linux


def child_main(task: dict) -> None:
    """Run one task in this (fresh) process and print its measurement as the last stdout line."""
    setup, run, teardown = TASKS[task["task"]]
    try:
        setup()
    except Unavailable as reason:
        print(json.dumps({"status": f"skipped: {reason}"}))
        return
    tree = task["task"].startswith("dask_")
    before = resource.getrusage(resource.RUSAGE_SELF)
    sampler = _TreeSampler() if tree else None
    tree_cpu = sampler.cpu_seconds() if tree else 0.0
    started = time.perf_counter()
    try:
        if sampler:
            with sampler:
                result = run(task)
        else:
            result = run(task)
    except Unavailable as reason:
        print(json.dumps({"status": f"skipped: {reason}"}))
        return
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    if tree:
        cpu = sampler.cpu_seconds() - tree_cpu
        peak = sampler.peak_bytes / 2**20
        result["notes"] = (result.get("notes", "") + "; memory and CPU: client + 2 workers").lstrip(
            "; ")
    else:
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        peak = _peak_resident_mib(after)
    if teardown:
        teardown()
    print(json.dumps({"status": "ok", "wall_s": wall, "cpu_s": cpu, "peak_mib": peak, **result},
                     default=str))


# ============================================================================================
# Parent side
# ============================================================================================


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


_MEMORY_LIMIT_BYTES = [14 * 2**30]


def _watch(process: subprocess.Popen, state: dict) -> None:
    """Kill the child's process tree when its resident memory passes the limit."""
    import psutil

    try:
        root = psutil.Process(process.pid)
    except psutil.Error:
        return
    while process.poll() is None:
        total = 0
        try:
            members = [root, *root.children(recursive=True)]
        except psutil.Error:
            break
        for member in members:
            try:
                total += member.memory_info().rss
            except psutil.Error:
                pass
        state["tree_peak"] = max(state.get("tree_peak", 0), total)
        if total > _MEMORY_LIMIT_BYTES[0]:
            state["killed"] = total
            for member in reversed(members):
                try:
                    member.kill()
                except psutil.Error:
                    pass
            break
        time.sleep(0.5)


def prepare(task: dict, timeout: float) -> dict:
    """Run a preparation task in a child; raise if it did not succeed."""
    result = run_child(task, timeout=timeout)
    if result.get("status") != "ok":
        raise RuntimeError(f"preparing {task['task']} failed: {result.get('status')}")
    return result


def run_child(task: dict, timeout: float = 3600) -> dict:
    """Run ``task`` in a fresh interpreter; returns its measurement (or a failed status)."""
    process = subprocess.Popen([sys.executable, __file__, "--child", json.dumps(task)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               cwd=ROOT)
    state: dict = {}
    watcher = threading.Thread(target=_watch, args=(process, state), daemon=True)
    watcher.start()
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
        return {"status": f"failed: over the {timeout:.0f} s timeout"}
    watcher.join(timeout=2)
    if "killed" in state:
        return {"status": f"failed: killed at {state['killed'] / 2**30:.1f} GiB resident "
                          f"(limit {_MEMORY_LIMIT_BYTES[0] / 2**30:.0f} GiB)"}
    if process.returncode != 0:
        last = (stderr or "").strip().splitlines()[-1:] or ["no message"]
        log(stderr[-3000:])
        return {"status": f"failed: exit {process.returncode}: {last[0][:200]}"}
    return json.loads(stdout.strip().splitlines()[-1])


class Suite:
    """Runs rows, keeps them, and rewrites the CSV and the Markdown after each one."""

    def __init__(self, settings: Settings, command: str, previous: list[dict],
                 budget_minutes: float | None = None):
        self.settings = settings
        self.clock = time.monotonic()
        self.budget_s = budget_minutes * 60 if budget_minutes else None
        self.command = command
        self.rows: list[dict] = []
        self.previous = previous
        self.started = datetime.now(UTC)

    def measure(self, section: str, item: str, path: str, kind: str, task: dict,
                timeout: float = 3600) -> dict:
        load_before = os.getloadavg()[0]
        started = datetime.now(UTC)
        log(f"[{section}] {item}: {path} ...")
        elapsed = time.monotonic() - self.clock
        if self.budget_s is not None and elapsed > self.budget_s:
            result = {"status": f"skipped: the run's {self.budget_s / 60:.0f}-minute budget was "
                                "spent"}
        else:
            if self.budget_s is not None:
                timeout = max(60.0, min(timeout, self.budget_s - elapsed + 300))
            result = run_child(task, timeout=timeout)
        row = {"section": section, "item": item, "path": path, "kind": kind,
               "records": result.get("records"), "wall_s": result.get("wall_s"),
               "cpu_s": result.get("cpu_s"), "peak_mib": result.get("peak_mib"),
               "load_before": round(load_before, 2), "load_after": round(os.getloadavg()[0], 2),
               "status": result.get("status", "ok"), "notes": result.get("notes", ""),
               "started": started.strftime("%Y-%m-%d %H:%M UTC"),
               "mode": "quick" if self.settings.quick else "full"}
        if row["status"] == "ok":
            log(f"    {row['wall_s']:.2f} s wall, {row['cpu_s']:.2f} s CPU, "
                f"{row['peak_mib']:.0f} MiB; load {row['load_before']} -> {row['load_after']}")
        else:
            log(f"    {row['status']}")
        self.rows.append(row)
        self.save()
        return row

    def all_rows(self) -> list[dict]:
        """This run's rows, and those of an earlier run of the same mode not measured again."""
        def key(row):
            return row["section"], row["item"], row["path"]

        measured = {key(row) for row in self.rows}
        mode = "quick" if self.settings.quick else "full"
        kept = [row for row in self.previous
                if row.get("mode") == mode and key(row) not in measured]
        order = {name: index for index, name in enumerate(SECTIONS)}
        return sorted(kept + self.rows, key=lambda row: order.get(row["section"], 99))

    def save(self) -> None:
        rows = self.all_rows()
        lib.write_csv(rows, CSV_PATH)
        MARKDOWN_PATH.write_text(render_markdown(rows, self.settings, self.command, self.started))


# --- sections -----------------------------------------------------------------------------------


def run_ingest(suite: Suite, formats: list[str]) -> None:
    files = format_inputs(suite.settings)
    for name in formats:
        task = {"format": name, "files": files[name]}
        out = str(WORK / f"tmp_ingest_{name}")
        suite.measure("ingest", name, "ours: read_events + messages", "ours",
                      {"task": "ours_read", **task})
        suite.measure("ingest", name, "ours: read_messages", "ours",
                      {"task": "ours_read_messages", **task})
        suite.measure("ingest", name, "ours: ingest to Parquet", "ours",
                      {"task": "ours_ingest", "out": out, **task})
        suite.measure("ingest", name, PANDAS_LABELS[name], "pandas",
                      {"task": "pandas_ingest", **task})
        suite.measure("ingest", name, DUCKDB_LABELS[name], "duckdb",
                      {"task": "duckdb_ingest", **task})


PANDAS_LABELS = {
    "sendgrid": "pandas: read_json(lines) + groupby",
    "ses": "pandas: json.loads + json_normalize + groupby",
    "mailgun": "pandas: json.loads + json_normalize + groupby",
    "postmark": "pandas: read_json(lines) + groupby",
    "sparkpost": "pandas: json.loads + unwrap + json_normalize + groupby",
    "mandrill": "pandas: unquote + json.loads + json_normalize + groupby",
    "brevo": "pandas: read_json(lines) + groupby",
    "postfix": "pandas: read_csv(lines) + str.extract + groupby",
    "csv": "pandas: read_csv + groupby",
}
DUCKDB_LABELS = {
    **{name: "duckdb: read_json + group-by" for name in FORMATS},
    "sparkpost": "duckdb: read_csv(lines) + json_extract + unnest + group-by",
    "mandrill": "duckdb: read_csv(lines) + url_decode + json_extract + group-by",
    "postfix": "duckdb: read_csv(lines) + regexp_extract + group-by",
    "csv": "duckdb: read_csv + group-by",
}


def dask_available() -> bool:
    return importlib.util.find_spec("deliverability_econ._dask_engine") is not None


def run_aggregate(suite: Suite, use_dask: bool, pandas_chunks: int) -> None:
    dataset = str(aggregate_dataset(suite.settings))
    item = f"{size_label(suite.settings.aggregate_events)} events"
    suite.measure("aggregate", item, "ours: read_dataset + messages + daily_cube", "ours",
                  {"task": "ours_in_memory", "dataset": dataset})
    suite.measure("aggregate", item, "ours: messages per day partition (streaming) + daily_cube",
                  "ours", {"task": "ours_streaming", "dataset": dataset})
    suite.measure("aggregate", item, "ours: messages_from_dataset (DuckDB inside) + daily_cube",
                  "ours", {"task": "ours_duck_messages", "dataset": dataset})
    if use_dask:
        suite.measure("aggregate", item, "ours on Dask (2 workers): messages + daily_cube",
                      "dask", {"task": "dask_aggregate", "dataset": dataset})
    for chunks in dict.fromkeys([pandas_chunks, 4]):
        label = ("pandas: read_parquet + groupby + groupby" if chunks <= 1 else
                 f"pandas: read_parquet + groupby in {chunks} chunks + groupby")
        row = suite.measure("aggregate", item, label, "pandas",
                            {"task": "pandas_aggregate", "dataset": dataset, "chunks": chunks})
        if not row["status"].startswith("failed: killed"):
            break  # chunking only when the whole frame did not fit under the memory limit
    suite.measure("aggregate", item, "duckdb: read_parquet + group-by + group-by", "duckdb",
                  {"task": "duckdb_aggregate", "dataset": dataset})


def run_placement(suite: Suite) -> None:
    directory = str(placement_inputs(suite.settings))
    item = (f"{suite.settings.placement_days} days, {suite.settings.placement_recipients:,} "
            "recipients")
    suite.measure("placement", item, "ours: estimate_placement (weekly, seeds + Postmaster + SNDS)",
                  "ours", {"task": "placement", "directory": directory})
    suite.measure("placement", item, "proxy: naive_inbox_rate (weekly)", "proxy",
                  {"task": "naive", "directory": directory})


def run_monte_carlo(suite: Suite) -> None:
    suite.measure("monte_carlo", f"{suite.settings.draws:,} draws",
                  "ours: simulate_option(dedicated_ip, 24 months)", "ours",
                  {"task": "monte_carlo", "draws": suite.settings.draws})


def run_scaling(suite: Suite, engines: list[str]) -> None:
    """The scaling rows of the given engines (``local``, ``dask``), sizes ascending."""
    settings = suite.settings
    for engine in engines:
        for n in settings.sizes:
            files = [str(p) for p in sendgrid_parts(n, settings.part_events)]
            item = size_label(n)
            out = str(WORK / f"scaling_{engine}")
            if engine == "local":
                suite.measure("scaling", item, "local: streaming ingest", "ours",
                              {"task": "local_scaling_ingest", "format": "sendgrid",
                               "files": files, "out": out, "keep": True}, timeout=5400)
                suite.measure("scaling", item, "local: messages from the dataset (per day)",
                              "ours", {"task": "local_scaling_messages", "dataset": out},
                              timeout=3600)
            else:
                suite.measure("scaling", item, "dask: ingest", "dask",
                              {"task": "dask_scaling_ingest", "files": files, "out": out},
                              timeout=5400)
                suite.measure("scaling", item, "dask: messages", "dask",
                              {"task": "dask_scaling_messages", "dataset": out}, timeout=3600)
            shutil.rmtree(out, ignore_errors=True)


# --- the report ---------------------------------------------------------------------------------


def _ok(row: dict | None) -> bool:
    return bool(row) and row.get("status") == "ok" and bool(row.get("wall_s"))


def _per_second(row: dict, records: float | None = None) -> str:
    records = records if records is not None else row.get("records")
    if not _ok(row) or not records:
        return ""
    return f"{float(records) / float(row['wall_s']):,.0f}"


def _detail_table(rows: list[dict], rate_title: str = "records/s (wall)") -> str:
    body = []
    for row in rows:
        ok = _ok(row)
        body.append([
            row["item"], row["path"],
            lib.fmt_number(row.get("records"), 0) if row.get("records") is not None else "",
            lib.fmt_number(row["wall_s"]) if ok else "", lib.fmt_number(row["cpu_s"]) if ok else "",
            _per_second(row), lib.fmt_number(row["peak_mib"], 0) if ok else "",
            f"{row['load_before']} / {row['load_after']}",
            row.get("notes", "") if row.get("status") == "ok" else row.get("status"),
        ])
    return lib.markdown_table(
        ["item", "path", "records", "wall [s]", "CPU [s]", rate_title, "peak [MiB]",
         "load before / after", "notes"], body,
        [False, False, True, True, True, True, True, True, False])


def _find(rows: list[dict], item: str, kind: str, path_start: str = "") -> dict | None:
    """The first measured row of that item, kind and path prefix (else the first at all)."""
    matching = [row for row in rows if row["item"] == item and row["kind"] == kind
                and row["path"].startswith(path_start)]
    measured = [row for row in matching if _ok(row)]
    return (measured or matching or [None])[0]


def _ingest_summary(rows: list[dict]) -> str:
    body = []
    for name in FORMATS:
        read = _find(rows, name, "ours", "ours: read_events")
        direct = _find(rows, name, "ours", "ours: read_messages")
        ingest = _find(rows, name, "ours", "ours: ingest")
        pandas_row, duck = _find(rows, name, "pandas"), _find(rows, name, "duckdb")
        if not any((read, direct, ingest, pandas_row, duck)):
            continue
        records = read.get("records") if read else None

        def ratio(ours, peer, key):
            return lib.fmt_ratio(lib.speed_ratio(ours[key], peer[key])) \
                if _ok(ours) and _ok(peer) else ""

        body.append([
            name, lib.fmt_number(records, 0) if records else "",
            _per_second(read, records) if read else "",
            _per_second(direct, records) if direct else "",
            _per_second(ingest, records) if ingest else "",
            _per_second(pandas_row, records) if pandas_row else "",
            _per_second(duck, records) if duck else "",
            f"{ratio(read, pandas_row, 'wall_s')} / {ratio(read, pandas_row, 'cpu_s')}",
            f"{ratio(direct, pandas_row, 'wall_s')} / {ratio(direct, pandas_row, 'cpu_s')}",
            f"{ratio(ingest, pandas_row, 'wall_s')} / {ratio(ingest, pandas_row, 'cpu_s')}",
            f"{ratio(read, duck, 'wall_s')} / {ratio(read, duck, 'cpu_s')}",
            " / ".join(lib.fmt_number(r["peak_mib"], 0) if _ok(r) else "-"
                       for r in (read, direct, ingest, pandas_row, duck)),
        ])
    return lib.markdown_table(
        ["format", "records", "ours read+messages [rec/s]", "ours read_messages [rec/s]",
         "ours ingest [rec/s]", "pandas [rec/s]", "duckdb [rec/s]",
         "read+messages vs pandas (wall / CPU)", "read_messages vs pandas (wall / CPU)",
         "ingest vs pandas (wall / CPU)", "read+messages vs duckdb (wall / CPU)",
         "peak MiB: read / read_messages / ingest / pandas / duckdb"], body,
        [False, True, True, True, True, True, True, True, True, True, True, True])


def _scaling_summary(rows: list[dict]) -> str:
    """Per path: the linear fit of wall and of CPU time against size, and memory flatness."""
    paths: list[str] = []
    for row in rows:
        if row["path"] not in paths:
            paths.append(row["path"])
    body = []
    for path in paths:
        points = [r for r in rows if r["path"] == path and _ok(r) and r.get("records")]
        sizes = [float(r["records"]) for r in points]
        if len(set(sizes)) < 2:
            failed = [r["status"] for r in rows if r["path"] == path and not _ok(r)]
            body.append([path, "", "", "", "", "", "", "", "",
                         "not enough sizes measured" + (f": {failed[0]}" if failed else "")])
            continue
        memory = lib.memory_flatness(sizes, [float(r["peak_mib"]) for r in points])
        for measure, key in (("wall", "wall_s"), ("CPU", "cpu_s")):
            fit = lib.linear_fit(sizes, [float(r[key]) for r in points])
            body.append([
                path, measure,
                f"{fit.intercept:.1f} + {fit.slope * 1e6:.2f} n",
                f"{fit.r_squared:.3f}",
                f"{fit.max_relative_residual:.0%}",
                f"{fit.growth:.1f} (n x{fit.size_growth:.0f})",
                f"{fit.max_exponent:.2f}",
                "yes" if fit.linear else "no",
                f"x{memory.growth:.2f} ({memory.slope_per_unit * 1e6:+.0f} MiB per 1M events)"
                if measure == "wall" else "",
                ("flat" if memory.flat else "grows") if measure == "wall" else "",
            ])
    return lib.markdown_table(
        ["path", "time", "fit [s], n in millions of events", "R^2", "largest residual",
         "t(largest) / t(smallest)", "largest step exponent", "linear",
         "peak memory, largest / smallest size", "memory"], body,
        [False, False, False, True, True, True, True, False, False, False])


def _git_revision() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                              capture_output=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=ROOT, text=True, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "an unknown revision"
    return f"commit {head}" + (" plus uncommitted changes" if dirty.strip() else "")


def _range(values: list[float]) -> str:
    values = sorted(v for v in values if not math.isnan(v))
    if not values:
        return "n/a"
    if len(values) == 1:
        return lib.fmt_ratio(values[0])
    return (f"{lib.fmt_ratio(values[0])} to {lib.fmt_ratio(values[-1])} "
            f"(median {lib.fmt_ratio(values[len(values) // 2])})")


def _headlines(rows: list[dict]) -> list[str]:
    """The figures a closing note quotes, computed from the rows."""
    lines = []
    ingest = [r for r in rows if r["section"] == "ingest"]
    for ours_label, ours_prefix in (("read_events + messages", "ours: read_events"),
                                    ("read_messages", "ours: read_messages"),
                                    ("ingest to Parquet", "ours: ingest")):
        for peer_kind in ("pandas", "duckdb"):
            ratios = []
            for name in FORMATS:
                ours, peer = _find(ingest, name, "ours", ours_prefix), _find(ingest, name, peer_kind)
                if _ok(ours) and _ok(peer):
                    ratios.append(lib.speed_ratio(ours["cpu_s"], peer["cpu_s"]))
            if ratios:
                lines.append(f"- Ingest, {ours_label} vs {peer_kind} over {len(ratios)} formats "
                             f"(CPU time): {_range(ratios)}.")
    aggregate = [r for r in rows if r["section"] == "aggregate"]
    if aggregate:
        item = aggregate[0]["item"]
        for row in aggregate:
            if row["kind"] in ("ours", "dask") and _ok(row):
                parts = []
                for peer_kind in ("pandas", "duckdb"):
                    peer = _find(aggregate, item, peer_kind)
                    if _ok(peer):
                        parts.append(f"{lib.fmt_ratio(lib.speed_ratio(row['wall_s'], peer['wall_s']))}"
                                     f" vs {peer_kind}")
                lines.append(f"- {item}, {row['path']}: {row['wall_s']:.1f} s wall, "
                             f"{row['peak_mib']:,.0f} MiB peak; " + ", ".join(parts)
                             + " (wall).")
    scaling = [r for r in rows if r["section"] == "scaling"]
    for path in dict.fromkeys(r["path"] for r in scaling):
        points = [r for r in scaling if r["path"] == path and _ok(r) and r.get("records")]
        sizes = [float(r["records"]) for r in points]
        if len(set(sizes)) < 2:
            continue
        wall = lib.linear_fit(sizes, [float(r["wall_s"]) for r in points])
        cpu = lib.linear_fit(sizes, [float(r["cpu_s"]) for r in points])
        memory = lib.memory_flatness(sizes, [float(r["peak_mib"]) for r in points])
        lines.append(
            f"- Scaling, {path}: t(largest)/t(smallest) = {wall.growth:.1f} wall, "
            f"{cpu.growth:.1f} CPU for {wall.size_growth:.0f}x the events; "
            f"{'linear' if wall.linear else 'not linear'} in wall time, "
            f"{'linear' if cpu.linear else 'not linear'} in CPU time; peak memory "
            f"{min(float(r['peak_mib']) for r in points):,.0f}-"
            f"{max(float(r['peak_mib']) for r in points):,.0f} MiB "
            f"({'flat' if memory.flat else 'grows'}).")
    return lines


def render_markdown(rows: list[dict], settings: Settings, command: str,
                    started: datetime) -> str:
    def section(name: str) -> list[dict]:
        return [row for row in rows if row["section"] == name]

    dates = sorted({row.get("started", "") for row in rows if row.get("started")})
    span = f"{dates[0]} to {dates[-1]}" if dates else started.strftime("%Y-%m-%d %H:%M UTC")
    out = [
        "# Performance suite\n",
        "Written by `benchmarks/run_suite.py`; regenerate with (last run):\n",
        f"```\n{command}\n```\n",
        f"- **Date**: rows measured {span} (each row's start is in the CSV; a run with "
        "`--only` keeps the other rows of an earlier run of the same mode).",
        f"- **Machine**: {lib.machine_description()}; shared with other work, so the 1-minute "
        "load average before and after each row is given: above the core count, wall times "
        "stretch and CPU seconds are the steadier measure.",
        f"- **Versions**: {lib.library_versions()}; code at {_git_revision()}.",
        f"- **Mode**: {'quick (small sizes, for development)' if settings.quick else 'full'}.",
        "- **Method**: each path runs in a fresh Python process; imports (and the Dask cluster) "
        "happen before the clock; wall = `time.perf_counter`; CPU = user + system seconds of "
        "every thread (for Dask, of the client and both workers); peak memory = the child's "
        "peak resident set (`VmHWM`, i.e. `ru_maxrss` without the parent's image it shares "
        "between fork and exec; for Dask, the largest sampled sum of resident memory over client and "
        "workers). Speed ratios are `peer seconds / ours seconds`: above 1x ours is faster.\n",
        "Raw rows: `benchmarks/_work/suite.csv`.\n",
    ]
    headlines = _headlines(rows)
    if headlines:
        out += ["## Headlines\n", *headlines, ""]
    rows_ingest = section("ingest")
    if rows_ingest:
        out += [
            "## Ingest throughput, every format\n",
            f"Inputs: one simulated sender ({settings.format_recipients:,} recipients, "
            f"{settings.format_days} days, `simulate.sender` + `write_logs`) written in each "
            "format's wire shape. *records* = wire records ours read (events plus the records "
            "a format carries that are not events); every rate divides that same count. "
            "Ours = `read_events` (parse, validate, pseudonymize, de-duplicate, sort) + "
            "`messages`, or `read_messages` (the same messages table, the events staged in "
            "DuckDB; a clean SendGrid file aggregated in one DuckDB pass), or the streaming "
            "`ingest` to a Parquet dataset; the peers only parse "
            "and group by the format's message id, with no validation and no "
            "pseudonymization.\n",
            _ingest_summary(rows_ingest),
            "\n<details><summary>All ingest rows</summary>\n",
            _detail_table(rows_ingest),
            "</details>\n",
        ]
    rows_aggregate = section("aggregate")
    if rows_aggregate:
        item = rows_aggregate[0]["item"]
        peers = {kind: _find(rows_aggregate, item, kind) for kind in ("pandas", "duckdb")}
        ratios = []
        for row in rows_aggregate:
            if row["kind"] not in ("ours", "dask") or not _ok(row):
                continue
            cells = [row["path"]]
            for peer in peers.values():
                for key in ("wall_s", "cpu_s"):
                    cells.append(lib.fmt_ratio(lib.speed_ratio(row[key], peer[key]))
                                 if _ok(peer) else "")
            ratios.append(cells)
        ratio_table = lib.markdown_table(
            ["ours", "vs pandas, wall", "vs pandas, CPU", "vs duckdb, wall", "vs duckdb, CPU"],
            ratios, [False, True, True, True, True])
        out += [
            "## messages and daily_cube on a Parquet dataset\n",
            f"The dataset: {settings.aggregate_events:,} SendGrid events (bench_ingest_sendgrid's "
            "generator) written by `ingest` (day partitions). Ours builds the full messages "
            "table (outcome precedence, first values of every key column, latencies, human vs "
            "machine engagement) then the cube by day and mailbox provider; the peers compute "
            "a simpler table (first time, first provider, any-of flags, event count) with "
            "plain group-bys. Stage times are in the notes.\n",
            _detail_table(rows_aggregate, "events/s (wall)"),
            "\nSpeed ratios (peer seconds / ours seconds; above 1x ours is faster):\n",
            ratio_table,
        ]
    rows_placement = section("placement")
    if rows_placement:
        out += [
            "## Placement on a year of data\n",
            f"A daily cube (by mailbox provider and stream) of a simulated sender over "
            f"{settings.placement_days} days; `estimate_placement` weekly per provider with the "
            "sender's seed tests, Postmaster and SNDS tables and 4,000 draws. No peer does "
            "this; the naive open-rate proxy (what a dashboard shows) is timed for scale. "
            "*records* = cube rows.\n",
            _detail_table(rows_placement, "cube rows/s"),
        ]
    rows_mc = section("monte_carlo")
    if rows_mc:
        out += [
            "## Monte Carlo\n",
            "`scenarios.simulate_option('dedicated_ip', 3,000,000 messages/month, 24 months)`, "
            "as `bench_scenarios.py`; no peer. *records* = draws.\n",
            _detail_table(rows_mc, "draws/s"),
        ]
    rows_scaling = section("scaling")
    if rows_scaling:
        out += [
            "## Scaling curve\n",
            "SendGrid events (parts of bench_ingest_sendgrid's generator) at "
            + ", ".join(size_label(n) for n in settings.sizes)
            + ". Local: the streaming `ingest` to Parquet, then the messages table from the "
            "dataset one day partition at a time (`message_parts`, `combine_message_parts`, "
            "`finalize_messages`). Dask: the same on a `LocalCluster` of 2 single-threaded "
            "workers, when the package has the Dask engine.\n",
            _detail_table(rows_scaling, "events/s (wall)"),
            "\nLinear growth: least-squares `t = a + b n`, for wall and for CPU time (the "
            "steadier one when the load average is above the core count); *linear* when "
            "R^2 >= 0.98 and no step between consecutive sizes grows faster than n^1.2 (step "
            "exponent `log(t2/t1) / log(n2/n1)`: 1 for a line through the origin, below 1 "
            "while a fixed cost weighs, 2 for quadratic growth). Memory is *flat* when the "
            "peak at the largest size is at most 1.5x the peak at the smallest (the sizes grow "
            "16x in the full run).\n",
            _scaling_summary(rows_scaling),
        ]
    return "\n".join(out) + "\n"


# --- main ---------------------------------------------------------------------------------------


def _parse_sizes(text: str) -> list[int]:
    return [int(float(part)) for part in text.split(",") if part.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a few minutes)")
    parser.add_argument("--sizes", type=_parse_sizes,
                        help="scaling sizes in events, e.g. 1e6,4e6,16e6")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these sections")
    parser.add_argument("--formats", type=lambda s: s.split(","), default=list(FORMATS),
                        help="ingest formats, comma-separated (default all)")
    parser.add_argument("--no-dask", action="store_true", help="skip the Dask rows")
    parser.add_argument("--pandas-chunks", type=int, default=None,
                        help="day-partition chunks of the pandas aggregate peer (default 1: "
                             "one frame; 4 chunks are tried when one frame is killed by the "
                             "memory limit)")
    parser.add_argument("--budget-minutes", type=float, default=None,
                        help="skip (and record as skipped) the rows that would start after "
                             "this many minutes; a running row may overrun it by 5 minutes")
    parser.add_argument("--prepare-only", action="store_true",
                        help="write the cached inputs of the chosen sections, measure nothing")
    parser.add_argument("--memory-limit-gib", type=float, default=14.0,
                        help="kill a child whose process tree exceeds this [GiB]")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child_main(json.loads(args.child))
        return 0

    _MEMORY_LIMIT_BYTES[0] = int(args.memory_limit_gib * 2**30)
    unknown = set(args.formats) - set(FORMATS)
    if unknown:
        parser.error(f"unknown formats {sorted(unknown)}; known: {', '.join(FORMATS)}")
    settings = Settings(args.quick, args.sizes)
    command = ".venv/bin/python benchmarks/run_suite.py" + "".join(
        f" {arg}" for arg in (argv if argv is not None else sys.argv[1:]))
    previous = lib.read_csv(CSV_PATH) if CSV_PATH.exists() and args.only else []
    previous = [row for row in previous if row.get("section") in SECTIONS]
    suite = Suite(settings, command, previous, args.budget_minutes)
    use_dask = not args.no_dask and dask_available()
    if not args.no_dask and not use_dask:
        log("the Dask engine (deliverability_econ._dask_engine) is not available: no Dask rows")
    pandas_chunks = args.pandas_chunks or 1
    sections = args.only or list(SECTIONS)
    log(f"{lib.machine_description()}; load {os.getloadavg()[0]:.2f}; sections: "
        f"{', '.join(sections)}")
    if args.prepare_only:
        if "ingest" in sections:
            format_inputs(settings)
        if "aggregate" in sections:
            aggregate_dataset(settings)
        if "placement" in sections:
            placement_inputs(settings)
        if "scaling" in sections:
            for n in settings.sizes:
                sendgrid_parts(n, settings.part_events)
        return 0
    # Cheap sections first, and the local scaling curve before the 10M aggregates and Dask,
    # so that a run cut short by --budget-minutes still has the figures that matter most.
    if "placement" in sections:
        run_placement(suite)
    if "monte_carlo" in sections:
        run_monte_carlo(suite)
    if "ingest" in sections:
        run_ingest(suite, args.formats)
    if "scaling" in sections:
        run_scaling(suite, ["local"])
    if "aggregate" in sections:
        run_aggregate(suite, use_dask, pandas_chunks)
    if "scaling" in sections and use_dask:
        run_scaling(suite, ["dask"])
    suite.save()
    log(f"wrote {MARKDOWN_PATH.relative_to(ROOT)} and {CSV_PATH.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
