"""Warm-up schedules, the reputation and throttling dynamics, and their calibration.

Published numbers come from shared/reference/domain-facts.md (F23-F25 schedules, F19 link,
section 9 for the "2-6 weeks in the fair/poor band" of a cold IP). The brief's two checks:

- following SparkPost's (F25) or SendGrid's (F24) schedule warms cleanly: deferrals under 5%
  every day, and placement within 0.03 of the warmed level by the schedule's end;
- a cold cut-over of the same volume reproduces the classic failure: transactional placement
  below 0.60 for at least two weeks.
"""

import numpy as np
import pandas as pd
import pytest

from deliverability_econ import warmup as W
from deliverability_econ.simulate import SENDGRID_WARMUP, SPARKPOST_WARMUP
from deliverability_econ.simulate.reputation import block_probability, placement_from_score
from deliverability_econ.warmup import (
    PROVIDERS,
    SCHEDULES,
    WarmupParameters,
    custom_schedule,
    fit_warmup,
    simulate_warmup,
    volume_plan,
)

#: A SaaS sender big enough to need a dedicated IP (section 5: 50k-100k+ a month is the usual
#: threshold; this is 7.5M a month) and small enough to stop climbing mid-schedule.
TARGET = 250_000
GMAIL, MICROSOFT = PROVIDERS.index("gmail"), PROVIDERS.index("microsoft")


def longest_run(mask):
    """Longest stretch of consecutive True values [days]."""
    best = run = 0
    for value in np.asarray(mask):
        run = run + 1 if value else 0
        best = max(best, run)
    return best


def overall_warmed(result):
    shares = result.arrays["volume"][0, -1] / result.arrays["volume"][0, -1].sum()
    return float((shares * result.warmed_placement[0]).sum())


# --- the published schedules as data -------------------------------------------------------


def test_sendgrid_schedule_is_f24_hourly_caps_times_24():
    schedule = SCHEDULES["sendgrid"]
    assert schedule.kind == "volume" and schedule.days == 42  # days 0-41
    # F24: day 0: 20/h, day 12: 1,000/h, day 41: 19,601,056/h.
    assert schedule.daily[0] == 480 and schedule.daily[12] == 24_000
    assert schedule.daily[41] == 24 * 19_601_056
    # F24 "Derived": the cap grows about 1.4x a day (median ratio).
    ratios = np.diff(np.log(schedule.daily))
    assert np.exp(np.median(ratios)) == pytest.approx(1.4, abs=0.01)
    # The simulator keeps its own copy; both must say the same.
    assert schedule.daily == tuple(float(v) for v in SENDGRID_WARMUP)
    assert "F24" in schedule.source


def test_sparkpost_and_ses_schedules():
    sparkpost = SCHEDULES["sparkpost"]
    assert sparkpost.days == 29 and sparkpost.daily[0] == 200 and sparkpost.daily[-1] == 10_000_000
    assert sparkpost.daily[13] == 250_000  # F25 day 14
    assert sparkpost.daily == tuple(float(v) for v in SPARKPOST_WARMUP)
    # F25 "Derived": cumulative sends about 0.90M by day 14.
    assert sum(sparkpost.daily[:14]) == pytest.approx(0.90e6, rel=0.02)
    ses = SCHEDULES["amazon_ses"]
    assert ses.kind == "share" and ses.days == 45 and ses.daily[-1] == pytest.approx(1.0)
    assert np.all(np.diff(ses.daily) > 0) and "F23" in ses.source
    for schedule in SCHEDULES.values():
        assert schedule.source and schedule.notes


def test_schedule_volumes_stop_at_the_target():
    volumes = SCHEDULES["sparkpost"].volumes(TARGET)
    assert volumes.max() == TARGET and volumes[0] == 200
    assert SCHEDULES["amazon_ses"].volumes(1_000_000)[-1] == pytest.approx(1_000_000)


