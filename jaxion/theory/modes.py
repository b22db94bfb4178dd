"""Mode sums over the Brillouin zone for any lattice (paper 1, Secs. II–IV).

Everything here is built on the framework's normal modes ``ω_u(q)²``, ``η_u(q)`` (eigenpairs of the
dynamical matrix ``D(q)``, reduced wavevector ``q`` ∈ ``[−π, π]^dim``) and the Brillouin-zone average
``⟨f⟩ = (1/N) Σ_j f_j → (2π)^{−dim} ∫ d^dim q f(q)``.

- :func:`mode_sum_loss` — (1.13): constant-speed, straight-path loss (the framework at rest, ``ρ → 0``
  inside ``Φ``), summed over all branches; for several sites the phases ``e^{iq·n_a}`` of (1.11) are kept.
- :func:`trajectory_mode_loss` — (1.11), second line: the energy a recorded force history left in the
  framework's modes.
- :func:`recoil_matrix` — (1.23): the local-time recoil matrix ``M`` from the long-wavelength tensor.
- :func:`low_speed_loss` — (1.23): ``Δ = ∫ dτ σ'·H M H·σ'`` along a straight constant-speed path.
- :func:`static_greens_function` — (1.29): ``Ξ⁻¹`` between sites of the infinite lattice or of a
  periodic supercell.

Quadrature over the zone
------------------------
At low speed the integrand of (1.13) is a narrow bump around the soft (acoustic) modes at ``q = 0``
(width ``~σ'/(2πλc)``), and at high speed it is spread over the whole zone. :func:`zone_quadrature`
therefore builds a tensor product of a 1D composite Gauss–Legendre rule whose panels are graded
geometrically towards ``q = 0`` (breakpoints ``±π r^k``). The integrand of (1.13) for one site is an
analytic function of ``q`` (a matrix function of ``D(q)``), so the rule converges fast at all speeds;
the nodes never sit on ``q = 0``, so the integrable ``1/q²`` of (1.29) is handled too. Convergence is
checked in the tests by comparing the default rule with a finer one.

Mode data do not depend on the speed: for a whole loss-versus-speed curve pass an array of speeds (the
eigen-decomposition is done once and the speeds are mapped over sequentially), or precompute
:func:`zone_modes` once and pass it as ``modes=``.
"""

from __future__ import annotations

from typing import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._validation import check_cells, check_finite, check_positive, is_concrete
from ..lattice import Lattice
from ..potential import Gaussian, PairPotential, SumOfPairPotentials
from ..system import System

__all__ = [
    "ZoneModes",
    "zone_quadrature",
    "supercell_quadrature",
    "zone_modes",
    "mode_sum_loss",
    "interaction_forces",
    "trajectory_mode_loss",
    "recoil_matrix",
    "low_speed_loss",
    "static_greens_function",
]

TWO_PI = 2.0 * np.pi

# Default graded rules per lattice dimension: (levels, points per panel, grading ratio).
_DEFAULT_RULES = {1: (40, 8, 0.5), 2: (14, 6, 0.4), 3: (6, 6, 1.0 / 3.0)}
# Rules for the static Green's function (1/q² integrand in 3D needs a finer grading near 0).
_GREEN_RULES = {1: (40, 8, 0.5), 2: (14, 6, 0.4), 3: (9, 5, 1.0 / 3.0)}


# ----------------------------------------------------------------------------- quadrature


