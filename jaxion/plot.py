"""Matplotlib figures: simulation as markers, theory as lines, colour-blind-safe palette (Wong 2011)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["PALETTE", "plot_loss_curves"]

# Okabe–Ito / Wong palette, as used by the papers' figures.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]


def plot_loss_curves(
    curves: Sequence[dict],
    path=None,
    *,
    title: str | None = None,
    xlabel: str = "initial speed σ'₀ (dimensionless, l per τ)",
    ylabel: str = "loss Δ (dimensionless, ħΩ)",
):
    """Loss against speed on log–log axes, with a lower panel of simulation/theory − 1.

    Each curve is a dict with ``label``, ``speeds``, ``loss`` (simulation markers) and optionally
    ``theory_speeds``, ``theory`` (line) and ``theory_at_speeds`` (theory at the simulated speeds,
    for the deviation panel). Writes ``path`` (PNG; a PDF beside it) when given; returns the figure.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(
        2, 1, figsize=(6.4, 6.0), sharex=True, gridspec_kw={"height_ratios": [3, 1.2]}, constrained_layout=True
    )
    for i, curve in enumerate(curves):
        colour = PALETTE[i % len(PALETTE)]
        if curve.get("theory") is not None:
            top.plot(curve["theory_speeds"], curve["theory"], "-", color=colour, lw=1.5, label=f"{curve['label']} (theory)")
        speeds, loss = np.asarray(curve["speeds"]), np.asarray(curve["loss"])
        top.plot(speeds, loss, "o", color=colour, ms=5, mfc="none", label=f"{curve['label']} (simulation)")
        if curve.get("theory_at_speeds") is not None:
            theory = np.asarray(curve["theory_at_speeds"])
            # a zero theory (an impact parameter far from every site) has no relative deviation to draw
            deviation = np.divide(loss, theory, out=np.full_like(loss, np.nan, dtype=float), where=theory != 0) - 1
            bottom.plot(speeds, deviation, "o-", color=colour, ms=4, lw=0.8)
    top.set_xscale("log")
    top.set_yscale("log")
    top.set_ylabel(ylabel)
    top.legend(fontsize=7, ncol=2)
    if title:
        top.set_title(title, fontsize=10)
    bottom.axhline(0.0, color="0.5", lw=0.8)
    bottom.set_xlabel(xlabel)
    bottom.set_ylabel("simulation / theory − 1")
    bottom.set_yscale("symlog", linthresh=1e-3)
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    bottom.xaxis.set_major_formatter(ScalarFormatter())
    bottom.xaxis.set_minor_formatter(NullFormatter())
    if path is not None:
        from pathlib import Path

        from .io import atomic_write

        path = Path(path)
        atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=130, format="png"))
        atomic_write(path.with_suffix(".pdf"), lambda tmp: fig.savefig(tmp, format="pdf"))
    return fig
