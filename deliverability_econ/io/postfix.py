"""Postfix maillog: one delivery attempt per line, classic syslog or RFC 3339 prefixes.

Reference: shared/reference/log-formats.md section 8 (the delivery line is written by
``src/global/log_adhoc.c`` in the Postfix source; the expiry notice by ``src/qmgr``).

A delivery line looks like::

    Nov  5 14:03:11 mx1 postfix/smtp[21547]: 3F2A81C0ABC: to=<ann@gmail.com>,
        relay=gmail-smtp-in.l.google.com[142.250.102.27]:25, delay=1.2,
        delays=0.1/0/0.5/0.6, dsn=2.0.0, status=sent (250 2.0.0 OK ...)

(one line in the file). Everything else Postfix logs (connections, cleanup, queue manager,
pickup, anvil statistics, TLS, warnings) is counted in ``meta["ignored"]`` by reason, except for
two lines that the splitter :func:`records` reads for context:

- ``cleanup: QID: message-id=<...>`` gives the join key: ``message_id`` is the Message-ID
  header (without angle brackets) when the cleanup line of that queue id came earlier in the
  same file, else ``"<host>:<queue id>"``.
- ``qmgr: QID: from=<...>, size=..., nrcpt=N (queue active)`` gives the ``processed`` time: the
  first delivery line of each recipient of that queue id also yields a ``processed`` event at
  the time of the queue manager's first "queue active" line for it. (A ``processed`` event needs
  a recipient, which the qmgr line does not name, so it is emitted once per queue id and
  recipient, next to that recipient's first attempt; the qmgr line itself is counted as
  ignored.)

Time: classic syslog (``Nov  5 14:03:11``) has neither year nor zone. Pass ``year=`` (the year
of the file's first classic line; without it classic delivery lines are quarantined, naming the
field ``year``) and ``timezone=`` (the IANA zone the server logs in, default ``"UTC"``).
Walking down a file, a month six or more months *before* the latest month seen starts the next
year (a log running from December into January); after such a rollover, a month six or more
months *after* the latest month (a late December line written after the first January lines)
belongs to the previous year. RFC 3339 prefixes (``2025-11-05T14:03:11.123456+01:00``, rsyslog's
high-precision format, ``maillog_file``) carry their own year and offset; one without an offset
is read in ``timezone``. In the hour repeated when daylight saving time ends, a local time is
taken at its first occurrence (the earlier UTC instant); a local time that does not exist
(the hour skipped when it starts) means the zone is wrong and is quarantined.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from typing import IO, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

from ._base import (
    FormatSpec,
    IgnoreRecord,
    InputFormatError,
    RawRecord,
    RecordError,
    enhanced_status,
    row,
    stable_hash,
)
from ._bounce import classify_bounce
from ._registry import make_reader, register

# --------------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------------

#: ``status=`` of a delivery line -> canonical event (bounces are refined below).
STATUS_EVENTS: dict[str, str] = {
    "sent": "delivered",
    "deferred": "deferred",
    "SOFTBOUNCE": "deferred",  # soft_bounce=yes: a bounce turned into a deferral
    "bounced": "bounced",
    "expired": "bounced",  # the queue manager gave up (maximal_queue_lifetime): a soft bounce
}

#: ``status=`` values of sender/recipient address verification probes (``verify(8)``): the
#: probe never delivers a message.
VERIFY_STATUSES: frozenset[str] = frozenset({"deliverable", "undeliverable"})

#: Delivery agents that deliver to mailboxes on this server (inbound or internal mail), not to
#: a mailbox provider.
LOCAL_DELIVERY_AGENTS: frozenset[str] = frozenset({"local", "virtual", "lmtp", "pipe"})

MONTHS: dict[str, int] = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1
    )
}

#: How many queue ids the splitter keeps context for (Message-ID, queue-active time, deferred
#: recipients) when their ``removed`` line never comes; the oldest are forgotten first.
MAX_TRACKED_QUEUE_IDS = 200_000

#: A month this many months away from the latest month seen is taken for a year rollover.
ROLLOVER_MONTHS = 6

# --------------------------------------------------------------------------------------------
# Line grammar
# --------------------------------------------------------------------------------------------

_CLASSIC_TIME = r"(?P<month>Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +(?P<day>\d{1,2}) (?P<clock>\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?)"
_ISO_TIME = r"(?P<iso>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)"

_PREFIX = re.compile(
    rf"^(?:{_CLASSIC_TIME}|{_ISO_TIME}) +(?P<host>\S+) +(?P<tag>[^\s\[:]+)(?:\[(?P<pid>\d+)\])?: ?(?P<body>.*)$"
)

# Classic queue ids are upper-case hex; long queue ids (enable_long_queue_ids) use an alphabet
# without vowels, so that words such as "warning" or "NOQUEUE" never look like one.
_QUEUE_ID = re.compile(
    r"^(?P<qid>[0-9A-F]{6,20}|[0-9BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz]{10,24}): (?P<rest>.*)$"
)

_SNIFF = re.compile(
    r"^(?:[A-Z][a-z]{2} +\d{1,2} \d{2}:\d{2}:\d{2}(?:\.\d+)?|\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\S*)"
    r" +\S+ +postfix[\w.-]*(?:/[\w.-]+)+\[\d+\]: ",
    re.MULTILINE,
)

_STATUS = re.compile(r"(?:^|, )status=(?P<status>[A-Za-z]+)(?P<returned>, returned to sender)?(?: \((?P<reason>.*)\))?\s*$")
_TO = re.compile(r"(?:^|, )to=<(?P<to>[^>]*)>")
_RELAY = re.compile(r"(?:^|, )relay=(?P<relay>[^,\s]+)")
_DSN = re.compile(r"(?:^|, )dsn=(?P<dsn>[^,\s]+)")
_FROM = re.compile(r"^from=<(?P<sender>[^>]*)>")
_QUEUE_ACTIVE = re.compile(r"^from=<(?P<sender>[^>]*)>, size=\d+, nrcpt=\d+ \(queue active\)$")
_MESSAGE_ID = re.compile(r"^message-id=<?(?P<message_id>[^<>\s]*)>?\s*$")
_RELAY_ADDRESS = re.compile(r"^(?P<host>[^\[]*)\[(?P<address>[^\]]*)\](?::\d+)?$")
_ENHANCED_STATUS = re.compile(r"^[245]\.\d{1,3}\.\d{1,3}$")
# Bytes that were not UTF-8 survive decoding as lone surrogates (see _base.open_text).
_UNDECODABLE = re.compile("[\udc80-\udcff]")


def sniff(head: str) -> bool:
    """Whether the text holds a syslog line of a Postfix daemon (``postfix/<daemon>[pid]:``)."""
    return _SNIFF.search(head) is not None


# --------------------------------------------------------------------------------------------
# Splitter: one record per line, with the context earlier lines give
# --------------------------------------------------------------------------------------------


@dataclass
class _QueueFile:
    """What the log said so far about one queue id."""

    message_id: str | None = None
    #: The first "queue active" line: (time text, classic?, year offset, line).
    active: tuple[str, bool, int, str] | None = None
    null_sender: bool = False
    processed_recipients: set[str] = field(default_factory=set)
    #: Recipients whose last attempt was deferred: key -> (address, dsn, reason).
    pending: dict[str, tuple[str, str | None, str | None]] = field(default_factory=dict)


class _YearRollover:
    """Year offset of classic syslog lines relative to the file's first one (module docstring)."""

    def __init__(self) -> None:
        self.offset = 0
        self.latest_month: int | None = None

    def offset_for(self, month: int) -> int:
        if self.latest_month is None:
            self.latest_month = month
            return 0
        step = month - self.latest_month
        if step <= -ROLLOVER_MONTHS:
            self.offset += 1
            self.latest_month = month
            return self.offset
        if step >= ROLLOVER_MONTHS and self.offset > 0:
            return self.offset - 1  # a straggler from before the rollover
        self.latest_month = max(self.latest_month, month)
        return self.offset


