"""What is simulated: a lattice, the sites the ion interacts with, the pair potential, the ion mass.

The same :class:`System` drives every engine and every theory function, so that they are compared on
exactly the same physics. Interacting sites are integer cell indices (static; negative indices are
allowed and wrap around a periodic supercell). The interaction energy is

    Φ(ρ, σ) = Σ_a φ(R_a + P ρ_a − σ)

with ``R_a`` the equilibrium positions, ``P`` the lattice's polarisation map and ``σ`` the ion position.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ._validation import RealScalar, check_cells, check_finite, check_positive, is_concrete
from .lattice import Lattice
from .potential import AbstractPairPotential

__all__ = [
    "System",
    "single_site",
    "cubic_face_sites",
    "cubic_cell_sites",
    "line_sites",
    "sites_near_line",
    "PassGeometry",
    "pass_geometry",
]

START_STOP_RANGES = 7.0  # paper 1: start 7λ before the first interacting site and stop 7λ after the last


class System(eqx.Module):
    """Ion + framework: ``lattice``, interacting ``sites``, pair ``potential`` and ``mass_ratio`` μ = M/m."""

    lattice: Lattice
    potential: AbstractPairPotential
    sites: tuple[tuple[int, ...], ...] = eqx.field(static=True)
    mass_ratio: Float[Array, ""]

    # `lattice` is any object: a non-Lattice raises the ValueError below (naming it), not a type-check error
    def __init__(self, lattice: object, potential: AbstractPairPotential, sites=None, mass_ratio: RealScalar = 1.0):
        if not isinstance(lattice, Lattice):
            raise ValueError(f"lattice must be a jaxion Lattice (e.g. jaxion.chain3d()); got {type(lattice).__name__}.")
        self.lattice = lattice
        self.potential = potential
        if sites is None:
            sites = single_site(lattice)
        cells = check_cells("sites", sites, lattice.dim)
        self.sites = tuple(tuple(int(i) for i in site) for site in cells)
        self.mass_ratio = jnp.asarray(mass_ratio, dtype=float)

    def __check_init__(self):
        if not isinstance(self.lattice, Lattice):
            raise ValueError(f"lattice must be a jaxion Lattice; got {type(self.lattice).__name__}.")
        if not isinstance(self.potential, AbstractPairPotential):
            raise ValueError(f"potential must be a jaxion AbstractPairPotential; got {type(self.potential).__name__}.")
        if len(self.sites) == 0:
            raise ValueError("sites must list at least one interacting site.")
        if len(set(self.sites)) != len(self.sites):
            raise ValueError(f"sites must not repeat; got {self.sites}.")
        check_positive("mass_ratio", self.mass_ratio)

    @property
    def site_cells(self) -> np.ndarray:
        """Integer cell indices of the interacting sites, ``(sites, dim)``."""
        return np.asarray(self.sites, dtype=int)

    def site_positions(self) -> Float[Array, "sites 3"]:
        """Equilibrium Cartesian positions ``R_a`` of the interacting sites."""
        return self.lattice.positions(self.site_cells)

    def interaction_energy(
        self, ion_position: Float[Array, 3], site_displacements: Float[Array, "sites dof"]
    ) -> Float[Array, ""]:
        """``Φ(ρ, σ) = Σ_a φ(R_a + P ρ_a − σ)`` (paper 1, Sec. III)."""
        moved = self.site_positions() + site_displacements @ self.lattice.polarisation_matrix.T
        return jnp.sum(self.potential.energy(moved - ion_position))

    def landscape(self, ion_position: Float[Array, "... 3"]) -> Float[Array, ...]:
        """The static landscape ``Φ(0, σ)`` seen by the ion with the framework at rest."""
        separations = self.site_positions() - jnp.asarray(ion_position, float)[..., None, :]
        return jnp.sum(self.potential.energy(separations), axis=-1)


# ---------------------------------------------------------------------- site sets


def single_site(lattice: Lattice) -> np.ndarray:
    """The one site at the origin cell (Figs. 2 and 4 of paper 1)."""
    return np.zeros((1, lattice.dim), dtype=int)


def cubic_face_sites() -> np.ndarray:
    """The four sites of a cube face normal to ``z`` (Fig. 3(c) of paper 1)."""
    return np.array([(0, 0, 0), (1, 0, 0), (0, 1, 0), (1, 1, 0)])


def cubic_cell_sites() -> np.ndarray:
    """The eight corners of a cubic cell (Fig. 3(d) of paper 1)."""
    return np.array([(i, j, k) for k in (0, 1) for j in (0, 1) for i in (0, 1)])


def line_sites(count: int, axis: int = 2, dim: int = 3, start: int = 0) -> np.ndarray:
    """``count`` consecutive sites along lattice axis ``axis`` (Fig. 6 of paper 1: 8 sites along z)."""
    if count < 1:
        raise ValueError(f"count must be >= 1; got {count}.")
    if not 0 <= axis < dim:
        raise ValueError(f"axis must be a lattice axis in 0..{dim - 1}; got {axis}.")
    cells = np.zeros((count, dim), dtype=int)
    cells[:, axis] = np.arange(start, start + count)
    return cells


def sites_near_line(
    lattice: Lattice, point, direction, cutoff: float, length: float
) -> np.ndarray:
    """All sites within ``cutoff`` of the segment ``point + t·direction``, ``0 <= t <= length``."""
    check_positive("cutoff", cutoff)
    check_positive("length", length)
    check_finite("point", point)
    check_finite("direction", direction)
    if np.shape(point) != (3,) or np.shape(direction) != (3,):
        raise ValueError(f"point and direction must be 3-vectors; got shapes {np.shape(point)}, {np.shape(direction)}.")
    check_positive("|direction|", float(np.linalg.norm(direction)))
    point = np.asarray(point, float)
    unit = np.asarray(direction, float) / np.linalg.norm(direction)
    vectors = np.asarray(lattice.primitive_vectors)
    reach = np.linalg.norm(point) + length + cutoff
    smallest = min(np.linalg.norm(vectors[:, i]) for i in range(lattice.dim))
    n = int(np.ceil(reach / smallest)) + 1
    axes = [np.arange(-n, n + 1)] * lattice.dim
    cells = np.stack([g.ravel() for g in np.meshgrid(*axes, indexing="ij")], axis=-1)
    positions = cells @ vectors.T
    t = np.clip((positions - point) @ unit, 0.0, length)
    distance = np.linalg.norm(positions - point - t[:, None] * unit, axis=-1)
    chosen = cells[distance <= cutoff]
    if len(chosen) == 0:
        raise ValueError(f"no site lies within cutoff={cutoff} of the path; increase the cutoff.")
    return chosen


# ---------------------------------------------------------------------- straight passes


class PassGeometry(eqx.Module):
    """A straight pass: start point, unit direction, and the stop plane (distance along ``direction``)."""

    start: Float[Array, 3]
    direction: Float[Array, 3]
    stop_point: Float[Array, 3]
    path_length: Float[Array, ""]


def pass_geometry(system: System, direction=(0.0, 0.0, 1.0), impact=(0.0, 0.0, 0.0), margin=None) -> PassGeometry:
    """Paper 1's protocol: pass through ``centroid + impact`` along ``direction``, starting ``margin``
    (default ``7 × potential.range``) before the first interacting site and stopping ``margin`` after
    the last one (measured along ``direction``)."""
    if margin is not None:
        check_positive("margin", margin)
    direction = jnp.asarray(direction, float)
    check_finite("direction", direction)
    norm = jnp.linalg.norm(direction)
    check_positive("|direction|", norm)
    unit = direction / norm
    impact = jnp.asarray(impact, float)
    check_finite("impact", impact)
    if is_concrete((impact, unit)) and abs(float(jnp.dot(impact, unit))) > 1e-9 * (1.0 + float(jnp.linalg.norm(impact))):
        raise ValueError(f"impact must be perpendicular to direction; got impact={np.asarray(impact)} along {np.asarray(unit)}.")
    if margin is None:
        margin = START_STOP_RANGES * system.potential.range
    positions = system.site_positions()
    centre = jnp.mean(positions, axis=0)
    along = (positions - centre) @ unit
    start = centre + impact + (jnp.min(along) - margin) * unit
    stop = centre + impact + (jnp.max(along) + margin) * unit
    return PassGeometry(start=start, direction=unit, stop_point=stop, path_length=jnp.dot(stop - start, unit))
