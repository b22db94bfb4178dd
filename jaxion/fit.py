"""Inverse problems: fit a potential (and lattice constants) to measured loss-versus-speed curves, and
move materials toward lower drag, with optax.

The pieces:

- :class:`Target`: speeds ``σ'``, losses ``Δ`` and optional 1σ uncertainties (validated).
- A model (:class:`Model`): an *engine* ``(physical parameters, speeds) → Δ`` plus the free parameters,
  each with a reparametrisation (:class:`Positive` = ``sign·exp(u)``, :class:`Bounded` = sigmoid-scaled,
  :class:`Unbounded`). Engines: :func:`chain_model` (closed form (1.14)), :func:`paper2_model` ((2.26)),
  :func:`mode_sum_model` ((1.13), any lattice, one or several Gaussians), :func:`simulation_model` (the full
  solve (1.3)–(1.4) by :func:`jaxion.simulate_pass`, vmapped over speeds, gradients through diffrax with
  ``RecursiveCheckpointAdjoint(checkpoints=...)``).
- :func:`fit`: χ² in log space, minimised by an optax optimiser (default ``optax.lbfgs``, zoom line search)
  for all starts in one ``jax.vmap``, then a Levenberg–Marquardt polish; stops with a reason; returns the
  best start and all of them, with 1σ uncertainties from the Gauss–Newton curvature ``JᵀWJ`` in the
  physical parameters.
- :func:`hop_energy_gradients` and :func:`descend_drag`: differentiable screening of (1.23)/(1.27)–(1.28)
  in physical units (:mod:`jaxion.materials`).

Not here: a time-local (1.26) engine (wrap :func:`jaxion.simulate_local` in a :class:`Model` engine the same
way as :func:`simulation_model` if needed).

Why χ² in log space: losses fall over many decades with speed (``σ'^{-4}`` at high speed, ``e^{−Λ²κ}`` at
low speed for the confined chain). Absolute residuals would let the two or three slowest speeds decide
the fit; relative ones weight each point by its own scale. The residual is
``r_i = (ln Δ_model − ln Δ_i)/(δΔ_i/Δ_i)``, i.e. relative residuals over relative uncertainties (equal to
the linear χ² to first order in the noise), and stays well defined when the model is off by a factor 100
at a start. Without uncertainties every point gets a relative uncertainty of 1 and the reported 1σ is
rescaled by the reduced χ² (``χ²/(n − p)``).

Sign of ``Φ0``: every linear-response engine ((1.13), (1.14), (2.26)) is quadratic in ``Φ0`` — the sign of a
single Gaussian cannot be recovered from them. ``Positive(sign=±1)`` fixes the sign (that of the start) and
fits the magnitude; only the full simulation (the ion slows down differently over a barrier and a well)
or several Gaussians of different signs (their cross terms) carry the sign.

Memory of gradients through diffrax (measured with :func:`gradient_memory`: XLA's compiled
``memory_analysis().temp_size_in_bytes`` of ``jax.jit(jax.grad(loss))`` with respect to ``(Φ0, λ)``;
chain3d, 40 masses (state 246 floats), speed 20, fixed-step Tsit5, CPU, 2026-11-27)::

    steps      checkpoints=16     checkpoints=steps (store every step)
    250        0.47 MB            7.1 MB
    1000       0.47 MB            28.5 MB
    4000       0.47 MB            114 MB

With a fixed number of checkpoints the gradient's memory does not grow with the solve length (the
backward pass recomputes the forward segments, ``O(n log n)`` time); storing every step grows linearly.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float

from .lattice import Lattice, chain3d
from .potential import Gaussian, PairPotential, SumOfPairPotentials
from .system import System

__all__ = [
    "Target",
    "Positive",
    "Bounded",
    "Unbounded",
    "Model",
    "chain_model",
    "paper2_model",
    "mode_sum_model",
    "simulation_model",
    "FitResult",
    "fit",
    "residuals",
    "uncertainties",
    "gradient_memory",
    "hop_energy_gradients",
    "DragDescent",
    "descend_drag",
]

_TINY = 1e-300


def _check_array(name: str, value, *, positive: bool) -> np.ndarray:
    array = np.asarray(value, dtype=float)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty 1D array; got shape {array.shape}.")
    bad = ~np.isfinite(array)
    if positive:
        bad |= array <= 0
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        bound = "finite and > 0" if positive else "finite"
        raise ValueError(f"{name}[{i}] = {array[i]} is invalid: every entry must be {bound} (valid range (0, inf)).")
    return array


# ----------------------------------------------------------------------------- target


class Target(eqx.Module):
    """Measured (or synthetic) losses ``Δ_i`` at speeds ``σ'_i`` with optional 1σ ``uncertainties``
    (absolute, same units as the losses; dimensionless ħΩ and l per τ).

    Validation (``ValueError`` naming the parameter, the value and the valid range): speeds, losses and
    uncertainties must be finite and > 0 (the χ² is taken in log space), of equal length, and there must
    be at least one point.
    """

    speeds: Float[Array, " n"]
    losses: Float[Array, " n"]
    uncertainties: Float[Array, " n"] | None = None

    def __init__(self, speeds, losses, uncertainties=None):
        speeds = _check_array("speeds", speeds, positive=True)
        losses = _check_array("losses", losses, positive=True)
        if losses.shape != speeds.shape:
            raise ValueError(f"losses has {losses.size} entries but speeds has {speeds.size}; they must match.")
        if uncertainties is not None:
            uncertainties = _check_array("uncertainties", uncertainties, positive=True)
            if uncertainties.shape != speeds.shape:
                raise ValueError(
                    f"uncertainties has {uncertainties.size} entries but speeds has {speeds.size}; they must match."
                )
            uncertainties = jnp.asarray(uncertainties)
        self.speeds = jnp.asarray(speeds)
        self.losses = jnp.asarray(losses)
        self.uncertainties = uncertainties

    @property
    def log_sigma(self) -> Float[Array, " n"]:
        """Uncertainty of ``ln Δ``: ``δΔ/Δ`` (1 for every point when no uncertainties were given)."""
        if self.uncertainties is None:
            return jnp.ones_like(self.losses)
        return self.uncertainties / self.losses


# ----------------------------------------------------------------------------- reparametrisations


class Positive(eqx.Module):
    """``x = sign · exp(u)``: a parameter of fixed sign (``sign = −1`` for an attractive ``Φ0``)."""

    sign: Float[Array, ""] = 1.0

    def __init__(self, sign=1.0):
        if float(sign) not in (1.0, -1.0):
            raise ValueError(f"sign must be +1 or -1; got {sign!r}.")
        self.sign = jnp.asarray(float(sign))

    def to_physical(self, u):
        return self.sign * jnp.exp(u)

    def to_internal(self, name: str, x):
        x = np.asarray(x, float)
        if np.any(~np.isfinite(x)) or np.any(np.sign(x) != float(self.sign)):
            raise ValueError(
                f"start value of {name} = {x.tolist()} is outside its range {'(0, inf)' if float(self.sign) > 0 else '(-inf, 0)'}."
            )
        return np.log(np.abs(x))

    def scale(self, x):
        return jnp.abs(x)


class Bounded(eqx.Module):
    """``x = lower + (upper − lower) · sigmoid(u)``: a parameter inside ``(lower, upper)``."""

    lower: float
    upper: float

    def __check_init__(self):
        if not (np.isfinite(self.lower) and np.isfinite(self.upper) and self.upper > self.lower):
            raise ValueError(f"Bounded needs finite lower < upper; got lower={self.lower!r}, upper={self.upper!r}.")

    def to_physical(self, u):
        return self.lower + (self.upper - self.lower) * jax.nn.sigmoid(u)

    def to_internal(self, name: str, x):
        x = np.asarray(x, float)
        if np.any(~np.isfinite(x)) or np.any(x <= self.lower) or np.any(x >= self.upper):
            raise ValueError(f"start value of {name} = {x.tolist()} is outside its range ({self.lower}, {self.upper}).")
        f = (x - self.lower) / (self.upper - self.lower)
        return np.log(f) - np.log1p(-f)

    def scale(self, x):
        return jnp.full_like(x, self.upper - self.lower)


class Unbounded(eqx.Module):
    """``x = u``: a parameter of any sign and size (e.g. an impact parameter)."""

    def to_physical(self, u):
        return u

    def to_internal(self, name: str, x):
        x = np.asarray(x, float)
        if np.any(~np.isfinite(x)):
            raise ValueError(f"start value of {name} = {x.tolist()} must be finite (valid range (-inf, inf)).")
        return x

    def scale(self, x):
        return jnp.maximum(jnp.abs(x), 1.0)


Transform = Positive | Bounded | Unbounded


# ----------------------------------------------------------------------------- models


class Model(eqx.Module):
    """An engine and its parameters.

    Attributes:
        engine: ``engine(params: dict[str, Array], speeds) → Δ`` with physical parameters by name (a
            function or an equinox module, so that a model passes through ``eqx.filter_jit``).
        transforms, names: the fitted parameters and their reparametrisations, in order (build with
            ``Model(engine, free={name: transform}, fixed={...})``; ``model.free`` gives the dict back).
        fixed: values of the engine's other parameters (arrays: changing them does not recompile).
        name: a label (used in progress bars and plots).
    """

    engine: Callable
    transforms: tuple
    fixed: dict
    names: tuple[str, ...] = eqx.field(static=True)
    name: str = eqx.field(static=True)

    def __init__(self, engine: Callable, free: Mapping[str, Transform], fixed: Mapping, name: str = "model"):
        # Names and transforms are kept as tuples: a dict's order would not survive jit (pytrees sort keys).
        self.engine = engine
        self.names = tuple(free)
        self.transforms = tuple(free.values())
        self.fixed = dict(fixed)
        self.name = name

    def __check_init__(self):
        if not self.names:
            raise ValueError("a model needs at least one free parameter.")
        overlap = set(self.names) & set(self.fixed)
        if overlap:
            raise ValueError(f"parameters {sorted(overlap)} are both free and fixed.")
        for name, transform in zip(self.names, self.transforms):
            if not isinstance(transform, (Positive, Bounded, Unbounded)):
                raise ValueError(f"free[{name!r}] must be Positive, Bounded or Unbounded; got {transform!r}.")

    @property
    def free(self) -> dict:
        """Free parameters and their reparametrisations, in order."""
        return dict(zip(self.names, self.transforms))

    def physical(self, u: Float[Array, " p"]) -> dict:
        """Internal vector ``u`` → dict of all physical parameters (free and fixed)."""
        values = {name: t.to_physical(u[i]) for i, (name, t) in enumerate(zip(self.names, self.transforms))}
        return {**{k: jnp.asarray(v, float) for k, v in self.fixed.items()}, **values}

    def free_vector(self, params: Mapping) -> Float[Array, " p"]:
        return jnp.stack([jnp.asarray(params[name], float) for name in self.names])

    def with_free(self, x: Float[Array, " p"]) -> dict:
        """Physical free-parameter vector → dict of all parameters."""
        return {**{k: jnp.asarray(v, float) for k, v in self.fixed.items()}, **dict(zip(self.names, x))}

    def internal(self, starts: Mapping) -> np.ndarray:
        """Physical start values (scalars or equal-length arrays) → internal array ``(starts, p)``."""
        missing = [n for n in self.names if n not in starts]
        if missing:
            raise ValueError(f"start values are missing for free parameters {missing}.")
        columns = [np.atleast_1d(self.free[n].to_internal(n, starts[n])) for n in self.names]
        size = max(c.size for c in columns)
        if any(c.size not in (1, size) for c in columns):
            raise ValueError(f"start arrays must have equal lengths; got {[c.size for c in columns]}.")
        return np.stack([np.broadcast_to(c, (size,)) for c in columns], axis=-1)

    def predict(self, params: Mapping, speeds) -> Float[Array, " n"]:
        """``Δ`` at ``speeds`` for physical ``params`` (free; fixed ones are filled in)."""
        return self.engine({**{k: jnp.asarray(v, float) for k, v in self.fixed.items()},
                            **{k: jnp.asarray(v, float) for k, v in params.items()}}, jnp.asarray(speeds, float))


def _split(free, fixed, defaults: Mapping, allowed: Sequence[str]):
    free = dict(free)
    fixed = {**{k: v for k, v in defaults.items() if k not in free}, **dict(fixed or {})}
    for name, value in fixed.items():
        if not np.all(np.isfinite(np.asarray(value, float))):
            raise ValueError(f"fixed parameter {name} = {value!r} must be finite.")
    fixed = {k: jnp.asarray(v, float) for k, v in fixed.items()}  # traced: one compilation for all values
    unknown = sorted((set(free) | set(fixed)) - set(allowed))
    if unknown:
        raise ValueError(f"unknown parameters {unknown}; this engine takes {list(allowed)}.")
    return free, fixed


_CHAIN_PARAMETERS = ("amplitude", "width", "impact_parameter", "coupling_parallel", "coupling_perpendicular",
                     "confinement_parallel", "confinement_perpendicular")


def _chain_engine(p, speeds):
    from .theory.chain import chain_loss_closed_form

    return chain_loss_closed_form(
        speeds, p["amplitude"], p["width"], p["impact_parameter"], p["coupling_parallel"],
        p.get("coupling_perpendicular", p["coupling_parallel"]), p["confinement_parallel"],
        p.get("confinement_perpendicular", p["confinement_parallel"]),
    )


def chain_model(free: Mapping[str, Transform], fixed: Mapping | None = None) -> Model:
    """Paper 1, (1.14): the closed-form loss of the 3D-moving chain for one Gaussian.

    Parameters (free or fixed): ``amplitude`` (Φ0), ``width`` (λ), ``impact_parameter`` (s),
    ``coupling_parallel`` (k∥), ``coupling_perpendicular`` (k⊥, default k∥), ``confinement_parallel`` (κ∥),
    ``confinement_perpendicular`` (κ⊥, default κ∥). Defaults: paper 1's Fig. 2 (k = 99/4, κ = 1, s = 0).
    """
    defaults = {"impact_parameter": 0.0, "coupling_parallel": 99 / 4, "confinement_parallel": 1.0}
    free, fixed = _split(free, fixed, defaults, _CHAIN_PARAMETERS)
    return Model(_chain_engine, free, fixed, name="chain (1.14)")


def _paper2_engine(p, speeds):
    from .theory.paper2 import single_pass_loss_gaussian

    return single_pass_loss_gaussian(speeds, p["amplitude"], p["width"], p["omega_fast"])


def paper2_model(free: Mapping[str, Transform], fixed: Mapping | None = None) -> Model:
    """Paper 2, (2.26): single-pass loss on paper 2's chain. Parameters: ``amplitude``, ``width``,
    ``omega_fast`` (default 10; keep it ``Bounded`` above 1)."""
    free, fixed = _split(free, fixed, {"omega_fast": 10.0}, ("amplitude", "width", "omega_fast"))
    return Model(_paper2_engine, free, fixed, name="paper 2 (2.26)")


def _gaussian_names(count: int) -> list[tuple[str, str]]:
    if count == 1:
        return [("amplitude", "width")]
    return [(f"amplitude_{i}", f"width_{i}") for i in range(count)]


def _potential(p, count: int) -> PairPotential:
    terms = [Gaussian(p[a], p[w]) for a, w in _gaussian_names(count)]
    return terms[0] if count == 1 else SumOfPairPotentials(tuple(terms))


class _ModeSumEngine(eqx.Module):
    system: System
    modes: object
    impact: tuple = eqx.field(static=True)
    direction: tuple = eqx.field(static=True)
    gaussians: int = eqx.field(static=True)

    def __call__(self, p, speeds):
        from .theory.modes import mode_sum_loss

        system = eqx.tree_at(lambda s: s.potential, self.system, _potential(p, self.gaussians))
        return mode_sum_loss(system, speeds, self.impact, self.direction, modes=self.modes)


def mode_sum_model(
    lattice: Lattice,
    free: Mapping[str, Transform],
    fixed: Mapping | None = None,
    *,
    gaussians: int = 1,
    sites=None,
    impact=(0.0, 0.0, 0.0),
    direction=(0.0, 0.0, 1.0),
    quadrature=None,
) -> Model:
    """Paper 1, (1.13): the mode-sum loss for any lattice (e.g. ``simple_cubic``) and a sum of
    ``gaussians`` Gaussians on the interacting ``sites``. Parameters: ``amplitude``, ``width`` (one
    Gaussian) or ``amplitude_i``, ``width_i`` (several). The lattice is fixed: its modes are computed once
    on ``quadrature`` (default :func:`jaxion.theory.modes.zone_quadrature`); (1.13) has no derivative
    with respect to force constants at degenerate branches (``eigh``), so fit those with
    :func:`chain_model` or :func:`simulation_model`.
    """
    from .theory.modes import zone_modes

    names = [n for pair in _gaussian_names(int(gaussians)) for n in pair]
    free, fixed = _split(free, fixed, {}, names)
    missing = sorted(set(names) - set(free) - set(fixed))
    if missing:
        raise ValueError(f"parameters {missing} must be free or fixed.")
    placeholder = _potential({n: 1.0 for n in names}, int(gaussians))
    system = System(lattice, placeholder, sites)
    engine = _ModeSumEngine(system, zone_modes(lattice, quadrature), tuple(map(float, impact)),
                            tuple(map(float, direction)), int(gaussians))
    return Model(engine, free, fixed, name=f"mode sum (1.13), {lattice.name}")


class _SimulationEngine(eqx.Module):
    lattice: Lattice | None
    supercell: tuple = eqx.field(static=True)
    impact: tuple = eqx.field(static=True)
    gaussians: int = eqx.field(static=True)
    checkpoints: int = eqx.field(static=True)
    options: tuple = eqx.field(static=True)

    def __call__(self, p, speeds):
        from .dynamics.full import simulate_pass

        if self.lattice is None:
            lattice = chain3d(p["coupling_parallel"], None, p["confinement_parallel"])
        else:
            lattice = self.lattice
        system = System(lattice, _potential(p, self.gaussians), mass_ratio=p["mass_ratio"])
        adjoint = diffrax.RecursiveCheckpointAdjoint(checkpoints=self.checkpoints)
        options = dict(self.options)

        def one(v):
            return simulate_pass(system, v, self.supercell, impact=self.impact, adjoint=adjoint,
                                 check_echo=False, **options).loss

        return jax.vmap(one)(speeds)


def simulation_model(
    lattice: Lattice | str,
    supercell: Sequence[int],
    free: Mapping[str, Transform],
    fixed: Mapping | None = None,
    *,
    gaussians: int = 1,
    impact=(0.0, 0.0, 0.0),
    checkpoints: int = 16,
    dt: float | None = None,
    margin: float | None = None,
    **solver_options,
) -> Model:
    """The full solve (1.3)–(1.4): one :func:`jaxion.simulate_pass` per speed (vmapped) on a periodic
    ``supercell``, gradients through diffrax with ``RecursiveCheckpointAdjoint(checkpoints=checkpoints)``
    (memory bounded by ``checkpoints`` states whatever the solve length; see the module docstring).

    ``lattice``: a fixed :class:`jaxion.Lattice`, or ``"chain3d"`` to make ``coupling_parallel`` and
    ``confinement_parallel`` parameters too (default 99/4 and 1; the adaptive controller's first step
    then uses no lattice frequency). Other parameters: ``amplitude``, ``width`` (or ``amplitude_i``,
    ``width_i``), ``mass_ratio`` (default 1). Use ``margin`` (a fixed start/stop distance) when ``width`` is
    free, so that the pass geometry does not move with it. Passes longer than the supercell's echo
    time are not flagged here: choose the supercell with :func:`jaxion.supercell_echo_time`.
    """
    names = [n for pair in _gaussian_names(int(gaussians)) for n in pair] + ["mass_ratio"]
    defaults = {"mass_ratio": 1.0}
    if isinstance(lattice, str):
        if lattice != "chain3d":
            raise ValueError(f"lattice must be a Lattice or 'chain3d'; got {lattice!r}.")
        names += ["coupling_parallel", "confinement_parallel"]
        defaults.update(coupling_parallel=99 / 4, confinement_parallel=1.0)
        lattice = None
    free, fixed = _split(free, fixed, defaults, names)
    options = dict(solver_options)
    if lattice is not None and "max_frequency" not in options:
        # computed here, eagerly: inside jit the lattice's arrays are staged and cannot go to NumPy
        options["max_frequency"] = float(lattice.max_frequency(tuple(int(n) for n in supercell)))
    if dt is not None:
        options["dt"] = dt
    if margin is not None:
        options["margin"] = margin
    engine = _SimulationEngine(lattice, tuple(int(n) for n in supercell), tuple(map(float, impact)),
                               int(gaussians), int(checkpoints), tuple(sorted(options.items())))
    return Model(engine, free, fixed, name="full simulation (1.3)-(1.4)")


# ----------------------------------------------------------------------------- objective


def residuals(model: Model, target: Target, params: dict) -> Float[Array, " n"]:
    """``r_i = (ln Δ_model(σ'_i) − ln Δ_i)/(δΔ_i/Δ_i)`` (χ² = Σ r², see the module docstring)."""
    predicted = model.engine(params, target.speeds)
    return (jnp.log(jnp.maximum(jnp.abs(predicted), _TINY)) - jnp.log(target.losses)) / target.log_sigma


def _chi2_internal(model: Model, target: Target, u):
    r = residuals(model, target, model.physical(u))
    return jnp.sum(r**2)


@eqx.filter_jit
def _physical_jacobian(model: Model, target: Target, x):
    """Residuals and ``∂r/∂x`` in the physical free parameters (reverse mode: diffrax's checkpointed
    adjoint has no forward mode)."""
    r_of_x = lambda v: residuals(model, target, model.with_free(v))  # noqa: E731
    return r_of_x(x), jax.jacrev(r_of_x)(x)


def uncertainties(model: Model, target: Target, x: Float[Array, " p"]):
    """1σ uncertainties of the free parameters at physical values ``x`` from the Gauss–Newton curvature:
    ``cov = (Jᵀ J)⁻¹`` with ``J = ∂r/∂x`` (``r`` already divided by the uncertainties, i.e. ``JᵀWJ``).
    Without target uncertainties the covariance is scaled by the reduced χ² ``χ²/(n − p)``.

    Returns ``(sigma (p,), covariance (p, p), chi2)``.
    """
    r, jac = _physical_jacobian(model, target, jnp.asarray(x, float))
    covariance = jnp.linalg.pinv(jac.T @ jac)
    chi2 = jnp.sum(r**2)
    n, p = r.shape[0], x.shape[0]
    if target.uncertainties is None and n > p:
        covariance = covariance * chi2 / (n - p)
    return jnp.sqrt(jnp.diag(covariance)), covariance, chi2


def _check_sensitivity(model: Model, target: Target, x0) -> None:
    """Each free parameter must change the residuals at the start: a zero (or non-finite) column of
    ``∂r/∂x`` (scaled by the parameter's size) is a parameter the engine ignores."""
    jac = np.asarray(_physical_jacobian(model, target, jnp.asarray(x0))[1])
    scales = np.asarray([model.free[n].scale(jnp.asarray(v)) for n, v in zip(model.names, x0)])
    sensitivity = np.max(np.abs(jac) * scales[None, :], axis=0)
    for name, s, column in zip(model.names, sensitivity, jac.T):
        if not np.all(np.isfinite(column)):
            raise ValueError(
                f"the gradient of the model with respect to {name!r} is not finite at the start {dict(zip(model.names, map(float, x0)))}; "
                "this engine cannot be differentiated with respect to it (see the engine's docstring)."
            )
    top = float(np.max(sensitivity)) if np.all(np.isfinite(sensitivity)) else 0.0
    for name, s in zip(model.names, sensitivity):
        if not s > 1e-12 * max(top, 1e-300):
            raise ValueError(
                f"parameter {name!r} does not affect the model ({model.name}) at the start value "
                f"{float(x0[model.names.index(name)]):.6g}: ∂Δ/∂{name} = 0 at every speed (zero gradient path). "
                "Fix it, or start it away from a symmetry point."
            )


# ----------------------------------------------------------------------------- fitting


class FitResult(eqx.Module):
    """Outcome of :func:`fit`.

    Attributes:
        names: free parameters, in order.
        best: physical values of the best start, ``(p,)``.
        sigma: 1σ uncertainties of ``best`` (Gauss–Newton curvature, see :func:`uncertainties`).
        covariance: ``(p, p)``.
        chi2: χ² of the best start; ``all_chi2`` of every start, ``(starts,)``.
        all_params: physical values of every start's optimum, ``(starts, p)``.
        starts: physical start values, ``(starts, p)``.
        history: χ² per iteration and start, ``(iterations, starts)`` (optax phase, then the polish).
        reasons: why each start stopped ("gradient norm", "relative change", "max iterations",
            "non-finite").
        iterations: iterations of each start.
        best_index: index of the best start.
    """

    names: tuple[str, ...] = eqx.field(static=True)
    best: Float[Array, " p"]
    sigma: Float[Array, " p"]
    covariance: Float[Array, "p p"]
    chi2: Float[Array, ""]
    all_params: Float[Array, "starts p"]
    all_chi2: Float[Array, " starts"]
    starts: Float[Array, "starts p"]
    history: np.ndarray
    reasons: tuple[str, ...] = eqx.field(static=True)
    iterations: tuple[int, ...] = eqx.field(static=True)
    best_index: int = eqx.field(static=True)

    @property
    def params(self) -> dict[str, float]:
        """Best values by name."""
        return {n: float(v) for n, v in zip(self.names, self.best)}

    @property
    def errors(self) -> dict[str, float]:
        """1σ by name."""
        return {n: float(v) for n, v in zip(self.names, self.sigma)}


def _masked(active, new, old):
    return jax.tree_util.tree_map(
        lambda a, b: jnp.where(jnp.reshape(active, (-1,) + (1,) * (a.ndim - 1)), a, b), new, old
    )


def _iterate(step, carry, value, max_iterations, gtol, ftol, desc, progress, patience: int = 3):
    """Drive a vmapped ``step(carry) → (carry, value, gradient norm)`` until every start has stopped:
    gradient norm ``≤ gtol``, or a relative change of χ² ``≤ ftol`` on ``patience`` successive steps."""
    from tqdm.auto import tqdm

    starts = value.shape[0]
    active = np.isfinite(np.asarray(value))
    reasons = ["running" if a else "non-finite" for a in active]
    iterations = [0] * starts
    flat = np.zeros(starts, int)
    history = [np.asarray(value)]
    previous = np.asarray(value)
    with tqdm(total=max_iterations, desc=desc, disable=not progress, leave=False) as bar:
        for it in range(max_iterations):
            if not active.any():
                break
            new_carry, new_value, gnorm = step(carry)
            carry = _masked(jnp.asarray(active), new_carry, carry)
            new_value, gnorm = np.asarray(new_value), np.asarray(gnorm)
            value = np.where(active, new_value, previous)
            history.append(value)
            for i in np.flatnonzero(active):
                iterations[i] = it + 1
                if not np.isfinite(value[i]):
                    reasons[i], active[i] = "non-finite", False
                elif gnorm[i] <= gtol:
                    reasons[i], active[i] = "gradient norm", False
                else:
                    small = abs(previous[i] - value[i]) <= ftol * max(abs(value[i]), 1e-300)
                    flat[i] = flat[i] + 1 if small else 0
                    if flat[i] >= patience:
                        reasons[i], active[i] = "relative change", False
            previous = value
            bar.update(1)
            bar.set_postfix(chi2=float(np.nanmin(value)), running=int(active.sum()))
    reasons = ["max iterations" if r == "running" else r for r in reasons]
    return carry, np.stack(history), reasons, iterations


def _optax_one(model, target, optimizer, carry):
    f = lambda u: _chi2_internal(model, target, u)  # noqa: E731
    u, state = carry
    try:  # line-search optimisers (lbfgs) keep the value and gradient of the last step
        value, grad = optax.value_and_grad_from_state(f)(u, state=state)
    except ValueError:
        value, grad = jax.value_and_grad(f)(u)
    updates, state = optimizer.update(grad, state, u, value=value, grad=grad, value_fn=f)
    u = optax.apply_updates(u, updates)
    new_value, new_grad = jax.value_and_grad(f)(u)
    return (u, state), new_value, jnp.linalg.norm(new_grad)


# Module-level compiled steps (model, target and optimizer are arguments): repeated fits of the same
# kind of model reuse the compilation.
@eqx.filter_jit
def _optax_step(model, target, optimizer, carry):
    return jax.vmap(lambda c: _optax_one(model, target, optimizer, c))(carry)


@eqx.filter_jit
def _optax_init(optimizer, u):
    return jax.vmap(optimizer.init)(u)


@eqx.filter_jit
def _chi2_batch(model, target, u):
    return jax.vmap(lambda v: _chi2_internal(model, target, v))(u)


def _lm_one(model, target, carry):
    """One Levenberg–Marquardt step on the internal parameters: ``(JᵀJ + μ diag JᵀJ) δ = −Jᵀr``;
    μ falls (÷3) after an accepted step and rises (×4) after a rejected one."""
    r_of_u = lambda u: residuals(model, target, model.physical(u))  # noqa: E731
    u, mu = carry
    r = r_of_u(u)
    jac = jax.jacrev(r_of_u)(u)
    jtj, g = jac.T @ jac, jac.T @ r
    delta = -jnp.linalg.solve(jtj + mu * jnp.diag(jnp.diag(jtj) + 1e-300), g)
    trial = u + delta
    old, new = jnp.sum(r**2), jnp.sum(r_of_u(trial) ** 2)
    better = jnp.isfinite(new) & (new <= old)
    u = jnp.where(better, trial, u)
    mu = jnp.where(better, mu / 3.0, mu * 4.0)
    # the gradient norm is that of the step's starting point (no second Jacobian per step)
    return (u, mu), jnp.where(better, new, old), 2 * jnp.linalg.norm(g)


@eqx.filter_jit
def _lm_step(model, target, carry):
    return jax.vmap(lambda c: _lm_one(model, target, c))(carry)


def _optax_phase(model, target, u0, optimizer, max_iterations, gtol, ftol, progress):
    carry = (u0, _optax_init(optimizer, u0))
    value = _chi2_batch(model, target, u0)
    (u, _), history, reasons, iterations = _iterate(
        lambda c: _optax_step(model, target, optimizer, c), carry, value, max_iterations, gtol, ftol,
        f"fit {model.name}", progress,
    )
    return u, history, reasons, iterations


def _lm_phase(model, target, u0, steps, gtol, ftol, progress):
    carry = (u0, jnp.full(u0.shape[0], 1e-3))
    value = _chi2_batch(model, target, u0)
    (u, _), history, reasons, iterations = _iterate(
        lambda c: _lm_step(model, target, c), carry, value, steps, gtol, ftol, f"polish {model.name}", progress,
        patience=8,
    )
    return u, history, reasons, iterations


_DEFAULT_OPTIMIZER = optax.adam(0.05)


def fit(
    model: Model,
    target: Target,
    starts: Mapping[str, object],
    *,
    optimizer: optax.GradientTransformation | None = None,
    max_iterations: int = 200,
    polish_steps: int = 30,
    gtol: float = 1e-9,
    ftol: float = 1e-12,
    progress: bool = False,
    check_sensitivity: bool = True,
) -> FitResult:
    """Fit ``model`` to ``target`` from several starts at once.

    Minimises χ² = Σ_i r_i², ``r_i = (ln Δ_model − ln Δ_i)/(δΔ_i/Δ_i)`` (log space, see the module
    docstring) over the internal (reparametrised) coordinates: all starts advance together in one
    ``jax.jit(jax.vmap(step))``; first ``optimizer`` (default ``optax.lbfgs()`` with its zoom line
    search; any optax transformation, e.g. ``optax.adam(0.05)``), then up to ``polish_steps``
    Levenberg–Marquardt steps (0 to skip). A start stops when the gradient norm (internal coordinates)
    falls below ``gtol``, when χ² changes by less than ``ftol`` relative, or after ``max_iterations``;
    ``FitResult.reasons`` says which. The best start (lowest χ²) gets 1σ uncertainties from the
    Gauss–Newton curvature in the physical parameters (:func:`uncertainties`).

    Args:
        starts: physical start values by free-parameter name: scalars or arrays of the number of starts
            (each start must lie inside its parameter's range).
        progress: tqdm progress bars (one per phase).
        check_sensitivity: raise ``ValueError`` if a free parameter does not change the model at the
            first start (zero gradient path).
    """
    if not isinstance(target, Target):
        raise ValueError(f"target must be a Target; got {type(target).__name__}.")
    u0 = jnp.asarray(model.internal(starts))
    x0 = jax.vmap(lambda u: model.free_vector(model.physical(u)))(u0)
    if check_sensitivity:
        _check_sensitivity(model, target, np.asarray(x0[0]))
    optimizer = _DEFAULT_OPTIMIZER if optimizer is None else optimizer
    u, history, reasons, iterations = _optax_phase(model, target, u0, optimizer, max_iterations, gtol, ftol, progress)
    if polish_steps > 0:
        u, h2, reasons2, it2 = _lm_phase(model, target, u, polish_steps, gtol, ftol, progress)
        history = np.concatenate([history, h2[1:]])
        reasons = [r2 if r2 != "max iterations" else r1 for r1, r2 in zip(reasons, reasons2)]
        iterations = [a + b for a, b in zip(iterations, it2)]
    chi2 = _chi2_batch(model, target, u)
    chi2 = jnp.where(jnp.isfinite(chi2), chi2, jnp.inf)
    x = jax.vmap(lambda v: model.free_vector(model.physical(v)))(u)
    best = int(jnp.argmin(chi2))
    sigma, covariance, best_chi2 = uncertainties(model, target, x[best])
    return FitResult(
        names=model.names, best=x[best], sigma=sigma, covariance=covariance, chi2=best_chi2, all_params=x,
        all_chi2=chi2, starts=x0, history=history, reasons=tuple(reasons), iterations=tuple(iterations),
        best_index=best,
    )


# ----------------------------------------------------------------------------- memory of gradients


def gradient_memory(
    system: System,
    supercell: Sequence[int],
    speed: float,
    steps: int,
    checkpoints: int | None,
    *,
    solver: str = "tsit5",
) -> dict:
    """Compiled memory of ``jax.grad`` of one pass's loss with respect to ``(Φ0, λ)`` for a solve of
    ``steps`` fixed steps (``dt = path/(speed·steps)``), with ``RecursiveCheckpointAdjoint(checkpoints)``
    (``None``: store every step, ``checkpoints = steps``). Returns XLA's ``memory_analysis()`` sizes in
    bytes (``temp`` is the working memory of the gradient: the checkpoints and the solver stages).
    """
    from .dynamics.full import simulate_pass
    from .system import pass_geometry

    path = float(pass_geometry(system, margin=7.0).path_length)
    omega_max = float(system.lattice.max_frequency(tuple(supercell)))
    dt = path / (speed * steps)
    adjoint = diffrax.RecursiveCheckpointAdjoint(checkpoints=steps if checkpoints is None else int(checkpoints))

    def loss(theta):
        s = eqx.tree_at(lambda q: q.potential, system, Gaussian(theta[0], theta[1]))
        return simulate_pass(s, speed, supercell, dt=dt, margin=7.0, solver=solver, adjoint=adjoint,
                             max_steps=int(steps * 1.5) + 10, check_echo=False, time_limit_factor=1.2,
                             max_frequency=omega_max).loss

    compiled = jax.jit(jax.grad(loss)).lower(jnp.array([0.01, 1.0])).compile()
    analysis = compiled.memory_analysis()
    return {
        "temp": int(analysis.temp_size_in_bytes),
        "argument": int(analysis.argument_size_in_bytes),
        "output": int(analysis.output_size_in_bytes),
        "generated_code": int(analysis.generated_code_size_in_bytes),
    }


# ----------------------------------------------------------------------------- screening


def hop_energy_gradients(material, landscape, start, end, speed, **kwargs) -> dict:
    """Energy per hop (eV, (1.23) with (1.27)–(1.28), :func:`jaxion.materials.energy_per_hop`) and its
    gradients with respect to the elastic constants (per GPa, Voigt 6×6), the density (per kg/m³) and
    the landscape's amplitudes (per eV) and widths (per Å)."""
    from .materials import energy_per_hop

    def w(material, landscape):
        return energy_per_hop(material, landscape, start, end, speed, **kwargs)

    value, (g_mat, g_land) = jax.value_and_grad(w, argnums=(0, 1))(material, landscape)
    return {
        "energy": value,
        "elastic_constants": g_mat.elastic_constants,
        "density": g_mat.density,
        "amplitudes": g_land.amplitudes,
        "widths": g_land.widths,
    }


class DragDescent(eqx.Module):
    """Outcome of :func:`descend_drag`: the cubic constants ``(C11, C12, C44)`` (GPa) along the descent,
    the energy per hop (eV) at each step, and the final material."""

    constants: Float[Array, "steps 3"]
    energies: Float[Array, " steps"]
    material: object


def descend_drag(
    c11: float,
    c12: float,
    c44: float,
    density: float,
    landscape,
    start,
    end,
    speed,
    *,
    bounds: tuple[float, float] = (20.0, 400.0),
    steps: int = 60,
    learning_rate: float = 0.1,
    points: int = 200,
) -> DragDescent:
    """Move a cubic material toward a lower energy per hop (lower drag, (1.23)/(1.27)–(1.28)) with
    ``optax.adam``, under two constraints: the density is fixed and every stiffness stays inside
    ``bounds`` (GPa), by the sigmoid reparametrisation ``C = lo + (hi − lo)·sigmoid(u)`` applied to
    ``C11``, ``C44`` and the shear ``C' = (C11 − C12)/2`` (so ``C11 > C12`` and ``C44 > 0`` hold throughout;
    with ``C12 = C11 − 2C'`` the bulk modulus ``(C11 + 2C12)/3`` is kept positive by a penalty).
    """
    from .materials import Material, cubic_voigt, energy_per_hop

    box = Bounded(*bounds)
    density = jnp.asarray(density, float)

    def constants(u):
        c11_, cp, c44_ = (box.to_physical(x) for x in u)
        return jnp.stack([c11_, c11_ - 2 * cp, c44_])

    def objective(u):
        c = constants(u)
        material = Material(cubic_voigt(*c), density)
        bulk = (c[0] + 2 * c[1]) / 3
        penalty = jnp.where(bulk < 1.0, (1.0 - bulk) ** 2, 0.0)
        return energy_per_hop(material, landscape, start, end, speed, points=points) + penalty

    u = jnp.asarray([box.to_internal("C11", c11), box.to_internal("C'", (c11 - c12) / 2), box.to_internal("C44", c44)])
    optimizer = optax.adam(learning_rate)
    state = optimizer.init(u)

    @jax.jit
    def step(u, state):
        value, grad = jax.value_and_grad(objective)(u)
        updates, state = optimizer.update(grad, state, u)
        return optax.apply_updates(u, updates), state, value

    history, energies = [], []
    for _ in range(steps):
        history.append(constants(u))
        u, state, value = step(u, state)
        energies.append(value)
    history.append(constants(u))
    energies.append(objective(u))
    final = constants(u)
    return DragDescent(jnp.stack(history), jnp.stack(energies), Material(cubic_voigt(*final), density))
