"""Generic CSV reader: canonical headers, mapped exports, dialects and bad rows.

Expected values come from the fixture rows (counted by hand; line numbers count the header).
"""

import io

import pandas as pd
import pytest

from deliverability_econ.io import (
    InputFormatError,
    check_reconciliation,
    detect_format,
    read_events,
)
from deliverability_econ.io.csv import read_csv, sniff
from deliverability_econ.privacy import pseudonymize_address
from deliverability_econ.schema import validate_events

from ..conftest import TEST_SALT

NOW = 1_764_000_000.0  # 2025-11-24: fixed so the future check does not depend on the clock

#: How the export_semicolon.csv fixture's columns and event words map.
EXPORT_MAPPING = {
    "timestamp": "Event Time",
    "event": "Event Type",
    "message_id": "Message ID",
    "recipient": "Recipient Email",
    "campaign": "Campaign",
    "is_machine": "Is Bot",
    "smtp_status": "SMTP Response",
    "reason": "SMTP Response",
    "sending_ip": "Sending IP",
}
EXPORT_EVENTS = {
    "Sent": "processed",
    "Hard Bounce": ("bounced", "hard"),
    "Soft Bounce": ("bounced", "soft"),
    "Blocked": ("bounced", "block"),
    "Spam Complaint": "complained",
    "Rejected": "dropped",
    "Resubscribed": None,
}


@pytest.fixture
def canonical(data_dir):
    return data_dir / "csv" / "canonical.csv"


@pytest.fixture
def export(data_dir):
    return data_dir / "csv" / "export_semicolon.csv"


def by_id(events):
    return events.set_index("event_id")


def text_source(text, name="events.csv"):
    buffer = io.StringIO(text)
    buffer.name = name
    return buffer


# --------------------------------------------------------------------------------------------
# Canonical header
# --------------------------------------------------------------------------------------------


def test_canonical_header_reads_without_mapping(canonical):
    events, meta = read_csv(canonical, now=NOW)
    assert validate_events(events).empty
    # 15 data rows; the last repeats evt-0002.
    assert meta["records_read"] == 15 and meta["events"] == 14 and meta["duplicates"] == 1
    assert meta["quarantined"] == 0 and check_reconciliation(meta)
    assert meta["warnings"] == []
    counts = events["event"].value_counts()
    assert counts.to_dict() == {
        "processed": 2, "delivered": 2, "deferred": 1, "bounced": 3, "dropped": 1,
        "opened": 2, "clicked": 1, "complained": 1, "unsubscribed": 1,
    }


def test_every_canonical_column_is_read(canonical):
    events = by_id(read_csv(canonical, pseudonymize=False, now=NOW)[0])
    delivered = events.loc["evt-0002"]
    assert delivered["timestamp"] == pd.Timestamp("2025-11-05 14:03:11.250", tz="UTC")
    assert delivered["message_id"] == "msg-1001"
    assert delivered["recipient"] == "alice.smith@gmail.com"
    assert delivered["sending_ip"] == "198.51.100.21"
    assert delivered["ip_pool"] == "transactional"
    assert delivered["stream"] == "onboarding"
    assert delivered["campaign"] == "welcome-2025-11"
    assert delivered["smtp_status"] == "2.0.0"
    assert delivered["reason"] == "250 2.0.0 OK, queued as 1762351391"  # quoted comma
    assert not delivered["is_machine"]
    assert delivered["esp"] == "csv" and delivered["mailbox_provider"] == "gmail"


def test_timestamps_epoch_and_offsets(canonical):
    events = by_id(read_csv(canonical, now=NOW)[0])
    # 1762351500 s after the epoch is 2025-11-05 14:05:00 UTC.
    assert events.loc["evt-0003", "timestamp"] == pd.Timestamp("2025-11-05 14:05:00", tz="UTC")
    # 15:10:00+01:00 is 14:10:00 UTC.
    assert events.loc["evt-0005", "timestamp"] == pd.Timestamp("2025-11-05 14:10:00", tz="UTC")


