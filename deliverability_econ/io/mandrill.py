"""Mailchimp Transactional (Mandrill) webhooks: form POST bodies as stored, or decoded JSON.

Reference: shared/reference/log-formats.md section 6 (and section 13, trap 4).

Mandrill posts ``application/x-www-form-urlencoded`` with one field, ``mandrill_events``, holding
a JSON array of up to 1,000 events. Three stored shapes are read:

- the raw POST bodies, one per line (``mandrill_events=%5B%7B%22event%22...``);
- the decoded arrays: one JSON document, or JSON lines of arrays or of single events;
- JSON lines of the decoded form, ``{"mandrill_events": "<the JSON text>"}``.

Every array element is a record of its own (location ``line N (item k)``). Message events map to
canonical events; sync events (allow/deny-list changes: ``type`` instead of ``event``) and inbound
mail are counted as ignored. Mandrill gives no event id; the id is a hash of the dedupe key the
reference recommends, (``_id``, ``event``, ``ts``, ``url``), so a retried batch dedupes even when
the embedded ``msg`` snapshot (its ``opens`` / ``clicks`` history, its ``state``) has changed.
"""

from __future__ import annotations

import itertools
import json
import re
import urllib.parse
from collections.abc import Iterator
from typing import IO, Any

from ._base import (
    QUARANTINE_RAW_CHARS,
    FormatSpec,
    IgnoreRecord,
    RawRecord,
    RecordError,
    enhanced_status,
    epoch_seconds,
    first_text,
    iter_json_values,
    row,
    stable_hash,
)
from ._bounce import classify_bounce
from ._registry import make_reader, register

#: Mandrill ``event`` -> canonical event. The docs' prose spelling ``hard-bounce`` /
#: ``soft-bounce`` is folded onto the wire's underscores before the lookup (trap 4).
EVENT_MAP: dict[str, str] = {
    "send": "processed",
    "delivered": "delivered",  # listed by the current docs; anymail has no mapping (trap 4)
    "deferral": "deferred",
    "hard_bounce": "bounced",
    "soft_bounce": "bounced",
    "reject": "dropped",
    "open": "opened",
    "click": "clicked",
    "spam": "complained",
    "unsub": "unsubscribed",
}

#: Valid Mandrill events outside the canonical set -> ``meta["ignored"]`` reason.
IGNORED_EVENTS: dict[str, str] = {"inbound": "inbound"}

#: ``type`` values of sync events (allow / deny list changes, no ``event`` key).
SYNC_TYPES = frozenset({"whitelist", "blacklist", "allowlist", "denylist"})

#: ``msg.bgtools_code`` values that are blocks. Mandrill's ``bgtools_code`` is the Momentum
#: bounce classification that SparkPost documents (10 invalid recipient with ``bad_mailbox``,
#: 22 mailbox full with ``mailbox_full`` in the docs' samples): 50-54 are Mail Block, Spam Block,
#: Spam Content, Prohibited Attachment and Relaying Denied.
BLOCK_BGTOOLS_CODES = frozenset({50, 51, 52, 53, 54})

#: Words in ``msg.bounce_description`` that make a soft bounce a block.
BLOCK_DESCRIPTION = re.compile(r"spam|block|policy|reputation|content", re.IGNORECASE)

#: Events whose SMTP diagnostics (``msg.diag``, ``msg.smtp_events``) describe this event.
_DELIVERY_PATH = frozenset({"delivered", "deferred", "bounced", "dropped"})

_SURROGATE = re.compile("[\udc80-\udcff]")


def sniff(head: str) -> bool:
    """A stored form body, or decoded Mandrill events (``_id``, ``ts`` and ``msg``)."""
    text = head.lstrip()
    if text.startswith("mandrill_events=") or "&mandrill_events=" in head or '"mandrill_events"' in head:
        return True
    return '"_id"' in head and '"ts"' in head and ('"msg"' in head or '"reject"' in head)


# --------------------------------------------------------------------------------------------
# Splitting
# --------------------------------------------------------------------------------------------


