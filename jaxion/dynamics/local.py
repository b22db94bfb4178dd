"""Time-local dynamics: paper 1's equation of motion (1.26) — softened potential plus matrix drag.

    (μ/4π²) σ'' = −∇_σ [Φ(0, σ) − c ∇_ρΦ(0, σ)·Ξ⁻¹·∇_ρΦ(0, σ)] − H(σ) M H(σ) σ'          (1.26)

``Ξ⁻¹`` is the static lattice Green's function between the interacting sites (1.29; sites ``(cell, atom)`` on a
crystal with a basis, in displacement coordinates), ``M`` the recoil matrix (1.23) and ``H`` the Hessian of the
static landscape ``Φ(0, σ)`` (``jax.hessian``; one pair potential per species).

The factor ``c``: linearising (1.3) in ``ρ`` with the quasi-static response ``ρ ≈ −Ξ⁻¹∇_ρΦ`` gives the
force ``−∇_σ[Φ − ½ ∇_ρΦ·Ξ⁻¹·∇_ρΦ]``, the gradient of the relaxed-framework energy
``min_ρ [ρᵀΞρ/2 + Φ(ρ, σ)]`` (``shared/NOTES.md``). So ``softening="half"`` (``c = ½``) is the default;
``softening="printed"`` (``c = 1``) is (1.26) as printed, which doubles the softening force;
``softening="off"`` drops the term. ``drag=False`` drops the dissipative term, so each ingredient can be
tested alone. With ``drag=False`` the energy ``μσ'²/(8π²) + U(σ)`` (``U`` the softened landscape) is
conserved; with drag the ion loses ``∫ dτ σ'·HMH·σ'``, the low-speed loss (1.23).
"""

from __future__ import annotations

from collections.abc import Sequence

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from .._constants import FOUR_PI_SQ
from .._validation import RealScalar, check_choice, check_finite, check_positive, is_concrete
from ..parallel import device_mesh, over_devices, pad_members
from ..system import System
from ._common import (
    SOLVERS,
    AbstractResult,
    IonStart,
    check_bias_force,
    check_duration,
    check_ion_state,
    check_max_steps,
    check_save_times,
    check_status,
    check_stop_plane,
    finite_status,
    kinetic_energy,
    plane_event,
    status_from_diffrax,
    warn_failed_members,
)

__all__ = ["TimeLocalModel", "LocalResult", "time_local_model", "simulate_local", "simulate_local_batch"]

SOFTENING_FACTORS = {"half": 0.5, "printed": 1.0, "off": 0.0}


