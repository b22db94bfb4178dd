"""What the three runners share: the record structure, the table layout, and running a core once, once per
thermal key (vmapped) or once per batch member (vmapped and split over devices).

Every core (``_direct_core``, ``_fft_core``, ``_blocked_core``) returns one :class:`Records` for one run: the
state at steps ``0, s, 2s, …, num_steps`` (``s`` = the plan's recording stride) and the coverage
:class:`~._physics.Leaks`; :func:`run_cores` gives every field a leading ``runs`` axis.
"""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh
from jaxtyping import Array

from ...parallel import over_devices, pad_members
from ._physics import Leaks

__all__ = ["Records", "Ions", "run_cores", "reversed_layout"]


class Records(NamedTuple):
    """The recorded states of a run (with :func:`run_cores`: of every run, along a leading ``runs`` axis).

    Attributes:
        positions, velocities: ``(rows, ions, 3)`` the ions at steps ``0, s, …, num_steps``.
        interaction_energy: ``(rows,)`` ``Φ``.
        framework_work: ``(rows,)`` ``W_F``.
        displacements: ``(rows, window·dof)`` displacements of the window's sites (all sites but with
            ``method="blocked"`` and a moving window).
        window_starts: ``(rows,)`` index of the window's first site.
        leaks: the coverage checks over the whole run.
    """

    positions: Array
    velocities: Array
    interaction_energy: Array
    framework_work: Array
    displacements: Array
    window_starts: Array
    leaks: Leaks


class Ions(NamedTuple):
    """The ions' initial state: ``(ions, 3)`` for one run, or ``(members, 3)`` for a batch of single-ion runs
    (``members=True``), split over ``mesh`` (``None``: one device)."""

    position: np.ndarray
    velocity: np.ndarray
    members: bool = False
    mesh: Mesh | None = None


def run_cores(core, before: tuple, after: tuple, ions: Ions, thermal=None) -> Records:
    """``core(*before, position, velocity, *after[, extra])`` once, once per batch member, or (``thermal =
    (values, to_arg)``) once per leading entry of ``values`` with ``extra = to_arg(value)`` (vmapped);
    returns the records with a leading ``runs`` axis."""
    if ions.members:
        return _member_runs(core, before, after, ions)
    if thermal is None:
        return jax.tree_util.tree_map(lambda a: a[None], core(*before, ions.position, ions.velocity, *after))
    values, to_arg = thermal
    return jax.vmap(lambda value: core(*before, ions.position, ions.velocity, *after, to_arg(value)))(values)


@eqx.filter_jit
def _members_call(core, before, sigmas, vels, after, mesh):
    def one(sigma, vel):
        return core(*before, sigma, vel, *after)

    return over_devices(jax.vmap(one), mesh)(sigmas, vels)


def _member_runs(core, before: tuple, after: tuple, ions: Ions) -> Records:
    """``core`` once per row of ``ions`` (each a single ion) in one vmapped call split over ``ions.mesh``."""
    members = ions.position.shape[0]
    states = (jnp.asarray(ions.position)[:, None, :], jnp.asarray(ions.velocity)[:, None, :])
    states, _ = pad_members(states, members, 1 if ions.mesh is None else ions.mesh.size)
    batched = _members_call(core, tuple(before), *states, tuple(after), ions.mesh)
    return jax.tree_util.tree_map(lambda a: a[:members], batched)


def reversed_layout(kernel: np.ndarray, circular: bool) -> np.ndarray:
    """Lay out ``K[l]`` (``l = 1 … L``, array ``(L, P, P)``) so that the convolution with a history buffer
    is one contiguous slice and a matrix–vector product (see the cores)."""
    lags, p, _ = kernel.shape
    full = np.concatenate([np.zeros((1, p, p)), kernel])  # K[0] = 0
    if circular:
        # F[i'] = K[((2L − i' − 1) mod L) + 1], i' = 0 … 2L; slice [L − p, 2L − p) matches buffer order.
        idx = ((2 * lags - np.arange(2 * lags + 1) - 1) % lags) + 1
    else:
        # Rev[i] = K[L − i] for i = 0 … 2L − 1 (zero for non-positive lags); slice [L − r − 1, 2L − r − 1).
        lag = lags - np.arange(2 * lags)
        idx = np.where(lag >= 1, lag, 0)
    rev = full[idx]  # (len, P, P)
    return np.ascontiguousarray(np.transpose(rev, (1, 0, 2)).reshape(p, -1))
