"""Amazon SES reader (log-formats.md section 3; section 13 traps 1 and 10).

The three transport fixtures carry the same 22 SES records, as one configuration set publishing
to three event destinations would deliver them:

- ``firehose_events.jsonl``: bare SES records, one per line (Firehose);
- ``sns_events.json``: a JSON array of SNS envelopes, each ``Message`` a JSON string;
- ``eventbridge_events.jsonl``: EventBridge events, the record in ``detail``.

Counts below are from the fixture's content: Send, Delivery, Open and Click of one message to
two Gmail recipients (2 rows each), a DeliveryDelay of two Yahoo recipients (2), ten Bounce
records, one per row of the bounce table plus a second recipient on Permanent/General (11),
a Complaint naming two recipients (2), a Complaint on the account suppression list (1), a Reject
(1), a Rendering Failure (1), and three Subscription records: unsubscribe-all (1), a topic
flipping to OptOut (1) and an opt-in (ignored). 28 events + 1 ignored = 29 records read.
"""

import json
from datetime import datetime

import pandas as pd
import pytest

from deliverability_econ.io import (
    InputFormatError,
    check_reconciliation,
    detect_format,
    read_events,
)
from deliverability_econ.io.ses import read_ses, sniff
from deliverability_econ.privacy import pseudonymize_address
from deliverability_econ.schema import validate_events

from ..conftest import TEST_SALT

TRANSPORTS = ["firehose_events.jsonl", "sns_events.json", "eventbridge_events.jsonl"]

#: Fixture addresses that must never show in clear in events or quarantine.
SOURCE_IP = "198.51.100.23"  # ses:source-ip / mail.sourceIp: the API caller
OUTGOING_IP = "54.240.8.97"  # ses:outgoing-ip: the SES sending IP


@pytest.fixture
def ses_dir(data_dir):
    return data_dir / "ses"


@pytest.fixture(params=TRANSPORTS)
def transport(request, ses_dir):
    return ses_dir / request.param


def utc(text):
    return pd.Timestamp(datetime.fromisoformat(text))


def times(events):
    """Event times to the millisecond (SES's precision; epoch floats carry sub-µs noise)."""
    return events["timestamp"].dt.round("ms")


def bounce_label(events):
    """``bounceType/bounceSubType``, which the reader puts first in ``reason``."""
    return events["reason"].str.split(":", n=1).str[0]


def test_every_event_type_maps(transport):
    events, meta = read_ses(transport)
    assert validate_events(events).empty
    assert meta["records_read"] == 29
    assert meta["events"] == 28
    assert meta["quarantined"] == 0
    assert meta["ignored"] == {"subscription change without opt-out": 1}
    assert check_reconciliation(meta)
    assert events["event"].value_counts().to_dict() == {
        "processed": 2,  # Send, 2 destinations
        "delivered": 2,  # Delivery, 2 recipients
        "deferred": 2,  # DeliveryDelay, 2 delayed recipients
        "bounced": 9,  # 10 bounce records, 2 of them dropped, + 1 second recipient
        "dropped": 5,  # 2 suppression bounces, account-suppressed complaint, Reject, Rendering Failure
        "opened": 2,
        "clicked": 2,
        "complained": 2,
        "unsubscribed": 2,
    }
    assert (events["esp"] == "ses").all()


