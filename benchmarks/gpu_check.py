"""One prepared accelerator check: every headline benchmark of the project in one run of ≤ ~7 minutes.

    bash benchmarks/gpu_check.sh                                  # on the device machine (H100/H200)
    bash benchmarks/gpu_check.sh --budget-s 300                   # a shorter overall budget
    bash benchmarks/gpu_check.sh --cpu --tiny --results /tmp/x.md # the same script in seconds on a CPU (CI)

``gpu_check.sh`` runs this file with the machine's own ``python3`` and the checkout on ``PYTHONPATH``;
nothing is installed. Sections (each one row, or one row per size, of one table):

1. ``copy``: the device's own copy bandwidth, a jitted ``x + 0`` and ``jnp.copy`` of a large float64
   array timed with ``block_until_ready``; bytes moved = 2 × the array's size (read once, write once).
2. ``step``: the full engine's fused Verlet step on simple cubic 50³, 100³, 200³ through
   ``bench_scaling.lattice_row`` (the same run and the same byte count: ``4 × dof × atoms × 8`` per
   step); achieved bytes/s and its fraction of the copy bandwidth. Its time per step is a warm call's
   wall / steps, so the call's fixed cost (validation, the energy bookkeeping, a few ms) is spread over
   the steps: 5000, 2000, 500 steps keep it small on a GPU.
3. ``fig6-full``: paper 1's Fig. 6 with the full engine on 100³ (fused Verlet, δ = 1e-3, τ = 30): a
   probe of τ = 1 (compiled once for both, the step count is traced) projects the whole run, which is
   run when it fits, else as far as fits.
4. ``fig4``: a paper-1 Fig. 4 curve, 50 speeds geomspace(1, 80) on 50³ (``bench_full_engine.verlet_runner``,
   one compilation, passes one after the other); stops at the budget and projects the rest from the
   predicted steps.
5. ``fig8``: paper 2's Fig. 8, 20 initial speeds per sign of Φ0 (40 runs) of 800 τ
   (``bench_memory.section_fig8_batches``): a probe of 100 τ first, then the whole run when 8 × the
   probe fits.
6. ``time-local``: the 10 000-member batch of (1.26) on Fig. 6's system (``jx.simulate_local_batch``,
   Dopri8 rtol 1e-7, 301 saves, τ = 30, one device; on an accelerator the whole batch is one chunk).
7. ``memory-fig6``: the memory engine's Fig. 6 on the infinite lattice: the binned kernel (K = 1051,
   no disk cache) and the fft run, τ = 30, after a probe of τ/4 that projects both.

Budgets: every section gets a share of what is left of ``--budget-s`` (default 420 s); one that would
exceed its share runs the shorter version and prints the projected total. A failing section writes its
error into its row and the script goes on. The header (devices, JAX version, dtype) and every row are
printed as they come (flushed), and the table is rewritten to ``$OUT/gpu_check.md`` (when ``OUT`` is set)
after every row, so a run killed at the limit still leaves its partial table. At the end the table is
appended atomically to ``--results`` (default ``benchmarks/RESULTS.md``; with ``--tiny`` only a path given
explicitly, never the default). ``--cpu`` forces ``JAX_PLATFORMS=cpu``; ``--tiny`` shrinks every size
(8³ lattices, a few steps, 4 speeds, a 10-member batch) so that the whole script runs in seconds.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import re
import sys
import tempfile
import time
import traceback
import types
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_RESULTS = HERE / "RESULTS.md"
STATUSES = ("ok", "partial", "error", "skipped")


# ============================================================================ sizes and shares


@dataclass(frozen=True)
class Sizes:
    """Problem sizes of every section (the device run's, or ``--tiny``'s)."""

    copy_elements: int
    step_cells: tuple[int, ...]
    step_counts: tuple[int, ...]
    fig6_cells: int
    fig6_duration: float
    fig6_probe: float
    fig4_cells: int
    fig4_speeds: int
    fig8_per_sign: int
    fig8_duration: float
    fig8_probe: float  # fraction of the duration the probe runs (1: the probe is the run)
    local_members: int
    local_duration: float
    local_greens_cells: int | None  # Ξ⁻¹ on this periodic supercell instead of the infinite lattice (tiny: cheaper)
    memory_duration: float
    memory_probe: float  # fraction of the duration the probe runs (1: the probe is the run)
    thermal_members: int
    thermal_duration: float


DEVICE = Sizes(copy_elements=2**28, step_cells=(50, 100, 200), step_counts=(5000, 2000, 500), fig6_cells=100, fig6_duration=30.0,
               fig6_probe=1.0, fig4_cells=50, fig4_speeds=50, fig8_per_sign=20, fig8_duration=800.0, fig8_probe=1 / 8,
               local_members=10_000, local_duration=30.0, local_greens_cells=None, memory_duration=30.0, memory_probe=1 / 4,
               thermal_members=10_000, thermal_duration=100.0)
TINY = Sizes(copy_elements=2**20, step_cells=(8, 10, 12), step_counts=(20, 20, 20), fig6_cells=10, fig6_duration=0.1,
             fig6_probe=0.02, fig4_cells=10, fig4_speeds=4, fig8_per_sign=2, fig8_duration=0.5, fig8_probe=1.0,
             local_members=10, local_duration=2.0, local_greens_cells=10, memory_duration=0.1, memory_probe=1.0,
             thermal_members=8, thermal_duration=0.5)

# Share of the remaining budget each section gets (renormalised over the sections still to run, so time a
# section leaves unused goes to the later ones).
SHARES = {"copy": 0.02, "step": 0.10, "fig6-full": 0.18, "fig4": 0.08, "fig8": 0.27, "time-local": 0.10, "memory-fig6": 0.18,
          "thermal": 0.07}
FIG6_DT = 1e-3


# ============================================================================ the table


@dataclass
class Row:
    """One row of the table: ``status`` is ok, partial (a shorter version ran; ``projected`` says how long
    the whole would take), error (``result`` holds the error) or skipped."""

    section: str
    case: str
    wall_s: float
    result: str
    projected: str = "-"
    status: str = "ok"
    values: dict = field(default_factory=dict)

    def cells(self) -> list[str]:
        wall = "-" if not math.isfinite(self.wall_s) else f"{self.wall_s:.2f}"
        return [self.section, self.case, wall, self.result, self.projected, self.status]


HEADER = ["section", "case", "wall (s)", "result", "projected whole run", "status"]


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_row(cells) -> str:
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def render(title: str, header_lines: list[str], rows: list[Row], footer: list[str]) -> str:
    lines = [title, "", *header_lines, "", markdown_row(HEADER), "|" + "|".join("---" for _ in HEADER) + "|"]
    lines += [markdown_row(r.cells()) for r in rows]
    return "\n".join(lines + ([""] + footer if footer else [])) + "\n"


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def append_atomic(path: Path, text: str) -> None:
    """Append ``text`` (after a blank line) to ``path``, replacing the file atomically."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    write_atomic(path, old + ("\n" if old else "") + text)


