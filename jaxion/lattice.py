"""Harmonic frameworks: Bravais lattices of identical masses with harmonic couplings.

Conventions (paper 1, Sec. II; ``shared/NOTES.md``): the framework energy is
``ρ'²/(8π²) + ρᵀΞρ/2`` with dimensionless time τ (periods ``2π/Ω``) and lengths in the oscillator
length ``l``. A lattice here is a set of *bonds*: for each bond offset ``v`` (integer cell offsets; only
one of ``±v`` is stored) a 3×3 (or dof×dof) force-constant block ``K_v``, plus an on-site confinement
``C``. The coupling is

    (Ξρ)_m = C ρ_m + Σ_v K_v (2ρ_m − ρ_{m+v} − ρ_{m−v})

so that the dynamical matrix is

    D(q) = C + Σ_v 2 K_v (1 − cos q·v)                                   (1.12), (1.19)

with ``q`` the *reduced* wavevector (phase per cell step, Brillouin zone ``[−π, π]^dim``); the free
modes evolve as ``exp(2πiωτ)`` with ``ω² ∈ eig D(q)``.

The coupling is applied matrix-free on a periodic supercell by array shifts (``jnp.roll``): memory
is O(number of atoms) and no sparse or dense matrix is ever built. Zero entries of the blocks (the
cubic lattice's blocks ``k v̂v̂ᵀ`` are mostly zero) are skipped when the lattice is built from
concrete numbers.

Displacements are stored channels-first, ``(dof, *supercell)``. ``dof`` is 3 when the masses move in
3D and 1 for paper 2's chain whose masses move along it only; ``polarisation`` (3 × dof) maps the
displacement components to Cartesian directions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt
from jaxtyping import Array, ArrayLike, Float

from ._validation import RealScalar, check_finite, check_positive, is_concrete

__all__ = [
    "Lattice",
    "ZoneModes",
    "chain3d",
    "chain3d_constants",
    "chain",
    "simple_cubic",
    "bravais_lattice",
    "supercell_echo_time",
]


_GROUP_VELOCITY_CACHE: dict = {}


def _as_tuple_matrix(matrix) -> tuple[tuple[float, ...], ...]:
    return tuple(tuple(float(x) for x in row) for row in np.asarray(matrix))


class ZoneModes(eqx.Module):
    """Normal modes of a lattice at a set of reduced wavevectors (from :meth:`Lattice.modes`).

    The one container of spectra in jaxion: mode sums (1.11)/(1.13), response kernels (2.13), the thermal
    bath and the memory engine's zone grid all hold one of these.

    Attributes:
        nodes: ``(*q, dim)`` reduced wavevectors ``q``.
        omega2: ``(*q, branches)`` squared frequencies ``ω_u(q)²``, ascending (eigenvalues of ``D(q)``;
            not clipped: a tiny negative value is rounding at ``q = 0``, a large one an instability).
        eta: ``(*q, dof, branches)`` polarisations ``η_u(q)`` in displacement components (columns).
        polarisations: ``(*q, 3, branches)`` Cartesian polarisations ``P η_u(q)``.
        weights: ``(*q,)`` zone-average weights of the nodes (a quadrature's), or ``None``.
    """

    nodes: Float[Array, "*q dim"]
    omega2: Float[Array, "*q branches"]
    eta: Float[Array, "*q dof branches"]
    polarisations: Float[Array, "*q 3 branches"]
    weights: Float[Array, "*q"] | None = None

    @property
    def omega(self) -> Float[Array, "*q branches"]:
        """Frequencies ``ω_u(q) = sqrt(max(ω², 0))``."""
        return jnp.sqrt(jnp.clip(self.omega2, 0.0))


class Lattice(eqx.Module):
    """A Bravais lattice (one mass per cell, unit mass) with harmonic bonds and confinement.

    Build one with :func:`chain3d`, :func:`chain`, :func:`simple_cubic` or :func:`bravais_lattice`.

    Attributes:
        primitive_vectors: ``(3, dim)``; column ``i`` is the Cartesian lattice vector ``a_i`` (units of l).
        force_constants: ``(bonds, dof, dof)``; block ``K_v`` of each stored bond (one of each ±v pair).
        confinement: ``(dof, dof)``; on-site spring matrix ``C`` (κ in paper 1).
        bond_offsets: static ``(bonds, dim)`` integer cell offsets of the stored bonds.
        polarisation: static ``(3, dof)`` map from displacement components to Cartesian axes.
        coupling_pattern: static ``(bonds, dof, dof)`` booleans; ``False`` entries are skipped in the
            stencil (computed from the blocks when they are concrete, else all ``True``).
        name: static label used in output files.
    """

    primitive_vectors: Float[Array, "3 dim"]
    force_constants: Float[Array, "bonds dof dof"]
    confinement: Float[Array, "dof dof"]
    bond_offsets: tuple[tuple[int, ...], ...] = eqx.field(static=True)
    polarisation: tuple[tuple[float, ...], ...] = eqx.field(static=True)
    coupling_pattern: tuple[tuple[tuple[bool, ...], ...], ...] = eqx.field(static=True)
    name: str = eqx.field(static=True)

    def __init__(
        self,
        primitive_vectors,
        force_constants,
        confinement,
        bond_offsets: Sequence[Sequence[int]],
        polarisation=None,
        name: str = "lattice",
    ):
        self.primitive_vectors = jnp.asarray(primitive_vectors, dtype=float)
        self.force_constants = jnp.asarray(force_constants, dtype=float)
        self.confinement = jnp.asarray(confinement, dtype=float)
        self.bond_offsets = tuple(tuple(int(i) for i in v) for v in bond_offsets)
        dof = self.confinement.shape[-1]
        if polarisation is None:
            if dof != 3:
                raise ValueError(f"polarisation must be given when dof = {dof} != 3.")
            polarisation = np.eye(3)
        self.polarisation = _as_tuple_matrix(polarisation)
        if is_concrete(self.force_constants):
            pattern = np.abs(np.asarray(self.force_constants)) > 0
        else:
            pattern = np.ones(self.force_constants.shape, dtype=bool)
        self.coupling_pattern = tuple(
            tuple(tuple(bool(x) for x in row) for row in block) for block in pattern
        )
        self.name = name

    def __check_init__(self):
        dim = self.primitive_vectors.shape[-1]
        dof = self.confinement.shape[-1]
        if self.primitive_vectors.shape != (3, dim) or dim not in (1, 2, 3):
            raise ValueError(
                f"primitive_vectors must have shape (3, dim) with dim in 1..3; got {self.primitive_vectors.shape}."
            )
        if self.confinement.shape != (dof, dof):
            raise ValueError(f"confinement must be square (dof, dof); got {self.confinement.shape}.")
        if self.force_constants.shape != (len(self.bond_offsets), dof, dof):
            raise ValueError(
                "force_constants must have shape (bonds, dof, dof) = "
                f"({len(self.bond_offsets)}, {dof}, {dof}); got {self.force_constants.shape}."
            )
        if any(len(v) != dim for v in self.bond_offsets):
            raise ValueError(f"every bond offset must have {dim} integers; got {self.bond_offsets}.")
        if any(all(i == 0 for i in v) for v in self.bond_offsets):
            raise ValueError("a bond offset of zero is the on-site term: pass it as `confinement`.")
        if np.asarray(self.polarisation).shape != (3, dof):
            raise ValueError(f"polarisation must have shape (3, {dof}); got {np.asarray(self.polarisation).shape}.")
        if is_concrete((self.force_constants, self.confinement, self.primitive_vectors)):
            check_finite("force_constants", self.force_constants)
            check_finite("confinement", self.confinement)
            check_finite("primitive_vectors", self.primitive_vectors)
            blocks = np.concatenate([np.asarray(self.force_constants), np.asarray(self.confinement)[None]])
            if not np.allclose(blocks, np.swapaxes(blocks, -1, -2), atol=1e-12):
                raise ValueError("force-constant blocks and confinement must be symmetric matrices.")
            if not np.any(blocks):
                raise ValueError(
                    "force_constants and confinement are all zero: the framework has no springs (every mode has "
                    "zero frequency). Give at least one nonzero force constant or confinement."
                )
            gram = np.asarray(self.primitive_vectors).T @ np.asarray(self.primitive_vectors)
            lengths = np.diag(gram)
            # scale-free test (a lattice in units of 1e-14 is as valid as one in units of 1)
            if np.any(lengths <= 0) or np.linalg.det(gram) <= 1e-12 * np.prod(lengths):
                raise ValueError(
                    "primitive_vectors are linearly dependent (zero cell volume); got "
                    f"{np.asarray(self.primitive_vectors).T.tolist()} (as rows)."
                )
            lowest = float(np.min(np.linalg.eigvalsh(np.asarray(self.dynamical_matrix(self.zone_grid(9))))))
            scale = float(np.max(np.abs(blocks))) or 1.0
            if lowest < -1e-9 * scale:
                raise ValueError(
                    f"the lattice is unstable: the dynamical matrix has a negative eigenvalue ({lowest:.3g}); "
                    "force constants must make D(q) positive semi-definite."
                )

    # ------------------------------------------------------------------ geometry
    @property
    def dim(self) -> int:
        """Number of lattice directions (1 for a chain, 3 for a crystal)."""
        return self.primitive_vectors.shape[-1]

    @property
    def dof(self) -> int:
        """Displacement components per mass (3, or 1 for a longitudinal-only chain)."""
        return self.confinement.shape[-1]

    @property
    def polarisation_matrix(self) -> np.ndarray:
        """``(3, dof)`` map from displacement components to Cartesian axes."""
        return np.asarray(self.polarisation, dtype=float)

    def positions(self, cells) -> Float[Array, "... 3"]:
        """Cartesian equilibrium positions ``R = Σ_i n_i a_i`` of integer cells ``(..., dim)``."""
        return jnp.asarray(cells, dtype=float) @ self.primitive_vectors.T

    def bond_vectors(self) -> Float[Array, "bonds 3"]:
        """Cartesian vectors of the stored bonds."""
        return self.positions(np.asarray(self.bond_offsets))

    # ------------------------------------------------------------------ spectrum
    #
    # Every spectrum in jaxion (mode sums, kernels, the thermal bath, stability and echo checks) comes from
    # `modes` (or, for callers that hold the bond phases' cosines already, `dynamical_matrix_from_cosines`):
    # the lattice is the only source of its D(q).

    def dynamical_matrix(self, q: Float[ArrayLike, "... dim"]) -> Float[Array, "... dof dof"]:
        """``D(q) = C + Σ_v 2K_v (1 − cos q·v)`` for reduced wavevectors ``q`` (1.12), (1.19)."""
        q = jnp.asarray(q, dtype=float)
        return self.dynamical_matrix_from_cosines(jnp.cos(q @ jnp.asarray(self.bond_offsets, dtype=float).T))

    def dynamical_matrix_from_cosines(self, cosines: Float[ArrayLike, "... bonds"]) -> Float[Array, "... dof dof"]:
        """``D = C + Σ_v 2K_v (1 − c_v)`` from the cosines ``c_v = cos q·v`` of the bond phases, for callers
        that get them more cheaply than from ``q`` (the binned kernel's grid slices, by angle addition)."""
        weight = 2.0 * (1.0 - jnp.asarray(cosines, dtype=float))
        return self.confinement + jnp.einsum("...b,bij->...ij", weight, self.force_constants)

    def modes(self, q: Float[ArrayLike, "*q dim"], weights: Float[ArrayLike, "*q"] | None = None) -> ZoneModes:
        """The normal modes at reduced wavevectors ``q`` (any batch shape): eigenpairs ``ω_u(q)², η_u(q)`` of
        ``D(q)`` (ascending; polarisations as columns) and the Cartesian polarisations ``P η``. ``weights``
        (zone-average weights of the nodes, e.g. a quadrature's) are carried along."""
        q = jnp.asarray(q, dtype=float)
        omega2, eta = jnp.linalg.eigh(self.dynamical_matrix(q))
        cartesian = jnp.einsum("ic,...cu->...iu", jnp.asarray(self.polarisation_matrix, float), eta)
        return ZoneModes(q, omega2, eta, cartesian, None if weights is None else jnp.asarray(weights, float))

    def frequencies(self, q: Float[ArrayLike, "... dim"]) -> Float[Array, "... dof"]:
        """Mode frequencies ``ω`` (ascending) at reduced wavevectors ``q``; ``ω² ∈ eig D(q)``."""
        return self.modes(q).omega

    def fingerprint(self) -> str:
        """SHA-256 of everything the spectrum depends on (force constants, confinement, cell vectors, bonds,
        polarisation): disk caches and precomputed kernels are keyed by it."""
        digest = hashlib.sha256()
        for array in (self.force_constants, self.confinement, self.primitive_vectors):
            digest.update(np.asarray(array, dtype=np.float64).tobytes())
        digest.update(repr((self.bond_offsets, self.polarisation)).encode())
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
        points = np.concatenate([q[None], q[None] + shifts[:, None], q[None] - shifts[:, None]])  # (1 + 2n, P, dim)
        with jax.ensure_compile_time_eval():
            omega = np.asarray(self.modes(points).omega)
        centre, forward, backward = omega[0], omega[1 : 1 + len(shifts)], omega[1 + len(shifts) :]
        best = max(float(np.max(np.abs(forward - centre))), float(np.max(np.abs(centre - backward)))) / step
        return 2 * np.pi * best

    def long_wavelength_coefficients(self) -> Float[Array, "dof dof 3 3"]:
        """``A_ik,jl = Σ_v (K_v)_ik (r_v)_j (r_v)_l`` (Cartesian bond vectors ``r_v``), so that
        ``S(n̂)_ik = Σ_jl A_ik,jl n̂_j n̂_l``: the long-wavelength expansion ``D ≈ C + |k|² S(n̂)``
        (paper 1, before (1.22)); elastic constants follow from it (method of long waves)."""
        r = self.bond_vectors()
        return jnp.einsum("bik,bj,bl->ikjl", self.force_constants, r, r)

    def long_wavelength_tensor(self, direction: Float[ArrayLike, "... 3"]) -> Float[Array, "... dof dof"]:
        """``S(n̂) = Σ_v K_v (n̂·r_v)²`` with Cartesian bond vectors ``r_v``: ``D ≈ C + |k|² S(n̂)``
        for small Cartesian wavevector ``k = |k| n̂`` (paper 1, before (1.22))."""
        direction = jnp.asarray(direction, dtype=float)
        direction = direction / jnp.linalg.norm(direction, axis=-1, keepdims=True)
        return jnp.einsum("ikjl,...j,...l->...ik", self.long_wavelength_coefficients(), direction, direction)

    @property
    def acoustic(self) -> bool:
        """Whether ``D(0) = 0`` (an unconfined lattice: acoustic branches start at ``ω = 0``)."""
        with jax.ensure_compile_time_eval():
            d0 = np.asarray(self.dynamical_matrix(np.zeros(self.dim)))
        return bool(np.all(np.abs(d0) <= 1e-12 * max(float(np.max(np.abs(np.asarray(self.force_constants)))), 1e-300)))

    @property
    def cell_volume(self) -> Float[Array, ""]:
        """Volume (length, area) of the primitive cell: ``sqrt(det(AᵀA))``."""
        a = self.primitive_vectors
        return jnp.sqrt(jnp.linalg.det(a.T @ a))

    # ------------------------------------------------------------------ supercell operations
    def apply_coupling(self, displacement: Float[Array, " dof *cells"]) -> Float[Array, " dof *cells"]:
        """Matrix-free ``Ξρ`` on a periodic supercell (displacements channels-first)."""
        dof, dim = self.dof, self.dim
        if displacement.ndim != 1 + dim or displacement.shape[0] != dof:
            raise ValueError(
                f"displacement must have shape (dof={dof}, *supercell) with {dim} supercell axes; "
                f"got {displacement.shape}."
            )
        shape = displacement.shape[1:]
        reach = [max(abs(v[a]) for v in self.bond_offsets) for a in range(dim)]
        if any(r >= n for r, n in zip(reach, shape)):
            raise ValueError(f"the supercell {shape} is too small for bonds reaching {reach} cells.")
        # One periodic pad, then every neighbour is a shifted slice of it (cheaper than a roll per bond).
        padded = jnp.pad(displacement, [(0, 0)] + [(r, r) for r in reach], mode="wrap")

        def shifted(j, offset):
            window = tuple(slice(r + o, r + o + n) for r, o, n in zip(reach, offset, shape))
            return padded[(j,) + window]

        diagonal = self.confinement + 2.0 * jnp.sum(self.force_constants, axis=0)
        out = [sum(diagonal[i, j] * displacement[j] for j in range(dof)) for i in range(dof)]
        for b, offset in enumerate(self.bond_offsets):
            pattern = self.coupling_pattern[b]
            for j in range(dof):
                if not any(pattern[i][j] for i in range(dof)):
                    continue
                neighbours = shifted(j, offset) + shifted(j, tuple(-o for o in offset))
                for i in range(dof):
                    if pattern[i][j]:
                        out[i] = out[i] - self.force_constants[b, i, j] * neighbours
        return jnp.stack(out)

    def potential_energy(self, displacement: Float[Array, " dof *cells"]) -> Float[Array, ""]:
        """Harmonic energy ``ρᵀΞρ/2`` of supercell displacements."""
        return 0.5 * jnp.vdot(displacement, self.apply_coupling(displacement))


# ---------------------------------------------------------------------- builders


def chain3d_constants(
    coupling_parallel: RealScalar,
    coupling_perpendicular: RealScalar | None = None,
    confinement_parallel: RealScalar = 1.0,
    confinement_perpendicular: RealScalar | None = None,
) -> tuple[RealScalar, RealScalar, RealScalar, RealScalar]:
    """Paper 1's chain constants with their defaults (``k_⊥ = k_∥``, ``κ_⊥ = κ_∥``), validated:
    returns ``(k_∥, k_⊥, κ_∥, κ_⊥)``. Shared by :func:`chain3d` and the chain closed forms."""
    if coupling_perpendicular is None:
        coupling_perpendicular = coupling_parallel
    if confinement_perpendicular is None:
        confinement_perpendicular = confinement_parallel
    check_positive("coupling_parallel", coupling_parallel)
    check_positive("coupling_perpendicular", coupling_perpendicular)
    check_positive("confinement_parallel", confinement_parallel, allow_zero=True)
    check_positive("confinement_perpendicular", confinement_perpendicular, allow_zero=True)
    return coupling_parallel, coupling_perpendicular, confinement_parallel, confinement_perpendicular


def chain3d(
    coupling_parallel: RealScalar = 99 / 4,
    coupling_perpendicular: RealScalar | None = None,
    confinement_parallel: RealScalar = 1.0,
    confinement_perpendicular: RealScalar | None = None,
    spacing: RealScalar = 1.0,
) -> Lattice:
    """Paper 1's chain along ``z`` whose masses move in 3D (Fig. 1, (1.12)).

    ``ω_u² = κ_u + 4 k_u sin²(q/2)`` for ``u ∈ {x, y, z}`` with ``k_∥ = coupling_parallel``,
    ``k_⊥ = coupling_perpendicular`` (default: equal to ``k_∥``), ``κ_∥, κ_⊥`` the confinements
    (``κ_⊥`` defaults to ``κ_∥``) and lattice spacing ``spacing``.
    """
    coupling_parallel, coupling_perpendicular, confinement_parallel, confinement_perpendicular = chain3d_constants(
        coupling_parallel, coupling_perpendicular, confinement_parallel, confinement_perpendicular
    )
    check_positive("spacing", spacing)
    k = jnp.stack([jnp.asarray(coupling_perpendicular, float)] * 2 + [jnp.asarray(coupling_parallel, float)])
    c = jnp.stack([jnp.asarray(confinement_perpendicular, float)] * 2 + [jnp.asarray(confinement_parallel, float)])
    vectors = jnp.zeros((3, 1)).at[2, 0].set(spacing)
    return Lattice(vectors, jnp.diag(k)[None], jnp.diag(c), bond_offsets=[(1,)], name="chain3d")


def chain(
    omega_fast: RealScalar | None = 10.0,
    *,
    confinement: RealScalar | None = None,
    coupling: RealScalar | None = None,
    spacing: RealScalar = 40.0,
) -> Lattice:
    """Paper 2's chain along ``z`` whose masses move along it only.

    ``ω² = 1 + (ω_fast² − 1) sin²(q/2)``: confinement ``κ = 1`` and coupling ``k = (ω_fast² − 1)/4``.
    Alternatively give ``confinement`` and ``coupling`` directly (then ``omega_fast`` is ignored).
    """
    if coupling is None:
        check_positive("omega_fast", omega_fast)  # also rejects None (not finite)
        assert omega_fast is not None
        if is_concrete(omega_fast) and float(omega_fast) <= 1.0:
            raise ValueError(f"omega_fast must be > 1 (the band runs from 1 to ω_fast); got {omega_fast!r}.")
        coupling = (jnp.asarray(omega_fast, float) ** 2 - 1.0) / 4.0
        confinement = 1.0 if confinement is None else confinement
    confinement = 0.0 if confinement is None else confinement
    check_positive("coupling", coupling)
    check_positive("confinement", confinement, allow_zero=True)
    check_positive("spacing", spacing)
    vectors = jnp.zeros((3, 1)).at[2, 0].set(spacing)
    return Lattice(
        vectors,
        jnp.reshape(jnp.asarray(coupling, float), (1, 1, 1)),
        jnp.reshape(jnp.asarray(confinement, float), (1, 1)),
        bond_offsets=[(1,)],
        polarisation=[[0.0], [0.0], [1.0]],
        name="chain",
    )


def simple_cubic(k1: RealScalar = 15.0, k2: RealScalar = 5.0, spacing: RealScalar = 2.0) -> Lattice:
    """Paper 1's simple cubic lattice (1.18)–(1.19): central springs ``k1`` to the 6 nearest and
    ``k2`` to the 12 next-nearest neighbours, block ``k v̂v̂ᵀ`` per bond, lattice constant ``spacing``."""
    check_positive("k1", k1, allow_zero=True)
    check_positive("k2", k2, allow_zero=True)
    check_positive("spacing", spacing)
    if is_concrete((k1, k2)) and float(k1) == 0.0 and float(k2) == 0.0:
        raise ValueError("k1 and k2 are both 0: the cubic lattice would have no springs; give k1 > 0 or k2 > 0.")
    offsets, blocks = [], []
    nearest = [(1, 0, 0), (0, 1, 0), (0, 0, 1)]
    next_nearest = [(1, 1, 0), (1, -1, 0), (1, 0, 1), (1, 0, -1), (0, 1, 1), (0, 1, -1)]
    for group, k in ((nearest, k1), (next_nearest, k2)):
        for v in group:
            unit = np.asarray(v, float) / np.linalg.norm(v)
            offsets.append(v)
            blocks.append(jnp.asarray(k, float) * np.outer(unit, unit))
    return Lattice(
        jnp.eye(3) * jnp.asarray(spacing, float),
        jnp.stack(blocks),
        jnp.zeros((3, 3)),
        bond_offsets=offsets,
        name="simple_cubic",
    )


def bravais_lattice(
    primitive_vectors,
    neighbours: Iterable[tuple[Sequence[float] | np.ndarray | Array, npt.ArrayLike]],
    confinement=None,
    name: str = "bravais",
) -> Lattice:
    """A general Bravais lattice (one mass per cell) from Cartesian neighbour vectors and 3×3 blocks.

    Args:
        primitive_vectors: ``(3, 3)`` with the lattice vectors as columns (or ``(3, dim)``).
        neighbours: pairs ``(r, K)``: a Cartesian neighbour vector ``r`` (a lattice vector) and the
            3×3 symmetric force-constant block of that bond. Give one of each ``±r`` pair (a pair given
            twice is an error); the energy of the bond is ``½ (ρ_m − ρ_n)ᵀ K (ρ_m − ρ_n)``.
        confinement: optional ``(3, 3)`` on-site spring matrix (default zero).
    """
    vectors = np.asarray(primitive_vectors, dtype=float)
    if vectors.ndim != 2 or vectors.shape[0] != 3 or not 1 <= vectors.shape[1] <= 3:
        raise ValueError(f"primitive_vectors must have shape (3, dim) with dim in 1..3; got {vectors.shape}.")
    check_finite("primitive_vectors", vectors)
    if np.linalg.matrix_rank(vectors, tol=1e-10 * max(float(np.max(np.abs(vectors))), 1e-300)) < vectors.shape[1]:
        raise ValueError(
            f"primitive_vectors are linearly dependent (zero cell volume); got {vectors.T.tolist()} (as rows)."
        )
    neighbours = list(neighbours)
    if not neighbours:
        raise ValueError("neighbours must list at least one bond (r, K); got an empty list.")
    offsets, blocks = [], []
    for r, block in neighbours:
        if np.shape(r) != (3,):
            raise ValueError(f"every neighbour vector r must be a Cartesian 3-vector; got {r!r}.")
        if np.shape(block) != (3, 3):
            raise ValueError(f"every neighbour block K must be a 3×3 matrix; got shape {np.shape(block)} for r = {tuple(r)}.")
        cell, *_ = np.linalg.lstsq(vectors, np.asarray(r, dtype=float), rcond=None)
        rounded = np.rint(cell).astype(int)
        if not np.allclose(vectors @ rounded, r, atol=1e-8):
            raise ValueError(f"neighbour vector {tuple(r)} is not a lattice vector of the given primitive_vectors.")
        if tuple(rounded) in offsets or tuple(-rounded) in offsets:
            raise ValueError(f"neighbour vector {tuple(r)} is given twice (as ±r); give each bond once.")
        offsets.append(tuple(int(i) for i in rounded))
        blocks.append(jnp.asarray(block, dtype=float))
    if confinement is None:
        confinement = jnp.zeros((3, 3))
    return Lattice(vectors, jnp.stack(blocks), jnp.asarray(confinement, float), bond_offsets=offsets, name=name)


def supercell_echo_time(lattice: Lattice, supercell: Sequence[int]) -> float:
    """Time (τ) after which a disturbance started at one site first returns to it around the
    periodic supercell: the shortest period ``min_i N_i |a_i|`` over the fastest group velocity."""
    lengths = [int(n) * float(np.linalg.norm(np.asarray(lattice.primitive_vectors)[:, i])) for i, n in enumerate(supercell)]
    return min(lengths) / lattice.max_group_velocity()

