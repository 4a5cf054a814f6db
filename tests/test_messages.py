"""Tests for deliverability_econ.messages: events -> one row per (message_id, recipient).

Expected values are hand-computed from the events written in each test (times in seconds after
``T0``, 2025-03-03T09:00:00Z).
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deliverability_econ.io import read_sendgrid
from deliverability_econ.messages import (
    MESSAGE_COLUMNS,
    MESSAGE_DTYPES,
    MESSAGE_PART_DTYPES,
    OUTCOME_FLAGS,
    combine_message_parts,
    finalize_messages,
    message_parts,
    messages,
)
from deliverability_econ.schema import coerce_events, empty_events

T0 = pd.Timestamp("2025-03-03T09:00:00Z")

PROVIDER_OF_DOMAIN = {
    "gmail.com": "gmail",
    "outlook.com": "microsoft",
    "hotmail.com": "microsoft",
    "yahoo.com": "yahoo",
    "icloud.com": "apple",
    "example.org": "other",
}


_EVENT_NUMBERS = itertools.count(1)


def event(
    seconds: float,
    kind: str,
    message_id: str,
    recipient: str = "r1",
    *,
    domain: str = "gmail.com",
    **fields,
) -> dict:
    """One canonical event ``seconds`` after T0 (recipient given as an already hashed id)."""
    number = next(_EVENT_NUMBERS)
    return {
        "timestamp": T0 + pd.Timedelta(seconds=seconds),
        "event": kind,
        "message_id": message_id,
        "event_id": f"ev-{number}",
        "recipient": recipient,
        "recipient_domain": domain,
        "mailbox_provider": PROVIDER_OF_DOMAIN[domain],
        "is_machine": fields.pop("is_machine", False),
        "esp": fields.pop("esp", "sendgrid"),
        **fields,
    }


def build(rows: list[dict]) -> pd.DataFrame:
    return coerce_events(pd.DataFrame(rows))


def one(table: pd.DataFrame, message_id: str, recipient: str = "r1") -> pd.Series:
    match = table[(table["message_id"] == message_id) & (table["recipient"] == recipient)]
    assert len(match) == 1, f"expected one row for {message_id}/{recipient}, got {len(match)}"
    return match.iloc[0]


def plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Python objects with None for every kind of missing value, to compare by value."""
    frame = frame.astype(object)
    return frame.where(frame.notna(), None)


def outcome(row: pd.Series) -> dict:
    return {name: bool(row[name]) for name in OUTCOME_FLAGS}


def only(flag: str | None) -> dict:
    return {name: name == flag for name in OUTCOME_FLAGS}


# A mixed table used by several tests and by the chunking property.
MIXED_ROWS = [
    # m-late: delivered after 4 s, hard bounce (asynchronous DSN) the next day
    event(0, "processed", "m-late", ip_pool="pool-a", stream="transactional"),
    event(4, "delivered", "m-late", sending_ip="192.0.2.10"),
    event(86_400 + 60, "bounced", "m-late", bounce_class="hard", smtp_status="5.1.1"),
    # m-open: Apple MPP machine open at +10 s, the human opens at +2 h, bot clicks at +3 s
    event(100, "processed", "m-open", domain="icloud.com", ip_pool="pool-a"),
    event(101, "delivered", "m-open", domain="icloud.com", sending_ip="192.0.2.11"),
    event(111, "opened", "m-open", domain="icloud.com", is_machine=True),
    event(104, "clicked", "m-open", domain="icloud.com", is_machine=True),
    event(7_300, "opened", "m-open", domain="icloud.com"),
    # m-defer: three deferrals, then delivered after 1 h 5 min
    event(200, "processed", "m-defer", domain="outlook.com", campaign="renewal"),
    event(260, "deferred", "m-defer", domain="outlook.com", sending_ip="192.0.2.9"),
    event(860, "deferred", "m-defer", domain="outlook.com", sending_ip="192.0.2.10"),
    event(2_060, "deferred", "m-defer", domain="outlook.com", sending_ip="192.0.2.10"),
    event(4_100, "delivered", "m-defer", domain="outlook.com", sending_ip="192.0.2.10"),
    event(4_200, "clicked", "m-defer", domain="outlook.com"),
    # m-ses: one SES message id for three recipients
    event(300, "processed", "m-ses", "r-a", domain="gmail.com", esp="ses", stream="cfg-set"),
    event(300, "processed", "m-ses", "r-b", domain="yahoo.com", esp="ses", stream="cfg-set"),
    event(300, "processed", "m-ses", "r-c", domain="example.org", esp="ses", stream="cfg-set"),
    event(
        302, "delivered", "m-ses", "r-a", domain="gmail.com", esp="ses", sending_ip="198.51.100.7"
    ),
    event(
        303, "delivered", "m-ses", "r-b", domain="yahoo.com", esp="ses", sending_ip="198.51.100.7"
    ),
    event(305, "bounced", "m-ses", "r-c", domain="example.org", esp="ses", bounce_class="hard"),
    event(900, "opened", "m-ses", "r-b", domain="yahoo.com", esp="ses"),
    event(950, "complained", "m-ses", "r-b", domain="yahoo.com", esp="ses"),
    # m-drop: dropped by the ESP, no processed event
    event(400, "dropped", "m-drop", domain="yahoo.com", reason="Bounced Address"),
    # m-pend: processed and deferred, nothing else yet
    event(500, "processed", "m-pend", domain="yahoo.com"),
    event(560, "deferred", "m-pend", domain="yahoo.com", sending_ip="192.0.2.12"),
    # m-tie: two deferrals at the same second from two IPs; unsubscribed
    event(600, "processed", "m-tie"),
    event(601, "deferred", "m-tie", sending_ip="192.0.2.9"),
    event(601, "deferred", "m-tie", sending_ip="192.0.2.10"),
    event(650, "delivered", "m-tie", sending_ip="192.0.2.9"),
    event(9_000, "unsubscribed", "m-tie"),
]


