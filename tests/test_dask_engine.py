"""The Dask engine gives the local engine's results: ingest (dataset, quarantine, counts),
messages and the daily cube, on a two-worker ``LocalCluster``.

The cluster runs its workers in this process (``processes=False``): it starts in a fraction of
a second where process workers take several seconds to start and import the package, and Dask
still pickles every task with its arguments (sources, options). Task results are not pickled in
process, so :func:`test_read_task_results_survive_pickling` checks them separately.

Small ``block_bytes`` make the engine cut the JSON-lines inputs into several byte ranges, so
that line numbering across ranges and de-duplication across tasks are exercised on small files.
"""

from __future__ import annotations

import ast
import gzip
import inspect
import json
import pickle
import shutil
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

import deliverability_econ
from deliverability_econ._dask_engine import (
    daily_cube_dask,
    is_dask_dataframe,
    messages_dask,
    messages_from_dataset,
)
from deliverability_econ.cube import daily_cube
from deliverability_econ.io import InputFormatError, check_reconciliation
from deliverability_econ.io._base import ReadOptions, expand_sources
from deliverability_econ.io._dask import (
    _plan,
    _read_piece,
    import_distributed,
    ingest_dask,
    read_dataset_dask,
)
from deliverability_econ.io.ingest import ingest, read_dataset
from deliverability_econ.messages import messages

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

NOW = 1_800_000_000.0  # 2027-01-15: a fixed reading time for the future-timestamp check
FORMAT_OPTIONS = {"postfix": {"year": 2024}}
SMALL_BLOCKS = 2000  # [bytes]: cuts the SendGrid, SES and Brevo JSON-lines fixtures into 2-6 ranges

#: Fixtures with hostile records (bad JSON, missing fields, bad times, wrong encodings,
#: out-of-scope records, redeliveries) in eight formats.
FIXTURES = (
    "sendgrid/ingest_two_days.jsonl",
    "sendgrid/stored.jsonl",
    "ses/bad_records.jsonl",
    "ses/sns_events.json",
    "brevo/bad_events.jsonl",
    "sparkpost/bad_records.jsonl",
    "mandrill/bad_posts.txt",
    "postfix/mail_bad.log",
    "csv/bad.csv",
    "mailgun/webhooks.jsonl",
    "postmark/webhooks.jsonl",
)

#: Summary entries that name the run rather than describe what was read.
RUN_SPECIFIC = ("run_id", "dataset", "quarantine_file", "seconds")


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as dask_client:
            yield dask_client


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def run_both(paths, tmp_path, client, *, block_bytes=SMALL_BLOCKS, **options):
    """Ingest ``paths`` with each engine into its own dataset; returns both summaries."""
    options = {"progress": False, "now": NOW, "format_options": FORMAT_OPTIONS, **options}
    local = ingest(paths, tmp_path / "local", **options)
    on_dask = ingest_dask(paths, tmp_path / "dask", client=client, block_bytes=block_bytes,
                          **options)
    return local, on_dask


def comparable(summary):
    return {key: value for key, value in summary.items() if key not in RUN_SPECIFIC}


def quarantine(summary):
    """The quarantine file of a run, in a canonical order.

    Within one source the local engine lists records rejected by a record check before those
    rejected by a chunk check (a missing recipient), so the listing order depends on where
    chunks end (``chunk_records``, byte ranges); what is rejected, where and why does not.
    """
    if summary["quarantine_file"] is None:
        return None
    frame = pd.read_json(summary["quarantine_file"], lines=True, dtype=False)
    assert (frame["run_id"] == summary["run_id"]).all()
    line = frame["location"].str.extract(r"^line (\d+)")[0].astype("float64")
    return (frame.drop(columns="run_id").assign(line=line)
            .sort_values(["source", "line", "location"], ignore_index=True))


def assert_same_ingest(local, on_dask):
    assert comparable(on_dask) == comparable(local)
    pd.testing.assert_frame_equal(read_dataset(on_dask["dataset"]), read_dataset(local["dataset"]))
    if local["quarantine_file"] is None:
        assert on_dask["quarantine_file"] is None
    else:
        pd.testing.assert_frame_equal(quarantine(on_dask), quarantine(local))


