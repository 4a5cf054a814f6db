"""SMTP replies per mailbox provider, as receiving MTAs phrase them.

The texts follow replies that senders see in their ESP logs and that providers document
(Gmail's support links, Microsoft's S-codes, Yahoo's TSSxx codes, Comcast's RL/BL codes);
multi-line replies are flattened the way ESPs report them ("550-5.1.1 ... 550 5.1.1 ...").
Placeholders: ``{ip}`` the sending IP, ``{addr}`` the recipient address, ``{domain}`` its
domain, ``{token}`` a per-reply queue or tracking id, ``{host}`` the receiving host,
``{sender_domain}`` the sender's domain.

``status`` is the enhanced status code an ESP reports next to the reply (SendGrid's
``status``); where the reply has none (Yahoo's "dd" bounce) it is the ESP's generic class code.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reply:
    """One SMTP reply template.

    Parameters
    ----------
    code : int
        Basic SMTP reply code (250, 421, 550, ...).
    status : str
        Enhanced status code, RFC 3463.
    text : str
        The full reply with placeholders (see the module docstring).
    """

    code: int
    status: str
    text: str


#: Reply kinds, in the order of their integer codes in the simulator.
REPLY_KINDS: tuple[str, ...] = (
    "delivered",     # 2xx on the final attempt
    "transient",     # an ordinary 4xx (greylisting, busy server), retried
    "rate_limit",    # 4xx for volume above the provider's acceptance cap or poor reputation
    "mailbox_full",  # 4xx over quota, retried until the ESP gives up
    "block",         # 5xx refused for reputation or policy
    "hard",          # 5xx the address does not exist
)

_GMAIL = {
    "delivered": Reply(250, "2.0.0", "250 2.0.0 OK {token} - gsmtp"),
    "transient": Reply(
        421, "4.3.0",
        "421-4.3.0 Temporary System Problem.  Try again later (10). {token} - gsmtp",
    ),
    "rate_limit": Reply(
        421, "4.7.28",
        "421-4.7.28 [{ip}      15] Our system has detected an unusual rate of 421-4.7.28 "
        "unsolicited mail originating from your IP address. To protect our 421-4.7.28 users "
        "from spam, mail sent from your IP address has been temporarily 421-4.7.28 rate "
        "limited. For more information, go to 421 4.7.28  "
        "https://support.google.com/mail/?p=UnsolicitedRateLimitError {token} - gsmtp",
    ),
    "mailbox_full": Reply(
        452, "4.2.2",
        "452-4.2.2 The recipient's inbox is out of storage space. Please direct the 452-4.2.2 "
        "recipient to 452 4.2.2  https://support.google.com/mail/?p=OverQuotaTemp "
        "{token} - gsmtp",
    ),
    "block": Reply(
        550, "5.7.1",
        "550-5.7.1 [{ip}] Our system has detected that this message is likely 550-5.7.1 "
        "unsolicited mail. To reduce the amount of spam sent to Gmail, this 550-5.7.1 message "
        "has been blocked. For more information, go to 550 5.7.1  "
        "https://support.google.com/mail/?p=UnsolicitedMessageError {token} - gsmtp",
    ),
    "hard": Reply(
        550, "5.1.1",
        "550-5.1.1 The email account that you tried to reach does not exist. Please try "
        "550-5.1.1 double-checking the recipient's email address for typos or 550-5.1.1 "
        "unnecessary spaces. For more information, go to 550 5.1.1  "
        "https://support.google.com/mail/?p=NoSuchUser {token} - gsmtp",
    ),
}

_MICROSOFT = {
    "delivered": Reply(
        250, "2.6.0", "250 2.6.0 <{token}@{sender_domain}> Queued mail for delivery"
    ),
    "transient": Reply(
        421, "4.3.2",
        "421 4.3.2 The maximum number of concurrent connections has exceeded a limit, closing "
        "transmission channel [{host}]",
    ),
    "rate_limit": Reply(
        451, "4.7.650",
        "451 4.7.650 The mail server [{ip}] has been temporarily rate limited due to IP "
        "reputation. For e-mail delivery information, see https://postmaster.live.com (S775) "
        "[{host}]",
    ),
    "mailbox_full": Reply(
        452, "4.2.2",
        "452 4.2.2 The recipient's mailbox is full and can't accept messages now. Please try "
        "resending this message later, or contact the recipient directly. [{host}]",
    ),
    "block": Reply(
        550, "5.7.1",
        "550 5.7.1 Unfortunately, messages from [{ip}] weren't sent. Please contact your "
        "Internet service provider since part of their network is on our block list (S3150). "
        "You can also refer your provider to "
        "http://mail.live.com/mail/troubleshooting.aspx#errors. [{host}]",
    ),
    "hard": Reply(
        550, "5.5.0",
        "550 5.5.0 Requested action not taken: mailbox unavailable (S2017062302). [{host}]",
    ),
}

_YAHOO = {
    "delivered": Reply(250, "2.0.0", "250 ok dirdel"),
    "transient": Reply(
        421, "4.7.0",
        "421 4.7.0 [TSS04] Messages from {ip} temporarily deferred due to unexpected volume or "
        "user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
    ),
    "rate_limit": Reply(
        421, "4.7.0",
        "421 4.7.0 [TSS04] Messages from {ip} temporarily deferred due to unexpected volume or "
        "user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
    ),
    "mailbox_full": Reply(452, "4.2.2", "452 4.2.2 Mailbox over quota; try again later"),
    "block": Reply(
        554, "5.7.9",
        "554 5.7.9 Message not accepted for policy reasons.  See "
        "https://postmaster.yahooinc.com/error-codes",
    ),
    "hard": Reply(
        554, "5.0.0",
        "554 delivery error: dd This user doesn't have a {domain} account ({addr}) [0] - "
        "{host}",
    ),
}

_APPLE = {
    "delivered": Reply(250, "2.0.0", "250 2.0.0 Ok: queued as {token}"),
    "transient": Reply(421, "4.3.2", "421 4.3.2 Service not available, closing transmission channel"),
    "rate_limit": Reply(
        421, "4.7.0",
        "421 4.7.0 [TS01] Messages from {ip} temporarily deferred due to unexpected volume or "
        "user complaints. See https://support.apple.com/en-us/HT204137",
    ),
    "mailbox_full": Reply(452, "4.2.2", "452 4.2.2 <{addr}>: user is over quota"),
    "block": Reply(
        554, "5.7.1",
        "554 5.7.1 [CS01] Message rejected due to local policy. Please visit "
        "https://support.apple.com/en-us/HT204137",
    ),
    "hard": Reply(550, "5.1.1", "550 5.1.1 <{addr}>: user does not exist"),
}

_COMCAST = {
    "delivered": Reply(250, "2.0.0", "250 2.0.0 {token} mail accepted for delivery"),
    "transient": Reply(
        421, "4.2.0",
        "421 4.2.0 Throttled - try again later. Please see "
        "https://postmaster.comcast.net/smtp-error-codes.php#RL000001",
    ),
    "rate_limit": Reply(
        421, "4.2.0",
        "421 4.2.0 Throttled - try again later. Please see "
        "https://postmaster.comcast.net/smtp-error-codes.php#RL000001",
    ),
    "mailbox_full": Reply(452, "4.2.2", "452 4.2.2 <{addr}> mailbox full"),
    "block": Reply(
        554, "5.7.1",
        "554 5.7.1 {ip} Comcast block for spam. Please see "
        "https://postmaster.comcast.net/smtp-error-codes.php#BL000010",
    ),
    "hard": Reply(550, "5.1.1", "550 5.1.1 <{addr}> recipient does not exist here"),
}

_OTHER = {
    "delivered": Reply(250, "2.0.0", "250 2.0.0 Ok: queued as {token}"),
    "transient": Reply(
        450, "4.2.0",
        "450 4.2.0 <{addr}>: Recipient address rejected: Greylisted, see "
        "http://postgrey.schweikert.ch/help/{domain}.html",
    ),
    "rate_limit": Reply(421, "4.7.0", "421 4.7.0 Too many connections from {ip}, try again later"),
    "mailbox_full": Reply(452, "4.2.2", "452 4.2.2 <{addr}>: Recipient address rejected: Mailbox full"),
    "block": Reply(
        554, "5.7.1",
        "554 5.7.1 Service unavailable; Client host [{ip}] blocked using b.barracudacentral.org; "
        "http://www.barracudanetworks.com/reputation/?pr=1&ip={ip}",
    ),
    "hard": Reply(
        550, "5.1.1",
        "550 5.1.1 <{addr}>: Recipient address rejected: User unknown in virtual mailbox table",
    ),
}

#: ``{provider: {kind: Reply}}``; providers without an entry use ``other``. AT&T mail runs on
#: Yahoo's platform and answers like Yahoo.
REPLIES: dict[str, dict[str, Reply]] = {
    "gmail": _GMAIL,
    "microsoft": _MICROSOFT,
    "yahoo": _YAHOO,
    "att": _YAHOO,
    "apple": _APPLE,
    "comcast": _COMCAST,
    "other": _OTHER,
}

#: ESP drop reasons (SendGrid's wording, log-formats.md section 1) by suppression cause.
DROP_REASONS: tuple[str, ...] = ("Bounced Address", "Spam Reporting Address", "Unsubscribed Address")


def replies_for(provider: str) -> dict[str, Reply]:
    """The reply catalogue of ``provider`` (``other``'s when it has none)."""
    return REPLIES.get(provider, _OTHER)
