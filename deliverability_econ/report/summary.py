"""The numbers of the executive report, computed with the package's own models.

:func:`analyze` runs every model the report shows (placement, money at risk, authentication
evidence, DNS checks, the sender's maturity level, infrastructure options compared with that
level, break-even volume, risk signals, health checks) and :func:`build_summary` returns the
machine-readable part, ``summary.json`` (DESIGN.md, "``report``", extended by
:data:`SUMMARY_KEYS`). The report holds no model logic: each number comes from a public
function of the package, called here.

Parts of the kit may be missing in a given installation (a module not yet written, an optional
dependency absent). Each section then degrades on its own: its values are ``None`` (or an empty
list) in the summary and :attr:`ReportAnalysis.notes` says ``"not available: <reason>"``, so the
report still renders with everything else.
"""

from __future__ import annotations

import importlib
import inspect
import math
import tomllib
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._random import RandomState, check_random_state
from ._timing import timed

#: Keys of ``summary.json``, in order (DESIGN.md).
SUMMARY_KEYS: tuple[str, ...] = (
    "placement",
    "revenue_at_risk_per_month",
    "options",
    "recommended_option",
    "break_even_messages_per_month",
    "risk_signals",
    "data_quality",
    # Added after DESIGN.md's keys (issue 9): authentication evidence and maturity.
    "authentication",
    "dns_findings",
    "maturity",
    "authentication_fix_value_per_month",
)

#: Keys of one ``placement`` entry.
PLACEMENT_KEYS: tuple[str, ...] = (
    "mailbox_provider",
    "inbox_rate",
    "inbox_low",
    "inbox_high",
    "spam_rate",
    "missing_rate",
    "delivered",
)

#: Keys of one ``options`` entry.
OPTION_KEYS: tuple[str, ...] = ("name", "npv", "p_npv_positive", "payback_months")

#: Keys of one ``risk_signals`` entry.
SIGNAL_KEYS: tuple[str, ...] = ("date", "scope", "signal", "severity", "evidence")

#: Keys of ``data_quality``.
DATA_QUALITY_KEYS: tuple[str, ...] = ("records_read", "events", "duplicates", "quarantined")

#: Keys of ``authentication`` (None without DMARC aggregate reports).
AUTHENTICATION_KEYS: tuple[str, ...] = ("messages", "dmarc_pass_share", "failing_share",
                                        "own_mail_failing_share", "unknown_sources", "reports",
                                        "records", "quarantined")

#: Keys of one ``authentication["unknown_sources"]`` entry: the source (a known sender's name
#: or ``net <network>``), its messages, its likely cause
#: (:data:`deliverability_econ.authentication.LIKELY_CAUSES`) and the domain it sent as (one
#: network may send as several domains of the reports).
UNKNOWN_SOURCE_KEYS: tuple[str, ...] = ("source", "messages", "likely_cause", "domain")

#: Keys of one ``dns_findings`` entry.
DNS_FINDING_KEYS: tuple[str, ...] = ("domain", "severity", "code", "message")

#: Keys of ``maturity`` (:meth:`deliverability_econ.maturity.MaturityAssessment.summary`).
MATURITY_KEYS: tuple[str, ...] = ("level", "level_name", "next_option", "missing_for_next")

#: Tables of a scenario config, or its top level, where a ``baseline = "<option>"`` key names
#: the option every other is compared with (overriding the sender's current maturity level).
BASELINE_CONFIG_TABLES: tuple[str, ...] = ("scenarios", "options")

#: Top-level keys of a scenario TOML that belong to the funnel configuration
#: (:func:`deliverability_econ.funnel.load_funnels`); the others are left to the scenarios.
FUNNEL_CONFIG_KEYS: tuple[str, ...] = ("currency", "counterfactual", "money", "funnels")

#: Scopes of the risk signals: each mailbox provider, sending IP and mail stream on its own.
DEFAULT_SIGNAL_SCOPES: tuple[str, ...] = ("mailbox_provider", "sending_ip", "stream")

SEVERITY_ORDER: dict[str, int] = {"critical": 0, "warning": 1, "info": 2}


class ReportWarning(UserWarning):
    """A report section could not be computed and is shown as "not available"."""


