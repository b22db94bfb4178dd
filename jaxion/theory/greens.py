"""Paper 1, (1.29): the static lattice Green's function, the ingredient of the softened potential of the
time-local equation (1.26) (:mod:`jaxion.dynamics.local`)."""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._validation import is_concrete
from ..kernels._tables import site_fractional, site_rows
from ..lattice import Lattice
from .low_speed import _check_acoustic
from .modes import supercell_quadrature, zone_quadrature

__all__ = ["static_greens_function"]

# Rules for the static Green's function (1/q² integrand in 3D needs a finer grading near 0).
_GREEN_RULES = {1: (40, 8, 0.5), 2: (14, 6, 0.4), 3: (9, 5, 1.0 / 3.0)}


# ----------------------------------------------------------------------------- (1.29)


def static_greens_function(lattice, cells_a=None, cells_b=None, supercell: Sequence[int] | None = None, *, quadrature=None,
                           sites=None, sites_b=None):
    """Paper 1, (1.29): the static lattice Green's function ``Ξ⁻¹ = Σ_j ε_j ε_j†/ω_j²`` between sites,

        ``G_ab = ⟨ Σ_u Re[u_{s_a,u}(q) u_{s_b,u}(q)^† e^{iq·(x_a − x_b)}] / ω_u(q)² ⟩_BZ``

    (a ``dof × dof`` block per pair of sites) in displacement coordinates: ``u_s = e_s/sqrt(m_s)`` the
    displacement of atom ``s`` per unit mode amplitude and ``x_a = n_a + τ_{s_a}`` the sites' fractional
    positions, so that ``G = M^{−1/2} D⁻¹ M^{−1/2}`` is the inverse of the force-constant matrix ``Ξ`` itself
    (for one atom per cell ``⟨cos(q·Δn) D(q)⁻¹⟩/m``, the printed (1.29)).

    - infinite lattice (``supercell=None``): the zone integral with :func:`zone_quadrature`'s graded
      Gauss–Legendre rule (finer grading than the loss default). In 3D the ``1/q²`` singularity of an
      acoustic lattice is integrable; the rule has no node at ``q = 0`` and converges as the grading is
      refined (checked in the tests). In 1D and 2D an unconfined lattice's ``G`` diverges → ``ValueError``;
      so does a 3D Bravais lattice whose ``S(n̂)`` is singular in some direction.
    - periodic supercell: the exact finite sum over its ``N`` modes ``q = 2πn/N``, excluding zero modes
      (eigenvalues ``≤ 1e-12 × max``), i.e. the pseudo-inverse of ``Ξ`` through ``D⁺``. With the translational
      zero modes of an acoustic crystal, ``Ξ G = 1 − m_s/(N Σ_t m_t)`` per component (the projector off the
      uniform translations, oblique when the masses differ; ``1 − 1/N`` for one atom per cell).

    Args:
        lattice: a :class:`jaxion.Lattice`, or a :class:`jaxion.System` (its lattice, and its sites as the
            default ``sites``).
        cells_a, cells_b: the sites, ``(A, dim)`` integer cells of a Bravais lattice, ``(A, dim + 1)`` rows
            ``(cell ..., atom)`` of a crystal with a basis (like ``System.sites``); ``cells_b`` defaults to
            ``cells_a``.
        sites, sites_b: the same as ``cells_a``, ``cells_b`` (by the name :class:`jaxion.System` uses).
    Returns:
        ``(A, B, dof, dof)`` blocks in the lattice's displacement components.
    """
    from ..system import System

    if isinstance(lattice, System):
        system, lattice = lattice, lattice.lattice
        if cells_a is None and sites is None:
            sites = np.asarray(system.sites, dtype=int)
    if not isinstance(lattice, Lattice):
        raise ValueError(f"lattice must be a jaxion Lattice or System; got {type(lattice).__name__}.")
    if sites is not None and cells_a is not None:
        raise ValueError("give the sites once: cells_a or sites.")
    if sites_b is not None and cells_b is not None:
        raise ValueError("give the second sites once: cells_b or sites_b.")
    name_a, name_b = ("sites", "sites_b") if sites is not None else ("cells_a", "cells_b")
    cells_a = cells_a if sites is None else sites
    cells_b = cells_b if sites_b is None else sites_b
    if cells_a is None:
        raise ValueError("cells_a (or sites) must list the sites of the Green's function.")
    dim, dof = lattice.dim, lattice.dof
    rows_a = site_rows(lattice, cells_a, name_a)
    rows_b = rows_a if cells_b is None else site_rows(lattice, cells_b, name_b)
    x_a, x_b = site_fractional(lattice, rows_a), site_fractional(lattice, rows_b)
    if supercell is None:
        if is_concrete(lattice):
            d0 = np.asarray(lattice.modes(np.zeros(dim)).omega2)
            singular = d0[0] <= 1e-12 * max(float(d0[-1]), 1e-300) or d0[-1] == 0
            if singular and dim < 3:
                raise ValueError(
                    f"the static Green's function of an unconfined {dim}D lattice diverges (zero-frequency modes "
                    "at q = 0 are not integrable below 3D); give a supercell or add confinement."
                )
            if singular and lattice.real_spectrum:  # the directional check uses the Bravais S(n̂) (paper 1, before (1.22))
                _check_acoustic(lattice, "the static Green's function (1.29)")
        if quadrature is None:
            # cut the outer panels so that the phase e^{iq·Δx} turns by at most ~2 rad per panel on each axis
            levels, points, ratio = _GREEN_RULES[dim]
            reach = np.max(np.abs(x_a[:, None, :] - x_b[None, :, :]).reshape(-1, dim), axis=0)
            panels = [max(1, int(np.ceil(r * np.pi * (1 - ratio) / 2.0))) for r in reach]
            quadrature = zone_quadrature(dim, levels, points, ratio, panels)
        nodes, weights = quadrature
        exclude_zero = False
    else:
        supercell = tuple(int(n) for n in supercell)
        if len(supercell) != dim:
            raise ValueError(f"supercell must have {dim} entries; got {supercell}.")
        nodes, weights = supercell_quadrature(supercell)
        exclude_zero = True
    nodes, weights = jnp.asarray(nodes, float), jnp.asarray(weights, float)
    if lattice.atoms == 1:
        diff = (x_a[:, None, :] - x_b[None, :, :]).reshape(-1, dim)  # (A·B, dim)
        unique, index = np.unique(diff, axis=0, return_inverse=True)
        values = _greens_core(lattice, nodes, weights, jnp.asarray(unique), exclude_zero)
        return values[np.asarray(index).reshape(-1)].reshape(len(rows_a), len(rows_b), dof, dof)
    diff = (rows_a[:, None, :-1] - rows_b[None, :, :-1]).reshape(-1, dim)
    pairs = np.stack(np.broadcast_arrays(rows_a[:, None, -1], rows_b[None, :, -1]), axis=-1).reshape(-1, 2)
    unique, index = np.unique(np.concatenate([diff, pairs], axis=1), axis=0, return_inverse=True)
    basis = np.asarray(lattice.basis_positions, float)
    fractional = unique[:, :dim] + basis[unique[:, dim]] - basis[unique[:, dim + 1]]
    values = _basis_greens_core(lattice, nodes, weights, jnp.asarray(fractional), jnp.asarray(unique[:, dim:]), exclude_zero)
    return values[np.asarray(index).reshape(-1)].reshape(len(rows_a), len(rows_b), dof, dof)


