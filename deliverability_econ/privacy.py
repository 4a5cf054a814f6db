"""Recipient addresses are personal data: pseudonymize them at ingest, scrub them from text.

The pseudonym of an address is a keyed hash (HMAC-SHA256) of the lower-cased address, so the
same recipient gets the same pseudonym in every file read with the same key, and conversion
events supplied later can be joined by hashing them with that key. The key comes from, in
order: the ``salt`` argument, the ``DELIVERABILITY_ECON_SALT`` environment variable, or a random
per-installation key file created on first use (``$XDG_CONFIG_HOME/deliverability_econ/salt``,
by default under ``~/.config``).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from pathlib import Path

import pandas as pd

SALT_ENVIRONMENT_VARIABLE = "DELIVERABILITY_ECON_SALT"

#: Length of a pseudonym [hex characters]: 96 bits, collision-free for any realistic audience.
PSEUDONYM_LENGTH = 24

#: An e-mail address inside free text (diagnostic codes, SMTP replies).
EMAIL_PATTERN = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+")


def salt_file_path() -> Path:
    """Where the per-installation key lives."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "deliverability_econ" / "salt"


def resolve_salt(salt: str | bytes | None = None) -> bytes:
    """Return the pseudonymization key: the argument, else the environment, else the key file.

    Parameters
    ----------
    salt : str or bytes, optional
        An explicit key.

    Returns
    -------
    bytes
    """
    if salt is not None:
        return salt.encode("utf-8") if isinstance(salt, str) else bytes(salt)
    from_environment = os.environ.get(SALT_ENVIRONMENT_VARIABLE)
    if from_environment:
        return from_environment.encode("utf-8")
    path = salt_file_path()
    if path.exists():
        return path.read_text(encoding="utf-8").strip().encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    # Create the file readable by its owner only; another process may win the race.
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip().encode("utf-8")
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(key)
    return key.encode("utf-8")


def pseudonymize_address(address: str, key: bytes) -> str:
    """Keyed hash of one lower-cased address.

    >>> pseudonymize_address("Ann@Example.com", b"k") == pseudonymize_address("ann@example.com", b"k")
    True
    """
    digest = hmac.new(key, address.strip().lower().encode("utf-8"), hashlib.sha256).hexdigest()
    return digest[:PSEUDONYM_LENGTH]


def hmac_pads(key: bytes) -> tuple[bytes, bytes]:
    """The inner and outer padded keys of HMAC-SHA256 (RFC 2104), for code that spells
    :func:`pseudonymize_address` without :mod:`hmac` (a hash state reused per address, SQL):
    the digest is ``sha256(outer + sha256(inner + message))``.

    >>> inner, outer = hmac_pads(b"k")
    >>> hashlib.sha256(outer + hashlib.sha256(inner + b"m").digest()).digest() == \\
    ...     hmac.new(b"k", b"m", hashlib.sha256).digest()
    True
    """
    padded = (hashlib.sha256(key).digest() if len(key) > 64 else key).ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in padded), bytes(b ^ 0x5C for b in padded)


def pseudonymize(addresses: pd.Series, key: bytes) -> pd.Series:
    """Pseudonymize a column of addresses, hashing each distinct address once.

    Parameters
    ----------
    addresses : Series of str
    key : bytes
        From :func:`resolve_salt`.

    Returns
    -------
    Series of string dtype, missing where the address was missing.
    """
    codes, uniques = pd.factorize(addresses, use_na_sentinel=True)
    hashed = pd.array([pseudonymize_address(a, key) for a in uniques], dtype="string")
    if len(hashed) == 0:
        return pd.Series(pd.array([None] * len(addresses), dtype="string"), index=addresses.index)
    return pd.Series(hashed.take(codes, allow_fill=True), index=addresses.index)


def scrub_text(text: str | None, key: bytes | None = None) -> str | None:
    """Replace every e-mail address in ``text`` by ``redacted`` or by its pseudonym.

    >>> scrub_text("550 5.1.1 <bob@example.org>: user unknown")
    '550 5.1.1 <redacted>: user unknown'
    """
    if text is None or "@" not in text:
        return text
    if key is None:
        return EMAIL_PATTERN.sub("redacted", text)
    return EMAIL_PATTERN.sub(lambda m: "addr:" + pseudonymize_address(m.group(0), key), text)


def scrub(texts: pd.Series, key: bytes | None = None) -> pd.Series:
    """Vectorized :func:`scrub_text` over a column."""
    texts = texts.astype("string")
    has_at = texts.str.contains("@", regex=False).fillna(False)
    if not has_at.any():
        return texts
    out = texts.copy()
    out[has_at] = [scrub_text(t, key) for t in texts[has_at]]
    return out
