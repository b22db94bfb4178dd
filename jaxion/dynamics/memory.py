"""Memory (response-kernel) engine: the ion(s) and only the framework sites they touch.

The framework is harmonic, so its response to the ion is linear and the lattice can be integrated out
exactly (paper 2, Sec. II, (2.12)–(2.14); paper 1, (1.8)–(1.10)). For a framework at rest at ``τ = 0``
(no thermal motion):

    ρ_a(τ) = −2π ∫_0^τ dτ' Σ_b Γ_ab(τ − τ') ∇_{ρ_b}Φ(ρ(τ'), σ(τ'))                          (2.12)
    Γ_ab(τ) = ⟨ e^{iq·(n_a−n_b)} Σ_u η_u η_uᵀ sin(2πω_u τ)/ω_u ⟩_BZ                        (2.13)
    (μ/4π²) σ'' = −∇_σ Φ(ρ, σ) + F_bias                                                   (2.14), (1.3)

``Γ`` is the infinite lattice's kernel (:mod:`jaxion.theory.kernels`): no finite-size echo, as long as the
zone grid is fine enough for the run (``points_per_axis``; the default is chosen from the duration).

Discretisation (paper 2, Appendix, (A1)–(A2)), step ``δ = dt``:

- the convolution by the trapezoid rule, ``ρ_n = −2πδ Σ_{m=0}^{n−1} w_m Γ((n−m)δ) ∇_ρΦ_m`` with
  ``w_0 = ½`` (the force switches on at ``τ = 0``), else 1. ``Γ(0) = 0``, so ``ρ_n`` needs forces up
  to step ``n − 1`` only: the scheme is explicit;
- the ion(s) by velocity Verlet (Störmer–Verlet): ``σ_{n+1} = σ_n + δσ'_n + ½δ²σ''_n``, then ``ρ_{n+1}``,
  then the force at step ``n + 1`` and ``σ'_{n+1} = σ'_n + ½δ(σ''_n + σ''_{n+1})``.

Both are second order in ``δ``. The force on an ion is ``−∇_σΦ`` plus a constant ``bias`` force,
projected on the line of motion when ``constraint`` is given. Several ions may move at once; they
interact with the framework (and, through it, with each other) but not directly.

Three ways to evaluate the same convolution
-------------------------------------------
``method="direct"`` — the quadratic form of (A1): a precomputed table ``Γ(lδ)``, ``l = 1 … L``, between
all tracked sites, dotted with the force history at every step. Cost ``O(L P²)`` per step (``P`` =
sites × components), memory ``O(L P²)``. ``memory_length`` truncates the history (an approximation).

``method="fft"`` — the quadratic sum of ``"direct"`` regrouped, exactly (same table, same trapezoid
weights; the two agree to ~1e-13): the strictly-lower-triangular (output step × input step) plane is
cut into blocks of ``B`` steps, the diagonal blocks are summed directly (lags ``1 … B``), and the rest
is tiled by the dyadic squares "inputs ``[jB − sB, jB)`` → outputs ``[jB, jB + sB)``" for
``s = 1, 2, 4, …`` and ``j ≡ s (mod 2s)``. Each square is one Toeplitz product, done by real FFTs of
length ``2sB`` against a per-level kernel spectrum computed once, when its inputs are complete and
before its first output is needed. Cost ``O(T log² T · P²)`` for ``T`` steps instead of ``O(T² P²)``
(paper 2's Appendix), memory ``O(T P²)`` for the spectra: the choice for 3D runs on long, exact,
binned kernels (paper 1's Fig. 6 on the infinite lattice: 30 000 steps in 4.3 s, kernel 47 s, measured
by ``benchmarks/bench_memory.py --fig6``).

``method="blocked"`` — the same kernel written as its zone quadrature (each node ``q`` and branch ``u``
is a driven oscillator), evaluated in blocks of ``B`` steps:

- *far field* — everything the forces before the block left in the lattice. Each zone-grid mode carries
  a complex amplitude ``A_μ = δ Σ_m w_m e^{2πiω_μ(t−τ_m)} p_μ(m)`` (``p_μ`` the force projected on the
  mode), so that ``ρ_a(t) = −2π Σ_μ (w_q/ω_μ) C_aμ Im A_μ(t)`` (``C_aμ`` = ``cos/sin(q·n_a) η_u``). Inside
  the block the amplitudes only rotate, ``A_μ(t_k + s) = e^{2πiω_μ s} A_μ(t_k)``, and the displacement
  of the block's sites is read out for all ``B`` steps at once. The time dependence is separated by
  interpolating ``e^{2πi(ω−ω̄)y}`` in ``ω`` at ``n`` Chebyshev nodes of the band (exact to ~1e-14; ``n``
  grows with ``ω-bandwidth × B δ``), which turns the read-out and the update ``A ← e^{2πiωBδ}A + ΔA``
  of all modes into two ``(modes × n)`` matrix products per block;
- *near field* — the forces inside the block, by the direct sum with the table for lags ``1 … B``.

Cost per step ``O(B P_w²)`` (near) + ``O(modes · n · P_w / B)`` (far), with ``P_w`` the components of
the *window* of sites the ion can touch during a block: only those enter, so a long chain of tracked
sites (paper 2) costs hardly more than a short one, and no ``lags × P²`` table is ever stored. At a
fixed zone grid the cost is linear in the number of steps. But the grid must outlast the run (its
modes are the memory of everything within the sound cone), so the number of modes grows as
``duration^dim``: at a fixed ``dt`` a 1D run still costs ``∝ steps × duration`` overall — quadratic in
the run length like the direct sum, with a constant several orders of magnitude smaller (see
``benchmarks/RESULTS.md``) — and 3D runs are limited by the ``K³`` grid (as the kernel table is).
All three give the same trajectory up to rounding and the ~1e-14 interpolation error (blocked).

Thermal framework (``thermal=ThermalBath(...)``, :mod:`jaxion.dynamics.thermal`): the sites move as
``ρ = ρ_hom + ρ_response`` ((2.12); paper 2, Sec. II), ``ρ_hom`` the free motion of the zone-grid modes with
random phases and amplitudes. The direct method adds ``ρ_hom`` (tabulated at every step) to the
convolution; the blocked method starts its far-field mode amplitudes at the bath's values, so the same
rotation that carries the ion's wake carries the thermal motion (same modes, same key: the two methods
agree to rounding). A batch of keys runs an ensemble in one vmapped call.

Energy bookkeeping (no framework energy is available, but its change is the work done on the sites):
``E = Σ_i μσ_i'²/(8π²) + Φ + W_F − Σ_i F_bias·(σ_i − σ_i(0))`` with ``W_F = ∫ (−∇_ρΦ)·dρ`` (paper 1, (1.11))
is conserved by the exact dynamics; ``energy_error`` reports its drift along the run.
"""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._validation import check_finite, check_positive
from ..parallel import device_mesh, over_devices, pad_members
from ..system import System
from .thermal import ThermalBath, motion_from_amplitudes, thermal_modes
from ..theory.kernels import (
    ResponseKernel,
    default_points_per_axis,
    kernel_by_differences,
    kernel_valid_time,
    lattice_fingerprint,
    precompute_kernel,
    zone_modes_grid,
)

__all__ = ["MemoryState", "MemoryResult", "simulate_memory", "simulate_memory_batch", "METHODS"]

FOUR_PI_SQ = 4.0 * np.pi**2
TWO_PI = 2.0 * np.pi
METHODS = ("auto", "direct", "fft", "blocked")
FFT_BLOCK = 64  # near-field block of method="fft" (steps)
MAX_FFT_TABLE_BYTES = 1e9  # method="auto" picks "fft" for 2D/3D runs whose kernel table stays below this
# ω_max · dt above this is refused: fewer than 10 steps per period of the fastest mode (paper 2 uses 60).
MAX_OMEGA_DT = 0.1
# |σ'| dt above this fraction of the potential's range is refused (the ion would jump over the interaction).
MAX_STEP_OVER_RANGE = 0.5
_INTERPOLATION_TOLERANCE = 1e-14
_UNROLL = 1  # inner time-step loop unrolling (XLA CPU)


# ============================================================================ results


class MemoryState(eqx.Module):
    """State at the end of a memory-engine run.

    Attributes:
        time: ``τ`` at the end.
        ion_position, ion_velocity: ``(3,)`` (one ion) or ``(ions, 3)``.
        site_displacements: ``(sites, dof)`` displacements of the tracked sites (``NaN`` for sites
            outside the last block's window with ``method="blocked"``).
        framework_work: work ``W_F = ∫(−∇_ρΦ)·dρ`` done on the framework so far.
    """

    time: Float[Array, ""]
    ion_position: Array
    ion_velocity: Array
    site_displacements: Array
    framework_work: Float[Array, ""]


class MemoryResult(eqx.Module):
    """What :func:`simulate_memory` returns (NumPy arrays; time axis first).

    Attributes:
        ts: ``(times,)`` saved times ``0, save_every·dt, …`` and the end time.
        ion_positions, ion_velocities: ``(times, 3)`` for one ion, ``(times, ions, 3)`` for several.
        site_displacements: ``(times, sites, dof)``, the order of ``system.sites``; with
            ``method="blocked"`` only the current window of sites is computed, the rest is ``NaN``;
            ``None`` with ``save_sites=False``.
        kinetic_energy: ``(times,)`` total ion kinetic energy ``Σ μσ'²/(8π²)``.
        interaction_energy: ``(times,)`` ``Φ(ρ, σ)``.
        framework_work: ``(times,)`` ``W_F``: the energy the ion(s) have given the framework.
        bias_work: ``(times,)`` work done by the bias force, ``Σ_i F·(σ_i − σ_i(0))``.
        energy_error: ``(times,)`` drift of ``KE + Φ + W_F − bias_work`` from its start value.
        loss: kinetic-energy loss ``KE(0) − KE(end)``.
        final_state: :class:`MemoryState` at the end.
        method, block_steps, points_per_axis, chebyshev_nodes, window: how the run was computed.
        valid_time: time up to which the kernel is the infinite lattice's (zone-grid recurrence).
        num_steps, dt: steps taken and their size.
    """

    ts: np.ndarray
    ion_positions: np.ndarray
    ion_velocities: np.ndarray
    site_displacements: np.ndarray | None
    kinetic_energy: np.ndarray
    interaction_energy: np.ndarray
    framework_work: np.ndarray
    bias_work: np.ndarray
    energy_error: np.ndarray
    loss: float
    final_state: MemoryState
    method: str = eqx.field(static=True)
    block_steps: int = eqx.field(static=True)
    points_per_axis: int = eqx.field(static=True)
    chebyshev_nodes: int = eqx.field(static=True)
    window: int = eqx.field(static=True)
    valid_time: float = eqx.field(static=True)
    num_steps: int = eqx.field(static=True)
    dt: float = eqx.field(static=True)