class TimeLocalModel(eqx.Module):
    """The ingredients of (1.26) for one system.

    Attributes:
        system: lattice, interacting sites, pair potential, mass ratio.
        recoil: ``(3, 3)`` recoil matrix ``M`` (1.23).
        greens: ``(sites, sites, dof, dof)`` static Green's function ``Ξ⁻¹`` between the sites (1.29).
        softening: ``"half"`` (default, relaxed-framework energy), ``"printed"`` (as printed) or ``"off"``.
        drag: include the drag force ``−HMHσ'``.
        period: ``None``, or a lattice translation ``a`` along which the landscape repeats (a channel): the ion's
            position is reduced by whole periods, ``σ → σ − floor(σ·a/|a|²) a``, before the sites' forces are
            evaluated, so an ion that hops along the channel keeps meeting the same sites (chosen around one
            period, e.g. by :func:`jaxion.channel_sites`). Exact when the sites hold every atom within the
            potential's reach of the reduced positions.
    """

    system: System
    recoil: Float[Array, "3 3"]
    greens: Float[Array, "sites sites dof dof"]
    softening: str = eqx.field(static=True, default="half")
    drag: bool = eqx.field(static=True, default=True)
    period: Float[Array, 3] | None = None

    def __check_init__(self):
        check_choice("softening", self.softening, SOFTENING_FACTORS)
        n, dof = len(self.system.sites), self.system.lattice.dof
        if self.recoil.shape != (3, 3):
            raise ValueError(f"recoil must be a 3×3 matrix; got shape {self.recoil.shape}.")
        if self.greens.shape != (n, n, dof, dof):
            raise ValueError(f"greens must have shape {(n, n, dof, dof)}; got {self.greens.shape}.")
        check_finite("recoil", self.recoil)
        check_finite("greens", self.greens)
        if self.period is not None:
            if jnp.shape(self.period) != (3,):
                raise ValueError(f"period must be a lattice translation (3,); got shape {jnp.shape(self.period)}.")
            check_finite("period", self.period)
            if is_concrete(self.period) and not float(np.linalg.norm(np.asarray(self.period))) > 0:
                raise ValueError("period must be a nonzero lattice translation; got a zero vector.")

    def reduce(self, ion_position: Float[Array, "*batch 3"]) -> Float[Array, "*batch 3"]:
        """The ion's position reduced by whole periods of the channel (itself when ``period`` is ``None``)."""
        if self.period is None:
            return ion_position
        period = self.period
        return ion_position - jnp.floor(ion_position @ period / jnp.dot(period, period))[..., None] * period

    def site_gradient(self, ion_position: Float[Array, 3]) -> Float[Array, "sites dof"]:
        """``∇_ρΦ(0, σ)``: the force (with a minus sign) the ion exerts on each site at rest."""
        zeros = jnp.zeros((len(self.system.sites), self.system.lattice.dof))
        return jax.grad(self.system.interaction_energy, argnums=1)(self.reduce(ion_position), zeros)

    def softened_potential(self, ion_position: Float[Array, 3]) -> Float[Array, ""]:
        """``U(σ) = Φ(0, σ) − c ∇_ρΦ·Ξ⁻¹·∇_ρΦ`` with ``c`` set by ``softening`` (1.26)."""
        bare = self.system.landscape(self.reduce(ion_position))
        factor = SOFTENING_FACTORS[self.softening]
        if factor == 0.0:
            return bare
        g = self.site_gradient(ion_position)
        return bare - factor * jnp.einsum("ai,abij,bj->", g, self.greens, g)

    def drag_matrix(self, ion_position: Float[Array, 3]) -> Float[Array, "3 3"]:
        """``H M H`` with ``H = ∇∇Φ(0, σ)`` (1.23): the drag force is ``−HMH σ'``."""
        hessian = jax.hessian(self.system.landscape)(self.reduce(ion_position))
        return hessian @ self.recoil @ hessian

    def _radial_energy(self, squared: Float[Array, " sites"]) -> Float[Array, " sites"]:
        """``φ_{κ(a)}`` of each site as a function of its squared distance (one potential per species)."""
        potentials = self.system.potentials
        if len(potentials) == 1:
            return potentials[0](squared)
        groups = np.asarray(self.system.site_groups)
        out = jnp.zeros_like(squared)
        for g, potential in enumerate(potentials):
            index = np.flatnonzero(groups == g)
            out = out.at[index].set(potential(squared[index]))
        return out

    def forces(self, ion_position: Float[Array, 3]) -> tuple[Float[Array, 3], Float[Array, "3 3"], Float[Array, ""]]:
        """``(−∇U(σ), HMH, U(σ))`` in closed form (:meth:`force_and_hessian`)."""
        force, hessian, energy = self.force_and_hessian(ion_position)
        return force, hessian @ self.recoil @ hessian, energy

    def _radial_derivatives(self, ion_position: Float[Array, 3]):
        """``d_a = R_a − σ`` (reduced σ) and ``φ_a``, ``φ'_a``, ``φ''_a`` (derivatives in ``r²``) of every site."""
        separation = self.system.site_positions() - self.reduce(ion_position)
        squared = jnp.sum(separation**2, axis=-1)
        ones = jnp.ones_like(squared)

        def value_and_slope(s):
            return jax.jvp(self._radial_energy, (s,), (ones,))

        (phi, slope), (_, curvature) = jax.jvp(value_and_slope, (squared,), (ones,))
        return separation, phi, slope, curvature

    def hessian(self, ion_position: Float[Array, 3]) -> Float[Array, "3 3"]:
        """The bare landscape's Hessian ``H = Σ_a (2φ'_a I + 4φ''_a d_a d_aᵀ)`` alone (:meth:`force_and_hessian`)."""
        separation, _, slope, curvature = self._radial_derivatives(ion_position)
        return 2 * jnp.sum(slope) * jnp.eye(3) + 4 * jnp.einsum("a,ai,aj->ij", curvature, separation, separation)

    def force_and_hessian(self, ion_position: Float[Array, 3]) -> tuple[Float[Array, 3], Float[Array, "3 3"], Float[Array, ""]]:
        """``(−∇U(σ), H, U(σ))`` in closed form from the pair potential's radial derivatives (``H`` the bare Hessian).

        With ``d_a = R_a − σ``, ``φ_a = φ(d_a²)`` and primes derivatives in ``r²``: the site Hessians are
        ``H_a = 2φ'_a I + 4φ''_a d_a d_aᵀ`` (``H = Σ_a H_a``), the forces on the sites at rest
        ``g_a = 2φ'_a Pᵀd_a`` (``∂g_a/∂σ = −PᵀH_a``), so
        ``∇U = −Σ_a 2φ'_a d_a + 2c Σ_a H_a P Σ_b Ξ⁻¹_ab g_b`` for ``U = Φ − c gᵀΞ⁻¹g`` (1.26).
        The same quantities as :meth:`softened_potential` and :meth:`drag_matrix` (tested against them),
        with elementwise derivatives only: several times cheaper per step than nested ``jax.hessian``.
        """
        separation, phi, slope, curvature = self._radial_derivatives(ion_position)
        eye = jnp.eye(3)
        site_hessians = 2 * slope[:, None, None] * eye + 4 * curvature[:, None, None] * separation[:, :, None] * separation[:, None, :]
        gradient = -2 * jnp.sum(slope[:, None] * separation, axis=0)
        energy = jnp.sum(phi)
        factor = SOFTENING_FACTORS[self.softening]
        if factor != 0.0:
            polarisation = np.asarray(self.system.lattice.polarisation_matrix, float)
            identity = polarisation.shape == (3, 3) and np.array_equal(polarisation, np.eye(3))
            project = (lambda x: x) if identity else (lambda x: x @ polarisation)
            site_forces = 2 * slope[:, None] * project(separation)
            n, dof = site_forces.shape
            flat_greens = jnp.transpose(self.greens, (0, 2, 1, 3)).reshape(n * dof, n * dof)
            response = (flat_greens @ site_forces.reshape(-1)).reshape(n, dof)
            site_response = response if identity else response @ polarisation.T
            gradient = gradient + 2 * factor * jnp.einsum("aij,ai->j", site_hessians, site_response)
            energy = energy - factor * jnp.sum(site_forces * response)
        return -gradient, jnp.sum(site_hessians, axis=0), energy


