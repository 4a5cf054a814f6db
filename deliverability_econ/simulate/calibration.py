"""Calibration data a real sender would have: seed-list tests, Google Postmaster Tools and
Microsoft SNDS, sampled from the simulation's true process.

Each table mimics what the source reports and nothing more (no hidden truth columns beyond the
counts the source shows): seed tests are counts of seed mailboxes per folder (M1, F22);
Postmaster is Gmail's daily view of the sending domain (F4, F5: spam reports over inbox-placed
mail, shown only above a volume floor); SNDS is Microsoft's daily view per dedicated IP (F13:
filter verdict bands, complaints over recipients on the day of the complaint, days under 100
messages omitted). SNDS is only available for IPs you own, so a shared pool has no rows.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pandas as pd

from ..schema import MAILBOX_PROVIDERS
from .config import SenderConfig
from .engine import Outcomes
from .reputation import block_probability, placement_from_score
from .schedule import DAY_S, Messages, Recipients

#: Output columns, the same (names, order, dtypes) as the calibration readers produce
#: (``deliverability_econ.io.seedtests``, ``.postmaster``, ``.snds``), so a simulated table and
#: a real one feed the models alike; see those readers for each column's meaning and unit.
SEED_TEST_COLUMNS = ("date", "mailbox_provider", "inbox", "spam", "missing", "seeds", "test_id",
                     "stream", "campaign", "provider_label")
POSTMASTER_COLUMNS = (
    "date", "domain", "spam_rate", "spam_rate_low", "spam_rate_high", "domain_reputation",
    "ip_count", "ip_reputation_high", "ip_reputation_medium", "ip_reputation_low",
    "ip_reputation_bad", "spf_success_ratio", "dkim_success_ratio", "dmarc_success_ratio",
    "outbound_encryption_ratio", "inbound_encryption_ratio", "permanent_error_ratio",
    "temporary_error_ratio", "top_delivery_error", "inbox", "spam_reports",
)
SNDS_COLUMNS = (
    "ip", "activity_start", "activity_end", "rcpt_commands", "data_commands",
    "message_recipients", "filter_result", "complaint_rate", "complaint_rate_is_upper_bound",
    "trap_period_start", "trap_period_end", "trap_hits", "sample_helo", "sample_mail_from",
    "comments",
)

REPUTATION_LEVELS = ("BAD", "LOW", "MEDIUM", "HIGH")
FILTER_RESULTS = ("GREEN", "YELLOW", "RED")
#: SNDS shows complaint rates under 0.1% as "< 0.1%" (log-formats.md section 10).
SNDS_COMPLAINT_FLOOR = 0.001

#: Postmaster domain-reputation bands on the latent score, F19's Sender Score bands:
#: HIGH 91-100, MEDIUM 81-90, LOW 71-80, BAD 70 and below [score points].
REPUTATION_BANDS: tuple[tuple[float, str], ...] = ((91.0, "HIGH"), (81.0, "MEDIUM"), (71.0, "LOW"))

#: SNDS filter verdicts by the share of an IP's mail judged spam, F13: GREEN under 10%,
#: YELLOW 10-90%, RED over 90%.
SNDS_GREEN_BELOW = 0.10
SNDS_RED_ABOVE = 0.90


def reputation_band(score: np.ndarray) -> np.ndarray:
    """Postmaster-style reputation band of latent scores (:data:`REPUTATION_BANDS`)."""
    score = np.asarray(score, dtype=float)
    out = np.full(score.shape, "BAD", dtype=object)
    for threshold, band in reversed(REPUTATION_BANDS):
        out[score >= threshold] = band
    return out


def snds_filter_result(spam_share: np.ndarray) -> np.ndarray:
    """SNDS filter verdict of the share of mail judged spam (F13)."""
    spam_share = np.asarray(spam_share, dtype=float)
    return np.where(spam_share < SNDS_GREEN_BELOW, "GREEN",
                    np.where(spam_share > SNDS_RED_ABOVE, "RED", "YELLOW"))


def wilson_interval(successes, trials, confidence: float = 0.95):
    """Wilson score interval of a binomial proportion (Postmaster's ratio bounds, F4).

    Returns
    -------
    (lower, upper) : arrays [fraction 0-1]; NaN where ``trials`` is 0.
    """
    successes = np.asarray(successes, dtype=float)
    trials = np.asarray(trials, dtype=float)
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = successes / trials
        denominator = 1.0 + z**2 / trials
        centre = (p + z**2 / (2 * trials)) / denominator
        half = z * np.sqrt(p * (1 - p) / trials + z**2 / (4 * trials**2)) / denominator
    # Exact ends at 0 and n successes (the formula leaves rounding noise there).
    lower = np.where(trials > 0, np.where(successes == 0, 0.0, np.clip(centre - half, 0, 1)), np.nan)
    upper = np.where(trials > 0, np.where(successes == trials, 1.0, np.clip(centre + half, 0, 1)), np.nan)
    return lower, upper


def _dates(start: pd.Timestamp, days: np.ndarray) -> pd.Series:
    """Calendar dates as the readers give them: midnight, timezone-naive datetime64[ns]."""
    stamps = start.tz_localize(None) + pd.to_timedelta(np.asarray(days, dtype=np.int64), unit="D")
    return pd.Series(pd.DatetimeIndex(stamps).astype("datetime64[ns]"))


def _empty(columns) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})


def _day_of(seconds: np.ndarray) -> np.ndarray:
    return np.floor(np.nan_to_num(seconds, nan=-1.0) / DAY_S).astype(np.int64)


def seed_tests(config: SenderConfig, audience: Recipients, messages: Messages, outcomes: Outcomes,
               start: pd.Timestamp, days: int, rng: np.random.Generator) -> pd.DataFrame:
    """Seed-list placement tests sampled from the true process (M1).

    Seeds ride on the tested stream's send: each provider's seeds are spread over the IPs the
    stream used at that provider that day (by volume), and each seed lands in the inbox, the
    spam folder or nowhere with that IP's true probabilities (maintained mailboxes: no hard
    bounces, no full mailboxes; ``seed_bias`` shifts their score, F22).

    Returns
    -------
    DataFrame
        :data:`SEED_TEST_COLUMNS`: ``date``, ``mailbox_provider``, ``inbox``, ``spam``,
        ``missing``, ``seeds`` [seed mailboxes], ``test_id``, ``stream``, ``campaign``.
    """
    seed_list = config.seed_list
    model = config.reputation
    providers = audience.providers
    n_ips = len(config.infrastructure.ips)
    names = [s.name for s in config.streams]
    if seed_list.stream is not None:
        stream_index = names.index(seed_list.stream)
    else:
        calendar = [k for k, s in enumerate(config.streams) if s.trigger == "calendar"]
        stream_index = calendar[0] if calendar else None

    attempted = outcomes.ip >= 0
    provider_of = audience.provider[messages.recipient].astype(np.int64)
    if stream_index is not None:
        of_stream = attempted & (messages.stream == stream_index)
    else:
        of_stream = attempted
    volume = np.zeros((days, len(providers), n_ips))
    np.add.at(volume, (messages.day[of_stream], provider_of[of_stream], outcomes.ip[of_stream]), 1.0)
    send_days = np.flatnonzero(volume.sum(axis=(1, 2)) > 0)
    test_days: list[int] = []
    for day in send_days:
        if not test_days or day >= test_days[-1] + seed_list.every_days:
            test_days.append(int(day))

    defer_share = np.array([config.providers[p].overflow_defer_share for p in providers])
    block_ceiling = np.array([config.providers[p].block_ceiling for p in providers])
    eventual = model.overflow_eventual_delivery
    rows = []
    for day in test_days:
        first = np.flatnonzero(of_stream & (messages.day == day))
        campaign = messages.campaigns[messages.campaign[first[0]]] if len(first) else None
        for p, provider in enumerate(providers):
            n_seeds = int(seed_list.seeds.get(provider, 0))
            if n_seeds <= 0:
                continue
            weights = volume[day, p]
            if weights.sum() == 0:
                weights = outcomes.volume[day, p]
            if weights.sum() == 0:
                weights = volume[day].sum(axis=0)
            per_ip = rng.multinomial(n_seeds, weights / weights.sum())
            score = outcomes.score[day, p] + seed_list.seed_bias
            inbox_share = placement_from_score(score, model)
            block = block_probability(score, block_ceiling[p], model)
            overflow = outcomes.overflow[day, p]
            reached = (1 - overflow) + overflow * defer_share[p] * eventual
            p_inbox = (1 - block) * reached * inbox_share
            p_missing = block + (1 - block) * overflow * defer_share[p] * (1 - eventual)
            p_spam = np.clip(1 - p_inbox - p_missing, 0, 1)
            counts = np.zeros(3, np.int64)
            for i in np.flatnonzero(per_ip):
                probabilities = np.array([p_inbox[i], p_spam[i], p_missing[i]])
                counts += rng.multinomial(per_ip[i], probabilities / probabilities.sum())
            rows.append({
                "day": day, "mailbox_provider": provider, "inbox": counts[0], "spam": counts[1],
                "missing": counts[2], "seeds": n_seeds,
                "test_id": f"seedtest-{(start + pd.Timedelta(days=day)):%Y%m%d}",
                "stream": names[stream_index] if stream_index is not None else None,
                "campaign": campaign, "provider_label": provider,
            })
    if not rows:
        return _empty(SEED_TEST_COLUMNS)
    frame = pd.DataFrame(rows)
    out = pd.DataFrame({
        "date": _dates(start, frame["day"]),
        "mailbox_provider": pd.Categorical(frame["mailbox_provider"], categories=list(MAILBOX_PROVIDERS)),
    })
    for column in ("inbox", "spam", "missing"):
        out[column] = frame[column].astype("int64")
    out["seeds"] = frame["seeds"].astype("Int64")
    for column in ("test_id", "stream", "campaign", "provider_label"):
        out[column] = frame[column].astype("string")
    return out.sort_values(["date", "mailbox_provider"], kind="stable", ignore_index=True)


def postmaster(config: SenderConfig, audience: Recipients, messages: Messages,
               outcomes: Outcomes, start: pd.Timestamp, days: int) -> pd.DataFrame:
    """A Google Postmaster Tools-like daily table for the sending domain (F4, F5, F6).

    ``spam_rate`` is spam reports over messages placed in the inbox that day (DKIM-signed mail
    only, which all simulated mail is), with Wilson 95% bounds as ``spam_rate_low`` /
    ``spam_rate_high``; ``inbox`` and ``spam_reports`` are the counts behind it (Google shows
    neither; kept so the rate can be re-weighted). ``domain_reputation`` bands the
    volume-weighted Gmail score with F19's bands, and ``ip_reputation_*`` give the share of the
    day's sending IPs in each band. ``permanent_error_ratio`` counts reputation blocks (5.7.1,
    ``SUSPECTED_SPAM``) and ``temporary_error_ratio`` rate-limit deferrals (4.7.28,
    ``RATE_LIMIT_EXCEEDED``) over the day's attempted messages. Days with fewer than
    ``config.postmaster_min_daily_recipients`` Gmail recipients have no row (F5). Complaints
    count on the day they are made, inbox placements on the day of delivery.

    Returns
    -------
    DataFrame
        :data:`POSTMASTER_COLUMNS`; empty when the audience has no Gmail recipients.
    """
    if "gmail" not in audience.providers:
        return _empty(POSTMASTER_COLUMNS)
    g = audience.providers.index("gmail")
    gmail = audience.provider[messages.recipient] == g
    attempted = gmail & (outcomes.ip >= 0)
    send_day = messages.day
    recipients_per_day = np.zeros(days, np.int64)
    if attempted.any() and days * len(audience) <= 50_000_000:
        seen = np.zeros((days, len(audience)), bool)
        seen[send_day[attempted], messages.recipient[attempted]] = True
        recipients_per_day = seen.sum(axis=1)
    elif attempted.any():
        pairs = np.unique(send_day[attempted].astype(np.int64) * len(audience)
                          + messages.recipient[attempted])
        recipients_per_day = np.bincount(pairs // len(audience), minlength=days)[:days]

    def per_day(mask):
        return np.bincount(send_day[mask], minlength=days)[:days].astype(float)

    attempts = per_day(attempted)
    blocked = per_day(attempted & (outcomes.outcome == 2))
    rate_limited = per_day(attempted & (outcomes.deferral_kind == 2))

    inbox_day = _day_of(outcomes.final_time[gmail & (outcomes.folder == 0)])
    inbox = np.bincount(inbox_day[(inbox_day >= 0) & (inbox_day < days)], minlength=days)[:days]
    complaint_day = _day_of(outcomes.complaint_time[gmail & outcomes.complained])
    complaints = np.bincount(complaint_day[(complaint_day >= 0) & (complaint_day < days)],
                             minlength=days)[:days]

    volume = outcomes.volume[:, g, :]
    total = volume.sum(axis=1)
    bands = reputation_band(outcomes.score[:, g, :])
    active = volume > 0
    ip_count = active.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        score = (outcomes.score[:, g, :] * volume).sum(axis=1) / total
        ratio = complaints / inbox
        permanent_ratio = blocked / attempts
        temporary_ratio = rate_limited / attempts
        band_share = {band: ((bands == band) & active).sum(axis=1) / ip_count for band in REPUTATION_LEVELS}
    lower, upper = wilson_interval(complaints, inbox)
    top_error = np.where(
        (permanent_ratio >= temporary_ratio) & (permanent_ratio > 0), "SUSPECTED_SPAM",
        np.where(temporary_ratio > 0, "RATE_LIMIT_EXCEEDED", None))
    shown = (recipients_per_day >= config.postmaster_min_daily_recipients) & (total > 0)
    k = np.flatnonzero(shown)
    if not len(k):
        return _empty(POSTMASTER_COLUMNS)
    ones = np.ones(len(k))
    return pd.DataFrame({
        "date": _dates(start, k),
        "domain": pd.array([config.sender_domain] * len(k), dtype="string"),
        "spam_rate": ratio[k],
        "spam_rate_low": lower[k],
        "spam_rate_high": upper[k],
        "domain_reputation": pd.Categorical(reputation_band(score[k]),
                                            categories=list(REPUTATION_LEVELS), ordered=True),
        "ip_count": pd.array(ip_count[k], dtype="Int64"),
        "ip_reputation_high": band_share["HIGH"][k],
        "ip_reputation_medium": band_share["MEDIUM"][k],
        "ip_reputation_low": band_share["LOW"][k],
        "ip_reputation_bad": band_share["BAD"][k],
        "spf_success_ratio": ones,
        "dkim_success_ratio": ones,
        "dmarc_success_ratio": ones,
        "outbound_encryption_ratio": ones,
        "inbound_encryption_ratio": ones,
        "permanent_error_ratio": permanent_ratio[k],
        "temporary_error_ratio": temporary_ratio[k],
        "top_delivery_error": pd.array(top_error[k], dtype="string"),
        "inbox": pd.array(inbox[k], dtype="Int64"),
        "spam_reports": pd.array(complaints[k], dtype="Int64"),
    })


def snds(config: SenderConfig, audience: Recipients, messages: Messages, outcomes: Outcomes,
         start: pd.Timestamp, days: int) -> pd.DataFrame:
    """Microsoft SNDS-like rows per dedicated IP and day (F13; log-formats.md section 10).

    ``rcpt_commands`` counts every attempt (retries included), ``data_commands`` and
    ``message_recipients`` the accepted messages; ``filter_result`` bands the share judged spam
    (spam-foldered or blocked, of delivered plus blocked); ``complaint_rate`` is complaints made
    that day over that day's recipients, shown as the 0.1% bound with
    ``complaint_rate_is_upper_bound`` when below it (as SNDS shows "< 0.1%"); ``trap_hits``
    are messages to recycled spam traps. Activity windows are UTC days. Cohorts other than
    complaints are by send day.

    Returns
    -------
    DataFrame
        :data:`SNDS_COLUMNS`; empty for a shared pool or without Microsoft recipients.
    """
    ips = config.infrastructure.ips
    dedicated = [k for k, ip in enumerate(ips) if not ip.shared]
    if "microsoft" not in audience.providers or not dedicated:
        return _empty(SNDS_COLUMNS)
    ms = audience.providers.index("microsoft")
    microsoft = audience.provider[messages.recipient] == ms
    day = messages.day
    rows = []
    for k in dedicated:
        on_ip = microsoft & (outcomes.ip == k)
        if not on_ip.any():
            continue

        def per_day(mask, weights=None):
            return np.bincount(day[mask], weights=weights, minlength=days)[:days]

        attempts = per_day(on_ip, outcomes.deferrals[on_ip].astype(float) + 1.0)
        delivered = per_day(on_ip & (outcomes.folder <= 1))
        spam = per_day(on_ip & (outcomes.folder == 1))
        blocked = per_day(on_ip & (outcomes.outcome == 2))
        complaint_day = _day_of(outcomes.complaint_time[on_ip & outcomes.complained])
        complaints = np.bincount(complaint_day[(complaint_day >= 0) & (complaint_day < days)],
                                 minlength=days)[:days]
        trap = on_ip & audience.trap[messages.recipient]
        trap_hits = per_day(trap)
        with np.errstate(divide="ignore", invalid="ignore"):
            judged = (spam + blocked) / (delivered + blocked)
            complaint_rate = complaints / delivered
        for d in np.flatnonzero(delivered >= config.snds_min_daily_messages):
            trap_times = messages.send_time[trap & (day == d)]
            first_trap = start + pd.to_timedelta(trap_times.min(), unit="s") if len(trap_times) else pd.NaT
            last_trap = start + pd.to_timedelta(trap_times.max(), unit="s") if len(trap_times) else pd.NaT
            below_floor = bool(complaint_rate[d] < SNDS_COMPLAINT_FLOOR)
            rows.append({
                "ip": ips[k].address,
                "activity_start": start + pd.Timedelta(days=int(d)),
                "activity_end": start + pd.Timedelta(days=int(d) + 1),
                "rcpt_commands": int(attempts[d]),
                "data_commands": int(delivered[d]),
                "message_recipients": int(delivered[d]),
                "filter_result": str(snds_filter_result(judged[d])),
                "complaint_rate": SNDS_COMPLAINT_FLOOR if below_floor else float(complaint_rate[d]),
                "complaint_rate_is_upper_bound": below_floor,
                "trap_period_start": first_trap,
                "trap_period_end": last_trap,
                "trap_hits": int(trap_hits[d]),
                "sample_helo": f"o{k + 1}.ptr{4000 + k}.{config.sender_domain}",
                "sample_mail_from": f"bounces@{config.sender_domain}",
                "comments": "",
            })
    if not rows:
        return _empty(SNDS_COLUMNS)
    frame = pd.DataFrame(rows, columns=list(SNDS_COLUMNS))
    utc = pd.DatetimeTZDtype(unit="ns", tz="UTC")
    for column in ("activity_start", "activity_end", "trap_period_start", "trap_period_end"):
        frame[column] = pd.to_datetime(frame[column], utc=True).astype(utc)
    frame["filter_result"] = pd.Categorical(frame["filter_result"], categories=list(FILTER_RESULTS),
                                            ordered=True)
    for column in ("ip", "sample_helo", "sample_mail_from", "comments"):
        frame[column] = frame[column].astype("string")
    return frame.sort_values(["activity_start", "ip"], kind="stable", ignore_index=True)
