"""Benchmark of jaxion's full engine against the plain NumPy/SciPy baseline (``baseline_numpy.py``).

One command measures everything and appends the tables to ``benchmarks/RESULTS.md``::

    python benchmarks/bench_full_engine.py            # default, ~5-10 min on 2 CPU cores
    python benchmarks/bench_full_engine.py --quick    # chain + cubic 20^3 passes only, ~2 min

Sections (see ``benchmarks/README.md`` for what every column means):

1. framework-force evaluations ``Ξρ``: jaxion's ``Lattice.apply_coupling`` (jitted, per call and inside
   a compiled loop) vs a SciPy CSR mat-vec, for the chain (N = 200, 10 000) and simple cubic 20³, 50³;
2. compile time vs run time of a jaxion pass (eager ``jx.simulate_pass`` and a jitted wrapper);
3. wall time to a pass whose loss is accurate to 1e-4 relative: for each code and integrator the
   cheapest setting on a ladder (rtol or fixed step) whose loss is within 1e-4 of a tightly converged
   reference, and the time per pass at the default tolerances;
4.-5. time per pass at the default tolerances and where the time of one step goes;
6. the fused velocity-Verlet loop (``solver="verlet"``, default dt): atom-steps/s, bytes a step must
   move at least and the effective bandwidth, for the chain and cubic 20³, 50³ (50³ also in --quick);
7. a paper-1 Fig. 4 curve at 50³ (50 speeds 1–80, s = 0, λ = 1) end to end, jaxion Verlet vs the
   baseline's best (SciPy DOP853 on the CSR lattice at the cheapest rtol accurate to 1e-3), both
   estimated from a few speeds in --quick mode (see the notes printed with the table); and the memory
   engine on the periodic 50³ kernel (``simulate_memory(supercell=(50, 50, 50))``: the same supercell, echoes
   included, through the one interacting site), measured, with its losses against DOP853's probes.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

# The baseline's BLAS work (solve_ivp's stage combinations) is memory-bound gemv; a multi-threaded
# OpenBLAS gains nothing there and slows down ~10x when another process competes for the two cores
# (busy-waiting threads). Pin it to one thread unless the caller chose otherwise. XLA keeps its default.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import equinox as eqx  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import scipy  # noqa: E402
from baseline_numpy import coupling_matrix, dop853_pass, make_problem, rk4_pass  # noqa: E402
from machine import machine_description  # noqa: E402

import jaxion as jx  # noqa: E402  (enables float64)

warnings.simplefilter("ignore", jx.EchoWarning)

TOLERANCE = 1e-4  # target relative accuracy of the loss
RTOL_LADDER = [1e-4, 3e-5, 1e-5, 3e-6, 1e-6, 3e-7, 1e-7, 3e-8, 1e-8, 3e-9, 1e-9]
ATOL_OVER_RTOL = 1e-3  # atol = 1e-3 rtol on every rung (jaxion's defaults are rtol=1e-9, atol=1e-12)
STEPS_LADDER = [20, 25, 32, 40, 50, 64, 80, 100, 128, 160, 200, 256, 320, 400, 512, 640, 800]
STABILITY = {"tsit5": 2.5, "rk4": 2.5}  # largest 2π ω_max dt used (jaxion's tsit5 limit; RK4's is 2.83)
REFERENCE_RTOL = 1e-12
REFERENCE_ATOL = ATOL_OVER_RTOL * REFERENCE_RTOL


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def median_time(fn, min_repeats=3, max_repeats=200, target_s=0.3):
    """Median wall time of ``fn()`` over repeats (enough repeats to fill ~target_s)."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    repeats = int(np.clip(target_s / max(first, 1e-7), min_repeats, max_repeats))
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def fmt_time(seconds: float) -> str:
    if seconds != seconds:  # nan
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1.0:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def table(header, rows) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# ============================================================================ 1. force evaluations


def bench_force(label, lattice, supercell):
    supercell = tuple(supercell)
    n_atoms = int(np.prod(supercell))
    dof = lattice.dof
    x_np = np.random.default_rng(0).standard_normal((dof, *supercell))
    x = jnp.asarray(x_np)
    min_bytes = 2 * dof * n_atoms * 8

    # jaxion: jitted apply_coupling, one dispatch per evaluation (lattice baked into the closure).
    per_call = jax.jit(lambda y: lattice.apply_coupling(y))
    per_call(x).block_until_ready()
    t_call = median_time(lambda: per_call(x).block_until_ready())

    # jaxion: evaluations inside one compiled loop (what an integrator sees): y <- y - c Ξ y.
    c = 1.0 / lattice.max_frequency(supercell) ** 2
    inner = max(10, min(2000, int(2e7 / (dof * n_atoms))))

    @eqx.filter_jit
    def loop(lat, y):
        return jax.lax.fori_loop(0, inner, lambda i, z: z - c * lat.apply_coupling(z), y)

    loop(lattice, x).block_until_ready()
    t_loop = median_time(lambda: loop(lattice, x).block_until_ready(), min_repeats=5, max_repeats=20) / inner

    # SciPy: CSR matrix assembled once, then xi @ x.
    t0 = time.perf_counter()
    xi = coupling_matrix(lattice, supercell)
    t_assembly = time.perf_counter() - t0
    flat = x_np.reshape(-1)
    err = np.max(np.abs(xi @ flat - np.asarray(per_call(x)).reshape(-1))) / np.max(np.abs(flat))
    assert err < 1e-12, f"{label}: CSR and stencil disagree ({err:.2e})"
    t_scipy = median_time(lambda: xi @ flat)
    csr_bytes = xi.data.nbytes + xi.indices.nbytes + xi.indptr.nbytes

    return dict(
        label=label,
        atoms=n_atoms,
        dof=dof,
        t_call=t_call,
        t_loop=t_loop,
        t_scipy=t_scipy,
        nnz=xi.nnz,
        csr_bytes=csr_bytes,
        min_bytes=min_bytes,
        assembly=t_assembly,
    )


