"""Paper 2 (Mahalingam, Yap, Olsen, Rodin, PRR 5, 013053 (2023)), Figs. 2–8: an ion on paper 2's
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

import math
import time

import numpy as np
from matplotlib.ticker import NullFormatter

from .. import Gaussian, System, chain
from ..plot import PALETTE
from . import FigureRun, figure, subplots

OMEGA_FAST = 10.0
ALPHA = 40.0
WIDTH = 4.0
BIAS = 0.01
TWO_PI = 2.0 * np.pi
EIGHT_PI_SQ = 8.0 * np.pi**2
# fastest group velocity of ω² = 1 + (ω_fast² − 1) sin²(q/2), in sites per τ: exactly π(ω_fast − 1)
SOUND_SITES = np.pi * (OMEGA_FAST - 1.0)
FRONT_THRESHOLD = 0.2


def _lattice():
    return chain(OMEGA_FAST, spacing=ALPHA)


def _progress(iterable, run: FigureRun, desc: str, total=None):
    if not run.progress:
        return iterable
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover
        return iterable
    return tqdm(iterable, desc=desc, total=total, leave=False)


def _kinetic(speed):
    return np.asarray(speed) ** 2 / EIGHT_PI_SQ


def _crossings(ts, z, v, level):
    """Times and speeds where ``z`` first rises through ``level`` (linear interpolation)."""
    above = z >= level
    idx = np.flatnonzero(~above[:-1] & above[1:])
    if len(idx) == 0:
        return None
    i = idx[0]
    f = (level - z[i]) / (z[i + 1] - z[i])
    return ts[i] + f * (ts[i + 1] - ts[i]), v[i] + f * (v[i + 1] - v[i])


def _midpoint_speeds(ts, z, v, first_midpoint=ALPHA / 2):
    """Speeds at every forward crossing of a midpoint between masses (``first_midpoint + kα``)."""
    k = np.floor((z - first_midpoint) / ALPHA)
    step = np.flatnonzero(np.diff(k) > 0)
    times, speeds, where = [], [], []
    for i in step:
        level = first_midpoint + ALPHA * k[i + 1]
        if not (z[i] < level <= z[i + 1]):
            continue
        f = (level - z[i]) / (z[i + 1] - z[i])
        times.append(ts[i] + f * (ts[i + 1] - ts[i]))
        speeds.append(v[i] + f * (v[i + 1] - v[i]))
        where.append(level)
    return np.asarray(times), np.asarray(speeds), np.asarray(where)


# ============================================================================ single passes (memory engine)


def _transit_time(amplitude, width, speed):
    """Time from one midpoint to the next past a fixed mass, from energy conservation (2.16)."""
    u = np.linspace(-ALPHA / 2, ALPHA / 2, 8001)
    phi = amplitude * np.exp(-(u**2) / (2 * width**2))
    squared = speed**2 - EIGHT_PI_SQ * (phi - phi[0])
    if np.min(squared) <= (0.05 * speed) ** 2:
        return np.inf
    return float(np.trapezoid(1.0 / np.sqrt(squared), u))


def single_pass(amplitude, width, speed, *, dt_max=1 / 600, min_steps=512, record=False):
    """One pass of paper 2's protocol (Sec. V): the chain at rest, the ion midway between masses
    (``σ = −α/2``) with ``speed``; the loss is the kinetic energy at the start minus that at the next
    midpoint (``σ = +α/2``, interpolated between steps). Memory engine, direct convolution.
    Returns ``dict(loss, speed_at_mass_min, speed_at_mass_max, ...)``; ``loss = nan`` if the ion
    cannot cross (repulsive barrier above its kinetic energy)."""
    from ..dynamics.memory import simulate_memory

    transit = _transit_time(amplitude, width, speed)
    if not np.isfinite(transit):
        return {"loss": np.nan, "v_min": np.nan, "v_max": np.nan}
    duration = 1.2 * transit
    steps = int(min_steps)
    while duration / steps > dt_max or speed * duration / steps > 0.25 * width:
        steps *= 2
    system = System(_lattice(), Gaussian(amplitude, width), np.arange(-1, 5)[:, None])
    result = simulate_memory(
        system, [0.0, 0.0, -ALPHA / 2], [0.0, 0.0, speed], duration, duration / steps,
        constraint=[0, 0, 1], save_every=1, all_sites_interact=True, method="direct",
    )
    z = result.ion_positions[:, 2]
    v = result.ion_velocities[:, 2]
    hit = _crossings(result.ts, z, v, ALPHA / 2)
    if hit is None:
        return {"loss": np.nan, "v_min": np.nan, "v_max": np.nan}
    t_end, v_end = hit
    inside = result.ts <= t_end
    out = {
        "loss": float(_kinetic(speed) - _kinetic(v_end)),
        "v_min": float(np.min(v[inside])),
        "v_max": float(np.max(v[inside])),
        "energy_error": float(np.max(np.abs(result.energy_error[inside]))),
        "steps": steps,
    }
    if record:
        out.update(ts=result.ts[inside], z=z[inside], v=v[inside], t_mass=_crossings(result.ts, z, v, 0.0)[0])
    return out


def _single_pass_sweep(run, amplitude, width, speeds, desc, **kwargs):
    rows = [single_pass(amplitude, width, float(s), **kwargs) for s in _progress(speeds, run, desc)]
    return np.array([r["loss"] for r in rows]), rows


# ============================================================================ Fig. 2


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
    lattice = _lattice()
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
    summary = (f"leading edge of Γ_n(τ) (outermost peak of |Γ_n| above 20 % of its max) within {np.max(front_error):.1f} sites of πτ(ω_fast−1) "
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


def _agreement(losses, theory, amplitude, speeds, ratio_limit=0.02, floor=1e-10):
    """``max |sim/theory − 1|`` over passes with ``|Φ0|/KE < ratio_limit`` and a loss above
    ``floor × KE`` (below, the loss is lost in the rounding of the kinetic energy)."""
    ke = _kinetic(speeds)
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
    data, agreement = {}, {}
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
                losses, _ = _single_pass_sweep(run, sign * amplitude, width, speeds, f"{key} λ={width:g} Φ0={sign * amplitude:+g}", dt_max=dt_max)
                tag = "repulsive" if sign > 0 else "attractive"
                data[f"{key}_loss_width{width:g}_{tag}"] = losses
                shown = np.isfinite(losses) & (losses > 1e-10 * _kinetic(speeds))
                ax.plot(speeds[shown], losses[shown], marker, color=colour, ms=9, mew=1.6,
                        label=f"simulation λ = {width:g}, Φ0 {'> 0' if sign > 0 else '< 0'}")
                err, count = _agreement(losses, theory, amplitude, speeds)
                agreement[f"{key}_width{width:g}_{tag}"] = {"max_rel_dev": err, "passes": count}
            # the first-order shift from the speed change near the mass has the sign of Φ0: the geometric
            # mean of the two signs cancels it and tests the numerics against (2.26)
            rep, att = data[f"{key}_loss_width{width:g}_repulsive"], data[f"{key}_loss_width{width:g}_attractive"]
            ke = _kinetic(speeds)
            use = (rep > 1e-10 * ke) & (att > 1e-10 * ke) & (amplitude / ke < 0.05)
            if np.any(use):
                mean_dev = np.abs(np.sqrt(rep[use] * att[use]) / theory[use] - 1)
                agreement[f"{key}_width{width:g}_sign_mean"] = {"max_rel_dev": float(np.max(mean_dev)), "passes": int(np.sum(use))}
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
    single = max(v["max_rel_dev"] for k, v in agreement.items() if not k.endswith("sign_mean") and v["passes"])
    high_rep = data[f"high_loss_width{widths[0]:g}_repulsive"][0] / data[f"high_loss_width{widths[0]:g}_attractive"][0]
    summary = (f"sqrt(Δ₊Δ₋) vs (2.26): max dev {100 * np.nanmax(worst):.2f} % (|Φ0|/KE < 5 %); single signs within "
               f"{100 * single:.1f} % (|Φ0|/KE < 2 %), repulsive above attractive on the falling side (Δ₊/Δ₋ = {high_rep:.2f} at "
               f"σ'₀ = {panels['high']['speeds'][0]:g}, λ = {widths[0]:g}), as the paper's shift of Φ0 > 0 to higher σ'")
    return {
        "figure": fig,
        "data": data,
        "parameters": {"omega_fast": OMEGA_FAST, "alpha": ALPHA, "widths": list(widths), "dt_max": dt_max,
                       "amplitudes": {k: p["amplitude"] for k, p in panels.items()},
                       "agreement": {"max_rel_dev_sign_mean": float(np.nanmax(worst)), "max_rel_dev_single_sign": single, "by_case": agreement}},
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
    rep, _ = _single_pass_sweep(run, amplitude, width, speeds, "Φ0=+2", dt_max=dt_max)
    att, _ = _single_pass_sweep(run, -amplitude, width, speeds, "Φ0=−2", dt_max=dt_max)
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

TRAP_AMPLITUDE = 20.0
TRAP_SPEED = 120.0
SHOWN_MASSES = 250
_TRAP_CACHE: dict = {}


def _trap_settings(quick: bool) -> dict:
    return {
        "duration": 120.0,
        "save_step": 0.01,
        "rtol": 1e-6 if quick else 1e-9,
        "atol": 1e-9 if quick else 1e-12,
        "amplitude": TRAP_AMPLITUDE,
        "width": WIDTH,
        "speed": TRAP_SPEED,
        "shown_masses": SHOWN_MASSES,
    }


def _trap_from_disk(run: FigureRun):
    """Fig. 3's runs from ``run.out`` if they were written there with the same settings."""
    import json

    npz, meta = run.out / "paper2-fig3.npz", run.out / "paper2-fig3.json"
    try:
        parameters = json.loads(meta.read_text())["parameters"]
        if parameters.get("quick") != run.quick or parameters.get("settings") != _trap_settings(run.quick):
            return None
        with np.load(npz) as data:
            return {key: np.asarray(data[key]) for key in data.files}
    except (OSError, KeyError, ValueError):
        return None


