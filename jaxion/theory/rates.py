"""Thermally activated hopping of an ion along a channel: escape rates and diffusion in a periodic 1D landscape.

The ion moves along ``z`` in a landscape ``U(z)`` of period ``a`` with a position-dependent friction ``Γ(z)``,

    ``(μ/4π²) z'' = −U'(z) − Γ(z) z' + ξ(τ)``,   ``⟨ξ(τ) ξ(τ')⟩ = 2 T Γ(z) δ(τ − τ')``

(``shared/NOTES.md``, "Finite temperature": time ``τ`` in periods ``2π/Ω``, energy in ``ħΩ``, ``T = k_BT/ħΩ``,
``k_B = 1``). The ion's mass in these units is ``m = μ/4π²`` (``μ = mass_ratio``), so a small oscillation about a
minimum obeys ``z'' = −(4π² U''/μ) z``: angular frequencies per ``τ`` are ``ω = 2π sqrt(|U''|/μ)``, a friction
``Γ`` is the rate ``γ = Γ/m = 4π² Γ/μ``, rates are per ``τ`` and diffusion coefficients in length²/``τ``.

- :func:`landscape_extrema` — the well (global minimum) and barrier (global maximum) of one period, ``ΔU``,
  curvatures by ``jax.grad`` and ``ω_0``, ``ω_b``.
- :func:`transition_state_rate` — harmonic TST; :func:`kramers_rate` — spatial-diffusion (moderate-to-high
  friction) Kramers rate; :func:`energy_diffusion_rate` — the low-friction rate; :func:`melnikov_rate` —
  the Mel'nikov–Meshkov turnover rate bridging both, with :func:`depopulation_factor` ``A(δ)``. Each returns
  an :class:`EscapeRate`: over one barrier (one direction) and out of the well (both barriers, ``2×``).
- :func:`energy_loss_per_orbit` — ``δE = ∫ Γ z' dz`` along the undamped barrier-to-barrier orbit;
  :func:`friction_regime` labels the regime by ``δ = δE/T``.
- :func:`lifson_jackson_diffusion` — the exact overdamped diffusion coefficient; :func:`hop_diffusion` —
  ``D = k a²/2`` for uncorrelated nearest-neighbour hops.

References: P. Hänggi, P. Talkner, M. Borkovec, Rev. Mod. Phys. 62, 251 (1990) (HTB); V. I. Mel'nikov,
Phys. Rep. 209, 1 (1991); V. I. Mel'nikov, S. V. Meshkov, J. Chem. Phys. 85, 1018 (1986) (MM); E. Pollak,
H. Grabert, P. Hänggi, J. Chem. Phys. 91, 4073 (1989) (PGH); S. Lifson, J. L. Jackson, J. Chem. Phys. 36, 2410
(1962); R. Festa, E. Galleani d'Agliano, Physica A 90, 229 (1978); H. Risken, *The Fokker–Planck Equation*,
2nd ed. (Springer, 1989), Ch. 11.

The extrema are found eagerly (a grid, then Newton on ``U'``); the formulas after that are ``jax.numpy`` and
differentiable in ``temperature`` and ``mass_ratio``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Literal, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from .._constants import FOUR_PI_SQ, TWO_PI
from .._validation import RealScalar, check_finite, check_positive, is_concrete, warn_user

__all__ = [
    "LandscapeExtrema",
    "EscapeRate",
    "landscape_extrema",
    "transition_state_rate",
    "kramers_rate",
    "energy_loss_per_orbit",
    "energy_diffusion_rate",
    "depopulation_factor",
    "melnikov_rate",
    "friction_regime",
    "lifson_jackson_diffusion",
    "hop_diffusion",
]

ScalarFunction = Callable[[Any], Any]
Drag = ScalarFunction | RealScalar

# ----------------------------------------------------------------------------- inputs


def _check_callable(name: str, function) -> None:
    if not callable(function):
        raise ValueError(f"{name} must be a JAX-traceable function of the scalar coordinate z; got {type(function).__name__}.")


def _as_function(name: str, drag: Drag) -> ScalarFunction:
    """A drag given as a constant becomes the constant function."""
    if callable(drag):
        return drag
    check_finite(name, drag)
    value = jnp.asarray(drag, dtype=float)
    if value.ndim != 0:
        raise ValueError(f"{name} must be a scalar or a function of z; got shape {value.shape}.")
    return lambda z: value + 0.0 * z


def _evaluate(name: str, function: ScalarFunction, z: np.ndarray) -> np.ndarray:
    """``function`` on the points ``z`` (vmapped), as float64 NumPy; a non-scalar or non-finite value → ValueError."""
    values = np.asarray(jax.vmap(lambda x: jnp.asarray(function(x), dtype=float))(jnp.asarray(z, dtype=float)))
    if values.shape != z.shape:
        raise ValueError(f"{name} must return a scalar for a scalar z; got an output of shape {values.shape[1:]}.")
    bad = ~np.isfinite(values)
    if np.any(bad):
        raise ValueError(f"{name} must be finite; got {values[bad][0]} at z = {z[bad][0]}.")
    return values


def _check_drag_values(values: np.ndarray, z: np.ndarray, where: str) -> None:
    if np.any(values < 0):
        i = int(np.argmin(values))
        raise ValueError(f"drag must be >= 0 {where}; got Γ = {values[i]} at z = {z[i]}.")


def _check_temperature(temperature) -> None:
    check_positive("temperature", temperature)


# ----------------------------------------------------------------------------- extrema


def _refine(d1, d2, z0: float, bracket: tuple[float, float] | None, reach: float) -> float | None:
    """A zero of ``U'`` near ``z0`` by Newton's method on ``U'`` (curvature from ``jax.grad``), safeguarded by
    bisection inside ``bracket`` when ``U'`` changes sign across it; ``None`` when unbracketed Newton moves
    farther than ``reach`` from ``z0`` or does not converge."""
    lo, hi = bracket if bracket is not None else (-np.inf, np.inf)
    f_lo = float(d1(lo)) if bracket is not None else 0.0
    safe = bracket is not None and f_lo * float(d1(hi)) <= 0
    tol = 1e-14 * max(reach, abs(z0), 1.0)
    z = z0
    for _ in range(100):
        g, h = float(d1(z)), float(d2(z))
        if g == 0.0:
            return z
        new = z - g / h if h != 0 else np.inf
        if safe:
            if (g < 0) == (f_lo < 0):
                lo, f_lo = z, g
            else:
                hi = z
            if not lo < new < hi:
                new = 0.5 * (lo + hi)
            if hi - lo < tol:
                return 0.5 * (lo + hi)
        elif not abs(new - z0) <= reach:
            return None
        if abs(new - z) <= tol:
            return new
        z = new
    return z if safe else None


def _derivatives(potential: ScalarFunction):
    """``U'`` and ``U''`` by ``jax.grad``, compiled once per hashable potential (the 16 most recent are kept)."""
    try:
        return _cached_derivatives(potential)
    except TypeError:  # unhashable (e.g. an equinox Module holding arrays)
        return _compiled_derivatives(potential)