def force_table(results) -> str:
    rows = []
    for r in results:
        n = r["atoms"]
        rows.append(
            [
                r["label"],
                f"{n:,}",
                fmt_time(r["t_call"]),
                fmt_time(r["t_loop"]),
                fmt_time(r["t_scipy"]),
                f"{1 / r['t_loop']:.3g}",
                f"{1 / r['t_scipy']:.3g}",
                f"{n / r['t_loop']:.3g}",
                f"{n / r['t_scipy']:.3g}",
                f"{r['t_scipy'] / r['t_call']:.2f}",
                f"{r['t_scipy'] / r['t_loop']:.2f}",
                f"{r['min_bytes'] / 1e6:.3g}",
                f"{r['min_bytes'] / r['t_loop'] / 1e9:.2f}",
                f"{r['min_bytes'] / r['t_scipy'] / 1e9:.2f} ({(r['min_bytes'] + r['csr_bytes']) / r['t_scipy'] / 1e9:.2f})",
            ]
        )
    header = [
        "lattice",
        "atoms N",
        "jaxion per call",
        "jaxion in loop",
        "scipy CSR",
        "jaxion evals/s",
        "scipy evals/s",
        "jaxion atom-evals/s",
        "scipy atom-evals/s",
        "speed-up per call",
        "speed-up in loop",
        "min MB/eval",
        "jaxion GB/s",
        "scipy GB/s (incl. matrix)",
    ]
    return table(header, rows)


# ============================================================================ pass cases


@dataclass
class Case:
    label: str
    system: object
    speed: float
    supercell: tuple
    impact: tuple
    eager: bool = True  # also time the eager jx.simulate_pass API
    default_solvers: tuple = ("tsit5", "dopri8")
    compile_rtol: float = 1e-9  # rtol of the jitted calls timed in section 2
    omega_max: float = 0.0
    transit: float = 0.0
    atoms: int = 0
    runner: object = None
    problem: object = None
    assembly: float = 0.0
    first_call: dict = field(default_factory=dict)

    def setup(self):
        lat = self.system.lattice
        self.omega_max = lat.max_frequency(self.supercell)
        self.transit = float(jx.pass_geometry(self.system, (0.0, 0.0, 1.0), self.impact).path_length) / self.speed
        self.atoms = int(np.prod(self.supercell))
        self.runner = JaxionRunner(self)
        t0 = time.perf_counter()
        self.problem = make_problem(self.system, self.supercell, impact=self.impact)
        self.assembly = time.perf_counter() - t0


class JaxionRunner:
    """jit-compiled passes; speed, rtol, atol and dt are traced, so every ladder rung reuses one
    compilation per (solver, step-size control)."""

    def __init__(self, case: Case):
        supercell, impact, omega = case.supercell, case.impact, case.omega_max

        @eqx.filter_jit
        def adaptive(system, speed, rtol, atol, solver):
            r = jx.simulate_pass(
                system, speed, supercell, impact=impact, solver=solver, rtol=rtol, atol=atol, max_frequency=omega, check_echo=False,
                throw=False,
            )
            return r.loss, r.num_steps, r.status, r.stopped_by_event, r.energy_drift

        @eqx.filter_jit
        def fixed(system, speed, dt, solver):
            r = jx.simulate_pass(
                system, speed, supercell, impact=impact, solver=solver, dt=dt, max_frequency=omega, check_echo=False, throw=False
            )
            return r.loss, r.num_steps, r.status, r.stopped_by_event, r.energy_drift

        self.case = case
        self._adaptive, self._fixed = adaptive, fixed
        self.compiled = {}

    def __call__(self, solver, *, rtol=None, dt=None):
        case = self.case
        speed = jnp.asarray(case.speed)
        if dt is None:
            call = lambda: self._adaptive(case.system, speed, jnp.asarray(rtol), jnp.asarray(ATOL_OVER_RTOL * rtol), solver)  # noqa: E731
            key = (solver, "adaptive")
        else:
            call = lambda: self._fixed(case.system, speed, jnp.asarray(dt), solver)  # noqa: E731
            key = (solver, "fixed")
        t0 = time.perf_counter()
        out = jax.block_until_ready(call())
        wall = time.perf_counter() - t0
        if key not in self.compiled:
            # First call of this configuration: compile + run. Time a second (warm) call.
            first = wall
            t0 = time.perf_counter()
            out = jax.block_until_ready(call())
            wall = time.perf_counter() - t0
            self.compiled[key] = (first, wall)
            case.first_call[key] = (first, wall)
        elif wall < 0.5:
            wall = min(wall, median_time(lambda: jax.block_until_ready(call()), min_repeats=2, max_repeats=5, target_s=0.5))
        loss, steps, result, stopped, drift = (np.asarray(o).item() for o in out)
        ok = result == 0 and bool(stopped)
        return dict(loss=loss, steps=int(steps), nfev=None, wall=wall, ok=ok, drift=drift)


