"""The audience and what is sent to it: recipients, triggered and scheduled messages, routing.

Everything here is drawn before any outcome, as a real sender's application decides what to
send; the ESP's suppression of bounced, complaining and unsubscribed addresses happens later,
day by day (:mod:`deliverability_econ.simulate.engine`).

Times are float seconds since the simulation start (UTC midnight of day 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .config import SENDGRID_WARMUP, SPARKPOST_WARMUP, Migration, SenderConfig

DAY_S = 86_400.0

#: Share of sign-ups, resets and other user-triggered mail per UTC hour [fraction 0-1]: a
#: US-and-Europe audience, quiet at night in both (assumption).
DIURNAL_WEIGHTS = np.array([
    3.0, 2.5, 2.0, 1.5, 1.2, 1.0, 1.2, 2.0, 3.0, 4.0, 4.5, 5.0,
    5.2, 5.5, 6.0, 6.5, 6.5, 6.2, 6.0, 5.5, 5.0, 4.5, 4.0, 3.5,
])
DIURNAL_WEIGHTS = DIURNAL_WEIGHTS / DIURNAL_WEIGHTS.sum()


@dataclass
class Recipients:
    """The audience, one entry per recipient (arrays of equal length).

    Attributes
    ----------
    provider : int array
        Index into ``providers``.
    domain : int array
        Index into ``domains``.
    number : int array
        Distinct number in the address local part (``user012345``).
    propensity : float array
        Engagement propensity [fraction 0-1].
    apple_mail : bool array
        Reads in Apple Mail with MPP.
    invalid_from : float array
        Time from which the address is undeliverable [s since start]; ``-inf`` already,
        ``inf`` never within reach.
    signup_time : float array
        Sign-up time [s]; NaN for recipients who signed up before the start.
    opted_in, customer, annual, stale, trap : bool arrays
    renewal_time, demo_time : float arrays
        [s]; NaN where not applicable.
    providers, domains : list of str
    domain_provider : int array
        Provider index of each domain.
    number_width : int
        Digits of the local-part number.
    stale_from_day : int or None
        Day from which the stale segment is mailed (list-hygiene failure).
    """

    provider: np.ndarray
    domain: np.ndarray
    number: np.ndarray
    propensity: np.ndarray
    apple_mail: np.ndarray
    invalid_from: np.ndarray
    signup_time: np.ndarray
    opted_in: np.ndarray
    customer: np.ndarray
    annual: np.ndarray
    renewal_time: np.ndarray
    demo_time: np.ndarray
    stale: np.ndarray
    trap: np.ndarray
    providers: list[str]
    domains: list[str]
    domain_provider: np.ndarray
    number_width: int
    stale_from_day: int | None

    def __len__(self) -> int:
        return len(self.provider)


def _time_of_day(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds into the day following :data:`DIURNAL_WEIGHTS`."""
    hours = rng.choice(24, size=n, p=DIURNAL_WEIGHTS)
    return (hours + rng.random(n)) * 3600.0


