"""Paper 2, Fig. 9: the steady-state loss (2.33) broadened by the speed variation within a pass —
theory only (:func:`jaxion.theory.paper2.broadened_steady_state_loss`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..plot import PALETTE
from ..potential import Gaussian
from ..theory.paper2 import (
    broadened_steady_state_loss,
    capture_speed,
    drift_velocities,
    steady_state_loss,
)
from ._registry import FigureRun, figure, subplots

BIAS = 0.01


@figure("paper2-fig9", paper=2, number="9", title="broadened steady-state loss (2.33) with the bias and α/n")
def fig9(run: FigureRun) -> dict:
    """Fig. 8's parameters (α = 40, ω_fast = 10, λ = 4, Φ0 = ±2, β = 0.01): Δ̄ of (2.33) (thin grey) and
    its average over the speeds within a pass (colour), the speeds α/n (orange), the capture speed of the
    repulsive ion (pink) and the bias (green)."""
    alpha, omega_fast, width = 40.0, 10.0, 4.0
    speeds = np.linspace(3.0, 120.0, 240 if run.quick else 2400)
    nodes = 96 if run.quick else 512
    fig, axes = subplots(2, 1, figsize=(8, 7), sharex=True)
    data = {"speeds": speeds}
    parameters: dict[str, Any] = {"alpha": alpha, "omega_fast": omega_fast, "width": width, "bias": BIAS}
    counts = {}
    for ax, amplitude, colour in zip(axes, (2.0, -2.0), (PALETTE[0], PALETTE[2])):
        potential = Gaussian(amplitude, width)
        bare = np.asarray(steady_state_loss(speeds, potential, omega_fast, alpha))
        broad = np.asarray(broadened_steady_state_loss(speeds, potential, omega_fast, alpha, nodes=nodes))
        key = "repulsive" if amplitude > 0 else "attractive"
        data[f"steady_{key}"], data[f"broadened_{key}"] = bare, broad
        ax.plot(speeds, bare, "-", color="0.7", lw=0.6, label="Δ̄ (2.33), constant speed")
        ax.plot(speeds, np.where(np.isfinite(broad), broad, np.nan), "-", color=colour, lw=1.4,
                label="Δ̄ averaged over the speeds within a pass")
        for n in range(1, 11):
            ax.axvline(alpha / n, color=PALETTE[4], lw=0.7, alpha=0.8)
        capture = float(capture_speed(potential))
        if capture > 0:
            ax.axvline(capture, color=PALETTE[3], lw=1.5, label=f"capture speed {capture:.1f}")
        ax.axhline(BIAS, color=PALETTE[2] if amplitude > 0 else PALETTE[1], lw=1.0, ls="--", label=f"bias β = {BIAS:g}")
        ax.set_yscale("log")
        ax.set_ylim(1e-4, 1.0)
        ax.set_ylabel("Δ̄ per lattice spacing (dimensionless)")
        ax.set_title(f"Φ0 = {amplitude:+g} ({key}); orange: σ' = α/n, n = 1..10", fontsize=9)
        ax.legend(fontsize=7, loc="upper right")
        drift = drift_velocities(BIAS, potential, omega_fast, alpha, (3.0, 120.0))
        crossing = np.flatnonzero(np.diff(np.sign(np.where(np.isfinite(broad), broad, 1.0) - BIAS)) > 0)
        counts[key] = {"stable_constant_speed": int(drift.stable.size), "stable_broadened": int(crossing.size)}
        parameters[f"stable_drift_constant_speed_{key}"] = drift.stable
        parameters[f"stable_drift_broadened_{key}"] = speeds[crossing]
    axes[1].set_xlabel("speed midway between masses σ'₀ (dimensionless)")
    fig.suptitle("Paper 2, Fig. 9: α = 40, ω_fast = 10, λ = 4, |Φ0| = 2", fontsize=10)
    summary = (f"stable drift speeds in [3, 120] (Δ̄ − β rising through 0): constant-speed (2.33) "
               f"{counts['repulsive']['stable_constant_speed']} (repulsive) / {counts['attractive']['stable_constant_speed']} "
               f"(attractive); broadened {counts['repulsive']['stable_broadened']} / {counts['attractive']['stable_broadened']} — "
               f"broadening removes the low-speed spikes, as the paper says")
    return {"figure": fig, "data": data, "summary": summary, "parameters": parameters}
