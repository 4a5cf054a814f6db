"""Write the executive report: ``report.html``, ``report.pdf`` and ``summary.json``.

The HTML is one self-contained file: CSS inline, charts embedded as base64 PNG, no request to
any other host, every string that came from data escaped by Jinja2's autoescape. The PDF has
the same content laid out with matplotlib's :class:`~matplotlib.backends.backend_pdf.PdfPages`
(no browser needed), with text that can be searched and extracted: in the standard Helvetica
of every PDF reader when the report's text fits its encoding, else in an embedded TrueType
(Type 42) DejaVu Sans. Numbers are formatted for people: percentages with one decimal, money
with thousands separators.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import math
import textwrap
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from ._timing import timed

#: Title of the report.
DEFAULT_TITLE = "Email deliverability: executive report"

#: Currency symbols written before an amount; other ISO codes are written as ``CHF 1,200``.
CURRENCY_SYMBOLS: dict[str, str] = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}

#: Signals shown on the first screen.
TOP_SIGNALS = 5

#: Section titles, shared by the HTML and the PDF.
SECTION_TITLES: dict[str, str] = {
    "placement": "Where our mail lands",
    "revenue_at_risk": "Revenue at risk per month",
    "options": "Recommended option",
    "risk_signals": "Top risk signals",
    "maturity": "Sending maturity",
    "charts": "Charts",
    "authentication": "Authentication and sending maturity",
    "maturity_evidence": "Where the sender stands: the evidence",
    "maturity_missing": "What the next level takes",
    "dmarc": "DMARC results from the aggregate reports",
    "dmarc_own": "The sender's own mail per mailbox provider",
    "unknown_sources": "Other sources sending as the domain",
    "dns": "DNS records checked",
    "authentication_value": "What fixing authentication is worth",
    "all_options": "Infrastructure options compared",
    "all_signals": "All risk signals",
    "assumptions": "Assumptions and sources",
    "data_quality": "Data quality",
}

_PDF_PAGE = (8.27, 11.69)  # A4 portrait [inches]
_PDF_MARGIN = 0.6  # [inches]
_CHARS_PER_INCH = {7: 17.0, 8: 15.0, 9: 13.5, 10: 12.0, 12: 10.0, 16: 7.5, 20: 6.0}


# --------------------------------------------------------------------------------------------
# Formatting for people
# --------------------------------------------------------------------------------------------


def format_percent(fraction: Any) -> str:
    """``0.8734`` -> ``"87.3%"`` (a fraction in, one decimal out); ``"n/a"`` when missing."""
    value = _finite(fraction)
    return "n/a" if value is None else f"{100 * value:.1f}%"


def format_money(amount: Any, currency: str = "USD") -> str:
    """``2312.97, "USD"`` -> ``"$2,313"``; ``-1500, "CHF"`` -> ``"-CHF 1,500"``.

    Whole units with thousands separators (cents under 100).
    """
    value = _finite(amount)
    if value is None:
        return "n/a"
    sign = "-" if value < 0 else ""
    magnitude = abs(value)
    digits = f"{magnitude:,.2f}" if magnitude < 100 and magnitude != round(magnitude) else (
        f"{magnitude:,.0f}")
    symbol = CURRENCY_SYMBOLS.get(currency)
    return f"{sign}{symbol}{digits}" if symbol else f"{sign}{currency} {digits}"


def format_count(count: Any) -> str:
    """``8356`` -> ``"8,356"``."""
    value = _finite(count)
    return "n/a" if value is None else f"{round(value):,}"


def format_months(months: Any) -> str:
    """Payback period: ``7.4`` -> ``"7.4 months"``; missing -> ``"not within the horizon"``."""
    value = _finite(months)
    if value is None:
        return "not within the horizon"
    return f"{value:.0f} months" if value == round(value) else f"{value:.1f} months"


#: Words written in capitals in option names.
_OPTION_ACRONYMS = {"ip": "IP", "ips": "IPs", "ses": "SES", "esp": "ESP", "smtp": "SMTP",
                    "dmarc": "DMARC"}


def option_label(name: Any) -> str:
    """How an infrastructure option is named for people: ``"dedicated_ip_ses"`` ->
    ``"Dedicated IP SES"``; a name that is not an identifier is kept as it is."""
    text = str(name)
    if not text.replace("_", "").isalnum() or not text.islower():
        return text
    words = [_OPTION_ACRONYMS.get(word, word) for word in text.split("_")]
    words[0] = words[0][:1].upper() + words[0][1:]
    return " ".join(words)


#: Maturity criteria (:data:`deliverability_econ.maturity.CRITERIA`) as the first screen names
#: them; a criterion not listed is shown by its name.
MATURITY_CRITERION_LABELS: dict[str, str] = {
    "sends_mail": "sent mail in the logs",
    "esp_relay": "mail sent through an ESP's relay or API",
    "own_domain_spf": "SPF for the sending domain",
    "own_domain_dkim": "a usable DKIM key for the sending domain",
    "dedicated_ip_share": "most mail from dedicated IPs",
    "dedicated_ip_volume": "enough daily volume per dedicated IP",
    "bulk_sender_dns": "DNS meeting the bulk-sender rules",
    "dmarc_reporting": "DMARC aggregate reports",
    "dmarc_aligned_share": "{min_aligned} of reported mail passing DMARC",
    "monitoring": "monitoring (Postmaster Tools, SNDS or seed tests)",
    "dmarc_enforced": "DMARC enforced (p=quarantine or reject)",
    "unknown_sources": "no unknown sources sending as the domain",
    "dkim_2048": "2048-bit DKIM keys",
}


def criterion_label(criterion: str) -> str:
    """How a maturity criterion is named for people (:data:`MATURITY_CRITERION_LABELS`)."""
    label = MATURITY_CRITERION_LABELS.get(criterion, criterion.replace("_", " "))
    if "{min_aligned}" in label:
        try:
            from ..maturity import MIN_ALIGNED_SHARE
        except ImportError:
            MIN_ALIGNED_SHARE = None
        label = label.format(min_aligned="most" if MIN_ALIGNED_SHARE is None
                             else f"{100 * MIN_ALIGNED_SHARE:.0f}%")
    return label


def format_date(value: Any) -> str:
    """``"2026-08-31"`` -> ``"31 Aug 2026"``."""
    try:
        return pd.Timestamp(value).strftime("%d %b %Y").lstrip("0")
    except (ValueError, TypeError):
        return str(value)


def provider_name(provider: str) -> str:
    """How a mailbox provider is named for people (``microsoft`` -> ``Microsoft (Outlook.com,
    Hotmail)``)."""
    try:
        from ..signals import PROVIDER_NAMES
    except ImportError:
        PROVIDER_NAMES = {}
    return PROVIDER_NAMES.get(provider, provider.capitalize() if provider.islower() else provider)


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


# --------------------------------------------------------------------------------------------
# The report's content, as plain strings (shared by HTML and PDF)
# --------------------------------------------------------------------------------------------


def report_content(
    summary: Mapping[str, Any],
    *,
    notes: Mapping[str, str] | None = None,
    tables: Mapping[str, pd.DataFrame] | None = None,
    currency: str = "USD",
    period: tuple[Any, Any] | None = None,
    title: str = DEFAULT_TITLE,
    model_warnings: Sequence[str] = (),
    decision: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything the report says, formatted for people; the HTML template and the PDF layout
    both read this dict, so the two documents show the same numbers.

    ``decision`` (:attr:`~deliverability_econ.report.ReportAnalysis.decision`) names the
    baseline, so that a recommendation to stay reads as one, the sender's volume
    [messages/month], the option of the NPV tornado (``tables["npv_tornado"]``) and the
    sender's maturity level (``decision["maturity"]``); ``tables`` may hold the authentication
    evidence (see :func:`write_report`)."""
    from .. import __version__
    from .summary import top_signals

    notes = dict(notes or {})
    tables = dict(tables or {})

    placement = [
        {
            "provider": provider_name(row["mailbox_provider"]),
            "inbox": format_percent(row["inbox_rate"]),
            "range": f"{format_percent(row['inbox_low'])} to {format_percent(row['inbox_high'])}",
            "spam": format_percent(row["spam_rate"]),
            "missing": format_percent(row["missing_rate"]),
            "delivered": format_count(row["delivered"]),
        }
        for row in summary.get("placement") or []
    ]

    risk = summary.get("revenue_at_risk_per_month")
    revenue = None if not risk else {
        "p50": format_money(risk.get("p50"), currency),
        "p10": format_money(risk.get("p10"), currency),
        "p90": format_money(risk.get("p90"), currency),
    }

    decision = dict(decision or {})
    baseline = decision.get("baseline")
    options = [
        {
            "name": row["name"],
            "label": option_label(row["name"]),
            "is_baseline": row["name"] == baseline,
            "npv_p50": format_money(row["npv"]["p50"], currency),
            "npv_range": f"{format_money(row['npv']['p10'], currency)} to "
                         f"{format_money(row['npv']['p90'], currency)}",
            "p_positive": format_percent(row["p_npv_positive"]),
            "payback": format_months(row["payback_months"]),
            "recommended": row["name"] == summary.get("recommended_option"),
        }
        for row in summary.get("options") or []
    ]
    recommended = next((row for row in options if row["recommended"]), None)
    # Staying on the baseline: the alternatives and why none is recommended.
    stay = recommended is not None and recommended["is_baseline"]
    alternatives = [row for row in options if not row["is_baseline"]]
    break_even = summary.get("break_even_messages_per_month")
    volume = _finite(decision.get("messages_per_month"))
    sensitivity = _sensitivity(tables.get("npv_tornado"), currency)

    signals_table = tables.get("signals")
    if signals_table is None:
        signals_table = pd.DataFrame(summary.get("risk_signals") or [])
    signals = [_signal(record) for record in signals_table.to_dict("records")]
    top = [_signal(record) for record in top_signals(signals_table, TOP_SIGNALS).to_dict("records")]

    assumptions = [
        {
            "key": str(record.get("key", "")),
            "value": _assumption_value(record.get("value"), record.get("unit"), currency),
            "range": _assumption_range(record, currency),
            "unit": "" if record.get("unit") in (None, "currency") else str(record["unit"]),
            "source": str(record.get("source", "")),
            "description": str(record.get("description", "")),
        }
        for record in tables.get("assumptions", pd.DataFrame()).to_dict("records")
    ]

    quality = summary.get("data_quality") or {}
    data_quality = [
        ("Records read", format_count(quality.get("records_read"))),
        ("Events kept", format_count(quality.get("events"))),
        ("Duplicates removed", format_count(quality.get("duplicates"))),
        ("Quarantined (unreadable, kept aside with their reason)",
         format_count(quality.get("quarantined"))),
    ]

    evidence = _authentication_content(summary, tables, decision, currency)

    if period:
        period_text = f"{format_date(period[0])} to {format_date(period[1])}"
    else:
        period_text = "unknown period"
    return {
        "title": title,
        "period": period_text,
        "generated": datetime.now(UTC).strftime("%d %b %Y %H:%M UTC"),
        "version": __version__,
        "currency": currency,
        "placement": placement,
        "revenue": revenue,
        "options": options,
        "recommended": recommended,
        "stay": stay,
        "alternatives": alternatives,
        "min_p_positive": _whole_percent(_recommend_min_p_positive()),
        "break_even": None if break_even is None else format_count(break_even),
        "messages_per_month": None if volume is None else format_count(volume),
        "sensitivity": sensitivity,
        "top_signals": top,
        "signals": signals,
        "signal_count": len(signals),
        "assumptions": assumptions,
        "data_quality": data_quality,
        **evidence,
        "warnings": list(model_warnings),
        "notes": notes,
        "titles": SECTION_TITLES,
    }


