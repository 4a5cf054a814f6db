"""Infrastructure options simulated forward: the classic cold cut-over failure against a clean
ramp, the break-even volume against the ESPs' published guidance, the money chain and shapes.

Expected numbers say where they come from: domain-facts section 5 (guidance), the funnel
defaults (funnel/_defaults.py) and hand calculations of annuities.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from deliverability_econ import finance
from deliverability_econ.scenarios import (
    BREAK_EVEN_SPECS,
    DAYS_PER_MONTH,
    DEDICATED_IP_GUIDANCE,
    DEFAULT_STREAM_MIX,
    MATURITY_LEVELS,
    OPTIONS,
    InfrastructureOption,
    OwnBehaviour,
    SharedPool,
    break_even_messages_per_month,
    break_even_sensitivity,
    compare_options,
    funnel_values,
    options_table,
    recommended_option,
    simulate_option,
    stream_volumes,
    volumes_from_cube,
)
from deliverability_econ.simulate.config import ReputationModel
from deliverability_econ.simulate.reputation import (
    block_probability,
    placement_from_score,
    score_for_placement,
)
from deliverability_econ.warmup import PROVIDER_WARMUP, PROVIDERS

#: 100,000 messages a day: the volume at which warmup's own doctest shows the cold failure.
LARGE_SENDER = 3_000_000
DRAWS = 100


@pytest.fixture(scope="module")
def migration():
    """Cold cut-over and SendGrid's ramp of the same volume, against the shared pool."""
    return compare_options(["dedicated_ip_cold", "dedicated_ip"], LARGE_SENDER, draws=DRAWS,
                           random_state=7)


# --------------------------------------------------------------------------------------------
# The classic failure vs a clean ramp
# --------------------------------------------------------------------------------------------


def test_cold_cutover_reproduces_the_classic_failure(migration):
    cold = migration.results["dedicated_ip_cold"]
    median = cold.daily_inbox_quantiles[1]
    # Section 9: a cold dedicated IP sits in the fair/poor band for 2-6 weeks.
    assert (median < 0.60).sum() >= 14
    assert (median[:14] < 0.60).all()
    # It recovers: the last year places like a warm IP.
    assert median[365:].min() > 0.75
    # Lost activations via the funnel (signup: verification -> activation), first two months.
    lost = -cold.conversions_gained("signup", "activation", slice(0, 2))
    assert np.median(lost) > 1_000
    assert cold.p_npv_positive < 0.2


def test_cold_cutover_activation_loss_matches_the_funnel_chain(migration):
    """Activations lost = signup share x extra seen messages x (seen - unseen) x activation.

    The option's seen-message difference comes back out of its money line: with modal funnel
    values the two must agree draw by draw up to the parameter draws, so compare the ratio of
    activations to verifications with the activation conversion per draw instead.
    """
    cold = migration.results["dedicated_ip_cold"]
    verification = cold.conversions_gained("signup", "verification", slice(0, 2))
    activation = cold.conversions_gained("signup", "activation", slice(0, 2))
    ratio = activation / verification
    # DEFAULTS signup.activation.conversion: PERT(0.05, 0.375, 0.55).
    assert ratio.min() >= 0.05 - 1e-9 and ratio.max() <= 0.55 + 1e-9
    assert abs(np.median(ratio) - 0.375) < 0.06


def test_sendgrid_ramp_warms_cleanly(migration):
    ramp = migration.results["dedicated_ip"]
    cold = migration.results["dedicated_ip_cold"]
    median = ramp.daily_inbox_quantiles[1]
    assert (median < 0.60).sum() == 0
    # Mail not yet on the IP stays on the shared pool, so the ramp never drops far below it.
    base = ramp.baseline_daily_inbox_quantiles[1]
    assert (median - base).min() > -0.15
    lost_ramp = -np.median(ramp.conversions_gained("signup", "activation", slice(0, 2)))
    lost_cold = -np.median(cold.conversions_gained("signup", "activation", slice(0, 2)))
    assert lost_ramp < lost_cold / 10
    # Once warm, a dedicated IP of a large, clean sender beats the shared pool.
    last_year = ramp.monthly_inbox_rate[:, 12:].mean()
    assert last_year > ramp.baseline_monthly_inbox_rate[:, 12:].mean()
    assert ramp.p_npv_positive > 0.8


def test_comparison_table_and_recommendation(migration):
    table = migration.table
    assert list(table.columns) == ["name", "npv_p10", "npv_p50", "npv_p90", "p_npv_positive",
                                   "payback_months", "description"]
    assert (table["npv_p10"] <= table["npv_p50"]).all()
    assert (table["npv_p50"] <= table["npv_p90"]).all()
    assert migration.recommended_option == "dedicated_ip"
    summary = migration.summary()
    assert summary["recommended_option"] == "dedicated_ip"
    entry = summary["options"][0]
    assert set(entry) == {"name", "npv", "p_npv_positive", "payback_months"}
    assert set(entry["npv"]) == {"p10", "p50", "p90"}
    assert summary["options"][0]["payback_months"] is None   # the cold cut-over never pays


