"""Postmark reader (log-formats.md section 4; section 13 trap 7).

Fixtures in tests/data/postmark/ (every expected count below is read off these files):

- webhooks.jsonl: 12 webhook bodies, one per line: Delivery, Open, Click, a HardBounce
  Bounce, a SpamComplaint, five SubscriptionChange records (recipient unsubscribe, sender's
  manual suppression, suppression after the hard bounce, after the complaint, reactivation),
  then line 1 and line 4 POSTed again.
- delivery_post.json: one pretty-printed Delivery body as posted.
- bounce_types.jsonl: 22 Bounce records, one per bounce ``Type`` of the reference table, in
  its order; ``ID`` = 3719400000 + line index (0-based).
- bounces_api.json: a Bounce API page of 2 bounces; the first is the webhook's hard bounce.
"""

import json

import pandas as pd
import pytest

from deliverability_econ.io import (
    InputFormatError,
    check_reconciliation,
    mailgun,
    postmark,
    read_events,
)
from deliverability_econ.io.postmark import read_postmark
from deliverability_econ.privacy import pseudonymize_address
from deliverability_econ.schema import validate_events

from ..conftest import TEST_SALT

#: Bounce Type -> expected (event, bounce_class) or ("ignored", reason); written from the
#: reference table in log-formats.md section 4 and the brief's decisions, not from the module.
EXPECTED_BOUNCE_TYPES = {
    "HardBounce": ("bounced", "hard"),
    "Transient": ("deferred", None),
    "Unsubscribe": ("unsubscribed", None),
    "Subscribe": ("ignored", "resubscribe"),
    "AutoResponder": ("ignored", "auto-reply"),
    "AddressChange": ("ignored", "auto-reply"),
    "DnsError": ("bounced", "soft"),
    "SpamNotification": ("bounced", "block"),
    "OpenRelayTest": ("ignored", "open relay test"),
    "Unknown": ("bounced", "undetermined"),
    "SoftBounce": ("bounced", "soft"),
    "VirusNotification": ("bounced", "undetermined"),
    "ChallengeVerification": ("ignored", "auto-reply"),
    "BadEmailAddress": ("dropped", None),
    "SpamComplaint": ("complained", None),
    "ManuallyDeactivated": ("dropped", None),
    "Unconfirmed": ("dropped", None),
    "Blocked": ("bounced", "block"),
    "SMTPApiError": ("dropped", None),
    "InboundError": ("ignored", "inbound"),
    "DMARCPolicy": ("bounced", "block"),
    "TemplateRenderingFailed": ("dropped", None),
}

#: The Mailgun current-webhook shape (log-formats.md section 2): Postmark must not claim it.
MAILGUN_SAMPLE = (
    '{"signature": {"token": "a8ce0edb2dd8301dee6c2405235584e45aa91d1e9f979f3de0", '
    '"timestamp": "1529006854", "signature": "d2271d12"}, "event-data": {"event": "delivered", '
    '"timestamp": 1521472262.908181, "id": "CPgfbmQMTCKtHW6uIWtuVe", "log-level": "info"}}'
)
SENDGRID_SAMPLE = (
    '[{"email":"example@test.com","timestamp":1513299569,"smtp-id":"<14c5d75ce93.dfd.64b469@ismtpd-555>",'
    '"event":"delivered","sg_event_id":"sg_event_id","sg_message_id":"sg_message_id"}]'
)


@pytest.fixture
def postmark_dir(data_dir):
    return data_dir / "postmark"


@pytest.fixture
def webhooks(postmark_dir):
    return postmark_dir / "webhooks.jsonl"


def by_id(events):
    return events.set_index("event_id")


# --------------------------------------------------------------------------------------------
# Mapping
# --------------------------------------------------------------------------------------------