# ============================================================================ physics shared by both methods


class _Physics(eqx.Module):
    """Forces, energies and the coverage checks, for the ions and a set of sites."""

    potential: object
    polarisation: Array  # (3, dof)
    mass_ratio: Array
    line: Array  # (ions, 3) unit vectors (ignored unless constrained)
    bias: Array  # (ions, 3)
    # untracked-site check (all lattice sites interact)
    pinv: Array  # (dim, 3)
    vectors: Array  # (3, dim)
    cand_offsets: Array  # (C, dim) int
    mask: Array  # flat bool, True = tracked
    mask_lo: Array  # (dim,) int
    mask_shape: tuple = eqx.field(static=True)
    constrained: bool = eqx.field(static=True)
    check_untracked: bool = eqx.field(static=True)

    def energy(self, sigma, rho, positions):
        """``Φ = Σ_i Σ_a φ(R_a + Pρ_a − σ_i)`` (paper 1, Sec. III)."""
        moved = positions + rho @ self.polarisation.T  # (W, 3)
        return jnp.sum(self.potential.energy(moved[None, :, :] - sigma[:, None, :]))

    def forces(self, sigma, rho, positions):
        """``Φ``, ion accelerations ``(4π²/μ)(−∇_σΦ + F_bias)`` (projected if constrained), ``∇_ρΦ``."""
        phi, (g_sigma, g_rho) = jax.value_and_grad(self.energy, argnums=(0, 1))(sigma, rho, positions)
        force = -g_sigma + self.bias
        if self.constrained:
            force = self.line * jnp.sum(self.line * force, axis=-1, keepdims=True)
        return phi, FOUR_PI_SQ / self.mass_ratio * force, g_rho

    def untracked_energy(self, sigma):
        """Largest ``|φ|`` between an ion and a lattice site that is not tracked (paper-2 semantics,
        where every lattice site interacts): nonzero means the ion has left the tracked region."""
        if not self.check_untracked:
            return jnp.zeros(())
        reduced = sigma @ self.pinv.T  # (ions, dim)
        base = jnp.floor(reduced).astype(int)
        cells = base[:, None, :] + self.cand_offsets[None, :, :]  # (ions, C, dim)
        local = cells - self.mask_lo
        shape = jnp.asarray(self.mask_shape)
        inside = jnp.all((local >= 0) & (local < shape), axis=-1)
        flat = jnp.ravel_multi_index(tuple(jnp.moveaxis(jnp.clip(local, 0, shape - 1), -1, 0)), self.mask_shape, mode="clip")
        tracked = inside & self.mask[flat]
        positions = cells.astype(float) @ self.vectors.T
        energy = jnp.abs(self.potential.energy(positions - sigma[:, None, :]))
        return jnp.max(jnp.where(tracked, 0.0, energy))


def _energy_scale(potential, reach: float) -> float:
    r = np.linspace(0.0, reach, 2001)
    values = np.abs(np.asarray(potential.energy(jnp.asarray(np.stack([np.zeros_like(r), np.zeros_like(r), r], -1)))))
    scale = float(np.max(values[np.isfinite(values)], initial=0.0))
    return scale if scale > 0 else 1.0


def _coverage_radius(potential, tolerance: float) -> float:
    """Smallest ``r`` beyond which ``|φ| <= tolerance × max|φ|`` (searched out to 60 ranges)."""
    reach = 60.0 * float(potential.range)
    r = np.linspace(0.0, reach, 24001)
    pts = np.stack([np.zeros_like(r), np.zeros_like(r), r], -1)
    values = np.abs(np.asarray(potential.energy(jnp.asarray(pts))))
    scale = float(np.max(values[np.isfinite(values)], initial=0.0)) or 1.0
    above = np.nonzero(values > tolerance * scale)[0]
    if len(above) == 0:
        return float(potential.range)
    return float(r[min(above[-1] + 1, len(r) - 1)])


# ============================================================================ input handling


class _Ions(NamedTuple):
    position: np.ndarray  # (I, 3)
    velocity: np.ndarray
    single: bool


def _prepare_ions(ion_position, ion_velocity) -> _Ions:
    position = np.asarray(ion_position, dtype=float)
    velocity = np.asarray(ion_velocity, dtype=float)
    single = position.ndim == 1
    position = np.atleast_2d(position)
    velocity = np.atleast_2d(velocity)
    if position.ndim != 2 or position.shape[-1] != 3:
        raise ValueError(f"ion_position must have shape (3,) or (ions, 3); got {np.shape(ion_position)}.")
    if velocity.shape != position.shape:
        raise ValueError(f"ion_velocity must have the shape of ion_position {position.shape}; got {np.shape(ion_velocity)}.")
    check_finite("ion_position", position)
    check_finite("ion_velocity", velocity)
    return _Ions(position, velocity, single)


def _prepare_constraint(constraint, ions: _Ions):
    if constraint is None:
        return False, np.tile(np.array([0.0, 0.0, 1.0]), (len(ions.position), 1))
    line = np.asarray(constraint, dtype=float)
    check_finite("constraint", line)
    line = np.broadcast_to(line, ions.position.shape).copy() if line.ndim <= 2 else line
    if line.shape != ions.position.shape:
        raise ValueError(f"constraint must be a direction (3,) or one per ion {ions.position.shape}; got {np.shape(constraint)}.")
    norms = np.linalg.norm(line, axis=-1, keepdims=True)
    if np.any(norms <= 0):
        raise ValueError("constraint must be a nonzero direction.")
    line = line / norms
    off = ions.velocity - np.sum(ions.velocity * line, axis=-1, keepdims=True) * line
    if np.any(np.linalg.norm(off, axis=-1) > 1e-9 * (1.0 + np.linalg.norm(ions.velocity, axis=-1))):
        raise ValueError("ion_velocity must be parallel to the constraint direction.")
    return True, line


def _prepare_bias(bias, constrained: bool, line: np.ndarray, ions: _Ions) -> np.ndarray:
    b = np.asarray(bias, dtype=float)
    check_finite("bias", b)
    if b.ndim == 0:
        if b == 0.0:
            return np.zeros_like(ions.position)
        if not constrained:
            raise ValueError("a scalar bias is a force along the constraint line: give `constraint`, or a (3,) force vector.")
        return float(b) * line
    try:
        return np.broadcast_to(b, ions.position.shape).astype(float).copy()
    except ValueError:
        raise ValueError(f"bias must be a scalar, a (3,) force or one per ion {ions.position.shape}; got {b.shape}.") from None


def _line_layout(system: System):
    """For sites on one line with equal cell steps: (direction û, coordinates along û, cell step)."""
    cells = system.site_cells
    positions = np.asarray(system.site_positions(), dtype=float)
    if len(cells) < 2:
        return None
    step = cells[1] - cells[0]
    if not np.all(np.diff(cells, axis=0) == step) or not np.any(step):
        return None
    direction = positions[-1] - positions[0]
    direction = direction / np.linalg.norm(direction)
    return direction, positions @ direction, step


def _coverage_setup(system: System, radius: float):
    """Candidate-cell offsets around the ion and a mask of tracked cells (for ``all_sites_interact``)."""
    lattice = system.lattice
    vectors = np.asarray(lattice.primitive_vectors, dtype=float)
    pinv = np.linalg.pinv(vectors)  # (dim, 3)
    reach = [int(math.ceil(radius * np.linalg.norm(pinv[i]))) + 1 for i in range(lattice.dim)]
    axes = [np.arange(-r, r + 2) for r in reach]
    offsets = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, lattice.dim)
    cells = system.site_cells
    lo = cells.min(axis=0) - 1
    hi = cells.max(axis=0) + 1
    shape = tuple(int(s) for s in (hi - lo + 1))
    mask = np.zeros(shape, dtype=bool)
    mask[tuple((cells - lo).T)] = True
    return pinv, vectors, offsets, mask.reshape(-1), lo, shape


def _choose_block(num_steps: int, save_every: int, target: int) -> int:
    """A block length commensurate with ``save_every`` (one divides the other), near ``target``,
    preferably dividing ``num_steps``."""
    target = max(1, min(int(target), num_steps))
    candidates = set()
    for b in range(1, min(4 * target, num_steps) + 1):
        if b % save_every == 0 or save_every % b == 0:
            candidates.add(b)
    best = None
    for b in sorted(candidates):
        ratio = abs(math.log(b / target))
        divides = num_steps % b == 0
        key = (0 if (divides and ratio < math.log(2.0)) else 1, ratio)
        if best is None or key < best[0]:
            best = (key, b)
    return best[1]


# ============================================================================ Chebyshev interpolation in frequency


def _chebyshev_nodes(n: int) -> np.ndarray:
    k = np.arange(n)
    return np.cos(np.pi * (2 * k + 1) / (2 * n))


