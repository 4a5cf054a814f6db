"""Authentication summary from DMARC aggregate reports (deliverability_econ.authentication).

Hand counts from the report fixtures in tests/data/dmarc/reports (see tests/io/test_dmarc.py
for what each report holds). Records of example.com, by authentication class (the receiver's
DMARC verdicts on DKIM and SPF):

    google.com 2025-03-03:  203.0.113.10 1200 both | 203.0.113.11 800 both
                            198.51.100.25 150 spf_only | 192.0.2.50 40 failing
                            209.85.220.41 10 dkim_only
    Yahoo 2025-03-03:       203.0.113.10 300 both | 198.51.100.25 50 spf_only
                            185.220.101.7 25 failing
    Outlook 2025-03-04:     203.0.113.10 500 both | 192.0.2.50 20 failing
                            2001:db8:25::1 5 both
    Mail.Ru 2025-03-04:     203.0.113.11 60 both | 185.220.101.7 15 failing (quarantined)

    both 1200+800+300+500+5+60 = 2865; spf_only 150+50 = 200; dkim_only 10;
    failing 40+25+20+15 = 100; total 3175.

example.org (Yahoo 2025-03-03): 203.0.113.10 100 both | 192.0.2.99 20 failing (quarantined).
"""

import pandas as pd
import pytest

from deliverability_econ.authentication import (
    AUTHENTICATION_CLASSES,
    LIKELY_CAUSES,
    authentication_class,
    authentication_summary,
    authentication_trend,
    likely_cause,
    sending_sources,
    source_summary,
    unknown_sources,
)
from deliverability_econ.io.dmarc import read_dmarc_aggregate

KNOWN = {"esp": ["203.0.113.0/24"], "crm": ["198.51.100.25/32", "2001:db8:25::/48"]}


@pytest.fixture(scope="module")
def records():
    from pathlib import Path

    frame, meta = read_dmarc_aggregate(Path(__file__).parent / "data" / "dmarc" / "reports")
    assert meta["quarantined"] == 0
    return frame


def row_of(table, **where):
    mask = pd.Series(True, index=table.index)
    for column, value in where.items():
        mask &= table[column] == value
    assert mask.sum() == 1, where
    return table.loc[mask].iloc[0]


def test_classes_partition_the_volume():
    frame = pd.DataFrame({"dkim_aligned": [True, True, False, False],
                          "spf_aligned": [True, False, True, False]})
    classes = authentication_class(frame)
    assert classes.tolist() == list(AUTHENTICATION_CLASSES)
    assert classes.cat.ordered


def test_summary_per_domain_matches_hand_counts(records):
    table = authentication_summary(records)
    assert table["domain"].tolist() == ["example.com", "example.org"]
    com = row_of(table, domain="example.com")
    assert com["messages"] == 3175
    assert (com["both_aligned"], com["dkim_only"], com["spf_only"], com["failing"]) == (
        2865, 10, 200, 100)
    assert com["both_aligned_share"] == pytest.approx(2865 / 3175)
    assert com["spf_only_share"] == pytest.approx(200 / 3175)
    assert com["dkim_only_share"] == pytest.approx(10 / 3175)
    assert com["failing_share"] == pytest.approx(100 / 3175)
    assert com["dmarc_pass_share"] == pytest.approx(3075 / 3175)
    # 192.0.2.50 signs with its own domain: 40 + 20 messages pass DKIM unaligned.
    assert com["dkim_unaligned"] == 60
    assert (com["quarantined"], com["rejected"]) == (15, 0)
    # IPs: 203.0.113.10/.11, 198.51.100.25, 192.0.2.50, 209.85.220.41, 185.220.101.7, 2001:db8:25::1
    assert (com["source_ips"], com["reporters"]) == (7, 4)
    org = row_of(table, domain="example.org")
    assert (org["messages"], org["both_aligned"], org["failing"]) == (120, 100, 20)
    assert org["dmarc_pass_share"] == pytest.approx(100 / 120)
    shares = table[[f"{c}_share" for c in AUTHENTICATION_CLASSES]].sum(axis=1)
    assert shares.tolist() == pytest.approx([1.0, 1.0])


def test_summary_per_mailbox_provider(records):
    table = authentication_summary(records, by=("mailbox_provider",))
    gmail = row_of(table, mailbox_provider="gmail")
    assert (gmail["messages"], gmail["both_aligned"], gmail["spf_only"], gmail["dkim_only"],
            gmail["failing"]) == (2200, 2000, 150, 10, 40)
    yahoo = row_of(table, mailbox_provider="yahoo")  # example.com and example.org
    assert (yahoo["messages"], yahoo["failing"]) == (375 + 120, 25 + 20)
    microsoft = row_of(table, mailbox_provider="microsoft")
    assert microsoft["failing_share"] == pytest.approx(20 / 525)


