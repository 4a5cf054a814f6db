"""Funnels: leakage and cost lines against hand calculations, config errors, conversions read
and attributed, recovery of the simulator's conversion parameters, Monte Carlo seeding."""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deliverability_econ.funnel import (
    COST_LINES,
    DEFAULTS,
    TEMPLATES,
    ConfigError,
    FunnelWarning,
    attribute_conversions,
    cost_lines,
    default_funnels,
    defaults_table,
    estimate_conversion,
    estimated_parameters,
    funnel_impact,
    funnels_from_mapping,
    leakage,
    load_funnels,
    read_conversions,
    revenue_at_risk,
)
from deliverability_econ.funnel._defaults import stage_parameter_names
from deliverability_econ.funnel.impact import DAYS_PER_MONTH
from deliverability_econ.io import InputFormatError
from deliverability_econ.privacy import pseudonymize_address

from .conftest import TEST_SALT

EXAMPLE_CONFIG = Path(__file__).parent.parent / "data" / "funnels.toml"


# --------------------------------------------------------------------------------------------
# Helpers: point configs (no uncertainty) so that every percentile equals the hand calculation
# --------------------------------------------------------------------------------------------


def point_config(funnels: dict, money: dict | None = None, counterfactual=0.95):
    """Config of the listed funnels with every parameter fixed at its value (no range)."""
    config = funnels_from_mapping(
        {"funnels": funnels, "counterfactual": {"placement": counterfactual}}, source="<test>")
    fixed = {k: p.value for k, p in config.parameters().items() if math.isfinite(p.value)}
    fixed.update(money or {})
    return config.with_parameters(fixed)


def cube(rows):
    """A daily cube by provider and stream: (date, provider, stream, messages, delivered)."""
    frame = pd.DataFrame(rows, columns=["date", "mailbox_provider", "stream", "messages",
                                        "delivered"])
    frame["date"] = pd.to_datetime(frame["date"])
    return frame


def placement(rows):
    """Placement rows: (period, provider, inbox, spam, missing); intervals of zero width."""
    frame = pd.DataFrame(rows, columns=["period", "mailbox_provider", "inbox_rate", "spam_rate",
                                        "missing_rate"])
    frame["period"] = pd.to_datetime(frame["period"])
    frame["inbox_low"] = frame["inbox_rate"]
    frame["inbox_high"] = frame["inbox_rate"]
    frame["delivered"] = 1000
    return frame


SIGNUP = {"signup": {"stages": {
    "verification": {"conversion_if_seen": 0.9, "conversion_if_unseen": 0.2,
                     "spam_rescue": 0.0, "tickets_per_lost_conversion": 0.1},
    "activation": {"conversion": 0.5},
    "paid": {"conversion": 0.2},
}}}
MONEY = {"money.customer_lifetime_value": 1000.0, "money.acquisition_cost_per_signup": 40.0,
         "money.support_ticket_cost": 25.0}


def signup_inputs():
    volumes = cube([("2026-01-05", "gmail", "verification", 1000, 950),
                    ("2026-02-02", "gmail", "verification", 500, 475)])
    actual = placement([("2026-01-05", "gmail", 0.80, 0.15, 0.05)])
    return volumes, actual


# --------------------------------------------------------------------------------------------
# Leakage and the cost lines against hand calculations
# --------------------------------------------------------------------------------------------


def test_leakage_matches_hand_calculation_per_stage_and_month():
    volumes, actual = signup_inputs()
    config = point_config(SIGNUP, MONEY)
    table = leakage(volumes, actual, config, draws=50, random_state=1)
    by = table.set_index(["stage", "month"])
    jan, feb = pd.Timestamp("2026-01-01"), pd.Timestamp("2026-02-01")
    # lost = sent * (p_cf - p) * (c_seen - c_unseen) = 1000 * (0.95 - 0.80) * (0.9 - 0.2) = 105
    assert by.loc[("verification", jan), "lost_p50"] == pytest.approx(105.0)
    # 500 sends in February: 500 * 0.15 * 0.7 = 52.5
    assert by.loc[("verification", feb), "lost_p50"] == pytest.approx(52.5)
    # Later stages: times activation 0.5, then paid 0.2.
    assert by.loc[("activation", jan), "lost_p50"] == pytest.approx(52.5)
    assert by.loc[("paid", jan), "lost_p50"] == pytest.approx(10.5)
    # Every percentile is the hand value when nothing is uncertain.
    row = by.loc[("verification", jan)]
    assert row["lost_p10"] == pytest.approx(105.0) and row["lost_p90"] == pytest.approx(105.0)
    assert row["sent"] == 1000
    # Actual conversions: 1000 * (0.8 * 0.9 + 0.2 * 0.2) = 760.
    assert row["conversions_p50"] == pytest.approx(760.0)
    assert row["lost_late_p50"] == 0.0


def test_spam_rescue_counts_part_of_the_spam_folder_as_seen():
    volumes, actual = signup_inputs()
    funnels = {"signup": {"stages": {**SIGNUP["signup"]["stages"],
                                     "verification": {"conversion_if_seen": 0.9,
                                                      "conversion_if_unseen": 0.2,
                                                      "spam_rescue": 0.2}}}}
    table = leakage(volumes.iloc[:1], actual, point_config(funnels, MONEY), draws=10,
                    random_state=1)
    lost = table.loc[table["stage"] == "verification", "lost_p50"].item()
    # Seen: 0.80 + 0.2 * 0.15 = 0.83. Counterfactual: the non-inbox 0.05 keeps its split
    # (spam 0.15 of 0.20 non-inbox), spam 0.0375, seen 0.95 + 0.2 * 0.0375 = 0.9575.
    # lost = 1000 * (0.9575 - 0.83) * 0.7 = 89.25
    assert lost == pytest.approx(89.25)


