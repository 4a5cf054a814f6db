"""Warm-up schedules and the reputation and throttling dynamics of a new sending IP.

No public model of warm-up dynamics exists; the ESPs publish only schedules (domain facts F23
to F29, section 10). This module keeps those schedules as data (:data:`SCHEDULES`, with their
sources), builds custom ramps (:func:`custom_schedule`), turns a schedule into a daily volume
plan per mailbox provider (:func:`volume_plan`), and runs a small mechanistic model of how each
mailbox provider treats an IP (:func:`simulate_warmup`), vectorized over Monte Carlo draws, days
and providers. :func:`fit_warmup` fits its parameters to an observed migration.

The model, per draw ``d``, day ``t`` and provider ``p`` (all arrays ``(draws, providers)``)::

    cap      = max(cold_daily_cap, cap_headroom * trusted)            acceptance cap [msgs/day]
    excess   = max(0, volume - cap)                                    above the cap
    deferred = excess * overflow_defer_share     (4xx rate limit; the rest is bulked to spam)
               of which overflow_eventual_delivery is delivered after retries, the rest
               expires after 72 h (a bounce)                         -- or, with
               overflow="shared", all the excess leaves through the shared pool instead
    placement = link(score)                      inbox share of mail the IP delivers (F19)
    blocked   = block(score) of the mail the provider takes           (5xx, F19's lowest band)

    trusted  <- max(trusted * exp(-1 / trust_memory_days), accepted * quality)
    quality   = exp(-penalty / 10) * (1 - overflow_quality_loss * overflow_share)
    penalty   = complaint_penalty(complaint_rate) + bounce_penalty(hard_bounce_rate)
    maturity <- maturity + (1 - maturity) * quality / maturity_days   on a day with mail,
                maturity - maturity / idle_maturity_days              on a day without
    score    <- score + persistence * (target - score) + noise
    target    = healthy - cold_gap * (1 - maturity) - penalty - overload_penalty * overload
    overload  = share of the last ~overload_window_days' volume above the cap (exponential
                smoothing)

After ``rewarm_after_idle_days`` days without mail the provider has forgotten the IP: its
trusted volume is gone and the cap is back at the cold cap (F24: re-warm after more than 30
days without sending).

So the cap grows with consistent, well-received volume (a provider accepts up to
``cap_headroom`` times what it has recently accepted and seen received well) and shrinks with
complaints, bounces (through ``quality``), spikes (volume above the cap counts as overload and
lowers quality) and idleness (the memory fades). Placement follows the reputation score through
the logistic link fitted to F19's Sender Score bands, imported from
:mod:`deliverability_econ.simulate.reputation` (the simulator's true process): same score
scale, same link, same complaint and bounce penalties, so that a migration simulated there can
be fitted here (:func:`fit_warmup`).

Where this model differs from the simulator's process, on purpose: the simulator's cap grows
at most ``1 + cap_growth`` (1.3x) a day at full use, slower than SendGrid's own warm-up caps
(about 1.4x a day, F24) and far slower than SparkPost's 2.5x steps on days 2 and 5 (F25), so
there a published schedule would overflow; here the cap is a multiple of the trusted volume,
which lets any ramp of at most ``cap_headroom`` (3x, the simulator's own headroom) per day
through and gives a cold cut-over about two weeks of rate limiting. Maturity time constants
follow F23 ("some providers accept a new IP in about 2 weeks, others take up to 6") as
95% after three time constants. The model has no domain reputation (a new IP of a known domain)
and carries a rolling maximum only through exponential memories, which keeps 10,000 draws x
730 days x 5 providers within seconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize

from ._random import RandomState, check_random_state
from .simulate.config import PROVIDER_PROFILES, ReputationModel
from .simulate.reputation import (
    bounce_penalty,
    complaint_penalty,
    placement_from_score,
    score_for_placement,
)

# --------------------------------------------------------------------------------------------
# Published schedules
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WarmupSchedule:
    """A warm-up schedule as published.

    Parameters
    ----------
    name : str
    daily : tuple of float
        Day by day from the first day on the new IP: messages per day per IP when ``kind`` is
        ``"volume"`` [messages/day], or the share of the target volume sent from the new IP
        when ``kind`` is ``"share"`` [fraction 0-1].
    kind : {"volume", "share"}
    source : str
        Where the numbers come from (fact id and document).
    notes : str
        What the ESP says beyond the numbers; any assumption made to turn it into data.
    """

    name: str
    daily: tuple[float, ...]
    kind: str
    source: str
    notes: str = ""

    @property
    def days(self) -> int:
        """Length of the ramp [days]."""
        return len(self.daily)

    def volumes(self, target_daily_volume: float) -> np.ndarray:
        """Daily volume on the new IP while ramping towards ``target_daily_volume``.

        Volume schedules are capped at the target (a sender below the schedule's last day
        stops climbing when it reaches its own volume); share schedules are multiplied by it.

        Parameters
        ----------
        target_daily_volume : float
            The sender's daily volume once warm [messages/day].

        Returns
        -------
        array (days,)
            [messages/day]
        """
        daily = np.asarray(self.daily, dtype=float)
        if self.kind == "share":
            return daily * target_daily_volume
        return np.minimum(daily, target_daily_volume)


_SENDGRID_HOURLY = (
    20, 28, 39, 55, 77, 108, 151, 211, 295, 413, 579, 810, 1_000, 1_587, 2_222, 3_111, 4_356,
    6_098, 8_583, 11_953, 16_734, 23_427, 32_798, 45_917, 64_284, 89_998, 125_997, 176_395,
    246_953, 345_735, 484_029, 677_640, 948_696, 1_328_175, 1_859_444, 2_603_222, 3_644_511,
    5_102_316, 7_143_242, 10_000_539, 14_000_754, 19_601_056,
)
_SPARKPOST_DAILY = (
    200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 40_000, 50_000, 75_000, 100_000, 150_000,
    200_000, 250_000, 325_000, 400_000, 500_000, 600_000, 750_000, 1_000_000, 1_250_000,
    1_750_000, 2_000_000, 3_000_000, 4_250_000, 5_000_000, 6_000_000, 7_500_000, 10_000_000,
)
_SES_DAYS = 45
_SES_FIRST_SHARE = 0.002

#: The ESPs' published warm-up schedules (domain facts section 4).
SCHEDULES: dict[str, WarmupSchedule] = {
    s.name: s
    for s in (
        WarmupSchedule(
            "sendgrid", tuple(24.0 * h for h in _SENDGRID_HOURLY), "volume",
            "F24: SendGrid automated warm-up, hourly caps for warm-up days 0-41 (sendgrid/docs "
            "warming-up-an-ip-address.md), here as 24-hour volumes",
            "Caps grow about 1.4x a day. Excess overflows to other warm IPs; without one it is "
            "retried for 72 h. Re-warm after more than 30 days without sending.",
        ),
        WarmupSchedule(
            "sparkpost", tuple(float(v) for v in _SPARKPOST_DAILY), "volume",
            "F25: SparkPost recommended daily volume per IP, days 1-29 (SparkPost/support-docs "
            "ip-warm-up-overview.md)",
            "Full deliverability takes 4-8 weeks. Weeks 1-2 only recipients engaged in the "
            "last 30 days, weeks 3-4 the last 60; expect bulking at Yahoo/AOL/Gmail and 421 "
            "deferrals at Microsoft/AOL/Comcast.",
        ),
        WarmupSchedule(
            "amazon_ses",
            tuple(_SES_FIRST_SHARE ** (1.0 - k / (_SES_DAYS - 1)) for k in range(_SES_DAYS)),
            "share",
            "F23: Amazon SES automatic warm-up, time-based over 45 days regardless of volume "
            "(awsdocs dedicated-ip-warming.md; API WarmupPercentage 0-100)",
            "SES publishes the length, and that it mixes traffic between the new IP and shared "
            "IPs (simulate with overflow='shared'), not the curve. Assumption: a geometric "
            "rise of the share on the new IP from 0.2% (F25's 200 a day for a 100,000-a-day "
            "sender) to 100% on day 45, about 15% a day, like the published schedules.",
        ),
    )
}

#: Published warm-up guidance without a day-by-day schedule: name -> (days, source). Use
#: :func:`guidance_schedule` for a geometric ramp of that length.
GUIDANCE: dict[str, tuple[int, str]] = {
    "mailgun": (15, "F26: Mailgun automatic warm-up in stages (API example: 15 stages); "
                    "3rd-party: 15+ days. Excess rolls to other dedicated or shared IPs."),
    "bird": (30, "F27: Bird, about 30 days of automatic warm-up with overflow to the shared pool"),
    "postmark": (42, "F27: Postmark, 3-6 weeks (3rd-party); the upper end"),
    "amazon_ses": (45, "F23: Amazon SES, 45 days"),
}

#: F25's first day [messages/day per IP]; the start of guidance ramps.
FIRST_DAY_VOLUME = 200.0


def custom_schedule(start: float, target: float, days: int, shape: str = "geometric") -> np.ndarray:
    """A ramp from ``start`` to ``target`` messages a day over ``days`` days.

    ``geometric``: ``start * (target / start) ** (k / (days - 1))``, a constant daily growth
    factor like the published schedules (F24 grows about 1.4x a day); ``linear``: equal daily
    increments.

    Parameters
    ----------
    start, target : float
        First and last day's volume [messages/day per IP]; both positive.
    days : int
        Length of the ramp [days], at least 1 (one day: the target).
    shape : {"geometric", "linear"}

    Returns
    -------
    array (days,)
        [messages/day]

    Examples
    --------
    From F25's 200 a day to 100,000 a day in 30 days grows about 24% a day:

    >>> ramp = custom_schedule(200, 100_000, 30)
    >>> round(float(ramp[1] / ramp[0]), 3), float(ramp[-1])
    (1.239, 100000.0)
    >>> custom_schedule(100, 400, 4, shape="linear").tolist()
    [100.0, 200.0, 300.0, 400.0]
    """
    if days < 1:
        raise ValueError("days must be at least 1")
    if start <= 0 or target <= 0:
        raise ValueError("start and target must be positive [messages/day]")
    if days == 1:
        return np.array([float(target)])
    k = np.arange(days) / (days - 1)
    if shape == "geometric":
        return start * (target / start) ** k
    if shape == "linear":
        return start + (target - start) * k
    raise ValueError(f"shape must be 'geometric' or 'linear', not {shape!r}")


def guidance_schedule(name: str, target_daily_volume: float) -> np.ndarray:
    """A geometric ramp from F25's 200 a day to the target over an ESP's published length.

    For ESPs that publish a length but no volumes (:data:`GUIDANCE`).

    >>> len(guidance_schedule("mailgun", 50_000))
    15
    """
    try:
        days, _ = GUIDANCE[name]
    except KeyError:
        raise KeyError(f"no warm-up guidance for {name!r}; known: {', '.join(GUIDANCE)}") from None
    return custom_schedule(min(FIRST_DAY_VOLUME, target_daily_volume), target_daily_volume, days)


# --------------------------------------------------------------------------------------------
# Providers and parameters
# --------------------------------------------------------------------------------------------

#: Providers the model runs over by default, in this order.
PROVIDERS: tuple[str, ...] = ("gmail", "microsoft", "yahoo", "apple", "other")

#: Default audience mix over :data:`PROVIDERS` [fraction 0-1]: the simulator's default mix
#: (``simulate.Audience.provider_mix``) with AT&T folded into Yahoo (same platform) and Comcast
#: into other.
DEFAULT_PROVIDER_SHARES: dict[str, float] = {
    "gmail": 0.45, "microsoft": 0.17, "yahoo": 0.12, "apple": 0.07, "other": 0.19,
}


@dataclass(frozen=True)
class ProviderWarmup:
    """How one mailbox provider treats a new IP.

    Parameters
    ----------
    name : str
    warmed_inbox_rate : float
        Inbox share of delivered mail from a warm IP [fraction 0-1]; sets the provider's
        healthy score through the F19 link. Section 9 (F17), as the simulator.
    cold_daily_cap : float
        Messages a day accepted from an IP the provider has never seen [messages/day]. F24:
        SendGrid's day-0 cap is 20/h, about 480/day; the simulator's profiles.
    maturity_days : float
        Time constant of the IP's history at this provider under consistent sending [days].
        F23: some providers accept a new IP in about 2 weeks, others take up to 6: a third of
        that (95% after three time constants). Gmail, Yahoo, other: 2 weeks; Apple: 4 weeks
        (assumption, between); Microsoft: 6 weeks (IP-centric, F13).
    overflow_defer_share : float
        Of mail above the cap, the share deferred with a 4xx (the rest is bulked into spam)
        [fraction 0-1]. F25: bulking at Yahoo/AOL/Gmail, 421 deferrals at Microsoft/AOL/
        Comcast; the simulator's profiles.
    block_ceiling : float
        Share refused outright (5xx) at a hopeless score [fraction 0-1]; the simulator's
        profiles.
    """

    name: str
    warmed_inbox_rate: float
    cold_daily_cap: float
    maturity_days: float
    overflow_defer_share: float
    block_ceiling: float


_ACCEPT_WEEKS = {"gmail": 2, "microsoft": 6, "yahoo": 2, "apple": 4, "other": 2}

#: Default receiving-side parameters per provider (see :class:`ProviderWarmup`).
PROVIDER_WARMUP: dict[str, ProviderWarmup] = {
    name: ProviderWarmup(
        name,
        warmed_inbox_rate=PROVIDER_PROFILES[name].baseline_inbox_rate,
        cold_daily_cap=PROVIDER_PROFILES[name].cold_daily_cap,
        maturity_days=7.0 * _ACCEPT_WEEKS[name] / 3.0,
        overflow_defer_share=PROVIDER_PROFILES[name].overflow_defer_share,
        block_ceiling=PROVIDER_PROFILES[name].block_ceiling,
    )
    for name in PROVIDERS
}

#: Fields of :class:`ProviderWarmup` that are model parameters (per provider).
PROVIDER_FIELDS: tuple[str, ...] = ("warmed_inbox_rate", "cold_daily_cap", "maturity_days",
                                    "overflow_defer_share", "block_ceiling")


@dataclass(frozen=True)
class WarmupParameters:
    """Dynamics shared by the providers. Each field is a number, or an array of one value per
    Monte Carlo draw ``(draws,)``, or per draw and provider ``(draws, providers)``.

    Parameters
    ----------
    cap_headroom : float
        A provider accepts up to this multiple of the volume it has recently accepted and seen
        well received [ratio]. The simulator's ``cap_headroom`` (3); F25's largest day-over-day
        step is 2.5x, F24's about 1.4x, so both pass.
    trust_memory_days : float
        Time constant of the provider's memory of the IP's trusted volume [days]; a weekly
        sender keeps most of it between sends. Assumption (the simulator remembers the busiest
        day of 30).
    rewarm_after_idle_days : int
        Days without mail after which the IP is new again [days]. F24: re-warm after more than
        30 days without sending.
    cold_gap : float
        Score deficit of an IP without history [score points]. The simulator's (F28: new IPs
        start slightly negative).
    persistence : float
        Daily pull of the score toward its target [fraction per day]; 0.1 is a 10-day time
        constant. The simulator's ``persistence_dedicated``.
    overload_penalty : float
        Target drop per unit share of recent volume above the cap [score points]. The
        simulator's; with the cap it puts a cold cut-over in the fair/poor band for weeks
        (section 9: 2-6 weeks; F28: a million messages from an unknown IP risk being treated
        as spam).
    overload_window_days : float
        Smoothing window of that share [days]. The simulator's.
    overflow_quality_loss : float
        Loss of quality (cap growth, maturity) per unit overflow share [fraction]. The
        simulator's 0.5.
    idle_maturity_days : float
        Time constant of lost maturity on days without mail [days]. The simulator's.
    overflow_eventual_delivery : float
        Of deferred mail, the share delivered within the 72-hour retry window [fraction 0-1].
        The simulator's (F24, F25: retries for 72 h).
    signal_smoothing : float
        Exponential smoothing of daily complaint and bounce rates [fraction per day]; providers
        judge recent history. The simulator's.
    noise_sd : float
        Daily innovation of the score [score points]. 0 gives the expected path; the simulator
        uses 0.8.
    low_volume_daily : float
        Daily volume per provider below which the score gets noisier [messages/day]. F23: keep
        about 1,000 a day per provider per IP.
    low_volume_noise_factor : float
        Extra noise multiplier at zero volume [ratio]. The simulator's.
    shared_score_discount : float
        A shared pool's score below a warm dedicated IP's [score points]; sets the placement of
        mail that overflows to the shared pool. The simulator's ``shared_discount``.
    reputation : simulate.ReputationModel
        The F19 link, block curve and complaint and bounce penalties (the simulator's).
    """

    cap_headroom: Any = 3.0
    trust_memory_days: Any = 30.0
    rewarm_after_idle_days: int = 30
    cold_gap: Any = 10.0
    persistence: Any = 0.10
    overload_penalty: Any = 40.0
    overload_window_days: Any = 14.0
    overflow_quality_loss: Any = 0.5
    idle_maturity_days: Any = 60.0
    overflow_eventual_delivery: Any = 0.7
    signal_smoothing: Any = 0.3
    noise_sd: Any = 0.0
    low_volume_daily: Any = 1000.0
    low_volume_noise_factor: Any = 0.5
    shared_score_discount: Any = 1.0
    reputation: ReputationModel = field(default_factory=ReputationModel)


#: Fields of :class:`WarmupParameters` that are numbers (or per-draw arrays).
DYNAMICS_FIELDS: tuple[str, ...] = tuple(
    f.name for f in fields(WarmupParameters) if f.name not in ("reputation", "rewarm_after_idle_days"))


def provider_table(providers: Sequence[str] = PROVIDERS,
                   overrides: Mapping[str, Mapping[str, float]] | None = None) -> pd.DataFrame:
    """Receiving-side parameters per provider as a table (rows: providers).

    Parameters
    ----------
    providers : sequence of str
        Names in :data:`PROVIDER_WARMUP`.
    overrides : mapping, optional
        ``{provider: {field: value}}`` replacing defaults.

    Returns
    -------
    DataFrame
        Index ``mailbox_provider``; columns :data:`PROVIDER_FIELDS`.
    """
    overrides = overrides or {}
    rows = {}
    for name in providers:
        if name not in PROVIDER_WARMUP:
            raise KeyError(f"no warm-up defaults for provider {name!r}; known: {', '.join(PROVIDER_WARMUP)}")
        base = {f: getattr(PROVIDER_WARMUP[name], f) for f in PROVIDER_FIELDS}
        unknown = set(overrides.get(name, {})) - set(PROVIDER_FIELDS)
        if unknown:
            raise ValueError(f"unknown provider field(s) {sorted(unknown)}")
        base.update(overrides.get(name, {}))
        rows[name] = base
    table = pd.DataFrame.from_dict(rows, orient="index")[list(PROVIDER_FIELDS)]
    table.index.name = "mailbox_provider"
    return table


def volume_plan(schedule, target_daily_volume: float, days: int,
                shares: Mapping[str, float] | None = None, *, start_day: int = 0) -> pd.DataFrame:
    """Daily volume per provider on a new IP that follows a schedule.

    Parameters
    ----------
    schedule : str, WarmupSchedule or array
        A name in :data:`SCHEDULES` or :data:`GUIDANCE`, a schedule, a daily volume array
        [messages/day per IP] (e.g. from :func:`custom_schedule`), or ``"cold"``: the whole
        target from the first day (a cut-over without warm-up).
    target_daily_volume : float
        The sender's daily volume [messages/day]; the ramp stops there, and after the ramp
        the IP carries all of it (the rest of the ramp's shortfall stays on the old route).
    days : int
        Length of the plan [days].
    shares : mapping of str to float, optional
        Share of the volume per provider [fraction 0-1, summing to 1];
        :data:`DEFAULT_PROVIDER_SHARES` by default.
    start_day : int
        First day on the new IP [day index]; nothing before.

    Returns
    -------
    DataFrame (days x providers)
        Index ``day``; one column per provider [messages/day].

    Examples
    --------
    >>> plan = volume_plan("sparkpost", 100_000, 40)
    >>> plan.sum(axis=1).iloc[[0, 4, 10, 39]].round().tolist()
    [200.0, 5000.0, 100000.0, 100000.0]
    """
    shares = dict(shares or DEFAULT_PROVIDER_SHARES)
    total_share = sum(shares.values())
    if abs(total_share - 1.0) > 1e-6:
        raise ValueError(f"provider shares must sum to 1, not {total_share}")
    if isinstance(schedule, str) and schedule == "cold":
        ramp = np.array([float(target_daily_volume)])
    elif isinstance(schedule, str) and schedule in SCHEDULES:
        ramp = SCHEDULES[schedule].volumes(target_daily_volume)
    elif isinstance(schedule, str) and schedule in GUIDANCE:
        ramp = guidance_schedule(schedule, target_daily_volume)
    elif isinstance(schedule, WarmupSchedule):
        ramp = schedule.volumes(target_daily_volume)
    elif isinstance(schedule, str):
        raise KeyError(f"unknown schedule {schedule!r}; known: cold, "
                       f"{', '.join([*SCHEDULES, *GUIDANCE])}")
    else:
        ramp = np.minimum(np.asarray(schedule, dtype=float), target_daily_volume)
    total = np.zeros(days)
    on_ip = np.arange(days) - start_day
    inside = (on_ip >= 0) & (on_ip < len(ramp))
    total[inside] = ramp[on_ip[inside]]
    total[on_ip >= len(ramp)] = target_daily_volume
    frame = pd.DataFrame({p: total * s for p, s in shares.items()},
                         index=pd.RangeIndex(days, name="day"))
    return frame


# --------------------------------------------------------------------------------------------
# The dynamics
# --------------------------------------------------------------------------------------------

#: Arrays of :class:`WarmupResult` (each ``(draws, days, providers)``), their meaning and unit.
OUTPUTS: dict[str, str] = {
    "volume": "messages sent on the IP [messages/day]",
    "accepted": "taken by the provider at the first attempt, within the cap [messages/day]",
    "deferred": "rate-limited with a 4xx (above the cap) [messages/day]",
    "expired": "deferred and never delivered within 72 h (a bounce) [messages/day]",
    "bulked": "above the cap and put in the spam folder [messages/day]",
    "to_shared": "above the cap and sent through the shared pool instead [messages/day]",
    "blocked": "refused with a 5xx for reputation [messages/day]",
    "inbox": "placed in the inbox, the IP's and the shared pool's [messages/day]",
    "spam": "placed in the spam folder [messages/day]",
    "cap": "the provider's acceptance cap at the start of the day [messages/day]",
    "score": "reputation score of the IP [score points, 0-100]",
    "placement": "inbox share of mail the IP delivers, link(score) [fraction 0-1]",
}


@dataclass
class WarmupResult:
    """Daily outcome of a volume plan, per draw, day and provider.

    Every array in :data:`OUTPUTS` is an attribute of shape ``(draws, days, providers)``.
    ``providers`` names the last axis; ``warmed_placement`` is each provider's placement at a
    healthy warm score [fraction 0-1]; ``parameters`` and ``provider_parameters`` are the
    inputs.
    """

    providers: tuple[str, ...]
    arrays: dict[str, np.ndarray]
    warmed_placement: np.ndarray
    parameters: WarmupParameters
    provider_parameters: pd.DataFrame

    def __getattr__(self, name: str) -> np.ndarray:
        arrays = self.__dict__.get("arrays", {})
        if name in arrays:
            return arrays[name]
        raise AttributeError(name)

    @property
    def deferral_rate(self) -> np.ndarray:
        """Share of the day's messages deferred (rate-limited) [fraction 0-1]."""
        return _ratio(self.arrays["deferred"], self.arrays["volume"])

    @property
    def inbox_rate(self) -> np.ndarray:
        """Share of the day's messages placed in the inbox [fraction 0-1]; 0 without mail
        (what ``estimate_placement`` calls ``inbox_rate``: of messages sent)."""
        return _ratio(self.arrays["inbox"], self.arrays["volume"])

    def overall(self, name: str = "inbox_rate") -> np.ndarray:
        """Volume-weighted mean of a rate over providers, ``(draws, days)``.

        ``name``: ``"inbox_rate"``, ``"deferral_rate"`` or ``"placement"`` [fraction 0-1].
        """
        volume = self.arrays["volume"]
        if name == "inbox_rate":
            return _ratio(self.arrays["inbox"].sum(-1), volume.sum(-1))
        if name == "deferral_rate":
            return _ratio(self.arrays["deferred"].sum(-1), volume.sum(-1))
        if name == "placement":
            delivered = self.arrays["accepted"] + self.arrays["deferred"] - self.arrays["expired"] \
                - self.arrays["blocked"]
            return _ratio((delivered * self.arrays["placement"]).sum(-1), delivered.sum(-1))
        raise ValueError(f"unknown rate {name!r}")

    def frame(self, draw: int = 0) -> pd.DataFrame:
        """One draw as a long table: ``day``, ``mailbox_provider`` and every output."""
        days, n_providers = self.arrays["volume"].shape[1:]
        out = {"day": np.repeat(np.arange(days), n_providers),
               "mailbox_provider": np.tile(np.array(self.providers), days)}
        for name, values in self.arrays.items():
            out[name] = values[draw].ravel()
        out["deferral_rate"] = self.deferral_rate[draw].ravel()
        out["inbox_rate"] = self.inbox_rate[draw].ravel()
        return pd.DataFrame(out)


def _ratio(numerator, denominator):
    numerator = np.asarray(numerator, dtype=float)
    denominator = np.asarray(denominator, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1.0), 0.0)


def _as_grid(value, draws: int, providers: int, name: str, per_provider: bool) -> np.ndarray:
    """A parameter as an array broadcastable to (draws, providers), in its smallest shape."""
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        return arr.reshape(1, 1)
    if arr.ndim == 1:
        if per_provider and arr.shape[0] == providers:
            arr = arr[None, :]
        elif arr.shape[0] == draws:
            arr = arr[:, None]
        elif arr.shape[0] == providers:
            arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[0] not in (1, draws) or arr.shape[1] not in (1, providers):
        raise ValueError(f"{name}: shape {np.shape(value)} fits neither (draws={draws},) nor "
                         f"(providers={providers},) nor (draws, providers)")
    return arr


def _plan_array(plan, providers: Sequence[str] | None) -> tuple[np.ndarray, tuple[str, ...]]:
    if isinstance(plan, pd.DataFrame):
        names = tuple(str(c) for c in plan.columns)
        if providers is not None and tuple(providers) != names:
            plan = plan[list(providers)]
            names = tuple(providers)
        return plan.to_numpy(dtype=float), names
    arr = np.asarray(plan, dtype=float)
    if providers is None:
        if arr.shape[-1] != len(PROVIDERS):
            raise ValueError("plan is an array without provider names: pass providers=")
        providers = PROVIDERS
    if arr.shape[-1] != len(providers):
        raise ValueError(f"plan's last axis has {arr.shape[-1]} providers, providers= names "
                         f"{len(providers)}")
    return arr, tuple(providers)


def simulate_warmup(
    plan,
    parameters: WarmupParameters | None = None,
    providers: pd.DataFrame | Mapping[str, Mapping[str, float]] | None = None,
    *,
    draws: int | None = None,
    complaint_rate=0.0001,
    hard_bounce_rate=0.01,
    overflow: str = "defer",
    initial: str = "cold",
    random_state: RandomState = None,
    outputs: Sequence[str] | None = None,
) -> WarmupResult:
    """Daily accepted, deferred, spam-foldered and inbox volume of a plan on a new IP.

    See the module docstring for the equations.

    Parameters
    ----------
    plan : DataFrame (days x providers) or array (days, providers) or (draws, days, providers)
        Messages sent on the IP each day to each provider [messages/day], e.g. from
        :func:`volume_plan`. An array's providers are :data:`PROVIDERS` unless ``providers``
        is a table naming them.
    parameters : WarmupParameters, optional
        Dynamics; defaults documented there. Fields may be per-draw arrays.
    providers : DataFrame or mapping, optional
        Receiving-side parameters per provider (rows named by provider, columns
        :data:`PROVIDER_FIELDS`, values scalars), or overrides ``{provider: {field: value}}``
        of :data:`PROVIDER_WARMUP`.
    draws : int, optional
        Monte Carlo draws [count]; inferred from the plan and the parameters when None.
    complaint_rate : float or array
        Complaints per inbox-placed message [fraction 0-1] (F4, F14 denominator), broadcast to
        ``(draws, days, providers)``. Default 0.01% (F12, a managed portfolio).
    hard_bounce_rate : float or array
        Hard bounces per message sent [fraction 0-1], broadcast likewise. Default 1% (F12).
    overflow : {"defer", "shared"}
        What happens to volume above the cap: ``"defer"``: the provider defers
        ``overflow_defer_share`` of it (delivered late or expired) and bulks the rest;
        ``"shared"``: the ESP sends it through the shared pool instead (F24, F26, F27).
    initial : {"cold", "warm"}
        A new IP, or one already warm at the plan's first-day volume (for a steady-state
        comparison).
    random_state : None, int or numpy.random.Generator
        For the score noise (``parameters.noise_sd``); unused when that is 0.
    outputs : sequence of str, optional
        Which :data:`OUTPUTS` to keep (all by default); fewer saves memory at 10,000 draws.

    Returns
    -------
    WarmupResult

    Examples
    --------
    A sender of 250,000 messages a day moves to a new IP. Following SparkPost's schedule,
    Gmail never rate-limits it and placement ends near the warm level; moving everything on
    day one sends most of Gmail's share to spam for weeks:

    >>> warm = simulate_warmup(volume_plan("sparkpost", 250_000, 60))
    >>> cold = simulate_warmup(volume_plan("cold", 250_000, 60))
    >>> gmail = PROVIDERS.index("gmail")
    >>> float(warm.deferral_rate[0, :, gmail].max()), round(float(warm.placement[0, 29, gmail]), 2)
    (0.0, 0.89)
    >>> int((cold.inbox_rate[0, :, gmail] < 0.6).sum())   # days below 60% inbox
    29

    Four weeks in the fair/poor band: section 9 expects 2-6 weeks for a cold dedicated IP.
    """
    parameters = parameters or WarmupParameters()
    if overflow not in ("defer", "shared"):
        raise ValueError(f"overflow must be 'defer' or 'shared', not {overflow!r}")
    if initial not in ("cold", "warm"):
        raise ValueError(f"initial must be 'cold' or 'warm', not {initial!r}")
    if isinstance(providers, pd.DataFrame):
        table = providers
        names_hint = tuple(table.index)
    else:
        names_hint = tuple(plan.columns) if isinstance(plan, pd.DataFrame) else PROVIDERS
        table = provider_table(names_hint, providers)
    volume, names = _plan_array(plan, names_hint)
    table = table.loc[list(names)]
    if volume.ndim == 2:
        volume = volume[None]
    if volume.ndim != 3:
        raise ValueError("plan must be (days, providers) or (draws, days, providers)")
    if np.any(volume < 0) or not np.all(np.isfinite(volume)):
        raise ValueError("plan volumes must be finite and non-negative [messages/day]")
    n_providers = len(names)
    if draws is None:
        sizes = [volume.shape[0]] + [np.shape(getattr(parameters, f))[0]
                                     for f in DYNAMICS_FIELDS if np.ndim(getattr(parameters, f)) >= 1]
        draws = max(sizes)
    if volume.shape[0] not in (1, draws):
        raise ValueError(f"plan has {volume.shape[0]} draws, the parameters {draws}")

    provider_values = {f: _as_grid(table[f].to_numpy(dtype=float), draws, n_providers, f, True)
                       for f in PROVIDER_FIELDS}
    arrays, warmed = _run(volume, parameters, provider_values, draws=draws, overflow=overflow,
                          initial=initial, complaint_rate=complaint_rate,
                          hard_bounce_rate=hard_bounce_rate, random_state=random_state,
                          outputs=outputs)
    return WarmupResult(providers=tuple(names), arrays=arrays, warmed_placement=warmed,
                        parameters=parameters, provider_parameters=table)


#: Draws processed together [count]; blocks of about 10,000 values stay in the CPU cache,
#: which makes the day loop two to three times faster than whole 10,000-draw arrays.
_BLOCK_DRAWS = 2048


def _run(volume: np.ndarray, parameters: WarmupParameters, provider_values: Mapping[str, np.ndarray],
         *, draws: int, overflow: str, initial: str, complaint_rate, hard_bounce_rate,
         random_state: RandomState, outputs: Sequence[str] | None):
    """Run the day loop over blocks of draws; ``volume`` is (1 or draws, days, providers).

    Parameters keep their smallest shape ((1, 1), (draws, 1), (1, providers) or (draws,
    providers)) so that what all draws share costs one row.
    """
    _, n_days, n_providers = volume.shape
    model = parameters.reputation
    grids = {name: _as_grid(getattr(parameters, name), draws, n_providers, name, per_provider=False)
             for name in DYNAMICS_FIELDS}
    grids.update({name: _as_grid(provider_values[name], draws, n_providers, name, per_provider=True)
                  for name in PROVIDER_FIELDS})
    warmed = grids["warmed_inbox_rate"]
    grids["healthy"] = np.asarray(score_for_placement(np.minimum(warmed, model.link_ceiling * 0.999), model))

    complaints = np.asarray(complaint_rate, dtype=float)
    bounces = np.asarray(hard_bounce_rate, dtype=float)
    if complaints.ndim or bounces.ndim:
        complaints = np.broadcast_to(complaints, (draws, n_days, n_providers))
        bounces = np.broadcast_to(bounces, (draws, n_days, n_providers))

    keep = tuple(OUTPUTS) if outputs is None else tuple(outputs)
    unknown = set(keep) - set(OUTPUTS)
    if unknown:
        raise ValueError(f"unknown output(s) {sorted(unknown)}; known: {', '.join(OUTPUTS)}")
    # Day-major storage in single precision (7 significant digits; half the memory at
    # 10,000 draws); exposed as (draws, days, providers).
    store = {name: np.empty((n_days, draws, n_providers), dtype=np.float32)
             for name in keep if name != "volume"}
    rng = check_random_state(random_state) if np.any(grids["noise_sd"] > 0) else None

    def rows(arr, lo, hi):
        return arr[lo:hi] if arr.ndim and arr.shape[0] == draws and draws > 1 else arr

    for lo in range(0, draws, _BLOCK_DRAWS):
        hi = min(draws, lo + _BLOCK_DRAWS)
        _run_block(
            rows(volume, lo, hi), {k: rows(v, lo, hi) for k, v in grids.items()},
            model=model, rewarm=int(parameters.rewarm_after_idle_days), draws=hi - lo,
            overflow=overflow, initial=initial,
            complaints=rows(complaints, lo, hi), bounces=rows(bounces, lo, hi), rng=rng,
            store={k: v[:, lo:hi] for k, v in store.items()},
        )
    arrays = {name: arr.transpose(1, 0, 2) for name, arr in store.items()}
    arrays["volume"] = np.broadcast_to(volume, (draws, n_days, n_providers))
    return arrays, np.asarray(placement_from_score(grids["healthy"], model))


def _run_block(volume, g, *, model, rewarm, draws, overflow, initial, complaints, bounces, rng,
               store):
    """The day loop for one block of draws (see the module docstring for the equations)."""
    n_days, n_providers = volume.shape[1], volume.shape[2]
    shape = (draws, n_providers)
    headroom, memory = g["cap_headroom"], np.exp(-1.0 / g["trust_memory_days"])
    cold_gap, kappa, healthy = g["cold_gap"], g["persistence"], g["healthy"]
    overload_penalty = g["overload_penalty"]
    overload_alpha = 1.0 / np.maximum(g["overload_window_days"], 1.0)
    quality_loss, idle_decay = g["overflow_quality_loss"], 1.0 / g["idle_maturity_days"]
    eventual, smoothing = g["overflow_eventual_delivery"], g["signal_smoothing"]
    noise_sd, low_volume = g["noise_sd"], g["low_volume_daily"]
    low_factor = g["low_volume_noise_factor"]
    cold_cap, maturity_rate = g["cold_daily_cap"], 1.0 / g["maturity_days"]
    defer_share, block_ceiling = g["overflow_defer_share"], g["block_ceiling"]
    shared_placement = placement_from_score(healthy - g["shared_score_discount"], model)
    expire_share = defer_share * (1.0 - eventual)

    # The F19 link and the block curve of simulate.reputation, with exp in single precision
    # (ten times faster; 1e-7 is plenty). tests/test_warmup.py checks them against it.
    link_ceiling = model.link_ceiling
    link_a, link_b = np.float32(1.0 / model.link_scale), np.float32(model.link_midpoint / model.link_scale)
    block_a = np.float32(1.0 / model.block_scale)
    block_b = np.float32(model.block_midpoint / model.block_scale)

    constant_signals = complaints.ndim == 0
    if constant_signals:
        penalty = complaint_penalty(complaints, model) + bounce_penalty(bounces, model)
        quality_base = np.exp(-penalty / 10.0)
    else:
        complaint_smoothed = np.array(complaints[:, 0, :], dtype=float)
        bounce_smoothed = np.array(bounces[:, 0, :], dtype=float)

    zeros = np.zeros(shape)
    if initial == "warm":
        trusted = np.broadcast_to(volume[:, 0, :], shape).astype(float)
        maturity = np.ones(shape)
        score = np.broadcast_to(healthy, shape).astype(float)
    else:
        trusted = zeros.copy()
        maturity = zeros.copy()
        score = np.broadcast_to(healthy - cold_gap, shape).astype(float)
    excess_smoothed = zeros.copy()
    volume_smoothed = np.zeros((volume.shape[0], n_providers))
    idle = np.zeros((volume.shape[0], n_providers), dtype=np.int64)

    for t in range(n_days):
        v = volume[:, t, :]
        cap = np.maximum(cold_cap, headroom * trusted)
        s32 = score.astype(np.float32)
        placement = link_ceiling / (1.0 + np.exp(link_b - link_a * s32))
        block = np.minimum(1.0, model.block_floor
                           + block_ceiling / (1.0 + np.exp(block_a * s32 - block_b)))
        excess = np.maximum(v - cap, 0.0)
        accepted = v - excess
        overflow_share = excess / np.maximum(v, 1e-300)
        if overflow == "defer":
            deferred = excess * defer_share
            bulked = excess - deferred
            expired = excess * expire_share
            to_shared = zeros
            reached = accepted + (deferred - expired)
        else:
            deferred = bulked = expired = zeros
            to_shared = excess
            reached = accepted
        blocked = reached * block
        delivered = reached - blocked
        inbox_ip = delivered * placement
        if overflow == "defer":
            inbox = inbox_ip
            spam = (delivered - inbox_ip) + bulked
        else:
            inbox = inbox_ip + to_shared * shared_placement
            spam = (delivered - inbox_ip) + to_shared * (1.0 - shared_placement)

        day = {"accepted": accepted, "deferred": deferred, "expired": expired, "bulked": bulked,
               "to_shared": to_shared, "blocked": blocked, "inbox": inbox, "spam": spam,
               "cap": cap, "score": score, "placement": placement}
        for name, arr in store.items():
            arr[t] = day[name]

        # The provider updates its view of the IP from today's mail.
        if not constant_signals:
            complaint_smoothed += smoothing * (complaints[:, t, :] - complaint_smoothed)
            bounce_smoothed += smoothing * (bounces[:, t, :] - bounce_smoothed)
            penalty = (complaint_penalty(complaint_smoothed, model)
                       + bounce_penalty(bounce_smoothed, model))
            quality_base = np.exp(-penalty / 10.0)
        quality = quality_base * (1.0 - quality_loss * overflow_share)
        sending = v > 0
        idle = np.where(sending, 0, idle + 1)

        trusted = np.maximum(trusted * memory, accepted * quality)
        forgotten = idle >= rewarm
        if forgotten.any():
            trusted = np.where(forgotten, 0.0, trusted)

        if sending.all():
            maturity = maturity + (1.0 - maturity) * (quality * maturity_rate)
        else:
            maturity = np.where(sending, maturity + (1.0 - maturity) * (quality * maturity_rate),
                                maturity * (1.0 - idle_decay))
        np.clip(maturity, 0.0, 1.0, out=maturity)

        excess_smoothed += overload_alpha * (excess - excess_smoothed)
        volume_smoothed = volume_smoothed + overload_alpha * (v - volume_smoothed)
        overload = excess_smoothed / np.maximum(volume_smoothed, 1e-300)
        target = healthy - cold_gap * (1.0 - maturity) - penalty - overload_penalty * overload
        score = score + kappa * (target - score)
        if rng is not None:
            quiet = np.clip(1.0 - v / low_volume, 0.0, 1.0)
            noise = rng.standard_normal(shape, dtype=np.float32)
            score += noise_sd * (1.0 + low_factor * quiet) * noise
        np.clip(score, 0.0, 105.0, out=score)


# --------------------------------------------------------------------------------------------
# Calibration
# --------------------------------------------------------------------------------------------

#: Parameters :func:`fit_warmup` can fit, with their bounds (in natural units). Provider
#: fields are fit per provider.
FIT_BOUNDS: dict[str, tuple[float, float]] = {
    "cold_daily_cap": (5.0, 1e7),
    "maturity_days": (0.5, 365.0),
    "cap_headroom": (1.05, 50.0),
    "cold_gap": (0.05, 60.0),
    "persistence": (0.005, 1.0),
    "overload_penalty": (0.05, 200.0),
    "trust_memory_days": (1.0, 365.0),
    "overload_window_days": (1.0, 90.0),
}

#: What :func:`fit_warmup` fits by default.
DEFAULT_FIT: tuple[str, ...] = ("cold_daily_cap", "maturity_days", "cap_headroom", "cold_gap",
                                "overload_penalty")


@dataclass
class WarmupFit:
    """Parameters fitted to an observed migration.

    Attributes
    ----------
    parameters : WarmupParameters
        The dynamics with fitted fields replaced.
    provider_parameters : DataFrame
        Per-provider parameters with fitted fields replaced.
    estimates : DataFrame
        One row per fitted value: ``parameter``, ``mailbox_provider`` (empty for shared
        dynamics), ``estimate``, ``start``, ``standard_error`` (from the Jacobian and the
        residual variance, in natural units by the delta method; NaN for a value stopped at
        a bound of :data:`FIT_BOUNDS` or that the data do not inform). Residuals are autocorrelated day to day, so these
        understate the uncertainty; treat them as a lower bound.
    predicted : WarmupResult
        The fitted model on the plan.
    rmse_placement, rmse_deferral : float
        Root mean squared residual of the fitted daily inbox and deferral rates [fraction].
    success : bool
    message : str
        From :func:`scipy.optimize.least_squares`.
    """

    parameters: WarmupParameters
    provider_parameters: pd.DataFrame
    estimates: pd.DataFrame
    predicted: WarmupResult
    rmse_placement: float
    rmse_deferral: float
    success: bool
    message: str

    def value(self, parameter: str, provider: str | None = None) -> float:
        """A fitted value in natural units."""
        rows = self.estimates[self.estimates["parameter"] == parameter]
        if provider is not None:
            rows = rows[rows["mailbox_provider"] == provider]
        if len(rows) != 1:
            raise KeyError(f"no single estimate for {parameter!r} {provider or ''}")
        return float(rows["estimate"].iloc[0])


def _observed_arrays(observed, plan_frame: pd.DataFrame):
    days = len(plan_frame)
    names = list(plan_frame.columns)
    shape = (days, len(names))
    if isinstance(observed, Mapping):
        inbox = np.asarray(observed["inbox_rate"], dtype=float)
        deferral = np.asarray(observed.get("deferral_rate", np.full(shape, np.nan)), dtype=float)
        if inbox.shape != shape or deferral.shape != shape:
            raise ValueError(f"observed arrays must be (days, providers) = {shape}")
        return inbox, deferral
    frame = pd.DataFrame(observed)
    needed = {"day", "mailbox_provider", "inbox_rate"}
    missing = needed - set(frame.columns)
    if missing:
        raise ValueError(f"observed is missing column(s) {sorted(missing)}; it needs day, "
                         "mailbox_provider, inbox_rate and optionally deferral_rate")
    inbox = np.full(shape, np.nan)
    deferral = np.full(shape, np.nan)
    day = frame["day"].to_numpy()
    if not np.issubdtype(np.asarray(day).dtype, np.integer):
        raise ValueError("observed 'day' must be the integer day index of the plan")
    column = {p: k for k, p in enumerate(names)}
    provider = frame["mailbox_provider"].astype(str).map(column)
    ok = provider.notna().to_numpy() & (day >= 0) & (day < days)
    rows, cols = day[ok], provider[ok].astype(int).to_numpy()
    inbox[rows, cols] = frame["inbox_rate"].to_numpy(dtype=float)[ok]
    if "deferral_rate" in frame:
        deferral[rows, cols] = frame["deferral_rate"].to_numpy(dtype=float)[ok]
    return inbox, deferral


def fit_warmup(
    observed,
    plan,
    *,
    fit: Sequence[str] = DEFAULT_FIT,
    parameters: WarmupParameters | None = None,
    providers: Mapping[str, Mapping[str, float]] | None = None,
    overflow: str = "defer",
    complaint_rate=0.0001,
    hard_bounce_rate=0.01,
    deferral_weight: float = 1.0,
    max_nfev: int = 200,
) -> WarmupFit:
    """Fit the warm-up dynamics to an observed migration by least squares.

    Minimizes ``sum (model inbox_rate - observed inbox_rate)**2 + deferral_weight**2 *
    sum (model deferral_rate - observed deferral_rate)**2`` over days and providers where the
    observation is not NaN, with :func:`scipy.optimize.least_squares` (trust-region reflective,
    bounds :data:`FIT_BOUNDS`) in log parameters. The Jacobian is evaluated in one model run
    with one Monte Carlo draw per perturbed parameter.

    Parameters
    ----------
    observed : DataFrame or mapping
        Per day and provider on the new IP: ``day`` (integer index into ``plan``),
        ``mailbox_provider``, ``inbox_rate`` (inbox share of the messages sent that day, e.g.
        ``estimate_placement``'s ``inbox_rate`` at daily frequency) [fraction 0-1] and
        optionally ``deferral_rate`` (messages rate-limited with a 4xx per message sent)
        [fraction 0-1]; or a mapping with ``inbox_rate`` and ``deferral_rate`` arrays
        (days, providers).
    plan : DataFrame (days x providers)
        Messages sent on the new IP per day and provider [messages/day], as in
        :func:`simulate_warmup`.
    fit : sequence of str
        Names in :data:`FIT_BOUNDS`; provider fields (:data:`PROVIDER_FIELDS`) are fit per
        provider, the others once.
    parameters, providers, overflow, complaint_rate, hard_bounce_rate
        The rest of the model, as in :func:`simulate_warmup`; also the starting values.
    deferral_weight : float
        Weight of deferral residuals against placement residuals [ratio].
    max_nfev : int
        Iteration budget of the optimizer.

    Returns
    -------
    WarmupFit
    """
    # The fit follows the expected path: no score noise.
    parameters = replace(parameters or WarmupParameters(), noise_sd=0.0)
    plan_frame = plan if isinstance(plan, pd.DataFrame) else pd.DataFrame(
        np.asarray(plan, dtype=float), columns=list(PROVIDERS))
    names = tuple(str(c) for c in plan_frame.columns)
    table = provider_table(names, providers)
    inbox_obs, deferral_obs = _observed_arrays(observed, plan_frame)
    unknown = set(fit) - set(FIT_BOUNDS)
    if unknown:
        raise ValueError(f"cannot fit {sorted(unknown)}; fittable: {', '.join(FIT_BOUNDS)}")

    # Vector of fitted values: (name, provider or None, start).
    slots: list[tuple[str, str | None, float]] = []
    for name in fit:
        if name in PROVIDER_FIELDS:
            slots += [(name, p, float(table.loc[p, name])) for p in names]
        else:
            start = np.asarray(getattr(parameters, name), dtype=float)
            if start.ndim:
                raise ValueError(f"{name}: the starting value must be a number to fit it")
            slots.append((name, None, float(start)))
    low = np.log([FIT_BOUNDS[s[0]][0] for s in slots])
    high = np.log([FIT_BOUNDS[s[0]][1] for s in slots])
    x0 = np.clip(np.log([max(s[2], 1e-9) for s in slots]), low + 1e-9, high - 1e-9)
    plan_values = plan_frame.to_numpy(dtype=float)
    mask_inbox = np.isfinite(inbox_obs)
    mask_deferral = np.isfinite(deferral_obs)
    if not mask_inbox.any():
        raise ValueError("observed has no inbox_rate values to fit")

    def run(xs: np.ndarray) -> WarmupResult:
        # xs: (draws, slots) log values -> one model run with a draw per row.
        n = xs.shape[0]
        values = np.exp(xs)
        dynamics: dict[str, Any] = {}
        provider_values = {f: np.broadcast_to(table[f].to_numpy(float), (n, len(names))).copy()
                           for f in PROVIDER_FIELDS}
        for k, (name, provider, _) in enumerate(slots):
            if provider is None:
                dynamics[name] = values[:, k]
            else:
                provider_values[name][:, names.index(provider)] = values[:, k]
        params = replace(parameters, **dynamics)
        arrays, warmed = _run(plan_values[None], params, provider_values, draws=n,
                              overflow=overflow,
                              initial="cold", complaint_rate=complaint_rate,
                              hard_bounce_rate=hard_bounce_rate, random_state=None,
                              outputs=("accepted", "deferred", "inbox"))
        return WarmupResult(names, arrays, warmed, params, table)

    def residuals_of(result: WarmupResult) -> np.ndarray:
        inbox = result.inbox_rate
        deferral = result.deferral_rate
        parts = [(inbox - inbox_obs[None])[:, mask_inbox]]
        if mask_deferral.any():
            parts.append(deferral_weight * (deferral - deferral_obs[None])[:, mask_deferral])
        return np.concatenate(parts, axis=1)

    def residuals(x):
        return residuals_of(run(x[None]))[0]

    def jacobian(x):
        step = 1e-4
        xs = np.vstack([x, x + step * np.eye(len(x))])
        r = residuals_of(run(xs))
        return ((r[1:] - r[0]) / step).T

    solution = optimize.least_squares(residuals, x0, jac=jacobian, bounds=(low, high),
                                      method="trf", x_scale="jac", max_nfev=max_nfev)
    x = solution.x
    # Standard errors: (J'J)^-1 * residual variance, in log space, then delta method.
    jac = solution.jac
    dof = max(1, len(solution.fun) - len(x))
    sigma2 = float(solution.fun @ solution.fun) / dof
    # Values stopped at a bound have no meaningful standard error; the others use the
    # pseudo-inverse so that one of those does not hide theirs.
    column_norm = np.linalg.norm(jac, axis=0)
    free = (solution.active_mask == 0) & (column_norm > 1e-8 * max(column_norm.max(), 1e-300))
    se_log = np.full(len(x), np.nan)
    if free.any():
        cov = np.linalg.pinv(jac[:, free].T @ jac[:, free]) * sigma2
        se_log[free] = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    estimates = pd.DataFrame({
        "parameter": [s[0] for s in slots],
        "mailbox_provider": [s[1] or "" for s in slots],
        "estimate": np.exp(x),
        "start": [s[2] for s in slots],
        "standard_error": np.exp(x) * se_log,
    })
    dynamics = {s[0]: float(np.exp(v)) for s, v in zip(slots, x, strict=True) if s[1] is None}
    fitted_parameters = replace(parameters, **dynamics)
    fitted_table = table.copy()
    for s, v in zip(slots, x, strict=True):
        if s[1] is not None:
            fitted_table.loc[s[1], s[0]] = float(np.exp(v))
    predicted = simulate_warmup(plan_frame, fitted_parameters, fitted_table, overflow=overflow,
                                complaint_rate=complaint_rate, hard_bounce_rate=hard_bounce_rate)
    inbox_fit = predicted.inbox_rate[0]
    deferral_fit = predicted.deferral_rate[0]
    rmse_p = float(np.sqrt(np.mean((inbox_fit - inbox_obs)[mask_inbox] ** 2)))
    rmse_d = float(np.sqrt(np.mean((deferral_fit - deferral_obs)[mask_deferral] ** 2))) \
        if mask_deferral.any() else float("nan")
    return WarmupFit(fitted_parameters, fitted_table, estimates, predicted, rmse_p, rmse_d,
                     bool(solution.success), str(solution.message))


__all__ = [
    "DEFAULT_FIT", "DEFAULT_PROVIDER_SHARES", "DYNAMICS_FIELDS", "FIRST_DAY_VOLUME",
    "FIT_BOUNDS", "GUIDANCE", "OUTPUTS", "PROVIDERS", "PROVIDER_FIELDS", "PROVIDER_WARMUP",
    "SCHEDULES", "ProviderWarmup", "WarmupFit", "WarmupParameters", "WarmupResult",
    "WarmupSchedule", "custom_schedule", "fit_warmup", "guidance_schedule", "provider_table",
    "simulate_warmup", "volume_plan",
]
