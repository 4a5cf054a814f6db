"""Postfix maillog reader (log-formats.md section 8).

The expected counts below were made by hand from the fixture files; each fixture line is one of
the shapes Postfix 3.x writes (delivery lines from ``log_adhoc.c``, the qmgr expiry notice, the
cleanup message-id and qmgr queue-active lines).
"""

import gzip
import json

import pandas as pd
import pytest

from deliverability_econ.io import (
    InputFormatError,
    check_reconciliation,
    detect_format,
    read_events,
)
from deliverability_econ.io.postfix import bounce_class, read_postfix, sniff
from deliverability_econ.privacy import pseudonymize_address
from deliverability_econ.schema import validate_events

from ..conftest import TEST_SALT

NOW = 1_764_000_000.0  # 2025-11-24: fixed so the future check does not depend on the clock


@pytest.fixture
def maillog(data_dir):
    return data_dir / "postfix" / "mail.log"


def read_clear(path, **options):
    """Read with clear recipients, so that tests can name them."""
    return read_postfix(path, pseudonymize=False, now=NOW, **options)


def outcome(events, recipient, event):
    rows = events[(events["recipient"] == recipient) & (events["event"] == event)]
    assert len(rows) == 1, (recipient, event, len(rows))
    return rows.iloc[0]


def utc(text):
    return pd.Timestamp(text, tz="UTC")


def test_every_line_is_accounted_for(maillog):
    events, meta = read_clear(maillog, year=2025)
    assert validate_events(events).empty
    # 84 lines: 19 delivery lines give 33 rows (14 of them with a processed event), one of
    # them is a syslog duplicate; 65 lines are context or out of scope.
    assert meta["raw_records"] == 84
    assert meta["records_read"] == 98
    assert meta["events"] == 32
    assert meta["duplicates"] == 1
    assert meta["quarantined"] == 0
    assert check_reconciliation(meta)
    assert meta["ignored"] == {
        "postfix/cleanup: message-id (read as the join key)": 16,
        "postfix/qmgr: queue active (read as the processed time)": 17,
        "postfix/qmgr: queue file removed": 17,
        "postfix/smtpd: no queue id (connection, TLS, warning or statistics)": 2,
        "postfix/smtpd: message received": 2,
        "postfix/smtp: no queue id (connection, TLS, warning or statistics)": 1,
        "postfix/scache: no queue id (connection, TLS, warning or statistics)": 1,
        "postfix/anvil: no queue id (connection, TLS, warning or statistics)": 1,
        "postfix/smtp: queue-id line without a delivery status": 1,  # "host ... said:" before the next MX
        "postfix/bounce: notification to the sender": 1,
        "postfix/pickup: message received": 1,
        "not a Postfix line": 1,  # opendkim
        "delivery of a bounce notification (null sender)": 1,
        "address verification probe (not a delivery)": 1,
        "local delivery (inbound or internal mail)": 1,
        "hand-off to a local content filter (the re-injected message is logged again)": 1,
    }
    counts = events["event"].value_counts()
    assert counts["processed"] == 14
    assert counts["delivered"] == 6
    assert counts["deferred"] == 3
    assert counts["bounced"] == 6
    assert counts["dropped"] == 3


@pytest.mark.parametrize(
    ("recipient", "event", "expected_class", "expected_status"),
    [
        ("alice.smith@gmail.com", "delivered", None, "2.0.0"),  # status=sent
        ("dave.miller@yahoo.com", "delivered", None, "2.0.0"),  # sent after a deferral
        ("bob.jones@gmail.com", "bounced", "hard", "5.1.1"),  # Gmail NoSuchUser
        ("carol@outlook.com", "bounced", "block", "5.7.1"),  # Outlook block list S3150
        ("erik.schulz@gmx.de", "bounced", "soft", "5.2.2"),  # mailbox full
        ("f.meyer@meyer-bau.de", "bounced", "undetermined", "5.0.0"),  # bare "550 Message rejected"
        ("gina.rossi@gmail.con", "bounced", "hard", "5.4.4"),  # relay=none, domain not found
        ("ops@mail.example.net", "dropped", None, "5.4.6"),  # relay=none, loops back to myself
        ("former.customer@yahoo.com", "dropped", None, "5.0.0"),  # error(8) transport: suppressed
        ("qa-seed-17@example.com", "dropped", None, "2.0.0"),  # discard(8): status=sent (discarded)
        ("laura@oldshop.example", "bounced", "soft", "4.4.1"),  # qmgr: expired, returned to sender
    ],
)
def test_status_mapping(maillog, recipient, event, expected_class, expected_status):
    events, _ = read_clear(maillog, year=2025)
    found = outcome(events, recipient, event)
    if expected_class is None:
        assert pd.isna(found["bounce_class"])
    else:
        assert found["bounce_class"] == expected_class
    assert found["smtp_status"] == expected_status
    assert pd.isna(found["sending_ip"])  # not on a Postfix line


