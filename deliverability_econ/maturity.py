"""Where a sender stands on the four levels of sending maturity, and what the next one takes.

DESIGN.md names four levels of sending maturity, the options
:data:`deliverability_econ.scenarios.MATURITY_LEVELS` simulates (its :data:`~deliverability_econ.scenarios.OPTIONS`
describe each):

1. ``platform_sending``: mail sent by an application platform's built-in mailer from a large
   mixed pool, the From domain not authenticated as the sender's own;
2. ``shared_relay``: an ESP's shared SMTP relay pool, with SPF and DKIM for the sender's domain;
3. ``dedicated_ip``: the sender's mail leaves from its own dedicated IP(s);
4. ``optimized_stack``: a dedicated IP with SPF, DKIM and DMARC aligned and monitored
   (DMARC aggregate reports, Postmaster Tools, SNDS, seed tests).

The domain facts do not define the levels themselves (mission-anchors.md and domain-facts.md
give the requirements they rest on: F2, F7, F8 for authentication, F5, F6, F13 and M1 for the
monitoring sources, F23 and section 5 for dedicated-IP volumes); the criteria below turn the
DESIGN.md wording into checks on evidence, each with its source (:data:`CRITERIA`).

:func:`assess_maturity` checks every criterion on the evidence given (the messages or events
table, the DNS findings of :func:`deliverability_econ.dns_checks.check_dns`, the authentication
summary of :mod:`deliverability_econ.authentication`, monitoring data). A criterion is met,
not met, or without evidence (NA). The sender is at the highest level whose *required*
criteria, and those of every level below, are all met; *advisory* criteria are reported but do
not gate. :meth:`MaturityAssessment.next_scenario` hands the next level's option to the
scenario model (:func:`deliverability_econ.scenarios.compare_options`).

Examples
--------
>>> import pandas as pd
>>> messages = pd.DataFrame({
...     "sent_at": pd.to_datetime(["2025-03-03", "2025-03-04"], utc=True),
...     "mailbox_provider": ["gmail", "yahoo"], "sending_ip": ["192.0.2.10"] * 2,
...     "ip_pool": ["shared"] * 2, "esp": ["sendgrid"] * 2})
>>> dns = {"example.com": ["v=spf1 include:sendgrid.net -all"],
...        "_dmarc.example.com": ["v=DMARC1; p=none; rua=mailto:d@example.com"]}
>>> result = assess_maturity(messages, dns)
>>> result.level, result.level_name
(1, 'platform_sending')
>>> result.missing_for_next["criterion"].tolist()
['own_domain_dkim']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from . import scenarios
from .dns_checks import DKIM_RECOMMENDED_BITS, DnsCheck, check_dns
from .warmup import PROVIDERS

#: Log formats that mean mail leaves through an ESP's (or one's own) SMTP relay, not an
#: application platform's mailer (:data:`deliverability_econ.schema.ESP_FORMATS` minus ``csv``,
#: which says nothing about the sender).
RELAY_FORMATS: tuple[str, ...] = ("sendgrid", "ses", "mailgun", "postmark", "sparkpost",
                                  "mandrill", "brevo", "postfix")

#: Smallest share of volume passing DMARC for an optimized stack [fraction 0-1]. Assumption:
#: forwarding and mailing lists break some authentication of every domain, so 100% is not
#: reachable; no source gives a number (section 10).
MIN_ALIGNED_SHARE = 0.95

#: Share of volume that decides a majority criterion (own-domain SPF or DKIM alignment,
#: dedicated-IP share) [fraction 0-1].
MAJORITY_SHARE = 0.5

#: Largest share of the reported volume from unknown sources for an optimized stack
#: [fraction 0-1]. Assumption (advisory only).
MAX_UNKNOWN_SOURCE_SHARE = 0.01

#: Names of the levels, 1 to 4 (:data:`deliverability_econ.scenarios.MATURITY_LEVELS`).
LEVEL_NAMES: tuple[str, ...] = scenarios.MATURITY_LEVELS


@dataclass(frozen=True)
class Criterion:
    """A check on evidence for one maturity level.

    Attributes
    ----------
    level : int
        1 to 4.
    description : str
    required : bool
        Gates the level (False: advisory).
    source : str
        DESIGN.md, scenario option, RFC section or fact id.
    """

    level: int
    description: str
    required: bool
    source: str


#: Every criterion, by name, in level order.
CRITERIA: dict[str, Criterion] = {
    "sends_mail": Criterion(
        1, "the logs hold sent mail", False, "DESIGN.md (maturity level 1)"),
    "esp_relay": Criterion(
        2, "mail leaves through an ESP's SMTP relay or API (the logs are an ESP's export)", True,
        "DESIGN.md; scenarios.OPTIONS['shared_relay']"),
    "own_domain_spf": Criterion(
        2, "the sending domain publishes a valid SPF record, or most reported mail passes "
           "aligned SPF", True, "RFC 7208; F2; scenarios.OPTIONS['shared_relay']"),
    "own_domain_dkim": Criterion(
        2, "the sending domain has a usable DKIM key (at least 1024 bits, not revoked or "
           "testing), or most reported mail passes aligned DKIM", True,
        "RFC 6376, RFC 8301; F2; scenarios.OPTIONS['shared_relay']"),
    "dedicated_ip_share": Criterion(
        3, "most mail leaves from dedicated IPs (ip_kinds, pool names, or IPs registered in "
           "SNDS, which only an IP's owner can do)", True,
        "DESIGN.md; scenarios.OPTIONS['dedicated_ip']; F13"),
    "dedicated_ip_volume": Criterion(
        3, "each dedicated IP sends enough a day to its largest provider to hold a reputation",
        False, "F23, section 5 (SES: several hundred a day per ISP); "
               "scenarios.Instability.min_stable_daily"),
    "bulk_sender_dns": Criterion(
        4, "DNS meets the bulk-sender requirements: DMARC published, SPF valid within 10 "
           "lookups, a usable DKIM key", True, "F2, F7, F8; RFC 7208 section 4.6.4"),
    "dmarc_reporting": Criterion(
        4, "DMARC aggregate reports are requested (rua=) or given", True,
        "RFC 7489 section 7.2; scenarios.OPTIONS['optimized_stack']"),
    "dmarc_aligned_share": Criterion(
        4, f"at least {MIN_ALIGNED_SHARE:.0%} of reported mail passes DMARC", True,
        "F2, F3, F8 (alignment required); threshold an assumption"),
    "monitoring": Criterion(
        4, "placement and reputation are monitored: Postmaster Tools, SNDS or seed tests", True,
        "F5, F6, F13, M1; scenarios.OPTIONS['optimized_stack']"),
    "dmarc_enforced": Criterion(
        4, "DMARC policy enforced (p=quarantine or reject)", False, "RFC 7489 section 6.3"),
    "unknown_sources": Criterion(
        4, f"at most {MAX_UNKNOWN_SOURCE_SHARE:.0%} of reported mail from unknown sources",
        False, "authentication.unknown_sources; threshold an assumption"),
    "dkim_2048": Criterion(
        4, "every RSA DKIM key has at least 2048 bits", False, "RFC 8301 section 3.2"),
}

EVIDENCE_COLUMNS: tuple[str, ...] = ("level", "level_name", "criterion", "description",
                                     "observed", "met", "required", "source")


@dataclass
class MaturityAssessment:
    """A sender's maturity level and the evidence behind it.

    Attributes
    ----------
    level : int
        1 to 4.
    level_name : str
        :data:`LEVEL_NAMES` entry (a key of :data:`deliverability_econ.scenarios.OPTIONS`).
    evidence : DataFrame
        One row per criterion (:data:`EVIDENCE_COLUMNS`): ``level``, ``level_name``,
        ``criterion``, ``description``, ``observed`` (what the evidence shows, as text),
        ``met`` (boolean; NA when there was no evidence), ``required``, ``source``.
    missing_for_next : DataFrame
        The evidence rows that keep the sender from the next level: required criteria of
        levels up to the next that are not met (NA included). Empty at level 4.
    monthly_messages : float or None
        Average messages a month in the logs [messages/month].
    provider_shares : dict or None
        Share of the messages per provider of :data:`~deliverability_econ.warmup.PROVIDERS`
        [fraction 0-1].
    """

    level: int
    level_name: str
    evidence: pd.DataFrame
    missing_for_next: pd.DataFrame
    monthly_messages: float | None = None
    provider_shares: dict[str, float] | None = None

    def current_scenario(self) -> scenarios.InfrastructureOption:
        """The scenario option of the current level."""
        return scenarios.get_option(self.level_name)

    def next_scenario(self) -> scenarios.InfrastructureOption | None:
        """The scenario option of the next level (None at level 4), as
        :func:`deliverability_econ.scenarios.simulate_option` and ``compare_options`` take it.
        """
        if self.level >= len(LEVEL_NAMES):
            return None
        return scenarios.get_option(LEVEL_NAMES[self.level])

    def scenario_arguments(self) -> dict[str, Any]:
        """Arguments for :func:`deliverability_econ.scenarios.compare_options`: the current and
        next options, the current one as baseline, and the volumes and provider shares of the
        logs when known.

        Examples
        --------
        ``scenarios.compare_options(**assessment.scenario_arguments(), draws=200)``.
        """
        options = [self.current_scenario()]
        if self.next_scenario() is not None:
            options.append(self.next_scenario())
        arguments: dict[str, Any] = {"options": options, "baseline": options[0]}
        if self.monthly_messages:
            arguments["volumes"] = self.monthly_messages
        if self.provider_shares:
            arguments["provider_shares"] = self.provider_shares
        return arguments

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary: level, name, next option, unmet criteria."""
        following = self.next_scenario()
        return {"level": self.level, "level_name": self.level_name,
                "next_option": following.name if following else None,
                "missing_for_next": self.missing_for_next["criterion"].tolist()}

    def _repr_html_(self) -> str:
        return (f"<p>Maturity level {self.level}: {self.level_name}</p>"
                + self.evidence._repr_html_())


