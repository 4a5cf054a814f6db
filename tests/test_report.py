"""The executive report: summary.json per DESIGN.md, escaping, no external requests, PDF text.

The end-to-end fixture reports on the committed sample sender (data/sample_sender: SendGrid
logs of 3,179 messages, with its seed tests, Postmaster and SNDS files, its DMARC aggregate
reports and data/sample_dns.zone) with few Monte Carlo draws, so that the whole module runs in
well under a minute.
"""

from __future__ import annotations

import base64
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

from deliverability_econ import finance, read_events
from deliverability_econ.report import (
    SUMMARY_KEYS,
    analyze,
    format_count,
    format_money,
    format_percent,
    generate_report,
    option_label,
    option_to_draw,
    write_report,
)
from deliverability_econ.report.summary import (
    AUTHENTICATION_KEYS,
    DATA_QUALITY_KEYS,
    DNS_FINDING_KEYS,
    MATURITY_KEYS,
    OPTION_KEYS,
    PLACEMENT_KEYS,
    SIGNAL_KEYS,
    UNKNOWN_SOURCE_KEYS,
    _options,
)

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample_sender"
LOGS = SAMPLE / "logs" / "sendgrid" / "sendgrid_events.jsonl.gz"
CALIBRATION = SAMPLE / "calibration"
DMARC = CALIBRATION / "dmarc"
DNS_ZONE = ROOT / "data" / "sample_dns.zone"
HOSTILE_DMARC = ROOT / "tests" / "data" / "dmarc" / "hostile" / "billion_laughs.xml"
N_DRAWS = 300
SEED = 1
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
        snds=CALIBRATION / "snds.csv", dmarc=DMARC, dns_records=DNS_ZONE, n_draws=N_DRAWS,
        random_state=SEED,
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
    # No "@" outside the template's own style sheet (whose only one is a @media rule).
    style = re.search(r"<style>.*?</style>", html, re.S).group(0)
    assert style.count("@") == style.count("@media")
    assert "@" not in html.replace(style, "")
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


def _staying_summary() -> dict:
    """The sample's situation: nothing pays at its volume, the report says to stay."""
    return _crafted_summary() | {
        "options": [
            {"name": "shared_relay", "npv": {"p10": 0.0, "p50": 0.0, "p90": 0.0},
             "p_npv_positive": 0.0, "payback_months": 0.0},
            {"name": "dedicated_ip", "npv": {"p10": -77_730.0, "p50": -53_516.0,
                                             "p90": -37_275.0},
             "p_npv_positive": 0.0, "payback_months": None},
            {"name": "platform_sending", "npv": {"p10": -49_994.0, "p50": -32_102.0,
                                                 "p90": -20_359.0},
             "p_npv_positive": 0.02, "payback_months": None}],
        "recommended_option": "shared_relay",
        "break_even_messages_per_month": 100_374.0}


def test_staying_on_the_baseline_reads_as_a_decision(tmp_path):
    decision = {"baseline": "shared_relay", "messages_per_month": 1087.4}
    paths = write_report(_staying_summary(), {}, tmp_path, decision=decision)
    html = paths["html"].read_text(encoding="utf-8")
    card = html[html.index('id="recommended-option"'):html.index('id="top-risk-signals"')]
    assert "Stay on Shared relay" in card
    # The alternatives with their medians and chances, not the baseline's zeros.
    for label, npv, chance in (("Dedicated IP", "-$53,516", "0.0%"),
                               ("Platform sending", "-$32,102", "2.0%")):
        assert re.search(rf"{label}</td><td class=\"num\">{re.escape(npv)}</td>\s*"
                         rf"<td class=\"num\">{re.escape(chance)}", card)
    assert "Net present value (median)" not in card and "$0 to $0" not in card
    assert "at least a 50% chance" in card  # scenarios.RECOMMEND_MIN_P_POSITIVE
    assert ("above 100,374 messages per month; these logs show about 1,087 a month"
            in " ".join(card.split()))
    # The full table marks today's setup.
    assert "Shared relay (today)" in html
    pytest.importorskip("pypdf")
    _, text = pdf_text(paths["pdf"])
    assert "Stay on Shared relay" in text and "-$53,516" in text


