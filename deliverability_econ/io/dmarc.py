"""DMARC aggregate (RUA) reports: what mailbox providers saw of a domain's authentication.

Every large mailbox provider mails the owner of a DMARC record (``rua=``) a daily XML report
(RFC 7489 section 7.2 and appendix C): who reported (``report_metadata``), the policy it found
published (``policy_published``), and one ``record`` per source IP and authentication outcome,
with the message ``count``, the ``disposition`` applied, the DMARC verdicts for DKIM and SPF
(``policy_evaluated``), the identifiers (``header_from``, ``envelope_from``, Microsoft's
``envelope_to``) and the raw ``auth_results`` (each DKIM signature and SPF check with its
domain and result). Reports arrive as ``.zip`` (Microsoft, Google) or ``.gz`` (Yahoo, Mail.ru)
attachments holding one XML file; they are read here as they come: XML, ``.xml.gz``, ``.zip``,
buffers, folders and globs. The content is recognised by its magic bytes, not its name.

**Safety.** A RUA address receives mail from anyone, so a report is untrusted input. XML is
parsed with :mod:`defusedxml` as a stream: entity declarations (the "billion laughs"
expansion) and external entities (XXE) are refused before anything is expanded or fetched,
and the decompressed size of a document is capped (``max_report_bytes``) so that a small
``.gz`` or ``.zip`` cannot unpack to gigabytes. A refused document is quarantined with a
clear reason naming the file (``errors="raise"`` raises
:class:`~deliverability_econ.io.InputFormatError`); the other reports are still read.

**Tolerance.** Tag names are matched by their local name, case-insensitively, so the DMARC 2.0
draft's ``xmlns="urn:ietf:params:xml:ns:dmarc-2.0"`` and other namespaces read the same;
whitespace around values is ignored; results are lower-cased (``PASS`` is ``pass``);
``begin``/``end`` may be epoch seconds or a date-time string (``2025-03-03 00:00:00``, taken as
UTC when it has no zone). Optional elements may be missing; policy fields the RFC gives a
default for get it (``adkim``/``aspf`` ``r``, ``sp`` = ``p``, ``pct`` 100, RFC 7489 section
6.3). A report with zero records is listed in ``meta["reports"]`` and adds no rows.

**What is counted.** A *record* is one ``<record>`` element. A bad record (missing or
malformed ``source_ip``, ``count``, ``disposition``, ``policy_evaluated`` verdicts or
``header_from``) is quarantined with its file, its index (``record 3``) and the field. When the
report's own metadata is bad (no ``org_name``, ``report_id``, ``date_range``, or policy
``domain``) every record of it is quarantined, naming that field. A document that cannot be
read at all (not XML, truncated, refused, too large, not a ``<feedback>`` report) cannot say
how many records it held: it counts as one record read and one quarantined. The same report
read twice (same reporter, report id and domain; e.g. the ``.zip`` and the XML saved from it)
counts its records as duplicates. So, as for every reader::

    records_read == rows + duplicates + quarantined + sum(ignored.values())
"""

from __future__ import annotations

import bz2
import gzip
import io
import ipaddress
import re
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO, Any
from xml.etree.ElementTree import Element, ParseError, tostring

import defusedxml.ElementTree as safe_xml
import pandas as pd
from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden

from .. import providers
from ..schema import MAILBOX_PROVIDERS
from ._base import QUARANTINE_RAW_CHARS, RecordError, Source, _ClosingMember, expand_sources
from ._calibration import TableStats, parse_count, quarantine, reader_options, table_meta

#: Largest decompressed size of one report document [bytes]: 128 MiB. A report has one
#: record (about 1 kB of XML) per source IP and authentication outcome per day, so even a
#: very large sender's daily report is a small fraction of this; a ``.gz`` or ``.zip`` that
#: unpacks to more is treated as a decompression bomb.
DEFAULT_MAX_REPORT_BYTES = 128 * 1024 * 1024

#: Policies of ``p=``/``sp=`` (RFC 7489 section 6.3), weakest first.
POLICIES: tuple[str, ...] = ("none", "quarantine", "reject")

#: Dispositions a receiver applied (RFC 7489 appendix C ``DispositionType``; the DMARC 2.0
#: draft adds ``pass``).
DISPOSITIONS: tuple[str, ...] = ("none", "pass", "quarantine", "reject")

#: Alignment modes of ``adkim=``/``aspf=``: relaxed (organizational domains match) or strict.
ALIGNMENT_MODES: tuple[str, ...] = ("r", "s")

#: ``policy_evaluated`` verdicts (``DMARCResultType``).
DMARC_RESULTS: tuple[str, ...] = ("pass", "fail")