@dataclass
class ReportAnalysis:
    """Everything the report shows: the summary and the model results behind it.

    Attributes
    ----------
    summary : dict
        ``summary.json`` (:data:`SUMMARY_KEYS`).
    currency : str
        Currency of every amount (the funnel config's).
    period : (Timestamp, Timestamp) or None
        First and last event of the logs (UTC).
    messages : DataFrame
        One row per message (:func:`deliverability_econ.messages`), recipients pseudonymized.
    placement_total : DataFrame or None
        :func:`~deliverability_econ.placement.estimate_placement` over the whole period, per
        mailbox provider.
    placement_periods : DataFrame or None
        The same per ``placement_freq`` period (the placement chart, money and signals use it).
    revenue : RevenueAtRisk or None
        :func:`deliverability_econ.revenue_at_risk` result.
    options : object or None
        What :func:`deliverability_econ.scenarios.compare_options` returned.
    signals : DataFrame or None
        :func:`deliverability_econ.signals.risk_signals` output (with the ``sentence`` column).
    health : DataFrame or None
        :func:`deliverability_econ.health_checks` output.
    npv_tornado : DataFrame or None
        :func:`deliverability_econ.finance.npv_tornado` of the option the report draws
        (:func:`option_to_draw`); ``attrs["option"]`` names it.
    authentication : DataFrame or None
        :func:`deliverability_econ.authentication_summary` of all mail per domain (every
        source using the domain), from the DMARC aggregate reports.
    authentication_own : DataFrame or None
        The same per domain and mailbox provider for the sender's own sources only
        (``sources="known"``): the mail it can fix itself.
    unknown_sources : DataFrame or None
        :func:`deliverability_econ.unknown_sources`: other senders using the domain.
    dmarc_meta : dict or None
        The DMARC reader's counts: ``files`` [documents read, refused ones included],
        ``reports``, ``records``, ``messages``, ``quarantined``, ``duplicates`` and
        ``quarantine_reasons`` (the first few, as text); None without DMARC input.
    dns : DnsCheck or None
        :func:`deliverability_econ.check_dns` of the DNS records given.
    maturity : MaturityAssessment or None
        :func:`deliverability_econ.assess_maturity` from the logs and whatever evidence was
        given (DMARC, DNS, Postmaster, SNDS, seed tests).
    authentication_value : AuthenticationValue or None
        :func:`deliverability_econ.authentication_fix_value` of the own mail's failures,
        against the whole-period placement.
    decision : dict
        What the first screen needs beyond ``summary.json``: ``baseline`` (the option the
        others are compared with), ``baseline_from`` (``"maturity"``: the sender's current
        level, ``"config"``: the scenario config's ``baseline``, ``"default"``: the scenario
        model's), ``messages_per_month`` (the sender's volume from its logs
        [messages/month]), ``tornado_option`` and ``maturity`` (``level``, ``levels``,
        ``level_name``, ``next_option``, ``missing_for_next``); keys are absent when unknown.
    assumptions : DataFrame
        ``key``, ``value``, ``low``, ``high``, ``unit``, ``source``, ``description``: the
        inputs behind the money and placement figures, with the fact ids of their sources.
    notes : dict
        Section -> ``"not available: <reason>"`` (or another caveat).
    warnings : list of str
        Distinct warnings raised by the models (low volume, fallbacks), for the data-quality
        section.
    timings : dict
        Step (``messages`` and each section) -> ``{"wall", "cpu"}`` time [seconds], for
        ``benchmarks/bench_report.py``.
    """

    summary: dict
    currency: str
    period: tuple[pd.Timestamp, pd.Timestamp] | None
    messages: pd.DataFrame
    placement_total: pd.DataFrame | None = None
    placement_periods: pd.DataFrame | None = None
    revenue: Any = None
    options: Any = None
    signals: pd.DataFrame | None = None
    health: pd.DataFrame | None = None
    npv_tornado: pd.DataFrame | None = None
    authentication: pd.DataFrame | None = None
    authentication_own: pd.DataFrame | None = None
    unknown_sources: pd.DataFrame | None = None
    dmarc_meta: dict[str, Any] | None = None
    dns: Any = None
    maturity: Any = None
    authentication_value: Any = None
    decision: dict[str, Any] = field(default_factory=dict)
    assumptions: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    timings: dict[str, dict[str, float]] = field(default_factory=dict)


class _Unavailable(Exception):
    """A section cannot be computed; the message is the reason shown to the reader."""


# --------------------------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------------------------


def build_summary(
    events: pd.DataFrame,
    meta: Mapping[str, Any],
    *,
    config: Any = None,
    seed_tests: pd.DataFrame | None = None,
    postmaster: pd.DataFrame | None = None,
    snds: pd.DataFrame | None = None,
    dmarc: Any = None,
    dns_records: Any = None,
    known_sources: Mapping[str, Sequence[str]] | None = None,
    random_state: RandomState = 0,
    **options: Any,
) -> dict:
    """``summary.json``: the report's numbers as one JSON-ready dict.

    Parameters
    ----------
    events : DataFrame
        Canonical events (:func:`deliverability_econ.read_events`).
    meta : mapping
        The reader's meta (``records_read``, ``events``, ``duplicates``, ``quarantined``).
    config : path, mapping, FunnelConfig or None
        A scenario TOML (its ``currency``, ``counterfactual``, ``money`` and ``funnels`` tables
        configure the funnels, the rest goes to the scenarios), the same as a mapping, a
        :class:`~deliverability_econ.funnel.FunnelConfig`, or None for the defaults.
    seed_tests, postmaster, snds : DataFrame, optional
        Calibration data (``io.read_seed_tests``, ``io.read_postmaster``, ``io.read_snds``).
    dmarc : path, list of paths, DataFrame or (DataFrame, meta), optional
        DMARC aggregate reports: files or folders (plain, ``.gz`` or ``.zip``) read with
        :func:`deliverability_econ.read_dmarc_aggregate`, or its records (and meta).
    dns_records : path, str or DnsCheck, optional
        The sending domains' DNS records: a text file (zone fragment or ``dig`` output), the
        text itself, anything else :func:`deliverability_econ.check_dns` takes, or its result.
    known_sources : mapping, optional
        ``{name: [cidr, ...]}``: the senders the domain owner knows
        (:func:`deliverability_econ.authentication.sending_sources`); without it, a source
        mostly passing aligned SPF counts as the sender's own.
    random_state : None, int or numpy.random.Generator
        Seeds every Monte Carlo; the default 0 makes the same logs give the same report.
    **options
        Passed to :func:`analyze` (``n_draws``, ``placement_freq``, ``signal_scopes``).

    Returns
    -------
    dict
        :data:`SUMMARY_KEYS`: ``placement`` (list of :data:`PLACEMENT_KEYS`, rates [fraction
        0-1 of messages sent], ``delivered`` [messages]), ``revenue_at_risk_per_month``
        (``p10``, ``p50``, ``p90`` [currency/month]), ``options`` (list of
        :data:`OPTION_KEYS`: ``npv`` percentiles [currency], ``p_npv_positive`` [probability],
        ``payback_months`` [months]), ``recommended_option``, ``break_even_messages_per_month``
        [messages/month], ``risk_signals`` (list of :data:`SIGNAL_KEYS`, ISO dates),
        ``data_quality`` (:data:`DATA_QUALITY_KEYS` [records]); then ``authentication``
        (:data:`AUTHENTICATION_KEYS`: ``messages`` [messages the DMARC reports count],
        ``dmarc_pass_share``, ``failing_share`` [fraction 0-1 of them], ``own_mail_failing_share``
        [fraction 0-1 of the sender's own sources' messages], ``unknown_sources`` (list of
        :data:`UNKNOWN_SOURCE_KEYS`), ``reports``, ``records``, ``quarantined`` [counts of the
        DMARC reader]; None without reports), ``dns_findings`` (list of
        :data:`DNS_FINDING_KEYS`; ``[]`` without records), ``maturity``
        (:data:`MATURITY_KEYS`) and ``authentication_fix_value_per_month`` (``p10``, ``p50``,
        ``p90`` [currency/month] or None). A section that could not be computed is ``None``
        (or ``[]``); :func:`analyze` says why.
    """
    return analyze(events, meta, config=config, seed_tests=seed_tests, postmaster=postmaster,
                   snds=snds, dmarc=dmarc, dns_records=dns_records, known_sources=known_sources,
                   random_state=random_state, **options).summary


