"""What is simulated: a lattice, the sites the ion interacts with, the pair potentials, the ion mass.

The same :class:`System` drives every engine and every theory function, so that they are compared on
exactly the same physics. Interacting sites are atoms of the lattice: an integer cell (static; negative indices
are allowed and wrap around a periodic supercell) and, for a crystal with a basis, the atom of that cell. The
interaction energy is

    Φ(ρ, σ) = Σ_a φ_{κ(a)}(R_a + P ρ_a − σ)

with ``R_a`` the equilibrium positions, ``P`` the lattice's polarisation map, ``σ`` the ion position and
``φ_κ`` the pair potential of the species ``κ(a)`` of site ``a`` (one potential for every species, or one per
species).
"""

from __future__ import annotations

from collections.abc import Mapping

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
    "channel_sites",
    "PassGeometry",
    "pass_geometry",
]

START_STOP_RANGES = 7.0  # paper 1: start 7λ before the first interacting site and stop 7λ after the last


def _check_sites(sites, lattice: Lattice) -> np.ndarray:
    """Sites as ``(S, dim + 1)`` integers: the cell and the atom of the cell. A Bravais lattice's sites may be
    given as cells ``(S, dim)``; a crystal with a basis needs the atom index as the last column."""
    dim, atoms = lattice.dim, lattice.atoms
    if atoms == 1:
        return check_cells("sites", sites, dim)
    cells = check_cells("sites", sites, dim + 1, f"rows (cell ..., atom) of a {dim}D crystal with {atoms} atoms per cell")
    bad = (cells[:, -1] < 0) | (cells[:, -1] >= atoms)
    if np.any(bad):
        raise ValueError(
            f"sites of a crystal with {atoms} atoms per cell are (cell ..., atom) with atom in 0..{atoms - 1}; got "
            f"{cells[bad][:4].tolist()}."
        )
    return cells


