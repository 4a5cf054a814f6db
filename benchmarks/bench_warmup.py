"""Warm-up dynamics benchmark: 10,000 Monte Carlo draws x 730 days x 5 providers.

The goal (issue "What to change and whether it pays"): under 10 s. Times
:func:`deliverability_econ.warmup.simulate_warmup` on SparkPost's schedule to 250,000 messages
a day, with per-draw ``cap_headroom`` and ``cold_gap`` and score noise, once keeping every
output and once keeping only ``inbox`` and ``deferred`` (what the scenario model needs). Both
wall-clock and CPU time are printed: on a shared machine CPU time is the fairer figure.

Run from the repository root::

    .venv/bin/python benchmarks/bench_warmup.py
    .venv/bin/python benchmarks/bench_warmup.py --draws 2000 --days 365
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from deliverability_econ.warmup import WarmupParameters, simulate_warmup, volume_plan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=730)
    args = parser.parse_args()
    plan = volume_plan("sparkpost", 250_000, args.days)
    rng = np.random.default_rng(0)
    parameters = WarmupParameters(cap_headroom=rng.uniform(2.0, 4.0, args.draws),
                                  cold_gap=rng.uniform(5.0, 15.0, args.draws), noise_sd=0.8)
    print("| outputs | draws | days | providers | wall [s] | CPU [s] |\n|---|---|---|---|---|---|")
    for label, outputs in (("all", None), ("inbox, deferred", ("inbox", "deferred"))):
        wall, cpu = time.perf_counter(), time.process_time()
        result = simulate_warmup(plan, parameters, random_state=1, outputs=outputs)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        draws, days, providers = result.inbox.shape
        print(f"| {label} | {draws:,} | {days} | {providers} | {wall:.2f} | {cpu:.2f} |")
        del result
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak resident memory: {peak_mb:,.0f} MB")


if __name__ == "__main__":
    main()
