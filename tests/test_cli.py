"""The ``deliverability-econ`` command line.

Expected numbers come from ``tests/data/sendgrid/ingest_two_days.jsonl`` (see
``tests/io/test_ingest.py`` for its hand count). Per mailbox provider, from its six messages:

==========  ========  =========  =======  ======================  =======================
provider    messages  delivered  bounced  complaints / delivered  human opens / delivered
==========  ========  =========  =======  ======================  =======================
gmail       2 (M1,M5) 1: 50 %    0: 0 %   0 of 1: 0 %             M1: 1 of 1: 100 %
yahoo       2 (M2,M6) 1: 50 %    M2: 50 % 0 of 1: 0 %             M6: 1 of 1: 100 %
apple       1 (M3)    100 %      0 %      0 %                     0 % (MPP open is a machine)
microsoft   1 (M4)    100 %      0 %      M4: 100 %               0 %
==========  ========  =========  =======  ======================  =======================
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from deliverability_econ import read_events
from deliverability_econ.cli import main, provider_summary
from deliverability_econ.io.ingest import read_dataset

NOW_SAFE_FIXTURE = "ingest_two_days.jsonl"


@pytest.fixture
def two_days(data_dir):
    return data_dir / "sendgrid" / NOW_SAFE_FIXTURE


def _one_line_error(captured) -> str:
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    assert lines[0].startswith("deliverability-econ: error: ")
    return lines[0]


def test_ingest_writes_the_dataset_and_prints_a_summary_table(tmp_path, two_days, capsys):
    status = main(["ingest", str(two_days), "-o", str(tmp_path / "ds"), "--no-progress"])

    out = capsys.readouterr().out
    assert status == 0
    header, rule, sendgrid_row, total_row = out.splitlines()[1:5]
    assert header.split() == ["format", "files", "records", "new", "events", "duplicates",
                              "quarantined", "ignored"]
    assert set(rule) <= {"-", " "}
    assert sendgrid_row.split() == ["sendgrid", "1", "22", "18", "1", "2", "1"]
    assert total_row.split() == ["total", "1", "22", "18", "1", "2", "1"]
    assert "2 day partition(s)" in out
    assert "ignored: 1 resubscribe" in out
    assert "_quarantine" in out
    assert len(read_dataset(tmp_path / "ds")) == 18


def test_ingest_twice_reports_duplicates(tmp_path, two_days, capsys):
    main(["ingest", str(two_days), "-o", str(tmp_path / "ds"), "--no-progress"])
    capsys.readouterr()

    status = main(["ingest", str(two_days), "-o", str(tmp_path / "ds"), "--no-progress"])

    total_row = [line for line in capsys.readouterr().out.splitlines() if line.startswith("total")]
    assert status == 0
    assert total_row[0].split() == ["total", "1", "22", "0", "19", "2", "1"]


def test_ingest_options_reach_the_reader(tmp_path, two_days, capsys):
    status = main(["ingest", str(two_days), "-o", str(tmp_path / "ds"), "--no-progress",
                   "--no-pseudonymize", "--format", "sendgrid", "--salt", "unused"])

    assert status == 0
    recipients = set(read_dataset(tmp_path / "ds", columns=["recipient"])["recipient"])
    assert "alice@gmail.com" in recipients


def test_salt_changes_the_pseudonyms(tmp_path, two_days, capsys):
    main(["ingest", str(two_days), "-o", str(tmp_path / "a"), "--no-progress", "--salt", "one"])
    main(["ingest", str(two_days), "-o", str(tmp_path / "b"), "--no-progress", "--salt", "two"])

    a = set(read_dataset(tmp_path / "a", columns=["recipient"])["recipient"])
    b = set(read_dataset(tmp_path / "b", columns=["recipient"])["recipient"])
    assert len(a) == len(b) == 6 and not a & b


def test_bad_record_with_errors_raise_is_one_line_and_status_2(tmp_path, two_days, capsys):
    status = main(["ingest", str(two_days), "-o", str(tmp_path / "ds"), "--no-progress",
                   "--errors", "raise"])

    line = _one_line_error(capsys.readouterr())
    assert status == 2
    assert str(two_days) in line
    # The first error met: line 21 (no email) is rejected by the normalizer while reading;
    # line 20's timestamp only when its chunk is checked.
    assert "line 21" in line and "'email'" in line
    assert not (tmp_path / "ds").exists()


@pytest.mark.parametrize(
    "arguments, expected",
    [
        (["ingest", "missing.jsonl", "-o", "OUT"], "missing.jsonl: no such file"),
        (["ingest", "DATA", "-o", "OUT", "--format", "nope"], "unknown format 'nope'"),
        (["ingest", "DATA"], "required: -o/--out"),
        (["ingest", "DATA", "-o", "OUT", "--errors", "ignore"], "invalid choice: 'ignore'"),
        (["nope"], "invalid choice: 'nope'"),
        ([], "required: COMMAND"),
        (["demo", "no/such/dir"], "no/such/dir: no such directory"),
    ],
)
def test_usage_and_input_errors_are_one_line_with_status_2(tmp_path, two_days, capsys,
                                                           arguments, expected):
    arguments = [str(two_days) if a == "DATA" else str(tmp_path / "out") if a == "OUT" else a
                 for a in arguments]
    status = main(arguments)

    line = _one_line_error(capsys.readouterr())
    assert status == 2
    assert expected in line


def test_a_file_of_unknown_format_is_one_line_with_status_2(tmp_path, capsys):
    unknown = tmp_path / "notes.txt"
    unknown.write_text("lunch at noon\nthen the quarterly review\n")

    status = main(["ingest", str(unknown), "-o", str(tmp_path / "ds"), "--no-progress"])

    line = _one_line_error(capsys.readouterr())
    assert status == 2
    assert str(unknown) in line and "cannot tell the format" in line


def test_provider_summary_matches_the_hand_count(two_days):
    events, _ = read_events(two_days, now=1.8e9)

    summary = provider_summary(events)

    assert summary["messages"].to_dict() == {"gmail": 2, "yahoo": 2, "apple": 1, "microsoft": 1}
    assert summary["delivery_rate"].to_dict() == {"gmail": 0.5, "yahoo": 0.5, "apple": 1.0,
                                                  "microsoft": 1.0}
    assert summary["bounce_rate"].to_dict() == {"gmail": 0.0, "yahoo": 0.5, "apple": 0.0,
                                                "microsoft": 0.0}
    assert summary["complaint_rate"].to_dict() == {"gmail": 0.0, "yahoo": 0.0, "apple": 0.0,
                                                   "microsoft": 1.0}
    assert summary["human_open_rate"].to_dict() == {"gmail": 1.0, "yahoo": 1.0, "apple": 0.0,
                                                    "microsoft": 0.0}


def test_demo_prints_the_provider_table(tmp_path, two_days, capsys):
    shutil.copy(two_days, tmp_path / NOW_SAFE_FIXTURE)

    status = main(["demo", str(tmp_path)])

    out = capsys.readouterr().out
    assert status == 0
    assert "22 records, 18 events, 1 duplicates, 2 quarantined" in out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[3:]}
    assert rows["gmail"] == ["2", "50.00", "%", "0.00", "%", "0.00", "%", "100.00", "%"]
    assert rows["microsoft"] == ["1", "100.00", "%", "0.00", "%", "100.00", "%", "0.00", "%"]


def test_demo_without_sample_data_says_where_it_looked(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("deliverability_econ.cli.__file__", str(tmp_path / "pkg" / "cli.py"))

    status = main(["demo"])

    assert status == 2
    assert "no sample exports found" in _one_line_error(capsys.readouterr())


def test_console_script_runs_as_installed(tmp_path, two_days):
    script = Path(sys.executable).with_name("deliverability-econ")
    if not script.exists():
        pytest.skip("console script not installed in this environment")
    completed = subprocess.run(
        [str(script), "ingest", str(two_days), "-o", str(tmp_path / "ds")],
        capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL,
        env={**os.environ, "DELIVERABILITY_ECON_SALT": "test-salt"},
    )
    assert completed.returncode == 0, completed.stderr
    assert "total" in completed.stdout
    assert completed.stderr == ""  # no progress bar when not on a terminal

    failed = subprocess.run([str(script), "ingest", str(tmp_path / "missing.json"), "-o",
                             str(tmp_path / "x")], capture_output=True, text=True, check=False)
    assert failed.returncode == 2
    assert failed.stderr.count("\n") == 1 and "Traceback" not in failed.stderr


def test_simulate_writes_logs_that_read_back(tmp_path, capsys):
    out = tmp_path / "sim"

    status = main(["simulate", "--format", "sendgrid,ses", "--days", "5", "--recipients", "200",
                   "--seed", "3", "--start", "2026-03-02", "-o", str(out)])

    assert status == 0
    assert "written to" in capsys.readouterr().out
    sendgrid, meta_sendgrid = read_events(out / "logs" / "sendgrid")
    ses, meta_ses = read_events(out / "logs" / "ses")
    assert meta_sendgrid["format"] == "sendgrid" and meta_ses["format"] == "ses"
    assert meta_sendgrid["quarantined"] == meta_ses["quarantined"] == 0
    # The same simulated sender in both formats: the same number of delivered messages.
    delivered = [(e["event"] == "delivered").sum() for e in (sendgrid, ses)]
    assert delivered[0] == delivered[1] > 0


def test_simulate_is_reproducible_and_rejects_unknown_scenarios(tmp_path, capsys):
    args = ["simulate", "--days", "3", "--recipients", "100", "--seed", "5",
            "--start", "2026-03-02"]
    assert main(args + ["-o", str(tmp_path / "a")]) == 0
    assert main(args + ["-o", str(tmp_path / "b")]) == 0
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    for relative in files_a:
        assert (tmp_path / "a" / relative).read_bytes() == (tmp_path / "b" / relative).read_bytes()
    capsys.readouterr()
    assert main(args + ["--scenario", "no_such_scenario", "-o", str(tmp_path / "c")]) == 2
    assert "no_such_scenario" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# report and demo: the authentication evidence reaches the report
# --------------------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def captured_report(monkeypatch, tmp_path):
    """``generate_report`` replaced by a recorder: what the command line hands the report."""
    calls = []

    def generate_report(logs, **keywords):
        calls.append({"logs": logs, **keywords})
        return {"html": tmp_path / "report.html"}

    monkeypatch.setattr("deliverability_econ.report.generate_report", generate_report)
    return calls


def test_report_passes_dmarc_reports_and_dns_records(tmp_path, two_days, data_dir, capsys,
                                                     captured_report):
    reports, hostile = data_dir / "dmarc" / "reports", data_dir / "dmarc" / "hostile"
    zone = data_dir / "dns" / "example_com.zone"

    status = main(["report", str(two_days), "--dmarc", str(reports), "--dmarc", str(hostile),
                   "--dns", str(zone), "--out", str(tmp_path / "out")])

    assert status == 0
    (call,) = captured_report
    assert call["dmarc"] == [str(reports), str(hostile)]
    assert call["dns_records"] == zone
    # What the report reads them with takes them as given.
    from deliverability_econ import check_dns, read_dmarc_aggregate

    records, meta = read_dmarc_aggregate(call["dmarc"])
    assert len(records) > 0 and meta["quarantined"] == 2  # the two hostile documents
    assert not check_dns(call["dns_records"]).findings.empty


def test_report_without_evidence_passes_none(tmp_path, two_days, captured_report):
    assert main(["report", str(two_days), "--out", str(tmp_path / "out")]) == 0
    assert captured_report[0]["dmarc"] is None and captured_report[0]["dns_records"] is None


@pytest.mark.parametrize("option, expected", [("--dmarc", "--dmarc {}: no such file or directory"),
                                              ("--dns", "--dns {}: no such file")])
def test_a_missing_evidence_path_is_one_line_with_status_2(tmp_path, two_days, capsys,
                                                           captured_report, option, expected):
    missing = tmp_path / "nowhere"

    status = main(["report", str(two_days), option, str(missing), "--out", str(tmp_path / "o")])

    assert status == 2
    assert expected.format(missing) in _one_line_error(capsys.readouterr())
    assert captured_report == []


def test_report_help_names_the_evidence_options(capsys):
    with pytest.raises(SystemExit):
        main(["report", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--dmarc PATH" in text and "--dns FILE" in text and "maturity" in text


def test_demo_reports_with_the_sample_s_dmarc_reports_and_dns_records(tmp_path, capsys,
                                                                      captured_report):
    """The demo finds the evidence where data/ keeps it: calibration/dmarc/ in the sample
    sender's folder, sample_dns.zone next to it (a copy of the layout, one log file)."""
    sample = ROOT / "data" / "sample_sender"
    copy = tmp_path / "data" / "sample_sender"
    shutil.copytree(sample / "logs" / "sendgrid", copy / "logs" / "sendgrid")
    shutil.copytree(sample / "calibration", copy / "calibration")
    shutil.copy(ROOT / "data" / "sample_dns.zone", copy.parent)

    status = main(["demo", str(copy), "--out", str(tmp_path / "out")])

    assert status == 0
    (call,) = captured_report
    assert call["dmarc"] == copy / "calibration" / "dmarc"
    assert call["dns_records"] == copy.parent / "sample_dns.zone"
    assert call["seed_tests"] == copy / "calibration" / "seed_tests.csv"


def test_demo_without_evidence_files_reports_without_them(tmp_path, capsys, captured_report):
    copy = tmp_path / "sample_sender"
    shutil.copytree(ROOT / "data" / "sample_sender" / "logs" / "sendgrid",
                    copy / "logs" / "sendgrid")

    assert main(["demo", str(copy), "--out", str(tmp_path / "out")]) == 0
    assert captured_report[0]["dmarc"] is None and captured_report[0]["dns_records"] is None
