"""The ``deliverability-econ`` command.

::

    deliverability-econ ingest FILES... -o DATASET [--format F] [--errors raise|quarantine]
                                                   [--no-pseudonymize] [--salt S] [--no-progress]
    deliverability-econ demo [DIRECTORY] [--out DIR] [--no-report]
    deliverability-econ simulate --format sendgrid --days 90 --recipients 50000 --seed 7 -o DIR
    deliverability-econ report LOGS... [--config scenario.toml] [--dmarc PATH]... [--dns FILE]
                                       [--seed-tests F] [--postmaster F] [--snds F] --out DIR

Exit status: 0 on success; 2 with a one-line message on bad input (an unreadable record with
``--errors raise``, a missing file, a format that cannot be told) or a usage error; never a
traceback for bad input.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

PROGRAM = "deliverability-econ"

#: Where ``demo`` looks for sample exports when no directory is given (relative to the current
#: directory, then to the source checkout).
DEFAULT_DEMO_DIRECTORY = "data"
#: The simulated sample sender inside it, preferred when present.
DEFAULT_SAMPLE_DIRECTORY = "data/sample_sender"


class UsageError(Exception):
    """A command-line mistake: reported in one line with exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line instead of usage + message
        raise UsageError(f"{message} (see {self.prog} --help)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with one sub-command per task."""
    from . import __version__

    parser = _Parser(prog=PROGRAM, description="The economics of email deliverability, from ESP logs.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    ingest = commands.add_parser(
        "ingest",
        help="read exports into a day-partitioned Parquet dataset (streaming, de-duplicated)",
        description="Read ESP exports and MTA logs (plain, .gz, .bz2 or .zip) into a "
        "day-partitioned Parquet dataset. Bad records are quarantined in DATASET/_quarantine/; "
        "events already in the dataset are counted as duplicates and not written again.",
    )
    ingest.add_argument("files", nargs="+", metavar="FILES", help="files, globs or directories")
    ingest.add_argument("-o", "--out", required=True, metavar="DATASET", help="dataset directory")
    ingest.add_argument("--format", default="auto",
                        help="source format (default: detected per file from its content)")
    ingest.add_argument("--errors", choices=("quarantine", "raise"), default="quarantine",
                        help="quarantine bad records (default) or stop at the first")
    ingest.add_argument("--no-pseudonymize", dest="pseudonymize", action="store_false",
                        help="keep recipient addresses in clear (default: keyed hash)")
    ingest.add_argument("--salt", default=None,
                        help="pseudonymization key (default: $DELIVERABILITY_ECON_SALT or the "
                        "installation key)")
    ingest.add_argument("--no-progress", dest="progress", action="store_false",
                        help="no progress bar")
    ingest.set_defaults(handler=_run_ingest)

    demo = commands.add_parser(
        "demo",
        help="read the sample exports, print deliverability per mailbox provider and write "
        "the executive report",
        description="Read every export in DIRECTORY (default: ./data/sample_sender, else "
        "./data) and print, per mailbox provider, messages sent and the delivery, bounce, "
        "complaint and human open rates. For the sample sender, then write the executive "
        "report into --out, with its calibration files, DMARC aggregate reports "
        "(calibration/dmarc/) and DNS records (../sample_dns.zone) where present.",
    )
    demo.add_argument("directory", nargs="?", default=None, metavar="DIRECTORY")
    demo.add_argument("--out", default="demo-output", metavar="DIR",
                      help="where the executive report goes (default: ./demo-output)")
    demo.add_argument("--no-report", action="store_true", help="print the tables only")
    demo.set_defaults(handler=_run_demo)

    simulate = commands.add_parser(
        "simulate",
        help="write a synthetic sender's logs, calibration data and ground truth",
        description="Simulate a sender with known ground truth and write its logs in the given "
        "wire formats, its seed tests, Postmaster and SNDS rows, and the truth tables.",
    )
    simulate.add_argument("--format", default="sendgrid",
                          help="one format or a comma list (sendgrid, ses, mailgun, postmark, "
                          "sparkpost, mandrill, brevo, postfix, csv) or 'all'")
    simulate.add_argument("--days", type=int, default=90, help="simulated days [days]")
    simulate.add_argument("--recipients", type=int, default=50_000, help="audience size [recipients]")
    simulate.add_argument("--seed", type=int, default=7, help="random seed")
    simulate.add_argument("--scenario", default="baseline", help="named scenario, e.g. cold_cutover")
    simulate.add_argument("--start", default="2026-06-01", help="first day (UTC), YYYY-MM-DD")
    simulate.add_argument("-o", "--out", required=True, metavar="DIR")
    simulate.set_defaults(handler=_run_simulate)

    report = commands.add_parser(
        "report",
        help="write the executive report (report.html, report.pdf, summary.json)",
        description="Read logs, estimate placement and money, place the sender on the four "
        "levels of sending maturity, compare the infrastructure options with its current "
        "level, and write report.html, report.pdf and summary.json into --out. DMARC "
        "aggregate reports and DNS records add the authentication evidence; nothing is "
        "looked up on the network.",
    )
    report.add_argument("logs", nargs="+", metavar="LOGS")
    report.add_argument("--config", default=None,
                        help="scenario / funnel TOML (a baseline = \"<option>\" key, top "
                        "level or in [scenarios], overrides the sender's current level as the "
                        "options' baseline)")
    report.add_argument("--seed-tests", default=None, help="seed-list results CSV")
    report.add_argument("--postmaster", default=None, help="Google Postmaster export")
    report.add_argument("--snds", default=None, help="Microsoft SNDS CSV")
    report.add_argument("--dmarc", action="append", default=None, metavar="PATH",
                        help="DMARC aggregate reports: a file (.xml, .gz, .zip) or a folder of "
                        "them; repeat for several. Bad or hostile reports are quarantined")
    report.add_argument("--dns", default=None, metavar="FILE",
                        help="the sending domains' SPF, DMARC and DKIM records as text (zone "
                        "file fragment or dig output), checked offline")
    report.add_argument("--format", default="auto", help="force one log format")
    report.add_argument("--out", required=True, metavar="DIR")
    report.set_defaults(handler=_run_report)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    from .io import InputFormatError

    try:
        args = build_parser().parse_args(argv)
        return args.handler(args)
    except UsageError as error:
        print(f"{PROGRAM}: error: {error}", file=sys.stderr)
        return 2
    except (InputFormatError, FileNotFoundError, IsADirectoryError, NotADirectoryError,
            UnicodeError, ValueError) as error:
        # Bad input, not a bug: say what and where, in one line.
        print(f"{PROGRAM}: error: {_one_line(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROGRAM}: interrupted", file=sys.stderr)
        return 130


def _one_line(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return " ".join(text.split())


# --------------------------------------------------------------------------------------------
# ingest
# --------------------------------------------------------------------------------------------


def _run_ingest(args: argparse.Namespace) -> int:
    from .io.ingest import ingest

    summary = ingest(args.files, args.out, format=args.format, errors=args.errors,
                     pseudonymize=args.pseudonymize, salt=args.salt, progress=args.progress)
    print(format_ingest_summary(summary))
    return 0


def format_ingest_summary(summary: dict) -> str:
    """The closing summary of an ingest run as a small text table."""
    columns = ("sources", "records_read", "events", "duplicates", "quarantined", "ignored")
    headers = ("format", "files", "records", "new events", "duplicates", "quarantined", "ignored")
    rows = [[name] + [f"{counts[c]:,}" for c in columns]
            for name, counts in sorted(summary["by_format"].items())]
    totals = {c: sum(counts[c] for counts in summary["by_format"].values()) for c in columns}
    totals["records_read"] = summary["records_read"]
    totals["events"], totals["duplicates"] = summary["events"], summary["duplicates"]
    totals["quarantined"] = summary["quarantined"]
    totals["ignored"] = sum(summary["ignored"].values())
    rows.append(["total"] + [f"{totals[c]:,}" for c in columns])
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells) -> str:
        return "  ".join(str(cell).ljust(w) if i == 0 else str(cell).rjust(w)
                         for i, (cell, w) in enumerate(zip(cells, widths, strict=True)))

    out = [f"ingested into {summary['dataset']} (run {summary['run_id']}, {summary['seconds']:.1f} s)",
           line(headers), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    if summary["time_min"]:
        out.append(f"events from {summary['time_min']} to {summary['time_max']}; "
                   f"{len(summary['partitions'])} day partition(s) written")
    for reason, count in sorted(summary["ignored"].items()):
        out.append(f"ignored: {count:,} {reason}")
    if summary["quarantine_file"]:
        out.append(f"quarantined records (with reasons): {summary['quarantine_file']}")
    for warning in summary.get("warnings", []):
        out.append(f"warning: {warning}")
    return "\n".join(out)


# --------------------------------------------------------------------------------------------
# demo
# --------------------------------------------------------------------------------------------


def _demo_directory(given: str | None) -> Path:
    if given is not None:
        directory = Path(given)
        if not directory.is_dir():
            raise FileNotFoundError(f"{directory}: no such directory")
        return directory
    for base in (Path.cwd(), Path(__file__).resolve().parent.parent):
        for name in (DEFAULT_SAMPLE_DIRECTORY, DEFAULT_DEMO_DIRECTORY):
            candidate = base / name
            if candidate.is_dir() and any(p.is_file() and not p.name.startswith(".")
                                          for p in candidate.rglob("*")):
                return candidate
    raise FileNotFoundError(f"no sample exports found in ./{DEFAULT_DEMO_DIRECTORY}/; "
                            "pass a directory: deliverability-econ demo DIRECTORY")


def provider_summary(events: pd.DataFrame) -> pd.DataFrame:
    """Per mailbox provider: messages and their delivery, bounce, complaint and human open rates.

    Parameters
    ----------
    events : DataFrame
        Canonical events.

    Returns
    -------
    DataFrame
        Indexed by ``mailbox_provider``, largest first, with ``messages`` [count],
        ``delivery_rate`` (delivered / messages), ``bounce_rate`` (hard, soft and block bounces /
        messages), ``complaint_rate`` (complained / delivered) and ``human_open_rate`` (messages
        opened by a person, machine opens excluded / delivered), rates as fractions 0-1.
    """
    from .messages import messages as to_messages

    table = to_messages(events)
    table["mailbox_provider"] = table["mailbox_provider"].astype("string")
    table["bounced"] = table["bounced_hard"] | table["bounced_soft"] | table["blocked"]
    grouped = table.groupby("mailbox_provider")
    counts = pd.DataFrame({
        "messages": grouped.size(),
        "delivered": grouped["delivered"].sum(),
        "bounced": grouped["bounced"].sum(),
        "complained": grouped["complained"].sum(),
        "opened_human": grouped["opened_human"].sum(),
    })
    delivered = counts["delivered"].where(counts["delivered"] > 0)
    summary = pd.DataFrame({
        "messages": counts["messages"].astype(int),
        "delivery_rate": counts["delivered"] / counts["messages"],
        "bounce_rate": counts["bounced"] / counts["messages"],
        "complaint_rate": counts["complained"] / delivered,
        "human_open_rate": counts["opened_human"] / delivered,
    })
    return summary.sort_values("messages", ascending=False, kind="stable")


def _print_provider_block(label: str, events: pd.DataFrame, meta: dict) -> None:
    print(f"{label}: {len(meta['sources'])} file(s), {meta['records_read']:,} records, "
          f"{meta['events']:,} events, {meta['duplicates']:,} duplicates, "
          f"{meta['quarantined']:,} quarantined")
    if events.empty:
        print("no events to summarize")
        return
    summary = provider_summary(events)
    shown = summary.copy()
    for column in ("delivery_rate", "bounce_rate", "complaint_rate", "human_open_rate"):
        shown[column] = summary[column].map(lambda v: "n/a" if pd.isna(v) else f"{100 * v:.2f} %")
    shown.columns = ["messages", "delivered", "bounced", "complaints / delivered",
                     "human opens / delivered"]
    print(shown.to_string())


def _run_demo(args: argparse.Namespace) -> int:
    from .io import read_events

    directory = _demo_directory(args.directory)
    logs = directory / "logs"
    if logs.is_dir():
        # The sample sender: the same events written by several ESPs, one block per format.
        groups = sorted(p for p in logs.iterdir() if p.is_dir())
    else:
        groups = [directory]
    for index, group in enumerate(groups):
        if index:
            print()
        events, meta = read_events(group)
        _print_provider_block(str(group), events, meta)
    if len(groups) > 1:
        print("\nThe formats agree except where one cannot carry a field (see data/README.md: "
              "SES, Postmark, SparkPost and Mandrill have no machine-open flag, so their human "
              "opens include Apple Mail Privacy Protection prefetches).")

    calibration = directory / "calibration"
    if args.no_report or not logs.is_dir():
        return 0
    from .report import generate_report

    # The report reads one export of the sender: SendGrid's carries the machine-open flag.
    report_logs = next((g for g in groups if g.name == "sendgrid"), groups[0])
    config = directory.parent / "funnels.toml"
    dmarc = calibration / "dmarc"
    dns_records = directory.parent / "sample_dns.zone"
    out_dir = Path(args.out)
    print(f"\nWriting the executive report from the {report_logs.name} export "
          "(well under half a minute on an idle machine)...")
    paths = generate_report(
        report_logs,
        config=config if config.exists() else None,
        out_dir=out_dir,
        seed_tests=_existing(calibration / "seed_tests.csv"),
        postmaster=_existing(calibration / "postmaster_traffic_stats.jsonl"),
        snds=_existing(calibration / "snds.csv"),
        dmarc=dmarc if dmarc.is_dir() else None,
        dns_records=_existing(dns_records),
    )
    for name, path in paths.items():
        print(f"  {name}: {path}")
    print(f"Report written to {out_dir.resolve()}")
    return 0


def _existing(path: Path) -> Path | None:
    return path if path.exists() else None


# --------------------------------------------------------------------------------------------
# simulate and report
# --------------------------------------------------------------------------------------------


def _run_simulate(args: argparse.Namespace) -> int:
    from .simulate import simulate_to_directory
    from .simulate.scenarios import SCENARIOS

    if args.scenario not in SCENARIOS:
        raise UsageError(f"unknown scenario {args.scenario!r}; known: {', '.join(sorted(SCENARIOS))}")
    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    written = simulate_to_directory(
        args.out, format=formats if len(formats) > 1 else formats[0], days=args.days,
        recipients=args.recipients, seed=args.seed, scenario=args.scenario, start=args.start,
    )
    print(f"simulated {args.days} days, {args.recipients:,} recipients, scenario "
          f"{args.scenario!r}, seed {args.seed}: written to {Path(args.out).resolve()}")
    if isinstance(written, dict):
        for key, value in written.items():
            if isinstance(value, (str, Path)):
                print(f"  {key}: {value}")
    return 0


def _run_report(args: argparse.Namespace) -> int:
    from .report import generate_report

    # A mistyped evidence path is a usage error, not a report section "not available".
    for path in args.dmarc or []:
        if not Path(path).exists():
            raise FileNotFoundError(f"--dmarc {path}: no such file or directory")
    if args.dns is not None and not Path(args.dns).is_file():
        raise FileNotFoundError(f"--dns {args.dns}: no such file")
    paths = generate_report(args.logs, config=args.config, out_dir=args.out,
                            seed_tests=args.seed_tests, postmaster=args.postmaster,
                            snds=args.snds, dmarc=args.dmarc,
                            dns_records=None if args.dns is None else Path(args.dns),
                            format=args.format)
    for name, path in paths.items():
        print(f"{name}: {path}")
    return 0
