"""Streaming ingest into a day-partitioned Parquet dataset.

The fixture ``sendgrid/ingest_two_days.jsonl`` holds 22 SendGrid webhook records around UTC
midnight between 2024-06-01 and 2024-06-02, counted by hand:

- 19 event lines of six messages, one of them (line 19) a redelivery of line 17: 18 events and
  1 duplicate. Six events fall on 2024-06-01 (M1 processed/delivered, M2 processed/bounce,
  M3 processed/delivered at 23:59:59), twelve on 2024-06-02;
- line 20 has its timestamp in milliseconds (quarantined: in the future), line 21 has no
  ``email`` (quarantined), line 22 is a ``group_resubscribe`` (ignored: out of scope).
"""

from __future__ import annotations

import bz2
import gzip
import json
import shutil
import zipfile

import pandas as pd
import pytest

from deliverability_econ import read_events
from deliverability_econ.io import InputFormatError, check_reconciliation
from deliverability_econ.io.ingest import (
    INGEST_LOG,
    QUARANTINE_DIRECTORY,
    STAGING_DIRECTORY,
    ingest,
    read_dataset,
)
from deliverability_econ.schema import EVENT_DTYPES, validate_events

NOW = 1_800_000_000.0  # 2027-01-15: a fixed reading time for the future-timestamp check

FIXTURE_COUNTS = {"records_read": 22, "events": 18, "duplicates": 1, "quarantined": 2}


@pytest.fixture
def two_days(data_dir):
    return data_dir / "sendgrid" / "ingest_two_days.jsonl"


def _reconciles(summary: dict) -> bool:
    return check_reconciliation(summary)


def test_ingest_counts_partitions_and_reconciles(tmp_path, two_days):
    summary = ingest(two_days, tmp_path / "ds", progress=False, now=NOW)

    assert {k: summary[k] for k in FIXTURE_COUNTS} == FIXTURE_COUNTS
    assert summary["ignored"] == {"resubscribe": 1}
    assert _reconciles(summary)
    assert summary["partitions"] == ["2024-06-01", "2024-06-02"]
    assert summary["by_format"]["sendgrid"] == {
        "sources": 1, "records_read": 22, "events": 18, "duplicates": 1, "quarantined": 2,
        "ignored": 1,
    }
    day1 = pd.read_parquet(tmp_path / "ds" / "date=2024-06-01")
    day2 = pd.read_parquet(tmp_path / "ds" / "date=2024-06-02")
    assert (len(day1), len(day2)) == (6, 12)
    # An event's partition is its UTC day: 23:59:59 stays on the first day.
    assert day1["timestamp"].max() == pd.Timestamp("2024-06-01T23:59:59Z")
    assert day2["timestamp"].min() == pd.Timestamp("2024-06-02T00:00:00Z")
    assert not (tmp_path / "ds" / STAGING_DIRECTORY).exists()


def test_dataset_reads_back_as_the_same_canonical_events(tmp_path, two_days):
    ingest(two_days, tmp_path / "ds", progress=False, now=NOW)
    events, _ = read_events(two_days, now=NOW)

    loaded = read_dataset(tmp_path / "ds")

    pd.testing.assert_frame_equal(loaded, events)
    assert validate_events(loaded).empty


def test_second_ingest_of_the_same_input_adds_nothing(tmp_path, two_days):
    dataset = tmp_path / "ds"
    first = ingest(two_days, dataset, progress=False, now=NOW)
    files_after_first = sorted(p.relative_to(dataset) for p in dataset.rglob("*.parquet"))

    second = ingest(two_days, dataset, progress=False, now=NOW)

    assert first["events"] == 18
    assert second["events"] == 0
    assert second["duplicates"] == 19  # the 18 known events and the redelivery again
    assert second["quarantined"] == 2
    assert _reconciles(second)
    assert sorted(p.relative_to(dataset) for p in dataset.rglob("*.parquet")) == files_after_first
    assert len(read_dataset(dataset)) == 18
    log = [json.loads(line) for line in (dataset / INGEST_LOG).read_text().splitlines()]
    assert [run["events"] for run in log] == [18, 0]
    assert [run["duplicates"] for run in log] == [1, 19]


