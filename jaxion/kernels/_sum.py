"""The response kernel (2.13)/(1.10) as the zone sum over every mode of the grid, at every time.

``kernel_by_differences`` is the one entry point: it sums mode by mode (``method="sum"``), or hands long
uniform 2D/3D tables to :func:`jaxion.kernels.binned_kernel` (``"binned"``; ``"auto"`` chooses), on a Bravais
lattice or a crystal with a basis. On a crystal with a basis a table entry is keyed by the cell difference *and* the two atoms,
``(Δn, s_a, s_b)`` (the fractional difference ``Δx = Δn + τ_{s_a} − τ_{s_b}``), and the summand is
``Re[u_{s_a,u}(q) u_{s_b,u}(q)^* e^{iq·Δx}] sin(2πω_u τ)/ω_u`` with the complex displacements
``u_s = e_s/sqrt(m_s)`` (:attr:`jaxion.ZoneModes.displacements`); for one atom per cell (real ``u``) it is
``cos(q·Δn) u uᵀ sin(2πωτ)/ω``, the sum of (2.13).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .._constants import TWO_PI
from ..lattice import Lattice, ZoneModes
from ._binned import binned_kernel
from ._zone import zone_modes_grid

__all__ = ["KERNEL_METHODS", "kernel_by_differences", "site_differences", "site_pairs"]


@jax.jit
def _kernel_chunk(times, omega, matrix):
    """``Σ_(q,u) [sin(2πω τ)/ω] A_(q,u),(d,i,j)`` for a chunk of times (``sin(2πωτ)/ω → 2πτ`` at ω=0)."""
    s = TWO_PI * times[:, None] * jnp.sinc(2.0 * omega[None, :] * times[:, None])
    return s @ matrix


def _difference_matrix(nodes, weights, omega, eta, differences):
    """``A[(q,u), (d,i,j)] = w_q cos(q·n_d) η_iu η_ju`` and the flattened frequencies (one atom per cell)."""
    phase = np.cos(nodes @ np.asarray(differences, dtype=float).T)  # (J', D)
    outer = np.einsum("qiu,qju->quij", eta, eta)  # (J', dof, dof, dof) as (q, u, i, j)
    a = np.einsum("q,qd,quij->qudij", weights, phase, outer)
    jq, dof = omega.shape
    return omega.reshape(jq * dof), a.reshape(jq * dof, -1)


def _pair_matrix(nodes, weights, omega, displacements, fractional, atom_pairs):
    """``A[(q,u), (d,i,j)] = w_q Re[e^{iq·Δx_d} u_{s_d i,u} u_{t_d j,u}^*]`` (a crystal with a basis: complex
    displacements ``u = e/sqrt(m)`` ``(J', atoms, dof, branches)``, fractional differences ``Δx_d``) and the
    flattened frequencies. ``q`` and ``−q`` (weight 2 on one of them) give the real part: ``u(−q) = u(q)^*``."""
    phase = np.exp(1j * (nodes @ np.asarray(fractional, dtype=float).T))  # (J', D)
    first = displacements[:, atom_pairs[:, 0]]  # (J', D, dof, branches)
    second = np.conj(displacements[:, atom_pairs[:, 1]])
    a = np.real(np.einsum("q,qd,qdiu,qdju->qudij", weights, phase, first, second))
    jq, branches = omega.shape
    return omega.reshape(jq * branches), a.reshape(jq * branches, -1)


KERNEL_METHODS = ("auto", "sum", "binned")
MAX_SUMMED_MODES = 2e7  # modes the mode-by-mode sum holds in memory (~2 GB with polarisations)
_BINNED_ABOVE = 5e9  # modes × times × differences above which method="auto" bins (2D/3D, uniform times)


def _uniform_grid(times: np.ndarray):
    """``(dt, first, count)`` when ``times = (first + l)·dt``, ``l = 0 … count − 1``, with an integer
    ``first >= 0``; else ``None``."""
    if len(times) < 2:
        return None
    dt = float(times[1] - times[0])
    if dt <= 0 or not np.allclose(np.diff(times), dt, rtol=0.0, atol=1e-9 * dt):
        return None
    first = times[0] / dt
    if abs(first - round(first)) > 1e-9 or first < -1e-9:
        return None
    return dt, int(round(first)), len(times)


def kernel_by_differences(lattice: Lattice, differences, times, points_per_axis: int, *, chunk_elements: int = 4_000_000,
                          boundary: str = "twisted", method: str = "auto", progress: bool = False,
                          modes: ZoneModes | None = None, atom_pairs=None):
    """``G(n_d, τ)`` for integer cell differences ``n_d`` (``(D, dim)``) and times ``(T,)``:
    array ``(T, D, dof, dof)``; the zone average (2.13) on the ``K``-grid of :func:`zone_modes_grid`.

    ``atom_pairs``: on a crystal with a basis, the atoms ``(s_d, t_d)`` of each difference ``(D, 2)`` (default
    ``(0, 0)``): entry ``d`` is then the response of atom ``s_d`` of cell ``n_d`` to a force on atom ``t_d`` of
    cell 0, ``⟨Σ_u Re[u_{s,u} u_{t,u}^* e^{iq·(n_d + τ_s − τ_t)}] sin(2πω_uτ)/ω_u⟩`` (module notes).

    ``method``: ``"sum"`` (every mode at every time), ``"binned"`` (2D/3D lattices, with or without a basis, and
    uniform times ``l·dt``: symmetry folding, frequency binning and an FFT, :func:`jaxion.kernels.binned_kernel`;
    the same sum to ~1e-11 at a cost of ``modes + bins × times``), or ``"auto"`` (binned when the sum
    would cost more than ``5e9`` mode-times). ``modes``: the grid's modes, when the caller already holds
    them (``zone_modes_grid(lattice, points_per_axis, boundary)``; used by the mode-by-mode sum)."""
    if method not in KERNEL_METHODS:
        raise ValueError(f"unknown method {method!r}; valid options are {list(KERNEL_METHODS)}.")
    differences = np.asarray(differences, dtype=int).reshape(-1, lattice.dim)
    basis = lattice.atoms > 1
    if atom_pairs is not None or basis:
        atom_pairs = np.zeros((len(differences), 2), int) if atom_pairs is None else np.asarray(atom_pairs, dtype=int)
        if atom_pairs.shape != (len(differences), 2) or np.any(atom_pairs < 0) or np.any(atom_pairs >= lattice.atoms):
            raise ValueError(
                f"atom_pairs must give the two atoms (s, t), each in 0..{lattice.atoms - 1}, of each of the {len(differences)} "
                f"differences; got shape {atom_pairs.shape}."
            )
    times = np.asarray(times, dtype=float).reshape(-1)
    grid = _uniform_grid(times)
    mode_count = (float(points_per_axis) ** lattice.dim / 2) * lattice.channels
    if method == "auto":
        large = mode_count * len(times) * len(differences) > _BINNED_ABOVE
        method = "binned" if (large and lattice.dim >= 2 and grid is not None) else "sum"
    if method == "binned":
        if lattice.dim < 2 or grid is None:
            raise ValueError("method='binned' needs a 2D or 3D lattice and uniform times (first + l)·dt.")
        dt, first, count = grid
        values = binned_kernel(lattice, differences, dt, first + count, points_per_axis, boundary=boundary, progress=progress,
                               atom_pairs=atom_pairs)
        return values[first:]
    if mode_count > MAX_SUMMED_MODES:
        remedy = "method='binned' (2D/3D lattices, uniform times) or a smaller grid"
        raise ValueError(
            f"a zone grid of points_per_axis = {points_per_axis} has {mode_count:.3g} modes, more than the mode-by-mode sum holds "
            f"({MAX_SUMMED_MODES:.3g}); use {remedy}."
        )
    if modes is None:
        modes = zone_modes_grid(lattice, points_per_axis, boundary)
    nodes, weights, omega = (np.asarray(a) for a in (modes.nodes, modes.weights, modes.omega))
    if atom_pairs is None:
        freq, matrix = _difference_matrix(nodes, weights, omega, np.asarray(modes.channel_displacements), differences)
    else:
        tau = np.asarray(lattice.basis_positions)
        fractional = differences + tau[atom_pairs[:, 0]] - tau[atom_pairs[:, 1]]  # Δx = Δn + τ_s − τ_t
        freq, matrix = _pair_matrix(nodes, weights, omega, np.asarray(modes.displacements), fractional, atom_pairs)
    dof = lattice.dof
    chunk = max(1, min(len(times), chunk_elements // max(1, freq.size)))
    n_chunks = -(-len(times) // chunk)
    padded = np.zeros(n_chunks * chunk)
    padded[: len(times)] = times
    freq_j, matrix_j = jnp.asarray(freq), jnp.asarray(matrix)
    out = [np.asarray(_kernel_chunk(jnp.asarray(padded[i * chunk : (i + 1) * chunk]), freq_j, matrix_j)) for i in range(n_chunks)]
    out = np.concatenate(out, axis=0)[: len(times)]
    return out.reshape(len(times), len(differences), dof, dof)


def site_pairs(cells: np.ndarray, atoms: np.ndarray):
    """Distinct ``(n_a − n_b, s_a, s_b)`` of sites ``(cell, atom)`` of a crystal with a basis: the differences
    ``(D, dim)``, their atom pairs ``(D, 2)`` and the index map ``(S, S) → D``."""
    cells, atoms = np.asarray(cells, dtype=int), np.asarray(atoms, dtype=int).reshape(-1)
    diff = (cells[:, None, :] - cells[None, :, :]).reshape(-1, cells.shape[1])
    pairs = np.stack(np.broadcast_arrays(atoms[:, None], atoms[None, :]), axis=-1).reshape(-1, 2)
    unique, inverse = np.unique(np.concatenate([diff, pairs], axis=1), axis=0, return_inverse=True)
    dim = cells.shape[1]
    return unique[:, :dim], unique[:, dim:], inverse.reshape(len(cells), len(cells))


def site_differences(cells: np.ndarray):
    """Distinct canonical differences ``±(n_a − n_b)`` and the index map ``(S, S) → D``."""
    diff = cells[:, None, :] - cells[None, :, :]
    flat = diff.reshape(-1, cells.shape[1])
    # canonical representative of ±d: the lexicographically larger one (G(−n) = G(n))
    neg = -flat
    use_neg = np.array([tuple(n) > tuple(f) for f, n in zip(flat, neg)])
    canon = np.where(use_neg[:, None], neg, flat)
    unique, inverse = np.unique(canon, axis=0, return_inverse=True)
    return unique, inverse.reshape(len(cells), len(cells))