def test_recommended_option_rule():
    table = pd.DataFrame({"name": ["shared_relay", "a", "b", "c"],
                          "npv_p50": [0.0, 100.0, 300.0, 200.0],
                          "p_npv_positive": [0.0, 0.9, 0.49, 0.6]})
    # b has the highest median but P(NPV > 0) < 0.5; c beats a.
    assert recommended_option(table, "shared_relay") == "c"
    assert recommended_option(table.assign(p_npv_positive=0.1), "shared_relay") == "shared_relay"
    assert recommended_option(table, "shared_relay", min_p_positive=0.95) == "shared_relay"


# --------------------------------------------------------------------------------------------
# Break-even volume
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def break_even():
    return break_even_messages_per_month(draws=8, random_state=0)


def test_break_even_within_published_guidance(break_even):
    # Section 5: rule of thumb 50k-100k+ a month (Bird ~100k+), Postmark ~300k (3rd-party).
    assert 50_000 <= break_even.messages_per_month <= 300_000
    low, high = DEDICATED_IP_GUIDANCE
    assert low <= break_even.messages_per_month <= high
    curve = break_even.curve
    below = curve[curve["messages_per_month"] < break_even.messages_per_month]
    above = curve[curve["messages_per_month"] > break_even.messages_per_month * 1.05]
    assert (below["npv_mean"] < 0).all() and (above["npv_mean"] > 0).all()
    # A thin dedicated IP places worse than the pool; a busy one better.
    assert below["inbox_gain"].iloc[0] < -0.05
    assert above["inbox_gain"].iloc[-1] > 0.005


def test_break_even_moves_with_the_stability_threshold():
    grid = np.geomspace(1e4, 2e6, 24)
    low = break_even_messages_per_month(draws=4, grid=grid,
                                        instability=replace(_instability(), min_stable_daily=200))
    high = break_even_messages_per_month(draws=4, grid=grid,
                                         instability=replace(_instability(),
                                                             min_stable_daily=1000))
    assert low.messages_per_month < high.messages_per_month


def _instability():
    from deliverability_econ.scenarios import Instability

    return Instability()


def test_break_even_sensitivity_ranks_inputs():
    specs = {k: BREAK_EVEN_SPECS[k] for k in ("ip_fee", "min_stable_daily", "plan_uplift")}
    table = break_even_sensitivity(specs, draws=2, grid=np.geomspace(1e4, 2e6, 20))
    assert list(table["swing"]) == sorted(table["swing"], reverse=True)
    # Against the value of seen mail, the fee hardly matters; stability does.
    assert table["input"].iloc[0] == "min_stable_daily"
    assert table.loc[table["input"] == "ip_fee", "swing"].item() < 0.1 * table["swing"].iloc[0]
    assert (table["unit"] != "").all()


def test_break_even_sensitivity_rejects_unknown_inputs():
    with pytest.raises(ValueError, match="unknown break-even input"):
        break_even_sensitivity({"fee": 3.0})


# --------------------------------------------------------------------------------------------
# The money chain
# --------------------------------------------------------------------------------------------


def test_funnel_values_are_the_funnel_defaults_per_seen_message():
    values = funnel_values(modal=True, draws=1, random_state=0)
    signup = values.funnels.index("signup")
    # (conversion_if_seen - conversion_if_unseen) x activation x paid x lifetime value
    # = (0.92 - 0.20) x 0.375 x 0.25 x 2800 = 189.
    assert values.money["recovered_revenue"][signup, 0] == pytest.approx(189.0)
    # wasted acquisition: 0.72 x 0.375 x 40 = 10.8.
    assert values.money["acquisition_cost_saved"][signup, 0] == pytest.approx(10.8)
    assert values.rescue[signup, 0] == pytest.approx(0.20)
    rows = values.conversions
    activation = np.flatnonzero((rows["funnel"] == "signup") & (rows["stage"] == "activation"))
    assert values.conversion_draws[activation[0], 0] == pytest.approx(0.72 * 0.375)
    # Dunning mail: a sequence of 3 per failed payment, (0.52 - 0.25) / 3 x 100 x 28 = 252.
    dunning = values.funnels.index("dunning")
    assert values.money["churn_avoided"][dunning, 0] == pytest.approx(252.0)
    assert values.time_critical[values.funnels.index("password_reset")]
    assert not values.time_critical[signup]


