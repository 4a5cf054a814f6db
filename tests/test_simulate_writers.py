"""Format writers: every format round-trips through its reader; calibration and truth files;
byte-for-byte determinism; ``simulate_to_directory``.

The sender under test is built to exercise every branch of every writer in a few hundred
recipients: a cold cut-over to a dedicated IP with small acceptance caps (rate-limit deferrals
that expire: soft bounces after 4.7.x replies; reputation blocks), an imported stale segment
(hard bounces, including Yahoo's 5.0.0 "dd" reply, and later drops), full mailboxes (soft
bounces after 4.2.2), and complaint and unsubscribe probabilities raised so that both appear.
"""

import csv
import dataclasses
import gzip
import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from deliverability_econ import read_events
from deliverability_econ.io import check_reconciliation
from deliverability_econ.io.postmaster import read_postmaster
from deliverability_econ.io.seedtests import read_seed_tests
from deliverability_econ.io.snds import read_snds
from deliverability_econ.privacy import pseudonymize, resolve_salt
from deliverability_econ.simulate import (
    FIDELITY,
    Incident,
    expected_events,
    scenario_config,
    sender,
    simulate_to_directory,
    wire_message_ids,
    write_calibration,
    write_logs,
    write_truth,
)
from deliverability_econ.simulate.writers import FORMATS, parse_formats

from .conftest import TEST_SALT

START = "2026-06-01"  # 12 days: the run ends 2026-06-13, months before today (Nov 2026)
DAYS = 12
YEAR = 2026

#: The columns a round trip must recover exactly (after FIDELITY).
COMPARED = ("timestamp", "event", "message_id", "recipient", "recipient_domain",
            "mailbox_provider", "sending_ip", "ip_pool", "stream", "campaign", "bounce_class",
            "is_machine")

#: (format, writer options, compress) combinations, covering every layout and transport.
CASES = [
    ("sendgrid", {"layout": "jsonl"}, "gz"),
    ("sendgrid", {"layout": "posts", "batch_size": 50}, None),
    ("ses", {"transport": "firehose"}, "gz"),
    ("ses", {"transport": "sns"}, None),
    ("ses", {"transport": "eventbridge"}, None),
    ("mailgun", {}, "gz"),
    ("postmark", {}, None),
    ("sparkpost", {"batch_size": 40}, "gz"),
    ("mandrill", {"layout": "form"}, None),
    ("mandrill", {"layout": "json"}, "gz"),
    ("brevo", {}, None),
    ("brevo", {"batch_size": 25}, "gz"),
    ("postfix", {"syslog": "classic"}, None),
    ("postfix", {"syslog": "rfc3339"}, "gz"),
    ("csv", {}, None),
]


def stressed_config():
    config = scenario_config("cold_cutover", days=DAYS)
    streams = tuple(
        dataclasses.replace(s, complaint_probability=max(s.complaint_probability, 0.03),
                            unsubscribe_probability=max(s.unsubscribe_probability, 0.02))
        for s in config.streams)
    providers = {name: dataclasses.replace(p, mailbox_full_probability=0.01, cold_daily_cap=30)
                 for name, p in config.providers.items()}
    return dataclasses.replace(
        config, streams=streams, providers=providers,
        incidents=(Incident("list_hygiene_failure", 2, magnitude=0.3),),
        # Low floors so that the small sender has Postmaster and SNDS rows to round-trip.
        snds_min_daily_messages=5, postmaster_min_daily_recipients=5)


@pytest.fixture(scope="module")
def result():
    return sender(stressed_config(), days=DAYS, recipients=250, random_state=7, start=START)


@pytest.fixture(scope="module")
def written(result, tmp_path_factory):
    """Every case written once and read back: {(format, case index): (paths, events, meta)}."""
    out = tmp_path_factory.mktemp("logs")
    cache = {}
    for number, (fmt, options, compress) in enumerate(CASES):
        paths = write_logs(result, fmt, out / f"{number}-{fmt}", compress=compress, **options)
        format_options = {"postfix": {"year": YEAR}} if fmt == "postfix" else None
        events, meta = read_events(paths, format="auto", format_options=format_options)
        cache[number] = (paths, events, meta)
    return cache


