"""Risk signals: early warnings that a sender's deliverability is about to suffer, or already is.

:func:`deliverability_econ.reputation.health_checks` compares the sender's numbers with the
levels providers publish; this module looks for *changes*: a day whose volume, bounces,
blocks, deferrals, complaints or engagement break from the scope's own recent past, sending
patterns providers distrust, time-critical mail arriving late, reputation swinging. Each
detector is a small function with its thresholds as named parameters; :func:`risk_signals`
runs them all over every scope (mailbox provider, sending IP, stream, ...) and returns one
table with the evidence and a plain sentence per signal.

Statistics
----------
A signal must be both **significant** and **large**. Significance is tested against a
trailing baseline (by default the previous 28 days of the same scope), so that a cell of ten
messages with one bounce does not fire and a clean period stays quiet; size is a minimum ratio
to the baseline and a minimum absolute rate, so that a statistically certain but harmless
change (0.20% to 0.23% bounces on a million messages) does not fire either.

Counts are compared with what the baseline predicts for the day's own mix of streams: a
Tuesday newsletter is judged against past newsletters, a password reset against past resets
(*indirect standardization* over the cube's ``stream`` column when it has one). For stratum
``s`` with ``K_s`` events in ``N_s`` baseline messages, and the day's ``n_s`` messages, the
expected count is

.. math:: E = \\sum_s n_s \\hat p_s, \\qquad
          \\hat p_s = \\frac{K_s + 1/2}{N_s + 1/(2 \\hat p)}

where :math:`\\hat p = (K + 1/2) / (N + 1)` is the scope's pooled baseline rate (a stratum
without history falls back to it). The uncertainty of the baseline is kept: the day's count is
compared with its *posterior predictive* distribution, a negative binomial with mean ``E`` and
shape :math:`a = E^2 / \\sum_s n_s^2 \\operatorname{Var}(\\hat p_s)` (the Poisson-gamma mixture;
with one stratum this is the exact predictive of a Poisson rate under the Jeffreys prior). The
Poisson part is conservative for common events such as opens (their variance is binomial,
smaller), which only costs power.

Cohorts: the cube counts every outcome on the send day, and opens and complaints arrive hours
or days later, so the last ``settle_days`` days of the data are not tested for them.

Signals and episodes
--------------------
Detectors return one row per scope and day that fires. :func:`merge_episodes` joins rows of
the same scope and signal no more than ``gap_days`` apart into one episode (a weekly sender's
incident shows on consecutive send days a week apart), keeping the worst day's numbers.

Validation against a simulated sender lives at the end of the module
(:func:`incident_windows`, :func:`evaluate_signals`); ``benchmarks/bench_risk_signals.py``
reports detection rates, delays and false alarms over the simulator's incident scenarios.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .cube import CUBE_COUNT_COLUMNS, daily_cube  # noqa: F401 (the doctests use it)
from .reputation import THRESHOLDS

#: Severities, from mild to grave (the order of the output category).
SEVERITIES: tuple[str, ...] = ("info", "warning", "critical")

#: Columns of :func:`risk_signals`, in order.
SIGNAL_COLUMNS: tuple[str, ...] = (
    "date",
    "end_date",
    "days_flagged",
    "scope",
    "dimension",
    "signal",
    "severity",
    "value",
    "baseline",
    "ratio",
    "p_value",
    "metric",
    "evidence",
    "sentence",
)

#: Count columns carried by the scoped daily table (:func:`scoped_daily`).
SCOPED_COUNTS: tuple[str, ...] = (
    "messages",
    "delivered",
    "bounced_hard",
    "bounced_soft",
    "blocked",
    "dropped",
    "pending",
    "deferred",
    "opened_human",
    "complained",
)

#: Scope label prefix per key column; a mailbox provider is named alone ("gmail").
SCOPE_PREFIXES: dict[str, str] = {
    "mailbox_provider": "",
    "sending_ip": "ip ",
    "ip_pool": "pool ",
    "stream": "stream ",
    "campaign": "campaign ",
    "recipient_domain": "domain ",
    "esp": "esp ",
}

#: How providers are named in sentences for executives.
PROVIDER_NAMES: dict[str, str] = {
    "gmail": "Gmail",
    "microsoft": "Microsoft (Outlook.com, Hotmail)",
    "yahoo": "Yahoo and AOL",
    "apple": "Apple iCloud",
    "att": "AT&T",
    "comcast": "Comcast",
    "other": "other domains",
}

#: Stream-name fragments that mark time-critical mail (a user waits for it): matched against
#: the stream name lower-cased with every non-alphanumeric run turned into ``_``.
TIME_CRITICAL_STREAM_HINTS: tuple[str, ...] = (
    "password",
    "reset",
    "verif",
    "login",
    "sign_in",
    "signin",
    "magic_link",
    "otp",
    "one_time",
    "2fa",
    "mfa",
    "two_factor",
)


@dataclass(frozen=True)
class SignalDefinition:
    """What one signal measures.

    Attributes
    ----------
    metric : str
        What ``value`` and ``baseline`` are, with the unit.
    meaning : str
        Why it matters.
    source : str
        Fact ids of ``reference/domain-facts.md`` behind the default levels, or "assumption".
    """

    metric: str
    meaning: str
    source: str


#: The signals :func:`risk_signals` can raise, in report order.
SIGNALS: dict[str, SignalDefinition] = {
    "volume_spike": SignalDefinition(
        "messages sent in the day [messages/day]; baseline: the busiest day of the previous "
        "30 days [messages/day]",
        "providers throttle or spam-folder volume far above what they have seen from a sender",
        "F24, F25, F28: add volume in steps; F24: after 30 idle days an IP is cold again",
    ),
    "inconsistent_sending": SignalDefinition(
        "idle days before a burst [days], or the scatter of weekly volume around its trend "
        "[factor]",
        "providers trust consistent volume; bursts after a pause look like a cold start",
        "F23, F24, F28",
    ),
    "hard_bounce_rise": SignalDefinition(
        "hard bounces per message sent [fraction 0-1]; baseline: expected from the previous "
        "28 days for the day's mix of streams",
        "invalid addresses are the classic sign of a stale or bought list",
        "F10 (SES review at 5%), F12 (healthy under 2%)",
    ),
    "block_rise": SignalDefinition(
        "messages refused (block bounces) per message sent [fraction 0-1]; baseline as above",
        "receivers refuse mail from senders whose reputation fell",
        "F3, F8, F13; levels are assumptions",
    ),
    "deferral_rise": SignalDefinition(
        "messages deferred at least once per message sent [fraction 0-1]; baseline as above",
        "4xx rate limiting is how providers throttle a sender they distrust",
        "F3, F25; levels are assumptions",
    ),
    "complaint_spike": SignalDefinition(
        "complaints per delivered message [fraction 0-1] (not Gmail's per-inbox spam rate: "
        "F4, F14); baseline as above",
        "spam reports are the strongest negative reputation signal",
        "F2 (0.10% / 0.30%), F12",
    ),
    "engagement_drop": SignalDefinition(
        "human opens per delivered message, machine opens excluded [fraction 0-1]; baseline "
        "as above",
        "fewer people open the mail: it lands in spam more often, or the audience tires",
        "M5, F32 (machine opens excluded)",
    ),
    "placement_drop": SignalDefinition(
        "estimated inbox rate [fraction 0-1] per period, or human opens per delivered message "
        "as the proxy when no placement estimate is given",
        "mail that lands in spam is not read and does not convert",
        "M4, M5",
    ),
    "delayed_transactional": SignalDefinition(
        "90th percentile of the delivery latency of a time-critical stream [s]; baseline: "
        "the deadline [s]",
        "a password reset or login code that arrives late is a failed login and a ticket",
        "assumption: 5 minutes; E9 for the cost of a failed reset",
    ),
    "reputation_volatility": SignalDefinition(
        "day-to-day swing of the acceptance rate beyond chance [fraction 0-1, standard "
        "deviation], or a Postmaster reputation band",
        "an unstable reputation precedes filtering; providers penalize volatility (M4)",
        "M4, F6, Postmaster v1 bands",
    ),
}


# --------------------------------------------------------------------------------------------
# The orchestrator
# --------------------------------------------------------------------------------------------


def risk_signals(
    cube: pd.DataFrame,
    *,
    by: Sequence[str | Sequence[str]] = ("mailbox_provider",),
    placement: pd.DataFrame | None = None,
    messages: pd.DataFrame | None = None,
    postmaster: pd.DataFrame | None = None,
    signals: Sequence[str] | None = None,
    include_total: bool = True,
    strata: str | None = "auto",
    alpha: float = 0.001,
    baseline_days: int = 28,
    min_history_days: int = 14,
    settle_days: int = 2,
    merge: bool = True,
    merge_gap_days: int = 7,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
) -> pd.DataFrame:
    """Detect risk signals in every scope of a sender's daily cube.

    Parameters
    ----------
    cube : DataFrame
        A daily cube (:func:`deliverability_econ.daily_cube`) holding the ``by`` columns (and
        ideally ``stream``, for mix-adjusted baselines), or the messages table, which is then
        cubed by the ``by`` columns and ``stream`` and also used for latency.
    by : sequence of str or of tuples of str
        Scope dimensions, each analysed on its own: ``("mailbox_provider", "sending_ip",
        "stream")`` gives the scopes ``gmail``, ``ip 198.51.100.21``, ``stream newsletter``,
        ... A tuple entry crosses keys (``("mailbox_provider", "sending_ip")`` gives
        ``gmail / ip 198.51.100.21``). Rows whose key is missing (the IP of a message the ESP
        dropped) are left out of that dimension's scopes.
    placement : DataFrame, optional
        An :func:`estimate_placement`-like table: ``inbox_rate``, ``inbox_low``,
        ``inbox_high`` per period (``period_start``, ``date`` or ``week``) and keys. Without
        it, a drop of human engagement at a mailbox provider is reported as its
        ``placement_drop`` (the proxy).
    messages : DataFrame, optional
        The messages table, for ``delayed_transactional``.
    postmaster : DataFrame, optional
        :func:`deliverability_econ.io.read_postmaster` output, for reputation band changes.
    signals : sequence of str, optional
        Names of :data:`SIGNALS` to run; all by default.
    include_total : bool
        Also analyse all mail together (scope ``all``).
    strata : {"auto", "weekday", None} or str
        Cube column over which baselines are mix-adjusted; ``"auto"`` uses ``stream`` when
        the cube has it, else the day of the week (a weekly newsletter day is then compared
        with past newsletter days, not with the quieter days between them).
    alpha : float
        Significance level of each test [probability]. With every detector testing every
        scope daily, 0.001 and the detectors' minimum effect sizes give about 0.2 false alarm
        episodes per 100 scope-weeks on simulated clean senders, while detecting every
        simulated incident (``benchmarks/risk_signals.md``).
    baseline_days : int
        Trailing window of the baseline [days], the current day excluded.
    min_history_days : int
        Days from the start of the data before anything is tested [days].
    settle_days : int
        Last days of the data not tested for engagement and complaints, which arrive after
        the send [days].
    merge : bool
        Merge consecutive signals into episodes (:func:`merge_episodes`); False returns one
        row per scope, signal and day.
    merge_gap_days : int
        Largest gap between two days of one episode [days].
    settings : mapping, optional
        Per-signal keyword overrides, e.g. ``{"volume_spike": {"ratio_warning": 4.0}}``; see
        each detector for its parameters.

    Returns
    -------
    DataFrame
        :data:`SIGNAL_COLUMNS`, sorted by ``date``, severity (gravest first) and scope:

        - ``date``, ``end_date`` (datetime64[ns], UTC days): the episode's first and last day;
          ``days_flagged`` [days]: days that fired;
        - ``scope`` (``gmail``, ``ip 203.0.113.10``, ``stream password_reset``, ``all``),
          ``dimension`` (the key column(s), ``all``, ``domain`` for Postmaster);
        - ``signal`` (a key of :data:`SIGNALS`), ``severity`` (ordered category ``info`` <
          ``warning`` < ``critical``, the worst day's);
        - ``value``, ``baseline`` (the worst day's numbers, units in ``metric``), ``ratio``
          (value / baseline), ``p_value`` (NaN where no test applies);
        - ``evidence`` (the numbers in words), ``sentence`` (one plain sentence).

    Examples
    --------
    >>> table = messages(events)  # doctest: +SKIP
    >>> cube = daily_cube(table, by=("mailbox_provider", "sending_ip", "stream"))  # doctest: +SKIP
    >>> risk_signals(cube, by=("mailbox_provider", "sending_ip", "stream"),
    ...              messages=table)  # doctest: +SKIP
    """
    names = list(SIGNALS) if signals is None else list(signals)
    unknown = [name for name in names if name not in SIGNALS]
    if unknown:
        raise ValueError(f"unknown signal(s) {unknown}; known: {list(SIGNALS)}")
    settings = dict(settings or {})
    unknown = [name for name in settings if name not in SIGNALS]
    if unknown:
        raise ValueError(f"settings for unknown signal(s) {unknown}; known: {list(SIGNALS)}")
    dimensions = _dimensions(by)

    if "sent_at" in cube.columns and "messages" not in cube.columns:
        if messages is None:
            messages = cube
        keys = sorted({key for dimension in dimensions for key in dimension})
        if strata == "auto" and "stream" in cube.columns and "stream" not in keys:
            keys.append("stream")
        elif strata not in (None, "auto", "weekday") and strata not in keys:
            keys.append(strata)
        cube = daily_cube(cube, by=keys)
    daily = scoped_daily(cube, by=dimensions, strata=strata, include_total=include_total)
    common = {
        "alpha": alpha,
        "baseline_days": baseline_days,
        "min_history_days": min_history_days,
        "settle_days": settle_days,
    }

    def run(
        name: str, detector: Callable[..., pd.DataFrame], table: pd.DataFrame, **fixed: Any
    ) -> pd.DataFrame:
        accepted = inspect.signature(detector).parameters
        options = {k: v for k, v in common.items() if k in accepted}
        options.update(fixed)
        options.update(settings.get(name, {}))
        return detector(table, **options)

    parts: list[pd.DataFrame] = []
    if "volume_spike" in names:
        parts.append(run("volume_spike", volume_spikes, daily))
    if "inconsistent_sending" in names:
        parts.append(run("inconsistent_sending", inconsistent_sending, daily))
    if "hard_bounce_rise" in names:
        parts.append(run("hard_bounce_rise", hard_bounce_rises, daily))
    if "block_rise" in names:
        parts.append(run("block_rise", block_rises, daily))
    if "deferral_rise" in names:
        parts.append(run("deferral_rise", deferral_rises, daily))
    if "complaint_spike" in names:
        parts.append(run("complaint_spike", complaint_spikes, daily))
    engagement = None
    if "engagement_drop" in names or ("placement_drop" in names and placement is None):
        engagement = run("engagement_drop", engagement_drops, daily)
    if engagement is not None:
        is_provider = (engagement["dimension"] == "mailbox_provider").to_numpy(dtype=bool)
        if "placement_drop" in names and placement is None:
            parts.append(_as_placement_proxy(engagement[is_provider]))
            engagement = engagement[~is_provider]
        if "engagement_drop" in names:
            parts.append(engagement)
    if "placement_drop" in names and placement is not None:
        placement_dims = [d for d in dimensions if all(k in placement.columns for k in d)]
        for dimension in placement_dims or [()]:
            parts.append(run("placement_drop", placement_drops, placement, by=dimension))
    if "delayed_transactional" in names and messages is not None:
        latency_by = [d for d in dimensions if "stream" not in d and all(k in messages for k in d)]
        # Latency is judged against a deadline, not a baseline: no history period.
        parts.append(
            run(
                "delayed_transactional",
                delayed_transactional,
                messages,
                by=latency_by,
                min_history_days=0,
            )  # fmt: skip
        )
    if "reputation_volatility" in names:
        parts.append(
            run("reputation_volatility", reputation_volatility, daily, postmaster=postmaster)
        )
    rows = _concat_rows(parts)
    if merge:
        return merge_episodes(rows, gap_days=merge_gap_days)
    return _finish(rows.assign(end_date=rows["date"], days_flagged=1))


# --------------------------------------------------------------------------------------------
# Scopes
# --------------------------------------------------------------------------------------------


def scoped_daily(
    cube: pd.DataFrame,
    by: Sequence[str | Sequence[str]] = ("mailbox_provider",),
    *,
    strata: str | None = "auto",
    include_total: bool = True,
) -> pd.DataFrame:
    """The cube summed per scope, day and stratum: the table every cube detector reads.

    Parameters
    ----------
    cube : DataFrame
        A daily cube with the ``by`` columns (and the stratum column, if any).
    by : sequence of str or of tuples of str
        Scope dimensions (see :func:`risk_signals`).
    strata : {"auto", "weekday", None} or str
        Column to keep apart inside each scope for mix-adjusted baselines; ``"auto"``:
        ``stream`` when present, else ``"weekday"`` (the day of the week).
    include_total : bool
        Add the scope ``all``.

    Returns
    -------
    DataFrame
        Columns ``scope``, ``dimension``, ``subject`` (the scope in words), ``stratum`` (the
        stratum value, ``""`` without strata), ``date``, then :data:`SCOPED_COUNTS`
        [messages]. One row per scope, stratum and day with mail.

    Examples
    --------
    >>> cube = pd.DataFrame({"date": pd.to_datetime(["2025-03-03"] * 2),
    ...                      "mailbox_provider": ["gmail", "yahoo"],
    ...                      **{c: [0, 0] for c in CUBE_COUNT_COLUMNS}})
    >>> cube["messages"] = [300, 100]
    >>> scoped_daily(cube)[["scope", "subject", "messages"]]
       scope                subject  messages
    0    all               all mail       400
    1  gmail          mail to Gmail       300
    2  yahoo  mail to Yahoo and AOL       100
    """
    dimensions = _dimensions(by)
    missing = [c for c in ("date", *SCOPED_COUNTS) if c not in cube.columns]
    if missing:
        raise ValueError(
            "expected a daily cube (deliverability_econ.daily_cube); missing columns: "
            + ", ".join(missing)
        )
    absent = sorted({k for d in dimensions for k in d if k not in cube.columns})
    if absent:
        raise ValueError(
            f"the cube has no column {absent}; build it with daily_cube(messages, by=...) "
            "including these keys, or pass the messages table"
        )
    stratum = _stratum_column(cube, strata)
    frame = cube.assign(date=pd.to_datetime(cube["date"]).astype("datetime64[ns]"))
    if stratum == "weekday":
        frame = frame.assign(weekday=frame["date"].dt.day_name())
    parts = []
    for dimension in ([()] if include_total else []) + dimensions:
        keys = list(dimension)
        sub = frame
        for key in keys:
            sub = sub[sub[key].notna().to_numpy(dtype=bool)]
        extra = [stratum] if stratum is not None and stratum not in keys else []
        groups = ["date", *keys, *extra]
        summed = (
            sub.groupby(groups, sort=True, dropna=False, observed=True)[list(SCOPED_COUNTS)]
            .sum()
            .reset_index()
        )
        labels = [summed[k].astype("string").to_numpy(dtype=object) for k in keys]
        scope = [_scope_label(keys, values) for values in zip(*labels, strict=True)] if keys else []
        subject = [_subject(keys, values) for values in zip(*labels, strict=True)] if keys else []
        if stratum is None:
            stratum_values: object = ""
        else:
            stratum_values = summed[stratum].astype("string").fillna("").to_numpy(dtype=object)
        parts.append(
            pd.DataFrame(
                {
                    "scope": scope if keys else "all",
                    "dimension": "+".join(keys) if keys else "all",
                    "subject": subject if keys else "all mail",
                    "stratum": stratum_values,
                    "date": summed["date"].to_numpy(),
                    **{c: summed[c].to_numpy(dtype="int64") for c in SCOPED_COUNTS},
                }
            )
        )
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    for column in ("scope", "dimension", "subject", "stratum"):
        out[column] = out[column].astype("string")
    return out.sort_values(["scope", "stratum", "date"], kind="stable", ignore_index=True)


def _dimensions(by: Sequence[str | Sequence[str]] | str) -> list[tuple[str, ...]]:
    if isinstance(by, str):
        by = (by,)
    dimensions = []
    for entry in by:
        dimension = (entry,) if isinstance(entry, str) else tuple(entry)
        if not dimension or not all(isinstance(k, str) for k in dimension):
            raise ValueError(f"by entries must be column names or tuples of them, not {entry!r}")
        if dimension not in dimensions:
            dimensions.append(dimension)
    return dimensions


def _stratum_column(cube: pd.DataFrame, strata: str | None) -> str | None:
    if strata is None:
        return None
    if strata == "auto":
        return "stream" if "stream" in cube.columns else "weekday"
    if strata == "weekday":
        return "weekday"
    if strata not in cube.columns:
        raise ValueError(f"strata column {strata!r} is not in the cube")
    return strata


def _scope_label(keys: Sequence[str], values: Sequence[object]) -> str:
    return " / ".join(
        f"{SCOPE_PREFIXES.get(k, k + ' ')}{v}" for k, v in zip(keys, values, strict=True)
    )


def _subject(keys: Sequence[str], values: Sequence[object]) -> str:
    """The scope in words: "mail to Gmail", "mail from IP 1.2.3.4", "password_reset mail"."""
    named = dict(zip(keys, values, strict=True))
    words = []
    if "stream" in named:
        words.append(f"{named['stream']} mail")
    if "campaign" in named:
        words.append(
            f"campaign {named['campaign']} mail" if not words else f"of {named['campaign']}"
        )
    if not words:
        words.append("mail")
    if "mailbox_provider" in named:
        value = str(named["mailbox_provider"])
        words.append(f"to {PROVIDER_NAMES.get(value, value.title())}")
    if "recipient_domain" in named:
        words.append(f"to {named['recipient_domain']}")
    if "sending_ip" in named:
        words.append(f"from IP {named['sending_ip']}")
    if "ip_pool" in named:
        words.append(f"from the {named['ip_pool']} IP pool")
    for key, value in named.items():
        if key not in (
            "stream",
            "campaign",
            "mailbox_provider",
            "recipient_domain",
            "sending_ip",
            "ip_pool",
        ):
            words.append(f"with {key} {value}")
    return " ".join(words)


class _Scope:
    """One scope's daily counts as arrays (days x strata) over the full date range."""

    def __init__(self, scope: str, dimension: str, subject: str, counts: dict[str, np.ndarray]):
        self.scope = scope
        self.dimension = dimension
        self.subject = subject
        self.counts = counts


def _scopes(daily: pd.DataFrame, columns: Sequence[str]) -> tuple[pd.DatetimeIndex, list[_Scope]]:
    """Every scope of a :func:`scoped_daily` table as arrays over one daily date range."""
    if daily.empty:
        return pd.DatetimeIndex([]), []
    dates = pd.date_range(daily["date"].min(), daily["date"].max(), freq="D")
    scope_codes, names = pd.factorize(daily["scope"].to_numpy(dtype=object), sort=True)
    stratum_codes, strata = pd.factorize(daily["stratum"].to_numpy(dtype=object), sort=True)
    day = dates.get_indexer(pd.DatetimeIndex(daily["date"]))
    shape = (len(names), len(dates), len(strata))
    arrays = {}
    for column in columns:
        values = np.zeros(shape)
        np.add.at(
            values, (scope_codes, day, stratum_codes), daily[column].to_numpy(dtype="float64")
        )
        arrays[column] = values
    first = np.unique(scope_codes, return_index=True)[1]
    dimension = daily["dimension"].to_numpy(dtype=object)[first]
    subject = daily["subject"].to_numpy(dtype=object)[first]
    scopes = [
        _Scope(str(name), str(dimension[i]), str(subject[i]), {c: arrays[c][i] for c in columns})
        for i, name in enumerate(names)
    ]
    return dates, scopes


def _trailing_sum(values: np.ndarray, window: int) -> np.ndarray:
    """Sum over the ``window`` days before each day (the day itself excluded), along axis 0."""
    cumulative = np.concatenate([np.zeros((1, *values.shape[1:])), np.cumsum(values, axis=0)])
    days = np.arange(values.shape[0])
    return cumulative[days] - cumulative[np.maximum(days - window, 0)]


def _trailing_max(values: np.ndarray, window: int) -> np.ndarray:
    """Max over the ``window`` days before each day (0 where there are none), 1-D."""
    padded = np.concatenate([np.zeros(window), values])
    windows = np.lib.stride_tricks.sliding_window_view(padded, window)[: len(values)]
    return windows.max(axis=1)


# --------------------------------------------------------------------------------------------
# The rate test
# --------------------------------------------------------------------------------------------


def predictive_tail(
    observed: np.ndarray | float,
    expected: np.ndarray | float,
    shape: np.ndarray | float,
    alternative: str = "greater",
) -> np.ndarray:
    """Tail probability of a count under the baseline's posterior predictive distribution.

    The count is negative binomial with mean ``expected`` and shape ``shape`` (a Poisson count
    whose rate is gamma-distributed: the baseline's uncertainty); see the module docstring.

    Parameters
    ----------
    observed : array_like
        The day's count [events].
    expected : array_like
        Its expectation under the baseline [events], > 0.
    shape : array_like
        Gamma shape of the baseline rate [-]: about the number of events the baseline rests
        on (``K + 1/2`` for one stratum); ``inf`` gives the plain Poisson tail.
    alternative : {"greater", "less"}
        ``P(X >= observed)`` or ``P(X <= observed)``.

    Returns
    -------
    ndarray
        [probability]

    Examples
    --------
    A day with 9 complaints where the last 28 days (4 complaints in 20,000 messages) predict
    4.5 / 20,000 x 5,000 = 1.125: the gamma shape is 4.5.

    >>> print(f"{float(predictive_tail(9, 1.125, 4.5)):.1e}")
    1.0e-04
    >>> print(f"{float(predictive_tail(9, 1.125, np.inf)):.1e}")  # as if the baseline were exact
    2.9e-06
    """
    if alternative not in ("greater", "less"):
        raise ValueError(f"alternative must be 'greater' or 'less', not {alternative!r}")
    observed, expected, shape = np.broadcast_arrays(
        np.asarray(observed, dtype="float64"),
        np.asarray(expected, dtype="float64"),
        np.asarray(shape, dtype="float64"),
    )
    poisson = ~np.isfinite(shape)
    safe_shape = np.where(poisson, 1.0, shape)
    probability = safe_shape / (safe_shape + expected)
    if alternative == "greater":
        tail = stats.nbinom.sf(observed - 1, safe_shape, probability)
        tail_poisson = stats.poisson.sf(observed - 1, expected)
    else:
        tail = stats.nbinom.cdf(observed, safe_shape, probability)
        tail_poisson = stats.poisson.cdf(observed, expected)
    return np.where(poisson, tail_poisson, tail)


def rate_shifts(
    daily: pd.DataFrame,
    numerator: str,
    denominator: str,
    *,
    alternative: str = "greater",
    baseline_days: int = 28,
    min_history_days: int = 14,
    min_messages: int = 100,
    min_baseline_messages: int = 500,
    settle_days: int = 0,
) -> pd.DataFrame:
    """Test each scope's daily rate against its trailing, mix-adjusted baseline.

    Parameters
    ----------
    daily : DataFrame
        :func:`scoped_daily` output.
    numerator, denominator : str
        Count columns, e.g. ``"bounced_hard"`` and ``"messages"``.
    alternative : {"greater", "less"}
        Look for rises or for drops.
    baseline_days : int
        Trailing window [days], the day itself excluded.
    min_history_days : int
        Days from the start of the data before a day is tested [days].
    min_messages : int
        Smallest denominator of a tested day [messages].
    min_baseline_messages : int
        Smallest denominator of the baseline window [messages].
    settle_days : int
        Last days of the data left untested [days].

    Returns
    -------
    DataFrame
        One row per tested scope and day: ``scope``, ``dimension``, ``subject``, ``date``,
        ``count`` and ``trials`` [messages], ``rate`` = count / trials and ``expected_rate``
        [fraction 0-1], ``expected`` [messages], ``ratio`` = rate / expected_rate,
        ``shape`` (gamma shape of the baseline), ``p_value`` [probability] from
        :func:`predictive_tail`, ``baseline_trials`` [messages].
    """
    dates, scopes = _scopes(daily, (numerator, denominator))
    rows = []
    for scope in scopes:
        k, n = scope.counts[numerator], scope.counts[denominator]
        k = np.minimum(k, n)
        base_k, base_n = _trailing_sum(k, baseline_days), _trailing_sum(n, baseline_days)
        pooled = (base_k.sum(axis=1) + 0.5) / (base_n.sum(axis=1) + 1.0)
        prior_messages = 0.5 / pooled
        rate = (base_k + 0.5) / (base_n + prior_messages[:, None])
        variance = (base_k + 0.5) / (base_n + prior_messages[:, None]) ** 2
        expected = (n * rate).sum(axis=1)
        spread = (n**2 * variance).sum(axis=1)
        observed, trials = k.sum(axis=1), n.sum(axis=1)
        day = np.arange(len(dates))
        tested = (
            (day >= min_history_days)
            & (day <= len(dates) - 1 - settle_days)
            & (trials >= min_messages)
            & (base_n.sum(axis=1) >= min_baseline_messages)
            & (expected > 0)
        )
        if not tested.any():
            continue
        with np.errstate(divide="ignore", invalid="ignore"):
            shape = np.where(spread > 0, expected**2 / spread, np.inf)
        p_value = predictive_tail(observed[tested], expected[tested], shape[tested], alternative)
        size = int(tested.sum())
        rows.append(
            {
                "scope": np.full(size, scope.scope, dtype=object),
                "dimension": np.full(size, scope.dimension, dtype=object),
                "subject": np.full(size, scope.subject, dtype=object),
                "date": dates[tested].to_numpy(),
                "count": observed[tested],
                "trials": trials[tested],
                "rate": observed[tested] / trials[tested],
                "expected_rate": expected[tested] / trials[tested],
                "expected": expected[tested],
                "ratio": observed[tested] / expected[tested],
                "shape": shape[tested],
                "p_value": p_value,
                "baseline_trials": base_n.sum(axis=1)[tested],
            }
        )
    columns = [
        "scope", "dimension", "subject", "date", "count", "trials", "rate", "expected_rate",
        "expected", "ratio", "shape", "p_value", "baseline_trials",
    ]  # fmt: skip
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in columns})
    return pd.DataFrame({c: np.concatenate([r[c] for r in rows]) for c in columns})


