"""Canonical events from the simulated outcomes, plus the wire details format writers need.

One message yields, in time order: ``processed``; then ``dropped`` (suppressed address), or one
``deferred`` per failed attempt followed by ``delivered`` or ``bounced``; then for delivered
mail ``opened`` (machine: Apple MPP proxy fetches, also in the spam folder; human: a read by a
non-MPP reader, plus repeat opens), ``clicked`` (human, or a security scanner flagged
``is_machine``), ``complained`` (inbox only, and only where the provider runs a feedback loop:
not Gmail, F4) and ``unsubscribed``. Events after the end of the simulated period are not
emitted (the export ends there).

Canonical rows carry the clear recipient address (format writers need it; the readers
pseudonymize at ingest) and diagnostics scrubbed as the readers scrub them
(:func:`deliverability_econ.privacy.scrub`); the clear replies are in the details.
``sending_ip`` is set on attempt events (``deferred``, ``delivered``, ``bounced``), where the ESP
knows it; ``ip_pool`` on every event of a routed message.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .. import privacy
from ..schema import EVENT_DTYPES, EVENT_TYPES, MAILBOX_PROVIDERS
from . import _strings as S
from .config import SenderConfig
from .engine import RETRY_OFFSETS_S, Engagement, Outcomes
from .schedule import Messages, Recipients
from .smtp import DROP_REASONS, REPLY_KINDS, replies_for

#: Event segments (for deterministic event ids: message x segment x repeat).
SEGMENTS: tuple[str, ...] = (
    "processed", "dropped", "deferred", "delivered", "bounced", "machine_open", "human_open",
    "click", "bot_click", "complained", "unsubscribed",
)
_SEGMENT_EVENT = {
    "processed": "processed", "dropped": "dropped", "deferred": "deferred",
    "delivered": "delivered", "bounced": "bounced", "machine_open": "opened",
    "human_open": "opened", "click": "clicked", "bot_click": "clicked",
    "complained": "complained", "unsubscribed": "unsubscribed",
}
_BOUNCE_CLASS_OF_OUTCOME = {1: "hard", 2: "block", 3: "soft", 4: "soft"}
_REPLY_KIND_OF_OUTCOME = {1: "hard", 2: "block", 3: "mailbox_full", 4: "rate_limit"}
_DEFERRAL_REPLY_KIND = {1: "transient", 2: "rate_limit", 3: "mailbox_full"}

#: Detail columns next to the canonical events (same row order), for format writers.
DETAIL_COLUMNS: dict[str, str] = {
    "event_id": "the canonical event's id",
    "smtp_reply": "full receiver reply with the clear address (attempt events)",
    "smtp_code": "basic SMTP reply code, 250/421/550 (attempt events)",
    "attempt": "delivery attempt number, 1-based (attempt events)",
    "remote_mta": "receiving MX host (attempt events)",
    "url": "clicked link (clicks)",
    "user_agent": "user agent of the fetch (opens and clicks)",
    "client_ip": "IP that fetched the pixel or followed the link (opens and clicks)",
}

_USER_AGENTS: tuple[str, ...] = (
    "Mozilla/5.0",  # Apple MPP proxy
    "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)",
    "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0",
    "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17328; Pro)",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36",
)
_UA_MPP, _UA_GMAIL_PROXY, _UA_YAHOO_PROXY, _UA_OUTLOOK_WEB = 0, 1, 2, 3
_UA_BROWSERS = np.array([4, 5, 6, 7, 8])


@dataclass
class _Segment:
    message: np.ndarray
    time: np.ndarray
    segment: int
    repeat: np.ndarray


def _repeat_index(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Message index and 0-based repeat number for ``counts`` events per message."""
    message = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    repeat = np.arange(len(message)) - np.repeat(starts, counts)
    return message, repeat


