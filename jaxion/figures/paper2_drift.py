"""Paper 2, Fig. 8: drift velocities under a bias β = 0.01 — many initial speeds through the memory engine in
one batched call per sign of Φ0, against the stable drift speeds of (2.33)."""

from __future__ import annotations

import math

import numpy as np

from ..plot import PALETTE
from ..potential import Gaussian
from ..system import System
from ._paper2_chain import (
    ALPHA,
    BIAS,
    OMEGA_FAST,
    WIDTH,
    chain_lattice,
    midpoint_speeds,
)
from ._registry import FigureRun, figure, subplots

# ============================================================================ Fig. 8


def _biased_runs(amplitude, speeds, duration, sites_hi, *, dt, save_every):
    """All initial speeds of one panel in one :func:`jaxion.simulate_memory_batch` call (split over the
    local devices); returns ``(ts, z, v, max |energy error|)`` per speed."""
    from ..dynamics.memory import simulate_memory_batch

    speeds = np.asarray(speeds, float)
    system = System(chain_lattice(), Gaussian(amplitude, WIDTH), np.arange(-3, sites_hi + 1)[:, None])
    starts = np.column_stack([np.zeros_like(speeds), np.zeros_like(speeds), np.full_like(speeds, ALPHA / 2)])
    velocities = np.column_stack([np.zeros_like(speeds), np.zeros_like(speeds), speeds])
    result = simulate_memory_batch(
        system, starts, velocities, duration, dt=dt, constraint=[0, 0, 1], bias_force=BIAS / ALPHA, save_sites=False, window=8,
        save_times=dt * np.arange(0, math.ceil(duration / dt - 1e-9) + 1, save_every), all_sites_interact=True, method="blocked",
        block_steps=240)
    ts, z, v = (np.asarray(a) for a in (result.ts, result.ion_positions[..., 2], result.ion_velocities[..., 2]))
    errors = np.max(np.abs(np.asarray(result.energy_error)), axis=-1)
    return [(ts[m], z[m], v[m], float(errors[m])) for m in range(len(speeds))]


def _runs_panel(ax, run: FigureRun, sign: float, starts, duration: float, dt: float, save_every: int, data: dict) -> dict:
    """Panel (a) or (b): the midpoint speed against time of every initial speed of one sign of Φ0, with
    σ' = α/n, the stable drift speeds of (2.33) and the capture speed; returns the panel's statistics."""
    from ..theory.paper2 import capture_speed, drift_velocities

    tag = "repulsive" if sign > 0 else "attractive"
    amplitude = sign * 2.0
    potential = Gaussian(amplitude, WIDTH)
    accel = 4 * np.pi**2 * BIAS / ALPHA
    reach = int(math.ceil((starts.max() + accel * duration) * duration / ALPHA)) + 4
    # (2.33) also has stable roots whose basin (up to the next unstable root) is < 0.1 % of the speed
    # (e.g. 72.85 / 72.85003): drawn only when the basin is wider
    drift = drift_velocities(BIAS, potential, OMEGA_FAST, ALPHA, (3.0, 120.0), min_separation=1e-3)
    finals, colours = [], [PALETTE[0], "0.15"]
    if run.progress:
        print(f"Fig. 8 {tag}: {len(starts)} initial speeds in one batched memory-engine call", flush=True)
    runs = _biased_runs(amplitude, starts, duration, reach, dt=dt, save_every=save_every)
    for i, (v0, (ts, z, v, err)) in enumerate(zip(starts, runs)):
        t_mid, v_mid, _ = midpoint_speeds(ts, z, v)
        data[f"{tag}_v0_{v0:g}_t"], data[f"{tag}_v0_{v0:g}_v"] = t_mid, v_mid
        trapped = bool(np.any(v < 0))
        tail = t_mid >= 0.85 * duration
        v_end = float(np.median(v_mid[tail])) if np.any(tail) and not trapped else np.nan
        finals.append({"v0": float(v0), "v_end": v_end, "trapped": trapped, "energy_error": err})
        colour = colours[i % len(colours)]
        ax.plot(np.concatenate([[0.0], t_mid]), np.concatenate([[v0], v_mid]), "-", color=colour, lw=1.3,
                label="simulation (memory engine)" if i == 0 else None)
        if trapped:
            ax.plot(t_mid[-1] if len(t_mid) else 0.0, v_mid[-1] if len(v_mid) else v0, "x", color=colour, ms=7)
    for n in range(1, 12):
        ax.axhline(ALPHA / n, color=PALETTE[4], lw=0.9, alpha=0.9, label="σ' = α/n" if n == 1 else None)
    for j, w in enumerate(drift.stable):
        ax.axhline(w, color=PALETTE[2], lw=1.2, ls="--", label="stable drift of (2.33) (basin > 0.1 %)" if j == 0 else None)
    capture = float(capture_speed(potential))
    if capture > 0:
        ax.axhline(capture, color=PALETTE[3], lw=1.4, label="capture speed")
    ax.legend(fontsize=7, loc="upper right")
    ax.set_ylim(0, max(starts.max() * 1.15, 45))
    ax.set_xlim(0, duration)
    ax.set_ylabel("speed midway between masses σ' (dimensionless)")
    ax.set_xlabel("τ (periods 2π/Ω_slow)")
    ax.set_title(f"({'a' if sign > 0 else 'b'}) Φ0 = {amplitude:+g}: orange σ' = α/n, green dashed: stable drift of (2.33)"
                 + (f", pink: capture speed {capture:.1f}" if capture > 0 else "") + "; × = trapped", fontsize=8)
    # drift statistics: runs that neither got trapped nor ran away (end below α + a margin)
    for f in finals:
        if np.isfinite(f["v_end"]) and f["v_end"] < 1.2 * ALPHA:
            n = max(1, int(round(ALPHA / f["v_end"])))
            f["n"], f["rel_to_alpha_over_n"] = n, f["v_end"] / (ALPHA / n) - 1
            f["nearest_stable_2_33"] = float(drift.stable[np.argmin(np.abs(drift.stable - f["v_end"]))]) if len(drift.stable) else np.nan
    data[f"{tag}_starts"] = starts
    data[f"{tag}_stable_drift"] = drift.stable
    return {"runs": finals, "stable_2_33": drift.stable.tolist(), "stable_2_33_shown": drift.stable.tolist(),
            "unstable_2_33": drift.unstable.tolist()}


