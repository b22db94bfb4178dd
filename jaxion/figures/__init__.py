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

import dataclasses
import json
import time
from pathlib import Path
from typing import Callable

__all__ = ["FigureRun", "FigureSpec", "FIGURES", "figure", "reproduce", "figure_names"]


@dataclasses.dataclass(frozen=True)
class FigureRun:
    """What a figure function is asked to do."""

    out: Path
    quick: bool = True
    progress: bool = True


@dataclasses.dataclass(frozen=True)
class FigureSpec:
    name: str
    paper: int
    number: str
    title: str
    make: Callable[[FigureRun], dict]


FIGURES: dict[str, FigureSpec] = {}


def figure(name: str, *, paper: int, number: str, title: str):
    """Register ``make(run: FigureRun) -> dict`` as the reproduction of one paper figure."""

    def register(make):
        if name in FIGURES:
            raise ValueError(f"figure {name!r} is registered twice")
        FIGURES[name] = FigureSpec(name, paper, number, title, make)
        return make

    return register


def _load_all() -> None:
    """Import the modules that register the figures."""
    from . import paper1, paper2_steady  # noqa: F401

    try:
        from . import paper2  # noqa: F401
    except ImportError as error:  # pragma: no cover - only while paper 2's module is absent
        if "paper2" not in str(error):
            raise


def figure_names() -> list[str]:
    _load_all()
    return sorted(FIGURES, key=lambda n: (FIGURES[n].paper, _number_key(FIGURES[n].number), n))


def _number_key(number: str):
    digits = "".join(ch for ch in number if ch.isdigit())
    return (int(digits) if digits else 0, number)


def reproduce(names, out="figures", *, quick: bool = True, progress: bool = True, force: bool = False) -> dict:
    """Make the named figures (``"all"`` for every one); returns ``{name: summary}``.

    Files go to ``out/<name>.{png,pdf,npz,json}``, written to temporary names and renamed.
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
                if progress:
                    print(f"[{name}] already done ({meta_path}); --force to redo", flush=True)
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
        if progress:
            print(f"[{name}] {wall:.1f} s: {metadata['summary']}", flush=True)
    return summaries


def subplots(*args, **kwargs):
    """``matplotlib.pyplot.subplots`` on the non-interactive Agg backend, constrained layout on."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kwargs.setdefault("constrained_layout", True)
    return plt.subplots(*args, **kwargs)
