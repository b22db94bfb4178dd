"""Finite temperature in the time-local engine: (1.26) with the fluctuating force that fluctuation–dissipation demands.

    (μ/4π²) σ'' = −∇U(σ) − Γ(σ) σ' + F + ξ(τ),     Γ = H M H,     ⟨ξ_i(τ) ξ_j(τ')⟩ = 2 T Γ_ij(σ) δ(τ − τ')

with ``U`` the softened landscape and ``Γ = HMH`` the drag matrix of (1.26) (:class:`jaxion.TimeLocalModel`),
``F`` an optional bias and ``T = k_BT/(ħΩ)`` (``k_B = 1``, the temperature unit of paper 2's ``ω_T``). The
framework both absorbs the ion's energy (the drag) and feeds it back (the noise); ``shared/NOTES.md``.

As a stochastic differential equation in ``(σ, v = σ')``:

    dσ = v dτ,      dv = (4π²/μ)[−∇U − Γ v + F] dτ + (4π²/μ) sqrt(2T) H M^{1/2} dW,

since ``Γ = (H M^{1/2})(H M^{1/2})ᵀ``: the noise amplitude needs only the square root of the recoil matrix ``M``
(computed once; ``M`` must be positive semi-definite) and no factorisation per step.

**Itô and Stratonovich agree here.** The difference between the two readings is the drift
``½ Σ_jk g_jk ∂g_ik/∂y_j`` of the noise amplitude ``g``; ``g`` has rows only in the velocity equation
(``j`` runs over velocity components) and depends only on the position (``∂g/∂v = 0``), so every term
vanishes: there is no noise-induced drift. ``solver="euler"`` (Euler–Maruyama, Itô) and ``solver="heun"``
(Heun, Stratonovich, the default: second order in the deterministic part) converge to the same process —
tested on the stationary statistics, not trusted.

**Stationary state.** For any positive semi-definite ``Γ(σ)`` the Boltzmann density
``exp(−[μv²/(8π²) + U(σ) − F·σ]/T)`` is stationary (the Fokker–Planck equation of underdamped Langevin dynamics
with friction and noise tied by ``2TΓ``): equipartition ``⟨μ v_i²/(8π²)⟩ = T/2`` per free direction and the
position density ``∝ exp(−U/T)`` in a confining landscape (both tested).

Brownian motion comes from :class:`diffrax.UnsafeBrownianPath` (a fresh normal increment per fixed step, the fast
choice for fixed steps; trajectories are bit-identical for the same key) or :class:`diffrax.VirtualBrownianTree`
(``brownian="tree"``: the same path whatever the step, for step-size convergence studies).
"""

from __future__ import annotations

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from .._constants import FOUR_PI_SQ
from .._validation import RealScalar, check_choice, check_positive, is_concrete, warn_user
from ..parallel import device_mesh, over_devices, pad_members
from ._common import (
    AbstractResult,
    IonStart,
    check_bias_force,
    check_duration,
    check_ion_state,
    check_save_times,
    finite_status,
    kinetic_energy,
    status_from_diffrax,
    warn_failed_members,
)
from .local import TimeLocalModel
from .thermal import ThermalBath, _flat_keys

__all__ = ["ThermalLocalResult", "LangevinSplitting", "simulate_local_thermal", "local_time_step", "THERMAL_SOLVERS"]

# Stochastic solvers by name: Heun reads the noise in Stratonovich's sense, Euler–Maruyama in Itô's (they agree here).
THERMAL_SOLVERS = {"baoab": None, "heun": diffrax.Heun, "euler": diffrax.Euler}  # "baoab": LangevinSplitting (below)
_BROWNIAN = ("unsafe", "tree")
_STEPS_PER_OSCILLATION = 40  # default step: 40 per period of the stiffest oscillation of the landscape
_MAX_OSCILLATION_PHASE = 1 / 8  # refuse a step longer than 1/8 of the fastest oscillation period
_MAX_DRAG_DECAY = 0.5  # refuse a step longer than half the fastest velocity relaxation time


