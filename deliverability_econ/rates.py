"""Delivery and engagement rates with intervals, each carrying its denominator.

Every rate here is a binomial proportion ``successes / trials`` of one cohort of messages (the
cube counts every outcome on the send day, see :mod:`deliverability_econ.cube`). The name of
each rate says, or its entry in :data:`RATES` states, what it is divided by: a complaint rate
per *delivered* message is not Gmail's spam rate per *inbox-placed* message (F4, F14 in
``reference/domain-facts.md``), and the two must never be compared as if they were.

Small volumes make point rates misleading; providers themselves suppress or bound their
statistics at low volume (F4, F5, F13, M7). So every rate comes with an interval, and a
:class:`LowVolumeWarning` says when a rate rests on fewer than a minimum of messages.

Intervals
---------
``wilson``
    The Wilson score interval: with ``z`` the standard normal quantile at
    ``(1 + interval) / 2``, ``k`` successes and ``n`` trials,

    .. math:: \\frac{k + z^2/2}{n + z^2} \\pm \\frac{z}{n + z^2}\\sqrt{\\frac{k(n-k)}{n}
              + \\frac{z^2}{4}}

    It stays inside [0, 1], is exactly 0 (1) at ``k = 0`` (``k = n``), and keeps close to its
    nominal coverage down to a handful of trials, unlike the normal ("Wald") interval.
``jeffreys``
    The equal-tailed Bayesian interval under the Jeffreys prior Beta(1/2, 1/2): the
    ``(1 - interval) / 2`` and ``(1 + interval) / 2`` quantiles of Beta(k + 1/2, n - k + 1/2),
    with the lower end set to 0 at ``k = 0`` and the upper end to 1 at ``k = n`` (Brown, Cai
    and DasGupta, "Interval Estimation for a Binomial Proportion", Statistical Science 2001).

Both are computed here from :data:`scipy.stats.norm` and :data:`scipy.stats.beta`, vectorized.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

from .cube import CUBE_COUNT_COLUMNS, daily_cube

#: Default minimum denominator [messages] under which a rate triggers a
#: :class:`LowVolumeWarning`. 100 is the floor under which Microsoft SNDS omits a day (F13);
#: Google Postmaster shows nothing under 50 recipients a day (F5) and SparkPost's Health Score
#: needs ~1,000 a day (M7). At 100 messages a 90% Wilson interval around a 2% rate spans about
#: 0.7% to 5.7%: still wide, but no longer meaningless.
DEFAULT_MIN_MESSAGES = 100

#: Default interval probability [fraction 0-1].
DEFAULT_INTERVAL = 0.9

INTERVAL_METHODS: tuple[str, ...] = ("wilson", "jeffreys")

FREQUENCIES: tuple[str, ...] = ("D", "W", "M")


class LowVolumeWarning(UserWarning):
    """A rate or a share rests on fewer messages than the configured minimum.

    Filter it like any warning, e.g.
    ``warnings.simplefilter("ignore", LowVolumeWarning)``.
    """


class RateDefinition(NamedTuple):
    """A rate of the cube: ``numerator / denominator``, both cube count columns."""

    numerator: str
    denominator: str
    meaning: str


#: The rates :func:`rates` computes: name -> (numerator column, denominator column, meaning).
#: ``sent`` is the cube's ``messages`` column: every message, whatever its outcome, including
#: the ``pending`` ones still undecided when the export ends (they are not delivered).
RATES: dict[str, RateDefinition] = {
    "delivery_rate": RateDefinition("delivered", "sent", "messages delivered per message sent"),
    "hard_bounce_rate": RateDefinition(
        "bounced_hard", "sent", "hard bounces (address does not exist) per message sent"
    ),
    "block_rate": RateDefinition(
        "blocked", "sent", "messages refused for reputation, policy or content per message sent"
    ),
    "deferral_rate": RateDefinition(
        "deferred", "sent", "messages deferred at least once per message sent"
    ),
    "human_open_rate": RateDefinition(
        "opened_human",
        "delivered",
        "messages with at least one human open (machine/MPP opens excluded) per delivered",
    ),
    "click_rate": RateDefinition(
        "clicked",
        "delivered",
        "messages with a human click (scanner clicks excluded) per delivered",
    ),
    "complaint_rate_per_delivered": RateDefinition(
        "complained",
        "delivered",
        "messages reported as spam through a feedback loop per delivered (not Gmail's spam rate, "
        "which divides by inbox-placed mail: F4, F14)",
    ),
    "unsubscribe_rate": RateDefinition(
        "unsubscribed", "delivered", "messages that led to an unsubscribe per delivered"
    ),
}


# --------------------------------------------------------------------------------------------
# Interval functions
# --------------------------------------------------------------------------------------------


def proportion_interval(
    successes: np.ndarray | Sequence[float] | float,
    trials: np.ndarray | Sequence[float] | float,
    interval: float = DEFAULT_INTERVAL,
    method: str = "wilson",
) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided interval of a binomial proportion ``successes / trials``.

    Parameters
    ----------
    successes : array_like
        Successes ``k`` [count], ``0 <= k <= n``.
    trials : array_like
        Trials ``n`` [count]; broadcast against ``successes``.
    interval : float
        Probability content of the interval [fraction 0-1], e.g. 0.9 for a 90% interval.
    method : {"wilson", "jeffreys"}
        See the module docstring for the formulas.

    Returns
    -------
    low, high : ndarray
        Interval ends [fraction 0-1]; NaN where ``trials`` is 0.

    Raises
    ------
    ValueError
        For an unknown method, an interval outside (0, 1), negative counts or ``k > n``.

    Examples
    --------
    Wilson 90% interval of 8 successes in 10 trials (z = 1.6449; centre
    (8 + 1.3528) / 12.7055 = 0.7361, half-width 1.6449 / 12.7055 * sqrt(1.6 + 0.6764) = 0.1953):

    >>> low, high = proportion_interval(8, 10, 0.9)
    >>> round(float(low), 4), round(float(high), 4)
    (0.5408, 0.9314)
    """
    if method not in INTERVAL_METHODS:
        raise ValueError(f"method must be one of {INTERVAL_METHODS}, not {method!r}")
    if not 0.0 < interval < 1.0:
        raise ValueError(f"interval must be a probability in (0, 1), not {interval!r}")
    k, n = np.broadcast_arrays(
        np.asarray(successes, dtype="float64"), np.asarray(trials, dtype="float64")
    )
    if np.any(k < 0) or np.any(n < 0):
        raise ValueError("successes and trials must be non-negative counts")
    if np.any(k > n):
        raise ValueError("successes cannot exceed trials")
    alpha = 1.0 - interval
    empty = n == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        if method == "wilson":
            z = stats.norm.ppf(1.0 - alpha / 2.0)
            centre = (k + z * z / 2.0) / (n + z * z)
            half = z / (n + z * z) * np.sqrt(np.where(empty, 0.0, k * (n - k) / n) + z * z / 4.0)
            low, high = centre - half, centre + half
        else:
            low = stats.beta.ppf(alpha / 2.0, k + 0.5, n - k + 0.5)
            high = stats.beta.ppf(1.0 - alpha / 2.0, k + 0.5, n - k + 0.5)
    # Exact ends: the formulas leave rounding noise at 0 and n successes.
    low = np.where(k == 0, 0.0, np.clip(low, 0.0, 1.0))
    high = np.where(k == n, 1.0, np.clip(high, 0.0, 1.0))
    low = np.where(empty, np.nan, low)
    high = np.where(empty, np.nan, high)
    return low, high


