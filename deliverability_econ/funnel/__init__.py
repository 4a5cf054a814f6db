"""What deliverability costs: lifecycle funnels, leakage and four cost lines.

A funnel is a chain of stages driven by one mail stream (verification -> activation -> paid;
onboarding -> activation; demo confirmation -> demo held -> opportunity -> won; password reset
-> sign-in, time-critical; renewal reminders -> renewal; dunning -> recovered payment;
newsletter -> click -> purchase: :data:`TEMPLATES`). Its email stage converts with
``conversion_if_seen`` when the message was seen (in the inbox, in time) and with
``conversion_if_unseen`` otherwise; conversions lost against a counterfactual placement become
money along four lines: lost revenue, wasted acquisition cost, support overhead, churn.

Modules: :mod:`._defaults` (templates and the documented registry :data:`DEFAULTS`),
:mod:`.config` (TOML configs, :class:`ConfigError`), :mod:`.impact` (leakage, cost lines,
revenue at risk, Monte Carlo) and :mod:`.conversions` (the sender's own conversions).

Examples
--------
>>> from deliverability_econ.funnel import default_funnels, DEFAULTS
>>> config = default_funnels()
>>> sorted(config.funnels)[:3]
['demo', 'dunning', 'newsletter']
>>> DEFAULTS["signup.activation.conversion"].value
0.375
"""

from __future__ import annotations

from ._defaults import (
    COST_LINE_MEANINGS,
    COST_LINES,
    COUNTERFACTUAL_PLACEMENTS,
    DEFAULTS,
    TEMPLATES,
    Parameter,
    defaults_table,
)
from .config import (
    ConfigError,
    CounterfactualPlacement,
    Funnel,
    FunnelConfig,
    Stage,
    default_funnels,
    funnels_from_mapping,
    load_funnels,
)
from .conversions import (
    attribute_conversions,
    estimate_conversion,
    estimated_parameters,
    read_conversions,
)
from .impact import (
    FunnelImpact,
    FunnelWarning,
    RevenueAtRisk,
    cost_lines,
    funnel_impact,
    leakage,
    revenue_at_risk,
)

__all__ = [
    "COST_LINES", "COST_LINE_MEANINGS", "COUNTERFACTUAL_PLACEMENTS", "DEFAULTS", "TEMPLATES",
    "ConfigError", "CounterfactualPlacement", "Funnel", "FunnelConfig", "FunnelImpact",
    "FunnelWarning", "Parameter", "RevenueAtRisk", "Stage", "attribute_conversions",
    "cost_lines", "default_funnels", "defaults_table", "estimate_conversion",
    "estimated_parameters", "funnel_impact", "funnels_from_mapping", "leakage",
    "load_funnels", "read_conversions", "revenue_at_risk",
]
