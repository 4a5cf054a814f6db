"""Offline checks of a sender's SPF, DKIM and DMARC records, given as text.

Gmail, Yahoo and Microsoft accept bulk mail only when it is authenticated (domain facts F1 to
F8): SPF or DKIM for every sender, both plus a DMARC record (``p=none`` is enough) and a From
domain aligned with SPF or DKIM for bulk senders. This module reads the records the user
pastes or exports and says, record by record, what is wrong, what it does to mail and where the
rule comes from. It never queries DNS: records that are not given are reported as not given,
and counts that would need them (the SPF lookup count) are lower bounds.

Inputs (:func:`parse_dns_records`; any mix, also a list of them):

- a zone-file fragment: ``name [TTL] [IN] TXT "v=spf1 ..." "..."``, with ``$ORIGIN``, ``@``,
  relative names, parentheses across lines and ``;`` comments (RFC 1035 section 5.1);
- ``dig`` output (``;; ANSWER SECTION:`` lines; a ``status: NXDOMAIN`` or ``ANSWER: 0``
  answer to a TXT question records that the name has no TXT record, which is what makes void
  SPF lookups countable); ``dig +short`` lines need ``default_name``;
- a mapping ``{name: [txt, ...]}`` (a ``txt`` may be a list of character-strings; an empty list
  means "queried: no TXT record").

A TXT record split into several character-strings is joined without separator (RFC 7208
section 3.3, RFC 6376 section 3.6.2.2).

Checks (:func:`check_dns`), each finding with a stable ``code`` from :data:`FINDINGS`, its
severity (``error``: receivers treat the mail as unauthenticated or the record is ignored;
``warning``: a weakness or a risk; ``info``: worth knowing), the consequence for mail and its
source (an RFC section or a fact id):

- **SPF** (RFC 7208): one ``v=spf1`` record per name, term syntax (mechanisms, qualifiers,
  modifiers, unknown terms), ``ptr`` (deprecated), ``+all`` / ``?all`` / no ``all``, and the
  limit of 10 DNS-querying terms (``include``, ``a``, ``mx``, ``ptr``, ``exists``,
  ``redirect``), counted recursively through every included record that is given; includes
  that are not given are listed and the count is then a lower bound. Void lookups (a lookup
  answered with no record; limit 2) are counted where the input says a name has no TXT record
  or does not exist.
- **DMARC** (RFC 7489): the record at ``_dmarc.<domain>`` (or the parent domain's, whose
  ``sp`` then applies), its tags (``p``, ``sp``, ``pct``, ``adkim``, ``aspf``, ``rua``,
  ``ruf``, ``fo``, ``rf``, ``ri``), monitoring-only ``p=none``, missing ``rua``, ``pct`` below
  100, external report destinations.
- **DKIM** (RFC 6376, RFC 8301, RFC 8463): ``<selector>._domainkey.<domain>`` records, the
  public key decoded and its RSA modulus measured in bits (below 1024 fails, below 2048 is
  weak), revoked keys (empty ``p=``), testing mode (``t=y``), ed25519 keys, selectors delegated
  by CNAME (key not given).
- **Bulk-sender requirements** (F2, F7, F8): DMARC published, SPF valid, a usable DKIM key.
  Alignment itself is not visible in DNS: it comes from DMARC aggregate reports
  (:mod:`deliverability_econ.authentication`).

Examples
--------
>>> result = check_dns({"example.com": ["v=spf1 include:_spf.google.com ?all"],
...                     "_dmarc.example.com": ["v=DMARC1; p=none"]})
>>> sorted(result.findings["code"])  # doctest: +NORMALIZE_WHITESPACE
['dkim_not_given', 'dmarc_no_rua', 'dmarc_policy_none', 'spf_lookups_lower_bound',
 'spf_neutral_all']
>>> int(result.summary.loc[0, "spf_lookups"]), bool(result.summary.loc[0, "spf_lookups_exact"])
(1, False)
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

# --------------------------------------------------------------------------------------------
# The findings registry
# --------------------------------------------------------------------------------------------

#: Severities, most serious first.
SEVERITIES: tuple[str, ...] = ("error", "warning", "info")


@dataclass(frozen=True)
class FindingType:
    """What a finding means, independently of the record it was found in.

    Attributes
    ----------
    check : str
        ``spf``, ``dmarc``, ``dkim``, ``bulk_sender`` or ``input``.
    severity : str
        One of :data:`SEVERITIES`.
    consequence : str
        What happens to mail (or to the sender's view of it).
    source : str
        The rule: an RFC section or a fact id of domain-facts.md.
    """

    check: str
    severity: str
    consequence: str
    source: str


_PERMERROR = ("receivers return permerror: SPF fails for all of the domain's mail, so only an "
              "aligned DKIM signature can make it pass DMARC")

#: Every finding the checks can report, by code.
FINDINGS: dict[str, FindingType] = {
    # SPF
    "spf_missing": FindingType(
        "spf", "error", "no SPF record: receivers get SPF 'none' for the domain; Gmail requires "
        "SPF or DKIM of every sender and both of bulk senders, Microsoft both of senders above "
        "5,000 a day", "RFC 7208 section 4.5; F2, F8"),
    "spf_multiple_records": FindingType("spf", "error", _PERMERROR, "RFC 7208 section 4.5"),
    "spf_unknown_mechanism": FindingType("spf", "error", _PERMERROR, "RFC 7208 section 5"),
    "spf_invalid_term": FindingType("spf", "error", _PERMERROR, "RFC 7208 sections 4.6.1, 5"),
    "spf_duplicate_modifier": FindingType(
        "spf", "error", _PERMERROR + " (redirect and exp may appear once)", "RFC 7208 section 6"),
    "spf_modifier_looks_like_mechanism": FindingType(
        "spf", "warning", "an unknown modifier is ignored: the mechanism it was probably meant "
        "to be is never evaluated", "RFC 7208 section 6"),
    "spf_ptr": FindingType(
        "spf", "warning", "ptr is slow and unreliable, costs DNS lookups and some receivers skip "
        "it, so hosts it should authorize may fail", "RFC 7208 section 5.5 (SHOULD NOT be used)"),
    "spf_pass_all": FindingType(
        "spf", "error", "+all lets every host on the internet pass SPF for the domain: anyone can "
        "send as it, and receivers learn to discount its SPF", "RFC 7208 sections 5.1, 8.1"),
    "spf_neutral_all": FindingType(
        "spf", "warning", "?all gives unlisted hosts 'neutral': SPF never fails, so it offers no "
        "protection against spoofing", "RFC 7208 sections 5.1, 8.2"),
    "spf_no_all": FindingType(
        "spf", "warning", "no 'all' and no redirect: unlisted hosts get the default 'neutral' "
        "result, as with ?all", "RFC 7208 section 4.7"),
    "spf_terms_after_all": FindingType(
        "spf", "warning", "terms after 'all' are never evaluated: hosts they list fail or "
        "soft-fail", "RFC 7208 section 5.1"),
    "spf_redirect_ignored": FindingType(
        "spf", "info", "redirect is ignored because the record has an 'all' mechanism",
        "RFC 7208 section 6.1"),
    "spf_too_many_lookups": FindingType(
        "spf", "error", "more than 10 DNS-querying terms: " + _PERMERROR,
        "RFC 7208 section 4.6.4"),
    "spf_lookups_lower_bound": FindingType(
        "spf", "info", "records not given were not followed: the lookup count is a lower bound; "
        "paste them to get the exact count", "RFC 7208 section 4.6.4"),
    "spf_void_lookups": FindingType(
        "spf", "error", "more than 2 lookups answered with no record: " + _PERMERROR,
        "RFC 7208 section 4.6.4"),
    "spf_include_without_spf": FindingType(
        "spf", "error", "an include or redirect target without exactly one SPF record: "
        + _PERMERROR, "RFC 7208 sections 5.2, 6.1"),
    "spf_include_loop": FindingType(
        "spf", "error", "an include or redirect loop never ends: receivers stop at the lookup "
        "limit with permerror", "RFC 7208 sections 4.6.4, 5.2"),
    "spf_macro_unresolved": FindingType(
        "spf", "info", "a macro depends on the message (sender, IP): its target cannot be "
        "followed offline, so the lookup count is a lower bound", "RFC 7208 section 7"),
    # DMARC
    "dmarc_missing": FindingType(
        "dmarc", "error", "no DMARC record: Gmail and Yahoo junk or reject bulk mail without "
        "one (F3; 5.7.26), Microsoft rejects it above 5,000 a day (550 5.7.515), and no "
        "aggregate reports arrive", "RFC 7489 section 6.6.3; F2, F3, F7, F8"),
    "dmarc_multiple_records": FindingType(
        "dmarc", "error", "several DMARC records: receivers apply no DMARC at all, as if none "
        "were published", "RFC 7489 section 6.6.3"),
    "dmarc_syntax": FindingType(
        "dmarc", "error", "a malformed record is discarded: receivers treat the domain as having "
        "no DMARC record", "RFC 7489 sections 6.4, 6.6.3"),
    "dmarc_invalid_policy": FindingType(
        "dmarc", "error", "no valid p= tag: receivers act as p=none when rua is valid, otherwise "
        "apply no DMARC", "RFC 7489 section 6.6.3"),
    "dmarc_invalid_value": FindingType(
        "dmarc", "error", "a tag with an invalid value: receivers may discard the record or "
        "fall back to the tag's default", "RFC 7489 section 6.3"),
    "dmarc_policy_none": FindingType(
        "dmarc", "info", "p=none is monitoring only: failing mail is delivered as usual and "
        "spoofed mail is not stopped; it meets the bulk-sender requirement",
        "RFC 7489 section 6.3; F2, F7, F8"),
    "dmarc_no_rua": FindingType(
        "dmarc", "warning", "no rua: no aggregate reports, so nobody sees which sources send as "
        "the domain or how much of its mail fails", "RFC 7489 sections 6.3, 7.2"),
    "dmarc_partial_pct": FindingType(
        "dmarc", "warning", "pct below 100: the policy applies to only that share of failing "
        "mail; the rest is treated one level softer", "RFC 7489 section 6.3"),
    "dmarc_strict_alignment": FindingType(
        "dmarc", "info", "strict alignment: mail signed or bounced from a subdomain (as many "
        "ESPs do) does not align and fails DMARC", "RFC 7489 section 3.1"),
    "dmarc_subdomain_weaker": FindingType(
        "dmarc", "warning", "sp=none under an enforcing p: subdomains can be spoofed",
        "RFC 7489 section 6.3"),
    "dmarc_unknown_tag": FindingType(
        "dmarc", "info", "unknown tags are ignored", "RFC 7489 section 6.3"),
    "dmarc_non_mailto_uri": FindingType(
        "dmarc", "warning", "only mailto: report URIs are supported by receivers in practice: "
        "reports to this address are not sent", "RFC 7489 section 6.2"),
    "dmarc_external_destination": FindingType(
        "dmarc", "info", "reports to another domain are sent only if that domain publishes "
        "<domain>._report._dmarc.<destination> with v=DMARC1", "RFC 7489 section 7.1"),
    "dmarc_external_destination_unauthorized": FindingType(
        "dmarc", "warning", "the report destination does not authorize the domain: receivers "
        "send no reports there", "RFC 7489 section 7.1"),
    "dmarc_inherited": FindingType(
        "dmarc", "info", "no record at the domain itself: the parent (organizational) domain's "
        "record applies, with its sp= policy", "RFC 7489 section 6.6.3"),
    # DKIM
    "dkim_key_too_short": FindingType(
        "dkim", "error", "RSA key below 1024 bits: verifiers must not accept its signatures, so "
        "mail signed with it counts as unsigned", "RFC 8301 section 3.2"),
    "dkim_key_weak": FindingType(
        "dkim", "warning", "RSA key below 2048 bits: still accepted, but signers should use 2048; "
        "1024-bit keys are within reach of factoring and some tools flag them",
        "RFC 8301 section 3.2; RFC 6376 section 3.3.3"),
    "dkim_revoked": FindingType(
        "dkim", "warning", "empty p=: the key is revoked, signatures with this selector fail",
        "RFC 6376 section 3.6.1"),
    "dkim_testing": FindingType(
        "dkim", "warning", "t=y (testing): verifiers must treat the mail as unsigned, so DKIM "
        "cannot make it pass DMARC", "RFC 6376 section 3.6.1"),
    "dkim_ed25519": FindingType(
        "dkim", "info", "ed25519 key: not every receiver verifies it, so sign with an RSA key "
        "as well", "RFC 8463 section 3"),
    "dkim_invalid_key": FindingType(
        "dkim", "error", "the public key cannot be decoded: every signature with this selector "
        "fails (permfail)", "RFC 6376 sections 3.6.1, 6.1.2"),
    "dkim_syntax": FindingType(
        "dkim", "error", "a malformed key record: verifiers cannot use it and signatures fail",
        "RFC 6376 sections 3.6.1, 3.6.2.2"),
    "dkim_sha1_only": FindingType(
        "dkim", "error", "h= allows only sha1: verifiers must not accept rsa-sha1 signatures",
        "RFC 8301 section 3.1"),
    "dkim_unknown_key_type": FindingType(
        "dkim", "error", "unknown k= key type: verifiers cannot use the key",
        "RFC 6376 section 3.6.1"),
    "dkim_delegated": FindingType(
        "dkim", "info", "the selector is a CNAME to the ESP's key, which was not given: its "
        "length is not checked", "RFC 6376 section 3.6.2.1"),
    "dkim_not_given": FindingType(
        "dkim", "info", "no DKIM key record was given for the domain; selectors cannot be "
        "discovered from DNS, so paste the selectors your ESPs sign with",
        "RFC 6376 section 3.6.2.1"),
    # Bulk-sender requirements
    "bulk_sender_requirements": FindingType(
        "bulk_sender", "error", "bulk mail to Gmail, Yahoo and Microsoft consumer mailboxes is "
        "junked or rejected (F3: 5.7.26; F8: 550 5.7.515)", "F1, F2, F3, F7, F8"),
    # Input
    "input_unparsed": FindingType(
        "input", "warning", "a line of the input could not be read and was left out of the "
        "checks (kept in meta['quarantine'])", "RFC 1035 section 5.1"),
}

#: Columns of :attr:`DnsCheck.findings`.
FINDING_COLUMNS: tuple[str, ...] = ("domain", "check", "code", "severity", "record_name",
                                    "record", "message", "consequence", "source")

#: Terms that make the receiver query DNS (RFC 7208 section 4.6.4).
SPF_LOOKUP_TERMS: frozenset[str] = frozenset({"include", "a", "mx", "ptr", "exists",
                                              "redirect"})

#: Most DNS-querying terms an SPF evaluation may use [count] (RFC 7208 section 4.6.4).
SPF_LOOKUP_LIMIT = 10

#: Most void lookups (answered with no record) before permerror [count] (RFC 7208 section 4.6.4).
SPF_VOID_LOOKUP_LIMIT = 2

#: DKIM RSA modulus below which signatures must be rejected [bits] (RFC 8301 section 3.2).
DKIM_MIN_BITS = 1024

#: DKIM RSA modulus signers should use at least [bits] (RFC 8301 section 3.2).
DKIM_RECOMMENDED_BITS = 2048

_SPF_MECHANISMS = ("all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists")
_QUALIFIERS = "+-~?"


# --------------------------------------------------------------------------------------------
# Reading records
# --------------------------------------------------------------------------------------------

#: Columns of the records table (:func:`parse_dns_records`).
RECORD_COLUMNS: tuple[str, ...] = ("name", "type", "value", "strings", "location")

_NO_DATA_TYPES = ("NODATA", "NXDOMAIN")
_CLASSES = {"IN", "CH", "HS", "CS"}
_TTL = re.compile(r"^\d+[smhdwSMHDW]?(\d+[smhdwSMHDW])*$")
_TYPE = re.compile(r"^(TXT|SPF|CNAME|A|AAAA|MX|NS|SOA|PTR|SRV|CAA|TLSA|DNAME|HTTPS|SVCB|DS|"
                   r"DNSKEY|RRSIG|NSEC|NSEC3|TYPE\d+)$", re.IGNORECASE)


def _normalize_name(name: str, origin: str | None) -> str:
    name = name.strip()
    if name == "@":
        if not origin:
            raise ValueError("'@' needs an $ORIGIN (or origin=)")
        return origin
    if name.endswith("."):
        return name[:-1].lower()
    if origin and not (name.lower() == origin or name.lower().endswith("." + origin)):
        return f"{name}.{origin}".lower()
    return name.lower()


def _unescape(text: str) -> str:
    """Zone-file escapes inside a character-string: ``\\"``, ``\\\\``, ``\\DDD``."""
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            digits = text[i + 1:i + 4]
            if len(digits) == 3 and digits.isdigit():
                out.append(chr(int(digits)))
                i += 4
                continue
            out.append(text[i + 1])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _tokenize(line: str) -> tuple[list[tuple[str, bool]], bool]:
    """Split a zone-file line into (token, quoted) pairs; drop ``;`` comments outside quotes.

    Returns the tokens and whether the line had an unterminated quote.
    """
    tokens: list[tuple[str, bool]] = []
    i, n = 0, len(line)
    while i < n:
        ch = line[i]
        if ch in " \t\r\n":
            i += 1
        elif ch == ";":
            break
        elif ch == '"':
            j = i + 1
            buf = []
            while j < n and line[j] != '"':
                if line[j] == "\\" and j + 1 < n:
                    buf.append(line[j:j + 2])
                    j += 2
                else:
                    buf.append(line[j])
                    j += 1
            if j >= n:
                return tokens, True
            tokens.append((_unescape("".join(buf)), True))
            i = j + 1
        elif ch in "()":
            tokens.append((ch, False))
            i += 1
        else:
            j = i
            while j < n and line[j] not in ' \t\r\n;"()':
                j += 1
            tokens.append((line[i:j], False))
            i = j
    return tokens, False


@dataclass
class _Reader:
    """State of one text input."""

    label: str
    origin: str | None
    default_name: str | None
    rows: list[dict] = field(default_factory=list)
    quarantine: list[dict] = field(default_factory=list)
    ignored: dict[str, int] = field(default_factory=dict)
    lines_read: int = 0

    def ignore(self, reason: str) -> None:
        self.ignored[reason] = self.ignored.get(reason, 0) + 1

    def reject(self, line_no: int, text: str, reason: str) -> None:
        self.quarantine.append({"source": self.label, "location": f"line {line_no}",
                                "field": None, "reason": reason, "text": text.strip()[:200]})


def _read_text(text: str, reader: _Reader) -> None:
    previous_owner: str | None = None
    dig = {"status": None, "question": None, "qtype": None, "answers": None, "active": False}
    pending: list[tuple[str, bool]] = []
    pending_start = 0
    pending_text: list[str] = []
    depth = 0

    def close_dig_block():
        if dig["active"] and dig["question"] and (dig["qtype"] or "").upper() == "TXT":
            if dig["status"] == "NXDOMAIN":
                reader.rows.append(_row(dig["question"], "NXDOMAIN", "", 0, dig["where"]))
            elif dig["answers"] == 0 and dig["status"] == "NOERROR":
                reader.rows.append(_row(dig["question"], "NODATA", "", 0, dig["where"]))
        dig.update(status=None, question=None, qtype=None, answers=None, active=False)

    lines = text.splitlines()
    in_question = False
    for line_no, raw in enumerate(lines, start=1):
        reader.lines_read += 1
        stripped = raw.strip()
        if depth == 0:
            if not stripped:
                reader.ignore("blank")
                continue
            if stripped.startswith(";"):
                if stripped.startswith(";; ->>HEADER<<-"):
                    close_dig_block()
                    dig["active"] = True
                    dig["where"] = f"{reader.label} line {line_no}"
                    match = re.search(r"status:\s*([A-Z]+)", stripped)
                    dig["status"] = match.group(1) if match else None
                elif stripped.startswith(";; flags:") and dig["active"]:
                    match = re.search(r"ANSWER:\s*(\d+)", stripped)
                    dig["answers"] = int(match.group(1)) if match else None
                elif stripped.startswith(";; QUESTION SECTION"):
                    in_question = True
                elif in_question and not stripped.startswith(";;"):
                    parts = stripped[1:].split()
                    if parts and dig["active"]:
                        dig["question"] = _normalize_name(parts[0], None)
                        dig["qtype"] = parts[-1]
                    in_question = False
                else:
                    in_question = False
                reader.ignore("comment")
                continue
            if stripped.upper().startswith("$ORIGIN"):
                parts = stripped.split()
                if len(parts) < 2:
                    reader.reject(line_no, raw, "$ORIGIN without a name")
                else:
                    reader.origin = _normalize_name(parts[1].rstrip(".") + ".", None)
                reader.ignore("directive")
                continue
            if stripped.startswith("$"):
                reader.ignore("directive")
                continue
            if re.match(r"^v=(spf1|DMARC1|DKIM1)\b", stripped, re.IGNORECASE):
                # A bare record value, pasted without name or quotes.
                if not reader.default_name:
                    reader.reject(line_no, raw, "a record value without a name: pass "
                                  "default_name= or paste the zone line")
                else:
                    reader.rows.append(_row(reader.default_name, "TXT", stripped, 1,
                                            f"{reader.label} line {line_no}"))
                continue
        tokens, unterminated = _tokenize(raw)
        if unterminated:
            reader.reject(line_no, raw, "unterminated quoted string")
            pending, depth, pending_text = [], 0, []
            continue
        if depth == 0:
            pending, pending_start, pending_text = [], line_no, []
            starts_blank = raw[:1] in (" ", "\t")
            pending.append(("<blank-owner>", False) if starts_blank else ("", False))
        pending_text.append(raw)
        for token in tokens:
            if token == ("(", False):
                depth += 1
            elif token == (")", False):
                depth -= 1
            else:
                pending.append(token)
        if depth < 0:
            reader.reject(line_no, raw, "')' without '('")
            depth = 0
            continue
        if depth > 0:
            continue
        owner_marker = pending[0][0]
        record_tokens = pending[1:]
        location = f"{reader.label} line {pending_start}"
        try:
            owner, row = _parse_record(record_tokens, owner_marker == "<blank-owner>",
                                       previous_owner, reader, location)
        except ValueError as exc:
            reader.reject(pending_start, " ".join(pending_text), str(exc))
            continue
        if row is None:
            reader.ignore("not a record")
            continue
        previous_owner = owner
        if row["type"] in ("TXT", "SPF", "CNAME", "A", "AAAA", "MX"):
            reader.rows.append(row)
        else:
            reader.ignore(f"{row['type']} record")
    if depth > 0:
        reader.reject(pending_start, " ".join(pending_text), "'(' without ')'")
    close_dig_block()


def _row(name: str, rtype: str, value: str, strings: int, location: str) -> dict:
    return {"name": name, "type": rtype, "value": value, "strings": strings,
            "location": location}


def _parse_record(tokens, blank_owner, previous_owner, reader, location):
    if not tokens:
        return previous_owner, None
    if all(quoted for _, quoted in tokens):
        # dig +short: only the character-strings.
        if blank_owner and previous_owner is not None:
            raise ValueError("quoted strings on a line of their own after a record: a record "
                             "that spans lines must be wrapped in ( ... )")
        if not reader.default_name:
            raise ValueError("TXT strings without a name (dig +short output?): pass "
                             "default_name=")
        value = "".join(t for t, _ in tokens)
        return reader.default_name, _row(reader.default_name, "TXT", value, len(tokens),
                                         location)
    rest = list(tokens)
    if blank_owner and not (_TTL.match(rest[0][0]) or rest[0][0].upper() in _CLASSES
                            or _TYPE.match(rest[0][0])):
        blank_owner = False          # an indented paste, not a zone continuation line
    if blank_owner:
        if previous_owner is None:
            raise ValueError("a record without owner name and no previous record")
        owner = previous_owner
    else:
        text, quoted = rest.pop(0)
        if quoted:
            raise ValueError("the line starts with a quoted string, not a name")
        owner = _normalize_name(text, reader.origin)
    # [TTL] [class] or [class] [TTL], then the type.
    for _ in range(2):
        if rest and not rest[0][1] and (_TTL.match(rest[0][0])
                                        or rest[0][0].upper() in _CLASSES):
            rest.pop(0)
    if not rest or rest[0][1] or not _TYPE.match(rest[0][0]):
        found = rest[0][0] if rest else "nothing"
        raise ValueError(f"expected a record type (TXT, CNAME, ...) after the name, found "
                         f"{found!r}")
    rtype = rest.pop(0)[0].upper()
    if rtype in ("TXT", "SPF"):
        if not rest:
            raise ValueError("TXT record without data")
        value = "".join(t for t, _ in rest)
        return owner, _row(owner, "TXT", value, len(rest), location)
    if rtype == "CNAME":
        if len(rest) != 1:
            raise ValueError("CNAME needs exactly one target name")
        return owner, _row(owner, "CNAME", _normalize_name(rest[0][0], reader.origin), 1,
                           location)
    if rtype == "MX" and len(rest) == 2:
        return owner, _row(owner, "MX", _normalize_name(rest[1][0], reader.origin), 1,
                           location)
    return owner, _row(owner, rtype, " ".join(t for t, _ in rest), len(rest), location)


def parse_dns_records(
    records: Any,
    *,
    origin: str | None = None,
    default_name: str | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Read DNS records given as text, a file or a mapping into one table.

    Parameters
    ----------
    records : str, Path, mapping, DataFrame or a list of them
        A zone-file fragment or ``dig`` output as text (a ``str`` is always text, never a file
        name), a :class:`pathlib.Path` to such a file, a mapping ``{name: [txt, ...]}`` (a
        ``txt`` may be a list of character-strings, an empty list means "no TXT record"), or a
        table this function returned.
    origin : str, optional
        Zone origin for relative names and ``@`` (``$ORIGIN`` in the text overrides it).
    default_name : str, optional
        Owner name for lines that carry only a value (``dig +short`` output, a pasted
        ``v=spf1 ...``).

    Returns
    -------
    records : DataFrame
        :data:`RECORD_COLUMNS`: ``name`` (lower case, no trailing dot), ``type`` (``TXT``,
        ``CNAME``, ``A``, ``AAAA``, ``MX``; ``NODATA`` and ``NXDOMAIN`` mark a name that was
        queried and has no TXT record / does not exist), ``value`` (character-strings joined),
        ``strings`` [count], ``location`` (source and line).
    meta : dict
        ``sources``, ``lines_read``, ``records``, ``ignored`` (count by reason: blank lines,
        comments, directives, other record types), ``quarantined`` and ``quarantine`` (one
        dict per line that could not be read: ``source``, ``location``, ``reason``, ``text``).

    Examples
    --------
    >>> zone = '''$ORIGIN example.com.
    ... @        3600 IN TXT "v=spf1 include:_spf.google.com " "~all"
    ... _dmarc        IN TXT ( "v=DMARC1; p=none; "
    ...                        "rua=mailto:dmarc@example.com" )'''
    >>> table, meta = parse_dns_records(zone)
    >>> table[["name", "value"]].to_numpy().tolist()  # doctest: +NORMALIZE_WHITESPACE
    [['example.com', 'v=spf1 include:_spf.google.com ~all'],
     ['_dmarc.example.com', 'v=DMARC1; p=none; rua=mailto:dmarc@example.com']]
    """
    origin = _normalize_name(origin.rstrip(".") + ".", None) if origin else None
    items = records if isinstance(records, list | tuple) else [records]
    frames, quarantine, ignored, sources, lines_read = [], [], {}, [], 0
    for index, item in enumerate(items):
        if isinstance(item, pd.DataFrame):
            missing = set(RECORD_COLUMNS) - set(item.columns)
            if missing:
                raise ValueError(f"records table (item {index}) lacks columns {sorted(missing)}")
            frames.append(item[list(RECORD_COLUMNS)])
            sources.append(f"<table {index}>")
            continue
        if isinstance(item, Mapping):
            rows = []
            for name, values in item.items():
                owner = _normalize_name(str(name), origin)
                if isinstance(values, str):
                    values = [values]
                values = list(values)
                if not values:
                    rows.append(_row(owner, "NODATA", "", 0, f"<mapping {index}> {name}"))
                for value in values:
                    parts = [value] if isinstance(value, str) else [str(v) for v in value]
                    rows.append(_row(owner, "TXT", "".join(parts), len(parts),
                                     f"<mapping {index}> {name}"))
            frames.append(pd.DataFrame(rows, columns=list(RECORD_COLUMNS)))
            sources.append(f"<mapping {index}>")
            continue
        if isinstance(item, Path):
            label, text = str(item), item.read_text(encoding="utf-8")
        elif isinstance(item, str):
            label, text = f"<text {index}>", item
        else:
            raise TypeError(f"records item {index}: expected text, a Path, a mapping or a "
                            f"DataFrame, not {type(item).__name__}")
        reader = _Reader(label, origin, default_name.lower().rstrip(".") if default_name
                         else None)
        _read_text(text, reader)
        frames.append(pd.DataFrame(reader.rows, columns=list(RECORD_COLUMNS)))
        quarantine.extend(reader.quarantine)
        for reason, count in reader.ignored.items():
            ignored[reason] = ignored.get(reason, 0) + count
        sources.append(label)
        lines_read += reader.lines_read
    frames = [f for f in frames if len(f)]
    table = (pd.concat(frames, ignore_index=True) if frames
             else pd.DataFrame(columns=list(RECORD_COLUMNS)))
    table = table.astype({"name": "string", "type": "string", "value": "string",
                          "strings": "int64", "location": "string"})
    meta = {"sources": sources, "lines_read": lines_read, "records": len(table),
            "ignored": ignored, "quarantined": len(quarantine), "quarantine": quarantine}
    return table, meta


# --------------------------------------------------------------------------------------------
# SPF
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpfTerm:
    """One term of an SPF record.

    Attributes
    ----------
    text : str
        The term as written.
    kind : {"mechanism", "modifier"}
    qualifier : str
        ``+``, ``-``, ``~`` or ``?`` for a mechanism (``+`` when none is written); empty for a
        modifier.
    name : str
        Mechanism or modifier name, lower case.
    target : str or None
        The domain-spec (``include``, ``a``, ``mx``, ``ptr``, ``exists``, ``redirect``,
        ``exp``) or the network (``ip4``, ``ip6``).
    """

    text: str
    kind: str
    qualifier: str
    name: str
    target: str | None


_DOMAIN_SPEC = re.compile(r"^([A-Za-z0-9_\-.]|%\{[slodiphcrtvSLODIPHCRTV]\d*[rR]?[.\-+,/_=]*\}"
                          r"|%%|%_|%-)+$")
_MODIFIER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9\-_.]*$")


def is_spf_record(text: str) -> bool:
    """True when ``text`` is an SPF record: ``v=spf1`` then a space or the end (RFC 7208 4.5)."""
    return re.match(r"^v=spf1(\s|$)", text.strip(), re.IGNORECASE) is not None


def _valid_domain_spec(spec: str) -> bool:
    if not spec or not _DOMAIN_SPEC.match(spec):
        return False
    if "%" in spec:
        return True
    labels = spec.rstrip(".").split(".")
    return len(labels) >= 2 and all(0 < len(label) <= 63 for label in labels)


def parse_spf(text: str) -> tuple[list[SpfTerm], list[tuple[str, str]]]:
    """Terms of an SPF record and the syntax problems found in it.

    Parameters
    ----------
    text : str
        The record, ``v=spf1 ...``.

    Returns
    -------
    terms : list of SpfTerm
        Every term that could be read, in order (the version is not a term).
    problems : list of (code, message)
        Codes of :data:`FINDINGS` (``spf_unknown_mechanism``, ``spf_invalid_term``,
        ``spf_duplicate_modifier``, ``spf_modifier_looks_like_mechanism``).

    Examples
    --------
    >>> terms, problems = parse_spf("v=spf1 ip4:192.0.2.0/24 include:_spf.example.net -all")
    >>> [(t.qualifier, t.name, t.target) for t in terms]  # doctest: +NORMALIZE_WHITESPACE
    [('+', 'ip4', '192.0.2.0/24'), ('+', 'include', '_spf.example.net'), ('-', 'all', None)]
    >>> parse_spf("v=spf1 ip4:192.0.2.300 -all")[1]
    [('spf_invalid_term', "ip4:192.0.2.300: '192.0.2.300' is not an IPv4 network")]
    """
    if not is_spf_record(text):
        raise ValueError(f"not an SPF record (must start with 'v=spf1'): {text[:40]!r}")
    terms: list[SpfTerm] = []
    problems: list[tuple[str, str]] = []
    seen_modifiers: set[str] = set()
    for raw in text.split()[1:]:
        match = re.match(r"^([A-Za-z][A-Za-z0-9\-_.]*)=(.*)$", raw)
        if match:
            name, value = match.group(1).lower(), match.group(2)
            if not _MODIFIER_NAME.match(match.group(1)):
                problems.append(("spf_invalid_term", f"{raw}: not a valid modifier name"))
                continue
            if name in ("redirect", "exp"):
                if name in seen_modifiers:
                    problems.append(("spf_duplicate_modifier", f"{raw}: {name}= appears "
                                     "more than once"))
                seen_modifiers.add(name)
                if not _valid_domain_spec(value):
                    problems.append(("spf_invalid_term", f"{raw}: {value!r} is not a domain"))
                    continue
            elif name in _SPF_MECHANISMS:
                problems.append(("spf_modifier_looks_like_mechanism",
                                 f"{raw}: '{name}=' is an unknown modifier; the mechanism is "
                                 f"written '{name}:'"))
            terms.append(SpfTerm(raw, "modifier", "", name, value))
            continue
        qualifier = "+"
        body = raw
        if body[:1] in _QUALIFIERS:
            qualifier, body = body[0], body[1:]
        match = re.match(r"^([A-Za-z0-9]+)(.*)$", body)
        name = match.group(1).lower() if match else ""
        rest = match.group(2) if match else body
        if name not in _SPF_MECHANISMS:
            problems.append(("spf_unknown_mechanism", f"{raw}: unknown mechanism "
                             f"{(name or body)!r}"))
            continue
        target: str | None = None
        problem = None
        if name == "all":
            if rest:
                problem = f"{raw}: 'all' takes no argument"
        elif name in ("ip4", "ip6"):
            if not rest.startswith(":") or len(rest) < 2:
                problem = f"{raw}: {name} needs ':network'"
            else:
                target = rest[1:]
                try:
                    network = ipaddress.ip_network(target, strict=False)
                    if network.version != (4 if name == "ip4" else 6):
                        raise ValueError
                except ValueError:
                    kind = "IPv4" if name == "ip4" else "IPv6"
                    problem = f"{raw}: {target!r} is not an {kind} network"
        else:
            # a, mx, ptr, include, exists: [":" domain-spec] [cidr]
            spec, cidr = rest, ""
            if name in ("a", "mx"):
                cidr_match = re.search(r"(/\d+)?(//\d+)?$", rest)
                cidr = cidr_match.group(0) if cidr_match else ""
                spec = rest[:len(rest) - len(cidr)]
                v4 = re.match(r"^/(\d+)", cidr)
                v6 = re.search(r"//(\d+)$", cidr)
                if (v4 and not cidr.startswith("//") and int(v4.group(1)) > 32) or (
                        v6 and int(v6.group(1)) > 128):
                    problem = f"{raw}: prefix length out of range"
            if spec:
                if not spec.startswith(":") or not _valid_domain_spec(spec[1:]):
                    problem = problem or f"{raw}: {spec.lstrip(':')!r} is not a domain"
                else:
                    target = spec[1:]
            elif name in ("include", "exists"):
                problem = f"{raw}: {name} needs ':domain'"
        if problem:
            problems.append(("spf_invalid_term", problem))
            continue
        terms.append(SpfTerm(raw, "mechanism", qualifier, name, target))
    return terms, problems


# --------------------------------------------------------------------------------------------
# DMARC
# --------------------------------------------------------------------------------------------

_DMARC_POLICIES = ("none", "quarantine", "reject")
_DMARC_KNOWN_TAGS = ("v", "p", "sp", "pct", "adkim", "aspf", "rua", "ruf", "fo", "rf", "ri")


def is_dmarc_record(text: str) -> bool:
    """True when ``text`` starts with the ``v=DMARC1`` tag (RFC 7489 section 6.6.3 step 3)."""
    return re.match(r"^v\s*=\s*DMARC1\s*(;|$)", text.strip(), re.IGNORECASE) is not None


def _tag_value_pairs(text: str) -> list[tuple[str, str | None]]:
    """The non-empty ``;``-separated parts of a tag=value record (DMARC, DKIM) as ``(name,
    value)``, both stripped, or ``(part, None)`` for a part without ``=``.

    >>> _tag_value_pairs(" v=DKIM1; k = rsa ;; junk ")
    [('v', 'DKIM1'), ('k', 'rsa'), ('junk', None)]
    """
    pairs: list[tuple[str, str | None]] = []
    for part in text.strip().split(";"):
        part = part.strip()
        if not part:
            continue
        if "=" not in part:
            pairs.append((part, None))
            continue
        name, value = part.split("=", 1)
        pairs.append((name.strip(), value.strip()))
    return pairs


def parse_dmarc(text: str) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Tags of a DMARC record and the problems found in them.

    Parameters
    ----------
    text : str
        The record, ``v=DMARC1; p=...``.

    Returns
    -------
    tags : dict
        Tag name -> value as written (first occurrence), with RFC 7489 defaults filled in for
        ``sp`` (= ``p``), ``pct`` (100), ``adkim`` and ``aspf`` (``r``), ``fo`` (0), ``ri``
        (86400), when the record does not set them.
    problems : list of (code, message)

    Examples
    --------
    >>> tags, problems = parse_dmarc("v=DMARC1; p=quarantine; pct=50; rua=mailto:d@example.com")
    >>> tags["p"], tags["sp"], tags["pct"], tags["adkim"]
    ('quarantine', 'quarantine', '50', 'r')
    >>> problems
    []
    """
    problems: list[tuple[str, str]] = []
    tags: dict[str, str] = {}
    for position, (name, value) in enumerate(_tag_value_pairs(text)):
        if value is None:
            problems.append(("dmarc_syntax", f"{name!r} is not a tag=value pair"))
            continue
        if position == 0 and name != "v":
            problems.append(("dmarc_syntax", "the first tag must be v=DMARC1"))
        if name in tags:
            problems.append(("dmarc_invalid_value", f"tag {name}= appears more than once"))
            continue
        tags[name] = value
    if tags.get("v") != "DMARC1":
        if tags.get("v", "").upper() == "DMARC1":
            problems.append(("dmarc_syntax", f"v={tags['v']}: the version is 'DMARC1', in "
                             "capitals"))
        elif "v" in tags:
            problems.append(("dmarc_syntax", f"v={tags['v']} is not DMARC1"))
    policy = tags.get("p")
    if policy is None:
        problems.append(("dmarc_invalid_policy", "no p= tag"))
    elif policy.lower() not in _DMARC_POLICIES:
        problems.append(("dmarc_invalid_policy", f"p={policy} is not none, quarantine or "
                         "reject"))
    if "sp" in tags and tags["sp"].lower() not in _DMARC_POLICIES:
        problems.append(("dmarc_invalid_value", f"sp={tags['sp']} is not none, quarantine or "
                         "reject"))
    if "pct" in tags and not (tags["pct"].isdigit() and 0 <= int(tags["pct"]) <= 100):
        problems.append(("dmarc_invalid_value", f"pct={tags['pct']} is not a whole number "
                         "from 0 to 100"))
    for tag in ("adkim", "aspf"):
        if tag in tags and tags[tag].lower() not in ("r", "s"):
            problems.append(("dmarc_invalid_value", f"{tag}={tags[tag]} is not r or s"))
    if "fo" in tags and not all(x.strip() in ("0", "1", "d", "s")
                                for x in tags["fo"].split(":")):
        problems.append(("dmarc_invalid_value", f"fo={tags['fo']}: options are 0, 1, d, s "
                         "separated by ':'"))
    if "ri" in tags and not tags["ri"].isdigit():
        problems.append(("dmarc_invalid_value", f"ri={tags['ri']} is not a whole number of "
                         "seconds"))
    if "rf" in tags and tags["rf"].lower() != "afrf":
        problems.append(("dmarc_invalid_value", f"rf={tags['rf']}: the only format is afrf"))
    for tag in ("rua", "ruf"):
        for uri in _report_uris(tags.get(tag, "")):
            if not uri.lower().startswith("mailto:"):
                problems.append(("dmarc_non_mailto_uri", f"{tag}: {uri!r} is not a mailto: "
                                 "URI"))
            elif "@" not in uri:
                problems.append(("dmarc_invalid_value", f"{tag}: {uri!r} has no address"))
    for name in tags:
        if name not in _DMARC_KNOWN_TAGS:
            problems.append(("dmarc_unknown_tag", f"unknown tag {name}="))
    defaults = {"pct": "100", "adkim": "r", "aspf": "r", "fo": "0", "ri": "86400"}
    if policy is not None:
        defaults["sp"] = policy
    return {**defaults, **tags}, problems


def _report_uris(value: str) -> list[str]:
    return [u.strip() for u in value.split(",") if u.strip()]


def _uri_domain(uri: str) -> str | None:
    address = re.sub(r"!\d+[kmgtKMGT]?$", "", uri.split(":", 1)[-1])
    return address.rsplit("@", 1)[-1].lower().rstrip(".") if "@" in address else None


# --------------------------------------------------------------------------------------------
# DKIM
# --------------------------------------------------------------------------------------------


def _der_length(data: bytes, offset: int) -> tuple[int, int]:
    """Length of a DER element whose length octets start at ``offset``: (length, next)."""
    if offset >= len(data):
        raise ValueError("truncated DER")
    first = data[offset]
    if first < 0x80:
        return first, offset + 1
    count = first & 0x7F
    if count == 0 or count > 4 or offset + 1 + count > len(data):
        raise ValueError("bad DER length")
    return int.from_bytes(data[offset + 1:offset + 1 + count], "big"), offset + 1 + count


def _der_element(data: bytes, offset: int, tag: int) -> tuple[bytes, int]:
    """Content of the DER element with ``tag`` at ``offset``: (content, next offset)."""
    if offset >= len(data) or data[offset] != tag:
        found = f"0x{data[offset]:02x}" if offset < len(data) else "end of data"
        raise ValueError(f"expected DER tag 0x{tag:02x}, found {found}")
    length, start = _der_length(data, offset + 1)
    if start + length > len(data):
        raise ValueError("truncated DER")
    return data[start:start + length], start + length


_SEQUENCE, _INTEGER, _BIT_STRING = 0x30, 0x02, 0x03


def rsa_modulus_bits(der: bytes) -> int:
    """Length of an RSA public key's modulus [bits] from its DER encoding.

    Accepts a SubjectPublicKeyInfo (what ``openssl rsa -pubout`` writes and DKIM records
    carry) or a bare PKCS#1 RSAPublicKey. Reads the ASN.1 structure with a small DER length
    reader; no cryptography package needed.

    Parameters
    ----------
    der : bytes
        The decoded ``p=`` value of a DKIM key record.

    Returns
    -------
    int
        Bit length of the modulus ``n`` [bits].

    Raises
    ------
    ValueError
        When the bytes are not an RSA public key.
    """
    outer, _ = _der_element(der, 0, _SEQUENCE)
    if outer[:1] == bytes([_SEQUENCE]):
        # SubjectPublicKeyInfo: SEQUENCE { AlgorithmIdentifier, BIT STRING { RSAPublicKey } }
        algorithm, offset = _der_element(outer, 0, _SEQUENCE)
        if b"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01" not in algorithm:   # rsaEncryption OID
            raise ValueError("the key is not an RSA key (algorithm OID is not rsaEncryption)")
        bits, _ = _der_element(outer, offset, _BIT_STRING)
        if not bits or bits[0] != 0:
            raise ValueError("bad BIT STRING padding")
        outer, _ = _der_element(bits[1:], 0, _SEQUENCE)
    modulus, offset = _der_element(outer, 0, _INTEGER)
    _der_element(outer, offset, _INTEGER)                                # public exponent
    modulus = modulus.lstrip(b"\x00")
    if not modulus:
        raise ValueError("zero modulus")
    return int.from_bytes(modulus, "big").bit_length()


def parse_dkim(text: str) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Tags of a DKIM key record (``v=DKIM1; k=rsa; p=...``) and the syntax problems found.

    Whitespace inside tag values (a key split across strings or lines) is removed
    (RFC 6376 section 3.2).

    Returns
    -------
    tags : dict
        Tag name -> value, ``k`` defaulting to ``rsa``.
    problems : list of (code, message)
    """
    tags: dict[str, str] = {}
    problems: list[tuple[str, str]] = []
    for position, (name, value) in enumerate(_tag_value_pairs(text)):
        if value is None:
            problems.append(("dkim_syntax", f"{name[:30]!r} is not a tag=value pair"))
            continue
        if name == "v" and position != 0:
            problems.append(("dkim_syntax", "v= must be the first tag"))
        if name in tags:
            problems.append(("dkim_syntax", f"tag {name}= appears more than once"))
            continue
        tags[name] = re.sub(r"\s+", "", value)
    if "v" in tags and tags["v"] != "DKIM1":
        problems.append(("dkim_syntax", f"v={tags['v']} is not DKIM1"))
    if "p" not in tags:
        problems.append(("dkim_syntax", "no p= tag (the public key)"))
    tags.setdefault("k", "rsa")
    return tags, problems


def dkim_key(p: str, key_type: str = "rsa") -> tuple[str, int | None]:
    """Algorithm and size of a DKIM public key.

    Parameters
    ----------
    p : str
        The ``p=`` tag value (base64; whitespace is ignored).
    key_type : {"rsa", "ed25519"}
        The ``k=`` tag.

    Returns
    -------
    algorithm : str
    bits : int or None
        RSA modulus length [bits]; 256 for an ed25519 key; None for a revoked (empty) key.

    Raises
    ------
    ValueError
        Not base64, or not a key of that type.
    """
    p = re.sub(r"\s+", "", p)
    if not p:
        return key_type, None
    try:
        der = base64.b64decode(p, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"p= is not valid base64 ({exc})") from None
    if key_type == "ed25519":
        if len(der) != 32:
            raise ValueError(f"an ed25519 key is 32 bytes, this one {len(der)}")
        return "ed25519", 256
    if key_type != "rsa":
        raise ValueError(f"unknown key type k={key_type}")
    return "rsa", rsa_modulus_bits(der)


# --------------------------------------------------------------------------------------------
# The checks
# --------------------------------------------------------------------------------------------


@dataclass
class DnsCheck:
    """Findings of :func:`check_dns`.

    Attributes
    ----------
    findings : DataFrame
        One row per finding, :data:`FINDING_COLUMNS`: ``domain`` checked, ``check``
        (``spf``, ``dmarc``, ``dkim``, ``bulk_sender``, ``input``), ``code`` (a key of
        :data:`FINDINGS`), ``severity``, ``record_name`` and ``record`` (the text) the finding
        is about, ``message`` (what was found), ``consequence`` (what it does to mail),
        ``source`` (RFC section or fact id). Sorted by domain and severity.
    summary : DataFrame
        One row per domain: ``domain``; SPF: ``spf_record`` (bool), ``spf_valid`` (boolean,
        NA without record), ``spf_all`` (the final ``all`` term or ``redirect``),
        ``spf_lookups`` [count of DNS-querying terms], ``spf_lookups_exact`` (False when
        records were not given), ``spf_not_given`` (names not followed),
        ``spf_void_lookups`` [count]; DMARC: ``dmarc_record`` (bool), ``dmarc_record_name``,
        ``dmarc_policy``, ``dmarc_subdomain_policy``, ``dmarc_pct`` [percent 0-100, as the
        tag writes it], ``dmarc_rua`` (bool), ``dmarc_adkim``, ``dmarc_aspf``; DKIM:
        ``dkim_selectors`` [count given], ``dkim_usable_selectors`` [count: a key of at least
        1024 bits, not revoked, not testing], ``dkim_min_rsa_bits`` [bits];
        ``bulk_sender_dns_ready`` (boolean, NA when DKIM was not given: DMARC published, SPF
        valid, a usable DKIM key; F2, F7, F8), ``errors``, ``warnings``, ``infos`` [count].
    lookups : DataFrame
        The SPF lookup tree: ``domain``, ``depth`` (0 for the domain's own record),
        ``record_name`` (the record the term is in), ``path`` (the chain of includes from the
        domain), ``term``, ``counts`` (1 when the term makes a DNS query), ``target``,
        ``target_given`` (the target's TXT records were given), ``void`` (the lookup is known
        to find nothing).
    dkim : DataFrame
        One row per DKIM selector: ``domain``, ``selector``, ``record_name``, ``key_type``,
        ``bits``, ``testing``, ``revoked``, ``delegated_to``, ``usable``.
    records : DataFrame
        The records read (:func:`parse_dns_records`).
    meta : dict
        The reader's ``meta``.
    """

    findings: pd.DataFrame
    summary: pd.DataFrame
    lookups: pd.DataFrame
    dkim: pd.DataFrame
    records: pd.DataFrame
    meta: dict

    def _repr_html_(self) -> str:
        return self.summary._repr_html_()


class _Zone:
    """The records given, indexed for the checks."""

    def __init__(self, records: pd.DataFrame):
        self.txt: dict[str, list[tuple[str, str]]] = {}
        self.cname: dict[str, tuple[str, str]] = {}
        self.nodata: set[str] = set()
        self.nxdomain: set[str] = set()
        self.names: set[str] = set()
        for name, rtype, value, location in records[["name", "type", "value",
                                                     "location"]].itertuples(index=False):
            name = str(name)
            self.names.add(name)
            if rtype == "TXT":
                self.txt.setdefault(name, []).append((str(value), str(location)))
            elif rtype == "CNAME":
                self.cname[name] = (str(value), str(location))
            elif rtype == "NODATA":
                self.nodata.add(name)
            elif rtype == "NXDOMAIN":
                self.nxdomain.add(name)

    def spf(self, name: str) -> list[str]:
        return [v for v, _ in self.txt.get(name, []) if is_spf_record(v)]

    def dmarc(self, name: str) -> list[str]:
        return [v for v, _ in self.txt.get(name, []) if is_dmarc_record(v)]

    def txt_given(self, name: str) -> bool:
        return name in self.txt or name in self.nodata or name in self.nxdomain

    def no_txt(self, name: str) -> bool:
        return name not in self.txt and (name in self.nodata or name in self.nxdomain)


class _Findings:
    def __init__(self):
        self.rows: list[dict] = []
        self._seen: set[tuple] = set()

    def add(self, domain: str, code: str, record_name: str, record: str, message: str) -> None:
        key = (domain, code, record_name, message)
        if key in self._seen:
            return
        self._seen.add(key)
        kind = FINDINGS[code]
        self.rows.append({"domain": domain, "check": kind.check, "code": code,
                          "severity": kind.severity, "record_name": record_name,
                          "record": record, "message": message,
                          "consequence": kind.consequence, "source": kind.source})


@dataclass
class _SpfCount:
    lookups: int = 0
    void: int = 0
    not_given: list[str] = field(default_factory=list)
    exact: bool = True
    valid: bool = True
    rows: list[dict] = field(default_factory=list)


def _check_spf_record(domain: str, name: str, record: str, zone: _Zone, out: _Findings,
                      count: _SpfCount, path: tuple[str, ...], depth: int) -> str | None:
    """Check one SPF record, follow its includes; returns the effective 'all' term."""
    terms, problems = parse_spf(record)
    for code, message in problems:
        out.add(domain, code, name, record, message)
        if FINDINGS[code].severity == "error":
            count.valid = False
    all_index = next((i for i, t in enumerate(terms) if t.kind == "mechanism"
                      and t.name == "all"), None)
    redirect = next((t for t in terms if t.kind == "modifier" and t.name == "redirect"), None)
    if all_index is not None:
        later = [t.text for t in terms[all_index + 1:] if t.kind == "mechanism"]
        if later:
            out.add(domain, "spf_terms_after_all", name, record,
                    f"never evaluated after {terms[all_index].text}: {' '.join(later)}")
        if redirect is not None:
            out.add(domain, "spf_redirect_ignored", name, record,
                    f"{redirect.text} is ignored: the record ends with {terms[all_index].text}")
            redirect = None
    evaluated = [t for i, t in enumerate(terms) if t.kind == "mechanism"
                 and (all_index is None or i <= all_index)]
    for term in evaluated + ([redirect] if redirect is not None else []):
        if term.name == "ptr":
            out.add(domain, "spf_ptr", name, record, f"{term.text} uses the ptr mechanism")
        counts = term.name in SPF_LOOKUP_TERMS
        target = term.target or (name if term.name in ("a", "mx") else None)
        row = {"domain": domain, "depth": depth, "record_name": name,
               "path": " > ".join(path), "term": term.text, "counts": int(counts),
               "target": target, "target_given": None, "void": False}
        count.rows.append(row)
        if not counts:
            continue
        count.lookups += 1
        if target and "%" in target:
            count.exact = False
            out.add(domain, "spf_macro_unresolved", name, record,
                    f"{term.text}: the target depends on the message")
            continue
        if target and target in zone.nxdomain:
            row["void"] = True
            count.void += 1
        if term.name not in ("include", "redirect"):
            continue
        row["target_given"] = zone.txt_given(target)
        if target in path:
            count.valid = False
            out.add(domain, "spf_include_loop", name, record,
                    f"{term.text} leads back to {target} ({' > '.join(path + (target,))})")
            continue
        if not zone.txt_given(target):
            count.exact = False
            if target not in count.not_given:
                count.not_given.append(target)
            continue
        if zone.no_txt(target):
            if not row["void"]:
                row["void"] = True
                count.void += 1
            count.valid = False
            out.add(domain, "spf_include_without_spf", name, record,
                    f"{term.text}: {target} has no TXT record")
            continue
        records = zone.spf(target)
        if len(records) != 1:
            count.valid = False
            what = "no SPF record" if not records else f"{len(records)} SPF records"
            out.add(domain, "spf_include_without_spf", name, record,
                    f"{term.text}: {target} has {what}")
            if len(records) > 1:
                out.add(domain, "spf_multiple_records", target, " | ".join(records),
                        f"{target} publishes {len(records)} SPF records")
            continue
        _check_spf_record(domain, target, records[0], zone, out, count, path + (target,),
                          depth + 1)
    if all_index is not None:
        if depth > 0 and terms[all_index].qualifier == "+":
            out.add(domain, "spf_pass_all", name, record,
                    f"{name}, included by {path[-2]}, ends with +all: every host passes")
        return terms[all_index].qualifier + "all"
    if redirect is not None:
        return f"redirect={redirect.target}"
    return None


def _check_spf(domain: str, zone: _Zone, out: _Findings) -> tuple[dict, list[dict]]:
    records = zone.spf(domain)
    result = {"spf_record": bool(records), "spf_valid": pd.NA, "spf_all": None,
              "spf_lookups": pd.NA, "spf_lookups_exact": pd.NA, "spf_not_given": "",
              "spf_void_lookups": pd.NA}
    if not records:
        out.add(domain, "spf_missing", domain, "", f"{domain} publishes no SPF record"
                + ("" if zone.txt_given(domain) else " (no TXT record for it was given)"))
        return result, []
    if len(records) > 1:
        out.add(domain, "spf_multiple_records", domain, " | ".join(records),
                f"{domain} publishes {len(records)} SPF records")
        result["spf_valid"] = False
        return result, []
    record = records[0]
    count = _SpfCount()
    final = _check_spf_record(domain, domain, record, zone, out, count, (domain,), 0)
    if final == "+all":
        out.add(domain, "spf_pass_all", domain, record, "the record ends with +all")
    elif final == "?all":
        out.add(domain, "spf_neutral_all", domain, record, "the record ends with ?all")
    elif final is None:
        out.add(domain, "spf_no_all", domain, record, "the record has no 'all' and no redirect")
    if count.lookups > SPF_LOOKUP_LIMIT:
        count.valid = False
        bound = "" if count.exact else " at least"
        out.add(domain, "spf_too_many_lookups", domain, record,
                f"{count.lookups}{bound} DNS-querying terms (limit {SPF_LOOKUP_LIMIT})")
    if not count.exact:
        missing = ", ".join(count.not_given) if count.not_given else "macro targets"
        out.add(domain, "spf_lookups_lower_bound", domain, record,
                f"{count.lookups} lookups counted; not given: {missing}")
    if count.void > SPF_VOID_LOOKUP_LIMIT:
        count.valid = False
        out.add(domain, "spf_void_lookups", domain, record,
                f"{count.void} void lookups (limit {SPF_VOID_LOOKUP_LIMIT})")
    result.update(spf_valid=count.valid, spf_all=final, spf_lookups=count.lookups,
                  spf_lookups_exact=count.exact, spf_not_given=", ".join(count.not_given),
                  spf_void_lookups=count.void)
    return result, count.rows


def _dmarc_record_for(domain: str, zone: _Zone) -> tuple[str | None, bool]:
    """Name of the DMARC record that applies to ``domain`` and whether it is a parent's."""
    labels = domain.split(".")
    for start in range(len(labels) - 1):
        name = "_dmarc." + ".".join(labels[start:])
        if zone.dmarc(name):
            return name, start > 0
    return None, False


def _check_dmarc(domain: str, zone: _Zone, out: _Findings) -> dict:
    result = {"dmarc_record": False, "dmarc_record_name": None, "dmarc_policy": None,
              "dmarc_subdomain_policy": None, "dmarc_pct": pd.NA, "dmarc_rua": False,
              "dmarc_adkim": None, "dmarc_aspf": None, "dmarc_valid": False}
    name, inherited = _dmarc_record_for(domain, zone)
    records = zone.dmarc(name) if name else []
    if not records:
        where = f"_dmarc.{domain}"
        given = "" if zone.txt_given(where) else " (none was given)"
        out.add(domain, "dmarc_missing", where, "", f"no DMARC record at {where}{given}")
        return result
    if len(records) > 1:
        out.add(domain, "dmarc_multiple_records", name, " | ".join(records),
                f"{name} publishes {len(records)} DMARC records")
        result.update(dmarc_record=True, dmarc_record_name=name)
        return result
    record = records[0]
    if inherited:
        out.add(domain, "dmarc_inherited", name, record,
                f"{domain} has no record of its own; {name} applies")
    tags, problems = parse_dmarc(record)
    for code, message in problems:
        out.add(domain, code, name, record, message)
    syntax_ok = not any(code == "dmarc_syntax" for code, _ in problems)
    rua = [u for u in _report_uris(tags.get("rua", "")) if u.lower().startswith("mailto:")]
    policy_key = "sp" if inherited else "p"
    policy = tags.get(policy_key, tags.get("p", "")).lower()
    if policy not in _DMARC_POLICIES:
        policy = "none" if rua and syntax_ok else None
    if policy == "none":
        out.add(domain, "dmarc_policy_none", name, record,
                f"{policy_key}=none" + (" (applied for an invalid p= because rua is valid)"
                                        if tags.get(policy_key, "").lower() != "none" else ""))
    if not rua:
        out.add(domain, "dmarc_no_rua", name, record, "no rua= (aggregate report address)")
    if tags.get("pct", "100").isdigit() and int(tags["pct"]) < 100 and policy in (
            "quarantine", "reject"):
        out.add(domain, "dmarc_partial_pct", name, record,
                f"pct={tags['pct']}: {policy} applies to {tags['pct']}% of failing mail")
    for tag in ("adkim", "aspf"):
        if tags.get(tag, "r").lower() == "s":
            out.add(domain, "dmarc_strict_alignment", name, record, f"{tag}=s")
    if tags.get("p", "").lower() in ("quarantine", "reject") and tags.get(
            "sp", "").lower() == "none":
        out.add(domain, "dmarc_subdomain_weaker", name, record,
                f"p={tags['p']} but sp=none")
    organizational = name.removeprefix("_dmarc.")
    for tag in ("rua", "ruf"):
        for uri in _report_uris(tags.get(tag, "")):
            target = _uri_domain(uri)
            if not target or not uri.lower().startswith("mailto:"):
                continue
            if target == organizational or target.endswith("." + organizational):
                continue
            auth = f"{organizational}._report._dmarc.{target}"
            wildcard = f"*._report._dmarc.{target}"
            if zone.dmarc(auth) or zone.dmarc(wildcard):
                continue
            if zone.txt_given(auth):
                out.add(domain, "dmarc_external_destination_unauthorized", name, record,
                        f"{tag} goes to {target}, and {auth} has no v=DMARC1 record")
            else:
                out.add(domain, "dmarc_external_destination", name, record,
                        f"{tag} goes to {target}; {auth} was not given")
    valid = syntax_ok and policy is not None
    result.update(dmarc_record=True, dmarc_record_name=name, dmarc_policy=policy,
                  dmarc_subdomain_policy=tags.get("sp", "").lower() or None,
                  dmarc_pct=int(tags["pct"]) if tags.get("pct", "").isdigit() else pd.NA,
                  dmarc_rua=bool(rua), dmarc_adkim=tags.get("adkim"),
                  dmarc_aspf=tags.get("aspf"), dmarc_valid=valid)
    return result


def _check_dkim(domain: str, zone: _Zone, out: _Findings) -> list[dict]:
    suffix = f"._domainkey.{domain}"
    names = sorted({n for n in list(zone.txt) + list(zone.cname)
                    if n.endswith(suffix) and len(n) > len(suffix)})
    rows = []
    for name in names:
        selector = name[:-len(suffix)]
        row = {"domain": domain, "selector": selector, "record_name": name, "key_type": None,
               "bits": pd.NA, "testing": False, "revoked": False, "delegated_to": None,
               "usable": False}
        rows.append(row)
        records = [v for v, _ in zone.txt.get(name, [])]
        if not records and name in zone.cname:
            target = zone.cname[name][0]
            row["delegated_to"] = target
            target_records = [v for v, _ in zone.txt.get(target, [])]
            if not target_records:
                out.add(domain, "dkim_delegated", name, f"CNAME {target}",
                        f"selector {selector!r} points to {target}")
                row["usable"] = pd.NA
                continue
            records = target_records
        if len(records) != 1:
            out.add(domain, "dkim_syntax", name, " | ".join(records),
                    f"selector {selector!r} has {len(records)} TXT records, one expected")
            continue
        record = records[0]
        tags, problems = parse_dkim(record)
        for code, message in problems:
            out.add(domain, code, name, record, f"selector {selector!r}: {message}")
        if any(c == "dkim_syntax" for c, _ in problems):
            continue
        key_type = tags["k"].lower()
        row["key_type"] = key_type
        if key_type not in ("rsa", "ed25519"):
            out.add(domain, "dkim_unknown_key_type", name, record,
                    f"selector {selector!r}: k={tags['k']}")
            continue
        flags = [f.strip() for f in tags.get("t", "").split(":")]
        if "y" in flags:
            row["testing"] = True
            out.add(domain, "dkim_testing", name, record, f"selector {selector!r}: t=y")
        hashes = [h.strip().lower() for h in tags.get("h", "").split(":") if h.strip()]
        if hashes and "sha256" not in hashes:
            out.add(domain, "dkim_sha1_only", name, record,
                    f"selector {selector!r}: h={tags['h']}")
            continue
        try:
            algorithm, bits = dkim_key(tags.get("p", ""), key_type)
        except ValueError as exc:
            out.add(domain, "dkim_invalid_key", name, record, f"selector {selector!r}: {exc}")
            continue
        if bits is None:
            row["revoked"] = True
            out.add(domain, "dkim_revoked", name, record, f"selector {selector!r}: empty p=")
            continue
        row["bits"] = bits
        if algorithm == "ed25519":
            out.add(domain, "dkim_ed25519", name, record, f"selector {selector!r}: ed25519")
        elif bits < DKIM_MIN_BITS:
            out.add(domain, "dkim_key_too_short", name, record,
                    f"selector {selector!r}: {bits}-bit RSA key")
            continue
        elif bits < DKIM_RECOMMENDED_BITS:
            out.add(domain, "dkim_key_weak", name, record,
                    f"selector {selector!r}: {bits}-bit RSA key")
        row["usable"] = not row["testing"]
    if not names:
        out.add(domain, "dkim_not_given", f"*._domainkey.{domain}", "",
                f"no <selector>._domainkey.{domain} record was given")
    return rows


def _default_domains(zone: _Zone) -> list[str]:
    """Domains to check: those with a DMARC record, a DKIM key or an SPF record that no other
    given SPF record includes (third-party include targets are not the sender's domains)."""
    targets: set[str] = set()
    for name in zone.txt:
        for record in zone.spf(name):
            terms, _ = parse_spf(record)
            targets.update(t.target for t in terms if t.name in ("include", "redirect")
                           and t.target)
    targets.update(target for target, _ in zone.cname.values())
    domains: set[str] = set()
    for name in list(zone.txt) + list(zone.cname) + list(zone.nodata):
        if name.startswith("_dmarc."):
            if "._report._dmarc." not in name:
                domains.add(name.removeprefix("_dmarc."))
        elif "._domainkey." in name:
            domains.add(name.split("._domainkey.", 1)[1])
        elif zone.spf(name) and name not in targets:
            domains.add(name)
    domains = {d for d in domains if d not in targets}
    return sorted(domains)


def check_dns(
    records: Any,
    *,
    domains: Iterable[str] | None = None,
    origin: str | None = None,
    default_name: str | None = None,
) -> DnsCheck:
    """Check the SPF, DMARC and DKIM records of sending domains, offline.

    Parameters
    ----------
    records : str, Path, mapping, DataFrame or list of them
        The records (see :func:`parse_dns_records`): the domains' own records and, to count
        SPF lookups exactly, the records their includes point to.
    domains : iterable of str, optional
        Sending domains to check. Default: every name with a DMARC record, a DKIM key, or an
        SPF record that no other given record includes.
    origin, default_name : str, optional
        As in :func:`parse_dns_records`.

    Returns
    -------
    DnsCheck
        ``findings`` and a per-domain ``summary`` (plus the SPF lookup tree and DKIM keys).

    Examples
    --------
    Google Workspace's SPF include costs four lookups (itself and three netblock includes):

    >>> given = {"example.com": "v=spf1 include:_spf.google.com ~all",
    ...          "_spf.google.com": "v=spf1 include:_netblocks.google.com "
    ...              "include:_netblocks2.google.com include:_netblocks3.google.com ~all",
    ...          "_netblocks.google.com": "v=spf1 ip4:35.190.247.0/24 ~all",
    ...          "_netblocks2.google.com": "v=spf1 ip6:2001:4860:4000::/36 ~all",
    ...          "_netblocks3.google.com": "v=spf1 ip4:172.217.0.0/19 ~all"}
    >>> check = check_dns(given)
    >>> check.summary[["domain", "spf_lookups", "spf_lookups_exact"]].to_numpy().tolist()
    [['example.com', 4, True]]
    """
    table, meta = parse_dns_records(records, origin=origin, default_name=default_name)
    zone = _Zone(table)
    out = _Findings()
    for item in meta["quarantine"]:
        out.add("", "input_unparsed", item["location"], item["text"],
                f"{item['source']} {item['location']}: {item['reason']}")
    domain_list = ([d.lower().rstrip(".") for d in domains] if domains is not None
                   else _default_domains(zone))
    summaries, lookup_rows, dkim_rows = [], [], []
    for domain in domain_list:
        spf, rows = _check_spf(domain, zone, out)
        lookup_rows.extend(rows)
        dmarc = _check_dmarc(domain, zone, out)
        keys = _check_dkim(domain, zone, out)
        dkim_rows.extend(keys)
        rsa_bits = [k["bits"] for k in keys if k["key_type"] == "rsa"
                    and not pd.isna(k["bits"])]
        usable = sum(1 for k in keys if k["usable"] is True)
        unknown_dkim = not keys or any(k["usable"] is pd.NA for k in keys)
        missing = []
        if not dmarc["dmarc_valid"]:
            missing.append("a valid DMARC record (p=none is enough)")
        if spf["spf_valid"] is not True:
            missing.append("a valid SPF record")
        if usable == 0 and not unknown_dkim:
            missing.append("a usable DKIM key")
        ready: Any = False if missing else (pd.NA if usable == 0 else True)
        if missing:
            out.add(domain, "bulk_sender_requirements", domain, "",
                    "missing for bulk senders: " + "; ".join(missing))
        summaries.append({"domain": domain, **spf,
                          **{k: v for k, v in dmarc.items() if k != "dmarc_valid"},
                          "dkim_selectors": len(keys), "dkim_usable_selectors": usable,
                          "dkim_min_rsa_bits": min(rsa_bits) if rsa_bits else pd.NA,
                          "bulk_sender_dns_ready": ready})
    findings = pd.DataFrame(out.rows, columns=list(FINDING_COLUMNS))
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    findings = (findings.assign(_rank=findings["severity"].map(rank))
                .sort_values(["domain", "_rank", "check", "code"], kind="stable")
                .drop(columns="_rank").reset_index(drop=True))
    summary = pd.DataFrame(summaries, columns=_SUMMARY_COLUMNS)
    for severity, column in (("error", "errors"), ("warning", "warnings"), ("info", "infos")):
        counts = findings[findings["severity"] == severity].groupby("domain").size()
        summary[column] = summary["domain"].map(counts).fillna(0).astype("int64")
    summary = summary.astype({"spf_valid": "boolean", "spf_lookups": "Int64",
                              "spf_lookups_exact": "boolean", "spf_void_lookups": "Int64",
                              "dmarc_pct": "Int64", "dkim_min_rsa_bits": "Int64",
                              "bulk_sender_dns_ready": "boolean"})
    lookups = pd.DataFrame(lookup_rows, columns=["domain", "depth", "record_name", "path",
                                                 "term", "counts", "target", "target_given",
                                                 "void"])
    dkim = pd.DataFrame(dkim_rows, columns=["domain", "selector", "record_name", "key_type",
                                            "bits", "testing", "revoked", "delegated_to",
                                            "usable"])
    dkim = dkim.astype({"bits": "Int64", "usable": "boolean"})
    return DnsCheck(findings, summary, lookups, dkim, table, meta)


_SUMMARY_COLUMNS = [
    "domain", "spf_record", "spf_valid", "spf_all", "spf_lookups", "spf_lookups_exact",
    "spf_not_given", "spf_void_lookups", "dmarc_record", "dmarc_record_name", "dmarc_policy",
    "dmarc_subdomain_policy", "dmarc_pct", "dmarc_rua", "dmarc_adkim", "dmarc_aspf",
    "dkim_selectors", "dkim_usable_selectors", "dkim_min_rsa_bits", "bulk_sender_dns_ready",
]


__all__ = [
    "DKIM_MIN_BITS", "DKIM_RECOMMENDED_BITS", "FINDINGS", "FINDING_COLUMNS", "RECORD_COLUMNS",
    "SEVERITIES", "SPF_LOOKUP_LIMIT", "SPF_LOOKUP_TERMS", "SPF_VOID_LOOKUP_LIMIT", "DnsCheck",
    "FindingType", "SpfTerm", "check_dns", "dkim_key", "is_dmarc_record", "is_spf_record",
    "parse_dkim", "parse_dmarc", "parse_dns_records", "parse_spf", "rsa_modulus_bits",
]
