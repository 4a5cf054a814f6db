"""Helpers of the performance suite (``benchmarks/run_suite.py``) that need no heavy import.

Kept apart so that a test can load them by file path (pytest does not collect ``benchmarks/``):
the Markdown and CSV writers, the speed ratios, the linear fit of time against size and the
flatness check of peak memory, and a description of the machine and library versions.
"""

from __future__ import annotations

import csv
import math
import os
import platform
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

#: Columns of ``suite.csv``, one row per measured path. Times in seconds, memory in MiB,
#: load averages over one minute (runnable processes; compare with the number of cores).
CSV_FIELDS: tuple[str, ...] = (
    "section",  # ingest | aggregate | placement | monte_carlo | scaling
    "item",  # the format, the size or the task measured
    "path",  # the row's label, e.g. "pandas: read_json + groupby"
    "kind",  # ours | pandas | duckdb | dask | proxy
    "records",  # records or events processed [records]
    "wall_s",  # wall-clock seconds of the measured section [s]
    "cpu_s",  # CPU seconds of every thread (and Dask worker) in that section [s]
    "peak_mib",  # peak resident memory [MiB]
    "load_before",  # 1-minute load average before the child started
    "load_after",  # 1-minute load average after it ended
    "status",  # ok | failed: ... | skipped: ...
    "notes",  # stage times, row counts, how memory was measured
    "started",  # when the row's child started (UTC)
    "mode",  # quick | full
)


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------


def _cell(value: object) -> str:
    """A Markdown table cell: pipes escaped, newlines folded, None as an empty cell."""
    if value is None:
        return ""
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(headers: Sequence[str], rows: Iterable[Sequence[object]],
                   numeric: Sequence[bool] | None = None) -> str:
    """Render rows as a GitHub-flavoured Markdown table.

    Parameters
    ----------
    headers : sequence of str
        Column titles.
    rows : iterable of sequences
        Cell values, already formatted (``None`` gives an empty cell, NaN ``n/a``).
    numeric : sequence of bool, optional
        Right-align these columns [one flag per column]; default: left-align all.

    Returns
    -------
    str
        The table, one line per row, ending with a newline.
    """
    numeric = list(numeric) if numeric is not None else [False] * len(headers)
    if len(numeric) != len(headers):
        raise ValueError(f"{len(numeric)} alignment flags for {len(headers)} columns")
    lines = ["| " + " | ".join(_cell(h) for h in headers) + " |",
             "|" + "|".join("---:" if right else "---" for right in numeric) + "|"]
    for index, row in enumerate(rows):
        row = list(row)
        if len(row) != len(headers):
            raise ValueError(f"row {index} has {len(row)} cells for {len(headers)} columns")
        lines.append("| " + " | ".join(_cell(value) for value in row) + " |")
    return "\n".join(lines) + "\n"


def fmt_number(value: float | None, digits: int = 2) -> str:
    """``1,234.57`` style, or an empty string for a missing value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:,.{digits}f}"


def fmt_ratio(value: float | None) -> str:
    """A speed ratio as ``3.2x`` (two significant figures below 10), empty when missing."""
    if value is None or (isinstance(value, float) and (math.isnan(value) or math.isinf(value))):
        return ""
    return f"{value:.2f}x" if value < 10 else f"{value:,.0f}x"


def speed_ratio(ours_seconds: float | None, peer_seconds: float | None) -> float:
    """How many times faster ours is than the peer: ``peer_seconds / ours_seconds``.

    Above 1 ours is faster, below 1 the peer is; NaN when either time is missing or not
    positive.
    """
    if not ours_seconds or not peer_seconds or ours_seconds <= 0 or peer_seconds <= 0:
        return float("nan")
    return float(peer_seconds) / float(ours_seconds)


def write_csv(rows: Iterable[Mapping[str, object]], path: str | os.PathLike) -> None:
    """Write measurement rows to ``path`` with the columns :data:`CSV_FIELDS` (others dropped)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(CSV_FIELDS), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({name: "" if row.get(name) is None else row.get(name)
                             for name in CSV_FIELDS})


def read_csv(path: str | os.PathLike) -> list[dict[str, object]]:
    """Read rows written by :func:`write_csv`; numeric columns back as float (None if empty)."""
    numeric = {"records", "wall_s", "cpu_s", "peak_mib", "load_before", "load_after"}
    with open(path, newline="", encoding="utf-8") as handle:
        rows = []
        for raw in csv.DictReader(handle):
            rows.append({name: (float(value) if value not in ("", None) else None)
                         if name in numeric else value for name, value in raw.items()})
        return rows


# --------------------------------------------------------------------------------------------
# Scaling checks
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LinearFit:
    """Least-squares fit ``seconds = intercept + slope * size`` and how well it holds.

    Attributes
    ----------
    intercept : float
        ``a`` [s]: the fixed cost.
    slope : float
        ``b`` [s per unit of size], e.g. per event.
    r_squared : float
        Share of the variance of the times the line explains [fraction 0-1].
    max_relative_residual : float
        Largest ``|t - (a + b n)| / t`` over the points [fraction].
    growth : float
        ``t(largest) / t(smallest)``.
    size_growth : float
        ``n(largest) / n(smallest)``: what ``growth`` would be for a line through the origin.
    max_exponent : float
        Largest ``log(t_k / t_{k-1}) / log(n_k / n_{k-1})`` over consecutive sizes: 1 for a
        line through the origin, below 1 while a fixed cost weighs, 2 for quadratic growth.
    linear : bool
        Verdict: ``r_squared >= 0.98``, a positive slope, and no step between consecutive
        sizes grows faster than ``n ** (1 + tolerance)`` (see :func:`linear_fit`).
    """

    intercept: float
    slope: float
    r_squared: float
    max_relative_residual: float
    growth: float
    size_growth: float
    max_exponent: float
    linear: bool


