"""Inbox placement: how much of the mail sent reached the inbox, the spam folder, or nothing.

Logs say which messages were delivered, never in which folder. The three-way split that
seed-list vendors report (inbox + spam + missing = 1, as fractions of the messages *sent*) is
estimated here from what the logs do show:

- **missing** is observed: sent but never delivered (bounced, blocked, dropped, or still
  undelivered when the export ends, including mail that expired after deferrals);
- the **inbox share of delivered mail** ``p`` is inferred from human engagement.

The engagement model
--------------------
Among delivered messages, the share with unique human engagement (a human open or a human
click; Apple Mail Privacy Protection and other machine opens excluded, F33) is

.. math:: h = e \\, (p + r \\, (1 - p))

where ``e`` [fraction 0-1] is the audience's engagement propensity when the message is in the
inbox, ``p`` [fraction 0-1] the inbox share of delivered mail and ``r`` [fraction 0-1] the
relative chance that a spam-folder message is engaged with (:func:`expected_engagement_rate`,
inverted by :func:`inbox_share_from_engagement`). ``e`` and ``p`` are confounded in any single
cell: half the engagement could be half the inbox or half the interest. So ``e`` is
*calibrated* per mailbox provider, from the strongest source available (``calibration``
column, :data:`CALIBRATIONS`):

1. ``seed_tests`` (M1): in every tested period the seeds are binomial with that period's ``p``
   and the engaged count is negative binomial (Poisson with the period-to-period engagement
   noise) around ``exposure e (p + r (1 - p))``, counts and not log-rates, so that weeks with a
   handful of engaged messages (a small provider) do not overstate ``e``; ``p`` is integrated
   out per period and the likelihoods of ``e`` (at most 1, :data:`MAX_PROPENSITY`) are pooled
   over the tested periods, then ``e`` is carried to every period. A tested period also uses its own seed counts as a
   second measurement of ``p``, with ``e`` calibrated on the *other* tested periods, so no
   count is used twice.
2. ``postmaster`` (Gmail): the benchmark calibration (4.), checked against Google Postmaster's
   domain-reputation bands: each draw of ``e`` implies a placement for the periods rated
   ``HIGH``, ``MEDIUM``, ... and is weighted by how well that agrees with F19's figure for the
   band (:data:`REPUTATION_BAND_INBOX_SHARE`), each band counted once. Postmaster's spam rate
   (reports over *inbox* mail, F4) cannot give ``p`` without the report counts, which Gmail
   never sends (no feedback loop), so it enters only through the band.
3. ``snds`` (Microsoft): the benchmark calibration checked against SNDS filter verdicts per
   dedicated IP and day, which bound the share of mail judged spam (F13: green under 10%, red
   over 90%; :data:`SNDS_FILTER_SPAM_SHARE`): draws of ``e`` whose implied placement leaves the
   bounds lose weight. The verdicts also bound ``p`` of the Microsoft cells they cover.
4. ``benchmark``: a published per-provider inbox placement (section 9 of the domain facts, from
   F17, :data:`BENCHMARK_INBOX_SHARE`) is assumed for a reference level of engagement: the upper
   quartile of the provider's periods (:data:`BENCHMARK_REFERENCE_QUANTILE`), or the periods of
   ``reference_period``.

Optionally (``use_complaints``), feedback-loop complaints, which only inbox mail can draw (F4,
F14), reweight each period's draws, their rate per inbox message calibrated on the other
periods. It is off by default: a few complaints a week carry almost no information about
``p``, and a complaint spike would read as better placement.

Comparing like with like
------------------------
A password reset is opened ~85% of the time, a newsletter ~20% (E3), and the mix moves from
week to week; a list import brings in people who rarely open anything. With a messages table
(or a cube with ``stream``), each (stream, recipient cohort) pair gets its own relative
engagement ``w`` (cohort: the week of a recipient's first message), estimated from all periods
with a two-way multiplicative model ``E[engaged] = delivered * w * rho`` fit by iterative
proportional fitting, so that a period's engagement index ``rho = engaged / sum(delivered *
w)`` is free of mix. Only its level needs the calibration. A pair seen in a single period fits
any placement; one-off cohorts of a stream are pooled, and what is still seen once is left out.

Uncertainty
-----------
Every interval comes from a seeded Monte Carlo over ``n_draws`` joint draws of

- each period's engagement index: with ``smooth`` (default) from a hidden-random-walk model
  with occasional jumps over the periods of each series (binomial observations on a grid,
  averaged over a grid of volatility settings weighted by their marginal likelihood), else
  from a Beta posterior of each period's engagement rate;
- period-to-period engagement variation that no count can tell from placement
  (``engagement_noise``, relative);
- the calibration: seed counts, Postmaster bands and the benchmark prior (a band's or a
  benchmark's error is the same every period: one draw per Monte Carlo draw, not per period);
- ``r``, uniform over ``spam_engagement_ratio``.

Where the cells are the calibration rows (per provider, or provider and stream, at the
calibration frequency), they share the calibration's draws of the engagement index: a
period's engagement is read once, not once for the reference level and again, independently,
for the period. Without seed tests almost all of a 90% interval's width is the benchmark
prior's doubt about the reference period (:data:`BENCHMARK_SD`).

Draws of ``p`` above 1 (possible when the noise is large) are read as 1. The point estimate
is the median draw. The accuracy of all this is *measured* on the simulator's ground truth in
``benchmarks/bench_placement_accuracy.py`` (results in ``benchmarks/placement_accuracy.md``).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ._random import RandomState, check_random_state
from .rates import LowVolumeWarning, period_start, warn_low_volume

__all__ = [
    "BENCHMARK_INBOX_SHARE",
    "CALIBRATIONS",
    "DEFAULT_ENGAGEMENT_NOISE",
    "DEFAULT_SPAM_ENGAGEMENT_RATIO",
    "LowVolumeWarning",
    "PLACEMENT_COLUMNS",
    "PlacementEstimator",
    "PlacementFit",
    "REPUTATION_BAND_INBOX_SHARE",
    "SNDS_FILTER_SPAM_SHARE",
    "estimate_placement",
    "expected_engagement_rate",
    "inbox_share_from_engagement",
    "naive_inbox_rate",
]

# --------------------------------------------------------------------------------------------
# Documented assumptions
# --------------------------------------------------------------------------------------------

#: Half-width of section 9's plausible range of the per-provider inbox placement ("±5 pts",
#: F17) [fraction 0-1].
BENCHMARK_PLAUSIBLE_HALF_RANGE = 0.05

#: Standard deviation of the per-provider benchmark prior [fraction 0-1]: section 9's plausible
#: range read as the prior's central 90% (``0.05 / 1.645 = 0.0304``), the probability content
#: of this module's intervals and the "90% range" under which the report's assumptions table
#: shows this prior. Reading the range as one sd (0.05, before) put a third of the prior outside
#: the range the source calls plausible and made the non-seed intervals over-cover (99% of
#: true values inside the 90% intervals on the simulator, whose providers sit within a couple
#: of points of these figures; ``benchmarks/placement_accuracy.md``).
BENCHMARK_SD = BENCHMARK_PLAUSIBLE_HALF_RANGE / float(stats.norm.ppf(0.95))

#: Benchmark inbox share of delivered mail per mailbox provider: (mean, standard deviation)
#: [fraction 0-1], the prior of the ``benchmark`` calibration for a reference period.
#: Section 9 of the domain facts (from F17, Validity 2026 via 3rd-party summaries): Gmail 0.90,
#: Yahoo 0.87, Microsoft 0.77, Apple 0.82, "±5 pts" (:data:`BENCHMARK_SD`); AT&T mail runs on
#: Yahoo's platform; ``other`` (business mail behind Office 365 / Google Workspace and corporate
#: filters) takes F17's B2B hosting figure 0.83; Comcast, like any provider without a figure,
#: the global default 0.85 (section 9, F15-F17) with a wider 0.07. F17's figures are shares of
#: *sent* seeds while ``p`` here is a share of *delivered* mail, which reads higher by the
#: missing share (F15: 10%, F20: 6% of seeds missing): a sender whose placement sits outside
#: the plausible range, or whose missing share is large, needs seed tests to replace this prior
#: (or ``prior=`` with its own figures).
BENCHMARK_INBOX_SHARE: dict[str, tuple[float, float]] = {
    "gmail": (0.90, BENCHMARK_SD),
    "yahoo": (0.87, BENCHMARK_SD),
    "att": (0.87, BENCHMARK_SD),
    "microsoft": (0.77, BENCHMARK_SD),
    "apple": (0.82, BENCHMARK_SD),
    "other": (0.83, BENCHMARK_SD),
}

#: Prior for providers without an entry in :data:`BENCHMARK_INBOX_SHARE`: (mean, sd) [fraction
#: 0-1]; section 9's global inbox placement 0.85 (83-87%).
DEFAULT_BENCHMARK_INBOX_SHARE: tuple[float, float] = (0.85, 0.07)

#: Google Postmaster domain-reputation band -> prior (mean, sd) of Gmail's inbox share of
#: delivered mail [fraction 0-1]. F19 (Return Path Sender Score benchmarks): scores 91-100
#: placed 92% (2017) / 91% (2018) in the inbox, 81-90 72% / 68%, 71-80 45% / 42%, 70 and below
#: "a small fraction". Postmaster's bands are read as those score bands (HIGH, MEDIUM, LOW,
#: BAD); the sds are assumptions wide enough to span each band's range on a logistic
#: reputation-to-placement curve through F19's points.
REPUTATION_BAND_INBOX_SHARE: dict[str, tuple[float, float]] = {
    "HIGH": (0.915, 0.04),
    "MEDIUM": (0.70, 0.07),
    "LOW": (0.435, 0.08),
    "BAD": (0.15, 0.10),
}

#: Microsoft SNDS filter verdict -> range of the share of an IP's mail judged spam [fraction
#: 0-1] (F13: green under 10%, yellow 10-90%, red over 90%). Judged spam includes mail
#: rejected outright, so the bound on the spam-folder share of *delivered* mail uses the
#: blocked counts of the logs (see :func:`estimate_placement`).
SNDS_FILTER_SPAM_SHARE: dict[str, tuple[float, float]] = {
    "GREEN": (0.0, 0.10),
    "YELLOW": (0.10, 0.90),
    "RED": (0.90, 1.0),
}

#: Default range of ``r``, the chance that a spam-folder message is engaged with relative to an
#: inbox message [fraction 0-1], drawn uniformly. F21: only about 0.02% of messages are ever
#: marked "not spam", so marketing mail left in spam is almost never read; E4: 3-4 of 100
#: sign-ups rescue their verification mail from spam (of ~20 there, r about 0.2) for mail a user
#: is waiting for. For a sender's engagement-weighted mix, dominated by marketing volume, 0 to
#: 0.10 is assumed; pass a narrower or per-sender range where known.
DEFAULT_SPAM_ENGAGEMENT_RATIO: tuple[float, float] = (0.0, 0.10)

#: Relative standard deviation of a period's engagement propensity around the audience's level,
#: beyond binomial noise and the stream mix (content, news, seasonality) [fraction]. Assumption,
#: checked against the simulator: it keeps 90% intervals at about 90% coverage.
DEFAULT_ENGAGEMENT_NOISE = 0.02

#: Delivered messages per cell under which a :class:`LowVolumeWarning` is issued [messages].
#: At 1,000 delivered messages and a 15% engagement rate, binomial noise alone moves ``h`` by
#: about ±15% (90%); SparkPost's Health Score and SendGrid's SEQ need ~1,000 messages (M7).
DEFAULT_MIN_DELIVERED = 1_000

#: Which of a provider's periods the benchmark prior describes, without ``reference_period``:
#: the delivered-weighted quantile of the (smoothed) engagement index over periods [fraction
#: 0-1]. The upper quartile is the sender at its healthier (a benchmark is what a working
#: program achieves) and stays clear of an incident or a botched migration that lasts up to
#: three quarters of the span; the median would not survive a cold cut-over that spoils half.
BENCHMARK_REFERENCE_QUANTILE = 0.75

#: Feedback-loop complaints a calibration group needs over the whole span before
#: ``use_complaints`` lets them inform placement [complaints].
MIN_COMPLAINTS = 20

#: Calibration sources, strongest first (``calibration`` column).
CALIBRATIONS: tuple[str, ...] = ("seed_tests", "postmaster", "snds", "benchmark")

_FREQUENCIES = ("D", "W", "M", None)

#: Columns of :func:`estimate_placement` after ``period`` and the keys, in order.
PLACEMENT_COLUMNS: tuple[str, ...] = (
    "sent",
    "delivered",
    "engaged_human",
    "inbox_rate",
    "inbox_low",
    "inbox_high",
    "spam_rate",
    "spam_low",
    "spam_high",
    "missing_rate",
    "inbox_share_of_delivered",
    "inbox_share_of_delivered_low",
    "inbox_share_of_delivered_high",
    "calibration",
    "method",
    "seeds_used",
    "low_volume",
)


# --------------------------------------------------------------------------------------------
# The engagement model as plain functions
# --------------------------------------------------------------------------------------------


def expected_engagement_rate(inbox_share, propensity, spam_engagement_ratio):
    """Human engagement per delivered message given the placement: ``e (p + r (1 - p))``.

    Parameters
    ----------
    inbox_share : float or array
        ``p``, inbox share of delivered mail [fraction 0-1].
    propensity : float or array
        ``e``, share of inbox messages a human engages with (opens or clicks) [fraction 0-1].
    spam_engagement_ratio : float or array
        ``r``, engagement chance of a spam-folder message relative to an inbox one [fraction
        0-1].

    Returns
    -------
    float or ndarray
        Engaged messages per delivered message [fraction 0-1].

    Examples
    --------
    A quarter of the delivered mail in spam, 40% engagement in the inbox, spam-folder mail
    engaged a twentieth as often: ``0.4 * (0.75 + 0.05 * 0.25) = 0.305``.

    >>> round(float(expected_engagement_rate(0.75, 0.4, 0.05)), 6)
    0.305
    """
    p = np.asarray(inbox_share, dtype=float)
    return np.asarray(propensity, dtype=float) * (p + np.asarray(spam_engagement_ratio) * (1 - p))


def inbox_share_from_engagement(engagement_rate, propensity, spam_engagement_ratio):
    """Invert :func:`expected_engagement_rate`: ``p = (h / e - r) / (1 - r)``, clipped to [0, 1].

    Parameters
    ----------
    engagement_rate : float or array
        ``h``, engaged messages per delivered message [fraction 0-1].
    propensity : float or array
        ``e`` [fraction 0-1], > 0.
    spam_engagement_ratio : float or array
        ``r`` [fraction 0-1], < 1.

    Returns
    -------
    float or ndarray
        ``p``, inbox share of delivered mail [fraction 0-1]; engagement above ``e`` reads as 1,
        below ``e r`` as 0.

    Examples
    --------
    >>> round(float(inbox_share_from_engagement(0.305, 0.4, 0.05)), 6)
    0.75
    """
    r = np.asarray(spam_engagement_ratio, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = (np.asarray(engagement_rate, dtype=float) / np.asarray(propensity, dtype=float) - r) / (
            1.0 - r
        )
    return np.clip(p, 0.0, 1.0)


def beta_parameters(mean, sd):
    """Beta(``a``, ``b``) with the given mean and standard deviation (method of moments).

    Parameters
    ----------
    mean : float or array
        [fraction 0-1], strictly inside.
    sd : float or array
        [fraction 0-1], below ``sqrt(mean (1 - mean))``.

    Returns
    -------
    a, b : ndarray

    Examples
    --------
    >>> a, b = beta_parameters(0.9, 0.05)
    >>> round(float(a), 2), round(float(b), 2)
    (31.5, 3.5)
    """
    mean = np.asarray(mean, dtype=float)
    sd = np.asarray(sd, dtype=float)
    if np.any((mean <= 0) | (mean >= 1)):
        raise ValueError(f"a Beta mean must be inside (0, 1), not {mean}")
    if np.any((sd <= 0) | (sd**2 >= mean * (1 - mean))):
        raise ValueError(f"a Beta sd must be in (0, sqrt(mean (1 - mean))), not {sd}")
    total = mean * (1 - mean) / sd**2 - 1.0
    return mean * total, (1 - mean) * total


# --------------------------------------------------------------------------------------------
# Input: daily counts of a cube or a messages table
# --------------------------------------------------------------------------------------------

_COUNTS = ("sent", "delivered", "blocked", "engaged_human", "opened_any", "complained")


def _daily_counts(cube_or_messages: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Daily counts per ``keys``: ``date``, keys, then :data:`_COUNTS`.

    From a messages table the engagement counts are exact unions per message
    (``engaged_human = opened_human | clicked``, ``opened_any = opened_human | opened_machine``).
    A cube counts each flag alone, so there ``engaged_human`` is its own column when present,
    else ``max(opened_human, clicked)`` per row (both are proportional to the inbox share, so the
    calibration absorbs the choice), and ``opened_any`` is ``min(delivered, opened_human +
    opened_machine)``.
    """
    table = cube_or_messages
    columns = set(table.columns)
    keys = list(keys)
    is_messages = "sent_at" in columns and "messages" not in columns
    if not is_messages and not {"date", "messages", "delivered"} <= columns:
        raise ValueError(
            "expected a messages table (deliverability_econ.messages: has sent_at) or a daily "
            "cube (deliverability_econ.daily_cube: has date, messages, delivered); got columns "
            f"{sorted(columns)}"
        )
    absent = [k for k in keys if k not in columns]
    if absent:
        raise ValueError(
            f"estimate_placement needs the key columns {absent}, which the table does not have; "
            f"available: {sorted(columns)}"
        )
    if is_messages:
        needed = ("delivered", "blocked", "opened_human", "opened_machine", "clicked", "complained")
        missing = [c for c in needed if c not in columns]
        if missing:
            raise ValueError("the messages table lacks columns: " + ", ".join(missing))
        sent_at = table["sent_at"]
        if not isinstance(sent_at.dtype, pd.DatetimeTZDtype):
            sent_at = pd.to_datetime(sent_at, utc=True)
        date = sent_at.dt.tz_convert("UTC").dt.tz_localize(None).dt.floor("D")

        def flag(name: str) -> np.ndarray:
            return table[name].to_numpy(dtype=bool, na_value=False)

        frame = pd.DataFrame(
            {
                "date": date.astype("datetime64[ns]").to_numpy(),
                **{k: table[k].reset_index(drop=True) for k in keys},
                "sent": np.ones(len(table), dtype=np.int64),
                "delivered": flag("delivered").astype(np.int64),
                "blocked": flag("blocked").astype(np.int64),
                "engaged_human": (flag("opened_human") | flag("clicked")).astype(np.int64),
                "opened_any": (flag("opened_human") | flag("opened_machine")).astype(np.int64),
                "complained": flag("complained").astype(np.int64),
            }
        )
    else:
        needed = ("opened_human", "clicked") if "engaged_human" not in columns else ()
        missing = [c for c in needed if c not in columns]
        if missing:
            raise ValueError(
                "the cube lacks engagement columns: "
                + ", ".join(missing)
                + " (daily_cube has them)"
            )

        def column(name: str) -> np.ndarray:
            if name not in columns:
                return np.zeros(len(table), dtype=np.int64)
            return table[name].to_numpy(dtype=np.int64, na_value=0)

        delivered = column("delivered")
        if "engaged_human" in columns:
            engaged = column("engaged_human")
        else:
            engaged = np.maximum(column("opened_human"), column("clicked"))
        if "opened_any" in columns:
            opened_any = column("opened_any")
        else:
            opened_any = np.minimum(delivered, column("opened_human") + column("opened_machine"))
        frame = pd.DataFrame(
            {
                "date": pd.to_datetime(table["date"])
                .dt.floor("D")
                .astype("datetime64[ns]")
                .to_numpy(),
                **{k: table[k].reset_index(drop=True) for k in keys},
                "sent": column("messages"),
                "delivered": delivered,
                "blocked": column("blocked"),
                "engaged_human": engaged,
                "opened_any": opened_any,
                "complained": column("complained"),
            }
        )
    if frame.empty:
        return frame
    return (
        frame.groupby(["date", *keys], sort=True, dropna=False, observed=True)[list(_COUNTS)]
        .sum()
        .reset_index()
    )