def test_a_recommended_change_shows_its_numbers(tmp_path):
    summary = _staying_summary() | {"recommended_option": "platform_sending"}
    summary["options"][2]["p_npv_positive"] = 0.8
    paths = write_report(summary, {}, tmp_path, decision={"baseline": "shared_relay"})
    html = paths["html"].read_text(encoding="utf-8")
    card = html[html.index('id="recommended-option"'):html.index('id="top-risk-signals"')]
    assert '<div class="big">Platform sending</div>' in card
    assert "-$49,994 to -$20,359" in card and "80.0%" in card and "Stay on" not in card


def test_option_labels():
    assert option_label("shared_relay") == "Shared relay"
    assert option_label("dedicated_ip_ses") == "Dedicated IP SES"
    assert option_label("optimized_stack") == "Optimized stack"
    # Names that are not identifiers are shown as given (escaped by the template).
    assert option_label(EVIL) == EVIL
    assert option_label("Dedicated pool B") == "Dedicated pool B"


def test_the_npv_tornado_is_the_drawn_option_s(three_weeks, tmp_path):
    events, meta = three_weeks
    analysis = analyze(events, meta, n_draws=100, placement_freq="M", random_state=0)
    drawn = option_to_draw(analysis.options)
    assert drawn is not None and analysis.decision["tornado_option"] == drawn.name
    expected = finance.npv_tornado(drawn.cash_flows, drawn.discount_rate,
                                   rate_range=(drawn.discount_rate - 0.05,
                                               drawn.discount_rate + 0.05))
    pd.testing.assert_frame_equal(analysis.npv_tornado, expected)
    assert analysis.npv_tornado.attrs["option"] == drawn.name
    assert analysis.decision["baseline"] == analysis.options.baseline
    # The sender's volume: its messages over the three weeks, per month.
    assert 0 < analysis.decision["messages_per_month"]
    assert "report.npv_tornado.discount_rate_swing" in set(analysis.assumptions["key"])

    paths = write_report(analysis.summary, {}, tmp_path,
                         tables={"npv_tornado": analysis.npv_tornado},
                         decision=analysis.decision)
    html = paths["html"].read_text(encoding="utf-8")
    top = analysis.npv_tornado.iloc[0]
    low, high = sorted((top["result_at_low"], top["result_at_high"]))
    assert (f"The NPV of {option_label(drawn.name)} moves most with" in " ".join(html.split()))
    assert f"from {format_money(low)} to {format_money(high)}" in html


def test_pdf_fonts_follow_the_text(tmp_path):
    """Latin text: the reader's own Helvetica, nothing embedded; other scripts: DejaVu Sans
    embedded. Both extract."""
    latin = write_report(_crafted_summary(), {}, tmp_path / "latin")["pdf"].read_bytes()
    assert b"/BaseFont /Helvetica" in latin and b"/FontFile2" not in latin
    cyrillic = _crafted_summary()
    cyrillic["placement"][0]["mailbox_provider"] = "Почта"
    paths = write_report(cyrillic, {}, tmp_path / "cyrillic")
    data = paths["pdf"].read_bytes()
    assert b"DejaVuSans" in data and b"/FontFile2" in data
    pytest.importorskip("pypdf")
    assert "Почта" in pdf_text(paths["pdf"])[1]


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
# Authentication evidence and maturity (issue 9)
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def evidence():
    """The sample's evidence put through the analysis functions directly, as notebook 07 does:
    what the report must agree with."""
    from deliverability_econ import (
        assess_maturity,
        authentication_summary,
        check_dns,
        messages,
        read_dmarc_aggregate,
        unknown_sources,
    )
    from deliverability_econ.io import read_postmaster, read_seed_tests, read_snds

    records, meta = read_dmarc_aggregate(DMARC)
    every = authentication_summary(records)
    strangers = unknown_sources(records)
    dns = check_dns(DNS_ZONE.read_text(encoding="utf-8"))
    events, _ = read_events(LOGS)
    assessment = assess_maturity(
        messages(events), dns, every, strangers,
        postmaster=read_postmaster(CALIBRATION / "postmaster_traffic_stats.jsonl")[0],
        snds=read_snds(CALIBRATION / "snds.csv")[0],
        seed_tests=read_seed_tests(CALIBRATION / "seed_tests.csv")[0])
    return {"records": records, "meta": meta, "every": every, "strangers": strangers,
            "own": authentication_summary(records, ("domain", "mailbox_provider"),
                                          sources="known"),
            "dns": dns, "assessment": assessment}


