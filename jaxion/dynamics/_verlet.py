"""The fused fixed-step Störmer–Verlet loop for (1.3)–(1.4), with the trajectory saved inside the loop.

One ``jax.lax`` while-loop (equinox's checkpointed loop: reverse-mode differentiable and vmappable) does a
force evaluation per step: the stencil ``−4π²Ξρ`` fused with the kick into one pass over the field, the few
site forces added in place, the drift a second elementwise pass. No diffrax machinery per step, which on
large supercells makes a step several times cheaper than an adaptive solver's.

Saved trajectory. The step is ``h = duration / ceil(duration/dt)``; a save time ``t = (n + θ)h`` with
``0 <= θ < 1`` is recorded once the loop knows the states at both ends of step ``n``, by the cubic Hermite
interpolant of positions and synchronised velocities ``(x_n, v_n)``, ``(x_{n+1}, v_{n+1})`` (positions
``O(h⁴)``, velocities ``O(h³)`` — below Verlet's own ``O(h²)`` error, so the saved trajectory is as accurate
as the integrator, and exact at ``θ = 0``). Each step writes at most ``per_step`` records (the most save times
that fall in one step, counted once on the host); save times after an early stop (the stop plane) are ``inf``.
"""

from __future__ import annotations

import equinox as eqx
import equinox.internal as eqxi
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ._common import check_step_limit
from ._framework import FullArgs, FullState, gather

__all__ = ["VERLET_LIMIT", "verlet_time_step", "check_verlet_step", "saves_per_step", "run_verlet", "VerletRecords"]

# Largest stable 2π ω_max dt of the leapfrog on oscillatory modes is 2; 1.8 keeps a 10 % margin.
VERLET_LIMIT = 1.8
# Default step (see `verlet_time_step`): 2π ω_max dt <= _LATTICE_FRACTION and v dt <= _ION_FRACTION λ.
_LATTICE_FRACTION = 0.5
_ION_FRACTION = 0.05
# A save time within this fraction of a step of a grid point is taken at that point.
_SNAP = 1e-9


def verlet_time_step(max_frequency: float, speed, length) -> Float[Array, ""]:
    """Default step of the fused Verlet integrator, chosen for accuracy, not only stability:
    ``dt = min(0.5 / (2π ω_max), 0.05 λ / v)``.

    The first bound resolves the fastest framework mode (four times below Verlet's stability limit
    ``2/(2π ω_max)``; its frequency comes out ``(ω dt)²/24 ≈ 1 %`` high); the second resolves the ion's
    transit through the potential (``λ/v``, ``λ = potential.range``). Verlet's error in the loss is
    second order in ``dt``. Measured against adaptive Tsit5 at rtol 1e-9: 1.1e-4–3.1e-4 relative on
    simple cubic 20³ (speeds 2–80, s = 0) and 1.2e-4–1.4e-4 on paper 1's chain (speeds 10–80, s = 1);
    but 2.8e-3 on the confined chain at speed 2, where the loss is exponentially small (``e^{−Λ²κ}``)
    and exponentially sensitive to the modes' frequencies: pass ``dt`` = half (error / 4) there.
    """
    lattice_step = _LATTICE_FRACTION / (2 * np.pi * max(float(max_frequency), 1e-3))
    return jnp.minimum(lattice_step, _ION_FRACTION * jnp.asarray(length, float) / jnp.asarray(speed, float))


def check_verlet_step(dt, omega_max: float | None) -> None:
    """``2π ω_max dt <= 1.8``: the leapfrog's stability limit with a 10 % margin."""
    check_step_limit(dt, VERLET_LIMIT, omega_max, method="the fused Verlet solver")


def _step_count(duration, dt):
    # the factor keeps a ratio that is an integer up to rounding (a pass's time limit is often a multiple of
    # the default dt) from gaining a step in some compilations only
    return jnp.maximum(jnp.ceil(duration / dt * (1.0 - 1e-10)), 1.0)


def _schedule(save_times, h, total):
    """Step index ``n`` and fraction ``θ`` of every save time ``t = (n + θ)h``."""
    u = save_times / h
    nearest = jnp.round(u)
    on_grid = jnp.abs(u - nearest) <= _SNAP * jnp.maximum(1.0, u)
    n = jnp.clip(jnp.where(on_grid, nearest, jnp.floor(u)), 0.0, total)
    theta = jnp.where(on_grid, 0.0, jnp.clip(u - n, 0.0, 1.0))
    return n.astype(int), theta


def saves_per_step(save_times, duration, dt) -> int:
    """The most save times that fall in one step (a static bound for the loop's writes), counted on the
    host; the number of save times when ``duration`` or ``dt`` is traced."""
    times = np.asarray(save_times)
    try:
        total = float(_step_count(float(duration), float(dt)))
    except Exception:  # traced duration or dt: every step may have to write every save
        return int(times.size)
    u = times / (float(duration) / total)
    n = np.where(np.abs(u - np.round(u)) <= _SNAP * np.maximum(1.0, u), np.round(u), np.floor(u))
    return int(np.max(np.unique(n, return_counts=True)[1])) + 1  # +1: rounding may move a time by one step


class VerletRecords(eqx.Module):
    """The trajectory at the save times: ``ts`` (``inf`` after an early stop), ion positions and velocities
    ``(K, 3)``, watched-site displacements ``(K, watched, dof)``."""

    ts: Float[Array, " K"]
    ion_positions: Float[Array, "K 3"]
    ion_velocities: Float[Array, "K 3"]
    site_displacements: Float[Array, "K watched dof"]


