"""The method of long waves (Born & Huang, *Dynamical Theory of Crystal Lattices*, Ch. V, §§ 26–27): the acoustic
long-wavelength tensor ``S(n̂)`` of any crystal (paper 1, before (1.22); with the internal-strain correction of a
crystal with a basis) and the elastic constants ``C_ijkl`` it implies (the Christoffel tensor of (1.28)).

Notation (per primitive cell, Cartesian): ``d = x_{Rt} − x_{0s}`` is the vector from atom ``s`` of cell 0 to atom
``t`` of cell ``R`` (:meth:`jaxion.Lattice.pair_vectors` for the stored pairs), ``Φ = Φ(0s; Rt)`` its block; sums
``Σ_{s,R,t}`` run over every ordered pair (each stored pair ``p`` and its partner ``(−R, t, s)`` with ``Φ_pᵀ``, ``−r_p``).

- Square brackets (Born–Huang (26.20)), without the ``1/V`` of the cell volume:
  ``B_ik,jl = −½ Σ_{s,R,t} Φ_ik d_j d_l`` (:func:`square_brackets`).
- Internal-strain coupling: ``Λ_{sm; kj} = Σ_{R,t} Φ(0s; Rt)_mk d_j``, the force on the internal coordinate ``(s, m)``
  per unit displacement gradient ``∂_j u_k`` (:func:`internal_strain_coupling`).
- Round brackets (Born–Huang (26.22)), the relaxation of the internal coordinates:
  ``X_{ij,kl} = Σ_{ab} Λ_{a; ij} (Φ(q=0))⁺_ab Λ_{b; kl}`` with the pseudo-inverse on the optical subspace
  (:func:`internal_strain_correction`).
- ``Γ_ik(n̂) = Σ_jl (B_ik,jl − X_ij,kl) n̂_j n̂_l``, ``ρ v² = eig Γ/V``, ``S(n̂) = Γ(n̂)/M_cell``
  (:func:`long_wave_coefficients`), and the elastic constants
  ``C_ijkl = (B_ik,jl + B_jk,il − B_ij,kl − X_ij,kl)/V`` (:func:`elastic_tensor`, Born–Huang (27.9)).
"""

from __future__ import annotations

import warnings
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._validation import is_concrete

__all__ = [
    "square_brackets",
    "internal_strain_coupling",
    "internal_strain_correction",
    "long_wave_coefficients",
    "equilibrium_violations",
    "elastic_tensor",
]

_SINGULAR = 1e-10  # an optical eigenvalue of Φ(q=0) below this fraction of the largest one is a zero mode
# relative violation of Huang's conditions / rotational invariance above which elastic_tensor warns. Measured on the EMT
# crystals of jaxion.crystals at their default supercells: Huang 5e-4 (Ni-hcp at the ideal c/a: a small non-hydrostatic
# stress; 9e-4 on 3×3×2), every other number ≤ 5e-15. EMT Cu (5×5×5) under a uniaxial strain ε: Huang ≈ 0.3 ε (1.3e-3 at
# 0.5 %, 3.0e-3 at 1 %), so 1e-2 is a ~3 % strain; Ni-hcp with one atom moved by 0.025 Å: rotation 7e-3.
_EQUILIBRIUM_TOLERANCE = 1e-2


def square_brackets(lattice: Any) -> Float[Array, "dof dof 3 3"]:
    """``B_ik,jl = −½ Σ_{s,R,t} Φ(0s; Rt)_ik d_j d_l = −½ Σ_p (Φ_p + Φ_pᵀ)_ik (r_p)_j (r_p)_l`` (Born–Huang's square
    brackets times the cell volume): the second-order term ``−½ Σ Φ (k·d)²`` of the force-constant matrix
    ``Φ(k) = Σ_R Φ(0s; Rt) e^{ik·d}`` summed over all atom pairs of the cell (the acoustic block at ``k = 0``)."""
    phi = lattice.pair_force_constants
    r = lattice.pair_vectors()
    return -0.5 * jnp.einsum("pik,pj,pl->ikjl", phi + jnp.swapaxes(phi, -1, -2), r, r)


