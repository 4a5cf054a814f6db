import pandas as pd
import pytest

from deliverability_econ.providers import (
    mailbox_provider,
    provider_domains,
    provider_for_mx_host,
    read_mx_map,
)
from deliverability_econ.schema import MAILBOX_PROVIDERS


@pytest.mark.parametrize(
    "domain, provider",
    [
        ("gmail.com", "gmail"), ("googlemail.com", "gmail"),
        ("outlook.com", "microsoft"), ("hotmail.com", "microsoft"), ("live.com", "microsoft"),
        ("msn.com", "microsoft"), ("yahoo.com", "yahoo"), ("aol.com", "yahoo"),
        ("ymail.com", "yahoo"), ("rocketmail.com", "yahoo"), ("icloud.com", "apple"),
        ("me.com", "apple"), ("mac.com", "apple"), ("gmx.de", "gmx"), ("web.de", "gmx"),
        ("mail.ru", "mailru"), ("yandex.ru", "yandex"), ("qq.com", "qq"), ("163.com", "netease"),
        ("comcast.net", "comcast"), ("att.net", "att"), ("orange.fr", "orange"),
        ("t-online.de", "t-online"), ("libero.it", "libero"), ("acme-corp.io", "other"),
    ],
)
def test_consumer_domains(domain, provider):
    assert mailbox_provider(pd.Series([domain])).iloc[0] == provider


def test_table_uses_only_known_providers():
    assert set(provider_domains().values()) <= set(MAILBOX_PROVIDERS)


def test_missing_domain_is_other_and_dtype_is_categorical():
    result = mailbox_provider(pd.Series(["gmail.com", None], dtype="string"))
    assert result.tolist() == ["gmail", "other"]
    assert isinstance(result.dtype, pd.CategoricalDtype)


def test_mx_map_by_provider_and_by_mx_host(tmp_path):
    path = tmp_path / "mx.csv"
    path.write_text("domain,mx\nacme.io,aspmx.l.google.com\nbeta.com,beta-com.mail.protection.outlook.com\n"
                    "gamma.org,mx.gamma.org\n")
    mx_map = read_mx_map(path)
    assert mx_map == {"acme.io": "gmail", "beta.com": "microsoft", "gamma.org": "other"}
    result = mailbox_provider(pd.Series(["acme.io", "beta.com", "gmail.com"]), mx_map)
    assert result.tolist() == ["gmail", "microsoft", "gmail"]
    assert read_mx_map({"Delta.COM": "Yahoo"}) == {"delta.com": "yahoo"}


def test_mx_map_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown provider 'hotmale'"):
        read_mx_map({"acme.io": "hotmale"})
    path = tmp_path / "bad.csv"
    path.write_text("host,provider\na,b\n")
    with pytest.raises(ValueError, match="'domain' column"):
        read_mx_map(path)


def test_mx_host_classification():
    assert provider_for_mx_host("ALT1.ASPMX.L.GOOGLE.COM.") == "gmail"
    assert provider_for_mx_host("mta5.am0.yahoodns.net") == "yahoo"
    assert provider_for_mx_host("notgoogle.com") == "other"
