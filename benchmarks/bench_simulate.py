"""Simulator benchmark: how fast :func:`deliverability_econ.simulate.sender` produces events.

Times one simulation per step in this process (the package is imported first, so import time
is not counted) and prints messages/s and events/s:

- ``sender``: everything :func:`sender` returns eagerly (audience, schedule, the day-by-day
  outcome loop, engagement, the canonical events table, the truth tables, seed tests,
  Postmaster and SNDS);
- ``event_details``: the wire details for format writers, built on first access;
- the peak resident memory of the process at the end (``ru_maxrss``).

The default size is the brief's: about one million messages (100,000 recipients for 90 days
of the baseline scenario give ~1.0M messages and ~2.8M events).

Run from the repository root::

    .venv/bin/python benchmarks/bench_simulate.py
    .venv/bin/python benchmarks/bench_simulate.py --recipients 20000 --scenario cold_cutover

Figures go to stdout as a Markdown table.
"""

from __future__ import annotations

import argparse
import platform
import resource
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=100_000, help="audience size")
    parser.add_argument("--days", type=int, default=90, help="simulated days")
    parser.add_argument("--scenario", default="baseline", help="scenario name")
    parser.add_argument("--seed", type=int, default=1, help="random_state")
    parser.add_argument("--start", default="2026-06-01", help="first simulated day (UTC)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    from deliverability_econ.simulate import sender

    import_seconds = time.perf_counter() - started

    started = time.perf_counter()
    result = sender(days=args.days, recipients=args.recipients, scenario=args.scenario,
                    random_state=args.seed, start=args.start)
    sender_seconds = time.perf_counter() - started
    started = time.perf_counter()
    details = result.event_details
    details_seconds = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    n_messages, n_events = len(result.messages_truth), len(result.events)
    assert len(details) == n_events
    print(f"{args.scenario}: {args.recipients:,} recipients x {args.days} days -> "
          f"{n_messages:,} messages, {n_events:,} events; Python {platform.python_version()}, "
          f"import {import_seconds:.1f} s, peak memory {peak_mib:,.0f} MiB\n")
    print("| step | seconds | messages/s | events/s |")
    print("|---|---:|---:|---:|")
    for name, seconds in (("sender (events + truth + calibration)", sender_seconds),
                          ("event_details (wire details)", details_seconds),
                          ("total", sender_seconds + details_seconds)):
        print(f"| {name} | {seconds:.2f} | {n_messages / seconds:,.0f} | {n_events / seconds:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