# --------------------------------------------------------------------------------------------
# Detectors on the cube
# --------------------------------------------------------------------------------------------


def volume_spikes(
    daily: pd.DataFrame,
    *,
    ratio_warning: float = 3.0,
    ratio_critical: float = 6.0,
    min_messages: int = 500,
    peak_days: int = 30,
    new_traffic_messages: int = 1000,
    min_history_days: int = 14,
) -> pd.DataFrame:
    """Days whose volume jumps far above the busiest day of the scope's recent past.

    The baseline is the busiest day of the previous ``peak_days`` days, not an average, so a
    weekly newsletter is compared with last week's newsletter and a warm-up that grows by a
    published schedule does not fire. F25's SparkPost schedule multiplies the daily volume by
    at most 2.5 from one step to the next, so a day at 3 times the recent peak is beyond any
    published ramp.

    Parameters
    ----------
    daily : DataFrame
        :func:`scoped_daily` output.
    ratio_warning, ratio_critical : float
        Volume / recent peak at or above which the signal is a warning / critical [ratio].
    min_messages : int
        Smallest volume that can fire [messages/day]; about the cap a provider grants an IP it
        has never seen (F24: 20 an hour, 480 a day), below which a jump cannot trip throttling.
    peak_days : int
        Memory of the baseline [days]; F24: after 30 days without mail an IP is cold again.
    new_traffic_messages : int
        A scope with no mail in the last ``peak_days`` days (a new IP) that starts above this
        volume is critical, below it an info [messages/day]; F25's ramps start at 200.
    min_history_days : int
        Days from the start of the data before a day is tested [days].

    Returns
    -------
    DataFrame
        Signal rows (see :func:`merge_episodes` for the columns).
    """
    dates, scopes = _scopes(daily, ("messages",))
    rows = []
    for scope in scopes:
        volume = scope.counts["messages"].sum(axis=1)
        peak = _trailing_max(volume, peak_days)
        for i in np.flatnonzero(
            (volume >= min_messages) & (np.arange(len(dates)) >= min_history_days)
        ):
            ratio = volume[i] / peak[i] if peak[i] > 0 else np.inf
            if peak[i] > 0 and ratio < ratio_warning:
                continue
            if peak[i] == 0:
                severity = "critical" if volume[i] >= new_traffic_messages else "info"
                evidence = f"volume {volume[i]:,.0f} with no mail in the previous {peak_days} days"
                body = (
                    f"{scope.subject} started at {volume[i]:,.0f} messages a day with no mail "
                    f"in the previous {peak_days} days; a new or idle sender must ramp up "
                    "gradually or providers throttle and spam-folder it"
                )
            else:
                severity = "critical" if ratio >= ratio_critical else "warning"
                evidence = (
                    f"volume {volume[i]:,.0f} vs busiest day of the previous {peak_days} days "
                    f"{peak[i]:,.0f} ({ratio:.1f}x); 7-day median "
                    f"{np.median(volume[max(0, i - 7) : i]):,.0f}"
                )
                body = (
                    f"{scope.subject} jumped to {volume[i]:,.0f} messages, {ratio:.1f} times "
                    f"the busiest day of the previous {peak_days} days; providers throttle or "
                    "spam-folder sudden jumps in volume"
                )
            rows.append(
                _row(
                    scope,
                    dates[i],
                    "volume_spike",
                    severity,
                    volume[i],
                    peak[i],
                    ratio,
                    np.nan,
                    evidence,
                    body,
                )
            )
    return _rows_frame(rows)


