"""The committed notebooks: no outputs, no execution counts, the kernel `make setup` installs.

A pre-commit-like check: JupyterLab's autosave of an executed notebook, or a notebook saved
with another kernel, fails here before it is merged. `notebook_problems` is the check; the
tests run it on runbooks/*.ipynb and on bad copies, so the check itself is known to bite.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from migration_runbook.execute import KERNEL, KERNEL_DISPLAY_NAME
from tests.conftest import ROOT

NOTEBOOKS = sorted((ROOT / "runbooks").glob("*.ipynb"))


def notebook_problems(path: Path) -> list[str]:
    """What is wrong with a notebook as committed: one line a problem, [] when clean."""
    nb = nbformat.read(path, as_version=4)
    problems = []
    spec = nb.metadata.get("kernelspec", {})
    if spec.get("name") != KERNEL or spec.get("display_name") != KERNEL_DISPLAY_NAME:
        problems.append(f"{path.name}: kernelspec {spec.get('name')!r}/"
                        f"{spec.get('display_name')!r}, not {KERNEL!r}/{KERNEL_DISPLAY_NAME!r}")
    for number, cell in enumerate(nb.cells, start=1):
        if cell.cell_type != "code":
            continue
        if cell.get("outputs"):
            problems.append(f"{path.name}: cell {number} has outputs")
        if cell.get("execution_count") is not None:
            problems.append(f"{path.name}: cell {number} has execution count "
                            f"{cell.execution_count}")
    return problems


def test_there_are_notebooks_to_check() -> None:
    assert {p.name for p in NOTEBOOKS} >= {"plan.ipynb", "phase.ipynb", "report.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebook_is_clean(path: Path) -> None:
    assert notebook_problems(path) == []


def test_make_setup_installs_the_kernel_the_notebooks_declare() -> None:
    makefile = (ROOT / "Makefile").read_text()
    install = re.search(r"ipykernel install .*--name (\S+) --display-name \"([^\"]+)\"",
                        makefile)
    assert install, "Makefile no longer installs the kernel with a name and display name"
    assert install.groups() == (KERNEL, KERNEL_DISPLAY_NAME)


def test_the_check_finds_outputs_counts_and_a_foreign_kernel(tmp_path: Path) -> None:
    nb = nbformat.read(ROOT / "runbooks" / "plan.ipynb", as_version=4)
    first = next(i for i, c in enumerate(nb.cells, start=1) if c.cell_type == "code")
    cell = nb.cells[first - 1]
    cell.execution_count = 3
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="hello\n")]
    nb.metadata.kernelspec.display_name = "Python 3"
    dirty = tmp_path / "plan.ipynb"
    nbformat.write(nb, dirty)
    assert notebook_problems(dirty) == [
        f"plan.ipynb: kernelspec 'python3'/'Python 3', not 'python3'/{KERNEL_DISPLAY_NAME!r}",
        f"plan.ipynb: cell {first} has outputs",
        f"plan.ipynb: cell {first} has execution count 3",
    ]