def test_custom_schedule_shapes():
    geometric = custom_schedule(200, 100_000, 30)
    assert geometric[0] == pytest.approx(200) and geometric[-1] == pytest.approx(100_000)
    growth = geometric[1:] / geometric[:-1]
    assert np.allclose(growth, growth[0])  # constant daily factor
    assert growth[0] == pytest.approx(500 ** (1 / 29))  # (100,000 / 200) ** (1 / 29)
    linear = custom_schedule(100, 1_000, 10, shape="linear")
    assert np.allclose(np.diff(linear), 100.0)
    assert custom_schedule(100, 500, 1).tolist() == [500.0]
    with pytest.raises(ValueError, match="shape"):
        custom_schedule(100, 500, 5, shape="cubic")
    with pytest.raises(ValueError, match="positive"):
        custom_schedule(0, 500, 5)


def test_guidance_schedules_have_published_lengths():
    assert len(W.guidance_schedule("mailgun", 50_000)) == 15  # F26: 15 stages
    assert len(W.guidance_schedule("bird", 50_000)) == 30  # F27: about 30 days
    with pytest.raises(KeyError, match="known"):
        W.guidance_schedule("nope", 1)


def test_volume_plan_splits_by_provider_and_starts_on_day():
    plan = volume_plan("sparkpost", TARGET, 40, start_day=5)
    assert list(plan.columns) == list(PROVIDERS)
    total = plan.sum(axis=1)
    assert (total.iloc[:5] == 0).all() and total.iloc[5] == pytest.approx(200)
    assert total.iloc[-1] == pytest.approx(TARGET)
    assert plan["gmail"].iloc[-1] == pytest.approx(0.45 * TARGET)
    cold = volume_plan("cold", TARGET, 10)
    assert np.allclose(cold.sum(axis=1), TARGET)
    ramp = volume_plan(custom_schedule(100, 1000, 3), 500, 5)
    assert ramp.sum(axis=1).round().tolist() == [100.0, 316.0, 500.0, 500.0, 500.0]
    with pytest.raises(KeyError, match="known"):
        volume_plan("hotmail-magic", TARGET, 10)
    with pytest.raises(ValueError, match="sum to 1"):
        volume_plan("cold", TARGET, 10, {"gmail": 0.5})


# --- the model's bookkeeping ----------------------------------------------------------------


@pytest.mark.parametrize("overflow", ["defer", "shared"])
def test_every_message_is_accounted_for(overflow):
    result = simulate_warmup(volume_plan("cold", TARGET, 60), overflow=overflow)
    a = result.arrays
    volume = a["volume"].astype(float)
    if overflow == "defer":
        np.testing.assert_allclose(a["accepted"] + a["deferred"] + a["bulked"], volume, rtol=1e-5)
        assert (a["to_shared"] == 0).all()
    else:
        np.testing.assert_allclose(a["accepted"] + a["to_shared"], volume, rtol=1e-5)
        assert (a["deferred"] == 0).all() and a["to_shared"].sum() > 0
    # Inbox + spam + missing (blocked, expired) = sent: the seed-list three-way split.
    np.testing.assert_allclose(a["inbox"] + a["spam"] + a["blocked"] + a["expired"], volume,
                               rtol=1e-4, atol=1e-3)
    assert (a["inbox"] >= 0).all() and (a["spam"] >= 0).all()


def test_placement_and_blocks_follow_the_simulators_f19_link():
    result = simulate_warmup(volume_plan("cold", TARGET, 60))
    a = result.arrays
    score = a["score"].astype(float)
    np.testing.assert_allclose(a["placement"], placement_from_score(score), atol=2e-6)
    reached = a["accepted"] + a["deferred"] - a["expired"]
    ceiling = W.provider_table()["block_ceiling"].to_numpy()
    expected = block_probability(score, ceiling)
    ok = reached > 0
    np.testing.assert_allclose((a["blocked"] / np.where(ok, reached, 1))[ok], expected[ok],
                               rtol=1e-4, atol=1e-6)
    # A warm IP sits at section 9's per-provider placement (F17).
    assert result.warmed_placement[0, GMAIL] == pytest.approx(0.90, abs=1e-3)
    assert result.warmed_placement[0, MICROSOFT] == pytest.approx(0.77, abs=1e-3)


