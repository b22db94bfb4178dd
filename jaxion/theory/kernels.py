"""Response (memory) kernels of an infinite harmonic lattice, by Brillouin-zone quadrature.

The framework is linear, so its displacement at the sites the ion touches is a causal convolution of
the forces the ion exerts on those sites (paper 2, (2.12)–(2.13); paper 1, (1.9)–(1.10)):

    ρ_a(τ) = ρ_a^thermal(τ) − 2π ∫_0^τ dτ' Σ_b Γ_ab(τ − τ') ∇_{ρ_b}Φ(τ')                    (2.12), (1.9)

    Γ_ab(τ) = ⟨ e^{iq·(n_a − n_b)} Σ_u η_u(q) η_u(q)ᵀ sin(2πω_u(q)τ)/ω_u(q) ⟩_BZ         (2.13), (1.10)

with ``⟨f⟩_BZ = (1/N) Σ_q f → (2π)^{−dim} ∫ d^dim q f(q)`` (the infinite lattice), ``ω_u(q)², η_u(q)`` the
eigenpairs of the (real, symmetric, even-in-q) dynamical matrix ``D(q)`` of :class:`jaxion.Lattice`,
and ``n_a`` the integer cells of the sites. ``Γ`` is translation invariant, ``Γ_ab = G(n_a − n_b)``,
even, ``G(−n) = G(n)``, and every ``G(n)`` is a symmetric ``dof × dof`` matrix. The summand is the
matrix function ``D^{−1/2} sin(2πτ D^{1/2})`` of ``D(q)``: an entire function of ``D``, hence analytic
and periodic in ``q`` even where branches cross or (acoustic lattices) ``ω → 0``. For the chain of
paper 2 (``ω² = 1 + (ω_fast² − 1) sin²(q/2)``, one displacement component) this is (2.15):

    Γ_n(τ) = (2/π) ∫_0^{π/2} dθ cos(2nθ) sin(2πτ w(θ))/w(θ),  w(θ) = sqrt(1 + (ω_fast² − 1) sin²θ).

Quadrature and its range of validity
------------------------------------
The zone average is taken with the trapezoid rule on a uniform grid of ``K`` points per reduced axis,
offset by half a spacing (``q = 2π(m + ½)/K``; no node at ``q = 0``, so acoustic lattices have no
zero-frequency node). For a periodic analytic integrand this rule is spectrally accurate — but it is
*exactly* the kernel of a finite ``K × … × K`` supercell with antiperiodic (twisted) boundaries:

    Γ^{(K)}(n, τ) = Σ_{m ∈ Z^dim} (−1)^{Σm} G(n + K m, τ).

So the kernel equals the infinite-lattice one as long as the periodic images ``n + Km`` lie outside the
sound cone: a disturbance needs ``(K|a|_min − separation)/v_g`` to reach an image of another site
(``v_g`` = the largest group velocity, :meth:`Lattice.max_group_velocity`; ``separation`` = the
largest distance between the sites). The front at ``v_g`` is an Airy front whose precursor runs
``∝ (v_g τ)^{1/3}`` cells ahead of it, so :func:`kernel_valid_time` also keeps a margin of
``c (v_g τ/|a|)^{1/3} + 4`` cells (``c = 10`` in 1D, 5 in 2D/3D) and 5 % on ``v_g``. With it the
aliasing error stays below ~1e-12 up to the valid time (calibrated on paper 2's chain for τ = 0.2 … 320;
on the simple cubic lattice the estimate is conservative, the error reaching 1e-12 only at ≈ 1.6× the
valid time); after it the kernel *recurs* (echoes), as a periodic supercell does — the tests show both.
:func:`default_points_per_axis` gives the smallest ``K`` whose valid time covers a run, and that is the
default everywhere. The cost is what limits long runs in 3D: ``K`` grows linearly with the run length and
the grid as ``K³``. Paper 1's simple cubic lattice (``v_g ≈ 20π``, ``α = 2``) needs ``K = 40`` for
``τ ≈ 0.67``, ``K = 64`` for ``τ ≈ 1.3``, ``K = 1051`` for its Fig. 6 (``τ = 30``, 1.7e9 modes), where
paper 2's chain needs only ``K ≈ 24 000`` points for 800 time units. Summing every mode at every time is
then out of reach (~1e14 terms); ``method="binned"`` (:mod:`jaxion.theory.binned`: symmetry folding,
frequency bins with exact Taylor moments, an FFT in time) computes the same sum in 47 s, and is what
``"auto"`` picks for long 2D/3D tables.

Caching
-------
Kernel tables are cached on disk (``cache=True``), keyed by a SHA-256 hash of everything they depend
on (lattice arrays, cells, times, grid, format version); files are written atomically with
:func:`jaxion.io.save_npz`, so a sweep (or several processes) can share them. The cache folder is
``$JAXION_KERNEL_CACHE`` if set, else ``~/.cache/jaxion/kernels``.
"""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._validation import check_finite, check_positive
from ..lattice import Lattice

