"""Postmark webhooks (and Bounce API pages): one JSON object per event, ``RecordType`` decides.

Reference: shared/reference/log-formats.md section 4 (and section 13, trap 7).

Webhook bodies are read as stored: JSON lines, one pretty-printed body, or a JSON array of
bodies. A Bounce API page ``{"TotalCount": n, "Bounces": [...]}`` is read too: its bounces carry
no ``RecordType`` but the same ``ID`` as the bounce webhook, so both de-duplicate together.
Postmark has no "processed" event.
"""

from __future__ import annotations

from typing import Any

from ._base import (
    FormatSpec,
    IgnoreRecord,
    RecordError,
    enhanced_status,
    first_text,
    iso_seconds,
    iter_json_values,
    require,
    row,
)
from ._registry import make_reader, register

#: ``RecordType`` -> the field holding the event time.
TIME_FIELDS: dict[str, str] = {
    "Delivery": "DeliveredAt",
    "Bounce": "BouncedAt",
    "SpamComplaint": "BouncedAt",
    "Open": "ReceivedAt",
    "Click": "ReceivedAt",
    "SubscriptionChange": "ChangedAt",
}

#: ``RecordType`` -> the field holding the recipient: Bounce and SpamComplaint say ``Email``.
RECIPIENT_FIELDS: dict[str, str] = {
    "Delivery": "Recipient",
    "Bounce": "Email",
    "SpamComplaint": "Email",
    "Open": "Recipient",
    "Click": "Recipient",
    "SubscriptionChange": "Recipient",
}

#: Record types that are one canonical event whatever their content.
RECORD_EVENTS: dict[str, str] = {
    "Delivery": "delivered",
    "Open": "opened",  # Postmark has no machine-open flag; Apple MPP opens count as human
    "Click": "clicked",
    "SpamComplaint": "complained",
}

#: Bounce ``Type`` -> (canonical event, bounce class). A ``Bounce`` record is not always a bounce:
#: Transient is a delay, BadEmailAddress and the deactivations are refusals to send, and an
#: unsubscribe or a spam complaint can arrive through the bounce hook (trap 7).
#: VirusNotification and Unknown: the message did not arrive and Postmark cannot say why, so
#: they are bounces of class ``undetermined`` (they count as "missing" mail).
BOUNCE_TYPE_EVENTS: dict[str, tuple[str, str | None]] = {
    "HardBounce": ("bounced", "hard"),
    "Transient": ("deferred", None),
    "Unsubscribe": ("unsubscribed", None),
    "DnsError": ("bounced", "soft"),
    "SpamNotification": ("bounced", "block"),
    "Unknown": ("bounced", "undetermined"),
    "SoftBounce": ("bounced", "soft"),
    "VirusNotification": ("bounced", "undetermined"),
    "BadEmailAddress": ("dropped", None),
    "SpamComplaint": ("complained", None),
    "ManuallyDeactivated": ("dropped", None),
    "Unconfirmed": ("dropped", None),
    "Blocked": ("bounced", "block"),
    "SMTPApiError": ("dropped", None),
    "DMARCPolicy": ("bounced", "block"),
    "TemplateRenderingFailed": ("dropped", None),
}

#: Bounce ``Type`` values that are no event of ours: replies from the recipient's side, a
#: resubscribe, a relay probe, and errors of Postmark's inbound processing.
IGNORED_BOUNCE_TYPES: dict[str, str] = {
    "Subscribe": "resubscribe",
    "AutoResponder": "auto-reply",
    "AddressChange": "auto-reply",
    "ChallengeVerification": "auto-reply",
    "OpenRelayTest": "open relay test",
    "InboundError": "inbound",
}

#: ``TypeCode`` -> ``Type``, for records that carry only the code.
BOUNCE_TYPE_CODES: dict[int, str] = {
    1: "HardBounce",
    2: "Transient",
    16: "Unsubscribe",
    32: "Subscribe",
    64: "AutoResponder",
    128: "AddressChange",
    256: "DnsError",
    512: "SpamNotification",
    1024: "OpenRelayTest",
    2048: "Unknown",
    4096: "SoftBounce",
    8192: "VirusNotification",
    16384: "ChallengeVerification",
    100000: "BadEmailAddress",
    100001: "SpamComplaint",
    100002: "ManuallyDeactivated",
    100003: "Unconfirmed",
    100006: "Blocked",
    100007: "SMTPApiError",
    100008: "InboundError",
    100009: "DMARCPolicy",
    100010: "TemplateRenderingFailed",
}

#: ``SuppressionReason`` values whose suppression repeats an event already reported by its own
#: webhook (the hard bounce, the spam complaint): counting them again would double it.
DUPLICATING_SUPPRESSIONS: dict[str, str] = {
    "HardBounce": "suppression after a hard bounce",
    "SpamComplaint": "suppression after a spam complaint",
}

#: ``Origin`` values of a ``ManualSuppression`` made by the sender or by Postmark, not by the
#: recipient: not an unsubscribe.
SENDER_ORIGINS: frozenset[str] = frozenset({"Customer", "Admin"})


def sniff(head: str) -> bool:
    """Whether ``head`` looks like Postmark webhooks or a Bounce API page."""
    if '"RecordType"' in head and ('"MessageID"' in head or '"MessageStream"' in head):
        return True
    return '"TypeCode"' in head and '"BouncedAt"' in head


def _bounces_page(payload: Any) -> list | None:
    """The ``Bounces`` of a Bounce API page, else None."""
    if isinstance(payload, dict) and isinstance(payload.get("Bounces"), list) and "RecordType" not in payload:
        return payload["Bounces"]
    return None


def records(stream):
    return iter_json_values(stream, explode=_bounces_page)