def test_the_authentication_summary_is_the_functions_(report, evidence):
    _, summary = report
    auth = summary["authentication"]
    assert list(auth) == list(AUTHENTICATION_KEYS)
    every, own, meta = evidence["every"], evidence["own"], evidence["meta"]
    # All mail using the domain: the reports' messages (2,432 in the sample's 218 files).
    assert auth["messages"] == int(every["messages"].sum()) == meta["messages"] == 2432
    assert auth["failing_share"] == pytest.approx(every["failing"].sum() / 2432, abs=1e-12)
    assert auth["dmarc_pass_share"] == pytest.approx(1 - auth["failing_share"], abs=1e-12)
    assert auth["own_mail_failing_share"] == pytest.approx(
        own["failing"].sum() / own["messages"].sum(), abs=1e-12)
    # The strangers fail while the own mail passes: the own failing share is far lower.
    assert auth["own_mail_failing_share"] < auth["failing_share"] / 10
    assert (auth["reports"], auth["records"], auth["quarantined"]) == (
        len(meta["reports"]), len(evidence["records"]), 0)
    # data/README.md (sample_sender.toml [dmarc]): a forgotten CRM service (192.0.2.77) that
    # authenticates only as itself, and a spoofer (2001:db8:bad::25) with nothing passing.
    assert [list(row) for row in auth["unknown_sources"]] == [list(UNKNOWN_SOURCE_KEYS)] * 2
    assert {(row["source"], row["likely_cause"]) for row in auth["unknown_sources"]} == {
        ("net 192.0.2.0/24", "unaligned_service"), ("net 2001:db8:bad::/64", "possible_spoofing")}
    assert [row["messages"] for row in auth["unknown_sources"]] == [
        int(m) for m in evidence["strangers"]["messages"]]


def test_dns_findings_and_maturity_are_the_functions_(report, evidence):
    _, summary = report
    findings = evidence["dns"].findings
    assert summary["dns_findings"] == [{key: str(record[key]) for key in DNS_FINDING_KEYS}
                                       for record in findings.to_dict("records")]
    # data/README.md: p=none, and the Postmark selector's 1024-bit key.
    assert {"dmarc_policy_none", "dkim_key_weak"} <= {f["code"] for f in summary["dns_findings"]}

    assessment = evidence["assessment"]
    assert list(summary["maturity"]) == list(MATURITY_KEYS)
    assert summary["maturity"] == assessment.summary()
    # The sample: ESP relay, SPF and DKIM, mostly its dedicated IP (level 3); 89.6% of the
    # reported mail passes DMARC, short of the 95% of level 4 (maturity.MIN_ALIGNED_SHARE).
    assert summary["maturity"] == {"level": 3, "level_name": "dedicated_ip",
                                   "next_option": "optimized_stack",
                                   "missing_for_next": ["dmarc_aligned_share"]}


