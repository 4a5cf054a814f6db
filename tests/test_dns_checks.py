"""Offline SPF, DMARC and DKIM checks (deliverability_econ.dns_checks).

Fixtures in tests/data/dns/ (README.md there): a zone fragment, dig output of the SPF includes
of Google Workspace, SendGrid, Mailchimp, Microsoft 365 and Mailgun, and DKIM keys generated
once with openssl. Lookup counts are hand counts from RFC 7208 section 4.6.4.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deliverability_econ.dns_checks import (
    FINDING_COLUMNS,
    FINDINGS,
    SEVERITIES,
    check_dns,
    dkim_key,
    parse_dmarc,
    parse_dns_records,
    parse_spf,
    rsa_modulus_bits,
)

DATA = Path(__file__).parent / "data" / "dns"
ZONE = DATA / "example_com.zone"
DIG = DATA / "includes.dig"
KEYS = DATA / "dkim_keys.zone"


def codes(result, domain=None):
    findings = result.findings
    if domain is not None:
        findings = findings[findings["domain"] == domain]
    return set(findings["code"])


# ------------------------------------------------------------------------------------------
# Reading records
# ------------------------------------------------------------------------------------------


def test_zone_fragment_joins_strings_and_resolves_names():
    table, meta = parse_dns_records(ZONE)
    spf = table[(table["name"] == "example.com") & table["value"].str.startswith("v=spf1")]
    assert len(spf) == 1
    # Two character-strings inside ( ), joined without separator (RFC 7208 section 3.3).
    assert spf["value"].iloc[0].endswith("include:servers.mcsv.net include:spf.protection"
                                         ".outlook.com include:mailgun.org ~all")
    assert spf["strings"].iloc[0] == 2
    dmarc = table[table["name"] == "_dmarc.example.com"]["value"].iloc[0]
    assert dmarc.startswith("v=DMARC1; p=none; sp=none; pct=100; rua=mailto:")
    cname = table[table["name"] == "s1._domainkey.example.com"]
    assert cname["type"].iloc[0] == "CNAME"
    assert cname["value"].iloc[0] == "s1.domainkey.u1234567.wl068.sendgrid.net"
    assert meta["quarantined"] == 0
    # SOA and NS records are ignored and counted, not lost.
    assert meta["ignored"]["SOA record"] == 1 and meta["ignored"]["NS record"] == 1


def test_dig_output_reads_answers_and_nxdomain():
    table, meta = parse_dns_records(DIG)
    txt = table[table["type"] == "TXT"]
    assert len(txt) == 10  # ten ANSWER sections, one TXT each
    assert table.loc[table["type"] == "NXDOMAIN", "name"].tolist() == ["spf.oldcrm.example"]
    mailgun = txt.loc[txt["name"] == "_spf.mailgun.org", "value"].iloc[0]
    assert mailgun.endswith("ip4:69.72.32.0/20 ~all")  # two strings joined
    assert meta["quarantined"] == 0


def test_dig_short_and_bare_values_need_a_name():
    short = '"v=spf1 include:_spf.google.com " "~all"\n'
    table, meta = parse_dns_records(short)
    assert table.empty and meta["quarantined"] == 1
    assert "default_name" in meta["quarantine"][0]["reason"]
    table, meta = parse_dns_records(short, default_name="Example.com.")
    assert table[["name", "value"]].to_numpy().tolist() == [
        ["example.com", "v=spf1 include:_spf.google.com ~all"]]
    table, _ = parse_dns_records("v=DMARC1; p=reject", default_name="_dmarc.example.com")
    assert table["value"].tolist() == ["v=DMARC1; p=reject"]


def test_mapping_input_and_empty_list_means_no_txt_record():
    table, _ = parse_dns_records({"example.com": [["v=spf1 ", "-all"]], "gone.example": []})
    assert table[["name", "type", "value", "strings"]].to_numpy().tolist() == [
        ["example.com", "TXT", "v=spf1 -all", 2], ["gone.example", "NODATA", "", 0]]


def test_bad_lines_are_quarantined_with_location_and_reason():
    text = ('example.com. IN TXT "v=spf1 -all"\n'
            'broken.example.com. IN TXT "v=spf1 include:x.example\n'
            '                           "-all"\n'
            'example.org. 300 IN BOGUS something\n')
    table, meta = parse_dns_records(text)
    assert table["name"].tolist() == ["example.com"]
    reasons = {q["location"]: q["reason"] for q in meta["quarantine"]}
    assert reasons["line 2"] == "unterminated quoted string"
    assert "( ... )" in reasons["line 3"]          # a record spanning lines without ( )
    assert "record type" in reasons["line 4"]
    result = check_dns(text)
    unparsed = result.findings[result.findings["code"] == "input_unparsed"]
    assert len(unparsed) == 3 and unparsed["message"].str.contains("<text 0> line").all()


def test_indented_paste_is_not_a_continuation_line():
    table, meta = parse_dns_records('   example.com. 300 IN TXT "v=spf1 -all"')
    assert table["name"].tolist() == ["example.com"] and meta["quarantined"] == 0


# ------------------------------------------------------------------------------------------
# SPF lookups
# ------------------------------------------------------------------------------------------


def test_spf_lookup_count_through_all_includes_is_twelve():
    result = check_dns([ZONE, DIG])
    summary = result.summary.set_index("domain").loc["example.com"]
    # Hand count in tests/data/dns/README.md: 1 + 1 + 4 + 2 + 1 + 1 + 2 = 12.
    assert summary["spf_lookups"] == 12
    assert bool(summary["spf_lookups_exact"]) is True
    assert bool(summary["spf_valid"]) is False
    assert "spf_too_many_lookups" in codes(result)
    message = result.findings.loc[result.findings["code"] == "spf_too_many_lookups",
                                  "message"].item()
    assert message == "12 DNS-querying terms (limit 10)"
    # Per include, from the lookup tree: Google Workspace 4, SendGrid 2, Mailgun 2.
    tree = result.lookups[result.lookups["counts"] == 1]
    top = tree["path"].str.split(" > ").str[1].fillna(tree["term"].str.split(":").str[-1])
    per_branch = tree.groupby(top.to_numpy())["counts"].sum()
    assert per_branch["_spf.google.com"] == 4
    assert per_branch["sendgrid.net"] == 2
    assert per_branch["mailgun.org"] == 2
    assert per_branch["servers.mcsv.net"] == 1
    assert per_branch["spf.protection.outlook.com"] == 1
    # Only example.com is a sending domain: include targets are not checked as senders.
    assert result.summary["domain"].tolist() == ["example.com"]
    assert bool(summary["bulk_sender_dns_ready"]) is False


def test_spf_count_is_a_lower_bound_without_the_includes():
    result = check_dns(ZONE)
    summary = result.summary.iloc[0]
    # a, mx and five includes, none followed: 7.
    assert summary["spf_lookups"] == 7 and bool(summary["spf_lookups_exact"]) is False
    assert summary["spf_not_given"] == ("_spf.google.com, sendgrid.net, servers.mcsv.net, "
                                        "spf.protection.outlook.com, mailgun.org")
    assert "spf_lookups_lower_bound" in codes(result)
    assert "spf_too_many_lookups" not in codes(result)


def test_spf_lower_bound_already_over_the_limit_says_at_least():
    records = {"example.com": "v=spf1 " + " ".join(f"include:s{i}.example.net"
                                                   for i in range(11)) + " -all"}
    result = check_dns(records)
    message = result.findings.loc[result.findings["code"] == "spf_too_many_lookups",
                                  "message"].item()
    assert message == "11 at least DNS-querying terms (limit 10)"


def test_spf_void_lookups_counted_from_nodata_and_nxdomain():
    dig = DIG.read_text()
    records = [dig, {"example.com": "v=spf1 a:spf.oldcrm.example include:gone1.example.net "
                                    "include:gone2.example.net ~all",
                     "gone1.example.net": [], "gone2.example.net": []}]
    result = check_dns(records, domains=["example.com"])
    summary = result.summary.iloc[0]
    # a:spf.oldcrm.example (NXDOMAIN) + two includes without TXT = 3 void lookups > 2.
    assert summary["spf_void_lookups"] == 3 and summary["spf_lookups"] == 3
    assert {"spf_void_lookups", "spf_include_without_spf"} <= codes(result)


def test_terms_after_all_and_redirect_with_all_are_not_counted():
    result = check_dns({"example.com": "v=spf1 mx -all include:a.example.net "
                                       "redirect=b.example.net"})
    # Only mx is evaluated: the include follows -all and redirect is ignored with all.
    assert result.summary["spf_lookups"].item() == 1
    assert {"spf_terms_after_all", "spf_redirect_ignored"} <= codes(result)


def test_redirect_is_followed_and_counted():
    result = check_dns({"example.com": "v=spf1 redirect=_spf.example.com",
                        "_spf.example.com": "v=spf1 include:servers.mcsv.net a -all",
                        "servers.mcsv.net": "v=spf1 ip4:205.201.128.0/20 -all"})
    summary = result.summary.set_index("domain").loc["example.com"]
    # redirect 1 + include 1 + a 1 = 3, every record given.
    assert summary["spf_lookups"] == 3 and bool(summary["spf_lookups_exact"])
    assert summary["spf_all"] == "redirect=_spf.example.com"
    assert "spf_no_all" not in codes(result)


@pytest.mark.parametrize("text, expected", [
    ("v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 a mx:mail.example.com/24//64 ~all",
     [("+", "ip4"), ("+", "ip6"), ("+", "a"), ("+", "mx"), ("~", "all")]),
    ("V=SPF1 -include:_spf.example.net ?exists:%{i}.spf.example.com exp=explain.example.com",
     [("-", "include"), ("?", "exists"), ("", "exp")]),
])
def test_parse_spf_terms(text, expected):
    terms, problems = parse_spf(text)
    assert [(t.qualifier, t.name) for t in terms] == expected and problems == []


@pytest.mark.parametrize("term, code", [
    ("ip4:192.0.2.0/33", "spf_invalid_term"), ("ip6:192.0.2.1", "spf_invalid_term"),
    ("include", "spf_invalid_term"), ("a/40", "spf_invalid_term"), ("all:x", "spf_invalid_term"),
    ("include:bad_domain", "spf_invalid_term"), ("ipv4:192.0.2.1", "spf_unknown_mechanism"),
    ("+foo", "spf_unknown_mechanism"), ("mx=mail.example.com", "spf_modifier_looks_like_mechanism"),
])
def test_parse_spf_problems(term, code):
    _, problems = parse_spf(f"v=spf1 {term} -all")
    assert [c for c, _ in problems] == [code]


def test_not_an_spf_record():
    with pytest.raises(ValueError, match="v=spf1"):
        parse_spf("v=spf10 -all")


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(alphabet="abcdefgilmnoprstux0123456789:./%{}=+-~?_", min_size=1,
                        max_size=25), max_size=12))
def test_parse_spf_never_crashes_and_keeps_or_reports_every_term(words):
    text = "v=spf1 " + " ".join(words)
    terms, problems = parse_spf(text)
    # Every term is either read or reported (duplicates and look-alike modifiers do both).
    assert len(terms) + len(problems) >= len(text.split()) - 1
    assert all(code in FINDINGS for code, _ in problems)
    result = check_dns({"example.com": text})
    assert set(result.findings["severity"]) <= set(SEVERITIES)


# ------------------------------------------------------------------------------------------
# DMARC
# ------------------------------------------------------------------------------------------


def test_parse_dmarc_defaults_and_values():
    tags, problems = parse_dmarc("v=DMARC1; p=reject; rua=mailto:a@example.com!10m")
    assert (tags["sp"], tags["pct"], tags["adkim"], tags["aspf"], tags["ri"]) == (
        "reject", "100", "r", "r", "86400")
    assert problems == []
    _, problems = parse_dmarc("v=dmarc1; p=reject")
    assert [c for c, _ in problems] == ["dmarc_syntax"]


def test_fixture_dmarc_is_monitoring_only_with_reports():
    result = check_dns([ZONE, DIG])
    summary = result.summary.iloc[0]
    assert (summary["dmarc_policy"], summary["dmarc_pct"], bool(summary["dmarc_rua"])) == (
        "none", 100, True)
    assert {"dmarc_policy_none", "dmarc_external_destination"} <= codes(result)
    assert "dmarc_no_rua" not in codes(result)


def test_subdomain_inherits_the_parent_policy_through_sp():
    result = check_dns({"news.example.com": "v=spf1 include:servers.mcsv.net -all",
                        "_dmarc.example.com": "v=DMARC1; p=reject; sp=quarantine; "
                                              "rua=mailto:d@example.com"},
                       domains=["news.example.com"])
    summary = result.summary.iloc[0]
    assert summary["dmarc_record_name"] == "_dmarc.example.com"
    assert summary["dmarc_policy"] == "quarantine"
    assert "dmarc_inherited" in codes(result)


def test_invalid_policy_with_rua_is_treated_as_none():
    result = check_dns({"example.com": "v=spf1 -all",
                        "_dmarc.example.com": "v=DMARC1; p=block; rua=mailto:d@example.com"})
    assert result.summary["dmarc_policy"].item() == "none"
    result = check_dns({"example.com": "v=spf1 -all",
                        "_dmarc.example.com": "v=DMARC1; p=block"})
    assert pd.isna(result.summary["dmarc_policy"].item())
    assert "bulk_sender_requirements" in codes(result)


# ------------------------------------------------------------------------------------------
# DKIM
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, bits", [("dkim_rsa2048.b64", 2048), ("dkim_rsa1024.b64", 1024),
                                        ("dkim_rsa512.b64", 512),
                                        ("dkim_rsa512_pkcs1.b64", 512)])
def test_rsa_modulus_bits_of_openssl_keys(name, bits):
    # Generated with openssl genrsa <bits> (README.md): the modulus has exactly that length.
    der = base64.b64decode((DATA / name).read_text())
    assert rsa_modulus_bits(der) == bits
    assert dkim_key((DATA / name).read_text()) == ("rsa", bits)


def test_ed25519_and_revoked_keys():
    assert dkim_key((DATA / "dkim_ed25519.b64").read_text(), "ed25519") == ("ed25519", 256)
    assert dkim_key("", "rsa") == ("rsa", None)
    with pytest.raises(ValueError, match="32 bytes"):
        dkim_key((DATA / "dkim_rsa1024.b64").read_text(), "ed25519")


@pytest.mark.parametrize("der", [b"", b"\x30\x03\x02\x01", b"\x04\x00", b"\x30\x82\xff\xff\x02"])
def test_rsa_modulus_bits_rejects_garbage(der):
    with pytest.raises(ValueError):
        rsa_modulus_bits(der)


def test_dkim_keys_by_selector():
    result = check_dns(KEYS)
    keys = result.dkim.set_index("selector")
    assert keys.loc["rsa2048", "bits"] == 2048 and bool(keys.loc["rsa2048", "usable"])
    assert keys.loc["rsa1024", "bits"] == 1024 and bool(keys.loc["rsa1024", "usable"])
    assert keys.loc["rsa512", "bits"] == 512 and not bool(keys.loc["rsa512", "usable"])
    assert bool(keys.loc["testing", "testing"]) and not bool(keys.loc["testing", "usable"])
    assert bool(keys.loc["revoked", "revoked"])
    expected = {"rsa512": "dkim_key_too_short", "rsa1024": "dkim_key_weak",
                "ed25519": "dkim_ed25519", "revoked": "dkim_revoked", "testing": "dkim_testing",
                "sha1only": "dkim_sha1_only", "broken": "dkim_invalid_key",
                "truncated": "dkim_invalid_key", "dsa": "dkim_unknown_key_type",
                "nokey": "dkim_syntax"}
    findings = result.findings[result.findings["check"] == "dkim"]
    for selector, code in expected.items():
        found = findings.loc[findings["record_name"] == f"{selector}._domainkey.keys.example",
                             "code"].tolist()
        assert found == [code], selector
    assert findings.loc[findings["record_name"].str.startswith("rsa2048."), "code"].empty
    summary = result.summary.iloc[0]
    assert summary["dkim_selectors"] == 11 and summary["dkim_usable_selectors"] == 3
    assert summary["dkim_min_rsa_bits"] == 512


def test_fixture_dkim_weak_and_delegated_selectors():
    result = check_dns([ZONE, DIG])
    keys = result.dkim.set_index("selector")
    assert keys.loc["google", "bits"] == 2048 and keys.loc["k1", "bits"] == 1024
    assert keys.loc["s1", "delegated_to"] == "s1.domainkey.u1234567.wl068.sendgrid.net"
    assert pd.isna(keys.loc["s1", "usable"])
    assert result.findings["code"].value_counts()["dkim_delegated"] == 3


def test_dkim_key_behind_a_given_cname_is_checked():
    key = (DATA / "dkim_rsa1024.b64").read_text()
    text = ("s1._domainkey.example.com. IN CNAME s1.domainkey.u1.wl.sendgrid.net.\n"
            f's1.domainkey.u1.wl.sendgrid.net. IN TXT "v=DKIM1; k=rsa; p={key}"\n')
    result = check_dns(text, domains=["example.com"])
    assert result.dkim["bits"].tolist() == [1024]
    assert "dkim_key_weak" in codes(result) and "dkim_delegated" not in codes(result)


# ------------------------------------------------------------------------------------------
# Every finding type
# ------------------------------------------------------------------------------------------

_RUA = "rua=mailto:dmarc@example.com"
_DMARC = {"_dmarc.example.com": f"v=DMARC1; p=reject; {_RUA}"}


def _spf(record):
    return {"example.com": record, **_DMARC}


CASES = {
    "spf_missing": (_DMARC, ["example.com"]),
    "spf_multiple_records": ({"example.com": ["v=spf1 -all", "v=spf1 ~all"], **_DMARC}, None),
    "spf_unknown_mechanism": (_spf("v=spf1 ip:192.0.2.1 -all"), None),
    "spf_invalid_term": (_spf("v=spf1 ip4:192.0.2.300 -all"), None),
    "spf_duplicate_modifier": (_spf("v=spf1 redirect=a.example.net redirect=b.example.net"),
                               None),
    "spf_modifier_looks_like_mechanism": (_spf("v=spf1 include=_spf.example.net -all"), None),
    "spf_ptr": (_spf("v=spf1 ptr -all"), None),
    "spf_pass_all": (_spf("v=spf1 +all"), None),
    "spf_neutral_all": (_spf("v=spf1 ?all"), None),
    "spf_no_all": (_spf("v=spf1 ip4:192.0.2.0/24"), None),
    "spf_terms_after_all": (_spf("v=spf1 -all ip4:192.0.2.1"), None),
    "spf_redirect_ignored": (_spf("v=spf1 -all redirect=_spf.example.net"), None),
    "spf_too_many_lookups": (_spf("v=spf1 " + " ".join(f"a:h{i}.example.com" for i in range(11))
                                  + " -all"), None),
    "spf_lookups_lower_bound": (_spf("v=spf1 include:_spf.example.net -all"), None),
    "spf_void_lookups": ({**_spf("v=spf1 include:g1.example.net include:g2.example.net "
                                 "include:g3.example.net -all"),
                          "g1.example.net": [], "g2.example.net": [], "g3.example.net": []},
                         ["example.com"]),
    "spf_include_without_spf": ({**_spf("v=spf1 include:_spf.example.net -all"),
                                 "_spf.example.net": "google-site-verification=abc"},
                                ["example.com"]),
    "spf_include_loop": ({**_spf("v=spf1 include:a.example.net -all"),
                          "a.example.net": "v=spf1 include:example.com -all"}, ["example.com"]),
    "spf_macro_unresolved": (_spf("v=spf1 exists:%{i}._spf.example.com -all"), None),
    "dmarc_missing": ({"example.com": "v=spf1 -all"}, None),
    "dmarc_multiple_records": ({"example.com": "v=spf1 -all", "_dmarc.example.com": [
        "v=DMARC1; p=none", "v=DMARC1; p=reject"]}, None),
    "dmarc_syntax": ({"example.com": "v=spf1 -all",
                      "_dmarc.example.com": "v=DMARC1; p=reject; reject-all"}, None),
    "dmarc_invalid_policy": ({"example.com": "v=spf1 -all",
                              "_dmarc.example.com": f"v=DMARC1; p=block; {_RUA}"}, None),
    "dmarc_invalid_value": ({"example.com": "v=spf1 -all",
                             "_dmarc.example.com": f"v=DMARC1; p=reject; pct=150; {_RUA}"}, None),
    "dmarc_policy_none": ({"example.com": "v=spf1 -all",
                          "_dmarc.example.com": f"v=DMARC1; p=none; {_RUA}"}, None),
    "dmarc_no_rua": ({"example.com": "v=spf1 -all",
                      "_dmarc.example.com": "v=DMARC1; p=reject"}, None),
    "dmarc_partial_pct": ({"example.com": "v=spf1 -all",
                           "_dmarc.example.com": f"v=DMARC1; p=quarantine; pct=25; {_RUA}"},
                          None),
    "dmarc_strict_alignment": ({"example.com": "v=spf1 -all",
                                "_dmarc.example.com": f"v=DMARC1; p=reject; adkim=s; {_RUA}"},
                               None),
    "dmarc_subdomain_weaker": ({"example.com": "v=spf1 -all",
                                "_dmarc.example.com": f"v=DMARC1; p=reject; sp=none; {_RUA}"},
                               None),
    "dmarc_unknown_tag": ({"example.com": "v=spf1 -all",
                           "_dmarc.example.com": f"v=DMARC1; p=reject; {_RUA}; foo=bar"}, None),
    "dmarc_non_mailto_uri": ({"example.com": "v=spf1 -all", "_dmarc.example.com":
                              "v=DMARC1; p=reject; rua=https://dmarc.example.net/r"}, None),
    "dmarc_external_destination": ({"example.com": "v=spf1 -all", "_dmarc.example.com":
                                    "v=DMARC1; p=reject; rua=mailto:x@reports.example.net"},
                                   None),
    "dmarc_external_destination_unauthorized": (
        {"example.com": "v=spf1 -all",
         "_dmarc.example.com": "v=DMARC1; p=reject; rua=mailto:x@reports.example.net",
         "example.com._report._dmarc.reports.example.net": []}, ["example.com"]),
    "dmarc_inherited": ({"news.example.com": "v=spf1 -all", **_DMARC}, ["news.example.com"]),
    "dkim_delegated": ("s1._domainkey.example.com. IN CNAME s1.domainkey.u1.wl.sendgrid.net.",
                       None),
    "dkim_not_given": (_spf("v=spf1 -all"), None),
    "bulk_sender_requirements": ({"example.com": "v=spf1 -all"}, None),
    "input_unparsed": ('example.com. IN TXT "v=spf1 -all', None),
}

#: Codes covered by test_dkim_keys_by_selector (one selector per code in dkim_keys.zone).
DKIM_FIXTURE_CODES = {"dkim_key_too_short", "dkim_key_weak", "dkim_ed25519", "dkim_revoked",
                      "dkim_testing", "dkim_sha1_only", "dkim_invalid_key", "dkim_syntax",
                      "dkim_unknown_key_type"}


def test_every_finding_type_has_a_case():
    assert set(CASES) | DKIM_FIXTURE_CODES == set(FINDINGS)
    assert set(codes(check_dns(KEYS))) >= DKIM_FIXTURE_CODES


@pytest.mark.parametrize("code", sorted(CASES))
def test_finding_type_is_reported(code):
    records, domains = CASES[code]
    result = check_dns(records, domains=domains)
    assert code in codes(result)
    row = result.findings[result.findings["code"] == code].iloc[0]
    kind = FINDINGS[code]
    assert (row["severity"], row["consequence"], row["source"]) == (
        kind.severity, kind.consequence, kind.source)
    assert row["source"] and row["consequence"] and row["message"]


def test_findings_table_shape_and_order():
    result = check_dns([ZONE, DIG, KEYS])
    assert tuple(result.findings.columns) == FINDING_COLUMNS
    rank = result.findings["severity"].map({s: i for i, s in enumerate(SEVERITIES)})
    for _, group in rank.groupby(result.findings["domain"]):
        assert group.is_monotonic_increasing
    summary = result.summary.set_index("domain")
    assert summary.loc["keys.example", "errors"] == (
        (result.findings["domain"] == "keys.example") & (result.findings["severity"] == "error")
    ).sum()


def test_clean_domain_has_no_warnings():
    key = (DATA / "dkim_rsa2048.b64").read_text()
    result = check_dns({"example.com": "v=spf1 include:servers.mcsv.net -all",
                        "servers.mcsv.net": "v=spf1 ip4:205.201.128.0/20 -all",
                        "_dmarc.example.com": f"v=DMARC1; p=reject; {_RUA}",
                        "k2._domainkey.example.com": f"v=DKIM1; k=rsa; p={key}"})
    assert result.findings.empty
    summary = result.summary.iloc[0]
    assert bool(summary["bulk_sender_dns_ready"]) and summary["spf_lookups"] == 1
