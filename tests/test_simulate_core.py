"""``simulate.sender``: API, determinism, schema validity, time bounds, table contracts."""

import warnings

import numpy as np
import pandas as pd
import pytest

from deliverability_econ.privacy import pseudonymize
from deliverability_econ.schema import EVENT_COLUMNS, EVENT_DTYPES, validate_events
from deliverability_econ.simulate import (
    DETAIL_COLUMNS,
    IP,
    SCENARIOS,
    Audience,
    Incident,
    Infrastructure,
    Migration,
    SenderConfig,
    SimulationWarning,
    Stream,
    sender,
)

START = "2026-06-01"  # with 42 days the run ends 2026-07-13, months before today (Nov 2026)
DAYS = 42


@pytest.fixture(scope="module")
def result():
    return sender(days=DAYS, recipients=3000, random_state=11, start=START)


def _tables(result):
    return {
        "events": result.events, "event_details": result.event_details,
        "messages_truth": result.messages_truth, "truth": result.truth,
        "reputation": result.reputation, "seed_tests": result.seed_tests,
        "postmaster": result.postmaster, "snds": result.snds,
    }


def test_same_seed_gives_identical_tables():
    first = sender(days=21, recipients=800, random_state=11, start=START)
    again = sender(days=21, recipients=800, random_state=11, start=START)
    for name, frame in _tables(first).items():
        other = _tables(again)[name]
        assert list(frame.dtypes) == list(other.dtypes), name
        assert frame.equals(other), name


def test_different_seeds_differ(result):
    other = sender(days=DAYS, recipients=3000, random_state=12, start=START)
    assert not result.events["event_id"].head(100).equals(other.events["event_id"].head(100))
    assert not result.messages_truth["recipient"].head(100).equals(other.messages_truth["recipient"].head(100))
    assert not result.truth["inbox"].equals(other.truth["inbox"])


def test_generator_argument_is_used():
    a = sender(days=7, recipients=300, random_state=np.random.default_rng(5), start=START)
    b = sender(days=7, recipients=300, random_state=np.random.default_rng(5), start=START)
    pd.testing.assert_frame_equal(a.events, b.events)


def test_events_are_canonical(result):
    events = result.events
    assert tuple(events.columns) == EVENT_COLUMNS
    for column, dtype in EVENT_DTYPES.items():
        assert events[column].dtype == dtype, column
    # Clear addresses are allowed by the schema (pseudonymize=False) ...
    assert validate_events(events).empty
    # ... and after pseudonymizing, as the readers do, the table is still valid.
    pseudonymized = events.assign(recipient=pseudonymize(events["recipient"], b"test-salt"))
    assert validate_events(pseudonymized).empty
    assert events["recipient"].str.fullmatch(r"user\d{6}@[a-z0-9.-]+").all()
    assert (events["recipient"].str.split("@").str[1] == events["recipient_domain"]).all()


def test_no_clear_address_in_diagnostics(result):
    reasons = result.events["reason"].dropna()
    assert not reasons.str.contains("@").any()
    # The clear replies are in the details, for the format writers.
    replies = result.event_details["smtp_reply"].dropna()
    assert replies.str.contains("@").any()


def test_time_bounds_and_order(result):
    timestamps = result.events["timestamp"]
    start = pd.Timestamp(START, tz="UTC")
    end = start + pd.Timedelta(days=DAYS)
    assert str(timestamps.dt.tz) == "UTC"
    assert timestamps.min() >= start and timestamps.max() < end
    assert timestamps.is_monotonic_increasing
    # Within a message: processed first, then attempts, then engagement.
    first = result.events.groupby("message_id", observed=True).head(1)
    assert (first["event"] == "processed").all()


def test_ids(result):
    events = result.events
    assert events["event_id"].is_unique
    assert events["event_id"].str.fullmatch(r"[A-Za-z0-9_-]{20}").all()
    assert events["message_id"].str.fullmatch(r"[A-Za-z0-9_-]{22}").all()
    assert result.messages_truth["message_id"].is_unique
    assert set(events["message_id"]) <= set(result.messages_truth["message_id"])


