"""Kernel tables between sites: :func:`response_kernel`, :func:`precompute_kernel` and :class:`ResponseKernel`,
with the disk cache (see the package notes, :mod:`jaxion.kernels`)."""

from __future__ import annotations

import hashlib
import math
import os
import re
import warnings
import zipfile
from pathlib import Path

import equinox as eqx
import numpy as np

from .._validation import check_cells, check_finite, check_positive
from ..lattice import Lattice
from ._binned import binned_kernel
from ._sum import _BINNED_ABOVE, _uniform_grid, kernel_by_differences, site_differences, site_pairs
from ._zone import default_points_per_axis, kernel_valid_time

__all__ = ["ResponseKernel", "response_kernel", "precompute_kernel", "kernel_cache_dir", "site_rows", "site_fractional"]

KERNEL_FORMAT = 2


def kernel_cache_dir(cache_dir=None) -> Path:
    """The kernel cache folder: ``cache_dir``, else ``$JAXION_KERNEL_CACHE``, else ``~/.cache/jaxion/kernels``."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("JAXION_KERNEL_CACHE")
    if env:
        return Path(env)
    return Path.home() / ".cache" / "jaxion" / "kernels"


def _cache_key(lattice: Lattice, cells: np.ndarray, times: np.ndarray, points_per_axis: int, boundary: str = "twisted") -> str:
    """SHA-256 of the lattice fingerprint, the sites, times, grid and boundary. ``cells`` are the site rows:
    ``(S, dim)`` cells of a Bravais lattice (the key of earlier versions, unchanged), ``(S, dim + 1)`` rows
    ``(cell ..., atom)`` of a crystal with a basis (the atoms enter the key)."""
    h = hashlib.sha256()
    h.update(f"jaxion-response-kernel-v{KERNEL_FORMAT}".encode())
    h.update(lattice.fingerprint().encode())
    if lattice.atoms > 1:
        h.update(b"basis-sites")
    h.update(np.ascontiguousarray(cells, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(times, dtype=np.float64).tobytes())
    h.update(str(int(points_per_axis)).encode())
    h.update(boundary.encode())
    return h.hexdigest()


def _cache_resolve(cache, cache_dir):
    if cache is False or cache is None:
        return None
    if isinstance(cache, (str, os.PathLike)):
        return Path(cache)
    return kernel_cache_dir(cache_dir)


def _safe_name(name: str) -> str:
    """A lattice name as a file-name prefix: only letters, digits, ``._-`` (no path separators)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", str(name))[:40] or "lattice"


def _read_cached(path: Path, key: str) -> np.ndarray | None:
    """The table stored at ``path`` under ``key``, or ``None`` (no file, another key). A damaged file
    (truncated, not a zip archive, missing entries, non-finite values) is reported and recomputed."""
    if not path.exists():
        return None
    try:
        with np.load(path) as data:
            if data["key"].item() != key:
                return None
            values = np.asarray(data["values"])
        if not np.all(np.isfinite(values)):
            raise ValueError("non-finite entries")
        return values
    except (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile) as error:
        warnings.warn(f"kernel cache file {path} is damaged ({error}); recomputing it.", RuntimeWarning, stacklevel=4)
        return None


def _cached_table(lattice, cells, times, points_per_axis, cache, cache_dir, boundary="twisted", progress=False):
    """``(T, S, dof, S, dof)`` kernel table, read from / written to the cache when enabled."""
    from ..io import save_npz

    folder = _cache_resolve(cache, cache_dir)
    path = None
    if folder is not None:
        key = _cache_key(lattice, cells, times, points_per_axis, boundary)
        path = folder / f"{_safe_name(lattice.name)}-{key[:24]}.npz"
        cached = _read_cached(path, key)
        if cached is not None:
            return cached, path
    if lattice.atoms > 1:
        unique, pairs, inverse = site_pairs(cells[:, :-1], cells[:, -1])
        by_diff = _basis_by_differences(lattice, unique, pairs, times, points_per_axis, boundary, progress)
    else:
        (unique, inverse), pairs = site_differences(cells), None
        by_diff = kernel_by_differences(lattice, unique, times, points_per_axis, boundary=boundary, progress=progress,
                                        atom_pairs=pairs)  # (T, D, dof, dof)
    table = by_diff[:, inverse]  # (T, S, S, dof, dof)
    table = np.ascontiguousarray(np.transpose(table, (0, 1, 3, 2, 4)))  # (T, S, dof, S, dof)
    if path is not None:
        save_npz(path, values=table, times=times, cells=cells, points_per_axis=points_per_axis, key=np.asarray(key))
    return table, path


