"""Full dynamics: the coupled equations of motion (1.3)–(1.4) on a periodic supercell.

    (μ/4π²) σ'' = −∇_σ Φ(ρ, σ)                                              (1.3)
    (1/4π²) ρ'' = −Ξ ρ − ∇_ρ Φ(ρ, σ)                                        (1.4)

Every mass of the supercell is a degree of freedom; ``Ξρ`` is applied matrix-free by the lattice's
stencil and the ion couples only to ``system.sites``. The ODE is integrated with diffrax (adaptive
Tsit5 by default) or, with ``solver="verlet"``, by a fused fixed-step velocity-Verlet (Störmer–Verlet)
loop: symplectic, one force evaluation per step, the framework updated in place inside one
``jax.lax`` while-loop. A solve ends at ``duration`` or, for a pass, when the ion crosses the stop
plane (a diffrax event, or a per-step check in the fused loop).

Energy bookkeeping: ``E = μσ'²/(8π²) + Φ(ρ, σ) + ρ'²/(8π²) + ρᵀΞρ/2`` is conserved by (1.3)–(1.4); the
result carries its drift as a diagnostic. The ion's loss is ``Δ = μ(v0² − v1²)/(8π²)``.

The ion either moves freely in 3D (``constraint=None``) or along a fixed line (``constraint`` = a
direction): the force is then projected on the line, as for the papers' figures.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import diffrax
import equinox as eqx
import equinox.internal as eqxi
import jax
import jax.numpy as jnp
import numpy as np
import optimistix as optx
from jaxtyping import Array, Float, Int

from .._validation import check_choice, check_finite, check_positive, is_concrete
from ..lattice import supercell_echo_time
from ..system import PassGeometry, System, pass_geometry

__all__ = [
    "FullState",
    "SimulationResult",
    "EchoWarning",
    "simulate",
    "simulate_pass",
    "total_energy",
    "SOLVERS",
    "FUSED_SOLVERS",
    "RESULT_CODES",
    "verlet_time_step",
]

FOUR_PI_SQ = 4.0 * np.pi**2

SOLVERS = {
    "tsit5": diffrax.Tsit5,
    "dopri5": diffrax.Dopri5,
    "dopri8": diffrax.Dopri8,
    "bosh3": diffrax.Bosh3,
    "heun": diffrax.Heun,
}
# Fixed-step integrators fused into one jax.lax loop (no diffrax); see `_simulate_verlet`.
FUSED_SOLVERS = ("verlet",)
# Largest stable 2π ω_max dt on the imaginary axis (oscillatory modes), with a safety margin. Verlet's
# exact limit is 2 (symplectic leapfrog: ω dt < 2); 1.8 keeps a 10 % margin.
_STABILITY_LIMIT = {"tsit5": 2.5, "dopri5": 2.5, "dopri8": 3.0, "bosh3": 1.5, "heun": 0.9, "verlet": 1.8}
# Default Verlet step (see `verlet_time_step`): 2π ω_max dt <= _VERLET_LATTICE and v dt <= _VERLET_ION λ.
_VERLET_LATTICE = 0.5
_VERLET_ION = 0.05


class EchoWarning(UserWarning):
    """The run outlasts the time sound needs to go around the periodic supercell."""


class FullState(eqx.Module):
    """State of ion + framework: positions/velocities (per τ) of the ion and all supercell masses."""

    ion_position: Float[Array, "3"]
    ion_velocity: Float[Array, "3"]
    displacement: Float[Array, "dof *cells"]
    velocity: Float[Array, "dof *cells"]


class SimulationResult(eqx.Module):
    """What a full-engine solve returns (all arrays; batched along a leading axis in sweeps).

    Attributes:
        loss: the ion's kinetic-energy loss ``μ(v0² − v1²)/(8π²)``.
        framework_energy: final framework energy ``ρ'²/(8π²) + ρᵀΞρ/2`` (framework starts as given).
        energy_drift: ``E(end) − E(start)`` of the conserved total energy (a diagnostic of accuracy).
        final_state: the full :class:`FullState` at the end.
        end_time: time at which the solve ended (the event time for a pass).
        stopped_by_event: whether the ion crossed the stop plane.
        num_steps: accepted solver steps.
        result: status code, 0 = success; see :data:`RESULT_CODES` (1 step budget, 2 solver failure,
            3 non-finite state).
        ts, ion_positions, ion_velocities, site_displacements: subsampled trajectory (``None`` unless
            ``save_times`` was given); times after the end of the solve are ``inf``.
    """

    loss: Float[Array, ""]
    framework_energy: Float[Array, ""]
    energy_drift: Float[Array, ""]
    final_state: FullState
    end_time: Float[Array, ""]
    stopped_by_event: Array
    num_steps: Int[Array, ""]
    result: Int[Array, ""]
    ts: Float[Array, " times"] | None = None
    ion_positions: Float[Array, "times 3"] | None = None
    ion_velocities: Float[Array, "times 3"] | None = None
    site_displacements: Float[Array, "times watched dof"] | None = None


def _wrapped_index(cells: np.ndarray, supercell: Sequence[int]):
    """Per-axis integer indices of the given cells inside a periodic supercell."""
    wrapped = np.mod(cells, np.asarray(supercell))
    return tuple(jnp.asarray(wrapped[:, i]) for i in range(wrapped.shape[1]))


def _gather(field: Array, index) -> Array:
    """Rows ``(sites, dof)`` of a channels-first supercell field."""
    return field[(slice(None),) + index].T


def total_energy(system: System, state: FullState, supercell: Sequence[int]) -> Float[Array, ""]:
    """``μσ'²/(8π²) + Φ(ρ, σ) + ρ'²/(8π²) + ρᵀΞρ/2`` (paper 1, (1.2))."""
    index = _wrapped_index(system.site_cells, supercell)
    kinetic_ion = system.mass_ratio * jnp.sum(state.ion_velocity**2) / (2 * FOUR_PI_SQ)
    interaction = system.interaction_energy(state.ion_position, _gather(state.displacement, index))
    return kinetic_ion + interaction + _framework_energy(system, state)


def _framework_energy(system: System, state: FullState) -> Float[Array, ""]:
    return jnp.sum(state.velocity**2) / (2 * FOUR_PI_SQ) + system.lattice.potential_energy(state.displacement)


def _interaction_accelerations(system: System, index, line, ion_position, displacement):
    """Accelerations from the interaction alone: the ion's, ``(4π²/μ)(−∇_σΦ)`` of (1.3) (projected on
    the line when constrained), and the sites', ``4π²(−∇_ρΦ)`` of (1.4), as ``(sites, dof)`` rows."""
    grad_ion, grad_sites = jax.grad(system.interaction_energy, argnums=(0, 1))(ion_position, _gather(displacement, index))
    force_ion = -grad_ion
    if line is not None:
        force_ion = line * jnp.dot(line, force_ion)
    return FOUR_PI_SQ / system.mass_ratio * force_ion, -FOUR_PI_SQ * grad_sites


