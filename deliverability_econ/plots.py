"""Matplotlib figures of the kit's model results.

Every function only reads a result table, takes ``ax=None`` (a new figure when None) and
returns the Axes, so notebooks and the report can place it in their own figures; style
keywords pass through to the line calls. Fractions are plotted as percentages only on the
axis labels.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.ticker import PercentFormatter

#: Rates :func:`plot_placement` can draw: column -> (interval columns, axis label).
PLACEMENT_RATES: dict[str, tuple[str, str, str]] = {
    "inbox_rate": ("inbox_low", "inbox_high", "inbox share of messages sent"),
    "spam_rate": ("spam_low", "spam_high", "spam-folder share of messages sent"),
    "inbox_share_of_delivered": (
        "inbox_share_of_delivered_low",
        "inbox_share_of_delivered_high",
        "inbox share of delivered messages",
    ),
}


def plot_placement(
    estimates: pd.DataFrame,
    ax: Axes | None = None,
    *,
    rate: str = "inbox_rate",
    by: str = "mailbox_provider",
    groups: Sequence[str] | None = None,
    band_alpha: float = 0.18,
    title: str | None = None,
    **line_kwargs,
) -> Axes:
    """Placement over time, one line per provider (or other key) with its interval as a band.

    Parameters
    ----------
    estimates : DataFrame
        :func:`deliverability_econ.estimate_placement` output: ``period``, the ``by`` column,
        ``rate`` and its interval columns (:data:`PLACEMENT_RATES`), optionally ``low_volume``
        (such periods get hollow markers: their intervals rest on few messages).
    ax : matplotlib Axes, optional
    rate : {"inbox_rate", "spam_rate", "inbox_share_of_delivered"}
        Which estimate to draw [fraction 0-1].
    by : str
        Column with one line per value; when absent from ``estimates`` one line is drawn.
    groups : sequence of str, optional
        Values of ``by`` to draw, in order; default: all, largest ``sent`` first.
    band_alpha : float
        Opacity of the interval bands [0-1].
    title : str, optional
        Default: the rate and the interval probability when it can be told.
    **line_kwargs
        Passed to :meth:`~matplotlib.axes.Axes.plot` (``linewidth``, ``marker``, ...).

    Returns
    -------
    matplotlib Axes

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> table = pd.DataFrame({
    ...     "period": pd.to_datetime(["2025-03-03", "2025-03-10"] * 2),
    ...     "mailbox_provider": ["gmail", "gmail", "microsoft", "microsoft"],
    ...     "sent": [1000, 1100, 400, 420],
    ...     "inbox_rate": [0.86, 0.84, 0.71, 0.55],
    ...     "inbox_low": [0.82, 0.80, 0.64, 0.47],
    ...     "inbox_high": [0.90, 0.88, 0.78, 0.63]})
    >>> ax = plot_placement(table)
    >>> [line.get_label() for line in ax.get_lines()]
    ['gmail', 'microsoft']
    """
    if rate not in PLACEMENT_RATES:
        raise ValueError(f"rate must be one of {sorted(PLACEMENT_RATES)}, not {rate!r}")
    low_column, high_column, label = PLACEMENT_RATES[rate]
    time_column = next((c for c in ("period", "period_start", "date") if c in estimates), None)
    missing = [c for c in (rate, low_column, high_column) if c not in estimates]
    if time_column is None or missing:
        raise ValueError(
            f"estimates need a period column and {[rate, low_column, high_column]}; missing: "
            f"{missing or ['period']} (pass estimate_placement output)"
        )
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4))

    table = estimates.assign(_time=pd.to_datetime(estimates[time_column]))
    if by in table.columns:
        table = table.assign(_group=table[by].astype("string").fillna("unknown"))
    else:
        table = table.assign(_group="all")
    if groups is None:
        if "sent" in table.columns:
            order = table.groupby("_group")["sent"].sum().sort_values(ascending=False).index
        else:
            order = sorted(table["_group"].unique())
        groups = list(order)
    style = {"marker": "o", "markersize": 4, "linewidth": 1.6, **line_kwargs}
    for name in groups:
        rows = table[table["_group"] == name].sort_values("_time")
        if rows.empty:
            continue
        (line,) = ax.plot(rows["_time"], rows[rate], label=str(name), **style)
        ax.fill_between(
            rows["_time"].to_numpy(),
            rows[low_column].to_numpy(float),
            rows[high_column].to_numpy(float),
            color=line.get_color(),
            alpha=band_alpha,
            linewidth=0,
        )
        if "low_volume" in rows and rows["low_volume"].any():
            thin = rows[rows["low_volume"].to_numpy(dtype=bool)]
            ax.scatter(
                thin["_time"],
                thin[rate],
                s=36,
                facecolors="white",
                edgecolors=line.get_color(),
                zorder=3,
            )
    ax.set_ylim(0.0, 1.0)
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    ax.set_ylabel(label)
    ax.grid(True, axis="y", alpha=0.3)
    if title is None:
        title = f"Estimated {label}"
        width = _interval_content(estimates)
        if width is not None:
            title += f" ({width:.0%} intervals)"
    ax.set_title(title)
    if len(groups) > 1 or by in estimates.columns:
        ax.legend(ncol=min(len(groups), 4), fontsize="small", frameon=False)
    ax.figure.autofmt_xdate()
    return ax


def _interval_content(estimates: pd.DataFrame) -> float | None:
    """The interval probability, when the table carries it (``PlacementEstimator`` sets
    ``attrs["interval"]``)."""
    value = estimates.attrs.get("interval") if hasattr(estimates, "attrs") else None
    return float(value) if isinstance(value, (int, float, np.floating)) else None


# The figures of the other topics live next to their own helpers; this module is the one place
# users and the report import plots from.
from ._plots_funnel import plot_funnel_waterfall, plot_revenue_at_risk  # noqa: E402
from ._plots_health import plot_health_dashboard, plot_risk_timeline  # noqa: E402
from ._plots_scenarios import (  # noqa: E402
    plot_break_even,
    plot_npv_distribution,
    plot_npv_tornado,
    plot_placement_trajectories,
    plot_tornado,
)

__all__ = [
    "plot_break_even",
    "plot_funnel_waterfall",
    "plot_health_dashboard",
    "plot_npv_distribution",
    "plot_npv_tornado",
    "plot_placement",
    "plot_placement_trajectories",
    "plot_revenue_at_risk",
    "plot_risk_timeline",
    "plot_tornado",
]
