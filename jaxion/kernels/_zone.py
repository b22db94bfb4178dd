"""The uniform zone grid of the response kernels and the time up to which it is the infinite lattice's.

See the package notes (:mod:`jaxion.kernels`): a ``K``-point-per-axis grid is the kernel of a
``K``-periodic (twisted) supercell, exact until sound reaches a periodic image of a site.
"""

from __future__ import annotations

import math

import numpy as np

from .._constants import TWO_PI
from .._validation import check_positive
from ..lattice import Lattice, ZoneModes

__all__ = ["BOUNDARIES", "zone_modes_grid", "kernel_valid_time", "default_points_per_axis"]

_VELOCITY_MARGIN = 1.05  # Lattice.max_group_velocity converges from below
# Cells of margin for the tail ahead of the wave front: c_dim (v τ / |a|)^{1/3} + 4. The front at the
# fastest group velocity is an Airy front whose width grows as τ^{1/3}; the constants give an aliasing
# error below ~1e-12 (chain of paper 2 for τ = 0.2 … 320, simple cubic of paper 1 for τ ≤ 0.5).
_FRONT_COEFFICIENT = {1: 10.0, 2: 5.0, 3: 5.0}
_FRONT_CELLS = 4.0


# ----------------------------------------------------------------------------- grid and validity


def _shortest_superlattice_vector(lattice: Lattice, points_per_axis: int) -> float:
    """Length of the shortest nonzero vector ``K Σ m_i a_i`` (``m_i ∈ {−1, 0, 1}``)."""
    vectors = np.asarray(lattice.primitive_vectors, dtype=float)
    dim = vectors.shape[1]
    best = np.inf
    for m in np.ndindex(*([3] * dim)):
        coeff = np.asarray(m) - 1
        if not np.any(coeff):
            continue
        best = min(best, float(np.linalg.norm(vectors @ coeff)))
    return points_per_axis * best


def _site_separation(lattice: Lattice, cells) -> float:
    if cells is None:
        return 0.0
    cells = np.asarray(cells, dtype=float).reshape(-1, lattice.dim)
    positions = cells @ np.asarray(lattice.primitive_vectors, dtype=float).T
    if len(positions) < 2:
        return 0.0
    diff = positions[:, None, :] - positions[None, :, :]
    return float(np.max(np.linalg.norm(diff, axis=-1)))


def _min_spacing(lattice: Lattice) -> float:
    return _shortest_superlattice_vector(lattice, 1)


def _needed_length(lattice: Lattice, duration: float, separation: float) -> float:
    """Superlattice length needed for the kernel to be exact up to ``duration``: the distance sound
    covers, the sites' separation and the front's tail (see ``_FRONT_COEFFICIENT``)."""
    spacing = _min_spacing(lattice)
    travel = _VELOCITY_MARGIN * lattice.max_group_velocity() * float(duration)
    front = (_FRONT_COEFFICIENT[lattice.dim] * (travel / spacing) ** (1.0 / 3.0) + _FRONT_CELLS) * spacing
    return travel + separation + front


def kernel_valid_time(lattice: Lattice, points_per_axis: int, cells=None) -> float:
    """Time up to which a ``K``-point-per-axis zone quadrature gives the infinite-lattice kernel.

    The ``K`` grid is a ``K``-periodic (twisted) supercell: its kernel recurs once sound has crossed
    from one site to the nearest periodic image of another. The valid time is the largest ``τ`` with
    ``1.05 v_g τ + separation + front(τ) <= K |a|_min`` (``separation``: largest distance between the
    ``cells``; ``v_g``: fastest group velocity; ``front(τ) = (c (1.05 v_g τ/|a|)^{1/3} + 4)|a|`` the
    tail ahead of the Airy wave front, ``c = 10`` in 1D, 5 in 2D/3D; calibrated to keep the aliasing
    error below ~1e-12, see the module notes). Zero if even ``τ = 0`` does not fit.
    """
    k = int(points_per_axis)
    if k < 1:
        raise ValueError(f"points_per_axis must be a positive integer; got {points_per_axis!r}.")
    available = _shortest_superlattice_vector(lattice, k)
    separation = _site_separation(lattice, cells)
    if _needed_length(lattice, 0.0, separation) > available:
        return 0.0
    hi = available / (_VELOCITY_MARGIN * lattice.max_group_velocity())
    lo = 0.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if _needed_length(lattice, mid, separation) <= available:
            lo = mid
        else:
            hi = mid
    return lo


def default_points_per_axis(lattice: Lattice, duration: float, cells=None, minimum: int = 8) -> int:
    """Smallest ``K`` (points per reduced axis) whose :func:`kernel_valid_time` covers ``duration``."""
    check_positive("duration", duration)
    needed = _needed_length(lattice, float(duration), _site_separation(lattice, cells))
    k = max(int(minimum), int(math.ceil(needed / _shortest_superlattice_vector(lattice, 1) - 1e-9)))
    while kernel_valid_time(lattice, k, cells) < float(duration) * (1 - 1e-10):
        k += 1
    return k


BOUNDARIES = ("twisted", "periodic")


def zone_modes_grid(lattice: Lattice, points_per_axis: int, boundary: str = "twisted") -> ZoneModes:
    """Normal modes on a uniform grid, one of each ``±q`` pair (``q`` and ``−q`` share modes).

    ``boundary="twisted"`` (the default): the offset grid ``q = 2π(m + ½)/K`` (no ``q = 0`` node; the
    kernel of an antiperiodic ``K``-supercell, see the package notes). ``"periodic"``: ``q = 2πm/K``, the
    modes of the periodic ``K × … × K`` supercell of the full engine, ``q = 0`` (the free translation of
    an unconfined lattice, ``ω = 0``) included.

    Returns :meth:`Lattice.modes` on the ``J'`` kept nodes, with weights ``2/K^dim`` for a pair and
    ``1/K^dim`` for a self-conjugate node (they sum to 1).
    """
    if isinstance(points_per_axis, bool) or int(points_per_axis) != points_per_axis or int(points_per_axis) < 1:
        raise ValueError(f"points_per_axis must be a positive integer; got {points_per_axis!r}.")
    k = int(points_per_axis)
    if boundary not in BOUNDARIES:
        raise ValueError(f"unknown boundary {boundary!r}; valid options are {list(BOUNDARIES)}.")
    shift = 0.5 if boundary == "twisted" else 0.0
    dim = lattice.dim
    index = np.stack(np.meshgrid(*([np.arange(k)] * dim), indexing="ij"), axis=-1).reshape(-1, dim)
    partner = (k - 1) - index if boundary == "twisted" else np.mod(-index, k)
    flat = np.ravel_multi_index(index.T, (k,) * dim)
    flat_partner = np.ravel_multi_index(partner.T, (k,) * dim)
    keep = flat <= flat_partner
    total = float(k) ** dim
    # numpy's stub types ravel_multi_index of an index array as a scalar
    weights = np.where(flat[keep] == flat_partner[keep], 1.0, 2.0) / total  # pyright: ignore[reportIndexIssue]
    nodes = TWO_PI * (index[keep] + shift) / k
    return lattice.modes(nodes, weights)