def test_every_record_type_maps(webhooks):
    events, meta = read_postmark(webhooks)
    assert validate_events(events).empty
    assert meta["records_read"] == 12
    assert meta["duplicates"] == 2  # lines 11 and 12
    assert meta["ignored"] == {
        "suppression by the sender": 1,
        "suppression after a hard bounce": 1,
        "suppression after a spam complaint": 1,
        "resubscribe": 1,
    }
    assert meta["events"] == 6
    assert check_reconciliation(meta)
    assert events["event"].astype(str).tolist() == [
        "delivered", "opened", "clicked", "bounced", "unsubscribed", "complained"]
    # Postmark has no "processed" event and no machine-open flag.
    assert "processed" not in set(events["event"].astype(str))
    assert not events["is_machine"].any()


def test_every_bounce_type_maps(postmark_dir):
    path = postmark_dir / "bounce_types.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert sorted(r["Type"] for r in records) == sorted(EXPECTED_BOUNCE_TYPES)
    events, meta = read_postmark(path)
    assert validate_events(events).empty
    assert meta["records_read"] == 22
    expected_ignored: dict[str, int] = {}
    for outcome, detail in EXPECTED_BOUNCE_TYPES.values():
        if outcome == "ignored":
            expected_ignored[detail] = expected_ignored.get(detail, 0) + 1
    assert meta["ignored"] == expected_ignored
    assert meta["events"] == 22 - sum(expected_ignored.values()) == 16
    assert check_reconciliation(meta)
    found = by_id(events)
    for record in records:
        event, detail = EXPECTED_BOUNCE_TYPES[record["Type"]]
        event_id = f"postmark:{record['ID']}"
        if event == "ignored":
            assert event_id not in found.index, record["Type"]
            continue
        assert found.loc[event_id, "event"] == event, record["Type"]
        bounce_class = found.loc[event_id, "bounce_class"]
        assert (pd.isna(bounce_class) if detail is None else bounce_class == detail), record["Type"]


def test_bounce_api_entry_without_record_type():
    # GET /bounces entries have no RecordType; Type (or TypeCode) and BouncedAt make them bounces.
    record = {"ID": 7, "Type": "DMARCPolicy", "MessageID": "m-7", "Email": "a@gmail.com",
              "BouncedAt": "2025-11-04T08:00:00.0000000-05:00"}
    assert postmark.normalize(record)[0]["bounce_class"] == "block"


def test_type_code_alone_decides_when_type_is_absent():
    record = {"RecordType": "Bounce", "TypeCode": 4096, "ID": 1, "MessageID": "m-1",
              "Email": "a@gmail.com", "BouncedAt": "2025-11-04T08:00:00.0000000-05:00"}
    assert postmark.normalize(record)[0]["bounce_class"] == "soft"
    record["TypeCode"] = 2  # Transient
    assert postmark.normalize(record)[0]["event"] == "deferred"


def test_unsubscribe_through_the_bounce_hook(postmark_dir):
    # Trap 7: a Bounce record with Type Unsubscribe (TypeCode 16) is an unsubscribe.
    events = by_id(read_postmark(postmark_dir / "bounce_types.jsonl")[0])
    assert events.loc["postmark:3719400002", "event"] == "unsubscribed"


def test_subscription_changes(webhooks):
    events, meta = read_postmark(webhooks)
    unsubscribed = events[events["event"] == "unsubscribed"]
    # Only the recipient's own ManualSuppression is an unsubscribe.
    assert len(unsubscribed) == 1
    assert unsubscribed.iloc[0]["recipient"] == pseudonymize_address("lucy.gray@icloud.com", TEST_SALT.encode())
    # The suppressions after the hard bounce and the complaint are not counted a second time.
    assert (events["event"] == "bounced").sum() == 1
    assert (events["event"] == "complained").sum() == 1


def test_subscription_change_without_suppress_flag_is_quarantined(tmp_path):
    record = {"RecordType": "SubscriptionChange", "MessageID": "m-1", "Recipient": "a@gmail.com",
              "ChangedAt": "2025-11-06T09:15:00Z", "SuppressSending": "yes",
              "SuppressionReason": "ManualSuppression"}
    path = tmp_path / "change.jsonl"
    path.write_text(json.dumps(record) + "\n")
    _, meta = read_postmark(path)
    assert meta["quarantine"].iloc[0]["field"] == "SuppressSending"