def test_a_warm_ip_at_steady_volume_stays_warm():
    plan = volume_plan("cold", TARGET, 90)
    result = simulate_warmup(plan, initial="warm")
    assert result.deferral_rate.max() == 0
    np.testing.assert_allclose(result.placement[0], np.broadcast_to(result.warmed_placement[0],
                               (90, len(PROVIDERS))), atol=1e-4)


# --- the brief's checks ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["sparkpost", "sendgrid"])
@pytest.mark.parametrize("target", [TARGET, None])
def test_published_schedule_warms_cleanly(name, target):
    schedule = SCHEDULES[name]
    target = target or schedule.daily[-1]  # None: the whole schedule, to its last day
    result = simulate_warmup(volume_plan(name, target, schedule.days + 14))
    # Deferrals under 5% on every day, at every provider.
    assert result.deferral_rate.max() < 0.05
    # Placement within 0.03 of the warmed level by the schedule's last day, over the audience
    # (M4: the mix-weighted placement).
    end = schedule.days - 1
    assert result.overall("placement")[0, end] > overall_warmed(result) - 0.03
    if name == "sendgrid":
        # 42 days is F23's six weeks: every provider, Microsoft included, is warm.
        gap = result.warmed_placement[0] - result.placement[0, end]
        assert (gap < 0.03).all(), dict(zip(PROVIDERS, gap.round(3), strict=True))


def test_cold_cutover_of_the_same_volume_fails_for_weeks():
    warm = simulate_warmup(volume_plan("sparkpost", TARGET, 60))
    cold = simulate_warmup(volume_plan("cold", TARGET, 60))
    for provider in (GMAIL, MICROSOFT):
        # Transactional mail: the inbox share of what was sent that day (deferred mail
        # arrives late, which a verification or password-reset email cannot afford).
        below = cold.inbox_rate[0, :, provider] < 0.60
        assert longest_run(below) >= 14, PROVIDERS[provider]
        # ... and the mail the IP does deliver lands in spam too (placement of accepted mail).
        assert longest_run(cold.placement[0, :, provider] < 0.60) >= 14
        assert longest_run(warm.inbox_rate[0, :, provider] < 0.60) < longest_run(below)
    # Rate limiting (F25: 421 deferrals at Microsoft) from day one.
    assert cold.deferral_rate[0, 0, MICROSOFT] > 0.5
    # Section 9: the fair/poor band for 2-6 weeks (2-8 plausible), not for ever.
    assert cold.inbox_rate[0, -1, GMAIL] > 0.80


def test_the_clean_warmup_check_can_fail():
    # A provider that only accepts 50% more than yesterday cannot take SparkPost's 2.5x steps.
    tight = WarmupParameters(cap_headroom=1.5)
    result = simulate_warmup(volume_plan("sparkpost", TARGET, 40), tight)
    assert result.deferral_rate.max() > 0.05


# --- what grows and what shrinks the cap ----------------------------------------------------


def test_a_spike_above_the_headroom_is_deferred_and_dents_placement():
    days, spike_day = 60, 30
    plan = volume_plan("cold", 50_000, days)
    plan.iloc[spike_day] *= 6  # the simulator's volume_spike scenario: twice the headroom
    result = simulate_warmup(plan, initial="warm")
    assert result.deferral_rate[0, spike_day, MICROSOFT] > 0.3
    assert result.deferral_rate[0, spike_day - 1].max() == 0
    dip = result.placement[0, spike_day + 1:spike_day + 15, GMAIL].min()
    assert dip < result.warmed_placement[0, GMAIL] - 0.02


