"""What to change and whether it pays: infrastructure options simulated forward with their money.

An *option* is a way of sending (:class:`InfrastructureOption`): a shared pool whose reputation
is not yours, or dedicated IPs whose reputation is, reached by a migration plan (a cold
cut-over, a published ramp from :data:`~deliverability_econ.warmup.SCHEDULES`, or a custom
ramp), with its costs. :data:`OPTIONS` is the documented registry of named presets, among
them the four levels of sending maturity (DESIGN.md): ``platform_sending``, ``shared_relay``,
``dedicated_ip`` and ``optimized_stack``, plus migration variants of the dedicated IP.

:func:`simulate_option` runs an option day by day over a horizon and many Monte Carlo draws
(vectorized over draws, days and mailbox providers), turns its placement into seen messages
per funnel, and seen messages into money with the funnel model, relative to a baseline
option (usually the current shared pool); :func:`compare_options` ranks several options and
applies :func:`recommended_option`; :func:`break_even_messages_per_month` finds the monthly
volume above which one dedicated IP beats the shared pool, and
:func:`break_even_sensitivity` ranks what moves it (a :func:`~deliverability_econ.finance.tornado`).

The model, per draw ``d``, day ``t`` and provider ``p``:

*Shared pool* (:class:`SharedPool`; the score scale and F19 link of
:mod:`deliverability_econ.simulate.reputation`)::

    score    = healthy_p - level_discount - authentication_gap - deficit[d, t] - wander[d, t]
               - sender_weight * complaint_penalty(own complaint rate)
    deficit  = deficit * exp(-1 / recovery_days) + depth * N,  N ~ Poisson(shock_rate)
               (other senders' incidents: depth ~ exponential(shock_depth))
    wander   = AR(1) with daily persistence exp(-1 / volatility_days), sd ``volatility``
    inbox    = (1 - block(score)) * link(score),  spam = (1 - block(score)) - inbox

*Dedicated IPs*: :func:`deliverability_econ.warmup.simulate_warmup` on the migration plan's
daily volume per IP, with the provider's healthy score lowered by ``authentication_gap`` and,
below :attr:`Instability.min_stable_daily` messages a day to that provider, by
``low_volume_gap * (1 - volume / min_stable_daily)`` (too little mail for a provider to form a
reputation: F23, section 5's SES guidance of several hundred messages within 24 h per
provider), with extra score noise below it (``noise_factor``). The sender's own complaint
rate follows an incident process (:class:`OwnBehaviour`: Poisson incidents that push the
complaint rate to ``incident_complaint_rate`` and fade with ``incident_days``; monitoring
shortens them), so a dedicated IP's reputation follows the sender's complaints, bounces and
the consistency of its volume. During a ramp, the volume not yet on the new IP stays on the
shared pool (``warmup.volume_plan``).

*Money*: every funnel (:mod:`deliverability_econ.funnel`) is fed a share of the volume
(:data:`DEFAULT_STREAM_MIX`). For funnel ``f`` the messages *seen* in a month are
``share_f * (inbox + spam_rescue_f * spam)`` (times the share delivered without deferral for
time-critical funnels, whose mail is late when deferred). :func:`funnel_values` gets, from
:func:`deliverability_econ.funnel.funnel_impact` on a unit cube, each funnel's conversions per
stage and money per cost line per extra seen message, per Monte Carlo draw (the funnel's
Beta-PERT parameters). An option's monthly benefit on cost line ``l`` is
``sum_f value_fl * (seen_f(option) - seen_f(baseline))`` (signed: an option that places worse
loses money), mapped to :data:`deliverability_econ.finance.BENEFIT_LINES`
(lost revenue -> recovered revenue, wasted acquisition -> acquisition cost saved, support
overhead -> support avoided, churn -> churn avoided); its costs are its own minus the
baseline's (:data:`OPTION_COST_SPECS`), sampled per draw. Month 0 holds one-off costs; month
``m`` (1..horizon) the m-th month of operation. NPV uses an annual discount rate (decimal).

All randomness comes from one ``random_state``; the baseline and every option share the
shared pool's world, the sender's incidents and the funnel draws (common random numbers),
so differences between options are not noise between runs.
"""

from __future__ import annotations

import warnings
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from . import finance
from ._random import RandomState, check_random_state
from .funnel import FunnelConfig, default_funnels, funnel_impact
from .simulate.config import ReputationModel
from .simulate.reputation import complaint_penalty, placement_from_score, score_for_placement
from .warmup import (
    DEFAULT_PROVIDER_SHARES,
    PROVIDERS,
    WarmupParameters,
    provider_table,
    simulate_warmup,
    volume_plan,
)

#: Days in an average month [days].
DAYS_PER_MONTH = 365.25 / 12

#: Funnel cost line -> finance benefit line.
BENEFIT_OF_COST_LINE: dict[str, str] = {
    "lost_revenue": "recovered_revenue",
    "wasted_acquisition": "acquisition_cost_saved",
    "support_overhead": "support_avoided",
    "churn": "churn_avoided",
}

#: Share of a sender's monthly messages per funnel [fraction 0-1, summing to 1]. Assumption:
#: a B2B SaaS sender whose volume is mostly newsletters, with about a tenth transactional and
#: lifecycle mail (section 10: no source gives a stream mix). Override with a mapping.
DEFAULT_STREAM_MIX: dict[str, float] = {
    "newsletter": 0.85, "onboarding": 0.06, "signup": 0.02, "password_reset": 0.02,
    "renewal": 0.02, "dunning": 0.02, "demo": 0.01,
}


# --------------------------------------------------------------------------------------------
# Option building blocks
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SharedPool:
    """A shared pool's reputation: a level below a healthy dedicated IP, volatility and shocks
    from other senders.

    Parameters
    ----------
    level_discount : float
        Healthy pool score below a healthy dedicated IP of a good sender [score points]. The
        simulator's ``shared_discount`` (1) for an ESP pool that groups senders of similar
        reputation (section 5: SendGrid; Amazon's reputation-segmented pools).
    volatility : float
        Standard deviation of the pool's day-to-day wander [score points]. The simulator's
        ``noise_shared``.
    volatility_days : float
        Time constant of the wander [days]. Assumption.
    shock_rate : float
        Other senders' incidents hitting the pool [per day]. The simulator's
        ``shared_shock_rate`` (0.01: about one every three months).
    shock_depth : float
        Mean depth of a shock (exponential) [score points]. The simulator's
        ``shared_shock_size``.
    recovery_days : float
        Time constant of the recovery from a shock [days]; 1 / the simulator's
        ``persistence_shared`` (0.15/day).
    sender_weight : float
        Weight of the sender's own complaint penalty on the pool's score [fraction 0-1]: one
        sender among many moves a pool little. Assumption.
    """

    level_discount: float = 1.0
    volatility: float = 1.0
    volatility_days: float = 7.0
    shock_rate: float = 0.01
    shock_depth: float = 4.0
    recovery_days: float = 1.0 / 0.15
    sender_weight: float = 0.2


@dataclass(frozen=True)
class Instability:
    """How a dedicated IP suffers below a minimum daily volume per provider.

    Parameters
    ----------
    min_stable_daily : float
        Daily volume to one provider below which the IP's reputation is thin
        [messages/day per provider per IP]. Between section 5's SES guidance ("several
        hundred messages within 24 h" per ISP) and F23's 1,000 a day after warm-up.
    low_volume_gap : float
        Score lost at zero volume, linearly less up to ``min_stable_daily`` [score points].
        Assumption: a thin IP is judged like a new one, the warm-up model's ``cold_gap``
        (F28: new IPs start slightly negative).
    noise_factor : float
        Extra score noise at zero volume, as the warm-up model's
        ``low_volume_noise_factor`` [ratio]. Assumption (twice the simulator's 0.5).
    noise_sd : float
        Daily innovation of a dedicated IP's score [score points]; the simulator's
        ``noise_dedicated``.
    """

    min_stable_daily: float = 500.0
    low_volume_gap: float = 10.0
    noise_factor: float = 1.0
    noise_sd: float = 0.8


@dataclass(frozen=True)
class OwnBehaviour:
    """The sender's own complaint and bounce behaviour, with incidents.

    Parameters
    ----------
    complaint_rate : float
        Complaints per inbox-placed message in normal weeks [fraction 0-1]. F12 (a managed
        portfolio), as ``warmup.simulate_warmup``.
    hard_bounce_rate : float
        Hard bounces per message [fraction 0-1]. F12.
    incident_rate : float
        Own incidents (a stale list segment, a broken unsubscribe, a content mistake)
        [per day]. Assumption: two a year.
    incident_complaint_rate : float
        Complaint rate at the peak of an incident [fraction 0-1]. F2: Gmail's 0.30% ceiling.
    incident_days : float
        Time constant of an incident's fading without monitoring [days]. Assumption: noticed
        after a week.
    monitored_incident_days : float
        The same with monitoring (Postmaster Tools, SNDS, seed tests, alerts) [days].
        Assumption: noticed within two days.
    """

    complaint_rate: float = 0.0001
    hard_bounce_rate: float = 0.01
    incident_rate: float = 2.0 / 365.25
    incident_complaint_rate: float = 0.003
    incident_days: float = 7.0
    monitored_incident_days: float = 2.0