#: Output columns, in order, with their dtypes and units:
#:
#: - ``reporter`` (string): ``report_metadata/org_name`` as written (``google.com``,
#:   ``Yahoo``, ``Outlook.com``, ``Enterprise Outlook``, ``Mail.Ru``);
#: - ``mailbox_provider`` (category of :data:`~deliverability_econ.schema.MAILBOX_PROVIDERS`):
#:   the provider that runs the reporter, from its e-mail domain or name
#:   (:func:`reporter_provider`), ``other`` when unknown;
#: - ``report_id`` (string);
#: - ``begin``, ``end`` (datetime64[ns, UTC]): the report's ``date_range``;
#: - ``domain`` (string, lower case): ``policy_published/domain``, the domain whose DMARC
#:   record applied;
#: - ``policy``, ``subdomain_policy`` (category none < quarantine < reject): ``p`` and ``sp``
#:   (``sp`` is ``p`` when not published);
#: - ``policy_fraction`` [fraction 0-1]: ``pct`` / 100, the share of failing mail the policy
#:   is applied to (1.0 when not published, as the RFC's default and the DMARC 2.0 draft,
#:   which dropped ``pct``, imply);
#: - ``adkim``, ``aspf`` (category r, s): alignment modes (``r`` when not published);
#: - ``source_ip`` (string): the connecting IP, normalised (IPv6 compressed);
#: - ``count`` [messages] (int64);
#: - ``disposition`` (category none, pass, quarantine, reject): what the receiver did;
#: - ``override_reason`` (string, nullable): ``policy_evaluated/reason/type`` values, joined
#:   with ``,`` (``forwarded``, ``mailing_list``, ``local_policy``, ``trusted_forwarder``,
#:   ``sampled_out``, ``other``), when the receiver departed from the policy;
#: - ``header_from`` (string, lower case): the RFC 5322 From domain;
#: - ``envelope_from``, ``envelope_to`` (string, nullable, lower case): the SMTP MAIL FROM
#:   domain, and the recipient domain Microsoft adds; a full address is cut to its domain;
#: - ``dkim_domain``, ``dkim_selector``, ``dkim_result`` (string, nullable): the
#:   *representative* DKIM signature of ``auth_results``: the first that passed with a domain
#:   equal to ``header_from`` or a parent or child of it, else the first that passed, else
#:   the first listed;
#: - ``dkim_signatures`` [signatures] (int64): how many DKIM results the record lists;
#:   ``dkim_signatures_passed`` [signatures] (int64): how many of them passed;
#: - ``spf_domain``, ``spf_scope``, ``spf_result`` (string, nullable): the representative SPF
#:   check, chosen the same way (``scope`` is ``mfrom`` or ``helo``); ``spf_checks`` (int64);
#: - ``dkim_pass``, ``spf_pass`` (bool): some DKIM signature / SPF check passed, *for any
#:   domain* (``auth_results``);
#: - ``dkim_aligned``, ``spf_aligned`` (bool): the receiver's DMARC verdict
#:   (``policy_evaluated/dkim`` and ``/spf`` equal ``pass``): the mechanism passed *with a
#:   domain aligned with* ``header_from`` under ``adkim``/``aspf``. ``dkim_pass`` and not
#:   ``dkim_aligned`` is the classic set-up gap: an ESP signing with its own domain;
#: - ``dmarc_pass`` (bool): ``dkim_aligned or spf_aligned`` (RFC 7489 section 4.2).
DMARC_COLUMNS: tuple[str, ...] = (
    "reporter",
    "mailbox_provider",
    "report_id",
    "begin",
    "end",
    "domain",
    "policy",
    "subdomain_policy",
    "policy_fraction",
    "adkim",
    "aspf",
    "source_ip",
    "count",
    "disposition",
    "override_reason",
    "header_from",
    "envelope_from",
    "envelope_to",
    "dkim_domain",
    "dkim_selector",
    "dkim_result",
    "dkim_signatures",
    "dkim_signatures_passed",
    "spf_domain",
    "spf_scope",
    "spf_result",
    "spf_checks",
    "dkim_pass",
    "spf_pass",
    "dkim_aligned",
    "spf_aligned",
    "dmarc_pass",
)

#: Columns of ``meta["reports"]``: one row per report document read (also the empty and the
#: duplicate ones): ``source``, ``reporter``, ``reporter_email``, ``report_id``, ``begin``,
#: ``end``, ``domain``, ``policy``, ``version`` (``<version>``, nullable), ``records``
#: [records], ``messages`` [messages], ``status`` (``read``, ``empty``, ``duplicate``,
#: ``quarantined``).
REPORT_COLUMNS: tuple[str, ...] = (
    "source",
    "reporter",
    "reporter_email",
    "report_id",
    "begin",
    "end",
    "domain",
    "policy",
    "version",
    "records",
    "messages",
    "status",
)