def _host(provider: str, domain: str, mx: str) -> str:
    """The receiving host named in a provider's replies (stable per recipient domain)."""
    digest = zlib.crc32(domain.encode("utf-8"))
    if provider == "microsoft":
        return f"BN8NAM{digest % 13:02d}FT{digest % 997:03d}.eop-nam12.prod.protection.outlook.com"
    if provider in ("yahoo", "att"):
        return f"mta{digest % 9000 + 1000}.mail.{('gq1', 'bf1', 'ne1')[digest % 3]}.yahoo.com"
    return mx


def _render(templates: list, template: np.ndarray, ip: np.ndarray, domain: np.ndarray,
            tokens: pa.Array, addresses: pa.Array, ip_addresses: list[str],
            domain_names: list[str], hosts: list[str], sender_domain: str) -> pa.Array:
    """Fill reply templates row by row, vectorized.

    Every placeholder but ``{token}`` and ``{addr}`` is constant per (template, IP, domain), so
    each distinct combination is formatted once; a template holds at most one of the two
    per-message placeholders, which is then spliced in with Arrow string joins.
    """
    n_ips, n_domains = len(ip_addresses) + 1, len(domain_names)
    key = (template.astype(np.int64) * n_ips + (ip.astype(np.int64) + 1)) * n_domains + domain
    present = np.zeros(len(templates) * n_ips * n_domains, bool)
    present[key] = True
    combos = np.flatnonzero(present)
    lookup = np.cumsum(present) - 1
    inverse = lookup[key]
    heads, tails, kinds = [], [], []
    for combo in combos:
        t, rest = divmod(int(combo), n_ips * n_domains)
        ip_index, d = divmod(rest, n_domains)
        text = templates[t].text
        for placeholder, value in (("{ip}", ip_addresses[ip_index - 1] if ip_index else ""),
                                   ("{domain}", domain_names[d]), ("{host}", hosts[d]),
                                   ("{sender_domain}", sender_domain)):
            text = text.replace(placeholder, value)
        placeholder = "{token}" if "{token}" in text else "{addr}" if "{addr}" in text else None
        head, _, tail = text.partition(placeholder) if placeholder else (text, "", "")
        heads.append(head)
        tails.append(tail)
        kinds.append({"{token}": 1, "{addr}": 2, None: 0}[placeholder])
    kind = np.array(kinds, np.int8)[inverse]
    empty = pa.scalar("", pa.string())
    variable = pc.if_else(pa.array(kind == 1), tokens, pc.if_else(pa.array(kind == 2), addresses, empty))
    return S.join(S.take(heads, inverse), variable, S.take(tails, inverse))


