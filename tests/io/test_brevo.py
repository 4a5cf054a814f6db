"""Brevo (Sendinblue) reader (log-formats.md section 7; section 13, traps 5 and 6).

Fixtures in tests/data/brevo/ (wire shapes of Brevo's transactional webhook docs and anymail's
fixtures):

- webhook_events.jsonl: 20 events, one POST per line, every event type; the ``error`` event has
  ``ts_epoch`` in seconds and a ``tag`` string (trap 5), the ``unique_proxy_open`` carries
  ``s_epoch`` and a ``tag`` list as in Brevo's sample, a ``deferred`` carries ``550 5.1.1``
  (trap 6); ``ts_epoch`` is ``ts * 1000 + 217`` on the others;
- batched_post.json: a batched POST of 4 events, the last one also in webhook_events.jsonl;
- bad_events.jsonl: line 1 good; 2 only ``date``; 3 no ``email``; 4 ``ts_epoch`` "yesterday";
  5 ``ts_epoch`` 1761994 (digits lost); 6 truncated.
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
from deliverability_econ.io.brevo import normalize, read_brevo
from deliverability_econ.privacy import pseudonymize_address
from deliverability_econ.schema import validate_events

from ..conftest import TEST_SALT

NOW = 1_764_000_000.0  # 2025-11-24
RELAY = "@smtp-relay.mailin.fr"


@pytest.fixture
def folder(data_dir):
    return data_dir / "brevo"


@pytest.fixture
def stored(folder):
    return folder / "webhook_events.jsonl"


def one(events, message_serial, event):
    """The single event of type ``event`` of message 202511011100.384756291<serial>."""
    rows = events[(events["message_id"] == f"202511011100.384756291{message_serial}{RELAY}")
                  & (events["event"] == event)]
    assert len(rows) == 1, rows
    return rows.iloc[0]


def test_every_event_type_maps(stored):
    events, meta = read_brevo(stored, now=NOW)
    assert validate_events(events).empty
    assert meta["records_read"] == 20
    assert meta["ignored"] == {"list addition": 1}
    assert meta["events"] == 19 and meta["quarantined"] == 0
    assert check_reconciliation(meta)
    # Counted by hand from the fixture's `event` values.
    assert events["event"].value_counts().to_dict() == {
        "processed": 2,  # request x2
        "delivered": 2,
        "deferred": 1,  # the 4.7.0 one; the 5.1.1 one is a bounce (trap 6)
        "bounced": 3,  # hard_bounce, soft_bounce, deferred 5.1.1
        "dropped": 3,  # blocked, invalid_email, error
        "opened": 4,  # unique_opened, opened, unique_proxy_open, proxy_open
        "clicked": 1,
        "complained": 2,  # spam, complaint
        "unsubscribed": 1,
    }
    assert set(events["esp"]) == {"brevo"}


def test_ts_epoch_milliseconds(stored):
    events = read_brevo(stored, now=NOW)[0]
    # ts_epoch 1761994800217 [ms] for the first request: 11:00:00.217 UTC, to the millisecond.
    request = one(events, "01", "processed")
    assert abs(request["timestamp"] - pd.Timestamp("2025-11-01T11:00:00.217Z")) < pd.Timedelta("1us")


def test_ts_epoch_in_seconds_is_not_1970(stored):
    """Trap 5: anymail's `error` fixture has ts_epoch in seconds."""
    error = one(read_brevo(stored, now=NOW)[0], "09", "dropped")
    assert error["timestamp"] == pd.Timestamp("2025-11-01T11:01:13Z")  # ts_epoch 1761994873


def test_s_epoch_of_the_proxy_open_sample(stored):
    events = read_brevo(stored, now=NOW)[0]
    proxied = events[events["message_id"] == f"202511011100.38475629104{RELAY}"].sort_values("timestamp")
    assert proxied["timestamp"].tolist() == [pd.Timestamp("2025-11-01T11:00:30Z"),  # s_epoch
                                             pd.Timestamp("2025-11-01T11:00:31Z")]  # ts_epoch


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"ts_epoch": 1761994800500, "ts_event": 1, "ts": 1}, 1761994800.5),  # ms wins
        ({"ts_epoch": 1761994800, "ts_event": 1}, 1761994800.0),  # seconds by magnitude
        ({"ts_event": 1761994801, "ts": 1}, 1761994801.0),  # then ts_event
        ({"ts": "1761994802"}, 1761994802.0),  # then ts
        ({"ts_epoch": "", "ts_event": 1761994803}, 1761994803.0),  # empty is absent
    ],
)
def test_timestamp_precedence(fields, expected):
    record = {"event": "delivered", "email": "a@gmail.com", "message-id": "<m@x>",
              "date": "2025-11-01 12:00:00", **fields}
    assert normalize(record)[0]["timestamp"] == pytest.approx(expected)


