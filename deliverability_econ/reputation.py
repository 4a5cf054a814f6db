"""Reputation health: the sender's numbers against the thresholds providers and ESPs publish.

Each check compares one measured value with a published level and says ``ok``, ``warning``
or ``critical``. The levels live in :data:`THRESHOLDS`, a registry of :class:`Threshold`
records, each with its denominator and its source (the fact ids of
``reference/domain-facts.md``), so that notebooks, reports and tests index the same numbers.

The denominators differ and the checks keep them apart (F14): Gmail's spam rate divides spam
reports by mail placed in the **inbox** (F4) and is only known from Google Postmaster Tools;
an ESP's complaint rate divides by **delivered** mail; Amazon SES divides bounces by mail
**sent**. When no Postmaster data is given, the Gmail levels are applied to complaints per
delivered message as a *labelled proxy* (``gmail_spam_rate_proxy``), which understates the
real spam rate (F14) and cannot see Gmail's own complainers, since Gmail sends no per-message
feedback loop (F4).

A status is decided by the point value, as the providers decide it: ``critical`` when the
value reaches the critical level, ``warning`` when it reaches the warning level, else ``ok``.
The interval (``value_low``, ``value_high``) says how sure that verdict is; at low volume a
:class:`~deliverability_econ.rates.LowVolumeWarning` is issued and ``low_volume`` is True.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .cube import CUBE_COUNT_COLUMNS
from .rates import (
    DEFAULT_INTERVAL,
    DEFAULT_MIN_MESSAGES,
    FREQUENCIES,
    LowVolumeWarning,
    as_cube,
    period_start,
    proportion_interval,
)

#: Status values, from good to bad (the order of the output category).
STATUSES: tuple[str, ...] = ("ok", "warning", "critical")


@dataclass(frozen=True)
class Threshold:
    """A published level for one health check.

    Attributes
    ----------
    metric : str
        What is measured.
    unit : str
        Unit of the value and of the levels, e.g. ``fraction 0-1`` or ``messages/day``.
    denominator : str
        What the value is divided by (empty for counts and verdicts).
    warning, critical : float or None
        The value at or above which the status is ``warning`` / ``critical``; None when the
        source gives no such level.
    source : str
        Fact ids of ``reference/domain-facts.md`` and what they say.
    verdicts : mapping, optional
        For checks of a categorical verdict (SNDS colour, Postmaster reputation): verdict ->
        status. The numeric levels then only document what the verdict means.
    """

    metric: str
    unit: str
    denominator: str
    warning: float | None
    critical: float | None
    source: str
    verdicts: Mapping[str, str] = field(default_factory=dict)


#: The registry of health checks, in report order. Keys are the ``check`` names of
#: :func:`health_checks`.
THRESHOLDS: dict[str, Threshold] = {
    "gmail_spam_rate": Threshold(
        metric="user-reported spam rate in Google Postmaster Tools, per domain and day",
        unit="fraction 0-1",
        denominator="messages placed in the Gmail inbox (DKIM-authenticated mail only)",
        warning=0.001,
        critical=0.003,
        source=(
            "F2: Gmail bulk senders should keep the Postmaster spam rate below 0.10% and never "
            "reach 0.30%; F4: the rate is spam reports over inbox-placed DKIM-signed mail; F3: "
            "it is computed daily"
        ),
    ),
    "gmail_spam_rate_proxy": Threshold(
        metric="complaints per delivered message, as a proxy for Gmail's spam rate (no Postmaster data)",
        unit="fraction 0-1",
        denominator="messages delivered at providers other than Gmail (all providers when the cube has no provider column)",
        warning=0.001,
        critical=0.003,
        source=(
            "F2 levels applied to a proxy. F14: ESPs divide by delivered mail, Gmail by "
            "inbox-placed mail, so the proxy understates the real rate; F4: Gmail sends no "
            "per-message feedback loop, so Gmail's complaints are not in ESP logs and Gmail's "
            "deliveries are left out of the denominator"
        ),
    ),
    "postmaster_domain_reputation": Threshold(
        metric="domain reputation in Google Postmaster Tools v1, per domain and day",
        unit="level",
        denominator="",
        warning=None,
        critical=None,
        source=(
            "Postmaster v1 domainReputation (log-formats.md section 9; F6: v2 has no levels). "
            "Kit convention: HIGH and MEDIUM ok, LOW warning, BAD critical"
        ),
        verdicts={"HIGH": "ok", "MEDIUM": "ok", "LOW": "warning", "BAD": "critical"},
    ),
    "ses_bounce_rate": Threshold(
        metric="hard bounces per message sent, account-wide, as Amazon SES reviews it",
        unit="fraction 0-1",
        denominator="messages sent",
        warning=0.05,
        critical=0.10,
        source=(
            "F10: SES asks to keep the bounce rate below 5% and places accounts under review "
            "or pauses sending at 10% (commonly summarized as review at 5%, pause at 10%)"
        ),
    ),
    "ses_complaint_rate": Threshold(
        metric="complaints per message sent, account-wide, as Amazon SES reviews it",
        unit="fraction 0-1",
        denominator="messages sent",
        warning=0.001,
        critical=0.005,
        source=(
            "F10: review at a 0.1% complaint rate, review or pause at 0.5% (the SES guide "
            "names 0.5%; 0.1% is the common summary)"
        ),
    ),
    "hard_bounce_target": Threshold(
        metric="hard bounces per message sent",
        unit="fraction 0-1",
        denominator="messages sent",
        warning=0.02,
        critical=None,
        source="F12: commonly cited healthy target, hard bounce rate under 2%",
    ),
    "complaint_target": Threshold(
        metric="complaints per delivered message",
        unit="fraction 0-1",
        denominator="messages delivered",
        warning=0.001,
        critical=None,
        source="F12: commonly cited healthy target, complaint rate under 0.1% (F11, F14 agree on the level)",
    ),
    "gmail_bulk_sender": Threshold(
        metric="most messages sent to Gmail in one UTC day, up to the end of the period",
        unit="messages/day",
        denominator="",
        warning=5000,
        critical=None,
        source=(
            "F1: close to 5,000 or more messages to personal Gmail accounts in 24 hours make a "
            "bulk sender, permanently; F2: bulk senders need SPF and DKIM, DMARC, alignment, "
            "one-click unsubscribe and a spam rate under 0.3%"
        ),
    ),
    "microsoft_bulk_sender": Threshold(
        metric="most messages sent to Outlook.com/Hotmail/Live in one UTC day, up to the end of the period",
        unit="messages/day",
        denominator="",
        warning=5000,
        critical=None,
        source=(
            "F8: domains sending more than 5,000 messages a day to Outlook.com must pass SPF "
            "and DKIM and publish DMARC (from 5 May 2025), else mail is rejected with 5.7.515"
        ),
    ),
    "snds_filter_result": Threshold(
        metric="Microsoft SNDS filter verdict, per IP and activity window",
        unit="share of the IP's mail judged spam [fraction 0-1]",
        denominator="messages judged by Microsoft's filter (message recipients)",
        warning=0.10,
        critical=0.90,
        source="F13: GREEN under 10% of the IP's mail judged spam, YELLOW 10-90%, RED over 90%",
        verdicts={"GREEN": "ok", "YELLOW": "warning", "RED": "critical"},
    ),
}

#: Bulk-sender checks: check name -> mailbox provider.
BULK_SENDER_PROVIDERS: dict[str, str] = {
    "gmail_bulk_sender": "gmail",
    "microsoft_bulk_sender": "microsoft",
}

#: Columns of :func:`health_checks`.
HEALTH_COLUMNS: tuple[str, ...] = (
    "check",
    "scope",
    "period_start",
    "period_end",
    "value",
    "value_low",
    "value_high",
    "verdict",
    "threshold",
    "threshold_critical",
    "status",
    "denominator",
    "denominator_count",
    "low_volume",
    "source",
)

#: Column names of other Postmaster and SNDS tables (the simulator's) -> the readers' names.
POSTMASTER_ALIASES: dict[str, str] = {
    "user_reported_spam_ratio": "spam_rate",
    "user_reported_spam_ratio_lower_bound": "spam_rate_low",
    "user_reported_spam_ratio_upper_bound": "spam_rate_high",
}
SNDS_ALIASES: dict[str, str] = {"ip_address": "ip"}


def status_of(
    value: np.ndarray | float, warning: float | None, critical: float | None = None
) -> np.ndarray:
    """``"critical"`` where ``value >= critical``, ``"warning"`` where ``value >= warning``,
    else ``"ok"``; NaN values are ``"ok"`` (callers drop them first).

    Examples
    --------
    13 complaints over 10,000 delivered is 0.13%: over Gmail's 0.10%, under its 0.30%.

    >>> status_of(13 / 10_000, 0.001, 0.003).tolist()
    'warning'
    """
    values = np.asarray(value, dtype="float64")
    status = np.full(values.shape, "ok", dtype=object)
    if warning is not None:
        status[values >= warning] = "warning"
    if critical is not None:
        status[values >= critical] = "critical"
    return status


def health_checks(
    cube: pd.DataFrame | None,
    *,
    postmaster: pd.DataFrame | None = None,
    snds: pd.DataFrame | None = None,
    period: str | None = None,
    interval: float = DEFAULT_INTERVAL,
    min_messages: int = DEFAULT_MIN_MESSAGES,
    thresholds: Mapping[str, Threshold] | None = None,
) -> pd.DataFrame:
    """Check a sender's numbers against the published thresholds of :data:`THRESHOLDS`.

    Parameters
    ----------
    cube : DataFrame or None
        A daily cube (:func:`deliverability_econ.daily_cube`), ideally by
        ``mailbox_provider`` (the bulk-sender checks, the per-provider targets and the Gmail
        proxy need that column), or a messages table (cubed by ``mailbox_provider``).
        None to check only ``postmaster`` and ``snds``.
    postmaster : DataFrame, optional
        :func:`deliverability_econ.io.read_postmaster` output (or a table with the
        ``user_reported_spam_ratio`` names). When given, Gmail's spam rate is checked per
        domain and day with its inbox denominator; otherwise the proxy is checked.
    snds : DataFrame, optional
        :func:`deliverability_econ.io.read_snds` output: one verdict check per IP and window.
    period : {None, "D", "W", "M"}
        Windows for the cube's checks: None (default) checks the whole cube at once; ``"D"``,
        ``"W"`` (from Monday) or ``"M"`` one row per window. Postmaster and SNDS rows are
        checked per day / activity window, as the providers compute them.
    interval : float
        Probability content of the Wilson intervals of the rates [fraction 0-1].
    min_messages : int
        Denominator [messages] under which a rate check is flagged ``low_volume`` and a
        :class:`~deliverability_econ.rates.LowVolumeWarning` is issued.
    thresholds : mapping, optional
        A registry like :data:`THRESHOLDS` (e.g. with a stricter level); checks missing from
        it are not run.

    Returns
    -------
    DataFrame
        :data:`HEALTH_COLUMNS`, sorted by check (registry order), scope and period:

        - ``check``: a key of :data:`THRESHOLDS`;
        - ``scope``: ``all``, ``mailbox_provider=gmail``, ``domain=example.com``,
          ``ip=192.0.2.10``, ...;
        - ``period_start``, ``period_end`` (datetime64[ns], UTC days, both included);
        - ``value`` with ``value_low``/``value_high`` (interval, NaN when none) in the unit of
          the threshold; ``verdict`` (string) for categorical checks;
        - ``threshold`` (the warning level), ``threshold_critical`` (NaN when none);
        - ``status``: ordered category ``ok`` < ``warning`` < ``critical``;
        - ``denominator`` (what the value divides by), ``denominator_count`` [messages];
        - ``low_volume`` (bool): denominator under ``min_messages``;
        - ``source``: the fact ids and what they say.

    Examples
    --------
    >>> cube = pd.DataFrame({"date": pd.to_datetime(["2025-03-03"]),
    ...                      "mailbox_provider": ["yahoo"],
    ...                      **{name: [0] for name in CUBE_COUNT_COLUMNS}})
    >>> cube[["messages", "delivered", "complained"]] = [10_000, 10_000, 13]
    >>> checks = health_checks(cube)
    >>> checks[["check", "scope", "value", "status"]]
                      check                   scope   value   status
    0 gmail_spam_rate_proxy  mailbox_provider!=gmail  0.0013  warning
    ...
    """
    registry = dict(THRESHOLDS if thresholds is None else thresholds)
    if period is not None and period not in FREQUENCIES:
        raise ValueError(f"period must be None or one of {FREQUENCIES}, not {period!r}")
    parts: list[pd.DataFrame] = []
    if cube is not None:
        parts.extend(
            _cube_checks(cube, registry, period, interval, min_messages, proxy=postmaster is None)
        )
    if postmaster is not None:
        parts.extend(_postmaster_checks(postmaster, registry))
    if snds is not None:
        parts.extend(_snds_checks(snds, registry))
    parts = [p for p in parts if len(p)]
    if parts:
        table = pd.concat(parts, ignore_index=True)
    else:
        table = pd.DataFrame({c: [] for c in HEALTH_COLUMNS})
    table = _typed(table)
    order = {name: position for position, name in enumerate(registry)}
    table = table.assign(_order=table["check"].map(order).astype("int64"))
    table = table.sort_values(["_order", "scope", "period_start"], kind="stable", ignore_index=True)
    table = table.drop(columns="_order")
    low_volume = int(table["low_volume"].sum())
    if low_volume:
        warnings.warn(
            f"health_checks: {low_volume} of {len(table)} check(s) rest on fewer than "
            f"{min_messages} messages (low_volume column); their status may be noise",
            LowVolumeWarning,
            stacklevel=2,
        )
    return table


# --------------------------------------------------------------------------------------------
# Checks on the cube
# --------------------------------------------------------------------------------------------


def _cube_checks(
    cube: pd.DataFrame,
    registry: Mapping[str, Threshold],
    period: str | None,
    interval: float,
    min_messages: int,
    *,
    proxy: bool,
) -> list[pd.DataFrame]:
    if "sent_at" in cube.columns and "messages" not in cube.columns:
        keys = ["mailbox_provider"] if "mailbox_provider" in cube.columns else []
        cube = as_cube(cube, keys)
    else:
        cube = as_cube(cube, [])
    if cube.empty:
        return []
    has_provider = "mailbox_provider" in cube.columns
    windows = _windows(cube["date"], period)
    frame = cube.assign(period_start=windows["period_start"].to_numpy())
    ends = windows.drop_duplicates("period_start").set_index("period_start")["period_end"]
    parts = []

    def rate_rows(
        check: str, table: pd.DataFrame, numerator: str, denominator: str, scope: pd.Series | str
    ) -> None:
        if check not in registry:
            return
        k = table[numerator].to_numpy(dtype="float64")
        n = table[denominator].to_numpy(dtype="float64")
        k = np.minimum(k, n)
        with np.errstate(divide="ignore", invalid="ignore"):
            value = np.where(n > 0, k / n, np.nan)
        low, high = proportion_interval(k, n, interval, "wilson")
        keep = n > 0
        parts.append(
            _rows(
                check,
                registry[check],
                scope,
                table["period_start"],
                ends,
                value,
                low,
                high,
                n,
                min_messages,
                keep,
            )
        )

    overall = _sum_by(frame, ["period_start"])
    rate_rows("ses_bounce_rate", overall, "bounced_hard", "messages", "all")
    rate_rows("ses_complaint_rate", overall, "complained", "messages", "all")
    rate_rows("hard_bounce_target", overall, "bounced_hard", "messages", "all")
    rate_rows("complaint_target", overall, "complained", "delivered", "all")
    if has_provider:
        by_provider = _sum_by(frame, ["period_start", "mailbox_provider"])
        scope = "mailbox_provider=" + by_provider["mailbox_provider"].astype("string").fillna(
            "<missing>"
        )
        rate_rows("hard_bounce_target", by_provider, "bounced_hard", "messages", scope)
        rate_rows("complaint_target", by_provider, "complained", "delivered", scope)
    if proxy:
        if has_provider:
            others = frame[frame["mailbox_provider"].astype("string").fillna("") != "gmail"]
            proxy_table = _sum_by(others, ["period_start"])
            rate_rows(
                "gmail_spam_rate_proxy",
                proxy_table,
                "complained",
                "delivered",
                "mailbox_provider!=gmail",
            )
        else:
            rate_rows("gmail_spam_rate_proxy", overall, "complained", "delivered", "all")
    if has_provider:
        for check, provider in BULK_SENDER_PROVIDERS.items():
            if check in registry:
                parts.append(_bulk_sender(check, registry[check], provider, frame, ends))
    return parts


def _sum_by(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    counts = [c for c in CUBE_COUNT_COLUMNS if c != "delivery_latency_s_sum"]
    return frame.groupby(keys, sort=True, dropna=False, observed=True)[counts].sum().reset_index()


def _windows(dates: pd.Series, period: str | None) -> pd.DataFrame:
    dates = pd.to_datetime(dates).astype("datetime64[ns]").reset_index(drop=True)
    if period is None:
        start = pd.Series(dates.min(), index=dates.index)
        end = pd.Series(dates.max(), index=dates.index)
    else:
        start = period_start(dates, period)
        if period == "D":
            end = start
        elif period == "W":
            end = start + pd.Timedelta(days=6)
        else:
            end = start + pd.offsets.MonthEnd(0)
    return pd.DataFrame({"period_start": start, "period_end": end.astype("datetime64[ns]")})


def _bulk_sender(
    check: str, threshold: Threshold, provider: str, frame: pd.DataFrame, ends: pd.Series
) -> pd.DataFrame:
    of_provider = frame[frame["mailbox_provider"].astype("string").fillna("") == provider]
    daily = of_provider.groupby(["period_start", "date"], sort=True)["messages"].sum().reset_index()
    peak = daily.groupby("period_start")["messages"].max().reindex(ends.index, fill_value=0)
    peak = peak.sort_index()
    # The status is permanent once reached (F1): carry the running maximum forward.
    running = peak.cummax().to_numpy(dtype="float64")
    return _rows(
        check,
        threshold,
        f"mailbox_provider={provider}",
        pd.Series(peak.index),
        ends,
        running,
        np.full(len(peak), np.nan),
        np.full(len(peak), np.nan),
        np.full(len(peak), np.nan),
        0,
        np.ones(len(peak), dtype=bool),
    )


def _rows(
    check: str,
    threshold: Threshold,
    scope: pd.Series | str,
    starts: pd.Series,
    ends: pd.Series,
    value: np.ndarray,
    low: np.ndarray,
    high: np.ndarray,
    denominator_count: np.ndarray,
    min_messages: int,
    keep: np.ndarray,
) -> pd.DataFrame:
    starts = pd.Series(pd.to_datetime(starts).to_numpy(dtype="datetime64[ns]"))
    count = np.asarray(denominator_count, dtype="float64")
    rows = pd.DataFrame(
        {
            "check": check,
            "scope": scope.to_numpy() if isinstance(scope, pd.Series) else scope,
            "period_start": starts,
            "period_end": starts.map(ends).to_numpy(dtype="datetime64[ns]"),
            "value": value,
            "value_low": low,
            "value_high": high,
            "verdict": None,
            "threshold": _level(threshold.warning),
            "threshold_critical": _level(threshold.critical),
            "status": status_of(value, threshold.warning, threshold.critical),
            "denominator": threshold.denominator,
            "denominator_count": count,
            "low_volume": (count < min_messages) if threshold.denominator else False,
            "source": threshold.source,
        }
    )
    return rows[np.asarray(keep, dtype=bool)]


def _level(value: float | None) -> float:
    return math.nan if value is None else float(value)


# --------------------------------------------------------------------------------------------
# Postmaster and SNDS
# --------------------------------------------------------------------------------------------


def _postmaster_checks(
    postmaster: pd.DataFrame, registry: Mapping[str, Threshold]
) -> list[pd.DataFrame]:
    table = postmaster.rename(
        columns={
            k: v
            for k, v in POSTMASTER_ALIASES.items()
            if k in postmaster.columns and v not in postmaster.columns
        }
    )
    missing = [c for c in ("date", "domain") if c not in table.columns]
    if missing:
        raise ValueError(
            "postmaster needs read_postmaster() output (date, domain, spam_rate, ...); missing "
            + ", ".join(missing)
        )
    days = pd.Series(pd.to_datetime(table["date"]).dt.floor("D").to_numpy(dtype="datetime64[ns]"))
    scope = ("domain=" + table["domain"].astype("string")).to_numpy()
    parts = []
    check = "gmail_spam_rate"
    if check in registry and "spam_rate" in table.columns:
        threshold = registry[check]
        value = table["spam_rate"].to_numpy(dtype="float64")
        low = _column(table, "spam_rate_low")
        high = _column(table, "spam_rate_high")
        count = _column(table, "inbox")
        part = pd.DataFrame(
            {
                "check": check,
                "scope": scope,
                "period_start": days,
                "period_end": days,
                "value": value,
                "value_low": low,
                "value_high": high,
                "verdict": None,
                "threshold": _level(threshold.warning),
                "threshold_critical": _level(threshold.critical),
                "status": status_of(value, threshold.warning, threshold.critical),
                "denominator": threshold.denominator,
                "denominator_count": count,
                "low_volume": False,
                "source": threshold.source,
            }
        )
        parts.append(part[~np.isnan(value)])
    check = "postmaster_domain_reputation"
    if check in registry and "domain_reputation" in table.columns:
        parts.append(
            _verdict_rows(
                check, registry[check], scope, days, days, table["domain_reputation"], None
            )
        )
    return parts


def _snds_checks(snds: pd.DataFrame, registry: Mapping[str, Threshold]) -> list[pd.DataFrame]:
    check = "snds_filter_result"
    if check not in registry:
        return []
    table = snds.rename(
        columns={
            k: v for k, v in SNDS_ALIASES.items() if k in snds.columns and v not in snds.columns
        }
    )
    missing = [
        c
        for c in ("ip", "activity_start", "activity_end", "filter_result")
        if c not in table.columns
    ]
    if missing:
        raise ValueError("snds needs read_snds() output; missing " + ", ".join(missing))
    starts = _utc_days(table["activity_start"])
    ends = _utc_days(table["activity_end"])
    scope = ("ip=" + table["ip"].astype("string")).to_numpy()
    count = _column(table, "message_recipients")
    return [
        _verdict_rows(check, registry[check], scope, starts, ends, table["filter_result"], count)
    ]


def _verdict_rows(
    check: str,
    threshold: Threshold,
    scope: np.ndarray,
    starts: pd.Series,
    ends: pd.Series,
    verdicts: pd.Series,
    count: np.ndarray | None,
) -> pd.DataFrame:
    verdict = verdicts.astype("string").str.strip().str.upper()
    known = verdict.isin(list(threshold.verdicts)).fillna(False).to_numpy(dtype=bool)
    unknown = verdict[~known & verdict.notna().to_numpy()]
    if len(unknown):
        raise ValueError(
            f"{check}: verdict(s) {sorted(set(unknown))} not among {list(threshold.verdicts)}"
        )
    status = verdict.map(dict(threshold.verdicts))
    part = pd.DataFrame(
        {
            "check": check,
            "scope": scope,
            "period_start": starts.to_numpy(),
            "period_end": ends.to_numpy(),
            "value": np.nan,
            "value_low": np.nan,
            "value_high": np.nan,
            "verdict": verdict.to_numpy(),
            "threshold": _level(threshold.warning),
            "threshold_critical": _level(threshold.critical),
            "status": status.to_numpy(),
            "denominator": threshold.denominator,
            "denominator_count": np.nan if count is None else count,
            "low_volume": False,
            "source": threshold.source,
        }
    )
    return part[known]


def _column(table: pd.DataFrame, name: str) -> np.ndarray:
    if name not in table.columns:
        return np.full(len(table), np.nan)
    return pd.to_numeric(table[name], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _utc_days(times: pd.Series) -> pd.Series:
    times = pd.to_datetime(times, utc=True)
    return pd.Series(times.dt.tz_localize(None).dt.floor("D").to_numpy(dtype="datetime64[ns]"))


def _typed(table: pd.DataFrame) -> pd.DataFrame:
    table = table[list(HEALTH_COLUMNS)].reset_index(drop=True)
    out = pd.DataFrame(
        {
            "check": table["check"].astype("string"),
            "scope": table["scope"].astype("string"),
            "period_start": pd.to_datetime(table["period_start"]).astype("datetime64[ns]"),
            "period_end": pd.to_datetime(table["period_end"]).astype("datetime64[ns]"),
        }
    )
    for name in ("value", "value_low", "value_high"):
        out[name] = table[name].astype("float64")
    out["verdict"] = table["verdict"].astype("string")
    out["threshold"] = table["threshold"].astype("float64")
    out["threshold_critical"] = table["threshold_critical"].astype("float64")
    out["status"] = pd.Categorical(table["status"], categories=list(STATUSES), ordered=True)
    out["denominator"] = table["denominator"].astype("string")
    out["denominator_count"] = pd.array(
        table["denominator_count"].astype("float64").to_numpy(), dtype="Float64"
    ).astype("Int64")
    out["low_volume"] = table["low_volume"].astype(bool)
    out["source"] = table["source"].astype("string")
    return out