def _vector_field(t, state: FullState, args):
    system, index, line, _, _ = args
    ion_acceleration, site_acceleration = _interaction_accelerations(system, index, line, state.ion_position, state.displacement)
    acceleration = -FOUR_PI_SQ * system.lattice.apply_coupling(state.displacement)
    acceleration = acceleration.at[(slice(None),) + index].add(site_acceleration.T)
    return FullState(
        ion_position=state.ion_velocity,
        ion_velocity=ion_acceleration,
        displacement=state.velocity,
        velocity=acceleration,
    )


def check_ion_state(ion_position, ion_velocity, constraint=None):
    """Validate an ion's initial state; returns ``(position, velocity, unit line or None)``."""
    ion_position = jnp.asarray(ion_position, float)
    ion_velocity = jnp.asarray(ion_velocity, float)
    check_finite("ion_position", ion_position)
    check_finite("ion_velocity", ion_velocity)
    if ion_position.shape != (3,) or ion_velocity.shape != (3,):
        raise ValueError(f"ion_position and ion_velocity must have shape (3,); got {ion_position.shape}, {ion_velocity.shape}.")
    if constraint is None:
        return ion_position, ion_velocity, None
    constraint = jnp.asarray(constraint, float)
    check_finite("constraint", constraint)
    check_positive("|constraint|", jnp.linalg.norm(constraint))
    line = constraint / jnp.linalg.norm(constraint)
    if is_concrete((line, ion_velocity)):
        off_line = np.linalg.norm(np.asarray(ion_velocity) - np.dot(ion_velocity, line) * np.asarray(line))
        if off_line > 1e-9 * (1.0 + float(np.linalg.norm(ion_velocity))):
            raise ValueError("ion_velocity must be parallel to the constraint direction.")
    return ion_position, ion_velocity, line


