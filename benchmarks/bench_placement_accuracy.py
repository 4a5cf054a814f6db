"""Placement accuracy benchmark: :func:`deliverability_econ.estimate_placement` against the
simulator's ground truth, over many seeds and every scenario.

For each scenario of :data:`deliverability_econ.simulate.SCENARIOS` and each seed, a sender is
simulated (``--recipients`` for ``--days``), its canonical events are turned into the messages
table, and placement is estimated per mailbox provider and week in three calibration modes:

- ``seed_tests``: the simulated seed-list tests (weekly), Google Postmaster and Microsoft SNDS;
- ``postmaster_snds``: Postmaster and SNDS only (no seeds);
- ``benchmark``: nothing but the documented benchmark priors (``BENCHMARK_INBOX_SHARE``).

The truth is the simulator's true inbox count over all messages sent, summed to provider x
week (``truth`` table). Scored: provider-weeks with at least ``--min-delivered`` (2,000)
delivered messages. Reported per scenario and mode: cells, mean absolute error of
``inbox_rate`` [fraction of sent], its mean signed error (bias), the share of true values
inside the 90% interval (coverage), the mean interval width, and the mean absolute error of
the naive proxy (:func:`deliverability_econ.placement.naive_inbox_rate`: the week's open rate,
machine opens included, over the best week's, times the delivered share).

Simulated population (``--population``):

- ``prior`` (default): every simulated sender (scenario x seed) gets its own healthy placement.
  For each provider of the scenario's configuration the ``baseline_inbox_rate`` of its
  :class:`~deliverability_econ.simulate.ProviderProfile` is drawn from a Beta with the
  estimator's prior mean and sd for that provider (``BENCHMARK_INBOX_SHARE``, else
  ``DEFAULT_BENCHMARK_INBOX_SHARE``; Beta by moments), from a generator of its own seeded with
  ``[seed, 2]``, so a run is reproducible and the simulator's own draws (``random_state=seed``)
  are untouched. Everything else in the scenario's configuration stays as it is. This is the
  population the prior describes, so it is the one a calibration check must be scored on.
- ``nominal``: every sender's healthy placement is the simulator's provider figures
  (``PROVIDER_PROFILES``), which are the prior's means: the prior's doubt is never exercised
  and the intervals without seed tests over-cover. Kept for comparison; it writes
  ``placement_accuracy_nominal.md`` unless ``--out`` says otherwise.

Thresholds (the brief), checked on the ``prior`` population: MAE <= 0.03 with seed calibration,
<= 0.08 without; coverage of the 90% intervals between 0.85 and 0.95; better than the naive
proxy when the Apple share is high.

Run from the repository root (20-25 minutes on 2 loaded cores with the defaults)::

    .venv/bin/python benchmarks/bench_placement_accuracy.py
    .venv/bin/python benchmarks/bench_placement_accuracy.py --seeds 2 --scenarios baseline high_apple
    .venv/bin/python benchmarks/bench_placement_accuracy.py --population nominal

The table goes to stdout and to ``benchmarks/placement_accuracy.md`` (``--out``).
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import sys
import time
import warnings
import zlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

#: Calibration modes: name -> calibration tables passed to estimate_placement.
MODES: dict[str, tuple[str, ...]] = {
    "seed_tests": ("seed_tests", "postmaster", "snds"),
    "postmaster_snds": ("postmaster", "snds"),
    "benchmark": (),
}

#: How to read the tables (written under them).
NOTES = """\
## Reading the results

Figures quoted here are from the full `prior` run of 8 scenarios x 10 seeds (random_state
100-109) and from the nominal run above; a rerun with other settings moves them.

- **With seed tests** the calibration is tested for real: the simulator's seeds are a sample
  of the true process, independent of the benchmark figures. Error, bias and coverage of this
  mode are the honest measure of the estimator. They hardly move between the populations
  (coverage 0.936 and MAE 0.026 on the `prior` population, 0.935 and 0.025 on the nominal
  one), and coverage holds at 0.90-0.98 however far the sender sits from the prior mean: the
  seeds replace the prior.