#: Cost inputs of an option, their unit and meaning. Values in :class:`InfrastructureOption`
#: ``costs`` are numbers or :func:`deliverability_econ.finance.sample` specs.
OPTION_COST_SPECS: dict[str, str] = {
    "ip_fee": "dedicated IP fee [currency/month per IP]",
    "plan_price": "ESP plan price [currency/month]",
    "tooling": "monitoring, seed-testing and DMARC-reporting tools [currency/month]",
    "monthly_hours": "staff time for monitoring and upkeep [hours/month]",
    "setup_hours": "staff time for set-up, DNS and migration, in month 0 [hours]",
    "one_off": "other one-off costs in month 0 [currency]",
}

#: Loaded cost of an engineer's hour [currency/hour]. Assumption (section 10: not in the facts).
HOURLY_COST: dict[str, Any] = {"dist": "pert", "low": 50.0, "mode": 75.0, "high": 120.0}

#: Section 5 / section 9: $20-60 per IP per month, $14-90 including plan uplift; SES $24.95,
#: SparkPost $20, Postmark $50, Mailgun $59 (3rd-party), Telnyx $14.
IP_FEE: dict[str, Any] = {"dist": "pert", "low": 14.0, "mode": 30.0, "high": 90.0}


@dataclass(frozen=True)
class InfrastructureOption:
    """A way of sending, with its reputation dynamics, migration plan and costs.

    Parameters
    ----------
    name : str
        Name in reports (``summary.json``'s ``options``).
    kind : {"shared", "dedicated"}
    description : str
    pool : SharedPool
        The shared pool (for a dedicated option: the pool that carries mail not yet on the new
        IPs during a ramp).
    migration : str or array, optional
        For ``"dedicated"``: ``"cold"`` (everything on day one), a name in
        :data:`~deliverability_econ.warmup.SCHEDULES` or ``warmup.GUIDANCE``, or a daily volume
        ramp per IP [messages/day] (:func:`~deliverability_econ.warmup.custom_schedule`).
    overflow : {"defer", "shared"}
        What a provider does with volume above its acceptance cap (``warmup.simulate_warmup``).
    ips : int
        Dedicated IPs sharing the volume equally [count].
    authentication_gap : float
        Score lost for incomplete authentication [score points]: 0 with SPF, DKIM and DMARC
        aligned with the From domain. F2 (Gmail and Yahoo require alignment from bulk
        senders), F3 (unauthenticated mail spam-foldered or rejected; missing alignment
        deferred with 4.7.32). Sizes are assumptions.
    monitored : bool
        Incidents are caught quickly (:attr:`OwnBehaviour.monitored_incident_days`).
    costs : dict
        Keys of :data:`OPTION_COST_SPECS`; numbers or ``finance.sample`` specs.
    sources : str
        Where the assumptions come from.
    """

    name: str
    kind: str
    description: str = ""
    pool: SharedPool = field(default_factory=SharedPool)
    migration: Any = "sendgrid"
    overflow: str = "defer"
    ips: int = 1
    authentication_gap: float = 0.0
    monitored: bool = False
    costs: Mapping[str, Any] = field(default_factory=dict)
    sources: str = ""

    def __post_init__(self):
        if self.kind not in ("shared", "dedicated"):
            raise ValueError(f"option {self.name!r}: kind must be 'shared' or 'dedicated', "
                             f"not {self.kind!r}")
        if self.ips < 1:
            raise ValueError(f"option {self.name!r}: ips must be at least 1")
        unknown = set(self.costs) - set(OPTION_COST_SPECS)
        if unknown:
            raise ValueError(f"option {self.name!r}: unknown cost(s) {sorted(unknown)}; known: "
                             + ", ".join(OPTION_COST_SPECS))
        if self.overflow not in ("defer", "shared"):
            raise ValueError(f"option {self.name!r}: overflow must be 'defer' or 'shared'")

    def with_migration(self, migration, name: str | None = None) -> InfrastructureOption:
        """The same option with another migration plan (and name)."""
        label = migration if isinstance(migration, str) else "custom"
        return replace(self, migration=migration, name=name or f"{self.name}_{label}")


_PLATFORM_POOL = SharedPool(level_discount=4.0, volatility=1.5, shock_rate=0.03, shock_depth=5.0,
                            sender_weight=0.05)
_RELAY_COSTS = {"plan_price": {"dist": "pert", "low": 15.0, "mode": 20.0, "high": 35.0},
                "monthly_hours": 0.5}
_DEDICATED_COSTS = {
    "ip_fee": IP_FEE,
    "plan_price": {"dist": "pert", "low": 60.0, "mode": 90.0, "high": 250.0},
    "monthly_hours": {"dist": "pert", "low": 1.0, "mode": 2.0, "high": 4.0},
    "setup_hours": {"dist": "pert", "low": 4.0, "mode": 8.0, "high": 20.0},
}


def _dedicated(name, description, migration, **extra) -> InfrastructureOption:
    costs = extra.pop("costs", _DEDICATED_COSTS)
    return InfrastructureOption(
        name, "dedicated", description, migration=migration, authentication_gap=1.0,
        costs=costs,
        sources="section 5 (IP fees, plan tiers), section 4 (warm-up schedules F23-F27), "
                "F19 (reputation -> placement), F28 (new IPs start negative); staff hours are "
                "assumptions", **extra)


#: Named options: the four maturity levels and migration variants of a dedicated IP.
OPTIONS: dict[str, InfrastructureOption] = {
    o.name: o
    for o in (
        InfrastructureOption(
            "platform_sending", "shared",
            "Maturity 1: mail sent by the application platform's built-in mailer from a large "
            "mixed pool, From domain not aligned with DKIM",
            pool=_PLATFORM_POOL, authentication_gap=4.0, costs={},
            sources="F2, F3 (alignment required of bulk senders; unaligned mail deferred or "
                    "spam-foldered); pool level, shocks and the gap are assumptions for an "
                    "unvetted pool (4 points: a quarter of an F19 band)"),
        InfrastructureOption(
            "shared_relay", "shared",
            "Maturity 2: an ESP's shared SMTP relay pool, SPF and DKIM for the sender's domain, "
            "DMARC at p=none without alignment reporting",
            authentication_gap=1.0, costs=_RELAY_COSTS,
            sources="section 5 (SendGrid $20 shared plan), simulator's shared-pool parameters; "
                    "gap an assumption"),
        _dedicated("dedicated_ip",
                   "Maturity 3: one dedicated IP warmed on SendGrid's automated schedule (F24)",
                   "sendgrid"),
        _dedicated("dedicated_ip_sparkpost",
                   "One dedicated IP warmed on SparkPost's recommended schedule (F25)",
                   "sparkpost"),
        _dedicated("dedicated_ip_ses",
                   "One dedicated IP on Amazon SES's 45-day automatic warm-up, the rest of the "
                   "traffic on shared IPs (F23)", "amazon_ses", overflow="shared"),
        _dedicated("dedicated_ip_cold",
                   "One dedicated IP, all traffic moved on day one without warm-up (the classic "
                   "failure, F28, F29)", "cold",
                   costs={**_DEDICATED_COSTS,
                          "setup_hours": {"dist": "pert", "low": 1.0, "mode": 2.0, "high": 6.0}}),
        InfrastructureOption(
            "optimized_stack", "dedicated",
            "Maturity 4: a dedicated IP warmed on SendGrid's schedule, SPF, DKIM and DMARC "
            "aligned, monitoring (Postmaster Tools, SNDS, seed tests, alerts)",
            migration="sendgrid", authentication_gap=0.0, monitored=True,
            costs={**_DEDICATED_COSTS,
                   "tooling": {"dist": "pert", "low": 50.0, "mode": 150.0, "high": 400.0},
                   "monthly_hours": {"dist": "pert", "low": 2.0, "mode": 4.0, "high": 8.0},
                   "setup_hours": {"dist": "pert", "low": 16.0, "mode": 24.0, "high": 60.0}},
            sources="F2-F6 (authentication and Postmaster requirements), section 5 (fees); "
                    "tooling price and hours are assumptions"),
    )
}

#: The four maturity levels, in order.
MATURITY_LEVELS: tuple[str, ...] = ("platform_sending", "shared_relay", "dedicated_ip",
                                    "optimized_stack")