class ThermalLocalResult(AbstractResult):
    """What the stochastic time-local solve returns (a leading ``members`` axis).

    Attributes:
        ts, ion_positions, ion_velocities: the ion at the save times.
        kinetic: the ion's kinetic energy ``μσ'²/(8π²)`` at the save times.
        dissipated: energy removed by the drag up to each save time, ``∫ σ'·Γ·σ' dτ``.
        loss: ``μ(v0² − v1²)/(8π²)`` from the start to the end.
        energy_drift: change of ``μσ'²/(8π²) + U − F·σ + dissipated`` from start to end: at ``T > 0`` the energy
            the noise supplied (zero on average in the stationary state only after the drag's share is counted),
            at ``T → 0`` the integration error.
        end_time, stopped_by_event, num_steps, status: as for every engine (no stop plane: ``stopped_by_event``
            is always ``False``).
        dt: the fixed time step used.
    """

    ts: Float[Array, "*batch times"]
    ion_positions: Float[Array, "*batch times 3"]
    ion_velocities: Float[Array, "*batch times 3"]
    kinetic: Float[Array, "*batch times"]
    dissipated: Float[Array, "*batch times"]
    loss: Float[Array, "*batch"]
    energy_drift: Float[Array, "*batch"]
    end_time: Float[Array, "*batch"]
    stopped_by_event: Bool[Array, "*batch"]
    num_steps: Int[Array, "*batch"]
    status: Int[Array, "*batch"]
    dt: Float[Array, ""]


class _ThermalArgs(eqx.Module):
    model: TimeLocalModel
    line: Float[Array, 3] | None
    bias: Float[Array, 3]
    noise: Float[Array, "3 3"]  # sqrt(2T) M^{1/2}


# The state is one flat array (diffrax's ControlTerm multiplies an array-valued amplitude by the Brownian increment):
# ``y = (σ (3), σ' (3), dissipated (1))``.
_X, _V, _D = slice(0, 3), slice(3, 6), 6


def _project(line, vector):
    return vector if line is None else line * jnp.dot(line, vector)


def _member_drift(y: Float[Array, " 7"], args: _ThermalArgs) -> Float[Array, " 7"]:
    """The deterministic part: (1.26) with the bias, projected on the line when the ion is held on one."""
    force, drag_matrix, _ = args.model.forces(y[_X])
    drag_force = _project(args.line, -drag_matrix @ y[_V])
    total = _project(args.line, force + args.bias) + drag_force
    return jnp.concatenate([y[_V], FOUR_PI_SQ / args.model.system.mass_ratio * total, -jnp.dot(drag_force, y[_V])[None]])


def _member_amplitude(y: Float[Array, " 7"], args: _ThermalArgs) -> Float[Array, "7 3"]:
    """The noise amplitude: ``(4π²/μ) sqrt(2T) H M^{1/2}`` on the velocity (one column per Brownian component)."""
    amplitude = args.model.hessian(y[_X]) @ args.noise
    if args.line is not None:
        amplitude = jnp.outer(args.line, args.line) @ amplitude
    return jnp.zeros((7, 3)).at[_V].set(FOUR_PI_SQ / args.model.system.mass_ratio * amplitude)


def _member_record(y: Float[Array, " 7"], args: _ThermalArgs):
    kinetic = kinetic_energy(args.model.system.mass_ratio, y[_V])
    return y[_X], y[_V], kinetic, kinetic + args.model.forces(y[_X])[2], y[_D]


# One diffrax solve integrates a whole chunk of members, ``y`` of shape ``(members, 7)``: with fixed steps they step in
# lockstep, and one loop over batched arrays avoids the per-step selects of a vmapped while loop.
def _drift(t, y: Float[Array, "members 7"], args: _ThermalArgs) -> Float[Array, "members 7"]:
    return jax.vmap(_member_drift, in_axes=(0, None))(y, args)


