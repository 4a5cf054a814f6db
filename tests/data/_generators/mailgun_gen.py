"""Throwaway generator for tests/data/mailgun fixtures (hand-designed records, serialized)."""
import hashlib
import json
from pathlib import Path
from urllib.parse import urlencode

OUT = Path(__file__).resolve().parent.parent / "mailgun"
OUT.mkdir(parents=True, exist_ok=True)
DOMAIN = "mg.example.com"
SENDER = "Acme <no-reply@mg.example.com>"
IP = "198.51.100.21"
T0 = 1762160400.0  # 2025-11-03T09:00:00Z


def token(seed):
    return hashlib.sha256(("tok" + seed).encode()).hexdigest()[:50]


def signature(seed, ts):
    return {"token": token(seed), "timestamp": str(int(ts)),
            "signature": hashlib.sha256(("sig" + seed).encode()).hexdigest()}


def mid(n):
    return f"20251103090{n:03d}.1.{hashlib.md5(str(n).encode()).hexdigest()[:16].upper()}@{DOMAIN}"


def base(event, eid, ts, rcpt, msg, level="info", tags=(), variables=None, subject="Welcome to Acme"):
    return {
        "id": eid,
        "timestamp": ts,
        "log-level": level,
        "event": event,
        "recipient": rcpt,
        "recipient-domain": rcpt.split("@")[1],
        "message": {"headers": {"to": rcpt, "message-id": msg, "from": SENDER, "subject": subject},
                    "attachments": [], "size": 14823},
        "tags": list(tags),
        "campaigns": [],
        "user-variables": variables if variables is not None else {},
        "flags": {"is-routed": False, "is-authenticated": True, "is-system-test": False,
                  "is-test-mode": False},
    }


def envelope(rcpt, with_ip=True):
    env = {"transport": "smtp", "sender": f"bounce+{rcpt.split('@')[0][:4]}@{DOMAIN}", "targets": rcpt}
    if with_ip:
        env["sending-ip"] = IP
    return env


def status(code, message, description="", mx=None, attempt=1, **extra):
    s = {"tls": True, "mx-host": mx, "attempt-no": attempt, "description": description,
         "session-seconds": 0.412, "utf8": True, "code": code, "message": message,
         "certificate-verified": True}
    if mx is None:
        s.pop("mx-host")
    s.update(extra)
    return s


TX = {"stream": "transactional", "user_id": "u-10442"}
MK = {"stream": "marketing"}
events = []


def add(ed, seed=None, ts_sig=None):
    events.append({"signature": signature(seed or ed["id"], ts_sig or ed["timestamp"]), "event-data": ed})


A, B, C, D, E, F, G, H, I, J, K, L, M, N, O = (mid(n) for n in range(1, 16))  # noqa: E741  (message ids named by letter, as in the fixture notes)
alice, bob, carol = "alice.smith@gmail.com", "bob.jones@icloud.com", "carol.white@outlook.com"

# 1 accepted (A)
ed = base("accepted", "Ase8gU3ZTVaAZ5h3W3W2Aw", T0 + 0.102331, alice, A, tags=["onboarding"], variables=TX)
ed.update({"method": "HTTP", "envelope": envelope(alice, with_ip=False)})
add(ed)
# 2 delivered (A)
ed = base("delivered", "CPgfbmQMTCKtHW6uIWtuVe", T0 + 2.908181, alice, A, tags=["onboarding"], variables=TX)
ed.update({"envelope": envelope(alice), "delivery-status": status(250, "OK", mx="gmail-smtp-in.l.google.com")})
delivered_A = ed
add(ed)
# 3 opened (A), human
ed = base("opened", "Ft3bGp0kQ1W0e0bVzRmH6g", T0 + 304.455102, alice, A, tags=["onboarding"], variables=TX)
ed.update({"ip": "203.0.113.45", "geolocation": {"country": "US", "region": "CA", "city": "San Francisco"},
           "client-info": {"client-type": "browser", "client-os": "Windows", "device-type": "desktop",
                           "client-name": "Chrome", "bot": "",
                           "user-agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0.0.0 Safari/537.36"}})