def test_one_total_row(records):
    total = authentication_summary(records, by=())
    assert len(total) == 1 and total["messages"].iloc[0] == 3175 + 120
    assert total["failing"].iloc[0] == 120


def test_sources_with_a_known_list(records):
    table = source_summary(records, KNOWN)
    com = table.loc[table["domain"] == "example.com"]
    # Largest first within the domain.
    assert com["source"].tolist() == [
        "esp", "crm", "net 192.0.2.0/24", "net 185.220.101.0/24", "net 209.85.220.0/24"]
    esp = row_of(table, domain="example.com", source="esp")
    assert (esp["messages"], esp["both_aligned_share"], esp["known"]) == (1200 + 800 + 300 + 500 + 60, 1.0, True)
    assert esp["ips"] == "203.0.113.10,203.0.113.11"
    assert esp["reporter_names"] == "Enterprise Outlook,Mail.Ru,Yahoo,google.com"
    assert pd.isna(esp["likely_cause"])
    crm = row_of(table, domain="example.com", source="crm")  # an IPv4 /32 and an IPv6 /48
    assert (crm["messages"], crm["spf_only"], crm["both_aligned"]) == (205, 200, 5)
    assert crm["ips"] == "198.51.100.25,2001:db8:25::1"
    service = row_of(table, domain="example.com", source="net 192.0.2.0/24")
    assert (service["messages"], service["failing_share"], service["known"]) == (60, 1.0, False)
    assert service["likely_cause"] == "unaligned_service"
    assert (service["first_seen"], service["last_seen"]) == (
        pd.Timestamp("2025-03-03", tz="UTC"), pd.Timestamp("2025-03-04 23:59:59", tz="UTC"))
    spoof = row_of(table, domain="example.com", source="net 185.220.101.0/24")
    assert (spoof["messages"], spoof["likely_cause"], spoof["quarantined"]) == (
        40, "possible_spoofing", 15)
    assert row_of(table, domain="example.com", source="net 209.85.220.0/24")[
        "likely_cause"] == "forwarding"
    assert table.groupby("domain")["messages"].sum().to_dict() == {
        "example.com": 3175, "example.org": 120}


def test_summary_of_known_or_unknown_sources_only(records):
    # With KNOWN, example.com's known sources are esp (2860, all both aligned) and crm (205: 200
    # spf_only + 5 both); the unknown ones are 192.0.2.0/24 (60 failing), 185.220.101.0/24 (40
    # failing) and 209.85.220.0/24 (10 dkim_only). example.org: esp 100 both | 192.0.2.99 20.
    known = authentication_summary(records, known_sources=KNOWN, sources="known")
    com = row_of(known, domain="example.com")
    assert (com["messages"], com["both_aligned"], com["spf_only"], com["failing"]) == (
        2860 + 205, 2865, 200, 0)
    assert com["dmarc_pass_share"] == 1.0
    unknown = authentication_summary(records, known_sources=KNOWN, sources="unknown")
    com = row_of(unknown, domain="example.com")
    assert (com["messages"], com["failing"], com["dkim_only"]) == (110, 100, 10)
    org = row_of(unknown, domain="example.org")
    assert (org["messages"], org["failing"]) == (20, 20)
    # The two parts add up to the whole, per provider too.
    by = ("domain", "mailbox_provider")
    parts = pd.concat([authentication_summary(records, by, known_sources=KNOWN, sources=which)
                       for which in ("known", "unknown")]).groupby(list(by))["messages"].sum()
    whole = authentication_summary(records, by).set_index(list(by))["messages"]
    pd.testing.assert_series_equal(parts.sort_index(), whole.sort_index(), check_dtype=False)
    with pytest.raises(ValueError, match="sources must be"):
        authentication_summary(records, sources="mine")


def test_unknown_sources_with_a_known_list(records):
    table = unknown_sources(records, KNOWN)
    assert list(zip(table["domain"], table["source"], table["messages"], strict=True)) == [
        ("example.com", "net 192.0.2.0/24", 60),
        ("example.com", "net 185.220.101.0/24", 40),
        ("example.com", "net 209.85.220.0/24", 10),
        ("example.org", "net 192.0.2.0/24", 20),
    ]
    assert table["explanation"].iloc[0] == LIKELY_CAUSES["unaligned_service"]
    assert table["reporter_names"].iloc[1] == "Mail.Ru,Yahoo"
    assert unknown_sources(records, KNOWN, min_messages=25)["messages"].tolist() == [60, 40]