def _diffusion(t, y: Float[Array, "members 7"], args: _ThermalArgs) -> lx.FunctionLinearOperator:
    amplitudes = jax.vmap(_member_amplitude, in_axes=(0, None))(y, args)  # (members, 7, 3)
    return lx.FunctionLinearOperator(lambda dw: jnp.einsum("mij,mj->mi", amplitudes, dw),
                                     jax.ShapeDtypeStruct((y.shape[0], 3), y.dtype))


def _record(t, y: Float[Array, "members 7"], args: _ThermalArgs):
    return jax.vmap(_member_record, in_axes=(0, None))(y, args)


def _light_record(t, y: Float[Array, "members 7"], args: _ThermalArgs):
    """What the save times keep: position, velocity, dissipated (energies follow from them after the solve)."""
    return y[:, _X], y[:, _V], y[:, _D]


class _MemberPaths(diffrax.AbstractBrownianPath):
    """One Brownian path per member (``paths``: a diffrax path with a leading members axis, from one key each), so a
    member's noise depends on its own key only, whatever the chunk or device it runs in."""

    paths: diffrax.AbstractBrownianPath
    levy_area: type = eqx.field(static=True, default=diffrax.BrownianIncrement)

    @property
    def t0(self):
        return -jnp.inf

    @property
    def t1(self):
        return jnp.inf

    def evaluate(self, t0, t1=None, left: bool = True, use_levy: bool = False):
        return eqx.filter_vmap(lambda path: path.evaluate(t0, t1, left, use_levy))(self.paths)


def _conservative_force(args: _ThermalArgs, position) -> Float[Array, 3]:
    return _project(args.line, args.model.force_and_hessian(position)[0] + args.bias)


def _splitting_step(args: _ThermalArgs, h, y0: Float[Array, " 7"], force: Float[Array, 3], increment: Float[Array, 3]):
    """One B–A–O–A–B step of one member (:class:`LangevinSplitting`); ``force`` is the kick force at ``y0``."""
    scale = FOUR_PI_SQ / args.model.system.mass_ratio
    v = y0[_V] + 0.5 * h * scale * force
    x = y0[_X] + 0.5 * h * v
    hessian = args.model.hessian(x)
    noise = hessian @ (args.noise @ increment)
    drag = hessian @ args.model.recoil @ hessian
    if args.line is not None:
        projector = jnp.outer(args.line, args.line)
        drag, noise = projector @ drag @ projector, projector @ noise
    half = 0.5 * h * scale * drag
    eye = jnp.eye(3)
    v_new = _solve_3x3(eye + half, (eye - half) @ v + scale * noise)
    mean = 0.5 * (v + v_new)
    dissipated = y0[_D] + h * jnp.dot(mean, drag @ mean)
    x = x + 0.5 * h * v_new
    force = _conservative_force(args, x)
    v_new = v_new + 0.5 * h * scale * force
    return jnp.concatenate([x, v_new, dissipated[None]]), force


def _solve_3x3(matrix: Float[Array, "3 3"], rhs: Float[Array, 3]) -> Float[Array, 3]:
    """``matrix⁻¹ rhs`` by the adjugate (Cramer's rule): elementwise, several times cheaper than a batched LAPACK
    solve of many 3×3 systems; used for ``1 + Γ̃h/2``, whose eigenvalues are ``>= 1`` (well conditioned)."""
    # row k of `columns` is r_{k+1} × r_{k+2} (rows r_i of the matrix, cyclic): column k of det · matrix⁻¹
    columns = jnp.cross(jnp.roll(matrix, -1, axis=0), jnp.roll(matrix, -2, axis=0))
    return columns.T @ rhs / jnp.dot(matrix[0], columns[0])


