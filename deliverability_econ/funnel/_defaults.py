"""The funnel templates and the registry of default parameters, each with unit, source and range.

Every parameter of every funnel has an entry in :data:`DEFAULTS`, keyed by the same path that
overrides it in a TOML config (``signup.verification.conversion_if_seen`` is set by
``[funnels.signup.stages.verification] conversion_if_seen = ...``; ``money.support_ticket_cost``
by ``[money] support_ticket_cost = ...``). A source cites a fact id of
``reference/domain-facts.md`` (sections 8 and 9); ``assumption`` marks a value no fact gives
(section 10 lists the gaps: no source quantifies funnel loss from deliverability). Money
values are those of an example B2B SaaS sender and are assumptions: replace them with yours.

Uncertain parameters are drawn from a Beta-PERT distribution over ``(low, value, high)`` in the
Monte Carlo; structural ones (windows, deadlines) are not drawn (``sampled=False``).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Parameter:
    """One model input: a most likely value with a plausible range.

    Attributes
    ----------
    value : float
        Most likely value (the mode of the Beta-PERT distribution), in ``unit``.
    low, high : float
        Plausible range; ``low == high`` means a known value (no uncertainty).
    unit : str
        ``fraction 0-1`` for probabilities, ``currency`` for money in the config's currency,
        or a physical unit.
    source : str
        Fact ids of ``reference/domain-facts.md`` and/or ``assumption``.
    description : str
        What the parameter means, with its denominator.
    sampled : bool
        Drawn in the Monte Carlo (False for structural settings such as time windows).
    """

    value: float
    low: float
    high: float
    unit: str
    source: str
    description: str
    sampled: bool = True

    @property
    def is_fraction(self) -> bool:
        return self.unit.startswith("fraction")

    def with_values(self, value: float, low: float, high: float, source: str) -> Parameter:
        return Parameter(value, low, high, self.unit, source, self.description, self.sampled)


FRACTION = "fraction 0-1"
CURRENCY = "currency"


@dataclass(frozen=True)
class StageTemplate:
    """A stage of a funnel template.

    ``kind`` is ``"email"`` for the stage an email serves (it converts with
    ``conversion_if_seen`` when the message was seen, i.e. placed in the inbox in time, and with
    ``conversion_if_unseen`` otherwise) or ``"step"`` for a later stage converting with
    ``conversion`` of the previous stage's conversions.
    """

    name: str
    kind: str
    meaning: str


@dataclass(frozen=True)
class CostLineTemplate:
    """A cost line fed by a funnel: lost conversions at ``stage`` times the product of
    ``factors`` (parameter keys: ``money.*`` or stage parameters ``<stage>.<name>``).

    Besides its template's lines, every email stage feeds two generic lines:
    ``support_overhead`` = lost x ``tickets_per_lost_conversion`` x ``money.support_ticket_cost``
    and ``churn`` = lost x ``churn_per_lost_conversion`` x ``money.monthly_recurring_revenue`` x
    ``money.remaining_lifetime_months`` (both zero unless the stage sets them).
    """

    line: str
    stage: str
    factors: tuple[str, ...]


@dataclass(frozen=True)
class FunnelTemplate:
    """A lifecycle funnel: the stream whose mail drives it, its stages and its cost lines."""

    name: str
    stream: str
    conversion_type: str
    stages: tuple[StageTemplate, ...]
    cost_lines: tuple[CostLineTemplate, ...]
    description: str


#: The four cost lines, in report order.
COST_LINES: tuple[str, ...] = ("lost_revenue", "wasted_acquisition", "support_overhead", "churn")

#: What each cost line counts [currency].
COST_LINE_MEANINGS: dict[str, str] = {
    "lost_revenue": "conversions that would have paid (lifetime value, won deal or order value)",
    "wasted_acquisition": "acquisition spend on sign-ups lost before activation (CAC per sign-up)",
    "support_overhead": "support tickets caused by missing transactional mail x cost per ticket",
    "churn": "customers lost for unseen renewal, dunning or sign-in mail x their revenue",
}


def _email(name: str, meaning: str) -> StageTemplate:
    return StageTemplate(name, "email", meaning)


def _step(name: str, meaning: str) -> StageTemplate:
    return StageTemplate(name, "step", meaning)


#: The six lifecycle funnels of a SaaS sender (DESIGN.md, "Funnel and money").
TEMPLATES: dict[str, FunnelTemplate] = {
    t.name: t
    for t in (
        FunnelTemplate(
            "signup", "verification", "verified",
            (
                _email("verification", "sign-ups who verify their address, per verification mail"),
                _step("activation", "verified users who activate"),
                _step("paid", "activated users who become paying customers"),
            ),
            (
                CostLineTemplate("lost_revenue", "paid", ("money.customer_lifetime_value",)),
                CostLineTemplate("wasted_acquisition", "activation",
                                 ("money.acquisition_cost_per_signup",)),
            ),
            "verification mail -> activation -> paid",
        ),
        FunnelTemplate(
            "onboarding", "onboarding", "activated",
            (
                _email("onboarding", "activation progress per onboarding message"),
                _step("paid", "activated users who become paying customers"),
            ),
            (
                CostLineTemplate("lost_revenue", "paid", ("money.customer_lifetime_value",)),
                CostLineTemplate("wasted_acquisition", "onboarding",
                                 ("money.acquisition_cost_per_signup",)),
            ),
            "onboarding sequence -> activation (-> paid, for its value)",
        ),
        FunnelTemplate(
            "demo", "demo_confirmation", "demo_held",
            (
                _email("demo_confirmation", "booked demos that are held, per confirmation mail"),
                _step("opportunity", "held demos that become an opportunity"),
                _step("won", "opportunities won"),
            ),
            (CostLineTemplate("lost_revenue", "won", ("money.won_deal_value",)),),
            "demo confirmation -> demo held -> opportunity -> won",
        ),
        FunnelTemplate(
            "password_reset", "password_reset", "signed_in",
            (_email("password_reset", "reset requests ending in a successful sign-in"),),
            (),
            "password reset -> successful sign-in (time-critical)",
        ),
        FunnelTemplate(
            "renewal", "renewal_reminder", "renewed",
            (_email("renewal_reminder", "renewals completed, per reminder"),),
            (CostLineTemplate("churn", "renewal_reminder", ("money.annual_contract_value",)),),
            "renewal reminders -> renewal",
        ),
        FunnelTemplate(
            "dunning", "dunning", "payment_recovered",
            (_email("dunning", "failed payments recovered, per dunning mail"),),
            (
                CostLineTemplate("churn", "dunning",
                                 ("money.monthly_recurring_revenue",
                                  "money.remaining_lifetime_months")),
            ),
            "dunning reminders -> recovered payment",
        ),
        FunnelTemplate(
            "newsletter", "newsletter", "click",
            (
                _email("newsletter", "recipients who click, per newsletter"),
                _step("purchase", "clicks that end in a purchase"),
            ),
            (CostLineTemplate("lost_revenue", "purchase", ("money.order_value",)),),
            "newsletter -> click -> purchase",
        ),
    )
}


def _p(value, low, high, unit, source, description, sampled=True) -> Parameter:
    return Parameter(float(value), float(low), float(high), unit, source, description, sampled)


_SEEN = "given the message was seen: placed in the inbox (within the deadline when time-critical)"
_UNSEEN = "given it was not seen (spam folder, missing, late): the baseline without the email"
_RESCUE = ("chance that a spam-folder message is found and acted on, relative to the inbox "
           "(seen share = inbox + spam_rescue x spam)")
_TICKETS = "support tickets per conversion lost at this stage"
_SEQUENCE = ("messages of the stream that serve one conversion opportunity (a sequence of "
             "k mails for one activation, renewal or failed payment): the stage's conversions "
             "are per opportunity, sent / k of them")

#: Every parameter with its default, unit, source and range, keyed by its config path.
DEFAULTS: dict[str, Parameter] = {
    # --- signup: verification -> activation -> paid -------------------------------------
    "signup.verification.conversion_if_seen": _p(
        0.92, 0.85, 0.98, FRACTION,
        "E4 (verified/signed-up below 85% suggests deliverability loss; ~80 of 100 sign-ups "
        "reach the inbox); with 0.85 inbox (F15-F17) gives the section 9 completion 0.80",
        "verification completed " + _SEEN),
    "signup.verification.conversion_if_unseen": _p(
        0.20, 0.05, 0.40, FRACTION, "E4 + assumption (resent link, later rescue)",
        "verification completed " + _UNSEEN),
    "signup.verification.spam_rescue": _p(
        0.20, 0.10, 0.30, FRACTION, "E4 (3-4 of 100 sign-ups rescue the mail from spam)", _RESCUE),
    "signup.verification.tickets_per_lost_conversion": _p(
        0.05, 0.0, 0.15, FRACTION, "assumption (section 10: not measured)", _TICKETS),
    "signup.verification.attribution_window_hours": _p(
        168, 168, 168, "hours", "E4 (~90% verify within 7 days)",
        "a conversion counts for the message when it happens this long after sending", False),
    "signup.activation.conversion": _p(
        0.375, 0.05, 0.55, FRACTION, "E5 (Userpilot 2024 average; by vertical 0.05-0.55)",
        "verified users who activate"),
    "signup.paid.conversion": _p(
        0.25, 0.10, 0.50, FRACTION, "assumption (no trial-to-paid benchmark in domain-facts)",
        "activated users who become paying customers"),
    # --- onboarding -> activation ---------------------------------------------------------
    "onboarding.onboarding.conversion_if_seen": _p(
        0.42, 0.30, 0.55, FRACTION,
        "E5 (activation 0.375) + assumption: the lift of one seen message is not measured",
        "activation step completed " + _SEEN),
    "onboarding.onboarding.conversion_if_unseen": _p(
        0.35, 0.25, 0.45, FRACTION, "E5 + assumption", "activation step completed " + _UNSEEN),
    "onboarding.onboarding.spam_rescue": _p(
        0.02, 0.0002, 0.05, FRACTION, "F21 (0.02% marked not spam) to E4 (expected mail)", _RESCUE),
    "onboarding.onboarding.attribution_window_hours": _p(
        72, 72, 72, "hours", "assumption (until the next message of the sequence)",
        "a conversion counts for the message when it happens this long after sending", False),
    "onboarding.onboarding.messages_per_conversion": _p(
        4, 4, 4, "messages", "assumption (a sequence of 4 messages, days 1-14)",
        _SEQUENCE, False),
    "onboarding.paid.conversion": _p(
        0.25, 0.10, 0.50, FRACTION, "assumption (no trial-to-paid benchmark in domain-facts)",
        "activated users who become paying customers"),
    # --- demo confirmation -> held -> opportunity -> won ------------------------------------
    "demo.demo_confirmation.conversion_if_seen": _p(
        0.82, 0.75, 0.90, FRACTION,
        "E6 (inbound demos show 70-85%); with 0.85 inbox gives the section 9 show rate 0.78",
        "demo held " + _SEEN),
    "demo.demo_confirmation.conversion_if_unseen": _p(
        0.60, 0.40, 0.75, FRACTION,
        "E6 (cold-outbound show 65-75%, no confirmation effect isolated) + assumption",
        "demo held " + _UNSEEN),
    "demo.demo_confirmation.spam_rescue": _p(
        0.10, 0.02, 0.25, FRACTION, "assumption between F21 and E4", _RESCUE),
    "demo.demo_confirmation.attribution_window_hours": _p(
        48, 48, 48, "hours", "assumption (demos booked a day or two ahead)",
        "a conversion counts for the message when it happens this long after sending", False),
    "demo.opportunity.conversion": _p(
        0.40, 0.20, 0.60, FRACTION, "assumption (no benchmark in domain-facts)",
        "held demos that become an opportunity"),
    "demo.won.conversion": _p(
        0.25, 0.15, 0.35, FRACTION, "assumption (no benchmark in domain-facts)",
        "opportunities won"),
    # --- password reset -> sign-in (time-critical) ---------------------------------------------
    "password_reset.password_reset.conversion_if_seen": _p(
        0.90, 0.80, 0.95, FRACTION, "E3 (80-85% of reset mails are opened) + assumption",
        "successful sign-in " + _SEEN),
    "password_reset.password_reset.conversion_if_unseen": _p(
        0.10, 0.02, 0.30, FRACTION, "assumption (retry, remembered password, SSO)",
        "successful sign-in " + _UNSEEN),
    "password_reset.password_reset.spam_rescue": _p(
        0.20, 0.10, 0.30, FRACTION, "E4 (mail the user is waiting for gets looked for)", _RESCUE),
    "password_reset.password_reset.tickets_per_lost_conversion": _p(
        0.30, 0.10, 0.50, FRACTION,
        "E9 (20-50% of help-desk calls are password-related) + assumption", _TICKETS),
    "password_reset.password_reset.churn_per_lost_conversion": _p(
        0.01, 0.0, 0.03, FRACTION, "E9 (model as ticket cost + churn risk) + assumption",
        "paying customers lost per failed sign-in"),
    "password_reset.password_reset.attribution_window_hours": _p(
        1, 1, 1, "hours", "assumption (reset links typically expire after an hour)",
        "a conversion counts for the message when it happens this long after sending", False),
    "password_reset.password_reset.deadline_minutes": _p(
        60, 60, 60, "minutes", "assumption (reset links typically expire after an hour)",
        "a reset mail delivered later than this counts as unseen", False),
    # --- renewal reminders -> renewal ----------------------------------------------------------
    "renewal.renewal_reminder.conversion_if_seen": _p(
        0.92, 0.85, 0.95, FRACTION, "E7 (gross revenue retention 0.90, range 0.80-0.95)",
        "renewal " + _SEEN),
    "renewal.renewal_reminder.conversion_if_unseen": _p(
        0.88, 0.80, 0.92, FRACTION, "E7 + assumption (auto-renewal without the reminder)",
        "renewal " + _UNSEEN),
    "renewal.renewal_reminder.spam_rescue": _p(
        0.02, 0.0002, 0.05, FRACTION, "F21 to E4", _RESCUE),
    "renewal.renewal_reminder.attribution_window_hours": _p(
        240, 240, 240, "hours", "assumption (reminders 30, 7 and 1 days ahead)",
        "a conversion counts for the message when it happens this long after sending", False),
    "renewal.renewal_reminder.messages_per_conversion": _p(
        3, 3, 3, "messages", "assumption (reminders 30, 7 and 1 days ahead)",
        _SEQUENCE, False),
    # --- dunning -> recovered payment -----------------------------------------------------------
    "dunning.dunning.conversion_if_seen": _p(
        0.52, 0.42, 0.85, FRACTION,
        "E8 (recovery 0.48, email-only 0.42, best 0.70-0.85); with 0.85 inbox gives 0.48",
        "failed payment recovered " + _SEEN),
    "dunning.dunning.conversion_if_unseen": _p(
        0.25, 0.10, 0.40, FRACTION, "E8 + assumption (card updater, automatic retries)",
        "failed payment recovered " + _UNSEEN),
    "dunning.dunning.spam_rescue": _p(0.05, 0.0002, 0.10, FRACTION, "F21 to E4", _RESCUE),
    "dunning.dunning.attribution_window_hours": _p(
        72, 72, 72, "hours", "assumption (until the next retry)",
        "a conversion counts for the message when it happens this long after sending", False),
    "dunning.dunning.messages_per_conversion": _p(
        3, 3, 3, "messages", "assumption (mails on days 0, 3 and 7 of a failure)",
        _SEQUENCE, False),
    # --- newsletter -> click -> purchase ---------------------------------------------------------
    "newsletter.newsletter.conversion_if_seen": _p(
        0.03, 0.01, 0.06, FRACTION, "E3 (marketing opens 15-25%) x assumed click-to-open 0.12",
        "click " + _SEEN),
    "newsletter.newsletter.conversion_if_unseen": _p(
        0.0, 0.0, 0.001, FRACTION, "assumption (a newsletter not seen is not clicked)",
        "click " + _UNSEEN),
    "newsletter.newsletter.spam_rescue": _p(
        0.0002, 0.0, 0.001, FRACTION, "F21 (0.02% of messages marked not spam)", _RESCUE),
    "newsletter.newsletter.attribution_window_hours": _p(
        168, 168, 168, "hours", "assumption (a week, until the next issue)",
        "a conversion counts for the message when it happens this long after sending", False),
    "newsletter.purchase.conversion": _p(
        0.03, 0.01, 0.06, FRACTION,
        "assumption; E2 sanity check: gives $0.05-0.15 revenue per campaign recipient",
        "clicks that end in a purchase"),
    # --- money (an example B2B SaaS sender: replace with yours) -----------------------------------
    "money.customer_lifetime_value": _p(
        2800, 1200, 6000, CURRENCY,
        "assumption; default = monthly_recurring_revenue x remaining_lifetime_months (E8)",
        "revenue of one paying customer over its lifetime [currency/customer]"),
    "money.acquisition_cost_per_signup": _p(
        40, 15, 120, CURRENCY, "assumption (sender-specific)",
        "acquisition spend per sign-up (CAC per sign-up, not per paying customer) "
        "[currency/sign-up]"),
    "money.support_ticket_cost": _p(
        25, 25, 70, CURRENCY, "E9 (Forrester ~$25 per call, ~$70 per help-desk reset)",
        "cost of handling one support ticket [currency/ticket]"),
    "money.annual_contract_value": _p(
        1200, 600, 2400, CURRENCY, "assumption (sender-specific)",
        "revenue of one renewal: one year of contract [currency/renewal]"),
    "money.monthly_recurring_revenue": _p(
        100, 50, 200, CURRENCY, "assumption (sender-specific)",
        "monthly revenue of one paying customer [currency/customer/month]"),
    "money.remaining_lifetime_months": _p(
        28, 20, 50, "months",
        "E8 derived: monthly churn ~3.5% -> 1/0.035 ~ 28 months (2-5% -> 20-50)",
        "expected further lifetime of a customer kept [months]"),
    "money.won_deal_value": _p(
        12000, 6000, 24000, CURRENCY, "assumption (sender-specific)",
        "revenue of one won deal [currency/deal]"),
    "money.order_value": _p(
        60, 30, 120, CURRENCY, "assumption (E2 sanity check)",
        "revenue of one purchase [currency/order]"),
    # --- counterfactual timeliness ----------------------------------------------------------------
    "counterfactual.in_time_share": _p(
        1.0, 1.0, 1.0, FRACTION, "assumption (a healthy stream delivers within the deadline)",
        "share of delivered time-critical mail in time under the counterfactual", False),
}


#: Counterfactual inbox placements [fraction 0-1 of messages sent] by name: per mailbox
#: provider (``"*"`` for any other) a (value, low, high). Used by ``counterfactual="<name>"``.
COUNTERFACTUAL_PLACEMENTS: dict[str, dict[str, tuple[float, float, float]]] = {
    # F19: Sender Score 91-100 senders placed 0.92 (2017) / 0.91 (2018) in the inbox.
    "top_reputation": {"*": (0.92, 0.91, 0.92)},
    # Section 9 per-provider placement (F17, 3rd-party; +-5 points) and the global benchmark
    # 0.85 (0.83-0.87; F15-F17) for other providers.
    "benchmark": {
        "gmail": (0.90, 0.85, 0.95),
        "yahoo": (0.87, 0.82, 0.92),
        "microsoft": (0.77, 0.72, 0.82),
        "apple": (0.82, 0.77, 0.87),
        "*": (0.85, 0.83, 0.87),
    },
    "global_benchmark": {"*": (0.85, 0.83, 0.87)},
}

#: Sources of the named counterfactuals.
COUNTERFACTUAL_SOURCES: dict[str, str] = {
    "top_reputation": "F19 (Sender Score 91-100: 0.92 / 0.91 inbox)",
    "benchmark": "F17 per provider (section 9, +-5 points), F15-F17 global 0.85 for others",
    "global_benchmark": "F15-F17 (section 9: 0.85, range 0.83-0.87)",
}

DEFAULT_COUNTERFACTUAL = "top_reputation"


def stage_parameter_names(kind: str) -> tuple[str, ...]:
    """Parameters a stage of this kind may set in a config."""
    if kind == "email":
        return ("conversion_if_seen", "conversion_if_unseen", "spam_rescue",
                "tickets_per_lost_conversion", "churn_per_lost_conversion",
                "attribution_window_hours", "deadline_minutes", "messages_per_conversion")
    return ("conversion",)


#: Defaults of email-stage parameters a template does not list (no tickets, no churn, no
#: deadline): a known zero, so configs can switch them on.
GENERIC_EMAIL_DEFAULTS: dict[str, Parameter] = {
    "messages_per_conversion": _p(1, 1, 1, "messages", "one message per opportunity",
                                  _SEQUENCE, False),
    "tickets_per_lost_conversion": _p(0.0, 0.0, 0.0, FRACTION, "none by default", _TICKETS),
    "churn_per_lost_conversion": _p(0.0, 0.0, 0.0, FRACTION, "none by default",
                                    "paying customers lost per lost conversion"),
    "deadline_minutes": _p(float("inf"), float("inf"), float("inf"), "minutes",
                           "not time-critical", "a message delivered later counts as unseen",
                           False),
}


def defaults_table() -> pd.DataFrame:
    """The registry as a table: ``key``, ``value``, ``low``, ``high``, ``unit``, ``sampled``,
    ``source``, ``description`` (one row per parameter), for notebooks and reports."""
    return pd.DataFrame(
        [
            {"key": key, "value": p.value, "low": p.low, "high": p.high, "unit": p.unit,
             "sampled": p.sampled, "source": p.source, "description": p.description}
            for key, p in DEFAULTS.items()
        ]
    )
