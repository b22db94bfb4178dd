"""The response kernel (2.13)/(1.10) of a 2D/3D lattice on a long uniform time grid, by frequency binning.

:func:`jaxion.kernels.kernel_by_differences` sums every zone-grid mode at every time: ``modes ×
times`` work. Paper 1's Fig. 6 (``τ = 30``) needs the grid ``K = 1051`` to stay echo-free (5.8e8 wavevectors,
1.7e9 modes) and 6 000–30 000 times: ~1e14 terms. This module computes *the same zone sum* with
``modes + bins × times`` work, in three exact steps:

1. **Symmetry.** The zone grid is folded by the signed axis permutations ``S`` that leave the dynamical
   matrix invariant (``D(Sq) = S D(q) Sᵀ``, checked numerically) and map every site difference to ``±``
   itself (so ``cos(Sq·n) = cos(q·n)``). Each orbit is visited once with its size as weight, and the
   tensors are averaged over the group at the end (``Σ_orbit P(q') = |orbit| ⟨S P(q) Sᵀ⟩_S``). Sites on a
   line along an axis of the simple cubic lattice (Fig. 6) fold the grid 16-fold.
2. **Binning.** Modes are grouped in frequency bins of width ``δω`` centred at ``c_b``; inside a bin
   ``e^{2πiωτ} = e^{2πi c_b τ} Σ_k (2πiτ x)^k/k!`` with ``x = ω − c_b``, ``|x| ≤ δω/2``. The moments
   ``M_{b,k} = Σ_(q,u) A_(q,u) x^k/ω`` (``A`` = weight × ``cos(q·n)`` × polarisation tensor) are
   accumulated once; ``δω`` and the number of moments are chosen so that the truncated series is exact
   to ``< 1e-11`` (relative, per mode) for every ``τ`` of the grid.
3. **FFT in time.** With ``δω = 1/(N dt)`` the sum over bins at ``τ_l = l·dt`` is a length-``N`` DFT:
   ``G(τ_l) = Im[e^{iπl/N} Σ_k (2πiτ_l)^k/k! · DFT(M_{·,k})_l]``.

The last axis is processed slice by slice (``q_last`` fixed), so memory stays ``O(K^{dim−1})`` and the
phase ``cos(q·n)`` factorises into a per-slice part and a per-point part shared by all differences with
the same transverse offset. The result is the zone sum of :func:`jaxion.kernels.kernel_by_differences` on the same grid
(twisted or periodic), to ~1e-11 relative (tested); its range of validity is the grid's
(:func:`jaxion.kernels.kernel_valid_time`). The binning is the classical histogram
representation of the projected density of states (the "sine transform of a projected DOS" route), made
exact by the moments instead of smoothed.

Crystals with a basis
---------------------
An entry is ``(Δn, s, t)``: the response of atom ``s`` of cell ``Δn`` to a force on atom ``t`` of cell 0, the zone sum
(2.13)/(1.10) with complex modes (:func:`jaxion.kernels.kernel_by_differences`, ``atom_pairs``)::

    G_(Δn,s,t)(τ) = (1/K^dim) Σ_q Σ_u Re[e_{s,u}(q) e_{t,u}(q)^† e^{iq·(Δn + τ_s − τ_t)}] sin(2πω_u τ)/(ω_u sqrt(m_s m_t))

(``e`` the eigenvectors of the Hermitian, mass-weighted ``D(q)`` in phonopy's phase convention, ``τ_s`` the atoms'
fractional positions). The same three steps, with these differences:

1. **Symmetry: time reversal only.** ``D(−q) = D(q)^*`` is exact for every crystal, so slice ``q_l`` and its partner
   ``−q_l`` (with ``−q⊥``) give complex-conjugate moments: each pair of slices is visited once with weight 2 and the
   real part taken (a factor 2 in work). The point-group operations of a crystal with a basis permute its atoms
   (``D(Sq) = U_S D(q) U_S^†``) and map a tracked site pair onto another one; they are not used.
2. **Binning with complex moments.** For one slice, the modes of each bin give, per transverse group ``g = (Δn⊥, s,
   t)``, ``H_{g,b,k} = Σ e^{iq⊥·Δx⊥_g} e_s e_t^† x^k/(k! ω sqrt(m_s m_t))`` (``3 × 3`` complex); an entry of the group
   then adds ``Re[e^{iq_l Δx_l} H_g]``. A group and its partner ``(−Δn⊥, t, s)`` are each other's conjugate transpose
   and share one column set; an entry and its partner ``(−Δn, t, s)`` are each other's transpose and are computed
   once. ``D(q)`` on a slice is one real matrix product (its linear form in ``cos φ_p, sin φ_p``, the pair phases by
   angle addition), then ``eigh``. The bins cover Gershgorin's bound on ``ω_max`` (no estimate); the Taylor argument
   is ``0.02`` with 5 moments (``0.02^5/5! ≈ 3e-11``): more bins, cheap here, fewer columns per mode.
3. **Sum over bins.** Only the first ``T`` of the ``N ≈ 160 T`` outputs of the DFT are needed: a chirp-z transform
   (Bluestein: one FFT convolution of length ``bins + T``) instead of a length-``N`` FFT.

The result is the zone sum of ``kernel_by_differences(method="sum")`` on the same grid and boundary to ~1e-11 of
the table's scale (tests/test_binned_basis.py: Cu-fcc-cubic, Cu3Au-L12, Ni-hcp, periodic and twisted grids).
"""

