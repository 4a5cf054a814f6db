"""Mailgun reader (log-formats.md section 2; section 13 trap 9).

Fixtures in tests/data/mailgun/ (every expected count below is read off these files):

- webhooks.jsonl: 24 current webhook bodies, one per line: 22 distinct events, a stored
  (inbound) event, a test-mode delivery, a redelivery of line 2 (new signature, same
  event-data) and, on line 24, line 2's event id reused by another event the next day.
- webhook_bodies.json: the bodies of lines 1-4 as one pretty-printed JSON array.
- delayed_bounce_post.json: one pretty-printed body, a permanent delayed bounce with
  ``reason: "generic"`` (trap 9).
- events_page.json: an Events API page of 5 items; items 1, 2 and 3 are the event-data of
  webhook lines 1, 2 and 16.
- legacy_webhooks.txt: 9 form-encoded (pre-2018) webhooks, one urlencoded body per line.
"""

import json
from urllib.parse import urlencode

import pandas as pd
import pytest

from deliverability_econ.io import (
    InputFormatError,
    check_reconciliation,
    mailgun,
    postmark,
    read_events,
)
from deliverability_econ.io.mailgun import classify_bounce, read_mailgun
from deliverability_econ.privacy import pseudonymize_address
from deliverability_econ.schema import validate_events

from ..conftest import TEST_SALT

MESSAGE_A = "20251103090001.1.C4CA4238A0B92382@mg.example.com"
LEGACY_MESSAGE = "20171025185445.1.53E56AC70B5E8FAD@mg.example.com"

#: A SendGrid Event Webhook POST (log-formats.md section 1): Mailgun must not claim it.
SENDGRID_SAMPLE = (
    '[{"email":"example@test.com","timestamp":1513299569,"smtp-id":"<14c5d75ce93.dfd.64b469@ismtpd-555>",'
    '"event":"processed","category":"cat facts","sg_event_id":"sg_event_id",'
    '"sg_message_id":"sg_message_id"}]'
)
#: A Postmark Delivery webhook (log-formats.md section 4).
POSTMARK_SAMPLE = (
    '{"MessageID": "883953f4-6105-42a2-a16a-77a8eac79483", "Recipient": "john@example.com", '
    '"DeliveredAt": "2019-11-05T16:33:54.9070259Z", "RecordType": "Delivery", "MessageStream": "outbound"}'
)


@pytest.fixture
def mailgun_dir(data_dir):
    return data_dir / "mailgun"


@pytest.fixture
def webhooks(mailgun_dir):
    return mailgun_dir / "webhooks.jsonl"


def by_id(events):
    return events.set_index("event_id")


def day_id(date, event_id):
    return f"mailgun:{date}:{event_id}"


# --------------------------------------------------------------------------------------------
# Mapping of every event type
# --------------------------------------------------------------------------------------------


def test_every_event_type_maps(webhooks):
    events, meta = read_mailgun(webhooks)
    assert validate_events(events).empty
    assert meta["records_read"] == 24
    assert meta["ignored"] == {"inbound": 1, "test mode": 1}
    assert meta["duplicates"] == 1
    assert meta["events"] == 21 == len(events)
    assert meta["quarantined"] == 0
    assert check_reconciliation(meta)
    counts = events["event"].astype(str).value_counts()
    expected = {
        "processed": 1,  # accepted
        "delivered": 4,  # messages A, B, C and line 24's
        "deferred": 2,  # failed/temporary: Yahoo TSS04, greylisting
        "bounced": 5,  # failed/permanent: bounce, generic x3, old
        "dropped": 3,  # suppress-bounce (605), suppress-complaint (607), rejected
        "opened": 2,
        "clicked": 2,
        "complained": 1,
        "unsubscribed": 1,
    }
    assert counts.to_dict() == expected
    assert set(events["esp"].astype(str)) == {"mailgun"}