@pytest.mark.parametrize(
    ("label", "event", "bounce_class", "count"),
    [
        ("Permanent/General", "bounced", "hard", 2),
        ("Permanent/NoEmail", "bounced", "hard", 1),
        ("Permanent/Suppressed", "dropped", None, 1),
        ("Permanent/OnAccountSuppressionList", "dropped", None, 1),
        ("Transient/General", "bounced", "soft", 1),
        ("Transient/MailboxFull", "bounced", "soft", 1),
        ("Transient/MessageTooLarge", "bounced", "soft", 1),
        # The receiver refused the content, the address is good: a block (see BOUNCE_MAP).
        ("Transient/ContentRejected", "bounced", "block", 1),
        ("Transient/AttachmentRejected", "bounced", "block", 1),
        ("Undetermined/Undetermined", "bounced", "undetermined", 1),
    ],
)
def test_bounce_table(transport, label, event, bounce_class, count):
    events = read_ses(transport)[0]
    rows = events[bounce_label(events) == label]
    assert len(rows) == count
    assert (rows["event"] == event).all()
    if bounce_class is None:
        assert rows["bounce_class"].isna().all()
    else:
        assert (rows["bounce_class"] == bounce_class).all()


def test_bounce_status_and_reason(ses_dir):
    events = read_ses(ses_dir / "firehose_events.jsonl")[0]
    general = events[bounce_label(events) == "Permanent/General"].set_index("recipient_domain")
    assert general.loc["gmail.com", "smtp_status"] == "5.1.1"  # recipient's `status`
    assert "NoSuchUser" in general.loc["gmail.com", "reason"]  # from diagnosticCode
    assert general.loc["hotmail.com", "smtp_status"] == "5.5.0"
    no_email = events[bounce_label(events) == "Permanent/NoEmail"].iloc[0]
    assert (no_email["smtp_status"], no_email["reason"]) == ("5.0.0", "Permanent/NoEmail")
    undetermined = events[events["bounce_class"] == "undetermined"].iloc[0]
    assert pd.isna(undetermined["smtp_status"])  # the recipient entry has no status at all


def test_transports_give_identical_events(ses_dir):
    frames = [read_ses(ses_dir / name)[0] for name in TRANSPORTS]
    pd.testing.assert_frame_equal(frames[0], frames[1])
    pd.testing.assert_frame_equal(frames[0], frames[2])


def test_dedupe_across_transports(ses_dir):
    # One configuration set, three event destinations: every event arrives three times.
    events, meta = read_ses([ses_dir / name for name in TRANSPORTS])
    assert meta["records_read"] == 3 * 29
    assert meta["events"] == 28
    assert meta["duplicates"] == 2 * 28
    assert meta["ignored"] == {"subscription change without opt-out": 3}
    assert check_reconciliation(meta)
    assert events["event_id"].is_unique


def test_sns_and_firehose_share_event_ids(ses_dir):
    # The SNS envelope (its MessageId and Timestamp) must not enter the event id.
    firehose = set(read_ses(ses_dir / "firehose_events.jsonl")[0]["event_id"])
    sns = set(read_ses(ses_dir / "sns_events.json")[0]["event_id"])
    assert len(firehose) == 28
    assert firehose == sns


def test_same_file_twice_counts_once(ses_dir):
    path = ses_dir / "sns_events.json"
    events, meta = read_ses([path, path])
    assert meta["records_read"] == 58
    assert meta["events"] == 28
    assert meta["duplicates"] == 28
    assert check_reconciliation(meta)


def test_multi_recipient_expansion(ses_dir):
    events = read_ses(ses_dir / "firehose_events.jsonl")[0]
    per_message_event = events.groupby(["message_id", "event"], observed=True).size()
    # Send/Delivery/Open/Click of the verification mail: 2 destinations each.
    verify = events.loc[events["event"] == "processed", "message_id"].iloc[0]
    for event in ("processed", "delivered", "opened", "clicked"):
        assert per_message_event[(verify, event)] == 2
    # Every row of one record is a separate event for a separate recipient.
    for event in ("processed", "delivered", "opened", "clicked", "deferred", "complained"):
        rows = events[events["event"] == event]
        assert rows["recipient"].nunique() == 2, event
    general = events[bounce_label(events) == "Permanent/General"]
    assert general["message_id"].nunique() == 1 and general["recipient"].nunique() == 2


