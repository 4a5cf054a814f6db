"""Rates with intervals (deliverability_econ.rates).

Interval reference values: Newcombe, "Two-sided confidence intervals for the single proportion:
comparison of seven methods", Statistics in Medicine 17 (1998) 857-872, Table II, method 3
(Wilson score, 95%). Other expected numbers are hand calculations written next to them.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

from deliverability_econ.cube import daily_cube
from deliverability_econ.messages import ENGAGEMENT_FLAGS, OUTCOME_FLAGS
from deliverability_econ.rates import (
    RATES,
    LowVolumeWarning,
    delivery_latency,
    late_share,
    period_start,
    proportion_interval,
    quantile_interval,
    rates,
)

# --------------------------------------------------------------------------------------------
# A small messages table built by hand
# --------------------------------------------------------------------------------------------


def make_messages(specs: list[dict]) -> pd.DataFrame:
    """Messages with the columns daily_cube reads; each spec gives ``n`` copies of a message.

    Spec keys: ``n``, ``day`` (YYYY-MM-DD), ``provider``, ``stream``, ``status`` (one outcome
    flag or "pending"), ``deferred_attempts``, engagement flags (bool), ``latency``.
    """
    rows = []
    for spec in specs:
        for _ in range(spec.get("n", 1)):
            row = {
                "sent_at": pd.Timestamp(spec.get("day", "2025-03-03") + " 10:00", tz="UTC"),
                "mailbox_provider": spec.get("provider", "gmail"),
                "stream": spec.get("stream", "marketing"),
                "deferred_attempts": spec.get("deferred_attempts", 0),
                "delivery_latency_s": spec.get("latency", np.nan),
            }
            for flag in OUTCOME_FLAGS:
                row[flag] = spec.get("status", "delivered") == flag
            for flag in ENGAGEMENT_FLAGS:
                row[flag] = spec.get(flag, False)
            rows.append(row)
    frame = pd.DataFrame(rows)
    frame["deferred_attempts"] = frame["deferred_attempts"].astype("int64")
    frame["delivery_latency_s"] = frame["delivery_latency_s"].astype("float64")
    return frame


@pytest.fixture
def sample_messages():
    # gmail on 3 March: 1,000 sent = 950 delivered + 30 hard + 15 blocked + 5 pending;
    #   60 deferred at least once (40 delivered, the 15 blocked and the 5 pending);
    #   200 human opens, 300 machine opens, 40 clicks, 2 complaints, 5 unsubscribes.
    # yahoo on 10 March: 200 sent = 190 delivered + 10 soft; 3 complaints.
    return make_messages(
        [
            {"n": 160, "provider": "gmail", "opened_human": True, "latency": 2.0},
            {"n": 40, "provider": "gmail", "opened_human": True, "clicked": True, "latency": 2.0},
            {"n": 300, "provider": "gmail", "opened_machine": True, "latency": 3.0},
            {"n": 2, "provider": "gmail", "complained": True, "latency": 3.0},
            {"n": 5, "provider": "gmail", "unsubscribed": True, "latency": 3.0},
            {"n": 40, "provider": "gmail", "deferred_attempts": 2, "latency": 1800.0},
            {"n": 403, "provider": "gmail", "latency": 4.0},
            {"n": 30, "provider": "gmail", "status": "bounced_hard"},
            {"n": 15, "provider": "gmail", "status": "blocked", "deferred_attempts": 1},
            {"n": 5, "provider": "gmail", "status": "pending", "deferred_attempts": 1},
            {"n": 187, "provider": "yahoo", "day": "2025-03-10", "latency": 5.0},
            {"n": 3, "provider": "yahoo", "day": "2025-03-10", "complained": True, "latency": 5.0},
            {"n": 10, "provider": "yahoo", "day": "2025-03-10", "status": "bounced_soft"},
        ]
    )


# --------------------------------------------------------------------------------------------
# Intervals
# --------------------------------------------------------------------------------------------


def test_wilson_90_for_8_of_10_by_hand():
    # z = 1.644854; z^2 = 2.705543; centre = (8 + 1.352772) / 12.705543 = 0.736117;
    # half = 1.644854 / 12.705543 * sqrt(8 * 2 / 10 + 0.676386) = 0.129460 * 1.508770 = 0.195325.
    low, high = proportion_interval(8, 10, 0.9)
    assert float(low) == pytest.approx(0.736117 - 0.195325, abs=2e-6)
    assert float(high) == pytest.approx(0.736117 + 0.195325, abs=2e-6)
    assert (round(float(low), 4), round(float(high), 4)) == (0.5408, 0.9314)


@pytest.mark.parametrize(
    ("k", "n", "expected"),
    [
        (81, 263, (0.2553, 0.3662)),
        (15, 148, (0.0624, 0.1605)),
        (0, 20, (0.0, 0.1611)),
        (1, 29, (0.0061, 0.1718)),
        (29, 29, (0.8830, 1.0)),
    ],
)
def test_wilson_95_matches_newcombe_1998(k, n, expected):
    low, high = proportion_interval(k, n, 0.95, "wilson")
    assert (round(float(low), 4), round(float(high), 4)) == expected


def test_jeffreys_ends_are_beta_quantiles():
    # The ends of the Jeffreys interval solve I_x(k + 1/2, n - k + 1/2) = alpha / 2 and
    # 1 - alpha / 2 (regularized incomplete beta, checked through scipy.special, not .stats).
    k, n = np.array([3, 40, 81]), np.array([50, 100, 263])
    low, high = proportion_interval(k, n, 0.9, "jeffreys")
    assert special.betainc(k + 0.5, n - k + 0.5, low) == pytest.approx([0.05] * 3, abs=1e-9)
    assert special.betainc(k + 0.5, n - k + 0.5, high) == pytest.approx([0.95] * 3, abs=1e-9)
    # Ends pinned at 0 and n successes (Brown, Cai and DasGupta's modification).
    low, high = proportion_interval([0, 10], [10, 10], 0.9, "jeffreys")
    assert low[0] == 0.0 and high[1] == 1.0


@pytest.mark.parametrize("method", ["wilson", "jeffreys"])
def test_interval_contains_point_and_shrinks_with_n(method):
    n = np.array([10, 100, 1_000, 10_000, 100_000])
    k = (n * 0.03).round()
    low, high = proportion_interval(k, n, 0.9, method)
    point = k / n
    assert np.all(low <= point) and np.all(point <= high)
    widths = high - low
    assert np.all(np.diff(widths) < 0)
    # Width scales like 1/sqrt(n) at large n: x100 messages -> about a tenth of the width.
    assert widths[4] / widths[2] == pytest.approx(0.1, rel=0.05)


@pytest.mark.parametrize("method", ["wilson", "jeffreys"])
def test_coverage_is_near_nominal(method):
    # Exact coverage at n = 200 for true rates from 1% to 20% (sum of the Binomial(200, p)
    # probabilities of the k whose interval holds p). Coverage of discrete intervals oscillates
    # with p; Brown, Cai and DasGupta (2001) show both methods stay near nominal on average,
    # which is what is checked.
    n = 200
    k = np.arange(n + 1)
    low, high = proportion_interval(k, n, 0.9, method)
    coverage = np.array(
        [
            stats.binom.pmf(k, n, p)[(low <= p) & (p <= high)].sum()
            for p in np.linspace(0.01, 0.2, 96)
        ]
    )
    assert 0.88 <= coverage.mean() <= 0.92
    assert coverage.min() > 0.8


def test_simulated_coverage_of_wilson():
    rng = np.random.default_rng(20250303)
    k = rng.binomial(1_000, 0.05, size=20_000)
    low, high = proportion_interval(k, 1_000, 0.9)
    assert 0.87 <= np.mean((low <= 0.05) & (0.05 <= high)) <= 0.93


def test_edge_cases_and_errors():
    low, high = proportion_interval([0, 5, 0], [5, 5, 0], 0.9)
    assert (low[0], high[1]) == (0.0, 1.0)
    assert np.isnan(low[2]) and np.isnan(high[2])
    with pytest.raises(ValueError, match="exceed"):
        proportion_interval(6, 5)
    with pytest.raises(ValueError, match="non-negative"):
        proportion_interval(-1, 5)
    with pytest.raises(ValueError, match="method"):
        proportion_interval(1, 5, method="wald")
    with pytest.raises(ValueError, match="interval"):
        proportion_interval(1, 5, interval=90)


# --------------------------------------------------------------------------------------------
# rates()
# --------------------------------------------------------------------------------------------


def test_rates_by_provider_by_hand(sample_messages):
    cube = daily_cube(sample_messages, by=("mailbox_provider",))
    table = rates(cube).set_index("mailbox_provider")
    gmail = table.loc["gmail"]
    assert (gmail["sent"], gmail["delivered"]) == (1000, 950)
    assert gmail["delivery_rate"] == pytest.approx(950 / 1000)
    assert gmail["hard_bounce_rate"] == pytest.approx(30 / 1000)
    assert gmail["block_rate"] == pytest.approx(15 / 1000)
    # 40 delivered + 15 blocked + 5 pending were deferred at least once.
    assert gmail["deferral_rate"] == pytest.approx(60 / 1000)
    # Human opens per delivered: 160 + 40 of 950; machine opens (300) do not count.
    assert gmail["human_open_rate"] == pytest.approx(200 / 950)
    assert gmail["click_rate"] == pytest.approx(40 / 950)
    assert gmail["complaint_rate_per_delivered"] == pytest.approx(2 / 950)
    assert gmail["unsubscribe_rate"] == pytest.approx(5 / 950)
    yahoo = table.loc["yahoo"]
    assert yahoo["complaint_rate_per_delivered"] == pytest.approx(3 / 190)
    for name in RATES:
        assert (table[f"{name}_low"] <= table[name]).all()
        assert (table[name] <= table[f"{name}_high"]).all()
    low, high = proportion_interval(30, 1000, 0.9)
    assert (gmail["hard_bounce_rate_low"], gmail["hard_bounce_rate_high"]) == (low, high)


def test_rates_from_messages_equal_rates_from_cube(sample_messages):
    from_messages = rates(sample_messages, by=("mailbox_provider",))
    from_cube = rates(
        daily_cube(sample_messages, by=("mailbox_provider", "stream")), by="mailbox_provider"
    )
    pd.testing.assert_frame_equal(from_messages, from_cube)


def test_rates_overall_and_weekly(sample_messages):
    overall = rates(sample_messages, by=())
    assert len(overall) == 1
    assert overall["sent"].iloc[0] == 1200 and overall["delivered"].iloc[0] == 1140
    assert overall["complaint_rate_per_delivered"].iloc[0] == pytest.approx(5 / 1140)
    weekly = rates(sample_messages, by=(), freq="W")
    # 3 March 2025 is a Monday; 10 March starts the next week.
    assert weekly["period_start"].tolist() == [
        pd.Timestamp("2025-03-03"),
        pd.Timestamp("2025-03-10"),
    ]
    assert weekly["sent"].tolist() == [1000, 200]
    monthly = rates(sample_messages, by=(), freq="M")
    assert monthly["period_start"].tolist() == [pd.Timestamp("2025-03-01")]


def test_period_start():
    dates = pd.Series(pd.to_datetime(["2025-03-05", "2025-03-09", "2025-03-10", "2025-02-28"]))
    assert period_start(dates, "W").dt.strftime("%Y-%m-%d").tolist() == [
        "2025-03-03",
        "2025-03-03",
        "2025-03-10",
        "2025-02-24",
    ]
    assert period_start(dates, "M").dt.day.tolist() == [1, 1, 1, 1]


def test_method_jeffreys_changes_only_intervals(sample_messages):
    wilson = rates(sample_messages)
    jeffreys = rates(sample_messages, method="jeffreys", interval=0.95)
    assert (wilson["delivery_rate"] == jeffreys["delivery_rate"]).all()
    assert not np.allclose(wilson["delivery_rate_low"], jeffreys["delivery_rate_low"])


def test_low_volume_warning(sample_messages):
    with pytest.warns(LowVolumeWarning, match="1 of 2 row"):
        rates(sample_messages, min_messages=500)  # yahoo has 200 sent
    with warnings.catch_warnings():
        warnings.simplefilter("error", LowVolumeWarning)
        rates(sample_messages, min_messages=100)
    assert issubclass(LowVolumeWarning, UserWarning)


def test_engagement_without_delivery_is_capped_with_a_warning():
    # 5 messages opened by a human but only pending (the export started after their delivery).
    table = make_messages(
        [{"n": 5, "status": "pending", "opened_human": True}, {"n": 5, "opened_human": True}]
    )
    with pytest.warns(UserWarning, match="opened_human exceeds delivered"):
        out = rates(table, min_messages=0)
    assert out["human_open_rate"].iloc[0] == 1.0


def test_zero_denominator_gives_nan():
    table = make_messages([{"n": 3, "status": "dropped"}])
    out = rates(table, min_messages=0)
    assert out["delivery_rate"].iloc[0] == 0.0
    assert np.isnan(out["human_open_rate"].iloc[0]) and np.isnan(out["human_open_rate_low"].iloc[0])


def test_bad_arguments(sample_messages):
    with pytest.raises(ValueError, match="freq"):
        rates(sample_messages, freq="Q")
    cube = daily_cube(sample_messages, by=())
    with pytest.raises(ValueError, match="mailbox_provider"):
        rates(cube, by=("mailbox_provider",))
    with pytest.raises(ValueError, match="daily cube"):
        rates(pd.DataFrame({"x": [1]}))


# --------------------------------------------------------------------------------------------
# Latency
# --------------------------------------------------------------------------------------------


def test_delivery_latency_percentiles_by_hand():
    # 100 timed deliveries with latencies 1, 2, ..., 100 s, plus 3 bounces (not timed).
    specs = [{"stream": "password_reset", "latency": float(s)} for s in range(1, 101)]
    specs.append({"n": 3, "stream": "password_reset", "status": "bounced_hard"})
    table = delivery_latency(make_messages(specs), percentiles=(0.5, 0.9), min_messages=0)
    row = table.iloc[0]
    assert row["stream"] == "password_reset" and row["timed"] == 100
    assert row["latency_mean_s"] == pytest.approx(50.5)
    # numpy's linear quantile: median of 1..100 is 50.5; 90th percentile 1 + 0.9 * 99 = 90.1.
    assert row["latency_p50_s"] == pytest.approx(50.5)
    assert row["latency_p90_s"] == pytest.approx(90.1)
    # Binomial(100, 0.5): 5% quantile 42, 95% quantile 58, so the order statistics x(42) and
    # x(59) bound the median with at least 90% probability.
    assert (row["latency_p50_s_low"], row["latency_p50_s_high"]) == (42.0, 59.0)


def test_quantile_interval_covers_the_true_quantile():
    # Exponential latencies with mean 60 s: true median 60 ln 2. 2,000 samples of 50.
    rng = np.random.default_rng(7)
    truth = 60 * np.log(2)
    hits = 0
    for _ in range(2_000):
        values = np.sort(rng.exponential(60, size=50))
        _, low, high = quantile_interval(values, 0.5, 0.9)
        hits += low <= truth <= high
    assert 0.88 <= hits / 2_000 <= 0.97


def test_delivery_latency_ends_beyond_the_sample_are_nan():
    table = make_messages([{"latency": 1.0}, {"latency": 2.0}])
    out = delivery_latency(table, by=(), percentiles=(0.99,), min_messages=0)
    assert np.isnan(out["latency_p99_s_high"].iloc[0])


def test_delivery_latency_low_volume_warning():
    with pytest.warns(LowVolumeWarning):
        delivery_latency(make_messages([{"latency": 1.0}]))


def test_late_share_by_hand():
    # password_reset: 8 delivered and timed, 3 of them after 300 s; 2 undelivered.
    specs = [
        {"n": 5, "stream": "password_reset", "latency": 20.0},
        {"n": 3, "stream": "password_reset", "latency": 900.0},
        {"n": 1, "stream": "password_reset", "status": "blocked"},
        {"n": 1, "stream": "password_reset", "status": "pending"},
        {"n": 4, "stream": "marketing", "latency": 301.0},
        {"n": 1, "stream": "password_reset", "latency": 300.0},  # exactly on time
    ]
    out = late_share(make_messages(specs), threshold_s=300, min_messages=0).set_index("stream")
    reset = out.loc["password_reset"]
    assert (reset["timed"], reset["late"], reset["undelivered"]) == (9, 3, 2)
    assert reset["late_share"] == pytest.approx(3 / 9)
    # (3 late + 2 undelivered) / (9 timed + 2 undelivered)
    assert reset["missed_deadline_share"] == pytest.approx(5 / 11)
    low, high = proportion_interval(3, 9, 0.9)
    assert (reset["late_share_low"], reset["late_share_high"]) == (low, high)
    assert out.loc["marketing", "late_share"] == 1.0
    assert out.attrs["threshold_s"] == 300.0


def test_late_share_warns_and_checks_threshold():
    table = make_messages([{"latency": 10.0}])
    with pytest.warns(LowVolumeWarning):
        late_share(table, threshold_s=60)
    with pytest.raises(ValueError, match="threshold_s"):
        late_share(table, threshold_s=-1)