@pytest.mark.parametrize(
    ("event_id", "event", "bounce_class", "smtp_status"),
    [
        # failed + temporary -> deferred, whatever the reason.
        ("ZGVmZXJyZWQteWFob28tZA", "deferred", None, "4.7.0"),
        ("Z3JleWxpc3RlZC1lcmluLQ", "deferred", None, "4.7.1"),
        # failed + permanent, reason bounce, enhanced-code 5.1.1 -> hard.
        ("aGFyZC1ib3VuY2UtZnJhbms", "bounced", "hard", "5.1.1"),
        # failed + permanent, reason generic: the code or the text decides (trap 9).
        ("ZGVsYXllZC1ibG9jay1oZQ", "bounced", "block", None),  # "blocked using Spamhaus"
        ("bWFpbGJveC1mdWxsLWl2YW4", "bounced", "soft", "5.2.2"),  # mailbox full
        ("dW5kZXRlcm1pbmVkLWp1ZHk", "bounced", "undetermined", None),  # 550 "message refused"
        # reason old: Mailgun stopped retrying, a soft bounce.
        ("dG9vLW9sZC1leHBpcmVkLWs", "bounced", "soft", None),
        # rejected -> dropped.
        ("cmVqZWN0ZWQtc2FuZGJveC0", "dropped", None, None),
    ],
)
def test_failed_and_rejected_mapping(webhooks, event_id, event, bounce_class, smtp_status):
    events = by_id(read_mailgun(webhooks)[0])
    found = events.loc[day_id("2025-11-03", event_id)]
    assert found["event"] == event
    assert (pd.isna(found["bounce_class"]) if bounce_class is None else found["bounce_class"] == bounce_class)
    assert (pd.isna(found["smtp_status"]) if smtp_status is None else found["smtp_status"] == smtp_status)


def test_suppressed_addresses_are_dropped_not_bounced(webhooks):
    events = by_id(read_mailgun(webhooks)[0])
    # reason suppress-bounce, code 605; reason suppress-complaint, code 607 (next day).
    for event_id in ("c3VwcHJlc3MtYm91bmNlLWc", "c3VwcHJlc3MtY29tcGxhaW4"):
        found = events.loc[day_id("2025-11-04", event_id)]
        assert found["event"] == "dropped"
        assert pd.isna(found["bounce_class"])
    assert events.loc[day_id("2025-11-04", "c3VwcHJlc3MtYm91bmNlLWc"), "reason"] == (
        "Not delivering to previously bounced address"
    )


def test_suppression_code_alone_means_dropped():
    # Code 605 with a reason that is not suppress-*: the code still says Mailgun never tried.
    body = _body("failed", severity="permanent", reason="generic",
                 status={"code": 605, "message": "", "description": "Not delivering to previously bounced address"})
    assert mailgun.normalize(body)[0]["event"] == "dropped"


def test_permanent_generic_delayed_bounce_read_from_text(mailgun_dir):
    # The docs' "permanent, delayed bounce" sample: reason generic says nothing about the class;
    # "No Such User Here" does (trap 9).
    events, meta = read_mailgun(mailgun_dir / "delayed_bounce_post.json")
    assert meta["records_read"] == 1 and meta["events"] == 1
    found = events.iloc[0]
    assert (found["event"], found["bounce_class"]) == ("bounced", "hard")
    assert found["reason"] == "No Such User Here"


@pytest.mark.parametrize(
    ("enhanced", "smtp_code", "text", "expected"),
    [
        ("5.1.1", 550, "user unknown", "hard"),
        ("5.1.10", 550, "Recipient address rejected: null MX", "hard"),
        ("5.7.1", 554, "Message rejected", "block"),
        ("5.7.26", 550, "Unauthenticated email", "block"),
        ("5.2.2", 552, "Mailbox full", "soft"),
        ("4.4.7", 421, "Message expired", "soft"),  # a temporary code on a final failure
        (None, 550, "Client host blocked using Spamhaus", "block"),
        (None, 554, "rejected due to poor IP reputation", "block"),
        (None, 550, "No Such User Here", "hard"),
        (None, 552, "Quota exceeded", "soft"),
        ("5.0.0", 550, "Requested action not taken", "undetermined"),
        (None, 550, None, "undetermined"),
        (None, None, None, "undetermined"),
    ],
)
def test_classify_bounce(enhanced, smtp_code, text, expected):
    assert classify_bounce(enhanced, smtp_code, text) == expected


