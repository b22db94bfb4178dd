"""Memory (response-kernel) engine: the ion(s) and only the framework sites they touch.

The framework is harmonic, so its response to the ion is linear and the lattice can be integrated out
exactly (paper 2, Sec. II, (2.12)–(2.14); paper 1, (1.8)–(1.10)). For a framework at rest at ``τ = 0``
(no thermal motion):

    ρ_a(τ) = −2π ∫_0^τ dτ' Σ_b Γ_ab(τ − τ') ∇_{ρ_b}Φ(ρ(τ'), σ(τ'))                          (2.12)
    Γ_ab(τ) = ⟨ e^{iq·(n_a−n_b)} Σ_u η_u η_uᵀ sin(2πω_u τ)/ω_u ⟩_BZ                        (2.13)
    (μ/4π²) σ'' = −∇_σ Φ(ρ, σ) + F_bias                                                   (2.14), (1.3)

``Γ`` is the infinite lattice's kernel (:mod:`jaxion.kernels`): no finite-size echo, as long as the
zone grid is fine enough for the run (``points_per_axis``; the default is chosen from the duration).

Discretisation (paper 2, Appendix, (A1)–(A2)), step ``δ = dt``:

- the convolution by the trapezoid rule, ``ρ_n = −2πδ Σ_{m=0}^{n−1} w_m Γ((n−m)δ) ∇_ρΦ_m`` with
  ``w_0 = ½`` (the force switches on at ``τ = 0``), else 1. ``Γ(0) = 0``, so ``ρ_n`` needs forces up
  to step ``n − 1`` only: the scheme is explicit;
- the ion(s) by velocity Verlet (Störmer–Verlet): ``σ_{n+1} = σ_n + δσ'_n + ½δ²σ''_n``, then ``ρ_{n+1}``,
  then the force at step ``n + 1`` and ``σ'_{n+1} = σ'_n + ½δ(σ''_n + σ''_{n+1})``.

Both are second order in ``δ``. The force on an ion is ``−∇_σΦ`` plus a constant ``bias_force``,
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
is conserved by the exact dynamics; ``energy_error`` reports its drift along the run, ``energy_drift`` its end value.

Layout
------
:mod:`._plan` (the frozen :class:`MemoryPlan`, built once: method, steps, save schedule, zone grid and its modes,
lags and table, block, window, Chebyshev nodes, valid time, thermal amplitudes), :mod:`._physics` (forces,
energies, coverage checks), one runner per method — :mod:`._direct`, :mod:`._fft`, :mod:`._blocked` (with
:mod:`._chebyshev`) — sharing :mod:`._runs` (the :class:`~._runs.Records` every runner returns, thermal
ensembles and batches), :mod:`._result` (:class:`MemoryResult` and the one assembly: energies, loss, drift,
status), :mod:`._engine` (:func:`simulate_memory`, :func:`simulate_memory_batch`).

Crystals with a basis: the tracked sites are ``(cell, atom)`` rows (``System.sites``), the table is the kernel
between them (complex modes, :mod:`jaxion.kernels`; the masses enter through ``u = e/sqrt(m)``), the forces use one
pair potential per species (``System.potentials``, ``site_groups``). The direct and fft methods (and ``supercell``)
handle them; ``"blocked"`` (real standing waves) and ``all_sites_interact`` are Bravais-only (``"auto"`` never
picks blocked there).

Failures: an ion that leaves the tracked sites (``all_sites_interact``) or outruns the block window sets the
result's ``status`` (4 or 5, a non-finite state 3); ``throw=True`` (the default) raises
:class:`~jaxion.dynamics._common.SimulationError`. A batch never raises for a member: it warns.
"""

from ._engine import simulate_memory as simulate_memory, simulate_memory_batch as simulate_memory_batch
from ._plan import METHODS as METHODS, MemoryPlan as MemoryPlan
from ._result import MemoryResult as MemoryResult, MemoryState as MemoryState

__all__ = ["METHODS", "MemoryPlan", "MemoryResult", "MemoryState", "simulate_memory", "simulate_memory_batch"]