class LangevinSplitting(diffrax.AbstractStratonovichSolver):
    """A splitting integrator for underdamped Langevin dynamics with position-dependent matrix friction (BAOAB,
    Leimkuhler & Matthews, Appl. Math. Res. Express 2013, 34), as a diffrax solver of the stochastic time-local
    equation (module notes): per step ``h`` a half kick by the conservative force (B), a half drift (A), the
    friction and noise at the midpoint position (O), a half drift (A) and a half kick (B).

    The O step solves ``dv = −Γ̃ v dτ + (4π²/μ) sqrt(2T) H M^{1/2} dW`` (``Γ̃ = 4π²HMH/μ``, frozen at the midpoint)
    by the midpoint rule, ``(1 + Γ̃h/2) v₁ = (1 − Γ̃h/2) v₀ + (4π²/μ) sqrt(2T) H M^{1/2} ΔW``. Because the noise
    covariance is ``2(T·4π²/μ) Γ̃ h``, this step leaves the Maxwell distribution ``N(0, 4π²T/μ)`` exactly
    invariant for any ``h`` (``C[(1 − Γ̃h/2)² + 2Γ̃h]Cᵀ = 1`` with ``C = (1 + Γ̃h/2)⁻¹``): the friction step adds
    no temperature bias (the kicks and drifts still do, at ``O(h²)``: ⟨KE⟩/(T/2) measured 0.998 ± 0.012 at the
    default 40 steps per oscillation, 0.973 ± 0.011 at 20, 0.868 ± 0.010 at 10), and a 3×3 solve replaces the matrix exponential and
    square root. The symplectic B–A–A–B part does not pump energy into weakly damped oscillations as a Runge–Kutta step does (Heun's
    ``(ωh)⁴/4`` per step), which matters here: the drag of real lattices is weak (``Γ̃ ≪ ω``).
    Two force evaluations per step (the kick force is carried over from the previous step).

    The Brownian increment comes from the control term, so the Brownian paths of diffrax serve it unchanged.
    Stratonovich and Itô agree for this equation (module notes).
    """

    term_structure = diffrax.MultiTerm[tuple[diffrax.ODETerm, diffrax.ControlTerm]]
    interpolation_cls = diffrax.LocalLinearInterpolation

    def order(self, terms):
        return 2

    def strong_order(self, terms):
        return 1

    def init(self, terms, t0, t1, y0, args):
        return jax.vmap(_conservative_force, in_axes=(None, 0))(args, y0[:, _X])

    def step(self, terms, t0, t1, y0, args: _ThermalArgs, solver_state, made_jump):
        del made_jump
        increments = terms.terms[1].contr(t0, t1)
        y1, force = jax.vmap(_splitting_step, in_axes=(None, None, 0, 0, 0))(args, t1 - t0, y0, solver_state, increments)
        return y1, None, dict(y0=y0, y1=y1), force, diffrax.RESULTS.successful

    def func(self, terms, t0, y0, args):
        return terms.vf(t0, y0, args)


class _ThermalPlan(eqx.Module):
    save_times: Float[Array, " times"]
    duration: Float[Array, ""]
    dt: Float[Array, ""]
    solver: diffrax.AbstractSolver
    brownian: str = eqx.field(static=True)
    max_steps: int = eqx.field(static=True)


