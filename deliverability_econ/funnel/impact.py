"""Leakage and money: conversions lost to placement and lateness, and the four cost lines.

For a funnel driven by a stream, in each mailbox provider x placement period x month cell with
``sent`` conversion opportunities (messages sent / the stage's ``messages_per_conversion``, 1
unless a sequence of mails serves one conversion), the share of messages *seen* is

.. math:: s = (\\text{inbox} + r \\cdot \\text{spam}) \\cdot t

with ``inbox`` and ``spam`` the placement [fraction of messages sent], ``r`` the stage's
``spam_rescue`` and ``t`` the share of delivered messages delivered within the stage's
``deadline_minutes`` (1 for mail that is not time-critical). The email stage converts with
``c_seen`` when seen and ``c_unseen`` (the baseline without the email) otherwise, so the
conversions lost against a counterfactual placement (subscript ``cf``) are

.. math:: \\text{lost} = \\text{sent} \\cdot (s_{cf} - s) \\cdot (c_{seen} - c_{unseen})

split into lost to placement, ``sent * ((inbox_cf + r spam_cf) - (inbox + r spam)) * t_cf *
(c_seen - c_unseen)``, and lost to late delivery, ``sent * (inbox + r spam) * (t_cf - t) *
(c_seen - c_unseen)``. Each part is floored at zero per cell and draw (``floor_at_zero``): a
cell already above the counterfactual loses nothing, and its surplus does not offset another
cell's loss. A later stage loses ``lost`` times its ``conversion``, and so on down the funnel.

Each cost line is the lost conversions at one stage times money parameters
(:data:`~._defaults.TEMPLATES`; :data:`~._defaults.COST_LINE_MEANINGS`):

- lost revenue = lost paying customers x lifetime value (or won deals x deal value, purchases x
  order value);
- wasted acquisition = lost activations x acquisition cost per sign-up;
- support overhead = lost conversions x tickets per lost conversion x cost per ticket;
- churn = lost renewals x annual contract value, lost recoveries (and customers lost after a
  failed sign-in) x monthly recurring revenue x remaining lifetime [months].

Wasted acquisition and lost revenue look at the same lost users from two sides (the spend that
bought nothing, the revenue they would have brought); :func:`revenue_at_risk` sums all four
lines by default, ``lines=`` picks others.

Uncertainty: every sampled parameter is drawn from a Beta-PERT over (low, value, high); each
placement row's inbox rate from a two-piece normal whose ``(1 -+ interval) / 2`` quantiles are
``inbox_low`` and ``inbox_high`` (clipped to [0, 1]), with one standard-normal draw shared by
every row by default (the calibration error behind an estimate is common to all periods and
providers; ``placement_dependence="independent"`` draws per row). The spam share keeps the
row's split of non-inbox mail between spam and missing. All draws come from one
``random_state``; the p10, p50 and p90 of every figure are percentiles over the draws.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import ndtri

from .._random import RandomState, check_random_state
from ._defaults import COST_LINES, Parameter
from .config import (
    ConfigError,
    CounterfactualPlacement,
    FunnelConfig,
    _counterfactual,
    default_funnels,
)

#: Percentiles reported for every figure [percent].
PERCENTILES: tuple[int, ...] = (10, 50, 90)

#: Days in an average month [days], to express a period's total per month.
DAYS_PER_MONTH = 365.25 / 12

#: Columns a placement table must have (``estimate_placement`` output).
PLACEMENT_COLUMNS: tuple[str, ...] = ("inbox_rate", "inbox_low", "inbox_high", "spam_rate",
                                      "missing_rate")

#: Names tried, in order, for the period column of a placement table.
PLACEMENT_TIME_COLUMNS: tuple[str, ...] = ("period_start", "period", "week", "date", "month",
                                           "start")

DEFAULT_DRAWS = 2000


class FunnelWarning(UserWarning):
    """A funnel computation that rests on a fallback (no messages for a stream, a provider
    missing from the placement table, delivery times unknown for a time-critical stream)."""


@dataclass
class FunnelImpact:
    """Monte Carlo draws of lost conversions and money, with the cells they belong to.

    Attributes
    ----------
    leakage_rows : DataFrame
        One row per funnel x stage x mailbox provider x month: ``funnel``, ``stream``,
        ``stage``, ``mailbox_provider``, ``month`` (first day, naive UTC), ``sent``
        [messages], ``delivered`` [messages], ``inbox_rate`` and ``counterfactual_inbox_rate``
        (point values weighted by messages sent) [fraction 0-1], ``in_time_share`` [fraction of
        delivered].
    lost, lost_late, conversions : ndarray, shape (len(leakage_rows), draws)
        Conversions lost (placement and lateness together), lost to late delivery alone, and
        the conversions of the actual placement [conversions].
    cost_rows : DataFrame
        One row per funnel x cost line x mailbox provider x month.
    cost : ndarray, shape (len(cost_rows), draws)
        Money [currency].
    currency : str
    days_by_month : Series
        Calendar days each month covers in the data [days].
    counterfactual : str
        What the loss is measured against.
    draws : int
    """

    leakage_rows: pd.DataFrame
    lost: np.ndarray
    lost_late: np.ndarray
    conversions: np.ndarray
    cost_rows: pd.DataFrame
    cost: np.ndarray
    currency: str
    days_by_month: pd.Series
    counterfactual: str
    draws: int
    config: FunnelConfig = field(repr=False)

    def leakage(self, by: Sequence[str] = ("funnel", "stream", "stage", "mailbox_provider",
                                           "month")) -> pd.DataFrame:
        """Lost conversions per group with p10/p50/p90.

        Returns
        -------
        DataFrame
            ``by`` columns, ``sent`` [messages of the funnel's email stage],
            ``inbox_rate`` and ``counterfactual_inbox_rate`` (weighted by messages sent),
            ``in_time_share`` (weighted by messages delivered) [fraction 0-1], then
            ``lost_p10``, ``lost_p50``, ``lost_p90`` [conversions], ``lost_late_p10`` ...
            (the part lost to late delivery), ``conversions_p50`` (actual) and
            ``lost_share_p50`` (lost / (actual + lost)) [fraction 0-1]. Summing over stages
            mixes different conversions: keep ``stage`` in ``by`` unless you mean it.
        """
        by = list(by)
        rows = self.leakage_rows
        codes, keys = _group(rows, by)
        email = rows["stage_index"].to_numpy() == 0
        sent = np.bincount(codes[email], weights=rows["sent"].to_numpy(float)[email],
                           minlength=len(keys))
        out = keys.copy()
        out["sent"] = sent.astype("int64")
        weights = rows["sent"].to_numpy(float) * email
        delivered = rows["delivered"].to_numpy(float) * email
        with np.errstate(invalid="ignore", divide="ignore"):
            for column, weight, total in (("inbox_rate", weights, sent),
                                          ("counterfactual_inbox_rate", weights, sent)):
                values = np.nan_to_num(rows[column].to_numpy(float)) * weight
                out[column] = np.bincount(codes, weights=values, minlength=len(keys)) / total
            total_delivered = np.bincount(codes, weights=delivered, minlength=len(keys))
            in_time = np.nan_to_num(rows["in_time_share"].to_numpy(float)) * delivered
            out["in_time_share"] = np.bincount(codes, weights=in_time,
                                               minlength=len(keys)) / total_delivered
        lost = _sum_rows(self.lost, codes, len(keys))
        late = _sum_rows(self.lost_late, codes, len(keys))
        actual = _sum_rows(self.conversions, codes, len(keys))
        out = _with_percentiles(out, "lost", lost)
        out = _with_percentiles(out, "lost_late", late)
        out["conversions_p50"] = np.percentile(actual, 50, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out["lost_share_p50"] = np.nan_to_num(np.percentile(lost / (actual + lost), 50, axis=1))
        return out

    def cost_lines(self, by: Sequence[str] = ("funnel", "line", "month")) -> pd.DataFrame:
        """Money per group and cost line with p10/p50/p90 [currency].

        Returns
        -------
        DataFrame
            ``by`` columns, ``p10``, ``p50``, ``p90``, ``mean`` and ``currency``.
        """
        codes, keys = _group(self.cost_rows, list(by))
        totals = _sum_rows(self.cost, codes, len(keys))
        out = _with_percentiles(keys.copy(), None, totals)
        out["mean"] = totals.mean(axis=1)
        out["currency"] = self.currency
        return out

    def total_draws(self, lines: Sequence[str] = COST_LINES) -> np.ndarray:
        """Total money of the period per draw [currency], summing ``lines``."""
        unknown = [line for line in lines if line not in COST_LINES]
        if unknown:
            raise ValueError(f"unknown cost line {unknown[0]!r}; known: {', '.join(COST_LINES)}")
        keep = self.cost_rows["line"].isin(list(lines)).to_numpy()
        return self.cost[keep].sum(axis=0)

    def revenue_at_risk(self, lines: Sequence[str] = COST_LINES) -> RevenueAtRisk:
        """Money at risk per month and on average per month; see :func:`revenue_at_risk`."""
        keep = self.cost_rows["line"].isin(list(lines)).to_numpy()
        rows = self.cost_rows[keep]
        cost = self.cost[keep]
        codes, keys = _group(rows, ["month"])
        by_month = _with_percentiles(keys.copy(), None, _sum_rows(cost, codes, len(keys)))
        by_month["days_covered"] = by_month["month"].map(self.days_by_month).astype("int64")
        by_month["currency"] = self.currency
        total_days = float(self.days_by_month.sum())
        per_month = cost.sum(axis=0) * DAYS_PER_MONTH / total_days if total_days else cost.sum(0)
        monthly = {f"p{q}": float(np.percentile(per_month, q)) for q in PERCENTILES}
        line_codes, line_keys = _group(rows, ["line"])
        by_line = _with_percentiles(
            line_keys.copy(), None,
            _sum_rows(cost, line_codes, len(line_keys)) * DAYS_PER_MONTH / max(total_days, 1.0))
        return RevenueAtRisk(by_month=by_month, monthly=monthly, by_line_monthly=by_line,
                             currency=self.currency, lines=tuple(lines), days=int(total_days),
                             counterfactual=self.counterfactual, draws=per_month)


@dataclass
class RevenueAtRisk:
    """Money at risk from placement and late delivery, in the config's currency.

    Attributes
    ----------
    by_month : DataFrame
        ``month`` (first day), ``p10``, ``p50``, ``p90`` [currency in that calendar month, as
        covered by the data], ``days_covered`` [days], ``currency``.
    monthly : dict
        ``{"p10", "p50", "p90"}`` of the average month (the period's total x 30.44 / days)
        [currency/month]: the report's ``revenue_at_risk_per_month``.
    by_line_monthly : DataFrame
        ``line``, ``p10``, ``p50``, ``p90`` per average month [currency/month].
    currency : str
    lines : tuple of str
        Cost lines summed.
    days : int
        Days the data covers.
    counterfactual : str
    draws : ndarray
        The average month per draw [currency/month].
    """

    by_month: pd.DataFrame
    monthly: dict[str, float]
    by_line_monthly: pd.DataFrame
    currency: str
    lines: tuple[str, ...]
    days: int
    counterfactual: str
    draws: np.ndarray = field(repr=False)

    def summary(self) -> dict[str, float]:
        """``{"p10", "p50", "p90"}`` for ``summary.json``'s ``revenue_at_risk_per_month``."""
        return dict(self.monthly)


# --------------------------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------------------------


def funnel_impact(
    messages_or_cube: pd.DataFrame,
    placement: pd.DataFrame,
    config: FunnelConfig | None = None,
    *,
    counterfactual: str | float | dict | pd.DataFrame | None = None,
    draws: int = DEFAULT_DRAWS,
    interval: float = 0.9,
    placement_dependence: str = "shared",
    counterfactual_draws: str = "independent",
    floor_at_zero: bool = True,
    random_state: RandomState = None,
) -> FunnelImpact:
    """Monte Carlo of conversions and money lost to placement and late delivery.

    Parameters
    ----------
    messages_or_cube : DataFrame
        The messages table (:func:`deliverability_econ.messages`; gives delivery times for
        time-critical streams) or a daily cube broken down by ``("mailbox_provider",
        "stream")`` (no delivery times: time-critical streams then count as in time, with a
        :class:`FunnelWarning`). Gives the messages sent per stream, provider and day.
    placement : DataFrame
        Actual placement, as :func:`deliverability_econ.estimate_placement` returns it: one
        row per mailbox provider (optional column ``mailbox_provider``) and period (optional
        time column, the period's first day: one of :data:`PLACEMENT_TIME_COLUMNS`, or a
        ``DatetimeIndex``/``PeriodIndex``), optionally per ``stream``; columns
        :data:`PLACEMENT_COLUMNS` [fraction 0-1 of messages sent]. A day takes the row of the
        latest period starting on or before it.
    config : FunnelConfig, optional
        Funnels and money (:func:`load_funnels`); :func:`default_funnels` when None.
    counterfactual : str, float, dict or DataFrame, optional
        What placement could be: a name in
        :data:`~._defaults.COUNTERFACTUAL_PLACEMENTS` (``"top_reputation"``, ``"benchmark"``,
        ``"global_benchmark"``), a target inbox rate [fraction 0-1], a mapping provider ->
        rate, or another scenario's placement table (same layout as ``placement``). Default:
        the config's ``[counterfactual] placement``.
    draws : int
        Monte Carlo draws.
    interval : float
        Probability of the placement tables' ``inbox_low``-``inbox_high`` intervals.
    placement_dependence : {"shared", "independent"}
        One standard-normal draw for every placement row (default) or one per row.
    counterfactual_draws : {"independent", "common"}
        For a counterfactual placement *table*: draw its uncertainty apart from the actual
        placement's (default: another estimate, its errors unrelated), or reuse the actual
        placement's standard-normal draws (``"common"``: a counterfactual derived from the same
        estimate, e.g. the same placement with one cause removed, whose error is the actual
        estimate's error; then an unchanged row loses nothing in any draw). ``"common"`` needs
        a table with the same rows as ``placement``.
    floor_at_zero : bool
        Count no gain where placement already beats the counterfactual.
    random_state : None, int or numpy.random.Generator
        The one source of randomness; the same seed gives the same result.

    Returns
    -------
    FunnelImpact
    """
    config = config or default_funnels()
    if placement_dependence not in ("shared", "independent"):
        raise ValueError("placement_dependence must be 'shared' or 'independent', "
                         f"not {placement_dependence!r}")
    if counterfactual_draws not in ("independent", "common"):
        raise ValueError("counterfactual_draws must be 'independent' or 'common', "
                         f"not {counterfactual_draws!r}")
    if int(draws) != draws or draws < 1:
        raise ValueError(f"draws must be a positive integer, not {draws!r}")
    if not 0 < interval < 1:
        raise ValueError(f"interval must be in (0, 1), not {interval!r}")
    draws = int(draws)
    rng = check_random_state(random_state)
    volumes = _volumes(messages_or_cube, config)
    actual = _PlacementTable(placement, "placement")

    # Randomness, in a fixed order: actual placement, counterfactual, parameters.
    z_quantile = float(ndtri((1 + interval) / 2))
    actual_normal = actual.standard_normal(rng, draws, placement_dependence)
    actual_inbox = actual.draw_from(actual_normal, z_quantile)
    if counterfactual is None:
        counterfactual = config.counterfactual
    if isinstance(counterfactual, pd.DataFrame):
        cf_table = _PlacementTable(counterfactual, "counterfactual")
        if counterfactual_draws == "common":
            if actual_normal.shape[0] not in (1, len(cf_table.inbox_point)):
                raise ValueError("counterfactual_draws='common' needs a counterfactual table "
                                 "with the same rows as the placement table")
            cf_inbox = cf_table.draw_from(actual_normal, z_quantile)
        else:
            cf_inbox = cf_table.draw(rng, draws, z_quantile, placement_dependence)
        cf_label = "another placement table"
    else:
        if not isinstance(counterfactual, CounterfactualPlacement):
            try:
                counterfactual = _counterfactual(counterfactual, "<argument>", "counterfactual")
            except ConfigError as exc:
                raise ValueError(str(exc)) from exc
        cf_table, cf_label = counterfactual, counterfactual.label
        cf_providers = sorted(counterfactual.by_provider)
        cf_draws = {p: _pert(rng, *_vlh(counterfactual.by_provider[p]), draws)
                    for p in cf_providers}
    parameters = config.parameters()
    parameter_draws = {key: _draw_parameter(rng, parameters[key], draws)
                       for key in sorted(parameters)}

    leak_frames, lost_all, late_all, actual_all = [], [], [], []
    cost_frames, cost_all = [], []
    for funnel in config.funnels.values():
        cells = volumes[volumes["funnel"] == funnel.name]
        if cells.empty:
            continue
        row = actual.match(cells)
        inbox = actual_inbox[row]
        spam = (1.0 - inbox) * actual.spam_split[row][:, None]
        if isinstance(cf_table, _PlacementTable):
            cf_row = cf_table.match(cells)
            inbox_cf = cf_inbox[cf_row]
            cf_point = cf_table.inbox_point[cf_row]
            if cf_table.has_spam:
                spam_cf = (1.0 - inbox_cf) * cf_table.spam_split[cf_row][:, None]
            else:
                spam_cf = (1.0 - inbox_cf) * actual.spam_split[row][:, None]
        else:
            providers = cells["mailbox_provider"].astype(str).to_numpy()
            keys = [p if p in cf_table.by_provider else "*" for p in providers]
            if any(k not in cf_table.by_provider for k in keys):
                raise ValueError(f"the counterfactual {cf_label!r} has no value for some "
                                 'providers and no "*" entry')
            inbox_cf = np.stack([cf_draws[k] for k in keys])
            cf_point = np.array([cf_table.by_provider[k][0] for k in keys])
            spam_cf = (1.0 - inbox_cf) * actual.spam_split[row][:, None]

        email = funnel.email_stage
        prefix = f"{funnel.name}.{email.name}."
        rescue = parameter_draws[prefix + "spam_rescue"][None, :]
        c_seen = parameter_draws[prefix + "conversion_if_seen"][None, :]
        c_unseen = parameter_draws[prefix + "conversion_if_unseen"][None, :]
        lift = c_seen - c_unseen
        per_opportunity = email.parameters["messages_per_conversion"].value
        sent = cells["sent"].to_numpy(float)[:, None] / per_opportunity
        t_act = cells["in_time_share"].to_numpy(float)[:, None]
        t_cf = np.maximum(parameter_draws["counterfactual.in_time_share"][None, :], 0.0)
        visible = inbox + rescue * spam
        visible_cf = inbox_cf + rescue * spam_cf
        lost_place = sent * (visible_cf - visible) * t_cf * lift
        lost_late = sent * visible * (t_cf - t_act) * lift
        if floor_at_zero:
            lost_place = np.maximum(lost_place, 0.0)
            lost_late = np.maximum(lost_late, 0.0)
        seen = visible * t_act
        converted = sent * (seen * c_seen + (1.0 - seen) * c_unseen)

        # Reduce cells (provider x placement row x month) to provider x month before the
        # per-stage and per-line products, which share their draws across cells.
        codes, groups = _group(cells, ["mailbox_provider", "month"])
        n = len(groups)
        weights = cells["sent"].to_numpy(float)
        sent_g = np.bincount(codes, weights=weights, minlength=n)
        groups["sent"] = sent_g.astype("int64")
        groups["delivered"] = np.bincount(codes, weights=cells["delivered"].to_numpy(float),
                                          minlength=n).astype("int64")
        with np.errstate(invalid="ignore", divide="ignore"):
            groups["inbox_rate"] = np.bincount(
                codes, weights=weights * actual.inbox_point[row], minlength=n) / sent_g
            groups["counterfactual_inbox_rate"] = np.bincount(
                codes, weights=weights * cf_point, minlength=n) / sent_g
            groups["in_time_share"] = np.bincount(
                codes, weights=cells["in_time"].to_numpy(float), minlength=n) / groups["delivered"]
        lost_g = _sum_rows(lost_place + lost_late, codes, n)
        late_g = _sum_rows(lost_late, codes, n)
        conv_g = _sum_rows(converted, codes, n)

        stage_lost: dict[str, np.ndarray] = {}
        for index, stage in enumerate(funnel.stages):
            if index > 0:
                factor = parameter_draws[f"{funnel.name}.{stage.name}.conversion"][None, :]
                lost_g, late_g, conv_g = lost_g * factor, late_g * factor, conv_g * factor
            stage_lost[stage.name] = lost_g
            frame = groups.copy()
            frame.insert(0, "stage", stage.name)
            frame.insert(0, "stream", funnel.stream)
            frame.insert(0, "funnel", funnel.name)
            frame["stage_index"] = index
            leak_frames.append(frame)
            lost_all.append(lost_g)
            late_all.append(late_g)
            actual_all.append(conv_g)

        for line in funnel.cost_lines:
            if _always_zero(funnel, line):
                continue
            value = np.ones(draws)
            for factor_key in line.factors:
                key = factor_key if factor_key.startswith("money.") else f"{funnel.name}.{factor_key}"
                value = value * parameter_draws[key]
            frame = groups[["mailbox_provider", "month"]].copy()
            frame.insert(0, "line", line.line)
            frame.insert(0, "stage", line.stage)
            frame.insert(0, "funnel", funnel.name)
            cost_frames.append(frame)
            cost_all.append(stage_lost[line.stage] * value[None, :])

    leakage_rows = (pd.concat(leak_frames, ignore_index=True) if leak_frames
                    else pd.DataFrame(columns=["funnel", "stream", "stage", "mailbox_provider",
                                               "month", "sent", "stage_index"]))
    cost_rows = (pd.concat(cost_frames, ignore_index=True) if cost_frames
                 else pd.DataFrame(columns=["funnel", "stage", "line", "mailbox_provider", "month"]))
    empty = np.zeros((0, draws))
    return FunnelImpact(
        leakage_rows=leakage_rows,
        lost=np.vstack(lost_all) if lost_all else empty,
        lost_late=np.vstack(late_all) if late_all else empty,
        conversions=np.vstack(actual_all) if actual_all else empty,
        cost_rows=cost_rows,
        cost=np.vstack(cost_all) if cost_all else empty,
        currency=config.currency,
        days_by_month=_days_by_month(volumes),
        counterfactual=cf_label,
        draws=draws,
        config=config,
    )


def leakage(messages_or_cube: pd.DataFrame, placement: pd.DataFrame,
            config: FunnelConfig | None = None, *,
            by: Sequence[str] = ("funnel", "stream", "stage", "mailbox_provider", "month"),
            **options) -> pd.DataFrame:
    """Conversions lost per funnel stage, mailbox provider and month, with p10/p50/p90.

    ``lost = sent * (seen_cf - seen) * (conversion_if_seen - conversion_if_unseen)`` at the
    email stage (module docstring), times each later stage's conversion. Arguments as in
    :func:`funnel_impact` (``options`` are its keyword arguments); returns
    :meth:`FunnelImpact.leakage`.

    Examples
    --------
    1,000 verification mails landed 0.80 in the inbox; a top-reputation sender gets 0.92. With
    a verification rate of 0.92 when seen and 0.20 when not (and no spam rescue), how many
    verifications were lost? ``1000 * (0.92 - 0.80) * (0.92 - 0.20) = 86.4``:

    >>> import pandas as pd
    >>> from deliverability_econ.funnel import funnels_from_mapping
    >>> volumes = pd.DataFrame({"date": pd.to_datetime(["2026-01-05"]),
    ...                         "mailbox_provider": ["gmail"], "stream": ["verification"],
    ...                         "messages": [1000], "delivered": [950]})
    >>> placement = pd.DataFrame({"mailbox_provider": ["gmail"], "inbox_rate": [0.80],
    ...                           "inbox_low": [0.80], "inbox_high": [0.80],
    ...                           "spam_rate": [0.15], "missing_rate": [0.05]})
    >>> config = funnels_from_mapping({
    ...     "funnels": {"signup": {"stages": {"verification": {
    ...         "conversion_if_seen": 0.92, "conversion_if_unseen": 0.20, "spam_rescue": 0.0}}}},
    ...     "counterfactual": {"placement": 0.92}})
    >>> table = leakage(volumes, placement, config, random_state=0)
    >>> round(table.loc[table["stage"] == "verification", "lost_p50"].item(), 1)
    86.4
    """
    return funnel_impact(messages_or_cube, placement, config, **options).leakage(by)


def cost_lines(messages_or_cube: pd.DataFrame, placement: pd.DataFrame,
               config: FunnelConfig | None = None, *,
               by: Sequence[str] = ("funnel", "line", "month"), **options) -> pd.DataFrame:
    """The four cost lines per funnel and month with p10/p50/p90 [config currency].

    Arguments as in :func:`funnel_impact`; returns :meth:`FunnelImpact.cost_lines`.
    """
    return funnel_impact(messages_or_cube, placement, config, **options).cost_lines(by)


def revenue_at_risk(messages_or_cube: pd.DataFrame, placement: pd.DataFrame,
                    config: FunnelConfig | None = None, *, lines: Sequence[str] = COST_LINES,
                    **options) -> RevenueAtRisk:
    """Money at risk per month from mail that missed the inbox or arrived late.

    Sums the cost lines ``lines`` (default all four) of every funnel, per calendar month and
    for the average month, with p10/p50/p90 over the Monte Carlo draws, in the config's
    currency. ``result.summary()`` is the report's ``revenue_at_risk_per_month``.

    Parameters
    ----------
    messages_or_cube, placement, config
        As in :func:`funnel_impact`.
    lines : sequence of str
        Cost lines to sum (:data:`~._defaults.COST_LINES`).
    **options
        ``counterfactual``, ``draws``, ``interval``, ``placement_dependence``,
        ``floor_at_zero``, ``random_state`` (:func:`funnel_impact`).

    Returns
    -------
    RevenueAtRisk
    """
    return funnel_impact(messages_or_cube, placement, config, **options).revenue_at_risk(lines)


# --------------------------------------------------------------------------------------------
# Volumes
# --------------------------------------------------------------------------------------------


def _volumes(frame: pd.DataFrame, config: FunnelConfig) -> pd.DataFrame:
    """Messages sent, delivered and delivered in time per funnel, provider and day."""
    is_messages = "sent_at" in frame.columns
    needed = (("sent_at", "stream", "mailbox_provider", "delivered") if is_messages
              else ("date", "stream", "mailbox_provider", "messages", "delivered"))
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(
            "funnels need the messages table or a daily cube by ('mailbox_provider', 'stream'); "
            "missing columns: " + ", ".join(missing))
    if is_messages:
        sent_at = pd.to_datetime(frame["sent_at"], utc=True)
        date = sent_at.dt.tz_localize(None).dt.floor("D")
    else:
        date = pd.to_datetime(frame["date"])
        if isinstance(date.dtype, pd.DatetimeTZDtype):
            date = date.dt.tz_convert("UTC").dt.tz_localize(None)
        date = date.dt.floor("D")
    date = date.astype("datetime64[ns]")
    stream = frame["stream"].astype("string")
    provider = frame["mailbox_provider"].astype("string").fillna("other")
    out = []
    for funnel in config.funnels.values():
        mask = (stream == funnel.stream).fillna(False).to_numpy()
        if not mask.any():
            warnings.warn(f"funnel {funnel.name!r}: no messages in stream {funnel.stream!r}; it "
                          "contributes nothing", FunnelWarning, stacklevel=3)
            continue
        deadline_s = funnel.email_stage.parameters["deadline_minutes"].value * 60.0
        if is_messages:
            sent = np.ones(mask.sum())
            delivered = frame["delivered"].to_numpy(dtype=bool, na_value=False)[mask]
            latency = frame["delivery_latency_s"].to_numpy(dtype=float, na_value=np.nan)[mask] \
                if "delivery_latency_s" in frame.columns else np.full(mask.sum(), np.nan)
            if np.isfinite(deadline_s):
                # A delivered message without a measured latency counts as in time.
                in_time = delivered & ~(latency > deadline_s)
            else:
                in_time = delivered
        else:
            sent = frame["messages"].to_numpy(float)[mask]
            delivered = frame["delivered"].to_numpy(float)[mask]
            in_time = delivered
            if np.isfinite(deadline_s):
                warnings.warn(f"funnel {funnel.name!r} is time-critical but a cube has no "
                              "delivery times: every delivered message counts as in time; pass "
                              "the messages table", FunnelWarning, stacklevel=3)
        part = pd.DataFrame({
            "date": date[mask].to_numpy(),
            "mailbox_provider": provider[mask].to_numpy(),
            "stream": stream[mask].to_numpy(),
            "sent": sent,
            "delivered": np.asarray(delivered, float),
            "in_time": np.asarray(in_time, float),
        })
        part = part.groupby(["date", "mailbox_provider", "stream"], as_index=False, sort=True)[
            ["sent", "delivered", "in_time"]].sum()
        part.insert(0, "funnel", funnel.name)
        out.append(part)
    if not out:
        raise ValueError("no messages in any funnel's stream; streams configured: "
                         + ", ".join(f.stream for f in config.funnels.values()))
    volumes = pd.concat(out, ignore_index=True)
    volumes["month"] = volumes["date"].dt.to_period("M").dt.to_timestamp()
    with np.errstate(invalid="ignore", divide="ignore"):
        volumes["in_time_share"] = np.where(volumes["delivered"] > 0,
                                            volumes["in_time"] / volumes["delivered"], 1.0)
    return volumes


def _days_by_month(volumes: pd.DataFrame) -> pd.Series:
    start, end = volumes["date"].min(), volumes["date"].max()
    days = pd.date_range(start, end, freq="D")
    months = days.to_period("M").to_timestamp()
    return pd.Series(1, index=months).groupby(level=0).sum()


# --------------------------------------------------------------------------------------------
# Placement tables
# --------------------------------------------------------------------------------------------


class _PlacementTable:
    """A placement DataFrame made matchable to volume cells, plus a pooled fallback row."""

    def __init__(self, table: pd.DataFrame, name: str):
        if not isinstance(table, pd.DataFrame):
            raise TypeError(f"{name} must be a DataFrame with columns {PLACEMENT_COLUMNS}")
        frame = table.copy()
        if isinstance(frame.index, pd.PeriodIndex | pd.DatetimeIndex):
            frame = frame.reset_index(names="period_start")
        else:
            # Keys such as mailbox_provider may sit in a (Multi)Index.
            named = [n for n in frame.index.names if n is not None]
            if named:
                frame = frame.reset_index()
        missing = [c for c in ("inbox_rate", "inbox_low", "inbox_high") if c not in frame.columns]
        if missing:
            raise ValueError(f"{name} table lacks columns {missing}; expected the columns of "
                             f"estimate_placement: {', '.join(PLACEMENT_COLUMNS)}")
        self.name = name
        self.time_column = next((c for c in PLACEMENT_TIME_COLUMNS if c in frame.columns), None)
        self.keys = [c for c in ("mailbox_provider", "stream") if c in frame.columns]
        if self.time_column is not None:
            start = frame[self.time_column]
            if isinstance(start.dtype, pd.PeriodDtype):
                start = start.dt.start_time
            start = pd.to_datetime(start)
            if isinstance(start.dtype, pd.DatetimeTZDtype):
                start = start.dt.tz_convert("UTC").dt.tz_localize(None)
            frame["_start"] = start.astype("datetime64[ns]")
        for key in self.keys:
            frame[key] = frame[key].astype("string")
        inbox = frame["inbox_rate"].to_numpy(float)
        bad = ~np.isfinite(inbox) | (inbox < 0) | (inbox > 1)
        if bad.any():
            raise ValueError(f"{name} table: inbox_rate must be a fraction in [0, 1]; row "
                             f"{int(np.flatnonzero(bad)[0])} has {inbox[bad][0]!r}")
        self.has_spam = "spam_rate" in frame.columns and "missing_rate" in frame.columns
        weights = (frame["delivered"].to_numpy(float) if "delivered" in frame.columns
                   else np.ones(len(frame)))
        weights = np.where(np.isfinite(weights) & (weights > 0), weights, 0.0)
        if weights.sum() == 0:
            weights = np.ones(len(frame))
        # Pooled fallback: a weighted mean of every row (a provider missing from the table).
        pooled = {c: np.average(np.nan_to_num(frame[c].to_numpy(float)), weights=weights)
                  for c in ("inbox_rate", "inbox_low", "inbox_high")
                  + (("spam_rate", "missing_rate") if self.has_spam else ())}
        self.frame = frame.reset_index(drop=True)
        self.pooled_index = len(frame)
        low = np.append(frame["inbox_low"].to_numpy(float), pooled["inbox_low"])
        high = np.append(frame["inbox_high"].to_numpy(float), pooled["inbox_high"])
        self.inbox_point = np.append(inbox, pooled["inbox_rate"])
        self.inbox_low = np.where(np.isfinite(low), np.minimum(low, self.inbox_point),
                                  self.inbox_point)
        self.inbox_high = np.where(np.isfinite(high), np.maximum(high, self.inbox_point),
                                   self.inbox_point)
        if self.has_spam:
            spam = np.append(frame["spam_rate"].to_numpy(float), pooled["spam_rate"])
            missing_rate = np.append(frame["missing_rate"].to_numpy(float),
                                     pooled["missing_rate"])
            non_inbox = spam + missing_rate
            with np.errstate(invalid="ignore", divide="ignore"):
                self.spam_split = np.where(non_inbox > 0, spam / non_inbox, 0.0)
        else:
            self.spam_split = np.zeros(len(self.inbox_point))

    def draw(self, rng: np.random.Generator, draws: int, z_quantile: float,
             dependence: str) -> np.ndarray:
        """Inbox-rate draws, shape (rows + 1, draws): a two-piece normal per row."""
        return self.draw_from(self.standard_normal(rng, draws, dependence), z_quantile)

    def standard_normal(self, rng: np.random.Generator, draws: int, dependence: str) -> np.ndarray:
        """The standard-normal draws behind :meth:`draw`: shape (1, draws) when shared by every
        row, else (rows + 1, draws)."""
        if dependence == "shared":
            return rng.standard_normal(draws)[None, :]
        return rng.standard_normal((len(self.inbox_point), draws))

    def draw_from(self, z: np.ndarray, z_quantile: float) -> np.ndarray:
        """Inbox-rate draws from given standard-normal draws (see :meth:`standard_normal`)."""
        below = (self.inbox_point - self.inbox_low)[:, None] / z_quantile
        above = (self.inbox_high - self.inbox_point)[:, None] / z_quantile
        values = self.inbox_point[:, None] + z * np.where(z < 0, below, above)
        return np.clip(values, 0.0, 1.0)

    def match(self, cells: pd.DataFrame) -> np.ndarray:
        """Row of the table for each volume cell (the pooled row where none matches)."""
        n = len(cells)
        left = pd.DataFrame({"_order": np.arange(n),
                             "date": cells["date"].to_numpy().astype("datetime64[ns]")})
        for key in self.keys:
            left[key] = pd.array(cells[key].astype("string").to_numpy(), dtype="string")
        right = self.frame[self.keys + (["_start"] if self.time_column else [])].copy()
        right["_row"] = np.arange(len(right))
        if self.time_column is None:
            merged = left.merge(right, on=self.keys, how="left") if self.keys else \
                left.assign(_row=0 if len(right) == 1 else np.nan)
            if not self.keys and len(right) != 1:
                raise ValueError(f"{self.name} table has several rows but no period, "
                                 "provider or stream column to tell them apart")
            merged = merged.drop_duplicates("_order").sort_values("_order")
        else:
            left = left.sort_values("date", kind="stable")
            right = right.sort_values("_start", kind="stable")
            options = {"left_on": "date", "right_on": "_start"}
            if self.keys:
                options["by"] = self.keys
            backward = pd.merge_asof(left, right, direction="backward", **options)
            forward = pd.merge_asof(left, right, direction="forward", **options)
            backward["_row"] = backward["_row"].fillna(forward["_row"])
            merged = backward.sort_values("_order")
        rows = merged["_row"].to_numpy(float).copy()
        unmatched = ~np.isfinite(rows)
        if unmatched.any():
            what = sorted(set(cells.loc[unmatched, "mailbox_provider"].astype(str)))[:5] \
                if "mailbox_provider" in cells.columns else []
            warnings.warn(f"{self.name} table has no row for {int(unmatched.sum())} volume "
                          f"cells (providers {what}); they take the pooled placement of all rows",
                          FunnelWarning, stacklevel=4)
            rows[unmatched] = self.pooled_index
        return rows.astype(np.intp)


# --------------------------------------------------------------------------------------------
# Draws and aggregation helpers
# --------------------------------------------------------------------------------------------


def _always_zero(funnel, line) -> bool:
    """A line with a factor fixed at zero (a generic line the stage does not use)."""
    for key in line.factors:
        if key.startswith("money."):
            continue
        stage, _, name = key.partition(".")
        parameter = funnel.parameter(stage, name)
        if parameter.high == 0.0:
            return True
    return False


def _vlh(values: tuple[float, float, float]) -> tuple[float, float, float]:
    value, low, high = values
    return low, value, high


def _pert(rng: np.random.Generator, low: float, mode: float, high: float,
          draws: int) -> np.ndarray:
    """Beta-PERT draws over [low, high] with the given mode (constant when low == high)."""
    if not high > low:
        return np.full(draws, float(mode))
    alpha = 1.0 + 4.0 * (mode - low) / (high - low)
    beta = 1.0 + 4.0 * (high - mode) / (high - low)
    return low + (high - low) * rng.beta(alpha, beta, size=draws)


def _draw_parameter(rng: np.random.Generator, parameter: Parameter, draws: int) -> np.ndarray:
    if not parameter.sampled:
        return np.full(draws, parameter.value)
    return _pert(rng, parameter.low, parameter.value, parameter.high, draws)


def _group(frame: pd.DataFrame, by: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
    unknown = [c for c in by if c not in frame.columns]
    if unknown:
        raise ValueError(f"cannot group by {unknown}; available: {list(frame.columns)}")
    if not by:
        return np.zeros(len(frame), dtype=np.intp), pd.DataFrame(index=[0])
    keys = frame[by].copy()
    for column in by:
        if isinstance(keys[column].dtype, pd.CategoricalDtype):
            keys[column] = keys[column].astype("string")
    grouped = keys.groupby(by, sort=True, dropna=False, observed=True)
    codes = grouped.ngroup().to_numpy(dtype=np.intp)
    uniques = grouped.size().reset_index()[by]
    return codes, uniques


def _sum_rows(values: np.ndarray, codes: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros((n, values.shape[1]))
    np.add.at(out, codes, values)
    return out


def _with_percentiles(frame: pd.DataFrame, prefix: str | None, values: np.ndarray) -> pd.DataFrame:
    quantiles = np.percentile(values, PERCENTILES, axis=1) if len(values) else \
        np.zeros((len(PERCENTILES), 0))
    for q, column in zip(PERCENTILES, quantiles, strict=True):
        frame[f"{prefix}_p{q}" if prefix else f"p{q}"] = column
    return frame
