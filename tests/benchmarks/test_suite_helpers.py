"""The performance suite's helpers (benchmarks/_suite_lib.py) on made-up numbers.

pytest does not collect ``benchmarks/``, so the module is loaded from its file path.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "_suite_lib.py"
_spec = importlib.util.spec_from_file_location("benchmarks_suite_lib", _PATH)
lib = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = lib  # dataclasses look their module up while the class is built
_spec.loader.exec_module(lib)


def test_markdown_table_aligns_escapes_and_checks_widths():
    table = lib.markdown_table(
        ["path", "wall [s]"], [["ours | fast", "1.50"], ["pandas", None], ["duckdb", float("nan")]],
        numeric=[False, True])
    assert table == (
        "| path | wall [s] |\n"
        "|---|---:|\n"
        "| ours \\| fast | 1.50 |\n"
        "| pandas |  |\n"
        "| duckdb | n/a |\n"
    )
    with pytest.raises(ValueError, match="row 0 has 1 cells"):
        lib.markdown_table(["a", "b"], [["only one"]])


def test_speed_ratio_is_peer_over_ours():
    # pandas took 12 s, ours 3 s: ours is 12 / 3 = 4 times faster.
    assert lib.speed_ratio(3.0, 12.0) == pytest.approx(4.0)
    assert lib.fmt_ratio(lib.speed_ratio(3.0, 12.0)) == "4.00x"
    assert lib.fmt_ratio(lib.speed_ratio(2.0, 50.0)) == "25x"
    assert math.isnan(lib.speed_ratio(None, 12.0))
    assert lib.fmt_ratio(lib.speed_ratio(0.0, 12.0)) == ""


def test_linear_fit_recovers_a_line():
    # t = 2 s + 3 s per million events at 1, 4 and 16 million: 5, 14 and 50 s.
    sizes = [1e6, 4e6, 16e6]
    fit = lib.linear_fit(sizes, [5.0, 14.0, 50.0])
    assert fit.intercept == pytest.approx(2.0)
    assert fit.slope * 1e6 == pytest.approx(3.0)
    assert fit.r_squared == pytest.approx(1.0)
    assert fit.growth == pytest.approx(10.0)  # 50 / 5, below 16 because of the fixed 2 s
    assert fit.size_growth == pytest.approx(16.0)
    # exponents: 1M -> 4M log(14/5) / log(4) = 0.743, 4M -> 16M log(50/14) / log(4) = 0.918
    assert fit.max_exponent == pytest.approx(math.log(50 / 14) / math.log(4))
    assert fit.linear


def test_linear_fit_rejects_quadratic_growth():
    # t = n^2 (n in millions): 1, 16, 256 s. The last exponent is exactly 2.
    fit = lib.linear_fit([1e6, 4e6, 16e6], [1.0, 16.0, 256.0])
    assert fit.max_exponent == pytest.approx(2.0)
    assert fit.growth == pytest.approx(256.0)
    assert not fit.linear


def test_linear_fit_tolerates_noise_but_not_a_superlinear_step():
    # 10 % noise on 5, 14, 50 s: exponents log(12.6/5.5)/log(4) = 0.60 and log(52/12.6)/log(4)
    # = 1.02, R^2 above 0.99: linear.
    noisy = lib.linear_fit([1e6, 4e6, 16e6], [5.5, 12.6, 52.0])
    assert noisy.linear and noisy.max_exponent == pytest.approx(math.log(52 / 12.6) / math.log(4))
    # The real local-ingest CPU times of one run (13.56, 45.95, 205.16 s): the smallest point
    # sits 21 % off the line, the steps grow as n^0.88 and n^1.08: linear.
    assert lib.linear_fit([1e6, 4e6, 16e6], [13.56, 45.95, 205.16]).linear
    # A step of 4x the events costing 8x the time (exponent 1.5): not linear.
    assert not lib.linear_fit([1e6, 4e6, 16e6], [5.0, 14.0, 112.0]).linear
    with pytest.raises(ValueError, match="two distinct sizes"):
        lib.linear_fit([1e6, 1e6], [1.0, 2.0])


def test_memory_flatness():
    # A streaming path: 600 -> 640 MiB while the input grows 16x.
    flat = lib.memory_flatness([1e6, 4e6, 16e6], [600.0, 610.0, 640.0])
    assert flat.flat
    assert flat.growth == pytest.approx(640 / 600)
    # Memory proportional to the input: 600 MiB per million events.
    growing = lib.memory_flatness([1e6, 4e6, 16e6], [600.0, 2400.0, 9600.0])
    assert not growing.flat
    assert growing.slope_per_unit * 1e6 == pytest.approx(600.0)
    assert growing.size_growth == pytest.approx(16.0)


def test_csv_round_trip(tmp_path):
    rows = [{"section": "scaling", "item": "1M", "path": "local: streaming ingest", "kind": "ours",
             "records": 1_000_000, "wall_s": 25.5, "cpu_s": 20.25, "peak_mib": 640.0,
             "load_before": 2.1, "load_after": 2.4, "status": "ok", "notes": "a, b",
             "started": "2026-11-28 17:00 UTC", "mode": "full", "ignored": "x"},
            {"section": "scaling", "item": "16M", "path": "dask: ingest", "kind": "dask",
             "records": None, "status": "skipped: no engine"}]
    lib.write_csv(rows, tmp_path / "suite.csv")
    back = lib.read_csv(tmp_path / "suite.csv")
    assert back[0]["wall_s"] == 25.5 and back[0]["records"] == 1_000_000.0
    assert back[0]["notes"] == "a, b" and "ignored" not in back[0]
    assert back[1]["wall_s"] is None and back[1]["status"] == "skipped: no engine"
    assert list(back[0]) == list(lib.CSV_FIELDS)
