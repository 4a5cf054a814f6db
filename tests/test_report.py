"""The executive report: summary.json per DESIGN.md, escaping, no external requests, PDF text.

The end-to-end fixture reports on the committed sample sender (data/sample_sender: SendGrid
logs of 3,179 messages, with its seed tests, Postmaster and SNDS files) with few Monte Carlo
draws, so that the whole module runs in well under a minute.
"""

from __future__ import annotations

import gzip
import json
import math
import re
import shutil
import subprocess
import sys
import zlib
from pathlib import Path

import pandas as pd
import pytest

from deliverability_econ import read_events
from deliverability_econ.report import (
    SUMMARY_KEYS,
    analyze,
    format_count,
    format_money,
    format_percent,
    generate_report,
    write_report,
)
from deliverability_econ.report.summary import (
    DATA_QUALITY_KEYS,
    OPTION_KEYS,
    PLACEMENT_KEYS,
    SIGNAL_KEYS,
    _options,
)

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample_sender"
LOGS = SAMPLE / "logs" / "sendgrid" / "sendgrid_events.jsonl.gz"
CALIBRATION = SAMPLE / "calibration"
CHROMIUM = Path("/usr/bin/chromium")
EVIL = "<script>alert(1)</script>"
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    paths = generate_report(
        LOGS, config=ROOT / "data" / "funnels.toml", out_dir=out,
        seed_tests=CALIBRATION / "seed_tests.csv",
        postmaster=CALIBRATION / "postmaster_traffic_stats.jsonl",
        snds=CALIBRATION / "snds.csv", n_draws=300, random_state=1,
    )
    summary = json.loads(paths["summary"].read_text(encoding="utf-8"))
    return paths, summary


def pdf_text(path: Path) -> tuple[int, str]:
    """Page count and text of a PDF: pypdf when installed, else the decompressed streams
    (matplotlib writes TrueType text as hex glyph strings, so the fallback only counts pages
    and looks for the text in the ToUnicode-free form it can read)."""
    data = path.read_bytes()
    try:
        import pypdf
    except ImportError:
        pages = len(re.findall(rb"/Type\s*/Page\b", data))
        streams = []
        for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
            try:
                streams.append(zlib.decompress(match.group(1)))
            except zlib.error:
                streams.append(match.group(1))
        return pages, b"\n".join(streams).decode("latin-1")
    reader = pypdf.PdfReader(str(path))
    return len(reader.pages), "\n".join(page.extract_text() for page in reader.pages)


# --------------------------------------------------------------------------------------------
# summary.json
# --------------------------------------------------------------------------------------------


def test_summary_has_the_design_keys_and_types(report):
    paths, summary = report
    assert set(paths) == {"html", "pdf", "summary"}
    assert list(summary) == list(SUMMARY_KEYS)

    # Placement: one entry per mailbox provider of the sample (seven: simulation.json's mix).
    assert {row["mailbox_provider"] for row in summary["placement"]} == {
        "gmail", "microsoft", "yahoo", "apple", "att", "comcast", "other"}
    for row in summary["placement"]:
        assert list(row) == list(PLACEMENT_KEYS)
        assert isinstance(row["delivered"], int) and row["delivered"] > 0
        assert 0 <= row["inbox_low"] <= row["inbox_rate"] <= row["inbox_high"] <= 1
        assert math.isclose(row["inbox_rate"] + row["spam_rate"] + row["missing_rate"], 1,
                            abs_tol=1e-9)

    risk = summary["revenue_at_risk_per_month"]
    assert list(risk) == ["p10", "p50", "p90"]
    assert 0 < risk["p10"] <= risk["p50"] <= risk["p90"]

    assert isinstance(summary["options"], list)
    for option in summary["options"]:
        assert list(option) == list(OPTION_KEYS)
        assert set(option["npv"]) == {"p10", "p50", "p90"}
        assert option["p_npv_positive"] is None or 0 <= option["p_npv_positive"] <= 1
    if summary["options"]:
        assert summary["recommended_option"] in {o["name"] for o in summary["options"]}
    assert summary["break_even_messages_per_month"] is None or isinstance(
        summary["break_even_messages_per_month"], float)

    for signal in summary["risk_signals"]:
        assert list(signal) == list(SIGNAL_KEYS)
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", signal["date"])
        assert signal["severity"] in {"info", "warning", "critical"}

    # The sample's reader meta (data/README.md: 8,356 events, nothing bad, no duplicates).
    assert list(summary["data_quality"]) == list(DATA_QUALITY_KEYS)
    assert summary["data_quality"] == {"records_read": 8356, "events": 8356, "duplicates": 0,
                                       "quarantined": 0}


