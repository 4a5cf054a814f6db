"""The DuckDB fast path for SendGrid JSON lines gives exactly what the per-record path gives.

Every test reads the same bytes twice, with the fast path on and off, and compares the events
frame, the reconciliation counts and the quarantine (as a set: only the order in which
quarantined records are listed may differ).
"""

from __future__ import annotations

import base64
import gzip
import json
import random

import duckdb
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deliverability_econ.io import InputFormatError, _fast, read_sendgrid
from deliverability_econ.io._base import enhanced_status

NOW = 1_800_000_000.0

COUNTS = ("records_read", "raw_records", "events", "duplicates", "quarantined", "ignored",
          "time_min", "time_max")


def _read(path, fast: bool, monkeypatch, **options):
    monkeypatch.setattr(_fast, "ENABLED", fast)
    return read_sendgrid(path, now=NOW, **options)


def _quarantine_set(meta) -> pd.DataFrame:
    return meta["quarantine"].sort_values(["source", "location", "field", "reason"],
                                          ignore_index=True)


def assert_same_both_ways(path, monkeypatch, **options):
    slow_events, slow_meta = _read(path, False, monkeypatch, **options)
    fast_events, fast_meta = _read(path, True, monkeypatch, **options)
    pd.testing.assert_frame_equal(fast_events, slow_events)
    for key in COUNTS:
        assert fast_meta[key] == slow_meta[key], key
    pd.testing.assert_frame_equal(_quarantine_set(fast_meta), _quarantine_set(slow_meta))
    return fast_events, fast_meta


def _record(rng: random.Random, n: int) -> dict:
    """One realistic SendGrid event (see benchmarks/bench_ingest_sendgrid.py for the long form)."""
    local = f"{rng.getrandbits(40):010x}.{n:x}"
    event = rng.choice(["processed", "delivered", "delivered", "open", "open", "click", "bounce",
                        "deferred", "dropped", "spamreport", "unsubscribe", "group_unsubscribe"])
    domain = rng.choice(["gmail.com", "yahoo.com", "outlook.com", "icloud.com", "acme.io"])
    record = {
        "email": f"user{rng.randint(1, 400)}@{domain}",
        "timestamp": 1_717_200_000 + rng.randint(0, 10 * 86_400),
        "smtp-id": f"<{local}@ismtpd-{rng.randint(1, 9)}>",
        "event": event,
        "category": rng.choice(["receipt", ["onboarding", "welcome"], "", ["a,b", "c"]]),
        "sg_event_id": base64.urlsafe_b64encode(rng.randbytes(16)).decode(),
        "sg_message_id": f"{local}.filter0{rng.randint(100, 999)}.{rng.randint(1, 99)}.0",
        "userid": str(rng.randint(1, 9999)),
    }
    if event == "processed":
        record["pool"] = rng.choice([{"name": "tx", "id": 210}, {"name": "", "id": 7}, "shared"])
    if event in ("delivered", "deferred", "bounce"):
        record["ip"] = "167.89.0.12"
        record["response"] = rng.choice(["250 OK", "250 2.0.0 OK  1717286305 x.1 - gsmtp",
                                         "421 4.7.0 [TSS04] deferred",
                                         "250 2.6.0 <a1@ismtpd.sendgrid.net> Queued"])
    if event == "bounce":
        record.update(type=rng.choice(["bounce", "blocked", None]),
                      status=rng.choice(["5.1.1", "4.2.2", None]),
                      reason=rng.choice(["550 5.1.1 <x@acme.io>: user unknown", "mailbox full",
                                         "554 5.7.1 blocked"]),
                      bounce_classification=rng.choice(["Invalid Address", "invalid", None,
                                                        "Technical  Failure", "Something new"]))
    if event == "open":
        record["sg_machine_open"] = rng.choice([True, False])
        record["ip"] = "203.0.113.9"  # the reader's address: never a sending IP
    if event == "dropped":
        record.update(reason="Bounced Address", status="5.0.0")
    if rng.random() < 0.05:
        del record["sg_message_id"]  # asynchronous bounces lack it
    if rng.random() < 0.05:
        record["marketing_campaign_name"] = "June newsletter"
    return record