def options_table() -> pd.DataFrame:
    """The registry as a table: one row per option with its assumptions, costs and sources."""
    rows = []
    for option in OPTIONS.values():
        costs = {k: (finance.spec_range(v)[1] if isinstance(v, Mapping) else float(v))
                 for k, v in option.costs.items()}
        rows.append({
            "name": option.name, "kind": option.kind, "description": option.description,
            "migration": option.migration if option.kind == "dedicated" else "",
            "ips": option.ips if option.kind == "dedicated" else 0,
            "authentication_gap": option.authentication_gap, "monitored": option.monitored,
            "pool_level_discount": option.pool.level_discount,
            "pool_shock_rate": option.pool.shock_rate,
            **{f"cost_{k}": costs.get(k, 0.0) for k in OPTION_COST_SPECS},
            "sources": option.sources,
        })
    return pd.DataFrame(rows)


def get_option(option: str | InfrastructureOption) -> InfrastructureOption:
    """An option by name (:data:`OPTIONS`) or as given."""
    if isinstance(option, InfrastructureOption):
        return option
    try:
        return OPTIONS[option]
    except KeyError:
        raise KeyError(f"unknown option {option!r}; known: {', '.join(OPTIONS)}") from None


# --------------------------------------------------------------------------------------------
# Volumes
# --------------------------------------------------------------------------------------------


def stream_volumes(volumes, stream_mix: Mapping[str, float] | None = None) -> dict[str, float]:
    """Monthly messages per funnel [messages/month].

    Parameters
    ----------
    volumes : float or mapping
        Total messages a month [messages/month], split by ``stream_mix``; or a mapping funnel
        name -> messages a month.
    stream_mix : mapping, optional
        Shares per funnel [fraction 0-1]; :data:`DEFAULT_STREAM_MIX` by default.

    Examples
    --------
    >>> stream_volumes(100_000)["signup"]
    2000.0
    """
    if isinstance(volumes, Mapping):
        out = {str(k): float(v) for k, v in volumes.items()}
    else:
        total = float(volumes)
        mix = dict(stream_mix or DEFAULT_STREAM_MIX)
        share = sum(mix.values())
        if abs(share - 1.0) > 1e-6:
            raise ValueError(f"stream_mix must sum to 1, not {share}")
        out = {k: total * v for k, v in mix.items()}
    bad = [k for k, v in out.items() if not np.isfinite(v) or v < 0]
    if bad:
        raise ValueError(f"volumes must be finite and non-negative [messages/month]: {bad}")
    if sum(out.values()) <= 0:
        raise ValueError("volumes sum to zero messages a month")
    return out


def volumes_from_cube(cube: pd.DataFrame, config: FunnelConfig | None = None
                      ) -> tuple[dict[str, float], dict[str, float]]:
    """Average monthly messages per funnel and provider shares from a daily cube.

    Parameters
    ----------
    cube : DataFrame
        ``daily_cube(messages, by=("mailbox_provider", "stream"))``: ``date``,
        ``mailbox_provider``, ``stream``, ``messages``.
    config : FunnelConfig, optional
        Maps streams to funnels; mail of streams no funnel names counts as ``newsletter``.

    Returns
    -------
    volumes, provider_shares : dict, dict
        [messages/month] per funnel; [fraction 0-1] over :data:`~deliverability_econ.warmup.PROVIDERS`
        (providers outside that list count as ``other``).
    """
    config = config or default_funnels()
    frame = cube.copy()
    days = pd.to_datetime(frame["date"]).dt.floor("D").nunique()
    if days == 0:
        raise ValueError("the cube has no days")
    by_stream = {f.stream: name for name, f in config.funnels.items()}
    funnel = frame["stream"].astype("string").map(by_stream).fillna("newsletter")
    messages = frame["messages"].to_numpy(float)
    per_funnel = pd.Series(messages).groupby(funnel.to_numpy()).sum()
    volumes = {str(k): float(v) * DAYS_PER_MONTH / days for k, v in per_funnel.items()}
    provider = frame["mailbox_provider"].astype("string").fillna("other")
    provider = provider.where(provider.isin(PROVIDERS), "other")
    per_provider = pd.Series(messages).groupby(provider.to_numpy()).sum()
    total = float(per_provider.sum())
    shares = {p: float(per_provider.get(p, 0.0)) / total for p in PROVIDERS}
    return volumes, shares


# --------------------------------------------------------------------------------------------
# Funnel values
# --------------------------------------------------------------------------------------------


@dataclass
class FunnelValues:
    """What one extra seen message of each funnel is worth, per Monte Carlo draw.

    Attributes
    ----------
    funnels : tuple of str
    rescue : ndarray (funnels, draws)
        Spam rescue: a spam-folder message counts this much of an inbox one [fraction 0-1].
    time_critical : ndarray (funnels,) of bool
        Mail that is late when deferred (a finite ``deadline_minutes``).
    money : dict of str to ndarray (funnels, draws)
        Per benefit line (:data:`BENEFIT_OF_COST_LINE` values) [currency per seen message].
    conversions : DataFrame
        ``funnel``, ``stage`` per row of ``conversion_draws``.
    conversion_draws : ndarray (rows, draws)
        Conversions per seen message at each stage [conversions/message].
    currency : str
    """

    funnels: tuple[str, ...]
    rescue: np.ndarray
    time_critical: np.ndarray
    money: dict[str, np.ndarray]
    conversions: pd.DataFrame
    conversion_draws: np.ndarray
    currency: str


def funnel_values(config: FunnelConfig | None = None, *, draws: int = 1000,
                  random_state: RandomState = None, modal: bool = False) -> FunnelValues:
    """Value of one more seen message per funnel, cost line and draw, from the funnel model.

    Runs :func:`deliverability_econ.funnel.funnel_impact` on a unit cube (one message per
    funnel) placed nowhere against a counterfactual of 1 (everything in the inbox), so the
    lost conversions and money are those of one seen message; a second run with the message
    in the spam folder gives the spam rescue. Both runs share the seed, hence the draws.

    Parameters
    ----------
    config : FunnelConfig, optional
        :func:`~deliverability_econ.funnel.default_funnels` by default.
    draws : int
    random_state : None, int or Generator
    modal : bool
        Every parameter at its most likely value (no uncertainty), e.g. for break-even.

    Returns
    -------
    FunnelValues
    """
    config = config or default_funnels()
    if modal:
        config = config.with_parameters({k: p.value for k, p in config.parameters().items()
                                         if p.sampled}, source="<modal>")
    seed = int(check_random_state(random_state).integers(0, 2**63 - 1))
    names = tuple(config.funnels)
    cube = pd.DataFrame({
        "date": pd.to_datetime(["2026-01-01"] * len(names)),
        "mailbox_provider": ["gmail"] * len(names),
        "stream": [config.funnels[n].stream for n in names],
        "messages": [1_000_000.0] * len(names),
        "delivered": [1_000_000.0] * len(names),
    })

    def run(spam: float):
        placement = pd.DataFrame({"inbox_rate": [0.0], "inbox_low": [0.0], "inbox_high": [0.0],
                                  "spam_rate": [spam], "missing_rate": [1.0 - spam]})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return funnel_impact(cube, placement, config, counterfactual=1.0, draws=draws,
                                 floor_at_zero=False, random_state=seed)

    nowhere, in_spam = run(0.0), run(1.0)
    index = {n: i for i, n in enumerate(names)}
    money = {line: np.zeros((len(names), draws)) for line in BENEFIT_OF_COST_LINE.values()}
    rows = nowhere.cost_rows
    for k in range(len(rows)):
        line = BENEFIT_OF_COST_LINE[str(rows["line"].iloc[k])]
        money[line][index[str(rows["funnel"].iloc[k])]] += nowhere.cost[k] / 1_000_000.0
    leak = nowhere.leakage_rows
    email = (leak["stage_index"] == 0).to_numpy()
    rescue = np.zeros((len(names), draws))
    for k in np.flatnonzero(email):
        i = index[str(leak["funnel"].iloc[k])]
        with np.errstate(invalid="ignore", divide="ignore"):
            rescue[i] = np.nan_to_num(1.0 - in_spam.lost[k] / nowhere.lost[k])
    critical = np.array([np.isfinite(config.funnels[n].email_stage.parameters[
        "deadline_minutes"].value) for n in names])
    return FunnelValues(
        funnels=names, rescue=np.clip(rescue, 0.0, 1.0), time_critical=critical, money=money,
        conversions=leak[["funnel", "stage"]].astype(str).reset_index(drop=True),
        conversion_draws=nowhere.lost / 1_000_000.0, currency=config.currency)


# --------------------------------------------------------------------------------------------
# Paths: daily placement of an option, aggregated to months
# --------------------------------------------------------------------------------------------


@dataclass
class _Paths:
    """Per grid point g, draw d, month m: messages in the inbox and spam (all, and in time)
    [messages/month], per provider inbox rates, and daily overall inbox-rate quantiles."""

    inbox: np.ndarray          # (G, draws, months)
    spam: np.ndarray
    inbox_in_time: np.ndarray
    spam_in_time: np.ndarray
    monthly_inbox_rate: np.ndarray  # (G, draws, months, providers)
    daily_quantiles: np.ndarray | None  # (3, days) of the overall inbox rate, grid point 0
    daily_inbox_rate: np.ndarray | None  # (draws, days, providers), grid point 0