__all__ = [
    "KERNEL_METHODS",
    "response_kernel",
    "ResponseKernel",
    "precompute_kernel",
    "kernel_valid_time",
    "default_points_per_axis",
    "zone_modes_grid",
    "kernel_cache_dir",
]

KERNEL_FORMAT = 1
TWO_PI = 2.0 * np.pi
_VELOCITY_MARGIN = 1.05  # Lattice.max_group_velocity converges from below
# Cells of margin for the tail ahead of the wave front: c_dim (v τ / |a|)^{1/3} + 4. The front at the
# fastest group velocity is an Airy front whose width grows as τ^{1/3}; the constants give an aliasing
# error below ~1e-12 (chain of paper 2 for τ = 0.2 … 320, simple cubic of paper 1 for τ ≤ 0.5).
_FRONT_COEFFICIENT = {1: 10.0, 2: 5.0, 3: 5.0}
_FRONT_CELLS = 4.0


# ----------------------------------------------------------------------------- grid and validity


def _lattice_key(lattice: Lattice) -> bytes:
    parts = [
        np.asarray(lattice.force_constants, dtype=np.float64).tobytes(),
        np.asarray(lattice.confinement, dtype=np.float64).tobytes(),
        np.asarray(lattice.primitive_vectors, dtype=np.float64).tobytes(),
        repr(lattice.bond_offsets).encode(),
    ]
    return b"|".join(parts)


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


def zone_modes_grid(lattice: Lattice, points_per_axis: int, boundary: str = "twisted"):
    """Normal modes on a uniform grid, one of each ``±q`` pair (``q`` and ``−q`` share modes).

    ``boundary="twisted"`` (the default): the offset grid ``q = 2π(m + ½)/K`` (no ``q = 0`` node; the
    kernel of an antiperiodic ``K``-supercell, see the module notes). ``"periodic"``: ``q = 2πm/K``, the
    modes of the periodic ``K × … × K`` supercell of the full engine, ``q = 0`` (the free translation of
    an unconfined lattice, ``ω = 0``) included.

    Returns NumPy arrays ``nodes (J', dim)`` (reduced wavevectors), ``weights (J',)`` (``2/K^dim`` for a
    pair, ``1/K^dim`` for a self-conjugate node; they sum to 1), ``omega (J', dof)`` and
    ``eta (J', dof, dof)`` (real polarisations, columns = branches).
    """
    k = int(points_per_axis)
    if k < 1:
        raise ValueError(f"points_per_axis must be a positive integer; got {points_per_axis!r}.")
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
    weights = np.where(flat[keep] == flat_partner[keep], 1.0, 2.0) / total
    nodes = TWO_PI * (index[keep] + shift) / k
    d = np.asarray(lattice.dynamical_matrix(jnp.asarray(nodes)), dtype=float)
    d = 0.5 * (d + np.swapaxes(d, -1, -2))
    eig, vec = np.linalg.eigh(d)
    omega = np.sqrt(np.clip(eig, 0.0, None))
    return nodes, weights, omega, vec


