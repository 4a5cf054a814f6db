"""Generate Brevo fixtures (run once; the files are the fixtures)."""
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "brevo"
T0 = 1761994800  # 2025-11-01T11:00:00Z; Brevo's `date` is CET (UTC+1) in November
IP = "185.41.28.109"
WEBHOOK_ID = 1048213


def cet(ts):
    return (datetime.fromtimestamp(ts, UTC) + timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S")


def ev(event, email, mid, dt, tags=("onboarding",), stream=None, **extra):
    ts = T0 + dt
    record = {
        "event": event,
        "email": email,
        "id": WEBHOOK_ID,
        "date": cet(ts),
        "ts": ts,
        "message-id": f"<{mid}@smtp-relay.mailin.fr>",
        "ts_event": ts,
        "subject": "Confirm your Acme account",
        "X-Mailin-custom": json.dumps({"stream": stream or ("marketing" if "newsletter" in tags else "transactional"), "user_id": 48213}),
        "sending_ip": IP,
        "ts_epoch": ts * 1000 + 217,
        "template_id": 12,
        "tags": list(tags),
    }
    record.update(extra)
    return record


A = ("alice.smith@gmail.com", "202511011100.38475629101")
B = ("bob.jones@outlook.com", "202511011100.38475629102")
NL = ("newsletter", "nov-2025")

events = [
    ev("request", *A, 0),
    ev("delivered", *A, 2),
    ev("unique_opened", *A, 3600, link=""),
    ev("opened", *A, 3601),
    ev("click", *A, 3650, link="https://app.acme.io/confirm?t=81f2"),
    ev("request", *B, 0),
    ev("deferred", *B, 5, reason="421 4.7.0 [TSS04] Messages from 185.41.28.109 temporarily deferred due to user complaints"),
    ev("delivered", *B, 905),
    # Apple Mail Privacy Protection: opened through Apple's proxy, as Brevo's sample has it (`s_epoch`, `tag` list)
    {"event": "unique_proxy_open", "email": "dave.brown@icloud.com", "id": WEBHOOK_ID, "date": cet(T0 + 30),
     "message-id": "<202511011100.38475629104@smtp-relay.mailin.fr>", "subject": "Confirm your Acme account",
     "tag": ["onboarding"], "sending_ip": IP, "s_epoch": (T0 + 30) * 1000, "template_id": 12},
    {"event": "proxy_open", "email": "dave.brown@icloud.com", "id": WEBHOOK_ID, "date": cet(T0 + 31),
     "message-id": "<202511011100.38475629104@smtp-relay.mailin.fr>", "subject": "Confirm your Acme account",
     "tag": ["onboarding"], "sending_ip": IP, "ts_epoch": (T0 + 31) * 1000, "template_id": 12},
    ev("spam", *B, 9000, tags=()),
    ev("complaint", *B, 9001, tags=()),
    ev("unsubscribe", *B, 9100),
    ev("hard_bounce", "carol.white@yahoo.com", "202511011100.38475629103", 62, tags=NL,
       reason="550 5.1.1 <carol.white@yahoo.com>: Recipient address rejected: User unknown"),
    ev("soft_bounce", "erin.k@gmx.de", "202511011100.38475629105", 65, tags=NL, reason="552 5.2.2 Mailbox full"),
    ev("blocked", "frank.m@web.de", "202511011100.38475629106", 70, tags=NL, reason="blocked : due to blacklist user"),
    ev("invalid_email", "grace.l@hotmail", "202511011100.38475629107", 71, tags=NL, reason="invalid email"),
    # trap 6: a permanent failure Brevo filed as deferred (anymail's fixture)
    ev("deferred", "henry.p@aol.com", "202511011100.38475629108", 72, tags=NL,
       reason="550 RecipientError: 550 5.1.1 <henry.p@aol.com>: Recipient address rejected: User unknown in virtual alias table"),
    # trap 5: ts_epoch in seconds (anymail's `error` fixture), `tag` as a single string, no `tags`
    {"event": "error", "email": "irene.q@gmail.com", "id": WEBHOOK_ID, "date": cet(T0 + 73), "ts": T0 + 73,
     "message-id": "<202511011100.38475629109@smtp-relay.mailin.fr>", "ts_event": T0 + 73, "subject": "Confirm your Acme account",
     "tag": "onboarding", "sending_ip": IP, "ts_epoch": T0 + 73, "template_id": 12, "reason": "Invalid email or missing"},
    # out of scope: a contact added to a list
    {"event": "list_addition", "email": "jack.r@gmail.com", "id": WEBHOOK_ID, "date": cet(T0 + 80), "ts_event": T0 + 80,
     "ts_epoch": (T0 + 80) * 1000, "list_id": [7], "message-id": "<202511011100.38475629110@smtp-relay.mailin.fr>"},
]

(OUT / "webhook_events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))

# A batched POST (webhook created with batched: true): three new events and one already stored above.
batched = [
    ev("request", "kate.s@yahoo.com", "202511011400.38475629111", 10800, tags=NL),
    ev("delivered", "kate.s@yahoo.com", "202511011400.38475629111", 10803, tags=NL),
    ev("unique_opened", "kate.s@yahoo.com", "202511011400.38475629111", 14400, tags=NL),
    events[1],
]
(OUT / "batched_post.json").write_text(json.dumps(batched, indent=1) + "\n")

# Bad input, one per line.
only_date = {k: v for k, v in events[1].items() if k not in ("ts", "ts_event", "ts_epoch")}
no_email = {k: v for k, v in events[3].items() if k != "email"}
bad_epoch = dict(events[4], ts_epoch="yesterday")
tiny_epoch = dict(events[0], ts_epoch=1761994)  # digits lost: neither ms nor s of 2025
bad = [events[0], only_date, no_email, bad_epoch, tiny_epoch]
lines = [json.dumps(e) for e in bad] + [json.dumps(events[5])[:-50]]
(OUT / "bad_events.jsonl").write_text("\n".join(lines) + "\n")
