"""Microsoft SNDS reader (deliverability_econ.io.snds; log-formats.md section 10, F13).

tests/data/snds/data_export.csv mixes the layouts public descriptions give: 14 columns (two
trap-period columns and a comment), 13 columns either way, 12 columns, a comment holding an
unquoted comma, an IPv6 address, and one row repeated. Expected values are read off the file.
"""

import io
import math

import pandas as pd
import pytest

from deliverability_econ.io import InputFormatError
from deliverability_econ.io._base import RecordError
from deliverability_econ.io._calibration import check_table_reconciliation
from deliverability_econ.io.snds import SNDS_COLUMNS, complaint_rate, read_snds, snds_row


@pytest.fixture
def snds_dir(data_dir):
    return data_dir / "snds"


def utc(text):
    return pd.Timestamp(text, tz="UTC")


def test_export_layouts(snds_dir):
    table, meta = read_snds(snds_dir / "data_export.csv")
    assert meta["records_read"] == 9 and meta["rows"] == 8 and meta["duplicates"] == 1
    assert meta["quarantined"] == 0 and meta["timezone"] == "UTC"
    assert check_table_reconciliation(meta)
    assert list(table.columns) == list(SNDS_COLUMNS)
    rows = {(r.ip, r.activity_start): r for r in table.itertuples()}

    green = rows[("203.0.113.25", utc("2025-03-03 00:00"))]
    assert green.activity_end == utc("2025-03-03 23:59")
    assert (green.rcpt_commands, green.data_commands, green.message_recipients) == (
        48213,
        48102,
        48096,
    )
    assert green.filter_result == "GREEN"
    # "< 0.1%" is a bound: the value 0.001 with the flag set.
    assert green.complaint_rate == 0.001 and green.complaint_rate_is_upper_bound
    assert pd.isna(green.trap_period_start) and green.trap_hits == 0
    assert green.sample_helo == "o25.mail.example.com"
    assert green.sample_mail_from == "bounces@mail.example.com"

    red = rows[("203.0.113.26", utc("2025-03-04 00:00"))]
    assert red.filter_result == "RED" and red.complaint_rate == pytest.approx(0.012)
    assert not red.complaint_rate_is_upper_bound
    assert (red.trap_period_start, red.trap_period_end) == (
        utc("2025-03-04 06:02"),
        utc("2025-03-04 22:55"),
    )
    assert red.trap_hits == 17 and red.comments == "Trap hits from recycled addresses"

    # 13 columns, two trap-period columns, no comment column; empty complaint rate.
    two_periods = rows[("198.51.100.7", utc("2025-03-05 00:00"))]
    assert (
        math.isnan(two_periods.complaint_rate)
        and two_periods.sample_mail_from == "return@example.net"
    )
    # 13 columns, one trap-period column and an (empty) comment.
    one_period = rows[("198.51.100.8", utc("2025-03-05 01:00"))]
    assert one_period.trap_hits == 0 and one_period.sample_helo == "mta8.example.net"
    assert pd.isna(one_period.comments)
    # 12 columns: one trap-period column holding one time, no comment.
    twelve = rows[("198.51.100.9", utc("2025-03-05 00:00"))]
    assert twelve.trap_period_start == utc("2025-03-05 16:00") and twelve.trap_hits == 2
    assert twelve.complaint_rate == pytest.approx(0.002)
    # An unquoted comma in the comment is put back.
    v6 = rows[("2001:db8::25", utc("2025-03-05 00:00"))]
    assert v6.comments == "Listed on 3/5, see the delisting portal"

    assert table["filter_result"].cat.categories.tolist() == ["GREEN", "YELLOW", "RED"]
    assert str(table["activity_start"].dtype) == "datetime64[ns, UTC]"


def test_timezone_assumption_shifts_to_utc(snds_dir):
    table, meta = read_snds(snds_dir / "data_export.csv", timezone="America/Los_Angeles")
    assert meta["timezone"] == "America/Los_Angeles"
    # 3 March 2025 is before the US switch to daylight time (9 March): PST is UTC-8.
    assert table["activity_start"].min() == utc("2025-03-03 08:00")
    with pytest.raises(ValueError, match="IANA"):
        read_snds(snds_dir / "data_export.csv", timezone="Pacific")


def test_bad_rows_are_quarantined(snds_dir):
    table, meta = read_snds(snds_dir / "bad_rows.csv")
    assert meta["ignored"] == {"header row": 1}
    assert meta["rows"] == 1 and meta["quarantined"] == 9
    assert check_table_reconciliation(meta)
    quarantine = meta["quarantine"]
    fields = [None if pd.isna(f) else f for f in quarantine["field"]]
    assert list(zip(quarantine["location"], fields, strict=True)) == [
        ("line 2", None),  # 8 columns
        ("line 3", "complaint_rate"),  # "about 0.1"
        ("line 4", "complaint_rate"),  # "0.3" without a % sign is ambiguous
        ("line 5", "filter_result"),  # BLUE
        ("line 6", "ip"),  # 203.0.113.300
        ("line 7", "activity_start"),  # 2025/13/45
        ("line 8", "rcpt_commands"),  # -5
        ("line 9", "activity_end"),  # ends before it starts
        ("line 10", "trap_hits"),  # "none"
    ]
    assert "8 columns" in quarantine["reason"].iloc[0]
    # The sender's MAIL FROM in a rejected row's raw text is scrubbed like any address.
    assert "bounces@" not in quarantine["raw"].iloc[1]
    assert table["activity_start"].tolist() == [utc("2025-03-12 00:00")]


def test_errors_raise(snds_dir):
    with pytest.raises(InputFormatError) as caught:
        read_snds(snds_dir / "bad_rows.csv", errors="raise")
    assert caught.value.location == "line 2"
    assert "bad_rows.csv, line 2: 8 columns" in str(caught.value)


def test_complaint_rate_strings():
    assert complaint_rate("< 0.1%") == (0.001, True)
    assert complaint_rate("<0.1%") == (0.001, True)
    assert complaint_rate("0.3%") == (0.003, False)
    assert complaint_rate(" 12.5 % ") == (0.125, False)
    for bad in ("0.3", "abc", "> 0.1%", "150%", "-1%"):
        with pytest.raises(RecordError) as caught:
            complaint_rate(bad)
        assert caught.value.field == "complaint_rate"


def test_time_layouts():
    fields = [
        "192.0.2.1",
        "2025-03-03T00:00:00",
        "3/3/2025 23:59",
        "10",
        "10",
        "10",
        "green",
        "",
        "",
        "0",
        "helo.example",
        "from@example.com",
    ]
    row = snds_row(fields)
    assert row["activity_start"] == utc("2025-03-03 00:00")
    assert row["activity_end"] == utc("2025-03-03 23:59")
    assert row["filter_result"] == "GREEN"


def test_buffer_input():
    line = "192.0.2.1,3/3/2025 12:00 AM,3/3/2025 11:59 PM,100,100,100,GREEN,< 0.1%,,,0,h,m,\n"
    table, meta = read_snds(io.StringIO(line))
    assert meta["rows"] == 1 and table["ip"].tolist() == ["192.0.2.1"]