def _inverse_omega2(omega2, exclude_zero: bool):
    """``1/ω²``, zero for the excluded modes: the zero modes of a supercell (``ω² ≤ 1e-12 max``), or nodes so
    close to ``q = 0`` that roundoff swamps ``ω²`` (they carry a negligible weight·q²/q²)."""
    tol = (1e-12 if exclude_zero else 1e-13) * jnp.max(omega2)
    return jnp.where(omega2 > tol, 1.0 / jnp.where(omega2 > tol, omega2, 1.0), 0.0)


@eqx.filter_jit
def _greens_core(lattice: Lattice, nodes, weights, differences, exclude_zero: bool):
    modes = lattice.modes(nodes)
    eta = modes.channel_displacements
    inverse = _inverse_omega2(modes.omega2, exclude_zero)
    blocks = jnp.einsum("n,niu,nu,nju->nij", weights, eta, inverse, eta)  # weighted D⁻¹, (n, dof, dof)
    # D(q) is even in q, so the zone average of e^{iq·Δn} D⁻¹ is that of cos(q·Δn) D⁻¹.
    return jax.lax.map(lambda d: jnp.einsum("n,nij->ij", jnp.cos(nodes @ d), blocks), differences)


def _basis_greens_core(lattice: Lattice, nodes, weights, fractional, atom_pairs, exclude_zero: bool):
    """``Re Σ_n w_n e^{iq_n·Δx} Σ_u u_{s,u} u_{t,u}^†/ω_u²`` for each ``(Δx, s, t)`` ``(D, dof, dof)``; the rule is
    symmetric under ``q → −q`` (``u(−q) = u(q)^*``), so the real part is the whole sum. Nodes in chunks (memory
    ``O(chunk × channels²)``); padded nodes carry weight 0."""
    if exclude_zero:  # the zero-mode tolerance is relative to the largest ω² of the whole rule
        scale = jnp.max(_greens_omega2(lattice, jnp.asarray(nodes)))
    else:
        scale = None
    n = nodes.shape[0]
    chunk = min(_NODE_CHUNK, n)
    pad = (-n) % chunk
    nodes_c = jnp.concatenate([nodes, jnp.zeros((pad, nodes.shape[1]))]).reshape(-1, chunk, nodes.shape[1])
    weights_c = jnp.concatenate([weights, jnp.zeros(pad)]).reshape(-1, chunk)
    return _basis_greens_chunks(lattice, nodes_c, weights_c, fractional, atom_pairs, exclude_zero, scale)


_NODE_CHUNK = 32768


@eqx.filter_jit
def _greens_omega2(lattice: Lattice, nodes):
    return lattice.modes(nodes).omega2


@eqx.filter_jit
def _basis_greens_chunks(lattice: Lattice, nodes_c, weights_c, fractional, atom_pairs, exclude_zero: bool, scale):
    def one_chunk(total, args):
        q, w = args
        modes = lattice.modes(q)
        u = modes.displacements  # (n, atoms, dof, branches)
        omega2 = modes.omega2
        top = jnp.max(omega2) if scale is None else scale
        tol = (1e-12 if exclude_zero else 1e-13) * top
        inverse = jnp.where(omega2 > tol, 1.0 / jnp.where(omega2 > tol, omega2, 1.0), 0.0)
        first = u[:, atom_pairs[:, 0]] * (w[:, None] * 1.0)[:, :, None, None]  # (n, D, dof, branches)
        second = jnp.conj(u[:, atom_pairs[:, 1]]) * inverse[:, None, None, :]
        phase = jnp.exp(1j * (q @ fractional.T))  # (n, D)
        return total + jnp.real(jnp.einsum("nd,ndiu,ndju->dij", phase, first, second)), None

    total0 = jnp.zeros((fractional.shape[0], lattice.dof, lattice.dof))
    total, _ = jax.lax.scan(one_chunk, total0, (nodes_c, weights_c))
    return total