def test_timestamps_from_sub_objects(ses_dir):
    # SNS envelope Timestamps are 437 ms after each event; mail.timestamp is the send time.
    events = read_ses(ses_dir / "sns_events.json")[0]
    first = events.assign(t=times(events)).groupby("event", observed=True)["t"].min()
    assert first["processed"] == utc("2025-03-10T09:00:00.123Z")  # mail.timestamp (Send)
    assert first["delivered"] == utc("2025-03-10T09:00:02.311Z")  # delivery.timestamp
    assert first["opened"] == utc("2025-03-10T09:05:17.525Z")  # open.timestamp
    assert first["clicked"] == utc("2025-03-10T09:05:43.038Z")  # click.timestamp
    assert first["deferred"] == utc("2025-03-10T09:07:01.723Z")  # deliveryDelay.timestamp
    assert first["complained"] == utc("2025-03-10T10:30:00.373Z")  # complaint.timestamp
    assert first["unsubscribed"] == utc("2025-03-10T11:00:00.623Z")  # subscription.timestamp
    bounced = events[bounce_label(events) == "Permanent/General"]
    assert (times(bounced) == utc("2025-03-10T09:02:03.623Z")).all()  # bounce.timestamp
    envelope_times = {utc(e["Timestamp"]) for e in json.loads((ses_dir / "sns_events.json").read_text())}
    assert not set(times(events)) & envelope_times


def test_mail_timestamp_for_reject_and_rendering_failure(ses_dir):
    events = read_ses(ses_dir / "firehose_events.jsonl")[0]
    reject = events[events["reason"] == "rejected by SES: Bad content"]
    assert (times(reject) == utc("2025-03-10T09:13:20.123Z")).all()
    failure = events[events["reason"].str.startswith("rendering failure").fillna(False)]
    assert len(failure) == 1
    assert "WelcomeTemplate" in failure["reason"].iloc[0]
    assert (times(failure) == utc("2025-03-10T09:15:00.123Z")).all()


def test_outgoing_ip_not_source_ip(transport):
    # Trap 10: ses:source-ip is the API caller; ses:outgoing-ip is on the Delivery event only.
    events = read_ses(transport)[0]
    assert not (events["sending_ip"] == SOURCE_IP).any()
    delivered = events[events["event"] == "delivered"]
    assert (delivered["sending_ip"] == OUTGOING_IP).all()
    assert events.loc[events["event"] != "delivered", "sending_ip"].isna().all()
    assert events["ip_pool"].isna().all()


def test_identity_notifications(ses_dir):
    events, meta = read_ses(ses_dir / "identity_notifications.jsonl")
    assert validate_events(events).empty
    assert meta["records_read"] == 6
    assert meta["ignored"] == {
        "SNS SubscriptionConfirmation": 1,
        "SES topic subscription test notification": 1,
        "not-spam feedback (not a complaint)": 1,
    }
    assert check_reconciliation(meta)
    assert events["event"].astype(str).tolist() == ["bounced", "delivered", "complained"]
    bounce = events.iloc[0]
    assert (bounce["bounce_class"], bounce["smtp_status"]) == ("hard", "5.1.10")
    assert times(events).iloc[0] == utc("2025-03-10T09:50:00.543Z")  # bounce.timestamp
    # No tags: neither mail.sourceIp (caller) nor delivery.remoteMtaIp (receiver) is ours.
    assert events["sending_ip"].isna().all()
    assert events["stream"].isna().all()


def test_deliverydelay_and_subscription(ses_dir):
    # Trap 1: anymail maps both to "unknown"; here they are deferrals and unsubscribes.
    events = read_ses(ses_dir / "eventbridge_events.jsonl")[0]
    deferred = events[events["event"] == "deferred"]
    assert len(deferred) == 2
    assert (deferred["smtp_status"] == "4.7.0").all()
    assert deferred["reason"].str.startswith("TransientCommunicationFailure: smtp; 421 4.7.0 [TSS04]").all()
    unsubscribed = events[events["event"] == "unsubscribed"].sort_values("timestamp")
    assert unsubscribed["reason"].tolist() == [
        "unsubscribed from all topics of contact list AcmeNewsletter via UnsubscribeHeader",
        "opted out of topic ProductUpdates of contact list AcmeNewsletter via UnsubscribeHeader",
    ]
    assert set(unsubscribed["recipient_domain"]) == {"icloud.com", "gmail.com"}