def _graded_rule_1d(levels: int, points: int, ratio: float, outer_panels: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Composite Gauss–Legendre rule on ``[−π, π]`` with panels graded geometrically towards 0.

    Breakpoints ``0, π r^levels, …, π r, π`` (mirrored), the outermost interval ``[π r, π]`` cut into
    ``outer_panels`` equal panels; ``points`` Gauss nodes per panel. Weights are normalised to the zone
    average (they sum to 1)."""
    if levels < 0 or points < 1 or not (0.0 < ratio < 1.0) or outer_panels < 1:
        raise ValueError(
            f"need levels >= 0, points >= 1, 0 < ratio < 1 and outer_panels >= 1; got {levels}, {points}, {ratio}, {outer_panels}."
        )
    inner = np.pi * ratio ** np.arange(levels, 0, -1, dtype=float)
    outer = np.linspace(np.pi * ratio, np.pi, int(outer_panels) + 1)
    breaks = np.concatenate([[0.0], inner, outer])
    x, w = np.polynomial.legendre.leggauss(points)
    nodes = np.concatenate([0.5 * (b - a) * x + 0.5 * (a + b) for a, b in zip(breaks[:-1], breaks[1:])])
    weights = np.concatenate([0.5 * (b - a) * w for a, b in zip(breaks[:-1], breaks[1:])])
    nodes = np.concatenate([-nodes[::-1], nodes])
    weights = np.concatenate([weights[::-1], weights]) / TWO_PI
    return nodes, weights


def zone_quadrature(
    dim: int,
    levels: int | None = None,
    points: int | None = None,
    ratio: float | None = None,
    outer_panels: int | Sequence[int] = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Quadrature for the Brillouin-zone average ``⟨f⟩ = (2π)^{−dim} ∫_{[−π,π]^dim} f(q) d^dim q``
    (the ``(1/N) Σ_j`` of (1.13), (1.21), (1.29) for ``N → ∞``).

    Tensor product of a composite Gauss–Legendre rule with ``points`` nodes per panel on panels graded
    geometrically towards ``q = 0`` (breakpoints ``±π ratio^k``, ``k = 0..levels``; the outermost
    interval ``[π ratio, π]`` is cut into ``outer_panels`` equal panels, per axis if a sequence — for
    integrands oscillating like ``e^{iq·Δn}``). Unspecified arguments take per-dimension defaults (1D: 40
    levels × 8 points, ratio 1/2 → 656 nodes; 2D: 14 × 6, ratio 0.4; 3D: 6 × 6, ratio 1/3 → 84³ ≈
    5.9·10⁵ nodes). Returns ``(nodes (n, dim), weights (n,))`` with weights summing to 1. No node lies on
    ``q = 0``.
    """
    if dim not in (1, 2, 3):
        raise ValueError(f"dim must be 1, 2 or 3; got {dim}.")
    d_levels, d_points, d_ratio = _DEFAULT_RULES[dim]
    levels = d_levels if levels is None else int(levels)
    points = d_points if points is None else int(points)
    ratio = d_ratio if ratio is None else float(ratio)
    panels = [int(outer_panels)] * dim if np.ndim(outer_panels) == 0 else [int(p) for p in outer_panels]
    if len(panels) != dim:
        raise ValueError(f"outer_panels must be an int or {dim} ints; got {outer_panels}.")
    rules = [_graded_rule_1d(levels, points, ratio, p) for p in panels]
    grids = np.meshgrid(*[r[0] for r in rules], indexing="ij")
    wgrids = np.meshgrid(*[r[1] for r in rules], indexing="ij")
    nodes = np.stack([g.ravel() for g in grids], axis=-1)
    weights = np.prod(np.stack([g.ravel() for g in wgrids], axis=-1), axis=-1)
    return nodes, weights


def supercell_quadrature(supercell: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """The exact mode set of a periodic supercell: ``q = 2πn/N`` with weights ``1/N_total`` (so a
    "zone average" with it is the finite sum ``(1/N) Σ_j`` of (1.11)–(1.13))."""
    supercell = tuple(int(n) for n in supercell)
    if not supercell or any(n < 1 for n in supercell):
        raise ValueError(f"supercell must list positive integers; got {supercell}.")
    axes = [TWO_PI * np.fft.fftfreq(n) for n in supercell]
    grids = np.meshgrid(*axes, indexing="ij")
    nodes = np.stack([g.ravel() for g in grids], axis=-1)
    return nodes, np.full(len(nodes), 1.0 / len(nodes))


class ZoneModes(eqx.Module):
    """Normal modes of a lattice on quadrature nodes of the Brillouin zone (see :func:`zone_modes`).

    Attributes:
        nodes: ``(n, dim)`` reduced wavevectors.
        weights: ``(n,)`` zone-average weights (sum 1).
        omega2: ``(n, dof)`` squared frequencies ``ω_u(q)²`` (eigenvalues of ``D(q)``, clipped at 0).
        eta: ``(n, dof, dof)`` polarisations ``η_u(q)`` in displacement components (columns = branches).
        polarisations: ``(n, 3, dof)`` Cartesian polarisations ``P η_u(q)``.
    """

    nodes: Float[Array, "n dim"]
    weights: Float[Array, " n"]
    omega2: Float[Array, "n dof"]
    eta: Float[Array, "n dof dof"]
    polarisations: Float[Array, "n 3 dof"]


def _resolve_nodes(dim: int, quadrature) -> tuple[np.ndarray, np.ndarray]:
    if quadrature is None:
        return zone_quadrature(dim)
    nodes, weights = quadrature
    nodes = np.asarray(nodes, float).reshape(len(weights), dim) if is_concrete(nodes) else nodes
    return nodes, weights


def zone_modes(lattice: Lattice, quadrature=None) -> ZoneModes:
    """Eigen-decompose ``D(q)`` (1.12), (1.19) on the nodes of a zone quadrature (default
    :func:`zone_quadrature`; or ``(nodes, weights)``, e.g. :func:`supercell_quadrature`)."""
    if not isinstance(lattice, Lattice):
        raise ValueError(f"lattice must be a jaxion Lattice; got {type(lattice).__name__}.")
    nodes, weights = _resolve_nodes(lattice.dim, quadrature)
    return _zone_modes(lattice, jnp.asarray(nodes, float), jnp.asarray(weights, float))


@eqx.filter_jit
def _zone_modes(lattice: Lattice, nodes, weights) -> ZoneModes:
    omega2, eta = jnp.linalg.eigh(lattice.dynamical_matrix(nodes))
    omega2 = jnp.clip(omega2, 0.0)
    pol = jnp.asarray(lattice.polarisation_matrix, float)
    return ZoneModes(nodes, weights, omega2, eta, jnp.einsum("ic,ncu->niu", pol, eta))


# ----------------------------------------------------------------------------- path transforms


def _safe_norm(v):
    """``|v|`` with a zero (not NaN) gradient at ``v = 0``."""
    r2 = jnp.sum(v**2, axis=-1)
    positive = r2 > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, r2, 1.0)), 0.0)