#: A recipient cohort (the week of a recipient's first message in the data) gets its own
#: engagement level only when it carries at least this share of all messages [fraction 0-1]
#: and at least :data:`COHORT_MIN_LATER_SHARE` of its messages after its first week; smaller
#: or fleeting cohorts (a week's sign-ups, people mailed once) join the established audience,
#: where their few messages cost less variance than their own parameter would.
COHORT_MIN_SHARE = 0.05
#: See :data:`COHORT_MIN_SHARE` [fraction 0-1].
COHORT_MIN_LATER_SHARE = 0.5


def _with_cohorts(messages: pd.DataFrame) -> pd.DataFrame:
    """The messages with ``_cohort``: the week of each recipient's first message (a label) for
    the cohorts that pass :data:`COHORT_MIN_SHARE` and :data:`COHORT_MIN_LATER_SHARE` (a list
    import, a migration of another list), ``established`` for everyone else."""
    sent_at = messages["sent_at"]
    if not isinstance(sent_at.dtype, pd.DatetimeTZDtype):
        sent_at = pd.to_datetime(sent_at, utc=True)
    day = sent_at.dt.tz_convert("UTC").dt.tz_localize(None).dt.floor("D").astype("datetime64[ns]")
    week = period_start(day, "W")
    first = week.groupby(messages["recipient"].to_numpy(), sort=False, dropna=False).transform(
        "min"
    )
    summary = pd.DataFrame({"cohort": first.to_numpy(), "later": (week > first).to_numpy()})
    summary = summary.groupby("cohort")["later"].agg(["size", "mean"])
    earliest = summary.index.min()
    own = summary.index[
        (summary.index > earliest)
        & (summary["size"] >= COHORT_MIN_SHARE * len(messages))
        & (summary["mean"] >= COHORT_MIN_LATER_SHARE)
    ]
    label = np.where(
        first.isin(own).to_numpy(), first.dt.strftime("%Y-%m-%d").to_numpy(), "established"
    )
    return messages.assign(_cohort=label)


def _periods(dates: pd.Series, freq: str | None) -> pd.Series:
    if freq is None:
        return pd.Series(np.full(len(dates), dates.min()), index=dates.index).astype(
            "datetime64[ns]"
        )
    return period_start(dates, freq)


def _check_freq(freq: str | None) -> None:
    if freq not in _FREQUENCIES:
        raise ValueError(f"freq must be one of {_FREQUENCIES}, not {freq!r}")


# --------------------------------------------------------------------------------------------
# The naive proxy (the baseline to beat)
# --------------------------------------------------------------------------------------------