add(ed)
# 4 clicked (A), human
ed = base("clicked", "Rk1vT2d3QkdUWW9RbW1aWg", T0 + 331.02941, alice, A, tags=["onboarding"], variables=TX)
ed.update({"ip": "203.0.113.45", "url": "https://app.example.com/verify?t=8c1f",
           "geolocation": {"country": "US", "region": "CA", "city": "San Francisco"},
           "client-info": {"client-type": "browser", "client-os": "Windows", "device-type": "desktop",
                           "client-name": "Chrome", "bot": "",
                           "user-agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0.0.0 Safari/537.36"}})
add(ed)
# 5 delivered (B)
ed = base("delivered", "b3BlbmVkLWJvYi1kZWxpdg", T0 + 5.11, bob, B, tags=["onboarding"], variables=TX)
ed.update({"envelope": envelope(bob), "delivery-status": status(250, "2.0.0 Ok: queued as 4dPqT86C1Zz9sRs", mx="mx01.mail.icloud.com")})
add(ed)
# 6 opened (B), Apple Mail Privacy Protection proxy
ed = base("opened", "QXBwbGVNUFBvcGVuLWJvYg", T0 + 9.73, bob, B, tags=["onboarding"], variables=TX)
ed.update({"ip": "17.58.63.12", "geolocation": {"country": "US", "region": "Unknown", "city": "Unknown"},
           "client-info": {"client-type": "mobile browser", "client-os": "iOS", "device-type": "mobile",
                           "client-name": "Apple Mail", "bot": "apple", "user-agent": "Mozilla/5.0"}})
add(ed)
# 7 delivered (C)
ed = base("delivered", "Y2Fyb2wtZGVsaXZlcmVkLQ", T0 + 7.5, carol, C, tags=["newsletter", "nov-2025"], variables=MK,
          subject="November product news")
ed.update({"envelope": envelope(carol), "delivery-status": status(250, f"2.6.0 <{C}> [InternalId=1] Queued mail for delivery", mx="acme-com.mail.protection.outlook.com")})
add(ed)
# 8 clicked (C), link scanner
ed = base("clicked", "c2Nhbm5lci1jbGljay1jYQ", T0 + 8.01, carol, C, tags=["newsletter", "nov-2025"], variables=MK,
          subject="November product news")
ed.update({"ip": "40.94.31.7", "url": "https://www.example.com/news/november",
           "client-info": {"client-type": "unknown", "client-os": "unknown", "device-type": "unknown",
                           "client-name": "unknown", "bot": "generic", "user-agent": "Mozilla/5.0 (compatible; MSIE 9.0)"}})
add(ed)
# 9 complained (C)
ed = base("complained", "Y29tcGxhaW5lZC1jYXJvbA", T0 + 86400 * 0 + 7200.0, carol, C, level="warn",
          tags=["newsletter", "nov-2025"], variables=MK, subject="November product news")
add(ed)
# 10 unsubscribed (A)
ed = base("unsubscribed", "dW5zdWJzY3JpYmVkLWFsaQ", T0 + 3600.5, alice, A, tags=["onboarding"], variables=TX)
ed.update({"ip": "203.0.113.45", "client-info": {"client-type": "browser", "bot": ""}})
add(ed)
# 11 failed temporary (D): Yahoo deferral
dave = "dave.brown@yahoo.com"
ed = base("failed", "ZGVmZXJyZWQteWFob28tZA", T0 + 12.2, dave, D, level="warn", tags=["onboarding"], variables=TX)
ed.update({"severity": "temporary", "reason": "generic", "envelope": envelope(dave),
           "delivery-status": status(421, "4.7.0 [TSS04] Messages from 198.51.100.21 temporarily deferred due to unexpected volume or user complaints - see https://postmaster.yahooinc.com/error-codes",
                                     mx="mta7.am0.yahoodns.net", **{"retry-seconds": 600})})
