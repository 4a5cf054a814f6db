"""SparkPost (Bird) webhooks and Events API pages.

Reference: shared/reference/log-formats.md section 5 (and section 13, trap 8).

Two wire shapes are read, in the same file or in different files:

- **Webhook batches**: a JSON array (as posted; or JSON lines of batches or elements, as stored)
  whose elements are ``{"msys": {"<event class>": {...}}}``. The class key (``message_event``,
  ``track_event``, ``unsubscribe_event``, ``gen_event``, ``relay_message``, ...) is not trusted:
  public fixtures file generation events under ``message_event`` as well as ``gen_event``, so the
  single key is read whatever its name and the event's own ``type`` decides. A sibling ``cust``
  key is allowed. An element whose ``msys`` is empty is the ping SparkPost sends when a webhook is
  created or tested and is counted under ``ignored["ping"]``.
- **Events API pages**: ``{"results": [...], "total_count": ..., "links": {...}}`` with flat
  events; each entry of ``results`` is a record of its own. Flat events stored one per line are
  read too.

``timestamp`` is Unix seconds as a *string* in webhooks and ISO-8601 in the Events API; both are
accepted everywhere (trap 8).
"""

from __future__ import annotations

from typing import IO, Any

from ._base import (
    FormatSpec,
    IgnoreRecord,
    RecordError,
    any_time_seconds,
    enhanced_status,
    first_text,
    iter_json_values,
    require,
    row,
)
from ._registry import make_reader, register

#: SparkPost ``type`` -> canonical event; ``bounce`` and ``out_of_band`` are refined by
#: :data:`BOUNCE_CLASS_CATEGORY`.
EVENT_MAP: dict[str, str] = {
    "injection": "processed",
    "delivery": "delivered",
    "delay": "deferred",
    "bounce": "bounced",
    "out_of_band": "bounced",
    "policy_rejection": "dropped",
    "generation_rejection": "dropped",
    "generation_failure": "dropped",
    "spam_complaint": "complained",
    "open": "opened",
    "amp_open": "opened",
    # The top-of-message pixel. A message opened once fires both ``initial_open`` and ``open``;
    # both are kept as ``opened`` events because every later layer counts unique opens per
    # message, and a client that loads only one of the two pixels (images cut by Gmail's clipping
    # of long messages hide the bottom ``open`` pixel) is still seen as opened.
    "initial_open": "opened",
    "amp_initial_open": "opened",
    "click": "clicked",
    "amp_click": "clicked",
    "list_unsubscribe": "unsubscribed",
    "link_unsubscribe": "unsubscribed",
}

#: Valid SparkPost event types outside the canonical set -> the ``meta["ignored"]`` reason.
IGNORED_TYPES: dict[str, str] = {
    "relay_injection": "inbound relay",
    "relay_rejection": "inbound relay",
    "relay_delivery": "inbound relay",
    "relay_tempfail": "inbound relay",
    "relay_permfail": "inbound relay",
    "ab_test_completed": "A/B test status",
    "ab_test_cancelled": "A/B test status",
    "sms_status": "SMS status",
}

#: ``bounce_class`` code -> canonical bounce class, or the canonical event / ignore reason for the
#: codes that are not bounces of the message. From SparkPost's bounce classification table
#: (support-docs ``bounce-classification-codes.md``): the category in brackets is the vendor's.
#:
#: - Hard [Hard]: 10 Invalid Recipient, 30 Generic Bounce: No RCPT, 90 Unsubscribe. Code 90 is an
#:   unsubscribe request received as a reply (out of band); SparkPost classes it Hard and
#:   suppresses the address, so it is read as a hard bounce, as the table says. It is *not* an
#:   ``unsubscribed`` event: the message was never shown to be delivered and engaged with.
#: - Soft [Soft]: 20 Soft Bounce, 21 DNS Failure, 22 Mailbox Full, 23 Too Large, 24 Timeout,
#:   40 Generic Bounce, 70 Transient Failure.
#: - Block [Block]: 50 Mail Block, 51 Spam Block, 52 Spam Content, 53 Prohibited Attachment,
#:   54 Relaying Denied.
#: - Undetermined [Undetermined]: 1.
#: - 25 Admin Failure [Admin]: SparkPost's own policy refused the message: ``dropped``.
#: - 60 Auto-Reply and 100 Challenge-Response: a reply, not a failure: ignored.
#: - 80 Subscribe: a subscribe request, not a failure: ignored.
BOUNCE_CLASS_CATEGORY: dict[int, str] = {
    1: "undetermined",
    10: "hard",
    20: "soft",
    21: "soft",
    22: "soft",
    23: "soft",
    24: "soft",
    25: "dropped",
    30: "hard",
    40: "soft",
    50: "block",
    51: "block",
    52: "block",
    53: "block",
    54: "block",
    60: "ignore:auto-reply",
    70: "soft",
    80: "ignore:subscribe request",
    90: "hard",
    100: "ignore:auto-reply",
}


def sniff(head: str) -> bool:
    """A webhook batch (``"msys"``), an Events API page or flat Events API events."""
    if '"msys"' in head:
        return True
    return '"rcpt_to"' in head and ('"event_id"' in head or '"transmission_id"' in head)