def local_order(table):
    return table.sort_values(["sent_at", "message_id", "recipient"], kind="stable",
                             ignore_index=True)


# --------------------------------------------------------------------------------------------
# Ingest
# --------------------------------------------------------------------------------------------


def test_fixtures_in_every_format_give_the_local_dataset_quarantine_and_counts(
        tmp_path, data_dir, client):
    paths = [data_dir / name for name in FIXTURES]
    # A zip of two members (one task each) and a gzip file (read whole: it cannot be cut).
    archive = tmp_path / "inputs" / "export.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as members:
        members.write(data_dir / "sendgrid" / "batches.jsonl", "a/batches.jsonl")
        members.write(data_dir / "mandrill" / "events.json", "b/events.json")
    compressed = tmp_path / "inputs" / "legacy.txt.gz"
    compressed.write_bytes(gzip.compress((data_dir / "mailgun" / "legacy_webhooks.txt").read_bytes()))

    local, on_dask = run_both([*paths, archive, compressed], tmp_path, client)

    assert_same_ingest(local, on_dask)
    assert check_reconciliation(on_dask)
    # The comparison is not vacuous: every kind of outcome occurs, in all nine formats.
    assert on_dask["quarantined"] and on_dask["duplicates"] and on_dask["ignored"]
    assert len(on_dask["by_format"]) == 9


def test_large_json_lines_files_are_cut_at_whole_json_lines(data_dir):
    source = expand_sources(data_dir / "sendgrid" / "ingest_two_days.jsonl")[0]
    data = (data_dir / "sendgrid" / "ingest_two_days.jsonl").read_bytes()

    plan = _plan(0, source, "auto", ReadOptions(now=NOW), {}, SMALL_BLOCKS)

    starts = [piece.start for piece in plan.pieces]
    assert len(plan.pieces) >= 3 and starts[0] == 0  # 8122 bytes in 2000-byte ranges
    assert [piece.stop for piece in plan.pieces] == [*starts[1:], len(data)]
    for start in starts[1:]:
        assert data[start - 1:start] == b"\n"
        json.loads(data[start:data.index(b"\n", start)])  # a range starts with a whole record


def test_quarantine_names_the_line_of_the_file_not_of_the_range(tmp_path, data_dir, client):
    # The fixture's docstring (tests/io/test_ingest.py): line 20 has a millisecond timestamp,
    # line 21 no email. With 700-byte ranges both sit in a range that starts after line 1.
    summary = ingest_dask(data_dir / "sendgrid" / "ingest_two_days.jsonl", tmp_path / "ds",
                          client=client, block_bytes=SMALL_BLOCKS, progress=False, now=NOW)

    rejected = quarantine(summary)
    assert rejected["location"].tolist() == ["line 20", "line 21"]
    assert rejected["field"].tolist() == ["timestamp", "email"]


def test_a_bad_record_with_errors_raise_stops_the_run_as_the_local_engine_does(
        tmp_path, data_dir, client):
    paths = [data_dir / "sendgrid" / "stored.jsonl", data_dir / "ses" / "bad_records.jsonl",
             data_dir / "brevo" / "bad_events.jsonl"]
    with pytest.raises(InputFormatError) as local:
        ingest(paths, tmp_path / "local", errors="raise", progress=False, now=NOW)

    with pytest.raises(InputFormatError) as on_dask:
        ingest_dask(paths, tmp_path / "dask", client=client, errors="raise",
                    block_bytes=SMALL_BLOCKS, progress=False, now=NOW)

    assert str(on_dask.value) == str(local.value)  # the first bad record in input order
    assert on_dask.value.source.endswith("bad_records.jsonl")
    assert not (tmp_path / "dask").exists()  # nothing written


def test_read_task_results_survive_pickling(tmp_path, data_dir):
    # On process workers Dask pickles what a task returns: stats, quarantine, staged files.
    staging = tmp_path / "staging"
    staging.mkdir()
    source = expand_sources(data_dir / "ses" / "bad_records.jsonl")[0]
    piece = _plan(0, source, "auto", ReadOptions(now=NOW), {}, 10**9).pieces[0]

    outcome = _read_piece(piece, "auto", ReadOptions(now=NOW), {}, str(staging))
    copy = pickle.loads(pickle.dumps(outcome))

    assert copy == outcome
    assert copy.stats.quarantined == 7 and len(copy.stats.quarantine) == 7