def analyze(
    events: pd.DataFrame,
    meta: Mapping[str, Any],
    *,
    config: Any = None,
    seed_tests: pd.DataFrame | None = None,
    postmaster: pd.DataFrame | None = None,
    snds: pd.DataFrame | None = None,
    dmarc: Any = None,
    dns_records: Any = None,
    known_sources: Mapping[str, Sequence[str]] | None = None,
    random_state: RandomState = 0,
    n_draws: int = 2000,
    placement_freq: str = "W",
    signal_scopes: Sequence[str] = DEFAULT_SIGNAL_SCOPES,
    interval: float = 0.9,
) -> ReportAnalysis:
    """Run every model of the report and keep their results (see :func:`build_summary`).

    Parameters
    ----------
    events, meta, config, seed_tests, postmaster, snds, random_state
        As in :func:`build_summary`.
    dmarc, dns_records, known_sources
        Authentication evidence, as in :func:`build_summary`. Each feeds its own section
        (``authentication``, ``dns``); the ``maturity`` section always runs (from the logs
        alone when nothing else is given) and, unless the scenario config names a
        ``baseline`` (:data:`BASELINE_CONFIG_TABLES`), the options are compared with the
        sender's current level (:meth:`MaturityAssessment.current_scenario`) instead of the
        scenario model's default baseline.
    n_draws : int
        Monte Carlo draws of each model (placement, money, options).
    placement_freq : {"D", "W", "M"}
        Period of the placement estimate behind the chart, the money at risk and the
        placement-drop signals.
    signal_scopes : sequence of str
        Columns whose values are scopes of risk signals.
    interval : float
        Probability content of the placement intervals [fraction 0-1].

    Returns
    -------
    ReportAnalysis
    """
    from ..messages import messages as to_messages

    funnel_config, scenario_config = load_config(config)
    # Five streams: placement, money, options, break-even, authentication value. Spawned
    # children are numbered, so adding the fifth left the first four's draws unchanged.
    seeds = check_random_state(random_state).spawn(5)
    timings: dict[str, dict[str, float]] = {}
    with timed(timings, "messages"):
        table = to_messages(events)
    notes: dict[str, str] = {}
    caught: list[str] = []
    analysis = ReportAnalysis(summary={}, currency=funnel_config.currency,
                              period=_period(events, meta), messages=table, notes=notes,
                              warnings=caught, timings=timings)
    calibration = {"seed_tests": seed_tests, "postmaster": postmaster, "snds": snds}

    def section(name: str, compute: Callable[[], Any]) -> Any:
        failure = None
        with timed(timings, name), warnings.catch_warnings(record=True) as records:
            warnings.simplefilter("always")
            try:
                return compute()
            except _Unavailable as reason:
                notes[name] = f"not available: {reason}"
            except Exception as error:  # a failing section must not take the report down
                notes[name] = f"not available: {type(error).__name__}: {error}"
                failure = notes[name]
            finally:
                for record in records:
                    text = f"{record.category.__name__}: {record.message}"
                    if text not in caught:
                        caught.append(text)
        if failure is not None:
            warnings.warn(f"report section {name!r}: {failure}", ReportWarning, stacklevel=2)
        return None

    placement_function = _function("deliverability_econ.placement", "estimate_placement")

    def placement(freq: str | None, rng) -> pd.DataFrame:
        return _call(placement_function(), table, by=("mailbox_provider",), freq=freq,
                     interval=interval, n_draws=n_draws, random_state=rng, **calibration)

    analysis.placement_total = section("placement", lambda: placement(None, seeds[0]))
    analysis.placement_periods = section("placement_periods",
                                         lambda: placement(placement_freq, seeds[0]))
    periods = (analysis.placement_periods if analysis.placement_periods is not None
               else analysis.placement_total)

    def revenue():
        if periods is None:
            raise _Unavailable("no placement estimate to measure the loss against")
        from ..funnel import revenue_at_risk
        return revenue_at_risk(table, periods, funnel_config, draws=n_draws, interval=interval,
                               random_state=seeds[1])

    analysis.revenue = section("revenue_at_risk", revenue)

    def authentication() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        if dmarc is None:
            raise _Unavailable("no DMARC aggregate reports given (deliverability-econ report "
                               "--dmarc FOLDER)")
        with timed(timings, "read_dmarc"):
            records, dmarc_meta = read_dmarc(dmarc)
        analysis.dmarc_meta = dmarc_counts(records, dmarc_meta)
        if records.empty:
            counts = analysis.dmarc_meta
            reasons = "; ".join(counts["quarantine_reasons"])
            raise _Unavailable(
                f"no readable record in the DMARC reports given ({counts['files']} file(s), "
                f"{counts['quarantined']} quarantined" + (f": {reasons}" if reasons else "")
                + ")")
        from ..authentication import authentication_summary, unknown_sources
        every = authentication_summary(records, known_sources=known_sources)
        own = authentication_summary(records, ("domain", "mailbox_provider"),
                                     known_sources=known_sources, sources="known")
        return every, own, unknown_sources(records, known_sources)

    evidence = section("authentication", authentication)
    if evidence is not None:
        (analysis.authentication, analysis.authentication_own,
         analysis.unknown_sources) = evidence

    def dns():
        if dns_records is None:
            raise _Unavailable("no DNS records given (deliverability-econ report --dns FILE)")
        return check_dns_records(dns_records)

    analysis.dns = section("dns", dns)

    def maturity():
        from ..maturity import assess_maturity
        return assess_maturity(table, analysis.dns, analysis.authentication,
                               analysis.unknown_sources, postmaster=postmaster, snds=snds,
                               seed_tests=seed_tests)

    analysis.maturity = section("maturity", maturity)
    if analysis.maturity is not None:
        from ..maturity import LEVEL_NAMES
        analysis.decision["maturity"] = {**analysis.maturity.summary(),
                                         "levels": len(LEVEL_NAMES)}

    def authentication_value():
        if analysis.authentication_own is None:
            raise _Unavailable("needs DMARC aggregate reports (--dmarc)")
        if analysis.authentication_own.empty:
            raise _Unavailable("the DMARC reports show no mail from the sender's own sources")
        if analysis.placement_total is None:
            raise _Unavailable("no placement estimate to apply the failures to")
        from ..auth_impact import authentication_fix_value
        return authentication_fix_value(table, analysis.authentication_own,
                                        analysis.placement_total, config=funnel_config,
                                        draws=n_draws, interval=interval,
                                        random_state=seeds[4])

    analysis.authentication_value = section("authentication_value", authentication_value)

    context = {
        "messages": table,
        "placement": periods,
        "config": funnel_config,
        "scenario_config": scenario_config,
        "funnel_config": funnel_config,
        "funnels": funnel_config,
        "revenue_at_risk": analysis.revenue,
        "currency": funnel_config.currency,
        "n_draws": n_draws,
        "draws": n_draws,
        "random_state": seeds[2],
        **calibration,
    }
    configured_baseline = section("options", lambda: configured_baseline_of(scenario_config))
    if configured_baseline is not None:
        context["baseline"] = configured_baseline
        analysis.decision["baseline_from"] = "config"
    elif analysis.maturity is not None:
        # Options are judged against where the sender stands today, not a generic default.
        context["baseline"] = analysis.maturity.current_scenario()
        analysis.decision["baseline_from"] = "maturity"
    else:
        analysis.decision["baseline_from"] = "default"
    volumes = section("options", lambda: _sender_volumes(table, funnel_config))
    if volumes is not None:
        context["volumes"], context["provider_shares"] = volumes
        analysis.decision["messages_per_month"] = float(sum(volumes[0].values()))
    compare = _function("deliverability_econ.scenarios", "compare_options")
    analysis.options = section("options", lambda: _call_with(compare(), context))
    option_rows, recommended = None, None
    if analysis.options is not None:
        normalized = section("options", lambda: _options(analysis.options))
        if normalized is not None:
            option_rows, recommended, note = normalized
            if note:
                notes["recommended_option"] = note
        baseline = getattr(analysis.options, "baseline", None)
        if baseline is not None:
            analysis.decision["baseline"] = str(baseline)

    def tornado() -> pd.DataFrame | None:
        drawn = option_to_draw(analysis.options)
        if drawn is None or not hasattr(drawn, "cash_flows"):
            raise _Unavailable("the options result carries no cash flows per draw")
        from ..finance import npv_tornado
        rate = float(drawn.discount_rate)
        table = npv_tornado(drawn.cash_flows, rate, rate_range=(
            max(rate - NPV_TORNADO_RATE_SWING, 0.0), rate + NPV_TORNADO_RATE_SWING))
        table.attrs["option"] = str(drawn.name)
        analysis.decision["tornado_option"] = str(drawn.name)
        return table

    if analysis.options is not None:
        analysis.npv_tornado = section("npv_tornado", tornado)
    break_even = _function("deliverability_econ.scenarios", "break_even_messages_per_month")
    break_even_value = section(
        "break_even_messages_per_month",
        # The break-even keeps its own (small) number of draws: it simulates a volume grid;
        # and its own baseline: it is the volume where a dedicated IP beats the shared pool,
        # whatever the sender's level.
        lambda: _scalar(_call_with(break_even(), {
            **{k: v for k, v in context.items() if k not in ("draws", "n_draws", "baseline")},
            "random_state": seeds[3]})))

    def signals() -> pd.DataFrame:
        from ..cube import daily_cube
        risk_signals = _function("deliverability_econ.signals", "risk_signals")()
        scopes = [key for key in signal_scopes if key in table.columns]
        cube = daily_cube(table, by=scopes)
        return risk_signals(cube, by=scopes, placement=periods, messages=table,
                            postmaster=postmaster)

    analysis.signals = section("risk_signals", signals)

    def health() -> pd.DataFrame:
        from ..cube import daily_cube
        from ..reputation import health_checks
        return health_checks(daily_cube(table, by=("mailbox_provider",)),
                             postmaster=postmaster, snds=snds)

    analysis.health = section("health", health)
    analysis.assumptions = section("assumptions",
                                   lambda: assumptions_table(funnel_config, analysis.options))
    if analysis.assumptions is None:
        analysis.assumptions = pd.DataFrame(columns=list(ASSUMPTION_COLUMNS))
    if analysis.npv_tornado is not None:
        swing = pd.DataFrame([{
            "key": "report.npv_tornado.discount_rate_swing", "value": NPV_TORNADO_RATE_SWING,
            "low": np.nan, "high": np.nan, "unit": "decimal per year", "source": "assumption",
            "description": "the NPV tornado moves the discount rate this much either side of "
                           "the options' rate"}], columns=list(ASSUMPTION_COLUMNS))
        analysis.assumptions = pd.concat([analysis.assumptions, swing], ignore_index=True)
    if analysis.maturity is not None or analysis.authentication_value is not None:
        extra = section("assumptions", lambda: authentication_assumptions(
            maturity=analysis.maturity is not None,
            authentication_value=analysis.authentication_value is not None))
        if extra is not None:
            analysis.assumptions = pd.concat([analysis.assumptions, extra], ignore_index=True)

    analysis.summary = {
        "placement": _placement_rows(analysis.placement_total),
        "revenue_at_risk_per_month": (None if analysis.revenue is None
                                      else _percentiles(analysis.revenue.summary())),
        "options": option_rows or [],
        "recommended_option": recommended,
        "break_even_messages_per_month": break_even_value,
        "risk_signals": _signal_rows(analysis.signals),
        "data_quality": data_quality(meta),
        "authentication": _authentication_entry(analysis),
        "dns_findings": _dns_finding_rows(analysis.dns),
        "maturity": (None if analysis.maturity is None
                     else _maturity_entry(analysis.maturity.summary())),
        "authentication_fix_value_per_month": (
            None if analysis.authentication_value is None
            else _percentiles(analysis.authentication_value.monthly)),
    }
    return analysis


