"""read_messages gives exactly messages(read_events(...)) and the same meta, whichever way in.

Each test reads the same inputs with ``read_messages`` and with ``read_events`` (its per-record
path) followed by ``messages`` and compares the messages frame and every ``meta`` entry. Where it matters, a spy
records whether the whole-file DuckDB path was taken or the chunk path.
"""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deliverability_econ import messages, read_events, read_messages
from deliverability_econ.io import InputFormatError, _fast, _read_messages
from deliverability_econ.io._base import expand_sources

from .test_fast import TRICKY_LINES, _clean_lines, _write_lines

NOW = 1_800_000_000.0
SAMPLE_LOGS = Path(__file__).resolve().parents[2] / "data" / "sample_sender" / "logs"


def _spy_on_whole_files(monkeypatch) -> list[bool]:
    """Record, per call of the whole-file path, whether it gave the result (True) or handed
    the inputs to the chunk path (False)."""
    outcomes: list[bool] = []
    original = _read_messages._Staging.whole_files

    def spy(self, files):
        result = original(self, files)
        outcomes.append(result is not None)
        return result

    monkeypatch.setattr(_read_messages._Staging, "whole_files", spy)
    return outcomes


@pytest.fixture
def whole_file_spy(monkeypatch):
    """See :func:`_spy_on_whole_files`."""
    return _spy_on_whole_files(monkeypatch)


def assert_same_as_read_events(paths, **options):
    """read_messages against messages(read_events) of the per-record path (``sendgrid.normalize``
    in Python; not the block fast path, which shares its SQL with the whole-file way): the
    frame and every ``meta`` entry, quarantined records in any order (the fast path may list
    them in another)."""
    table, meta = read_messages(paths, now=NOW, **options)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_fast, "ENABLED", False)
        events, expected_meta = read_events(paths, now=NOW, **options)
    pd.testing.assert_frame_equal(table, messages(events))
    assert set(meta) == set(expected_meta)
    for key, expected in expected_meta.items():
        if key == "quarantine":
            pd.testing.assert_frame_equal(
                meta[key].sort_values(["source", "location"], ignore_index=True),
                expected.sort_values(["source", "location"], ignore_index=True))
        elif isinstance(expected, pd.DataFrame):
            pd.testing.assert_frame_equal(meta[key], expected, check_like=False)
        else:
            assert meta[key] == expected, key
    return table, meta


def test_clean_file_goes_whole_through_duckdb(tmp_path, whole_file_spy):
    path = tmp_path / "clean.jsonl"
    _write_lines(path, _clean_lines(3000))

    table, meta = assert_same_as_read_events(path)

    assert whole_file_spy == [True]
    assert meta["events"] > 2900 and meta["duplicates"] == 0 and len(table) > 1000


def test_redelivered_events_count_once_in_one_file_and_across_files(tmp_path, whole_file_spy):
    lines = _clean_lines(2000, seed=3)
    rng = random.Random(5)
    first = lines + rng.sample(lines, 150)  # webhook redeliveries: identical copies
    rng.shuffle(first)
    second = rng.sample(lines, 300) + _clean_lines(500, seed=8)
    _write_lines(tmp_path / "a.jsonl", first)
    _write_lines(tmp_path / "b.jsonl", second)

    table, meta = assert_same_as_read_events([tmp_path / "a.jsonl", tmp_path / "b.jsonl"])

    assert whole_file_spy == [True]
    assert meta["duplicates"] == 450  # 150 within a.jsonl, 300 of b.jsonl already in a.jsonl
    assert table["event_count"].sum() == meta["events"]


def test_an_event_id_with_two_contents_goes_the_chunk_path(tmp_path, whole_file_spy):
    lines = _clean_lines(1000, seed=4)
    record = json.loads(lines[10])
    record["timestamp"] += 3600  # same sg_event_id, another time: the first one must win
    lines.append(json.dumps(record))
    _write_lines(tmp_path / "conflict.jsonl", lines)

    _, meta = assert_same_as_read_events(tmp_path / "conflict.jsonl")

    assert whole_file_spy == [False]
    assert meta["duplicates"] == 1