# ----------------------------------------------------------------------------- evaluation


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
                          boundary: str = "twisted", method: str = "auto", progress: bool = False):
    """``G(n_d, τ)`` for integer cell differences ``n_d`` (``(D, dim)``) and times ``(T,)``:
    array ``(T, D, dof, dof)``; the zone average on the ``K``-grid of :func:`zone_modes_grid`.

    ``method``: ``"sum"`` (every mode at every time), ``"binned"`` (2D/3D lattices and uniform times
    ``l·dt``: symmetry folding, frequency binning and an FFT, :func:`jaxion.theory.binned.binned_kernel`;
    the same sum to ~1e-11 at a cost of ``modes + bins × times``), or ``"auto"`` (binned when the sum
    would cost more than ``5e9`` mode-times)."""
    if method not in KERNEL_METHODS:
        raise ValueError(f"unknown method {method!r}; valid options are {list(KERNEL_METHODS)}.")
    differences = np.asarray(differences, dtype=int).reshape(-1, lattice.dim)
    times = np.asarray(times, dtype=float).reshape(-1)
    grid = _uniform_grid(times)
    modes = (float(points_per_axis) ** lattice.dim / 2) * lattice.dof
    if method == "auto":
        large = modes * len(times) * len(differences) > _BINNED_ABOVE
        method = "binned" if (large and lattice.dim >= 2 and grid is not None) else "sum"
    if method == "binned":
        if lattice.dim < 2 or grid is None:
            raise ValueError("method='binned' needs a 2D or 3D lattice and uniform times (first + l)·dt.")
        from .binned import binned_kernel

        dt, first, count = grid
        values = binned_kernel(lattice, differences, dt, first + count, points_per_axis, boundary=boundary, progress=progress)
        return values[first:]
    if modes > MAX_SUMMED_MODES:
        raise ValueError(
            f"a zone grid of points_per_axis = {points_per_axis} has {modes:.3g} modes, more than the mode-by-mode sum holds "
            f"({MAX_SUMMED_MODES:.3g}); use method='binned' (2D/3D lattices, uniform times) or a smaller grid."
        )
    nodes, weights, omega, eta = zone_modes_grid(lattice, points_per_axis, boundary)
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


def _site_differences(cells: np.ndarray):
    """Distinct canonical differences ``±(n_a − n_b)`` and the index map ``(S, S) → D``."""
    diff = cells[:, None, :] - cells[None, :, :]
    flat = diff.reshape(-1, cells.shape[1])
    # canonical representative of ±d: the lexicographically larger one (G(−n) = G(n))
    neg = -flat
    use_neg = np.array([tuple(n) > tuple(f) for f, n in zip(flat, neg)])
    canon = np.where(use_neg[:, None], neg, flat)
    unique, inverse = np.unique(canon, axis=0, return_inverse=True)
    return unique, inverse.reshape(len(cells), len(cells))


# ----------------------------------------------------------------------------- caching


def kernel_cache_dir(cache_dir=None) -> Path:
    """The kernel cache folder: ``cache_dir``, else ``$JAXION_KERNEL_CACHE``, else ``~/.cache/jaxion/kernels``."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("JAXION_KERNEL_CACHE")
    if env:
        return Path(env)
    return Path.home() / ".cache" / "jaxion" / "kernels"


def _cache_key(lattice: Lattice, cells: np.ndarray, times: np.ndarray, points_per_axis: int, boundary: str = "twisted") -> str:
    h = hashlib.sha256()
    h.update(f"jaxion-response-kernel-v{KERNEL_FORMAT}".encode())
    h.update(_lattice_key(lattice))
    h.update(np.ascontiguousarray(cells, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(times, dtype=np.float64).tobytes())
    h.update(str(int(points_per_axis)).encode())
    if boundary != "twisted":  # keys of twisted-grid tables written before the option existed stay valid
        h.update(boundary.encode())
    return h.hexdigest()


def _cache_resolve(cache, cache_dir):
    if cache is False or cache is None:
        return None
    if isinstance(cache, (str, os.PathLike)):
        return Path(cache)
    return kernel_cache_dir(cache_dir)


def _cached_table(lattice, cells, times, points_per_axis, cache, cache_dir, boundary="twisted", progress=False):
    """``(T, S, dof, S, dof)`` kernel table, read from / written to the cache when enabled."""
    from ..io import save_npz

    folder = _cache_resolve(cache, cache_dir)
    path = None
    if folder is not None:
        key = _cache_key(lattice, cells, times, points_per_axis, boundary)
        path = folder / f"{lattice.name}-{key[:24]}.npz"
        if path.exists():
            try:
                with np.load(path) as data:
                    if data["key"].item() == key:
                        return np.asarray(data["values"]), path
            except (OSError, KeyError, ValueError):
                pass  # unreadable or foreign file: recompute and overwrite
    unique, inverse = _site_differences(cells)
    by_diff = kernel_by_differences(lattice, unique, times, points_per_axis, boundary=boundary, progress=progress)  # (T, D, dof, dof)
    table = by_diff[:, inverse]  # (T, S, S, dof, dof)
    table = np.ascontiguousarray(np.transpose(table, (0, 1, 3, 2, 4)))  # (T, S, dof, S, dof)
    if path is not None:
        save_npz(path, values=table, times=times, cells=cells, points_per_axis=points_per_axis, key=np.asarray(key))
    return table, path


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
        lattice: any :class:`jaxion.Lattice` (chains, 3D lattices; ``dof`` = 1 or 3).
        cells: integer cells of the sites, ``(S, dim)`` (or ``(S,)`` for a chain).
        times: ``τ`` values ``(T,)`` (``τ ≥ 0``).
        points_per_axis: ``K`` of the uniform zone grid; default :func:`default_points_per_axis` for
            ``max(times)`` (the kernel is then the infinite-lattice one for every requested time).
        cache: ``True`` to read/write the disk cache (see module notes), a folder path, or ``False``.
        cache_dir: cache folder overriding ``$JAXION_KERNEL_CACHE``.
        boundary: ``"twisted"`` (offset grid, the default) or ``"periodic"`` (the kernel of the periodic
            ``K``-supercell, echoes included; :func:`zone_modes_grid`).

    Returns:
        NumPy array ``(T, S, dof, S, dof)``: entry ``[t, a, i, b, j]`` is the ``i``-component
        displacement of site ``a`` a time ``τ_t`` after a unit impulse on component ``j`` of site ``b``
        (in the units of (2.12): ``ρ = −2π ∫ Γ ∇_ρΦ``). ``Γ(0) = 0``.
    """
    cells = np.asarray(cells, dtype=int).reshape(-1, lattice.dim)
    times = np.asarray(times, dtype=float).reshape(-1)
    check_finite("times", times)
    if np.any(times < 0):
        raise ValueError("times must be >= 0 (the kernel is causal; Γ(τ) = 0 for τ < 0).")
    if points_per_axis is None:
        points_per_axis = default_points_per_axis(lattice, max(float(np.max(times, initial=0.0)), 1e-9), cells)
    table, _ = _cached_table(lattice, cells, times, int(points_per_axis), cache, cache_dir, boundary)
    return table


