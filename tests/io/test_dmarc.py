"""DMARC aggregate report reader (deliverability_econ.io.dmarc; RFC 7489 appendix C).

The fixtures in tests/data/dmarc/ were written for these tests following the RFC's schema and
the reporters' habits; xml/ holds the XML, reports/ the attachments as received (made from
xml/ by make_archives.py):

- google.com (zip): 5 records, day 2025-03-03, two DKIM signatures on the first record;
- Yahoo (xml.gz): 3 records, same day, ``<version>``, begin/end padded with spaces and newlines;
- Yahoo for example.org (plain xml on one line): 2 records, adkim=s, sp=reject, pct=50;
- Enterprise Outlook (zip): 3 records, 2025-03-04, ``envelope_to``, an IPv6 source written long;
- Mail.Ru (xml.gz): the DMARC 2.0 draft namespace, upper-case results, begin/end as date-time
  strings, no pct, an override reason;
- comcast.net (xml): a report with zero records.

Counts per report (read off the XML): 2200 + 375 + 120 + 525 + 75 + 0 = 3295 messages in 15
records.
"""

import gzip
import io
import resource
import tracemalloc
import zipfile

import pandas as pd
import pytest

from deliverability_econ.io import InputFormatError
from deliverability_econ.io._base import RecordError
from deliverability_econ.io._calibration import check_table_reconciliation
from deliverability_econ.io.dmarc import (
    DMARC_COLUMNS,
    REPORT_COLUMNS,
    read_dmarc_aggregate,
    report_time,
    reporter_provider,
)

GOOGLE_ZIP = "google.com!example.com!1740960000!1741046399.zip"
YAHOO_GZ = "yahoo.com!example.com!1740960000!1741046399.xml.gz"
OUTLOOK_ZIP = "enterprise.protection.outlook.com!example.com!1741046400!1741132799.zip"
MAILRU_GZ = "mail.ru!example.com!1741046400!1741132799.xml.gz"

#: Few megabytes: a parser that expanded the hostile documents or inflated a bomb would need
#: hundreds of megabytes (the billion-laughs document expands to 3 GB of "lol").
MEMORY_BUDGET_BYTES = 4 * 1024 * 1024


@pytest.fixture
def dmarc_dir(data_dir):
    return data_dir / "dmarc"


@pytest.fixture
def all_reports(dmarc_dir):
    return read_dmarc_aggregate(dmarc_dir / "reports")


def utc(text):
    return pd.Timestamp(text, tz="UTC")


def one(records, **where):
    mask = pd.Series(True, index=records.index)
    for column, value in where.items():
        mask &= records[column] == value
    assert mask.sum() == 1, where
    return records.loc[mask].iloc[0]


def test_folder_of_attachments_multi_reporter(all_reports):
    records, meta = all_reports
    assert list(records.columns) == list(DMARC_COLUMNS)
    assert meta["format"] == "dmarc_aggregate"
    assert meta["documents"] == 6 and len(meta["sources"]) == 6
    assert meta["records_read"] == 15 and meta["rows"] == 15
    assert meta["quarantined"] == 0 and meta["duplicates"] == 0
    assert check_table_reconciliation(meta)
    assert meta["messages"] == records["count"].sum() == 3295
    assert meta["empty_reports"] == 1
    assert (meta["time_min"], meta["time_max"]) == (utc("2025-03-03"), utc("2025-03-04 23:59:59"))
    assert set(records["reporter"]) == {"google.com", "Yahoo", "Enterprise Outlook", "Mail.Ru"}
    by_reporter = records.groupby("reporter")["count"].sum().to_dict()
    assert by_reporter == {"google.com": 2200, "Yahoo": 375 + 120, "Enterprise Outlook": 525,
                           "Mail.Ru": 75}
    providers = records.drop_duplicates("reporter").set_index("reporter")["mailbox_provider"]
    assert providers.to_dict() == {"Yahoo": "yahoo", "google.com": "gmail",
                                   "Enterprise Outlook": "microsoft", "Mail.Ru": "mailru"}
    dtypes = records.dtypes.astype(str).to_dict()
    assert dtypes["begin"] == dtypes["end"] == "datetime64[ns, UTC]"
    assert dtypes["count"] == "int64" and dtypes["dmarc_pass"] == "bool"
    assert dtypes["source_ip"] == "string" and dtypes["disposition"] == "category"
    assert records["policy"].cat.ordered and records["policy"].cat.categories.tolist() == [
        "none", "quarantine", "reject"]