def records(stream: IO[str]) -> Iterator[RawRecord]:
    """One record per non-empty line; the payload carries the parsed line and its context.

    The splitter keeps, per (host, instance, queue id), the Message-ID from ``cleanup``, the
    first "queue active" time from ``qmgr``, whether the sender is null (a bounce notification)
    and which recipients were last deferred (for the expiry notice, which names none). The state
    of a queue id is dropped at its ``removed`` line. Context never crosses files: read rotated
    logs concatenated, in order, to keep the join across the rotation.
    """
    source = str(getattr(stream, "name", None) or "<buffer>")
    queue: OrderedDict[tuple[str, str, str], _QueueFile] = OrderedDict()
    rollover = _YearRollover()
    for number, line in enumerate(stream, start=1):
        text = line.rstrip("\r\n")
        if not text.strip():
            continue
        location = f"line {number}"
        if not text.isascii() and _UNDECODABLE.search(text):
            # The framework quarantines the line; its content must not become context either.
            yield RawRecord(location, text, {"line": text, "source": source, "location": location})
            continue
        yield RawRecord(location, text, _parse(text, source, location, queue, rollover))


def _parse(
    text: str,
    source: str,
    location: str,
    queue: OrderedDict[tuple[str, str, str], _QueueFile],
    rollover: _YearRollover,
) -> dict:
    payload: dict[str, Any] = {"line": text, "source": source, "location": location}
    match = _PREFIX.match(text)
    if match is None:
        payload["prefix"] = False
        return payload
    tag = match["tag"]
    instance, _, daemon = tag.rpartition("/")
    classic = match["month"] is not None
    payload.update(
        prefix=True,
        classic=classic,
        time=f"{match['month']} {match['day']} {match['clock']}" if classic else match["iso"],
        year_offset=rollover.offset_for(MONTHS[match["month"]]) if classic else 0,
        host=match["host"],
        instance=instance.split("/", 1)[0],
        daemon=daemon,
        postfix=instance.split("/", 1)[0].startswith("postfix"),
        queue_id=None,
        body=match["body"],
    )
    if not payload["postfix"]:
        return payload
    queue_match = _QUEUE_ID.match(match["body"])
    if queue_match is None:
        return payload
    queue_id, rest = queue_match["qid"], queue_match["rest"]
    payload.update(queue_id=queue_id, body=rest)
    key = (payload["host"], payload["instance"], queue_id)
    state = queue.get(key)

    if daemon == "cleanup":
        found = _MESSAGE_ID.match(rest)
        if found:
            message_id = found["message_id"] or None
            if state is None or (state.message_id is not None and state.message_id != message_id):
                state = _remember(queue, key)  # a queue id reused after an unlogged removal
            state.message_id = message_id
    elif daemon == "qmgr":
        if rest == "removed":
            queue.pop(key, None)
        active = _QUEUE_ACTIVE.match(rest)
        if active:
            state = state or _remember(queue, key)
            if state.active is None:
                state.active = (payload["time"], classic, payload["year_offset"], text)
            state.null_sender = active["sender"] == ""
    if state is not None:
        payload["message_id"] = state.message_id
        payload["null_sender"] = state.null_sender

    status = _STATUS.search(rest)
    if status is None:
        return payload
    head = rest[: status.start()]
    to = _TO.search(head)
    relay = _RELAY.search(head)
    dsn = _DSN.search(head)
    fields = {
        "status": status["status"],
        "reason": status["reason"],
        "to": to["to"] if to else None,
        "relay": relay["relay"] if relay else None,
        "dsn": dsn["dsn"] if dsn else None,
        "expiry_notice": to is None and status["status"] == "expired" and _FROM.match(head) is not None,
    }
    payload["fields"] = fields
    if fields["to"]:
        recipient_key = fields["to"].strip().lower()
        state = state or _remember(queue, key)
        payload["message_id"] = state.message_id
        payload["null_sender"] = state.null_sender
        if state.active is not None and recipient_key not in state.processed_recipients:
            state.processed_recipients.add(recipient_key)
            payload["processed"] = state.active
        if fields["status"] in ("deferred", "SOFTBOUNCE"):
            state.pending[recipient_key] = (fields["to"], fields["dsn"], fields["reason"])
        else:
            state.pending.pop(recipient_key, None)
    elif fields["expiry_notice"] and state is not None:
        payload["expired_recipients"] = list(state.pending.values())
        state.pending.clear()
    return payload