def test_complaints_shrink_the_cap_and_placement():
    plan = volume_plan("cold", 50_000, 90)
    clean = simulate_warmup(plan, initial="warm")
    # F2: Gmail's ceiling is 0.30%; twice that, sustained.
    dirty = simulate_warmup(plan, initial="warm", complaint_rate=0.006)
    assert dirty.cap[0, -1, GMAIL] < 0.5 * clean.cap[0, -1, GMAIL]
    assert dirty.placement[0, -1, GMAIL] < clean.placement[0, -1, GMAIL] - 0.2
    # Day-varying rates take the other code path and agree when constant.
    same = simulate_warmup(plan, initial="warm", complaint_rate=np.full((90, 5), 0.006))
    np.testing.assert_allclose(same.placement, dirty.placement, atol=1e-4)


@pytest.mark.parametrize(("idle_days", "rewarm_needed"), [(20, False), (31, True)])
def test_rewarming_after_30_idle_days(idle_days, rewarm_needed):
    # F24: re-warm after more than 30 days without sending.
    days = 40 + idle_days + 10
    plan = volume_plan("cold", 100_000, days)
    plan.iloc[40:40 + idle_days] = 0.0
    result = simulate_warmup(plan, initial="warm")
    back = 40 + idle_days
    assert (result.deferral_rate[0, back] > 0.5).any() == rewarm_needed
    cold_cap = W.PROVIDER_WARMUP["gmail"].cold_daily_cap
    if rewarm_needed:
        assert result.cap[0, back, GMAIL] == pytest.approx(cold_cap)
    else:  # the memory has faded (exp(-20 / 30)) but still covers the volume
        assert result.cap[0, back, GMAIL] > plan["gmail"].iloc[back]


def test_overflow_to_the_shared_pool_keeps_placement_up():
    plan = volume_plan("cold", TARGET, 30)
    deferred = simulate_warmup(plan)
    shared = simulate_warmup(plan, overflow="shared")
    assert shared.deferral_rate.max() == 0
    assert shared.inbox_rate[0, 0, GMAIL] > 0.8  # the warm shared pool carries the excess
    assert shared.inbox_rate[0, :, GMAIL].mean() > deferred.inbox_rate[0, :, GMAIL].mean()


# --- Monte Carlo ----------------------------------------------------------------------------


def test_per_draw_parameters_match_single_runs(monkeypatch):
    monkeypatch.setattr(W, "_BLOCK_DRAWS", 2)  # several blocks of draws
    plan = volume_plan("cold", TARGET, 40)
    headroom = np.array([1.5, 2.0, 3.0, 4.0, 6.0])
    cold_gap = np.array([5.0, 8.0, 10.0, 12.0, 15.0])
    many = simulate_warmup(plan, WarmupParameters(cap_headroom=headroom, cold_gap=cold_gap))
    assert many.inbox.shape == (5, 40, len(PROVIDERS))
    for k in range(5):
        one = simulate_warmup(plan, WarmupParameters(cap_headroom=headroom[k], cold_gap=cold_gap[k]))
        np.testing.assert_allclose(many.inbox[k], one.inbox[0], rtol=1e-6)
    # Per-provider values per draw: a (draws, providers) column through the provider table.
    cold_caps = np.array([[300.0, 500, 500, 500, 1000]] * 5) * headroom[:, None]
    per_draw = W._run(plan.to_numpy()[None], WarmupParameters(),
                      {**{f: W.provider_table()[f].to_numpy()[None] for f in W.PROVIDER_FIELDS},
                       "cold_daily_cap": cold_caps}, draws=5, overflow="defer", initial="cold",
                      complaint_rate=0.0001, hard_bounce_rate=0.01, random_state=None,
                      outputs=("deferred",))[0]
    first_day = plan.to_numpy()[0]
    np.testing.assert_allclose(per_draw["deferred"][:, 0, GMAIL],
                               (first_day[GMAIL] - cold_caps[:, GMAIL]) * 0.3, rtol=1e-5)