def load_config(config: Any) -> tuple[Any, Any]:
    """The funnel configuration and the scenario configuration of a report config.

    Parameters
    ----------
    config : path, mapping, FunnelConfig or None
        See :func:`build_summary`.

    Returns
    -------
    funnel_config : FunnelConfig
    scenario_config : path, mapping or None
        What the scenarios are given: the config as the caller gave it (None for defaults).

    Raises
    ------
    deliverability_econ.ConfigError
        For a bad funnel section, naming the file and the key.
    """
    from ..funnel import FunnelConfig, default_funnels
    from ..funnel.config import funnels_from_mapping

    if config is None:
        return default_funnels(), None
    if isinstance(config, FunnelConfig):
        return config, config
    if isinstance(config, Mapping):
        subset = {k: v for k, v in config.items() if k in FUNNEL_CONFIG_KEYS}
        return funnels_from_mapping(subset, "<dict>"), config
    path = Path(config)
    with path.open("rb") as handle:
        data = tomllib.load(handle)
    subset = {k: v for k, v in data.items() if k in FUNNEL_CONFIG_KEYS}
    return funnels_from_mapping(subset, str(path)), path


def data_quality(meta: Mapping[str, Any]) -> dict[str, int]:
    """``records_read``, ``events``, ``duplicates``, ``quarantined`` of a reader's meta
    [records]."""
    return {key: int(meta.get(key, 0) or 0) for key in DATA_QUALITY_KEYS}


