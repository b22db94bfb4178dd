"""Mode sums over the Brillouin zone for any lattice (paper 1, Secs. II–IV).

Everything here is built on the framework's normal modes ``ω_u(q)²``, ``η_u(q)`` (eigenpairs of the
dynamical matrix ``D(q)``, reduced wavevector ``q`` ∈ ``[−π, π]^dim``) and the Brillouin-zone average
``⟨f⟩ = (1/N) Σ_j f_j → (2π)^{−dim} ∫ d^dim q f(q)``.

- :func:`mode_sum_loss` — (1.13): constant-speed, straight-path loss (the framework at rest, ``ρ → 0``
  inside ``Φ``), summed over all branches; for several sites the phases ``e^{iq·n_a}`` of (1.11) are kept.
  Computed from ``D(q)`` as a matrix function (it needs the spectral projectors, not the eigenvectors), so its
  gradient with respect to force constants and masses is finite at degenerate branches (Daleckii–Krein JVP).
- :func:`trajectory_mode_loss` — (1.11), second line: the energy a recorded force history left in the
  framework's modes.
- The low-speed theory — the recoil matrix and the low-speed loss (1.23), the static Green's function
  (1.29) — is in :mod:`jaxion.theory.low_speed`; it uses the quadrature rules defined here.

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

import functools
from collections.abc import Sequence
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .._constants import TWO_PI
from .._validation import check_finite, check_positive, is_concrete
from ..lattice import Lattice, ZoneModes
from ..potential import AbstractPairPotential, Gaussian, SumOfPairPotentials
from ..system import System

__all__ = [
    "zone_quadrature",
    "supercell_quadrature",
    "zone_modes",
    "mode_sum_loss",
    "interaction_forces",
    "trajectory_mode_loss",
]


# Default graded rules per lattice dimension: (levels, points per panel, grading ratio).
_DEFAULT_RULES = {1: (40, 8, 0.5), 2: (14, 6, 0.4), 3: (6, 6, 1.0 / 3.0)}


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
    shaped = np.asarray(outer_panels)
    panels = [int(shaped)] * dim if shaped.ndim == 0 else [int(p) for p in shaped]
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


def _resolve_nodes(dim: int, quadrature) -> tuple[np.ndarray, np.ndarray]:
    if quadrature is None:
        return zone_quadrature(dim)
    nodes, weights = quadrature
    nodes = np.asarray(nodes, float).reshape(len(weights), dim) if is_concrete(nodes) else nodes
    return nodes, weights


def zone_modes(lattice: Lattice, quadrature=None) -> ZoneModes:
    """The lattice's modes (:meth:`jaxion.Lattice.modes`, eigenpairs of ``D(q)`` (1.12), (1.19)) on the
    nodes of a zone quadrature (default :func:`zone_quadrature`; or ``(nodes, weights)``, e.g.
    :func:`supercell_quadrature`), with its weights."""
    if not isinstance(lattice, Lattice):
        raise ValueError(f"lattice must be a jaxion Lattice; got {type(lattice).__name__}.")
    nodes, weights = _resolve_nodes(lattice.dim, quadrature)
    return _zone_modes(lattice, jnp.asarray(nodes, float), jnp.asarray(weights, float))


@eqx.filter_jit
def _zone_modes(lattice: Lattice, nodes, weights) -> ZoneModes:
    return lattice.modes(nodes, weights)


# ----------------------------------------------------------------------------- path transforms


def _safe_norm(v):
    """``|v|`` with a zero (not NaN) gradient at ``v = 0``."""
    r2 = jnp.sum(v**2, axis=-1)
    positive = r2 > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, r2, 1.0)), 0.0)


def _flatten_terms(potential: AbstractPairPotential) -> list[AbstractPairPotential]:
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


def _transform_and_gradient(potential: AbstractPairPotential, wavenumbers, impact_vectors, table_points: int = 4097):
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
            # the table's grid is a numerical device: its spacing is not differentiated (derivatives in p are the
            # interpolant's, consistent with its values)
            p_max = jax.lax.stop_gradient(jnp.maximum(jnp.max(p_abs), 1e-300))
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


def path_geometry(system: System, impact, direction):
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


def check_system(system):
    if not isinstance(system, System):
        raise ValueError(f"system must be a jaxion System; got {type(system).__name__}.")


def _site_phases(nodes, fractional):
    """``e^{i q·x_a}`` on the nodes, ``(n, sites)``, with ``x_a = n_a + τ_{s_a}`` the sites' fractional positions
    (phonopy's phase convention of the eigenvectors: :class:`jaxion.Lattice`)."""
    return jnp.exp(1j * (nodes @ jnp.asarray(fractional, float).T))


def site_fractional_positions(system: System) -> Array:
    """``x_a = n_a + τ_{s_a}``: the interacting sites' positions in cell coordinates."""
    return jnp.asarray(system.site_cells, float) + system.lattice.basis_positions[system.site_atoms]


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

        ``Δ = 2π² ⟨ Σ_u | (1/σ') Σ_a e^{iq·x_a} e^{i p z_a} w_{au}·[∇_⊥ + i d̂ p] Φ̃_{κ(a),p}(b_a) |² ⟩_BZ``,
        ``p = 2π ω_u(q)/σ'``,

    with ``⟨⟩`` the zone average ``(1/N) Σ_j``, ``x_a = n_a + τ_{s_a}`` the site's fractional position,
    ``w_{au} = P e_{s_a,u}/sqrt(m_{s_a})`` the Cartesian displacement of its atom in branch ``u``
    (:attr:`jaxion.ZoneModes.polarisations`; for one atom of unit mass the branch polarisation ``η_u``) and
    ``Φ̃_κ`` the path transform of the site's species' pair potential. For one site this is exactly (1.13) (``∇_⊥Φ̃ = −(b/λ²) Φ̃`` for the
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
        ``Δ`` with the shape of ``speed``. Differentiable (``jax.grad``, ``jax.jvp``) with respect to the speed,
        the potentials' parameters, the site geometry (e.g. a strained ``primitive_vectors``) and — when
        ``modes`` is not given — the lattice's force constants and masses, also where branches are degenerate
        (``q = 0``, zone boundary, high-symmetry lines of cubic crystals): the sum ``Σ_u |g(ω_u)·e_u|²`` is a
        matrix function of ``D(q)`` (it depends on the eigenvectors only through the spectral projectors) and its
        derivative is the Daleckii–Krein formula with divided differences ``(f(λ_u) − f(λ_v))/(λ_u − λ_v)``, taken
        as the mean of ``f'`` at the two ends when ``|λ_u − λ_v| ≤ 1e-7 max|λ|`` (no eigenvector derivative is
        ever formed; :func:`_spectral_mode_sum`). Through precomputed ``modes`` a gradient reaches the lattice
        only via ``eigh``, which is singular at degenerate branches: pass ``quadrature`` instead to differentiate
        with respect to the lattice. Memory: ``(nodes, branches, branches)`` complex arrays in the derivative.

    Accuracy of the default zone rule: ~1e-9 relative on the chain (vs (1.14)); ≤ 3e-5 relative on the
    paper's cubic lattice for σ' = 0.25–80, λ = 1/2–4 (vs a 1.06·10⁷-node rule);
    ``zone_quadrature(3, 6, 8, 1/3)`` (1.4·10⁶ nodes) gives ≤ 3e-7.
    """
    check_system(system)
    unit, _, b, z = path_geometry(system, impact, direction)
    speed = jnp.asarray(speed, float)
    check_positive("speed", speed)
    lattice = system.lattice
    layout = _ModeSumLayout(tuple(system.site_atoms.tolist()), tuple(system.site_groups), lattice.atoms,
                            lattice.polarisation, int(table_points))
    args = {"potentials": system.potentials, "b": b, "z": z, "unit": unit}
    if modes is None:
        nodes, weights = _resolve_nodes(lattice.dim, quadrature)
        nodes, weights = jnp.asarray(nodes, float), jnp.asarray(weights, float)
        args.update(phases=_site_phases(nodes, site_fractional_positions(system)), weights=weights)
        out = _mode_sum_core(layout, lattice, None, nodes, args, speed.reshape(-1))
    else:
        args.update(phases=_site_phases(modes.nodes, site_fractional_positions(system)))
        out = _mode_sum_core(layout, None, modes, None, args, speed.reshape(-1))
    return out.reshape(speed.shape)


class _ModeSumLayout(NamedTuple):
    """Static description of the sites of a mode sum: each site's atom and potential group, the lattice's atoms,
    components and polarisation map, and the table size of tabulated transforms."""

    atoms: tuple[int, ...]
    groups: tuple[int, ...]
    n_atoms: int
    polarisation: tuple[tuple[float, ...], ...]
    table_points: int


def _site_transforms(potentials, p, b, groups, table_points: int):
    """``Φ̃`` and ``∇⊥Φ̃`` of every site with its own species' potential: ``(s, *p)``, ``(s, *p, 3)``."""
    if len(potentials) == 1:
        return _transform_and_gradient(potentials[0], p, b, table_points)
    groups = np.asarray(groups)
    value = jnp.zeros((b.shape[0],) + p.shape)
    grad = jnp.zeros((b.shape[0],) + p.shape + (3,))
    for g, potential in enumerate(potentials):
        index = np.flatnonzero(groups == g)
        v, d = _transform_and_gradient(potential, p, b[index], table_points)
        value, grad = value.at[index].set(v), grad.at[index].set(d)
    return value, grad


def _channel_coefficients(layout: _ModeSumLayout, omega, args, speed):
    """The row vectors ``g(ω)`` of (1.13) such that a mode ``e`` (channels ``s·dof + j``) of frequency ``ω`` has the
    amplitude ``g(ω)·e``:

        ``g_{s j}(ω) = Σ_{a: s_a = s} e^{iq·x_a} e^{i p z_a} [∇⊥Φ̃_a(p) + i p Φ̃_a(p) d̂]·P_{:j} / sqrt(m_s)``,
        ``p = 2πω/σ'``,

    at frequencies ``omega`` ``(n, k)`` (any branch's) of nodes ``n``: returns ``(n, k, channels)``."""
    p = TWO_PI * omega / speed
    value, grad = _site_transforms(args["potentials"], p, args["b"], layout.groups, layout.table_points)  # (s,n,k), (s,n,k,3)
    pol = jnp.asarray(layout.polarisation, float)  # (3, dof)
    transverse = jnp.einsum("snki,id->snkd", grad, pol)
    longitudinal = (p[None] * value)[..., None] * (args["unit"] @ pol)
    phase = args["phases"].T[:, :, None] * jnp.exp(1j * p[None] * args["z"][:, None, None])  # (s, n, k)
    scale = args["inverse_sqrt_masses"][np.asarray(layout.atoms)]  # (s,)
    h = (phase * scale[:, None, None])[..., None] * (transverse + 1j * longitudinal)  # (s, n, k, dof)
    onehot = jnp.asarray(np.eye(layout.n_atoms)[np.asarray(layout.atoms)])  # (s, atoms): sites onto their atoms
    g = jnp.einsum("snkd,sa->nkad", h, onehot)
    return g.reshape(g.shape[:2] + (-1,))


def _mode_power(layout: _ModeSumLayout, omega2, eta, args, speed):
    """(1.13) at one speed from the modes: ``2π²/σ'² ⟨Σ_u |g(ω_u)·e_u|²⟩``."""
    omega = jnp.sqrt(jnp.clip(omega2, 0.0))
    g = _channel_coefficients(layout, omega, args, speed)  # (n, u, c)
    amplitude = jnp.einsum("nuc,ncu->nu", g, eta)
    power = jnp.real(amplitude) ** 2 + jnp.imag(amplitude) ** 2
    return 2 * np.pi**2 / speed**2 * jnp.sum(args["weights"][:, None] * power)


def _mode_sum_from_modes(layout: _ModeSumLayout, omega2, eta, args, speeds):
    return jax.lax.map(lambda v: _mode_power(layout, omega2, eta, args, v), speeds)


# Two eigenvalues closer than this (relative to the largest |ω²|) are degenerate in the Daleckii–Krein rule; below
# this (relative) an eigenvalue is a zero mode (an acoustic branch at q = 0), whose ω² is pinned by the acoustic sum
# rule (its derivative coefficient is set to 0; e_u† dD e_v vanishes there for every ASR-preserving change of D).
_DEGENERATE = 1e-7
_CHUNK_ELEMENTS = 4_000_000  # site × node × branch × component coefficients per chunk of the mode sum
_ZERO_MODE = 1e-12


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def _spectral_mode_sum(layout: _ModeSumLayout, matrix, args, speeds):
    """(1.13) from the dynamical matrices ``D(q)`` ``(n, c, c)`` as a (generalised) matrix function of ``D``:
    ``L(D) = Σ_u e_u† M(λ_u) e_u`` with ``M(λ) = ḡ(λ) g(λ)ᵀ`` (:func:`_channel_coefficients`). It depends on the
    eigenvectors only through the spectral projectors, so it is differentiable where ``eigh`` is not (degenerate
    branches); the JVP is the Daleckii–Krein formula below."""
    omega2, eta = jnp.linalg.eigh(matrix)
    return _mode_sum_from_modes(layout, omega2, eta, args, speeds)


@_spectral_mode_sum.defjvp
def _spectral_mode_sum_jvp(layout: _ModeSumLayout, primals, tangents):
    """Daleckii–Krein: ``dL = Σ_{u,v} (e_u† dD e_v) [M(λ_u) − M(λ_v)]_{vu}/(λ_u − λ_v)`` with the divided difference
    replaced by the mean of the derivatives ``½[M'(λ_u) + M'(λ_v)]_{vu}`` (error O(gap²)) when ``λ_u ≈ λ_v``, plus the
    explicit dependence on ``args`` and the speeds at fixed modes. No eigenvector derivative is formed."""
    matrix, args, speeds = primals
    d_matrix, d_args, d_speeds = tangents
    omega2, eta = jnp.linalg.eigh(matrix)
    projected = jnp.einsum("ncu,ncd,ndv->nuv", jnp.conj(eta), d_matrix, eta)  # e_u† dD e_v
    scale = jnp.maximum(jnp.max(jnp.abs(omega2)), 1e-300)
    omega = jnp.sqrt(jnp.clip(omega2, 0.0))
    zero_mode = omega2 <= _ZERO_MODE * scale
    half_inverse_omega = jnp.where(zero_mode, 0.0, 0.5 / jnp.where(zero_mode, 1.0, omega))  # dω/dλ
    gap = omega2[:, :, None] - omega2[:, None, :]  # λ_u − λ_v
    degenerate = jnp.abs(gap) <= _DEGENERATE * scale
    safe_gap = jnp.where(degenerate, 1.0, gap)

    def one(pair):
        speed, d_speed = pair
        value, d_value = jax.jvp(lambda a, v: _mode_power(layout, omega2, eta, a, v), (args, speed), (d_args, d_speed))
        g, dg_domega = jax.jvp(lambda w: _channel_coefficients(layout, w, args, speed), (omega,), (jnp.ones_like(omega),))
        dg = dg_domega * half_inverse_omega[..., None]  # dg/dλ
        a = jnp.einsum("nkc,ncw->nwk", g, eta)  # a[n, w, k] = g(λ_k)·e_w
        da = jnp.einsum("nkc,ncw->nwk", dg, eta)
        diag, d_diag = jnp.diagonal(a, axis1=1, axis2=2), jnp.diagonal(da, axis1=1, axis2=2)  # (n, u)
        a_t, da_t = jnp.swapaxes(a, 1, 2), jnp.swapaxes(da, 1, 2)  # a_t[n, u, v] = a[n, v, u]
        divided = (jnp.conj(a_t) * diag[:, :, None] - jnp.conj(diag)[:, None, :] * a) / safe_gap
        derivative = 0.5 * (jnp.conj(da_t) * diag[:, :, None] + jnp.conj(a_t) * d_diag[:, :, None]
                            + jnp.conj(d_diag)[:, None, :] * a + jnp.conj(diag)[:, None, :] * da)
        kernel = jnp.where(degenerate, derivative, divided)
        d_spectral = jnp.sum(args["weights"][:, None, None] * jnp.real(projected * kernel))
        return value, d_value + 2 * np.pi**2 / speed**2 * d_spectral

    values, d_values = jax.lax.map(one, (speeds, d_speeds))
    return values, d_values


@eqx.filter_jit
def _mode_sum_core(layout: _ModeSumLayout, lattice: Lattice | None, modes: ZoneModes | None, nodes, args, speeds):
    """(1.13) for a flat array of speeds (mapped sequentially): from the lattice's ``D(q)`` on ``nodes`` (smooth
    gradients, :func:`_spectral_mode_sum`) or from precomputed ``modes``."""
    if modes is None:
        assert lattice is not None
        args = dict(args, inverse_sqrt_masses=1.0 / jnp.sqrt(lattice.masses))
        # nodes in sequential chunks (zero-weight padding at q = 0), so that the (sites, nodes, branches, components)
        # coefficients stay within _CHUNK_ELEMENTS whatever the quadrature and the number of sites
        count = nodes.shape[0]
        size = max(64, min(count, _CHUNK_ELEMENTS // (len(layout.atoms) * lattice.channels * 3)))
        chunks = -(-count // size)
        pad = chunks * size - count

        def split(x):
            return jnp.pad(x, [(0, pad)] + [(0, 0)] * (x.ndim - 1)).reshape((chunks, size) + x.shape[1:])

        def chunk_sum(total, piece):
            chunk_nodes, phases, weights = piece
            matrix = lattice.dynamical_matrix(chunk_nodes)
            if not jnp.iscomplexobj(matrix) and jnp.iscomplexobj(phases):
                matrix = matrix.astype(complex)
            return total + _spectral_mode_sum(layout, matrix, dict(args, phases=phases, weights=weights), speeds), None

        total, _ = jax.lax.scan(chunk_sum, jnp.zeros(speeds.shape), (split(nodes), split(args["phases"]), split(args["weights"])))
        return total
    assert modes.weights is not None  # zone_modes carry their quadrature weights
    args = dict(args, inverse_sqrt_masses=modes.inverse_sqrt_masses, weights=modes.weights)
    return _mode_sum_from_modes(layout, modes.omega2, modes.eta, args, speeds)


# ----------------------------------------------------------------------------- (1.11)


def interaction_forces(system: System, ion_positions, site_displacements=None):
    """Forces ``f_a = −∇_{ρ_a} Φ(ρ, σ)`` on the interacting sites (paper 1, (1.4) and (1.11)), in the
    lattice's displacement components, for ion positions ``(T, 3)`` and optional site displacements
    ``(T, sites, dof)`` (default: the framework at rest, ``ρ = 0``). Returns ``(T, sites, dof)``."""
    check_system(system)
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

    Gradients: the forces must be concrete (they come from a recorded trajectory), so nothing is differentiated
    with respect to them. With respect to the lattice a gradient passes through ``eigh`` of the modes and is
    undefined (NaN/inf) wherever branches are degenerate — ``q = 0``, zone-boundary points, high-symmetry lines
    of cubic crystals, the chain's transverse pair. The Daleckii–Krein construction of :func:`mode_sum_loss`
    would apply here too (the sum is again ``Σ_u |g(ω_u)·e_u|²``), but it is not implemented: differentiate the
    constant-speed :func:`mode_sum_loss` instead.
    """
    check_system(system)
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
    atoms = tuple(system.site_atoms.tolist())
    return _trajectory_core(modes, times, forces, site_fractional_positions(system), atoms, jnp.asarray(step), n_tab, int(chunk_size))


@eqx.filter_jit
def _trajectory_core(modes: ZoneModes, times, forces, fractional, atoms, step, n_tab: int, chunk_size: int):
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

    omega = modes.omega
    phases = _site_phases(modes.nodes, fractional)  # (n, s)
    n = modes.nodes.shape[0]
    chunk_size = min(chunk_size, n)
    n_node_chunks = -(-n // chunk_size)
    pad = n_node_chunks * chunk_size - n

    def pad_to(x):
        x = jnp.concatenate([x, jnp.zeros((pad,) + x.shape[1:], x.dtype)])
        return x.reshape((n_node_chunks, chunk_size) + x.shape[1:])

    def node_chunk(args):
        om, disp, ph, w = args  # (c, u), (c, s, dof, u): the sites' mode displacements e_s/sqrt(m_s), (c, s), (c,)
        f = _cubic_interp(om, grid[0], step, table)  # (c, u, s, dof)
        amp = jnp.einsum("cs,cusd,csdu->cu", ph, f, disp.astype(complex))
        return jnp.sum(w[:, None] * (jnp.real(amp) ** 2 + jnp.imag(amp) ** 2))

    displacements = modes.displacements[:, np.asarray(atoms)]  # (n, s, dof, u)
    parts = jax.lax.map(node_chunk, (pad_to(omega), pad_to(displacements), pad_to(phases), pad_to(modes.weights)))
    return 2 * np.pi**2 * jnp.sum(parts)
