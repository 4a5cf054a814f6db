"""Generate SparkPost fixtures (run once; the JSON files are the fixtures)."""
import json
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "sparkpost"
T0 = 1761994800  # 2025-11-01T11:00:00Z
IP = "147.253.210.12"
POOL = "transactional"


def base(kind, event_id, message_id, transmission_id, rcpt, t, campaign, stream, **extra):
    domain = rcpt.split("@")[1]
    event = {
        "type": kind,
        "campaign_id": campaign,
        "customer_id": "214057",
        "event_id": event_id,
        "friendly_from": "no-reply@app.acme-notify.com",
        "ip_pool": "marketing" if stream == "marketing" else POOL,
        "message_id": message_id,
        "msg_from": "msprvs1=20319JMhXk8dR=bounces-214057@sparkpostmail.com",
        "rcpt_meta": {"stream": stream} if stream else {},
        "rcpt_tags": [campaign] if campaign else [],
        "rcpt_to": rcpt,
        "raw_rcpt_to": rcpt,
        "rcpt_type": "to",
        "recipient_domain": domain,
        "routing_domain": domain,
        "sending_ip": "147.253.210.40" if stream == "marketing" else IP,
        "subaccount_id": "0",
        "template_id": {"welcome-series": "welcome-v3", "nov-newsletter": "newsletter-2025-11"}.get(campaign, "password-reset-v1"),
        "template_version": "0",
        "timestamp": str(t),
        "transmission_id": transmission_id,
    }
    event.update(extra)
    return event


def message(cls, event, cust=False):
    element = {"msys": {cls: event}}
    if cust:
        element["cust"] = {"id": 214057}
    return element


A = ("alice.smith@gmail.com", "0004a7c3b2e1f6d8c9a1", "7248203947512368521", "welcome-series", "onboarding")
B = ("bob.jones@outlook.com", "0004a7c3b2e1f6d8c9a2", "7248203947512368521", "welcome-series", "onboarding")
C = ("carol.white@yahoo.com", "0004a7c3b2e1f6d8c9a3", "7248203947512368522", "nov-newsletter", "marketing")
D = ("dave.brown@icloud.com", "0004a7c3b2e1f6d8c9a4", "7248203947512368522", "nov-newsletter", "marketing")

injection_extra = {
    "injection_time": "2025-11-01T11:00:00.000Z",
    "msg_size": "18342",
    "recv_method": "rest",
    "subject": "Welcome to Acme - confirm your email",
    "sending_domain": "app.acme-notify.com",
    "click_tracking": True,
    "open_tracking": True,
    "initial_pixel": True,
    "amp_enabled": False,
    "transactional": "1",
}
delivery_extra = {
    "delv_method": "esmtp",
    "injection_time": "2025-11-01T11:00:00.000Z",
    "ip_address": "142.250.153.27",
    "mailbox_provider": "Gmail",
    "mailbox_provider_region": "Global",
    "msg_size": "18342",
    "num_retries": "0",
    "outbound_tls": "1",
    "queue_time": "2104",
    "subject": "Welcome to Acme - confirm your email",
}
geo = {"country": "US", "region": "CA", "city": "San Francisco", "latitude": 37.7749, "longitude": -122.4194, "zip": 94103, "postal_code": "94103"}
ua = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36"


def ev(who, kind, eid, dt, **extra):
    rcpt, mid, tid, camp, stream = who
    return base(kind, eid, mid, tid, rcpt, T0 + dt, camp, stream, **extra)


def bounce_extra(cls, code, reason, raw_reason=None, retries="0"):
    return {
        "bounce_class": str(cls),
        "delv_method": "esmtp",
        "error_code": code,
        "injection_time": "2025-11-01T11:00:00.000Z",
        "ip_address": "98.136.96.75",
        "num_retries": retries,
        "queue_time": "1877",
        "raw_reason": raw_reason or reason,
        "reason": reason,
    }


def track(**extra):
    return {"geo_ip": geo, "ip_address": "84.17.20.33", "user_agent": ua, **extra}