def test_overlapping_inputs_only_add_what_is_new(tmp_path, two_days):
    lines = two_days.read_text().splitlines()
    first_half, everything = tmp_path / "first.jsonl", tmp_path / "all.jsonl"
    first_half.write_text("\n".join(lines[:9]) + "\n")  # lines 1-9: nine distinct events
    everything.write_text("\n".join(lines) + "\n")
    dataset = tmp_path / "ds"

    assert ingest(first_half, dataset, progress=False, now=NOW)["events"] == 9
    summary = ingest(everything, dataset, progress=False, now=NOW)

    assert summary["events"] == 18 - 9
    assert summary["duplicates"] == 9 + 1
    assert len(read_dataset(dataset)) == 18


def test_the_same_file_twice_in_one_run_counts_once(tmp_path, two_days):
    summary = ingest([two_days, two_days], tmp_path / "ds", progress=False, now=NOW)

    assert summary["records_read"] == 44
    assert summary["events"] == 18
    assert summary["duplicates"] == 1 + 19
    assert summary["by_format"]["sendgrid"]["sources"] == 2


def test_small_chunks_give_the_same_dataset(tmp_path, two_days):
    # Memory is bounded by the chunk size: reading 4 records at a time changes nothing.
    ingest(two_days, tmp_path / "big", progress=False, now=NOW)
    summary = ingest(two_days, tmp_path / "small", progress=False, now=NOW, chunk_records=4)

    assert {k: summary[k] for k in FIXTURE_COUNTS} == FIXTURE_COUNTS
    pd.testing.assert_frame_equal(read_dataset(tmp_path / "small"), read_dataset(tmp_path / "big"))


@pytest.mark.parametrize("compression", ["gz", "bz2", "zip"])
def test_compressed_inputs_are_streamed(tmp_path, two_days, compression):
    data = two_days.read_bytes()
    if compression == "gz":
        path = tmp_path / "events.jsonl.gz"
        path.write_bytes(gzip.compress(data))
    elif compression == "bz2":
        path = tmp_path / "events.jsonl.bz2"
        path.write_bytes(bz2.compress(data))
    else:
        path = tmp_path / "export.zip"
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("2024-06/events.jsonl", data)
    plain = tmp_path / "plain"
    ingest(two_days, plain, progress=False, now=NOW)

    summary = ingest(path, tmp_path / "ds", progress=False, now=NOW)

    assert {k: summary[k] for k in FIXTURE_COUNTS} == FIXTURE_COUNTS
    expected_source = f"{path}!2024-06/events.jsonl" if compression == "zip" else str(path)
    assert summary["sources"] == [expected_source]
    pd.testing.assert_frame_equal(read_dataset(tmp_path / "ds"), read_dataset(plain))


def test_quarantine_is_written_with_reasons_and_without_addresses(tmp_path, two_days):
    summary = ingest(two_days, tmp_path / "ds", progress=False, now=NOW)

    files = list((tmp_path / "ds" / QUARANTINE_DIRECTORY).glob("*.jsonl"))
    assert [str(f) for f in files] == [summary["quarantine_file"]]
    entries = [json.loads(line) for line in files[0].read_text().splitlines()]
    by_location = {e["location"]: e for e in entries}
    assert set(by_location) == {"line 20", "line 21"}
    assert by_location["line 20"]["field"] == "timestamp"
    assert "future" in by_location["line 20"]["reason"]
    assert by_location["line 21"]["field"] == "email"
    assert all(e["source"] == str(two_days) and e["run_id"] == summary["run_id"] for e in entries)
    # gina@gmail.com is in the raw text of line 20: scrubbed to a pseudonym.
    raw_text = files[0].read_text()
    assert "gina@gmail.com" not in raw_text
    assert "addr:" in by_location["line 20"]["raw"]


def test_recipients_are_pseudonymized_unless_asked(tmp_path, two_days):
    ingest(two_days, tmp_path / "hashed", progress=False, now=NOW)
    ingest(two_days, tmp_path / "clear", progress=False, now=NOW, pseudonymize=False)

    hashed = read_dataset(tmp_path / "hashed", columns=["recipient", "reason"])
    clear = read_dataset(tmp_path / "clear", columns=["recipient"])

    assert not hashed["recipient"].str.contains("@").any()
    assert not hashed["reason"].str.contains("bob@yahoo.com", regex=False).any()
    assert "alice@gmail.com" in set(clear["recipient"])
    on_disk = b"".join(p.read_bytes() for p in (tmp_path / "hashed").rglob("*.parquet"))
    assert b"alice@gmail.com" not in on_disk