class System(eqx.Module):
    """Ion + framework: ``lattice``, interacting ``sites``, pair potential(s) and ``mass_ratio`` μ = M/m.

    Args:
        lattice: a :class:`jaxion.Lattice`.
        potential: one pair potential for every site, or a mapping from species name (``lattice.species``) to
            its pair potential (every species of a site needs one).
        sites: the interacting sites: integer cells ``(S, dim)`` of a Bravais lattice, or ``(S, dim + 1)`` rows
            ``(cell ..., atom)`` of a crystal with a basis (default: atom 0 of cell 0).
        mass_ratio: the ion's mass in units of the reference mass.

    Attributes:
        potentials: one pair potential per group of sites of the same species (one group for a single
            potential).
        sites: static rows ``(cell ..., atom)`` (``(cell ...)`` for a Bravais lattice).
        site_groups: static, per site, the index of its potential in ``potentials``.
        group_species: static, per group, its species (``None`` when one potential serves every species).
    """

    lattice: Lattice
    potentials: tuple[AbstractPairPotential, ...]
    sites: tuple[tuple[int, ...], ...] = eqx.field(static=True)
    site_groups: tuple[int, ...] = eqx.field(static=True)
    group_species: tuple[str | None, ...] = eqx.field(static=True)
    mass_ratio: Float[Array, ""]

    # `lattice` and `potential` are any objects: a wrong one raises the ValueError below (naming it), not a type-check error
    def __init__(self, lattice: object, potential: object, sites=None, mass_ratio: RealScalar = 1.0):
        if not isinstance(lattice, Lattice):
            raise ValueError(f"lattice must be a jaxion Lattice (e.g. jaxion.chain3d()); got {type(lattice).__name__}.")
        self.lattice = lattice
        rows = _check_sites(single_site(lattice) if sites is None else sites, lattice)
        self.sites = tuple(tuple(int(i) for i in row) for row in rows)
        atoms = rows[:, -1] if lattice.atoms > 1 else np.zeros(len(rows), int)
        if isinstance(potential, Mapping):
            species = [lattice.species[int(a)] for a in atoms]
            missing = sorted(set(species) - set(potential))
            if missing:
                raise ValueError(
                    f"species {missing} of the interacting sites have no pair potential; give one for each in potential= "
                    f"(got potentials for {sorted(potential)})."
                )
            order = list(dict.fromkeys(species))
            self.potentials = tuple(potential[name] for name in order)
            self.site_groups = tuple(order.index(name) for name in species)
            self.group_species = tuple(order)
        else:
            self.potentials = (potential,)  # pyright: ignore[reportAttributeAccessIssue]  # checked in __check_init__
            self.site_groups = (0,) * len(rows)
            self.group_species = (None,)
        self.mass_ratio = jnp.asarray(mass_ratio, dtype=float)

    def __check_init__(self):
        if not isinstance(self.lattice, Lattice):
            raise ValueError(f"lattice must be a jaxion Lattice; got {type(self.lattice).__name__}.")
        for potential in self.potentials:
            if not isinstance(potential, AbstractPairPotential):
                raise ValueError(f"potential must be a jaxion AbstractPairPotential; got {type(potential).__name__}.")
        if len(self.sites) == 0:
            raise ValueError("sites must list at least one interacting site.")
        if len(set(self.sites)) != len(self.sites):
            raise ValueError(f"sites must not repeat; got {self.sites}.")
        check_positive("mass_ratio", self.mass_ratio)

    # ------------------------------------------------------------------ sites
    @property
    def site_cells(self) -> np.ndarray:
        """Integer cell indices of the interacting sites, ``(sites, dim)``."""
        return np.asarray(self.sites, dtype=int).reshape(len(self.sites), -1)[:, : self.lattice.dim]

    @property
    def site_atoms(self) -> np.ndarray:
        """The atom of the cell of each interacting site, ``(sites,)`` (all 0 on a Bravais lattice)."""
        if self.lattice.atoms == 1:
            return np.zeros(len(self.sites), dtype=int)
        return np.asarray(self.sites, dtype=int)[:, -1]

    def site_positions(self) -> Float[Array, "sites 3"]:
        """Equilibrium Cartesian positions ``R_a`` of the interacting sites."""
        return self.lattice.positions(self.site_cells, self.site_atoms if self.lattice.atoms > 1 else None)

    @property
    def site_masses(self) -> Float[Array, " sites"]:
        """The mass of each interacting site's atom (reference-mass units)."""
        return self.lattice.masses[self.site_atoms]

    # ------------------------------------------------------------------ potentials
    @property
    def potential(self) -> AbstractPairPotential:
        """The pair potential of every site (a system with one potential per species has several: ``potentials``)."""
        if len(self.potentials) != 1:
            raise ValueError(
                f"this system has one pair potential per species ({', '.join(str(s) for s in self.group_species)}); use "
                "system.potentials (and site_groups), or a single potential for every site."
            )
        return self.potentials[0]

    def with_potential(self, potential: AbstractPairPotential) -> System:
        """The same system with ``potential`` for every site (e.g. one member of a sweep over widths)."""
        return eqx.tree_at(lambda s: s.potentials, self, (potential,) * len(self.potentials))

    @property
    def interaction_range(self) -> Float[Array, ""]:
        """The largest range of the pair potentials (paths start and stop ``7 ×`` this away)."""
        if len(self.potentials) == 1:
            return jnp.asarray(self.potentials[0].range, float)
        return jnp.max(jnp.stack([jnp.asarray(p.range, float) for p in self.potentials]))

    def _group_energy(self, separations: Float[Array, "*batch sites 3"]) -> Float[Array, "*batch sites"]:
        """``φ_{κ(a)}`` of each site's separation."""
        if len(self.potentials) == 1:
            return self.potentials[0].energy(separations)
        groups = np.asarray(self.site_groups)
        out = jnp.zeros(separations.shape[:-1])
        for g, potential in enumerate(self.potentials):
            index = np.flatnonzero(groups == g)
            out = out.at[..., index].set(potential.energy(separations[..., index, :]))
        return out

    def interaction_energy(
        self, ion_position: Float[Array, 3], site_displacements: Float[Array, "sites dof"]
    ) -> Float[Array, ""]:
        """``Φ(ρ, σ) = Σ_a φ_{κ(a)}(R_a + P ρ_a − σ)`` (paper 1, Sec. III)."""
        moved = self.site_positions() + site_displacements @ self.lattice.polarisation_matrix.T
        return jnp.sum(self._group_energy(moved - ion_position))

    def landscape(self, ion_position: Float[Array, "... 3"]) -> Float[Array, ...]:
        """The static landscape ``Φ(0, σ)`` seen by the ion with the framework at rest."""
        separations = self.site_positions() - jnp.asarray(ion_position, float)[..., None, :]
        return jnp.sum(self._group_energy(separations), axis=-1)


