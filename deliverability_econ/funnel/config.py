"""Funnel configuration: TOML in, a validated :class:`FunnelConfig` out.

A config only says what differs from the defaults (:data:`~._defaults.DEFAULTS`)::

    currency = "EUR"

    [counterfactual]
    placement = "top_reputation"        # a name, a fraction, {value, low, high}, or per provider
    in_time_share = 1.0

    [money]
    customer_lifetime_value = { value = 3000, low = 1500, high = 6000 }
    support_ticket_cost = 25            # a bare number is a known value (no range)

    [funnels.signup]                    # a funnel named after a template uses that template
    stream = "verify-email"             # the stream name in your logs
    conversion_type = "verified"        # the type in your conversions file
    [funnels.signup.stages.activation]
    conversion = { value = 0.30, low = 0.20, high = 0.40 }

    [funnels.enterprise_signup]         # any other name needs a template
    template = "signup"
    stream = "verify-enterprise"

Without a ``[funnels]`` table every template is modelled; with one, only the funnels it lists
(each completed with its template's defaults). Probabilities are fractions: ``35`` where
``0.35`` is meant is an error that says so. Every error is a :class:`ConfigError` naming the
file and the key path.
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..schema import MAILBOX_PROVIDERS
from ._defaults import (
    COUNTERFACTUAL_PLACEMENTS,
    COUNTERFACTUAL_SOURCES,
    CURRENCY,
    DEFAULT_COUNTERFACTUAL,
    DEFAULTS,
    FRACTION,
    GENERIC_EMAIL_DEFAULTS,
    TEMPLATES,
    CostLineTemplate,
    Parameter,
    stage_parameter_names,
)

_TOP_LEVEL_KEYS = ("currency", "counterfactual", "money", "funnels")
_FUNNEL_KEYS = ("template", "stream", "conversion_type", "stages")
_COUNTERFACTUAL_KEYS = ("placement", "in_time_share")
_RANGE_KEYS = ("value", "low", "high")
_CURRENCY_PATTERN = re.compile(r"^[A-Z]{3}$")


class ConfigError(ValueError):
    """A bad funnel config: names the file, the key path and what is wrong.

    Attributes
    ----------
    source : str
        The file (or ``<dict>`` for a config given as a mapping).
    key : str
        Dotted key path, e.g. ``funnels.signup.stages.activation.conversion``.
    reason : str
    """

    def __init__(self, source: str, key: str, reason: str):
        self.source, self.key, self.reason = source, key, reason
        super().__init__(f"{source}: {key}: {reason}" if key else f"{source}: {reason}")


@dataclass(frozen=True)
class Stage:
    """A stage of a configured funnel with its resolved parameters (name -> Parameter)."""

    name: str
    kind: str
    parameters: dict[str, Parameter]


@dataclass(frozen=True)
class Funnel:
    """A configured funnel: which stream drives it, its stages and cost lines.

    The first stage is the email stage; the others follow it in order.
    """

    name: str
    template: str
    stream: str
    conversion_type: str
    stages: tuple[Stage, ...]
    cost_lines: tuple[CostLineTemplate, ...]

    @property
    def email_stage(self) -> Stage:
        return self.stages[0]

    def parameter(self, stage: str, name: str) -> Parameter:
        for candidate in self.stages:
            if candidate.name == stage:
                return candidate.parameters[name]
        raise KeyError(f"funnel {self.name!r} has no stage {stage!r}")


@dataclass(frozen=True)
class CounterfactualPlacement:
    """Inbox placement to compare against [fraction 0-1 of messages sent]: per mailbox
    provider a (value, low, high), ``"*"`` for any provider not listed."""

    by_provider: dict[str, tuple[float, float, float]]
    label: str

    def for_provider(self, provider: str) -> tuple[float, float, float]:
        return self.by_provider.get(provider, self.by_provider.get("*", (math.nan,) * 3))


@dataclass(frozen=True)
class FunnelConfig:
    """Validated funnels, money parameters, currency and counterfactual.

    Build one with :func:`load_funnels` (a TOML file), :func:`funnels_from_mapping` or
    :func:`default_funnels`; change parameters with :meth:`with_parameters`.
    """

    funnels: dict[str, Funnel]
    money: dict[str, Parameter]
    currency: str = "USD"
    counterfactual: CounterfactualPlacement = field(
        default_factory=lambda: _named_counterfactual(DEFAULT_COUNTERFACTUAL))
    in_time_share: Parameter = DEFAULTS["counterfactual.in_time_share"]
    source: str = "<defaults>"

    def parameters(self) -> dict[str, Parameter]:
        """Every parameter by key: ``<funnel>.<stage>.<name>``, ``money.<name>`` and
        ``counterfactual.in_time_share``."""
        out: dict[str, Parameter] = {}
        for funnel in self.funnels.values():
            for stage in funnel.stages:
                for name, parameter in stage.parameters.items():
                    out[f"{funnel.name}.{stage.name}.{name}"] = parameter
        for name, parameter in self.money.items():
            out[f"money.{name}"] = parameter
        out["counterfactual.in_time_share"] = self.in_time_share
        return out

    def with_parameters(self, values: Mapping[str, Any], source: str = "<override>") -> FunnelConfig:
        """A copy with some parameters replaced.

        Parameters
        ----------
        values : mapping
            Key (as in :meth:`parameters`) -> a number (a known value), a mapping with
            ``value``, ``low``, ``high``, a ``(value, low, high)`` tuple, or a
            :class:`Parameter`. The output of
            :func:`~deliverability_econ.funnel.estimate_conversion` converts with
            :func:`~deliverability_econ.funnel.estimated_parameters`.
        source : str
            Named in errors.

        Raises
        ------
        ConfigError
            For an unknown key or a bad value.
        """
        known = self.parameters()
        funnels = {name: funnel for name, funnel in self.funnels.items()}
        money = dict(self.money)
        in_time_share = self.in_time_share
        for key, raw in values.items():
            if key not in known:
                raise ConfigError(source, key, "unknown parameter; known: " + ", ".join(known))
            if isinstance(raw, tuple) and len(raw) == 3:
                raw = dict(zip(_RANGE_KEYS, raw, strict=True))
            new = raw if isinstance(raw, Parameter) else _parameter(raw, known[key], source, key)
            head, _, rest = key.partition(".")
            if head == "money":
                money[rest] = new
            elif head == "counterfactual":
                in_time_share = new
            else:
                stage_name, _, name = rest.partition(".")
                funnel = funnels[head]
                stages = tuple(
                    replace(s, parameters={**s.parameters, name: new}) if s.name == stage_name else s
                    for s in funnel.stages
                )
                funnels[head] = replace(funnel, stages=stages)
        return replace(self, funnels=funnels, money=money, in_time_share=in_time_share)


def load_funnels(path: str | Path) -> FunnelConfig:
    """Read a funnel config from a TOML file (see the module docstring for the layout).

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    FunnelConfig

    Raises
    ------
    ConfigError
        For a file that is not valid TOML, an unknown key, template or stage, a probability
        outside [0, 1] (a percent such as ``35`` where ``0.35`` is meant is named as such), a
        parameter table without ``value``, a range with ``low > high``, or a value outside its
        range; the message names the file and the key path.
    FileNotFoundError
        If the file does not exist.
    """
    path = Path(path)
    text = path.read_bytes()
    try:
        data = tomllib.loads(text.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), "", f"not valid TOML: {exc}") from exc
    return funnels_from_mapping(data, source=str(path))


def default_funnels() -> FunnelConfig:
    """Every template with its defaults, currency USD, counterfactual ``top_reputation``."""
    return funnels_from_mapping({}, source="<defaults>")


def funnels_from_mapping(data: Mapping[str, Any], source: str = "<dict>") -> FunnelConfig:
    """Validate a config given as a mapping (the parsed TOML); see :func:`load_funnels`."""
    _check_keys(data, _TOP_LEVEL_KEYS, source, "")
    currency = data.get("currency", "USD")
    if not isinstance(currency, str) or not _CURRENCY_PATTERN.match(currency):
        raise ConfigError(source, "currency",
                          f"must be an ISO 4217 code of three capital letters, not {currency!r}")

    money_table = _table(data.get("money", {}), source, "money")
    money_defaults = {k.split(".", 1)[1]: p for k, p in DEFAULTS.items() if k.startswith("money.")}
    _check_keys(money_table, tuple(money_defaults), source, "money")
    money = {
        name: (_parameter(money_table[name], default, source, f"money.{name}")
               if name in money_table else default)
        for name, default in money_defaults.items()
    }

    counterfactual_table = _table(data.get("counterfactual", {}), source, "counterfactual")
    _check_keys(counterfactual_table, _COUNTERFACTUAL_KEYS, source, "counterfactual")
    counterfactual = _counterfactual(
        counterfactual_table.get("placement", DEFAULT_COUNTERFACTUAL), source,
        "counterfactual.placement")
    in_time_default = DEFAULTS["counterfactual.in_time_share"]
    in_time_share = (
        _parameter(counterfactual_table["in_time_share"], in_time_default, source,
                   "counterfactual.in_time_share")
        if "in_time_share" in counterfactual_table else in_time_default
    )

    if "funnels" in data:
        funnel_tables = _table(data["funnels"], source, "funnels")
        if not funnel_tables:
            raise ConfigError(source, "funnels", "lists no funnel; omit the table for all of them")
    else:
        funnel_tables = {name: {} for name in TEMPLATES}
    funnels = {
        name: _funnel(name, _table(table, source, f"funnels.{name}"), source)
        for name, table in funnel_tables.items()
    }
    streams: dict[str, str] = {}
    for funnel in funnels.values():
        # One stream feeding two funnels would count its lost conversions twice.
        if funnel.stream in streams:
            raise ConfigError(
                source, f"funnels.{funnel.name}.stream",
                f"stream {funnel.stream!r} already drives funnel {streams[funnel.stream]!r}")
        streams[funnel.stream] = funnel.name
    return FunnelConfig(funnels=funnels, money=money, currency=currency,
                        counterfactual=counterfactual, in_time_share=in_time_share, source=source)


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _funnel(name: str, table: Mapping[str, Any], source: str) -> Funnel:
    path = f"funnels.{name}"
    _check_keys(table, _FUNNEL_KEYS, source, path)
    template_name = table.get("template", name)
    if template_name not in TEMPLATES:
        key = f"{path}.template" if "template" in table else path
        raise ConfigError(source, key, f"unknown funnel template {template_name!r}; known: "
                          + ", ".join(TEMPLATES) + " (set template = ... for a funnel of your own)")
    template = TEMPLATES[template_name]
    stream = _text(table.get("stream", template.stream), source, f"{path}.stream")
    conversion_type = _text(table.get("conversion_type", template.conversion_type), source,
                            f"{path}.conversion_type")
    stage_tables = _table(table.get("stages", {}), source, f"{path}.stages")
    _check_keys(stage_tables, tuple(s.name for s in template.stages), source, f"{path}.stages",
                what="stage")
    stages = []
    for stage_template in template.stages:
        stage_path = f"{path}.stages.{stage_template.name}"
        overrides = _table(stage_tables.get(stage_template.name, {}), source, stage_path)
        allowed = stage_parameter_names(stage_template.kind)
        _check_keys(overrides, allowed, source, stage_path)
        parameters = {}
        for parameter_name in allowed:
            default = DEFAULTS.get(f"{template_name}.{stage_template.name}.{parameter_name}")
            if default is None:
                default = GENERIC_EMAIL_DEFAULTS[parameter_name]
            if parameter_name in overrides:
                parameters[parameter_name] = _parameter(
                    overrides[parameter_name], default, source, f"{stage_path}.{parameter_name}")
            else:
                parameters[parameter_name] = default
        stages.append(Stage(stage_template.name, stage_template.kind, parameters))
    email = stages[0].name
    generic = (
        CostLineTemplate("support_overhead", email,
                         (f"{email}.tickets_per_lost_conversion", "money.support_ticket_cost")),
        CostLineTemplate("churn", email,
                         (f"{email}.churn_per_lost_conversion", "money.monthly_recurring_revenue",
                          "money.remaining_lifetime_months")),
    )
    return Funnel(name, template_name, stream, conversion_type, tuple(stages),
                  template.cost_lines + generic)


def _counterfactual(raw: Any, source: str, key: str) -> CounterfactualPlacement:
    if isinstance(raw, str):
        if raw not in COUNTERFACTUAL_PLACEMENTS:
            raise ConfigError(source, key, f"unknown placement {raw!r}; known: "
                              + ", ".join(COUNTERFACTUAL_PLACEMENTS)
                              + ", a fraction, or a table per mailbox provider")
        return _named_counterfactual(raw)
    template = Parameter(0.9, 0.9, 0.9, FRACTION, "config", "inbox placement")
    if isinstance(raw, Mapping) and not set(raw) <= set(_RANGE_KEYS):
        unknown = [p for p in raw if p != "*" and p not in MAILBOX_PROVIDERS]
        if unknown:
            raise ConfigError(source, f"{key}.{unknown[0]}",
                              "unknown mailbox provider; known: " + ", ".join(MAILBOX_PROVIDERS)
                              + ' and "*" for the others')
        by_provider = {}
        for provider, value in raw.items():
            p = _parameter(value, template, source, f"{key}.{provider}")
            by_provider[str(provider)] = (p.value, p.low, p.high)
        return CounterfactualPlacement(by_provider, "config (per provider)")
    p = _parameter(raw, template, source, key)
    return CounterfactualPlacement({"*": (p.value, p.low, p.high)}, f"target {p.value:g}")


def _named_counterfactual(name: str) -> CounterfactualPlacement:
    return CounterfactualPlacement(dict(COUNTERFACTUAL_PLACEMENTS[name]),
                                   f"{name}: {COUNTERFACTUAL_SOURCES[name]}")


def _parameter(raw: Any, default: Parameter, source: str, key: str) -> Parameter:
    """A config value -> Parameter, checked against the default's unit."""
    if isinstance(raw, Mapping):
        unknown = [k for k in raw if k not in _RANGE_KEYS]
        if unknown:
            raise ConfigError(source, f"{key}.{unknown[0]}",
                              "unknown key; a parameter table takes value, low and high")
        if "value" not in raw:
            raise ConfigError(source, key, "missing value: a parameter table needs value = ... "
                              "(low and high give its range)")
        if ("low" in raw) != ("high" in raw):
            raise ConfigError(source, key, "give both low and high, or neither")
        value = _number(raw["value"], default, source, f"{key}.value")
        low = _number(raw.get("low", value), default, source, f"{key}.low")
        high = _number(raw.get("high", value), default, source, f"{key}.high")
        if low > high:
            raise ConfigError(source, key, f"range low = {low:g} is above high = {high:g}")
        if not low <= value <= high:
            raise ConfigError(source, key,
                              f"value = {value:g} is outside its range [{low:g}, {high:g}]")
        return default.with_values(value, low, high, "config")
    value = _number(raw, default, source, key)
    return default.with_values(value, value, value, "config")


