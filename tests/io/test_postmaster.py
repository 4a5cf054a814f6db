"""Google Postmaster Tools reader (deliverability_econ.io.postmaster; log-formats.md section 9).

Expected values are read by hand off the fixtures in tests/data/postmaster/, which follow the
v1 ``domains.trafficStats`` reference (int64 ``ipCount`` as JSON strings, omitted fields on
low-volume days, a ``nextPageToken`` on list pages).
"""

import io
import math

import pandas as pd
import pytest

from deliverability_econ.io import InputFormatError
from deliverability_econ.io._base import RecordError
from deliverability_econ.io._calibration import check_table_reconciliation
from deliverability_econ.io.postmaster import (
    POSTMASTER_COLUMNS,
    read_postmaster,
    reputation_level,
    traffic_stats_row,
)


@pytest.fixture
def postmaster_dir(data_dir):
    return data_dir / "postmaster"


def day(text):
    return pd.Timestamp(text)


def test_api_list_page(postmaster_dir):
    table, meta = read_postmaster(postmaster_dir / "traffic_stats_page.json")
    assert meta["records_read"] == 4 and meta["rows"] == 4 and meta["quarantined"] == 0
    assert check_table_reconciliation(meta)
    assert list(table.columns) == list(POSTMASTER_COLUMNS)
    assert meta["source_formats"] == {str(postmaster_dir / "traffic_stats_page.json"): "json"}
    mail = table[table["domain"] == "mail.example.com"].set_index("date")
    first = mail.loc[day("2025-03-03")]
    assert (first["spam_rate"], first["spam_rate_low"], first["spam_rate_high"]) == (
        0.0008,
        0.0005,
        0.0012,
    )
    assert first["domain_reputation"] == "HIGH"
    # ipCount "2" HIGH and "1" MEDIUM: shares 2/3 and 1/3 of 3 IPs.
    assert first["ip_count"] == 3
    assert first["ip_reputation_high"] == pytest.approx(2 / 3)
    assert first["ip_reputation_medium"] == pytest.approx(1 / 3)
    assert first["ip_reputation_bad"] == 0.0
    assert first["temporary_error_ratio"] == 0.004 and first["permanent_error_ratio"] == 0.0
    second = mail.loc[day("2025-03-04")]
    # The UNSPECIFIED IP is left out of the shares: 2 MEDIUM and 1 LOW of 3.
    assert second["ip_count"] == 3 and second["ip_reputation_low"] == pytest.approx(1 / 3)
    # Permanent errors add up per class: 0.019 + 0.006; the largest single type is named.
    assert second["permanent_error_ratio"] == pytest.approx(0.025)
    assert second["top_delivery_error"] == "SUSPECTED_SPAM"
    assert math.isnan(second["inbound_encryption_ratio"])  # omitted by the API
    # A day under Google's volume floor (F5) has no spam rate: missing, not zero.
    news = table[table["domain"] == "news.example.com"].iloc[0]
    assert math.isnan(news["spam_rate"]) and pd.isna(news["domain_reputation"])
    assert table["domain_reputation"].cat.categories.tolist() == ["BAD", "LOW", "MEDIUM", "HIGH"]
    assert table["domain_reputation"].cat.ordered


def test_stored_pages_as_json_lines_with_overlap(postmaster_dir):
    table, meta = read_postmaster(postmaster_dir / "traffic_stats_pages.jsonl")
    # Five objects over four lines (the third is an empty page): 0306 and 0307 read twice.
    assert meta["records_read"] == 5
    assert meta["rows"] == 3 and meta["duplicates"] == 2
    assert check_table_reconciliation(meta)
    assert table["date"].tolist() == [day("2025-03-06"), day("2025-03-07"), day("2025-03-08")]
    # The first copy of 0306 is kept; the differing second copy is reported.
    assert table["spam_rate"].iloc[0] == 0.0006
    assert len(meta["warnings"]) == 1 and "line 4 (entry 1)" in meta["warnings"][0]
    bad_day = table.iloc[2]
    assert bad_day["domain_reputation"] == "BAD" and bad_day["ip_reputation_bad"] == 1.0


def test_bad_api_records_are_quarantined(postmaster_dir):
    table, meta = read_postmaster(postmaster_dir / "bad_traffic_stats.json")
    assert meta["rows"] == 1 and meta["quarantined"] == 10
    assert check_table_reconciliation(meta)
    quarantine = meta["quarantine"]
    fields = [None if pd.isna(f) else f for f in quarantine["field"]]
    assert fields == [
        "name",  # 2025-03-03 with dashes
        "domainReputation",  # GOOD
        "userReportedSpamRatio",  # 1.5
        "ipReputations[1].ipCount",  # "-1"
        "userReportedSpamRatioLowerBound",  # lower 0.003 > upper 0.001
        "deliveryErrors[1].errorClass",  # FATAL_ERROR
        "userReportedSpamRatio",  # "high"
        "name",  # missing
        "ipReputations",  # a string, not a list
        None,  # 42 is not an object
    ]
    assert quarantine["location"].iloc[1] == "line 3 (item 2)"
    assert '"GOOD"' in quarantine["raw"].iloc[1]
    assert table["date"].tolist() == [day("2025-03-11")]