# --------------------------------------------------------------------------------------------
# Timestamps, keys, recipients
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "utc"),
    [
        # DeliveredAt "2025-11-05T11:33:54.9070259-05:00": +5 h, seven fractional digits.
        ("delivered", "2025-11-05T16:33:54.907025Z"),
        # ReceivedAt "2025-11-05T11:40:02.1234567-05:00".
        ("opened", "2025-11-05T16:40:02.123456Z"),
        # BouncedAt "2025-11-05T18:34:10.1200000+01:00": -1 h.
        ("bounced", "2025-11-05T17:34:10.12Z"),
        # ChangedAt "2025-11-06T09:15:00.4160710Z".
        ("unsubscribed", "2025-11-06T09:15:00.416071Z"),
    ],
)
def test_local_offsets_and_seven_digits_parse_to_utc(webhooks, event, utc):
    events = read_postmark(webhooks)[0]
    stamp = events.loc[events["event"] == event, "timestamp"].iloc[0]
    assert abs(stamp - pd.Timestamp(utc)) < pd.Timedelta(microseconds=2)


def test_time_without_zone_is_quarantined_and_raised(tmp_path):
    good = {"RecordType": "Delivery", "MessageID": "m-1", "Recipient": "a@gmail.com",
            "DeliveredAt": "2025-11-05T16:33:54.9070259Z", "MessageStream": "outbound"}
    naive = dict(good, MessageID="m-2", DeliveredAt="2025-11-05T16:33:54.9070259")
    path = tmp_path / "naive.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps(naive) + "\n")
    events, meta = read_postmark(path)
    assert meta["events"] == 1 and meta["quarantined"] == 1
    entry = meta["quarantine"].iloc[0]
    assert (entry["location"], entry["field"]) == ("line 2", "DeliveredAt")
    assert "without a zone" in entry["reason"]
    with pytest.raises(InputFormatError) as info:
        read_postmark(path, errors="raise")
    assert (info.value.source, info.value.location, info.value.field) == (str(path), "line 2", "DeliveredAt")
    assert str(path) in str(info.value) and "DeliveredAt" in str(info.value)


def test_recipient_from_email_on_bounces_and_recipient_elsewhere(webhooks):
    events = read_postmark(webhooks, pseudonymize=False)[0].set_index("event")
    assert events.loc["bounced", "recipient"] == "no.such.user@outlook.com"  # Email
    assert events.loc["complained", "recipient"] == "mary.major@yahoo.com"  # Email
    assert events.loc["delivered", "recipient"] == "john.doe@gmail.com"  # Recipient
    pseudonymized = read_postmark(webhooks)[0]
    assert not pseudonymized["recipient"].str.contains("@", regex=False).any()


def test_stream_campaign_message_id(webhooks):
    events = read_postmark(webhooks)[0].set_index("event")
    assert events.loc["delivered", "stream"] == "outbound"  # MessageStream
    assert events.loc["delivered", "campaign"] == "welcome-email"  # Tag
    assert events.loc["complained", "stream"] == "broadcast"
    assert events.loc["delivered", "message_id"] == "883953f4-6105-42a2-a16a-77a8eac79483"
    assert events.loc["bounced", "smtp_status"] == "5.5.0"  # from Details
    assert pd.isna(events.loc["delivered", "sending_ip"])  # Postmark does not say


# --------------------------------------------------------------------------------------------
# De-duplication
# --------------------------------------------------------------------------------------------


def test_event_ids(webhooks):
    events = by_id(read_postmark(webhooks)[0])
    # Bounce and SpamComplaint: Postmark's ID; the others: a hash of the record.
    assert events.loc["postmark:3719346013", "event"] == "bounced"
    assert events.loc["postmark:3719346150", "event"] == "complained"
    hashed = events[~events.index.str.fullmatch(r"postmark:\d+")]
    assert sorted(hashed["event"].astype(str)) == ["clicked", "delivered", "opened", "unsubscribed"]


