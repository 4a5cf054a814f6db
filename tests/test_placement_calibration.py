"""Tests of the placement calibration: the seed calibration's count likelihood, the benchmark
prior's spread and the engagement draws shared between calibration and cells
(deliverability_econ.placement; the synthetic sender is ``tests.test_placement._synthetic``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from deliverability_econ import placement
from deliverability_econ.placement import (
    BENCHMARK_INBOX_SHARE,
    BENCHMARK_PLAUSIBLE_HALF_RANGE,
    BENCHMARK_SD,
    MAX_PROPENSITY,
    LowVolumeWarning,
    PlacementEstimator,
    beta_parameters,
    estimate_placement,
)
from tests.test_placement import _synthetic


def test_engagement_count_likelihood_by_hand():
    loglik = placement._engagement_count_log_likelihood
    # Poisson (no noise), 3 engaged where 2 are expected: 3 ln 2 - 2 = 2.07944 - 2 = 0.07944.
    assert float(loglik(3.0, 2.0, 0.0)) == pytest.approx(0.0794415, abs=1e-6)
    # Gamma-Poisson with a relative sd of 0.5 (shape 1 / 0.25 = 4): 3 ln 2 - (3 + 4) ln(1 + 2/4)
    # = 2.07944 - 7 * 0.405465 = -0.758815.
    assert float(loglik(3.0, 2.0, 0.5)) == pytest.approx(-0.758815, abs=1e-6)
    # Up to a constant in the expectation, it is scipy's negative binomial (n = shape,
    # p = shape / (shape + mean)): differences between two expectations agree.
    shape = 1 / 0.02**2
    for count in (0, 2, 40):
        ours = loglik(count, 30.0, 0.02) - loglik(count, 20.0, 0.02)
        scipy_value = stats.nbinom.logpmf(
            count, shape, shape / (shape + 30.0)
        ) - stats.nbinom.logpmf(count, shape, shape / (shape + 20.0))
        assert float(ours) == pytest.approx(float(scipy_value), abs=1e-9)


def test_benchmark_prior_reads_the_plausible_range_as_its_central_90_percent():
    # Section 9: Gmail 0.90 with a plausible range of +-5 points. Central 90% of a normal:
    # +-1.6449 sd, so sd = 0.05 / 1.6449 = 0.030397 (hand calculation).
    assert BENCHMARK_PLAUSIBLE_HALF_RANGE == 0.05
    assert BENCHMARK_SD == pytest.approx(0.030397, abs=1e-6)
    mean, sd = BENCHMARK_INBOX_SHARE["gmail"]
    assert (mean, sd) == (0.90, BENCHMARK_SD)
    a, b = beta_parameters(mean, sd)
    low, high = stats.beta.ppf([0.05, 0.95], a, b)
    # The Beta (skewed toward 0) puts its 90% range at 0.846-0.945: section 9's 0.85-0.95
    # shifted by half a point.
    assert low == pytest.approx(0.85, abs=0.006)
    assert high == pytest.approx(0.95, abs=0.006)


def test_seed_calibration_is_not_biased_by_weeks_with_a_handful_of_engaged_messages():
    # A small provider like the sample sender's Apple: 150 messages a week, 1.5% engaged in the
    # inbox (about 1.7 engaged messages a week), 8 seeds a week, a steady 0.8 inbox share.
    # Over 16 independent senders the whole-span estimate of the inbox share of delivered mail
    # must sit near 0.8 on average. A log-rate measured from such a count, with its standard
    # error computed from the same count, overstates the propensity (the 0.5 added to a zero,
    # the weight given to lucky weeks): the old calibration read about 0.49 here.
    shares = []
    for seed in range(16):
        messages, tests, _ = _synthetic(
            [0.8] * 13,
            per_week=150,
            propensity=0.015,
            ratio=0.0,
            seeds_per_test=8,
            recipients=400,
            seed=seed,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LowVolumeWarning)
            table = estimate_placement(
                messages,
                freq=None,
                seed_tests=tests,
                spam_engagement_ratio=0.0,
                n_draws=500,
                random_state=seed,
            )
        shares.append(float(table["inbox_share_of_delivered"].iloc[0]))
    # Sampling error of the mean of 16: each estimate rests on ~22 engaged messages
    # (relative sd ~0.21) and 104 seeds; 0.8 * 0.21 / 4 = 0.04, so +-0.08 is two of those.
    assert np.mean(shares) == pytest.approx(0.8, abs=0.08)


def test_seed_calibration_keeps_the_propensity_a_probability():
    # One engaged message in 13 weeks and seeds that say 1 in 8 lands in the inbox: the
    # likelihood keeps rising with e (a lower share in the inbox explains the silence as well),
    # but a chance of engaging cannot exceed 1.
    messages, tests, _ = _synthetic(
        [0.15] * 13, per_week=40, propensity=0.02, ratio=0.0, seeds_per_test=8, recipients=100
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LowVolumeWarning)
        model = PlacementEstimator(
            freq="W", n_draws=500, random_state=0, spam_engagement_ratio=0.0
        ).fit(messages, seed_tests=tests)
    assert model.calibration_["calibration"].iloc[0] == "seed_tests"
    assert model.calibration_["propensity_high"].iloc[0] <= MAX_PROPENSITY


def test_weekly_provider_cells_reuse_the_calibration_engagement_draws(monkeypatch):
    # Weekly cells per provider are the calibration rows: the engagement index is drawn once
    # and shared (the same counts read once). Per-IP cells are not, and get their own draws.
    calls = []
    original = placement._engagement_index_draws

    def counting(*args, **kwargs):
        calls.append(len(args[0]))
        return original(*args, **kwargs)

    monkeypatch.setattr(placement, "_engagement_index_draws", counting)
    messages, _, _ = _synthetic([0.9] * 6, per_week=2000, seed=3)
    estimate_placement(messages, n_draws=200, random_state=0)
    assert len(calls) == 1
    calls.clear()
    estimate_placement(messages, by=("mailbox_provider", "sending_ip"), n_draws=200, random_state=0)
    assert len(calls) == 2


def test_benchmark_interval_carries_the_prior_spread_once():
    # A steady sender, benchmark calibration, engagement measured almost without noise
    # (50,000 messages a week): the interval of a week's inbox share of delivered mail is the
    # prior's own 90% range scaled by the week's engagement relative to the reference week,
    # here 1: about 0.85-0.95 for Gmail (hand calculation above), plus the spread of r.
    messages, _, _ = _synthetic([0.9] * 4, per_week=50_000, recipients=20_000, seed=5)
    table = estimate_placement(
        messages, spam_engagement_ratio=0.0, engagement_noise=0.0, n_draws=4000, random_state=0
    )
    width = table["inbox_share_of_delivered_high"] - table["inbox_share_of_delivered_low"]
    # 2 * 0.05 = 0.10 from the prior; the binomial noise of ~17,000 engaged messages a week
    # (relative sd 0.8%) adds little; the old sd of 0.05 gave 0.16.
    assert width.between(0.09, 0.125).all()
    assert isinstance(table, pd.DataFrame)