add(ed)
# 12 failed temporary (E): greylisting
erin = "erin.meyer@gmx.de"
ed = base("failed", "Z3JleWxpc3RlZC1lcmluLQ", T0 + 13.4, erin, E, level="warn", tags=["onboarding"], variables=TX)
ed.update({"severity": "temporary", "reason": "greylisted", "envelope": envelope(erin),
           "delivery-status": status(451, "4.7.1 Greylisting in action, please come back later", mx="mx00.emig.gmx.net", **{"retry-seconds": 900})})
add(ed)
# 13 failed permanent bounce 5.1.1 (F) -> hard
frank = "frank.nonexistent@gmail.com"
ed = base("failed", "aGFyZC1ib3VuY2UtZnJhbms", T0 + 14.0, frank, F, level="error", tags=["onboarding"], variables=TX)
ed.update({"severity": "permanent", "reason": "bounce", "envelope": envelope(frank),
           "delivery-status": status(550, "5.1.1 The email account that you tried to reach does not exist. Please try double-checking the recipient's email address for typos or unnecessary spaces. https://support.google.com/mail/?p=NoSuchUser 41be03b00d2f7-b6cf4e2a1b5si1234567a12.100 - gsmtp",
                                     mx="gmail-smtp-in.l.google.com", **{"enhanced-code": "5.1.1", "bounce-code": "5.1.1"})})
add(ed)
# 14 failed permanent suppress-bounce 605 (G) -> dropped
ed = base("failed", "c3VwcHJlc3MtYm91bmNlLWc", T0 + 86400 + 60.0, frank, G, level="error", tags=["reminder"], variables=TX,
          subject="Your trial ends soon")
ed.update({"severity": "permanent", "reason": "suppress-bounce", "envelope": envelope(frank, with_ip=False),
           "delivery-status": {"attempt-no": 1, "message": "", "code": 605, "description": "Not delivering to previously bounced address", "session-seconds": 0.0}})
add(ed)
# 15 failed permanent suppress-complaint 607 (H) -> dropped
grace = "grace.lee@aol.com"
ed = base("failed", "c3VwcHJlc3MtY29tcGxhaW4", T0 + 86400 + 61.0, grace, H, level="error", tags=["newsletter"], variables=MK,
          subject="November product news")
ed.update({"severity": "permanent", "reason": "suppress-complaint", "envelope": envelope(grace, with_ip=False),
           "delivery-status": {"attempt-no": 1, "message": "", "code": 607, "description": "Not delivering to a user who marked your messages as spam", "session-seconds": 0.0}})
add(ed)
# 16 failed permanent generic delayed bounce, Spamhaus listing (I) -> block
heidi = "heidi.klein@hotmail.com"
ed = base("failed", "ZGVsYXllZC1ibG9jay1oZQ", T0 + 1800.25, heidi, I, level="error", tags=["onboarding"], variables=TX)
ed["flags"]["is-delayed-bounce"] = True
ed.update({"severity": "permanent", "reason": "generic", "envelope": envelope(heidi),
           "delivery-status": status(550, "Service unavailable, Client host [198.51.100.21] blocked using Spamhaus. To request removal from this list see https://www.spamhaus.org/query/ip/198.51.100.21 (AS3130). [DM6NAM12FT063.eop-nam12.prod.protection.outlook.com 2025-11-03T09:30:00.000Z 08DE1A2B3C4D5E6F]",
                                     mx="hotmail-com.olc.protection.outlook.com")})
add(ed)
# 17 failed permanent generic 5.2.2 mailbox full (J) -> soft
ivan = "ivan.petrov@web.de"
ed = base("failed", "bWFpbGJveC1mdWxsLWl2YW4", T0 + 20.0, ivan, J, level="error", tags=["onboarding"], variables=TX)
ed.update({"severity": "permanent", "reason": "generic", "envelope": envelope(ivan),
           "delivery-status": status(552, "5.2.2 Mailbox full: the recipient's mailbox has exceeded its storage limit", mx="mx-ha03.web.de")})
