"""Funnel figures: each takes ax=None, returns the Axes and draws what the results hold."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from deliverability_econ._plots_funnel import (  # noqa: E402
    plot_funnel_waterfall,
    plot_revenue_at_risk,
)
from deliverability_econ.funnel import funnel_impact, funnels_from_mapping  # noqa: E402


@pytest.fixture
def impact():
    volumes = pd.DataFrame({
        "date": pd.to_datetime(["2026-01-05", "2026-02-02", "2026-03-02"]),
        "mailbox_provider": ["gmail"] * 3,
        "stream": ["verification"] * 3,
        "messages": [1000, 800, 900],
        "delivered": [950, 760, 850],
    })
    placement = pd.DataFrame({
        "period": pd.to_datetime(["2026-01-05"]), "mailbox_provider": ["gmail"],
        "inbox_rate": [0.8], "inbox_low": [0.75], "inbox_high": [0.85], "spam_rate": [0.15],
        "missing_rate": [0.05], "delivered": [2560],
    })
    config = funnels_from_mapping({"funnels": {"signup": {}}})
    return funnel_impact(volumes, placement, config, draws=300, random_state=0)


def test_waterfall_stacks_converted_and_lost_per_stage(impact):
    ax = plot_funnel_waterfall(impact, "signup")
    assert isinstance(ax, plt.Axes)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["verification", "activation", "paid"]
    table = impact.leakage(by=("funnel", "stage_index", "stage")).sort_values("stage_index")
    converted = [p.get_height() for p in ax.containers[0]]
    np.testing.assert_allclose(converted, table["conversions_p50"])
    lost = [p.get_height() for p in ax.containers[1]]
    np.testing.assert_allclose(lost, table["lost_p50"] - table["lost_late_p50"])
    plt.close(ax.figure)


def test_waterfall_draws_on_the_axes_given_and_names_unknown_funnels(impact):
    figure, ax = plt.subplots()
    assert plot_funnel_waterfall(impact, "signup", ax=ax) is ax
    with pytest.raises(ValueError, match="no funnel 'demo'"):
        plot_funnel_waterfall(impact, "demo", ax=ax)
    plt.close(figure)


def test_revenue_at_risk_plot_has_band_and_scaled_partial_months(impact):
    result = impact.revenue_at_risk()
    figure, ax = plt.subplots()
    assert plot_revenue_at_risk(result, ax=ax) is ax
    line = ax.get_lines()[0]
    # January is covered from the 5th (27 of 31 days): its p50 is scaled to the whole month.
    by_month = result.by_month.set_index("month")
    assert line.get_ydata()[0] == pytest.approx(by_month.loc["2026-01-01", "p50"] * 31 / 27)
    # March is covered two days only (the data end on 2026-03-02).
    assert line.get_ydata()[2] == pytest.approx(by_month.loc["2026-03-01", "p50"] * 31 / 2)
    assert len(ax.collections) >= 1  # the p10-p90 band
    assert "USD" in ax.get_ylabel()
    plt.close(figure)
    ax = plot_revenue_at_risk(result)
    assert isinstance(ax, plt.Axes)
    plt.close(ax.figure)