def test_options_are_compared_with_the_sender_s_current_level(report):
    paths, summary = report
    # The baseline is in the table with an NPV of zero (scenarios.compare_options).
    zero = [o["name"] for o in summary["options"] if o["npv"] == {"p10": 0.0, "p50": 0.0,
                                                                   "p90": 0.0}]
    assert zero == ["dedicated_ip"]
    html = paths["html"].read_text(encoding="utf-8")
    assert "Dedicated IP (today)" in html
    assert "The options are compared with Dedicated IP, the sender&#39;s current level." in html
    # The break-even keeps its own baseline (the shared pool), whatever the level.
    assert summary["break_even_messages_per_month"] > 0


def test_the_html_shows_the_authentication_section(report, evidence):
    paths, summary = report
    html = paths["html"].read_text(encoding="utf-8")
    # After the charts, before the assumptions.
    assert (html.index('id="charts"') < html.index('id="authentication"')
            < html.index('id="assumptions"'))
    section = html[html.index('id="authentication"'):html.index('id="assumptions"')]
    flat = " ".join(section.split())
    assert "<strong>Level 3 of 4: Dedicated IP; next: Optimized stack, missing: 95% of " \
           "reported mail passing DMARC.</strong>" in flat
    # Evidence: every criterion, with what was observed and its source.
    for record in evidence["assessment"].evidence.to_dict("records"):
        assert str(record["observed"]).replace("'", "&#39;") in section
    assert '<span class="met no">no</span>' in section and "89.6% of reported mail" in section
    # Own mail per provider: Gmail's DMARC pass share.
    own = evidence["own"].set_index("mailbox_provider")
    assert format_percent(own.loc["gmail", "dmarc_pass_share"]) in section
    assert "192.0.2.77" in section and "2001:db8:bad::25" in section
    # DNS findings with their consequence (whose "<domain>" placeholder comes out escaped).
    assert "selector &#39;pm&#39;: 1024-bit RSA key" in section
    assert "&lt;domain&gt;._report._dmarc.&lt;destination&gt;" in section
    assert "RFC 8301" in section
    # The sample is below every bulk threshold (F1, F8): nothing to recover, and why.
    assert summary["authentication_fix_value_per_month"] == {"p10": 0.0, "p50": 0.0, "p90": 0.0}
    assert "$0</span> per month: no mailbox provider refuses or junks" in flat
    assert "not a bulk sender at this provider: the rule does not apply (F1, F2, F3)" in section


def test_pdf_has_the_authentication_section(report):
    pytest.importorskip("pypdf")
    paths, _ = report
    _, text = pdf_text(paths["pdf"])
    flat = " ".join(text.split())
    assert "Sending maturity" in flat  # the summary page
    assert flat.count("Level 3 of 4: Dedicated IP; next: Optimized stack") == 2
    assert "Authentication and sending maturity" in flat
    assert "selector 'pm': 1024-bit RSA key" in flat and "possible spoofing" in flat


def test_the_fix_value_is_authentication_fix_value_s(monkeypatch, three_weeks):
    """The value of fixing the own mail's failures is the funnel model's, same seed."""
    import dataclasses

    from deliverability_econ import auth_impact, authentication_summary, read_dmarc_aggregate
    from deliverability_econ._random import check_random_state
    from deliverability_econ.funnel import default_funnels
    from deliverability_econ.report import report_content, report_tables
    from deliverability_econ.report.render import render_html

    # The sample sends far below the bulk thresholds (5,000 a day, F1, F8), so no provider
    # rule applies and the value is zero; without thresholds Gmail and Microsoft reject the
    # own mail's failures and fixing them is worth something: a number that can differ.
    monkeypatch.setattr(auth_impact, "PROVIDER_RULES", {
        provider: dataclasses.replace(rule, bulk_threshold=None)
        for provider, rule in auth_impact.PROVIDER_RULES.items()})
    events, meta = three_weeks
    analysis = analyze(events, meta, dmarc=DMARC, n_draws=100, placement_freq="M",
                       random_state=3)
    records, _ = read_dmarc_aggregate(DMARC)
    own = authentication_summary(records, ("domain", "mailbox_provider"), sources="known")
    expected = auth_impact.authentication_fix_value(
        analysis.messages, own, analysis.placement_total, config=default_funnels(), draws=100,
        interval=0.9, random_state=check_random_state(3).spawn(5)[4])  # analyze's 5th stream
    value = analysis.summary["authentication_fix_value_per_month"]
    assert value == pytest.approx(expected.monthly, rel=1e-12)
    assert value["p50"] > 0
    assert set(expected.impact.loc[expected.impact["missing_share"] > 0, "mailbox_provider"]) \
        == {"gmail", "microsoft"}
    html = render_html(report_content(analysis.summary, currency=analysis.currency,
                                      tables=report_tables(analysis)), [])
    assert (f"{format_money(value['p50'])}</span> per month <span class=\"range\">(likely "
            f"between {format_money(value['p10'])} and {format_money(value['p90'])})"
            in " ".join(html.split()))