def _write_lines(path, lines: list[str | bytes], newline: bytes = b"\n") -> None:
    data = newline.join(line.encode("utf-8") if isinstance(line, str) else line for line in lines)
    path.write_bytes(data + newline)


def _clean_lines(count: int, seed: int = 7) -> list[str]:
    rng = random.Random(seed)
    return [json.dumps(_record(rng, n)) for n in range(count)]


#: Lines where Python and DuckDB could disagree, each with the reason it is here.
TRICKY_LINES: list[str | bytes] = [
    # duplicate key: Python keeps the last, DuckDB refuses the object
    '{"event":"open","event":"delivered","email":"a@gmail.com","timestamp":1717286400,'
    '"sg_event_id":"dup1","sg_message_id":"m1.filter1"}',
    # trailing comma: DuckDB accepts it, Python's json does not
    '{"event":"delivered","email":"a@gmail.com","timestamp":1717286400,"sg_event_id":"tc1",'
    '"sg_message_id":"m2.filter1",}',
    # timestamps as digit string (same value both ways), float, milliseconds, NaN, negative
    '{"event":"delivered","email":"a@gmail.com","timestamp":"1717286400","sg_event_id":"ts1",'
    '"sg_message_id":"m3.filter1"}',
    '{"event":"delivered","email":"a@gmail.com","timestamp":1717286400.25,"sg_event_id":"ts2",'
    '"sg_message_id":"m3.filter1"}',
    '{"event":"delivered","email":"a@gmail.com","timestamp":1717286400000,"sg_event_id":"ts3",'
    '"sg_message_id":"m3.filter1"}',
    '{"event":"delivered","email":"a@gmail.com","timestamp":NaN,"sg_event_id":"ts4",'
    '"sg_message_id":"m3.filter1"}',
    '{"event":"delivered","email":"a@gmail.com","timestamp":-5,"sg_event_id":"ts5",'
    '"sg_message_id":"m3.filter1"}',
    # no sg_event_id: the framework hashes the record
    '{"event":"open","email":"b@yahoo.com","timestamp":1717286401,"sg_message_id":"m4.filter9",'
    '"sg_machine_open":false}',
    # asynchronous bounce: smtp-id with spaces and brackets
    '{"event":"bounce","email":"c@outlook.com","timestamp":1717286402,"sg_event_id":"ab1",'
    '"smtp-id":"  <m5@ismtpd-1> ","type":"bounce","status":"5.1.1","reason":"550 no such user"}',
    # category shapes: empty list, list with a number, list with an empty string, escapes
    '{"event":"processed","email":"a@gmail.com","timestamp":1717286403,"sg_event_id":"c0",'
    '"sg_message_id":"m6.filter1","category":[]}',
    '{"event":"processed","email":"a@gmail.com","timestamp":1717286403,"sg_event_id":"c1",'
    '"sg_message_id":"m6.filter1","category":[1,"a"]}',
    '{"event":"processed","email":"a@gmail.com","timestamp":1717286403,"sg_event_id":"c2",'
    '"sg_message_id":"m6.filter1","category":[""],"marketing_campaign_name":"fallback"}',
    '{"event":"processed","email":"a@gmail.com","timestamp":1717286403,"sg_event_id":"c3",'
    '"sg_message_id":"m6.filter1","category":["caf\\u00e9","tab\\there"]}',
    '{"event":"processed","email":"a@gmail.com","timestamp":1717286403,"sg_event_id":"c4",'
    '"sg_message_id":"m6.filter1","category":{"name":"x"}}',
    '{"event":"processed","email":"a@gmail.com","timestamp":1717286403,"sg_event_id":"c5",'
    '"sg_message_id":"m6.filter1","category":"[\\"looks\\",\\"like a list\\"]"}',
    # pool shapes
    '{"event":"processed","email":"a@gmail.com","timestamp":1717286404,"sg_event_id":"p1",'
    '"sg_message_id":"m7.filter1","pool":{"name":null,"id":210}}',
    '{"event":"processed","email":"a@gmail.com","timestamp":1717286404,"sg_event_id":"p2",'
    '"sg_message_id":"m7.filter1","pool":{"name":"a","name":"b"}}',
    '{"event":"processed","email":"a@gmail.com","timestamp":1717286404,"sg_event_id":"p3",'
    '"sg_message_id":"m7.filter1","pool":{"id":2.5}}',
    # strings that start like DuckDB's rendering of an array or object (category and pool are
    # read as text, so these must never reach DuckDB), and the pool objects the fast rules take
    '{"event":"processed","email":"a@gmail.com","timestamp":1717286404,"sg_event_id":"c6",'
    '"sg_message_id":"m6.filter1","category":"[]"}',
    '{"event":"processed","email":"a@gmail.com","timestamp":1717286404,"sg_event_id":"c7",'
    '"sg_message_id":"m6.filter1","category":"{\\"a\\":1}"}',
    '{"event":"processed","email":"a@gmail.com","timestamp":1717286404,"sg_event_id":"c8",'
    '"sg_message_id":"m6.filter1","category":"[not, a list]"}',
    '{"event":"processed","email":"a@gmail.com","timestamp":1717286404,"sg_event_id":"p4",'
    '"sg_message_id":"m7.filter1","pool":"{\\"name\\":\\"x\\"}"}',
    '{"event":"processed","email":"a@gmail.com","timestamp":1717286404,"sg_event_id":"p5",'
    '"sg_message_id":"m7.filter1","pool":"{}"}',
    '{"event":"processed","email":"a@gmail.com","timestamp":1717286404,"sg_event_id":"p6",'
    '"sg_message_id":"m7.filter1","pool":{}}',
    '{"event":"processed","email":"a@gmail.com","timestamp":1717286404,"sg_event_id":"p7",'
    '"sg_message_id":"m7.filter1","pool":{"id":"ded-1","name":"dedicated"}}',
    '{"event":"processed","email":"a@gmail.com","timestamp":1717286404,"sg_event_id":"p8",'
    '"sg_message_id":"m7.filter1","pool":{"id":0}}',
    '{"event":"processed","email":"a@gmail.com","timestamp":1717286404,"sg_event_id":"p9",'
    '"sg_message_id":"m7.filter1","pool":{"name":"","id":""}}',
    '{"event":"processed","email":"a@gmail.com","timestamp":1717286404,"sg_event_id":"p10",'
    '"sg_message_id":"m7.filter1","pool":{"name":"x","id":1,"extra":true}}',
    '{"event":"processed","email":"a@gmail.com","timestamp":1717286404,"sg_event_id":"p11",'
    '"sg_message_id":"m7.filter1","pool":{"name":"caf\\u00e9 \\"q\\""}}',
    '{"event":"processed","email":"a@gmail.com","timestamp":1717286404,"sg_event_id":"p12",'
    '"sg_message_id":"m7.filter1","pool":""}',
    # timestamps as text with a leading zero or blank, or in exponent form
    '{"event":"delivered","email":"a@gmail.com","timestamp":"01717286400","sg_event_id":"ts6",'
    '"sg_message_id":"m3.filter1"}',
    '{"event":"delivered","email":"a@gmail.com","timestamp":" 1717286400","sg_event_id":"ts7",'
    '"sg_message_id":"m3.filter1"}',
    '{"event":"delivered","email":"a@gmail.com","timestamp":1.7172864e9,"sg_event_id":"ts8",'
    '"sg_message_id":"m3.filter1"}',
    # non-string values where strings are expected
    '{"event":"delivered","email":"a@gmail.com","timestamp":1717286405,"sg_event_id":"n1",'
    '"sg_message_id":"m8.filter1","ip":167890012,"response":true}',
    '{"event":"delivered","email":"a@gmail.com","timestamp":1717286405,"sg_event_id":12345,'
    '"sg_message_id":"m8.filter1","stream":"1.5"}',
    '{"event":"delivered","email":"a@gmail.com","timestamp":1717286405,"sg_event_id":1.5e3,'
    '"sg_message_id":"m8.filter1"}',
    '{"event":"delivered","email":"a@gmail.com","timestamp":1717286405,"sg_event_id":"15e3",'
    '"sg_message_id":0,"smtp-id":"<m8b@x>","type":0}',
    '{"event":"open","email":"a@gmail.com","timestamp":1717286405,"sg_event_id":"n3",'
    '"sg_message_id":"m8.filter1","sg_machine_open":"false"}',
    '{"event":"delivered","email":{"a":"b@c.com"},"timestamp":1717286405,"sg_event_id":"n4",'
    '"sg_message_id":"m8.filter1"}',
    '{"event":"delivered","email":"a@gmail.com","timestamp":1717286405,"sg_event_id":"n5",'
    '"sg_message_id":12}',
    # recipients: case and trailing dot, non-ASCII, spaces, not an address
    '{"event":"delivered","email":"Ann.Lee@Gmail.COM.","timestamp":1717286406,"sg_event_id":"r1",'
    '"sg_message_id":"m9.filter1"}',
    '{"event":"delivered","email":"j\\u00fcrgen@ex\\u00e4mple.de","timestamp":1717286406,'
    '"sg_event_id":"r2","sg_message_id":"m9.filter1"}',
    '{"event":"delivered","email":" spaced@yahoo.com ","timestamp":1717286406,"sg_event_id":"r3",'
    '"sg_message_id":"m9.filter1"}',
    '{"event":"delivered","email":"no-at-sign","timestamp":1717286406,"sg_event_id":"r4",'
    '"sg_message_id":"m9.filter1"}',
    # blanks and control characters inside or at the ends, brackets, DEL
    '{"event":"delivered","email":"ann lee@gmail.com","timestamp":1717286406,"sg_event_id":"r5",'
    '"sg_message_id":"m9.filter1"}',
    '{"event":"delivered","email":"ann\\tlee@Gmail.com","timestamp":1717286406,"sg_event_id":"r6",'
    '"sg_message_id":"m9.filter1"}',
    '{"event":"delivered","email":"ann@gmail.com\\t","timestamp":1717286406,"sg_event_id":"r7",'
    '"sg_message_id":"m9.filter1"}',
    '{"event":"delivered","email":"\\u001fann@gmail.com","timestamp":1717286406,"sg_event_id":"r8",'
    '"sg_message_id":"m9.filter1"}',
    '{"event":"delivered","email":"[ann@gmail.com]","timestamp":1717286406,"sg_event_id":"r9",'
    '"sg_message_id":"m9.filter1"}',
    '{"event":"delivered","email":"ann@gmail.com\\u007f","timestamp":1717286406,"sg_event_id":"r10",'
    '"sg_message_id":"m9.filter1"}',
    # bounce classification and status variants, a non-ASCII diagnostic, Unicode digits
    '{"event":"bounce","email":"d@gmx.de","timestamp":1717286407,"sg_event_id":"b1",'
    '"sg_message_id":"m10.filter1","bounce_classification":"  REPUTATION ","type":"blocked"}',
    '{"event":"bounce","email":"d@gmx.de","timestamp":1717286407,"sg_event_id":"b2",'
    '"sg_message_id":"m10.filter1","reason":"550 5.1.1 Benutzer unbekannt \\u00fc"}',
    '{"event":"deferred","email":"d@gmx.de","timestamp":1717286407,"sg_event_id":"b3",'
    '"sg_message_id":"m10.filter1","response":"451 4.\\u0661.1 try later"}',
    '{"event":"bounce","email":"d@gmx.de","timestamp":1717286407,"sg_event_id":"b4",'
    '"sg_message_id":"m10.filter1","type":"BOUNCE","status":"5.1.10"}',
    # a diagnostic holding an address is scrubbed
    '{"event":"bounce","email":"e@acme.io","timestamp":1717286408,"sg_event_id":"s1",'
    '"sg_message_id":"m11.filter1","reason":"550 5.1.1 <e@acme.io>: Recipient rejected"}',
    # out of range, unknown and ignored events, an empty message id
    '{"event":"delivered","email":"a@gmail.com","timestamp":1900000000,"sg_event_id":"f1",'
    '"sg_message_id":"m12.filter1"}',
    '{"event":"newsletter_open","email":"a@gmail.com","timestamp":1717286409,"sg_event_id":"u1",'
    '"sg_message_id":"m12.filter1"}',
    '{"event":"group_resubscribe","email":"a@gmail.com","timestamp":1717286409,"sg_event_id":"g1"}',
    '{"event":"delivered","email":"a@gmail.com","timestamp":1717286409,"sg_event_id":"e1",'
    '"sg_message_id":".filter0001.1"}',
    # not an object, an array of events (a stored POST body), broken JSON, bad bytes
    '"just a string"',
    '[{"event":"open","email":"a@gmail.com","timestamp":1717286410,"sg_event_id":"arr1",'
    '"sg_message_id":"m13.filter1"},{"event":"click","email":"a@gmail.com",'
    '"timestamp":1717286411,"sg_event_id":"arr2","sg_message_id":"m13.filter1"}]',
    '{"event":"open","email":"a@gmail.com","timestamp":1717286410',
    b'{"event":"open","email":"caf\xe9@gmail.com","timestamp":1717286410,"sg_event_id":"x1",'
    b'"sg_message_id":"m14.filter1"}',
    # a lone carriage return: a line break for Python, whitespace for DuckDB
    b'{"event":"open","email":"a@gmail.com",\r"timestamp":1717286412,"sg_event_id":"cr1",'
    b'"sg_message_id":"m15.filter1"}',
    # blank and whitespace-only lines
    "",
    "   \t",
    "\x0c",
]


