"""The committed sample sender (data/sample_sender/): it reads cleanly in every format, the
formats agree with each other and with the truth, the calibration files read, the scenario TOML
describes what was simulated, and data/regenerate.py reproduces the files byte for byte."""

import hashlib
import importlib.util
import json
import tomllib
from pathlib import Path

import pandas as pd
import pytest

from deliverability_econ import messages, read_events
from deliverability_econ.io import check_reconciliation
from deliverability_econ.io.postmaster import read_postmaster
from deliverability_econ.io.seedtests import read_seed_tests
from deliverability_econ.io.snds import read_snds

DATA = Path(__file__).resolve().parent.parent / "data"
SAMPLE = DATA / "sample_sender"
FORMATS = ("sendgrid", "ses", "mailgun", "postmark", "sparkpost")
#: Formats that carry Apple MPP opens as machine opens (SendGrid sg_machine_open, Mailgun
#: client-info.bot); in the others every open reads as human.
MPP_FLAGGED = ("sendgrid", "mailgun")
RESOLVED = ("delivered", "bounced_hard", "bounced_soft", "blocked")


@pytest.fixture(scope="module")
def simulation():
    return json.loads((SAMPLE / "simulation.json").read_text())


@pytest.fixture(scope="module")
def read_back():
    """{format: (events, meta, messages)} of each committed log."""
    out = {}
    for fmt in FORMATS:
        events, meta = read_events(SAMPLE / "logs" / fmt)
        out[fmt] = (events, meta, messages(events))
    return out


def provider_rates(table: pd.DataFrame) -> pd.DataFrame:
    """Per provider, over messages with a final verdict (delivered or bounced): delivery and
    bounce rates [fraction of resolved messages], complaint, human-open and any-open rates
    [fraction of delivered messages]."""
    resolved = table[table["final_status"].astype(str).isin(RESOLVED)]
    delivered = resolved[resolved["delivered"]]
    by = resolved.groupby("mailbox_provider", observed=True)
    by_delivered = delivered.groupby("mailbox_provider", observed=True)
    return pd.DataFrame({
        "messages": by.size(),
        "delivery_rate": by["delivered"].mean(),
        "bounce_rate": 1.0 - by["delivered"].mean(),
        "complaint_rate": by_delivered["complained"].mean(),
        "human_open_rate": by_delivered["opened_human"].mean(),
        "any_open_rate": (delivered["opened_human"] | delivered["opened_machine"])
        .groupby(delivered["mailbox_provider"], observed=True).mean(),
    })


def test_the_sample_is_small_and_intact(simulation):
    total = sum(p.stat().st_size for p in DATA.rglob("*") if p.is_file())
    assert total < 5_000_000
    listed = {entry["path"]: entry["sha256"] for entry in simulation["files"]}
    on_disk = {p.relative_to(SAMPLE).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
               for p in SAMPLE.rglob("*") if p.is_file() and p.name != "simulation.json"}
    assert listed == on_disk
    assert set(simulation["arguments"]["format"]) == set(FORMATS)
    # The whole period is in the past (readers quarantine future events).
    assert pd.Timestamp(simulation["period"]["end"]) < pd.Timestamp("2026-11-28", tz="UTC")


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_log_reads_cleanly(read_back, simulation, fmt):
    events, meta, _ = read_back[fmt]
    assert meta["format"] == fmt
    assert check_reconciliation(meta)
    assert meta["quarantined"] == 0 and meta["duplicates"] == 0
    expected = simulation["counts"]["events"]
    if fmt == "postmark":  # no processed webhook, no webhook for a suppressed send
        by_type = simulation["counts"]["events_by_type"]
        expected -= by_type["processed"] + by_type["dropped"]
    assert len(events) == expected


def test_rates_agree_across_formats(read_back):
    rates = {fmt: provider_rates(read_back[fmt][2]) for fmt in FORMATS}
    reference = rates["sendgrid"]
    assert len(reference) >= 6 and reference["messages"].sum() > 2500
    for fmt in FORMATS:
        for column in ("messages", "delivery_rate", "bounce_rate", "complaint_rate", "any_open_rate"):
            pd.testing.assert_series_equal(rates[fmt][column], reference[column], obj=f"{fmt} {column}")
    # Human opens: equal where the format flags MPP opens; elsewhere they are all opens.
    pd.testing.assert_series_equal(rates["mailgun"]["human_open_rate"], reference["human_open_rate"])
    for fmt in ("ses", "postmark", "sparkpost"):
        pd.testing.assert_series_equal(rates[fmt]["human_open_rate"], reference["any_open_rate"],
                                       check_names=False, obj=fmt)
    # MPP matters: Apple's human-open rate is a small part of its any-open rate.
    apple = reference.loc["apple"]
    assert apple["human_open_rate"] < 0.2 < 0.8 < apple["any_open_rate"]