def test_same_file_twice_counts_once(webhooks):
    events, meta = read_events([webhooks, webhooks])
    assert meta["records_read"] == 24
    assert meta["events"] == 6
    assert meta["duplicates"] == 2 + 8  # two redeliveries, then every event of the copy
    assert check_reconciliation(meta)


def test_bounce_api_page_dedupes_against_webhooks(webhooks, postmark_dir):
    page = postmark_dir / "bounces_api.json"
    events, meta = read_postmark(page)
    assert meta["records_read"] == 2 and meta["events"] == 2
    assert by_id(events).loc["postmark:3719346499", "bounce_class"] == "soft"
    both, meta = read_events([webhooks, page])
    assert meta["format"] == "postmark"
    assert meta["duplicates"] == 2 + 1  # the hard bounce 3719346013 is in both
    assert meta["events"] == 7
    assert check_reconciliation(meta)


def test_single_posted_body(postmark_dir):
    events, meta = read_postmark(postmark_dir / "delivery_post.json")
    assert meta["records_read"] == 1
    found = events.iloc[0]
    assert found["event"] == "delivered"
    assert found["mailbox_provider"] == "gmx"
    assert abs(found["timestamp"] - pd.Timestamp("2025-11-05T16:33:54.907026Z")) < pd.Timedelta(microseconds=2)


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------


def test_bad_records_quarantined_with_field_names(tmp_path):
    base = {"RecordType": "Bounce", "Type": "HardBounce", "TypeCode": 1, "ID": 10,
            "MessageID": "m-1", "Email": "a@gmail.com", "BouncedAt": "2025-11-04T08:00:00-05:00"}
    lines = [
        base,
        dict(base, ID=11, Type="Teleported", TypeCode=77),
        {k: v for k, v in base.items() if k != "Email"} | {"ID": 12},
        # Neither RecordType nor a bounce type: not a Bounce API entry either.
        {k: v for k, v in base.items() if k not in ("RecordType", "Type", "TypeCode")} | {"ID": 13},
        dict(base, ID=14, RecordType="Inbound"),
        dict(base, ID=15, BouncedAt="last Tuesday"),
        {k: v for k, v in base.items() if k != "MessageID"} | {"ID": 16},
    ]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in lines) + "\n{not json\n")
    events, meta = read_postmark(path)
    assert meta["records_read"] == 8
    assert meta["events"] == 1 and meta["quarantined"] == 7
    assert check_reconciliation(meta)
    fields = meta["quarantine"].set_index("location")["field"].fillna("-").to_dict()
    assert fields == {
        "line 2": "Type",
        "line 3": "Email",
        "line 4": "RecordType",
        "line 5": "RecordType",
        "line 6": "BouncedAt",
        "line 7": "MessageID",
        "line 8": "-",  # invalid JSON: no field to blame
    }
    reasons = meta["quarantine"].set_index("location")["reason"]
    assert "Teleported" in reasons["line 2"] and "Inbound" in reasons["line 5"]
    assert not meta["quarantine"]["raw"].str.contains("a@gmail.com", regex=False).any()
    with pytest.raises(InputFormatError) as info:
        read_postmark(path, errors="raise")
    assert (info.value.location, info.value.field) == ("line 2", "Type")


# --------------------------------------------------------------------------------------------
# Detection
# --------------------------------------------------------------------------------------------


def test_sniff_recognizes_postmark_only(postmark_dir, data_dir):
    for path in sorted(postmark_dir.iterdir()):
        head = path.read_text()[:65_536]
        assert postmark.sniff(head), path.name
        assert not mailgun.sniff(head), path.name
    assert not postmark.sniff(MAILGUN_SAMPLE)
    assert not postmark.sniff(SENDGRID_SAMPLE)
    for path in sorted((data_dir / "mailgun").iterdir()):
        assert not postmark.sniff(path.read_text()[:65_536]), path.name


def test_auto_detection_and_wrong_reader(postmark_dir, data_dir):
    _, meta = read_events(postmark_dir / "bounces_api.json")
    assert meta["format"] == "postmark"
    with pytest.raises(InputFormatError, match="Mailgun"):
        read_postmark(data_dir / "mailgun" / "webhooks.jsonl")