def inconsistent_sending(
    daily: pd.DataFrame,
    *,
    idle_days: int = 14,
    idle_days_critical: int = 30,
    idle_messages: int = 10,
    burst_messages: int = 500,
    trend_weeks: int = 6,
    max_log_scatter: float = 0.7,
    min_weekly_messages: int = 1000,
    min_history_days: int = 14,
) -> pd.DataFrame:
    """Bursts after idle gaps, and weekly volume that swings around its trend.

    Two patterns providers distrust (F23, F28: consistent volume builds reputation):

    - a **burst after a gap**: at least ``burst_messages`` in a day after ``idle_days`` or
      more days with fewer than ``idle_messages`` each, in a scope that had sent before the
      gap. F24: after 30 idle days an IP must be warmed again, so such a burst is critical.
    - **erratic weekly volume** (info): the standard deviation of the log of the last
      ``trend_weeks`` weekly volumes around their linear trend is at least
      ``max_log_scatter``. A trend absorbs a steady ramp (a warm-up) and a weekly calendar has
      one stable total per week, so only swings up *and* down count; the day-to-day
      coefficient of variation is given in the evidence. Evaluated on Sundays (weeks run
      Monday to Sunday).

    Parameters
    ----------
    daily : DataFrame
        :func:`scoped_daily` output.
    idle_days, idle_days_critical : int
        Gap lengths for a warning / critical burst [days].
    idle_messages : int
        A day with fewer messages is idle [messages/day].
    burst_messages : int
        Smallest burst [messages/day].
    trend_weeks : int
        Weeks in the trend fit [weeks], at least 4.
    max_log_scatter : float
        Residual standard deviation of log weekly volume that fires [natural log units; 0.7 is
        a typical factor of 2].
    min_weekly_messages : int
        Mean weekly volume below which the scatter is not judged [messages/week].
    min_history_days : int
        Days from the start of the data before a day is tested [days].

    Returns
    -------
    DataFrame
        Signal rows.
    """
    if trend_weeks < 4:
        raise ValueError("trend_weeks must be at least 4")
    dates, scopes = _scopes(daily, ("messages",))
    rows = []
    for scope in scopes:
        volume = scope.counts["messages"].sum(axis=1)
        idle = volume < idle_messages
        run = 0
        seen_mail = False
        for i in range(len(dates)):
            if idle[i]:
                run += 1
                continue
            if (
                seen_mail
                and run >= idle_days
                and volume[i] >= burst_messages
                and i >= min_history_days
            ):
                severity = "critical" if run >= idle_days_critical else "warning"
                rows.append(
                    _row(
                        scope,
                        dates[i],
                        "inconsistent_sending",
                        severity,
                        float(run),
                        float(idle_days),
                        run / idle_days,
                        np.nan,
                        f"{volume[i]:,.0f} messages after {run} days with fewer than "
                        f"{idle_messages} a day",
                        f"{scope.subject} resumed with {volume[i]:,.0f} messages after {run} "
                        "idle days; providers forget a sender's history after about a month, "
                        "so a burst after a pause is treated like a cold start",
                    )
                )
            run = 0
            seen_mail = True
        active = np.flatnonzero(volume >= idle_messages)
        if not len(active):
            continue
        for i in np.flatnonzero(dates.day_of_week == 6):
            first = i - 7 * trend_weeks + 1
            if first < max(active[0], 0) or i < min_history_days:
                continue
            weekly = volume[first : i + 1].reshape(trend_weeks, 7).sum(axis=1)
            # A scope that stopped sending is no risk until it resumes (then: a burst).
            if weekly.mean() < min_weekly_messages or weekly[-1] < idle_messages:
                continue
            logs = np.log(weekly + 1.0)
            weeks = np.arange(trend_weeks)
            slope, intercept = np.polyfit(weeks, logs, 1)
            scatter = float(
                np.sqrt(np.sum((logs - (slope * weeks + intercept)) ** 2) / (trend_weeks - 2))
            )
            if scatter < max_log_scatter:
                continue
            days = volume[first : i + 1]
            cv = float(days.std() / days.mean()) if days.mean() > 0 else np.nan
            listed = " / ".join(f"{w:,.0f}" for w in weekly)
            rows.append(
                _row(
                    scope,
                    dates[i],
                    "inconsistent_sending",
                    "info",
                    float(np.exp(scatter)),
                    float(np.exp(max_log_scatter)),
                    float(np.exp(scatter - max_log_scatter)),
                    np.nan,
                    f"weekly volumes {listed}; scatter around the trend x{np.exp(scatter):.1f} "
                    f"(fires at x{np.exp(max_log_scatter):.1f}); day-to-day coefficient of "
                    f"variation {cv:.1f}",
                    f"{scope.subject} swung from week to week (weekly volumes {listed}); "
                    "providers reward steady volume",
                )
            )
    return _rows_frame(rows)


