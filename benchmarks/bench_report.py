"""Report benchmark: the executive report on the committed sample sender, timed per stage.

The goal (issue 7, "Done when"): report generation for the sample data takes under 30 s. The
sample is ``data/sample_sender`` (SendGrid export, 8,356 events, 3,179 messages, with its seed
tests, Postmaster and SNDS files, its DMARC aggregate reports (218 files), ``data/funnels.toml``
and ``data/sample_dns.zone``), read as ``deliverability-econ demo`` reads it. The
authentication sections (issue 9: ``read_dmarc``, ``authentication``, ``dns``, ``maturity``,
``authentication_value``) should cost well under 2 s together; the script prints their sum
and its share of the total.

Two measurements:

1. **In process**, per stage: :func:`deliverability_econ.report.generate_report` fills a
   ``timings`` dict (read, calibration, messages, each model section, figures, PNG encoding,
   JSON, HTML, PDF). Imports happen before the clock starts.
2. **End to end**, in a fresh process: ``deliverability-econ report ...`` as a user runs it,
   imports included, with the child's CPU time (``ru_utime + ru_stime``).

The machine is shared, so wall times swing with the load; CPU time is the steadier figure, and
the peer measured in the same run, reading the same logs (``read_events`` alone), gives a
ratio that holds across machines.

Run from the repository root::

    .venv/bin/python benchmarks/bench_report.py
    .venv/bin/python benchmarks/bench_report.py --n-draws 500 --repeat 2
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "sample_sender"
LOGS = SAMPLE / "logs" / "sendgrid"
CALIBRATION = SAMPLE / "calibration"
CONFIG = ROOT / "data" / "funnels.toml"
DMARC = CALIBRATION / "dmarc"
DNS_ZONE = ROOT / "data" / "sample_dns.zone"
#: Stages of the authentication evidence and maturity (``read_dmarc`` is inside
#: ``authentication``, so it is not added twice).
AUTHENTICATION_STAGES: tuple[str, ...] = ("authentication", "dns", "maturity",
                                          "authentication_value")
AUTHENTICATION_GOAL_SECONDS = 2.0
GOAL_SECONDS = 30.0

#: Stages in report order, with what they do.
STAGES: dict[str, str] = {
    "read": "read_events of the SendGrid export",
    "calibration": "read seed tests, Postmaster, SNDS",
    "messages": "events -> messages",
    "placement": "placement over the whole period",
    "placement_periods": "placement per week",
    "revenue_at_risk": "revenue at risk (funnel Monte Carlo)",
    "read_dmarc": "read the DMARC aggregate reports (part of authentication)",
    "authentication": "DMARC summaries: all mail, own mail per provider, unknown sources",
    "dns": "DNS records checked offline",
    "maturity": "maturity assessment",
    "authentication_value": "value of fixing authentication (funnel Monte Carlo)",
    "options": "infrastructure options (scenario Monte Carlo)",
    "npv_tornado": "NPV tornado of the recommended option",
    "break_even_messages_per_month": "break-even volume",
    "risk_signals": "risk signals",
    "health": "health checks",
    "assumptions": "assumptions table",
    "figures": "charts drawn",
    "png": "charts encoded as PNG",
    "json": "summary.json",
    "html": "report.html",
    "pdf": "report.pdf",
}


def in_process(n_draws: int | None, out: Path) -> tuple[dict[str, dict[str, float]], float,
                                                       float]:
    """Stage timings (stage -> ``{"wall", "cpu"}``), total wall and CPU time [s]."""
    from deliverability_econ.report import generate_report

    options = {} if n_draws is None else {"n_draws": n_draws}
    timings: dict[str, dict[str, float]] = {}
    wall, cpu = time.perf_counter(), time.process_time()
    generate_report(LOGS, config=CONFIG, out_dir=out, seed_tests=CALIBRATION / "seed_tests.csv",
                    postmaster=CALIBRATION / "postmaster_traffic_stats.jsonl",
                    snds=CALIBRATION / "snds.csv", dmarc=DMARC, dns_records=DNS_ZONE,
                    timings=timings, **options)
    return timings, time.perf_counter() - wall, time.process_time() - cpu


def pdf_fonts_peer(content, images, out: Path) -> dict[str, tuple[float, float]]:
    """``report.pdf`` written twice from the same content: with the reader's core fonts (what
    the report does when its text fits Windows-1252) and with DejaVu Sans embedded (what it
    did before, and still does for other scripts) [wall s, CPU s]."""
    from deliverability_econ.report import render

    timings = {}
    for label, fonts in (("core fonts (Helvetica)", render._PDF_CORE_FONTS),
                         ("embedded DejaVu Sans", render._PDF_EMBEDDED_FONTS)):
        original = render._pdf_fonts
        render._pdf_fonts = lambda *_, fonts=fonts: dict(fonts)
        try:
            wall, cpu = time.perf_counter(), time.process_time()
            render.write_pdf(content, images, out / f"{label.split()[0]}.pdf")
            timings[label] = (time.perf_counter() - wall, time.process_time() - cpu)
        finally:
            render._pdf_fonts = original
    return timings


def peer_read() -> tuple[float, float]:
    """``read_events`` of the same logs: the floor any report has to pay."""
    from deliverability_econ import read_events

    wall, cpu = time.perf_counter(), time.process_time()
    read_events(LOGS)
    return time.perf_counter() - wall, time.process_time() - cpu


def end_to_end(out: Path) -> tuple[float, float]:
    """``deliverability-econ report`` in a fresh process [wall s, CPU s of the child]."""
    command = [str(Path(sys.executable).with_name("deliverability-econ")), "report", str(LOGS),
               "--config", str(CONFIG), "--seed-tests", str(CALIBRATION / "seed_tests.csv"),
               "--postmaster", str(CALIBRATION / "postmaster_traffic_stats.jsonl"),
               "--snds", str(CALIBRATION / "snds.csv"), "--dmarc", str(DMARC),
               "--dns", str(DNS_ZONE), "--out", str(out)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-draws", type=int, default=None,
                        help="Monte Carlo draws (default: the report's own default)")
    parser.add_argument("--repeat", type=int, default=1, help="in-process runs")
    parser.add_argument("--no-cli", action="store_true", help="skip the end-to-end run")
    args = parser.parse_args()

    from deliverability_econ.report import render  # imports before the clock

    # Keep what the last run gave the PDF writer, for the fonts peer.
    captured: dict = {}
    write_pdf = render.write_pdf

    def capturing_write_pdf(content, images, path):
        captured.update(content=content, images=images)
        return write_pdf(content, images, path)

    render.write_pdf = capturing_write_pdf
    with tempfile.TemporaryDirectory(prefix="bench_report_") as tmp:
        peer_wall, peer_cpu = peer_read()
        runs = [in_process(args.n_draws, Path(tmp) / f"run{i}") for i in range(args.repeat)]
        render.write_pdf = write_pdf
        fonts = pdf_fonts_peer(captured["content"], captured["images"], Path(tmp))
        cli = None if args.no_cli else end_to_end(Path(tmp) / "cli")

    print(f"sample: {LOGS.relative_to(ROOT)}; n_draws: {args.n_draws or 'report default'}\n")
    header = " | ".join(f"run {i + 1} wall / CPU [s]" for i in range(len(runs)))
    print(f"| stage | what | {header} |\n|---|---|" + "---:|" * len(runs))
    keys = list(STAGES) + sorted({k for t, _, _ in runs for k in t} - set(STAGES))
    nan = {"wall": float("nan"), "cpu": float("nan")}
    for key in keys:
        if not any(key in t for t, _, _ in runs):
            continue
        cells = " | ".join(f"{t.get(key, nan)['wall']:.2f} / {t.get(key, nan)['cpu']:.2f}"
                           for t, _, _ in runs)
        print(f"| {key} | {STAGES.get(key, '')} | {cells} |")
    cells = " | ".join(f"**{w:.2f} / {c:.2f}**" for _, w, c in runs)
    print(f"| **total** | generate_report | {cells} |")

    for index, (timings, wall, _) in enumerate(runs):
        auth_wall = sum(timings.get(k, nan)["wall"] for k in AUTHENTICATION_STAGES)
        auth_cpu = sum(timings.get(k, nan)["cpu"] for k in AUTHENTICATION_STAGES)
        print(f"\nrun {index + 1}: authentication sections ({', '.join(AUTHENTICATION_STAGES)}) "
              f"{auth_wall:.2f} s wall, {auth_cpu:.2f} s CPU = {auth_wall / wall:.0%} of the "
              f"report's wall time; goal < {AUTHENTICATION_GOAL_SECONDS:.0f} s: "
              f"{'met' if auth_wall < AUTHENTICATION_GOAL_SECONDS else 'missed'} (wall), "
              f"{'met' if auth_cpu < AUTHENTICATION_GOAL_SECONDS else 'missed'} (CPU)")

    best_wall = min(w for _, w, _ in runs)
    print(f"\npeer, read_events alone: {peer_wall:.2f} s wall, {peer_cpu:.2f} s CPU; "
          f"report / read: {best_wall / peer_wall:.1f}x (wall)")
    (core_wall, core_cpu), (embedded_wall, embedded_cpu) = fonts.values()
    print("report.pdf from the same content: " + "; ".join(
        f"{label} {wall:.2f} s wall, {cpu:.2f} s CPU" for label, (wall, cpu) in fonts.items())
        + f"; embedded / core: {embedded_cpu / core_cpu:.1f}x (CPU), "
          f"{embedded_wall / core_wall:.1f}x (wall)")
    if cli is not None:
        print(f"deliverability-econ report (fresh process, imports included): {cli[0]:.2f} s "
              f"wall, {cli[1]:.2f} s CPU; goal < {GOAL_SECONDS:.0f} s: "
              f"{'met' if cli[0] < GOAL_SECONDS else 'missed'} (wall), "
              f"{'met' if cli[1] < GOAL_SECONDS else 'missed'} (CPU)")
    print(f"load average (1 min) on {os.cpu_count()} CPUs: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
