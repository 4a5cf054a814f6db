"""Write the SES fixtures: the same SES records through Firehose, SNS and EventBridge."""

import base64
import hashlib
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "ses"
OUT.mkdir(parents=True, exist_ok=True)

ACCOUNT = "123456789012"
REGION = "us-east-1"
FROM = "Acme <no-reply@notify.acme-app.com>"
FROM_ADDR = "no-reply@notify.acme-app.com"
SOURCE_IP = "198.51.100.23"  # the API caller (our app server)
OUTGOING_IP = "54.240.8.97"  # the SES IP that delivered the mail
T0 = datetime(2025, 3, 10, 9, 0, 0, 123000, tzinfo=UTC)


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def h(*parts, n=8):
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[: 2 * n]


def ses_id(name):
    # SES ids look like 0100019580a1b2c3-6f1d2e3a-4b5c-4d6e-8f70-1a2b3c4d5e6f-000000
    u = uuid.UUID(h("uuid", name, n=16))
    return f"01000195{h('prefix', name, n=4)}-{u}-000000"


def mail(name, t, destination, subject, config_set, tags=None, outgoing_ip=False):
    message_id = ses_id(name)
    all_tags = {
        "ses:operation": ["SendEmail"],
        "ses:configuration-set": [config_set],
        "ses:source-ip": [SOURCE_IP],
        "ses:from-domain": ["notify.acme-app.com"],
        "ses:caller-identity": ["acme-mailer"],
    }
    if outgoing_ip:
        all_tags["ses:outgoing-ip"] = [OUTGOING_IP]
    all_tags.update(tags or {})
    return {
        "timestamp": iso(t),
        "source": FROM,
        "sourceArn": f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/notify.acme-app.com",
        "sendingAccountId": ACCOUNT,
        "messageId": message_id,
        "destination": destination,
        "headersTruncated": False,
        "headers": [
            {"name": "From", "value": FROM},
            {"name": "To", "value": ", ".join(destination)},
            {"name": "Subject", "value": subject},
            {"name": "MIME-Version", "value": "1.0"},
            {"name": "Content-Type",
             "value": f'multipart/alternative; boundary="----=_Part_{h("b", name, n=4)}"'},
        ],
        "commonHeaders": {
            "from": [FROM],
            "to": destination,
            "messageId": message_id,
            "subject": subject,
        },
        "tags": all_tags,
    }


TRANSACTIONAL = "acme-transactional"
MARKETING = "acme-marketing"
ONBOARDING_TAGS = {"stream": ["onboarding"], "campaign": ["verify-email"]}
RESET = "Reset your Acme password"
VERIFY = "Confirm your email address"

records = []


def add(record, eventbridge_type):
    records.append((record, eventbridge_type))


def at(seconds):
    return T0 + timedelta(seconds=seconds)


# M1: one verification mail to two Gmail recipients: Send, Delivery, Open, Click.
m1 = ["maria.lopez@gmail.com", "dev.lead@gmail.com"]
add({"eventType": "Send", "mail": mail("m1", at(0), m1, VERIFY, TRANSACTIONAL, ONBOARDING_TAGS),
     "send": {}}, "Email Sent")
add({"eventType": "Delivery",
     "mail": mail("m1", at(0), m1, VERIFY, TRANSACTIONAL, ONBOARDING_TAGS, outgoing_ip=True),
     "delivery": {"timestamp": iso(at(2.188)), "processingTimeMillis": 2065, "recipients": m1,
                  "smtpResponse": "250 2.0.0 OK  1741597202 af79cd13be357-7c5a1d2e3f4si118232485a.61 - gsmtp",
                  "reportingMTA": "a8-97.smtp-out.amazonses.com"}}, "Email Delivered")
add({"eventType": "Open", "mail": mail("m1", at(0), m1, VERIFY, TRANSACTIONAL, ONBOARDING_TAGS),
     "open": {"ipAddress": "66.249.84.193", "timestamp": iso(at(317.402)),
              "userAgent": "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"}},
    "Email Opened")
