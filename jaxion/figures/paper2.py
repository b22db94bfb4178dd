"""Paper 2 (Mahalingam, Yap, Olsen, Rodin, PRR 5, 013053 (2023)), Figs. 2, 5, 6 (the kernel front and single passes): an ion on paper 2's
infinite chain (``jaxion.chain(ω_fast = 10, spacing = α = 40)``, masses move along it only, ``μ = 1``).

Engines:

- single passes (Figs. 4–6) and the biased runs (Fig. 8): the infinite-lattice memory engine
  :func:`jaxion.simulate_memory` (every chain mass interacts, ``all_sites_interact=True``). Several
  ions in one run are *not* independent (they feel each other through the lattice), so initial speeds
  are looped over (with a progress bar), not vmapped;
- the long trapping runs of Fig. 3 (trajectory and displacements of *all* 250 shown masses, which the
  blocked memory engine does not record): the full engine :func:`jaxion.simulate` on a periodic chain
  long enough that sound cannot go round it during the run (no echo; checked against the sound cone).

Quick sizes (``run.quick``) are chosen for a 2-core CPU; the full sizes are the paper's.
"""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import NullFormatter

from ..plot import PALETTE
from ..potential import Gaussian
from ..system import System
from ._paper2_chain import (
    ALPHA,
    FRONT_THRESHOLD,
    OMEGA_FAST,
    SOUND_SITES,
    TWO_PI,
    WIDTH,
    chain_lattice,
    kinetic,
    single_pass_sweep,
)
from ._registry import FigureRun, figure, subplots


