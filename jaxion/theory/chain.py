"""Closed forms for chains.

Paper 1, (1.14)–(1.17): the single-collision loss of an ion passing one mass of the chain whose
masses move in 3D, at constant speed ``σ'`` and impact parameter ``s``, with ``Λ = 2πλ/σ'``.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax.scipy.special import i0e, i1e

from .._validation import check_finite, check_positive
from ..lattice import chain3d_constants

__all__ = ["chain_loss_closed_form", "chain_loss_fast", "chain_loss_slow", "chain_loss_unconfined"]


def chain_loss_closed_form(
    speed,
    amplitude,
    width,
    impact_parameter=0.0,
    coupling_parallel=99 / 4,
    coupling_perpendicular=None,
    confinement_parallel=1.0,
    confinement_perpendicular=None,
):
    """Paper 1, (1.14): loss of an ion passing one mass of the 3D-moving chain (Gaussian ``φ``).

    ``Δ = πΛ²Φ0² e^{−s²/λ²} (s²/λ⁴) e^{−Λ²κ⊥} Ĩ0(2Λ²k⊥)
        + π(Λ⁴/λ²) Φ0² e^{−s²/λ²} e^{−Λ²κ∥} [(κ∥ + 2k∥) Ĩ0(2Λ²k∥) − 2k∥ Ĩ1(2Λ²k∥)]``

    with ``Λ = 2πλ/σ'`` and ``Ĩn(x) = e^{−x} In(x)`` (exponentially scaled Bessel functions, which
    keep the expression finite at low speed). Vectorised over every argument.
    """
    check_finite("amplitude", amplitude)
    speed, lam, s2, big_lambda, coupling_perpendicular, confinement_perpendicular = _chain_parameters(
        speed, width, impact_parameter, coupling_perpendicular, coupling_parallel,
        confinement_perpendicular, confinement_parallel,
    )
    big_lambda2 = big_lambda**2
    prefactor = jnp.pi * amplitude**2 * jnp.exp(-s2 / lam**2)
    x_perp = 2 * big_lambda2 * coupling_perpendicular
    x_par = 2 * big_lambda2 * coupling_parallel
    transverse = big_lambda2 * s2 / lam**4 * jnp.exp(-big_lambda2 * confinement_perpendicular) * i0e(x_perp)
    longitudinal = (
        big_lambda2**2
        / lam**2
        * jnp.exp(-big_lambda2 * confinement_parallel)
        * ((confinement_parallel + 2 * coupling_parallel) * i0e(x_par) - 2 * coupling_parallel * i1e(x_par))
    )
    return prefactor * (transverse + longitudinal)


def _chain_parameters(speed, width, impact_parameter, coupling_perpendicular, coupling_parallel,
                      confinement_perpendicular, confinement_parallel):
    check_positive("speed", speed)
    check_positive("width", width)
    check_finite("impact_parameter", impact_parameter)
    _, coupling_perpendicular, _, confinement_perpendicular = chain3d_constants(
        coupling_parallel, coupling_perpendicular, confinement_parallel, confinement_perpendicular
    )
    speed = jnp.asarray(speed, float)
    lam = jnp.asarray(width, float)
    s2 = jnp.asarray(impact_parameter, float) ** 2
    big_lambda = 2 * jnp.pi * lam / speed
    return speed, lam, s2, big_lambda, coupling_perpendicular, confinement_perpendicular


def chain_loss_fast(
    speed,
    amplitude,
    width,
    impact_parameter=0.0,
    coupling_parallel=99 / 4,
    coupling_perpendicular=None,
    confinement_parallel=1.0,
    confinement_perpendicular=None,
):
    """Paper 1, (1.15): the high-speed limit (``Λ = 2πλ/σ' → 0``) of (1.14),

    ``Δ_fast = π (Λ²/λ²) Φ0² e^{−s²/λ²} [s²/λ² + Λ² (κ∥ + 2k∥)]``:

    the transverse channel falls as ``1/σ'²`` and the longitudinal one as ``1/σ'⁴``; ``k⊥, κ⊥`` drop out.
    Same arguments as :func:`chain_loss_closed_form`; vectorised over every argument.
    """
    check_finite("amplitude", amplitude)
    speed, lam, s2, big_lambda, _, _ = _chain_parameters(
        speed, width, impact_parameter, coupling_perpendicular, coupling_parallel,
        confinement_perpendicular, confinement_parallel,
    )
    l2 = big_lambda**2
    return (
        jnp.pi * l2 / lam**2 * amplitude**2 * jnp.exp(-s2 / lam**2)
        * (s2 / lam**2 + l2 * (confinement_parallel + 2 * coupling_parallel))
    )


def chain_loss_slow(
    speed,
    amplitude,
    width,
    impact_parameter=0.0,
    coupling_parallel=99 / 4,
    coupling_perpendicular=None,
    confinement_parallel=1.0,
    confinement_perpendicular=None,
):
    """Paper 1, (1.16): the low-speed limit (``Λ = 2πλ/σ' → ∞``) of (1.14),

    ``Δ_slow = π Φ0² Λ e^{−s²/λ²} / (2 sqrt(π) λ²)
              × [ (s²/λ²) e^{−Λ²κ⊥}/sqrt(k⊥) + (Λ²κ∥ + ½) e^{−Λ²κ∥}/sqrt(k∥) ]``

    (leading term of ``e^{−x} I_n(x) ≈ (2πx)^{−1/2}`` in (1.14)). Exponentially small at low speed for a
    confined chain; ``∝ 1/σ'`` without confinement, where it equals (1.17). Same arguments as
    :func:`chain_loss_closed_form`.
    """
    check_finite("amplitude", amplitude)
    speed, lam, s2, big_lambda, k_perp, kappa_perp = _chain_parameters(
        speed, width, impact_parameter, coupling_perpendicular, coupling_parallel,
        confinement_perpendicular, confinement_parallel,
    )
    l2 = big_lambda**2
    transverse = s2 / lam**2 * jnp.exp(-l2 * kappa_perp) / jnp.sqrt(k_perp)
    longitudinal = (l2 * confinement_parallel + 0.5) * jnp.exp(-l2 * confinement_parallel) / jnp.sqrt(coupling_parallel)
    return (
        jnp.pi * amplitude**2 * big_lambda * jnp.exp(-s2 / lam**2) / (2 * jnp.sqrt(jnp.pi) * lam**2)
        * (transverse + longitudinal)
    )


def chain_loss_unconfined(
    speed,
    amplitude,
    width,
    impact_parameter=0.0,
    coupling_parallel=99 / 4,
    coupling_perpendicular=None,
):
    """Paper 1, (1.17): the local-time (linearised-dispersion) loss of an unconfined chain (``κ = 0``),

    ``Δ = Σ_u (π/sqrt(k_u)) ∫ dτ (∂_u Φ)² = π^{3/2} Φ0² e^{−s²/λ²}/(λσ') [1/(2 sqrt(k∥)) + (s²/λ²)/sqrt(k⊥)]``,

    the low-speed limit of (1.14) at ``κ = 0`` (equal to (1.16) there); ``Δ ∝ 1/σ'``.
    """
    speed, lam, s2, _, k_perp, _ = _chain_parameters(
        speed, width, impact_parameter, coupling_perpendicular, coupling_parallel, 0.0, 0.0,
    )
    return (
        jnp.pi**1.5 * amplitude**2 * jnp.exp(-s2 / lam**2) / (lam * speed)
        * (0.5 / jnp.sqrt(coupling_parallel) + s2 / lam**2 / jnp.sqrt(k_perp))
    )