def _steady_panel(ax, quick: bool, data: dict) -> None:
    """Panel (c): Δ̄ of (2.33) against the speed, with the bias β and σ' = α/n."""
    from ..theory.paper2 import spike_speeds, steady_state_loss

    spikes = spike_speeds(OMEGA_FAST, ALPHA, (3.0, 120.0))
    near = np.concatenate([spikes * (1 + e) for e in np.concatenate([-np.geomspace(1e-2, 1e-7, 8), np.geomspace(1e-7, 1e-2, 8)])])
    speeds = np.unique(np.concatenate([np.linspace(3.0, 120.0, 1500 if quick else 6000), near[(near > 3) & (near < 120)]]))
    bar = np.asarray(steady_state_loss(speeds, Gaussian(2.0, WIDTH), OMEGA_FAST, ALPHA))
    data["steady_speeds"], data["steady_loss"] = speeds, bar
    ax.plot(speeds, bar, "-", color=PALETTE[0], lw=1.0, label="Δ̄ (2.33), either sign of Φ0")
    ax.axhline(BIAS, color=PALETTE[2], lw=1.2, ls="--", label=f"bias β = {BIAS:g}")
    for n in range(1, 12):
        ax.axvline(ALPHA / n, color=PALETTE[4], lw=0.8, alpha=0.8)
    ax.set_yscale("log")
    ax.set_ylim(1e-5, 10)
    ax.set_xlabel("speed σ' (dimensionless)")
    ax.set_ylabel("Δ̄ per pass (ħΩ_slow)")
    ax.set_title("(c) steady-state loss per pass (2.33); orange: σ' = α/n", fontsize=8)
    ax.legend(fontsize=7)


def _summary(stats: dict, duration: float) -> str:
    parts = []
    for tag in ("repulsive", "attractive"):
        drifting = sorted((f for f in stats[tag]["runs"] if "n" in f), key=lambda f: f["v_end"])
        if drifting:
            shifts = ", ".join(f"{f['v_end']:.2f} (α/{f['n']} {100 * f['rel_to_alpha_over_n']:+.1f} %)" for f in drifting)
            parts.append(f"{tag}: {len(drifting)}/{len(stats[tag]['runs'])} runs end at {shifts}")
        trapped = sum(f["trapped"] for f in stats[tag]["runs"])
        if trapped:
            parts.append(f"{trapped} {tag} trapped")
    stable = ", ".join(f"{w:.2f}" for w in stats["repulsive"]["stable_2_33_shown"])
    return "; ".join(parts) + f" (midpoint speed over the last 15 % of τ ≤ {duration:g}; (2.33) stable drift {stable})"


@figure("paper2-fig8", paper=2, number="8", title="drift velocities under a bias β = 0.01: speed against time, and Δ̄ of (2.33)")
def fig8(run: FigureRun) -> dict:
    """(a, b) speed midway between masses against time for many initial speeds (memory engine, Φ0 = +2 and
    −2, λ = 4, α = 40, bias β = 0.01 per spacing = force β/α); orange: σ' = α/n; green dashed: stable drift
    velocities of (2.33) (:func:`jaxion.theory.paper2.drift_velocities`); pink: the capture speed.
    (c) Δ̄ of (2.33) with the bias β."""
    if run.quick:
        duration = 250.0
        starts = {"repulsive": np.array([18.0, 24.0, 43.0, 70.0]),
                  "attractive": np.array([9.5, 12.5, 18.0, 24.0, 43.0])}
    else:
        # 40 initial speeds per sign, geometrically spaced (denser where the drift speeds α/n crowd)
        duration = 800.0
        starts = {"repulsive": np.round(np.geomspace(13.0, 70.0, 40), 2), "attractive": np.round(np.geomspace(6.0, 70.0, 40), 2)}
    dt, save_every = 1 / 600, 12
    fig, axes = subplots(3, 1, figsize=(9, 12), gridspec_kw={"height_ratios": [1.2, 1.2, 1]})
    data: dict = {}
    stats = {tag: _runs_panel(ax, run, sign, starts[tag], duration, dt, save_every, data)
             for ax, sign, tag in ((axes[0], 1.0, "repulsive"), (axes[1], -1.0, "attractive"))}
    _steady_panel(axes[2], run.quick, data)
    fig.suptitle(f"Paper 2, Fig. 8: α = 40, |Φ0| = 2, λ = 4, ω_fast = 10, β = {BIAS:g}; memory engine, τ ≤ {duration:g}", fontsize=10)
    return {
        "figure": fig,
        "data": data,
        "parameters": {"omega_fast": OMEGA_FAST, "alpha": ALPHA, "width": WIDTH, "bias": BIAS, "duration": duration,
                       "dt": dt, "save_every": save_every, "agreement": stats},
        "summary": _summary(stats, duration),
    }