def _authentication_content(summary: Mapping[str, Any], tables: Mapping[str, Any],
                            decision: Mapping[str, Any], currency: str) -> dict[str, Any]:
    """The authentication and maturity part of :func:`report_content`: ``maturity``,
    ``authentication``, ``dns_findings``, ``authentication_value`` (None or [] when absent)."""
    maturity = None
    entry = summary.get("maturity")
    if entry:
        evidence_table = tables.get("maturity_evidence")
        records = [] if evidence_table is None else evidence_table.to_dict("records")
        met_of = {str(r["criterion"]): _met(r.get("met")) for r in records}
        missing = []
        for name in entry.get("missing_for_next") or []:
            label = criterion_label(name)
            missing.append(label + (" (no evidence given)" if met_of.get(name) == "no evidence"
                                    else ""))
        levels = int((decision.get("maturity") or {}).get("levels", 4))
        name = option_label(entry["level_name"])
        following = entry.get("next_option")
        line = f"Level {entry['level']} of {levels}: {name}"
        if following:
            line += f"; next: {option_label(following)}"
            line += (", missing: " + ", ".join(missing)) if missing else ""
        else:
            line += " (the top level)"
        baseline = decision.get("baseline")
        baseline_from = decision.get("baseline_from")
        if baseline and baseline_from == "maturity":
            baseline_note = (f"The options are compared with {option_label(baseline)}, the "
                             "sender's current level.")
        elif baseline and baseline_from == "config":
            baseline_note = (f"The options are compared with {option_label(baseline)}, the "
                             "baseline the scenario config names.")
        else:
            baseline_note = ""
        maturity = {
            "line": line + ".",
            "baseline_note": baseline_note,
            "evidence": [
                {"level": str(r.get("level", "")),
                 "level_name": option_label(r.get("level_name", "")),
                 "criterion": criterion_label(str(r["criterion"])),
                 "required": bool(r.get("required", True)),
                 "description": str(r.get("description", "")),
                 "observed": str(r.get("observed", "")),
                 "met": _met(r.get("met")),
                 "source": str(r.get("source", ""))}
                for r in records],
            "missing": missing,
            "is_top": not following,
        }

    authentication = None
    auth = summary.get("authentication")
    if auth:
        counts = tables.get("dmarc_counts") or {}
        every = tables.get("authentication")
        own = tables.get("authentication_own")
        strangers = tables.get("unknown_sources")
        authentication = {
            "counts": (f"{format_count(counts.get('files', 0))} report files, "
                       f"{format_count(auth.get('reports'))} reports, "
                       f"{format_count(auth.get('records'))} records counting "
                       f"{format_count(auth.get('messages'))} messages; "
                       f"{format_count(auth.get('quarantined'))} quarantined"),
            "quarantine_reasons": [str(r) for r in counts.get("quarantine_reasons", [])],
            "pass": format_percent(auth.get("dmarc_pass_share")),
            "failing": format_percent(auth.get("failing_share")),
            "own_failing": format_percent(auth.get("own_mail_failing_share")),
            "domains": [] if every is None else [
                {"domain": str(r["domain"]), "messages": format_count(r["messages"]),
                 "both": format_percent(r["both_aligned_share"]),
                 "dkim_only": format_percent(r["dkim_only_share"]),
                 "spf_only": format_percent(r["spf_only_share"]),
                 "failing": format_percent(r["failing_share"]),
                 "pass": format_percent(r["dmarc_pass_share"])}
                for r in every.to_dict("records")],
            "own": [] if own is None else [
                {"domain": str(r["domain"]),
                 "provider": provider_name(str(r["mailbox_provider"])),
                 "messages": format_count(r["messages"]),
                 "pass": format_percent(r["dmarc_pass_share"]),
                 "dkim_only": format_percent(r["dkim_only_share"]),
                 "spf_only": format_percent(r["spf_only_share"]),
                 "failing": format_percent(r["failing_share"])}
                for r in own.to_dict("records")],
            "unknown": [] if strangers is None else [
                {"domain": str(r["domain"]), "source": str(r["source"]),
                 "ips": _text(r.get("ips")), "messages": format_count(r["messages"]),
                 "cause": _text(r.get("likely_cause")).replace("_", " "),
                 "explanation": _text(r.get("explanation")),
                 "seen_by": _text(r.get("reporter_names")).replace(",", ", "),
                 "seen": f"{format_date(r.get('first_seen'))} to "
                         f"{format_date(r.get('last_seen'))}"}
                for r in strangers.to_dict("records")],
        }

    findings = tables.get("dns_findings")
    if findings is None:
        findings = pd.DataFrame(summary.get("dns_findings") or [])
    dns_findings = [
        {"domain": str(r.get("domain", "")), "severity": str(r.get("severity", "")),
         "code": str(r.get("code", "")), "message": str(r.get("message", "")),
         "consequence": _text(r.get("consequence")), "source": _text(r.get("source"))}
        for r in findings.to_dict("records")]

    value = summary.get("authentication_fix_value_per_month")
    authentication_value = None
    if value:
        impact = tables.get("authentication_impact")
        # Nothing to recover: every draw is zero, typically because no provider's rule applies
        # at the sender's volume (the table says why per provider).
        nothing = all(_finite(value.get(key)) == 0 for key in ("p10", "p50", "p90"))
        authentication_value = {
            "nothing": nothing,
            "p50": format_money(value.get("p50"), currency),
            "p10": format_money(value.get("p10"), currency),
            "p90": format_money(value.get("p90"), currency),
            "providers": [] if impact is None else [
                {"provider": provider_name(str(r["mailbox_provider"])),
                 "failing": format_percent(r["failing_share"]),
                 "action": str(r["action"]),
                 "missing": format_percent(r["missing_share"]),
                 "junked": format_percent(r["junked_share"]),
                 "note": _text(r.get("note")), "source": _text(r.get("source"))}
                for r in impact.to_dict("records")],
        }
    return {"maturity": maturity, "authentication": authentication,
            "dns_findings": dns_findings, "authentication_value": authentication_value}