@figure("paper2-fig2", paper=2, number="2", title="impulse propagation: memory kernel Γ_n(τ) and the sound cone")
def fig2(run: FigureRun) -> dict:
    """Γ_n(τ) of (2.15) against n for several τ (points), the front n = πτ(ω_fast − 1) (vertical lines),
    checked against a kicked finite chain (full engine, no ion): ρ_n(τ) = Γ_n(τ)·v₀/(2π) for a mass
    kicked with velocity v₀ (from (2.12) with the impulse −∇Φ = v₀δ(τ)/4π²)."""
    from ..dynamics.full import simulate
    from ..theory.paper2 import memory_kernel

    taus = np.array([0.5, 1.0, 2.0, 3.0])
    n_max = 110
    sites = np.arange(-n_max, n_max + 1)
    gamma = np.asarray(memory_kernel(sites, taus, OMEGA_FAST))  # (S, T)
    # heat map of Γ_n(τ) over (n, τ)
    heat_t = np.linspace(0.0, 3.5, 141 if run.quick else 351)
    heat = np.asarray(memory_kernel(sites, heat_t, OMEGA_FAST))
    # kicked finite chain (full engine), echo-free: N sites, sound needs N/(π(ω_f − 1)) τ to go round
    n_chain = 600
    kick = 1.0
    lattice = chain_lattice()
    system = System(lattice, Gaussian(0.0, WIDTH), np.array([[n_chain // 2]]))
    velocity0 = np.zeros((1, n_chain))
    velocity0[0, 0] = kick
    full = simulate(
        system, (n_chain,), [0.0, 0.0, ALPHA * n_chain / 2 + ALPHA / 2], [0.0, 0.0, 0.0], float(taus[-1]),
        constraint=[0, 0, 1], initial_velocity=velocity0, save_times=taus,
        watch_sites=(sites % n_chain)[:, None], rtol=1e-10, atol=1e-13, max_steps=500_000,
    )
    rho = np.asarray(full.site_displacements)[:, :, 0].T  # (S, T)
    simulated = TWO_PI * rho / kick
    kernel_error = float(np.max(np.abs(simulated - gamma)) / np.max(np.abs(gamma)))
    # front: the outermost local peak of |Γ_n| (n ≥ 0) above 20 % of the largest, against πτ(ω_f − 1)
    fronts = []
    for j, tau in enumerate(taus):
        a = np.abs(gamma[sites >= 0, j])
        peaks = [i for i in range(1, len(a) - 1) if a[i] >= a[i - 1] and a[i] >= a[i + 1] and a[i] > FRONT_THRESHOLD * a.max()]
        fronts.append(sites[sites >= 0][peaks[-1]])
    fronts = np.asarray(fronts, float)
    predicted = SOUND_SITES * taus
    front_error = np.abs(fronts - predicted)

    fig, axes = subplots(1, 2, figsize=(12, 4.6))
    ax = axes[0]
    for j, tau in enumerate(taus):
        colour = PALETTE[j % len(PALETTE)]
        keep = sites >= 0
        ax.plot(sites[keep], gamma[keep, j], "o", ms=2.6, color=colour, label=f"Γ_n(τ = {tau:g}), (2.15)")
        ax.plot(sites[keep][::3], simulated[keep, j][::3], "x", ms=3.5, color="0.2", lw=0.5,
                label="kicked chain, full engine" if j == 0 else None)
        ax.axvline(predicted[j], color=colour, lw=1.0, ls="--")
    ax.set_xlabel("chain site n (dimensionless)")
    ax.set_ylabel("Γ_n(τ) (dimensionless)")
    ax.set_title("points: Γ_n(τ); dashed: n = πτ(ω_fast − 1)", fontsize=9)
    ax.legend(fontsize=7)
    ax = axes[1]
    vmax = np.percentile(np.abs(heat), 99)
    mesh = ax.pcolormesh(sites, heat_t, heat.T, cmap="RdBu_r", vmin=-vmax, vmax=vmax, shading="auto")
    fig.colorbar(mesh, ax=ax, label="Γ_n(τ) (dimensionless)")
    ax.plot(SOUND_SITES * heat_t, heat_t, "k--", lw=1.0, label="n = ±πτ(ω_fast − 1)")
    ax.plot(-SOUND_SITES * heat_t, heat_t, "k--", lw=1.0)
    ax.set_xlim(sites[0], sites[-1])
    ax.set_xlabel("chain site n (dimensionless)")
    ax.set_ylabel("τ (periods 2π/Ω_slow)")
    ax.set_title("response to an impulse on n = 0 at τ = 0 (sound cone dashed)", fontsize=9)
    ax.legend(fontsize=7, loc="upper right")
    fig.suptitle(f"Paper 2, Fig. 2: impulse propagation, ω_fast = {OMEGA_FAST:g}", fontsize=10)
    summary = (f"leading edge of Γ_n(τ) (outermost peak of |Γ_n| above 20 % of its max) within {np.max(front_error):.1f} sites "
               f"of πτ(ω_fast−1) "
               f"for τ = {', '.join(f'{t:g}' for t in taus)} (front at {', '.join(f'{f:.0f}' for f in fronts)} vs "
               f"{', '.join(f'{p:.1f}' for p in predicted)}); kicked full-engine chain vs (2.15): max error "
               f"{kernel_error:.1e} of max|Γ|")
    return {
        "figure": fig,
        "data": {"sites": sites, "taus": taus, "gamma": gamma, "gamma_full_engine": simulated,
                 "heat_times": heat_t, "heat": heat, "fronts": fronts, "predicted_fronts": predicted},
        "parameters": {"omega_fast": OMEGA_FAST, "chain_sites_full_engine": n_chain, "kick_velocity": kick,
                       "front_threshold": FRONT_THRESHOLD,
                       "agreement": {"front_error_sites": float(np.max(front_error)), "kernel_error": kernel_error}},
        "summary": summary,
    }


# ============================================================================ Figs. 5 and 6


def agreement(losses, theory, amplitude, speeds, ratio_limit=0.02, floor=1e-10):
    """``max |sim/theory − 1|`` over passes with ``|Φ0|/KE < ratio_limit`` and a loss above
    ``floor × KE`` (below, the loss is lost in the rounding of the kinetic energy)."""
    ke = kinetic(speeds)
    use = np.isfinite(losses) & (abs(amplitude) / ke < ratio_limit) & (theory > floor * ke)
    if not np.any(use):
        return np.nan, 0
    return float(np.max(np.abs(losses[use] / theory[use] - 1))), int(np.sum(use))


@figure("paper2-fig5", paper=2, number="5", title="single-pass loss against (2.26), low and high speed")
def fig5(run: FigureRun) -> dict:
    """Single passes (memory engine; ``+``: Φ0 > 0, ``−``: Φ0 < 0) against (2.26) (lines) for several λ:
    (a) low speeds with |Φ0| = 1/100, (b) high speeds with |Φ0| = 24."""
    from ..theory.paper2 import single_pass_loss_gaussian

    widths = (1.0, 4.0) if run.quick else (1.0, 2.0, 4.0)
    panels = {
        "low": {"amplitude": 0.01, "speeds": np.geomspace(4.0, 60.0, 4 if run.quick else 12)},
        "high": {"amplitude": 24.0, "speeds": np.geomspace(60.0, 1200.0, 4 if run.quick else 12)},
    }
    dt_max = 1 / 300 if run.quick else 1 / 600
    fig, axes = subplots(1, 2, figsize=(12, 4.8))
    data, cases = {}, {}
    worst = []
    for ax, (key, panel) in zip(axes, panels.items()):
        amplitude, speeds = panel["amplitude"], panel["speeds"]
        line_speeds = np.geomspace(speeds[0] * 0.9, speeds[-1] * 1.1, 300)
        data[f"{key}_speeds"] = speeds
        for j, width in enumerate(widths):
            colour = PALETTE[j]
            theory_line = np.asarray(single_pass_loss_gaussian(line_speeds, amplitude, width, OMEGA_FAST))
            ax.plot(line_speeds, theory_line, "-", color=colour, lw=1.2, label=f"(2.26), λ = {width:g}")
            theory = np.asarray(single_pass_loss_gaussian(speeds, amplitude, width, OMEGA_FAST))
            data[f"{key}_theory_width{width:g}"] = theory
            for sign, marker in ((1.0, "+"), (-1.0, "_")):
                label = f"{key} λ={width:g} Φ0={sign * amplitude:+g}"
                losses, _ = single_pass_sweep(run, sign * amplitude, width, speeds, label, dt_max=dt_max)
                tag = "repulsive" if sign > 0 else "attractive"
                data[f"{key}_loss_width{width:g}_{tag}"] = losses
                shown = np.isfinite(losses) & (losses > 1e-10 * kinetic(speeds))
                ax.plot(speeds[shown], losses[shown], marker, color=colour, ms=9, mew=1.6,
                        label=f"simulation λ = {width:g}, Φ0 {'> 0' if sign > 0 else '< 0'}")
                err, count = agreement(losses, theory, amplitude, speeds)
                cases[f"{key}_width{width:g}_{tag}"] = {"max_rel_dev": err, "passes": count}
            # the first-order shift from the speed change near the mass has the sign of Φ0: the geometric
            # mean of the two signs cancels it and tests the numerics against (2.26)
            rep, att = data[f"{key}_loss_width{width:g}_repulsive"], data[f"{key}_loss_width{width:g}_attractive"]
            ke = kinetic(speeds)
            use = (rep > 1e-10 * ke) & (att > 1e-10 * ke) & (amplitude / ke < 0.05)
            if np.any(use):
                mean_dev = np.abs(np.sqrt(rep[use] * att[use]) / theory[use] - 1)
                cases[f"{key}_width{width:g}_sign_mean"] = {"max_rel_dev": float(np.max(mean_dev)), "passes": int(np.sum(use))}
                worst.append(float(np.max(mean_dev)))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        if key == "low":  # (2.26) for λ = 4 falls to 1e-24 at σ' = 4: show the range a simulation can resolve
            ax.set_ylim(1e-12, None)
        ax.set_xlabel("initial speed σ'₀ (dimensionless)")
        ax.set_ylabel("single-pass loss Δ (ħΩ_slow)")
        ax.set_title(f"({'a' if key == 'low' else 'b'}) |Φ0| = {amplitude:g}", fontsize=9)
        ax.legend(fontsize=6.5, ncol=2)
    fig.suptitle("Paper 2, Fig. 5: single-pass loss, memory engine (markers) vs (2.26) (lines); ω_fast = 10, α = 40", fontsize=10)
    single = max(v["max_rel_dev"] for k, v in cases.items() if not k.endswith("sign_mean") and v["passes"])
    high_rep = data[f"high_loss_width{widths[0]:g}_repulsive"][0] / data[f"high_loss_width{widths[0]:g}_attractive"][0]
    summary = (f"sqrt(Δ₊Δ₋) vs (2.26): max dev {100 * np.nanmax(worst):.2f} % (|Φ0|/KE < 5 %); single signs within "
               f"{100 * single:.1f} % (|Φ0|/KE < 2 %), repulsive above attractive on the falling side (Δ₊/Δ₋ = {high_rep:.2f} at "
               f"σ'₀ = {panels['high']['speeds'][0]:g}, λ = {widths[0]:g}), as the paper's shift of Φ0 > 0 to higher σ'")
    return {
        "figure": fig,
        "data": data,
        "parameters": {"omega_fast": OMEGA_FAST, "alpha": ALPHA, "widths": list(widths), "dt_max": dt_max,
                       "amplitudes": {k: p["amplitude"] for k, p in panels.items()},
                       "agreement": {"max_rel_dev_sign_mean": float(np.nanmax(worst)), "max_rel_dev_single_sign": single,
                                     "by_case": cases}},
        "summary": summary,
    }


@figure("paper2-fig6", paper=2, number="6", title="single-pass loss against (2.26), Φ0 = ±2 near the capture speed")
def fig6(run: FigureRun) -> dict:
    """Single passes with Φ0 = ±2, λ = 4 (memory engine, circles) against (2.26) (green line); the
    repulsive capture speed sqrt(8π²Φ0/μ) (vertical line)."""
    from ..theory.paper2 import capture_speed, single_pass_loss_gaussian

    amplitude, width = 2.0, WIDTH
    speeds = np.geomspace(13.0, 250.0, 8 if run.quick else 30)
    dt_max = 1 / 300 if run.quick else 1 / 600
    theory = np.asarray(single_pass_loss_gaussian(speeds, amplitude, width, OMEGA_FAST))
    line_speeds = np.geomspace(10.0, 300.0, 400)
    theory_line = np.asarray(single_pass_loss_gaussian(line_speeds, amplitude, width, OMEGA_FAST))
    rep, _ = single_pass_sweep(run, amplitude, width, speeds, "Φ0=+2", dt_max=dt_max)
    att, _ = single_pass_sweep(run, -amplitude, width, speeds, "Φ0=−2", dt_max=dt_max)
    capture = float(capture_speed(Gaussian(amplitude, width)))
    fig, axes = subplots(2, 1, figsize=(7, 7), sharex=True, gridspec_kw={"height_ratios": [3, 1.3]})
    ax = axes[0]
    ax.plot(line_speeds, theory_line, "-", color=PALETTE[2], lw=1.6, label="(2.26)")
    ax.plot(speeds, rep, "o", mfc="none", color=PALETTE[0], ms=6, mew=1.4, label="simulation, Φ0 = +2")
    ax.plot(speeds, att, "o", color=PALETTE[1], ms=4, label="simulation, Φ0 = −2")
    ax.axvline(capture, color=PALETTE[3], lw=1.2, label=f"capture speed sqrt(8π²Φ0/μ) = {capture:.2f}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylabel("single-pass loss Δ (ħΩ_slow)")
    ax.legend(fontsize=8)
    ax = axes[1]
    ax.plot(speeds, rep / theory, "o", mfc="none", color=PALETTE[0], ms=6, mew=1.4)
    ax.plot(speeds, att / theory, "o", color=PALETTE[1], ms=4)
    ax.axhline(1.0, color=PALETTE[2], lw=1.0)
    ax.axvline(capture, color=PALETTE[3], lw=1.2)
    ax.set_yscale("log")
    ax.set_xlabel("initial speed σ'₀ (dimensionless)")
    ax.set_ylabel("simulation / (2.26)")
    fig.suptitle("Paper 2, Fig. 6: α = 40, Φ0 = ±2, λ = 4, ω_fast = 10, μ = 1", fontsize=10)
    fast = speeds >= 60.0
    dev = float(np.nanmax(np.abs(np.concatenate([rep[fast] / theory[fast], att[fast] / theory[fast]]) - 1)))
    slow = int(np.argmin(speeds))
    summary = (f"max |sim/(2.26) − 1| = {100 * dev:.1f} % for σ'₀ ≥ 60 (both signs); at σ'₀ = {speeds[slow]:.1f} "
               f"(just above the capture speed {capture:.2f}) repulsive/theory = {rep[slow] / theory[slow]:.2g}, "
               f"attractive/theory = {att[slow] / theory[slow]:.2g}")
    return {
        "figure": fig,
        "data": {"speeds": speeds, "theory": theory, "repulsive": rep, "attractive": att},
        "parameters": {"omega_fast": OMEGA_FAST, "alpha": ALPHA, "amplitude": amplitude, "width": width,
                       "dt_max": dt_max, "capture_speed": capture,
                       "agreement": {"max_rel_dev_fast": dev}},
        "summary": summary,
    }


# ============================================================================ Figs. 3, 4(d) and 7: the trapping runs
