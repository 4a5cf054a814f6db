"""Authentication evidence from DMARC aggregate reports: who sends as the domain, and does it pass.

Since February 2024 Gmail and Yahoo require bulk senders to pass SPF and DKIM, publish DMARC and
align the From domain with SPF or DKIM (F2, F7); Outlook.com rejects non-compliant bulk mail
since May 2025 with ``550 5.7.515`` (F8); Gmail rejects unauthenticated mail with ``5.7.26``
(F3). The receivers' own verdicts arrive daily in DMARC aggregate reports
(:func:`~deliverability_econ.io.dmarc.read_dmarc_aggregate`); this module turns them into
shares of volume.

Every message a report counts falls in exactly one **authentication class**
(:data:`AUTHENTICATION_CLASSES`), from the receiver's DMARC verdicts:

- ``both_aligned``: DKIM and SPF both passed with a domain aligned with the From domain: fully
  aligned; it survives one mechanism breaking;
- ``dkim_only``: DMARC passes on DKIM alone (SPF failed or was unaligned); robust to
  forwarding, which keeps the signature but changes the connecting IP;
- ``spf_only``: DMARC passes on SPF alone; fragile: forwarding breaks SPF, and bulk senders need
  DKIM as well (F2, F8);
- ``failing``: neither aligned: DMARC fails; at ``p=quarantine``/``reject``, and at providers
  enforcing the bulk-sender rules, this mail is junked or rejected (F3, F8).

``dmarc_pass_share = both_aligned_share + dkim_only_share + spf_only_share = 1 -
failing_share``. All shares are fractions of the messages the reports count [fraction 0-1].

**Sending sources.** Reports name only the connecting IP. Without reverse DNS (nothing is
looked up), IPs are grouped by the user's list of known senders, ``known_sources={"esp":
["203.0.113.0/24"], "crm": ["198.51.100.25/32"]}`` (an ESP's published ranges, one's own
servers), and every other IP by its network (``/24`` for IPv4, ``/64`` for IPv6): ``net
192.0.2.0/24``. When no list is given, a source counts as *known* when most of its mail passes
aligned SPF: the domain's own SPF record names it, which is the owner's list of authorised
senders.

Report windows (usually one UTC day) are dated at their midpoint for trends.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .rates import FREQUENCIES, period_start

#: The four authentication classes, best first (the order of the output category).
AUTHENTICATION_CLASSES: tuple[str, ...] = ("both_aligned", "dkim_only", "spf_only", "failing")

#: IPv4 prefix length that groups unlisted IPs into one source [bits]: a /24 is the unit
#: providers' reputation systems and ESPs' allocations commonly use.
DEFAULT_IPV4_PREFIX = 24

#: IPv6 prefix length that groups unlisted IPs into one source [bits]: a /64 is one subnet.
DEFAULT_IPV6_PREFIX = 64

#: Likely cause of an unknown source -> what it means and what to do. Decided on the source's
#: mail by :func:`likely_cause` (shares of its messages, majority rule).
LIKELY_CAUSES: dict[str, str] = {
    "unlisted_authorized": (
        "passes aligned SPF: the domain's SPF record authorises it, but it is not in "
        "known_sources: a service of yours to list, or an SPF include broader than intended"
    ),
    "forwarding": (
        "DKIM aligned but SPF not: mail forwarded by a mailing list or a forwarding rule (the "
        "signature survives, the IP changes), or a service signing with your key"
    ),
    "unaligned_service": (
        "authenticates only as another domain (the service's own DKIM d= or return-path): a "
        "service sending as your domain without alignment, a forgotten tool; set up its custom "
        "DKIM and return-path, or stop it"
    ),
    "possible_spoofing": (
        "no SPF or DKIM pass for any domain: someone else using your From domain, or a server "
        "of yours with no authentication at all; p=quarantine/reject stops the former"
    ),
}

_CLASS_COLUMNS = list(AUTHENTICATION_CLASSES)
_REQUIRED = ("domain", "source_ip", "count", "dkim_aligned", "spf_aligned")


def authentication_class(records: pd.DataFrame) -> pd.Series:
    """The authentication class of each report record.

    Parameters
    ----------
    records : DataFrame
        Rows of :func:`~deliverability_econ.io.dmarc.read_dmarc_aggregate` (at least the bool
        columns ``dkim_aligned`` and ``spf_aligned``: the receiver's DMARC verdicts).

    Returns
    -------
    Series
        Ordered category over :data:`AUTHENTICATION_CLASSES`, aligned with ``records``.

    Examples
    --------
    >>> frame = pd.DataFrame({"dkim_aligned": [True, True, False, False],
    ...                       "spf_aligned": [True, False, True, False]})
    >>> authentication_class(frame).tolist()
    ['both_aligned', 'dkim_only', 'spf_only', 'failing']
    """
    dkim = records["dkim_aligned"].to_numpy(dtype=bool)
    spf = records["spf_aligned"].to_numpy(dtype=bool)
    codes = np.select([dkim & spf, dkim, spf], [0, 1, 2], default=3)
    return pd.Series(
        pd.Categorical.from_codes(codes, categories=_CLASS_COLUMNS, ordered=True),
        index=records.index,
        name="authentication_class",
    )


def sending_sources(
    source_ips: pd.Series | Sequence[str],
    known_sources: Mapping[str, Sequence[str]] | None = None,
    *,
    ipv4_prefix: int = DEFAULT_IPV4_PREFIX,
    ipv6_prefix: int = DEFAULT_IPV6_PREFIX,
) -> pd.DataFrame:
    """Group source IPs into sending sources: a known sender's name, else the IP's network.

    Parameters
    ----------
    source_ips : Series or sequence of str
        IP addresses as the reports give them.
    known_sources : mapping of str to sequence of str, optional
        ``{name: [cidr, ...]}``: the senders the domain owner knows (an ESP's ranges, own
        servers). An IP in several ranges gets the most specific (longest prefix), then the
        first listed.
    ipv4_prefix, ipv6_prefix : int
        Prefix lengths [bits] grouping the other IPs (defaults :data:`DEFAULT_IPV4_PREFIX`,
        :data:`DEFAULT_IPV6_PREFIX`).

    Returns
    -------
    DataFrame
        Indexed like ``source_ips``: ``source`` (string: the known name, or ``net
        192.0.2.0/24``), ``listed`` (bool: in ``known_sources``), ``network`` (string: the
        grouping network, or the matching range for a listed IP).

    Raises
    ------
    ValueError
        When a range in ``known_sources`` is not a network (naming the source and the range),
        or an IP is not an address.

    Examples
    --------
    >>> sending_sources(["203.0.113.10", "192.0.2.7", "2001:db8::1"],
    ...                 {"esp": ["203.0.113.0/24"]})
                  source  listed         network
    0                esp    True  203.0.113.0/24
    1   net 192.0.2.0/24   False    192.0.2.0/24
    2  net 2001:db8::/64   False   2001:db8::/64
    """
    ips = pd.Series(source_ips, dtype="string") if not isinstance(source_ips, pd.Series) else source_ips
    for name, prefix in (("ipv4_prefix", ipv4_prefix), ("ipv6_prefix", ipv6_prefix)):
        limit = 32 if name == "ipv4_prefix" else 128
        if not 0 <= int(prefix) <= limit:
            raise ValueError(f"{name} must be between 0 and {limit} bits, not {prefix!r}")
    ranges = _known_networks(known_sources)
    lookup: dict[str, tuple[str, bool, str]] = {}
    for text in pd.unique(ips.astype("string").dropna()):
        try:
            address = ipaddress.ip_address(str(text).strip())
        except ValueError:
            raise ValueError(f"not an IP address: {str(text)[:45]!r}") from None
        match = next(
            ((name, network) for name, network in ranges
             if network.version == address.version and address in network),
            None,
        )
        if match is not None:
            lookup[text] = (match[0], True, str(match[1]))
        else:
            prefix = ipv4_prefix if address.version == 4 else ipv6_prefix
            network = ipaddress.ip_network(f"{address}/{prefix}", strict=False)
            lookup[text] = (f"net {network}", False, str(network))
    values = [lookup.get(ip, (None, False, None)) if not pd.isna(ip) else (None, False, None)
              for ip in ips.astype("string")]
    return pd.DataFrame(
        {
            "source": pd.array([v[0] for v in values], dtype="string"),
            "listed": np.array([v[1] for v in values], dtype=bool),
            "network": pd.array([v[2] for v in values], dtype="string"),
        },
        index=ips.index,
    )


def authentication_summary(
    records: pd.DataFrame,
    by: Sequence[str] = ("domain",),
    *,
    known_sources: Mapping[str, Sequence[str]] | None = None,
    sources: str = "all",
    ipv4_prefix: int = DEFAULT_IPV4_PREFIX,
    ipv6_prefix: int = DEFAULT_IPV6_PREFIX,
) -> pd.DataFrame:
    """Shares of volume per authentication class, per domain (or any grouping).

    Parameters
    ----------
    records : DataFrame
        Rows of :func:`~deliverability_econ.io.dmarc.read_dmarc_aggregate`.
    by : sequence of str
        Grouping columns of ``records`` (``domain``, ``mailbox_provider``, ``reporter``,
        ``header_from``, ...), and ``source`` (see :func:`sending_sources`); empty for one
        total row.
    known_sources : mapping, optional
        ``{name: [cidr, ...]}`` for grouping by ``source``.
    sources : {"all", "known", "unknown"}
        Which senders' mail to count: all of it (default), only the sources the owner knows
        (the sender's own mail: what it can fix by itself), or only the others. Known and
        unknown as in :func:`source_summary`.
    ipv4_prefix, ipv6_prefix : int
        Prefix lengths [bits] grouping unlisted IPs into sources.

    Returns
    -------
    DataFrame
        One row per group, sorted by the keys: ``messages`` [messages]; ``both_aligned``,
        ``dkim_only``, ``spf_only``, ``failing`` [messages]; the same as
        ``both_aligned_share``, ``dkim_only_share``, ``spf_only_share``, ``failing_share``
        [fraction 0-1 of ``messages``]; ``dmarc_pass_share`` [fraction 0-1]; ``dkim_unaligned``
        [messages whose DKIM passed only for a domain not aligned with the From domain: an ESP
        signing with its own domain]; ``quarantined``, ``rejected`` [messages the receivers
        junked or refused, by ``disposition``]; ``source_ips``, ``reporters`` [distinct
        count]. Shares of a group with no messages are NaN.

    Examples
    --------
    >>> records = pd.DataFrame({"domain": ["example.com"] * 3, "source_ip": ["192.0.2.1"] * 3,
    ...     "count": [90, 6, 4], "dkim_aligned": [True, False, False],
    ...     "spf_aligned": [True, True, False]})
    >>> authentication_summary(records)[["domain", "messages", "spf_only_share", "dmarc_pass_share"]]
            domain  messages  spf_only_share  dmarc_pass_share
    0  example.com       100            0.06              0.96
    """
    if sources not in ("all", "known", "unknown"):
        raise ValueError(f"sources must be 'all', 'known' or 'unknown', not {sources!r}")
    if sources != "all":
        table = source_summary(records, known_sources, ipv4_prefix=ipv4_prefix,
                               ipv6_prefix=ipv6_prefix)
        wanted = table.loc[table["known"].astype(bool) == (sources == "known"),
                           ["domain", "source"]]
        frame = _prepared(records, [*by, "source"], known_sources, ipv4_prefix, ipv6_prefix)
        keys = pd.MultiIndex.from_frame(frame[["domain", "source"]].astype(object))
        frame = frame.loc[keys.isin(pd.MultiIndex.from_frame(wanted.astype(object)))]
    else:
        frame = _prepared(records, by, known_sources, ipv4_prefix, ipv6_prefix)
    return _summarise(frame, list(by))


def source_summary(
    records: pd.DataFrame,
    known_sources: Mapping[str, Sequence[str]] | None = None,
    *,
    by: Sequence[str] = ("domain",),
    ipv4_prefix: int = DEFAULT_IPV4_PREFIX,
    ipv6_prefix: int = DEFAULT_IPV6_PREFIX,
) -> pd.DataFrame:
    """The authentication summary per domain and sending source, with who saw it and when.

    Parameters
    ----------
    records : DataFrame
        Rows of :func:`~deliverability_econ.io.dmarc.read_dmarc_aggregate`.
    known_sources : mapping, optional
        ``{name: [cidr, ...]}``: the senders the domain owner knows (see
        :func:`sending_sources`). Without it, a source is ``known`` when most of its mail
        passes aligned SPF.
    by : sequence of str
        Keys above the source (default per ``domain``).
    ipv4_prefix, ipv6_prefix : int
        Prefix lengths [bits] grouping unlisted IPs into sources.

    Returns
    -------
    DataFrame
        The columns of :func:`authentication_summary` per ``(*by, source)``, plus ``known``
        (bool), ``dkim_aligned_share``, ``spf_aligned_share``, ``dkim_pass_share``,
        ``spf_pass_share`` [fraction 0-1 of the source's messages; the pass shares count a
        pass for any domain], ``ips`` and ``reporter_names`` (string: comma-separated, sorted),
        ``first_seen`` and ``last_seen`` (datetime64[ns, UTC]: earliest report ``begin``,
        latest ``end``), ``likely_cause`` (a key of :data:`LIKELY_CAUSES` for unknown
        sources, NA for known ones). Sorted by the keys, then by messages, largest first.
    """
    keys = [*by, "source"]
    frame = _prepared(records, keys, known_sources, ipv4_prefix, ipv6_prefix)
    table = _summarise(frame, keys)
    if table.empty:
        extra = ["known", "dkim_aligned_share", "spf_aligned_share", "dkim_pass_share",
                 "spf_pass_share", "ips", "reporter_names", "first_seen", "last_seen",
                 "likely_cause"]
        return table.reindex(columns=[*table.columns, *extra])
    grouped = frame.groupby(keys, sort=True, observed=True, dropna=False)
    weighted = frame.assign(
        _dkim_aligned=frame["count"] * frame["dkim_aligned"],
        _spf_aligned=frame["count"] * frame["spf_aligned"],
        _dkim_pass=frame["count"] * frame["dkim_pass"],
        _spf_pass=frame["count"] * frame["spf_pass"],
    ).groupby(keys, sort=True, observed=True, dropna=False)[
        ["_dkim_aligned", "_spf_aligned", "_dkim_pass", "_spf_pass", "count"]
    ].sum()
    details = pd.DataFrame(
        {
            "listed": grouped["listed"].any(),
            "ips": grouped["source_ip"].agg(_joined),
            "reporter_names": grouped["reporter"].agg(_joined),
            "first_seen": grouped["begin"].min(),
            "last_seen": grouped["end"].max(),
        }
    )
    messages = weighted["count"].to_numpy(dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        for column in ("dkim_aligned", "spf_aligned", "dkim_pass", "spf_pass"):
            details[f"{column}_share"] = np.where(
                messages > 0, weighted[f"_{column}"].to_numpy(dtype="float64") / messages, np.nan
            )
    details = details.reset_index()
    table = table.merge(details, on=keys, how="left", validate="one_to_one")
    if known_sources is not None:
        table["known"] = table["listed"].astype(bool)
    else:
        table["known"] = (table["spf_aligned_share"] >= 0.5).to_numpy(dtype=bool)
    causes = [
        likely_cause(row.dkim_aligned_share, row.spf_aligned_share, row.dkim_pass_share,
                     row.spf_pass_share)
        for row in table.itertuples(index=False)
    ]
    table["likely_cause"] = pd.array(
        [None if known else cause for known, cause in zip(table["known"], causes, strict=True)],
        dtype="string",
    )
    table["ips"] = table["ips"].astype("string")
    table["reporter_names"] = table["reporter_names"].astype("string")
    table = table.drop(columns=["listed"])
    leading = [*keys, "known", "likely_cause"]
    table = table[leading + [c for c in table.columns if c not in leading]]
    order = [*by, "messages"]
    ascending = [True] * len(by) + [False]
    return table.sort_values(order, ascending=ascending, kind="stable", ignore_index=True)


def unknown_sources(
    records: pd.DataFrame,
    known_sources: Mapping[str, Sequence[str]] | None = None,
    *,
    min_messages: int = 1,
    by: Sequence[str] = ("domain",),
    ipv4_prefix: int = DEFAULT_IPV4_PREFIX,
    ipv6_prefix: int = DEFAULT_IPV6_PREFIX,
) -> pd.DataFrame:
    """The sources sending as the domain that the owner does not know: spoofing or forgotten
    services.

    Parameters
    ----------
    records : DataFrame
        Rows of :func:`~deliverability_econ.io.dmarc.read_dmarc_aggregate`.
    known_sources : mapping, optional
        ``{name: [cidr, ...]}``; without it, the sources that do not mostly pass aligned SPF
        are the unknown ones (see the module docstring).
    min_messages : int
        Smallest volume of a source to list [messages].
    by : sequence of str
        Keys above the source (default per ``domain``).
    ipv4_prefix, ipv6_prefix : int
        Prefix lengths [bits] grouping unlisted IPs into sources.

    Returns
    -------
    DataFrame
        The rows of :func:`source_summary` whose source is not known and that sent at least
        ``min_messages``, with ``explanation`` (the text of :data:`LIKELY_CAUSES`), largest
        volume first within each key.
    """
    table = source_summary(records, known_sources, by=by, ipv4_prefix=ipv4_prefix,
                           ipv6_prefix=ipv6_prefix)
    out = table.loc[~table["known"].astype(bool) & (table["messages"] >= min_messages)]
    out = out.reset_index(drop=True)
    out["explanation"] = out["likely_cause"].map(LIKELY_CAUSES).astype("string")
    return out


def likely_cause(
    dkim_aligned_share: float,
    spf_aligned_share: float,
    dkim_pass_share: float,
    spf_pass_share: float,
) -> str:
    """The likely cause of mail from an unknown source, from its authentication shares.

    A majority rule over the source's messages [fraction 0-1 each], checked in order:
    aligned SPF (the domain's SPF record authorises the IP) -> ``unlisted_authorized``;
    aligned DKIM without SPF -> ``forwarding``; a pass only for some other domain ->
    ``unaligned_service``; nothing passes -> ``possible_spoofing``. See
    :data:`LIKELY_CAUSES`.

    Examples
    --------
    >>> likely_cause(0.0, 0.0, 1.0, 1.0), likely_cause(0.0, 0.0, 0.0, 0.1)
    ('unaligned_service', 'possible_spoofing')
    """
    if spf_aligned_share >= 0.5:
        return "unlisted_authorized"
    if dkim_aligned_share >= 0.5:
        return "forwarding"
    if dkim_pass_share >= 0.5 or spf_pass_share >= 0.5:
        return "unaligned_service"
    return "possible_spoofing"


def authentication_trend(
    records: pd.DataFrame,
    *,
    freq: str = "D",
    by: Sequence[str] = ("domain",),
    known_sources: Mapping[str, Sequence[str]] | None = None,
) -> pd.DataFrame:
    """The authentication summary per period: is the failing share shrinking?

    Parameters
    ----------
    records : DataFrame
        Rows of :func:`~deliverability_econ.io.dmarc.read_dmarc_aggregate`.
    freq : {"D", "W", "M"}
        Period: UTC day, week starting Monday, calendar month. A report's records are dated at
        the midpoint of its window (``begin`` to ``end``).
    by : sequence of str
        Keys within each period (default per ``domain``).
    known_sources : mapping, optional
        ``{name: [cidr, ...]}`` when ``by`` holds ``source``.

    Returns
    -------
    DataFrame
        ``period_start`` (datetime64[ns], the period's first day, UTC) and the columns of
        :func:`authentication_summary`, sorted by period and keys.
    """
    if freq not in FREQUENCIES:
        raise ValueError(f"freq must be one of {FREQUENCIES}, not {freq!r}")
    frame = _prepared(records, by, known_sources, DEFAULT_IPV4_PREFIX, DEFAULT_IPV6_PREFIX)
    middle = frame["begin"] + (frame["end"] - frame["begin"]) / 2
    frame["period_start"] = period_start(middle.dt.tz_convert("UTC").dt.tz_localize(None), freq)
    return _summarise(frame, ["period_start", *by])


# --------------------------------------------------------------------------------------------


def _known_networks(
    known_sources: Mapping[str, Sequence[str]] | None,
) -> list[tuple[str, ipaddress.IPv4Network | ipaddress.IPv6Network]]:
    """``(name, network)`` pairs, most specific first (stable for equal prefixes)."""
    if not known_sources:
        return []
    pairs = []
    for name, ranges in known_sources.items():
        if isinstance(ranges, str):
            ranges = [ranges]
        for text in ranges:
            try:
                network = ipaddress.ip_network(str(text).strip(), strict=False)
            except ValueError:
                raise ValueError(
                    f"known_sources[{name!r}]: {text!r} is not an IP network such as "
                    "'203.0.113.0/24'"
                ) from None
            pairs.append((str(name), network))
    return sorted(pairs, key=lambda pair: -pair[1].prefixlen)


def _prepared(
    records: pd.DataFrame,
    keys: Sequence[str],
    known_sources: Mapping[str, Sequence[str]] | None,
    ipv4_prefix: int,
    ipv6_prefix: int,
) -> pd.DataFrame:
    missing = [c for c in _REQUIRED if c not in records.columns]
    if missing:
        raise ValueError(
            f"records lack {', '.join(missing)}: pass the rows of read_dmarc_aggregate()"
        )
    frame = records.copy()
    for column in ("dkim_pass", "spf_pass"):
        if column not in frame.columns:
            frame[column] = False
    for column in ("reporter", "begin", "end", "disposition"):
        if column not in frame.columns:
            frame[column] = pd.NA
    frame["authentication_class"] = authentication_class(frame)
    needs_source = "source" in keys or known_sources is not None
    if needs_source:
        sources = sending_sources(frame["source_ip"], known_sources, ipv4_prefix=ipv4_prefix,
                                  ipv6_prefix=ipv6_prefix)
        frame["source"] = sources["source"]
        frame["listed"] = sources["listed"]
    unknown_keys = [k for k in keys if k not in frame.columns and k != "period_start"]
    if unknown_keys:
        raise ValueError(f"cannot group by {unknown_keys}: not columns of the records")
    return frame


def _summarise(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    count = frame["count"].to_numpy(dtype="int64")
    klass = frame["authentication_class"].to_numpy()
    disposition = frame["disposition"].astype("string").fillna("")
    parts = {name: np.where(klass == name, count, 0) for name in _CLASS_COLUMNS}
    parts["dkim_unaligned"] = np.where(
        frame["dkim_pass"].to_numpy(dtype=bool) & ~frame["dkim_aligned"].to_numpy(dtype=bool),
        count, 0,
    )
    parts["quarantined"] = np.where((disposition == "quarantine").to_numpy(), count, 0)
    parts["rejected"] = np.where((disposition == "reject").to_numpy(), count, 0)
    work = frame[keys].copy() if keys else pd.DataFrame(index=frame.index)
    work["messages"] = count
    for name, values in parts.items():
        work[name] = values
    work["_ip"] = frame["source_ip"].astype("string")
    work["_reporter"] = frame["reporter"].astype("string")
    sums = ["messages", *_CLASS_COLUMNS, "dkim_unaligned", "quarantined", "rejected"]
    if keys:
        grouped = work.groupby(keys, sort=True, observed=True, dropna=False)
        table = grouped[sums].sum()
        table["source_ips"] = grouped["_ip"].nunique()
        table["reporters"] = grouped["_reporter"].nunique()
        table = table.reset_index()
    else:
        table = work[sums].sum().to_frame().T
        table["source_ips"] = work["_ip"].nunique()
        table["reporters"] = work["_reporter"].nunique()
    for name in (*sums, "source_ips", "reporters"):
        table[name] = table[name].astype("int64")
    messages = table["messages"].to_numpy(dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        for name in _CLASS_COLUMNS:
            table[f"{name}_share"] = np.where(
                messages > 0, table[name].to_numpy(dtype="float64") / messages, np.nan
            )
        table["dmarc_pass_share"] = np.where(
            messages > 0, (messages - table["failing"].to_numpy(dtype="float64")) / messages,
            np.nan,
        )
    columns = [*keys, "messages", *_CLASS_COLUMNS, *[f"{n}_share" for n in _CLASS_COLUMNS],
               "dmarc_pass_share", "dkim_unaligned", "quarantined", "rejected", "source_ips",
               "reporters"]
    return table[columns]


def _joined(values: pd.Series) -> str:
    return ",".join(sorted({str(v) for v in values.dropna()}))
