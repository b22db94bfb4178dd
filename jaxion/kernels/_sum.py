"""The response kernel (2.13)/(1.10) as the zone sum over every mode of the grid, at every time.

``kernel_by_differences`` is the one entry point: it sums mode by mode (``method="sum"``), or hands long
uniform 2D/3D tables to :func:`jaxion.kernels.binned_kernel` (``"binned"``; ``"auto"`` chooses).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from .._constants import TWO_PI
from ..lattice import Lattice, ZoneModes
from ._binned import binned_kernel
from ._zone import zone_modes_grid

__all__ = ["KERNEL_METHODS", "kernel_by_differences", "site_differences"]


@jax.jit
def _kernel_chunk(times, omega, matrix):
    """``Σ_(q,u) [sin(2πω τ)/ω] A_(q,u),(d,i,j)`` for a chunk of times (``sin(2πωτ)/ω → 2πτ`` at ω=0)."""
    s = TWO_PI * times[:, None] * jnp.sinc(2.0 * omega[None, :] * times[:, None])
    return s @ matrix


def _difference_matrix(nodes, weights, omega, eta, differences):
    """``A[(q,u), (d,i,j)] = w_q cos(q·n_d) η_iu η_ju`` and the flattened frequencies."""
    phase = np.cos(nodes @ np.asarray(differences, dtype=float).T)  # (J', D)
    outer = np.einsum("qiu,qju->quij", eta, eta)  # (J', dof, dof, dof) as (q, u, i, j)
    a = np.einsum("q,qd,quij->qudij", weights, phase, outer)
    jq, dof = omega.shape
    return omega.reshape(jq * dof), a.reshape(jq * dof, -1)


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
                          modes: ZoneModes | None = None):
    """``G(n_d, τ)`` for integer cell differences ``n_d`` (``(D, dim)``) and times ``(T,)``:
    array ``(T, D, dof, dof)``; the zone average on the ``K``-grid of :func:`zone_modes_grid`.

    ``method``: ``"sum"`` (every mode at every time), ``"binned"`` (2D/3D lattices and uniform times
    ``l·dt``: symmetry folding, frequency binning and an FFT, :func:`jaxion.kernels.binned_kernel`;
    the same sum to ~1e-11 at a cost of ``modes + bins × times``), or ``"auto"`` (binned when the sum
    would cost more than ``5e9`` mode-times). ``modes``: the grid's modes, when the caller already holds
    them (``zone_modes_grid(lattice, points_per_axis, boundary)``; used by the mode-by-mode sum)."""
    if method not in KERNEL_METHODS:
        raise ValueError(f"unknown method {method!r}; valid options are {list(KERNEL_METHODS)}.")
    differences = np.asarray(differences, dtype=int).reshape(-1, lattice.dim)
    times = np.asarray(times, dtype=float).reshape(-1)
    grid = _uniform_grid(times)
    mode_count = (float(points_per_axis) ** lattice.dim / 2) * lattice.dof
    if method == "auto":
        large = mode_count * len(times) * len(differences) > _BINNED_ABOVE
        method = "binned" if (large and lattice.dim >= 2 and grid is not None) else "sum"
    if method == "binned":
        if lattice.dim < 2 or grid is None:
            raise ValueError("method='binned' needs a 2D or 3D lattice and uniform times (first + l)·dt.")
        dt, first, count = grid
        values = binned_kernel(lattice, differences, dt, first + count, points_per_axis, boundary=boundary, progress=progress)
        return values[first:]
    if mode_count > MAX_SUMMED_MODES:
        raise ValueError(
            f"a zone grid of points_per_axis = {points_per_axis} has {mode_count:.3g} modes, more than the mode-by-mode sum holds "
            f"({MAX_SUMMED_MODES:.3g}); use method='binned' (2D/3D lattices, uniform times) or a smaller grid."
        )
    if modes is None:
        modes = zone_modes_grid(lattice, points_per_axis, boundary)
    nodes, weights, omega, eta = (np.asarray(a) for a in (modes.nodes, modes.weights, modes.omega, modes.channel_displacements))
    freq, matrix = _difference_matrix(nodes, weights, omega, eta, differences)
    dof = lattice.dof
    chunk = max(1, min(len(times), chunk_elements // max(1, freq.size)))
    n_chunks = -(-len(times) // chunk)
    padded = np.zeros(n_chunks * chunk)
    padded[: len(times)] = times
    freq_j, matrix_j = jnp.asarray(freq), jnp.asarray(matrix)
    out = [np.asarray(_kernel_chunk(jnp.asarray(padded[i * chunk : (i + 1) * chunk]), freq_j, matrix_j)) for i in range(n_chunks)]
    out = np.concatenate(out, axis=0)[: len(times)]
    return out.reshape(len(times), len(differences), dof, dof)


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