def draw_recipients(config: SenderConfig, recipients: int, days: int,
                    rng: np.random.Generator) -> Recipients:
    """Draw the audience (plus the stale segment of a list-hygiene incident, if any).

    Parameters
    ----------
    config : SenderConfig
    recipients : int
        Audience size [recipients].
    days : int
        Simulated days.
    rng : numpy.random.Generator

    Returns
    -------
    Recipients
    """
    audience = config.audience
    hygiene = [i for i in config.incidents if i.kind == "list_hygiene_failure"]
    n_stale = int(round(sum(i.magnitude for i in hygiene) * recipients))
    stale_from_day = min(i.start_day for i in hygiene) if hygiene else None
    n = recipients + n_stale

    providers = list(audience.provider_mix)
    mix = np.array([audience.provider_mix[p] for p in providers])
    provider = rng.choice(len(providers), size=n, p=mix / mix.sum()).astype(np.int16)

    domains: list[str] = []
    domain_provider: list[int] = []
    domain = np.empty(n, dtype=np.int32)
    for index, name in enumerate(providers):
        profile = config.providers[name]
        names = list(profile.domains)
        weights = np.array([profile.domains[d] for d in names])
        members = np.flatnonzero(provider == index)
        picks = rng.choice(len(names), size=len(members), p=weights / weights.sum())
        domain[members] = len(domains) + picks
        domains.extend(names)
        domain_provider.extend([index] * len(names))

    width = max(6, len(str(n - 1)))
    number = rng.permutation(n).astype(np.int64)

    stale = np.zeros(n, dtype=bool)
    stale[recipients:] = True
    propensity = rng.beta(audience.engagement_alpha, audience.engagement_beta, size=n)
    if n_stale:
        propensity[stale] = rng.beta(audience.stale_engagement_alpha,
                                     audience.stale_engagement_beta, size=n_stale)

    # MPP: iCloud recipients at their own share, the others so the overall share matches.
    apple_index = providers.index("apple") if "apple" in providers else -1
    apple_share = audience.provider_mix.get("apple", 0.0)
    if apple_share < 1.0:
        other_share = (audience.apple_mail_share - apple_share * audience.apple_provider_mail_share) / (
            1.0 - apple_share
        )
    else:
        other_share = audience.apple_mail_share
    other_share = float(np.clip(other_share, 0.0, 1.0))
    mpp_probability = np.where(provider == apple_index, audience.apple_provider_mail_share, other_share)
    apple_mail = rng.random(n) < mpp_probability

    new_signup = (~stale) & (rng.random(n) < audience.new_signup_share)
    signup_day = rng.integers(0, days, size=n)
    signup_time = np.where(new_signup, signup_day * DAY_S + _time_of_day(rng, n), np.nan)

    decay_rate = -np.log1p(-min(audience.annual_decay_rate, 0.999999)) / 365.0 / DAY_S  # [1/s]
    lifetime = rng.exponential(1.0 / decay_rate, size=n) if decay_rate > 0 else np.full(n, np.inf)
    invalid_draw = rng.random(n)
    existing_invalid = (~new_signup) & (~stale) & (invalid_draw < audience.invalid_share_at_start)
    typo = new_signup & (invalid_draw < audience.signup_typo_share)
    stale_invalid = stale & (invalid_draw < audience.stale_invalid_share)
    invalid_from = np.where(new_signup, signup_time + lifetime, lifetime)
    invalid_from = np.where(existing_invalid | typo | stale_invalid, -np.inf, invalid_from)
    trap = stale & ~stale_invalid & (rng.random(n) < audience.stale_trap_share / max(
        1e-12, 1.0 - audience.stale_invalid_share))

    opted_in = stale | (rng.random(n) < audience.marketing_opt_in_share)
    customer = (~new_signup) & (~stale) & (rng.random(n) < audience.customer_share)
    annual = customer & (rng.random(n) < audience.annual_contract_share)
    renewal_time = np.where(annual, rng.random(n) * 365.0 * DAY_S, np.nan)
    demo = new_signup & (rng.random(n) < audience.demo_request_share)
    demo_time = np.where(demo, signup_time + rng.exponential(0.5 * DAY_S, size=n), np.nan)

    return Recipients(
        provider=provider, domain=domain, number=number, propensity=propensity,
        apple_mail=apple_mail, invalid_from=invalid_from, signup_time=signup_time,
        opted_in=opted_in, customer=customer, annual=annual, renewal_time=renewal_time,
        demo_time=demo_time, stale=stale, trap=trap, providers=providers, domains=domains,
        domain_provider=np.array(domain_provider, dtype=np.int16), number_width=width,
        stale_from_day=stale_from_day,
    )


@dataclass
class Messages:
    """Messages to send, sorted by send time (arrays of equal length).

    Attributes
    ----------
    recipient : int array
        Index into :class:`Recipients`.
    stream : int array
        Index into ``config.streams``.
    campaign : int array
        Index into ``campaigns``.
    send_time : float array
        [s since start]
    day : int array
        Send day.
    campaigns : list of str
    """

    recipient: np.ndarray
    stream: np.ndarray
    campaign: np.ndarray
    send_time: np.ndarray
    day: np.ndarray
    campaigns: list[str]

    def __len__(self) -> int:
        return len(self.recipient)


class _CampaignNames:
    def __init__(self) -> None:
        self.names: list[str] = []
        self.index: dict[str, int] = {}

    def code(self, name: str) -> int:
        if name not in self.index:
            self.index[name] = len(self.names)
            self.names.append(name)
        return self.index[name]