def test_errors_raise_stops_and_leaves_no_dataset(tmp_path, two_days):
    dataset = tmp_path / "ds"
    with pytest.raises(InputFormatError) as caught:
        ingest(two_days, dataset, progress=False, now=NOW, errors="raise")

    assert str(two_days) in str(caught.value)
    assert caught.value.location in ("line 20", "line 21")
    assert not dataset.exists()


def test_errors_raise_leaves_an_existing_dataset_as_it_was(tmp_path, two_days):
    dataset = tmp_path / "ds"
    good = tmp_path / "good.jsonl"
    good.write_text("\n".join(two_days.read_text().splitlines()[:19]) + "\n")
    ingest(good, dataset, progress=False, now=NOW)
    before = sorted(p.relative_to(dataset) for p in dataset.rglob("*"))

    with pytest.raises(InputFormatError):
        ingest(two_days, dataset, progress=False, now=NOW, errors="raise")

    assert sorted(p.relative_to(dataset) for p in dataset.rglob("*")) == before


def test_missing_input_raises_before_writing(tmp_path):
    with pytest.raises(FileNotFoundError):
        ingest(tmp_path / "nope.jsonl", tmp_path / "ds", progress=False)
    assert not (tmp_path / "ds").exists()


def test_read_dataset_columns_and_partition_filters(tmp_path, two_days):
    ingest(two_days, tmp_path / "ds", progress=False, now=NOW)

    second_day = read_dataset(tmp_path / "ds", columns=["timestamp", "event", "message_id"],
                              filters=[("date", "==", "2024-06-02")])
    bounces = read_dataset(tmp_path / "ds", filters=[("event", "==", "bounced")])

    assert list(second_day.columns) == ["timestamp", "event", "message_id"]
    assert len(second_day) == 12
    assert second_day["event"].dtype == EVENT_DTYPES["event"]
    assert second_day["timestamp"].is_monotonic_increasing
    assert len(bounces) == 1 and bounces["bounce_class"].iat[0] == "hard"
    with pytest.raises(ValueError, match="unknown columns"):
        read_dataset(tmp_path / "ds", columns=["nope"])


def test_read_dataset_of_an_empty_directory_is_an_empty_canonical_table(tmp_path):
    events = read_dataset(tmp_path)
    assert events.empty
    assert list(events.columns) == list(EVENT_DTYPES)


def test_other_engines_read_the_dataset(tmp_path, two_days):
    duckdb = pytest.importorskip("duckdb")
    ingest(two_days, tmp_path / "ds", progress=False, now=NOW)

    counts = duckdb.connect().sql(
        f"SELECT date, count(*) FROM read_parquet('{tmp_path / 'ds'}/*/*.parquet', "
        "hive_partitioning = true) GROUP BY date ORDER BY date"
    ).fetchall()

    assert [(str(day), n) for day, n in counts] == [("2024-06-01", 6), ("2024-06-02", 12)]


def test_progress_bar_is_off_when_not_a_terminal(tmp_path, two_days, capsys):
    ingest(two_days, tmp_path / "ds", progress=True, now=NOW)  # pytest's stderr is no TTY
    assert "events" not in capsys.readouterr().err


def test_copying_a_dataset_directory_keeps_it_readable(tmp_path, two_days):
    ingest(two_days, tmp_path / "ds", progress=False, now=NOW)
    shutil.copytree(tmp_path / "ds", tmp_path / "copy")
    assert len(read_dataset(tmp_path / "copy")) == 18


# --------------------------------------------------------------------------------------------
# The messages table of a dataset by DuckDB is exactly messages(read_dataset(...))
# --------------------------------------------------------------------------------------------


def _sendgrid_line(event, email, timestamp, event_id, message_id, **fields) -> str:
    return json.dumps({"event": event, "email": email, "timestamp": timestamp,
                       "sg_event_id": event_id, "sg_message_id": f"{message_id}.filter0001.1.0",
                       **fields})