def test_cost_lines_of_the_signup_funnel_by_hand():
    volumes, actual = signup_inputs()
    table = cost_lines(volumes, actual, point_config(SIGNUP, MONEY), draws=10, random_state=1,
                       by=("line", "month"))
    by = table.set_index(["line", "month"])["p50"]
    jan = pd.Timestamp("2026-01-01")
    # lost revenue = lost paid 10.5 * lifetime value 1000
    assert by[("lost_revenue", jan)] == pytest.approx(10_500.0)
    # wasted acquisition = lost activations 52.5 * CAC per sign-up 40
    assert by[("wasted_acquisition", jan)] == pytest.approx(2_100.0)
    # support = lost verifications 105 * 0.1 tickets * 25 per ticket
    assert by[("support_overhead", jan)] == pytest.approx(262.5)
    assert set(table["currency"]) == {"USD"}
    # No churn line: the signup stage loses no customers by default.
    assert "churn" not in set(table["line"])


def test_time_critical_mail_delivered_late_counts_as_lost():
    # Ten reset mails: 8 delivered, 2 of them after 2 hours (deadline 60 minutes): t = 6 / 8.
    sent_at = pd.Timestamp("2026-01-05 10:00", tz="UTC")
    messages = pd.DataFrame({
        "sent_at": [sent_at] * 10,
        "stream": ["password_reset"] * 10,
        "mailbox_provider": ["gmail"] * 10,
        "delivered": [True] * 8 + [False] * 2,
        "delivery_latency_s": [5.0] * 6 + [7200.0] * 2 + [np.nan] * 2,
    })
    actual = placement([("2026-01-05", "gmail", 0.80, 0.10, 0.10)])
    funnels = {"password_reset": {"stages": {"password_reset": {
        "conversion_if_seen": 0.9, "conversion_if_unseen": 0.1, "spam_rescue": 0.0,
        "tickets_per_lost_conversion": 0.3, "churn_per_lost_conversion": 0.01}}}}
    money = {"money.support_ticket_cost": 25.0, "money.monthly_recurring_revenue": 100.0,
             "money.remaining_lifetime_months": 28.0}
    impact = funnel_impact(messages, actual, point_config(funnels, money, counterfactual=0.9),
                           draws=10, random_state=1)
    row = impact.leakage().iloc[0]
    # placement: 10 * (0.9 - 0.8) * t_cf 1.0 * (0.9 - 0.1) = 0.8
    # late:      10 * 0.8 * (1.0 - 0.75) * 0.8 = 1.6
    assert row["lost_late_p50"] == pytest.approx(1.6)
    assert row["lost_p50"] == pytest.approx(2.4)
    assert row["in_time_share"] == pytest.approx(0.75)
    assert row["inbox_rate"] == pytest.approx(0.80)
    lines = impact.cost_lines(by=("line",)).set_index("line")["p50"]
    # support = 2.4 * 0.3 tickets * 25 = 18; churn = 2.4 * 0.01 * 100 [per month] * 28 months
    assert lines["support_overhead"] == pytest.approx(18.0)
    assert lines["churn"] == pytest.approx(67.2)


def test_churn_revenue_and_sequences_by_hand():
    volumes = cube([
        ("2026-01-05", "yahoo", "renewal_reminder", 300, 290),
        ("2026-01-05", "yahoo", "dunning", 90, 88),
        ("2026-01-05", "yahoo", "demo_confirmation", 100, 98),
        ("2026-01-05", "yahoo", "newsletter", 10_000, 9_500),
    ])
    actual = placement([("2026-01-05", "yahoo", 0.70, 0.25, 0.05)])
    funnels = {
        "renewal": {"stages": {"renewal_reminder": {
            "conversion_if_seen": 0.92, "conversion_if_unseen": 0.88, "spam_rescue": 0.0}}},
        "dunning": {"stages": {"dunning": {
            "conversion_if_seen": 0.55, "conversion_if_unseen": 0.25, "spam_rescue": 0.0}}},
        "demo": {"stages": {"demo_confirmation": {
            "conversion_if_seen": 0.85, "conversion_if_unseen": 0.60, "spam_rescue": 0.0},
            "opportunity": {"conversion": 0.4}, "won": {"conversion": 0.25}}},
        "newsletter": {"stages": {"newsletter": {
            "conversion_if_seen": 0.03, "conversion_if_unseen": 0.0, "spam_rescue": 0.0},
            "purchase": {"conversion": 0.05}}},
    }
    money = {"money.annual_contract_value": 1200.0, "money.monthly_recurring_revenue": 100.0,
             "money.remaining_lifetime_months": 28.0, "money.won_deal_value": 10_000.0,
             "money.order_value": 60.0}
    impact = funnel_impact(volumes, actual, point_config(funnels, money, counterfactual=0.9),
                           draws=10, random_state=1)
    lines = impact.cost_lines(by=("funnel", "line")).set_index(["funnel", "line"])["p50"]
    # renewal: 300 reminders / 3 per renewal = 100 renewals; 100 * (0.9 - 0.7) * 0.04 = 0.8
    # renewals lost x annual contract value 1200 = 960
    assert lines[("renewal", "churn")] == pytest.approx(960.0)
    # dunning: 90 / 3 = 30 failed payments; 30 * 0.2 * 0.30 = 1.8 recoveries lost
    # x 100 per month x 28 months = 5040
    assert lines[("dunning", "churn")] == pytest.approx(5040.0)
    # demo: 100 * 0.2 * 0.25 = 5 demos; x 0.4 x 0.25 = 0.5 deals x 10,000 = 5000
    assert lines[("demo", "lost_revenue")] == pytest.approx(5000.0)
    # newsletter: 10,000 * 0.2 * 0.03 = 60 clicks; x 0.05 = 3 purchases x 60 = 180
    assert lines[("newsletter", "lost_revenue")] == pytest.approx(180.0)