def time_local_model(
    system: System,
    *,
    softening: str = "half",
    drag: bool = True,
    recoil=None,
    greens=None,
    supercell: Sequence[int] | None = None,
    period=None,
) -> TimeLocalModel:
    """Build (1.26)'s ingredients: ``M`` by :func:`jaxion.theory.recoil_matrix` and ``Ξ⁻¹`` between the
    system's sites by :func:`jaxion.theory.static_greens_function` (infinite lattice, or the given
    periodic ``supercell`` to compare with a finite full-engine run). Pass ``recoil``/``greens`` to reuse
    precomputed ones. A lattice without a finite ``M`` (1D, confined, or with soft directions) raises
    ``ValueError`` unless ``drag=False``. ``period``: a lattice translation along which the landscape repeats
    (:class:`TimeLocalModel`), for an ion that hops along a channel."""
    from ..theory.greens import static_greens_function
    from ..theory.low_speed import recoil_matrix

    check_choice("softening", softening, SOFTENING_FACTORS)
    if recoil is None:
        recoil = recoil_matrix(system.lattice) if drag else jnp.zeros((3, 3))
    if greens is None:
        n, dof = len(system.sites), system.lattice.dof
        if SOFTENING_FACTORS[softening] == 0.0:
            greens = jnp.zeros((n, n, dof, dof))
        else:
            greens = static_greens_function(system, supercell=supercell)  # between the sites (cell ..., atom)
    return TimeLocalModel(system, jnp.asarray(recoil, float), jnp.asarray(greens, float), softening, drag,
                          None if period is None else jnp.asarray(period, float))


class LocalState(eqx.Module):
    """The state of (1.26): the ion and the energy the drag has removed so far (a leading ``members`` axis for a
    batch)."""

    ion_position: Float[Array, "*batch 3"]
    ion_velocity: Float[Array, "*batch 3"]
    dissipated: Float[Array, "*batch"]


