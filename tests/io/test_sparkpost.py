"""SparkPost (Bird) reader (log-formats.md section 5; section 13, trap 8).

Fixtures in tests/data/sparkpost/ (wire shapes of SparkPost's webhook and Events API docs):

- webhook_batch.json: one POSTed batch, 30 elements, every event type and bounce class row,
  a ``cust`` sibling, a ``relay_message``, a ping;
- events_api_page.json: an Events API page of 5 flat events, 3 of them also in the batch;
- stored_batches.jsonl: 3 POST bodies as stored, the last a retry of the second (6 + 8 + 8);
- bad_records.jsonl: one element per line; line 1 good, lines 2-6 each broken in one way.
"""

import json

import pandas as pd
import pytest

from deliverability_econ.io import (
    InputFormatError,
    brevo,
    check_reconciliation,
    detect_format,
    mandrill,
    read_events,
    sendgrid,
    sparkpost,
)
from deliverability_econ.io._base import IgnoreRecord, RecordError
from deliverability_econ.io.sparkpost import normalize, read_sparkpost
from deliverability_econ.privacy import pseudonymize_address
from deliverability_econ.schema import validate_events

from ..conftest import TEST_SALT

NOW = 1_764_000_000.0  # 2025-11-24: the future check does not depend on the clock


@pytest.fixture
def folder(data_dir):
    return data_dir / "sparkpost"


@pytest.fixture
def batch(folder):
    return folder / "webhook_batch.json"


def by_id(events):
    return events.set_index("event_id")


def test_every_event_type_maps(batch):
    events, meta = read_sparkpost(batch, now=NOW)
    assert validate_events(events).empty
    # 30 elements: 2 auto-replies (bounce classes 60 and 100), 1 subscribe request (80), one
    # inbound relay message and one ping are out of scope; the other 25 are events.
    assert meta["records_read"] == 30
    assert meta["ignored"] == {"auto-reply": 2, "subscribe request": 1, "inbound relay": 1, "ping": 1}
    assert meta["events"] == 25 and meta["quarantined"] == 0 and meta["duplicates"] == 0
    assert check_reconciliation(meta)
    counts = events["event"].value_counts().to_dict()
    # Counted by hand from the fixture's event types.
    assert counts == {
        "processed": 3,  # injection x3
        "delivered": 2,  # delivery x2
        "deferred": 1,  # delay
        "bounced": 6,  # bounce 10, 22, 51, 1; out_of_band 30, 90
        "dropped": 4,  # bounce 25, policy_rejection, generation_rejection, generation_failure
        "opened": 4,  # initial_open, open, amp_initial_open, amp_open
        "clicked": 2,  # click, amp_click
        "complained": 1,  # spam_complaint
        "unsubscribed": 2,  # list_unsubscribe, link_unsubscribe
    }
    assert set(events["esp"]) == {"sparkpost"}


@pytest.mark.parametrize(
    ("event_id", "event", "bounce_class"),
    [
        ("7052483906134912022", "bounced", "hard"),  # 10 Invalid Recipient
        ("7052483906134912031", "bounced", "soft"),  # 22 Mailbox Full
        ("7052483906134912041", "bounced", "block"),  # 51 Spam Block
        ("7052483906134912042", "bounced", "undetermined"),  # 1 Undetermined
        ("7052483906134912043", "dropped", None),  # 25 Admin Failure
        ("7052483906134912044", "bounced", "hard"),  # out_of_band, 30 Generic Bounce: No RCPT
        ("7052483906134912048", "bounced", "hard"),  # out_of_band, 90 Unsubscribe [Hard]
        ("7052483906134912012", "deferred", None),  # delay with bounce_class 21: still deferred
    ],
)
def test_bounce_class_table(batch, event_id, event, bounce_class):
    row = by_id(read_sparkpost(batch, now=NOW)[0]).loc[event_id]
    assert row["event"] == event
    if bounce_class is None:
        assert pd.isna(row["bounce_class"])
    else:
        assert row["bounce_class"] == bounce_class


def test_auto_replies_and_subscribe_are_not_events(batch):
    events = read_sparkpost(batch, now=NOW)[0]
    # out_of_band with classes 60, 100 and 80 (event ids ...045, ...046, ...047).
    assert not {"7052483906134912045", "7052483906134912046", "7052483906134912047"} & set(events["event_id"])


def test_bounce_class_codes_unknown_and_malformed():
    element = {"msys": {"message_event": {
        "type": "bounce", "bounce_class": "99", "event_id": "1", "message_id": "m", "rcpt_to": "a@b.com",
        "timestamp": "1761994800"}}}
    assert normalize(element)[0]["bounce_class"] == "undetermined"  # not in the table
    element["msys"]["message_event"]["bounce_class"] = "ten"
    with pytest.raises(RecordError) as info:
        normalize(element)
    assert info.value.field == "bounce_class"
    del element["msys"]["message_event"]["bounce_class"]
    assert normalize(element)[0]["bounce_class"] == "undetermined"


