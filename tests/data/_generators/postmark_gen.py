"""Throwaway generator for tests/data/postmark fixtures (hand-designed records, serialized)."""
import json
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "postmark"
OUT.mkdir(parents=True, exist_ok=True)
META = {"user_id": "u-20931", "flow": "onboarding"}
M1 = "883953f4-6105-42a2-a16a-77a8eac79483"
M2 = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
M3 = "5f8e7d6c-5b4a-4938-8271-605f4e3d2c1b"
M4 = "c2d4e6f8-0a1b-4c3d-9e5f-7a8b9c0d1e2f"

delivery = {
    "MessageID": M1, "Recipient": "john.doe@gmail.com",
    "DeliveredAt": "2025-11-05T11:33:54.9070259-05:00",
    "Details": "smtp;250 2.0.0 OK  1762360434 a640c23a62f3a-b72d1e0e5b4si1234567a66.321 - gsmtp",
    "Tag": "welcome-email", "ServerID": 23, "Metadata": META, "RecordType": "Delivery", "MessageStream": "outbound",
}
open_ = {
    "RecordType": "Open", "MessageStream": "outbound", "FirstOpen": True,
    "Client": {"Name": "Chrome 141.0.7390.122", "Company": "Google", "Family": "Chrome"},
    "OS": {"Name": "OS X 10.15 Catalina", "Company": "Apple Computer, Inc.", "Family": "OS X"},
    "Platform": "WebMail",
    "UserAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0.0.0 Safari/537.36",
    "ReadSeconds": 5,
    "Geo": {"CountryISOCode": "US", "Country": "United States", "RegionISOCode": "NY", "Region": "New York",
            "City": "New York", "Zip": "10001", "Coords": "40.7506,-73.9971", "IP": "203.0.113.77"},
    "MessageID": M1, "Metadata": META, "ReceivedAt": "2025-11-05T11:40:02.1234567-05:00",
    "Tag": "welcome-email", "Recipient": "john.doe@gmail.com",
}
click = {
    "RecordType": "Click", "MessageStream": "outbound", "ClickLocation": "HTML",
    "Client": {"Name": "Chrome 141.0.7390.122", "Company": "Google", "Family": "Chrome"},
    "OS": {"Name": "OS X 10.15 Catalina", "Company": "Apple Computer, Inc.", "Family": "OS X"},
    "Platform": "Desktop",
    "UserAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0.0.0 Safari/537.36",
    "OriginalLink": "https://app.example.com/welcome?step=1",
    "Geo": open_["Geo"], "MessageID": M1, "Metadata": META,
    "ReceivedAt": "2025-11-05T11:41:17.5550001-05:00", "Tag": "welcome-email", "Recipient": "john.doe@gmail.com",
}
hard = {
    "ID": 3719346013, "Type": "HardBounce", "RecordType": "Bounce", "TypeCode": 1, "Name": "Hard bounce",
    "Tag": "welcome-email", "MessageID": M2, "Metadata": META, "ServerID": 23, "MessageStream": "outbound",
    "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
    "Details": "smtp;550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302). [AM4PEPF00027A5F.eurprd04.prod.outlook.com]",
    "Email": "no.such.user@outlook.com", "From": "welcome@example.com",
    "BouncedAt": "2025-11-05T18:34:10.1200000+01:00", "DumpAvailable": True, "Inactive": True, "CanActivate": True,
    "Subject": "Welcome to Acme", "Content": "",
}
complaint = {
    "ID": 3719346150, "Type": "SpamComplaint", "RecordType": "SpamComplaint", "TypeCode": 100001,
    "Name": "Spam complaint", "Tag": "newsletter", "MessageID": M3, "Metadata": {}, "ServerID": 23,
    "MessageStream": "broadcast", "Description": "The subscriber explicitly marked this message as spam.",
    "Details": "Test spam complaint details", "Email": "mary.major@yahoo.com", "From": "news@example.com",
    "BouncedAt": "2025-11-06T07:02:44.0000000-05:00", "DumpAvailable": True, "Inactive": True,
    "CanActivate": False, "Subject": "November news", "Content": "",
}


