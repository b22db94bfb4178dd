"""Paper 1's Fig. 6 over the whole τ = 30 on the infinite lattice, against the paper's finite 100³ lattice
and the time-local equation (1.26) with both softenings. Writes docs/fig6_infinite_lattice.png and .json.

    python docs/fig6_infinite_lattice.py                    # ~2 min on 2 CPU cores (kernels cached afterwards)
    python docs/fig6_infinite_lattice.py --full-until 6     # + the full engine on 100³ up to τ = 6 (~7 min more)

- infinite lattice: memory engine, echo-free zone grid K = 1051 (binned kernel, fft convolution);
- 100³: memory engine on the periodic 100³ supercell's own kernel (``supercell=(100, 100, 100)``), which equals the
  full engine on 100³ for the tracked sites, echoes included (tests/test_memory.py); the full engine itself
  takes ~20 min here (38 ms per step, 30 000 steps);
- time-local (1.26), ½ softening (default) and the printed form (Dopri8).
- optionally the full engine itself on 100³ (10⁶ masses, fused velocity Verlet at δ = 1e-3, in segments
  of 0.02 τ) up to ``--full-until``: it must equal the 100³ memory run (both at δ = 1e-3).
All at δ = 1e-3 except the adaptive time-local runs; positions compared on a grid of 3 001 times.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np

import jaxion as jx
from jaxion.dynamics.local import simulate_local, time_local_model
from jaxion.figures.paper1 import FIG6_CENTRE, oscillation_envelope, zero_crossings
from jaxion.io import save_json
from jaxion.plot import PALETTE

HERE = Path(__file__).resolve().parent


def full_engine_100(system, start, velocity, line, until: float, segment: float = 0.02):
    """The full engine on 100³ with fused Verlet (δ = 1e-3), in segments (the fused solver saves only its
    final state); returns the times and ion z at the segment ends."""
    count = int(round(until / segment))
    state, position, speed = None, np.asarray(start, float), np.asarray(velocity, float)
    zs = [float(position[2])]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jx.EchoWarning)
        for _ in range(count):
            framework = {} if state is None else dict(initial_displacement=state.displacement, initial_velocity=state.velocity)
            out = jx.simulate(system, (100,) * 3, position, speed, segment, constraint=line, solver="verlet", dt=1e-3,
                              check_echo=False, max_steps=1000, **framework)
            state = out.final_state
            position, speed = np.asarray(state.ion_position), np.asarray(state.ion_velocity)
            zs.append(float(position[2]))
    return segment * np.arange(count + 1), np.asarray(zs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full-until", type=float, default=0.0, help="also run the full engine on 100³ up to this τ")
    args = parser.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    system = jx.System(jx.simple_cubic(15.0, 5.0, 2.0), jx.Gaussian(1.0, 0.5), jx.line_sites(8))
    start, velocity, line = np.array([0.0, 0.0, FIG6_CENTRE]), np.array([0.0, 0.0, 7.5]), np.array([0.0, 0.0, 1.0])
    duration, size = 30.0, 100
    times = np.linspace(0.0, duration, 3001)
    runs, timings = {}, {}

    began = time.perf_counter()
    infinite = jx.simulate_memory(system, start, velocity, duration, dt=1e-3, constraint=line, progress=True)
    timings["infinite"] = time.perf_counter() - began
    runs[f"infinite lattice (memory, K = {infinite.points_per_axis:d})"] = np.interp(times, np.asarray(infinite.ts),
                                                                                  np.asarray(infinite.ion_positions[:, 2]))
    began = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jx.EchoWarning)
        finite = jx.simulate_memory(system, start, velocity, duration, dt=1e-3, constraint=line, supercell=(size,) * 3, progress=True)
    timings["supercell"] = time.perf_counter() - began
    runs[f"{size}³ periodic (memory on its own kernel = full engine)"] = np.interp(times, np.asarray(finite.ts),
                                                                                  np.asarray(finite.ion_positions[:, 2]))
    for softening in ("half", "printed"):
        began = time.perf_counter()
        local = simulate_local(time_local_model(system, softening=softening), start, velocity, duration, save_times=times, constraint=line)
        timings[f"local {softening}"] = time.perf_counter() - began
        runs[f"time-local (1.26), {'½' if softening == 'half' else 'printed'} softening"] = np.asarray(local.ion_positions[:, 2])

    full = None
    if args.full_until > 0:
        began = time.perf_counter()
        full = full_engine_100(system, start, velocity, line, args.full_until)
        timings["full engine 100³"] = time.perf_counter() - began

    names = list(runs)
    z_inf, z_fin = runs[names[0]], runs[names[1]]
    echo = jx.supercell_echo_time(system.lattice, (size,) * 3)
    apart = np.flatnonzero(np.abs(z_fin - z_inf) > 2e-3)  # 1e-3 α
    reference_crossings = zero_crossings(times, z_inf)
    metrics = {"echo_time_100": echo, "finite_parts_from_infinite_at": float(times[apart[0]]) if apart.size else None,
               "max_abs_z_finite_minus_infinite": float(np.max(np.abs(z_fin - z_inf)))}
    for name in names:
        crossings = zero_crossings(times, runs[name])
        m = min(len(crossings), len(reference_crossings))
        _, peaks = oscillation_envelope(times, runs[name])
        metrics[name] = {
            "envelope_at_30": float(peaks[-1]),
            "max_abs_z_vs_infinite": float(np.max(np.abs(runs[name] - z_inf))),
            "crossing_lag_vs_infinite_first_last": [float(crossings[0] - reference_crossings[0]),
                                                    float(crossings[m - 1] - reference_crossings[m - 1])],
            "crossings": len(crossings),
        }
    if full is not None:
        t_full, z_full = full
        metrics["full_engine_100"] = {
            "until": float(t_full[-1]),
            "max_abs_z_vs_memory_100": float(np.max(np.abs(z_full - np.interp(t_full, times, z_fin)))),
            "max_abs_z_vs_infinite": float(np.max(np.abs(z_full - np.interp(t_full, times, z_inf)))),
            "max_abs_z_vs_infinite_before_2_5": float(np.max(np.abs(z_full - np.interp(t_full, times, z_inf))[t_full <= 2.5])),
        }
    metrics["timings_s"] = timings
    print(json.dumps(metrics, indent=1))

    fig, axes = plt.subplots(3, 1, figsize=(9, 8), sharex=True)
    for i, name in enumerate(names):
        axes[0].plot(times, runs[name] / 2.0, color=PALETTE[i], lw=1.3 if i == 0 else 0.9, ls=["-", ":", "--", "-."][i], label=name)
        mids, peaks = oscillation_envelope(times, runs[name])
        axes[1].plot(mids, peaks / 2.0, color=PALETTE[i], ls=["-", ":", "--", "-."][i], marker=".", ms=3, lw=0.9)
    for i, name in enumerate(names[1:], start=1):
        axes[2].semilogy(times, np.abs(runs[name] - z_inf) / 2.0 + 1e-12, color=PALETTE[i], lw=0.8, label=name)
    if full is not None:
        t_full, z_full = full
        axes[0].plot(t_full, z_full / 2.0, "x", color="k", ms=3, label="full engine, 100³ (Verlet δ = 1e-3)")
        axes[2].semilogy(t_full, np.abs(z_full - np.interp(t_full, times, z_inf)) / 2.0 + 1e-12, "x", color="k", ms=3,
                         label="full engine 100³")
    axes[2].legend(fontsize=7)
    for ax in axes:
        ax.axvline(echo, color="0.6", lw=0.8)
    axes[0].set_ylabel("z / α")
    axes[1].set_ylabel("oscillation amplitude / α\n(largest |z − 3.5α| per τ)")
    axes[2].set_ylabel("|z − z_infinite| / α")
    axes[2].set_xlabel("time τ")
    axes[0].legend(fontsize=7, ncol=2)
    axes[0].set_title("Paper 1, Fig. 6 over τ = 30: infinite lattice vs 100³ vs time-local (grey: first echo of 100³)", fontsize=9)
    fig.tight_layout()
    fig.savefig(HERE / "fig6_infinite_lattice.png", dpi=130)
    save_json(HERE / "fig6_infinite_lattice.json", metrics)


if __name__ == "__main__":
    main()
