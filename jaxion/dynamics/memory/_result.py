"""The memory engine's result, and the one assembly that turns a runner's records into it.

Energy bookkeeping (paper 1, (1.11)): the framework's energy is not available, but its change is the work
done on the sites, ``W_F = ∫(−∇_ρΦ)·dρ``; ``E = Σ_i μσ_i'²/(8π²) + Φ + W_F − Σ_i F_bias·(σ_i − σ_i(0))`` is
conserved by the exact dynamics (2.12)–(2.14), and ``energy_error`` is its drift along the run (the trapezoid
and Verlet ``δ²`` error of (A1)–(A2)).

Status (:data:`jaxion.dynamics._common.STATUS_MESSAGES`): a run whose ion came within range of an untracked
lattice site has :data:`~jaxion.dynamics._common.LEFT_TRACKED_SITES`, one that outran the blocked method's window
:data:`~jaxion.dynamics._common.OUTRAN_WINDOW`, a non-finite state :data:`~jaxion.dynamics._common.NON_FINITE`.
"""

from __future__ import annotations

from typing import final

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from .._common import LEFT_TRACKED_SITES, OUTRAN_WINDOW, SUCCESS, AbstractResult, finite_status, kinetic_energy
from ._plan import MemoryPlan
from ._runs import Records

__all__ = ["MemoryState", "MemoryResult", "assemble", "failure_detail"]


class MemoryState(eqx.Module):
    """State at the end of a memory-engine run.

    Attributes:
        time: ``τ`` at the end (``num_steps · dt``).
        ion_position, ion_velocity: ``(3,)`` (one ion) or ``(ions, 3)``.
        site_displacements: ``(sites, dof)`` displacements of the tracked sites (``NaN`` for sites
            outside the last block's window with ``method="blocked"``).
        framework_work: work ``W_F = ∫(−∇_ρΦ)·dρ`` done on the framework so far.
    """

    time: Float[Array, "*batch"]
    ion_position: Array
    ion_velocity: Array
    site_displacements: Array
    framework_work: Float[Array, "*batch"]


@final
class MemoryResult(AbstractResult):
    """What :func:`jaxion.simulate_memory` returns (JAX arrays, time axis first; a thermal ensemble or a batch
    adds a leading axis to every array).

    Attributes:
        ts: ``(times,)`` the saved times (``save_times``, on the step grid ``n·dt``; default every step).
        ion_positions, ion_velocities: ``(times, 3)`` for one ion, ``(times, ions, 3)`` for several.
        site_displacements: ``(times, sites, dof)``, the order of ``system.sites``; with
            ``method="blocked"`` only the current window of sites is computed, the rest is ``NaN``;
            ``None`` with ``save_sites=False``.
        kinetic_energy: ``(times,)`` total ion kinetic energy ``Σ μσ'²/(8π²)``.
        interaction_energy: ``(times,)`` ``Φ(ρ, σ)``.
        framework_work: ``(times,)`` ``W_F``: the energy the ion(s) have given the framework.
        bias_work: ``(times,)`` work done by the bias force, ``Σ_i F·(σ_i − σ_i(0))``.
        energy_error: ``(times,)`` drift of ``KE + Φ + W_F − bias_work`` from its start value.
        loss: kinetic-energy loss ``KE(0) − KE(end)`` (0-d).
        energy_drift: ``energy_error`` at the end of the run (0-d).
        end_time: ``num_steps · dt``; stopped_by_event: always ``False`` (no stop plane).
        num_steps: steps taken, ``ceil(duration/dt)``.
        status: 0 on success; 3 non-finite, 4 left the tracked sites, 5 outran the block window.
        final_state: :class:`MemoryState` at the end.
        method, block_steps, points_per_axis, chebyshev_nodes, window, valid_time, dt: how the run was
            computed (:class:`~jaxion.dynamics.memory.MemoryPlan`); ``valid_time``: time up to which the
            kernel is the infinite lattice's (zone-grid recurrence).
    """

    ts: Float[Array, "*batch times"]
    ion_positions: Float[Array, "*batch times 3"] | Float[Array, "*batch times ions 3"]
    ion_velocities: Float[Array, "*batch times 3"] | Float[Array, "*batch times ions 3"]
    site_displacements: Float[Array, "*batch times sites dof"] | None
    kinetic_energy: Float[Array, "*batch times"]
    interaction_energy: Float[Array, "*batch times"]
    framework_work: Float[Array, "*batch times"]
    bias_work: Float[Array, "*batch times"]
    energy_error: Float[Array, "*batch times"]
    loss: Float[Array, "*batch"]
    energy_drift: Float[Array, "*batch"]
    end_time: Float[Array, "*batch"]
    stopped_by_event: Bool[Array, "*batch"]
    num_steps: Int[Array, "*batch"]
    status: Int[Array, "*batch"]
    final_state: MemoryState
    method: str = eqx.field(static=True)
    block_steps: int = eqx.field(static=True)
    points_per_axis: int = eqx.field(static=True)
    chebyshev_nodes: int = eqx.field(static=True)
    window: int = eqx.field(static=True)
    valid_time: float = eqx.field(static=True)
    dt: float = eqx.field(static=True)