def _compiled_derivatives(potential: ScalarFunction):
    d1 = jax.jit(jax.grad(lambda x: jnp.asarray(potential(x), dtype=float)))
    return d1, jax.jit(jax.grad(d1))


_cached_derivatives = functools.lru_cache(maxsize=16)(_compiled_derivatives)


class _Positions(NamedTuple):
    well: float
    barrier: float  # in (well, well + period)
    well_energy: float
    barrier_energy: float


def _locate(potential: ScalarFunction, period, well, barrier, grid_points: int) -> _Positions:
    """The global minimum and maximum of ``U`` over one period: the best of ``grid_points`` equally spaced points
    refined by safeguarded Newton on ``U'``; a given ``well``/``barrier`` is only refined by Newton."""
    _check_callable("potential", potential)
    check_positive("period", period)
    if not is_concrete(period) or not is_concrete((well, barrier)):
        raise ValueError("period, well and barrier must be concrete numbers (the extrema are searched eagerly).")
    a = float(period)
    d1, d2 = _derivatives(potential)
    found = {}
    if well is None or barrier is None:
        n = int(grid_points)
        if n < 16:
            raise ValueError(f"grid_points must be >= 16; got {grid_points!r}.")
        z = np.arange(n) * (a / n)
        u = _evaluate("potential", potential, z)
        scale = float(np.max(np.abs(u)))
        if np.ptp(u) <= 1e-12 * scale:
            raise ValueError(f"potential has no barrier: it is constant (to 1e-12) over one period; max − min = {np.ptp(u)}.")
        step = a / n
        for name, index, given in (("well", int(np.argmin(u)), well), ("barrier", int(np.argmax(u)), barrier)):
            if given is None:
                z0 = z[index]
                refined = _refine(d1, d2, z0, (z0 - step, z0 + step), step)
                found[name] = z0 if refined is None else refined
        below = (u < np.roll(u, 1) - 1e-12 * scale) & (u <= np.roll(u, -1))
        if int(np.sum(below)) > 1:
            warn_user(
                f"the potential has {int(np.sum(below))} local minima per period; the rate theory here treats only the deepest "
                "well and the highest barrier (one well per period).",
                RuntimeWarning,
            )
    for name, given, sign in (("well", well, 1.0), ("barrier", barrier, -1.0)):
        if given is None:
            continue
        check_finite(name, given)
        z0 = float(given)
        refined = _refine(d1, d2, z0, None, a / 4)
        if refined is None or sign * float(d2(refined)) < 0:
            kind = "minimum" if name == "well" else "maximum"
            raise ValueError(f"{name}={given!r} is not near a {kind} of the potential (Newton on U' did not converge to one).")
        found[name] = refined
    w = float(found["well"])
    b = w + float(np.mod(found["barrier"] - w, a))
    if b == w:
        b = w + a
    u_w, u_b = float(potential(w)), float(potential(b))
    if not u_b - u_w > 1e-12 * max(abs(u_w), abs(u_b)):
        raise ValueError(f"potential has no barrier between the well z = {w} and the barrier z = {b}: U(barrier) − U(well) = {u_b - u_w}.")
    return _Positions(w, b, u_w, u_b)