def linear_fit(sizes: Sequence[float], seconds: Sequence[float],
               tolerance: float = 0.2) -> LinearFit:
    """Fit ``seconds = a + b * size`` and judge whether time grows linearly.

    Parameters
    ----------
    sizes : sequence of float
        Problem sizes, e.g. events [events]; at least two distinct values.
    seconds : sequence of float
        Measured times [s], positive, one per size.
    tolerance : float
        Allowed excess of the growth exponent between consecutive sizes over 1 [fraction].
        Wall times on a shared machine swing by 10-20 %, hence the default 0.2. (Relative
        residuals are reported, not judged: a least-squares line through sizes 1, 4 and 16 is
        set by the largest points and leaves the smallest one a large relative residual
        even for a straight line with noise.)

    Returns
    -------
    LinearFit
    """
    if len(sizes) != len(seconds):
        raise ValueError(f"{len(sizes)} sizes for {len(seconds)} times")
    points = sorted(zip((float(n) for n in sizes), (float(t) for t in seconds), strict=True))
    if len(points) < 2 or points[0][0] == points[-1][0]:
        raise ValueError("need at least two distinct sizes")
    if any(t <= 0 for _, t in points):
        raise ValueError("times must be positive")
    n = [p[0] for p in points]
    t = [p[1] for p in points]
    n_mean, t_mean = sum(n) / len(n), sum(t) / len(t)
    sxx = sum((x - n_mean) ** 2 for x in n)
    sxy = sum((x - n_mean) * (y - t_mean) for x, y in zip(n, t, strict=True))
    slope = sxy / sxx
    intercept = t_mean - slope * n_mean
    predicted = [intercept + slope * x for x in n]
    ss_res = sum((y - p) ** 2 for y, p in zip(t, predicted, strict=True))
    ss_tot = sum((y - t_mean) ** 2 for y in t)
    r_squared = 1.0 - ss_res / ss_tot if ss_tot > 0 else 1.0
    max_residual = max(abs(y - p) / y for y, p in zip(t, predicted, strict=True))
    exponents = [math.log(t[k] / t[k - 1]) / math.log(n[k] / n[k - 1])
                 for k in range(1, len(n)) if n[k] > n[k - 1]]
    max_exponent = max(exponents)
    linear = r_squared >= 0.98 and slope > 0 and max_exponent <= 1.0 + tolerance
    return LinearFit(intercept, slope, r_squared, max_residual, t[-1] / t[0], n[-1] / n[0],
                     max_exponent, linear)


@dataclass(frozen=True)
class MemoryFlatness:
    """How peak memory changes with size.

    Attributes
    ----------
    growth : float
        ``peak(largest size) / peak(smallest size)``.
    size_growth : float
        ``n(largest) / n(smallest)``.
    slope_per_unit : float
        Least-squares slope of peak memory against size [MiB per unit of size].
    flat : bool
        ``growth <= max_growth``.
    """

    growth: float
    size_growth: float
    slope_per_unit: float
    flat: bool


def memory_flatness(sizes: Sequence[float], peaks: Sequence[float],
                    max_growth: float = 1.5) -> MemoryFlatness:
    """Judge whether peak memory stays flat as the input grows.

    Parameters
    ----------
    sizes : sequence of float
        Problem sizes [events].
    peaks : sequence of float
        Peak resident memory [MiB], one per size.
    max_growth : float
        Largest ``peak(largest) / peak(smallest)`` still called flat [ratio]. A streaming path
        holds a chunk, a few buffers and the interpreter whatever the size; 1.5 leaves room
        for allocator noise and per-day bookkeeping while failing any growth proportional to
        the input (16x sizes would give up to 16x memory).

    Returns
    -------
    MemoryFlatness
    """
    if len(sizes) != len(peaks):
        raise ValueError(f"{len(sizes)} sizes for {len(peaks)} peaks")
    points = sorted(zip((float(n) for n in sizes), (float(m) for m in peaks), strict=True))
    if len(points) < 2 or points[0][0] == points[-1][0]:
        raise ValueError("need at least two distinct sizes")
    n = [p[0] for p in points]
    m = [p[1] for p in points]
    n_mean, m_mean = sum(n) / len(n), sum(m) / len(m)
    slope = (sum((x - n_mean) * (y - m_mean) for x, y in zip(n, m, strict=True))
             / sum((x - n_mean) ** 2 for x in n))
    growth = m[-1] / m[0]
    return MemoryFlatness(growth, n[-1] / n[0], slope, growth <= max_growth)


# --------------------------------------------------------------------------------------------
# The machine
# --------------------------------------------------------------------------------------------


def machine_description() -> str:
    """CPU model, cores and memory of this machine, from ``/proc`` where available."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f", {int(line.split()[1]) / 1024 ** 2:.1f} GiB RAM"
                break
    except OSError:
        pass
    return (f"{model}, {os.cpu_count()} cores{memory}, {platform.system()} "
            f"{platform.release()}")


def library_versions(names: Sequence[str] = ("deliverability_econ", "pandas", "numpy", "pyarrow",
                                             "duckdb", "dask", "distributed", "scipy")) -> str:
    """``Python 3.11.7, pandas 3.1.1, ...`` from installed metadata (nothing is imported)."""
    parts = [f"Python {platform.python_version()}"]
    for name in names:
        try:
            parts.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{name} (not installed)")
    return ", ".join(parts)