def test_deferred_lines(maillog):
    events, _ = read_clear(maillog, year=2025)
    deferred = events[events["event"] == "deferred"]
    assert sorted(deferred["recipient"]) == [
        "dave.miller@yahoo.com", "laura@oldshop.example", "laura@oldshop.example",
    ]
    yahoo = outcome(events, "dave.miller@yahoo.com", "deferred")
    assert yahoo["smtp_status"] == "4.7.0"
    assert yahoo["reason"].startswith("host mta6.am0.yahoodns.net[67.195.228.110] said: 421 4.7.0 [TSS04]")
    assert yahoo["reason"].endswith("(in reply to MAIL FROM command)")  # nested parentheses kept


def test_processed_once_per_queue_id_and_recipient(maillog):
    events, _ = read_clear(maillog, year=2025)
    processed = events[events["event"] == "processed"]
    assert processed["recipient"].is_unique
    # The Yahoo message was attempted twice: one processed event, at its qmgr "queue active".
    assert outcome(events, "dave.miller@yahoo.com", "processed")["timestamp"] == utc("2025-11-05 14:09:20")
    # Queue id 4A6BC1C0BF1 has two recipients and re-entered the active queue on Nov 6: both
    # recipients are processed once, at the first "queue active" line.
    for recipient in ("kevin@gmail.com", "laura@oldshop.example"):
        assert outcome(events, recipient, "processed")["timestamp"] == utc("2025-11-05 14:21:00")
    # No qmgr line for 2849A1C0BDF in this file: no processed event for it.
    assert "ian.clarke@aol.com" not in set(processed["recipient"])


def test_message_id_from_cleanup_else_host_and_queue_id(maillog):
    events, _ = read_clear(maillog, year=2025)
    alice = events[events["recipient"] == "alice.smith@gmail.com"]
    assert set(alice["message_id"]) == {"20251105140310.7a1c9e@app.example.com"}
    # After a content filter the message has a new queue id, but its cleanup line repeats the
    # Message-ID: the re-injected delivery joins the original message.
    assert outcome(events, "henry.wu@icloud.com", "delivered")["message_id"] == (
        "20251105141800.e5f6a7@app.example.com"
    )
    # The cleanup line of 2849A1C0BDF is before the start of the file.
    assert outcome(events, "ian.clarke@aol.com", "delivered")["message_id"] == "mx1:2849A1C0BDF"
    # The processed and the outcomes of a message share the key.
    laura = events[events["recipient"] == "laura@oldshop.example"]
    assert set(laura["message_id"]) == {"20251105142100.2b3c4d@app.example.com"}


def test_expiry_notice_bounces_the_recipients_still_deferred(maillog):
    events, _ = read_clear(maillog, year=2025)
    expired = outcome(events, "laura@oldshop.example", "bounced")
    assert expired["timestamp"] == utc("2025-11-10 14:21:05")
    assert expired["reason"] == (
        "expired, returned to sender; last deferral: delivery temporarily suspended: connect to "
        "mx.oldshop.example[192.0.2.55]:25: Connection timed out"
    )
    # The other recipient of the queue id was delivered: the expiry does not touch it.
    kevin = events[events["recipient"] == "kevin@gmail.com"]
    assert sorted(kevin["event"].astype(str)) == ["delivered", "processed"]


def test_stream_from_multi_instance_syslog_name(maillog):
    events, _ = read_clear(maillog, year=2025)
    julia = events[events["recipient"] == "julia.weber@web.de"]
    assert set(julia["stream"]) == {"transactional"}  # postfix-transactional/smtp
    assert julia["message_id"].iloc[0] == "pwreset-20251105142000-5521@app.example.com"
    assert events.loc[events["recipient"] != "julia.weber@web.de", "stream"].isna().all()