class LandscapeExtrema(eqx.Module):
    """The well and barrier of one period of ``U`` and the harmonic quantities of the rate theory.

    ``well`` is the global minimum, ``barrier`` the global maximum, placed in ``(well, well + period)``;
    ``barrier_height = ΔU = U(barrier) − U(well)``; ``well_curvature = U''(well) > 0``,
    ``barrier_curvature = U''(barrier) < 0``; ``well_frequency = ω_0 = 2π sqrt(U''(well)/μ)`` and
    ``barrier_frequency = ω_b = 2π sqrt(|U''(barrier)|/μ)``, angular frequencies per ``τ`` (from
    ``m z'' = −U'' z`` with ``m = μ/4π²``: ``z'' = −(4π² U''/μ) z``).
    """

    well: Float[Array, ""]
    barrier: Float[Array, ""]
    barrier_height: Float[Array, ""]
    well_curvature: Float[Array, ""]
    barrier_curvature: Float[Array, ""]
    well_frequency: Float[Array, ""]
    barrier_frequency: Float[Array, ""]
    period: Float[Array, ""]
    mass_ratio: Float[Array, ""]


def landscape_extrema(potential: ScalarFunction, period: RealScalar, mass_ratio: RealScalar = 1.0, *,
                      well: RealScalar | None = None, barrier: RealScalar | None = None,
                      grid_points: int = 2048) -> LandscapeExtrema:
    """The well (global minimum) and barrier (global maximum) of ``U`` over one period, found on a grid of
    ``grid_points`` points and refined by Newton's method on ``U'`` (``jax.grad``), safeguarded by bisection;
    ``well=``/``barrier=`` skip the search for that point (it is only refined by Newton). Curvatures ``U''`` by
    ``jax.grad``; ``ω = 2π sqrt(|U''|/μ)`` (see :class:`LandscapeExtrema`).

    Raises ``ValueError`` for a non-positive ``period`` or ``mass_ratio``, a constant potential (no barrier),
    or a degenerate well or barrier (``U'' = 0``: the harmonic rate formulas do not apply). Warns when the
    period holds more than one well.
    """
    check_positive("mass_ratio", mass_ratio)
    pos = _locate(potential, period, well, barrier, grid_points)
    d2 = _derivatives(potential)[1]
    k_w, k_b = float(d2(pos.well)), float(d2(pos.barrier))
    if not k_w > 0:
        raise ValueError(f"potential has a degenerate well at z = {pos.well}: U''(well) = {k_w} (the harmonic rate theory needs U'' > 0).")
    if not k_b < 0:
        raise ValueError(
            f"potential has a degenerate barrier at z = {pos.barrier}: U''(barrier) = {k_b} (the harmonic rate theory needs U'' < 0)."
        )
    mu = jnp.asarray(mass_ratio, dtype=float)
    return LandscapeExtrema(
        well=jnp.asarray(pos.well), barrier=jnp.asarray(pos.barrier),
        barrier_height=jnp.asarray(pos.barrier_energy - pos.well_energy),
        well_curvature=jnp.asarray(k_w), barrier_curvature=jnp.asarray(k_b),
        well_frequency=TWO_PI * jnp.sqrt(k_w / mu), barrier_frequency=TWO_PI * jnp.sqrt(-k_b / mu),
        period=jnp.asarray(float(period)), mass_ratio=mu,
    )


