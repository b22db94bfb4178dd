"""Models: an engine ``(physical parameters, speeds) → Δ`` and its free parameters (see :mod:`jaxion.fit`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeAlias

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ..dynamics.full import simulate_pass
from ..lattice import Lattice, ZoneModes, chain3d
from ..potential import AbstractPairPotential, Gaussian, SumOfPairPotentials
from ..system import System, pass_geometry
from ..theory.chain import chain_loss_closed_form
from ..theory.modes import mode_sum_loss, zone_modes
from ..theory.paper2 import single_pass_loss_gaussian
from ._problem import AbstractTransform

__all__ = ["Model", "chain_model", "paper2_model", "mode_sum_model", "simulation_model", "gradient_memory"]

# The free parameters: name → its AbstractTransform. Any value is accepted here so that a wrong one reaches
# `Model.__check_init__`, whose ValueError names the parameter.
FreeParameters: TypeAlias = Mapping[str, Any]


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
    transforms: tuple[AbstractTransform, ...]
    fixed: dict
    names: tuple[str, ...] = eqx.field(static=True)
    name: str = eqx.field(static=True)

    def __init__(self, engine: Callable, free: FreeParameters, fixed: Mapping, name: str = "model"):
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
            if not isinstance(transform, AbstractTransform):
                raise ValueError(
                    f"free[{name!r}] must be an AbstractTransform (Positive, Bounded, Unbounded or a subclass of "
                    f"your own); got {transform!r}."
                )

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
    return chain_loss_closed_form(
        speeds, p["amplitude"], p["width"], p["impact_parameter"], p["coupling_parallel"],
        p.get("coupling_perpendicular", p["coupling_parallel"]), p["confinement_parallel"],
        p.get("confinement_perpendicular", p["confinement_parallel"]),
    )


def chain_model(free: FreeParameters, fixed: Mapping | None = None) -> Model:
    """Paper 1, (1.14): the closed-form loss of the 3D-moving chain for one Gaussian.

    Parameters (free or fixed): ``amplitude`` (Φ0), ``width`` (λ), ``impact_parameter`` (s),
    ``coupling_parallel`` (k∥), ``coupling_perpendicular`` (k⊥, default k∥), ``confinement_parallel`` (κ∥),
    ``confinement_perpendicular`` (κ⊥, default κ∥). Defaults: paper 1's Fig. 2 (k = 99/4, κ = 1, s = 0).
    """
    defaults = {"impact_parameter": 0.0, "coupling_parallel": 99 / 4, "confinement_parallel": 1.0}
    free, fixed = _split(free, fixed, defaults, _CHAIN_PARAMETERS)
    return Model(_chain_engine, free, fixed, name="chain (1.14)")


def _paper2_engine(p, speeds):
    return single_pass_loss_gaussian(speeds, p["amplitude"], p["width"], p["omega_fast"])


def paper2_model(free: FreeParameters, fixed: Mapping | None = None) -> Model:
    """Paper 2, (2.26): single-pass loss on paper 2's chain. Parameters: ``amplitude``, ``width``,
    ``omega_fast`` (default 10; keep it ``Bounded`` above 1)."""
    free, fixed = _split(free, fixed, {"omega_fast": 10.0}, ("amplitude", "width", "omega_fast"))
    return Model(_paper2_engine, free, fixed, name="paper 2 (2.26)")


def _gaussian_names(count: int) -> list[tuple[str, str]]:
    if count == 1:
        return [("amplitude", "width")]
    return [(f"amplitude_{i}", f"width_{i}") for i in range(count)]


def _potential(p, count: int) -> AbstractPairPotential:
    terms = [Gaussian(p[a], p[w]) for a, w in _gaussian_names(count)]
    return terms[0] if count == 1 else SumOfPairPotentials(tuple(terms))


class _ModeSumEngine(eqx.Module):
    system: System
    modes: ZoneModes
    impact: tuple = eqx.field(static=True)
    direction: tuple = eqx.field(static=True)
    gaussians: int = eqx.field(static=True)

    def __call__(self, p, speeds):
        system = self.system.with_potential(_potential(p, self.gaussians))
        return mode_sum_loss(system, speeds, self.impact, self.direction, modes=self.modes)


def mode_sum_model(
    lattice: Lattice,
    free: FreeParameters,
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
    free: FreeParameters,
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
    fixed_lattice = None if isinstance(lattice, str) else lattice  # None: the chain's constants are parameters
    if isinstance(lattice, str):
        if lattice != "chain3d":
            raise ValueError(f"lattice must be a Lattice or 'chain3d'; got {lattice!r}.")
        names += ["coupling_parallel", "confinement_parallel"]
        defaults.update(coupling_parallel=99 / 4, confinement_parallel=1.0)
    free, fixed = _split(free, fixed, defaults, names)
    options = dict(solver_options)
    if fixed_lattice is not None and "max_frequency" not in options:
        # computed here, eagerly: inside jit the lattice's arrays are staged and cannot go to NumPy
        options["max_frequency"] = float(fixed_lattice.max_frequency(tuple(int(n) for n in supercell)))
    if dt is not None:
        options["dt"] = dt
    if margin is not None:
        options["margin"] = margin
    engine = _SimulationEngine(fixed_lattice, tuple(int(n) for n in supercell), tuple(map(float, impact)),
                               int(gaussians), int(checkpoints), tuple(sorted(options.items())))
    return Model(engine, free, fixed, name="full simulation (1.3)-(1.4)")


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
    path = float(pass_geometry(system, margin=7.0).path_length)
    omega_max = float(system.lattice.max_frequency(tuple(supercell)))
    dt = path / (speed * steps)
    adjoint = diffrax.RecursiveCheckpointAdjoint(checkpoints=steps if checkpoints is None else int(checkpoints))

    def loss(theta):
        s = system.with_potential(Gaussian(theta[0], theta[1]))
        return simulate_pass(s, speed, supercell, dt=dt, margin=7.0, solver=solver, adjoint=adjoint,
                             max_steps=int(steps * 1.5) + 10, check_echo=False, time_limit_factor=1.2,
                             max_frequency=omega_max).loss

    compiled = jax.jit(jax.grad(loss)).lower(jnp.array([0.01, 1.0])).compile()
    analysis = compiled.memory_analysis()
    assert analysis is not None  # XLA's CPU and GPU backends report it
    return {
        "temp": int(analysis.temp_size_in_bytes),
        "argument": int(analysis.argument_size_in_bytes),
        "output": int(analysis.output_size_in_bytes),
        "generated_code": int(analysis.generated_code_size_in_bytes),
    }