def _month_starts(days: int, months: int) -> np.ndarray:
    starts = np.floor(np.arange(months) * DAYS_PER_MONTH + 1e-9).astype(int)
    return starts[starts < days]


def _seeds(random_state: RandomState) -> int:
    return int(check_random_state(random_state).integers(0, 2**63 - 1))


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng([seed, *keys])


def _name_key(name: str) -> int:
    return zlib.crc32(name.encode("utf-8"))


def _event_starts(rate: float, draws: int, days: int, rng: np.random.Generator) -> np.ndarray:
    """Events of a Poisson process per draw and day, (draws, days) [count]: a Poisson number
    of events per draw placed on uniform days (cheaper than a draw per day and exact)."""
    counts = rng.poisson(max(rate, 0.0) * days, draws)
    starts = np.zeros((draws, days))
    np.add.at(starts, (np.repeat(np.arange(draws), counts), rng.integers(0, days, counts.sum())),
              1.0)
    return starts


def _complaints(behaviour: OwnBehaviour, monitored: bool, draws: int, days: int,
                rng: np.random.Generator) -> np.ndarray:
    """Daily own complaint rate per draw (draws, days) [fraction 0-1]."""
    starts = _event_starts(behaviour.incident_rate, draws, days, rng)
    duration = behaviour.monitored_incident_days if monitored else behaviour.incident_days
    intensity = lfilter([1.0], [1.0, -np.exp(-1.0 / duration)], starts, axis=1)
    return behaviour.complaint_rate + (behaviour.incident_complaint_rate
                                       - behaviour.complaint_rate) * np.minimum(intensity, 1.0)


def _shared_level(pool: SharedPool, own_penalty: np.ndarray, draws: int, days: int,
                  rng: np.random.Generator) -> np.ndarray:
    """How far a shared pool sits below its level, (days, draws) [score points]: other
    senders' shocks, the pool's wander and a little of the sender's own complaints."""
    counts = rng.poisson(max(pool.shock_rate, 0.0) * days, draws)
    depth = np.zeros((draws, days))
    np.add.at(depth, (np.repeat(np.arange(draws), counts), rng.integers(0, days, counts.sum())),
              rng.exponential(pool.shock_depth, counts.sum()))
    deficit = lfilter([1.0], [1.0, -np.exp(-1.0 / pool.recovery_days)], depth, axis=1)
    phi = np.exp(-1.0 / pool.volatility_days)
    # float64 for lfilter, which is several times slower in single precision.
    innovations = rng.standard_normal((draws, days), dtype=np.float32).astype(float)
    innovations *= pool.volatility * np.sqrt(1 - phi**2)
    wander = lfilter([1.0], [1.0, -phi], innovations, axis=1)
    level = deficit + wander + pool.sender_weight * own_penalty
    return np.ascontiguousarray(level.T, dtype=np.float32)


def _shared_rates(score_base: np.ndarray, block_ceiling: np.ndarray, level: np.ndarray,
                  model: ReputationModel) -> tuple[np.ndarray, np.ndarray]:
    """Inbox and spam share of messages sent through a shared pool, (days, draws, providers)
    [fraction 0-1], for a pool ``level`` (days, draws) below ``score_base`` (providers,)."""
    score = score_base.astype(np.float32)[None, None, :] - level[:, :, None]
    # The F19 link and the block curve of simulate.reputation, in single precision and in
    # place (as warmup's day loop): 36 million values at 10,000 draws.
    inbox = score * np.float32(-1.0 / model.link_scale)
    inbox += np.float32(model.link_midpoint / model.link_scale)
    np.exp(inbox, out=inbox)
    inbox += np.float32(1.0)
    np.divide(np.float32(model.link_ceiling), inbox, out=inbox)
    reached = score
    reached *= np.float32(1.0 / model.block_scale)
    reached -= np.float32(model.block_midpoint / model.block_scale)
    np.exp(reached, out=reached)
    reached += np.float32(1.0)
    np.divide(block_ceiling.astype(np.float32)[None, None, :], reached, out=reached)
    reached += np.float32(model.block_floor)
    np.minimum(reached, np.float32(1.0), out=reached)
    np.subtract(np.float32(1.0), reached, out=reached)
    inbox *= reached
    reached -= inbox
    return inbox, reached


def _simulate_paths(option: InfrastructureOption, daily_by_provider: np.ndarray, *, days: int,
                    months: int, draws: int, seed: int, behaviour: OwnBehaviour,
                    instability: Instability, keep_daily: bool, quantiles: bool,
                    warmup_parameters: WarmupParameters | None = None,
                    cache: dict | None = None) -> _Paths:
    """Daily placement of an option for a grid of volumes ``daily_by_provider`` (G, P)
    [messages/day], aggregated to months. Arrays are day-major (days, draws, G, P) inside.
    ``cache`` keeps the sender's incidents and the pool's level between options of one run."""
    grid, n_providers = daily_by_provider.shape
    table = provider_table(PROVIDERS)
    parameters = warmup_parameters or WarmupParameters()
    model = parameters.reputation
    healthy = np.asarray(_healthy(table["warmed_inbox_rate"].to_numpy(float), model))
    block_ceiling = table["block_ceiling"].to_numpy(float)

    # The sender's incidents and the shared pool's world are the same draws in every option
    # (common random numbers).
    cache = {} if cache is None else cache
    key = ("complaints", option.monitored, behaviour)
    if key not in cache:
        cache[key] = _complaints(behaviour, option.monitored, draws, days, _rng(seed, 2))
    complaints = cache[key]
    key = ("level", option.monitored, behaviour, option.pool)
    if key not in cache:
        own_penalty = np.asarray(complaint_penalty(complaints, model), dtype=float)
        cache[key] = _shared_level(option.pool, own_penalty, draws, days, _rng(seed, 1))
    level = cache[key]
    score_base = healthy - option.pool.level_discount - option.authentication_gap
    volume = daily_by_provider.astype(np.float32)                    # (G, P), every day
    starts_m = _month_starts(days, months)
    days_in_month = np.diff(np.append(starts_m, days))

    if option.kind == "shared":
        inbox_rate, spam_rate = _shared_rates(score_base, block_ceiling, level, model)
        inbox_rate_m = np.add.reduceat(inbox_rate, starts_m, axis=0)   # (M, draws, P)
        spam_rate_m = np.add.reduceat(spam_rate, starts_m, axis=0)
        inbox_m = inbox_rate_m[:, :, None, :] * volume[None, None]     # (M, draws, G, P)
        spam_m = spam_rate_m[:, :, None, :] * volume[None, None]
        inbox_tc_m, spam_tc_m = inbox_m, spam_m
        volume_m = days_in_month[:, None, None, None] * volume[None, None]
        daily_inbox = inbox_rate                                         # (days, draws, P)
        if quantiles:
            weights = volume[0] / volume[0].sum()
            overall = inbox_rate @ weights                               # (days, draws)
    else:
        inbox, spam, deferred, on_ip = _dedicated_paths(
            option, daily_by_provider, days=days, draws=draws, seed=seed, table=table,
            healthy=healthy, model=model, parameters=parameters, instability=instability,
            complaints=complaints, behaviour=behaviour)                 # (days, draws, G, P)
        remainder = np.maximum(volume[None] - on_ip, 0.0)               # (days, G, P)
        ramp = np.flatnonzero(remainder.reshape(days, -1).max(axis=1) > 0)
        if len(ramp):
            # Mail not yet on the new IPs stays on the shared pool.
            shared_inbox, shared_spam = _shared_rates(score_base, block_ceiling, level[ramp],
                                                      model)
            inbox[ramp] += shared_inbox[:, :, None, :] * remainder[ramp][:, None]
            spam[ramp] += shared_spam[:, :, None, :] * remainder[ramp][:, None]
        inbox_m = np.add.reduceat(inbox, starts_m, axis=0)
        # Only totals over providers are needed of the rest: (M, draws, G, 1).
        spam_m = np.add.reduceat(spam.sum(-1, keepdims=True), starts_m, axis=0)
        # Deferred mail is late for time-critical funnels: in time = 1 - deferred / sent.
        in_time = deferred
        in_time /= np.maximum(volume, np.float32(1e-30))[None, None]
        np.subtract(np.float32(1.0), in_time, out=in_time)
        inbox_tc_m = np.add.reduceat(np.einsum("tdgp,tdgp->tdg", inbox, in_time)[..., None],
                                     starts_m, axis=0)
        spam_tc_m = np.add.reduceat(np.einsum("tdgp,tdgp->tdg", spam, in_time)[..., None],
                                    starts_m, axis=0)
        del in_time, deferred
        volume_m = days_in_month[:, None, None, None] * volume[None, None]
        if keep_daily:
            daily_inbox = inbox[:, :, 0, :] / np.maximum(volume[0], np.float32(1e-30))
        if quantiles:
            overall = inbox[:, :, 0, :].sum(-1) / volume[0].sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        monthly_rate = np.where(volume_m > 0, inbox_m / np.maximum(volume_m, 1e-30), 0.0)

    def by_grid(values):                                              # (M, d, G, P) -> (G, d, M)
        return np.ascontiguousarray(values.sum(-1).transpose(2, 1, 0), dtype=float)

    daily_q = np.percentile(overall, [10, 50, 90], axis=1) if quantiles else None
    daily = (np.ascontiguousarray(daily_inbox.transpose(1, 0, 2), dtype=np.float32)
             if keep_daily else None)
    return _Paths(by_grid(inbox_m), by_grid(spam_m), by_grid(inbox_tc_m), by_grid(spam_tc_m),
                  monthly_rate.transpose(2, 1, 0, 3).astype(np.float32), daily_q, daily)