def test_noise_is_seeded_and_outputs_can_be_trimmed():
    plan = volume_plan("sparkpost", TARGET, 30)
    noisy = WarmupParameters(noise_sd=0.8)
    a = simulate_warmup(plan, noisy, draws=50, random_state=3, outputs=("inbox",))
    b = simulate_warmup(plan, noisy, draws=50, random_state=3, outputs=("inbox",))
    c = simulate_warmup(plan, noisy, draws=50, random_state=4, outputs=("inbox",))
    np.testing.assert_array_equal(a.inbox, b.inbox)
    assert not np.array_equal(a.inbox, c.inbox)
    assert set(a.arrays) == {"inbox", "volume"}
    with pytest.raises(ValueError, match="unknown output"):
        simulate_warmup(plan, outputs=("mood",))


def test_bad_plans_are_refused():
    with pytest.raises(ValueError, match="non-negative"):
        simulate_warmup(-np.ones((3, 5)))
    with pytest.raises(ValueError, match="providers"):
        simulate_warmup(np.ones((3, 4)))
    with pytest.raises(ValueError, match="overflow"):
        simulate_warmup(np.ones((3, 5)), overflow="drop")


def test_ten_thousand_draws_two_years_in_seconds():
    """A quarter of the goal (10,000 draws x 730 days x 5 providers under 10 s), measured in
    CPU time so other processes on the machine do not count; benchmarks/bench_warmup.py runs
    the full size."""
    import time

    plan = volume_plan("sparkpost", TARGET, 730)
    rng = np.random.default_rng(0)
    params = WarmupParameters(cap_headroom=rng.uniform(2, 4, 2500), noise_sd=0.8)
    start = time.process_time()
    result = simulate_warmup(plan, params, random_state=1, outputs=("inbox", "deferred"))
    elapsed = time.process_time() - start
    assert result.inbox.shape == (2500, 730, 5)
    assert elapsed < 10.0 / 4


# --- calibration ----------------------------------------------------------------------------

TRUE_PROVIDERS = {
    "gmail": {"cold_daily_cap": 800, "maturity_days": 6},
    "microsoft": {"cold_daily_cap": 300, "maturity_days": 20},
    "yahoo": {"cold_daily_cap": 600, "maturity_days": 4},
    "apple": {"cold_daily_cap": 400, "maturity_days": 12},
    "other": {"cold_daily_cap": 1500, "maturity_days": 3},
}
TRUE_DYNAMICS = WarmupParameters(cap_headroom=2.2, cold_gap=14.0, overload_penalty=30.0)


def test_fit_recovers_parameters_from_noisy_model_data():
    days = 90
    plan = volume_plan("cold", TARGET, days)
    truth = simulate_warmup(plan, TRUE_DYNAMICS, TRUE_PROVIDERS)
    rng = np.random.default_rng(5)
    # Daily placement estimates with a 0.02 standard error (about a seed test of 400 mailboxes
    # at 80%) and deferral rates with 0.01.
    inbox = np.clip(truth.inbox_rate[0] + rng.normal(0, 0.02, (days, 5)), 0, 1)
    deferral = np.clip(truth.deferral_rate[0] + rng.normal(0, 0.01, (days, 5)), 0, 1)
    observed = pd.DataFrame({"day": np.repeat(np.arange(days), 5),
                             "mailbox_provider": np.tile(PROVIDERS, days),
                             "inbox_rate": inbox.ravel(), "deferral_rate": deferral.ravel()})
    fit = fit_warmup(observed, plan)
    assert fit.success
    # Stated tolerances: shared dynamics within 10%, per-provider values within 30%.
    assert fit.value("cap_headroom") == pytest.approx(2.2, rel=0.10)
    assert fit.value("cold_gap") == pytest.approx(14.0, rel=0.10)
    assert fit.value("overload_penalty") == pytest.approx(30.0, rel=0.10)
    for provider, values in TRUE_PROVIDERS.items():
        for name, value in values.items():
            assert fit.value(name, provider) == pytest.approx(value, rel=0.30), (name, provider)
    # The residual is the noise, no more.
    assert fit.rmse_placement < 0.025 and fit.rmse_deferral < 0.0125
    assert (fit.estimates["standard_error"].dropna() > 0).all()


