"""DMARC aggregate reports from a simulated sender, as the mailbox providers would mail them.

:func:`dmarc_records` turns the simulator's daily truth (messages delivered per day x
provider x sending IP, :attr:`~.core.SimulationResult.truth`) into the records the providers'
DMARC reports would hold, given how well the sender's mail authenticates, plus unknown
sources sending as the domain (spoofing, a forgotten service, forwarding). :func:`write_dmarc_reports`
writes them as report attachments (``google.com!example.com!begin!end.zip``, Yahoo's
``.xml.gz``, ...) that :func:`~deliverability_econ.io.dmarc.read_dmarc_aggregate` reads back;
the records returned are the ground truth to check the reader and the summary against.

Only the providers in :data:`REPORTERS` send reports, as in life not every provider does.
A report counts the messages a receiver accepted and evaluated: the simulator's
``delivered`` [messages].
"""

from __future__ import annotations

import gzip
import io
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element, SubElement, indent, tostring

import numpy as np
import pandas as pd

from .._random import RandomState, check_random_state


@dataclass(frozen=True)
class Reporter:
    """How one mailbox provider sends its DMARC reports.

    Attributes
    ----------
    org_name, email : str
        ``report_metadata`` values.
    receiver : str
        The first part of the attachment name.
    packaging : {"zip", "gz"}
        Attachment type.
    envelope_to : str or None
        Recipient domain Microsoft adds to each record's identifiers.
    """

    org_name: str
    email: str
    receiver: str
    packaging: str
    envelope_to: str | None = None


#: Mailbox provider -> its reporting habits.
REPORTERS: dict[str, Reporter] = {
    "gmail": Reporter("google.com", "noreply-dmarc-support@google.com", "google.com", "zip"),
    "yahoo": Reporter("Yahoo", "dmarchelp@yahooinc.com", "yahoo.com", "gz"),
    "microsoft": Reporter("Enterprise Outlook", "dmarcreport@microsoft.com",
                          "enterprise.protection.outlook.com", "zip", envelope_to="outlook.com"),
    "mailru": Reporter("Mail.Ru", "dmarc_support@corp.mail.ru", "mail.ru", "gz"),
    "comcast": Reporter("comcast.net", "dmarc_rua@comcast.net", "comcast.net", "gz"),
}

#: The records' columns (a subset of :data:`~deliverability_econ.io.dmarc.DMARC_COLUMNS`
#: plus ``date``): ``date`` (UTC day), ``mailbox_provider``, ``source_ip``, ``count``
#: [messages], ``authentication_class``, ``dkim_domain``, ``spf_domain``.
RECORD_COLUMNS: tuple[str, ...] = (
    "date", "mailbox_provider", "source_ip", "count", "authentication_class", "dkim_domain",
    "spf_domain",
)

_CLASSES = ("both_aligned", "dkim_only", "spf_only", "failing")


@dataclass(frozen=True)
class UnknownSource:
    """A source sending as the domain that is not the simulated sender's.

    Attributes
    ----------
    ip : str
        Its address.
    messages_per_day : float
        Mean volume per reporting provider and day [messages/day] (Poisson).
    authentication_class : str
        ``failing`` (spoofing, a service without alignment), ``dkim_only`` (forwarding).
    dkim_domain, spf_domain : str or None
        Domains its DKIM and SPF pass for: the sender's own for forwarded mail, a service's
        own for an unaligned service, None for plain spoofing.
    """

    ip: str
    messages_per_day: float
    authentication_class: str = "failing"
    dkim_domain: str | None = None
    spf_domain: str | None = None