add({"eventType": "Click", "mail": mail("m1", at(0), m1, VERIFY, TRANSACTIONAL, ONBOARDING_TAGS),
     "click": {"ipAddress": "203.0.113.77", "timestamp": iso(at(342.915)),
               "userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_3 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
               "link": "https://app.acme-app.com/verify?token=8f14e45fceea167a5a36dedd4bea2543",
               "linkTags": {"link": ["verify-button"]}}}, "Email Clicked")

# M2: a reset mail to two Yahoo recipients, deferred by Yahoo (TSS04).
m2 = ["kenji.tanaka@yahoo.com", "li.wei@yahoo.com"]
tss04 = ("smtp; 421 4.7.0 [TSS04] Messages from 54.240.8.97 temporarily deferred due to unexpected "
         "volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes")
add({"eventType": "DeliveryDelay", "mail": mail("m2", at(60), m2, RESET, TRANSACTIONAL),
     "deliveryDelay": {"timestamp": iso(at(421.6)), "delayType": "TransientCommunicationFailure",
                       "expirationTime": iso(at(60 + 14 * 3600)),
                       "delayedRecipients": [
                           {"emailAddress": m2[0], "status": "4.7.0", "diagnosticCode": tss04},
                           {"emailAddress": m2[1], "status": "4.7.0", "diagnosticCode": tss04},
                       ],
                       "reportingMTA": "a8-97.smtp-out.amazonses.com"}}, "Email Delivery Delayed")


def bounce(name, t_mail, t_bounce, bounce_type, sub_type, recipients, reporting_mta):
    destination = [r["emailAddress"] for r in recipients if "emailAddress" in r]
    return {
        "eventType": "Bounce",
        "mail": mail(name, at(t_mail), destination, RESET, TRANSACTIONAL),
        "bounce": {
            "feedbackId": ses_id("feedback-" + name),
            "bounceType": bounce_type,
            "bounceSubType": sub_type,
            "bouncedRecipients": recipients,
            "timestamp": iso(at(t_bounce)),
            "reportingMTA": reporting_mta,
        },
    }


def failed(address, status=None, diagnostic=None):
    item = {"emailAddress": address, "action": "failed"}
    if status:
        item["status"] = status
    if diagnostic:
        item["diagnosticCode"] = diagnostic
    return item


DSN = "dsn; a8-97.smtp-out.amazonses.com"
GMAIL_NOSUCHUSER = ("smtp; 550-5.1.1 The email account that you tried to reach does not exist. Please "
                    "try double-checking the recipient's email address for typos or unnecessary "
                    "spaces. For more information, go to https://support.google.com/mail/?p=NoSuchUser "
                    "41be03b00d2f7-b2a1c3d4e5si1234567a12.345 - gsmtp")
SUPPRESSED = ("Amazon SES has suppressed sending to this address because it has a recent history of "
              "bouncing as an invalid address. For more information about how to remove an address "
              "from the suppression list, see the Amazon SES Developer Guide: "
              "http://docs.aws.amazon.com/ses/latest/DeveloperGuide/remove-from-suppressionlist.html ")
ACCOUNT_SUPPRESSED = ("Amazon SES did not send the message to this address because it is on the "
                      "suppression list for your account. For more information about removing "
                      "addresses from the suppression list, see the Amazon SES Developer Guide at "
                      "https://docs.aws.amazon.com/ses/latest/DeveloperGuide/sending-email-suppression-list.html")

