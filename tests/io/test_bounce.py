"""The bounce classifier shared by the readers that class a bounce from its SMTP reply."""

import pytest

from deliverability_econ.io._bounce import classify_bounce


@pytest.mark.parametrize(
    ("enhanced", "smtp_code", "text", "expected"),
    [
        # The enhanced code decides first (RFC 3463 subjects: 1 addressing, 2 mailbox, 4 routing,
        # 7 security/policy).
        ("5.1.1", 550, "The email account that you tried to reach does not exist", "hard"),
        ("5.1.10", 550, "Recipient address rejected: Access denied", "hard"),
        ("5.2.1", 550, "mailbox disabled", "hard"),
        ("5.4.4", 550, "Host or domain name not found", "hard"),
        ("5.1.8", 553, "Sender address rejected: Domain not found", "block"),
        ("5.7.1", 550, "Mailbox unavailable", "block"),  # the code wins over hard-looking words
        ("5.7.26", 550, "Unauthenticated email from example.com is not accepted", "block"),
        ("5.2.2", 552, "Mailbox full", "soft"),
        ("5.2.3", 552, "Message size exceeds fixed maximum message size", "soft"),
        # An expiry after rate-limit deferrals is a soft bounce, not a block of the sender.
        ("4.7.0", 421, "Our system has detected an unusual rate of unsolicited mail", "soft"),
        ("4.4.1", 451, "Connection timed out", "soft"),
        # Generic codes: the wording decides.
        ("5.0.0", 554, "dd This user doesn't have a yahoo.com account (x@yahoo.com) [0]", "hard"),
        ("5.0.0", 554, "Message not accepted for policy reasons", "block"),
        ("5.0.0", 550, "Sender address rejected: not owned by user", "block"),
        (None, 554, "Service unavailable; Client host [192.0.2.1] blocked using Spamhaus", "block"),
        (None, 552, "Requested mail action aborted: exceeded storage allocation", "soft"),
        (None, None, "Too old", "soft"),
        (None, 550, "No Such User Here", "hard"),
        # Nothing to go on.
        ("5.0.0", 550, "Message rejected", "undetermined"),
        (None, 550, None, "undetermined"),
        (None, None, None, "undetermined"),
        (None, 450, "try again later", "soft"),
    ],
)
def test_classify_bounce(enhanced, smtp_code, text, expected):
    assert classify_bounce(enhanced, smtp_code, text) == expected