# ============================================================================ the environment


def metadata_stand_in(name: str, version: str, folder: Path) -> bool:
    """Make ``importlib.metadata.version(name)`` answer ``version`` when ``name`` is importable from
    ``PYTHONPATH`` but not installed (jaxion's ``__init__`` asks for its own version): a minimal
    ``<name>-<version>.dist-info`` in ``folder``, put on ``sys.path``. Returns whether one was needed."""
    import importlib.metadata

    try:
        importlib.metadata.version(name)
        return False
    except importlib.metadata.PackageNotFoundError:
        pass
    info = folder / f"{name}-{version}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", encoding="utf-8")
    sys.path.append(str(folder))
    importlib.invalidate_caches()
    return True


def tqdm_stand_in() -> bool:
    """A pass-through ``tqdm`` when the package is missing (jaxion imports it even with progress off, e.g.
    in the binned kernel); returns whether one was needed."""
    try:
        import tqdm.auto  # noqa: F401

        return False
    except ImportError:
        pass

    class _Bar:
        def __init__(self, iterable=None, *args, **kwargs):
            self.iterable = iterable

        def __iter__(self):
            return iter(self.iterable if self.iterable is not None else ())

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def update(self, *args, **kwargs):
            pass

        def set_postfix(self, *args, **kwargs):
            pass

        def close(self):
            pass

    package, auto = types.ModuleType("tqdm"), types.ModuleType("tqdm.auto")
    package.tqdm = auto.tqdm = _Bar  # type: ignore[attr-defined]
    package.auto = auto  # type: ignore[attr-defined]
    sys.modules["tqdm"], sys.modules["tqdm.auto"] = package, auto
    return True


def jaxion_version() -> str:
    """The version in ``pyproject.toml`` (read as text: no ``tomllib`` needed)."""
    match = re.search(r'^version\s*=\s*"([^"]+)"', (REPO / "pyproject.toml").read_text(encoding="utf-8"), re.MULTILINE)
    return match.group(1) if match else "0+unknown"


# --tiny: XLA's backend optimisation off, which halves the CPU compile times that dominate a tiny run
TINY_XLA_FLAGS = "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"