def test_local_date_alone_is_quarantined():
    with pytest.raises(RecordError) as info:
        normalize({"event": "delivered", "email": "a@gmail.com", "message-id": "<m@x>",
                   "date": "2025-11-01 12:00:00"})
    assert info.value.field == "date" and "without a zone" in info.value.reason
    with pytest.raises(RecordError) as info:
        normalize({"event": "delivered", "email": "a@gmail.com", "message-id": "<m@x>"})
    assert info.value.field == "ts_epoch"


def test_machine_opens(stored):
    events = read_brevo(stored, now=NOW)[0]
    opened = events[events["event"] == "opened"]
    machine = opened.groupby("message_id")["is_machine"].agg(list).to_dict()
    assert machine == {
        f"202511011100.38475629101{RELAY}": [False, False],  # unique_opened, opened
        f"202511011100.38475629104{RELAY}": [True, True],  # unique_proxy_open, proxy_open
    }


@pytest.mark.parametrize(
    ("event", "is_machine"),
    [("unique_opened", False), ("opened", False), ("proxy_open", True), ("unique_proxy_open", True),
     ("unique_proxy_opened", True)],  # the last: the spelling in anymail's comment (trap 5)
)
def test_open_event_names(event, is_machine):
    record = {"event": event, "email": "a@icloud.com", "message-id": "<m@x>", "ts_epoch": 1761994800000}
    produced = normalize(record)[0]
    assert (produced["event"], produced["is_machine"]) == ("opened", is_machine)


def test_deferred_with_a_permanent_code_is_a_bounce(stored):
    """Trap 6: Brevo files "550 5.1.1 User unknown" as deferred."""
    events = read_brevo(stored, now=NOW)[0]
    henry = one(events, "08", "bounced")
    assert (henry["bounce_class"], henry["smtp_status"]) == ("hard", "5.1.1")
    temporary = one(events, "02", "deferred")  # 421 4.7.0 stays deferred
    assert temporary["smtp_status"] == "4.7.0" and pd.isna(temporary["bounce_class"])


@pytest.mark.parametrize(
    ("reason", "event", "bounce_class"),
    [
        ("550 5.1.1 <x@aol.com>: User unknown", "bounced", "hard"),
        ("554 5.7.1 Service unavailable; client host blocked using Spamhaus", "bounced", "block"),
        ("452 4.2.2 Mailbox full", "deferred", None),
        ("550 Requested action not taken", "deferred", None),  # no enhanced code: not overridden
        (None, "deferred", None),
    ],
)
def test_deferred_override_rule(reason, event, bounce_class):
    record = {"event": "deferred", "email": "a@gmail.com", "message-id": "<m@x>", "ts_epoch": 1761994800000,
              "reason": reason}
    produced = normalize(record)[0]
    assert (produced["event"], produced["bounce_class"]) == (event, bounce_class)


def test_bounce_classes_and_drops(stored):
    events = read_brevo(stored, now=NOW)[0]
    assert one(events, "03", "bounced")["bounce_class"] == "hard"
    assert one(events, "05", "bounced")["bounce_class"] == "soft"
    assert one(events, "05", "bounced")["smtp_status"] == "5.2.2"
    for serial in ("06", "07", "09"):  # blocked, invalid_email, error
        assert pd.isna(one(events, serial, "dropped")["bounce_class"])


def test_keys_message_id_campaign_stream_ip(stored):
    events = read_brevo(stored, now=NOW)[0]
    request = one(events, "01", "processed")
    assert request["message_id"] == f"202511011100.38475629101{RELAY}"  # <> stripped
    assert request["sending_ip"] == "185.41.28.109"
    assert request["campaign"] == "onboarding"  # tags list
    assert request["stream"] == "transactional"  # X-Mailin-custom JSON
    assert one(events, "03", "bounced")["campaign"] == "newsletter,nov-2025"
    assert one(events, "09", "dropped")["campaign"] == "onboarding"  # `tag` string
    assert events[events["message_id"] == f"202511011100.38475629104{RELAY}"]["campaign"].tolist() == [
        "onboarding", "onboarding"]  # `tag` list
    complaints = events[events["event"] == "complained"]  # spam and complaint, empty tags
    assert len(complaints) == 2 and complaints["campaign"].isna().all()


@pytest.mark.parametrize(
    ("tags", "campaign"),
    [
        ({"tag": '["welcome","day-1"]'}, "welcome,day-1"),  # a JSON-encoded list in `tag`
        ({"tag": "confirm-account"}, "confirm-account"),
        ({"tags": [], "tag": ""}, None),
        ({"tags": ["a", "b"], "tag": "ignored"}, "a,b"),
    ],
)
def test_campaign_shapes(tags, campaign):
    record = {"event": "request", "email": "a@gmail.com", "message-id": "<m@x>", "ts_epoch": 1761994800000,
              **tags}
    assert normalize(record)[0]["campaign"] == campaign


