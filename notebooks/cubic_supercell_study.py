"""Paper 1, Fig. 4 on this CPU: simple cubic lattice, one interacting atom, speeds 1–80, for several
supercell sizes, to show how the loss depends on the supercell (the paper used 50³).

Run:  python notebooks/cubic_supercell_study.py [--sizes 8,12,16,24] [--out docs]
Writes docs/cubic_supercell_study.{png,npz,json}. Each size's speeds run in one vmapped call.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np

import jaxion as jx
from jaxion.io import run_metadata, save_json, save_npz
from jaxion.plot import PALETTE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="8,12,16,24")
    parser.add_argument("--speeds", default="1,2,4,8,16,32,64,80")
    parser.add_argument("--width", type=float, default=1.0)
    parser.add_argument("--out", type=Path, default=Path("docs"))
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    speeds = np.asarray([float(x) for x in args.speeds.split(",")])
    system = jx.System(jx.simple_cubic(15.0, 5.0, 2.0), jx.Gaussian(0.01, args.width))
    impacts = np.concatenate([np.zeros((speeds.size, 3)), np.tile([1.0, 0.0, 0.0], (speeds.size, 1))])
    all_speeds = np.concatenate([speeds, speeds])
    losses, times, drifts = {}, {}, {}
    for n in sizes:
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", jx.EchoWarning)
            sweep = jx.sweep_passes(system, all_speeds, (n, n, n), impacts=impacts, progress=False)
        times[n] = time.perf_counter() - start
        losses[n] = np.where(sweep.ok, sweep.loss, np.nan)
        drifts[n] = sweep.energy_drift
        echo = jx.supercell_echo_time(system.lattice, (n, n, n))
        head = np.array2string(losses[n][: speeds.size], precision=3)
        print(f"{n}^3: {times[n]:.1f} s, echo after tau = {echo:.2f}, losses s=0: {head}", flush=True)
    theory = None
    try:
        from jaxion.theory import mode_sum_loss  # (1.13), when available

        theory = {s: np.asarray([float(mode_sum_loss(system, v, (s, 0.0, 0.0))) for v in speeds]) for s in (0.0, 1.0)}
    except ImportError:
        pass

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), constrained_layout=True, sharey=True)
    for panel, (ax, s) in enumerate(zip(axes, (0.0, 1.0))):
        part = slice(0, speeds.size) if panel == 0 else slice(speeds.size, None)
        for i, n in enumerate(sizes):
            ax.plot(speeds, losses[n][part] / speeds, "o-", color=PALETTE[i], ms=4, lw=0.8, mfc="none", label=f"simulation {n}³")
        if theory is not None:
            ax.plot(speeds, theory[s] / speeds, "k-", lw=1.5, label="mode sum (1.13), infinite lattice")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("initial speed σ'₀ (dimensionless)")
        ax.set_title(f"simple cubic, k1 = 15, k2 = 5, α = 2, Φ0 = 0.01, λ = {args.width:g}, s = {s:g}", fontsize=9)
    axes[0].set_ylabel("Δ / σ'₀ (dimensionless)")
    axes[0].legend(fontsize=7)
    args.out.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out / "cubic_supercell_study.png", dpi=120)
    save_npz(args.out / "cubic_supercell_study.npz", speeds=all_speeds, impacts=impacts,
             **{f"loss_{n}": losses[n] for n in sizes}, **{f"drift_{n}": drifts[n] for n in sizes})
    parameters = {"sizes": sizes, "speeds": speeds, "width": args.width}
    save_json(args.out / "cubic_supercell_study.json", run_metadata(parameters, sum(times.values())))


if __name__ == "__main__":
    main()