def change(recipient, changed_at, suppress, reason, origin, message_id, stream="broadcast", tag="newsletter"):
    return {"RecordType": "SubscriptionChange", "MessageID": message_id, "ServerID": 23, "MessageStream": stream,
            "ChangedAt": changed_at, "Recipient": recipient, "Origin": origin, "SuppressSending": suppress,
            "SuppressionReason": reason, "Tag": tag, "Metadata": {}}


lines = [
    delivery, open_, click, hard, complaint,
    change("lucy.gray@icloud.com", "2025-11-06T09:15:00.4160710Z", True, "ManualSuppression", "Recipient", M4),
    change("ops.test@example.com", "2025-11-06T09:20:00.0000000Z", True, "ManualSuppression", "Customer", M4),
    change("no.such.user@outlook.com", "2025-11-05T12:34:11.0000000-05:00", True, "HardBounce", "Recipient", M2,
           stream="outbound", tag="welcome-email"),
    change("mary.major@yahoo.com", "2025-11-06T07:02:45.0000000-05:00", True, "SpamComplaint", "Recipient", M3),
    change("lucy.gray@icloud.com", "2025-11-07T10:00:00.0000000Z", False, None, "Customer", M4),
    delivery,  # the same POST delivered twice
    hard,
]
with open(OUT / "webhooks.jsonl", "w") as fh:
    for body in lines:
        fh.write(json.dumps(body) + "\n")

# The Delivery webhook as posted (the docs' sample shape, UTC "Z" with seven digits).
post = {
    "MessageID": "f1e2d3c4-b5a6-4978-8695-a4b3c2d1e0f9", "Recipient": "anna.berg@gmx.de",
    "DeliveredAt": "2025-11-05T16:33:54.9070259Z", "Details": "smtp;250 Requested mail action okay, completed: id=1MqbD5-1uK3Xf3Vyv-00nhkA",
    "Tag": "password-reset", "ServerID": 23, "Metadata": {"user_id": "u-55310"}, "RecordType": "Delivery",
    "MessageStream": "outbound",
}
with open(OUT / "delivery_post.json", "w") as fh:
    json.dump(post, fh, indent=2)
    fh.write("\n")