def _remember(
    queue: OrderedDict[tuple[str, str, str], _QueueFile], key: tuple[str, str, str]
) -> _QueueFile:
    state = queue[key] = _QueueFile()
    if len(queue) > MAX_TRACKED_QUEUE_IDS:
        queue.popitem(last=False)
    return state


# --------------------------------------------------------------------------------------------
# Normalizer
# --------------------------------------------------------------------------------------------


def normalize(
    payload: dict, *, year: int | None = None, timezone: str = "UTC", **unknown: Any
) -> list[dict]:
    """Canonical rows of one maillog line (see the module docstring for the rules).

    Parameters
    ----------
    payload : dict
        A record from :func:`records`.
    year : int, optional
        Year of the file's first classic-syslog line.
    timezone : str
        IANA name of the zone classic-syslog times are written in.
    """
    if unknown:
        name = sorted(unknown)[0]
        raise InputFormatError(payload["source"], None, name,
                               "unknown Postfix option; the options are year= and timezone=")
    zone = _zone_option(timezone, payload)
    _check_year(year, payload)
    if not payload.get("prefix"):
        raise RecordError("prefix", "not a syslog line: expected '<time> <host> <program>[<pid>]: <message>'")
    if not payload["postfix"]:
        raise IgnoreRecord("not a Postfix line")
    daemon = payload["daemon"]
    if payload["queue_id"] is None:
        raise IgnoreRecord(f"postfix/{daemon}: no queue id (connection, TLS, warning or statistics)")
    fields = payload.get("fields")
    if fields is None:
        raise IgnoreRecord(_context_line_reason(daemon, payload["body"]))
    if fields["expiry_notice"]:
        return _expired_rows(payload, year, zone)
    if not fields["to"]:
        raise RecordError("to", f"status={fields['status']} line without a recipient (to=<...>)")
    status = fields["status"]
    if status in VERIFY_STATUSES:
        raise IgnoreRecord("address verification probe (not a delivery)")
    if status not in STATUS_EVENTS:
        raise RecordError("status", f"unknown Postfix delivery status {status!r}")
    if payload.get("null_sender"):
        raise IgnoreRecord("delivery of a bounce notification (null sender)")
    if daemon in LOCAL_DELIVERY_AGENTS:
        raise IgnoreRecord("local delivery (inbound or internal mail)")
    relay = fields["relay"] or ""
    loopback = _is_loopback(relay)
    if loopback and status != "bounced":
        raise IgnoreRecord("hand-off to a local content filter (the re-injected message is logged again)")
    dsn = fields["dsn"]
    if dsn is not None and not _ENHANCED_STATUS.match(dsn):
        raise RecordError("dsn", f"not an enhanced status code like 5.1.1: {dsn[:20]!r}")

    event, bounce_class = _outcome(daemon, status, relay, loopback, dsn, fields["reason"])
    timestamp = _seconds(payload["time"], payload["classic"], payload["year_offset"], year, zone)
    line_year = _line_year(payload["classic"], payload["year_offset"], year)
    message_id = payload.get("message_id") or f"{payload['host']}:{payload['queue_id']}"
    stream = _stream(payload["instance"])
    rows = []
    processed = payload.get("processed")
    if processed is not None:
        time_text, classic, year_offset, active_line = processed
        rows.append(
            row(
                timestamp=_seconds(time_text, classic, year_offset, year, zone),
                event="processed",
                message_id=message_id,
                event_id="postfix:" + stable_hash(
                    "processed", active_line, _line_year(classic, year_offset, year),
                    fields["to"].strip().lower(),
                ),
                recipient=fields["to"],
                stream=stream,
                is_machine=False,
            )
        )
    rows.append(
        row(
            timestamp=timestamp,
            event=event,
            message_id=message_id,
            event_id="postfix:" + stable_hash(payload["line"], line_year),
            recipient=fields["to"],
            sending_ip=None,  # not on the line: implied by the host / smtp_bind_address
            stream=stream,
            bounce_class=bounce_class,
            is_machine=False,
            smtp_status=dsn or enhanced_status(fields["reason"]),
            reason=fields["reason"],
        )
    )
    return rows


