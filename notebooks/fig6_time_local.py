"""Paper 1, Fig. 6: an ion trapped on a line of eight atoms of the simple cubic lattice, full dynamics
(1.3)–(1.4) against the time-local equation (1.26) with both forms of the softening.

Setup (paper 1): k1 = 15, k2 = 5, α = 2, sites α(0, 0, j), j = 0..7, Gaussian Φ0 = 1, λ = 1/2, the ion
starts at z = 3.5α with speed 7.5 along z and stays on the z axis.

Run:  python notebooks/fig6_time_local.py [--supercell 24] [--duration 30] [--out docs]
Writes docs/fig6_time_local.{png,npz,json}: z(τ) and σ'(τ) of every solution, the timings, and for
each time-local form the phase error (zero-crossing times of z − 3.5α against the reference) and the
amplitude decay (envelope of |z − 3.5α|).
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np

import jaxion as jx
from jaxion.dynamics.local import simulate_local, time_local_model
from jaxion.io import run_metadata, save_json, save_npz
from jaxion.plot import PALETTE

CENTRE = 7.0  # 3.5 α


def crossings(ts, z):
    """Times at which z − 3.5α changes sign (linear interpolation)."""
    d = z - CENTRE
    i = np.flatnonzero(np.sign(d[1:]) != np.sign(d[:-1]))
    i = i[np.isfinite(d[i + 1])]
    return ts[i] - d[i] * (ts[i + 1] - ts[i]) / (d[i + 1] - d[i])


def envelope(ts, z, window: float = 1.0):
    """Largest |z − 3.5α| in consecutive windows of length ``window``."""
    edges = np.arange(0.0, ts[-1] + window, window)
    mids, peaks = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (ts >= lo) & (ts < hi) & np.isfinite(z)
        if sel.any():
            mids.append(0.5 * (lo + hi))
            peaks.append(np.max(np.abs(z[sel] - CENTRE)))
    return np.asarray(mids), np.asarray(peaks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--supercell", type=int, default=24, help="full-engine supercell N (N³ atoms); 0 skips it")
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--samples", type=int, default=3001)
    parser.add_argument("--memory-grid", type=int, default=96,
                        help="zone grid K of the infinite-lattice memory engine (exact only up to a K-dependent time); 0 skips it")
    parser.add_argument("--out", type=Path, default=Path("docs"))
    args = parser.parse_args()
    system = jx.System(jx.simple_cubic(15.0, 5.0, 2.0), jx.Gaussian(1.0, 0.5), jx.line_sites(8))
    ts = np.linspace(0.0, args.duration, args.samples)
    start, velocity, line = np.array([0.0, 0.0, CENTRE]), np.array([0.0, 0.0, 7.5]), np.array([0.0, 0.0, 1.0])
    runs, timings = {}, {}

    if args.supercell:
        n = args.supercell
        echo = jx.supercell_echo_time(system.lattice, (n, n, n))
        print(f"full engine, {n}^3 supercell (echo returns after tau = {echo:.2f}) ...", flush=True)
        began = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", jx.EchoWarning)
            full = jx.simulate(system, (n, n, n), start, velocity, args.duration, constraint=line, save_times=ts,
                               max_steps=2_000_000, progress=True)
        timings[f"full {n}^3"] = time.perf_counter() - began
        runs[f"full {n}^3"] = (np.asarray(full.ion_positions[:, 2]), np.asarray(full.ion_velocities[:, 2]))

    memory_end = 0.0
    if args.memory_grid:
        # Infinite-lattice reference, exact only while the K-point zone grid has not recurred.
        memory_end = min(args.duration, 0.99 * jx.kernel_valid_time(system.lattice, args.memory_grid, system.site_cells))
        began = time.perf_counter()
        memory = jx.simulate_memory(system, start, velocity, memory_end, dt=1e-3, constraint=line,
                                    points_per_axis=args.memory_grid)
        timings["memory (infinite lattice)"] = time.perf_counter() - began
        t_mem = np.asarray(memory.ts)
        inside = ts <= t_mem[-1]
        runs["memory (infinite lattice)"] = tuple(
            np.where(inside, np.interp(ts, t_mem, np.asarray(x)[:, 2]), np.nan)
            for x in (memory.ion_positions, memory.ion_velocities)
        )
        print(f"memory engine: exact up to tau = {memory_end:.2f} with K = {args.memory_grid}", flush=True)

    for softening in ("half", "printed"):
        model = time_local_model(system, softening=softening)
        simulate_local(model, start, velocity, 0.1, constraint=line)  # compile
        began = time.perf_counter()
        local = simulate_local(model, start, velocity, args.duration, save_times=ts, constraint=line)
        local.positions.block_until_ready()
        timings[f"time-local ({softening})"] = time.perf_counter() - began
        runs[f"time-local ({softening})"] = (np.asarray(local.positions[:, 2]), np.asarray(local.velocities[:, 2]))

    reference = next(iter(runs))  # the full engine (first run) covers the whole time
    early = ts <= memory_end
    ref_cross = crossings(ts, runs[reference][0])
    metrics = {}
    for name, (z, _) in runs.items():
        cross = crossings(ts, z)
        m = min(len(cross), len(ref_cross))
        mids, peaks = envelope(ts, z)
        metrics[name] = {
            "mean_half_period": float(np.mean(np.diff(cross))) if len(cross) > 1 else None,
            "crossing_time_error_vs_reference": (cross[:m] - ref_cross[:m]).tolist(),
            "final_envelope": float(peaks[-1]) if len(peaks) else None,
            "envelope": peaks.tolist(),
            "wall_time_s": timings.get(name),
        }
        if memory_end > 0:
            z_mem = runs["memory (infinite lattice)"][0]
            metrics[name]["max_position_difference_vs_memory_early"] = float(np.nanmax(np.abs(z[early] - z_mem[early])))
        err = cross[:m] - ref_cross[:m]
        print(f"{name:28s} time {timings.get(name, float('nan')):8.2f} s  mean half-period "
              f"{metrics[name]['mean_half_period']:.4f}  crossing error at tau~{ref_cross[m-1]:.1f}: {err[-1]:+.4f}  "
              f"envelope at end {metrics[name]['final_envelope']:.3f}  "
              f"max |z - z_memory| for tau <= {memory_end:.2f}: {metrics[name].get('max_position_difference_vs_memory_early', float('nan')):.2e}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 1, figsize=(9, 6), sharex=True, constrained_layout=True)
    styles = ["-", "--", "-.", ":"]
    for i, (name, (z, v)) in enumerate(runs.items()):
        axes[0].plot(ts, z / 2.0, styles[i % 4], color=PALETTE[i], lw=1.0, label=name)
        axes[1].plot(ts, v, styles[i % 4], color=PALETTE[i], lw=1.0)
    axes[0].set_ylabel("position z / α")
    axes[1].set_ylabel("velocity σ' (l per τ)")
    axes[1].set_xlabel("time τ (periods 2π/Ω)")
    axes[0].legend(fontsize=8, ncol=2)
    axes[0].set_title("Paper 1, Fig. 6: Φ0 = 1, λ = 1/2, 8 sites α(0,0,j), start 3.5α, speed 7.5", fontsize=9)
    args.out.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out / "fig6_time_local.png", dpi=120)
    save_npz(args.out / "fig6_time_local.npz", ts=ts, **{f"z_{i}": z for i, (z, _) in enumerate(runs.values())},
             **{f"v_{i}": v for i, (_, v) in enumerate(runs.values())})
    save_json(args.out / "fig6_time_local.json", run_metadata({"runs": list(runs), "supercell": args.supercell,
                                                                "duration": args.duration, "metrics": metrics,
                                                                "reference": reference}, sum(timings.values())))


if __name__ == "__main__":
    main()
