"""Closed forms for chains.

Paper 1, (1.14)–(1.17): the single-collision loss of an ion passing one mass of the chain whose
masses move in 3D, at constant speed ``σ'`` and impact parameter ``s``, with ``Λ = 2πλ/σ'``.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax.scipy.special import i0e, i1e

from .._validation import check_positive

__all__ = ["chain_loss_closed_form"]


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
    check_positive("speed", speed)
    check_positive("width", width)
    if coupling_perpendicular is None:
        coupling_perpendicular = coupling_parallel
    if confinement_perpendicular is None:
        confinement_perpendicular = confinement_parallel
    speed = jnp.asarray(speed, float)
    lam = jnp.asarray(width, float)
    s2 = jnp.asarray(impact_parameter, float) ** 2
    big_lambda2 = (2 * jnp.pi * lam / speed) ** 2
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