def dmarc_records(
    truth: pd.DataFrame,
    *,
    domain: str = "example.com",
    dkim_aligned_share: float = 1.0,
    spf_aligned_share: float = 1.0,
    unknown_sources: tuple[UnknownSource, ...] = (),
    reporters: Mapping[str, Reporter] | None = None,
    random_state: RandomState = None,
) -> pd.DataFrame:
    """The records the providers' DMARC reports would hold for a simulated sender.

    Parameters
    ----------
    truth : DataFrame
        The simulator's daily truth (``date``, ``mailbox_provider``, ``sending_ip``,
        ``delivered``), any extra keys summed over.
    domain : str
        The From domain.
    dkim_aligned_share, spf_aligned_share : float
        Chance that one of the sender's messages passes DKIM / SPF aligned [fraction 0-1];
        drawn independently, so the class shares are ``d*s``, ``d*(1-s)``, ``(1-d)*s``,
        ``(1-d)*(1-s)``.
    unknown_sources : tuple of UnknownSource
        Other senders using the domain, per reporting provider and day.
    reporters : mapping, optional
        Providers that report (default :data:`REPORTERS`).
    random_state : None, int or numpy.random.Generator
        Every draw comes from this generator.

    Returns
    -------
    DataFrame
        :data:`RECORD_COLUMNS`, one row per day x provider x IP x class with messages.

    Examples
    --------
    >>> truth = pd.DataFrame({"date": pd.to_datetime(["2025-03-03"], utc=True),
    ...     "mailbox_provider": ["gmail"], "sending_ip": ["203.0.113.10"], "delivered": [1000]})
    >>> records = dmarc_records(truth, dkim_aligned_share=0.9, random_state=1)
    >>> int(records["count"].sum()), sorted(records["authentication_class"])
    (1000, ['both_aligned', 'spf_only'])
    """
    for name, share in (("dkim_aligned_share", dkim_aligned_share),
                        ("spf_aligned_share", spf_aligned_share)):
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"{name} must be a fraction in [0, 1], not {share!r}")
    reporters = REPORTERS if reporters is None else reporters
    rng = check_random_state(random_state)
    frame = truth.loc[truth["mailbox_provider"].astype("string").isin(list(reporters))
                      & truth["sending_ip"].notna()]
    daily = (
        frame.assign(
            date=pd.to_datetime(frame["date"], utc=True).dt.floor("D"),
            mailbox_provider=frame["mailbox_provider"].astype("string"),
            sending_ip=frame["sending_ip"].astype("string"),
        )
        .groupby(["date", "mailbox_provider", "sending_ip"], sort=True)["delivered"]
        .sum()
        .reset_index()
    )
    d, s = dkim_aligned_share, spf_aligned_share
    probabilities = np.array([d * s, d * (1 - s), (1 - d) * s, (1 - d) * (1 - s)])
    rows: list[dict[str, Any]] = []
    for day, provider, ip, delivered in daily.itertuples(index=False):
        if delivered <= 0:
            continue
        counts = rng.multinomial(int(delivered), probabilities)
        for klass, count in zip(_CLASSES, counts, strict=True):
            if count:
                aligned_dkim = klass in ("both_aligned", "dkim_only")
                aligned_spf = klass in ("both_aligned", "spf_only")
                rows.append({
                    "date": day, "mailbox_provider": provider, "source_ip": ip,
                    "count": int(count), "authentication_class": klass,
                    "dkim_domain": domain if aligned_dkim else None,
                    "spf_domain": f"bounces.{domain}" if aligned_spf else None,
                })
    days = daily[["date", "mailbox_provider"]].drop_duplicates()
    for source in unknown_sources:
        if source.authentication_class not in _CLASSES:
            raise ValueError(f"authentication_class must be one of {_CLASSES}, "
                             f"not {source.authentication_class!r}")
        counts = rng.poisson(source.messages_per_day, size=len(days))
        for (day, provider), count in zip(days.itertuples(index=False), counts, strict=True):
            if count:
                rows.append({
                    "date": day, "mailbox_provider": provider, "source_ip": source.ip,
                    "count": int(count), "authentication_class": source.authentication_class,
                    "dkim_domain": source.dkim_domain, "spf_domain": source.spf_domain,
                })
    out = pd.DataFrame.from_records(rows, columns=list(RECORD_COLUMNS))
    out["count"] = out["count"].astype("int64")
    for column in ("mailbox_provider", "source_ip", "authentication_class", "dkim_domain",
                   "spf_domain"):
        out[column] = out[column].astype("string")
    out.attrs["domain"] = domain
    return out.sort_values(["date", "mailbox_provider", "source_ip"], kind="stable",
                           ignore_index=True)