def _crossed_plane(t, y, args, **kwargs):
    point, normal = args[3]
    return jnp.dot(y.ion_position - point, normal) > 0


def _record(t, y, args):
    return y.ion_position, y.ion_velocity, _gather(y.displacement, args[4])


def _max_norm(tree) -> Array:
    return optx.max_norm(tree)


def _check_supercell(system: System, supercell: Sequence[int]) -> tuple[int, ...]:
    raw = np.atleast_1d(np.asarray(supercell, dtype=float))
    if raw.ndim != 1 or not np.all(np.isfinite(raw)) or np.any(raw != np.round(raw)):
        raise ValueError(f"supercell sizes must be integers (cells per lattice axis); got {tuple(np.atleast_1d(supercell).tolist())}.")
    supercell = tuple(int(n) for n in raw)
    if len(supercell) != system.lattice.dim:
        raise ValueError(
            f"supercell must give {system.lattice.dim} sizes for a {system.lattice.dim}-dimensional lattice; got {supercell}."
        )
    if any(n < 3 for n in supercell):
        raise ValueError(f"every supercell size must be >= 3; got {supercell}.")
    cells = system.site_cells
    span = cells.max(axis=0) - cells.min(axis=0) + 1
    if np.any(span > np.asarray(supercell)):
        raise ValueError(f"the interacting sites span {tuple(span)} cells, more than the supercell {supercell}.")
    return supercell


def _reduced_coordinates(system: System, positions) -> np.ndarray:
    """Cell coordinates of Cartesian points relative to the sites' centroid (lattice axes only)."""
    vectors = np.asarray(system.lattice.primitive_vectors)
    centre = np.asarray(system.site_positions()).mean(axis=0)
    return (np.asarray(positions) - centre) @ np.linalg.pinv(vectors).T


def _check_inside(system: System, supercell: Sequence[int], positions, what: str) -> None:
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


def _check_time_step(name, dt, omega_max) -> None:
    """A fixed ``dt`` must resolve the fastest lattice mode: ``2π ω_max dt`` below the solver's limit."""
    check_positive("dt", dt)
    limit = _STABILITY_LIMIT.get(name, 1.0)
    if omega_max is not None and is_concrete(dt) and 2 * np.pi * omega_max * float(dt) > limit:
        raise ValueError(
            f"dt={float(dt):.3g} is too large for the fastest lattice mode (ω_max = {omega_max:.4g}): "
            f"the {name or 'chosen'} solver is stable only for dt <= {limit / (2 * np.pi * omega_max):.3g}."
        )


def _solver_and_controller(system, supercell, solver, dt, rtol, atol, dtmax, omega_max=None):
    if isinstance(solver, str):
        check_choice("solver", solver, SOLVERS)
        name, solver = solver, SOLVERS[solver]()
    else:
        name = None
    if omega_max is None and is_concrete(system.lattice):
        omega_max = system.lattice.max_frequency(supercell)
    if dt is not None:
        _check_time_step(name, dt, omega_max)
        return solver, diffrax.ConstantStepSize(), dt
    check_positive("rtol", rtol)
    check_positive("atol", atol)
    dt0 = None if omega_max is None else 0.1 / (2 * np.pi * max(omega_max, 1e-3))
    controller = diffrax.PIDController(rtol=rtol, atol=atol, norm=_max_norm, dtmax=dtmax)
    return solver, controller, dt0