def test_revenue_at_risk_per_month_and_the_average_month():
    volumes, actual = signup_inputs()
    result = revenue_at_risk(volumes, actual, point_config(SIGNUP, MONEY), draws=20,
                             random_state=3)
    months = result.by_month.set_index("month")
    # January: 10,500 + 2,100 + 262.5 = 12,862.5 ; February (half the sends): 6,431.25
    assert months.loc["2026-01-01", "p50"] == pytest.approx(12_862.5)
    assert months.loc["2026-02-01", "p50"] == pytest.approx(6_431.25)
    # The data span 2026-01-05 .. 2026-02-02: 27 days of January and 2 of February.
    assert months["days_covered"].tolist() == [27, 2]
    expected = (12_862.5 + 6_431.25) * DAYS_PER_MONTH / 29
    assert result.monthly["p50"] == pytest.approx(expected)
    assert result.summary() == {"p10": pytest.approx(expected), "p50": pytest.approx(expected),
                                "p90": pytest.approx(expected)}
    assert result.currency == "USD"
    only_revenue = revenue_at_risk(volumes, actual, point_config(SIGNUP, MONEY), draws=20,
                                   random_state=3, lines=("lost_revenue",))
    assert only_revenue.monthly["p50"] == pytest.approx(15_750.0 * DAYS_PER_MONTH / 29)


def test_no_loss_where_placement_beats_the_counterfactual_unless_asked():
    volumes, _ = signup_inputs()
    better = placement([("2026-01-05", "gmail", 0.98, 0.01, 0.01)])
    config = point_config(SIGNUP, MONEY)
    floored = leakage(volumes, better, config, draws=10, random_state=1)
    assert (floored["lost_p50"] == 0).all()
    signed = leakage(volumes, better, config, draws=10, random_state=1, floor_at_zero=False)
    january = signed[(signed["stage"] == "verification")
                     & (signed["month"] == pd.Timestamp("2026-01-01"))]
    # 1000 * (0.95 - 0.98) * 0.7 = -21
    assert january["lost_p50"].item() == pytest.approx(-21.0)


def test_counterfactual_from_another_placement_table_and_from_a_named_benchmark():
    volumes, actual = signup_inputs()
    config = point_config(SIGNUP, MONEY)
    other = placement([("2026-01-05", "gmail", 0.90, 0.05, 0.05)])
    table = leakage(volumes, actual, config, counterfactual=other, draws=10, random_state=1)
    jan = table[(table["stage"] == "verification") & (table["month"] == "2026-01-01")]
    assert jan["lost_p50"].item() == pytest.approx(1000 * 0.10 * 0.7)
    assert jan["counterfactual_inbox_rate"].item() == pytest.approx(0.90)
    # "benchmark": Gmail 0.90 (0.85-0.95, F17), drawn from a PERT around 0.90.
    bench = leakage(volumes, actual, config, counterfactual="benchmark", draws=4000,
                    random_state=1)
    jan = bench[(bench["stage"] == "verification") & (bench["month"] == "2026-01-01")]
    assert jan["lost_p50"].item() == pytest.approx(1000 * 0.10 * 0.7, rel=0.05)
    assert jan["lost_p10"].item() < jan["lost_p50"].item() < jan["lost_p90"].item()
    with pytest.raises(ValueError, match="unknown placement 'best'"):
        leakage(volumes, actual, config, counterfactual="best")


def test_counterfactual_from_the_same_estimate_shares_its_draws():
    volumes, _ = signup_inputs()
    config = point_config(SIGNUP, MONEY)
    uncertain = placement([("2026-01-05", "gmail", 0.80, 0.15, 0.05)])
    uncertain["inbox_low"], uncertain["inbox_high"] = 0.70, 0.90
    # The same table as its own counterfactual: drawn independently, the two estimates' errors
    # differ and some draws "lose" mail; with common draws nothing is lost in any draw.
    apart = leakage(volumes, uncertain, config, counterfactual=uncertain, draws=400,
                    random_state=2)
    assert apart["lost_p90"].max() > 0
    common = leakage(volumes, uncertain, config, counterfactual=uncertain, draws=400,
                     random_state=2, counterfactual_draws="common")
    assert (common[["lost_p10", "lost_p50", "lost_p90"]] == 0).all().all()
    # Common draws move both tables together: +0.05 inbox in every draw, so the p10, p50 and
    # p90 of the loss all equal 1000 x 0.05 x 0.7 = 35 verifications in January.
    better = uncertain.assign(inbox_rate=0.85, inbox_low=0.75, inbox_high=0.95)
    shifted = leakage(volumes, uncertain, config, counterfactual=better, draws=400,
                      random_state=2, counterfactual_draws="common")
    jan = shifted[(shifted["stage"] == "verification") & (shifted["month"] == "2026-01-01")]
    assert jan[["lost_p10", "lost_p50", "lost_p90"]].to_numpy() == pytest.approx(35.0)
    with pytest.raises(ValueError, match="counterfactual_draws"):
        leakage(volumes, uncertain, config, counterfactual=uncertain, counterfactual_draws="x")