def internal_strain_coupling(lattice: Any) -> Float[Array, "channels dof 3"]:
    """``Λ_{sm; kj} = Σ_{R,t} Φ(0s; Rt)_mk d_j`` (channel ``s·dof + m``): each stored pair ``p`` adds ``Φ_p ⊗ r_p`` at
    atom ``s_p`` and its partner ``−Φ_pᵀ ⊗ r_p`` at ``t_p``. ``Λ(n̂) = Σ_j Λ_{:; :j} n̂_j`` is the first-order term of
    ``Φ(k) = Φ⁽⁰⁾ + i|k|Φ⁽¹⁾(n̂) + …`` applied to a uniform translation; it vanishes when every atom sits at an
    inversion centre (each ``d`` comes with a ``−d`` of the same block)."""
    dof, atoms = lattice.dof, lattice.atoms
    phi = lattice.pair_force_constants
    r = lattice.pair_vectors()
    coupling = jnp.zeros((atoms, dof, dof, 3))
    if lattice.pair_atoms:
        s, t = (np.asarray(index, dtype=int) for index in zip(*lattice.pair_atoms))
        coupling = coupling.at[s].add(jnp.einsum("pmk,pj->pmkj", phi, r))
        coupling = coupling.at[t].add(-jnp.einsum("pkm,pj->pmkj", phi, r))
    return coupling.reshape(atoms * dof, dof, 3)


def _translations(lattice: Any) -> np.ndarray:
    """Orthonormal uniform translations ``(channels, dof)`` of the cell's atoms."""
    return np.kron(np.ones((lattice.atoms, 1)), np.eye(lattice.dof)) / np.sqrt(lattice.atoms)


def _check_acoustic_basis(lattice: Any, what: str) -> None:
    if lattice.atoms > 1 and is_concrete(lattice) and not lattice.acoustic:
        raise ValueError(
            f"{what} of a crystal with a basis needs the acoustic sum rule (confinement = 0): with on-site springs no "
            "branch is acoustic and the long-wave expansion about a uniform translation does not exist."
        )


def internal_strain_correction(lattice: Any) -> Float[Array, "dof 3 dof 3"]:
    """Born–Huang's round brackets (times the cell volume): ``X_{ij,kl} = Λ_{:; ij}ᵀ (Φ⁽⁰⁾)⁺ Λ_{:; kl}``, the
    relaxation of the internal (optical) coordinates under a long wave, which lowers the acoustic tensor to
    ``Γ_ik(n̂) = Σ_jl (B_ik,jl − X_ij,kl) n̂_j n̂_l``.

    Derivation (the method of long waves, Born & Huang Ch. V § 26; paper 1 before (1.22) for one atom per cell).
    Write the amplitudes ``u_s`` of a wave ``u_{Rs} = u_s e^{ik·x_{Rs}}`` (the atoms' own positions in the phase, as
    :meth:`jaxion.Lattice.dynamical_matrix`) and ``ω² M u = Φ(k) u`` with ``M = diag(m_s)`` and
    ``Φ(k)_st = Σ_R Φ(0s; Rt) e^{ik·d}``. Expand in ``k = |k| n̂``:

        ``Φ(k) = Φ⁽⁰⁾ + i|k| Φ⁽¹⁾ − ½|k|² Φ⁽²⁾ + …``,  ``Φ⁽ⁿ⁾_st = Σ_R Φ(0s; Rt) (n̂·d)ⁿ``,

    ``Φ⁽⁰⁾`` real symmetric, ``Φ⁽¹⁾`` real antisymmetric (``iΦ⁽¹⁾`` Hermitian), ``Φ⁽²⁾`` real symmetric. With the
    acoustic sum rule ``Σ_t Φ⁽⁰⁾_st = 0`` the uniform translations ``u_s = w`` are the zero modes of ``Φ⁽⁰⁾`` (the
    only ones for a bound basis). Put ``u = u⁽⁰⁾ + |k| u⁽¹⁾ + |k|² u⁽²⁾``, ``ω² = |k|² λ``:

    - order 0: ``Φ⁽⁰⁾ u⁽⁰⁾ = 0``, so ``u⁽⁰⁾_s = w`` for every atom (an acoustic wave moves the cell rigidly);
    - order 1: ``Φ⁽⁰⁾ u⁽¹⁾ = −iΦ⁽¹⁾ u⁽⁰⁾ = −iΛ(n̂) w``. ``Λ(n̂) w`` has no translation component (``Σ_st Φ⁽¹⁾_st = 0``
      by the sum rule over either index), so ``u⁽¹⁾ = −i (Φ⁽⁰⁾)⁺ Λ(n̂) w`` with the pseudo-inverse restricted to the
      optical subspace (``Φ⁽⁰⁾`` has the three translations as zero modes); a translation added to ``u⁽¹⁾`` only
      renormalises ``w``;
    - order 2: ``λ M u⁽⁰⁾ = Φ⁽⁰⁾ u⁽²⁾ + iΦ⁽¹⁾ u⁽¹⁾ − ½Φ⁽²⁾ u⁽⁰⁾``. Summing over the atoms removes ``Φ⁽⁰⁾ u⁽²⁾`` and,
      since ``Σ_s Φ⁽¹⁾_st = −Λ_tᵀ`` (antisymmetry),

          ``λ M_cell w = [−½ Σ_st Φ⁽²⁾_st − Λ(n̂)ᵀ (Φ⁽⁰⁾)⁺ Λ(n̂)] w = Γ(n̂) w``.

    So ``ω² = |k|² eig(Γ(n̂)/M_cell)`` with ``M_cell = Σ_s m_s``: the first term is the plain bond sum (the square
    brackets :func:`square_brackets`), the second, ``X``, is positive semi-definite (``Φ⁽⁰⁾ ≥ 0`` for a stable
    crystal) — relaxing the internal coordinates softens the wave. It vanishes when every atom sits at an inversion
    centre (``Λ = 0``) and for one atom per cell (no optical subspace).

    The pseudo-inverse is ``(Φ⁽⁰⁾ + c TTᵀ)⁻¹ − TTᵀ/c`` with ``T`` the orthonormal translations and any ``c > 0``; only
    its first part contributes since ``TᵀΛ = 0`` (``Λ`` is projected on the optical subspace first, which removes
    the rounding of a violated sum rule). Raises ``ValueError`` if ``Φ⁽⁰⁾`` has zero modes besides the translations
    (an internal coordinate without restoring force) or negative ones (an unstable basis)."""
    _check_acoustic_basis(lattice, "the internal-strain correction")
    dof = lattice.dof
    if lattice.atoms == 1:
        return jnp.zeros((dof, 3, dof, 3))
    coupling = internal_strain_coupling(lattice).reshape(lattice.channels, dof * 3)
    t = jnp.asarray(_translations(lattice))
    coupling = coupling - t @ (t.T @ coupling)
    root_m = jnp.sqrt(lattice.channel_masses)
    phi0 = jnp.real(lattice.dynamical_matrix(jnp.zeros(lattice.dim))) * root_m[:, None] * root_m[None, :]
    phi0 = 0.5 * (phi0 + phi0.T)
    scale = jnp.max(jnp.abs(phi0))
    bound = phi0 + scale * (t @ t.T)
    if is_concrete(bound):
        lowest = float(np.min(np.linalg.eigvalsh(np.asarray(bound))))
        if lowest <= _SINGULAR * float(scale):
            raise ValueError(
                "the on-site force constants Φ(q=0) of the basis have a zero or negative mode besides the three uniform "
                f"translations (lowest {lowest:.3g}, largest {float(scale):.3g}): an internal coordinate has no restoring "
                "force (or is unstable), so the long-wave (internal-strain) expansion does not exist."
            )
    relaxed = jnp.linalg.solve(bound, coupling)
    return (coupling.T @ relaxed).reshape(dof, 3, dof, 3)