# ----------------------------------------------------------------------------- rates


class EscapeRate(NamedTuple):
    """An escape rate per ``τ`` out of one well of the periodic landscape.

    ``per_barrier``: over one of the two barriers (hops in one direction); ``total``: out of the well over
    either barrier, ``2 × per_barrier`` (both directions; the ``k`` of :func:`hop_diffusion`)."""

    per_barrier: Float[Array, ""]
    total: Float[Array, ""]


def _escape(per_barrier) -> EscapeRate:
    return EscapeRate(per_barrier=per_barrier, total=2.0 * per_barrier)


def _tst(ext: LandscapeExtrema, temperature):
    return ext.well_frequency / TWO_PI * jnp.exp(-ext.barrier_height / jnp.asarray(temperature, dtype=float))


def _spatial_factor(ext: LandscapeExtrema, drag: ScalarFunction):
    """Kramers' spatial-diffusion factor ``λ_b/ω_b = sqrt(1 + α²) − α``, ``α = γ_b/(2ω_b)``, ``γ_b = 4π²Γ(z_b)/μ``
    (written ``1/(sqrt(1 + α²) + α)``, which keeps its digits at high friction)."""
    z_b = np.asarray([float(ext.barrier)])
    gamma = _evaluate("drag", drag, z_b)
    _check_drag_values(gamma, z_b, "at the barrier")
    alpha = FOUR_PI_SQ * gamma[0] / ext.mass_ratio / (2.0 * ext.barrier_frequency)
    return 1.0 / (jnp.sqrt(1.0 + alpha**2) + alpha)


def transition_state_rate(potential: ScalarFunction, period: RealScalar, temperature: RealScalar, mass_ratio: RealScalar = 1.0,
                          *, well: RealScalar | None = None, barrier: RealScalar | None = None) -> EscapeRate:
    """Harmonic transition-state rate (HTB, transition-state theory with the harmonic partition function of the well):

        ``k_TST = (ω_0/2π) e^{−ΔU/T}`` over one barrier;  ``total = 2 k_TST`` out of a well of the periodic landscape.

    Independent of the friction; an upper bound on the classical rate.
    """
    _check_temperature(temperature)
    return _escape(_tst(landscape_extrema(potential, period, mass_ratio, well=well, barrier=barrier), temperature))


