"""Paper 2 (minimal model of drag in 1D crystals): memory kernel, single-pass and steady-state losses.

Units of paper 2: time in periods of the *slowest* mode ``2π/Ω_slow``, so the chain (masses moving
along it only) has ``ω(q)² = 1 + (ω_fast² − 1) sin²(q/2)`` — paper 1's chain with ``κ = 1``,
``k = (ω_fast² − 1)/4`` (:func:`jaxion.chain`). Lattice spacing ``α``. The pair potential ``Φ(u)`` of the
ion–mass distance enters through its transform along the chain ``Φ̃_p = ∫ du e^{ipu} Φ(u)``
(:meth:`AbstractPairPotential.path_transform` at impact parameter 0).

- :func:`memory_kernel` — (2.15) ``Γ_n(τ)``.
- :func:`single_pass_loss` — (2.25) for any pair potential; :func:`single_pass_loss_gaussian` (2.26),
  :func:`single_pass_loss_fast` (2.27), :func:`single_pass_loss_slow` (2.28).
- :func:`steady_state_roots`, :func:`steady_state_loss` — (2.33); :func:`spike_speeds` (where two roots
  of (2.33) merge and ``Δ̄`` diverges); :func:`drift_velocities` — speeds with ``Δ̄ = β``.
- :func:`velocity_near_mass` (2.16), :func:`extremal_speed`, :func:`capture_speed` (Sec. IV A);
  :func:`broadened_steady_state_loss` — Fig. 9, ``Δ̄`` averaged over the speeds within one pass.
"""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import i0e, i1e

from .._validation import check_finite, check_positive, is_concrete
from ..potential import AbstractPairPotential
from .modes import zone_quadrature

__all__ = [
    "memory_kernel",
    "single_pass_loss",
    "single_pass_loss_gaussian",
    "single_pass_loss_fast",
    "single_pass_loss_slow",
    "steady_state_roots",
    "steady_state_loss",
    "spike_speeds",
    "DriftVelocities",
    "drift_velocities",
    "velocity_near_mass",
    "capture_speed",
    "extremal_speed",
    "broadened_steady_state_loss",
]

TWO_PI = 2.0 * np.pi


def _check_omega_fast(omega_fast):
    check_positive("omega_fast", omega_fast)
    if is_concrete(omega_fast) and np.any(np.asarray(omega_fast, float) <= 1.0):
        raise ValueError(f"omega_fast must be > 1 (the band runs from 1 to ω_fast); got {omega_fast!r}.")


def _check_potential(potential):
    if not isinstance(potential, AbstractPairPotential):
        raise ValueError(f"potential must be a jaxion AbstractPairPotential; got {type(potential).__name__}.")


# ----------------------------------------------------------------------------- (2.15)


def _kernel_points(n_max: float, tau_max: float, omega_fast: float) -> int:
    """Gauss–Legendre nodes on ``[0, π/2]`` for ``cos(2nθ) sin(2πτ w(θ))``: the total phase over the
    interval is at most ``(π/2)(2n + 2πτ(ω_fast − 1))`` (``|dw/dθ| ≤ ω_fast − 1``); use half of it plus a
    margin (the degree ``2N − 1`` then exceeds the phase on the half-interval about fourfold)."""
    phase = 0.5 * np.pi * (2.0 * n_max + TWO_PI * tau_max * (omega_fast - 1.0))
    return int(np.ceil(0.5 * phase)) + 48


