"""Response (memory) kernels of an infinite harmonic lattice, by Brillouin-zone quadrature.

Layout: :mod:`._zone` (the zone grid and its range of validity), :mod:`._sum` (the mode-by-mode zone sum),
:mod:`._binned` (the binned sum for long 2D/3D tables), :mod:`._tables` (tables between sites, the disk cache
and :class:`ResponseKernel`). Nothing here imports the engines; the memory engine imports this package.

The framework is linear, so its displacement at the sites the ion touches is a causal convolution of
the forces the ion exerts on those sites (paper 2, (2.12)–(2.13); paper 1, (1.9)–(1.10)):

    ρ_a(τ) = ρ_a^thermal(τ) − 2π ∫_0^τ dτ' Σ_b Γ_ab(τ − τ') ∇_{ρ_b}Φ(τ')                    (2.12), (1.9)

    Γ_ab(τ) = ⟨ e^{iq·(n_a − n_b)} Σ_u η_u(q) η_u(q)ᵀ sin(2πω_u(q)τ)/ω_u(q) ⟩_BZ         (2.13), (1.10)

with ``⟨f⟩_BZ = (1/N) Σ_q f → (2π)^{−dim} ∫ d^dim q f(q)`` (the infinite lattice), ``ω_u(q)², η_u(q)`` the
eigenpairs of the (real, symmetric, even-in-q) dynamical matrix ``D(q)`` of :class:`jaxion.Lattice`,
and ``n_a`` the integer cells of the sites. On a crystal with a basis a site is ``(cell, atom)``, the modes are
complex and the kernel is ``Γ_ab(τ) = ⟨Σ_u Re[u_{s_a,u} u_{s_b,u}^* e^{iq·(x_a − x_b)}] sin(2πω_uτ)/ω_u⟩`` with
``u_s = e_s/sqrt(m_s)`` and ``x_a = n_a + τ_{s_a}`` (tables keyed by ``(Δn, s_a, s_b)``, :func:`site_pairs`; the
cache key then includes the atoms; ``method="binned"`` folds only by time reversal ``q → −q`` there).
For one atom per cell ``Γ`` is translation invariant, ``Γ_ab = G(n_a − n_b)``,
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
then out of reach (~1e14 terms); ``method="binned"`` (:func:`binned_kernel`: symmetry folding,
frequency bins with exact Taylor moments, an FFT in time) computes the same sum in 47 s, and is what
``"auto"`` picks for long 2D/3D tables.

Caching
-------
Kernel tables are cached on disk (``cache=True``), keyed by a SHA-256 hash of everything they depend
on (lattice arrays, cells, times, grid, format version); files are written atomically with
:func:`jaxion.io.save_npz`, so a sweep (or several processes) can share them. The cache folder is
``$JAXION_KERNEL_CACHE`` if set, else ``~/.cache/jaxion/kernels``.
"""

from ._binned import binned_kernel as binned_kernel, symmetry_folding as symmetry_folding
from ._sum import (
    KERNEL_METHODS as KERNEL_METHODS,
    kernel_by_differences as kernel_by_differences,
    site_differences as site_differences,
    site_pairs as site_pairs,
)
from ._tables import (
    ResponseKernel as ResponseKernel,
    kernel_cache_dir as kernel_cache_dir,
    precompute_kernel as precompute_kernel,
    response_kernel as response_kernel,
)
from ._zone import (
    BOUNDARIES as BOUNDARIES,
    default_points_per_axis as default_points_per_axis,
    kernel_valid_time as kernel_valid_time,
    zone_modes_grid as zone_modes_grid,
)

__all__ = [
    "BOUNDARIES",
    "KERNEL_METHODS",
    "ResponseKernel",
    "binned_kernel",
    "default_points_per_axis",
    "kernel_by_differences",
    "kernel_cache_dir",
    "kernel_valid_time",
    "precompute_kernel",
    "response_kernel",
    "site_differences",
    "site_pairs",
    "symmetry_folding",
    "zone_modes_grid",
]
