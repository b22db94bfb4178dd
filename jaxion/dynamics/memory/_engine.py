"""The public functions of the memory engine: validate once, build the plan, run it, assemble the result.

``simulate_memory`` integrates (2.12)–(2.14) (paper 2, Sec. II) with the discretisation (A1)–(A2) of paper 2's
Appendix and keeps the energy balance (1.11) of paper 1 (see :mod:`jaxion.dynamics.memory`). The flow is the
one every engine shares (``docs/architecture.md``): the shared checks of :mod:`jaxion.dynamics._common`, one
frozen :class:`~._plan.MemoryPlan`, one runner per method (:mod:`._direct`, :mod:`._fft`, :mod:`._blocked`)
returning one :class:`~._runs.Records`, one assembly (:mod:`._result`), and the run's status raised as
:class:`~jaxion.dynamics._common.SimulationError` with ``throw=True``.
"""

from __future__ import annotations

import numpy as np

from ..._validation import RealScalar, check_positive
from ...kernels import ResponseKernel
from ...parallel import device_mesh
from ...system import System
from .._common import (
    check_bias_force,
    check_duration,
    check_ion_state,
    check_status,
    check_supercell,
    warn_failed_members,
)
from ..thermal import ThermalBath
from ._blocked import run_blocked
from ._direct import run_direct
from ._fft import run_fft
from ._physics import build_physics, check_start_covered, coverage
from ._plan import MAX_OMEGA_DT, MAX_STEP_OVER_RANGE, METHODS, build_plan, save_schedule
from ._result import MemoryResult, assemble, failure_detail
from ._runs import Ions

__all__ = ["simulate_memory", "simulate_memory_batch"]

_RUNNERS = {"direct": run_direct, "fft": run_fft, "blocked": run_blocked}