add(ed)
# 18 failed permanent generic, no code, no telling wording (K) -> undetermined
judy = "judy.young@example.org"
ed = base("failed", "dW5kZXRlcm1pbmVkLWp1ZHk", T0 + 21.0, judy, K, level="error", tags=["onboarding"], variables=TX)
ed.update({"severity": "permanent", "reason": "generic", "envelope": envelope(judy),
           "delivery-status": status(550, "Requested action not taken: message refused", mx="mail.example.org")})
add(ed)
# 19 failed permanent old (L) -> soft (retries expired)
ken = "ken.sato@comcast.net"
ed = base("failed", "dG9vLW9sZC1leHBpcmVkLWs", T0 + 8 * 3600.0, ken, L, level="error", tags=["onboarding"], variables=TX)
ed.update({"severity": "permanent", "reason": "old", "envelope": envelope(ken),
           "delivery-status": status(421, "Too old", description="Too old", mx="mx1.comcast.net", attempt=14)})
add(ed)
# 20 rejected (M) -> dropped
liz = "liz.moreau@orange.fr"
ed = base("rejected", "cmVqZWN0ZWQtc2FuZGJveC0", T0 + 22.0, liz, M, level="warn", tags=["onboarding"], variables=TX)
ed.update({"reject": {"reason": "Sandbox subdomains are for test purposes only. Please add your own domain or add the address to authorized recipients in Account Settings.", "description": ""}})
add(ed)
# 21 stored (inbound) -> ignored
ed = base("stored", "c3RvcmVkLWluYm91bmQtbWc", T0 + 500.0, f"support@{DOMAIN}", "CAF=inbound-123@mail.gmail.com")
ed.update({"storage": {"url": f"https://storage-us-east4.api.mailgun.net/v3/domains/{DOMAIN}/messages/BAABAAXY", "key": "BAABAAXY"}})
add(ed)
# 22 delivered in test mode (N) -> ignored
mallory = "mallory.test@gmail.com"
ed = base("delivered", "dGVzdC1tb2RlLWRlbGl2ZXI", T0 + 23.0, mallory, N, tags=["qa"], variables=TX)
ed["flags"]["is-test-mode"] = True
ed.update({"envelope": envelope(mallory), "delivery-status": status(250, "OK")})
add(ed)
# 23 redelivery of line 2 (a new POST: new token, same event-data) -> duplicate
add(json.loads(json.dumps(delivered_A)), seed="retry-CPgfbmQMTCKtHW6uIWtuVe", ts_sig=delivered_A["timestamp"] + 300)
# 24 the id of line 2 reused the next day by another event (O): unique only within a day
olga = "olga.ivanova@yandex.ru"
ed = base("delivered", "CPgfbmQMTCKtHW6uIWtuVe", T0 + 86400 + 10.5, olga, O, tags=["onboarding"], variables=TX)
ed.update({"envelope": envelope(olga), "delivery-status": status(250, "2.0.0 Ok: queued on mail-nwsmtp-smtp-production-main-13.vla.yp-c.yandex.net", mx="mx.yandex.ru")})
add(ed)

with open(OUT / "webhooks.jsonl", "w") as fh:
    for body in events:
        fh.write(json.dumps(body, separators=(", ", ": ")) + "\n")

# The first four bodies as one POSTed array, pretty-printed (a consumer that stores batches).
with open(OUT / "webhook_bodies.json", "w") as fh:
    json.dump(events[:4], fh, indent=2)
    fh.write("\n")

# One body as posted (pretty), the docs' "permanent, delayed bounce" shape: reason generic.
pat = "pat.quinn@yahoo.com"
P = mid(16)
ed = base("failed", "cGVybWFuZW50LWRlbGF5ZWQ", T0 + 2 * 86400 + 44.0, pat, P, level="error",
          tags=["reminder"], variables=TX, subject="Your trial ends soon")