def test_evidence_sections_degrade_when_absent_or_broken(tmp_path, three_weeks):
    """A DMARC folder holding only a hostile document, DNS records that cannot be read:
    both sections say why, the maturity still comes from the logs, the report renders."""
    from deliverability_econ import assess_maturity
    from deliverability_econ.report import ReportWarning, report_tables

    folder = tmp_path / "dmarc"
    folder.mkdir()
    shutil.copy(HOSTILE_DMARC, folder)
    events, meta = three_weeks
    with pytest.warns(ReportWarning, match="'dns'"):
        analysis = analyze(events, meta, dmarc=folder, dns_records=tmp_path / "missing.zone",
                           n_draws=100, placement_freq="M", random_state=0)
    summary, notes = analysis.summary, analysis.notes
    assert list(summary) == list(SUMMARY_KEYS)
    assert summary["authentication"] is None
    assert analysis.dmarc_meta["quarantined"] == 1
    assert notes["authentication"].startswith("not available: no readable record in the DMARC "
                                              "reports given (1 file(s), 1 quarantined: "
                                              "billion_laughs.xml: ")
    assert summary["dns_findings"] == []
    assert notes["dns"].startswith("not available: FileNotFoundError")
    assert summary["authentication_fix_value_per_month"] is None
    assert notes["authentication_value"].startswith("not available: needs DMARC")
    # The logs alone: an ESP's export, nothing about the domain: level 1.
    expected = assess_maturity(analysis.messages).summary()
    assert summary["maturity"] == expected and expected["level"] == 1
    assert analysis.decision["baseline"] == "platform_sending"
    assert analysis.decision["baseline_from"] == "maturity"

    paths = write_report(summary, {}, tmp_path / "out", tables=report_tables(analysis),
                         notes=notes, decision=analysis.decision)
    html = paths["html"].read_text(encoding="utf-8")
    assert "not available: no readable record in the DMARC reports given" in html
    assert "Level 1 of 4: Platform sending; next: Shared relay, missing: SPF for the sending " \
           "domain (no evidence given)" in " ".join(html.split())
    # The reader's reason is quoted, the document's content never is.
    assert "billion laughs" in html and "lollol" not in html


def test_no_evidence_at_all_says_what_to_give(three_weeks):
    events, meta = three_weeks
    analysis = analyze(events, meta, n_draws=100, placement_freq="M", random_state=0,
                       config={"scenarios": {"baseline": "shared_relay"}})
    assert analysis.summary["authentication"] is None and analysis.summary["dns_findings"] == []
    assert "--dmarc" in analysis.notes["authentication"] and "--dns" in analysis.notes["dns"]
    assert analysis.summary["maturity"]["level"] == 1
    # A baseline named in the scenario config wins over the sender's level.
    assert analysis.decision["baseline"] == "shared_relay"
    assert analysis.decision["baseline_from"] == "config"
    assert analysis.options.baseline == "shared_relay"