def prepare(cpu: bool, tiny: bool = False) -> list[str]:
    """Set the platform (and, for ``tiny``, fast compilation) before JAX is imported and provide what an
    uninstalled checkout lacks; returns notes."""
    notes = []
    if cpu:
        os.environ["JAX_PLATFORMS"] = "cpu"
    if tiny and "jax" not in sys.modules and "XLA_FLAGS" not in os.environ:
        os.environ["XLA_FLAGS"] = TINY_XLA_FLAGS
        notes.append(f"XLA_FLAGS={TINY_XLA_FLAGS} (tiny: compile fast)")
    if metadata_stand_in("jaxion", jaxion_version(), Path(tempfile.mkdtemp(prefix="gpu_check_meta_"))):
        notes.append("jaxion is not installed (checkout on PYTHONPATH): a stand-in dist-info gives its version")
    if tqdm_stand_in():
        notes.append("tqdm is missing: a pass-through stand-in is used (no progress bars are shown anyway)")
    if str(HERE) not in sys.path:
        sys.path.insert(0, str(HERE))
    return notes


def environment() -> dict:
    import jax
    import jax.numpy as jnp

    import jaxion as jx  # enables float64

    devices = jax.devices()
    return dict(
        date=_dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        backend=jax.default_backend(),
        devices=", ".join(f"{d} ({getattr(d, 'device_kind', '?')})" for d in devices),
        jax=jax.__version__,
        jaxlib=getattr(__import__("jaxlib"), "__version__", "?"),
        dtype=str(jnp.zeros(()).dtype),
        x64=bool(jax.config.read("jax_enable_x64")),
        python=platform.python_version(),
        jaxion=jx.__version__,
        cpu=f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical cores",
    )


# ============================================================================ helpers


_UNITS = {"µs": 1e-6, "us": 1e-6, "ms": 1e-3, "s": 1.0}


def parse_seconds(text: str) -> float:
    """Seconds from ``bench_full_engine.fmt_time``'s output ("12.3 µs", "4.5 ms", "1.20 s")."""
    number, unit = str(text).split()
    return float(number) * _UNITS[unit]


def parse_number(text: str) -> float:
    """The leading number of a formatted cell ("12.34 GB/s", "96 MB", "1,000,000")."""
    match = re.match(r"\s*([-+0-9.,eE]+)", str(text))
    if match is None:
        raise ValueError(f"no number in {text!r}")
    return float(match.group(1).replace(",", ""))