# --------------------------------------------------------------------------------------------
# Rates from the cube
# --------------------------------------------------------------------------------------------


def rates(
    cube_or_messages: pd.DataFrame,
    by: Sequence[str] | str = ("mailbox_provider",),
    freq: str | None = None,
    interval: float = DEFAULT_INTERVAL,
    method: str = "wilson",
    *,
    min_messages: int = DEFAULT_MIN_MESSAGES,
) -> pd.DataFrame:
    """Delivery and engagement rates with intervals, per keys and period.

    Parameters
    ----------
    cube_or_messages : DataFrame
        A daily cube (:func:`deliverability_econ.daily_cube`) holding the ``by`` columns, or the
        messages table (:func:`deliverability_econ.messages`), which is cubed first.
    by : str or sequence of str
        Key columns to break the rates down by; ``()`` for one row per period. Cube rows with
        other keys are summed.
    freq : {None, "D", "W", "M"}
        ``None`` (default): one row per key over the whole data. ``"D"``, ``"W"`` (weeks from
        Monday) or ``"M"`` (calendar months): one row per period and key, with the period's
        first day in ``period_start``. Periods are of the send day (cohorts).
    interval : float
        Probability content of the intervals [fraction 0-1]; default 0.9.
    method : {"wilson", "jeffreys"}
        Interval method (see :func:`proportion_interval`).
    min_messages : int
        A :class:`LowVolumeWarning` is issued when a row's ``sent`` or ``delivered`` is below
        this [messages] (default :data:`DEFAULT_MIN_MESSAGES`).

    Returns
    -------
    DataFrame
        One row per (``period_start``,) keys, sorted, default index. Columns: the keys;
        ``period_start`` when ``freq`` is set; the denominators ``sent`` [messages] (all
        messages, pending included) and ``delivered`` [messages]; the other numerators
        ``bounced_hard``, ``blocked``, ``deferred``, ``opened_human``, ``clicked``,
        ``complained``, ``unsubscribed`` [messages]; then for each rate of :data:`RATES`
        ``<name>``, ``<name>_low`` and ``<name>_high`` [fraction 0-1] (NaN when the
        denominator is 0).

    Warns
    -----
    LowVolumeWarning
        When a denominator is below ``min_messages`` in some row.
    UserWarning
        When an engagement count exceeds ``delivered`` (opens or clicks of messages whose
        delivery event is not in the data); the numerator is then capped at ``delivered``.

    Examples
    --------
    >>> cube = pd.DataFrame({
    ...     "date": pd.to_datetime(["2025-03-03", "2025-03-03"]),
    ...     "mailbox_provider": ["gmail", "yahoo"],
    ...     **{name: [0, 0] for name in CUBE_COUNT_COLUMNS}})
    >>> cube["messages"] = [1000, 500]
    >>> cube["delivered"] = [980, 490]
    >>> cube["complained"] = [0, 2]
    >>> table = rates(cube)
    >>> table[["mailbox_provider", "delivered", "complaint_rate_per_delivered"]].round(5)
      mailbox_provider  delivered  complaint_rate_per_delivered
    0            gmail        980                       0.00000
    1            yahoo        490                       0.00408
    """
    keys = [by] if isinstance(by, str) else list(by)
    cube = as_cube(cube_or_messages, keys)
    if freq is not None and freq not in FREQUENCIES:
        raise ValueError(f"freq must be None or one of {FREQUENCIES}, not {freq!r}")
    group_keys = list(keys)
    frame = cube
    if freq is not None:
        frame = cube.assign(period_start=period_start(cube["date"], freq))
        group_keys = ["period_start", *keys]
    needed = sorted({c for d in RATES.values() for c in (d.numerator, d.denominator)} - {"sent"})
    counts = ["messages", *[c for c in needed if c != "messages"]]
    if group_keys:
        table = (
            frame.groupby(group_keys, sort=True, dropna=False, observed=True)[counts]
            .sum()
            .reset_index()
        )
    else:
        table = frame[counts].sum().to_frame().T.astype("int64")
    table = table.rename(columns={"messages": "sent"})
    numerators = [d.numerator for d in RATES.values() if d.numerator != "delivered"]
    out = table[[*group_keys, "sent", "delivered", *numerators]].copy()

    for name, definition in RATES.items():
        numerator = out[definition.numerator].to_numpy(dtype="float64")
        denominator = out[definition.denominator].to_numpy(dtype="float64")
        excess = numerator > denominator
        if excess.any():
            warnings.warn(
                f"{name}: {definition.numerator} exceeds {definition.denominator} in "
                f"{int(excess.sum())} row(s) (engagement of messages whose delivery is not in "
                f"the data); capped at {definition.denominator}",
                UserWarning,
                stacklevel=2,
            )
            numerator = np.minimum(numerator, denominator)
        with np.errstate(divide="ignore", invalid="ignore"):
            point = np.where(denominator > 0, numerator / denominator, np.nan)
        low, high = proportion_interval(numerator, denominator, interval, method)
        out[name], out[f"{name}_low"], out[f"{name}_high"] = point, low, high

    warn_low_volume(
        np.minimum(out["sent"].to_numpy(), out["delivered"].to_numpy()),
        min_messages,
        "rates: {count} of {total} row(s) rest on fewer than {minimum} messages sent or "
        "delivered; read their _low/_high columns, not the point rates",
    )
    return out.reset_index(drop=True)