def hard_bounce_rises(
    daily: pd.DataFrame,
    *,
    alpha: float = 0.001,
    min_ratio: float = 2.0,
    min_rate: float = 0.01,
    critical_rate: float = THRESHOLDS["ses_bounce_rate"].warning,
    min_count: int = 5,
    baseline_days: int = 28,
    min_history_days: int = 14,
    min_messages: int = 100,
    min_baseline_messages: int = 500,
) -> pd.DataFrame:
    """Hard bounces per message sent rising above the scope's baseline.

    Fires when the rise is significant (``p < alpha``, :func:`rate_shifts`), the rate is at
    least ``min_ratio`` times the expected one and at least ``min_rate``, and at least
    ``min_count`` messages bounced.

    Parameters
    ----------
    daily : DataFrame
        :func:`scoped_daily` output.
    alpha : float
        Significance level [probability].
    min_ratio : float
        Smallest rate / expected rate [ratio].
    min_rate : float
        Smallest hard-bounce rate [fraction 0-1]; half of F12's healthy 2%, an early warning.
    critical_rate : float
        Rate at or above which the signal is critical [fraction 0-1]; F10: Amazon SES reviews
        accounts at 5% (:data:`~deliverability_econ.reputation.THRESHOLDS`).
    min_count : int
        Smallest number of hard bounces [messages].
    baseline_days, min_history_days, min_messages, min_baseline_messages
        See :func:`rate_shifts`.

    Returns
    -------
    DataFrame
        Signal rows.
    """
    tests = rate_shifts(
        daily, "bounced_hard", "messages", baseline_days=baseline_days,
        min_history_days=min_history_days, min_messages=min_messages,
        min_baseline_messages=min_baseline_messages,
    )  # fmt: skip
    return _rise_rows(
        tests,
        "hard_bounce_rise",
        alpha,
        min_ratio,
        min_rate,
        critical_rate,
        min_count,
        "hard bounces",
        "{pct} of {subject} hard-bounced against {base} expected; invalid addresses "
        "damage reputation (Amazon SES reviews accounts at 5%)",
        baseline_days,
    )