def fmt_s(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1.0:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def clock(function: Callable):
    """``(result, seconds)`` of ``function()`` with every output array ready."""
    import jax

    began = time.perf_counter()
    out = jax.block_until_ready(function())
    return out, time.perf_counter() - began


def fig6_system():
    """Paper 1's Fig. 6: simple cubic k1 = 15, k2 = 5, α = 2, eight sites α(0,0,j), Gaussian Φ0 = 1, λ = 1/2;
    the ion starts at z = 3.5α with speed 7.5 along z, on the z line."""
    import jaxion as jx

    system = jx.System(jx.simple_cubic(15.0, 5.0, 2.0), jx.Gaussian(1.0, 0.5), jx.line_sites(8))
    return system, np.array([0.0, 0.0, 7.0]), np.array([0.0, 0.0, 7.5]), np.array([0.0, 0.0, 1.0])


@dataclass
class Context:
    sizes: Sizes
    tiny: bool
    accelerator: bool
    emit: Callable[[Row], None]
    copy_bandwidth: float = float("nan")  # bytes/s, set by the copy section


# ============================================================================ sections


def section_copy(ctx: Context, budget: float) -> None:
    import jax
    import jax.numpy as jnp

    began = time.perf_counter()
    x = jnp.arange(ctx.sizes.copy_elements, dtype=jnp.float64)
    nbytes = x.size * x.dtype.itemsize
    kernels = {"x + 0": jax.jit(lambda a: a + 0.0), "jnp.copy": jax.jit(jnp.copy)}
    medians = {}
    for name, kernel in kernels.items():
        jax.block_until_ready(kernel(x))  # compile
        times = []
        stop = time.perf_counter() + 0.3 * budget
        while len(times) < 5 or (len(times) < 50 and time.perf_counter() < stop):
            t0 = time.perf_counter()
            jax.block_until_ready(kernel(x))
            times.append(time.perf_counter() - t0)
        medians[name] = float(np.median(times))
        assert float(kernel(x)[-1]) == float(x[-1]), f"{name} did not copy"
    best = min(medians, key=lambda k: medians[k])
    ctx.copy_bandwidth = 2 * nbytes / medians[best]
    detail = ", ".join(f"{k}: {2 * nbytes / t / 1e9:.1f} GB/s ({fmt_s(t)})" for k, t in medians.items())
    ctx.emit(Row("copy", f"{nbytes / 2**30:.3g} GiB float64, bytes = 2 × size, median of repeats", time.perf_counter() - began,
                 f"**{ctx.copy_bandwidth / 1e9:.1f} GB/s** ({detail})",
                 values=dict(bytes=nbytes, bandwidth=ctx.copy_bandwidth, median_s=medians)))


def section_step(ctx: Context, budget: float) -> None:
    from bench_scaling import lattice_row

    import jaxion as jx

    system = jx.System(jx.simple_cubic(15.0, 5.0, 2.0), jx.Gaussian(0.01, 1.0))  # bench_scaling's cubic case
    deadline = time.perf_counter() + budget
    previous = None  # (atoms, per step, compile) of the last size
    for cells, steps in zip(ctx.sizes.step_cells, ctx.sizes.step_counts):
        label = f"cubic {cells}³"
        atoms = cells**3
        planned, note = steps, ""
        left = deadline - time.perf_counter()
        if previous is not None:
            # lattice_row runs the steps 3 times (first call + 2 warm); the cost per step grows with the atoms
            per_step = previous[1] * atoms / previous[0]
            cost = previous[2] + 3 * steps * per_step
            if cost > left:
                steps = max(10, int((left - previous[2]) / (3 * per_step)))
                note = f"steps cut from {planned} to {steps} to fit {left:.0f} s (projected {cost:.0f} s)"
        try:
            began = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", jx.EchoWarning)
                row = lattice_row(label, system, (cells,) * 3, steps)
            wall = time.perf_counter() - began
        except Exception as error:  # this size fails; the next may not
            ctx.emit(error_row("step", label, error))
            continue
        # row: label, atoms, steps, compile, per step, atom-steps/s, least bytes/step, effective bandwidth
        compile_s, per_step = parse_seconds(row[3]), parse_seconds(row[4])
        least_mb = parse_number(row[6])
        bandwidth = least_mb * 1e6 / per_step  # row[7] is the same ratio, rounded to 0.01 GB/s
        fraction = bandwidth / ctx.copy_bandwidth
        share = "-" if not math.isfinite(fraction) else f"{100 * fraction:.3g} %"
        previous = (atoms, per_step, compile_s)
        ctx.emit(Row(
            "step", f"{label} ({atoms:,} atoms), fused Verlet, {steps} steps × 3 calls", wall,
            f"{row[4]}/step, **{bandwidth / 1e9:.3g} GB/s** = **{share} of copy** (least {least_mb:g} MB/step), "
            f"{row[5]} atom-steps/s, compile {row[3]}" + (f"; {note}" if note else ""),
            status="partial" if note else "ok",
            values=dict(atoms=atoms, steps=steps, per_step_s=per_step, compile_s=compile_s, least_bytes=least_mb * 1e6,
                        bandwidth=bandwidth, fraction_of_copy=fraction),
        ))


def section_fig6_full(ctx: Context, budget: float) -> None:
    import jax.numpy as jnp

    import jaxion as jx

    sizes = ctx.sizes
    system, start, velocity, line = fig6_system()
    supercell = (sizes.fig6_cells,) * 3
    omega = system.lattice.max_frequency(supercell)
    total_steps = math.ceil(sizes.fig6_duration / FIG6_DT - 1e-9)
    began = time.perf_counter()

    def run(duration: float):
        # one compilation serves every duration (it and dt are traced; max_steps is the static bound)
        return jx.simulate(system, supercell, start, velocity, jnp.asarray(duration), constraint=line, solver="verlet", dt=FIG6_DT,
                           check_echo=False, max_steps=total_steps + 10, max_frequency=omega)

    _, first = clock(lambda: run(sizes.fig6_probe))
    probe, warm = clock(lambda: run(sizes.fig6_probe))
    per_step = warm / int(probe.num_steps)
    projected = per_step * total_steps
    left = budget - (time.perf_counter() - began)
    if projected <= 0.9 * left:
        duration, status = sizes.fig6_duration, "ok"
    else:
        duration, status = max(sizes.fig6_probe, math.floor(0.8 * left / per_step) * FIG6_DT), "partial"
    out, wall = (probe, warm) if duration <= sizes.fig6_probe else clock(lambda: run(duration))
    steps = int(out.num_steps)
    z = float(np.asarray(out.final_state.ion_position)[2])
    drift = float(out.energy_drift)
    least = 4 * system.lattice.dof * int(np.prod(supercell)) * 8  # bench_scaling's count of a step's bytes
    ctx.emit(Row(
        "fig6-full", f"paper 1 Fig. 6, full engine {sizes.fig6_cells}³, fused Verlet δ = {FIG6_DT:g}, τ = {duration:g} of "
        f"{sizes.fig6_duration:g}", wall,
        f"{steps:,} steps in **{wall:.2f} s** ({fmt_s(wall / steps)}/step, {least / (wall / steps) / 1e9:.3g} GB/s); "
        f"final z = {z:.5f}, energy drift {drift:.1e}; probe τ = {sizes.fig6_probe:g}: first call {first:.2f} s, warm {warm:.2f} s",
        f"{projected:.1f} s for τ = {sizes.fig6_duration:g} ({total_steps:,} steps)", status,
        values=dict(duration=duration, steps=steps, wall_s=wall, per_step_s=wall / steps, projected_s=projected, first_call_s=first,
                    final_z=z, energy_drift=drift),
    ))


def section_fig4(ctx: Context, budget: float) -> None:
    from bench_full_engine import FIG4_SPEEDS, verlet_runner

    import jaxion as jx

    sizes = ctx.sizes
    speeds = FIG4_SPEEDS if sizes.fig4_speeds == FIG4_SPEEDS.size else np.geomspace(1.0, 80.0, sizes.fig4_speeds)
    system = jx.System(jx.simple_cubic(15.0, 5.0, 2.0), jx.Gaussian(0.01, 1.0))  # bench_full_engine's Fig. 4 system
    supercell, impact = (sizes.fig4_cells,) * 3, (0.0, 0.0, 0.0)
    omega = system.lattice.max_frequency(supercell)
    run = verlet_runner(supercell, impact, omega)
    began = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jx.EchoWarning)
        run(system, speeds[-1])  # compile
        first = time.perf_counter() - began
        deadline = began + 0.9 * budget
        t0, results = time.perf_counter(), []
        for v in speeds[::-1]:  # fastest first: a cut leaves the slow, long passes to the projection
            if results and time.perf_counter() > deadline:
                break
            results.append(run(system, v))
        wall = time.perf_counter() - t0
    done, steps = len(results), sum(r["steps"] for r in results)
    ok = sum(bool(r["ok"]) for r in results)
    losses = np.asarray([r["loss"] for r in results])
    projected, status = wall, "ok"
    if done < speeds.size:
        path = float(jx.pass_geometry(system, (0.0, 0.0, 1.0), impact).path_length)
        rest = speeds[::-1][done:]
        dts = np.asarray([float(jx.verlet_time_step(omega, v, float(system.potential.range))) for v in rest])
        projected, status = wall + wall / steps * float(np.sum(np.ceil(path / rest / dts))), "partial"
    atoms = int(np.prod(supercell))
    ctx.emit(Row(
        "fig4", f"paper 1 Fig. 4 curve, {speeds.size} speeds geomspace(1, 80), {sizes.fig4_cells}³, s = 0, fused Verlet, "
        "one pass after another", wall + first,
        f"{done}/{speeds.size} passes in **{wall:.2f} s** ({steps:,} steps, {atoms * steps / wall:.3g} atom-steps/s), "
        f"{ok} ok, losses {losses.min():.3g}–{losses.max():.3g}; first call {first:.2f} s",
        f"{projected:.2f} s + first call", status if ok == done else "error",
        values=dict(passes=done, steps=steps, wall_s=wall, first_call_s=first, ok=ok, projected_s=projected),
    ))