def kramers_rate(potential: ScalarFunction, drag: Drag, period: RealScalar, temperature: RealScalar, mass_ratio: RealScalar = 1.0,
                 *, well: RealScalar | None = None, barrier: RealScalar | None = None) -> EscapeRate:
    """Kramers' spatial-diffusion rate (moderate-to-high friction; HTB, Kramers' spatial-diffusion regime):

        ``k = k_TST [sqrt(1 + (γ_b/2ω_b)²) − γ_b/2ω_b]``,  ``γ_b = Γ(z_b)/m = 4π² Γ(z_b)/μ``

    with the friction at the barrier top (for position-dependent friction the spatial-diffusion rate is set
    by the barrier region). High-friction (Smoluchowski) limit ``k → (ω_0 ω_b/2πγ_b) e^{−ΔU/T}``.
    Valid when the loss per orbit is large, ``δ = δE/T ≫ 1`` (:func:`friction_regime`); at lower friction use
    :func:`melnikov_rate`. ``drag`` is a function ``Γ(z)`` or a constant.
    """
    _check_temperature(temperature)
    ext = landscape_extrema(potential, period, mass_ratio, well=well, barrier=barrier)
    return _escape(_tst(ext, temperature) * _spatial_factor(ext, _as_function("drag", drag)))


def _orbit_loss(potential: ScalarFunction, drag: ScalarFunction, z_b: float, u_b: float, period: float, mass_ratio, panels: int):
    if int(panels) < 1:
        raise ValueError(f"panels must be >= 1; got {panels!r}.")
    x, w = np.polynomial.legendre.leggauss(32)
    edges = np.linspace(0.0, 1.0, int(panels) + 1)
    half = 0.5 * np.diff(edges)
    s = ((edges[:-1] + half)[:, None] + half[:, None] * x[None, :]).reshape(-1)
    weights = (half[:, None] * w[None, :]).reshape(-1) * period
    z = z_b + period * s
    depth = u_b - _evaluate("potential", potential, z)
    if np.min(depth) < -1e-10 * max(1.0, abs(u_b)):
        i = int(np.argmin(depth))
        raise ValueError(f"barrier must be the highest point of the period: U(z = {z[i]}) exceeds U(barrier) by {-depth[i]}.")
    gamma = _evaluate("drag", drag, z)
    _check_drag_values(gamma, z, "along the orbit")
    speed = TWO_PI * jnp.sqrt(2.0 * jnp.maximum(jnp.asarray(depth), 0.0) / jnp.asarray(mass_ratio, dtype=float))  # z' = sqrt(2(U_b − U)/m)
    return jnp.sum(jnp.asarray(weights * gamma) * speed)


def energy_loss_per_orbit(potential: ScalarFunction, drag: Drag, period: RealScalar, mass_ratio: RealScalar = 1.0, *,
                          well: RealScalar | None = None, barrier: RealScalar | None = None, panels: int = 16) -> Float[Array, ""]:
    """The energy lost to friction along the undamped orbit at the barrier energy (Mel'nikov 1991):

        ``δE = ∫ Γ(z) z'² dτ = ∫_{z_b}^{z_b + a} Γ(z) z' dz``,  ``z' = sqrt(2(U_b − U(z))/m) = 2π sqrt(2(U_b − U)/μ)``

    — the time-local loss rate ``Γ z'²`` integrated along the motion from one barrier top to the next at energy
    ``U_b``, i.e. one traversal of a well (the leftward traversal loses the same). This is the loss between two
    successive arrivals at a barrier, the ``Δ = δE/T`` of Mel'nikov's kernel for the periodic landscape; the
    closed libration just below ``U_b`` is two traversals and loses ``2δE``. For constant ``Γ``,
    ``δE = γ I`` with ``I = ∫ m z' dz`` the action of the traversal.

    The orbit is a separatrix: ``z' → 0`` at both ends, where ``U_b − U ≈ |U''_b|(z − z_b)²/2``, so
    ``z' ∝ |z − z_b|`` is smooth: there is no square-root singularity in ``z`` (the singular quantity is the
    traversal time, which diverges logarithmically; integrating over ``z`` instead of ``τ`` avoids it).
    Quadrature: ``panels`` equal panels of 32-point Gauss–Legendre over ``[z_b, z_b + a]``, spectrally
    convergent for smooth ``U`` and ``Γ``.
    """
    check_positive("mass_ratio", mass_ratio)
    pos = _locate(potential, period, well, barrier, 2048)
    return _orbit_loss(potential, _as_function("drag", drag), pos.barrier, pos.barrier_energy, float(period), mass_ratio, panels)


