"""Paper 1, (1.29): the static lattice Green's function, the ingredient of the softened potential of the
time-local equation (1.26) (:mod:`jaxion.dynamics.local`)."""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._validation import check_cells, is_concrete
from ..lattice import Lattice
from .low_speed import _check_acoustic
from .modes import supercell_quadrature, zone_quadrature

__all__ = ["static_greens_function"]

# Rules for the static Green's function (1/q² integrand in 3D needs a finer grading near 0).
_GREEN_RULES = {1: (40, 8, 0.5), 2: (14, 6, 0.4), 3: (9, 5, 1.0 / 3.0)}


# ----------------------------------------------------------------------------- (1.29)


def static_greens_function(lattice: Lattice, cells_a, cells_b=None, supercell: Sequence[int] | None = None, *, quadrature=None):
    """Paper 1, (1.29): the static lattice Green's function ``Ξ⁻¹ = Σ_j ε_j ε_j†/ω_j²`` between sites,

        ``G_ab = ⟨ e^{iq·(n_a − n_b)} D(q)⁻¹ ⟩_BZ``  (a ``dof × dof`` block per pair of cells),

    - infinite lattice (``supercell=None``): the zone integral with :func:`zone_quadrature`'s graded
      Gauss–Legendre rule (finer grading than the loss default). In 3D the ``1/q²`` singularity of an
      acoustic lattice is integrable; the rule has no node at ``q = 0`` and converges as the grading is
      refined (checked in the tests). In 1D and 2D an unconfined lattice's ``G`` diverges → ``ValueError``;
      so does a 3D lattice whose ``S(n̂)`` is singular in some direction.
    - periodic supercell: the exact finite sum over its ``N`` modes ``q = 2πn/N``, excluding zero modes
      (eigenvalues ``≤ 1e-12 × max``), i.e. the pseudo-inverse of ``Ξ``. With translational zero modes,
      ``Ξ G = 1 − (1/N) Σ_cells`` (the projector off the uniform translations).

    Args:
        cells_a, cells_b: integer cells ``(A, dim)``, ``(B, dim)`` (``cells_b`` defaults to ``cells_a``).
    Returns:
        ``(A, B, dof, dof)`` blocks in the lattice's displacement components.
    """
    if not isinstance(lattice, Lattice):
        raise ValueError(f"lattice must be a jaxion Lattice; got {type(lattice).__name__}.")
    dim, dof = lattice.dim, lattice.dof
    cells_a = check_cells("cells_a", cells_a, dim).astype(float)
    cells_b = cells_a if cells_b is None else check_cells("cells_b", cells_b, dim).astype(float)
    if supercell is None:
        if is_concrete(lattice):
            d0 = np.asarray(lattice.modes(np.zeros(dim)).omega2)
            singular = d0[0] <= 1e-12 * max(float(d0[-1]), 1e-300) or d0[-1] == 0
            if singular and dim < 3:
                raise ValueError(
                    f"the static Green's function of an unconfined {dim}D lattice diverges (zero-frequency modes "
                    "at q = 0 are not integrable below 3D); give a supercell or add confinement."
                )
            if singular:
                _check_acoustic(lattice, "the static Green's function (1.29)")
        if quadrature is None:
            # cut the outer panels so that cos(q·Δn) turns by at most ~2 rad per panel on each axis
            levels, points, ratio = _GREEN_RULES[dim]
            reach = np.max(np.abs(cells_a[:, None, :] - cells_b[None, :, :]).reshape(-1, dim), axis=0)
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
    diff = (cells_a[:, None, :] - cells_b[None, :, :]).reshape(-1, dim)  # (A·B, dim)
    unique, index = np.unique(diff, axis=0, return_inverse=True)
    values = _greens_core(lattice, jnp.asarray(nodes, float), jnp.asarray(weights, float), jnp.asarray(unique), exclude_zero)
    return values[np.asarray(index).reshape(-1)].reshape(len(cells_a), len(cells_b), dof, dof)


@eqx.filter_jit
def _greens_core(lattice: Lattice, nodes, weights, differences, exclude_zero: bool):
    modes = lattice.modes(nodes)
    omega2, eta = modes.omega2, modes.channel_displacements
    if exclude_zero:
        tol = 1e-12 * jnp.max(omega2)
    else:
        # nodes so close to q = 0 that roundoff swamps ω² carry a negligible weight·q²/q²: drop them.
        tol = 1e-13 * jnp.max(omega2)
    inverse = jnp.where(omega2 > tol, 1.0 / jnp.where(omega2 > tol, omega2, 1.0), 0.0)
    blocks = jnp.einsum("n,niu,nu,nju->nij", weights, eta, inverse, eta)  # weighted D⁻¹, (n, dof, dof)
    # D(q) is even in q, so the zone average of e^{iq·Δn} D⁻¹ is that of cos(q·Δn) D⁻¹.
    return jax.lax.map(lambda d: jnp.einsum("n,nij->ij", jnp.cos(nodes @ d), blocks), differences)
