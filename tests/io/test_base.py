"""Bad input and transport handling shared by every reader (issue: 'Bad input' list)."""

import bz2
import gzip
import io
import json
import zipfile
from pathlib import Path

import pytest

from deliverability_econ.io import InputFormatError, check_reconciliation, read_events
from deliverability_econ.io.sendgrid import read_sendgrid

NOW = 1_764_000_000.0  # 2025-11-24, fixed so the future check does not depend on the clock


def record(i, **overrides):
    base = {"email": f"user{i}@gmail.com", "timestamp": 1761994800 + i, "event": "delivered",
            "sg_event_id": f"id{i}", "sg_message_id": f"msg{i}.filter0001.1.0"}
    base.update(overrides)
    return base


def write_lines(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_truncated_json_array_is_quarantined_not_lost(tmp_path):
    text = json.dumps([record(1), record(2), record(3)], indent=1)
    path = tmp_path / "cut.json"
    path.write_text(text[: len(text) - 40])  # cut inside the third object
    events, meta = read_sendgrid(path, now=NOW)
    assert meta["events"] == 2
    assert meta["quarantined"] == 1
    assert "truncated" in meta["quarantine"]["reason"].iloc[0]
    assert check_reconciliation(meta)
    with pytest.raises(InputFormatError, match="truncated"):
        read_sendgrid(path, errors="raise", now=NOW)


def test_truncated_json_line_is_quarantined(tmp_path):
    path = tmp_path / "cut.jsonl"
    lines = [json.dumps(record(i)) for i in range(3)]
    path.write_text(lines[0] + "\n" + lines[1][:30] + "\n" + lines[2] + "\n")
    events, meta = read_sendgrid(path, now=NOW)
    assert meta["events"] == 2 and meta["quarantined"] == 1
    assert meta["quarantine"]["location"].iloc[0] == "line 2"


def test_wrong_encoding_quarantines_the_record(tmp_path):
    path = tmp_path / "latin1.jsonl"
    good = json.dumps(record(1)).encode()
    bad = json.dumps(record(2, email="jos\u00e9@gmail.com"), ensure_ascii=False).encode("latin-1")
    path.write_bytes(good + b"\n" + bad + b"\n")
    events, meta = read_sendgrid(path, now=NOW)
    assert meta["events"] == 1 and meta["quarantined"] == 1
    assert "UTF-8" in meta["quarantine"]["reason"].iloc[0]
    # Read with the right encoding, nothing is rejected.
    events, meta = read_sendgrid(path, encoding="latin-1", now=NOW)
    assert meta["events"] == 2


def test_utf16_with_bom_is_decoded(tmp_path):
    path = tmp_path / "utf16.jsonl"
    path.write_bytes(json.dumps(record(1)).encode("utf-16"))
    events, meta = read_sendgrid(path, now=NOW)
    assert meta["events"] == 1


def test_empty_file(tmp_path):
    path = tmp_path / "empty.json"
    path.write_text("")
    events, meta = read_events(path)
    assert len(events) == 0 and meta["records_read"] == 0
    assert any("empty" in w for w in meta["warnings"])
    assert list(events.columns)[0] == "timestamp"


def test_unrecognizable_file_raises_in_auto_mode(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("dear diary,\ntoday I sent some email\n")
    with pytest.raises(InputFormatError, match="cannot tell the format"):
        read_events(path)


def test_other_content_given_to_a_reader_is_quarantined_line_by_line(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("a,b,c\n1,2,3\n")
    events, meta = read_sendgrid(path)
    assert meta["quarantined"] == 2 and meta["events"] == 0
    assert any("does not look like" in w for w in meta["warnings"])


def test_timestamp_far_in_the_future(tmp_path):
    path = write_lines(tmp_path / "f.jsonl", [record(1), record(2, timestamp=NOW + 400 * 86400)])
    events, meta = read_sendgrid(path, now=NOW)
    assert meta["quarantined"] == 1
    q = meta["quarantine"].iloc[0]
    assert q["field"] == "timestamp" and "future" in q["reason"] and q["location"] == "line 2"


def test_timestamp_in_milliseconds_is_not_decoded_silently(tmp_path):
    # 1761994800000 ms read as seconds lies in the year 57807: rejected as in the future.
    path = write_lines(tmp_path / "ms.jsonl", [record(1, timestamp=1761994800000)])
    events, meta = read_sendgrid(path, now=NOW)
    assert meta["quarantined"] == 1


def test_timestamp_before_2000(tmp_path):
    path = write_lines(tmp_path / "old.jsonl", [record(1, timestamp=1761994)])
    events, meta = read_sendgrid(path, now=NOW)
    assert meta["quarantine"]["reason"].iloc[0].startswith("before 2000")


def test_missing_recipient(tmp_path):
    rec = record(1)
    del rec["email"]
    path = write_lines(tmp_path / "r.jsonl", [rec, record(2, email="no-at-sign")])
    events, meta = read_sendgrid(path, now=NOW)
    assert meta["quarantined"] == 2
    assert set(meta["quarantine"]["field"]) == {"email", "recipient"}
    with pytest.raises(InputFormatError) as info:
        read_sendgrid(path, errors="raise", now=NOW)
    assert info.value.location == "line 1" and info.value.field == "email"


def test_quarantine_raw_text_is_scrubbed(tmp_path):
    path = write_lines(tmp_path / "s.jsonl", [record(1, event="nope")])
    _, meta = read_sendgrid(path, now=NOW)
    assert "user1@gmail.com" not in meta["quarantine"]["raw"].iloc[0]


@pytest.mark.parametrize("suffix", [".gz", ".bz2", ".zip"])
def test_compressed_inputs(tmp_path, suffix):
    payload = "".join(json.dumps(record(i)) + "\n" for i in range(5)).encode()
    path = tmp_path / f"events.jsonl{suffix}"
    if suffix == ".gz":
        path.write_bytes(gzip.compress(payload))
    elif suffix == ".bz2":
        path.write_bytes(bz2.compress(payload))
    else:
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("a.jsonl", payload)
            archive.writestr("b.jsonl", payload)  # the same events again: deduplicated
    events, meta = read_events(path, now=NOW)
    assert meta["events"] == 5
    assert check_reconciliation(meta)



@pytest.mark.parametrize("kind", ["gz file", "bz2 file", "gz buffer"])
@pytest.mark.parametrize("fast", [True, False])
def test_a_damaged_compressed_stream_keeps_what_came_before(tmp_path, monkeypatch, kind, fast):
    """A .gz or .bz2 cut short (an upload that stopped, a disk that filled): the records before
    the cut are read, the line it cuts is quarantined as invalid JSON, and the damage itself is
    one quarantined record; with errors="raise", the documented error names the file."""
    from deliverability_econ.io import _fast

    monkeypatch.setattr(_fast, "ENABLED", fast)
    payload = "".join(json.dumps(record(i)) + "\n" for i in range(2000)).encode()
    # bzip2 decompresses whole blocks only: 100 kB blocks, so that the cut loses the last one
    compressed = bz2.compress(payload, 1) if kind.startswith("bz2") else gzip.compress(payload)
    damaged = compressed[:-300]
    path = tmp_path / ("events.jsonl.bz2" if kind.startswith("bz2") else "events.jsonl.gz")
    path.write_bytes(damaged)
    source = io.BytesIO(damaged) if kind.endswith("buffer") else path

    events, meta = read_events(source, now=NOW)

    assert 1000 < meta["events"] < 2000
    assert check_reconciliation(meta)
    reasons = meta["quarantine"]["reason"].tolist()
    assert any(reason.startswith("the compressed stream is damaged") for reason in reasons)
    assert meta["quarantine"]["location"].iloc[-1] == "end of the compressed stream"
    if not kind.endswith("buffer"):
        with pytest.raises(InputFormatError) as error:
            read_events(path, now=NOW, errors="raise")
        assert str(path) in str(error.value)

def test_buffers_and_globs(tmp_path):
    write_lines(tmp_path / "one.jsonl", [record(1)])
    write_lines(tmp_path / "two.jsonl", [record(2)])
    events, meta = read_events(str(tmp_path / "*.jsonl"), now=NOW)
    assert meta["events"] == 2 and len(meta["sources"]) == 2
    buffer = io.BytesIO(json.dumps([record(3)]).encode())
    events, meta = read_events(buffer, now=NOW)
    assert meta["events"] == 1


def test_missing_file_and_bad_errors_argument(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_events(tmp_path / "nope.json")
    with pytest.raises(ValueError, match="errors"):
        read_events(tmp_path, errors="ignore")


def test_errors_survive_pickling():
    # Worker processes (multiprocessing, Dask) send errors back pickled: all four parts survive.
    import pickle

    from deliverability_econ.io import RecordError

    error = pickle.loads(pickle.dumps(InputFormatError("a.json", "line 3", "timestamp", "not a number")))
    assert (error.source, error.location, error.field, error.reason) == (
        "a.json", "line 3", "timestamp", "not a number")
    assert str(error) == "a.json, line 3, field 'timestamp': not a number"
    record = pickle.loads(pickle.dumps(RecordError("email", "missing")))
    assert (record.field, record.reason, str(record)) == ("email", "missing", "email: missing")


def test_directories_skip_hidden_files_and_folders(tmp_path):
    from deliverability_econ.io._base import expand_sources

    (tmp_path / "a.json").write_text("{}\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.json").write_text("{}\n")
    (tmp_path / ".cache").mkdir()
    (tmp_path / ".cache" / "c.json").write_text("{}\n")
    (tmp_path / ".d.json").write_text("{}\n")
    names = [Path(s.name).relative_to(tmp_path).as_posix() for s in expand_sources(tmp_path)]
    assert names == ["a.json", "sub/b.json"]


def test_compressed_buffers_are_streamed_unless_asked_for_raw_bytes():

    from deliverability_econ.io._base import expand_sources

    packed = gzip.compress(b'{"event": "delivered"}\n', mtime=0)
    (source,) = expand_sources(io.BytesIO(packed))
    with source.open_binary() as stream:
        assert stream.read() == b'{"event": "delivered"}\n'
    (raw,) = expand_sources(io.BytesIO(packed), open_archives=False)
    with raw.open_binary() as stream:
        assert stream.read() == packed
