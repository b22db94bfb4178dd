"""Benchmark the time-local engine (paper 1, (1.26)) on Fig. 6's system.

Targets (issue 4, on this CPU): one trajectory of τ = 30 after compilation in ≤ 0.2 s, and a vmapped
batch of 10 000 trajectories in ≤ 20 s.

Run:  python benchmarks/bench_time_local.py [--quick] [--batch 10000] [--no-append]

Prints a table and appends it (with date, device, CPU, load and versions) to benchmarks/RESULTS.md.
System: simple cubic k1 = 15, k2 = 5, α = 2, eight sites α(0,0,j), Gaussian Φ0 = 1, λ = 1/2, ½ softening
with drag; the ion starts at z = 3.5α on the z axis. The batch spreads the initial speeds over
[5, 9] and the start positions over ±0.2 around 3.5α. Adaptive Tsit5 at rtol 1e-10 (the default), 1e-8
and 1e-6, each with its position error against an rtol 1e-12 solution; the batch runs at rtol 1e-6.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import jaxion as jx
from jaxion.dynamics.local import simulate_local, time_local_model

from machine import machine_description

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
                               rtol=1e-12, atol=1e-14).positions[:, 2]
    rows = []
    for rtol in (1e-10, 1e-8, 1e-6):
        def one(rtol=rtol):
            return simulate_local(model, start, velocity, args.duration, save_times=saves, constraint=line,
                                  rtol=rtol, atol=rtol * 1e-2)

        first, best = timed(lambda: one().positions)
        result = one()
        error = float(jnp.max(jnp.abs(result.positions[:, 2] - reference)))
        rows.append((rtol, first, best, int(result.num_steps), error))
        print(f"rtol {rtol:g}: one trajectory {best * 1e3:.1f} ms ({int(result.num_steps)} steps, max |Δz| vs rtol 1e-12 "
              f"{error:.1e}); first call {first:.2f} s", flush=True)

    batch_rtol = 1e-6
    rng = np.random.default_rng(0)
    starts = jnp.asarray(np.column_stack([np.zeros(batch), np.zeros(batch), 7.0 + rng.uniform(-0.2, 0.2, batch)]))
    speeds = jnp.asarray(np.column_stack([np.zeros(batch), np.zeros(batch), rng.uniform(5.0, 9.0, batch)]))
    many = jax.jit(jax.vmap(lambda p, v: simulate_local(
        model, p, v, args.duration, save_times=saves, constraint=line, rtol=batch_rtol, atol=batch_rtol * 1e-2).positions))
    first_batch, best_batch = timed(lambda: many(starts, speeds), repeats=1)
    print(f"batch of {batch} (rtol {batch_rtol:g}): {best_batch:.2f} s (first call {first_batch:.2f} s)", flush=True)

    lines = [
        f"### Time-local engine (1.26), Fig. 6 system, τ = {args.duration:g} — {env['date']}",
        "",
        f"Device {env['devices']}; {env['cpu']}; load {env['load']}; Python {env['python']}, JAX {env['jax']}. "
        f"Model build (recoil matrix + Green's function): {build:.2f} s. Command: `python benchmarks/bench_time_local.py"
        f"{' --quick' if args.quick else ''}`. Targets: one trajectory ≤ 0.2 s, 10 000 in ≤ 20 s.",
        "",
        "| adaptive Tsit5 | one trajectory (compiled) | first call | steps | max abs(Δz) vs rtol 1e-12 |",
        "|---|---|---|---|---|",
    ]
    for rtol, first, best, steps, error in rows:
        lines.append(f"| rtol {rtol:g} | {best * 1e3:.1f} ms | {first:.2f} s | {steps} | {error:.1e} |")
    lines += ["", f"Batch of {batch} trajectories (one `jax.vmap`, rtol {batch_rtol:g}): {best_batch:.2f} s compiled "
              f"({best_batch / batch * 1e3:.2f} ms per trajectory; first call {first_batch:.2f} s)."]
    text = "\n".join(lines) + "\n"
    print()
    print(text)
    if not args.no_append:
        with open(args.results, "a", encoding="utf-8") as handle:
            handle.write("\n" + text)
        print(f"appended to {args.results}")


if __name__ == "__main__":
    main()