def verlet_time_step(max_frequency: float, speed, length) -> Float[Array, ""]:
    """Default step of the fused Verlet integrator, chosen for accuracy, not only stability:
    ``dt = min(0.5 / (2π ω_max), 0.05 λ / v)``.

    The first bound resolves the fastest framework mode (four times below Verlet's stability limit
    ``2/(2π ω_max)``; its frequency comes out ``(ω dt)²/24 ≈ 1 %`` high); the second resolves the ion's
    transit through the potential (``λ/v``, ``λ = potential.range``). Verlet's error in the loss is
    second order in ``dt``. Measured against adaptive Tsit5 at rtol 1e-9: 1.1e-4–3.1e-4 relative on
    simple cubic 20³ (speeds 2–80, s = 0) and 1.2e-4–1.4e-4 on paper 1's chain (speeds 10–80, s = 1);
    but 2.8e-3 on the confined chain at speed 2, where the loss is exponentially small (``e^{−Λ²κ}``)
    and exponentially sensitive to the modes' frequencies: pass ``dt`` = half (error / 4) there.
    """
    lattice_step = _VERLET_LATTICE / (2 * np.pi * max(float(max_frequency), 1e-3))
    return jnp.minimum(lattice_step, _VERLET_ION * jnp.asarray(length, float) / jnp.asarray(speed, float))


def _kick(state: FullState, args, h) -> FullState:
    """Velocities advanced by ``h`` with the full accelerations of (1.3)–(1.4) at the current positions."""
    rates = _vector_field(None, state, args)
    return FullState(state.ion_position, state.ion_velocity + h * rates.ion_velocity, state.displacement, state.velocity + h * rates.velocity)


def _verlet_step(system: System, index, line, h, state: FullState) -> FullState:
    """One step of the staggered leapfrog for (1.3)–(1.4), velocities at half steps:
    ``v_{n+1/2} = v_{n−1/2} + h a(x_n)``, ``x_{n+1} = x_n + h v_{n+1/2}``.

    One force evaluation. XLA fuses the stencil ``−4π² Ξρ`` with the kick into one pass over the
    field (read ``ρ, ρ'``, write ``ρ'``); the interaction's few site forces are added to the new
    velocity in place, and the drift is a second elementwise pass (read ``ρ, ρ'``, write ``ρ``).
    """
    ion_acceleration, site_acceleration = _interaction_accelerations(system, index, line, state.ion_position, state.displacement)
    velocity = state.velocity - (h * FOUR_PI_SQ) * system.lattice.apply_coupling(state.displacement)
    velocity = velocity.at[(slice(None),) + index].add(h * site_acceleration.T)
    ion_velocity = state.ion_velocity + h * ion_acceleration
    return FullState(state.ion_position + h * ion_velocity, ion_velocity, state.displacement + h * velocity, velocity)


@eqx.filter_jit
def _simulate_verlet(system, state0: FullState, duration, dt, index, line, plane, max_steps):
    """Velocity Verlet (Störmer–Verlet) on (1.3)–(1.4) as one ``jax.lax`` while-loop.

    The step is ``duration / ceil(duration / dt)`` (≤ ``dt``, so the last step lands on ``duration``).
    Velocities are carried at half steps (:func:`_verlet_step`); the first and last half kicks
    synchronise them with the positions, so the returned state is that of velocity Verlet. The loop
    stops after the step in which the ion crosses ``plane`` (as diffrax's boolean event), at
    ``duration``, or after ``max_steps`` steps. It is equinox's checkpointed while-loop: reverse-mode
    differentiable (recursive checkpointing, as diffrax's default adjoint) and vmappable. Jitted at
    module level, so that repeated eager calls with the same shapes reuse one compilation.

    Returns ``(final state, end time, stopped by the plane, steps, step budget exhausted)``.
    """
    args = (system, index, line, None, None)
    # Steps to reach `duration`; the factor keeps a ratio that is an integer up to rounding (a pass's
    # time limit is often a multiple of the default dt) from gaining a step in some compilations only.
    total = jnp.maximum(jnp.ceil(duration / dt * (1.0 - 1e-10)), 1.0)
    h = duration / total

    def crossed(state):
        if plane is None:
            return jnp.asarray(False)
        return jnp.dot(state.ion_position - plane[0], plane[1]) > 0

    def cond(carry):
        steps, _, done = carry
        return (steps < total) & ~done

    def body(carry):
        steps, state, _ = carry
        state = _verlet_step(system, index, line, h, state)
        return steps + 1, state, crossed(state)

    init = (jnp.asarray(0, int), _kick(state0, args, -0.5 * h), jnp.asarray(False))
    steps, state, done = eqxi.while_loop(cond, body, init, max_steps=max_steps, kind="checkpointed")
    final = _kick(state, args, 0.5 * h)
    return final, steps * h, done, steps, ~done & (steps < total)