def test_bot_flag_on_opens_and_clicks(webhooks, mailgun_dir):
    events = by_id(read_mailgun(webhooks)[0])
    assert bool(events.loc[day_id("2025-11-03", "QXBwbGVNUFBvcGVuLWJvYg"), "is_machine"])  # bot=apple
    assert bool(events.loc[day_id("2025-11-03", "c2Nhbm5lci1jbGljay1jYQ"), "is_machine"])  # bot=generic
    assert not events.loc[day_id("2025-11-03", "Ft3bGp0kQ1W0e0bVzRmH6g"), "is_machine"]  # bot=""
    assert not events.loc[day_id("2025-11-03", "Rk1vT2d3QkdUWW9RbW1aWg"), "is_machine"]  # bot=""
    page = by_id(read_mailgun(mailgun_dir / "events_page.json")[0])
    assert bool(page.loc[day_id("2025-11-03", "Z21haWwtcHJveHktb3Blbg"), "is_machine"])  # bot=gmail
    # Only opens and clicks can be machine events.
    assert not events.loc[~events["event"].isin(["opened", "clicked"]), "is_machine"].any()


def test_keys_ip_stream_campaign_message_id(webhooks):
    events = by_id(read_mailgun(webhooks)[0])
    delivered = events.loc[day_id("2025-11-03", "CPgfbmQMTCKtHW6uIWtuVe")]
    assert delivered["sending_ip"] == "198.51.100.21"  # envelope.sending-ip
    assert delivered["stream"] == "transactional"  # user-variables.stream
    assert delivered["campaign"] == "onboarding"  # tags
    assert delivered["message_id"] == MESSAGE_A  # message.headers.message-id, no brackets
    newsletter = events.loc[day_id("2025-11-03", "Y2Fyb2wtZGVsaXZlcmVkLQ")]
    assert newsletter["campaign"] == "newsletter,nov-2025"
    assert newsletter["stream"] == "marketing"
    # accepted has no sending IP yet; opens carry the reader's ip, not ours.
    assert pd.isna(events.loc[day_id("2025-11-03", "Ase8gU3ZTVaAZ5h3W3W2Aw"), "sending_ip"])
    assert pd.isna(events.loc[day_id("2025-11-03", "Ft3bGp0kQ1W0e0bVzRmH6g"), "sending_ip"])
    # The five events of message A (accepted, delivered, opened, clicked, unsubscribed) join.
    assert (events["message_id"] == MESSAGE_A).sum() == 5


def test_timestamp_float_seconds(webhooks):
    events = by_id(read_mailgun(webhooks)[0])
    # event-data.timestamp 1762160402.908181 (2025-11-03T09:00:02.908181Z).
    stamp = events.loc[day_id("2025-11-03", "CPgfbmQMTCKtHW6uIWtuVe"), "timestamp"]
    expected = pd.Timestamp("2025-11-03T09:00:02.908181Z")
    assert abs(stamp - expected) < pd.Timedelta(microseconds=1)


# --------------------------------------------------------------------------------------------
# De-duplication
# --------------------------------------------------------------------------------------------


def test_event_id_is_unique_only_within_a_day(webhooks):
    # Trap 9: line 24 reuses line 2's id a day later; it is another event and must be kept.
    events = by_id(read_mailgun(webhooks)[0])
    first = events.loc[day_id("2025-11-03", "CPgfbmQMTCKtHW6uIWtuVe")]
    second = events.loc[day_id("2025-11-04", "CPgfbmQMTCKtHW6uIWtuVe")]
    assert first["message_id"] != second["message_id"]
    assert second["recipient_domain"] == "yandex.ru"