def test_out_of_scope_deliveries_are_not_events(maillog):
    events, _ = read_clear(maillog, year=2025)
    recipients = set(events["recipient"])
    assert "bounces@app.example.com" not in recipients  # the bounce notification (from=<>)
    assert "check.me@hotmail.com" not in recipients  # status=deliverable: a verify probe
    assert "root@mx1.example.com" not in recipients  # local(8)
    # The hand-off to the filter on 127.0.0.1:10024 is not a delivery; the re-injected is.
    henry = events[events["recipient"] == "henry.wu@icloud.com"]
    assert sorted(henry["event"].astype(str)) == ["delivered", "processed"]
    assert outcome(events, "henry.wu@icloud.com", "delivered")["timestamp"] == utc("2025-11-05 14:18:02")


def test_repeated_line_and_same_file_twice_dedupe(maillog):
    events, meta = read_clear(maillog, year=2025)
    assert (events["recipient"] == "alice.smith@gmail.com").sum() == 2  # processed + delivered
    twice, meta_twice = read_events(
        [maillog, maillog], format="postfix", format_options={"postfix": {"year": 2025}}, now=NOW
    )
    assert meta_twice["events"] == 32
    assert meta_twice["duplicates"] == 32 + 2  # everything again, and the syslog duplicate twice
    assert twice["event_id"].is_unique
    assert check_reconciliation(meta_twice)


def test_classic_lines_without_year_are_quarantined_naming_the_field(maillog):
    events, meta = read_postfix(maillog, now=NOW)
    assert len(events) == 0
    # The 19 delivery lines need a time; the 65 other lines are ignored as before.
    assert meta["quarantined"] == 19
    assert sum(meta["ignored"].values()) == 65
    assert check_reconciliation(meta)
    assert set(meta["quarantine"]["field"]) == {"year"}
    first = meta["quarantine"].iloc[0]
    assert first["location"] == "line 9"
    assert "year=" in first["reason"] and "'Nov 5 14:03:11'" in first["reason"]
    with pytest.raises(InputFormatError) as info:
        read_postfix(maillog, errors="raise", now=NOW)
    assert info.value.field == "year"
    assert str(maillog) in str(info.value) and "line 9" in str(info.value)


def test_year_rollover_december_to_january(data_dir):
    events, meta = read_clear(data_dir / "postfix" / "mail_rollover.log", year=2024)
    assert meta["events"] == 6 and check_reconciliation(meta)
    times = {
        (r.recipient, r.event): r.timestamp for r in events.itertuples()
    }
    assert times[("nora.becker@gmail.com", "delivered")] == utc("2024-12-31 23:58:41")
    # Processed on Dec 31 (qmgr line), delivered after midnight: the year follows the line.
    assert times[("oscar.lind@outlook.com", "processed")] == utc("2024-12-31 23:59:58")
    assert times[("oscar.lind@outlook.com", "delivered")] == utc("2025-01-01 00:00:01")
    # A December line written after the first January line stays in December 2024.
    assert times[("paula.king@yahoo.com", "delivered")] == utc("2024-12-31 23:59:59")
    assert times[("quinn.ng@icloud.com", "deferred")] == utc("2025-01-01 00:02:10")


def test_timezone_option_applies_to_classic_lines(data_dir, maillog):
    events, _ = read_clear(maillog, year=2025, timezone="Europe/Berlin")
    # 14:03:11 CET (UTC+1 in November) is 13:03:11 UTC.
    assert outcome(events, "alice.smith@gmail.com", "delivered")["timestamp"] == utc("2025-11-05 13:03:11")
    # Local midnight of New Year in Berlin is still 2024 in UTC.
    events, _ = read_clear(data_dir / "postfix" / "mail_rollover.log", year=2024, timezone="Europe/Berlin")
    assert outcome(events, "oscar.lind@outlook.com", "delivered")["timestamp"] == utc("2024-12-31 23:00:01")


def test_time_skipped_by_daylight_saving_is_quarantined(tmp_path):
    path = tmp_path / "maillog"
    path.write_text(
        "Mar  9 02:30:00 mx1 postfix/smtp[100]: 1A2B3C4D5E: to=<a.b@gmail.com>, relay=none, "
        "delay=1, delays=0/0/1/0, dsn=4.4.1, status=deferred (connect to x[192.0.2.1]:25: timed out)\n"
    )
    events, meta = read_postfix(path, year=2025, timezone="America/New_York", now=NOW)
    assert meta["quarantined"] == 1
    entry = meta["quarantine"].iloc[0]
    assert entry["field"] == "timestamp" and "daylight saving" in entry["reason"]
    # The same wall time exists in UTC.
    assert read_postfix(path, year=2025, now=NOW)[1]["events"] == 1