def _context_line_reason(daemon: str, body: str) -> str:
    """The ``ignored`` reason of a queue-id line without a delivery status."""
    if daemon == "cleanup" and body.startswith("message-id="):
        return "postfix/cleanup: message-id (read as the join key)"
    if daemon == "qmgr" and _QUEUE_ACTIVE.match(body):
        return "postfix/qmgr: queue active (read as the processed time)"
    if daemon == "qmgr" and body == "removed":
        return "postfix/qmgr: queue file removed"
    if daemon in ("smtpd", "pickup"):
        return f"postfix/{daemon}: message received"
    if daemon == "bounce":
        return "postfix/bounce: notification to the sender"
    return f"postfix/{daemon}: queue-id line without a delivery status"


def _outcome(
    daemon: str, status: str, relay: str, loopback: bool, dsn: str | None, reason: str | None
) -> tuple[str, str | None]:
    """(event, bounce_class) of a delivery line.

    - ``sent`` -> delivered, except through ``discard(8)`` (-> dropped: never attempted);
    - ``deferred`` (and ``SOFTBOUNCE``) -> deferred;
    - ``expired`` -> bounced ``soft``: the queue manager stopped retrying;
    - ``bounced`` refused by this server itself (``relay=none``, or a local content filter on a
      loopback relay) -> dropped, unless the address or its domain does not exist (5.1.x, 5.4.4
      "Host or domain name not found") -> bounced ``hard``;
    - other ``bounced`` -> by :func:`bounce_class`.
    """
    if status == "sent":
        return ("dropped", None) if daemon == "discard" else ("delivered", None)
    if status in ("deferred", "SOFTBOUNCE"):
        return "deferred", None
    if status == "expired":
        return "bounced", "soft"
    if relay in ("none", "") or loopback:
        if not loopback and bounce_class(dsn, reason) == "hard":
            return "bounced", "hard"
        return "dropped", None
    return "bounced", bounce_class(dsn, reason)


