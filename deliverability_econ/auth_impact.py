"""What failing authentication does to placement and money.

Since 2024-2025 the largest mailbox providers refuse or junk bulk mail that does not pass DMARC
(SPF or DKIM aligned with the From domain): Gmail rejects it with 5.7.26 (F3; temporary and
permanent rejections since November 2025), Microsoft's consumer domains with
``550 5.7.515`` since May 2025 (F8), Yahoo enforces the same requirements since February 2024
(F7). :data:`PROVIDER_RULES` holds these rules with their sources.

Mail a provider **rejects** counts as missing; mail it **junks** lands in spam. Given the share
of each provider's mail that fails DMARC (from DMARC aggregate reports:
:func:`deliverability_econ.authentication.authentication_summary` with
``by=("domain", "mailbox_provider")``, or fail shares given directly),
:func:`authentication_impact` says how much of that provider's mail is missing or junked
because of it. :func:`authentication_fix_value` turns the difference into money with the funnel
model (:func:`deliverability_econ.funnel.funnel_impact`): the placement the sender has now
against the placement it would have if every message authenticated.

The placement model. At a provider, authenticated mail lands ``inbox_a``, ``spam_a``,
``missing_a`` [fractions of messages sent]. A share ``f_r`` of all mail fails and is rejected,
a share ``f_j`` fails and is junked (``f = f_r + f_j``); junked mail that is delivered goes to
spam. Then the observed placement is::

    inbox   = (1 - f) * inbox_a
    spam    = (1 - f) * spam_a + f_j * (1 - missing_a)
    missing = (1 - f) * missing_a + f_r + f_j * missing_a

and, inverted, ``inbox_a = inbox / (1 - f)``, ``missing_a = (missing - f_r) / (1 - f_r)``,
``spam_a = 1 - inbox_a - missing_a``. Without an observed placement the authenticated placement
is the section 9 benchmark per provider (:data:`~deliverability_econ.funnel.COUNTERFACTUAL_PLACEMENTS`
``"benchmark"``) with F15's split of the rest (7% spam, 10% missing of 17% not in the inbox).

Examples
--------
A fifth of Gmail's mail fails DMARC; Gmail rejects it (F3). Observed: 60% inbox, 10% spam, 30%
missing. Fixed: ``0.60 / 0.8 = 0.75`` inbox, ``(0.30 - 0.20) / 0.8 = 0.125`` missing:

>>> import pandas as pd
>>> placement = pd.DataFrame({"mailbox_provider": ["gmail"], "inbox_rate": [0.60],
...     "inbox_low": [0.60], "inbox_high": [0.60], "spam_rate": [0.10], "missing_rate": [0.30]})
>>> impact = authentication_impact({"gmail": 0.20})
>>> print(impact[["mailbox_provider", "action", "missing_share"]].to_string(index=False))
mailbox_provider action  missing_share
           gmail reject            0.2
>>> fixed = authenticated_placement(placement, impact)
>>> fixed[["inbox_rate", "spam_rate", "missing_rate"]].round(3).to_numpy().tolist()
[[0.75, 0.125, 0.125]]
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ._random import RandomState
from .funnel import COUNTERFACTUAL_PLACEMENTS, FunnelConfig, FunnelImpact, funnel_impact


class AuthenticationWarning(UserWarning):
    """An authentication-impact computation that rests on a fallback (fail shares that the
    observed placement cannot hold, a provider failing entirely)."""


@dataclass(frozen=True)
class ProviderRule:
    """How a mailbox provider treats bulk mail that fails DMARC.

    Attributes
    ----------
    action : {"reject", "junk", "none"}
        What happens to the failing mail: refused (counts as missing), spam-foldered, nothing.
    bulk_threshold : float or None
        Messages a day to the provider from which a sender is a bulk sender [messages/day];
        None when the rule applies to every sender.
    in_force_from : str
        Date of enforcement (ISO).
    source : str
        Fact ids of domain-facts.md.
    note : str
    """

    action: str
    bulk_threshold: float | None
    in_force_from: str
    source: str
    note: str = ""

    def __post_init__(self):
        if self.action not in ("reject", "junk", "none"):
            raise ValueError(f"action must be 'reject', 'junk' or 'none', not {self.action!r}")


#: Provider -> rule for DMARC-failing bulk mail. Providers not listed take no action here.
PROVIDER_RULES: dict[str, ProviderRule] = {
    "gmail": ProviderRule(
        "reject", 5000.0, "2024-02-01", "F1, F2, F3",
        "bulk: ~5,000 a day to personal Gmail, permanent once reached (F1); unauthenticated mail "
        "spam-foldered or rejected with 5.7.26, rejections ramped up from November 2025 (F3)"),
    "microsoft": ProviderRule(
        "reject", 5000.0, "2025-05-05", "F8",
        "outlook.com, hotmail.com, live.com above 5,000 a day: 550 5.7.515 since the amendment of "
        "29 April 2025 (the first plan was junk-foldering)"),
    "yahoo": ProviderRule(
        "junk", 5000.0, "2024-02-01", "F7",
        "the requirements are enforced since February 2024 (F7), the action is not stated: "
        "assumed spam-foldering, the milder of F3's two; the threshold is Google's (F1), "
        "announced jointly. Override with 'reject' if your bounces show 5.7.9 refusals"),
}

#: Share of non-inbox mail that lands in spam rather than missing [fraction 0-1]: F15 (Validity
#: 2020: 7% spam and 10% missing of the 17% not in the inbox), for the benchmark placement.
SPAM_SHARE_OF_NOT_INBOX = 0.07 / 0.17

_FAIL_ALIASES = ("failing_share", "fail_share", "dmarc_fail_share")
_PASS_ALIASES = ("dmarc_pass_share", "aligned_share", "pass_share")
_VOLUME_ALIASES = ("messages", "count", "message_count", "volume")


def _fail_shares(authentication, include_spf_only: bool) -> pd.DataFrame:
    """``mailbox_provider``, ``messages``, ``failing_share`` from a summary or a mapping."""
    if isinstance(authentication, Mapping):
        rows = [{"mailbox_provider": str(k), "messages": np.nan, "failing_share": float(v)}
                for k, v in authentication.items()]
        frame = pd.DataFrame(rows, columns=["mailbox_provider", "messages", "failing_share"])
    elif isinstance(authentication, pd.DataFrame):
        table = authentication.reset_index() if any(
            n is not None for n in authentication.index.names) else authentication
        if "mailbox_provider" not in table.columns:
            raise ValueError("the authentication summary needs a mailbox_provider column: "
                             "authentication_summary(records, by=('domain', 'mailbox_provider'))")
        fail = next((c for c in _FAIL_ALIASES if c in table.columns), None)
        passed = next((c for c in _PASS_ALIASES if c in table.columns), None)
        if fail is not None:
            share = table[fail].to_numpy(float)
        elif passed is not None:
            share = 1.0 - table[passed].to_numpy(float)
        else:
            raise ValueError("the authentication summary needs one of "
                             f"{_FAIL_ALIASES + _PASS_ALIASES} [fraction 0-1]")
        if include_spf_only:
            if "spf_only_share" not in table.columns:
                raise ValueError("include_spf_only needs an spf_only_share column")
            share = share + table["spf_only_share"].to_numpy(float)
        volume = next((c for c in _VOLUME_ALIASES if c in table.columns), None)
        messages = table[volume].to_numpy(float) if volume else np.full(len(table), np.nan)
        frame = pd.DataFrame({"mailbox_provider": table["mailbox_provider"].astype(str).to_numpy(),
                              "messages": messages, "failing_share": share})
        if volume is not None and len(frame):
            # Several rows per provider (one per domain or period): volume-weighted.
            frame["_failing"] = frame["failing_share"] * frame["messages"]
            grouped = frame.groupby("mailbox_provider", sort=True)[["messages", "_failing"]].sum()
            with np.errstate(invalid="ignore", divide="ignore"):
                grouped["failing_share"] = grouped["_failing"] / grouped["messages"]
            frame = grouped.drop(columns="_failing").reset_index()
        elif frame["mailbox_provider"].duplicated().any():
            raise ValueError("several rows per mailbox_provider need a messages column to "
                             "weight them")
    else:
        raise TypeError("authentication must be a DataFrame (authentication_summary) or a "
                        "mapping provider -> failing share [fraction 0-1]")
    shares = frame["failing_share"].to_numpy(float)
    bad = ~np.isfinite(shares) | (shares < 0) | (shares > 1)
    if bad.any():
        provider = frame["mailbox_provider"].iloc[int(np.flatnonzero(bad)[0])]
        raise ValueError(f"failing share of {provider!r} must be a fraction in [0, 1], not "
                         f"{shares[bad][0]!r} (a percent?)")
    return frame


def bulk_sender_status(messages_or_cube: pd.DataFrame,
                       rules: Mapping[str, ProviderRule] | None = None) -> dict[str, bool]:
    """Whether the sender is a bulk sender at each provider with a rule.

    A sender is a bulk sender at a provider once any day's messages to it reach the rule's
    threshold (F1: the status is permanent once reached).

    Parameters
    ----------
    messages_or_cube : DataFrame
        The messages table (``sent_at``, ``mailbox_provider``) or a daily cube (``date``,
        ``mailbox_provider``, ``messages``).
    rules : mapping, optional
        :data:`PROVIDER_RULES` by default.

    Returns
    -------
    dict
        Provider -> bool [for providers in ``rules``].
    """
    rules = PROVIDER_RULES if rules is None else rules
    frame = messages_or_cube
    if "sent_at" in frame.columns:
        day = pd.to_datetime(frame["sent_at"], utc=True).dt.floor("D")
        counts = pd.Series(1, index=frame.index)
    else:
        day = pd.to_datetime(frame["date"]).dt.floor("D")
        counts = frame["messages"]
    daily = counts.groupby([frame["mailbox_provider"].astype(str).to_numpy(),
                            day.to_numpy()]).sum()
    peak = daily.groupby(level=0).max()
    return {p: bool(rule.bulk_threshold is None or peak.get(p, 0) >= rule.bulk_threshold)
            for p, rule in rules.items()}


def authentication_impact(
    authentication: pd.DataFrame | Mapping[str, float],
    *,
    rules: Mapping[str, ProviderRule] | None = None,
    bulk_sender: bool | Mapping[str, bool] = True,
    include_spf_only: bool = False,
) -> pd.DataFrame:
    """Share of each provider's mail that is missing or junked because it fails DMARC.

    Parameters
    ----------
    authentication : DataFrame or mapping
        :func:`deliverability_econ.authentication.authentication_summary` by
        ``mailbox_provider`` (and any other keys: rows are weighted by ``messages``), with
        ``failing_share`` (or ``dmarc_pass_share``) [fraction 0-1]; or a mapping provider ->
        failing share [fraction 0-1].
    rules : mapping, optional
        Provider -> :class:`ProviderRule`; :data:`PROVIDER_RULES` by default.
    bulk_sender : bool or mapping
        Whether the rules' bulk-sender conditions hold (F1, F8), for all providers or per
        provider (:func:`bulk_sender_status` from your logs). A rule does not apply to a
        non-bulk sender.
    include_spf_only : bool
        Count mail passing DMARC on SPF alone as failing too: bulk senders need DKIM as well
        (F2, F8), though the rejections seen so far are for missing alignment (F3, F8).

    Returns
    -------
    DataFrame
        One row per provider: ``mailbox_provider``, ``messages`` [messages in the reports; NaN
        when shares were given directly], ``failing_share`` [fraction 0-1 of the provider's
        mail], ``bulk_sender`` (bool), ``action`` (``reject``, ``junk``, ``none``),
        ``missing_share`` (rejected: counts as missing) and ``junked_share`` [fraction 0-1 of
        the provider's mail], ``source`` (fact ids), ``note``.
    """
    rules = PROVIDER_RULES if rules is None else rules
    frame = _fail_shares(authentication, include_spf_only)
    rows = []
    for provider, messages, share in frame[["mailbox_provider", "messages",
                                            "failing_share"]].itertuples(index=False):
        rule = rules.get(provider)
        bulk = bulk_sender.get(provider, False) if isinstance(bulk_sender, Mapping) \
            else bool(bulk_sender)
        applies = rule is not None and (bulk or rule.bulk_threshold is None)
        action = rule.action if applies else "none"
        rows.append({
            "mailbox_provider": provider, "messages": messages, "failing_share": share,
            "bulk_sender": bulk, "action": action,
            "missing_share": share if action == "reject" else 0.0,
            "junked_share": share if action == "junk" else 0.0,
            "source": rule.source if rule else "",
            "note": (rule.note if applies else "not a bulk sender at this provider: the rule "
                     "does not apply") if rule else "no published rule for this provider",
        })
    columns = ["mailbox_provider", "messages", "failing_share", "bulk_sender", "action",
               "missing_share", "junked_share", "source", "note"]
    return pd.DataFrame(rows, columns=columns)


def _benchmark_table(providers) -> pd.DataFrame:
    table = COUNTERFACTUAL_PLACEMENTS["benchmark"]
    rows = []
    for provider in providers:
        value, low, high = table.get(provider, table["*"])
        rest = 1.0 - value
        rows.append({"mailbox_provider": provider, "inbox_rate": value, "inbox_low": low,
                     "inbox_high": high, "spam_rate": rest * SPAM_SHARE_OF_NOT_INBOX,
                     "missing_rate": rest * (1.0 - SPAM_SHARE_OF_NOT_INBOX)})
    return pd.DataFrame(rows)


def _shares_by_row(placement: pd.DataFrame, impact: pd.DataFrame):
    provider = placement["mailbox_provider"].astype(str)
    rejected = provider.map(impact.set_index("mailbox_provider")["missing_share"]).fillna(0.0)
    junked = provider.map(impact.set_index("mailbox_provider")["junked_share"]).fillna(0.0)
    return rejected.to_numpy(float), junked.to_numpy(float)


def authenticated_placement(placement: pd.DataFrame, impact: pd.DataFrame) -> pd.DataFrame:
    """The placement the sender would have if every message passed DMARC.

    Inverts the module's placement model row by row (``inbox_a = inbox / (1 - f)``,
    ``missing_a = (missing - f_r) / (1 - f_r)``); a provider whose mail fails entirely takes
    the benchmark placement, and a row whose missing rate is below the rejected share (the
    reports and the logs cover different mail) keeps no missing mail, with an
    :class:`AuthenticationWarning`.

    Parameters
    ----------
    placement : DataFrame
        Observed placement (:func:`deliverability_econ.estimate_placement` by
        ``mailbox_provider``): ``inbox_rate``, ``inbox_low``, ``inbox_high``, ``spam_rate``,
        ``missing_rate`` [fraction 0-1 of messages sent].
    impact : DataFrame
        :func:`authentication_impact`.

    Returns
    -------
    DataFrame
        ``placement`` with the rates replaced [fraction 0-1].
    """
    if "mailbox_provider" not in placement.columns:
        raise ValueError("placement needs a mailbox_provider column (estimate_placement by "
                         "mailbox_provider)")
    out = placement.copy()
    rejected, junked = _shares_by_row(out, impact)
    failing = rejected + junked
    inbox = out["inbox_rate"].to_numpy(float)
    missing = out["missing_rate"].to_numpy(float)
    whole = failing >= 0.999
    keep = np.where(whole, 0.0, 1.0 - failing)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(whole, 1.0, 1.0 / np.where(whole, 1.0, keep))
        short = missing + 1e-9 < rejected
        if short.any():
            providers = sorted(set(out.loc[short, "mailbox_provider"].astype(str)))
            warnings.warn(f"observed missing rate below the rejected share for {providers}: the "
                          "reports and the logs cover different mail; taking no missing mail "
                          "for authenticated messages there", AuthenticationWarning,
                          stacklevel=2)
        missing_a = np.clip((missing - rejected) / np.where(rejected < 1, 1.0 - rejected, 1.0),
                            0.0, 1.0)
    inbox_a = np.clip(inbox * scale, 0.0, 1.0)
    missing_a = np.minimum(missing_a, 1.0 - inbox_a)
    out["inbox_rate"] = inbox_a
    out["inbox_low"] = np.clip(out["inbox_low"].to_numpy(float) * scale, 0.0, inbox_a)
    out["inbox_high"] = np.clip(out["inbox_high"].to_numpy(float) * scale, inbox_a, 1.0)
    out["missing_rate"] = missing_a
    out["spam_rate"] = 1.0 - inbox_a - missing_a
    if whole.any():
        warnings.warn("a provider's mail fails authentication entirely: its authenticated "
                      "placement is the section 9 benchmark", AuthenticationWarning, stacklevel=2)
        bench = _benchmark_table(out.loc[whole, "mailbox_provider"].astype(str))
        for column in ("inbox_rate", "inbox_low", "inbox_high", "spam_rate", "missing_rate"):
            out.loc[whole, column] = bench[column].to_numpy()
    return out


def placement_with_failures(authenticated: pd.DataFrame, impact: pd.DataFrame) -> pd.DataFrame:
    """The placement of mail of which a share fails authentication (the module's model).

    Parameters
    ----------
    authenticated : DataFrame
        Placement of authenticated mail, with ``mailbox_provider`` and the placement columns
        [fraction 0-1].
    impact : DataFrame
        :func:`authentication_impact`.

    Returns
    -------
    DataFrame
        ``authenticated`` with the rates of all mail [fraction 0-1].
    """
    out = authenticated.copy()
    rejected, junked = _shares_by_row(out, impact)
    keep = 1.0 - rejected - junked
    inbox = out["inbox_rate"].to_numpy(float)
    spam = out["spam_rate"].to_numpy(float)
    missing = out["missing_rate"].to_numpy(float)
    out["inbox_rate"] = keep * inbox
    out["inbox_low"] = keep * out["inbox_low"].to_numpy(float)
    out["inbox_high"] = keep * out["inbox_high"].to_numpy(float)
    out["spam_rate"] = keep * spam + junked * (1.0 - missing)
    out["missing_rate"] = keep * missing + rejected + junked * missing
    return out


@dataclass
class AuthenticationValue:
    """What fixing authentication is worth.

    Attributes
    ----------
    impact : DataFrame
        :func:`authentication_impact` per provider.
    placement : DataFrame
        Placement now (observed, or the benchmark with the failures applied) [fraction 0-1].
    authenticated_placement : DataFrame
        Placement with every message authenticated [fraction 0-1].
    monthly : dict
        ``{"p10", "p50", "p90"}`` of the money recovered per average month by fixing
        authentication [currency/month], summed over the four cost lines.
    by_line_monthly : DataFrame
        ``line``, ``p10``, ``p50``, ``p90`` [currency/month].
    leakage : DataFrame
        Conversions lost per funnel, stage and provider (:meth:`FunnelImpact.leakage`).
    currency : str
    funnel_impact : FunnelImpact
        The full Monte Carlo result.
    """

    impact: pd.DataFrame
    placement: pd.DataFrame
    authenticated_placement: pd.DataFrame
    monthly: dict[str, float]
    by_line_monthly: pd.DataFrame
    leakage: pd.DataFrame
    currency: str
    funnel_impact: FunnelImpact = field(repr=False)

    def summary(self) -> dict:
        """``{"missing_share_by_provider": {...}, "value_per_month": {p10, p50, p90},
        "currency": ...}`` for a report."""
        return {"missing_share_by_provider": dict(zip(self.impact["mailbox_provider"],
                                                      self.impact["missing_share"].astype(float),
                                                      strict=True)),
                "value_per_month": dict(self.monthly), "currency": self.currency}


def authentication_fix_value(
    messages_or_cube: pd.DataFrame,
    authentication: pd.DataFrame | Mapping[str, float],
    placement: pd.DataFrame | None = None,
    *,
    config: FunnelConfig | None = None,
    rules: Mapping[str, ProviderRule] | None = None,
    bulk_sender: bool | Mapping[str, bool] | str = "auto",
    include_spf_only: bool = False,
    draws: int = 2000,
    random_state: RandomState = None,
    **funnel_options,
) -> AuthenticationValue:
    """Money recovered per month if every message passed DMARC, from the funnel model.

    The placement now (``placement``, or the benchmark with the failures applied) is compared
    with the placement with every message authenticated (:func:`authenticated_placement`, or
    the benchmark) by :func:`deliverability_econ.funnel.funnel_impact`, which turns the extra
    mail seen into conversions and money along the four cost lines.

    Parameters
    ----------
    messages_or_cube : DataFrame
        The messages table or a daily cube by ``("mailbox_provider", "stream")``: the volumes
        per funnel (see :func:`~deliverability_econ.funnel.funnel_impact`).
    authentication : DataFrame or mapping
        As in :func:`authentication_impact`.
    placement : DataFrame, optional
        Observed placement by ``mailbox_provider`` (:func:`deliverability_econ.estimate_placement`).
        Without it, the section 9 benchmark is the authenticated placement.
    config : FunnelConfig, optional
        Funnels and money; :func:`~deliverability_econ.funnel.default_funnels` by default.
    rules : mapping, optional
        :data:`PROVIDER_RULES` by default.
    bulk_sender : bool, mapping or "auto"
        ``"auto"``: :func:`bulk_sender_status` of ``messages_or_cube`` (note that a sample of
        a sender's logs may understate its daily volume).
    include_spf_only : bool
        See :func:`authentication_impact`.
    draws : int
        Monte Carlo draws [count].
    random_state : None, int or Generator
    **funnel_options
        Further arguments of :func:`~deliverability_econ.funnel.funnel_impact`
        (``interval``, ``placement_dependence``; ``counterfactual_draws`` is ``"common"``).

    Returns
    -------
    AuthenticationValue
    """
    if isinstance(bulk_sender, str):
        if bulk_sender != "auto":
            raise ValueError(f"bulk_sender must be a bool, a mapping or 'auto', not "
                             f"{bulk_sender!r}")
        bulk_sender = bulk_sender_status(messages_or_cube, rules)
    impact = authentication_impact(authentication, rules=rules, bulk_sender=bulk_sender,
                                   include_spf_only=include_spf_only)
    if placement is None:
        providers = sorted(set(messages_or_cube["mailbox_provider"].astype(str))
                           | set(impact["mailbox_provider"]))
        fixed = _benchmark_table(providers)
        actual = placement_with_failures(fixed, impact)
    else:
        actual = placement
        fixed = authenticated_placement(placement, impact)
    # The authenticated placement is the same estimate with the failures removed: its error is
    # the actual estimate's error, so both take the same draws (an unchanged provider loses
    # nothing in any draw).
    funnel_options.setdefault("counterfactual_draws", "common")
    result = funnel_impact(messages_or_cube, actual, config, counterfactual=fixed, draws=draws,
                           random_state=random_state, **funnel_options)
    risk = result.revenue_at_risk()
    return AuthenticationValue(impact=impact, placement=actual, authenticated_placement=fixed,
                               monthly=risk.monthly, by_line_monthly=risk.by_line_monthly,
                               leakage=result.leakage(("funnel", "stage", "mailbox_provider")),
                               currency=result.currency, funnel_impact=result)


__all__ = [
    "PROVIDER_RULES", "SPAM_SHARE_OF_NOT_INBOX", "AuthenticationValue", "AuthenticationWarning",
    "ProviderRule", "authenticated_placement", "authentication_fix_value",
    "authentication_impact", "bulk_sender_status", "placement_with_failures",
]