def test_duckdb_messages_of_a_dataset_equal_pandas_messages(tmp_path, two_days):
    from deliverability_econ import messages
    from deliverability_econ._duck_messages import messages_from_dataset

    midnight = 1_717_286_400  # 2024-06-02T00:00:00Z
    day_one = [
        _sendgrid_line("processed", "ann@gmail.com", midnight - 5, "p1", "A",
                       pool={"name": "tx", "id": 1}, category=["b", "a"]),
        _sendgrid_line("deferred", "ann@gmail.com", midnight - 4, "d1", "A", ip="1.2.3.4"),
        _sendgrid_line("deferred", "ann@gmail.com", midnight - 3, "d2", "A", ip="1.2.3.5"),
        _sendgrid_line("delivered", "ann@gmail.com", midnight - 2, "v1", "A", ip="1.2.3.9"),
        _sendgrid_line("deferred", "ann@gmail.com", midnight - 2, "d3", "A", ip="1.2.3.0"),
        # two values of one key at the message's first instant: the smaller one ("alpha") wins
        _sendgrid_line("processed", "fay@gmail.com", midnight - 8, "p4", "F", category="zeta"),
        _sendgrid_line("deferred", "fay@gmail.com", midnight - 8, "d4", "F", category="alpha"),
        # one message id, two recipients (one API request)
        _sendgrid_line("processed", "bob@icloud.com", midnight - 9, "p2", "B", category="x"),
        _sendgrid_line("processed", "Cy@Yahoo.com", midnight - 9, "p3", "B", category="y"),
        _sendgrid_line("bounce", "Cy@Yahoo.com", midnight - 1, "b1", "B", type="blocked",
                       reason="554 5.7.1 <Cy@Yahoo.com> blocked", status="5.7.1"),
        _sendgrid_line("dropped", "dee@acme.io", midnight - 7, "x1", "C", reason="Bounced Address"),
    ]
    day_two = [
        # the events of A and B continue on the next day, in another file
        _sendgrid_line("open", "ann@gmail.com", midnight + 60, "o1", "A", sg_machine_open=False),
        _sendgrid_line("open", "bob@icloud.com", midnight + 2, "o2", "B", sg_machine_open=True),
        _sendgrid_line("delivered", "bob@icloud.com", midnight + 1, "v2", "B"),
        _sendgrid_line("bounce", "bob@icloud.com", midnight + 300, "b2", "B", type="bounce",
                       status="5.1.1", bounce_classification="Invalid Address"),
        _sendgrid_line("bounce", "eve@gmx.de", midnight + 5, "b3", "E", status="4.2.2"),
        _sendgrid_line("click", "ann@gmail.com", midnight + 90, "k1", "A"),
        _sendgrid_line("spamreport", "ann@gmail.com", midnight + 95, "s1", "A"),
        _sendgrid_line("open", "ann@gmail.com", midnight + 60, "o1", "A",
                       sg_machine_open=False),  # a redelivery: counted once
    ]
    first, second = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    first.write_text("\n".join(day_one) + "\n", encoding="utf-8")
    second.write_text("\n".join(day_two) + "\n", encoding="utf-8")
    out = tmp_path / "dataset"
    ingest([first, second, two_days], out, progress=False, now=NOW, salt="k")
    expected = messages(read_dataset(out))
    pd.testing.assert_frame_equal(messages_from_dataset(out), expected)
    # By hand: A, B x bob, B x cy, C, E, F from the two files and six messages of the fixture.
    assert len(expected) == 6 + 6
    assert expected.loc[expected["message_id"] == "F", "campaign"].tolist() == ["alpha"]
    a = expected[expected["message_id"] == "A"].iloc[0]
    assert a["sending_ip"] == "1.2.3.4" and a["deferred_attempts"] == 3 and a["delivered"]
    assert a["opened_human"] and a["clicked"] and a["complained"] and a["event_count"] == 8
    bob = expected[(expected["message_id"] == "B") & expected["opened_machine"]].iloc[0]
    assert bob["bounced_hard"] and not bob["delivered"] and not bob["opened_human"]
    # A filter on the partition gives the messages of the events that pass it.
    day = [("date", "==", "2024-06-01")]
    pd.testing.assert_frame_equal(messages_from_dataset(out, filters=day),
                                  messages(read_dataset(out, filters=day)))


def test_duckdb_messages_of_an_empty_dataset(tmp_path):
    from deliverability_econ import messages
    from deliverability_econ._duck_messages import messages_from_dataset

    pd.testing.assert_frame_equal(messages_from_dataset(tmp_path), messages(read_dataset(tmp_path)))