def read_dmarc(dmarc: Any) -> tuple[pd.DataFrame, dict[str, Any]]:
    """DMARC aggregate records and the reader's meta from what :func:`analyze` was given.

    Parameters
    ----------
    dmarc : path, list of paths, DataFrame or (DataFrame, meta)
        Report files or folders (read with :func:`deliverability_econ.read_dmarc_aggregate`,
        bad reports quarantined), or records already read, with or without their meta.

    Returns
    -------
    records : DataFrame
    meta : dict
        The reader's meta; for records given as a table, what can be counted from them.
    """
    if isinstance(dmarc, tuple) and len(dmarc) == 2 and isinstance(dmarc[0], pd.DataFrame):
        return dmarc[0], dict(dmarc[1])
    if isinstance(dmarc, pd.DataFrame):
        return dmarc, {"rows": len(dmarc), "quarantined": 0, "duplicates": 0}
    from ..io import read_dmarc_aggregate
    return read_dmarc_aggregate(dmarc)


#: Quarantine reasons of the DMARC reader quoted in the report, at most.
QUARANTINE_REASONS_SHOWN = 3


def dmarc_counts(records: pd.DataFrame, meta: Mapping[str, Any]) -> dict[str, Any]:
    """What the report says about the DMARC reports read.

    Returns
    -------
    dict
        ``files`` [documents read, refused ones included], ``reports`` [reports read],
        ``records`` [report records kept], ``messages`` [messages they count],
        ``quarantined`` [records or documents kept aside], ``duplicates`` [records of reports
        read twice], ``quarantine_reasons`` (list of str: the first
        :data:`QUARANTINE_REASONS_SHOWN` distinct ``source: reason``, file names only).
    """
    reports = meta.get("reports")
    if isinstance(reports, pd.DataFrame):
        report_count = len(reports)
    elif {"reporter", "report_id"} <= set(records.columns):
        report_count = int(records[["reporter", "report_id"]].drop_duplicates().shape[0])
    else:
        report_count = 0
    reasons: list[str] = []
    quarantine = meta.get("quarantine")
    if isinstance(quarantine, pd.DataFrame) and len(quarantine) and "reason" in quarantine:
        for record in quarantine.to_dict("records"):
            text = f"{Path(str(record.get('source', ''))).name}: {record['reason']}"
            if text not in reasons:
                reasons.append(text)
            if len(reasons) == QUARANTINE_REASONS_SHOWN:
                break
    count = int(records["count"].sum()) if "count" in records.columns else 0
    return {"files": int(meta.get("documents", 0) or 0), "reports": int(report_count),
            "records": int(len(records)), "messages": int(meta.get("messages", count) or 0),
            "quarantined": int(meta.get("quarantined", 0) or 0),
            "duplicates": int(meta.get("duplicates", 0) or 0), "quarantine_reasons": reasons}


