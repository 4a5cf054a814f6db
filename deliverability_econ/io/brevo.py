"""Brevo (formerly Sendinblue) transactional webhooks: one JSON object per POST, or batches.

Reference: shared/reference/log-formats.md section 7 (and section 13, traps 5 and 6).

Brevo posts one JSON object per event, or (webhooks created with ``batched: true``) arrays of up
to 500; a consumer stores them as JSON lines (an array on a line is a stored batch). Brevo gives
no event id: the framework hashes each event object, so a redelivered event dedupes.

Timestamps, most reliable first:

- ``ts_epoch``: documented in **milliseconds** UTC, but anymail's ``error`` fixture carries
  seconds (``1604933623``), which divided by 1000 would land in January 1970 (trap 5). The unit
  is therefore decided by magnitude (:data:`MILLISECONDS_ABOVE`). ``s_epoch``, the spelling in
  Brevo's ``proxy_open`` sample, is read as the same field.
- ``ts_event`` then ``ts``: seconds, UTC.
- ``date``: a local wall-clock time with no zone (CET/CEST per the docs, the account's zone per
  anymail). It is never guessed: a record that has only ``date`` is quarantined.

A ``deferred`` event whose ``reason`` carries a permanent enhanced status (``5.x.x``, e.g.
``550 5.1.1 User unknown``) is a bounce Brevo mis-filed (trap 6): it becomes ``bounced``, class
``block`` for a policy status (``5.7.x``) and ``hard`` otherwise.
"""

from __future__ import annotations

import json
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
from ._bounce import classify_bounce
from ._registry import make_reader, register

#: Brevo ``event`` -> canonical event.
EVENT_MAP: dict[str, str] = {
    "request": "processed",
    "delivered": "delivered",
    "deferred": "deferred",
    "hard_bounce": "bounced",
    "soft_bounce": "bounced",
    "blocked": "dropped",
    "invalid_email": "dropped",
    "error": "dropped",
    "spam": "complained",
    "complaint": "complained",
    "unique_opened": "opened",
    "opened": "opened",
    "proxy_open": "opened",
    "unique_proxy_open": "opened",
    "unique_proxy_opened": "opened",  # the spelling in anymail's comment (trap 5)
    "click": "clicked",
    "unsubscribe": "unsubscribed",
    "unsubscribed": "unsubscribed",
}

#: Opens that Brevo reports as loaded through a privacy proxy (Apple MPP and the like).
MACHINE_OPENS = frozenset({"proxy_open", "unique_proxy_open", "unique_proxy_opened"})

#: Valid Brevo events outside the canonical set -> ``meta["ignored"]`` reason.
IGNORED_EVENTS: dict[str, str] = {"list_addition": "list addition"}

#: ``ts_epoch`` values at or above this are milliseconds, below it seconds. 1e11 s is the year
#: 5138 and 1e11 ms is March 1973, so the two ranges of plausible times cannot overlap.
MILLISECONDS_ABOVE = 1e11


def sniff(head: str) -> bool:
    """Brevo's time fields, or its ``message-id`` next to ``email`` and ``event`` at the top
    level (Mailgun's ``message-id`` sits in ``event-data``'s headers)."""
    if '"event-data"' in head or '"msys"' in head:
        return False
    if '"ts_epoch"' in head or '"ts_event"' in head or '"s_epoch"' in head:
        return True
    return '"message-id"' in head and '"email"' in head and '"event"' in head


def _timestamp(record: dict) -> float:
    """Event time [epoch s] from ``ts_epoch`` (unit by magnitude), ``ts_event`` or ``ts``."""
    for key in ("ts_epoch", "s_epoch"):
        value = record.get(key)
        if value is not None and value != "":
            number = epoch_seconds(value, key)
            return number / 1000.0 if abs(number) >= MILLISECONDS_ABOVE else number
    for key in ("ts_event", "ts"):
        value = record.get(key)
        if value is not None and value != "":
            return epoch_seconds(value, key)
    if record.get("date"):
        raise RecordError(
            "date",
            f"local time without a zone ({str(record['date'])[:40]!r}) and no ts_epoch, "
            "ts_event or ts to place it",
        )
    raise RecordError("ts_epoch", "missing (and no ts_event or ts)")