def write_dmarc_reports(
    records: pd.DataFrame,
    directory: str | Path,
    *,
    domain: str | None = None,
    policy: str = "none",
    reporters: Mapping[str, Reporter] | None = None,
) -> list[Path]:
    """Write the records of :func:`dmarc_records` as one report attachment per provider and day.

    Parameters
    ----------
    records : DataFrame
        Output of :func:`dmarc_records`.
    directory : path
        Where to write (created when missing).
    domain : str, optional
        The policy domain; default the one :func:`dmarc_records` used.
    policy : {"none", "quarantine", "reject"}
        The published ``p=`` (dispositions follow it for failing mail).
    reporters : mapping, optional
        Default :data:`REPORTERS`.

    Returns
    -------
    list of Path
        The files written.
    """
    reporters = REPORTERS if reporters is None else reporters
    domain = domain or records.attrs.get("domain", "example.com")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for (day, provider), group in records.groupby(["date", "mailbox_provider"], sort=True):
        reporter = reporters[str(provider)]
        begin = int(pd.Timestamp(day).timestamp())
        end = begin + 86_399
        document = _report_xml(group, reporter, domain, policy, begin, end)
        stem = f"{reporter.receiver}!{domain}!{begin}!{end}"
        if reporter.packaging == "zip":
            path = directory / f"{stem}.zip"
            member = zipfile.ZipInfo(f"{stem}.xml", date_time=(2020, 1, 1, 0, 0, 0))
            member.compress_type = zipfile.ZIP_DEFLATED
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w") as archive:
                archive.writestr(member, document)
            path.write_bytes(buffer.getvalue())
        else:
            path = directory / f"{stem}.xml.gz"
            path.write_bytes(gzip.compress(document, mtime=0))
        written.append(path)
    return written


def _report_xml(group: pd.DataFrame, reporter: Reporter, domain: str, policy: str,
                begin: int, end: int) -> bytes:
    root = Element("feedback")
    SubElement(root, "version").text = "1.0"
    metadata = SubElement(root, "report_metadata")
    SubElement(metadata, "org_name").text = reporter.org_name
    SubElement(metadata, "email").text = reporter.email
    SubElement(metadata, "report_id").text = f"{reporter.receiver}:{domain}:{begin}"
    date_range = SubElement(metadata, "date_range")
    SubElement(date_range, "begin").text = str(begin)
    SubElement(date_range, "end").text = str(end)
    published = SubElement(root, "policy_published")
    for tag, value in (("domain", domain), ("adkim", "r"), ("aspf", "r"), ("p", policy),
                       ("sp", policy), ("pct", "100")):
        SubElement(published, tag).text = value
    for row in group.itertuples(index=False):
        klass = row.authentication_class
        dkim_aligned = klass in ("both_aligned", "dkim_only")
        spf_aligned = klass in ("both_aligned", "spf_only")
        record = SubElement(root, "record")
        row_element = SubElement(record, "row")
        SubElement(row_element, "source_ip").text = row.source_ip
        SubElement(row_element, "count").text = str(row.count)
        evaluated = SubElement(row_element, "policy_evaluated")
        failing = not (dkim_aligned or spf_aligned)
        SubElement(evaluated, "disposition").text = policy if failing else "none"
        SubElement(evaluated, "dkim").text = "pass" if dkim_aligned else "fail"
        SubElement(evaluated, "spf").text = "pass" if spf_aligned else "fail"
        identifiers = SubElement(record, "identifiers")
        if reporter.envelope_to:
            SubElement(identifiers, "envelope_to").text = reporter.envelope_to
        SubElement(identifiers, "header_from").text = domain
        auth = SubElement(record, "auth_results")
        dkim_domain = None if pd.isna(row.dkim_domain) else row.dkim_domain
        spf_domain = None if pd.isna(row.spf_domain) else row.spf_domain
        if dkim_domain:
            dkim = SubElement(auth, "dkim")
            SubElement(dkim, "domain").text = dkim_domain
            SubElement(dkim, "selector").text = "s1"
            SubElement(dkim, "result").text = "pass"
        spf = SubElement(auth, "spf")
        SubElement(spf, "domain").text = spf_domain or domain
        SubElement(spf, "scope").text = "mfrom"
        SubElement(spf, "result").text = "pass" if spf_domain else "softfail"
    indent(root)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + tostring(root, encoding="utf-8",
                                                                  xml_declaration=False)
