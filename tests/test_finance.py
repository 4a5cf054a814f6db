"""Finance: discounting, NPV, IRR, payback, cash-flow lines, Monte Carlo, tornado, break-even
and spreadsheet exports.

Expected values say where they come from: a hand calculation (annuity formula), numpy-financial
itself, or a closed form.
"""

import csv

import numpy as np
import numpy_financial as npf
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from deliverability_econ import finance as F
from deliverability_econ.finance import (
    CashFlowModel,
    break_even_volume,
    cash_flows,
    irr,
    monthly_rate,
    npv,
    payback_months,
    sample,
    tornado,
)

money = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
rates = st.floats(0.0, 1.0, allow_nan=False)


# --- discounting ----------------------------------------------------------------------------


def test_monthly_rate_compounds_to_the_annual_rate():
    assert (1 + monthly_rate(0.10)) ** 12 == pytest.approx(1.10)
    assert monthly_rate(0.0) == 0.0
    with pytest.raises(ValueError, match="decimal"):
        monthly_rate(-1.5)


def test_npv_matches_the_annuity_formula_and_numpy_financial():
    flows = [-2_000] + [150] * 24
    r = monthly_rate(0.10)
    # Hand calculation: 150 * (1 - (1 + r) ** -24) / r - 2,000.
    by_hand = 150 * (1 - (1 + r) ** -24) / r - 2_000
    assert npv(0.10, flows) == pytest.approx(by_hand, rel=1e-12)
    assert npv(0.10, flows) == pytest.approx(npf.npv(r, flows), rel=1e-12)


def test_npv_broadcasts_rates_against_draws():
    rng = np.random.default_rng(1)
    flows = rng.normal(100, 50, (200, 36))
    flows[:, 0] = -3_000
    result = npv(np.array([[0.05], [0.10], [0.20]]), flows)
    assert result.shape == (3, 200)
    for i, rate in enumerate((0.05, 0.10, 0.20)):
        np.testing.assert_allclose(result[i], [npf.npv(monthly_rate(rate), f) for f in flows])


def test_irr_and_payback_by_hand():
    flows = [-2_000] + [150] * 24
    monthly = irr(flows, annualize=False)
    assert npf.npv(monthly, flows) == pytest.approx(0.0, abs=1e-6)
    assert irr(flows) == pytest.approx((1 + monthly) ** 12 - 1)
    # Cumulative: -50 after month 13, +100 after month 14.
    assert payback_months(flows) == 14.0
    assert np.isnan(irr([-100.0, -5.0]))
    assert np.isnan(payback_months([-100.0, 5.0, 5.0]))
    assert payback_months([0.0, 10.0]) == 0.0
    # A second investment: payback is the start of the last stretch at or above zero.
    assert payback_months([-100, 150, -200, 300, 10]) == 3.0
    many = irr(np.tile(flows, (4, 1)))
    assert many.shape == (4,) and np.allclose(many, irr(flows))


# --- properties (Hypothesis) ----------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(arrays(float, st.tuples(st.integers(1, 6), st.integers(1, 40)), elements=money),
       rates)
def test_npv_shape_and_linearity(flows, rate):
    result = npv(rate, flows)
    assert result.shape == flows.shape[:1]
    np.testing.assert_allclose(npv(rate, 2 * flows), 2 * result, rtol=1e-9, atol=1e-6)
    # Month 0 is undiscounted.
    bump = flows.copy()
    bump[:, 0] += 1.0
    np.testing.assert_allclose(npv(rate, bump) - result, 1.0, atol=1e-6)


@settings(max_examples=80, deadline=None)
@given(st.floats(1.0, 1e6), arrays(float, st.integers(1, 60), elements=st.floats(0, 1e5)),
       rates, rates)
def test_npv_falls_with_the_discount_rate_for_a_conventional_investment(outlay, returns, r1, r2):
    flows = np.concatenate([[-outlay], returns])
    low, high = sorted((r1, r2))
    assert npv(high, flows) <= npv(low, flows) + 1e-6 * (1 + np.abs(flows).sum())