def test_out_of_scope_and_unknown_events():
    base = {"email": "a@gmail.com", "message-id": "<m@x>", "ts_epoch": 1761994800000}
    with pytest.raises(IgnoreRecord, match="list addition"):
        normalize({"event": "list_addition", **base})
    with pytest.raises(RecordError) as info:
        normalize({"event": "teleport", **base})
    assert info.value.field == "event"


def test_batched_post_and_cross_file_dedupe(stored, folder):
    events, meta = read_brevo(folder / "batched_post.json", now=NOW)
    assert meta["records_read"] == 4 and meta["events"] == 4
    events, meta = read_events([stored, folder / "batched_post.json"], now=NOW)
    assert meta["records_read"] == 24
    assert meta["duplicates"] == 1  # the batch's last event was stored on its own too
    assert meta["events"] == 22
    assert check_reconciliation(meta)


def test_same_file_twice_counts_once(stored):
    events, meta = read_events([stored, stored], now=NOW)
    assert meta["events"] == 19 and meta["duplicates"] == 19
    assert check_reconciliation(meta)


def test_recipients_pseudonymized_and_reasons_scrubbed(stored):
    events = read_brevo(stored, now=NOW)[0]
    assert not events["recipient"].str.contains("@").any()
    assert pseudonymize_address("henry.p@aol.com", TEST_SALT.encode()) in set(events["recipient"])
    assert not events["reason"].dropna().str.contains("henry.p@aol.com").any()


def test_bad_events_quarantined_with_their_field(folder):
    path = folder / "bad_events.jsonl"
    events, meta = read_brevo(path, now=NOW)
    assert meta["records_read"] == 6 and meta["events"] == 1 and meta["quarantined"] == 5
    assert check_reconciliation(meta)
    quarantine = meta["quarantine"].set_index("location")
    assert quarantine.loc["line 2", "field"] == "date"
    assert quarantine.loc["line 3", "field"] == "email"
    assert quarantine.loc["line 4", "field"] == "ts_epoch"
    assert "yesterday" in quarantine.loc["line 4", "reason"]
    # 1761994 has too few digits for either unit: read as seconds it is January 1970.
    assert quarantine.loc["line 5", "field"] == "timestamp"
    assert "before 2000" in quarantine.loc["line 5", "reason"]
    assert "invalid JSON" in quarantine.loc["line 6", "reason"]
    assert not quarantine["raw"].str.contains("@gmail.com", regex=False).any()


@pytest.mark.parametrize(
    ("line", "field"),
    [(2, "date"), (3, "email"), (4, "ts_epoch"), (5, "timestamp"), (6, None)],
)
def test_bad_event_raises_naming_file_line_field(folder, tmp_path, line, field):
    lines = (folder / "bad_events.jsonl").read_text().splitlines()
    path = tmp_path / "one_bad.jsonl"
    path.write_text(lines[0] + "\n" + lines[line - 1] + "\n")
    with pytest.raises(InputFormatError) as info:
        read_brevo(path, errors="raise", now=NOW)
    assert (info.value.source, info.value.location, info.value.field) == (str(path), "line 2", field)


SENDGRID_HEAD = (
    '[{"email": "a@gmail.com", "timestamp": 1761994800, "smtp-id": "<x@ismtpd-1>", '
    '"event": "delivered", "sg_event_id": "abc", "sg_message_id": "x.filter0001"}]'
)
MAILGUN_HEAD = json.dumps({
    "signature": {"token": "t", "timestamp": "1761994800", "signature": "s"},
    "event-data": {"event": "delivered", "timestamp": 1761994800.1, "id": "x", "recipient": "a@gmail.com",
                   "message": {"headers": {"message-id": "20251101110000.1@acme.io"}}, "email": "a@gmail.com"},
})


def test_sniff_recognizes_brevo_only(folder, data_dir):
    for name in ("webhook_events.jsonl", "batched_post.json", "bad_events.jsonl"):
        head = (folder / name).read_text()[:65_536]
        assert brevo.sniff(head), name
        assert detect_format(head) == "brevo", name
        assert not sendgrid.sniff(head) and not sparkpost.sniff(head) and not mandrill.sniff(head), name
    # Without any time field, message-id + email + event at the top level still say Brevo.
    assert brevo.sniff('{"event": "delivered", "email": "a@gmail.com", "message-id": "<m@x>"}')
    assert not brevo.sniff(SENDGRID_HEAD)
    assert not brevo.sniff(MAILGUN_HEAD)
    for other in ("sparkpost/webhook_batch.json", "mandrill/events.json", "mandrill/webhook_posts.txt",
                  "sendgrid/webhook_post.json"):
        assert not brevo.sniff((data_dir / other).read_text()[:65_536]), other