def test_bounce_class_and_is_machine_values(canonical):
    events = by_id(read_csv(canonical, now=NOW)[0])
    assert events.loc["evt-0009", "bounce_class"] == "hard"  # the column says hard
    assert events.loc["evt-0010", "bounce_class"] == "block"  # no column value: 5.7.1
    assert events.loc["evt-0011", "bounce_class"] == "soft"  # "Transient"
    assert events["bounce_class"].notna().sum() == 3  # only on bounced rows
    assert bool(events.loc["evt-0007", "is_machine"]) is True  # "TRUE"
    for event_id in ("evt-0001", "evt-0002", "evt-0003", "evt-0004"):  # false, 0, no, n
        assert bool(events.loc[event_id, "is_machine"]) is False


def test_quoted_newlines_doubled_quotes_and_scrubbing(canonical):
    events = by_id(read_csv(canonical, now=NOW)[0])
    deferred = events.loc["evt-0008"]
    assert deferred["reason"] == (
        "421-4.7.0 [TSS04] Messages from 198.51.100.22 temporarily deferred\n"
        "421 4.7.0 due to unexpected volume or user complaints"
    )
    assert deferred["smtp_status"] == "4.7.0"  # from "421 4.7.0"
    pseudonym = pseudonymize_address("bob.jones@gmail.com", TEST_SALT.encode())
    assert events.loc["evt-0009", "reason"] == (
        f'550 5.1.1 "addr:{pseudonym}": The email account that you tried to reach does not exist'
    )
    assert not events["recipient"].str.contains("@").any()


def test_row_without_event_id_gets_a_stable_hash(canonical):
    first = read_csv(canonical, now=NOW)[0]
    again = read_csv(canonical, now=NOW)[0]
    hashed = first.loc[first["event"] == "unsubscribed", "event_id"].iloc[0]
    assert hashed.startswith("csv:")
    assert hashed == again.loc[again["event"] == "unsubscribed", "event_id"].iloc[0]


def test_same_file_twice_counts_once(canonical):
    events, meta = read_events([canonical, canonical], now=NOW)
    assert meta["format"] == "csv"
    assert meta["events"] == 14 and meta["duplicates"] == 14 + 2
    assert check_reconciliation(meta)


def test_sniff_is_strict(canonical, export, data_dir):
    assert sniff(canonical.read_text())
    assert detect_format(canonical.read_text()) == "csv"
    assert not sniff(export.read_text(encoding="utf-8-sig"))  # needs a mapping
    assert not sniff("timestamp,event,message_id,email\n1,delivered,m,a@b.c\n")
    assert not sniff((data_dir / "postfix" / "mail.log").read_text())
    assert sniff("Timestamp;Event;Message_ID;Recipient\n")
    assert sniff("sep=;\ntimestamp;event;message_id;recipient\n")


# --------------------------------------------------------------------------------------------
# Mapped exports
# --------------------------------------------------------------------------------------------


def test_mapped_semicolon_export_with_local_times(export):
    events, meta = read_csv(export, mapping=EXPORT_MAPPING, event_map=EXPORT_EVENTS,
                            timezone="Europe/Berlin", pseudonymize=False, now=NOW)
    assert validate_events(events).empty
    # 15 rows: "Resubscribed" is mapped to None, the other 14 are events.
    assert meta["events"] == 14 and meta["quarantined"] == 0
    assert meta["ignored"] == {"event 'Resubscribed' (event_map: None)": 1}
    assert check_reconciliation(meta)
    counts = events["event"].value_counts().to_dict()
    assert counts == {
        "processed": 4, "bounced": 3, "delivered": 1, "deferred": 1, "opened": 1,
        "clicked": 1, "complained": 1, "unsubscribed": 1, "dropped": 1,
    }
    first = events.iloc[0]
    # 15:03:10 in Berlin (CET, UTC+1) is 14:03:10 UTC; the BOM does not spoil the first column.
    assert first["timestamp"] == pd.Timestamp("2025-11-05 14:03:10", tz="UTC")
    assert first["campaign"] == "Black Friday; early access"  # quoted delimiter
    assert first["sending_ip"] == "203.0.113.25"
    classes = events.dropna(subset=["bounce_class"]).set_index("recipient")["bounce_class"]
    assert classes.to_dict() == {
        "noah.klein@web.de": "hard", "olivia.braun@t-online.de": "soft",
        "paul.wagner@outlook.com": "block",
    }
    hard = events[events["recipient"] == "noah.klein@web.de"].iloc[-1]
    assert hard["smtp_status"] == "5.1.1"
    assert hard["reason"] == "550 5.1.1 Requested action not taken:\nmailbox unavailable"
    opened = events[events["event"] == "opened"].iloc[0]
    assert bool(opened["is_machine"]) is True  # "Yes"
    # Event words known without the map: Delivered, Deferred, Opened, Clicked, Unsubscribed.
    assert "Delivered" not in EXPORT_EVENTS