def test_clean_file_is_identical_and_never_leaves_the_fast_path(tmp_path, monkeypatch):
    path = tmp_path / "clean.jsonl"
    lines = _clean_lines(3000)
    _write_lines(path, lines)
    exact_pieces = []
    original = _fast._exact

    def spy(piece, *args, **kwargs):
        exact_pieces.append(piece)
        return original(piece, *args, **kwargs)

    monkeypatch.setattr(_fast, "_exact", spy)

    events, meta = assert_same_both_ways(path, monkeypatch)

    assert meta["events"] > 2900 and meta["quarantined"] == 0
    # Asynchronous bounces (no sg_message_id) and the other shapes above stay on the fast path.
    assert exact_pieces == []


@pytest.mark.parametrize("newline", [b"\n", b"\r\n"])
def test_tricky_lines_among_clean_ones(tmp_path, monkeypatch, newline):
    rng = random.Random(3)
    lines: list[str | bytes] = _clean_lines(2000)
    for tricky in TRICKY_LINES:
        lines.insert(rng.randint(0, len(lines)), tricky)
    path = tmp_path / "tricky.jsonl"
    _write_lines(path, lines, newline)

    events, meta = assert_same_both_ways(path, monkeypatch)

    assert meta["quarantined"] >= 10
    assert meta["ignored"] == {"resubscribe": 1}


