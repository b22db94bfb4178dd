"""Harmonic frameworks: crystals with a basis of atoms (masses, species) and harmonic force constants.

Conventions (paper 1, Sec. II; ``shared/NOTES.md``): dimensionless time τ (periods ``2π/Ω``), lengths in the
oscillator length ``l = sqrt(ħ/(mΩ))`` of a reference mass ``m``, masses ``m_s`` in units of ``m``. A lattice has
``n`` atoms per primitive cell at fractional positions ``τ_s`` (cell coordinates), and its harmonic energy is

    V = ½ Σ_{m,s} ρ_{ms}ᵀ C_s ρ_{ms} + Σ_p Σ_m ½ … written through the pair blocks Φ_p = Φ(0 s_p; R_p t_p):
    (Ξρ)_{ms} = C_s ρ_{ms} + Σ_{p: s_p = s} Φ_p (ρ_{m+R_p, t_p} − ρ_{ms}) + Σ_{p: t_p = s} Φ_pᵀ (ρ_{m−R_p, s_p} − ρ_{ms})

with one of each pair ``(R, s, t) ~ (−R, t, s)`` stored (``Φ(0t; −R s) = Φ(0s; R t)ᵀ``) and ``C_s`` the
*confinement*: the acoustic sum ``Σ_{R,t} Φ(0s; R t)`` of the full force-constant matrix (the on-site block is
``Φ(0s; 0s) = C_s − Σ Φ_p − Σ Φ_pᵀ`` over the pairs at ``s``). ``C = 0`` is the acoustic sum rule: every crystal
imported from phonopy or ASE has it; paper 1's confined chain has ``C = κ``. The equations of motion are
``(m_s/4π²) ρ_{ms}'' = −(Ξρ)_{ms} − ∇_{ρ_{ms}}Φ`` and the framework energy ``Σ m_s ρ'²/(8π²) + ρᵀΞρ/2``.

The mass-weighted dynamical matrix, in phonopy's convention (the atoms' own positions in the phase, so that
eigenvectors compare with phonopy's):

    D_st(q) = Σ_R Φ(0s; R t) e^{iq·(R + τ_t − τ_s)} / sqrt(m_s m_t)                (1.12), (1.19) for n = 1

``q`` is the *reduced* wavevector (phase per cell step, zone ``[−π, π]^dim``; ``q = 2π q_phonopy``), free modes
evolve as ``exp(2πiωτ)`` with ``ω² ∈ eig D(q)``, and an eigenvector ``e`` moves atom ``s`` of cell ``m`` by
``Re[e_s e^{iq·(m + τ_s)} …]/sqrt(m_s)``. ``D`` is complex Hermitian; it is real when ``n = 1`` (a Bravais
lattice: ``Φ(R) = Φ(−R)``) and then ``D = C + Σ_v 2K_v(1 − cos q·v)`` with ``K_v = −Φ_v`` (paper 1's bonds).

The coupling is applied matrix-free on a periodic supercell by shifted slices: memory O(atoms), no matrix is
ever built; zero entries of the blocks (the cubic lattice's ``k v̂v̂ᵀ`` are mostly zero) are skipped when the
lattice is built from concrete numbers. Displacements are stored channels-first, ``(channels, *supercell)``
with channel ``s·dof + j`` (atom ``s``, component ``j``). ``dof`` is 3 when the atoms move in 3D and 1 for paper
2's chain whose masses move along it only; ``polarisation`` (3 × dof) maps components to Cartesian axes.
"""

from ._builders import (
    ASR_MODES as ASR_MODES,
    bravais_lattice as bravais_lattice,
    chain as chain,
    chain3d as chain3d,
    chain3d_constants as chain3d_constants,
    crystal as crystal,
    simple_cubic as simple_cubic,
    supercell_echo_time as supercell_echo_time,
)
from ._core import Lattice as Lattice, ZoneModes as ZoneModes
