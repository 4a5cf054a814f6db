"""deliverability_econ: the economics of email deliverability, from the logs a sender already has."""

from __future__ import annotations

# Defined before the submodules are imported: some of them read it while the package loads.
__version__ = "0.1.0"

from . import (
    auth_impact,
    authentication,
    dns_checks,
    finance,
    funnel,
    maturity,
    scenarios,
    schema,
    warmup,
)
from .auth_impact import authentication_fix_value
from .authentication import authentication_summary, source_summary, unknown_sources
from .cube import daily_cube
from .dns_checks import check_dns
from .funnel import (
    ConfigError,
    FunnelWarning,
    cost_lines,
    default_funnels,
    estimate_conversion,
    funnel_impact,
    leakage,
    load_funnels,
    read_conversions,
    revenue_at_risk,
)
from .io import InputFormatError, read_dmarc_aggregate, read_events, read_messages
from .maturity import assess_maturity
from .messages import messages
from .placement import PlacementEstimator, estimate_placement, naive_inbox_rate
from .rates import LowVolumeWarning, delivery_latency, late_share, proportion_interval, rates
from .reputation import THRESHOLDS, health_checks
from .scenarios import break_even_messages_per_month, compare_options, simulate_option
from .schema import validate_events
from .signals import SIGNALS as RISK_SIGNALS
from .signals import risk_signals

__all__ = [
    "PlacementEstimator",
    "estimate_placement",
    "naive_inbox_rate",
    "RISK_SIGNALS",
    "risk_signals",
    "THRESHOLDS",
    "ConfigError",
    "FunnelWarning",
    "InputFormatError",
    "cost_lines",
    "default_funnels",
    "estimate_conversion",
    "finance",
    "funnel",
    "scenarios",
    "simulate_option",
    "compare_options",
    "break_even_messages_per_month",
    "funnel_impact",
    "leakage",
    "load_funnels",
    "read_conversions",
    "revenue_at_risk",
    "LowVolumeWarning",
    "delivery_latency",
    "health_checks",
    "late_share",
    "proportion_interval",
    "rates",
    "daily_cube",
    "messages",
    "read_events",
    "read_messages",
    "schema",
    "validate_events",
    "warmup",
    "assess_maturity",
    "auth_impact",
    "authentication",
    "authentication_fix_value",
    "authentication_summary",
    "check_dns",
    "dns_checks",
    "maturity",
    "read_dmarc_aggregate",
    "source_summary",
    "unknown_sources",
    "__version__",
]
