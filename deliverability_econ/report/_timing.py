"""Wall and CPU time per step of the report, for ``benchmarks/bench_report.py``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def timed(timings: dict[str, dict[str, float]] | None, name: str) -> Iterator[None]:
    """Add the wall and CPU time of the block to ``timings[name]`` (``{"wall", "cpu"}``
    [seconds]; CPU is this process's, all threads). Does nothing when ``timings`` is None."""
    if timings is None:
        yield
        return
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield
    finally:
        entry = timings.setdefault(name, {"wall": 0.0, "cpu": 0.0})
        entry["wall"] += time.perf_counter() - wall
        entry["cpu"] += time.process_time() - cpu