def baseline_run(case: Case, method, *, rtol=None, dt=None):
    if method == "dop853":
        call = lambda: dop853_pass(case.problem, case.speed, rtol, ATOL_OVER_RTOL * rtol)  # noqa: E731
    else:
        call = lambda: rk4_pass(case.problem, case.speed, dt)  # noqa: E731
    t0 = time.perf_counter()
    r = call()
    wall = time.perf_counter() - t0
    if wall < 0.5:
        walls = [wall]
        for _ in range(2):
            t0 = time.perf_counter()
            call()
            walls.append(time.perf_counter() - t0)
        wall = float(np.median(walls))
    return dict(loss=r.loss, steps=r.num_steps, nfev=r.num_rhs, wall=wall, ok=r.stopped, drift=float("nan"))


# ============================================================================ 2. compile vs run


def bench_compile(case: Case):
    """Eager API (as documented) twice, then the jitted wrapper cold and warm, at jaxion's defaults."""
    row = dict(label=case.label, rtol=case.compile_rtol)
    system, speed, supercell, impact = case.system, case.speed, case.supercell, case.impact
    t0 = time.perf_counter()
    jx.supercell_echo_time(system.lattice, supercell)
    row["echo_check"] = time.perf_counter() - t0
    if case.eager:
        walls = []
        for _ in range(2):
            t0 = time.perf_counter()
            r = jx.simulate_pass(system, speed, supercell, impact=impact)
            float(r.loss)
            walls.append(time.perf_counter() - t0)
        row["eager1"], row["eager2"] = walls
    else:
        row["eager1"] = row["eager2"] = float("nan")
    if ("tsit5", "adaptive") not in case.runner.compiled:
        case.runner("tsit5", rtol=case.compile_rtol)
    first, warm = case.runner.compiled[("tsit5", "adaptive")]
    row["jit_first"], row["jit_warm"] = first, warm
    row["compile"] = first - warm
    return row


def compile_table(rows) -> str:
    out = []
    for r in rows:
        out.append(
            [
                f"{r['label']} (jitted at rtol={r['rtol']:g})",
                fmt_time(r["eager1"]),
                fmt_time(r["eager2"]),
                fmt_time(r["echo_check"]),
                fmt_time(r["jit_first"]),
                fmt_time(r["jit_warm"]),
                fmt_time(r["compile"]),
            ]
        )
    header = [
        "case (tsit5 adaptive; eager at defaults rtol=1e-9, atol=1e-12)",
        "eager simulate_pass 1st call",
        "eager 2nd call (same args)",
        "of which supercell_echo_time",
        "jitted wrapper 1st call",
        "jitted warm call (run)",
        "compile ≈ 1st − warm",
    ]
    return table(header, out)


# ============================================================================ 3. accuracy ladders


def stable_steps(case: Case, method):
    dt_max = STABILITY[method] / (2 * np.pi * case.omega_max)
    return [n for n in STEPS_LADDER if case.transit / n <= dt_max]


def walk_ladder(case: Case, reference, name, run, rungs, budget_s):
    """Run rungs cheap -> expensive; select the first rung that passes and whose next finer rung also
    passes (robust against lucky error cancellations)."""
    records, spent, chosen = [], 0.0, None
    for i, rung in enumerate(rungs):
        rec = run(rung)
        rec["rung"] = rung
        rec["err"] = abs(rec["loss"] - reference) / abs(reference)
        rec["passes"] = rec["ok"] and rec["err"] < TOLERANCE
        records.append(rec)
        spent += rec["wall"]
        log(f"    {case.label:14s} {name:22s} {rung!s:>8s}: err {rec['err']:.2e} steps {rec['steps']:5d} wall {fmt_time(rec['wall'])}")
        if len(records) >= 2 and records[-2]["passes"] and rec["passes"]:
            chosen = records[-2]
            break
        if spent > budget_s:
            break
    if chosen is None and records and records[-1]["passes"]:
        chosen = records[-1]
    return records, chosen


def bench_accuracy(case: Case, budget_s: float):
    log(f"  reference for {case.label}")
    t0 = time.perf_counter()
    ref_base = dop853_pass(case.problem, case.speed, REFERENCE_RTOL, REFERENCE_ATOL)
    t_ref_base = time.perf_counter() - t0
    reference = ref_base.loss
    cross = None
    if case.label.startswith("cubic 50"):
        cross_label = "jaxion tsit5 rtol=1e-9 (default row)"
    else:
        r = case.runner("dopri8", rtol=REFERENCE_RTOL)
        cross = r["loss"]
        cross_label = f"jaxion dopri8 rtol={REFERENCE_RTOL:g}, atol={REFERENCE_ATOL:g}"
    log(f"    reference loss {reference:.12e} ({fmt_time(t_ref_base)}), cross-check {cross}")

    methods = [
        ("jaxion", "tsit5 adaptive", lambda rt: case.runner("tsit5", rtol=rt), RTOL_LADDER, "rtol"),
        ("jaxion", "dopri8 adaptive", lambda rt: case.runner("dopri8", rtol=rt), RTOL_LADDER, "rtol"),
        ("jaxion", "tsit5 fixed dt", lambda n: case.runner("tsit5", dt=case.transit / n), stable_steps(case, "tsit5"), "n"),
        ("baseline", "RK4 fixed dt", lambda n: baseline_run(case, "rk4", dt=case.transit / n), stable_steps(case, "rk4"), "n"),
        ("baseline", "SciPy DOP853", lambda rt: baseline_run(case, "dop853", rtol=rt), RTOL_LADDER[2:], "rtol"),
    ]
    summary, details, baseline_best = [], [], None
    for code, name, run, rungs, kind in methods:
        records, chosen = walk_ladder(case, reference, f"{code} {name}", run, rungs, budget_s)
        if code == "baseline" and chosen is not None and (baseline_best is None or chosen["wall"] < baseline_best[0]):
            baseline_best = (chosen["wall"], f"{name} {setting_text(kind, chosen['rung'], case)}")
        for rec in records:
            details.append([case.label, f"{code} {name}", setting_text(kind, rec["rung"], case), rec["steps"],
                            "-" if rec["nfev"] is None else rec["nfev"], f"{rec['err']:.1e}", fmt_time(rec["wall"]),
                            "✓" if rec["passes"] else ""])
        if code == "jaxion":
            key = (name.split()[0], "fixed" if kind == "n" else "adaptive")
            first, warm = case.runner.compiled.get(key, (float("nan"), float("nan")))
            setup = first - warm
        else:
            setup = case.assembly
        if chosen is None:
            summary.append([case.label, code, name, "not reached on the ladder", "-", "-", "-", "-", fmt_time(setup), "-"])
        else:
            summary.append(
                [
                    case.label,
                    code,
                    name,
                    setting_text(kind, chosen["rung"], case),
                    chosen["steps"],
                    f"{chosen['err']:.1e}",
                    f"**{fmt_time(chosen['wall'])}**",
                    f"{case.atoms * chosen['steps'] / chosen['wall']:.3g}",
                    fmt_time(setup),
                    fmt_time(setup + chosen["wall"]),
                ]
            )
    return dict(reference=reference, t_ref=t_ref_base, cross=cross, cross_label=cross_label, baseline_best=baseline_best), summary, details