def test_complaints(ses_dir):
    events = read_ses(ses_dir / "firehose_events.jsonl")[0]
    complained = events[events["event"] == "complained"]
    assert set(complained["recipient"]) == {
        pseudonymize_address("anna.k@hotmail.com", TEST_SALT.encode()),
        pseudonymize_address("peter.m@hotmail.com", TEST_SALT.encode()),
    }
    assert (complained["reason"] == "feedback type abuse").all()
    # complaintSubType OnAccountSuppressionList: SES did not send at all.
    suppressed = events[events["reason"].str.contains("account-level suppression list (complaint)",
                                                      regex=False).fillna(False)]
    assert suppressed["event"].astype(str).tolist() == ["dropped"]


def test_stream_campaign_from_tags(ses_dir):
    events = read_ses(ses_dir / "firehose_events.jsonl")[0]
    keys = events.groupby("event", observed=True)[["stream", "campaign"]].first()
    # A "stream" message tag wins over the configuration set.
    assert tuple(keys.loc["processed"]) == ("onboarding", "verify-email")
    # No stream tag: the configuration set; no campaign tag: none.
    assert keys.loc["deferred", "stream"] == "acme-transactional"
    assert pd.isna(keys.loc["deferred", "campaign"])
    assert tuple(keys.loc["complained"]) == ("acme-marketing", "march-newsletter")


def test_opens_never_machine(ses_dir):
    events = read_ses(ses_dir / "firehose_events.jsonl")[0]
    assert not events["is_machine"].any()


def test_recipients_pseudonymized_and_reasons_scrubbed(ses_dir):
    events = read_ses(ses_dir / "sns_events.json")[0]
    assert not events["recipient"].str.contains("@").any()
    assert pseudonymize_address("maria.lopez@gmail.com", TEST_SALT.encode()) in set(events["recipient"])
    mailbox_full = events[bounce_label(events) == "Transient/MailboxFull"]["reason"].iloc[0]
    assert "full.box@icloud.com" not in mailbox_full and "552 5.2.2" in mailbox_full
    assert not events["event_id"].str.contains("@").any()
    clear = read_ses(ses_dir / "sns_events.json", pseudonymize=False)[0]
    assert "maria.lopez@gmail.com" in set(clear["recipient"])


def test_sniff_and_auto_detection(ses_dir, data_dir):
    for path in sorted(ses_dir.glob("*.json*")):
        head = path.read_text()[:65_536]
        assert sniff(head), path.name
        assert detect_format(head) == "ses", path.name
    events, meta = read_events(ses_dir / "identity_notifications.jsonl")
    assert meta["format"] == "ses" and meta["events"] == 3
    for path in sorted(data_dir.glob("*/*")):
        if path.parent.name not in ("ses", "_generators") and path.is_file():
            assert not sniff(path.read_text(errors="replace")[:65_536]), path


# --- bad input --------------------------------------------------------------------------------

BAD_EXPECTED = [
    # (location, field, words in the reason); one defect per line of bad_records.jsonl.
    ("line 1", "Message", "not JSON"),  # SNS Message cut by a log shipper
    ("line 2", "mail.messageId", "missing"),  # Firehose record
    ("line 3", "detail.mail.destination", "no recipient"),  # EventBridge Open, empty destination
    ("line 6", "Message.delivery.timestamp", "missing"),  # never the envelope's Timestamp instead
    ("line 7", "Message.eventType", "not an SES record"),  # a CloudWatch alarm on the same topic
    ("line 8", None, "invalid JSON"),  # a Firehose line cut mid-record
    ("line 4", "recipient", "missing"),  # second bounced recipient has no emailAddress
]