def keyed(events, columns=COMPARED):
    """The events as a multiset of rows (missing values as "-")."""
    frame = pd.DataFrame({c: events[c].astype(object).where(events[c].notna(), "-").astype(str)
                          for c in columns})
    return frame.value_counts(dropna=False)


def difference(read, expected, columns=COMPARED):
    diff = keyed(read, columns).sub(keyed(expected, columns), fill_value=0)
    return diff[diff != 0]


def events_of(result):
    return result.events["event"].astype(str)


# --------------------------------------------------------------------------------------------
# The sender exercises what the writers must handle
# --------------------------------------------------------------------------------------------


def test_the_stressed_sender_has_every_case_the_writers_map(result):
    events = result.events
    kind = events_of(result)
    bounced = events[kind == "bounced"]
    status = bounced["smtp_status"].astype(str)
    klass = bounced["bounce_class"].astype(str)
    assert set(kind) == {"processed", "delivered", "deferred", "bounced", "dropped", "opened",
                         "clicked", "complained", "unsubscribed"}
    assert ((klass == "hard") & (status == "5.1.1")).any()
    assert ((klass == "hard") & (status == "5.0.0")).any()  # Yahoo's "dd" reply
    assert ((klass == "soft") & (status == "4.2.2")).any()  # expired: mailbox full
    assert ((klass == "soft") & status.str.startswith("4.7.")).any()  # expired: rate limited
    assert (klass == "block").any()
    assert events.loc[kind == "opened", "is_machine"].any()
    assert events.loc[kind == "clicked", "is_machine"].any()
    assert len(result.snds) and len(result.postmaster) and len(result.seed_tests)


# --------------------------------------------------------------------------------------------
# Round trips
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("number", range(len(CASES)),
                         ids=[f"{f}-{'-'.join(f'{k}={v}' for k, v in o.items()) or 'default'}"
                              for f, o, _ in CASES])
def test_round_trip_recovers_the_simulated_events(result, written, number):
    fmt, options, _ = CASES[number]
    paths, events, meta = written[number]
    assert meta["format"] == fmt  # detected from the content
    assert check_reconciliation(meta)
    assert meta["quarantined"] == 0, meta["quarantine"].head().to_dict("records")
    expected = expected_events(result, fmt, salt=TEST_SALT, **options)
    assert len(events) == len(expected)
    diff = difference(events, expected)
    assert diff.empty, diff.head(20).to_string()
    # Per event type, per bounce class, per machine flag: the counts the brief names.
    for column in ("event", "bounce_class", "is_machine"):
        read_counts = events[column].astype(str).value_counts().sort_index()
        expected_counts = expected[column].astype(str).value_counts().sort_index()
        pd.testing.assert_series_equal(read_counts, expected_counts)


def test_expected_events_is_the_simulation_where_the_format_carries_everything(result):
    # The canonical CSV carries every field: its expectation is the simulation itself.
    expected = expected_events(result, "csv", salt=TEST_SALT)
    simulated = result.events.copy()
    simulated["recipient"] = pseudonymize(simulated["recipient"], resolve_salt(TEST_SALT))
    assert difference(expected, simulated).empty


def test_recipients_are_the_pseudonyms_of_the_simulated_addresses(result, written):
    key = resolve_salt(TEST_SALT)
    clear = result.events["recipient"]
    for number, (fmt, _, _) in enumerate(CASES):
        events = written[number][1]
        assert not events["recipient"].str.contains("@", regex=False).any(), fmt
        expected = set(pseudonymize(clear[events_of(result).isin(FIDELITY[fmt].events)], key))
        assert set(events["recipient"]) == expected, fmt