def check_dns_records(dns_records: Any):
    """:func:`deliverability_econ.check_dns` of what :func:`analyze` was given: a
    :class:`~deliverability_econ.dns_checks.DnsCheck` passes through, a path (a
    :class:`~pathlib.Path`, or a one-line string naming an existing file) is read as text,
    any other string is the records' text."""
    from ..dns_checks import DnsCheck, check_dns

    if isinstance(dns_records, DnsCheck):
        return dns_records
    if isinstance(dns_records, str) and "\n" not in dns_records and dns_records.strip():
        candidate = Path(dns_records)
        try:
            if candidate.is_file():
                dns_records = candidate
        except OSError:  # a record text too long to be a file name
            pass
    if isinstance(dns_records, Path):
        dns_records = dns_records.read_text(encoding="utf-8")
    return check_dns(dns_records)


def configured_baseline_of(scenario_config: Any) -> str | None:
    """The ``baseline`` option a scenario config names, or None.

    Looked up at the config's top level, then in its :data:`BASELINE_CONFIG_TABLES`
    (``[scenarios] baseline = "shared_relay"``).
    """
    if scenario_config is None or not isinstance(scenario_config, Mapping | str | Path):
        return None
    if isinstance(scenario_config, Mapping):
        data = scenario_config
    else:
        with Path(scenario_config).open("rb") as handle:
            data = tomllib.load(handle)
    for table in (data, *(data.get(name) for name in BASELINE_CONFIG_TABLES)):
        if isinstance(table, Mapping) and table.get("baseline") is not None:
            return str(table["baseline"])
    return None


#: Columns of :func:`assumptions_table`.
ASSUMPTION_COLUMNS: tuple[str, ...] = ("key", "value", "low", "high", "unit", "source",
                                       "description")


def assumptions_table(funnel_config: Any, options_result: Any = None) -> pd.DataFrame:
    """The assumptions behind the report's money and placement figures, with their sources.

    Rows: every parameter of the funnel configuration (``FunnelConfig.parameters()``, sources
    from the defaults registry or the config file), the benchmark inbox placement per mailbox
    provider (:data:`deliverability_econ.placement.BENCHMARK_INBOX_SHARE`, F17) and, when the
    options result carries one, its own assumptions table.

    Returns
    -------
    DataFrame
        :data:`ASSUMPTION_COLUMNS`.
    """
    rows = []
    for key, parameter in funnel_config.parameters().items():
        rows.append({"key": key, "value": parameter.value, "low": parameter.low,
                     "high": parameter.high, "unit": parameter.unit,
                     "source": parameter.source, "description": parameter.description})
    try:
        from ..placement import BENCHMARK_INBOX_SHARE
    except ImportError:
        BENCHMARK_INBOX_SHARE = {}
    for provider, (mean, sd) in BENCHMARK_INBOX_SHARE.items():
        rows.append({"key": f"placement.benchmark_inbox_share.{provider}", "value": mean,
                     "low": max(mean - 1.645 * sd, 0.0), "high": min(mean + 1.645 * sd, 1.0),
                     "unit": "fraction 0-1",
                     "source": "F17 (domain facts section 9); placement.BENCHMARK_INBOX_SHARE",
                     "description": "inbox share of delivered mail assumed for a reference "
                                    "period when no seed test calibrates it (mean, 90% range)"})
    table = pd.DataFrame(rows, columns=list(ASSUMPTION_COLUMNS))
    extra = _options_assumptions(options_result)
    if extra is not None and len(extra):
        table = pd.concat([table, extra], ignore_index=True)
    return table


def authentication_assumptions(*, maturity: bool = True,
                               authentication_value: bool = True) -> pd.DataFrame:
    """The thresholds behind the maturity level and the value of fixing authentication.

    Rows: :data:`deliverability_econ.maturity.MIN_ALIGNED_SHARE`, ``MAX_UNKNOWN_SOURCE_SHARE``
    and ``MAJORITY_SHARE`` (assumptions of the maturity criteria), and the bulk-sender
    threshold of every provider rule in :data:`deliverability_econ.auth_impact.PROVIDER_RULES`
    (F1, F7, F8).

    Returns
    -------
    DataFrame
        :data:`ASSUMPTION_COLUMNS`.
    """
    rows = []
    if maturity:
        from .. import maturity as maturity_module
        for name, description in (
                ("MIN_ALIGNED_SHARE", "smallest share of reported mail passing DMARC for the "
                                      "optimized-stack level"),
                ("MAX_UNKNOWN_SOURCE_SHARE", "largest share of reported mail from unknown "
                                             "sources for the optimized-stack level (advisory)"),
                ("MAJORITY_SHARE", "share of volume that decides the own-domain alignment and "
                                   "dedicated-IP criteria")):
            rows.append({"key": f"maturity.{name.lower()}",
                         "value": getattr(maturity_module, name), "low": np.nan,
                         "high": np.nan, "unit": "fraction 0-1",
                         "source": f"assumption (maturity.{name})", "description": description})
    if authentication_value:
        from ..auth_impact import PROVIDER_RULES
        for provider, rule in PROVIDER_RULES.items():
            rows.append({"key": f"auth_impact.bulk_threshold.{provider}",
                         "value": np.nan if rule.bulk_threshold is None else rule.bulk_threshold,
                         "low": np.nan, "high": np.nan, "unit": "messages/day",
                         "source": f"{rule.source}; auth_impact.PROVIDER_RULES",
                         "description": f"daily volume from which {provider} "
                                        f"{'rejects' if rule.action == 'reject' else 'junks'} "
                                        "bulk mail failing DMARC (in force from "
                                        f"{rule.in_force_from})"})
    return pd.DataFrame(rows, columns=list(ASSUMPTION_COLUMNS))