#: Reporter e-mail domain (suffix) -> mailbox provider, for the reporters that matter most.
REPORTER_DOMAINS: dict[str, str] = {
    "google.com": "gmail",
    "yahoo.com": "yahoo",
    "yahooinc.com": "yahoo",
    "yahoo-inc.com": "yahoo",
    "microsoft.com": "microsoft",
    "outlook.com": "microsoft",
    "mail.ru": "mailru",
    "yandex.ru": "yandex",
    "yandex.net": "yandex",
    "comcast.net": "comcast",
    "icloud.com": "apple",
    "apple.com": "apple",
    "gmx.net": "gmx",
    "web.de": "gmx",
    "orange.fr": "orange",
    "t-online.de": "t-online",
    "qq.com": "qq",
    "163.com": "netease",
    "126.com": "netease",
    "protonmail.ch": "proton",
    "proton.me": "proton",
    "zoho.com": "zoho",
    "fastmail.com": "fastmail",
    "messagingengine.com": "fastmail",
}

#: Word in the reporter's ``org_name`` -> mailbox provider, when the e-mail says nothing.
REPORTER_NAMES: dict[str, str] = {
    "google": "gmail",
    "yahoo": "yahoo",
    "microsoft": "microsoft",
    "outlook": "microsoft",
    "hotmail": "microsoft",
    "mail.ru": "mailru",
    "yandex": "yandex",
    "comcast": "comcast",
    "apple": "apple",
    "icloud": "apple",
    "gmx": "gmx",
    "web.de": "gmx",
    "orange": "orange",
    "t-online": "t-online",
    "netease": "netease",
    "proton": "proton",
    "zoho": "zoho",
    "fastmail": "fastmail",
}

_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGIC = b"PK\x03\x04"
_BZIP2_MAGIC = b"BZh"
_DIGITS = re.compile(r"\d+(?:\.\d+)?")


class _ReportTooLarge(Exception):
    """Raised by :class:`_CappedReader` when a document exceeds its size cap."""


class _NotAReport(Exception):
    """The document parsed but is not a DMARC aggregate report."""


class _CappedReader(io.RawIOBase):
    """A read-only stream that raises :class:`_ReportTooLarge` past ``limit`` bytes."""

    def __init__(self, stream: IO[bytes], limit: int):
        self._stream, self._limit, self.bytes_read = stream, limit, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[override]
        # Ask for one byte more than allowed so that exceeding the cap is noticed.
        wanted = min(len(buffer), self._limit - self.bytes_read + 1)
        data = self._stream.read(wanted)
        self.bytes_read += len(data)
        if self.bytes_read > self._limit:
            raise _ReportTooLarge()
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._stream.close()
        super().close()


def read_dmarc_aggregate(
    paths: Any,
    *,
    errors: str = "quarantine",
    max_report_bytes: int = DEFAULT_MAX_REPORT_BYTES,
) -> tuple[pd.DataFrame, dict]:
    """Read DMARC aggregate (RUA) reports into one row per report record.

    Parameters
    ----------
    paths : path, glob, directory, file-like, or a list of them
        XML reports as received: plain, ``.gz`` or ``.zip`` (recognised by content), a folder
        of attachments (read recursively, hidden files skipped), or a buffer.
    errors : {"quarantine", "raise"}
        ``"quarantine"`` (default) keeps a bad record or an unreadable document in
        ``meta["quarantine"]`` with its source, location (``record 3``, ``line 7, column 2``
        or ``document``), field and reason, and reads on; ``"raise"`` raises
        :class:`~deliverability_econ.io.InputFormatError` at the first one. Hostile documents
        (entity declarations, external entities, decompression bombs) are refused either way.
    max_report_bytes : int
        Cap on the decompressed size of one XML document [bytes]; default
        :data:`DEFAULT_MAX_REPORT_BYTES`.

    Returns
    -------
    records : DataFrame
        :data:`DMARC_COLUMNS`, one row per ``<record>``, sorted by ``begin``, reporter, report
        id and source IP.
    meta : dict
        ``format`` ("dmarc_aggregate"), ``sources``, ``records_read``, ``rows``,
        ``duplicates``, ``quarantined``, ``ignored``, ``quarantine`` (DataFrame),
        ``warnings``, ``reports`` (DataFrame of :data:`REPORT_COLUMNS`), ``documents``
        [XML documents read, refused ones included], ``empty_reports`` [reports], ``messages`` [messages in the rows],
        ``time_min``/``time_max`` (earliest ``begin``, latest ``end``);
        ``records_read == rows + duplicates + quarantined + sum(ignored.values())``.

    Examples
    --------
    >>> import io
    >>> xml = b'''<feedback><report_metadata><org_name>google.com</org_name>
    ...   <email>noreply-dmarc-support@google.com</email><report_id>1</report_id>
    ...   <date_range><begin>1740960000</begin><end>1741046399</end></date_range>
    ...   </report_metadata><policy_published><domain>example.com</domain><p>none</p>
    ...   </policy_published><record><row><source_ip>192.0.2.10</source_ip><count>12</count>
    ...   <policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>fail</spf>
    ...   </policy_evaluated></row><identifiers><header_from>example.com</header_from>
    ...   </identifiers><auth_results><dkim><domain>example.com</domain><result>pass</result>
    ...   </dkim><spf><domain>esp.example.net</domain><result>pass</result></spf>
    ...   </auth_results></record></feedback>'''
    >>> records, meta = read_dmarc_aggregate(io.BytesIO(xml))
    >>> records[["mailbox_provider", "count", "dkim_aligned", "spf_pass", "spf_aligned"]]
      mailbox_provider  count  dkim_aligned  spf_pass  spf_aligned
    0            gmail     12          True      True        False
    """
    if max_report_bytes <= 0:
        raise ValueError(f"max_report_bytes must be positive, not {max_report_bytes!r}")
    options = reader_options(errors)
    stats = TableStats()
    rows: list[dict] = []
    reports: list[dict] = []
    seen: set[tuple[str, str, str]] = set()
    sources = _report_sources(paths)
    documents = 0
    for source in sources:
        for name, opener, error in _documents(source, max_report_bytes):
            documents += 1
            if error is not None:
                quarantine(stats, options, name, "document", None, error, None)
                continue
            _read_document(name, opener, max_report_bytes, options, stats, rows, reports, seen)
    records = _frame(rows)
    report_table = pd.DataFrame.from_records(reports, columns=list(REPORT_COLUMNS))
    for column in ("begin", "end"):
        report_table[column] = pd.to_datetime(report_table[column], utc=True).astype(
            pd.DatetimeTZDtype(unit="ns", tz="UTC")
        )
    for column in ("records", "messages"):
        report_table[column] = report_table[column].astype("int64")
    for column in ("source", "reporter", "reporter_email", "report_id", "domain", "policy",
                   "version", "status"):
        report_table[column] = report_table[column].astype("string")
    meta = table_meta(
        "dmarc_aggregate",
        [s.name for s in sources],
        stats,
        reports=report_table,
        documents=documents,
        empty_reports=int((report_table["status"] == "empty").sum()),
        messages=int(records["count"].sum()),
        time_min=records["begin"].min() if len(records) else None,
        time_max=records["end"].max() if len(records) else None,
    )
    return records, meta


