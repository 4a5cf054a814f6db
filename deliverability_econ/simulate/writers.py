"""Write a simulated sender in the wire shape of every supported format, and its truth.

A :class:`~.core.SimulationResult` holds canonical events with clear addresses and a
row-aligned table of wire details (SMTP replies, MX hosts, URLs, user agents, client IPs).
The writers here map each canonical event back to a format's own vocabulary and layout, as the
ESP or MTA would have produced it (shared/reference/log-formats.md, and the fixture generators
in ``tests/data/_generators``), so that reading the files back with
:func:`deliverability_econ.read_events` recovers the simulated events, up to what each format
can carry (:data:`FIDELITY`; :func:`expected_events` applies it).

==========  ===========================================================================
format      what is written (one file per call)
==========  ===========================================================================
sendgrid    Event Webhook events: JSON lines as stored (``layout="jsonl"``) or the POST
            bodies, a JSON array of up to ``batch_size`` events per line (``"posts"``)
ses         SES event publishing records: Firehose lines (``transport="firehose"``), SNS
            notifications whose ``Message`` is the record as a JSON string (``"sns"``) or
            EventBridge events (``"eventbridge"``)
mailgun     webhook bodies ``{"signature": ..., "event-data": ...}``, one per line
postmark    webhook bodies (``RecordType``), one per line; times in the server's local
            offset with seven fractional digits
sparkpost   webhook POST bodies: arrays of ``{"msys": {"<class>": {...}}}``, one per line;
            ``timestamp`` epoch seconds as a string
mandrill    form POST bodies ``mandrill_events=<urlencoded JSON array>`` one per line
            (``layout="form"``), or the decoded arrays (``"json"``)
brevo       webhook bodies one per line, or batches (``batch_size``); ``ts_epoch`` in ms
postfix     a maillog: classic syslog lines (``syslog="classic"``: no year, read with
            ``year=``) or RFC 3339 prefixes (``"rfc3339"``)
csv         the canonical header (``timestamp,event,message_id,...``)
==========  ===========================================================================

Calibration and truth: :func:`write_seed_tests` (CSV with counts of seed mailboxes),
:func:`write_postmaster` (v1 ``trafficStats`` pages as JSON lines and a flat CSV),
:func:`write_snds` (the headerless SNDS export), :func:`write_truth` (daily truth, the true
reputation process and one row per message). Every file is deterministic: the same
simulation gives the same bytes (compact JSON with a fixed key order, shortest-repr floats,
gzip with ``mtime=0``).
"""

from __future__ import annotations

import base64
import csv
import gzip
import hashlib
import io
import json
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from .. import privacy
from ..schema import EVENT_COLUMNS
from .calibration import reputation_band
from .core import SimulationResult, sender
from .engine import RETRY_OFFSETS_S

#: Formats :func:`write_logs` writes, in the order of ``schema.ESP_FORMATS``.
FORMATS: tuple[str, ...] = (
    "sendgrid", "ses", "mailgun", "postmark", "sparkpost", "mandrill", "brevo", "postfix", "csv",
)

#: Canonical events of a delivery attempt (the events that carry the sending IP in the simulator).
ATTEMPT_EVENTS = frozenset({"deferred", "delivered", "bounced"})
_ALL_EVENTS = frozenset({"processed", "delivered", "deferred", "bounced", "dropped", "opened",
                         "clicked", "complained", "unsubscribed"})
_NONE: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Fidelity:
    """What one format carries of the canonical events, i.e. what a round trip recovers.

    Attributes
    ----------
    events : frozenset of str
        Canonical events the format can report; the others are not written.
    machine_flag : frozenset of str
        Events whose ``is_machine`` flag the format carries; on the other events a machine
        open or click is read back as human.
    sending_ip : frozenset of str
        Events that carry the sending IP (the simulator sets it on attempt events only).
    ip_pool : frozenset of str
        Events that carry the IP pool.
    stream, campaign : bool
        Whether the stream and the campaign survive (as a custom argument, tag, metadata...).
    timestamp_resolution : str
        ``"s"`` (times truncated to the second) or ``"ms"`` (Postfix: ``"s"`` for classic
        syslog, milliseconds with ``syslog="rfc3339"``).
    notes : str
        What else differs, for people.
    """

    events: frozenset[str]
    machine_flag: frozenset[str]
    sending_ip: frozenset[str]
    ip_pool: frozenset[str]
    stream: bool
    campaign: bool
    timestamp_resolution: str
    notes: str = ""


#: Per format, what survives writing and reading back (see :func:`expected_events`).
FIDELITY: dict[str, Fidelity] = {
    "sendgrid": Fidelity(
        _ALL_EVENTS, frozenset({"opened"}), ATTEMPT_EVENTS, frozenset({"processed"}), True, True,
        "s",
        "sg_machine_open flags machine opens; no flag exists for link-scanner clicks. The pool "
        "is on processed events only (as documented). Times are whole seconds.",
    ),
    "ses": Fidelity(
        _ALL_EVENTS, _NONE, ATTEMPT_EVENTS, _NONE, True, True, "ms",
        "SES has no proxy-open flag: Apple MPP opens and scanner clicks read as human. "
        "ses:outgoing-ip is tagged on Delivery, DeliveryDelay and Bounce records; SES records "
        "carry no IP pool. Drops are Bounce Permanent/OnAccountSuppressionList; blocks are "
        "Bounce Transient/ContentRejected; unsubscribes are Subscription events.",
    ),
    "mailgun": Fidelity(
        _ALL_EVENTS, frozenset({"opened", "clicked"}), ATTEMPT_EVENTS, _NONE, True, True, "ms",
        "client-info.bot flags MPP opens (apple) and scanner clicks (generic). Mailgun has no "
        "pool field.",
    ),
    "postmark": Fidelity(
        _ALL_EVENTS - {"processed", "dropped"}, _NONE, _NONE, _NONE, True, True, "ms",
        "Postmark has no processed webhook, and a send to an inactive (suppressed) address is "
        "refused by the API call, with no webhook: both are lost. No sending IP, no pool, no "
        "MPP flag (Postmark documents that MPP inflates opens).",
    ),
    "sparkpost": Fidelity(
        _ALL_EVENTS, _NONE, ATTEMPT_EVENTS, _ALL_EVENTS, True, True, "s",
        "No MPP or bot flag is documented: machine opens and scanner clicks read as human. "
        "Only the bottom 'open' pixel is written (initial_open would count opens twice). "
        "Times are whole seconds (an epoch string).",
    ),
    "mandrill": Fidelity(
        _ALL_EVENTS, _NONE, ATTEMPT_EVENTS, _NONE, True, True, "s",
        "No MPP flag. The sending IP comes from msg.smtp_events, the message's attempt history, "
        "so the reader also puts it on the events after the first attempt. Mandrill has no event id: two events of one message "
        "with the same name in the same second are one event to the reader.",
    ),
    "brevo": Fidelity(
        _ALL_EVENTS, frozenset({"opened"}), ATTEMPT_EVENTS, _NONE, True, True, "ms",
        "proxy_open / unique_proxy_open flag MPP opens; clicks have no bot flag. A block is written as a "
        "soft_bounce (Brevo's 'blocked' means Brevo refused to send, i.e. dropped); the reader "
        "classes it from the reply.",
    ),
    "postfix": Fidelity(
        frozenset({"processed", "delivered", "deferred", "bounced", "dropped"}), _NONE, _NONE,
        _NONE, True, False, "s",
        "An MTA log: no engagement, complaints or unsubscribes; no sending IP on the line; "
        "processed only for messages with a delivery line. The stream is the multi-instance "
        "name (postfix-<stream>); drops are discard(8) lines; expiries are the queue manager's "
        "'status=expired' notice. Classic syslog times have whole seconds and no year.",
    ),
    "csv": Fidelity(
        _ALL_EVENTS, _ALL_EVENTS, ATTEMPT_EVENTS, _ALL_EVENTS, True, True, "ms",
        "The canonical columns: everything survives.",
    ),
}

#: Default file names of the writers whose name does not depend on a layout option.
_FILE_NAMES: dict[str, str] = {
    "mailgun": "mailgun_webhooks.jsonl",
    "postmark": "postmark_webhooks.jsonl",
    "sparkpost": "sparkpost_batches.jsonl",
    "brevo": "brevo_webhooks.jsonl",
    "postfix": "maillog",
    "csv": "events.csv",
}

_AWS_ACCOUNT = "123456789012"
_AWS_REGION = "us-east-1"
#: The application server that calls the ESP's API (not a sending IP).
_CALLER_IP = "192.0.2.45"
_POSTMARK_SERVER_ID = 104293
_SPARKPOST_CUSTOMER_ID = "214057"
_BREVO_WEBHOOK_ID = 1048213
#: The ESP's retry horizon [s]: expiration time of a deferred message.
_RETRY_HORIZON_S = float(RETRY_OFFSETS_S[-1])

#: Receiving-MX address prefixes per provider (first two octets), for plausible relay IPs.
_MX_PREFIX: dict[str, str] = {
    "gmail": "142.250", "microsoft": "52.101", "yahoo": "67.195", "att": "144.160",
    "apple": "17.57", "comcast": "96.103",
}


# --------------------------------------------------------------------------------------------
# Deterministic helpers
# --------------------------------------------------------------------------------------------


def _digest(*parts: object, size: int = 16) -> bytes:
    text = "\x1f".join(str(p) for p in parts)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=size, person=b"de-writers").digest()


