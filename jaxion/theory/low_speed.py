"""Low-speed theory (paper 1, Sec. IV): the recoil matrix (1.23) and the low-speed loss along a straight path
(1.23) — with the static Green's function (:mod:`jaxion.theory.greens`, (1.29)) the ingredients of the
time-local equation (1.26).

The recoil matrix is the long-wavelength limit of the framework's response, an integral over the sphere of
directions of the long-wavelength tensor ``S(n̂)`` (:meth:`jaxion.Lattice.long_wavelength_tensor`).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._constants import TWO_PI
from .._validation import check_positive, is_concrete
from ..lattice import Lattice
from ..system import System
from .modes import check_system, path_geometry

__all__ = ["recoil_matrix", "low_speed_loss"]

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
    """Paper 1, (1.23): the local-time recoil matrix of any acoustic 3D crystal (one atom per cell or a basis),

        ``M = (V_cell/M_cell) Σ_u ∫ dΩ η_u η_uᵀ / (4 (2π sqrt(k_u))³) = V_cell/(32π³ M_cell) ∫ dΩ S(n̂)^{−3/2}``

    with ``k_u, η_u`` the eigenpairs of the Cartesian acoustic long-wavelength tensor ``S(n̂)`` per cell mass
    (``ω² ≈ |k|² k_u`` for a Cartesian wavevector ``k``; internal strain included, :meth:`Lattice.long_wavelength_tensor`)
    and ``M_cell = Σ_s m_s``. Derivation from the mode sum (1.13): at low speed only the acoustic modes near
    ``q = 0`` count; such a mode moves every atom alike, ``w_u = P e_{s,u}/sqrt(m_s) = η_u/sqrt(M_cell)`` (``e_s =
    sqrt(m_s/M_cell) η_u``), which gives the ``1/M_cell`` for whichever site the ion meets, and the radial ``|k|``
    integral of the power at ``p = 2π|k| sqrt(k_u)/σ'`` gives ``k_u^{−3/2}``; the cell volume converts the zone average
    ``(1/N) Σ_j`` to ``V_cell ∫ d³k/(2π)³``. For one atom of unit mass this is the paper's ``Σ_v K_v (n̂·r_v)²``
    form (in its reduced units, ``q`` per cell and ``S`` from integer offsets, ``V_cell`` is absent and the two agree);
    with the Christoffel tensor of :func:`jaxion.materials.lattice_elastic_constants` and ``ρ = M_cell/V_cell`` it is
    ``(1/2π)`` × (1.28) (:func:`jaxion.materials.recoil_matrix_from_elastic`). Sphere quadrature: Gauss–Legendre in
    ``cos θ`` × uniform ``φ`` (the integrand is analytic on the sphere, so this converges spectrally). Returns the 3×3
    Cartesian matrix (``P M Pᵀ`` for ``dof < 3``).

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
    m = lattice.cell_volume / (32 * np.pi**3 * lattice.cell_mass) * jnp.einsum("n,nij->ij", jnp.asarray(weights), integrand)
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
    :func:`recoil_matrix` (or ``recoil``). On a crystal with a basis the same ``M`` serves every site, whatever its
    atom's mass or species (with one pair potential per species): the slow acoustic modes move all atoms of a cell
    alike, ``u_s = η/sqrt(M_cell)``. The path passes through ``centroid + impact`` along
    ``direction``; ``z`` runs ``margin_ranges ×`` the largest potential range beyond the outermost sites, with a
    composite Gauss–Legendre rule of ``points_per_range`` nodes per potential range. Linear in ``speed``
    (scalar or array)."""
    check_system(system)
    speed = jnp.asarray(speed, float)
    check_positive("speed", speed)
    unit, origin, _, z_sites = path_geometry(system, impact, direction)
    m = recoil_matrix(system.lattice) if recoil is None else jnp.asarray(recoil, float)
    rng = system.interaction_range
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