# --------------------------------------------------------------------------------------------
# Sources and documents
# --------------------------------------------------------------------------------------------


def _report_sources(paths: Any) -> list[Source]:
    """Files (globs and folders expanded, hidden files skipped) and buffers, as raw bytes.

    Archives are not opened here: :func:`_documents` recognises gzip and zip by their magic
    bytes and decompresses under the size cap, so a broken archive is quarantined instead of
    stopping the whole read.
    """
    return expand_sources(paths, open_archives=False)


def _documents(source: Source, limit: int) -> Iterator[tuple[str, Any, str | None]]:
    """The XML documents of a source: itself, its gzip (or bzip2) content, or each member of
    a zip archive (``archive.zip!member``), recognised by magic bytes.

    Yields ``(name, opener, error)``: the opener returns a decompressed binary stream capped
    at ``limit`` bytes; ``error`` says why an archive could not be opened (opener is None).
    """
    with source.open_binary() as probe:
        head = probe.read(4)
    if head[:4] == _ZIP_MAGIC:
        yield from _zip_documents(source, limit)
        return
    yield source.name, lambda: _decompressed(source.open_binary(), limit), None


def _decompressed(raw: IO[bytes], limit: int) -> _CappedReader:
    buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)  # type: ignore[arg-type]
    head = buffered.peek(3)[:3]
    if head[:2] == _GZIP_MAGIC:
        return _CappedReader(gzip.GzipFile(fileobj=buffered, mode="rb"), limit)
    if head == _BZIP2_MAGIC:
        return _CappedReader(bz2.BZ2File(buffered, mode="rb"), limit)
    return _CappedReader(buffered, limit)


def _zip_documents(source: Source, limit: int) -> Iterator[tuple[str, Any, str | None]]:
    """Members of a zip archive (a nested zip, which is not seekable, is first read into
    memory under the cap). Each member is decompressed under the cap as it is parsed."""

    def open_archive() -> zipfile.ZipFile:
        raw = source.open_binary()
        if not raw.seekable():
            data = raw.read(limit + 1)
            raw.close()
            if len(data) > limit:
                raise _ReportTooLarge()
            raw = io.BytesIO(data)
        return zipfile.ZipFile(raw)

    try:
        with open_archive() as archive:
            members = [m for m in archive.namelist() if not m.endswith("/")]
    except _ReportTooLarge:
        yield source.name, None, _too_large(limit)
        return
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        yield source.name, None, f"unreadable zip archive ({type(exc).__name__}: {exc})"[:300]
        return
    if not members:
        yield source.name, None, "an empty zip archive: no report in it"

    def member_opener(member: str):
        def opener() -> IO[bytes]:
            archive = open_archive()
            return _decompressed(_ClosingMember(archive, archive.open(member)), limit)

        return opener

    for member in members:
        yield f"{source.name}!{member}", member_opener(member), None


