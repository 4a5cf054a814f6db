"""Is it worth it? Monthly cash flows, NPV, IRR, payback, Monte Carlo, sensitivity, break-even.

Conventions used by every function here (numpy-financial's, STYLE.md):

- **Sign**: money out is negative, money in is positive. An infrastructure option's costs
  (IP fees, plan uplift, tooling, staff time, one-off set-up) are entered as positive amounts
  and enter the cash flow with a minus sign; its benefits (recovered revenue, acquisition cost
  saved, support and churn avoided) are positive.
- **Rates are decimals**, never percents: ``0.10`` is ten percent a year.
- **Time**: cash flows are monthly; column ``t`` is month ``t`` and month 0 is *today*
  (undiscounted), so a one-off set-up cost belongs in month 0 and the first month of fees and
  benefits in month 1 if they are paid at the end of the month (``start_month`` in
  :func:`cash_flows`). Discount rates are given per **year** (an effective annual rate, what
  finance quotes) and converted to the monthly rate ``(1 + annual) ** (1 / 12) - 1``, so twelve
  months discounted monthly equal one year discounted once.
- **Shapes**: cash flows are arrays ``(..., months)``; a Monte Carlo is ``(draws, months)``.
  Functions return one value per leading index: an array of NPVs ``(draws,)`` from one call.

The formulas come from numpy-financial: the discount factor of month ``t`` is
``numpy_financial.pv(monthly_rate, t, 0, -1) = (1 + monthly_rate) ** -t`` (broadcast over many
rates and months at once), which is the term of ``numpy_financial.npv``; IRR is
``numpy_financial.irr`` per draw.

Uncertain inputs are described by a *spec*, a small mapping such as
``{"dist": "pert", "low": 20, "mode": 40, "high": 90}``; :data:`DISTRIBUTIONS` documents the
kinds and their parameters, :func:`sample` draws from one with a seeded generator,
:func:`monte_carlo` runs a model over all of them, :func:`tornado` ranks their influence and
:func:`npv_tornado` ranks the cash-flow lines of a Monte Carlo NPV by how much they move it.

Exports for finance (:func:`to_excel`, :func:`to_csv`) neutralize spreadsheet formula
injection (OWASP "CSV injection"): any text cell starting with ``=``, ``+``, ``-``, ``@``, a
tab or a carriage return is prefixed with a single quote.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy_financial as npf
import pandas as pd
from scipy import optimize, stats

from ._random import RandomState, check_random_state

MONTHS_PER_YEAR = 12

#: Percentiles reported for Monte Carlo results [percent points, as in the report's ``p10``,
#: ``p50``, ``p90`` keys].
PERCENTILES: tuple[int, ...] = (10, 50, 90)

#: z value of the 90th percentile of a standard normal (the p10-p90 half-width in sigmas).
_Z90 = float(stats.norm.ppf(0.9))


# --------------------------------------------------------------------------------------------
# Discounting
# --------------------------------------------------------------------------------------------


def monthly_rate(annual_rate):
    """Monthly rate equivalent to an effective annual rate.

    ``monthly = (1 + annual_rate) ** (1 / 12) - 1``

    Parameters
    ----------
    annual_rate : float or array
        Effective annual rate [decimal per year, e.g. 0.10 for ten percent; not a percent].

    Returns
    -------
    float or array
        [decimal per month]

    Examples
    --------
    Finance discounts at 10% a year; what is that per month?

    >>> round(float(monthly_rate(0.10)), 6)
    0.007974
    >>> round(float((1 + monthly_rate(0.10)) ** 12 - 1), 12)
    0.1
    """
    annual_rate = np.asarray(annual_rate, dtype=float)
    if np.any(annual_rate <= -1.0):
        raise ValueError("annual_rate must be above -1 (a decimal, e.g. 0.10 for 10%)")
    return (1.0 + annual_rate) ** (1.0 / MONTHS_PER_YEAR) - 1.0


def annual_rate(monthly):
    """Effective annual rate of a monthly rate: ``(1 + monthly) ** 12 - 1`` [decimal per year].

    >>> round(float(annual_rate(0.01)), 4)
    0.1268
    """
    return (1.0 + np.asarray(monthly, dtype=float)) ** MONTHS_PER_YEAR - 1.0


def discount_factors(annual_rate, months: int):
    """Present value of 1 unit of money received at the end of each month.

    ``factor[t] = (1 + monthly) ** -t`` for ``t = 0 .. months - 1`` (numpy-financial's
    ``pv(monthly, t, 0, -1)``; month 0 is today, factor 1).

    Parameters
    ----------
    annual_rate : float or array
        Effective annual discount rate [decimal per year]; an array gives one row per rate.
    months : int
        Number of months, month 0 included.

    Returns
    -------
    array, shape ``np.shape(annual_rate) + (months,)``
        [fraction]

    Examples
    --------
    >>> discount_factors(0.10, 13)[[0, 12]].round(6).tolist()
    [1.0, 0.909091]
    """
    rate = np.asarray(monthly_rate(annual_rate), dtype=float)[..., None]
    # numpy-financial evaluates its rate == 0 branch everywhere and warns; the result is right.
    with np.errstate(invalid="ignore", divide="ignore"):
        return npf.pv(rate, np.arange(months), 0.0, -1.0)


def npv(annual_rate, cashflows):
    """Net present value of monthly cash flows.

    ``NPV = sum_t cashflows[..., t] / (1 + monthly) ** t``, month 0 undiscounted
    (``numpy_financial.npv`` at the monthly rate, row by row).

    Parameters
    ----------
    annual_rate : float or array
        Effective annual discount rate [decimal per year, e.g. 0.10; not a percent]. An array
        broadcasts against the leading axes of ``cashflows`` (for example ``(rates, 1)``
        against ``(draws, months)`` gives ``(rates, draws)``).
    cashflows : array, shape (..., months)
        Net cash flow per month [currency]; money out negative, money in positive.

    Returns
    -------
    float or array, shape ``broadcast(shape(annual_rate), cashflows.shape[:-1])``
        [currency, today's money]

    Examples
    --------
    A dedicated IP costs 2,000 to set up today and then saves 150 a month for two years.
    Is it worth it at a 10% annual discount rate?

    >>> flows = [-2_000] + [150] * 24
    >>> round(float(npv(0.10, flows)), 2)
    1264.69

    Yes: about 1,265 in today's money. By hand: two years of 150 a month are an annuity
    worth ``150 * (1 - 1.10 ** -2) / monthly_rate(0.10) = 3,264.7``, less the 2,000. It is
    also the spreadsheet's (and numpy-financial's) NPV at the monthly rate:

    >>> import numpy_financial as npf
    >>> round(float(npf.npv(monthly_rate(0.10), flows)), 2)
    1264.69

    A thousand Monte Carlo draws at once give a thousand NPVs:

    >>> npv(0.10, np.tile(flows, (1000, 1))).shape
    (1000,)
    """
    flows = np.asarray(cashflows, dtype=float)
    if flows.ndim == 0:
        raise ValueError("cashflows must have a month axis (the last axis)")
    factors = discount_factors(annual_rate, flows.shape[-1])
    result = np.sum(flows * factors, axis=-1)
    return float(result) if np.ndim(result) == 0 else result


def irr(cashflows, *, annualize: bool = True):
    """Internal rate of return of monthly cash flows, one per row (NaN where none exists).

    The monthly rate ``r`` with ``sum_t cashflows[t] / (1 + r) ** t = 0``
    (``numpy_financial.irr``; where several exist, the one closest to zero), expressed as an
    effective annual rate by default.

    Parameters
    ----------
    cashflows : array, shape (..., months)
        [currency]; money out negative. A conventional investment starts negative and turns
        positive later.
    annualize : bool
        Return the effective annual rate ``(1 + r) ** 12 - 1`` [decimal per year] (default)
        rather than the monthly one [decimal per month].

    Returns
    -------
    float or array, shape ``cashflows.shape[:-1]``
        [decimal per year or per month]; NaN for flows without a sign change.

    Examples
    --------
    Paying 2,000 today to save 150 a month for two years returns about 5.4% a month (the
    annuity factor 2,000 / 150 = 13.33 over 24 months), or 87% a year:

    >>> round(float(irr([-2_000] + [150] * 24, annualize=False)), 4)
    0.0536
    >>> round(float(irr([-2_000] + [150] * 24)), 2)
    0.87

    Without money coming back there is no rate:

    >>> irr([-100, -10, -10])
    nan
    """
    flows = np.asarray(cashflows, dtype=float)
    if flows.ndim == 0:
        raise ValueError("cashflows must have a month axis (the last axis)")
    rows = flows.reshape(-1, flows.shape[-1])
    out = np.full(len(rows), np.nan)
    for i, row in enumerate(rows):
        # numpy-financial raises nothing and returns NaN without a sign change, but np.roots
        # fails on an all-zero row.
        if np.any(row > 0) and np.any(row < 0):
            out[i] = npf.irr(row)
    if annualize:
        out = np.where(np.isnan(out), np.nan, annual_rate(out))
    out = out.reshape(flows.shape[:-1])
    return float(out) if out.ndim == 0 else out


def payback_months(cashflows, annual_rate=None):
    """Month from which the cumulative cash flow stays at or above zero.

    Parameters
    ----------
    cashflows : array, shape (..., months)
        [currency]; money out negative.
    annual_rate : float, optional
        Effective annual rate [decimal per year] for a *discounted* payback; undiscounted when
        None.

    Returns
    -------
    float or array, shape ``cashflows.shape[:-1]``
        [months from today, month 0 = today]; NaN when the cumulative cash flow is still
        negative at the horizon (no payback within it). ``0`` when nothing is ever owed.

    Notes
    -----
    For flows that dip below zero again (a second investment), payback is the start of the
    last stretch at or above zero, so that a payback month always means "from here on the
    option has paid for itself".

    Examples
    --------
    2,000 up front, 150 a month back: cumulative -1,850 after month 1, ... , -50 after
    month 13, +100 after month 14.

    >>> payback_months([-2_000] + [150] * 24)
    14.0
    >>> payback_months([-2_000] + [150] * 24, annual_rate=0.10)
    15.0
    >>> payback_months([-2_000] + [150] * 5)
    nan
    """
    flows = np.asarray(cashflows, dtype=float)
    if flows.ndim == 0:
        raise ValueError("cashflows must have a month axis (the last axis)")
    if annual_rate is not None:
        flows = flows * discount_factors(annual_rate, flows.shape[-1])
    cumulative = np.cumsum(flows, axis=-1)
    negative = cumulative < 0
    months = flows.shape[-1]
    # Index of the last negative month (-1 where there is none).
    last_negative = months - 1 - np.argmax(negative[..., ::-1], axis=-1)
    last_negative = np.where(negative.any(axis=-1), last_negative, -1)
    result = np.where(last_negative == months - 1, np.nan, last_negative + 1.0)
    return float(result) if np.ndim(result) == 0 else result


# --------------------------------------------------------------------------------------------
# Cash flows of an infrastructure option
# --------------------------------------------------------------------------------------------

#: Cost lines of an option: name -> meaning [unit per month]; entered positive, paid out.
COST_LINES: dict[str, str] = {
    "ip_fees": "dedicated IP fees [currency/month]; section 5: $20-60 per IP per month",
    "plan_uplift": "extra ESP plan price for a tier that offers dedicated IPs [currency/month]",
    "tooling": "monitoring and seed-testing tools [currency/month]",
    "staff_time": "warm-up and monitoring staff time: hours x hourly cost [currency/month]",
    "one_off": "set-up, migration and consulting costs [currency, in the month they fall]",
}
#: Benefit lines of an option: name -> meaning [currency per month]; money in.
BENEFIT_LINES: dict[str, str] = {
    "recovered_revenue": "revenue recovered by better placement [currency/month]",
    "acquisition_cost_saved": "acquisition cost (CAC) no longer wasted on lost sign-ups [currency/month]",
    "support_avoided": "support tickets avoided (password resets, verification) [currency/month]",
    "churn_avoided": "churn avoided (dunning and renewal mail seen) [currency/month]",
}


def _line(value, draws: int, months: int, start_month: int, name: str) -> np.ndarray:
    """One input line as a (draws, months) array; per-month values start at ``start_month``."""
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        out = np.full((draws, months), float(arr))
        out[:, :start_month] = 0.0
        return out
    if arr.ndim == 1 and arr.shape[0] == draws and draws != months:
        out = np.repeat(arr[:, None], months, axis=1)
        out[:, :start_month] = 0.0
        return out
    try:
        return np.broadcast_to(arr, (draws, months)).astype(float, copy=True)
    except ValueError:
        raise ValueError(
            f"{name}: shape {arr.shape} does not fit (draws={draws}, months={months}); give a "
            "scalar, a (draws,) array, a (months,) array or a (draws, months) array"
        ) from None


def cash_flows(
    months: int,
    *,
    draws: int = 1,
    start_month: int = 1,
    ip_fees=0.0,
    plan_uplift=0.0,
    tooling=0.0,
    staff_hours=0.0,
    hourly_cost=0.0,
    one_off=0.0,
    recovered_revenue=0.0,
    acquisition_cost_saved=0.0,
    support_avoided=0.0,
    churn_avoided=0.0,
) -> dict[str, np.ndarray]:
    """Signed monthly cash-flow lines of an infrastructure option.

    ``net = - (ip_fees + plan_uplift + tooling + staff_hours * hourly_cost + one_off)
    + recovered_revenue + acquisition_cost_saved + support_avoided + churn_avoided``

    Every input is a scalar (the same every month from ``start_month``, every draw), a
    ``(draws,)`` array (one value per draw, every month from ``start_month``), a ``(months,)``
    array (a monthly profile, used as given) or a ``(draws, months)`` array (as given). When
    ``draws == months`` a 1-D array is read as a monthly profile; pass ``values[:, None]`` for
    one value per draw (then used in every month, month 0 included). The scenario model
    supplies the benefit arrays; costs are usually scalars or samples.

    Parameters
    ----------
    months : int
        Horizon including month 0 (today) [months].
    draws : int
        Monte Carlo draws [count].
    start_month : int
        First month of recurring scalar lines [month index]; 1 means paid or earned at the end
        of the first month. A scalar ``one_off`` falls in month 0 whatever this is.
    ip_fees, plan_uplift, tooling : float or array
        [currency/month]; entered positive, money out.
    staff_hours : float or array
        Staff time for warm-up and monitoring [hours/month].
    hourly_cost : float or array
        Loaded cost of that time [currency/hour].
    one_off : float or array
        One-off costs [currency]: a scalar falls in month 0; an array is per month.
    recovered_revenue, acquisition_cost_saved, support_avoided, churn_avoided : float or array
        [currency/month]; money in.

    Returns
    -------
    dict of str to array (draws, months)
        One signed array per line of :data:`COST_LINES` and :data:`BENEFIT_LINES` (costs
        negative) plus ``"net"``, their sum [currency].

    Examples
    --------
    One dedicated IP at $30 a month on a plan $60 dearer, four hours of warm-up work in the
    first two months at $75/h, $500 of set-up, and $400 a month of revenue recovered:

    >>> hours = np.array([0, 4, 4] + [1] * 9)   # one hour a month of monitoring later
    >>> lines = cash_flows(12, ip_fees=30, plan_uplift=60, staff_hours=hours, hourly_cost=75,
    ...                    one_off=500, recovered_revenue=400)
    >>> lines["net"][0, :4].tolist()
    [-500.0, 10.0, 10.0, 235.0]
    >>> round(float(npv(0.10, lines["net"])[0]), 2)
    1520.8
    """
    if months < 1:
        raise ValueError("months must be at least 1")
    if draws < 1:
        raise ValueError("draws must be at least 1")
    lines: dict[str, np.ndarray] = {}
    lines["ip_fees"] = -_line(ip_fees, draws, months, start_month, "ip_fees")
    lines["plan_uplift"] = -_line(plan_uplift, draws, months, start_month, "plan_uplift")
    lines["tooling"] = -_line(tooling, draws, months, start_month, "tooling")
    hours = _line(staff_hours, draws, months, start_month, "staff_hours")
    rate = _line(hourly_cost, draws, months, 0, "hourly_cost")
    lines["staff_time"] = -(hours * rate)
    if np.ndim(one_off) == 0:
        one = np.zeros((draws, months))
        one[:, 0] = float(one_off)
    else:
        one = _line(one_off, draws, months, 0, "one_off")
    lines["one_off"] = -one
    for name, value in (("recovered_revenue", recovered_revenue),
                        ("acquisition_cost_saved", acquisition_cost_saved),
                        ("support_avoided", support_avoided), ("churn_avoided", churn_avoided)):
        lines[name] = _line(value, draws, months, start_month, name)
    lines["net"] = np.sum([v for v in lines.values()], axis=0)
    return lines


@dataclass
class CashFlowModel:
    """An infrastructure option's costs and benefits, month by month, over Monte Carlo draws.

    Gathers the inputs of :func:`cash_flows` and the finance functions over them. Every input
    may be a scalar, a ``(draws,)`` array (e.g. a :func:`sample`), a ``(months,)`` profile or a
    ``(draws, months)`` array; costs entered positive (money out), benefits positive.

    Parameters
    ----------
    name : str
        The option's name (as in the report's ``options``).
    months : int
        Horizon including month 0 [months].
    draws : int
        Monte Carlo draws [count].
    costs, benefits : dict
        Keyword arguments of :func:`cash_flows` (``ip_fees``, ``plan_uplift``, ``tooling``,
        ``staff_hours``, ``hourly_cost``, ``one_off``; ``recovered_revenue``,
        ``acquisition_cost_saved``, ``support_avoided``, ``churn_avoided``).
    start_month : int
        See :func:`cash_flows`.

    Examples
    --------
    Will a dedicated IP pay off within two years at a 10% discount rate, when the revenue it
    recovers is uncertain (PERT between $100 and $900 a month, most likely $350)?

    >>> revenue = sample({"dist": "pert", "low": 100, "mode": 350, "high": 900}, 2000,
    ...                  random_state=1)
    >>> option = CashFlowModel("dedicated IP", months=25, draws=2000)
    >>> option = option.cost(ip_fees=30, plan_uplift=60, staff_hours=2, hourly_cost=75,
    ...                      one_off=800).benefit(recovered_revenue=revenue)
    >>> summary = option.summary(0.10)
    >>> round(summary["p_npv_positive"], 2), summary["payback_months"]
    (0.77, 6.0)

    Three chances in four; the p10 draw loses money:

    >>> summary["npv"]["p10"] < 0 < summary["npv"]["p50"]
    True
    """

    name: str
    months: int
    draws: int = 1
    costs: dict[str, Any] = field(default_factory=dict)
    benefits: dict[str, Any] = field(default_factory=dict)
    start_month: int = 1

    _COSTS = ("ip_fees", "plan_uplift", "tooling", "staff_hours", "hourly_cost", "one_off")
    _BENEFITS = tuple(BENEFIT_LINES)

    def cost(self, **lines) -> CashFlowModel:
        """Add or replace cost inputs (positive amounts, money out); returns ``self``."""
        unknown = set(lines) - set(self._COSTS)
        if unknown:
            raise ValueError(f"unknown cost line(s) {sorted(unknown)}; known: {list(self._COSTS)}")
        self.costs.update(lines)
        return self

    def benefit(self, **lines) -> CashFlowModel:
        """Add or replace benefit inputs (money in) [currency/month]; returns ``self``."""
        unknown = set(lines) - set(self._BENEFITS)
        if unknown:
            raise ValueError(f"unknown benefit line(s) {sorted(unknown)}; known: {list(self._BENEFITS)}")
        self.benefits.update(lines)
        return self

    def lines(self) -> dict[str, np.ndarray]:
        """Signed lines (draws, months) and ``net`` [currency]; see :func:`cash_flows`."""
        return cash_flows(self.months, draws=self.draws, start_month=self.start_month,
                          **self.costs, **self.benefits)

    def cashflows(self) -> np.ndarray:
        """Net cash flow (draws, months) [currency]; money out negative."""
        return self.lines()["net"]

    def npv(self, annual_rate) -> np.ndarray:
        """NPV per draw [currency] at an annual rate [decimal per year]; see :func:`npv`."""
        return np.atleast_1d(npv(annual_rate, self.cashflows()))

    def irr(self, *, annualize: bool = True) -> np.ndarray:
        """IRR per draw [decimal per year, or per month]; see :func:`irr`."""
        return np.atleast_1d(irr(self.cashflows(), annualize=annualize))

    def payback_months(self, annual_rate=None) -> np.ndarray:
        """Payback month per draw [months]; see :func:`payback_months`."""
        return np.atleast_1d(payback_months(self.cashflows(), annual_rate))

    def table(self) -> pd.DataFrame:
        """Mean signed line per month (rows: months; columns: lines and ``net``) [currency]."""
        return pd.DataFrame({k: v.mean(axis=0) for k, v in self.lines().items()},
                            index=pd.RangeIndex(self.months, name="month"))

    def summary(self, annual_rate) -> dict[str, Any]:
        """The report's entry for this option.

        Returns
        -------
        dict
            ``name``; ``npv``: {``p10``, ``p50``, ``p90``} [currency]; ``p_npv_positive``
            [fraction 0-1]; ``payback_months``: the median payback [months] (None when fewer
            than half of the draws pay back within the horizon); ``irr_p50`` [decimal per year].
        """
        values = self.npv(annual_rate)
        payback = self.payback_months()
        paid = np.isfinite(payback)
        median_payback = float(np.median(np.where(paid, payback, np.inf)))
        irr_values = self.irr()
        return {
            "name": self.name,
            "npv": percentiles(values),
            "p_npv_positive": probability_positive(values),
            "payback_months": median_payback if np.isfinite(median_payback) else None,
            "irr_p50": float(np.nanmedian(irr_values)) if np.isfinite(irr_values).any() else None,
        }


# --------------------------------------------------------------------------------------------
# Distributions and Monte Carlo
# --------------------------------------------------------------------------------------------


def _triangular(spec, n, rng):
    return rng.triangular(spec["low"], spec["mode"], spec["high"], n)


def _pert(spec, n, rng):
    low, mode, high = spec["low"], spec["mode"], spec["high"]
    weight = spec.get("lambda", 4.0)
    span = high - low
    alpha = 1.0 + weight * (mode - low) / span
    beta = 1.0 + weight * (high - mode) / span
    return low + span * rng.beta(alpha, beta, n)


def _lognormal_parameters(spec) -> tuple[float, float]:
    if "p10" in spec and "p90" in spec:
        log_low, log_high = np.log(spec["p10"]), np.log(spec["p90"])
        return (log_low + log_high) / 2.0, (log_high - log_low) / (2.0 * _Z90)
    return float(np.log(spec["median"])), float(spec["sigma"])


def _lognormal(spec, n, rng):
    mu, sigma = _lognormal_parameters(spec)
    return rng.lognormal(mu, sigma, n)


def _uniform(spec, n, rng):
    return rng.uniform(spec["low"], spec["high"], n)


@dataclass(frozen=True)
class Distribution:
    """A kind of uncertain input.

    Parameters
    ----------
    name : str
    parameters : tuple of str
        Required keys of a spec of this kind (one alternative for lognormal).
    meaning : str
        What the parameters mean and when to use it.
    sampler : callable
        ``sampler(spec, n, rng) -> array (n,)``.
    """

    name: str
    parameters: tuple[str, ...]
    meaning: str
    sampler: Callable[[Mapping[str, float], int, np.random.Generator], np.ndarray]


#: The distributions a spec's ``"dist"`` can name.
DISTRIBUTIONS: dict[str, Distribution] = {
    d.name: d
    for d in (
        Distribution(
            "triangular", ("low", "mode", "high"),
            "Minimum, most likely, maximum: the usual three-point estimate. The mean "
            "(low + mode + high) / 3 leans towards the tails more than PERT's.",
            _triangular),
        Distribution(
            "pert", ("low", "mode", "high"),
            "Beta-PERT on [low, high] with mode ``mode``: Beta(1 + lambda (mode - low) / span, "
            "1 + lambda (high - mode) / span), lambda = 4 unless the spec gives ``lambda``. Mean "
            "(low + 4 mode + high) / 6; smoother than the triangular for expert estimates.",
            _pert),
        Distribution(
            "lognormal", ("p10", "p90"),
            "Positive and right-skewed (revenue, volumes): given by its 10th and 90th "
            "percentiles ``p10``, ``p90``, or by ``median`` and ``sigma`` (of the log).",
            _lognormal),
        Distribution(
            "uniform", ("low", "high"),
            "Equally likely anywhere in [low, high]: when only a range is known.",
            _uniform),
    )
}


def _check_spec(spec: Mapping[str, Any]) -> Distribution:
    kind = spec.get("dist")
    if kind not in DISTRIBUTIONS:
        raise ValueError(f"unknown distribution {kind!r}; known: {', '.join(DISTRIBUTIONS)}")
    dist = DISTRIBUTIONS[kind]
    needed = dist.parameters
    if kind == "lognormal" and not {"p10", "p90"} <= set(spec):
        needed = ("median", "sigma")
    missing = [p for p in needed if p not in spec]
    if missing:
        raise ValueError(f"{kind} spec needs {', '.join(needed)}; missing {', '.join(missing)}")
    if kind in ("triangular", "pert"):
        if not spec["low"] <= spec["mode"] <= spec["high"] or spec["low"] == spec["high"]:
            raise ValueError(f"{kind} spec needs low <= mode <= high and low < high: {dict(spec)}")
    if kind == "uniform" and not spec["low"] < spec["high"]:
        raise ValueError(f"uniform spec needs low < high: {dict(spec)}")
    if kind == "lognormal":
        if "p10" in spec and not 0 < spec["p10"] < spec["p90"]:
            raise ValueError(f"lognormal spec needs 0 < p10 < p90: {dict(spec)}")
        if "median" in spec and not (spec["median"] > 0 and spec["sigma"] >= 0):
            raise ValueError(f"lognormal spec needs median > 0 and sigma >= 0: {dict(spec)}")
    return dist


def sample(spec, n: int, random_state: RandomState = None) -> np.ndarray:
    """Draw ``n`` values of an uncertain input.

    Parameters
    ----------
    spec : mapping or float
        ``{"dist": name, ...parameters}`` with a name from :data:`DISTRIBUTIONS`; a plain number
        is a known constant (returned ``n`` times).
    n : int
        Draws [count].
    random_state : None, int or numpy.random.Generator
        See :func:`deliverability_econ._random.check_random_state`.

    Returns
    -------
    array (n,)
        In the spec's unit.

    Examples
    --------
    A dedicated IP costs between $20 and $90 a month, most likely $40 (section 5):

    >>> fee = sample({"dist": "pert", "low": 20, "mode": 40, "high": 90}, 100_000, 7)
    >>> round(float(fee.mean()), 0)   # (20 + 4 * 40 + 90) / 6 = 45
    45.0
    >>> bool(fee.min() >= 20 and fee.max() <= 90)
    True
    """
    if isinstance(spec, int | float | np.integer | np.floating):
        return np.full(n, float(spec))
    dist = _check_spec(spec)
    return np.asarray(dist.sampler(spec, n, check_random_state(random_state)), dtype=float)


def spec_range(spec) -> tuple[float, float, float]:
    """``(low, base, high)`` of an input for a sensitivity swing.

    Triangular and PERT: ``(low, mode, high)``; uniform: ``(low, midpoint, high)``; lognormal:
    ``(p10, median, p90)``; a constant: itself three times.

    >>> [round(v, 6) for v in spec_range({"dist": "lognormal", "p10": 100, "p90": 400})]
    [100.0, 200.0, 400.0]
    """
    if isinstance(spec, int | float | np.integer | np.floating):
        return float(spec), float(spec), float(spec)
    _check_spec(spec)
    kind = spec["dist"]
    if kind in ("triangular", "pert"):
        return float(spec["low"]), float(spec["mode"]), float(spec["high"])
    if kind == "uniform":
        return float(spec["low"]), (spec["low"] + spec["high"]) / 2.0, float(spec["high"])
    mu, sigma = _lognormal_parameters(spec)
    return float(np.exp(mu - _Z90 * sigma)), float(np.exp(mu)), float(np.exp(mu + _Z90 * sigma))


def percentiles(values, q: Sequence[int] = PERCENTILES) -> dict[str, float]:
    """Percentiles of Monte Carlo results as ``{"p10": ..., "p50": ..., "p90": ...}``.

    NaN draws are ignored (an IRR that does not exist).

    >>> percentiles(np.arange(101.0))
    {'p10': 10.0, 'p50': 50.0, 'p90': 90.0}
    """
    values = np.asarray(values, dtype=float).ravel()
    return {f"p{int(p)}": float(np.nanpercentile(values, p)) for p in q}


def probability_positive(values) -> float:
    """Share of draws above zero [fraction 0-1], e.g. the probability that an NPV is positive.

    >>> probability_positive([-1.0, 2.0, 3.0, 0.0])
    0.5
    """
    values = np.asarray(values, dtype=float)
    return float(np.mean(values > 0))


def monte_carlo(model: Callable[..., Any], specs: Mapping[str, Any], n: int,
                random_state: RandomState = None) -> tuple[Any, dict[str, np.ndarray]]:
    """Run ``model(**inputs)`` once with every uncertain input sampled ``n`` times.

    Inputs are drawn in the order of ``specs`` from one generator, so a seed reproduces the
    whole run.

    Parameters
    ----------
    model : callable
        Takes each input as a keyword (arrays of shape (n,)) and returns results per draw
        (e.g. NPVs (n,)).
    specs : mapping of str to spec
        Input name -> spec (see :func:`sample`) or constant.
    n : int
        Draws [count].
    random_state : None, int or numpy.random.Generator

    Returns
    -------
    result, inputs
        The model's output and the sampled inputs (name -> array (n,)).

    Examples
    --------
    Monthly saving of a dedicated IP: recovered revenue minus the fee, both uncertain.

    >>> specs = {"revenue": {"dist": "uniform", "low": 50, "high": 250},
    ...          "fee": {"dist": "triangular", "low": 20, "mode": 40, "high": 90}}
    >>> saving, inputs = monte_carlo(lambda revenue, fee: revenue - fee, specs, 10_000, 3)
    >>> round(probability_positive(saving), 2)
    0.97
    """
    rng = check_random_state(random_state)
    inputs = {name: sample(spec, n, rng) for name, spec in specs.items()}
    return model(**inputs), inputs


def tornado(model: Callable[..., Any], specs: Mapping[str, Any]) -> pd.DataFrame:
    """One-at-a-time sensitivity: swing each input from its low to its high, others at base.

    Parameters
    ----------
    model : callable
        ``model(**inputs) -> float`` (for example an NPV); called with scalars.
    specs : mapping of str to spec
        Input name -> spec or constant; low, base and high from :func:`spec_range`.

    Returns
    -------
    DataFrame
        One row per input, ranked by ``swing`` (largest first): ``input``, ``low``, ``base``,
        ``high`` (input values), ``result_at_low``, ``result_at_high``, ``result_base``,
        ``swing = |result_at_high - result_at_low|``.

    Examples
    --------
    >>> specs = {"revenue": {"dist": "uniform", "low": 50, "high": 250},
    ...          "fee": {"dist": "triangular", "low": 20, "mode": 40, "high": 90}}
    >>> tornado(lambda revenue, fee: 24 * (revenue - fee), specs)[["input", "swing"]]
         input   swing
    0  revenue  4800.0
    1      fee  1680.0
    """
    ranges = {name: spec_range(spec) for name, spec in specs.items()}
    base = {name: r[1] for name, r in ranges.items()}
    result_base = float(model(**base))
    rows = []
    for name, (low, mid, high) in ranges.items():
        at_low = float(model(**{**base, name: low}))
        at_high = float(model(**{**base, name: high}))
        rows.append({"input": name, "low": low, "base": mid, "high": high,
                     "result_at_low": at_low, "result_at_high": at_high,
                     "result_base": result_base, "swing": abs(at_high - at_low)})
    table = pd.DataFrame(rows, columns=["input", "low", "base", "high", "result_at_low",
                                        "result_at_high", "result_base", "swing"])
    return table.sort_values("swing", ascending=False, kind="stable").reset_index(drop=True)


#: Columns of :func:`npv_tornado` (those of :func:`tornado`, then unit and meaning).
NPV_TORNADO_COLUMNS: tuple[str, ...] = ("input", "low", "base", "high", "result_at_low",
                                        "result_at_high", "result_base", "swing", "unit",
                                        "description")


def npv_tornado(lines: Mapping[str, Any], annual_rate: float, *,
                rate_range: tuple[float, float] | None = None,
                interval: tuple[int, int] = (10, 90)) -> pd.DataFrame:
    """What moves a Monte Carlo NPV most: a one-at-a-time tornado over its cash-flow lines.

    The NPV is the sum of the present values of its signed lines (:func:`cash_flows`:
    IP fees, plan uplift, tooling, staff time, one-off costs, recovered revenue, acquisition
    cost saved, support and churn avoided), each uncertain across the draws. Each line in
    turn goes from the ``interval[0]``-th to the ``interval[1]``-th percentile of its present
    value over the draws while the others stay at their mean; the NPV at the base, every line
    at its mean, is the mean NPV (the NPV is linear in its lines). ``rate_range`` adds the
    discount rate as an input: the mean cash flows discounted at its low and high.

    ``result = mean NPV - mean(PV_line) + percentile(PV_line)``

    A line's spread mixes everything behind it (a benefit line moves with both the placement
    gain and the value of a seen message); it is the spread the Monte Carlo gives that line,
    so the rows rank where the uncertainty of the NPV comes from.

    Parameters
    ----------
    lines : mapping of str to array (draws, months) or (months,)
        Signed monthly cash flows per line [currency], money out negative, month 0 today
        (:func:`cash_flows`, :meth:`CashFlowModel.lines`,
        ``scenarios.OptionResult.cash_flows``); ``net`` is left out. Lines that are zero in
        every draw and month are dropped.
    annual_rate : float
        Discount rate [decimal per year, e.g. 0.10; not a percent].
    rate_range : (float, float), optional
        Low and high discount rate [decimal per year] for a ``discount_rate`` row.
    interval : (int, int)
        Percentiles of a line's present value taken as its low and high [percent points].

    Returns
    -------
    DataFrame
        :data:`NPV_TORNADO_COLUMNS`, one row per input, ranked by ``swing`` (largest first):
        ``low``, ``base``, ``high`` (the line's present value at its low percentile, mean and
        high percentile [currency, signed]; for ``discount_rate`` the rates [decimal per
        year]), ``result_at_low``, ``result_at_high``, ``result_base`` (NPVs [currency]),
        ``swing = |result_at_high - result_at_low|``, ``unit``, ``description``.

    Examples
    --------
    Two draws of a dedicated IP over two months at 0%: $30 of fees a month, certain, and
    $100 or $300 of revenue recovered a month (present value $200 or $600, mean $400):

    >>> lines = {"ip_fees": np.array([[0.0, -30, -30], [0.0, -30, -30]]),
    ...          "recovered_revenue": np.array([[0.0, 100, 100], [0.0, 300, 300]])}
    >>> table = npv_tornado(lines, 0.0, interval=(0, 100))
    >>> table[["input", "low", "high", "result_at_low", "result_at_high"]]
                   input    low   high  result_at_low  result_at_high
    0  recovered_revenue  200.0  600.0          140.0           540.0
    1            ip_fees  -60.0  -60.0          340.0           340.0
    """
    if not 0 <= interval[0] < interval[1] <= 100:
        raise ValueError(f"interval must be two percentiles 0 <= low < high <= 100, not "
                         f"{interval!r}")
    flows = {name: np.atleast_2d(np.asarray(value, dtype=float))
             for name, value in lines.items() if name != "net"}
    if not flows:
        raise ValueError("lines holds no cash-flow line (only 'net' or nothing)")
    months = {arr.shape[-1] for arr in flows.values()}
    if len(months) != 1:
        raise ValueError(f"all lines need the same number of months, not {sorted(months)}")
    factors = discount_factors(annual_rate, months.pop())
    present = {name: (arr * factors).sum(axis=-1) for name, arr in flows.items()
               if np.any(arr != 0)}
    means = {name: float(values.mean()) for name, values in present.items()}
    result_base = float(sum(means.values()))
    descriptions = {**COST_LINES, **BENEFIT_LINES}
    rows = []
    for name, values in present.items():
        low, high = (float(np.percentile(values, q)) for q in interval)
        rest = result_base - means[name]
        rows.append({"input": name, "low": low, "base": means[name], "high": high,
                     "result_at_low": rest + low, "result_at_high": rest + high,
                     "result_base": result_base, "swing": abs(high - low),
                     "unit": "currency, present value",
                     "description": descriptions.get(name, name)})
    if rate_range is not None:
        mean_net = sum(arr.mean(axis=0) for arr in flows.values())
        at_low, at_high = (float(npv(rate, mean_net)) for rate in rate_range)
        rows.append({"input": "discount_rate", "low": float(rate_range[0]),
                     "base": float(annual_rate), "high": float(rate_range[1]),
                     "result_at_low": at_low, "result_at_high": at_high,
                     "result_base": result_base, "swing": abs(at_high - at_low),
                     "unit": "decimal per year",
                     "description": "annual discount rate of the NPV"})
    table = pd.DataFrame(rows, columns=list(NPV_TORNADO_COLUMNS))
    return table.sort_values("swing", ascending=False, kind="stable").reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Break-even volume
# --------------------------------------------------------------------------------------------


def dedicated_net_benefit(monthly_volume, benefit_per_message, fixed_cost_per_month,
                          half_stable_volume=0.0):
    """Monthly gain of one dedicated IP over the shared pool at a given volume.

    ``gain = volume * benefit_per_message * volume / (volume + half_stable_volume)
    - fixed_cost_per_month``

    The middle factor is the share of the dedicated IP's placement gain that is realized: a
    dedicated IP is unstable at low volume (F23: keep about 1,000 messages a day per provider;
    section 5: several hundred within 24 hours at least monthly), so at ``half_stable_volume``
    only half of the gain materializes. Zero turns the effect off.

    Parameters
    ----------
    monthly_volume : float or array
        [messages/month]
    benefit_per_message : float or array
        Value of the better placement per message sent [currency/message], e.g. the inbox gain
        [fraction] times the value of an inbox-placed message.
    fixed_cost_per_month : float or array
        Extra fixed cost of the dedicated IP: fee, plan uplift, monitoring time
        [currency/month], entered positive (money out).
    half_stable_volume : float or array
        [messages/month]

    Returns
    -------
    float or array
        [currency/month]; positive when the dedicated IP pays.
    """
    volume = np.asarray(monthly_volume, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        realized = np.where(volume > 0, volume / (volume + half_stable_volume), 0.0)
    return volume * benefit_per_message * realized - fixed_cost_per_month


def break_even_volume(benefit_per_message, fixed_cost_per_month, *, half_stable_volume=0.0,
                      net_benefit: Callable[[float], float] | None = None,
                      low: float = 1.0, high: float = 1e12):
    """Monthly volume above which one dedicated IP beats the shared pool.

    The root of :func:`dedicated_net_benefit` (or of ``net_benefit``) in volume, found with
    :func:`scipy.optimize.brentq` on ``[low, high]``.

    Parameters
    ----------
    benefit_per_message : float or array
        [currency/message]; must be positive.
    fixed_cost_per_month : float or array
        [currency/month], positive (money out).
    half_stable_volume : float or array
        [messages/month]; see :func:`dedicated_net_benefit`.
    net_benefit : callable, optional
        ``net_benefit(volume) -> currency/month`` replacing the default formula (scalars only);
        it must be negative at ``low`` and positive at ``high``.
    low, high : float
        Search bracket [messages/month].

    Returns
    -------
    float or array
        [messages/month]; broadcast over the array inputs (one root per element, e.g. per
        Monte Carlo draw). ``inf`` where the dedicated IP never pays within the bracket.

    Examples
    --------
    A dedicated IP would lift inbox placement by 3 points and an extra inbox message is worth
    $0.05, so each message sent gains $0.0015; the IP costs $150 a month more (fee, plan
    uplift, an hour of monitoring). Without instability that pays from 100,000 messages a
    month:

    >>> round(break_even_volume(0.03 * 0.05, 150))
    100000

    With half the gain lost at 30,000 a month (about 1,000 a day to one provider, F23), the
    root of ``b v**2 = f (v + h)``, ``v = (f + sqrt(f**2 + 4 b f h)) / (2 b)``:

    >>> round(break_even_volume(0.03 * 0.05, 150, half_stable_volume=30_000))
    124162

    Both sit in the ESPs' rule-of-thumb range of 50k-100k+ a month (domain facts, section 5).
    """
    if net_benefit is not None:
        return _root(net_benefit, low, high)
    b, f, h = np.broadcast_arrays(np.asarray(benefit_per_message, float),
                                  np.asarray(fixed_cost_per_month, float),
                                  np.asarray(half_stable_volume, float))
    out = np.empty(b.shape)
    for index in np.ndindex(b.shape):
        bi, fi, hi = float(b[index]), float(f[index]), float(h[index])
        if bi <= 0:
            out[index] = np.inf
            continue
        out[index] = _root(lambda v, bi=bi, fi=fi, hi=hi: float(dedicated_net_benefit(v, bi, fi, hi)),
                           low, high)
    return float(out) if out.ndim == 0 else out


def _root(function: Callable[[float], float], low: float, high: float) -> float:
    at_low, at_high = function(low), function(high)
    if at_low >= 0:
        return float(low)
    if at_high < 0:
        return float("inf")
    return float(optimize.brentq(function, low, high, xtol=1e-6, rtol=1e-12, maxiter=500))


# --------------------------------------------------------------------------------------------
# Exports for finance
# --------------------------------------------------------------------------------------------

#: First characters that make a spreadsheet read a cell as a formula (OWASP CSV injection).
FORMULA_TRIGGERS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")


def neutralize_formula(value):
    """Prefix a text cell that a spreadsheet would run as a formula with a single quote.

    Only strings change; numbers (including negative ones) stay numbers.

    >>> neutralize_formula('=HYPERLINK("http://x.example","click")')
    '\\'=HYPERLINK("http://x.example","click")'
    >>> neutralize_formula(-12.5), neutralize_formula("gmail")
    (-12.5, 'gmail')
    """
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def neutralize_table(table: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``table`` with every text cell, column name and index label neutralized."""
    out = table.copy()
    for column in out.columns:
        values = out[column]
        if values.dtype == object or pd.api.types.is_string_dtype(values.dtype) \
                or isinstance(values.dtype, pd.CategoricalDtype):
            out[column] = values.astype(object).map(neutralize_formula)
    out.columns = [neutralize_formula(str(c)) if not isinstance(c, str) else neutralize_formula(c)
                   for c in out.columns]
    if out.index.dtype == object or pd.api.types.is_string_dtype(out.index.dtype):
        out.index = out.index.map(neutralize_formula)
    return out


