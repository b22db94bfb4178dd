"""Benchmark of the memory (response-kernel) engine: the direct quadratic convolution vs the blocked one.

One command measures everything and appends the tables, with the date, to ``benchmarks/RESULTS.md``::

    python benchmarks/bench_memory.py                 # ~3-6 min on 2 CPU cores
    python benchmarks/bench_memory.py --quick         # the Fig. 8-like run and the small direct runs only
    python benchmarks/bench_memory.py --wait-idle 600 # first wait (up to 600 s) for a quiet machine
    python benchmarks/bench_memory.py --fig6          # paper 1's Fig. 6 on the infinite lattice (~2 min)
    python benchmarks/bench_memory.py --crystal       # a Fig. 6-like trapped Li ion in Cu3Au beside the simple cubic one
    XLA_FLAGS=--xla_force_host_platform_device_count=2 python benchmarks/bench_memory.py --fig8-batch 20
                                                      # paper 2's Fig. 8, 20 speeds per sign, 800 τ (~5 min)

Sections:

1. A paper-2 Fig. 8-like run: chain ``ω_fast = 10``, ``α = 40``, Gaussian ``Φ0 = 2``, ``λ = 4``, bias
   ``β = 0.01`` (force ``β/α``), ``μ = 1``, start midway between masses at ``σ' = 25``, ``800`` time units
   at ``δ = 1/600`` (480 000 steps), every chain mass the ion can reach tracked (``all_sites_interact``).
   Blocked method: total wall time of a first call (compilation included) and of a second call; the
   same for an ion trapped at one mass for the same time.
2. Direct (quadratic) vs blocked on the same physics for short runs, where the direct method is
   affordable, and the extrapolation of the direct method to 800 time units. The direct method's
   table holds ``Γ`` between *all* tracked sites for every lag (``lags × P²`` numbers, ``P`` = sites), so
   both its memory and its cost per step grow with the run; two series are measured: (a) the Fig. 8
   ion (sites grow with the run), (b) a trapped ion with 4 fixed sites (pure ``N²`` growth).

3. (full runs, or ``--fig6`` alone) Paper 1's Fig. 6 on the infinite lattice: the binned kernel table
   (K = 1051) and the fft convolution against the direct quadratic sum and the mode-by-mode kernel sum.
4. (``--crystal`` alone) The same set-up in a crystal with a basis: Li trapped at the tetrahedral site of Cu3Au
   (EMT force constants, Born–Mayer per species), τ = 30 on the infinite lattice (binned kernel with complex
   moments, fft run), beside the simple cubic Fig. 6 run, both with their kernels.

Timings are wall times of ``simulate_memory`` (kernel/mode setup included, disk cache off).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import time
from pathlib import Path

import jax
import numpy as np
from machine import machine_description, report  # noqa: E402

import jaxion as jx  # noqa: E402  (enables float64)
from jaxion.dynamics.memory import simulate_memory  # noqa: E402
from jaxion.kernels import precompute_kernel  # noqa: E402

HERE = Path(__file__).resolve().parent
OMEGA_FAST, SPACING, AMPLITUDE, WIDTH, BETA = 10.0, 40.0, 2.0, 4.0, 0.01
DT = 1.0 / (60 * OMEGA_FAST)


def log(message: str) -> None:
    print(message, flush=True)


def fig8_system(duration: float, speed: float):
    """Chain of paper 2 with every mass the ion can reach in ``duration`` tracked (10 % speed margin)."""
    lattice = jx.chain(OMEGA_FAST, spacing=SPACING)
    count = int(np.ceil((SPACING / 2 + 1.1 * speed * duration) / SPACING)) + 3
    sites = np.arange(-2, count)[:, None]
    return jx.System(lattice, jx.Gaussian(AMPLITUDE, WIDTH), sites)


def every(duration: float, dt: float, steps: int):
    """``save_times`` every ``steps`` steps of ``dt`` within ``[0, duration]``."""
    return dt * np.arange(0, int(np.floor(duration / dt + 1e-9)) + 1, steps)


def fig8_run(duration: float, speed: float, method: str, **options):
    system = fig8_system(duration, speed)
    return simulate_memory(
        system, [0.0, 0.0, SPACING / 2], [0.0, 0.0, speed], duration, dt=DT, constraint=[0, 0, 1], bias_force=BETA / SPACING,
        save_times=every(duration, DT, 60), method=method, all_sites_interact=True, cache=False, **options,
    ), system


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    out = jax.block_until_ready(function(*args, **kwargs))
    return out, time.perf_counter() - start



def section_fig8(duration: float, speed: float):
    (first, system), cold = timed(fig8_run, duration, speed, "blocked")
    (second, _), warm = timed(fig8_run, duration, speed, "blocked")
    shift = np.max(np.abs(first.ion_positions - second.ion_positions))
    row = dict(
        duration=duration, steps=int(second.num_steps), sites=len(system.sites), k=second.points_per_axis, block=second.block_steps,
        nodes=second.chebyshev_nodes, window=second.window, cold=cold, warm=warm, per_step=warm / int(second.num_steps) * 1e6,
        final_speed=float(second.ion_velocities[-1, 2]), final_position=float(second.ion_positions[-1, 2]),
        work=float(second.framework_work[-1]), energy_error=float(np.max(np.abs(second.energy_error))), repeat=shift,
    )
    log(f"  blocked {duration:g} τ: first call {cold:.2f} s, second {warm:.2f} s ({row['per_step']:.2f} µs/step); "
        f"K = {row['k']}, B = {row['block']}, n = {row['nodes']}, window = {row['window']} of {row['sites']} sites")
    return row


def trapped_args(duration: float):
    """An ion trapped at mass 0 (attractive Φ0 = −2), 4 tracked masses: a fixed site set."""
    lattice = jx.chain(OMEGA_FAST, spacing=SPACING)
    system = jx.System(lattice, jx.Gaussian(-AMPLITUDE, WIDTH), np.arange(-1, 3)[:, None])
    args = (system, [0.0, 0.0, 3.0], [0.0, 0.0, 0.0], duration)
    kwargs = dict(dt=DT, constraint=[0, 0, 1], save_times=every(duration, DT, 60), all_sites_interact=True, cache=False)
    return system, args, kwargs


def section_trapped_long(duration: float):
    system, args, kwargs = trapped_args(duration)
    first, cold = timed(simulate_memory, *args, method="blocked", **kwargs)
    second, warm = timed(simulate_memory, *args, method="blocked", **kwargs)
    log(f"  trapped, blocked {duration:g} τ: first call {cold:.2f} s, second {warm:.2f} s; K = {second.points_per_axis}, "
        f"B = {second.block_steps}")
    return dict(duration=duration, steps=int(second.num_steps), sites=len(system.sites), k=second.points_per_axis,
                block=second.block_steps, nodes=second.chebyshev_nodes, window=second.window, cold=cold, warm=warm,
                per_step=warm / int(second.num_steps) * 1e6, energy_error=float(np.max(np.abs(second.energy_error))),
                work=float(second.framework_work[-1]))


def section_scaling(durations, speed: float, trapped: bool):
    rows = []
    for duration in durations:
        if trapped:
            system, args, kwargs = trapped_args(duration)
        else:
            system = fig8_system(duration, speed)
            args = (system, [0.0, 0.0, SPACING / 2], [0.0, 0.0, speed], duration)
            kwargs = dict(dt=DT, constraint=[0, 0, 1], bias_force=BETA / SPACING, save_times=every(duration, DT, 60),
                          all_sites_interact=True, cache=False)
        kernel, t_kernel = timed(precompute_kernel, system.lattice, system.site_cells, DT, duration, cache=False)
        simulate_memory(*args, method="direct", kernel=kernel, **kwargs)  # compile
        direct, t_direct = timed(simulate_memory, *args, method="direct", kernel=kernel, **kwargs)
        simulate_memory(*args, method="blocked", **kwargs)
        blocked, t_blocked = timed(simulate_memory, *args, method="blocked", **kwargs)
        agree = float(np.max(np.abs(direct.ion_positions - blocked.ion_positions)))
        rows.append(dict(
            duration=duration, steps=int(direct.num_steps), sites=len(system.sites), t_kernel=t_kernel, t_direct=t_direct,
            t_blocked=t_blocked, direct_us=t_direct / int(direct.num_steps) * 1e6, blocked_us=t_blocked / int(blocked.num_steps) * 1e6,
            agree=agree, table_mb=kernel.values.nbytes / 2**20,
        ))
        log(f"  {'trapped' if trapped else 'fig8'} {duration:g} τ ({int(direct.num_steps)} steps, {len(system.sites)} sites): kernel "
            f"{t_kernel:.2f} s ({kernel.values.nbytes / 2**20:.0f} MB), direct {t_direct:.2f} s, blocked {t_blocked:.2f} s, "
            f"|Δσ| = {agree:.1e}")
    return rows


def growth(rows, key: str) -> float:
    """Exponent ``p`` of ``t ∝ τ^p`` between the two longest runs."""
    a, b = rows[-2], rows[-1]
    return float(np.log(b[key] / a[key]) / np.log(b["duration"] / a["duration"]))


def direct_model(rows, steps: int, sites: int) -> float:
    """The direct method costs ``∝ steps × lags × P²`` (lags = steps): scale the longest measured run."""
    r = rows[-1]
    return r["t_direct"] * (steps / r["steps"]) ** 2 * (sites / r["sites"]) ** 2


def markdown(env, fig8, trapped_long, fig8_rows, trapped_rows, target) -> str:
    lines = [
        f"## Memory engine — {_dt.datetime.now(_dt.UTC).strftime('%Y-%m-%d %H:%M')} UTC",
        "",
        f"- command: `python benchmarks/bench_memory.py` ({env['cpu']}; jax {env['jax']} on {env['devices']}; "
        f"python {env['python']}; load average at start {env['load']} — other processes on the machine inflate the timings)",
        "",
        "### 1. Paper 2 Fig. 8-like run (blocked convolution)",
        "",
        "Chain ω_fast = 10, α = 40, Φ0 = 2, λ = 4, bias force β/α = 0.01/40, μ = 1, σ'(0) = 25 midway between masses, "
        f"δ = 1/600, {fig8['duration']:g} time units, every reachable mass tracked.",
        "",
        "| τ | steps | tracked sites | zone grid K | block B | Chebyshev n | window | first call (s) | second call (s) | µs/step "
        "| final σ' | W_F | max energy error |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        f"| {fig8['duration']:g} | {fig8['steps']} | {fig8['sites']} | {fig8['k']} | {fig8['block']} | {fig8['nodes']} | {fig8['window']} "
        f"| {fig8['cold']:.2f} | {fig8['warm']:.2f} | {fig8['per_step']:.2f} | {fig8['final_speed']:.3f} | {fig8['work']:.4f} "
        f"| {fig8['energy_error']:.1e} |",
        "",
        "First call = compilation + setup + run; second call = setup + run (compiled code reused).",
        "",
        f"Same length, ion trapped at one mass (Φ0 = −2, 4 tracked masses), blocked: first call {trapped_long['cold']:.2f} s, "
        f"second {trapped_long['warm']:.2f} s ({trapped_long['per_step']:.2f} µs/step; K = {trapped_long['k']}, "
        f"B = {trapped_long['block']}, n = {trapped_long['nodes']}; W_F = {trapped_long['work']:.4g}, "
        f"max energy error {trapped_long['energy_error']:.1e}).",
        "",
        "### 2. Direct (quadratic) vs blocked convolution, same physics",
        "",
        "Wall time of a compiled call (direct: kernel table precomputed separately, time in column 'kernel').",
        "",
        "| case | τ | steps | sites | kernel (s) | table (MB) | direct (s) | direct µs/step | blocked (s) | blocked µs/step "
        "| max \\|Δσ\\| |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, rows in (("Fig. 8 ion", fig8_rows), ("trapped, 4 sites", trapped_rows)):
        for r in rows:
            lines.append(
                f"| {name} | {r['duration']:g} | {r['steps']} | {r['sites']} | {r['t_kernel']:.2f} | {r['table_mb']:.1f} "
                f"| {r['t_direct']:.2f} | {r['direct_us']:.1f} | {r['t_blocked']:.2f} | {r['blocked_us']:.2f} | {r['agree']:.1e} |"
            )
    lines.append("")
    steps = fig8["steps"]
    for name, rows, sites in (("Fig. 8 ion", fig8_rows, fig8["sites"]), ("trapped, 4 sites", trapped_rows, trapped_rows[-1]["sites"])):
        if len(rows) >= 2:
            t_direct = direct_model(rows, steps, sites)
            table_bytes = steps * (sites * 1) ** 2 * 8.0
            lines.append(
                f"- {name}: between the two longest runs the direct time grows as τ^{growth(rows, 't_direct'):.2f} and the blocked "
                f"as τ^{growth(rows, 't_blocked'):.2f} (short runs are dominated by fixed costs). The direct cost model "
                f"`steps × lags × P²` scaled from the longest run gives, for {steps} steps and {sites} sites, ≈ {t_direct:.3g} s "
                f"({t_direct / 3600:.3g} h) and a kernel table of {table_bytes / 2**30:.3g} GiB."
            )
    lines += [
        "",
        "The blocked cost per step is ~constant in the run length at a fixed zone grid; the grid (and so the far-field "
        "work per block) grows with the run length, which the 800-τ row above includes.",
        "",
        "",
    ]
    return "\n".join(lines)


def section_full_engine(duration: float, speed: float, measure: float) -> dict:
    """Memory engine vs the full engine (1.3)–(1.4) on a periodic chain long enough to hold the sound cone
    of the whole ``duration`` (echo time > duration), same interacting masses, same ``δ``, no bias (the full
    engine has none; it does not change the cost). The full engine (fused velocity Verlet at ``δ``) is timed
    over ``measure`` τ and extrapolated linearly in the steps (its cost per step is fixed by the chain);
    the memory engine (blocked) runs the whole ``duration``."""
    lattice = jx.chain(OMEGA_FAST, spacing=SPACING)
    per_cell = jx.supercell_echo_time(lattice, (1000,)) / 1000.0
    cells = int(np.ceil(1.05 * duration / per_cell))
    system = fig8_system(duration, speed)
    start, velocity = [0.0, 0.0, SPACING / 2], [0.0, 0.0, speed]

    def full():
        out = jx.simulate(system, (cells,), start, velocity, measure, constraint=[0, 0, 1], solver="verlet", dt=DT,
                          max_steps=int(measure / DT) + 10, check_echo=False)
        jax.block_until_ready(out.final_state.ion_position)
        return out

    first, full_cold = timed(full)
    second, full_warm = timed(full)
    steps_measure = int(second.num_steps)
    short, _ = timed(simulate_memory, system, start, velocity, measure, dt=DT, constraint=[0, 0, 1], save_times=every(measure, DT, 60),
                     method="blocked", all_sites_interact=True, cache=False)
    long_kw = dict(dt=DT, constraint=[0, 0, 1], save_times=every(duration, DT, 60), method="blocked", all_sites_interact=True, cache=False)
    (long_first, _), mem_cold = timed(lambda: (simulate_memory(system, start, velocity, duration, **long_kw), None))
    long_second, mem_warm = timed(simulate_memory, system, start, velocity, duration, **long_kw)
    total_steps = int(long_second.num_steps)
    return dict(
        duration=duration, measure=measure, cells=cells, echo=jx.supercell_echo_time(lattice, (cells,)), sites=len(system.sites),
        full_cold=full_cold, full_warm=full_warm, full_steps=steps_measure, full_per_step=full_warm / steps_measure * 1e6,
        full_extrapolated=full_warm / steps_measure * total_steps, mem_cold=mem_cold, mem_warm=mem_warm,
        mem_per_step=mem_warm / total_steps * 1e6, steps=total_steps, k=long_second.points_per_axis,
        shift=float(abs(np.asarray(second.final_state.ion_position)[2] - short.ion_positions[-1, 2])),
        speed_shift=float(abs(np.asarray(second.final_state.ion_velocity)[2] - short.ion_velocities[-1, 2])),
    )


def markdown_full(env, row) -> str:
    r = row
    return "\n".join([
        f"## Memory engine vs full engine — {_dt.datetime.now(_dt.UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"- command: `python benchmarks/bench_memory.py --full-engine` ({env['cpu']}; jax {env['jax']}; "
        f"load average at start {env['load']})",
        "",
        f"Paper 2 Fig. 8 chain (ω_fast = 10, α = 40, Φ0 = 2, λ = 4, μ = 1, σ'(0) = 25 midway, δ = 1/600, no bias), {r['sites']} "
        f"interacting masses. Full engine: periodic chain of {r['cells']} masses (echo time {r['echo']:.0f} τ > "
        f"{r['duration']:g} τ), fused "
        f"velocity Verlet at δ, timed over {r['measure']:g} τ and extrapolated linearly in steps; memory engine: blocked, K = {r['k']}, "
        f"the whole {r['duration']:g} τ.",
        "",
        "| engine | τ run | steps | first call (s) | second call (s) | µs/step | time for the whole run (s) |",
        "|---|---|---|---|---|---|---|",
        f"| full, {r['cells']} masses | {r['measure']:g} | {r['full_steps']} | {r['full_cold']:.2f} | {r['full_warm']:.2f} | "
        f"{r['full_per_step']:.1f} | " + (f"{r['full_warm']:.1f} |" if r['full_steps'] >= r['steps'] else
                                      f"≈ {r['full_extrapolated']:.0f} (extrapolated to {r['steps']} steps) |"),
        f"| memory (blocked) | {r['duration']:g} | {r['steps']} | {r['mem_cold']:.2f} | {r['mem_warm']:.2f} | "
        f"{r['mem_per_step']:.1f} | {r['mem_warm']:.1f} |",
        "",
        f"Agreement after {r['measure']:g} τ (same start, no bias): |Δσ| = {r['shift']:.2e}, |Δσ'| = {r['speed_shift']:.2e} "
        "(full engine at the same δ vs memory engine).",
        "",
    ])


def section_fig6(measure_direct: float) -> dict:
    """Paper 1's Fig. 6 on the infinite lattice: 8 sites α(0,0,j), Φ0 = 1, λ = 1/2, start 3.5α at 7.5 along z,
    τ = 30 at δ = 1e-3 (30 000 steps), the echo-free zone grid (K = 1051). Times: the binned kernel table
    (cold, cache off), the fft run (first call and second call), the same run's first ``measure_direct`` τ
    with the quadratic direct sum (extrapolated ∝ steps² to the whole run) and with fft (agreement), and the
    mode-by-mode kernel sum against the binned one on a small grid (K = 101, 3 001 times), extrapolated
    ∝ modes × times to K = 1051."""
    from jaxion.kernels import kernel_by_differences, site_differences

    system = jx.System(jx.simple_cubic(15.0, 5.0, 2.0), jx.Gaussian(1.0, 0.5), jx.line_sites(8))
    start, velocity, line = [0.0, 0.0, 7.0], [0.0, 0.0, 7.5], [0.0, 0.0, 1.0]
    dt, duration = 1e-3, 30.0
    (kernel, kernel_s) = timed(precompute_kernel, system.lattice, system.site_cells, dt, duration, cache=False)
    run_kw = dict(dt=dt, constraint=line, kernel=kernel, method="fft", save_times=every(duration, dt, 10))
    first, fft_cold = timed(simulate_memory, system, start, velocity, duration, **run_kw)
    second, fft_warm = timed(simulate_memory, system, start, velocity, duration, **run_kw)
    short_kw = dict(dt=dt, constraint=line, kernel=kernel, save_times=every(measure_direct, dt, 10))
    direct, direct_s = timed(simulate_memory, system, start, velocity, measure_direct, method="direct", **short_kw)
    fft_short, _ = timed(simulate_memory, system, start, velocity, measure_direct, method="fft", **short_kw)
    differences, _ = site_differences(system.site_cells)
    small_times = dt * np.arange(3001)
    _, sum_s = timed(kernel_by_differences, system.lattice, differences, small_times, 101, method="sum")
    _, binned_s = timed(kernel_by_differences, system.lattice, differences, small_times, 101, method="binned")
    scale = (kernel.points_per_axis / 101) ** 3 * (30001 / 3001)
    return dict(
        k=kernel.points_per_axis, valid=kernel.valid_time, steps=int(second.num_steps), kernel_s=kernel_s, fft_cold=fft_cold,
        fft_warm=fft_warm, total=kernel_s + fft_cold, direct_steps=int(direct.num_steps), direct_s=direct_s,
        direct_extrapolated=direct_s * (int(second.num_steps) / int(direct.num_steps)) ** 2,
        agreement=float(np.max(np.abs(direct.ion_positions - fft_short.ion_positions))),
        sum_small=sum_s, binned_small=binned_s, sum_extrapolated=sum_s * scale,
        energy_error=float(np.max(np.abs(second.energy_error))), final_z=float(second.ion_positions[-1, 2]),
    )


def markdown_fig6(env, r) -> str:
    return "\n".join([
        f"## Paper 1 Fig. 6 on the infinite lattice (memory engine) — {_dt.datetime.now(_dt.UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"- command: `python benchmarks/bench_memory.py --fig6` ({env['cpu']}; jax {env['jax']}; load average at start {env['load']})",
        "",
        f"Simple cubic (k1 = 15, k2 = 5, α = 2), 8 sites α(0,0,j), Φ0 = 1, λ = 1/2, start 3.5α at σ' = 7.5 along z, τ = 30 at "
        f"δ = 1e-3 ({r['steps']} steps); zone grid K = {r['k']} (exact, echo-free, to τ = {r['valid']:.2f}), 16-fold symmetry folding.",
        "",
        "| part | time (s) |",
        "|---|---|",
        f"| kernel table, binned (30 001 lags × 8 × 8 sites × 3 × 3) | {r['kernel_s']:.1f} |",
        f"| run, fft convolution, first call (compilation included) | {r['fft_cold']:.1f} |",
        f"| run, fft convolution, second call | {r['fft_warm']:.1f} |",
        f"| **whole Fig. 6 run, kernel included (target < 60)** | **{r['total']:.1f}** |",
        f"| run, direct quadratic sum: {r['direct_steps']} steps measured | {r['direct_s']:.1f} |",
        f"| run, direct quadratic sum: whole run, extrapolated ∝ steps² | ≈ {r['direct_extrapolated']:.0f} |",
        f"| kernel, mode-by-mode sum, K = 101 and 3 001 times (binned: {r['binned_small']:.1f} s) | {r['sum_small']:.1f} |",
        f"| kernel, mode-by-mode sum, K = {r['k']} and 30 001 times, extrapolated ∝ modes × times | ≈ {r['sum_extrapolated']:.0f} |",
        "",
        f"fft vs direct over the measured steps: max |Δσ| = {r['agreement']:.1e}. Energy bookkeeping error over the whole run "
        f"{r['energy_error']:.1e} (the trapezoid/Verlet dt² error); final z = {r['final_z']:.6f}.",
        "",
    ])


# Paper 1 Fig. 6 in a real crystal: Li in the tetrahedral channel of Cu3Au (L1₂), EMT force constants (phonopy)
CRYSTAL_BORN_MAYER = {"Au": (800.0, 0.2), "Cu": (500.0, 0.2)}  # Li–Au, Li–Cu: A (eV), ρ (Å)
CRYSTAL_ION_AMU, CRYSTAL_ENERGY_EV, CRYSTAL_CUTOFF_A = 6.94, 0.4, 2.6  # Li mass, its kinetic energy, site cutoff
CRYSTAL_DT = 1e-3


def crystal_fig6_system():
    """Li (6.94 amu) on the line x = y = a/4 along z of Cu3Au: it passes the tetrahedral site (a/4)(1, 1, 1)
    between the windows z = 0 (Au + Cu at a√2/4) and z = a/2 (Cu + Cu), a Born–Mayer repulsion per species.
    Tracked: every atom within 2.6 Å of the trap segment (the 8 atoms of the 4 nearest columns). Returns the system,
    the start (the tetrahedral site), the velocity (0.4 eV of kinetic energy along z), the units and the barrier
    (eV) of the potential along the line."""
    from jaxion.materials import AMU, ANGSTROM, EV

    crystal = jx.emt_crystal("Cu3Au-L12")
    lattice, units = crystal.lattice, crystal.units
    a = float(lattice.primitive_vectors[0, 0])
    angstrom = ANGSTROM / float(units.length)
    potentials = {name: jx.BornMayer.from_ev_angstrom(amp, rho, units) for name, (amp, rho) in CRYSTAL_BORN_MAYER.items()}
    sites = jx.sites_near_line(lattice, [0.25 * a, 0.25 * a, 0.0], [0.0, 0.0, 1.0], CRYSTAL_CUTOFF_A * angstrom, 0.5 * a)
    mu = CRYSTAL_ION_AMU * AMU / float(units.mass)
    system = jx.System(lattice, potentials, sites, mass_ratio=mu)
    energy = CRYSTAL_ENERGY_EV * EV / float(units.energy)
    speed = float(np.sqrt(8 * np.pi**2 * energy / mu))  # μ σ'²/(8π²) = E
    z = np.linspace(0.0, 0.5 * a, 201)
    positions = np.asarray(system.site_positions())
    species = [lattice.species[s] for s in system.site_atoms]
    ev = float(units.energy) / EV
    profile = np.zeros_like(z)
    for r, name in zip(positions, species):
        distance2 = (0.25 * a - r[0]) ** 2 + (0.25 * a - r[1]) ** 2 + (z - r[2]) ** 2
        profile += np.asarray(potentials[name](distance2)) * ev
    return system, [0.25 * a, 0.25 * a, 0.25 * a], [0.0, 0.0, speed], units, float(profile.max() - profile.min())


def _trapped_row(system, start, velocity, duration: float, dt: float) -> dict:
    """One Fig. 6-like run on the infinite lattice, kernel included (cache off): the binned table on the echo-free grid
    (``precompute_kernel``'s own choice), then the fft run (first call, compilation included)."""
    from jaxion.kernels import site_pairs

    line = [0.0, 0.0, 1.0]
    (kernel, kernel_s) = timed(precompute_kernel, system.lattice, system.sites, dt, duration, cache=False)
    run_kw = dict(dt=dt, constraint=line, kernel=kernel, method="fft", save_times=every(duration, dt, 10))
    result, run_s = timed(simulate_memory, system, start, velocity, duration, **run_kw)
    cells = np.asarray(system.sites, dtype=int).reshape(len(system.sites), -1)
    if system.lattice.atoms > 1:
        entries = len(site_pairs(cells[:, :-1], cells[:, -1])[0])
    else:
        entries = len(jx.kernels.site_differences(cells)[0])
    z = np.asarray(result.ion_positions)[:, 2]
    ke = np.asarray(result.kinetic_energy)
    return dict(k=kernel.points_per_axis, valid=kernel.valid_time, steps=int(result.num_steps), sites=len(system.sites),
                entries=entries, atoms=system.lattice.atoms, kernel_s=kernel_s, run_s=run_s, total=kernel_s + run_s,
                energy_error=float(np.max(np.abs(np.asarray(result.energy_error)))), z_range=float(np.ptp(z)),
                work=float(np.asarray(result.framework_work)[-1]), ke=(float(ke[0]), float(ke[-1])))


def section_crystal() -> dict:
    """Paper 1's Fig. 6 set-up (an ion trapped between repulsive sites, oscillating, losing its energy to the
    lattice) on the infinite lattice for τ = 30, in Cu3Au (L1₂, EMT force constants, 4 atoms, 2 species: the binned
    kernel with complex moments) and, in the same run, in paper 1's simple cubic lattice (``--fig6``'s set-up: the
    binned kernel of a Bravais lattice), both kernels included, disk cache off."""
    from jaxion.materials import EV

    started = time.perf_counter()
    system, start, velocity, units, barrier = crystal_fig6_system()
    build_s = time.perf_counter() - started
    log(f"  Cu3Au crystal (EMT + phonopy) built in {build_s:.1f} s; {len(system.sites)} sites, barrier {barrier:.3f} eV")
    crystal = _trapped_row(system, start, velocity, 30.0, CRYSTAL_DT)
    log(f"  Cu3Au: kernel {crystal['kernel_s']:.1f} s (K = {crystal['k']}), run {crystal['run_s']:.1f} s")
    cubic_system = jx.System(jx.simple_cubic(15.0, 5.0, 2.0), jx.Gaussian(1.0, 0.5), jx.line_sites(8))
    cubic = _trapped_row(cubic_system, [0.0, 0.0, 7.0], [0.0, 0.0, 7.5], 30.0, 1e-3)
    log(f"  simple cubic: kernel {cubic['kernel_s']:.1f} s (K = {cubic['k']}), run {cubic['run_s']:.1f} s")
    energy_unit_ev = float(units.energy) / EV
    return dict(crystal=crystal, cubic=cubic, build_s=build_s, barrier=barrier, mu=float(system.mass_ratio),
                speed=float(velocity[2]), energy_unit_ev=energy_unit_ev, a=float(system.lattice.primitive_vectors[0, 0]))


def markdown_crystal(env, r) -> str:
    c, s = r["crystal"], r["cubic"]

    def row(name, x):
        return (f"| {name} | {x['atoms']} | {x['sites']} | {x['entries']} | {x['k']} ({x['valid']:.1f}) | {x['steps']} | "
                f"{x['kernel_s']:.1f} | {x['run_s']:.1f} | **{x['total']:.1f}** | {x['energy_error']:.1e} |")

    return "\n".join([
        f"## Fig. 6-like trapped ion in a crystal with a basis (Cu3Au) and in paper 1's simple cubic lattice — "
        f"{_dt.datetime.now(_dt.UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"- command: `python benchmarks/bench_memory.py --crystal` ({env['cpu']}; jax {env['jax']}; load average at start {env['load']})",
        "",
        "Both on the infinite lattice for τ = 30 (memory engine, fft convolution, zone grid K chosen echo-free by "
        "`precompute_kernel`, kernel table by the binned kernel, disk cache off; times are wall times, kernel included). "
        f"Cu3Au (L1₂, EMT force constants by phonopy on 3³ supercells, built in {r['build_s']:.0f} s, not counted): Li "
        f"(6.94 amu, μ = {r['mu']:.4f}) on the line x = y = a/4 along z, started at the tetrahedral site (a/4)(1, 1, 1) "
        f"with 0.4 eV along z (σ' = {r['speed']:.1f} l/τ); Born–Mayer Li–Au 800 eV/0.2 Å, Li–Cu 500 eV/0.2 Å; the 8 "
        f"atoms within 2.6 Å of the trap segment tracked; barrier along the line {r['barrier']:.2f} eV (trapped); "
        f"δ = {CRYSTAL_DT:g} (time unit 2π/Ω, Ω = 2π f_max; energy unit ħΩ = {r['energy_unit_ev'] * 1e3:.1f} meV). "
        "Simple cubic: paper 1's Fig. 6 (k1 = 15, k2 = 5, α = 2, 8 sites α(0,0,j), Φ0 = 1, λ = 1/2, start 3.5α at 7.5, "
        "δ = 1e-3).",
        "",
        "| lattice | atoms/cell | sites | kernel entries (Δn, s, t) | K (echo-free to τ) | steps | kernel (s) | run, first call (s) | "
        "total (s) | energy error |",
        "|---|---|---|---|---|---|---|---|---|---|",
        row("Cu3Au-L12 (complex modes, time-reversal folding)", c),
        row("simple cubic (real modes, 16-fold folding)", s),
        "",
        f"Cu3Au: the ion's z spans {c['z_range'] / r['a']:.3f} a; work on the lattice at τ = 30: {c['work']:.4g} ħΩ "
        f"({c['work'] * r['energy_unit_ev'] * 1e3:.2f} meV). Simple cubic: z spans {s['z_range']:.3f}, work {s['work']:.4g}.",
        "",
    ])


def section_fig8_batches(per_sign: int, duration: float) -> dict:
    """Paper 2's Fig. 8 at full length: ``per_sign`` initial speeds for each sign of Φ0 (geometric in
    [13, 70] repulsive, [6, 70] attractive, as ``jaxion reproduce paper2-fig8 --full`` with 40), each panel
    one ``simulate_memory_batch`` call split over the local devices, as the figure runs it."""
    import math

    from jaxion.figures._paper2_chain import ALPHA, BIAS
    from jaxion.figures.paper2_drift import _biased_runs

    ranges = {"repulsive": (2.0, 13.0), "attractive": (-2.0, 6.0)}
    accel = 4 * np.pi**2 * BIAS / ALPHA
    panels = {}
    for tag, (amplitude, low) in ranges.items():
        speeds = np.round(np.geomspace(low, 70.0, per_sign), 2)
        reach = int(math.ceil((speeds.max() + accel * duration) * duration / ALPHA)) + 4
        runs, seconds = timed(_biased_runs, amplitude, speeds, duration, reach, dt=DT, save_every=12)
        panels[tag] = dict(seconds=seconds, runs=len(runs), sites=reach + 4,
                           worst_energy_error=max(r[3] for r in runs))
        log(f"  {tag}: {len(runs)} runs of {duration:g} τ in {seconds:.1f} s")
    return dict(per_sign=per_sign, duration=duration, devices=len(jax.devices()), panels=panels,
                total=sum(p["seconds"] for p in panels.values()))


def markdown_fig8_batches(env, r) -> str:
    rows = [f"| {tag} | {p['runs']} | {p['sites']} | {p['seconds']:.1f} | {p['seconds'] / p['runs']:.2f} | {p['worst_energy_error']:.1e} |"
            for tag, p in r["panels"].items()]
    return "\n".join([
        f"## Paper 2 Fig. 8 at full length, {2 * r['per_sign']} runs — {_dt.datetime.now(_dt.UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"- command: `XLA_FLAGS=--xla_force_host_platform_device_count=2 python benchmarks/bench_memory.py --fig8-batch "
        f"{r['per_sign']}` ({env['cpu']}; jax {env['jax']}; {r['devices']} devices; load average at start {env['load']})",
        "",
        f"{r['per_sign']} initial speeds per sign of Φ0 = ±2, {r['duration']:g} τ each at δ = 1/600, bias β = 0.01, each panel one "
        "`simulate_memory_batch` call (blocked method, window 8, B = 240), compilation included.",
        "",
        "| panel | runs | tracked masses | wall time (s) | per run (s) | worst energy error |",
        "|---|---|---|---|---|---|",
        *rows,
        f"| **both (target < 600 s)** | {2 * r['per_sign']} | | **{r['total']:.1f}** | {r['total'] / (2 * r['per_sign']):.2f} | |",
        "",
    ])


def main():
    parser = argparse.ArgumentParser(description="Benchmark the memory engine (direct vs blocked convolution).")
    parser.add_argument("--quick", action="store_true", help="the 800-τ run and the two shortest direct runs only")
    parser.add_argument("--duration", type=float, default=800.0, help="length of the Fig. 8-like run (τ)")
    parser.add_argument("--speed", type=float, default=25.0, help="initial speed of the Fig. 8-like run")
    parser.add_argument("--no-append", action="store_true", help="print only; do not append to RESULTS.md")
    parser.add_argument("--results", default=str(HERE / "RESULTS.md"), help="markdown file to append to")
    parser.add_argument("--wait-idle", type=float, default=0.0, metavar="SECONDS",
                        help="first wait up to SECONDS for the 1-min load average to drop below 0.5")
    parser.add_argument("--full-engine", action="store_true",
                        help="only the memory-vs-full-engine row (chain holding the sound cone of the whole run)")
    parser.add_argument("--full-measure", type=float, default=20.0, help="τ over which the full engine is timed")
    parser.add_argument("--fig8-batch", type=int, default=0, metavar="N",
                        help="only paper 2's Fig. 8 at full length with N initial speeds per sign (batched, as the figure)")
    parser.add_argument("--fig6", action="store_true", help="only paper 1's Fig. 6 on the infinite lattice (binned kernel, fft run)")
    parser.add_argument("--direct-measure", type=float, default=6.0, help="τ over which --fig6 times the direct sum")
    parser.add_argument("--crystal", action="store_true",
                        help="only the Fig. 6-like trapped ion in Cu3Au (basis, binned kernel) beside the simple cubic one, τ = 30")
    args = parser.parse_args()
    deadline = time.time() + args.wait_idle
    while os.getloadavg()[0] > 0.5 and time.time() < deadline:
        time.sleep(5)
    env = machine_description()
    log(f"{env['cpu']}; jax {env['jax']}; load {env['load']}")
    if args.fig8_batch:
        report(markdown_fig8_batches(env, section_fig8_batches(args.fig8_batch, args.duration)), args.results, not args.no_append)
        return
    if args.fig6:
        report(markdown_fig6(env, section_fig6(args.direct_measure)), args.results, not args.no_append)
        return
    if args.crystal:
        report(markdown_crystal(env, section_crystal()), args.results, not args.no_append)
        return
    if args.full_engine:
        report(markdown_full(env, section_full_engine(args.duration, args.speed, args.full_measure)), args.results, not args.no_append)
        return
    log("1. Fig. 8-like run")
    fig8 = section_fig8(args.duration, args.speed)
    trapped_long = section_trapped_long(args.duration)
    log("2. direct vs blocked")
    fig8_durations = [2.5, 5.0] if args.quick else [2.5, 5.0, 10.0, 20.0]
    trapped_durations = [5.0, 10.0] if args.quick else [5.0, 10.0, 20.0, 40.0]
    fig8_rows = section_scaling(fig8_durations, args.speed, trapped=False)
    trapped_rows = section_scaling(trapped_durations, args.speed, trapped=True)
    report(markdown(env, fig8, trapped_long, fig8_rows, trapped_rows, args.duration), args.results, not args.no_append)
    if not args.quick:
        log("3. paper 1's Fig. 6 on the infinite lattice")
        report(markdown_fig6(env, section_fig6(args.direct_measure)), args.results, not args.no_append)


if __name__ == "__main__":
    main()
