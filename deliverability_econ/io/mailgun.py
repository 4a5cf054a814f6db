"""Mailgun events: current webhooks, Events API pages and legacy form-encoded webhooks.

Reference: shared/reference/log-formats.md section 2 (and section 13, trap 9).

Three shapes are read, and may be mixed line by line in one file:

- current webhook bodies ``{"signature": {...}, "event-data": {...}}``, stored as JSON lines,
  as one pretty-printed body, or as a JSON array of bodies;
- Events API pages ``{"items": [<event-data>, ...], "paging": {...}}``: each item is a record;
- legacy (pre-2018) form-encoded webhooks, one urlencoded body per line
  (``event=delivered&recipient=...&Message-Id=...&timestamp=...&token=...&signature=...``),
  with the sender's user variables as extra fields.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from itertools import chain
from typing import IO, Any
from urllib.parse import parse_qsl, unquote_plus

from ._base import (
    FormatSpec,
    IgnoreRecord,
    RawRecord,
    RecordError,
    enhanced_status,
    epoch_seconds,
    first_text,
    iter_json_values,
    require,
    row,
    stable_hash,
)
from ._bounce import classify_bounce
from ._registry import make_reader, register

#: Current ``event-data.event`` -> canonical event; ``failed`` is resolved by severity and reason.
EVENT_MAP: dict[str, str] = {
    "accepted": "processed",
    "delivered": "delivered",
    "rejected": "dropped",
    "opened": "opened",
    "clicked": "clicked",
    "complained": "complained",
    "unsubscribed": "unsubscribed",
}

#: Legacy (form-encoded) ``event`` -> canonical event; ``dropped`` is refined by its reason.
LEGACY_EVENT_MAP: dict[str, str] = {
    "delivered": "delivered",
    "bounced": "bounced",
    "dropped": "dropped",
    "opened": "opened",
    "clicked": "clicked",
    "complained": "complained",
    "unsubscribed": "unsubscribed",
}

#: Valid Mailgun events outside the canonical set (the Events API also logs inbound mail and
#: mailing-list maintenance).
IGNORED_EVENTS: dict[str, str] = {
    "stored": "inbound",
    "list_member_uploaded": "mailing list",
    "list_member_upload_error": "mailing list",
    "list_uploaded": "mailing list",
}

#: Mailgun's own delivery-status codes for messages it refused to attempt because the address is
#: suppressed: 605 "Not delivering to previously bounced address", 607 "... previously complained".
SUPPRESSION_CODES: frozenset[int] = frozenset({605, 607})

#: Permanent-failure ``reason`` values that settle the bounce class without the SMTP reply.
#: ``old``: Mailgun gave up retrying (the message expired), i.e. a temporary failure that became
#: final; ``espblock``: the receiving provider blocked Mailgun. ``bounce`` and ``generic`` say
#: nothing about the class (trap 9): the code and text decide.
REASON_BOUNCE_CLASS: dict[str, str] = {"old": "soft", "espblock": "block"}

#: Legacy ``dropped`` reasons that are really expired retries (soft bounces), not refusals.
LEGACY_EXPIRED_REASONS: frozenset[str] = frozenset({"old", "maxfails"})

_LEGACY_LINE = re.compile(r"(?m)^(?:[^\s&]*&)*event=[a-z_]+(?:&|$)")
_SUPPRESS_PREFIX = "suppress-"


def sniff(head: str) -> bool:
    """Whether ``head`` looks like Mailgun data (webhook bodies, Events API, legacy forms)."""
    if '"event-data"' in head or ('"log-level"' in head and '"event"' in head):
        return True
    return bool(_LEGACY_LINE.search(head)) and "token=" in head and "signature=" in head


# --------------------------------------------------------------------------------------------
# Record splitting
# --------------------------------------------------------------------------------------------


class FormFields(dict):
    """The fields of one legacy form-encoded webhook (repeated fields hold a list)."""


def _page_items(payload: Any) -> list | None:
    """The ``items`` of an Events API page, else None."""
    if isinstance(payload, dict) and isinstance(payload.get("items"), list) and "event-data" not in payload:
        return payload["items"]
    return None


def records(stream: IO[str]) -> Iterator[RawRecord]:
    """Split a Mailgun file into records.

    A file whose first line opens a JSON document that does not end on that line is one
    (pretty-printed) document: a body, an array of bodies or an Events API page. Otherwise each
    line is a record on its own: JSON (a body, an array of bodies, a page) or a form-encoded
    legacy webhook.
    """
    numbered = enumerate(stream, start=1)
    leading: list[tuple[int, str]] = []
    first = None
    for number, line in numbered:
        leading.append((number, line))
        if line.strip():
            first = line.strip()
            break
    if first is None:
        return
    if first.startswith(("{", "[")) and not _is_json(first):
        lines = chain((line for _, line in leading), (line for _, line in numbered))
        yield from iter_json_values(lines, explode=_page_items)  # type: ignore[arg-type]
        return
    for number, line in chain(leading, numbered):
        text = line.strip()
        if not text:
            continue
        location = f"line {number}"
        if text.startswith(("{", "[")):
            try:
                payload = json.loads(text)
            except ValueError as exc:
                yield RawRecord(location, text, error=f"invalid JSON ({exc.msg} at column {exc.colno})")
                continue
            yield from _expand_json(payload, location, text)
        else:
            yield _form_record(location, text)


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _expand_json(payload: Any, location: str, text: str) -> Iterator[RawRecord]:
    if isinstance(payload, list):
        for index, item in enumerate(payload, start=1):
            item_location = f"{location} (item {index})"
            if isinstance(item, dict):
                yield from _expand_json(item, item_location, None)  # type: ignore[arg-type]
            else:
                yield RawRecord(item_location, json.dumps(item)[:200], error="an array element that is not an object")
        return
    if not isinstance(payload, dict):
        yield RawRecord(location, text, error="a JSON value that is not an object")
        return
    items = _page_items(payload)
    if items is not None:
        for index, item in enumerate(items, start=1):
            yield RawRecord(f"{location} (entry {index})", None, item)
        return
    yield RawRecord(location, text, payload)


def _form_record(location: str, text: str) -> RawRecord:
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        pairs = []
    if not pairs:
        # Decoded, so that the quarantine can scrub the addresses in it ("a%40b.com" hides one).
        readable = " & ".join(unquote_plus(part) for part in text.split("&"))
        return RawRecord(location, readable, error="neither JSON nor a form-encoded (key=value&...) webhook")
    fields = FormFields()
    for key, value in pairs:
        if key in fields:
            previous = fields[key]
            fields[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            fields[key] = value
    # The record's text is its decoded fields: urlencoded addresses escape the quarantine's
    # scrubbing, and "key=value&" runs would be taken for one long address.
    return RawRecord(location, json.dumps(fields, ensure_ascii=False), fields)


# --------------------------------------------------------------------------------------------
# Field helpers
# --------------------------------------------------------------------------------------------


def _bare_message_id(value: Any) -> str | None:
    """A Message-ID without whitespace and angle brackets: current payloads omit them, legacy
    ones keep them, and both must join."""
    text = first_text(value)
    if text is None:
        return None
    text = text.strip().strip("<>").strip()
    return text or None


def _as_int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def _join(values: Iterable[Any]) -> str | None:
    names = []
    for value in values:
        if isinstance(value, dict):  # legacy campaigns: {"id": ..., "name": ...}
            value = first_text(value.get("name"), value.get("id"))
        if value not in (None, ""):
            names.append(str(value))
    return ",".join(names) if names else None


def _as_list(value: Any) -> list:
    if value is None or value == "":
        return []
    return value if isinstance(value, list) else [value]


def _utc_date(timestamp: float) -> str:
    try:
        return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    except (OverflowError, OSError, ValueError):
        # The framework rejects the row for its timestamp; the id only has to be a string.
        return "out-of-range"


# --------------------------------------------------------------------------------------------
# Normalization
# --------------------------------------------------------------------------------------------


def normalize(payload: Any) -> list[dict]:
    """One Mailgun record (webhook body, Events API item or legacy form) -> canonical rows."""
    if not isinstance(payload, dict):
        raise RecordError(None, "not a JSON object")
    if isinstance(payload, FormFields) or (
        "event-data" not in payload and isinstance(payload.get("signature"), str)
    ):
        return [_normalize_legacy(payload)]
    if "event-data" in payload:
        event_data = payload["event-data"]
        if not isinstance(event_data, dict):
            raise RecordError("event-data", "not an object")
        return [_normalize_event_data(event_data, prefix="event-data.")]
    if "event" in payload:  # an Events API item: event-data without the webhook envelope
        return [_normalize_event_data(payload, prefix="")]
    raise RecordError("event-data", "missing: neither a webhook body nor an Events API item")


def _normalize_event_data(data: dict, prefix: str) -> dict:
    raw_event = str(require(data, "event", prefix + "event"))
    if raw_event in IGNORED_EVENTS:
        raise IgnoreRecord(IGNORED_EVENTS[raw_event])
    flags = data.get("flags") or {}
    if isinstance(flags, dict) and flags.get("is-test-mode") is True:
        # Test mode: Mailgun accepts and reports the message but never sends it.
        raise IgnoreRecord("test mode")
    timestamp = epoch_seconds(data.get("timestamp"), prefix + "timestamp")
    status = data.get("delivery-status") or {}
    if not isinstance(status, dict):
        raise RecordError(prefix + "delivery-status", "not an object")
    smtp_code = _as_int(status.get("code"))
    status_text = first_text(status.get("message"), status.get("description"))
    enhanced = enhanced_status(status.get("enhanced-code"), status.get("bounce-code"),
                               status.get("message"), status.get("description"))
    bounce_class = None
    reason = status_text
    if raw_event == "failed":
        severity = str(require(data, "severity", prefix + "severity")).lower()
        failure_reason = str(data.get("reason") or "").lower()
        if severity == "temporary":
            event = "deferred"
        elif severity != "permanent":
            raise RecordError(prefix + "severity", f"neither permanent nor temporary: {severity[:40]!r}")
        elif failure_reason.startswith(_SUPPRESS_PREFIX) or smtp_code in SUPPRESSION_CODES:
            event = "dropped"
        else:
            event = "bounced"
            bounce_class = REASON_BOUNCE_CLASS.get(failure_reason) or classify_bounce(
                enhanced, smtp_code, status_text)
        reason = first_text(status_text, data.get("reason"))
    elif raw_event in EVENT_MAP:
        event = EVENT_MAP[raw_event]
        if raw_event == "rejected":
            reject = data.get("reject") or {}
            if isinstance(reject, dict):
                reason = first_text(reject.get("reason"), reject.get("description"))
    else:
        raise RecordError(prefix + "event", f"unknown Mailgun event {raw_event[:40]!r}")

    message = data.get("message") or {}
    headers = message.get("headers") if isinstance(message, dict) else None
    message_id = _bare_message_id(headers.get("message-id") if isinstance(headers, dict) else None)
    if message_id is None:
        raise RecordError(prefix + "message.headers.message-id", "missing")
    envelope = data.get("envelope") if isinstance(data.get("envelope"), dict) else {}
    user_variables = data.get("user-variables") if isinstance(data.get("user-variables"), dict) else {}
    client = data.get("client-info") if isinstance(data.get("client-info"), dict) else {}
    event_id = first_text(data.get("id"))
    # The id is "guaranteed to be unique within a day" only (trap 9): qualify it with the date.
    event_id = (
        f"mailgun:{_utc_date(timestamp)}:{event_id}"
        if event_id is not None
        # Without an id, hash the event itself (not the POST, whose signature changes per retry).
        else "mailgun:" + stable_hash(data)
    )
    return row(
        timestamp=timestamp,
        event=event,
        message_id=message_id,
        event_id=event_id,
        recipient=require(data, "recipient", prefix + "recipient"),
        sending_ip=first_text(envelope.get("sending-ip")),
        stream=first_text(user_variables.get("stream")),
        campaign=_join(chain(_as_list(data.get("tags")), _as_list(data.get("campaigns")))),
        bounce_class=bounce_class,
        is_machine=bool(client.get("bot")) if event in ("opened", "clicked") else False,
        smtp_status=enhanced,
        reason=reason,
    )


def _single(fields: dict, key: str) -> Any:
    value = fields.get(key)
    return value[0] if isinstance(value, list) and value else value


def _legacy_message_id(fields: dict) -> str | None:
    direct = _bare_message_id(first_text(_single(fields, "Message-Id"), _single(fields, "message-id")))
    if direct is not None:
        return direct
    headers = _single(fields, "message-headers")
    if not headers:
        return None
    try:
        pairs = json.loads(headers) if isinstance(headers, str) else headers
    except ValueError:
        raise RecordError("message-headers", "not a JSON list of [name, value] pairs") from None
    for pair in pairs if isinstance(pairs, list) else []:
        if isinstance(pair, list) and len(pair) == 2 and str(pair[0]).lower() == "message-id":
            return _bare_message_id(pair[1])
    return None


def _normalize_legacy(fields: dict) -> dict:
    require(fields, "event")
    raw_event = _single(fields, "event")
    if raw_event not in LEGACY_EVENT_MAP:
        raise RecordError("event", f"unknown legacy Mailgun event {str(raw_event)[:40]!r}")
    event = LEGACY_EVENT_MAP[raw_event]
    timestamp = epoch_seconds(_single(fields, "timestamp"))
    smtp_code = _as_int(_single(fields, "code"))
    error_text = first_text(_single(fields, "error"), _single(fields, "notification"),
                            _single(fields, "description"))
    enhanced = enhanced_status(_single(fields, "code"), error_text)
    drop_reason = str(_single(fields, "reason") or "").lower()
    bounce_class = None
    if event == "dropped" and smtp_code not in SUPPRESSION_CODES and drop_reason in LEGACY_EXPIRED_REASONS:
        # "old"/"maxfails": Mailgun retried until it gave up, a soft bounce rather than a refusal.
        event, bounce_class = "bounced", "soft"
    elif event == "bounced":
        bounce_class = classify_bounce(enhanced, smtp_code, error_text)
    message_id = _legacy_message_id(fields)
    if message_id is None:
        raise RecordError("Message-Id", "missing (and no message-headers to fall back on)")
    recipient = _single(fields, "recipient")
    if not recipient:
        raise RecordError("recipient", "missing")
    token = first_text(_single(fields, "token"))
    tags = chain(_as_list(fields.get("tag")), _as_list(fields.get("X-Mailgun-Tag")))
    return row(
        timestamp=timestamp,
        event=event,
        message_id=message_id,
        # The per-POST token is the only id legacy webhooks carry.
        event_id=f"mailgun:{token}" if token else None,
        recipient=recipient,
        stream=first_text(_single(fields, "stream")),
        campaign=_join(tags) or first_text(_single(fields, "campaign-name"), _single(fields, "campaign-id")),
        bounce_class=bounce_class,
        is_machine=False,
        smtp_status=enhanced,
        reason=first_text(error_text, drop_reason) if event in ("bounced", "dropped") else None,
    )


SPEC = register(
    FormatSpec(
        name="mailgun",
        label="Mailgun events",
        sniff=sniff,
        records=records,
        normalize=normalize,
        priority=30,
    )
)

read_mailgun = make_reader(
    "mailgun",
    """Read Mailgun events: webhook bodies, Events API pages or legacy form-encoded webhooks.

    ``accepted`` -> processed; ``failed`` with ``severity=temporary`` -> deferred; ``failed``
    with ``severity=permanent`` -> dropped when the address was suppressed (reason
    ``suppress-*`` or code 605/607), else bounced, its class read from the enhanced code and the
    reply text (reason ``generic`` alone cannot tell hard from soft); ``rejected`` -> dropped;
    ``opened``/``clicked`` with a non-empty ``client-info.bot`` are machine events; ``stored``
    (inbound) and test-mode events are ignored. ``event-data.id`` is unique only within a day, so
    ``event_id`` is ``mailgun:<UTC date>:<id>`` (``mailgun:<token>`` for legacy webhooks).
    Message ids lose their angle brackets so current and legacy events of a message join.
    ``stream`` is the user variable ``stream``; ``campaign`` the tags (or legacy campaigns).
""",
)