def test_bad_options_are_configuration_errors(maillog):
    with pytest.raises(ValueError, match="Mars/Olympus"):
        read_postfix(maillog, year=2025, timezone="Mars/Olympus")
    with pytest.raises(ValueError, match="four-digit year"):
        read_postfix(maillog, year="2025")
    with pytest.raises(TypeError):
        read_postfix(maillog, yaer=2025)  # a typo is not silently a format option
    # Through read_events the options reach the normalizer: still raised, naming the option.
    for options, field in (({"year": 2025, "timezone": "Mars/Olympus"}, "timezone"),
                           ({"yaer": 2025}, "yaer")):
        with pytest.raises(InputFormatError) as info:
            read_events(maillog, format="postfix", format_options={"postfix": options})
        assert info.value.field == field


def test_rfc3339_prefixes_need_no_year(data_dir):
    events, meta = read_clear(data_dir / "postfix" / "mail_rfc3339.log")
    assert meta["quarantined"] == 0 and meta["events"] == 4 and check_reconciliation(meta)
    rita = outcome(events, "rita.gomez@gmail.com", "bounced")
    # 15:03:11.123456+01:00 is 14:03:11.123456 UTC (epoch seconds as float: microseconds kept).
    assert abs(rita["timestamp"] - utc("2025-11-05 14:03:11.123456")) < pd.Timedelta("1us")
    assert rita["bounce_class"] == "block" and rita["smtp_status"] == "5.7.26"  # unauthenticated
    # Long queue ids (enable_long_queue_ids) join the cleanup Message-ID as well.
    assert set(events["message_id"]) == {"CAH7x1q9=order-88412@shop.example.com"}
    processed = events[events["event"] == "processed"]
    assert len(processed) == 2
    assert (abs(processed["timestamp"] - utc("2025-11-05 14:03:10.418842")) < pd.Timedelta("1us")).all()


def test_rfc3339_variants_and_local_iso_times(tmp_path):
    line = ("{time} mx4 postfix/smtp[7]: 5B6C7D8E9F: to=<zoe.lee@gmail.com>, relay=gmail-smtp-in.l.google.com"
            "[142.250.102.27]:25, delay=1, delays=0/0/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 OK {n})\n")
    path = tmp_path / "maillog"
    path.write_text(
        line.format(time="2025-11-05T14:03:11Z", n=1)
        + line.format(time="2025-11-05T15:03:11+0100", n=2)  # journalctl -o short-iso
        + line.format(time="2025-11-05T15:03:11", n=3)  # no offset: read in timezone=
    )
    events, meta = read_postfix(path, timezone="Europe/Berlin", now=NOW)
    assert meta["events"] == 3
    assert set(events["timestamp"]) == {utc("2025-11-05 14:03:11")}


def test_bad_lines_are_quarantined_with_the_field(data_dir):
    path = data_dir / "postfix" / "mail_bad.log"
    events, meta = read_postfix(path, year=2025, now=NOW)
    assert meta["events"] == 2 and meta["quarantined"] == 4 and check_reconciliation(meta)
    quarantine = meta["quarantine"].set_index("location")
    assert quarantine.loc["line 2", "field"] == "to"  # status=sent without to=<...>
    assert "without a recipient" in quarantine.loc["line 2", "reason"]
    assert quarantine.loc["line 3", "field"] == "prefix"  # a line cut short
    assert quarantine.loc["line 4", "field"] == "dsn"  # dsn=5.1
    assert quarantine.loc["line 5", "field"] == "to"  # expiry of a queue id never deferred here
    assert "7B92A3C4D5" in quarantine.loc["line 5", "reason"]
    # The recipient address in a rejected line is scrubbed from the quarantine too.
    assert not quarantine["raw"].str.contains("uma.patel@outlook.com", regex=False).any()
    assert "addr:" + pseudonymize_address("uma.patel@outlook.com", TEST_SALT.encode()) in (
        quarantine.loc["line 4", "raw"]
    )
    with pytest.raises(InputFormatError) as info:
        read_postfix(path, year=2025, errors="raise", now=NOW)
    assert (info.value.location, info.value.field) == ("line 2", "to")
    assert str(path) in str(info.value)