bounces = [
    # (name, bounceType, bounceSubType, bouncedRecipients, reportingMTA)
    ("m3", "Permanent", "General", [
        failed("nobody.here@gmail.com", "5.1.1", GMAIL_NOSUCHUSER),
        failed("old.account@hotmail.com", "5.5.0",
               "smtp; 550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302). "
               "[BN1PEPF00004682.namprd05.prod.outlook.com 2025-03-10T09:02:05.412Z 08DD5F1A2B3C4D5E]"),
    ], DSN),
    ("m4", "Permanent", "NoEmail", [failed("info@closed-startup.io", "5.0.0")], DSN),
    ("m5", "Permanent", "Suppressed", [failed("typo.address@gmial.com", "5.1.1", SUPPRESSED)],
     "dns; amazonses.com"),
    ("m6", "Permanent", "OnAccountSuppressionList",
     [failed("unsubscribed.before@outlook.com", "5.1.1", ACCOUNT_SUPPRESSED)], "dns; amazonses.com"),
    ("m7", "Transient", "General", [failed(
        "support@slow-mx.example.net", "4.4.7",
        "smtp; 554 4.4.7 Message expired: unable to deliver in 840 minutes.<421 4.4.0 Unable to connect to mx.slow-mx.example.net>")],
     DSN),
    ("m8", "Transient", "MailboxFull", [failed(
        "full.box@icloud.com", "5.2.2",
        "smtp; 552 5.2.2 <full.box@icloud.com>: user is over quota")], DSN),
    ("m9", "Transient", "MessageTooLarge", [failed(
        "archive@aol.com", "5.3.4", "smtp; 552 5.3.4 Error: message file too big")], DSN),
    ("m10", "Transient", "ContentRejected", [failed(
        "sam.rivera@gmail.com", "5.7.0",
        "smtp; 552-5.7.0 This message was blocked because its content presents a potential "
        "security issue. To review our message content and attachment content guidelines, go to "
        "https://support.google.com/mail/?p=BlockedMessage - gsmtp")], DSN),
    ("m11", "Transient", "AttachmentRejected", [failed(
        "billing@gmx.de", "5.7.0",
        "smtp; 554 5.7.0 Transaction failed: the attachment type .exe is not allowed")], DSN),
    ("m12", "Undetermined", "Undetermined", [{"emailAddress": "who.knows@yahoo.co.uk"}], DSN),
]
for offset, (name, bounce_type, sub_type, recipients, mta) in enumerate(bounces):
    t_mail = 120 + 10 * offset
    add(bounce(name, t_mail, t_mail + 3.5 + offset, bounce_type, sub_type, recipients, mta),
        "Email Bounced")

# M14: a newsletter reported as spam by two Hotmail users (Microsoft JMRP lists each).
m14 = ["anna.k@hotmail.com", "peter.m@hotmail.com"]
add({"eventType": "Complaint",
     "mail": mail("m14", at(600), m14, "Acme March product news", MARKETING,
                  {"campaign": ["march-newsletter"]}),
     "complaint": {"feedbackId": ses_id("feedback-m14"), "complaintSubType": None,
                   "complainedRecipients": [{"emailAddress": m14[0]}, {"emailAddress": m14[1]}],
                   "timestamp": iso(at(5400.25)),
                   "userAgent": "Microsoft Junk Mail Reporting Program",
                   "complaintFeedbackType": "abuse",
                   "arrivalDate": iso(at(5399.0))}}, "Email Complaint Received")
# M15: the account-level suppression list holds a complainer: SES did not send (dropped).
add({"eventType": "Complaint",
     "mail": mail("m15", at(700), ["angry.reader@yahoo.com"], "Acme March product news", MARKETING,
                  {"campaign": ["march-newsletter"]}),
     "complaint": {"feedbackId": ses_id("feedback-m15"), "complaintSubType": "OnAccountSuppressionList",
                   "complainedRecipients": [{"emailAddress": "angry.reader@yahoo.com"}],
                   "timestamp": iso(at(700.9))}}, "Email Complaint Received")
# M16: SES found a virus: Reject.
add({"eventType": "Reject",
     "mail": mail("m16", at(800), ["accounts@bigcorp.example"], "Your invoice", TRANSACTIONAL),
     "reject": {"reason": "Bad content"}}, "Email Rejected")
# M17: the template could not be rendered.
add({"eventType": "Rendering Failure",
     "mail": mail("m17", at(900), ["new.user@outlook.com"], "Welcome to Acme", TRANSACTIONAL),
     "failure": {"errorMessage": "Attribute 'firstName' is not present in the rendering data.",
                 "templateName": "WelcomeTemplate"}}, "Email Rendering Failed")