def block_rises(
    daily: pd.DataFrame,
    *,
    alpha: float = 0.001,
    min_ratio: float = 2.0,
    min_rate: float = 0.01,
    critical_rate: float = 0.05,
    min_count: int = 5,
    baseline_days: int = 28,
    min_history_days: int = 14,
    min_messages: int = 100,
    min_baseline_messages: int = 500,
) -> pd.DataFrame:
    """Messages refused by the receiver (block bounces) rising above the scope's baseline.

    Same test as :func:`hard_bounce_rises`. Levels are assumptions: no provider publishes a
    block rate; 1% refused is already unusual for a healthy sender (F19's "small fraction"
    band starts well below), 5% means a provider is rejecting the sender outright.

    Parameters
    ----------
    daily : DataFrame
        :func:`scoped_daily` output.
    alpha : float
        Significance level [probability].
    min_ratio : float
        Smallest rate / expected rate [ratio].
    min_rate, critical_rate : float
        Smallest block rate, and the critical level [fraction 0-1].
    min_count : int
        Smallest number of blocked messages [messages].
    baseline_days, min_history_days, min_messages, min_baseline_messages
        See :func:`rate_shifts`.

    Returns
    -------
    DataFrame
        Signal rows.
    """
    tests = rate_shifts(
        daily, "blocked", "messages", baseline_days=baseline_days,
        min_history_days=min_history_days, min_messages=min_messages,
        min_baseline_messages=min_baseline_messages,
    )  # fmt: skip
    return _rise_rows(
        tests,
        "block_rise",
        alpha,
        min_ratio,
        min_rate,
        critical_rate,
        min_count,
        "blocked messages",
        "{pct} of {subject} was refused by the receiving servers against {base} expected, "
        "a sign that the sender's reputation fell",
        baseline_days,
    )


def deferral_rises(
    daily: pd.DataFrame,
    *,
    alpha: float = 0.001,
    min_ratio: float = 2.0,
    min_rate: float = 0.05,
    critical_rate: float = 0.20,
    min_count: int = 10,
    baseline_days: int = 28,
    min_history_days: int = 14,
    min_messages: int = 100,
    min_baseline_messages: int = 500,
) -> pd.DataFrame:
    """Messages deferred (4xx, retried later) rising above the scope's baseline.

    Providers throttle senders they distrust with rate-limit deferrals (F3: Gmail's 4.7.28,
    F25: Microsoft and Yahoo during warm-up). Ordinary greylisting defers a few percent, so
    the levels are 5% (warning) and 20% (critical), assumptions.

    Parameters
    ----------
    daily : DataFrame
        :func:`scoped_daily` output.
    alpha : float
        Significance level [probability].
    min_ratio : float
        Smallest rate / expected rate [ratio].
    min_rate, critical_rate : float
        Smallest deferral rate, and the critical level [fraction 0-1].
    min_count : int
        Smallest number of deferred messages [messages].
    baseline_days, min_history_days, min_messages, min_baseline_messages
        See :func:`rate_shifts`.

    Returns
    -------
    DataFrame
        Signal rows.
    """
    tests = rate_shifts(
        daily, "deferred", "messages", baseline_days=baseline_days,
        min_history_days=min_history_days, min_messages=min_messages,
        min_baseline_messages=min_baseline_messages,
    )  # fmt: skip
    return _rise_rows(
        tests,
        "deferral_rise",
        alpha,
        min_ratio,
        min_rate,
        critical_rate,
        min_count,
        "deferred messages",
        "{pct} of {subject} was deferred (rate-limited) against {base} expected; the "
        "provider is throttling the sender",
        baseline_days,
    )


def complaint_spikes(
    daily: pd.DataFrame,
    *,
    alpha: float = 0.001,
    min_ratio: float = 2.0,
    min_rate: float = THRESHOLDS["complaint_target"].warning,
    critical_rate: float = THRESHOLDS["gmail_spam_rate"].critical,
    min_count: int = 3,
    baseline_days: int = 28,
    min_history_days: int = 14,
    min_messages: int = 100,
    min_baseline_messages: int = 500,
    settle_days: int = 2,
) -> pd.DataFrame:
    """Complaints per delivered message rising above the scope's baseline.

    Only providers with a feedback loop report complaints to the ESP (not Gmail: F4), so
    Gmail's own complainers are invisible here; the rate divides by delivered mail, not by
    inbox-placed mail as Gmail's spam rate does (F14), so it understates Gmail's number.

    Parameters
    ----------
    daily : DataFrame
        :func:`scoped_daily` output.
    alpha : float
        Significance level [probability].
    min_ratio : float
        Smallest rate / expected rate [ratio].
    min_rate : float
        Smallest complaint rate [fraction 0-1]; F12: healthy under 0.1%.
    critical_rate : float
        Critical level [fraction 0-1]; F2: Gmail's spam rate must never reach 0.3%.
    min_count : int
        Smallest number of complaints [messages].
    baseline_days, min_history_days, min_messages, min_baseline_messages, settle_days
        See :func:`rate_shifts`.

    Returns
    -------
    DataFrame
        Signal rows.
    """
    tests = rate_shifts(
        daily, "complained", "delivered", baseline_days=baseline_days,
        min_history_days=min_history_days, min_messages=min_messages,
        min_baseline_messages=min_baseline_messages, settle_days=settle_days,
    )  # fmt: skip
    return _rise_rows(
        tests,
        "complaint_spike",
        alpha,
        min_ratio,
        min_rate,
        critical_rate,
        min_count,
        "complaints",
        "recipients reported {pct} of delivered {subject} as spam against {base} expected; "
        "Gmail asks senders to stay below 0.1% and never reach 0.3%",
        baseline_days,
        digits=2,
    )


def engagement_drops(
    daily: pd.DataFrame,
    *,
    alpha: float = 0.001,
    max_ratio: float = 0.75,
    critical_ratio: float = 0.5,
    min_expected: float = 20.0,
    baseline_days: int = 28,
    min_history_days: int = 14,
    min_messages: int = 100,
    min_baseline_messages: int = 500,
    settle_days: int = 2,
) -> pd.DataFrame:
    """Human opens per delivered message falling below the scope's baseline.

    Machine opens (Apple Mail Privacy Protection, proxies, F30-F32) are not in
    ``opened_human``, so a change in the share of Apple Mail readers does not move this rate.
    A drop at one provider while others hold usually means more of its mail lands in spam.

    Parameters
    ----------
    daily : DataFrame
        :func:`scoped_daily` output.
    alpha : float
        Significance level [probability].
    max_ratio : float
        Rate / expected rate at or below which the drop can fire [ratio]: a quarter fewer
        opens than expected.
    critical_ratio : float
        At or below this the signal is critical [ratio].
    min_expected : float
        Smallest expected number of human opens on the day [messages], so that a drop is
        measurable.
    baseline_days, min_history_days, min_messages, min_baseline_messages, settle_days
        See :func:`rate_shifts`.

    Returns
    -------
    DataFrame
        Signal rows.
    """
    tests = rate_shifts(
        daily, "opened_human", "delivered", alternative="less", baseline_days=baseline_days,
        min_history_days=min_history_days, min_messages=min_messages,
        min_baseline_messages=min_baseline_messages, settle_days=settle_days,
    )  # fmt: skip
    fire = (
        (tests["p_value"] < alpha)
        & (tests["ratio"] <= max_ratio)
        & (tests["expected"] >= min_expected)
    )
    rows = []
    for test in tests[fire.to_numpy(dtype=bool)].itertuples(index=False):
        severity = "critical" if test.ratio <= critical_ratio else "warning"
        rows.append(
            _test_row(
                test,
                "engagement_drop",
                severity,
                f"human opens {test.count:,.0f} of {test.trials:,.0f} delivered "
                f"({test.rate:.1%}) vs {test.expected_rate:.1%} expected from the previous "
                f"{baseline_days} days, mix-adjusted ({test.ratio:.2f}x), {_p(test.p_value)}",
                f"human opens of {test.subject} fell to {test.rate:.1%} of delivered messages "
                f"against {test.expected_rate:.1%} expected ({test.ratio:.0%} of normal), "
                "which usually means more of it lands in spam",
            )
        )
    return _rows_frame(rows)


def reputation_volatility(
    daily: pd.DataFrame,
    *,
    postmaster: pd.DataFrame | None = None,
    alpha: float = 0.001,
    window_days: int = 14,
    min_excess_sd: float = 0.02,
    min_days: int = 5,
    min_messages: int = 100,
    max_band_changes: int = 3,
    min_history_days: int = 14,
) -> pd.DataFrame:
    """Acceptance rates swinging from day to day, and Postmaster reputation band changes.

    **From the cube**: the acceptance rate of a day is delivered / (delivered + blocked +
    soft-bounced), the share of mail to existing addresses the receivers took (hard bounces
    are the list's fault, not the reputation's). Over the ``window_days`` days ending on a day,
    Pearson's chi-square tests whether the daily acceptance rates scatter more than binomial
    noise allows around the window's rate for each day's mix of strata; the excess standard
    deviation (method of moments,
    :math:`\\sqrt{(\\sum_d (A_d - E_d)^2 - \\sum_d V_d) / \\sum_d n_d^2}`) must also reach
    ``min_excess_sd``. A warning.

    **From Postmaster** (``domain_reputation`` per domain and day, F6: v1 only): a fall to
    ``LOW`` is a warning, to ``BAD`` critical, to ``MEDIUM`` an info; ``max_band_changes`` or
    more changes within ``window_days`` is a warning.

    Parameters
    ----------
    daily : DataFrame
        :func:`scoped_daily` output.
    postmaster : DataFrame, optional
        :func:`deliverability_econ.io.read_postmaster` output (``date``, ``domain``,
        ``domain_reputation``).
    alpha : float
        Significance level [probability].
    window_days : int
        Window [days], the day itself included.
    min_excess_sd : float
        Smallest excess standard deviation of the daily acceptance rate [fraction 0-1].
    min_days : int
        Days with at least ``min_messages`` needed in the window [days].
    min_messages : int
        A day counts with at least this many messages to existing addresses [messages].
    max_band_changes : int
        Band changes within the window that fire [changes].
    min_history_days : int
        Days from the start of the data before a day is tested [days].

    Returns
    -------
    DataFrame
        Signal rows.
    """
    rows = []
    dates, scopes = _scopes(daily, ("delivered", "blocked", "bounced_soft"))
    for scope in scopes:
        accepted = scope.counts["delivered"]
        trials = accepted + scope.counts["blocked"] + scope.counts["bounced_soft"]
        day_trials = trials.sum(axis=1)
        counted = day_trials >= min_messages
        for i in range(max(min_history_days, window_days - 1), len(dates)):
            if not counted[i]:
                continue
            window = slice(i - window_days + 1, i + 1)
            use = counted[window]
            if use.sum() < min_days:
                continue
            a, n = accepted[window][use], trials[window][use]
            with np.errstate(divide="ignore", invalid="ignore"):
                p = np.where(n.sum(axis=0) > 0, a.sum(axis=0) / n.sum(axis=0), 0.0)
            expected = (n * p).sum(axis=1)
            variance = (n * p * (1 - p)).sum(axis=1)
            observed, size = a.sum(axis=1), n.sum(axis=1)
            if np.any(variance <= 0):
                variance = np.maximum(variance, 0.25)
            chi_square = float(np.sum((observed - expected) ** 2 / variance))
            p_value = float(stats.chi2.sf(chi_square, len(observed) - 1))
            excess = (np.sum((observed - expected) ** 2) - np.sum(variance)) / np.sum(size**2)
            excess_sd = float(np.sqrt(max(excess, 0.0)))
            if p_value >= alpha or excess_sd < min_excess_sd:
                continue
            rates = observed / size
            rows.append(
                _row(
                    scope,
                    dates[i],
                    "reputation_volatility",
                    "warning",
                    excess_sd,
                    min_excess_sd,
                    excess_sd / min_excess_sd,
                    p_value,
                    f"daily acceptance rates {rates.min():.1%} to {rates.max():.1%} over "
                    f"{int(use.sum())} days; swing beyond chance +/-{excess_sd:.1%} (fires at "
                    f"{min_excess_sd:.1%}), chi-square {chi_square:,.0f} on "
                    f"{len(observed) - 1} df, {_p(p_value)}",
                    f"the share of {scope.subject} accepted by the receiving servers swung "
                    f"between {rates.min():.1%} and {rates.max():.1%} from day to day, a sign "
                    "of unstable reputation",
                )
            )
    frame = _rows_frame(rows)
    if postmaster is not None:
        frame = _concat_rows(
            [frame, _postmaster_band_changes(postmaster, window_days, max_band_changes)]
        )
    return frame