ed["flags"]["is-delayed-bounce"] = True
ed.update({"severity": "permanent", "reason": "generic", "envelope": envelope(pat),
           "delivery-status": {"attempt-no": 1, "message": "No Such User Here", "code": 550,
                               "description": "", "session-seconds": 0.0}})
with open(OUT / "delayed_bounce_post.json", "w") as fh:
    json.dump({"signature": signature(ed["id"], ed["timestamp"]), "event-data": ed}, fh, indent=2)
    fh.write("\n")

# An Events API page: items are bare event-data; three overlap the webhooks (lines 1, 2, 16).
extra1 = base("delivered", "bmV3LWRlbGl2ZXJlZC1xdQ", T0 + 40.0, "quentin.roux@free.fr", mid(17),
              tags=["onboarding"], variables=TX)
extra1.update({"envelope": envelope("quentin.roux@free.fr"), "delivery-status": status(250, "2.0.0 Ok: queued as 4dQ2mK1Xyz", mx="mx1.free.fr")})
extra2 = base("opened", "Z21haWwtcHJveHktb3Blbg", T0 + 900.0, alice, A, tags=["onboarding"], variables=TX)
extra2.update({"ip": "66.249.84.201", "client-info": {"client-type": "browser", "client-os": "Windows",
               "device-type": "desktop", "client-name": "Firefox", "bot": "gmail",
               "user-agent": "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"}})
page = {"items": [events[0]["event-data"], events[1]["event-data"], events[15]["event-data"], extra1, extra2],
        "paging": {"previous": f"https://api.mailgun.net/v3/{DOMAIN}/events/WzMsIFsiYmVnaW4iLCAiMjAyNS0xMS0wMyJdXQ==",
                   "first": f"https://api.mailgun.net/v3/{DOMAIN}/events/WzMsIFsiYiIsICIyMDI1LTExLTAzIl0sIDBd",
                   "last": f"https://api.mailgun.net/v3/{DOMAIN}/events/WzMsIFsicCIsICIyMDI1LTExLTAzIl0sIDBd",
                   "next": f"https://api.mailgun.net/v3/{DOMAIN}/events/WzMsIFsiZiIsICIyMDI1LTExLTAzIl0sIDVd"}}
with open(OUT / "events_page.json", "w") as fh:
    json.dump(page, fh, indent=2)
    fh.write("\n")

# Legacy form-encoded webhooks (pre-2018), one urlencoded POST body per line.
L0 = 1508957685  # 2017-10-25T18:54:45Z
LD = "mg.example.com"


def legacy_headers(msgid, rcpt, subject):
    return json.dumps([["Received", "by luna.mailgun.net with SMTP mgrt 8734663311733; Wed, 25 Oct 2017 18:54:45 +0000"],
                       ["Content-Type", "text/plain; charset=\"ascii\""], ["Mime-Version", "1.0"],
                       ["Subject", subject], ["From", SENDER], ["To", rcpt], ["Message-Id", msgid],
                       ["X-Mailgun-Sid", "WyIwN2U4ZiIsICJyZWNpcGllbnRAZXhhbXBsZS5jb20iLCAiNmJiNjFjIl0="],
                       ["Date", "Wed, 25 Oct 2017 18:54:45 +0000"], ["Sender", f"no-reply@{LD}"]])


def legacy(n, fields):
    fields = dict(fields)
    seed = f"legacy{n}"
    fields.update({"timestamp": str(fields.pop("_ts")), "token": token(seed),
                   "signature": hashlib.sha256(("sig" + seed).encode()).hexdigest()})
    return urlencode(fields, doseq=True)