class ResponseKernel(eqx.Module):
    """A precomputed kernel table for :func:`jaxion.simulate_memory` (``method="direct"``).

    Attributes:
        values: ``(lags + 1, S, dof, S, dof)`` NumPy array, ``Γ(l·dt)`` for ``l = 0 … lags`` (``Γ(0) = 0``).
        dt: time step of the table.
        cells: the sites' integer cells ``(S, dim)`` (a tuple of tuples, static).
        points_per_axis: ``K`` of the zone grid it was computed with.
        valid_time: time up to which the table is the infinite-lattice kernel (:func:`kernel_valid_time`).
        lattice_key: SHA-256 of the lattice it belongs to (checked against the system's lattice).
        boundary: ``"twisted"`` or ``"periodic"`` zone grid (:func:`zone_modes_grid`).
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


def lattice_fingerprint(lattice: Lattice) -> str:
    """SHA-256 of a lattice's arrays and bonds (what its kernel depends on)."""
    return hashlib.sha256(_lattice_key(lattice)).hexdigest()


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
    """Tabulate ``Γ(l·dt)``, ``l = 0 … ceil(duration/dt)``, between ``cells`` (cached on disk by default).

    ``points_per_axis`` defaults to the smallest grid exact over ``duration``. Pass the result as
    ``kernel=`` to :func:`jaxion.simulate_memory`; runs of the same lattice, sites and ``dt`` reuse it.
    Long 2D/3D tables are computed by :func:`jaxion.theory.binned.binned_kernel` (``progress``: a bar over
    its slices).
    """
    check_positive("dt", dt)
    check_positive("duration", duration)
    cells = np.asarray(cells, dtype=int).reshape(-1, lattice.dim)
    lags = int(math.ceil(float(duration) / float(dt) - 1e-9))
    if points_per_axis is None:
        points_per_axis = default_points_per_axis(lattice, lags * float(dt), cells)
    times = float(dt) * np.arange(lags + 1)
    table, _ = _cached_table(lattice, cells, times, int(points_per_axis), cache, cache_dir, boundary, progress)
    return ResponseKernel(
        values=table,
        dt=float(dt),
        cells=tuple(tuple(int(i) for i in c) for c in cells),
        points_per_axis=int(points_per_axis),
        valid_time=kernel_valid_time(lattice, int(points_per_axis), cells),
        lattice_key=lattice_fingerprint(lattice),
        boundary=boundary,
    )