def test_bad_records_quarantined(ses_dir):
    events, meta = read_ses(ses_dir / "bad_records.jsonl")
    # 8 lines: 6 bad records, 1 bounce with a good and a bad recipient (2 rows), 1 ignored.
    assert meta["records_read"] == 9
    assert meta["events"] == 1
    assert meta["quarantined"] == 7
    assert meta["ignored"] == {"SNS UnsubscribeConfirmation": 1}
    assert check_reconciliation(meta)
    quarantine = meta["quarantine"]
    assert (quarantine["source"] == str(ses_dir / "bad_records.jsonl")).all()
    got = [(q.location, None if pd.isna(q.field) else q.field, q.reason) for q in quarantine.itertuples()]
    assert [(loc, field) for loc, field, _ in got] == [(loc, field) for loc, field, _ in BAD_EXPECTED]
    for (_, _, reason), (_, _, words) in zip(got, BAD_EXPECTED, strict=True):
        assert words in reason
    # The good recipient of the half-bad bounce survives.
    assert events["bounce_class"].astype(str).tolist() == ["hard"]
    raw = "\n".join(quarantine["raw"].dropna())
    assert "gone@gmail.com" not in raw and "ok.user@gmail.com" not in raw


def test_bad_records_raise(ses_dir):
    path = ses_dir / "bad_records.jsonl"
    with pytest.raises(InputFormatError) as info:
        read_ses(path, errors="raise")
    error = info.value
    assert (error.source, error.location, error.field) == (str(path), "line 1", "Message")
    assert str(path) in str(error) and "line 1" in str(error) and "'Message'" in str(error)


@pytest.mark.parametrize(("line", "field"), [(2, "mail.messageId"), (4, "recipient"),
                                             (6, "Message.delivery.timestamp")])
def test_single_bad_record_raises_with_field(ses_dir, tmp_path, line, field):
    path = tmp_path / "one.jsonl"
    path.write_text((ses_dir / "bad_records.jsonl").read_text().splitlines()[line - 1] + "\n")
    with pytest.raises(InputFormatError) as info:
        read_ses(path, errors="raise")
    assert (info.value.source, info.value.location, info.value.field) == (str(path), "line 1", field)


def test_unknown_sns_type_and_event_type(tmp_path):
    envelope = {"Type": "Teleport", "MessageId": "x", "TopicArn": "arn:aws:sns:us-east-1:1:t",
                "Message": "{}"}
    record = {"eventType": "Teleport", "mail": {"messageId": "m", "timestamp": "2025-03-10T09:00:00Z",
                                                  "destination": ["a@gmail.com"]}}
    path = tmp_path / "odd.jsonl"
    path.write_text(json.dumps(envelope) + "\n" + json.dumps(record) + "\n")
    events, meta = read_ses(path)
    assert meta["quarantine"]["field"].tolist() == ["Type", "eventType"]
    assert "Teleport" in meta["quarantine"]["reason"].iloc[1]
    assert check_reconciliation(meta)


def test_eventbridge_detail_type_fills_missing_event_type(ses_dir, tmp_path):
    # Some EventBridge consumers store `detail` without its eventType; detail-type names it.
    line = (ses_dir / "eventbridge_events.jsonl").read_text().splitlines()[1]  # Email Delivered
    event = json.loads(line)
    del event["detail"]["eventType"]
    path = tmp_path / "eb.jsonl"
    path.write_text(json.dumps(event) + "\n")
    events, meta = read_ses(path)
    assert events["event"].astype(str).tolist() == ["delivered", "delivered"]
    event["detail-type"] = "Email Teleported"
    path.write_text(json.dumps(event) + "\n")
    assert read_ses(path)[1]["quarantine"]["field"].tolist() == ["detail.eventType"]