def test_every_tricky_line_alone(tmp_path, monkeypatch):
    for number, tricky in enumerate(TRICKY_LINES):
        path = tmp_path / f"tricky-{number}.jsonl"
        _write_lines(path, _clean_lines(3, seed=number) + [tricky] + _clean_lines(2, seed=99))
        assert_same_both_ways(path, monkeypatch)


def test_bisection_over_many_small_blocks(tmp_path, monkeypatch):
    monkeypatch.setattr(_fast, "BLOCK_BYTES", 20_000)
    monkeypatch.setattr(_fast, "SLOW_PIECE_BYTES", 1_500)
    rng = random.Random(11)
    lines: list[str | bytes] = _clean_lines(1500, seed=5)
    for tricky in TRICKY_LINES * 2:
        lines.insert(rng.randint(0, len(lines)), tricky)
    path = tmp_path / "many.jsonl"
    _write_lines(path, lines)

    assert_same_both_ways(path, monkeypatch)


def test_locations_in_later_blocks_are_the_true_line_numbers(tmp_path, monkeypatch):
    monkeypatch.setattr(_fast, "BLOCK_BYTES", 10_000)
    lines: list[str | bytes] = _clean_lines(400)
    lines[350] = '{"event":"open","email":"a@gmail.com","timestamp":17'  # truncated
    lines[351] = ""
    lines[352] = "\r   "  # a lone CR: one more line for Python (CRLF would not be)
    lines[353] = '{"event":"nope","email":"a@gmail.com","timestamp":1717286400}'
    path = tmp_path / "late.jsonl"
    _write_lines(path, lines)

    _, meta = assert_same_both_ways(path, monkeypatch)

    assert sorted(meta["quarantine"]["location"]) == ["line 351", "line 355"]