def _healthy(warmed_inbox_rate, model: ReputationModel):
    return score_for_placement(np.minimum(warmed_inbox_rate, model.link_ceiling * 0.999), model)


def _dedicated_paths(option, daily_by_provider, *, days, draws, seed, table, healthy, model,
                     parameters, instability, complaints, behaviour):
    """The dedicated IPs' inbox, spam and deferred messages (days, draws, G, P) and the daily
    volume on them (days, G, P), through ``warmup.simulate_warmup``; grid points are extra
    columns of one run."""
    grid, n_providers = daily_by_provider.shape
    per_ip = daily_by_provider / option.ips
    totals = per_ip.sum(axis=1)
    plans, rows, names = [], [], []
    for g in range(grid):
        shares = {p: (per_ip[g, k] / totals[g] if totals[g] > 0 else 1.0 / n_providers)
                  for k, p in enumerate(PROVIDERS)}
        plan = volume_plan(option.migration, max(totals[g], 1e-9), days, shares)
        plans.append(plan.to_numpy(float))
        # Too little mail to a provider for it to hold a reputation (Instability).
        thin = np.clip(1.0 - per_ip[g] / instability.min_stable_daily, 0.0, 1.0)
        score = healthy - option.authentication_gap - instability.low_volume_gap * thin
        for k, p in enumerate(PROVIDERS):
            row = table.loc[p].copy()
            row["warmed_inbox_rate"] = float(placement_from_score(score[k], model))
            rows.append(row)
            names.append(f"{p}@{g}")
    plan = np.concatenate(plans, axis=1)
    provider_rows = pd.DataFrame(rows, index=pd.Index(names, name="mailbox_provider"))
    dynamics = replace(parameters, noise_sd=instability.noise_sd,
                       low_volume_daily=instability.min_stable_daily,
                       low_volume_noise_factor=instability.noise_factor)
    result = simulate_warmup(
        pd.DataFrame(plan, columns=names), dynamics, provider_rows, draws=draws,
        complaint_rate=complaints[:, :, None], hard_bounce_rate=behaviour.hard_bounce_rate,
        overflow=option.overflow, random_state=_rng(seed, 3, _name_key(option.name)),
        outputs=("inbox", "spam", "deferred"))
    scale = np.float32(option.ips)

    def day_major(name):
        # warmup stores (days, draws, providers) and exposes a transposed view.
        values = result.arrays[name].transpose(1, 0, 2).reshape(days, draws, grid, n_providers)
        if option.ips != 1:
            values *= scale
        return values

    on_ip = (plan * option.ips).reshape(days, grid, n_providers).astype(np.float32)
    return day_major("inbox"), day_major("spam"), day_major("deferred"), on_ip


# --------------------------------------------------------------------------------------------
# Money
# --------------------------------------------------------------------------------------------


def _seen(paths: _Paths, values: FunnelValues, volumes: Mapping[str, float]):
    """Seen messages per funnel (G, funnels, draws, months) over the total volume's share."""
    total = sum(volumes.values())
    out = []
    for i, name in enumerate(values.funnels):
        share = volumes.get(name, 0.0) / total
        rescue = values.rescue[i][None, :, None]
        if values.time_critical[i]:
            seen = paths.inbox_in_time + rescue * paths.spam_in_time
        else:
            seen = paths.inbox + rescue * paths.spam
        out.append(share * seen)
    return np.stack(out, axis=1)


def _benefits(delta_seen: np.ndarray, values: FunnelValues) -> dict[str, np.ndarray]:
    """Benefit lines (G, draws, months) [currency/month] from extra seen messages."""
    return {line: np.einsum("fd,gfdm->gdm", money, delta_seen)
            for line, money in values.money.items()}


def _sample_costs(option: InfrastructureOption, draws: int, rng: np.random.Generator):
    return {k: finance.sample(option.costs.get(k, 0.0), draws, rng) for k in OPTION_COST_SPECS}


def _modal_costs(option: InfrastructureOption, draws: int):
    return {k: np.full(draws, finance.spec_range(option.costs.get(k, 0.0))[1])
            for k in OPTION_COST_SPECS}


def _cost_inputs(option, baseline, costs_option, costs_baseline, hourly, months):
    """Keyword arguments of :func:`finance.cash_flows` for option minus baseline costs."""
    fees_o = costs_option["ip_fee"] * (option.ips if option.kind == "dedicated" else 0)
    fees_b = costs_baseline["ip_fee"] * (baseline.ips if baseline.kind == "dedicated" else 0)
    setup = (costs_option["setup_hours"] - costs_baseline["setup_hours"]) * hourly \
        + costs_option["one_off"] - costs_baseline["one_off"]
    one_off = np.zeros((len(hourly), months + 1))
    one_off[:, 0] = setup
    return {
        "ip_fees": _recurring(fees_o - fees_b, months),
        "plan_uplift": _recurring(costs_option["plan_price"] - costs_baseline["plan_price"], months),
        "tooling": _recurring(costs_option["tooling"] - costs_baseline["tooling"], months),
        "staff_hours": _recurring(costs_option["monthly_hours"] - costs_baseline["monthly_hours"],
                                  months),
        "hourly_cost": np.repeat(np.asarray(hourly, float)[:, None], months + 1, axis=1),
        "one_off": one_off,
    }


def _recurring(value: np.ndarray, months: int) -> np.ndarray:
    """A per-draw monthly amount (draws,) as (draws, months + 1), nothing in month 0."""
    out = np.repeat(np.asarray(value, float)[:, None], months + 1, axis=1)
    out[:, 0] = 0.0
    return out


def _after_month_zero(monthly: np.ndarray) -> np.ndarray:
    """Months 1..horizon (draws, months) as (draws, months + 1) with month 0 empty."""
    return np.concatenate([np.zeros((monthly.shape[0], 1)), monthly], axis=1)


@dataclass
class OptionResult:
    """An option simulated forward against a baseline.

    Attributes
    ----------
    name, baseline : str
    option : InfrastructureOption
    npv : ndarray (draws,)
        NPV of option minus baseline [currency, today's money].
    npv_percentiles : dict
        ``{"p10", "p50", "p90"}`` of ``npv`` [currency].
    p_npv_positive : float
        Share of draws with a positive NPV [fraction 0-1].
    payback_months : float or None
        Median payback [months from today]; None when fewer than half of the draws pay back
        within the horizon.
    payback_draws : ndarray (draws,)
        [months]; NaN without payback.
    cash_flows : dict of str to ndarray (draws, months + 1)
        Signed lines of :func:`deliverability_econ.finance.cash_flows` and ``net`` [currency].
    monthly_inbox_rate, baseline_monthly_inbox_rate : ndarray (draws, months, providers)
        Inbox share of messages sent per month and provider [fraction 0-1].
    daily_inbox_quantiles, baseline_daily_inbox_quantiles : ndarray (3, days)
        p10, p50, p90 over draws of the day's inbox share of all messages [fraction 0-1].
    daily_inbox_rate : ndarray (draws, days, providers) or None
        Daily inbox share per draw and provider [fraction 0-1] (``keep_daily=True``).
    extra_conversions : ndarray (rows, draws, months)
        Conversions gained over the baseline per funnel stage (rows of ``conversion_rows``)
        [conversions/month]; negative where the option loses them.
    conversion_rows : DataFrame
        ``funnel``, ``stage``.
    providers : tuple of str
    discount_rate : float
        [decimal per year]
    currency : str
    """

    name: str
    baseline: str
    option: InfrastructureOption
    npv: np.ndarray
    npv_percentiles: dict[str, float]
    p_npv_positive: float
    payback_months: float | None
    payback_draws: np.ndarray
    cash_flows: dict[str, np.ndarray] = field(repr=False)
    monthly_inbox_rate: np.ndarray = field(repr=False)
    baseline_monthly_inbox_rate: np.ndarray = field(repr=False)
    daily_inbox_quantiles: np.ndarray = field(repr=False)
    baseline_daily_inbox_quantiles: np.ndarray = field(repr=False)
    daily_inbox_rate: np.ndarray | None = field(repr=False)
    extra_conversions: np.ndarray = field(repr=False)
    conversion_rows: pd.DataFrame = field(repr=False)
    providers: tuple[str, ...] = PROVIDERS
    discount_rate: float = 0.10
    currency: str = "USD"

    def summary(self) -> dict[str, Any]:
        """The report's entry: ``name``, ``npv`` {p10, p50, p90}, ``p_npv_positive``,
        ``payback_months``."""
        return {"name": self.name, "npv": dict(self.npv_percentiles),
                "p_npv_positive": self.p_npv_positive, "payback_months": self.payback_months}

    def conversions_gained(self, funnel: str, stage: str, months: slice | None = None
                           ) -> np.ndarray:
        """Conversions gained over the baseline at one stage, summed over ``months`` (month
        1 is index 0), per draw [conversions]."""
        rows = self.conversion_rows
        match = np.flatnonzero((rows["funnel"] == funnel).to_numpy()
                               & (rows["stage"] == stage).to_numpy())
        if len(match) != 1:
            raise KeyError(f"no stage {funnel}.{stage}; known: "
                           + ", ".join(rows["funnel"] + "." + rows["stage"]))
        values = self.extra_conversions[match[0]]
        return values[:, months or slice(None)].sum(axis=1)

    def cash_flow_table(self) -> pd.DataFrame:
        """Mean signed line per month (rows: months 0..horizon) [currency], for finance."""
        return pd.DataFrame({k: v.mean(axis=0) for k, v in self.cash_flows.items()},
                            index=pd.RangeIndex(self.net_months, name="month"))

    @property
    def net_months(self) -> int:
        return self.cash_flows["net"].shape[1]