def _flatten_terms(potential: PairPotential) -> list[PairPotential]:
    if isinstance(potential, SumOfPairPotentials):
        return [t for term in potential.terms for t in _flatten_terms(term)]
    return [potential]


def _cubic_interp(x, x0, step, table):
    """4-point Lagrange interpolation on the uniform grid ``x0 + k·step`` of ``table`` (leading axis).

    ``x`` of any shape; returns ``x.shape + table.shape[1:]``."""
    n = table.shape[0]
    s = (x - x0) / step
    k = jnp.clip(jnp.floor(s).astype(int) - 1, 0, n - 4)
    t = s - k  # in [1, 2) inside the grid
    l0 = -(t - 1) * (t - 2) * (t - 3) / 6
    l1 = t * (t - 2) * (t - 3) / 2
    l2 = -t * (t - 1) * (t - 3) / 2
    l3 = t * (t - 1) * (t - 2) / 6
    extra = (None,) * (table.ndim - 1)
    out = 0.0
    for j, lj in enumerate((l0, l1, l2, l3)):
        out = out + lj[(...,) + extra] * table[k + j]
    return out


def _transform_and_gradient(potential: PairPotential, wavenumbers, impact_vectors, table_points: int = 4097):
    """``Φ̃_p(b)`` and ``∇_b Φ̃_p(b)`` (paper 1 after (1.13)) for ``p`` of shape ``(...)`` and impact
    vectors ``(sites, 3)``: returns ``(sites, ...)`` and ``(sites, ..., 3)``.

    Gaussians (and sums of them) use the closed form ``Φ0 sqrt(2π) λ e^{−b²/2λ²} e^{−p²λ²/2}`` with
    ``∇_b = −(b/λ²)``. Any other term uses its ``path_transform`` on a uniform grid of ``p`` (the
    gradient by ``jax.jacfwd`` with respect to the impact vector) and 4-point interpolation."""
    p = jnp.asarray(wavenumbers, float)
    b = jnp.asarray(impact_vectors, float)
    value = 0.0
    grad = 0.0
    for term in _flatten_terms(potential):
        if isinstance(term, Gaussian):
            lam = term.width
            radial = term.amplitude * jnp.sqrt(TWO_PI) * lam * jnp.exp(-jnp.sum(b**2, -1) / (2 * lam**2))  # (sites,)
            shape = (slice(None),) + (None,) * p.ndim
            t = radial[shape] * jnp.exp(-((p * lam) ** 2) / 2)[None]
            value = value + t
            grad = grad + t[..., None] * (-b / lam**2)[shape + (slice(None),)]
        else:
            p_abs = jnp.abs(p)
            p_max = jnp.maximum(jnp.max(p_abs), 1e-300)
            step = p_max / (table_points - 4)
            grid = step * (jnp.arange(table_points) - 1.0)  # one point below 0 for the stencil (even in p)

            def one_site(bvec):
                def f(bv):
                    return term.path_transform(grid, _safe_norm(bv))

                return f(bvec), jax.jacfwd(f)(bvec)  # (n_tab,), (n_tab, 3)

            tab_v, tab_g = jax.vmap(one_site)(b)  # (sites, n_tab), (sites, n_tab, 3)
            value = value + jax.vmap(lambda tv: _cubic_interp(p_abs, grid[0], step, tv))(tab_v)
            grad = grad + jax.vmap(lambda tg: _cubic_interp(p_abs, grid[0], step, tg))(tab_g)
    return value, grad