#: Swing of the discount rate in the NPV tornado, either side of the options' rate
#: [decimal per year]. Assumption: finance teams commonly test plus or minus five points.
NPV_TORNADO_RATE_SWING = 0.05


def option_to_draw(comparison: Any) -> Any:
    """The option whose NPV the report draws (distribution and tornado): the recommended
    one, or, when the recommendation is to stay on the baseline, the alternative with the
    highest median NPV. None without option results."""
    results = getattr(comparison, "results", None)
    if not results:
        return None
    recommended = getattr(comparison, "recommended_option", None)
    baseline = getattr(comparison, "baseline", None)
    if recommended in results and recommended != baseline:
        return results[recommended]
    alternatives = [r for name, r in results.items() if name != baseline]
    if not alternatives:
        return None
    return max(alternatives, key=lambda r: r.npv_percentiles["p50"])


def top_signals(signals: pd.DataFrame | None, n: int = 5) -> pd.DataFrame:
    """The ``n`` signals an executive should see first: gravest, then most recent."""
    if signals is None or signals.empty:
        return pd.DataFrame(columns=["date", "scope", "signal", "severity", "evidence",
                                     "sentence"])
    rank = signals["severity"].astype(str).map(SEVERITY_ORDER).fillna(9)
    ordered = signals.assign(_rank=rank.to_numpy()).sort_values(
        ["_rank", "date"], ascending=[True, False], kind="stable")
    return ordered.drop(columns="_rank").head(n).reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# Calling the models
# --------------------------------------------------------------------------------------------


def _function(module: str, name: str) -> Callable[[], Callable[..., Any]]:
    """A getter for ``module.name`` that raises :class:`_Unavailable` with a clear reason."""

    def get() -> Callable[..., Any]:
        try:
            loaded = importlib.import_module(module)
        except ImportError as error:
            raise _Unavailable(f"{module} is not installed ({error})") from error
        found = getattr(loaded, name, None)
        if found is None:
            raise _Unavailable(f"{module}.{name} does not exist in this version")
        return found

    return get


def _call(function: Callable[..., Any], *args: Any, **keywords: Any) -> Any:
    """Call with the keywords the function accepts (calibration it does not take is left out)."""
    accepted = _accepted(function)
    if accepted is not None:
        keywords = {k: v for k, v in keywords.items() if k in accepted}
    return function(*args, **keywords)


def _call_with(function: Callable[..., Any], context: Mapping[str, Any]) -> Any:
    """Call a scenarios function with whatever of the report's context it names."""
    parameters = inspect.signature(function).parameters
    args, keywords = [], {}
    for name, parameter in parameters.items():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if name not in context or (context[name] is None and parameter.default is not
                                   parameter.empty):
            if parameter.default is parameter.empty:
                raise _Unavailable(f"{function.__module__}.{function.__name__} needs "
                                   f"{name!r}, which the report cannot provide")
            continue
        if parameter.kind == parameter.POSITIONAL_ONLY:
            args.append(context[name])
        else:
            keywords[name] = context[name]
    return function(*args, **keywords)


def _sender_volumes(table: pd.DataFrame, funnel_config: Any):
    """The sender's monthly volume per funnel and provider shares, as the scenarios read them
    (``scenarios.volumes_from_cube``), from its own logs."""
    from ..cube import daily_cube

    volumes_from_cube = _function("deliverability_econ.scenarios", "volumes_from_cube")()
    return volumes_from_cube(daily_cube(table, by=("mailbox_provider", "stream")), funnel_config)


def _accepted(function: Callable[..., Any]) -> set[str] | None:
    parameters = inspect.signature(function).parameters
    if any(p.kind == p.VAR_KEYWORD for p in parameters.values()):
        return None
    return set(parameters)


# --------------------------------------------------------------------------------------------
# Shaping results for summary.json
# --------------------------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    """A JSON number: None for missing, NaN or infinite values."""
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _percentiles(values: Mapping[str, Any]) -> dict[str, float | None]:
    return {key: _number(values.get(key)) for key in ("p10", "p50", "p90")}


def _placement_rows(placement: pd.DataFrame | None) -> list[dict]:
    if placement is None or placement.empty:
        return []
    rows = []
    for record in placement.to_dict("records"):
        rows.append({
            "mailbox_provider": str(record["mailbox_provider"]),
            **{key: _number(record.get(key)) for key in PLACEMENT_KEYS[1:-1]},
            "delivered": int(record.get("delivered") or 0),
        })
    return sorted(rows, key=lambda row: -row["delivered"])


def _signal_rows(signals: pd.DataFrame | None) -> list[dict]:
    if signals is None or signals.empty:
        return []
    return [
        {
            "date": pd.Timestamp(record["date"]).strftime("%Y-%m-%d"),
            "scope": str(record["scope"]),
            "signal": str(record["signal"]),
            "severity": str(record["severity"]),
            "evidence": str(record["evidence"]),
        }
        for record in signals.to_dict("records")
    ]