def test_options_and_compression(tmp_path, monkeypatch):
    lines = _clean_lines(500) + TRICKY_LINES[:12]
    path = tmp_path / "events.jsonl.gz"
    path.write_bytes(gzip.compress(("\n".join(str(x) for x in lines) + "\n").encode()))

    assert_same_both_ways(path, monkeypatch, pseudonymize=False)
    assert_same_both_ways(path, monkeypatch, salt="another key")
    assert_same_both_ways(path, monkeypatch, mx_map={"acme.io": "microsoft"})


def test_byte_order_mark_and_documents(tmp_path, monkeypatch):
    lines = _clean_lines(50)
    with_bom = tmp_path / "bom.jsonl"
    with_bom.write_bytes(b"\xef\xbb\xbf" + ("\n".join(lines) + "\n").encode())
    assert_same_both_ways(with_bom, monkeypatch)

    pretty = tmp_path / "post.json"  # a webhook POST body: one indented JSON array
    pretty.write_text(json.dumps([json.loads(x) for x in lines], indent=2))
    events, _ = assert_same_both_ways(pretty, monkeypatch)
    assert len(events) == 50


def test_errors_raise_names_the_same_record(tmp_path, monkeypatch):
    lines: list[str | bytes] = _clean_lines(300)
    lines[200] = '{"event":"delivered","timestamp":1717286400,"sg_event_id":"z",' \
                 '"sg_message_id":"m.filter1"}'  # no email
    path = tmp_path / "raise.jsonl"
    _write_lines(path, lines)

    messages = []
    for fast in (False, True):
        monkeypatch.setattr(_fast, "ENABLED", fast)
        with pytest.raises(InputFormatError) as caught:
            read_sendgrid(path, now=NOW, errors="raise")
        messages.append(str(caught.value))
    assert messages[0] == messages[1]
    assert "line 201" in messages[0] and "'email'" in messages[0]