def _offset_label(offset: float) -> str:
    value = abs(offset)
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def draw_messages(config: SenderConfig, audience: Recipients, days: int, start: pd.Timestamp,
                  rng: np.random.Generator) -> Messages:
    """Every message the sender's application hands to the ESP during the simulation.

    Parameters
    ----------
    config : SenderConfig
    audience : Recipients
    days : int
    start : Timestamp
        Day 0, UTC midnight.
    rng : numpy.random.Generator

    Returns
    -------
    Messages
    """
    horizon = days * DAY_S
    n = len(audience)
    campaigns = _CampaignNames()
    parts_recipient: list[np.ndarray] = []
    parts_stream: list[np.ndarray] = []
    parts_campaign: list[np.ndarray] = []
    parts_time: list[np.ndarray] = []
    active = ~audience.stale
    calendar_days = pd.date_range(start, periods=days, freq="D")
    weekday = calendar_days.day_of_week.to_numpy()

    def add(stream_index: int, who: np.ndarray, when: np.ndarray, campaign: str | np.ndarray):
        keep = (when >= 0) & (when < horizon)
        who, when = who[keep], when[keep]
        if isinstance(campaign, str):
            codes = np.full(len(who), campaigns.code(campaign), dtype=np.int32)
        else:
            codes = campaign[keep]
        parts_recipient.append(who.astype(np.int64))
        parts_stream.append(np.full(len(who), stream_index, dtype=np.int16))
        parts_campaign.append(codes.astype(np.int32))
        parts_time.append(when)

    def campaign_name(stream, offset: float | None = None, date: str | None = None) -> str:
        return stream.campaign.format(
            name=stream.name, offset=_offset_label(offset or 0.0), date=date or ""
        )

    def app_delay(size: int) -> np.ndarray:
        # From the user's action to the ESP's "processed": a few seconds.
        return rng.lognormal(np.log(3.0), 0.6, size=size)

    for s, stream in enumerate(config.streams):
        if stream.trigger in ("signup", "demo_request", "renewal"):
            base = {
                "signup": audience.signup_time,
                "demo_request": audience.demo_time,
                "renewal": audience.renewal_time,
            }[stream.trigger]
            who = np.flatnonzero(np.isfinite(base) & active)
            for offset in stream.offsets_days:
                when = base[who] + offset * DAY_S + app_delay(len(who))
                add(s, who, when, campaign_name(stream, offset))
        elif stream.trigger in ("password_reset", "payment_failure"):
            eligible = active & (audience.customer if stream.trigger == "payment_failure" else True)
            if stream.trigger == "payment_failure":
                eligible = eligible & ~audience.annual
            begin = np.where(np.isfinite(audience.signup_time), audience.signup_time, 0.0)
            exposure = np.clip(horizon - begin, 0.0, None) / DAY_S
            counts = np.where(eligible, rng.poisson(stream.rate_per_day * exposure), 0)
            who = np.repeat(np.arange(n), counts)
            trigger_time = begin[who] + rng.random(len(who)) * (horizon - begin[who])
            for offset in stream.offsets_days:
                when = trigger_time + offset * DAY_S + app_delay(len(who))
                add(s, who, when, campaign_name(stream, offset))
        elif stream.trigger == "calendar":
            spikes = [i for i in config.incidents if i.kind == "volume_spike"
                      and (i.streams is None or stream.name in i.streams)]
            for day in range(days):
                sends = 1 if weekday[day] in stream.weekdays else 0
                for spike in spikes:
                    if spike.active(day):
                        sends = max(sends, int(round(spike.magnitude)))
                for k in range(sends):
                    send_start = day * DAY_S + stream.send_hour * 3600.0 + k * 1.5 * 3600.0
                    signed_up = ~(audience.signup_time >= send_start)  # NaN: before the start
                    stale_mailed = audience.stale_from_day is not None and day >= audience.stale_from_day
                    eligible = audience.opted_in & signed_up & (active | (audience.stale & stale_mailed))
                    who = np.flatnonzero(eligible)
                    when = send_start + rng.random(len(who)) * stream.send_spread_hours * 3600.0
                    date = calendar_days[day].strftime("%Y-%m-%d")
                    name = campaign_name(stream, date=date)
                    if k:
                        name = f"{name}-promo-{k}"
                    add(s, who, when, name)

    if parts_time:
        recipient = np.concatenate(parts_recipient)
        stream_index = np.concatenate(parts_stream)
        campaign = np.concatenate(parts_campaign)
        send_time = np.concatenate(parts_time)
    else:
        recipient = np.zeros(0, np.int64)
        stream_index = np.zeros(0, np.int16)
        campaign = np.zeros(0, np.int32)
        send_time = np.zeros(0)
    # Parts are concatenated in a fixed order, so a stable sort on time is deterministic.
    order = np.argsort(send_time, kind="stable")
    send_time = np.round(send_time[order], 3)
    return Messages(
        recipient=recipient[order], stream=stream_index[order], campaign=campaign[order],
        send_time=send_time, day=(send_time // DAY_S).astype(np.int32),
        campaigns=campaigns.names,
    )


def warmup_allowance(migration: Migration, n_ips: int, days_after_start: int,
                     busiest_day: float) -> np.ndarray:
    """Messages per day the destination pool may take while warming.

    Parameters
    ----------
    migration : Migration
    n_ips : int
        IPs in the destination pool.
    days_after_start : int
        Days from the migration's start to the end of the simulation.
    busiest_day : float
        The largest daily volume the migration moves [messages/day] (a geometric ramp ends
        there).

    Returns
    -------
    array (days_after_start,)
        [messages/day]; ``inf`` once warm.
    """
    out = np.full(days_after_start, np.inf)
    if isinstance(migration.schedule, tuple):
        per_ip = np.asarray(migration.schedule, dtype=float)
    elif migration.schedule == "cold":
        return out
    elif migration.schedule == "sparkpost":
        per_ip = np.asarray(SPARKPOST_WARMUP, dtype=float)
    elif migration.schedule == "sendgrid":
        per_ip = np.asarray(SENDGRID_WARMUP, dtype=float)
    else:  # geometric
        target = max(busiest_day / max(n_ips, 1), migration.first_day_volume)
        steps = max(migration.ramp_days - 1, 1)
        growth = (target / migration.first_day_volume) ** (1.0 / steps)
        per_ip = migration.first_day_volume * growth ** np.arange(migration.ramp_days)
    k = min(len(per_ip), days_after_start)
    out[:k] = per_ip[:k] * n_ips
    return out


def route(config: SenderConfig, messages: Messages, audience: Recipients, days: int,
          rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """Assign every message a sending IP (pools, routes, migrations and warm-up overflow).

    Parameters
    ----------
    config : SenderConfig
    messages : Messages
    audience : Recipients
    days : int
    rng : numpy.random.Generator

    Returns
    -------
    ip : int array
        Index into ``config.infrastructure.ips`` per message.
    allowances : dict
        ``{migration index: daily allowance array}`` as applied [messages/day].
    """
    infra = config.infrastructure
    ips = list(infra.ips)
    pools = sorted({ip.pool for ip in ips})
    pool_index = {name: k for k, name in enumerate(pools)}
    stream_names = [s.name for s in config.streams]
    stream_pool = np.array([pool_index[infra.routes.get(s, infra.default_pool)] for s in stream_names])
    pool = stream_pool[messages.stream]
    allowances = {}
    for m_index, migration in enumerate(infra.migrations):
        moving_streams = np.array([
            migration.streams is None or name in migration.streams for name in stream_names
        ])
        eligible = moving_streams[messages.stream] & (messages.day >= migration.start_day)
        n_after = max(days - migration.start_day, 0)
        if n_after == 0 or not eligible.any():
            allowances[m_index] = np.zeros(0)
            continue
        per_day = np.bincount(messages.day[eligible] - migration.start_day, minlength=n_after)
        n_ips = sum(1 for ip in ips if ip.pool == migration.to_pool)
        allowance = warmup_allowance(migration, n_ips, n_after, float(per_day.max()))
        allowances[m_index] = allowance
        index = np.flatnonzero(eligible)
        if migration.engaged_first:
            priority = -audience.propensity[messages.recipient[index]]
        else:
            priority = rng.random(len(index))
        # Marketing takes the allowance first; critical (transactional) mail gets what is left.
        transactional = np.array([s.kind == "transactional" for s in config.streams])[messages.stream[index]]
        relative_day = messages.day[index] - migration.start_day
        order = np.lexsort((priority, transactional, relative_day))
        sorted_day = relative_day[order]
        first = np.searchsorted(sorted_day, sorted_day, side="left")
        rank = np.arange(len(order)) - first
        moved = index[order[rank < np.floor(allowance[sorted_day])]]
        pool[moved] = pool_index[migration.to_pool]

    ip = np.empty(len(messages), dtype=np.int32)
    for name, k in pool_index.items():
        members = np.array([i for i, candidate in enumerate(ips) if candidate.pool == name])
        chosen = np.flatnonzero(pool == k)
        ip[chosen] = members[rng.integers(0, len(members), size=len(chosen))]
    return ip, allowances
