"""The ``prior`` population of benchmarks/bench_placement_accuracy.py: each simulated sender's
healthy placement drawn from the estimator's benchmark prior.

pytest does not collect ``benchmarks/``, so the module is loaded from its file path.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from deliverability_econ.placement import (
    BENCHMARK_INBOX_SHARE,
    BENCHMARK_SD,
    DEFAULT_BENCHMARK_INBOX_SHARE,
)
from deliverability_econ.simulate import SCENARIOS, scenario_config

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_placement_accuracy.py"
_spec = importlib.util.spec_from_file_location("bench_placement_accuracy", _PATH)
bench = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = bench
_spec.loader.exec_module(bench)

DAYS = 91


def _rates(seed: int, scenario: str = "baseline") -> dict[str, float]:
    return bench.population_config(scenario, DAYS, seed, "prior")[1]


def test_draws_are_reproducible_for_one_seed():
    assert _rates(100) == _rates(100)
    config_a, _ = bench.population_config("warmup", DAYS, 105, "prior")
    config_b, _ = bench.population_config("warmup", DAYS, 105, "prior")
    assert config_a == config_b


def test_draws_differ_across_seeds_and_scenarios():
    first, second = _rates(100), _rates(101)
    assert first.keys() == second.keys()
    # Continuous draws: a tie would mean the seed is ignored.
    assert all(first[p] != second[p] for p in first)
    other_scenario = _rates(100, "high_apple")
    assert all(first[p] != other_scenario[p] for p in first)


def test_every_provider_gets_the_estimators_prior():
    providers = set(scenario_config("baseline", DAYS).providers)
    # Every provider but Comcast has a published figure; Comcast takes the default.
    assert providers - set(BENCHMARK_INBOX_SHARE) == {"comcast"}
    assert bench.prior_inbox_share("comcast") == DEFAULT_BENCHMARK_INBOX_SHARE
    assert bench.prior_inbox_share("microsoft") == (0.77, BENCHMARK_SD)


def test_mean_and_sd_over_many_draws_match_the_prior():
    n = 2000
    draws = [_rates(seed) for seed in range(n)]
    for provider in draws[0]:
        mean, sd = bench.prior_inbox_share(provider)
        values = np.array([d[provider] for d in draws])
        # Tolerances by hand: the sample mean's standard error is sd / sqrt(2000) (0.00068 for
        # sd 0.0304, 0.0016 for Comcast's 0.07); allow 5 of them. The sample sd's relative
        # standard error is about 1 / sqrt(2 n) = 1.6% for a near-normal Beta; allow 8%.
        assert abs(values.mean() - mean) < 5 * sd / np.sqrt(n), provider
        assert abs(values.std(ddof=1) / sd - 1) < 0.08, provider
        assert ((values > 0) & (values < 1)).all()


def test_nominal_population_keeps_the_scenario_config():
    for scenario in SCENARIOS:
        config, rates = bench.population_config(scenario, DAYS, 100, "nominal")
        assert config == scenario_config(scenario, DAYS)
        assert rates == {n: p.baseline_inbox_rate for n, p in config.providers.items()}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_prior_population_changes_only_the_baseline_inbox_rate(scenario):
    original = scenario_config(scenario, DAYS)
    config, rates = bench.population_config(scenario, DAYS, 100, "prior")
    assert config.providers.keys() == original.providers.keys()
    for name, profile in config.providers.items():
        assert profile.baseline_inbox_rate == rates[name]
        assert profile.baseline_inbox_rate != original.providers[name].baseline_inbox_rate
        assert profile == dataclasses.replace(
            original.providers[name], baseline_inbox_rate=rates[name]
        )
    # Put the nominal rates back: the rest of the configuration (streams, infrastructure,
    # incidents, reputation model, seed list) must be the scenario's.
    restored = dataclasses.replace(
        config,
        providers={
            name: dataclasses.replace(
                p, baseline_inbox_rate=original.providers[name].baseline_inbox_rate
            )
            for name, p in config.providers.items()
        },
    )
    assert restored == original


def test_unknown_population_is_refused():
    with pytest.raises(ValueError, match="population must be one of"):
        bench.population_config("baseline", DAYS, 100, "typo")