def test_errors_raise(postmaster_dir):
    with pytest.raises(InputFormatError) as caught:
        read_postmaster(postmaster_dir / "bad_traffic_stats.json", errors="raise")
    assert caught.value.field == "name" and caught.value.location == "line 2 (item 1)"


def test_flat_csv_export(postmaster_dir):
    table, meta = read_postmaster(postmaster_dir / "export.csv")
    assert meta["rows"] == 4 and meta["quarantined"] == 0
    assert meta["source_formats"] == {str(postmaster_dir / "export.csv"): "csv"}
    assert meta["warnings"] == [
        f"{postmaster_dir / 'export.csv'}: unknown column(s) 'Notes'; ignored"
    ]
    mail = table[table["domain"] == "mail.example.com"].set_index("date")
    # "0.12%" with a percent sign is 0.0012; "99.8%" is 0.998; lower case "high" is accepted.
    assert mail.loc[day("2025-03-04"), "spam_rate"] == pytest.approx(0.0012)
    assert mail.loc[day("2025-03-04"), "dkim_success_ratio"] == pytest.approx(0.998)
    assert mail.loc[day("2025-03-04"), "domain_reputation"] == "HIGH"
    # 20250305 (yyyymmdd), no spam rate and the API's "no data" reputation.
    assert math.isnan(mail.loc[day("2025-03-05"), "spam_rate"])
    assert pd.isna(mail.loc[day("2025-03-05"), "domain_reputation"])
    # Domains are lower-cased.
    assert "news.example.com" in set(table["domain"])


def test_csv_and_json_give_the_same_row(postmaster_dir):
    from_json, _ = read_postmaster(postmaster_dir / "traffic_stats_page.json")
    from_csv, _ = read_postmaster(postmaster_dir / "export.csv")
    columns = [
        "spam_rate",
        "spam_rate_low",
        "spam_rate_high",
        "spf_success_ratio",
        "dkim_success_ratio",
        "dmarc_success_ratio",
        "inbound_encryption_ratio",
    ]
    first_json = from_json[from_json["date"] == day("2025-03-03")].iloc[0]
    first_csv = from_csv[
        (from_csv["date"] == day("2025-03-03")) & (from_csv["domain"] == "mail.example.com")
    ].iloc[0]
    assert first_json[columns].tolist() == first_csv[columns].tolist()


def test_bad_csv_rows(postmaster_dir):
    table, meta = read_postmaster(postmaster_dir / "bad_export.csv")
    assert meta["rows"] == 1 and meta["quarantined"] == 6
    quarantine = meta["quarantine"]
    assert list(zip(quarantine["location"], quarantine["field"], strict=True)) == [
        ("line 3", "date"),  # 30 February
        ("line 4", "spam_rate"),  # 1.5 is not a fraction
        ("line 5", "domain_reputation"),  # GOOD
        ("line 6", "domain"),  # empty
        ("line 7", "spam_rate"),  # negative
        ("line 8", "spam_rate"),  # abc
    ]


def test_percent_unit_for_bare_numbers():
    text = "date,domain,spam_rate\n2025-03-03,example.com,0.25\n"
    table, _ = read_postmaster(io.StringIO(text), ratio_unit="percent")
    assert table["spam_rate"].iloc[0] == pytest.approx(0.0025)
    table, _ = read_postmaster(io.StringIO(text))
    assert table["spam_rate"].iloc[0] == 0.25


def test_csv_with_api_names_and_counts():
    text = (
        "name,userReportedSpamRatio,inbox,spam_reports\n"
        "domains/example.com/trafficStats/20250303,0.002,5000,10\n"
    )
    table, meta = read_postmaster(io.StringIO(text))
    assert table[["date", "domain"]].iloc[0].tolist() == [day("2025-03-03"), "example.com"]
    assert table[["inbox", "spam_reports"]].iloc[0].tolist() == [5000, 10]


def test_missing_domain_column_raises(postmaster_dir):
    with pytest.raises(InputFormatError) as caught:
        read_postmaster(postmaster_dir / "missing_domain.csv", errors="quarantine")
    assert caught.value.field == "domain"


def test_traffic_stats_row_and_levels():
    row = traffic_stats_row({"name": "domains/Example.COM/trafficStats/20250303"})
    assert row["domain"] == "example.com" and math.isnan(row["spam_rate"])
    assert reputation_level("low") == "LOW"
    assert reputation_level("REPUTATION_CATEGORY_UNSPECIFIED") is None
    with pytest.raises(RecordError) as caught:
        reputation_level("GREEN", "domainReputation")
    assert caught.value.field == "domainReputation"


def test_single_object_and_bare_list():
    one = '{"name": "domains/example.com/trafficStats/20250303", "userReportedSpamRatio": 0.001}'
    table, meta = read_postmaster(io.StringIO(one))
    assert meta["rows"] == 1
    table, meta = read_postmaster(io.StringIO("[" + one + "]"))
    assert meta["rows"] == 1
    table, meta = read_postmaster(io.StringIO("{}"))
    assert meta["rows"] == 0 and meta["quarantined"] == 0