def _too_large(limit: int) -> str:
    return (
        f"refused: decompresses to more than {limit:,} bytes (max_report_bytes), far above any "
        "real aggregate report: a decompression bomb or not a report"
    )


# --------------------------------------------------------------------------------------------
# One document
# --------------------------------------------------------------------------------------------


def _read_document(
    name: str,
    opener: Any,
    limit: int,
    options,
    stats: TableStats,
    rows: list[dict],
    reports: list[dict],
    seen: set,
) -> None:
    """Parse one XML document and add its records (or its quarantine entries)."""
    try:
        with opener() as stream:
            parsed = _parse_stream(stream)
    except _ReportTooLarge:
        quarantine(stats, options, name, "document", None, _too_large(limit), None)
        return
    except EntitiesForbidden as exc:
        if exc.sysid or exc.pubid:
            reason = (
                f"refused: the document declares an external entity {exc.name!r} pointing at "
                f"{exc.sysid or exc.pubid!r} (an XXE attack: it would read a local file or a URL); "
                "DMARC reports declare no entities"
            )
        else:
            reason = (
                f"refused: the document declares an XML entity {exc.name!r} (entity expansion, "
                "the 'billion laughs' attack, can exhaust memory); DMARC reports declare no "
                "entities"
            )
        quarantine(stats, options, name, "document", None, reason, None)
        return
    except ExternalReferenceForbidden as exc:
        reason = (
            f"refused: the document refers to an external resource {exc.sysid or exc.pubid!r} "
            "(external entities are not fetched)"
        )
        quarantine(stats, options, name, "document", None, reason, None)
        return
    except DTDForbidden:  # pragma: no cover - DTDs are allowed; entities inside them are not
        quarantine(stats, options, name, "document", None, "refused: a DTD", None)
        return
    except ParseError as exc:
        line, column = getattr(exc, "position", (0, 0))
        message = str(exc).split(":")[0]
        quarantine(stats, options, name, f"line {line}, column {column}", None,
                   f"not well-formed XML ({message}); not a readable DMARC report", None)
        return
    except _NotAReport as exc:
        quarantine(stats, options, name, "document", None, str(exc), None)
        return
    except (OSError, EOFError, zipfile.BadZipFile) as exc:  # a truncated .gz or a broken zip
        quarantine(stats, options, name, "document", None,
                   f"unreadable compressed data ({type(exc).__name__}: {exc})"[:300], None)
        return
    except UnicodeDecodeError as exc:
        quarantine(stats, options, name, "document", None, f"undecodable text ({exc.reason})", None)
        return
    _add_report(name, parsed, options, stats, rows, reports, seen)


def _parse_stream(stream: IO[bytes]) -> dict:
    """Stream-parse one report: metadata and policy as dicts, records as dicts or errors.

    Each ``<record>`` is turned into a dict as soon as it closes and then dropped from the
    tree, so memory follows the number of records, not the size of the XML.
    """
    parsed: dict[str, Any] = {"metadata": None, "policy": None, "version": None, "records": []}
    depth = 0
    root: Element | None = None
    for event, element in safe_xml.iterparse(
        stream, events=("start", "end"), forbid_dtd=False, forbid_entities=True, forbid_external=True
    ):
        if event == "start":
            depth += 1
            if root is None:
                root = element
                if _local(element.tag) != "feedback":
                    raise _NotAReport(
                        f"the root element is <{_local(element.tag)}>, not <feedback>: "
                        "not a DMARC aggregate report"
                    )
            continue
        depth -= 1
        if depth != 1:
            continue
        tag = _local(element.tag)
        if tag in ("report_metadata", "policy_published"):
            _strip_namespaces(element)
        if tag == "record":
            index = len(parsed["records"]) + 1
            try:
                parsed["records"].append(parse_record(element))
            except RecordError as exc:
                raw = tostring(element, encoding="unicode")[:QUARANTINE_RAW_CHARS]
                parsed["records"].append(_BadRecord(index, exc, raw))
        elif tag == "report_metadata":
            parsed["metadata"] = element
            continue  # kept (small): parsed once the whole report is known
        elif tag == "policy_published":
            parsed["policy"] = element
            continue
        elif tag == "version":
            parsed["version"] = _clean(element.text)
        if root is not None:
            _drop_finished(root, element)
    if root is None:
        raise _NotAReport("an empty document: not a DMARC aggregate report")
    return parsed


class _BadRecord:
    """A record that failed :func:`parse_record`, kept with its index and raw XML."""

    def __init__(self, index: int, error: RecordError, raw: str):
        self.index, self.error, self.raw = index, error, raw


def _drop_finished(root: Element, element: Element) -> None:
    try:
        root.remove(element)
    except ValueError:  # pragma: no cover - the element is always a child of the root here
        pass


