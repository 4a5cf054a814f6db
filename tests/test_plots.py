"""Tests of deliverability_econ.plots (Agg backend: no display)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.collections import PolyCollection  # noqa: E402

from deliverability_econ.plots import plot_placement  # noqa: E402


@pytest.fixture
def estimates():
    """An estimate_placement-shaped table: three providers over four weeks."""
    periods = pd.date_range("2025-03-03", periods=4, freq="7D")
    rows = []
    for provider, level, sent in (
        ("gmail", 0.88, 5000),
        ("microsoft", 0.72, 2000),
        ("yahoo", 0.84, 900),
    ):
        for k, period in enumerate(periods):
            rate = level - 0.05 * (k == 2)
            rows.append(
                {
                    "period": period,
                    "mailbox_provider": provider,
                    "sent": sent,
                    "inbox_rate": rate,
                    "inbox_low": rate - 0.04,
                    "inbox_high": rate + 0.04,
                    "spam_rate": 0.97 - rate,
                    "spam_low": 0.93 - rate,
                    "spam_high": 1.01 - rate,
                    "low_volume": sent < 1000,
                }
            )
    table = pd.DataFrame(rows)
    table["mailbox_provider"] = table["mailbox_provider"].astype("category")
    return table


def test_one_line_and_one_band_per_provider(estimates):
    ax = plot_placement(estimates)
    assert isinstance(ax, Axes)
    lines = ax.get_lines()
    # Largest volume first: the legend reads in order of importance.
    assert [line.get_label() for line in lines] == ["gmail", "microsoft", "yahoo"]
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 3
    # Each band has its line's colour and spans the interval.
    for line, band in zip(lines, bands, strict=True):
        assert np.allclose(band.get_facecolor()[0][:3], matplotlib.colors.to_rgb(line.get_color()))
        vertices = band.get_paths()[0].vertices
        assert vertices[:, 1].min() == pytest.approx(
            estimates.loc[estimates["mailbox_provider"] == line.get_label(), "inbox_low"].min()
        )
    assert ax.get_ylim() == (0.0, 1.0)
    assert "inbox share of messages sent" in ax.get_ylabel()
    plt.close(ax.figure)


def test_draws_into_a_given_axes_and_passes_style(estimates):
    fig, ax = plt.subplots()
    returned = plot_placement(estimates, ax=ax, linewidth=3.5, groups=["yahoo"])
    assert returned is ax
    assert len(ax.get_lines()) == 1
    assert ax.get_lines()[0].get_linewidth() == 3.5
    plt.close(fig)


def test_low_volume_periods_get_hollow_markers(estimates):
    ax = plot_placement(estimates)
    # Yahoo's four weeks are low volume: one scatter of hollow markers.
    hollow = [c for c in ax.collections if not isinstance(c, PolyCollection)]
    assert len(hollow) == 1
    assert len(hollow[0].get_offsets()) == 4
    plt.close(ax.figure)


def test_spam_rate_and_interval_in_title(estimates):
    estimates.attrs["interval"] = 0.9
    ax = plot_placement(estimates, rate="spam_rate")
    assert "spam-folder" in ax.get_ylabel()
    assert "90% intervals" in ax.get_title()
    plt.close(ax.figure)


def test_without_provider_column_one_line(estimates):
    overall = estimates[estimates["mailbox_provider"] == "gmail"].drop(columns="mailbox_provider")
    ax = plot_placement(overall)
    assert len(ax.get_lines()) == 1
    plt.close(ax.figure)


def test_refuses_tables_it_cannot_draw(estimates):
    with pytest.raises(ValueError, match="rate must be one of"):
        plot_placement(estimates, rate="open_rate")
    with pytest.raises(ValueError, match="inbox_low"):
        plot_placement(estimates.drop(columns="inbox_low"))


def test_plots_a_real_estimate():
    from deliverability_econ import messages
    from deliverability_econ.placement import estimate_placement
    from deliverability_econ.simulate import sender

    run = sender(days=28, recipients=3000, random_state=2, start="2025-03-03")
    with pytest.warns(Warning):  # few messages per provider: LowVolumeWarning
        table = estimate_placement(
            messages(run.events), seed_tests=run.seed_tests, random_state=0, n_draws=300
        )
    ax = plot_placement(table)
    assert len(ax.get_lines()) == table["mailbox_provider"].nunique()
    assert "90% intervals" in ax.get_title()
    plt.close(ax.figure)


def test_notebooks_draw_with_the_public_plots_module():
    """Notebooks use the public API only (DESIGN.md): figures come from
    ``deliverability_econ.plots``, never from the private ``_plots_*`` modules behind it."""
    import ast
    from pathlib import Path

    import nbformat

    from deliverability_econ import plots

    notebooks = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
    assert notebooks
    for path in notebooks:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            for node in ast.walk(ast.parse(cell.source)):
                if isinstance(node, ast.ImportFrom) and node.module:
                    assert "._plots" not in f".{node.module}", (
                        f"{path.name} imports the private {node.module}")
                    if node.module == "deliverability_econ.plots":
                        missing = [a.name for a in node.names if not hasattr(plots, a.name)]
                        assert not missing, f"{path.name}: plots has no {missing}"
                elif isinstance(node, ast.Import):
                    assert not any("._plots" in a.name for a in node.names), path.name