def memory_kernel(sites, times, omega_fast=10.0, *, points: int | None = None, chunk_size: int = 4096):
    """Paper 2, (2.15): the chain's memory kernel (propagator)

        ``Γ_n(τ) = (2/π) ∫_0^{π/2} dθ cos(2nθ) sin(2πτ w(θ))/w(θ)``,  ``w(θ) = sqrt(1 + (ω_fast² − 1) sin²θ)``,

    the displacement of mass ``l + n`` at time ``τ₀ + τ`` after a unit impulse on mass ``l`` at ``τ₀``
    (the ``n``-th diagonal of the Toeplitz ``Γ(τ)`` of (2.13)). Evaluated on the grid ``sites × times``
    as one matrix product ``C S`` with ``C_{nθ} = w_θ (2/π) cos(2nθ)`` and ``S_{θτ} = sin(2πτw)/w``
    (Gauss–Legendre weights ``w_θ``), chunked over times.

    The number of nodes is chosen from the largest ``|n|`` and ``|τ|`` so that the oscillatory integrand is
    resolved (``≈ (π/4)(2n + 2πτ(ω_fast − 1)) + 48``); the tests check ``1e-10`` agreement with a rule of
    twice as many nodes and with adaptive quadrature. Pass ``points`` explicitly inside ``jit``.

    Args:
        sites: integer offsets ``n`` (any shape ``(S,)``; ``Γ_{−n} = Γ_n``).
        times: ``τ`` (``(T,)``).
        omega_fast: top of the band ``ω_fast > 1`` (units of ``Ω_slow``).
    Returns:
        ``(S, T)`` array.
    """
    _check_omega_fast(omega_fast)
    check_finite("sites", sites)
    check_finite("times", times)
    n = jnp.atleast_1d(jnp.asarray(sites, float))
    tau = jnp.atleast_1d(jnp.asarray(times, float))
    if points is None:
        if not is_concrete((n, tau, omega_fast)):
            raise ValueError("memory_kernel needs `points` when sites, times or omega_fast are traced.")
        points = _kernel_points(float(np.max(np.abs(n))), float(np.max(np.abs(tau))), float(omega_fast))
    x, w = np.polynomial.legendre.leggauss(int(points))
    theta = jnp.asarray(np.pi / 4 * (x + 1))
    weights = jnp.asarray(np.pi / 4 * w)
    t_count = tau.shape[0]
    chunk = min(int(chunk_size), t_count)
    n_chunks = -(-t_count // chunk)
    padded = jnp.concatenate([tau, jnp.zeros(n_chunks * chunk - t_count)]).reshape(n_chunks, chunk)
    out = _kernel_core(n, padded, jnp.asarray(omega_fast, float), theta, weights)  # (chunks, S, chunk)
    return jnp.moveaxis(out, 0, 1).reshape(n.shape[0], -1)[:, :t_count]


@jax.jit
def _kernel_core(n, padded_times, omega_fast, theta, weights):
    freq = jnp.sqrt(1.0 + (omega_fast**2 - 1.0) * jnp.sin(theta) ** 2)
    left = (2 / np.pi) * weights[None, :] * jnp.cos(2 * n[:, None] * theta[None, :])  # (S, θ)

    def block(ts):
        right = jnp.sin(TWO_PI * freq[:, None] * ts[None, :]) / freq[:, None]  # (θ, chunk)
        return left @ right

    return jax.lax.map(block, padded_times)


# ----------------------------------------------------------------------------- (2.25)–(2.28)


def _band(q, omega_fast):
    return jnp.sqrt(1.0 + (omega_fast**2 - 1.0) * jnp.sin(q / 2) ** 2)


def single_pass_loss(speed, potential: AbstractPairPotential, omega_fast=10.0, *, quadrature=None):
    """Paper 2, (2.25): single-pass loss for any pair potential ``Φ(u)`` (``α → ∞``, constant speed,
    chain at rest),

        ``Δ = Σ_j (1/2N) [ (4π² ω_j/σ'²) Φ̃_{2πω_j/σ'} ]² = ½ ⟨ [ (4π² ω(q)/σ'²) Φ̃_{2πω(q)/σ'} ]² ⟩_BZ``,

    ``ω(q)² = 1 + (ω_fast² − 1) sin²(q/2)``. The zone average uses the graded Gauss–Legendre rule of
    :func:`jaxion.theory.zone_quadrature` (1D; or ``quadrature=(nodes, weights)``). This is (1.13) for a
    chain whose masses move along it only; vectorised over ``speed``.
    """
    check_positive("speed", speed)
    _check_omega_fast(omega_fast)
    _check_potential(potential)
    nodes, weights = zone_quadrature(1) if quadrature is None else quadrature
    speed = jnp.asarray(speed, float)
    out = _single_pass_core(
        potential, speed.reshape(-1), jnp.asarray(omega_fast, float),
        jnp.asarray(nodes, float).reshape(-1), jnp.asarray(weights, float),
    )
    return out.reshape(speed.shape)


@eqx.filter_jit
def _single_pass_core(potential, speeds, omega_fast, nodes, weights):
    omega = _band(nodes, omega_fast)

    def one(v):
        p = TWO_PI * omega / v
        amp = 4 * np.pi**2 * omega / v**2 * potential.path_transform(p, 0.0)
        return 0.5 * jnp.sum(weights * amp**2)

    return jax.lax.map(one, speeds)


def _gaussian_parameters(speed, width, omega_fast):
    check_positive("speed", speed)
    check_positive("width", width)
    _check_omega_fast(omega_fast)
    speed = jnp.asarray(speed, float)
    big_lambda = TWO_PI * jnp.asarray(width, float) / speed
    return speed, big_lambda, jnp.asarray(omega_fast, float)


def single_pass_loss_gaussian(speed, amplitude, width, omega_fast=10.0):
    """Paper 2, (2.26): (2.25) for the Gaussian ``Φ(u) = Φ0 e^{−u²/2λ²}``,

        ``Δ = 4π³ (Φ0²/σ'²) Λ² e^{−Λ²(ω_fast²+1)/2} { I0(W) + (ω_fast² − 1)/2 [I0(W) − I1(W)] }``,

    ``Λ = 2πλ/σ'``, ``W = Λ²(ω_fast² − 1)/2``; evaluated with exponentially scaled Bessel functions
    (``e^{−Λ²(ω_fast²+1)/2} I_n(W) = e^{−Λ²} Ĩ_n(W)``) so it stays finite at low speed.
    Equals paper 1's (1.14) with ``κ = 1``, ``s = 0``, ``k = (ω_fast² − 1)/4``. Vectorised.
    """
    speed, big_lambda, wf = _gaussian_parameters(speed, width, omega_fast)
    l2 = big_lambda**2
    w_arg = l2 * (wf**2 - 1) / 2
    braces = i0e(w_arg) + (wf**2 - 1) / 2 * (i0e(w_arg) - i1e(w_arg))
    return 4 * np.pi**3 * amplitude**2 / speed**2 * l2 * jnp.exp(-l2) * braces


def single_pass_loss_fast(speed, amplitude, width, omega_fast=10.0):
    """Paper 2, (2.27): the fast limit ``σ' ≫ 2πλω_fast`` of (2.26),
    ``Δ_fast = 2π³ (Φ0²/σ'²) Λ² (ω_fast² + 1)`` (``∝ σ'^{−4}``)."""
    speed, big_lambda, wf = _gaussian_parameters(speed, width, omega_fast)
    return 2 * np.pi**3 * amplitude**2 / speed**2 * big_lambda**2 * (wf**2 + 1)


def single_pass_loss_slow(speed, amplitude, width, omega_fast=10.0):
    """Paper 2, (2.28): the slow limit of (2.26),
    ``Δ_slow = 4π³ (Φ0²/σ'²) Λ e^{−Λ²} / sqrt(π(ω_fast² − 1))`` (exponentially suppressed)."""
    speed, big_lambda, wf = _gaussian_parameters(speed, width, omega_fast)
    return 4 * np.pi**3 * amplitude**2 / speed**2 * big_lambda * jnp.exp(-big_lambda**2) / jnp.sqrt(np.pi * (wf**2 - 1))


# ----------------------------------------------------------------------------- (2.33)


def _w(x, b):
    """``w(x) = sqrt(1 + B sin²(πx))`` (B = ω_fast² − 1) and ``w'(x)``."""
    s = jnp.sin(np.pi * x)
    w = jnp.sqrt(1.0 + b * s**2)
    return w, b * np.pi * jnp.sin(TWO_PI * x) / (2 * w)


def _bisect(f, a, b, iterations: int = 64):
    """Vectorised bisection for a sign change of ``f`` on ``[a, b]`` (any shapes)."""
    fa = f(a)

    def body(_, state):
        lo, hi, flo = state
        mid = 0.5 * (lo + hi)
        fm = f(mid)
        same = (fm >= 0) == (flo >= 0)
        return jnp.where(same, mid, lo), jnp.where(same, hi, mid), jnp.where(same, fm, flo)

    lo, hi, _ = jax.lax.fori_loop(0, iterations, body, (a, b, fa))
    return 0.5 * (lo + hi)


def _max_periods(speed_min, omega_fast, spacing) -> int:
    return int(np.ceil((float(omega_fast) - 1.0) * float(spacing) / float(speed_min))) + 3


def _roots_one_speed(speed, b, c_alpha, omega_fast, periods: int):
    """All roots ``x < 0`` of ``h(x) = w(x) + x σ'/α`` for one speed, as ``(periods·5,)`` with a mask.

    Each period ``[m, m+1]`` is cut into pieces on which ``h`` is monotone: ``[m, m+½]`` (``w' ≥ 0``, so
    ``h' > 0``); ``[m+½, x*]`` and ``[x*, m+1]`` (``x*`` where ``|w'|`` peaks, ``sin²(πx*) = 1/(ω_fast+1)``),
    on which ``h'`` is monotone, each split once more where ``h' = 0``. Every sign change of ``h`` on a
    piece is a single root, found by bisection and polished by one (differentiable) Newton step."""
    slope = speed / c_alpha  # σ'/α
    m0 = jnp.floor(-omega_fast / slope)  # roots lie in [−ω_fast α/σ', −α/σ']
    m = m0 + jnp.arange(periods, dtype=float)
    x_star = m + 1.0 - jnp.arcsin(jnp.sqrt(1.0 / (omega_fast + 1.0))) / np.pi

    def h(x):
        return _w(x, b)[0] + slope * x

    def dh(x):
        return _w(x, b)[1] + slope

    def split(a, e):
        # h' is monotone on [a, e]; return the point where it vanishes (or e if it keeps its sign)
        change = (dh(a) >= 0) != (dh(e) >= 0)
        crit = _bisect(dh, a, e)
        return jnp.where(change, crit, e)

    c1 = split(m + 0.5, x_star)
    c2 = split(x_star, m + 1.0)
    starts = jnp.stack([m, m + 0.5, c1, x_star, c2], axis=-1)
    ends = jnp.stack([m + 0.5, c1, x_star, c2, m + 1.0], axis=-1)
    starts = jax.lax.stop_gradient(starts)
    ends = jax.lax.stop_gradient(ends)
    has_root = ((h(starts) >= 0) != (h(ends) >= 0)) & (ends > starts) & (ends <= 0)
    # padding entries sit at m + 1/4, where h' > 0, so the Newton step below stays finite there
    x = jax.lax.stop_gradient(jnp.where(has_root, _bisect(h, starts, ends), (m + 0.25)[:, None]))
    x = x - h(x) / dh(x)  # Newton polish: exact value unchanged, gives dx/dσ' by the implicit function theorem
    return x.reshape(-1), has_root.reshape(-1)


def _steady_setup(speed, omega_fast, spacing, max_periods):
    check_positive("speed", speed)
    check_positive("spacing", spacing)
    _check_omega_fast(omega_fast)
    speed = jnp.asarray(speed, float)
    if max_periods is None:
        if not is_concrete((speed, omega_fast, spacing)):
            raise ValueError("pass max_periods when speed, omega_fast or spacing are traced.")
        max_periods = _max_periods(np.min(np.asarray(speed)), omega_fast, spacing)
    return speed, int(max_periods)


def steady_state_roots(speed, omega_fast=10.0, spacing=40.0, *, max_periods: int | None = None):
    """The roots ``x_j < 0`` of ``w(x) + x σ'/α = 0`` entering (2.33), ``w(x) = sqrt(1 + (ω_fast² − 1)
    sin²(πx))`` — in all Brillouin zones (``x ∈ [−ω_fast α/σ', −α/σ']``). Returns ``(roots, mask)`` of
    shape ``speed.shape + (5·max_periods,)``; entries with ``mask = False`` are padding."""
    speed, periods = _steady_setup(speed, omega_fast, spacing, max_periods)
    roots, mask = _roots_core(speed.reshape(-1), jnp.asarray(omega_fast, float), jnp.asarray(spacing, float), periods)
    return roots.reshape(speed.shape + (-1,)), mask.reshape(speed.shape + (-1,))


@eqx.filter_jit
def _roots_core(speeds, omega_fast, alpha, periods: int):
    b = omega_fast**2 - 1.0
    return jax.vmap(lambda v: _roots_one_speed(v, b, alpha, omega_fast, periods))(speeds)


def steady_state_loss(speed, potential: AbstractPairPotential, omega_fast=10.0, spacing=40.0, *, max_periods: int | None = None):
    """Paper 2, (2.33): the steady-state loss per lattice spacing passed (``N → ∞`` masses passed at
    constant speed):

        ``Δ̄(σ') = ½ Σ_j [ (4π² w(x_j)/σ'²) Φ̃_{2πw(x_j)/σ'} ]² / |α w'(x_j)/σ' + 1|``

    over all roots ``x_j < 0`` of ``w(x) + x σ'/α = 0`` in all Brillouin zones (:func:`steady_state_roots`).
    ``Δ̄`` diverges (integrably) at the :func:`spike_speeds`, where two roots merge (near ``σ' = α/n`` and
    below ``2αω_fast/(2l+1)``). Vectorised over ``speed``; differentiable with respect to the speed and the
    potential's parameters away from the spikes (roots by bisection plus an implicit-function Newton step).
    """
    _check_potential(potential)
    bucketed = max_periods is None
    speed, periods = _steady_setup(speed, omega_fast, spacing, max_periods)
    flat = speed.reshape(-1)
    wf, alpha = jnp.asarray(omega_fast, float), jnp.asarray(spacing, float)
    if not bucketed or flat.size < 64:
        return _steady_core(potential, flat, wf, alpha, periods).reshape(speed.shape)
    # Many concrete speeds: group them by the number of periods their roots span (a power of two), so
    # fast speeds do not pay for the slowest one's periods; chunk sizes are powers of two (few compiles).
    need = np.array([_max_periods(v, omega_fast, spacing) for v in np.asarray(flat)])
    buckets = 2 ** np.ceil(np.log2(need)).astype(int)
    out = jnp.zeros(flat.shape)
    chunk = 8192
    for bucket in np.unique(buckets):
        members = np.flatnonzero(buckets == bucket)
        for first in range(0, members.size, chunk):
            index = members[first : first + chunk]
            size = int(2 ** np.ceil(np.log2(max(index.size, 64))))
            padded = np.concatenate([index, np.full(size - index.size, index[0])])
            values = _steady_core(potential, flat[padded], wf, alpha, int(bucket))
            out = out.at[index].set(values[: index.size])
    return out.reshape(speed.shape)


@eqx.filter_jit
def _steady_core(potential, speeds, omega_fast, alpha, periods: int):
    b = omega_fast**2 - 1.0

    def one(v):
        x, mask = _roots_one_speed(v, b, alpha, omega_fast, periods)
        x = jnp.where(mask, x, -1.0)
        w, dw = _w(x, b)
        amp = 4 * np.pi**2 * w / v**2 * potential.path_transform(TWO_PI * w / v, 0.0)
        terms = 0.5 * amp**2 / jnp.abs(alpha * dw / v + 1.0)
        return jnp.sum(jnp.where(mask, terms, 0.0))

    return jax.vmap(one)(speeds)


def spike_speeds(omega_fast=10.0, spacing=40.0, speed_range=(1.0, 400.0)) -> np.ndarray:
    """Speeds at which two roots of (2.33) merge (``h = h' = 0``, the line ``−xσ'/α`` tangent to the band
    ``w(x)``), where ``Δ̄`` has its divergent spikes: solve ``w(x) = x w'(x)`` on the decreasing pieces of
    every period (``F = w − x w'`` is monotone there, ``F' = −x w''``), then ``σ' = −α w'(x)``. Returns the
    sorted speeds inside ``speed_range`` (NumPy)."""
    _check_omega_fast(omega_fast)
    check_positive("spacing", spacing)
    lo, hi = (float(v) for v in speed_range)
    check_positive("speed_range", np.asarray([lo, hi]))
    if hi <= lo:
        raise ValueError(f"speed_range must be increasing; got {speed_range}.")
    wf, alpha = float(omega_fast), float(spacing)
    b = wf**2 - 1
    m = np.arange(np.floor(-wf * alpha / lo) - 1, 0, dtype=float)
    x_star = m + 1 - np.arcsin(np.sqrt(1 / (wf + 1))) / np.pi

    out = []
    for a, e in ((m + 0.5, x_star), (x_star, m + 1.0)):
        x, change = _tangency_core(jnp.asarray(a), jnp.asarray(e), jnp.asarray(b))
        out.append(-alpha * np.asarray(_w(x, b)[1])[np.asarray(change)])
    speeds = np.concatenate(out)
    return np.sort(speeds[(speeds >= lo) & (speeds <= hi)])


@jax.jit
def _tangency_core(a, e, b):
    """Roots of ``F(x) = w(x) − x w'(x)`` on pieces where ``F`` is monotone."""

    def f(x):
        w, dw = _w(x, b)
        return w - x * dw

    return _bisect(f, a, e), (f(a) >= 0) != (f(e) >= 0)


class DriftVelocities(NamedTuple):
    """Speeds where the steady-state loss balances the bias, ``Δ̄(σ') = β`` (paper 2, Sec. VI).

    ``stable``: ``Δ̄ − β`` changes from negative (below) to positive (above) — a faster ion loses more
    than the bias supplies and slows back, a slower one speeds up. These sit at the spikes of ``Δ̄``
    (``≈ α/n``), where ``Δ̄`` jumps through ``β``. ``unstable``: ``Δ̄ − β`` changes from positive to
    negative (the "other, higher velocity" of each spike). ``stable_at_spike`` / ``unstable_at_spike`` flag
    entries that are a jump of ``Δ̄`` across a spike (where two roots of (2.33) appear or disappear)
    rather than a continuous root. Near the band bottom (``σ' ≈ α/n``) the spike lies on its upper side
    (stable jump); near the band top (``σ' ≈ 2αω_fast/(2l+1)``) on its lower side (stable continuous root
    just below, unstable jump at the spike)."""

    stable: np.ndarray
    unstable: np.ndarray
    stable_at_spike: np.ndarray
    unstable_at_spike: np.ndarray


def drift_velocities(
    bias_energy,
    potential: AbstractPairPotential,
    omega_fast=10.0,
    spacing=40.0,
    speed_range=(2.0, 200.0),
    *,
    points: int = 4000,
    min_separation: float = 0.0,
) -> DriftVelocities:
    """Drift velocities under a bias ``β = bias_energy`` (the energy gained per lattice spacing; the engines'
    ``bias_force`` is ``β/α``): the speeds where (2.33) ``Δ̄(σ') = β``. ``Δ̄ − β`` is evaluated on a
    geometric grid of ``points`` speeds over ``speed_range`` with the :func:`spike_speeds` (± 1e-9 relative)
    added, every sign change is refined by bisection, and classified by its direction (see
    :class:`DriftVelocities`).

    Stability (derived here; ``shared/NOTES.md`` words it as "negative slope of Δ̄ − β", which is the
    slope of the net gain ``β − Δ̄``): after a pass the kinetic energy changes by ``β − Δ̄(σ')``, so a
    fixed point is stable when ``Δ̄ − β`` *increases* through zero with the speed — as paper 2 argues
    for the points at the spikes near ``α/n``, while "the other, higher velocity" of each spike, where
    ``Δ̄ − β`` falls through zero, is unstable.

    Adjacent stable/unstable crossings can be very close: the jump at a spike near ``α/n`` and the
    unstable root just above it (1e-5 apart at ``α/5`` for Fig. 8's parameters), or the continuous root
    just below a band-top spike and the jump at it (1e-7 apart). Their basin is narrower than the speed
    variation of a real ion within one pass. ``min_separation > 0`` (relative, e.g. 1e-3) drops such
    pairs; the default 0 keeps every crossing of (2.33).
    """
    check_positive("bias_energy", bias_energy)
    _check_potential(potential)
    lo, hi = (float(v) for v in speed_range)
    check_positive("speed_range", np.asarray([lo, hi]))
    if hi <= lo:
        raise ValueError(f"speed_range must be increasing; got {speed_range}.")
    periods = _max_periods(lo * (1 - 1e-6), omega_fast, spacing)
    spikes = spike_speeds(omega_fast, spacing, (lo, hi))
    grid = np.unique(np.concatenate([np.geomspace(lo, hi, points), spikes * (1 - 1e-9), spikes * (1 + 1e-9)]))
    grid = grid[(grid >= lo) & (grid <= hi)]
    def loss(v):
        return steady_state_loss(v, potential, omega_fast, spacing, max_periods=periods)

    f = np.asarray(loss(jnp.asarray(grid))) - float(bias_energy)
    change = np.nonzero((f[:-1] >= 0) != (f[1:] >= 0))[0]
    a, e = grid[change], grid[change + 1]
    rising = f[change] < 0
    jump = np.array([np.any((spikes > ai) & (spikes < ei)) for ai, ei in zip(a, e)], dtype=bool)
    for _ in range(60):
        mid = 0.5 * (a + e)
        fm = np.asarray(loss(jnp.asarray(mid))) - float(bias_energy) if len(mid) else np.zeros(0)
        same = (fm >= 0) == ~rising  # same sign as the left end (negative for rising)
        a, e = np.where(same, mid, a), np.where(same, e, mid)
    roots = 0.5 * (a + e)
    keep = []  # crossings alternate in kind; drop adjacent pairs closer than min_separation
    for i in np.argsort(roots):
        if keep and roots[i] - roots[keep[-1]] < float(min_separation) * roots[i]:
            keep.pop()
        else:
            keep.append(i)
    keep = np.asarray(keep, dtype=int)
    roots, rising, jump = roots[keep], rising[keep], jump[keep]
    return DriftVelocities(
        stable=roots[rising], unstable=roots[~rising], stable_at_spike=jump[rising], unstable_at_spike=jump[~rising]
    )


def _contact_energy(potential: AbstractPairPotential):
    """``Φ`` at the chain mass itself (the extremum of a monotone pair potential on the chain axis)."""
    return potential(jnp.zeros(()))


def velocity_near_mass(times, speed, potential: AbstractPairPotential, mass_ratio=1.0):
    """Paper 2, (2.16): the ion's speed while it passes one (fixed) chain mass, from energy conservation,

        ``σ'(τ) = sqrt(σ'₀² − (8π²/μ) Φ(σ'₀ τ))``,   ``τ ∈ [−α/(2σ'₀), α/(2σ'₀)]``,

    with ``τ = 0`` at the mass and ``σ'₀`` the speed midway between masses (for the Gaussian,
    ``Φ(u) = Φ0 exp(−u²/(2λ²))``, exactly the printed form). Where a repulsive barrier is higher than the
    kinetic energy (``σ'₀`` below :func:`capture_speed`) the ion turns back; the speed is 0 there, not NaN.
    Broadcasts ``times`` against ``speed``; differentiable.
    """
    _check_potential(potential)
    check_positive("mass_ratio", mass_ratio)
    if is_concrete(speed):
        check_positive("speed", speed)
    speed = jnp.asarray(speed, float)
    distance = speed * jnp.asarray(times, float)
    squared = speed**2 - 8 * np.pi**2 / mass_ratio * potential(distance**2)
    return jnp.sqrt(jnp.maximum(squared, 0.0))


def extremal_speed(speed, potential: AbstractPairPotential, mass_ratio=1.0):
    """Paper 2, Sec. IV A: the speed at the chain mass, ``σ'_ext = sqrt(σ'₀² − 8π²Φ0/μ)`` (0 if the ion
    cannot reach the mass): (2.16) at ``τ = 0``."""
    return velocity_near_mass(0.0, speed, potential, mass_ratio)


def capture_speed(potential: AbstractPairPotential, mass_ratio=1.0):
    """Paper 2, Sec. IV A: the least midway speed with which an ion crosses a repulsive mass,
    ``σ'_min = sqrt(8π²Φ0/μ)`` (``Φ0`` = the potential at the mass); 0 for an attractive potential,
    which captures the ion only once it has lost energy (Fig. 4(d))."""
    _check_potential(potential)
    check_positive("mass_ratio", mass_ratio)
    return jnp.sqrt(jnp.maximum(8 * np.pi**2 * _contact_energy(potential) / mass_ratio, 0.0))


def broadened_steady_state_loss(
    speed,
    potential: AbstractPairPotential,
    omega_fast=10.0,
    spacing=40.0,
    mass_ratio=1.0,
    *,
    nodes: int = 512,
    max_periods: int | None = None,
):
    """Paper 2, Fig. 9: the steady-state loss (2.33) averaged over the speeds the ion takes within one
    pass, weighted by the time it spends at each.

    ``speed`` is the speed midway between masses, ``σ'₀``. Between two midpoints the ion's speed follows
    energy conservation, ``σ'(u) = sqrt(σ'₀² − (8π²/μ)[Φ(u) − Φ(α/2)])`` (the profile of (2.16) as a
    function of the distance ``u`` from the mass), so the time spent between ``u`` and ``u + du`` is
    ``du/σ'(u)`` and

        ``Δ̄_b(σ'₀) = ∫ du Δ̄(σ'(u))/σ'(u) / ∫ du/σ'(u)``   over ``u ∈ [0, α/2]``

    — the paper's average over ``σ' ∈ [σ'₀, σ'_ext]`` with the weights of the speed distribution within
    a pass. Gauss–Legendre in ``u`` with ``nodes`` points. A repulsive ion slower than the
    :func:`capture_speed` never completes a pass: the result is ``inf`` there (documented, not NaN).
    As the paper says, this is a qualitative illustration: it keeps the constant-speed (2.33) inside.
    """
    _check_potential(potential)
    _check_omega_fast(omega_fast)
    check_positive("spacing", spacing)
    check_positive("mass_ratio", mass_ratio)
    if not isinstance(nodes, (int, np.integer)) or nodes < 8:
        raise ValueError(f"nodes must be an integer >= 8; got {nodes!r}.")
    speed = jnp.asarray(speed, float)
    if is_concrete(speed):
        check_positive("speed", speed)
    alpha = float(spacing)
    x, w = np.polynomial.legendre.leggauss(int(nodes))
    u = jnp.asarray(0.25 * alpha * (x + 1.0))
    du = jnp.asarray(0.25 * alpha * w)
    rise = 8 * np.pi**2 / mass_ratio * (potential(u**2) - potential(jnp.asarray(alpha / 2) ** 2))
    squared = speed[..., None] ** 2 - rise
    crosses = jnp.all(squared > 0, axis=-1)
    local = jnp.sqrt(jnp.where(crosses[..., None], squared, 1.0))
    # the number of Brillouin-zone periods to search follows from the slowest speed within a pass; when the
    # potential is traced (gradients), pass ``max_periods`` (see :func:`steady_state_loss`)
    lowest = float(jnp.min(jnp.where(crosses[..., None], local, jnp.inf))) if is_concrete(local) else None
    if max_periods is None and lowest is not None and np.isfinite(lowest):
        max_periods = _max_periods(lowest * (1 - 1e-6), omega_fast, spacing)
    loss = steady_state_loss(local, potential, omega_fast, spacing, max_periods=max_periods)
    average = jnp.sum(du * loss / local, axis=-1) / jnp.sum(du / local, axis=-1)
    return jnp.where(crosses, average, jnp.inf)