def subscription(name, t_mail, t_event, address, new, old):
    return {
        "eventType": "Subscription",
        "mail": mail(name, at(t_mail), [address], "Acme March product news", MARKETING,
                     {"campaign": ["march-newsletter"]}),
        "subscription": {"contactList": "AcmeNewsletter", "timestamp": iso(at(t_event)),
                         "source": "UnsubscribeHeader",
                         "newTopicPreferences": new, "oldTopicPreferences": old},
    }


def topics(**status):
    return [{"topicName": k, "subscriptionStatus": v} for k, v in status.items()]


add(subscription("m18", 1000, 7200.5, "tom.baker@icloud.com",
                 {"unsubscribeAll": True, "topicSubscriptionStatus": topics(ProductUpdates="OptOut")},
                 {"unsubscribeAll": False, "topicSubscriptionStatus": topics(ProductUpdates="OptIn")}),
    "Email Subscribed")
add(subscription("m19", 1010, 7300.75, "nina.p@gmail.com",
                 {"unsubscribeAll": False,
                  "topicSubscriptionStatus": topics(ProductUpdates="OptOut", Events="OptIn")},
                 {"unsubscribeAll": False,
                  "topicSubscriptionStatus": topics(ProductUpdates="OptIn", Events="OptIn")}),
    "Email Subscribed")
# M20: an opt-in to Events; ProductUpdates stays OptOut as before: not an unsubscribe.
add(subscription("m20", 1020, 7400.0, "returning.fan@outlook.com",
                 {"unsubscribeAll": False,
                  "topicSubscriptionStatus": topics(ProductUpdates="OptOut", Events="OptIn")},
                 {"unsubscribeAll": False,
                  "topicSubscriptionStatus": topics(ProductUpdates="OptOut", Events="OptOut")}),
    "Email Subscribed")


def event_time(record):
    sub = {k: v for k, v in record.items() if k not in ("eventType", "notificationType", "mail")}
    for value in sub.values():
        if isinstance(value, dict) and "timestamp" in value:
            return datetime.fromisoformat(value["timestamp"])
    if "mail" not in record:
        return T0
    return datetime.fromisoformat(record["mail"]["timestamp"])


def signature(seed):
    return base64.b64encode(hashlib.sha512(seed.encode()).digest() * 4).decode()


CERT = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem"


def sns(record, topic, seed):
    arn = f"arn:aws:sns:{REGION}:{ACCOUNT}:{topic}"
    return {
        "Type": "Notification",
        "MessageId": str(uuid.UUID(h("sns", seed, n=16))),
        "TopicArn": arn,
        "Message": json.dumps(record, separators=(",", ":")),
        # SNS publishes a moment after the event: never the event's time.
        "Timestamp": iso(event_time(record) + timedelta(milliseconds=437)),
        "SignatureVersion": "1",
        "Signature": signature(seed),
        "SigningCertURL": CERT,
        "UnsubscribeURL": (f"https://sns.{REGION}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn="
                           f"{arn}:{uuid.UUID(h('sub', topic, n=16))}"),
    }


