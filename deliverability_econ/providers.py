"""Recipient domain to mailbox provider, offline.

The consumer domains of the major mailbox providers ship with the package
(``data/provider_domains.csv``). Business domains hosted on Google Workspace or Microsoft 365
are invisible from the address alone; a user can pass an *MX map*: a table of
``domain -> mailbox_provider`` or ``domain -> mx`` (the MX host name, which is then classified
by :data:`MX_HOST_SUFFIXES`). Nothing is looked up on the network.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources

import pandas as pd

from .schema import MAILBOX_PROVIDERS

#: MX host suffix -> provider, for classifying an MX map that gives MX hosts.
MX_HOST_SUFFIXES: dict[str, str] = {
    "google.com": "gmail",
    "googlemail.com": "gmail",
    "protection.outlook.com": "microsoft",
    "outlook.com": "microsoft",
    "hotmail.com": "microsoft",
    "yahoodns.net": "yahoo",
    "icloud.com": "apple",
    "gmx.net": "gmx",
    "web.de": "gmx",
    "mail.ru": "mailru",
    "yandex.net": "yandex",
    "yandex.ru": "yandex",
    "qq.com": "qq",
    "163.com": "netease",
    "comcast.net": "comcast",
    "protonmail.ch": "proton",
    "zoho.com": "zoho",
    "zoho.eu": "zoho",
    "messagingengine.com": "fastmail",
}


@lru_cache(maxsize=1)
def provider_domains() -> dict[str, str]:
    """The bundled table of consumer domains, ``{domain: mailbox_provider}``."""
    table = resources.files("deliverability_econ").joinpath("data/provider_domains.csv")
    with table.open("r", encoding="utf-8") as handle:
        return {row["domain"]: row["mailbox_provider"] for row in csv.DictReader(handle)}


def provider_for_mx_host(mx_host: str) -> str:
    """Classify an MX host name (``aspmx.l.google.com``) as a mailbox provider, else ``other``."""
    host = mx_host.strip().rstrip(".").lower()
    for suffix, provider in MX_HOST_SUFFIXES.items():
        if host == suffix or host.endswith("." + suffix):
            return provider
    return "other"


def read_mx_map(path_or_mapping: str | os.PathLike | Mapping[str, str] | pd.DataFrame) -> dict[str, str]:
    """Load a user-supplied MX map.

    Parameters
    ----------
    path_or_mapping : path, mapping or DataFrame
        A CSV file (or DataFrame) with a ``domain`` column and either a ``mailbox_provider``
        column or an ``mx`` column holding the domain's MX host; or a ``{domain: provider}``
        mapping.

    Returns
    -------
    dict
        ``{domain: mailbox_provider}`` with lower-cased domains.

    Raises
    ------
    ValueError
        When a column is missing or a provider name is not in the vocabulary.
    """
    if isinstance(path_or_mapping, Mapping):
        pairs = dict(path_or_mapping)
        source = "MX map"
    else:
        frame = (
            path_or_mapping
            if isinstance(path_or_mapping, pd.DataFrame)
            else pd.read_csv(path_or_mapping, dtype=str)
        )
        source = str(path_or_mapping) if not isinstance(path_or_mapping, pd.DataFrame) else "MX map"
        if "domain" not in frame.columns:
            raise ValueError(f"{source}: an MX map needs a 'domain' column")
        if "mailbox_provider" in frame.columns:
            pairs = dict(zip(frame["domain"], frame["mailbox_provider"], strict=True))
        elif "mx" in frame.columns:
            pairs = {d: provider_for_mx_host(mx) for d, mx in zip(frame["domain"], frame["mx"], strict=True)}
        else:
            raise ValueError(f"{source}: an MX map needs a 'mailbox_provider' or an 'mx' column")
    out = {}
    for domain, provider in pairs.items():
        provider = str(provider).strip().lower()
        if provider not in MAILBOX_PROVIDERS:
            raise ValueError(
                f"{source}: domain {domain!r} maps to unknown provider {provider!r}; "
                f"known: {', '.join(MAILBOX_PROVIDERS)}"
            )
        out[str(domain).strip().lower()] = provider
    return out


def mailbox_provider(domains: pd.Series, mx_map: Mapping[str, str] | None = None) -> pd.Series:
    """Map recipient domains to mailbox providers.

    Parameters
    ----------
    domains : Series of str
        Lower-cased recipient domains.
    mx_map : mapping, optional
        ``{domain: provider}`` from :func:`read_mx_map`; consulted before the bundled table so
        that a user can also override it.

    Returns
    -------
    Series
        Categorical over :data:`~deliverability_econ.schema.MAILBOX_PROVIDERS`; unknown domains
        are ``other``.

    Examples
    --------
    >>> mailbox_provider(pd.Series(["gmail.com", "hotmail.co.uk", "acme.io"])).tolist()
    ['gmail', 'microsoft', 'other']
    """
    table = provider_domains()
    if mx_map:
        table = {**table, **mx_map}
    # Map the unique values only: a log has millions of rows but few domains.
    codes, uniques = pd.factorize(domains, use_na_sentinel=True)
    mapped = [table.get(d, "other") if isinstance(d, str) else "other" for d in uniques]
    dtype = pd.CategoricalDtype(list(MAILBOX_PROVIDERS))
    categories = pd.Categorical(mapped, dtype=dtype)
    values = categories.take(codes, allow_fill=True, fill_value="other") if len(uniques) else (
        pd.Categorical(["other"] * len(domains), dtype=dtype)
    )
    return pd.Series(values, index=domains.index, name="mailbox_provider")