def test_message_grouping_is_preserved(result, written):
    key = resolve_salt(TEST_SALT)
    truth = result.messages_truth.set_index("message_id")
    recipient_of = pd.Series(pseudonymize(truth["recipient"], key).to_numpy(), index=truth.index)
    for number, (fmt, _, _) in enumerate(CASES):
        ids = wire_message_ids(result, fmt)
        assert ids.is_unique and len(ids) == len(truth), fmt  # one wire id per message
        simulated_id = pd.Series(ids.index, index=ids.to_numpy())
        events = written[number][1]
        back = events["message_id"].map(simulated_id)
        assert back.notna().all(), fmt  # every read message is a simulated one...
        # ...and each holds the events of that message only (one recipient each).
        assert (events["recipient"].to_numpy() == back.map(recipient_of).to_numpy()).all(), fmt


# --------------------------------------------------------------------------------------------
# What each format loses, pinned with literal expectations (not via expected_events)
# --------------------------------------------------------------------------------------------


def read_case(written, fmt, options=None):
    for number, (name, case_options, _) in enumerate(CASES):
        if name == fmt and (options is None or case_options == options):
            return written[number][1]
    raise KeyError(fmt)


def machine_count(events, event):
    return int(events.loc[events["event"].astype(str) == event, "is_machine"].sum())


def test_machine_opens_survive_only_where_the_format_flags_them(result, written):
    simulated = result.events
    machine_opens = machine_count(simulated, "opened")
    machine_clicks = machine_count(simulated, "clicked")
    opens = int((events_of(result) == "opened").sum())
    assert machine_opens > 0 and machine_clicks > 0
    # SendGrid sg_machine_open, Mailgun client-info.bot, Brevo proxy_open: every MPP open kept.
    for fmt in ("sendgrid", "mailgun", "brevo", "csv"):
        assert machine_count(read_case(written, fmt), "opened") == machine_opens, fmt
    # Clicks: only Mailgun (bot = generic) and the canonical CSV flag scanners.
    assert machine_count(read_case(written, "mailgun"), "clicked") == machine_clicks
    assert machine_count(read_case(written, "sendgrid"), "clicked") == 0
    assert machine_count(read_case(written, "brevo"), "clicked") == 0
    # No flag at all: every open is read, and every one is "human".
    for fmt in ("ses", "postmark", "sparkpost", "mandrill"):
        events = read_case(written, fmt)
        assert machine_count(events, "opened") == 0, fmt
        assert int((events["event"].astype(str) == "opened").sum()) == opens, fmt


def test_postmark_has_no_processed_and_no_dropped_events(result, written):
    events = read_case(written, "postmark")
    counts = events["event"].astype(str).value_counts()
    simulated = events_of(result).value_counts()
    assert "processed" not in counts and "dropped" not in counts
    for event in ("delivered", "deferred", "bounced", "opened", "clicked", "complained", "unsubscribed"):
        assert counts[event] == simulated[event], event


def test_postfix_carries_the_delivery_path_only(result, written):
    events = read_case(written, "postfix", {"syslog": "classic"})
    counts = events["event"].astype(str).value_counts()
    simulated = events_of(result).value_counts()
    assert set(counts.index) == {"processed", "delivered", "deferred", "bounced", "dropped"}
    for event in ("delivered", "deferred", "bounced", "dropped"):
        assert counts[event] == simulated[event], event
    assert events["sending_ip"].isna().all()
    # The multi-instance name is the stream.
    assert set(events["stream"].dropna()) <= set(result.events["stream"].dropna())


def bounce_classes(events):
    bounced = events[events["event"].astype(str) == "bounced"]
    return bounced["bounce_class"].astype(str).value_counts().sort_index()


def test_bounce_classes_survive_every_format(result, written):
    # Every reader classes a bounce the same way (the ESP's own verdict, else the receiver's reply
    # by io/_bounce.classify_bounce), so all nine formats give the simulated truth, including the
    # cases that once differed: Yahoo's 5.0.0 "dd This user doesn't have a yahoo.com account"
    # (hard, Mailgun), expiries after 4.7.x rate-limit deferrals (soft, Mandrill) and blocks
    # written as Brevo soft_bounce events (block, Brevo).
    simulated = result.events[events_of(result) == "bounced"]
    truth = bounce_classes(result.events)
    status = simulated["smtp_status"].astype(str)
    klass = simulated["bounce_class"].astype(str)
    assert ((klass == "hard") & (status == "5.0.0")).any()
    assert ((klass == "soft") & status.str.startswith("4.7.")).any()
    assert truth["block"] > 0
    for fmt in ("sendgrid", "ses", "postmark", "sparkpost", "csv", "mailgun"):
        pd.testing.assert_series_equal(bounce_classes(read_case(written, fmt)), truth, obj=fmt)
    for fmt, options in (("postfix", {"syslog": "classic"}), ("mandrill", {"layout": "form"}),
                         ("brevo", {})):
        pd.testing.assert_series_equal(bounce_classes(read_case(written, fmt, options)), truth,
                                       obj=fmt)


