"""Scenario figures (to be merged into :mod:`deliverability_econ.plots`).

Every function reads results of :mod:`deliverability_econ.scenarios` (or a tornado table of
:func:`deliverability_econ.finance.tornado` or :func:`~deliverability_econ.finance.npv_tornado`),
takes ``ax=None`` and returns the Axes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import FuncFormatter

#: How the inputs of :func:`deliverability_econ.finance.npv_tornado` are named on a chart.
NPV_INPUT_LABELS: dict[str, str] = {
    "ip_fees": "IP fees",
    "plan_uplift": "ESP plan uplift",
    "tooling": "monitoring tools",
    "staff_time": "staff time",
    "one_off": "one-off set-up",
    "recovered_revenue": "recovered revenue",
    "acquisition_cost_saved": "acquisition cost saved",
    "support_avoided": "support avoided",
    "churn_avoided": "churn avoided",
    "discount_rate": "discount rate",
}

#: Colours: the option, the baseline, the gain and loss sides of a tornado.
SCENARIO_COLORS: dict[str, str] = {
    "baseline": "#7f7f7f",
    "positive": "#4c72b0",
    "negative": "#c44e52",
    "low": "#dd8452",
    "high": "#4c72b0",
}


def plot_placement_trajectories(results, ax=None, *, baseline: bool = True,
                                band: bool = True, **line_kwargs):
    """Daily inbox share of all messages per option: the median with its p10-p90 band.

    Parameters
    ----------
    results : OptionResult, sequence of OptionResult or mapping of name to OptionResult
        From :func:`~deliverability_econ.scenarios.simulate_option` or
        :attr:`~deliverability_econ.scenarios.Comparison.results`.
    ax : matplotlib Axes, optional
    baseline : bool
        Also draw the first result's baseline (dashed, grey).
    band : bool
        Shade the p10-p90 band over draws.
    **line_kwargs
        Passed to :meth:`matplotlib.axes.Axes.plot`.

    Returns
    -------
    matplotlib.axes.Axes
    """
    items = _as_list(results)
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4))
    for result in items:
        q = result.daily_inbox_quantiles
        days = np.arange(q.shape[1])
        (line,) = ax.plot(days, q[1], label=result.name, **line_kwargs)
        if band:
            ax.fill_between(days, q[0], q[2], color=line.get_color(), alpha=0.2, linewidth=0)
    if baseline and items:
        q = items[0].baseline_daily_inbox_quantiles
        days = np.arange(q.shape[1])
        ax.plot(days, q[1], linestyle="--", color=SCENARIO_COLORS["baseline"],
                label=f"{items[0].baseline} (baseline)")
        if band:
            ax.fill_between(days, q[0], q[2], color=SCENARIO_COLORS["baseline"], alpha=0.15,
                            linewidth=0)
    ax.set_xlabel("day since the change")
    ax.set_ylabel("inbox share of messages sent")
    ax.set_ylim(0, 1)
    ax.set_title("Inbox placement (median, p10-p90 band)")
    ax.legend(loc="lower right", fontsize="small")
    return ax


def plot_npv_distribution(result, ax=None, *, bins: int = 50, **hist_kwargs):
    """Histogram of an option's NPV draws with p10, p50, p90 and P(NPV > 0).

    Parameters
    ----------
    result : OptionResult
    ax : matplotlib Axes, optional
    bins : int
    **hist_kwargs
        Passed to :meth:`matplotlib.axes.Axes.hist`.

    Returns
    -------
    matplotlib.axes.Axes
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    npv = np.asarray(result.npv, dtype=float)
    hist_kwargs.setdefault("color", SCENARIO_COLORS["positive"])
    hist_kwargs.setdefault("alpha", 0.8)
    ax.hist(npv, bins=bins, **hist_kwargs)
    for key, style in (("p10", ":"), ("p50", "-"), ("p90", ":")):
        value = result.npv_percentiles[key]
        ax.axvline(value, color="black", linestyle=style, linewidth=1)
        ax.annotate(f"{key} {_money(value)}", (value, 1.0), xycoords=("data", "axes fraction"),
                    rotation=90, va="top", ha="right", fontsize="small")
    ax.axvline(0.0, color=SCENARIO_COLORS["negative"], linewidth=1)
    ax.set_xlabel(f"NPV against {result.baseline} [{result.currency}]")
    ax.set_ylabel("draws")
    ax.set_title(f"{result.name}: P(NPV > 0) = {result.p_npv_positive:.0%}")
    return ax