def section_fig8(ctx: Context, budget: float) -> None:
    import jax
    from bench_memory import section_fig8_batches

    sizes = ctx.sizes
    began = time.perf_counter()
    probe_duration = sizes.fig8_duration * sizes.fig8_probe
    probe = section_fig8_batches(sizes.fig8_per_sign, probe_duration)
    # the second panel reuses the first one's compilation (same shapes): twice the faster panel is the warm
    # cost of the probe, the rest its compilation, which the whole run pays once more
    seconds = [p["seconds"] for p in probe["panels"].values()]
    warm = len(seconds) * min(seconds)
    compile_s = max(probe["total"] - warm, 0.0)
    projected = compile_s + warm / sizes.fig8_probe
    left = budget - (time.perf_counter() - began)
    if sizes.fig8_probe >= 1.0:
        result, status = probe, "ok"
    elif projected <= 0.9 * left:
        result, status = section_fig8_batches(sizes.fig8_per_sign, sizes.fig8_duration), "ok"
    else:
        result, status = probe, "partial"
    panels = "; ".join(f"{tag}: {p['runs']} runs {p['seconds']:.1f} s, worst energy error {p['worst_energy_error']:.1e}"
                       for tag, p in result["panels"].items())
    ctx.emit(Row(
        "fig8", f"paper 2 Fig. 8, {2 * sizes.fig8_per_sign} runs of τ = {result['duration']:g} of {sizes.fig8_duration:g} "
        f"(memory engine, blocked, δ = 1/600, one simulate_memory_batch per sign, {len(jax.devices())} device(s))",
        time.perf_counter() - began,
        f"**{result['total']:.1f} s** both panels, compilation included ({panels}); probe τ = {probe_duration:g}: {probe['total']:.1f} s",
        f"≈ {projected:.1f} s (compile {compile_s:.1f} s + {1 / sizes.fig8_probe:g} × warm probe {warm:.1f} s)", status,
        values=dict(duration=result["duration"], total_s=result["total"], probe_s=probe["total"], projected_s=projected),
    ))


