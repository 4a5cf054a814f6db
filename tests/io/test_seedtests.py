"""Seed-list placement results reader (deliverability_econ.io.seedtests).

Expected rows and counts are read by hand off the fixture files in tests/data/seedtests/.
"""

import gzip
import io

import pandas as pd
import pytest

from deliverability_econ.io import InputFormatError
from deliverability_econ.io._base import RecordError
from deliverability_econ.io._calibration import check_table_reconciliation
from deliverability_econ.io.seedtests import SEED_TEST_COLUMNS, read_seed_tests, seed_provider


@pytest.fixture
def seed_dir(data_dir):
    return data_dir / "seedtests"


def test_canonical_file_reads_every_row(seed_dir):
    table, meta = read_seed_tests(seed_dir / "seed_results.csv")
    # 11 data lines: 9 rows, 1 repeated test (same test_id, day and provider), 1 row with 0 seeds.
    assert meta["records_read"] == 11
    assert meta["rows"] == 9
    assert meta["duplicates"] == 1
    assert meta["ignored"] == {"no seed mailbox in the row": 1}
    assert meta["quarantined"] == 0
    assert check_table_reconciliation(meta)
    assert list(table.columns[:5]) == list(SEED_TEST_COLUMNS)
    assert table["date"].dtype == "datetime64[ns]"
    assert isinstance(table["mailbox_provider"].dtype, pd.CategoricalDtype)
    first_week = table[table["date"] == pd.Timestamp("2025-03-03")]
    # Domains map through the provider table: yahoo.com and aol.com are both yahoo; a company
    # domain is "other".
    assert first_week["mailbox_provider"].astype(str).tolist() == [
        "gmail",
        "microsoft",
        "yahoo",
        "yahoo",
        "apple",
        "other",
    ]
    assert first_week["provider_label"].tolist()[2:4] == ["yahoo.com", "aol.com"]
    gmail = table[
        (table["mailbox_provider"] == "gmail") & (table["date"] == pd.Timestamp("2025-03-10"))
    ]
    assert gmail[["inbox", "spam", "missing", "seeds"]].iloc[0].tolist() == [12, 8, 0, 20]
    assert table["stream"].unique().tolist() == ["onboarding"]
    # Total seeds: 20+15+10+5+5+3 in week 10 and 20+15+10 in week 11.
    assert int((table["inbox"] + table["spam"] + table["missing"]).sum()) == 58 + 45


def test_vendor_export_with_display_names_tabs_and_zoned_times(seed_dir):
    table, meta = read_seed_tests(seed_dir / "vendor_export.csv")
    assert meta["rows"] == 9 and meta["quarantined"] == 0
    labels = dict(zip(table["provider_label"], table["mailbox_provider"].astype(str), strict=True))
    assert labels == {
        "Gmail": "gmail",
        "Outlook": "microsoft",
        "Hotmail": "microsoft",
        "Office 365": "microsoft",
        "Yahoo!": "yahoo",
        "AOL": "yahoo",
        "iCloud": "apple",
        "GMX": "gmx",
        "Web.de": "gmx",
    }
    gmail = table[table["provider_label"] == "Gmail"].iloc[0]
    # Inbox 6 + Tabs 11: a tab is in the inbox; the tabs count is kept as "of which".
    assert (gmail["inbox"], gmail["promotions"], gmail["spam"], gmail["missing"]) == (17, 11, 3, 0)
    # 09:15 at -05:00 is 14:15 UTC on the 4th; 22:40 at -05:00 is 03:40 UTC on the 5th.
    assert gmail["date"] == pd.Timestamp("2025-03-04")
    assert table.loc[table["provider_label"] == "Web.de", "date"].iloc[0] == pd.Timestamp(
        "2025-03-05"
    )


def test_bad_rows_are_quarantined_with_line_and_field(seed_dir):
    table, meta = read_seed_tests(seed_dir / "bad_rows.csv")
    assert meta["rows"] == 2
    assert meta["quarantined"] == 10
    assert check_table_reconciliation(meta)
    quarantine = meta["quarantine"]
    fields = [None if pd.isna(f) else f for f in quarantine["field"]]
    by_line = dict(zip(quarantine["location"], fields, strict=True))
    assert by_line == {
        "line 3": "spam",  # negative count
        "line 4": "date",  # 2025-03-32
        "line 5": "date",  # 03/04/2025 is ambiguous without date_format
        "line 6": "mailbox_provider",  # Gmial
        "line 7": "inbox",  # percentages, not counts
        "line 8": "seeds",  # 21 seeds for 17 + 3 + 0
        "line 9": "inbox",  # 4.5
        "line 10": "inbox",  # empty
        "line 11": "mailbox_provider",  # empty
        "line 12": None,  # a field more than the header
    }
    reasons = dict(zip(quarantine["location"], quarantine["reason"], strict=True))
    assert "negative" in reasons["line 3"]
    assert "Gmial" in reasons["line 6"] and "provider_map" in reasons["line 6"]
    assert "percentage" in reasons["line 7"]
    assert (quarantine["source"] == str(seed_dir / "bad_rows.csv")).all()
    assert (
        quarantine.loc[quarantine["location"] == "line 6", "raw"].iloc[0]
        == "2025-03-03,Gmial,17,3,0,20"
    )
    assert table["mailbox_provider"].astype(str).tolist() == ["gmail", "microsoft"]


