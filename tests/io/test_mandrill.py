"""Mailchimp Transactional (Mandrill) reader (log-formats.md section 6; section 13, trap 4).

Fixtures in tests/data/mandrill/ (wire shapes of Mandrill's webhook docs and sample batches):

- events.json: the two decoded ``mandrill_events`` arrays as one JSON array, 16 events (8 + 8):
  every message event, the docs' prose spelling ``hard-bounce``, a sync event and an inbound;
- webhook_posts.txt: the same two POST bodies form-encoded, one per line, after the empty batch
  Mandrill posts when a webhook is added, and with the first batch retried at the end;
- bad_posts.txt: line 1 a batch of 3 (item 1 good, item 2 without msg.email, item 3 with an ISO
  ``ts``); line 2 a truncated body; line 3 a form body without ``mandrill_events``.
"""

import json
import urllib.parse

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
from deliverability_econ.io.mandrill import normalize, read_mandrill
from deliverability_econ.privacy import pseudonymize_address
from deliverability_econ.schema import validate_events

from ..conftest import TEST_SALT

NOW = 1_764_000_000.0  # 2025-11-24
MSG = "9f2b5c0a4e7d4b1c8a3e6f1d2c0b9a0"  # message ids are MSG + "1" ... MSG + "8"


@pytest.fixture
def folder(data_dir):
    return data_dir / "mandrill"


@pytest.fixture
def decoded(folder):
    return folder / "events.json"


@pytest.fixture
def posts(folder):
    return folder / "webhook_posts.txt"


def first_of(events, message, event):
    rows = events[(events["message_id"] == MSG + message) & (events["event"] == event)]
    assert len(rows) == 1
    return rows.iloc[0]


def test_every_event_type_maps(decoded):
    events, meta = read_mandrill(decoded, now=NOW)
    assert validate_events(events).empty
    assert meta["records_read"] == 16
    assert meta["ignored"] == {"sync event": 1, "inbound": 1}
    assert meta["events"] == 14 and meta["quarantined"] == 0
    assert check_reconciliation(meta)
    # Counted by hand from the fixture's `event` values.
    assert events["event"].value_counts().to_dict() == {
        "processed": 2,  # send x2
        "delivered": 2,  # delivered x2
        "deferred": 1,  # deferral
        "bounced": 4,  # hard_bounce, soft_bounce x2, hard-bounce
        "dropped": 1,  # reject
        "opened": 1,
        "clicked": 1,
        "complained": 1,  # spam
        "unsubscribed": 1,  # unsub
    }
    assert set(events["esp"]) == {"mandrill"}


def test_form_bodies_equal_decoded_arrays(decoded, posts):
    from_json = read_mandrill(decoded, now=NOW)[0]
    from_form = read_mandrill(posts, now=NOW)[0]
    pd.testing.assert_frame_equal(from_json, from_form)


def test_form_bodies_test_post_and_retry(posts):
    events, meta = read_mandrill(posts, now=NOW)
    # Line 1 is the empty test batch (no record); then 8 + 8 events, then the first 8 again.
    assert meta["records_read"] == 24
    assert meta["duplicates"] == 8
    assert meta["events"] == 14
    assert check_reconciliation(meta)


def test_same_file_twice_counts_once(decoded):
    events, meta = read_events([decoded, decoded], now=NOW)
    assert meta["events"] == 14 and meta["duplicates"] == 14
    assert check_reconciliation(meta)


def test_bounce_classes(decoded):
    events = read_mandrill(decoded, now=NOW)[0]
    assert first_of(events, "3", "bounced")["bounce_class"] == "hard"  # hard_bounce, bad_mailbox
    assert first_of(events, "4", "bounced")["bounce_class"] == "soft"  # mailbox_full, bgtools 22
    assert first_of(events, "5", "bounced")["bounce_class"] == "block"  # bgtools_code 51
    # Trap 4: the docs' prose spelling "hard-bounce" is the wire's hard_bounce.
    hyphen = first_of(events, "6", "bounced")
    assert (hyphen["bounce_class"], hyphen["smtp_status"]) == ("hard", "5.1.2")


def soft_bounce(**msg):
    return {"event": "soft_bounce", "_id": "x", "ts": 1761994800,
            "msg": {"email": "a@gmail.com", "_id": "x", **msg}}