def _hostile_dmarc_report(path: Path) -> Path:
    """One aggregate report (RFC 7489 appendix C) whose org_name is a script tag, with a
    source that fails everything: it appears in the unknown sources, "seen by" the script."""
    path.write_text(
        "<?xml version=\"1.0\"?><feedback><report_metadata>"
        "<org_name>&lt;script&gt;alert(1)&lt;/script&gt;</org_name>"
        "<email>reports@reporter.example</email><report_id>evil-1</report_id>"
        "<date_range><begin>1786060800</begin><end>1786147199</end></date_range>"
        "</report_metadata><policy_published><domain>mail.example.com</domain><p>none</p>"
        "</policy_published><record><row><source_ip>198.51.100.66</source_ip><count>9</count>"
        "<policy_evaluated><disposition>none</disposition><dkim>fail</dkim><spf>fail</spf>"
        "</policy_evaluated></row><identifiers><header_from>mail.example.com</header_from>"
        "</identifiers><auth_results><spf><domain>attacker.example</domain><result>fail"
        "</result></spf></auth_results></record></feedback>", encoding="utf-8")
    return path


def test_authentication_strings_from_data_are_escaped(tmp_path, three_weeks):
    from deliverability_econ.report import report_tables

    dmarc = _hostile_dmarc_report(tmp_path / "evil.xml")
    dns = (f'mail.example.com. IN TXT "v=spf1 include:{EVIL} -all"\n'
           f'_dmarc.mail.example.com. IN TXT "v=DMARC1; p={EVIL}"\n')
    events, meta = three_weeks
    analysis = analyze(events, meta, dmarc=dmarc, dns_records=dns, n_draws=100,
                       placement_freq="M", random_state=0)
    # The hostile strings reached the tables the report shows.
    assert EVIL in analysis.unknown_sources["reporter_names"].iloc[0]
    assert any(EVIL in m for m in analysis.dns.findings["message"])
    paths = write_report(analysis.summary, {}, tmp_path / "out", tables=report_tables(analysis),
                         notes=analysis.notes, decision=analysis.decision)
    html = paths["html"].read_text(encoding="utf-8")
    assert EVIL not in html and "<script" not in html
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    # The unknown source's "seen by" (the org_name), then the SPF term and DMARC findings.
    assert escaped in html[html.index('id="unknown-sources"'):html.index('id="dns-findings"')]
    findings = html[html.index('id="dns-findings"'):html.index('id="authentication-value"')]
    assert f"p={escaped} is not none" in findings and f"include:{escaped}" in findings
    # summary.json holds the finding as plain text (JSON is not HTML).
    assert any(EVIL in f["message"] for f in json.loads(paths["summary"].read_text())[
        "dns_findings"])
    assert "@" not in paths["summary"].read_text(encoding="utf-8")


# --------------------------------------------------------------------------------------------
# Headless browser
# --------------------------------------------------------------------------------------------
#
# Chromium is driven over the DevTools protocol (a websocket; tornado's client, which the
# test environment has through ipykernel and dask.distributed): the page's Network domain
# reports every request the page makes, Log and Runtime report console errors and
# exceptions, and Page takes the screenshot. Chromium is told not to reach anything: no
# background networking, no component updates, no proxy, and every host name resolves to
# nothing, so even a request that slipped through could not leave the machine.

FIRST_SCREEN = (1280, 800)  # [CSS pixels] a laptop's browser window
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-extensions", "--disable-default-apps",
                  "--no-default-browser-check", "--disable-quic", "--no-proxy-server",
                  "--host-resolver-rules=MAP * ~NOTFOUND", "--remote-debugging-port=0",
                  "--remote-debugging-address=127.0.0.1")
#: URL schemes a self-contained page may load: itself and its embedded charts.
LOCAL_SCHEMES = ("file:", "data:", "about:")


def chromium_path() -> Path | None:
    found = shutil.which("chromium") or (str(CHROMIUM) if CHROMIUM.exists() else None)
    return Path(found) if found else None