# --------------------------------------------------------------------------------------------
# A simulated sender in several formats: messages split across files and days
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """A week of a small simulated sender, as SendGrid JSON lines split in two files at
    2026-06-04 00:00 UTC (the last 10 lines of the first file delivered again at the start of
    the second), Amazon SES Firehose records (gzip) and Mailgun webhooks: three formats, each
    with its own ids, so the only duplicates are the ten redelivered lines."""
    from deliverability_econ.simulate import sender, write_logs

    result = sender(days=7, recipients=120, random_state=11, start="2026-06-01")
    directory = tmp_path_factory.mktemp("simulated")
    whole = write_logs(result, "sendgrid", directory / "whole")[0]
    lines = whole.read_text().splitlines(keepends=True)
    cut = pd.Timestamp("2026-06-04", tz="UTC").timestamp()
    early = [line for line in lines if json.loads(line)["timestamp"] < cut]
    late = [line for line in lines if json.loads(line)["timestamp"] >= cut]
    first, second = directory / "sendgrid-1.jsonl", directory / "sendgrid-2.jsonl"
    first.write_text("".join(early))
    second.write_text("".join(early[-10:] + late))
    ses = write_logs(result, "ses", directory / "ses", transport="firehose", compress="gz")[0]
    mailgun = write_logs(result, "mailgun", directory / "mailgun")[0]
    return {"sendgrid": [first, second], "all": [first, second, ses, mailgun]}


@pytest.fixture(scope="module")
def simulated_runs(simulated, client, tmp_path_factory):
    """Both engines' ingest of the simulated sender (SendGrid files in ~40 kB ranges)."""
    return run_both(simulated["all"], tmp_path_factory.mktemp("runs"), client, block_bytes=40_000)


def test_simulated_sender_ingests_as_the_local_engine(simulated_runs):
    local, on_dask = simulated_runs

    assert_same_ingest(local, on_dask)
    assert on_dask["duplicates"] == 10  # the ten lines delivered twice, across files
    assert check_reconciliation(on_dask)


def test_messages_and_cube_of_the_dataset_are_the_local_ones(simulated, simulated_runs):
    from deliverability_econ import read_events

    local, on_dask = simulated_runs
    events = read_dataset_dask(on_dask["dataset"])
    expected = messages(read_dataset(local["dataset"]))

    table = messages_dask(events).persist()  # computed once, for the messages and three cubes
    computed = table.compute()

    # Messages with events in both SendGrid files (sent before the cut, opened or bounced
    # after it), hence on different days and in different partitions: each must be one row.
    first, _ = read_events(simulated["sendgrid"][0], now=NOW)
    second, _ = read_events(simulated["sendgrid"][1], now=NOW)
    late_only = second[~second["event_id"].isin(first["event_id"])]
    split = set(first["message_id"]) & set(late_only["message_id"])
    assert split, "the simulation has no message with events in both files"
    in_partitions = events.map_partitions(
        lambda part: part[["message_id"]].drop_duplicates()).compute()["message_id"]
    assert in_partitions[in_partitions.isin(split)].duplicated().any()
    assert computed["message_id"].isin(split).sum() == len(split)
    assert not computed.duplicated(["message_id", "recipient"]).any()

    pd.testing.assert_frame_equal(local_order(computed), expected)
    for keys in (("mailbox_provider",), ("mailbox_provider", "sending_ip", "stream"), ()):
        pd.testing.assert_frame_equal(daily_cube_dask(table, keys), daily_cube(expected, keys))


def test_a_second_ingest_of_the_same_inputs_adds_nothing(tmp_path, simulated, simulated_runs):
    local, on_dask = simulated_runs
    local_copy, dask_copy = tmp_path / "local", tmp_path / "dask"
    shutil.copytree(local["dataset"], local_copy)
    shutil.copytree(on_dask["dataset"], dask_copy)
    files_before = sorted(p.relative_to(dask_copy) for p in dask_copy.rglob("*.parquet"))

    # client=None: the current client (the module's).
    second = ingest_dask(simulated["all"], dask_copy, block_bytes=40_000, progress=False, now=NOW)

    assert second["events"] == 0
    assert second["duplicates"] == on_dask["events"] + on_dask["duplicates"]
    assert sorted(p.relative_to(dask_copy) for p in dask_copy.rglob("*.parquet")) == files_before
    local_second = ingest(simulated["all"], local_copy, progress=False, now=NOW)
    assert comparable(second) == comparable(local_second)