def _loss_setup(potential, drag, period, temperature, mass_ratio, well, barrier):
    """The extrema, the drag as a function and ``δ = δE/T`` (one traversal)."""
    _check_temperature(temperature)
    ext = landscape_extrema(potential, period, mass_ratio, well=well, barrier=barrier)
    drag_fn = _as_function("drag", drag)
    z_b = float(ext.barrier)
    loss = _orbit_loss(potential, drag_fn, z_b, float(potential(z_b)), float(period), mass_ratio, 16)
    return ext, drag_fn, loss / jnp.asarray(temperature, dtype=float)


def energy_diffusion_rate(potential: ScalarFunction, drag: Drag, period: RealScalar, temperature: RealScalar,
                          mass_ratio: RealScalar = 1.0, *, well: RealScalar | None = None,
                          barrier: RealScalar | None = None) -> EscapeRate:
    """Kramers' low-friction (energy-diffusion) rate (HTB, energy-diffusion regime):

        ``k = (ω_0/2π) (δE/T) e^{−ΔU/T}`` over one barrier (one direction),

    ``δE`` from :func:`energy_loss_per_orbit` (one traversal). Out of the well ``total = 2k``; for constant
    friction that is Kramers' form ``(ω_0/2π)(γ I_b/T) e^{−ΔU/T}`` with ``I_b = 2∫ m z' dz`` the action of the
    closed libration at ``U_b``. Valid for ``δ = δE/T ≪ 1`` (at ``δ = 0.1`` it is 30% above :func:`melnikov_rate`).
    """
    ext, _, delta = _loss_setup(potential, drag, period, temperature, mass_ratio, well, barrier)
    return _escape(_tst(ext, temperature) * delta)


# Nodes for A(δ) in φ ∈ (0, π/2] (x = cot(φ)/2): 16-point Gauss–Legendre on geometric panels [2^{-k-1}, 2^{-k}]·π/2,
# k < 48, which resolve the step of ln(1 − e^{−δ/(4 sin²φ)}) at sin φ ≈ sqrt(δ)/2 for any δ > 1e-24.
def _depopulation_rule():
    x, w = np.polynomial.legendre.leggauss(16)
    hi = 0.5 * np.pi * 2.0 ** -np.arange(48.0)
    lo, half = 0.5 * hi, 0.25 * hi
    nodes = ((lo + half)[:, None] + half[:, None] * x[None, :]).reshape(-1)
    return nodes, (half[:, None] * w[None, :]).reshape(-1)


_A_NODES, _A_WEIGHTS = _depopulation_rule()


def depopulation_factor(delta: ArrayLike) -> Float[Array, "*batch"]:
    """Mel'nikov–Meshkov's depopulation factor (MM; Mel'nikov 1991; PGH):

        ``A(δ) = exp[(1/2π) ∫_{−∞}^{∞} dx ln(1 − e^{−δ(x² + ¼)})/(x² + ¼)]``

    (the prefactor is ``1/2π`` over the whole line, ``1/π`` over ``x > 0``: with ``1/π`` over the whole line
    ``A`` would tend to ``δ²``). ``A → δ`` for ``δ → 0`` (Kramers' energy-diffusion rate) and ``A → 1`` for
    ``δ → ∞``; ``A(δ) = ∫_0^∞ f(ε) dε`` for the solution ``f`` (``→ e^{−ε}`` deep in the well, energies in ``T`` from
    the barrier top) of Mel'nikov's integral equation with a Gaussian kernel of mean loss ``δ`` and variance
    ``2δ`` (checked in the tests by iterating that equation). Computed as
    ``(2/π)∫_0^{π/2} dφ ln(1 − exp(−δ/(4 sin²φ)))`` (``x = cot(φ)/2``); ``A = δ`` below ``δ = 1e-24``.
    """
    return _depopulation_core(jnp.asarray(delta, dtype=float))