def simulate_memory(
    system: System,
    ion_position,
    ion_velocity,
    duration: RealScalar,
    *,
    dt: RealScalar,
    constraint=None,
    bias_force=None,
    save_times=None,
    kernel: ResponseKernel | None = None,
    memory_length: RealScalar | None = None,
    method: str = "auto",
    points_per_axis: int | None = None,
    block_steps: int | None = None,
    window: int | None = None,
    all_sites_interact: bool = False,
    coverage_tolerance: float = 1e-10,
    allow_recurrence: bool = False,
    cache=True,
    cache_dir=None,
    thermal: ThermalBath | None = None,
    save_sites: bool = True,
    supercell=None,
    progress: bool = False,
    throw: bool = True,
) -> MemoryResult:
    """Integrate the ion(s) through an infinite lattice with the memory kernel (2.12)–(2.14).

    Args:
        system: lattice, pair potential, mass ratio and the *tracked* sites (``system.sites``): the
            sites whose displacement is followed. By default only they interact with the ion (paper 1's
            convention); with ``all_sites_interact=True`` every lattice site interacts (paper 2's chain)
            and the tracked sites must cover every site the ion comes near.
        ion_position, ion_velocity: ``(3,)``, or ``(ions, 3)`` for several ions (no direct ion–ion force).
        duration: length of the run (τ); the engine takes ``ceil(duration/dt)`` steps.
        dt: time step ``δ`` (keyword-only, required; paper 2 uses ``1/(60 ω_fast)``); ``ω_max dt`` must not
            exceed 0.1.
        constraint: ``None`` (free 3D ions) or a direction (one, or one per ion): each ion then moves on
            the line through its start along it (give velocities parallel to it).
        bias_force: constant force on each ion: a scalar (along ``constraint``; paper 2's bias ``β`` per
            lattice spacing ``α`` is the force ``β/α``), a ``(3,)`` vector, or one per ion.
        save_times: times to record, on the step grid ``n·dt`` (a time within ``1e-6 dt`` of a grid point is
            snapped to it; others raise ``ValueError``), non-decreasing in ``[0, duration]``. Default: every step.
            The final state is always in ``final_state``.
        kernel: a :class:`jaxion.kernels.ResponseKernel` table (``method="direct"`` or ``"fft"``;
            also fixes the zone grid for ``"blocked"``). Default: computed (and cached on disk) for this run.
        memory_length: truncate the convolution to the last ``memory_length`` (τ) — an approximation
            (the kernel decays slowly, as ``τ^{−1/2}`` on a chain); direct and fft methods.
        method: ``"direct"`` (quadratic), ``"fft"`` (the same sum by hierarchical FFT blocks,
            ``O(T log² T)``), ``"blocked"`` (far field by zone modes, near field direct), or ``"auto"``
            (direct for short runs; long 2D/3D runs ``"fft"`` while the kernel table stays below 1 GB;
            long chain runs ``"blocked"``).
        points_per_axis: zone grid ``K`` (default: the smallest exact over the run, see
            :func:`jaxion.kernels.default_points_per_axis`).
        block_steps: ``B`` for the blocked method (default from the problem size) and the fft method
            (default 64).
        window: number of consecutive tracked sites handled in each block (blocked method; sites on a
            line only). Default: all sites when few, else enough for the ion's reach in a block.
        all_sites_interact: see ``system``; a run whose ion comes within interaction range
            (``|φ| > coverage_tolerance × max|φ|``) of an untracked lattice site fails (status 4); an ion that
            *starts* there is a ``ValueError``.
        coverage_tolerance: threshold of that check and of the window check.
        allow_recurrence: allow a run longer than the zone grid's valid time (the kernel then echoes like
            a periodic supercell's) instead of raising.
        cache, cache_dir: disk cache of kernel tables (see :mod:`jaxion.kernels`).
        thermal: ``None`` (framework at rest at ``τ = 0``, the default) or a
            :class:`jaxion.dynamics.thermal.ThermalBath`: the tracked sites then move as
            ``ρ = ρ_hom + ρ_response`` ((2.12); ``ρ_hom`` the free modes of the zone grid with random phases
            and amplitudes, paper 2, Sec. II). The bath's modes are those of the engine's zone grid
            (``points_per_axis``; a ``ThermalBath.points_per_axis`` sets it when ``points_per_axis`` is not
            given); with the same key both methods see the same ``ρ_hom``. A batch of keys runs an ensemble
            in one vmapped call; every array of the result (and ``loss``, ``final_state``, ``status``) then
            gains a leading ensemble axis ``(E, …)``. ``energy_error`` stays exact: ``W_F`` is the work on the
            framework along the full ``ρ``.
        save_sites: record the tracked sites' displacements at every save (``records × sites × dof``
            floats: 0.5 GB for 40 000 records of 1 560 sites). ``False`` keeps only the final ones
            (``final_state``) and leaves ``site_displacements`` ``None``.
        supercell: a tuple of equal sizes ``(K,) * dim``: run on the full engine's periodic supercell instead
            of the infinite lattice. The kernel is then the zone sum on the periodic grid ``q = 2πm/K``
            (``q = 0`` included, :func:`jaxion.kernels.zone_modes_grid`), which *is* that supercell's
            response: echoes and all, the run equals :func:`jaxion.simulate` on ``supercell`` for the
            tracked sites (tested), at the cost of a few sites instead of ``K^dim`` (direct or fft
            method; no thermal bath). Paper 1's Fig. 4 on 50³ this way: ``benchmarks/bench_full_engine.py``.
        progress: a progress bar while a long 2D/3D kernel table is computed.
        throw: raise :class:`~jaxion.dynamics._common.SimulationError` when the run fails (``status != 0``:
            non-finite state, an ion that left the tracked sites or outran the block window); ``False``
            returns the result with its ``status``.

    Returns:
        A :class:`MemoryResult`.

    Raises:
        ValueError: bad input (each message names the parameter), a run longer than the given kernel,
            a too large ``dt``, or an ion that starts next to untracked sites.
        SimulationError: with ``throw=True``, a run that failed (see ``throw``).
    """
    result, detail = _simulate(
        system, ion_position, ion_velocity, duration, dt=dt, constraint=constraint, bias_force=bias_force, save_times=save_times,
        kernel=kernel, memory_length=memory_length, method=method, points_per_axis=points_per_axis, block_steps=block_steps,
        window=window, all_sites_interact=all_sites_interact, coverage_tolerance=coverage_tolerance,
        allow_recurrence=allow_recurrence, cache=cache, cache_dir=cache_dir, thermal=thermal, save_sites=save_sites,
        supercell=supercell, progress=progress,
    )
    return check_status(result, throw, engine="simulate_memory", detail=detail)