def plot_tornado(table, ax=None, *, label: str = "break-even [messages/month]",
                 max_inputs: int | None = None, xscale: str | None = None):
    """Tornado of a one-at-a-time sensitivity (:func:`deliverability_econ.finance.tornado`).

    One bar per input from the result at its low value to the result at its high value,
    ranked by swing (largest on top), around the base result. Infinite results (an option
    that never pays) are drawn to the edge of the finite range with an arrow-like marker.

    Parameters
    ----------
    table : DataFrame
        ``input``, ``result_at_low``, ``result_at_high``, ``result_base`` (as
        :func:`~deliverability_econ.scenarios.break_even_sensitivity` returns).
    ax : matplotlib Axes, optional
    label : str
        What the result is, with its unit.
    max_inputs : int, optional
        Show only the largest swings.
    xscale : {"linear", "log"}, optional
        Default: logarithmic when every result is positive (volumes), linear otherwise.

    Returns
    -------
    matplotlib.axes.Axes
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    rows = table.head(max_inputs) if max_inputs else table
    base = float(rows["result_base"].iloc[0]) if len(rows) else 0.0
    low = rows["result_at_low"].to_numpy(float)
    high = rows["result_at_high"].to_numpy(float)
    finite = np.concatenate([low[np.isfinite(low)], high[np.isfinite(high)], [base]])
    edge_hi, edge_lo = finite.max() * 1.2, finite.min() / 1.2 if finite.min() > 0 else finite.min()
    y = np.arange(len(rows))[::-1]
    for yi, lo_value, hi_value in zip(y, low, high, strict=True):
        for value, key in ((lo_value, "low"), (hi_value, "high")):
            shown = edge_hi if value == np.inf else edge_lo if value == -np.inf else value
            ax.barh(yi, shown - base, left=base, color=SCENARIO_COLORS[key], height=0.6)
            if not np.isfinite(value):
                ax.annotate("never" if value > 0 else "always", (shown, yi), ha="left",
                            va="center", fontsize="small")
    ax.axvline(base, color="black", linewidth=1)
    ax.set_yticks(y, rows["input"].astype(str).tolist())
    ax.set_xlabel(label)
    ax.set_title("Sensitivity: input at its low (orange) and high (blue)")
    if xscale is None:
        xscale = "log" if finite.min() > 0 else "linear"
    ax.set_xscale(xscale)
    return ax


def plot_npv_tornado(table, ax=None, *, currency: str = "USD", max_inputs: int | None = 8,
                     title: str | None = None):
    """Tornado of an NPV (:func:`deliverability_econ.finance.npv_tornado`).

    One bar per cash-flow line (and the discount rate, when the table has it) from the NPV
    with that input at its low to the NPV at its high, the others at their mean, ranked by
    swing around the mean NPV, on a linear money axis.

    Parameters
    ----------
    table : DataFrame
        :func:`~deliverability_econ.finance.npv_tornado` output.
    ax : matplotlib Axes, optional
    currency : str
        ISO code of the NPV, for the axis label.
    max_inputs : int, optional
        Show only the largest swings (8 by default; None for all).
    title : str, optional
        Default: what the bars mean.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from deliverability_econ.finance import npv_tornado
    >>> lines = {"ip_fees": np.array([[0.0, -30, -30], [0.0, -30, -30]]),
    ...          "recovered_revenue": np.array([[0.0, 100, 100], [0.0, 300, 300]])}
    >>> ax = plot_npv_tornado(npv_tornado(lines, 0.0))
    >>> [t.get_text() for t in ax.get_yticklabels()]
    ['recovered revenue', 'IP fees']
    """
    rows = table.head(max_inputs) if max_inputs else table
    named = rows.assign(input=rows["input"].map(lambda name: NPV_INPUT_LABELS.get(
        name, str(name).replace("_", " "))))
    ax = plot_tornado(named, ax, label=f"NPV [{currency}]", xscale="linear")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: _money(value)))
    ax.set_title(title or "What moves the NPV: each input at its low (orange) and high "
                          "(blue),\nthe others at their mean (black line: mean NPV)")
    return ax


def plot_break_even(break_even, ax=None, *, guidance: Sequence[float] | None = None,
                    **line_kwargs):
    """Mean NPV of a dedicated IP against the shared pool over monthly volume, with its
    p10-p90 band, the break-even volume and the ESPs' published guidance range.

    Parameters
    ----------
    break_even : BreakEven
        From :func:`~deliverability_econ.scenarios.break_even_messages_per_month`.
    ax : matplotlib Axes, optional
    guidance : (low, high), optional
        Published range to shade [messages/month];
        :data:`~deliverability_econ.scenarios.DEDICATED_IP_GUIDANCE` by default.
    **line_kwargs
        Passed to :meth:`matplotlib.axes.Axes.plot`.

    Returns
    -------
    matplotlib.axes.Axes
    """
    from .scenarios import DEDICATED_IP_GUIDANCE

    if ax is None:
        _, ax = plt.subplots(figsize=(7, 4))
    curve = break_even.curve
    volume = curve["messages_per_month"].to_numpy(float)
    low, high = guidance or DEDICATED_IP_GUIDANCE
    ax.axvspan(low, high, color=SCENARIO_COLORS["baseline"], alpha=0.12,
               label="published guidance")
    line_kwargs.setdefault("color", SCENARIO_COLORS["positive"])
    ax.plot(volume, curve["npv_mean"], label=f"{break_even.option} - {break_even.baseline}",
            **line_kwargs)
    ax.fill_between(volume, curve["npv_p10"], curve["npv_p90"], color=line_kwargs["color"],
                    alpha=0.2, linewidth=0)
    ax.axhline(0.0, color="black", linewidth=1)
    if np.isfinite(break_even.messages_per_month):
        ax.axvline(break_even.messages_per_month, color=SCENARIO_COLORS["negative"],
                   linestyle="--",
                   label=f"break-even {break_even.messages_per_month:,.0f}/month")
    ax.set_xscale("symlog" if volume.min() <= 0 else "log")
    ax.set_yscale("symlog", linthresh=max(1.0, float(np.nanmax(np.abs(curve["npv_mean"]))) / 1e3))
    ax.set_xlabel("messages per month")
    ax.set_ylabel("NPV [currency]")
    ax.set_title("When does a dedicated IP pay?")
    ax.legend(loc="upper left", fontsize="small")
    return ax


def _as_list(results) -> list:
    if isinstance(results, Mapping):
        return list(results.values())
    if isinstance(results, Sequence) and not isinstance(results, str):
        return list(results)
    return [results]


def _money(value: float) -> str:
    magnitude = abs(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if magnitude >= limit:
            return f"{value / limit:,.1f}{suffix}"
    return f"{value:,.0f}"


__all__ = ["NPV_INPUT_LABELS", "SCENARIO_COLORS", "plot_break_even", "plot_npv_distribution",
           "plot_npv_tornado", "plot_placement_trajectories", "plot_tornado"]
