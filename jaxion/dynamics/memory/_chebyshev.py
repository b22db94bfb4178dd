"""Chebyshev interpolation in frequency, for the far field of ``method="blocked"`` (:mod:`._blocked`).

Inside a block of length ``T_B`` the zone-grid modes only rotate, ``e^{2πiω s}``; writing
``ω = ω̄ + ν`` (``ω̄`` the centre of the band, ``|ν| <= h`` its half width) and interpolating
``e^{2πiν(s − T_B/2)}`` in ``ν`` at ``n`` Chebyshev nodes separates the time dependence from the modes, so
that the read-out of a block and the update of the amplitudes are matrix products through ``n`` nodes.
The error is that of interpolating ``e^{iκt}``, ``t ∈ [−1, 1]``, ``κ = 2π h T_B/2``: ``n`` is the smallest
degree that keeps it below ``INTERPOLATION_TOLERANCE`` (~1e-14).
"""

from __future__ import annotations

import numpy as np

from ..._constants import TWO_PI

__all__ = ["INTERPOLATION_TOLERANCE", "chebyshev_nodes", "barycentric_matrix", "chebyshev_degree", "frequency_band", "nodes_for_block"]

INTERPOLATION_TOLERANCE = 1e-14


def chebyshev_nodes(n: int) -> np.ndarray:
    """The ``n`` first-kind Chebyshev nodes ``cos(π(2k + 1)/(2n))`` in ``[−1, 1]``."""
    k = np.arange(n)
    return np.cos(np.pi * (2 * k + 1) / (2 * n))


def barycentric_matrix(x_eval: np.ndarray, nodes: np.ndarray) -> np.ndarray:
    """Lagrange basis ``ℓ_c(x)`` of the (first-kind) Chebyshev nodes, evaluated at ``x_eval``."""
    n = len(nodes)
    k = np.arange(n)
    weights = (-1.0) ** k * np.sin(np.pi * (2 * k + 1) / (2 * n))
    diff = x_eval[:, None] - nodes[None, :]
    exact = diff == 0
    diff = np.where(exact, 1.0, diff)
    terms = weights[None, :] / diff
    basis = terms / np.sum(terms, axis=1, keepdims=True)
    hit = np.any(exact, axis=1)
    basis[hit] = exact[hit].astype(float)
    return basis


def chebyshev_degree(kappa: float) -> int:
    """Smallest ``n`` for which interpolating ``e^{iκt}`` (``t ∈ [−1, 1]``) at ``n`` Chebyshev nodes is
    accurate to ``INTERPOLATION_TOLERANCE``."""
    t = np.linspace(-1.0, 1.0, 4001)
    exact = np.exp(1j * kappa * t)
    n = max(4, int(kappa) + 4)
    while n < 4000:
        nodes = chebyshev_nodes(n)
        approx = barycentric_matrix(t, nodes) @ np.exp(1j * kappa * nodes)
        if np.max(np.abs(approx - exact)) < INTERPOLATION_TOLERANCE:
            return n
        n += 2
    raise ValueError("block too long for the frequency interpolation; reduce block_steps.")


def frequency_band(omega) -> tuple[np.ndarray, float, float]:
    """The zone-grid frequencies (floored at 1e-300: a zero mode of ``q = 0`` divides nothing), the
    centre ``ω̄`` of their band and its half width ``h``."""
    omega = np.maximum(np.asarray(omega), 1e-300)
    lo, hi = float(np.min(omega)), float(np.max(omega))
    return omega, 0.5 * (lo + hi), max(0.5 * (hi - lo), 1e-12)


def nodes_for_block(omega, block_time: float) -> int:
    """Chebyshev nodes ``n`` the far field needs for blocks of length ``block_time`` (``κ = 2π h T_B/2``)."""
    _, _, half_width = frequency_band(omega)
    return chebyshev_degree(TWO_PI * half_width * block_time / 2.0)