def eventbridge(record, detail_type, seed):
    config_set = record["mail"]["tags"]["ses:configuration-set"][0]
    return {
        "version": "0",
        "id": str(uuid.UUID(h("eb", seed, n=16))),
        "detail-type": detail_type,
        "source": "aws.ses",
        "account": ACCOUNT,
        "time": (event_time(record) + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": [f"arn:aws:ses:{REGION}:{ACCOUNT}:configuration-set/{config_set}"],
        "detail": record,
    }


with open(OUT / "firehose_events.jsonl", "w") as f:
    for record, _ in records:
        f.write(json.dumps(record, separators=(",", ":")) + "\n")
with open(OUT / "sns_events.json", "w") as f:
    json.dump([sns(r, "ses-acme-events", f"sns{i}") for i, (r, _) in enumerate(records)], f, indent=2)
    f.write("\n")
with open(OUT / "eventbridge_events.jsonl", "w") as f:
    for i, (record, detail_type) in enumerate(records):
        f.write(json.dumps(eventbridge(record, detail_type, f"eb{i}"), separators=(",", ":")) + "\n")


# Identity notifications (notificationType, no tags, sourceIp of the caller, remoteMtaIp of the receiver).
def identity_mail(name, t, destination, subject):
    m = mail(name, t, destination, subject, TRANSACTIONAL)
    del m["tags"]
    m["sourceIp"] = SOURCE_IP
    m["callerIdentity"] = "acme-mailer"
    return m


TOPIC = "ses-identity-feedback"
topic_arn = f"arn:aws:sns:{REGION}:{ACCOUNT}:{TOPIC}"
token = h("token", n=64) * 2
identity = [
    {"Type": "SubscriptionConfirmation", "MessageId": str(uuid.UUID(h("conf", n=16))),
     "Token": token, "TopicArn": topic_arn,
     "Message": (f"You have chosen to subscribe to the topic {topic_arn}.\nTo confirm the "
                 "subscription, visit the SubscribeURL included in this message."),
     "SubscribeURL": f"https://sns.{REGION}.amazonaws.com/?Action=ConfirmSubscription&TopicArn={topic_arn}&Token={token}",
     "Timestamp": "2025-03-10T08:55:01.002Z", "SignatureVersion": "1",
     "Signature": signature("conf"), "SigningCertURL": CERT},
    sns({"notificationType": "AmazonSnsSubscriptionSucceeded",
         "message": (f"You have successfully subscribed your Amazon SNS topic '{topic_arn}' to receive "
                     "'Bounce' notifications from Amazon SES for identity 'notify.acme-app.com'.")},
        TOPIC, "ok") | {"Timestamp": "2025-03-10T08:56:12.118Z"},
]
id_bounce = {
    "notificationType": "Bounce",
    "bounce": {"feedbackId": ses_id("feedback-i1"), "bounceType": "Permanent", "bounceSubType": "General",
               "bouncedRecipients": [failed("left.company@outlook.com", "5.1.10",
                                            "smtp; 550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup")],
               "timestamp": iso(at(3000.42)), "remoteMtaIp": "52.101.42.10",
               "reportingMTA": "dsn; a8-97.smtp-out.amazonses.com"},
    "mail": identity_mail("i1", at(2998), ["left.company@outlook.com"], RESET),
}
id_complaint = {
    "notificationType": "Complaint",
    "complaint": {"feedbackId": ses_id("feedback-i2"), "complaintSubType": None,
                  "complainedRecipients": [{"emailAddress": "grumpy@yahoo.com"}],
                  "timestamp": iso(at(3600.5)), "userAgent": "Yahoo!-Mail-Feedback/2.0",
                  "complaintFeedbackType": "abuse", "arrivalDate": iso(at(3599.0))},
    "mail": identity_mail("i2", at(3100), ["grumpy@yahoo.com"], RESET),
}
id_delivery = {
    "notificationType": "Delivery",
    "delivery": {"timestamp": iso(at(3201.733)), "processingTimeMillis": 1733,
                 "recipients": ["happy.user@gmail.com"],
                 "smtpResponse": "250 2.0.0 OK  1741600401 d75a77b69052e-47b2c3d4e5fsi98765432cf.102 - gsmtp",
                 "remoteMtaIp": "142.250.27.26", "reportingMTA": "a8-97.smtp-out.amazonses.com"},
    "mail": identity_mail("i3", at(3200), ["happy.user@gmail.com"], RESET),
}
id_not_spam = {
    "notificationType": "Complaint",
    "complaint": {"feedbackId": ses_id("feedback-i4"), "complaintSubType": None,
                  "complainedRecipients": [{"emailAddress": "careful.reader@yahoo.com"}],
                  "timestamp": iso(at(3700.0)), "userAgent": "Yahoo!-Mail-Feedback/2.0",
                  "complaintFeedbackType": "not-spam", "arrivalDate": iso(at(3699.0))},
    "mail": identity_mail("i4", at(3300), ["careful.reader@yahoo.com"], RESET),
}
identity += [sns(r, TOPIC, f"id{i}") for i, r in enumerate([id_bounce, id_complaint, id_delivery, id_not_spam])]
with open(OUT / "identity_notifications.jsonl", "w") as f:
    for envelope in identity:
        f.write(json.dumps(envelope, separators=(",", ":")) + "\n")


# Bad input, one defect per record (see tests/io/test_ses.py for the expected quarantine).
good_delivery = {"eventType": "Delivery",
                 "mail": mail("b1", at(4000), ["ok.user@gmail.com"], RESET, TRANSACTIONAL, outgoing_ip=True),
                 "delivery": {"timestamp": iso(at(4001.5)), "processingTimeMillis": 1500,
                              "recipients": ["ok.user@gmail.com"], "smtpResponse": "250 2.0.0 OK - gsmtp",
                              "reportingMTA": "a8-97.smtp-out.amazonses.com"}}
truncated = sns(good_delivery, "ses-acme-events", "bad1")
truncated["Message"] = truncated["Message"][:180]  # cut by a log shipper's line limit
no_message_id = json.loads(json.dumps(good_delivery))
del no_message_id["mail"]["messageId"]
no_destination = {"eventType": "Open", "mail": mail("b3", at(4100), [], RESET, TRANSACTIONAL),
                  "open": {"ipAddress": "17.58.0.1", "timestamp": iso(at(4200)),
                           "userAgent": "Mozilla/5.0"}}
partial = bounce("b4", 4300, 4304.0, "Permanent", "General",
                 [failed("gone@gmail.com", "5.1.1", GMAIL_NOSUCHUSER),
                  {"action": "failed", "status": "5.1.1", "diagnosticCode": "smtp; 550 5.1.1 user unknown"}],
                 DSN)
unsubscribe_confirmation = {
    "Type": "UnsubscribeConfirmation", "MessageId": str(uuid.UUID(h("unsub", n=16))), "Token": token,
    "TopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:ses-acme-events",
    "Message": ("You have chosen to deactivate subscription arn:aws:sns:us-east-1:123456789012:ses-acme-events:"
                f"{uuid.UUID(h('sub', 'ses-acme-events', n=16))}.\nTo cancel this operation and restore the "
                "subscription, visit the SubscribeURL included in this message."),
    "SubscribeURL": f"https://sns.{REGION}.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-east-1:123456789012:ses-acme-events&Token={token}",
    "Timestamp": "2025-03-10T10:20:00.000Z", "SignatureVersion": "1", "Signature": signature("unsub"),
    "SigningCertURL": CERT,
}
no_delivery_time = json.loads(json.dumps(good_delivery))
no_delivery_time["mail"]["messageId"] = ses_id("b6")
del no_delivery_time["delivery"]["timestamp"]
alarm = sns({"eventType": "Delivery"}, "ses-acme-events", "bad7")
alarm["Message"] = json.dumps({
    "AlarmName": "ses-bounce-rate-above-2pct", "AlarmDescription": None, "AWSAccountId": ACCOUNT,
    "NewStateValue": "ALARM", "NewStateReason": "Threshold Crossed: 1 datapoint [0.031] was greater than the threshold (0.02).",
    "StateChangeTime": "2025-03-10T10:30:00.000+0000", "Region": "US East (N. Virginia)",
    "Trigger": {"MetricName": "Reputation.BounceRate", "Namespace": "AWS/SES", "Threshold": 0.02},
})
alarm["Timestamp"] = "2025-03-10T10:30:01.000Z"
lines = [
    json.dumps(truncated, separators=(",", ":")),
    json.dumps(no_message_id, separators=(",", ":")),
    json.dumps(eventbridge(no_destination, "Email Opened", "bad3"), separators=(",", ":")),
    json.dumps(partial, separators=(",", ":")),
    json.dumps(unsubscribe_confirmation, separators=(",", ":")),
    json.dumps(sns(no_delivery_time, "ses-acme-events", "bad6"), separators=(",", ":")),
    json.dumps(alarm, separators=(",", ":")),
    json.dumps(good_delivery, separators=(",", ":"))[:150],  # a Firehose object cut mid-record
]
(OUT / "bad_records.jsonl").write_text("\n".join(lines) + "\n")
print(len(records), "records")
