"""Reproductions of the papers' figures: ``jaxion reproduce <figure>|all [--quick]``.

Each figure is a plain function registered with :func:`figure`. It receives a :class:`FigureRun`
(the output folder, the quick/full size switch, the progress switch) and returns a dict with

- ``"figure"``: the matplotlib figure (written as PNG and PDF),
- ``"data"``: arrays behind it (written as ``.npz``),
- ``"parameters"``: the parameters that made it (written with provenance as ``.json``),
- ``"summary"``: one line saying what agrees with what (printed and stored in the JSON).

:func:`reproduce` writes these atomically under ``<out>/<name>.{png,pdf,npz,json}``; a figure
whose files already exist with the same parameters and size is skipped unless ``force`` is set,
so ``jaxion reproduce all`` resumes where an interrupted run stopped.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from ._registry import (
    FIGURES as FIGURES,
    FigureRun as FigureRun,
    FigureSpec as FigureSpec,
    figure as figure,
    subplots as subplots,
)


def _load_all() -> None:
    """Import the modules that register the figures."""
    from . import paper1, paper2, paper2_drift, paper2_steady, paper2_trapping, thermal  # noqa: F401


def figure_names() -> list[str]:
    _load_all()
    return sorted(FIGURES, key=lambda n: (FIGURES[n].paper, _number_key(FIGURES[n].number), n))


def _number_key(number: str):
    digits = "".join(ch for ch in number if ch.isdigit())
    return (int(digits) if digits else 0, number)


def reproduce(names, out="figures", *, quick: bool = True, progress: bool = True, force: bool = False,
              verbose: bool = True) -> dict:
    """Make the named figures (``"all"`` for every one); returns ``{name: summary}``.

    Files go to ``out/<name>.{png,pdf,npz,json}``, written to temporary names and renamed. ``verbose`` prints one
    line per figure: its summary (what agrees with what) when made, or that it was skipped because its files exist
    (``force`` redoes it); ``progress`` adds the progress bars and a line when a figure starts.
    """
    from ..io import atomic_write, run_metadata, save_json, save_npz

    _load_all()
    if isinstance(names, str):
        names = [names]
    if list(names) == ["all"]:
        names = figure_names()
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        raise ValueError(f"unknown figure(s) {unknown}; choose from {figure_names()} or 'all'")
    out = Path(out)
    summaries = {}
    for name in names:
        spec = FIGURES[name]
        meta_path = out / f"{name}.json"
        if not force and meta_path.exists() and (out / f"{name}.png").exists():
            try:
                previous = json.loads(meta_path.read_text())
            except (OSError, json.JSONDecodeError):
                previous = {}
            if previous.get("parameters", {}).get("quick") == quick and "summary" in previous:
                summaries[name] = previous["summary"]
                if verbose:
                    print(f"[{name}] skipped: already made with these settings ({meta_path}); --force to redo: "
                          f"{previous['summary']}", flush=True)
                continue
        if progress:
            print(f"[{name}] paper {spec.paper}, Fig. {spec.number}: {spec.title} ({'quick' if quick else 'full'} size)", flush=True)
        started = time.perf_counter()
        result = spec.make(FigureRun(out=out, quick=quick, progress=progress))
        wall = time.perf_counter() - started
        fig = result["figure"]
        atomic_write(out / f"{name}.png", lambda tmp: fig.savefig(tmp, dpi=130, format="png"))
        atomic_write(out / f"{name}.pdf", lambda tmp: fig.savefig(tmp, format="pdf"))
        import matplotlib.pyplot as plt

        plt.close(fig)
        save_npz(out / f"{name}.npz", **result.get("data", {}))
        parameters = {"figure": name, "paper": spec.paper, "number": spec.number, "quick": quick, **result.get("parameters", {})}
        metadata = run_metadata(parameters, wall)
        metadata["summary"] = result.get("summary", "")
        save_json(meta_path, metadata)
        summaries[name] = metadata["summary"]
        if verbose:
            print(f"[{name}] {wall:.1f} s: {metadata['summary']}", flush=True)
    return summaries