def test_summary_json_is_strict_json(report):
    paths, _ = report
    text = paths["summary"].read_text(encoding="utf-8")
    assert "NaN" not in text and "Infinity" not in text
    json.loads(text, parse_constant=lambda name: pytest.fail(f"non-JSON constant {name}"))


def test_the_delivered_counts_are_the_messages_table_s(report):
    from deliverability_econ import messages

    _, summary = report
    events, _ = read_events(LOGS)
    table = messages(events)
    delivered = table[table["delivered"]].groupby("mailbox_provider", observed=True).size()
    assert {row["mailbox_provider"]: row["delivered"] for row in summary["placement"]} == {
        str(k): int(v) for k, v in delivered.items()}


# --------------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------------


def test_html_first_screen_shows_the_summary_numbers(report):
    paths, summary = report
    html = paths["html"].read_text(encoding="utf-8")
    first_screen = html[html.index('id="summary"'):html.index('id="charts"')]
    gmail = next(r for r in summary["placement"] if r["mailbox_provider"] == "gmail")
    assert format_percent(gmail["inbox_rate"]) in first_screen
    assert f"{format_percent(gmail['inbox_low'])} to {format_percent(gmail['inbox_high'])}" in (
        first_screen)
    risk = summary["revenue_at_risk_per_month"]
    for key in ("p10", "p50", "p90"):
        assert format_money(risk[key], "USD") in first_screen
    assert format_count(summary["data_quality"]["records_read"]) in html
    assert html.count('src="data:image/png;base64,') >= 2  # revenue and signal charts at least


def test_html_has_no_external_urls(report):
    paths, _ = report
    html = paths["html"].read_text(encoding="utf-8")
    assert not re.search(r"""(?:src|href|action)\s*=\s*["']?\s*(?:https?:)?//""", html, re.I)
    assert "http://" not in html and "https://" not in html
    assert "url(" not in html and "@import" not in html
    assert not re.search(r"<(?:link|script|iframe|object|embed)\b", html, re.I)


def test_no_recipient_address_reaches_the_report(report):
    paths, _ = report
    with gzip.open(LOGS, "rt", encoding="utf-8") as handle:
        addresses = set(EMAIL.findall(handle.read()))
    assert len(addresses) > 100  # the sample's recipients (320) are in the raw log
    html = paths["html"].read_text(encoding="utf-8")
    assert "@" not in html
    assert "@" not in paths["summary"].read_text(encoding="utf-8")
    _, text = pdf_text(paths["pdf"])
    assert not addresses & set(EMAIL.findall(text))


def _crafted_summary() -> dict:
    return {
        "placement": [{"mailbox_provider": EVIL, "inbox_rate": 0.9, "inbox_low": 0.8,
                       "inbox_high": 0.95, "spam_rate": 0.05, "missing_rate": 0.05,
                       "delivered": 1234}],
        "revenue_at_risk_per_month": {"p10": 1000.0, "p50": 2500.0, "p90": 4000.0},
        "options": [{"name": EVIL, "npv": {"p10": -1.0, "p50": 12345.0, "p90": 50000.0},
                     "p_npv_positive": 0.75, "payback_months": 8.0}],
        "recommended_option": EVIL,
        "break_even_messages_per_month": 90000.0,
        "risk_signals": [{"date": "2026-09-01", "scope": f"stream {EVIL}", "signal": EVIL,
                          "severity": "critical", "evidence": f"campaign {EVIL} bounced"}],
        "data_quality": {"records_read": 10, "events": 9, "duplicates": 1, "quarantined": 0},
    }