@pytest.fixture(scope="module")
def mixed_events() -> pd.DataFrame:
    return build(MIXED_ROWS)


@pytest.fixture(scope="module")
def mixed(mixed_events) -> pd.DataFrame:
    return messages(mixed_events)


# --------------------------------------------------------------------------------------------
# Shape and dtypes
# --------------------------------------------------------------------------------------------


def test_one_row_per_message_and_recipient(mixed, mixed_events):
    # 7 message ids; m-ses covers 3 recipients -> 9 rows
    assert len(mixed) == 9
    assert not mixed.duplicated(["message_id", "recipient"]).any()
    assert list(mixed.columns) == list(MESSAGE_COLUMNS)
    # every event is accounted for exactly once
    assert mixed["event_count"].sum() == len(mixed_events) == len(MIXED_ROWS)


def test_dtypes_are_plain_and_canonical(mixed):
    assert dict(mixed.dtypes) == MESSAGE_DTYPES
    for flag in ("delivered", "bounced_hard", "opened_human", "clicked", "clicked_machine"):
        assert mixed[flag].dtype == np.dtype(bool)


def test_outcome_flags_are_exclusive_and_match_final_status(mixed):
    flags = mixed[list(OUTCOME_FLAGS)].to_numpy()
    assert (flags.sum(axis=1) <= 1).all()
    for name in OUTCOME_FLAGS:
        assert (mixed[name] == (mixed["final_status"] == name)).all()
    assert ((flags.sum(axis=1) == 0) == (mixed["final_status"] == "pending")).all()


def test_sorted_by_sent_at(mixed):
    assert mixed["sent_at"].is_monotonic_increasing
    assert mixed.index.equals(pd.RangeIndex(len(mixed)))


# --------------------------------------------------------------------------------------------
# The cases the brief names
# --------------------------------------------------------------------------------------------


def test_late_bounce_after_delivery_counts_as_bounced(mixed):
    row = one(mixed, "m-late")
    assert outcome(row) == only("bounced_hard")
    assert row["final_status"] == "bounced_hard"
    # the delivery did happen: processed at +0 s, delivered at +4 s
    assert row["delivery_latency_s"] == 4.0
    assert row["sent_at"] == T0


def test_machine_open_is_not_a_human_open(mixed):
    row = one(mixed, "m-open")
    assert row["opened_machine"] and row["opened_human"]
    # the human open is the one at +7300 s, not the machine open at +111 s
    assert row["first_open_human_at"] == T0 + pd.Timedelta(seconds=7_300)
    # the only click came from a scanner (is_machine): noted, not counted
    assert not row["clicked"] and row["clicked_machine"]


def test_machine_open_alone_gives_no_human_open():
    table = messages(
        build(
            [
                event(0, "processed", "m1", domain="icloud.com"),
                event(1, "delivered", "m1", domain="icloud.com"),
                event(2, "opened", "m1", domain="icloud.com", is_machine=True),
            ]
        )
    )
    row = one(table, "m1")
    assert row["opened_machine"] and not row["opened_human"]
    assert pd.isna(row["first_open_human_at"])