from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np

from .._constants import TWO_PI
from ._binned_basis import _fast_length, _flip_index, binned_basis
from ._zone import BOUNDARIES

__all__ = ["binned_kernel", "symmetry_folding"]

_TAYLOR_ARGUMENT = 0.1  # π τ_max δω: the largest |2π τ x| inside a bin
_MOMENTS = 7  # terms of the Taylor series: 0.1^7/7! ≈ 2e-11
_DEGENERATE = 1e-7  # relative eigenvalue gap below which polarisations of a pair are shared


# ----------------------------------------------------------------------------- symmetry


def _axis_half(points_per_axis: int, boundary: str):
    """Representatives of ``m ↔ flip(m)`` on one axis and their multiplicities (1 at fixed points)."""
    k = int(points_per_axis)
    if boundary == "twisted":  # q = 2π(m + ½)/K, flip m → K − 1 − m
        m = np.arange((k - 1) // 2 + 1)
        mult = np.where(m == k - 1 - m, 1, 2)
    else:  # q = 2πm/K, flip m → −m mod K
        m = np.arange(k // 2 + 1)
        mult = np.where((m == 0) | (2 * m == k), 1, 2)
    return m, mult




def _is_symmetry(lattice, matrix: np.ndarray, differences: np.ndarray, rng) -> bool:
    """``S`` (a signed permutation) maps every difference to ±itself and ``D(Sq) = S D(q) Sᵀ``."""
    for n in differences:
        image = matrix.T @ n
        if not (np.array_equal(image, n) or np.array_equal(image, -n)):
            return False
    q = rng.uniform(-np.pi, np.pi, size=(6, lattice.dim))
    d = np.asarray(lattice.dynamical_matrix(jnp.asarray(q)))
    d_image = np.asarray(lattice.dynamical_matrix(jnp.asarray(q @ matrix.T)))
    expected = np.einsum("ij,qjk,lk->qil", matrix, d, matrix)
    return bool(np.allclose(d_image, expected, rtol=1e-12, atol=1e-12 * (1.0 + np.max(np.abs(d)))))


def symmetry_folding(lattice, differences) -> tuple[tuple[int, ...], tuple[tuple[int, int], ...]]:
    """The zone-grid symmetries :func:`binned_kernel` folds by: the axes ``F`` whose sign flip is a
    symmetry (see the module notes) and the swaps of two such non-last axes that are. Only when the
    displacement components transform like the wavevector axes (``dof == dim``); otherwise ``((), ())``
    (inversion ``q → −q`` is always used)."""
    differences = np.asarray(differences, dtype=int).reshape(-1, lattice.dim)
    dim = lattice.dim
    if lattice.dof != dim:
        return (), ()
    rng = np.random.default_rng(0)
    flips = []
    for i in range(dim):
        s = np.eye(dim, dtype=int)
        s[i, i] = -1
        if _is_symmetry(lattice, s, differences, rng):
            flips.append(i)
    swaps = []
    for i, j in itertools.combinations(range(dim - 1), 2):
        if i in flips and j in flips:
            p = np.eye(dim, dtype=int)[[j if a == i else i if a == j else a for a in range(dim)]]
            if _is_symmetry(lattice, p, differences, rng):
                swaps.append((i, j))
    # keep swaps that form disjoint transpositions (enough for the lattices here; always a subgroup)
    used, kept = set(), []
    for i, j in swaps:
        if i not in used and j not in used:
            kept.append((i, j))
            used.update((i, j))
    return tuple(flips), tuple(kept)


def _group_matrices(dim: int, flips, swaps):
    """All elements of the group generated by the flips and (disjoint) swaps, as ``dim × dim`` matrices."""
    elements = []
    for signs in itertools.product(*[(1, -1) if i in flips else (1,) for i in range(dim)]):
        for chosen in itertools.product((False, True), repeat=len(swaps)):
            perm = list(range(dim))
            for (i, j), on in zip(swaps, chosen):
                if on:
                    perm[i], perm[j] = perm[j], perm[i]
            elements.append(np.diag(signs) @ np.eye(dim)[perm])
    return elements


def _invariant_basis(dof: int, group) -> np.ndarray:
    """Orthonormal basis ``(n, dof, dof)`` of the symmetric tensors invariant under ``P → S P Sᵀ``."""
    basis = []
    for i in range(dof):
        for j in range(i, dof):
            e = np.zeros((dof, dof))
            e[i, j] = e[j, i] = 1.0
            basis.append(e)
    averaged = np.stack([sum(s @ e @ s.T for s in group) / len(group) for e in basis])
    flat = averaged.reshape(len(basis), -1)
    u, sv, vt = np.linalg.svd(flat, full_matrices=False)
    rank = int(np.sum(sv > 1e-10 * sv[0]))
    return vt[:rank].reshape(rank, dof, dof)


def _transverse_domain(points_per_axis: int, boundary: str, dim: int, flips, swaps, inversion_axes):
    """Canonical transverse points (axes ``0 … dim−2``) and their multiplicities, ``(m (N, dim−1), mult (N,))``.

    Flip axes are folded to their half range, swapped axis pairs to ``m_i <= m_j``; ``inversion_axes``
    (the transverse axes not flipped individually) are folded jointly by the inversion that is left
    (``None`` or empty: not folded)."""
    axes = []
    for i in range(dim - 1):
        if i in flips:
            axes.append(_axis_half(points_per_axis, boundary))
        else:
            m = np.arange(int(points_per_axis))
            axes.append((m, np.ones_like(m)))
    if dim == 1:
        return np.zeros((1, 0), dtype=int), np.ones(1)
    grids = np.meshgrid(*[a[0] for a in axes], indexing="ij")
    mults = np.meshgrid(*[a[1] for a in axes], indexing="ij")
    m = np.stack([g.ravel() for g in grids], axis=-1)
    mult = np.prod(np.stack([g.ravel() for g in mults], axis=-1), axis=-1).astype(float)
    keep = np.ones(len(m), dtype=bool)
    for i, j in swaps:
        keep &= m[:, i] <= m[:, j]
        mult = mult * np.where(m[:, i] < m[:, j], 2.0, 1.0)
    if inversion_axes:
        sub = m[:, inversion_axes]
        partner = _flip_index(sub, points_per_axis, boundary)
        shape = (int(points_per_axis),) * len(inversion_axes)
        flat, flat_partner = np.ravel_multi_index(sub.T, shape), np.ravel_multi_index(partner.T, shape)
        keep &= flat <= flat_partner
        mult = mult * np.where(flat < flat_partner, 2.0, 1.0)
    return m[keep], mult[keep]


# ----------------------------------------------------------------------------- per-slice modes


def _eig3_coefficients(d, basis):
    """Eigenvalues (ascending, ``(N, 3)``) of symmetric 3 × 3 matrices and the components
    ``⟨B_k, P_u⟩`` ``(N, 3, n_inv)`` of their spectral projectors ``P_u`` on the tensors ``B_k``, in closed
    form: trigonometric roots, and ``P_u = adj(λ_u I − D)/Π_{v≠u}(λ_u − λ_v)``. A pair closer than
    ``_DEGENERATE`` (relative) shares the complement of the third projector equally (the two frequencies
    then agree to ~1e-7, far inside one bin); a triple gets ``I/3`` each."""
    a11, a22, a33 = d[:, 0, 0], d[:, 1, 1], d[:, 2, 2]
    a12, a13, a23 = d[:, 0, 1], d[:, 0, 2], d[:, 1, 2]
    mean = (a11 + a22 + a33) / 3.0
    off = a12**2 + a13**2 + a23**2
    p = jnp.sqrt(((a11 - mean) ** 2 + (a22 - mean) ** 2 + (a33 - mean) ** 2 + 2.0 * off) / 6.0)
    inv_p = jnp.where(p > 0, 1.0 / jnp.where(p > 0, p, 1.0), 0.0)
    b11, b22, b33 = (a11 - mean) * inv_p, (a22 - mean) * inv_p, (a33 - mean) * inv_p
    b12, b13, b23 = a12 * inv_p, a13 * inv_p, a23 * inv_p
    det = b11 * (b22 * b33 - b23**2) - b12 * (b12 * b33 - b23 * b13) + b13 * (b12 * b23 - b22 * b13)
    phi = jnp.arccos(jnp.clip(0.5 * det, -1.0, 1.0)) / 3.0
    hi = mean + 2.0 * p * jnp.cos(phi)
    lo = mean + 2.0 * p * jnp.cos(phi + 2.0 * np.pi / 3.0)
    lam = jnp.stack([lo, 3.0 * mean - hi - lo, hi], axis=-1)  # (N, 3)

    # adjugate of M = λ_u I − D (symmetric; six entries), contracted with each basis tensor
    m11, m22, m33 = lam - a11[:, None], lam - a22[:, None], lam - a33[:, None]
    m12, m13, m23 = -a12[:, None], -a13[:, None], -a23[:, None]
    entries = (m22 * m33 - m23**2, m11 * m33 - m13**2, m11 * m22 - m12**2,
               m13 * m23 - m12 * m33, m12 * m23 - m13 * m22, m12 * m13 - m11 * m23)  # 11 22 33 12 13 23
    b = np.asarray(basis)
    weights = np.stack([b[:, 0, 0], b[:, 1, 1], b[:, 2, 2], 2 * b[:, 0, 1], 2 * b[:, 0, 2], 2 * b[:, 1, 2]], axis=-1)
    adj = sum(e[..., None] * jnp.asarray(w) for e, w in zip(entries, weights.T))  # (N, 3, n_inv)
    g01, g12 = lam[:, 1] - lam[:, 0], lam[:, 2] - lam[:, 1]
    den = jnp.stack([g01 * (g01 + g12), -g01 * g12, (g01 + g12) * g12], -1)  # Π_{v≠u}(λ_u − λ_v)
    coeff = adj / jnp.where(den != 0, den, 1.0)[..., None]
    trace = jnp.asarray(np.trace(b, axis1=1, axis2=2))  # ⟨B_k, I⟩
    tol = _DEGENERATE * (1.0 + jnp.max(jnp.abs(lam), axis=-1))
    low_pair, high_pair = (g01 < tol)[:, None], (g12 < tol)[:, None]
    shared_low = 0.5 * (trace - coeff[:, 2])  # u = 0, 1 degenerate
    shared_high = 0.5 * (trace - coeff[:, 0])  # u = 1, 2 degenerate
    c0 = jnp.where(low_pair, shared_low, coeff[:, 0])
    c1 = jnp.where(low_pair, shared_low, jnp.where(high_pair, shared_high, coeff[:, 1]))
    c2 = jnp.where(high_pair, shared_high, coeff[:, 2])
    coeff = jnp.where((low_pair & high_pair)[:, None], trace / 3.0, jnp.stack([c0, c1, c2], axis=1))
    return lam, coeff


def _eigen_coefficients(d, basis):
    if d.shape[-1] == 3:
        return _eig3_coefficients(d, basis)
    lam, vec = jnp.linalg.eigh(d)
    return lam, jnp.einsum("niu,nju,kij->nuk", vec, vec, jnp.asarray(basis))


def _slice_function(lattice, q_transverse: np.ndarray, mult: np.ndarray, offsets: np.ndarray, basis: np.ndarray,
                    d_omega: float, num_bins: int, moments: int, total_points: float):
    """Jitted ``q_last → (histogram (bins, C), zero (F, n_inv))`` for one slice of the grid.

    Columns ``C = [transverse factor, invariant component, moment k]`` of the sums over the slice's modes
    in each frequency bin of ``(mult/K^dim) · c(q⊥·n⊥) · ⟨B, P_u⟩ · x^k / (ω k!)``, with ``c`` the cosine
    (and, for ``n⊥ ≠ 0``, the sine) of the transverse phase. Modes with ``ω < 1e-9`` (the ``q = 0``
    translation of a periodic grid) go to ``zero`` instead (their kernel is ``2πτ``)."""
    q_t = np.asarray(q_transverse, dtype=float)
    weight = mult / total_points
    phase = q_t @ np.asarray(offsets, dtype=float).T  # (N, G)
    nonzero = [g for g in range(offsets.shape[0]) if np.any(offsets[g])]
    trig = jnp.asarray(np.concatenate([np.cos(phase), np.sin(phase[:, nonzero])], axis=-1) * weight[:, None])  # (N, F)
    # D(q) = C + Σ_p 2Φ_p (cos q·R_p − 1) (1.19): the transverse part of each pair phase is fixed per slice
    bonds = np.asarray(lattice.pair_offsets, dtype=float)  # (b, dim)
    bond_phase = q_t @ bonds[:, :-1].T  # (N, b)
    bond_cos, bond_sin = jnp.asarray(np.cos(bond_phase)), jnp.asarray(np.sin(bond_phase))
    bond_last = jnp.asarray(bonds[:, -1])
    inverse_factorials = [1.0 / math.factorial(k) for k in range(moments)]

    @jax.jit
    def run(q_last):
        c_last, s_last = jnp.cos(q_last * bond_last), jnp.sin(q_last * bond_last)
        cos_bond = bond_cos * c_last - bond_sin * s_last  # cos(q⊥·v⊥ + q_l v_l)
        d = lattice.dynamical_matrix_from_cosines(cos_bond)
        lam, coeff = _eigen_coefficients(d, basis)
        omega = jnp.sqrt(jnp.clip(lam, 0.0))  # (N, u)
        zero = omega < 1e-9
        amp = trig[:, None, :, None] * coeff[:, :, None, :]  # (N, u, F, n_inv)
        zero_part = jnp.sum(jnp.where(zero[:, :, None, None], amp, 0.0), axis=(0, 1))
        bins = jnp.clip(jnp.floor(omega / d_omega).astype(jnp.int32), 0, num_bins)  # num_bins: overflow marker
        x = omega - (bins + 0.5) * d_omega
        term = jnp.where(zero, 0.0, 1.0 / jnp.where(zero, 1.0, omega))
        powers = []
        for k in range(moments):  # x^k/(k! ω)
            powers.append(term * inverse_factorials[k])
            term = term * x
        powers = jnp.stack(powers, axis=-1)  # (N, u, k)
        cols = amp[..., None] * powers[:, :, None, None, :]
        hist = jax.ops.segment_sum(cols.reshape(bins.size, -1), bins.reshape(-1), num_segments=num_bins + 1)
        return hist, zero_part

    return run




# ----------------------------------------------------------------------------- public


def binned_kernel(lattice, differences, dt: float, num_times: int, points_per_axis: int, *, boundary: str = "twisted",
                  progress: bool = False, atom_pairs=None) -> np.ndarray:
    """``G(n_d, l·dt)``, ``l = 0 … num_times − 1``, for integer cell differences ``n_d`` ``(D, dim)``: the
    zone sum (2.13)/(1.10) on the ``K``-grid of :func:`jaxion.kernels.zone_modes_grid`, computed by
    symmetry folding, frequency binning and an FFT in time (module notes). Returns ``(T, D, dof, dof)``.

    On a crystal with a basis, ``atom_pairs`` ``(D, 2)`` (default ``(0, 0)``) gives the atoms ``(s_d, t_d)`` of each
    entry, as in :func:`jaxion.kernels.kernel_by_differences`: entry ``d`` is the response of atom ``s_d`` of cell
    ``n_d`` to a force on atom ``t_d`` of cell 0 (module notes, "Crystals with a basis").

    Needs a lattice of dimension 2 or 3 (chains use the direct sum); ``progress`` shows a bar over the
    slices of the grid."""
    if lattice.dim < 2:
        raise ValueError("binned_kernel needs a 2D or 3D lattice; chains use kernel_by_differences(method='sum').")
    if boundary not in BOUNDARIES:
        raise ValueError(f"unknown boundary {boundary!r}; valid options are {list(BOUNDARIES)}.")
    if isinstance(points_per_axis, bool) or int(points_per_axis) != points_per_axis or int(points_per_axis) < 1:
        raise ValueError(f"points_per_axis must be a positive integer; got {points_per_axis!r}.")
    if not (np.isfinite(dt) and dt > 0):
        raise ValueError(f"dt must be a positive finite number; got {dt!r}.")
    if int(num_times) < 1:
        raise ValueError(f"num_times must be a positive integer; got {num_times!r}.")
    k = int(points_per_axis)
    differences = np.asarray(differences, dtype=int).reshape(-1, lattice.dim)
    if lattice.atoms != 1 or atom_pairs is not None:
        pairs = np.zeros((len(differences), 2), int) if atom_pairs is None else np.asarray(atom_pairs, dtype=int)
        if pairs.shape != (len(differences), 2) or np.any(pairs < 0) or np.any(pairs >= lattice.atoms):
            raise ValueError(
                f"atom_pairs must give the two atoms (s, t), each in 0..{lattice.atoms - 1}, of each of the {len(differences)} "
                f"differences; got shape {pairs.shape}."
            )
        if lattice.atoms != 1:
            return binned_basis(lattice, differences, pairs, float(dt), int(num_times), k, boundary, progress)
    dim, dof = lattice.dim, lattice.dof
    num_times = int(num_times)
    duration = max(dt * (num_times - 1), dt)
    omega_max = lattice.max_frequency() * 1.25 + 1e-6  # the estimate samples a 33-point grid: keep a wide margin

    flips, swaps = symmetry_folding(lattice, differences)
    group = _group_matrices(dim, flips, swaps) if dof == dim else [np.eye(dof)]
    basis = _invariant_basis(dof, group)
    n_inv = len(basis)
    last = dim - 1
    transverse_non_flip = [i for i in range(dim - 1) if i not in flips]

    # transverse offsets n⊥ (distinct), the group of each difference, and its sine column (if n⊥ ≠ 0)
    offsets, group_of = np.unique(differences[:, :last], axis=0, return_inverse=True)
    group_of = group_of.reshape(-1)
    g_count = len(offsets)
    nonzero = [g for g in range(g_count) if np.any(offsets[g])]
    sine_of = np.full(g_count, -1)
    sine_of[nonzero] = g_count + np.arange(len(nonzero))
    factors = g_count + len(nonzero)

    # frequency bins: δω = 1/(N dt) with π τ_max δω <= _TAYLOR_ARGUMENT (and N >= the number of times)
    n_fft = _fast_length(max(int(math.ceil(math.pi * duration / (_TAYLOR_ARGUMENT * dt))), num_times))
    d_omega = 1.0 / (n_fft * dt)
    num_bins = int(math.ceil(omega_max / d_omega)) + 1
    if num_bins > n_fft:
        raise ValueError(f"dt = {dt:g} is too coarse for the lattice's fastest mode (ω_max dt must be < 1).")

    # slices of the last axis: representatives, multiplicities, and whether the (residual) inversion
    # still folds the transverse non-flip axes in that slice
    shift = 0.5 if boundary == "twisted" else 0.0
    if last in flips:  # the inversion left acts on the transverse non-flip axes in every slice
        slice_m, slice_mult = _axis_half(k, boundary)
        slices = [(int(m), float(w), True) for m, w in zip(slice_m, slice_mult)]
    else:  # the inversion pairs slice m with flip(m); a self-paired slice folds its transverse part
        slices = []
        for m in range(k):
            partner = int(_flip_index(np.asarray(m), k, boundary))
            if m < partner:
                slices.append((m, 2.0, False))
            elif m == partner:
                slices.append((m, 1.0, True))

    total = float(k) ** dim
    functions = {}
    for fold in {s[2] for s in slices}:
        m_t, mult_t = _transverse_domain(k, boundary, dim, flips, swaps, transverse_non_flip if fold else None)
        q_t = TWO_PI * (m_t + shift) / k
        functions[fold] = _slice_function(lattice, q_t, mult_t, offsets, basis, d_omega, num_bins, _MOMENTS, total)

    acc = np.zeros((len(differences), num_bins, n_inv, _MOMENTS))
    zero_acc = np.zeros((len(differences), n_inv))
    n_last = differences[:, last].astype(float)

    def launch(item):
        m, w, fold = item
        q_last = TWO_PI * (m + shift) / k
        return q_last, w, functions[fold](jnp.asarray(q_last))

    from tqdm.auto import tqdm

    pending = launch(slices[0])
    for index in tqdm(range(len(slices)), desc="kernel slices", unit="slice", disable=not progress, leave=False):
        q_last, w, (hist, zero_part) = pending
        if index + 1 < len(slices):
            pending = launch(slices[index + 1])  # dispatched asynchronously; overlaps the sums below
        hist = np.asarray(hist)
        if np.any(hist[num_bins]):
            raise RuntimeError("a mode frequency exceeds the lattice's ω_max estimate; please report this lattice.")
        hist = np.moveaxis(hist[:num_bins].reshape(num_bins, factors, n_inv, _MOMENTS), 1, 0)  # (factor, bin, inv, k)
        hist = np.concatenate([hist, np.zeros((1,) + hist.shape[1:])])  # index −1: no sine column
        zero_part = np.asarray(zero_part).reshape(factors, n_inv)
        zero_part = np.concatenate([zero_part, np.zeros((1, n_inv))])
        cos_last, sin_last = w * np.cos(q_last * n_last), w * np.sin(q_last * n_last)
        # cos(q⊥·n⊥ + q_l n_l) = cos(q⊥·n⊥) cos(q_l n_l) − sin(q⊥·n⊥) sin(q_l n_l)
        acc += cos_last[:, None, None, None] * hist[group_of] - sin_last[:, None, None, None] * hist[sine_of[group_of]]
        zero_acc += cos_last[:, None] * zero_part[group_of] - sin_last[:, None] * zero_part[sine_of[group_of]]

    # FFT over the bins, one moment at a time: Σ_b M_{b,k} e^{2πi(b+½)l/N}
    times = dt * np.arange(num_times)
    factor = np.exp(1j * np.pi * np.arange(num_times) / n_fft)[None, :, None]
    series = np.zeros((len(differences), num_times, n_inv), dtype=complex)
    power = np.ones(num_times, dtype=complex)
    for order in range(_MOMENTS):
        spectrum = np.fft.ifft(acc[..., order], n=n_fft, axis=1)[:, :num_times] * n_fft  # (D, T, n_inv)
        series += power[None, :, None] * spectrum
        power = power * (2j * np.pi * times)
    values = np.imag(factor * series) + TWO_PI * times[None, :, None] * zero_acc[:, None, :]  # (D, T, n_inv)
    tensors = np.einsum("dtk,kij->tdij", values, basis)
    return tensors / float(lattice.masses[0])  # D is mass-weighted: the displacement response carries 1/m