def test_timestamps_keep_the_format_precision(result, written):
    simulated = result.events["timestamp"]
    assert (simulated.dt.microsecond % 1000 == 0).all() and (simulated.dt.microsecond > 0).any()
    for fmt in FORMATS:
        events = read_case(written, fmt)
        fractional = (events["timestamp"].dt.microsecond > 0).any()
        assert fractional == (FIDELITY[fmt].timestamp_resolution == "ms"), fmt


def test_sending_ip_is_read_where_the_format_carries_it(result, written):
    delivered = result.events[events_of(result) == "delivered"]
    ips = sorted(delivered["sending_ip"].astype(str).unique())
    assert len(ips) > 1
    for fmt in ("sendgrid", "ses", "mailgun", "sparkpost", "mandrill", "brevo", "csv"):
        events = read_case(written, fmt)
        read = events[events["event"].astype(str) == "delivered"]["sending_ip"]
        assert read.notna().all(), fmt
        assert sorted(read.astype(str).unique()) == ips, fmt
    for fmt in ("postmark", "postfix"):
        assert read_case(written, fmt)["sending_ip"].isna().all(), fmt


# --------------------------------------------------------------------------------------------
# Wire shapes
# --------------------------------------------------------------------------------------------


def lines(path):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return handle.read().splitlines()


def test_wire_shapes(written):
    def first(fmt, options=None):
        for number, (name, case_options, _) in enumerate(CASES):
            if name == fmt and (options is None or case_options == options):
                return lines(written[number][0][0])
        raise KeyError(fmt)

    posts = [json.loads(line) for line in first("sendgrid", {"layout": "posts", "batch_size": 50})]
    assert all(isinstance(p, list) and 0 < len(p) <= 50 for p in posts)
    assert {"sg_event_id", "sg_message_id", "timestamp", "event"} <= set(posts[0][0])
    assert isinstance(posts[0][0]["timestamp"], int)

    firehose = [json.loads(line) for line in first("ses", {"transport": "firehose"})]
    delivery = next(r for r in firehose if r["eventType"] == "Delivery")
    assert isinstance(delivery["mail"]["tags"]["ses:outgoing-ip"], list)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", delivery["delivery"]["timestamp"])
    sns = json.loads(first("ses", {"transport": "sns"})[0])
    assert sns["Type"] == "Notification" and isinstance(sns["Message"], str)
    assert json.loads(sns["Message"])["eventType"] == "Send"
    eventbridge = json.loads(first("ses", {"transport": "eventbridge"})[0])
    assert eventbridge["source"] == "aws.ses" and eventbridge["detail-type"] == "Email Sent"

    mailgun = json.loads(first("mailgun")[0])
    assert set(mailgun) == {"signature", "event-data"}
    assert isinstance(mailgun["event-data"]["timestamp"], float)

    postmark = [json.loads(line) for line in first("postmark")]
    delivered = next(r for r in postmark if r["RecordType"] == "Delivery")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}-0[45]:00", delivered["DeliveredAt"])

    batch = json.loads(first("sparkpost")[0])
    assert all(set(element) == {"msys"} for element in batch)
    event = next(iter(batch[0]["msys"].values()))
    assert isinstance(event["timestamp"], str) and event["timestamp"].isdigit()

    form = first("mandrill", {"layout": "form"})
    assert all(line.startswith("mandrill_events=%5B") for line in form)

    brevo = json.loads(first("brevo", {})[0])
    assert isinstance(brevo["ts_epoch"], int) and brevo["ts_epoch"] > 10**12
    assert brevo["message-id"].startswith("<") and brevo["message-id"].endswith(">")

    maillog = first("postfix", {"syslog": "classic"})
    assert all(re.match(r"^Jun [ 1]\d \d\d:\d\d:\d\d out\d postfix(-\w+)?/\w+\[\d+\]: [0-9A-F]{11}: ", line)
               for line in maillog)

    rows = list(csv.reader(first("csv")))
    assert rows[0][:4] == ["timestamp", "event", "message_id", "event_id"]


