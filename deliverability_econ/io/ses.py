"""Amazon SES event publishing (SNS, Firehose, EventBridge) and identity notifications.

Reference: shared/reference/log-formats.md section 3 (and section 13, traps 1 and 10).

One SES record describes one event of one message but may name several recipients; it becomes
one canonical row per recipient. The same record reaches the user through three transports,
all read here and told apart by shape:

- Amazon SNS: an envelope (``Type``, ``MessageId``, ``TopicArn``, ``Timestamp``, ...) whose
  ``Message`` is the SES record as a JSON *string*. Identity notifications (``notificationType``
  instead of ``eventType``, no tags) only travel this way.
- Amazon Data Firehose: the bare SES record, one per line.
- Amazon EventBridge: ``source`` ``"aws.ses"``, a ``detail-type`` such as ``"Email Bounced"``,
  the SES record in ``detail``.

A configuration set may publish the same events to several destinations at once, so event ids
are built from the SES record only (never from the envelope): the same event read from SNS and
from Firehose gets the same ``event_id`` and is counted once.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

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
    stable_hash,
)
from ._registry import make_reader, register

#: SES ``eventType`` -> the sub-object that holds the event's details (``failure`` for
#: Rendering Failure). Identity notifications use the same names for Bounce, Complaint, Delivery.
EVENT_SUBOBJECT: dict[str, str] = {
    "Send": "send",
    "Reject": "reject",
    "Bounce": "bounce",
    "Complaint": "complaint",
    "Delivery": "delivery",
    "DeliveryDelay": "deliveryDelay",
    "Open": "open",
    "Click": "click",
    "Rendering Failure": "failure",
    "Subscription": "subscription",
}

#: Event types whose sub-object carries no time of its own: ``mail.timestamp`` (the send time)
#: is the event's time. Every other type must carry ``<sub-object>.timestamp``.
MAIL_TIMESTAMP_EVENTS = frozenset({"Send", "Reject", "Rendering Failure"})

#: (``bounceType``, ``bounceSubType``) -> (canonical event, bounce class).
#: ``Suppressed`` / ``OnAccountSuppressionList``: SES never attempted delivery, so ``dropped``.
#: ``ContentRejected`` / ``AttachmentRejected``: the receiver refused this content from this
#: sender while the address itself is good, the same situation SendGrid's ``content``
#: classification describes, so a ``block`` like in the SendGrid reader (it is what a sender can
#: fix; a ``soft`` bounce would hide it among full mailboxes).
#: ``Undetermined``: SES could not tell the cause, kept as ``undetermined`` rather than guessed.
BOUNCE_MAP: dict[tuple[str, str], tuple[str, str | None]] = {
    ("Permanent", "General"): ("bounced", "hard"),
    ("Permanent", "NoEmail"): ("bounced", "hard"),
    ("Permanent", "Suppressed"): ("dropped", None),
    ("Permanent", "OnAccountSuppressionList"): ("dropped", None),
    ("Transient", "General"): ("bounced", "soft"),
    ("Transient", "MailboxFull"): ("bounced", "soft"),
    ("Transient", "MessageTooLarge"): ("bounced", "soft"),
    ("Transient", "ContentRejected"): ("bounced", "block"),
    ("Transient", "AttachmentRejected"): ("bounced", "block"),
    ("Undetermined", "Undetermined"): ("bounced", "undetermined"),
}

#: A ``bounceSubType`` SES adds later falls back on its ``bounceType``.
BOUNCE_TYPE_FALLBACK: dict[str, tuple[str, str | None]] = {
    "Permanent": ("bounced", "hard"),
    "Transient": ("bounced", "soft"),
    "Undetermined": ("bounced", "undetermined"),
}

#: EventBridge ``detail-type`` -> SES ``eventType``, used only when ``detail`` lacks ``eventType``.
EVENTBRIDGE_DETAIL_TYPES: dict[str, str] = {
    "Email Sent": "Send",
    "Email Rejected": "Reject",
    "Email Bounced": "Bounce",
    "Email Complaint Received": "Complaint",
    "Email Delivered": "Delivery",
    "Email Delivery Delayed": "DeliveryDelay",
    "Email Opened": "Open",
    "Email Clicked": "Click",
    "Email Rendering Failed": "Rendering Failure",
    "Email Subscribed": "Subscription",
}

#: SNS envelope ``Type`` values that carry no SES event (the topic's subscription handshake).
IGNORED_SNS_TYPES: dict[str, str] = {
    "SubscriptionConfirmation": "SNS SubscriptionConfirmation",
    "UnsubscribeConfirmation": "SNS UnsubscribeConfirmation",
}

#: ``notificationType`` values of identity notifications that are not sending events.
IGNORED_NOTIFICATION_TYPES: dict[str, str] = {
    "AmazonSnsSubscriptionSucceeded": "SES topic subscription test notification",
    "Received": "inbound mail (SES receiving)",
}

#: ``mail.tags`` key of the IP SES sent from. ``ses:source-ip`` is the API caller's address
#: and is never a sending IP (log-formats.md section 13, trap 10).
SENDING_IP_TAG = "ses:outgoing-ip"

#: ``mail.tags`` keys tried in order for ``stream``: a message tag the sender sets, else the
#: configuration set (senders commonly keep one per mail stream).
STREAM_TAGS: tuple[str, ...] = ("stream", "ses:configuration-set")

#: ``mail.tags`` keys tried in order for ``campaign`` (message tags the sender sets).
CAMPAIGN_TAGS: tuple[str, ...] = ("campaign", "campaign-id", "campaign_id")

_EVENT_TYPE_KEY = re.compile(r'"(?:eventType|notificationType)"\s*:')
_MAIL_KEY = re.compile(r'"mail"\s*:')
_ESCAPED_EVENT_TYPE_KEY = re.compile(r'\\"(?:eventType|notificationType)\\"\s*:')


def sniff(head: str) -> bool:
    """An SES record (``eventType``/``notificationType`` next to ``mail``), an SNS envelope whose
    ``Message`` string holds one, or an EventBridge event from ``aws.ses``."""
    if re.search(r'"source"\s*:\s*"aws\.ses"', head):
        return True
    if _EVENT_TYPE_KEY.search(head) and _MAIL_KEY.search(head):
        return True
    return '"TopicArn"' in head and _ESCAPED_EVENT_TYPE_KEY.search(head) is not None


def normalize(payload: Any) -> list[dict]:
    """One SES record, bare or in its SNS / EventBridge envelope, into canonical rows."""
    record, prefix = _unwrap(payload)
    try:
        return _normalize_record(record)
    except RecordError as exc:
        if not prefix:
            raise
        field_name = prefix + exc.field if exc.field else prefix.rstrip(".")
        raise RecordError(field_name, exc.reason) from None


def _unwrap(payload: Any) -> tuple[Mapping, str]:
    """The SES record inside a transport envelope, and the path prefix of its fields."""
    if not isinstance(payload, Mapping):
        raise RecordError(None, "not a JSON object")
    if "TopicArn" in payload and "Type" in payload:
        return _unwrap_sns(payload), "Message."
    if "detail-type" in payload or payload.get("source") == "aws.ses":
        return _unwrap_eventbridge(payload), "detail."
    return payload, ""


def _unwrap_sns(envelope: Mapping) -> Mapping:
    sns_type = envelope.get("Type")
    if sns_type in IGNORED_SNS_TYPES:
        raise IgnoreRecord(IGNORED_SNS_TYPES[sns_type])
    if sns_type != "Notification":
        raise RecordError("Type", f"unknown SNS message type {str(sns_type)[:40]!r}")
    message = envelope.get("Message")
    if message is None or message == "":
        raise RecordError("Message", "missing")
    if isinstance(message, str):
        try:
            message = json.loads(message)
        except ValueError as exc:
            raise RecordError(
                "Message", f"not JSON ({exc.msg}, column {exc.colno}), so not an SES record"
            ) from None
    if not isinstance(message, Mapping):
        raise RecordError("Message", "not a JSON object, so not an SES record")
    return message


def _unwrap_eventbridge(event: Mapping) -> Mapping:
    source = event.get("source")
    if source != "aws.ses":
        raise RecordError("source", f"an EventBridge event from {str(source)[:40]!r}, not 'aws.ses'")
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise RecordError("detail", "missing" if detail is None else "not a JSON object")
    if "eventType" not in detail and "notificationType" not in detail:
        event_type = EVENTBRIDGE_DETAIL_TYPES.get(str(event.get("detail-type")))
        if event_type is not None:
            detail = {**detail, "eventType": event_type}
    return detail


def _normalize_record(record: Mapping) -> list[dict]:
    if "eventType" in record:
        type_field, event_type = "eventType", record.get("eventType")
    elif "notificationType" in record:
        type_field, event_type = "notificationType", record.get("notificationType")
    else:
        raise RecordError("eventType", "missing (neither eventType nor notificationType): not an SES record")
    if event_type in IGNORED_NOTIFICATION_TYPES:
        raise IgnoreRecord(IGNORED_NOTIFICATION_TYPES[event_type])
    if event_type not in EVENT_SUBOBJECT:
        raise RecordError(type_field, f"unknown SES event type {str(event_type)[:40]!r}")
    mail = record.get("mail")
    if not isinstance(mail, Mapping):
        raise RecordError("mail", "missing" if mail is None else "not a JSON object")
    message = _message_keys(mail)
    sub_name = EVENT_SUBOBJECT[event_type]
    if event_type == "Send":
        sub = record.get(sub_name) if isinstance(record.get(sub_name), Mapping) else {}
    else:
        sub = _sub_object(record, sub_name)
    if event_type in MAIL_TIMESTAMP_EVENTS:
        timestamp = iso_seconds(mail.get("timestamp"), "mail.timestamp")
    else:
        time_value = sub.get("timestamp")
        if event_type == "Complaint" and not time_value:
            time_value = sub.get("arrivalDate")  # the feedback report's own date
        timestamp = iso_seconds(time_value, f"{sub_name}.timestamp")
    return _EVENT_HANDLERS[event_type](event_type, sub, mail, message, timestamp)


class _MessageKeys(NamedTuple):
    """The per-message keys shared by every row of one SES record."""

    message_id: str
    sending_ip: str | None
    stream: str | None
    campaign: str | None


def _message_keys(mail: Mapping) -> _MessageKeys:
    tags = mail.get("tags")
    tags = tags if isinstance(tags, Mapping) else {}  # identity notifications carry none
    return _MessageKeys(
        message_id=str(require(mail, "messageId", "mail.messageId")).strip(),
        sending_ip=_tag(tags, SENDING_IP_TAG),
        stream=first_text(*(_tag(tags, name) for name in STREAM_TAGS)),
        campaign=first_text(*(_tag(tags, name) for name in CAMPAIGN_TAGS)),
    )


def _tag(tags: Mapping, name: str) -> str | None:
    """A message tag's value; SES tags are objects of *lists* (``{"ses:outgoing-ip": ["..."]}``)."""
    value = tags.get(name)
    if isinstance(value, list):
        return first_text(*value)
    return first_text(value)