# --------------------------------------------------------------------------------------------
# The two assumptions the SQL rests on, checked on generated inputs
# --------------------------------------------------------------------------------------------

_STATUS_TEXT = st.text(alphabet="245.0139 a-x\n:<>", max_size=24)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_STATUS_TEXT, min_size=1, max_size=40))
def test_re2_status_pattern_matches_python_on_ascii(texts):
    rows = duckdb.connect().execute(
        "SELECT nullif(regexp_extract(t, ?, 1), '') FROM unnest(?::VARCHAR[]) AS u(t)",
        [_fast._ENHANCED_RE2, texts],
    ).fetchall()
    assert [r[0] for r in rows] == [enhanced_status(t) for t in texts]


_NOT_STRINGS = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=3), children, max_size=3),
    max_leaves=6,
).filter(lambda value: value is not None)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_NOT_STRINGS, min_size=1, max_size=20))
def test_duckdb_text_of_a_non_string_is_recognized(tmp_path_factory, values):
    path = tmp_path_factory.mktemp("values") / "v.jsonl"
    path.write_text("".join(json.dumps({"a": v}) + "\n" for v in values))
    rows = duckdb.connect().execute(
        f"SELECT a, regexp_full_match(a, ?) FROM read_json('{path}', "
        "format='newline_delimited', columns={a: 'VARCHAR'})",
        [_fast._MAYBE_NOT_STRING],
    ).fetchall()
    assert all(flag for _, flag in rows), rows


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_NOT_STRINGS, min_size=1, max_size=20))
def test_integers_render_like_python_str_and_other_values_are_recognized(tmp_path_factory,
                                                                         values):
    # For fields the normalizer turns into text with str(), an integer is safe: same digits.
    path = tmp_path_factory.mktemp("values") / "v.jsonl"
    path.write_text("".join(json.dumps({"a": v}) + "\n" for v in values))
    rows = duckdb.connect().execute(
        f"SELECT a, regexp_full_match(a, ?) FROM read_json('{path}', "
        "format='newline_delimited', columns={a: 'VARCHAR'})",
        [_fast._MAYBE_NOT_TEXT],
    ).fetchall()
    for value, (text, flagged) in zip(values, rows, strict=True):
        if isinstance(value, int) and not isinstance(value, bool):
            assert text == str(value) and not flagged
        else:
            assert flagged, (value, text)


