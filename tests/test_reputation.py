"""Health checks against published thresholds (deliverability_econ.reputation).

Every expected status is a hand calculation written next to it, against the levels of
reference/domain-facts.md: Gmail 0.10% / 0.30% (F2, F4), SES 5% / 10% bounce and 0.1% / 0.5%
complaint (F10), targets 2% hard bounce and 0.1% complaint (F12), 5,000 a day bulk sender (F1,
F8), SNDS colours (F13).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from deliverability_econ.cube import CUBE_COUNT_COLUMNS
from deliverability_econ.io.postmaster import read_postmaster
from deliverability_econ.io.snds import read_snds
from deliverability_econ.rates import LowVolumeWarning, proportion_interval
from deliverability_econ.reputation import (
    HEALTH_COLUMNS,
    THRESHOLDS,
    Threshold,
    health_checks,
    status_of,
)


def make_cube(rows: list[dict]) -> pd.DataFrame:
    """A daily cube by mailbox_provider; unspecified counts are 0."""
    records = []
    for spec in rows:
        record = {name: 0 for name in CUBE_COUNT_COLUMNS}
        record.update({k: v for k, v in spec.items() if k not in ("day", "provider")})
        record["date"] = pd.Timestamp(spec.get("day", "2025-03-03"))
        record["mailbox_provider"] = spec.get("provider", "yahoo")
        records.append(record)
    frame = pd.DataFrame(records)
    frame["delivery_latency_s_sum"] = frame["delivery_latency_s_sum"].astype("float64")
    return frame[["date", "mailbox_provider", *CUBE_COUNT_COLUMNS]]


def only(checks: pd.DataFrame, check: str, scope: str | None = None) -> pd.Series:
    rows = checks[checks["check"] == check]
    if scope is not None:
        rows = rows[rows["scope"] == scope]
    assert len(rows) == 1, (check, scope, len(rows))
    return rows.iloc[0]


# --------------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------------


def test_registry_levels_and_sources():
    assert (THRESHOLDS["gmail_spam_rate"].warning, THRESHOLDS["gmail_spam_rate"].critical) == (
        0.001,
        0.003,
    )
    assert (THRESHOLDS["ses_bounce_rate"].warning, THRESHOLDS["ses_bounce_rate"].critical) == (
        0.05,
        0.10,
    )
    assert (
        THRESHOLDS["ses_complaint_rate"].warning,
        THRESHOLDS["ses_complaint_rate"].critical,
    ) == (0.001, 0.005)
    assert THRESHOLDS["hard_bounce_target"].warning == 0.02
    assert THRESHOLDS["complaint_target"].warning == 0.001
    assert THRESHOLDS["gmail_bulk_sender"].warning == 5000
    assert THRESHOLDS["microsoft_bulk_sender"].warning == 5000
    assert dict(THRESHOLDS["snds_filter_result"].verdicts) == {
        "GREEN": "ok",
        "YELLOW": "warning",
        "RED": "critical",
    }
    expected_facts = {
        "gmail_spam_rate": "F2",
        "gmail_spam_rate_proxy": "F14",
        "ses_bounce_rate": "F10",
        "ses_complaint_rate": "F10",
        "hard_bounce_target": "F12",
        "complaint_target": "F12",
        "gmail_bulk_sender": "F1",
        "microsoft_bulk_sender": "F8",
        "snds_filter_result": "F13",
    }
    for check, fact in expected_facts.items():
        assert fact in THRESHOLDS[check].source, check
    for threshold in THRESHOLDS.values():
        assert threshold.metric and threshold.unit and threshold.source


def test_status_of_boundaries():
    # "Below 0.10%, never reach 0.30%" (F2): exactly 0.10% is a warning, exactly 0.30% critical.
    values = np.array([0.0009, 0.001, 0.0029, 0.003, 0.01, np.nan])
    assert status_of(values, 0.001, 0.003).tolist() == [
        "ok",
        "warning",
        "warning",
        "critical",
        "critical",
        "ok",
    ]
    assert status_of(0.5, None, None).tolist() == "ok"


# --------------------------------------------------------------------------------------------
# Cube checks
# --------------------------------------------------------------------------------------------


def test_gmail_proxy_13_complaints_over_10000_delivered_is_a_warning():
    # 13 / 10,000 = 0.13%: at or over 0.10%, under 0.30% -> warning.
    cube = make_cube([{"messages": 10_000, "delivered": 10_000, "complained": 13}])
    checks = health_checks(cube)
    proxy = only(checks, "gmail_spam_rate_proxy")
    assert proxy["value"] == pytest.approx(0.0013)
    assert proxy["status"] == "warning"
    assert proxy["threshold"] == 0.001 and proxy["threshold_critical"] == 0.003
    assert proxy["denominator_count"] == 10_000
    assert proxy["scope"] == "mailbox_provider!=gmail"
    assert "proxy" in proxy["source"] or "F14" in proxy["source"]
    low, high = proportion_interval(13, 10_000, 0.9)
    assert (proxy["value_low"], proxy["value_high"]) == (low, high)
    assert list(checks.columns) == list(HEALTH_COLUMNS)


@pytest.mark.parametrize(
    ("complained", "status"),
    [(9, "ok"), (10, "warning"), (29, "warning"), (30, "critical")],  # /10,000 delivered
)
def test_gmail_proxy_levels(complained, status):
    cube = make_cube([{"messages": 10_000, "delivered": 10_000, "complained": complained}])
    assert only(health_checks(cube), "gmail_spam_rate_proxy")["status"] == status


def test_gmail_proxy_leaves_gmail_deliveries_out():
    # Gmail sends no feedback loop (F4): its 20,000 deliveries would dilute the rate.
    # Yahoo 13 complaints / 10,000 delivered = 0.13% -> warning; with Gmail it would be 0.043%.
    cube = make_cube(
        [
            {"provider": "yahoo", "messages": 10_000, "delivered": 10_000, "complained": 13},
            {"provider": "gmail", "messages": 20_000, "delivered": 20_000, "complained": 0},
        ]
    )
    proxy = only(health_checks(cube), "gmail_spam_rate_proxy")
    assert proxy["denominator_count"] == 10_000 and proxy["status"] == "warning"


def test_ses_and_target_checks_by_hand():
    # 10,000 sent, 9,300 delivered, 600 hard bounces, 60 complaints.
    cube = make_cube(
        [{"messages": 10_000, "delivered": 9_300, "bounced_hard": 600, "complained": 60}]
    )
    checks = health_checks(cube)
    # SES bounce: 600 / 10,000 sent = 6% -> over the 5% review level, under 10% -> warning.
    bounce = only(checks, "ses_bounce_rate")
    assert bounce["value"] == pytest.approx(0.06) and bounce["status"] == "warning"
    assert bounce["denominator"] == "messages sent"
    # SES complaint: 60 / 10,000 sent = 0.6% -> at or over 0.5% -> critical.
    complaint = only(checks, "ses_complaint_rate")
    assert complaint["value"] == pytest.approx(0.006) and complaint["status"] == "critical"
    # Hard bounce target: 6% >= 2% -> warning (the target has no critical level).
    target = only(checks, "hard_bounce_target", "all")
    assert target["status"] == "warning" and np.isnan(target["threshold_critical"])
    # Complaint target per delivered: 60 / 9,300 = 0.645% >= 0.1% -> warning.
    complaint_target = only(checks, "complaint_target", "all")
    assert complaint_target["value"] == pytest.approx(60 / 9_300)
    assert complaint_target["denominator_count"] == 9_300
    assert only(checks, "complaint_target", "mailbox_provider=yahoo")["status"] == "warning"


def test_ses_bounce_critical_and_ok():
    critical = make_cube([{"messages": 10_000, "delivered": 9_000, "bounced_hard": 1_000}])
    assert only(health_checks(critical), "ses_bounce_rate")["status"] == "critical"  # 10%
    healthy = make_cube([{"messages": 10_000, "delivered": 9_850, "bounced_hard": 150}])
    checks = health_checks(healthy)
    assert only(checks, "ses_bounce_rate")["status"] == "ok"  # 1.5% < 5%
    assert only(checks, "hard_bounce_target", "all")["status"] == "ok"  # 1.5% < 2%


def test_per_provider_targets():
    # Microsoft 250 hard of 10,000 = 2.5% -> warning; Yahoo 50 of 10,000 = 0.5% -> ok;
    # together 300 / 20,000 = 1.5% -> ok.
    cube = make_cube(
        [
            {"provider": "microsoft", "messages": 10_000, "delivered": 9_750, "bounced_hard": 250},
            {"provider": "yahoo", "messages": 10_000, "delivered": 9_950, "bounced_hard": 50},
        ]
    )
    checks = health_checks(cube)
    assert only(checks, "hard_bounce_target", "mailbox_provider=microsoft")["status"] == "warning"
    assert only(checks, "hard_bounce_target", "mailbox_provider=yahoo")["status"] == "ok"
    assert only(checks, "hard_bounce_target", "all")["value"] == pytest.approx(0.015)


def test_bulk_sender_status_is_permanent():
    cube = make_cube(
        [
            {"provider": "gmail", "day": "2025-03-03", "messages": 3_000, "delivered": 3_000},
            {"provider": "gmail", "day": "2025-03-04", "messages": 5_000, "delivered": 5_000},
            {"provider": "gmail", "day": "2025-03-05", "messages": 1_000, "delivered": 1_000},
            {"provider": "microsoft", "day": "2025-03-04", "messages": 4_999, "delivered": 4_999},
        ]
    )
    daily = health_checks(cube, period="D")
    gmail = daily[daily["check"] == "gmail_bulk_sender"].set_index("period_start")
    # 3,000 < 5,000 -> ok; 5,000 reaches it -> warning; 1,000 the day after stays a bulk
    # sender (F1: once classified, permanent), so the value carried is the running peak.
    assert gmail["status"].tolist() == ["ok", "warning", "warning"]
    assert gmail["value"].tolist() == [3_000, 5_000, 5_000]
    microsoft = daily[daily["check"] == "microsoft_bulk_sender"]
    assert microsoft["status"].tolist() == ["ok", "ok", "ok"]  # 4,999 < 5,000
    whole = health_checks(cube)
    assert only(whole, "gmail_bulk_sender")["value"] == 5_000
    assert only(whole, "gmail_bulk_sender")["period_end"] == pd.Timestamp("2025-03-05")


def test_bulk_sender_counts_a_day_over_all_other_keys():
    # Two IPs on one day: 2,600 + 2,600 = 5,200 Gmail messages that day -> warning.
    cube = make_cube(
        [
            {"provider": "gmail", "messages": 2_600, "delivered": 2_600},
            {"provider": "gmail", "messages": 2_600, "delivered": 2_600},
        ]
    )
    cube.insert(2, "sending_ip", ["192.0.2.1", "192.0.2.2"])
    assert only(health_checks(cube), "gmail_bulk_sender")["status"] == "warning"


def test_weekly_windows():
    cube = make_cube(
        [
            {"day": "2025-03-03", "messages": 5_000, "delivered": 5_000, "complained": 2},
            {"day": "2025-03-12", "messages": 5_000, "delivered": 5_000, "complained": 20},
        ]
    )
    checks = health_checks(cube, period="W")
    proxy = checks[checks["check"] == "gmail_spam_rate_proxy"]
    # Week of 3 March: 2 / 5,000 = 0.04% -> ok; week of 10 March: 20 / 5,000 = 0.4% -> critical.
    assert proxy["period_start"].tolist() == [
        pd.Timestamp("2025-03-03"),
        pd.Timestamp("2025-03-10"),
    ]
    assert proxy["period_end"].tolist() == [pd.Timestamp("2025-03-09"), pd.Timestamp("2025-03-16")]
    assert proxy["status"].tolist() == ["ok", "critical"]
    with pytest.raises(ValueError, match="period"):
        health_checks(cube, period="Q")


def test_low_volume_is_flagged_and_warned():
    cube = make_cube([{"messages": 40, "delivered": 40, "complained": 1}])
    with pytest.warns(LowVolumeWarning, match="low_volume"):
        checks = health_checks(cube)
    proxy = only(checks, "gmail_spam_rate_proxy")
    # 1 / 40 = 2.5% -> critical, but on 40 messages: the Wilson 90% interval spans 0.56% to
    # 10.5% (centre (1 + 1.3528) / 42.7055 = 0.0551, half-width 0.0385 * 1.2851 = 0.0495).
    assert proxy["status"] == "critical" and proxy["low_volume"]
    assert (round(proxy["value_low"], 4), round(proxy["value_high"], 4)) == (0.0056, 0.1046)
    assert not only(checks, "gmail_bulk_sender")["low_volume"]


def test_messages_table_is_accepted():
    frame = make_cube([{"messages": 1, "delivered": 1}])  # a cube...
    messages = pd.DataFrame(
        {
            "sent_at": pd.to_datetime(["2025-03-03 10:00"] * 200, utc=True),
            "mailbox_provider": ["yahoo"] * 200,
            "delivered": [True] * 200,
            "bounced_hard": [False] * 200,
            "bounced_soft": [False] * 200,
            "blocked": [False] * 200,
            "dropped": [False] * 200,
            "deferred_attempts": [0] * 200,
            "opened_human": [False] * 200,
            "opened_machine": [False] * 200,
            "clicked": [False] * 200,
            "clicked_machine": [False] * 200,
            "complained": [True] + [False] * 199,
            "unsubscribed": [False] * 200,
            "delivery_latency_s": [1.0] * 200,
        }
    )
    checks = health_checks(messages)
    assert only(checks, "gmail_spam_rate_proxy")["value"] == pytest.approx(1 / 200)
    with pytest.warns(LowVolumeWarning):
        assert len(health_checks(frame))


def test_custom_registry():
    stricter = {
        "complaint_target": Threshold(
            metric="complaints per delivered",
            unit="fraction 0-1",
            denominator="messages delivered",
            warning=0.0005,
            critical=0.001,
            source="in-house policy",
        )
    }
    cube = make_cube([{"messages": 10_000, "delivered": 10_000, "complained": 8}])
    checks = health_checks(cube, thresholds=stricter)
    # 8 / 10,000 = 0.08%: over the in-house 0.05% -> warning; only that check runs.
    assert set(checks["check"]) == {"complaint_target"}
    assert only(checks, "complaint_target", "all")["status"] == "warning"


# --------------------------------------------------------------------------------------------
# Postmaster and SNDS
# --------------------------------------------------------------------------------------------


def test_postmaster_spam_rate_and_reputation(data_dir):
    postmaster, _ = read_postmaster(data_dir / "postmaster" / "traffic_stats_page.json")
    cube = make_cube([{"messages": 10_000, "delivered": 10_000, "complained": 13}])
    checks = health_checks(cube, postmaster=postmaster)
    # With Postmaster data the proxy is not run.
    assert "gmail_spam_rate_proxy" not in set(checks["check"])
    spam = checks[checks["check"] == "gmail_spam_rate"].set_index("period_start")
    # 0.08% ok, 0.21% warning (>= 0.10%), 0.34% critical (>= 0.30%); news.example.com has no
    # spam rate (under the volume floor) and so no row.
    assert spam["status"].tolist() == ["ok", "warning", "critical"]
    assert spam["scope"].unique().tolist() == ["domain=mail.example.com"]
    assert spam.loc[pd.Timestamp("2025-03-04"), "value_low"] == 0.0017
    assert "inbox" in spam["denominator"].iloc[0]
    reputation = checks[checks["check"] == "postmaster_domain_reputation"]
    # HIGH, MEDIUM -> ok; LOW -> warning; UNSPECIFIED -> no row.
    assert reputation["verdict"].tolist() == ["HIGH", "MEDIUM", "LOW"]
    assert reputation["status"].tolist() == ["ok", "ok", "warning"]


def test_postmaster_from_the_simulators_names():
    table = pd.DataFrame(
        {
            "date": pd.to_datetime(["2025-03-03"]),
            "domain": ["example.com"],
            "inbox": [12_000],
            "user_reported_spam_ratio": [0.0031],
            "user_reported_spam_ratio_lower_bound": [0.0026],
            "user_reported_spam_ratio_upper_bound": [0.0037],
            "domain_reputation": pd.Categorical(
                ["BAD"], categories=["BAD", "LOW", "MEDIUM", "HIGH"]
            ),
        }
    )
    checks = health_checks(None, postmaster=table)
    spam = only(checks, "gmail_spam_rate")
    assert spam["status"] == "critical" and spam["denominator_count"] == 12_000
    assert only(checks, "postmaster_domain_reputation")["status"] == "critical"


def test_snds_colours(data_dir):
    snds, _ = read_snds(data_dir / "snds" / "data_export.csv")
    checks = health_checks(None, snds=snds)
    rows = checks[checks["check"] == "snds_filter_result"]
    assert len(rows) == len(snds)
    by_verdict = rows.groupby("verdict")["status"].agg(lambda s: set(s.astype(str)))
    assert by_verdict.to_dict() == {"GREEN": {"ok"}, "YELLOW": {"warning"}, "RED": {"critical"}}
    red = rows[rows["verdict"] == "RED"].iloc[0]
    assert red["scope"] == "ip=203.0.113.26" and red["period_start"] == pd.Timestamp("2025-03-04")
    assert red["denominator_count"] == 9604
    assert (red["threshold"], red["threshold_critical"]) == (0.10, 0.90)


def test_snds_bad_verdict_is_an_error():
    table = pd.DataFrame(
        {
            "ip_address": ["192.0.2.1"],
            "activity_start": ["2025-03-03T00:00Z"],
            "activity_end": ["2025-03-03T23:59Z"],
            "filter_result": ["PURPLE"],
        }
    )
    with pytest.raises(ValueError, match="PURPLE"):
        health_checks(None, snds=table)


def test_nothing_to_check_gives_an_empty_table():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        checks = health_checks(None)
    assert checks.empty and list(checks.columns) == list(HEALTH_COLUMNS)