LA = "<20171025185445.1.53E56AC70B5E8FAD@mg.example.com>"
LB = "<20171025185512.1.9C1E0B0F2B7A1D44@mg.example.com>"
LC = "<20171025185530.1.A4D2C6E8F0B1D3E5@mg.example.com>"
LE = "<20171025185601.1.0F1E2D3C4B5A6978@mg.example.com>"
paul, nobody, rita, sam = "paul.martin@gmail.com", "nobody.here@hotmail.com", "rita.ng@yahoo.com", "sam.otto@gmx.net"
lines = [
    legacy(1, {"event": "delivered", "recipient": paul, "domain": LD, "Message-Id": LA,
               "message-headers": legacy_headers(LA, paul, "Your receipt"), "X-Mailgun-Sid": "WyIwN2U4ZiIsICJwYXVsIiwgIjZiYjYxYyJd",
               "stream": "transactional", "tag": ["receipts", "billing"], "_ts": L0}),
    legacy(2, {"event": "opened", "recipient": paul, "domain": LD, "ip": "203.0.113.9", "country": "US",
               "region": "CA", "city": "San Francisco", "user-agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_13_0) AppleWebKit/604.1.38 (KHTML, like Gecko)",
               "device-type": "desktop", "client-type": "email client", "client-name": "Apple Mail", "client-os": "OS X",
               "message-id": LA.strip("<>"), "stream": "transactional", "tag": ["receipts", "billing"], "_ts": L0 + 120}),
    legacy(3, {"event": "clicked", "recipient": paul, "domain": LD, "ip": "203.0.113.9", "country": "US",
               "region": "CA", "city": "San Francisco", "user-agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_13_0) AppleWebKit/604.1.38 (KHTML, like Gecko)",
               "device-type": "desktop", "client-type": "browser", "client-name": "Safari", "client-os": "OS X",
               "url": "https://shop.example.com/orders/1234", "message-id": LA.strip("<>"),
               "stream": "transactional", "tag": ["receipts", "billing"], "_ts": L0 + 150}),
    legacy(4, {"event": "bounced", "recipient": nobody, "domain": LD, "Message-Id": LB,
               "message-headers": legacy_headers(LB, nobody, "Welcome"), "code": "550",
               "error": "5.5.0 Requested action not taken: mailbox unavailable. [BAY004-MC6F8.hotmail.com]",
               "notification": "", "X-Mailgun-Sid": "WyI4ZjBiNCIsICJub2JvZHkiLCAiNmJiNjFjIl0=",
               "campaign-id": "fall-17", "campaign-name": "Fall launch", "_ts": L0 + 27}),
    legacy(5, {"event": "bounced", "recipient": rita, "domain": LD, "Message-Id": LC,
               "message-headers": legacy_headers(LC, rita, "Welcome"), "code": "554",
               "error": "5.7.9 Message not accepted for policy reasons.  See https://help.yahoo.com/kb/postmaster/SLN7253.html",
               "notification": "", "tag": "welcome", "_ts": L0 + 45}),
    legacy(6, {"event": "dropped", "recipient": nobody, "domain": LD, "Message-Id": LE,
               "message-headers": legacy_headers(LE, nobody, "Welcome, again"), "reason": "hardfail", "code": "605",
               "description": "Not delivering to previously bounced address", "tag": "welcome", "_ts": L0 + 76}),
    legacy(7, {"event": "dropped", "recipient": sam, "domain": LD,
               "Message-Id": "<20171024101010.1.77AA66BB55CC44DD@mg.example.com>",
               "message-headers": legacy_headers("<20171024101010.1.77AA66BB55CC44DD@mg.example.com>", sam, "Welcome"),
               "reason": "old", "code": "", "description": "Too old", "tag": "welcome", "_ts": L0 + 300}),
    legacy(8, {"event": "complained", "recipient": rita, "domain": LD,
               "message-headers": legacy_headers(LC, rita, "Welcome"), "stream": "marketing", "_ts": L0 + 3600}),
    legacy(9, {"event": "unsubscribed", "recipient": paul, "domain": LD, "ip": "203.0.113.9",
               "message-id": LA.strip("<>"), "stream": "transactional", "tag": ["receipts", "billing"], "_ts": L0 + 4000}),
]
with open(OUT / "legacy_webhooks.txt", "w") as fh:
    fh.write("\n".join(lines) + "\n")