def test_recipients_pseudonymized_and_reasons_scrubbed(maillog):
    events, _ = read_postfix(maillog, year=2025, now=NOW)
    assert not events["recipient"].str.contains("@").any()
    assert pseudonymize_address("bob.jones@gmail.com", TEST_SALT.encode()) in set(events["recipient"])
    assert events["recipient_domain"].value_counts()["gmail.com"] == 6
    providers = dict(zip(events["recipient_domain"], events["mailbox_provider"].astype(str), strict=True))
    assert providers["outlook.com"] == "microsoft" and providers["gmail.con"] == "other"


def test_sniff_and_detection(data_dir, maillog):
    assert sniff(maillog.read_text())
    assert sniff((data_dir / "postfix" / "mail_rfc3339.log").read_text())
    assert detect_format(maillog.read_text()) == "postfix"
    dovecot_only = "Nov  5 14:03:10 mx1 dovecot[900]: imap-login: Login: user=<x>, method=PLAIN\n"
    assert not sniff(dovecot_only)
    assert not sniff(json.dumps([{"event": "delivered", "sg_event_id": "x"}]))


def test_auto_detection_reads_a_compressed_log(tmp_path, maillog):
    path = tmp_path / "maillog.1.gz"
    with gzip.open(path, "wt") as handle:
        handle.write(maillog.read_text())
    events, meta = read_events(path, format_options={"postfix": {"year": 2025}}, now=NOW)
    assert meta["format"] == "postfix" and meta["events"] == 32


@pytest.mark.parametrize(
    ("dsn", "reply", "expected"),
    [
        ("5.1.1", "550 5.1.1 <x>: Recipient address rejected: User unknown in virtual mailbox table", "hard"),
        ("5.1.10", "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup", "hard"),
        ("5.4.4", "Host or domain name not found. Name service error for name=x type=MX", "hard"),
        ("5.4.1", "550 5.4.1 Recipient address rejected: Access denied. AS(201806281)", "hard"),
        ("5.0.0", "554 delivery error: dd This user doesn't have a yahoo.com account", "hard"),
        ("5.5.0", "550 5.5.0 Requested action not taken: mailbox unavailable", "hard"),
        ("5.7.1", "550 5.7.1 Service unavailable, Client host [203.0.113.25] blocked using Spamhaus", "block"),
        ("5.7.26", "550-5.7.26 This mail has been blocked because the sender is unauthenticated", "block"),
        ("5.1.8", "553 5.1.8 <noreply@app.example.com>: Sender address rejected: Domain not found", "block"),
        ("5.0.0", "554 Message not accepted for policy reasons", "block"),
        ("5.0.0", "550 Sender address rejected: not owned by user", "block"),
        ("5.2.2", "552 5.2.2 The email account that you tried to reach is over quota", "soft"),
        ("5.0.0", "552 Mailbox is full", "soft"),
        ("4.4.7", "delivery time expired", "soft"),
        ("5.0.0", "550 Message rejected", "undetermined"),
        (None, "550 Administrative prohibition", "undetermined"),
    ],
)
def test_bounce_class_table(dsn, reply, expected):
    assert bounce_class(dsn, reply) == expected


def test_undecodable_line_gives_no_context(tmp_path):
    path = tmp_path / "mail.log"
    cleanup = "Nov  5 14:03:10 mx1 postfix/cleanup[1]: 3F2A81C0ABC: message-id=<caf\xe9@app.example.com>\n"
    delivery = ("Nov  5 14:03:11 mx1 postfix/smtp[2]: 3F2A81C0ABC: to=<a.b@gmail.com>, relay=x[192.0.2.9]:25, "
                "delay=1, delays=0/0/0.5/0.5, dsn=2.0.0, status=sent (250 2.0.0 OK)\n")
    path.write_bytes(cleanup.encode("latin-1") + delivery.encode())
    events, meta = read_postfix(path, year=2025, now=NOW)
    assert meta["quarantined"] == 1 and "UTF-8" in meta["quarantine"]["reason"].iloc[0]
    # The Message-ID of the rejected line is not used as the join key.
    assert events["message_id"].tolist() == ["mx1:3F2A81C0ABC"]