- **Without seeds** almost all of the interval width is the benchmark prior's doubt about the
  sender's placement in its reference (upper-quartile engagement) week: with that doubt set
  to nothing the 90% intervals of steady senders narrow to about 0.08 and cover about 91%;
  the spam-folder engagement range `r` and the period-to-period engagement noise add under a
  point each. The prior's sd states section 9's "±5 pts" as its central 90%
  (`BENCHMARK_SD = 0.05 / 1.645`); read as one sd (0.05, before) the intervals covered 99%
  of the nominal population. On the nominal population every sender's healthy placement is
  the prior's mean, so that doubt is never exercised and the intervals cover 0.963-0.964; on
  the `prior` population, where senders spread as the prior says they do, coverage is
  0.859-0.865, inside [0.85, 0.95] but below 0.90, and MAE rises from 0.023 to 0.033-0.035.
  The table by distance shows the mechanism: cells of senders within one prior sd of the mean
  are covered about 95%, between 1 and 1.645 sd about 85%, beyond the prior's central 90%
  37-43% (below it) and 72-73% (above it). The asymmetry is the positive bias (next point),
  which lifts every interval and pulls the pooled coverage under 0.90. The draws of this
  run also put about 15% of scored cells outside the prior's central 90% (10% expected: the
  Gmail, Microsoft and business draws came out with an sd of 0.034-0.035 against the prior's
  0.030, 80 draws each), which lowers the pooled coverage somewhat. A real sender whose
  placement sits further from section 9's figures than the prior allows is not covered
  without seed tests.
- The **positive bias** without seeds (about +0.013 overall; Microsoft +0.021, business mail
  +0.013) is the simulator's realized placement sitting below the healthy figure it is built
  from, which the prior takes at face value: the 75th percentile of a sender's weekly true
  inbox share of delivered Microsoft mail sits about 0.019 below its healthy rate, Gmail's
  and business mail's about 0.010 below (means over the 80 senders, incidents included; on
  the nominal run Microsoft's upper-quartile weeks placed about 0.755 against 0.77 and
  business mail about 0.81 against 0.83): reputation noise on a concave link. In the **cold cut-over** it grows to about
  +0.025-0.028: the simulator's lifecycle streams are rescued from spam more often than the
  estimator's `r` range (0-0.10) allows (verification and password resets 0.25), so the
  spam-foldered weeks read too good; its coverage without seeds is 0.83.
- **Per scenario**, the 10 senders of a scenario draw 10 healthy placements per provider, so
  a scenario's figures without seeds carry the luck of those draws (standard error of their
  mean 0.0096 for sd 0.030): the list-hygiene senders drew business and Gmail placements
  about 0.022 and 0.015 below the prior means on average, and their coverage without seeds
  is 0.78-0.79 (0.95 on the nominal population). The pooled figures over 80 senders are the
  ones checked.
- **Postmaster** bands pull Gmail toward F19's figure for a HIGH band (0.915), above the
  simulator's Gmail placement at the nominal figure (about 0.89): on the nominal population
  that made Gmail's MAE slightly worse than the prior alone (0.0188 against 0.0158). On the
  `prior` population the band carries the sender's own reputation and helps (0.0235 against
  0.0288), most for senders far below the prior mean.
- **Apple** (iCloud) cells rarely reach 2,000 delivered messages here and rest on clicks only
  (95% of iCloud readers use Mail Privacy Protection, so human opens are invisible) and on 8
  seeds a week: their error is the largest.
- The **naive proxy** reads the week's open rate, machine opens included, against the best
  week: MPP opens happen in the spam folder too, so it stays near 1 while placement falls,
  and it takes the best week for 100% inbox.