def _payback_median(payback: np.ndarray) -> float | None:
    median = float(np.median(np.where(np.isfinite(payback), payback, np.inf)))
    return median if np.isfinite(median) else None


def _horizon(horizon_months: int) -> tuple[int, int]:
    if int(horizon_months) != horizon_months or horizon_months < 1:
        raise ValueError(f"horizon_months must be a positive integer, not {horizon_months!r}")
    months = int(horizon_months)
    return months, int(round(months * DAYS_PER_MONTH))


def _daily_by_provider(volumes: Mapping[str, float], shares: Mapping[str, float] | None):
    shares = dict(shares or DEFAULT_PROVIDER_SHARES)
    unknown = set(shares) - set(PROVIDERS)
    if unknown:
        raise ValueError(f"provider_shares: unknown provider(s) {sorted(unknown)}; known: "
                         + ", ".join(PROVIDERS))
    total_share = sum(shares.values())
    if abs(total_share - 1.0) > 1e-6:
        raise ValueError(f"provider_shares must sum to 1, not {total_share}")
    daily = sum(volumes.values()) / DAYS_PER_MONTH
    return np.array([[daily * shares.get(p, 0.0) for p in PROVIDERS]])


def _check_volumes(volumes: Mapping[str, float], values: FunnelValues):
    unknown = set(volumes) - set(values.funnels)
    if unknown:
        raise ValueError(f"volumes name funnel(s) {sorted(unknown)} the funnel config does not "
                         "have; known: " + ", ".join(values.funnels))


class _Context:
    """What every option of one comparison shares: horizon, draws, seed, funnel values,
    behaviour and the baseline's paths."""

    def __init__(self, volumes, *, horizon_months, draws, random_state, config, stream_mix,
                 provider_shares, behaviour, instability, discount_rate, keep_daily=False):
        if int(draws) != draws or draws < 1:
            raise ValueError(f"draws must be a positive integer, not {draws!r}")
        self.months, self.days = _horizon(horizon_months)
        self.draws = int(draws)
        self.seed = _seeds(random_state)
        self.volumes = stream_volumes(volumes, stream_mix)
        self.daily = _daily_by_provider(self.volumes, provider_shares)
        self.values = funnel_values(config, draws=self.draws, random_state=_rng(self.seed, 0))
        _check_volumes(self.volumes, self.values)
        self.behaviour = behaviour or OwnBehaviour()
        self.instability = instability or Instability()
        self.discount_rate = float(discount_rate)
        self.keep_daily = keep_daily
        self.hourly = finance.sample(HOURLY_COST, self.draws, _rng(self.seed, 5))
        self._paths: dict[str, tuple[_Paths, np.ndarray]] = {}
        self._cache: dict = {}

    def paths(self, option: InfrastructureOption, keep_daily: bool = False):
        key = repr(option) + str(keep_daily)
        if key not in self._paths:
            paths = _simulate_paths(option, self.daily, days=self.days, months=self.months,
                                    draws=self.draws, seed=self.seed, behaviour=self.behaviour,
                                    instability=self.instability, keep_daily=keep_daily,
                                    quantiles=True, cache=self._cache)
            self._paths[key] = (paths, _seen(paths, self.values, self.volumes))
        return self._paths[key]

    def costs(self, option: InfrastructureOption):
        return _sample_costs(option, self.draws, _rng(self.seed, 4, _name_key(option.name)))

    def result(self, option, baseline) -> OptionResult:
        base_paths, base_seen = self.paths(baseline)
        paths, seen = self.paths(option, self.keep_daily)
        delta = seen - base_seen                                     # (1, F, draws, months)
        benefits = {k: _after_month_zero(v[0]) for k, v in _benefits(delta, self.values).items()}
        costs = _cost_inputs(option, baseline, self.costs(option), self.costs(baseline),
                             self.hourly, self.months)
        lines = finance.cash_flows(self.months + 1, draws=self.draws, **costs, **benefits)
        npv = np.atleast_1d(finance.npv(self.discount_rate, lines["net"]))
        payback = np.atleast_1d(finance.payback_months(lines["net"]))
        extra = np.einsum("sf,sd,fdm->sdm", _stage_funnel(self.values), self.values.conversion_draws,
                          delta[0])
        return OptionResult(
            name=option.name, baseline=baseline.name, option=option, npv=npv,
            npv_percentiles=finance.percentiles(npv), p_npv_positive=finance.probability_positive(npv),
            payback_months=_payback_median(payback), payback_draws=payback, cash_flows=lines,
            monthly_inbox_rate=paths.monthly_inbox_rate[0],
            baseline_monthly_inbox_rate=base_paths.monthly_inbox_rate[0],
            daily_inbox_quantiles=paths.daily_quantiles,
            baseline_daily_inbox_quantiles=base_paths.daily_quantiles,
            daily_inbox_rate=paths.daily_inbox_rate, extra_conversions=extra,
            conversion_rows=self.values.conversions, discount_rate=self.discount_rate,
            currency=self.values.currency)


def _stage_funnel(values: FunnelValues) -> np.ndarray:
    """Indicator (stage rows, funnels): which funnel's seen messages feed each stage row."""
    index = {n: i for i, n in enumerate(values.funnels)}
    out = np.zeros((len(values.conversions), len(values.funnels)))
    for r, name in enumerate(values.conversions["funnel"]):
        out[r, index[name]] = 1.0
    return out


def simulate_option(
    option: str | InfrastructureOption,
    volumes,
    *,
    baseline: str | InfrastructureOption = "shared_relay",
    horizon_months: int = 24,
    draws: int = 1000,
    discount_rate: float = 0.10,
    config: FunnelConfig | None = None,
    stream_mix: Mapping[str, float] | None = None,
    provider_shares: Mapping[str, float] | None = None,
    behaviour: OwnBehaviour | None = None,
    instability: Instability | None = None,
    keep_daily: bool = False,
    random_state: RandomState = None,
) -> OptionResult:
    """Simulate an option day by day over a horizon and many draws, and value it.

    See the module docstring for the model. Vectorized over draws, days and providers.

    Parameters
    ----------
    option : str or InfrastructureOption
        A name in :data:`OPTIONS` or an option.
    volumes : float or mapping
        Messages a month [messages/month], split by ``stream_mix``, or a mapping funnel name
        -> messages a month (:func:`stream_volumes`; :func:`volumes_from_cube` from your logs).
    baseline : str or InfrastructureOption
        What the option is compared with (costs and benefits are differences); the current
        shared pool by default.
    horizon_months : int
        [months]; month 0 (today) comes on top for one-off costs.
    draws : int
        Monte Carlo draws [count].
    discount_rate : float
        Effective annual discount rate [decimal per year, e.g. 0.10; not a percent].
    config : FunnelConfig, optional
        Funnels and money; :func:`~deliverability_econ.funnel.default_funnels` by default.
    stream_mix : mapping, optional
        See :func:`stream_volumes`.
    provider_shares : mapping, optional
        Share of the volume per provider [fraction 0-1];
        :data:`~deliverability_econ.warmup.DEFAULT_PROVIDER_SHARES` by default.
    behaviour : OwnBehaviour, optional
    instability : Instability, optional
    keep_daily : bool
        Keep the daily inbox rate per draw, day and provider (``draws x days x providers``
        single-precision numbers: 146 MB at 10,000 draws over 24 months).
    random_state : None, int or Generator

    Returns
    -------
    OptionResult

    Examples
    --------
    A sender of 3 million messages a month moving to a dedicated IP on SparkPost's schedule,
    against staying on the shared pool:

    >>> result = simulate_option("dedicated_ip_sparkpost", 3_000_000, draws=200, random_state=1)
    >>> result.p_npv_positive > 0.5, result.monthly_inbox_rate.shape
    (True, (200, 24, 5))
    """
    option, baseline = get_option(option), get_option(baseline)
    context = _Context(volumes, horizon_months=horizon_months, draws=draws,
                       random_state=random_state, config=config, stream_mix=stream_mix,
                       provider_shares=provider_shares, behaviour=behaviour,
                       instability=instability, discount_rate=discount_rate,
                       keep_daily=keep_daily)
    return context.result(option, baseline)