def _hex(*parts: object, length: int = 16) -> str:
    return _digest(*parts, size=(length + 1) // 2).hex()[:length]


def _number(*parts: object, digits: int = 17) -> str:
    """A decimal id of ``digits`` digits, without a leading zero."""
    value = int.from_bytes(_digest(*parts, size=16), "big")
    low = 10 ** (digits - 1)
    return str(low + value % (9 * low))


def _uuid(*parts: object) -> str:
    return str(uuid.UUID(bytes=_digest(*parts, size=16), version=4))


def _b64url(*parts: object, length: int = 22) -> str:
    raw = _digest(*parts, size=(length * 3) // 4 + 3)
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")[:length]


def _fraction(*parts: object) -> float:
    """A deterministic number in [0, 1)."""
    return int.from_bytes(_digest(*parts, size=8), "big") / 2.0**64


def _dumps(value: Any) -> str:
    """Compact JSON with the key order as built (deterministic)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _iso_ms(ms: int) -> str:
    """``2026-06-01T10:18:33.464Z`` from epoch milliseconds."""
    seconds, milliseconds = divmod(int(ms), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{milliseconds:03d}Z"


def _local_iso7(ms: int, zone: ZoneInfo) -> str:
    """Postmark's time: local offset, seven fractional digits (``...33.4640000-04:00``)."""
    seconds, milliseconds = divmod(int(ms), 1000)
    local = datetime.fromtimestamp(seconds, zone)
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%dT%H:%M:%S}.{milliseconds:03d}0000{offset[:3]}:{offset[3:]}"


def _mx_ip(provider: str, host: str) -> str:
    digest = _digest("mx", host, size=2)
    prefix = _MX_PREFIX.get(provider, "203.0")
    if prefix == "203.0":
        return f"203.0.113.{digest[0] % 250 + 2}"
    return f"{prefix}.{digest[0]}.{digest[1] % 250 + 2}"


@contextmanager
def _text_output(path: Path, compress: str | None) -> Iterator[IO[str]]:
    """A text file (UTF-8, ``\\n`` line ends), gzip-compressed with ``mtime=0`` when asked."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress is None:
        with open(path, "w", encoding="utf-8", newline="\n") as handle:
            yield handle
        return
    if compress != "gz":
        raise ValueError(f"compress must be None or 'gz', not {compress!r}")
    with open(path, "wb") as raw, gzip.GzipFile(filename=path.name.removesuffix(".gz"), mode="wb",
                                                fileobj=raw, mtime=0, compresslevel=9) as zipped, \
            io.TextIOWrapper(zipped, encoding="utf-8", newline="\n") as handle:
        yield handle


def _target(directory: str | Path, name: str, compress: str | None) -> Path:
    return Path(directory) / (name + (".gz" if compress == "gz" else ""))


def _batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


# --------------------------------------------------------------------------------------------
# The events as plain Python rows
# --------------------------------------------------------------------------------------------


def _column(series: pd.Series) -> list:
    """A column as a list with None for missing values."""
    values = series.astype(object)
    return values.where(series.notna(), None).tolist()


@dataclass
class _Rows:
    """The events of a simulation as parallel lists, plus what writers need per event."""

    n: int
    ms: list[int]
    send_ms: list[int]
    event: list[str]
    message: list[str]
    event_id: list[str]
    recipient: list[str]
    domain: list[str]
    provider: list[str]
    sending_ip: list[str | None]
    ip_pool: list[str | None]
    stream: list[str | None]
    campaign: list[str | None]
    bounce_class: list[str | None]
    is_machine: list[bool]
    smtp_status: list[str | None]
    reason: list[str | None]
    reply: list[str | None]
    code: list[int | None]
    attempt: list[int | None]
    remote_mta: list[str | None]
    url: list[str | None]
    user_agent: list[str | None]
    client_ip: list[str | None]
    subject: list[str]
    stream_kind: list[str]
    sender_domain: str
    message_ip: dict[str, str | None]

    def rows(self) -> range:
        return range(self.n)


def _rows(result: SimulationResult) -> _Rows:
    events = result.events
    details = result.event_details
    config = result.parameters["config"]
    truth = result.messages_truth
    send_ms = pd.Series(
        (truth["send_time"].astype("datetime64[ns, UTC]").astype("int64") // 1_000_000).to_numpy(),
        index=truth["message_id"].astype(object).to_numpy(),
    )
    ms = (events["timestamp"].astype("datetime64[ns, UTC]").astype("int64") // 1_000_000).tolist()
    message = _column(events["message_id"])
    subjects = {s.name: s.subject or s.name.replace("_", " ").capitalize() for s in config.streams}
    kinds = {s.name: s.kind for s in config.streams}
    stream = _column(events["stream"])
    sending_ip = _column(events["sending_ip"])
    message_ip: dict[str, str | None] = {}
    for mid, ip in zip(message, sending_ip, strict=True):
        if ip is not None and message_ip.get(mid) is None:
            message_ip[mid] = ip
    return _Rows(
        n=len(events),
        ms=ms,
        send_ms=send_ms.reindex(message).astype("int64").tolist(),
        event=events["event"].astype(str).tolist(),
        message=message,
        event_id=_column(events["event_id"]),
        recipient=_column(events["recipient"]),
        domain=_column(events["recipient_domain"]),
        provider=events["mailbox_provider"].astype(str).tolist(),
        sending_ip=sending_ip,
        ip_pool=_column(events["ip_pool"]),
        stream=stream,
        campaign=_column(events["campaign"]),
        bounce_class=_column(events["bounce_class"]),
        is_machine=events["is_machine"].fillna(False).astype(bool).tolist(),
        smtp_status=_column(events["smtp_status"]),
        reason=_column(events["reason"]),
        reply=_column(details["smtp_reply"]),
        code=_column(details["smtp_code"]),
        attempt=_column(details["attempt"]),
        remote_mta=_column(details["remote_mta"]),
        url=_column(details["url"]),
        user_agent=_column(details["user_agent"]),
        client_ip=_column(details["client_ip"]),
        subject=[subjects.get(s, "") if s else "" for s in stream],
        stream_kind=[kinds.get(s, "transactional") if s else "transactional" for s in stream],
        sender_domain=config.sender_domain,
        message_ip=message_ip,
    )


def _failure_kind(status: str | None) -> str:
    """``mailbox_full``, ``rate_limit`` or ``transient`` from a 4xx enhanced status."""
    if status == "4.2.2":
        return "mailbox_full"
    if status is not None and status.startswith("4.7."):
        return "rate_limit"
    return "transient"


@lru_cache(maxsize=64)
def _client(user_agent: str | None) -> dict[str, str]:
    """Client description of a user agent, as ESPs parse it (Mailgun ``client-info``)."""
    ua = user_agent or ""
    if ua == "Mozilla/5.0" or not ua:
        return {"client-type": "unknown", "client-os": "unknown", "device-type": "unknown",
                "client-name": "unknown"}
    if "GoogleImageProxy" in ua:
        return {"client-type": "browser", "client-os": "Windows", "device-type": "desktop",
                "client-name": "Firefox"}
    if "YahooMailProxy" in ua:
        return {"client-type": "browser", "client-os": "unknown", "device-type": "unknown",
                "client-name": "Yahoo Mail Proxy"}
    if "Microsoft Outlook" in ua:
        return {"client-type": "email client", "client-os": "Windows", "device-type": "desktop",
                "client-name": "Outlook 2016"}
    if "iPhone" in ua:
        return {"client-type": "mobile browser", "client-os": "iOS", "device-type": "mobile",
                "client-name": "Mobile Safari"}
    if "Android" in ua:
        return {"client-type": "mobile browser", "client-os": "Android", "device-type": "mobile",
                "client-name": "Chrome Mobile"}
    name = "Edge" if "Edg/" in ua else "Chrome"
    system = "OS X" if "Macintosh" in ua else "Windows"
    return {"client-type": "browser", "client-os": system, "device-type": "desktop",
            "client-name": name}


def _postmark_client(user_agent: str | None) -> tuple[dict, dict, str]:
    info = _client(user_agent)
    company = {"Chrome": "Google", "Chrome Mobile": "Google", "Edge": "Microsoft",
               "Outlook 2016": "Microsoft", "Mobile Safari": "Apple", "Firefox": "Mozilla"}
    name = info["client-name"]
    client = {"Name": name if name != "unknown" else "Unknown",
              "Company": company.get(name, "Unknown"), "Family": name if name != "unknown" else "Unknown"}
    os_name = info["client-os"]
    os_info = {"Name": os_name if os_name != "unknown" else "Unknown",
               "Company": {"Windows": "Microsoft Corporation", "OS X": "Apple Computer, Inc.",
                           "iOS": "Apple Inc.", "Android": "Google, Inc."}.get(os_name, "Unknown"),
               "Family": os_name if os_name != "unknown" else "Unknown"}
    platform = {"desktop": "Desktop", "mobile": "Mobile"}.get(info["device-type"], "Unknown")
    if info["client-type"] == "browser" and "Proxy" not in name and name != "Firefox":
        platform = "WebMail"
    return client, os_info, platform


# --------------------------------------------------------------------------------------------
# Message ids as each format shows them
# --------------------------------------------------------------------------------------------


def _sendgrid_message_id(mid: str) -> str:
    return mid


@lru_cache(maxsize=1 << 16)
def _ses_message_id(mid: str, send_ms: int) -> str:
    # SES ids start with 0100 and the send time in hexadecimal milliseconds.
    return f"0100{send_ms:012x}-{_uuid('ses', mid)}-000000"


@lru_cache(maxsize=1 << 16)
def _mailgun_message_id(mid: str, send_ms: int, domain: str) -> str:
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(send_ms // 1000))
    return f"{stamp}.1.{_hex('mailgun', mid, length=16).upper()}@{domain}"


@lru_cache(maxsize=1 << 16)
def _postmark_message_id(mid: str) -> str:
    return _uuid("postmark", mid)


@lru_cache(maxsize=1 << 16)
def _sparkpost_message_id(mid: str) -> str:
    return "000" + _hex("sparkpost", mid, length=17)


@lru_cache(maxsize=1 << 16)
def _mandrill_message_id(mid: str) -> str:
    return _hex("mandrill", mid, length=32)


@lru_cache(maxsize=1 << 16)
def _brevo_message_id(mid: str, send_ms: int) -> str:
    """As posted, with angle brackets (the reader drops them)."""
    stamp = time.strftime("%Y%m%d%H%M", time.gmtime(send_ms // 1000))
    return f"<{stamp}.{_number('brevo', mid, digits=11)}@smtp-relay.mailin.fr>"


def _postfix_message_id(mid: str, domain: str) -> str:
    """The Message-ID header (the cleanup line), without angle brackets."""
    return f"{mid}@{domain}"


def wire_message_ids(result: SimulationResult, format: str) -> pd.Series:
    """The message id a reader reports for each simulated message, in one format.

    Parameters
    ----------
    result : SimulationResult
    format : str
        One of :data:`FORMATS`.

    Returns
    -------
    Series
        Indexed by the simulator's ``message_id``; the id as the format's reader gives it
        (SES ``mail.messageId``, Mailgun's Message-ID without brackets, ...). The mapping is one
        to one, so message grouping is preserved.
    """
    _check_format(format)
    truth = result.messages_truth
    ids = truth["message_id"].astype(object).tolist()
    send_ms = (truth["send_time"].astype("datetime64[ns, UTC]").astype("int64") // 1_000_000).tolist()
    domain = result.parameters["config"].sender_domain
    makers: dict[str, Callable[[str, int], str]] = {
        "sendgrid": lambda m, s: _sendgrid_message_id(m),
        "ses": _ses_message_id,
        "mailgun": lambda m, s: _mailgun_message_id(m, s, domain),
        "postmark": lambda m, s: _postmark_message_id(m),
        "sparkpost": lambda m, s: _sparkpost_message_id(m),
        "mandrill": lambda m, s: _mandrill_message_id(m),
        "brevo": lambda m, s: _brevo_message_id(m, s).strip("<>"),
        "postfix": lambda m, s: _postfix_message_id(m, domain),
        "csv": lambda m, s: m,
    }
    make = makers[format]
    return pd.Series([make(m, s) for m, s in zip(ids, send_ms, strict=True)], index=pd.Index(ids, name="message_id"),
                     dtype="string", name=format)


def _check_format(format: str) -> None:
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}; the writers know: {', '.join(FORMATS)}")


# --------------------------------------------------------------------------------------------
# SendGrid
# --------------------------------------------------------------------------------------------

#: Simulated bounce (class, failure kind) -> SendGrid (type, bounce_classification).
_SENDGRID_BOUNCES: dict[tuple[str, str], tuple[str, str]] = {
    ("hard", "transient"): ("bounce", "Invalid Address"),
    ("block", "transient"): ("blocked", "Reputation"),
    ("soft", "mailbox_full"): ("blocked", "Mailbox Unavailable"),
    # The ESP gave up after rate-limit deferrals: SendGrid's "technical failure" (a temporary
    # condition that outlived the retries), not a block of the sender.
    ("soft", "rate_limit"): ("blocked", "Technical Failure"),
    ("soft", "transient"): ("blocked", "Technical Failure"),
}


@lru_cache(maxsize=1 << 16)
def _sendgrid_full_id(mid: str, send_ms: int) -> str:
    """``sg_message_id``: the X-Message-Id, then the processing node's suffix."""
    pod = _hex("filterdrecv", mid, length=10)
    return (f"{mid}.filterdrecv-{pod}-{_b64url('pod', mid, length=5).lower()}-1-"
            f"{send_ms // 1000:X}-{_digest('n', mid, size=1)[0] % 64:X}.0")


def _sendgrid_event(r: _Rows, i: int, pools: dict[str, int]) -> dict:
    event = r.event[i]
    mid = r.message[i]
    record: dict[str, Any] = {"email": r.recipient[i], "timestamp": r.ms[i] // 1000}
    if event == "processed" and r.ip_pool[i] is not None:
        record["pool"] = {"name": r.ip_pool[i], "id": pools[r.ip_pool[i]]}
    if event in ("processed", "delivered", "deferred", "bounced", "dropped"):
        record["smtp-id"] = f"<{mid}@geopod-ismtpd-{_digest('pod', mid, size=1)[0] % 8}>"
    record["event"] = {
        "processed": "processed", "delivered": "delivered", "deferred": "deferred",
        "bounced": "bounce", "dropped": "dropped", "opened": "open", "clicked": "click",
        "complained": "spamreport", "unsubscribed": "unsubscribe",
    }[event]
    if r.campaign[i] is not None:
        record["category"] = [r.campaign[i]]
    record["sg_event_id"] = r.event_id[i]
    record["sg_message_id"] = _sendgrid_full_id(mid, r.send_ms[i])
    if event in ATTEMPT_EVENTS:
        record["ip"] = r.sending_ip[i]
        record["tls"] = 1
    if event == "delivered":
        record["response"] = r.reply[i]
    elif event == "deferred":
        record["response"] = r.reply[i]
        record["attempt"] = str(r.attempt[i])
    elif event == "bounced":
        kind = _failure_kind(r.smtp_status[i]) if r.bounce_class[i] == "soft" else "transient"
        bounce_type, classification = _SENDGRID_BOUNCES.get((r.bounce_class[i], kind), ("blocked", "Unclassified"))
        record["reason"] = r.reply[i]
        record["status"] = r.smtp_status[i]
        record["type"] = bounce_type
        record["bounce_classification"] = classification
    elif event == "dropped":
        record["reason"] = r.reason[i]
    elif event == "opened":
        record["useragent"] = r.user_agent[i]
        record["ip"] = r.client_ip[i]
        record["sg_machine_open"] = bool(r.is_machine[i])
    elif event == "clicked":
        record["useragent"] = r.user_agent[i]
        record["ip"] = r.client_ip[i]
        record["url"] = r.url[i]
        record["url_offset"] = {"index": 0, "type": "html"}
    elif event == "unsubscribed":
        record["useragent"] = r.user_agent[i] or "Mozilla/5.0"
    if r.stream[i] is not None:
        record["stream"] = r.stream[i]  # a custom argument, merged at the top level
    return record


def write_sendgrid(result: SimulationResult, directory: str | Path, *, layout: str = "jsonl",
                   batch_size: int = 100, compress: str | None = None,
                   name: str | None = None) -> list[Path]:
    """Write SendGrid Event Webhook data.

    Parameters
    ----------
    result : SimulationResult
    directory : path
        Created if needed.
    layout : {"jsonl", "posts"}
        ``"jsonl"``: one event per line, as a webhook consumer stores them. ``"posts"``: the
        POST bodies, each a JSON array of up to ``batch_size`` events, one body per line.
    batch_size : int
        Events per POST [events].
    compress : {None, "gz"}
    name : str, optional
        File name (without ``.gz``); default ``sendgrid_events.jsonl`` /
        ``sendgrid_posts.jsonl``.

    Returns
    -------
    list of Path
    """
    if layout not in ("jsonl", "posts"):
        raise ValueError(f"layout must be 'jsonl' or 'posts', not {layout!r}")
    r = _rows(result)
    pools = {pool: 200 + int.from_bytes(_digest("pool", pool, size=2), "big") % 800
             for pool in sorted({p for p in r.ip_pool if p is not None})}
    path = _target(directory, name or ("sendgrid_events.jsonl" if layout == "jsonl" else "sendgrid_posts.jsonl"), compress)
    records = (_sendgrid_event(r, i, pools) for i in r.rows())
    with _text_output(path, compress) as out:
        if layout == "jsonl":
            for record in records:
                out.write(_dumps(record) + "\n")
        else:
            for batch in _batches(records, batch_size):
                out.write(_dumps(batch) + "\n")
    return [path]


# --------------------------------------------------------------------------------------------
# Amazon SES
# --------------------------------------------------------------------------------------------

_SES_EVENT_TYPES = {
    "processed": "Send", "delivered": "Delivery", "deferred": "DeliveryDelay", "bounced": "Bounce",
    "dropped": "Bounce", "opened": "Open", "clicked": "Click", "complained": "Complaint",
    "unsubscribed": "Subscription",
}
_SES_EVENTBRIDGE = {
    "Send": "Email Sent", "Delivery": "Email Delivered", "DeliveryDelay": "Email Delivery Delayed",
    "Bounce": "Email Bounced", "Open": "Email Opened", "Click": "Email Clicked",
    "Complaint": "Email Complaint Received", "Subscription": "Email Subscribed",
}
_SES_DELAY_TYPES = {"transient": "TransientCommunicationFailure", "rate_limit": "IPFailure",
                    "mailbox_full": "MailboxFull"}
_SES_SUPPRESSION_TEXT = (
    "Amazon SES did not send the message to this address because it is on the suppression list "
    "for your account. For more information about removing addresses from the suppression list, "
    "see the Amazon SES Developer Guide at https://docs.aws.amazon.com/ses/latest/dg/sending-email-suppression-list.html"
)
_COMPLAINT_AGENTS = {"microsoft": "Microsoft Junk Mail Reporting Program",
                     "yahoo": "Yahoo!-Mail-Feedback/2.0", "att": "Yahoo!-Mail-Feedback/2.0",
                     "comcast": "Comcast Feedback Loop"}


def _ses_reporting_mta(ip: str | None) -> str:
    last = (ip or "0.0.0.0").rsplit(".", 1)[-1]
    return f"a{last}-{int(_digest('mta', ip, size=1)[0]) % 200 + 1}.smtp-out.amazonses.com"


def _ses_record(r: _Rows, i: int, configuration_sets: dict[str, str]) -> dict:
    event = r.event[i]
    mid = r.message[i]
    address = r.recipient[i]
    event_type = _SES_EVENT_TYPES[event]
    domain = r.sender_domain
    source = f"Example <notifications@{domain}>"
    message_id = _ses_message_id(mid, r.send_ms[i])
    tags: dict[str, list[str]] = {
        "ses:operation": ["SendEmail"],
        "ses:configuration-set": [configuration_sets[r.stream_kind[i]]],
        "ses:source-ip": [_CALLER_IP],
        "ses:from-domain": [domain],
        "ses:caller-identity": ["example-mailer"],
    }
    if event in ATTEMPT_EVENTS and r.sending_ip[i] is not None:
        tags["ses:outgoing-ip"] = [r.sending_ip[i]]
    if r.stream[i] is not None:
        tags["stream"] = [r.stream[i]]
    if r.campaign[i] is not None:
        tags["campaign"] = [r.campaign[i]]
    mail = {
        "timestamp": _iso_ms(r.send_ms[i]),
        "source": source,
        "sourceArn": f"arn:aws:ses:{_AWS_REGION}:{_AWS_ACCOUNT}:identity/{domain}",
        "sendingAccountId": _AWS_ACCOUNT,
        "messageId": message_id,
        "destination": [address],
        "headersTruncated": False,
        "headers": [
            {"name": "From", "value": source},
            {"name": "To", "value": address},
            {"name": "Subject", "value": r.subject[i]},
            {"name": "MIME-Version", "value": "1.0"},
            {"name": "Content-Type",
             "value": f'multipart/alternative; boundary="----=_Part_{_hex("boundary", mid, length=8)}"'},
        ],
        "commonHeaders": {"from": [source], "to": [address], "messageId": message_id,
                          "subject": r.subject[i]},
        "tags": tags,
    }
    record: dict[str, Any] = {"eventType": event_type, "mail": mail}
    when = _iso_ms(r.ms[i])
    ip = r.sending_ip[i]
    if event == "processed":
        record["send"] = {}
    elif event == "delivered":
        record["delivery"] = {
            "timestamp": when, "processingTimeMillis": r.ms[i] - r.send_ms[i],
            "recipients": [address], "smtpResponse": r.reply[i],
            "remoteMtaIp": _mx_ip(r.provider[i], r.remote_mta[i] or ""),
            "reportingMTA": _ses_reporting_mta(ip),
        }
    elif event == "deferred":
        record["deliveryDelay"] = {
            "timestamp": when,
            "delayType": _SES_DELAY_TYPES[_failure_kind(r.smtp_status[i])],
            "expirationTime": _iso_ms(r.send_ms[i] + int(_RETRY_HORIZON_S * 1000)),
            "delayedRecipients": [{"emailAddress": address, "status": r.smtp_status[i],
                                   "diagnosticCode": f"smtp; {r.reply[i]}"}],
            "reportingMTA": _ses_reporting_mta(ip),
        }
    elif event in ("bounced", "dropped"):
        if event == "dropped":
            bounce_type, sub_type = "Permanent", "OnAccountSuppressionList"
            recipient = {"emailAddress": address, "action": "failed", "status": "5.1.1",
                         "diagnosticCode": _SES_SUPPRESSION_TEXT}
            reporting = "dsn; amazonses.com"
        else:
            bounce_type, sub_type = {
                "hard": ("Permanent", "General"),
                "block": ("Transient", "ContentRejected"),
                "soft": ("Transient", "MailboxFull" if r.smtp_status[i] == "4.2.2" else "General"),
            }.get(r.bounce_class[i], ("Undetermined", "Undetermined"))
            recipient = {"emailAddress": address, "action": "failed", "status": r.smtp_status[i],
                         "diagnosticCode": f"smtp; {r.reply[i]}"}
            reporting = f"dsn; {_ses_reporting_mta(ip)}"
        record["bounce"] = {
            "feedbackId": _ses_message_id(r.event_id[i], r.ms[i]),
            "bounceType": bounce_type, "bounceSubType": sub_type,
            "bouncedRecipients": [recipient], "timestamp": when, "reportingMTA": reporting,
        }
        if event == "bounced":
            record["bounce"]["remoteMtaIp"] = _mx_ip(r.provider[i], r.remote_mta[i] or "")
    elif event == "opened":
        record["open"] = {"ipAddress": r.client_ip[i], "timestamp": when, "userAgent": r.user_agent[i]}
    elif event == "clicked":
        record["click"] = {"ipAddress": r.client_ip[i], "timestamp": when, "userAgent": r.user_agent[i],
                           "link": r.url[i], "linkTags": {"stream": [r.stream[i] or "default"]}}
    elif event == "complained":
        record["complaint"] = {
            "feedbackId": _ses_message_id(r.event_id[i], r.ms[i]),
            "complaintSubType": None,
            "complainedRecipients": [{"emailAddress": address}],
            "timestamp": when,
            "userAgent": _COMPLAINT_AGENTS.get(r.provider[i], "ARF feedback"),
            "complaintFeedbackType": "abuse",
            "arrivalDate": when,
        }
    elif event == "unsubscribed":
        topic = r.stream[i] or "default"
        record["subscription"] = {
            "contactList": "example-contacts",
            "timestamp": when,
            "source": "UnsubscribeHeader",
            "newTopicPreferences": {"unsubscribeAll": True, "topicSubscriptionStatus": [
                {"topicName": topic, "subscriptionStatus": "OptOut"}]},
            "oldTopicPreferences": {"unsubscribeAll": False, "topicSubscriptionStatus": [
                {"topicName": topic, "subscriptionStatus": "OptIn"}]},
        }
    return record


def _sns_envelope(record: dict, event_id: str, ms: int) -> dict:
    # SNS publishes a moment after the event.
    published = ms + 150 + int(_fraction("sns", event_id) * 900)
    signature = base64.b64encode(_digest("signature", event_id, size=48) * 5).decode("ascii")
    topic = f"arn:aws:sns:{_AWS_REGION}:{_AWS_ACCOUNT}:ses-events"
    sns_id = _uuid("sns", event_id)
    return {
        "Type": "Notification",
        "MessageId": sns_id,
        "TopicArn": topic,
        "Message": _dumps(record),
        "Timestamp": _iso_ms(published),
        "SignatureVersion": "1",
        "Signature": signature,
        "SigningCertURL": f"https://sns.{_AWS_REGION}.amazonaws.com/SimpleNotificationService-"
                          "9c6465fa7f48f5cacd23014631ec1136.pem",
        "UnsubscribeURL": f"https://sns.{_AWS_REGION}.amazonaws.com/?Action=Unsubscribe"
                          f"&SubscriptionArn={topic}:{_uuid('subscription')}",
    }


def _eventbridge_event(record: dict, event_id: str, ms: int, configuration_set: str) -> dict:
    seconds = (ms + 500) // 1000
    return {
        "version": "0",
        "id": _uuid("eventbridge", event_id),
        "detail-type": _SES_EVENTBRIDGE[record["eventType"]],
        "source": "aws.ses",
        "account": _AWS_ACCOUNT,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds)),
        "region": _AWS_REGION,
        "resources": [f"arn:aws:ses:{_AWS_REGION}:{_AWS_ACCOUNT}:configuration-set/{configuration_set}"],
        "detail": record,
    }


def write_ses(result: SimulationResult, directory: str | Path, *, transport: str = "firehose",
              compress: str | None = None, name: str | None = None) -> list[Path]:
    """Write Amazon SES event publishing records.

    Parameters
    ----------
    result : SimulationResult
    directory : path
    transport : {"firehose", "sns", "eventbridge"}
        Firehose: one SES record per line (JSON lines in S3). SNS: one notification per line,
        the record as a JSON string in ``Message``. EventBridge: one event per line, the record
        in ``detail``.
    compress : {None, "gz"}
    name : str, optional
        File name; default ``ses_<transport>.jsonl``.

    Returns
    -------
    list of Path

    Notes
    -----
    One record per event and recipient (the simulator sends one recipient per message). The
    sending IP is the ``ses:outgoing-ip`` tag on Delivery, DeliveryDelay and Bounce records;
    ``stream`` and ``campaign`` are message tags; the configuration set is one per stream kind.
    Suppressed addresses are Bounce Permanent/OnAccountSuppressionList, reputation blocks Bounce
    Transient/ContentRejected, expiries Transient/MailboxFull or General, unsubscribes
    Subscription events with ``unsubscribeAll``.
    """
    if transport not in ("firehose", "sns", "eventbridge"):
        raise ValueError(f"transport must be 'firehose', 'sns' or 'eventbridge', not {transport!r}")
    r = _rows(result)
    configuration_sets = {"transactional": "example-transactional", "marketing": "example-marketing"}
    path = _target(directory, name or f"ses_{transport}.jsonl", compress)
    with _text_output(path, compress) as out:
        for i in r.rows():
            record = _ses_record(r, i, configuration_sets)
            if transport == "sns":
                record = _sns_envelope(record, r.event_id[i], r.ms[i])
            elif transport == "eventbridge":
                record = _eventbridge_event(record, r.event_id[i], r.ms[i],
                                            configuration_sets[r.stream_kind[i]])
            out.write(_dumps(record) + "\n")
    return [path]


# --------------------------------------------------------------------------------------------
# Mailgun
# --------------------------------------------------------------------------------------------

_MAILGUN_SUPPRESSIONS = {
    "Bounced Address": ("suppress-bounce", 605, "Not delivering to previously bounced address"),
    "Spam Reporting Address": ("suppress-complaint", 607, "Not delivering to a user who marked your messages as spam"),
    "Unsubscribed Address": ("suppress-unsubscribe", 606, "Not delivering to unsubscribed address"),
}


def _mailgun_body(r: _Rows, i: int) -> dict:
    event = r.event[i]
    mid = r.message[i]
    address = r.recipient[i]
    domain = r.sender_domain
    ms = r.ms[i]
    data: dict[str, Any] = {
        "id": _b64url("mailgun-event", r.event_id[i]),
        "timestamp": ms / 1000.0,
        "log-level": "info",
        "event": {"processed": "accepted", "delivered": "delivered", "deferred": "failed",
                  "bounced": "failed", "dropped": "failed", "opened": "opened",
                  "clicked": "clicked", "complained": "complained",
                  "unsubscribed": "unsubscribed"}[event],
    }
    if event in ("processed", "delivered", "deferred", "bounced", "dropped"):
        envelope = {"transport": "smtp", "sender": f"bounces@{domain}", "targets": address}
        if event in ATTEMPT_EVENTS and r.sending_ip[i] is not None:
            envelope["sending-ip"] = r.sending_ip[i]
        data["envelope"] = envelope
    if event == "processed":
        data["method"] = "HTTP"
    data["recipient"] = address
    data["recipient-domain"] = r.domain[i]
    data["message"] = {
        "headers": {"to": address, "message-id": _mailgun_message_id(mid, r.send_ms[i], domain),
                    "from": f"Example <notifications@{domain}>", "subject": r.subject[i]},
        "attachments": [],
        "size": 12000 + int.from_bytes(_digest("size", mid, size=2), "big") % 9000,
    }
    data["tags"] = [r.campaign[i]] if r.campaign[i] is not None else []
    data["campaigns"] = []
    data["user-variables"] = {"stream": r.stream[i]} if r.stream[i] is not None else {}
    data["flags"] = {"is-routed": False, "is-authenticated": True, "is-system-test": False,
                     "is-test-mode": False}
    if event in ("delivered", "deferred", "bounced"):
        status: dict[str, Any] = {
            "tls": True, "mx-host": r.remote_mta[i], "attempt-no": r.attempt[i],
            "description": "", "session-seconds": round(0.2 + _fraction("session", r.event_id[i]) * 2.5, 3),
            "utf8": True, "code": r.code[i], "message": r.reply[i],
            "certificate-verified": True,
        }
        if event != "delivered":
            status["enhanced-code"] = r.smtp_status[i]
        if event == "deferred":
            attempt = int(r.attempt[i] or 1)
            status["retry-seconds"] = int(RETRY_OFFSETS_S[min(attempt, len(RETRY_OFFSETS_S) - 1)]
                                          - RETRY_OFFSETS_S[attempt - 1])
            data["severity"] = "temporary"
            data["reason"] = "generic"
            data["log-level"] = "warn"
        elif event == "bounced":
            data["severity"] = "permanent"
            data["log-level"] = "error"
            if r.bounce_class[i] == "soft":
                data["reason"] = "old"  # Mailgun stopped retrying: the message is too old
                status["description"] = "Too old"
            else:
                data["reason"] = "bounce" if r.bounce_class[i] == "hard" else "generic"
        data["delivery-status"] = status
    elif event == "dropped":
        reason, code, text = _MAILGUN_SUPPRESSIONS.get(r.reason[i] or "", _MAILGUN_SUPPRESSIONS["Bounced Address"])
        data["severity"] = "permanent"
        data["reason"] = reason
        data["log-level"] = "error"
        data["delivery-status"] = {"attempt-no": 1, "message": "", "code": code,
                                   "description": text, "session-seconds": 0.0}
    elif event in ("opened", "clicked"):
        data["ip"] = r.client_ip[i]
        data["geolocation"] = {"country": "US", "region": "Unknown", "city": "Unknown"}
        bot = ""
        if r.is_machine[i]:
            bot = "apple" if event == "opened" else "generic"
        data["client-info"] = {**_client(r.user_agent[i]), "user-agent": r.user_agent[i], "bot": bot}
        if event == "clicked":
            data["url"] = r.url[i]
    return {
        "signature": {
            "token": _hex("token", r.event_id[i], length=50),
            "timestamp": str(ms // 1000 + 1),
            "signature": _hex("hmac", r.event_id[i], length=64),
        },
        "event-data": data,
    }


def write_mailgun(result: SimulationResult, directory: str | Path, *, compress: str | None = None,
                  name: str | None = None) -> list[Path]:
    """Write Mailgun webhook bodies ``{"signature": ..., "event-data": ...}``, one per line.

    ``accepted`` for processed; ``failed`` with ``severity`` ``temporary`` for deferrals,
    ``permanent`` for bounces (reason ``old`` for expiries, ``bounce``/``generic`` otherwise,
    the receiver's reply and enhanced code in ``delivery-status``) and for drops (reason
    ``suppress-*``, codes 605/606/607); ``client-info.bot`` is ``apple`` on MPP opens and
    ``generic`` on scanner clicks. Times are epoch seconds as floats.
    """
    r = _rows(result)
    path = _target(directory, name or _FILE_NAMES["mailgun"], compress)
    with _text_output(path, compress) as out:
        for i in r.rows():
            out.write(_dumps(_mailgun_body(r, i)) + "\n")
    return [path]


# --------------------------------------------------------------------------------------------
# Postmark
# --------------------------------------------------------------------------------------------

_POSTMARK_BOUNCES: dict[str, tuple[str, int, str, str]] = {
    "hard": ("HardBounce", 1, "Hard bounce",
             "The server was unable to deliver your message (ex: unknown user, mailbox not found)."),
    "soft": ("SoftBounce", 4096, "Soft bounce",
             "Unable to temporarily deliver this email. The server may retry later."),
    "block": ("Blocked", 100006, "ISP block",
              "The email was blocked by the ISP or the recipient's server, typically for "
              "reputation or content reasons."),
    "undetermined": ("Unknown", 2048, "Unknown type",
                     "It is unknown why the message was not delivered."),
    "deferred": ("Transient", 2, "Message delayed",
                 "The server could not temporarily deliver your message (ex: Message is delayed "
                 "due to network troubles)."),
}


def _postmark_record(r: _Rows, i: int, zone: ZoneInfo, first_open: set[str]) -> dict | None:
    event = r.event[i]
    if event in ("processed", "dropped"):
        return None
    mid = _postmark_message_id(r.message[i])
    when = _local_iso7(r.ms[i], zone)
    tag = r.campaign[i] or ""
    stream = r.stream[i] or "outbound"
    metadata: dict[str, str] = {}
    from_address = f"notifications@{r.sender_domain}"
    if event == "delivered":
        return {"RecordType": "Delivery", "ServerID": _POSTMARK_SERVER_ID, "MessageStream": stream,
                "MessageID": mid, "Recipient": r.recipient[i], "Tag": tag, "DeliveredAt": when,
                "Details": f"smtp;{r.reply[i]}", "Metadata": metadata}
    if event in ("bounced", "deferred", "complained"):
        if event == "complained":
            bounce_type, type_code, label, description = (
                "SpamComplaint", 100001, "Spam complaint",
                "The subscriber explicitly marked this email as spam.")
            details = "Complaint received through the mailbox provider's feedback loop"
        else:
            key = "deferred" if event == "deferred" else r.bounce_class[i]
            bounce_type, type_code, label, description = _POSTMARK_BOUNCES[key]
            details = f"smtp;{r.reply[i]}"
        inactive = event in ("complained",) or (event == "bounced" and r.bounce_class[i] == "hard")
        return {
            "RecordType": "SpamComplaint" if event == "complained" else "Bounce",
            "ID": int(_number("postmark-bounce", r.event_id[i], digits=10)),
            "Type": bounce_type, "TypeCode": type_code, "Name": label, "Tag": tag,
            "MessageID": mid, "Metadata": metadata, "ServerID": _POSTMARK_SERVER_ID,
            "MessageStream": stream, "Description": description, "Details": details,
            "Email": r.recipient[i], "From": from_address, "BouncedAt": when,
            "DumpAvailable": event != "deferred", "Inactive": inactive,
            "CanActivate": event != "complained", "Subject": r.subject[i], "Content": "",
        }
    if event in ("opened", "clicked"):
        client, os_info, platform = _postmark_client(r.user_agent[i])
        geo = {"CountryISOCode": "US", "Country": "United States", "IP": r.client_ip[i]}
        if event == "opened":
            first = r.message[i] not in first_open
            first_open.add(r.message[i])
            return {"RecordType": "Open", "MessageStream": stream, "FirstOpen": first,
                    "Client": client, "OS": os_info, "Platform": platform,
                    "UserAgent": r.user_agent[i], "ReadSeconds": 0 if r.is_machine[i] else
                    1 + int(_fraction("read", r.event_id[i]) * 30),
                    "Geo": geo, "MessageID": mid, "Metadata": metadata, "ReceivedAt": when,
                    "Tag": tag, "Recipient": r.recipient[i]}
        return {"RecordType": "Click", "MessageStream": stream, "ClickLocation": "HTML",
                "Client": client, "OS": os_info, "Platform": platform,
                "UserAgent": r.user_agent[i], "OriginalLink": r.url[i], "Geo": geo,
                "MessageID": mid, "Metadata": metadata, "ReceivedAt": when, "Tag": tag,
                "Recipient": r.recipient[i]}
    # unsubscribed: the recipient suppressed sending (List-Unsubscribe or the link).
    return {"RecordType": "SubscriptionChange", "MessageID": mid, "ServerID": _POSTMARK_SERVER_ID,
            "MessageStream": stream, "ChangedAt": when, "Recipient": r.recipient[i],
            "Origin": "Recipient", "SuppressSending": True, "SuppressionReason": "ManualSuppression",
            "Tag": tag, "Metadata": metadata}


def write_postmark(result: SimulationResult, directory: str | Path, *,
                   timezone: str = "America/New_York", compress: str | None = None,
                   name: str | None = None) -> list[Path]:
    """Write Postmark webhook bodies (Delivery, Bounce, SpamComplaint, Open, Click,
    SubscriptionChange), one per line.

    Times carry the offset of ``timezone`` (the Postmark server's; default New York) and seven
    fractional digits. Deferrals are Bounce records of type Transient; bounces HardBounce,
    SoftBounce (expiry) or Blocked; unsubscribes SubscriptionChange with ``SuppressSending``
    by the recipient. Postmark has no processed webhook and no webhook for a send refused
    because the address is inactive: those events are not written (:data:`FIDELITY`).
    """
    zone = ZoneInfo(timezone)
    r = _rows(result)
    path = _target(directory, name or _FILE_NAMES["postmark"], compress)
    first_open: set[str] = set()
    with _text_output(path, compress) as out:
        for i in r.rows():
            record = _postmark_record(r, i, zone, first_open)
            if record is not None:
                out.write(_dumps(record) + "\n")
    return [path]


# --------------------------------------------------------------------------------------------
# SparkPost
# --------------------------------------------------------------------------------------------

_SPARKPOST_TYPES = {
    "processed": ("message_event", "injection"), "delivered": ("message_event", "delivery"),
    "deferred": ("message_event", "delay"), "bounced": ("message_event", "bounce"),
    "dropped": ("message_event", "policy_rejection"), "complained": ("message_event", "spam_complaint"),
    "opened": ("track_event", "open"), "clicked": ("track_event", "click"),
    "unsubscribed": ("unsubscribe_event", "list_unsubscribe"),
}
_SPARKPOST_PROVIDERS = {"gmail": "Gmail", "microsoft": "Hotmail / Outlook", "yahoo": "Yahoo",
                        "att": "AT&T", "apple": "Apple", "comcast": "Comcast"}


def _sparkpost_bounce_class(bounce_class: str, status: str | None) -> str:
    if bounce_class == "hard":
        return "10"  # Invalid Recipient
    if bounce_class == "block":
        return "51"  # Spam Block
    if bounce_class == "undetermined":
        return "1"
    return "22" if status == "4.2.2" else "24"  # Mailbox Full / Timeout


def _sparkpost_element(r: _Rows, i: int, transmissions: dict[str, str]) -> dict:
    event = r.event[i]
    mid = r.message[i]
    event_class, event_type = _SPARKPOST_TYPES[event]
    address = r.recipient[i]
    campaign = r.campaign[i] or ""
    record: dict[str, Any] = {
        "type": event_type,
        "campaign_id": campaign,
        "customer_id": _SPARKPOST_CUSTOMER_ID,
        "event_id": _number("sparkpost-event", r.event_id[i], digits=19),
        "friendly_from": f"notifications@{r.sender_domain}",
        "ip_pool": r.ip_pool[i] or "default",
        "message_id": _sparkpost_message_id(mid),
        "msg_from": f"msprvs1=20319{_b64url('prvs', mid, length=8)}=bounces-{_SPARKPOST_CUSTOMER_ID}@sparkpostmail.com",
        "rcpt_meta": {"stream": r.stream[i]} if r.stream[i] else {},
        "rcpt_tags": [campaign] if campaign else [],
        "rcpt_to": address.lower(),
        "raw_rcpt_to": address,
        "rcpt_type": "to",
        "recipient_domain": r.domain[i],
        "routing_domain": r.domain[i],
        "subaccount_id": "0",
        "template_id": (r.stream[i] or "default").replace("_", "-"),
        "template_version": "0",
        "timestamp": str(r.ms[i] // 1000),
        "transmission_id": transmissions.setdefault(f"{campaign}|{r.send_ms[i] // 3_600_000}|{r.stream_kind[i]}",
                                                    _number("transmission", campaign, r.send_ms[i] // 3_600_000, digits=18)),
        "injection_time": _iso_ms(r.send_ms[i]),
        "subject": r.subject[i],
    }
    if event in ATTEMPT_EVENTS and r.sending_ip[i] is not None:
        record["sending_ip"] = r.sending_ip[i]
    if event in ATTEMPT_EVENTS:
        record["ip_address"] = _mx_ip(r.provider[i], r.remote_mta[i] or "")
        record["mailbox_provider"] = _SPARKPOST_PROVIDERS.get(r.provider[i], "Other")
        record["num_retries"] = str(max(0, int(r.attempt[i] or 1) - 1))
        record["queue_time"] = str(r.ms[i] - r.send_ms[i])
        record["outbound_tls"] = "1"
        record["msg_size"] = str(12000 + int.from_bytes(_digest("size", mid, size=2), "big") % 9000)
    if event in ("deferred", "bounced"):
        record["error_code"] = str(r.code[i])
        record["raw_reason"] = r.reply[i]
        record["reason"] = r.reason[i]
        if event == "bounced":
            record["bounce_class"] = _sparkpost_bounce_class(r.bounce_class[i], r.smtp_status[i])
    elif event == "dropped":
        record["error_code"] = "554"
        record["raw_reason"] = "554 5.7.1 recipient address suppressed due to customer policy"
        record["reason"] = "554 5.7.1 recipient address suppressed due to customer policy"
    elif event == "complained":
        record["fbtype"] = "abuse"
        record["report_by"] = f"fbl@{r.domain[i]}"
        record["report_to"] = f"fbl@{r.sender_domain}"
    elif event in ("opened", "clicked"):
        record["user_agent"] = r.user_agent[i]
        record["ip_address"] = r.client_ip[i]
        record["geo_ip"] = {"country": "US", "region": "", "city": "", "latitude": 0, "longitude": 0}
        if event == "clicked":
            record["target_link_url"] = r.url[i]
            record["target_link_name"] = "cta"
    elif event == "unsubscribed":
        record["mailfrom"] = f"unsubscribe@{r.sender_domain}"
    return {"msys": {event_class: record}}


def write_sparkpost(result: SimulationResult, directory: str | Path, *, batch_size: int = 100,
                    compress: str | None = None, name: str | None = None) -> list[Path]:
    """Write SparkPost (Bird) webhook batches: JSON arrays of ``{"msys": {...}}`` elements, one
    POST body per line.

    ``injection``, ``delivery``, ``delay``, ``bounce`` (``bounce_class`` 10 hard, 51 block, 22
    or 24 soft), ``policy_rejection`` (suppressed), ``spam_complaint``, ``open``, ``click``,
    ``list_unsubscribe``. ``timestamp`` is epoch seconds as a string; ``rcpt_meta.stream`` gives
    the stream, ``campaign_id`` the campaign, ``ip_pool`` and (on attempts) ``sending_ip`` the
    infrastructure.
    """
    r = _rows(result)
    transmissions: dict[str, str] = {}
    path = _target(directory, name or _FILE_NAMES["sparkpost"], compress)
    with _text_output(path, compress) as out:
        elements = (_sparkpost_element(r, i, transmissions) for i in r.rows())
        for batch in _batches(elements, batch_size):
            out.write(_dumps(batch) + "\n")
    return [path]


# --------------------------------------------------------------------------------------------
# Mandrill
# --------------------------------------------------------------------------------------------

_MANDRILL_EVENTS = {
    "processed": "send", "delivered": "delivered", "deferred": "deferral", "dropped": "reject",
    "opened": "open", "clicked": "click", "complained": "spam", "unsubscribed": "unsub",
}
_MANDRILL_REJECT_REASONS = {"Bounced Address": "hard-bounce", "Spam Reporting Address": "spam",
                            "Unsubscribed Address": "unsub"}


def _mandrill_events(r: _Rows) -> Iterator[dict]:
    """Mandrill events with the ``msg`` snapshot as it stood at each event."""
    history: dict[str, dict[str, list]] = {}
    for i in r.rows():
        event = r.event[i]
        mid = r.message[i]
        seconds = r.ms[i] // 1000
        past = history.setdefault(mid, {"smtp_events": [], "opens": [], "clicks": [], "state": ["sent"]})
        name = _MANDRILL_EVENTS.get(event)
        extra: dict[str, Any] = {}
        if event in ATTEMPT_EVENTS:
            past["smtp_events"].append({
                "ts": seconds,
                "type": {"delivered": "sent", "deferred": "deferred", "bounced": "bounced"}[event],
                "diag": r.reply[i],
                "source_ip": r.sending_ip[i],
                "destination_ip": _mx_ip(r.provider[i], r.remote_mta[i] or ""),
                "size": 12000 + int.from_bytes(_digest("size", mid, size=2), "big") % 9000,
            })
        if event == "deferred":
            past["state"][0] = "deferred"
        elif event == "delivered":
            past["state"][0] = "sent"
        elif event == "bounced":
            if r.bounce_class[i] == "hard":
                name = "hard_bounce"
                past["state"][0] = "bounced"
                extra = {"bounce_description": "bad_mailbox", "bgtools_code": 10}
            else:
                name = "soft_bounce"
                past["state"][0] = "soft-bounced"
                if r.bounce_class[i] == "block":
                    extra = {"bounce_description": "spam_related", "bgtools_code": 51}
                elif r.smtp_status[i] == "4.2.2":
                    extra = {"bounce_description": "mailbox_full", "bgtools_code": 22}
                else:
                    extra = {"bounce_description": "general", "bgtools_code": 40}
            extra["diag"] = r.reply[i]
        elif event == "dropped":
            past["state"][0] = "rejected"
            extra = {"reject_reason": _MANDRILL_REJECT_REASONS.get(r.reason[i] or "", "hard-bounce")}
        elif event == "opened":
            past["opens"].append({"ts": seconds, "ip": r.client_ip[i], "location": "United States",
                                  "ua": r.user_agent[i]})
        elif event == "clicked":
            past["clicks"].append({"ts": seconds, "url": r.url[i]})
        msg = {
            "ts": r.send_ms[i] // 1000,
            "subject": r.subject[i],
            "email": r.recipient[i],
            "sender": f"notifications@{r.sender_domain}",
            "tags": [r.campaign[i]] if r.campaign[i] else [],
            "opens": list(past["opens"]),
            "clicks": list(past["clicks"]),
            "state": past["state"][0],
            "metadata": {"stream": r.stream[i]} if r.stream[i] else {},
            "_id": _mandrill_message_id(mid),
            "_version": _b64url("version", r.event_id[i]),
            "subaccount": None,
            "template": (r.stream[i] or "default").replace("_", "-"),
            "resends": [],
            "smtp_events": list(past["smtp_events"]),
            **extra,
        }
        record: dict[str, Any] = {"event": name, "msg": msg, "_id": _mandrill_message_id(mid), "ts": seconds}
        if event in ("opened", "clicked"):
            record["ip"] = r.client_ip[i]
            record["location"] = {"country_short": "US", "country": "United States"}
            record["user_agent"] = r.user_agent[i]
            if event == "clicked":
                record["url"] = r.url[i]
        yield record


def write_mandrill(result: SimulationResult, directory: str | Path, *, layout: str = "form",
                   batch_size: int = 100, compress: str | None = None,
                   name: str | None = None) -> list[Path]:
    """Write Mailchimp Transactional (Mandrill) webhook posts.

    Parameters
    ----------
    layout : {"form", "json"}
        ``"form"``: the raw POST bodies, ``mandrill_events=<urlencoded JSON array>``, one per
        line. ``"json"``: the decoded arrays, one per line.
    batch_size : int
        Events per POST (Mandrill sends up to 1,000) [events].

    Each event carries the ``msg`` snapshot as it stood then: its state, the ``smtp_events``
    attempt history (``source_ip`` is the sending IP), the opens and clicks so far.
    """
    if layout not in ("form", "json"):
        raise ValueError(f"layout must be 'form' or 'json', not {layout!r}")
    r = _rows(result)
    path = _target(directory, name or ("mandrill_posts.txt" if layout == "form" else "mandrill_events.jsonl"), compress)
    with _text_output(path, compress) as out:
        for batch in _batches(_mandrill_events(r), batch_size):
            text = _dumps(batch)
            if layout == "form":
                text = "mandrill_events=" + urllib.parse.quote_plus(text, safe="")
            out.write(text + "\n")
    return [path]


# --------------------------------------------------------------------------------------------
# Brevo
# --------------------------------------------------------------------------------------------

_BREVO_ZONE = ZoneInfo("Europe/Paris")
_BREVO_DROP_REASONS = {"Bounced Address": "blocked: hard bounce", "Spam Reporting Address": "blocked: spam complaint",
                       "Unsubscribed Address": "blocked: unsubscribed contact"}


def _brevo_events(r: _Rows) -> Iterator[dict]:
    opened_human: set[str] = set()
    opened_proxy: set[str] = set()
    for i in r.rows():
        event = r.event[i]
        mid = r.message[i]
        ms = r.ms[i]
        if event == "opened":
            seen = opened_proxy if r.is_machine[i] else opened_human
            first = mid not in seen
            seen.add(mid)
            if r.is_machine[i]:
                name = "unique_proxy_open" if first else "proxy_open"
            else:
                name = "unique_opened" if first else "opened"
        elif event == "bounced":
            name = "hard_bounce" if r.bounce_class[i] == "hard" else "soft_bounce"
        else:
            name = {"processed": "request", "delivered": "delivered", "deferred": "deferred",
                    "dropped": "blocked", "clicked": "click", "complained": "spam",
                    "unsubscribed": "unsubscribe"}[event]
        local = datetime.fromtimestamp(ms // 1000, _BREVO_ZONE)
        record: dict[str, Any] = {
            "event": name,
            "email": r.recipient[i],
            "id": _BREVO_WEBHOOK_ID,
            "date": f"{local:%Y-%m-%d %H:%M:%S}",
            "ts": ms // 1000,
            "message-id": _brevo_message_id(mid, r.send_ms[i]),
            "ts_event": ms // 1000,
            "subject": r.subject[i],
            "X-Mailin-custom": _dumps({"stream": r.stream[i]}) if r.stream[i] else "",
        }
        if event in ATTEMPT_EVENTS and r.sending_ip[i] is not None:
            record["sending_ip"] = r.sending_ip[i]
        record["ts_epoch"] = ms
        record["template_id"] = 10 + int.from_bytes(_digest("template", r.stream[i], size=1), "big") % 90
        record["tags"] = [r.campaign[i]] if r.campaign[i] else []
        if event in ("deferred", "bounced"):
            record["reason"] = r.reply[i]
        elif event == "dropped":
            record["reason"] = _BREVO_DROP_REASONS.get(r.reason[i] or "", "blocked")
        elif event == "clicked":
            record["link"] = r.url[i]
        if event in ("opened", "clicked"):
            record["user_agent"] = r.user_agent[i]
            record["device_used"] = _client(r.user_agent[i])["device-type"].upper()
        yield record


def write_brevo(result: SimulationResult, directory: str | Path, *, batch_size: int | None = None,
                compress: str | None = None, name: str | None = None) -> list[Path]:
    """Write Brevo (Sendinblue) transactional webhook bodies.

    Parameters
    ----------
    batch_size : int, optional
        None (default): one event object per line, as posted one by one. A number: batched
        webhooks, a JSON array of up to ``batch_size`` events per line (Brevo sends up to 500).

    ``request`` (processed), ``delivered``, ``deferred``, ``hard_bounce``, ``soft_bounce``
    (expiries and blocks), ``blocked`` (suppressed: dropped), ``spam``, ``unique_opened`` /
    ``opened``, ``unique_proxy_open`` / ``proxy_open`` (MPP), ``click``, ``unsubscribe``;
    ``ts_epoch`` in milliseconds, ``date`` in Paris time as Brevo writes it.
    """
    r = _rows(result)
    path = _target(directory, name or _FILE_NAMES["brevo"], compress)
    with _text_output(path, compress) as out:
        if batch_size is None:
            for record in _brevo_events(r):
                out.write(_dumps(record) + "\n")
        else:
            for batch in _batches(_brevo_events(r), batch_size):
                out.write(_dumps(batch) + "\n")
    return [path]


# --------------------------------------------------------------------------------------------
# Postfix
# --------------------------------------------------------------------------------------------

_SYSLOG_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _syslog_time(ms: int, style: str) -> str:
    seconds, milliseconds = divmod(int(ms), 1000)
    t = time.gmtime(seconds)
    if style == "classic":
        return f"{_SYSLOG_MONTHS[t.tm_mon - 1]} {t.tm_mday:>2} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + f".{milliseconds:03d}000+00:00"


def _queue_id(index: int) -> str:
    """A distinct 11-hex-digit queue id per message (a bijection of the message's number)."""
    return f"{(index * 0x9E3779B97F4A7C15 + 0x5DEECE66D) % (1 << 44):011X}"


def _postfix_lines(r: _Rows, style: str) -> list[tuple[int, int, str]]:
    """(time [ms], order, line) of every maillog line, unsorted."""
    domain = r.sender_domain
    hosts = {ip: f"out{k + 1}" for k, ip in enumerate(sorted({ip for ip in r.sending_ip if ip}))}
    queue: dict[str, str] = {}
    opened: set[str] = set()
    lines: list[tuple[int, int, str]] = []
    sequence = 0

    def emit(ms: int, host: str, program: str, text: str, key: str) -> None:
        nonlocal sequence
        # The queue manager and cleanup are long-lived daemons (one pid per host and instance);
        # smtp and discard are per-delivery processes.
        owner = "" if program.endswith(("/qmgr", "/cleanup")) else key
        pid = 1000 + int.from_bytes(_digest("pid", host, program, owner, size=2), "big") % 60000
        lines.append((ms, sequence, f"{_syslog_time(ms, style)} {host} {program}[{pid}]: {text}"))
        sequence += 1

    for i in r.rows():
        event = r.event[i]
        if event not in ("processed", "delivered", "deferred", "bounced", "dropped"):
            continue
        mid = r.message[i]
        instance = f"postfix-{r.stream[i]}" if r.stream[i] else "postfix"
        host = hosts.get(r.message_ip.get(mid) or "", "out1")
        qid = queue.setdefault(mid, _queue_id(len(queue)))
        address = r.recipient[i]
        if mid not in opened:
            # cleanup and qmgr at the send time, whichever event comes first in the export.
            opened.add(mid)
            send = r.send_ms[i]
            emit(send, host, f"{instance}/cleanup", f"{qid}: message-id=<{_postfix_message_id(mid, domain)}>", mid)
            size = 12000 + int.from_bytes(_digest("size", mid, size=2), "big") % 9000
            emit(send, host, f"{instance}/qmgr",
                 f"{qid}: from=<bounces@{domain}>, size={size}, nrcpt=1 (queue active)", mid)
        if event == "processed":
            continue
        delay = max(0.0, (r.ms[i] - r.send_ms[i]) / 1000.0)
        if event == "dropped":
            emit(r.ms[i], host, f"{instance}/discard",
                 f"{qid}: to=<{address}>, relay=none, delay={delay:.2f}, delays={delay:.2f}/0/0/0, "
                 f"dsn=2.0.0, status=sent ({r.reason[i] or 'suppressed'})", r.event_id[i])
            emit(r.ms[i], host, f"{instance}/qmgr", f"{qid}: removed", mid)
            continue
        if event == "bounced" and r.bounce_class[i] == "soft":
            emit(r.ms[i], host, f"{instance}/qmgr",
                 f"{qid}: from=<bounces@{domain}>, status=expired, returned to sender", mid)
            emit(r.ms[i], host, f"{instance}/qmgr", f"{qid}: removed", mid)
            continue
        relay_host = r.remote_mta[i] or f"mx.{r.domain[i]}"
        relay = f"{relay_host}[{_mx_ip(r.provider[i], relay_host)}]:25"
        setup = round(0.05 + _fraction("setup", r.event_id[i]) * 0.4, 2)
        transfer = round(0.1 + _fraction("transfer", r.event_id[i]) * 0.9, 2)
        queued = max(0.0, round(delay - setup - transfer, 2))
        timing = f"delay={delay:.1f}, delays={queued:g}/0.01/{setup:g}/{transfer:g}"
        if event == "delivered":
            status = f"dsn={r.smtp_status[i] or '2.0.0'}, status=sent ({r.reply[i]})"
        else:
            stage = "RCPT TO" if (r.code[i] or 0) >= 500 or r.smtp_status[i] == "4.2.2" else "end of DATA"
            said = f"host {relay_host}[{_mx_ip(r.provider[i], relay_host)}] said: {r.reply[i]} (in reply to {stage} command)"
            status = f"dsn={r.smtp_status[i]}, status={'deferred' if event == 'deferred' else 'bounced'} ({said})"
        emit(r.ms[i], host, f"{instance}/smtp",
             f"{qid}: to=<{address}>, relay={relay}, {timing}, tls=yes, {status}", r.event_id[i])
        if event in ("delivered", "bounced"):
            emit(r.ms[i], host, f"{instance}/qmgr", f"{qid}: removed", mid)
    return lines


def write_postfix(result: SimulationResult, directory: str | Path, *, syslog: str = "classic",
                  compress: str | None = None, name: str | None = None) -> list[Path]:
    """Write a Postfix maillog of the sender's delivery attempts.

    Parameters
    ----------
    syslog : {"classic", "rfc3339"}
        ``"classic"``: ``Jun  1 10:18:33`` prefixes, UTC, no year (read them with
        ``read_postfix(..., year=<first year>)`` or ``format_options={"postfix": {"year": ...}}``).
        ``"rfc3339"``: ``2026-06-01T10:18:33.464000+00:00`` (``maillog_file`` style).

    Per message: ``cleanup`` (Message-ID) and ``qmgr`` (queue active) at the send time, one
    ``smtp`` line per attempt (``status=sent``, ``deferred`` or ``bounced`` with the receiver's
    reply), the queue manager's ``status=expired`` notice for expiries, ``discard`` lines for
    suppressed recipients, and ``removed``. One host per sending IP (``out1``, ``out2``...), one
    Postfix instance per stream (``postfix-<stream>``). Engagement is not in an MTA log.
    """
    if syslog not in ("classic", "rfc3339"):
        raise ValueError(f"syslog must be 'classic' or 'rfc3339', not {syslog!r}")
    r = _rows(result)
    lines = _postfix_lines(r, syslog)
    lines.sort(key=lambda item: (item[0], item[1]))
    path = _target(directory, name or _FILE_NAMES["postfix"], compress)
    with _text_output(path, compress) as out:
        for _, _, line in lines:
            out.write(line + "\n")
    return [path]


# --------------------------------------------------------------------------------------------
# Canonical CSV
# --------------------------------------------------------------------------------------------

#: Columns of the canonical CSV, as ``read_csv`` recognises them without a mapping.
CSV_COLUMNS: tuple[str, ...] = ("timestamp", "event", "message_id", "event_id", "recipient",
                                "sending_ip", "ip_pool", "stream", "campaign", "bounce_class",
                                "is_machine", "smtp_status", "reason")


def write_csv(result: SimulationResult, directory: str | Path, *, compress: str | None = None,
              name: str | None = None) -> list[Path]:
    """Write the events as a CSV with the canonical header (ISO times with milliseconds, ``Z``).

    ``reason`` holds the receiver's full reply on attempt events and the drop reason on drops,
    as an export from a warehouse would; readers scrub addresses from it.
    """
    r = _rows(result)
    path = _target(directory, name or _FILE_NAMES["csv"], compress)
    with _text_output(path, compress) as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for i in r.rows():
            reason = r.reply[i] if r.event[i] in ATTEMPT_EVENTS else r.reason[i]
            writer.writerow([
                _iso_ms(r.ms[i]), r.event[i], r.message[i], r.event_id[i], r.recipient[i],
                r.sending_ip[i] or "", r.ip_pool[i] or "", r.stream[i] or "", r.campaign[i] or "",
                r.bounce_class[i] or "", "true" if r.is_machine[i] else "false",
                r.smtp_status[i] or "", reason or "",
            ])
    return [path]


# --------------------------------------------------------------------------------------------
# Dispatch
# --------------------------------------------------------------------------------------------

_WRITERS: dict[str, Callable[..., list[Path]]] = {
    "sendgrid": write_sendgrid,
    "ses": write_ses,
    "mailgun": write_mailgun,
    "postmark": write_postmark,
    "sparkpost": write_sparkpost,
    "mandrill": write_mandrill,
    "brevo": write_brevo,
    "postfix": write_postfix,
    "csv": write_csv,
}


def write_logs(result: SimulationResult, format: str, directory: str | Path, *,
               compress: str | None = None, **options: Any) -> list[Path]:
    """Write a simulated sender's events in one format's wire shape.

    Parameters
    ----------
    result : SimulationResult
        From :func:`~deliverability_econ.simulate.sender`.
    format : str
        One of :data:`FORMATS`.
    directory : path
        Created if needed.
    compress : {None, "gz"}
        ``"gz"`` writes ``<name>.gz`` (gzip, ``mtime=0``, so the bytes are reproducible);
        every reader reads it as a stream.
    **options
        The format writer's own options (``layout``, ``transport``, ``batch_size``,
        ``syslog``, ``timezone``, ``name``): see :func:`write_sendgrid`, :func:`write_ses`...

    Returns
    -------
    list of Path
        The files written.

    Examples
    --------
    >>> from deliverability_econ.simulate import sender
    >>> result = sender(days=3, recipients=50, random_state=1, start="2026-06-01")
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as out:
    ...     [p.name for p in write_logs(result, "ses", out, transport="sns", compress="gz")]
    ['ses_sns.jsonl.gz']
    """
    _check_format(format)
    return _WRITERS[format](result, directory, compress=compress, **options)


# --------------------------------------------------------------------------------------------
# What a reader should recover
# --------------------------------------------------------------------------------------------


def expected_events(result: SimulationResult, format: str, *, salt: str | bytes | None = None,
                    pseudonymize: bool = True, **writer_options: Any) -> pd.DataFrame:
    """The canonical events a reader should recover from what :func:`write_logs` wrote.

    The simulated events with :data:`FIDELITY` applied: events the format cannot carry are
    removed; ``is_machine``, ``sending_ip``, ``ip_pool``, ``stream`` and ``campaign`` are
    cleared where the format does not carry them; times are truncated to the format's
    resolution; ``message_id`` is the format's id (:func:`wire_message_ids`); recipients are
    pseudonymized with ``salt`` (as the readers do) unless ``pseudonymize=False``; and the
    documented reader behaviours are applied (Mandrill: the sending IP stays on later events,
    and same-second events of one name are one; Postfix: ``processed`` only for messages with a
    delivery line, at the queue manager's time).

    Parameters
    ----------
    result : SimulationResult
    format : str
        One of :data:`FORMATS`.
    salt : str or bytes, optional
        The pseudonymization key the files will be read with (default: as the readers resolve
        it).
    pseudonymize : bool
        False keeps clear addresses (to compare with ``read_events(..., pseudonymize=False)``).
    **writer_options
        The options the file was written with, where they change what is recovered (Postfix
        ``syslog="rfc3339"`` keeps milliseconds).

    Returns
    -------
    DataFrame
        Canonical columns (``schema.EVENT_COLUMNS``), sorted by time, message and event.
        ``event_id``, ``smtp_status`` and ``reason`` are the simulator's: readers derive their
        own from the wire shape, so compare the other columns.
    """
    _check_format(format)
    fidelity = FIDELITY[format]
    events = result.events.copy()
    events["url"] = result.event_details["url"].to_numpy()
    event = events["event"].astype(str)
    keep = event.isin(fidelity.events)
    if format == "postfix":
        attempted = events.loc[event.isin(["delivered", "deferred", "bounced", "dropped"]), "message_id"]
        keep &= (event != "processed") | events["message_id"].isin(set(attempted))
    events = events.loc[keep].reset_index(drop=True)
    event = events["event"].astype(str)
    na = pd.NA
    events["is_machine"] = events["is_machine"] & event.isin(fidelity.machine_flag)
    if format == "mandrill":
        first_attempt = events.loc[event.isin(list(ATTEMPT_EVENTS))].groupby("message_id")["timestamp"].min()
        ip_of = events.loc[event.isin(list(ATTEMPT_EVENTS))].groupby("message_id")["sending_ip"].first()
        later = events["timestamp"] >= events["message_id"].map(first_attempt)
        later = later.fillna(False).astype(bool)
        events["sending_ip"] = events["sending_ip"].where(~later, events["message_id"].map(ip_of))
        events.loc[~later, "sending_ip"] = na
    else:
        events["sending_ip"] = events["sending_ip"].where(event.isin(fidelity.sending_ip), na)
    events["ip_pool"] = events["ip_pool"].where(event.isin(fidelity.ip_pool), na)
    if not fidelity.stream:
        events["stream"] = na
    if not fidelity.campaign:
        events["campaign"] = na
    resolution = fidelity.timestamp_resolution
    if format == "postfix" and writer_options.get("syslog") == "rfc3339":
        resolution = "ms"
    if resolution == "s":
        events["timestamp"] = events["timestamp"].dt.floor("s")
    if format == "postfix":
        send = result.messages_truth.set_index("message_id")["send_time"]
        processed = events["event"].astype(str) == "processed"
        send_time = events.loc[processed, "message_id"].map(send)
        events.loc[processed, "timestamp"] = (send_time.dt.floor("s") if resolution == "s" else send_time).to_numpy()
    ids = wire_message_ids(result, format)
    events["message_id"] = events["message_id"].map(ids).astype("string")
    if pseudonymize:
        key = privacy.resolve_salt(salt)
        events["recipient"] = privacy.pseudonymize(events["recipient"].astype("string"), key)
    events["esp"] = format
    if format == "mandrill":
        # No event id: same message, same event name, same second, same URL are one event.
        name = events["event"].astype(str).where(events["event"].astype(str) != "bounced",
                                                 "bounced:" + events["bounce_class"].astype(str))
        key_frame = pd.DataFrame({"m": events["message_id"], "n": name,
                                  "t": events["timestamp"], "u": events["url"]})
        events = events.loc[~key_frame.duplicated(keep="first")].reset_index(drop=True)
    events = events[list(EVENT_COLUMNS)]
    return events.sort_values(["timestamp", "message_id", "event"], kind="stable", ignore_index=True)


# --------------------------------------------------------------------------------------------
# Calibration data
# --------------------------------------------------------------------------------------------


def _format_number(value: Any) -> str:
    """A cell for a number: empty when missing, the shortest exact repr otherwise."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    number = float(value)
    if number.is_integer() and abs(number) < 1e15:
        return str(int(number))
    return repr(number)


def _format_cell(value: Any) -> str:
    if value is None or value is pd.NA or value is pd.NaT:
        return ""
    if isinstance(value, pd.Timestamp):
        if value == value.normalize():
            return value.strftime("%Y-%m-%d")
        if value.tzinfo is not None:
            value = value.tz_convert("UTC").tz_localize(None)
        return _iso_ms(value.value // 1_000_000)
    if isinstance(value, (float, int, np.integer, np.floating, bool, np.bool_)):
        return _format_number(value)
    return str(value)


def _write_table(frame: pd.DataFrame, path: Path, compress: str | None,
                 header: bool = True) -> Path:
    with _text_output(path, compress) as out:
        writer = csv.writer(out, lineterminator="\n")
        if header:
            writer.writerow(list(frame.columns))
        columns = [frame[c].astype(object).tolist() for c in frame.columns]
        for values in zip(*columns, strict=True):
            writer.writerow([_format_cell(v) for v in values])
    return path


def write_seed_tests(result: SimulationResult, directory: str | Path, *,
                     compress: str | None = None, name: str = "seed_tests.csv") -> list[Path]:
    """Write the seed-list results as the CSV :func:`deliverability_econ.io.seedtests.read_seed_tests`
    reads: ``date,mailbox_provider,inbox,spam,missing,seeds,test_id,stream,campaign`` (counts of
    seed mailboxes)."""
    columns = ["date", "mailbox_provider", "inbox", "spam", "missing", "seeds", "test_id",
               "stream", "campaign"]
    table = result.seed_tests
    frame = pd.DataFrame({c: table[c] if c in table.columns else pd.Series(dtype=object) for c in columns})
    return [_write_table(frame, _target(directory, name, compress), compress)]


def _postmaster_ip_bands(result: SimulationResult) -> dict[pd.Timestamp, list[tuple[str, list[str]]]]:
    """Per day, ``(band, [ips])`` of the IPs that sent to Gmail, from the true process."""
    reputation = result.reputation
    gmail = reputation[(reputation["mailbox_provider"].astype(str) == "gmail") & (reputation["volume"] > 0)]
    bands: dict[pd.Timestamp, list[tuple[str, list[str]]]] = {}
    if gmail.empty:
        return bands
    band = reputation_band(gmail["reputation_score"].to_numpy())
    frame = pd.DataFrame({"date": gmail["date"].dt.tz_localize(None).to_numpy(), "band": band,
                          "ip": gmail["sending_ip"].astype(str).to_numpy()})
    for (day, level), group in frame.groupby(["date", "band"], sort=True):
        bands.setdefault(pd.Timestamp(day), []).append((level, sorted(group["ip"])))
    order = {"HIGH": 0, "MEDIUM": 1, "LOW": 2, "BAD": 3}
    for day in bands:
        bands[day].sort(key=lambda item: order[item[0]])
    return bands


def _traffic_stats(result: SimulationResult) -> list[dict]:
    table = result.postmaster
    bands = _postmaster_ip_bands(result)
    records = []
    for row in table.itertuples(index=False):
        day = pd.Timestamp(row.date)
        record: dict[str, Any] = {"name": f"domains/{row.domain}/trafficStats/{day:%Y%m%d}"}
        record["ipReputations"] = [
            {"reputation": level, "ipCount": str(len(ips)), "sampleIps": ips[:2]}
            for level, ips in bands.get(day, [])
        ]
        if row.domain_reputation is not None and not pd.isna(row.domain_reputation):
            record["domainReputation"] = str(row.domain_reputation)
        for field_name, value in (("userReportedSpamRatio", row.spam_rate),
                                  ("userReportedSpamRatioLowerBound", row.spam_rate_low),
                                  ("userReportedSpamRatioUpperBound", row.spam_rate_high),
                                  ("spfSuccessRatio", row.spf_success_ratio),
                                  ("dkimSuccessRatio", row.dkim_success_ratio),
                                  ("dmarcSuccessRatio", row.dmarc_success_ratio),
                                  ("outboundEncryptionRatio", row.outbound_encryption_ratio),
                                  ("inboundEncryptionRatio", row.inbound_encryption_ratio)):
            if value is not None and not pd.isna(value):
                record[field_name] = float(value)
        errors = []
        if row.permanent_error_ratio and row.permanent_error_ratio > 0:
            errors.append({"errorClass": "PERMANENT_ERROR", "errorType": "SUSPECTED_SPAM",
                           "errorRatio": float(row.permanent_error_ratio)})
        if row.temporary_error_ratio and row.temporary_error_ratio > 0:
            errors.append({"errorClass": "TEMPORARY_ERROR", "errorType": "RATE_LIMIT_EXCEEDED",
                           "errorRatio": float(row.temporary_error_ratio)})
        if errors:
            record["deliveryErrors"] = errors
        records.append(record)
    return records


def write_postmaster(result: SimulationResult, directory: str | Path, *,
                     layouts: Sequence[str] = ("api", "csv"), page_size: int = 30,
                     compress: str | None = None) -> list[Path]:
    """Write the Google Postmaster Tools rows.

    Parameters
    ----------
    layouts : sequence of {"api", "csv"}
        ``"api"``: v1 ``domains.trafficStats.list`` responses, ``{"trafficStats": [...],
        "nextPageToken": ...}``, one page per line (``postmaster_traffic_stats.jsonl``): ratios
        as fractions, ``ipReputations`` with ``ipCount`` as a string and sample IPs, delivery
        errors by class. ``"csv"``: the flat table (``postmaster.csv``) with Postmaster's
        columns plus the ``inbox`` and ``spam_reports`` counts Google does not show.
    page_size : int
        Days per API page [rows].

    Fields Google leaves out (no spam ratio on a day with nothing in the inbox) are left out.
    """
    paths = []
    for layout in layouts:
        if layout == "api":
            records = _traffic_stats(result)
            path = _target(directory, "postmaster_traffic_stats.jsonl", compress)
            with _text_output(path, compress) as out:
                pages = list(_batches(records, page_size)) or [[]]
                for number, page in enumerate(pages):
                    body: dict[str, Any] = {"trafficStats": page}
                    if number + 1 < len(pages):
                        body["nextPageToken"] = _b64url("page", number, length=24)
                    out.write(_dumps(body) + "\n")
            paths.append(path)
        elif layout == "csv":
            table = result.postmaster.copy()
            paths.append(_write_table(table, _target(directory, "postmaster.csv", compress), compress))
        else:
            raise ValueError(f"unknown Postmaster layout {layout!r}; use 'api' and/or 'csv'")
    return paths


def _snds_time(stamp: Any) -> str:
    if stamp is None or pd.isna(stamp):
        return ""
    stamp = pd.Timestamp(stamp).tz_convert("UTC")
    hour = stamp.hour % 12 or 12
    return f"{stamp.month}/{stamp.day}/{stamp.year} {hour}:{stamp.minute:02d} {'AM' if stamp.hour < 12 else 'PM'}"


def _snds_complaint(rate: float, upper_bound: bool) -> str:
    if upper_bound:
        return "< 0.1%"
    if rate is None or pd.isna(rate):
        return ""
    return f"{rate * 100:.1f}%"


def write_snds(result: SimulationResult, directory: str | Path, *, compress: str | None = None,
               name: str = "snds.csv") -> list[Path]:
    """Write the Microsoft SNDS export: CSV without a header, 14 columns by position.

    Activity windows are UTC days shown as ``6/1/2026 12:00 AM`` to ``6/1/2026 11:59 PM`` (as the
    portal writes them); complaint rates as ``< 0.1%`` or with one decimal (``0.4%``).
    """
    path = _target(directory, name, compress)
    with _text_output(path, compress) as out:
        writer = csv.writer(out, lineterminator="\n")
        for row in result.snds.itertuples(index=False):
            end = pd.Timestamp(row.activity_end) - pd.Timedelta(minutes=1)
            writer.writerow([
                row.ip, _snds_time(row.activity_start), _snds_time(end), int(row.rcpt_commands),
                int(row.data_commands), int(row.message_recipients), str(row.filter_result),
                _snds_complaint(row.complaint_rate, bool(row.complaint_rate_is_upper_bound)),
                _snds_time(row.trap_period_start), _snds_time(row.trap_period_end),
                int(row.trap_hits), row.sample_helo or "", row.sample_mail_from or "",
                row.comments or "",
            ])
    return [path]


def write_calibration(result: SimulationResult, directory: str | Path, *,
                      compress: str | None = None) -> list[Path]:
    """Write the seed tests, the Postmaster rows (API pages and CSV) and the SNDS export."""
    return [
        *write_seed_tests(result, directory, compress=compress),
        *write_postmaster(result, directory, compress=compress),
        *write_snds(result, directory, compress=compress),
    ]


# --------------------------------------------------------------------------------------------
# Ground truth
# --------------------------------------------------------------------------------------------


def write_truth(result: SimulationResult, directory: str | Path, *, compress: str | None = "gz",
                messages: str | None = "parquet") -> list[Path]:
    """Write the ground truth behind the logs.

    Files: ``truth_daily.csv`` (true counts and inbox / spam / missing rates per send day x
    provider x IP x pool x stream), ``reputation_daily.csv`` (the true reputation process per
    day x provider x IP), and with ``messages`` one row per message with its true folder
    (``messages_truth.parquet``, or ``.csv`` with ``messages="csv"``; ``None`` skips it).
    Dates are ``YYYY-MM-DD`` (UTC days), times ISO with ``Z``; rates are fractions.
    """
    paths = [
        _write_table(result.truth, _target(directory, "truth_daily.csv", compress), compress),
        _write_table(result.reputation, _target(directory, "reputation_daily.csv", compress), compress),
    ]
    if messages == "parquet":
        path = Path(directory) / "messages_truth.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        result.messages_truth.to_parquet(path, index=False, compression="zstd")
        paths.append(path)
    elif messages == "csv":
        paths.append(_write_table(result.messages_truth, _target(directory, "messages_truth.csv", compress), compress))
    elif messages is not None:
        raise ValueError(f"messages must be 'parquet', 'csv' or None, not {messages!r}")
    return paths


# --------------------------------------------------------------------------------------------
# A whole simulated sender on disk
# --------------------------------------------------------------------------------------------

#: First simulated day when none is given: the simulator's default. Keep the whole period in
#: the past (readers quarantine events more than two days in the future).
DEFAULT_START = "2026-06-01"

#: Options :func:`simulate_to_directory` passes to each writer.
DEFAULT_FORMAT_OPTIONS: dict[str, dict[str, Any]] = {
    "sendgrid": {"layout": "jsonl"},
    "ses": {"transport": "firehose"},
    "mandrill": {"layout": "form"},
    "postfix": {"syslog": "classic"},
}


@dataclass
class SimulationFiles:
    """What :func:`simulate_to_directory` wrote.

    Attributes
    ----------
    directory : Path
        The output directory.
    logs : dict of str to list of Path
        Log files per format (``logs/<format>/...``).
    calibration : list of Path
        Seed tests, Postmaster (API pages and CSV) and SNDS (``calibration/``).
    truth : list of Path
        Daily truth, reputation process and per-message truth (``truth/``).
    parameters : Path
        ``simulation.json``: the arguments, the configuration, realized audience figures, event
        counts, how to read each format back, and every file with its size and SHA-256.
    result : SimulationResult
        The simulation itself.
    """

    directory: Path
    logs: dict[str, list[Path]]
    calibration: list[Path]
    truth: list[Path]
    parameters: Path
    result: SimulationResult

    def files(self) -> list[Path]:
        """Every file written, the parameters file last."""
        logs = [path for paths in self.logs.values() for path in paths]
        return [*logs, *self.calibration, *self.truth, self.parameters]


def parse_formats(format: str | Sequence[str]) -> list[str]:
    """Format names from ``"sendgrid"``, ``"sendgrid,ses"``, ``["sendgrid", "ses"]`` or ``"all"``.

    Raises
    ------
    ValueError
        For an unknown name, listing the known ones.
    """
    names = format.split(",") if isinstance(format, str) else [str(f) for f in format]
    out: list[str] = []
    for name in (n.strip().lower() for n in names):
        if not name:
            continue
        for item in (FORMATS if name == "all" else (name,)):
            _check_format(item)
            if item not in out:
                out.append(item)
    if not out:
        raise ValueError("no format given; the writers know: " + ", ".join(FORMATS))
    return out


def _jsonable(value: Any) -> Any:
    """Plain JSON data (non-finite floats as strings, timestamps as ISO text)."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value) if isinstance(value, (set, frozenset)) else value
        return [_jsonable(v) for v in items]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        number = float(value)
        return number if np.isfinite(number) else str(number)
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if value is None or isinstance(value, str):
        return value
    return str(value)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_dmarc(result: SimulationResult, directory: Path, settings: Mapping[str, Any],
                 seed: int) -> list[Path]:
    """The providers' DMARC aggregate reports for ``result`` (see :func:`simulate_to_directory`)."""
    from .dmarc import UnknownSource, dmarc_records, write_dmarc_reports

    options = dict(settings)
    policy = options.pop("policy", "none")
    options["unknown_sources"] = tuple(UnknownSource(**dict(source))
                                       for source in options.get("unknown_sources", ()))
    options.setdefault("domain", result.parameters["config_dict"].get("sender_domain", "example.com"))
    records = dmarc_records(result.truth, random_state=np.random.default_rng([seed, 7489]),
                            **options)
    return write_dmarc_reports(records, directory, policy=policy)


def simulate_to_directory(
    out_dir: str | Path,
    *,
    format: str | Sequence[str] = "sendgrid",
    days: int = 90,
    recipients: int = 50_000,
    seed: int = 7,
    scenario: str = "baseline",
    start: Any = DEFAULT_START,
    config: Any = None,
    compress: str | None = "gz",
    truth_messages: str | None = "parquet",
    format_options: Mapping[str, Mapping[str, Any]] | None = None,
    dmarc: Mapping[str, Any] | None = None,
) -> SimulationFiles:
    """Simulate a sender and write its logs, calibration data, ground truth and parameters.

    The function behind ``deliverability-econ simulate --format sendgrid --days 90
    --recipients 50000 --seed 7 -o DIR``.

    Parameters
    ----------
    out_dir : path
        Output directory (created). Layout: ``logs/<format>/<file>``,
        ``calibration/{seed_tests.csv, postmaster_traffic_stats.jsonl, postmaster.csv,
        snds.csv}``, ``truth/{truth_daily.csv, reputation_daily.csv, messages_truth.parquet}``
        and ``simulation.json``.
    format : str or sequence of str
        One format, several (``"sendgrid,ses"`` or a list) or ``"all"`` (:data:`FORMATS`).
    days : int
        Simulated days [days].
    recipients : int
        Audience size [recipients].
    seed : int
        Seed of the one random generator: the same seed (and arguments) gives byte-identical
        files.
    scenario : str
        Scenario name (:data:`~deliverability_econ.simulate.SCENARIOS`); ignored when
        ``config`` is given.
    start : str, date or Timestamp
        First simulated day (UTC). Keep the whole period in the past.
    config : SenderConfig, optional
        A sender of your own instead of a named scenario; ``scenario`` is then only the label
        recorded in ``simulation.json`` (``"custom"`` when left at ``"baseline"``).
    compress : {"gz", None}
        Compress logs and truth tables (gzip, reproducible); calibration files stay plain text.
    truth_messages : {"parquet", "csv", None}
        How to write the per-message truth (None skips it).
    format_options : mapping, optional
        Writer options per format, over :data:`DEFAULT_FORMAT_OPTIONS` (e.g.
        ``{"ses": {"transport": "sns"}}``).
    dmarc : mapping, optional
        Also write the DMARC aggregate reports the providers would send, into
        ``calibration/dmarc/``: keyword arguments of :func:`.dmarc.dmarc_records`
        (``dkim_aligned_share``, ``spf_aligned_share`` [fraction 0-1], ``unknown_sources`` as
        mappings of :class:`.dmarc.UnknownSource` fields) and ``policy`` (the published ``p=``).
        The report records' draws use their own generator seeded from ``seed``.

    Returns
    -------
    SimulationFiles

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as out:
    ...     written = simulate_to_directory(out, format="sendgrid,postfix", days=5,
    ...                                     recipients=100, seed=3)
    ...     sorted(written.logs), [p.name for p in written.calibration][:2]
    (['postfix', 'sendgrid'], ['seed_tests.csv', 'postmaster_traffic_stats.jsonl'])
    """
    formats = parse_formats(format)
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    if config is not None:
        result = sender(config, days=days, recipients=recipients, random_state=seed, start=start)
        scenario_name = scenario if scenario != "baseline" else "custom"
    else:
        result = sender(days=days, recipients=recipients, scenario=scenario, random_state=seed,
                        start=start)
        scenario_name = scenario
    options = {name: dict(values) for name, values in DEFAULT_FORMAT_OPTIONS.items()}
    for name, values in (format_options or {}).items():
        options.setdefault(name, {}).update(values)
    logs = {
        name: write_logs(result, name, directory / "logs" / name, compress=compress,
                         **options.get(name, {}))
        for name in formats
    }
    calibration = write_calibration(result, directory / "calibration")
    if dmarc is not None:
        calibration = [*calibration, *_write_dmarc(result, directory / "calibration" / "dmarc",
                                                   dmarc, seed)]
    truth = write_truth(result, directory / "truth", compress=compress, messages=truth_messages)
    files = SimulationFiles(directory, logs, calibration, truth, directory / "simulation.json", result)

    parameters = result.parameters
    start_ts = pd.Timestamp(parameters["start"])
    counts = result.events["event"].astype(str).value_counts()
    read_options = {
        name: ({"format_options": {"postfix": {"year": int(start_ts.year)}}}
               if name == "postfix" and options.get("postfix", {}).get("syslog", "classic") == "classic"
               else {})
        for name in formats
    }
    # Imported here: the package may still be loading when this module is (warm-up models
    # import the simulator).
    from .. import __version__

    document = {
        "generator": f"deliverability_econ {__version__}: deliverability_econ.simulate.simulate_to_directory",
        "arguments": {
            "format": formats, "days": days, "recipients": recipients, "seed": seed,
            "scenario": scenario_name, "start": str(start_ts.date()), "compress": compress,
            "truth_messages": truth_messages,
            "format_options": {name: options[name] for name in formats if name in options},
            **({"dmarc": dict(dmarc)} if dmarc is not None else {}),
        },
        "period": {"start": start_ts.isoformat(), "end": pd.Timestamp(parameters["end"]).isoformat()},
        "counts": {
            "recipients": int(parameters["recipients"]),
            "stale_recipients": int(parameters["stale_recipients"]),
            "messages": len(result.messages_truth),
            "events": len(result.events),
            "events_by_type": {name: int(counts.get(name, 0)) for name in
                               ("processed", "delivered", "deferred", "bounced", "dropped",
                                "opened", "clicked", "complained", "unsubscribed")},
        },
        "realized": {
            "healthy_inbox_share": parameters["healthy_inbox_share"],
            "provider_share": parameters["provider_share_realized"],
            "apple_mail_share": parameters["apple_mail_share_realized"],
            "mean_engagement_propensity": parameters["mean_engagement_propensity"],
        },
        "fidelity": {name: {"lost_events": sorted(_ALL_EVENTS - FIDELITY[name].events),
                            "machine_flag_on": sorted(FIDELITY[name].machine_flag),
                            "timestamp_resolution": FIDELITY[name].timestamp_resolution,
                            "notes": FIDELITY[name].notes}
                     for name in formats},
        "read_with": read_options,
        "config": parameters["config_dict"],
        "files": [
            {"path": path.relative_to(directory).as_posix(), "bytes": path.stat().st_size,
             "sha256": _sha256(path)}
            for path in files.files()[:-1]
        ],
    }
    with open(files.parameters, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(json.dumps(_jsonable(document), indent=2, ensure_ascii=False, allow_nan=False) + "\n")
    return files
