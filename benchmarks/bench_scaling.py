"""How the cost scales: with the lattice size (full engine, fused Verlet) and with the sweep size.

    python benchmarks/bench_scaling.py            # chain 10³–10⁵ atoms, cubic 20³, 50³, 100³; sweeps 1–256 passes
    python benchmarks/bench_scaling.py --quick    # without the 10⁵ chain and 100³ (~1 min)

Appends its tables, with the date, device, CPU, load and versions, to ``benchmarks/RESULTS.md``.

1. Lattice size: a fixed number of velocity-Verlet steps (``jx.simulate(..., solver="verlet")``, the ion
   crossing the interacting site) on each lattice; compilation timed separately (first call minus a
   warm call). Atom-steps per second, and the effective bandwidth against the least a step must move:
   the displacement and velocity fields read and written once, ``4 × dof × atoms × 8`` bytes.
2. Sweep size: ``jx.sweep_passes`` on paper 1's chain (200 masses, Verlet) with 1 … 256 speeds in one
   batch (one ``jax.vmap``, split over the local devices), warm; time per pass.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import jax
import numpy as np
from bench_full_engine import fmt_time, table
from machine import machine_description, report

import jaxion as jx

HERE = Path(__file__).resolve().parent


def lattice_row(label, system, supercell, steps: int):
    omega = system.lattice.max_frequency(supercell)
    dt = 0.5 / (2 * np.pi * omega)
    start = np.array([0.3, 0.0, -3.0])
    velocity = np.array([0.0, 0.0, 6.0 / (steps * dt)])  # crosses the site during the run

    def run():
        out = jx.simulate(system, supercell, start, velocity, steps * dt, solver="verlet", dt=dt, max_frequency=omega,
                          check_echo=False, max_steps=steps + 10)
        return jax.block_until_ready(out.final_state.displacement)

    t0 = time.perf_counter()
    run()
    first = time.perf_counter() - t0
    warm = np.inf
    for _ in range(2):
        t0 = time.perf_counter()
        run()
        warm = min(warm, time.perf_counter() - t0)
    atoms = int(np.prod(supercell))
    moved = 4 * system.lattice.dof * atoms * 8
    per_step = warm / steps
    return [label, f"{atoms:,}", steps, fmt_time(first - warm), fmt_time(per_step), f"{atoms / per_step:.3g}",
            f"{moved / 1e6:.3g} MB", f"{moved / per_step / 1e9:.2f} GB/s"]


def sweep_row(system, members: int):
    speeds = np.geomspace(10.0, 80.0, members)
    options = dict(impacts=(0.0, 1.0, 0.0), solver="verlet", progress=False)
    t0 = time.perf_counter()
    jx.sweep_passes(system, speeds, (200,), **options)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = jx.sweep_passes(system, speeds, (200,), **options)
    warm = time.perf_counter() - t0
    assert np.all(out.ok), "a pass failed"
    return [members, fmt_time(first), fmt_time(warm), fmt_time(warm / members), f"{members / warm:.3g}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="skip the 10^5 chain and 100^3")
    parser.add_argument("--no-append", action="store_true", help="print only")
    parser.add_argument("--results", default=str(HERE / "RESULTS.md"))
    args = parser.parse_args()
    env = machine_description()
    began = time.perf_counter()
    chain = jx.chain3d(99 / 4, confinement_parallel=1.0)
    cubic = jx.simple_cubic(15.0, 5.0, 2.0)
    gaussian = jx.Gaussian(0.01, 1.0)
    cases = [("chain", chain, (1_000,), 2000), ("chain", chain, (10_000,), 1000)]
    if not args.quick:
        cases.append(("chain", chain, (100_000,), 400))
    cases += [("cubic", cubic, (20, 20, 20), 400), ("cubic", cubic, (50, 50, 50), 100)]
    if not args.quick:
        cases.append(("cubic", cubic, (100, 100, 100), 40))
    lattice_rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jx.EchoWarning)
        for name, lattice, supercell, steps in cases:
            label = f"{name} {'×'.join(map(str, supercell))}"
            lattice_rows.append(lattice_row(label, jx.System(lattice, gaussian), supercell, steps))
            print(" | ".join(map(str, lattice_rows[-1])), flush=True)
    sweep_system = jx.System(chain, gaussian)
    sweep_rows = []
    for members in (1, 4, 16, 64, 256):
        sweep_rows.append(sweep_row(sweep_system, members))
        print(" | ".join(map(str, sweep_rows[-1])), flush=True)
    total = time.perf_counter() - began

    text = "\n".join([
        f"## Run {env['date']} — `python benchmarks/bench_scaling.py{' --quick' if args.quick else ''}` ({total / 60:.1f} min)",
        "",
        f"Devices {env['devices']}; {env['cpu']}; load at the start {env['load']}; Python {env['python']}, JAX {env['jax']}; float64.",
        "",
        "### Cost against lattice size (fused Verlet, warm; compilation separate)",
        "",
        table(["lattice", "atoms", "steps timed", "compile", "per step", "atom-steps/s", "least bytes/step", "effective bandwidth"],
              lattice_rows),
        "",
        "### Cost against sweep size (`sweep_passes`, chain of 200 masses, Verlet, speeds 10–80, one batch)",
        "",
        table(["passes", "first call (compile + run)", "warm", "per pass (warm)", "passes/s"], sweep_rows),
        "",
    ])
    report(text, args.results, append=not args.no_append)


if __name__ == "__main__":
    main()