def test_placement_rows_are_matched_by_period_start_and_missing_providers_pool():
    volumes = cube([("2026-01-05", "gmail", "verification", 100, 100),
                    ("2026-01-13", "gmail", "verification", 100, 100),
                    ("2026-01-13", "apple", "verification", 100, 100)])
    weekly = placement([("2026-01-05", "gmail", 0.80, 0.20, 0.0),
                        ("2026-01-12", "gmail", 0.60, 0.40, 0.0)])
    config = point_config(SIGNUP, MONEY)
    with pytest.warns(FunnelWarning, match="no row for 1 volume cells"):
        table = leakage(volumes, weekly, config, draws=5, random_state=1,
                        by=("stage", "mailbox_provider"))
    by = table[table["stage"] == "verification"].set_index("mailbox_provider")["lost_p50"]
    # gmail: 100 * (0.95 - 0.80) * 0.7 + 100 * (0.95 - 0.60) * 0.7 = 10.5 + 24.5
    assert by["gmail"] == pytest.approx(35.0)
    # apple takes the pooled row: mean inbox 0.70 -> 100 * 0.25 * 0.7
    assert by["apple"] == pytest.approx(17.5)


def test_a_cube_has_no_delivery_times_for_time_critical_mail():
    volumes = cube([("2026-01-05", "gmail", "password_reset", 100, 90)])
    actual = placement([("2026-01-05", "gmail", 0.8, 0.1, 0.1)])
    config = funnels_from_mapping({"funnels": {"password_reset": {}}})
    with pytest.warns(FunnelWarning, match="no delivery times"):
        funnel_impact(volumes, actual, config, draws=10, random_state=1)


def test_bad_inputs_to_the_model_say_what_is_wrong():
    volumes, actual = signup_inputs()
    signup_only = funnels_from_mapping({"funnels": {"signup": {}}})
    with pytest.raises(ValueError, match="missing columns: delivered"):
        leakage(volumes.drop(columns="delivered"), actual, signup_only)
    with pytest.raises(ValueError, match="lacks columns"):
        leakage(volumes, actual.drop(columns="inbox_low"), signup_only)
    with pytest.raises(ValueError, match="inbox_rate must be a fraction"):
        leakage(volumes, actual.assign(inbox_rate=85.0), signup_only)
    with (pytest.warns(FunnelWarning, match="no messages in stream 'verification'"),
          pytest.raises(ValueError, match="no messages in any funnel's stream")):
        leakage(volumes.assign(stream="other"), actual, signup_only)
    with pytest.raises(ValueError, match="draws must be a positive integer"):
        leakage(volumes, actual, signup_only, draws=0)


# --------------------------------------------------------------------------------------------
# Monte Carlo
# --------------------------------------------------------------------------------------------


def uncertain_inputs():
    volumes = cube([("2026-01-05", p, s, 1000, 950)
                    for p in ("gmail", "microsoft") for s in ("verification", "dunning")])
    actual = placement([("2026-01-05", "gmail", 0.80, 0.15, 0.05),
                        ("2026-01-05", "microsoft", 0.70, 0.20, 0.10)])
    actual["inbox_low"] = actual["inbox_rate"] - 0.05
    actual["inbox_high"] = actual["inbox_rate"] + 0.03
    return volumes, actual


def test_monte_carlo_is_reproducible_with_a_seed():
    volumes, actual = uncertain_inputs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FunnelWarning)
        first = revenue_at_risk(volumes, actual, draws=500, random_state=42)
        second = revenue_at_risk(volumes, actual, draws=500, random_state=42)
        other = revenue_at_risk(volumes, actual, draws=500, random_state=43)
        generator = revenue_at_risk(volumes, actual, draws=500,
                                    random_state=np.random.default_rng(42))
    assert first.monthly == second.monthly
    np.testing.assert_array_equal(first.draws, second.draws)
    np.testing.assert_array_equal(first.draws, generator.draws)
    assert first.monthly != other.monthly
    assert first.monthly["p10"] < first.monthly["p50"] < first.monthly["p90"]


def test_placement_draws_reproduce_the_interval_given():
    from deliverability_econ.funnel.impact import _PlacementTable

    _, actual = uncertain_inputs()
    table = _PlacementTable(actual, "placement")
    draws = table.draw(np.random.default_rng(0), 200_000, 1.6448536269514722, "independent")
    # Row 0: inbox 0.80 with a 90% interval (0.75, 0.83): the 5% and 95% quantiles.
    assert np.quantile(draws[0], 0.05) == pytest.approx(0.75, abs=0.002)
    assert np.quantile(draws[0], 0.95) == pytest.approx(0.83, abs=0.002)
    assert np.median(draws[0]) == pytest.approx(0.80, abs=0.002)
    shared = table.draw(np.random.default_rng(0), 1000, 1.6448536269514722, "shared")
    # Shared: the rows move together (same standard-normal draw).
    assert np.corrcoef(shared[0], shared[1])[0, 1] > 0.99


