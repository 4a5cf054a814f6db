"""The analyst notebooks are committed clean and shaped alike.

Executing them is nbval's job (``pytest --nbval-lax notebooks/``); these checks are static and
fast: no outputs in the repository (they would carry data and bloat diffs), a papermill
``parameters`` cell holding the heavy knobs so CI can shrink them, and a closing "What this
means" in plain words.
"""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
#: The six notebooks of the issue "Notebooks for analysts, an executive report, and the demo".
EXPECTED = {
    "01_log_to_placement.ipynb",
    "02_reputation_and_risk.ipynb",
    "03_funnel_revenue_at_risk.ipynb",
    "04_shared_vs_dedicated.ipynb",
    "05_migration_and_warmup.ipynb",
    "06_business_case.ipynb",
}
#: Notebooks with ipywidgets controls for the assumptions an analyst plays with.
INTERACTIVE = {"04_shared_vs_dedicated.ipynb", "05_migration_and_warmup.ipynb",
               "06_business_case.ipynb"}


def read(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def test_all_notebooks_present():
    assert EXPECTED <= {path.name for path in NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_valid_notebook_format(path):
    nbformat.validate(read(path))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path):
    dirty = [index for index, cell in enumerate(read(path).cells)
             if cell.cell_type == "code"
             and (cell.get("outputs") != [] or cell.get("execution_count") is not None)]
    assert not dirty, (f"{path.name}: code cell(s) {dirty} hold outputs or an execution count; "
                       "clear them (jupyter nbconvert --clear-output --inplace) before committing")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_parameters_cell_first_code_cell(path):
    code = [cell for cell in read(path).cells if cell.cell_type == "code"]
    tagged = [cell for cell in code if "parameters" in cell.metadata.get("tags", [])]
    assert len(tagged) == 1, f"{path.name}: expected one code cell tagged 'parameters'"
    assert code[0] is tagged[0], f"{path.name}: the parameters cell must be the first code cell"
    # Only assignments of literal knobs, so papermill can override them.
    for line in tagged[0].source.splitlines():
        stripped = line.strip()
        assert not stripped or stripped.startswith("#") or " = " in stripped, (
            f"{path.name}: parameters cell line is not an assignment: {line!r}")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_ends_with_what_this_means(path):
    last = read(path).cells[-1]
    assert last.cell_type == "markdown", f"{path.name}: the last cell must be markdown"
    first_line = last.source.lstrip().splitlines()[0]
    assert first_line.lstrip("#").strip() == "What this means", (
        f"{path.name}: the last cell must be a 'What this means' section, not {first_line!r}")


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.name in INTERACTIVE],
                         ids=lambda p: p.name)
def test_interactive_notebooks_have_widgets(path):
    source = "\n".join(cell.source for cell in read(path).cells if cell.cell_type == "code")
    assert "ipywidgets" in source and "interactive(" in source, (
        f"{path.name}: expected ipywidgets controls for the assumptions")


def test_checks_can_fail(tmp_path):
    """A notebook with an output and no closing section is caught by the same predicates."""
    notebook = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("1 + 1", execution_count=1)
    cell.outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "2"},
                                           execution_count=1)]
    notebook.cells = [cell]
    path = tmp_path / "dirty.ipynb"
    nbformat.write(notebook, path)
    with pytest.raises(AssertionError):
        test_committed_without_outputs(path)
    with pytest.raises(AssertionError):
        test_parameters_cell_first_code_cell(path)
    with pytest.raises(AssertionError):
        test_ends_with_what_this_means(path)