def test_missing_is_machine_counts_as_human():
    rows = [event(0, "processed", "m1"), event(5, "opened", "m1"), event(6, "clicked", "m1")]
    rows[1]["is_machine"] = None
    rows[2]["is_machine"] = None
    row = one(messages(build(rows)), "m1")
    assert row["opened_human"] and row["clicked"]
    assert not row["opened_machine"] and not row["clicked_machine"]


def test_deferrals_then_delivery(mixed):
    row = one(mixed, "m-defer")
    assert row["deferred_attempts"] == 3
    assert outcome(row) == only("delivered")
    # processed +200 s, delivered +4100 s -> 3900 s
    assert row["delivery_latency_s"] == 3_900.0
    assert row["clicked"] and not row["clicked_machine"]
    # the sending IP of the earliest event that has one: the first deferral's
    assert row["sending_ip"] == "192.0.2.9"
    assert row["campaign"] == "renewal"


def test_ses_like_shared_message_id_gives_one_row_per_recipient(mixed):
    rows = mixed[mixed["message_id"] == "m-ses"].set_index("recipient")
    assert sorted(rows.index) == ["r-a", "r-b", "r-c"]
    assert rows.loc["r-a", "final_status"] == "delivered"
    assert rows.loc["r-b", "final_status"] == "delivered"
    assert rows.loc["r-c", "final_status"] == "bounced_hard"
    # recipient-level keys
    assert rows["mailbox_provider"].astype(str).to_dict() == {
        "r-a": "gmail",
        "r-b": "yahoo",
        "r-c": "other",
    }
    # engagement stays with its recipient
    assert rows["opened_human"].to_dict() == {"r-a": False, "r-b": True, "r-c": False}
    assert rows["complained"].to_dict() == {"r-a": False, "r-b": True, "r-c": False}
    # r-a: processed +300, delivered +302; r-b: +303; r-c bounced: no latency
    assert rows.loc["r-a", "delivery_latency_s"] == 2.0
    assert rows.loc["r-b", "delivery_latency_s"] == 3.0
    assert math.isnan(rows.loc["r-c", "delivery_latency_s"])
    assert set(rows["esp"].astype(str)) == {"ses"}


def test_sent_at_falls_back_to_the_earliest_event(mixed):
    row = one(mixed, "m-drop")
    assert row["sent_at"] == T0 + pd.Timedelta(seconds=400)
    assert outcome(row) == only("dropped")
    assert math.isnan(row["delivery_latency_s"])


def test_sent_at_is_first_processed_even_when_an_event_is_earlier():
    # a clock skew puts the deferral one second before the processed event
    table = messages(build([event(10, "processed", "m1"), event(9, "deferred", "m1")]))
    assert one(table, "m1")["sent_at"] == T0 + pd.Timedelta(seconds=10)


def test_pending_when_no_terminal_event(mixed):
    row = one(mixed, "m-pend")
    assert row["final_status"] == "pending"
    assert outcome(row) == only(None)
    assert row["deferred_attempts"] == 1


def test_keys_are_gathered_across_events(mixed):
    # pool only on processed, IP only on delivered (the SendGrid pattern)
    row = one(mixed, "m-late")
    assert row["ip_pool"] == "pool-a"
    assert row["sending_ip"] == "192.0.2.10"
    assert row["stream"] == "transactional"
    assert pd.isna(row["campaign"])
    assert row["recipient_domain"] == "gmail.com"
    assert row["mailbox_provider"] == "gmail"


def test_key_tie_at_one_instant_takes_the_smallest_value(mixed):
    # deferrals from 192.0.2.9 and 192.0.2.10 at the same second: string order, not numeric,
    # puts "192.0.2.10" first ("1" < "9" at the last position)
    assert one(mixed, "m-tie")["sending_ip"] == "192.0.2.10"
    assert one(mixed, "m-tie")["unsubscribed"]


@pytest.mark.parametrize(
    ("kinds", "expected"),
    [
        ([("delivered", None)], "delivered"),
        ([("delivered", None), ("bounced", "soft")], "bounced_soft"),
        ([("bounced", "soft"), ("delivered", None)], "bounced_soft"),
        ([("delivered", None), ("bounced", "block")], "blocked"),
        ([("bounced", "block"), ("bounced", "hard")], "bounced_hard"),
        ([("bounced", "soft"), ("bounced", "block")], "blocked"),
        ([("bounced", "undetermined")], "bounced_soft"),
        ([("bounced", None)], "bounced_soft"),
        ([("dropped", None), ("delivered", None)], "dropped"),
        ([("dropped", None), ("bounced", "soft")], "bounced_soft"),
        ([("deferred", None)], "pending"),
        ([("opened", None)], "pending"),
    ],
)
def test_outcome_precedence(kinds, expected):
    rows = [event(0, "processed", "m1")]
    rows += [
        event(10 + i, kind, "m1", bounce_class=bounce) for i, (kind, bounce) in enumerate(kinds)
    ]
    row = one(messages(build(rows)), "m1")
    assert row["final_status"] == expected
    assert outcome(row) == only(None if expected == "pending" else expected)


