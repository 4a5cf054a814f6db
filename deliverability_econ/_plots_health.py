"""Figures of reputation health and risk signals (to be merged into :mod:`.plots`).

Both functions only read model results (:func:`deliverability_econ.health_checks`,
:func:`deliverability_econ.signals.risk_signals`), take ``ax=None`` and return the Axes, so
notebooks can place them in their own figures. Colours say the status the same way in both:
green ok, amber warning, red critical, grey-blue info.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

#: Fill colour per status or severity.
STATUS_COLORS: dict[str, str] = {
    "ok": "#2e7d32",
    "info": "#5c7fa3",
    "warning": "#f0a202",
    "critical": "#c62828",
}

#: Marker per severity in the risk timeline.
SEVERITY_MARKERS: dict[str, str] = {"info": "o", "warning": "^", "critical": "X"}

#: Columns of the dashboard grid: header and relative width.
_DASHBOARD_COLUMNS: tuple[tuple[str, float], ...] = (
    ("Check", 2.6),
    ("Scope", 2.4),
    ("Period", 1.9),
    ("Value", 1.5),
    ("Warning at", 1.2),
    ("Critical at", 1.2),
    ("Status", 1.1),
)


def plot_health_dashboard(
    health: pd.DataFrame,
    ax: Axes | None = None,
    *,
    latest_only: bool = True,
    max_rows: int = 40,
    colors: Mapping[str, str] | None = None,
) -> Axes:
    """A table of health checks, one row per check and scope, coloured by status.

    Parameters
    ----------
    health : DataFrame
        :func:`deliverability_econ.health_checks` output.
    ax : Axes, optional
        Where to draw; a new figure sized to the rows when None.
    latest_only : bool
        Show only each check and scope's latest period (checks run with ``period="W"`` have
        one row per week).
    max_rows : int
        Rows shown at most [rows]; the gravest first when there are more.
    colors : mapping, optional
        Status -> colour, overriding :data:`STATUS_COLORS`.

    Returns
    -------
    Axes
        With one status cell (a ``Rectangle`` whose ``gid`` is ``"status:<status>"``) per row
        and the values as text; the title counts the statuses.
    """
    palette = {**STATUS_COLORS, **(colors or {})}
    missing = [c for c in ("check", "scope", "status", "value", "threshold") if c not in health]
    if missing:
        raise ValueError(
            "plot_health_dashboard needs health_checks() output; missing " + ", ".join(missing)
        )
    table = health.copy()
    table["status"] = table["status"].astype("string")
    if latest_only and "period_start" in table:
        table = table.sort_values("period_start", kind="stable")
        table = table.drop_duplicates(["check", "scope"], keep="last")
    rank = {"critical": 0, "warning": 1, "ok": 2}
    order = table["status"].map(rank).fillna(3).to_numpy()
    if len(table) > max_rows:
        table = table.iloc[np.argsort(order, kind="stable")[:max_rows]]
    table = table.reset_index(drop=True)

    rows = len(table)
    if ax is None:
        _, ax = plt.subplots(figsize=(12.0, 0.9 + 0.32 * max(rows, 1)))
    widths = np.array([w for _, w in _DASHBOARD_COLUMNS])
    edges = np.concatenate([[0.0], np.cumsum(widths)])
    ax.set_xlim(0, edges[-1])
    ax.set_ylim(rows + 1, 0)
    ax.set_axis_off()
    for (header, _), left in zip(_DASHBOARD_COLUMNS, edges[:-1], strict=True):
        ax.text(left + 0.08, 0.5, header, fontweight="bold", va="center", ha="left", fontsize=9)
    ax.axhline(1.0, color="0.3", linewidth=0.8)
    for i, row in enumerate(table.itertuples(index=False)):
        y = i + 1.5
        status = str(row.status)
        if i % 2:
            ax.add_patch(Rectangle((0, i + 1), edges[-1], 1, facecolor="0.95", edgecolor="none",
                                   zorder=0))  # fmt: skip
        low_volume = bool(getattr(row, "low_volume", False))
        cells = [
            str(row.check),
            str(row.scope),
            _period(getattr(row, "period_start", None), getattr(row, "period_end", None)),
            _value(row),
            _level(row.threshold, row),
            _level(getattr(row, "threshold_critical", math.nan), row),
        ]
        for text, left in zip(cells, edges[:-2], strict=True):
            ax.text(left + 0.08, y, text, va="center", ha="left", fontsize=8.5,
                    color="0.45" if low_volume else "0.1")  # fmt: skip
        left, width = edges[-2], widths[-1]
        ax.add_patch(
            Rectangle(
                (left + 0.05, i + 1.12),
                width - 0.1,
                0.76,
                facecolor=palette.get(status, "0.7"),
                edgecolor="none",
                gid=f"status:{status}",
            )  # fmt: skip
        )
        ax.text(left + width / 2, y, status + ("*" if low_volume else ""), ha="center",
                va="center", fontsize=8, color="white", fontweight="bold")  # fmt: skip
    counts = table["status"].value_counts()
    summary = ", ".join(f"{int(counts.get(s, 0))} {s}" for s in ("critical", "warning", "ok"))
    ax.set_title(f"Reputation health: {rows} checks ({summary})", loc="left", fontsize=11)
    if "low_volume" in table and table["low_volume"].astype(bool).any():
        ax.text(0.08, rows + 0.75, "* low volume: the status may be noise (grey rows)",
                fontsize=7.5, color="0.45", va="center")  # fmt: skip
    return ax


def plot_risk_timeline(
    signals: pd.DataFrame,
    ax: Axes | None = None,
    *,
    annotate: bool | None = None,
    colors: Mapping[str, str] | None = None,
) -> Axes:
    """Risk signals over time, one row per scope, marker and colour by severity.

    Each episode is a marker on its first day and, when it lasts longer, a line to its last
    day (``gid="episode"``). Inside a scope's row each signal has its own lane.

    Parameters
    ----------
    signals : DataFrame
        :func:`deliverability_econ.signals.risk_signals` output (``date``, ``scope``,
        ``signal``, ``severity``; ``end_date`` when merged into episodes).
    ax : Axes, optional
        Where to draw; a new figure sized to the scopes when None.
    annotate : bool, optional
        Write the signal name next to each marker; by default when there are at most 30
        episodes.
    colors : mapping, optional
        Severity -> colour, overriding :data:`STATUS_COLORS`.

    Returns
    -------
    Axes
        One scatter collection per severity present (``label`` = the severity), y tick
        labels = the scopes (gravest-hit first), a legend of severities.
    """
    palette = {**STATUS_COLORS, **(colors or {})}
    missing = [c for c in ("date", "scope", "signal", "severity") if c not in signals]
    if missing:
        raise ValueError(
            "plot_risk_timeline needs risk_signals() output; missing " + ", ".join(missing)
        )
    table = signals.copy()
    table["severity"] = table["severity"].astype("string")
    table["date"] = pd.to_datetime(table["date"])
    table["end_date"] = pd.to_datetime(table["end_date"]) if "end_date" in table else table["date"]
    rank = {"critical": 2, "warning": 1, "info": 0}
    table["_rank"] = table["severity"].map(rank).fillna(0).astype(int)
    scopes = (
        table.groupby("scope", sort=True)["_rank"].agg(["max", "size"])
        .sort_values(["max", "size"], ascending=False, kind="stable").index.tolist()
    )  # fmt: skip
    lanes = table.groupby("scope")["signal"].nunique() if len(table) else pd.Series(dtype=int)
    if ax is None:
        height = 1.2 + 0.22 * max(int(lanes.clip(lower=2).sum()), 2)
        _, ax = plt.subplots(figsize=(11.0, height))
    if table.empty:
        ax.text(0.5, 0.5, "No risk signals", ha="center", va="center", transform=ax.transAxes)
        ax.set_yticks([])
        ax.set_title("Risk signals", loc="left")
        return ax
    # One lane per signal inside a scope's row, so that signals of one day do not overlap.
    position = {}
    for i, scope in enumerate(scopes):
        names = [n for n in _SIGNAL_ORDER if n in set(table.loc[table["scope"] == scope, "signal"])]
        names += sorted(set(table.loc[table["scope"] == scope, "signal"]) - set(names))
        offsets = np.linspace(-0.3, 0.3, len(names)) if len(names) > 1 else [0.0]
        position.update({(scope, name): i + o for name, o in zip(names, offsets, strict=True)})
    table["y_position"] = [position[(s, n)] for s, n in zip(table["scope"], table["signal"],
                                                             strict=True)]  # fmt: skip
    for row in table[table["end_date"] > table["date"]].itertuples(index=False):
        ax.plot([row.date, row.end_date], [row.y_position, row.y_position], color=palette.get(row.severity, "0.5"),
                linewidth=2.5, alpha=0.5, solid_capstyle="round", zorder=1, gid="episode")  # fmt: skip
    for severity in ("info", "warning", "critical"):
        part = table[table["severity"] == severity]
        if part.empty:
            continue
        ax.scatter(part["date"], part["y_position"], marker=SEVERITY_MARKERS[severity], s=70,
                   color=palette[severity], edgecolor="white", linewidth=0.6, zorder=3,
                   label=severity)  # fmt: skip
    if annotate is None:
        annotate = len(table) <= 30
    if annotate:
        for row in table.itertuples(index=False):
            ax.annotate(str(row.signal).replace("_", " "), (row.date, row.y_position),
                        xytext=(6, 0), textcoords="offset points", fontsize=7, color="0.25",
                        va="center")  # fmt: skip
    ax.set_yticks(range(len(scopes)), scopes)
    ax.set_ylim(len(scopes) - 0.5, -0.5)
    for boundary in np.arange(len(scopes) - 1) + 0.5:
        ax.axhline(boundary, color="0.85", linewidth=0.6)
    ax.grid(axis="x", color="0.9")
    ax.set_axisbelow(True)
    ax.legend(title="severity", loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False,
              handles=[Line2D([], [], linestyle="none", marker=SEVERITY_MARKERS[s],
                              color=palette[s], markersize=8, label=s)
                       for s in ("critical", "warning", "info")
                       if (table["severity"] == s).any()])  # fmt: skip
    ax.set_title(f"Risk signals: {len(table)} episodes in {len(scopes)} scopes", loc="left")
    ax.figure.autofmt_xdate()
    return ax


_SIGNAL_ORDER: tuple[str, ...] = (
    "volume_spike", "inconsistent_sending", "hard_bounce_rise", "block_rise", "deferral_rise",
    "complaint_spike", "engagement_drop", "placement_drop", "delayed_transactional",
    "reputation_volatility",
)  # fmt: skip


def _period(start, end) -> str:
    if start is None or pd.isna(start):
        return ""
    start = pd.Timestamp(start)
    if end is None or pd.isna(end) or pd.Timestamp(end) == start:
        return f"{start:%Y-%m-%d}"
    return f"{start:%Y-%m-%d} to {pd.Timestamp(end):%m-%d}"


def _is_fraction(row) -> bool:
    threshold = row.threshold
    return not (isinstance(threshold, float) and math.isnan(threshold)) and threshold < 1.0


def _value(row) -> str:
    verdict = getattr(row, "verdict", None)
    if verdict is not None and not pd.isna(verdict):
        return str(verdict)
    value = row.value
    if value is None or pd.isna(value):
        return "-"
    if _is_fraction(row):
        return f"{value:.2%}"
    return f"{value:,.0f}"


def _level(level, row) -> str:
    if level is None or pd.isna(level):
        return "-"
    if _is_fraction(row):
        return f"{level:.2%}"
    return f"{level:,.0f}"