def test_google_multi_record_zip_and_representative_signature(dmarc_dir):
    records, meta = read_dmarc_aggregate(dmarc_dir / "reports" / GOOGLE_ZIP)
    assert meta["rows"] == 5 and records["count"].sum() == 1200 + 800 + 150 + 40 + 10
    assert meta["sources"] == [str(dmarc_dir / "reports" / GOOGLE_ZIP)]
    report = meta["reports"].iloc[0]
    assert report["source"].endswith(".zip!google.com!example.com!1740960000!1741046399.xml")
    assert report["report_id"] == "5717107811868587391" and report["status"] == "read"
    assert pd.isna(report["version"])

    first = one(records, source_ip="203.0.113.10")
    assert first["begin"] == utc("2025-03-03") and first["end"] == utc("2025-03-03 23:59:59")
    # Two signatures, the ESP's listed first: the one aligned with the From domain represents.
    assert (first["dkim_signatures"], first["dkim_signatures_passed"]) == (2, 2)
    assert (first["dkim_domain"], first["dkim_selector"]) == ("example.com", "s1")
    assert first["spf_domain"] == "bounces.example.com" and pd.isna(first["spf_scope"])
    assert first["dkim_aligned"] and first["spf_aligned"] and first["dmarc_pass"]
    assert (first["policy"], first["subdomain_policy"], first["policy_fraction"]) == ("none", "none", 1.0)

    # A service signing with its own domain: DKIM and SPF pass, neither aligned: DMARC fails.
    service = one(records, source_ip="192.0.2.50")
    assert service["dkim_pass"] and service["spf_pass"]
    assert not service["dkim_aligned"] and not service["spf_aligned"] and not service["dmarc_pass"]
    assert service["dkim_domain"] == "service.example.net"

    # A forwarder: DKIM survives, SPF softfails for the list's domain; DMARC passes on DKIM.
    forwarded = one(records, source_ip="209.85.220.41")
    assert forwarded["dkim_aligned"] and not forwarded["spf_aligned"] and forwarded["dmarc_pass"]
    assert forwarded["spf_result"] == "softfail" and not forwarded["spf_pass"]

    # No DKIM signature at all: empty columns, zero counts.
    unsigned = one(records, source_ip="198.51.100.25")
    assert unsigned["dkim_signatures"] == 0 and pd.isna(unsigned["dkim_domain"])
    assert unsigned["spf_aligned"] and not unsigned["dkim_aligned"] and unsigned["dmarc_pass"]


def test_yahoo_gzip_with_version_and_padded_dates(dmarc_dir):
    records, meta = read_dmarc_aggregate(dmarc_dir / "reports" / YAHOO_GZ)
    assert meta["rows"] == 3 and records["count"].sum() == 375
    assert set(records["begin"]) == {utc("2025-03-03")}
    assert set(records["end"]) == {utc("2025-03-03 23:59:59")}
    assert meta["reports"].iloc[0]["version"] == "1.0"
    spoof = one(records, source_ip="185.220.101.7")
    assert spoof["dkim_result"] == "fail" and spoof["spf_result"] == "softfail"
    assert not spoof["dkim_pass"] and not spoof["dmarc_pass"]


def test_microsoft_envelope_to_and_ipv6(dmarc_dir):
    records, _ = read_dmarc_aggregate(dmarc_dir / "reports" / OUTLOOK_ZIP)
    assert records["mailbox_provider"].unique().tolist() == ["microsoft"]
    v6 = one(records, source_ip="2001:db8:25::1")  # written in full in the report
    assert (v6["envelope_to"], v6["envelope_from"]) == ("outlook.com", "example.com")
    assert v6["spf_scope"] == "mfrom"
    assert one(records, source_ip="192.0.2.50")["envelope_to"] == "hotmail.com"


def test_mailru_namespaced_draft_uppercase_and_string_dates(dmarc_dir):
    records, meta = read_dmarc_aggregate(dmarc_dir / "reports" / MAILRU_GZ)
    assert meta["rows"] == 2
    assert set(records["reporter"]) == {"Mail.Ru"}  # " Mail.Ru " trimmed
    assert set(records["domain"]) == {"example.com"}  # "Example.COM" lower-cased
    assert set(records["begin"]) == {utc("2025-03-04")}
    assert set(records["end"]) == {utc("2025-03-04 23:59:59")}
    # No pct in the DMARC 2.0 draft: the RFC 7489 default of 100%; adkim/aspf default relaxed.
    assert set(records["policy_fraction"]) == {1.0}
    assert set(records["adkim"]) == {"r"} and set(records["aspf"]) == {"r"}
    good = one(records, source_ip="203.0.113.11")
    assert good["dkim_result"] == "pass" and good["dkim_aligned"] and good["disposition"] == "none"
    forged = one(records, source_ip="185.220.101.7")
    assert forged["disposition"] == "quarantine" and forged["override_reason"] == "local_policy"
    assert forged["spf_result"] == "softfail" and not forged["dmarc_pass"]