def _add_report(
    name: str,
    parsed: dict,
    options,
    stats: TableStats,
    rows: list[dict],
    reports: list[dict],
    seen: set,
) -> None:
    records = parsed["records"]
    try:
        header = report_header(parsed["metadata"], parsed["policy"])
    except RecordError as exc:
        if not records:
            quarantine(stats, options, name, "document", exc.field, exc.reason, None)
        for index, record in enumerate(records, start=1):
            raw = record.raw if isinstance(record, _BadRecord) else None
            quarantine(stats, options, name, f"record {index}", exc.field,
                       f"{exc.reason} (the report's metadata; all its records are set aside)", raw,
                       None if raw else _public(record))
        reports.append(_report_row(name, None, parsed, len(records), 0, "quarantined"))
        return
    key = (header["reporter"].casefold(), header["report_id"], header["domain"])
    good = [record for record in records if not isinstance(record, _BadRecord)]
    if key in seen:
        stats.records_read += len(records)
        stats.duplicates += len(records)
        reports.append(_report_row(name, header, parsed, len(records),
                                   sum(r["count"] for r in good), "duplicate"))
        return
    seen.add(key)
    for record in records:
        if isinstance(record, _BadRecord):
            quarantine(stats, options, name, f"record {record.index}", record.error.field,
                       record.error.reason, record.raw)
    for record in good:
        rows.append({**header, **record})
    stats.records_read += len(good)
    stats.rows += len(good)
    status = "read" if records else "empty"
    reports.append(_report_row(name, header, parsed, len(records),
                               sum(r["count"] for r in good), status))


def _public(record: dict) -> dict:
    return {k: (v.isoformat() if isinstance(v, pd.Timestamp) else v) for k, v in record.items()}


def _report_row(name: str, header: dict | None, parsed: dict, records: int, messages: int,
                status: str) -> dict:
    header = header or {}
    metadata = parsed["metadata"]
    email = _clean(metadata.findtext("email")) if metadata is not None else None
    return {
        "source": name,
        "reporter": header.get("reporter") or (
            _clean(metadata.findtext("org_name")) if metadata is not None else None
        ),
        "reporter_email": email,
        "report_id": header.get("report_id"),
        "begin": header.get("begin"),
        "end": header.get("end"),
        "domain": header.get("domain"),
        "policy": header.get("policy"),
        "version": parsed["version"],
        "records": records,
        "messages": messages,
        "status": status,
    }


# --------------------------------------------------------------------------------------------
# Element parsers: each raises RecordError(field, reason)
# --------------------------------------------------------------------------------------------


def report_header(metadata: Element | None, policy: Element | None) -> dict:
    """The report-level columns from ``<report_metadata>`` and ``<policy_published>``
    (namespaces already stripped).

    Raises
    ------
    RecordError
        Naming the missing or malformed element (``report_metadata/report_id``, ...).
    """
    if metadata is None:
        raise RecordError("report_metadata", "missing")
    if policy is None:
        raise RecordError("policy_published", "missing")
    reporter = _required(metadata, "org_name", "report_metadata/org_name")
    report_id = _required(metadata, "report_id", "report_metadata/report_id")
    begin = report_time(metadata.findtext("date_range/begin"), "report_metadata/date_range/begin")
    end = report_time(metadata.findtext("date_range/end"), "report_metadata/date_range/end")
    if end < begin:
        raise RecordError("report_metadata/date_range/end",
                          f"before begin ({end.isoformat()} < {begin.isoformat()})")
    domain = _domain(_required(policy, "domain", "policy_published/domain"))
    p = _vocabulary(policy.findtext("p"), POLICIES, "policy_published/p", default=None)
    sp = _vocabulary(policy.findtext("sp"), POLICIES, "policy_published/sp", default=p)
    pct_text = _clean(policy.findtext("pct"))
    if pct_text is None:
        policy_fraction = 1.0
    else:
        if not _DIGITS.fullmatch(pct_text) or float(pct_text) > 100:
            raise RecordError("policy_published/pct", f"not a percentage 0-100: {pct_text[:20]!r}")
        policy_fraction = float(pct_text) / 100.0
    return {
        "reporter": reporter,
        "mailbox_provider": reporter_provider(reporter, _clean(metadata.findtext("email"))),
        "report_id": report_id,
        "begin": begin,
        "end": end,
        "domain": domain,
        "policy": p,
        "subdomain_policy": sp,
        "policy_fraction": policy_fraction,
        "adkim": _vocabulary(policy.findtext("adkim"), ALIGNMENT_MODES, "policy_published/adkim",
                             default="r"),
        "aspf": _vocabulary(policy.findtext("aspf"), ALIGNMENT_MODES, "policy_published/aspf",
                            default="r"),
    }


