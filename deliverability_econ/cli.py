"""The ``deliverability-econ`` command.

::

    deliverability-econ ingest FILES... -o DATASET [--format F] [--errors raise|quarantine]
                                                   [--no-pseudonymize] [--salt S] [--no-progress]
    deliverability-econ demo [DIRECTORY]

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
        help="read the sample exports and print deliverability per mailbox provider",
        description="Read every export in DIRECTORY (default: ./data) and print, per mailbox "
        "provider, messages sent and the delivery, bounce, complaint and human open rates.",
    )
    demo.add_argument("directory", nargs="?", default=None, metavar="DIRECTORY")
    demo.set_defaults(handler=_run_demo)
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
    for candidate in (Path.cwd() / DEFAULT_DEMO_DIRECTORY,
                      Path(__file__).resolve().parent.parent / DEFAULT_DEMO_DIRECTORY):
        if candidate.is_dir() and any(p.is_file() and not p.name.startswith(".")
                                      for p in candidate.rglob("*")):
            return candidate
    raise FileNotFoundError(f"no sample exports found in ./{DEFAULT_DEMO_DIRECTORY}/; "
                            "pass a directory: deliverability-econ demo DIRECTORY")


def provider_summary(events: pd.DataFrame) -> pd.DataFrame:
    """Per mailbox provider: messages and their delivery, bounce, complaint and human open rates.

    A stand-in computed on the events with plain pandas (the messages table will replace it).

    Parameters
    ----------
    events : DataFrame
        Canonical events.

    Returns
    -------
    DataFrame
        Indexed by ``mailbox_provider``, largest first, with ``messages`` [count],
        ``delivery_rate`` (delivered / messages), ``bounce_rate`` (bounced / messages),
        ``complaint_rate`` (complained / delivered) and ``human_open_rate`` (messages opened by
        a person, machine opens excluded / delivered), rates as fractions 0-1.
    """
    event = events["event"].astype("string")
    flags = pd.DataFrame({
        "message_id": events["message_id"],
        "delivered": (event == "delivered").fillna(False).to_numpy(),
        "bounced": (event == "bounced").fillna(False).to_numpy(),
        "complained": (event == "complained").fillna(False).to_numpy(),
        "opened_human": ((event == "opened") & ~events["is_machine"].fillna(False)).fillna(False)
        .to_numpy(),
    })
    per_message = flags.groupby("message_id", sort=False).any()
    # A message's provider is its recipient's; take the first seen.
    provider = events.groupby("message_id", sort=False, observed=True)["mailbox_provider"].first()
    per_message["mailbox_provider"] = provider.astype("string")
    grouped = per_message.groupby("mailbox_provider")
    table = pd.DataFrame({
        "messages": grouped.size(),
        "delivered": grouped["delivered"].sum(),
        "bounced": grouped["bounced"].sum(),
        "complained": grouped["complained"].sum(),
        "opened_human": grouped["opened_human"].sum(),
    })
    delivered = table["delivered"].where(table["delivered"] > 0)
    summary = pd.DataFrame({
        "messages": table["messages"].astype(int),
        "delivery_rate": table["delivered"] / table["messages"],
        "bounce_rate": table["bounced"] / table["messages"],
        "complaint_rate": table["complained"] / delivered,
        "human_open_rate": table["opened_human"] / delivered,
    })
    return summary.sort_values("messages", ascending=False)


def _run_demo(args: argparse.Namespace) -> int:
    from .io import read_events

    directory = _demo_directory(args.directory)
    events, meta = read_events(directory)
    print(f"{directory}: {len(meta['sources'])} file(s), {meta['records_read']:,} records, "
          f"{meta['events']:,} events, {meta['duplicates']:,} duplicates, "
          f"{meta['quarantined']:,} quarantined")
    if events.empty:
        print("no events to summarize")
        return 0
    summary = provider_summary(events)
    shown = summary.copy()
    for column in ("delivery_rate", "bounce_rate", "complaint_rate", "human_open_rate"):
        shown[column] = summary[column].map(lambda v: "n/a" if pd.isna(v) else f"{100 * v:.2f} %")
    shown.columns = ["messages", "delivered", "bounced", "complaints / delivered",
                     "human opens / delivered"]
    print(shown.to_string())
    return 0