def test_published_policy_strict_and_sampled(dmarc_dir):
    records, _ = read_dmarc_aggregate(
        dmarc_dir / "reports" / "yahoo.com!example.org!1740960000!1741046399.xml"
    )
    row = one(records, source_ip="192.0.2.99")
    assert (row["domain"], row["adkim"], row["aspf"]) == ("example.org", "s", "r")
    assert (row["policy"], row["subdomain_policy"]) == ("quarantine", "reject")
    assert row["policy_fraction"] == 0.5  # pct=50
    assert row["disposition"] == "quarantine"


def test_zero_record_report_is_listed_not_counted(all_reports):
    records, meta = all_reports
    reports = meta["reports"]
    assert list(reports.columns) == list(REPORT_COLUMNS)
    empty = reports.loc[reports["reporter"] == "comcast.net"].iloc[0]
    assert (empty["records"], empty["messages"], empty["status"]) == (0, 0, "empty")
    assert empty["begin"] == utc("2025-03-04")
    assert "comcast.net" not in set(records["reporter"])
    assert reports["records"].sum() == 15 and reports["messages"].sum() == 3295


def test_the_same_report_twice_counts_once(dmarc_dir):
    records, meta = read_dmarc_aggregate(
        [dmarc_dir / "reports" / GOOGLE_ZIP, dmarc_dir / "xml" / "google.xml"]
    )
    assert meta["rows"] == 5 and meta["duplicates"] == 5 and meta["records_read"] == 10
    assert check_table_reconciliation(meta)
    assert records["count"].sum() == 2200
    assert meta["reports"]["status"].tolist() == ["read", "duplicate"]


def test_buffers_glob_and_content_sniffing(dmarc_dir):
    reports = dmarc_dir / "reports"
    from_paths, _ = read_dmarc_aggregate([reports / GOOGLE_ZIP, reports / YAHOO_GZ])
    buffers = [io.BytesIO((reports / GOOGLE_ZIP).read_bytes()),
               io.BytesIO((reports / YAHOO_GZ).read_bytes())]
    from_buffers, meta = read_dmarc_aggregate(buffers)
    pd.testing.assert_frame_equal(from_paths, from_buffers)
    assert meta["sources"] == ["<buffer>", "<buffer>"]
    globbed, _ = read_dmarc_aggregate(str(reports / "*.xml.gz"))
    assert set(globbed["reporter"]) == {"Yahoo", "Mail.Ru"}
    # Content, not the name, decides: a gzip saved as .xml still reads.
    text, _ = read_dmarc_aggregate(io.StringIO((dmarc_dir / "xml" / "yahoo.xml").read_text()))
    pd.testing.assert_frame_equal(text, read_dmarc_aggregate(reports / YAHOO_GZ)[0])


def test_bad_records_are_quarantined_with_field(dmarc_dir):
    source = dmarc_dir / "bad" / "bad_records.xml"
    records, meta = read_dmarc_aggregate(source)
    assert meta["rows"] == 1 and records["count"].tolist() == [7]
    assert meta["quarantined"] == 4 and meta["records_read"] == 5
    assert check_table_reconciliation(meta)
    quarantine = meta["quarantine"]
    assert quarantine["source"].tolist() == [str(source)] * 4
    assert quarantine["location"].tolist() == ["record 2", "record 3", "record 4", "record 5"]
    assert quarantine["field"].tolist() == [
        "row/count", "row/source_ip", "identifiers/header_from", "row/policy_evaluated/disposition"]
    assert "twelve" in quarantine["reason"].iloc[0]
    assert "192.0.2.300" in quarantine["reason"].iloc[1]
    assert quarantine["raw"].iloc[0].startswith("<record>")
    assert meta["reports"].iloc[0]["records"] == 5 and meta["reports"].iloc[0]["messages"] == 7

    with pytest.raises(InputFormatError) as raised:
        read_dmarc_aggregate(source, errors="raise")
    error = raised.value
    assert (error.source, error.location, error.field) == (str(source), "record 2", "row/count")
    assert "bad_records.xml, record 2, field 'row/count': not a number" in str(error)