# ----------------------------------------------------------------------------- geometry helpers


def _unit_direction(direction):
    direction = jnp.asarray(direction, float)
    check_finite("direction", direction)
    if direction.shape != (3,):
        raise ValueError(f"direction must have shape (3,); got {direction.shape}.")
    norm = jnp.linalg.norm(direction)
    check_positive("|direction|", norm)
    return direction / norm


def _path_geometry(system: System, impact, direction):
    """Unit direction ``d̂``, path offset ``σ0 = centroid + impact`` and per-site ``(b_a, z_a)`` with
    ``R_a − σ0 = b_a + z_a d̂`` (``b_a ⊥ d̂``)."""
    unit = _unit_direction(direction)
    impact = jnp.asarray(impact, float)
    check_finite("impact", impact)
    if impact.shape != (3,):
        raise ValueError(f"impact must be a 3-vector perpendicular to direction; got shape {impact.shape}.")
    if is_concrete((impact, unit)) and abs(float(jnp.dot(impact, unit))) > 1e-9 * (1.0 + float(jnp.linalg.norm(impact))):
        raise ValueError(f"impact must be perpendicular to direction; got impact={np.asarray(impact)} along {np.asarray(unit)}.")
    positions = system.site_positions()
    origin = jnp.mean(positions, axis=0) + impact
    rel = positions - origin
    z = rel @ unit
    b = rel - z[:, None] * unit
    return unit, origin, b, z


def _check_system(system):
    if not isinstance(system, System):
        raise ValueError(f"system must be a jaxion System; got {type(system).__name__}.")


def _site_phases(nodes, cells):
    """``e^{i q·n_a}`` on the nodes, ``(n, sites)``."""
    return jnp.exp(1j * (nodes @ jnp.asarray(cells, float).T))


# ----------------------------------------------------------------------------- (1.13)