@settings(max_examples=80, deadline=None)
@given(arrays(float, st.tuples(st.integers(1, 5), st.integers(1, 40)), elements=money),
       st.one_of(st.none(), rates))
def test_payback_is_consistent_with_the_cumulative_cash_flow(flows, rate):
    months = payback_months(flows, rate)
    discounted = flows if rate is None else flows * F.discount_factors(rate, flows.shape[1])
    cumulative = np.cumsum(discounted, axis=1)
    for row, month in zip(cumulative, np.atleast_1d(months), strict=True):
        if np.isnan(month):
            assert row[-1] < 0
        else:
            m = int(month)
            assert (row[m:] >= 0).all()
            assert m == 0 or row[m - 1] < 0


@settings(max_examples=40, deadline=None)
@given(st.floats(100, 1e5), st.floats(1, 1e4), st.integers(6, 60))
def test_irr_is_the_rate_where_npv_is_zero(outlay, monthly, months):
    flows = np.array([-outlay] + [monthly] * months)
    rate = irr(flows)
    if monthly * months > outlay:
        assert rate > 0
        assert npv(rate, flows) == pytest.approx(0.0, abs=1e-6 * outlay)
    elif monthly * months < outlay:
        assert np.isnan(rate) or rate < 0


# --- cash-flow lines ------------------------------------------------------------------------


def test_cash_flow_lines_signs_and_shapes():
    draws, months = 3, 13
    revenue = np.array([100.0, 200.0, 300.0])  # one per draw
    hours = np.array([0, 8, 8] + [1] * 10)  # a monthly profile
    lines = cash_flows(months, draws=draws, ip_fees=30, plan_uplift=60, tooling=10,
                       staff_hours=hours, hourly_cost=75, one_off=500, recovered_revenue=revenue,
                       support_avoided=np.full((draws, months), 5.0))
    for name in F.COST_LINES:
        assert (lines[name] <= 0).all(), name
    for name in F.BENEFIT_LINES:
        assert (lines[name] >= 0).all(), name
    assert lines["net"].shape == (draws, months)
    assert lines["one_off"][:, 0].tolist() == [-500.0] * 3 and (lines["one_off"][:, 1:] == 0).all()
    assert lines["ip_fees"][0, 0] == 0 and lines["ip_fees"][0, 1] == -30  # from start_month 1
    # Month 1, draw 2: -30 - 60 - 10 - 8 * 75 + 300 + 5 = -395.
    assert lines["net"][2, 1] == pytest.approx(-395.0)
    total = sum(v for k, v in lines.items() if k != "net")
    np.testing.assert_allclose(lines["net"], total)
    with pytest.raises(ValueError, match="ip_fees"):
        cash_flows(12, draws=3, ip_fees=np.ones(5))


def test_cash_flow_model_summary():
    revenue = sample({"dist": "pert", "low": 100, "mode": 350, "high": 900}, 500, random_state=2)
    option = (CashFlowModel("dedicated", months=25, draws=500)
              .cost(ip_fees=30, plan_uplift=60, one_off=800)
              .benefit(recovered_revenue=revenue))
    summary = option.summary(0.10)
    assert set(summary) == {"name", "npv", "p_npv_positive", "payback_months", "irr_p50"}
    assert summary["npv"]["p10"] <= summary["npv"]["p50"] <= summary["npv"]["p90"]
    values = option.npv(0.10)
    assert summary["p_npv_positive"] == pytest.approx(np.mean(values > 0))
    assert option.table().shape == (25, len(F.COST_LINES) + len(F.BENEFIT_LINES) + 1)
    with pytest.raises(ValueError, match="unknown cost"):
        option.cost(coffee=3)


# --- distributions, Monte Carlo, tornado ----------------------------------------------------