def test_postfix_classic_needs_the_year(result, tmp_path):
    paths = write_logs(result, "postfix", tmp_path)
    events, meta = read_events(paths)
    # Without year= every delivery line is quarantined, naming the field: nothing is lost.
    assert len(events) == 0 and meta["quarantined"] > 0
    assert set(meta["quarantine"]["field"]) == {"year"}


# --------------------------------------------------------------------------------------------
# Calibration and truth
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def calibration(result, tmp_path_factory):
    return {path.name: path for path in write_calibration(result, tmp_path_factory.mktemp("cal"))}


def test_seed_tests_round_trip(result, calibration):
    table, meta = read_seed_tests(calibration["seed_tests.csv"])
    assert meta["quarantined"] == 0 and meta["rows"] == len(result.seed_tests) > 0
    for column in ("date", "mailbox_provider", "inbox", "spam", "missing", "seeds", "test_id",
                   "stream", "campaign"):
        assert table[column].astype(str).tolist() == result.seed_tests[column].astype(str).tolist(), column


@pytest.mark.parametrize("name", ["postmaster_traffic_stats.jsonl", "postmaster.csv"])
def test_postmaster_round_trip(result, calibration, name):
    table, meta = read_postmaster(calibration[name])
    truth = result.postmaster
    assert meta["quarantined"] == 0 and meta["rows"] == len(truth) > 0
    assert (table["date"].to_numpy() == truth["date"].to_numpy()).all()
    for column in ("spam_rate", "spam_rate_low", "spam_rate_high", "ip_count",
                   "ip_reputation_high", "ip_reputation_medium", "ip_reputation_low",
                   "ip_reputation_bad", "dkim_success_ratio"):
        np.testing.assert_array_equal(table[column].astype(float).to_numpy(),
                                      truth[column].astype(float).to_numpy(), err_msg=column)
    assert table["domain_reputation"].astype(str).tolist() == truth["domain_reputation"].astype(str).tolist()
    # The API leaves out error classes with no errors: NaN there, 0 in the simulation.
    for column in ("permanent_error_ratio", "temporary_error_ratio"):
        np.testing.assert_array_equal(table[column].astype(float).fillna(0.0).to_numpy(),
                                      truth[column].astype(float).to_numpy(), err_msg=column)
    if name.endswith(".csv"):
        assert table["inbox"].tolist() == truth["inbox"].tolist()


def test_snds_round_trip(result, calibration):
    table, meta = read_snds(calibration["snds.csv"])
    truth = result.snds
    assert meta["quarantined"] == 0 and meta["rows"] == len(truth) > 0
    assert (table["activity_start"] == truth["activity_start"]).all()
    # SNDS shows the window's last minute (11:59 PM), the simulator its exclusive end.
    assert (table["activity_end"] == truth["activity_end"] - pd.Timedelta(minutes=1)).all()
    for column in ("ip", "rcpt_commands", "data_commands", "message_recipients", "filter_result",
                   "complaint_rate_is_upper_bound", "trap_hits", "sample_helo"):
        assert table[column].astype(str).tolist() == truth[column].astype(str).tolist(), column
    # Shown with one decimal of a percent.
    np.testing.assert_allclose(table["complaint_rate"], truth["complaint_rate"], atol=0.0005)


