"""Executive report: where mail lands, what it costs, what to change, in HTML, PDF and JSON.

- :func:`build_summary` computes ``summary.json`` (DESIGN.md, the ``report`` command) with the
  package's own models;
- :func:`write_report` writes ``report.html`` (self-contained), ``report.pdf`` and
  ``summary.json``;
- :func:`generate_report` does both from log files: read, model, chart, write.

The first screen is a one-page summary (placement per mailbox provider with intervals, money
at risk per month with its range, the recommended option with NPV, payback and the
probability that it pays off (or, when nothing pays, the alternatives and why), the sender's
maturity level and what the next one takes, the top risk signals); then the charts (among them
the NPV tornado of :func:`deliverability_econ.finance.npv_tornado`), the authentication
evidence and the maturity assessment (DMARC aggregate reports, DNS findings, the value of
fixing failing mail), the assumptions with their sources, and data quality.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .._random import RandomState
from ._timing import timed
from .render import (
    DEFAULT_TITLE,
    format_count,
    format_money,
    format_percent,
    option_label,
    report_content,
    write_report,
)
from .summary import (
    NPV_TORNADO_RATE_SWING,
    SUMMARY_KEYS,
    ReportAnalysis,
    ReportWarning,
    analyze,
    assumptions_table,
    build_summary,
    load_config,
    option_to_draw,
)

__all__ = [
    "SUMMARY_KEYS",
    "ReportAnalysis",
    "ReportWarning",
    "analyze",
    "assumptions_table",
    "build_summary",
    "format_count",
    "format_money",
    "format_percent",
    "generate_report",
    "load_config",
    "option_label",
    "option_to_draw",
    "report_content",
    "report_figures",
    "report_tables",
    "write_report",
]

#: Modules searched for a plot function, in order (``plots`` once the helpers are merged).
PLOT_MODULES: tuple[str, ...] = (
    "deliverability_econ.plots",
    "deliverability_econ._plots_funnel",
    "deliverability_econ._plots_health",
    "deliverability_econ._plots_scenarios",
    "deliverability_econ._plots_placement",
)


def generate_report(
    logs: Any,
    *,
    config: Any = None,
    out_dir: str | Path,
    seed_tests: Any = None,
    postmaster: Any = None,
    snds: Any = None,
    dmarc: Any = None,
    dns_records: Any = None,
    known_sources: Mapping[str, Any] | None = None,
    format: str = "auto",
    salt: str | bytes | None = None,
    random_state: RandomState = 0,
    title: str = DEFAULT_TITLE,
    timings: dict[str, dict[str, float]] | None = None,
    **options: Any,
) -> dict[str, Path]:
    """Read logs, run the models, draw the charts and write the report.

    Parameters
    ----------
    logs : path, glob, directory or a list of them
        ESP exports or MTA logs (:func:`deliverability_econ.read_events`); recipients are
        pseudonymized.
    config : path, mapping, FunnelConfig or None
        Scenario config (see :func:`build_summary`).
    out_dir : path
        Where ``report.html``, ``report.pdf`` and ``summary.json`` go.
    seed_tests, postmaster, snds : path or DataFrame, optional
        Calibration files (read with ``io.read_seed_tests``, ``io.read_postmaster``,
        ``io.read_snds``) or tables already read.
    dmarc : path, list of paths or DataFrame, optional
        DMARC aggregate reports (files or folders, plain, ``.gz`` or ``.zip``; read with
        :func:`deliverability_econ.read_dmarc_aggregate`, bad reports quarantined) or their
        records already read.
    dns_records : path, str or DnsCheck, optional
        The sending domains' DNS records: a text file (zone fragment or ``dig`` output), the
        text itself, or :func:`deliverability_econ.check_dns`'s result.
    known_sources : mapping, optional
        ``{name: [cidr, ...]}``: the senders the domain owner knows (see
        :func:`~deliverability_econ.report.analyze`).
    format : str
        Log format, ``"auto"`` to detect it per file.
    salt : str or bytes, optional
        Pseudonymization key (default: the environment's or the installation's).
    random_state : None, int or numpy.random.Generator
        Seeds every Monte Carlo (default 0: the same logs give the same report).
    title : str
    timings : dict, optional
        Filled with the wall and CPU time of each step, step -> ``{"wall", "cpu"}``
        [seconds]: ``read``, ``calibration``, the analysis steps
        (:attr:`ReportAnalysis.timings`), ``figures``, then ``png``, ``json``, ``html``,
        ``pdf`` (:func:`write_report`).
    **options
        Passed to :func:`analyze` (``n_draws``, ``placement_freq``, ``signal_scopes``).

    Returns
    -------
    dict
        ``{"html": Path, "pdf": Path, "summary": Path}``.
    """
    import matplotlib.pyplot as plt

    from ..io import read_events

    timings = {} if timings is None else timings
    with timed(timings, "read"):
        events, meta = read_events(logs, format=format, salt=salt)
    with timed(timings, "calibration"):
        calibration = _read_calibration(seed_tests=seed_tests, postmaster=postmaster, snds=snds)
    analysis = analyze(events, meta, config=config, random_state=random_state,
                       dmarc=dmarc, dns_records=dns_records, known_sources=known_sources,
                       **calibration, **options)
    timings.update(analysis.timings)
    with timed(timings, "figures"):
        figures = report_figures(analysis)
    try:
        return write_report(
            analysis.summary, figures, out_dir, tables=report_tables(analysis),
            notes=analysis.notes, currency=analysis.currency, period=analysis.period,
            title=title, model_warnings=analysis.warnings, decision=analysis.decision,
            timings=timings,
        )
    finally:
        for figure in figures.values():
            plt.close(figure)


def report_tables(analysis: ReportAnalysis) -> dict[str, Any]:
    """The model tables :func:`write_report` shows, by the names it reads (see its
    ``tables``); a table whose section is not available is left out."""
    candidates = {
        "assumptions": analysis.assumptions,
        "signals": analysis.signals,
        "npv_tornado": analysis.npv_tornado,
        "authentication": analysis.authentication,
        "authentication_own": analysis.authentication_own,
        "unknown_sources": analysis.unknown_sources,
        "dns_findings": None if analysis.dns is None else analysis.dns.findings,
        "maturity_evidence": None if analysis.maturity is None else analysis.maturity.evidence,
        "authentication_impact": (None if analysis.authentication_value is None
                                  else analysis.authentication_value.impact),
    }
    tables = {name: table for name, table in candidates.items() if table is not None}
    if analysis.dmarc_meta is not None:
        tables["dmarc_counts"] = analysis.dmarc_meta
    return tables


def report_figures(analysis: ReportAnalysis) -> dict[str, Any]:
    """The report's charts, drawn by the package's plot functions where they exist.

    A chart whose function or data is missing is left out, with a ``chart_*`` note in
    ``analysis.notes``.
    """
    import matplotlib

    figures: dict[str, Any] = {}
    drawn = option_to_draw(analysis.options)
    tornado_option = analysis.decision.get("tornado_option")
    plans: list[tuple[str, str, tuple[str, ...], Any, dict[str, Any]]] = [
        ("chart_placement", "Where mail lands, period by period (inbox share of mail sent, "
         "90% interval)", ("plot_placement",), analysis.placement_periods, {}),
        ("chart_revenue", "Revenue at risk per month (p50, p10 to p90 band)",
         ("plot_revenue_at_risk",), analysis.revenue, {}),
        ("chart_options", "Infrastructure options: net present value"
         + (f" of {option_label(drawn.name)}" if hasattr(drawn, "name") else ""),
         ("plot_options", "plot_compare_options", "plot_npv_distribution", "plot_npv"),
         drawn if getattr(analysis.options, "results", None) else analysis.options, {}),
        ("chart_npv_tornado", "What moves the NPV"
         + (f" of {option_label(tornado_option)}" if tornado_option else "")
         + ": each cash-flow line from its p10 to its p90, the discount rate "
           f"{100 * NPV_TORNADO_RATE_SWING:.0f} points either side",
         ("plot_npv_tornado",), analysis.npv_tornado, {"currency": analysis.currency}),
        ("chart_signals", "Risk signals over time", ("plot_risk_timeline",), analysis.signals,
         {}),
        ("chart_health", "Health checks against published thresholds",
         ("plot_health_dashboard",), analysis.health, {}),
    ]
    with matplotlib.rc_context({"figure.max_open_warning": 0}):
        for key, caption, names, data, keywords in plans:
            if data is None:
                analysis.notes.setdefault(key, f"{caption}: not available: no results to draw")
                continue
            function = _plot_function(names)
            if function is None:
                analysis.notes.setdefault(
                    key, f"{caption}: not available: no plot function "
                         f"({' or '.join(names)}) in this version")
                continue
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    axes = function(data, **keywords)
            except Exception as error:  # one chart failing must not lose the report
                analysis.notes[key] = (f"{caption}: not available: {type(error).__name__}: "
                                       f"{error}")
                warnings.warn(analysis.notes[key], ReportWarning, stacklevel=2)
                continue
            figures[caption] = _figure_of(axes)
    return figures


def _plot_function(names: tuple[str, ...]) -> Callable[..., Any] | None:
    for module_name in PLOT_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        for name in names:
            function = getattr(module, name, None)
            if callable(function):
                return function
    return None


def _figure_of(result: Any):
    if hasattr(result, "savefig"):
        return result
    if hasattr(result, "get_figure"):
        return result.get_figure()
    if isinstance(result, tuple | list) and result:
        return _figure_of(result[0])
    if hasattr(result, "flat"):  # an array of Axes
        return _figure_of(next(iter(result.flat)))
    raise TypeError(f"a plot function returned {type(result).__name__}, not a Figure or Axes")


def _read_calibration(**sources: Any) -> dict[str, Any]:
    """Read the calibration files given as paths; tables pass through."""
    from ..io.postmaster import read_postmaster
    from ..io.seedtests import read_seed_tests
    from ..io.snds import read_snds

    readers: Mapping[str, Callable[..., Any]] = {
        "seed_tests": read_seed_tests, "postmaster": read_postmaster, "snds": read_snds}
    out = {}
    for name, source in sources.items():
        if source is None or hasattr(source, "columns"):
            out[name] = source
        else:
            out[name], _ = readers[name](source)
    return out