def _postmaster_band_changes(
    postmaster: pd.DataFrame, window_days: int, max_band_changes: int
) -> pd.DataFrame:
    missing = [c for c in ("date", "domain", "domain_reputation") if c not in postmaster.columns]
    if missing:
        raise ValueError(
            "postmaster needs read_postmaster() output (date, domain, domain_reputation); "
            "missing " + ", ".join(missing)
        )
    levels = ("BAD", "LOW", "MEDIUM", "HIGH")
    fall_severity = {"MEDIUM": "info", "LOW": "warning", "BAD": "critical"}
    table = postmaster[["date", "domain", "domain_reputation"]].copy()
    table["band"] = table["domain_reputation"].astype("string").str.strip().str.upper()
    table = table[table["band"].isin(levels).fillna(False).to_numpy(dtype=bool)]
    table["date"] = pd.to_datetime(table["date"]).dt.tz_localize(None).dt.floor("D")
    rows = []
    for domain, group in table.sort_values("date").groupby("domain", sort=True):
        scope = _Named(f"domain {domain}", "domain", f"mail from {domain} at Gmail")
        bands = group["band"].tolist()
        days = pd.DatetimeIndex(group["date"])
        change_days: list[pd.Timestamp] = []
        for j in range(1, len(bands)):
            before, now = bands[j - 1], bands[j]
            if before == now:
                continue
            change_days.append(days[j])
            recent = [d for d in change_days if (days[j] - d).days < window_days]
            fell = levels.index(now) < levels.index(before)
            if fell:
                rows.append(
                    _row(
                        scope,
                        days[j],
                        "reputation_volatility",
                        fall_severity[now],
                        float(levels.index(now)),
                        float(levels.index(before)),
                        np.nan,
                        np.nan,
                        f"Postmaster domain reputation {before} -> {now}",
                        f"Google Postmaster Tools rated {domain} {now} after {before}; "
                        "Gmail filters mail from low-reputation domains",
                    )
                )
            if len(recent) >= max_band_changes:
                rows.append(
                    _row(
                        scope,
                        days[j],
                        "reputation_volatility",
                        "warning",
                        float(len(recent)),
                        float(max_band_changes),
                        len(recent) / max_band_changes,
                        np.nan,
                        f"{len(recent)} Postmaster reputation band changes in {window_days} "
                        f"days (now {now})",
                        f"Google Postmaster Tools changed {domain}'s reputation {len(recent)} "
                        f"times in {window_days} days, a sign of unstable reputation",
                    )
                )
    return _rows_frame(rows)


# --------------------------------------------------------------------------------------------
# Detectors on other tables
# --------------------------------------------------------------------------------------------


def placement_drops(
    placement: pd.DataFrame,
    *,
    by: Sequence[str] = ("mailbox_provider",),
    baseline_periods: int = 4,
    min_baseline_periods: int = 2,
    min_drop: float = 0.10,
    critical_drop: float = 0.25,
) -> pd.DataFrame:
    """Periods whose estimated inbox rate is clearly below the scope's recent level.

    The baseline is the median ``inbox_rate`` of the previous ``baseline_periods`` periods; a
    period fires when its whole interval lies more than ``min_drop`` below it
    (``inbox_high < baseline - min_drop``), so an estimate too uncertain to tell does not.

    Parameters
    ----------
    placement : DataFrame
        ``inbox_rate``, ``inbox_low``, ``inbox_high`` [fraction 0-1] per period
        (``period_start``, ``date``, ``week`` or ``period``) and ``by`` keys, as
        :func:`estimate_placement` returns.
    by : sequence of str
        Key columns of the scope; those absent from the table are ignored (one scope
        ``all``).
    baseline_periods : int
        Periods in the baseline [periods].
    min_baseline_periods : int
        Periods needed before one is judged [periods].
    min_drop, critical_drop : float
        Drop of the interval's upper end below the baseline for a warning / critical
        [fraction 0-1, absolute].

    Returns
    -------
    DataFrame
        Signal rows; ``value`` is the period's inbox rate, ``baseline`` the median.
    """
    period = next((c for c in ("period_start", "date", "week", "period") if c in placement), None)
    missing = [c for c in ("inbox_rate", "inbox_low", "inbox_high") if c not in placement]
    if period is None or missing:
        raise ValueError(
            "placement needs inbox_rate, inbox_low, inbox_high and a period column "
            "(period_start, date, week or period), as estimate_placement returns"
        )
    keys = [k for k in ([by] if isinstance(by, str) else list(by)) if k in placement.columns]
    table = placement.assign(_period=pd.to_datetime(placement[period]).astype("datetime64[ns]"))
    groups = table.groupby(keys, sort=True, observed=True, dropna=True) if keys else [((), table)]
    rows = []
    for key, group in groups:
        values = key if isinstance(key, tuple) else (key,)
        labels = [str(v) for v in values]
        scope = _Named(
            _scope_label(keys, labels) if keys else "all",
            "+".join(keys) if keys else "all",
            _subject(keys, labels) if keys else "all mail",
        )
        group = group.sort_values("_period")
        rate = group["inbox_rate"].to_numpy(dtype="float64")
        low = group["inbox_low"].to_numpy(dtype="float64")
        high = group["inbox_high"].to_numpy(dtype="float64")
        starts = pd.DatetimeIndex(group["_period"])
        for j in range(len(group)):
            history = rate[max(0, j - baseline_periods) : j]
            history = history[~np.isnan(history)]
            if len(history) < min_baseline_periods or np.isnan(high[j]):
                continue
            baseline = float(np.median(history))
            drop = baseline - high[j]
            if drop <= min_drop:
                continue
            severity = "critical" if drop > critical_drop else "warning"
            rows.append(
                _row(
                    scope,
                    starts[j],
                    "placement_drop",
                    severity,
                    float(rate[j]),
                    baseline,
                    float(rate[j] / baseline) if baseline > 0 else np.nan,
                    np.nan,
                    f"estimated inbox rate {rate[j]:.0%} (interval {low[j]:.0%}-{high[j]:.0%}) "
                    f"vs median {baseline:.0%} of the previous {len(history)} periods",
                    f"the estimated inbox rate of {scope.subject} fell to {rate[j]:.0%} "
                    f"(between {low[j]:.0%} and {high[j]:.0%}) from {baseline:.0%}",
                )
            )
    return _rows_frame(rows)