def assumptions_table(specs: Mapping[str, Any], units: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The uncertain inputs as a table finance can read and change.

    Columns: ``input``, ``unit``, ``distribution``, ``low``, ``base``, ``high`` and the spec's
    own parameters as text.
    """
    units = units or {}
    rows = []
    for name, spec in specs.items():
        low, base, high = spec_range(spec)
        kind = spec["dist"] if isinstance(spec, Mapping) else "constant"
        params = "" if not isinstance(spec, Mapping) else ", ".join(
            f"{k}={v}" for k, v in spec.items() if k != "dist")
        rows.append({"input": name, "unit": units.get(name, ""), "distribution": kind,
                     "low": low, "base": base, "high": high, "parameters": params})
    return pd.DataFrame(rows, columns=["input", "unit", "distribution", "low", "base", "high",
                                       "parameters"])


def to_excel(path, tables: Mapping[str, pd.DataFrame]) -> Path:
    """Write tables to an .xlsx workbook, one sheet each, formula injection neutralized.

    Parameters
    ----------
    path : str or Path
        Output file (.xlsx).
    tables : mapping of str to DataFrame
        Sheet name -> table (e.g. ``{"assumptions": ..., "results": ..., "cash flows": ...}``).
        Sheet names are cut to Excel's 31 characters.

    Returns
    -------
    Path
    """
    path = Path(path)
    if not tables:
        raise ValueError("nothing to export: tables is empty")
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for sheet, table in tables.items():
            clean = neutralize_table(pd.DataFrame(table))
            name = str(sheet)[:31].translate(str.maketrans("[]:*?/\\", "_______"))
            clean.to_excel(writer, sheet_name=name, index=not isinstance(clean.index, pd.RangeIndex))
    return path


def to_csv(path, table: pd.DataFrame) -> Path:
    """Write one table to CSV (UTF-8, all fields quoted), formula injection neutralized.

    Returns
    -------
    Path
    """
    import csv

    path = Path(path)
    clean = neutralize_table(pd.DataFrame(table))
    clean.to_csv(path, index=not isinstance(clean.index, pd.RangeIndex), quoting=csv.QUOTE_NONNUMERIC)
    return path


__all__ = [
    "BENEFIT_LINES", "COST_LINES", "DISTRIBUTIONS", "FORMULA_TRIGGERS", "PERCENTILES",
    "NPV_TORNADO_COLUMNS", "CashFlowModel", "Distribution", "annual_rate",
    "assumptions_table", "break_even_volume", "cash_flows", "dedicated_net_benefit",
    "discount_factors", "irr", "monte_carlo", "monthly_rate", "neutralize_formula",
    "neutralize_table", "npv", "npv_tornado", "payback_months", "percentiles",
    "probability_positive", "sample", "spec_range", "to_csv", "to_excel", "tornado",
]