def mode_sum_loss(
    system: System,
    speed,
    impact=(0.0, 0.0, 0.0),
    direction=(0.0, 0.0, 1.0),
    *,
    quadrature=None,
    modes: ZoneModes | None = None,
    table_points: int = 4097,
):
    """Paper 1, (1.13): loss of an ion on a straight path at constant ``speed`` ``σ'`` past a framework
    at rest (``ρ → 0`` inside ``Φ``), as a Brillouin-zone mode sum for any lattice:

        ``Δ = 2π² ⟨ Σ_u | (1/σ') Σ_a e^{iq·n_a} e^{i p z_a} η_u·[∇_⊥ + i d̂ p] Φ̃_p(b_a) |² ⟩_BZ``,
        ``p = 2π ω_u(q)/σ'``,

    with ``⟨⟩`` the zone average ``(1/N) Σ_j`` and ``η_u`` the branch polarisations mapped to 3D with the
    lattice's polarisation matrix. For one site this is exactly (1.13) (``∇_⊥Φ̃ = −(b/λ²) Φ̃`` for the
    Gaussian; ``jax.jacfwd`` of ``path_transform`` with respect to the impact vector otherwise). For
    several sites the phases ``e^{iq·n_a}`` of (1.11) are kept, so the result is the exact constant-speed
    limit of (1.11) — unlike (1.23), which drops them.

    Geometry (as :func:`jaxion.pass_geometry`): the path passes through ``centroid(sites) + impact``
    along ``direction``; ``R_a − σ0 = b_a + z_a d̂``.

    Args:
        system: lattice, interacting sites and pair potential (``mass_ratio`` is not used).
        speed: ``σ' > 0``; a scalar or an array (the speeds are mapped over with one eigen-decomposition).
        impact: offset of the path from the sites' centroid, perpendicular to ``direction``.
        direction: direction of motion (normalised here).
        quadrature: ``(nodes, weights)`` for the zone average (default :func:`zone_quadrature`); ignored
            when ``modes`` is given.
        modes: precomputed :func:`zone_modes` (reuse across calls).
        table_points: grid size for the tabulated transform of non-Gaussian potentials.

    Returns:
        ``Δ`` with the shape of ``speed``. Differentiable (``jax.grad``) with respect to the speed and the
        potential's parameters, and ``vmap``-able over the speed. (Not with respect to the lattice's force
        constants: ``eigh`` has no derivative at degenerate branches, e.g. the chain's two transverse ones.)

    Accuracy of the default zone rule: ~1e-9 relative on the chain (vs (1.14)); ≤ 3e-5 relative on the
    paper's cubic lattice for σ' = 0.25–80, λ = 1/2–4 (vs a 1.06·10⁷-node rule);
    ``zone_quadrature(3, 6, 8, 1/3)`` (1.4·10⁶ nodes) gives ≤ 3e-7.
    """
    _check_system(system)
    unit, _, b, z = _path_geometry(system, impact, direction)
    if modes is None:
        modes = zone_modes(system.lattice, quadrature)
    speed = jnp.asarray(speed, float)
    check_positive("speed", speed)
    out = _mode_sum_core(system.potential, speed.reshape(-1), modes, b, z, unit, system.site_cells, int(table_points))
    return out.reshape(speed.shape)


@eqx.filter_jit
def _mode_sum_core(potential, speeds, modes: ZoneModes, b, z, unit, cells, table_points: int):
    """(1.13) for a flat array of speeds (mapped sequentially)."""
    phases = _site_phases(modes.nodes, cells)  # (n, sites)
    omega = jnp.sqrt(modes.omega2)  # (n, dof)
    eta_d = jnp.einsum("j,nju->nu", unit, modes.polarisations)  # (n, dof): d̂·η
    single = b.shape[0] == 1

    def one(speed):
        p = TWO_PI * omega / speed  # (n, dof)
        value, grad = _transform_and_gradient(potential, p, b, table_points)  # (s,n,u), (s,n,u,3)
        transverse = jnp.einsum("snuj,nju->snu", grad, modes.polarisations)  # ∇⊥Φ̃·η
        longitudinal = p[None] * value * eta_d[None]  # p Φ̃ d̂·η
        if single:
            # one site: the phase is a common factor and ∇⊥Φ̃·η, pΦ̃ d̂·η are real.
            power = transverse[0] ** 2 + longitudinal[0] ** 2
        else:
            phase = phases.T[:, :, None] * jnp.exp(1j * p[None] * z[:, None, None])  # (s, n, u)
            amplitude = jnp.sum(phase * (transverse + 1j * longitudinal), axis=0)
            power = jnp.real(amplitude) ** 2 + jnp.imag(amplitude) ** 2
        return 2 * np.pi**2 / speed**2 * jnp.sum(modes.weights[:, None] * power)

    return jax.lax.map(one, speeds)


