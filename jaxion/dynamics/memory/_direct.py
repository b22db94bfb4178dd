"""``method="direct"``: the convolution (2.12) as the quadratic sum of paper 2's Appendix, (A1)–(A2).

``ρ_n = −2πδ Σ_{m=0}^{n−1} w_m Γ((n−m)δ) ∇_ρΦ_m`` (trapezoid weights ``w_0 = ½``, else 1; ``Γ(0) = 0``, so the
scheme is explicit), with the table ``−2πδ Γ(lδ)``, ``l = 1 … L``, between all tracked sites dotted with a
circular history of the forces at every step; the ion(s) by velocity Verlet. Cost ``O(L P²)`` per step, memory
``O(L P²)`` (``P`` = sites × components); ``memory_length`` truncates the history (an approximation).
Thermal framework: the homogeneous motion ``ρ_hom`` of the bath's modes is tabulated at every step and added.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ...kernels._tables import site_fractional
from ...system import System
from ..thermal import motion_from_amplitudes
from ._physics import Leaks, Physics, no_leaks, update_leaks
from ._plan import MemoryPlan
from ._runs import Ions, Records, reversed_layout, run_cores

__all__ = ["run_direct", "thermal_motion_arg"]


@eqx.filter_jit
def _direct_core(physics, sigma, vel, positions, kflat, dt, num_chunks: int, save_every: int, lags: int, dof: int, leak_tol, hom=None):
    """``hom``: ``None`` (framework at rest at τ = 0), or the homogeneous (thermal) motion of the tracked
    sites at every step, ``(steps + 1, sites, dof)``, added to the response (2.12)."""
    num_sites = positions.shape[0]
    p = num_sites * dof
    rho0 = jnp.zeros((num_sites, dof)) if hom is None else hom[0]
    phi0, acc0, g0 = physics.forces(sigma, rho0, positions)
    hist0 = jnp.zeros((lags, p))

    def step(carry, _):
        sigma, vel, acc, g, rho, phi, work, hist, n = carry
        sigma1 = sigma + dt * vel + 0.5 * dt * dt * acc
        weight = jnp.where(n == 0, 0.5, 1.0)
        hist = hist.at[n % lags].set(weight * g.reshape(-1))
        start = (lags - (n + 1) % lags) * p
        rho1 = (jax.lax.dynamic_slice(kflat, (0, start), (p, lags * p)) @ hist.reshape(-1)).reshape(num_sites, dof)
        if hom is not None:
            rho1 = rho1 + hom[n + 1]
        phi1, acc1, g1 = physics.forces(sigma1, rho1, positions)
        vel1 = vel + 0.5 * dt * (acc + acc1)
        work1 = work - 0.5 * jnp.sum((g + g1) * (rho1 - rho))
        return (sigma1, vel1, acc1, g1, rho1, phi1, work1, hist, n + 1), sigma1

    def chunk(carry, _):
        state, leaks = carry
        sigma, vel, acc, g, rho, phi, work, hist, n = state
        record = (sigma, vel, phi, work, rho.reshape(-1))
        state, sigmas = jax.lax.scan(step, state, None, length=save_every)
        leaks = update_leaks(physics, sigmas, n + 1, leaks, leak_tol)
        return (state, leaks), record

    state0 = (sigma, vel, acc0, g0, rho0, phi0, jnp.zeros(()), hist0, jnp.zeros((), int))
    (state, leaks), records = jax.lax.scan(chunk, (state0, no_leaks()), None, length=num_chunks)
    sigma, vel, acc, g, rho, phi, work, hist, n = state
    final = (sigma, vel, phi, work, rho.reshape(-1))
    stacked = jax.tree_util.tree_map(lambda r, f: jnp.concatenate([r, f[None]]), records, final)
    return table_records(stacked, leaks)


def table_records(stacked, leaks: Leaks) -> Records:
    """The records of a table-convolution core (all sites, no window)."""
    positions, velocities, phis, works, rhos = stacked
    return Records(positions, velocities, phis, works, rhos, jnp.zeros(phis.shape, int), leaks)


def thermal_motion_arg(plan: MemoryPlan, system: System):
    """``(values, to_arg)`` for :func:`~._runs.run_cores`: the bath's amplitudes, and the homogeneous motion
    ``ρ_hom`` of the tracked sites at every step they give ((2.12); ``None`` without a bath)."""
    if plan.thermal_amplitudes is None:
        return None
    modes = plan.modes
    assert modes is not None  # a plan with a bath holds the bath's modes
    times = plan.dt * jnp.arange(plan.num_steps + 1)
    positions = site_fractional(system.lattice, np.asarray(system.sites, dtype=int))
    atoms = None if system.lattice.atoms == 1 else jnp.asarray(system.site_atoms)

    def hom(z):
        motion, _ = motion_from_amplitudes(modes, z, positions, times, with_velocity=False, atoms=atoms)
        return motion

    return plan.thermal_amplitudes, hom


def run_direct(plan: MemoryPlan, physics: Physics, ions: Ions, system: System) -> Records:
    """Every run of the plan (one, a thermal ensemble, or a batch) with the quadratic convolution."""
    assert plan.table is not None  # a direct plan holds its table
    kflat = jnp.asarray(reversed_layout(plan.table, circular=True))
    after = (
        jnp.asarray(system.site_positions()), kflat, jnp.asarray(plan.dt), plan.num_steps // plan.stride, plan.stride, plan.lags,
        plan.dof, jnp.asarray(plan.threshold),
    )
    return run_cores(_direct_core, (physics,), after, ions, thermal_motion_arg(plan, system))
