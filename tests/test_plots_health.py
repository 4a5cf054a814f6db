"""Health dashboard and risk timeline figures (deliverability_econ._plots_health).

The figures are checked through the objects they return: one status cell per check row with
its status colour, one marker per signal episode with the severity's marker, scope labels.
"""

from __future__ import annotations

import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.colors as mcolors  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from deliverability_econ._plots_health import (  # noqa: E402
    STATUS_COLORS,
    plot_health_dashboard,
    plot_risk_timeline,
)
from deliverability_econ.cube import CUBE_COUNT_COLUMNS  # noqa: E402
from deliverability_econ.rates import LowVolumeWarning  # noqa: E402
from deliverability_econ.reputation import health_checks  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def health_frame() -> pd.DataFrame:
    """Health checks of a small cube: Yahoo's complaints 0.13% (warning), AT&T's hard
    bounces 6% on 50 messages (low volume), Gmail 6,000 a day (bulk sender: warning)."""
    records = []
    for provider, counts in {
        "gmail": {"messages": 6000, "delivered": 5950, "bounced_hard": 20},
        "yahoo": {"messages": 10_000, "delivered": 10_000, "complained": 13},
        "att": {"messages": 50, "delivered": 47, "bounced_hard": 3},
    }.items():
        record = {name: 0 for name in CUBE_COUNT_COLUMNS} | counts
        records.append(record | {"date": pd.Timestamp("2025-03-03"), "mailbox_provider": provider})
    cube = pd.DataFrame(records)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LowVolumeWarning)
        return health_checks(cube)


def status_cells(ax) -> list[Rectangle]:
    return [p for p in ax.patches if (p.get_gid() or "").startswith("status:")]


def test_health_dashboard_cells_and_colours():
    health = health_frame()
    ax = plot_health_dashboard(health)
    cells = status_cells(ax)
    assert len(cells) == len(health.drop_duplicates(["check", "scope"]))
    for cell in cells:
        status = cell.get_gid().split(":", 1)[1]
        assert mcolors.same_color(cell.get_facecolor(), STATUS_COLORS[status])
    statuses = sorted(c.get_gid() for c in cells)
    assert statuses.count("status:warning") == int((health["status"] == "warning").sum())
    texts = [t.get_text() for t in ax.texts]
    assert {"Check", "Scope", "Value", "Warning at", "Critical at", "Status"} <= set(texts)
    # Yahoo's complaint rate 13 / 10,000 = 0.13% against Gmail's 0.10% / 0.30% levels (F2).
    assert "0.13%" in texts and "0.10%" in texts and "0.30%" in texts
    assert "6,000" in texts and "5,000" in texts  # the bulk-sender check (F1)
    assert ax.get_title(loc="left").startswith(f"Reputation health: {len(cells)} checks")
    assert any(t.endswith("*") for t in texts)  # AT&T's low-volume row is marked


def test_health_dashboard_latest_period_and_given_axes():
    weekly = pd.concat(
        [
            health_frame().assign(period_start=pd.Timestamp("2025-03-03")),
            health_frame().assign(period_start=pd.Timestamp("2025-03-10")),
        ]
    )
    fig, (left, right) = plt.subplots(1, 2)
    assert plot_health_dashboard(weekly, ax=right) is right
    assert len(status_cells(right)) == len(health_frame().drop_duplicates(["check", "scope"]))
    full = plot_health_dashboard(weekly, latest_only=False)
    assert len(status_cells(full)) == 2 * len(status_cells(right))
    capped = plot_health_dashboard(weekly, latest_only=False, max_rows=3)
    gravest = sorted(c.get_gid() for c in status_cells(capped))
    assert len(gravest) == 3 and "status:ok" not in gravest  # warnings kept first
    with pytest.raises(ValueError, match="health_checks"):
        plot_health_dashboard(pd.DataFrame({"check": []}))


def signal_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "date": pd.to_datetime(["2025-02-04", "2025-02-04", "2025-02-11", "2025-02-18",
                                "2025-02-04"]),
        "end_date": pd.to_datetime(["2025-02-11", "2025-02-04", "2025-02-11", "2025-02-18",
                                    "2025-02-04"]),
        "scope": ["gmail", "ip 203.0.113.10", "microsoft", "gmail", "stream newsletter"],
        "signal": ["block_rise", "volume_spike", "placement_drop", "engagement_drop",
                   "inconsistent_sending"],
        "severity": pd.Categorical(["critical", "critical", "warning", "warning", "info"],
                                   categories=["info", "warning", "critical"], ordered=True),
    })  # fmt: skip


def test_risk_timeline_markers_by_severity():
    signals = signal_frame()
    ax = plot_risk_timeline(signals)
    collections = {c.get_label(): c for c in ax.collections if isinstance(c, PathCollection)}
    assert set(collections) == {"critical", "warning", "info"}
    assert sum(len(c.get_offsets()) for c in collections.values()) == len(signals)
    assert len(collections["critical"].get_offsets()) == 2
    assert len(collections["warning"].get_offsets()) == 2
    assert mcolors.same_color(collections["critical"].get_facecolor()[0], STATUS_COLORS["critical"])
    # Scopes with a critical episode first, then by number of episodes.
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["gmail", "ip 203.0.113.10", "microsoft", "stream newsletter"]
    # The two-day episode at Gmail has a line to its end.
    assert len([line for line in ax.lines if line.get_gid() == "episode"]) == 1
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["critical", "warning", "info"]
    annotations = [t.get_text() for t in ax.texts]
    assert "block rise" in annotations and len(annotations) == len(signals)
    assert ax.get_title(loc="left") == "Risk signals: 5 episodes in 4 scopes"


def test_risk_timeline_empty_and_given_axes():
    fig, ax = plt.subplots()
    empty = signal_frame().iloc[0:0]
    assert plot_risk_timeline(empty, ax=ax) is ax
    assert ax.texts[0].get_text() == "No risk signals"
    many = pd.concat([signal_frame()] * 8, ignore_index=True)
    crowded = plot_risk_timeline(many)
    assert not crowded.texts  # 40 episodes: no annotations by default
    with pytest.raises(ValueError, match="risk_signals"):
        plot_risk_timeline(pd.DataFrame({"date": []}))


def test_risk_timeline_of_detected_signals():
    # End to end: signals detected on a cube with one bad day draw one marker per episode.
    from deliverability_econ.signals import risk_signals

    rng = np.random.default_rng(0)
    records = []
    for day in range(40):
        for provider, n in (("gmail", 2000), ("yahoo", 1000)):
            hard = rng.binomial(n, 0.08 if (day == 30 and provider == "yahoo") else 0.003)
            record = {name: 0 for name in CUBE_COUNT_COLUMNS}
            record.update(date=pd.Timestamp("2025-03-03") + pd.Timedelta(days=day),
                          mailbox_provider=provider, messages=n, bounced_hard=hard,
                          delivered=n - hard, opened_human=rng.binomial(n - hard, 0.3))  # fmt: skip
            records.append(record)
    signals = risk_signals(pd.DataFrame(records))
    ax = plot_risk_timeline(signals)
    offsets = sum(len(c.get_offsets()) for c in ax.collections if isinstance(c, PathCollection))
    assert offsets == len(signals) >= 2  # yahoo and all
    assert {"yahoo", "all"} <= {t.get_text() for t in ax.get_yticklabels()}