def test_order_of_events_does_not_matter(mixed_events, mixed):
    shuffled = mixed_events.sample(frac=1.0, random_state=7)
    pd.testing.assert_frame_equal(messages(shuffled), mixed)


def test_keys_from_non_canonical_dtypes_are_cast():
    # object columns and microsecond timestamps, as a hand-made frame would have them
    frame = build([event(0, "processed", "m1"), event(3, "delivered", "m1")])
    loose = frame.astype({"message_id": object, "recipient": object, "sending_ip": object})
    loose["timestamp"] = loose["timestamp"].astype("datetime64[us, UTC]")
    pd.testing.assert_frame_equal(messages(loose), messages(frame))


# --------------------------------------------------------------------------------------------
# Empty input and errors
# --------------------------------------------------------------------------------------------


def test_empty_events():
    table = messages(empty_events())
    assert len(table) == 0
    assert dict(table.dtypes) == MESSAGE_DTYPES
    parts = message_parts(empty_events())
    assert len(parts) == 0 and dict(parts.dtypes) == MESSAGE_PART_DTYPES
    assert dict(combine_message_parts([]).dtypes) == MESSAGE_PART_DTYPES
    pd.testing.assert_frame_equal(finalize_messages(combine_message_parts([parts, parts])), table)


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match="is_machine"):
        messages(empty_events().drop(columns=["is_machine"]))


def test_finalize_rejects_parts_that_were_not_combined(mixed_events):
    half = len(mixed_events) // 2
    stacked = pd.concat(
        [message_parts(mixed_events.iloc[:half]), message_parts(mixed_events.iloc[half:])],
        ignore_index=True,
    )
    with pytest.raises(ValueError, match="combine_message_parts"):
        finalize_messages(stacked)


def test_combine_rejects_foreign_tables(mixed):
    with pytest.raises(ValueError, match="missing columns"):
        combine_message_parts([mixed])


# --------------------------------------------------------------------------------------------
# Chunked aggregation: any split, any order, any grouping of combines gives the one-pass table
# --------------------------------------------------------------------------------------------


def split(events: pd.DataFrame, order: list[int], cuts: list[int]) -> list[pd.DataFrame]:
    shuffled = events.iloc[order]
    bounds = [0, *sorted(cuts), len(events)]
    return [shuffled.iloc[low:high] for low, high in zip(bounds[:-1], bounds[1:], strict=True)]


@st.composite
def chunking(draw, n: int):
    order = draw(st.permutations(range(n)))
    cuts = draw(st.lists(st.integers(0, n), max_size=8))
    return list(order), cuts


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_chunked_parts_combine_to_the_one_pass_result(data, mixed_events, mixed):
    order, cuts = data.draw(chunking(len(mixed_events)))
    chunks = split(mixed_events, order, cuts)
    parts = [message_parts(chunk) for chunk in chunks]
    pd.testing.assert_frame_equal(finalize_messages(combine_message_parts(parts)), mixed)


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_combine_is_associative(data, mixed_events, mixed):
    order, cuts = data.draw(chunking(len(mixed_events)))
    parts = [message_parts(chunk) for chunk in split(mixed_events, order, cuts)]
    pivot = data.draw(st.integers(0, len(parts)))
    nested = combine_message_parts(
        [
            combine_message_parts(parts[:pivot]),
            combine_message_parts(parts[pivot:]),
        ]
    )
    flat = combine_message_parts(parts)
    pd.testing.assert_frame_equal(nested, flat)
    pd.testing.assert_frame_equal(finalize_messages(nested), mixed)


# --------------------------------------------------------------------------------------------
# End to end from a SendGrid Event Webhook POST
# --------------------------------------------------------------------------------------------