def long_wave_coefficients(lattice: Any) -> Float[Array, "dof dof 3 3"]:
    """``A_ik,jl`` with ``S(n̂)_ik = Σ_jl A_ik,jl n̂_j n̂_l`` the acoustic long-wavelength tensor per cell mass:
    ``A_ik,jl = sym_jl(B_ik,jl − X_ij,kl)/M_cell`` (:func:`square_brackets`, :func:`internal_strain_correction`;
    symmetrised in ``j ↔ l``). The 3 acoustic branches have ``ω² ≈ |k|² eig S(n̂)`` for a small Cartesian ``k = |k|n̂``
    and move every atom alike, ``u_s = η/sqrt(M_cell)``. For one atom per cell ``A_ik,jl = −Σ_p (Φ_p)_ik (r_p)_j
    (r_p)_l/m`` (``D ≈ C + |k|² S``, paper 1 before (1.22); a confinement ``C`` is then allowed)."""
    _check_acoustic_basis(lattice, "the long-wavelength tensor")
    raw = square_brackets(lattice) - jnp.transpose(internal_strain_correction(lattice), (0, 2, 1, 3))
    return 0.5 * (raw + jnp.swapaxes(raw, -1, -2)) / lattice.cell_mass


def equilibrium_violations(lattice: Any) -> tuple[float, float]:
    """How far the force constants are from a crystal in equilibrium without stress, as two relative numbers
    (concrete lattices only):

    - Huang's conditions (Born & Huang § 26): ``max|B_ik,jl − B_jl,ik| / max|B|`` with the square brackets ``B``
      (:func:`square_brackets`). They fail under a non-hydrostatic stress, in proportion to the strain away from
      zero stress (``≈ 0.3 ε`` for a uniaxial strain ``ε`` of EMT Cu). A *hydrostatic* stress enters ``B`` as a
      multiple of ``δ_ik δ_jl``, which is symmetric: Huang's conditions cannot see a cubic crystal off its lattice
      constant (e.g. central springs under a uniform tension ``f``, blocks ``k d̂d̂ᵀ + (f/r)(1 − d̂d̂ᵀ)``).
    - Rotational invariance of the internal strain: ``max|Λ_{a; kj} − Λ_{a; jk}| / max_p(max|Φ_p| |r_p|)`` with ``Λ``
      of :func:`internal_strain_coupling`. It fails when an atom of the basis feels a force (not at its equilibrium
      position in the cell). The scale is the size of one term of ``Λ`` (a pair block times its length), not
      ``max|Λ|``: on a basis whose atoms all sit at inversion centres (fcc's cubic cell, L1₂) ``Λ`` is zero up to
      rounding and a ratio to it would be rounding over rounding. ``0`` for one atom per cell.

    Returns ``(huang, rotation)``."""
    with jax.ensure_compile_time_eval():
        b = np.asarray(square_brackets(lattice))
        huang = float(np.max(np.abs(b - np.transpose(b, (2, 3, 0, 1))))) / max(float(np.max(np.abs(b))), 1e-300)
        if lattice.atoms == 1:
            return huang, 0.0
        coupling = np.asarray(internal_strain_coupling(lattice))
        blocks = np.abs(np.asarray(lattice.pair_force_constants)).max(axis=(1, 2), initial=0.0)
        term = float(np.max(blocks * np.linalg.norm(np.asarray(lattice.pair_vectors()), axis=-1), initial=0.0))
    rotation = float(np.max(np.abs(coupling - np.swapaxes(coupling, -1, -2)))) / max(term, 1e-300)
    return huang, rotation