def build_events(
    config: SenderConfig,
    audience: Recipients,
    messages: Messages,
    outcomes: Outcomes,
    engagement: Engagement,
    addresses: pa.Array,
    message_ids: pa.Array,
    run_key: int,
    start: pd.Timestamp,
    days: int,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, Callable[[], pd.DataFrame]]:
    """Assemble the canonical events table and a builder of its detail columns.

    Returns
    -------
    events : DataFrame
        Canonical columns and dtypes (``schema.EVENT_DTYPES``), sorted by time; recipients in
        clear.
    details : callable
        Returns the :data:`DETAIL_COLUMNS` table, row-aligned with ``events`` (deterministic:
        its draws come from a seed taken from ``rng`` now).
    """
    horizon = days * 86_400.0
    n = len(messages)
    index = np.arange(n)
    o, e = outcomes, engagement
    provider_index = audience.provider[messages.recipient].astype(np.int64)
    provider_names = audience.providers

    segments: list[_Segment] = []

    def add(segment: str, mask_or_index: np.ndarray, time: np.ndarray, repeat=None):
        message = index[mask_or_index] if mask_or_index.dtype == bool else mask_or_index
        rep = np.zeros(len(message), np.int64) if repeat is None else repeat
        segments.append(_Segment(message, time, SEGMENTS.index(segment), rep))

    add("processed", np.ones(n, bool), messages.send_time)
    dropped = o.outcome == 5
    add("dropped", dropped, o.final_time[dropped])
    deferred_msg, attempt = _repeat_index(o.deferrals.astype(np.int64))
    deferred_time = o.first_attempt[deferred_msg] + RETRY_OFFSETS_S[attempt] * np.where(
        attempt > 0, o.jitter[deferred_msg], 1.0)
    add("deferred", deferred_msg, deferred_time, attempt)
    delivered = o.outcome == 0
    add("delivered", delivered, o.final_time[delivered])
    bounced = (o.outcome >= 1) & (o.outcome <= 4)
    add("bounced", bounced, o.final_time[bounced])

    machine_msg, machine_rep = _repeat_index(e.machine_opens.astype(np.int64))
    machine_time = e.machine_open_time[machine_msg] + np.where(
        machine_rep > 0, rng.lognormal(np.log(8 * 3600.0), 1.5, size=len(machine_msg)), 0.0)
    add("machine_open", machine_msg, machine_time, machine_rep)
    human_msg, human_rep = _repeat_index(e.human_opens.astype(np.int64))
    human_time = e.read_time[human_msg] + np.where(
        human_rep > 0, rng.lognormal(np.log(6 * 3600.0), 1.5, size=len(human_msg)), 0.0)
    add("human_open", human_msg, human_time, human_rep)
    add("click", e.clicked, e.click_time[e.clicked])
    add("bot_click", e.bot_clicked, e.bot_click_time[e.bot_clicked])
    feedback = np.array([config.providers[p].feedback_loop for p in provider_names])
    reported = o.complained & feedback[provider_index]
    add("complained", reported, o.complaint_time[reported])
    add("unsubscribed", o.unsubscribed, o.unsubscribe_time[o.unsubscribed])

    message = np.concatenate([s.message for s in segments])
    time = np.concatenate([s.time for s in segments])
    segment = np.concatenate([np.full(len(s.message), s.segment, np.int8) for s in segments])
    repeat = np.concatenate([s.repeat for s in segments]).astype(np.int16)
    keep = np.isfinite(time) & (time < horizon)
    # Segments are concatenated in a fixed order, so a stable sort on time is deterministic.
    order = np.flatnonzero(keep)
    order = order[np.argsort(time[order], kind="stable")]
    message, time, segment, repeat = message[order], time[order], segment[order], repeat[order]
    m = len(message)
    machine = np.isin(segment, [SEGMENTS.index("machine_open"), SEGMENTS.index("bot_click")])

    event_ids = S.random_ids(rng, m)

    def event_key(rows: np.ndarray) -> np.ndarray:
        """A distinct integer per event (message x segment x repeat), for reply tokens."""
        return ((message[rows].astype(np.uint64) << np.uint64(8))
                | (segment[rows].astype(np.uint64) << np.uint64(4))
                | np.minimum(repeat[rows], 15).astype(np.uint64))

    seg_event = np.array([EVENT_TYPES.index(_SEGMENT_EVENT[name]) for name in SEGMENTS])
    event_code = seg_event[segment]
    recipient = messages.recipient[message]
    provider = provider_index[message]
    outcome = o.outcome[message]
    is_deferred = segment == SEGMENTS.index("deferred")
    is_delivered = segment == SEGMENTS.index("delivered")
    is_bounced = segment == SEGMENTS.index("bounced")
    is_attempt = is_deferred | is_delivered | is_bounced

    # Bounce class.
    class_codes = np.full(m, -1, np.int8)
    bounce_classes = list(EVENT_DTYPES["bounce_class"].categories)
    for code, name in _BOUNCE_CLASS_OF_OUTCOME.items():
        class_codes[is_bounced & (outcome == code)] = bounce_classes.index(name)

    # Reply template per attempt event: (provider, kind) -> template id.
    kinds = list(REPLY_KINDS)
    templates = [replies_for(p)[k] for p in provider_names for k in kinds]
    kind_of_deferral = np.array([-1] + [kinds.index(_DEFERRAL_REPLY_KIND[c]) for c in (1, 2, 3)])
    kind_of_outcome = np.array([kinds.index("delivered")] + [
        kinds.index(_REPLY_KIND_OF_OUTCOME[c]) for c in (1, 2, 3, 4)] + [-1])
    attempt_rows = np.flatnonzero(is_attempt)
    attempt_message = message[attempt_rows]
    reply_kind = np.where(is_deferred[attempt_rows], kind_of_deferral[o.deferral_kind[attempt_message]],
                          kind_of_outcome[o.outcome[attempt_message]])
    template = np.full(m, -1, np.int64)
    template[attempt_rows] = provider[attempt_rows] * len(kinds) + reply_kind
    smtp_status = S.take([t.status for t in templates], template)

    ip_addresses = [ip.address for ip in config.infrastructure.ips]
    ip_pools = [ip.pool for ip in config.infrastructure.ips]
    event_ip = np.where(is_attempt, o.ip[message], -1)
    routed_ip = o.routed_ip[message]
    domain_names = audience.domains
    domain_of_event = audience.domain[recipient]
    mx_hosts = []
    for d, name in enumerate(domain_names):
        profile = config.providers[provider_names[audience.domain_provider[d]]]
        mx_hosts.append(profile.mx_host.format(domain=name, label=name.replace(".", "-")))

    hosts = [_host(provider_names[audience.domain_provider[d]], name, mx_hosts[d])
             for d, name in enumerate(domain_names)]

    def replies(rows: np.ndarray) -> pa.Array:
        """The receiver's reply on attempt events ``rows``, with the clear address."""
        tokens = S.hex_ids(run_key ^ 0x5EED, event_key(rows), 16)
        address = pc.take(addresses, pa.array(recipient[rows]))
        return _render(templates, template[rows], event_ip[rows], domain_of_event[rows], tokens,
                       address, ip_addresses, domain_names, hosts, config.sender_domain).cast(pa.string())

    # Diagnostics: failed attempts' replies scrubbed as the readers scrub them; drop reasons.
    failed_rows = np.flatnonzero(is_attempt & ~is_delivered)
    scrubbed = privacy.scrub(S.to_string_series(replies(failed_rows)))
    drop_rows = np.flatnonzero(segment == SEGMENTS.index("dropped"))
    reason_position = np.full(m, -1, np.int64)
    reason_position[failed_rows] = np.arange(len(failed_rows))
    reason_position[drop_rows] = len(failed_rows) + o.drop_reason[message[drop_rows]].astype(np.int64)
    reason = S.take(pa.concat_arrays([pa.array(scrubbed.to_numpy(dtype=object, na_value=None), pa.string()),
                                      pa.array(DROP_REASONS, pa.string())]), reason_position)

    frame_index = pd.RangeIndex(m)
    mailbox_codes = np.array([MAILBOX_PROVIDERS.index(p) for p in provider_names])[provider]
    stream_names = [s.name for s in config.streams]
    esp_codes = np.full(m, list(EVENT_DTYPES["esp"].categories).index(config.esp), np.int8)
    stream_of_event = messages.stream[message]
    columns: dict[str, object] = {}
    columns["timestamp"] = S.utc_timestamps(int(start.value), time)
    columns["event"] = pd.Categorical.from_codes(event_code, dtype=EVENT_DTYPES["event"])
    columns["message_id"] = S.to_string_series(pc.take(message_ids, pa.array(message)), frame_index)
    columns["event_id"] = S.to_string_series(event_ids, frame_index)
    columns["recipient"] = S.to_string_series(pc.take(addresses, pa.array(recipient)), frame_index)
    columns["recipient_domain"] = S.to_string_series(S.take(domain_names, domain_of_event), frame_index)
    columns["mailbox_provider"] = pd.Categorical.from_codes(mailbox_codes, dtype=EVENT_DTYPES["mailbox_provider"])
    columns["sending_ip"] = S.to_string_series(S.take(ip_addresses, event_ip), frame_index)
    columns["ip_pool"] = S.to_string_series(S.take(ip_pools, routed_ip), frame_index)
    columns["stream"] = S.to_string_series(S.take(stream_names, stream_of_event), frame_index)
    columns["campaign"] = S.to_string_series(S.take(messages.campaigns, messages.campaign[message]), frame_index)
    columns["bounce_class"] = pd.Categorical.from_codes(class_codes, dtype=EVENT_DTYPES["bounce_class"])
    columns["is_machine"] = pd.arrays.BooleanArray(machine, np.zeros(m, bool))
    columns["smtp_status"] = S.to_string_series(smtp_status, frame_index)
    columns["reason"] = S.to_string_series(reason, frame_index)
    columns["esp"] = pd.Categorical.from_codes(esp_codes, dtype=EVENT_DTYPES["esp"])
    events = pd.DataFrame(columns, index=frame_index, copy=False)

    detail_seed = int(rng.integers(0, 2**62))

    def details() -> pd.DataFrame:
        """The detail columns (built on first use: format writers need them, analyses not)."""
        detail_rng = np.random.default_rng(detail_seed)
        position = np.full(m, -1, np.int64)
        position[attempt_rows] = np.arange(len(attempt_rows))
        reply_clear = S.take(replies(attempt_rows), position)
        smtp_code = np.array([t.code for t in templates] + [0])[template]

        is_open = event_code == EVENT_TYPES.index("opened")
        is_click = event_code == EVENT_TYPES.index("clicked")
        fetch = is_open | is_click
        browser = _UA_BROWSERS[detail_rng.integers(0, len(_UA_BROWSERS), size=m)]
        index_of = {p: k for k, p in enumerate(provider_names)}
        gmail = provider == index_of.get("gmail", -1)
        yahoo_like = np.isin(provider, [index_of[p] for p in ("yahoo", "att") if p in index_of])
        microsoft = provider == index_of.get("microsoft", -1)
        human_open = is_open & ~machine
        ua = np.full(m, -1, np.int64)
        ua[human_open] = np.where(gmail, _UA_GMAIL_PROXY, np.where(
            yahoo_like, _UA_YAHOO_PROXY, np.where(microsoft, _UA_OUTLOOK_WEB, browser)))[human_open]
        ua[is_open & machine] = _UA_MPP
        ua[is_click] = browser[is_click]
        prefix = np.full(m, -1, np.int64)
        prefix[fetch] = 2
        prefix[is_open & machine] = 0
        prefix[human_open & gmail] = 1
        prefix[is_click & machine] = 3
        octets = detail_rng.integers(1, 255, size=(2, m))
        client_ip = S.join(S.take(["17.58", "66.249", "198.18", "40.94"], prefix), ".",
                           pc.cast(pa.array(octets[0]), pa.string()), ".",
                           pc.cast(pa.array(octets[1]), pa.string()))
        urls = [f"{s.link_url}?utm_source=email&utm_medium={s.name}" for s in config.streams]
        attempt_number = np.where(is_deferred, repeat + 1, o.deferrals[message].astype(np.int64) + 1)
        # An expired message's bounce is the ESP giving up, not another attempt.
        attempt_number = np.where(is_bounced & np.isin(outcome, [3, 4]), o.deferrals[message], attempt_number)
        attempt_mask = ~is_attempt
        return pd.DataFrame(
            {
                "event_id": events["event_id"],
                "smtp_reply": S.to_string_series(reply_clear, frame_index),
                "smtp_code": pd.arrays.IntegerArray(smtp_code.astype(np.int16), attempt_mask),
                "attempt": pd.arrays.IntegerArray(attempt_number.astype(np.int16), attempt_mask),
                "remote_mta": S.to_string_series(
                    S.take(mx_hosts, np.where(is_attempt, domain_of_event, -1)), frame_index),
                "url": S.to_string_series(S.take(urls, np.where(is_click, stream_of_event, -1)), frame_index),
                "user_agent": S.to_string_series(S.take(list(_USER_AGENTS), ua), frame_index),
                "client_ip": S.to_string_series(
                    pc.if_else(pa.array(fetch), client_ip, pa.nulls(m, pa.string())), frame_index),
            },
            index=frame_index,
        )

    return events, details
