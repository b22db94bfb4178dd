"""The equations of motion (1.3)–(1.4) of the ion and every atom of a periodic supercell.

    (μ/4π²) σ'' = −∇_σ Φ(ρ, σ) + F                                           (1.3)
    (m_s/4π²) ρ_s'' = −(Ξ ρ)_s − ∇_{ρ_s} Φ(ρ, σ)                             (1.4), atom s of mass m_s

``F`` is a constant bias force on the ion (zero unless given). ``Ξρ`` is applied matrix-free by the lattice's
stencil; the ion couples only to ``system.sites``. Shared by the diffrax solve of :mod:`jaxion.dynamics.full` and
the fused Verlet loop of :mod:`jaxion.dynamics._verlet`.

Energy (paper 1, (1.2)): ``E = μσ'²/(8π²) + Φ(ρ, σ) + Σ m_s ρ_s'²/(8π²) + ρᵀΞρ/2`` is conserved by (1.3)–(1.4)
without bias; with a bias ``E − F·σ`` is. A site is an atom ``s`` of a cell: its displacement is the channels
``s·dof … s·dof + dof − 1`` of the field at that cell (:func:`site_index`).
"""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from .._constants import FOUR_PI_SQ
from .._validation import is_concrete
from ..system import System
from ._common import kinetic_energy

__all__ = ["FullState", "FullArgs", "total_energy", "framework_energy", "site_index", "gather"]


class FullState(eqx.Module):
    """State of ion + framework: positions/velocities (per τ) of the ion and all supercell masses."""

    ion_position: Float[Array, 3]
    ion_velocity: Float[Array, 3]
    displacement: Float[Array, " channels *cells"]
    velocity: Float[Array, " channels *cells"]


class FullArgs(eqx.Module):
    """What the right-hand side of (1.3)–(1.4) needs besides the state.

    Attributes:
        system: lattice, sites, potential, mass ratio.
        index: the interacting sites in the supercell field: ``(channels (sites, dof), cell index per axis (sites, 1))``
            (:func:`site_index`).
        line: unit direction of the line the ion is held on, or ``None`` (a free ion).
        bias: the constant force on the ion ``(3,)`` (projected on ``line`` when held on one).
        plane: ``(point, normal)`` of the stop plane, or ``None``.
        watch: per-axis indices of the sites whose displacements are recorded.
    """

    system: System
    index: tuple[Int[Array, "sites _"], ...]
    line: Float[Array, 3] | None
    bias: Float[Array, 3]
    plane: tuple[Float[Array, 3], Float[Array, 3]] | None
    watch: tuple[Int[Array, "watched _"], ...]

    def accelerations(self, ion_position, displacement):
        """The interaction's accelerations: the ion's ``(4π²/μ)(−∇_σΦ + F)`` of (1.3) (projected on the line
        when held on one) and the sites' ``(4π²/m_s)(−∇_ρΦ)`` of (1.4), as ``(sites, dof)`` rows."""
        grad_ion, grad_sites = jax.grad(self.system.interaction_energy, argnums=(0, 1))(ion_position, gather(displacement, self.index))
        force = -grad_ion + self.bias
        if self.line is not None:
            force = self.line * jnp.dot(self.line, force)
        return FOUR_PI_SQ / self.system.mass_ratio * force, -FOUR_PI_SQ * grad_sites / self.system.site_masses[:, None]

    def rates(self, state: FullState) -> FullState:
        """``d/dτ`` of the state: (1.3)–(1.4)."""
        ion_acceleration, site_acceleration = self.accelerations(state.ion_position, state.displacement)
        acceleration = self.framework_acceleration(state.displacement)
        acceleration = acceleration.at[self.index].add(site_acceleration)
        return FullState(state.ion_velocity, ion_acceleration, state.velocity, acceleration)

    def framework_acceleration(self, displacement) -> Array:
        """``−(4π²/m_s)(Ξρ)_s``: the framework's own acceleration (the stencil, divided by the channels' masses)."""
        lattice = self.system.lattice
        acceleration = -FOUR_PI_SQ * lattice.apply_coupling(displacement)
        if lattice.atoms == 1 and is_concrete(lattice.masses) and float(lattice.masses[0]) == 1.0:
            return acceleration  # paper 1's lattices: unit masses (keeps the fused stencil as it was)
        return acceleration / lattice.channel_masses.reshape((-1,) + (1,) * lattice.dim)

    def crossed(self, ion_position) -> Array:
        """Whether the ion is past the stop plane (always ``False`` without one)."""
        if self.plane is None:
            return jnp.asarray(False)
        point, normal = self.plane
        return jnp.dot(ion_position - point, normal) > 0


def site_index(cells: np.ndarray, atoms: np.ndarray | None, supercell: Sequence[int], dof: int) -> tuple[Int[Array, "sites _"], ...]:
    """Where sites (atom ``atoms`` of ``cells``, wrapped into the periodic ``supercell``) sit in a channels-first
    field: ``field[index]`` is ``(sites, dof)``, and ``field.at[index].add(rows)`` scatters rows back."""
    cells = np.mod(np.asarray(cells).reshape(len(cells), -1), np.asarray(supercell))
    atoms = np.zeros(len(cells), int) if atoms is None else np.asarray(atoms, int)
    channels = atoms[:, None] * dof + np.arange(dof)[None, :]
    return (jnp.asarray(channels),) + tuple(jnp.asarray(cells[:, i : i + 1]) for i in range(cells.shape[1]))


def gather(field: Array, index) -> Array:
    """Rows ``(sites, dof)`` of a channels-first supercell field (``index`` from :func:`site_index`)."""
    return field[tuple(index)]


def framework_energy(system: System, state: FullState) -> Float[Array, ""]:
    """``Σ m_s ρ_s'²/(8π²) + ρᵀΞρ/2``: the framework's energy."""
    return system.lattice.kinetic_energy(state.velocity) + system.lattice.potential_energy(state.displacement)


def total_energy(system: System, state: FullState, supercell: Sequence[int]) -> Float[Array, ""]:
    """``μσ'²/(8π²) + Φ(ρ, σ) + ρ'²/(8π²) + ρᵀΞρ/2`` (paper 1, (1.2))."""
    index = site_index(system.site_cells, system.site_atoms, supercell, system.lattice.dof)
    interaction = system.interaction_energy(state.ion_position, gather(state.displacement, index))
    return kinetic_energy(system.mass_ratio, state.ion_velocity) + interaction + framework_energy(system, state)