def test_wider_parameter_ranges_give_wider_intervals():
    volumes, actual = signup_inputs()
    narrow = point_config(SIGNUP, MONEY)
    wide = narrow.with_parameters({"money.customer_lifetime_value": (1000.0, 500.0, 3000.0)})
    a = revenue_at_risk(volumes, actual, narrow, draws=2000, random_state=1)
    b = revenue_at_risk(volumes, actual, wide, draws=2000, random_state=1)
    assert a.monthly["p90"] - a.monthly["p10"] == pytest.approx(0.0, abs=1e-6)
    assert b.monthly["p90"] - b.monthly["p10"] > 1000


# --------------------------------------------------------------------------------------------
# Defaults registry
# --------------------------------------------------------------------------------------------

FACT_OR_ASSUMPTION = re.compile(r"\b(F\d+|E\d+|assumption)\b")


def test_every_default_has_unit_source_and_a_range_around_it():
    for key, parameter in DEFAULTS.items():
        assert parameter.low <= parameter.value <= parameter.high, key
        assert parameter.unit, key
        assert FACT_OR_ASSUMPTION.search(parameter.source), (key, parameter.source)
        if parameter.is_fraction:
            assert 0 <= parameter.low and parameter.high <= 1, key
    table = defaults_table()
    assert list(table.columns[:4]) == ["key", "value", "low", "high"]
    assert len(table) == len(DEFAULTS)


def test_every_stage_parameter_has_a_default():
    config = default_funnels()
    assert set(config.funnels) == set(TEMPLATES)
    for funnel in config.funnels.values():
        for stage in funnel.stages:
            assert set(stage.parameters) == set(stage_parameter_names(stage.kind))
    # The email stages' own conversions all come from the registry, not a generic default.
    for name, template in TEMPLATES.items():
        email = template.stages[0].name
        for parameter in ("conversion_if_seen", "conversion_if_unseen", "spam_rescue"):
            assert f"{name}.{email}.{parameter}" in DEFAULTS


@pytest.mark.parametrize(
    ("prefix", "overall", "tolerance"),
    [
        # Section 9: email-verification completion 0.80 (E4)
        ("signup.verification", 0.80, 0.02),
        # Section 9: demo show rate 0.78 inbound (E6)
        ("demo.demo_confirmation", 0.78, 0.02),
        # Section 9: dunning recovery 0.48 (E8)
        ("dunning.dunning", 0.48, 0.02),
        # Section 9: gross revenue retention 0.90 (E7)
        ("renewal.renewal_reminder", 0.90, 0.02),
    ],
)
def test_defaults_reproduce_section_9_rates_at_benchmark_placement(prefix, overall, tolerance):
    # At the benchmark inbox placement 0.85 (section 9, F15-F17), seen share 0.85:
    seen = 0.85
    c_seen = DEFAULTS[f"{prefix}.conversion_if_seen"].value
    c_unseen = DEFAULTS[f"{prefix}.conversion_if_unseen"].value
    assert seen * c_seen + (1 - seen) * c_unseen == pytest.approx(overall, abs=tolerance)


def test_example_config_loads_and_lists_every_funnel():
    config = load_funnels(EXAMPLE_CONFIG)
    assert set(config.funnels) == set(TEMPLATES)
    assert config.currency == "USD"
    assert config.funnels["onboarding"].email_stage.parameters[
        "messages_per_conversion"].value == 4
    assert config.funnels["password_reset"].email_stage.parameters[
        "deadline_minutes"].value == 60
    assert config.counterfactual.for_provider("gmail") == (0.92, 0.91, 0.92)


# --------------------------------------------------------------------------------------------
# Config errors: every message names the file and the key path
# --------------------------------------------------------------------------------------------


def write(tmp_path, text):
    path = tmp_path / "funnels.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "key", "reason"),
    [
        ("[funnels.signup.stages.activatoin]\nconversion = 0.3\n",
         "funnels.signup.stages.activatoin", "unknown stage; known: verification, activation"),
        ("[funnels.signup]\nstrem = 'x'\n", "funnels.signup.strem", "unknown key"),
        ("[money]\nltv = 10\n", "money.ltv", "unknown key"),
        ("colour = 'red'\n", "colour", "unknown key"),
        ("[funnels.signup.stages.activation]\nrate = 0.3\n",
         "funnels.signup.stages.activation.rate", "unknown key; known: conversion"),
        ("[funnels.trial]\nstream = 'x'\n", "funnels.trial", "unknown funnel template 'trial'"),
        ("[funnels.signup.stages.activation]\nconversion = 35\n",
         "funnels.signup.stages.activation.conversion",
         "looks like a percent written where a fraction belongs: probabilities are fractions "
         "in [0, 1], write 0.35 for 35%"),
        ("[funnels.signup.stages.activation]\nconversion = { value = 0.3, low = 0.1, high = 40 }\n",
         "funnels.signup.stages.activation.conversion.high", "write 0.4 for 40%"),
        ("[funnels.signup.stages.activation]\nconversion = 250\n",
         "funnels.signup.stages.activation.conversion",
         "is a probability and must be in [0, 1] (a fraction), not 250"),
        ("[funnels.signup.stages.activation]\nconversion = 1.2\n",
         "funnels.signup.stages.activation.conversion", "1.2 is above 1"),
        ("[funnels.signup.stages.activation]\nconversion = -0.1\n",
         "funnels.signup.stages.activation.conversion", "must be in [0, 1]"),
        ("[funnels.signup.stages.activation]\nconversion = { low = 0.1, high = 0.5 }\n",
         "funnels.signup.stages.activation.conversion", "missing value"),
        ("[money]\norder_value = { value = 50, low = 80, high = 40 }\n",
         "money.order_value", "range low = 80 is above high = 40"),
        ("[money]\norder_value = { value = 90, low = 20, high = 40 }\n",
         "money.order_value", "value = 90 is outside its range [20, 40]"),
        ("[money]\norder_value = { value = 50, low = 20 }\n",
         "money.order_value", "give both low and high"),
        ("[money]\norder_value = -5\n", "money.order_value",
         "is an amount of money and cannot be negative"),
        ("[money]\norder_value = 'sixty'\n", "money.order_value", "must be a number"),
        ("[money]\norder_value = true\n", "money.order_value", "must be a number"),
        ("currency = 'usd'\n", "currency", "ISO 4217"),
        ("[counterfactual]\nplacement = 'best'\n", "counterfactual.placement",
         "unknown placement 'best'"),
        ("[counterfactual]\nplacement = 92\n", "counterfactual.placement", "write 0.92"),
        ("[counterfactual.placement]\nhotmail = 0.8\n", "counterfactual.placement.hotmail",
         "unknown mailbox provider"),
        ("[funnels.onboarding.stages.onboarding]\nmessages_per_conversion = 0\n",
         "funnels.onboarding.stages.onboarding.messages_per_conversion", "at least 1"),
        ("[funnels.signup]\nstream = 'x'\n[funnels.onboarding]\nstream = 'x'\n",
         "funnels.onboarding.stream", "already drives funnel 'signup'"),
        ("[funnels.signup]\nstream = ''\n", "funnels.signup.stream", "non-empty string"),
    ],
)
def test_config_errors_name_the_file_and_the_key_path(tmp_path, text, key, reason):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_funnels(path)
    error = caught.value
    assert isinstance(error, ValueError)
    assert error.key == key
    assert error.source == str(path)
    message = str(error)
    assert message.startswith(f"{path}: {key}: ")
    assert reason in message


