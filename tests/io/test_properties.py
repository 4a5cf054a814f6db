"""Property-based tests over every reader: random, truncated and mutated records.

Whatever the input, a reader either returns events whose ``meta`` reconciles every record read,
or raises the one documented error type, :class:`InputFormatError`. Nothing else escapes.
"""

import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deliverability_econ.io import FORMATS, InputFormatError, check_reconciliation, read_events
from deliverability_econ.schema import validate_events

DATA = Path(__file__).parent.parent / "data"
NOW = 1_800_000_000.0  # 2027-01-15: fixtures are all earlier

FIXTURES = sorted(
    (fmt, path)
    for fmt in FORMATS
    for path in (DATA / fmt).glob("*")
    if path.is_file() and path.suffix in {".json", ".jsonl", ".log", ".csv", ".txt", ".ndjson"}
)

# Each example reads a file twice (quarantine and raise); keep the default run short and let
# HYPOTHESIS_EXAMPLES=200 make a thorough one.
SETTINGS = settings(max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", 6)), deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def read_bytes(tmp_path, name, payload, fmt, errors="quarantine"):
    path = tmp_path / name
    path.write_bytes(payload)
    return read_events(path, format=fmt, errors=errors, now=NOW)


def check(tmp_path, name, payload, fmt):
    for errors in ("quarantine", "raise"):
        try:
            events, meta = read_bytes(tmp_path, name, payload, fmt, errors)
        except InputFormatError as exc:
            assert exc.source and exc.reason
            continue
        assert check_reconciliation(meta), meta
        assert meta["events"] == len(events)
        assert validate_events(events).empty
        if errors == "raise":
            assert meta["quarantined"] == 0


def test_every_registered_format_has_fixtures():
    have = {fmt for fmt, _ in FIXTURES}
    assert have == set(FORMATS), f"formats without fixtures: {set(FORMATS) - have}"


@pytest.mark.parametrize("fmt, path", FIXTURES, ids=[f"{f}-{p.name}" for f, p in FIXTURES])
@SETTINGS
@given(cut=st.floats(0.0, 1.0))
def test_truncated(tmp_path, fmt, path, cut):
    payload = path.read_bytes()
    check(tmp_path, path.name, payload[: int(len(payload) * cut)], fmt)


@pytest.mark.parametrize("fmt, path", FIXTURES, ids=[f"{f}-{p.name}" for f, p in FIXTURES])
@SETTINGS
@given(data=st.data())
def test_byte_mutations(tmp_path, fmt, path, data):
    payload = bytearray(path.read_bytes())
    for _ in range(data.draw(st.integers(1, 8))):
        if not payload:
            break
        position = data.draw(st.integers(0, len(payload) - 1))
        action = data.draw(st.sampled_from(["flip", "delete", "insert"]))
        if action == "flip":
            payload[position] = data.draw(st.integers(0, 255))
        elif action == "delete":
            del payload[position]
        else:
            payload.insert(position, data.draw(st.sampled_from(b'{}[]",:\n\x00\xff0')))
    check(tmp_path, path.name, bytes(payload), fmt)


JSON_LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63), st.floats(allow_nan=False),
    st.text(max_size=20),
)
JSON_VALUES = st.recursive(JSON_LEAVES, lambda children: st.lists(children, max_size=3)
                           | st.dictionaries(st.text(max_size=8), children, max_size=3),
                           max_leaves=8)


def _json_records(path):
    """The JSON objects of a fixture, whatever its container, or None for non-JSON formats."""
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        document = json.loads(text)
        items = document if isinstance(document, list) else [document]
    except ValueError:
        try:
            items = [json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError:
            return None
    flat = []
    for item in items:
        flat.extend(item if isinstance(item, list) else [item])
    return [item for item in flat if isinstance(item, dict)] or None


JSON_FIXTURES = [(fmt, path) for fmt, path in FIXTURES if _json_records(path)]


def _mutate(value, data):
    """Replace, drop or retype one field somewhere in a nested record."""
    if isinstance(value, dict) and value:
        key = data.draw(st.sampled_from(sorted(value)))
        action = data.draw(st.sampled_from(["drop", "replace", "recurse"]))
        value = dict(value)
        if action == "drop":
            del value[key]
        elif action == "replace":
            value[key] = data.draw(JSON_VALUES)
        else:
            value[key] = _mutate(value[key], data)
        return value
    if isinstance(value, list) and value:
        index = data.draw(st.integers(0, len(value) - 1))
        value = list(value)
        value[index] = _mutate(value[index], data)
        return value
    return data.draw(JSON_VALUES)


@pytest.mark.parametrize("fmt, path", JSON_FIXTURES, ids=[f"{f}-{p.name}" for f, p in JSON_FIXTURES])
@SETTINGS
@given(data=st.data())
def test_field_mutations(tmp_path, fmt, path, data):
    records = _json_records(path)
    mutated = [
        _mutate(r, data) if data.draw(st.booleans()) else r for r in records
    ]
    payload = "".join(json.dumps(r) + "\n" for r in mutated).encode()
    check(tmp_path, path.name, payload, fmt)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@SETTINGS
@given(records=st.lists(st.dictionaries(st.text(max_size=12), JSON_VALUES, max_size=6), max_size=5))
def test_random_records(tmp_path, fmt, records):
    payload = "".join(json.dumps(r) + "\n" for r in records).encode()
    check(tmp_path, "random.jsonl", payload, fmt)