def test_tricky_lines_go_the_chunk_path_with_the_same_quarantine(tmp_path, whole_file_spy):
    rng = random.Random(9)
    lines: list[str | bytes] = _clean_lines(1500)
    for tricky in TRICKY_LINES:
        lines.insert(rng.randint(0, len(lines)), tricky)
    _write_lines(tmp_path / "tricky.jsonl", lines)

    _, meta = assert_same_as_read_events(tmp_path / "tricky.jsonl")

    assert whole_file_spy == [False]
    assert meta["quarantined"] >= 10 and meta["ignored"] == {"resubscribe": 1}


@pytest.mark.parametrize("line", [
    # a trailing comma (DuckDB reads it, Python's json does not)
    '{"event":"delivered","email":"a@gmail.com","timestamp":1717286400,"sg_event_id":"tc1",'
    '"sg_message_id":"m2.filter1",}',
    # an unknown event (quarantined) and a resubscribe (ignored)
    '{"event":"newsletter_open","email":"a@gmail.com","timestamp":1717286409,"sg_event_id":"u1",'
    '"sg_message_id":"m12.filter1"}',
    '{"event":"group_resubscribe","email":"a@gmail.com","timestamp":1717286409,"sg_event_id":"g1"}',
    # a message id with a trailing blank (trimmed by the readers)
    '{"event":"delivered","email":"a@gmail.com","timestamp":1717286409,"sg_event_id":"sp1",'
    '"sg_message_id":"m99 .filter1"}',
])
def test_one_odd_line_sends_the_file_to_the_chunk_path(tmp_path, whole_file_spy, line):
    _write_lines(tmp_path / "odd.jsonl", _clean_lines(400, seed=2) + [line] + _clean_lines(50))

    assert_same_as_read_events(tmp_path / "odd.jsonl")

    assert whole_file_spy == [False]


def test_odd_diagnostic_texts_stay_on_the_whole_file_path(tmp_path, whole_file_spy):
    """The messages table reads no diagnostic text but a bounce's status: a number, a boolean or
    a non-ASCII status code in a response or reason elsewhere changes nothing."""
    base = {"email": "c@gmx.de", "sg_message_id": "odd.filter1.1", "timestamp": 1_717_300_000}
    lines = [
        json.dumps({**base, "event": "deferred", "sg_event_id": "o1", "ip": "167.89.0.12",
                    "response": "451 4.\u0661.1 try later"}),
        json.dumps({**base, "event": "deferred", "sg_event_id": "o2", "ip": "167.89.0.12",
                    "response": 451, "status": 4.7}),
        json.dumps({**base, "event": "delivered", "sg_event_id": "o3", "ip": "167.89.0.12",
                    "response": True, "reason": {"text": "ok"}}),
    ]
    _write_lines(tmp_path / "odd.jsonl", lines + _clean_lines(100))

    assert_same_as_read_events(tmp_path / "odd.jsonl")

    assert whole_file_spy == [True]


def test_recipients_differing_only_in_case_are_one_recipient(tmp_path, whole_file_spy):
    base = {"timestamp": 1_717_300_000, "sg_message_id": "abc.filter1.1", "category": "receipt"}
    lines = [
        json.dumps({**base, "event": "processed", "email": "Ann.Lee@Example.COM",
                    "sg_event_id": "e1"}),
        json.dumps({**base, "event": "delivered", "email": "ann.lee@example.com",
                    "sg_event_id": "e2", "ip": "167.89.0.12", "timestamp": 1_717_300_005}),
        json.dumps({**base, "event": "open", "email": "ANN.LEE@EXAMPLE.COM", "sg_event_id": "e3",
                    "sg_machine_open": False, "timestamp": 1_717_300_100}),
    ]
    _write_lines(tmp_path / "case.jsonl", lines + _clean_lines(200))

    table, _ = assert_same_as_read_events(tmp_path / "case.jsonl")
    table_clear, _ = assert_same_as_read_events(tmp_path / "case.jsonl", pseudonymize=False)

    assert whole_file_spy == [True, True]
    assert (table["message_id"] == "abc").sum() == 1  # one recipient under its pseudonym
    assert (table_clear["message_id"] == "abc").sum() == 3  # clear addresses keep their case