def test_every_message_has_one_processed_event(result):
    processed = result.events[result.events["event"] == "processed"]
    assert len(processed) == len(result.messages_truth)
    assert processed["message_id"].is_unique


def test_details_are_row_aligned(result):
    details = result.event_details
    assert tuple(details.columns) == tuple(DETAIL_COLUMNS)
    assert details["event_id"].equals(result.events["event_id"])
    attempts = result.events["event"].isin(["deferred", "delivered", "bounced"])
    assert details.loc[attempts, "smtp_reply"].notna().all()
    assert details.loc[~attempts, "smtp_reply"].isna().all()
    codes = details.loc[attempts, "smtp_code"].astype(int).astype(str)
    assert (details.loc[attempts, "smtp_reply"].str[:3] == codes).all()
    opens = result.events["event"] == "opened"
    assert details.loc[opens, "user_agent"].notna().all() and details.loc[opens, "client_ip"].notna().all()
    # Apple's proxy fetches come from Apple's network with a bare user agent.
    machine = opens & result.events["is_machine"].astype(bool)
    assert (details.loc[machine, "user_agent"] == "Mozilla/5.0").all()
    assert details.loc[machine, "client_ip"].str.startswith("17.").all()


def test_sending_ip_only_on_attempts(result):
    events = result.events
    attempts = events["event"].isin(["deferred", "delivered", "bounced"])
    assert events.loc[attempts, "sending_ip"].notna().all()
    assert events.loc[~attempts, "sending_ip"].isna().all()
    assert events["ip_pool"].eq("shared").all()


def test_truth_tables_add_up(result):
    truth, messages = result.truth, result.messages_truth
    assert truth["messages"].sum() == len(messages)
    assert (truth["inbox"] + truth["spam"] + truth["missing"] == truth["messages"]).all()
    assert np.allclose(truth[["inbox_rate", "spam_rate", "missing_rate"]].sum(axis=1), 1.0)
    assert np.allclose(truth[["inbox_probability", "spam_probability", "missing_probability"]].sum(axis=1), 1.0)
    counts = messages["folder"].value_counts()
    assert truth["inbox"].sum() == counts["inbox"] and truth["missing"].sum() == counts["missing"]
    assert truth.loc[truth["sending_ip"].isna(), "messages"].sum() == (messages["outcome"] == "dropped").sum()
    assert (truth["dropped"] <= truth["missing"]).all()
    for column in ("date",):
        assert str(truth[column].dt.tz) == "UTC"


def test_reputation_table_shape(result):
    reputation = result.reputation
    n_ips = reputation["sending_ip"].nunique()
    assert len(reputation) == DAYS * n_ips * reputation["mailbox_provider"].nunique()
    assert reputation["inbox_share"].between(0, 1).all()
    assert np.isinf(reputation.loc[reputation["shared"], "acceptance_cap"]).all()


def test_calibration_tables_shape(result):
    seeds = result.seed_tests
    assert {"date", "mailbox_provider", "inbox", "spam", "missing"} <= set(seeds.columns)
    assert (seeds[["inbox", "spam", "missing"]].sum(axis=1) == seeds["seeds"]).all()
    assert seeds["date"].dt.day_of_week.eq(1).all()  # the tested newsletter goes out on Tuesdays
    postmaster = result.postmaster
    ratio = postmaster["spam_reports"] / postmaster["inbox"]
    assert np.allclose(postmaster["spam_rate"], ratio.astype(float), equal_nan=True)
    assert result.snds.empty  # a shared pool: SNDS shows only IPs you own


def test_parameters(result):
    parameters = result.parameters
    assert parameters["scenario"] == "baseline" and parameters["days"] == DAYS
    assert isinstance(parameters["config"], SenderConfig)
    assert set(parameters["healthy_score"]) == set(Audience().provider_mix)
    assert "SimulationResult(scenario='baseline'" in repr(result)