def _explode_events_page(payload: Any) -> list | None:
    """The ``results`` of an Events API page, each a record of its own."""
    if isinstance(payload, dict) and "msys" not in payload and isinstance(payload.get("results"), list):
        return payload["results"]
    return None


def records(stream: IO[str]):
    return iter_json_values(stream, explode=_explode_events_page)


def _unwrap(record: Any) -> dict:
    """The flat event inside a webhook element (whatever its class key), or the record itself."""
    if not isinstance(record, dict):
        raise RecordError(None, "not a JSON object")
    if "msys" not in record:
        if "errors" in record and "type" not in record:
            raise RecordError("errors", f"an API error response, not events: {str(record['errors'])[:200]}")
        return record
    msys = record["msys"]
    if not msys:
        raise IgnoreRecord("ping")
    if not isinstance(msys, dict):
        raise RecordError("msys", "not an object")
    if len(msys) != 1:
        raise RecordError("msys", f"expected one event class, found {sorted(msys)}")
    ((event_class, event),) = msys.items()
    if not isinstance(event, dict):
        raise RecordError(f"msys.{event_class}", "not an object")
    if event_class == "relay_message":
        raise IgnoreRecord("inbound relay")
    return event


def _bounce(event: dict) -> tuple[str, str | None]:
    """(canonical event, bounce class) of a ``bounce`` / ``out_of_band`` event."""
    code_text = first_text(event.get("bounce_class"))
    if code_text is None:
        return "bounced", "undetermined"
    try:
        code = int(code_text)
    except ValueError:
        raise RecordError("bounce_class", f"not a classification code: {code_text[:20]!r}") from None
    category = BOUNCE_CLASS_CATEGORY.get(code, "undetermined")
    if category.startswith("ignore:"):
        raise IgnoreRecord(category.removeprefix("ignore:"))
    if category == "dropped":
        return "dropped", None
    return "bounced", category


def _stream(event: dict) -> str | None:
    """``rcpt_meta["stream"]`` when the sender sets it; SparkPost itself has no stream concept
    (``subaccount_id`` is a tenant, not a mail stream, so it is not used)."""
    meta = event.get("rcpt_meta")
    if isinstance(meta, dict):
        return first_text(meta.get("stream"), meta.get("message_stream"))
    return None


def normalize(record: Any) -> list[dict]:
    event = _unwrap(record)
    raw_type = str(require(event, "type"))
    canonical = EVENT_MAP.get(raw_type)
    if canonical is None:
        if raw_type in IGNORED_TYPES:
            raise IgnoreRecord(IGNORED_TYPES[raw_type])
        raise RecordError("type", f"unknown SparkPost event type {raw_type[:40]!r}")
    bounce_class = None
    if canonical == "bounced":
        canonical, bounce_class = _bounce(event)
    recipient = first_text(event.get("rcpt_to"), event.get("raw_rcpt_to"))
    if recipient is None:
        raise RecordError("rcpt_to", "missing")
    reason = first_text(event.get("reason"), event.get("raw_reason"))
    return [
        row(
            timestamp=any_time_seconds(event.get("timestamp")),
            event=canonical,
            message_id=str(require(event, "message_id")),
            # Unique per event; should one lack it, the framework hashes the record instead.
            event_id=first_text(event.get("event_id")),
            recipient=recipient,
            # `sending_ip` is always ours; `ip_address` is the receiving MX or the reader.
            sending_ip=first_text(event.get("sending_ip")),
            ip_pool=first_text(event.get("ip_pool")),
            stream=_stream(event),
            campaign=first_text(event.get("campaign_id")),
            bounce_class=bounce_class,
            is_machine=False,  # SparkPost documents no proxy / MPP flag
            smtp_status=enhanced_status(event.get("raw_reason"), event.get("reason")),
            reason=reason,
        )
    ]


SPEC = register(
    FormatSpec(
        name="sparkpost",
        label="SparkPost (Bird) webhook / Events API",
        sniff=sniff,
        records=records,
        normalize=normalize,
        priority=30,
    )
)

read_sparkpost = make_reader(
    "sparkpost",
    """Read SparkPost (Bird) webhook batches and Events API pages.

    Webhook elements ``{"msys": {"<class>": {...}}}`` are read whatever the class key; an empty
    ``msys`` is a ping (ignored); Events API pages (``results``) give one record per entry.
    ``timestamp`` may be an epoch-seconds string (webhooks) or ISO-8601 (Events API).
    ``bounce`` and ``out_of_band`` take their class from ``bounce_class`` (10, 30, 90 hard; 20-24,
    40, 70 soft; 50-54 block; 1 undetermined); 25 (Admin Failure) is ``dropped``; 60 and 100
    (auto-replies) and 80 (subscribe) are ignored. ``initial_open`` counts as ``opened`` next to
    ``open``: per-message unique opens are unaffected. ``campaign_id`` gives ``campaign``,
    ``rcpt_meta["stream"]`` the ``stream``; the enhanced status is taken from ``raw_reason``.
""",
)