def setting_text(kind, rung, case):
    if kind == "rtol":
        return f"rtol={rung:g}, atol={ATOL_OVER_RTOL * rung:g}"
    return f"dt=T/{rung}={case.transit / rung:.3g}"


def bench_defaults(case: Case, reference):
    """Time per pass at jaxion's default tolerances (rtol=1e-9, atol=1e-12), same for DOP853."""
    rows = []
    for solver in case.default_solvers:
        r = case.runner(solver, rtol=1e-9)
        rows.append([case.label, f"jaxion {solver}", "rtol=1e-9, atol=1e-12", r["steps"],
                     f"{abs(r['loss'] - reference) / abs(reference):.1e}", fmt_time(r["wall"]), fmt_time(r["wall"] / r["steps"]),
                     f"{case.atoms * r['steps'] / r['wall']:.3g}", f"{r['drift']:.1e}"])
    r = baseline_run(case, "dop853", rtol=1e-9)
    rows.append([case.label, "baseline DOP853", "rtol=1e-9, atol=1e-12", r["steps"], f"{abs(r['loss'] - reference) / abs(reference):.1e}",
                 fmt_time(r["wall"]), fmt_time(r["wall"] / r["steps"]), f"{case.atoms * r['steps'] / r['wall']:.3g}", "-"])
    n = max(stable_steps(case, "rk4")[0], 100)
    r = baseline_run(case, "rk4", dt=case.transit / n)
    rows.append([case.label, "baseline RK4", f"dt=T/{n}", r["steps"], f"{abs(r['loss'] - reference) / abs(reference):.1e}",
                 fmt_time(r["wall"]), fmt_time(r["wall"] / r["steps"]), f"{case.atoms * r['steps'] / r['wall']:.3g}", "-"])
    return rows


# ============================================================================ 5. step-cost breakdown


def bench_breakdown(case: Case, baseline_step_s: float):
    """Per-step cost of the pieces of a jaxion step, each inside one compiled fori_loop."""
    import diffrax

    from jaxion.dynamics._framework import FullArgs, FullState, site_index  # private: diagnosis only

    system, lattice, supercell = case.system, case.system.lattice, case.supercell
    index = site_index(system.site_cells, system.site_atoms, supercell, lattice.dof)
    line = jnp.asarray([0.0, 0.0, 1.0])
    args = FullArgs(system, index, line, jnp.zeros(3), None, index)  # as `simulate` builds them

    def _vector_field(t, y, a):
        return a.rates(y)
    field_ = 1e-4 * jnp.asarray(np.random.default_rng(1).standard_normal((lattice.dof, *supercell)))
    state = FullState(jnp.asarray([0.0, 0.0, -1.0]), jnp.asarray([0.0, 0.0, case.speed]), field_, field_)
    h = 1e-3
    inner = max(3, min(200, int(3e6 / (lattice.dof * case.atoms))))
    tree_map = jax.tree_util.tree_map

    def looped(body, init):
        fn = eqx.filter_jit(lambda a, y: jax.lax.fori_loop(0, inner, lambda i, c: body(a, c), y))
        jax.block_until_ready(fn(args, init))
        return median_time(lambda: jax.block_until_ready(fn(args, init)), min_repeats=3, max_repeats=10, target_s=1.0) / inner

    def roll_body(a, y):
        return y - 1e-3 * a.system.lattice.apply_coupling(y)

    def rhs_body(a, y):
        return tree_map(lambda u, d: u + h * d, y, _vector_field(0.0, y, a))

    def rk4_body(a, y):
        f = lambda z: _vector_field(0.0, z, a)  # noqa: E731
        k1 = f(y)
        k2 = f(tree_map(lambda u, k: u + 0.5 * h * k, y, k1))
        k3 = f(tree_map(lambda u, k: u + 0.5 * h * k, y, k2))
        k4 = f(tree_map(lambda u, k: u + h * k, y, k3))
        return tree_map(lambda u, a1, a2, a3, a4: u + h / 6 * (a1 + 2 * a2 + 2 * a3 + a4), y, k1, k2, k3, k4)

    def diffrax_body(solver, term):
        def body(a, carry):
            y, fsal = carry
            y1, _, _, fsal, _ = solver.step(term, 0.0, h, y, a, fsal, made_jump=False)
            return (y1, fsal)

        return body

    def diffrax_time(solver, term):
        fsal = solver.init(term, 0.0, h, state, args)
        return looped(diffrax_body(solver, term), (state, fsal))

    trivial = diffrax.ODETerm(lambda t, y, a: FullState(y.ion_velocity, -y.ion_position, y.velocity, -y.displacement))
    jaxion_term = diffrax.ODETerm(_vector_field)
    row = dict(
        label=case.label,
        roll=looped(roll_body, field_),
        rhs=looped(rhs_body, state),
        rk4=looped(rk4_body, state),
        tsit5=diffrax_time(diffrax.Tsit5(), jaxion_term),
        tsit5_trivial=diffrax_time(diffrax.Tsit5(), trivial),
        dopri8=diffrax_time(diffrax.Dopri8(), jaxion_term),
        dopri8_trivial=diffrax_time(diffrax.Dopri8(), trivial),
        numpy_rk4=baseline_step_s,
    )
    return row


