"""Authentication impact on placement and money (deliverability_econ.auth_impact)."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deliverability_econ.auth_impact import (
    PROVIDER_RULES,
    SPAM_SHARE_OF_NOT_INBOX,
    AuthenticationWarning,
    ProviderRule,
    authenticated_placement,
    authentication_fix_value,
    authentication_impact,
    bulk_sender_status,
    placement_with_failures,
)
from deliverability_econ.authentication import authentication_summary
from deliverability_econ.funnel import funnels_from_mapping

COLUMNS = ["inbox_rate", "inbox_low", "inbox_high", "spam_rate", "missing_rate"]


def placement(rows):
    """rows: provider -> (inbox, spam, missing)."""
    return pd.DataFrame([{"mailbox_provider": p, "inbox_rate": i, "inbox_low": i,
                          "inbox_high": i, "spam_rate": s, "missing_rate": m}
                         for p, (i, s, m) in rows.items()])


def test_rules_cite_facts():
    assert PROVIDER_RULES["gmail"].action == "reject" and "F3" in PROVIDER_RULES["gmail"].source
    assert PROVIDER_RULES["microsoft"].action == "reject"
    assert PROVIDER_RULES["microsoft"].source == "F8"
    assert PROVIDER_RULES["yahoo"].action == "junk" and "F7" in PROVIDER_RULES["yahoo"].source
    with pytest.raises(ValueError):
        ProviderRule("bounce", None, "2024-02-01", "F3")


def test_impact_from_fail_shares():
    impact = authentication_impact({"gmail": 0.2, "microsoft": 0.1, "yahoo": 0.3, "apple": 0.4})
    table = impact.set_index("mailbox_provider")
    assert table.loc["gmail", ["action", "missing_share", "junked_share"]].tolist() == [
        "reject", 0.2, 0.0]
    assert table.loc["microsoft", "missing_share"] == 0.1
    assert table.loc["yahoo", ["action", "missing_share", "junked_share"]].tolist() == [
        "junk", 0.0, 0.3]
    # No published rule for Apple: failing mail is not counted missing.
    assert table.loc["apple", ["action", "missing_share"]].tolist() == ["none", 0.0]


def test_rules_do_not_apply_to_non_bulk_senders():
    impact = authentication_impact({"gmail": 0.2, "microsoft": 0.1},
                                   bulk_sender={"gmail": True, "microsoft": False})
    assert impact["missing_share"].tolist() == [0.2, 0.0]
    assert impact["note"].iloc[1].startswith("not a bulk sender")


def test_impact_from_the_authentication_summary():
    records = pd.DataFrame({
        "domain": ["example.com"] * 5 + ["news.example.com"],
        "mailbox_provider": ["gmail", "gmail", "microsoft", "microsoft", "yahoo", "gmail"],
        "source_ip": ["192.0.2.1"] * 6,
        "count": [800, 200, 900, 100, 50, 1000],
        "dkim_aligned": [True, False, True, False, False, True],
        "spf_aligned": [True, False, False, True, False, True]})
    summary = authentication_summary(records, by=("domain", "mailbox_provider"))
    impact = authentication_impact(summary).set_index("mailbox_provider")
    # Gmail: 200 failing of 800 + 200 + 1000 over two domains = 0.1 (volume-weighted).
    assert impact.loc["gmail", "messages"] == 2000
    assert impact.loc["gmail", "failing_share"] == pytest.approx(0.1)
    # Microsoft: the 100 pass on SPF alone; nothing fails DMARC...
    assert impact.loc["microsoft", "failing_share"] == pytest.approx(0.0)
    # ... unless SPF-only mail counts as failing (bulk senders need DKIM too: F2, F8).
    strict = authentication_impact(summary, include_spf_only=True).set_index("mailbox_provider")
    assert strict.loc["microsoft", "missing_share"] == pytest.approx(0.1)
    assert impact.loc["yahoo", ["failing_share", "junked_share"]].tolist() == [1.0, 1.0]


def test_bad_shares_and_inputs_are_refused():
    with pytest.raises(ValueError, match="a percent"):
        authentication_impact({"gmail": 20.0})
    with pytest.raises(ValueError, match="mailbox_provider"):
        authentication_impact(pd.DataFrame({"failing_share": [0.1]}))
    with pytest.raises(ValueError, match="failing_share"):
        authentication_impact(pd.DataFrame({"mailbox_provider": ["gmail"], "x": [0.1]}))
    with pytest.raises(TypeError):
        authentication_impact([0.1])
    # dmarc_pass_share is accepted in place of failing_share.
    impact = authentication_impact(pd.DataFrame({"mailbox_provider": ["gmail"],
                                                 "dmarc_pass_share": [0.75]}))
    assert impact["missing_share"].item() == pytest.approx(0.25)


def test_authenticated_placement_inverts_rejection_and_junking():
    observed = placement({"gmail": (0.60, 0.10, 0.30), "yahoo": (0.63, 0.33, 0.04),
                          "apple": (0.80, 0.10, 0.10)})
    impact = authentication_impact({"gmail": 0.2, "yahoo": 0.3, "apple": 0.5})
    fixed = authenticated_placement(observed, impact).set_index("mailbox_provider")
    # Gmail (rejects 0.2): inbox 0.60 / 0.8 = 0.75; missing (0.30 - 0.20) / 0.8 = 0.125.
    assert fixed.loc["gmail", ["inbox_rate", "spam_rate", "missing_rate"]].tolist() == \
        pytest.approx([0.75, 0.125, 0.125])
    # Yahoo (junks 0.3): inbox 0.63 / 0.7 = 0.9; missing 0.04; spam 0.06. Check forward:
    # spam = 0.7 * 0.06 + 0.3 * (1 - 0.04) = 0.33.
    assert fixed.loc["yahoo", ["inbox_rate", "spam_rate", "missing_rate"]].tolist() == \
        pytest.approx([0.9, 0.06, 0.04])
    # Apple: no rule, unchanged.
    assert fixed.loc["apple", "inbox_rate"] == pytest.approx(0.80)


@settings(max_examples=100, deadline=None)
@given(inbox=st.floats(0, 1), spam_split=st.floats(0, 1), reject=st.floats(0, 0.9),
       junk=st.floats(0, 0.9))
def test_failures_then_inversion_round_trip(inbox, spam_split, reject, junk):
    rest = 1 - inbox
    authenticated = placement({"gmail": (inbox, rest * spam_split, rest * (1 - spam_split)),
                               "yahoo": (inbox, rest * spam_split, rest * (1 - spam_split))})
    impact = authentication_impact({"gmail": reject, "yahoo": junk})
    observed = placement_with_failures(authenticated, impact)
    assert np.allclose(observed[["inbox_rate", "spam_rate", "missing_rate"]].sum(axis=1), 1.0)
    back = authenticated_placement(observed, impact)
    assert np.allclose(back[COLUMNS].to_numpy(float), authenticated[COLUMNS].to_numpy(float),
                       atol=1e-9)


def test_inconsistent_reports_and_logs_warn():
    with pytest.warns(AuthenticationWarning, match="missing rate below"):
        fixed = authenticated_placement(placement({"gmail": (0.8, 0.15, 0.05)}),
                                        authentication_impact({"gmail": 0.2}))
    assert fixed["missing_rate"].item() == 0.0
    assert fixed["inbox_rate"].item() == pytest.approx(1.0)
    with pytest.warns(AuthenticationWarning, match="benchmark"):
        fixed = authenticated_placement(placement({"gmail": (0.0, 0.0, 1.0)}),
                                        authentication_impact({"gmail": 1.0}))
    assert fixed["inbox_rate"].item() == 0.90   # section 9 Gmail benchmark
    assert fixed["spam_rate"].item() == pytest.approx(0.10 * SPAM_SHARE_OF_NOT_INBOX)


def cube(messages=1000, providers=("gmail",), per_day=None):
    rows = []
    for day in pd.date_range("2026-01-05", periods=1):
        for provider in providers:
            rows.append({"date": day, "mailbox_provider": provider, "stream": "verification",
                         "messages": per_day or messages, "delivered": 0.7 * messages})
    return pd.DataFrame(rows)


CONFIG = funnels_from_mapping({
    "funnels": {"signup": {"stages": {"verification": {
        "conversion_if_seen": 0.92, "conversion_if_unseen": 0.20, "spam_rescue": 0.0}}}}})


def test_fix_value_counts_the_conversions_rejection_costs():
    observed = placement({"gmail": (0.60, 0.10, 0.30)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = authentication_fix_value(cube(), {"gmail": 0.2}, observed, config=CONFIG,
                                         bulk_sender=True, draws=50, random_state=0)
    leakage = value.leakage.set_index("stage")
    # 1,000 verification mails, inbox 0.60 now vs 0.75 authenticated, lift 0.92 - 0.20:
    # 1000 x 0.15 x 0.72 = 108 verifications lost.
    assert leakage.loc["verification", "lost_p50"] == pytest.approx(108.0)
    assert value.monthly["p50"] > 0
    assert value.summary()["missing_share_by_provider"] == {"gmail": 0.2}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nothing = authentication_fix_value(cube(), {"gmail": 0.0}, observed, config=CONFIG,
                                           bulk_sender=True, draws=50, random_state=0)
    assert nothing.monthly == {"p10": 0.0, "p50": 0.0, "p90": 0.0}


def test_nothing_failing_is_worth_nothing_in_every_draw():
    # An uncertain placement (0.50-0.70 around 0.60) and no failing mail: the authenticated
    # placement is the same estimate, so no draw may show a gain.
    observed = placement({"gmail": (0.60, 0.10, 0.30)})
    observed["inbox_low"], observed["inbox_high"] = 0.50, 0.70
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        nothing = authentication_fix_value(cube(), {"gmail": 0.0}, observed, config=CONFIG,
                                           bulk_sender=True, draws=200, random_state=0)
    assert nothing.monthly == {"p10": 0.0, "p50": 0.0, "p90": 0.0}


def test_fix_value_without_placement_uses_the_benchmark():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = authentication_fix_value(cube(), {"gmail": 0.2}, config=CONFIG,
                                         bulk_sender=True, draws=50, random_state=0)
    # Authenticated: Gmail benchmark 0.90 inbox; now 0.8 x 0.90 = 0.72: 1000 x 0.18 x 0.72.
    assert value.authenticated_placement["inbox_rate"].item() == 0.90
    assert value.placement["inbox_rate"].item() == pytest.approx(0.72)
    leakage = value.leakage.set_index("stage")
    assert leakage.loc["verification", "lost_p50"] == pytest.approx(1000 * 0.18 * 0.72,
                                                                    rel=0.05)


def test_bulk_sender_status_from_daily_volume():
    frame = pd.concat([cube(providers=("gmail",), per_day=6000),
                       cube(providers=("yahoo", "microsoft"), per_day=100)])
    status = bulk_sender_status(frame)
    # F1: ~5,000 a day to Gmail makes a bulk sender; 100 a day does not.
    assert status == {"gmail": True, "microsoft": False, "yahoo": False}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = authentication_fix_value(frame, {"gmail": 0.1, "microsoft": 0.1}, config=CONFIG,
                                         draws=20, random_state=0)
    assert value.impact.set_index("mailbox_provider")["missing_share"].to_dict() == {
        "gmail": 0.1, "microsoft": 0.0}