def simulate(
    system: System,
    supercell: Sequence[int],
    ion_position,
    ion_velocity,
    duration: float,
    *,
    constraint=None,
    stop_plane: tuple | None = None,
    initial_displacement=None,
    initial_velocity=None,
    solver: str | diffrax.AbstractSolver = "tsit5",
    dt: float | None = None,
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
) -> SimulationResult:
    """Integrate (1.3)–(1.4) on a periodic ``supercell`` from the given ion state.

    Args:
        system: lattice, interacting sites, potential, mass ratio.
        supercell: number of cells along each lattice axis (periodic).
        ion_position, ion_velocity: ion state at τ = 0 (Cartesian, units of l and l per τ).
        duration: largest time of the solve (τ).
        constraint: ``None`` (free 3D ion) or a direction: the ion then moves on the line through
            ``ion_position`` along it (give ``ion_velocity`` parallel to it).
        stop_plane: ``(point, normal)``: stop when ``(σ − point)·normal > 0`` (diffrax event; checked
            after every step by the fused solver).
        initial_displacement, initial_velocity: framework state at τ = 0, ``(dof, *supercell)``
            (default: at rest).
        solver: a name in :data:`SOLVERS` or a diffrax solver, or ``"verlet"`` (:data:`FUSED_SOLVERS`):
            fixed-step velocity Verlet fused into one ``jax.lax`` loop, symplectic, one force evaluation
            per step, several times cheaper per step than diffrax at large supercells. It ignores
            ``rtol``/``atol``/``dtmax`` and supports neither ``save_times`` nor ``progress``; reverse-mode
            gradients go through a checkpointed loop (``adjoint`` must be ``None``).
        dt: fixed time step (checked against the fastest lattice mode); ``None`` = adaptive steps with
            ``rtol``/``atol`` (max norm over all components) and optional ``dtmax``; for ``"verlet"``,
            ``None`` = :func:`verlet_time_step` (from ``ω_max``, the speed and the potential's range).
        max_steps: step budget; running out is reported in ``result``.
        save_times: times at which to record the ion and the ``watch_sites`` (cell indices; default:
            the interacting sites).
        adjoint: diffrax adjoint for gradients (default ``RecursiveCheckpointAdjoint``).
        check_echo: warn (:class:`EchoWarning`) if ``duration`` exceeds the supercell's echo time.
        max_frequency: the supercell's ``ω_max`` if already known (sets the first adaptive step and
            the stability check of a fixed ``dt``); computed from the lattice when ``None``.
        progress: show a progress bar over simulated time (diffrax's tqdm meter) for long runs.

    Returns:
        A :class:`SimulationResult`.
    """
    supercell = _check_supercell(system, supercell)
    check_positive("duration", duration)
    if isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer)) or max_steps < 1:
        raise ValueError(f"max_steps must be a positive integer (the step budget); got {max_steps!r}.")
    ion_position, ion_velocity, line = check_ion_state(ion_position, ion_velocity, constraint)
    if is_concrete(ion_position):
        _check_inside(system, supercell, ion_position, "the ion's start position")
    if check_echo and is_concrete((system.lattice, duration)):
        echo = supercell_echo_time(system.lattice, supercell)
        if float(duration) > echo:
            warnings.warn(
                f"the run may last up to τ = {float(duration):.3g}, but sound goes around the periodic supercell "
                f"{supercell} in τ ≈ {echo:.3g}: from then on finite-size echoes return to the sites the ion "
                "touches. Use a larger supercell (or the memory engine) if that matters.",
                EchoWarning,
                stacklevel=2,
            )

    dof = system.lattice.dof
    field_shape = (dof, *supercell)
    zeros = jnp.zeros(field_shape)
    displacement = zeros if initial_displacement is None else jnp.asarray(initial_displacement, float)
    velocity = zeros if initial_velocity is None else jnp.asarray(initial_velocity, float)
    for name, value in (("initial_displacement", displacement), ("initial_velocity", velocity)):
        if value.shape != field_shape:
            raise ValueError(f"{name} must have shape {field_shape}; got {value.shape}.")
        check_finite(name, value)
    state0 = FullState(ion_position, ion_velocity, displacement, velocity)

    index = _wrapped_index(system.site_cells, supercell)
    plane = None if stop_plane is None else tuple(jnp.asarray(x, float) for x in stop_plane)
    if isinstance(solver, str) and solver in FUSED_SOLVERS:
        for name, value, default in (("save_times", save_times, None), ("adjoint", adjoint, None), ("progress", progress, False)):
            if value is not default:
                raise ValueError(f"{name} is not supported by the fused solver {solver!r}; use a diffrax solver such as 'tsit5'.")
        if max_frequency is None and is_concrete(system.lattice):
            max_frequency = system.lattice.max_frequency(supercell)
        if dt is None:
            if max_frequency is None:
                raise ValueError(f"solver={solver!r} with the default dt needs max_frequency (the lattice is traced).")
            dt = verlet_time_step(max_frequency, jnp.linalg.norm(ion_velocity), system.potential.range)
        else:
            _check_time_step(solver, dt, max_frequency)
        final, end_time, stopped, num_steps, exhausted = _simulate_verlet(
            system, state0, jnp.asarray(duration, float), jnp.asarray(dt, float), index, line, plane, max_steps
        )
        code = jnp.where(exhausted, 1, 0)
        extras = {}
    else:
        final, end_time, stopped, num_steps, code, extras = _simulate_diffrax(
            system, supercell, state0, duration, index, line, plane, solver, dt, rtol, atol, dtmax, max_steps,
            save_times, watch_sites, adjoint, max_frequency, progress,
        )
    return result_between(system, supercell, state0, final, end_time, stopped, num_steps, code, **extras)