@pytest.mark.parametrize(("spec", "mean"), [
    ({"dist": "triangular", "low": 10, "mode": 20, "high": 60}, 30.0),  # (10 + 20 + 60) / 3
    ({"dist": "pert", "low": 10, "mode": 20, "high": 60}, 25.0),  # (10 + 80 + 60) / 6
    ({"dist": "uniform", "low": 10, "high": 30}, 20.0),
    # exp(mu + sigma^2 / 2), mu = log(200), sigma = log(4) / (2 * 1.28155)
    ({"dist": "lognormal", "p10": 100, "p90": 400}, 200 * np.exp((np.log(4) / 2.563103) ** 2 / 2)),
])
def test_distribution_means(spec, mean):
    draws = sample(spec, 200_000, random_state=11)
    assert draws.mean() == pytest.approx(mean, rel=0.01)
    assert draws.shape == (200_000,)
    np.testing.assert_array_equal(draws[:10], sample(spec, 200_000, random_state=11)[:10])


def test_lognormal_percentiles_and_bad_specs():
    draws = sample({"dist": "lognormal", "p10": 100, "p90": 400}, 200_000, random_state=3)
    assert np.percentile(draws, [10, 90]) == pytest.approx([100, 400], rel=0.02)
    assert sample(42.0, 3).tolist() == [42.0, 42.0, 42.0]
    with pytest.raises(ValueError, match="unknown distribution"):
        sample({"dist": "normal"}, 3)
    with pytest.raises(ValueError, match="missing high"):
        sample({"dist": "uniform", "low": 1}, 3)
    with pytest.raises(ValueError, match="low <= mode <= high"):
        sample({"dist": "pert", "low": 5, "mode": 1, "high": 9}, 3)
    for name, dist in F.DISTRIBUTIONS.items():
        assert dist.name == name and dist.meaning


def test_monte_carlo_is_reproducible_and_percentiles():
    specs = {"a": {"dist": "uniform", "low": 0, "high": 1}, "b": 2.0}
    first, inputs = F.monte_carlo(lambda a, b: a * b, specs, 1000, random_state=5)
    second, _ = F.monte_carlo(lambda a, b: a * b, specs, 1000, random_state=5)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(first, inputs["a"] * 2)
    p = F.percentiles(first)
    assert p["p10"] == pytest.approx(0.2, abs=0.05) and p["p90"] == pytest.approx(1.8, abs=0.05)
    assert F.probability_positive(first - 1) == pytest.approx(0.5, abs=0.05)


def test_tornado_ranks_by_swing():
    specs = {"small": {"dist": "uniform", "low": 9, "high": 11},
             "large": {"dist": "triangular", "low": 0, "mode": 50, "high": 100},
             "fixed": 3.0}
    table = tornado(lambda small, large, fixed: small + 2 * large - fixed, specs)
    assert table["input"].tolist() == ["large", "small", "fixed"]
    assert table["swing"].tolist() == [200.0, 2.0, 0.0]
    assert (table["result_base"] == 10 + 100 - 3).all()


def _three_draws() -> dict[str, np.ndarray]:
    """Three draws, months 0-2: $30 of IP fees in months 1 and 2 (certain), $100, $200 or
    $300 of revenue recovered in months 1 and 2, a one-off of $500, $500 or $800 today."""
    return {
        "ip_fees": np.array([[0.0, -30.0, -30.0]] * 3),
        "recovered_revenue": np.array([[0.0, 100, 100], [0.0, 200, 200], [0.0, 300, 300]]),
        "one_off": np.array([[-500.0, 0, 0], [-500.0, 0, 0], [-800.0, 0, 0]]),
        "tooling": np.zeros((3, 3)),  # no tooling: not an input
        "net": np.zeros((3, 3)),      # ignored: the sum of the others
    }