batch = [
    # alice (gmail): the happy path with every engagement flavour
    message("message_event", ev(A, "injection", "7052483906134912001", 0, **injection_extra), cust=True),
    message("message_event", ev(A, "delivery", "7052483906134912002", 3, **delivery_extra), cust=True),
    message("track_event", ev(A, "initial_open", "7052483906134912003", 3600, **track())),
    message("track_event", ev(A, "open", "7052483906134912004", 3601, **track())),
    message("track_event", ev(A, "click", "7052483906134912005", 3650, **track(
        target_link_name="Confirm email", target_link_url="https://app.acme.io/confirm?t=81f2"))),
    message("unsubscribe_event", ev(A, "list_unsubscribe", "7052483906134912006", 7200,
                                    mailfrom="alice.smith@gmail.com")),
    # bob (outlook): delayed once, AMP engagement, complaint, link unsubscribe
    message("message_event", ev(B, "injection", "7052483906134912011", 0, **injection_extra)),
    message("message_event", ev(B, "delay", "7052483906134912012", 5, **bounce_extra(
        21, "421", "421 4.7.0 [TSS04] Messages from 147.253.210.12 temporarily deferred due to unexpected volume or user complaints", retries="1"))),
    message("message_event", ev(B, "delivery", "7052483906134912013", 905, **{**delivery_extra, "num_retries": "1", "ip_address": "52.101.40.29", "mailbox_provider": "Hotmail / Outlook"})),
    message("track_event", ev(B, "amp_initial_open", "7052483906134912014", 4000, **track())),
    message("track_event", ev(B, "amp_open", "7052483906134912015", 4001, **track())),
    message("track_event", ev(B, "amp_click", "7052483906134912016", 4010, **track(
        target_link_name="Get started", target_link_url="https://app.acme.io/start"))),
    message("message_event", ev(B, "spam_complaint", "7052483906134912017", 9000,
                                fbtype="abuse", report_by="complaints.outlook.com", report_to="fbl.sparkpostmail.com",
                                delv_method="esmtp")),
    message("unsubscribe_event", ev(B, "link_unsubscribe", "7052483906134912018", 9100, **track(
        mailfrom="bob.jones@outlook.com", target_link_name="Unsubscribe",
        target_link_url="https://app.acme.io/unsubscribe"))),
    # carol (yahoo): invalid recipient, in band
    message("message_event", ev(C, "injection", "7052483906134912021", 60, **injection_extra)),
    message("message_event", ev(C, "bounce", "7052483906134912022", 62, **bounce_extra(
        10, "554", "554 5.1.1 <carol.white@yahoo.com>: Recipient address rejected: User unknown in relay recipient table"))),
    # dave (icloud): mailbox full
    message("message_event", ev(D, "bounce", "7052483906134912031", 65, **bounce_extra(
        22, "552", "552 5.2.2 <dave.brown@icloud.com>: user is over quota"))),
]

# More bounce classes, one recipient each (newsletter).
def nl(local, domain, n):
    return (f"{local}@{domain}", f"0004a7c3b2e1f6d8cb{n:02d}", "7248203947512368522", "nov-newsletter", "marketing")

batch += [
    message("message_event", ev(nl("erin.k", "gmx.de", 1), "bounce", "7052483906134912041", 70, **bounce_extra(
        51, "550", "550 5.7.1 Service unavailable; client host [a.b.c.d] blocked using zen.spamhaus.org",
        "550 5.7.1 Service unavailable; client host [147.253.210.12] blocked using zen.spamhaus.org"))),
    message("message_event", ev(nl("frank.m", "web.de", 2), "bounce", "7052483906134912042", 71, **bounce_extra(
        1, "554", "554 Transaction failed"))),
    message("message_event", ev(nl("grace.l", "hotmail.com", 3), "bounce", "7052483906134912043", 72, **bounce_extra(
        25, "554", "554 5.7.1 [internal] recipient domain is on the account's exclusion list"))),
    message("message_event", ev(nl("henry.p", "aol.com", 4), "out_of_band", "7052483906134912044", 7300, **bounce_extra(
        30, "550", "550 5.0.0 Generic bounce: no RCPT (out of band)"))),
    message("message_event", ev(nl("irene.q", "gmail.com", 5), "out_of_band", "7052483906134912045", 7400, **bounce_extra(
        60, "", "Auto-Reply: I am out of the office until November 10"))),
    message("message_event", ev(nl("jack.r", "gmail.com", 6), "out_of_band", "7052483906134912046", 7500, **bounce_extra(
        100, "", "Challenge-Response: please confirm you are a human sender"))),
    message("message_event", ev(nl("kate.s", "yahoo.com", 7), "out_of_band", "7052483906134912047", 7600, **bounce_extra(
        80, "", "Subscribe request"))),
    message("message_event", ev(nl("liam.t", "outlook.com", 8), "out_of_band", "7052483906134912048", 7700, **bounce_extra(
        90, "", "Unsubscribe request received by reply"))),
    # rejections before sending
    message("message_event", ev(nl("mia.u", "gmail.com", 9), "policy_rejection", "7052483906134912051", 80,
                                error_code="554", reason="554 5.7.1 recipient address suppressed due to customer policy",
                                raw_reason="554 5.7.1 recipient address suppressed due to customer policy",
                                remote_addr="", bounce_class="25")),
    message("gen_event", ev(nl("noah.v", "gmail.com", 10), "generation_rejection", "7052483906134912052", 81,
                            error_code="554", reason="554 5.3.3 [internal] Error while rendering part html: substitution value 'first_name' did not exist",
                            raw_reason="554 5.3.3 [internal] Error while rendering part html: substitution value 'first_name' did not exist",
                            bounce_class="25")),
    # trap 8: a generation event under message_event with an ISO (Events-API style) timestamp
    message("message_event", {**ev(nl("olivia.w", "icloud.com", 11), "generation_failure", "7052483906134912053", 82,
                                   error_code="554", reason="554 5.3.0 [internal] Error while rendering",
                                   raw_reason="554 5.3.0 [internal] Error while rendering"),
                              "timestamp": "2025-11-01T11:01:22.000Z"}),
    # out of scope: an inbound relay message and a ping
    {"msys": {"relay_message": {
        "type": "relay_delivery", "content": {"email_rfc822": "Return-Path: <...>", "headers": [], "subject": "Re: Welcome"},
        "customer_id": "214057", "friendly_from": "someone@gmail.com", "msg_from": "someone@gmail.com",
        "rcpt_to": "inbound@reply.acme-notify.com", "webhook_id": "639287463982711", "timestamp": str(T0 + 8000)}}},
    {"msys": {}},
]