@pytest.mark.parametrize(
    ("msg", "bounce_class"),
    [
        ({"bounce_description": "mailbox_full", "bgtools_code": 22, "diag": "smtp;552 5.2.2 Over Quota"}, "soft"),
        ({"bounce_description": "general", "bgtools_code": 52}, "block"),  # code alone
        ({"bounce_description": "spam_related"}, "block"),  # description alone
        ({"bounce_description": "general", "diag": "smtp;550 5.7.1 Message rejected as spam"}, "block"),
        ({"bounce_description": "general", "diag": "smtp;421 4.4.2 Connection timed out"}, "soft"),
        ({}, "soft"),
    ],
)
def test_soft_bounce_or_block(msg, bounce_class):
    assert normalize(soft_bounce(**msg))[0]["bounce_class"] == bounce_class


def test_sync_inbound_and_unknown_events():
    with pytest.raises(IgnoreRecord, match="sync event"):
        normalize({"type": "whitelist", "action": "add", "entry": {"email": "a@b.com"}, "ts": 1761994800})
    with pytest.raises(IgnoreRecord, match="inbound"):
        normalize({"event": "inbound", "ts": 1761994800, "msg": {"email": "in@acme.io"}})
    with pytest.raises(RecordError) as info:
        normalize({"event": "teleport", "_id": "x", "ts": 1761994800, "msg": {"email": "a@b.com"}})
    assert info.value.field == "event"


def test_keys_ip_campaign_stream(decoded):
    events = read_mandrill(decoded, now=NOW)[0]
    delivered = first_of(events, "2", "delivered")
    # The source_ip of the last smtp_events attempt; the greylisting diag of the first is not used.
    assert delivered["sending_ip"] == "198.2.132.41"
    assert delivered["smtp_status"] == "2.6.0"
    deferred = first_of(events, "2", "deferred")
    assert deferred["smtp_status"] == "4.7.500"
    opened = first_of(events, "1", "opened")
    assert opened["sending_ip"] == "198.2.132.41"  # not the reader's `ip` (66.249.84.12)
    assert opened["campaign"] == "onboarding" and opened["stream"] == "transactional"
    assert pd.isna(opened["smtp_status"]) and pd.isna(opened["reason"])
    bounced = first_of(events, "3", "bounced")
    assert bounced["campaign"] == "newsletter,nov-2025"  # msg.tags joined
    assert bounced["stream"] == "marketing"  # msg.metadata["stream"]
    untagged = first_of(events, "8", "processed")
    assert pd.isna(untagged["campaign"]) and pd.isna(untagged["stream"])
    # The timestamp is the event's `ts`, not msg.ts (the send time).
    assert first_of(events, "1", "clicked")["timestamp"] == pd.Timestamp(1761998450, unit="s", tz="UTC")


def test_event_id_survives_a_changed_msg_snapshot(decoded, tmp_path):
    """A retried event whose embedded msg has grown (more opens, new state) is the same event."""
    records = json.loads(decoded.read_text())
    opened = next(r for r in records if r["event"] == "open")
    retried = json.loads(json.dumps(opened))
    retried["msg"]["opens"].append({"ts": 1762005000, "ip": "66.249.84.12", "location": "Mountain View, US",
                                    "ua": "Windows/Windows XP/Firefox/Firefox 11.0"})
    retried["msg"]["state"] = "sent"
    path = tmp_path / "retry.jsonl"
    path.write_text(json.dumps([opened]) + "\n" + json.dumps([retried]) + "\n")
    events, meta = read_mandrill(path, now=NOW)
    assert meta["events"] == 1 and meta["duplicates"] == 1
    # A second open of the same message at another time is another event.
    later = dict(opened, ts=1762005000)
    path.write_text(json.dumps([opened, later]) + "\n")
    assert read_mandrill(path, now=NOW)[1]["events"] == 2


def test_form_decoded_into_a_dict(decoded, tmp_path):
    """``{"mandrill_events": "<JSON>"}`` lines, as a web framework's request.POST dumps them."""
    records = json.loads(decoded.read_text())
    path = tmp_path / "posts.jsonl"
    path.write_text(json.dumps({"mandrill_events": json.dumps(records[:8])}) + "\n"
                    + json.dumps({"mandrill_events": json.dumps(records[8:])}) + "\n"
                    + json.dumps({"mandrill_events": "[{\"event\": \"send\""}) + "\n")
    events, meta = read_mandrill(path, now=NOW)
    assert meta["events"] == 14 and meta["quarantined"] == 1
    assert meta["quarantine"].iloc[0][["location", "field"]].tolist() == ["line 3", "mandrill_events"]
    assert check_reconciliation(meta)


