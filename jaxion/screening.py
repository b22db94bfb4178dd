"""Differentiable screening of materials for low drag (paper 1, Sec. IV, in physical units).

An ion hopping through a framework loses energy to its acoustic phonons. Paper 1 gives the drag force
``F = −H M_phys H Ṙ`` (1.27) with ``H = ∇∇U`` the Hessian of the ion's landscape ``U`` and ``M_phys`` the
recoil matrix of the material (1.28), built from its elastic constants and density by the Christoffel
equation (:mod:`jaxion.materials`). The energy lost on one straight hop at constant speed ``v`` is
``W = v ∫ dz d̂·H M_phys H·d̂`` (1.23). Everything is differentiable, so a material can be ranked and moved
by gradients:

- :func:`hop_energy_gradients`: ``W`` and its gradients with respect to the elastic constants, the
  density and the landscape's amplitudes and widths.
- :func:`descend_drag` (returns a :class:`DragDescent`): optax descent of a cubic material toward a lower
  ``W`` with the density fixed and the stiffnesses kept inside bounds (by :class:`jaxion.fit.Bounded`).

Units: elastic constants in GPa, density in kg/m³, lengths (positions, widths) in Å, energies
(amplitudes, ``W``) in eV, speeds in m/s; gradients are per those units (e.g. eV/GPa).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, Float

from ._validation import RealScalar
from .fit import Bounded
from .materials import Material, cubic_voigt, energy_per_hop

__all__ = ["hop_energy_gradients", "DragDescent", "descend_drag"]


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