class LocalResult(AbstractResult):
    """What the time-local solve returns (JAX arrays; a leading ``members`` axis for a batch).

    Attributes:
        ts, ion_positions, ion_velocities: the ion at the save times (``inf`` after an early stop).
        dissipated: energy removed by the drag up to each save time, ``∫ σ'·HMH·σ' dτ``.
        energy: ``μσ'²/(8π²) + U(σ)`` at each save time (``U`` the softened landscape).
        loss: the ion's kinetic-energy loss ``μ(v0² − v1²)/(8π²)`` from the start to the end of the solve.
        energy_drift: change of ``μσ'²/(8π²) + U(σ) + dissipated − F·σ`` (conserved by (1.26)) from start to end.
        end_time: time at which the solve ended (the event time when the ion crossed ``stop_plane``).
        stopped_by_event: whether the ion crossed the stop plane.
        num_steps: accepted steps.
        status: 0 on success, 1 step budget exhausted, 2 solver failure, 3 non-finite state.
    """

    ts: Float[Array, "*batch times"]
    ion_positions: Float[Array, "*batch times 3"]
    ion_velocities: Float[Array, "*batch times 3"]
    dissipated: Float[Array, "*batch times"]
    energy: Float[Array, "*batch times"]
    loss: Float[Array, "*batch"]
    energy_drift: Float[Array, "*batch"]
    end_time: Float[Array, "*batch"]
    stopped_by_event: Bool[Array, "*batch"]
    num_steps: Int[Array, "*batch"]
    status: Int[Array, "*batch"]


class _LocalArgs(eqx.Module):
    """The validated data of the right-hand side: model, line (or ``None``), bias force, stop plane."""

    model: TimeLocalModel
    line: Float[Array, 3] | None
    bias: Float[Array, 3]
    plane: tuple[Float[Array, 3], Float[Array, 3]] | None


class _LocalSolve(eqx.Module):
    """The validated solver options shared by every member of a solve."""

    save_times: Float[Array, " times"]
    duration: Float[Array, ""]
    dt0: Float[Array, ""] | None
    solver: diffrax.AbstractSolver
    controller: diffrax.AbstractStepSizeController
    max_steps: int = eqx.field(static=True)


def _local_vector_field(t, y: LocalState, args: _LocalArgs) -> LocalState:
    """(1.26): softened force plus drag ``−HMHσ'`` (projected on the line when the ion is held on one)."""
    model = args.model
    landscape_force, drag_matrix, _ = model.forces(y.ion_position)
    force = landscape_force + args.bias
    drag_force = -drag_matrix @ y.ion_velocity if model.drag else jnp.zeros(3)
    if args.line is not None:
        force = args.line * jnp.dot(args.line, force)
        drag_force = args.line * jnp.dot(args.line, drag_force)
    return LocalState(
        ion_position=y.ion_velocity,
        ion_velocity=FOUR_PI_SQ / model.system.mass_ratio * (force + drag_force),
        dissipated=-jnp.dot(drag_force, y.ion_velocity),
    )


def _local_record(t, y: LocalState, args: _LocalArgs):
    energy = kinetic_energy(args.model.system.mass_ratio, y.ion_velocity) + args.model.forces(y.ion_position)[2]
    return y.ion_position, y.ion_velocity, y.dissipated, energy


@eqx.filter_jit
def _solve_local(args: _LocalArgs, y0: LocalState, plan: _LocalSolve) -> LocalResult:
    """One compiled solve per (model structure, solver, controller, shapes): repeated calls and
    ``jax.vmap`` over initial states reuse it."""
    solution = diffrax.diffeqsolve(
        diffrax.ODETerm(_local_vector_field),
        plan.solver,
        t0=0.0,
        t1=plan.duration,
        dt0=plan.dt0,
        y0=y0,
        args=args,
        saveat=diffrax.SaveAt(
            subs=[diffrax.SubSaveAt(t0=True, t1=True, fn=_local_record), diffrax.SubSaveAt(ts=plan.save_times, fn=_local_record)]
        ),
        stepsize_controller=plan.controller,
        event=None if args.plane is None else plane_event(),
        max_steps=plan.max_steps,
        throw=False,
    )
    assert solution.ys is not None and solution.ts is not None  # both SubSaveAt save
    (ends, trajectory) = solution.ys
    (x_ends, v_ends, dissipated_ends, energy_ends), (positions, velocities, dissipated, energy) = ends, trajectory
    mu = args.model.system.mass_ratio
    loss = kinetic_energy(mu, v_ends[0]) - kinetic_energy(mu, v_ends[-1])
    bias_work = jnp.dot(args.bias, x_ends[-1] - x_ends[0])
    drift = (energy_ends[-1] + dissipated_ends[-1]) - (energy_ends[0] + dissipated_ends[0]) - bias_work
    return LocalResult(
        ts=solution.ts[1],
        ion_positions=positions,
        ion_velocities=velocities,
        dissipated=dissipated,
        energy=energy,
        loss=loss,
        energy_drift=drift,
        end_time=solution.ts[0][-1],
        stopped_by_event=solution.result == diffrax.RESULTS.event_occurred,
        num_steps=solution.stats["num_accepted_steps"],
        status=finite_status(status_from_diffrax(solution.result), loss, drift),
    )