def delayed_transactional(
    messages: pd.DataFrame,
    *,
    streams: Sequence[str] | None = None,
    by: Sequence[Sequence[str]] = (),
    threshold_s: float = 300.0,
    quantile: float = 0.9,
    alpha: float = 0.001,
    min_messages: int = 10,
    min_history_days: int = 0,
) -> pd.DataFrame:
    """Days on which a time-critical stream's delivery latency percentile exceeds a deadline.

    The ``quantile`` of a day's latency exceeds ``threshold_s`` exactly when more than
    ``1 - quantile`` of the timed messages are late, so the test is binomial: the day fires
    when ``P(X >= late | timed, 1 - quantile) < alpha``. It is critical when the median is
    late by the same test (more than half of the messages). Latency is ``delivery_latency_s``
    of the messages table (processed to first delivered).

    Parameters
    ----------
    messages : DataFrame
        The messages table (``sent_at``, ``stream``, ``delivered``, ``delivery_latency_s``).
    streams : sequence of str, optional
        Time-critical streams; by default every stream whose name contains one of
        :data:`TIME_CRITICAL_STREAM_HINTS` (``password_reset``, ``verification``, ...).
    by : sequence of tuples of str
        Further breakdowns of each stream (e.g. ``[("mailbox_provider",)]`` adds
        ``stream password_reset / microsoft``).
    threshold_s : float
        The deadline [s]. Assumption: 5 minutes, longer than users wait for a login code or
        reset link (the simulator's reset links expire after an hour).
    quantile : float
        Percentile judged [fraction 0-1].
    alpha : float
        Significance level [probability].
    min_messages : int
        Smallest number of timed messages in a day [messages].
    min_history_days : int
        Days from the start of the data before a day is tested [days]; latency needs no
        baseline, so 0.

    Returns
    -------
    DataFrame
        Signal rows; ``value`` is the day's latency at ``quantile`` [s], ``baseline`` the
        threshold [s].
    """
    needed = ["sent_at", "stream", "delivered", "delivery_latency_s"]
    missing = [c for c in needed if c not in messages.columns]
    if missing:
        raise ValueError(
            "delayed_transactional needs the messages table; missing " + ", ".join(missing)
        )
    names = messages["stream"].dropna().astype("string").unique().tolist()
    chosen = list(streams) if streams is not None else [n for n in names if _time_critical(n)]
    if not chosen:
        return _rows_frame([])
    stream = messages["stream"].astype("string")
    latency = messages["delivery_latency_s"].to_numpy(dtype="float64", na_value=np.nan)
    keep = (
        stream.isin(chosen).fillna(False).to_numpy(dtype=bool)
        & messages["delivered"].to_numpy(dtype=bool, na_value=False)
        & ~np.isnan(latency)
    )
    sent = pd.to_datetime(messages["sent_at"], utc=True)
    day = sent.dt.tz_localize(None).dt.floor("D").astype("datetime64[ns]")
    if not keep.any():
        return _rows_frame([])
    first_day = day.min()
    dimensions = [("stream",)] + [("stream", *d) for d in by if "stream" not in d]
    key_columns = sorted({k for d in dimensions for k in d} - {"stream"})
    frame = pd.DataFrame(
        {
            "stream": stream[keep].to_numpy(dtype=object),
            **{k: messages[k].astype("string").to_numpy(dtype=object)[keep] for k in key_columns},
            "_day": day[keep].to_numpy(),
            "_latency": latency[keep],
        }
    )
    frame["_late"] = frame["_latency"] > threshold_s
    rows = []
    for dimension in dimensions:
        keys = list(dimension)
        counts = (
            frame.groupby([*keys, "_day"], sort=True, dropna=True)["_late"]
            .agg(["size", "sum"])
            .reset_index()
        )
        n = counts["size"].to_numpy(dtype="float64")
        late = counts["sum"].to_numpy(dtype="float64")
        p_value = stats.binom.sf(late - 1, n, 1.0 - quantile)
        history = (pd.DatetimeIndex(counts["_day"]) - first_day).days.to_numpy()
        fire = (n >= min_messages) & (p_value < alpha) & (history >= min_history_days)
        for j in np.flatnonzero(fire):
            values = [str(counts[k].iloc[j]) for k in keys]
            when = pd.Timestamp(counts["_day"].iloc[j])
            chosen_rows = np.array(frame["_day"] == when, dtype=bool)
            for k, v in zip(keys, values, strict=True):
                chosen_rows &= np.array(frame[k] == v, dtype=bool)
            latencies = frame["_latency"].to_numpy()[chosen_rows]
            p_median = float(stats.binom.sf(late[j] - 1, n[j], 0.5))
            severity = "critical" if p_median < alpha else "warning"
            point = float(np.quantile(latencies, quantile))
            scope = _Named(_scope_label(keys, values), "+".join(keys), _subject(keys, values))
            label = f"p{quantile * 100:g}"
            share = late[j] / n[j]
            rows.append(
                _row(
                    scope,
                    when,
                    "delayed_transactional",
                    severity,
                    point,
                    threshold_s,
                    point / threshold_s,
                    float(p_value[j]),
                    f"{late[j]:.0f} of {n[j]:.0f} delivered later than {_duration(threshold_s)} "
                    f"({share:.0%}); {label} latency {_duration(point)}, median "
                    f"{_duration(float(np.median(latencies)))}; {_p(float(p_value[j]))}",
                    f"{share:.0%} of {scope.subject} took longer than {_duration(threshold_s)} "
                    f"to arrive (the slowest tenth over {_duration(point)}), longer than users "
                    "wait for it",
                )
            )
    return _rows_frame(rows)


def _time_critical(name: str) -> bool:
    normalized = "".join(c if c.isalnum() else "_" for c in name.lower())
    return any(hint in normalized for hint in TIME_CRITICAL_STREAM_HINTS)


def _as_placement_proxy(rows: pd.DataFrame) -> pd.DataFrame:
    """Engagement drops at mailbox providers, reported as the placement proxy."""
    if rows.empty:
        return rows
    out = rows.copy()
    out["signal"] = "placement_drop"
    out["evidence"] = "engagement proxy (no placement estimate given): " + out["evidence"]
    out["body"] = out["body"] + " (no inbox placement estimate was given; engagement is the proxy)"
    out["metric"] = SIGNALS["placement_drop"].metric
    return out


# --------------------------------------------------------------------------------------------
# Rows, episodes, output
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Named:
    scope: str
    dimension: str
    subject: str


_ROW_COLUMNS = (
    "date", "scope", "dimension", "signal", "severity", "value", "baseline", "ratio",
    "p_value", "metric", "evidence", "body",
)  # fmt: skip


def _row(scope, date, signal, severity, value, baseline, ratio, p_value, evidence, body) -> dict:
    return {
        "date": pd.Timestamp(date),
        "scope": scope.scope,
        "dimension": scope.dimension,
        "signal": signal,
        "severity": severity,
        "value": float(value),
        "baseline": float(baseline),
        "ratio": float(ratio),
        "p_value": float(p_value),
        "metric": SIGNALS[signal].metric,
        "evidence": evidence,
        "body": body,
    }


def _test_row(test, signal: str, severity: str, evidence: str, body: str) -> dict:
    scope = _Named(test.scope, test.dimension, test.subject)
    return _row(
        scope,
        test.date,
        signal,
        severity,
        test.rate,
        test.expected_rate,
        test.ratio,
        test.p_value,
        evidence,
        body,
    )


def _rise_rows(
    tests: pd.DataFrame,
    signal: str,
    alpha: float,
    min_ratio: float,
    min_rate: float,
    critical_rate: float,
    min_count: int,
    what: str,
    template: str,
    baseline_days: int,
    digits: int = 1,
) -> pd.DataFrame:
    fire = (
        (tests["p_value"] < alpha)
        & (tests["ratio"] >= min_ratio)
        & (tests["rate"] >= min_rate)
        & (tests["count"] >= min_count)
    )
    rows = []
    for test in tests[fire.to_numpy(dtype=bool)].itertuples(index=False):
        severity = "critical" if test.rate >= critical_rate else "warning"
        pct, base = f"{test.rate:.{digits}%}", f"{test.expected_rate:.{digits}%}"
        rows.append(
            _test_row(
                test,
                signal,
                severity,
                f"{what} {test.count:,.0f} of {test.trials:,.0f} ({pct}) vs {base} expected "
                f"from the previous {baseline_days} days, mix-adjusted ({test.ratio:.1f}x), "
                f"{_p(test.p_value)}",
                template.format(pct=pct, base=base, subject=test.subject),
            )
        )
    return _rows_frame(rows)


def _rows_frame(rows: list[dict]) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame(
            {c: pd.Series(dtype=_ROW_DTYPES.get(c, "object")) for c in _ROW_COLUMNS}
        )
    return pd.DataFrame(rows, columns=list(_ROW_COLUMNS))


_ROW_DTYPES = {
    "date": "datetime64[ns]",
    "value": "float64",
    "baseline": "float64",
    "ratio": "float64",
    "p_value": "float64",
}


def _concat_rows(parts: list[pd.DataFrame]) -> pd.DataFrame:
    parts = [p for p in parts if len(p)]
    if not parts:
        return _rows_frame([])
    return pd.concat(parts, ignore_index=True)[list(_ROW_COLUMNS)]


def merge_episodes(rows: pd.DataFrame, gap_days: int = 7) -> pd.DataFrame:
    """Join signal rows of one scope and signal at most ``gap_days`` apart into episodes.

    Parameters
    ----------
    rows : DataFrame
        Detector output (one row per scope, signal and day), or :func:`risk_signals` with
        ``merge=False``.
    gap_days : int
        Largest gap between consecutive days of one episode [days]; 1 joins only consecutive
        days, 7 also a weekly sender's consecutive send days.

    Returns
    -------
    DataFrame
        :data:`SIGNAL_COLUMNS`: one row per episode with its first day (``date``), last day
        (``end_date``), the number of days that fired (``days_flagged``), the worst severity,
        and the numbers of its worst day (gravest severity, then smallest p-value, then the
        largest departure from the baseline). The sentence names the episode's dates.
    """
    if gap_days < 1:
        raise ValueError("gap_days must be at least 1")
    if rows.empty:
        return _finish(rows.assign(end_date=rows["date"], days_flagged=0))
    frame = rows.copy()
    frame["date"] = pd.to_datetime(frame["date"]).astype("datetime64[ns]")
    if "body" not in frame.columns:
        raise ValueError("merge_episodes needs detector rows (with a 'body' column)")
    frame = frame.sort_values(["scope", "signal", "date"], kind="stable", ignore_index=True)
    frame["_episode"] = _episode_ids(frame, gap_days)
    frame["_rank"] = frame["severity"].map({s: i for i, s in enumerate(SEVERITIES)}).astype(int)
    frame["_p"] = frame["p_value"].fillna(1.0)
    frame["_size"] = -np.abs(np.log(frame["ratio"].where(frame["ratio"] > 0, np.nan))).fillna(0.0)
    worst = frame.sort_values(
        ["_episode", "_rank", "_p", "_size"], ascending=[True, False, True, True]
    )
    worst = worst.drop_duplicates("_episode").set_index("_episode").sort_index()
    spans = frame.groupby("_episode")["date"].agg(["min", "max", "count"])
    worst["worst_date"] = worst["date"]
    worst["date"] = spans["min"]
    worst["end_date"] = spans["max"]
    worst["days_flagged"] = spans["count"]
    return _finish(worst.reset_index(drop=True))


def _episode_ids(frame: pd.DataFrame, gap_days: int) -> np.ndarray:
    """Episode number of each row of ``frame`` sorted by scope, signal and date."""
    same = (frame["scope"] == frame["scope"].shift()) & (frame["signal"] == frame["signal"].shift())
    gap = pd.to_datetime(frame["date"]).diff().dt.days
    return (~(same & (gap <= gap_days)).to_numpy(dtype=bool)).cumsum()