def test_messages_from_any_partitioning_count_each_message_once(simulated_runs):
    local, _ = simulated_runs
    events = read_dataset(local["dataset"])
    # Nine partitions in time order: a message's opens sit in later partitions than its send.
    scattered = dd.from_pandas(events, npartitions=9, sort=False)

    table = messages_dask(scattered, npartitions=4)

    assert is_dask_dataframe(table) and table.npartitions == 4
    assert not is_dask_dataframe(events)
    pd.testing.assert_frame_equal(local_order(table.compute()), messages(events))


def test_dataset_reads_on_dask_with_columns_and_day_filters(simulated_runs, client):
    _, on_dask = simulated_runs
    filters = [("date", ">=", "2026-06-03"), ("date", "<", "2026-06-05")]
    columns = ["timestamp", "event_id", "event", "mailbox_provider"]

    loaded = read_dataset_dask(on_dask["dataset"], columns=columns, filters=filters).compute()

    expected = read_dataset(on_dask["dataset"], columns=columns, filters=filters)
    pd.testing.assert_frame_equal(
        loaded.sort_values(["timestamp", "event_id"], ignore_index=True), expected)
    assert set(loaded["timestamp"].dt.strftime("%Y-%m-%d")) == {"2026-06-03", "2026-06-04"}
    # The partition column on request, and a filter on an ordinary column.
    columns, filters = ["date", "event_id", "timestamp"], [("event", "==", "bounced")]
    pd.testing.assert_frame_equal(
        read_dataset_dask(on_dask["dataset"], columns=columns, filters=filters).compute()
        .sort_values(["timestamp", "event_id"], ignore_index=True),
        read_dataset(on_dask["dataset"], columns=columns, filters=filters))
    pd.testing.assert_frame_equal(messages_from_dataset(on_dask["dataset"], client=client),
                                  messages(read_dataset(on_dask["dataset"])))


@pytest.mark.skipif("engine" not in inspect.signature(ingest).parameters,
                    reason="engine='dask' is not wired into io.ingest yet")
def test_the_public_names_dispatch_to_the_dask_engine(tmp_path, data_dir, client):
    path = data_dir / "sendgrid" / "ingest_two_days.jsonl"
    local = ingest(path, tmp_path / "local", progress=False, now=NOW)

    on_dask = ingest(path, tmp_path / "dask", engine="dask", client=client, progress=False,
                     now=NOW)
    events = read_dataset(on_dask["dataset"], engine="dask")
    table = deliverability_econ.messages(events)

    assert comparable(on_dask) == comparable(local)
    assert is_dask_dataframe(events) and is_dask_dataframe(table)
    expected = messages(read_dataset(local["dataset"]))
    pd.testing.assert_frame_equal(local_order(table.compute()), expected)
    pd.testing.assert_frame_equal(deliverability_econ.daily_cube(table), daily_cube(expected))


# --------------------------------------------------------------------------------------------
# Dask stays optional
# --------------------------------------------------------------------------------------------


def test_no_module_of_the_package_imports_dask_when_imported():
    # Module-level imports only (inside if/try blocks too); functions import Dask when called.
    package = Path(deliverability_econ.__file__).parent
    offenders = []
    for path in sorted(package.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if "dask" not in text and "distributed" not in text:
            continue
        tree = ast.parse(text)
        in_functions = {id(child) for node in ast.walk(tree)
                        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
                        for child in ast.walk(node)}
        for node in ast.walk(tree):
            if id(node) in in_functions:
                continue
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(name.split(".")[0] in ("dask", "distributed") for name in names):
                offenders.append(f"{path.relative_to(package)}:{node.lineno}")
    assert offenders == []


def test_without_dask_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # makes `import distributed` fail

    with pytest.raises(ImportError, match=r"deliverability-econ\[dask\]"):
        import_distributed()