def simulate_memory_batch(system: System, ion_positions, ion_velocities, duration: RealScalar, *, dt: RealScalar, devices=None,
                          **options) -> MemoryResult:
    """Independent single-ion runs of :func:`simulate_memory`, one per row of ``ion_positions`` /
    ``ion_velocities`` (``(members, 3)``), in one compiled, vmapped call.

    Every member shares the system, the kernel, ``dt``, the duration, the constraint and the bias force (a
    scalar or a ``(3,)`` force), so the kernel or zone modes are built once; paper 2's Fig. 8 (many initial
    speeds under one bias) is such a batch. With several ``devices`` (default: all local devices) the members
    are split over them with ``jax.shard_map`` (:mod:`jaxion.parallel`): on CPU make each core a device with
    ``XLA_FLAGS=--xla_force_host_platform_device_count=<cores>``. ``options`` are those of
    :func:`simulate_memory` except ``thermal`` and ``throw``. Every array of the returned :class:`MemoryResult`
    (and ``loss``, ``status``, ``final_state``) gains a leading ``members`` axis. A batch never raises for a
    failed member (an ion that left the tracked sites, ...): it keeps the others, sets that member's ``status``
    and warns (``RuntimeWarning``) naming the member and its initial speed.
    """
    positions = np.asarray(ion_positions, dtype=float)
    velocities = np.asarray(ion_velocities, dtype=float)
    if positions.ndim != 2 or positions.shape[-1] != 3 or positions.shape[0] == 0 or velocities.shape != positions.shape:
        raise ValueError(
            f"ion_positions and ion_velocities must both have shape (members, 3) with members >= 1; got "
            f"{positions.shape} and {velocities.shape}."
        )
    if "thermal" in options:
        raise ValueError("simulate_memory_batch takes no thermal bath; run a thermal ensemble with simulate_memory(thermal=...).")
    if "throw" in options:
        raise ValueError("simulate_memory_batch takes no throw: a batch never raises for a failed member (see result.status).")
    if "bias_force" in options and np.ndim(options["bias_force"]) > 1:
        raise ValueError(
            f"bias_force must be a scalar or a (3,) vector shared by every member; got shape {np.shape(options['bias_force'])}."
        )
    if "constraint" in options and np.ndim(options["constraint"]) > 1:
        raise ValueError(f"constraint must be one (3,) direction shared by every member; got shape {np.shape(options['constraint'])}.")
    result, _ = _simulate(system, positions, velocities, duration, dt=dt, mesh=device_mesh(devices), members=True, **options)
    speeds = np.linalg.norm(velocities, axis=-1)
    warn_failed_members(result.status, lambda i: f"initial speed {speeds[i]:.6g}")
    return result


# ============================================================================ the one path of every run


def _check_scalars(system, dt, duration, method, block_steps, coverage_tolerance, memory_length) -> None:
    if not isinstance(system, System):
        raise ValueError(f"system must be a jaxion System; got {type(system).__name__}.")
    check_positive("dt", dt)
    check_duration(duration)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid options are {list(METHODS)}.")
    if block_steps is not None and (isinstance(block_steps, bool) or int(block_steps) != block_steps or int(block_steps) < 1):
        raise ValueError(f"block_steps must be a positive integer; got {block_steps!r}.")
    check_positive("coverage_tolerance", coverage_tolerance)
    if memory_length is not None:
        check_positive("memory_length", memory_length)


