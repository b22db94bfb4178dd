"""The plan of a memory-engine run: everything that is decided before the loop, built once.

:func:`build_plan` takes the validated inputs and fixes, in one frozen :class:`MemoryPlan`: the method (after
``"auto"``), the step ``δ`` and the number of steps ``ceil(duration/δ)``, the save schedule, the zone grid
(``points_per_axis``, boundary, and its modes — computed once and shared by the blocked method's near-field
table and far field and by the thermal bath), the time up to which that grid is the infinite lattice's
(:func:`jaxion.kernels.kernel_valid_time`), the convolution's lags and the table ``−2πδ Γ(lδ)`` (direct, fft:
the trapezoid rule (A1) of paper 2's Appendix, ``Γ`` of (2.13)), the block and window of the blocked method and
its Chebyshev nodes, the coverage radius and threshold, and the bath's mode amplitudes ((2.12), paper 2,
Sec. II). The runners (:mod:`._direct`, :mod:`._fft`, :mod:`._blocked`) only run it.

Save schedule: the requested times lie on the step grid ``n·δ``; the cores record every ``stride``-th step
(``stride`` = the gcd of the requested steps and of the number of steps, so the final state is a record) and
the assembly picks the requested rows (``save_rows``).
"""

from __future__ import annotations

import math
from functools import reduce
from typing import NamedTuple

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ..._constants import TWO_PI
from ..._validation import warn_user
from ...kernels import ResponseKernel, default_points_per_axis, kernel_valid_time, precompute_kernel, zone_modes_grid
from ...kernels._tables import site_fractional
from ...lattice import ZoneModes
from ...system import System
from .._common import check_save_times, warn_echo
from ..thermal import ThermalBath
from ._chebyshev import nodes_for_block
from ._physics import Coverage

__all__ = [
    "METHODS",
    "FFT_BLOCK",
    "MAX_FFT_TABLE_BYTES",
    "MAX_OMEGA_DT",
    "MAX_STEP_OVER_RANGE",
    "MAX_ZONE_MODES",
    "MemoryPlan",
    "Schedule",
    "save_schedule",
    "build_plan",
]

METHODS = ("auto", "direct", "fft", "blocked")
FFT_BLOCK = 64  # near-field block of method="fft" (steps)
MAX_FFT_TABLE_BYTES = 1e9  # method="auto" picks "fft" for 2D/3D runs whose kernel table stays below this
# ω_max · dt above this is refused: fewer than 10 steps per period of the fastest mode (paper 2 uses 60).
MAX_OMEGA_DT = 0.1
# |σ'| dt above this fraction of the potential's range is refused (the ion would jump over the interaction).
MAX_STEP_OVER_RANGE = 0.5
MAX_ZONE_MODES = 20_000_000  # modes × dof kept in memory by the blocked scheme (~0.3 GB per complex array)


class MemoryPlan(eqx.Module):
    """How a memory-engine run is computed (frozen; built once by :func:`build_plan`).

    Attributes:
        method: ``"direct"``, ``"fft"`` or ``"blocked"``.
        dt, num_steps: the step ``δ`` and the number of steps (``ceil(duration/δ)``).
        stride: the cores record every ``stride``-th step, ``0 … num_steps``.
        save_times: ``(times,)`` the saved times ``n·δ``; ``save_rows``: their rows among the records.
        points_per_axis, boundary: the zone grid (``"twisted"``: the infinite lattice; ``"periodic"``: a
            periodic supercell's own kernel).
        valid_time: time up to which the grid's kernel is the infinite lattice's.
        lags: lags of the convolution (direct, fft; ``memory_length`` may truncate it).
        block_steps: the fft method's near-field block, the blocked method's block ``B`` (0: direct).
        window: tracked sites handled in each block (blocked; all sites otherwise).
        chebyshev_nodes: nodes of the far field's frequency interpolation (blocked; else 0).
        num_sites, dof: tracked sites and displacement components per site.
        radius, threshold: coverage radius (window placement) and leak energy (status).
        modes: the zone-grid modes (blocked; and the thermal bath's), computed once; else ``None``.
        table: ``−2πδ Γ(lδ)``, ``l = 1 … lags``, ``(lags, P, P)`` (direct, fft); else ``None``.
        coords: coordinates of the sites along their line (a moving window), else ``None``.
        thermal_amplitudes: the bath's mode amplitudes ``(E, J, dof, 2)``, or ``None``.
        thermal_shape: the bath's key batch shape (``()`` for one key or no bath).
    """

    method: str = eqx.field(static=True)
    dt: float = eqx.field(static=True)
    num_steps: int = eqx.field(static=True)
    stride: int = eqx.field(static=True)
    save_times: Array
    save_rows: np.ndarray
    points_per_axis: int = eqx.field(static=True)
    boundary: str = eqx.field(static=True)
    valid_time: float = eqx.field(static=True)
    lags: int = eqx.field(static=True)
    block_steps: int = eqx.field(static=True)
    window: int = eqx.field(static=True)
    chebyshev_nodes: int = eqx.field(static=True)
    num_sites: int = eqx.field(static=True)
    dof: int = eqx.field(static=True)
    radius: float = eqx.field(static=True)
    threshold: float = eqx.field(static=True)
    modes: ZoneModes | None
    table: np.ndarray | None
    coords: np.ndarray | None
    thermal_amplitudes: Array | None
    thermal_shape: tuple = eqx.field(static=True)

    @property
    def windowed(self) -> bool:
        return self.window < self.num_sites