def elastic_tensor(lattice: Any) -> Float[Array, "3 3 3 3"]:
    """Elastic constants ``C_ijkl`` of a 3D crystal from its force constants by the method of long waves
    (Born & Huang (27.9)): ``C_ijkl = (B_ik,jl + B_jk,il − B_ij,kl − X_ij,kl)/V_cell`` with the square brackets
    ``B`` (:func:`square_brackets`), the internal-strain (round bracket) term ``X``
    (:func:`internal_strain_correction`) and the cell volume ``V_cell`` (symmetrised over ``i ↔ j``, ``k ↔ l``,
    ``ij ↔ kl``). It reproduces the acoustic tensor, ``C_ijkl n̂_j n̂_l = Γ_ik(n̂)/V_cell = ρ S_ik(n̂)`` with
    ``ρ = M_cell/V_cell`` (the Christoffel equation of (1.28)), when the crystal is in equilibrium without stress
    (Huang's conditions ``B_ik,jl = B_jl,ik``) and rotationally invariant (``Λ_{a; kj} = Λ_{a; jk}``); otherwise the
    waves fix only part of ``C`` and a ``RuntimeWarning`` says by how much the conditions fail. Mass-independent;
    units of energy per volume of the lattice (ħΩ/l³ in jaxion's units, eV/Å³ for force constants in eV/Å²)."""
    if lattice.dim != 3 or lattice.dof != 3:
        raise ValueError(f"elastic constants need a 3D lattice whose atoms move in 3D; got dim = {lattice.dim}, dof = {lattice.dof}.")
    _check_acoustic_basis(lattice, "the elastic constants")
    b = square_brackets(lattice)
    x = internal_strain_correction(lattice)
    if is_concrete((b, lattice.pair_force_constants, lattice.basis_positions, lattice.primitive_vectors)):
        huang, rotation = equilibrium_violations(lattice)
        if max(huang, rotation) > _EQUILIBRIUM_TOLERANCE:
            warnings.warn(
                f"the force constants break Huang's equilibrium conditions by {huang:.3g} and rotational invariance of the "
                f"internal strain by {rotation:.3g} (relative; accepted up to {_EQUILIBRIUM_TOLERANCE:g}): the crystal is under a "
                "non-hydrostatic stress or an atom of the basis is off its equilibrium position (relax the cell and the "
                "atoms before computing the force constants); the long waves then fix only part of the elastic constants.",
                RuntimeWarning,
                stacklevel=2,
            )
    c = (
        jnp.transpose(b, (0, 2, 1, 3))  # B_ik,jl → index order (i, j, k, l)
        + jnp.transpose(b, (2, 0, 1, 3))  # B_jk,il
        - jnp.transpose(b, (0, 1, 2, 3))  # B_ij,kl
        - x
    ) / lattice.cell_volume
    c = 0.5 * (c + jnp.transpose(c, (1, 0, 2, 3)))
    c = 0.5 * (c + jnp.transpose(c, (0, 1, 3, 2)))
    return 0.5 * (c + jnp.transpose(c, (2, 3, 0, 1)))