# --------------------------------------------------------------------------------------------
# Comparison and recommendation
# --------------------------------------------------------------------------------------------

#: Smallest probability of a positive NPV for an option to be recommended [fraction 0-1].
RECOMMEND_MIN_P_POSITIVE = 0.5


def recommended_option(table: pd.DataFrame, baseline: str,
                       min_p_positive: float = RECOMMEND_MIN_P_POSITIVE) -> str:
    """The option to recommend from a comparison table.

    Rule: among the options other than the baseline whose probability of a positive NPV is at
    least ``min_p_positive`` and whose median NPV is positive, the one with the highest median
    NPV; when none qualifies, stay with the baseline.

    Examples
    --------
    >>> table = pd.DataFrame({"name": ["a", "b"], "npv_p50": [500.0, 900.0],
    ...                       "p_npv_positive": [0.8, 0.45]})
    >>> recommended_option(table, baseline="shared_relay")
    'a'
    >>> recommended_option(table.assign(p_npv_positive=0.2), baseline="shared_relay")
    'shared_relay'
    """
    candidates = table[(table["name"] != baseline)
                       & (table["p_npv_positive"] >= min_p_positive)
                       & (table["npv_p50"] > 0)]
    if candidates.empty:
        return baseline
    return str(candidates.sort_values("npv_p50", ascending=False, kind="stable")["name"].iloc[0])


@dataclass
class Comparison:
    """Several options against one baseline.

    Attributes
    ----------
    table : DataFrame
        One row per option: ``name``, ``npv_p10``, ``npv_p50``, ``npv_p90`` [currency],
        ``p_npv_positive`` [fraction 0-1], ``payback_months`` [months; NaN when the median
        draw does not pay back], ``description``.
    results : dict of str to OptionResult
    baseline : str
    recommended_option : str
        :func:`recommended_option` of the table.
    """

    table: pd.DataFrame
    results: dict[str, OptionResult]
    baseline: str
    recommended_option: str

    def summary(self) -> dict[str, Any]:
        """``{"options": [...], "recommended_option": name}`` for ``summary.json``."""
        return {"options": [r.summary() for r in self.results.values()],
                "recommended_option": self.recommended_option}


def compare_options(
    options: Sequence[str | InfrastructureOption] = MATURITY_LEVELS,
    volumes=1_000_000,
    baseline: str | InfrastructureOption = "shared_relay",
    *,
    horizon_months: int = 24,
    draws: int = 1000,
    discount_rate: float = 0.10,
    config: FunnelConfig | None = None,
    stream_mix: Mapping[str, float] | None = None,
    provider_shares: Mapping[str, float] | None = None,
    behaviour: OwnBehaviour | None = None,
    instability: Instability | None = None,
    min_p_positive: float = RECOMMEND_MIN_P_POSITIVE,
    random_state: RandomState = None,
) -> Comparison:
    """Simulate several options against one baseline and recommend one.

    All options share the draws of the shared pool, the sender's incidents and the funnel
    parameters (common random numbers). Arguments as in :func:`simulate_option`; the baseline
    appears in the table with an NPV of zero.

    Returns
    -------
    Comparison
    """
    baseline = get_option(baseline)
    context = _Context(volumes, horizon_months=horizon_months, draws=draws,
                       random_state=random_state, config=config, stream_mix=stream_mix,
                       provider_shares=provider_shares, behaviour=behaviour,
                       instability=instability, discount_rate=discount_rate)
    results: dict[str, OptionResult] = {}
    for item in options:
        option = get_option(item)
        if option.name in results:
            raise ValueError(f"option {option.name!r} listed twice")
        results[option.name] = context.result(option, baseline)
    rows = [{"name": r.name, "npv_p10": r.npv_percentiles["p10"],
             "npv_p50": r.npv_percentiles["p50"], "npv_p90": r.npv_percentiles["p90"],
             "p_npv_positive": r.p_npv_positive,
             "payback_months": np.nan if r.payback_months is None else r.payback_months,
             "description": r.option.description} for r in results.values()]
    table = pd.DataFrame(rows, columns=["name", "npv_p10", "npv_p50", "npv_p90",
                                        "p_npv_positive", "payback_months", "description"])
    return Comparison(table, results, baseline.name,
                      recommended_option(table, baseline.name, min_p_positive))


# --------------------------------------------------------------------------------------------
# Break-even volume
# --------------------------------------------------------------------------------------------

#: Published guidance on the monthly volume that justifies a dedicated IP [messages/month]:
#: section 5's rule of thumb 50k-100k+ (Bird ~100k+), other sources up to ~300k (Postmark,
#: 3rd-party) and ~1M (Mailgun, 3rd-party).
DEDICATED_IP_GUIDANCE: tuple[float, float] = (50_000.0, 1_000_000.0)

#: Uncertain inputs of the break-even volume for :func:`break_even_sensitivity` (low, most
#: likely, high), with their meaning.
BREAK_EVEN_SPECS: dict[str, dict[str, Any]] = {
    "ip_fee": IP_FEE,
    "plan_uplift": {"dist": "pert", "low": 40.0, "mode": 70.0, "high": 230.0},
    "monthly_hours": {"dist": "pert", "low": 1.0, "mode": 2.0, "high": 4.0},
    "hourly_cost": HOURLY_COST,
    "min_stable_daily": {"dist": "pert", "low": 200.0, "mode": 500.0, "high": 1000.0},
    "low_volume_gap": {"dist": "pert", "low": 5.0, "mode": 10.0, "high": 16.0},
    "pool_level_discount": {"dist": "pert", "low": 0.0, "mode": 1.0, "high": 3.0},
    "pool_shock_rate": {"dist": "pert", "low": 0.0, "mode": 0.01, "high": 0.03},
    "value_scale": {"dist": "pert", "low": 0.25, "mode": 1.0, "high": 2.0},
}

#: Units of :data:`BREAK_EVEN_SPECS`.
BREAK_EVEN_UNITS: dict[str, str] = {
    "ip_fee": "currency/month per IP", "plan_uplift": "currency/month",
    "monthly_hours": "hours/month", "hourly_cost": "currency/hour",
    "min_stable_daily": "messages/day per provider", "low_volume_gap": "score points",
    "pool_level_discount": "score points", "pool_shock_rate": "per day",
    "value_scale": "ratio to the funnel defaults",
}


@dataclass
class BreakEven:
    """The monthly volume above which an option beats the baseline.

    Attributes
    ----------
    messages_per_month : float
        Where the mean NPV last turns from negative to positive along the grid, interpolated
        linearly in log volume [messages/month]; ``inf`` when the option does not pay at the
        grid's highest volume, the grid's lowest volume when it pays everywhere.
    curve : DataFrame
        ``messages_per_month``, ``npv_mean``, ``npv_p10``, ``npv_p90`` [currency],
        ``inbox_gain`` (option minus baseline inbox share of all messages over the horizon)
        [fraction].
    option, baseline : str
    """

    messages_per_month: float
    curve: pd.DataFrame
    option: str
    baseline: str


def _crossing(volumes: np.ndarray, npv: np.ndarray) -> float:
    positive = npv > 0
    if positive.all():
        return float(volumes[0])
    if not positive[-1]:
        return float("inf")
    last_negative = int(np.flatnonzero(~positive)[-1])
    v0, v1 = np.log(volumes[last_negative]), np.log(volumes[last_negative + 1])
    y0, y1 = npv[last_negative], npv[last_negative + 1]
    return float(np.exp(v0 + (v1 - v0) * (-y0) / (y1 - y0)))