def trapping_runs(run: FigureRun, *, from_disk: bool = True) -> dict:
    """Paper 2, Fig. 3: the ion starts midway between masses 0 and 1 (σ = α/2) with σ' = 120 and Φ0 = ±20,
    λ = 4, on a chain at rest. Full engine on a periodic chain of ``N ≥ π(ω_fast − 1)·τ + 300`` masses (the
    sound cannot go round it during the run, so it is the infinite chain for the shown masses); ion
    recorded every 0.01, displacements of the 250 masses on its path every 0.1. Figs. 4(d) and 7 reuse
    Fig. 3's runs (from this process, or from ``run.out`` when written there with the same settings)."""
    key = run.quick
    if from_disk and key in _TRAP_CACHE:
        return _TRAP_CACHE[key]
    cached = _trap_from_disk(run) if from_disk else None
    if cached is not None:
        _TRAP_CACHE[key] = cached
        return cached
    from ..dynamics.full import simulate

    settings = _trap_settings(run.quick)
    duration, step = settings["duration"], settings["save_step"]
    n_chain = int(math.ceil(SOUND_SITES * duration * 1.05)) + SHOWN_MASSES + 100
    ts = np.arange(0.0, duration + 0.5 * step, step)
    out = {"ts": ts, "chain_sites": np.asarray(n_chain)}
    masses = np.arange(SHOWN_MASSES)
    for sign, tag in ((1.0, "repulsive"), (-1.0, "attractive")):
        system = System(_lattice(), Gaussian(sign * settings["amplitude"], settings["width"]), np.arange(-5, SHOWN_MASSES + 6)[:, None])
        started = time.perf_counter()
        if run.progress:
            print(f"  Fig. 3 run Φ0 = {sign * settings['amplitude']:+g}: full engine, {n_chain} masses, τ ≤ {duration:g}", flush=True)
        result = simulate(
            system, (n_chain,), [0.0, 0.0, ALPHA / 2], [0.0, 0.0, settings["speed"]], duration,
            constraint=[0, 0, 1], save_times=ts, watch_sites=masses[:, None], rtol=settings["rtol"],
            atol=settings["atol"], max_steps=3_000_000, check_echo=False,
        )
        if int(result.result) != 0:
            raise RuntimeError(f"Fig. 3 run ({tag}) failed: result code {int(result.result)}")
        out[f"{tag}_z"] = np.asarray(result.ion_positions)[:, 2]
        out[f"{tag}_v"] = np.asarray(result.ion_velocities)[:, 2]
        rho = np.abs(np.asarray(result.site_displacements)[:, :, 0])
        # envelope over 0.1-τ windows (≥ one period of the fastest mode): |δρ_j| without aliasing
        blocks = len(ts) // 10
        out[f"{tag}_rho"] = rho[: blocks * 10].reshape(blocks, 10, -1).max(axis=1).astype(np.float32)
        out[f"{tag}_energy_drift"] = np.asarray(float(result.energy_drift))
        out[f"{tag}_wall"] = np.asarray(time.perf_counter() - started)
    out["rho_ts"] = ts[: (len(ts) // 10) * 10].reshape(-1, 10).mean(axis=1)
    _TRAP_CACHE[key] = out
    return out


def _trap_time(ts, v):
    """First time the ion's velocity turns negative (trapped), or nan."""
    neg = np.flatnonzero(v < 0)
    return float(ts[neg[0]]) if len(neg) else np.nan


@figure("paper2-fig3", paper=2, number="3", title="trapping of a repulsive and an attractive ion from σ' = 120")
def fig3(run: FigureRun) -> dict:
    """Trajectories σ(τ) (black) over the chain displacements δρ_j (heat map, 250 masses) and the sound
    cone σ = α/2 ± πα(ω_fast − 1)τ (dashed); Φ0 = +20 (a) and −20 (b), λ = 4, α = 40, σ'₀ = 120."""
    runs = trapping_runs(run, from_disk=False)
    ts, rho_ts = runs["ts"], runs["rho_ts"]
    masses = np.arange(SHOWN_MASSES)
    fig, axes = subplots(1, 2, figsize=(12, 5.2), sharey=True)
    slope = SOUND_SITES * ALPHA
    info = {}
    for ax, tag, label in zip(axes, ("repulsive", "attractive"), ("(a) Φ0 = +20", "(b) Φ0 = −20")):
        rho = runs[f"{tag}_rho"].astype(float)
        coarse = len(rho_ts) // 5  # envelope over 0.5 τ (the slowest mode's period is 1)
        env = rho[: coarse * 5].reshape(coarse, 5, -1).max(axis=1)
        env_ts = rho_ts[: coarse * 5].reshape(coarse, 5).mean(axis=1)
        vmax = 0.3
        mesh = ax.pcolormesh(env_ts, masses * ALPHA, env.T, cmap="cividis", vmin=0.0, vmax=vmax, shading="auto", rasterized=True)
        ax.plot(ts, runs[f"{tag}_z"], "-", color="white", lw=3.0)
        ax.plot(ts, runs[f"{tag}_z"], "k-", lw=1.4, label="ion σ(τ)")
        cone_t = np.linspace(0, ts[-1], 200)
        ax.plot(cone_t, ALPHA / 2 + slope * cone_t, "--", color=PALETTE[4], lw=1.6, label="sound cone, slope πα(ω_fast − 1)")
        ax.plot(cone_t, ALPHA / 2 - slope * cone_t, "--", color=PALETTE[4], lw=1.6)
        ax.set_ylim(-0.5 * ALPHA, (SHOWN_MASSES - 0.5) * ALPHA)
        ax.set_xlim(0, ts[-1])
        ax.set_xlabel("τ (periods 2π/Ω_slow)")
        ax.set_title(label, fontsize=9)
        ax.legend(fontsize=7, loc="lower right")
        # the cone: masses outside it have not moved
        outside = (masses[None, :] * ALPHA - ALPHA / 2) > slope * (rho_ts[:, None] + 0.05) + 10 * ALPHA
        quiet = float(np.max(np.abs(rho[outside]))) if np.any(outside) else 0.0
        inside_max = float(np.max(np.abs(rho)))
        trap = _trap_time(ts, runs[f"{tag}_v"])
        z = runs[f"{tag}_z"]
        info[tag] = {"trap_time": trap, "trap_position": float(z[-1]), "masses_crossed": int(np.floor((np.max(z) - ALPHA / 2) / ALPHA)),
                     "max_displacement_outside_cone": quiet, "max_displacement": inside_max,
                     "energy_drift": float(runs[f"{tag}_energy_drift"])}
    axes[0].set_ylabel("position σ and chain rest positions jα (units of l)")
    fig.colorbar(mesh, ax=axes, label="|δρ_j|, max over 0.5 τ (l; saturated at 0.3)")
    fig.suptitle(f"Paper 2, Fig. 3: α = 40, λ = 4, |Φ0| = 20, μ = 1, σ'₀ = 120; full engine, {int(runs['chain_sites'])} masses (no echo)", fontsize=10)
    rep, att = info["repulsive"], info["attractive"]
    summary = (f"both ions trapped: Φ0 = +20 after {rep['masses_crossed']} masses (v < 0 first at τ = {rep['trap_time']:.1f}), "
               f"Φ0 = −20 after {att['masses_crossed']} (τ = {att['trap_time']:.1f}); max |δρ| = {max(rep['max_displacement'], att['max_displacement']):.2f}; "
               f"outside the sound cone |δρ| < {max(rep['max_displacement_outside_cone'], att['max_displacement_outside_cone']):.1e}")
    data = {k: v for k, v in runs.items()}
    return {
        "figure": fig,
        "data": data,
        "parameters": {"settings": _trap_settings(run.quick), "omega_fast": OMEGA_FAST, "alpha": ALPHA,
                       "chain_sites": int(runs["chain_sites"]), "agreement": info},
        "summary": summary,
    }


@figure("paper2-fig7", paper=2, number="7", title="loss per pass along the Fig. 3 trajectories, resonances 2αω_fast/(2l+1)")
def fig7(run: FigureRun) -> dict:
    """Loss between consecutive midpoints along Fig. 3's trajectories (circles) against (2.26) (black) at
    the speed of the pass's first midpoint; blue: σ' = 2αω_fast/(2l+1). Inset: high speeds."""
    from ..theory.paper2 import single_pass_loss_gaussian

    runs = trapping_runs(run)
    ts = runs["ts"]
    fig, (ax, inset) = subplots(1, 2, figsize=(12, 5.2), gridspec_kw={"width_ratios": [1.3, 1]})
    data, stats = {}, {}
    line_speeds = np.linspace(30.0, 125.0, 800)
    theory_line = np.asarray(single_pass_loss_gaussian(line_speeds, TRAP_AMPLITUDE, WIDTH, OMEGA_FAST))
    resonances = [2 * ALPHA * OMEGA_FAST / (2 * l + 1) for l in range(0, 40)]
    resonances = [r for r in resonances if 30.0 <= r <= 125.0]
    for target in (ax, inset):
        for r in resonances:
            target.axvline(r, color=PALETTE[5], lw=0.8)
        target.plot(line_speeds, theory_line, "k-", lw=1.3, label="(2.26)" if target is ax else None)
    for tag, colour, style in (("repulsive", PALETTE[1], dict(mfc="none")), ("attractive", PALETTE[0], {})):
        t_mid, v_mid, _ = _midpoint_speeds(ts, runs[f"{tag}_z"], runs[f"{tag}_v"])
        # a pass = from one midpoint to the next, taken while the ion still moves forward
        loss = _kinetic(v_mid[:-1]) - _kinetic(v_mid[1:])
        speed = v_mid[:-1]
        data[f"{tag}_speed"], data[f"{tag}_loss"], data[f"{tag}_time"] = speed, loss, t_mid[:-1]
        theory = np.asarray(single_pass_loss_gaussian(speed, TRAP_AMPLITUDE, WIDTH, OMEGA_FAST))
        fast = speed >= 80.0
        stats[tag] = {"passes": int(len(speed)), "median_ratio_fast": float(np.median(loss[fast] / theory[fast])),
                      "max_rel_dev_fast": float(np.max(np.abs(loss[fast] / theory[fast] - 1)))}
        for target in (ax, inset):
            target.plot(speed, loss, "o", color=colour, ms=3.5, mew=0.9, label=f"Fig. 3 trajectory, Φ0 = {'+' if tag == 'repulsive' else '−'}20" if target is ax else None, **style)
    ax.plot([], [], "-", color=PALETTE[5], lw=0.8, label="σ' = 2αω_fast/(2l+1)")
    ax.set_xlabel("speed at the pass's first midpoint σ' (dimensionless)")
    ax.set_ylabel("loss per pass Δ (ħΩ_slow)")
    ax.set_xlim(30, 125)
    ax.legend(fontsize=7, loc="lower left")
    ax.set_title("(a) all passes until trapping", fontsize=9)
    inset.set_xlim(88, 122)
    inset.set_ylim(0.45, 1.0)
    inset.set_xlabel("speed at the pass's first midpoint σ' (dimensionless)")
    inset.set_ylabel("loss per pass Δ (ħΩ_slow)")
    inset.set_title("(b) zoom at high speeds (the paper's inset)", fontsize=9)
    fig.suptitle("Paper 2, Fig. 7: loss along the full trajectories of Fig. 3 (Φ0 = ±20, λ = 4, α = 40)", fontsize=10)
    rep, att = stats["repulsive"], stats["attractive"]
    summary = (f"per-pass loss vs (2.26) for σ' ≥ 80: median ratio {rep['median_ratio_fast']:.3f} (Φ0 = +20, {rep['passes']} passes) / "
               f"{att['median_ratio_fast']:.3f} (Φ0 = −20), max |ratio − 1| = {100 * max(rep['max_rel_dev_fast'], att['max_rel_dev_fast']):.0f} % "
               f"(the chain is no longer at rest: oscillations about (2.26)); resonances {', '.join(f'{r:.1f}' for r in resonances)}")
    return {
        "figure": fig,
        "data": data,
        "parameters": {"settings": _trap_settings(run.quick), "resonances": resonances, "agreement": stats},
        "summary": summary,
    }


# ============================================================================ Fig. 4


@figure("paper2-fig4", paper=2, number="4", title="velocity fluctuation near one chain mass vs (2.16)")
def fig4(run: FigureRun) -> dict:
    """(a) σ(τ) and (b) σ'(τ) of one pass from σ = 220 at σ'₀ = 50 (Φ0 = ±20, λ = 4) with the analytic
    (2.16) (black, offset to the time the ion passes the mass at 240); (c) σ'₀ − σ'_ext against σ'₀ (lines:
    (2.16) at the mass; markers: simulation); (d) σ'(τ) of Fig. 3's runs with the capture speed (pink)."""
    from ..theory.paper2 import capture_speed, extremal_speed, velocity_near_mass

    speed0 = 50.0
    dt_max = 1 / 300 if run.quick else 1 / 600
    fig, axes = subplots(2, 2, figsize=(12, 8.5))
    data, agree = {}, {}
    colours = {"repulsive": PALETTE[1], "attractive": PALETTE[0]}
    offset = 240.0  # the pass runs from −α/2 to α/2 around mass 0; the paper's mass is at 240
    for sign, tag in ((1.0, "repulsive"), (-1.0, "attractive")):
        potential = Gaussian(sign * TRAP_AMPLITUDE, WIDTH)
        one = single_pass(sign * TRAP_AMPLITUDE, WIDTH, speed0, dt_max=dt_max, record=True)
        ts, z, v, t_mass = one["ts"], one["z"] + offset, one["v"], one["t_mass"]
        analytic = np.asarray(velocity_near_mass(ts - t_mass, speed0, potential))
        window = np.abs(ts - t_mass) <= ALPHA / (2 * speed0)
        dev = float(np.max(np.abs(v[window] - analytic[window])) / speed0)
        ext_sim = one["v_min"] if sign > 0 else one["v_max"]
        ext_th = float(extremal_speed(speed0, potential))
        agree[tag] = {"max_abs_dev_over_speed": dev, "extremum_sim": ext_sim, "extremum_2_16": ext_th,
                      "extremum_rel_dev": abs(ext_sim / ext_th - 1)}
        data.update({f"{tag}_ts": ts, f"{tag}_z": z, f"{tag}_v": v, f"{tag}_analytic": analytic})
        axes[0, 0].plot(ts, z, "-", color=colours[tag], lw=1.6, label=f"simulation Φ0 = {sign * TRAP_AMPLITUDE:+g}")
        axes[0, 0].axvline(t_mass, color=colours[tag], ls=":", lw=1.2)
        axes[0, 1].plot(ts, v, "-", color=colours[tag], lw=2.2, label=f"simulation Φ0 = {sign * TRAP_AMPLITUDE:+g}")
        axes[0, 1].plot(ts[window], analytic[window], "k-", lw=0.9, label="(2.16)" if sign > 0 else None)
        axes[0, 1].axvline(t_mass, color=colours[tag], ls=":", lw=1.2)
    axes[0, 0].axhline(offset, color="k", ls=":", lw=1.0, label="rest position of the mass (240)")
    axes[0, 0].set_xlabel("τ (periods 2π/Ω_slow)")
    axes[0, 0].set_ylabel("ion position σ (l)")
    axes[0, 0].set_title("(a) one pass from σ = 220, σ'₀ = 50", fontsize=9)
    axes[0, 0].legend(fontsize=7)
    axes[0, 1].set_xlabel("τ (periods 2π/Ω_slow)")
    axes[0, 1].set_ylabel("ion speed σ' (dimensionless)")
    axes[0, 1].set_title("(b) speed; black: (2.16) centred on the time at the mass", fontsize=9)
    axes[0, 1].legend(fontsize=7)
    # (c) σ'₀ − σ'_ext
    ax = axes[1, 0]
    line = np.linspace(35.0, 200.0, 500)
    sim_speeds = np.array([45.0, 60.0, 90.0, 150.0]) if run.quick else np.array([42.0, 45.0, 50.0, 60.0, 75.0, 90.0, 120.0, 150.0, 200.0])
    worst_ext = 0.0
    for sign, tag in ((1.0, "repulsive"), (-1.0, "attractive")):
        potential = Gaussian(sign * TRAP_AMPLITUDE, WIDTH)
        ext = np.asarray(extremal_speed(line, potential))
        good = ext > 0
        ax.plot(line[good], np.abs(line[good] - ext[good]), "-", color=colours[tag], lw=1.4,
                label=f"|σ'₀ − σ'_ext| from (2.16), Φ0 = {sign * TRAP_AMPLITUDE:+g}")
        rows = [single_pass(sign * TRAP_AMPLITUDE, WIDTH, float(s), dt_max=dt_max) for s in _progress(sim_speeds, run, f"(c) {tag}")]
        ext_sim = np.array([r["v_min"] if sign > 0 else r["v_max"] for r in rows])
        fluct = np.abs(sim_speeds - ext_sim)
        theory = np.abs(sim_speeds - np.asarray(extremal_speed(sim_speeds, potential)))
        worst_ext = max(worst_ext, float(np.max(np.abs(fluct / theory - 1))))
        data[f"{tag}_fluctuation_speeds"], data[f"{tag}_fluctuation_sim"], data[f"{tag}_fluctuation_theory"] = sim_speeds, fluct, theory
        ax.plot(sim_speeds, fluct, "o", color=colours[tag], ms=5, mfc="none" if sign > 0 else colours[tag],
                label=f"simulation, Φ0 = {sign * TRAP_AMPLITUDE:+g}")
    capture = float(capture_speed(Gaussian(TRAP_AMPLITUDE, WIDTH)))
    ax.axvline(capture, color=PALETTE[3], lw=1.2, label=f"capture speed {capture:.1f}")
    ax.set_yscale("log")
    ax.set_xlabel("speed midway between masses σ'₀ (dimensionless)")
    ax.set_ylabel("|σ'₀ − σ'_ext| (dimensionless)")
    ax.set_title("(c) largest velocity fluctuation", fontsize=9)
    ax.legend(fontsize=7)
    # (d) Fig. 3's runs
    ax = axes[1, 1]
    runs = trapping_runs(run)
    for tag in ("repulsive", "attractive"):
        ax.plot(runs["ts"], runs[f"{tag}_v"], "-", color=colours[tag], lw=0.6,
                label=f"Fig. 3 run, Φ0 = {'+' if tag == 'repulsive' else '−'}20")
    ax.axhline(capture, color=PALETTE[3], lw=1.4, label=f"capture speed sqrt(8π²Φ0/μ) = {capture:.1f}")
    ax.set_xlabel("τ (periods 2π/Ω_slow)")
    ax.set_ylabel("ion speed σ' (dimensionless)")
    ax.set_title("(d) speed along the trajectories of Fig. 3", fontsize=9)
    ax.legend(fontsize=7, loc="lower left")
    fig.suptitle("Paper 2, Fig. 4: ω_fast = 10, Φ0 = ±20, λ = 4, α = 40, μ = 1", fontsize=10)
    dev = max(a["max_abs_dev_over_speed"] for a in agree.values())
    ext_dev = max(a["extremum_rel_dev"] for a in agree.values())
    summary = (f"pass at σ'₀ = 50: extremal speed within {100 * ext_dev:.1f} % of (2.16) — "
               f"{agree['repulsive']['extremum_sim']:.2f} vs {agree['repulsive']['extremum_2_16']:.2f} (Φ0 = +20), "
               f"{agree['attractive']['extremum_sim']:.2f} vs {agree['attractive']['extremum_2_16']:.2f} (−20); in time "
               f"the dip (peak) is wider (narrower) than (2.16), which places the ion at σ'₀τ (max |Δσ'| = {100 * dev:.0f} % "
               f"of σ'₀); (c) fluctuations within {100 * worst_ext:.1f} % of (2.16)")
    return {
        "figure": fig,
        "data": data,
        "parameters": {"speed": speed0, "amplitude": TRAP_AMPLITUDE, "width": WIDTH, "dt_max": dt_max,
                       "capture_speed": capture, "settings_fig3": _trap_settings(run.quick),
                       "agreement": {"max_dev_over_speed": dev, "extremum_rel_dev": ext_dev, "fluctuation_rel_dev": worst_ext, **agree}},
        "summary": summary,
    }


# ============================================================================ Fig. 8


def _biased_runs(amplitude, speeds, duration, sites_hi, *, dt, save_every):
    """All initial speeds of one panel in one :func:`jaxion.simulate_memory_batch` call (split over the
    local devices); returns ``(ts, z, v, max |energy error|)`` per speed."""
    from ..dynamics.memory import simulate_memory_batch

    speeds = np.asarray(speeds, float)
    system = System(_lattice(), Gaussian(amplitude, WIDTH), np.arange(-3, sites_hi + 1)[:, None])
    starts = np.column_stack([np.zeros_like(speeds), np.zeros_like(speeds), np.full_like(speeds, ALPHA / 2)])
    velocities = np.column_stack([np.zeros_like(speeds), np.zeros_like(speeds), speeds])
    result = simulate_memory_batch(
        system, starts, velocities, duration, dt, constraint=[0, 0, 1], bias=BIAS / ALPHA, save_every=save_every,
        all_sites_interact=True, method="blocked", block_steps=240, window=8, save_sites=False,
    )
    return [
        (result.ts[m], result.ion_positions[m, :, 2], result.ion_velocities[m, :, 2], float(np.max(np.abs(result.energy_error[m]))))
        for m in range(len(speeds))
    ]


@figure("paper2-fig8", paper=2, number="8", title="drift velocities under a bias β = 0.01: speed against time, and Δ̄ of (2.33)")
def fig8(run: FigureRun) -> dict:
    """(a, b) speed midway between masses against time for many initial speeds (memory engine, Φ0 = +2 and
    −2, λ = 4, α = 40, bias β = 0.01 per spacing = force β/α); orange: σ' = α/n; green dashed: stable drift
    velocities of (2.33) (:func:`jaxion.theory.paper2.drift_velocities`); pink: the capture speed.
    (c) Δ̄ of (2.33) with the bias β."""
    from ..theory.paper2 import capture_speed, drift_velocities, steady_state_loss

    if run.quick:
        duration = 250.0
        starts = {"repulsive": np.array([18.0, 24.0, 43.0, 70.0]),
                  "attractive": np.array([9.5, 12.5, 18.0, 24.0, 43.0])}
    else:
        # 40 initial speeds per sign, geometrically spaced (denser where the drift speeds α/n crowd)
        duration = 800.0
        starts = {"repulsive": np.round(np.geomspace(13.0, 70.0, 40), 2), "attractive": np.round(np.geomspace(6.0, 70.0, 40), 2)}
    dt = 1 / 600
    save_every = 12
    accel = 4 * np.pi**2 * BIAS / ALPHA
    fig, axes = subplots(3, 1, figsize=(9, 12), gridspec_kw={"height_ratios": [1.2, 1.2, 1]})
    data, stats = {}, {}
    for ax, sign, tag in ((axes[0], 1.0, "repulsive"), (axes[1], -1.0, "attractive")):
        amplitude = sign * 2.0
        potential = Gaussian(amplitude, WIDTH)
        reach = int(math.ceil((starts[tag].max() + accel * duration) * duration / ALPHA)) + 4
        # (2.33) also has stable roots whose basin (up to the next unstable root) is < 0.1 % of the speed
        # (e.g. 72.85 / 72.85003): drawn only when the basin is wider
        drift = drift_velocities(BIAS, potential, OMEGA_FAST, ALPHA, (3.0, 120.0), min_separation=1e-3)
        shown_drift = drift.stable
        finals, colours = [], [PALETTE[0], "0.15"]
        if run.progress:
            print(f"Fig. 8 {tag}: {len(starts[tag])} initial speeds in one batched memory-engine call", flush=True)
        runs = _biased_runs(amplitude, starts[tag], duration, reach, dt=dt, save_every=save_every)
        for i, (v0, (ts, z, v, err)) in enumerate(zip(starts[tag], runs)):
            t_mid, v_mid, _ = _midpoint_speeds(ts, z, v)
            data[f"{tag}_v0_{v0:g}_t"], data[f"{tag}_v0_{v0:g}_v"] = t_mid, v_mid
            trapped = bool(np.any(v < 0))
            tail = t_mid >= 0.85 * duration
            v_end = float(np.median(v_mid[tail])) if np.any(tail) and not trapped else np.nan
            finals.append({"v0": float(v0), "v_end": v_end, "trapped": trapped, "energy_error": err})
            ax.plot(np.concatenate([[0.0], t_mid]), np.concatenate([[v0], v_mid]), "-", color=colours[i % len(colours)], lw=1.3,
                    label="simulation (memory engine)" if i == 0 else None)
            if trapped:
                ax.plot(t_mid[-1] if len(t_mid) else 0.0, v_mid[-1] if len(v_mid) else v0, "x", color=colours[i % len(colours)], ms=7)
        for n in range(1, 12):
            ax.axhline(ALPHA / n, color=PALETTE[4], lw=0.9, alpha=0.9, label="σ' = α/n" if n == 1 else None)
        for j, w in enumerate(shown_drift):
            ax.axhline(w, color=PALETTE[2], lw=1.2, ls="--", label="stable drift of (2.33) (basin > 0.1 %)" if j == 0 else None)
        capture = float(capture_speed(potential))
        if capture > 0:
            ax.axhline(capture, color=PALETTE[3], lw=1.4, label="capture speed")
        ax.legend(fontsize=7, loc="upper right")
        ax.set_ylim(0, max(starts[tag].max() * 1.15, 45))
        ax.set_xlim(0, duration)
        ax.set_ylabel("speed midway between masses σ' (dimensionless)")
        ax.set_xlabel("τ (periods 2π/Ω_slow)")
        ax.set_title(f"({'a' if sign > 0 else 'b'}) Φ0 = {amplitude:+g}: orange σ' = α/n, green dashed: stable drift of (2.33)"
                     + (f", pink: capture speed {capture:.1f}" if capture > 0 else "") + "; × = trapped", fontsize=8)
        # drift statistics: runs that neither got trapped nor ran away (end below α + a margin)
        drifting = [f for f in finals if np.isfinite(f["v_end"]) and f["v_end"] < 1.2 * ALPHA]
        for f in drifting:
            n = max(1, int(round(ALPHA / f["v_end"])))
            f["n"], f["rel_to_alpha_over_n"] = n, f["v_end"] / (ALPHA / n) - 1
            f["nearest_stable_2_33"] = float(drift.stable[np.argmin(np.abs(drift.stable - f["v_end"]))]) if len(drift.stable) else np.nan
        stats[tag] = {"runs": finals, "stable_2_33": drift.stable.tolist(), "stable_2_33_shown": shown_drift.tolist(),
                      "unstable_2_33": drift.unstable.tolist()}
        data[f"{tag}_starts"] = starts[tag]
        data[f"{tag}_stable_drift"] = drift.stable
    # (c)
    ax = axes[2]
    from ..theory.paper2 import spike_speeds

    spikes = spike_speeds(OMEGA_FAST, ALPHA, (3.0, 120.0))
    near = np.concatenate([spikes * (1 + e) for e in np.concatenate([-np.geomspace(1e-2, 1e-7, 8), np.geomspace(1e-7, 1e-2, 8)])])
    speeds = np.unique(np.concatenate([np.linspace(3.0, 120.0, 1500 if run.quick else 6000), near[(near > 3) & (near < 120)]]))
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
    fig.suptitle(f"Paper 2, Fig. 8: α = 40, |Φ0| = 2, λ = 4, ω_fast = 10, β = {BIAS:g}; memory engine, τ ≤ {duration:g}", fontsize=10)
    parts = []
    for tag in ("repulsive", "attractive"):
        drifting = [f for f in stats[tag]["runs"] if "n" in f]
        if drifting:
            shifts = ", ".join(f"{f['v_end']:.2f} (α/{f['n']} {100 * f['rel_to_alpha_over_n']:+.1f} %)" for f in sorted(drifting, key=lambda f: f["v_end"]))
            parts.append(f"{tag}: {len(drifting)}/{len(stats[tag]['runs'])} runs end at {shifts}")
        trapped = sum(f["trapped"] for f in stats[tag]["runs"])
        if trapped:
            parts.append(f"{trapped} {tag} trapped")
    summary = "; ".join(parts) + f" (midpoint speed over the last 15 % of τ ≤ {duration:g}; (2.33) stable drift {', '.join(f'{w:.2f}' for w in stats['repulsive']['stable_2_33_shown'])})"
    return {
        "figure": fig,
        "data": data,
        "parameters": {"omega_fast": OMEGA_FAST, "alpha": ALPHA, "width": WIDTH, "bias": BIAS, "duration": duration,
                       "dt": dt, "save_every": save_every, "agreement": stats},
        "summary": summary,
    }