def test_ties_at_one_instant_take_the_smallest_value(tmp_path, whole_file_spy):
    base = {"timestamp": 1_717_300_000, "sg_message_id": "tie.filter1.1", "email": "b@yahoo.com"}
    lines = [json.dumps({**base, "event": "deferred", "ip": ip, "sg_event_id": f"t{n}"})
             for n, ip in enumerate(["167.89.0.13", "167.89.0.12", "167.89.0.14"])]
    lines.append(json.dumps({**base, "event": "processed", "sg_event_id": "t9",
                             "pool": {"name": "transactional", "id": 210}, "timestamp": 1_717_299_000}))
    _write_lines(tmp_path / "ties.jsonl", lines)

    table, _ = assert_same_as_read_events(tmp_path / "ties.jsonl")

    assert whole_file_spy == [True]
    assert table.loc[0, "sending_ip"] == "167.89.0.12" and table.loc[0, "ip_pool"] == "transactional"


@pytest.mark.parametrize("salt", ["short", "k" * 100, b"\x00\xff binary key"])
def test_pseudonyms_computed_in_sql_are_those_of_privacy(tmp_path, whole_file_spy, salt):
    _write_lines(tmp_path / "clean.jsonl", _clean_lines(300, seed=len(salt)))

    assert_same_as_read_events(tmp_path / "clean.jsonl", salt=salt)

    assert whole_file_spy == [True]


def test_sample_exports_of_every_format(whole_file_spy):
    table, meta = assert_same_as_read_events(SAMPLE_LOGS)

    assert whole_file_spy == []  # compressed and of several formats: the chunk path
    assert set(meta["format"]) == {"sendgrid", "ses", "mailgun", "postmark", "sparkpost"}
    assert table["esp"].nunique() == 5


def test_fast_path_switched_off_gives_the_same(tmp_path, monkeypatch, whole_file_spy):
    _write_lines(tmp_path / "clean.jsonl", _clean_lines(500))
    monkeypatch.setattr(_fast, "ENABLED", False)

    assert_same_as_read_events(tmp_path / "clean.jsonl")

    assert whole_file_spy == []


def test_empty_inputs(tmp_path):
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "blank.jsonl").write_text("\n\n")

    table, meta = assert_same_as_read_events([tmp_path / "empty.jsonl", tmp_path / "blank.jsonl"])

    assert table.empty and meta["records_read"] == 0


def test_errors_raise_names_the_same_record(tmp_path):
    lines = _clean_lines(100) + ['{"event":"open","email":"a@gmail.com","timestamp":1717286410']
    _write_lines(tmp_path / "broken.jsonl", lines)

    with pytest.raises(InputFormatError) as ours:
        read_messages(tmp_path / "broken.jsonl", errors="raise", now=NOW)
    with pytest.raises(InputFormatError) as theirs:
        read_events(tmp_path / "broken.jsonl", errors="raise", now=NOW)
    assert str(ours.value) == str(theirs.value) and "line 101" in str(ours.value)


@pytest.mark.parametrize("compressed", [False, True])
@pytest.mark.parametrize("tail", [b",}", b",\n}", b", \t }", b"\r}"])
def test_the_scan_sees_a_pattern_across_slice_boundaries(tmp_path, monkeypatch, tail, compressed):
    monkeypatch.setattr(_read_messages._SuspiciousScan, "SLICE_BYTES", 7)
    monkeypatch.setattr(_read_messages._SuspiciousScan, "STREAM_BYTES", 7)

    def scan(path, data):
        if compressed:
            path = path.with_suffix(".jsonl.gz")
            path.write_bytes(gzip.compress(data))
        else:
            path.write_bytes(data)
        (source,) = expand_sources(path)
        return _read_messages._SuspiciousScan(source)

    for offset in range(12):
        data = b'{"a": 1}\n' + b"x" * offset + b'{"b": 2' + tail + b"\n"
        assert scan(tmp_path / f"cut-{offset}.jsonl", data).result(), (tail, offset)
    clean = scan(tmp_path / "clean.jsonl", b'{"a": [1, 2], "b": {"c": 3}}\r\n' * 5)
    assert not clean.result()
    assert clean.records == (5 if compressed else None)