def section_time_local(ctx: Context, budget: float) -> None:
    import jax
    import jax.numpy as jnp

    import jaxion as jx

    sizes = ctx.sizes
    system, start, velocity, line = fig6_system()
    began = time.perf_counter()
    greens = sizes.local_greens_cells
    model = jx.time_local_model(system, supercell=None if greens is None else (greens,) * 3)
    build = time.perf_counter() - began
    members = sizes.local_members
    rng = np.random.default_rng(0)  # bench_time_local's batch: speeds in [5, 9], starts 3.5α ± 0.2
    starts = np.column_stack([np.zeros(members), np.zeros(members), start[2] + rng.uniform(-0.2, 0.2, members)])
    speeds = np.column_stack([np.zeros(members), np.zeros(members), rng.uniform(5.0, 9.0, members)])
    saves = jnp.linspace(0.0, sizes.local_duration, 301)
    chunk = members if ctx.accelerator else 64  # a GPU wants the whole batch in lockstep; 64 is the CPU default

    def batch(chunk_size: int, count: int):
        return jx.simulate_local_batch(model, starts[:count], speeds[:count], sizes.local_duration, save_times=saves, constraint=line,
                                       solver="dopri8", rtol=1e-7, atol=1e-9, devices=jax.devices()[:1], chunk_size=chunk_size)

    out, first = clock(lambda: batch(chunk, members))
    warm, status, note = first, "ok", "second call skipped (budget)"
    if first <= 0.5 * (budget - (time.perf_counter() - began)):
        out, warm = clock(lambda: batch(chunk, members))
        note = f"first call {first:.2f} s"
    good = int(np.sum(np.asarray(out.status) == 0))
    steps = np.asarray(out.num_steps)
    ctx.emit(Row(
        "time-local", f"(1.26) batch of {members:,}, Fig. 6 system, τ = {sizes.local_duration:g}, Dopri8 rtol 1e-7, 301 saves, "
        f"chunk {chunk}, 1 device", time.perf_counter() - began,
        f"**{warm:.2f} s** ({warm / members * 1e3:.3g} ms/trajectory), {good}/{members} ok, steps {steps.min()}–{steps.max()}; "
        f"{note}; model build {build:.2f} s" + ("" if greens is None else f" (Ξ⁻¹ of the periodic {greens}³, tiny)"),
        "-", status if good == members else "error",
        values=dict(members=members, chunk=chunk, wall_s=warm, first_call_s=first, ok=good, build_s=build),
    ))
    if ctx.accelerator and chunk != 64 and members >= 640:
        # the library's default chunk (64 members in lockstep, the chunks one after another) on 10 chunks:
        # a first call and a warm one, the warm one scaled to the whole batch
        count = 640
        if time.perf_counter() - began + 3 * first < budget:
            _, cold = clock(lambda: batch(64, count))
            _, warm64 = clock(lambda: batch(64, count))
            ctx.emit(Row("time-local", f"the same with the default chunk_size 64: {count} members (10 chunks)", cold + warm64,
                         f"{warm64:.2f} s warm ({warm64 / count * 1e3:.3g} ms/trajectory), first call {cold:.2f} s",
                         f"{warm64 * members / count:.1f} s for {members:,} (warm × {members / count:g})", "partial",
                         values=dict(members=count, chunk=64, wall_s=warm64, first_call_s=cold)))