def test_missing_report_metadata_sets_all_records_aside(dmarc_dir):
    records, meta = read_dmarc_aggregate(dmarc_dir / "bad" / "no_report_id.xml")
    assert records.empty and list(records.columns) == list(DMARC_COLUMNS)
    assert meta["quarantined"] == 2 and meta["records_read"] == 2
    assert set(meta["quarantine"]["field"]) == {"report_metadata/report_id"}
    assert meta["quarantine"]["location"].tolist() == ["record 1", "record 2"]
    # Nothing is lost: the parsed records are kept in the quarantine.
    assert '"count": 70' in meta["quarantine"]["raw"].iloc[0]
    assert meta["reports"].iloc[0]["status"] == "quarantined"


def test_bad_xml_and_foreign_documents(dmarc_dir):
    records, meta = read_dmarc_aggregate(
        [dmarc_dir / "bad" / "truncated.xml", dmarc_dir / "bad" / "not_a_report.xml",
         dmarc_dir / "reports" / YAHOO_GZ]
    )
    assert meta["rows"] == 3  # the good report is still read
    assert meta["quarantined"] == 2 and meta["records_read"] == 5
    assert check_table_reconciliation(meta)
    truncated, foreign = meta["quarantine"].to_dict("records")
    assert truncated["location"].startswith("line 21, column")  # the </recrd> line
    assert "not well-formed XML (mismatched tag)" in truncated["reason"]
    assert foreign["location"] == "document" and "<rss>" in foreign["reason"]
    with pytest.raises(InputFormatError, match=r"truncated\.xml, line 21"):
        read_dmarc_aggregate(dmarc_dir / "bad" / "truncated.xml", errors="raise")