def test_naive_times_need_a_timezone(export):
    events, meta = read_csv(export, mapping=EXPORT_MAPPING, event_map=EXPORT_EVENTS, now=NOW)
    assert meta["events"] == 0 and meta["quarantined"] == 14 and check_reconciliation(meta)
    entry = meta["quarantine"].iloc[0]
    assert (entry["location"], entry["field"]) == ("line 2", "Event Time")
    assert "timezone=" in entry["reason"]
    with pytest.raises(InputFormatError) as info:
        read_csv(export, mapping=EXPORT_MAPPING, event_map=EXPORT_EVENTS, errors="raise", now=NOW)
    assert info.value.field == "Event Time" and str(export) in str(info.value)


def test_mapping_naming_a_missing_column_raises(export):
    mapping = dict(EXPORT_MAPPING, recipient="Email Address")
    # A configuration error: raised even when bad records would be quarantined.
    with pytest.raises(InputFormatError) as info:
        read_csv(export, mapping=mapping, event_map=EXPORT_EVENTS, timezone="UTC", now=NOW)
    assert info.value.field == "Email Address"
    message = str(info.value)
    assert str(export) in message and "'Email Address'" in message and "'Recipient Email'" in message


def test_header_without_the_required_columns_raises(export):
    with pytest.raises(InputFormatError) as info:
        read_csv(export, timezone="UTC", now=NOW)
    assert info.value.field == "timestamp"
    assert "mapping=" in str(info.value) and "'message_id'" in str(info.value)


def test_bad_options_raise(export, canonical):
    with pytest.raises(InputFormatError) as info:
        read_csv(canonical, mapping={"recipeint": "recipient"}, now=NOW)
    assert info.value.field == "mapping"
    with pytest.raises(InputFormatError) as info:
        read_csv(canonical, event_map={"Hard": ("bounced", "permanent")}, now=NOW)
    assert info.value.field == "event_map"
    with pytest.raises(ValueError, match="timestamp_unit"):
        read_csv(canonical, timestamp_unit="minutes")
    with pytest.raises(ValueError, match="Mars/Olympus"):
        read_csv(canonical, timezone="Mars/Olympus")
    with pytest.raises(TypeError):
        read_csv(canonical, maping={})  # a typo is not silently a format option
    with pytest.raises(InputFormatError) as info:
        read_events(canonical, format="csv", format_options={"csv": {"maping": {}}})
    assert info.value.field == "maping"


def test_epoch_units_and_zone_words():
    text = ("timestamp,event,message_id,recipient\n"
            "1762351391250,delivered,m-1,a.b@gmail.com\n"
            "1762351392000,delivered,m-2,c.d@gmail.com\n")
    events, meta = read_csv(text_source(text), timestamp_unit="ms", now=NOW)
    # 1762351391250 ms is 2025-11-05 14:03:11.250 UTC.
    assert events["timestamp"].iloc[0] == pd.Timestamp("2025-11-05 14:03:11.250", tz="UTC")
    # Read as seconds, the same numbers lie 55 000 years ahead: quarantined, not kept.
    events, meta = read_csv(text_source(text), now=NOW)
    assert meta["quarantined"] == 2 and set(meta["quarantine"]["field"]) == {"timestamp"}
    text = "timestamp,event,message_id,recipient\n2025-11-05 14:03:11 UTC,bounce,m-3,e@gmx.de\n"
    events, _ = read_csv(text_source(text), now=NOW)
    assert events["timestamp"].iloc[0] == pd.Timestamp("2025-11-05 14:03:11", tz="UTC")
    assert events["event"].iloc[0] == "bounced" and events["bounce_class"].iloc[0] == "undetermined"