def test_gzip_exports_go_whole_through_duckdb(tmp_path, whole_file_spy):
    lines = _clean_lines(2000, seed=12)
    text = "".join(line + "\n" for line in lines).encode()
    (tmp_path / "one.jsonl.gz").write_bytes(gzip.compress(text))
    # several gzip members, as appending to a .gz file makes them; the last line without a
    # line end
    half = len(text) // 2
    half = text.rfind(b"\n", 0, half) + 1
    (tmp_path / "members.jsonl.gz").write_bytes(gzip.compress(text[:half]) + gzip.compress(text[half:-1]))

    table, meta = assert_same_as_read_events(tmp_path / "one.jsonl.gz")
    assert_same_as_read_events(tmp_path / "members.jsonl.gz")

    assert whole_file_spy == [True, True]
    assert meta["events"] == 2000 and len(table) > 500


@pytest.mark.parametrize(("damage", "lines"), [
    ("blank line", 500), ("truncated", 500), ("garbage after", 500),
    ("truncated", 8000),  # the damage lies beyond the head that format detection reads
])
def test_gzip_exports_that_duckdb_might_read_otherwise_go_the_chunk_path(tmp_path, whole_file_spy,
                                                                          damage, lines):
    text = "".join(line + "\n" for line in _clean_lines(lines, seed=13)).encode()
    if damage == "blank line":
        data = gzip.compress(text.replace(b"\n", b"\n  \n", 1))
    elif damage == "truncated":
        data = gzip.compress(text)[:-200]
    else:
        data = gzip.compress(text) + b"not gzip"
    path = tmp_path / "damaged.jsonl.gz"
    path.write_bytes(data)

    _, meta = assert_same_as_read_events(path)

    damaged = meta["quarantine"]["location"].eq("end of the compressed stream").any()
    assert damaged == (damage != "blank line")
    # A damage found by format detection leaves the file off the whole-file way; any other
    # reaches it and is handed to the chunk way.
    assert whole_file_spy == ([] if damaged and lines == 500 else [False])


def test_a_line_count_that_differs_from_duckdbs_rows_sends_the_file_to_the_chunk_path(
        tmp_path, monkeypatch, whole_file_spy):
    text = "".join(line + "\n" for line in _clean_lines(300, seed=14)).encode()
    (tmp_path / "export.jsonl.gz").write_bytes(gzip.compress(text))
    original = _read_messages._SuspiciousScan._run_stream

    def miscounting(self, source):
        original(self, source)
        self.records += 1

    monkeypatch.setattr(_read_messages._SuspiciousScan, "_run_stream", miscounting)

    assert_same_as_read_events(tmp_path / "export.jsonl.gz")

    assert whole_file_spy == [False]


@pytest.mark.parametrize(("data", "cut"), [
    (b'{"a": 1}\n{"b": 2}\n', 18),
    (b'{"a": 1}\n{"b": 2,\n', 9),  # never after a comma
    (b'{"a": 1}\n{"b": 2} \n  \n', 9),  # nor after blanks
    (b'{"a": 1,\n', -1),
    (b'no line end', -1),
    (b'{"a": 1}\r\n{"b": 2}\r\n', 20),  # CRLF after a closing character
    (b'{"a": 1}\r\n{"b": 2} \r\n', 10),
])
def test_stream_pieces_are_cut_after_a_line_end_that_follows_a_closing_character(data, cut):
    assert _read_messages._line_cut(data) == cut


# ------------------------------------------------------------------------------------------------
# Property: random small exports, with the values that make the two ways differ if anything does
# ------------------------------------------------------------------------------------------------

_MESSAGES = ["m1", "m2", "m3"]
_ADDRESSES = ["ann@gmail.com", "Ann@Gmail.com", "bo@yahoo.com", "cy@corp.example"]
_EVENTS = ["processed", "delivered", "deferred", "bounce", "dropped", "open", "click",
           "spamreport", "unsubscribe", "group_unsubscribe"]


