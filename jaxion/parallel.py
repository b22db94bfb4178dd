"""Split a vmapped batch over devices.

Every batched engine in jaxion (:func:`jaxion.sweep_passes`, :func:`jaxion.simulate_local_batch`) maps
one member's computation over a leading ``members`` axis with ``jax.vmap`` and, with more than one
device, splits that axis over the devices with ``jax.shard_map``: each device runs its own members
with its own loop. Adaptive solvers are ``while`` loops whose length is set by the slowest member; under
``shard_map`` a device stops when *its* slowest member is done and no device waits on another at every
step (plain ``jax.sharding`` of a vmapped loop all-reduces the loop condition each iteration).

CPU cores become devices with ``XLA_FLAGS=--xla_force_host_platform_device_count=<cores>`` set before
JAX is imported; on this project's 2-core CI machine that halves the time of a large batch
(``benchmarks/bench_time_local.py``). Across hosts, call ``jax.distributed.initialize()`` first and
pass ``jax.devices()``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, PartitionSpec

__all__ = ["device_mesh", "over_devices", "pad_members"]

MEMBERS = "members"
Tree = TypeVar("Tree")


def device_mesh(devices: Sequence | None = None) -> Mesh | None:
    """A 1D mesh over ``devices`` (default ``jax.local_devices()``), or ``None`` for a single device."""
    devices = list(jax.local_devices() if devices is None else devices)
    if not devices:
        raise ValueError("devices must list at least one device.")
    if len(devices) == 1:
        return None
    return Mesh(np.asarray(devices), (MEMBERS,))


def over_devices(batched: Callable, mesh: Mesh | None) -> Callable:
    """``batched`` (a function of arrays with a leading members axis, e.g. a ``jax.vmap``) run with its
    members split over ``mesh``'s devices. The members axis must be a multiple of the device count
    (:func:`pad_members`). Each device runs an independent copy, so the numbers equal the unsplit run's."""
    if mesh is None:
        return batched
    spec = PartitionSpec(MEMBERS)
    return jax.shard_map(batched, mesh=mesh, in_specs=spec, out_specs=spec, check_vma=False)


def pad_members(tree: Tree, members: int, multiple: int) -> tuple[Tree, int]:
    """Pad every array leaf's leading ``members`` axis to a multiple of ``multiple`` by repeating the last
    member; returns ``(padded tree, padded size)``."""
    size = -(-members // multiple) * multiple
    if size == members:
        return tree, size
    take = np.concatenate([np.arange(members), np.full(size - members, members - 1)])
    return jax.tree_util.tree_map(lambda x: jnp.asarray(x)[take], tree), size