def test_future_end_warns():
    with pytest.warns(SimulationWarning, match="quarantine"):
        sender(days=3, recipients=50, random_state=1, start=pd.Timestamp.now(tz="UTC").normalize())


def test_past_start_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sender(days=3, recipients=50, random_state=1, start=START)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"days": 0}, "days"),
        ({"recipients": 0}, "recipients"),
        ({"start": "2026-06-01 12:00"}, "midnight"),
        ({"config": SenderConfig(), "scenario": "warmup"}, "either"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        sender(**{"days": 3, "recipients": 10, "random_state": 1, "start": START, **kwargs})


def test_unknown_scenario():
    with pytest.raises(KeyError, match="known: baseline"):
        sender(scenario="nope", days=3, recipients=10)


def test_config_validation():
    with pytest.raises(ValueError, match="sum to 1"):
        Audience(provider_mix={"gmail": 0.5})
    with pytest.raises(ValueError, match="unknown mailbox provider"):
        Audience(provider_mix={"hotmail": 1.0})
    with pytest.raises(ValueError, match="pool 'dedicated' has no IP"):
        Infrastructure(migrations=(Migration("dedicated", 5),))
    with pytest.raises(ValueError, match="mixes shared and dedicated"):
        Infrastructure(ips=(IP("192.0.2.1", "p", shared=True), IP("192.0.2.2", "p")), default_pool="p")
    with pytest.raises(ValueError, match="incident kind"):
        Incident("meteor", 3)
    with pytest.raises(ValueError, match="needs weekdays"):
        Stream("digest", "marketing", "calendar")
    with pytest.raises(ValueError, match="unknown stream"):
        SenderConfig(incidents=(Incident("complaint_spike", 3, streams=("digest",)),))


def test_custom_config_runs():
    config = SenderConfig(
        audience=Audience(provider_mix={"gmail": 0.7, "microsoft": 0.3}),
        streams=(Stream("digest", "marketing", "calendar", weekdays=(0, 3), open_probability=0.3),),
        infrastructure=Infrastructure(ips=(IP("203.0.113.5", "main"),), default_pool="main"),
        esp="ses",
    )
    result = sender(config, days=14, recipients=400, random_state=2, start=START)
    assert set(result.events["stream"].unique()) == {"digest"}
    assert set(result.events["mailbox_provider"].astype(str).unique()) <= {"gmail", "microsoft"}
    assert (result.events["esp"] == "ses").all()
    assert set(result.snds["ip"]) <= {"203.0.113.5"}  # rows only on busy days (F13)


def test_scenario_registry_builds_configs():
    for name, scenario in SCENARIOS.items():
        config = scenario.build(90)
        assert isinstance(config, SenderConfig), name
        assert scenario.description


@pytest.mark.parametrize(
    "module, constant, table",
    [("seedtests", "SEED_TEST_COLUMNS", "seed_tests"), ("postmaster", "POSTMASTER_COLUMNS", "postmaster"),
     ("snds", "SNDS_COLUMNS", "snds")],
)
def test_calibration_tables_look_like_the_readers_output(module, constant, table):
    """A simulated calibration table has the columns (and key dtypes) of the matching reader's
    output, so models take either."""
    reader = pytest.importorskip(f"deliverability_econ.io.{module}")
    result = sender(scenario="volume_spike", days=21, recipients=3000, random_state=3, start=START)
    frame = getattr(result, table)
    assert len(frame) > 0
    assert set(getattr(reader, constant)) <= set(frame.columns)
    for column in ("date", "activity_start"):
        if column in frame.columns:
            expected = "datetime64[ns]" if column == "date" else "datetime64[ns, UTC]"
            assert str(frame[column].dtype) == expected
    for column in ("domain_reputation", "filter_result"):
        if column in frame.columns:
            assert frame[column].cat.ordered