def test_truncated_gzip_and_broken_zip(tmp_path, dmarc_dir):
    data = (dmarc_dir / "reports" / YAHOO_GZ).read_bytes()
    (tmp_path / "cut.xml.gz").write_bytes(data[: len(data) // 2])
    (tmp_path / "broken.zip").write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    _, meta = read_dmarc_aggregate(tmp_path)
    assert meta["quarantined"] == 2 and meta["rows"] == 0
    reasons = dict(zip(meta["quarantine"]["source"], meta["quarantine"]["reason"], strict=True))
    assert "unreadable zip archive" in reasons[str(tmp_path / "broken.zip")]
    assert "compressed" in reasons[str(tmp_path / "cut.xml.gz")] or "XML" in reasons[
        str(tmp_path / "cut.xml.gz")]


def _peak_memory(function):
    """Peak Python allocation [bytes] while ``function`` runs, and its max-RSS growth [bytes]."""
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    try:
        result = function()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rss_growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) * 1024
    return result, peak, rss_growth


def test_billion_laughs_is_refused_without_expanding(dmarc_dir):
    source = dmarc_dir / "hostile" / "billion_laughs.xml"
    (records, meta), peak, rss_growth = _peak_memory(lambda: read_dmarc_aggregate(source))
    assert records.empty and meta["quarantined"] == 1 and check_table_reconciliation(meta)
    entry = meta["quarantine"].iloc[0]
    assert entry["source"] == str(source) and entry["location"] == "document"
    assert "refused" in entry["reason"] and "billion laughs" in entry["reason"]
    assert "'lol'" in entry["reason"]
    assert peak < MEMORY_BUDGET_BYTES
    assert rss_growth < 64 * MEMORY_BUDGET_BYTES  # max RSS only grows; expansion would be ~3 GB
    with pytest.raises(InputFormatError, match=r"billion_laughs\.xml, document: refused"):
        read_dmarc_aggregate(source, errors="raise")


def test_external_entity_is_refused_and_not_read(dmarc_dir):
    source = dmarc_dir / "hostile" / "xxe.xml"
    (records, meta), peak, _ = _peak_memory(lambda: read_dmarc_aggregate(source))
    assert records.empty and meta["quarantined"] == 1
    reason = meta["quarantine"]["reason"].iloc[0]
    assert "XXE" in reason and "file:///etc/passwd" in reason
    assert "root:" not in meta["quarantine"].to_string()  # the file was never read
    assert peak < MEMORY_BUDGET_BYTES
    with pytest.raises(InputFormatError, match=r"xxe\.xml.*external entity"):
        read_dmarc_aggregate(source, errors="raise")


def _bomb_payload(size):
    return b"<feedback>" + b" " * size + b"</feedback>"


@pytest.mark.parametrize("kind", ["gz", "zip"])
def test_decompression_bomb_is_capped(tmp_path, kind):
    payload = _bomb_payload(30 * 1024 * 1024)  # 30 MB of spaces: about 30 kB compressed
    if kind == "gz":
        path = tmp_path / "report.xml.gz"
        path.write_bytes(gzip.compress(payload, mtime=0))
    else:
        path = tmp_path / "report.zip"
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("report.xml", payload)
    del payload
    assert path.stat().st_size < 200_000
    (records, meta), peak, _ = _peak_memory(
        lambda: read_dmarc_aggregate(path, max_report_bytes=1_000_000)
    )
    assert records.empty and meta["quarantined"] == 1
    reason = meta["quarantine"]["reason"].iloc[0]
    assert "more than 1,000,000 bytes" in reason and "decompression bomb" in reason
    assert peak < MEMORY_BUDGET_BYTES
    with pytest.raises(InputFormatError, match="decompression bomb"):
        read_dmarc_aggregate(path, max_report_bytes=1_000_000, errors="raise")


def test_cap_lets_real_reports_through(dmarc_dir):
    google = dmarc_dir / "xml" / "google.xml"
    size = google.stat().st_size
    assert read_dmarc_aggregate(google, max_report_bytes=size)[1]["rows"] == 5
    assert read_dmarc_aggregate(google, max_report_bytes=size - 1)[1]["quarantined"] == 1
    with pytest.raises(ValueError, match="max_report_bytes"):
        read_dmarc_aggregate(google, max_report_bytes=0)


def test_addresses_are_cut_to_domains_and_scrubbed():
    xml = b"""<feedback><report_metadata><org_name>Acme Mail</org_name><report_id>7</report_id>
      <date_range><begin>1741046400</begin><end>1741132799</end></date_range></report_metadata>
      <policy_published><domain>example.com</domain><p>reject</p></policy_published>
      <record><row><source_ip>192.0.2.1</source_ip><count>3</count><policy_evaluated>
      <disposition>reject</disposition><dkim>fail</dkim><spf>fail</spf></policy_evaluated></row>
      <identifiers><header_from>example.com</header_from>
      <envelope_from>ann.smith@Example.com</envelope_from></identifiers></record>
      <record><row><source_ip>192.0.2.2</source_ip><count>x</count><policy_evaluated>
      <disposition>none</disposition><dkim>fail</dkim><spf>fail</spf></policy_evaluated></row>
      <identifiers><header_from>example.com</header_from>
      <envelope_to>bob@example.org</envelope_to></identifiers></record></feedback>"""
    records, meta = read_dmarc_aggregate(io.BytesIO(xml))
    assert records["envelope_from"].tolist() == ["example.com"]
    assert records["mailbox_provider"].tolist() == ["other"]
    assert records["spf_checks"].tolist() == [0] and pd.isna(records["spf_result"].iloc[0])
    raw = meta["quarantine"]["raw"].iloc[0]
    assert "bob@" not in raw and "redacted" in raw


def test_report_time_forms():
    assert report_time("\n  1740960000 ", "begin") == utc("2025-03-03")
    assert report_time("2025-03-03 00:00:00", "begin") == utc("2025-03-03")
    assert report_time("2025-03-03T01:00:00+01:00", "begin") == utc("2025-03-03")
    assert report_time("2025-03-03  00:00:00 UTC", "begin") == utc("2025-03-03")
    with pytest.raises(RecordError, match="missing"):
        report_time("  ", "report_metadata/date_range/begin")
    with pytest.raises(RecordError, match="wrong unit"):
        report_time("1740960000000", "begin")  # milliseconds
    with pytest.raises(RecordError, match="not epoch seconds"):
        report_time("yesterday", "begin")


def test_end_before_begin_is_rejected():
    xml = b"""<feedback><report_metadata><org_name>google.com</org_name><report_id>8</report_id>
      <date_range><begin>1741132799</begin><end>1741046400</end></date_range></report_metadata>
      <policy_published><domain>example.com</domain><p>none</p></policy_published></feedback>"""
    _, meta = read_dmarc_aggregate(io.BytesIO(xml))
    assert meta["quarantine"]["field"].tolist() == ["report_metadata/date_range/end"]


@pytest.mark.parametrize(
    ("org_name", "email", "provider"),
    [
        ("google.com", "noreply-dmarc-support@google.com", "gmail"),
        ("Yahoo", "dmarchelp@yahooinc.com", "yahoo"),
        ("Outlook.com", "dmarcreport@microsoft.com", "microsoft"),
        ("Enterprise Outlook", None, "microsoft"),
        ("Mail.Ru", "dmarc_support@corp.mail.ru", "mailru"),
        ("comcast.net", None, "comcast"),
        ("Acme Corp", "dmarc@acme.example", "other"),
    ],
)
def test_reporter_provider(org_name, email, provider):
    assert reporter_provider(org_name, email) == provider
