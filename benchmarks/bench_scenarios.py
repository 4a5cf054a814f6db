"""Scenario benchmark: 10,000 Monte Carlo draws of a 24-month daily simulation, 5 providers.

The goal (issue "What to change and whether it pays"): :func:`deliverability_econ.scenarios.
simulate_option` for a dedicated IP on SendGrid's ramp against the shared pool (both
simulated: the baseline's shared pool and the option's warm-up dynamics, funnel values and
cash flows) in under 10 s. The machine is shared and noisy, so wall-clock time, CPU time
(all threads of this process) and peak resident memory are all reported.

Run from the repository root::

    .venv/bin/python benchmarks/bench_scenarios.py
    .venv/bin/python benchmarks/bench_scenarios.py --draws 2000 --option optimized_stack
"""

from __future__ import annotations

import argparse
import os
import resource
import time

from deliverability_econ.scenarios import simulate_option


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=10_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--option", default="dedicated_ip")
    parser.add_argument("--volume", type=float, default=3_000_000.0,
                        help="messages per month")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    print("| option | draws | months | providers | wall [s] | CPU [s] | goal |\n"
          "|---|---|---|---|---|---|---|")
    for _ in range(args.repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        result = simulate_option(args.option, args.volume, horizon_months=args.months,
                                 draws=args.draws, random_state=1)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        draws, months, providers = result.monthly_inbox_rate.shape
        print(f"| {args.option} | {draws:,} | {months} | {providers} | {wall:.2f} | {cpu:.2f} "
              f"| {'met' if wall < 10 else 'missed'} (wall) |")
        del result
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak resident memory: {peak_mb:,.0f} MB")
    print(f"load average (1 min) on {os.cpu_count()} CPUs: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