def _kick(args: FullArgs, state: FullState, h) -> FullState:
    """Velocities advanced by ``h`` with the full accelerations at the current positions."""
    rates = args.rates(state)
    return FullState(
        state.ion_position, state.ion_velocity + h * rates.ion_velocity, state.displacement, state.velocity + h * rates.velocity
    )


def _hermite(start, end, h, theta):
    """Cubic Hermite interpolation between ``(x0, v0)`` and ``(x1, v1)`` a step ``h`` apart, at ``t0 + θh``:
    the position and its derivative."""
    (x0, v0), (x1, v1) = start, end
    t2, t3 = theta**2, theta**3
    x = (2 * t3 - 3 * t2 + 1) * x0 + (t3 - 2 * t2 + theta) * h * v0 + (3 * t2 - 2 * t3) * x1 + (t3 - t2) * h * v1
    v = ((6 * t2 - 6 * theta) * (x0 - x1)) / h + (3 * t2 - 4 * theta + 1) * v0 + (3 * t2 - 2 * theta) * v1
    return x, v


def _synchronised(args: FullArgs, state: FullState, velocity_half, ion_acceleration, h):
    """``(x_n, v_n)`` of the ion and of the watched sites from step ``n``'s positions and the half-step
    velocities around it: ``v_n = v_{n−½} + ½h a_n``."""
    ion = (state.ion_position, state.ion_velocity + 0.5 * h * ion_acceleration)
    old, new = gather(state.velocity, args.watch), gather(velocity_half, args.watch)
    return ion, (gather(state.displacement, args.watch), 0.5 * (old + new))


@eqx.filter_jit
def run_verlet(args: FullArgs, state0: FullState, duration, dt, max_steps: int, save_times=None, per_step: int = 1):
    """Velocity Verlet on (1.3)–(1.4) as one checkpointed while-loop (module notes).

    Velocities are carried at half steps, ``v_{n+½} = v_{n−½} + h a(x_n)``, ``x_{n+1} = x_n + h v_{n+½}``;
    the first and last half kicks synchronise them with the positions, so the returned state is that of
    velocity Verlet. The loop stops after the step in which the ion crosses the stop plane, at ``duration``,
    or after ``max_steps`` steps. Jitted at module level, so repeated eager calls reuse one compilation.

    Returns ``(final state, end time, stopped by the plane, steps, step budget exhausted, records or None)``.
    """
    total = _step_count(duration, dt)
    h = duration / total
    watched, dof = args.watch[0].shape[0], args.system.lattice.dof
    if save_times is not None:
        count = save_times.shape[0]
        save_step, save_theta = _schedule(save_times, h, total)
        records0 = (jnp.full((count + 1, 3), jnp.inf), jnp.full((count + 1, 3), jnp.inf), jnp.full((count + 1, watched, dof), jnp.inf))
        previous0 = ((jnp.zeros(3), jnp.zeros(3)), (jnp.zeros((watched, dof)), jnp.zeros((watched, dof))))
    else:
        records0 = previous0 = None

    def record(records, step, start, end):
        """Write the save times of step ``step`` (between the states ``start`` and ``end``)."""
        first = jnp.searchsorted(save_step, step, side="left")
        for j in range(per_step):
            k = jnp.minimum(first + j, count - 1)
            slot = jnp.where((first + j < count) & (save_step[k] == step), k, count)
            ion_x, ion_v = _hermite(start[0], end[0], h, save_theta[k])
            site_x, _ = _hermite(start[1], end[1], h, save_theta[k])
            records = tuple(r.at[slot].set(v) for r, v in zip(records, (ion_x, ion_v, site_x)))
        return records

    def cond(carry):
        steps, _, done, _, _ = carry
        return (steps < total) & ~done

    def body(carry):
        steps, state, _, records, previous = carry
        ion_acceleration, site_acceleration = args.accelerations(state.ion_position, state.displacement)
        velocity = state.velocity + h * args.framework_acceleration(state.displacement)
        velocity = velocity.at[args.index].add(h * site_acceleration)
        if records is not None:
            current = _synchronised(args, state, velocity, ion_acceleration, h)
            records = record(records, steps - 1, previous, current)  # nothing to write at step 0
            previous = current
        ion_velocity = state.ion_velocity + h * ion_acceleration
        state = FullState(state.ion_position + h * ion_velocity, ion_velocity, state.displacement + h * velocity, velocity)
        return steps + 1, state, args.crossed(state.ion_position), records, previous

    init = (jnp.asarray(0, int), _kick(args, state0, -0.5 * h), jnp.asarray(False), records0, previous0)
    steps, state, done, records, previous = eqxi.while_loop(cond, body, init, max_steps=max_steps, kind="checkpointed")
    final = _kick(args, state, 0.5 * h)
    saved = None
    if records is not None:
        assert save_times is not None  # records are kept exactly when there are save times
        end = ((final.ion_position, final.ion_velocity), (gather(final.displacement, args.watch), gather(final.velocity, args.watch)))
        records = record(records, steps - 1, previous, end)  # the last step's save times
        at_end = (save_step == steps) & (save_theta == 0.0)
        after = (save_step >= steps) & ~at_end
        end_values = (final.ion_position, final.ion_velocity, end[1][0])
        columns = []
        for r, v in zip(records, end_values):
            r = r[:count]
            shape = (-1,) + (1,) * (r.ndim - 1)
            r = jnp.where(at_end.reshape(shape), v[None], r)
            columns.append(jnp.where(after.reshape(shape), jnp.inf, r))
        saved = VerletRecords(jnp.where(after, jnp.inf, save_times), *columns)
    return final, steps * h, done, steps, ~done & (steps < total), saved
