"""Builders of lattices: paper 1's and paper 2's model lattices from bonds, any Bravais lattice from neighbour
blocks, and any crystal with a basis from its real-space force constants (see :mod:`jaxion.lattice`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import jax.numpy as jnp
import numpy as np
import numpy.typing as npt
from jaxtyping import Array, ArrayLike

from .._validation import ArrayInput, RealScalar, check_finite, check_positive, is_concrete
from ._core import Lattice

__all__ = ["chain3d", "chain3d_constants", "chain", "simple_cubic", "bravais_lattice", "crystal", "supercell_echo_time", "ASR_MODES"]

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


def _bonds(vectors, springs, confinement, offsets, *, polarisation=None, name: str, mass: RealScalar = 1.0) -> Lattice:
    """A Bravais lattice from paper 1's bonds: spring blocks ``K_v`` (energy ``½(ρ_m − ρ_{m+v})ᵀK_v(ρ_m − ρ_{m+v})``)
    are the pair blocks ``Φ_v = −K_v``."""
    return Lattice(vectors, confinement, -jnp.asarray(springs, float), offsets, polarisation=polarisation, name=name,
                   masses=jnp.reshape(jnp.asarray(mass, float), (1,)))


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
    return _bonds(vectors, jnp.diag(k)[None], jnp.diag(c), [(1,)], name="chain3d")


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
    return _bonds(
        vectors,
        jnp.reshape(jnp.asarray(coupling, float), (1, 1, 1)),
        jnp.reshape(jnp.asarray(confinement, float), (1, 1)),
        [(1,)],
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
    return _bonds(jnp.eye(3) * jnp.asarray(spacing, float), jnp.stack(blocks), jnp.zeros((3, 3)), offsets, name="simple_cubic")


def _check_cell(primitive_vectors) -> np.ndarray:
    vectors = np.asarray(primitive_vectors, dtype=float)
    if vectors.ndim != 2 or vectors.shape[0] != 3 or not 1 <= vectors.shape[1] <= 3:
        raise ValueError(f"primitive_vectors must have shape (3, dim) with dim in 1..3; got {vectors.shape}.")
    check_finite("primitive_vectors", vectors)
    if np.linalg.matrix_rank(vectors, tol=1e-10 * max(float(np.max(np.abs(vectors))), 1e-300)) < vectors.shape[1]:
        raise ValueError(
            f"primitive_vectors are linearly dependent (zero cell volume); got {vectors.T.tolist()} (as rows)."
        )
    return vectors


def bravais_lattice(
    primitive_vectors: ArrayInput,
    neighbours: Iterable[tuple[Sequence[float] | np.ndarray | Array, npt.ArrayLike]],
    confinement: ArrayLike | None = None,
    name: str = "bravais",
    mass: RealScalar = 1.0,
) -> Lattice:
    """A general Bravais lattice (one atom per cell) from Cartesian neighbour vectors and 3×3 bond blocks.

    Args:
        primitive_vectors: ``(3, 3)`` with the lattice vectors as columns (or ``(3, dim)``).
        neighbours: pairs ``(r, K)``: a Cartesian neighbour vector ``r`` (a lattice vector) and the
            3×3 symmetric force-constant block of that bond. Give one of each ``±r`` pair (a pair given
            twice is an error); the energy of the bond is ``½ (ρ_m − ρ_n)ᵀ K (ρ_m − ρ_n)``.
        confinement: optional ``(3, 3)`` on-site spring matrix (default zero).
        mass: the atom's mass in units of the reference mass.
    """
    vectors = _check_cell(primitive_vectors)
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
    return _bonds(vectors, jnp.stack(blocks), jnp.asarray(confinement, float), offsets, name=name, mass=mass)


ASR_MODES = ("enforce", "check", "keep")
_ASR_TOLERANCE = 1e-8  # relative violation of the acoustic sum rule accepted as rounding
_ASR_LIMIT = 1e-2  # relative violation beyond which the force constants are refused as wrong


def crystal(
    primitive_vectors: ArrayInput,
    basis_positions: ArrayInput,
    masses: ArrayInput,
    force_constants: Iterable[tuple],  # (R, s, t, block) entries, each checked below with a message naming it
    *,
    species: Sequence[str] | None = None,
    acoustic_sum_rule: str = "enforce",
    name: str = "crystal",
) -> Lattice:
    """A crystal with a basis from its real-space force constants ``Φ(0s; R t)``.

    Args:
        primitive_vectors: ``(3, 3)`` lattice vectors as columns (units of the length scale).
        basis_positions: ``(atoms, 3)`` fractional positions ``τ_s`` of the atoms.
        masses: ``(atoms,)`` masses in units of the reference mass.
        force_constants: entries ``(R, s, t, Φ)``: the ``3×3`` block ``Φ(0s; R t) = ∂²V/∂u_{0s}∂u_{Rt}`` for the
            integer cell offset ``R``, including the on-site blocks ``(0, s, s, Φ(0s; 0s))``. Each pair may be given
            once or together with its partner ``(−R, t, s)``; a partner must equal the transpose (``D(q)`` is then
            Hermitian), else ``ValueError``. Repeated entries of the same ``(R, s, t)`` are summed (the
            multiplicities of a supercell's periodic images, as phonopy splits them).
        species: ``(atoms,)`` species names (for one pair potential per species).
        acoustic_sum_rule: what to do with ``C_s = Σ_{R,t} Φ(0s; R t)``, which is zero for a free crystal:
            ``"enforce"`` (default) sets it to zero (the on-site blocks absorb the difference; a warning when it
            exceeds 1e-8 of the largest block), ``"check"`` refuses a violation above 1e-8, ``"keep"`` keeps it as an
            on-site confinement. A violation above 1e-2 is refused in every mode (the data are wrong).
        name: a label.
    """
    import warnings

    if acoustic_sum_rule not in ASR_MODES:
        raise ValueError(f"unknown acoustic_sum_rule {acoustic_sum_rule!r}; valid options are {list(ASR_MODES)}.")
    vectors = _check_cell(primitive_vectors)
    dim = vectors.shape[1]
    positions = np.asarray(basis_positions, dtype=float)
    if positions.ndim > 2 or (positions.ndim == 2 and positions.shape[1] != dim) or positions.size % dim:
        raise ValueError(f"basis_positions must have shape (atoms, {dim}) (fractional coordinates of a {dim}D cell); "
                         f"got shape {positions.shape}.")
    positions = positions.reshape(-1, dim)
    check_finite("basis_positions", positions)
    atoms = positions.shape[0]
    masses = np.asarray(masses, dtype=float).reshape(-1)
    if masses.shape != (atoms,):
        raise ValueError(f"masses must give one mass per atom ({atoms}); got {masses.shape[0]}.")
    check_positive("masses", masses)
    onsite = np.zeros((atoms, 3, 3))
    has_onsite = np.zeros(atoms, bool)
    pairs: dict[tuple[tuple[int, ...], int, int], np.ndarray] = {}
    for entry in force_constants:
        offset, s, t, block = entry
        offset = tuple(int(i) for i in np.asarray(offset).reshape(-1))
        block = np.asarray(block, dtype=float)
        if len(offset) != dim or block.shape != (3, 3) or not (0 <= int(s) < atoms and 0 <= int(t) < atoms):
            raise ValueError(f"every force constant must be (R (dim ints), s, t, 3×3 block) with atoms 0..{atoms - 1}; got R={offset}, "
                             f"s={s}, t={t}, block shape {block.shape}.")
        check_finite("force_constants", block)
        s, t = int(s), int(t)
        if s == t and not any(offset):
            onsite[s] += block
            has_onsite[s] = True
            continue
        key = (offset, s, t)
        pairs[key] = pairs.get(key, 0.0) + block
    merged: dict[tuple[tuple[int, ...], int, int], np.ndarray] = {}
    scale = max([float(np.max(np.abs(b))) for b in pairs.values()] + [float(np.max(np.abs(onsite)))]) or 1.0
    for (offset, s, t), block in sorted(pairs.items()):
        partner = (tuple(-i for i in offset), t, s)
        if partner in merged:
            continue
        if partner in pairs:
            other = pairs[partner]
            if not np.allclose(other, block.T, rtol=0.0, atol=1e-6 * scale):
                raise ValueError(
                    f"the force constants make D(q) non-Hermitian: Φ(0{t}; {partner[0]} {s}) differs from Φ(0{s}; {offset} {t})ᵀ by "
                    f"{float(np.max(np.abs(other - block.T))):.3g} (largest block {scale:.3g}). Give each pair once, or both consistently."
                )
            block = 0.5 * (block + other.T)
        merged[(offset, s, t)] = block
    # acoustic sum C_s = Φ(0s;0s) + Σ over every (R, t) ≠ (0, s): each stored pair p adds Φ_p to s and Φ_pᵀ to t
    confinement = onsite.copy()
    for (offset, s, t), block in merged.items():
        confinement[s] += block
        confinement[t] += block.T
    confinement = 0.5 * (confinement + np.swapaxes(confinement, -1, -2))
    violation = float(np.max(np.abs(confinement))) / scale
    if violation > _ASR_LIMIT:
        missing = np.flatnonzero(~has_onsite).tolist()
        hint = (f" No on-site block (0, s, s, Φ(0s; 0s)) was given for atom(s) {missing}: include them "
                "(Φ(0s; 0s) = −Σ_(R,t)≠(0,s) Φ(0s; R t) for a free crystal)." if missing else "")
        raise ValueError(
            f"the force constants break the acoustic sum rule by {violation:.3g} of the largest block (Σ_R,t Φ(0s; R t) ≠ 0): "
            f"they do not describe a free crystal (wrong units, a truncated list, or blocks of another structure).{hint}"
        )
    if acoustic_sum_rule == "check" and violation > _ASR_TOLERANCE:
        raise ValueError(
            f"the force constants break the acoustic sum rule by {violation:.3g} of the largest block (acoustic_sum_rule='check')."
        )
    if acoustic_sum_rule == "enforce":
        if violation > _ASR_TOLERANCE:
            warnings.warn(
                f"the force constants break the acoustic sum rule by {violation:.3g} of the largest block; corrected by shifting the "
                "on-site blocks (acoustic_sum_rule='enforce'; 'check' refuses, 'keep' keeps it as a confinement).",
                RuntimeWarning,
                stacklevel=2,
            )
        confinement = np.zeros_like(confinement)
    keys = list(merged)
    return Lattice(
        vectors,
        confinement,
        np.stack([merged[k] for k in keys]) if keys else np.zeros((0, 3, 3)),
        [k[0] for k in keys],
        [(k[1], k[2]) for k in keys],
        basis_positions=positions,
        masses=masses,
        species=species,
        name=name,
    )


def supercell_echo_time(lattice: Lattice, supercell: Sequence[int]) -> float:
    """Time (τ) after which a disturbance started at one site first returns to it around the
    periodic supercell: the shortest period ``min_i N_i |a_i|`` over the fastest group velocity."""
    lengths = [int(n) * float(np.linalg.norm(np.asarray(lattice.primitive_vectors)[:, i])) for i, n in enumerate(supercell)]
    return min(lengths) / lattice.max_group_velocity()