def breakdown_table(rows) -> str:
    out = []
    for r in rows:
        out.append(
            [
                r["label"],
                fmt_time(r["roll"]),
                fmt_time(r["rhs"]),
                fmt_time(r["rk4"]),
                fmt_time(r["numpy_rk4"]),
                fmt_time(r["tsit5"]),
                fmt_time(r["tsit5_trivial"]),
                fmt_time(r["dopri8"]),
                fmt_time(r["dopri8_trivial"]),
            ]
        )
    header = [
        "case",
        "Ξρ (stencil: periodic pad + shifted slices)",
        "jaxion RHS (_vector_field)",
        "hand-written JAX RK4 step (4 RHS)",
        "NumPy/SciPy RK4 step (4 RHS)",
        "diffrax Tsit5 step (6 RHS)",
        "diffrax Tsit5 step, trivial RHS",
        "diffrax Dopri8 step (12 RHS)",
        "diffrax Dopri8 step, trivial RHS",
    ]
    return table(header, out)


# ============================================================================ 6. fused Verlet loop

FIG4_SPEEDS = np.geomspace(1.0, 80.0, 50)
# DOP853 at rtol 1e-6 is within 1e-3 at v = 20 (section 3) but off by a factor 3 at v = 80 (6 steps: the
# controller steps over the short interaction); 1e-8, its 1e-4 rung at 50³, is accurate over the curve.
FIG4_BASELINE_RTOL = 1e-8


def verlet_runner(supercell, impact, omega_max):
    """A jitted pass with the fused Verlet loop at its default dt; the speed is traced (one compilation)."""

    @eqx.filter_jit
    def run(system, speed):
        r = jx.simulate_pass(
            system, speed, supercell, impact=impact, solver="verlet", max_frequency=omega_max, check_echo=False, throw=False
        )
        return r.loss, r.num_steps, r.status, r.stopped_by_event, r.energy_drift

    def call(system, speed):
        out = jax.block_until_ready(run(system, jnp.asarray(float(speed))))
        loss, steps, result, stopped, drift = (np.asarray(o).item() for o in out)
        return dict(loss=loss, steps=int(steps), ok=result == 0 and bool(stopped), drift=drift)

    return call


def bench_fused(label, system, speed, supercell, impact, reference=None, baseline_best=None, scipy_evals=None):
    """Warm and cold wall time of one Verlet pass; per-step throughput and bandwidth."""
    omega = system.lattice.max_frequency(supercell)
    run = verlet_runner(supercell, impact, omega)
    t0 = time.perf_counter()
    run(system, speed)
    first = time.perf_counter() - t0
    out = {}
    wall = median_time(lambda: out.update(run(system, speed)), min_repeats=2, max_repeats=20, target_s=1.0)
    atoms, dof = int(np.prod(supercell)), system.lattice.dof
    min_bytes = 4 * dof * atoms * 8  # read ρ, ρ' and write them back, float64
    step = wall / out["steps"]
    dt = float(jx.dynamics.full.verlet_time_step(omega, speed, float(system.potential.range)))
    return dict(
        label=label,
        dt=dt,
        steps=out["steps"],
        err=float("nan") if reference is None else abs(out["loss"] - reference) / abs(reference),
        drift=out["drift"] / out["loss"],
        wall=wall,
        compile=first - wall,
        step=step,
        atom_steps=atoms * out["steps"] / wall,
        min_bytes=min_bytes,
        bandwidth=min_bytes / step / 1e9,
        evals_ratio=float("nan") if scipy_evals is None else (1 / step) / scipy_evals,
        baseline=baseline_best,
        ok=out["ok"],
    )


def fused_table(rows) -> str:
    out = []
    for r in rows:
        base = r["baseline"]
        out.append(
            [
                r["label"],
                f"{r['dt']:.3g}",
                r["steps"],
                "-" if r["err"] != r["err"] else f"{r['err']:.1e}",
                f"{r['drift']:.1e}",
                f"**{fmt_time(r['wall'])}**",
                fmt_time(r["compile"]),
                fmt_time(r["step"]),
                f"{r['atom_steps']:.3g}",
                f"{r['min_bytes'] / 1e6:.3g}",
                f"{r['bandwidth']:.2f}",
                "-" if r["evals_ratio"] != r["evals_ratio"] else f"{r['evals_ratio']:.1f}",
                "-" if base is None else f"{base[1]}: {fmt_time(base[0])} ({base[0] / r['wall']:.1f}×)",
            ]
        )
    header = [
        "case",
        "dt (default rule)",
        "steps",
        "rel. error",
        "energy drift / loss",
        "wall (warm)",
        "compile",
        "wall/step (1 force eval)",
        "atom-steps/s",
        "min MB/step",
        "effective GB/s",
        "force evals/s vs scipy CSR",
        "baseline's best to 1e-4 (speed-up)",
    ]
    return table(header, out)