# ============================================================================ the save schedule


class Schedule(NamedTuple):
    duration: float
    num_steps: int
    times: Array  # (times,) n·dt
    steps: np.ndarray  # (times,) n
    stride: int
    rows: np.ndarray  # n // stride


def save_schedule(save_times, duration: float, dt: float) -> Schedule:
    """The number of steps ``ceil(duration/δ)``, the requested times as steps ``n`` of the grid ``n·δ`` (a time
    within ``1e-6 δ`` of a grid point is snapped to it; ``None`` = every step), the cores' recording stride
    and the rows to pick."""
    num_steps = max(1, int(math.ceil(duration / dt - 1e-9)))
    if save_times is None:
        steps = np.arange(num_steps + 1)
    else:
        times = np.asarray(check_save_times(save_times, duration), dtype=float)
        steps = np.round(times / dt).astype(np.int64)
        off = np.abs(times - steps * dt) > 1e-6 * dt
        if np.any(off):
            shown = np.round(times[off], 9).tolist()[:4]
            raise ValueError(
                f"save_times must be multiples of dt = {dt:g} (the memory engine records on its step grid n·dt); got "
                f"{shown}{' ...' if np.sum(off) > 4 else ''}."
            )
        steps = np.minimum(steps, num_steps)
    stride = int(reduce(math.gcd, (int(s) for s in steps), int(num_steps)))
    return Schedule(float(duration), num_steps, jnp.asarray(steps * dt), steps, stride, steps // stride)


# ============================================================================ the plan


def build_plan(system: System, *, dt: float, schedule: Schedule, method: str, kernel, memory_length,
               points_per_axis, block_steps, window, supercell, allow_recurrence: bool, cache, cache_dir,
               thermal: ThermalBath | None, progress: bool, cover: Coverage, fastest: float) -> MemoryPlan:
    """The one plan of a run, from validated inputs (``supercell``: the validated tuple or ``None``;
    ``fastest``: the largest initial ion speed)."""
    lattice = system.lattice
    num_steps = schedule.num_steps
    method_requested = method
    boundary, points_per_axis, allow_recurrence = _check_options(
        method, kernel, memory_length, points_per_axis, supercell, thermal, allow_recurrence
    )
    if kernel is not None:
        points_per_axis = _check_kernel(kernel, system, dt, points_per_axis)
    channels = len(system.site_cells) * lattice.dof
    method = _choose_method(method, num_steps, channels, lattice.dim, kernel, memory_length, supercell is not None)
    if method == "blocked" and lattice.atoms > 1:
        if method_requested == "blocked":
            raise ValueError(
                "method='blocked' carries real standing-wave modes of a Bravais lattice; on a crystal with a basis "
                "(complex modes) use method='direct' or 'fft' (or 'auto')."
            )
        method = "fft"
    common = dict(
        method=method, dt=dt, num_steps=num_steps, stride=schedule.stride, save_times=schedule.times, save_rows=schedule.rows,
        boundary=boundary, num_sites=len(system.site_cells), dof=lattice.dof, radius=cover.radius, threshold=cover.threshold,
        thermal_shape=() if thermal is None else thermal.batch_shape,
    )
    if method == "blocked":
        parts = _blocked_parts(system, num_steps, dt, schedule.stride, points_per_axis, block_steps, window, allow_recurrence, thermal,
                               cover.radius, fastest)
    else:
        parts = _table_parts(system, method, schedule, dt, kernel, memory_length, points_per_axis, block_steps, boundary,
                             allow_recurrence, cache, cache_dir, thermal, progress)
    return MemoryPlan(**common, **parts)


def _check_options(method, kernel, memory_length, points_per_axis, supercell, thermal, allow_recurrence):
    """Options that exclude each other; returns the boundary, the grid and ``allow_recurrence``."""
    if memory_length is not None and method == "blocked":
        raise ValueError("memory_length (a truncated memory) is only available with method='direct' or 'fft'.")
    if supercell is None:
        if kernel is not None and getattr(kernel, "boundary", None) == "periodic":
            raise ValueError("kernel holds a periodic supercell's response; pass supercell=(kernel.points_per_axis,) * dim.")
        return "twisted", points_per_axis, allow_recurrence
    size = supercell[0]
    if any(n != size for n in supercell):
        raise ValueError(f"supercell must have the same size on every axis for the memory engine's periodic kernel; got {supercell}.")
    if method == "blocked":
        raise ValueError("supercell (a periodic supercell's kernel) needs method='direct', 'fft' or 'auto'.")
    if thermal is not None:
        raise ValueError("supercell does not take a thermal bath (its q = 0 translation has no thermal amplitude).")
    if points_per_axis is not None and int(points_per_axis) != size:
        raise ValueError(f"points_per_axis = {points_per_axis} contradicts supercell = {supercell}; give one of them.")
    if kernel is not None and (kernel.boundary != "periodic" or kernel.points_per_axis != size):
        raise ValueError(f"kernel was not computed for the periodic supercell {supercell} (precompute_kernel(..., "
                         f"points_per_axis={size}, boundary='periodic')).")
    return "periodic", size, True


def _check_kernel(kernel, system: System, dt: float, points_per_axis) -> int:
    """A precomputed table must be this run's (lattice, sites, dt, grid); returns its grid."""
    if not isinstance(kernel, ResponseKernel):
        raise ValueError(f"kernel must be a ResponseKernel (jaxion.kernels.precompute_kernel); got {type(kernel).__name__}.")
    if kernel.lattice_key != system.lattice.fingerprint():
        raise ValueError("kernel was computed for a different lattice than system.lattice.")
    if tuple(system.sites) != tuple(tuple(c) for c in kernel.cells):
        raise ValueError(f"kernel was computed for the sites {kernel.cells}, not system.sites {system.sites}.")
    if abs(kernel.dt - dt) > 1e-12 * dt:
        raise ValueError(f"dt = {dt!r} differs from the kernel's time step {kernel.dt!r}; precompute the kernel with this dt.")
    if points_per_axis is not None and int(points_per_axis) != kernel.points_per_axis:
        raise ValueError(f"points_per_axis = {points_per_axis} differs from the kernel's grid K = {kernel.points_per_axis}.")
    return kernel.points_per_axis


def _choose_method(method: str, num_steps: int, channels: int, dim: int, kernel, memory_length, periodic: bool) -> str:
    """``"auto"``: direct for short runs; long 2D/3D (or periodic) runs fft while the kernel table stays below
    ``MAX_FFT_TABLE_BYTES``; long chain runs blocked."""
    if method != "auto":
        return method
    direct_cost = float(num_steps) * num_steps * channels * channels
    table_bytes = 8.0 * num_steps * channels * channels
    if memory_length is not None or (kernel is not None and num_steps <= kernel.num_lags):
        return "direct" if direct_cost < 1e9 else "fft"
    if (dim >= 2 or periodic) and table_bytes <= MAX_FFT_TABLE_BYTES:
        return "direct" if direct_cost < 1e9 else "fft"
    return "direct" if (direct_cost < 2e10 and num_steps <= 40_000) else "blocked"


def _check_grid_size(k_grid: int, dim: int, dof: int, duration: float) -> None:
    """Refuse zone grids that cannot fit in memory, with a clear message instead of an OOM kill."""
    modes = k_grid**dim * dof
    if modes > MAX_ZONE_MODES:
        raise ValueError(
            f"an exact infinite-lattice kernel up to τ = {duration:.4g} needs a zone grid of points_per_axis = "
            f"{k_grid} ({modes:.3g} modes), more than this engine holds ({MAX_ZONE_MODES:.3g}). Shorten the run, "
            "pass a smaller points_per_axis with allow_recurrence=True (the grid then recurs like a finite "
            "supercell), or use the full engine."
        )


def _check_recurrence(valid: float, needed: float, k_grid, allow: bool) -> None:
    if needed <= valid * (1 + 1e-9):
        return
    if not allow:
        raise ValueError(
            f"the run needs the kernel up to τ = {needed:.4g}, but a zone grid of points_per_axis = {k_grid} is exact only up to "
            f"τ ≈ {valid:.4g} (after that it recurs like a {k_grid}-periodic supercell); raise points_per_axis "
            "(or pass allow_recurrence=True to accept the echo)."
        )
    warn_user(
        f"allow_recurrence: the zone grid points_per_axis = {k_grid} is exact only up to τ ≈ {valid:.4g} of the {needed:.4g} "
        "this run needs; later, echoes return as in a periodic supercell of that size.",
        UserWarning,
    )


def _flat_amplitudes(thermal: ThermalBath, modes: ZoneModes):
    """The bath's mode amplitudes for all its keys, ``(E, J, dof, 2)`` (``E = 1`` for a single key)."""
    zs = thermal.amplitudes(modes.omega)
    return zs.reshape((-1,) + zs.shape[-3:])


# ---------------------------------------------------------------------------- direct and fft


def _table_parts(system: System, method, schedule: Schedule, dt, kernel, memory_length, points_per_axis, block_steps, boundary,
                 allow_recurrence, cache, cache_dir, thermal, progress) -> dict:
    """The table ``−2πδ Γ(lδ)`` (given, or computed and cached), its grid and lags; the bath's modes."""
    lattice, cells = system.lattice, np.asarray(system.sites, dtype=int)
    fractional = site_fractional(lattice, cells)
    channels = len(cells) * lattice.dof
    num_steps = schedule.num_steps
    lags = num_steps if memory_length is None else max(1, int(round(float(memory_length) / dt)))
    lags = min(lags, num_steps)
    if kernel is not None:
        if memory_length is None and kernel.num_lags < num_steps:
            raise ValueError(
                f"duration = {schedule.duration:g} (→ {num_steps} steps of dt = {dt:g}) is longer than the precomputed kernel "
                f"({kernel.num_lags} lags, τ ≤ {kernel.duration:g}); precompute a longer kernel or set memory_length."
            )
        if kernel.num_lags < lags:
            raise ValueError(f"memory_length = {memory_length} is longer than the precomputed kernel (τ ≤ {kernel.duration:g}).")
        values, k_grid = kernel.values, kernel.points_per_axis
    else:
        k_grid = points_per_axis or default_points_per_axis(lattice, lags * dt, fractional)
        if lattice.dim == 1:  # 2D/3D tables of long runs are binned (kernels._binned): no mode array is held
            _check_grid_size(int(k_grid), lattice.dim, lattice.dof, lags * dt)
        values = precompute_kernel(lattice, cells, dt, lags * dt, points_per_axis=k_grid, cache=cache, cache_dir=cache_dir,
                                   boundary=boundary, progress=progress).values
    table = -TWO_PI * dt * np.asarray(values)[1 : lags + 1].reshape(lags, channels, channels)
    valid = kernel_valid_time(lattice, k_grid, fractional)
    if boundary == "periodic":
        warn_echo(lattice, (int(k_grid),) * lattice.dim, lags * dt, what="the run on the periodic supercell's kernel",
                  remedy="Use a larger supercell, or the infinite lattice (supercell=None), if that matters.")
    else:
        _check_recurrence(valid, lags * dt, k_grid, allow_recurrence)
    modes = amplitudes = None
    if thermal is not None:
        modes = zone_modes_grid(lattice, int(thermal.points_per_axis or k_grid))
        amplitudes = _flat_amplitudes(thermal, modes)
    block = int(block_steps or min(FFT_BLOCK, num_steps)) if method == "fft" else 0
    return dict(points_per_axis=int(k_grid), valid_time=float(valid), lags=int(lags), block_steps=block, window=len(cells),
                chebyshev_nodes=0, modes=modes, table=table, coords=None, thermal_amplitudes=amplitudes)


# ---------------------------------------------------------------------------- blocked


def _line_layout(system: System):
    """For sites on one line with equal cell steps: (direction û, coordinates along û, cell step)."""
    cells = system.site_cells
    positions = np.asarray(system.site_positions(), dtype=float)
    if len(cells) < 2:
        return None
    step = cells[1] - cells[0]
    if not np.all(np.diff(cells, axis=0) == step) or not np.any(step):
        return None
    direction = positions[-1] - positions[0]
    direction = direction / np.linalg.norm(direction)
    return direction, positions @ direction, step


def _choose_block(num_steps: int, stride: int, target: int) -> int:
    """A block length commensurate with the recording ``stride`` (one divides the other), near ``target``,
    preferably dividing ``num_steps``."""
    target = max(1, min(int(target), num_steps))
    candidates = set()
    for b in range(1, min(4 * target, num_steps) + 1):
        if b % stride == 0 or stride % b == 0:
            candidates.add(b)
    best = None
    for b in sorted(candidates):
        ratio = abs(math.log(b / target))
        divides = num_steps % b == 0
        key = (0 if (divides and ratio < math.log(2.0)) else 1, ratio)
        if best is None or key < best[0]:
            best = (key, b)
    assert best is not None  # b = 1 is always a candidate (stride % 1 == 0)
    return best[1]


def _default_block(modes_count: int, window_channels: int) -> int:
    """Block length balancing the near field (``∝ B P_w²`` per step, a matrix–vector product) against
    the far field (``∝ 4 n M P_w / B`` per step in matrix products, ``n ≈ 25`` nodes, ``M`` modes); the
    factor 0.2 is the measured efficiency ratio of the two on a 2-core CPU (optimum B ≈ 240 for the
    800-τ chain run of the benchmark)."""
    return int(np.clip(math.sqrt(0.2 * 4 * 25 * modes_count / max(window_channels, 1)), 32, 1024))


def _choose_window(window, layout, num_sites: int, radius: float, speed: float, block_time: float) -> int:
    if window is not None:
        if isinstance(window, bool) or int(window) != window or int(window) < 1:
            raise ValueError(f"window must be a positive integer; got {window!r}.")
        window = min(int(window), num_sites)
        if window < num_sites and layout is None:
            raise ValueError("window < number of sites needs tracked sites on one line with equal cell steps (e.g. line_sites).")
        return window
    if layout is None or num_sites <= 8:
        return num_sites
    _, coords, _ = layout
    spacing = float(np.min(np.diff(coords)))
    need = int(math.ceil((2.0 * radius + 1.5 * speed * block_time) / spacing)) + 2
    return min(num_sites, max(need, 3))


def _blocked_grid(system: System, num_steps: int, dt: float, points_per_axis, allow_recurrence, thermal) -> tuple[int, float]:
    """The blocked method's zone grid (the thermal bath's, when only it gives one) and its valid time."""
    lattice, cells = system.lattice, system.site_cells
    if thermal is not None and thermal.points_per_axis is not None and points_per_axis is not None:
        if int(thermal.points_per_axis) != int(points_per_axis):
            raise ValueError(
                f"thermal.points_per_axis = {thermal.points_per_axis} differs from points_per_axis = {points_per_axis}: the "
                "blocked method carries the thermal modes on its own zone grid; give one of them."
            )
    if points_per_axis is None and thermal is not None and thermal.points_per_axis is not None:
        points_per_axis = int(thermal.points_per_axis)
    k_grid = int(points_per_axis or default_points_per_axis(lattice, num_steps * dt, cells))
    _check_grid_size(k_grid, lattice.dim, lattice.dof, num_steps * dt)
    valid = kernel_valid_time(lattice, k_grid, cells)
    _check_recurrence(valid, num_steps * dt, k_grid, allow_recurrence)
    return k_grid, valid


def _blocked_parts(system: System, num_steps, dt, stride, points_per_axis, block_steps, window, allow_recurrence, thermal, radius,
                   fastest) -> dict:
    """Grid, block, window, Chebyshev nodes and the (shared) zone modes of the blocked method."""
    lattice = system.lattice
    num_sites, dof = len(system.site_cells), lattice.dof
    layout = _line_layout(system)
    k_grid, valid = _blocked_grid(system, num_steps, dt, points_per_axis, allow_recurrence, thermal)
    if block_steps is None:
        modes_count = -(-k_grid**lattice.dim // 2) * dof
        provisional = _choose_window(window, layout, num_sites, radius, fastest, 256 * dt)
        target = _default_block(modes_count, provisional * dof)
    else:
        target = int(block_steps)
    block = _choose_block(num_steps, stride, target)
    window_used = _choose_window(window, layout, num_sites, radius, fastest, block * dt)
    modes = zone_modes_grid(lattice, k_grid)  # once: near-field table, far field and bath
    amplitudes = None if thermal is None else _flat_amplitudes(thermal, modes)
    return dict(
        points_per_axis=k_grid, valid_time=float(valid), lags=int(block), block_steps=int(block), window=int(window_used),
        chebyshev_nodes=nodes_for_block(modes.omega, block * dt), modes=modes, table=None,
        coords=None if layout is None else np.asarray(layout[1]), thermal_amplitudes=amplitudes,
    )