def _check_step(system: System, dt: float, velocities: np.ndarray) -> float:
    """``dt`` must resolve the fastest lattice mode and the ion's crossing of the interaction; returns the
    largest initial speed."""
    omega_max = system.lattice.max_frequency()
    if omega_max * dt > MAX_OMEGA_DT:
        raise ValueError(
            f"dt = {dt:.4g} is too large: the fastest lattice mode (ω_max = {omega_max:.4g}) gets only "
            f"{1.0 / (omega_max * dt):.3g} steps per period; the convolution (2.12) needs ω_max·dt <= {MAX_OMEGA_DT} "
            f"(paper 2 uses dt = 1/(60 ω_max) = {1.0 / (60 * omega_max):.3g})."
        )
    interaction_range = min(float(p.range) for p in system.potentials)  # the narrowest potential must be resolved
    fastest = float(np.max(np.linalg.norm(velocities, axis=-1)))
    if fastest * dt > MAX_STEP_OVER_RANGE * interaction_range:
        raise ValueError(
            f"dt = {dt:.4g} is too large for the ion: at speed {fastest:.4g} it moves {fastest * dt:.3g} per step, "
            f"more than {MAX_STEP_OVER_RANGE} × the interaction range {interaction_range:.3g}."
        )
    return fastest


def _simulate(system, ion_position, ion_velocity, duration, *, dt, constraint=None, bias_force=None, save_times=None, kernel=None,
              memory_length=None, method="auto", points_per_axis=None, block_steps=None, window=None, all_sites_interact=False,
              coverage_tolerance=1e-10, allow_recurrence=False, cache=True, cache_dir=None, thermal=None, save_sites=True,
              supercell=None, progress=False, mesh=None, members=False) -> tuple[MemoryResult, str]:
    """Validate, plan, run and assemble one run, a thermal ensemble or (``members``) a batch of single-ion
    runs; returns the result and the detail of a failure (for :func:`check_status`)."""
    _check_scalars(system, dt, duration, method, block_steps, coverage_tolerance, memory_length)
    dt, duration, tolerance = float(dt), float(duration), float(coverage_tolerance)
    start = check_ion_state(ion_position, ion_velocity, constraint, several=True)
    bias = np.atleast_2d(np.asarray(check_bias_force(bias_force, start)))
    position, velocity = np.atleast_2d(np.asarray(start.position)), np.atleast_2d(np.asarray(start.velocity))
    line = None if start.line is None else np.atleast_2d(np.asarray(start.line))
    fastest = _check_step(system, dt, velocity)
    sizes = None if supercell is None else check_supercell(system.lattice, supercell)
    schedule = save_schedule(save_times, duration, dt)
    cover = coverage(system.potentials, tolerance)
    shared = slice(0, 1) if members else slice(None)  # a batch member is one ion; its line and bias are shared
    physics = build_physics(system, None if line is None else line[shared], bias[shared], cover.radius, all_sites_interact)
    check_start_covered(physics, position, cover, tolerance)
    plan = build_plan(
        system, dt=dt, schedule=schedule, method=method, kernel=kernel, memory_length=memory_length, points_per_axis=points_per_axis,
        block_steps=block_steps, window=window, supercell=sizes, allow_recurrence=allow_recurrence, cache=cache, cache_dir=cache_dir,
        thermal=thermal, progress=progress, cover=cover, fastest=fastest,
    )
    records = _RUNNERS[plan.method](plan, physics, Ions(position, velocity, members, mesh), system)
    if members:
        starts, biases, single, batch_shape = position[:, None], bias[None, :1], True, (position.shape[0],)
    else:
        starts, biases, single = position[None], bias[None], np.ndim(ion_position) == 1
        batch_shape = None if not plan.thermal_shape else plan.thermal_shape
    result = assemble(records, plan, starts, biases, float(system.mass_ratio), single_ion=single, save_sites=bool(save_sites),
                      batch_shape=batch_shape)
    return result, failure_detail(records, plan)