def test_costs_only_option_npv_is_the_annuity_of_the_fee_difference():
    """Same pool, same authentication: no placement difference, so NPV = -fee annuity.

    An extra 80 a month for 24 months at 10% a year: -80 x sum_t 1.1 ** (-t / 12), t = 1..24.
    """
    base = InfrastructureOption("base", "shared", costs={"plan_price": 20.0})
    dearer = InfrastructureOption("dearer", "shared", costs={"plan_price": 100.0})
    result = simulate_option(dearer, 200_000, baseline=base, draws=20, random_state=3)
    annuity = sum(1.1 ** (-t / 12) for t in range(1, 25))
    np.testing.assert_allclose(result.npv, -80.0 * annuity, rtol=1e-9)
    assert result.cash_flows["net"][:, 0].tolist() == [0.0] * 20
    assert result.payback_months is None


def test_setup_hours_fall_in_month_zero():
    base = InfrastructureOption("base", "shared")
    setup = InfrastructureOption("setup", "shared", costs={"setup_hours": 10.0})
    result = simulate_option(setup, 100_000, baseline=base, draws=50, random_state=4)
    month0 = result.cash_flows["one_off"][:, 0]
    # 10 hours x the hourly cost PERT(50, 75, 120).
    assert (month0 <= -500).all() and (month0 >= -1200).all()
    assert (result.cash_flows["one_off"][:, 1:] == 0).all()


def test_shared_pool_without_shocks_places_at_the_link():
    """No shocks, no wander, no incidents: inbox = (1 - block(s)) x link(s) with
    s = healthy - level discount - authentication gap (F19 link of simulate.reputation)."""
    pool = SharedPool(level_discount=2.0, volatility=0.0, shock_rate=0.0)
    calm = InfrastructureOption("calm", "shared", pool=pool, authentication_gap=1.0)
    result = simulate_option(calm, 100_000, baseline=calm, draws=5, random_state=0,
                             behaviour=OwnBehaviour(incident_rate=0.0))
    model = ReputationModel()
    for k, provider in enumerate(PROVIDERS):
        warm = PROVIDER_WARMUP[provider]
        score = score_for_placement(warm.warmed_inbox_rate, model) - 3.0
        expected = (1 - block_probability(score, warm.block_ceiling, model)) \
            * placement_from_score(score, model)
        np.testing.assert_allclose(result.monthly_inbox_rate[:, :, k], expected, rtol=1e-5)


def test_shocks_lower_the_shared_pool():
    calm = InfrastructureOption("calm", "shared", pool=SharedPool(shock_rate=0.0))
    stormy = InfrastructureOption("stormy", "shared", pool=SharedPool(shock_rate=0.05))
    result = simulate_option(stormy, 100_000, baseline=calm, draws=200, random_state=5)
    assert result.monthly_inbox_rate.mean() < result.baseline_monthly_inbox_rate.mean()
    assert result.npv_percentiles["p50"] < 0


def test_thin_dedicated_ip_places_worse_than_the_pool():
    # 20,000 a month: about 46 a day to Apple, far below a few hundred (section 5, SES).
    result = simulate_option("dedicated_ip", 20_000, draws=100, random_state=6)
    apple = PROVIDERS.index("apple")
    assert result.monthly_inbox_rate[:, 6:, apple].mean() \
        < result.baseline_monthly_inbox_rate[:, 6:, apple].mean() - 0.1
    assert result.p_npv_positive < 0.5


def test_monitoring_and_alignment_pay_for_a_large_sender():
    comparison = compare_options(MATURITY_LEVELS, LARGE_SENDER, draws=60, random_state=8)
    table = comparison.table.set_index("name")
    assert table.loc["shared_relay", "npv_p50"] == 0.0      # the baseline against itself
    assert table.loc["platform_sending", "npv_p50"] < 0
    assert table.loc["optimized_stack", "npv_p50"] > table.loc["dedicated_ip", "npv_p50"] > 0
    assert comparison.recommended_option == "optimized_stack"


# --------------------------------------------------------------------------------------------
# Reproducibility and shapes
# --------------------------------------------------------------------------------------------


def test_same_seed_same_result_other_seed_other_result():
    a = simulate_option("dedicated_ip", 500_000, draws=30, random_state=11)
    b = simulate_option("dedicated_ip", 500_000, draws=30, random_state=11)
    c = simulate_option("dedicated_ip", 500_000, draws=30, random_state=12)
    np.testing.assert_array_equal(a.npv, b.npv)
    np.testing.assert_array_equal(a.monthly_inbox_rate, b.monthly_inbox_rate)
    assert not np.array_equal(a.npv, c.npv)