def _odd(values: list) -> st.SearchStrategy:
    """One of the usual values, or a value of another JSON type."""
    return st.one_of(st.sampled_from(values), st.sampled_from([None, "", 5, 2.5, True, [], {}]))


@st.composite
def _sendgrid_records(draw, odd: bool) -> list[dict]:
    """3 to 25 SendGrid events on a few messages: ties at one instant, case variants of an
    address, ``.filter`` suffixes, pools, categories as text and lists, bounces, machine opens,
    and (when ``odd``) values of other JSON types in any field."""
    pick = _odd if odd else st.sampled_from
    records = []
    for number in range(draw(st.integers(3, 25))):
        message = draw(st.sampled_from(_MESSAGES))
        record = {
            "event": draw(pick(_EVENTS)),
            "timestamp": draw(pick([1_717_300_000, 1_717_300_000, 1_717_300_060, 1_717_303_600])),
            "email": draw(pick(_ADDRESSES)),
            "sg_event_id": f"e{number}",
            "sg_message_id": f"{message}.filter{draw(st.sampled_from([1, 1, 2]))}.1",
        }
        if draw(st.booleans()):
            record["ip"] = draw(pick(["167.89.0.12", "167.89.0.13"]))
        if draw(st.booleans()):
            record["category"] = draw(pick(["receipt", "promo", ["receipt", "promo"], ["promo"], [""]]))
        if draw(st.booleans()):
            record["pool"] = draw(pick([{"name": "transactional", "id": 210}, {"id": 7},
                                         {"name": "bulk"}, "shared"]))
        if draw(st.integers(0, 4)) == 0:
            record["marketing_campaign_name"] = draw(pick(["spring", "autumn"]))
        if draw(st.integers(0, 4)) == 0:
            record["stream"] = draw(pick(["tx", "mkt"]))
        if record["event"] == "open" or (odd and draw(st.booleans())):
            record["sg_machine_open"] = draw(pick([True, False]))
        if record["event"] == "bounce" or (odd and draw(st.booleans())):
            record["type"] = draw(pick(["bounce", "blocked", ""]))
            record["bounce_classification"] = draw(pick(["Invalid Address", "reputation",
                                                         "Technical  Failure", "nonsense", ""]))
            record["status"] = draw(pick(["5.1.1", "4.2.2", "5.7.1", ""]))
            record["reason"] = draw(pick(["550 5.1.1 unknown", "421 4.7.0 later", "x"]))
        if odd and draw(st.integers(0, 5)) == 0:
            del record[draw(st.sampled_from(["sg_event_id", "sg_message_id", "email", "timestamp"]))]
        if odd and draw(st.integers(0, 5)) == 0:
            record["smtp-id"] = draw(pick(["<m9@ismtpd-1>", " <m9@x> "]))
        records.append(record)
    copies = draw(st.lists(st.sampled_from(range(len(records))), max_size=4))
    return records + [records[index] for index in copies]  # webhook redeliveries


def _read_both_ways(records: list[dict], compact: bool) -> bool:
    """Write the records as JSON lines, compare read_messages with messages(read_events) of the
    per-record path, and say whether the whole-file way gave the result."""
    import tempfile

    separators = (",", ":") if compact else (", ", ": ")
    with tempfile.TemporaryDirectory() as directory, pytest.MonkeyPatch.context() as patch:
        outcomes = _spy_on_whole_files(patch)
        path = Path(directory) / "export.jsonl"
        path.write_text("".join(json.dumps(r, separators=separators) + "\n" for r in records))
        assert_same_as_read_events(path)
    return outcomes == [True]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_sendgrid_records(odd=False), st.booleans())
def test_random_clean_exports_go_whole_and_agree(records, compact):
    """Clean exports (every value of its usual type; redeliveries identical) take the whole-file
    way, and still give exactly what read_events + messages give."""
    assert _read_both_ways(records, compact)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_sendgrid_records(odd=True), st.booleans())
def test_random_odd_exports_agree_whichever_way(records, compact):
    """Values of other JSON types, missing fields and odd message ids in any place: whichever
    way the file goes, the messages and meta are those of read_events + messages."""
    _read_both_ways(records, compact)
