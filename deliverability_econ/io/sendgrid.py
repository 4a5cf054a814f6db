"""SendGrid Event Webhook: JSON arrays as posted, JSON lines as stored.

Reference: shared/reference/log-formats.md section 1 (and section 13, traps 2, 3 and 11).
"""

from __future__ import annotations

import re
from typing import Any

from ._base import (
    FormatSpec,
    IgnoreRecord,
    RecordError,
    enhanced_status,
    epoch_seconds,
    first_text,
    iter_json_values,
    require,
    row,
)
from ._fast import FastSendGridChunks
from ._registry import make_reader, register

#: SendGrid ``event`` -> canonical event (bounce and open are refined below).
EVENT_MAP: dict[str, str] = {
    "processed": "processed",
    "delivered": "delivered",
    "deferred": "deferred",
    "bounce": "bounced",
    "dropped": "dropped",
    "open": "opened",
    "click": "clicked",
    "spamreport": "complained",
    "unsubscribe": "unsubscribed",
    "group_unsubscribe": "unsubscribed",
}

#: Events that are valid SendGrid records but outside the canonical set.
IGNORED_EVENTS = {"group_resubscribe": "resubscribe"}

#: ``bounce_classification`` (lower-cased, either spelling) -> canonical bounce class.
#: The docs' long names (``Invalid Address``) and the short forms seen in public fixtures
#: (``invalid``) are both accepted (log-formats.md section 13, trap 3).
BOUNCE_CLASSIFICATION_MAP: dict[str, str] = {
    "invalid address": "hard",
    "invalid": "hard",
    "mailbox unavailable": "soft",
    "mailbox": "soft",
    "technical failure": "soft",
    "technical": "soft",
    "frequency or volume too high": "block",
    "frequency": "block",
    "volume": "block",
    "reputation": "block",
    "content": "block",
    "unclassified": "undetermined",
}


def sniff(head: str) -> bool:
    return '"sg_event_id"' in head or '"sg_message_id"' in head or (
        '"smtp-id"' in head and '"event"' in head
    )


def _message_id(record: dict) -> str:
    """``sg_message_id`` up to the filter suffix joins all events of a message; asynchronous
    bounces lack it, so fall back to ``smtp-id`` (the originating Message-ID)."""
    sg_message_id = record.get("sg_message_id")
    if sg_message_id:
        # "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0": the first part is the smtp-id's
        # local part and identifies the message; the suffix differs per processing node.
        return str(sg_message_id).split(".filter", 1)[0]
    smtp_id = record.get("smtp-id")
    if smtp_id:
        return str(smtp_id).strip().strip("<>").split("@", 1)[0]
    raise RecordError("sg_message_id", "missing (and no smtp-id to fall back on)")


def _campaign(record: dict) -> str | None:
    category = record.get("category")
    if isinstance(category, list):
        category = ",".join(str(c) for c in category) if category else None
    return first_text(category, record.get("marketing_campaign_name"))


def _ip_pool(record: dict) -> str | None:
    pool = record.get("pool")
    if isinstance(pool, dict):
        return first_text(pool.get("name"), pool.get("id"))
    return first_text(pool)


def _bounce_class(record: dict) -> str:
    classification = record.get("bounce_classification")
    if classification:
        key = re.sub(r"\s+", " ", str(classification).strip().lower())
        if key in BOUNCE_CLASSIFICATION_MAP:
            return BOUNCE_CLASSIFICATION_MAP[key]
    bounce_type = str(record.get("type") or "").lower()
    if bounce_type == "blocked":
        return "block"
    status = enhanced_status(record.get("status"), record.get("reason"))
    if bounce_type == "bounce" or (status and status.startswith("5.1.")):
        return "hard"
    if status and status.startswith("4."):
        return "soft"
    return "hard" if not bounce_type and status and status.startswith("5.") else "undetermined"


def normalize(record: Any) -> list[dict]:
    if not isinstance(record, dict):
        raise RecordError(None, "not a JSON object")
    raw_event = require(record, "event")
    event = EVENT_MAP.get(str(raw_event))
    if event is None:
        if raw_event in IGNORED_EVENTS:
            raise IgnoreRecord(IGNORED_EVENTS[raw_event])
        raise RecordError("event", f"unknown SendGrid event {str(raw_event)[:40]!r}")
    timestamp = epoch_seconds(record.get("timestamp"))
    sending_ip = None
    if event in ("processed", "delivered", "deferred", "bounced", "dropped"):
        # On open/click `ip` is the reader's address, not ours.
        sending_ip = first_text(record.get("ip"))
    return [
        row(
            timestamp=timestamp,
            event=event,
            message_id=_message_id(record),
            event_id=first_text(record.get("sg_event_id")),
            recipient=require(record, "email"),
            sending_ip=sending_ip,
            ip_pool=_ip_pool(record),
            stream=first_text(record.get("stream")),  # a custom argument, if the sender sets one
            campaign=_campaign(record),
            bounce_class=_bounce_class(record) if event == "bounced" else None,
            is_machine=bool(record.get("sg_machine_open")) if event == "opened" else False,
            smtp_status=enhanced_status(record.get("status"), record.get("reason"), record.get("response")),
            reason=first_text(record.get("reason"), record.get("response")),
        )
    ]


SPEC = register(
    FormatSpec(
        name="sendgrid",
        label="SendGrid Event Webhook",
        sniff=sniff,
        records=iter_json_values,
        normalize=normalize,
        priority=20,
        # JSON lines go through DuckDB in blocks; anything unusual falls back to `normalize`.
        chunk_reader=FastSendGridChunks(EVENT_MAP, BOUNCE_CLASSIFICATION_MAP),
    )
)

read_sendgrid = make_reader(
    "sendgrid",
    """Read SendGrid Event Webhook data (a JSON array as posted, or JSON lines as stored).

    ``bounce`` with ``type=blocked`` becomes a ``block`` bounce; ``bounce_classification`` is
    read in either spelling; ``open`` with ``sg_machine_open`` is a machine open; ``category``
    may be a string or a list; ``pool`` gives ``ip_pool``; the sending IP is taken from ``ip``
    on delivery events only (on opens and clicks it is the reader's address).
""",
)