def result_between(system, supercell, state0: FullState, final: FullState, end_time, stopped, num_steps, code, **extras):
    """The :class:`SimulationResult` of a solve from ``state0`` to ``final``: the ion's loss, the
    framework's energy, the drift of the total energy, and status ``code`` (3 when the loss or the drift
    is not finite)."""
    kinetic0 = jnp.sum(state0.ion_velocity**2)
    kinetic1 = jnp.sum(final.ion_velocity**2)
    loss = system.mass_ratio * (kinetic0 - kinetic1) / (2 * FOUR_PI_SQ)
    drift = total_energy(system, final, supercell) - total_energy(system, state0, supercell)
    return SimulationResult(
        loss=loss,
        framework_energy=_framework_energy(system, final),
        energy_drift=drift,
        final_state=final,
        end_time=jnp.asarray(end_time),
        stopped_by_event=jnp.asarray(stopped),
        num_steps=jnp.asarray(num_steps),
        result=jnp.where(jnp.isfinite(loss) & jnp.isfinite(drift), code, 3),
        **extras,
    )


def _simulate_diffrax(
    system, supercell, state0, duration, index, line, plane, solver, dt, rtol, atol, dtmax, max_steps,
    save_times, watch_sites, adjoint, max_frequency, progress,
):
    """The diffrax solve of :func:`simulate`: ``(final state, end time, stopped by the event, accepted
    steps, status code before the finiteness check, saved-trajectory fields)``."""
    solver, controller, dt0 = _solver_and_controller(system, supercell, solver, dt, rtol, atol, dtmax, max_frequency)

    # Module-level event and save functions (data travel in `args`), so that repeated eager calls reuse
    # diffrax's compiled solve instead of tracing new closures.
    event = None if plane is None else diffrax.Event(_crossed_plane)
    watch_index = index if watch_sites is None else _wrapped_index(np.asarray(watch_sites, int).reshape(-1, system.lattice.dim), supercell)
    subs = [diffrax.SubSaveAt(t1=True)]
    if save_times is not None:
        save_times = jnp.asarray(save_times, float)
        subs.append(diffrax.SubSaveAt(ts=save_times, fn=_record))

    solution = diffrax.diffeqsolve(
        diffrax.ODETerm(_vector_field),
        solver,
        t0=0.0,
        t1=jnp.asarray(duration, float),
        dt0=None if dt0 is None else jnp.asarray(dt0, float),
        y0=state0,
        args=(system, index, line, plane, watch_index),
        saveat=diffrax.SaveAt(subs=subs),
        stepsize_controller=controller,
        event=event,
        max_steps=max_steps,
        throw=False,
        progress_meter=diffrax.TqdmProgressMeter() if progress else diffrax.NoProgressMeter(),
        adjoint=diffrax.RecursiveCheckpointAdjoint() if adjoint is None else adjoint,
    )
    final = jax.tree_util.tree_map(lambda leaf: leaf[-1], solution.ys[0])
    extras = {}
    if save_times is not None:
        positions, velocities, sites = solution.ys[1]
        extras = dict(ts=solution.ts[1], ion_positions=positions, ion_velocities=velocities, site_displacements=sites)
    ok = (solution.result == diffrax.RESULTS.successful) | (solution.result == diffrax.RESULTS.event_occurred)
    code = jnp.where(ok, 0, jnp.where(solution.result == diffrax.RESULTS.max_steps_reached, 1, 2))
    stopped = solution.result == diffrax.RESULTS.event_occurred
    return final, solution.ts[0][-1], stopped, solution.stats["num_accepted_steps"], code, extras