def _barycentric_matrix(x_eval: np.ndarray, nodes: np.ndarray) -> np.ndarray:
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


def _chebyshev_degree(kappa: float) -> int:
    """Smallest ``n`` for which interpolating ``e^{iκt}`` (``t ∈ [−1, 1]``) at ``n`` Chebyshev nodes is
    accurate to ``_INTERPOLATION_TOLERANCE``."""
    t = np.linspace(-1.0, 1.0, 4001)
    exact = np.exp(1j * kappa * t)
    n = max(4, int(kappa) + 4)
    while n < 4000:
        nodes = _chebyshev_nodes(n)
        approx = _barycentric_matrix(t, nodes) @ np.exp(1j * kappa * nodes)
        if np.max(np.abs(approx - exact)) < _INTERPOLATION_TOLERANCE:
            return n
        n += 2
    raise ValueError("block too long for the frequency interpolation; reduce block_steps.")


# ============================================================================ kernel tables in the engine's layout


MAX_ZONE_MODES = 20_000_000  # modes × dof kept in memory by the blocked scheme (~0.3 GB per complex array)


def _check_grid_size(k_grid: int, dim: int, dof: int, duration: float) -> None:
    """Refuse zone grids that cannot fit in memory, with a clear message instead of an OOM kill."""
    modes = k_grid**dim * dof
    if modes > MAX_ZONE_MODES:
        raise ValueError(
            f"an exact infinite-lattice kernel up to τ = {duration:.4g} needs a zone grid of points_per_axis = "
            f"{k_grid} ({modes:.3g} modes), more than this engine holds ({MAX_ZONE_MODES:.3g}). Shorten the run, "
            "pass a smaller points_per_axis with allow_recurrence=True (the grid then recurs like a finite "
            "supercell), or use the full engine."
        )


def _local_table(lattice, cells: np.ndarray, dt: float, lags: int, points_per_axis: int) -> np.ndarray:
    """``−2πδ Γ(lδ)``, ``l = 1 … lags``, between ``cells``: ``(lags, P, P)`` with ``P = S·dof``."""
    from ..theory.kernels import _site_differences

    unique, inverse = _site_differences(cells)
    by_diff = kernel_by_differences(lattice, unique, dt * np.arange(1, lags + 1), points_per_axis)
    table = by_diff[:, inverse]  # (L, S, S, dof, dof)
    s, dof = len(cells), lattice.dof
    table = np.transpose(table, (0, 1, 3, 2, 4)).reshape(lags, s * dof, s * dof)
    return -TWO_PI * dt * table


def _reversed_layout(kernel: np.ndarray, circular: bool) -> np.ndarray:
    """Lay out ``K[l]`` (``l = 1 … L``, array ``(L, P, P)``) so that the convolution with a history buffer
    is one contiguous slice and a matrix–vector product (see the cores)."""
    lags, p, _ = kernel.shape
    full = np.concatenate([np.zeros((1, p, p)), kernel])  # K[0] = 0
    if circular:
        # F[i'] = K[((2L − i' − 1) mod L) + 1], i' = 0 … 2L; slice [L − p, 2L − p) matches buffer order.
        idx = ((2 * lags - np.arange(2 * lags + 1) - 1) % lags) + 1
    else:
        # Rev[i] = K[L − i] for i = 0 … 2L − 1 (zero for non-positive lags); slice [L − r − 1, 2L − r − 1).
        lag = lags - np.arange(2 * lags)
        idx = np.where(lag >= 1, lag, 0)
    rev = full[idx]  # (len, P, P)
    return np.ascontiguousarray(np.transpose(rev, (1, 0, 2)).reshape(p, -1))


# ============================================================================ public entry point