def _explode_form_field(payload: Any) -> list | None:
    """``{"mandrill_events": "<JSON text>"}`` (a form decoded into a dict) -> its events."""
    if isinstance(payload, dict) and isinstance(payload.get("mandrill_events"), str):
        try:
            events = json.loads(payload["mandrill_events"])
        except ValueError:
            return None  # normalize() quarantines it, naming the field
        return events if isinstance(events, list) else [events]
    return None


def records(stream: IO[str]) -> Iterator[RawRecord]:
    """Form bodies line by line; anything else through :func:`iter_json_values`."""
    numbered = enumerate(stream, start=1)
    peeked: list[tuple[int, str]] = []
    for number, line in numbered:
        peeked.append((number, line))
        if line.strip():
            break
    if not peeked or not peeked[-1][1].strip():
        return
    if peeked[-1][1].lstrip().startswith(("[", "{")):
        lines = (line for _, line in itertools.chain(peeked, numbered))
        yield from iter_json_values(lines, explode=_explode_form_field)  # type: ignore[arg-type]
        return
    for number, line in itertools.chain(peeked, numbered):
        text = line.strip()
        if text:
            yield from _form_body_records(f"line {number}", text)


def _form_body_records(location: str, text: str) -> Iterator[RawRecord]:
    if _SURROGATE.search(text):
        yield RawRecord(location, text)  # the framework quarantines undecodable bytes
        return
    if text.startswith(("[", "{")):
        body = text  # a decoded body stored among the raw ones
    else:
        try:
            fields = urllib.parse.parse_qs(text, keep_blank_values=True, errors="strict")
        except UnicodeDecodeError:
            yield RawRecord(location, urllib.parse.unquote_plus(text)[:QUARANTINE_RAW_CHARS],
                            error="percent-encoded bytes that are not valid UTF-8 (wrong encoding?)")
            return
        values = fields.get("mandrill_events")
        if not values:
            yield RawRecord(location, urllib.parse.unquote_plus(text)[:QUARANTINE_RAW_CHARS],
                            error="a form body without a mandrill_events field")
            return
        body = values[0]
    try:
        payload = json.loads(body)
    except ValueError as exc:
        yield RawRecord(location, body[:QUARANTINE_RAW_CHARS],
                        error=f"invalid JSON in mandrill_events ({exc.msg} at column {exc.colno})")
        return
    if isinstance(payload, dict):
        payload = [payload]
    if not isinstance(payload, list):
        yield RawRecord(location, body[:QUARANTINE_RAW_CHARS], error="mandrill_events is not a JSON array")
        return
    for index, item in enumerate(payload, start=1):
        item_location = f"{location} (item {index})"
        if isinstance(item, dict):
            yield RawRecord(item_location, None, item)
        else:
            yield RawRecord(item_location, json.dumps(item)[:QUARANTINE_RAW_CHARS],
                            error="an array element that is not an object")


# --------------------------------------------------------------------------------------------
# Normalizing
# --------------------------------------------------------------------------------------------


def _last_smtp_event(msg: dict) -> dict:
    """The latest attempt of ``msg.smtp_events`` (an empty dict when there is none)."""
    attempts = msg.get("smtp_events")
    if isinstance(attempts, list):
        for attempt in reversed(attempts):
            if isinstance(attempt, dict):
                return attempt
    return {}


def _sending_ip(msg: dict) -> str | None:
    """``source_ip`` of the latest SMTP attempt that has one (our IP on every event; the
    top-level ``ip`` of an open or click is the reader's)."""
    attempts = msg.get("smtp_events")
    if isinstance(attempts, list):
        for attempt in reversed(attempts):
            if isinstance(attempt, dict) and attempt.get("source_ip"):
                return str(attempt["source_ip"])
    return None


def _bounce_class(msg: dict, name: str, status: str | None, reply: str | None) -> str:
    """Mandrill's own verdict where it gives one (a Bounce Genius block code or a spam/policy
    ``bounce_description``: ``block``), else the receiver's reply by the shared rules
    (:func:`._bounce.classify_bounce`), else Mandrill's severity (``hard_bounce`` -> ``hard``,
    ``soft_bounce`` -> ``soft``)."""
    try:
        code = int(msg.get("bgtools_code"))
    except (TypeError, ValueError):
        code = None
    description = str(msg.get("bounce_description") or "")
    if code in BLOCK_BGTOOLS_CODES or BLOCK_DESCRIPTION.search(description):
        return "block"
    from_reply = classify_bounce(status, None, reply)
    if from_reply != "undetermined":
        return from_reply
    return "hard" if name == "hard_bounce" else "soft"


