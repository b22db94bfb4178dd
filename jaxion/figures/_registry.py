"""The figure registry: :class:`FigureRun`, :func:`figure` and the plotting helper the figure modules share.
The figure modules import this; :mod:`jaxion.figures` imports them (no module imports the package that
registers it)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

__all__ = ["FigureRun", "FigureSpec", "FIGURES", "figure", "subplots"]


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


def subplots(*args, **kwargs):
    """``matplotlib.pyplot.subplots`` on the non-interactive Agg backend, constrained layout on."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kwargs.setdefault("constrained_layout", True)
    return plt.subplots(*args, **kwargs)
