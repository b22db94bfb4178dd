"""The :class:`Lattice` class and its :class:`ZoneModes` (see the package notes, :mod:`jaxion.lattice`)."""


from __future__ import annotations

import hashlib
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Inexact, Int

from .._validation import ArrayInput, check_finite, check_positive, is_concrete

__all__ = ["Lattice", "ZoneModes"]


_GROUP_VELOCITY_CACHE: dict = {}
_STABILITY_GRID = {1: 257, 2: 65, 3: 17}  # zone-grid points per axis of the construction-time stability check
_STABILITY_WORK = 3e7  # cap on points × channels³ of that check (large cells get a coarser grid)


def _as_tuple_matrix(matrix) -> tuple[tuple[float, ...], ...]:
    return tuple(tuple(float(x) for x in row) for row in np.asarray(matrix))


class ZoneModes(eqx.Module):
    """Normal modes of a lattice at a set of reduced wavevectors (from :meth:`Lattice.modes`).

    The one container of spectra in jaxion: mode sums (1.11)/(1.13), response kernels (2.13), the thermal
    bath and the memory engine's zone grid all hold one of these.

    Attributes:
        nodes: ``(*q, dim)`` reduced wavevectors ``q``.
        omega2: ``(*q, branches)`` squared frequencies ``ω_u(q)²``, ascending (eigenvalues of ``D(q)``; not
            clipped: a tiny negative value is rounding at ``q = 0``, a large one an instability).
        eta: ``(*q, channels, branches)`` eigenvectors of the mass-weighted ``D(q)`` (columns, unit norm;
            channel ``s·dof + j``; phonopy's phase convention), real for a Bravais lattice, else complex.
        weights: ``(*q,)`` zone-average weights of the nodes (a quadrature's), or ``None``.
        inverse_sqrt_masses: ``(atoms,)`` ``1/sqrt(m_s)``.
        polarisation: static ``(3, dof)`` map from displacement components to Cartesian axes.
    """

    nodes: Float[Array, "*q dim"]
    omega2: Float[Array, "*q branches"]
    eta: Inexact[Array, "*q channels branches"]
    weights: Float[Array, "*q"] | None
    inverse_sqrt_masses: Float[Array, " atoms"]
    polarisation: tuple[tuple[float, ...], ...] = eqx.field(static=True)

    @property
    def omega(self) -> Float[Array, "*q branches"]:
        """Frequencies ``ω_u(q) = sqrt(max(ω², 0))``."""
        return jnp.sqrt(jnp.clip(self.omega2, 0.0))

    @property
    def displacements(self) -> Inexact[Array, "*q atoms dof branches"]:
        """Displacement of each atom of the cell per unit mode amplitude, ``e_s/sqrt(m_s)``, in displacement
        components (the phase ``e^{iq·(m + τ_s)}`` of its cell and position not included)."""
        atoms = self.inverse_sqrt_masses.shape[0]
        shape = self.eta.shape[:-2] + (atoms, self.eta.shape[-2] // atoms, self.eta.shape[-1])
        return self.eta.reshape(shape) * self.inverse_sqrt_masses[:, None, None]

    @property
    def channel_displacements(self) -> Inexact[Array, "*q channels branches"]:
        """:attr:`displacements` with atoms and components as one channel axis ``s·dof + j`` (the layout of a
        supercell field)."""
        dof = self.eta.shape[-2] // self.inverse_sqrt_masses.shape[0]
        return self.eta * jnp.repeat(self.inverse_sqrt_masses, dof)[:, None]

    @property
    def polarisations(self) -> Inexact[Array, "*q atoms 3 branches"]:
        """Cartesian displacement of each atom per unit mode amplitude, ``P e_s/sqrt(m_s)``."""
        return jnp.einsum("ic,...scu->...siu", jnp.asarray(self.polarisation, float), self.displacements)


class Lattice(eqx.Module):
    """A crystal: primitive cell, a basis of atoms (positions, masses, species) and harmonic force constants.

    Build one with :func:`chain3d`, :func:`chain`, :func:`simple_cubic`, :func:`bravais_lattice` (one atom per
    cell, paper 1's bonds), :func:`crystal` (any basis, from pair blocks), or the importers of
    :mod:`jaxion.crystals` (phonopy, ASE, a supercell force-constant array).

    Attributes:
        primitive_vectors: ``(3, dim)``; column ``i`` is the Cartesian lattice vector ``a_i`` (units of l).
        basis_positions: ``(atoms, dim)`` fractional positions ``τ_s`` of the atoms in the cell.
        masses: ``(atoms,)`` masses ``m_s`` in units of the reference mass.
        confinement: ``(atoms, dof, dof)`` on-site springs ``C_s`` (the acoustic sum; ``κ`` in paper 1).
        pair_force_constants: ``(pairs, dof, dof)`` blocks ``Φ_p = Φ(0 s_p; R_p t_p)`` (one of each ± pair).
        pair_offsets: static ``(pairs, dim)`` integer cell offsets ``R_p``.
        pair_atoms: static ``(pairs, 2)`` atom indices ``(s_p, t_p)``.
        species: static ``(atoms,)`` names of the atoms' species (``"X"`` when not given).
        polarisation: static ``(3, dof)`` map from displacement components to Cartesian axes.
        coupling_pattern: static ``(pairs, dof, dof)`` booleans; ``False`` entries are skipped in the stencil
            (computed from the blocks when they are concrete, else all ``True``).
        symmetric_pairs: static, per pair, whether its block is a symmetric matrix (known only for concrete blocks),
            which lets the stencil add an atom's two images ``m ± R`` before multiplying.
        name: static label used in output files.
    """

    primitive_vectors: Float[Array, "3 dim"]
    basis_positions: Float[Array, "atoms dim"]
    masses: Float[Array, " atoms"]
    confinement: Float[Array, "atoms dof dof"]
    pair_force_constants: Float[Array, "pairs dof dof"]
    pair_offsets: tuple[tuple[int, ...], ...] = eqx.field(static=True)
    pair_atoms: tuple[tuple[int, int], ...] = eqx.field(static=True)
    species: tuple[str, ...] = eqx.field(static=True)
    polarisation: tuple[tuple[float, ...], ...] = eqx.field(static=True)
    coupling_pattern: tuple[tuple[tuple[bool, ...], ...], ...] = eqx.field(static=True)
    symmetric_pairs: tuple[bool, ...] = eqx.field(static=True)
    name: str = eqx.field(static=True)

    def __init__(
        self,
        primitive_vectors: ArrayInput,
        confinement: ArrayInput,
        pair_force_constants: ArrayInput,
        pair_offsets: Sequence[Sequence[int]],
        pair_atoms: Sequence[Sequence[int]] | None = None,
        *,
        basis_positions: ArrayInput | None = None,
        masses: ArrayInput | None = None,
        species: Sequence[str] | None = None,
        polarisation: ArrayInput | None = None,
        name: str = "lattice",
    ):
        self.primitive_vectors = jnp.asarray(primitive_vectors, dtype=float)
        confinement = jnp.asarray(confinement, dtype=float)
        if confinement.ndim == 2:  # one atom per cell: a single (dof, dof) block
            confinement = confinement[None]
        self.confinement = confinement
        atoms = confinement.shape[0]
        dim = self.primitive_vectors.shape[-1] if self.primitive_vectors.ndim == 2 else 0
        self.pair_force_constants = jnp.asarray(pair_force_constants, dtype=float).reshape(
            (-1,) + tuple(confinement.shape[-2:])
        )
        self.pair_offsets = tuple(tuple(int(i) for i in v) for v in pair_offsets)
        if pair_atoms is None:
            pair_atoms = [(0, 0)] * len(self.pair_offsets)
        self.pair_atoms = tuple((int(s), int(t)) for s, t in pair_atoms)
        self.basis_positions = (
            jnp.zeros((atoms, dim)) if basis_positions is None else jnp.asarray(basis_positions, dtype=float).reshape(atoms, -1)
        )
        self.masses = jnp.ones(atoms) if masses is None else jnp.asarray(masses, dtype=float).reshape(-1)
        self.species = tuple(str(s) for s in species) if species is not None else ("X",) * atoms
        dof = confinement.shape[-1]
        if polarisation is None:
            if dof != 3:
                raise ValueError(f"polarisation must be given when dof = {dof} != 3.")
            polarisation = np.eye(3)
        self.polarisation = _as_tuple_matrix(polarisation)
        if is_concrete(self.pair_force_constants):
            blocks = np.asarray(self.pair_force_constants)
            pattern = np.abs(blocks) > 0
            symmetric = [bool(np.array_equal(b, b.T)) for b in blocks]
        else:
            pattern = np.ones(self.pair_force_constants.shape, dtype=bool)
            symmetric = [False] * len(self.pair_offsets)
        self.coupling_pattern = tuple(tuple(tuple(bool(x) for x in row) for row in block) for block in pattern)
        self.symmetric_pairs = tuple(symmetric)
        self.name = name

    def __check_init__(self):
        self._check_shapes()
        if is_concrete((self.pair_force_constants, self.confinement, self.primitive_vectors, self.masses, self.basis_positions)):
            self._check_values()

    def _check_shapes(self) -> None:
        vectors = self.primitive_vectors
        if vectors.ndim != 2 or vectors.shape[0] != 3 or vectors.shape[1] not in (1, 2, 3):
            raise ValueError(f"primitive_vectors must have shape (3, dim) with dim in 1..3; got {vectors.shape}.")
        atoms, dof, dim = self.atoms, self.dof, self.dim
        if self.confinement.shape != (atoms, dof, dof):
            raise ValueError(f"confinement must have shape (atoms, dof, dof) with square blocks; got {self.confinement.shape}.")
        pairs = len(self.pair_offsets)
        if self.pair_force_constants.shape != (pairs, dof, dof) or len(self.pair_atoms) != pairs:
            raise ValueError(
                f"pair_force_constants must have shape (pairs, dof, dof) = ({pairs}, {dof}, {dof}) with one (s, t) per pair; "
                f"got {self.pair_force_constants.shape} and {len(self.pair_atoms)} atom pairs."
            )
        if any(len(v) != dim for v in self.pair_offsets):
            raise ValueError(f"every pair offset must have {dim} integers; got {self.pair_offsets}.")
        if any(not (0 <= s < atoms and 0 <= t < atoms) for s, t in self.pair_atoms):
            raise ValueError(f"pair_atoms must index the {atoms} atoms of the cell; got {self.pair_atoms}.")
        seen = set()
        for v, (s, t) in zip(self.pair_offsets, self.pair_atoms):
            if s == t and not any(v):
                raise ValueError("a pair of an atom with itself in the same cell is the on-site term: pass it in `confinement`.")
            key, partner = (v, s, t), (tuple(-i for i in v), t, s)
            if key in seen or partner in seen:
                raise ValueError(f"the pair (R = {v}, s = {s}, t = {t}) is given twice (or with its partner (−R, t, s)); give each once.")
            seen.add(key)
        if self.basis_positions.shape != (atoms, dim):
            raise ValueError(f"basis_positions must have shape (atoms, dim) = ({atoms}, {dim}); got {self.basis_positions.shape}.")
        if self.masses.shape != (atoms,):
            raise ValueError(f"masses must have one entry per atom ({atoms}); got shape {self.masses.shape}.")
        if len(self.species) != atoms:
            raise ValueError(f"species must name each of the {atoms} atoms; got {self.species}.")
        if np.asarray(self.polarisation).shape != (3, dof):
            raise ValueError(f"polarisation must have shape (3, {dof}); got {np.asarray(self.polarisation).shape}.")

    def _check_values(self) -> None:
        check_finite("pair_force_constants", self.pair_force_constants)
        check_finite("confinement", self.confinement)
        check_finite("primitive_vectors", self.primitive_vectors)
        check_finite("basis_positions", self.basis_positions)
        check_positive("masses", self.masses)
        confinement = np.asarray(self.confinement)
        if not np.allclose(confinement, np.swapaxes(confinement, -1, -2), atol=1e-12 * max(1.0, float(np.max(np.abs(confinement))))):
            raise ValueError("confinement blocks must be symmetric matrices.")
        blocks = np.asarray(self.pair_force_constants)
        largest = max(1.0, float(np.max(np.abs(blocks), initial=0.0)))
        if self.atoms == 1 and not np.allclose(blocks, np.swapaxes(blocks, -1, -2), atol=1e-12 * largest):
            raise ValueError("the force-constant blocks of a Bravais lattice (one atom per cell) must be symmetric matrices.")
        if not np.any(blocks) and not np.any(confinement):
            raise ValueError(
                "the force constants and the confinement are all zero: the framework has no springs (every mode has zero "
                "frequency). Give at least one nonzero force constant or confinement."
            )
        gram = np.asarray(self.primitive_vectors).T @ np.asarray(self.primitive_vectors)
        lengths = np.diag(gram)
        # scale-free test (a lattice in units of 1e-14 is as valid as one in units of 1)
        if np.any(lengths <= 0) or np.linalg.det(gram) <= 1e-12 * np.prod(lengths):
            raise ValueError(
                "primitive_vectors are linearly dependent (zero cell volume); got "
                f"{np.asarray(self.primitive_vectors).T.tolist()} (as rows)."
            )
        self._check_overlaps()
        self._check_stability(max(float(np.max(np.abs(blocks), initial=0.0)), float(np.max(np.abs(confinement)))) or 1.0)

    def _check_overlaps(self) -> None:
        if self.atoms < 2:
            return
        positions = np.asarray(self.basis_positions) % 1.0
        cartesian = positions @ np.asarray(self.primitive_vectors).T
        shortest = min(np.linalg.norm(np.asarray(self.primitive_vectors)[:, i]) for i in range(self.dim))
        for s in range(self.atoms):
            for t in range(s):
                delta = positions[s] - positions[t]
                delta -= np.round(delta)
                if np.linalg.norm(delta @ np.asarray(self.primitive_vectors).T) < 1e-6 * shortest:
                    raise ValueError(
                        f"basis atoms {t} and {s} sit on top of each other (at {np.round(cartesian[s], 6).tolist()}); "
                        "every atom of the cell needs its own position."
                    )

    def _check_stability(self, scale: float) -> None:
        """Refuse a lattice with an imaginary frequency on a dense zone grid (17³ points in 3D for cells of up to
        12 channels, coarser for larger cells), naming the wavevector."""
        points = _STABILITY_GRID[self.dim]
        while points > 5 and points**self.dim * self.channels**3 > _STABILITY_WORK:
            points -= 2  # odd counts keep Γ and the zone boundary on the grid
        q = self.zone_grid(points)
        omega2 = np.asarray(self.modes(q).omega2)
        lowest = int(np.argmin(omega2[:, 0]))
        if omega2[lowest, 0] < -1e-9 * scale / float(np.min(np.asarray(self.masses))):
            raise ValueError(
                f"the lattice is unstable: ω² = {omega2[lowest, 0]:.3g} < 0 at q = {np.round(q[lowest], 4).tolist()} (reduced "
                f"wavevector; {np.round(q[lowest] / (2 * np.pi), 4).tolist()} in units of the reciprocal lattice vectors, as "
                "phonopy writes it): an imaginary frequency. The force constants must make D(q) positive semi-definite."
            )

    # ------------------------------------------------------------------ geometry
    @property
    def dim(self) -> int:
        """Number of lattice directions (1 for a chain, 3 for a crystal)."""
        return self.primitive_vectors.shape[-1]

    @property
    def dof(self) -> int:
        """Displacement components per atom (3, or 1 for a longitudinal-only chain)."""
        return self.confinement.shape[-1]

    @property
    def atoms(self) -> int:
        """Atoms per primitive cell (1 for a Bravais lattice)."""
        return self.confinement.shape[0]

    @property
    def channels(self) -> int:
        """Displacement components per cell, ``atoms × dof``."""
        return self.atoms * self.dof

    @property
    def polarisation_matrix(self) -> np.ndarray:
        """``(3, dof)`` map from displacement components to Cartesian axes."""
        return np.asarray(self.polarisation, dtype=float)

    @property
    def channel_masses(self) -> Float[Array, " channels"]:
        """The mass of every displacement channel ``s·dof + j`` (``m_s``)."""
        return jnp.repeat(self.masses, self.dof)

    @property
    def cell_mass(self) -> Float[Array, ""]:
        """Mass of the primitive cell ``Σ_s m_s`` (reference-mass units)."""
        return jnp.sum(self.masses)

    def positions(self, cells: Int[ArrayLike, "*sites dim"], atoms: Int[ArrayLike, "*sites"] | None = None) -> Float[Array, "*sites 3"]:
        """Cartesian equilibrium positions ``R = Σ_i (n_i + τ_{s,i}) a_i`` of atoms ``atoms`` (default 0) of
        integer ``cells``."""
        fractional = jnp.asarray(cells, dtype=float)
        if atoms is not None or self.atoms > 1:
            index = jnp.zeros(fractional.shape[:-1], dtype=int) if atoms is None else jnp.asarray(atoms, dtype=int)
            bad = f"atoms must be basis-atom indices 0 … {self.atoms - 1} of this lattice"
            if is_concrete(index):
                if index.size and (int(index.min()) < 0 or int(index.max()) >= self.atoms):
                    raise ValueError(f"{bad}; got {np.unique(np.asarray(index)).tolist()}.")
            else:  # traced (jit/vmap/grad): JAX would clamp the index and return another atom's position
                index = eqx.error_if(index, (index < 0) | (index >= self.atoms), bad + ".")
            fractional = fractional + self.basis_positions[index]
        return fractional @ self.primitive_vectors.T

    def pair_vectors(self) -> Float[Array, "pairs 3"]:
        """Cartesian vectors ``R_p + τ_t − τ_s`` from atom ``s_p`` to atom ``t_p`` of each stored pair."""
        return self._pair_fractional() @ self.primitive_vectors.T

    def _pair_fractional(self) -> Float[Array, "pairs dim"]:
        if not self.pair_offsets:
            return jnp.zeros((0, self.dim))
        s, t = (np.asarray(index, dtype=int) for index in zip(*self.pair_atoms))
        return jnp.asarray(self.pair_offsets, dtype=float) + self.basis_positions[t] - self.basis_positions[s]

    # ------------------------------------------------------------------ spectrum
    #
    # Every spectrum in jaxion (mode sums, kernels, the thermal bath, stability and echo checks) comes from
    # `modes` (or, for callers that hold the pair phases' cosines already, `dynamical_matrix_from_cosines`):
    # the lattice is the only source of its D(q).

    @property
    def real_spectrum(self) -> bool:
        """Whether ``D(q)`` is real symmetric (one atom per cell), else complex Hermitian."""
        return self.atoms == 1

    def dynamical_matrix(self, q: Float[ArrayLike, "*q dim"]) -> Inexact[Array, "*q channels channels"]:
        """The mass-weighted dynamical matrix ``D_st(q) = Σ_R Φ(0s; Rt) e^{iq·(R + τ_t − τ_s)}/sqrt(m_s m_t)`` at
        reduced wavevectors ``q`` (module notes; (1.12), (1.19) for one atom per cell)."""
        q = jnp.asarray(q, dtype=float)
        phase = q @ self._pair_fractional().T  # (*q, pairs)
        if self.real_spectrum:
            return self.dynamical_matrix_from_cosines(jnp.cos(phase))
        return self._complex_dynamical_matrix(jnp.cos(phase), jnp.sin(phase))

    def dynamical_matrix_from_cosines(self, cosines: Float[ArrayLike, "*q pairs"]) -> Float[Array, "*q dof dof"]:
        """``D = C + Σ_p 2Φ_p (c_p − 1)/m`` of a Bravais lattice from the cosines ``c_p = cos q·R_p`` of the pair
        phases, for callers that get them more cheaply than from ``q`` (the binned kernel's grid slices, by angle
        addition). ``Φ_p = −K_p`` for paper 1's bonds ``K_p``: ``D = C + Σ 2K_p(1 − cos q·R_p)``."""
        if not self.real_spectrum:
            raise ValueError("dynamical_matrix_from_cosines is for a Bravais lattice (one atom per cell); use dynamical_matrix.")
        weight = 2.0 * (jnp.asarray(cosines, dtype=float) - 1.0)
        matrix = self.confinement[0] + jnp.einsum("...p,pij->...ij", weight, self.pair_force_constants)
        return matrix / self.masses[0]

    def _complex_dynamical_matrix(self, cosines, sines) -> Array:
        """``blockdiag(Φ(0s;0s)) + X + X†`` with ``X`` the pairs' ``Φ_p e^{iφ_p}`` at block ``(s_p, t_p)`` (the
        partner ``(−R, t, s)`` gives ``X†``), mass-weighted."""
        dof, c = self.dof, self.channels
        phase = (cosines + 1j * sines)[..., None, None]  # (*q, pairs, 1, 1)
        rows, cols = self._pair_indices()
        x = jnp.zeros(cosines.shape[:-1] + (c, c), dtype=complex).at[..., rows, cols].add(phase * self.pair_force_constants)
        onsite = jax.scipy.linalg.block_diag(*[self._onsite()[s] for s in range(self.atoms)])
        scale = jnp.repeat(1.0 / jnp.sqrt(self.masses), dof)
        return (onsite + x + jnp.conj(jnp.swapaxes(x, -1, -2))) * scale[:, None] * scale[None, :]

    def _pair_indices(self) -> tuple[np.ndarray, np.ndarray]:
        """Row and column indices ``(pairs, dof, dof)`` of each pair's block ``(s_p, t_p)`` in ``D``."""
        dof = self.dof
        s, t = (np.asarray(index, dtype=int).reshape(-1, 1, 1) for index in zip(*self.pair_atoms)) if self.pair_atoms else (
            np.zeros((0, 1, 1), int), np.zeros((0, 1, 1), int))
        i = np.arange(dof).reshape(1, -1, 1)
        j = np.arange(dof).reshape(1, 1, -1)
        shape = (len(self.pair_atoms), dof, dof)
        return np.broadcast_to(s * dof + i, shape), np.broadcast_to(t * dof + j, shape)

    def modes(self, q: Float[ArrayLike, "*q dim"], weights: Float[ArrayLike, "*q"] | None = None) -> ZoneModes:
        """The normal modes at reduced wavevectors ``q`` (any batch shape): eigenpairs ``ω_u(q)², e_u(q)`` of the
        mass-weighted ``D(q)`` (ascending; eigenvectors as columns). ``weights`` (zone-average weights of the
        nodes, e.g. a quadrature's) are carried along."""
        q = jnp.asarray(q, dtype=float)
        omega2, eta = jnp.linalg.eigh(self.dynamical_matrix(q))
        return ZoneModes(q, omega2, eta, None if weights is None else jnp.asarray(weights, float),
                         1.0 / jnp.sqrt(self.masses), self.polarisation)

    def frequencies(self, q: Float[ArrayLike, "*q dim"]) -> Float[Array, "*q branches"]:
        """Mode frequencies ``ω`` (ascending) at reduced wavevectors ``q``; ``ω² ∈ eig D(q)``."""
        return self.modes(q).omega

    def fingerprint(self) -> str:
        """SHA-256 of everything the spectrum depends on (force constants, confinement, cell, basis positions,
        masses, pairs, polarisation): disk caches and precomputed kernels are keyed by it."""
        digest = hashlib.sha256()
        for array in (self.pair_force_constants, self.confinement, self.primitive_vectors, self.basis_positions, self.masses):
            digest.update(np.asarray(array, dtype=np.float64).tobytes())
        digest.update(repr((self.pair_offsets, self.pair_atoms, self.polarisation)).encode())
        return digest.hexdigest()

    def zone_grid(self, points_per_axis: int = 33) -> np.ndarray:
        """A grid over the Brillouin zone ``[−π, π]^dim`` that contains 0 and the zone boundary."""
        axis = np.linspace(-np.pi, np.pi, points_per_axis)
        grids = np.meshgrid(*([axis] * self.dim), indexing="ij")
        return np.stack([g.ravel() for g in grids], axis=-1)

    def supercell_wavevectors(self, supercell: Sequence[int]) -> np.ndarray:
        """The reduced wavevectors ``2π n/N`` of the modes of a periodic supercell, ``(prod(N), dim)``."""
        axes = [2 * np.pi * np.fft.fftfreq(n) * 1.0 for n in supercell]
        grids = np.meshgrid(*axes, indexing="ij")
        return np.stack([g.ravel() for g in grids], axis=-1)

    def max_frequency(self, supercell: Sequence[int] | None = None) -> float:
        """Largest mode frequency ``ω_max``: exact over a supercell's modes when `supercell` is given
        (up to 64 points per axis; larger supercells use a 64-point sampling), else over a zone grid."""
        # evaluated now even when called while a jit is being traced (on a concrete lattice)
        with jax.ensure_compile_time_eval():
            if supercell is None:
                q = self.zone_grid(33)
            else:
                capped = [min(int(n), 64) for n in supercell]
                q = self.supercell_wavevectors(capped)
            omega2 = np.asarray(self.modes(q).omega2)
        return float(np.sqrt(max(np.max(omega2), 0.0)))

    def max_group_velocity(self, points_per_axis: int | None = None, directions: int = 24) -> float:
        """Largest group velocity ``|∂(2πω)/∂k|`` in units of l per τ. Disturbances in the framework
        travel no faster than this (used for echo times).

        Computed from one-sided differences of the sorted branches along ``directions`` Cartesian
        directions at the points of a zone grid: a directional difference of a sorted branch never
        exceeds a true group velocity, so this is a lower bound that converges from below.
        """
        if points_per_axis is None:
            points_per_axis = {1: 401, 2: 61, 3: 17}[self.dim]
        key = (self.fingerprint(), points_per_axis, directions)
        if key not in _GROUP_VELOCITY_CACHE:
            _GROUP_VELOCITY_CACHE[key] = self._max_group_velocity(points_per_axis, directions)
        return _GROUP_VELOCITY_CACHE[key]

    def _max_group_velocity(self, points_per_axis: int, directions: int) -> float:
        q = self.zone_grid(points_per_axis)
        rng = np.random.default_rng(0)
        unit = rng.normal(size=(directions, 3))
        unit = np.concatenate([np.eye(3), unit / np.linalg.norm(unit, axis=1, keepdims=True)])
        step = 1e-6
        # A Cartesian step ε n̂ changes the reduced wavevector by ε (a_i · n̂).
        shifts = step * (unit @ np.asarray(self.primitive_vectors))  # (directions, dim)
        shifts = shifts[np.linalg.norm(shifts, axis=1) > 0]
        if not self.real_spectrum:
            return self._max_group_velocity_by_perturbation(q, shifts / step)
        points = np.concatenate([q[None], q[None] + shifts[:, None], q[None] - shifts[:, None]])  # (1 + 2n, P, dim)
        with jax.ensure_compile_time_eval():
            omega = np.asarray(self.modes(points).omega)
        centre, forward, backward = omega[0], omega[1 : 1 + len(shifts)], omega[1 + len(shifts) :]
        best = max(float(np.max(np.abs(forward - centre))), float(np.max(np.abs(centre - backward)))) / step
        return 2 * np.pi * best

    def _max_group_velocity_by_perturbation(self, q: np.ndarray, directions: np.ndarray) -> float:
        """The same bound for a crystal with a basis from one eigendecomposition per point (first-order perturbation
        theory, Hellmann–Feynman): ``∂ω_u/∂ε = Re(e_u† ∂D e_u)/(2ω_u)`` with ``∂D`` the exact directional derivative
        of ``D`` (a JVP; reduced change per unit Cartesian step). Within a degenerate subspace the diagonal elements
        lie between the true branch velocities, so the bound still converges from below; points with
        ``ω ≤ 1e-6 ω_max`` (Γ) are skipped. One compiled program for all directions (``_perturbation_bound``)."""
        with jax.ensure_compile_time_eval():
            return float(_perturbation_bound(self, jnp.asarray(q, dtype=float), jnp.asarray(directions, dtype=float)))

    def long_wavelength_coefficients(self) -> Float[Array, "dof dof 3 3"]:
        """``A_ik,jl`` with ``S(n̂)_ik = Σ_jl A_ik,jl n̂_j n̂_l`` the acoustic long-wavelength tensor per cell mass:
        ``ω² ≈ |k|² eig S(n̂)`` for the 3 acoustic branches at a small Cartesian wavevector ``k = |k| n̂``, whose
        modes move every atom alike, ``u_s = η/sqrt(M_cell)`` (paper 1 before (1.22); Born & Huang's method of long
        waves). One atom per cell: ``A_ik,jl = −Σ_p (Φ_p)_ik (r_p)_j (r_p)_l/m`` (Cartesian pair vectors ``r_p``;
        ``Σ_v K_v (n̂·r_v)²`` for bonds ``K_v = −Φ_v``; ``D ≈ C + |k|² S``). A crystal with a basis adds the
        internal-strain correction ``−Λᵀ(Φ(q=0))⁺Λ`` of the optical coordinates (derived in
        :func:`jaxion.lattice._long_waves.internal_strain_correction`); it needs the acoustic sum rule."""
        from ._long_waves import long_wave_coefficients

        return long_wave_coefficients(self)

    def long_wavelength_tensor(self, direction: Float[ArrayLike, "*n 3"]) -> Float[Array, "*n dof dof"]:
        """The acoustic long-wavelength tensor ``S(n̂) = Γ(n̂)/M_cell`` along Cartesian directions (normalised here):
        ``ω² ≈ |k|² eig S(n̂)`` for a small Cartesian wavevector ``k = |k| n̂`` (paper 1, before (1.22); for one atom
        per cell ``S = Σ_v K_v (n̂·r_v)²/m`` and ``D ≈ C + |k|² S``), internal strain included for a crystal with a
        basis (:meth:`long_wavelength_coefficients`)."""
        direction = jnp.asarray(direction, dtype=float)
        direction = direction / jnp.linalg.norm(direction, axis=-1, keepdims=True)
        return jnp.einsum("ikjl,...j,...l->...ik", self.long_wavelength_coefficients(), direction, direction)

    def acoustic_sum(self) -> Float[Array, "atoms dof dof"]:
        """``Σ_{R,t} Φ(0s; R t)`` for every atom ``s``: the confinement ``C_s`` (zero when the acoustic sum rule
        holds, as for every real crystal)."""
        return self.confinement

    @property
    def acoustic(self) -> bool:
        """Whether the acoustic sum rule holds (``C = 0``: acoustic branches start at ``ω = 0``)."""
        with jax.ensure_compile_time_eval():
            confinement = np.asarray(self.confinement)
            scale = max(float(np.max(np.abs(np.asarray(self.pair_force_constants)), initial=0.0)), 1e-300)
        return bool(np.all(np.abs(confinement) <= 1e-12 * scale))

    @property
    def cell_volume(self) -> Float[Array, ""]:
        """Volume (length, area) of the primitive cell: ``sqrt(det(AᵀA))``."""
        a = self.primitive_vectors
        return jnp.sqrt(jnp.linalg.det(a.T @ a))

    # ------------------------------------------------------------------ supercell operations
    def _reach(self) -> list[int]:
        return [max((abs(v[a]) for v in self.pair_offsets), default=0) for a in range(self.dim)]

    def apply_coupling(self, displacement: Float[Array, " channels *cells"]) -> Float[Array, " channels *cells"]:
        """Matrix-free ``Ξρ`` on a periodic supercell (displacements channels-first; module notes)."""
        dof, dim = self.dof, self.dim
        if displacement.ndim != 1 + dim or displacement.shape[0] != self.channels:
            raise ValueError(
                f"displacement must have shape (channels={self.channels}, *supercell) with {dim} supercell axes; "
                f"got {displacement.shape}."
            )
        shape = displacement.shape[1:]
        reach = self._reach()
        if any(r >= n for r, n in zip(reach, shape)):
            raise ValueError(f"the supercell {shape} is too small for force constants reaching {reach} cells.")
        # One periodic pad, then every neighbour is a shifted slice of it (cheaper than a roll per pair).
        padded = jnp.pad(displacement, [(0, 0)] + [(r, r) for r in reach], mode="wrap")

        def shifted(channel, offset):
            window = tuple(slice(r + o, r + o + n) for r, o, n in zip(reach, offset, shape))
            return padded[(channel,) + window]

        diagonal = self._onsite()
        out = [
            sum(diagonal[s, i, j] * displacement[s * dof + j] for j in range(dof))
            for s in range(self.atoms)
            for i in range(dof)
        ]
        for p, (offset, (s, t)) in enumerate(zip(self.pair_offsets, self.pair_atoms)):
            pattern, phi = self.coupling_pattern[p], self.pair_force_constants[p]
            back = tuple(-o for o in offset)
            if s == t and self.symmetric_pairs[p]:  # Φ (u_{m+R} + u_{m−R}) on the same atom: one sum of two slices
                for j in range(dof):
                    if not any(pattern[i][j] for i in range(dof)):
                        continue
                    neighbours = shifted(s * dof + j, offset) + shifted(s * dof + j, back)
                    for i in range(dof):
                        if pattern[i][j]:
                            out[s * dof + i] = out[s * dof + i] + phi[i, j] * neighbours
                continue
            for j in range(dof):
                ahead, behind = None, None
                for i in range(dof):
                    if pattern[i][j]:  # Φ_ij u_{m+R, t, j} onto atom s
                        ahead = shifted(t * dof + j, offset) if ahead is None else ahead
                        out[s * dof + i] = out[s * dof + i] + phi[i, j] * ahead
                    if pattern[j][i]:  # (Φᵀ)_ij u_{m−R, s, j} onto atom t
                        behind = shifted(s * dof + j, back) if behind is None else behind
                        out[t * dof + i] = out[t * dof + i] + phi[j, i] * behind
        return jnp.stack(out)

    def _onsite(self) -> Float[Array, "atoms dof dof"]:
        """The on-site blocks ``Φ(0s; 0s) = C_s − Σ_{p at s} Φ_p − Σ_{p at t=s} Φ_pᵀ``."""
        if not self.pair_atoms:
            return self.confinement
        s, t = (np.asarray(index, dtype=int) for index in zip(*self.pair_atoms))
        phi = self.pair_force_constants
        return self.confinement.at[s].add(-phi).at[t].add(-jnp.swapaxes(phi, -1, -2))

    def potential_energy(self, displacement: Float[Array, " channels *cells"]) -> Float[Array, ""]:
        """Harmonic energy ``ρᵀΞρ/2`` of supercell displacements."""
        return 0.5 * jnp.vdot(displacement, self.apply_coupling(displacement))

    def kinetic_energy(self, velocity: Float[Array, " channels *cells"]) -> Float[Array, ""]:
        """The framework's kinetic energy ``Σ m_s ρ'²/(8π²)``."""
        masses = self.channel_masses.reshape((-1,) + (1,) * (velocity.ndim - 1))
        return jnp.sum(masses * velocity**2) / (8 * np.pi**2)


@eqx.filter_jit
def _perturbation_bound(lattice: Lattice, q: Float[Array, "points dim"], directions: Float[Array, "directions dim"]) -> Float[Array, ""]:
    """``2π max |∂ω_u/∂ε|`` over points, branches and directions (:meth:`Lattice._max_group_velocity_by_perturbation`)."""
    modes = lattice.modes(q)
    eta, omega = modes.eta, modes.omega
    moving = omega > 1e-6 * jnp.max(omega)

    def along(direction):
        _, derivative = jax.jvp(lattice.dynamical_matrix, (q,), (jnp.broadcast_to(direction, q.shape),))
        slope = jnp.einsum("pcb,pcd,pdb->pb", jnp.conj(eta), derivative, eta).real
        return jnp.max(jnp.where(moving, jnp.abs(slope) / (2 * jnp.where(moving, omega, 1.0)), 0.0))

    return 2 * jnp.pi * jnp.max(jax.lax.map(along, directions))