def _met(value: Any) -> str:
    """A maturity criterion's verdict for people: ``yes``, ``no`` or ``no evidence``."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "no evidence"
    return "yes" if bool(value) else "no"


def _text(value: Any) -> str:
    """A cell as text: empty for missing values."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def _whole_percent(fraction: Any) -> str:
    value = _finite(fraction)
    return "n/a" if value is None else f"{100 * value:.0f}%"


def _recommend_min_p_positive() -> float | None:
    try:
        from ..scenarios import RECOMMEND_MIN_P_POSITIVE
    except ImportError:
        return None
    return RECOMMEND_MIN_P_POSITIVE


def _sensitivity(table: pd.DataFrame | None, currency: str) -> dict[str, str] | None:
    """The input that moves the NPV most (first row of an NPV tornado), for one sentence."""
    from .._plots_scenarios import NPV_INPUT_LABELS

    if table is None or table.empty or not _finite(table["swing"].iloc[0]):
        return None
    top = table.iloc[0]
    low, high = sorted((top["result_at_low"], top["result_at_high"]))
    name = str(top["input"])
    return {"option": option_label(table.attrs.get("option", "")),
            "input": NPV_INPUT_LABELS.get(name, name.replace("_", " ")),
            "low": format_money(low, currency), "high": format_money(high, currency)}