def _number(raw: Any, default: Parameter, source: str, key: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ConfigError(source, key, f"must be a number or a table {{value, low, high}}, "
                          f"not {raw!r}" if raw is not None else "missing value")
    value = float(raw)
    if not math.isfinite(value):
        raise ConfigError(source, key, f"must be a finite number, not {raw!r}")
    if default.unit == FRACTION:
        if 1.0 < value <= 100.0:
            raise ConfigError(
                source, key,
                f"{raw!r} is above 1 and looks like a percent written where a fraction belongs: "
                f"probabilities are fractions in [0, 1], write {value / 100:g} for {value:g}%")
        if not 0.0 <= value <= 1.0:
            raise ConfigError(source, key,
                              f"is a probability and must be in [0, 1] (a fraction), not {raw!r}")
    elif default.unit == "messages" and value < 1:
        raise ConfigError(source, key, f"is a number of messages, at least 1, not {raw!r}")
    elif value < 0:
        unit = "an amount of money" if default.unit == CURRENCY else f"in {default.unit}"
        raise ConfigError(source, key, f"is {unit} and cannot be negative ({raw!r})")
    return value


def _text(raw: Any, source: str, key: str) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise ConfigError(source, key, f"must be a non-empty string, not {raw!r}")
    return raw


def _table(raw: Any, source: str, key: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise ConfigError(source, key, f"must be a table, not {raw!r}")
    return raw


def _check_keys(table: Mapping[str, Any], allowed: tuple[str, ...], source: str, path: str,
                what: str = "key") -> None:
    for key in table:
        if key not in allowed:
            where = f"{path}.{key}" if path else str(key)
            raise ConfigError(source, where, f"unknown {what}; known: " + ", ".join(allowed))