def _record_type(record: dict) -> str:
    record_type = record.get("RecordType")
    if record_type in (None, "") and "BouncedAt" in record and (
        record.get("TypeCode") not in (None, "") or record.get("Type") not in (None, "")
    ):
        return "Bounce"  # a Bounce API entry: no RecordType, but a bounce type and BouncedAt
    if record_type in (None, ""):
        raise RecordError("RecordType", "missing")
    if record_type not in TIME_FIELDS:
        raise RecordError("RecordType", f"unknown Postmark record type {str(record_type)[:40]!r}")
    return str(record_type)


def _bounce_type(record: dict) -> str:
    bounce_type = record.get("Type")
    if bounce_type in BOUNCE_TYPE_EVENTS or bounce_type in IGNORED_BOUNCE_TYPES:
        return str(bounce_type)
    code = record.get("TypeCode")
    if bounce_type in (None, "") and code not in (None, ""):
        try:
            return BOUNCE_TYPE_CODES[int(code)]
        except (KeyError, TypeError, ValueError):
            raise RecordError("TypeCode", f"unknown Postmark bounce type code {str(code)[:20]!r}") from None
    if bounce_type in (None, ""):
        raise RecordError("Type", "missing (and no TypeCode)")
    raise RecordError("Type", f"unknown Postmark bounce type {str(bounce_type)[:40]!r}")


def _subscription_event(record: dict) -> str:
    suppress = record.get("SuppressSending")
    if not isinstance(suppress, bool):
        raise RecordError("SuppressSending", "missing" if suppress is None else f"not true/false: {suppress!r}")
    if not suppress:
        raise IgnoreRecord("resubscribe")
    reason = str(require(record, "SuppressionReason"))
    if reason in DUPLICATING_SUPPRESSIONS:
        raise IgnoreRecord(DUPLICATING_SUPPRESSIONS[reason])
    if reason != "ManualSuppression":
        raise RecordError("SuppressionReason", f"unknown suppression reason {reason[:40]!r}")
    if record.get("Origin") in SENDER_ORIGINS:
        raise IgnoreRecord("suppression by the sender")
    return "unsubscribed"


def normalize(record: Any) -> list[dict]:
    """One Postmark webhook body (or Bounce API entry) -> canonical rows."""
    if not isinstance(record, dict):
        raise RecordError(None, "not a JSON object")
    record_type = _record_type(record)
    bounce_class = None
    if record_type == "Bounce":
        bounce_type = _bounce_type(record)
        if bounce_type in IGNORED_BOUNCE_TYPES:
            raise IgnoreRecord(IGNORED_BOUNCE_TYPES[bounce_type])
        event, bounce_class = BOUNCE_TYPE_EVENTS[bounce_type]
    elif record_type == "SubscriptionChange":
        event = _subscription_event(record)
    else:
        event = RECORD_EVENTS[record_type]

    time_field = TIME_FIELDS[record_type]
    timestamp = iso_seconds(require(record, time_field), time_field)
    # Prefer the documented key, but accept the other: the key differs by record type.
    recipient_field = RECIPIENT_FIELDS[record_type]
    recipient = first_text(record.get(recipient_field), record.get("Recipient"), record.get("Email"))
    if recipient is None:
        raise RecordError(recipient_field, "missing")
    message_id = first_text(require(record, "MessageID"))
    message_id = message_id.strip().strip("<>").strip() if message_id else None
    if not message_id:
        raise RecordError("MessageID", "missing")
    bounce_id = first_text(record.get("ID")) if record_type in ("Bounce", "SpamComplaint") else None
    details = first_text(record.get("Details"))
    return [
        row(
            timestamp=timestamp,
            event=event,
            message_id=message_id,
            event_id=f"postmark:{bounce_id}" if bounce_id is not None else None,
            recipient=recipient,
            stream=first_text(record.get("MessageStream")),
            campaign=first_text(record.get("Tag")),
            bounce_class=bounce_class,
            is_machine=False,
            smtp_status=enhanced_status(details),
            reason=first_text(details, record.get("Description"))
            if record_type in ("Bounce", "SpamComplaint", "Delivery") else None,
        )
    ]


SPEC = register(
    FormatSpec(
        name="postmark",
        label="Postmark webhooks",
        sniff=sniff,
        records=records,
        normalize=normalize,
        priority=30,
    )
)

read_postmark = make_reader(
    "postmark",
    """Read Postmark webhooks (JSON lines, one body or an array of bodies) or Bounce API pages.

    ``RecordType`` decides the event; for ``Bounce`` records the bounce ``Type`` (or
    ``TypeCode``) decides, per :data:`BOUNCE_TYPE_EVENTS` and :data:`IGNORED_BOUNCE_TYPES`:
    HardBounce is a hard bounce; SoftBounce and DnsError soft; Blocked, DMARCPolicy and
    SpamNotification block; Unknown and VirusNotification undetermined; Transient is a deferral;
    BadEmailAddress, the deactivations and sending errors are drops; SpamComplaint and
    Unsubscribe arriving as bounces are complaints and unsubscribes; auto-replies, Subscribe,
    OpenRelayTest and InboundError are ignored. A ``SubscriptionChange`` is an unsubscribe only
    when the recipient suppressed sending (``ManualSuppression`` not made by the sender);
    suppressions after a hard bounce or complaint repeat that event and are ignored, as are
    reactivations. Times carry the server's local offset and seven fractional digits; a time
    without a zone is rejected. ``event_id`` is ``postmark:<ID>`` for bounces and complaints,
    else a hash of the record. ``stream`` is ``MessageStream``; ``campaign`` is ``Tag``.
""",
)