def section_thermal(ctx: Context, budget: float) -> None:
    """The stochastic time-local engine: the thermal-diffusion figure's channel, ``thermal_members`` trajectories
    of ``thermal_duration`` (the issue's CPU target: 10 000 of τ = 100 in 60 s), one device, the whole batch in
    one chunk on an accelerator; a probe of a tenth of the duration first, the whole run if the budget allows."""
    import jax
    import jax.numpy as jnp

    import jaxion as jx
    from jaxion.figures.thermal import LINE, POINT, channel_model

    sizes = ctx.sizes
    began = time.perf_counter()
    model = channel_model()
    build = time.perf_counter() - began
    members, temperature = sizes.thermal_members, 0.05
    rng = np.random.default_rng(0)
    velocities = 2 * np.pi * np.sqrt(temperature / 0.05) * rng.standard_normal(members)[:, None] * LINE
    starts = np.tile(POINT + LINE, (members, 1))
    bath = jx.ThermalBath(temperature, jax.random.key(0), quantum=False)
    chunk = members if ctx.accelerator else 2048

    def run(duration: float):
        return jx.simulate_local_thermal(model, starts, velocities, duration, thermal=bath, constraint=LINE,
                                         save_times=jnp.linspace(0.0, duration, 101), devices=jax.devices()[:1], chunk_size=chunk)

    probe_duration = sizes.thermal_duration / 10
    _, cold = clock(lambda: run(probe_duration))
    out, probe = clock(lambda: run(probe_duration))
    steps = int(np.asarray(out.num_steps)[0])
    per_step = probe / (members * steps)
    projected = probe * 10
    status, wall, note = "partial", probe, f"probe τ = {probe_duration:g} warm {probe:.2f} s (first call {cold:.2f} s)"
    if time.perf_counter() - began + 1.2 * projected < budget:
        out, wall = clock(lambda: run(sizes.thermal_duration))
        status, note = "ok", note + f"; whole run {wall:.2f} s"
    kinetic = float(np.mean(np.asarray(out.kinetic)[:, 20:])) / (temperature / 2)
    ctx.emit(Row(
        "thermal", f"stochastic (1.26), {members:,} trajectories, channel of thermal-diffusion, τ = {sizes.thermal_duration:g}, "
        f"BAOAB dt {float(out.dt):.3g}, chunk {chunk}, 1 device", time.perf_counter() - began,
        f"{note}; {per_step * 1e9:.3g} ns per member-step; ⟨KE⟩/(T/2) = {kinetic:.3f}; model build {build:.2f} s",
        f"{projected:.1f} s" if status == "partial" else "-", status,
        values=dict(members=members, chunk=chunk, wall_s=wall, probe_s=probe, first_call_s=cold, ns_per_member_step=per_step * 1e9),
    ))


def section_memory_fig6(ctx: Context, budget: float) -> None:
    from bench_memory import every

    import jaxion as jx

    sizes = ctx.sizes
    system, start, velocity, line = fig6_system()
    began = time.perf_counter()

    def one(duration: float):
        kernel, kernel_s = clock(lambda: jx.kernels.precompute_kernel(system.lattice, system.site_cells, FIG6_DT, duration, cache=False))
        saves = every(duration, FIG6_DT, 10)
        out, run_s = clock(lambda: jx.simulate_memory(system, start, velocity, duration, dt=FIG6_DT, constraint=line, kernel=kernel,
                                                      method="fft", save_times=saves))
        return duration, kernel, kernel_s, out, run_s

    probe = one(sizes.memory_duration * sizes.memory_probe)
    # the kernel's work is ∝ modes ≈ K³ (K ∝ τ), the run's ∝ steps (the fft convolution's log factor aside)
    scale = 1.0 / sizes.memory_probe
    projected = probe[2] * scale**3 + probe[4] * scale
    left = budget - (time.perf_counter() - began)
    if sizes.memory_probe >= 1.0:
        final, status = probe, "ok"
    elif projected <= 0.9 * left:
        final, status = one(sizes.memory_duration), "ok"
    else:
        final, status = probe, "partial"
    duration, kernel, kernel_s, out, run_s = final
    z = float(np.asarray(out.ion_positions)[-1, 2])
    error = float(np.max(np.abs(np.asarray(out.energy_error))))
    ctx.emit(Row(
        "memory-fig6", f"paper 1 Fig. 6 on the infinite lattice: binned kernel (no cache) + fft run, τ = {duration:g} of "
        f"{sizes.memory_duration:g}, δ = {FIG6_DT:g}", time.perf_counter() - began,
        f"**{kernel_s + run_s:.1f} s** = kernel K = {kernel.points_per_axis} {kernel_s:.1f} s + run {run_s:.1f} s (first call, "
        f"{int(out.num_steps):,} steps); final z = {z:.5f}, max energy error {error:.1e}; probe τ = {probe[0]:g}: kernel "
        f"K = {probe[1].points_per_axis} {probe[2]:.1f} s, run {probe[4]:.1f} s",
        f"≈ {projected:.1f} s (probe: kernel × {scale:g}³, run × {scale:g})", status,
        values=dict(duration=duration, kernel_s=kernel_s, run_s=run_s, points_per_axis=int(kernel.points_per_axis), projected_s=projected,
                    final_z=z, energy_error=error),
    ))


SECTIONS: dict[str, Callable[[Context, float], None]] = {
    "copy": section_copy,
    "step": section_step,
    "fig6-full": section_fig6_full,
    "fig4": section_fig4,
    "fig8": section_fig8,
    "time-local": section_time_local,
    "memory-fig6": section_memory_fig6,
    "thermal": section_thermal,
}


def error_row(section: str, case: str, error: BaseException) -> Row:
    message = f"{type(error).__name__}: {error}".strip()
    return Row(section, case, float("nan"), message[:400], status="error", values=dict(traceback=traceback.format_exc()[-2000:]))


# ============================================================================ main


