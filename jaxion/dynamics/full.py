"""Full dynamics: the coupled equations of motion (1.3)–(1.4) on a periodic supercell.

    (μ/4π²) σ'' = −∇_σ Φ(ρ, σ) + F                                          (1.3)
    (1/4π²) ρ'' = −Ξ ρ − ∇_ρ Φ(ρ, σ)                                        (1.4)

Every mass of the supercell is a degree of freedom; ``Ξρ`` is applied matrix-free by the lattice's stencil
and the ion couples only to ``system.sites`` (:mod:`jaxion.dynamics._framework`). The ODE is integrated with
diffrax (adaptive Tsit5 by default) or, with ``solver="verlet"``, by a fused fixed-step Störmer–Verlet loop
(:mod:`jaxion.dynamics._verlet`): symplectic, one force evaluation per step, the framework updated in place
inside one ``jax.lax`` while-loop, the trajectory saved inside it. A solve ends at ``duration`` or, for a
pass, when the ion crosses the stop plane (a diffrax event, or a per-step check in the fused loop).

Energy bookkeeping: ``E = μσ'²/(8π²) + Φ(ρ, σ) + ρ'²/(8π²) + ρᵀΞρ/2`` (minus ``F·σ`` with a bias force
``F``) is conserved by (1.3)–(1.4); the result carries its drift as a diagnostic. The ion's loss is
``Δ = μ(v0² − v1²)/(8π²)``.

The ion either moves freely in 3D (``constraint=None``) or along a fixed line (``constraint`` = a
direction): the force is then projected on the line, as for the papers' figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
from jaxtyping import Array, Bool, Float, Int

from .._validation import RealScalar, check_choice, check_finite, check_positive, is_concrete
from ..system import PassGeometry, System, pass_geometry
from ._common import (
    SOLVERS,
    AbstractResult,
    IonStart,
    SupercellLike,
    check_bias_force,
    check_duration,
    check_ion_state,
    check_max_steps,
    check_save_times,
    check_status,
    check_step_limit,
    check_stop_plane,
    check_supercell,
    finite_status,
    kinetic_energy,
    plane_event,
    status_from_diffrax,
    warn_echo,
)
from ._framework import FullArgs, FullState, framework_energy, gather, site_index, total_energy
from ._verlet import check_verlet_step, run_verlet, saves_per_step, verlet_time_step

__all__ = [
    "FullState",
    "FullResult",
    "simulate",
    "simulate_pass",
    "total_energy",
    "verlet_time_step",
    "SOLVERS",
    "FUSED_SOLVERS",
    "check_inside",
]

# Fixed-step integrators fused into one jax.lax loop (no diffrax): `jaxion.dynamics._verlet`.
FUSED_SOLVERS = ("verlet",)
# Largest stable 2π ω_max dt of each diffrax solver on the imaginary axis (oscillatory modes), with a margin.
_STABILITY_LIMIT = {"tsit5": 2.5, "dopri5": 2.5, "dopri8": 3.0, "bosh3": 1.5, "heun": 0.9}


class FullResult(AbstractResult):
    """What a full-engine solve returns (JAX arrays; a leading ``members`` axis in sweeps).

    Attributes:
        loss: the ion's kinetic-energy loss ``μ(v0² − v1²)/(8π²)``.
        framework_energy: final framework energy ``ρ'²/(8π²) + ρᵀΞρ/2`` (the framework starts as given).
        energy_drift: change of the conserved energy ``E − F·σ`` from start to end (a diagnostic of accuracy).
        final_state: the full :class:`FullState` at the end.
        end_time: time at which the solve ended: for a pass, the time the ion crossed the stop plane (located on
            the solver's dense output; the end of the crossing step with the fused Verlet solver).
        stopped_by_event: whether the ion crossed the stop plane.
        num_steps: accepted solver steps.
        status: 0 = success, 1 step budget exhausted, 2 solver failure, 3 non-finite state
            (:data:`jaxion.dynamics._common.STATUS_MESSAGES`).
        ts, ion_positions, ion_velocities, site_displacements: the trajectory at ``save_times`` (``None``
            without them); times after the end of the solve are ``inf``.
    """

    loss: Float[Array, "*batch"]
    framework_energy: Float[Array, "*batch"]
    energy_drift: Float[Array, "*batch"]
    final_state: FullState
    end_time: Float[Array, "*batch"]
    stopped_by_event: Bool[Array, "*batch"]
    num_steps: Int[Array, "*batch"]
    status: Int[Array, "*batch"]
    ts: Float[Array, "*batch times"] | None
    ion_positions: Float[Array, "*batch times 3"] | None
    ion_velocities: Float[Array, "*batch times 3"] | None
    site_displacements: Float[Array, "*batch times watched dof"] | None


class _Solve(NamedTuple):
    """Validated solver options of one run (the plan of the full engine; traced values allowed)."""

    solver: str | diffrax.AbstractSolver
    dt: Float[Array, ""] | None
    rtol: float
    atol: float
    dtmax: float | None
    max_steps: int
    save_times: Float[Array, " times"] | None
    adjoint: diffrax.AbstractAdjoint | None
    max_frequency: float | None
    progress: bool


def _max_norm(tree) -> Array:
    return optx.max_norm(tree)


def _record(t, y, args: FullArgs):
    return y.ion_position, y.ion_velocity, gather(y.displacement, args.watch)


def _vector_field(t, state: FullState, args: FullArgs) -> FullState:
    return args.rates(state)


def _reduced_coordinates(system: System, positions) -> np.ndarray:
    """Cell coordinates of Cartesian points relative to the sites' centroid (lattice axes only)."""
    vectors = np.asarray(system.lattice.primitive_vectors)
    centre = np.asarray(system.site_positions()).mean(axis=0)
    return (np.asarray(positions) - centre) @ np.linalg.pinv(vectors).T


def check_inside(system: System, supercell: Sequence[int], positions, what: str) -> None:
    """An ion path must stay within half a supercell of the interacting sites, else it would meet
    periodic images of sites that are not modelled."""
    reduced = np.atleast_2d(_reduced_coordinates(system, positions))
    reach = np.max(np.abs(reduced), axis=0)
    half = 0.5 * np.asarray(supercell)
    if np.any(reach > half):
        raise ValueError(
            f"{what} leaves the simulated supercell {tuple(supercell)}: it reaches {np.round(reach, 2).tolist()} "
            f"cells from the interacting sites along the lattice axes, but a periodic supercell holds only "
            f"{half.tolist()} on each side. Use a larger supercell."
        )


def simulate(
    system: System,
    supercell: SupercellLike,
    ion_position,
    ion_velocity,
    duration: RealScalar,
    *,
    constraint=None,
    bias_force=None,
    stop_plane: tuple | None = None,
    initial_displacement=None,
    initial_velocity=None,
    solver: str | diffrax.AbstractSolver = "tsit5",
    dt: RealScalar | None = None,
    rtol: float = 1e-9,
    atol: float = 1e-12,
    dtmax: float | None = None,
    max_steps: int = 200_000,
    save_times=None,
    watch_sites=None,
    adjoint: diffrax.AbstractAdjoint | None = None,
    check_echo: bool = True,
    max_frequency: float | None = None,
    progress: bool = False,
    throw: bool = True,
) -> FullResult:
    """Integrate (1.3)–(1.4) on a periodic ``supercell`` from the given ion state.

    Args:
        system: lattice, interacting sites, potential, mass ratio.
        supercell: number of cells along each lattice axis (periodic), a tuple.
        ion_position, ion_velocity: ion state at τ = 0 (Cartesian, units of l and l per τ).
        duration: largest time of the solve (τ).
        constraint: ``None`` (free 3D ion) or a direction: the ion then moves on the line through
            ``ion_position`` along it (give ``ion_velocity`` parallel to it).
        bias_force: a constant force on the ion (energy per length): a ``(3,)`` vector, or a scalar along
            ``constraint``.
        stop_plane: ``(point, normal)``: stop when ``(σ − point)·normal > 0`` (a diffrax event; checked
            after every step by the fused solver).
        initial_displacement, initial_velocity: framework state at τ = 0, ``(dof, *supercell)``
            (default: at rest).
        solver: a name in :data:`SOLVERS` or a diffrax solver, or ``"verlet"`` (:data:`FUSED_SOLVERS`):
            fixed-step velocity Verlet fused into one ``jax.lax`` loop, symplectic, one force evaluation
            per step, several times cheaper per step than diffrax at large supercells; it ignores
            ``rtol``/``atol``/``dtmax``, saves ``save_times`` inside its loop, has no progress bar, and its
            reverse-mode gradients go through a checkpointed loop (``adjoint`` must be ``None``).
        dt: fixed time step (checked against the fastest lattice mode); ``None`` = adaptive steps with
            ``rtol``/``atol`` (max norm over all components) and optional ``dtmax``; for ``"verlet"``,
            ``None`` = :func:`verlet_time_step` (from ``ω_max``, the speed and the potential's range).
        max_steps: step budget; running out sets ``status`` 1.
        save_times: times at which to record the ion and the ``watch_sites`` (cell indices; default:
            the interacting sites).
        adjoint: diffrax adjoint for gradients (default ``RecursiveCheckpointAdjoint``).
        check_echo: warn (:class:`EchoWarning`) if ``duration`` exceeds the supercell's echo time.
        max_frequency: the supercell's ``ω_max`` if already known (sets the first adaptive step and
            the stability check of a fixed ``dt``); computed from the lattice when ``None``.
        progress: show a progress bar over simulated time (diffrax's tqdm meter) for long runs.
        throw: raise :class:`SimulationError` if the run fails (``status != 0``); ``False`` returns the result.

    Returns:
        A :class:`FullResult`.
    """
    supercell = check_supercell(system.lattice, supercell, system.site_cells)
    check_duration(duration)
    start = check_ion_state(ion_position, ion_velocity, constraint)
    if is_concrete(start.position):
        check_inside(system, supercell, start.position, "the ion's start position")
    if check_echo and is_concrete((system.lattice, duration)):
        warn_echo(system.lattice, supercell, duration, what="the run")
    state0 = initial_state(system, supercell, start, initial_displacement, initial_velocity)
    args = make_args(system, supercell, start, bias_force, stop_plane, watch_sites)
    if max_frequency is None and is_concrete(system.lattice):
        max_frequency = system.lattice.max_frequency(supercell)
    plan = _plan_solve(system, start, solver, dt, rtol, atol, dtmax, max_steps, check_save_times(save_times, duration),
                       adjoint, max_frequency, progress)
    result = _run(args, supercell, state0, jnp.asarray(duration, float), plan)
    return check_status(result, throw, engine="simulate")


def make_args(system: System, supercell, start: IonStart, bias_force=None, stop_plane=None, watch_sites=None) -> FullArgs:
    """The validated right-hand-side data of a run (:class:`FullArgs`)."""
    dim, dof = system.lattice.dim, system.lattice.dof
    if watch_sites is None:
        watch_cells, watch_atoms = system.site_cells, system.site_atoms
    else:
        rows = np.asarray(watch_sites, int).reshape(-1, dim + (1 if system.lattice.atoms > 1 else 0))
        watch_cells, watch_atoms = rows[:, :dim], (rows[:, dim] if system.lattice.atoms > 1 else None)
    return FullArgs(
        system, site_index(system.site_cells, system.site_atoms, supercell, dof), start.line, check_bias_force(bias_force, start),
        check_stop_plane(stop_plane), site_index(watch_cells, watch_atoms, supercell, dof),
    )


def initial_state(system: System, supercell, start: IonStart, initial_displacement, initial_velocity) -> FullState:
    """The state at ``τ = 0``: the ion's and the framework's (default at rest), shapes checked."""
    field_shape = (system.lattice.channels, *supercell)
    zeros = jnp.zeros(field_shape)
    displacement = zeros if initial_displacement is None else jnp.asarray(initial_displacement, float)
    velocity = zeros if initial_velocity is None else jnp.asarray(initial_velocity, float)
    for name, value in (("initial_displacement", displacement), ("initial_velocity", velocity)):
        if value.shape != field_shape:
            raise ValueError(f"{name} must have shape {field_shape}; got {value.shape}.")
        check_finite(name, value)
    return FullState(start.position, start.velocity, displacement, velocity)


def _plan_solve(system, start, solver, dt, rtol, atol, dtmax, max_steps, save_times, adjoint, max_frequency, progress) -> _Solve:
    """Check the solver options and fix the step: a fused solver's default step, or a fixed ``dt`` against
    the solver's stability limit."""
    max_steps = check_max_steps(max_steps)
    if isinstance(solver, str):
        check_choice("solver", solver, {**SOLVERS, **{name: None for name in FUSED_SOLVERS}})
    if isinstance(solver, str) and solver in FUSED_SOLVERS:
        for name, value, default in (("adjoint", adjoint, None), ("progress", progress, False)):
            if value is not default:
                raise ValueError(f"{name} is not supported by the fused solver {solver!r}; use a diffrax solver such as 'tsit5'.")
        if dt is None:
            if max_frequency is None:
                raise ValueError(f"solver={solver!r} with the default dt needs max_frequency (the lattice is traced).")
            dt = verlet_time_step(max_frequency, jnp.linalg.norm(start.velocity), system.interaction_range)
        else:
            check_verlet_step(dt, max_frequency)
    elif dt is not None:
        check_step_limit(dt, _STABILITY_LIMIT.get(solver, 1.0) if isinstance(solver, str) else 1.0, max_frequency,
                         method=f"the {solver if isinstance(solver, str) else 'chosen'} solver")
    else:
        check_positive("rtol", rtol)
        check_positive("atol", atol)
    return _Solve(solver, None if dt is None else jnp.asarray(dt, float), rtol, atol, dtmax, max_steps, save_times, adjoint,
                  max_frequency, bool(progress))


def _run(args: FullArgs, supercell, state0: FullState, duration, plan: _Solve) -> FullResult:
    """The compiled solve of a validated run, and its result (status before ``throw``)."""
    if isinstance(plan.solver, str) and plan.solver in FUSED_SOLVERS:
        per_step = 1 if plan.save_times is None else saves_per_step(plan.save_times, duration, plan.dt)
        final, end_time, stopped, num_steps, exhausted, records = run_verlet(
            args, state0, duration, plan.dt, plan.max_steps, plan.save_times, per_step
        )
        status = jnp.where(exhausted, 1, 0)
        trajectory = {} if records is None else dict(
            ts=records.ts, ion_positions=records.ion_positions, ion_velocities=records.ion_velocities,
            site_displacements=records.site_displacements,
        )
    else:
        final, end_time, stopped, num_steps, status, trajectory = _solve_diffrax(args, state0, duration, plan)
    return result_between(args, supercell, state0, final, end_time, stopped, num_steps, status, **trajectory)


def result_between(args: FullArgs, supercell, state0: FullState, final: FullState, end_time, stopped, num_steps, status,
                   **trajectory) -> FullResult:
    """The :class:`FullResult` of a solve from ``state0`` to ``final``: the ion's loss, the framework's
    energy, the drift of the conserved energy ``E − F·σ`` and the status (3 when the loss or the drift is
    not finite)."""
    system = args.system
    loss = kinetic_energy(system.mass_ratio, state0.ion_velocity) - kinetic_energy(system.mass_ratio, final.ion_velocity)
    bias_work = jnp.dot(args.bias, final.ion_position - state0.ion_position)
    drift = total_energy(system, final, supercell) - total_energy(system, state0, supercell) - bias_work
    return FullResult(
        loss=loss,
        framework_energy=framework_energy(system, final),
        energy_drift=drift,
        final_state=final,
        end_time=jnp.asarray(end_time, float),
        stopped_by_event=jnp.asarray(stopped),
        num_steps=jnp.asarray(num_steps),
        status=finite_status(jnp.asarray(status), loss, drift),
        **{name: trajectory.get(name) for name in ("ts", "ion_positions", "ion_velocities", "site_displacements")},
    )


def _solve_diffrax(args: FullArgs, state0: FullState, duration, plan: _Solve):
    """The diffrax solve: ``(final state, end time, stopped by the event, accepted steps, status,
    saved-trajectory fields)``."""
    solver = SOLVERS[plan.solver]() if isinstance(plan.solver, str) else plan.solver
    if plan.dt is not None:
        controller, dt0 = diffrax.ConstantStepSize(), plan.dt
    else:
        controller = diffrax.PIDController(rtol=plan.rtol, atol=plan.atol, norm=_max_norm, dtmax=plan.dtmax)
        dt0 = None if plan.max_frequency is None else jnp.asarray(0.1 / (2 * np.pi * max(plan.max_frequency, 1e-3)))
    # Module-level event and save functions (data travel in `args`), so that repeated eager calls reuse
    # diffrax's compiled solve instead of tracing new closures.
    subs = [diffrax.SubSaveAt(t1=True)]
    if plan.save_times is not None:
        subs.append(diffrax.SubSaveAt(ts=plan.save_times, fn=_record))
    solution = diffrax.diffeqsolve(
        diffrax.ODETerm(_vector_field),
        solver,
        t0=0.0,
        t1=duration,
        dt0=dt0,
        y0=state0,
        args=args,
        saveat=diffrax.SaveAt(subs=subs),
        stepsize_controller=controller,
        event=None if args.plane is None else plane_event(),
        max_steps=plan.max_steps,
        throw=False,
        progress_meter=diffrax.TqdmProgressMeter() if plan.progress else diffrax.NoProgressMeter(),
        adjoint=diffrax.RecursiveCheckpointAdjoint() if plan.adjoint is None else plan.adjoint,
    )
    assert solution.ys is not None and solution.ts is not None  # saveat always saves t1
    final = jax.tree_util.tree_map(lambda leaf: leaf[-1], solution.ys[0])
    trajectory = {}
    if plan.save_times is not None:
        positions, velocities, sites = solution.ys[1]
        trajectory = dict(ts=solution.ts[1], ion_positions=positions, ion_velocities=velocities, site_displacements=sites)
    stopped = solution.result == diffrax.RESULTS.event_occurred
    return final, solution.ts[0][-1], stopped, solution.stats["num_accepted_steps"], status_from_diffrax(solution.result), trajectory


def simulate_pass(
    system: System,
    speed: RealScalar,
    supercell: SupercellLike,
    *,
    direction=(0.0, 0.0, 1.0),
    impact=(0.0, 0.0, 0.0),
    margin: RealScalar | None = None,
    constrained: bool = True,
    time_limit_factor: RealScalar = 3.0,
    **options,
) -> FullResult:
    """One pass of paper 1's protocol: the ion starts ``7λ`` before the interacting sites with
    ``speed`` along ``direction`` (offset ``impact`` from the sites' centroid), the framework at rest,
    and the solve stops when it is ``7λ`` past the last site (diffrax event). The time limit is
    ``time_limit_factor × path_length / speed``; a pass that has not ended by then (the ion was
    reflected or trapped) reports ``stopped_by_event = False`` (and ``status`` 0).

    ``options`` are passed to :func:`simulate` (``solver``, ``dt``, ``rtol``, ``atol``, ``throw``, ...);
    ``solver="verlet"`` runs the fused fixed-step loop (default step :func:`verlet_time_step`).
    """
    supercell = check_supercell(system.lattice, supercell, system.site_cells)
    check_echo = options.pop("check_echo", True)
    check_positive("speed", speed)
    check_positive("time_limit_factor", time_limit_factor)
    geometry: PassGeometry = pass_geometry(system, direction, impact, margin)
    if is_concrete(geometry):
        check_inside(system, supercell, np.stack([np.asarray(geometry.start), np.asarray(geometry.stop_point)]), "the ion's path")
    if check_echo and is_concrete((system.lattice, geometry.path_length, speed)):
        transit = float(geometry.path_length) / float(speed)
        warn_echo(system.lattice, supercell, transit, what=f"at speed {float(speed):.3g} the pass")
    return simulate(
        system,
        supercell,
        geometry.start,
        speed * geometry.direction,
        time_limit_factor * geometry.path_length / speed,
        constraint=geometry.direction if constrained else None,
        stop_plane=(geometry.stop_point, geometry.direction),
        check_echo=False,
        **options,
    )