def as_cube(cube_or_messages: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """The daily cube of a cube or a messages table, with the ``keys`` columns.

    Parameters
    ----------
    cube_or_messages : DataFrame
        A cube (has ``date`` and the count columns) or a messages table (has ``sent_at``).
    keys : sequence of str
        Columns that must be in the cube.

    Returns
    -------
    DataFrame
        The cube (``cube_or_messages`` itself when it already is one).

    Raises
    ------
    ValueError
        If the table is neither, or a key column is missing from a cube.
    """
    keys = list(keys)
    columns = set(cube_or_messages.columns)
    if "sent_at" in columns and "messages" not in columns:
        return daily_cube(cube_or_messages, by=keys)
    missing = [c for c in ("date", *CUBE_COUNT_COLUMNS) if c not in columns]
    if missing:
        raise ValueError(
            "expected a daily cube (deliverability_econ.daily_cube) or a messages table "
            "(deliverability_econ.messages); missing columns: " + ", ".join(missing)
        )
    absent = [k for k in keys if k not in columns]
    if absent:
        raise ValueError(
            f"the cube has no column {absent}; build it with daily_cube(messages, by=...) "
            "including these keys, or pass the messages table"
        )
    return cube_or_messages


def period_start(dates: pd.Series, freq: str) -> pd.Series:
    """First day of the ``"D"``, ``"W"`` (Monday-based) or ``"M"`` period of each date.

    Parameters
    ----------
    dates : Series of datetime64
        Days (timezone-naive, as in the cube).
    freq : {"D", "W", "M"}

    Returns
    -------
    Series of datetime64[ns]
    """
    dates = pd.to_datetime(dates).dt.floor("D")
    if freq == "D":
        start = dates
    elif freq == "W":
        start = dates - pd.to_timedelta(dates.dt.day_of_week, unit="D")
    elif freq == "M":
        start = dates - pd.to_timedelta(dates.dt.day - 1, unit="D")
    else:
        raise ValueError(f"freq must be one of {FREQUENCIES}, not {freq!r}")
    return start.astype("datetime64[ns]")


def warn_low_volume(
    denominators: np.ndarray, minimum: int, template: str, stacklevel: int = 3
) -> None:
    """Issue one :class:`LowVolumeWarning` if any denominator is below ``minimum``.

    ``template`` is formatted with ``count``, ``total`` and ``minimum``.
    """
    denominators = np.asarray(denominators)
    low = int(np.sum(denominators < minimum))
    if low:
        warnings.warn(
            template.format(count=low, total=len(denominators), minimum=minimum),
            LowVolumeWarning,
            stacklevel=stacklevel,
        )


# --------------------------------------------------------------------------------------------
# Latency
# --------------------------------------------------------------------------------------------


def delivery_latency(
    messages: pd.DataFrame,
    by: Sequence[str] | str = ("stream",),
    percentiles: Sequence[float] = (0.5, 0.9, 0.99),
    interval: float = DEFAULT_INTERVAL,
    *,
    min_messages: int = DEFAULT_MIN_MESSAGES,
) -> pd.DataFrame:
    """Percentiles of the delivery latency per keys, with distribution-free intervals.

    The latency of a message is ``delivery_latency_s`` of the messages table: its first
    ``processed`` to its first ``delivered`` event. Messages without both (bounced, pending, or
    an export without processed events) are not timed and not counted.

    Parameters
    ----------
    messages : DataFrame
        The messages table (:func:`deliverability_econ.messages`).
    by : str or sequence of str
        Key columns, default ``("stream",)``; ``()`` for all messages together. A missing key
        value is a group of its own.
    percentiles : sequence of float
        Quantiles to report [fraction 0-1], default the median, the 90th and 99th percentiles.
    interval : float
        Probability content of the quantile intervals [fraction 0-1].
    min_messages : int
        Timed messages [messages] under which a :class:`LowVolumeWarning` is issued.

    Returns
    -------
    DataFrame
        One row per key. Columns: the keys; ``timed`` [messages]; ``latency_mean_s`` [s]; and
        for each percentile ``q``, ``latency_p<100q>_s`` (e.g. ``latency_p50_s``,
        ``latency_p99.9_s``) [s] with ``_low`` and ``_high`` ends [s].

    Notes
    -----
    The point is ``numpy.quantile`` (linear interpolation). The interval is the exact
    order-statistic interval ``[x_(r), x_(s)]`` with ``r = B^-1(a/2)`` and
    ``s = B^-1(1 - a/2) + 1``, ``B`` the Binomial(n, q) distribution and ``a = 1 - interval``;
    it needs no assumption on the shape of the distribution. An end that would fall outside
    the sample (too few messages for that percentile) is NaN.
    """
    keys = [by] if isinstance(by, str) else list(by)
    _check_messages(messages, [*keys, "delivery_latency_s"])
    for q in percentiles:
        if not 0.0 < q < 1.0:
            raise ValueError(f"percentiles must be in (0, 1), not {q!r}")
    latency = messages["delivery_latency_s"].astype("float64")
    frame = messages[keys].assign(_latency=latency.to_numpy())
    frame = frame[frame["_latency"].notna()]
    rows = []
    groups = frame.groupby(keys, sort=True, dropna=False, observed=True) if keys else [((), frame)]
    for key, group in groups:
        key = key if isinstance(key, tuple) else (key,)
        values = np.sort(group["_latency"].to_numpy())
        row: dict[str, object] = dict(zip(keys, key, strict=True))
        row["timed"] = len(values)
        row["latency_mean_s"] = float(values.mean()) if len(values) else np.nan
        for q in percentiles:
            label = percentile_label(q)
            point, low, high = quantile_interval(values, q, interval)
            row[f"latency_{label}_s"] = point
            row[f"latency_{label}_s_low"] = low
            row[f"latency_{label}_s_high"] = high
        rows.append(row)
    columns = [*keys, "timed", "latency_mean_s"] + [
        f"latency_{percentile_label(q)}_s{end}"
        for q in percentiles
        for end in ("", "_low", "_high")
    ]
    out = pd.DataFrame(rows, columns=columns)
    out["timed"] = out["timed"].astype("int64")
    warn_low_volume(
        out["timed"].to_numpy(),
        min_messages,
        "delivery_latency: {count} of {total} group(s) have fewer than {minimum} timed messages",
    )
    return out


def percentile_label(q: float) -> str:
    """``0.5 -> "p50"``, ``0.999 -> "p99.9"``."""
    return f"p{round(q * 100, 6):g}"


def quantile_interval(values: np.ndarray, q: float, interval: float) -> tuple[float, float, float]:
    """Point and distribution-free interval of the ``q`` quantile of sorted ``values``.

    Returns ``(point, low, high)``; NaN for an empty sample, and for an end the sample is too
    small to give (see :func:`delivery_latency`).
    """
    n = len(values)
    if n == 0:
        return np.nan, np.nan, np.nan
    alpha = 1.0 - interval
    point = float(np.quantile(values, q))
    lower_rank = int(stats.binom.ppf(alpha / 2.0, n, q))
    upper_rank = int(stats.binom.ppf(1.0 - alpha / 2.0, n, q)) + 1
    low = float(values[lower_rank - 1]) if lower_rank >= 1 else np.nan
    high = float(values[upper_rank - 1]) if upper_rank <= n else np.nan
    return point, low, high


def late_share(
    messages: pd.DataFrame,
    threshold_s: float,
    by: Sequence[str] | str = ("stream",),
    interval: float = DEFAULT_INTERVAL,
    method: str = "wilson",
    *,
    min_messages: int = DEFAULT_MIN_MESSAGES,
) -> pd.DataFrame:
    """Share of messages delivered later than a deadline, with intervals.

    Time-critical mail fails its funnel when it arrives late: a password reset or a login code
    that lands after its user gave up counts as lost even though the ESP reports it delivered.

    Parameters
    ----------
    messages : DataFrame
        The messages table (:func:`deliverability_econ.messages`).
    threshold_s : float
        The deadline [s] after the message was processed; later is late.
    by : str or sequence of str
        Key columns, default ``("stream",)``; filter the messages first to look at one stream.
    interval : float
        Probability content of the intervals [fraction 0-1].
    method : {"wilson", "jeffreys"}
        Interval method (see :func:`proportion_interval`).
    min_messages : int
        Denominator [messages] under which a :class:`LowVolumeWarning` is issued.

    Returns
    -------
    DataFrame
        One row per key. Columns: the keys; ``timed`` [messages]: delivered messages with a
        measured latency; ``late`` [messages]: those slower than ``threshold_s``;
        ``undelivered`` [messages]: messages with another final status (bounced, blocked,
        dropped, pending); ``late_share`` = late / timed with ``_low``/``_high`` [fraction
        0-1]; ``missed_deadline_share`` = (late + undelivered) / (timed + undelivered) with
        ``_low``/``_high`` [fraction 0-1], the share of the stream that did not reach the
        recipient in time, which is what a funnel loses. Delivered messages without a
        measured latency are in neither denominator.

    Examples
    --------
    >>> table = messages_table  # doctest: +SKIP
    >>> late_share(table[table["stream"] == "password_reset"], threshold_s=300)  # doctest: +SKIP
    """
    if not np.isfinite(threshold_s) or threshold_s < 0:
        raise ValueError(
            f"threshold_s must be a non-negative number of seconds, not {threshold_s!r}"
        )
    keys = [by] if isinstance(by, str) else list(by)
    _check_messages(messages, [*keys, "delivery_latency_s", "delivered"])
    latency = messages["delivery_latency_s"].to_numpy(dtype="float64", na_value=np.nan)
    delivered = messages["delivered"].to_numpy(dtype=bool, na_value=False)
    timed = delivered & ~np.isnan(latency)
    frame = (
        messages[keys]
        .reset_index(drop=True)
        .assign(
            timed=timed.astype("int64"),
            late=(timed & (latency > threshold_s)).astype("int64"),
            undelivered=(~delivered).astype("int64"),
        )
    )
    counts = ["timed", "late", "undelivered"]
    if keys:
        out = (
            frame.groupby(keys, sort=True, dropna=False, observed=True)[counts].sum().reset_index()
        )
    else:
        out = frame[counts].sum().to_frame().T.astype("int64")
    pairs = {
        "late_share": (out["late"], out["timed"]),
        "missed_deadline_share": (
            out["late"] + out["undelivered"],
            out["timed"] + out["undelivered"],
        ),
    }
    for name, (numerator, denominator) in pairs.items():
        k = numerator.to_numpy(dtype="float64")
        n = denominator.to_numpy(dtype="float64")
        with np.errstate(divide="ignore", invalid="ignore"):
            out[name] = np.where(n > 0, k / n, np.nan)
        out[f"{name}_low"], out[f"{name}_high"] = proportion_interval(k, n, interval, method)
    out.attrs["threshold_s"] = float(threshold_s)
    warn_low_volume(
        out["timed"].to_numpy(),
        min_messages,
        "late_share: {count} of {total} group(s) have fewer than {minimum} timed deliveries",
    )
    return out


def _check_messages(messages: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in messages.columns]
    if missing:
        raise ValueError(
            "expected the messages table (deliverability_econ.messages); missing columns: "
            + ", ".join(missing)
        )