def bounce_class(dsn: str | None, reason: str | None) -> str:
    """Class of a Postfix bounce from its enhanced status code and the remote reply.

    The rules shared by every reader (:func:`._bounce.classify_bounce`): the code decides first
    (5.7.x, 5.1.7 and 5.1.8 block; other 5.1.x, 5.2.1 and 5.4.4 hard; 5.2.2, 5.2.3 and 4.x.x
    soft), then the wording: a refused sender address is ``block``; a recipient address or
    domain that does not exist is ``hard``; spam, policy, reputation, block-list or
    authentication wording is ``block``; a full mailbox is ``soft``; anything else (a bare
    ``550 Message rejected``) is ``undetermined``.

    Parameters
    ----------
    dsn : str or None
        Enhanced status code, e.g. ``"5.1.1"``.
    reason : str or None
        The parenthesised text of the line.

    Returns
    -------
    str
        One of ``hard``, ``soft``, ``block``, ``undetermined``.

    Examples
    --------
    >>> bounce_class("5.1.1", "550-5.1.1 The email account that you tried to reach does not exist")
    'hard'
    >>> bounce_class("5.0.0", "554 Message not accepted for policy reasons")
    'block'
    >>> bounce_class("5.0.0", "550 Message rejected")
    'undetermined'
    """
    return classify_bounce(dsn, None, reason)