# ----------------------------------------------------------------------------- (1.11)


def interaction_forces(system: System, ion_positions, site_displacements=None):
    """Forces ``f_a = −∇_{ρ_a} Φ(ρ, σ)`` on the interacting sites (paper 1, (1.4) and (1.11)), in the
    lattice's displacement components, for ion positions ``(T, 3)`` and optional site displacements
    ``(T, sites, dof)`` (default: the framework at rest, ``ρ = 0``). Returns ``(T, sites, dof)``."""
    _check_system(system)
    sigma = jnp.asarray(ion_positions, float).reshape(-1, 3)
    dof = system.lattice.dof
    if site_displacements is None:
        rho = jnp.zeros((sigma.shape[0], len(system.sites), dof))
    else:
        rho = jnp.asarray(site_displacements, float).reshape(sigma.shape[0], len(system.sites), dof)
    grad = jax.vmap(jax.grad(system.interaction_energy, argnums=1))(sigma, rho)
    return -grad


def trajectory_mode_loss(
    system: System,
    times,
    site_forces,
    *,
    quadrature=None,
    modes: ZoneModes | None = None,
    oversampling: int = 32,
    chunk_size: int = 8192,
):
    """Paper 1, (1.11), second line: the energy a recorded force history leaves in the framework,

        ``Δ = 2π² Σ_j |∫ dτ f(τ)·ε_j e^{2πiω_j τ}|² = 2π² ⟨ Σ_u |Σ_a e^{iq·n_a} η_u·F_a(ω_u(q))|² ⟩_BZ``,
        ``F_a(ω) = ∫ dτ f_a(τ) e^{2πiωτ}``,

    exact for a framework initially at rest whatever the trajectory (``f_a`` are the actual forces on
    the sites, e.g. from a full simulation, or :func:`interaction_forces` along any path). The time
    integral uses the trapezoid rule on the given (possibly non-uniform) ``times``; ``F_a(ω)`` is
    tabulated on a uniform frequency grid of spacing ``1/(oversampling × duration)`` and interpolated
    (4-point Lagrange, relative error ~ ``(π/oversampling)⁴/100``) at the modes' frequencies.

    Args:
        system: lattice and interacting sites (the potential is not used).
        times: ``(T,)`` increasing times.
        site_forces: ``(T, sites, dof)`` forces on the sites in displacement components (or
            ``(T, sites, 3)`` Cartesian forces, projected with the polarisation matrix).
        quadrature / modes: as for :func:`mode_sum_loss` (e.g. :func:`supercell_quadrature` to reproduce
            a periodic supercell's modes exactly).
        oversampling: frequency-grid points per ``1/duration``.
        chunk_size: nodes (and frequencies) per sequential chunk, to bound memory.
    """
    _check_system(system)
    lattice = system.lattice
    times = jnp.asarray(times, float)
    if times.ndim != 1 or times.shape[0] < 2:
        raise ValueError(f"times must be a 1D array with at least 2 entries; got shape {times.shape}.")
    forces = jnp.asarray(site_forces, float)
    sites, dof = len(system.sites), lattice.dof
    if forces.shape[:2] != (times.shape[0], sites) or forces.ndim != 3:
        raise ValueError(f"site_forces must have shape (T={times.shape[0]}, sites={sites}, dof={dof}); got {forces.shape}.")
    if forces.shape[2] != dof:
        if forces.shape[2] == 3:
            forces = forces @ jnp.asarray(lattice.polarisation_matrix, float)
        else:
            raise ValueError(f"site_forces must have last axis dof={dof} (or 3); got {forces.shape[2]}.")
    if not is_concrete((times, forces)):
        raise ValueError("trajectory_mode_loss needs concrete times and forces (not traced values).")
    if np.any(np.diff(np.asarray(times)) <= 0):
        raise ValueError("times must be strictly increasing.")
    if modes is None:
        modes = zone_modes(lattice, quadrature)

    omega_max = float(np.sqrt(np.max(np.asarray(modes.omega2))))
    duration = float(times[-1] - times[0])
    step = 1.0 / (oversampling * duration)
    n_tab = int(np.ceil(omega_max / step)) + 6
    return _trajectory_core(modes, times, forces, system.site_cells, jnp.asarray(step), n_tab, int(chunk_size))