def _basis_by_differences(lattice, differences, pairs, times, points_per_axis, boundary, progress):
    """``(T, D, dof, dof)`` entries ``(Δn, s, t)`` of a crystal with a basis: :func:`jaxion.kernels.binned_kernel` for
    long uniform 2D/3D tables (the rule of ``kernel_by_differences(method="auto")``: more than ``5e9`` mode-times),
    else the mode-by-mode sum. Both are the same zone sum (to ~1e-11, tests/test_binned_basis.py)."""
    grid = _uniform_grid(times)
    mode_count = (float(points_per_axis) ** lattice.dim / 2) * lattice.channels
    if lattice.dim >= 2 and grid is not None and mode_count * len(times) * len(differences) > _BINNED_ABOVE:
        dt, first, count = grid
        values = binned_kernel(lattice, differences, dt, first + count, points_per_axis, boundary=boundary, progress=progress,
                               atom_pairs=pairs)
        return values[first:]
    return kernel_by_differences(lattice, differences, times, points_per_axis, boundary=boundary, progress=progress,
                                 atom_pairs=pairs, method="sum")


def site_rows(lattice: Lattice, cells, name: str = "cells") -> np.ndarray:
    """Sites as integer rows: cells ``(S, dim)`` of a Bravais lattice (a chain's may be ``(S,)``), rows
    ``(cell ..., atom)`` ``(S, dim + 1)`` of a crystal with a basis (like :class:`jaxion.System`'s ``sites``)."""
    if lattice.atoms == 1:
        return check_cells(name, cells, lattice.dim)
    rows = check_cells(name, cells, lattice.dim + 1)
    if np.any((rows[:, -1] < 0) | (rows[:, -1] >= lattice.atoms)):
        raise ValueError(
            f"{name} of a crystal with {lattice.atoms} atoms per cell are rows (cell ..., atom) with atom in "
            f"0..{lattice.atoms - 1}; got atoms {sorted(set(rows[:, -1].tolist()))}."
        )
    return rows


def site_fractional(lattice: Lattice, rows: np.ndarray) -> np.ndarray:
    """Fractional positions ``x_a = n_a + τ_{s_a}`` of site rows (:func:`site_rows`), ``(S, dim)``."""
    rows = np.asarray(rows, dtype=int).reshape(len(rows), -1)
    if lattice.atoms == 1:
        return rows[:, : lattice.dim].astype(float)
    return rows[:, :-1] + np.asarray(lattice.basis_positions, dtype=float)[rows[:, -1]]


# ----------------------------------------------------------------------------- public API


def response_kernel(
    lattice: Lattice,
    cells,
    times,
    *,
    points_per_axis: int | None = None,
    cache: bool | str | os.PathLike = False,
    cache_dir=None,
    boundary: str = "twisted",
) -> np.ndarray:
    """The response kernel (2.13)/(1.10) between lattice sites, ``Γ_ab(τ)``, by zone quadrature.

    Args:
        lattice: any :class:`jaxion.Lattice` (chains, 3D lattices, crystals with a basis; ``dof`` = 1 or 3).
        cells: integer cells of the sites, ``(S, dim)`` (or ``(S,)`` for a chain); on a crystal with a basis the
            rows ``(cell ..., atom)`` ``(S, dim + 1)`` of :class:`jaxion.System`'s ``sites``.
        times: ``τ`` values ``(T,)`` (``τ ≥ 0``).
        points_per_axis: ``K`` of the uniform zone grid; default :func:`jaxion.kernels.default_points_per_axis` for
            ``max(times)`` (the kernel is then the infinite-lattice one for every requested time).
        cache: ``True`` to read/write the disk cache (see module notes), a folder path, or ``False``.
        cache_dir: cache folder overriding ``$JAXION_KERNEL_CACHE``.
        boundary: ``"twisted"`` (offset grid, the default) or ``"periodic"`` (the kernel of the periodic
            ``K``-supercell, echoes included; :func:`jaxion.kernels.zone_modes_grid`).

    Returns:
        NumPy array ``(T, S, dof, S, dof)``: entry ``[t, a, i, b, j]`` is the ``i``-component
        displacement of site ``a`` a time ``τ_t`` after a unit impulse on component ``j`` of site ``b``
        (in the units of (2.12): ``ρ = −2π ∫ Γ ∇_ρΦ``). ``Γ(0) = 0``. The displacement response carries the
        masses: ``Γ_ab = ⟨Σ_u Re[u_a u_b^* e^{iq·(x_a − x_b)}] sin(2πω_uτ)/ω_u⟩`` with ``u = e/sqrt(m)``, so that a
        force ``f`` on a site of mass ``m_s`` enters as ``f/m_s`` through the two factors ``1/sqrt(m)``.
    """
    cells = site_rows(lattice, cells)
    times = np.asarray(times, dtype=float).reshape(-1)
    check_finite("times", times)
    if np.any(times < 0):
        raise ValueError("times must be >= 0 (the kernel is causal; Γ(τ) = 0 for τ < 0).")
    if points_per_axis is None:
        points_per_axis = default_points_per_axis(lattice, max(float(np.max(times, initial=0.0)), 1e-9),
                                                  site_fractional(lattice, cells))
    table, _ = _cached_table(lattice, cells, times, int(points_per_axis), cache, cache_dir, boundary)
    return table


