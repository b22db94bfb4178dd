"""Batched passes: a whole loss-versus-speed curve from one compiled, vmapped call.

:func:`sweep_passes` vmaps :func:`jaxion.simulate_pass` over speeds (and, optionally, impact
parameters and pair potentials with a leading batch axis, e.g. several widths or amplitudes). All
batch members share one lattice (its arrays are not copied per member). Members that end early (their
ion crossed the stop plane) are frozen by the batched while-loop and do not disturb the others.

Large sweeps are split into batches of ``batch_size`` members (the last batch is padded), each one
compiled call; a progress bar counts batches.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import ArrayLike, Float, Int

from ._validation import check_positive, warn_user
from .dynamics._common import SupercellLike, check_supercell, kinetic_energy, warn_echo, warn_failed_members
from .dynamics.full import check_inside, simulate_pass
from .io import fingerprint as input_fingerprint
from .lattice import supercell_echo_time
from .parallel import device_mesh, over_devices
from .potential import AbstractPairPotential
from .system import System, pass_geometry

__all__ = ["SweepResult", "sweep_passes"]


class SweepResult(eqx.Module):
    """Per-member results of a sweep (NumPy arrays, leading axis = batch member).

    Attributes:
        speeds: initial speeds ``σ'_0``.
        impacts: impact vectors ``(members, 3)``.
        loss: kinetic-energy loss ``μ(v0² − v1²)/(8π²)`` of each pass.
        framework_energy: energy left in the framework at the end of each pass.
        energy_drift: drift of the conserved total energy (accuracy diagnostic).
        end_time: time each pass ended.
        stopped_by_event: whether the ion crossed the stop plane (``False``: reflected or trapped).
        num_steps: accepted solver steps.
        status: status per member, 0 for success (``jaxion.dynamics._common.STATUS_MESSAGES``).
    """

    speeds: Float[np.ndarray, " members"]
    impacts: Float[np.ndarray, "members 3"]
    loss: Float[np.ndarray, " members"]
    framework_energy: Float[np.ndarray, " members"]
    energy_drift: Float[np.ndarray, " members"]
    end_time: Float[np.ndarray, " members"]
    stopped_by_event: np.ndarray
    num_steps: Int[np.ndarray, " members"]
    status: Int[np.ndarray, " members"]

    @property
    def ok(self) -> np.ndarray:
        """Members that succeeded and whose ion passed the sites."""
        return (self.status == 0) & self.stopped_by_event


@eqx.filter_jit
def _run_batch(system, speed, impact, potential, supercell, options, potential_axis, mesh):
    """One compiled, vmapped batch, split over ``mesh``'s devices (module level so that repeated sweeps
    reuse the compilation)."""
    batched = jax.vmap(
        lambda v, b, p: _pass_summary(system, supercell, v, b, p, options),
        in_axes=(0, 0, potential_axis),
    )
    return over_devices(batched, mesh)(speed, impact, potential)


def _pass_summary(system, supercell, speed, impact, potential, options):
    if potential is not None:
        system = system.with_potential(potential)
    out = simulate_pass(system, speed, supercell, impact=impact, check_echo=False, throw=False, **options)
    return (out.loss, out.framework_energy, out.energy_drift, out.end_time, out.stopped_by_event, out.num_steps, out.status)


def sweep_passes(
    system: System,
    speeds: Sequence[float] | Float[ArrayLike, " members"],
    supercell: SupercellLike,
    *,
    impacts=None,
    potentials: AbstractPairPotential | None = None,
    direction=(0.0, 0.0, 1.0),
    batch_size: int | None = None,
    progress: bool = True,
    checkpoint=None,
    devices: Sequence | None = None,
    energy_tolerance: float = 1e-2,
    **solver_options,
) -> SweepResult:
    """Loss of paper 1's single pass for many speeds in vmapped calls.

    Args:
        system: the system (shared by all members unless ``potentials`` is given).
        speeds: initial speeds, ``(members,)``, all > 0.
        supercell: periodic supercell size per lattice axis.
        impacts: ``(3,)`` impact vector for all members, or ``(members, 3)``.
        potentials: optional pair potential whose array leaves carry a leading ``members`` axis
            (e.g. ``jax.vmap(lambda w: Gaussian(0.01, w))(widths)``), to sweep widths/amplitudes.
        direction: direction of motion (shared).
        batch_size: members per compiled call (default: all at once).
        progress: show a progress bar over batches.
        checkpoint: optional ``.npz`` path. After every batch the results so far are written there
            atomically, tagged with a fingerprint of all inputs; a later call with the same inputs and
            path resumes after the last finished batch (and gives the same numbers). The file is kept.
        energy_tolerance: warn about passes whose energy drift exceeds this fraction of their loss.
        devices: devices to shard each batch over (default: all local devices of the default
            backend, ``jax.local_devices()``). With more than one, the batch axis is split over them
            with ``jax.shard_map`` (:mod:`jaxion.parallel`; batches are padded to a multiple of the
            device count), each device running its own members' loop; the losses equal the unsharded
            run's to 1e-12 (tested on 4 forced CPU devices). Across hosts, call ``jax.distributed.initialize()`` first and
            pass ``jax.devices()``.
        solver_options: passed to :func:`jaxion.simulate` (``solver``, ``dt``, ``rtol``, ...).
    """
    speeds, impacts = _check_members(speeds, impacts, potentials)
    members = speeds.size
    supercell = check_supercell(system.lattice, supercell, system.site_cells)
    batch_size = members if batch_size is None else int(batch_size)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1; got {batch_size}.")
    mesh = device_mesh(devices)
    device_count = 1 if mesh is None else mesh.size
    batch_size = -(-batch_size // device_count) * device_count  # a multiple of the device count
    _check_paths(system, supercell, speeds, impacts, potentials, direction)

    options = dict(solver_options)
    options.setdefault("max_frequency", system.lattice.max_frequency(supercell))
    options["direction"] = tuple(float(x) for x in np.asarray(direction, float).reshape(3))
    potential_axis = None if potentials is None else 0

    fingerprint = input_fingerprint(system, potentials, speeds, impacts, supercell, batch_size, options)
    outputs = _load_checkpoint(checkpoint, fingerprint)
    starts = range(len(outputs) * batch_size, members, batch_size)
    iterator = starts
    if progress and len(starts) > 1:
        from tqdm.auto import tqdm

        iterator = tqdm(starts, desc="passes", unit="batch")
    for start in iterator:
        stop = min(start + batch_size, members)
        pad = batch_size - (stop - start)
        take = np.concatenate([np.arange(start, stop), np.full(pad, stop - 1)]).astype(int)
        batch_potentials = None if potentials is None else jax.tree_util.tree_map(lambda x: x[take], potentials)
        batch_speeds, batch_impacts = jnp.asarray(speeds[take]), jnp.asarray(impacts[take])
        result = _run_batch(system, batch_speeds, batch_impacts, batch_potentials, supercell, options, potential_axis, mesh)
        outputs.append([np.asarray(x)[: stop - start] for x in result])
        if checkpoint is not None:
            _save_checkpoint(checkpoint, fingerprint, outputs)
    fields = [np.concatenate(column) for column in zip(*outputs)]
    sweep = SweepResult(speeds, np.asarray(impacts), *fields)
    warn_failed_members(sweep.status, lambda i: f"speed {speeds[i]:.4g}")
    kinetic = np.asarray(kinetic_energy(float(system.mass_ratio), speeds[:, None]))
    leaky = np.flatnonzero(
        (sweep.status == 0) & (np.abs(sweep.energy_drift) > energy_tolerance * np.maximum(np.abs(sweep.loss), 1e-12 * kinetic))
    )
    if leaky.size:
        warn_user(
            f"energy is not conserved to {energy_tolerance:g} of the loss in {leaky.size} pass(es) (members "
            f"{leaky[:10].tolist()}): tighten rtol/atol or reduce dt.",
            RuntimeWarning,
        )
    return sweep


def _check_members(speeds, impacts, potentials):
    """The speeds ``(members,)`` (> 0), the impacts broadcast to ``(members, 3)``, and the batch axis of the
    potentials."""
    speeds = np.atleast_1d(np.asarray(speeds, dtype=float))
    if speeds.ndim != 1 or speeds.size == 0:
        raise ValueError(f"speeds must be a non-empty 1D sequence; got shape {speeds.shape}.")
    check_positive("speeds", speeds)
    members = speeds.size
    impacts = np.zeros(3) if impacts is None else np.asarray(impacts, dtype=float)
    if impacts.shape == (3,):
        impacts = np.broadcast_to(impacts, (members, 3))
    if impacts.shape != (members, 3):
        raise ValueError(f"impacts must have shape (3,) or ({members}, 3); got {impacts.shape}.")
    if potentials is not None:
        sizes = {np.shape(leaf)[0] if np.ndim(leaf) else None for leaf in jax.tree_util.tree_leaves(potentials)}
        if sizes != {members}:
            raise ValueError(f"every array leaf of potentials must have a leading axis of length {members}; got {sizes}.")
    return speeds, impacts


def _check_paths(system: System, supercell, speeds, impacts, potentials, direction) -> None:
    """Eager checks, once for the whole sweep: every path stays in the supercell (with the widest
    potential), and a warning for the passes that outlast the supercell's echo time."""
    probe = system
    if potentials is not None:
        widest = int(np.argmax(np.asarray(jax.vmap(lambda p: p.range)(potentials))))
        probe = system.with_potential(jax.tree_util.tree_map(lambda x: x[widest], potentials))
    for impact in np.unique(impacts, axis=0):
        geometry = pass_geometry(probe, direction, impact)
        check_inside(probe, supercell, np.stack([np.asarray(geometry.start), np.asarray(geometry.stop_point)]), "the ion's path")
    geometry = pass_geometry(probe, direction, impacts[0])
    transits = float(geometry.path_length) / speeds
    slow = speeds[transits > supercell_echo_time(system.lattice, supercell)]
    if slow.size:
        warn_echo(system.lattice, supercell, float(transits.max()),
                  what=f"{slow.size} of {speeds.size} passes (speeds <= {slow.max():.3g}) outlast the echo; the slowest "
                  f"(speed {speeds.min():.3g})")


_FIELDS = ("loss", "framework_energy", "energy_drift", "end_time", "stopped_by_event", "num_steps", "status")


def _load_checkpoint(path, fingerprint: str) -> list:
    if path is None or not os.path.exists(path):
        return []
    with np.load(path) as data:
        if str(data["fingerprint"]) != fingerprint:
            raise ValueError(
                f"checkpoint {path} was written by a sweep with other inputs; remove it or choose another path."
            )
        batches = int(data["batches"])
        return [[data[f"{name}_{b}"] for name in _FIELDS] for b in range(batches)]


def _save_checkpoint(path, fingerprint: str, outputs: list) -> None:
    from .io import save_npz

    arrays = {f"{name}_{b}": column for b, batch in enumerate(outputs) for name, column in zip(_FIELDS, batch)}
    save_npz(path, fingerprint=np.asarray(fingerprint), batches=np.asarray(len(outputs)), **arrays)
