"""Every notebook in notebooks/ runs top to bottom (its code cells, in order, in one namespace).

The notebooks check their own numbers with ``assert`` (e.g. simulation against theory), so running them is a
test of the physics they show as well as of the API they use. No Jupyter kernel is needed: the code cells are
executed with ``exec`` in a fresh namespace, in a temporary working folder, on the Agg backend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def code_cells(path: Path) -> list[str]:
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document.get("nbformat") == 4, f"{path.name}: not an nbformat-4 notebook"
    cells = [c for c in document["cells"] if c["cell_type"] == "code"]
    for cell in cells:
        assert not cell.get("outputs"), f"{path.name}: commit notebooks without outputs"
    return ["".join(c["source"]) for c in cells]


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 3


# The four longest (~25–50 s each on the 2-core CI machine) run with `pytest -m slow`; the default run
# keeps the default test time under ~8 minutes.
SLOW_NOTEBOOKS = {"paper1_dissipation", "paper2_chain", "paper1_time_local", "fit_and_screen"}


@pytest.mark.parametrize(
    "path",
    [pytest.param(p, marks=pytest.mark.slow) if p.stem in SLOW_NOTEBOOKS else p for p in NOTEBOOKS],
    ids=[p.stem for p in NOTEBOOKS],
)
def test_notebook_runs(path, tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)  # what a notebook writes (docs/*.png) lands here, not in the checkout
    namespace = {"__name__": "__notebook__"}
    try:
        for index, source in enumerate(code_cells(path)):
            code = compile(source, f"{path.name}[cell {index}]", "exec")
            exec(code, namespace)  # noqa: S102 - the repository's own notebooks
    finally:
        plt.close("all")