def _expired_rows(payload: dict, year: int | None, zone: tzinfo) -> list[dict]:
    """``QID: from=<...>, status=expired, returned to sender`` names no recipient: it bounces
    every recipient of the queue id whose last attempt in this file was deferred."""
    if payload.get("null_sender"):
        raise IgnoreRecord("delivery of a bounce notification (null sender)")
    pending = payload.get("expired_recipients") or []
    if not pending:
        raise RecordError(
            "to",
            f"expiry notice of queue id {payload['queue_id']} names no recipient and no deferred "
            "attempt of it came earlier in this file (read the rotated logs together, in order)",
        )
    timestamp = _seconds(payload["time"], payload["classic"], payload["year_offset"], year, zone)
    line_year = _line_year(payload["classic"], payload["year_offset"], year)
    message_id = payload.get("message_id") or f"{payload['host']}:{payload['queue_id']}"
    rows = []
    for recipient, dsn, last_reason in pending:
        reason = "expired, returned to sender"
        if last_reason:
            reason += f"; last deferral: {last_reason}"
        rows.append(
            row(
                timestamp=timestamp,
                event="bounced",
                message_id=message_id,
                event_id="postfix:" + stable_hash(payload["line"], line_year, recipient.strip().lower()),
                recipient=recipient,
                stream=_stream(payload["instance"]),
                bounce_class="soft",
                is_machine=False,
                smtp_status=dsn if dsn and _ENHANCED_STATUS.match(dsn) else None,
                reason=reason,
            )
        )
    return rows


def _is_loopback(relay: str) -> bool:
    match = _RELAY_ADDRESS.match(relay)
    if match is None:
        return False
    address = match["address"].removeprefix("ipv6:").lower()
    return address.startswith("127.") or address == "::1" or match["host"] == "localhost"


def _stream(instance: str) -> str | None:
    """``postfix`` -> None; ``postfix-transactional`` (a multi-instance syslog_name) ->
    ``transactional``; any other syslog_name as it is."""
    if instance == "postfix":
        return None
    return instance.removeprefix("postfix-") or None


# --------------------------------------------------------------------------------------------
# Time
# --------------------------------------------------------------------------------------------


def _line_year(classic: bool, year_offset: int, year: int | None) -> int | None:
    return year + year_offset if classic and year is not None else None


def _seconds(text: str, classic: bool, year_offset: int, year: int | None, zone: tzinfo) -> float:
    """Epoch seconds of a syslog time; classic times need ``year`` and are read in ``zone``."""
    if classic:
        if year is None:
            raise RecordError(
                "year",
                f"the classic syslog time {text!r} has no year: pass year= (the year of the "
                "file's first line)",
            )
        month_name, day, clock = text.split()
        hours, minutes, seconds = clock.split(":")
        whole, _, fraction = seconds.partition(".")
        try:
            local = datetime(
                year + year_offset, MONTHS[month_name], int(day), int(hours), int(minutes),
                int(whole), int((fraction + "000000")[:6]), tzinfo=zone,
            )
        except ValueError as exc:
            raise RecordError("timestamp", f"{text!r} in {year + year_offset}: {exc}") from None
    else:
        try:
            local = datetime.fromisoformat(text)
        except ValueError:
            raise RecordError("timestamp", f"not an RFC 3339 time: {text[:40]!r}") from None
        if local.tzinfo is not None:
            return local.timestamp()
        local = local.replace(tzinfo=zone)
    # A wall time skipped by a daylight-saving change does not survive the round trip.
    if local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != local.replace(tzinfo=None):
        raise RecordError(
            "timestamp",
            f"{text!r} does not exist in {zone} (skipped by daylight saving time): is timezone= right?",
        )
    return local.timestamp()