def test_a_file_that_is_not_toml_names_the_file_and_the_line(tmp_path):
    path = write(tmp_path, "[money]\norder_value = = 3\n")
    with pytest.raises(ConfigError, match=rf"{re.escape(str(path))}: not valid TOML: .*line 2"):
        load_funnels(path)


def test_overrides_are_checked_like_the_file():
    config = default_funnels()
    with pytest.raises(ConfigError, match="<override>: money.ltv: unknown parameter"):
        config.with_parameters({"money.ltv": 1})
    with pytest.raises(ConfigError, match="write 0.3 for 30%"):
        config.with_parameters({"signup.activation.conversion": 30})
    changed = config.with_parameters({"signup.activation.conversion": (0.3, 0.2, 0.4)})
    parameter = changed.funnels["signup"].parameter("activation", "conversion")
    assert (parameter.value, parameter.low, parameter.high) == (0.3, 0.2, 0.4)
    assert config.funnels["signup"].parameter("activation", "conversion").value == 0.375


def test_a_funnel_of_your_own_reuses_a_template(tmp_path):
    path = write(tmp_path, "[funnels.enterprise_signup]\ntemplate = 'signup'\n"
                           "stream = 'verify-enterprise'\n"
                           "[funnels.enterprise_signup.stages.paid]\nconversion = 0.6\n")
    config = load_funnels(path)
    funnel = config.funnels["enterprise_signup"]
    assert funnel.stream == "verify-enterprise" and funnel.template == "signup"
    assert funnel.parameter("paid", "conversion").value == 0.6
    assert "enterprise_signup.verification.conversion_if_seen" in config.parameters()


# --------------------------------------------------------------------------------------------
# Conversions: reading, pseudonymizing, attributing, estimating
# --------------------------------------------------------------------------------------------


def test_read_conversions_pseudonymizes_with_the_events_key(data_dir):
    table, meta = read_conversions(data_dir / "funnel" / "conversions.csv", salt=TEST_SALT)
    key = TEST_SALT.encode()
    assert meta["records_read"] == 5
    assert meta["duplicates"] == 1 and meta["quarantined"] == 0
    assert meta["records_read"] == meta["conversions"] + meta["duplicates"] + meta["quarantined"]
    assert table["recipient"].tolist() == [
        pseudonymize_address("ann.lee@example.com", key),
        pseudonymize_address("bob@example.org", key),
        "3f2a9c0d1e4b5a6978c0d1e2",  # already a pseudonym: kept
        pseudonymize_address("carol@example.net", key),
    ]
    assert not table["recipient"].str.contains("@").any()
    assert table["conversion_type"].tolist() == ["verified", "verified", "signed_in", "activated"]
    # A time without a zone is UTC; epoch seconds and milliseconds are read as such.
    assert table["timestamp"].tolist() == [
        pd.Timestamp("2026-01-05 10:15", tz="UTC"), pd.Timestamp("2026-01-05 11:00", tz="UTC"),
        pd.Timestamp("2026-01-05 11:00", tz="UTC"), pd.Timestamp("2026-01-05 11:10", tz="UTC"),
    ]


def test_bad_conversion_rows_name_file_line_and_field(data_dir):
    path = data_dir / "funnel" / "conversions_bad.csv"
    with pytest.raises(InputFormatError) as caught:
        read_conversions(path, salt=TEST_SALT)
    assert str(caught.value) == f"{path}, line 3, field 'email': empty"
    table, meta = read_conversions(path, salt=TEST_SALT, errors="quarantine")
    assert len(table) == 1 and meta["quarantined"] == 4
    quarantine = meta["quarantine"]
    assert quarantine[["location", "field", "reason"]].values.tolist() == [
        ["line 3", "email", "empty"],
        ["line 4", "converted_at", "not a readable time"],
        ["line 5", "email", "neither an e-mail address nor a pseudonym"],
        ["line 6", "type", "empty"],
    ]
    assert not quarantine["raw"].str.contains("@example").any()
    assert table["timestamp"].item() == pd.Timestamp("2026-01-06 08:00", tz="UTC")