def test_strings_from_data_are_escaped(tmp_path):
    assumptions = pd.DataFrame([{"key": f"money.{EVIL}", "value": 3.0, "low": 1.0,
                                 "high": 5.0, "unit": "currency", "source": EVIL,
                                 "description": EVIL}])
    paths = write_report(_crafted_summary(), {}, tmp_path, tables={"assumptions": assumptions},
                         notes={"health": f"not available: {EVIL}"})
    html = paths["html"].read_text(encoding="utf-8")
    assert EVIL not in html and "<script" not in html
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    # Option name (table + recommendation), scope, signal, evidence, assumption, note.
    assert html.count(escaped) >= 7
    # The same strings are plain text in the PDF and JSON (nothing to escape there).
    _, text = pdf_text(paths["pdf"])
    if "pypdf" in sys.modules:
        assert "alert(1)" in text


def test_a_missing_section_says_why(tmp_path):
    summary = _crafted_summary() | {"options": [], "recommended_option": None,
                                    "break_even_messages_per_month": None,
                                    "revenue_at_risk_per_month": None}
    reason = "not available: deliverability_econ.scenarios is not installed"
    paths = write_report(summary, {}, tmp_path, notes={"options": reason})
    html = paths["html"].read_text(encoding="utf-8")
    assert reason in html
    assert json.loads(paths["summary"].read_text())["options"] == []


# --------------------------------------------------------------------------------------------
# PDF
# --------------------------------------------------------------------------------------------


def test_pdf_has_pages_and_the_summary_numbers(report):
    paths, summary = report
    assert paths["pdf"].read_bytes().startswith(b"%PDF-")
    pages, text = pdf_text(paths["pdf"])
    # Summary page, chart pages (three charts of ~1 page each), tables: at least 4 pages.
    assert pages >= 4
    if "pypdf" not in sys.modules:
        pytest.skip("pypdf is not installed: page count checked, text not extractable")
    risk = summary["revenue_at_risk_per_month"]
    assert format_money(risk["p50"], "USD") in text
    for row in summary["placement"]:
        assert format_percent(row["inbox_rate"]) in text
    assert format_count(summary["data_quality"]["records_read"]) in text
    assert "Revenue at risk per month" in text and "Assumptions and sources" in text


# --------------------------------------------------------------------------------------------
# Degrading gracefully
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def three_weeks():
    """The sample's first three weeks: enough for placement, quick to model."""
    events, meta = read_events(LOGS)
    return events[events["timestamp"] < pd.Timestamp("2026-08-22", tz="UTC")], meta


def test_sections_whose_function_is_missing_degrade(monkeypatch, tmp_path, three_weeks):
    # A None entry in sys.modules makes the import fail, as if the module did not exist.
    monkeypatch.setitem(sys.modules, "deliverability_econ.scenarios", None)
    monkeypatch.setitem(sys.modules, "deliverability_econ.signals", None)
    events, meta = three_weeks
    analysis = analyze(events, meta, n_draws=100, placement_freq="M", random_state=0)
    assert analysis.notes["options"].startswith("not available: deliverability_econ.scenarios")
    assert analysis.notes["risk_signals"].startswith("not available:")
    assert analysis.summary["options"] == [] and analysis.summary["recommended_option"] is None
    assert analysis.summary["risk_signals"] == []
    assert analysis.summary["placement"]  # the rest is still there
    paths = write_report(analysis.summary, {}, tmp_path, notes=analysis.notes)
    assert "not available: deliverability_econ.scenarios" in paths["html"].read_text()


