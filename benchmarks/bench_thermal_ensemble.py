"""Benchmark finite-temperature ensembles: the stochastic time-local engine and the exact full-engine reference.

    python benchmarks/bench_thermal_ensemble.py               # (a) 10 000 members, (b) 64 members
    python benchmarks/bench_thermal_ensemble.py --quick       # (a) 1 000 members
    python benchmarks/bench_thermal_ensemble.py --no-append   # print only

Prints a table and appends it (date, device, CPU, load, versions) to ``benchmarks/RESULTS.md``.

(a) :func:`jaxion.simulate_local_thermal` (BAOAB, the default step :func:`jaxion.local_time_step`): the hop system of
    ``jaxion/figures/thermal.py`` (``channel_model()``: the cube-centre channel of paper 1's simple-cubic lattice,
    μ = 0.05, Φ0 = 4, λ = 0.5), members started in a well with Maxwell velocities, held on the z line, T = ΔU/5,
    τ = 100, 101 saved times. Target (issue): 10 000 members in ≤ 60 s on this CPU. Timed on one CPU device and
    split over every core (each core a device: the script sets
    ``XLA_FLAGS=--xla_force_host_platform_device_count=<cores>`` unless XLA_FLAGS is already set).
(b) The exact thermal reference: 64 full-engine members (:func:`jaxion.simulate`, fused Verlet h = 0.002, τ = 30) on a
    periodic 8³ supercell from :func:`jaxion.dynamics.thermal_supercell.thermal_state`, the ion free in the cage of 8
    atoms, T = 0.01: the set-up of ``tests/test_thermal_cross_engine.py`` (its ``full_ensemble``), one vmapped call.

Each is called twice with different keys: the first call includes compilation, the second is the run alone
(compile ≈ first − second); µs per member-step = run / (members × steps).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("XLA_FLAGS", f"--xla_force_host_platform_device_count={os.cpu_count()}")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from machine import machine_description, report  # noqa: E402

import jaxion as jx  # noqa: E402  (enables float64)
from jaxion.figures.thermal import LINE, PERIOD, POINT, channel_model, line_functions  # noqa: E402
from jaxion.theory.rates import landscape_extrema  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from test_thermal_cross_engine import cage_system, full_ensemble  # noqa: E402  # pyright: ignore[reportMissingImports]


def twice(run):
    """(first call incl. compilation, second call) wall times in seconds; ``run(seed)`` must block."""
    times = []
    for seed in (0, 1):
        began = time.perf_counter()
        run(seed)
        times.append(time.perf_counter() - began)
    return times[0], times[1]


def local_rows(members: int, duration: float):
    """(a): one row per device set: (devices, first, run, steps, dt, ratio of the members' ⟨KE⟩ to T/2)."""
    model = channel_model()
    mu = float(model.system.mass_ratio)
    potential, _ = line_functions(model)
    barrier = float(landscape_extrema(potential, PERIOD, mu).barrier_height)
    temperature = barrier / 5.0
    well = POINT + 0.5 * PERIOD * LINE
    positions = np.tile(well, (members, 1))
    dt = jx.local_time_step(model, positions[:1], constraint=LINE)
    steps = int(np.ceil(duration / dt - 1e-9))
    saves = jnp.linspace(0.0, duration, 101)
    rows = []
    device_sets = [jax.devices()[:1]] + ([jax.devices()] if len(jax.devices()) > 1 else [])
    for devices in device_sets:
        kinetic = []

        def run(seed, devices=devices, kinetic=kinetic):
            start_key, noise_key = jax.random.split(jax.random.key(seed))
            velocities = 2 * np.pi * np.sqrt(temperature / mu) * np.asarray(jax.random.normal(start_key, (members,)))[:, None] * LINE
            result = jx.simulate_local_thermal(model, positions, velocities, duration, save_times=saves, constraint=LINE,
                                               thermal=jx.ThermalBath(temperature, noise_key, quantum=False), devices=devices)
            kinetic.append(float(jnp.mean(jax.block_until_ready(result.kinetic)[:, 1:])) / (temperature / 2))

        first, second = twice(run)
        rows.append((len(devices), first, second, steps, dt, kinetic[-1]))
        print(f"(a) {members} members × {steps} steps on {len(devices)} device(s): first {first:.2f} s, run {second:.2f} s "
              f"({second / (members * steps) * 1e6:.3f} µs per member-step)", flush=True)
    return rows, barrier, temperature


def full_row(members: int, duration: float, dt: float):
    """(b): (first, run, steps)."""
    system = cage_system()

    def run(seed):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            full_ensemble(system, (8, 8, 8), members, duration, dt, jax.random.key(100 + seed))

    first, second = twice(run)
    steps = int(np.ceil(duration / dt - 1e-9))
    print(f"(b) {members} full-engine members × {steps} steps on 8³: first {first:.2f} s, run {second:.2f} s "
          f"({second / (members * steps) * 1e6:.2f} µs per member-step)", flush=True)
    return first, second, steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="(a) with 1 000 members instead of 10 000")
    parser.add_argument("--members", type=int, default=None, help="members of (a)")
    parser.add_argument("--no-append", action="store_true", help="print only")
    parser.add_argument("--results", default=str(HERE / "RESULTS.md"))
    args = parser.parse_args()
    members = args.members or (1000 if args.quick else 10_000)
    env = machine_description()
    began = time.perf_counter()
    rows, barrier, temperature = local_rows(members, 100.0)
    full_members, full_duration, full_dt = 64, 30.0, 0.002
    full_first, full_second, full_steps = full_row(full_members, full_duration, full_dt)
    load_end = " ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [
        f"### Thermal ensembles: stochastic time-local (1.26) + noise and the exact full-engine reference — {env['date']}",
        "",
        f"Device {env['devices']}; {env['cpu']}; load {env['load']} at the start, {load_end} at the end; Python "
        f"{env['python']}, JAX {env['jax']}. Command: `python benchmarks/bench_thermal_ensemble.py"
        f"{' ' + ' '.join(sys.argv[1:]) if sys.argv[1:] else ''}` ({time.perf_counter() - began:.0f} s). First call includes compilation; "
        "run = a second call with new keys.",
        "",
        f"(a) `simulate_local_thermal`, hop channel of `jaxion/figures/thermal.py` (`channel_model()`), held on z, "
        f"T = ΔU/5 = {temperature:.4f} (ΔU = {barrier:.4f}), τ = 100, BAOAB at the default step, 101 saves. "
        "Target: 10 000 members ≤ 60 s.",
        "",
        "| members | devices | steps (dt) | first call | run | compile ≈ | µs per member-step | ⟨KE⟩/(T/2) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for devices, first, second, steps, dt, kinetic in rows:
        lines.append(f"| {members} | {devices} | {steps} ({dt:.3g}) | {first:.1f} s | **{second:.1f} s** | {first - second:.1f} s | "
                     f"{second / (members * steps) * 1e6:.3f} | {kinetic:.3f} |")
    lines += [
        "",
        f"(b) exact reference: {full_members} full-engine members (`jx.simulate`, fused Verlet h = {full_dt}, τ = "
        f"{full_duration:g}), periodic 8³ supercell (1536 framework coordinates) from `thermal_state` at T = 0.01, free ion "
        "in the cage of 8 atoms (the set-up of `tests/test_thermal_cross_engine.py`), one vmapped call, one device.",
        "",
        "| members | steps | first call | run | compile ≈ | µs per member-step |",
        "|---|---|---|---|---|---|",
        f"| {full_members} | {full_steps} | {full_first:.1f} s | **{full_second:.1f} s** | {full_first - full_second:.1f} s | "
        f"{full_second / (full_members * full_steps) * 1e6:.2f} |",
    ]
    report("\n".join(lines) + "\n", args.results, append=not args.no_append)


if __name__ == "__main__":
    main()
