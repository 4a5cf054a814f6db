"""One bounce classifier for every reader that has to class a bounce from its SMTP reply.

ESPs that class bounces themselves (SendGrid's ``bounce_classification``, SES's ``bounceType``,
SparkPost's ``bounce_class`` codes, Mandrill's Bounce Genius codes) keep their own verdict in
their readers. Where a reader only has the receiver's reply (Postfix, Mailgun, Brevo, and
Mandrill where its codes say nothing), it calls :func:`classify_bounce`, so that the same reply
is the same class whichever export it came from.

The enhanced status code (RFC 3463) decides first, then the wording of the reply, then the basic
SMTP code. The classes are those of the canonical events table: ``hard`` (the address or its
domain does not exist: suppress it), ``block`` (the receiver refused the *sender*: reputation,
policy, authentication, content; the address is fine), ``soft`` (a temporary condition, or
retries that ran out) and ``undetermined``.
"""

from __future__ import annotations

import re

__all__ = ["classify_bounce"]

#: Enhanced codes that settle the class on their own. ``5.7.x`` security or policy and
#: ``5.1.7``/``5.1.8`` (our sender address refused) are blocks; other ``5.1.x`` (bad destination
#: mailbox or domain), ``5.2.1`` (mailbox disabled) and ``5.4.4`` (unable to route: the domain
#: does not resolve) are hard; ``5.2.2`` (mailbox full), ``5.2.3`` (message too large for the
#: mailbox) and every ``4.x.x`` (a persistent transient failure that outlived the retries) are
#: soft.
BLOCK_STATUS = re.compile(r"^5\.7\.\d{1,3}$|^5\.1\.[78]$")
HARD_STATUS = re.compile(r"^5\.1\.\d{1,3}$|^5\.2\.1$|^5\.4\.4$")
SOFT_STATUS = re.compile(r"^5\.2\.[23]$|^4\.\d{1,3}\.\d{1,3}$")

#: A reply refusing our sender address, not the recipient's: ``block``.
SENDER_REJECTED_TEXT = re.compile(r"sender address rejected", re.IGNORECASE)

#: A reply saying the address or its domain does not exist: ``hard``. Covers Yahoo's
#: ``dd This user doesn't have a yahoo.com account`` (sent with the generic ``5.0.0``).
HARD_TEXT = re.compile(
    r"user unknown|unknown (?:user|recipient)|recipient unknown"
    r"|no such (?:user|mailbox|recipient|address)"
    r"|(?:mailbox|address|account|recipient|user)\b[^.;()]{0,40}"
    r"(?:does not exist|doesn't exist|not found|unavailable|disabled|invalid|inactive)"
    r"|invalid (?:recipient|mailbox|address)|not a valid (?:mailbox|recipient)"
    r"|doesn't have an? \S+ account|account (?:has been )?disabled"
    r"|recipient address rejected: (?:user unknown|access denied|undeliverable address)"
    r"|host or domain name not found|domain (?:not found|does not exist)"
    r"|bad destination (?:mailbox )?address",
    re.IGNORECASE,
)

#: A reply refusing the sender for reputation, policy, authentication or content: ``block``.
BLOCK_TEXT = re.compile(
    r"spam|block ?list|blocked|\bblock\b|black ?list|deny ?list|spamhaus|spamcop|barracuda"
    r"|reputation|policy|unsolicited|not accepted|banned|junk|abuse|\brbl\b|dnsbl|dmarc|\bspf\b"
    r"|dkim|unauthenticated|authentication",
    re.IGNORECASE,
)

#: A full mailbox, or an ESP's words for retries that ran out: ``soft``.
SOFT_TEXT = re.compile(
    r"mailbox (?:is )?full|over ?quota|quota exceeded|exceeded (?:the |its )?(?:storage|quota)"
    r"|insufficient (?:system )?storage|out of storage|too old|expired|timed? ?out",
    re.IGNORECASE,
)


def classify_bounce(
    enhanced_status: str | None = None, smtp_code: int | None = None, text: str | None = None
) -> str:
    """The class of a bounce from its enhanced status code, SMTP reply code and reply text.

    Parameters
    ----------
    enhanced_status : str or None
        RFC 3463 enhanced status code, e.g. ``"5.1.1"``.
    smtp_code : int or None
        Basic SMTP reply code, e.g. ``550``.
    text : str or None
        The receiver's reply, or the ESP's description of the failure.

    Returns
    -------
    str
        ``block``, ``hard``, ``soft`` or ``undetermined``: by the code (:data:`BLOCK_STATUS`,
        :data:`HARD_STATUS`, :data:`SOFT_STATUS`), else by the wording (a refused sender address,
        then :data:`HARD_TEXT`, :data:`BLOCK_TEXT`, :data:`SOFT_TEXT`), else ``soft`` for a
        ``4xx`` reply code; a bare ``550 Message rejected`` stays ``undetermined``.

    Examples
    --------
    >>> classify_bounce("5.1.1", 550, "The email account that you tried to reach does not exist")
    'hard'
    >>> classify_bounce("5.0.0", 554, "dd This user doesn't have a yahoo.com account")
    'hard'
    >>> classify_bounce(None, 554, "Service unavailable; Client host blocked using Spamhaus")
    'block'
    >>> classify_bounce("4.7.0", 421, "Our system has detected an unusual rate of mail")
    'soft'
    >>> classify_bounce("5.0.0", 550, "Message rejected")
    'undetermined'
    """
    status = (enhanced_status or "").strip()
    if BLOCK_STATUS.match(status):
        return "block"
    if HARD_STATUS.match(status):
        return "hard"
    if SOFT_STATUS.match(status):
        return "soft"
    if text:
        if SENDER_REJECTED_TEXT.search(text):
            return "block"
        if HARD_TEXT.search(text):
            return "hard"
        if BLOCK_TEXT.search(text):
            return "block"
        if SOFT_TEXT.search(text):
            return "soft"
    if smtp_code is not None and 400 <= smtp_code < 500:
        return "soft"
    return "undetermined"