def test_shapes():
    result = simulate_option("dedicated_ip_sparkpost", 300_000, horizon_months=12, draws=40,
                             keep_daily=True, random_state=1)
    days = int(round(12 * DAYS_PER_MONTH))
    assert result.npv.shape == (40,)
    assert result.payback_draws.shape == (40,)
    assert result.monthly_inbox_rate.shape == (40, 12, len(PROVIDERS))
    assert result.baseline_monthly_inbox_rate.shape == (40, 12, len(PROVIDERS))
    assert result.daily_inbox_quantiles.shape == (3, days)
    assert result.daily_inbox_rate.shape == (40, days, len(PROVIDERS))
    assert set(result.cash_flows) == set(finance.COST_LINES) | set(finance.BENEFIT_LINES) | {"net"}
    assert all(v.shape == (40, 13) for v in result.cash_flows.values())
    assert result.extra_conversions.shape == (len(result.conversion_rows), 40, 12)
    assert result.cash_flow_table().shape == (13, len(result.cash_flows))
    rates = result.monthly_inbox_rate
    assert ((rates >= 0) & (rates <= 1)).all()
    q = result.daily_inbox_quantiles
    assert (q[0] <= q[1] + 1e-12).all() and (q[1] <= q[2] + 1e-12).all()
    np.testing.assert_allclose(result.npv, finance.npv(0.10, result.cash_flows["net"]))


def test_two_ips_cost_two_fees():
    two = replace(OPTIONS["dedicated_ip"], name="two_ips", ips=2,
                  costs={"ip_fee": 30.0, "plan_price": 90.0})
    result = simulate_option(two, 2_000_000, draws=10, random_state=2)
    assert (result.cash_flows["ip_fees"][:, 1:] == -60.0).all()


# --------------------------------------------------------------------------------------------
# Registry, inputs and errors
# --------------------------------------------------------------------------------------------


def test_registry_documents_every_option():
    table = options_table()
    assert set(MATURITY_LEVELS) <= set(table["name"])
    assert (table["sources"].str.len() > 20).all()
    assert (table["description"].str.len() > 20).all()
    dedicated = table.set_index("name").loc["dedicated_ip"]
    # Section 5 / 9: $20-60 per IP per month; PERT mode 30.
    assert 20 <= dedicated["cost_ip_fee"] <= 60
    assert OPTIONS["dedicated_ip_cold"].migration == "cold"
    assert OPTIONS["dedicated_ip_ses"].overflow == "shared"


def test_stream_volumes_and_mix():
    assert sum(DEFAULT_STREAM_MIX.values()) == pytest.approx(1.0)
    volumes = stream_volumes(1_000_000)
    assert volumes["newsletter"] == pytest.approx(850_000)
    assert stream_volumes({"signup": 10.0}) == {"signup": 10.0}
    with pytest.raises(ValueError, match="sum to 1"):
        stream_volumes(100, {"signup": 0.5})
    with pytest.raises(ValueError, match="non-negative"):
        stream_volumes({"signup": -1.0})


def test_volumes_from_cube():
    cube = pd.DataFrame({
        "date": pd.to_datetime(["2026-01-01", "2026-01-01", "2026-01-02", "2026-01-02"]),
        "mailbox_provider": ["gmail", "comcast", "gmail", "yahoo"],
        "stream": ["verification", "newsletter", "verification", "weekly-digest"],
        "messages": [100, 300, 100, 500],
    })
    volumes, shares = volumes_from_cube(cube)
    # 200 verification mails over 2 days -> 100 a day -> 3,043.75 a month.
    assert volumes["signup"] == pytest.approx(100 * DAYS_PER_MONTH)
    assert volumes["newsletter"] == pytest.approx(400 * DAYS_PER_MONTH)   # unknown stream too
    assert shares["other"] == pytest.approx(0.3)   # comcast is not a modelled provider
    assert sum(shares.values()) == pytest.approx(1.0)


def test_errors_name_the_problem():
    with pytest.raises(KeyError, match="unknown option 'dedicated'"):
        simulate_option("dedicated", 100_000, draws=2)
    with pytest.raises(ValueError, match="kind must be"):
        InfrastructureOption("x", "pooled")
    with pytest.raises(ValueError, match="unknown cost"):
        InfrastructureOption("x", "shared", costs={"fee": 3})
    with pytest.raises(ValueError, match="funnel"):
        simulate_option("dedicated_ip", {"webinar": 1000.0}, draws=2)
    with pytest.raises(ValueError, match="provider_shares must sum to 1"):
        simulate_option("dedicated_ip", 1000, draws=2, provider_shares={"gmail": 0.5})
    with pytest.raises(ValueError, match="horizon_months"):
        simulate_option("dedicated_ip", 1000, draws=2, horizon_months=0)
    with pytest.raises(ValueError, match="listed twice"):
        compare_options(["dedicated_ip", "dedicated_ip"], 1000, draws=2)