# --------------------------------------------------------------------------------------------
# Evidence
# --------------------------------------------------------------------------------------------


def _as_messages(frame: pd.DataFrame | None) -> pd.DataFrame | None:
    if frame is None:
        return None
    if "event" in frame.columns and "sent_at" not in frame.columns:
        from .messages import messages as to_messages

        return to_messages(frame)
    return frame


def _ip_kind(messages: pd.DataFrame, ip_kinds: Mapping[str, str] | None,
             snds: pd.DataFrame | None) -> pd.Series:
    """``dedicated``, ``shared`` or NA per message."""
    n = len(messages)
    kind = pd.Series(pd.array([pd.NA] * n, dtype="string"), index=messages.index)
    ip = messages["sending_ip"].astype("string") if "sending_ip" in messages.columns else \
        pd.Series(pd.array([pd.NA] * n, dtype="string"), index=messages.index)
    pool = messages["ip_pool"].astype("string") if "ip_pool" in messages.columns else \
        pd.Series(pd.array([pd.NA] * n, dtype="string"), index=messages.index)
    if ip_kinds:
        bad = {k: v for k, v in ip_kinds.items() if v not in ("shared", "dedicated")}
        if bad:
            raise ValueError(f"ip_kinds values must be 'shared' or 'dedicated': {bad}")
        mapping = {str(k): v for k, v in ip_kinds.items()}
        kind = kind.fillna(ip.map(mapping)).fillna(pool.map(mapping))
    pool_lower = pool.str.lower()
    by_name = pd.Series(pd.array([pd.NA] * n, dtype="string"), index=messages.index)
    by_name = by_name.mask(pool_lower.str.contains(r"\bshared\b", regex=True).fillna(False),
                           "shared")
    by_name = by_name.mask(pool_lower.str.contains(r"\bdedicated\b", regex=True).fillna(False),
                           "dedicated")
    kind = kind.fillna(by_name)
    if snds is not None and len(snds) and "ip" in snds.columns:
        registered = set(snds["ip"].astype(str))
        kind = kind.mask(kind.isna() & ip.isin(registered).fillna(False), "dedicated")
    return kind