def _solve_chunk(args: _ThermalArgs, y0: Float[Array, "members 7"], keys, plan: _ThermalPlan) -> ThermalLocalResult:
    """One diffrax solve of a chunk of members (``y0`` ``(members, 7)``, one key each)."""
    if plan.brownian == "unsafe":
        paths = jax.vmap(lambda key: diffrax.UnsafeBrownianPath(shape=(3,), key=key))(keys)
    else:
        paths = jax.vmap(lambda key: diffrax.VirtualBrownianTree(0.0, plan.duration, tol=plan.dt / 4, shape=(3,),
                                                                 key=key))(keys)
    terms = diffrax.MultiTerm(diffrax.ODETerm(_drift), diffrax.ControlTerm(_diffusion, _MemberPaths(paths=paths)))
    solution = diffrax.diffeqsolve(
        terms, plan.solver, t0=0.0, t1=plan.duration, dt0=plan.dt, y0=y0, args=args,
        saveat=diffrax.SaveAt(subs=[diffrax.SubSaveAt(t0=True, t1=True, fn=_record),
                                    diffrax.SubSaveAt(ts=plan.save_times, fn=_light_record)]),
        stepsize_controller=diffrax.ConstantStepSize(), max_steps=plan.max_steps, throw=False,
        # an UnsafeBrownianPath is not meant to be replayed backwards: forward-mode derivatives only (jax.jvp / jacfwd)
        adjoint=diffrax.ForwardMode() if plan.brownian == "unsafe" else diffrax.RecursiveCheckpointAdjoint(),
    )
    assert solution.ys is not None and solution.ts is not None
    members_first = lambda tree: jax.tree_util.tree_map(lambda x: jnp.moveaxis(x, 0, 1), tree)  # (times, members…)
    (x_ends, _, kinetic_ends, energy_ends, dissipated_ends) = members_first(solution.ys[0])
    positions, velocities, dissipated = members_first(solution.ys[1])
    kinetic = kinetic_energy(args.model.system.mass_ratio, velocities)
    loss = kinetic_ends[:, 0] - kinetic_ends[:, -1]
    bias_work = (x_ends[:, -1] - x_ends[:, 0]) @ args.bias
    drift = (energy_ends[:, -1] + dissipated_ends[:, -1]) - (energy_ends[:, 0] + dissipated_ends[:, 0]) - bias_work
    code = status_from_diffrax(solution.result)
    members = y0.shape[0]
    status = jax.vmap(lambda *values: finite_status(code, *values))(positions, velocities, loss)
    return ThermalLocalResult(
        ts=jnp.broadcast_to(solution.ts[1], (members,) + solution.ts[1].shape), ion_positions=positions,
        ion_velocities=velocities, kinetic=kinetic, dissipated=dissipated, loss=loss, energy_drift=drift,
        end_time=jnp.full(members, solution.ts[0][-1]), stopped_by_event=jnp.zeros(members, bool),
        num_steps=jnp.full(members, solution.stats["num_accepted_steps"]), status=status, dt=plan.dt,
    )


