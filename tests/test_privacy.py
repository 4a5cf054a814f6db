import os

import pandas as pd

from deliverability_econ import privacy


def test_keyed_hash_is_case_insensitive_and_depends_on_key():
    a = privacy.pseudonymize_address("Ann@Example.COM", b"k1")
    assert a == privacy.pseudonymize_address("ann@example.com", b"k1")
    assert a != privacy.pseudonymize_address("ann@example.com", b"k2")
    assert len(a) == privacy.PSEUDONYM_LENGTH and "@" not in a


def test_vectorized_matches_scalar_and_keeps_missing():
    series = pd.Series(["a@x.com", None, "A@x.com"], dtype="string")
    out = privacy.pseudonymize(series, b"k")
    assert out.iloc[0] == out.iloc[2] == privacy.pseudonymize_address("a@x.com", b"k")
    assert pd.isna(out.iloc[1])


def test_key_resolution_order(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setenv(privacy.SALT_ENVIRONMENT_VARIABLE, "from-env")
    assert privacy.resolve_salt("arg") == b"arg"
    assert privacy.resolve_salt() == b"from-env"
    monkeypatch.delenv(privacy.SALT_ENVIRONMENT_VARIABLE)
    first = privacy.resolve_salt()
    path = privacy.salt_file_path()
    assert path.exists() and (os.stat(path).st_mode & 0o777) == 0o600
    assert privacy.resolve_salt() == first  # stable per installation


def test_scrub_addresses_in_text():
    text = "550 5.1.1 <bob.smith+tag@mail.example.co.uk>: Recipient address rejected"
    assert privacy.scrub_text(text) == "550 5.1.1 <redacted>: Recipient address rejected"
    scrubbed = privacy.scrub_text(text, b"k")
    assert "bob.smith" not in scrubbed and "addr:" in scrubbed
    assert privacy.scrub_text(None) is None
    series = privacy.scrub(pd.Series(["no address", "to a@b.org failed", None]))
    assert series.tolist()[:2] == ["no address", "to redacted failed"]
