"""Paper 1's figures (local-time dissipation): Figs. 2, 4, 5 and 6.

Every figure puts the full simulation (1.3)–(1.4) as markers next to the theory as lines: the closed
form (1.14) and the mode sum (1.13) for the chain (Fig. 2), the mode sum (1.13) and the low-speed line
(1.23) for the simple cubic lattice (Figs. 4, 5), and the time-local equation (1.26) for Fig. 6.

Quick sizes run on a laptop CPU (smaller supercells, fewer widths and speeds, only where the finite
supercell is known to reproduce the infinite lattice: speeds ≥ 16 on 12³, see
``docs/cubic_supercell_study.png``); full sizes use the paper's parameters (50³, 100³: a GPU).
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from ..dynamics import EchoWarning, simulate
from ..dynamics.local import simulate_local, time_local_model
from ..dynamics.memory import simulate_memory
from ..kernels import kernel_valid_time
from ..lattice import chain3d, simple_cubic, supercell_echo_time
from ..plot import PALETTE
from ..potential import Gaussian
from ..sweep import sweep_passes
from ..system import System, cubic_cell_sites, cubic_face_sites, line_sites
from ..theory import chain_loss_closed_form, low_speed_loss, mode_sum_loss
from ._registry import FigureRun, figure, subplots

__all__ = ["zero_crossings", "oscillation_envelope"]

MARKERS = "osD^v<>p"


def _sweep(system, speeds, supercell, impact, progress):
    """One vmapped sweep; failed passes become NaN (and are counted in the summary)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EchoWarning)
        result = sweep_passes(system, speeds, supercell, impacts=impact, progress=progress)
    return np.where(result.ok, result.loss, np.nan)


def _log_axes(ax, xlabel="initial speed σ'₀ (dimensionless)"):
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)


def _max_deviation(simulated, theory):
    ratio = np.asarray(simulated) / np.asarray(theory) - 1.0
    ratio = ratio[np.isfinite(ratio)]
    return float(np.max(np.abs(ratio))) if ratio.size else float("nan")


# --------------------------------------------------------------------------------------------- Fig. 2