# ============================================================================ 7. Fig. 4 curve at 50³


def bench_fig4(system, supercell, quick: bool):
    """Loss curve over FIG4_SPEEDS (s = 0): jaxion Verlet (one compilation, passes in sequence: on a CPU
    a vmapped batch would run every member for as many steps as the slowest) vs SciPy DOP853.

    The baseline is timed at a few speeds and its curve time estimated from a least-squares fit
    ``wall = a·T + b`` in the transit time ``T = path/v`` (its steps are set by the lattice, so they grow
    with ``T``). In --quick mode jaxion is timed the same way (wall ∝ predicted steps)."""
    impact = (0.0, 0.0, 0.0)
    omega = system.lattice.max_frequency(supercell)
    path = float(jx.pass_geometry(system, (0.0, 0.0, 1.0), impact).path_length)
    transits = path / FIG4_SPEEDS
    run = verlet_runner(supercell, impact, omega)
    t0 = time.perf_counter()
    run(system, FIG4_SPEEDS[-1])
    compile_s = time.perf_counter() - t0
    problem = make_problem(system, supercell, impact=impact)
    probe = [80.0, 40.0, 20.0, 10.0] if quick else [80.0, 20.0, 5.0, 2.0, 1.0]
    probes = []
    for v in probe:
        t0 = time.perf_counter()
        mine = run(system, v)
        t_mine = time.perf_counter() - t0
        t0 = time.perf_counter()
        base = dop853_pass(problem, v, FIG4_BASELINE_RTOL, ATOL_OVER_RTOL * FIG4_BASELINE_RTOL)
        t_base = time.perf_counter() - t0
        probes.append(dict(speed=v, t_mine=t_mine, steps=mine["steps"], t_base=t_base, base_steps=base.num_steps, base_loss=base.loss,
                           diff=abs(mine["loss"] - base.loss) / abs(base.loss)))
        log(f"    fig4 probe v={v:g}: verlet {fmt_time(t_mine)} ({mine['steps']} steps), DOP853 {fmt_time(t_base)} "
            f"({base.num_steps} steps), rel. diff {probes[-1]['diff']:.1e}")
    a, b = np.polyfit([path / p["speed"] for p in probes], [p["t_base"] for p in probes], 1)
    baseline_curve = float(np.sum(np.maximum(a * transits + b, 0.0)))
    if quick:
        per_step = sum(p["t_mine"] for p in probes) / sum(p["steps"] for p in probes)
        dts = np.asarray([float(jx.dynamics.full.verlet_time_step(omega, v, float(system.potential.range))) for v in FIG4_SPEEDS])
        steps = int(np.sum(np.ceil(transits / dts)))
        jaxion_curve, measured = per_step * steps, False
    else:
        t0 = time.perf_counter()
        results = [run(system, v) for v in FIG4_SPEEDS]
        jaxion_curve, measured = time.perf_counter() - t0, True
        steps = sum(r["steps"] for r in results)
        assert all(r["ok"] for r in results), "a Fig. 4 pass failed"
    memory = bench_fig4_memory(system, supercell, [p["speed"] for p in probes])
    for p, loss in zip(probes, memory["probe_losses"]):
        p["memory_diff"] = abs(loss - p["base_loss"]) / abs(p["base_loss"])
    return dict(
        probes=probes, fit=(a, b), baseline=baseline_curve, jaxion=jaxion_curve, measured=measured, steps=steps, compile=compile_s,
        atoms=int(np.prod(supercell)), memory=memory,
    )


def bench_fig4_memory(system, supercell, probe_speeds):
    """The same curve with the memory engine on the periodic supercell (``simulate_memory(supercell=(K, K, K))``):
    the kernel of the 50³ supercell's modes between the one interacting site and itself, then every
    speed (and the baseline's probe speeds, for the accuracy check) in one ``simulate_memory_batch``
    call. Everything is timed cold: kernel (no disk cache), compilation and the runs."""
    speeds = np.concatenate([FIG4_SPEEDS, np.asarray(probe_speeds, float)])
    omega = system.lattice.max_frequency(supercell)
    dt = 0.05 / omega
    path = float(jx.pass_geometry(system, (0.0, 0.0, 1.0), (0.0, 0.0, 0.0)).path_length)
    duration = 1.25 * path / speeds.min() + 1.0  # every ion is past the site and out of range by then
    starts = np.tile([0.0, 0.0, -path / 2], (speeds.size, 1))
    velocities = np.column_stack([np.zeros_like(speeds), np.zeros_like(speeds), speeds])
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jx.EchoWarning)  # the 50³ echoes are part of the curve, as in the full engine
        out = jx.simulate_memory_batch(system, starts, velocities, duration, dt=dt, constraint=[0, 0, 1], supercell=tuple(supercell),
                                       save_times=[0.0], cache=False, save_sites=False)  # the loss needs only the final state
    wall = time.perf_counter() - t0
    steps = int(np.asarray(out.num_steps)[0])
    log(f"    memory engine, periodic {supercell[0]}³ kernel: {speeds.size} passes in {fmt_time(wall)} ({steps} steps of dt={dt:g} each)")
    return dict(wall=wall, members=int(speeds.size), steps=steps, dt=dt, probe_losses=np.asarray(out.loss)[FIG4_SPEEDS.size:])