def _campaign(msg: dict) -> str | None:
    tags = msg.get("tags")
    if isinstance(tags, list):
        return ",".join(str(t) for t in tags) if tags else None
    return first_text(tags)


def normalize(record: Any) -> list[dict]:
    if not isinstance(record, dict):
        raise RecordError(None, "not a JSON object")
    if "mandrill_events" in record:
        raise RecordError("mandrill_events", "not a JSON array of events")
    raw_event = record.get("event")
    if raw_event is None or raw_event == "":
        if str(record.get("type", "")).lower() in SYNC_TYPES or "action" in record:
            raise IgnoreRecord("sync event")
        raise RecordError("event", "missing")
    name = str(raw_event).strip().lower().replace("-", "_")
    if name in IGNORED_EVENTS:
        raise IgnoreRecord(IGNORED_EVENTS[name])
    canonical = EVENT_MAP.get(name)
    if canonical is None:
        raise RecordError("event", f"unknown Mandrill event {str(raw_event)[:40]!r}")
    msg = record.get("msg")
    if not isinstance(msg, dict):
        raise RecordError("msg", "missing" if msg is None else "not an object")
    recipient = first_text(msg.get("email"))
    if recipient is None:
        raise RecordError("msg.email", "missing")
    message_id = first_text(record.get("_id"), msg.get("_id"))
    if message_id is None:
        raise RecordError("_id", "missing")
    timestamp = epoch_seconds(record.get("ts"), "ts")

    smtp_status = reason = bounce_class = None
    if canonical in _DELIVERY_PATH:
        last_attempt = _last_smtp_event(msg)
        smtp_status = enhanced_status(msg.get("diag"), last_attempt.get("diag"))
        reason = first_text(msg.get("diag"), last_attempt.get("diag"), msg.get("bounce_description"),
                            msg.get("reject_reason"))
    if canonical == "bounced":
        diag = first_text(msg.get("diag"), last_attempt.get("diag"))
        bounce_class = _bounce_class(msg, name, smtp_status, diag)
    metadata = msg.get("metadata")
    return [
        row(
            timestamp=timestamp,
            event=canonical,
            message_id=message_id,
            event_id="mandrill:" + stable_hash(message_id, name, record.get("ts"), record.get("url")),
            recipient=recipient,
            sending_ip=_sending_ip(msg),
            ip_pool=None,  # not in the payload (dedicated IP pools are account settings)
            stream=first_text(metadata.get("stream")) if isinstance(metadata, dict) else None,
            campaign=_campaign(msg),
            bounce_class=bounce_class,
            is_machine=False,  # Mandrill has no proxy / MPP flag
            smtp_status=smtp_status,
            reason=reason,
        )
    ]


SPEC = register(
    FormatSpec(
        name="mandrill",
        label="Mailchimp Transactional (Mandrill) webhook",
        sniff=sniff,
        records=records,
        normalize=normalize,
        priority=30,
    )
)

read_mandrill = make_reader(
    "mandrill",
    """Read Mailchimp Transactional (Mandrill) webhook posts.

    Accepts raw form bodies (``mandrill_events=<urlencoded JSON>``, one per line), the decoded
    JSON arrays (one document or JSON lines) and ``{"mandrill_events": "<JSON>"}`` lines. Each
    event becomes a record; sync events (``whitelist`` / ``blacklist``) and ``inbound`` are
    ignored. ``hard-bounce`` / ``soft-bounce`` are read as their underscored wire names. A
    ``soft_bounce`` is a ``block`` when ``msg.bgtools_code`` is 50-54, ``msg.bounce_description``
    names spam, a block, a policy, reputation or content, or the status is x.7.x. ``msg.tags``
    gives ``campaign``, ``msg.metadata["stream"]`` the ``stream``, the last
    ``msg.smtp_events[].source_ip`` the ``sending_ip``. ``event_id`` hashes (``_id``, ``event``,
    ``ts``, ``url``).
""",
)