class _DevTools:
    """The few DevTools-protocol calls the test needs, over one page's websocket."""

    def __init__(self, connection, timeout: float):
        self.connection = connection
        self.timeout = timeout
        self.events: list[dict] = []
        self.last_id = 0

    async def _receive(self, timeout: float) -> dict:
        import asyncio

        message = await asyncio.wait_for(self.connection.read_message(), timeout)
        if message is None:
            raise RuntimeError("Chromium closed the DevTools connection")
        return json.loads(message)

    async def call(self, method: str, **params) -> dict:
        self.last_id += 1
        call_id = self.last_id
        await self.connection.write_message(json.dumps({"id": call_id, "method": method,
                                                        "params": params}))
        while True:
            message = await self._receive(self.timeout)
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            if "method" in message:
                self.events.append(message)

    async def wait_for(self, predicate, timeout: float) -> bool:
        """Read events until one satisfies ``predicate`` (True) or ``timeout`` passes."""
        import asyncio
        import time

        if any(predicate(event) for event in self.events):
            return True
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = await self._receive(left)
            except TimeoutError:
                return False
            if "method" in message:
                self.events.append(message)
                if predicate(message):
                    return True
        await asyncio.sleep(0)
        return False


def open_in_chromium(chromium: Path, url: str, profile: Path, screenshot: Path,
                     timeout: float = 90.0) -> dict:
    """Load ``url`` in headless Chromium and report what the page did.

    Returns
    -------
    dict
        ``text``: the rendered text (``innerText``: what a reader sees); ``first_screen``:
        the ids of the summary cards whose top edge is on the first screen; ``requests``:
        every URL the page requested; ``errors``: console errors, exceptions and failed
        loads; ``screenshot``: the PNG of the first screen.
    """
    import asyncio
    import time
    import urllib.request

    from tornado.websocket import websocket_connect

    profile.mkdir(parents=True, exist_ok=True)
    log = (profile.parent / "chromium.log").open("wb")
    process = subprocess.Popen([str(chromium), *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                                "about:blank"], stdout=log, stderr=subprocess.STDOUT)
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while not (port_file.exists() and port_file.read_text().strip()):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("Chromium did not start its DevTools server; see "
                                   f"{profile.parent / 'chromium.log'}")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        # Straight to the local DevTools server, whatever proxy the environment names.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"http://127.0.0.1:{port}/json/list", timeout=timeout) as response:
            targets = json.load(response)
        page = next(t for t in targets if t.get("type") == "page")

        async def drive() -> dict:
            connection = await websocket_connect(page["webSocketDebuggerUrl"],
                                                 max_message_size=64 * 2**20)
            tools = _DevTools(connection, timeout)
            try:
                for domain in ("Network", "Log", "Runtime", "Page"):
                    await tools.call(f"{domain}.enable")
                await tools.call("Page.setLifecycleEventsEnabled", enabled=True)
                await tools.call("Emulation.setDeviceMetricsOverride", width=FIRST_SCREEN[0],
                                 height=FIRST_SCREEN[1], deviceScaleFactor=1, mobile=False)
                await tools.call("Page.navigate", url=url)
                loaded = await tools.wait_for(
                    lambda e: e["method"] == "Page.loadEventFired", timeout)
                assert loaded, f"the page did not finish loading within {timeout} s"
                # Anything the page would fetch late shows up before the network goes idle.
                await tools.wait_for(lambda e: e["method"] == "Page.lifecycleEvent"
                                     and e["params"].get("name") == "networkIdle", 5.0)
                text = await tools.call("Runtime.evaluate",
                                        expression="document.body.innerText",
                                        returnByValue=True)
                on_first_screen = await tools.call(
                    "Runtime.evaluate", returnByValue=True,
                    expression="Array.from(document.querySelectorAll('#summary .card'))"
                               ".filter(e => e.getBoundingClientRect().top < innerHeight)"
                               ".map(e => e.id)")
                shot = await tools.call("Page.captureScreenshot", format="png")
            finally:
                connection.close()
            return {"text": text["result"]["value"],
                    "first_screen": on_first_screen["result"]["value"],
                    "events": tools.events, "png": base64.b64decode(shot["data"])}

        result = asyncio.run(drive())
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()

    screenshot.write_bytes(result.pop("png"))
    requests, errors = [], []
    for event in result.pop("events"):
        method, params = event["method"], event.get("params", {})
        if method == "Network.requestWillBeSent":
            requests.append(params["request"]["url"])
        elif method == "Network.loadingFailed":
            errors.append(f"failed load: {params.get('errorText')}")
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            errors.append(f"log: {params['entry'].get('text')} {params['entry'].get('url', '')}")
        elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            errors.append("console: " + " ".join(str(a.get("value", a.get("description")))
                                                 for a in params.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            errors.append(f"exception: {params['exceptionDetails'].get('text')}")
    return {**result, "requests": requests, "errors": errors, "screenshot": screenshot}


@pytest.fixture(scope="module")
def chromium():
    path = chromium_path()
    if path is None:
        pytest.skip("Chromium is not installed (no `chromium` on PATH, no /usr/bin/chromium) "
                    "and `make test` could not install it: it runs apt-get install chromium "
                    "where it has root and a package mirror")
    pytest.importorskip("tornado.websocket", reason="tornado (the DevTools client) is missing")
    return path


def test_report_renders_in_a_headless_browser(report, chromium, tmp_path, capsys):
    paths, summary = report
    screenshot = tmp_path / "report_first_screen.png"
    page = open_in_chromium(chromium, paths["html"].resolve().as_uri(), tmp_path / "profile",
                            screenshot)
    with capsys.disabled():
        print(f"\nreport.html first screen ({FIRST_SCREEN[0]}x{FIRST_SCREEN[1]}): {screenshot}")

    # Nothing but the page itself and its embedded charts, and no error.
    outside = [url for url in page["requests"] if not url.startswith(LOCAL_SCHEMES)]
    assert outside == []
    assert page["requests"][0] == paths["html"].resolve().as_uri()
    assert page["errors"] == []

    # The summary numbers are rendered text, not just markup.
    text = page["text"]
    risk = summary["revenue_at_risk_per_month"]
    for key in ("p10", "p50", "p90"):
        assert format_money(risk[key], "USD") in text
    for row in summary["placement"]:
        assert format_percent(row["inbox_rate"]) in text
        assert f"{format_percent(row['inbox_low'])} to {format_percent(row['inbox_high'])}" in text
    for option in summary["options"]:  # the recommendation, or the alternatives to staying
        assert format_money(option["npv"]["p50"], "USD") in text
    assert format_count(summary["data_quality"]["records_read"]) in text
    # The whole summary is on the first screen: where mail lands, the money at risk, the
    # recommendation, the maturity level and the top risk signals.
    assert set(page["first_screen"]) == {"placement", "revenue-at-risk", "recommended-option",
                                         "maturity", "top-risk-signals"}
    assert "Level 3 of 4: Dedicated IP; next: Optimized stack" in text

    assert screenshot.read_bytes().startswith(b"\x89PNG")
    assert screenshot.stat().st_size > 20_000  # a rendered page, not a blank one


def test_the_browser_check_catches_requests_and_errors(chromium, tmp_path):
    """The checks above can fail: a page that fetches from a host and logs an error."""
    page_file = tmp_path / "leaky.html"
    page_file.write_text("<!DOCTYPE html><html><body><p>leaky</p>"
                         '<img src="https://tracker.example.com/pixel.png">'
                         "<script>console.error('boom')</script></body></html>",
                         encoding="utf-8")
    page = open_in_chromium(chromium, page_file.as_uri(), tmp_path / "profile",
                            tmp_path / "leaky.png")
    assert "https://tracker.example.com/pixel.png" in page["requests"]
    assert any("boom" in error for error in page["errors"])
    assert any("failed load" in error for error in page["errors"])  # it could not resolve
    assert "leaky" in page["text"]
