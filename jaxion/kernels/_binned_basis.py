"""The binned kernel (2.13)/(1.10) on a crystal with a basis: the part of :func:`jaxion.kernels.binned_kernel`
for complex polarisations (the method is in the notes of :mod:`jaxion.kernels._binned`, "Crystals with a basis").

It also holds the two helpers both paths share (the flipped grid index of time reversal and FFT lengths), so that
``_binned`` imports this module and not the other way round."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from .._constants import TWO_PI

__all__ = ["binned_basis"]


def _flip_index(m, points_per_axis: int, boundary: str):
    k = int(points_per_axis)
    return (k - 1 - m) if boundary == "twisted" else np.mod(-m, k)


def _fast_length(n: int) -> int:
    """Smallest 2^a 3^b 5^c ≥ n."""
    best = 1 << max(0, (int(n) - 1).bit_length())
    five = 1
    while five < best:
        three = five
        while three < best:
            two = three
            while two < n:
                two *= 2
            best = min(best, two)
            three *= 3
        five *= 5
    return best


_BASIS_TAYLOR_ARGUMENT = 0.02  # π τ_max δω on a basis: more (cheap) bins, fewer moments per mode
_BASIS_MOMENTS = 5  # 0.02^5/5! ≈ 3e-11
_BASIS_CHUNK_ELEMENTS = 4_000_000  # complex entries of one chunk's (points × branches × columns) moment array
_ZERO_EIGENVALUE = 1e-12  # ω² below this × the bound on ω² (the q = 0 translations of a periodic grid) is a zero mode


def _canonical(rows: np.ndarray, partner: np.ndarray):
    """Pick, for each row, itself or its partner (the lexicographically larger); ``(unique, index of each row,
    whether the row is its unique's partner)``."""
    larger = np.array([tuple(b) > tuple(a) for a, b in zip(rows, partner)], dtype=bool).reshape(-1)
    canonical = np.where(larger[:, None], partner, rows)
    unique, index = np.unique(canonical, axis=0, return_inverse=True)
    flipped = larger & np.any(partner != rows, axis=1)
    return unique, index.reshape(-1), flipped


def _basis_groups(lattice, differences: np.ndarray, atom_pairs: np.ndarray):
    """Entries ``(Δn, s, t)`` grouped by their transverse part ``(Δn⊥, s, t)`` (the histogram's columns); a group
    and its partner ``(−Δn⊥, t, s)`` share one column set (their moments are each other's conjugate transpose).

    Returns the groups' transverse fractional offsets ``Δx⊥ = Δn⊥ + τ_s⊥ − τ_t⊥`` ``(G, dim − 1)``, their atoms
    ``(G, 2)``, the group of each entry ``(D,)``, whether the entry takes the group's conjugate transpose ``(D,)``,
    and each entry's last fractional component ``Δx_l`` ``(D,)``."""
    tau = np.asarray(lattice.basis_positions, dtype=float)
    last = lattice.dim - 1
    keys = np.concatenate([differences[:, :last], atom_pairs], axis=1)
    partner = np.concatenate([-differences[:, :last], atom_pairs[:, ::-1]], axis=1)
    unique, group_of, transposed = _canonical(keys, partner)
    pairs = unique[:, last:]
    offsets = unique[:, :last] + tau[pairs[:, 0], :last] - tau[pairs[:, 1], :last]
    x_last = differences[:, last] + tau[atom_pairs[:, 0], last] - tau[atom_pairs[:, 1], last]
    return offsets, pairs, group_of, transposed, x_last.astype(float)


def _linear_dynamical_matrix(lattice):
    """``D(q) = A + Σ_p [cos φ_p C_p + sin φ_p S_p]``, ``φ_p = q·(R_p + τ_t − τ_s)`` (the lattice's own Hermitian
    ``D``, phonopy's convention, :meth:`jaxion.Lattice.dynamical_matrix`, evaluated on unit cosines and sines):
    returns ``A`` ``(c, c)``, the stacked real matrix ``[[Re C, Im C], [Re S, Im S]]`` ``(2P, 2c²)`` and the pair
    vectors ``(P, dim)``, so that a slice of the grid costs one real matrix product."""
    pairs = len(lattice.pair_offsets)
    c = lattice.channels
    zeros, eye = jnp.zeros((1, pairs)), jnp.eye(pairs)
    base = np.asarray(lattice._complex_dynamical_matrix(zeros, zeros))[0]
    cos_part = np.asarray(lattice._complex_dynamical_matrix(eye, jnp.zeros((pairs, pairs)))) - base
    sin_part = np.asarray(lattice._complex_dynamical_matrix(jnp.zeros((pairs, pairs)), eye)) - base
    stacked = np.concatenate([
        np.concatenate([cos_part.real.reshape(pairs, c * c), cos_part.imag.reshape(pairs, c * c)], axis=1),
        np.concatenate([sin_part.real.reshape(pairs, c * c), sin_part.imag.reshape(pairs, c * c)], axis=1),
    ])
    return base, stacked, np.asarray(lattice._pair_fractional(), dtype=float)


def _eigenvalue_bound(base: np.ndarray, stacked: np.ndarray, channels: int) -> float:
    """Gershgorin's bound on the largest eigenvalue of ``D(q)`` over every ``q``: ``|cos φ C + sin φ S| ≤
    sqrt(|C|² + |S|²)`` entrywise, so ``λ_max ≤ max_row Σ_col (|A| + Σ_p sqrt(|C_p|² + |S_p|²))``."""
    pairs = stacked.shape[0] // 2
    c2 = channels * channels
    cos_abs = np.abs(stacked[:pairs, :c2] + 1j * stacked[:pairs, c2:])
    sin_abs = np.abs(stacked[pairs:, :c2] + 1j * stacked[pairs:, c2:])
    entry = np.abs(base) + np.sum(np.sqrt(cos_abs**2 + sin_abs**2), axis=0).reshape(channels, channels)
    return float(np.max(np.sum(entry, axis=1)))


def _basis_slice_function(lattice, q_transverse: np.ndarray, groups: tuple, x_last: np.ndarray, d_omega: float, num_bins: int,
                          moments: int, total_points: float, lam_scale: float):
    """Jitted ``(acc, zero, q_last, w) → (acc, zero, overflow)``: adds one slice ``q_last`` of the grid (weight ``w``)
    to the moments ``acc`` ``(D, bins, dof, dof, moments)`` and to the zero-mode sums ``zero`` ``(D, dof, dof)``.

    In each frequency bin the slice's modes give, per group ``g = (Δn⊥, s, t)``, the complex moments
    ``H_g = Σ_(q⊥,u) e^{iq⊥·Δx⊥_g} e_{s,u} e_{t,u}^† x^k/(k! ω sqrt(m_s m_t) K^dim)`` (``e`` the eigenvectors of the
    Hermitian ``D(q)``, phonopy's phase convention); an entry ``d`` of the group then gets
    ``w Re[e^{i q_l Δx_l,d} H_g]`` (``H_g^†`` for the partner group) — with the partner slice ``−q_l`` (and
    ``−q⊥``) folded in by ``w = 2`` (time reversal, ``D(−q) = D(q)^*``). Modes with ``ω² < 1e-12 λ_bound``
    (the ``q = 0`` translations of a periodic grid) go to ``zero`` (their kernel is ``2πτ``)."""
    offsets, pairs, group_of, transposed = groups
    atoms, dof = lattice.atoms, lattice.dof
    channels = branches = lattice.channels
    n_groups = len(pairs)
    n_points = len(q_transverse)
    columns = n_groups * dof * dof * moments
    chunk = int(max(1, min(n_points, _BASIS_CHUNK_ELEMENTS // max(1, branches * columns))))
    n_chunks = -(-n_points // chunk)
    padded = n_chunks * chunk
    q_t = np.zeros((padded, lattice.dim - 1))
    q_t[:n_points] = q_transverse
    q_t[n_points:] = q_transverse[0]  # padding: a real point with zero weight
    masses = np.asarray(lattice.masses, dtype=float)
    scale = 1.0 / (np.sqrt(masses[pairs[:, 0]] * masses[pairs[:, 1]]) * total_points)  # (G,)
    phase = np.exp(1j * (q_t @ offsets.T)) * scale[None, :]  # (P, G)
    phase[n_points:] = 0.0
    phase_j = jnp.asarray(phase.reshape(n_chunks, chunk, n_groups))
    s_j, t_j = jnp.asarray(pairs[:, 0]), jnp.asarray(pairs[:, 1])
    group_j, transposed_j, x_last_j = jnp.asarray(group_of), jnp.asarray(transposed), jnp.asarray(x_last)
    inverse_factorials = jnp.asarray([1.0 / math.factorial(k) for k in range(moments)])
    # D(q) = A + [cos φ, sin φ] @ stacked, φ = q⊥·r⊥ + q_l r_l: the transverse part of each phase is fixed per slice
    base, stacked, vectors = _linear_dynamical_matrix(lattice)
    transverse_phase = q_t @ vectors[:, :-1].T  # (P, pairs)
    cos_t, sin_t = jnp.asarray(np.cos(transverse_phase)), jnp.asarray(np.sin(transverse_phase))
    base_j, stacked_j, r_last = jnp.asarray(base), jnp.asarray(stacked), jnp.asarray(vectors[:, -1])

    def chunk_moments(carry, inputs):
        hist, zero_sum = carry
        lam, vec, ph = inputs  # (C, u), (C, c, u), (C, G)
        v = vec.reshape(chunk, atoms, dof, branches)
        amp = jnp.einsum("cg,cgiu,cgju->cugij", ph, v[:, s_j], jnp.conj(v[:, t_j]))  # (C, u, G, dof, dof)
        zero = lam < _ZERO_EIGENVALUE * lam_scale
        zero_sum = zero_sum + jnp.sum(jnp.where(zero[:, :, None, None, None], amp, 0.0), axis=(0, 1))
        omega = jnp.sqrt(jnp.clip(lam, 0.0))
        bins = jnp.clip(jnp.floor(omega / d_omega).astype(jnp.int32), 0, num_bins)  # num_bins: overflow marker
        x = omega - (bins + 0.5) * d_omega
        inv = jnp.where(zero, 0.0, 1.0 / jnp.where(zero, 1.0, omega))
        powers = inv[..., None] * x[..., None] ** jnp.arange(moments) * inverse_factorials  # (C, u, k): x^k/(k! ω)
        powers = powers[:, :, None, None, None, :]
        cols = jnp.concatenate([amp.real[..., None] * powers, amp.imag[..., None] * powers], axis=-1)  # (C, u, G, dof, dof, 2k)
        return (hist.at[bins.reshape(-1)].add(cols.reshape(chunk * branches, -1)), zero_sum), None

    @jax.jit
    def run(acc, zero_acc, q_last, weight):
        c_l, s_l = jnp.cos(q_last * r_last), jnp.sin(q_last * r_last)
        cos_phase, sin_phase = cos_t * c_l - sin_t * s_l, sin_t * c_l + cos_t * s_l
        flat = jnp.concatenate([cos_phase, sin_phase], axis=1) @ stacked_j  # (P, 2c²)
        d = base_j + (flat[:, : channels * channels] + 1j * flat[:, channels * channels :]).reshape(padded, channels, channels)
        lam, vec = jnp.linalg.eigh(d)  # (P, u), (P, c, u)
        hist0 = jnp.zeros((num_bins + 1, 2 * columns))
        zero0 = jnp.zeros((n_groups, dof, dof), dtype=complex)
        inputs = (lam.reshape(n_chunks, chunk, branches), vec.reshape(n_chunks, chunk, channels, branches), phase_j)
        (hist, zero_sum), _ = jax.lax.scan(chunk_moments, (hist0, zero0), inputs)
        overflow = jnp.any(hist[num_bins] != 0)
        h = hist[:num_bins].reshape(num_bins, n_groups, dof, dof, 2, moments)
        h = jnp.moveaxis(h[..., 0, :] + 1j * h[..., 1, :], 1, 0)  # (G, bins, dof, dof, k)
        h_entry = h[group_j]
        h_entry = jnp.where(transposed_j[:, None, None, None, None], jnp.conj(jnp.swapaxes(h_entry, 2, 3)), h_entry)
        z_entry = zero_sum[group_j]
        z_entry = jnp.where(transposed_j[:, None, None], jnp.conj(jnp.swapaxes(z_entry, 1, 2)), z_entry)
        rotation = weight * jnp.exp(1j * q_last * x_last_j)  # (D,)
        acc = acc + jnp.real(rotation[:, None, None, None, None] * h_entry)
        zero_acc = zero_acc + jnp.real(rotation[:, None, None] * z_entry)
        return acc, zero_acc, overflow

    return run


def binned_basis(lattice, differences: np.ndarray, atom_pairs: np.ndarray, dt: float, num_times: int, points_per_axis: int,
                  boundary: str, progress: bool) -> np.ndarray:
    """:func:`binned_kernel` on a crystal with a basis (module notes, "Crystals with a basis")."""
    # entries (Δn, s, t) and (−Δn, t, s) are each other's transpose: compute one of each
    rows = np.concatenate([differences, atom_pairs], axis=1)
    partner = np.concatenate([-differences, atom_pairs[:, ::-1]], axis=1)
    unique, entry_of, flipped = _canonical(rows, partner)
    dim = lattice.dim
    values = _binned_basis_entries(lattice, unique[:, :dim], unique[:, dim:], dt, num_times, points_per_axis, boundary, progress)
    out = values[:, entry_of]
    out[:, flipped] = np.swapaxes(out[:, flipped], -1, -2)
    return out


def _binned_basis_entries(lattice, differences: np.ndarray, atom_pairs: np.ndarray, dt: float, num_times: int,
                          points_per_axis: int, boundary: str, progress: bool) -> np.ndarray:
    k = int(points_per_axis)
    dim, dof = lattice.dim, lattice.dof
    moments = _BASIS_MOMENTS
    duration = max(dt * (num_times - 1), dt)
    shift = 0.5 if boundary == "twisted" else 0.0
    transverse = np.stack(np.meshgrid(*([np.arange(k)] * (dim - 1)), indexing="ij"), axis=-1).reshape(-1, dim - 1)
    q_t = TWO_PI * (transverse + shift) / k
    slices = []  # time reversal: slice m and its partner −m (with −q⊥) give complex-conjugate moments
    for m in range(k):
        partner = int(_flip_index(np.asarray(m), k, boundary))
        if m <= partner:
            slices.append((m, 2.0 if m < partner else 1.0))
    base, stacked, _ = _linear_dynamical_matrix(lattice)
    lam_bound = _eigenvalue_bound(base, stacked, lattice.channels) * (1.0 + 1e-9) + 1e-300
    omega_max = math.sqrt(lam_bound)
    n_fft = _fast_length(max(int(math.ceil(math.pi * duration / (_BASIS_TAYLOR_ARGUMENT * dt))), num_times))
    d_omega = 1.0 / (n_fft * dt)
    num_bins = int(math.ceil(omega_max / d_omega)) + 1
    if num_bins > n_fft:
        raise ValueError(f"dt = {dt:g} is too coarse for the lattice's fastest mode (ω_max dt must be < 1).")
    offsets, pairs, group_of, transposed, x_last = _basis_groups(lattice, differences, atom_pairs)
    run = _basis_slice_function(lattice, q_t, (offsets, pairs, group_of, transposed), x_last, d_omega, num_bins, moments,
                                float(k) ** dim, lam_bound)

    acc = jnp.zeros((len(differences), num_bins, dof, dof, moments))
    zero_acc = jnp.zeros((len(differences), dof, dof))
    from tqdm.auto import tqdm

    overflow = []
    for m, w in tqdm(slices, desc="kernel slices", unit="slice", disable=not progress, leave=False):
        acc, zero_acc, over = run(acc, zero_acc, jnp.asarray(TWO_PI * (m + shift) / k), jnp.asarray(w))
        overflow.append(over)
    if any(bool(o) for o in overflow):
        raise RuntimeError("a mode frequency exceeds the Gershgorin bound of D(q); please report this lattice.")

    # the sum over bins, one moment at a time: Σ_b M_{b,k} e^{2πi(b+½)l/N} for l < T (a chirp-z transform)
    acc_np = np.asarray(acc).reshape(len(differences), num_bins, dof * dof, moments)
    zero_np = np.asarray(zero_acc).reshape(len(differences), 1, dof * dof)
    times = dt * np.arange(num_times)
    factor = np.exp(1j * np.pi * np.arange(num_times) / n_fft)[None, :, None]
    out = np.empty((num_times, len(differences), dof * dof))
    length = _fast_length(num_bins + num_times - 1)
    step = max(1, int(_BASIS_CHUNK_ELEMENTS // (length * dof * dof)))  # differences per chirp-z batch
    for lo in range(0, len(differences), step):
        part = slice(lo, lo + step)
        series = np.zeros((acc_np[part].shape[0], num_times, dof * dof), dtype=complex)
        power = np.ones(num_times, dtype=complex)
        for order in range(moments):
            series += power[None, :, None] * _chirp_sum(acc_np[part, :, :, order], n_fft, num_times, length)
            power = power * (2j * np.pi * times)
        values = np.imag(factor * series) + TWO_PI * times[None, :, None] * zero_np[part]
        out[:, part] = np.moveaxis(values, 1, 0)
    return out.reshape(num_times, len(differences), dof, dof)


def _chirp_sum(values: np.ndarray, n_fft: int, count: int, length: int) -> np.ndarray:
    """``X_l = Σ_b v_b w^{bl}``, ``w = e^{2πi/N}``, ``l = 0 … count − 1``, for ``values`` ``(D, B, C)`` (sum over axis
    1): the first ``count`` outputs of a length-``N`` DFT of ``B`` inputs, by Bluestein's identity
    ``bl = (b² + l² − (l − b)²)/2`` as one FFT convolution of length ``length >= B + count − 1`` (cost
    ``(B + count) log`` instead of ``N log N``; here ``N ≈ 160 count``)."""
    import scipy.fft

    bins = values.shape[1]

    def chirp(j):  # w^{j²/2} = e^{iπ j²/N}, with j² reduced mod 2N in integers (exact phases)
        return np.exp(1j * np.pi * (np.mod(np.asarray(j, dtype=np.int64) ** 2, 2 * n_fft) / n_fft))

    kernel = np.zeros(length, dtype=complex)  # c_j = w^{−j²/2}, j = −(B−1) … count−1, stored cyclically
    kernel[:count] = np.conj(chirp(np.arange(count)))
    kernel[length - bins + 1 :] = np.conj(chirp(np.arange(bins - 1, 0, -1)))
    u = values * chirp(np.arange(bins))[None, :, None]
    kernel_spectrum = np.asarray(scipy.fft.fft(kernel))
    spectrum = np.asarray(scipy.fft.fft(u, n=length, axis=1, workers=-1)) * kernel_spectrum[None, :, None]
    y = np.asarray(scipy.fft.ifft(spectrum, axis=1, workers=-1))[:, :count]
    return y * chirp(np.arange(count))[None, :, None]