def simulate_memory(
    system: System,
    ion_position,
    ion_velocity,
    duration: float,
    dt: float,
    constraint=None,
    bias=0.0,
    save_every: int = 1,
    kernel: ResponseKernel | None = None,
    memory_length: float | None = None,
    *,
    method: str = "auto",
    points_per_axis: int | None = None,
    block_steps: int | None = None,
    window: int | None = None,
    all_sites_interact: bool = False,
    coverage_tolerance: float = 1e-10,
    allow_recurrence: bool = False,
    cache=True,
    cache_dir=None,
    thermal: ThermalBath | None = None,
    save_sites: bool = True,
    supercell: int | None = None,
    progress: bool = False,
    _members=None,
) -> MemoryResult:
    """Integrate the ion(s) through an infinite lattice with the memory kernel (2.12)–(2.14).

    Args:
        system: lattice, pair potential, mass ratio and the *tracked* sites (``system.sites``): the
            sites whose displacement is followed. By default only they interact with the ion (paper 1's
            convention); with ``all_sites_interact=True`` every lattice site interacts (paper 2's chain)
            and the tracked sites must cover every site the ion comes near.
        ion_position, ion_velocity: ``(3,)``, or ``(ions, 3)`` for several ions (no direct ion–ion force).
        duration: length of the run (τ); it is rounded up to whole save intervals (and blocks).
        dt: time step ``δ`` (paper 2 uses ``1/(60 ω_fast)``); ``ω_max dt`` must not exceed 0.1.
        constraint: ``None`` (free 3D ions) or a direction (one, or one per ion): each ion then moves on
            the line through its start along it (give velocities parallel to it).
        bias: constant force on each ion: a scalar (along ``constraint``; paper 2's bias ``β`` per lattice
            spacing ``α`` is the force ``β/α``), a ``(3,)`` vector, or one per ion.
        save_every: record every this many steps.
        kernel: a :class:`jaxion.theory.kernels.ResponseKernel` table (``method="direct"`` or ``"fft"``;
            also fixes the zone grid for ``"blocked"``). Default: computed (and cached on disk) for this run.
        memory_length: truncate the convolution to the last ``memory_length`` (τ) — an approximation
            (the kernel decays slowly, as ``τ^{−1/2}`` on a chain); direct and fft methods.
        method: ``"direct"`` (quadratic), ``"fft"`` (the same sum by hierarchical FFT blocks,
            ``O(T log² T)``), ``"blocked"`` (far field by zone modes, near field direct), or ``"auto"``
            (direct for short runs; long 2D/3D runs ``"fft"`` while the kernel table stays below 1 GB;
            long chain runs ``"blocked"``).
        points_per_axis: zone grid ``K`` (default: the smallest exact over the run, see
            :func:`jaxion.theory.kernels.default_points_per_axis`).
        block_steps: ``B`` for the blocked method (default from the problem size) and the fft method
            (default 64).
        window: number of consecutive tracked sites handled in each block (blocked method; sites on a
            line only). Default: all sites when few, else enough for the ion's reach in a block.
        all_sites_interact: see ``system``; the run raises ``ValueError`` if the ion comes within
            interaction range (``|φ| > coverage_tolerance × max|φ|``) of an untracked lattice site.
        coverage_tolerance: threshold of that check and of the window check.
        allow_recurrence: allow a run longer than the zone grid's valid time (the kernel then echoes like
            a periodic supercell's) instead of raising.
        cache, cache_dir: disk cache of kernel tables (see :mod:`jaxion.theory.kernels`).
        thermal: ``None`` (framework at rest at ``τ = 0``, the default) or a
            :class:`jaxion.dynamics.thermal.ThermalBath`: the tracked sites then move as
            ``ρ = ρ_hom + ρ_response`` ((2.12); ``ρ_hom`` the free modes of the zone grid with random phases
            and amplitudes, paper 2, Sec. II). The bath's modes are those of the engine's zone grid
            (``points_per_axis``; a ``ThermalBath.points_per_axis`` sets it when ``points_per_axis`` is not
            given); with the same key both methods see the same ``ρ_hom``. A batch of keys runs an ensemble
            in one vmapped call; every array of the result (and ``loss``, ``final_state``) then gains a
            leading ensemble axis ``(E, …)``. ``energy_error`` stays exact: ``W_F`` is the work on the
            framework along the full ``ρ``.
        supercell: ``K``: run on the full engine's periodic ``K × … × K`` supercell instead of the infinite
            lattice. The kernel is then the zone sum on the periodic grid ``q = 2πm/K`` (``q = 0``
            included, :func:`jaxion.theory.kernels.zone_modes_grid`), which *is* that supercell's
            response: echoes and all, the run equals :func:`jaxion.simulate` on ``(K,)*dim`` for the
            tracked sites (tested), at the cost of a few sites instead of ``K^dim`` (direct or fft
            method; no thermal bath). Paper 1's Fig. 4 on 50³ this way: ``benchmarks/bench_full_engine.py``.
        progress: a progress bar while a long 2D/3D kernel table is computed.
        save_sites: record the tracked sites' displacements at every save (``records × sites × dof``
            floats: 0.5 GB for 40 000 records of 1 560 sites). ``False`` keeps only the final ones
            (``final_state``) and leaves ``site_displacements`` ``None``.

    Returns:
        A :class:`MemoryResult`.

    Raises:
        ValueError: bad input (each message names the parameter), a run longer than the given kernel,
            a too large ``dt``, or an ion that left the tracked sites / the block window.
    """
    # ------------------------------------------------------------------ checks
    if not isinstance(system, System):
        raise ValueError(f"system must be a jaxion System; got {type(system).__name__}.")
    check_positive("dt", dt)
    check_positive("duration", duration)
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid options are {list(METHODS)}.")
    if isinstance(save_every, bool) or int(save_every) != save_every or int(save_every) < 1:
        raise ValueError(f"save_every must be a positive integer; got {save_every!r}.")
    save_every = int(save_every)
    if block_steps is not None and (isinstance(block_steps, bool) or int(block_steps) != block_steps or int(block_steps) < 1):
        raise ValueError(f"block_steps must be a positive integer; got {block_steps!r}.")
    check_positive("coverage_tolerance", coverage_tolerance)
    dt = float(dt)
    duration = float(duration)
    lattice = system.lattice
    ions = _prepare_ions(ion_position, ion_velocity)
    if _members is not None:
        # simulate_memory_batch: one single-ion run per row, validated together; bias shared by all
        if thermal is not None:
            raise ValueError("simulate_memory_batch takes no thermal bath; run a thermal ensemble with simulate_memory(thermal=...).")
        if np.ndim(bias) > 1:
            raise ValueError(f"bias must be a scalar or a (3,) vector shared by every member; got shape {np.shape(bias)}.")
        if constraint is not None and np.ndim(constraint) > 1:
            raise ValueError(f"constraint must be one (3,) direction shared by every member; got shape {np.shape(constraint)}.")
    constrained, line = _prepare_constraint(constraint, ions)
    bias_force = _prepare_bias(bias, constrained, line, ions)
    if constrained:
        bias_force = line * np.sum(line * bias_force, axis=-1, keepdims=True)

    omega_max = lattice.max_frequency()
    if omega_max * dt > MAX_OMEGA_DT:
        raise ValueError(
            f"dt = {dt:.4g} is too large: the fastest lattice mode (ω_max = {omega_max:.4g}) gets only "
            f"{1.0 / (omega_max * dt):.3g} steps per period; the convolution (2.12) needs ω_max·dt <= {MAX_OMEGA_DT} "
            f"(paper 2 uses dt = 1/(60 ω_max) = {1.0 / (60 * omega_max):.3g})."
        )
    interaction_range = float(system.potential.range)
    fastest = float(np.max(np.linalg.norm(ions.velocity, axis=-1)))
    if fastest * dt > MAX_STEP_OVER_RANGE * interaction_range:
        raise ValueError(
            f"dt = {dt:.4g} is too large for the ion: at speed {fastest:.4g} it moves {fastest * dt:.3g} per step, "
            f"more than {MAX_STEP_OVER_RANGE} × the interaction range {interaction_range:.3g}."
        )
    boundary = "twisted"
    if supercell is not None:
        if isinstance(supercell, bool) or int(supercell) != supercell or int(supercell) < 3:
            raise ValueError(f"supercell must be an integer number of cells per axis >= 3; got {supercell!r}.")
        if method == "blocked":
            raise ValueError("supercell (a periodic supercell's kernel) needs method='direct', 'fft' or 'auto'.")
        if thermal is not None:
            raise ValueError("supercell does not take a thermal bath (its q = 0 translation has no thermal amplitude).")
        if points_per_axis is not None and int(points_per_axis) != int(supercell):
            raise ValueError(f"points_per_axis = {points_per_axis} contradicts supercell = {supercell}; give one of them.")
        if kernel is not None and (kernel.boundary != "periodic" or kernel.points_per_axis != int(supercell)):
            raise ValueError(f"kernel was not computed for the periodic supercell {supercell} (precompute_kernel(..., "
                             f"points_per_axis={supercell}, boundary='periodic')).")
        boundary, points_per_axis, allow_recurrence = "periodic", int(supercell), True
    elif kernel is not None and kernel.boundary == "periodic":
        raise ValueError("kernel holds a periodic supercell's response; pass supercell=kernel.points_per_axis.")
    if memory_length is not None:
        check_positive("memory_length", memory_length)
        if method == "blocked":
            raise ValueError("memory_length (a truncated memory) is only available with method='direct' or 'fft'.")

    num_steps = max(1, int(math.ceil(duration / dt - 1e-9)))
    num_chunks = -(-num_steps // save_every)
    cells = system.site_cells
    num_sites, dof = len(cells), lattice.dof
    channels = num_sites * dof

    if kernel is not None:
        if not isinstance(kernel, ResponseKernel):
            raise ValueError(f"kernel must be a ResponseKernel (jaxion.theory.kernels.precompute_kernel); got {type(kernel).__name__}.")
        if kernel.lattice_key != lattice_fingerprint(lattice):
            raise ValueError("kernel was computed for a different lattice than system.lattice.")
        if tuple(map(tuple, cells.tolist())) != tuple(kernel.cells):
            raise ValueError(f"kernel was computed for the sites {kernel.cells}, not system.sites {system.sites}.")
        if abs(kernel.dt - dt) > 1e-12 * dt:
            raise ValueError(f"dt = {dt!r} differs from the kernel's time step {kernel.dt!r}; precompute the kernel with this dt.")
        if points_per_axis is not None and int(points_per_axis) != kernel.points_per_axis:
            raise ValueError(f"points_per_axis = {points_per_axis} differs from the kernel's grid K = {kernel.points_per_axis}.")
        points_per_axis = kernel.points_per_axis

    if method == "auto":
        direct_cost = float(num_steps) * num_steps * channels * channels
        table_bytes = 8.0 * num_steps * channels * channels
        if memory_length is not None or (kernel is not None and num_steps <= kernel.num_lags):
            method = "direct" if direct_cost < 1e9 else "fft"
        elif (lattice.dim >= 2 or supercell is not None) and table_bytes <= MAX_FFT_TABLE_BYTES:
            method = "direct" if direct_cost < 1e9 else "fft"
        else:
            method = "direct" if (direct_cost < 2e10 and num_steps <= 40_000) else "blocked"

    # ------------------------------------------------------------------ coverage checks
    tolerance = float(coverage_tolerance)
    radius = _coverage_radius(system.potential, tolerance)
    scale = _energy_scale(system.potential, 3.0 * interaction_range)
    pinv, vectors, offsets, mask, mask_lo, mask_shape = _coverage_setup(system, radius)
    physics = _Physics(
        potential=system.potential,
        polarisation=jnp.asarray(lattice.polarisation_matrix),
        mass_ratio=jnp.asarray(system.mass_ratio, float),
        line=jnp.asarray(line if _members is None else line[:1]),  # a batch member is one ion
        bias=jnp.asarray(bias_force if _members is None else bias_force[:1]),
        pinv=jnp.asarray(pinv),
        vectors=jnp.asarray(vectors),
        cand_offsets=jnp.asarray(offsets),
        mask=jnp.asarray(mask),
        mask_lo=jnp.asarray(mask_lo),
        mask_shape=mask_shape,
        constrained=constrained,
        check_untracked=bool(all_sites_interact),
    )
    if all_sites_interact:
        start_leak = float(physics.untracked_energy(jnp.asarray(ions.position)))
        if start_leak > tolerance * scale:
            raise ValueError(
                "ion_position lies within interaction range of lattice sites that are not in system.sites "
                f"(|φ| = {start_leak:.3g} > {tolerance:g} × {scale:.3g}); track those sites (system.sites)."
            )

    # ------------------------------------------------------------------ run
    if method in ("direct", "fft"):
        total_steps = num_chunks * save_every
        lags = total_steps if memory_length is None else max(1, int(round(float(memory_length) / dt)))
        lags = min(lags, total_steps)
        if kernel is not None:
            if memory_length is None and kernel.num_lags < total_steps:
                raise ValueError(
                    f"duration = {duration:g} (→ {total_steps} steps of dt = {dt:g}) is longer than the precomputed kernel "
                    f"({kernel.num_lags} lags, τ ≤ {kernel.duration:g}); precompute a longer kernel or set memory_length."
                )
            if kernel.num_lags < lags:
                raise ValueError(f"memory_length = {memory_length} is longer than the precomputed kernel (τ ≤ {kernel.duration:g}).")
            table = -TWO_PI * dt * np.asarray(kernel.values)[1 : lags + 1].reshape(lags, channels, channels)
            k_grid = kernel.points_per_axis
        else:
            k_grid = points_per_axis or default_points_per_axis(lattice, lags * dt, cells)
            if lattice.dim == 1:  # 2D/3D tables of long runs are binned (theory.binned): no mode array is held
                _check_grid_size(int(k_grid), lattice.dim, dof, lags * dt)
            table = -TWO_PI * dt * np.asarray(
                precompute_kernel(lattice, cells, dt, lags * dt, points_per_axis=k_grid, cache=cache, cache_dir=cache_dir,
                                  boundary=boundary, progress=progress).values
            )[1 : lags + 1].reshape(lags, channels, channels)
        valid = kernel_valid_time(lattice, k_grid, cells)
        if boundary == "periodic":
            _warn_supercell_echo(lattice, int(k_grid), lags * dt)
        else:
            _check_recurrence(valid, lags * dt, k_grid, allow_recurrence)
        bath = None
        if thermal is not None:
            modes_t = thermal_modes(lattice, int(thermal.points_per_axis or k_grid))
            bath = (modes_t, _flat_amplitudes(thermal, modes_t), cells)
        if method == "direct":
            outs = _run_direct(
                physics, ions, table, dt, save_every, num_chunks, lags, np.asarray(system.site_positions()), dof, tolerance * scale,
                bath, _members,
            )
            block = 0
        else:
            block = int(block_steps or min(FFT_BLOCK, total_steps))
            if lags < total_steps:  # a truncated memory: zero lags past it
                table = np.concatenate([table, np.zeros((total_steps - lags,) + table.shape[1:])])
            outs = _run_fft(
                physics, ions, table, dt, save_every, total_steps, np.asarray(system.site_positions()), dof, tolerance * scale, block,
                bath, _members,
            )
        n_cheb, window_used = 0, num_sites
    else:
        total_steps = num_chunks * save_every
        layout = _line_layout(system)
        if thermal is not None and thermal.points_per_axis is not None and points_per_axis is not None:
            if int(thermal.points_per_axis) != int(points_per_axis):
                raise ValueError(
                    f"thermal.points_per_axis = {thermal.points_per_axis} differs from points_per_axis = {points_per_axis}: the "
                    "blocked method carries the thermal modes on its own zone grid; give one of them."
                )
        if points_per_axis is None and thermal is not None and thermal.points_per_axis is not None:
            points_per_axis = int(thermal.points_per_axis)
        k_grid = points_per_axis or default_points_per_axis(lattice, total_steps * dt, cells)
        _check_grid_size(int(k_grid), lattice.dim, dof, total_steps * dt)
        valid = kernel_valid_time(lattice, int(k_grid), cells)
        _check_recurrence(valid, total_steps * dt, k_grid, allow_recurrence)
        if block_steps is None:
            modes_count = -(-int(k_grid) ** lattice.dim // 2) * dof
            provisional = _choose_window(window, layout, num_sites, radius, fastest, 256 * dt)
            target = _default_block(modes_count, provisional * dof)
        else:
            target = int(block_steps)
        block = _choose_block(total_steps, save_every, target)
        window_used = _choose_window(window, layout, num_sites, radius, fastest, block * dt)
        bath = None
        if thermal is not None:
            modes_t = thermal_modes(lattice, int(k_grid))
            bath = (modes_t, _flat_amplitudes(thermal, modes_t))
        outs, n_cheb = _run_blocked(
            physics, ions, system, int(k_grid), dt, block, total_steps, save_every, window_used, layout, tolerance * scale, radius, bath,
            _members,
        )

    # ------------------------------------------------------------------ assemble
    for member, out in enumerate(outs):
        try:
            _raise_on_leaks(out, tolerance * scale, dt, window_used)
        except ValueError as error:
            if _members is None:
                raise
            raise ValueError(f"member {member} (initial speed {np.linalg.norm(ions.velocity[member]):.6g}): {error}") from None
    info = dict(
        method=method, block=block, k_grid=k_grid, n_cheb=n_cheb, window_used=window_used, valid=valid,
        total_steps=total_steps, dt=dt, save_every=save_every, num_sites=num_sites, dof=dof, save_sites=bool(save_sites),
    )
    if _members is not None:
        results = [
            _assemble(out, system, _Ions(ions.position[m : m + 1], ions.velocity[m : m + 1], True), bias_force[m : m + 1], info)
            for m, out in enumerate(outs)
        ]
        return jax.tree_util.tree_map(lambda *a: np.stack([np.asarray(x) for x in a]), *results)
    results = [_assemble(out, system, ions, bias_force, info) for out in outs]
    if thermal is None or thermal.batch_shape == ():
        return results[0]
    # an ensemble: stack the runs along a leading axis (the bath's key batch shape)
    batch = thermal.batch_shape
    stacked = jax.tree_util.tree_map(lambda *a: np.stack([np.asarray(x) for x in a]), *results)
    return jax.tree_util.tree_map(lambda a: a.reshape(batch + a.shape[1:]), stacked)


def _flat_amplitudes(thermal: ThermalBath, modes):
    """The bath's mode amplitudes for all its keys, ``(E, J, dof, 2)`` (``E = 1`` for a single key)."""
    zs = thermal.amplitudes(modes.omega)
    return zs.reshape((-1,) + zs.shape[-3:])


def _raise_on_leaks(out, threshold, dt, window_used):
    leak_window, first_window, leak_untracked, first_untracked = out[6:10]
    if float(leak_untracked) > threshold:
        raise ValueError(
            f"the ion left the tracked sites: at τ ≈ {float(first_untracked) * dt:.4g} it came within interaction range of a lattice "
            f"site that is not in system.sites (|φ| = {float(leak_untracked):.3g}); track the sites the ion can reach (system.sites)."
        )
    if float(leak_window) > threshold:
        raise ValueError(
            f"the ion outran the block window at τ ≈ {float(first_window) * dt:.4g}: a tracked site outside the window of "
            f"{window_used} sites came within interaction range (|φ| = {float(leak_window):.3g}); increase `window` or reduce `block_steps`."
        )


def _assemble(out, system, ions, bias_force, info) -> MemoryResult:
    (positions, velocities, phis, works, rhos, starts, _, _, _, _) = out
    dt, total_steps, save_every = info["dt"], info["total_steps"], info["save_every"]
    num_sites, dof = info["num_sites"], info["dof"]
    positions = np.asarray(positions)
    velocities = np.asarray(velocities)
    phis = np.asarray(phis)
    works = np.asarray(works)
    rhos = np.asarray(rhos)
    starts = np.asarray(starts)
    n_rec = positions.shape[0]
    ts = dt * save_every * np.arange(n_rec, dtype=float)
    ts[-1] = total_steps * dt
    rho_w = rhos.reshape(n_rec, -1, dof)
    if not info["save_sites"]:  # only the final displacements (a long windowed run's full table is large)
        rho_w, starts = rho_w[-1:], starts[-1:]
    records = rho_w.shape[0]
    if rho_w.shape[1] == num_sites:
        site_disp = rho_w
    else:
        site_disp = np.full((records, num_sites, dof), np.nan)
        idx = starts[:, None] + np.arange(rho_w.shape[1])[None, :]
        site_disp[np.arange(records)[:, None], idx] = rho_w
    mu = float(system.mass_ratio)
    kinetic = mu * np.sum(velocities**2, axis=(-1, -2)) / (2 * FOUR_PI_SQ)
    bias_work = np.sum((positions - ions.position[None]) * bias_force[None], axis=(-1, -2))
    total = kinetic + phis + works - bias_work
    energy_error = total - total[0]
    final = MemoryState(
        time=jnp.asarray(ts[-1]),
        ion_position=jnp.asarray(positions[-1][0] if ions.single else positions[-1]),
        ion_velocity=jnp.asarray(velocities[-1][0] if ions.single else velocities[-1]),
        site_displacements=jnp.asarray(site_disp[-1]),
        framework_work=jnp.asarray(works[-1]),
    )
    if ions.single:
        positions, velocities = positions[:, 0], velocities[:, 0]
    return MemoryResult(
        ts=ts,
        ion_positions=positions,
        ion_velocities=velocities,
        site_displacements=site_disp if info["save_sites"] else None,
        kinetic_energy=kinetic,
        interaction_energy=phis,
        framework_work=works,
        bias_work=bias_work,
        energy_error=energy_error,
        loss=float(kinetic[0] - kinetic[-1]),
        final_state=final,
        method=info["method"],
        block_steps=int(info["block"]),
        points_per_axis=int(info["k_grid"]),
        chebyshev_nodes=int(info["n_cheb"]),
        window=int(info["window_used"]),
        valid_time=float(info["valid"]),
        num_steps=int(total_steps),
        dt=dt,
    )


def _warn_supercell_echo(lattice, size: int, duration: float) -> None:
    from ..lattice import supercell_echo_time
    from .full import EchoWarning

    echo = supercell_echo_time(lattice, (size,) * lattice.dim)
    if duration > echo:
        warnings.warn(
            f"the run lasts τ = {duration:.3g}, but sound goes around the periodic supercell {(size,) * lattice.dim} in "
            f"τ ≈ {echo:.3g}: from then on finite-size echoes return to the tracked sites (as in jaxion.simulate).",
            EchoWarning,
            stacklevel=3,
        )


def _check_recurrence(valid: float, needed: float, k_grid, allow: bool) -> None:
    if needed <= valid * (1 + 1e-9):
        return
    if not allow:
        raise ValueError(
            f"the run needs the kernel up to τ = {needed:.4g}, but a zone grid of points_per_axis = {k_grid} is exact only up to "
            f"τ ≈ {valid:.4g} (after that it recurs like a {k_grid}-periodic supercell); raise points_per_axis "
            "(or pass allow_recurrence=True to accept the echo)."
        )
    warnings.warn(
        f"allow_recurrence: the zone grid points_per_axis = {k_grid} is exact only up to τ ≈ {valid:.4g} of the {needed:.4g} "
        "this run needs; later, echoes return as in a periodic supercell of that size.",
        stacklevel=3,
    )


def _default_block(modes_count: int, window_channels: int) -> int:
    """Block length balancing the near field (``∝ B P_w²`` per step, a matrix–vector product) against
    the far field (``∝ 4 n M P_w / B`` per step in matrix products, ``n ≈ 25`` nodes, ``M`` modes); the
    factor 0.2 is the measured efficiency ratio of the two on a 2-core CPU (optimum B ≈ 240 for the
    800-τ chain run of the benchmark)."""
    return int(np.clip(math.sqrt(0.2 * 4 * 25 * modes_count / max(window_channels, 1)), 32, 1024))


def _choose_window(window, layout, num_sites: int, radius: float, speed: float, block_time: float) -> int:
    if window is not None:
        if int(window) != window or int(window) < 1:
            raise ValueError(f"window must be a positive integer; got {window!r}.")
        window = min(int(window), num_sites)
        if window < num_sites and layout is None:
            raise ValueError("window < number of sites needs tracked sites on one line with equal cell steps (e.g. line_sites).")
        return window
    if layout is None or num_sites <= 8:
        return num_sites
    _, coords, _ = layout
    spacing = float(np.min(np.diff(coords)))
    need = int(math.ceil((2.0 * radius + 1.5 * speed * block_time) / spacing)) + 2
    return min(num_sites, max(need, 3))


def _update_leaks(physics, sigmas, first_step, leaks, leak_tol, neighbours=None, has=None):
    """Vectorised coverage checks over the ion positions of a run of steps (``sigmas[j]`` is the state
    at global step ``first_step + j``): largest untracked-site energy and, with ``neighbours``, largest
    energy of the tracked sites just outside the window; and the first step each exceeded ``leak_tol``."""
    leak_w, first_w, leak_u, first_u = leaks
    steps = first_step + jnp.arange(sigmas.shape[0])

    def fold(value, first, per_step):
        over = per_step > leak_tol
        hit = jnp.where(jnp.any(over), steps[jnp.argmax(over)], -1)
        first = jnp.where((first < 0) & (hit >= 0), hit, first)
        return jnp.maximum(value, jnp.max(per_step)), first

    if physics.check_untracked:
        leak_u, first_u = fold(leak_u, first_u, jax.vmap(physics.untracked_energy)(sigmas))
    if neighbours is not None:
        energies = jnp.abs(physics.potential.energy(neighbours[None, None, :, :] - sigmas[:, :, None, :]))  # (L, I, 2)
        per_step = jnp.max(jnp.where(has[None, None, :], energies, 0.0), axis=(1, 2))
        leak_w, first_w = fold(leak_w, first_w, per_step)
    return leak_w, first_w, leak_u, first_u


# ============================================================================ direct method


@eqx.filter_jit
def _direct_core(physics, sigma, vel, positions, kflat, dt, num_chunks: int, save_every: int, lags: int, dof: int, leak_tol, hom=None):
    """``hom``: ``None`` (framework at rest at τ = 0), or the homogeneous (thermal) motion of the tracked
    sites at every step, ``(steps + 1, sites, dof)``, added to the response (2.12)."""
    num_sites = positions.shape[0]
    p = num_sites * dof
    rho0 = jnp.zeros((num_sites, dof)) if hom is None else hom[0]
    phi0, acc0, g0 = physics.forces(sigma, rho0, positions)
    hist0 = jnp.zeros((lags, p))

    def step(carry, _):
        sigma, vel, acc, g, rho, phi, work, hist, n = carry
        sigma1 = sigma + dt * vel + 0.5 * dt * dt * acc
        weight = jnp.where(n == 0, 0.5, 1.0)
        hist = hist.at[n % lags].set(weight * g.reshape(-1))
        start = (lags - (n + 1) % lags) * p
        rho1 = (jax.lax.dynamic_slice(kflat, (0, start), (p, lags * p)) @ hist.reshape(-1)).reshape(num_sites, dof)
        if hom is not None:
            rho1 = rho1 + hom[n + 1]
        phi1, acc1, g1 = physics.forces(sigma1, rho1, positions)
        vel1 = vel + 0.5 * dt * (acc + acc1)
        work1 = work - 0.5 * jnp.sum((g + g1) * (rho1 - rho))
        return (sigma1, vel1, acc1, g1, rho1, phi1, work1, hist, n + 1), sigma1

    def chunk(carry, _):
        state, leaks = carry
        sigma, vel, acc, g, rho, phi, work, hist, n = state
        record = (sigma, vel, phi, work, rho.reshape(-1))
        state, sigmas = jax.lax.scan(step, state, None, length=save_every)
        leaks = _update_leaks(physics, sigmas, n + 1, leaks, leak_tol)
        return (state, leaks), record

    state0 = (sigma, vel, acc0, g0, rho0, phi0, jnp.zeros(()), hist0, jnp.zeros((), int))
    leaks0 = (jnp.zeros(()), -jnp.ones((), int), jnp.zeros(()), -jnp.ones((), int))
    (state, leaks), records = jax.lax.scan(chunk, (state0, leaks0), None, length=num_chunks)
    sigma, vel, acc, g, rho, phi, work, hist, n = state
    final = (sigma, vel, phi, work, rho.reshape(-1))
    stacked = jax.tree_util.tree_map(lambda r, f: jnp.concatenate([r, f[None]]), records, final)
    return stacked, leaks[2], leaks[3]


def _run_direct(physics, ions, table, dt, save_every, num_chunks, lags, positions, dof, leak_tol, thermal=None, members=None):
    """One run, or (``thermal = (modes, zs, cells)``, ``zs`` ``(E, J, dof, 2)``) an ensemble of ``E`` thermal
    runs in one vmapped call, or (``members``: a device mesh or ``None``) one single-ion run per row of
    ``ions`` split over the mesh's devices; returns a list of per-run outputs."""
    kflat = jnp.asarray(_reversed_layout(table, circular=True))
    args = (physics, jnp.asarray(ions.position), jnp.asarray(ions.velocity), jnp.asarray(positions), kflat, jnp.asarray(dt))
    statics = (num_chunks, save_every, lags, dof, jnp.asarray(leak_tol))
    outs = _core_runs(_direct_core, args, statics, ions, members, thermal, num_chunks * save_every, dt)
    return _table_results(outs, keep=None)


def _core_runs(core, args, statics, ions, members, thermal, total_steps: int, dt: float) -> list:
    """Run a table-convolution core once, once per batch member (``members``: a device mesh holder), or
    once per thermal key (``thermal = (modes, zs, cells)``, vmapped); returns the per-run outputs."""
    if members is not None:
        return _member_runs(core, args, 1, args[3:] + statics, ions, members.mesh)
    if thermal is None:
        return [core(*args, *statics)]
    modes, zs, cells = thermal
    times = dt * jnp.arange(total_steps + 1)

    def one(z):
        hom, _ = motion_from_amplitudes(modes, z, cells, times, with_velocity=False)
        return core(*args, *statics, hom)

    batched = jax.vmap(one)(zs)
    return [jax.tree_util.tree_map(lambda a, i=i: a[i], batched) for i in range(zs.shape[0])]


def _table_results(outs, keep=None) -> list:
    """The cores' records as :func:`_assemble` takes them (``keep``: the saved rows, default all)."""
    results = []
    for stacked, leak_u, first_u in outs:
        positions_r, velocities, phis, works, rhos = (np.asarray(a) if keep is None else np.asarray(a)[keep] for a in stacked)
        starts = np.zeros(positions_r.shape[0], dtype=int)
        results.append((positions_r, velocities, phis, works, rhos, starts, 0.0, -1, leak_u, first_u))
    return results


# ============================================================================ fft method (hierarchical blocks)


def _fft_levels(total_steps: int, block: int) -> tuple[int, int]:
    """Number of blocks and of dyadic levels: squares of ``2^ℓ`` blocks for ``2^ℓ < blocks``."""
    blocks = -(-int(total_steps) // int(block))
    levels = max(1, int(blocks - 1).bit_length()) if blocks > 1 else 0
    return blocks, levels


def _fft_tables(table: np.ndarray, block: int):
    """Spectra of the kernel for the hierarchical convolution, and the near-field table.

    ``table``: ``K[l]``, ``l = 1 … L`` (``(L, P, P)``, already ``−2πδΓ``). For level ``ℓ`` (``s = 2^ℓ``
    blocks, ``n = sB`` steps) the square ``inputs [jB − n, jB) → outputs [jB, jB + n)`` involves lags
    ``2 … 2n``: its kernel is ``K'[v] = K[v + 1]`` (``v = 1 … 2n − 1``, zero past ``L``), transformed with a
    real FFT of length ``2n``. The near field (the current block) uses ``K[B − r]``, ``r = 0 … B − 1``."""
    lags, p, _ = table.shape
    blocks, levels = _fft_levels(lags, block)
    padded = np.zeros((2 * block * (1 << max(levels - 1, 0)) + 2, p, p))
    padded[1 : lags + 1] = table[: len(padded) - 1]  # padded[l] = K[l]
    spectra = []
    for level in range(levels):
        n = block << level
        shifted = np.zeros((2 * n, p, p))
        shifted[1 : 2 * n] = padded[2 : 2 * n + 1]  # K'[v] = K[v + 1]
        spectra.append(jnp.asarray(np.fft.rfft(shifted, axis=0)))
    near = np.zeros((block, p, p))
    upto = min(block, lags)
    near[block - upto :] = table[:upto][::-1]  # near[r] = K[B − r]
    return tuple(spectra), jnp.asarray(near)


@eqx.filter_jit
def _fft_core(physics, sigma, vel, positions, spectra, near, dt, total_steps: int, block: int, dof: int, leak_tol, hom=None):
    """The trapezoid convolution of the direct method, reorganised (exact, to rounding) as near field +
    dyadic squares (module notes, ``method="fft"``). Records every step; the caller subsamples."""
    num_sites = positions.shape[0]
    p = num_sites * dof
    blocks, levels = _fft_levels(total_steps, block)
    steps = blocks * block
    longest = block << max(levels - 1, 0)
    rho0 = jnp.zeros((num_sites, dof)) if hom is None else hom[0]
    phi0, acc0, g0 = physics.forces(sigma, rho0, positions)
    history = jnp.zeros((steps, p))
    far = jnp.zeros((steps + longest, p))

    def square(level, j, far, history):
        n = block << level
        x = jax.lax.dynamic_slice(history, ((j - (1 << level)) * block, 0), (n, p))
        spectrum = jnp.einsum("fpq,fq->fp", spectra[level], jnp.fft.rfft(x, n=2 * n, axis=0))
        y = jnp.fft.irfft(spectrum, n=2 * n, axis=0)[n:]
        start = (j * block, 0)
        return jax.lax.dynamic_update_slice(far, jax.lax.dynamic_slice(far, start, (n, p)) + y, start)

    def run_block(carry, j):
        sigma, vel, acc, g, rho, phi, work, history, far = carry
        for level in range(levels):  # the squares whose inputs ended with the previous block
            s = 1 << level
            far = jax.lax.cond((j >= s) & (j % (2 * s) == s), lambda f, lv=level: square(lv, j, f, history), lambda f: f, far)
        local = jnp.zeros((2 * block, p))  # rows B + i: this block's forces

        def step(carry, t):
            sigma, vel, acc, g, rho, phi, work, history, local = carry
            n = j * block + t
            weighted = jnp.where(n == 0, 0.5, 1.0) * g.reshape(-1)
            history = jax.lax.dynamic_update_slice(history, weighted[None], (n, 0))
            local = jax.lax.dynamic_update_slice(local, weighted[None], (block + t, 0))
            sigma1 = sigma + dt * vel + 0.5 * dt * dt * acc
            recent = jax.lax.dynamic_slice(local, (t + 1, 0), (block, p))
            rho1 = (far[n] + jnp.einsum("rpq,rq->p", near, recent)).reshape(num_sites, dof)
            if hom is not None:
                rho1 = rho1 + hom[jnp.minimum(n + 1, hom.shape[0] - 1)]
            phi1, acc1, g1 = physics.forces(sigma1, rho1, positions)
            vel1 = vel + 0.5 * dt * (acc + acc1)
            work1 = work - 0.5 * jnp.sum((g + g1) * (rho1 - rho))
            return (sigma1, vel1, acc1, g1, rho1, phi1, work1, history, local), (sigma1, vel1, phi1, work1, rho1.reshape(-1))

        inner = (sigma, vel, acc, g, rho, phi, work, history, local)
        (sigma, vel, acc, g, rho, phi, work, history, _), records = jax.lax.scan(step, inner, jnp.arange(block))
        return (sigma, vel, acc, g, rho, phi, work, history, far), records

    carry0 = (sigma, vel, acc0, g0, rho0, phi0, jnp.zeros(()), history, far)
    _, records = jax.lax.scan(run_block, carry0, jnp.arange(blocks))
    records = jax.tree_util.tree_map(lambda r: r.reshape((steps,) + r.shape[2:])[:total_steps], records)
    first = (sigma, vel, phi0, jnp.zeros(()), rho0.reshape(-1))
    stacked = jax.tree_util.tree_map(lambda f, r: jnp.concatenate([f[None], r]), first, records)  # steps 0 … total
    leaks = _update_leaks(physics, stacked[0][1:], 1, (jnp.zeros(()), -jnp.ones((), int), jnp.zeros(()), -jnp.ones((), int)), leak_tol)
    return stacked, leaks[2], leaks[3]


def _run_fft(physics, ions, table, dt, save_every, total_steps, positions, dof, leak_tol, block, thermal=None, members=None):
    """As :func:`_run_direct`, with the hierarchical FFT convolution (``table``: lags ``1 … total_steps``)."""
    spectra, near = _fft_tables(table, block)
    args = (physics, jnp.asarray(ions.position), jnp.asarray(ions.velocity), jnp.asarray(positions), spectra, near, jnp.asarray(dt))
    statics = (total_steps, block, dof, jnp.asarray(leak_tol))
    outs = _core_runs(_fft_core, args, statics, ions, members, thermal, total_steps, dt)
    return _table_results(outs, keep=np.arange(0, total_steps + 1, save_every))


# ============================================================================ blocked (zone-mode) method


class _Modes(eqx.Module):
    """Zone-grid modes ``(q, u)`` for the far field and the matrices of the block algorithm."""

    nodes: Array  # (J', dim)
    eta: Array  # (J', dof, dof)  eta[q, d, u]
    coef_re: Array  # (J', dof)  w_q/ω e^{2πiν T_B/2}
    coef_im: Array
    half_re: Array  # (J', dof)  e^{2πiν T_B/2}
    half_im: Array
    rot_re: Array  # (J', dof)  e^{2πiω T_B}
    rot_im: Array
    ell: Array  # (J'·dof, n) Lagrange basis at ν
    ell_t: Array  # (n, J'·dof) its transpose (contiguous)
    z_re: Array  # (B+1, n)
    z_im: Array
    q_re: Array  # (n, B)
    q_im: Array
    off_cos: Array  # (J', W) cos(q·(n_j − n_0)) for the window's offsets
    off_sin: Array


def _build_modes(lattice, k_grid: int, dt: float, block: int, offsets: np.ndarray):
    nodes, weights, omega, eta = zone_modes_grid(lattice, k_grid)
    off_phase = nodes @ np.asarray(offsets, dtype=float).T  # (J', W)
    omega = np.maximum(omega, 1e-300)
    lo, hi = float(np.min(omega)), float(np.max(omega))
    centre = 0.5 * (lo + hi)
    half_width = max(0.5 * (hi - lo), 1e-12)
    block_time = block * dt
    kappa = TWO_PI * half_width * block_time / 2.0
    n = _chebyshev_degree(kappa)
    t_nodes = _chebyshev_nodes(n)
    nu_nodes = half_width * t_nodes
    nu = (omega - centre).reshape(-1)
    ell = _barycentric_matrix(nu / half_width, t_nodes)  # (J'·dof, n)
    half = np.exp(1j * TWO_PI * (omega - centre) * block_time / 2.0)
    coef = weights[:, None] / omega * half
    rot = np.exp(1j * TWO_PI * omega * block_time)
    s = dt * np.arange(block + 1)
    z = np.exp(1j * TWO_PI * (centre * s[:, None] + nu_nodes[None, :] * (s[:, None] - block_time / 2.0)))
    s_src = dt * np.arange(block)
    qm = dt * np.exp(1j * TWO_PI * (centre * (block_time - s_src[None, :]) + nu_nodes[:, None] * (block_time / 2.0 - s_src[None, :])))
    modes = _Modes(
        nodes=jnp.asarray(nodes),
        eta=jnp.asarray(eta),
        coef_re=jnp.asarray(coef.real),
        coef_im=jnp.asarray(coef.imag),
        half_re=jnp.asarray(half.real),
        half_im=jnp.asarray(half.imag),
        rot_re=jnp.asarray(rot.real),
        rot_im=jnp.asarray(rot.imag),
        ell=jnp.asarray(ell),
        ell_t=jnp.asarray(np.ascontiguousarray(ell.T)),
        z_re=jnp.asarray(z.real),
        z_im=jnp.asarray(z.imag),
        q_re=jnp.asarray(qm.real),
        q_im=jnp.asarray(qm.imag),
        off_cos=jnp.asarray(np.cos(off_phase)),
        off_sin=jnp.asarray(np.sin(off_phase)),
    )
    return modes, n


@eqx.filter_jit
def _blocked_core(
    physics, modes, sigma, vel, cells, positions, coords, near, dt, num_blocks: int, block: int, tail: int, window: int,
    dof: int, record_full: tuple, record_tail: tuple, windowed: bool, leak_tol, radius, block_time, amp0=None,
):
    """``amp0``: ``None`` (framework at rest at τ = 0) or the initial far-field mode amplitudes
    ``(re, im)``, each ``(J', dof, 2)``, of a homogeneous (thermal) motion."""
    num_sites = positions.shape[0]
    wd = window * dof
    jq = modes.nodes.shape[0]

    def window_start(sigma, vel):
        if not windowed:
            return jnp.zeros((), int)
        direction = (positions[-1] - positions[0]) / jnp.linalg.norm(positions[-1] - positions[0])
        xi = sigma @ direction
        ahead = xi + 1.5 * (vel @ direction) * block_time
        lo = jnp.min(jnp.minimum(xi, ahead)) - radius
        hi = jnp.max(jnp.maximum(xi, ahead)) + radius
        first = jnp.searchsorted(coords, lo, side="left")
        last = jnp.searchsorted(coords, hi, side="right")
        start = first - jnp.maximum(0, (window - (last - first)) // 2)
        return jnp.clip(start, 0, num_sites - window).astype(int)

    def run_block(carry, length: int, record_index: tuple, update: bool):
        sigma, vel, amp_re, amp_im, work, k, leak_w, first_w, leak_u, first_u, _, _, _ = carry
        start = window_start(sigma, vel)
        pos_w = jax.lax.dynamic_slice_in_dim(positions, start, window, axis=0)
        # cos/sin(q·n_a) for the window's sites n_a = n_start + (n_j − n_0): one sincos per node
        base = modes.nodes @ cells[start].astype(float)  # (J',)
        cb, sb = jnp.cos(base)[:, None], jnp.sin(base)[:, None]
        cos_p = cb * modes.off_cos - sb * modes.off_sin  # (J', W)
        sin_p = sb * modes.off_cos + cb * modes.off_sin
        # ---- far field: read out every step of the block from the mode amplitudes at its start
        #      (real arithmetic: amp_re/amp_im are (J', u, c) with c = cos, sin)
        coef_re, coef_im = modes.coef_re[:, :, None], modes.coef_im[:, :, None]
        x_re = coef_re * amp_re - coef_im * amp_im
        x_im = coef_re * amp_im + coef_im * amp_re
        eta_t = jnp.transpose(modes.eta, (0, 2, 1))[:, :, None, :]  # (J', u, 1, d)
        mix_re = cos_p[:, None, :] * x_re[:, :, 0:1] + sin_p[:, None, :] * x_re[:, :, 1:2]  # Σ_c trig_c X_c: (J', u, W)
        mix_im = cos_p[:, None, :] * x_im[:, :, 0:1] + sin_p[:, None, :] * x_im[:, :, 1:2]
        s_mat = jnp.concatenate(
            [(mix_re[..., None] * eta_t).reshape(jq * dof, wd), (mix_im[..., None] * eta_t).reshape(jq * dof, wd)], axis=1
        )
        y = modes.ell_t @ s_mat  # (n, 2wd)
        far = -TWO_PI * (modes.z_re @ y[:, wd:] + modes.z_im @ y[:, :wd])  # (B+1, wd)
        rho0 = far[0].reshape(window, dof)
        phi0, acc0, g0 = physics.forces(sigma, rho0, pos_w)
        neighbours = jnp.stack([positions[jnp.maximum(start - 1, 0)], positions[jnp.minimum(start + window, num_sites - 1)]])
        has = jnp.stack([start > 0, start + window < num_sites])

        def step(inner, r):
            sigma, vel, acc, g, rho, phi, work, hist = inner
            n_global = k * block + r
            record = (sigma, vel, phi, work, rho.reshape(-1))
            sigma1 = sigma + dt * vel + 0.5 * dt * dt * acc
            hist = hist.at[r].set(jnp.where(n_global == 0, 0.5, 1.0) * g.reshape(-1))
            near_part = jax.lax.dynamic_slice(near, (0, (block - r - 1) * wd), (wd, block * wd)) @ hist.reshape(-1)
            rho1 = (far[r + 1] + near_part).reshape(window, dof)
            phi1, acc1, g1 = physics.forces(sigma1, rho1, pos_w)
            vel1 = vel + 0.5 * dt * (acc + acc1)
            work1 = work - 0.5 * jnp.sum((g + g1) * (rho1 - rho))
            return (sigma1, vel1, acc1, g1, rho1, phi1, work1, hist), (record, sigma1)

        inner0 = (sigma, vel, acc0, g0, rho0, phi0, work, jnp.zeros((block, wd)))
        inner, (records, sigmas) = jax.lax.scan(step, inner0, jnp.arange(length), unroll=_UNROLL)
        sigma, vel, _, _, rho, phi, work, hist = inner
        leak_w, first_w, leak_u, first_u = _update_leaks(
            physics, sigmas, k * block + 1, (leak_w, first_w, leak_u, first_u), leak_tol,
            neighbours if windowed else None, has,
        )
        if update:
            # ---- fold the block's forces into the mode amplitudes: A ← e^{2πiωT_B} A + ΔA
            lh = modes.ell @ jnp.concatenate([modes.q_re @ hist, modes.q_im @ hist], axis=1)  # (J'·u, 2wd)
            p_re = jnp.einsum("quad,qdu->qua", lh[:, :wd].reshape(jq, dof, window, dof), modes.eta)
            p_im = jnp.einsum("quad,qdu->qua", lh[:, wd:].reshape(jq, dof, window, dof), modes.eta)
            d_re = jnp.stack([jnp.sum(p_re * cos_p[:, None, :], -1), jnp.sum(p_re * sin_p[:, None, :], -1)], axis=-1)
            d_im = jnp.stack([jnp.sum(p_im * cos_p[:, None, :], -1), jnp.sum(p_im * sin_p[:, None, :], -1)], axis=-1)
            rot_re, rot_im = modes.rot_re[:, :, None], modes.rot_im[:, :, None]
            half_re, half_im = modes.half_re[:, :, None], modes.half_im[:, :, None]
            amp_re, amp_im = (
                rot_re * amp_re - rot_im * amp_im + half_re * d_re - half_im * d_im,
                rot_re * amp_im + rot_im * amp_re + half_re * d_im + half_im * d_re,
            )
        picked = jax.tree_util.tree_map(lambda a: a[jnp.asarray(record_index)], records)
        picked = picked + (jnp.full((len(record_index),), start),)
        carry = (sigma, vel, amp_re, amp_im, work, k + 1, leak_w, first_w, leak_u, first_u, rho.reshape(-1), phi, start)
        return carry, picked

    amp_re0, amp_im0 = (jnp.zeros((jq, dof, 2)), jnp.zeros((jq, dof, 2))) if amp0 is None else amp0
    carry = (
        sigma, vel, amp_re0, amp_im0, jnp.zeros(()), jnp.zeros((), int),
        jnp.zeros(()), -jnp.ones((), int), jnp.zeros(()), -jnp.ones((), int),
        jnp.zeros(wd), jnp.zeros(()), jnp.zeros((), int),
    )
    parts = []
    if num_blocks > 0:
        carry, records = jax.lax.scan(lambda c, _: run_block(c, block, record_full, True), carry, None, length=num_blocks)
        parts.append(jax.tree_util.tree_map(lambda a: a.reshape((-1,) + a.shape[2:]), records))
    if tail > 0:
        carry, records = run_block(carry, tail, record_tail, False)
        parts.append(records)
    sigma, vel, _, _, work, k, leak_w, first_w, leak_u, first_u, rho, phi, start = carry
    parts.append(jax.tree_util.tree_map(lambda f: jnp.asarray(f)[None], (sigma, vel, phi, work, rho, start)))
    stacked = jax.tree_util.tree_map(lambda *a: jnp.concatenate(a), *parts)
    return stacked, leak_w, first_w, leak_u, first_u


def _thermal_amplitudes(zs, omega, weights):
    """Far-field amplitudes ``A`` of a free motion ``Σ sqrt(w) trig η Re[Z e^{2πiωτ}]``: the far field reads
    ``ρ = −2π Σ (w/ω) C Im[A e^{2πiωτ}]``, so ``A = −i Z ω/(2π sqrt(w))``."""
    factor = np.asarray(omega)[..., None] / (TWO_PI * np.sqrt(np.asarray(weights)))[:, None, None]
    amps = -1j * zs * factor
    return jnp.real(amps), jnp.imag(amps)


def _run_blocked(physics, ions, system, k_grid, dt, block, total_steps, save_every, window, layout, leak_tol, radius, thermal=None,
                 members=None):
    lattice = system.lattice
    dof = lattice.dof
    cells = system.site_cells
    num_sites = len(cells)
    windowed = window < num_sites
    modes, n = _build_modes(lattice, k_grid, dt, block, cells[:window] - cells[0])
    near = _reversed_layout(_local_table(lattice, cells[:window], dt, block, k_grid), circular=False)
    # The last block is cut short when ``block`` does not divide the run (its forces need no mode update).
    num_blocks, tail = divmod(total_steps, block)
    if save_every <= block:
        record_full = tuple(range(0, block, save_every))
        stride = 1
    else:
        record_full = (0,)
        stride = save_every // block
    record_tail = tuple(range(0, tail, min(save_every, block)))
    coords = layout[1] if layout is not None else np.zeros(num_sites)
    args = (
        physics, modes, jnp.asarray(ions.position), jnp.asarray(ions.velocity), jnp.asarray(cells), jnp.asarray(system.site_positions()),
        jnp.asarray(coords), jnp.asarray(near), jnp.asarray(dt), num_blocks, block, tail, window, dof, record_full, record_tail,
        windowed, jnp.asarray(leak_tol), jnp.asarray(radius), jnp.asarray(block * dt),
    )
    if members is not None:
        outs = _member_runs(_blocked_core, args, 2, args[4:], ions, members.mesh)
    elif thermal is None:
        outs = [_blocked_core(*args)]
    else:
        thermal_modes_, zs = thermal
        amp_re, amp_im = _thermal_amplitudes(zs, thermal_modes_.omega, thermal_modes_.weights)
        batched = jax.vmap(lambda re, im: _blocked_core(*args, (re, im)))(amp_re, amp_im)
        outs = [jax.tree_util.tree_map(lambda a, i=i: a[i], batched) for i in range(zs.shape[0])]
    results = []
    for stacked, leak_w, first_w, leak_u, first_u in outs:
        positions, velocities, phis, works, rhos, starts = (np.asarray(a) for a in stacked)
        if stride > 1:
            keep = np.concatenate([np.arange(0, positions.shape[0] - 1, stride), [positions.shape[0] - 1]])
            positions, velocities, phis, works, rhos, starts = (a[keep] for a in (positions, velocities, phis, works, rhos, starts))
        results.append((positions, velocities, phis, works, rhos, starts, leak_w, first_w, leak_u, first_u))
    return results, n


# ============================================================================ batches of independent runs


class _MemberBatch(NamedTuple):
    mesh: object  # jax.sharding.Mesh or None


@eqx.filter_jit
def _members_call(core, before, sigmas, vels, after, mesh):
    def one(sigma, vel):
        return core(*before, sigma, vel, *after)

    return over_devices(jax.vmap(one), mesh)(sigmas, vels)


def _member_runs(core, args, ion_index: int, after, ions: _Ions, mesh) -> list:
    """Run ``core`` once per row of ``ions`` (each a single ion) in one vmapped call split over ``mesh``;
    ``args[ion_index:ion_index + 2]`` are the ion position and velocity. Returns per-member outputs."""
    members = ions.position.shape[0]
    states = (jnp.asarray(ions.position)[:, None, :], jnp.asarray(ions.velocity)[:, None, :])
    states, _ = pad_members(states, members, 1 if mesh is None else mesh.size)
    batched = _members_call(core, tuple(args[:ion_index]), *states, tuple(after), mesh)
    return [jax.tree_util.tree_map(lambda a, i=i: a[i], batched) for i in range(members)]


def simulate_memory_batch(
    system: System,
    ion_positions,
    ion_velocities,
    duration: float,
    dt: float,
    constraint=None,
    bias=0.0,
    save_every: int = 1,
    *,
    devices=None,
    **options,
) -> MemoryResult:
    """Independent single-ion runs of :func:`simulate_memory`, one per row of ``ion_positions`` /
    ``ion_velocities`` (``(members, 3)``), in one compiled, vmapped call.

    Every member shares the system, the kernel, ``dt``, the duration, the constraint and the bias (a scalar
    or a ``(3,)`` force), so the kernel or zone modes are built once; paper 2's Fig. 8 (many initial speeds
    under one bias) is such a batch. With several ``devices`` (default: all local devices) the members are
    split over them with ``jax.shard_map`` (:mod:`jaxion.parallel`): on CPU make each core a device with
    ``XLA_FLAGS=--xla_force_host_platform_device_count=<cores>``. ``options`` are those of
    :func:`simulate_memory` except ``thermal``. Every array of the returned :class:`MemoryResult` (and
    ``loss``, ``final_state``) gains a leading ``members`` axis. The window, step and coverage checks see
    every member; an ion that leaves the tracked sites raises ``ValueError`` naming its member.
    """
    positions = np.asarray(ion_positions, dtype=float)
    velocities = np.asarray(ion_velocities, dtype=float)
    if positions.ndim != 2 or positions.shape[-1] != 3 or positions.shape[0] == 0 or velocities.shape != positions.shape:
        raise ValueError(
            f"ion_positions and ion_velocities must both have shape (members, 3) with members >= 1; got "
            f"{positions.shape} and {velocities.shape}."
        )
    if "thermal" in options:
        raise ValueError("simulate_memory_batch takes no thermal bath; run a thermal ensemble with simulate_memory(thermal=...).")
    return simulate_memory(system, positions, velocities, duration, dt, constraint, bias, save_every,
                           _members=_MemberBatch(device_mesh(devices)), **options)