def parse_record(record: Element) -> dict:
    """One ``<record>`` element as a dict of its columns (tags matched by local name).

    Raises
    ------
    RecordError
        Naming the missing or malformed element, e.g. ``row/count``.
    """
    # One walk over the children by local name: several times faster than ElementPath
    # lookups, which matters for reports of tens of thousands of records.
    parts = _children(record)
    row = _children(parts.get("row"))
    evaluated = _children(row.get("policy_evaluated"))
    identifiers = _children(parts.get("identifiers"))
    source_ip = _ip(_required_text(row.get("source_ip"), "row/source_ip"))
    count = parse_count(_required_text(row.get("count"), "row/count"), "row/count")
    prefix = "row/policy_evaluated"
    disposition = _vocabulary(_text(evaluated.get("disposition")), DISPOSITIONS,
                              f"{prefix}/disposition", default=None)
    dkim_verdict = _vocabulary(_text(evaluated.get("dkim")), DMARC_RESULTS, f"{prefix}/dkim",
                               default=None)
    spf_verdict = _vocabulary(_text(evaluated.get("spf")), DMARC_RESULTS, f"{prefix}/spf",
                              default=None)
    reasons = []
    policy_evaluated = row.get("policy_evaluated")
    if policy_evaluated is not None:
        for child in policy_evaluated:
            if _local(child.tag) == "reason":
                kind = _text(_children(child).get("type"))
                if kind:
                    reasons.append(kind.lower())
    header_from = _domain(_required_text(identifiers.get("header_from"),
                                         "identifiers/header_from"))
    dkim: list[dict] = []
    spf: list[dict] = []
    auth_results = parts.get("auth_results")
    if auth_results is not None:
        for child in auth_results:
            name = _local(child.tag)
            if name == "dkim":
                dkim.append(_auth_result(child, ("domain", "selector", "result")))
            elif name == "spf":
                spf.append(_auth_result(child, ("domain", "scope", "result")))
    best_dkim = _representative(dkim, header_from)
    best_spf = _representative(spf, header_from)
    dkim_aligned = dkim_verdict == "pass"
    spf_aligned = spf_verdict == "pass"
    return {
        "source_ip": source_ip,
        "count": count,
        "disposition": disposition,
        "override_reason": ",".join(reasons) or None,
        "header_from": header_from,
        "envelope_from": _domain_or_none(_text(identifiers.get("envelope_from"))),
        "envelope_to": _domain_or_none(_text(identifiers.get("envelope_to"))),
        "dkim_domain": best_dkim.get("domain"),
        "dkim_selector": best_dkim.get("selector"),
        "dkim_result": best_dkim.get("result"),
        "dkim_signatures": len(dkim),
        "dkim_signatures_passed": sum(r["result"] == "pass" for r in dkim),
        "spf_domain": best_spf.get("domain"),
        "spf_scope": best_spf.get("scope"),
        "spf_result": best_spf.get("result"),
        "spf_checks": len(spf),
        "dkim_pass": any(r["result"] == "pass" for r in dkim),
        "spf_pass": any(r["result"] == "pass" for r in spf),
        "dkim_aligned": dkim_aligned,
        "spf_aligned": spf_aligned,
        "dmarc_pass": dkim_aligned or spf_aligned,
    }


def report_time(value: str | None, field_name: str) -> pd.Timestamp:
    """A ``date_range`` bound as a UTC Timestamp.

    Epoch seconds as the RFC writes them (``1740960000``, whitespace allowed) or a date-time
    string some reporters send (``2025-03-03 00:00:00``, ``2025-03-03T00:00:00Z``); a string
    without a zone is taken as UTC, the zone of every DMARC report.

    Examples
    --------
    >>> report_time(" 1740960000\\n", "begin"), report_time("2025-03-03 00:00:00", "begin")
    (Timestamp('2025-03-03 00:00:00+0000', tz='UTC'), Timestamp('2025-03-03 00:00:00+0000', tz='UTC'))

    Raises
    ------
    RecordError
        When missing, unreadable, or before 2000 (DMARC dates from 2012).
    """
    text = _clean(value)
    if text is None:
        raise RecordError(field_name, "missing")
    text = " ".join(text.split())
    if _DIGITS.fullmatch(text):
        seconds = float(text)
    else:
        try:
            parsed = datetime.fromisoformat(text.replace(" UTC", "").replace(" GMT", ""))
        except ValueError:
            raise RecordError(field_name, f"not epoch seconds nor a date-time: {text[:40]!r}") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        seconds = parsed.timestamp()
    if seconds < 946_684_800 or seconds > 4_102_444_800:
        raise RecordError(field_name, f"outside 2000-2100 (wrong unit?): {text[:40]!r}")
    return pd.Timestamp(int(seconds), unit="s", tz="UTC")