def test_class_key_is_not_trusted_and_both_time_formats(batch):
    """Trap 8: generation events under gen_event *and* message_event; ISO and epoch strings."""
    events = by_id(read_sparkpost(batch, now=NOW)[0])
    rejection = events.loc["7052483906134912052"]  # gen_event, timestamp "1761994881"
    failure = events.loc["7052483906134912053"]  # message_event, timestamp ISO "...T11:01:22.000Z"
    assert rejection["event"] == failure["event"] == "dropped"
    assert rejection["timestamp"] == pd.Timestamp("2025-11-01T11:01:21Z")
    assert failure["timestamp"] == pd.Timestamp("2025-11-01T11:01:22Z")
    assert rejection["smtp_status"] == "5.3.3"


def test_ping_cust_and_msys_shapes():
    with pytest.raises(IgnoreRecord, match="ping"):
        normalize({"msys": {}})
    event = {"type": "delivery", "event_id": "9", "message_id": "m", "rcpt_to": "a@b.com",
             "timestamp": "1761994800"}
    # The sibling `cust` key is tolerated; the class key can be anything.
    assert normalize({"msys": {"whatever_event": event}, "cust": {"id": 214057}})[0]["event"] == "delivered"
    with pytest.raises(RecordError) as info:
        normalize({"msys": {"message_event": event, "track_event": event}})
    assert info.value.field == "msys"
    with pytest.raises(IgnoreRecord, match="inbound relay"):
        normalize({"msys": {"relay_message": {"type": "relay_delivery"}}})


def test_keys_ip_pool_stream_campaign(batch):
    events = by_id(read_sparkpost(batch, now=NOW)[0])
    injection = events.loc["7052483906134912001"]  # the element with a `cust` sibling
    assert injection["message_id"] == "0004a7c3b2e1f6d8c9a1"
    assert injection["sending_ip"] == "147.253.210.12"
    assert injection["ip_pool"] == "transactional"
    assert injection["stream"] == "onboarding"  # rcpt_meta["stream"]
    assert injection["campaign"] == "welcome-series"  # campaign_id
    # On opens the requester's `ip_address` (84.17.20.33) is not taken for ours.
    assert events.loc["7052483906134912004", "sending_ip"] == "147.253.210.12"
    newsletter = events.loc["7052483906134912041"]
    assert (newsletter["ip_pool"], newsletter["stream"]) == ("marketing", "marketing")


def test_status_and_reason(batch):
    events = by_id(read_sparkpost(batch, now=NOW)[0])
    block = events.loc["7052483906134912041"]
    assert block["smtp_status"] == "5.7.1"
    # `reason` is SparkPost's redacted text (the IP is a.b.c.d), preferred over raw_reason.
    assert "a.b.c.d" in block["reason"]
    assert events.loc["7052483906134912012", "smtp_status"] == "4.7.0"


def test_initial_open_and_open_both_kept_one_opened_message(batch):
    """initial_open and open are both `opened` events; per message the open is counted once."""
    events = read_sparkpost(batch, now=NOW)[0]
    opened = events[events["event"] == "opened"]
    assert opened.groupby("message_id").size().to_dict() == {
        "0004a7c3b2e1f6d8c9a1": 2,  # initial_open + open
        "0004a7c3b2e1f6d8c9a2": 2,  # amp_initial_open + amp_open
    }
    assert opened["message_id"].nunique() == 2
    assert not opened["is_machine"].any()


def test_events_api_page(folder):
    events, meta = read_sparkpost(folder / "events_api_page.json", now=NOW)
    assert meta["records_read"] == 5 and meta["events"] == 5
    assert check_reconciliation(meta)
    assert validate_events(events).empty
    events = by_id(events)
    # ISO timestamps with "Z" and with "+00:00" decode to the webhook's epoch strings.
    assert events.loc["7052483906134912002", "timestamp"] == pd.Timestamp(1761994803, unit="s", tz="UTC")
    assert events.loc["7052483906134912004", "timestamp"] == pd.Timestamp(1761998401, unit="s", tz="UTC")
    assert events.loc["7052483906134913002", "event"] == "delivered"


def test_quarantine_location_inside_an_events_page(tmp_path):
    page = {"results": [
        {"type": "delivery", "event_id": "1", "message_id": "m", "rcpt_to": "a@gmail.com",
         "timestamp": "2025-11-01T11:00:03.000Z"},
        {"type": "delivery", "event_id": "2", "message_id": "m", "timestamp": "2025-11-01T11:00:03.000Z"},
    ], "total_count": 2, "links": {}}
    path = tmp_path / "page.json"
    path.write_text(json.dumps(page))
    events, meta = read_sparkpost(path, now=NOW)
    assert meta["events"] == 1 and meta["quarantined"] == 1
    entry = meta["quarantine"].iloc[0]
    assert (entry["location"], entry["field"]) == ("line 1 (entry 2)", "rcpt_to")