# One Bounce record per bounce type of the reference table (log-formats.md section 4).
TYPES = [
    ("HardBounce", 1, "Hard bounce", "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
     "smtp;550 5.1.1 The email account that you tried to reach does not exist."),
    ("Transient", 2, "Message delayed", "The server could not temporarily deliver your message (ex: Message is delayed due to network troubles).",
     "smtp;451 4.3.0 Mail server temporarily rejected message."),
    ("Unsubscribe", 16, "Unsubscribe request", "Unsubscribe or Remove request.", "unsubscribe"),
    ("Subscribe", 32, "Subscribe request", "Subscribe request from someone wanting to get added to the mailing list.", "subscribe"),
    ("AutoResponder", 64, "Auto responder", "Automatic email responder (ex: \"Out of Office\" or \"On Vacation\").",
     "I am out of the office until November 12."),
    ("AddressChange", 128, "Address change", "The recipient has requested an address change.", "Please use my new address."),
    ("DnsError", 256, "DNS error", "A temporary DNS error.", "DNS lookup failed: SERVFAIL"),
    ("SpamNotification", 512, "Spam notification", "The message was delivered, but was either blocked by the user, or classified as spam, bulk mail, or had rejected content.",
     "Your message was classified as bulk mail."),
    ("OpenRelayTest", 1024, "Open relay test", "The NDR is actually a test email message to see if the mail server is an open relay.", ""),
    ("Unknown", 2048, "Unknown", "Unable to classify the NDR.", "Undeliverable"),
    ("SoftBounce", 4096, "Soft bounce/Undeliverable", "Unable to temporarily deliver message (i.e. mailbox full, account disabled, exceeds quota, out of disk space).",
     "smtp;552 5.2.2 Mailbox full"),
    ("VirusNotification", 8192, "Virus notification", "The bounce is actually a virus notification warning about a virus/code infected message.",
     "Message quarantined: malware detected"),
    ("ChallengeVerification", 16384, "Spam challenge verification", "The bounce is a challenge asking for verification you actually sent the email. Typcial challenges are made by Spam Arrest, or MailFrontier Matador.",
     "Please verify that you sent this message."),
    ("BadEmailAddress", 100000, "Invalid email address", "The address is not a valid email address.", "Invalid email address"),
    ("SpamComplaint", 100001, "Spam complaint", "The subscriber explicitly marked this message as spam.", ""),
    ("ManuallyDeactivated", 100002, "Manually deactivated", "The email was manually deactivated.", ""),
    ("Unconfirmed", 100003, "Registration not confirmed", "The subscriber has not clicked on the confirmation link upon registration or import.", ""),
    ("Blocked", 100006, "ISP block", "Blocked from this ISP due to content or blacklisting.",
     "smtp;554 5.7.1 Service unavailable; Client host [50.31.156.6] blocked using Spamhaus"),
    ("SMTPApiError", 100007, "SMTP API error", "An error occurred while accepting an email through the SMTP API.", ""),
    ("InboundError", 100008, "Processing failed", "Unable to deliver inbound message to destination inbound hook.", ""),
    ("DMARCPolicy", 100009, "DMARC Policy", "Email rejected due DMARC Policy.",
     "smtp;550 5.7.26 Unauthenticated email from example.com is not accepted due to domain's DMARC policy."),
    ("TemplateRenderingFailed", 100010, "Template rendering failed", "An error occurred while attempting to render your template.", ""),
]
with open(OUT / "bounce_types.jsonl", "w") as fh:
    for index, (name, code, label, description, details) in enumerate(TYPES):
        record = {
            "ID": 3719400000 + index, "Type": name, "RecordType": "Bounce", "TypeCode": code, "Name": label,
            "Tag": "onboarding", "MessageID": f"7c1e{index:04d}-aa11-4b22-8c33-d44e55f66a77", "Metadata": {},
            "ServerID": 23, "MessageStream": "outbound", "Description": description, "Details": details,
            "Email": f"user{index:02d}@hotmail.com", "From": "welcome@example.com",
            "BouncedAt": f"2025-11-04T{8 + index // 6:02d}:{(index * 7) % 60:02d}:12.3456789-05:00",
            "DumpAvailable": False, "Inactive": name in ("HardBounce", "SpamComplaint", "BadEmailAddress", "ManuallyDeactivated"),
            "CanActivate": True, "Subject": "Welcome to Acme",
        }
        fh.write(json.dumps(record) + "\n")

# A Bounce API page (GET /bounces): no RecordType; the first bounce is the webhook's hard bounce.
api_hard = {k: v for k, v in hard.items() if k not in ("RecordType", "Metadata", "Content")}
api_soft = {
    "ID": 3719346499, "Type": "SoftBounce", "TypeCode": 4096, "Name": "Soft bounce/Undeliverable",
    "Tag": "welcome-email", "MessageID": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d", "ServerID": 23,
    "MessageStream": "outbound",
    "Description": "Unable to temporarily deliver message (i.e. mailbox full, account disabled, exceeds quota, out of disk space).",
    "Details": "smtp;452 4.2.2 The email account that you tried to reach is over quota.",
    "Email": "full.box@gmail.com", "From": "welcome@example.com", "BouncedAt": "2025-11-06T03:12:09.7770000-05:00",
    "DumpAvailable": True, "Inactive": False, "CanActivate": True, "Subject": "Welcome to Acme",
}
with open(OUT / "bounces_api.json", "w") as fh:
    json.dump({"TotalCount": 2, "Bounces": [api_hard, api_soft]}, fh, indent=2)
    fh.write("\n")