(OUT / "webhook_batch.json").write_text("[\n" + ",\n".join(json.dumps(e) for e in batch) + "\n]\n")

# Events API page: flat events with ISO timestamps; three of them are alice's, already in the batch.
def flat(e, iso):
    e = dict(e)
    e["timestamp"] = iso
    return e

page = {
    "results": [
        flat(batch[1]["msys"]["message_event"], "2025-11-01T11:00:03.000Z"),
        flat(batch[3]["msys"]["track_event"], "2025-11-01T12:00:01.000+00:00"),
        flat(batch[4]["msys"]["track_event"], "2025-11-01T12:00:50.000Z"),
        flat(ev(("paul.x@gmail.com", "0004a7c3b2e1f6d8cc01", "7248203947512368530", "password-reset", "transactional"),
                "injection", "7052483906134913001", 20000, **injection_extra), "2025-11-01T16:33:20.000Z"),
        flat(ev(("paul.x@gmail.com", "0004a7c3b2e1f6d8cc01", "7248203947512368530", "password-reset", "transactional"),
                "delivery", "7052483906134913002", 20002, **delivery_extra), "2025-11-01T16:33:22.000Z"),
    ],
    "total_count": 5,
    "links": {"next": "/api/v1/events/message?cursor=WycyMDI1LTExLTAxVDE2OjMzOjIyLjAwMFonLCAnNzA1MjQ4MzkwNjEzNDkxMzAwMidd&per_page=1000"},
}
(OUT / "events_api_page.json").write_text(json.dumps(page, indent=1) + "\n")

# Stored batches, one POST body per line; the second batch was retried (same X-MessageSystems-Batch-ID).
first, second = batch[:6], batch[6:14]
lines = [json.dumps(first), json.dumps(second), json.dumps(second)]
(OUT / "stored_batches.jsonl").write_text("\n".join(lines) + "\n")

# Bad input, one webhook element per line as a consumer stores them.
good = batch[0]
missing_rcpt = json.loads(json.dumps(batch[1]))
del missing_rcpt["msys"]["message_event"]["rcpt_to"]
del missing_rcpt["msys"]["message_event"]["raw_rcpt_to"]
bad_time = json.loads(json.dumps(batch[2]))
bad_time["msys"]["track_event"]["timestamp"] = "yesterday"
ms_time = json.loads(json.dumps(batch[3]))
ms_time["msys"]["track_event"]["timestamp"] = "2025-11-01 12:00:01"  # no zone
unknown = json.loads(json.dumps(batch[4]))
unknown["msys"]["track_event"]["type"] = "teleport"
truncated = json.dumps(batch[5])[:-60]
bad_lines = [json.dumps(good), json.dumps(missing_rcpt), json.dumps(bad_time), json.dumps(ms_time),
             json.dumps(unknown), truncated]
(OUT / "bad_records.jsonl").write_text("\n".join(bad_lines) + "\n")

print(len(batch), "elements")
