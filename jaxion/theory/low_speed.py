"""Low-speed theory (paper 1, Sec. IV): the recoil matrix (1.23), the low-speed loss along a straight path
(1.23), and the static lattice Green's function (1.29) — the ingredients of the time-local equation (1.26).

The recoil matrix is the long-wavelength limit of the framework's response, an integral over the sphere of
directions of the long-wavelength tensor ``S(n̂)`` (:meth:`jaxion.Lattice.long_wavelength_tensor`); the Green's
function is a zone integral of ``D(q)⁻¹`` with :func:`jaxion.theory.zone_quadrature`'s graded rule.
"""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._constants import TWO_PI
from .._validation import check_cells, check_positive, is_concrete
from ..lattice import Lattice
from ..system import System
from .modes import check_system, path_geometry, supercell_quadrature, zone_quadrature

__all__ = ["recoil_matrix", "low_speed_loss", "static_greens_function"]

# Rules for the static Green's function (1/q² integrand in 3D needs a finer grading near 0).
_GREEN_RULES = {1: (40, 8, 0.5), 2: (14, 6, 0.4), 3: (9, 5, 1.0 / 3.0)}


# ----------------------------------------------------------------------------- (1.23)


def _sphere_rule(theta_points: int, phi_points: int):
    x, w = np.polynomial.legendre.leggauss(theta_points)  # cos θ
    phi = TWO_PI * (np.arange(phi_points) + 0.5) / phi_points
    ct, ph = np.meshgrid(x, phi, indexing="ij")
    st = np.sqrt(1 - ct**2)
    dirs = np.stack([st * np.cos(ph), st * np.sin(ph), ct], axis=-1).reshape(-1, 3)
    weights = (w[:, None] * np.full(phi_points, TWO_PI / phi_points)[None, :]).reshape(-1)
    return dirs, weights


def _check_acoustic(lattice: Lattice, what: str):
    """Raise if the long-wavelength tensor S(n̂) (paper 1, before (1.22)) is singular in some direction
    (nodal lines/planes of zero-frequency modes: the 3D integrals of (1.23) and (1.29) then diverge)."""
    if not is_concrete(lattice):
        return
    theta = np.linspace(0.0, np.pi, 37)
    phi = np.linspace(0.0, TWO_PI, 73)
    t, p = np.meshgrid(theta, phi, indexing="ij")
    dirs = np.stack([np.sin(t) * np.cos(p), np.sin(t) * np.sin(p), np.cos(t)], axis=-1).reshape(-1, 3)
    dirs = np.concatenate([dirs, _sphere_rule(16, 32)[0]])
    eig = np.linalg.eigvalsh(np.asarray(lattice.long_wavelength_tensor(dirs)))
    scale = float(np.max(eig)) or 1.0
    lowest = eig[:, 0] / scale
    worst = int(np.argmin(lowest))
    if 1e-9 < lowest[worst] < 0.05:
        # refine the worst directions locally in case a zero sits between grid points (S is smooth, so a
        # zero between the 5° grid points leaves a small minimum on the grid)
        from scipy.optimize import minimize

        def smallest(angles):
            th, ph = angles
            d = np.array([np.sin(th) * np.cos(ph), np.sin(th) * np.sin(ph), np.cos(th)])
            return np.linalg.eigvalsh(np.asarray(lattice.long_wavelength_tensor(d)))[0] / scale

        best = lowest[worst]
        for i in np.argsort(lowest)[:4]:
            d = dirs[i]
            start = np.array([np.arccos(np.clip(d[2], -1, 1)), np.arctan2(d[1], d[0])])
            res = minimize(smallest, start, method="Nelder-Mead", options={"xatol": 1e-10, "fatol": 1e-16})
            best = min(best, float(res.fun))
        lowest_value = best
    else:
        lowest_value = float(lowest[worst])
    if lowest_value <= 1e-9:
        raise ValueError(
            f"{what} diverges for this lattice: the long-wavelength tensor S(n̂) has a zero eigenvalue in "
            f"some direction (e.g. n̂ = {np.round(dirs[worst], 4)}), i.e. zero-frequency modes along whole lines "
            "or planes of the Brillouin zone (a simple cubic lattice with k2 = 0 has them along the axes). "
            "Add couplings that stiffen those modes."
        )


