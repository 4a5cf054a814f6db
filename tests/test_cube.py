"""Tests for deliverability_econ.cube.daily_cube: counts per send day × keys.

Expected counts are hand-tallied from the events written here and from
tests/data/sendgrid/messages_sample.json (see tests/test_messages.py for its per-message table).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deliverability_econ.cube import CUBE_COUNT_COLUMNS, daily_cube
from deliverability_econ.io import read_sendgrid
from deliverability_econ.messages import OUTCOME_FLAGS, messages
from deliverability_econ.schema import coerce_events, empty_events

SENDGRID_SAMPLE = Path(__file__).parent / "data" / "sendgrid" / "messages_sample.json"
DAY1 = pd.Timestamp("2025-03-03")
DAY2 = pd.Timestamp("2025-03-04")
DAY3 = pd.Timestamp("2025-03-05")

PROVIDER_OF_DOMAIN = {"gmail.com": "gmail", "outlook.com": "microsoft", "yahoo.com": "yahoo"}


_EVENT_NUMBERS = itertools.count(1)


def event(
    when: str,
    kind: str,
    message_id: str,
    recipient: str = "r1",
    *,
    domain: str = "gmail.com",
    **fields,
) -> dict:
    number = next(_EVENT_NUMBERS)
    return {
        "timestamp": pd.Timestamp(when),
        "event": kind,
        "message_id": message_id,
        "event_id": f"cube-ev-{number}",
        "recipient": recipient,
        "recipient_domain": domain,
        "mailbox_provider": PROVIDER_OF_DOMAIN[domain],
        "is_machine": fields.pop("is_machine", False),
        "esp": "sendgrid",
        **fields,
    }


ROWS = [
    # c1: sent late on day 1, delivered just after midnight, opened on day 3 -> all on day 1
    event("2025-03-03T23:59:58Z", "processed", "c1", sending_ip="192.0.2.1", stream="onboarding"),
    event("2025-03-04T00:00:03Z", "delivered", "c1", sending_ip="192.0.2.1"),
    event("2025-03-05T08:00:00Z", "opened", "c1"),
    # c2: day 1, two deferrals then delivered (latency 600 s), bot click only
    event("2025-03-03T10:00:00Z", "processed", "c2", stream="onboarding"),
    event("2025-03-03T10:01:00Z", "deferred", "c2", sending_ip="192.0.2.1"),
    event("2025-03-03T10:05:00Z", "deferred", "c2", sending_ip="192.0.2.1"),
    event("2025-03-03T10:10:00Z", "delivered", "c2", sending_ip="192.0.2.1"),
    event("2025-03-03T10:10:05Z", "clicked", "c2", is_machine=True),
    # c3: day 1, Outlook, unknown IP (dropped by the ESP)
    event("2025-03-03T11:00:00Z", "dropped", "c3", domain="outlook.com", stream="marketing"),
    # c4: exactly midnight of day 2, Outlook, blocked from 192.0.2.2
    event("2025-03-04T00:00:00Z", "processed", "c4", domain="outlook.com", stream="marketing"),
    event(
        "2025-03-04T00:00:02Z",
        "bounced",
        "c4",
        domain="outlook.com",
        bounce_class="block",
        sending_ip="192.0.2.2",
    ),
    # c5: day 2, Gmail, delivered (latency 1 s) then hard-bounced on day 3; complaint
    event("2025-03-04T09:00:00Z", "processed", "c5", stream="marketing"),
    event("2025-03-04T09:00:01Z", "delivered", "c5", sending_ip="192.0.2.2"),
    event("2025-03-05T09:00:00Z", "bounced", "c5", bounce_class="hard"),
    # c6: day 2, Yahoo, processed and deferred only: pending; no stream
    event("2025-03-04T12:00:00Z", "processed", "c6", domain="yahoo.com"),
    event("2025-03-04T12:01:00Z", "deferred", "c6", domain="yahoo.com", sending_ip="192.0.2.2"),
    # c7: day 2, Gmail, soft bounce, machine open, unsubscribed
    event("2025-03-04T13:00:00Z", "processed", "c7", stream="marketing"),
    event("2025-03-04T13:00:05Z", "bounced", "c7", bounce_class="soft", sending_ip="192.0.2.2"),
    event("2025-03-04T13:00:06Z", "opened", "c7", is_machine=True),
    event("2025-03-04T13:10:00Z", "unsubscribed", "c7"),
]


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return messages(coerce_events(pd.DataFrame(ROWS)))


def cell(cube: pd.DataFrame, **keys) -> pd.Series:
    mask = np.ones(len(cube), dtype=bool)
    for name, value in keys.items():
        column = cube[name]
        mask &= (column.isna() if value is None else column == value).to_numpy(
            dtype=bool, na_value=False
        )
    assert mask.sum() == 1, f"expected one row for {keys}, got {mask.sum()}"
    return cube.loc[mask].iloc[0]


def test_columns_and_dtypes(table):
    cube = daily_cube(table)
    assert list(cube.columns) == ["date", "mailbox_provider", *CUBE_COUNT_COLUMNS]
    assert cube["date"].dtype == np.dtype("datetime64[ns]")
    assert isinstance(cube["mailbox_provider"].dtype, pd.CategoricalDtype)
    for name in CUBE_COUNT_COLUMNS:
        expected = np.dtype("float64") if name == "delivery_latency_s_sum" else np.dtype("int64")
        assert cube[name].dtype == expected, name
    assert cube.index.equals(pd.RangeIndex(len(cube)))


def test_cohorted_by_send_day(table):
    cube = daily_cube(table, by=())
    # c1, c2, c3 sent on day 1; c4 (00:00:00), c5, c6, c7 on day 2; nothing sent on day 3
    assert cube["date"].tolist() == [DAY1, DAY2]
    day1, day2 = cube.iloc[0], cube.iloc[1]
    assert day1["messages"] == 3 and day2["messages"] == 4
    # c1's delivery after midnight and open on day 3 count on day 1
    assert day1["delivered"] == 2 and day1["opened_human"] == 1
    # c5's day-3 bounce counts on day 2, and overrides its delivery
    assert day2["bounced_hard"] == 1 and day2["delivered"] == 0


def test_counts_by_provider(table):
    cube = daily_cube(table)
    assert len(cube) == 5
    gmail1 = cell(cube, date=DAY1, mailbox_provider="gmail")  # c1, c2
    assert gmail1[
        [
            "messages",
            "delivered",
            "deferred",
            "deferred_attempts",
            "opened_human",
            "clicked",
            "clicked_machine",
        ]
    ].tolist() == [2, 2, 1, 2, 1, 0, 1]
    # latencies: c1 5 s (23:59:58 -> 00:00:03), c2 600 s
    assert gmail1["delivery_latency_s_sum"] == 605.0 and gmail1["delivery_latency_s_count"] == 2
    assert cell(cube, date=DAY1, mailbox_provider="microsoft")[
        ["messages", "dropped"]
    ].tolist() == [1, 1]
    gmail2 = cell(cube, date=DAY2, mailbox_provider="gmail")  # c5, c7
    assert gmail2[
        [
            "messages",
            "bounced_hard",
            "bounced_soft",
            "opened_machine",
            "opened_human",
            "complained",
            "unsubscribed",
        ]
    ].tolist() == [2, 1, 1, 1, 0, 0, 1]
    # c5's latency (1 s) is measured although it bounced later
    assert gmail2["delivery_latency_s_sum"] == 1.0 and gmail2["delivery_latency_s_count"] == 1
    assert cell(cube, date=DAY2, mailbox_provider="microsoft")["blocked"] == 1
    yahoo2 = cell(cube, date=DAY2, mailbox_provider="yahoo")
    assert yahoo2[["messages", "pending", "deferred", "deferred_attempts"]].tolist() == [1, 1, 1, 1]


def test_outcomes_partition_the_messages(table):
    cube = daily_cube(table, by=("mailbox_provider", "sending_ip"))
    outcomes = cube[[*OUTCOME_FLAGS, "pending"]].sum(axis=1)
    assert (outcomes == cube["messages"]).all()
    assert cube["messages"].sum() == len(table) == 7


def test_by_provider_and_ip_keeps_missing_ip_as_its_own_group(table):
    cube = daily_cube(table, by=("mailbox_provider", "sending_ip"))
    assert list(cube.columns[:3]) == ["date", "mailbox_provider", "sending_ip"]
    # c3 was dropped before any IP was assigned: its own group, not lost
    dropped = cell(cube, date=DAY1, mailbox_provider="microsoft", sending_ip=None)
    assert dropped["messages"] == 1 and dropped["dropped"] == 1
    assert cell(cube, date=DAY1, mailbox_provider="gmail", sending_ip="192.0.2.1")["messages"] == 2
    assert cell(cube, date=DAY2, mailbox_provider="gmail", sending_ip="192.0.2.2")["messages"] == 2
    assert len(cube) == 5


def test_by_stream_accepts_a_bare_string(table):
    cube = daily_cube(table, by="stream")
    pd.testing.assert_frame_equal(cube, daily_cube(table, by=("stream",)))
    assert cell(cube, date=DAY1, stream="onboarding")["messages"] == 2
    assert cell(cube, date=DAY1, stream="marketing")["messages"] == 1
    assert cell(cube, date=DAY2, stream="marketing")["messages"] == 3
    assert cell(cube, date=DAY2, stream=None)["messages"] == 1  # c6 has no stream


def test_finer_keys_sum_to_coarser_keys(table):
    fine = daily_cube(table, by=("mailbox_provider", "sending_ip"))
    coarse = daily_cube(table, by=("mailbox_provider",))
    summed = (
        fine.groupby(["date", "mailbox_provider"], observed=True, dropna=False)[
            list(CUBE_COUNT_COLUMNS)
        ]
        .sum()
        .reset_index()
    )
    pd.testing.assert_frame_equal(summed, coarse)


def test_empty_messages_give_an_empty_cube():
    cube = daily_cube(messages(empty_events()), by=("mailbox_provider", "stream"))
    assert len(cube) == 0
    assert list(cube.columns) == ["date", "mailbox_provider", "stream", *CUBE_COUNT_COLUMNS]
    assert cube["date"].dtype == np.dtype("datetime64[ns]")
    assert cube["messages"].dtype == np.dtype("int64")


@pytest.mark.parametrize(
    ("by", "message"),
    [
        (("ip",), "not in the messages table"),
        (("delivered",), "cube columns"),
        (("stream", "stream"), "repeats"),
    ],
)
def test_bad_keys_are_refused(table, by, message):
    with pytest.raises(ValueError, match=message):
        daily_cube(table, by=by)


def test_sendgrid_sample_cube():
    events, _ = read_sendgrid(SENDGRID_SAMPLE)
    cube = daily_cube(messages(events))
    # all 8 messages were processed on 2025-03-03; the bounce (day 2), the complaint (day 2)
    # and heidi's open and unsubscribe (day 3) count on that day.
    assert cube["date"].unique().tolist() == [DAY1]
    counted = cube.set_index(cube["mailbox_provider"].astype(str))
    columns = [
        "messages",
        "delivered",
        "bounced_hard",
        "blocked",
        "dropped",
        "pending",
        "deferred",
        "deferred_attempts",
        "opened_human",
        "opened_machine",
        "clicked",
        "complained",
        "unsubscribed",
        "delivery_latency_s_count",
    ]
    expected = pd.DataFrame(
        {
            # alice (delivered, 2 deferrals, open, click), erin (dropped), frank (delivered, spam)
            "gmail": [3, 2, 0, 0, 1, 0, 1, 2, 1, 0, 1, 1, 0, 2],
            # dave (blocked), grace (pending after 1 deferral)
            "microsoft": [2, 0, 0, 1, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0],
            # carol (delivered then bounced), heidi (delivered, opened day 3, unsubscribed)
            "yahoo": [2, 1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 2],
            # bob (delivered, Apple MPP open)
            "apple": [1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1],
        },
        index=columns,
    ).T
    pd.testing.assert_frame_equal(counted.loc[expected.index, columns], expected, check_names=False)
    # latencies: alice 1860 + frank 2; carol 4 + heidi 5; bob 3
    assert counted["delivery_latency_s_sum"].to_dict() == {
        "gmail": 1862.0,
        "microsoft": 0.0,
        "yahoo": 9.0,
        "apple": 3.0,
    }


@settings(max_examples=30, deadline=None)
@given(
    sent=st.lists(
        st.tuples(
            st.integers(0, 5 * 86_400 - 1),
            st.sampled_from(["gmail", "yahoo", None]),
            st.booleans(),
        ),
        max_size=30,
    )
)
def test_every_message_is_counted_once_on_its_utc_day(sent):
    start = pd.Timestamp("2025-03-01T00:00:00Z")
    frame = pd.DataFrame(
        {
            "sent_at": [start + pd.Timedelta(seconds=s) for s, _, _ in sent],
            "mailbox_provider": pd.Categorical(
                [p for _, p, _ in sent], categories=["gmail", "yahoo"]
            ),
            **{name: [False] * len(sent) for name in OUTCOME_FLAGS},
            "deferred_attempts": [0] * len(sent),
            "opened_human": [d for _, _, d in sent],
            "opened_machine": [False] * len(sent),
            "clicked": [False] * len(sent),
            "clicked_machine": [False] * len(sent),
            "complained": [False] * len(sent),
            "unsubscribed": [False] * len(sent),
            "delivery_latency_s": [np.nan] * len(sent),
        }
    )
    frame["sent_at"] = pd.to_datetime(frame["sent_at"], utc=True)
    cube = daily_cube(frame)
    assert cube["messages"].sum() == len(sent)
    assert cube["opened_human"].sum() == sum(d for _, _, d in sent)
    assert cube["pending"].sum() == len(sent)
    days = {(start + pd.Timedelta(days=s // 86_400)).tz_localize(None) for s, _, _ in sent}
    assert set(cube["date"]) == days
    assert not cube.duplicated(["date", "mailbox_provider"]).any()