def test_options_and_break_even_come_from_the_scenarios_module(monkeypatch, three_weeks):
    calls = {}

    def compare_options(messages, placement, *, config=None, random_state=None):
        calls["compare"] = (len(messages), "inbox_rate" in placement, config)
        return {"options": [
            {"name": "shared pool", "npv": {"p10": 0.0, "p50": 0.0, "p90": 0.0},
             "p_npv_positive": 0.0, "payback_months": math.inf},
            {"name": "dedicated IP", "npv": {"p10": -800.0, "p50": 4200.0, "p90": 9100.0},
             "p_npv_positive": 0.81, "payback_months": 9.0}],
            "recommended_option": "dedicated IP"}

    def break_even_messages_per_month(config=None):
        return 84_000.0

    fake = type(sys)("deliverability_econ.scenarios")
    fake.compare_options = compare_options
    fake.break_even_messages_per_month = break_even_messages_per_month
    fake.volumes_from_cube = lambda cube, config: ({"newsletter": 1000.0}, {"gmail": 1.0})
    monkeypatch.setitem(sys.modules, "deliverability_econ.scenarios", fake)
    events, meta = three_weeks
    summary = analyze(events, meta, n_draws=100, placement_freq="M", random_state=0).summary
    assert calls["compare"][:2] == (len(set(events["message_id"])), True)
    assert summary["recommended_option"] == "dedicated IP"
    assert summary["options"][0]["payback_months"] is None  # inf: never pays back
    assert summary["options"][1] == {"name": "dedicated IP",
                                     "npv": {"p10": -800.0, "p50": 4200.0, "p90": 9100.0},
                                     "p_npv_positive": 0.81, "payback_months": 9.0}
    assert summary["break_even_messages_per_month"] == 84_000.0


def test_options_results_of_several_shapes_are_read():
    frame = pd.DataFrame({"option": ["shared", "dedicated"], "npv_p10": [0.0, -500.0],
                          "npv_p50": [0.0, 9000.0], "npv_p90": [0.0, 20000.0],
                          "p_npv_positive": [0.0, 0.8], "payback_months": [math.nan, 6.0]})
    rows, recommended, note = _options(frame)
    assert [row["name"] for row in rows] == ["shared", "dedicated"]
    assert rows[0]["payback_months"] is None  # never pays back: null in JSON
    assert recommended == "dedicated" and "highest median NPV" in note
    rows, recommended, note = _options({"options": [{"name": "a", "npv": {"p10": 1, "p50": 2,
                                                                           "p90": 3},
                                                      "p_npv_positive": 1.0,
                                                      "payback_months": 2}],
                                        "recommended_option": "a"})
    assert recommended == "a" and note is None and rows[0]["npv"]["p50"] == 2.0


def test_numbers_are_formatted_for_people():
    assert format_percent(0.8734) == "87.3%"
    assert format_percent(float("nan")) == "n/a"
    assert format_money(2312.97, "USD") == "$2,313"
    assert format_money(-1_234_567, "EUR") == "-€1,234,567"
    assert format_money(1500, "CHF") == "CHF 1,500"
    assert format_count(8356) == "8,356"


# --------------------------------------------------------------------------------------------
# Headless browser
# --------------------------------------------------------------------------------------------


@pytest.mark.skipif(not CHROMIUM.exists(),
                    reason="Chromium is not installed at /usr/bin/chromium (make test installs "
                           "it where it can)")
def test_report_renders_in_a_headless_browser(report, tmp_path):
    paths, summary = report
    flags = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}"]
    url = paths["html"].resolve().as_uri()
    screenshot = tmp_path / "report.png"
    subprocess.run(flags + [f"--screenshot={screenshot}", "--window-size=1280,2000", url],
                   check=True, capture_output=True, timeout=120)
    assert screenshot.exists() and screenshot.stat().st_size > 10_000
    dom = subprocess.run(flags + ["--dump-dom", url], check=True, capture_output=True,
                         text=True, timeout=120).stdout
    risk = summary["revenue_at_risk_per_month"]
    assert format_money(risk["p50"], "USD") in dom
    gmail = next(r for r in summary["placement"] if r["mailbox_provider"] == "gmail")
    assert format_percent(gmail["inbox_rate"]) in dom
    shutil.rmtree(tmp_path / "profile", ignore_errors=True)