def test_recipients_pseudonymized_and_reasons_scrubbed(decoded):
    events = read_mandrill(decoded, now=NOW)[0]
    assert not events["recipient"].str.contains("@").any()
    assert pseudonymize_address("carol.white@yahoo.com", TEST_SALT.encode()) in set(events["recipient"])
    assert not events["reason"].dropna().str.contains("carol.white@yahoo.com").any()


def test_bad_posts_quarantined_with_their_field(folder):
    path = folder / "bad_posts.txt"
    events, meta = read_mandrill(path, now=NOW)
    assert meta["records_read"] == 5  # 3 items of line 1, then one per unreadable line
    assert meta["events"] == 1 and meta["quarantined"] == 4
    assert check_reconciliation(meta)
    quarantine = meta["quarantine"].set_index("location")
    assert quarantine.loc["line 1 (item 2)", "field"] == "msg.email"
    assert quarantine.loc["line 1 (item 3)", "field"] == "ts"
    assert "2025-11-01T11:00:02" in quarantine.loc["line 1 (item 3)", "reason"]
    assert "invalid JSON in mandrill_events" in quarantine.loc["line 2", "reason"]
    assert "without a mandrill_events field" in quarantine.loc["line 3", "reason"]
    # The raw text is kept decoded (never percent-encoded) so that addresses are scrubbed.
    raw = " ".join(quarantine["raw"])
    assert "alice.smith" not in raw and "%40" not in raw


@pytest.mark.parametrize(
    ("lines", "location", "field"),
    [
        ([1], "line 1 (item 2)", "msg.email"),
        ([2], "line 1", None),
        ([3], "line 1", None),
    ],
)
def test_bad_post_raises_naming_file_location_field(folder, tmp_path, lines, location, field):
    source = (folder / "bad_posts.txt").read_text().splitlines()
    path = tmp_path / "posts.txt"
    path.write_text("\n".join(source[i - 1] for i in lines) + "\n")
    with pytest.raises(InputFormatError) as info:
        read_mandrill(path, errors="raise", now=NOW)
    assert (info.value.source, info.value.location, info.value.field) == (str(path), location, field)


def test_bad_ts_raises(tmp_path):
    record = {"event": "send", "_id": "x", "ts": "soon", "msg": {"email": "a@gmail.com"}}
    path = tmp_path / "posts.txt"
    path.write_text(urllib.parse.urlencode({"mandrill_events": json.dumps([record])}) + "\n")
    with pytest.raises(InputFormatError, match="line 1 \\(item 1\\), field 'ts'"):
        read_mandrill(path, errors="raise", now=NOW)


def test_undecodable_bytes_quarantine_the_post(tmp_path):
    good = {"event": "send", "_id": "x", "ts": 1761994800, "msg": {"email": "jose@gmail.com"}}
    bad = dict(good, msg={"email": "jos\u00e9@gmail.com"})
    form = urllib.parse.urlencode({"mandrill_events": json.dumps([good])})
    path = tmp_path / "posts.txt"
    # Line 2: a raw latin-1 byte; line 3: a percent-encoded latin-1 byte (%E9).
    raw_latin1 = form.encode().replace(b"jose%40", b"jos\xe9%40")
    encoded_latin1 = urllib.parse.urlencode({"mandrill_events": json.dumps([bad], ensure_ascii=False)},
                                            encoding="latin-1")
    path.write_bytes(form.encode() + b"\n" + raw_latin1 + b"\n" + encoded_latin1.encode() + b"\n")
    events, meta = read_mandrill(path, now=NOW)
    assert meta["events"] == 1 and meta["quarantined"] == 2
    assert meta["quarantine"]["location"].tolist() == ["line 2", "line 3"]
    assert meta["quarantine"]["reason"].str.contains("UTF-8").all()


SENDGRID_HEAD = (
    '[{"email": "a@gmail.com", "timestamp": 1761994800, "smtp-id": "<x@ismtpd-1>", '
    '"event": "delivered", "sg_event_id": "abc", "sg_message_id": "x.filter0001"}]'
)


def test_sniff_recognizes_mandrill_only(folder, data_dir):
    for name in ("events.json", "webhook_posts.txt", "bad_posts.txt"):
        head = (folder / name).read_text()[:65_536]
        assert mandrill.sniff(head), name
        assert detect_format(head) == "mandrill", name
        assert not sendgrid.sniff(head) and not sparkpost.sniff(head) and not brevo.sniff(head), name
    assert not mandrill.sniff(SENDGRID_HEAD)
    for other in ("sparkpost/webhook_batch.json", "brevo/webhook_events.jsonl", "sendgrid/webhook_post.json"):
        assert not mandrill.sniff((data_dir / other).read_text()[:65_536]), other