def naive_inbox_rate(
    cube_or_messages: pd.DataFrame,
    *,
    by: Sequence[str] | str = ("mailbox_provider",),
    freq: str | None = "W",
) -> pd.DataFrame:
    """The naive placement proxy: each period's open rate relative to the best period.

    What a dashboard without a placement model shows: the open rate counting **every** open,
    machine opens included (Apple Mail Privacy Protection prefetches, F30-F33), divided by the
    best period's open rate, taken as the inbox share of delivered mail; times the observed
    delivered share to put it per message sent::

        open_rate       = messages with any open / delivered        (per period and keys)
        inbox_naive     = delivered / sent * open_rate / max over periods of open_rate

    The maximum is over the periods of the same keys. It assumes the best period placed
    everything in the inbox and that opens track placement, both wrong: MPP opens happen in the
    spam folder too and make the open rate flat.

    Parameters
    ----------
    cube_or_messages : DataFrame
        A messages table (exact "any open" per message) or a daily cube (any open approximated
        by ``min(delivered, opened_human + opened_machine)``).
    by : str or sequence of str
    freq : {"D", "W", "M"} or None

    Returns
    -------
    DataFrame
        ``period``, the ``by`` keys, ``sent``, ``delivered``, ``open_rate`` [fraction of
        delivered] and ``inbox_rate_naive`` [fraction of sent].
    """
    _check_freq(freq)
    keys = [by] if isinstance(by, str) else list(by)
    daily = _daily_counts(cube_or_messages, keys)
    daily["period"] = _periods(daily["date"], freq)
    table = (
        daily.groupby(["period", *keys], sort=True, dropna=False, observed=True)[
            ["sent", "delivered", "opened_any"]
        ]
        .sum()
        .reset_index()
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        table["open_rate"] = table["opened_any"] / table["delivered"]
    if keys:
        best = table.groupby(keys, dropna=False, observed=True)["open_rate"].transform("max")
    else:
        best = pd.Series(table["open_rate"].max(), index=table.index)
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.clip(table["open_rate"] / best, 0.0, 1.0)
        table["inbox_rate_naive"] = table["delivered"] / table["sent"] * relative.fillna(0.0)
    return table.drop(columns="opened_any")


# --------------------------------------------------------------------------------------------
# Stream weights: a two-way multiplicative engagement model
# --------------------------------------------------------------------------------------------


def _stream_weights(
    cell: np.ndarray,
    pair: np.ndarray,
    group_of_pair: np.ndarray,
    delivered: np.ndarray,
    engaged: np.ndarray,
    n_cells: int,
    n_pairs: int,
    iterations: int = 500,
    tolerance: float = 1e-9,
) -> np.ndarray:
    """Relative engagement ``w`` of each pair (a stream, or a stream and recipient cohort, within
    a calibration group), fit by iterative proportional fitting of ``E[engaged] = delivered * w
    * rho_cell`` over rows (cell, pair); ``w`` averages 1 per delivered message of each group.
    A pair never engaged with gets 0 (its messages carry no information).
    """
    delivered_by_pair = np.bincount(pair, delivered, n_pairs)
    engaged_by_pair = np.bincount(pair, engaged, n_pairs)
    engaged_by_cell = np.bincount(cell, engaged, n_cells)
    n_groups = int(group_of_pair.max()) + 1 if n_pairs else 0
    delivered_by_group = np.bincount(group_of_pair, delivered_by_pair, n_groups)
    weights = np.ones(n_pairs)
    for _ in range(iterations):
        exposure = np.bincount(cell, delivered * weights[pair], n_cells)
        rho = np.divide(engaged_by_cell, exposure, out=np.zeros(n_cells), where=exposure > 0)
        denominator = np.bincount(pair, delivered * rho[cell], n_pairs)
        new = np.divide(engaged_by_pair, denominator, out=np.zeros(n_pairs), where=denominator > 0)
        weighted = np.bincount(group_of_pair, delivered_by_pair * new, n_groups)
        scale = np.divide(delivered_by_group, weighted, out=np.ones(n_groups), where=weighted > 0)
        new = new * scale[group_of_pair]
        converged = np.max(np.abs(new - weights), initial=0.0) < tolerance
        weights = new
        if converged:
            break
    return weights


# --------------------------------------------------------------------------------------------
# Smoothing the engagement index over time
# --------------------------------------------------------------------------------------------

#: Week-to-week volatility of the engagement index tried by the smoother: standard deviation of
#: a step relative to the series' level [fraction per period].
SMOOTHING_STEP_SD: tuple[float, ...] = (0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32)
#: Chance per period that the index jumps anywhere (an incident, a migration) [fraction].
SMOOTHING_JUMP_PROBABILITY: tuple[float, ...] = (0.01, 0.05, 0.2)
_GRID_POINTS = 240


@dataclass
class _Series:
    """One time series of engagement counts (a calibration group, or a cell's keys)."""

    engaged: np.ndarray
    delivered: np.ndarray
    exposure: np.ndarray


def _series_level(series: _Series) -> float:
    ok = (series.delivered > 0) & (series.exposure > 0)
    if not ok.any() or series.engaged[ok].sum() <= 0:
        return 0.0
    return float(series.engaged[ok].sum() / series.exposure[ok].sum())


def _emission(series: _Series, grid: np.ndarray) -> np.ndarray:
    """Binomial likelihood (scaled to a maximum of 1 per period) of each period's engaged count
    at each grid value of rho; 1 everywhere for a period without delivered mail."""
    ok = (series.delivered > 0) & (series.exposure > 0)
    h = np.clip(
        grid[None, :] * (series.exposure / np.where(ok, series.delivered, 1.0))[:, None],
        1e-12,
        1 - 1e-12,
    )
    log_l = series.engaged[:, None] * np.log(h) + (series.delivered - series.engaged)[
        :, None
    ] * np.log1p(-h)
    log_l = np.where(ok[:, None], log_l, 0.0)
    return np.exp(log_l - log_l.max(axis=1, keepdims=True))


def _transition(relative_grid: np.ndarray, step_sd: float, jump: float) -> np.ndarray:
    scale = max(step_sd, relative_grid[1] - relative_grid[0])
    kernel = np.exp(-0.5 * ((relative_grid[None, :] - relative_grid[:, None]) / scale) ** 2)
    kernel /= kernel.sum(axis=1, keepdims=True)
    return (1.0 - jump) * kernel + jump / len(relative_grid)


def _forward_backward(likelihood: np.ndarray, transition: np.ndarray) -> tuple[np.ndarray, float]:
    """Smoothed marginals (periods x grid) and the log marginal likelihood of a grid HMM with a
    uniform initial state."""
    periods, size = likelihood.shape
    alpha = np.empty((periods, size))
    log_evidence = 0.0
    state = np.full(size, 1.0 / size)
    for t in range(periods):
        state = (state @ transition if t else state) * likelihood[t]
        norm = state.sum()
        log_evidence += np.log(norm)
        state = state / norm
        alpha[t] = state
    gamma = np.empty_like(alpha)
    beta = np.ones(size)
    gamma[-1] = alpha[-1]
    for t in range(periods - 2, -1, -1):
        beta = transition @ (likelihood[t + 1] * beta)
        beta /= beta.sum()
        posterior = alpha[t] * beta
        gamma[t] = posterior / posterior.sum()
    return gamma, log_evidence


def _smooth_engagement(
    series_list: list[_Series],
) -> tuple[list[tuple[np.ndarray, np.ndarray]], tuple[float, float]]:
    """Smoothed posteriors of each series' engagement index ``rho`` on a grid.

    A hidden random walk with occasional jumps (step sd relative to the series' level from
    :data:`SMOOTHING_STEP_SD`, jump chance from :data:`SMOOTHING_JUMP_PROBABILITY`) observed
    through binomial engagement counts. Each series' marginals are averaged over that grid of
    settings, weighted by their marginal likelihoods (Bayesian model averaging with a uniform
    prior), so quiet periods borrow strength from their neighbours only as far as the series
    shows it is quiet, and a migration or an incident shows as a jump the data pick up at once.

    Returns
    -------
    list of (grid, marginals) per series, and the single most likely (step sd, jump
    probability) over all series, for the record.
    """
    levels = [_series_level(series) for series in series_list]
    top = 3.0
    for series, level in zip(series_list, levels, strict=True):
        ok = (series.delivered > 0) & (series.exposure > 0)
        if level > 0 and ok.any():
            top = max(top, 1.5 * float((series.engaged[ok] / series.exposure[ok]).max()) / level)
    relative = np.linspace(0.0, top, _GRID_POINTS + 1)[1:]
    prepared = []
    for series, level in zip(series_list, levels, strict=True):
        # A series without engagement: a grid on the engagement rate scale, all near zero.
        scale = level if level > 0 else 1.0 / max(float(series.exposure.sum()), 1.0)
        grid = relative * scale
        prepared.append((grid, _emission(series, grid)))
    transitions = [
        _transition(relative, step_sd, jump)
        for step_sd in SMOOTHING_STEP_SD
        for jump in SMOOTHING_JUMP_PROBABILITY
    ]
    out = []
    evidence_total = np.zeros(len(transitions))
    for grid, likelihood in prepared:
        if len(likelihood) < 2:
            out.append((grid, likelihood / likelihood.sum(axis=1, keepdims=True)))
            continue
        fits = [_forward_backward(likelihood, transition) for transition in transitions]
        evidence = np.array([fit[1] for fit in fits])
        evidence_total += evidence
        # Average over the smoothing settings, weighted by how well each explains this series
        # (uniform prior over the grid): a short or noisy series keeps the doubt about how
        # fast its placement moves in its intervals.
        weights = np.exp(evidence - evidence.max())
        weights /= weights.sum()
        marginals = sum(w * fit[0] for w, fit in zip(weights, fits, strict=True))
        out.append((grid, marginals))
    best = int(np.argmax(evidence_total))
    settings = [(a, b) for a in SMOOTHING_STEP_SD for b in SMOOTHING_JUMP_PROBABILITY]
    return out, settings[best]


def _grid_draws(
    grid: np.ndarray, marginals: np.ndarray, size: int, rng: np.random.Generator
) -> np.ndarray:
    """Draws (periods x size) from marginals on an even grid, jittered within a grid step."""
    spacing = grid[1] - grid[0] if len(grid) > 1 else 0.0
    cumulative = np.cumsum(marginals, axis=1)
    u = rng.uniform(size=(len(marginals), size)) * cumulative[:, -1:]
    index = np.minimum(
        np.array([np.searchsorted(row, values) for row, values in zip(cumulative, u, strict=True)]),
        len(grid) - 1,
    )
    return np.clip(grid[index] + spacing * (rng.uniform(size=index.shape) - 0.5), 1e-12, None)


def _engagement_index_draws(
    series: np.ndarray,
    periods: np.ndarray,
    engaged: np.ndarray,
    delivered: np.ndarray,
    exposure: np.ndarray,
    size: int,
    rng: np.random.Generator,
    smooth: bool,
    noise: float,
) -> tuple[np.ndarray, tuple[float, float] | None]:
    """Draws of the engagement index ``rho = engaged / exposure`` per row (rows x size): NaN
    where a row has no delivered mail or no exposure.

    With ``smooth``, rows of one ``series`` code are a time series (ordered by ``periods``) and
    the draws come from the smoothed posterior (:func:`_smooth_engagement`); otherwise from a
    Beta posterior of each row's engagement rate (Jeffreys prior). Either way they are multiplied
    by ``exp(noise z - noise**2 / 2)``: engagement moves from period to period for reasons other
    than placement, and that movement cannot be told apart from a placement change.
    """
    engaged = np.asarray(engaged, float)
    delivered = np.asarray(delivered, float)
    exposure = np.asarray(exposure, float)
    ok = (delivered > 0) & (exposure > 0)
    draws = np.full((len(engaged), size), np.nan)
    chosen = None
    if smooth and len(engaged):
        order = np.lexsort((np.asarray(periods), np.asarray(series)))
        codes = np.asarray(series)[order]
        bounds = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1], True])
        pieces = [order[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        posteriors, chosen = _smooth_engagement(
            [_Series(engaged[p], delivered[p], exposure[p]) for p in pieces]
        )
        for rows, (grid, marginals) in zip(pieces, posteriors, strict=True):
            draws[rows] = _grid_draws(grid, marginals, size, rng)
    else:
        a = np.where(ok, engaged + 0.5, 1.0)
        b = np.where(ok, delivered - engaged + 0.5, 1.0)
        share = rng.beta(a[:, None], b[:, None], size=(len(a), size))
        with np.errstate(divide="ignore", invalid="ignore"):
            draws = share * (delivered / exposure)[:, None]
    draws = draws * np.exp(noise * rng.standard_normal(draws.shape) - noise**2 / 2)
    draws[~ok] = np.nan
    return draws, chosen


# --------------------------------------------------------------------------------------------
# Calibration sources
# --------------------------------------------------------------------------------------------


#: Grid of ``log(e / centre)`` for the seed calibration, and of ``p`` integrated over.
_PROPENSITY_GRID = np.linspace(-0.8, 0.8, 241)
_SHARE_GRID = np.linspace(0.004, 0.996, 125)

#: Largest engagement propensity ``e`` the seed calibration considers [fraction 0-1]: ``e`` is
#: the chance that a human engages with an inbox message (of average stream weight), a
#: probability.
MAX_PROPENSITY = 1.0


def _engagement_count_log_likelihood(engaged, expected, noise):
    """Log likelihood of engaged counts given their expectation, up to a constant per count.

    The counts are Poisson given the period's engagement propensity, which varies from period
    to period by a relative sd of ``noise`` (gamma-distributed: the mixture is a negative
    binomial with shape ``1 / noise**2``, variance ``expected + noise**2 expected**2``); with
    ``noise = 0``, Poisson. Both terms work on the counts themselves, so a period with 0, 1 or
    2 engaged messages weighs what it tells: a log-rate measured from such a count, with a
    standard error computed from the same count, is biased upward and gives the periods that
    happened to draw more engagement more weight.

    Parameters
    ----------
    engaged : ndarray
        Engaged messages [messages], broadcastable against ``expected``.
    expected : ndarray
        Expected engaged messages [messages], > 0.
    noise : float
        Relative sd of the period's propensity [fraction].

    Returns
    -------
    ndarray
        ``log P(engaged | expected)`` without the terms that do not depend on ``expected``.

    Examples
    --------
    Poisson, 3 counts expected 2: ``3 log 2 - 2 = 0.0794``.

    >>> round(float(_engagement_count_log_likelihood(3.0, 2.0, 0.0)), 4)
    0.0794
    """
    engaged = np.asarray(engaged, dtype=float)
    expected = np.asarray(expected, dtype=float)
    if noise <= 0:
        return engaged * np.log(expected) - expected
    shape = 1.0 / noise**2
    return engaged * np.log(expected) - (engaged + shape) * np.log1p(expected / shape)


def _seed_propensity_posterior(
    engaged: np.ndarray,
    exposure: np.ndarray,
    seed_inbox: np.ndarray,
    seed_spam: np.ndarray,
    ratios: np.ndarray,
    noise: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Log likelihood of the propensity ``e`` on a grid, per tested period and ``r`` value.

    In period ``t`` the seeds are binomial with the true inbox share ``p_t`` and the engaged
    count is negative binomial around ``exposure_t e (p_t + r (1 - p_t))``
    (:func:`_engagement_count_log_likelihood`); ``p_t`` is unknown and is integrated out (flat
    prior on a grid). Pooling these per-period likelihoods lets every tested period calibrate,
    a migration week as well as a quiet one, without a per-period prior or a plug-in estimate
    of ``p_t`` (either would bias ``e``). Values of ``e`` above :data:`MAX_PROPENSITY` are
    excluded.

    Returns
    -------
    grid : ndarray
        Values of ``e`` [fraction].
    log_likelihood : ndarray
        Shape (r values, periods, grid).
    """
    engaged = np.asarray(engaged, dtype=float)
    exposure = np.asarray(exposure, dtype=float)
    log_rho = np.log((engaged + 0.5) / exposure)
    centre_p = (seed_inbox.sum() + 0.5) / (seed_inbox.sum() + seed_spam.sum() + 1.0)
    centre = float(np.exp(np.median(log_rho)) / (centre_p + ratios.mean() * (1 - centre_p)))
    centre = min(centre, MAX_PROPENSITY * np.exp(-_PROPENSITY_GRID[-1] / 2))
    for _ in range(4):
        grid, out = _seed_likelihood_on_grid(
            centre * np.exp(_PROPENSITY_GRID),
            engaged,
            exposure,
            seed_inbox,
            seed_spam,
            ratios,
            noise,
        )
        peak = np.argmax(out.sum(axis=1), axis=1)
        at_cap = grid[np.minimum(peak + 1, len(grid) - 1)] > MAX_PROPENSITY
        if np.all((peak > 0) & ((peak < len(grid) - 1) | at_cap)):
            break
        # The likelihood peaks at an end of the grid: move the grid there and try again.
        centre = min(
            float(grid[int(np.median(peak))]), MAX_PROPENSITY * np.exp(-_PROPENSITY_GRID[-1] / 2)
        )
    return grid, out


def _seed_likelihood_on_grid(grid, engaged, exposure, seed_inbox, seed_spam, ratios, noise):
    p = _SHARE_GRID
    log_seeds = (
        seed_inbox[:, None] * np.log(p)[None, :] + seed_spam[:, None] * np.log1p(-p)[None, :]
    )
    log_seeds = log_seeds - log_seeds.max(axis=1, keepdims=True)
    out = np.empty((len(ratios), len(engaged), len(grid)))
    base = exposure[:, None] * grid[None, :]  # (periods, e grid)
    for k, ratio in enumerate(ratios):
        g = p + ratio * (1 - p)
        expected = np.maximum(base[:, :, None] * g[None, None, :], 1e-300)  # (periods, e, p)
        log_count = _engagement_count_log_likelihood(engaged[:, None, None], expected, noise)
        joint = log_seeds[:, None, :] + log_count
        peak = joint.max(axis=2, keepdims=True)
        out[k] = (peak + np.log(np.exp(joint - peak).sum(axis=2, keepdims=True)))[..., 0]
    # Excluded values: a log likelihood so low that no draw lands there, finite so that the
    # leave-one-out differences stay defined.
    out[:, :, grid > MAX_PROPENSITY] = -1e250
    return grid, out


def _sample_grid(
    grid: np.ndarray, log_weights: np.ndarray, index: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Draws from discrete densities on a log-even ``grid``: draw ``j`` from row ``index[j]`` of
    ``log_weights`` (rows x grid), jittered within a grid step."""
    weights = np.exp(log_weights - log_weights.max(axis=-1, keepdims=True))
    cumulative = np.cumsum(weights, axis=-1)
    cumulative /= cumulative[:, -1:]
    u = rng.uniform(size=len(index))
    position = np.empty(len(index), dtype=np.int64)
    for row in np.unique(index):
        chosen = index == row
        position[chosen] = np.searchsorted(cumulative[row], u[chosen])
    position = np.minimum(position, len(grid) - 1)
    step = np.log(grid[1] / grid[0]) if len(grid) > 1 else 0.0
    return grid[position] * np.exp(step * (rng.uniform(size=len(index)) - 0.5))


def _seed_propensity_draws(
    engaged: np.ndarray,
    exposure: np.ndarray,
    noise: float,
    seed_inbox: np.ndarray,
    seed_spam: np.ndarray,
    ratios: np.ndarray,
    ratio_index: np.ndarray,
    rng: np.random.Generator,
    leave_out: bool,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Draws of ``e`` from the seed calibration (:func:`_seed_propensity_posterior`), one per
    Monte Carlo draw, each given that draw's ``r`` (``ratios[ratio_index]``); and, with
    ``leave_out``, per tested period, draws calibrated on the other periods only."""
    grid, log_l = _seed_propensity_posterior(
        engaged, exposure, seed_inbox, seed_spam, ratios, noise
    )
    total = log_l.sum(axis=1)  # (r values, grid)
    e = np.minimum(_sample_grid(grid, total, ratio_index, rng), MAX_PROPENSITY)
    e_out = None
    if leave_out:
        e_out = np.empty((len(engaged), len(ratio_index)))
        for t in range(len(engaged)):
            e_out[t] = np.minimum(
                _sample_grid(grid, total - log_l[:, t, :], ratio_index, rng), MAX_PROPENSITY
            )
    return e, e_out


def _seed_counts(seed_tests: pd.DataFrame | None, freq: str) -> pd.DataFrame:
    """Seed inbox and spam counts per provider and period."""
    columns = ["mailbox_provider", "period", "seed_inbox", "seed_spam"]
    if seed_tests is None or len(seed_tests) == 0:
        return pd.DataFrame({c: [] for c in columns})
    needed = {"date", "mailbox_provider", "inbox", "spam", "missing"}
    missing = needed - set(seed_tests.columns)
    if missing:
        raise ValueError(
            f"seed_tests lacks columns {sorted(missing)}; expected date, mailbox_provider, inbox, "
            "spam, missing (counts of seed mailboxes, as read by io.read_seed_tests)"
        )
    inbox = pd.to_numeric(seed_tests["inbox"], errors="raise").to_numpy(dtype=float)
    spam = pd.to_numeric(seed_tests["spam"], errors="raise").to_numpy(dtype=float)
    if np.any(inbox < 0) or np.any(spam < 0):
        raise ValueError("seed_tests: inbox and spam must be non-negative counts of seed mailboxes")
    frame = pd.DataFrame(
        {
            "mailbox_provider": seed_tests["mailbox_provider"].astype("string").to_numpy(),
            "period": period_start(_naive_days(seed_tests["date"]), freq).to_numpy(),
            "seed_inbox": inbox,
            "seed_spam": spam,
        }
    )
    return frame.groupby(["mailbox_provider", "period"], as_index=False)[
        ["seed_inbox", "seed_spam"]
    ].sum()


def _naive_days(values: pd.Series) -> pd.Series:
    values = pd.to_datetime(values)
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    return values.dt.floor("D").astype("datetime64[ns]")


def _postmaster_days(postmaster: pd.DataFrame | None) -> pd.DataFrame:
    """Days with a Gmail domain-reputation band: ``date``, ``band``."""
    if postmaster is None or len(postmaster) == 0:
        return pd.DataFrame(
            {"date": pd.Series(dtype="datetime64[ns]"), "band": pd.Series(dtype=object)}
        )
    if "date" not in postmaster.columns or "domain_reputation" not in postmaster.columns:
        raise ValueError(
            "postmaster needs the columns date and domain_reputation (io.read_postmaster output)"
        )
    band = postmaster["domain_reputation"].astype("string").str.upper()
    frame = pd.DataFrame({"date": _naive_days(postmaster["date"]), "band": band})
    frame = frame[frame["band"].isin(list(REPUTATION_BAND_INBOX_SHARE))]
    # Several domains on one day: each day's bands count alike.
    return frame.reset_index(drop=True)


def _snds_days(snds: pd.DataFrame | None) -> pd.DataFrame:
    """SNDS rows: ``date``, ``ip``, ``messages`` and the judged-spam range ``spam_low/high``."""
    empty = pd.DataFrame(
        {
            "date": pd.Series(dtype="datetime64[ns]"),
            "ip": pd.Series(dtype="string"),
            "messages": pd.Series(dtype=float),
            "spam_low": pd.Series(dtype=float),
            "spam_high": pd.Series(dtype=float),
        }
    )
    if snds is None or len(snds) == 0:
        return empty
    needed = {"ip", "activity_start", "message_recipients", "filter_result"}
    missing = needed - set(snds.columns)
    if missing:
        raise ValueError(f"snds lacks columns {sorted(missing)} (io.read_snds output)")
    verdict = snds["filter_result"].astype("string").str.upper()
    known = verdict.isin(list(SNDS_FILTER_SPAM_SHARE)).to_numpy(dtype=bool, na_value=False)
    frame = pd.DataFrame(
        {
            "date": _naive_days(snds["activity_start"]),
            "ip": snds["ip"].astype("string"),
            "messages": pd.to_numeric(snds["message_recipients"], errors="coerce").astype(float),
            "verdict": verdict,
        }
    )[known]
    frame["spam_low"] = frame["verdict"].map(lambda v: SNDS_FILTER_SPAM_SHARE[v][0]).astype(float)
    frame["spam_high"] = frame["verdict"].map(lambda v: SNDS_FILTER_SPAM_SHARE[v][1]).astype(float)
    return frame.drop(columns="verdict").reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# The estimator
# --------------------------------------------------------------------------------------------


def _ratio_range(spam_engagement_ratio) -> tuple[float, float]:
    if np.ndim(spam_engagement_ratio) == 0:
        low = high = float(spam_engagement_ratio)
    else:
        values = [float(v) for v in spam_engagement_ratio]
        if len(values) != 2:
            raise ValueError("spam_engagement_ratio must be a number or a (low, high) pair")
        low, high = values
    if not 0.0 <= low <= high < 1.0:
        raise ValueError(
            f"spam_engagement_ratio must satisfy 0 <= low <= high < 1, not {spam_engagement_ratio!r}"
        )
    return low, high


def _benchmark(provider: str, prior: Mapping[str, tuple[float, float]]) -> tuple[float, float]:
    mean, sd = prior.get(provider, DEFAULT_BENCHMARK_INBOX_SHARE)
    beta_parameters(mean, sd)  # validates
    return float(mean), float(sd)


def _weighted_quantile_rows(values: np.ndarray, weights: np.ndarray, q: float) -> np.ndarray:
    """Weighted ``q`` quantile along axis 1 of ``values`` (draws x periods), per-period weights."""
    order = np.argsort(values, axis=1)
    sorted_values = np.take_along_axis(values, order, axis=1)
    cumulative = np.cumsum(weights[order], axis=1)
    index = np.argmax(cumulative >= q * cumulative[:, -1:], axis=1)
    return sorted_values[np.arange(values.shape[0]), index]


def _join_labels(target: np.ndarray, labels: np.ndarray, size: int) -> list[str]:
    """Union of ``+``-joined labels per target row, e.g. ``engagement+seed_tests``."""
    joined: list[set[str]] = [set() for _ in range(size)]
    for t, label in zip(target, labels, strict=True):
        joined[t].update(str(label).split("+"))
    order = {
        name: i
        for i, name in enumerate(("engagement", "prior", "none", *CALIBRATIONS, "complaints"))
    }
    return ["+".join(sorted(s, key=lambda name: (order.get(name, 99), name))) for s in joined]


def _resample_weighted(
    values: np.ndarray, log_weights: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Importance resampling of ``values`` with ``log_weights`` (unchanged when no weight is
    finite)."""
    finite = np.isfinite(log_weights)
    if not finite.any():
        return values
    w = np.exp(np.where(finite, log_weights - log_weights[finite].max(), -np.inf))
    w /= w.sum()
    return values[rng.choice(len(values), size=len(values), p=w)]


def _update_with_seeds(
    p: np.ndarray, inbox: float, spam: float, rng: np.random.Generator
) -> np.ndarray:
    """Update draws of ``p`` with seed counts (binomial likelihood) by importance resampling;
    when the draws hardly overlap the seeds' likelihood, a moment-matched Beta is updated
    instead (conjugate)."""
    log_w = inbox * np.log(np.clip(p, 1e-12, 1.0)) + spam * np.log(np.clip(1 - p, 1e-12, 1.0))
    w = np.exp(log_w - log_w.max())
    w /= w.sum()
    if 1.0 / np.sum(w**2) >= 0.05 * len(p):
        return p[rng.choice(len(p), size=len(p), p=w)]
    mean = float(np.clip(p.mean(), 1e-4, 1 - 1e-4))
    variance = float(max(p.var(), 1e-8))
    total = max(mean * (1 - mean) / variance - 1.0, 1.0)
    return rng.beta(mean * total + inbox, (1 - mean) * total + spam, size=len(p))


def _snds_inbox_bounds(
    rows: pd.DataFrame, delivered: float, blocked_share: float
) -> tuple[float, float] | None:
    """Bounds on the inbox share of delivered mail from SNDS rows covering part of a cell.

    SNDS judges ``j = (spam + blocked) / (delivered + blocked)``, so the spam-folder share of
    delivered mail is ``(j - b) / (1 - b)`` with ``b`` the blocked share of attempted mail. The
    covered share ``w`` of the cell's delivered mail is bounded that way; the rest may be
    anywhere in [0, 1]. None when the rows cover less than half the cell.
    """
    if delivered <= 0:
        return None
    messages = rows["messages"].fillna(0.0).to_numpy(float)
    if messages.sum() <= 0:
        return None
    covered = min(messages.sum() / delivered, 1.0)
    if covered < 0.5:
        return None
    spam_low = float(np.average(rows["spam_low"], weights=messages))
    spam_high = float(np.average(rows["spam_high"], weights=messages))
    b = min(max(blocked_share, 0.0), 0.999)
    share_low = np.clip((spam_low - b) / (1 - b), 0.0, 1.0)
    share_high = np.clip((spam_high - b) / (1 - b), 0.0, 1.0)
    return float(covered * (1 - share_high)), float(covered * (1 - share_low) + (1 - covered))


# --------------------------------------------------------------------------------------------
# Step 1: the engagement model's data
# --------------------------------------------------------------------------------------------


@dataclass
class _EngagementData:
    """Counts the estimator works on.

    ``cells``: one row per requested period x keys x provider, with the outcome counts,
    ``group`` (calibration group code), ``provider`` and the engagement model's ``engaged``,
    ``informative`` (delivered messages of stream x cohort pairs seen in at least two
    calibration cells; a pair seen once fits any placement and tells nothing) and ``exposure``
    (those messages weighted by their pair's relative engagement). ``calibration``: the same
    per group x calibration period (days or weeks). ``daily``: delivered and blocked per group
    and day.
    """

    cells: pd.DataFrame
    calibration: pd.DataFrame
    daily: pd.DataFrame
    groups: list[str]
    group_keys: list[str]
    cell_keys: list[str]
    stream_weights: pd.DataFrame


def _engagement_data(
    cube_or_messages: pd.DataFrame, keys: list[str], freq: str | None, calibration_freq: str
) -> _EngagementData:
    provider_key = "mailbox_provider"
    cell_keys = keys if provider_key in keys else [*keys, provider_key]
    group_keys = [provider_key] + (["stream"] if "stream" in keys else [])
    columns = set(cube_or_messages.columns)
    within_stream = "stream" in columns and "stream" not in keys
    cohorts = {"sent_at", "recipient"} <= columns and "messages" not in columns
    table = _with_cohorts(cube_or_messages) if cohorts else cube_or_messages
    daily_keys = (
        cell_keys + (["stream"] if within_stream else []) + (["_cohort"] if cohorts else [])
    )
    daily = _daily_counts(table, daily_keys)
    if daily.empty:
        raise ValueError("no messages to estimate placement from")

    daily["period"] = _periods(daily["date"], freq)
    daily["calibration_period"] = period_start(daily["date"], calibration_freq)
    daily["_provider"] = daily[provider_key].astype("string").fillna("unknown").to_numpy()
    labels = daily[group_keys[0]].astype("string").fillna("<none>")
    for name in group_keys[1:]:
        labels = labels + "\x1f" + daily[name].astype("string").fillna("<none>")
    group_codes, groups = pd.factorize(labels, sort=True)
    daily["_group"] = group_codes
    within = (
        daily["stream"].astype("string").fillna("<none>")
        if within_stream
        else pd.Series("<all>", index=daily.index, dtype="string")
    )
    if cohorts:
        within = within + "\x1d" + daily["_cohort"].astype("string")
    # Relative engagement of each (stream, cohort) pair, fit on calibration cells (period x
    # keys): there the periods are short enough for placement to be one number, and a monthly
    # or whole-span output still gets weekly cells to separate streams from periods.
    fine = (
        daily.groupby(["calibration_period", *cell_keys], sort=True, dropna=False, observed=True)
        .ngroup()
        .to_numpy()
    )
    pair = labels + "\x1e" + within
    if cohorts:
        # A cohort that gets a stream in one calibration cell only (each week's sign-ups get
        # their verification mail that week) joins the stream's pool of such one-off cohorts.
        spans = (
            pd.DataFrame({"pair": pair.to_numpy(), "cell": fine}).groupby("pair")["cell"].nunique()
        )
        one_off = pair.map(spans).to_numpy() < 2
        pooled = labels + "\x1e" + within.str.split("\x1d").str[0] + "\x1d" + "one-off"
        pair = pair.where(~one_off, pooled)
    pair_codes, pair_labels = pd.factorize(pair, sort=True)
    group_code = {label: code for code, label in enumerate(groups)}
    pair_group = np.array(
        [group_code[label.split("\x1e")[0]] for label in pair_labels], dtype=np.int64
    )
    pairs = (
        pd.DataFrame(
            {
                "cell": fine,
                "pair": pair_codes,
                "delivered": daily["delivered"].to_numpy(float),
                "engaged": daily["engaged_human"].to_numpy(float),
            }
        )
        .groupby(["cell", "pair"], as_index=False)
        .sum()
    )
    cells_per_pair = np.bincount(pairs["pair"].to_numpy(), minlength=len(pair_labels))
    informative_pair = cells_per_pair >= 2
    kept = informative_pair[pairs["pair"].to_numpy()]
    weights = _stream_weights(
        pairs["cell"].to_numpy()[kept],
        pairs["pair"].to_numpy()[kept],
        pair_group,
        pairs["delivered"].to_numpy()[kept],
        pairs["engaged"].to_numpy()[kept],
        int(fine.max()) + 1,
        len(pair_labels),
    )
    informative = informative_pair[pair_codes]
    daily["_informative"] = np.where(informative, daily["delivered"].to_numpy(float), 0.0)
    daily["_informative_engaged"] = np.where(
        informative, daily["engaged_human"].to_numpy(float), 0.0
    )
    daily["_exposure"] = daily["_informative"].to_numpy() * weights[pair_codes]

    def aggregate(frame_keys: list[str]) -> pd.DataFrame:
        grouped = daily.groupby(frame_keys, sort=True, dropna=False, observed=True)
        out = grouped[[*_COUNTS, "_informative", "_informative_engaged", "_exposure"]].sum()
        out = out.reset_index()
        out["group"] = grouped["_group"].first().to_numpy()
        out["provider"] = grouped["_provider"].first().to_numpy()
        return out.rename(
            columns={
                "_informative": "informative",
                "_informative_engaged": "engaged",
                "_exposure": "exposure",
            }
        )

    cells = aggregate(["period", *cell_keys])
    calibration = aggregate(["_group", "calibration_period"]).drop(columns="_group")
    per_day = daily.groupby(["_group", "date"], sort=True)[["delivered", "blocked"]].sum()

    split = [label.split("\x1e") for label in pair_labels]
    stream_weights = pd.DataFrame(
        {
            **{
                name: [group.split("\x1f")[i] for group, _ in split]
                for i, name in enumerate(group_keys)
            },
            "stream": [inner.split("\x1d")[0] for _, inner in split],
            "recipient_cohort": [
                inner.split("\x1d")[1] if "\x1d" in inner else None for _, inner in split
            ],
            "weight": np.where(informative_pair, weights, np.nan),
        }
    )
    if not within_stream:
        stream_weights = stream_weights.drop(columns="stream")
    if not cohorts:
        stream_weights = stream_weights.drop(columns="recipient_cohort")
    return _EngagementData(
        cells=cells,
        calibration=calibration,
        daily=per_day.reset_index(),
        groups=list(groups),
        group_keys=group_keys,
        cell_keys=cell_keys,
        stream_weights=stream_weights,
    )


# --------------------------------------------------------------------------------------------
# Step 2: calibrating the engagement propensity e of each group
# --------------------------------------------------------------------------------------------


@dataclass
class _Context:
    """Shared Monte Carlo state: generator, draws of r (discretized uniform), settings."""

    rng: np.random.Generator
    n_draws: int
    ratio_values: np.ndarray
    ratio_index: np.ndarray
    noise: float
    priors: Mapping[str, tuple[float, float]]

    @property
    def r(self) -> np.ndarray:
        return self.ratio_values[self.ratio_index]

    def g(self, p: np.ndarray) -> np.ndarray:
        """``p + r (1 - p)`` per draw."""
        return p + self.r * (1.0 - p)


@dataclass
class _Calibration:
    source: str
    propensity: np.ndarray  # draws of e
    periods: int = 0
    seeds: int = 0
    leave_out: dict[pd.Timestamp, np.ndarray] = field(default_factory=dict)


def _seed_calibration(rows, rho, seeds_by_key, provider, context, leave_out) -> _Calibration | None:
    periods = [pd.Timestamp(t) for t in rows["calibration_period"]]
    usable = (rows["informative"].to_numpy() > 0) & (rows["exposure"].to_numpy() > 0)
    seeded = [i for i, t in enumerate(periods) if usable[i] and (provider, t) in seeds_by_key]
    if not seeded:
        return None
    counts = np.array([seeds_by_key[(provider, periods[i])] for i in seeded], dtype=float)
    e, e_out = _seed_propensity_draws(
        rows["engaged"].to_numpy(float)[seeded],
        rows["exposure"].to_numpy(float)[seeded],
        context.noise,
        counts[:, 0],
        counts[:, 1],
        context.ratio_values,
        context.ratio_index,
        context.rng,
        leave_out=leave_out and len(seeded) >= 3,
    )
    calibration = _Calibration("seed_tests", e, len(seeded), int(counts.sum()))
    if e_out is not None:
        calibration.leave_out = {periods[i]: e_out[j] for j, i in enumerate(seeded)}
    return calibration


def _implied_shares(rho: np.ndarray, e: np.ndarray, context: _Context) -> np.ndarray:
    """``p`` implied per period and draw by engagement ``rho`` (periods x draws) and ``e``."""
    r = context.r
    return np.clip((rho / e[None, :] - r) / (1.0 - r), 0.0, 1.0)


def _reweighted(
    calibration: _Calibration, log_weights: np.ndarray, source: str, context: _Context
) -> _Calibration:
    """Update the draws of ``e`` with evidence (``log_weights`` per draw) by importance
    resampling within each value of ``r``, so that every draw keeps the ``r`` it was computed
    with. Unchanged when the evidence rules out every draw (it then contradicts the prior)."""
    e = calibration.propensity.copy()
    finite = np.isfinite(log_weights) & np.isfinite(e)
    if not finite.any():
        return calibration
    for value in np.unique(context.ratio_index):
        members = np.flatnonzero(context.ratio_index == value)
        logs = np.where(finite[members], log_weights[members], -np.inf)
        if not np.isfinite(logs).any():
            continue
        weights = np.exp(logs - logs.max())
        weights /= weights.sum()
        e[members] = calibration.propensity[
            members[context.rng.choice(len(members), size=len(members), p=weights)]
        ]
    return _Calibration(source, e, calibration.periods, calibration.seeds)


def _with_postmaster(calibration, rows, rho, days, freq, context) -> _Calibration:
    """Gmail: the benchmark calibration checked against Google Postmaster's reputation bands.

    Each draw of ``e`` implies a placement in every period; its weight is how well the
    delivered-weighted mean placement of the periods rated ``HIGH`` (and likewise ``MEDIUM``,
    ``LOW``, ``BAD``) agrees with F19's figure for that band
    (:data:`REPUTATION_BAND_INBOX_SHARE`). Each band counts once, not once per period: a
    band's error (how the sender's placement sits in its band) repeats period after period.
    A period counts under its most frequent band.
    """
    if days.empty:
        return calibration
    band_period = period_start(days["date"], freq).to_numpy()
    exposure = rows["exposure"].to_numpy(float)
    periods = rows["calibration_period"].to_numpy()
    implied = _implied_shares(rho, calibration.propensity, context)
    log_weights = np.zeros(context.n_draws)
    used = 0
    for band, (mean, sd) in REPUTATION_BAND_INBOX_SHARE.items():
        members = []
        for i, period in enumerate(periods):
            bands = days.loc[band_period == period, "band"]
            if (
                not bands.empty
                and bands.mode().iloc[0] == band
                and exposure[i] > 0
                and np.isfinite(rho[i]).all()
            ):
                members.append(i)
        if not members:
            continue
        share = (implied[members] * exposure[members, None]).sum(axis=0) / exposure[members].sum()
        a, b = beta_parameters(mean, sd)
        log_weights += stats.beta.logpdf(np.clip(share, 1e-6, 1 - 1e-6), a, b)
        used += len(members)
    if not used:
        return calibration
    return _reweighted(calibration, log_weights, "postmaster", context)


def _with_snds(calibration, rows, rho, days, blocked_share, freq, context) -> _Calibration:
    """Microsoft: the benchmark calibration checked against SNDS filter verdicts.

    A verdict bounds the inbox share of the period it covers (:func:`_snds_inbox_bounds`); a
    draw of ``e`` whose implied placement leaves those bounds loses weight (each period's
    verdict is a separate reading of separate mail). A green verdict for a provider whose
    benchmark is 0.77 says a lot; a yellow one (10-90% judged spam) rarely says anything.
    """
    if days.empty:
        return calibration
    verdict_period = period_start(days["date"], freq).to_numpy()
    exposure = rows["exposure"].to_numpy(float)
    implied = _implied_shares(rho, calibration.propensity, context)
    log_weights = np.zeros(context.n_draws)
    used = 0
    for i, period in enumerate(rows["calibration_period"].to_numpy()):
        chosen = days[verdict_period == period]
        if chosen.empty or exposure[i] <= 0 or not np.isfinite(rho[i]).all():
            continue
        bounds = _snds_inbox_bounds(chosen, float(rows["delivered"].iloc[i]), blocked_share[i])
        if bounds is None:
            continue
        low, high = bounds
        # Soft edges (0.02 on the inbox share): verdicts are computed on mail we see in part.
        outside = np.maximum(low - implied[i], 0.0) + np.maximum(implied[i] - high, 0.0)
        log_weights += -0.5 * (outside / 0.02) ** 2
        used += 1
    if not used:
        return calibration
    return _reweighted(calibration, log_weights, "snds", context)


def _benchmark_calibration(rows, rho, reference, provider, context) -> _Calibration:
    """The benchmark prior for the reference periods (``reference_period``, else the upper
    quartile of the engagement index, :data:`BENCHMARK_REFERENCE_QUANTILE`)."""
    mean, sd = _benchmark(provider, context.priors)
    a, b = beta_parameters(mean, sd)
    p_reference = stats.beta.ppf(context.rng.uniform(size=context.n_draws), a, b)
    exposure = rows["exposure"].to_numpy(float)
    periods = [pd.Timestamp(t) for t in rows["calibration_period"]]
    usable = [i for i in range(len(periods)) if exposure[i] > 0 and np.isfinite(rho[i]).all()]
    if reference is not None:
        chosen = [i for i in usable if reference[0] <= periods[i] <= reference[1]]
        if not chosen:
            raise ValueError(
                f"reference_period {reference} holds no period with engagement data for {provider}"
            )
        level = (rho[chosen] * exposure[chosen, None]).sum(axis=0) / exposure[chosen].sum()
    elif usable:
        chosen = usable
        level = _weighted_quantile_rows(
            rho[chosen].T, exposure[chosen], BENCHMARK_REFERENCE_QUANTILE
        )
    else:
        chosen = []
        level = np.full(context.n_draws, np.nan)
    return _Calibration("benchmark", level / context.g(p_reference), len(chosen))


# --------------------------------------------------------------------------------------------
# The fit
# --------------------------------------------------------------------------------------------


@dataclass
class PlacementFit:
    """Everything one placement estimate produced.

    Attributes
    ----------
    estimates : DataFrame
        The :func:`estimate_placement` table.
    calibration : DataFrame
        One row per calibration group (mailbox provider, and stream when ``stream`` is a key):
        ``calibration`` (source used), ``calibration_periods`` (periods it rests on),
        ``seeds`` (seed mailboxes with a folder, for ``seed_tests``), ``propensity``,
        ``propensity_low``, ``propensity_high`` (``e`` [fraction 0-1], median and interval).
    draws : ndarray
        Monte Carlo draws of ``inbox_rate`` [fraction of sent], shape (rows of ``estimates``,
        ``n_draws``), row-aligned with ``estimates``; each row's own distribution (draws of
        different rows are not paired).
    stream_weights : DataFrame
        Relative engagement per group, stream and recipient cohort (the week of a recipient's
        first message; ``weight`` averages 1 per delivered message; NaN for a pair seen in one
        period only, which is left out of the engagement model).
    parameters : dict
        The arguments used, and the smoothing setting that fit best.
    """

    estimates: pd.DataFrame
    calibration: pd.DataFrame
    draws: np.ndarray = field(repr=False)
    stream_weights: pd.DataFrame = field(repr=False)
    parameters: dict[str, Any] = field(default_factory=dict)


def _naive_timestamp(value: Any) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo is not None else stamp


def _fit(
    cube_or_messages: pd.DataFrame,
    *,
    by: Sequence[str] | str,
    freq: str | None,
    seed_tests: pd.DataFrame | None,
    postmaster: pd.DataFrame | None,
    snds: pd.DataFrame | None,
    interval: float,
    spam_engagement_ratio,
    prior: Mapping[str, tuple[float, float]] | None,
    engagement_noise: float,
    reference_period: tuple[Any, Any] | None,
    min_delivered: int,
    n_draws: int,
    smooth: bool,
    use_complaints: bool,
    random_state: RandomState,
) -> PlacementFit:
    _check_freq(freq)
    if not 0.0 < interval < 1.0:
        raise ValueError(f"interval must be a probability in (0, 1), not {interval!r}")
    if not engagement_noise >= 0:
        raise ValueError(f"engagement_noise must be >= 0, not {engagement_noise!r}")
    if int(n_draws) != n_draws or n_draws < 100:
        raise ValueError(f"n_draws must be an integer >= 100, not {n_draws!r}")
    keys = [by] if isinstance(by, str) else list(by)
    if len(set(keys)) != len(keys):
        raise ValueError(f"by repeats a column: {keys}")
    for reserved in ("period", "date"):
        if reserved in keys:
            raise ValueError(f"by cannot hold {reserved!r}; use freq")
    r_low, r_high = _ratio_range(spam_engagement_ratio)
    priors = {**BENCHMARK_INBOX_SHARE, **dict(prior or {})}
    reference = None
    if reference_period is not None:
        reference = tuple(_naive_timestamp(v) for v in reference_period)
    rng = check_random_state(random_state)
    ratio_values = np.linspace(r_low, r_high, 7) if r_high > r_low else np.array([r_low])
    context = _Context(
        rng=rng,
        n_draws=int(n_draws),
        ratio_values=ratio_values,
        ratio_index=rng.integers(0, len(ratio_values), size=int(n_draws)),
        noise=float(engagement_noise),
        priors=priors,
    )

    calibration_freq = freq if freq in ("D", "W") else "W"
    data = _engagement_data(cube_or_messages, keys, freq, calibration_freq)
    cells, cal = data.cells, data.calibration
    # Seeds count directly for a cell when it is a whole provider (or provider x stream) in
    # one calibration period; they always count through the calibration.
    direct = freq == calibration_freq and set(data.cell_keys) <= set(data.group_keys)

    seeds = _seed_counts(seed_tests, calibration_freq)
    seeds_by_key = {
        (row.mailbox_provider, pd.Timestamp(row.period)): (row.seed_inbox, row.seed_spam)
        for row in seeds.itertuples(index=False)
        if row.seed_inbox + row.seed_spam > 0
    }
    postmaster_days = _postmaster_days(postmaster)
    snds_days = _snds_days(snds)

    calibration_rho, calibration_smoothing = _engagement_index_draws(
        cal["group"].to_numpy(),
        cal["calibration_period"].to_numpy(),
        cal["engaged"].to_numpy(float),
        cal["informative"].to_numpy(float),
        cal["exposure"].to_numpy(float),
        context.n_draws,
        rng,
        smooth,
        context.noise,
    )
    low_q, high_q = (1 - interval) / 2, (1 + interval) / 2
    calibrations: dict[int, _Calibration] = {}
    records = []
    for k, label in enumerate(data.groups):
        index = np.flatnonzero(cal["group"].to_numpy() == k)
        rows = cal.iloc[index].reset_index(drop=True)
        rho = calibration_rho[index]
        provider = str(rows["provider"].iloc[0])
        per_day = data.daily[data.daily["_group"] == k]
        calibration = _seed_calibration(rows, rho, seeds_by_key, provider, context, direct)
        if calibration is None:
            calibration = _benchmark_calibration(rows, rho, reference, provider, context)
            if provider == "gmail" and len(postmaster_days):
                calibration = _with_postmaster(
                    calibration, rows, rho, postmaster_days, calibration_freq, context
                )
            if provider == "microsoft" and len(snds_days):
                day_period = period_start(per_day["date"], calibration_freq).to_numpy()
                blocked_share = []
                for period in rows["calibration_period"].to_numpy():
                    in_period = per_day[day_period == period]
                    attempted = float(in_period["delivered"].sum() + in_period["blocked"].sum())
                    blocked_share.append(float(in_period["blocked"].sum()) / max(attempted, 1.0))
                calibration = _with_snds(
                    calibration, rows, rho, snds_days, blocked_share, calibration_freq, context
                )
        calibrations[k] = calibration
        finite = calibration.propensity[np.isfinite(calibration.propensity)]
        records.append(
            {
                **dict(zip(data.group_keys, label.split("\x1f"), strict=True)),
                "calibration": calibration.source,
                "calibration_periods": calibration.periods,
                "seeds": calibration.seeds,
                "propensity": float(np.median(finite)) if len(finite) else np.nan,
                "propensity_low": float(np.quantile(finite, low_q)) if len(finite) else np.nan,
                "propensity_high": float(np.quantile(finite, high_q)) if len(finite) else np.nan,
            }
        )

    shared_rho = None
    if direct:
        # The cells are the calibration rows (one provider, or provider and stream, per
        # calibration period): their engagement index is the one the calibration was drawn
        # with, the same counts read once. Fresh draws would add the counts' noise a second
        # time, independently, between a period and the reference level it is scaled by.
        row_of = {
            (int(g), pd.Timestamp(t)): i
            for i, (g, t) in enumerate(zip(cal["group"], cal["calibration_period"], strict=True))
        }
        shared_rho = calibration_rho[
            [
                row_of[(int(g), pd.Timestamp(t))]
                for g, t in zip(cells["group"], cells["period"], strict=True)
            ]
        ]
    p_draws, method, seeds_used = _cell_draws(
        cells, data.cell_keys, calibrations, seeds_by_key, direct, smooth, context, shared_rho
    )
    if use_complaints:
        _update_with_complaints(cells, p_draws, method, context)
    if len(snds_days):
        _bound_with_snds(cells, data.cell_keys, p_draws, snds_days, freq)

    estimates, draws = _estimates_table(
        cells,
        keys,
        p_draws,
        method,
        seeds_used,
        np.array([calibrations[k].source for k in cells["group"]], dtype=object),
        interval,
        min_delivered,
    )
    parameters = {
        "by": tuple(keys),
        "freq": freq,
        "interval": interval,
        "spam_engagement_ratio": (r_low, r_high),
        "engagement_noise": engagement_noise,
        "reference_period": reference_period,
        "min_delivered": min_delivered,
        "n_draws": int(n_draws),
        "prior": priors,
        "smooth": smooth,
        "use_complaints": use_complaints,
        "smoothing": calibration_smoothing,
    }
    return PlacementFit(
        estimates=estimates,
        calibration=pd.DataFrame(records),
        draws=draws,
        stream_weights=data.stream_weights,
        parameters=parameters,
    )


# --------------------------------------------------------------------------------------------
# Step 3: placement draws per cell
# --------------------------------------------------------------------------------------------


def _cell_draws(cells, cell_keys, calibrations, seeds_by_key, direct, smooth, context, rho=None):
    """Draws of ``p`` (cells x draws), the method label and the seeds used of each cell.

    ``rho``: the cells' engagement-index draws when they are the calibration's own (cells x
    draws, draw-aligned with the calibration); drawn here otherwise.
    """
    n_cells = len(cells)
    delivered = cells["delivered"].to_numpy(float)
    if rho is None:
        series = (
            cells.groupby(cell_keys, sort=True, dropna=False, observed=True).ngroup().to_numpy()
        )
        rho, _ = _engagement_index_draws(
            series,
            cells["period"].to_numpy(),
            cells["engaged"].to_numpy(float),
            cells["informative"].to_numpy(float),
            cells["exposure"].to_numpy(float),
            context.n_draws,
            context.rng,
            smooth,
            context.noise,
        )
    p_draws = np.full((n_cells, context.n_draws), np.nan)
    method = np.empty(n_cells, dtype=object)
    seeds_used = np.zeros(n_cells, dtype=np.int64)
    r = context.r
    for c in range(n_cells):
        calibration = calibrations[int(cells["group"].iloc[c])]
        provider = str(cells["provider"].iloc[c])
        period = pd.Timestamp(cells["period"].iloc[c])
        e = (
            calibration.leave_out.get(period, calibration.propensity)
            if direct
            else calibration.propensity
        )
        if delivered[c] <= 0:
            method[c] = "none"
            continue
        if not np.isfinite(rho[c]).all() or not np.isfinite(e).all():
            # Nothing to read placement from (no engaged stream): the benchmark prior.
            a, b = beta_parameters(*_benchmark(provider, context.priors))
            p_draws[c] = context.rng.beta(a, b, size=context.n_draws)
            method[c] = "prior"
        else:
            p_draws[c] = np.clip((rho[c] / e - r) / (1.0 - r), 0.0, 1.0)
            method[c] = "engagement"
        if direct and (provider, period) in seeds_by_key:
            inbox_seeds, spam_seeds = seeds_by_key[(provider, period)]
            p_draws[c] = _update_with_seeds(p_draws[c], inbox_seeds, spam_seeds, context.rng)
            method[c] += "+seed_tests"
            seeds_used[c] = int(inbox_seeds + spam_seeds)
    return p_draws, method, seeds_used


def _update_with_complaints(cells, p_draws, method, context) -> None:
    """Complaints come from the inbox only: ``C ~ Poisson(c * inbox)``, with the complaints per
    inbox message ``c`` of the group calibrated on its *other* cells. Groups with fewer than
    :data:`MIN_COMPLAINTS` reports (no feedback loop: Gmail, Apple) are left alone."""
    delivered = cells["delivered"].to_numpy(float)
    complained = cells["complained"].to_numpy(float)
    groups = cells["group"].to_numpy()
    for k in np.unique(groups):
        members = np.flatnonzero((groups == k) & (delivered > 0) & np.isfinite(p_draws).all(axis=1))
        if len(members) < 2 or complained[members].sum() < MIN_COMPLAINTS:
            continue
        inbox = p_draws[members] * delivered[members, None]
        total_reports = complained[members].sum()
        total_inbox = inbox.sum(axis=0)
        for position, c in enumerate(members):
            rate = context.rng.gamma(
                total_reports - complained[c] + 0.5,
                1.0 / np.maximum(total_inbox - inbox[position], 1e-9),
            )
            expected = rate * inbox[position]
            log_w = complained[c] * np.log(np.maximum(expected, 1e-300)) - expected
            p_draws[c] = _resample_weighted(p_draws[c], log_w, context.rng)
            method[c] += "+complaints"


def _bound_with_snds(cells, cell_keys, p_draws, snds_days, freq) -> None:
    """Clip the draws of Microsoft cells that SNDS rows cover to the verdicts' bounds."""
    delivered = cells["delivered"].to_numpy(float)
    blocked = cells["blocked"].to_numpy(float)
    if freq is None:
        verdict_period = np.full(len(snds_days), cells["period"].min(), dtype="datetime64[ns]")
    else:
        verdict_period = period_start(snds_days["date"], freq).to_numpy()
    providers = cells["provider"].to_numpy()
    for c in np.flatnonzero((providers == "microsoft") & (delivered > 0)):
        match = verdict_period == cells["period"].to_numpy()[c]
        if "sending_ip" in cell_keys:
            ip = cells["sending_ip"].iloc[c]
            match = match & (snds_days["ip"] == ip).to_numpy(dtype=bool, na_value=False)
        rows = snds_days[match]
        if rows.empty:
            continue
        bounds = _snds_inbox_bounds(
            rows, delivered[c], blocked[c] / max(delivered[c] + blocked[c], 1.0)
        )
        if bounds is not None:
            p_draws[c] = np.clip(p_draws[c], *bounds)


# --------------------------------------------------------------------------------------------
# Step 4: the output table
# --------------------------------------------------------------------------------------------


def _estimates_table(cells, keys, p_draws, method, seeds_used, source, interval, min_delivered):
    """Sum draws of inbox counts to the requested keys and summarize them."""
    inbox_counts = np.nan_to_num(p_draws) * cells["delivered"].to_numpy(float)[:, None]
    if "mailbox_provider" in keys:
        out = cells
        out_inbox = inbox_counts
        out_method, out_source, out_seeds = list(method), list(source), seeds_used
    else:
        grouped = cells.groupby(["period", *keys], sort=True, dropna=False, observed=True)
        target = grouped.ngroup().to_numpy()
        out = grouped[list(_COUNTS)].sum().reset_index()
        out_inbox = np.zeros((len(out), inbox_counts.shape[1]))
        np.add.at(out_inbox, target, inbox_counts)
        out_method = _join_labels(target, method, len(out))
        out_source = _join_labels(target, source, len(out))
        out_seeds = np.bincount(target, seeds_used, len(out)).astype(np.int64)

    sent = out["sent"].to_numpy(float)
    delivered = out["delivered"].to_numpy(float)
    no_delivery = delivered <= 0
    safe_sent = np.where(sent > 0, sent, 1.0)
    rate_draws = out_inbox / safe_sent[:, None]
    share_draws = out_inbox / np.where(no_delivery, 1.0, delivered)[:, None]
    low_q, high_q = (1 - interval) / 2, (1 + interval) / 2
    inbox_rate = np.median(rate_draws, axis=1)
    inbox_low = np.quantile(rate_draws, low_q, axis=1)
    inbox_high = np.quantile(rate_draws, high_q, axis=1)
    delivered_rate = delivered / safe_sent

    result = out[["period", *keys]].copy()
    result["sent"] = out["sent"].astype(np.int64).to_numpy()
    result["delivered"] = out["delivered"].astype(np.int64).to_numpy()
    result["engaged_human"] = out["engaged_human"].astype(np.int64).to_numpy()
    result["inbox_rate"] = inbox_rate
    result["inbox_low"] = inbox_low
    result["inbox_high"] = inbox_high
    result["spam_rate"] = np.clip(delivered_rate - inbox_rate, 0.0, 1.0)
    result["spam_low"] = np.clip(delivered_rate - inbox_high, 0.0, 1.0)
    result["spam_high"] = np.clip(delivered_rate - inbox_low, 0.0, 1.0)
    result["missing_rate"] = 1.0 - delivered_rate
    result["inbox_share_of_delivered"] = np.where(
        no_delivery, np.nan, np.median(share_draws, axis=1)
    )
    result["inbox_share_of_delivered_low"] = np.where(
        no_delivery, np.nan, np.quantile(share_draws, low_q, axis=1)
    )
    result["inbox_share_of_delivered_high"] = np.where(
        no_delivery, np.nan, np.quantile(share_draws, high_q, axis=1)
    )
    result["calibration"] = pd.array(out_source, dtype="string")
    result["method"] = pd.array(out_method, dtype="string")
    result["seeds_used"] = np.asarray(out_seeds, dtype=np.int64)
    result["low_volume"] = delivered < min_delivered
    warn_low_volume(
        delivered,
        min_delivered,
        "{count} of {total} placement cells rest on fewer than {minimum} delivered messages; "
        "their intervals are wide (see the low_volume column)",
        stacklevel=5,
    )
    result = result[["period", *keys, *PLACEMENT_COLUMNS]].reset_index(drop=True)
    result.attrs["interval"] = interval
    return result, rate_draws


def estimate_placement(
    cube_or_messages: pd.DataFrame,
    *,
    by: Sequence[str] | str = ("mailbox_provider",),
    freq: str | None = "W",
    seed_tests: pd.DataFrame | None = None,
    postmaster: pd.DataFrame | None = None,
    snds: pd.DataFrame | None = None,
    interval: float = 0.9,
    spam_engagement_ratio: float | tuple[float, float] = DEFAULT_SPAM_ENGAGEMENT_RATIO,
    prior: Mapping[str, tuple[float, float]] | None = None,
    engagement_noise: float = DEFAULT_ENGAGEMENT_NOISE,
    reference_period: tuple[Any, Any] | None = None,
    min_delivered: int = DEFAULT_MIN_DELIVERED,
    n_draws: int = 4000,
    smooth: bool = True,
    use_complaints: bool = False,
    random_state: RandomState = None,
) -> pd.DataFrame:
    """Inbox, spam and missing shares of the mail sent, per keys and period, with intervals.

    See the module docstring for the model (``h = e (p + r (1 - p))``), the calibration
    sources and how uncertainty is propagated.

    Parameters
    ----------
    cube_or_messages : DataFrame
        The messages table (:func:`deliverability_econ.messages`; preferred: human engagement
        is exactly "opened by a human or clicked" per message) or a daily cube
        (:func:`deliverability_econ.daily_cube`) holding the ``by`` keys and
        ``mailbox_provider`` (and ``stream`` if possible, which sharpens the estimate).
    by : str or sequence of str
        Keys of the output, e.g. ``("mailbox_provider",)``, ``("mailbox_provider",
        "sending_ip")``, ``("stream",)`` or ``()``. Placement is always estimated per mailbox
        provider (calibrations are per provider) and summed over providers when
        ``mailbox_provider`` is not a key (M4: audience-weighted placement).
    freq : {"D", "W", "M"} or None
        Period of the output: day, Monday-based week, calendar month, or None for the whole
        span. Calibration always runs on days or weeks (weeks for "M" and None).
    seed_tests : DataFrame, optional
        Seed-list results: ``date``, ``mailbox_provider``, ``inbox``, ``spam``, ``missing``
        [seed mailboxes] (``io.read_seed_tests``).
    postmaster : DataFrame, optional
        Google Postmaster rows with ``date`` and ``domain_reputation`` (``io.read_postmaster``).
    snds : DataFrame, optional
        Microsoft SNDS rows with ``ip``, ``activity_start``, ``message_recipients``,
        ``filter_result`` (``io.read_snds``).
    interval : float
        Probability content of the intervals [fraction 0-1].
    spam_engagement_ratio : float or (float, float)
        ``r`` [fraction 0-1], or the (low, high) range it is drawn from uniformly
        (:data:`DEFAULT_SPAM_ENGAGEMENT_RATIO`).
    prior : mapping, optional
        ``{provider: (mean, sd)}`` of the benchmark inbox share of delivered mail [fraction
        0-1], overriding :data:`BENCHMARK_INBOX_SHARE` entries.
    engagement_noise : float
        Relative sd of a period's engagement beyond binomial noise [fraction]
        (:data:`DEFAULT_ENGAGEMENT_NOISE`).
    reference_period : (start, end), optional
        Days whose placement the benchmark prior describes (e.g. a quiet quarter before a
        migration), for providers calibrated by ``benchmark``; default: the upper quartile of
        each provider's periods by engagement (:data:`BENCHMARK_REFERENCE_QUANTILE`).
    min_delivered : int
        Cells with fewer delivered messages are flagged ``low_volume`` and trigger a
        :class:`LowVolumeWarning` [messages] (:data:`DEFAULT_MIN_DELIVERED`).
    n_draws : int
        Monte Carlo draws (1,000 give intervals good to about a percentage point).
    smooth : bool
        Smooth each series' engagement index over its periods (see the module docstring);
        False treats every period on its own.
    use_complaints : bool
        Let feedback-loop complaints reweight each period's placement (see the module
        docstring; off by default).
    random_state : None, int or numpy.random.Generator
        Seeds every draw; the same seed gives the same table.

    Returns
    -------
    DataFrame
        One row per period and keys, sorted: ``period`` (first day, datetime64), the ``by``
        keys, ``sent``, ``delivered``, ``engaged_human`` [messages]; ``inbox_rate``,
        ``inbox_low``, ``inbox_high``, ``spam_rate``, ``spam_low``, ``spam_high``,
        ``missing_rate`` [fractions of sent, ``inbox_rate + spam_rate + missing_rate = 1``;
        missing is observed: bounced, blocked, dropped, expired or still undelivered];
        ``inbox_share_of_delivered`` with ``_low``/``_high`` [fraction of delivered];
        ``calibration`` (source of ``e``: one of :data:`CALIBRATIONS`, joined by ``+`` over
        providers); ``method`` (``engagement``, ``+seed_tests`` when the period's seed counts
        were used directly, ``prior`` when the cell has no engagement information, ``none``
        without delivered mail); ``seeds_used`` [seed mailboxes]; ``low_volume`` (bool).

        The table's ``attrs["interval"]`` holds ``interval``.

    Raises
    ------
    ValueError
        For a table that is neither messages nor a cube, missing key columns, an unknown
        ``freq`` or an out-of-range parameter.

    Warns
    -----
    LowVolumeWarning
        When a cell rests on fewer than ``min_delivered`` delivered messages.

    See Also
    --------
    naive_inbox_rate : the open-rate proxy this estimator is measured against.
    PlacementEstimator : the same as an object, with the calibration and the draws kept.

    Examples
    --------
    Four weeks of a simulated sender with weekly seed tests:

    >>> from deliverability_econ import messages
    >>> from deliverability_econ.simulate import sender
    >>> run = sender(days=28, recipients=4000, random_state=3, start="2025-03-03")
    >>> table = estimate_placement(messages(run.events), seed_tests=run.seed_tests,
    ...                            random_state=0, min_delivered=0)
    >>> gmail = table[table["mailbox_provider"] == "gmail"]
    >>> bool(((gmail["inbox_rate"] + gmail["spam_rate"] + gmail["missing_rate"]) - 1).abs().max() < 1e-9)
    True
    >>> sorted(set(gmail["calibration"]))
    ['seed_tests']
    """
    return _fit(
        cube_or_messages,
        by=by,
        freq=freq,
        seed_tests=seed_tests,
        postmaster=postmaster,
        snds=snds,
        interval=interval,
        spam_engagement_ratio=spam_engagement_ratio,
        prior=prior,
        engagement_noise=engagement_noise,
        reference_period=reference_period,
        min_delivered=min_delivered,
        n_draws=n_draws,
        smooth=smooth,
        use_complaints=use_complaints,
        random_state=random_state,
    ).estimates


class PlacementEstimator:
    """Inbox-placement estimator (lifelines style): configure, :meth:`fit`, read ``*_``.

    Parameters
    ----------
    by, freq, interval, spam_engagement_ratio, prior, engagement_noise, reference_period,
    min_delivered, n_draws, smooth, use_complaints, random_state
        As in :func:`estimate_placement`.

    Attributes
    ----------
    estimates_ : DataFrame
        The :func:`estimate_placement` table.
    calibration_ : DataFrame
        Per mailbox provider (and stream when it is a key): the calibration source, the periods
        and seeds it rests on and the engagement propensity ``e`` with its interval.
    draws_ : ndarray
        Monte Carlo draws of ``inbox_rate`` per row of ``estimates_`` (rows x ``n_draws``):
        each row's distribution. Draws of different rows are not aligned (seed updates
        resample each row), so sum over rows with :attr:`summary`, not with these.
    stream_weights_ : DataFrame
        Relative engagement per provider, stream and recipient cohort.
    parameters_ : dict
        The settings used.

    Examples
    --------
    >>> from deliverability_econ import messages
    >>> from deliverability_econ.simulate import sender
    >>> run = sender(days=21, recipients=3000, random_state=5, start="2025-03-03")
    >>> model = PlacementEstimator(random_state=0, min_delivered=0).fit(
    ...     messages(run.events), seed_tests=run.seed_tests)
    >>> list(model.summary.columns[:4])
    ['mailbox_provider', 'sent', 'delivered', 'inbox_rate']
    """

    def __init__(
        self,
        *,
        by: Sequence[str] | str = ("mailbox_provider",),
        freq: str | None = "W",
        interval: float = 0.9,
        spam_engagement_ratio: float | tuple[float, float] = DEFAULT_SPAM_ENGAGEMENT_RATIO,
        prior: Mapping[str, tuple[float, float]] | None = None,
        engagement_noise: float = DEFAULT_ENGAGEMENT_NOISE,
        reference_period: tuple[Any, Any] | None = None,
        min_delivered: int = DEFAULT_MIN_DELIVERED,
        n_draws: int = 4000,
        smooth: bool = True,
        use_complaints: bool = False,
        random_state: RandomState = None,
    ) -> None:
        self.by = by
        self.freq = freq
        self.interval = interval
        self.spam_engagement_ratio = spam_engagement_ratio
        self.prior = prior
        self.engagement_noise = engagement_noise
        self.reference_period = reference_period
        self.min_delivered = min_delivered
        self.n_draws = n_draws
        self.smooth = smooth
        self.use_complaints = use_complaints
        self.random_state = random_state

    def fit(
        self,
        cube_or_messages: pd.DataFrame,
        seed_tests: pd.DataFrame | None = None,
        postmaster: pd.DataFrame | None = None,
        snds: pd.DataFrame | None = None,
    ) -> PlacementEstimator:
        """Estimate placement; returns ``self`` with the fitted attributes set."""
        rng = check_random_state(self.random_state)
        self._inputs = dict(
            cube_or_messages=cube_or_messages,
            by=self.by,
            freq=self.freq,
            seed_tests=seed_tests,
            postmaster=postmaster,
            snds=snds,
            interval=self.interval,
            spam_engagement_ratio=self.spam_engagement_ratio,
            prior=self.prior,
            engagement_noise=self.engagement_noise,
            reference_period=self.reference_period,
            min_delivered=self.min_delivered,
            n_draws=self.n_draws,
            smooth=self.smooth,
            use_complaints=self.use_complaints,
            random_state=rng,
        )
        self._summary = None
        fit = _fit(**self._inputs)
        self.estimates_ = fit.estimates
        self.calibration_ = fit.calibration
        self.draws_ = fit.draws
        self.stream_weights_ = fit.stream_weights
        self.parameters_ = fit.parameters
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "estimates_"):
            raise RuntimeError("PlacementEstimator is not fitted; call fit(...) first")

    @property
    def summary(self) -> pd.DataFrame:
        """Placement over the whole fitted span per key (``freq=None``), with intervals.

        Columns: the ``by`` keys, ``sent``, ``delivered``, ``inbox_rate``, ``inbox_low``,
        ``inbox_high``, ``spam_rate``, ``missing_rate`` [fractions of sent], ``calibration``,
        ``low_volume``. Computed on first access with the fitted settings (a separate fit,
        since a whole-span interval must carry the calibration's error once, not average it
        away over periods), then kept.
        """
        self._check_fitted()
        if self._summary is None:
            fit = _fit(**{**self._inputs, "freq": None})
            columns = [
                *self.parameters_["by"],
                "sent",
                "delivered",
                "inbox_rate",
                "inbox_low",
                "inbox_high",
                "spam_rate",
                "missing_rate",
                "calibration",
                "low_volume",
            ]
            self._summary = fit.estimates[columns]
        return self._summary

    def _repr_html_(self) -> str:
        if not hasattr(self, "estimates_"):
            return f"<p>{html.escape(repr(self))} (not fitted)</p>"
        summary = self.summary.copy()
        for name in ("inbox_rate", "inbox_low", "inbox_high", "spam_rate", "missing_rate"):
            summary[name] = summary[name].map(lambda v: f"{v:.1%}")
        head = (
            f"<p><b>PlacementEstimator</b>: {len(self.estimates_)} cells, freq="
            f"{html.escape(str(self.freq))}, {self.interval:.0%} intervals</p>"
        )
        return head + summary.to_html(index=False, escape=True)

    def __repr__(self) -> str:
        state = "fitted" if hasattr(self, "estimates_") else "not fitted"
        return f"PlacementEstimator(by={self.by!r}, freq={self.freq!r}, {state})"