def test_webhook_and_events_api_overlap_dedupes(batch, folder):
    events, meta = read_events([batch, folder / "events_api_page.json"], now=NOW)
    # 25 events from the batch, 5 from the page of which 3 share the batch's event_id.
    assert meta["duplicates"] == 3
    assert meta["events"] == 27
    assert check_reconciliation(meta)


def test_retried_batch_dedupes(folder):
    events, meta = read_sparkpost(folder / "stored_batches.jsonl", now=NOW)
    assert meta["records_read"] == 22  # 6 + 8 + 8 elements
    assert meta["duplicates"] == 8  # the third line is the second one, retried
    assert meta["events"] == 14
    assert check_reconciliation(meta)


def test_stored_batches_equal_the_posted_batch(batch, folder):
    posted = read_sparkpost(batch, now=NOW)[0]
    stored = read_sparkpost(folder / "stored_batches.jsonl", now=NOW)[0]
    # The stored lines hold the batch's first 14 elements.
    expected = posted[posted["event_id"].isin(set(stored["event_id"]))].reset_index(drop=True)
    assert len(expected) == 14
    pd.testing.assert_frame_equal(stored, expected)


def test_same_file_twice_counts_once(batch):
    events, meta = read_events([batch, batch], now=NOW)
    assert meta["events"] == 25 and meta["duplicates"] == 25
    assert meta["ignored"]["ping"] == 2
    assert check_reconciliation(meta)


def test_recipients_pseudonymized_and_reasons_scrubbed(batch):
    events = read_sparkpost(batch, now=NOW)[0]
    assert not events["recipient"].str.contains("@").any()
    assert pseudonymize_address("alice.smith@gmail.com", TEST_SALT.encode()) in set(events["recipient"])
    assert not events["reason"].dropna().str.contains("carol.white@yahoo.com").any()
    clear = read_sparkpost(batch, pseudonymize=False, now=NOW)[0]
    assert "alice.smith@gmail.com" in set(clear["recipient"])


def test_bad_records_quarantined_with_their_field(folder):
    path = folder / "bad_records.jsonl"
    events, meta = read_sparkpost(path, now=NOW)
    assert meta["records_read"] == 6 and meta["events"] == 1 and meta["quarantined"] == 5
    assert check_reconciliation(meta)
    quarantine = meta["quarantine"].set_index("location")
    assert quarantine.loc["line 2", "field"] == "rcpt_to"
    assert quarantine.loc["line 3", "field"] == "timestamp"
    assert "yesterday" in quarantine.loc["line 3", "reason"]
    assert quarantine.loc["line 4", "field"] == "timestamp"
    assert "without a zone" in quarantine.loc["line 4", "reason"]
    assert quarantine.loc["line 5", "field"] == "type"
    assert "teleport" in quarantine.loc["line 5", "reason"]
    assert "invalid JSON" in quarantine.loc["line 6", "reason"]
    assert set(quarantine["source"]) == {str(path)}
    # Addresses never reach the quarantine in clear.
    assert not quarantine["raw"].str.contains("alice.smith@gmail.com", regex=False).any()


@pytest.mark.parametrize(
    ("line", "field"),
    [(2, "rcpt_to"), (3, "timestamp"), (4, "timestamp"), (5, "type"), (6, None)],
)
def test_bad_record_raises_naming_file_line_field(folder, tmp_path, line, field):
    lines = (folder / "bad_records.jsonl").read_text().splitlines()
    path = tmp_path / "one_bad.jsonl"
    path.write_text(lines[0] + "\n" + lines[line - 1] + "\n")
    with pytest.raises(InputFormatError) as info:
        read_sparkpost(path, errors="raise", now=NOW)
    assert info.value.source == str(path)
    assert info.value.location == "line 2"
    assert info.value.field == field
    assert str(path) in str(info.value) and "line 2" in str(info.value)


SENDGRID_HEAD = (
    '[{"email": "a@gmail.com", "timestamp": 1761994800, "smtp-id": "<x@ismtpd-1>", '
    '"event": "delivered", "sg_event_id": "abc", "sg_message_id": "x.filter0001"}]'
)


def test_sniff_recognizes_sparkpost_only(folder, data_dir):
    for name in ("webhook_batch.json", "events_api_page.json", "stored_batches.jsonl"):
        head = (folder / name).read_text()[:65_536]
        assert sparkpost.sniff(head), name
        assert detect_format(head) == "sparkpost", name
        assert not sendgrid.sniff(head) and not mandrill.sniff(head) and not brevo.sniff(head), name
    assert not sparkpost.sniff(SENDGRID_HEAD)
    for other in ("mandrill/events.json", "mandrill/webhook_posts.txt", "brevo/webhook_events.jsonl",
                  "sendgrid/webhook_post.json"):
        assert not sparkpost.sniff((data_dir / other).read_text()[:65_536]), other