def break_even_messages_per_month(
    option: str | InfrastructureOption = "dedicated_ip",
    baseline: str | InfrastructureOption = "shared_relay",
    *,
    grid: Sequence[float] | None = None,
    horizon_months: int = 24,
    draws: int = 16,
    discount_rate: float = 0.10,
    config: FunnelConfig | None = None,
    stream_mix: Mapping[str, float] | None = None,
    provider_shares: Mapping[str, float] | None = None,
    behaviour: OwnBehaviour | None = None,
    instability: Instability | None = None,
    costs: Mapping[str, float] | None = None,
    value_scale: float = 1.0,
    random_state: RandomState = 0,
) -> BreakEven:
    """Monthly volume above which one dedicated IP beats the shared pool, at default values.

    Under the most likely value of every cost and funnel parameter (no parameter
    uncertainty), the option and the baseline are simulated at every volume of ``grid`` over
    ``draws`` draws of the reputation processes (shared-pool shocks, own incidents, score
    noise; the same draws at every volume), in one vectorized run with the volumes as extra
    columns. The break-even is where the mean NPV of option minus baseline turns positive.

    Below the break-even the dedicated IP loses because too little mail reaches each provider
    to hold a reputation (:class:`Instability`) and the warm-up costs; above it, it gains the
    shared pool's level discount and shocks. The fees hardly matter against the value of
    seen mail under the default funnels; :func:`break_even_sensitivity` ranks the inputs.

    Parameters
    ----------
    option, baseline : str or InfrastructureOption
    grid : sequence of float, optional
        Volumes [messages/month], increasing; 40 log-spaced from 5,000 to 5,000,000 by default.
    horizon_months, discount_rate, config, stream_mix, provider_shares, behaviour, instability
        As in :func:`simulate_option`; ``stream_mix`` splits each grid volume.
    draws : int
        Draws of the reputation processes per volume [count].
    costs : mapping, optional
        Overrides of the option's modal costs (keys of :data:`OPTION_COST_SPECS`, plus
        ``hourly_cost``) [currency, hours].
    value_scale : float
        Multiplier on the value of a seen message [ratio].
    random_state : None, int or Generator

    Returns
    -------
    BreakEven

    Examples
    --------
    >>> result = break_even_messages_per_month(draws=4)
    >>> 50_000 <= result.messages_per_month <= 1_000_000
    True
    """
    option, baseline = get_option(option), get_option(baseline)
    volumes_grid = np.asarray(grid if grid is not None else np.geomspace(5e3, 5e6, 40), float)
    if volumes_grid.ndim != 1 or np.any(np.diff(volumes_grid) <= 0) or volumes_grid[0] <= 0:
        raise ValueError("grid must be positive, increasing volumes [messages/month]")
    months, days = _horizon(horizon_months)
    seed = _seeds(random_state)
    mix = stream_volumes(1.0, stream_mix)
    values = funnel_values(config, draws=1, modal=True, random_state=_rng(seed, 0))
    _check_volumes(mix, values)
    values.money = {k: v * value_scale for k, v in values.money.items()}
    per_month = _daily_by_provider(mix, provider_shares)[0] * DAYS_PER_MONTH
    daily = volumes_grid[:, None] * per_month[None, :] / DAYS_PER_MONTH
    behaviour = behaviour or OwnBehaviour()
    instability = instability or Instability()

    cache: dict = {}

    def run(opt):
        paths = _simulate_paths(opt, daily, days=days, months=months, draws=draws, seed=seed,
                                behaviour=behaviour, instability=instability,
                                keep_daily=False, quantiles=False, cache=cache)
        mix_volumes = {k: v for k, v in mix.items()}
        return paths, _seen(paths, _broadcast_values(values, draws), mix_volumes)

    paths_o, seen_o = run(option)
    paths_b, seen_b = run(baseline)
    benefits = _benefits(seen_o - seen_b, _broadcast_values(values, draws))
    benefit = sum(benefits.values())                                   # (G, draws, months)
    costs = dict(costs or {})
    hourly = float(costs.pop("hourly_cost", finance.spec_range(HOURLY_COST)[1]))
    modal_o = {k: np.full(draws, float(costs.get(k, v[0]))) for k, v in
               _modal_costs(option, 1).items()}
    modal_b = _modal_costs(baseline, draws)
    inputs = _cost_inputs(option, baseline, modal_o, modal_b, np.full(draws, hourly), months)
    lines = finance.cash_flows(months + 1, draws=draws, **inputs)
    factors = finance.discount_factors(discount_rate, months + 1)
    npv_costs = (lines["net"] * factors).sum(-1)                      # (draws,)
    npv = (benefit * factors[None, None, 1:]).sum(-1) + npv_costs[None]
    inbox_gain = (paths_o.inbox.sum(-1) - paths_b.inbox.sum(-1)).mean(-1) / (
        volumes_grid * months)
    curve = pd.DataFrame({"messages_per_month": volumes_grid, "npv_mean": npv.mean(1),
                          "npv_p10": np.percentile(npv, 10, axis=1),
                          "npv_p90": np.percentile(npv, 90, axis=1), "inbox_gain": inbox_gain})
    return BreakEven(_crossing(volumes_grid, curve["npv_mean"].to_numpy()), curve, option.name,
                     baseline.name)


def _broadcast_values(values: FunnelValues, draws: int) -> FunnelValues:
    if values.rescue.shape[1] == draws:
        return values
    return replace(values, rescue=np.repeat(values.rescue[:, :1], draws, 1),
                   money={k: np.repeat(v[:, :1], draws, 1) for k, v in values.money.items()},
                   conversion_draws=np.repeat(values.conversion_draws[:, :1], draws, 1))


def break_even_sensitivity(specs: Mapping[str, Any] | None = None, *,
                           option: str | InfrastructureOption = "dedicated_ip",
                           baseline: str | InfrastructureOption = "shared_relay",
                           **options) -> pd.DataFrame:
    """What moves the break-even volume most: a one-at-a-time tornado.

    Each input of ``specs`` (default :data:`BREAK_EVEN_SPECS`) swings from its low to its
    high with the others at their most likely value
    (:func:`deliverability_econ.finance.tornado`); the result is the break-even volume
    [messages/month].

    Parameters
    ----------
    specs : mapping, optional
        Subset or replacement of :data:`BREAK_EVEN_SPECS` (same keys).
    option, baseline
        As in :func:`break_even_messages_per_month`.
    **options
        Further arguments of :func:`break_even_messages_per_month` (``grid``, ``draws``,
        ``horizon_months``, ...).

    Returns
    -------
    DataFrame
        :func:`~deliverability_econ.finance.tornado`'s table (``input``, ``low``, ``base``,
        ``high``, ``result_at_low``, ``result_at_high``, ``result_base``, ``swing``), ranked
        by swing, with a ``unit`` column.
    """
    specs = dict(specs if specs is not None else BREAK_EVEN_SPECS)
    unknown = set(specs) - set(BREAK_EVEN_SPECS)
    if unknown:
        raise ValueError(f"unknown break-even input(s) {sorted(unknown)}; known: "
                         + ", ".join(BREAK_EVEN_SPECS))
    option_ = get_option(option)
    defaults = {k: finance.spec_range(v)[1] for k, v in BREAK_EVEN_SPECS.items()}
    base_instability = options.pop("instability", None) or Instability()
    base_plan = finance.spec_range(get_option(baseline).costs.get("plan_price", 0.0))[1]

    def model(**inputs):
        x = {**defaults, **inputs}
        pool = replace(option_.pool, level_discount=x["pool_level_discount"],
                       shock_rate=x["pool_shock_rate"])
        opt = replace(option_, pool=pool)
        base = replace(get_option(baseline), pool=pool)
        costs = {"ip_fee": x["ip_fee"], "plan_price": base_plan + x["plan_uplift"],
                 "monthly_hours": x["monthly_hours"], "hourly_cost": x["hourly_cost"]}
        instability = replace(base_instability, min_stable_daily=x["min_stable_daily"],
                              low_volume_gap=x["low_volume_gap"])
        result = break_even_messages_per_month(opt, base, costs=costs, instability=instability,
                                               value_scale=x["value_scale"], **options)
        return result.messages_per_month

    table = finance.tornado(model, specs)
    table["unit"] = table["input"].map(BREAK_EVEN_UNITS)
    return table


__all__ = [
    "BENEFIT_OF_COST_LINE", "BREAK_EVEN_SPECS", "BREAK_EVEN_UNITS", "DEDICATED_IP_GUIDANCE",
    "DEFAULT_STREAM_MIX", "HOURLY_COST", "IP_FEE", "MATURITY_LEVELS", "OPTIONS",
    "OPTION_COST_SPECS", "RECOMMEND_MIN_P_POSITIVE", "BreakEven", "Comparison", "FunnelValues",
    "InfrastructureOption", "Instability", "OptionResult", "OwnBehaviour", "SharedPool",
    "break_even_messages_per_month", "break_even_sensitivity", "compare_options",
    "funnel_values", "get_option", "options_table", "recommended_option", "simulate_option",
    "stream_volumes", "volumes_from_cube",
]