def test_npv_tornado_by_hand():
    # Annual rate whose monthly rate is exactly 1%: months 1 and 2 weigh 1/1.01 + 1/1.0201
    # = 0.990099 + 0.980296 = 1.970395.
    annual = 1.01**12 - 1
    table = F.npv_tornado(_three_draws(), annual)
    assert table["input"].tolist() == ["recovered_revenue", "one_off", "ip_fees"]
    rows = table.set_index("input")
    # Revenue PVs 197.0395, 394.0790, 591.1185 (100, 200, 300 x 1.970395); numpy's linear
    # percentiles of three sorted values sit at positions 0.2 and 1.8:
    # p10 = 197.0395 + 0.2 x 197.0395 = 236.4474, p90 = 394.0790 + 0.8 x 197.0395 = 551.7106.
    revenue = rows.loc["recovered_revenue"]
    assert revenue[["low", "base", "high"]].tolist() == pytest.approx(
        [236.4474, 394.0790, 551.7106], abs=1e-3)
    # One-off sorted -800, -500, -500: p10 = -800 + 0.2 x 300 = -740, p90 = -500, mean -600.
    assert rows.loc["one_off", ["low", "base", "high"]].tolist() == pytest.approx(
        [-740.0, -600.0, -500.0])
    # Fees -30 x 1.970395 = -59.1119 in every draw: no swing.
    assert rows.loc["ip_fees", ["low", "high", "swing"]].tolist() == pytest.approx(
        [-59.1119, -59.1119, 0.0], abs=1e-3)
    # Base: mean NPV = -59.1119 + 394.0790 - 600 = -265.0329, the mean of the draws' NPVs.
    net = sum(v for k, v in _three_draws().items() if k != "net")
    assert table["result_base"].tolist() == pytest.approx([-265.0329] * 3, abs=1e-3)
    assert table["result_base"].iloc[0] == pytest.approx(float(npv(annual, net).mean()))
    # Revenue at p10: -265.0329 - 394.0790 + 236.4474 = -422.6645; at p90: -107.4013.
    assert revenue[["result_at_low", "result_at_high"]].tolist() == pytest.approx(
        [-422.6645, -107.4013], abs=1e-3)
    assert revenue["swing"] == pytest.approx(315.2632, abs=1e-3)
    # One-off: -265.0329 + 600 - 740 = -405.0329 and -265.0329 + 600 - 500 = -165.0329.
    assert rows.loc["one_off", ["result_at_low", "result_at_high"]].tolist() == pytest.approx(
        [-405.0329, -165.0329], abs=1e-3)
    assert set(table["unit"]) == {"currency, present value"}


def test_npv_tornado_discount_rate_row():
    # Mean flows: -600 today, 200 - 30 = 170 in months 1 and 2. At 0%: -600 + 340 = -260.
    # At 20% a year the monthly rate is 1.2 ** (1/12) - 1 = 1.530947%: factors 0.984921 and
    # 0.970069, so -600 + 170 x 1.954990 = -267.6517.
    table = F.npv_tornado(_three_draws(), 0.10, rate_range=(0.0, 0.20))
    rate = table.set_index("input").loc["discount_rate"]
    assert rate[["low", "base", "high"]].tolist() == [0.0, 0.10, 0.20]
    assert rate["result_at_low"] == pytest.approx(-260.0)
    assert rate["result_at_high"] == pytest.approx(-267.6517, abs=1e-3)
    assert rate["unit"] == "decimal per year"


def test_npv_tornado_reads_a_cash_flow_model_and_checks_its_input():
    revenue = np.array([100.0, 300.0])  # one value per draw, every month from month 1
    model = CashFlowModel("dedicated IP", months=3, draws=2).cost(ip_fees=30).benefit(
        recovered_revenue=revenue)
    table = F.npv_tornado(model.lines(), 0.0, interval=(0, 100))
    # PVs at 0%: revenue 200 or 600 (mean 400), fees -60: base 340, revenue 140 to 540.
    assert table.iloc[0][["input", "result_at_low", "result_at_high"]].tolist() == [
        "recovered_revenue", 140.0, 540.0]
    assert table["result_base"].iloc[0] == pytest.approx(model.npv(0.0).mean())
    with pytest.raises(ValueError, match="interval"):
        F.npv_tornado(model.lines(), 0.0, interval=(90, 10))
    with pytest.raises(ValueError, match="no cash-flow line"):
        F.npv_tornado({"net": np.ones(3)}, 0.0)
    with pytest.raises(ValueError, match="same number of months"):
        F.npv_tornado({"a": np.ones(3), "b": np.ones(4)}, 0.0)


# --- break-even -----------------------------------------------------------------------------