def test_logs_agree_with_the_truth(read_back):
    truth = pd.read_csv(SAMPLE / "truth" / "truth_daily.csv.gz")
    true_delivered = truth.groupby("mailbox_provider")["delivered"].sum()
    read = read_back["sendgrid"][2]
    logged = read[read["delivered"]].groupby("mailbox_provider", observed=True).size()
    # Deliveries after the last simulated day are not in the export: the logs hold a little less.
    gap = (true_delivered - logged.reindex(true_delivered.index, fill_value=0))
    assert (gap >= 0).all() and gap.sum() <= 0.01 * true_delivered.sum()
    per_message = pd.read_parquet(SAMPLE / "truth" / "messages_truth.parquet")
    assert len(per_message) == truth["messages"].sum()


def test_calibration_samples_read():
    seeds, meta = read_seed_tests(SAMPLE / "calibration" / "seed_tests.csv")
    assert meta["quarantined"] == 0 and len(seeds) > 50
    api, meta_api = read_postmaster(SAMPLE / "calibration" / "postmaster_traffic_stats.jsonl")
    flat, meta_csv = read_postmaster(SAMPLE / "calibration" / "postmaster.csv")
    assert meta_api["quarantined"] == meta_csv["quarantined"] == 0 and len(api) > 5
    pd.testing.assert_series_equal(api["spam_rate"], flat["spam_rate"])
    snds, meta = read_snds(SAMPLE / "calibration" / "snds.csv")
    assert meta["quarantined"] == 0 and len(snds) > 0
    assert set(snds["ip"]) == {"203.0.113.10"}  # the dedicated IP only: SNDS is for IPs you own


def test_the_scenario_toml_describes_the_simulation(simulation):
    with open(DATA / "sample_sender.toml", "rb") as handle:
        settings = tomllib.load(handle)
    arguments = simulation["arguments"]
    run = settings["simulation"]
    assert (run["scenario"], run["days"], run["recipients"], run["seed"], str(run["start"]),
            run["formats"]) == (arguments["scenario"], arguments["days"], arguments["recipients"],
                                arguments["seed"], arguments["start"], arguments["format"])
    config = simulation["config"]
    assert config["sender_domain"] == settings["sender"]["domain"]
    assert config["audience"]["provider_mix"] == settings["audience"]["provider_mix"]
    assert abs(sum(settings["audience"]["provider_mix"].values()) - 1.0) < 1e-9
    for name in ("apple_mail_share", "marketing_opt_in_share", "new_signup_share"):
        assert config["audience"][name] == settings["audience"][name], name
    assert len(settings["streams"]) == len(config["streams"])
    for described, used in zip(settings["streams"], config["streams"], strict=True):
        for key, value in described.items():
            assert used[key] == value, (described["name"], key)
    infrastructure = config["infrastructure"]
    assert infrastructure["default_pool"] == settings["infrastructure"]["default_pool"]
    for described, used in zip(settings["infrastructure"]["ips"], infrastructure["ips"], strict=True):
        assert used == {"warm": True, **described}
    for described, used in zip(settings["infrastructure"]["migrations"], infrastructure["migrations"],
                               strict=True):
        assert {key: used[key] for key in described} == described
    calibration = settings["calibration"]
    assert config["seed_list"]["every_days"] == calibration["seed_list_every_days"]
    assert config["postmaster_min_daily_recipients"] == calibration["postmaster_min_daily_recipients"]
    assert config["snds_min_daily_messages"] == calibration["snds_min_daily_messages"]


def test_regenerate_reproduces_the_committed_files(tmp_path, simulation):
    spec = importlib.util.spec_from_file_location("regenerate", DATA / "regenerate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    written = module.regenerate(tmp_path / "sample_sender")
    fresh = {p.relative_to(written.directory).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in written.files()[:-1]}
    committed = {entry["path"]: entry["sha256"] for entry in simulation["files"]}
    assert fresh == committed, "the sample is stale: run .venv/bin/python data/regenerate.py"
    document = json.loads(written.parameters.read_text())
    assert {k: v for k, v in document.items() if k != "generator"} == \
        {k: v for k, v in simulation.items() if k != "generator"}