@figure("paper1-fig2", paper=1, number="2", title="chain: simulation vs closed form (1.14) vs mode sum (1.13)")
def fig2(run: FigureRun) -> dict:
    """Chain whose masses move in 3D, one interacting mass: ``σ'₀Δ`` against ``σ'₀`` for ``κ ∈ {1, 0}``
    (rows) and ``s ∈ {0, 1}`` (columns); closed form (1.14) lines, mode sum (1.13) small dots, simulation
    open markers."""
    widths = [0.5, 1.0, 2.0, 4.0]
    masses = 100 if run.quick else 200
    sim_speeds = np.array([4.0, 8.0, 16.0, 32.0, 64.0]) if run.quick else np.geomspace(1.0, 100.0, 15)
    line_speeds = np.geomspace(0.5, 150.0, 200)
    fig, axes = subplots(2, 2, figsize=(9.5, 7.5), sharex=True)
    data, worst = {"sim_speeds": sim_speeds, "line_speeds": line_speeds}, {}
    for row, kappa in enumerate((1.0, 0.0)):
        lattice = chain3d(99 / 4, confinement_parallel=kappa)
        echo = supercell_echo_time(lattice, (masses,))
        for col, s in enumerate((0.0, 1.0)):
            ax = axes[row, col]
            for i, width in enumerate(widths):
                system = System(lattice, Gaussian(0.01, width))
                key = f"kappa{kappa:g}_s{s:g}_lambda{width:g}"
                closed = np.asarray(chain_loss_closed_form(line_speeds, 0.01, width, s, confinement_parallel=kappa))
                modes = np.asarray(mode_sum_loss(system, sim_speeds, (s, 0.0, 0.0)))
                simulated = _sweep(system, sim_speeds, (masses,), (s, 0.0, 0.0), run.progress)
                closed_at = np.asarray(chain_loss_closed_form(sim_speeds, 0.01, width, s, confinement_parallel=kappa))
                data.update({f"closed_{key}": closed, f"modesum_{key}": modes, f"sim_{key}": simulated})
                # the closed form assumes constant speed and an infinite chain: compare where the ion is
                # fast (σ'₀ ≥ 8) and the pass (14λ long) ends before the supercell's echo returns
                valid = (sim_speeds >= 8) & (14 * width / sim_speeds <= echo)
                worst[key] = (_max_deviation(simulated[valid], closed_at[valid]), _max_deviation(modes, closed_at))
                colour = PALETTE[i]
                ax.plot(line_speeds, line_speeds * closed, "-", color=colour, lw=1.3, label=f"λ = {width:g} (1.14)")
                ax.plot(sim_speeds, sim_speeds * modes, ".", color=colour, ms=4)
                ax.plot(sim_speeds, sim_speeds * simulated, MARKERS[i], color=colour, mfc="none", ms=6)
            _log_axes(ax)
            ax.set_ylim(1e-9, 1e-1)
            ax.set_title(f"κ = {kappa:g}, s = {s:g}", fontsize=9)
            ax.set_ylabel("σ'₀ Δ (dimensionless)")
    axes[0, 0].legend(fontsize=7, title="lines (1.14), dots (1.13), ○ simulation", title_fontsize=7)
    fig.suptitle(f"Paper 1, Fig. 2: chain, k = 99/4, Φ0 = 0.01, {masses} masses periodic", fontsize=10)
    sim_dev = max(v[0] for v in worst.values())
    mode_dev = max(v[1] for v in worst.values())
    summary = (f"simulation vs (1.14): max |Δ_sim/Δ_closed − 1| = {sim_dev:.2%} for σ'₀ ≥ 8 and passes shorter "
               f"than the echo time, over 4 λ × 2 κ × 2 s; "
               f"mode sum (1.13) vs (1.14): {mode_dev:.1e}")
    return {"figure": fig, "data": data, "summary": summary,
            "parameters": {"widths": widths, "masses": masses, "amplitude": 0.01, "coupling": 99 / 4,
                           "deviation_sim_vs_closed": sim_dev, "deviation_modesum_vs_closed": mode_dev}}


# ---------------------------------------------------------------------------------------- Figs. 4, 5


def _cubic_panels(run: FigureRun, amplitude: float, panels, title: str):
    """Shared body of Figs. 4 and 5: one panel per ``(label, sites, impact)``, ``Δ/σ'₀`` against ``σ'₀``;
    mode sum (1.13) lines, low-speed limit (1.23) dashed, simulation markers."""
    widths = [0.5, 1.0, 2.0, 4.0]
    sim_widths = [0.5, 1.0] if run.quick else widths
    size = 12 if run.quick else 50
    sim_speeds = np.array([16.0, 32.0, 64.0]) if run.quick else np.geomspace(1.0, 80.0, 12)
    line_speeds = np.geomspace(0.5, 100.0, 32 if run.quick else 120)
    lattice = simple_cubic(15.0, 5.0, 2.0)
    fig, axes = subplots(1, len(panels), figsize=(5.0 * len(panels), 4.3), sharey=True, squeeze=False)
    data, deviations, low_speed = {"sim_speeds": sim_speeds, "line_speeds": line_speeds}, [], []
    for ax, (label, panel_sites, impact) in zip(axes[0], panels):
        for i, width in enumerate(widths):
            system = System(lattice, Gaussian(amplitude, width), panel_sites)
            key = f"{label}_lambda{width:g}"
            modes = np.asarray(mode_sum_loss(system, line_speeds, impact))
            slow = np.asarray(low_speed_loss(system, line_speeds, impact))
            low_speed.append(abs(modes[0] / slow[0] - 1.0))
            colour = PALETTE[i]
            ax.plot(line_speeds, modes / line_speeds, "-", color=colour, lw=1.3, label=f"λ = {width:g}")
            ax.plot(line_speeds, slow / line_speeds, "--", color=colour, lw=0.9)
            data.update({f"modesum_{key}": modes, f"lowspeed_{key}": slow})
            if width in sim_widths:
                simulated = _sweep(system, sim_speeds, (size,) * 3, impact, run.progress)
                theory = np.asarray(mode_sum_loss(system, sim_speeds, impact))
                deviations.append(_max_deviation(simulated, theory))
                data[f"sim_{key}"] = simulated
                ax.plot(sim_speeds, simulated / sim_speeds, MARKERS[i], color=colour, mfc="none", ms=6)
        _log_axes(ax)
        ax.set_title(label, fontsize=9)
    axes[0, 0].set_ylabel("Δ / σ'₀ (dimensionless)")
    axes[0, 0].legend(fontsize=7, loc="lower left", title="— (1.13)   - - (1.23)   ○ simulation", title_fontsize=7)
    fig.suptitle(f"{title}; simulation on {size}³", fontsize=10)
    summary = (f"simulation vs mode sum (1.13): max deviation {max(deviations):.2%} at σ'₀ ∈ "
               f"[{sim_speeds.min():g}, {sim_speeds.max():g}] ({size}³); mode sum vs low-speed line (1.23) at "
               f"σ'₀ = {line_speeds[0]:g}: max {max(low_speed):.1%}")
    parameters = {"widths": widths, "simulated_widths": sim_widths, "supercell": size, "amplitude": amplitude,
                  "k1": 15.0, "k2": 5.0, "spacing": 2.0, "deviation_sim_vs_modesum": max(deviations),
                  "deviation_modesum_vs_lowspeed": max(low_speed)}
    return {"figure": fig, "data": data, "summary": summary, "parameters": parameters}


