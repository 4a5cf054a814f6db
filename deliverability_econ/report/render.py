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
    "charts": "Charts",
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
    [messages/month] and the option of the NPV tornado (``tables["npv_tornado"]``)."""
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
        "warnings": list(model_warnings),
        "notes": notes,
        "titles": SECTION_TITLES,
    }


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
        ``"assumptions"`` (:func:`~deliverability_econ.report.summary.assumptions_table`) and
        ``"signals"`` (the :func:`~deliverability_econ.signals.risk_signals` table, whose
        ``sentence`` column is shown to readers).
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
        ``baseline``, ``messages_per_month``, ``tornado_option``
        (:attr:`~deliverability_econ.report.ReportAnalysis.decision`); with ``tables``
        ``"npv_tornado"`` (:func:`~deliverability_econ.finance.npv_tornado`).
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
