"""Generate Mandrill fixtures (run once; the files are the fixtures)."""
import json
import urllib.parse
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "mandrill"
T0 = 1761994800  # 2025-11-01T11:00:00Z
SOURCE_IP = "198.2.132.41"  # mail132-41.atl131.mandrillapp.com


def msg(email, mid, state, tags=("onboarding",), stream="transactional", smtp_events=(), **extra):
    body = {
        "ts": T0,
        "subject": "Confirm your Acme account",
        "email": email,
        "sender": "no-reply@acme-notify.com",
        "tags": list(tags),
        "opens": [],
        "clicks": [],
        "state": state,
        "metadata": {"stream": stream, "user_id": 48213} if stream else {"user_id": 48213},
        "_id": mid,
        "_version": "qBpV2xAwPzJvMr2c0hgDAg",
        "subaccount": None,
        "template": "confirm-account",
        "resends": [],
        "smtp_events": list(smtp_events),
    }
    body.update(extra)
    return body


def smtp(ts, kind, diag, dest="142.250.153.27"):
    return {"ts": ts, "type": kind, "diag": diag, "source_ip": SOURCE_IP, "destination_ip": dest,
            "size": 18342}


def event(name, mid, ts, body, **extra):
    record = {"event": name, "msg": body, "_id": mid, "ts": ts}
    record.update(extra)
    return record


A, B, C, D, E, F, G, H = (
    "9f2b5c0a4e7d4b1c8a3e6f1d2c0b9a01",
    "9f2b5c0a4e7d4b1c8a3e6f1d2c0b9a02",
    "9f2b5c0a4e7d4b1c8a3e6f1d2c0b9a03",
    "9f2b5c0a4e7d4b1c8a3e6f1d2c0b9a04",
    "9f2b5c0a4e7d4b1c8a3e6f1d2c0b9a05",
    "9f2b5c0a4e7d4b1c8a3e6f1d2c0b9a06",
    "9f2b5c0a4e7d4b1c8a3e6f1d2c0b9a07",
    "9f2b5c0a4e7d4b1c8a3e6f1d2c0b9a08",
)
open_location = {"country_short": "US", "country": "United States", "region": "California",
                 "city": "Mountain View", "latitude": 37.38605, "longitude": -122.08385,
                 "postal_code": "-", "timezone": "-08:00"}
gmail_proxy = "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
delivered_alice = smtp(T0 + 2, "sent", "250 2.0.0 OK  1761994802 d2-20020a05600c3ac2si1234567wms.412 - gsmtp")

