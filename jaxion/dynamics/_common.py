"""What every engine shares: validated inputs, the echo warning, status codes, the result shape, energies.

The three engines — the full dynamics (1.3)–(1.4) (:mod:`jaxion.dynamics.full`), the memory kernel
(2.12)–(2.14) (:mod:`jaxion.dynamics.memory`) and the time-local equation (1.26)
(:mod:`jaxion.dynamics.local`) — take the same inputs under the same names and return results of one
shape (:class:`AbstractResult`). Each public entry point validates its inputs once, with the functions
here, and hands the validated values to code that does not check them again.

Status codes (:data:`STATUS_MESSAGES`): every result carries ``status`` (0 = success). A single run with
``throw=True`` (the default) raises :class:`SimulationError` when its status is not 0 — under ``jax.jit``
or ``jax.vmap`` through :func:`equinox.branched_error_if`, with the same message. Batches (``*_batch``,
:func:`jaxion.sweep_passes`) never raise for a failed member: they keep the others and warn
(``RuntimeWarning``) naming the failed members and why.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias, TypeVar

import diffrax
import equinox as eqx
import jax.numpy as jnp
import numpy as np
import optimistix as optx
from jaxtyping import Array, Bool, Float, Int

from .._constants import FOUR_PI_SQ
from .._validation import RealScalar, check_cells, check_finite, check_positive, is_concrete, warn_user

__all__ = [
    "SOLVERS",
    "AbstractResult",
    "EchoWarning",
    "SimulationError",
    "STATUS_MESSAGES",
    "SUCCESS",
    "MAX_STEPS",
    "SOLVER_FAILURE",
    "NON_FINITE",
    "LEFT_TRACKED_SITES",
    "OUTRAN_WINDOW",
    "IonStart",
    "Supercell",
    "SupercellLike",
    "check_ion_state",
    "check_supercell",
    "check_save_times",
    "check_stop_plane",
    "plane_event",
    "check_bias_force",
    "check_duration",
    "check_max_steps",
    "check_step_limit",
    "check_status",
    "finite_status",
    "status_from_diffrax",
    "warn_echo",
    "warn_failed_members",
    "kinetic_energy",
]


# diffrax solvers by name, for the engines that integrate with diffrax (full, time-local).
SOLVERS = {
    "tsit5": diffrax.Tsit5,
    "dopri5": diffrax.Dopri5,
    "dopri8": diffrax.Dopri8,
    "bosh3": diffrax.Bosh3,
    "heun": diffrax.Heun,
}


# ============================================================================ status


SUCCESS = 0
MAX_STEPS = 1
SOLVER_FAILURE = 2
NON_FINITE = 3
LEFT_TRACKED_SITES = 4
OUTRAN_WINDOW = 5

STATUS_MESSAGES: tuple[str, ...] = (
    "success",
    "step budget exhausted (raise max_steps)",
    "solver failure (step size collapsed or other diffrax error)",
    "non-finite state (NaN/inf): time step or tolerances too loose for this run",
    "the ion left the tracked sites: it came within interaction range of a lattice site that is not in "
    "system.sites; track the sites the ion can reach (system.sites)",
    "the ion outran the block window: a tracked site outside the window came within interaction range; "
    "increase `window` or reduce `block_steps`",
)


class SimulationError(RuntimeError):
    """A run ended with a status other than success (raised by engines called with ``throw=True``)."""


class EchoWarning(UserWarning):
    """The run outlasts the time sound needs to go around the periodic supercell."""


def status_from_diffrax(result) -> Int[Array, ""]:
    """diffrax's ``RESULTS`` as a jaxion status: success (an event counts as success), step budget, or
    solver failure."""
    ok = (result == diffrax.RESULTS.successful) | (result == diffrax.RESULTS.event_occurred)
    return jnp.where(ok, SUCCESS, jnp.where(result == diffrax.RESULTS.max_steps_reached, MAX_STEPS, SOLVER_FAILURE))


def finite_status(status, *values) -> Int[Array, ...]:
    """``status``, or :data:`NON_FINITE` where any of ``values`` is NaN/inf and the status was success."""
    finite = jnp.asarray(True)
    for value in values:
        finite = finite & jnp.all(jnp.isfinite(jnp.asarray(value)))
    return jnp.where((status == SUCCESS) & ~finite, NON_FINITE, status)


ResultT = TypeVar("ResultT", bound="AbstractResult")  # check_status returns the engine's own result type


def check_status(result: ResultT, throw: bool, *, engine: str, detail: str = "") -> ResultT:
    """With ``throw``, raise :class:`SimulationError` naming the status of a failed run (eagerly), or
    attach the same check to ``result.loss`` with :func:`equinox.branched_error_if` (traced values)."""
    if not throw:
        return result
    status = result.status
    if is_concrete(status):
        codes = np.atleast_1d(np.asarray(status))
        failed = codes[codes != SUCCESS]
        if failed.size:
            raise SimulationError(f"{engine}: {STATUS_MESSAGES[int(failed[0])]}{detail}. Pass throw=False to get the result anyway.")
        return result
    messages = [f"{engine}: {m}. Pass throw=False to get the result anyway." for m in STATUS_MESSAGES]
    checked = eqx.branched_error_if(result.loss, status != SUCCESS, status, messages)
    return eqx.tree_at(lambda r: r.loss, result, checked)


def warn_failed_members(status, describe) -> None:
    """Warn (``RuntimeWarning``) naming the members of a batch whose status is not success;
    ``describe(i)`` names member ``i`` (e.g. its speed)."""
    codes = np.asarray(status).reshape(-1)
    failed = np.flatnonzero(codes != SUCCESS)
    if failed.size:
        reasons = "; ".join(f"member {i} ({describe(int(i))}): {STATUS_MESSAGES[int(codes[i])]}" for i in failed[:10])
        warn_user(
            f"{failed.size} member(s) failed: {reasons}. Their results are not meaningful (status != 0); the others are kept.",
            RuntimeWarning,
        )


# ============================================================================ result shape


class AbstractResult(eqx.Module):
    """The fields every engine's result has, with the same meaning (a leading ``members`` axis in batches).

    Attributes:
        ts: times of the saved trajectory (``inf`` after a run that ended early), or ``None``.
        ion_positions, ion_velocities: the ion at ``ts``: ``(times, 3)`` (``(times, ions, 3)`` for several ions).
        loss: the ion's kinetic-energy loss ``μ(v0² − v1²)/(8π²)`` from the start to the end of the run.
        energy_drift: change of the engine's conserved energy from start to end (a diagnostic of accuracy).
        end_time: time at which the run ended.
        stopped_by_event: whether the ion crossed the stop plane.
        num_steps: steps taken.
        status: 0 on success, else an index into :data:`STATUS_MESSAGES`.
    """

    # (a dataclass orders fields by first declaration: subclasses give none of these a default)
    loss: eqx.AbstractVar[Float[Array, "*batch"]]
    energy_drift: eqx.AbstractVar[Float[Array, "*batch"]]
    end_time: eqx.AbstractVar[Float[Array, "*batch"]]
    stopped_by_event: eqx.AbstractVar[Bool[Array, "*batch"]]
    num_steps: eqx.AbstractVar[Int[Array, "*batch"]]
    status: eqx.AbstractVar[Int[Array, "*batch"]]
    ts: eqx.AbstractVar[Float[Array, "*batch times"] | None]
    ion_positions: eqx.AbstractVar[Float[Array, "*batch times 3"] | Float[Array, "*batch times ions 3"] | None]
    ion_velocities: eqx.AbstractVar[Float[Array, "*batch times 3"] | Float[Array, "*batch times ions 3"] | None]

    @property
    def ok(self) -> Bool[Array, "*batch"]:
        """Where the run succeeded (``status == 0``)."""
        return self.status == SUCCESS

    @property
    def message(self) -> str:
        """The status in words (the first failed member's for a batch)."""
        codes = np.atleast_1d(np.asarray(self.status))
        failed = codes[codes != SUCCESS]
        return STATUS_MESSAGES[int(failed[0]) if failed.size else SUCCESS]


# ============================================================================ energies


def kinetic_energy(mass_ratio, velocity, axis: int | tuple[int, ...] = -1) -> Array:
    """The ion's kinetic energy ``μσ'²/(8π²)`` (paper 1, (1.2)), summed over ``axis``."""
    return mass_ratio * jnp.sum(jnp.asarray(velocity) ** 2, axis=axis) / (2 * FOUR_PI_SQ)


# ============================================================================ validated inputs


class IonStart(eqx.Module):
    """A validated initial ion state: ``position``, ``velocity`` ``(3,)`` (or ``(ions, 3)``) and the unit
    ``line`` the ion is held on (same shape), or ``None`` for a free ion."""

    position: Float[Array, "*ions 3"]
    velocity: Float[Array, "*ions 3"]
    line: Float[Array, "*ions 3"] | None


def check_ion_state(ion_position, ion_velocity, constraint=None, *, several: bool = False) -> IonStart:
    """Validate an ion's initial state and its constraint line.

    ``ion_position``/``ion_velocity`` are ``(3,)`` (or, with ``several``, ``(ions, 3)``), finite; a
    ``constraint`` is a nonzero direction (one, or with ``several`` one per ion) and the velocity must be
    parallel to it. Checks that need numbers are skipped for traced values."""
    position = jnp.asarray(ion_position, float)
    velocity = jnp.asarray(ion_velocity, float)
    check_finite("ion_position", position)
    check_finite("ion_velocity", velocity)
    allowed = ((3,),) if not several else ((3,), (position.shape[0] if position.ndim == 2 else -1, 3))
    if position.shape not in allowed or velocity.shape != position.shape:
        shapes = "(3,)" if not several else "(3,) or (ions, 3)"
        raise ValueError(
            f"ion_position and ion_velocity must have shape {shapes} (and the same shape); got "
            f"{position.shape}, {velocity.shape}."
        )
    if constraint is None:
        return IonStart(position, velocity, None)
    line = jnp.asarray(constraint, float)
    check_finite("constraint", line)
    if line.shape not in ((3,), position.shape):
        raise ValueError(f"constraint must be a direction (3,){' or one per ion' if several else ''}; got shape {line.shape}.")
    norm = jnp.linalg.norm(line, axis=-1, keepdims=True)
    if is_concrete(norm) and np.any(np.asarray(norm) <= 0):
        raise ValueError("constraint must be a nonzero direction; got a zero vector.")
    line = jnp.broadcast_to(line / norm, position.shape)
    if is_concrete((line, velocity)):
        v, u = np.asarray(velocity), np.asarray(line)
        off_line = np.linalg.norm(v - np.sum(v * u, axis=-1, keepdims=True) * u, axis=-1)
        bad = np.flatnonzero(np.atleast_1d(off_line > 1e-9 * (1.0 + np.linalg.norm(v, axis=-1))))
        if bad.size:
            which = f"; members {bad[:10].tolist()} are not" if v.ndim == 2 else ""
            raise ValueError(f"ion_velocity must be parallel to the constraint direction{which}.")
    return IonStart(position, velocity, line)


class Supercell(tuple):
    """A validated periodic supercell: cells per lattice axis (made by :func:`check_supercell`, which
    passes it through unchecked when it meets it again — a sweep validates its supercell once)."""


# A supercell as the public functions take it, before `check_supercell`: cells per lattice axis, as numbers
# (a fractional or too small size is check_supercell's ValueError, naming it).
SupercellLike: TypeAlias = Sequence[float] | np.ndarray


def check_supercell(lattice, supercell: SupercellLike, cells=None) -> Supercell:
    """A periodic supercell as a tuple of integer sizes ``>= 3``, one per lattice axis, that holds the
    span of ``cells`` (the interacting sites) when given."""
    if isinstance(supercell, Supercell) and len(supercell) == lattice.dim:
        sizes = supercell
    else:
        sizes = _supercell_sizes(lattice, supercell)
    if cells is not None:
        cells = check_cells("sites", cells, lattice.dim)
        span = cells.max(axis=0) - cells.min(axis=0) + 1
        if np.any(span > np.asarray(sizes)):
            raise ValueError(f"the interacting sites span {tuple(int(s) for s in span)} cells, more than the supercell {tuple(sizes)}.")
    return sizes


def _supercell_sizes(lattice, supercell) -> Supercell:
    raw = np.atleast_1d(np.asarray(supercell, dtype=float)) if not isinstance(supercell, bool) else np.array([np.nan])
    if raw.ndim != 1 or not np.all(np.isfinite(raw)) or np.any(raw != np.round(raw)):
        raise ValueError(
            f"supercell sizes must be integers (cells per lattice axis); got {tuple(np.atleast_1d(supercell).tolist())}."
        )
    sizes = tuple(int(n) for n in raw)
    if len(sizes) != lattice.dim:
        raise ValueError(f"supercell must give {lattice.dim} sizes for a {lattice.dim}-dimensional lattice; got {sizes}.")
    if any(n < 3 for n in sizes):
        raise ValueError(f"every supercell size must be >= 3; got {sizes}.")
    return Supercell(sizes)


def check_duration(duration) -> None:
    check_positive("duration", duration)


def check_max_steps(max_steps) -> int:
    if isinstance(max_steps, bool) or not isinstance(max_steps, (int, np.integer)) or max_steps < 1:
        raise ValueError(f"max_steps must be a positive integer (the step budget); got {max_steps!r}.")
    return int(max_steps)


def check_save_times(save_times, duration) -> Float[Array, " times"] | None:
    """``save_times`` as a 1D float array, finite, non-decreasing and inside ``[0, duration]`` (``None``
    stays ``None``)."""
    if save_times is None:
        return None
    times = jnp.atleast_1d(jnp.asarray(save_times, float))
    check_finite("save_times", times)
    if times.ndim != 1 or times.shape[0] == 0:
        raise ValueError(f"save_times must be a non-empty 1D array of times; got shape {times.shape}.")
    if is_concrete((times, duration)):
        values = np.asarray(times)
        if np.any(np.diff(values) < 0) or values[0] < 0 or values[-1] > float(duration) * (1 + 1e-12):
            raise ValueError(
                f"save_times must be a non-decreasing 1D array within [0, duration = {float(duration):g}]; "
                f"got {np.round(values, 6).tolist()[:8]}{' ...' if values.size > 8 else ''}."
            )
    return times


def check_stop_plane(stop_plane) -> tuple[Float[Array, 3], Float[Array, 3]] | None:
    """``(point, normal)``: the run stops once ``(σ − point)·normal > 0``; both finite 3-vectors, the
    normal nonzero."""
    if stop_plane is None:
        return None
    try:
        point, normal = stop_plane
    except (TypeError, ValueError):
        raise ValueError(f"stop_plane must be a pair (point, normal) of 3-vectors; got {stop_plane!r}.") from None
    point, normal = jnp.asarray(point, float), jnp.asarray(normal, float)
    if point.shape != (3,) or normal.shape != (3,):
        raise ValueError(f"stop_plane must be a pair (point, normal) of 3-vectors; got shapes {point.shape}, {normal.shape}.")
    check_finite("stop_plane point", point)
    check_finite("stop_plane normal", normal)
    if is_concrete(normal) and not np.linalg.norm(np.asarray(normal)) > 0:
        raise ValueError("stop_plane normal must be a nonzero vector (the plane could never be crossed).")
    return point, normal


def _plane_distance(t, y, args, **kwargs):
    point, normal = args.plane
    return jnp.dot(y.ion_position - point, normal)


def plane_event() -> diffrax.Event:
    """The diffrax event of a stop plane ``args.plane = (point, normal)``: the signed distance
    ``(σ − point)·normal`` crossing zero upwards, located by bisection on the solver's dense output, so
    that ``end_time`` is the crossing time (not the end of the step in which it happened).

    Why bisection with ``expand_if_necessary``: in a vmapped batch diffrax root-finds for every member, and a
    member without an event gets the function "time to the end of the step", which is zero at the upper end of
    the bracket; plain bisection refuses such a bracket, and Newton's closure conversion fails under
    ``jax.shard_map``. The expansion accepts it (the root is the end of the step, as it should be)."""
    root_finder = optx.Bisection(rtol=1e-12, atol=1e-12, expand_if_necessary=True)
    return diffrax.Event(_plane_distance, root_finder=root_finder, direction=True)


def check_bias_force(bias_force, start: IonStart) -> Float[Array, "*ions 3"]:
    """The constant force on the ion(s) (energy per length): ``None``/``0`` (none), a scalar (a force of
    that size along the constraint line, which must then be given), a ``(3,)`` vector, or one per ion.
    Returned broadcast to the ion shape and, on a line, projected on it."""
    shape = start.position.shape
    if bias_force is None:
        return jnp.zeros(shape)
    bias = jnp.asarray(bias_force, float)
    check_finite("bias_force", bias)
    if bias.ndim == 0:
        if start.line is None:
            if is_concrete(bias) and float(bias) == 0.0:
                return jnp.zeros(shape)
            raise ValueError("a scalar bias_force is a force along the constraint line: give `constraint`, or a (3,) force vector.")
        return bias * start.line
    if bias.shape not in ((3,), shape):
        raise ValueError(f"bias_force must be a scalar, a (3,) force or one per ion {shape}; got shape {bias.shape}.")
    bias = jnp.broadcast_to(bias, shape)
    if start.line is not None:
        bias = start.line * jnp.sum(start.line * bias, axis=-1, keepdims=True)
    return bias


def check_step_limit(dt, limit: float, omega_max: float | None, *, method: str) -> None:
    """A fixed ``dt`` must resolve the fastest lattice mode: ``2π ω_max dt <= limit`` (the method's
    stability or accuracy limit)."""
    check_positive("dt", dt)
    if omega_max is not None and is_concrete(dt) and 2 * np.pi * omega_max * float(dt) > limit:
        raise ValueError(
            f"dt={float(dt):.3g} is too large for the fastest lattice mode (ω_max = {omega_max:.4g}): "
            f"{method} needs dt <= {limit / (2 * np.pi * omega_max):.3g}."
        )


# ============================================================================ echoes


def warn_echo(
    lattice,
    supercell: Sequence[int],
    duration: RealScalar,
    *,
    what: str = "the run",
    remedy: str = "Use a larger supercell (or the memory engine) if that matters.",
) -> bool:
    """Warn (:class:`EchoWarning`) when ``duration`` exceeds the time sound needs to go around the periodic
    ``supercell`` (:func:`jaxion.supercell_echo_time`); ``what`` names what lasts that long, ``remedy`` what to do.
    Returns whether it warned."""
    from ..lattice import supercell_echo_time

    echo = supercell_echo_time(lattice, supercell)
    if float(duration) <= echo:
        return False
    warn_user(
        f"{what} lasts up to τ = {float(duration):.3g}, but sound goes around the periodic supercell {tuple(supercell)} in "
        f"τ ≈ {echo:.3g}: from then on finite-size echoes return to the sites the ion touches. {remedy}",
        EchoWarning,
    )
    return True

