"""The orchestrator: :func:`sender` runs every step and returns a :class:`SimulationResult`."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .._random import RandomState, check_random_state
from ..schema import MAILBOX_PROVIDERS
from . import _strings as S
from .calibration import postmaster, seed_tests, snds
from .config import SenderConfig
from .engine import FOLDERS, OUTCOMES, Engagement, Outcomes, engage, run
from .events import build_events
from .reputation import placement_from_score
from .scenarios import scenario_config
from .schedule import DAY_S, Messages, Recipients, draw_messages, draw_recipients, route

#: The framework quarantines events later than now + this [s] (io._base.DEFAULT_MAX_FUTURE_S).
_READER_FUTURE_TOLERANCE_S = 2 * 86_400.0


class SimulationWarning(UserWarning):
    """A simulation request that will give surprising data downstream."""


@dataclass
class SimulationResult:
    """Everything a simulated sender produced, logs and ground truth.

    Attributes
    ----------
    events : DataFrame
        Canonical events (``schema.EVENT_DTYPES``), sorted by time, with **clear** recipient
        addresses (for the format writers; readers pseudonymize). Events after ``end`` are
        not emitted.
    event_details : DataFrame (property, built on first access)
        Row-aligned with ``events``: ``event_id``, ``smtp_reply`` (clear), ``smtp_code``,
        ``attempt``, ``remote_mta``, ``url``, ``user_agent``, ``client_ip``
        (:data:`~.events.DETAIL_COLUMNS`), for the format writers.
    messages_truth : DataFrame
        One row per message with its true fate: ``folder`` (inbox / spam / missing, where
        missing means never delivered, including dropped), ``outcome``, the true folder
        probabilities ``p_inbox``, ``p_spam``, ``p_missing`` on the send day, engagement truth
        (``read``, ``opened_machine``, ``clicked``, ``complained`` and whether the complaint was
        ``complaint_reported`` to the ESP) and the funnel truth (``seen_in_time``,
        ``converted``). Times are UTC.
    truth : DataFrame
        Daily true counts per ``date`` (send day) x ``mailbox_provider`` x ``sending_ip`` x
        ``ip_pool`` x ``stream``: ``messages`` (all, dropped included), ``dropped``,
        ``delivered``, ``inbox``, ``spam``, ``missing``, ``hard_bounced``, ``blocked``,
        ``expired``, ``deferred`` (messages deferred at least once), ``complained``, ``read``,
        ``converted``; realized rates ``inbox_rate``, ``spam_rate``, ``missing_rate`` [fraction
        of messages] and expected ones ``inbox_probability``, ``spam_probability``,
        ``missing_probability`` (mean true probabilities). Dropped messages have no
        ``sending_ip``.
    reputation : DataFrame
        The true process per ``date`` x ``mailbox_provider`` x ``sending_ip``:
        ``reputation_score`` [points], ``inbox_share`` and ``block_probability`` [fraction],
        ``overflow_share`` [fraction of the day's volume above the cap], ``acceptance_cap``
        [messages/day; inf for shared IPs], ``maturity`` [0-1], ``volume`` [messages].
    seed_tests : DataFrame
        Seed-list results: ``date``, ``mailbox_provider``, ``inbox``, ``spam``, ``missing``,
        ``seeds`` [mailboxes], ``test_id``, ``stream``, ``campaign``.
    postmaster : DataFrame
        Google Postmaster Tools-like daily rows for Gmail: ``spam_rate`` (reports over inbox,
        F4) with its bounds and counts, ``domain_reputation``, error ratios.
    snds : DataFrame
        Microsoft SNDS-like rows per dedicated IP and day (none for shared pools): filter
        verdict (F13), complaint rate, trap hits.

    The three calibration tables have the columns and dtypes of the matching readers'
    output (:mod:`deliverability_econ.io.seedtests`, ``.postmaster``, ``.snds``).
    parameters : dict
        The configuration (``config``, and ``config_dict`` as plain data), ``scenario``,
        ``start``, ``end``, ``days``, ``recipients``, the healthy scores per provider, the warm-up
        allowances applied, realized audience shares and the stream parameters table.
    """

    events: pd.DataFrame
    details_builder: Callable[[], pd.DataFrame] = field(repr=False)
    messages_truth: pd.DataFrame
    truth: pd.DataFrame
    reputation: pd.DataFrame
    seed_tests: pd.DataFrame
    postmaster: pd.DataFrame
    snds: pd.DataFrame
    parameters: dict[str, Any] = field(default_factory=dict)
    _event_details: pd.DataFrame | None = field(default=None, init=False, repr=False)

    @property
    def event_details(self) -> pd.DataFrame:
        """Wire details row-aligned with ``events`` (see the class docstring)."""
        if self._event_details is None:
            self._event_details = self.details_builder()
        return self._event_details

    def __repr__(self) -> str:
        p = self.parameters
        return (
            f"SimulationResult(scenario={p.get('scenario')!r}, days={p.get('days')}, "
            f"recipients={p.get('recipients')}, messages={len(self.messages_truth):,}, "
            f"events={len(self.events):,})"
        )


def _start_timestamp(start: Any) -> pd.Timestamp:
    stamp = pd.Timestamp(start)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    if stamp != stamp.normalize():
        raise ValueError(f"start must be a date (UTC midnight), not {start!r}")
    return stamp


def _addresses(audience: Recipients) -> pa.Array:
    """``user012345@gmail.com``: a distinct number per recipient over the domain mix."""
    numbers = pc.cast(pa.array(audience.number), pa.string())
    local = pc.utf8_lpad(numbers, width=audience.number_width, padding="0")
    domains = S.take(audience.domains, audience.domain)
    return pc.binary_join_element_wise("user", local, "@", domains, "")


def sender(
    config: SenderConfig | None = None,
    *,
    days: int = 90,
    recipients: int = 50_000,
    scenario: str = "baseline",
    random_state: RandomState = None,
    start: Any = "2026-06-01",
) -> SimulationResult:
    """Simulate a sender's logs and the ground truth behind them.

    Parameters
    ----------
    config : SenderConfig, optional
        The sender. When None, the named ``scenario`` is built for ``days``
        (:data:`~.scenarios.SCENARIOS`).
    days : int
        Simulated days [days]; day 0 is ``start``.
    recipients : int
        Audience size [recipients] (a list-hygiene incident adds its stale segment on top).
    scenario : str
        Scenario name, used only when ``config`` is None.
    random_state : None, int or numpy.random.Generator
        Every draw comes from this one generator; the same seed gives identical tables.
    start : str, date or Timestamp
        First day, a UTC date. Keep the whole period in the past: readers quarantine events
        more than two days in the future (a :class:`SimulationWarning` says so).

    Returns
    -------
    SimulationResult

    Examples
    --------
    >>> result = sender(days=14, recipients=500, random_state=7, start="2026-06-01")
    >>> sorted(result.truth["mailbox_provider"].unique())[:3]
    ['apple', 'att', 'comcast']
    >>> bool((result.events["timestamp"] < pd.Timestamp("2026-06-15", tz="UTC")).all())
    True
    """
    if config is None:
        config = scenario_config(scenario, days=days)
    elif scenario != "baseline":
        raise ValueError("pass either a config or a scenario name, not both")
    if int(days) != days or days < 1:
        raise ValueError(f"days must be a positive integer, not {days!r}")
    if int(recipients) != recipients or recipients < 1:
        raise ValueError(f"recipients must be a positive integer, not {recipients!r}")
    days, recipients = int(days), int(recipients)
    start_ts = _start_timestamp(start)
    end_ts = start_ts + pd.Timedelta(days=days)
    now = pd.Timestamp.now(tz="UTC")
    if end_ts > now + pd.Timedelta(seconds=_READER_FUTURE_TOLERANCE_S):
        warnings.warn(
            f"the simulation ends {end_ts.date()}, after today ({now.date()}) plus two days: "
            "readers will quarantine the later events as 'in the future'; pass an earlier start",
            SimulationWarning, stacklevel=2,
        )

    rng = check_random_state(random_state)
    run_key = int(rng.integers(0, 2**62))
    audience = draw_recipients(config, recipients, days, rng)
    messages = draw_messages(config, audience, days, start_ts, rng)
    ip, allowances = route(config, messages, audience, days, rng)
    outcomes = run(config, audience, messages, ip, days, rng)
    engagement = engage(config, audience, messages, outcomes, rng)

    addresses = _addresses(audience)
    message_ids = S.base64url_ids(run_key ^ 0x4D455353, np.arange(len(messages)))
    events, details_builder = build_events(config, audience, messages, outcomes, engagement, addresses,
                                   message_ids, run_key, start_ts, days, rng)
    messages_truth = _messages_truth(config, audience, messages, outcomes, engagement, addresses,
                                     message_ids, start_ts)
    truth = _truth_table(config, audience, messages, outcomes, engagement, start_ts)
    reputation = _reputation_table(config, audience, outcomes, start_ts, days)
    parameters = _parameters(config, audience, outcomes, allowances, scenario, start_ts, end_ts,
                             days, recipients, run_key)
    return SimulationResult(
        events=events,
        details_builder=details_builder,
        messages_truth=messages_truth,
        truth=truth,
        reputation=reputation,
        seed_tests=seed_tests(config, audience, messages, outcomes, start_ts, days, rng),
        postmaster=postmaster(config, audience, messages, outcomes, start_ts, days),
        snds=snds(config, audience, messages, outcomes, start_ts, days),
        parameters=parameters,
    )


def _categorical(codes: np.ndarray, categories) -> pd.Categorical:
    return pd.Categorical.from_codes(np.asarray(codes, dtype=np.int64), categories=list(categories))


def _messages_truth(config: SenderConfig, audience: Recipients, messages: Messages,
                    outcomes: Outcomes, engagement: Engagement, addresses: pa.Array,
                    message_ids: pa.Array, start: pd.Timestamp) -> pd.DataFrame:
    n = len(messages)
    index = pd.RangeIndex(n)
    who = messages.recipient
    provider_names = audience.providers
    provider = audience.provider[who]
    ips = config.infrastructure.ips
    feedback = np.array([config.providers[p].feedback_loop for p in provider_names])
    start_ns = int(start.value)
    delivered_time = np.where(outcomes.outcome == 0, outcomes.final_time, np.nan)
    return pd.DataFrame(
        {
            "message_id": S.to_string_series(message_ids, index),
            "send_time": S.utc_timestamps(start_ns, messages.send_time),
            "date": S.utc_timestamps(start_ns, messages.day * DAY_S),
            "recipient": S.to_string_series(pc.take(addresses, pa.array(who)), index),
            "recipient_domain": S.to_string_series(S.take(audience.domains, audience.domain[who]), index),
            "mailbox_provider": pd.Categorical.from_codes(
                np.array([MAILBOX_PROVIDERS.index(p) for p in provider_names])[provider],
                categories=list(MAILBOX_PROVIDERS)),
            "stream": S.to_string_series(S.take([s.name for s in config.streams], messages.stream), index),
            "campaign": S.to_string_series(S.take(messages.campaigns, messages.campaign), index),
            "ip_pool": S.to_string_series(S.take([ip.pool for ip in ips], outcomes.routed_ip), index),
            "sending_ip": S.to_string_series(S.take([ip.address for ip in ips], outcomes.ip), index),
            "outcome": _categorical(outcomes.outcome, OUTCOMES),
            "folder": _categorical(outcomes.folder, FOLDERS),
            "deferred_attempts": outcomes.deferrals.astype(np.int16),
            "delivered_time": S.utc_timestamps(start_ns, delivered_time),
            "p_inbox": outcomes.p_inbox,
            "p_spam": outcomes.p_spam,
            "p_missing": outcomes.p_missing,
            "apple_mail": audience.apple_mail[who],
            "engagement_propensity": audience.propensity[who],
            "stale_segment": audience.stale[who],
            "read": engagement.read,
            "read_time": S.utc_timestamps(start_ns, engagement.read_time),
            "opened_human": engagement.human_opens > 0,
            "opened_machine": engagement.machine_opens > 0,
            "clicked": engagement.clicked,
            "clicked_machine": engagement.bot_clicked,
            "complained": outcomes.complained,
            "complaint_reported": outcomes.complained & feedback[provider],
            "unsubscribed": outcomes.unsubscribed,
            "seen_in_time": engagement.seen_in_time,
            "converted": engagement.converted,
        },
        index=index,
    )


def _truth_table(config: SenderConfig, audience: Recipients, messages: Messages,
                 outcomes: Outcomes, engagement: Engagement, start: pd.Timestamp) -> pd.DataFrame:
    ips = config.infrastructure.ips
    pools = sorted({ip.pool for ip in ips})
    pool_of_ip = np.array([pools.index(ip.pool) for ip in ips])
    n_providers, n_ips, n_pools, n_streams = len(audience.providers), len(ips), len(pools), len(config.streams)
    provider = audience.provider[messages.recipient].astype(np.int64)
    key = messages.day.astype(np.int64)
    for value, size in ((provider, n_providers), (outcomes.ip.astype(np.int64) + 1, n_ips + 1),
                        (pool_of_ip[outcomes.routed_ip], n_pools), (messages.stream.astype(np.int64), n_streams)):
        key = key * size + value
    # Dense key space (days x providers x IPs x pools x streams): count without sorting.
    present = np.zeros(int(key.max()) + 1 if len(key) else 0, bool)
    present[key] = True
    unique = np.flatnonzero(present)
    inverse = (np.cumsum(present) - 1)[key]

    def total(values) -> np.ndarray:
        return np.bincount(inverse, weights=np.asarray(values, dtype=float), minlength=len(unique))

    counts = {
        "messages": total(np.ones(len(messages))),
        "dropped": total(outcomes.outcome == 5),
        "delivered": total(outcomes.folder <= 1),
        "inbox": total(outcomes.folder == 0),
        "spam": total(outcomes.folder == 1),
        "missing": total(outcomes.folder == 2),
        "hard_bounced": total(outcomes.outcome == 1),
        "blocked": total(outcomes.outcome == 2),
        "expired": total(np.isin(outcomes.outcome, [3, 4])),
        "deferred": total(outcomes.deferrals > 0),
        "complained": total(outcomes.complained),
        "read": total(engagement.read),
        "converted": total(engagement.converted),
    }
    expected = {
        "inbox_probability": total(outcomes.p_inbox),
        "spam_probability": total(outcomes.p_spam),
        "missing_probability": total(outcomes.p_missing),
    }
    rest = unique.copy()
    stream = rest % n_streams
    rest //= n_streams
    pool = rest % n_pools
    rest //= n_pools
    ip = rest % (n_ips + 1) - 1
    rest //= n_ips + 1
    provider_code = rest % n_providers
    day = rest // n_providers
    frame = pd.DataFrame({
        "date": pd.DatetimeIndex(start + pd.to_timedelta(day, unit="D")),
        "mailbox_provider": pd.Categorical(np.array(audience.providers)[provider_code],
                                           categories=list(MAILBOX_PROVIDERS)),
        "sending_ip": pd.array(S.take([i.address for i in ips], ip).to_pylist(), dtype="string"),
        "ip_pool": pd.array(np.array(pools)[pool], dtype="string"),
        "stream": pd.array(np.array([s.name for s in config.streams])[stream], dtype="string"),
    })
    for name, values in counts.items():
        frame[name] = values.astype(np.int64)
    messages_count = counts["messages"]
    for name in ("inbox", "spam", "missing"):
        frame[f"{name}_rate"] = counts[name] / messages_count
    for name, values in expected.items():
        frame[name] = values / messages_count
    return frame


def _reputation_table(config: SenderConfig, audience: Recipients, outcomes: Outcomes,
                      start: pd.Timestamp, days: int) -> pd.DataFrame:
    ips = config.infrastructure.ips
    n_providers, n_ips = len(audience.providers), len(ips)
    day, provider, ip = np.meshgrid(np.arange(days), np.arange(n_providers), np.arange(n_ips), indexing="ij")
    day, provider, ip = day.ravel(), provider.ravel(), ip.ravel()
    return pd.DataFrame({
        "date": pd.DatetimeIndex(start + pd.to_timedelta(day, unit="D")),
        "mailbox_provider": pd.Categorical(np.array(audience.providers)[provider],
                                           categories=list(MAILBOX_PROVIDERS)),
        "sending_ip": pd.array(np.array([i.address for i in ips])[ip], dtype="string"),
        "ip_pool": pd.array(np.array([i.pool for i in ips])[ip], dtype="string"),
        "shared": np.array([i.shared for i in ips])[ip],
        "reputation_score": outcomes.score.ravel(),
        "inbox_share": outcomes.inbox_share.ravel(),
        "block_probability": outcomes.block.ravel(),
        "overflow_share": outcomes.overflow.ravel(),
        "acceptance_cap": outcomes.cap.ravel(),
        "maturity": outcomes.maturity.ravel(),
        "volume": outcomes.volume.ravel().astype(np.int64),
    })


def _parameters(config: SenderConfig, audience: Recipients, outcomes: Outcomes, allowances: dict,
                scenario: str, start: pd.Timestamp, end: pd.Timestamp, days: int,
                recipients: int, run_key: int) -> dict[str, Any]:
    streams = pd.DataFrame([asdict(s) for s in config.streams])
    core = ~audience.stale
    healthy = dict(zip(audience.providers, outcomes.healthy_score.tolist(), strict=True))
    return {
        "config": config,
        "config_dict": asdict(config),
        "scenario": scenario,
        "start": start,
        "end": end,
        "days": days,
        "recipients": recipients,
        "stale_recipients": int(audience.stale.sum()),
        "run_key": run_key,
        "healthy_score": healthy,
        "healthy_inbox_share": {p: float(placement_from_score(s, config.reputation)) for p, s in healthy.items()},
        "warmup_allowance": allowances,
        "provider_share_realized": {
            p: float(np.mean(audience.provider[core] == k)) for k, p in enumerate(audience.providers)
        },
        "apple_mail_share_realized": float(np.mean(audience.apple_mail[core])),
        "mean_engagement_propensity": float(np.mean(audience.propensity[core])),
        "streams": streams,
    }
