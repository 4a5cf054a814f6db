"""Per-message outcomes, day by day, with the reputation process in the loop.

Each day the messages of that day meet the day's true process (placement, blocks, the
acceptance cap); their realized complaints and bounces move the reputation for the next day,
and their bounces, complaints and unsubscribes put the recipient on the ESP's suppression list
(later messages are ``dropped``). Within a day everything is vectorized over messages; the loop
runs over days only. Engagement that does not feed back (reads, clicks, machine opens,
conversions) is drawn after the loop in one pass.

Path of one message (probabilities per provider ``p`` and IP ``i`` on the send day)::

    dropped   if the address is suppressed
    hard      if the address no longer exists                         -> missing
    block     with block(score)                                         -> missing
    full      with mailbox_full_probability (deferred until expiry)     -> missing
    overflow  with the share of volume above the cap:
        deferred (rate limit) with overflow_defer_share[p]:
            delivered after retries with overflow_eventual_delivery    -> inbox w.p. link(score)
            else expired after 72 h                                    -> missing
        else bulked                                                     -> spam
    normal    possibly deferred once or twice (transient), delivered   -> inbox w.p. link(score)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import SenderConfig
from .reputation import (
    ReputationProcess,
    block_probability,
    placement_from_score,
    score_for_placement,
)
from .schedule import Messages, Recipients

#: Message outcomes, in code order.
OUTCOMES: tuple[str, ...] = ("delivered", "hard_bounce", "block", "mailbox_full", "expired", "dropped")
#: True folders, in code order (``missing``: never delivered, DESIGN.md).
FOLDERS: tuple[str, ...] = ("inbox", "spam", "missing")
#: Why a deferral happened, in code order (0: never deferred).
DEFERRAL_KINDS: tuple[str, ...] = ("none", "transient", "rate_limit", "mailbox_full")

#: Retry schedule after the first attempt [s]; the last entry is the 72-hour expiry (F24, F25).
RETRY_OFFSETS_S = np.array([
    0.0, 300.0, 900.0, 1_800.0, 3_600.0, 7_200.0, 14_400.0, 28_800.0, 57_600.0, 86_400.0,
    172_800.0, 259_200.0,
])
#: Deferrals before the ESP gives up (the attempt at the last offset is not made).
MAX_DEFERRALS = len(RETRY_OFFSETS_S) - 1


@dataclass
class Outcomes:
    """Per-message outcome arrays (aligned with :class:`~.schedule.Messages`) and the daily
    process history.

    Times are [s since start]; NaN where the event did not happen.
    """

    routed_ip: np.ndarray        # IP index the ESP routed the message to (its pool)
    ip: np.ndarray               # sending IP index, -1 when dropped (never attempted)
    outcome: np.ndarray          # index into OUTCOMES
    folder: np.ndarray           # index into FOLDERS
    drop_reason: np.ndarray      # index into smtp.DROP_REASONS, -1 when not dropped
    deferrals: np.ndarray        # deferred attempts
    deferral_kind: np.ndarray    # index into DEFERRAL_KINDS
    first_attempt: np.ndarray    # [s]
    jitter: np.ndarray           # retry-time multiplier [-]
    final_time: np.ndarray       # delivered / bounced / dropped time [s]
    complained: np.ndarray
    complaint_time: np.ndarray
    unsubscribed: np.ndarray
    unsubscribe_time: np.ndarray
    p_inbox: np.ndarray          # true probabilities of the message's folder [fraction 0-1]
    p_spam: np.ndarray
    p_missing: np.ndarray
    # Daily process, arrays (days, providers, ips)
    score: np.ndarray
    inbox_share: np.ndarray
    block: np.ndarray
    overflow: np.ndarray
    cap: np.ndarray
    maturity: np.ndarray
    volume: np.ndarray
    healthy_score: np.ndarray    # (providers,)


def _provider_array(config: SenderConfig, providers: list[str], attribute: str) -> np.ndarray:
    return np.array([getattr(config.providers[p], attribute) for p in providers], dtype=float)


def run(config: SenderConfig, audience: Recipients, messages: Messages, ip: np.ndarray,
        days: int, rng: np.random.Generator) -> Outcomes:
    """Draw every message's delivery outcome and the reputation process.

    Parameters
    ----------
    config : SenderConfig
    audience : Recipients
    messages : Messages
        Sorted by send time.
    ip : int array
        Routed IP per message.
    days : int
    rng : numpy.random.Generator

    Returns
    -------
    Outcomes
    """
    model = config.reputation
    providers = audience.providers
    ips = list(config.infrastructure.ips)
    n_providers, n_ips = len(providers), len(ips)
    n = len(messages)

    baseline = _provider_array(config, providers, "baseline_inbox_rate")
    healthy = np.asarray(score_for_placement(np.minimum(baseline, model.link_ceiling * 0.999), model))
    block_ceiling = _provider_array(config, providers, "block_ceiling")
    defer_share = _provider_array(config, providers, "overflow_defer_share")
    transient_p = _provider_array(config, providers, "transient_deferral_probability")
    full_p = _provider_array(config, providers, "mailbox_full_probability")
    eventual = model.overflow_eventual_delivery

    provider_of = audience.provider[messages.recipient].astype(np.int64)
    cell = provider_of * n_ips + ip

    # A warm dedicated IP has sent every week of the past month like its first week of use
    # here (so later incidents do not leak into its history); a cold IP has no history.
    shared = np.array([candidate.shared for candidate in ips])
    warm = np.array([candidate.warm or candidate.shared for candidate in ips])
    window = model.cap_window_days
    planned = np.zeros((days, n_providers, n_ips))
    np.add.at(planned, (messages.day, provider_of, ip), 1.0)
    history = np.zeros((window, n_providers, n_ips))
    for k in np.flatnonzero(warm & ~shared):
        used = np.flatnonzero(planned[:, :, k].sum(axis=1) > 0)
        first_day = int(used[0]) if len(used) else 0
        week = planned[first_day:first_day + 7, :, k]
        if len(week):
            history[:, :, k] = np.resize(week, (window, n_providers))
    process = ReputationProcess(
        model=model, healthy_score=healthy, block_ceiling=block_ceiling,
        cold_cap=_provider_array(config, providers, "cold_daily_cap"),
        maturity_days=_provider_array(config, providers, "maturity_days"),
        domain_weight=_provider_array(config, providers, "domain_weight"),
        shared=shared, warm=warm, initial_history=history,
    )

    stream_marketing = np.array([s.kind == "marketing" for s in config.streams])
    complaint_base = np.array([s.complaint_probability for s in config.streams])
    unsubscribe_p = np.array([s.unsubscribe_probability for s in config.streams])
    mean_propensity = float(np.mean(audience.propensity[~audience.stale])) if (~audience.stale).any() else 0.4
    complaint_factor = np.clip(2.0 - audience.propensity / mean_propensity, 0.25, 2.0)

    # Scripted incidents as daily arrays.
    stream_names = [s.name for s in config.streams]
    calendar = np.array([s.trigger == "calendar" for s in config.streams])
    complaint_multiplier = np.ones((days, len(config.streams)))
    target_drop = np.zeros((days, n_providers, n_ips))
    for incident in config.incidents:
        span = slice(max(incident.start_day, 0), min(incident.start_day + incident.duration_days, days))
        if incident.kind == "complaint_spike":
            hit = (np.array([name in incident.streams for name in stream_names])
                   if incident.streams else calendar)
            complaint_multiplier[span, hit] *= incident.magnitude
        elif incident.kind == "neighbour":
            p_hit = np.array([incident.providers is None or p in incident.providers for p in providers])
            i_hit = np.array([c.shared and (incident.pool is None or c.pool == incident.pool) for c in ips])
            target_drop[span] += incident.magnitude * (p_hit[:, None] & i_hit[None, :])

    # Suppression list: when each recipient was suppressed, by cause.
    n_recipients = len(audience)
    suppressed_bounce = np.full(n_recipients, np.inf)
    suppressed_complaint = np.full(n_recipients, np.inf)
    suppressed_unsubscribe = np.full(n_recipients, np.inf)

    out_ip = ip.astype(np.int32).copy()
    outcome = np.zeros(n, np.int8)
    folder = np.zeros(n, np.int8)
    drop_reason = np.full(n, -1, np.int8)
    deferrals = np.zeros(n, np.int8)
    deferral_kind = np.zeros(n, np.int8)
    first_attempt = np.full(n, np.nan)
    jitter = np.ones(n)
    final_time = np.full(n, np.nan)
    complained = np.zeros(n, bool)
    complaint_time = np.full(n, np.nan)
    unsubscribed = np.zeros(n, bool)
    unsubscribe_time = np.full(n, np.nan)
    p_inbox = np.zeros(n)
    p_spam = np.zeros(n)
    p_missing = np.zeros(n)

    shape = (days, n_providers, n_ips)
    history = {name: np.zeros(shape) for name in
               ("score", "inbox_share", "block", "overflow", "cap", "maturity", "volume")}
    bounds = np.searchsorted(messages.day, np.arange(days + 1), side="left")
    n_cells = n_providers * n_ips

    for day in range(days):
        lo, hi = bounds[day], bounds[day + 1]
        who = messages.recipient[lo:hi]
        stream = messages.stream[lo:hi]
        sent = messages.send_time[lo:hi]
        cells = cell[lo:hi]
        prov = provider_of[lo:hi]
        size = hi - lo

        marketing = stream_marketing[stream]
        by_bounce = sent > suppressed_bounce[who]
        by_complaint = sent > suppressed_complaint[who]
        by_unsubscribe = marketing & (sent > suppressed_unsubscribe[who])
        dropped = by_bounce | by_complaint | by_unsubscribe
        attempted = ~dropped
        volume = np.bincount(cells[attempted], minlength=n_cells).reshape(n_providers, n_ips)

        score = process.score()
        inbox_share = placement_from_score(score, model)
        block = block_probability(score, block_ceiling[:, None], model)
        overflow = process.overflow_share(volume)
        history["score"][day] = score
        history["inbox_share"][day] = inbox_share
        history["block"][day] = block
        history["overflow"][day] = overflow
        history["cap"][day] = process.cap
        history["maturity"][day] = process.maturity
        history["volume"][day] = volume

        u = rng.random((size, 11))
        z = rng.standard_normal((size, 4))
        pi_m = inbox_share.ravel()[cells]
        b_m = block.ravel()[cells]
        o_m = overflow.ravel()[cells]
        ds_m = defer_share[prov]
        full_m = full_p[prov]

        invalid = attempted & (sent >= audience.invalid_from[who])
        valid = attempted & ~invalid
        blocked = valid & (u[:, 0] < b_m)
        full = valid & ~blocked & (u[:, 1] < full_m)
        rest = valid & ~blocked & ~full
        over = rest & (u[:, 2] < o_m)
        over_defer = over & (u[:, 3] < ds_m)
        expired = over_defer & (u[:, 4] >= eventual)
        over_spam = over & ~over_defer
        normal = rest & ~over
        transient = normal & (u[:, 5] < transient_p[prov])
        delivered = normal | over_spam | (over_defer & ~expired)
        inbox = delivered & ~over_spam & (u[:, 6] < pi_m)

        n_def = np.zeros(size, np.int64)
        n_def[transient] = 1 + (u[transient, 9] < 0.25) + (u[transient, 9] < 0.06)
        late = over_defer & ~expired
        n_def[late] = np.minimum(MAX_DEFERRALS - 1, 1 + np.floor(-np.log(u[late, 9] + 1e-12) / 0.4))
        n_def[expired | full] = MAX_DEFERRALS
        kind = np.zeros(size, np.int8)
        kind[transient] = 1
        kind[over_defer] = 2
        kind[full] = 3

        start_attempt = sent + np.exp(np.log(2.0) + 0.7 * z[:, 0])
        spread = np.clip(1.0 + 0.08 * z[:, 3], 0.8, 1.2)
        handshake = 0.3 + 2.0 * u[:, 10]  # seconds to transmit on the final attempt
        end = start_attempt + RETRY_OFFSETS_S[n_def] * np.where(n_def > 0, spread, 1.0) + handshake
        end = np.where(dropped, sent + 0.2 + u[:, 10], end)

        code = np.full(size, 0, np.int8)
        code[invalid] = 1
        code[blocked] = 2
        code[full] = 3
        code[expired] = 4
        code[dropped] = 5
        fold = np.where(inbox, 0, np.where(delivered, 1, 2)).astype(np.int8)

        c_prob = complaint_base[stream] * complaint_factor[who] * complaint_multiplier[day, stream]
        complaint = inbox & (u[:, 7] < c_prob)
        c_time = np.where(complaint, end + np.exp(np.log(3 * 3600.0) + 1.5 * z[:, 1]), np.nan)
        unsubscribe = inbox & marketing & (u[:, 8] < unsubscribe_p[stream])
        u_time = np.where(unsubscribe, end + np.exp(np.log(3600.0) + 1.5 * z[:, 2]), np.nan)

        np.minimum.at(suppressed_bounce, who[invalid], end[invalid])
        np.minimum.at(suppressed_complaint, who[complaint], c_time[complaint])
        np.minimum.at(suppressed_unsubscribe, who[unsubscribe], u_time[unsubscribe])

        # True folder probabilities of each message, given the day's process.
        accepted = (1.0 - b_m) * (1.0 - full_m)
        reached = (1.0 - o_m) + o_m * ds_m * eventual
        pin = np.where(valid, accepted * reached * pi_m, 0.0)
        pmiss = np.where(valid, b_m + (1.0 - b_m) * (full_m + (1.0 - full_m) * o_m * ds_m * (1 - eventual)), 1.0)
        psp = np.clip(1.0 - pin - pmiss, 0.0, 1.0)

        reason = np.full(size, -1, np.int8)
        reason[by_unsubscribe] = 2
        reason[by_complaint] = 1
        reason[by_bounce] = 0

        sl = slice(lo, hi)
        out_ip[sl] = np.where(dropped, -1, ip[lo:hi])
        outcome[sl] = code
        folder[sl] = fold
        drop_reason[sl] = reason
        deferrals[sl] = n_def
        deferral_kind[sl] = kind
        first_attempt[sl] = np.where(dropped, np.nan, start_attempt)
        jitter[sl] = spread
        final_time[sl] = end
        complained[sl] = complaint
        complaint_time[sl] = c_time
        unsubscribed[sl] = unsubscribe
        unsubscribe_time[sl] = u_time
        p_inbox[sl] = pin
        p_spam[sl] = psp
        p_missing[sl] = pmiss

        def count(mask, cells=cells):
            return np.bincount(cells[mask], minlength=n_cells).reshape(n_providers, n_ips)

        process.step(volume=volume.astype(float), inbox=count(inbox), complaints=count(complaint),
                     hard_bounces=count(invalid), overflow=overflow,
                     target_drop=target_drop[day], rng=rng)

    return Outcomes(
        routed_ip=ip.astype(np.int32), ip=out_ip, outcome=outcome, folder=folder, drop_reason=drop_reason, deferrals=deferrals,
        deferral_kind=deferral_kind, first_attempt=first_attempt, jitter=jitter,
        final_time=final_time, complained=complained, complaint_time=complaint_time,
        unsubscribed=unsubscribed, unsubscribe_time=unsubscribe_time, p_inbox=p_inbox,
        p_spam=p_spam, p_missing=p_missing, healthy_score=healthy, **history,
    )


def inbox_read_base(open_probability: float, relative_propensity: np.ndarray) -> float:
    """The per-stream base ``q`` of the read model ``p_i = 1 - (1 - q) ** (x_i / mean(x))``.

    A recipient with propensity ``x_i`` reads an inbox message with probability ``p_i``: the
    average recipient reads with ``q``, more engaged ones more often, and ``p_i`` stays below 1.
    ``q`` is solved (bisection) so that the audience mean of ``p_i`` equals the stream's
    ``open_probability``, which therefore *is* the mean inbox read rate.

    Parameters
    ----------
    open_probability : float
        Target mean read probability in the inbox [fraction 0-1].
    relative_propensity : array
        ``x_i / mean(x)`` over (a sample of) the audience [-].

    Returns
    -------
    float
        [fraction 0-1]
    """
    if open_probability <= 0.0:
        return 0.0
    low, high = 0.0, 1.0 - 1e-12
    for _ in range(60):
        mid = 0.5 * (low + high)
        mean = float(np.mean(-np.expm1(np.log1p(-mid) * relative_propensity)))
        low, high = (mid, high) if mean < open_probability else (low, mid)
    return 0.5 * (low + high)


@dataclass
class Engagement:
    """What recipients did with delivered mail (aligned with messages)."""

    read: np.ndarray             # a human read the message (seen)
    read_time: np.ndarray        # [s]
    seen_in_time: np.ndarray     # read within the stream's deadline after sending
    converted: np.ndarray        # the funnel step was completed
    human_opens: np.ndarray      # open events from the human read (0 for MPP readers)
    machine_open_time: np.ndarray  # first MPP proxy fetch [s], NaN if none
    machine_opens: np.ndarray    # MPP open events
    clicked: np.ndarray          # human click
    click_time: np.ndarray
    bot_clicked: np.ndarray      # security-scanner click
    bot_click_time: np.ndarray


def engage(config: SenderConfig, audience: Recipients, messages: Messages, outcomes: Outcomes,
           rng: np.random.Generator) -> Engagement:
    """Reads, opens (human and machine), clicks and conversions of every message.

    A human read happens in the inbox with a probability that averages the stream's
    ``open_probability`` and rises with the recipient's propensity (:func:`inbox_read_base`), times
    ``r`` (``spam_folder_engagement_ratio``) in the spam folder,
    never when missing. Apple Mail readers with MPP show machine opens only: the proxy fetches
    the pixel on receipt (``mpp_prefetch_probability``, inbox or spam) or when they read.
    Conversion depends on whether the message was read within the stream's deadline.
    """
    audience_config = config.audience
    n = len(messages)
    who, stream = messages.recipient, messages.stream
    provider = audience.provider[who]
    mean_propensity = float(np.mean(audience.propensity[~audience.stale])) if (~audience.stale).any() else 0.4

    r = np.array([s.spam_folder_engagement_ratio for s in config.streams])[stream]
    click_p = np.array([s.click_probability for s in config.streams])[stream]
    delay_median = np.array([s.open_delay_median_minutes * 60.0 for s in config.streams])[stream]
    delay_sigma = np.array([s.open_delay_sigma for s in config.streams])[stream]
    deadline = np.array([s.deadline_hours * 3600.0 for s in config.streams])[stream]
    if_seen = np.array([s.conversion_if_seen for s in config.streams])[stream]
    if_unseen = np.array([s.conversion_if_unseen for s in config.streams])[stream]
    scanner = np.array([config.providers[p].link_scanner_probability for p in audience.providers])[provider]

    u = rng.random((n, 6))
    z = rng.standard_normal((n, 5))
    extra = rng.poisson(audience_config.repeat_open_mean, size=n)

    in_inbox = outcomes.folder == 0
    in_spam = outcomes.folder == 1
    delivered = in_inbox | in_spam
    core = audience.propensity[~audience.stale] if (~audience.stale).any() else audience.propensity
    sample = core[:: max(1, len(core) // 20_000)] / mean_propensity
    base = np.array([inbox_read_base(s.open_probability, sample) for s in config.streams])[stream]
    p_read = -np.expm1(np.log1p(-base) * audience.propensity[who] / mean_propensity)
    p_read = np.where(in_inbox, p_read, np.where(in_spam, p_read * r, 0.0))
    read = u[:, 0] < p_read
    read_time = np.where(read, outcomes.final_time + np.exp(np.log(delay_median) + delay_sigma * z[:, 0]), np.nan)
    seen_in_time = read & (read_time - messages.send_time <= deadline)
    converted = u[:, 1] < np.where(seen_in_time, if_seen, if_unseen)

    apple = audience.apple_mail[who]
    prefetch = delivered & apple & (u[:, 2] < audience_config.mpp_prefetch_probability)
    prefetch_time = outcomes.final_time + np.exp(np.log(90.0) + 1.2 * z[:, 1])
    machine_time = np.where(prefetch, prefetch_time, np.where(apple & read, read_time, np.nan))
    has_machine = np.isfinite(machine_time)
    machine_opens = np.where(has_machine, 1 + np.minimum(extra, 9), 0).astype(np.int8)
    human_opens = np.where(read & ~apple, 1 + np.minimum(extra, 9), 0).astype(np.int8)

    clicked = read & (u[:, 3] < click_p)
    click_time = np.where(clicked, read_time + np.exp(np.log(20.0) + 1.2 * z[:, 2]), np.nan)
    bot = delivered & (u[:, 4] < scanner)
    bot_time = np.where(bot, outcomes.final_time + np.exp(np.log(4.0) + 0.8 * z[:, 3]), np.nan)
    return Engagement(
        read=read, read_time=read_time, seen_in_time=seen_in_time, converted=converted,
        human_opens=human_opens, machine_open_time=machine_time, machine_opens=machine_opens,
        clicked=clicked, click_time=click_time, bot_clicked=bot, bot_click_time=bot_time,
    )
