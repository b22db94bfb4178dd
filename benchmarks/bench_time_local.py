"""Benchmark the time-local engine (paper 1, (1.26)) on Fig. 6's system.

Targets (issue 4, on this CPU): one trajectory of τ = 30 after compilation in ≤ 0.2 s, and a vmapped
batch of 10 000 trajectories in ≤ 20 s.

Run:  python benchmarks/bench_time_local.py [--quick] [--batch 10000] [--no-append]

Prints a table and appends it (with date, device, CPU, load and versions) to benchmarks/RESULTS.md.
System: simple cubic k1 = 15, k2 = 5, α = 2, eight sites α(0,0,j), Gaussian Φ0 = 1, λ = 1/2, ½ softening
with drag; the ion starts at z = 3.5α on the z axis. The batch spreads the initial speeds over
[5, 9] and the start positions over ±0.2 around 3.5α. One trajectory: adaptive Dopri8 (the default) and
Tsit5 at several tolerances, each with its position error against an rtol 1e-13 Dopri8 solution. The
batch (:func:`jaxion.simulate_local_batch`, Dopri8 at rtol 1e-7, 301 saved times per member) runs on one
CPU device and split over every core (each core a device: the script sets
``XLA_FLAGS=--xla_force_host_platform_device_count=<cores>`` unless XLA_FLAGS is already set).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("XLA_FLAGS", f"--xla_force_host_platform_device_count={os.cpu_count()}")

import jax
import jax.numpy as jnp
import numpy as np
from machine import machine_description, report

import jaxion as jx
from jaxion.dynamics.local import simulate_local, time_local_model

HERE = Path(__file__).resolve().parent


def timed(fn, repeats: int = 3):
    """(first call incl. compilation, best of ``repeats`` later calls) in seconds."""
    began = time.perf_counter()
    jax.block_until_ready(fn())
    first = time.perf_counter() - began
    best = np.inf
    for _ in range(repeats):
        began = time.perf_counter()
        jax.block_until_ready(fn())
        best = min(best, time.perf_counter() - began)
    return first, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="batch of 1000 instead of 10 000")
    parser.add_argument("--batch", type=int, default=None, help="trajectories in the vmapped batch")
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--no-append", action="store_true", help="print only")
    parser.add_argument("--results", default=str(HERE / "RESULTS.md"))
    args = parser.parse_args()
    batch = args.batch or (1000 if args.quick else 10_000)
    env = machine_description()
    system = jx.System(jx.simple_cubic(15.0, 5.0, 2.0), jx.Gaussian(1.0, 0.5), jx.line_sites(8))
    began = time.perf_counter()
    model = time_local_model(system)
    build = time.perf_counter() - began
    line = np.array([0.0, 0.0, 1.0])
    saves = jnp.linspace(0.0, args.duration, 301)
    start, velocity = jnp.array([0.0, 0.0, 7.0]), jnp.array([0.0, 0.0, 7.5])

    reference = simulate_local(model, start, velocity, args.duration, save_times=saves, constraint=line,
                               solver="dopri8", rtol=1e-13, atol=1e-15).ion_positions[:, 2]
    rows = []
    for solver, rtol in (("dopri8", 1e-10), ("dopri8", 1e-8), ("dopri8", 1e-7), ("tsit5", 1e-10), ("tsit5", 1e-6)):
        def one(solver=solver, rtol=rtol):
            return simulate_local(model, start, velocity, args.duration, save_times=saves, constraint=line,
                                  solver=solver, rtol=rtol, atol=rtol * 1e-2)

        first, best = timed(lambda: one().ion_positions)
        result = one()
        error = float(jnp.max(jnp.abs(result.ion_positions[:, 2] - reference)))
        rows.append((solver, rtol, first, best, int(result.num_steps), error))
        print(f"{solver} rtol {rtol:g}: one trajectory {best * 1e3:.1f} ms ({int(result.num_steps)} steps, max |Δz| vs "
              f"reference {error:.1e}); first call {first:.2f} s", flush=True)

    batch_rtol = 1e-7
    rng = np.random.default_rng(0)
    starts = np.column_stack([np.zeros(batch), np.zeros(batch), 7.0 + rng.uniform(-0.2, 0.2, batch)])
    speeds = np.column_stack([np.zeros(batch), np.zeros(batch), rng.uniform(5.0, 9.0, batch)])
    batch_rows = []
    device_sets = [jax.devices()[:1]] + ([jax.devices()] if len(jax.devices()) > 1 else [])
    for devices in device_sets:
        def many(devices=devices):
            return jx.simulate_local_batch(model, starts, speeds, args.duration, save_times=saves, constraint=line,
                                           solver="dopri8", rtol=batch_rtol, atol=batch_rtol * 1e-2,
                                           devices=devices).ion_positions

        first_batch, best_batch = timed(many, repeats=1)
        batch_rows.append((len(devices), first_batch, best_batch))
        print(f"batch of {batch} on {len(devices)} device(s) (dopri8 rtol {batch_rtol:g}): {best_batch:.2f} s "
              f"(first call {first_batch:.2f} s)", flush=True)

    lines = [
        f"### Time-local engine (1.26), Fig. 6 system, τ = {args.duration:g} — {env['date']}",
        "",
        f"Device {env['devices']}; {env['cpu']}; load {env['load']}; Python {env['python']}, JAX {env['jax']}. "
        f"Model build (recoil matrix + Green's function): {build:.2f} s. Command: `python benchmarks/bench_time_local.py"
        f"{' --quick' if args.quick else ''}`. Targets: one trajectory ≤ 0.2 s, 10 000 in ≤ 20 s.",
        "",
        "| adaptive solver | one trajectory (compiled) | first call | steps | max abs(Δz) vs rtol 1e-13 |",
        "|---|---|---|---|---|",
    ]
    for solver, rtol, first, best, steps, error in rows:
        lines.append(f"| {solver} rtol {rtol:g} | {best * 1e3:.1f} ms | {first:.2f} s | {steps} | {error:.1e} |")
    lines += ["", f"| batch of {batch} (`simulate_local_batch`, dopri8 rtol {batch_rtol:g}, 301 saves) | compiled | "
              "per trajectory | first call |", "|---|---|---|---|"]
    for count, first_batch, best_batch in batch_rows:
        lines.append(f"| {count} device(s) | {best_batch:.2f} s | {best_batch / batch * 1e3:.2f} ms | {first_batch:.2f} s |")
    text = "\n".join(lines) + "\n"
    report(text, args.results, append=not args.no_append)


if __name__ == "__main__":
    main()