def _weighted(table: pd.DataFrame, column: str) -> float:
    volume = next((c for c in ("messages", "count", "message_count") if c in table.columns),
                  None)
    values = table[column].to_numpy(float)
    if volume is None:
        return float(np.nanmean(values)) if len(values) else float("nan")
    weights = table[volume].to_numpy(float)
    keep = np.isfinite(values) & (weights > 0)
    return float(np.average(values[keep], weights=weights[keep])) if keep.any() else float("nan")


def _authentication_shares(authentication: pd.DataFrame | None, domains) -> dict[str, float]:
    if authentication is None or len(authentication) == 0:
        return {}
    table = authentication
    if domains is not None and "domain" in table.columns:
        table = table[table["domain"].astype(str).str.lower().isin(domains)]
    shares: dict[str, float] = {}
    if "dmarc_pass_share" in table.columns:
        shares["dmarc_pass"] = _weighted(table, "dmarc_pass_share")
    elif "failing_share" in table.columns:
        shares["dmarc_pass"] = 1.0 - _weighted(table, "failing_share")
    parts = {c: _weighted(table, f"{c}_share") for c in ("both_aligned", "dkim_only",
                                                         "spf_only")
             if f"{c}_share" in table.columns}
    if {"both_aligned", "dkim_only"} <= set(parts):
        shares["dkim_aligned"] = parts["both_aligned"] + parts["dkim_only"]
    if {"both_aligned", "spf_only"} <= set(parts):
        shares["spf_aligned"] = parts["both_aligned"] + parts["spf_only"]
    for column in ("dkim_aligned_share", "spf_aligned_share"):
        if column in table.columns and column.removesuffix("_share") not in shares:
            shares[column.removesuffix("_share")] = _weighted(table, column)
    volume = next((c for c in ("messages", "count", "message_count") if c in table.columns),
                  None)
    if volume is not None:
        shares["messages"] = float(table[volume].sum())
    return shares