def _campaign(record: dict) -> str | None:
    """``tags`` (a list), else ``tag``: a string, a JSON-encoded list, or a list."""
    tags = record.get("tags")
    if not tags:
        tags = record.get("tag")
        if isinstance(tags, str) and tags.lstrip().startswith("["):
            try:
                tags = json.loads(tags)
            except ValueError:
                pass
    if isinstance(tags, list):
        tags = [str(t) for t in tags if t not in (None, "")]
        return ",".join(tags) if tags else None
    return first_text(tags)


def _stream(record: dict) -> str | None:
    """``stream`` from the ``X-Mailin-custom`` header when the sender puts JSON there."""
    custom = record.get("X-Mailin-custom")
    if isinstance(custom, str) and custom.lstrip().startswith("{"):
        try:
            custom = json.loads(custom)
        except ValueError:
            return None
    if isinstance(custom, dict):
        return first_text(custom.get("stream"))
    return None


def normalize(record: Any) -> list[dict]:
    if not isinstance(record, dict):
        raise RecordError(None, "not a JSON object")
    raw_event = str(require(record, "event"))
    name = raw_event.strip().lower()
    canonical = EVENT_MAP.get(name)
    if canonical is None:
        if name in IGNORED_EVENTS:
            raise IgnoreRecord(IGNORED_EVENTS[name])
        raise RecordError("event", f"unknown Brevo event {raw_event[:40]!r}")
    timestamp = _timestamp(record)
    message_id = str(require(record, "message-id")).strip().strip("<>").strip()
    if not message_id:
        raise RecordError("message-id", "missing")
    reason = first_text(record.get("reason"))
    status = enhanced_status(reason)
    bounce_class = None
    if canonical == "deferred" and status is not None and status.startswith("5."):
        canonical = "bounced"  # a permanent failure Brevo filed as deferred (trap 6)
        severity = "hard"
    else:
        severity = "hard" if name == "hard_bounce" else "soft"
    if canonical == "bounced":
        # The receiver's reply by the shared rules; Brevo's severity where the reply is silent.
        bounce_class = classify_bounce(status, None, reason)
        if bounce_class == "undetermined":
            bounce_class = severity
    return [
        row(
            timestamp=timestamp,
            event=canonical,
            message_id=message_id,
            event_id=None,  # none in the payload: the framework hashes the event object
            recipient=require(record, "email"),
            sending_ip=first_text(record.get("sending_ip")),
            ip_pool=None,
            stream=_stream(record),
            campaign=_campaign(record),
            bounce_class=bounce_class,
            is_machine=name in MACHINE_OPENS,
            smtp_status=status,
            reason=reason,
        )
    ]


SPEC = register(
    FormatSpec(
        name="brevo",
        label="Brevo (Sendinblue) transactional webhook",
        sniff=sniff,
        records=iter_json_values,
        normalize=normalize,
        priority=40,
    )
)

read_brevo = make_reader(
    "brevo",
    """Read Brevo (Sendinblue) transactional webhook events (JSON objects, arrays or JSON lines).

    ``ts_epoch`` is milliseconds unless its magnitude says seconds; ``ts_event`` / ``ts`` are the
    fallbacks; a record with only the zone-less local ``date`` is quarantined. ``proxy_open`` and
    ``unique_proxy_open`` are machine opens. A ``deferred`` carrying a ``5.x.x`` status becomes
    ``bounced`` (``block`` for ``5.7.x``, else ``hard``). ``message-id`` loses its angle brackets;
    ``tags`` / ``tag`` give ``campaign``; ``X-Mailin-custom`` JSON may give ``stream``.
""",
)