def parse_args(argv=None) -> argparse.Namespace:
    doc = (__doc__ or "").splitlines() or [""]
    parser = argparse.ArgumentParser(description=doc[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog="\n".join(doc[1:]))
    parser.add_argument("--cpu", action="store_true", help="force JAX_PLATFORMS=cpu")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes: the whole script in seconds (CI)")
    parser.add_argument("--budget-s", type=float, default=420.0, help="overall time budget in seconds (default 420)")
    parser.add_argument("--results", default=None,
                        help="markdown file the table is appended to (default benchmarks/RESULTS.md; with --tiny: none unless given)")
    parser.add_argument("--only", nargs="+", choices=list(SECTIONS), help="run only these sections")
    args = parser.parse_args(argv)
    if args.budget_s <= 0:
        parser.error(f"--budget-s must be positive; got {args.budget_s}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    notes = prepare(args.cpu, args.tiny)
    began = time.perf_counter()
    env = environment()
    accelerator = env["backend"] != "cpu"
    command = "bash benchmarks/gpu_check.sh" + "".join(f" {a}" for a in (argv if argv is not None else sys.argv[1:]))
    title = f"## GPU check — {env['date']} — `{command}`"
    header = [
        f"- devices: {env['devices']}; backend `{env['backend']}`; host {env['cpu']}",
        f"- JAX {env['jax']} (jaxlib {env['jaxlib']}), Python {env['python']}, jaxion {env['jaxion']}; default float dtype "
        f"`{env['dtype']}` (jax_enable_x64 = {env['x64']})",
        f"- sizes: {'tiny (CI check of the script, numbers meaningless)' if args.tiny else 'device'}; budget {args.budget_s:g} s",
        *[f"- note: {n}" for n in notes],
    ]
    print(title, *([""] + header), "", markdown_row(HEADER), "|" + "|".join("---" for _ in HEADER) + "|", sep="\n", flush=True)
    rows: list[Row] = []
    out_dir = os.environ.get("OUT")

    def save(footer=()) -> str:
        text = render(title, header, rows, list(footer))
        if out_dir:
            write_atomic(Path(out_dir) / "gpu_check.md", text)
            write_atomic(Path(out_dir) / "gpu_check.json", json.dumps(
                dict(env=env, notes=notes, rows=[asdict(r) for r in rows]), indent=1, default=str))
        return text

    def emit(row: Row) -> None:
        rows.append(row)
        print(markdown_row(row.cells()), flush=True)
        save()

    if env["dtype"] != "float64":
        emit(Row("environment", "float64", float("nan"), f"default dtype is {env['dtype']}, not float64", status="error"))
    if not args.cpu and not accelerator:
        emit(Row("environment", "accelerator", float("nan"), "no accelerator found (JAX backend is cpu); pass --cpu to run on a CPU",
                 status="error"))
        save()
        return 2
    ctx = Context(sizes=TINY if args.tiny else DEVICE, tiny=args.tiny, accelerator=accelerator, emit=emit)
    deadline = began + args.budget_s
    names = [n for n in SECTIONS if not args.only or n in args.only]
    for i, name in enumerate(names):
        left = deadline - time.perf_counter()
        budget = left * SHARES[name] / sum(SHARES[n] for n in names[i:])
        if left <= 1.0:
            emit(Row(name, "-", float("nan"), "overall budget spent", status="skipped"))
            continue
        count, wall0, cpu0 = len(rows), time.perf_counter(), time.process_time()
        try:
            SECTIONS[name](ctx, budget)
        except Exception as error:  # a GPU minute is precious: record it and go on
            emit(error_row(name, "-", error))
            print(rows[-1].values["traceback"], file=sys.stderr, flush=True)
        if len(rows) == count:
            emit(Row(name, "-", float("nan"), "the section produced no row", status="error"))
        print(f"[{name}: budget {budget:.0f} s, wall {time.perf_counter() - wall0:.1f} s, host CPU {time.process_time() - cpu0:.1f} s]",
              file=sys.stderr, flush=True)
    total = time.perf_counter() - began
    footer = [f"Total {total:.1f} s (budget {args.budget_s:g} s). Rows: " + ", ".join(
        f"{sum(r.status == s for r in rows)} {s}" for s in STATUSES) + "."]
    print("", *footer, sep="\n", flush=True)
    text = save(footer)
    results = Path(args.results) if args.results else (None if args.tiny else DEFAULT_RESULTS)
    if results is not None and args.tiny and results.resolve() == DEFAULT_RESULTS.resolve():
        print(f"--tiny never writes {DEFAULT_RESULTS}; not written", flush=True)
    elif results is not None:
        append_atomic(results, text)
        print(f"appended to {results}", flush=True)
    return 1 if any(r.status == "error" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