def _site_displacements(records: Records, rows, num_sites: int, dof: int) -> Array:
    """``(runs, rows, sites, dof)`` at ``rows`` of the records; sites outside the window ``NaN``."""
    rho = records.displacements[:, rows].reshape(records.displacements.shape[0], rows.shape[0], -1, dof)
    if rho.shape[2] == num_sites:
        return rho
    runs, count, window = rho.shape[:3]
    starts = records.window_starts[:, rows]
    index = starts[..., None] + jnp.arange(window)  # (runs, rows, W)
    full = jnp.full((runs, count, num_sites, dof), jnp.nan)
    return full.at[jnp.arange(runs)[:, None, None], jnp.arange(count)[None, :, None], index].set(rho)


@eqx.filter_jit
def _assembled(records: Records, rows, save_times, start, bias, mass_ratio, threshold, end_time, num_steps: int, num_sites: int,
               dof: int, single_ion: bool, save_sites: bool, batch_shape: tuple | None) -> dict:
    """The arrays of the result, every run at once, the runs axis reshaped to ``batch_shape`` (``None``: dropped);
    one compiled function."""
    arrays = _arrays(records, rows, start, bias, mass_ratio, threshold, num_sites, dof, single_ion, save_sites)
    runs = records.positions.shape[0]
    arrays.update(
        ts=jnp.broadcast_to(save_times, (runs,) + save_times.shape),
        end_time=jnp.full(runs, end_time),
        stopped_by_event=jnp.zeros(runs, bool),
        num_steps=jnp.full(runs, num_steps),
    )
    if batch_shape is None:
        return jax.tree_util.tree_map(lambda a: a[0], arrays)
    return jax.tree_util.tree_map(lambda a: a.reshape(tuple(batch_shape) + a.shape[1:]), arrays)


def _arrays(records: Records, rows, start, bias, mass_ratio, threshold, num_sites: int, dof: int, single_ion: bool,
            save_sites: bool) -> dict:
    positions, velocities = records.positions, records.velocities  # (runs, records, ions, 3)
    kinetic = kinetic_energy(mass_ratio, velocities, axis=(-2, -1))
    bias_work = jnp.sum((positions - start[:, None]) * bias[:, None], axis=(-2, -1))
    total = kinetic + records.interaction_energy + records.framework_work - bias_work
    error = total - total[:, :1]
    leaks = records.leaks
    status = jnp.where(leaks.untracked > threshold, LEFT_TRACKED_SITES, jnp.where(leaks.window > threshold, OUTRAN_WINDOW, SUCCESS))
    values = (records.positions, records.velocities, records.interaction_energy, records.framework_work, records.displacements)
    if single_ion:
        positions, velocities = positions[:, :, 0], velocities[:, :, 0]
    last = jnp.asarray([records.positions.shape[1] - 1])
    return dict(
        ion_positions=positions[:, rows],
        ion_velocities=velocities[:, rows],
        site_displacements=_site_displacements(records, rows, num_sites, dof) if save_sites else None,
        kinetic_energy=kinetic[:, rows],
        interaction_energy=records.interaction_energy[:, rows],
        framework_work=records.framework_work[:, rows],
        bias_work=bias_work[:, rows],
        energy_error=error[:, rows],
        loss=kinetic[:, 0] - kinetic[:, -1],
        energy_drift=error[:, -1],
        status=jax.vmap(finite_status)(status, *values),
        final_position=positions[:, -1],
        final_velocity=velocities[:, -1],
        final_sites=_site_displacements(records, last, num_sites, dof)[:, 0],
        final_work=records.framework_work[:, -1],
    )


def assemble(records: Records, plan: MemoryPlan, start, bias, mass_ratio, *, single_ion: bool, save_sites: bool,
             batch_shape: tuple | None) -> MemoryResult:
    """The result of every run of ``records`` (leading ``runs`` axis): the saved rows, energies, loss, drift
    and status. ``start``/``bias``: ``(runs or 1, ions, 3)``; ``batch_shape``: the shape the runs axis takes
    (``None``: a single run, no axis)."""
    arrays = _assembled(records, jnp.asarray(plan.save_rows), plan.save_times, jnp.asarray(start), jnp.asarray(bias),
                        jnp.asarray(mass_ratio, float), jnp.asarray(plan.threshold), jnp.asarray(plan.num_steps * plan.dt),
                        plan.num_steps, plan.num_sites, plan.dof, bool(single_ion), bool(save_sites),
                        None if batch_shape is None else tuple(batch_shape))
    final = MemoryState(time=arrays["end_time"], ion_position=arrays.pop("final_position"), ion_velocity=arrays.pop("final_velocity"),
                        site_displacements=arrays.pop("final_sites"), framework_work=arrays.pop("final_work"))
    return MemoryResult(
        **arrays,
        final_state=final,
        method=plan.method,
        block_steps=int(plan.block_steps),
        points_per_axis=int(plan.points_per_axis),
        chebyshev_nodes=int(plan.chebyshev_nodes),
        window=int(plan.window),
        valid_time=float(plan.valid_time),
        dt=float(plan.dt),
    )


def failure_detail(records: Records, plan: MemoryPlan) -> str:
    """When and how hard the first failed run left its sites (for :func:`~jaxion.dynamics._common.check_status`)."""
    leaks = jax.tree_util.tree_map(np.asarray, records.leaks)
    for run in range(leaks.untracked.shape[0]):
        if leaks.untracked[run] > plan.threshold:
            return f" (first at τ ≈ {leaks.first_untracked[run] * plan.dt:.4g}; |φ| = {leaks.untracked[run]:.3g})"
        if leaks.window[run] > plan.threshold:
            return (f" (first at τ ≈ {leaks.first_window[run] * plan.dt:.4g}: a tracked site outside the window of {plan.window} "
                    f"sites; |φ| = {leaks.window[run]:.3g})")
    return ""