@figure("paper1-fig4", paper=1, number="4", title="simple cubic, one atom: simulation vs (1.13) and (1.23)")
def fig4(run: FigureRun) -> dict:
    one = np.zeros((1, 3), dtype=int)
    panels = [("one atom, s = 0", one, (0.0, 0.0, 0.0)), ("one atom, s = 1", one, (1.0, 0.0, 0.0))]
    return _cubic_panels(run, 0.01, panels, "Paper 1, Fig. 4: simple cubic k1 = 15, k2 = 5, α = 2, Φ0 = 0.01")


@figure("paper1-fig5", paper=1, number="5", title="simple cubic, 4 and 8 atoms: simulation vs (1.13) and (1.23)")
def fig5(run: FigureRun) -> dict:
    panels = [("four atoms of a face", cubic_face_sites(), (0.0, 0.0, 0.0)),
              ("eight atoms of a cell", cubic_cell_sites(), (0.0, 0.0, 0.0))]
    return _cubic_panels(run, 0.0025, panels, "Paper 1, Fig. 5: through the face centre, Φ0 = 0.0025")


# --------------------------------------------------------------------------------------------- Fig. 6

FIG6_CENTRE = 7.0  # 3.5 α with α = 2


def zero_crossings(times, position, centre: float = FIG6_CENTRE):
    """Times at which ``position − centre`` changes sign (linear interpolation; NaNs skipped)."""
    d = np.asarray(position) - centre
    i = np.flatnonzero(np.sign(d[1:]) != np.sign(d[:-1]))
    i = i[np.isfinite(d[i]) & np.isfinite(d[i + 1])]
    return times[i] - d[i] * (times[i + 1] - times[i]) / (d[i + 1] - d[i])


def oscillation_envelope(times, position, centre: float = FIG6_CENTRE, window: float = 1.0):
    """Largest ``|position − centre|`` in consecutive windows of length ``window``: ``(mid-times, peaks)``."""
    edges = np.arange(0.0, times[-1] + window, window)
    mids, peaks = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (times >= lo) & (times < hi) & np.isfinite(position)
        if sel.any():
            mids.append(0.5 * (lo + hi))
            peaks.append(np.max(np.abs(position[sel] - centre)))
    return np.asarray(mids), np.asarray(peaks)


