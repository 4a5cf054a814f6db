"""Scenario figures: each takes ax=None, returns the Axes and draws what the results hold."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from deliverability_econ import plots  # noqa: E402
from deliverability_econ._plots_scenarios import (  # noqa: E402
    plot_break_even,
    plot_npv_distribution,
    plot_npv_tornado,
    plot_placement_trajectories,
    plot_tornado,
)
from deliverability_econ.finance import npv_tornado  # noqa: E402
from deliverability_econ.scenarios import (  # noqa: E402
    break_even_messages_per_month,
    compare_options,
)


@pytest.fixture(scope="module")
def comparison():
    return compare_options(["dedicated_ip_cold", "dedicated_ip"], 3_000_000, draws=30,
                           horizon_months=6, random_state=1)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_placement_trajectories(comparison):
    ax = plot_placement_trajectories(comparison.results)
    # One median line per option plus the baseline's.
    assert len(ax.get_lines()) == 3
    cold = ax.get_lines()[0]
    np.testing.assert_allclose(cold.get_ydata(),
                               comparison.results["dedicated_ip_cold"].daily_inbox_quantiles[1])
    assert len(ax.collections) == 3          # p10-p90 bands
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "shared_relay (baseline)" in labels


def test_placement_trajectories_on_given_axes(comparison):
    _, ax = plt.subplots()
    out = plot_placement_trajectories(comparison.results["dedicated_ip"], ax=ax, band=False,
                                      baseline=False)
    assert out is ax
    assert len(ax.get_lines()) == 1 and len(ax.collections) == 0


def test_npv_distribution(comparison):
    result = comparison.results["dedicated_ip"]
    ax = plot_npv_distribution(result, bins=10)
    assert len(ax.patches) == 10
    assert f"{result.p_npv_positive:.0%}" in ax.get_title()
    # p10, p50, p90 and zero.
    xs = sorted(line.get_xdata()[0] for line in ax.get_lines())
    expected = sorted([*result.npv_percentiles.values(), 0.0])
    np.testing.assert_allclose(xs, expected)


def test_tornado_with_an_infinite_swing():
    table = pd.DataFrame({
        "input": ["pool_level_discount", "min_stable_daily", "ip_fee"],
        "result_at_low": [np.inf, 44_000.0, 107_000.0],
        "result_at_high": [60_000.0, 200_000.0, 107_500.0],
        "result_base": [107_000.0] * 3,
        "swing": [np.inf, 156_000.0, 500.0],
    })
    _, ax = plt.subplots()
    out = plot_tornado(table, ax=ax)
    assert out is ax
    assert len(ax.patches) == 6
    assert [t.get_text() for t in ax.get_yticklabels()] == list(table["input"])
    assert any(t.get_text() == "never" for t in ax.texts)
    assert all(np.isfinite(p.get_width()) for p in ax.patches)


def test_npv_tornado_bars_span_the_table(comparison):
    result = comparison.results["dedicated_ip"]
    table = npv_tornado(result.cash_flows, result.discount_rate, rate_range=(0.05, 0.15))
    ax = plots.plot_npv_tornado(table, currency="USD", max_inputs=None)
    assert plots.plot_npv_tornado is plot_npv_tornado
    assert ax.get_xscale() == "linear" and ax.get_xlabel() == "NPV [USD]"
    # Two bars per input, each from the mean NPV to the NPV at the input's low or high.
    assert len(ax.patches) == 2 * len(table)
    base = table["result_base"].iloc[0]
    ends = sorted(p.get_x() + p.get_width() for p in ax.patches)
    np.testing.assert_allclose(ends, sorted([*table["result_at_low"], *table["result_at_high"]]))
    assert all(p.get_x() == pytest.approx(base) for p in ax.patches)
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert "discount rate" in labels and "recovered revenue" in labels


def test_npv_tornado_shows_the_largest_swings_only():
    lines = {"ip_fees": np.array([[0.0, -30, -30]] * 2),
             "one_off": np.array([[-500.0, 0, 0], [-800.0, 0, 0]]),
             "recovered_revenue": np.array([[0.0, 100, 100], [0.0, 300, 300]])}
    ax = plot_npv_tornado(npv_tornado(lines, 0.0, interval=(0, 100)), max_inputs=2)
    # Swings: revenue 600 - 200 = 400, one-off 300, fees 0 (left out).
    assert [t.get_text() for t in ax.get_yticklabels()] == ["recovered revenue",
                                                            "one-off set-up"]


def test_break_even_curve():
    result = break_even_messages_per_month(draws=2, horizon_months=12,
                                           grid=np.geomspace(1e4, 1e6, 12))
    ax = plot_break_even(result)
    npv_line = ax.get_lines()[0]
    np.testing.assert_allclose(npv_line.get_ydata(), result.curve["npv_mean"])
    assert any("break-even" in t.get_text() for t in ax.get_legend().get_texts())
    assert ax.get_xscale() == "log"