def reporter_provider(org_name: str | None, email: str | None = None) -> str:
    """The mailbox provider behind a report, from the reporter's e-mail domain or name.

    Examples
    --------
    >>> reporter_provider("google.com", "noreply-dmarc-support@google.com")
    'gmail'
    >>> reporter_provider("Enterprise Outlook"), reporter_provider("Mail.Ru"), reporter_provider("Acme")
    ('microsoft', 'mailru', 'other')
    """
    candidates = []
    if email and "@" in email:
        candidates.append(email.rsplit("@", 1)[1].strip().lower().rstrip("."))
    if org_name:
        candidates.append(org_name.strip().lower().rstrip("."))
    for domain in candidates:
        for suffix, provider in REPORTER_DOMAINS.items():
            if domain == suffix or domain.endswith("." + suffix):
                return provider
        bundled = providers.provider_domains().get(domain)
        if bundled in MAILBOX_PROVIDERS:
            return bundled
    name = (org_name or "").lower()
    for word, provider in REPORTER_NAMES.items():
        if re.search(rf"(?<![a-z]){re.escape(word)}(?![a-z])", name):
            return provider
    return "other"


def _auth_result(element: Element, fields: tuple[str, ...]) -> dict:
    children = _children(element)
    out = {}
    for name in fields:
        value = _text(children.get(name))
        out[name] = value.lower() if value is not None else None
    if out.get("domain"):
        out["domain"] = out["domain"].rstrip(".")
    return out


def _representative(results: list[dict], header_from: str) -> dict:
    """First passing result for header_from or a parent/child of it; else first passing; else
    first; else empty."""
    passing = [r for r in results if r["result"] == "pass"]
    for result in passing:
        domain = result.get("domain") or ""
        if domain and (domain == header_from or domain.endswith("." + header_from)
                       or header_from.endswith("." + domain)):
            return result
    if passing:
        return passing[0]
    return results[0] if results else {}


_LOCAL_NAMES: dict[str, str] = {}


def _local(tag: Any) -> str:
    """A tag's local name in lower case (``{urn:...dmarc-2.0}Record`` -> ``record``)."""
    if not isinstance(tag, str):  # a comment or processing instruction
        return ""
    name = _LOCAL_NAMES.get(tag)
    if name is None:
        name = tag.rpartition("}")[2].lower()
        if len(_LOCAL_NAMES) < 1_000:  # hostile documents could invent endless tag names
            _LOCAL_NAMES[tag] = name
    return name


def _children(element: Element | None) -> dict[str, Element]:
    """Direct children by local name (the first of each name)."""
    out: dict[str, Element] = {}
    if element is None:
        return out
    for child in element:
        out.setdefault(_local(child.tag), child)
    return out


def _text(element: Element | None) -> str | None:
    return _clean(element.text) if element is not None else None


def _required_text(element: Element | None, field_name: str) -> str:
    value = _text(element)
    if value is None:
        raise RecordError(field_name, "missing")
    return value


def _strip_namespaces(element: Element) -> None:
    for child in element.iter():
        child.tag = _local(child.tag)


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def _required(element: Element, path: str, field_name: str) -> str:
    value = _clean(element.findtext(path))
    if value is None:
        raise RecordError(field_name, "missing")
    return value


def _vocabulary(value: str | None, allowed: tuple[str, ...], field_name: str,
                default: str | None) -> str:
    text = _clean(value)
    if text is None:
        if default is None:
            raise RecordError(field_name, "missing")
        return default
    text = text.lower()
    if text not in allowed:
        raise RecordError(field_name, f"not one of {', '.join(allowed)}: {text[:40]!r}")
    return text


def _ip(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text.strip()))
    except ValueError:
        raise RecordError("row/source_ip", f"not an IP address: {text[:45]!r}") from None


def _domain(text: str) -> str:
    return text.strip().lower().rstrip(".")


def _domain_or_none(text: str | None) -> str | None:
    value = _clean(text)
    if value is None:
        return None
    # A full address (some reporters write one) is personal data: keep its domain only.
    return _domain(value.rsplit("@", 1)[-1]) or None


def _frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(rows, columns=list(DMARC_COLUMNS))
    utc = pd.DatetimeTZDtype(unit="ns", tz="UTC")
    out = pd.DataFrame(index=frame.index)
    for column in DMARC_COLUMNS:
        values = frame[column]
        if column in ("begin", "end"):
            out[column] = pd.to_datetime(values, utc=True).astype(utc)
        elif column == "mailbox_provider":
            out[column] = pd.Categorical(values, categories=list(MAILBOX_PROVIDERS))
        elif column in ("policy", "subdomain_policy"):
            out[column] = pd.Categorical(values, categories=list(POLICIES), ordered=True)
        elif column in ("adkim", "aspf"):
            out[column] = pd.Categorical(values, categories=list(ALIGNMENT_MODES))
        elif column == "disposition":
            out[column] = pd.Categorical(values, categories=list(DISPOSITIONS))
        elif column == "policy_fraction":
            out[column] = values.astype("float64")
        elif column in ("count", "dkim_signatures", "dkim_signatures_passed", "spf_checks"):
            out[column] = values.astype("int64")
        elif column in ("dkim_pass", "spf_pass", "dkim_aligned", "spf_aligned", "dmarc_pass"):
            out[column] = values.astype(bool)
        else:
            out[column] = values.astype("string")
    return out.sort_values(["begin", "reporter", "report_id", "source_ip"], kind="stable",
                           ignore_index=True)
