"""Funnel figures (to be merged into :mod:`deliverability_econ.plots`).

Both functions read model results only (:class:`~deliverability_econ.funnel.FunnelImpact`,
:class:`~deliverability_econ.funnel.RevenueAtRisk`), take ``ax=None`` and return the Axes.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

#: Colours of the parts of a stage's bar.
FUNNEL_COLORS: dict[str, str] = {
    "converted": "#4c72b0",
    "lost_placement": "#dd8452",
    "lost_late": "#c44e52",
    "band": "#4c72b0",
}


def plot_funnel_waterfall(impact, funnel: str, ax=None, **bar_kwargs):
    """Conversions per stage of one funnel, with what placement and lateness cost.

    Each stage's bar stacks the actual conversions (p50), the conversions lost to placement
    and those lost to late delivery (p50); the whisker spans the p10-p90 of the total lost, and
    the label gives the lost share.

    Parameters
    ----------
    impact : FunnelImpact
        From :func:`deliverability_econ.funnel.funnel_impact`.
    funnel : str
        Funnel name (a key of the config's funnels).
    ax : matplotlib Axes, optional
    **bar_kwargs
        Passed to :meth:`matplotlib.axes.Axes.bar`.

    Returns
    -------
    matplotlib.axes.Axes
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    table = impact.leakage(by=("funnel", "stage_index", "stage"))
    table = table[table["funnel"] == funnel].sort_values("stage_index")
    if table.empty:
        known = sorted(set(impact.leakage_rows["funnel"]))
        raise ValueError(f"no funnel {funnel!r} in the results; known: {known}")
    x = np.arange(len(table))
    converted = table["conversions_p50"].to_numpy()
    late = table["lost_late_p50"].to_numpy()
    placement = np.maximum(table["lost_p50"].to_numpy() - late, 0.0)
    ax.bar(x, converted, color=FUNNEL_COLORS["converted"], label="converted", **bar_kwargs)
    ax.bar(x, placement, bottom=converted, color=FUNNEL_COLORS["lost_placement"],
           label="lost: not in the inbox", **bar_kwargs)
    ax.bar(x, late, bottom=converted + placement, color=FUNNEL_COLORS["lost_late"],
           label="lost: delivered late", **bar_kwargs)
    top = converted + table["lost_p50"].to_numpy()
    low = converted + table["lost_p10"].to_numpy()
    high = converted + table["lost_p90"].to_numpy()
    ax.errorbar(x, top, yerr=[top - low, high - top], fmt="none", ecolor="black", capsize=4,
                label="lost p10-p90")
    for position, (total, share) in enumerate(zip(top, table["lost_share_p50"], strict=True)):
        ax.annotate(f"-{share:.1%}", (position, total), textcoords="offset points",
                    xytext=(0, 6), ha="center", fontsize=8)
    stream = table["stream"].iloc[0] if "stream" in table.columns else \
        impact.config.funnels[funnel].stream
    ax.set_xticks(x, table["stage"].tolist())
    ax.set_ylabel("conversions [count]")
    ax.set_title(f"{funnel} funnel (stream {stream}) vs {impact.counterfactual.split(':')[0]}")
    ax.legend(loc="upper right", fontsize=8)
    return ax


def plot_revenue_at_risk(result, ax=None, **line_kwargs):
    """Money at risk per calendar month: the p50 line and the p10-p90 band.

    Months only partly covered by the data are scaled to the whole month (days in the month /
    days covered) and drawn with hollow markers; the dashed line is the average month (p50) of
    the whole period.

    Parameters
    ----------
    result : RevenueAtRisk
        From :func:`deliverability_econ.funnel.revenue_at_risk`.
    ax : matplotlib Axes, optional
    **line_kwargs
        Passed to :meth:`matplotlib.axes.Axes.plot` for the p50 line.

    Returns
    -------
    matplotlib.axes.Axes
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    table = result.by_month.sort_values("month").reset_index(drop=True)
    months = table["month"]
    # A month the data covers only partly is scaled to the whole month, so it compares.
    scale = (months.dt.days_in_month / table["days_covered"]).to_numpy(float)
    p10, p50, p90 = (table[c].to_numpy(float) * scale for c in ("p10", "p50", "p90"))
    ax.fill_between(months, p10, p90, color=FUNNEL_COLORS["band"], alpha=0.2, label="p10-p90")
    ax.plot(months, p50, color=FUNNEL_COLORS["band"], label="p50", **line_kwargs)
    full = scale <= 1.0
    ax.scatter(months[full], p50[full], color=FUNNEL_COLORS["band"], zorder=3)
    if (~full).any():
        ax.scatter(months[~full], p50[~full], facecolors="white",
                   edgecolors=FUNNEL_COLORS["band"], zorder=3,
                   label="month partly covered (scaled to the whole month)")
    ax.axhline(result.monthly["p50"], color="grey", linestyle="--",
               label=f"average month p50: {result.monthly['p50']:,.0f} {result.currency}")
    ax.set_ylabel(f"at risk [{result.currency}/month]")
    ax.set_ylim(bottom=0)
    ax.set_title("Revenue at risk from placement and late delivery")
    ax.legend(fontsize=8)
    ax.figure.autofmt_xdate()
    return ax