def _authentication_entry(analysis: ReportAnalysis) -> dict[str, Any] | None:
    """``summary.json``'s ``authentication``: totals over every domain of the reports."""
    every, own = analysis.authentication, analysis.authentication_own
    if every is None:
        return None
    messages = float(every["messages"].sum())
    failing = float(every["failing"].sum())
    own_messages = float(own["messages"].sum()) if own is not None else 0.0
    own_failing = float(own["failing"].sum()) if own is not None else 0.0
    strangers = analysis.unknown_sources
    unknown = [] if strangers is None else [
        {"source": str(record["source"]), "messages": int(record["messages"]),
         "likely_cause": None if pd.isna(record["likely_cause"]) else str(record["likely_cause"]),
         "domain": str(record["domain"])}
        for record in strangers.to_dict("records")]
    counts = analysis.dmarc_meta or {}
    return {
        "messages": int(messages),
        "dmarc_pass_share": _number(1.0 - failing / messages) if messages else None,
        "failing_share": _number(failing / messages) if messages else None,
        "own_mail_failing_share": _number(own_failing / own_messages) if own_messages else None,
        "unknown_sources": unknown,
        "reports": int(counts.get("reports", 0)),
        "records": int(counts.get("records", 0)),
        "quarantined": int(counts.get("quarantined", 0)),
    }


def _dns_finding_rows(dns: Any) -> list[dict[str, str]]:
    if dns is None or dns.findings.empty:
        return []
    return [{key: str(record[key]) for key in DNS_FINDING_KEYS}
            for record in dns.findings.to_dict("records")]


def _maturity_entry(summary: Mapping[str, Any]) -> dict[str, Any]:
    return {"level": int(summary["level"]), "level_name": str(summary["level_name"]),
            "next_option": None if summary.get("next_option") is None
            else str(summary["next_option"]),
            "missing_for_next": [str(name) for name in summary.get("missing_for_next", [])]}


def _scalar(value: Any) -> float | None:
    """A number out of whatever ``break_even_messages_per_month`` returns."""
    if isinstance(value, Mapping):
        for key in ("p50", "value", "messages_per_month", "break_even_messages_per_month"):
            if key in value:
                return _number(value[key])
    for attribute in ("p50", "value", "messages_per_month"):
        if hasattr(value, attribute):
            return _number(getattr(value, attribute))
    if isinstance(value, pd.Series | np.ndarray) and np.size(value) == 1:
        return _number(np.asarray(value).ravel()[0])
    number = _number(value)
    if number is None and not (isinstance(value, float | int | np.number)):
        raise _Unavailable(f"break_even_messages_per_month returned {type(value).__name__}, "
                           "not a number")
    return number


def _options(result: Any) -> tuple[list[dict], str | None, str | None]:
    """``options`` rows, the recommended option and a note, from a ``compare_options`` result.

    Accepts a result with ``summary()`` or ``options`` / ``recommended_option`` attributes, a
    mapping with those keys, a list of mappings, or a DataFrame with one row per option
    (``name`` or ``option``; ``npv`` as a mapping or ``npv_p10``/``npv_p50``/``npv_p90``;
    ``p_npv_positive``; ``payback_months``).
    """
    recommended = None
    data = result
    if hasattr(data, "summary") and callable(data.summary):
        data = data.summary()
    if hasattr(result, "recommended_option"):
        recommended = result.recommended_option
    if isinstance(data, Mapping):
        recommended = data.get("recommended_option", recommended)
        data = data.get("options", data.get("table"))
    elif hasattr(data, "options") and not isinstance(data, pd.DataFrame):
        recommended = getattr(data, "recommended_option", recommended)
        data = data.options
    if isinstance(data, pd.DataFrame):
        frame = data.reset_index() if "name" not in data and "option" not in data else data
        data = frame.to_dict("records")
    if not isinstance(data, Sequence) or isinstance(data, str):
        raise _Unavailable(f"compare_options returned {type(result).__name__}, which the "
                           "report cannot read")
    rows = []
    for record in data:
        record = dict(record)
        name = record.get("name", record.get("option"))
        npv = record.get("npv")
        if not isinstance(npv, Mapping):
            npv = {key: record.get(f"npv_{key}") for key in ("p10", "p50", "p90")}
        rows.append({
            "name": str(name),
            "npv": _percentiles(npv),
            "p_npv_positive": _number(record.get("p_npv_positive")),
            "payback_months": _number(record.get("payback_months")),
        })
    note = None
    if recommended is None and rows:
        # compare_options names no recommendation: say which rule the report applied.
        ranked = [row for row in rows if row["npv"]["p50"] is not None]
        if ranked:
            recommended = max(ranked, key=lambda row: row["npv"]["p50"])["name"]
            note = ("compare_options gives no recommendation; the option with the highest "
                    "median NPV is shown")
    return rows, (None if recommended is None else str(recommended)), note


def _options_assumptions(result: Any) -> pd.DataFrame | None:
    """The options result's own assumptions table, if it has one, in :data:`ASSUMPTION_COLUMNS`."""
    if result is None:
        return None
    table = getattr(result, "assumptions", None)
    if callable(table):
        table = table()
    if not isinstance(table, pd.DataFrame) or table.empty:
        return None
    renamed = table.rename(columns={"input": "key", "base": "value", "name": "key"})
    for column in ASSUMPTION_COLUMNS:
        if column not in renamed:
            renamed[column] = "" if column in ("unit", "source", "description") else np.nan
    return renamed[list(ASSUMPTION_COLUMNS)]


def _period(events: pd.DataFrame, meta: Mapping[str, Any]):
    start, end = meta.get("time_min"), meta.get("time_max")
    if (start is None or end is None) and len(events):
        start, end = events["timestamp"].min(), events["timestamp"].max()
    if start is None or end is None or pd.isna(start) or pd.isna(end):
        return None
    return pd.Timestamp(start), pd.Timestamp(end)
