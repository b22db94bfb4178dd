"""Differentiable screening of materials and crystals for low drag (paper 1, Sec. IV).

An ion hopping through a framework loses energy to its phonons. Paper 1 gives the drag force
``F = −H M_phys H Ṙ`` (1.27) with ``H = ∇∇U`` the Hessian of the ion's landscape ``U`` and ``M_phys`` the
recoil matrix of the material (1.28), built from its elastic constants and density by the Christoffel
equation (:mod:`jaxion.materials`). The energy lost on one straight hop at constant speed ``v`` is
``W = v ∫ dz d̂·H M_phys H·d̂`` (1.23). Everything is differentiable, so a material can be ranked and moved
by gradients.

Materials in physical units (elastic constants in GPa, density in kg/m³, lengths (positions, widths) in Å,
energies (amplitudes, ``W``) in eV, speeds in m/s; gradients are per those units, e.g. eV/GPa):

- :func:`hop_energy_gradients`: ``W`` and its gradients with respect to the elastic constants, the
  density and the landscape's amplitudes and widths.
- :func:`descend_drag` (returns a :class:`DragDescent`): optax descent of a cubic material toward a lower
  ``W`` with the density fixed and the stiffnesses kept inside bounds (by :class:`jaxion.fit.Bounded`).

Crystals — a :class:`jaxion.System` on any :class:`jaxion.Lattice`, a basis included — in the library's
dimensionless units (energy ``ħΩ``, length ``l``, time ``2π/Ω``, masses in the reference mass; build pair
potentials from eV and Å with e.g. :meth:`jaxion.BornMayer.from_ev_angstrom`):

- :func:`crystal_loss`: the mode-sum loss (1.13) at a speed;
- :func:`crystal_drag_tensor`: ``H M H`` (1.23)/(1.27) with ``M`` = :func:`jaxion.theory.recoil_matrix`;
- :func:`crystal_hop_energy`: ``W = σ' ∫ dz d̂·H M H·d̂`` (1.23) along a hop from ``start`` to ``end``;
- :func:`strained`: the crystal under a homogeneous strain;
- :func:`stack_systems`, :func:`rank_by_drag`: several crystals of one structure ranked by a drag measure in
  one vmapped call;
- :func:`descend_crystal_drag`: optax descent of one crystal's force constants (and masses) to lower drag.

All are differentiable with ``jax.grad`` with respect to the force constants (``lattice.pair_force_constants``),
the masses, a strain and the pair potentials' parameters; the mode sum stays differentiable at degenerate
branches (:func:`jaxion.mode_sum_loss`, Daleckii–Krein derivative).

Strain model: a displacement gradient ``ε`` maps the cell to ``(1 + ε) A`` (``A`` = ``primitive_vectors``,
columns); every Cartesian position and pair vector follows (fractional coordinates are fixed) while the force
constants are held fixed — a purely geometric strain (no anharmonic change of the springs). In reduced
wavevectors the spectrum ``D(q)`` is then unchanged, so the mode sum feels the strain through the ion's
geometry (impact parameters, site spacings along the path), and the recoil matrix through the longer or shorter
pair vectors and the cell volume (the sound velocities scale with the cell).
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float, Int

from ._validation import RealScalar, check_finite, check_positive, is_concrete
from .fit import Bounded
from .materials import Material, cubic_voigt, energy_per_hop
from .system import System
from .theory.low_speed import _low_speed_core, recoil_matrix
from .theory.modes import mode_sum_loss

__all__ = [
    "hop_energy_gradients",
    "DragDescent",
    "descend_drag",
    "strained",
    "crystal_loss",
    "crystal_drag_tensor",
    "crystal_hop_energy",
    "stack_systems",
    "DragRanking",
    "rank_by_drag",
    "CrystalDescent",
    "descend_crystal_drag",
]


def _adam_descent(objective: Callable, u, steps: int, learning_rate: float):
    """``steps`` of ``optax.adam`` on ``objective(u)`` (a pytree ``u`` of internal, unbounded parameters): returns
    the ``steps + 1`` iterates and the objective at each."""
    if int(steps) < 1:
        raise ValueError(f"steps must be a positive integer; got {steps!r}.")
    check_positive("learning_rate", learning_rate)
    optimizer = optax.adam(learning_rate)
    state = optimizer.init(u)

    @jax.jit
    def step(u, state):
        value, grad = jax.value_and_grad(objective)(u)
        updates, state = optimizer.update(grad, state, u)
        return optax.apply_updates(u, updates), state, value

    history, values = [], []
    for _ in range(int(steps)):
        history.append(u)
        u, state, value = step(u, state)
        values.append(value)
    history.append(u)
    values.append(objective(u))
    return history, values


def hop_energy_gradients(material, landscape, start, end, speed, **kwargs) -> dict:
    """Energy per hop (eV, (1.23) with (1.27)–(1.28), :func:`jaxion.materials.energy_per_hop`) and its
    gradients with respect to the elastic constants (per GPa, Voigt 6×6), the density (per kg/m³) and
    the landscape's amplitudes (per eV) and widths (per Å)."""

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
    material: Material