class ResponseKernel(eqx.Module):
    """A precomputed kernel table for :func:`jaxion.simulate_memory` (``method="direct"``).

    Attributes:
        values: ``(lags + 1, S, dof, S, dof)`` NumPy array, ``Γ(l·dt)`` for ``l = 0 … lags`` (``Γ(0) = 0``).
        dt: time step of the table.
        cells: the sites' integer cells ``(S, dim)`` (a tuple of tuples, static); on a crystal with a basis the
            rows ``(cell ..., atom)`` (``System.sites``).
        points_per_axis: ``K`` of the zone grid it was computed with.
        valid_time: time up to which the table is the infinite-lattice kernel (:func:`jaxion.kernels.kernel_valid_time`).
        lattice_key: :meth:`Lattice.fingerprint` of the lattice it belongs to (checked against the system's lattice).
        boundary: ``"twisted"`` or ``"periodic"`` zone grid (:func:`jaxion.kernels.zone_modes_grid`).
    """

    values: np.ndarray = eqx.field(static=False)
    dt: float = eqx.field(static=True)
    cells: tuple = eqx.field(static=True)
    points_per_axis: int = eqx.field(static=True)
    valid_time: float = eqx.field(static=True)
    lattice_key: str = eqx.field(static=True)
    boundary: str = eqx.field(static=True, default="twisted")

    @property
    def num_lags(self) -> int:
        return int(self.values.shape[0]) - 1

    @property
    def duration(self) -> float:
        """Longest lag (``num_lags · dt``) the table holds."""
        return self.num_lags * self.dt


def precompute_kernel(
    lattice: Lattice,
    cells,
    dt: float,
    duration: float,
    *,
    points_per_axis: int | None = None,
    cache: bool | str | os.PathLike = True,
    cache_dir=None,
    boundary: str = "twisted",
    progress: bool = False,
) -> ResponseKernel:
    """Tabulate ``Γ(l·dt)`` (2.13), ``l = 0 … ceil(duration/dt)``, between ``cells`` (cached on disk by default;
    rows ``(cell ..., atom)`` on a crystal with a basis, see :func:`response_kernel`).

    ``points_per_axis`` defaults to the smallest grid exact over ``duration``. Pass the result as
    ``kernel=`` to :func:`jaxion.simulate_memory`; runs of the same lattice, sites and ``dt`` reuse it.
    Long 2D/3D tables are computed by :func:`jaxion.kernels.binned_kernel`, crystals with a basis included
    (``progress``: a bar over its slices).
    """
    check_positive("dt", dt)
    check_positive("duration", duration)
    cells = site_rows(lattice, cells)
    fractional = site_fractional(lattice, cells)
    lags = int(math.ceil(float(duration) / float(dt) - 1e-9))
    if points_per_axis is None:
        points_per_axis = default_points_per_axis(lattice, lags * float(dt), fractional)
    times = float(dt) * np.arange(lags + 1)
    table, _ = _cached_table(lattice, cells, times, int(points_per_axis), cache, cache_dir, boundary, progress)
    return ResponseKernel(
        values=table,
        dt=float(dt),
        cells=tuple(tuple(int(i) for i in c) for c in cells),
        points_per_axis=int(points_per_axis),
        valid_time=kernel_valid_time(lattice, int(points_per_axis), fractional),
        lattice_key=lattice.fingerprint(),
        boundary=boundary,
    )