@jax.jit
def _depopulation_core(d):
    tiny = d < 1e-24
    safe = jnp.where(tiny, 1.0, d)
    u = safe[..., None] / (4.0 * jnp.sin(jnp.asarray(_A_NODES)) ** 2)
    log_term = jnp.where(u < np.log(2.0), jnp.log(-jnp.expm1(-u)), jnp.log1p(-jnp.exp(-u)))
    value = jnp.exp((2.0 / np.pi) * jnp.sum(log_term * jnp.asarray(_A_WEIGHTS), axis=-1))
    return jnp.where(tiny, jnp.maximum(d, 0.0), value)


def melnikov_rate(potential: ScalarFunction, drag: Drag, period: RealScalar, temperature: RealScalar, mass_ratio: RealScalar = 1.0,
                  *, well: RealScalar | None = None, barrier: RealScalar | None = None) -> EscapeRate:
    """The Mel'nikov–Meshkov turnover rate, valid from energy-diffusion to spatial-diffusion friction (MM;
    Mel'nikov 1991):

        ``k = A(δ) k_Kramers``,  ``δ = δE/T``

    with ``k_Kramers`` from :func:`kramers_rate`, ``A`` from :func:`depopulation_factor` and ``δE`` from
    :func:`energy_loss_per_orbit` (one traversal). ``δ → 0``: ``k → k_TST δ`` = :func:`energy_diffusion_rate`;
    ``δ → ∞``: ``k → k_Kramers``.

    Which combination of ``A`` in a periodic landscape (derived here; Mel'nikov's kernel model): successive
    arrivals of the ion at a barrier are one traversal apart (reflected at one barrier, it next meets the
    other), so the equations for the energy distribution of the ions arriving at the two barriers of an
    equilibrated well decouple into MM's single-well equation with loss ``δ`` — the rate of first crossing of a
    barrier is exactly ``A(δ) k_Kramers`` per barrier in that model. The symmetric double-well combination
    ``A(δ)²/A(2δ)`` (MM; PGH) holds where an ion that crossed comes back to the *same* barrier after one
    orbit of the other well; in the periodic landscape it meets the *next* barrier instead, so that form does
    not apply (it would give ``δ/2`` per barrier at low friction instead of Kramers' ``δ``). Ions that cross can
    still return (reflected at the next barrier, back over the first): the net rate of settling in another
    well is lower than ``A(δ) k_Kramers`` by 4–5% at ``δ = 0.1–1``, 1.5% at ``δ = 3`` (a numerical solution of the
    chain's kernel equations, not part of this module), and at ``δ ≲ 1`` an ion that escapes often runs over
    several periods (long jumps), so :func:`hop_diffusion` of this rate underestimates ``D`` there.
    """
    ext, drag_fn, delta = _loss_setup(potential, drag, period, temperature, mass_ratio, well, barrier)
    return _escape(_tst(ext, temperature) * _spatial_factor(ext, drag_fn) * depopulation_factor(delta))


Regime = Literal["energy-diffusion", "turnover", "spatial-diffusion"]


def friction_regime(potential: ScalarFunction, drag: Drag, period: RealScalar, temperature: RealScalar, mass_ratio: RealScalar = 1.0,
                    *, well: RealScalar | None = None, barrier: RealScalar | None = None,
                    low: float = 1.0, high: float = 10.0) -> Regime:
    """The friction regime of the escape, by the loss per traversal in units of ``T``, ``δ = δE/T``
    (:func:`energy_loss_per_orbit`; HTB: energy diffusion limits the rate when ``γ I_b/T ≲ 1``):

    - ``"energy-diffusion"`` for ``δ < low`` (default 1): the energy-diffusion rate ``k_TST δ`` applies
      (it overestimates the turnover rate by ``δ/A(δ)``: 1.3 at ``δ = 0.1``, 2.3 at ``δ = 1``);
    - ``"spatial-diffusion"`` for ``δ > high`` (default 10): :func:`kramers_rate` applies (within
      ``1/A(10) − 1 = 2.7%``);
    - ``"turnover"`` in between: use :func:`melnikov_rate`.
    """
    check_positive("low", low)
    check_positive("high", high)
    if not high > low:
        raise ValueError(f"high must be > low; got low={low!r}, high={high!r}.")
    delta = float(_loss_setup(potential, drag, period, temperature, mass_ratio, well, barrier)[2])
    return "energy-diffusion" if delta < low else "spatial-diffusion" if delta > high else "turnover"