def _finish(frame: pd.DataFrame) -> pd.DataFrame:
    """Sentences with dates, dtypes, column order and sort of the output table."""
    if frame.empty:
        out = pd.DataFrame({c: [] for c in SIGNAL_COLUMNS})
    else:
        out = frame.copy()
        worst = out["worst_date"] if "worst_date" in out else out["date"]
        out["sentence"] = [
            f"{_when(start, end, flagged, at)}, {body}."
            for start, end, flagged, at, body in zip(
                out["date"], out["end_date"], out["days_flagged"], worst, out["body"], strict=True
            )
        ]
    out = out.reindex(columns=list(SIGNAL_COLUMNS))
    out["date"] = pd.to_datetime(out["date"]).astype("datetime64[ns]")
    out["end_date"] = pd.to_datetime(out["end_date"]).astype("datetime64[ns]")
    out["days_flagged"] = out["days_flagged"].astype("int64")
    for column in ("scope", "dimension", "signal", "metric", "evidence", "sentence"):
        out[column] = out[column].astype("string")
    for column in ("value", "baseline", "ratio", "p_value"):
        out[column] = out[column].astype("float64")
    out["severity"] = pd.Categorical(out["severity"], categories=list(SEVERITIES), ordered=True)
    order = out["severity"].cat.codes.to_numpy() * -1
    out = out.assign(_order=order).sort_values(
        ["date", "_order", "scope", "signal"], kind="stable", ignore_index=True
    )
    return out.drop(columns="_order")


def _when(start: pd.Timestamp, end: pd.Timestamp, flagged: int = 1, worst=None) -> str:
    """ "On 4 Feb 2025" or "From 4 Feb 2025 to 18 Feb 2025 (3 days flagged; worst on ...)"."""
    if pd.Timestamp(start) == pd.Timestamp(end):
        return f"On {_day(start)}"
    worst = pd.Timestamp(start if worst is None else worst)
    return (
        f"From {_day(start)} to {_day(end)} ({int(flagged)} days flagged; worst on {_day(worst)})"
    )


def _day(day: pd.Timestamp) -> str:
    day = pd.Timestamp(day)
    return f"{day.day} {day:%b %Y}"


def _p(p_value: float) -> str:
    if not np.isfinite(p_value):
        return "p n/a"
    if p_value < 1e-300:
        return "p<1e-300"
    return f"p={p_value:.1g}"


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.1f} days"


# --------------------------------------------------------------------------------------------
# Validation against a simulated sender
# --------------------------------------------------------------------------------------------

#: What each simulator incident should raise, and where. ``scopes`` names rules resolved by
#: :func:`incident_windows`: ``providers`` (the incident's providers), ``pool`` (the pool's
#: IPs and the pool), ``streams`` (the incident's streams), ``feedback`` (providers with a
#: feedback loop), ``everywhere`` (``all``, every provider, IP and pool, and the affected
#: streams), ``destination`` (the migration's new IPs and pool).
INCIDENT_EXPECTATIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "neighbour": {
        "signals": ("block_rise", "deferral_rise", "engagement_drop", "placement_drop",
                    "reputation_volatility"),
        "scopes": ("providers", "pool"),
    },
    "complaint_spike": {
        "signals": ("complaint_spike",),
        "scopes": ("everywhere",),
    },
    "list_hygiene_failure": {
        "signals": ("hard_bounce_rise",),
        "scopes": ("everywhere",),
    },
    "volume_spike": {
        "signals": ("volume_spike",),
        "scopes": ("everywhere",),
    },
    "cold_cutover": {
        "signals": ("volume_spike", "block_rise", "deferral_rise", "engagement_drop",
                    "placement_drop", "delayed_transactional", "reputation_volatility"),
        "scopes": ("destination", "providers", "everywhere"),
    },
    # A published ramp must not raise volume alarms, but the new IP's lower reputation is real
    # (F28: new IPs start slightly negative) and should show where it is.
    "warmup": {
        "signals": ("block_rise", "deferral_rise", "engagement_drop", "placement_drop",
                    "reputation_volatility"),
        "scopes": ("destination",),
    },
}  # fmt: skip


def incident_windows(result: Any, *, within_days: int = 14) -> pd.DataFrame:
    """When and where each scripted incident of a simulated sender should raise a signal.

    Parameters
    ----------
    result : SimulationResult
        :func:`deliverability_econ.simulate.sender` output (read through its
        ``parameters``: ``config``, ``start``, ``days``).
    within_days : int
        Detection window from the incident's first day [days]: a weekly sender only shows an
        incident on its next send day, so two weeks cover two sends.

    Returns
    -------
    DataFrame
        One row per incident: ``incident`` (an :data:`INCIDENT_EXPECTATIONS` key; a migration
        is ``warmup`` or ``cold_cutover``), ``start`` and ``deadline`` (datetime64[ns] days;
        the window is ``start <= date < deadline``), ``scopes`` and ``signals`` (tuples of the
        accepted scope labels and signal names).
    """
    parameters = result.parameters
    config = parameters["config"]
    start = pd.Timestamp(parameters["start"]).tz_localize(None).normalize()
    providers = list(config.audience.provider_mix)
    ips = list(config.infrastructure.ips)
    streams = [s.name for s in config.streams]
    calendar = [s.name for s in config.streams if s.trigger == "calendar"]
    feedback = [p for p in providers if config.providers[p].feedback_loop]

    def pool_scopes(pool: str | None, shared_only: bool) -> list[str]:
        chosen = [
            ip for ip in ips if (pool is None or ip.pool == pool) and (ip.shared or not shared_only)
        ]
        return [f"ip {ip.address}" for ip in chosen] + [
            f"pool {p}" for p in {ip.pool for ip in chosen}
        ]

    everywhere_base = ["all", *providers, *pool_scopes(None, False)]
    rows = []
    events: list[tuple[str, int, dict[str, list[str]]]] = []
    for incident in config.incidents:
        affected_streams = list(incident.streams) if incident.streams else calendar
        rules = {
            "providers": list(incident.providers) if incident.providers else providers,
            "pool": pool_scopes(incident.pool, True),
            "streams": [f"stream {s}" for s in affected_streams],
            "feedback": feedback,
            "everywhere": everywhere_base + [f"stream {s}" for s in affected_streams],
        }
        events.append((incident.kind, incident.start_day, rules))
    for migration in config.infrastructure.migrations:
        kind = "cold_cutover" if migration.schedule == "cold" else "warmup"
        moved = list(migration.streams) if migration.streams else streams
        rules = {
            "destination": pool_scopes(migration.to_pool, False),
            "providers": providers,
            "everywhere": everywhere_base + [f"stream {s}" for s in moved],
        }
        events.append((kind, migration.start_day, rules))
    for kind, start_day, rules in events:
        expectation = INCIDENT_EXPECTATIONS[kind]
        scopes = tuple(
            dict.fromkeys(s for rule in expectation["scopes"] for s in rules.get(rule, []))
        )
        first = start + pd.Timedelta(days=int(start_day))
        rows.append(
            {
                "incident": kind,
                "start": first,
                "deadline": first + pd.Timedelta(days=within_days),
                "scopes": scopes,
                "signals": tuple(expectation["signals"]),
            }
        )
    return pd.DataFrame(rows, columns=["incident", "start", "deadline", "scopes", "signals"])


def evaluate_signals(
    signals: pd.DataFrame,
    windows: pd.DataFrame,
    *,
    clean_days: pd.DatetimeIndex,
    scope_days: int,
    min_severity: str = "warning",
    gap_days: int = 7,
) -> dict[str, Any]:
    """Score signals against known incidents and a clean period.

    Parameters
    ----------
    signals : DataFrame
        :func:`risk_signals` output with ``merge=False`` (one row per scope, signal, day).
    windows : DataFrame
        :func:`incident_windows` output.
    clean_days : DatetimeIndex
        Days known to be free of incidents (and tested: after the history period).
    scope_days : int
        Scope-days with mail in ``clean_days`` [scope-days]: the exposure of the false-alarm
        rate.
    min_severity : str
        Severities from this one up count as alarms.
    gap_days : int
        Episode gap for counting false alarms [days] (:func:`merge_episodes`).

    Returns
    -------
    dict
        ``detections``: a DataFrame per incident (``incident``, ``start``, ``detected``
        (bool), ``delay_days`` (first alarm of an expected signal in an accepted scope,
        counted from ``start``; NaN when missed), ``first_signal``, ``first_scope``);
        ``false_alarms`` [episodes] and ``info_signals`` [episodes] on clean days (episodes
        whose worst severity is / is not an alarm); ``false_alarm_rows``: the signal rows of
        the false alarms; ``scope_weeks`` = ``scope_days / 7``.
    """
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    level = rank[min_severity]
    severity = signals["severity"].astype("string").map(rank).fillna(-1).astype(int)
    alarms = signals[(severity >= level).to_numpy(dtype=bool)]
    detections = []
    for window in windows.itertuples(index=False):
        hit = alarms[
            (alarms["date"] >= window.start).to_numpy(dtype=bool)
            & (alarms["date"] < window.deadline).to_numpy(dtype=bool)
            & alarms["scope"].isin(list(window.scopes)).to_numpy(dtype=bool)
            & alarms["signal"].isin(list(window.signals)).to_numpy(dtype=bool)
        ].sort_values("date", kind="stable")
        first = hit.iloc[0] if len(hit) else None
        detections.append(
            {
                "incident": window.incident,
                "start": window.start,
                "detected": first is not None,
                "delay_days": float((first["date"] - window.start).days)
                if first is not None
                else np.nan,
                "first_signal": None if first is None else str(first["signal"]),
                "first_scope": None if first is None else str(first["scope"]),
            }
        )
    clean = signals[signals["date"].isin(clean_days).to_numpy(dtype=bool)]
    clean = clean.sort_values(["scope", "signal", "date"], kind="stable", ignore_index=True)
    clean = clean.assign(
        _episode=_episode_ids(clean, gap_days) if len(clean) else np.zeros(0, dtype=int),
        _rank=clean["severity"].astype("string").map(rank).fillna(-1).astype(int),
    )
    worst = clean.groupby("_episode")["_rank"].max() if len(clean) else pd.Series(dtype=int)
    alarm_episodes = clean[clean["_episode"].isin(worst.index[worst >= level]).to_numpy(dtype=bool)]
    return {
        "detections": pd.DataFrame(
            detections,
            columns=["incident", "start", "detected", "delay_days", "first_signal", "first_scope"],
        ),
        "false_alarms": int((worst >= level).sum()),
        "info_signals": int((worst < level).sum()),
        "false_alarm_rows": alarm_episodes.drop(columns=["_episode", "_rank"]),
        "scope_weeks": scope_days / 7.0,
    }