batch_1 = [
    event("send", A, T0, msg("alice.smith@gmail.com", A, "sent")),
    event("delivered", A, T0 + 2, msg("alice.smith@gmail.com", A, "sent", smtp_events=[delivered_alice])),
    event("open", A, T0 + 3600,
          msg("alice.smith@gmail.com", A, "sent", smtp_events=[delivered_alice],
              opens=[{"ts": T0 + 3600, "ip": "66.249.84.12", "location": "Mountain View, US", "ua": "Windows/Windows XP/Firefox/Firefox 11.0"}]),
          ip="66.249.84.12", location=open_location, user_agent=gmail_proxy,
          user_agent_parsed={"type": "Browser", "ua_family": "Firefox", "ua_name": "Firefox 11.0", "ua_version": "11.0",
                             "ua_url": "http://www.firefox.com/", "ua_company": "Mozilla Foundation",
                             "ua_company_url": "http://www.mozilla.org/", "ua_icon": "http://cdn.mandrill.com/img/email-client-icons/firefox.png",
                             "os_family": "Windows", "os_name": "Windows XP", "os_url": "http://en.wikipedia.org/wiki/Windows_XP",
                             "os_company": "Microsoft Corporation.", "os_company_url": "http://www.microsoft.com/",
                             "os_icon": "http://cdn.mandrill.com/img/email-client-icons/windowsxp.png", "mobile": False}),
    event("click", A, T0 + 3650,
          msg("alice.smith@gmail.com", A, "sent", smtp_events=[delivered_alice],
              clicks=[{"ts": T0 + 3650, "url": "https://app.acme.io/confirm?t=81f2"}]),
          ip="84.17.20.33", location=open_location, user_agent=gmail_proxy, url="https://app.acme.io/confirm?t=81f2"),
    # bob (outlook): greylisted once, then delivered; complains and unsubscribes
    event("deferral", B, T0 + 5,
          msg("bob.jones@outlook.com", B, "deferred",
              smtp_events=[smtp(T0 + 5, "deferred", "451 4.7.500 Server busy. Please try again later from [198.2.132.41]. (S77719) [DB5EUR03FT012.eop-EUR03.prod.protection.outlook.com]", "52.101.40.29")])),
    event("delivered", B, T0 + 905,
          msg("bob.jones@outlook.com", B, "sent",
              smtp_events=[smtp(T0 + 5, "deferred", "451 4.7.500 Server busy. Please try again later from [198.2.132.41]. (S77719)", "52.101.40.29"),
                           smtp(T0 + 905, "sent", "250 2.6.0 <5f8a@acme-notify.com> [InternalId=1] Queued mail for delivery", "52.101.40.29")])),
    event("spam", B, T0 + 9000, msg("bob.jones@outlook.com", B, "sent")),
    event("unsub", B, T0 + 9100, msg("bob.jones@outlook.com", B, "sent")),
]
batch_2 = [
    event("hard_bounce", C, T0 + 62,
          msg("carol.white@yahoo.com", C, "bounced", tags=("newsletter", "nov-2025"), stream="marketing",
              bounce_description="bad_mailbox", bgtools_code=10,
              smtp_events=[smtp(T0 + 62, "hard_bounce", "554 5.1.1 <carol.white@yahoo.com>: Recipient address rejected: User unknown", "98.136.96.75")],
              diag="smtp;554 5.1.1 <carol.white@yahoo.com>: Recipient address rejected: User unknown")),
    event("soft_bounce", D, T0 + 65,
          msg("dave.brown@icloud.com", D, "soft-bounced", tags=("newsletter", "nov-2025"), stream="marketing",
              bounce_description="mailbox_full", bgtools_code=22, diag="smtp;552 5.2.2 Over Quota",
              smtp_events=[smtp(T0 + 65, "soft_bounce", "552 5.2.2 Over Quota", "17.57.154.33")])),
    event("soft_bounce", E, T0 + 70,
          msg("erin.k@gmx.de", E, "soft-bounced", tags=("newsletter", "nov-2025"), stream="marketing",
              bounce_description="general", bgtools_code=51,
              smtp_events=[smtp(T0 + 70, "soft_bounce", "554 5.7.1 Service unavailable; Client host [198.2.132.41] blocked using Spamhaus", "212.227.17.168")],
              diag="smtp;554 5.7.1 Service unavailable; Client host [198.2.132.41] blocked using Spamhaus")),
    # the docs' prose spelling (trap 4)
    event("hard-bounce", F, T0 + 71,
          msg("frank.m@web.de", F, "bounced", tags=("newsletter", "nov-2025"), stream="marketing",
              bounce_description="invalid_domain", bgtools_code=10,
              diag="smtp;550 5.1.2 Host unknown (Name server: web.de: no data known)")),
    event("reject", G, T0 + 80,
          msg("grace.l@hotmail.com", G, "rejected", tags=("newsletter", "nov-2025"), stream="marketing",
              reject_reason="hard-bounce")),
    # sync event: an address added to the deny list
    {"type": "blacklist", "action": "add",
     "reject": {"reason": "hard-bounce", "detail": " smtp;550 5.1.1 User unknown", "last_event_at": "2025-11-01 11:01:02",
                "email": "carol.white@yahoo.com", "created_at": "2025-11-01 11:01:02", "expires_at": "2026-11-01 11:01:02",
                "expired": False, "subaccount": None, "sender": None},
     "ts": T0 + 63},
    # inbound mail routed to the same webhook
    {"event": "inbound", "ts": T0 + 8000,
     "msg": {"raw_msg": "Received: from mail-wr1-f41.google.com ...", "headers": {"Subject": "Re: Confirm your Acme account"},
             "text": "Thanks!", "html": None, "from_email": "alice.smith@gmail.com", "from_name": "Alice Smith",
             "to": [["reply@inbound.acme-notify.com", None]], "email": "reply@inbound.acme-notify.com",
             "subject": "Re: Confirm your Acme account", "tags": [], "sender": None, "spam_report": {"score": 0.1, "matched_rules": []},
             "dkim": {"signed": True, "valid": True}, "spf": {"result": "pass", "detail": "sender SPF authorized"}}},
    event("send", H, T0 + 100, msg("henry.p@aol.com", H, "sent", tags=(), stream=None)),
]

# The decoded arrays, as one JSON document (both POSTs concatenated).
(OUT / "events.json").write_text("[\n" + ",\n".join(json.dumps(e) for e in batch_1 + batch_2) + "\n]\n")

# Raw POST bodies, one per line, as a webhook endpoint stores them. The first line is the empty
# batch Mandrill posts when a webhook is added; the last repeats batch_1 (a retried POST).
def body(events):
    return urllib.parse.urlencode({"mandrill_events": json.dumps(events)})

(OUT / "webhook_posts.txt").write_text("\n".join([
    urllib.parse.urlencode({"mandrill_events": "[]"}), body(batch_1), body(batch_2), body(batch_1)]) + "\n")

# Bad input: form bodies, one per line.
missing_email = json.loads(json.dumps(batch_1[0]))
del missing_email["msg"]["email"]
bad_ts = json.loads(json.dumps(batch_1[1]))
bad_ts["ts"] = "2025-11-01T11:00:02"
truncated = body(batch_1[2:4])[:-90]
(OUT / "bad_posts.txt").write_text("\n".join([
    body([batch_1[0], missing_email, bad_ts]),
    truncated,
    "event=send&ts=1761994800",
]) + "\n")
