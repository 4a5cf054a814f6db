"""Maturity assessment (deliverability_econ.maturity): each level reached by a hand-built
evidence set, and the hand-off of the next level's scenario to the scenario model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deliverability_econ import scenarios
from deliverability_econ.dns_checks import check_dns
from deliverability_econ.maturity import CRITERIA, EVIDENCE_COLUMNS, assess_maturity

DATA = Path(__file__).parent / "data" / "dns"
KEY_2048 = (DATA / "dkim_rsa2048.b64").read_text()
KEY_512 = (DATA / "dkim_rsa512.b64").read_text()


def make_messages(days=10, per_day=None, ip="192.0.2.10", pool="shared", esp="sendgrid"):
    """``per_day``: provider -> messages a day, every day from 2025-03-03."""
    per_day = per_day or {"gmail": 600, "yahoo": 100, "microsoft": 300}
    rows = []
    for day in pd.date_range("2025-03-03", periods=days, freq="D", tz="UTC"):
        for provider, count in per_day.items():
            rows.append(pd.DataFrame({"sent_at": day + pd.Timedelta(hours=9),
                                      "mailbox_provider": provider, "sending_ip": ip,
                                      "ip_pool": pool, "esp": esp}, index=range(count)))
    return pd.concat(rows, ignore_index=True)


def dns_records(dkim_key=KEY_2048, policy="none", rua=True):
    return {
        "example.com": "v=spf1 include:sendgrid.net -all",
        "sendgrid.net": "v=spf1 ip4:167.89.0.0/17 ~all",
        "_dmarc.example.com": f"v=DMARC1; p={policy}"
                              + ("; rua=mailto:dmarc@example.com" if rua else ""),
        "s1._domainkey.example.com": f"v=DKIM1; k=rsa; p={dkim_key}",
    }


AUTHENTICATION = pd.DataFrame({"domain": ["example.com"], "messages": [10_000],
                               "both_aligned_share": [0.95], "dkim_only_share": [0.03],
                               "spf_only_share": [0.005], "failing_share": [0.015],
                               "dmarc_pass_share": [0.985]})
POSTMASTER = pd.DataFrame({"date": pd.to_datetime(["2025-03-03"]), "domain": ["example.com"],
                           "user_reported_spam_ratio": [0.0004]})


def met(result, criterion):
    value = result.evidence.set_index("criterion").loc[criterion, "met"]
    return None if pd.isna(value) else bool(value)


def test_level_1_platform_sending_logs_say_nothing_and_no_dkim():
    # A CSV export from an app platform's mailer, SPF only: no own-domain DKIM.
    messages = make_messages(esp="csv", pool=None)
    result = assess_maturity(messages, {"example.com": "v=spf1 include:sendgrid.net -all",
                                        "sendgrid.net": "v=spf1 ip4:167.89.0.0/17 ~all"})
    assert (result.level, result.level_name) == (1, "platform_sending")
    assert met(result, "esp_relay") is None          # csv says nothing about the sender
    assert met(result, "own_domain_spf") is True
    assert met(result, "own_domain_dkim") is None    # no selector given
    assert result.missing_for_next["criterion"].tolist() == ["esp_relay", "own_domain_dkim"]
    assert result.next_scenario().name == "shared_relay"
    assert result.current_scenario() is scenarios.OPTIONS["platform_sending"]


def test_level_1_when_the_only_dkim_key_is_too_short():
    result = assess_maturity(make_messages(), dns_records(dkim_key=KEY_512))
    assert result.level == 1
    assert met(result, "own_domain_dkim") is False
    assert met(result, "esp_relay") is True


def test_level_2_shared_relay():
    result = assess_maturity(make_messages(), dns_records())
    assert (result.level, result.level_name) == (2, "shared_relay")
    assert met(result, "dedicated_ip_share") is False     # pool named "shared"
    assert result.missing_for_next["criterion"].tolist() == ["dedicated_ip_share"]
    assert result.next_scenario() is scenarios.OPTIONS["dedicated_ip"]
    observed = result.evidence.set_index("criterion").loc["dedicated_ip_share", "observed"]
    assert observed.startswith("0.0% of messages from dedicated IPs")


def test_level_2_from_dmarc_reports_when_dkim_is_hosted_by_the_esp():
    # SendGrid hosts the key (CNAME): DNS cannot show it, the reports show aligned DKIM.
    records = dns_records()
    del records["s1._domainkey.example.com"]
    zone = "s1._domainkey.example.com. IN CNAME s1.domainkey.u1.wl.sendgrid.net."
    result = assess_maturity(make_messages(), [records, zone])
    assert result.level == 1 and met(result, "own_domain_dkim") is None
    result = assess_maturity(make_messages(), [records, zone], AUTHENTICATION)
    assert result.level == 2 and met(result, "own_domain_dkim") is True


def test_level_3_dedicated_ip_declared():
    messages = make_messages(pool="main")
    result = assess_maturity(messages, dns_records(), ip_kinds={"192.0.2.10": "dedicated"})
    assert (result.level, result.level_name) == (3, "dedicated_ip")
    assert met(result, "dedicated_ip_share") is True
    # 600 a day to Gmail, the IP's largest provider, against min_stable_daily = 500.
    assert met(result, "dedicated_ip_volume") is True
    assert "600 messages a day" in result.evidence.set_index("criterion").loc[
        "dedicated_ip_volume", "observed"]
    # rua published, DNS ready; no reports and no monitoring yet.
    assert result.missing_for_next["criterion"].tolist() == ["dmarc_aligned_share",
                                                             "monitoring"]
    assert result.next_scenario().name == "optimized_stack"


def test_level_3_dedicated_from_snds_registration_and_thin_volume():
    messages = make_messages(pool=None, per_day={"gmail": 200, "microsoft": 150})
    snds = pd.DataFrame({"ip": ["192.0.2.10"], "message_recipients": [150]})
    result = assess_maturity(messages, dns_records())
    assert met(result, "dedicated_ip_share") is None and result.level == 2
    result = assess_maturity(messages, dns_records(), snds=snds)
    assert result.level == 3
    assert met(result, "dedicated_ip_volume") is False    # 200 a day < 500: advisory only
    # SNDS counts as monitoring, but without DMARC reports level 4 is not reached.
    assert met(result, "monitoring") is True


def test_level_4_optimized_stack():
    result = assess_maturity(make_messages(pool="dedicated-transactional"),
                             dns_records(policy="quarantine"), AUTHENTICATION,
                             postmaster=POSTMASTER)
    assert (result.level, result.level_name) == (4, "optimized_stack")
    assert result.missing_for_next.empty and result.next_scenario() is None
    assert met(result, "dmarc_aligned_share") is True and met(result, "dmarc_enforced") is True
    assert met(result, "dkim_2048") is True
    arguments = result.scenario_arguments()
    assert [o.name for o in arguments["options"]] == ["optimized_stack"]


def test_level_4_needs_aligned_share_above_threshold():
    weak = AUTHENTICATION.assign(dmarc_pass_share=0.90, failing_share=0.10)
    result = assess_maturity(make_messages(pool="dedicated"), dns_records(), weak,
                             postmaster=POSTMASTER)
    assert result.level == 3 and met(result, "dmarc_aligned_share") is False
    assert result.missing_for_next["criterion"].tolist() == ["dmarc_aligned_share"]
    # The threshold is a parameter.
    result = assess_maturity(make_messages(pool="dedicated"), dns_records(), weak,
                             postmaster=POSTMASTER, min_aligned_share=0.9)
    assert result.level == 4


def test_levels_are_cumulative():
    # Dedicated IP and full monitoring, but no own-domain DKIM: stuck at level 1.
    records = dns_records()
    del records["s1._domainkey.example.com"]
    result = assess_maturity(make_messages(pool="dedicated"), records, postmaster=POSTMASTER)
    assert result.level == 1
    assert met(result, "dedicated_ip_share") is True and met(result, "monitoring") is True


def test_unknown_sources_share_is_advisory():
    unknown = pd.DataFrame({"source": ["net 198.51.100.0/24"], "messages": [300]})
    result = assess_maturity(make_messages(pool="dedicated"), dns_records(), AUTHENTICATION,
                             unknown, postmaster=POSTMASTER)
    # 300 / 10,000 = 3% > 1%: reported, does not gate.
    assert met(result, "unknown_sources") is False and result.level == 4
    assert "3.0% of reported mail" in result.evidence.set_index("criterion").loc[
        "unknown_sources", "observed"]


def test_evidence_table_lists_every_criterion_with_a_source():
    result = assess_maturity()
    assert tuple(result.evidence.columns) == EVIDENCE_COLUMNS
    assert result.evidence["criterion"].tolist() == list(CRITERIA)
    assert result.evidence["source"].str.len().gt(0).all()
    assert result.level == 1 and result.evidence["met"].isna().sum() >= 10
    assert "<table" in result._repr_html_()


def test_accepts_a_dns_check_and_filters_domains():
    check = check_dns({**dns_records(), "other.example": "v=spf1 +all"})
    result = assess_maturity(make_messages(), check, domains=["example.com"])
    assert result.level == 2
    result = assess_maturity(make_messages(), check)          # other.example has no DKIM
    assert result.level == 1


def test_ip_kinds_must_be_shared_or_dedicated():
    with pytest.raises(ValueError, match="shared' or 'dedicated"):
        assess_maturity(make_messages(), ip_kinds={"192.0.2.10": "own"})


def test_volumes_and_shares_hand_off_to_the_scenario_model():
    messages = make_messages(days=10)
    result = assess_maturity(messages, dns_records())
    # 1,000 messages a day over 10 days: 10,000 x 30.4375 / 10 a month.
    assert result.monthly_messages == pytest.approx(1000 * 365.25 / 12)
    assert result.provider_shares == {"gmail": 0.6, "microsoft": 0.3, "yahoo": 0.1,
                                      "apple": 0.0, "other": 0.0}
    arguments = result.scenario_arguments()
    assert arguments["baseline"].name == "shared_relay"
    comparison = scenarios.compare_options(**arguments, horizon_months=3, draws=8,
                                           random_state=0)
    assert comparison.table["name"].tolist() == ["shared_relay", "dedicated_ip"]
    assert np.isfinite(comparison.table["npv_p50"]).all()
    assert result.summary() == {"level": 2, "level_name": "shared_relay",
                                "next_option": "dedicated_ip",
                                "missing_for_next": ["dedicated_ip_share"]}


def test_events_table_is_turned_into_messages():
    from deliverability_econ.schema import coerce_events

    messages = make_messages(days=1, per_day={"gmail": 3})
    events = coerce_events(pd.DataFrame({
        "timestamp": messages["sent_at"], "event": "processed",
        "message_id": [f"m{i}" for i in range(3)], "event_id": [f"e{i}" for i in range(3)],
        "recipient": [f"r{i}" for i in range(3)], "recipient_domain": "gmail.com",
        "mailbox_provider": "gmail", "sending_ip": "192.0.2.10", "ip_pool": "dedicated",
        "is_machine": False, "esp": "ses"}))
    result = assess_maturity(events)
    assert met(result, "esp_relay") is True and met(result, "dedicated_ip_share") is True
    assert result.evidence.set_index("criterion").loc["sends_mail", "observed"] == (
        "3 messages over 1 days")