@eqx.filter_jit
def _trajectory_core(modes: ZoneModes, times, forces, cells, step, n_tab: int, chunk_size: int):
    sites, dof = forces.shape[1], forces.shape[2]
    dt = jnp.diff(times)
    trap = jnp.concatenate([dt[:1] / 2, (dt[1:] + dt[:-1]) / 2, dt[-1:] / 2])
    shifted = times - 0.5 * (times[0] + times[-1])  # a common phase per mode: |·|² is unchanged
    weighted = (trap[:, None, None] * forces).reshape(times.shape[0], sites * dof)  # (T, s·c)

    table_chunk_size = min(chunk_size, n_tab)
    n_chunks = -(-n_tab // table_chunk_size)
    grid = step * (jnp.arange(n_chunks * table_chunk_size) - 1.0)

    def table_chunk(w):
        kernel = jnp.exp(2j * np.pi * w[:, None] * shifted[None, :])  # (chunk, T)
        return kernel @ weighted  # (chunk, s·c)

    table = jax.lax.map(table_chunk, grid.reshape(n_chunks, table_chunk_size)).reshape(-1, sites, dof)

    omega = jnp.sqrt(modes.omega2)
    phases = _site_phases(modes.nodes, cells)  # (n, s)
    n = modes.nodes.shape[0]
    chunk_size = min(chunk_size, n)
    n_node_chunks = -(-n // chunk_size)
    pad = n_node_chunks * chunk_size - n

    def pad_to(x):
        x = jnp.concatenate([x, jnp.zeros((pad,) + x.shape[1:], x.dtype)])
        return x.reshape((n_node_chunks, chunk_size) + x.shape[1:])

    def node_chunk(args):
        om, eta, ph, w = args  # (c, u), (c, dof, u), (c, s), (c,)
        f = _cubic_interp(om, grid[0], step, table)  # (c, u, s, dof)
        amp = jnp.einsum("cs,cusd,cdu->cu", ph, f, eta.astype(complex))
        return jnp.sum(w[:, None] * (jnp.real(amp) ** 2 + jnp.imag(amp) ** 2))

    parts = jax.lax.map(node_chunk, (pad_to(omega), pad_to(modes.eta), pad_to(phases), pad_to(modes.weights)))
    return 2 * np.pi**2 * jnp.sum(parts)


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
    if is_concrete(lattice.confinement) and np.any(np.abs(np.asarray(lattice.confinement)) > 0):
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
    _check_system(system)
    speed = jnp.asarray(speed, float)
    check_positive("speed", speed)
    unit, origin, _, z_sites = _path_geometry(system, impact, direction)
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
            d0 = np.linalg.eigvalsh(np.asarray(lattice.dynamical_matrix(np.zeros(dim))))
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
    omega2, eta = jnp.linalg.eigh(lattice.dynamical_matrix(nodes))
    if exclude_zero:
        tol = 1e-12 * jnp.max(omega2)
    else:
        # nodes so close to q = 0 that roundoff swamps ω² carry a negligible weight·q²/q²: drop them.
        tol = 1e-13 * jnp.max(omega2)
    inverse = jnp.where(omega2 > tol, 1.0 / jnp.where(omega2 > tol, omega2, 1.0), 0.0)
    blocks = jnp.einsum("n,niu,nu,nju->nij", weights, eta, inverse, eta)  # weighted D⁻¹, (n, dof, dof)
    # D(q) is even in q, so the zone average of e^{iq·Δn} D⁻¹ is that of cos(q·Δn) D⁻¹.
    return jax.lax.map(lambda d: jnp.einsum("n,nij->ij", jnp.cos(nodes @ d), blocks), differences)