# ----------------------------------------------------------------------------- diffusion


def lifson_jackson_diffusion(potential: ScalarFunction, period: RealScalar, temperature: RealScalar, drag: Drag, *,
                             points: int = 4096) -> Float[Array, ""]:
    """Exact long-time diffusion coefficient of the overdamped motion ``Γ(z) z' = −U'(z) + ξ`` in a periodic
    landscape (Smoluchowski equation ``∂_τ P = ∂_z [Γ(z)^{-1} (U' P + T ∂_z P)]``):

        ``D = T / (⟨Γ e^{U/T}⟩ ⟨e^{−U/T}⟩)``,  ``⟨f⟩ = (1/a) ∫_0^a f dz``,

    Lifson & Jackson (1962) for constant ``Γ`` (``D = (T/Γ)/(⟨e^{U/T}⟩⟨e^{−U/T}⟩)``; Risken Ch. 11), with a
    position-dependent friction Festa & Galleani d'Agliano (1978). Equivalently ``D = a²/2τ`` with ``τ`` the
    Smoluchowski mean first-passage time from ``z_0`` out of ``(z_0 − a, z_0 + a)`` (exit on either side with
    probability ½, so the exits form a symmetric random walk; checked in the tests). Independent of the
    mass; the limit of the full equation at high friction. ``drag`` is a function ``Γ(z) ≥ 0`` or a constant.
    Averages by the trapezoid rule on ``points`` equally spaced points (spectrally accurate for a smooth
    periodic ``U``), in log form so that ``e^{±U/T}`` does not overflow; ``ValueError`` if fewer than 8 points lie
    within ``T`` of the minimum or of the maximum (increase ``points``).
    """
    _check_callable("potential", potential)
    check_positive("period", period)
    _check_temperature(temperature)
    n = int(points)
    if n < 16:
        raise ValueError(f"points must be >= 16; got {points!r}.")
    z = np.arange(n) * (float(period) / n)
    u = _evaluate("potential", potential, z)
    gamma = _evaluate("drag", _as_function("drag", drag), z)
    _check_drag_values(gamma, z, "over the period")
    if not np.any(gamma > 0):
        raise ValueError("drag must be > 0 somewhere over the period (the overdamped diffusion coefficient diverges).")
    if is_concrete(temperature):
        t = float(temperature)
        near_min, near_max = int(np.sum(u - u.min() < t)), int(np.sum(u.max() - u < t))
        if min(near_min, near_max) < 8:
            raise ValueError(
                f"points={points} does not resolve the Boltzmann factors at temperature {t}: only {min(near_min, near_max)} points "
                "lie within T of the extremum; increase points."
            )
    T = jnp.asarray(temperature, dtype=float)
    u_min, u_max = float(u.min()), float(u.max())
    log_plus = jnp.log(jnp.mean(jnp.asarray(gamma) * jnp.exp((jnp.asarray(u) - u_max) / T))) + u_max / T
    log_minus = jnp.log(jnp.mean(jnp.exp(-(jnp.asarray(u) - u_min) / T))) - u_min / T
    return T * jnp.exp(-(log_plus + log_minus))


def hop_diffusion(rate: RealScalar | EscapeRate, period: RealScalar) -> Float[Array, ""]:
    """Diffusion coefficient of uncorrelated nearest-neighbour hops on a 1D lattice of spacing ``a``:

        ``D = k a²/2``

    with ``k`` the total hop rate out of a site (both directions; an :class:`EscapeRate` gives its ``total``),
    from ``⟨z²⟩ = k τ a² = 2Dτ``. Exact for Markovian single hops; long jumps (low friction) and correlated
    recrossings make the true ``D`` differ.
    """
    k = rate.total if isinstance(rate, EscapeRate) else rate
    check_positive("rate", k, allow_zero=True)
    check_positive("period", period)
    return 0.5 * jnp.asarray(k, dtype=float) * jnp.asarray(period, dtype=float) ** 2