def test_errors_raise_names_file_line_and_field(seed_dir):
    with pytest.raises(InputFormatError) as caught:
        read_seed_tests(seed_dir / "bad_rows.csv", errors="raise")
    error = caught.value
    assert error.location == "line 3" and error.field == "spam"
    assert "bad_rows.csv, line 3, field 'spam': negative count" in str(error)


def test_date_format_accepts_slash_dates():
    text = "date,mailbox_provider,inbox,spam,missing\n03/04/2025,gmail,9,1,0\n"
    table, meta = read_seed_tests(io.StringIO(text), date_format="%d/%m/%Y")
    assert table["date"].iloc[0] == pd.Timestamp("2025-04-03")


def test_missing_column_raises_whatever_errors_says(seed_dir):
    with pytest.raises(InputFormatError) as caught:
        read_seed_tests(seed_dir / "missing_column.csv")
    assert caught.value.field == "missing"
    assert caught.value.location == "line 1 (header)"


def test_unknown_column_raises_by_default_and_can_be_ignored(seed_dir):
    with pytest.raises(InputFormatError) as caught:
        read_seed_tests(seed_dir / "unknown_column.csv")
    assert caught.value.field == "promotion"
    table, meta = read_seed_tests(seed_dir / "unknown_column.csv", unknown_columns="warn")
    assert "promotion" in meta["warnings"][0]
    # The misspelt tab column is not added to the inbox: 6, not 17.
    assert table["inbox"].tolist() == [6]
    table, meta = read_seed_tests(seed_dir / "unknown_column.csv", unknown_columns="ignore")
    assert meta["warnings"] == []


def test_column_named_twice_raises():
    text = "date,provider,domain,inbox,spam,missing\n2025-03-03,gmail,gmail.com,1,0,0\n"
    with pytest.raises(InputFormatError, match="two columns give 'mailbox_provider'"):
        read_seed_tests(io.StringIO(text))


def test_provider_map_names_vendor_labels():
    text = "date,provider,inbox,spam,missing\n2025-03-03,Proofpoint,3,2,0\n"
    table, meta = read_seed_tests(io.StringIO(text))
    assert meta["quarantined"] == 1
    table, meta = read_seed_tests(io.StringIO(text), provider_map={"proofpoint": "other"})
    assert table["mailbox_provider"].astype(str).tolist() == ["other"]
    with pytest.raises(ValueError, match="unknown provider"):
        read_seed_tests(io.StringIO(text), provider_map={"proofpoint": "filter"})


def test_mx_map_places_business_seed_domains():
    text = "date,domain,inbox,spam,missing\n2025-03-03,acme-industries.com,2,0,1\n"
    table, _ = read_seed_tests(io.StringIO(text), mx_map={"acme-industries.com": "microsoft"})
    assert table["mailbox_provider"].astype(str).tolist() == ["microsoft"]


def test_seed_provider_vocabulary():
    assert seed_provider("GMAIL") == "gmail"
    assert seed_provider("  Google   Workspace ") == "gmail"
    assert seed_provider("@hotmail.co.uk") == "microsoft"
    assert seed_provider("t-online") == "t-online"
    with pytest.raises(RecordError) as caught:
        seed_provider("Yahooo")
    assert caught.value.field == "mailbox_provider"


def test_compressed_and_several_sources(seed_dir, tmp_path):
    packed = tmp_path / "seed_results.csv.gz"
    packed.write_bytes(gzip.compress((seed_dir / "seed_results.csv").read_bytes()))
    table, meta = read_seed_tests([packed, seed_dir / "vendor_export.csv"])
    assert meta["rows"] == 9 + 9
    assert len(meta["sources"]) == 2
    # Columns found in either file are present; missing values where a file lacked them.
    assert {"promotions", "seeds", "test_id", "stream"} <= set(table.columns)
    assert table["stream"].isna().sum() == 9


def test_undecodable_bytes_quarantine_the_row(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes(
        b"date,provider,inbox,spam,missing\n2025-03-03,M\xe9l,1,0,0\n2025-03-03,gmail,1,0,0\n"
    )
    table, meta = read_seed_tests(path)
    assert meta["quarantined"] == 1 and meta["rows"] == 1
    assert "UTF-8" in meta["quarantine"]["reason"].iloc[0]


def test_empty_file_warns(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    table, meta = read_seed_tests(path)
    assert table.empty and list(table.columns[:5]) == list(SEED_TEST_COLUMNS)
    assert meta["warnings"] and meta["records_read"] == 0