def test_redelivered_webhook_is_a_duplicate(webhooks):
    # Line 23 is line 2 POSTed again (new signature token): one duplicate, counted once.
    events, meta = read_mailgun(webhooks)
    assert meta["duplicates"] == 1
    assert events["event_id"].is_unique
    assert (events["event_id"] == day_id("2025-11-03", "CPgfbmQMTCKtHW6uIWtuVe")).sum() == 1


def test_same_file_twice_counts_once(webhooks):
    events, meta = read_events([webhooks, webhooks])
    assert meta["records_read"] == 48
    assert meta["events"] == 21
    assert meta["duplicates"] == 1 + 22  # the redelivery, then every event of the second copy
    assert check_reconciliation(meta)


def test_events_api_page_dedupes_against_webhooks(webhooks, mailgun_dir):
    page = mailgun_dir / "events_page.json"
    events, meta = read_mailgun(page)
    assert meta["records_read"] == 5 and meta["events"] == 5
    both, meta = read_events([webhooks, page])
    assert meta["format"] == "mailgun"
    assert meta["records_read"] == 24 + 5
    assert meta["duplicates"] == 1 + 3  # the redelivery, and 3 page items seen as webhooks
    assert meta["events"] == 21 + 2
    assert check_reconciliation(meta)


def test_array_of_bodies_equals_the_same_lines(webhooks, mailgun_dir):
    from_array, meta = read_mailgun(mailgun_dir / "webhook_bodies.json")
    assert meta["records_read"] == 4
    from_lines = read_mailgun(webhooks)[0]
    subset = from_lines[from_lines["event_id"].isin(from_array["event_id"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(from_array, subset)


# --------------------------------------------------------------------------------------------
# Legacy form-encoded webhooks
# --------------------------------------------------------------------------------------------


def test_legacy_form_webhooks(mailgun_dir):
    events, meta = read_mailgun(mailgun_dir / "legacy_webhooks.txt")
    assert validate_events(events).empty
    assert meta["records_read"] == 9 and meta["events"] == 9
    assert check_reconciliation(meta)
    assert events["event"].astype(str).value_counts().to_dict() == {
        "bounced": 3,  # two bounced, and a dropped with reason "old" (expired retries)
        "delivered": 1,
        "dropped": 1,  # reason hardfail, code 605
        "opened": 1,
        "clicked": 1,
        "complained": 1,
        "unsubscribed": 1,
    }
    bounces = events[events["event"] == "bounced"].set_index("recipient_domain")
    # "5.5.0 ... mailbox unavailable": the code's subject says nothing, the wording does.
    assert bounces.loc["hotmail.com", "bounce_class"] == "hard"
    assert bounces.loc["yahoo.com", "bounce_class"] == "block"  # 5.7.9 policy
    assert bounces.loc["gmx.net", "bounce_class"] == "soft"  # dropped, reason old
    assert not events["is_machine"].any()  # legacy webhooks carry no bot flag


def test_legacy_ids_keys_and_brackets(mailgun_dir):
    path = mailgun_dir / "legacy_webhooks.txt"
    events = read_mailgun(path)[0]
    delivered = events[events["event"] == "delivered"].iloc[0]
    # Message-Id arrives as "<...>"; opens give it bare: both must join.
    assert delivered["message_id"] == LEGACY_MESSAGE
    assert (events["message_id"] == LEGACY_MESSAGE).sum() == 4  # delivered, opened, clicked, unsub
    # The token of the first POST is its event id.
    first_token = dict(pair.split("=", 1) for pair in path.read_text().splitlines()[0].split("&"))["token"]
    assert delivered["event_id"] == f"mailgun:{first_token}"
    # User variables are extra form fields; a repeated tag field is a list.
    assert delivered["stream"] == "transactional"
    assert delivered["campaign"] == "receipts,billing"
    # Without tags, the legacy campaign name.
    assert events.loc[events["recipient_domain"] == "hotmail.com", "campaign"].tolist() == [
        "Fall launch", "welcome"]
    # The complaint has no Message-Id field: its id comes from message-headers.
    complaint = events[events["event"] == "complained"].iloc[0]
    assert complaint["message_id"] == "20171025185530.1.A4D2C6E8F0B1D3E5@mg.example.com"


def test_json_and_form_lines_mixed_in_one_file(tmp_path):
    message_id = "20251110120000.1.ABCDEF0123456789@mg.example.com"
    accepted = _body("accepted", message_id=message_id)
    form = urlencode({
        "event": "delivered", "recipient": "zoe@gmail.com", "domain": "mg.example.com",
        "Message-Id": f"<{message_id}>", "timestamp": "1762776005",
        "token": "c" * 50, "signature": "d" * 64,
    })
    path = tmp_path / "mixed.log"
    path.write_text(json.dumps(accepted) + "\n\n" + form + "\n")
    events, meta = read_mailgun(path)
    assert meta["records_read"] == 2 and meta["events"] == 2
    assert events["event"].tolist() == ["processed", "delivered"]
    assert events["message_id"].nunique() == 1  # brackets stripped: the two events join


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------


def _body(event, message_id="20251110120000.1.0000@mg.example.com", recipient="zoe@gmail.com",
          timestamp=1762776000.25, event_id="aWQtb2YtdGhlLWV2ZW50", status=None, **extra):
    data = {
        "id": event_id, "timestamp": timestamp, "log-level": "info", "event": event,
        "recipient": recipient, "recipient-domain": recipient.split("@")[-1],
        "message": {"headers": {"message-id": message_id}},
        "envelope": {"sending-ip": "198.51.100.21"},
    }
    if status is not None:
        data["delivery-status"] = status
    data.update(extra)
    return {"signature": {"token": "a" * 50, "timestamp": "1762776000", "signature": "b" * 64},
            "event-data": data}


@pytest.fixture
def bad_file(tmp_path):
    body_without_recipient = _body("delivered", event_id="bm8tcmVjaXBpZW50")
    del body_without_recipient["event-data"]["recipient"]
    body_without_message_id = _body("delivered", event_id="bm8tbWVzc2FnZS1pZA")
    body_without_message_id["event-data"]["message"]["headers"] = {}
    lines = [
        json.dumps(_body("delivered")),  # 1: good
        '{"signature": {"token": "x"}, "event-data": {"event": "delivered", ',  # 2: cut off
        "this is not a webhook & recipient=zoe%40gmail.com",  # 3: neither JSON nor a form
        json.dumps(body_without_recipient),  # 4
        json.dumps(_body("failed", event_id="bm8tc2V2ZXJpdHk")),  # 5: failed without severity
        json.dumps(_body("teleported", event_id="dGVsZXBvcnRlZA")),  # 6: unknown event
        json.dumps(_body("delivered", event_id="bWlsbGlzZWNvbmRz", timestamp=1762776000250)),  # 7: ms
        json.dumps(body_without_message_id),  # 8
        "event=delivered&recipient=zoe%40gmail.com&timestamp=yesterday&token=t&signature=s",  # 9
    ]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_bad_records_quarantined_with_location_and_field(bad_file):
    events, meta = read_mailgun(bad_file, now=1762776000.0 + 86400)
    assert meta["records_read"] == 9
    assert meta["events"] == 1
    assert meta["quarantined"] == 8
    assert check_reconciliation(meta)
    quarantine = meta["quarantine"].set_index("location")
    expected_fields = {
        "line 4": "event-data.recipient",
        "line 5": "event-data.severity",
        "line 6": "event-data.event",
        "line 7": "timestamp",  # milliseconds read as seconds: far in the future
        "line 8": "event-data.message.headers.message-id",
        "line 9": "timestamp",
    }
    for location, field in expected_fields.items():
        assert quarantine.loc[location, "field"] == field, location
    assert "invalid JSON" in quarantine.loc["line 2", "reason"]
    assert "neither JSON nor a form-encoded" in quarantine.loc["line 3", "reason"]
    assert "teleported" in quarantine.loc["line 6", "reason"]
    assert set(quarantine["source"]) == {str(bad_file)}
    # Nothing in the quarantine shows a recipient in clear, nor percent-encoded (line 9).
    assert not quarantine["raw"].str.contains("zoe@gmail.com", regex=False).any()
    assert not quarantine["raw"].str.contains("zoe%40gmail.com", regex=False).any()
    assert '"recipient": "addr:' in quarantine.loc["line 9", "raw"]
    assert '"timestamp": "yesterday"' in quarantine.loc["line 9", "raw"]


def test_bad_records_raise_when_asked(bad_file):
    with pytest.raises(InputFormatError) as info:
        read_mailgun(bad_file, errors="raise")
    assert info.value.source == str(bad_file)
    assert info.value.location == "line 2"
    assert str(bad_file) in str(info.value) and "line 2" in str(info.value)


def test_raise_names_the_field(tmp_path):
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(_body("failed")) + "\n")
    with pytest.raises(InputFormatError) as info:
        read_mailgun(path, errors="raise")
    assert (info.value.location, info.value.field) == ("line 1", "event-data.severity")
    assert "event-data.severity" in str(info.value)


def test_record_that_is_neither_shape_is_quarantined(tmp_path):
    path = tmp_path / "odd.jsonl"
    path.write_text('{"signature": {"token": "x"}, "log-level": "info", "hello": 1}\n')
    _, meta = read_mailgun(path)
    assert meta["quarantined"] == 1
    assert meta["quarantine"].iloc[0]["field"] == "event-data"


# --------------------------------------------------------------------------------------------
# Privacy, detection
# --------------------------------------------------------------------------------------------


def test_recipients_pseudonymized(webhooks):
    events = read_mailgun(webhooks)[0]
    assert not events["recipient"].str.contains("@", regex=False).any()
    assert pseudonymize_address("alice.smith@gmail.com", TEST_SALT.encode()) in set(events["recipient"])
    assert not events["reason"].dropna().str.contains("carol.white@outlook.com", regex=False).any()


def test_sniff_recognizes_every_mailgun_shape_only(mailgun_dir, data_dir):
    for path in sorted(mailgun_dir.iterdir()):
        head = path.read_text()[:65_536]
        assert mailgun.sniff(head), path.name
        assert not postmark.sniff(head), path.name
    assert not mailgun.sniff(SENDGRID_SAMPLE)
    assert not mailgun.sniff(POSTMARK_SAMPLE)
    for path in sorted((data_dir / "postmark").iterdir()):
        assert not mailgun.sniff(path.read_text()[:65_536]), path.name


def test_auto_detection_and_wrong_reader(mailgun_dir, data_dir):
    _, meta = read_events(mailgun_dir / "legacy_webhooks.txt")
    assert meta["format"] == "mailgun"
    _, meta = read_events(mailgun_dir / "events_page.json")
    assert meta["format"] == "mailgun"
    with pytest.raises(InputFormatError, match="Postmark"):
        read_mailgun(data_dir / "postmark" / "webhooks.jsonl")


def test_compressed_pretty_page_and_form_lines(tmp_path, mailgun_dir):
    # The custom splitter reads streams: a gzipped page and a bz2 legacy file read as the plain.
    import bz2
    import gzip

    for name, compress, suffix in (("events_page.json", gzip.compress, ".gz"),
                                   ("legacy_webhooks.txt", bz2.compress, ".bz2")):
        plain = mailgun_dir / name
        packed = tmp_path / (name + suffix)
        packed.write_bytes(compress(plain.read_bytes()))
        pd.testing.assert_frame_equal(read_mailgun(packed)[0], read_mailgun(plain)[0])