def test_fit_refuses_observations_it_cannot_use():
    plan = volume_plan("cold", TARGET, 10)
    with pytest.raises(ValueError, match="missing column"):
        fit_warmup(pd.DataFrame({"day": [0], "inbox_rate": [0.5]}), plan)
    with pytest.raises(ValueError, match="cannot fit"):
        fit_warmup({"inbox_rate": np.zeros((10, 5))}, plan, fit=("mood",))


@pytest.fixture(scope="module")
def simulated_cold_cutover():
    from deliverability_econ.simulate import sender
    from deliverability_econ.simulate.scenarios import DEDICATED_IP, incident_day

    days = 90
    start = pd.Timestamp("2026-01-05", tz="UTC")
    result = sender(days=days, recipients=20_000, scenario="cold_cutover", random_state=11,
                    start=start)
    first = incident_day(days)
    reputation = result.reputation[result.reputation["sending_ip"] == DEDICATED_IP].copy()
    reputation["day"] = (reputation["date"] - start).dt.days - first
    reputation = reputation[(reputation["day"] >= 0)
                            & reputation["mailbox_provider"].isin(PROVIDERS)]
    plan = reputation.pivot_table(index="day", columns="mailbox_provider", values="volume",
                                  observed=True)[list(PROVIDERS)]
    true_placement = reputation.pivot_table(index="day", columns="mailbox_provider",
                                            values="inbox_share", observed=True)[list(PROVIDERS)]
    truth = result.truth[result.truth["sending_ip"] == DEDICATED_IP].copy()
    truth["day"] = (truth["date"] - start).dt.days - first
    daily = truth.groupby(["day", "mailbox_provider"], observed=True)[
        ["messages", "dropped", "inbox", "deferred"]].sum().reset_index()
    daily = daily[daily["mailbox_provider"].isin(PROVIDERS) & (daily["day"] >= 0)]
    sent = daily["messages"] - daily["dropped"]
    observed = pd.DataFrame({
        "day": daily["day"].astype(int).to_numpy(),
        "mailbox_provider": daily["mailbox_provider"].astype(str).to_numpy(),
        "inbox_rate": (daily["inbox"] / sent).to_numpy(),
        "deferral_rate": (daily["deferred"] / sent).to_numpy(),
    })[(sent >= 20).to_numpy()]
    return plan, observed, true_placement


def test_fit_to_the_simulators_cold_cutover_tracks_its_truth(simulated_cold_cutover):
    """The simulator's process differs from this model (its cap grows at most 1.3x a day, it
    has domain reputation and noise), so its parameters are not this model's: the check is
    that the fitted model reproduces the simulator's true placement."""
    plan, observed, true_placement = simulated_cold_cutover
    fit = fit_warmup(observed, plan)
    fitted = fit.predicted.placement[0]
    truth = true_placement.to_numpy()
    rmse = np.sqrt(np.mean((fitted - truth) ** 2, axis=0))
    default_rmse = np.sqrt(np.mean((simulate_warmup(plan).placement[0] - truth) ** 2, axis=0))
    assert (rmse < 0.08).all(), dict(zip(PROVIDERS, rmse.round(3), strict=True))
    assert rmse.mean() < 0.6 * default_rmse.mean()
    # The failure's length, which is what a migration plan is judged on: within 5 days.
    for provider in (GMAIL, MICROSOFT):
        true_days = int((truth[:, provider] < 0.6).sum())
        fitted_days = int((fitted[:, provider] < 0.6).sum())
        assert true_days >= 14 and abs(fitted_days - true_days) <= 5