def fig4_report(r) -> str:
    probe_rows = [
        [f"{p['speed']:g}", fmt_time(p["t_mine"]), p["steps"], fmt_time(p["t_base"]), p["base_steps"], f"{p['diff']:.1e}",
         f"{p['t_base'] / p['t_mine']:.1f}×", f"{p['memory_diff']:.1e}"] for p in r["probes"]
    ]
    how = "measured (all 50 passes)" if r["measured"] else "estimated: probe wall/step × predicted steps"
    return "\n".join(
        [
            f"50 speeds geomspace(1, 80), 50³, s = 0, λ = 1, Φ0 = 0.01. Baseline: SciPy DOP853, rtol={FIG4_BASELINE_RTOL:g}, "
            f"atol={ATOL_OVER_RTOL * FIG4_BASELINE_RTOL:g}, OpenBLAS 1 thread; its curve time is estimated from the probes "
            f"by the fit wall = {r['fit'][0]:.3g}·T + {r['fit'][1]:.3g} s (T = transit time), summed over the 50 speeds.",
            "",
            table(["speed", "jaxion verlet (warm)", "steps", "baseline DOP853", "steps", "rel. diff of losses", "speed-up",
                   "memory engine vs DOP853"], probe_rows),
            "",
            table(
                ["curve", "jaxion", "baseline DOP853 (estimated)", "speed-up"],
                [
                    [f"Verlet: {r['steps']:,} steps, {r['atoms'] * r['steps']:.3g} atom-steps",
                     f"**{fmt_time(r['jaxion'])}** ({how}) + compile {fmt_time(r['compile'])}", fmt_time(r["baseline"]),
                     f"**{r['baseline'] / r['jaxion']:.1f}×** ({r['baseline'] / (r['jaxion'] + r['compile']):.1f}× with compile)"],
                    [f"memory engine on the periodic 50³ kernel: {r['memory']['members']} passes (the 50 + the probes) × "
                     f"{r['memory']['steps']} steps, dt = {r['memory']['dt']:g}",
                     f"**{fmt_time(r['memory']['wall'])}** (measured, cold: kernel + compile + runs)", fmt_time(r["baseline"]),
                     f"**{r['baseline'] / r['memory']['wall']:.1f}×**"],
                ],
            ),
        ]
    )


# ============================================================================ main


def environment() -> dict:
    return dict(
        machine_description(),
        versions=f"python {platform.python_version()}, jax {jax.__version__}, diffrax {__import__('diffrax').__version__}, "
        f"equinox {eqx.__version__}, numpy {np.__version__}, scipy {scipy.__version__}, jaxion {jx.__version__}",
    )