def recoil_matrix(lattice: Lattice, *, theta_points: int = 48, phi_points: int = 96) -> Float[Array, "3 3"]:
    """Paper 1, (1.23): the local-time recoil matrix

        ``M = V_cell Σ_u ∫ dΩ η_u η_uᵀ / (4 (2π sqrt(k_u))³) = V_cell/(32π³) ∫ dΩ S(n̂)^{−3/2}``

    with ``k_u, η_u`` the eigenpairs of the Cartesian long-wavelength tensor ``S(n̂) = Σ_v K_v (n̂·r_v)²``
    (``D ≈ |k|² S`` for a Cartesian wavevector ``k``; :meth:`Lattice.long_wavelength_tensor`). The cell
    volume converts the zone average ``(1/N) Σ_j`` to ``V_cell ∫ d³k/(2π)³``; in the paper's reduced units
    (``q`` per cell, ``S`` from integer offsets) the ``V_cell`` is absent and the two agree. Sphere
    quadrature: Gauss–Legendre in ``cos θ`` × uniform ``φ`` (the integrand is analytic on the sphere, so
    this converges spectrally). Returns the 3×3 Cartesian matrix (``P M Pᵀ`` for ``dof < 3``).

    Raises ``ValueError`` for lattices that are not 3D, are confined (no acoustic branch: the low-speed
    loss is then exponentially small, not linear in the speed), or whose ``S(n̂)`` is singular in some
    direction (``M`` diverges; e.g. ``simple_cubic(k1=15, k2=0)``).
    """
    if not isinstance(lattice, Lattice):
        raise ValueError(f"lattice must be a jaxion Lattice; got {type(lattice).__name__}.")
    if lattice.dim != 3:
        raise ValueError(f"the recoil matrix (1.23) is defined for 3D lattices; got dim = {lattice.dim}.")
    if is_concrete(lattice) and not lattice.acoustic:
        raise ValueError(
            "the recoil matrix (1.23) needs an acoustic (unconfined) lattice; with confinement the spectrum is "
            "gapped and the low-speed loss is exponentially suppressed instead of linear in the speed."
        )
    _check_acoustic(lattice, "the recoil matrix (1.23)")
    dirs, weights = _sphere_rule(theta_points, phi_points)
    k, eta = jnp.linalg.eigh(lattice.long_wavelength_tensor(jnp.asarray(dirs)))
    integrand = jnp.einsum("niu,nu,nju->nij", eta, k ** (-1.5), eta)
    m = lattice.cell_volume / (32 * np.pi**3) * jnp.einsum("n,nij->ij", jnp.asarray(weights), integrand)
    pol = jnp.asarray(lattice.polarisation_matrix, float)
    return pol @ m @ pol.T


def low_speed_loss(
    system: System,
    speed,
    impact=(0.0, 0.0, 0.0),
    direction=(0.0, 0.0, 1.0),
    *,
    recoil=None,
    margin_ranges: float = 12.0,
    points_per_range: int = 12,
):
    """Paper 1, (1.23): the low-speed (local-time) loss along a straight constant-speed path,

        ``Δ = ∫ dτ σ'·H M H·σ' = σ' ∫ dz d̂·H(σ(z)) M H(σ(z))·d̂``,

    with ``H`` the Hessian (``jax.hessian``) of the static landscape ``Φ(0, σ)`` of *all* the system's
    sites (the phases between sites are dropped, as the paper does for (1.23)) and ``M`` the
    :func:`recoil_matrix` (or ``recoil``). The path passes through ``centroid + impact`` along
    ``direction``; ``z`` runs ``margin_ranges × potential.range`` beyond the outermost sites, with a
    composite Gauss–Legendre rule of ``points_per_range`` nodes per potential range. Linear in ``speed``
    (scalar or array)."""
    check_system(system)
    speed = jnp.asarray(speed, float)
    check_positive("speed", speed)
    unit, origin, _, z_sites = path_geometry(system, impact, direction)
    m = recoil_matrix(system.lattice) if recoil is None else jnp.asarray(recoil, float)
    rng = system.potential.range
    check_positive("potential.range", rng)
    if not is_concrete((z_sites, rng)):
        raise ValueError("low_speed_loss needs concrete site positions and potential range.")
    lo = float(np.min(np.asarray(z_sites))) - margin_ranges * float(rng)
    hi = float(np.max(np.asarray(z_sites))) + margin_ranges * float(rng)
    panels = int(np.ceil((hi - lo) / float(rng)))
    x, w = np.polynomial.legendre.leggauss(points_per_range)
    edges = np.linspace(lo, hi, panels + 1)
    half = 0.5 * np.diff(edges)
    zs = ((edges[:-1] + half)[:, None] + half[:, None] * x[None, :]).reshape(-1)
    ws = (half[:, None] * w[None, :]).reshape(-1)
    return speed * _low_speed_core(system, origin, unit, jnp.asarray(zs), jnp.asarray(ws), m)


@eqx.filter_jit
def _low_speed_core(system, origin, unit, zs, ws, m):
    """``∫ dz d̂·H M H·d̂`` on the given nodes."""
    hess = jax.vmap(jax.hessian(system.landscape))(origin[None, :] + zs[:, None] * unit[None, :])
    hd = hess @ unit  # (n, 3)
    return jnp.sum(ws * jnp.einsum("ni,ij,nj->n", hd, m, hd))


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
    omega2, eta = modes.omega2, modes.eta
    if exclude_zero:
        tol = 1e-12 * jnp.max(omega2)
    else:
        # nodes so close to q = 0 that roundoff swamps ω² carry a negligible weight·q²/q²: drop them.
        tol = 1e-13 * jnp.max(omega2)
    inverse = jnp.where(omega2 > tol, 1.0 / jnp.where(omega2 > tol, omega2, 1.0), 0.0)
    blocks = jnp.einsum("n,niu,nu,nju->nij", weights, eta, inverse, eta)  # weighted D⁻¹, (n, dof, dof)
    # D(q) is even in q, so the zone average of e^{iq·Δn} D⁻¹ is that of cos(q·Δn) D⁻¹.
    return jax.lax.map(lambda d: jnp.einsum("n,nij->ij", jnp.cos(nodes @ d), blocks), differences)