def _dkim_state(keys: pd.DataFrame, domain: str) -> bool | None:
    """True: a usable key; None: keys not given or hosted elsewhere; False: keys given,
    none usable."""
    usable = keys.loc[keys["domain"] == domain, "usable"]
    if (usable == True).any():  # noqa: E712  (nullable boolean)
        return True
    if usable.empty or usable.isna().any():
        return None
    return False


def _all_or_unknown(states: Sequence[bool | None]) -> bool | None:
    if states and all(s is True for s in states):
        return True
    if any(s is False for s in states):
        return False
    return None


def _fmt_share(value: float) -> str:
    return "no data" if value is None or not np.isfinite(value) else f"{value:.1%}"


def _present(frame: Any) -> bool:
    return frame is not None and len(frame) > 0


def assess_maturity(
    messages: pd.DataFrame | None = None,
    dns: DnsCheck | Any = None,
    authentication: pd.DataFrame | None = None,
    unknown_sources: pd.DataFrame | None = None,
    *,
    domains: Sequence[str] | None = None,
    ip_kinds: Mapping[str, str] | None = None,
    postmaster: pd.DataFrame | None = None,
    snds: pd.DataFrame | None = None,
    seed_tests: pd.DataFrame | None = None,
    min_aligned_share: float = MIN_ALIGNED_SHARE,
    instability: scenarios.Instability | None = None,
) -> MaturityAssessment:
    """Place a sender on the four maturity levels from the evidence given.

    Parameters
    ----------
    messages : DataFrame, optional
        The messages table (:func:`deliverability_econ.messages`) or the events table (turned
        into messages): ``sent_at``, ``mailbox_provider``, ``sending_ip``, ``ip_pool``, ``esp``.
    dns : DnsCheck or records, optional
        :func:`deliverability_econ.dns_checks.check_dns`'s result, or anything it accepts.
    authentication : DataFrame, optional
        The authentication summary per domain
        (:func:`deliverability_econ.authentication.authentication_summary`), duck-typed:
        ``messages`` [count] and ``dmarc_pass_share`` (or ``failing_share``) [fraction 0-1];
        ``both_aligned_share``, ``dkim_only_share``, ``spf_only_share`` [fraction 0-1] for the
        DKIM and SPF alignment; a ``domain`` column is filtered by ``domains``. Pass the summary
        of *all* mail using the domain (``sources="all"``, the default): a forgotten service
        sending as the domain is the sender's own gap, and spoofed mail is delivered as long as
        DMARC is not enforced, so both keep a sender below level 4 until they are fixed or
        refused. The sender's own mail alone (``sources="known"``) answers a different
        question: what fixing its own authentication is worth
        (:func:`~deliverability_econ.auth_impact.authentication_fix_value`).
    unknown_sources : DataFrame, optional
        :func:`deliverability_econ.authentication.unknown_sources`: rows with ``messages``
        [count] from sources the owner does not know.
    domains : sequence of str, optional
        Sending domains to judge; default: every domain of the DNS summary.
    ip_kinds : mapping, optional
        Sending IP or pool name -> ``"shared"`` or ``"dedicated"``. Without it, pool names
        containing the word ``shared`` or ``dedicated`` and IPs registered in SNDS decide.
    postmaster, snds, seed_tests : DataFrame, optional
        Monitoring data (:func:`~deliverability_econ.io.read_postmaster`,
        :func:`~deliverability_econ.io.read_snds`,
        :func:`~deliverability_econ.io.read_seed_tests`); rows present count as monitoring.
    min_aligned_share : float
        Share of reported mail passing DMARC for level 4 [fraction 0-1]
        (:data:`MIN_ALIGNED_SHARE`).
    instability : scenarios.Instability, optional
        Gives ``min_stable_daily`` [messages/day per provider per IP] for the dedicated-IP
        volume criterion; the scenario model's default otherwise.

    Returns
    -------
    MaturityAssessment
    """
    messages = _as_messages(messages)
    instability = instability or scenarios.Instability()
    domain_set = {d.lower().rstrip(".") for d in domains} if domains is not None else None
    if dns is not None and not isinstance(dns, DnsCheck):
        dns = check_dns(dns, domains=domains)
    dns_summary = dns.summary if dns is not None else None
    if dns_summary is not None and domain_set is not None:
        dns_summary = dns_summary[dns_summary["domain"].isin(domain_set)]
    if dns_summary is not None and dns_summary.empty:
        dns_summary = None
    auth = _authentication_shares(authentication, domain_set)

    rows: dict[str, tuple[str, Any]] = {}

    def put(name: str, observed: str, met: Any) -> None:
        rows[name] = (observed, pd.NA if met is None else bool(met))

    # Level 1 and 2: the logs
    monthly = shares = None
    if messages is not None and len(messages):
        sent = pd.to_datetime(messages["sent_at"], utc=True) if "sent_at" in messages.columns \
            else None
        days = max(int(sent.dt.floor("D").nunique()), 1) if sent is not None else 0
        put("sends_mail", f"{len(messages):,} messages over {days} days", True)
        if days:
            monthly = len(messages) * scenarios.DAYS_PER_MONTH / days
        provider = messages["mailbox_provider"].astype("string").fillna("other")
        provider = provider.where(provider.isin(PROVIDERS), "other")
        counts = provider.value_counts()
        shares = {p: float(counts.get(p, 0)) / len(messages) for p in PROVIDERS}
        formats = sorted(set(messages["esp"].dropna().astype(str))) if "esp" in \
            messages.columns else []
        relay = [f for f in formats if f in RELAY_FORMATS]
        if relay:
            put("esp_relay", "logs from " + ", ".join(relay), True)
        elif formats and set(formats) != {"csv"}:
            put("esp_relay", "logs from " + ", ".join(formats), False)
        else:
            put("esp_relay", "the log format does not say how mail is sent", None)
    else:
        put("sends_mail", "no logs given", None)
        put("esp_relay", "no logs given", None)

    # Level 2: own-domain authentication
    def domain_evidence(kind: str) -> tuple[str, Any]:
        share = auth.get(f"{kind}_aligned")
        texts, met = [], None
        if dns_summary is not None:
            if kind == "spf":
                valid = dns_summary["spf_valid"].fillna(False).astype(bool)
                texts.append("SPF valid for " + (", ".join(dns_summary.loc[valid, "domain"])
                                                 or "no domain"))
                met = bool(valid.all())
            else:
                usable = dns_summary["dkim_usable_selectors"].astype(int)
                texts.append(f"usable DKIM selectors: {int(usable.sum())} over "
                             f"{len(dns_summary)} domain(s)")
                met = _all_or_unknown([_dkim_state(dns.dkim, d) for d in dns_summary["domain"]])
        if share is not None and np.isfinite(share):
            texts.append(f"{_fmt_share(share)} of reported mail {kind.upper()}-aligned")
            met = bool(met) or share >= MAJORITY_SHARE
        return ("; ".join(texts) or "no DNS records or DMARC reports given"), met

    put("own_domain_spf", *domain_evidence("spf"))
    put("own_domain_dkim", *domain_evidence("dkim"))

    # Level 3: dedicated IPs
    if messages is not None and len(messages) and "sending_ip" in messages.columns:
        kind = _ip_kind(messages, ip_kinds, snds)
        is_dedicated = (kind == "dedicated").fillna(False).to_numpy(dtype=bool)
        dedicated = float(is_dedicated.sum()) / len(messages)
        unknown = float(kind.isna().sum()) / len(messages)
        met = True if dedicated >= MAJORITY_SHARE else (
            False if dedicated + unknown < MAJORITY_SHARE else None)
        put("dedicated_ip_share", f"{dedicated:.1%} of messages from dedicated IPs, "
            f"{unknown:.1%} from IPs of unknown kind", met)
        on_dedicated = messages[is_dedicated]
        if len(on_dedicated) and "sent_at" in on_dedicated.columns:
            day = pd.to_datetime(on_dedicated["sent_at"], utc=True).dt.floor("D")
            daily = on_dedicated.groupby([on_dedicated["sending_ip"].astype(str).to_numpy(),
                                          on_dedicated["mailbox_provider"].astype(str).to_numpy(),
                                          day.to_numpy()]).size()
            per_ip = daily.groupby(level=[0, 1]).mean().groupby(level=0).max()
            weakest = float(per_ip.min())
            put("dedicated_ip_volume",
                f"{weakest:,.0f} messages a day to the largest provider from the least used "
                f"of {len(per_ip)} dedicated IP(s) (needs {instability.min_stable_daily:,.0f})",
                weakest >= instability.min_stable_daily)
        else:
            put("dedicated_ip_volume", "no mail from dedicated IPs", None)
    else:
        put("dedicated_ip_share", "no sending IPs in the logs", None)
        put("dedicated_ip_volume", "no sending IPs in the logs", None)

    # Level 4: complete authentication and monitoring
    if dns_summary is not None:
        ready = dns_summary["bulk_sender_dns_ready"]
        dkim_share = auth.get("dkim_aligned")
        if ready.isna().any() and dkim_share is not None and dkim_share >= MAJORITY_SHARE:
            # DKIM keys hosted by an ESP (CNAME) are proven by aligned DKIM in the reports.
            ready = ready.fillna(bool(dns_summary["spf_valid"].fillna(False).all()
                                      and dns_summary["dmarc_record"].all()))
        states = [None if pd.isna(r) else bool(r) for r in ready]
        words = {True: "ready", False: "not ready", None: "DKIM not shown"}
        observed = ", ".join(f"{d}: {words[r]}"
                             for d, r in zip(dns_summary["domain"], states, strict=True))
        met = _all_or_unknown(states)
        put("bulk_sender_dns", observed, met)
        rua = bool(dns_summary["dmarc_rua"].all())
        policies = dns_summary["dmarc_policy"].fillna("none").astype(str)
        put("dmarc_enforced", "policies: " + ", ".join(sorted(set(policies))),
            bool(policies.isin(["quarantine", "reject"]).all()))
        bits = dns_summary["dkim_min_rsa_bits"].dropna()
        put("dkim_2048", f"smallest RSA key: {int(bits.min())} bits" if len(bits)
            else "no RSA key given", bool((bits >= DKIM_RECOMMENDED_BITS).all()) if len(bits)
            else None)
    else:
        put("bulk_sender_dns", "no DNS records given", None)
        put("dmarc_enforced", "no DNS records given", None)
        put("dkim_2048", "no DNS records given", None)
        rua = None
    reports = bool(auth)
    if reports or rua is not None:
        text = []
        if rua is not None:
            text.append("rua= published" if rua else "no rua= in DMARC")
        if reports:
            text.append(f"aggregate reports given ({auth.get('messages', float('nan')):,.0f} "
                        "messages)")
        put("dmarc_reporting", "; ".join(text), bool(rua) or reports)
    else:
        put("dmarc_reporting", "no DNS records or DMARC reports given", None)
    if "dmarc_pass" in auth and np.isfinite(auth["dmarc_pass"]):
        put("dmarc_aligned_share", f"{_fmt_share(auth['dmarc_pass'])} of reported mail passes "
            f"DMARC (needs {min_aligned_share:.0%})", auth["dmarc_pass"] >= min_aligned_share)
    else:
        put("dmarc_aligned_share", "no DMARC aggregate reports given", None)
    monitoring = [name for name, frame in (("Postmaster Tools", postmaster), ("SNDS", snds),
                                           ("seed tests", seed_tests)) if _present(frame)]
    put("monitoring", ", ".join(monitoring) if monitoring else "no Postmaster, SNDS or seed "
        "data given", bool(monitoring))
    if unknown_sources is not None and auth.get("messages"):
        volume = next((c for c in ("messages", "count") if c in unknown_sources.columns), None)
        unknown_messages = float(unknown_sources[volume].sum()) if volume else float("nan")
        share = unknown_messages / auth["messages"]
        put("unknown_sources", f"{_fmt_share(share)} of reported mail from "
            f"{len(unknown_sources)} unknown source(s)", share <= MAX_UNKNOWN_SOURCE_SHARE)
    else:
        put("unknown_sources", "no unknown-source table given", None)

    evidence = pd.DataFrame(
        [{"level": c.level, "level_name": LEVEL_NAMES[c.level - 1], "criterion": name,
          "description": c.description, "observed": rows[name][0], "met": rows[name][1],
          "required": c.required, "source": c.source} for name, c in CRITERIA.items()],
        columns=list(EVIDENCE_COLUMNS))
    evidence["met"] = evidence["met"].astype("boolean")
    level = 1
    for candidate in range(2, len(LEVEL_NAMES) + 1):
        gate = evidence[(evidence["level"] == candidate) & evidence["required"]]
        if gate["met"].fillna(False).all():
            level = candidate
        else:
            break
    if level < len(LEVEL_NAMES):
        missing = evidence[(evidence["level"] <= level + 1) & evidence["required"]
                           & ~evidence["met"].fillna(False)].reset_index(drop=True)
    else:
        missing = evidence.iloc[0:0].reset_index(drop=True)
    return MaturityAssessment(level=level, level_name=LEVEL_NAMES[level - 1], evidence=evidence,
                              missing_for_next=missing, monthly_messages=monthly,
                              provider_shares=shares)


__all__ = [
    "CRITERIA", "EVIDENCE_COLUMNS", "LEVEL_NAMES", "MAJORITY_SHARE", "MAX_UNKNOWN_SOURCE_SHARE",
    "MIN_ALIGNED_SHARE", "RELAY_FORMATS", "Criterion", "MaturityAssessment", "assess_maturity",
]
