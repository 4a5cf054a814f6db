"""SendGrid Event Webhook reader (log-formats.md section 1; section 13 traps 2, 3, 11)."""

import json

import pandas as pd
import pytest

from deliverability_econ.io import InputFormatError, check_reconciliation, read_events
from deliverability_econ.io.sendgrid import read_sendgrid
from deliverability_econ.privacy import pseudonymize_address
from deliverability_econ.schema import validate_events

from ..conftest import TEST_SALT


@pytest.fixture
def post(data_dir):
    return data_dir / "sendgrid" / "webhook_post.json"


def by_id(events):
    return events.set_index("event_id")


def test_every_event_type_maps(post):
    events, meta = read_sendgrid(post)
    assert validate_events(events).empty
    # 16 records: group_resubscribe is out of scope, the rest are events.
    assert meta["records_read"] == 16
    assert meta["ignored"] == {"resubscribe": 1}
    assert meta["events"] == 15
    assert check_reconciliation(meta)
    counts = events["event"].value_counts()
    assert counts["processed"] == 2
    assert counts["delivered"] == 2
    assert counts["deferred"] == 1
    assert counts["bounced"] == 3
    assert counts["dropped"] == 1
    assert counts["opened"] == 2
    assert counts["clicked"] == 1
    assert counts["complained"] == 1
    assert counts["unsubscribed"] == 2  # unsubscribe and group_unsubscribe


def test_bounce_type_and_classification_spellings(post):
    events = by_id(read_sendgrid(post)[0])
    # type=bounce with "Invalid Address": permanent.
    assert events.loc["Ym91bmNlLWNhcm9s", "bounce_class"] == "hard"
    # type=blocked is a temporary block, not a hard bounce (trap 2).
    assert events.loc["YmxvY2tlZC1kYXZl", "bounce_class"] == "block"
    # The short spelling "invalid" of symfony's fixture, without `type` (trap 3).
    assert events.loc["aW52YWxpZC1zaG9ydC1zcGVsbGluZw==", "bounce_class"] == "hard"
    assert events.loc["aW52YWxpZC1zaG9ydC1zcGVsbGluZw==", "smtp_status"] == "5.1.1"


def test_machine_open_flag(post):
    events = by_id(read_sendgrid(post)[0])
    assert bool(events.loc["bWFjaGluZS1vcGVuLWJvYg==", "is_machine"]) is True
    assert bool(events.loc["FOTFFO0ecsBE-zxFXfs6WA==", "is_machine"]) is False


def test_keys_category_pool_ip(post):
    events = by_id(read_sendgrid(post)[0])
    processed = events.loc["rbtnWrG1DVDGGGFHFyun0A=="]
    assert processed["campaign"] == "onboarding,welcome"  # category as a list (trap 11)
    assert processed["ip_pool"] == "transactional"  # pool.name, processed only
    assert processed["stream"] == "onboarding"  # custom arg at the top level
    assert events.loc["bXdlYWNuZXdzbGV0dGVyMQ==", "campaign"] == "newsletter"  # category string
    # The sending IP on delivery events, never the reader's IP on opens and clicks.
    assert events.loc["rWVYmVk90MjZJ9iohOBa3w==", "sending_ip"] == "149.72.10.11"
    assert pd.isna(events.loc["FOTFFO0ecsBE-zxFXfs6WA==", "sending_ip"])


def test_message_id_joins_async_bounce_via_smtp_id(post):
    events = by_id(read_sendgrid(post)[0])
    # sg_message_id's first part is the smtp-id's local part: both give the same message id.
    assert events.loc["rbtnWrG1DVDGGGFHFyun0A==", "message_id"] == "14c5d75ce93.dfd.64b469"
    assert events.loc["aW52YWxpZC1zaG9ydC1zcGVsbGluZw==", "message_id"] == "5d90a3f177e.14d.c2f60"
    messages = read_sendgrid(post)[0].groupby("message_id").size()
    assert messages["14c5d75ce93.dfd.64b469"] == 4


def test_array_and_lines_give_identical_events(post, data_dir):
    from_post = read_sendgrid(post)[0]
    from_lines = read_sendgrid(data_dir / "sendgrid" / "stored.jsonl")[0]
    pd.testing.assert_frame_equal(from_post, from_lines)


def test_batches_per_line_and_redelivery_dedupe(data_dir):
    events, meta = read_sendgrid(data_dir / "sendgrid" / "batches.jsonl")
    assert meta["records_read"] == 17  # 6 + 11 items, one of them delivered twice
    assert meta["duplicates"] == 1
    assert meta["events"] == 15
    assert check_reconciliation(meta)


def test_same_file_twice_counts_once(post):
    events, meta = read_events([post, post])
    assert meta["events"] == 15
    assert meta["duplicates"] == 15
    assert events["event_id"].is_unique


def test_recipients_pseudonymized_and_reasons_scrubbed(post):
    events, _ = read_sendgrid(post)
    assert not events["recipient"].str.contains("@").any()
    expected = pseudonymize_address("alice.smith@gmail.com", TEST_SALT.encode())
    assert expected in set(events["recipient"])
    assert not events["reason"].dropna().str.contains("carol@outlook.com").any()
    assert events["recipient_domain"].tolist().count("gmail.com") == 4


def test_clear_addresses_only_on_request(post):
    events, _ = read_sendgrid(post, pseudonymize=False)
    assert "alice.smith@gmail.com" in set(events["recipient"])


def test_providers(post):
    events = read_sendgrid(post)[0]
    providers = dict(zip(events["recipient_domain"], events["mailbox_provider"].astype(str), strict=True))
    assert providers == {
        "gmail.com": "gmail", "icloud.com": "apple", "outlook.com": "microsoft",
        "yahoo.com": "yahoo", "gmx.de": "gmx", "web.de": "gmx", "hotmail.com": "microsoft",
        "aol.com": "yahoo",
    }


def test_unknown_event_quarantined_and_raised(tmp_path):
    path = tmp_path / "events.json"
    records = [
        {"email": "a@gmail.com", "timestamp": 1761994800, "event": "processed",
         "sg_event_id": "ok1", "sg_message_id": "m1.filter0001"},
        {"email": "a@gmail.com", "timestamp": 1761994800, "event": "teleported",
         "sg_event_id": "bad1", "sg_message_id": "m1.filter0001"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in records))
    events, meta = read_sendgrid(path)
    assert meta["quarantined"] == 1
    entry = meta["quarantine"].iloc[0]
    assert (entry["location"], entry["field"]) == ("line 2", "event")
    assert "teleported" in entry["reason"]
    with pytest.raises(InputFormatError) as info:
        read_sendgrid(path, errors="raise")
    assert str(path) in str(info.value) and "line 2" in str(info.value)
    assert info.value.field == "event"