def test_break_even_closed_forms_and_guidance():
    # Without instability: fixed / benefit.
    assert break_even_volume(0.0015, 150) == pytest.approx(100_000, rel=1e-9)
    # With it: v = (f + sqrt(f^2 + 4 b f h)) / (2 b).
    b, f, h = 0.0015, 150.0, 30_000.0
    assert break_even_volume(b, f, half_stable_volume=h) == pytest.approx(
        (f + np.sqrt(f * f + 4 * b * f * h)) / (2 * b), rel=1e-9)
    # Vectorized over draws, and never when there is no benefit.
    many = break_even_volume(np.array([0.001, 0.002, 0.0]), 100.0)
    assert many[:2] == pytest.approx([100_000, 50_000]) and np.isinf(many[2])
    # A custom net benefit.
    assert break_even_volume(None, None, net_benefit=lambda v: v - 5_000.0) == pytest.approx(5_000)
    # Section 5: dedicated IPs pay from 50k-100k+ a month; section 9 fee $20-60, a placement
    # gain of a few points worth a few cents per inbox message lands there.
    volume = break_even_volume(0.03 * 0.05, 60 + 1 * 75, half_stable_volume=30_000)
    assert 50_000 <= volume <= 150_000


@settings(max_examples=50, deadline=None)
@given(st.floats(1e-5, 0.1), st.floats(1.0, 1e4), st.floats(0.0, 1e6))
def test_break_even_is_a_root(benefit, fixed, half):
    volume = break_even_volume(benefit, fixed, half_stable_volume=half)
    if np.isfinite(volume):
        gain = F.dedicated_net_benefit(volume, benefit, fixed, half)
        assert gain == pytest.approx(0.0, abs=1e-6 * fixed)
        assert F.dedicated_net_benefit(volume * 1.01, benefit, fixed, half) > 0


# --- exports --------------------------------------------------------------------------------

HOSTILE = ["=HYPERLINK(\"http://evil.example\",\"x\")", "+1+1", "-2+3", "@SUM(A1)", "\tTAB",
           "\rCR", "gmail", "a=b"]


def test_neutralize_formula():
    assert [F.neutralize_formula(v) for v in HOSTILE] == [
        "'=HYPERLINK(\"http://evil.example\",\"x\")", "'+1+1", "'-2+3", "'@SUM(A1)", "'\tTAB",
        "'\rCR", "gmail", "a=b"]
    assert F.neutralize_formula(-3.5) == -3.5


def test_excel_export_neutralizes_formulas(tmp_path):
    import openpyxl

    table = pd.DataFrame({"campaign": HOSTILE, "npv": np.arange(len(HOSTILE)) - 3.0})
    table["provider"] = pd.Series(HOSTILE, dtype="category")
    specs = {"=cmd": {"dist": "pert", "low": 20, "mode": 40, "high": 90}}
    path = F.to_excel(tmp_path / "case.xlsx", {
        "assumptions": F.assumptions_table(specs, {"=cmd": "USD/month"}), "results": table})
    book = openpyxl.load_workbook(path)
    cells = [c for ws in book.worksheets for row in ws.iter_rows() for c in row]
    for cell in cells:
        assert cell.data_type != "f", cell.value  # no formula anywhere
        if isinstance(cell.value, str):
            assert not cell.value.startswith(F.FORMULA_TRIGGERS), cell.value
    results = book["results"]
    assert results["A2"].value == HOSTILE[0].join(["'", ""])
    assert results["B2"].value == -3.0  # numbers stay numbers, negative ones too
    assert book["assumptions"]["A2"].value == "'=cmd"


def test_csv_export_neutralizes_formulas(tmp_path):
    table = pd.DataFrame({"campaign": HOSTILE, "npv": np.arange(len(HOSTILE)) - 3.0})
    path = F.to_csv(tmp_path / "case.csv", table)
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["campaign", "npv"]
    cells = [row[0] for row in rows[1:]]
    assert all(not c.startswith(F.FORMULA_TRIGGERS) for c in cells)
    assert cells[1] == "'+1+1" and cells[-1] == "a=b"
    assert rows[1][1] == "-3.0"
