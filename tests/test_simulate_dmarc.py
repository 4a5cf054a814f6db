"""DMARC reports from a simulated sender (deliverability_econ.simulate.dmarc), read back.

The generator's records are the ground truth: the reader and the authentication summary must
give them back exactly (counts are integers, nothing is estimated).
"""

import pandas as pd
import pytest

from deliverability_econ.authentication import authentication_summary, unknown_sources
from deliverability_econ.io.dmarc import read_dmarc_aggregate
from deliverability_econ.simulate.dmarc import (
    REPORTERS,
    UnknownSource,
    dmarc_records,
    write_dmarc_reports,
)


@pytest.fixture
def truth():
    days = pd.to_datetime(["2025-03-03", "2025-03-03", "2025-03-04", "2025-03-04", "2025-03-04"],
                          utc=True)
    return pd.DataFrame({
        "date": days,
        "mailbox_provider": ["gmail", "yahoo", "gmail", "microsoft", "apple"],
        "sending_ip": ["203.0.113.10", "203.0.113.10", "203.0.113.11", "203.0.113.10",
                       "203.0.113.10"],
        "delivered": [4000, 1500, 3000, 2000, 900],
    })


def test_round_trip_through_report_files(truth, tmp_path):
    spoofer = UnknownSource("185.220.101.7", messages_per_day=40)
    records = dmarc_records(truth, dkim_aligned_share=0.8, spf_aligned_share=0.95,
                            unknown_sources=(spoofer,), random_state=11)
    # Apple sends no reports: 4000 + 1500 + 3000 + 2000 from the sender.
    own = records.loc[records["source_ip"] != spoofer.ip, "count"].sum()
    assert own == 10_500
    files = write_dmarc_reports(records, tmp_path)
    # One attachment per provider and day: gmail x2, yahoo, microsoft.
    assert sorted(p.suffix for p in files) == [".gz", ".zip", ".zip", ".zip"]
    read, meta = read_dmarc_aggregate(tmp_path)
    assert meta["quarantined"] == 0 and meta["rows"] == len(records)
    assert read["count"].sum() == records["count"].sum()
    assert set(read["mailbox_provider"].astype(str)) == {"gmail", "yahoo", "microsoft"}
    expected = records.groupby("authentication_class")["count"].sum()
    summary = authentication_summary(read, by=())
    for klass, count in expected.items():
        assert summary[klass].iloc[0] == count
    # The class shares follow d*s etc. within sampling noise: d*(1-s) = 0.04 of 10,500
    # messages has a binomial sd of sqrt(10500*0.04*0.96)/10500 = 0.0019.
    own_read = read.loc[read["source_ip"] != spoofer.ip]
    dkim_only = own_read.loc[own_read["dkim_aligned"] & ~own_read["spf_aligned"], "count"].sum()
    assert dkim_only / 10_500 == pytest.approx(0.8 * 0.05, abs=4 * 0.0019)
    unknown = unknown_sources(read, {"esp": ["203.0.113.0/24"]})
    assert unknown["source"].tolist() == ["net 185.220.101.0/24"]
    assert unknown["likely_cause"].tolist() == ["possible_spoofing"]
    assert read.loc[read["mailbox_provider"] == "microsoft", "envelope_to"].eq("outlook.com").all()


def test_same_seed_same_reports(truth):
    first = dmarc_records(truth, dkim_aligned_share=0.5, random_state=3)
    second = dmarc_records(truth, dkim_aligned_share=0.5, random_state=3)
    pd.testing.assert_frame_equal(first, second)
    with pytest.raises(ValueError, match="dkim_aligned_share"):
        dmarc_records(truth, dkim_aligned_share=80)


def test_reporters_cover_the_big_providers():
    assert {"gmail", "yahoo", "microsoft"} <= set(REPORTERS)