def _sub_object(record: Mapping, name: str) -> Mapping:
    sub = record.get(name)
    if not isinstance(sub, Mapping):
        raise RecordError(name, "missing" if sub is None else "not a JSON object")
    return sub


def _address(value: Any) -> str | None:
    """A recipient address from a plain string or ``Display Name <address>``."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.endswith(">") and "<" in text:
        text = text[text.rindex("<") + 1 : -1].strip()
    return text or None


def _recipient_items(items: Any, field_name: str) -> list[tuple[str | None, Mapping]]:
    """``(address, item)`` for each entry of a recipient list (strings or objects with
    ``emailAddress``). An entry without an address keeps ``None``: that row alone is quarantined
    (field ``recipient``) and the other recipients of the record still count."""
    if items is None:
        raise RecordError(field_name, "missing")
    if not isinstance(items, list):
        raise RecordError(field_name, "not a list")
    if not items:
        raise RecordError(field_name, "empty: the record names no recipient")
    out: list[tuple[str | None, Mapping]] = []
    for item in items:
        if isinstance(item, Mapping):
            out.append((_address(item.get("emailAddress")), item))
        else:
            out.append((_address(item), {}))
    return out


def _destination(mail: Mapping) -> list[tuple[str | None, Mapping]]:
    return _recipient_items(mail.get("destination"), "mail.destination")


def event_id(message_id: str, event_type: str, recipient: str | None, timestamp: float,
             feedback_id: str | None = None) -> str:
    """The id of one SES event for one recipient, from the SES record alone.

    Bounces and complaints: SES's ``feedbackId`` and the recipient. Everything else: a hash of
    ``(mail.messageId, eventType, recipient, sub-object time [epoch s])``. The transport (SNS
    ``MessageId``, EventBridge ``id``) is left out on purpose, so that one event published to
    several destinations, or redelivered, keeps one id. The recipient is hashed, never shown.
    """
    recipient_key = recipient.strip().lower() if recipient else None
    if feedback_id:
        return "ses:" + stable_hash("feedback", feedback_id, recipient_key)
    return "ses:" + stable_hash(message_id, event_type, recipient_key, timestamp)


def _rows_for(
    event_type: str,
    recipients: list[tuple[str | None, Mapping]],
    message: _MessageKeys,
    timestamp: float,
    event: str,
    *,
    feedback_id: str | None = None,
    bounce_class: str | None = None,
    reason: str | None = None,
    smtp_status: str | None = None,
    per_recipient_status: bool = False,
    status_prefix: str | None = None,
) -> list[dict]:
    """One row per recipient. With ``per_recipient_status`` each recipient entry's ``status``
    and ``diagnosticCode`` (bounces, delays) give ``smtp_status`` and ``reason``, the latter
    prefixed by ``status_prefix`` (the bounce or delay type)."""
    rows = []
    for address, item in recipients:
        row_reason, row_status = reason, smtp_status
        if per_recipient_status:
            diagnostic = first_text(item.get("diagnosticCode"))
            row_status = enhanced_status(item.get("status"), diagnostic)
            if diagnostic:
                row_reason = f"{status_prefix}: {diagnostic}" if status_prefix else diagnostic
        rows.append(
            row(
                timestamp=timestamp,
                event=event,
                message_id=message.message_id,
                event_id=event_id(message.message_id, event_type, address, timestamp, feedback_id),
                recipient=address,
                sending_ip=message.sending_ip,
                ip_pool=None,
                stream=message.stream,
                campaign=message.campaign,
                bounce_class=bounce_class,
                is_machine=False,  # SES flags no proxy or prefetch opens
                smtp_status=row_status,
                reason=row_reason,
            )
        )
    return rows


def _send(event_type, sub, mail, message, timestamp):
    return _rows_for(event_type, _destination(mail), message, timestamp, "processed")


def _reject(event_type, sub, mail, message, timestamp):
    reason = first_text(sub.get("reason"))
    return _rows_for(event_type, _destination(mail), message, timestamp, "dropped",
                     reason=f"rejected by SES: {reason}" if reason else "rejected by SES")


def _rendering_failure(event_type, sub, mail, message, timestamp):
    template = first_text(sub.get("templateName"))
    error = first_text(sub.get("errorMessage")) or "no error message"
    reason = f"rendering failure (template {template}): {error}" if template else f"rendering failure: {error}"
    return _rows_for(event_type, _destination(mail), message, timestamp, "dropped", reason=reason)


def _delivery(event_type, sub, mail, message, timestamp):
    recipients = _recipient_items(sub.get("recipients"), "delivery.recipients")
    smtp_response = first_text(sub.get("smtpResponse"))
    return _rows_for(event_type, recipients, message, timestamp, "delivered",
                     reason=smtp_response, smtp_status=enhanced_status(smtp_response))


def _delivery_delay(event_type, sub, mail, message, timestamp):
    recipients = _recipient_items(sub.get("delayedRecipients"), "deliveryDelay.delayedRecipients")
    delay_type = first_text(sub.get("delayType"))
    rows = _rows_for(event_type, recipients, message, timestamp, "deferred",
                     per_recipient_status=True, status_prefix=delay_type)
    for produced in rows:
        if produced["reason"] is None and delay_type:
            produced["reason"] = delay_type
    return rows


def _bounce(event_type, sub, mail, message, timestamp):
    bounce_type = str(require(sub, "bounceType", "bounce.bounceType"))
    bounce_subtype = first_text(sub.get("bounceSubType")) or ""
    mapped = BOUNCE_MAP.get((bounce_type, bounce_subtype)) or BOUNCE_TYPE_FALLBACK.get(bounce_type)
    if mapped is None:
        raise RecordError("bounce.bounceType", f"unknown bounce type {bounce_type[:40]!r}")
    event, bounce_class = mapped
    label = f"{bounce_type}/{bounce_subtype}" if bounce_subtype else bounce_type
    recipients = _recipient_items(sub.get("bouncedRecipients"), "bounce.bouncedRecipients")
    rows = _rows_for(event_type, recipients, message, timestamp, event,
                     feedback_id=first_text(sub.get("feedbackId")), bounce_class=bounce_class,
                     per_recipient_status=True, status_prefix=label)
    for produced in rows:
        if produced["reason"] is None:
            produced["reason"] = label
    return rows


def _complaint(event_type, sub, mail, message, timestamp):
    feedback_type = first_text(sub.get("complaintFeedbackType"))
    if feedback_type == "not-spam":
        # ARF "not-spam": the reporter says the message is NOT spam (a correction).
        raise IgnoreRecord("not-spam feedback (not a complaint)")
    recipients = _recipient_items(sub.get("complainedRecipients"), "complaint.complainedRecipients")
    feedback_id = first_text(sub.get("feedbackId"))
    if sub.get("complaintSubType") == "OnAccountSuppressionList":
        # SES accepted the message but did not send it: the address is on the account-level
        # suppression list because of an earlier complaint.
        return _rows_for(event_type, recipients, message, timestamp, "dropped",
                         feedback_id=feedback_id,
                         reason="suppressed: on the account-level suppression list (complaint)")
    return _rows_for(event_type, recipients, message, timestamp, "complained",
                     feedback_id=feedback_id,
                     reason=f"feedback type {feedback_type}" if feedback_type else None)


def _open(event_type, sub, mail, message, timestamp):
    # An open names no recipient: SES reports it for the message, so for every destination.
    return _rows_for(event_type, _destination(mail), message, timestamp, "opened")


def _click(event_type, sub, mail, message, timestamp):
    return _rows_for(event_type, _destination(mail), message, timestamp, "clicked")


def _subscription(event_type, sub, mail, message, timestamp):
    reason = unsubscribe_reason(sub)
    if reason is None:
        raise IgnoreRecord("subscription change without opt-out")
    # The subscription object names no contact; SES list management sends to one recipient per
    # message, so mail.destination is that contact.
    return _rows_for(event_type, _destination(mail), message, timestamp, "unsubscribed",
                     reason=reason)


def unsubscribe_reason(subscription: Mapping) -> str | None:
    """Why an SES ``subscription`` object is an unsubscribe, or None when it is not one.

    An unsubscribe is ``newTopicPreferences.unsubscribeAll`` true, or a topic whose new
    ``subscriptionStatus`` is ``OptOut`` while its old one was not.
    """
    new = subscription.get("newTopicPreferences")
    new = new if isinstance(new, Mapping) else {}
    old = subscription.get("oldTopicPreferences")
    old = old if isinstance(old, Mapping) else {}
    contact_list = first_text(subscription.get("contactList"))
    where = f" of contact list {contact_list}" if contact_list else ""
    how = first_text(subscription.get("source"))
    via = f" via {how}" if how else ""
    unsubscribe_all = new.get("unsubscribeAll")
    if unsubscribe_all is True or str(unsubscribe_all).lower() == "true":
        return f"unsubscribed from all topics{where}{via}"
    old_status = {
        topic.get("topicName"): topic.get("subscriptionStatus")
        for topic in old.get("topicSubscriptionStatus") or []
        if isinstance(topic, Mapping)
    }
    opted_out = [
        str(topic.get("topicName"))
        for topic in new.get("topicSubscriptionStatus") or []
        if isinstance(topic, Mapping)
        and topic.get("subscriptionStatus") == "OptOut"
        and old_status.get(topic.get("topicName")) != "OptOut"
    ]
    if opted_out:
        return f"opted out of topic {', '.join(opted_out)}{where}{via}"
    return None


_EVENT_HANDLERS = {
    "Send": _send,
    "Reject": _reject,
    "Bounce": _bounce,
    "Complaint": _complaint,
    "Delivery": _delivery,
    "DeliveryDelay": _delivery_delay,
    "Open": _open,
    "Click": _click,
    "Rendering Failure": _rendering_failure,
    "Subscription": _subscription,
}


SPEC = register(
    FormatSpec(
        name="ses",
        label="Amazon SES events",
        sniff=sniff,
        records=iter_json_values,
        normalize=normalize,
        priority=30,
    )
)

read_ses = make_reader(
    "ses",
    """Read Amazon SES events: event publishing through SNS, Firehose or EventBridge, and
    identity notifications (``notificationType``) through SNS.

    A file may hold JSON lines or one JSON array, of SNS envelopes, bare SES records (Firehose)
    or EventBridge events, mixed freely. Mapping (log-formats.md section 3):

    ==========================================  =============================================
    SES                                         canonical
    ==========================================  =============================================
    Send                                        ``processed`` per ``mail.destination``
    Delivery                                    ``delivered`` per ``delivery.recipients``
    DeliveryDelay                               ``deferred`` per ``delayedRecipients``
    Bounce Permanent/General, NoEmail           ``bounced`` ``hard``
    Bounce Permanent/Suppressed,                ``dropped`` (SES never attempted delivery)
    OnAccountSuppressionList
    Bounce Transient/General, MailboxFull,      ``bounced`` ``soft``
    MessageTooLarge
    Bounce Transient/ContentRejected,           ``bounced`` ``block`` (the receiver refused
    AttachmentRejected                          the content; the address is good)
    Bounce Undetermined                         ``bounced`` ``undetermined``
    Reject, Rendering Failure                   ``dropped`` per ``mail.destination``
    Complaint                                   ``complained`` per ``complainedRecipients``;
                                                ``dropped`` for subtype OnAccountSuppressionList;
                                                feedback type ``not-spam`` is ignored
    Open, Click                                 ``opened`` (never machine: SES has no flag),
                                                ``clicked``, per ``mail.destination``
    Subscription                                ``unsubscribed`` when ``unsubscribeAll`` or a
                                                topic turns ``OptOut``; otherwise ignored
    ==========================================  =============================================

    The time is the event's own (``bounce.timestamp``, ``delivery.timestamp``, ...), never the
    SNS envelope's ``Timestamp``; ``mail.timestamp`` only for Send, Reject and Rendering
    Failure. ``sending_ip`` is the ``ses:outgoing-ip`` tag, never ``ses:source-ip`` (the API
    caller). ``stream`` is a ``stream`` message tag, else ``ses:configuration-set``;
    ``campaign`` a ``campaign`` (or ``campaign-id``, ``campaign_id``) message tag; ``ip_pool`` is
    not in SES records. ``event_id`` is ``feedbackId`` + recipient for bounces and complaints,
    else a hash of (messageId, eventType, recipient, event time), the same whichever transport
    brought the record. SNS SubscriptionConfirmation / UnsubscribeConfirmation envelopes, SES
    topic test notifications and inbound-mail notifications are ignored with their reason.
""",
)