def test_truth_tables_round_trip(result, tmp_path):
    paths = {p.name: p for p in write_truth(result, tmp_path, messages="parquet")}
    daily = pd.read_csv(paths["truth_daily.csv.gz"])
    assert len(daily) == len(result.truth)
    for column in ("messages", "delivered", "inbox", "spam", "missing", "complained"):
        assert daily[column].sum() == result.truth[column].sum(), column
    np.testing.assert_array_equal(daily["inbox_rate"], result.truth["inbox_rate"])
    assert daily["date"].iloc[0] == f"{result.truth['date'].iloc[0]:%Y-%m-%d}"
    reputation = pd.read_csv(paths["reputation_daily.csv.gz"])
    np.testing.assert_array_equal(reputation["reputation_score"], result.reputation["reputation_score"])
    messages = pd.read_parquet(paths["messages_truth.parquet"])
    assert messages["folder"].astype(str).tolist() == result.messages_truth["folder"].astype(str).tolist()
    assert (messages["send_time"] == result.messages_truth["send_time"]).all()


# --------------------------------------------------------------------------------------------
# Determinism and the directory writer
# --------------------------------------------------------------------------------------------


def hashes(directory):
    return {path.relative_to(directory).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(Path(directory).rglob("*")) if path.is_file()}


def test_same_seed_gives_byte_identical_files(tmp_path):
    arguments = dict(format="all", days=6, recipients=120, seed=11, scenario="warmup", start=START)
    first = simulate_to_directory(tmp_path / "a", **arguments)
    second = simulate_to_directory(tmp_path / "b", **arguments)
    a, b = hashes(tmp_path / "a"), hashes(tmp_path / "b")
    assert len(a) == 9 + 4 + 3 + 1  # logs, calibration, truth, simulation.json
    assert a == b
    # gzip members carry mtime 0, the reason the bytes repeat.
    gz = first.logs["sendgrid"][0]
    assert gz.read_bytes()[4:8] == b"\x00\x00\x00\x00"
    other = simulate_to_directory(tmp_path / "c", **{**arguments, "seed": 12})
    assert hashes(tmp_path / "c")["logs/sendgrid/sendgrid_events.jsonl.gz"] != \
        a["logs/sendgrid/sendgrid_events.jsonl.gz"]
    assert second.result.events.equals(first.result.events)
    assert other.result.parameters["recipients"] == 120


def test_simulate_to_directory_layout_and_parameters(tmp_path):
    written = simulate_to_directory(tmp_path, format="sendgrid,postfix", days=5, recipients=80,
                                    seed=3, scenario="baseline", start=START)
    assert sorted(written.logs) == ["postfix", "sendgrid"]
    assert [p.relative_to(tmp_path).as_posix() for p in written.calibration] == [
        "calibration/seed_tests.csv", "calibration/postmaster_traffic_stats.jsonl",
        "calibration/postmaster.csv", "calibration/snds.csv"]
    document = json.loads(written.parameters.read_text())
    assert document["arguments"] == {
        "format": ["sendgrid", "postfix"], "days": 5, "recipients": 80, "seed": 3,
        "scenario": "baseline", "start": START, "compress": "gz", "truth_messages": "parquet",
        "format_options": {"sendgrid": {"layout": "jsonl"}, "postfix": {"syslog": "classic"}}}
    assert document["counts"]["events"] == len(written.result.events)
    listed = {f["path"]: f["sha256"] for f in document["files"]}
    assert listed == {k: v for k, v in hashes(tmp_path).items() if k != "simulation.json"}
    # The recorded reader options read the maillog back.
    options = document["read_with"]["postfix"]
    events, meta = read_events(written.logs["postfix"], **options)
    assert len(events) > 0 and meta["quarantined"] == 0


def test_parse_formats():
    assert parse_formats("sendgrid, ses,sendgrid") == ["sendgrid", "ses"]
    assert parse_formats(["postfix"]) == ["postfix"]
    assert parse_formats("all") == list(FORMATS)
    with pytest.raises(ValueError, match="unknown format 'sendgird'"):
        parse_formats("sendgrid,sendgird")


def test_writer_options_are_checked(result, tmp_path):
    with pytest.raises(ValueError, match="unknown format"):
        write_logs(result, "sendmail", tmp_path)
    with pytest.raises(ValueError, match="layout"):
        write_logs(result, "sendgrid", tmp_path, layout="xml")
    with pytest.raises(ValueError, match="compress"):
        write_logs(result, "csv", tmp_path, compress="zip")