# ---------------------------------------------------------------------- site sets


def single_site(lattice: Lattice, atom: int = 0) -> np.ndarray:
    """The one site at the origin cell (Figs. 2 and 4 of paper 1); atom ``atom`` of it for a crystal with a basis."""
    if lattice.atoms == 1:
        return np.zeros((1, lattice.dim), dtype=int)
    return np.asarray([[0] * lattice.dim + [int(atom)]])


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
    """All sites within ``cutoff`` of the segment ``point + t·direction``, ``0 <= t <= length``: cells ``(S, dim)``
    of a Bravais lattice, rows ``(cell ..., atom)`` of a crystal with a basis (every atom of the cell is tried)."""
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
    reach = np.linalg.norm(point) + length + cutoff + float(np.max(np.linalg.norm(np.asarray(lattice.positions(
        np.zeros((lattice.atoms, lattice.dim), int), np.arange(lattice.atoms))), axis=-1)))
    smallest = min(np.linalg.norm(vectors[:, i]) for i in range(lattice.dim))
    n = int(np.ceil(reach / smallest)) + 1
    axes = [np.arange(-n, n + 1)] * lattice.dim
    cells = np.stack([g.ravel() for g in np.meshgrid(*axes, indexing="ij")], axis=-1)
    rows = np.concatenate([np.concatenate([cells, np.full((len(cells), 1), atom)], axis=1) for atom in range(lattice.atoms)])
    positions = np.asarray(lattice.positions(rows[:, :-1], rows[:, -1]))
    t = np.clip((positions - point) @ unit, 0.0, length)
    distance = np.linalg.norm(positions - point - t[:, None] * unit, axis=-1)
    chosen = rows[distance <= cutoff]
    if len(chosen) == 0:
        raise ValueError(f"no site lies within cutoff={cutoff} of the path; increase the cutoff.")
    return chosen if lattice.atoms > 1 else chosen[:, :-1]


def channel_sites(lattice: Lattice, point, period, cutoff: float) -> np.ndarray:
    """The sites an ion in a channel along the lattice translation ``period`` can meet, for a time-local model that
    reduces the ion's position by whole periods (``time_local_model(..., period=)``): every site within ``cutoff`` of
    the line through ``point`` along ``period`` over the period where the reduction puts the ion
    (``0 <= σ·a/|a|² < 1``). Choose ``cutoff`` beyond the pair potential's reach: sites beyond it are kept on one
    side of the period's ends and not the other, so the landscape is periodic only to the size of the potential
    there (for a Gaussian of width ``λ``, ``~e^{−(cutoff/λ)²/2}``; ``7λ`` gives ``2e-11``)."""
    check_finite("period", period)
    if np.shape(period) != (3,):
        raise ValueError(f"period must be a lattice translation (3,); got shape {np.shape(period)}.")
    length = float(np.linalg.norm(period))
    check_positive("|period|", length)
    check_finite("point", point)
    if np.shape(point) != (3,):
        raise ValueError(f"point must be a 3-vector; got shape {np.shape(point)}.")
    unit = np.asarray(period, float) / length
    point = np.asarray(point, float)
    start = point - (point @ unit) * unit
    return sites_near_line(lattice, start, unit, cutoff, length)


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
        margin = START_STOP_RANGES * system.interaction_range
    positions = system.site_positions()
    centre = jnp.mean(positions, axis=0)
    along = (positions - centre) @ unit
    start = centre + impact + (jnp.min(along) - margin) * unit
    stop = centre + impact + (jnp.max(along) + margin) * unit
    return PassGeometry(start=start, direction=unit, stop_point=stop, path_length=jnp.dot(stop - start, unit))
