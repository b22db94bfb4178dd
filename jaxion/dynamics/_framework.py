"""The equations of motion (1.3)–(1.4) of the ion and every mass of a periodic supercell.

    (μ/4π²) σ'' = −∇_σ Φ(ρ, σ) + F                                           (1.3)
    (1/4π²) ρ'' = −Ξ ρ − ∇_ρ Φ(ρ, σ)                                         (1.4)

``F`` is a constant bias force on the ion (zero unless given). ``Ξρ`` is applied matrix-free by the lattice's
stencil; the ion couples only to ``system.sites``. Shared by the diffrax solve of :mod:`jaxion.dynamics.full` and
the fused Verlet loop of :mod:`jaxion.dynamics._verlet`.

Energy (paper 1, (1.2)): ``E = μσ'²/(8π²) + Φ(ρ, σ) + ρ'²/(8π²) + ρᵀΞρ/2`` is conserved by (1.3)–(1.4) without
bias; with a bias ``E − F·σ`` is.
"""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from .._constants import FOUR_PI_SQ
from ..system import System
from ._common import kinetic_energy

__all__ = ["FullState", "FullArgs", "total_energy", "framework_energy", "wrapped_index", "gather"]


class FullState(eqx.Module):
    """State of ion + framework: positions/velocities (per τ) of the ion and all supercell masses."""

    ion_position: Float[Array, 3]
    ion_velocity: Float[Array, 3]
    displacement: Float[Array, " dof *cells"]
    velocity: Float[Array, " dof *cells"]


class FullArgs(eqx.Module):
    """What the right-hand side of (1.3)–(1.4) needs besides the state.

    Attributes:
        system: lattice, sites, potential, mass ratio.
        index: per-axis integer indices of the interacting sites in the supercell.
        line: unit direction of the line the ion is held on, or ``None`` (a free ion).
        bias: the constant force on the ion ``(3,)`` (projected on ``line`` when held on one).
        plane: ``(point, normal)`` of the stop plane, or ``None``.
        watch: per-axis indices of the sites whose displacements are recorded.
    """

    system: System
    index: tuple[Int[Array, " sites"], ...]
    line: Float[Array, 3] | None
    bias: Float[Array, 3]
    plane: tuple[Float[Array, 3], Float[Array, 3]] | None
    watch: tuple[Int[Array, " watched"], ...]

    def accelerations(self, ion_position, displacement):
        """The interaction's accelerations: the ion's ``(4π²/μ)(−∇_σΦ + F)`` of (1.3) (projected on the line
        when held on one) and the sites' ``4π²(−∇_ρΦ)`` of (1.4), as ``(sites, dof)`` rows."""
        grad_ion, grad_sites = jax.grad(self.system.interaction_energy, argnums=(0, 1))(ion_position, gather(displacement, self.index))
        force = -grad_ion + self.bias
        if self.line is not None:
            force = self.line * jnp.dot(self.line, force)
        return FOUR_PI_SQ / self.system.mass_ratio * force, -FOUR_PI_SQ * grad_sites

    def rates(self, state: FullState) -> FullState:
        """``d/dτ`` of the state: (1.3)–(1.4)."""
        ion_acceleration, site_acceleration = self.accelerations(state.ion_position, state.displacement)
        acceleration = -FOUR_PI_SQ * self.system.lattice.apply_coupling(state.displacement)
        acceleration = acceleration.at[(slice(None),) + self.index].add(site_acceleration.T)
        return FullState(state.ion_velocity, ion_acceleration, state.velocity, acceleration)

    def crossed(self, ion_position) -> Array:
        """Whether the ion is past the stop plane (always ``False`` without one)."""
        if self.plane is None:
            return jnp.asarray(False)
        point, normal = self.plane
        return jnp.dot(ion_position - point, normal) > 0


def wrapped_index(cells: np.ndarray, supercell: Sequence[int]) -> tuple[Int[Array, " sites"], ...]:
    """Per-axis integer indices of the given cells inside a periodic supercell."""
    wrapped = np.mod(np.asarray(cells), np.asarray(supercell))
    return tuple(jnp.asarray(wrapped[:, i]) for i in range(wrapped.shape[1]))


def gather(field: Array, index) -> Array:
    """Rows ``(sites, dof)`` of a channels-first supercell field."""
    return field[(slice(None),) + tuple(index)].T


def framework_energy(system: System, state: FullState) -> Float[Array, ""]:
    """``ρ'²/(8π²) + ρᵀΞρ/2``: the framework's energy."""
    return jnp.sum(state.velocity**2) / (2 * FOUR_PI_SQ) + system.lattice.potential_energy(state.displacement)


def total_energy(system: System, state: FullState, supercell: Sequence[int]) -> Float[Array, ""]:
    """``μσ'²/(8π²) + Φ(ρ, σ) + ρ'²/(8π²) + ρᵀΞρ/2`` (paper 1, (1.2))."""
    index = wrapped_index(system.site_cells, supercell)
    interaction = system.interaction_energy(state.ion_position, gather(state.displacement, index))
    return kinetic_energy(system.mass_ratio, state.ion_velocity) + interaction + framework_energy(system, state)