def main():
    parser = argparse.ArgumentParser(description="Benchmark jaxion's full engine against NumPy/SciPy.")
    parser.add_argument("--quick", action="store_true", help="skip the 50^3 passes and shorten the ladders (~2 min)")
    parser.add_argument("--no-append", action="store_true", help="print only; do not append to RESULTS.md")
    parser.add_argument("--no-fig4", action="store_true", help="skip section 7 (the Fig. 4 curve at 50^3)")
    parser.add_argument("--results", default=str(HERE / "RESULTS.md"), help="markdown file to append to")
    parser.add_argument(
        "--wait-idle", type=float, default=0.0, metavar="SECONDS",
        help="first wait up to SECONDS for the 1-min load average to drop below 0.5",
    )
    args = parser.parse_args()
    deadline = time.time() + args.wait_idle
    while os.getloadavg()[0] > 0.5 and time.time() < deadline:
        time.sleep(5)
    t_start = time.perf_counter()
    env = environment()
    log(f"device {env['devices']}; {env['cpu']}; load {env['load']}")

    # ---------------------------------------------------------------- 1. force evaluations
    chain = jx.chain3d(99 / 4, confinement_parallel=1.0)
    cubic = jx.simple_cubic(k1=15.0, k2=5.0, spacing=2.0)
    force_cases = [("chain3d", chain, (200,)), ("chain3d", chain, (10_000,)), ("simple cubic", cubic, (20, 20, 20)),
                   ("simple cubic", cubic, (50, 50, 50))]
    force_results = []
    for name, lat, sc in force_cases:
        label = f"{name} {'x'.join(map(str, sc))}"
        log(f"force evaluations: {label}")
        force_results.append(bench_force(label, lat, sc))

    # ---------------------------------------------------------------- passes
    gaussian = jx.Gaussian(amplitude=0.01, width=1.0)
    cases = [
        Case("chain N=200", jx.System(chain, gaussian), 10.0, (200,), (0.0, 1.0, 0.0)),
        Case("cubic 20³", jx.System(cubic, gaussian), 20.0, (20, 20, 20), (0.0, 0.0, 0.0)),
    ]
    if not args.quick:
        cases.append(Case("cubic 50³", jx.System(cubic, gaussian), 20.0, (50, 50, 50), (0.0, 0.0, 0.0), eager=False,
                          default_solvers=("tsit5",), compile_rtol=1e-5))
    for case in cases:
        case.setup()

    compile_rows, summary, details, references, default_rows, breakdown_rows = [], [], [], [], [], []
    for case in cases:
        log(f"pass case {case.label}: v={case.speed}, impact={case.impact}, ω_max={case.omega_max:.4g}, transit T={case.transit:.4g}")
        log("  compile vs run")
        compile_rows.append(bench_compile(case))
        ref, s, d = bench_accuracy(case, budget_s=10.0 if args.quick else 60.0)
        references.append((case, ref))
        summary += s
        details += d
        log("  default tolerances")
        default_rows += bench_defaults(case, ref["reference"])
        if case.label.startswith("cubic"):
            log("  step-cost breakdown")
            n = max(stable_steps(case, "rk4")[0], 50)
            rk4 = baseline_run(case, "rk4", dt=case.transit / n)
            breakdown_rows.append(bench_breakdown(case, rk4["wall"] / rk4["steps"]))

    # ---------------------------------------------------------------- 6.-7. fused Verlet loop
    log("fused Verlet loop")
    scipy_evals = {r["atoms"]: 1 / r["t_scipy"] for r in force_results}
    fused_rows = []
    for case, ref in references:
        fused_rows.append(
            bench_fused(case.label, case.system, case.speed, case.supercell, case.impact, ref["reference"], ref["baseline_best"],
                        scipy_evals.get(case.atoms))
        )
    if args.quick:  # the 50³ Verlet pass is cheap; no reference or baseline ladder in quick mode
        fused_rows.append(bench_fused("cubic 50³", jx.System(cubic, gaussian), 20.0, (50, 50, 50), (0.0, 0.0, 0.0),
                                      scipy_evals=scipy_evals.get(50**3)))
    for r in fused_rows:
        log(f"  {r['label']}: {r['steps']} steps, {fmt_time(r['wall'])}, {fmt_time(r['step'])}/step, err {r['err']:.1e}")
    fig4 = None
    if not args.no_fig4:
        log("Fig. 4 curve at 50³")
        fig4 = bench_fig4(jx.System(cubic, gaussian), (50, 50, 50), args.quick)
    total = time.perf_counter() - t_start

    # ---------------------------------------------------------------- report
    mode = "quick" if args.quick else "default"
    ref_lines = []
    for case, ref in references:
        cross = (f"; cross-check: {ref['cross_label']}, see section 4" if ref["cross"] is None else
                 f"; cross-check {ref['cross_label']}: {ref['cross']:.10e} "
                 f"(rel. diff {abs(ref['cross'] - ref['reference']) / abs(ref['reference']):.1e})")
        ref_lines.append(
            f"- **{case.label}**: speed {case.speed:g}, impact {case.impact}, λ=1, Φ0=0.01, μ=1, ω_max={case.omega_max:.4g}, "
            f"transit T = 14λ/v = {case.transit:.4g}; reference loss (SciPy DOP853 rtol={REFERENCE_RTOL:g}, atol={REFERENCE_ATOL:g}, "
            f"{fmt_time(ref['t_ref'])}) = {ref['reference']:.10e}{cross}"
        )
    report = "\n".join(
        [
            f"## Run {env['date']} — `python benchmarks/bench_full_engine.py{' --quick' if args.quick else ''}` "
            f"({mode} mode, {total / 60:.1f} min)",
            "",
            f"- device: `{env['devices']}`",
            f"- CPU: {env['cpu']}; load average (1/5/15 min) at start: {env['load']}, at end: "
            + " ".join(f"{x:.2f}" for x in os.getloadavg())
            + " (other processes on the machine inflate the timings)",
            f"- versions: {env['versions']}",
            f"- threads: XLA default (all cores); OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')} for the baseline",
            "",
            "### 1. Framework-force evaluations Ξρ (median wall time per evaluation)",
            "",
            force_table(force_results),
            "",
            "### 2. Compile time vs run time of one jaxion pass",
            "",
            compile_table(compile_rows),
            "",
            "### 3. Wall time to a loss accurate to 1e-4 relative (cheapest rung on each ladder)",
            "",
            *ref_lines,
            "",
            table(
                ["case", "code", "integrator", "cheapest setting (next finer also passes)", "steps", "rel. error", "wall (warm)",
                 "atom-steps/s", "compile / assembly", "cold total"],
                summary,
            ),
            "",
            "### 4. Time per pass at jaxion's default tolerances",
            "",
            table(["case", "code", "settings", "steps", "rel. error", "wall (warm)", "wall/step", "atom-steps/s", "energy drift"],
                  default_rows),
            "",
            "### 5. Where the time of one jaxion step goes (per step or per evaluation, inside one compiled loop)",
            "",
            breakdown_table(breakdown_rows),
            "",
            "### 6. Fused velocity-Verlet loop (`solver=\"verlet\"`, default dt = min(0.5/(2π ω_max), 0.05 λ/v))",
            "",
            "One force evaluation per step; min MB/step = read ρ, ρ' and write them back (4 × 3N × 8 bytes); "
            "effective GB/s = that / wall per step. Rel. error against the section-3 reference.",
            "",
            fused_table(fused_rows),
            "",
            *(["### 7. Paper 1, Fig. 4 curve at 50³, end to end", "", fig4_report(fig4), ""] if fig4 is not None else []),
            "<details><summary>All ladder rungs</summary>",
            "",
            table(["case", "code / integrator", "setting", "accepted steps", "RHS evals", "rel. error", "wall (warm)", "< 1e-4"], details),
            "",
            "</details>",
            "",
        ]
    )
    print(report)
    if not args.no_append:
        path = Path(args.results)
        header = "" if path.exists() else ("# jaxion full-engine benchmark results\n\nAppended by `benchmarks/bench_full_engine.py`; "
                                           "see `benchmarks/README.md` for the columns.\n\n")
        with open(path, "a") as fh:
            fh.write(header + report + "\n")
        log(f"appended to {path}")
    log(f"total {total / 60:.1f} min")


if __name__ == "__main__":
    main()