"""

#: The brief's thresholds.
MAX_MAE_WITH_SEEDS = 0.03
MAX_MAE_WITHOUT_SEEDS = 0.08
COVERAGE_RANGE = (0.85, 0.95)

#: Simulated populations (``--population``); the thresholds are checked on the first.
POPULATIONS: tuple[str, ...] = ("prior", "nominal")

#: Stream id of the generator that draws a sender's healthy placement: it is seeded with
#: ``[seed, PLACEMENT_DRAW_STREAM, scenario_key(scenario)]``, apart from the simulator's own
#: ``random_state=seed``.
PLACEMENT_DRAW_STREAM = 2

#: Per calibration mode on the ``nominal`` population: (cells, MAE, bias, coverage of the 90%
#: intervals, mean width). Copied from ``placement_accuracy.md`` as it stood before the
#: ``--population`` option (8 scenarios x 10 seeds, random_state 100-109, 20,000 recipients,
#: 91 days, 2000 draws, 2,000 delivered messages a scored cell; 1442 s on 2 processes). Rerun
#: with ``--population nominal`` to refresh it for a later estimator.
NOMINAL_REFERENCE: dict[str, tuple[int, float, float, float, float]] = {
    "seed_tests": (3120, 0.0254, 0.0025, 0.9349, 0.1149),
    "postmaster_snds": (3120, 0.0235, 0.0135, 0.9628, 0.1265),
    "benchmark": (3120, 0.0225, 0.0123, 0.9638, 0.1291),
}


def prior_inbox_share(provider: str) -> tuple[float, float]:
    """The estimator's benchmark prior for ``provider``: (mean, sd) [fraction of delivered 0-1].

    ``BENCHMARK_INBOX_SHARE``, or ``DEFAULT_BENCHMARK_INBOX_SHARE`` for a provider without an
    entry (as :func:`deliverability_econ.estimate_placement` reads them).
    """
    from deliverability_econ.placement import (
        BENCHMARK_INBOX_SHARE,
        DEFAULT_BENCHMARK_INBOX_SHARE,
    )

    mean, sd = BENCHMARK_INBOX_SHARE.get(provider, DEFAULT_BENCHMARK_INBOX_SHARE)
    return float(mean), float(sd)


def scenario_key(scenario: str) -> int:
    """A stable integer for a scenario name (CRC-32), so that senders of different scenarios
    with the same seed draw different healthy placements."""
    return zlib.crc32(scenario.encode("utf-8"))


def draw_healthy_inbox_rates(providers, seed: int, scenario: str) -> dict[str, float]:
    """One sender's healthy inbox share of delivered mail per provider, drawn from the prior.

    Parameters
    ----------
    providers : iterable of str
        Mailbox provider names; drawn in sorted order, so the draws do not depend on the
        order of the configuration's mapping.
    seed : int
        The run's seed (the simulator's ``random_state``) [-].
    scenario : str
        Scenario name; with ``seed`` it seeds the generator
        ``numpy.random.default_rng([seed, PLACEMENT_DRAW_STREAM, scenario_key(scenario)])``.

    Returns
    -------
    dict of str to float
        Provider -> a draw of ``Beta`` with the mean and sd of :func:`prior_inbox_share`
        (method of moments, ``placement.beta_parameters``) [fraction 0-1].
    """
    from deliverability_econ.placement import beta_parameters

    rng = np.random.default_rng([int(seed), PLACEMENT_DRAW_STREAM, scenario_key(scenario)])
    rates = {}
    for provider in sorted(providers):
        a, b = beta_parameters(*prior_inbox_share(provider))
        rates[provider] = float(rng.beta(a, b))
    return rates


def population_config(scenario: str, days: int, seed: int, population: str = "prior"):
    """The simulated sender's configuration and its healthy inbox rates per provider.

    Parameters
    ----------
    scenario : str
        Name in :data:`deliverability_econ.simulate.SCENARIOS`.
    days : int
        Simulated days [days] (scenarios time their incidents by it).
    seed : int
        The run's seed [-].
    population : {"prior", "nominal"}
        ``prior``: each provider's ``baseline_inbox_rate`` replaced by
        :func:`draw_healthy_inbox_rates`, nothing else changed; ``nominal``: the scenario's
        configuration as it is.

    Returns
    -------
    config : deliverability_econ.simulate.SenderConfig
    rates : dict of str to float
        Provider -> ``baseline_inbox_rate`` in ``config`` [fraction of delivered 0-1].
    """
    from deliverability_econ.simulate import scenario_config

    if population not in POPULATIONS:
        raise ValueError(f"population must be one of {POPULATIONS}, not {population!r}")
    config = scenario_config(scenario, days)
    if population == "prior":
        rates = draw_healthy_inbox_rates(config.providers, seed, scenario)
        providers = {
            name: dataclasses.replace(profile, baseline_inbox_rate=rates[name])
            for name, profile in config.providers.items()
        }
        config = dataclasses.replace(config, providers=providers)
    rates = {name: profile.baseline_inbox_rate for name, profile in config.providers.items()}
    return config, rates


def score_run(
    scenario: str,
    seed: int,
    recipients: int,
    days: int,
    n_draws: int,
    min_delivered: int,
    population: str = "prior",
) -> pd.DataFrame:
    """Scored provider-weeks of one simulated sender, all modes (one row per cell and mode).

    ``healthy_inbox_rate`` is the sender's healthy placement of the cell's provider (the
    simulator's ``baseline_inbox_rate``), ``prior_mean`` the estimator's prior mean for it.
    """
    warnings.simplefilter("ignore")
    from deliverability_econ import messages
    from deliverability_econ.placement import estimate_placement, naive_inbox_rate
    from deliverability_econ.rates import period_start
    from deliverability_econ.simulate import sender

    config, healthy = population_config(scenario, days, seed, population)
    run = sender(config, days=days, recipients=recipients, random_state=seed, start="2025-01-06")
    table = messages(run.events)
    truth = (
        run.truth.assign(
            period=period_start(run.truth["date"].dt.tz_convert("UTC").dt.tz_localize(None), "W"),
            mailbox_provider=run.truth["mailbox_provider"].astype(str),
        )
        .groupby(["period", "mailbox_provider"])[["messages", "inbox"]]
        .sum()
        .reset_index()
    )
    truth["true_inbox_rate"] = truth["inbox"] / truth["messages"]
    naive = naive_inbox_rate(table)
    naive["mailbox_provider"] = naive["mailbox_provider"].astype(str)
    calibration = {"seed_tests": run.seed_tests, "postmaster": run.postmaster, "snds": run.snds}
    frames = []
    for mode, sources in MODES.items():
        started = time.perf_counter()
        estimate = estimate_placement(
            table,
            n_draws=n_draws,
            random_state=seed,
            **{name: calibration[name] for name in sources},
        )
        seconds = time.perf_counter() - started
        estimate["mailbox_provider"] = estimate["mailbox_provider"].astype(str)
        joined = estimate.merge(truth, on=["period", "mailbox_provider"]).merge(
            naive[["period", "mailbox_provider", "inbox_rate_naive"]],
            on=["period", "mailbox_provider"],
        )
        joined = joined[joined["delivered"] >= min_delivered]
        frames.append(
            joined.assign(
                scenario=scenario,
                seed=seed,
                mode=mode,
                seconds=seconds,
                apple_share=run.parameters["apple_mail_share_realized"],
                healthy_inbox_rate=joined["mailbox_provider"].map(healthy).astype(float),
                prior_mean=joined["mailbox_provider"].map(lambda p: prior_inbox_share(p)[0]),
            )
        )
    return pd.concat(frames, ignore_index=True)


def summarize(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Cells, MAE, bias, coverage, width and the naive proxy's MAE per ``keys``."""
    frame = frame.assign(
        error=frame["inbox_rate"] - frame["true_inbox_rate"],
        covered=(frame["inbox_low"] <= frame["true_inbox_rate"])
        & (frame["true_inbox_rate"] <= frame["inbox_high"]),
        width=frame["inbox_high"] - frame["inbox_low"],
        naive_error=(frame["inbox_rate_naive"] - frame["true_inbox_rate"]).abs(),
    )
    grouped = frame.groupby(keys, sort=False)
    return pd.DataFrame(
        {
            "cells": grouped.size(),
            "mae": grouped["error"].apply(lambda e: e.abs().mean()),
            "bias": grouped["error"].mean(),
            "coverage_90": grouped["covered"].mean(),
            "mean_width": grouped["width"].mean(),
            "naive_mae": grouped["naive_error"].mean(),
        }
    ).reset_index()


def markdown(table: pd.DataFrame) -> str:
    header = "| " + " | ".join(table.columns) + " |"
    rule = (
        "|"
        + "|".join("---:" if pd.api.types.is_numeric_dtype(t) else "---" for t in table.dtypes)
        + "|"
    )
    lines = [header, rule]
    for row in table.itertuples(index=False):
        cells = [f"{v:.4f}" if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def checks(frame: pd.DataFrame) -> list[tuple[str, bool, str]]:
    """The brief's thresholds, each (statement, passed, measured)."""
    by_mode = summarize(frame, ["mode"]).set_index("mode")
    out = []
    mae = by_mode.loc["seed_tests", "mae"]
    out.append(
        (
            f"MAE with seed calibration <= {MAX_MAE_WITH_SEEDS}",
            mae <= MAX_MAE_WITH_SEEDS,
            f"{mae:.4f}",
        )
    )
    for mode in ("postmaster_snds", "benchmark"):
        mae = by_mode.loc[mode, "mae"]
        out.append(
            (
                f"MAE without seeds ({mode}) <= {MAX_MAE_WITHOUT_SEEDS}",
                mae <= MAX_MAE_WITHOUT_SEEDS,
                f"{mae:.4f}",
            )
        )
    for mode in MODES:
        coverage = by_mode.loc[mode, "coverage_90"]
        low, high = COVERAGE_RANGE
        out.append(
            (
                f"90% coverage in [{low}, {high}] ({mode})",
                low <= coverage <= high,
                f"{coverage:.3f}",
            )
        )
    if "high_apple" in set(frame["scenario"]):
        apple = summarize(frame[frame["scenario"] == "high_apple"], ["mode"]).set_index("mode")
        for mode in MODES:
            ours, naive = apple.loc[mode, "mae"], apple.loc[mode, "naive_mae"]
            out.append(
                (
                    f"beats the naive proxy, high Apple share ({mode})",
                    ours < naive,
                    f"{ours:.4f} vs {naive:.4f}",
                )
            )
    return out


def healthy_rates(jobs: list[tuple[str, int]], days: int, population: str) -> pd.DataFrame:
    """The healthy inbox rate of every simulated sender and provider: one row per
    (scenario, seed, mailbox_provider), with ``prior_mean``, ``prior_sd`` and whether the rate
    sits above the simulator's link ceiling (``capped``: there the simulator uses the ceiling)."""
    rows = []
    for scenario, seed in jobs:
        config, rates = population_config(scenario, days, seed, population)
        ceiling = 0.999 * config.reputation.link_ceiling  # as simulate/engine.py caps it
        for provider, rate in rates.items():
            mean, sd = prior_inbox_share(provider)
            rows.append(
                {
                    "scenario": scenario,
                    "seed": seed,
                    "mailbox_provider": provider,
                    "rate": rate,
                    "prior_mean": mean,
                    "prior_sd": sd,
                    "capped": rate > ceiling,
                }
            )
    return pd.DataFrame(rows)


def rate_spread(rates: pd.DataFrame) -> pd.DataFrame:
    """Per provider: the prior's mean and sd against the drawn rates' mean, sd, range and the
    share outside the prior's central 90% (about 0.10 expected)."""
    rates = rates.assign(
        outside_90=(rates["rate"] - rates["prior_mean"]).abs() > 1.645 * rates["prior_sd"]
    )
    grouped = rates.groupby("mailbox_provider", sort=True)
    return pd.DataFrame(
        {
            "senders": grouped.size(),
            "prior_mean": grouped["prior_mean"].first(),
            "prior_sd": grouped["prior_sd"].first(),
            "drawn_mean": grouped["rate"].mean(),
            "drawn_sd": grouped["rate"].std(),
            "drawn_min": grouped["rate"].min(),
            "drawn_max": grouped["rate"].max(),
            "outside_prior_90": grouped["outside_90"].mean(),
            "capped": grouped["capped"].sum().astype(int),
        }
    ).reset_index()


def distance_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Scores per mode by how far the sender's healthy placement of the cell's provider sits
    from the prior mean, in prior sds ``z``: within 1, between 1 and 1.645 (the edge of the
    prior's central 90%), below -1.645 and above 1.645."""
    sd = frame["mailbox_provider"].map(lambda p: prior_inbox_share(p)[1])
    z = (frame["healthy_inbox_rate"] - frame["prior_mean"]) / sd
    edge = 1.645
    distance = np.select(
        [z.abs() <= 1, z.abs() <= edge, z < -edge],
        ["abs(z) <= 1", "1 < abs(z) <= 1.645", "z < -1.645"],
        "z > 1.645",
    )
    order = ["abs(z) <= 1", "1 < abs(z) <= 1.645", "z < -1.645", "z > 1.645"]
    table = summarize(frame.assign(distance=distance), ["mode", "distance"])
    table["distance"] = pd.Categorical(table["distance"], order, ordered=True)
    table["mode"] = pd.Categorical(table["mode"], list(MODES), ordered=True)
    table = table.sort_values(["mode", "distance"]).drop(columns="naive_mae")
    return table.astype({"mode": str, "distance": str}).reset_index(drop=True)


def nominal_reference_table() -> pd.DataFrame:
    """:data:`NOMINAL_REFERENCE` as a table."""
    return pd.DataFrame(
        [(mode, *values) for mode, values in NOMINAL_REFERENCE.items()],
        columns=["mode", "cells", "mae", "bias", "coverage_90", "mean_width"],
    )


def render(frame: pd.DataFrame, rates: pd.DataFrame, settings: dict, elapsed: float) -> str:
    """The markdown report of one run. ``settings``: the parsed arguments as a dict."""
    population = settings["population"]
    scenarios = list(dict.fromkeys(frame["scenario"]))
    first, seeds = settings["first_seed"], settings["seeds"]
    per_scenario = summarize(frame, ["scenario", "mode"])
    per_mode = summarize(frame, ["mode"])
    per_provider = summarize(frame, ["mode", "mailbox_provider"])
    seconds = frame.drop_duplicates(["scenario", "seed", "mode"]).groupby("mode")["seconds"].mean()
    verdicts = checks(frame)

    if population == "prior":
        spread = rate_spread(rates)
        population_text = [
            f"Population: **`prior`**. Each of the {len(rates.groupby(['scenario', 'seed']))} "
            "simulated senders (scenario x seed) has its own healthy placement: for every "
            "provider its `baseline_inbox_rate` (inbox share of delivered mail for a healthy, "
            "warmed sender) is drawn from a Beta with the estimator's prior mean and sd for that "
            "provider (`placement.BENCHMARK_INBOX_SHARE`, sd `BENCHMARK_SD` = 0.0304; Comcast "
            "`DEFAULT_BENCHMARK_INBOX_SHARE`, 0.85 +- 0.07), method of moments, generator "
            f"`numpy.random.default_rng([seed, {PLACEMENT_DRAW_STREAM}, crc32(scenario)])`. "
            "Everything else in the scenario's configuration is unchanged. This is the "
            "population the prior describes, so the thresholds below are checked on it. Drawn "
            "rates over the senders (`outside_prior_90`: share outside the prior's central 90%, "
            "about 0.10 expected; `capped`: draws above the simulator's link ceiling 0.979, "
            "where it uses the ceiling):",
            "",
            markdown(spread),
        ]
    else:
        population_text = [
            "Population: **`nominal`**: every sender's healthy placement is the simulator's "
            "provider figures (`simulate.PROVIDER_PROFILES`), which are the estimator's prior "
            "means, so the prior's doubt is never exercised. For comparison only: the "
            "thresholds are meant for the `prior` population (`placement_accuracy.md`).",
        ]

    lines = [
        "# Placement accuracy on simulated senders",
        "",
        f"`benchmarks/bench_placement_accuracy.py --population {population}`: "
        f"{len(scenarios)} scenarios x {seeds} seeds (random_state {first}-{first + seeds - 1}), "
        f"{settings['recipients']:,} recipients, {settings['days']} days, start 2025-01-06; "
        f"estimate per mailbox provider and week, {settings['n_draws']} draws, 90% intervals. "
        f"Scored: provider-weeks with at least {settings['min_delivered']:,} delivered messages. "
        "Truth: the simulator's true inbox count over messages sent, per provider and week. "
        f"Python {platform.python_version()}, {elapsed:.0f} s wall on {settings['workers']} "
        "processes.",
        "",
        *population_text,
        "",
        "Columns: `mae` and `bias` of `inbox_rate` [fraction of sent]; `coverage_90`: share of "
        "true values inside the 90% interval; `mean_width`: mean interval width; `naive_mae`: "
        "the naive proxy's MAE (week's open rate, machine opens included, over the best week's, "
        "times the delivered share).",
        "",
        f"## Thresholds ({population} population)",
        "",
        "| check | measured | passed |",
        "|---|---:|---|",
        *[
            f"| {statement} | {measured} | {'yes' if ok else '**no**'} |"
            for statement, ok, measured in verdicts
        ],
        "",
    ]
    if population == "prior":
        lines += [
            "## Nominal population, for comparison",
            "",
            "The same benchmark with every sender at the prior's means (`--population "
            "nominal`), from `placement_accuracy.md` as it stood before this option: 8 "
            "scenarios x 10 seeds (random_state 100-109), the settings above (1442 s wall, "
            "on a more heavily loaded machine). Its "
            "intervals without seed tests over-cover (0.963 / 0.964 against [0.85, 0.95]) "
            "because the prior's sd is never exercised there:",
            "",
            markdown(nominal_reference_table()),
            "",
        ]
    lines += [
        "## Per calibration mode",
        "",
        markdown(per_mode),
        "",
        "Mean seconds per estimate: " + ", ".join(f"{m} {s:.2f}" for m, s in seconds.items()),
        "",
    ]
    if population == "prior":
        lines += [
            "## By the sender's distance from the prior mean",
            "",
            "`z`: the sender's healthy inbox rate of the cell's provider minus the prior mean, "
            "in prior sds; 1.645 is the edge of the prior's central 90%.",
            "",
            markdown(distance_table(frame)),
            "",
        ]
    lines += [
        "## Per scenario and mode",
        "",
        markdown(per_scenario),
        "",
        "## Per mailbox provider and mode",
        "",
        markdown(per_provider),
        "",
        NOTES,
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10, help="seeds per scenario")
    parser.add_argument("--first-seed", type=int, default=100, help="first random_state")
    parser.add_argument("--recipients", type=int, default=20_000, help="audience size")
    parser.add_argument("--days", type=int, default=91, help="simulated days")
    parser.add_argument("--scenarios", nargs="*", default=None, help="default: all")
    parser.add_argument("--n-draws", type=int, default=2000, help="Monte Carlo draws")
    parser.add_argument(
        "--min-delivered",
        type=int,
        default=2000,
        help="delivered messages a provider-week needs to be scored",
    )
    parser.add_argument(
        "--population",
        choices=POPULATIONS,
        default="prior",
        help="prior: each sender's healthy placement drawn from the estimator's prior "
        "(default); nominal: every sender at the prior's means",
    )
    parser.add_argument("--workers", type=int, default=2, help="processes")
    parser.add_argument(
        "--out",
        default=None,
        help="markdown file (default: benchmarks/placement_accuracy.md for the prior "
        "population, placement_accuracy_nominal.md for the nominal one)",
    )
    parser.add_argument(
        "--save-frame", default=None, help="also pickle the scored cells and rates here"
    )
    args = parser.parse_args(argv)
    if args.out is None:
        name = (
            "placement_accuracy.md"
            if args.population == "prior"
            else ("placement_accuracy_nominal.md")
        )
        args.out = str(Path(__file__).with_name(name))

    from deliverability_econ.simulate import SCENARIOS

    scenarios = args.scenarios or list(SCENARIOS)
    runs = [(scenario, args.first_seed + k) for scenario in scenarios for k in range(args.seeds)]
    jobs = [
        (
            scenario,
            seed,
            args.recipients,
            args.days,
            args.n_draws,
            args.min_delivered,
            args.population,
        )
        for scenario, seed in runs
    ]
    rates = healthy_rates(runs, args.days, args.population)
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        frames = list(pool.map(score_run, *zip(*jobs, strict=True)))
    elapsed = time.perf_counter() - started
    frame = pd.concat(frames, ignore_index=True)
    settings = vars(args)
    if args.save_frame:
        pd.to_pickle(
            {"frame": frame, "rates": rates, "settings": settings, "elapsed": elapsed},
            args.save_frame,
        )

    text = render(frame, rates, settings, elapsed)
    print(text)
    Path(args.out).write_text(text, encoding="utf-8")
    print(f"written to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