def _prepare_local(model, start: IonStart, duration, save_times, bias_force, stop_plane, solver, rtol, atol, dt,
                   max_steps) -> tuple[_LocalArgs, _LocalSolve]:
    """Validate one solve's options (eagerly where they are concrete); ``start`` is the (fastest) ion state."""
    if not isinstance(model, TimeLocalModel):
        raise ValueError(f"model must be a TimeLocalModel (jaxion.time_local_model); got {type(model).__name__}.")
    check_choice("solver", solver, SOLVERS)
    check_duration(duration)
    save_times = check_save_times(jnp.linspace(0.0, duration, 301) if save_times is None else save_times, duration)
    assert save_times is not None  # given times (or the default) stay an array
    if dt is None:
        check_positive("rtol", rtol)
        check_positive("atol", atol)
        controller, dt0 = diffrax.PIDController(rtol=rtol, atol=atol), None
    else:
        check_positive("dt", dt)
        shortest = model.system.potentials[0].range if len(model.system.potentials) == 1 else min(
            float(p.range) for p in model.system.potentials)
        if is_concrete((dt, start.velocity, shortest)):
            # The ion must resolve the landscape: a step longer than half its (narrowest) range jumps over it.
            speed = float(np.max(np.linalg.norm(np.asarray(start.velocity), axis=-1)))
            reach = 0.5 * float(shortest)
            if float(dt) * speed > reach:
                raise ValueError(
                    f"dt = {float(dt):.3g} is too large for the ion: at speed {speed:.3g} it moves {float(dt) * speed:.3g} "
                    f"per step, more than half the potential's range ({reach:.3g}); use dt <= {reach / max(speed, 1e-300):.3g}."
                )
        controller, dt0 = diffrax.ConstantStepSize(), jnp.asarray(dt, float)
    first = IonStart(start.position.reshape(-1, 3)[0], start.velocity.reshape(-1, 3)[0],
                     None if start.line is None else start.line.reshape(-1, 3)[0])
    bias = check_bias_force(bias_force, first)
    args = _LocalArgs(model, first.line, bias, check_stop_plane(stop_plane))
    plan = _LocalSolve(save_times, jnp.asarray(duration, float), dt0, SOLVERS[solver](), controller, check_max_steps(max_steps))
    return args, plan


def simulate_local(
    model: TimeLocalModel,
    ion_position,
    ion_velocity,
    duration: RealScalar,
    *,
    save_times=None,
    constraint=None,
    bias_force=None,
    stop_plane=None,
    solver: str = "dopri8",
    rtol: float = 1e-10,
    atol: float = 1e-12,
    dt: RealScalar | None = None,
    max_steps: int = 1_000_000,
    throw: bool = True,
) -> LocalResult:
    """Integrate (1.26) from one initial ion state (:func:`simulate_local_batch` for many).

    The right-hand side is :meth:`TimeLocalModel.forces` (closed-form derivatives of the pair potential).

    Args:
        model: from :func:`time_local_model`.
        ion_position, ion_velocity: initial state (l, l per τ).
        duration: end time τ.
        save_times: times to record (default 301 points over ``[0, duration]``).
        constraint: ``None`` (free 3D ion) or a direction of a line the ion is held on (forces projected).
        bias_force: a constant force on the ion (energy per length, e.g. ``β/α`` along the path): a ``(3,)``
            vector, or a scalar along ``constraint``.
        stop_plane: ``(point, normal)``: stop when ``(σ − point)·normal > 0`` (a diffrax event).
        solver: ``"dopri8"`` (default: on Fig. 6's system it needs 1.5–3× fewer right-hand-side
            evaluations than ``"tsit5"`` for a similar error), ``"tsit5"`` or ``"dopri5"``; adaptive with
            ``rtol``/``atol`` unless ``dt``.
        max_steps: step budget; running out sets ``status`` 1.
        throw: raise :class:`jaxion.SimulationError` if the solve fails (``status != 0``).
    """
    start = check_ion_state(ion_position, ion_velocity, constraint)
    args, plan = _prepare_local(model, start, duration, save_times, bias_force, stop_plane, solver, rtol, atol, dt, max_steps)
    result = _solve_local(args, LocalState(start.position, start.velocity, jnp.zeros(())), plan)
    return check_status(result, throw, engine="simulate_local")