@eqx.filter_jit
def _solve_batch(args: _ThermalArgs, y0s: Float[Array, "members 7"], keys, plan: _ThermalPlan, mesh, chunk_size: int):
    def batched(inputs):
        states, member_keys = inputs
        members = states.shape[0]
        chunks = -(-members // chunk_size)
        size = -(-members // chunks)  # equal chunks (the members are padded to a multiple)
        (states, member_keys), padded = pad_members((states, member_keys), members, size)
        shaped = jax.tree_util.tree_map(lambda x: x.reshape((padded // size, size) + x.shape[1:]), (states, member_keys))
        out = jax.lax.map(lambda pair: _solve_chunk(args, pair[0], pair[1], plan), shaped)
        return jax.tree_util.tree_map(lambda x: x.reshape((-1,) + x.shape[2:])[:members] if x.ndim >= 2 else x, out)

    return over_devices(batched, mesh)((y0s, keys))


# ---------------------------------------------------------------------- time step


def _landscape_scales(model: TimeLocalModel, positions, line) -> tuple[float, float]:
    """The fastest oscillation frequency ``sqrt(λ_max(∇∇U)/μ)`` (cycles per τ) and the fastest velocity relaxation
    rate ``4π² λ_max(Γ)/μ`` (per τ) at ``positions`` (``(n, 3)``), along the line when the ion is held on one."""
    def scales(x):
        curvature = jax.hessian(model.softened_potential)(x)
        _, drag, _ = model.forces(x)
        if line is not None:
            return jnp.dot(line, curvature @ line), jnp.dot(line, drag @ line)
        return jnp.max(jnp.linalg.eigvalsh(curvature)), jnp.max(jnp.linalg.eigvalsh(drag))

    curvature, drag = jax.jit(jax.vmap(scales))(jnp.asarray(positions, float))
    mu = float(model.system.mass_ratio)
    frequency = float(np.sqrt(max(float(jnp.max(curvature)), 0.0) / mu))
    rate = FOUR_PI_SQ * max(float(jnp.max(drag)), 0.0) / mu
    return frequency, rate


def _probe_positions(model: TimeLocalModel, start: IonStart) -> np.ndarray:
    """Where to measure the landscape's stiffness: up to 256 start positions and, for a channel, 64 points over one
    period along it (or along the line through the first start)."""
    starts = np.asarray(start.position).reshape(-1, 3)
    probes = [starts[np.linspace(0, len(starts) - 1, min(len(starts), 256)).astype(int)]]
    if model.period is not None:
        period = np.asarray(model.period)
        probes.append(starts[0] + np.linspace(-0.5, 0.5, 65)[:, None] * period)
    return np.concatenate(probes)


def local_time_step(model: TimeLocalModel, ion_positions, *, constraint=None, steps_per_oscillation: int = _STEPS_PER_OSCILLATION) -> float:
    """A fixed step for :func:`simulate_local_thermal`: ``1/steps_per_oscillation`` of the period of the stiffest
    oscillation of the softened landscape (``sqrt(λ_max(∇∇U)/μ)`` cycles per τ) at the given positions and, on a
    channel model, over one period of it — and at most a tenth of the fastest velocity relaxation time
    ``μ/(4π² λ_max(Γ))``."""
    positions = jnp.asarray(ion_positions, float).reshape(-1, 3)
    start = check_ion_state(positions, jnp.zeros_like(positions), constraint, several=True)
    line = None if start.line is None else start.line.reshape(-1, 3)[0]
    frequency, rate = _landscape_scales(model, _probe_positions(model, start), line)
    candidates = [1.0 / (steps_per_oscillation * frequency) if frequency > 0 else np.inf, 0.1 / rate if rate > 0 else np.inf]
    dt = float(min(candidates))
    if not np.isfinite(dt):
        raise ValueError("the landscape is flat where the ion is (no curvature and no drag): give dt explicitly.")
    return dt


def _check_time_step(model: TimeLocalModel, start: IonStart, line, dt: float) -> None:
    frequency, rate = _landscape_scales(model, _probe_positions(model, start), line)
    if dt * frequency > _MAX_OSCILLATION_PHASE:
        raise ValueError(
            f"dt = {dt:.3g} is too large for the landscape's oscillation: its stiffest mode has period {1 / frequency:.3g} "
            f"(τ), so a step is {dt * frequency:.2f} of a period (at most {_MAX_OSCILLATION_PHASE}); use "
            f"dt <= {_MAX_OSCILLATION_PHASE / frequency:.3g}, e.g. jaxion.local_time_step(model, positions) = "
            f"{1 / (_STEPS_PER_OSCILLATION * frequency):.3g}."
        )
    if dt * rate > _MAX_DRAG_DECAY:
        raise ValueError(
            f"dt = {dt:.3g} is too large for the drag: the fastest velocity relaxation time is {1 / rate:.3g} (τ), so "
            f"a step is {dt * rate:.2f} of it (at most {_MAX_DRAG_DECAY}); use dt <= {_MAX_DRAG_DECAY / rate:.3g}."
        )


# ---------------------------------------------------------------------- public function


def _member_keys(thermal: ThermalBath, members: int):
    keys, batch = _flat_keys(thermal.key)
    if batch == ():
        return jax.random.split(thermal.key, members)
    if batch != (members,):
        raise ValueError(
            f"thermal.key must be one key or one key per member (shape ({members},)); got a batch of shape {batch}."
        )
    return keys


def _noise_factor(model: TimeLocalModel, temperature) -> Float[Array, "3 3"]:
    """``sqrt(2T) M^{1/2}``; ``M`` must be positive semi-definite (the noise needs the square root of ``Γ = HMH``)."""
    recoil = 0.5 * (model.recoil + model.recoil.T)
    values, vectors = jnp.linalg.eigh(recoil)
    if is_concrete(recoil):
        v = np.asarray(values)
        if v.min() < -1e-10 * max(abs(v).max(), 1e-300) or not np.allclose(np.asarray(model.recoil), np.asarray(model.recoil).T,
                                                                           rtol=1e-8, atol=1e-14 * max(abs(v).max(), 1e-300)):
            raise ValueError(
                f"model.recoil must be symmetric positive semi-definite: the noise of the drag Γ = HMH needs its square "
                f"root (fluctuation–dissipation); its eigenvalues are {v.tolist()}."
            )
    root = (vectors * jnp.sqrt(jnp.clip(values, 0.0))) @ vectors.T
    return jnp.sqrt(2 * jnp.asarray(temperature, float)) * root


def simulate_local_thermal(
    model: TimeLocalModel,
    ion_positions,
    ion_velocities,
    duration: RealScalar,
    *,
    thermal: object,  # any object: a wrong one raises the ValueError below (naming it), not a type-check error
    dt: RealScalar | None = None,
    save_times=None,
    constraint=None,
    bias_force=None,
    solver: str = "baoab",
    brownian: str = "unsafe",
    devices=None,
    chunk_size: int = 1024,
    max_steps: int | None = None,
) -> ThermalLocalResult:
    """The stochastic time-local equation (module notes) for an ensemble of ions, one compiled vmapped call.

    Args:
        model: from :func:`jaxion.time_local_model` (its drag ``HMH`` sets the noise; ``period=`` for a channel the
            ion hops along).
        ion_positions, ion_velocities: initial states ``(members, 3)`` (l, l per τ); e.g. a thermal velocity
            ``2π sqrt(T/μ)`` times a standard normal per free direction.
        duration: end time τ.
        thermal: ``ThermalBath(temperature, key, quantum=False)``: ``T`` in units of ``ħΩ`` (``> 0``) and one
            ``jax.random`` key (split into one per member) or one key per member. The noise is classical
            (``⟨ξξ⟩ = 2TΓ``), so ``quantum=True`` is refused.
        dt: fixed time step (default :func:`local_time_step`); checked against the landscape's fastest oscillation
            and the drag's fastest relaxation.
        save_times: times to record (default 201 points over ``[0, duration]``); for diffusion observables save
            equally spaced times.
        constraint: ``None`` (free 3D ion) or the direction of a line the ion is held on (forces and noise projected).
        bias_force: a constant force on the ion (a ``(3,)`` vector, or a scalar along ``constraint``), e.g. for the
            mobility.
        solver: ``"baoab"`` (:class:`LangevinSplitting`, default: a friction step that keeps the
            Maxwell distribution exactly, no energy pumping), ``"heun"`` (Stratonovich Runge–Kutta) or ``"euler"``
            (Euler–Maruyama, Itô) — the same process as the step goes to zero.
        brownian: ``"unsafe"`` (:class:`diffrax.UnsafeBrownianPath`, fast) or ``"tree"``
            (:class:`diffrax.VirtualBrownianTree`, the same path for any step, and reverse-mode gradients:
            ``jax.grad`` through the run needs ``"tree"``; ``jax.jvp``/``jax.jacfwd`` work with either).
        devices: split the members over these devices (default all local devices; :mod:`jaxion.parallel`).
        chunk_size: members per vmapped chunk on each device (fixed steps: a chunk steps in lockstep).
        max_steps: step budget (default: the steps the duration needs).

    Returns:
        :class:`ThermalLocalResult` (fields with a leading ``members`` axis); a failed member (non-finite state)
        has ``status != 0`` and is named in a ``RuntimeWarning``.
    """
    if not isinstance(model, TimeLocalModel):
        raise ValueError(f"model must be a TimeLocalModel (jaxion.time_local_model); got {type(model).__name__}.")
    if not isinstance(thermal, ThermalBath):
        raise ValueError(f"thermal must be a jaxion.ThermalBath(temperature, key, quantum=False); got {type(thermal).__name__}.")
    if thermal.quantum:
        raise ValueError(
            "thermal.quantum must be False: the time-local noise is classical (⟨ξξ⟩ = 2TΓ, fluctuation–dissipation); "
            "pass ThermalBath(temperature, key, quantum=False)."
        )
    if not model.drag:
        raise ValueError("model.drag must be True: without the drag Γ = HMH there is no noise (fluctuation–dissipation).")
    check_choice("solver", solver, THERMAL_SOLVERS)
    check_choice("brownian", brownian, _BROWNIAN)
    check_duration(duration)
    positions = jnp.asarray(ion_positions, float)
    velocities = jnp.asarray(ion_velocities, float)
    if positions.ndim != 2 or positions.shape[-1] != 3 or velocities.shape != positions.shape or positions.shape[0] == 0:
        raise ValueError(
            f"ion_positions and ion_velocities must both have shape (members, 3) with members >= 1; got "
            f"{positions.shape} and {velocities.shape}."
        )
    try:
        start = check_ion_state(positions, velocities, constraint, several=True)
    except ValueError as error:
        raise ValueError(str(error).replace("ion_position", "ion_positions").replace("ion_velocity", "ion_velocities")) from None
    if isinstance(chunk_size, bool) or int(chunk_size) != chunk_size or int(chunk_size) < 1:
        raise ValueError(f"chunk_size must be a positive integer; got {chunk_size!r}.")
    members = positions.shape[0]
    line = None if start.line is None else start.line.reshape(-1, 3)[0]
    if dt is None:
        if not is_concrete((model, start.position)):
            raise ValueError("dt must be given when the model or the ion positions are traced (jax.jit, vmap, grad).")
        dt = local_time_step(model, positions, constraint=constraint)
    else:
        check_positive("dt", dt)
        if is_concrete((dt, model, start.position)):
            _check_time_step(model, start, line, float(dt))
    save_times = check_save_times(jnp.linspace(0.0, duration, 201) if save_times is None else save_times, duration)
    assert save_times is not None
    if is_concrete((duration, dt)):
        needed = int(np.ceil(float(duration) / float(dt) - 1e-9))
        if max_steps is None:
            max_steps = needed + 1
        elif int(max_steps) < needed:
            warn_user(f"max_steps = {max_steps} is fewer than the {needed} steps of dt = {float(dt):.3g} the duration needs: "
                      "every member will stop with status 1.", RuntimeWarning)
    if max_steps is None:
        raise ValueError("max_steps must be given when duration or dt is traced.")
    temperature = jnp.asarray(thermal.temperature, float)
    temperature = eqx.error_if(temperature, ~(temperature > 0) | ~jnp.isfinite(temperature),
                               "thermal.temperature must be finite and > 0 (T in units of ħΩ).")
    first = IonStart(start.position[0], start.velocity[0], line)
    args = _ThermalArgs(model, line, check_bias_force(bias_force, first), _noise_factor(model, temperature))
    integrator = LangevinSplitting() if solver == "baoab" else THERMAL_SOLVERS[solver]()
    plan = _ThermalPlan(save_times, jnp.asarray(duration, float), jnp.asarray(dt, float), integrator, brownian,
                        int(max_steps))
    keys = _member_keys(thermal, members)
    mesh = device_mesh(devices)
    y0s = jnp.concatenate([positions, velocities, jnp.zeros((members, 1))], axis=1)
    (y0s, keys), _ = pad_members((y0s, keys), members, 1 if mesh is None else mesh.size)
    result = _solve_batch(args, y0s, keys, plan, mesh, int(min(chunk_size, members)))
    result = eqx.tree_at(lambda r: r.dt, jax.tree_util.tree_map(lambda x: x[:members], result), plan.dt)
    if is_concrete(result.status):
        warn_failed_members(result.status, lambda i: f"member {i}")
    return result