def test_unknown_sources_without_a_list_trust_aligned_spf(records):
    # Without known_sources, sources mostly passing aligned SPF are the domain's own (its SPF
    # record names them): the ESP /24 and the CRM's /24 are known; the IPv6 CRM server (5
    # messages, both aligned) too; the rest are as above.
    table = unknown_sources(records)
    assert set(zip(table["domain"], table["source"], strict=True)) == {
        ("example.com", "net 192.0.2.0/24"),
        ("example.com", "net 185.220.101.0/24"),
        ("example.com", "net 209.85.220.0/24"),
        ("example.org", "net 192.0.2.0/24"),
    }
    known = source_summary(records)
    assert set(known.loc[known["known"], "source"]) == {
        "net 203.0.113.0/24", "net 198.51.100.0/24", "net 2001:db8:25::/64"}


def test_trend_per_day_and_week(records):
    daily = authentication_trend(records, freq="D")
    com = daily.loc[daily["domain"] == "example.com"].set_index("period_start")
    # 2025-03-03: Google 2200 + Yahoo 375; 2025-03-04: Outlook 525 + Mail.Ru 75.
    assert com["messages"].to_dict() == {pd.Timestamp("2025-03-03"): 2575,
                                         pd.Timestamp("2025-03-04"): 600}
    assert com.loc["2025-03-03", "failing"] == 40 + 25
    assert com.loc["2025-03-04", "failing"] == 20 + 15
    assert com.loc["2025-03-04", "failing_share"] == pytest.approx(35 / 600)
    assert com.loc["2025-03-03", "spf_only"] == 200
    weekly = authentication_trend(records, freq="W", by=())
    # Monday 2025-03-03 starts the week holding both days.
    assert weekly["period_start"].tolist() == [pd.Timestamp("2025-03-03")]
    assert weekly["messages"].tolist() == [3295]
    with pytest.raises(ValueError, match="freq"):
        authentication_trend(records, freq="H")


def test_trend_dates_a_report_at_its_midpoint():
    frame = pd.DataFrame({
        "domain": ["example.com"] * 2, "source_ip": ["192.0.2.1"] * 2, "count": [10, 30],
        "dkim_aligned": [True, False], "spf_aligned": [True, False],
        # A window from noon to noon belongs to the second day (midpoint 00:00 of 03-04).
        "begin": pd.to_datetime(["2025-03-03 00:00", "2025-03-03 12:00"], utc=True),
        "end": pd.to_datetime(["2025-03-03 23:59:59", "2025-03-04 12:00:00"], utc=True),
    })
    trend = authentication_trend(frame)
    assert trend["period_start"].tolist() == [pd.Timestamp("2025-03-03"), pd.Timestamp("2025-03-04")]
    assert trend["failing"].tolist() == [0, 30]


def test_sending_sources_grouping_and_errors():
    table = sending_sources(
        pd.Series(["203.0.113.10", "203.0.113.200", "192.0.2.7", "2001:db8:1::5"]),
        {"esp": ["203.0.113.0/24"], "esp-dedicated": ["203.0.113.200/32"]},
    )
    # The most specific range wins over the wider one.
    assert table["source"].tolist() == ["esp", "esp-dedicated", "net 192.0.2.0/24",
                                        "net 2001:db8:1::/64"]
    assert table["listed"].tolist() == [True, True, False, False]
    wider = sending_sources(["192.0.2.7", "192.0.3.7"], ipv4_prefix=16)
    assert wider["source"].nunique() == 1
    with pytest.raises(ValueError, match=r"known_sources\['crm'\]: '198.51.100.0/33'"):
        sending_sources(["192.0.2.7"], {"crm": ["198.51.100.0/33"]})
    with pytest.raises(ValueError, match="ipv4_prefix"):
        sending_sources(["192.0.2.7"], ipv4_prefix=40)


def test_likely_cause_rules():
    assert likely_cause(1.0, 0.9, 1.0, 1.0) == "unlisted_authorized"
    assert likely_cause(0.9, 0.1, 0.9, 0.2) == "forwarding"
    assert likely_cause(0.0, 0.0, 0.6, 0.0) == "unaligned_service"
    assert likely_cause(0.0, 0.0, 0.2, 0.3) == "possible_spoofing"


def test_empty_and_malformed_input(records):
    empty = records.iloc[0:0]
    assert authentication_summary(empty).empty
    assert source_summary(empty, KNOWN).empty
    assert unknown_sources(empty).empty
    with pytest.raises(ValueError, match="dkim_aligned"):
        authentication_summary(pd.DataFrame({"domain": ["a"], "count": [1]}))
    with pytest.raises(ValueError, match="cannot group by"):
        authentication_summary(records, by=("stream",))