def test_missing_conversion_column_is_named(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("email,when\na@b.com,2026-01-01T00:00:00Z\n")
    with pytest.raises(InputFormatError, match="line 1 \\(header\\), field 'timestamp': missing"):
        read_conversions(path, salt=TEST_SALT)


def test_attribution_is_last_touch_within_the_window():
    t0 = pd.Timestamp("2026-01-05 00:00", tz="UTC")
    messages = pd.DataFrame({
        "message_id": ["m1", "m2", "m3", "m4"],
        "recipient": ["r1", "r1", "r2", "r3"],
        "sent_at": [t0, t0 + pd.Timedelta(days=3), t0, t0],
        "stream": ["onboarding"] * 4,
        "delivered": [True] * 4,
    })
    conversions = pd.DataFrame({
        "recipient": ["r1", "r2", "r3", "r3"],
        # r1 converts after its second message: m2, not m1. r2 converts after the 72 h window.
        "timestamp": [t0 + pd.Timedelta(days=3, hours=1), t0 + pd.Timedelta(hours=80),
                      t0 + pd.Timedelta(hours=2), t0 + pd.Timedelta(hours=3)],
        # r3's second conversion is of another type and does not count twice anyway.
        "conversion_type": ["activated", "activated", "activated", "verified"],
    })
    config = funnels_from_mapping({"funnels": {"onboarding": {}}})
    out = attribute_conversions(messages, conversions, config).set_index("message_id")
    assert out["converted"].to_dict() == {"m1": False, "m2": True, "m3": False, "m4": True}


def test_estimate_conversion_solves_the_mixture_by_hand():
    # 100 delivered verification mails with 60 conversions; 20 undelivered with 4.
    t0 = pd.Timestamp("2026-01-05 00:00", tz="UTC")
    n = 120
    messages = pd.DataFrame({
        "message_id": [f"m{i}" for i in range(n)],
        "recipient": [f"r{i}" for i in range(n)],
        "sent_at": [t0] * n,
        "stream": ["verification"] * n,
        "mailbox_provider": ["gmail"] * n,
        "delivered": [True] * 100 + [False] * 20,
        "delivery_latency_s": [3.0] * 100 + [np.nan] * 20,
    })
    converted = list(range(60)) + list(range(100, 104))
    conversions = pd.DataFrame({"recipient": [f"r{i}" for i in converted],
                                "timestamp": [t0 + pd.Timedelta(hours=1)] * len(converted),
                                "conversion_type": ["verified"] * len(converted)})
    # Placement: inbox 0.72, spam 0.08 of sent -> 0.9 of delivered in the inbox.
    actual = placement([("2026-01-05", "gmail", 0.72, 0.08, 0.20)])
    config = funnels_from_mapping({"funnels": {"signup": {"stages": {
        "verification": {"spam_rescue": 0.0}}}}})
    estimate = estimate_conversion(messages, conversions, actual, config, random_state=1).iloc[0]
    # c_unseen = 4 / 20 = 0.2 ; c_seen = 0.2 + (0.6 - 0.2) / 0.9 = 0.6444
    assert estimate["conversion_if_unseen"] == pytest.approx(0.2)
    assert estimate["conversion_if_seen"] == pytest.approx(0.2 + 0.4 / 0.9)
    assert estimate["seen_share_of_delivered"] == pytest.approx(0.9)
    assert estimate["conversion_if_seen_low"] < estimate["conversion_if_seen"] \
        < estimate["conversion_if_seen_high"]
    overrides = estimated_parameters(pd.DataFrame([estimate]))
    assert overrides["signup.verification.conversion_if_seen"][0] == pytest.approx(0.6444, 1e-3)
    assert config.with_parameters(overrides).funnels["signup"].parameter(
        "verification", "conversion_if_unseen").value == pytest.approx(0.2)


# --------------------------------------------------------------------------------------------
# Recovery of the simulator's conversion parameters
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def simulated():
    from deliverability_econ import messages as build_messages
    from deliverability_econ.privacy import pseudonymize
    from deliverability_econ.simulate import sender

    result = sender(days=60, recipients=30_000, random_state=1, start="2026-01-05")
    key = TEST_SALT.encode()
    events = result.events.copy()
    events["recipient"] = pseudonymize(events["recipient"], key)
    truth = result.messages_truth.copy()
    clear = truth["recipient"]
    truth["recipient"] = pseudonymize(truth["recipient"], key)
    streams = result.parameters["streams"].set_index("name")

    # The simulator converts each message on its own: one message per conversion, and the
    # spam-folder read ratio is the stream's. Config windows equal the simulator's deadlines.
    config = default_funnels()
    overrides = {}
    for name, funnel in config.funnels.items():
        email = funnel.email_stage.name
        overrides[f"{name}.{email}.messages_per_conversion"] = 1
        overrides[f"{name}.{email}.spam_rescue"] = float(
            streams.loc[funnel.stream, "spam_folder_engagement_ratio"])
        assert funnel.email_stage.parameters["attribution_window_hours"].value == \
            streams.loc[funnel.stream, "deadline_hours"]
    config = config.with_parameters(overrides)

    # The user's conversions file: clear addresses, read back with the events' key.
    window = {f.stream: f.email_stage.parameters["attribution_window_hours"].value
              for f in config.funnels.values()}
    kind = {f.stream: f.conversion_type for f in config.funnels.values()}
    done = truth["converted"].to_numpy()
    delay = truth.loc[done, "stream"].map(window).astype(float) * 0.25
    return {
        "messages": build_messages(events),
        "truth": truth,
        "clear": clear,
        "streams": streams,
        "config": config,
        "result": result,
        "conversions": pd.DataFrame({
            "email": clear[done].to_numpy(),
            "converted_at": (truth.loc[done, "send_time"]
                             + pd.to_timedelta(delay, unit="h")).dt.strftime(
                                 "%Y-%m-%dT%H:%M:%S.%fZ").to_numpy(),
            "type": truth.loc[done, "stream"].map(kind).to_numpy(),
        }),
    }


@pytest.fixture(scope="module")
def simulated_conversions(simulated, tmp_path_factory):
    path = tmp_path_factory.mktemp("conversions") / "conversions.csv"
    simulated["conversions"].to_csv(path, index=False)
    table, meta = read_conversions(path, salt=TEST_SALT)
    assert meta["quarantined"] == 0
    return table


BIG_FUNNELS = ("signup", "onboarding", "password_reset")


def test_engagement_method_recovers_the_simulators_conversion_parameters(
        simulated, simulated_conversions):
    estimates = estimate_conversion(simulated["messages"], simulated_conversions, None,
                                    simulated["config"], method="engagement", random_state=2)
    streams = simulated["streams"]
    assert set(estimates["basis"]) == {"read"}
    for row in estimates.itertuples():
        true_seen = streams.loc[row.stream, "conversion_if_seen"]
        # Tolerance: the 90% interval, widened by 0.01 for the rounding of the truth.
        assert row.conversion_if_seen_low - 0.01 <= true_seen <= row.conversion_if_seen_high \
            + 0.01, row
        if row.funnel in BIG_FUNNELS:
            assert row.conversion_if_seen == pytest.approx(true_seen, abs=0.03)
            true_unseen = streams.loc[row.stream, "conversion_if_unseen"]
            assert row.conversion_if_unseen_low - 0.01 <= true_unseen \
                <= row.conversion_if_unseen_high + 0.01, row


def truth_inbox_conversion(truth, stream):
    """The simulator's realized conversion of inbox-placed messages of a stream."""
    part = truth[truth["stream"] == stream]
    return part.loc[part["folder"] == "inbox", "converted"].mean()


def test_placement_method_recovers_inbox_conversion_with_true_folders(
        simulated, simulated_conversions):
    estimates = estimate_conversion(simulated["messages"], simulated_conversions,
                                    simulated["truth"], simulated["config"], random_state=2)
    for row in estimates.itertuples():
        expected = truth_inbox_conversion(simulated["truth"], row.stream)
        # Exact folders, only the password-reset deadline (60 min) separates the two.
        assert row.conversion_if_seen == pytest.approx(expected, abs=0.01), row


def test_placement_method_recovers_inbox_conversion_from_placement_rates(
        simulated, simulated_conversions):
    truth = simulated["result"].truth
    weekly = truth.assign(period=truth["date"].dt.tz_localize(None).dt.to_period("W")
                          .dt.start_time)
    counts = weekly.groupby(["mailbox_provider", "period"], observed=True)[
        ["messages", "inbox", "spam", "missing", "delivered"]].sum().reset_index()
    rates = counts.assign(inbox_rate=counts["inbox"] / counts["messages"],
                          spam_rate=counts["spam"] / counts["messages"],
                          missing_rate=counts["missing"] / counts["messages"])
    rates["inbox_low"] = rates["inbox_rate"] - 0.01
    rates["inbox_high"] = rates["inbox_rate"] + 0.01
    estimates = estimate_conversion(simulated["messages"], simulated_conversions, rates,
                                    simulated["config"], random_state=2)
    assert set(estimates["basis"]) == {"inbox"}
    for row in estimates.itertuples():
        expected = truth_inbox_conversion(simulated["truth"], row.stream)
        assert row.conversion_if_seen_low - 0.01 <= expected <= row.conversion_if_seen_high \
            + 0.01, row
        if row.funnel in BIG_FUNNELS:
            assert row.conversion_if_seen == pytest.approx(expected, abs=0.03), row


def test_whole_chain_on_a_simulated_sender_gives_money_in_every_line(simulated):
    truth = simulated["result"].truth
    weekly = truth.assign(period=truth["date"].dt.tz_localize(None).dt.to_period("W")
                          .dt.start_time)
    counts = weekly.groupby(["mailbox_provider", "period"], observed=True)[
        ["messages", "inbox", "spam", "missing", "delivered"]].sum().reset_index()
    rates = counts.assign(inbox_rate=counts["inbox"] / counts["messages"],
                          inbox_low=counts["inbox"] / counts["messages"],
                          inbox_high=counts["inbox"] / counts["messages"],
                          spam_rate=counts["spam"] / counts["messages"],
                          missing_rate=counts["missing"] / counts["messages"])
    result = revenue_at_risk(simulated["messages"], rates, load_funnels(EXAMPLE_CONFIG),
                             draws=500, random_state=5)
    assert set(result.by_line_monthly["line"]) == set(COST_LINES)
    assert 0 < result.monthly["p10"] < result.monthly["p50"] < result.monthly["p90"]
    assert (result.by_line_monthly["p50"] > 0).all()