@lru_cache(maxsize=64)
def _zone(name: str) -> tzinfo:
    if name.upper() == "UTC":
        return UTC
    return ZoneInfo(name)


def _zone_or_none(name: Any) -> tzinfo | None:
    if not isinstance(name, str) or not name:
        return None
    try:
        return _zone(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _timezone_problem(name: Any) -> str:
    return f"{name!r} is not an IANA time zone name (such as 'Europe/Berlin' or 'UTC')"


def _year_problem(year: Any) -> str | None:
    if year is None:
        return None
    if isinstance(year, bool) or not isinstance(year, int) or not 1970 <= year <= 9999:
        return f"{year!r} is not a four-digit year such as 2025"
    return None


def _zone_option(name: Any, payload: dict) -> tzinfo:
    """The zone of the ``timezone`` option; a bad name is a configuration error, raised."""
    zone = _zone_or_none(name)
    if zone is None:
        raise InputFormatError(payload["source"], None, "timezone", _timezone_problem(name))
    return zone


def _check_year(year: Any, payload: dict) -> None:
    problem = _year_problem(year)
    if problem is not None:
        raise InputFormatError(payload["source"], None, "year", problem)


SPEC = register(
    FormatSpec(
        name="postfix",
        label="Postfix maillog",
        sniff=sniff,
        records=records,
        normalize=normalize,
        priority=40,
    )
)

_read_postfix = make_reader(
    "postfix",
    """Read a Postfix maillog (classic syslog or RFC 3339 prefixes; several hosts or instances).

    ``sent`` -> delivered; ``deferred`` -> deferred; ``bounced`` -> bounced (class from the DSN
    and the reply, see :func:`bounce_class`), or dropped when this server refused it itself
    (``relay=none``) for a reason other than a non-existent address or domain; the qmgr expiry
    notice -> bounced ``soft`` for every recipient still deferred; ``discard`` -> dropped. The
    first "queue active" line of a queue id gives each recipient's ``processed`` event.
    Ignored (counted by reason): lines of other programs, lines without a delivery status,
    address verification probes, bounce notifications (null sender), local deliveries and
    hand-offs to a content filter on a loopback relay. ``message_id`` is the Message-ID from
    the cleanup line when seen, else ``"<host>:<queue id>"``; ``stream`` is the multi-instance
    name (``postfix-transactional/smtp`` -> ``transactional``); ``sending_ip`` is unknown.

    Parameters
    ----------
    year : int, optional
        Year of the file's first classic-syslog line; required for classic lines (they are
        quarantined without it); later years follow by the rollover rule of the module
        docstring. Ignored for RFC 3339 lines.
    timezone : str
        IANA zone the server writes classic syslog times in (default ``"UTC"``).
""",
)


def read_postfix(
    path_or_buffer: Any,
    *,
    year: int | None = None,
    timezone: str = "UTC",
    errors: str = "quarantine",
    pseudonymize: bool = True,
    salt: str | bytes | None = None,
    mx_map: Mapping[str, str] | None = None,
    encoding: str | None = None,
    now: float | None = None,
) -> tuple[pd.DataFrame, dict]:
    # Configuration errors are raised at the call, before any file is opened.
    problem = _year_problem(year)
    if problem is not None:
        raise ValueError(f"year={year!r}: {problem}")
    if _zone_or_none(timezone) is None:
        raise ValueError(f"timezone={timezone!r}: {_timezone_problem(timezone)}")
    return _read_postfix(path_or_buffer, year=year, timezone=timezone, errors=errors,
                         pseudonymize=pseudonymize, salt=salt, mx_map=mx_map, encoding=encoding,
                         now=now)


read_postfix.__doc__ = _read_postfix.__doc__