# --------------------------------------------------------------------------------------------
# Ingest: the fast blocks reach Parquet as Arrow tables; the dataset must be the same both ways
# --------------------------------------------------------------------------------------------


def _ingest_both_ways(paths, tmp_path, monkeypatch, **options):
    from deliverability_econ.io.ingest import ingest, read_dataset

    results = {}
    for fast in (False, True):
        monkeypatch.setattr(_fast, "ENABLED", fast)
        out = tmp_path / f"dataset_{'fast' if fast else 'slow'}"
        summary = ingest(paths, out, progress=False, now=NOW, salt="k", **options)
        quarantine = sorted(
            (entry["source"], entry["location"], entry["field"], entry["reason"])
            for file in (out / "_quarantine").glob("*.jsonl")
            for entry in map(json.loads, file.read_text(encoding="utf-8").splitlines())
        )
        results[fast] = (summary, read_dataset(out), quarantine)
    (slow_summary, slow_events, slow_quarantine), (fast_summary, fast_events, fast_quarantine) = (
        results[False], results[True])
    pd.testing.assert_frame_equal(fast_events, slow_events)
    for key in ("records_read", "events", "duplicates", "quarantined", "ignored", "by_format",
                "partitions", "time_min", "time_max"):
        assert fast_summary[key] == slow_summary[key], key
    assert fast_quarantine == slow_quarantine
    return fast_summary, fast_events


def test_ingest_of_a_clean_file_is_identical_both_ways(tmp_path, monkeypatch):
    path = tmp_path / "clean.jsonl"
    _write_lines(path, _clean_lines(3_000))
    monkeypatch.setattr(_fast, "BLOCK_BYTES", 64 * 1024)  # many blocks, many reused buffers
    summary, events = _ingest_both_ways([path], tmp_path, monkeypatch)
    # 3,000 lines, of which group_unsubscribe is kept (an unsubscribe) and nothing is rejected.
    assert summary["records_read"] == 3_000
    assert summary["events"] + summary["duplicates"] + summary["quarantined"] + sum(
        summary["ignored"].values()) == 3_000
    assert len(events) == summary["events"] > 0


def test_ingest_with_tricky_lines_redeliveries_and_a_second_file(tmp_path, monkeypatch):
    clean = _clean_lines(2_000, seed=11)
    lines = clean[:700] + TRICKY_LINES + clean[700:] + clean[100:150]  # 50 redeliveries
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    _write_lines(first, lines)
    _write_lines(second, clean[1_900:] + _clean_lines(200, seed=12))  # 100 seen in `first`
    monkeypatch.setattr(_fast, "BLOCK_BYTES", 96 * 1024)
    monkeypatch.setattr(_fast, "SLOW_PIECE_BYTES", 8 * 1024)
    summary, _ = _ingest_both_ways([first, second], tmp_path, monkeypatch)
    assert summary["duplicates"] >= 150  # the 50 redeliveries and the 100 lines read twice
    assert summary["quarantined"] > 0


def test_block_buffers_are_reused_without_changing_blocks(monkeypatch):
    """_blocks hands out reused buffers: each block is whole lines, and together they are the
    input, also with lines longer than a block."""
    import io as _io

    monkeypatch.setattr(_fast, "BLOCK_BYTES", 100)
    lines = [b"x" * length + b"\n" for length in (3, 250, 7, 99, 100, 1, 400, 5)] + [b"tail"]
    data = b"".join(lines)
    first_size = 60
    stream = _io.BufferedReader(_io.BytesIO(data[first_size:]))
    seen = [bytes(block) for block in _fast._blocks(data[:first_size], stream)]
    assert b"".join(seen) == data
    assert all(block.endswith(b"\n") for block in seen[:-1])