# Hand-read from tests/data/sendgrid/messages_sample.json (times after T0 in seconds).
# fmt: off
SENDGRID_EXPECTED = pd.DataFrame(
    [
        # domain, message_id, status, deferred, human, machine, clicked, complained, unsub, latency, ip
        ("gmail.com", "Aq3xY7bTRvS0mK2pL9wZ1g", "delivered", 2, True, False, True, False, False, 1860.0, "149.72.10.11"),
        ("icloud.com", "Bz8kQ1nWS4uYc6Vd0eHf2A", "delivered", 0, False, True, False, False, False, 3.0, "149.72.10.12"),
        ("yahoo.com", "Cm5tR2pXQ0aLb7Nc9dKe3w", "bounced_hard", 0, False, False, False, False, False, 4.0, "149.72.10.11"),
        ("outlook.com", "Dk2wP9sLT1yFh3Gj5aMb6Q", "blocked", 0, False, False, False, False, False, np.nan, "149.72.10.12"),
        ("gmail.com", "Ep7vN4cHS8iRd2Tf6bLg1A", "dropped", 0, False, False, False, False, False, np.nan, None),
        ("gmail.com", "Fg1hJ2kLM3nOp4Qr5sTu6v", "delivered", 0, False, False, False, True, False, 2.0, "149.72.10.13"),
        ("hotmail.com", "Fg1hJ2kLM3nOp4Qr5sTu6v", "pending", 1, False, False, False, False, False, np.nan, "149.72.10.13"),
        ("yahoo.com", "Hs6yU3eRT9wQa1Zx4cVb8n", "delivered", 0, True, False, False, False, True, 5.0, "149.72.10.13"),
    ],
    columns=["recipient_domain", "message_id", "final_status", "deferred_attempts", "opened_human",
             "opened_machine", "clicked", "complained", "unsubscribed", "delivery_latency_s",
             "sending_ip"],
)
# fmt: on


SENDGRID_SAMPLE = Path(__file__).parent / "data" / "sendgrid" / "messages_sample.json"


@pytest.fixture(scope="module")
def sendgrid_messages():
    events, meta = read_sendgrid(SENDGRID_SAMPLE)
    # 25 records: 24 events and one webhook retry of A's first deferral
    assert (meta["records_read"], meta["events"], meta["duplicates"]) == (25, 24, 1)
    return events, messages(events)


def test_sendgrid_sample_end_to_end(sendgrid_messages):
    events, table = sendgrid_messages
    assert len(table) == 8
    assert table["event_count"].sum() == len(events) == 24
    key = ["message_id", "recipient_domain"]
    got = plain(table[SENDGRID_EXPECTED.columns]).sort_values(key, ignore_index=True)
    expected = plain(SENDGRID_EXPECTED).sort_values(key, ignore_index=True)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)


def test_sendgrid_async_bounce_joins_its_message(sendgrid_messages):
    # The next-day bounce has no sg_message_id; the reader falls back to smtp-id, and the
    # bounce lands on the same message as its processed/delivered events.
    _, table = sendgrid_messages
    carol = table[table["message_id"] == "Cm5tR2pXQ0aLb7Nc9dKe3w"]
    assert len(carol) == 1
    assert carol["event_count"].iloc[0] == 3
    assert not carol["delivered"].iloc[0] and carol["bounced_hard"].iloc[0]


def test_sendgrid_keys_come_from_different_events(sendgrid_messages):
    _, table = sendgrid_messages
    alice = table[table["message_id"] == "Aq3xY7bTRvS0mK2pL9wZ1g"].iloc[0]
    # pool on processed only, IP on deferred/delivered only, stream a custom argument
    assert alice["ip_pool"] == "transactional"
    assert alice["sending_ip"] == "149.72.10.11"
    assert alice["stream"] == "onboarding"
    assert alice["campaign"] == "onboarding,welcome"
    assert alice["mailbox_provider"] == "gmail"


def test_sendgrid_one_request_two_recipients(sendgrid_messages):
    # frank@ and grace@ were sent in one API request: one smtp-id, one message_id
    _, table = sendgrid_messages
    pair = table[table["message_id"] == "Fg1hJ2kLM3nOp4Qr5sTu6v"]
    assert len(pair) == 2 and pair["recipient"].nunique() == 2
    assert sorted(pair["mailbox_provider"].astype(str)) == ["gmail", "microsoft"]
    # recipients are pseudonymized by the reader, never in clear
    assert not pair["recipient"].str.contains("@").any()


def test_sendgrid_chunked_like_one_pass(sendgrid_messages):
    events, table = sendgrid_messages
    # one chunk per day of events, as daily-partitioned Parquet files would be read
    days = events["timestamp"].dt.floor("D")
    parts = [message_parts(chunk) for _, chunk in events.groupby(days)]
    assert len(parts) == 3
    pd.testing.assert_frame_equal(finalize_messages(combine_message_parts(parts)), table)
