"""The simulator's published anchors: the F19 link, penalties, bands, warm-up schedules, replies."""

import numpy as np
import pandas as pd
import pytest

from deliverability_econ.providers import mailbox_provider
from deliverability_econ.simulate import (
    PROVIDER_PROFILES,
    REPLIES,
    SENDGRID_WARMUP,
    SPARKPOST_WARMUP,
    ReputationModel,
    block_probability,
    bounce_penalty,
    complaint_penalty,
    placement_from_score,
    reputation_band,
    score_for_placement,
    snds_filter_result,
    wilson_interval,
)
from deliverability_econ.simulate.config import Migration
from deliverability_econ.simulate.schedule import warmup_allowance


def test_link_reproduces_f19_bands():
    # F19: Sender Score 91-100 -> 92% (2017) / 91% (2018), 81-90 -> 72% / 68%, 71-80 -> 45% / 42%.
    bands = {95.5: 0.915, 85.5: 0.70, 75.5: 0.435}
    for score, published in bands.items():
        assert placement_from_score(score) == pytest.approx(published, abs=0.03)
    # "<= 70: a small fraction".
    assert placement_from_score(65.0) < 0.2


def test_link_inverse_and_section_9_defaults():
    for profile in PROVIDER_PROFILES.values():
        score = score_for_placement(profile.baseline_inbox_rate)
        assert placement_from_score(score) == pytest.approx(profile.baseline_inbox_rate)
    # Section 9 per-provider defaults (F17).
    assert PROVIDER_PROFILES["gmail"].baseline_inbox_rate == 0.90
    assert PROVIDER_PROFILES["microsoft"].baseline_inbox_rate == 0.77
    with pytest.raises(ValueError):
        score_for_placement(0.99)  # above the link's ceiling


def test_blocks_only_matter_at_poor_scores():
    healthy = block_probability(95.0, 0.6)
    poor = block_probability(60.0, 0.6)
    assert healthy < 0.002 and poor > 0.4


def test_penalties_start_at_published_thresholds():
    model = ReputationModel()
    # F2: Gmail spam rate below 0.10% is fine; at the 0.30% ceiling it costs 16 points.
    assert complaint_penalty(0.0009, model) == 0.0
    assert complaint_penalty(0.003, model) == pytest.approx(16.0)
    assert complaint_penalty(0.05, model) == model.complaint_penalty_cap
    # F12: hard bounces below 2% are healthy; 5% (F10's SES review level) costs 9 points.
    assert bounce_penalty(0.019, model) == 0.0
    assert bounce_penalty(0.05, model) == pytest.approx(9.0)


def test_bands():
    # F19 bands for Postmaster-style reputation; F13 bands for SNDS.
    assert list(reputation_band(np.array([95.0, 85.0, 75.0, 60.0]))) == ["HIGH", "MEDIUM", "LOW", "BAD"]
    assert list(snds_filter_result(np.array([0.05, 0.10, 0.5, 0.95]))) == ["GREEN", "YELLOW", "YELLOW", "RED"]


def test_wilson_interval_contains_the_ratio():
    low, high = wilson_interval(np.array([3, 0]), np.array([1000, 0]))
    assert low[0] < 0.003 < high[0]
    # Hand check against the textbook formula for 3/1000 at 95%: [0.00102, 0.00879].
    assert low[0] == pytest.approx(0.00102, abs=2e-5) and high[0] == pytest.approx(0.00879, abs=2e-5)
    assert np.isnan(low[1])


def test_warmup_schedules_are_the_published_ones():
    # F25 day 1 and day 29; F24 day 0 (20/h) and day 41.
    assert SPARKPOST_WARMUP[0] == 200 and SPARKPOST_WARMUP[-1] == 10_000_000 and len(SPARKPOST_WARMUP) == 29
    assert SENDGRID_WARMUP[0] == 480 and SENDGRID_WARMUP[-1] == 24 * 19_601_056
    cold = warmup_allowance(Migration("x", 0, "cold"), 1, 10, 5000.0)
    assert np.isinf(cold).all()
    ramp = warmup_allowance(Migration("x", 0, "geometric", ramp_days=30), 2, 40, 20_000.0)
    assert ramp[0] == pytest.approx(400.0)              # 200 per IP on day one (F25)
    assert ramp[29] == pytest.approx(20_000.0)          # the busiest day at the end of the ramp
    assert np.isinf(ramp[30:]).all()
    sparkpost = warmup_allowance(Migration("x", 0, "sparkpost"), 1, 35, 1.0)
    assert sparkpost[4] == 5_000 and np.isinf(sparkpost[29:]).all()


def test_provider_profiles_use_domains_of_that_provider():
    for name, profile in PROVIDER_PROFILES.items():
        mapped = mailbox_provider(pd.Series(list(profile.domains)))
        assert set(mapped) == {name}, name


@pytest.mark.parametrize("provider", sorted(REPLIES))
def test_reply_catalogue_is_consistent(provider):
    for kind, reply in REPLIES[provider].items():
        first_digit = {"delivered": "2", "transient": "4", "rate_limit": "4", "mailbox_full": "4",
                       "block": "5", "hard": "5"}[kind]
        assert str(reply.code).startswith(first_digit) and reply.status.startswith(first_digit)
        assert reply.text.startswith(str(reply.code)), (provider, kind)


def test_known_provider_replies():
    assert "The email account that you tried to reach does not exist" in REPLIES["gmail"]["hard"].text
    assert "S3150" in REPLIES["microsoft"]["block"].text and REPLIES["microsoft"]["block"].status == "5.7.1"
    assert "[TSS04]" in REPLIES["yahoo"]["rate_limit"].text and REPLIES["yahoo"]["rate_limit"].code == 421