RESULT_CODES = {
    0: "success",
    1: "step budget exhausted (raise max_steps)",
    2: "solver failure (step size collapsed or other diffrax error)",
    3: "non-finite state (NaN/inf): time step or tolerances too loose for this pass",
}


def simulate_pass(
    system: System,
    speed: float,
    supercell: Sequence[int],
    *,
    direction=(0.0, 0.0, 1.0),
    impact=(0.0, 0.0, 0.0),
    margin: float | None = None,
    constrained: bool = True,
    time_limit_factor: float = 3.0,
    **solver_options,
) -> SimulationResult:
    """One pass of paper 1's protocol: the ion starts ``7λ`` before the interacting sites with
    ``speed`` along ``direction`` (offset ``impact`` from the sites' centroid), the framework at rest,
    and the solve stops when it is ``7λ`` past the last site (diffrax event). The time limit is
    ``time_limit_factor × path_length / speed``; a pass that has not ended by then (the ion was
    reflected or trapped) reports ``stopped_by_event = False``.

    ``solver_options`` are passed to :func:`simulate` (``solver``, ``dt``, ``rtol``, ``atol``, ...);
    ``solver="verlet"`` runs the fused fixed-step loop (default step :func:`verlet_time_step`).
    """
    check_positive("speed", speed)
    check_positive("time_limit_factor", time_limit_factor)
    supercell = _check_supercell(system, supercell)
    geometry: PassGeometry = pass_geometry(system, direction, impact, margin)
    if is_concrete(geometry):
        _check_inside(system, supercell, np.stack([np.asarray(geometry.start), np.asarray(geometry.stop_point)]), "the ion's path")
    duration = time_limit_factor * geometry.path_length / speed
    if solver_options.get("check_echo", True) and is_concrete((system.lattice, duration, speed)):
        solver_options["check_echo"] = False
        echo = supercell_echo_time(system.lattice, _check_supercell(system, supercell))
        transit = float(geometry.path_length) / float(speed)
        if transit > echo:
            warnings.warn(
                f"at speed {float(speed):.3g} the pass lasts τ ≈ {transit:.3g}, but sound goes around the periodic "
                f"supercell {tuple(supercell)} in τ ≈ {echo:.3g}: echoes from the ion's first contact return before "
                "it leaves. Use a larger supercell (or the memory engine) if that matters.",
                EchoWarning,
                stacklevel=2,
            )
    else:
        solver_options["check_echo"] = False
    return simulate(
        system,
        supercell,
        geometry.start,
        speed * geometry.direction,
        duration,
        constraint=geometry.direction if constrained else None,
        stop_plane=(geometry.stop_point, geometry.direction),
        **solver_options,
    )
