"""SendGrid ingest benchmark: our reader against pandas and DuckDB, measured in the same run.

Generates an N-event SendGrid Event Webhook file in JSON lines (as a webhook consumer stores it)
under ``benchmarks/_work/``, then times each path in a fresh subprocess and reads its peak
resident memory (``ru_maxrss`` of the child), in ``--repeat`` rounds (the median run counts):

- ``ours: read_messages``: :func:`deliverability_econ.read_messages`, the export straight to
  the messages table (a clean SendGrid file is parsed, checked and aggregated by DuckDB in one
  pass per file; no events table);
- ``ours: ingest + messages (DuckDB)``: the whole job, timed as one: streaming
  :func:`deliverability_econ.io.ingest` of the file to a day-partitioned Parquet dataset, then
  the messages table of that dataset aggregated by DuckDB
  (:func:`deliverability_econ._duck_messages.messages_from_dataset`, identical to
  ``messages(read_dataset(...))``);
- ``ours: read_messages, .gz`` and ``pandas: read_json + groupby, .gz`` (not run by default):
  the same on a gzip copy of the file (level 1, made once);
- ``ours: read_events + messages``: :func:`deliverability_econ.read_events` then the messages
  table (see :func:`messages_table`), everything in memory;
- ``ours: ingest to Parquet``: the streaming ingest alone; memory is bounded by the block size,
  not the file size;
- ``ours: read_dataset + messages``: the dataset read back as pandas and turned into messages;
- ``pandas: read_json + groupby``: ``pandas.read_json(lines=True)`` and a group-by on
  ``sg_message_id``;
- ``duckdb: read_json + group-by``: the same group-by in DuckDB;
- ``duckdb: extract our 17 fields``: DuckDB turning the 17 fields our reader needs into
  columns, nothing else: the floor of any reader of those fields;
- ``duckdb: messages table, nothing checked``: the cheapest messages table DuckDB makes of
  the file on its own (see :func:`run_duckdb_messages`): the floor of any exact reader built on
  DuckDB;
- ``duckdb: bare parse + count``: DuckDB parsing every line and counting rows, the floor the
  targets are set against.

Run from the repository root::

    .venv/bin/python benchmarks/bench_ingest_sendgrid.py              # 2,000,000 events, 3 rounds
    .venv/bin/python benchmarks/bench_ingest_sendgrid.py --events 200000 --paths ours_ingest_messages duckdb_count

Figures go to stdout as a Markdown table (paste into ``benchmarks/README.md``).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import random
import resource
import subprocess
import sys
import time
from pathlib import Path

WORK_DIR = Path(__file__).resolve().parent / "_work"

#: Recipient domains and their share of the audience [fraction 0-1], a B2C-leaning list.
RECIPIENT_DOMAINS: dict[str, float] = {
    "gmail.com": 0.42,
    "yahoo.com": 0.10,
    "hotmail.com": 0.08,
    "outlook.com": 0.07,
    "icloud.com": 0.09,
    "aol.com": 0.03,
    "gmx.de": 0.03,
    "comcast.net": 0.02,
    "acme-corp.com": 0.08,
    "example-university.edu": 0.08,
}

CATEGORIES = ["onboarding", "password_reset", "weekly_digest", "receipt", "promo"]

#: Realistic receiver responses (delivered / deferred), bounce reasons and drop reasons.
DELIVERED_RESPONSES = {
    "gmail.com": "250 2.0.0 OK  {ts} {token}.{n} - gsmtp",
    "yahoo.com": "250 ok dirdel",
    "hotmail.com": "250 2.6.0 <{token}@ismtpd0001p1las1.sendgrid.net> [InternalId={n}] Queued mail for delivery",
    "outlook.com": "250 2.6.0 <{token}@ismtpd0001p1las1.sendgrid.net> [InternalId={n}] Queued mail for delivery",
    "icloud.com": "250 2.0.0 Ok: queued as {token}",
    "default": "250 OK",
}
DEFERRED_RESPONSES = [
    "421 4.7.0 [TSS04] Messages from 167.89.0.12 temporarily deferred due to user complaints",
    "451 4.7.1 Please try again later",
    "452 4.2.2 The email account that you tried to reach is over quota.",
]
BOUNCES = [
    # (type, status, reason, classification)
    ("bounce", "5.1.1", "550 5.1.1 The email account that you tried to reach does not exist.",
     "Invalid Address"),
    ("bounce", "5.1.1", "550 5.1.1 <{email}>: Recipient address rejected: User unknown",
     "invalid"),
    ("blocked", "5.7.1", "554 5.7.1 Service unavailable; Client host [167.89.0.12] blocked",
     "Reputation"),
    ("blocked", "4.7.0", "421 4.7.0 Try again later, closing connection.",
     "Frequency or Volume Too High"),
    ("bounce", "5.2.2", "552 5.2.2 Mailbox full", "Mailbox Unavailable"),
]
DROP_REASONS = ["Bounced Address", "Unsubscribed Address", "Spam Reporting Address", "Invalid"]
USER_AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148",
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
]


# --------------------------------------------------------------------------------------------
# The input
# --------------------------------------------------------------------------------------------


def generate_sendgrid_jsonl(path: Path, n_events: int, *, seed: int = 20_240_601) -> int:
    """Write about ``n_events`` SendGrid webhook events as JSON lines.

    Messages carry about five events each: ``processed``, then ``delivered`` (95 %), with some
    ``deferred`` retries, ``bounce`` (``type`` bounce or blocked, with a bounce classification),
    ``dropped``; human opens, Apple MPP machine opens (``sg_machine_open``), clicks and a few
    spam reports and unsubscribes. ``category`` is a string on some messages and a list on
    others; custom arguments sit at the top level; ``pool`` is set on ``processed``.

    Parameters
    ----------
    path : Path
        Output file.
    n_events : int
        Target number of events; the file holds exactly this many lines.
    seed : int
        Seed of the generator.

    Returns
    -------
    int
        Bytes written.
    """
    rng = random.Random(seed)
    domains = list(RECIPIENT_DOMAINS)
    n_recipients = max(10, n_events // 12)
    recipient_domain = rng.choices(domains, weights=list(RECIPIENT_DOMAINS.values()),
                                   k=n_recipients)
    start = 1_717_200_000  # 2024-06-01T00:00:00Z
    span_s = 30 * 86_400
    written = 0
    lines = 0
    message_number = 0
    dumps = json.dumps
    randint, rand, choice = rng.randint, rng.random, rng.choice

    def event_id() -> str:
        return base64.urlsafe_b64encode(rng.randbytes(16)).decode("ascii")

    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        buffer: list[str] = []
        while lines < n_events:
            message_number += 1
            recipient = randint(0, n_recipients - 1)
            domain = recipient_domain[recipient]
            email = f"user{recipient}@{domain}"
            t = start + randint(0, span_s)
            token = base64.b32encode(rng.randbytes(10)).decode("ascii").lower()[:14]
            smtp_local = f"{token[:11]}.{message_number % 4096:x}.{message_number:x}"
            sg_message_id = (f"{smtp_local}.filter0{randint(1, 999):03d}.{randint(10000, 99999)}"
                             ".5515E0B88.0")
            category: object
            if rand() < 0.5:
                category = choice(CATEGORIES)
            else:
                category = rng.sample(CATEGORIES, 2)
            common = {
                "email": email,
                "smtp-id": f"<{smtp_local}@ismtpd-{randint(100, 999)}>",
                "sg_message_id": sg_message_id,
                "category": category,
                "userid": str(randint(1, 10_000_000)),
            }
            events: list[dict] = []

            def add(name: str, when: int, common=common, events=events, **fields: object) -> None:
                events.append({"event": name, "timestamp": when, **common, **fields,
                               "sg_event_id": event_id()})

            add("processed", t, pool={"name": "transactional", "id": 210})
            outcome = rand()
            if outcome < 0.02:
                add("dropped", t + 1, reason=choice(DROP_REASONS), status="5.0.0")
            else:
                retries = randint(1, 2) if rand() < 0.08 else 0
                for attempt in range(1, retries + 1):
                    t += randint(60, 900)
                    add("deferred", t, ip="167.89.0.12", attempt=str(attempt), tls=1,
                        response=choice(DEFERRED_RESPONSES))
                t += randint(1, 30)
                if outcome < 0.05:
                    kind, status, reason, classification = choice(BOUNCES)
                    add("bounce", t, ip="167.89.0.12", type=kind, status=status, tls=1,
                        reason=reason.format(email=email), bounce_classification=classification)
                else:
                    response = DELIVERED_RESPONSES.get(domain, DELIVERED_RESPONSES["default"])
                    add("delivered", t, ip="167.89.0.12", tls=1,
                        response=response.format(ts=t, token=token, n=message_number))
                    if domain == "icloud.com" and rand() < 0.9:
                        # Apple Mail Privacy Protection fetches the pixel within seconds.
                        add("open", t + randint(2, 60), sg_machine_open=True, ip="17.58.0.1",
                            useragent="Mozilla/5.0")
                    n_opens = 0
                    while rand() < 0.62:
                        n_opens += 1
                        t += randint(30, 86_400)
                        add("open", t, sg_machine_open=False, ip="203.0.113.7",
                            useragent=choice(USER_AGENTS))
                    if n_opens and rand() < 0.35:
                        t += randint(5, 600)
                        add("click", t, ip="203.0.113.7", url="https://example.com/welcome?u=1",
                            url_offset={"index": 0, "type": "html"}, useragent=USER_AGENTS[0])
                    if rand() < 0.002:
                        add("spamreport", t + 30)
                    elif rand() < 0.004:
                        add("unsubscribe", t + 30)
            take = events[: n_events - lines]
            buffer.extend(dumps(record) for record in take)
            lines += len(take)
            if len(buffer) >= 20_000:
                written += handle.write("\n".join(buffer) + "\n")
                buffer = []
        if buffer:
            written += handle.write("\n".join(buffer) + "\n")
    return written


# --------------------------------------------------------------------------------------------
# The measured paths (each runs in its own subprocess; imports happen before the clock starts)
# --------------------------------------------------------------------------------------------


def messages_table(events):
    """The messages table: ``deliverability_econ.messages`` when the package exports it, else a
    stand-in (a group-by on ``message_id`` with send time, provider and event count)."""
    import deliverability_econ

    messages = getattr(deliverability_econ, "messages", None)
    if callable(messages):
        return messages(events)
    flags = events[["message_id", "timestamp", "mailbox_provider", "event"]]
    return flags.groupby("message_id", observed=True, sort=False).agg(
        sent=("timestamp", "min"),
        mailbox_provider=("mailbox_provider", "first"),
        events=("event", "size"),
    )


def import_ours() -> None:
    import deliverability_econ  # noqa: F401
    import deliverability_econ.io.ingest  # noqa: F401


def import_ours_duck() -> None:
    import_ours()
    import duckdb  # noqa: F401

    import deliverability_econ._duck_messages  # noqa: F401


def import_pandas() -> None:
    import pandas  # noqa: F401


def import_duckdb() -> None:
    import duckdb  # noqa: F401


def run_ours_read(path: str) -> dict:
    from deliverability_econ import read_events

    events, meta = read_events(path)
    messages = messages_table(events)
    return {"events": meta["events"], "messages": len(messages)}


def run_ours_read_messages(path: str) -> dict:
    """Exports straight to the messages table: :func:`deliverability_econ.read_messages`, which
    parses and aggregates a clean SendGrid file in one DuckDB pass (no events table)."""
    from deliverability_econ import read_messages

    messages, meta = read_messages(path)
    return {"events": meta["events"], "messages": len(messages)}



def gzip_copy(path: str) -> str:
    """The file gzip-compressed (level 1, as log shippers do), made once next to it."""
    import gzip
    import shutil

    target = Path(f"{path}.gz")
    if not target.exists():
        temporary = target.with_suffix(".tmp")
        with open(path, "rb") as source, gzip.open(temporary, "wb", compresslevel=1) as sink:
            shutil.copyfileobj(source, sink, 16 * 1024 * 1024)
        temporary.rename(target)
    return str(target)


def run_ours_read_messages_gz(path: str) -> dict:
    """read_messages of the gzip-compressed file (DuckDB decompresses it for its pass; Python
    decompresses it beside, for the raw-byte checks and the line count)."""
    return run_ours_read_messages(gzip_copy(path))


def run_pandas_gz(path: str) -> dict:
    return run_pandas(gzip_copy(path))

def run_ours_ingest(path: str) -> dict:
    import shutil

    from deliverability_econ.io.ingest import ingest

    out = WORK_DIR / "dataset"
    shutil.rmtree(out, ignore_errors=True)
    summary = ingest([path], out, progress=False)
    return {"events": summary["events"], "messages": None}


def run_ours_ingest_messages(path: str) -> dict:
    """The whole job: streaming ingest to Parquet, then the messages table by DuckDB."""
    import shutil

    from deliverability_econ._duck_messages import messages_from_dataset
    from deliverability_econ.io.ingest import ingest

    out = WORK_DIR / "dataset_and_messages"
    shutil.rmtree(out, ignore_errors=True)
    summary = ingest([path], out, progress=False)
    messages = messages_from_dataset(out)
    return {"events": summary["events"], "messages": len(messages)}


def run_ours_dataset_messages(path: str) -> dict:
    from deliverability_econ.io.ingest import read_dataset

    events = read_dataset(WORK_DIR / "dataset")
    messages = messages_table(events)
    return {"events": len(events), "messages": len(messages)}


def run_pandas(path: str) -> dict:
    import pandas as pd

    frame = pd.read_json(path, lines=True)
    messages = frame.groupby("sg_message_id", sort=False).agg(
        sent=("timestamp", "min"), events=("event", "size"))
    return {"events": len(frame), "messages": len(messages)}


def run_duckdb_groupby(path: str) -> dict:
    import duckdb

    count = duckdb.connect().execute(
        f"""SELECT count(*) FROM (
              SELECT sg_message_id, min(timestamp) AS sent, count(*) AS events
              FROM read_json('{path}', format='newline_delimited')
              GROUP BY sg_message_id)"""
    ).fetchall()[0][0]
    return {"events": None, "messages": count}


#: The fields the SendGrid reader reads (``io/_fast._TEXT_FIELDS`` and ``_JSON_FIELDS``).
SENDGRID_FIELDS = ("event", "timestamp", "email", "sg_event_id", "sg_message_id", "smtp-id", "ip",
                   "stream", "marketing_campaign_name", "type", "bounce_classification", "status",
                   "reason", "response", "pool", "category", "sg_machine_open")


def run_duckdb_fields(path: str) -> dict:
    """DuckDB extracting the 17 fields our reader needs (and touching every value): the floor
    of any reader of those fields, before normalization, validation or writing."""
    import duckdb

    columns = "{" + ", ".join(f"\"{name}\": 'VARCHAR'" for name in SENDGRID_FIELDS) + "}"
    total = " + ".join(f"coalesce(strlen(\"{name}\"), 0)" for name in SENDGRID_FIELDS)
    count = duckdb.connect().execute(
        f"SELECT count(*), sum({total}) FROM read_json('{path}', format='newline_delimited', "
        f"columns={columns})"
    ).fetchall()[0][0]
    return {"events": count, "messages": None}


def run_duckdb_messages(path: str) -> dict:
    """The cheapest messages table DuckDB makes of the file on its own, checking nothing: the
    fields the table needs, grouped by message id (before ``.filter``) and lower-cased address,
    with the times, the earliest key values, the outcome bits and the counts,
    one SHA-256 per address and the sort, to pandas (Arrow-backed columns, the cheapest
    conversion). A floor for any exact reader built on DuckDB: it skips every check that keeps
    a record the per-record path would read otherwise, the duplicate events, the HMAC key, the
    providers and the dtypes of the messages table."""
    import duckdb
    import pandas as pd

    columns = ("{event: 'VARCHAR', timestamp: 'BIGINT', email: 'VARCHAR', "
               "sg_message_id: 'VARCHAR', ip: 'VARCHAR', pool: 'VARCHAR', category: 'VARCHAR', "
               "stream: 'VARCHAR', type: 'VARCHAR', sg_machine_open: 'BOOLEAN'}")
    keys = ", ".join(f"min({{'t': timestamp, 'v': {name}}}) FILTER (WHERE {name} IS NOT NULL) AS {name}"
                     for name in ("ip", "pool", "category", "stream"))
    connection = duckdb.connect()
    frame = connection.sql(f"""
        WITH e AS (SELECT * FROM read_json('{path}', format='newline_delimited', columns={columns})),
        m AS (
          SELECT split_part(sg_message_id, '.filter', 1) AS message_id, lower(email) AS address,
            min(timestamp) AS first_s, max(timestamp) AS last_s,
            min(timestamp) FILTER (WHERE event = 'processed') AS processed_s,
            min(timestamp) FILTER (WHERE event = 'delivered') AS delivered_s,
            min(timestamp) FILTER (WHERE event = 'open' AND NOT coalesce(sg_machine_open, FALSE)) AS open_s,
            {keys},
            bit_or(CASE event WHEN 'delivered' THEN 1 WHEN 'dropped' THEN 2
                   WHEN 'bounce' THEN CASE WHEN type = 'blocked' THEN 8 ELSE 4 END
                   WHEN 'open' THEN 32 WHEN 'click' THEN 128 WHEN 'spamreport' THEN 512
                   WHEN 'unsubscribe' THEN 1024 ELSE 0 END) AS flags,
            count(*) FILTER (WHERE event = 'deferred') AS deferred_attempts, count(*) AS n
          FROM e GROUP BY ALL)
        SELECT message_id, left(sha256(address), 16) AS recipient,
          coalesce(processed_s, first_s) AS sent_at, * EXCLUDE (message_id, address)
        FROM m ORDER BY sent_at, message_id, recipient""").to_arrow_table().to_pandas(
        types_mapper=pd.ArrowDtype)
    return {"events": None, "messages": len(frame)}


def run_duckdb_count(path: str) -> dict:
    import duckdb

    count = duckdb.connect().execute(
        f"SELECT count(*) FROM read_json('{path}', format='newline_delimited', "
        "columns={event: 'VARCHAR', email: 'VARCHAR', timestamp: 'BIGINT', sg_event_id: 'VARCHAR', "
        "sg_message_id: 'VARCHAR', category: 'JSON'})"
    ).fetchall()[0][0]
    return {"events": count, "messages": None}


#: name -> (label, imports done before timing, the measured run). ``ours_dataset`` reads what
#: ``ours_ingest`` wrote: keep them in this order.
PATHS = {
    "ours_read_messages": ("ours: read_messages", import_ours_duck, run_ours_read_messages),
    "ours_read_messages_gz": ("ours: read_messages, .gz", import_ours_duck, run_ours_read_messages_gz),
    "ours_read": ("ours: read_events + messages", import_ours, run_ours_read),
    "ours_ingest": ("ours: ingest to Parquet", import_ours, run_ours_ingest),
    "ours_dataset": ("ours: read_dataset + messages", import_ours, run_ours_dataset_messages),
    "ours_ingest_messages": ("ours: ingest + messages (DuckDB)", import_ours_duck,
                             run_ours_ingest_messages),
    "pandas": ("pandas: read_json + groupby", import_pandas, run_pandas),
    "pandas_gz": ("pandas: read_json + groupby, .gz", import_pandas, run_pandas_gz),
    "duckdb_groupby": ("duckdb: read_json + group-by", import_duckdb, run_duckdb_groupby),
    "duckdb_fields": ("duckdb: extract our 17 fields", import_duckdb, run_duckdb_fields),
    "duckdb_messages": ("duckdb: messages table, nothing checked", import_duckdb, run_duckdb_messages),
    "duckdb_count": ("duckdb: bare parse + count", import_duckdb, run_duckdb_count),
}


def child_main(name: str, path: str) -> None:
    """Entry point of a measuring subprocess: run one path, print seconds and peak memory."""
    _, setup, run = PATHS[name]
    setup()
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    result = run(path)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    # CPU time of every thread: steadier than wall time on a machine shared with other work.
    cpu_seconds = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    peak_kib = after.ru_maxrss  # KiB on Linux
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "peak_mib": peak_kib / 1024,
                      **result}))


def measure(name: str, path: Path) -> dict:
    completed = subprocess.run(
        [sys.executable, __file__, "--child", name, str(path)],
        capture_output=True, text=True, check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2_000_000, help="events in the file")
    parser.add_argument("--paths", nargs="+", choices=list(PATHS),
                        default=[name for name in PATHS if not name.endswith("_gz")])
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs per path; the table reports the median run (by wall time)")
    parser.add_argument("--child", nargs=2, metavar=("PATH_NAME", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child_main(*args.child)
        return 0

    WORK_DIR.mkdir(parents=True, exist_ok=True)
    path = WORK_DIR / f"sendgrid_{args.events}.jsonl"
    if not path.exists():
        started = time.perf_counter()
        temporary = path.with_suffix(".tmp")
        generate_sendgrid_jsonl(temporary, args.events)
        temporary.rename(path)
        print(f"generated {path.name} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    if any(name.endswith("_gz") for name in args.paths):
        gzip_copy(str(path))  # made before any clock starts
    size_mb = path.stat().st_size / 1e6
    load_before = os.getloadavg()[0]
    print(f"{args.events:,} events, {size_mb:,.0f} MB, Python {platform.python_version()}, "
          f"{os.cpu_count()} cores, load average {load_before:.1f}", file=sys.stderr)

    results = {}
    # Rounds rather than repeats in a row: a slow spell of the (shared) machine then touches
    # every path alike instead of all the runs of one.
    runs: dict[str, list[dict]] = {name: [] for name in args.paths}
    for round_number in range(1, args.repeat + 1):
        for name in args.paths:
            run = measure(name, path)
            runs[name].append(run)
            print(f"  round {round_number}, {PATHS[name][0]}: {run['seconds']:.2f} s, "
                  f"{run['cpu_seconds']:.2f} CPU s, {run['peak_mib']:.0f} MiB", file=sys.stderr)
    for name, measured in runs.items():
        ordered = sorted(measured, key=lambda run: run["seconds"])
        results[name] = {**ordered[len(ordered) // 2],
                         "peak_mib": max(run["peak_mib"] for run in measured),
                         "all_seconds": [round(run["seconds"], 2) for run in measured]}

    print(f"\n{args.events:,} SendGrid events, {size_mb:,.0f} MB of JSON lines; load average "
          f"{load_before:.1f} before the run, {os.getloadavg()[0]:.1f} after\n")
    print(f"Median of {args.repeat} run(s) per path (by wall time; its CPU time beside it), every "
          "run's wall time, and the highest peak memory of the runs.\n")
    print("| path | wall [s] | CPU [s] | events/s (wall) | peak memory [MiB] | runs, wall [s] |")
    print("|---|---:|---:|---:|---:|---|")
    for name, result in results.items():
        print(f"| {PATHS[name][0]} | {result['seconds']:.2f} | {result['cpu_seconds']:.2f} | "
              f"{args.events / result['seconds']:,.0f} | {result['peak_mib']:.0f} | "
              f"{', '.join(f'{s:.2f}' for s in result['all_seconds'])} |")
    print()
    if "ours_read_messages_gz" in results and "pandas_gz" in results:
        for measure_name, key in (("wall", "seconds"), ("CPU", "cpu_seconds")):
            print(f"- {PATHS['ours_read_messages_gz'][0]}: "
                  f"{results['pandas_gz'][key] / results['ours_read_messages_gz'][key]:.1f}x faster "
                  f"than pandas on the same .gz in {measure_name} time")
    for ours in ("ours_read_messages", "ours_ingest_messages", "ours_read", "ours_ingest"):
        if ours not in results:
            continue
        for measure_name, key in (("wall", "seconds"), ("CPU", "cpu_seconds")):
            seconds = results[ours][key]
            if "pandas" in results:
                print(f"- {PATHS[ours][0]}: {results['pandas'][key] / seconds:.1f}x faster than "
                      f"pandas in {measure_name} time (target: at least 10x)")
            if "duckdb_count" in results:
                print(f"- {PATHS[ours][0]}: {seconds / results['duckdb_count'][key]:.1f}x "
                      f"DuckDB's bare parse + count in {measure_name} time (target: at most 4x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