def _signal(record: Mapping[str, Any]) -> dict[str, str]:
    sentence = record.get("sentence")
    if sentence is None or (isinstance(sentence, float) and math.isnan(sentence)):
        sentence = record.get("evidence", "")
    return {
        "date": format_date(record.get("date")),
        "scope": str(record.get("scope", "")),
        "signal": str(record.get("signal", "")).replace("_", " "),
        "severity": str(record.get("severity", "")),
        "evidence": str(record.get("evidence", "")),
        "sentence": str(sentence),
    }


def _assumption_value(value: Any, unit: Any, currency: str) -> str:
    number = _finite(value)
    if number is None:
        return "" if value is None or (isinstance(value, float)) else str(value)
    if unit == "currency":
        return format_money(number, currency)
    if isinstance(unit, str) and unit.startswith("fraction"):
        return format_percent(number)
    return f"{number:,.4g}"


def _assumption_range(record: Mapping[str, Any], currency: str) -> str:
    low, high = _finite(record.get("low")), _finite(record.get("high"))
    if low is None or high is None or low == high:
        return ""
    unit = record.get("unit")
    return (f"{_assumption_value(low, unit, currency)} to "
            f"{_assumption_value(high, unit, currency)}")


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def write_report(
    summary: Mapping[str, Any],
    figures: Mapping[str, Any] | None,
    out_dir: str | Path,
    *,
    tables: Mapping[str, pd.DataFrame] | None = None,
    notes: Mapping[str, str] | None = None,
    currency: str = "USD",
    period: tuple[Any, Any] | None = None,
    title: str = DEFAULT_TITLE,
    model_warnings: Sequence[str] = (),
    decision: Mapping[str, Any] | None = None,
    timings: dict[str, dict[str, float]] | None = None,
) -> dict[str, Path]:
    """Write ``report.html``, ``report.pdf`` and ``summary.json`` into ``out_dir``.

    Parameters
    ----------
    summary : mapping
        :func:`~deliverability_econ.report.build_summary` output.
    figures : mapping, optional
        Caption -> matplotlib Figure (or PNG bytes), in report order.
    out_dir : path
        Created if needed.
    tables : mapping, optional
        ``"assumptions"`` (:func:`~deliverability_econ.report.summary.assumptions_table`),
        ``"signals"`` (the :func:`~deliverability_econ.signals.risk_signals` table, whose
        ``sentence`` column is shown to readers) and, for the authentication section
        (:func:`~deliverability_econ.report.report_tables`), ``"maturity_evidence"``
        (``MaturityAssessment.evidence``), ``"authentication"`` and ``"authentication_own"``
        (:func:`~deliverability_econ.authentication_summary` of all mail per domain and of the
        own mail per provider), ``"unknown_sources"``, ``"dns_findings"``
        (``DnsCheck.findings``), ``"authentication_impact"`` (``AuthenticationValue.impact``)
        and ``"dmarc_counts"`` (a dict, :func:`~deliverability_econ.report.summary.dmarc_counts`).
    notes : mapping, optional
        Section -> caveat, e.g. ``"not available: <reason>"``.
    currency : str
        ISO code of every amount.
    period : (start, end), optional
        Period the logs cover.
    title : str
    model_warnings : sequence of str
        Shown with the data quality.
    decision : mapping, optional
        ``baseline``, ``baseline_from``, ``messages_per_month``, ``tornado_option``,
        ``maturity`` (:attr:`~deliverability_econ.report.ReportAnalysis.decision`); with
        ``tables`` ``"npv_tornado"`` (:func:`~deliverability_econ.finance.npv_tornado`).
    timings : dict, optional
        Filled with the wall and CPU time of each step (``png``, ``json``, ``html``,
        ``pdf``): step -> ``{"wall", "cpu"}`` [seconds].

    Returns
    -------
    dict
        ``{"html": Path, "pdf": Path, "summary": Path}``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with timed(timings, "png"):
        content = report_content(summary, notes=notes, tables=tables, currency=currency,
                                 period=period, title=title, model_warnings=model_warnings,
                                 decision=decision)
        images = [(caption, _png(figure)) for caption, figure in (figures or {}).items()]

    paths = {"html": out / "report.html", "pdf": out / "report.pdf",
             "summary": out / "summary.json"}
    with timed(timings, "json"):
        paths["summary"].write_text(json.dumps(summary, indent=2, ensure_ascii=False,
                                               allow_nan=False) + "\n", encoding="utf-8")
    with timed(timings, "html"):
        paths["html"].write_text(render_html(content, images), encoding="utf-8")
    with timed(timings, "pdf"):
        write_pdf(content, images, paths["pdf"])
    return paths


def render_html(content: Mapping[str, Any], images: Sequence[tuple[str, bytes]]) -> str:
    """The report as one self-contained HTML page (Jinja2, autoescape on)."""
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("deliverability_econ.report", "templates"),
        autoescape=True,  # every string from data is escaped, whatever the file name
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    template = environment.get_template("report.html.j2")
    charts = [{"caption": caption, "data": base64.b64encode(png).decode("ascii")}
              for caption, png in images]
    return template.render(**content, charts=charts)


def _png(figure: Any) -> bytes:
    if isinstance(figure, bytes | bytearray):
        return bytes(figure)
    buffer = io.BytesIO()
    # No metadata: the PNG carries nothing but the picture.
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight",
                   metadata={"Software": None})
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------
# PDF
# --------------------------------------------------------------------------------------------


class _PdfLayout:
    """Text, tables and pictures laid out top-down on A4 pages of a PdfPages document."""

    def __init__(self, pdf, footer: str):
        self.pdf = pdf
        self.footer = footer
        self.figure = None
        self.page = 0
        self.y = 0.0

    # Page handling ----------------------------------------------------------------------------
    def new_page(self) -> None:
        import matplotlib.pyplot as plt

        self.close_page()
        self.figure = plt.figure(figsize=_PDF_PAGE)
        self.page += 1
        self.y = _PDF_PAGE[1] - _PDF_MARGIN
        self._text(_PDF_MARGIN, _PDF_MARGIN / 2, f"{self.footer}   page {self.page}", 7,
                   color="#666666")

    def close_page(self) -> None:
        import matplotlib.pyplot as plt

        if self.figure is not None:
            self.pdf.savefig(self.figure)
            plt.close(self.figure)
            self.figure = None

    def need(self, height: float) -> None:
        if self.figure is None or self.y - height < _PDF_MARGIN:
            self.new_page()

    # Content --------------------------------------------------------------------------------
    def _text(self, x: float, y: float, text: str, size: float, **style: Any) -> None:
        self.figure.text(x / _PDF_PAGE[0], y / _PDF_PAGE[1], text, fontsize=size,
                         va="top", ha="left", parse_math=False, **style)

    def heading(self, text: str, size: int = 14) -> None:
        self.need(size / 72 * 2.4)
        self.y -= size / 72 * 0.6
        self._text(_PDF_MARGIN, self.y, text, size, weight="bold", color="#1f3a5f")
        self.y -= size / 72 * 1.8

    def paragraph(self, text: str, size: int = 9, indent: float = 0.0, **style: Any) -> None:
        width = _PDF_PAGE[0] - 2 * _PDF_MARGIN - indent
        lines = textwrap.wrap(text, int(width * _CHARS_PER_INCH.get(size, 12.0))) or [""]
        for line in lines:
            self.need(size / 72 * 1.45)
            self._text(_PDF_MARGIN + indent, self.y, line, size, **style)
            self.y -= size / 72 * 1.45
        self.y -= size / 72 * 0.4

    def table(self, header: Sequence[str], rows: Sequence[Sequence[str]],
              widths: Sequence[float], size: int = 8) -> None:
        """A table; ``widths`` are relative column widths, cells wrap within their column."""
        total = _PDF_PAGE[0] - 2 * _PDF_MARGIN
        inches = [total * w / sum(widths) for w in widths]
        line = size / 72 * 1.35

        def draw(cells: Sequence[str], bold: bool) -> None:
            wrapped = [textwrap.wrap(str(cell), max(int(w * _CHARS_PER_INCH.get(size, 15.0)) - 1,
                                                     4)) or [""]
                       for cell, w in zip(cells, inches, strict=True)]
            height = max(len(lines) for lines in wrapped) * line + line * 0.35
            self.need(height)
            x = _PDF_MARGIN
            for lines, w in zip(wrapped, inches, strict=True):
                for number, text in enumerate(lines):
                    self._text(x, self.y - number * line, text, size,
                               weight="bold" if bold else "normal")
                x += w
            self.y -= height
            self.figure.add_artist(_rule(self.y + line * 0.15))

        draw(header, True)
        for row in rows:
            draw(row, False)
        self.y -= line * 0.6

    def picture(self, caption: str, png: bytes) -> None:
        import matplotlib.image as mpimg

        image = mpimg.imread(io.BytesIO(png), format="png")
        height_px, width_px = image.shape[:2]
        width = _PDF_PAGE[0] - 2 * _PDF_MARGIN
        height = min(width * height_px / width_px, _PDF_PAGE[1] - 2 * _PDF_MARGIN - 0.6)
        width = min(width, height * width_px / height_px)
        self.need(height + 0.5)
        self.paragraph(caption, size=10, weight="bold")
        axes = self.figure.add_axes([_PDF_MARGIN / _PDF_PAGE[0], (self.y - height) / _PDF_PAGE[1],
                                     width / _PDF_PAGE[0], height / _PDF_PAGE[1]])
        # "none": the PNG goes into the PDF as it is, not resampled; readers scale it.
        axes.imshow(image, interpolation="none")
        axes.set_axis_off()
        self.y -= height + 0.25


def _rule(y: float):
    from matplotlib.lines import Line2D

    return Line2D([_PDF_MARGIN / _PDF_PAGE[0], 1 - _PDF_MARGIN / _PDF_PAGE[0]],
                  [y / _PDF_PAGE[1]] * 2, linewidth=0.4, color="#cccccc")


def write_pdf(content: Mapping[str, Any], images: Sequence[tuple[str, bytes]],
              path: str | Path) -> Path:
    """The report as a printable PDF (matplotlib PdfPages, TrueType fonts, extractable text)."""
    import matplotlib
    from matplotlib.backends.backend_pdf import PdfPages

    titles = content["titles"]
    notes = content["notes"]
    # matplotlib logs that Helvetica's metrics are "medium", not "normal": expected, not news.
    font_log = logging.getLogger("matplotlib.font_manager")
    with matplotlib.rc_context(_pdf_fonts(content, [caption for caption, _ in images])), \
            _log_level(font_log, logging.ERROR), PdfPages(path, metadata={"Title": content["title"], "Creator": "deliverability_econ",
                                     "Producer": "deliverability_econ"}) as pdf:
        layout = _PdfLayout(pdf, f"{content['title']}, {content['period']}")
        layout.new_page()
        layout.heading(content["title"], size=16)
        layout.paragraph(f"Logs from {content['period']}. Amounts in {content['currency']}.",
                         color="#444444")

        layout.heading(titles["placement"], size=12)
        if content["placement"]:
            layout.table(["Mailbox provider", "Inbox", "90% range", "Spam", "Missing",
                          "Delivered"],
                         [[r["provider"], r["inbox"], r["range"], r["spam"], r["missing"],
                           r["delivered"]] for r in content["placement"]],
                         [2.6, 0.9, 1.9, 0.9, 0.9, 1.0])
        _pdf_note(layout, notes, "placement")

        layout.heading(titles["revenue_at_risk"], size=12)
        if content["revenue"]:
            revenue = content["revenue"]
            layout.paragraph(f"{revenue['p50']} per month (likely between {revenue['p10']} "
                             f"and {revenue['p90']}, p10 to p90).", size=10)
        _pdf_note(layout, notes, "revenue_at_risk")

        layout.heading(titles["options"], size=12)
        recommended = content["recommended"]
        if recommended and not content["stay"]:
            layout.paragraph(
                f"{recommended['label']}: NPV {recommended['npv_p50']} (likely "
                f"{recommended['npv_range']}); payback {recommended['payback']}; probability "
                f"it pays off {recommended['p_positive']}.", size=10)
        elif recommended:
            rule = ("" if content["min_p_positive"] == "n/a" else
                    f": none has a positive median NPV and at least a "
                    f"{content['min_p_positive']} chance of a positive NPV")
            layout.paragraph(f"Stay on {recommended['label']}. No change pays off{rule}.",
                             size=10)
            if content["alternatives"]:
                layout.table(["Instead", "NPV (median)", "Probability it pays off"],
                             [[o["label"], o["npv_p50"], o["p_positive"]]
                              for o in content["alternatives"]], [3.0, 1.6, 2.0])
        if content["break_even"]:
            volume = (f"; these logs show about {content['messages_per_month']} a month"
                      if content["messages_per_month"] else "")
            layout.paragraph(f"A dedicated IP beats the shared pool above "
                             f"{content['break_even']} messages per month{volume}.")
        if content["sensitivity"]:
            top = content["sensitivity"]
            layout.paragraph(f"The NPV of {top['option']} moves most with {top['input']}: "
                             f"from {top['low']} to {top['high']} (tornado in the charts).")
        for key in ("options", "recommended_option", "break_even_messages_per_month"):
            _pdf_note(layout, notes, key)

        layout.heading(titles["maturity"], size=12)
        if content["maturity"]:
            layout.paragraph(content["maturity"]["line"], size=10)
            if content["maturity"]["baseline_note"]:
                layout.paragraph(content["maturity"]["baseline_note"])
        _pdf_note(layout, notes, "maturity")

        layout.heading(titles["risk_signals"], size=12)
        for signal in content["top_signals"]:
            layout.paragraph(f"[{signal['severity'].upper()}] {signal['date']}, "
                             f"{signal['scope']}: {signal['sentence']}")
        if not content["top_signals"] and "risk_signals" not in notes:
            layout.paragraph("No risk signal in the period.")
        _pdf_note(layout, notes, "risk_signals")

        layout.new_page()  # the summary is the first page, alone
        if images:
            layout.heading(titles["charts"])
            for caption, png in images:
                layout.picture(caption, png)
        for key in sorted(notes):
            if key.startswith("chart"):
                _pdf_note(layout, notes, key)

        _pdf_authentication(layout, content)

        if content["options"]:
            layout.heading(titles["all_options"])
            layout.table(["Option", "NPV (median)", "NPV p10 to p90", "Pays off",
                          "Payback"],
                         [[o["label"] + (" (today)" if o["is_baseline"] else ""),
                           o["npv_p50"], o["npv_range"], o["p_positive"], o["payback"]]
                          for o in content["options"]],
                         [2.2, 1.2, 2.2, 0.9, 1.3])

        if content["signals"]:
            layout.heading(titles["all_signals"])
            layout.table(["Date", "Scope", "Signal", "Severity", "Evidence"],
                         [[s["date"], s["scope"], s["signal"], s["severity"], s["evidence"]]
                          for s in content["signals"]],
                         [1.0, 1.5, 1.3, 0.8, 3.4], size=7)

        layout.heading(titles["assumptions"])
        if content["assumptions"]:
            layout.table(["Assumption", "Value", "Range", "Unit", "Source"],
                         [[a["key"], a["value"], a["range"], a["unit"], a["source"]]
                          for a in content["assumptions"]],
                         [2.6, 0.9, 1.5, 1.0, 2.2], size=7)
        _pdf_note(layout, notes, "assumptions")

        layout.heading(titles["data_quality"])
        layout.table(["", "Records"], [list(row) for row in content["data_quality"]], [5, 1.5])
        for warning in content["warnings"]:
            layout.paragraph(warning, size=8, color="#444444")
        layout.close_page()
    return Path(path)


def _pdf_authentication(layout: _PdfLayout, content: Mapping[str, Any]) -> None:
    """The PDF's "Authentication and sending maturity" section (the HTML's, in order)."""
    titles, notes = content["titles"], content["notes"]
    layout.heading(titles["authentication"])
    maturity = content["maturity"]
    if maturity:
        layout.paragraph(maturity["line"], size=10, weight="bold")
        if maturity["baseline_note"]:
            layout.paragraph(maturity["baseline_note"])
        layout.paragraph(titles["maturity_evidence"], size=10, weight="bold")
        layout.table(["Level", "Criterion", "Observed", "Met", "Source"],
                     [[f"{r['level']}. {r['level_name']}",
                       r["criterion"] + ("" if r["required"] else " (advisory)"),
                       r["observed"], r["met"], r["source"]] for r in maturity["evidence"]],
                     [1.1, 1.7, 2.6, 0.7, 1.9], size=7)
        layout.paragraph(titles["maturity_missing"], size=10, weight="bold")
        if maturity["is_top"]:
            layout.paragraph("Nothing: the sender is at the top level.")
        for item in maturity["missing"]:
            layout.paragraph(f"- {item}")
    _pdf_note(layout, notes, "maturity")

    layout.paragraph(titles["dmarc"], size=10, weight="bold")
    authentication = content["authentication"]
    if authentication:
        layout.paragraph(authentication["counts"] + ".", size=8, color="#444444")
        for reason in authentication["quarantine_reasons"]:
            layout.paragraph(f"Quarantined: {reason}", size=8, color="#444444")
        layout.paragraph(f"{authentication['pass']} of the messages the reports count pass "
                         f"DMARC, {authentication['failing']} fail; of the sender's own mail, "
                         f"{authentication['own_failing']} fails.")
        layout.table(["Domain (all sources)", "Messages", "Both aligned", "DKIM only",
                      "SPF only", "Failing", "DMARC pass"],
                     [[r["domain"], r["messages"], r["both"], r["dkim_only"], r["spf_only"],
                       r["failing"], r["pass"]] for r in authentication["domains"]],
                     [2.4, 0.9, 1.0, 0.9, 0.9, 0.9, 1.0], size=7)
        layout.paragraph(titles["dmarc_own"], size=10, weight="bold")
        if authentication["own"]:
            layout.table(["Domain", "Mailbox provider", "Messages", "DMARC pass", "DKIM only",
                          "SPF only", "Failing"],
                         [[r["domain"], r["provider"], r["messages"], r["pass"], r["dkim_only"],
                           r["spf_only"], r["failing"]] for r in authentication["own"]],
                         [1.8, 2.0, 0.9, 0.9, 0.9, 0.9, 0.9], size=7)
        else:
            layout.paragraph("The reports show no mail from the sender's own sources.")
        layout.paragraph(titles["unknown_sources"], size=10, weight="bold")
        if authentication["unknown"]:
            layout.table(["Source", "IPs", "Messages", "Likely cause", "Seen by"],
                         [[r["source"], r["ips"], r["messages"],
                           f"{r['cause']}: {r['explanation']}", r["seen_by"]]
                          for r in authentication["unknown"]],
                         [1.5, 1.3, 0.8, 3.2, 1.6], size=7)
        else:
            layout.paragraph("No unknown source sends as the domain.")
    _pdf_note(layout, notes, "authentication")

    layout.paragraph(titles["dns"], size=10, weight="bold")
    if content["dns_findings"]:
        layout.table(["Severity", "Domain", "Finding", "Consequence", "Source"],
                     [[r["severity"], r["domain"], r["message"], r["consequence"], r["source"]]
                      for r in content["dns_findings"]],
                     [0.8, 1.3, 2.2, 2.6, 1.3], size=7)
    elif "dns" not in notes:
        layout.paragraph("No finding: the records given pass every check.")
    _pdf_note(layout, notes, "dns")

    layout.paragraph(titles["authentication_value"], size=10, weight="bold")
    value = content["authentication_value"]
    if value:
        if value["nothing"]:
            layout.paragraph(f"{value['p50']} per month: no mailbox provider refuses or junks "
                             "the sender's failing mail at its volume, so fixing it recovers "
                             "nothing yet (why, per provider, below).")
        else:
            layout.paragraph(f"{value['p50']} per month (likely between {value['p10']} and "
                             f"{value['p90']}): the money recovered if every message of the "
                             "sender's own sources passed DMARC, against the placement these "
                             "logs show.")
        if value["providers"]:
            layout.table(["Mailbox provider", "Own mail failing", "Action", "Missing",
                          "Junked", "Why"],
                         [[r["provider"], r["failing"], r["action"], r["missing"], r["junked"],
                           r["note"]] for r in value["providers"]],
                         [1.6, 0.9, 0.7, 0.8, 0.8, 3.6], size=7)
    _pdf_note(layout, notes, "authentication_value")


#: PDF fonts when every character of the report is in Windows-1252: the standard Helvetica
#: every PDF reader has, neither embedded nor subset, which makes the PDF several times
#: faster to write than with an embedded TrueType font; the text stays extractable.
_PDF_CORE_FONTS: dict[str, Any] = {"pdf.use14corefonts": True, "font.family": "sans-serif",
                                   "font.sans-serif": ["Helvetica"]}
#: PDF fonts otherwise: DejaVu Sans embedded as TrueType (Type 42), which has the glyphs of
#: most scripts, with its text extractable too.
_PDF_EMBEDDED_FONTS: dict[str, Any] = {"pdf.fonttype": 42, "font.family": "DejaVu Sans"}


def _pdf_fonts(content: Any, captions: Sequence[str]) -> dict[str, Any]:
    """matplotlib settings for the PDF's text: the core fonts when they can write every
    string of the report (Windows-1252 is their encoding), the embedded font otherwise."""
    try:
        "".join(_strings(content)).encode("cp1252")
        "".join(captions).encode("cp1252")
    except UnicodeEncodeError:
        return dict(_PDF_EMBEDDED_FONTS)
    return dict(_PDF_CORE_FONTS)


@contextmanager
def _log_level(logger: logging.Logger, level: int):
    previous = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(previous)


def _strings(value: Any):
    """Every string inside nested mappings and sequences."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def _pdf_note(layout: _PdfLayout, notes: Mapping[str, str], key: str) -> None:
    if key in notes:
        layout.paragraph(f"{key.replace('_', ' ')}: {notes[key]}", size=8, color="#8a4b00")