@figure("paper1-fig6", paper=1, number="6", title="trapped ion: full dynamics vs time-local (1.26), both softenings")
def fig6(run: FigureRun) -> dict:
    """Eight atoms ``α(0,0,j)``, Φ0 = 1, λ = 1/2, start at 3.5α with speed 7.5 along z: the full engine on a
    finite supercell (and the memory engine on that supercell's own kernel, which must equal it), the
    memory engine on the infinite lattice (the default run: the whole ``τ = 30`` on the echo-free zone grid
    ``K = 1051``, binned kernel and FFT convolution, under a minute), and the time-local equation (1.26)
    with the ½ softening (default) and the printed one. The full size's full engine on 100³ (adaptive
    steps, ~0.65 s per step here) is for a GPU; on a CPU, ``docs/fig6_infinite_lattice.py --full-until T``
    runs it with fused Verlet steps (~58 ms per step)."""
    size = 12 if run.quick else 100
    duration = 30.0
    system = System(simple_cubic(15.0, 5.0, 2.0), Gaussian(1.0, 0.5), line_sites(8))
    times = np.linspace(0.0, duration, 3001)
    start, velocity, line = np.array([0.0, 0.0, FIG6_CENTRE]), np.array([0.0, 0.0, 7.5]), np.array([0.0, 0.0, 1.0])
    runs, timings = {}, {}
    echo = supercell_echo_time(system.lattice, (size,) * 3)
    began = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EchoWarning)
        full = simulate(system, (size,) * 3, start, velocity, duration, constraint=line, save_times=times,
                        max_steps=4_000_000, progress=run.progress)
    timings["full"] = time.perf_counter() - began
    assert full.ion_positions is not None and full.ion_velocities is not None  # saved at `times`
    runs[f"full {size}³ (echo at τ ≈ {echo:.1f})"] = (np.asarray(full.ion_positions[:, 2]), np.asarray(full.ion_velocities[:, 2]))

    def memory_curves(result):
        t_mem = np.asarray(result.ts)
        inside = times <= t_mem[-1] + 1e-9
        return tuple(np.where(inside, np.interp(times, t_mem, np.asarray(x)[:, 2]), np.nan)
                     for x in (result.ion_positions, result.ion_velocities))

    began = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EchoWarning)
        finite = simulate_memory(system, start, velocity, duration, dt=1e-3, constraint=line, supercell=(size,) * 3)
    timings["memory supercell"] = time.perf_counter() - began
    runs[f"memory, {size}³ supercell's kernel"] = memory_curves(finite)
    grid = 48 if run.quick else None  # None: the smallest echo-free grid for τ = 30 (K = 1051)
    memory_end = duration if grid is None else min(duration, 0.99 * kernel_valid_time(system.lattice, grid, system.site_cells))
    began = time.perf_counter()
    memory = simulate_memory(system, start, velocity, memory_end, dt=1e-3, constraint=line, points_per_axis=grid, cache=True,
                             progress=run.progress)
    timings["memory infinite"] = time.perf_counter() - began
    runs[f"memory, infinite lattice (K = {memory.points_per_axis}, exact to τ = {memory.valid_time:.2f})"] = memory_curves(memory)
    for softening in ("half", "printed"):
        model = time_local_model(system, softening=softening)
        began = time.perf_counter()
        local = simulate_local(model, start, velocity, duration, save_times=times, constraint=line)
        timings[f"local {softening}"] = time.perf_counter() - began
        runs[f"time-local (1.26), {'½' if softening == 'half' else 'printed'} softening"] = (
            np.asarray(local.ion_positions[:, 2]), np.asarray(local.ion_velocities[:, 2]))

    names = list(runs)
    z_full, z_finite, z_mem = (runs[n][0] for n in names[:3])
    early = times <= min(memory_end, echo)
    # where the finite lattice parts from the infinite one: first |Δz| above 1e-3 α
    both = np.isfinite(z_full) & np.isfinite(z_mem)
    apart = np.flatnonzero(both & (np.abs(z_full - z_mem) > 2e-3))
    parting = float(times[apart[0]]) if apart.size else None
    finite_vs_full = float(np.nanmax(np.abs(z_finite - z_full)))
    metrics = {}
    ref_cross = zero_crossings(times, z_full)
    for name in names[3:]:
        z = runs[name][0]
        cross = zero_crossings(times, z)
        m = min(len(cross), len(ref_cross))
        _, peaks = oscillation_envelope(times, z)
        metrics[name] = {
            "max_abs_z_difference_vs_memory_echo_free": float(np.nanmax(np.abs(z[early] - z_mem[early]))),
            "first_crossing_error_vs_full": float(cross[0] - ref_cross[0]) if m else None,
            "last_crossing_error_vs_full": float(cross[m - 1] - ref_cross[m - 1]) if m else None,
            "final_envelope": float(peaks[-1]) if peaks.size else None,
        }
    _, full_peaks = oscillation_envelope(times, z_full)
    _, memory_peaks = oscillation_envelope(times, z_mem)
    memory_final = f"{memory_peaks[-1]:.3f}" if memory_end >= duration else f"— (run to τ = {memory_end:.2f} only)"

    fig, axes = subplots(3, 1, figsize=(9, 8), sharex=True)
    styles = ["-", ":", "-", "--", "-."]
    widths = [1.4, 1.0, 1.0, 1.0, 1.0]
    for i, (name, (z, v)) in enumerate(runs.items()):
        axes[0].plot(times, z / 2.0, styles[i], color=PALETTE[i], lw=widths[i], label=name)
        axes[1].plot(times, v, styles[i], color=PALETTE[i], lw=widths[i])
    axes[2].semilogy(times, np.abs(z_full - z_mem) / 2.0, color=PALETTE[0], lw=1.0, label=f"|full {size}³ − infinite| (memory)")
    axes[2].semilogy(times, np.abs(z_finite - z_full) / 2.0 + 1e-16, color=PALETTE[1], lw=1.0,
                     label=f"|memory {size}³ supercell − full {size}³|")
    for ax in axes:
        ax.axvline(echo, color="0.6", lw=0.8)
    axes[0].set_ylabel("position z / α (dimensionless)")
    axes[1].set_ylabel("velocity σ' (dimensionless)")
    axes[2].set_ylabel("|Δz| / α")
    axes[2].set_xlabel("time τ (dimensionless)")
    axes[0].legend(fontsize=7, ncol=2)
    axes[2].legend(fontsize=7)
    axes[0].set_title("Paper 1, Fig. 6: Φ0 = 1, λ = 1/2, sites α(0,0,j), j = 0..7, start 3.5α, speed 7.5 (grey: first echo)", fontsize=9)
    half, printed = (metrics[n] for n in names[3:])
    summary = (f"finite {size}³ vs infinite lattice: apart by > 1e-3 α from τ = "
               f"{'—' if parting is None else f'{parting:.2f}'} (first echo of the supercell at τ ≈ {echo:.2f}); envelope at τ = 30: "
               f"full {size}³ {full_peaks[-1]:.3f}, infinite {memory_final}, ½ {half['final_envelope']:.3f}, printed "
               f"{printed['final_envelope']:.3f}; memory on the supercell's kernel vs full: {finite_vs_full:.1e} (its δ = 1e-3 "
               f"Verlet error); infinite-lattice "
               f"memory run {timings['memory infinite']:.0f} s, time-local {timings['local half']:.1f} s, "
               f"full {size}³ {timings['full']:.0f} s")
    data = {"times": times, **{f"z_{i}": z for i, (z, _) in enumerate(runs.values())},
            **{f"v_{i}": v for i, (_, v) in enumerate(runs.values())}}
    parameters = {"supercell": size, "echo_time": echo, "memory_grid": int(memory.points_per_axis), "memory_valid_until": memory_end,
                  "memory_method": memory.method, "parting_time": parting, "supercell_memory_vs_full": finite_vs_full,
                  "runs": names, "metrics": metrics, "timings_s": timings}
    return {"figure": fig, "data": data, "summary": summary, "parameters": parameters}