@eqx.filter_jit
def _solve_batch(args: _LocalArgs, y0s: LocalState, plan: _LocalSolve, mesh, chunk_size: int) -> LocalResult:
    def batched(states):
        # ``chunk_size`` members at a time in lockstep (``lax.map`` over vmapped chunks): an adaptive
        # vmapped loop runs until its slowest member is done, and small chunks stay in cache.
        return jax.lax.map(lambda y0: _solve_local(args, y0, plan), states, batch_size=chunk_size)

    return over_devices(batched, mesh)(y0s)


def simulate_local_batch(
    model: TimeLocalModel,
    ion_positions,
    ion_velocities,
    duration: RealScalar,
    *,
    devices=None,
    chunk_size: int = 64,
    save_times=None,
    constraint=None,
    bias_force=None,
    stop_plane=None,
    solver: str = "dopri8",
    rtol: float = 1e-10,
    atol: float = 1e-12,
    dt: RealScalar | None = None,
    max_steps: int = 1_000_000,
) -> LocalResult:
    """Integrate (1.26) from many initial ion states in one compiled, vmapped call.

    ``ion_positions``/``ion_velocities`` have shape ``(members, 3)``; the other arguments are those of
    :func:`simulate_local`, shared by every member, and the fields of the returned :class:`LocalResult`
    gain a leading ``members`` axis. Each member is validated (finite, on the constraint line; a fixed
    ``dt`` against the fastest member). With several ``devices`` (default: all local devices) the
    members are split over them with ``jax.shard_map`` (:mod:`jaxion.parallel`); the numbers equal a
    single-device run's to the solver's tolerance (XLA may round differently for other batch shapes and
    the adaptive step sequence carries that up to ``rtol``-sized differences, no further). Each device
    runs its members ``chunk_size`` at a time (members of one chunk step in lockstep). A member whose
    solve fails keeps ``status != 0`` and is named in a ``RuntimeWarning``; the others are kept.
    """
    positions = jnp.asarray(ion_positions, float)
    velocities = jnp.asarray(ion_velocities, float)
    if positions.ndim != 2 or positions.shape[-1] != 3 or velocities.shape != positions.shape or positions.shape[0] == 0:
        raise ValueError(
            f"ion_positions and ion_velocities must both have shape (members, 3) with members >= 1; got "
            f"{positions.shape} and {velocities.shape}."
        )
    if constraint is not None and np.ndim(constraint) != 1:
        raise ValueError(f"constraint must be one (3,) direction shared by every member; got shape {np.shape(constraint)}.")
    try:
        start = check_ion_state(positions, velocities, constraint, several=True)
    except ValueError as error:
        raise ValueError(str(error).replace("ion_position", "ion_positions").replace("ion_velocity", "ion_velocities")) from None
    if isinstance(chunk_size, bool) or int(chunk_size) != chunk_size or int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be a positive integer; got {chunk_size!r}.")
    args, plan = _prepare_local(model, start, duration, save_times, bias_force, stop_plane, solver, rtol, atol, dt, max_steps)
    members = positions.shape[0]
    mesh = device_mesh(devices)
    y0s = LocalState(positions, velocities, jnp.zeros(members))
    y0s, _ = pad_members(y0s, members, 1 if mesh is None else mesh.size)
    result = jax.tree_util.tree_map(lambda x: x[:members], _solve_batch(args, y0s, plan, mesh, int(chunk_size)))
    speeds = np.linalg.norm(np.asarray(velocities), axis=-1)
    warn_failed_members(result.status, lambda i: f"initial speed {speeds[i]:.4g}")
    return result