def test_time_skipped_by_daylight_saving_is_quarantined():
    text = "timestamp,event,message_id,recipient\n2025-03-30 02:30:00,delivered,m-1,a@gmx.de\n"
    events, meta = read_csv(text_source(text), timezone="Europe/Berlin", now=NOW)
    assert meta["quarantined"] == 1
    assert "daylight saving" in meta["quarantine"]["reason"].iloc[0]


def test_excel_separator_line_and_delimiter_option():
    rows = "2025-11-05T14:03:11Z;delivered;m-1;a.b@gmail.com\n"
    events, meta = read_csv(text_source("sep=;\ntimestamp;event;message_id;recipient\n" + rows), now=NOW)
    assert meta["events"] == 1
    assert meta["quarantine"].empty
    # Column titles with commas fool the detection (three of each): delimiter= settles it.
    header = "timestamp (ISO, UTC);event (sent, open, click);message_id;recipient\n"
    mapping = {"timestamp": "timestamp (ISO, UTC)", "event": "event (sent, open, click)"}
    with pytest.raises(InputFormatError):
        read_csv(text_source(header + rows), mapping=mapping, now=NOW)
    events, meta = read_csv(text_source(header + rows), mapping=mapping, delimiter=";", now=NOW)
    assert meta["events"] == 1 and events["message_id"].iloc[0] == "m-1"


def test_unbalanced_quote_does_not_swallow_the_rows_after_it():
    text = ("timestamp,event,message_id,recipient,reason\n"
            '2025-11-05T14:03:11Z,bounced,m-1,a@gmail.com,"550 5.1.1 user unknown\n'
            "2025-11-05T14:03:12Z,delivered,m-2,b@gmail.com,250 ok\n"
            '2025-11-05T14:03:13Z,delivered,m-3,c@gmail.com,250 2.0.0 5" screen ad accepted\n')
    events, meta = read_csv(text_source(text), now=NOW)
    assert meta["events"] == 2 and meta["quarantined"] == 1 and check_reconciliation(meta)
    assert meta["quarantine"]["location"].iloc[0] == "line 2"
    assert "quote" in meta["quarantine"]["reason"].iloc[0]
    assert events["reason"].iloc[1] == '250 2.0.0 5" screen ad accepted'  # a quote inside a field


def test_bad_rows_are_quarantined_with_the_field(data_dir):
    path = data_dir / "csv" / "bad.csv"
    events, meta = read_csv(path, now=NOW)
    assert meta["events"] == 2 and meta["quarantined"] == 8 and check_reconciliation(meta)
    fields = meta["quarantine"].set_index("location")["field"]
    fields = fields.astype(object).where(fields.notna(), None).to_dict()
    assert fields == {
        "line 3": "timestamp",  # no zone
        "line 4": "recipient",  # empty
        "line 5": "event",  # "teleported"
        "line 6": "bounce_class",  # "catastrophic"
        "line 7": "is_machine",  # "maybe"
        "line 8": None,  # 8 cells for 7 columns
        "line 9": "timestamp",  # milliseconds read as seconds
        "line 10": "message_id",  # empty
    }
    reasons = meta["quarantine"].set_index("location")["reason"]
    assert "event_map=" in reasons["line 5"] and "'teleported'" in reasons["line 5"]
    assert "8 cells" in reasons["line 8"]
    assert not meta["quarantine"]["raw"].str.contains("rosa.lopez@gmail.com", regex=False).any()
    with pytest.raises(InputFormatError) as info:
        read_csv(path, errors="raise", now=NOW)
    assert (info.value.location, info.value.field) == ("line 3", "timestamp")
    assert str(path) in str(info.value)


def test_missing_value_names_the_source_column(export):
    text = export.read_text(encoding="utf-8-sig").replace("noah.klein@web.de", "", 1)
    events, meta = read_csv(text_source(text, "export.csv"), mapping=EXPORT_MAPPING,
                            event_map=EXPORT_EVENTS, timezone="Europe/Berlin", now=NOW)
    entry = meta["quarantine"].iloc[0]
    assert (entry["location"], entry["field"]) == ("line 4", "Recipient Email")
    assert entry["reason"] == "missing (the recipient column)"