def descend_drag(
    c11: float,
    c12: float,
    c44: float,
    density: RealScalar,
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
    iterates, energies = _adam_descent(objective, u, steps, learning_rate)
    history = [constants(x) for x in iterates]
    return DragDescent(jnp.stack(history), jnp.stack(energies), Material(cubic_voigt(*history[-1]), density))


# ----------------------------------------------------------------------------- crystals (dimensionless units)


def _check_system(system) -> None:
    if not isinstance(system, System):
        raise ValueError(f"system must be a jaxion System; got {type(system).__name__}.")


def strained(system: System, strain: Float[Array, "3 3"] | np.ndarray | None) -> System:
    """The system with its crystal under the homogeneous strain ``strain`` = ``ε`` (a 3×3 displacement gradient;
    a symmetric ``ε`` is a pure strain): cell ``A → (1 + ε) A``, fractional positions and force constants fixed
    (module notes). ``None`` returns ``system`` unchanged."""
    _check_system(system)
    if strain is None:
        return system
    strain = jnp.asarray(strain, float)
    if strain.shape != (3, 3):
        raise ValueError(f"strain must be a 3×3 displacement gradient; got shape {strain.shape}.")
    check_finite("strain", strain)
    if is_concrete(strain) and np.linalg.det(np.eye(3) + np.asarray(strain)) <= 0:
        raise ValueError("strain must keep the cell's orientation and volume positive: det(1 + strain) must be > 0.")
    cell = system.lattice.primitive_vectors
    return eqx.tree_at(lambda s: s.lattice.primitive_vectors, system, (jnp.eye(3) + strain) @ cell)


def crystal_loss(
    system: System,
    speed,
    impact=(0.0, 0.0, 0.0),
    direction=(0.0, 0.0, 1.0),
    *,
    strain=None,
    quadrature=None,
):
    """The mode-sum loss (1.13) of a straight pass at ``speed`` through the (optionally ``strain``-ed) crystal:
    :func:`jaxion.mode_sum_loss` from the lattice's ``D(q)`` on ``quadrature`` (default
    :func:`jaxion.zone_quadrature`), so that ``jax.grad`` reaches the force constants, masses, strain and
    potentials — also on zone grids with degenerate branches (``q = 0``, zone boundary)."""
    return mode_sum_loss(strained(system, strain), speed, impact, direction, quadrature=quadrature)


def _recoil(system: System, recoil):
    return recoil_matrix(system.lattice) if recoil is None else jnp.asarray(recoil, float)


def crystal_drag_tensor(system: System, position, *, strain=None, recoil=None) -> Float[Array, "3 3"]:
    """The drag tensor ``H M H`` at the ion ``position`` (paper 1, (1.23)/(1.27); drag force ``−(HMH)·σ'``), with
    ``H`` the Hessian of the static landscape ``Φ(0, σ)`` of the system's sites and ``M`` the recoil matrix
    :func:`jaxion.theory.recoil_matrix` of the (strained) lattice, or ``recoil``. Dimensionless units."""
    system = strained(system, strain)
    position = jnp.asarray(position, float)
    check_finite("position", position)
    if position.shape != (3,):
        raise ValueError(f"position must be a 3-vector; got shape {position.shape}.")
    hessian = jax.hessian(system.landscape)(position)
    return hessian @ _recoil(system, recoil) @ hessian


def crystal_hop_energy(
    system: System, start, end, speed: RealScalar, *, strain=None, recoil=None, points: int = 64
) -> Float[Array, ""]:
    """Energy lost on a straight hop from ``start`` to ``end`` at constant ``speed`` (paper 1, (1.23)):
    ``W = σ' ∫_0^L dz d̂·H M H·d̂`` (:func:`crystal_drag_tensor`'s integrand, ``points`` Gauss–Legendre nodes;
    the low-speed, local-time limit). Dimensionless units (energy ``ħΩ``)."""
    system = strained(system, strain)
    check_positive("speed", speed)
    start, end = jnp.asarray(start, float), jnp.asarray(end, float)
    check_finite("start", start)
    check_finite("end", end)
    if start.shape != (3,) or end.shape != (3,):
        raise ValueError(f"start and end must be 3-vectors; got shapes {start.shape}, {end.shape}.")
    length = jnp.linalg.norm(end - start)
    check_positive("|end - start| (hop length)", length)
    if int(points) < 2:
        raise ValueError(f"points must be an integer >= 2; got {points!r}.")
    x, w = np.polynomial.legendre.leggauss(int(points))
    nodes = 0.5 * (jnp.asarray(x) + 1.0) * length
    weights = 0.5 * jnp.asarray(w) * length
    return jnp.asarray(speed, float) * _low_speed_core(system, start, (end - start) / length, nodes, weights, _recoil(system, recoil))


def stack_systems(systems) -> System:
    """Several systems of the same structure (same lattice pairs, sites, potential types; different force
    constants, masses, cells or potential parameters) as one :class:`jaxion.System` whose array leaves carry a
    leading batch axis, for ``eqx.filter_vmap`` (:func:`rank_by_drag`)."""
    systems = list(systems)
    if not systems:
        raise ValueError("systems must list at least one jaxion System.")
    for s in systems:
        _check_system(s)
    structure = jax.tree_util.tree_structure(systems[0])  # static fields (pairs, sites, species, patterns) included
    shapes = [np.shape(x) for x in jax.tree_util.tree_leaves(systems[0])]
    for i, s in enumerate(systems[1:], 1):
        if jax.tree_util.tree_structure(s) != structure or [np.shape(x) for x in jax.tree_util.tree_leaves(s)] != shapes:
            raise ValueError(
                f"systems[{i}] does not have the structure of systems[0] (lattice pairs and their zero pattern, basis, "
                "sites, potential types and shapes must agree); only the numbers may differ."
            )
    return jax.tree_util.tree_map(lambda *x: jnp.stack([jnp.asarray(v) for v in x]), *systems)


class DragRanking(eqx.Module):
    """Outcome of :func:`rank_by_drag`: the drag measure of every crystal (in the order given) and the indices
    that sort them from the lowest drag up."""

    drags: Float[Array, " crystals"]
    order: Int[Array, " crystals"]


def rank_by_drag(systems, drag: Callable[[System], Array]) -> DragRanking:
    """Evaluate ``drag(system)`` (a scalar, e.g. ``lambda s: crystal_hop_energy(s, start, end, v)`` or
    ``lambda s: crystal_loss(s, 0.3, quadrature=q)``) for several crystals of one structure in one
    ``eqx.filter_vmap``-ped call, and rank them (lowest drag first). ``systems``: a list of systems, or systems
    already stacked by :func:`stack_systems`."""
    if not callable(drag):
        raise ValueError(f"drag must be a callable system -> scalar; got {type(drag).__name__}.")
    stacked = stack_systems(systems) if not isinstance(systems, System) else systems
    drags = eqx.filter_vmap(drag)(stacked)
    drags = jnp.asarray(drags, float)
    if drags.ndim != 1:
        raise ValueError(f"drag must return one scalar per system; got shape {drags.shape[1:]} per system.")
    return DragRanking(drags, jnp.argsort(drags))


class CrystalDescent(eqx.Module):
    """Outcome of :func:`descend_crystal_drag`: the factors on each pair's force-constant block and on each atom's
    mass along the descent, the drag at each step, and the final system."""

    stiffness_factors: Float[Array, "steps pairs"]
    mass_factors: Float[Array, "steps atoms"]
    drags: Float[Array, " steps"]
    system: System


def descend_crystal_drag(
    system: System,
    drag: Callable[[System], Array],
    *,
    stiffness_bounds: tuple[float, float] = (0.5, 2.0),
    mass_bounds: tuple[float, float] | None = None,
    steps: int = 30,
    learning_rate: float = 0.1,
) -> CrystalDescent:
    """Move one crystal toward a lower ``drag(system)`` (e.g. :func:`crystal_hop_energy` or :func:`crystal_loss`
    at a low speed) with ``optax.adam``: each pair block ``Φ_p`` is scaled by a factor ``s_p`` and, when
    ``mass_bounds`` is given, each mass ``m_s`` by a factor, every factor kept inside its bounds by the sigmoid
    reparametrisation of :class:`jaxion.fit.Bounded` (the design of :func:`descend_drag`). Scaling a block keeps
    its symmetry, and the acoustic sum rule holds throughout (the on-site blocks follow the pairs). Start: all
    factors 1 (which must lie inside the bounds)."""
    _check_system(system)
    if not callable(drag):
        raise ValueError(f"drag must be a callable system -> scalar; got {type(drag).__name__}.")
    stiffness_box = Bounded(*stiffness_bounds)
    mass_box = None if mass_bounds is None else Bounded(*mass_bounds)
    lattice = system.lattice
    u = {"stiffness": jnp.asarray(stiffness_box.to_internal("stiffness factor", np.ones(len(lattice.pair_offsets))))}
    if mass_box is not None:
        u["mass"] = jnp.asarray(mass_box.to_internal("mass factor", np.ones(lattice.atoms)))

    def factors(u):
        stiffness = stiffness_box.to_physical(u["stiffness"])
        mass = jnp.ones(lattice.atoms) if mass_box is None else mass_box.to_physical(u["mass"])
        return stiffness, mass

    def build(u):
        stiffness, mass = factors(u)
        return eqx.tree_at(
            lambda s: (s.lattice.pair_force_constants, s.lattice.masses),
            system,
            (lattice.pair_force_constants * stiffness[:, None, None], lattice.masses * mass),
        )

    iterates, drags = _adam_descent(lambda u: drag(build(u)), u, steps, learning_rate)
    history = [factors(x) for x in iterates]
    return CrystalDescent(
        jnp.stack([h[0] for h in history]), jnp.stack([h[1] for h in history]), jnp.stack(drags), build(iterates[-1])
    )
