"""Long full-engine runs in checkpointed segments, resumable after a crash or a kill.

:func:`simulate_resumable` integrates (1.3)–(1.4) like :func:`jaxion.simulate`, but in segments of
``segment`` time units. After each segment the whole state (ion, framework displacement and velocity),
the step count and the trajectory recorded so far go to one ``.npz`` checkpoint, written atomically
(temporary name, then rename) and tagged with a fingerprint of every input. Calling it again with the same
inputs and path continues after the last finished segment; the result is bit for bit that of an
uninterrupted call (each segment is the same deterministic compiled solve from the same state). A
checkpoint written for other inputs is refused.

A segmented run is not bit-identical to one :func:`jaxion.simulate` call over the whole time: an adaptive
solver restarts its step-size control at every segment boundary, and the Verlet step is
``segment / ceil(segment / dt)``. Both stay within the solver's accuracy of it (tested).
"""

from __future__ import annotations

import os
import warnings
from typing import Sequence

import jax.numpy as jnp
import numpy as np

from .._validation import check_positive
from ..io import fingerprint, save_npz
from ..lattice import supercell_echo_time
from ..system import System
from .full import (
    FUSED_SOLVERS,
    EchoWarning,
    FullState,
    SimulationResult,
    _check_supercell,
    check_ion_state,
    result_between,
    simulate,
    verlet_time_step,
)

__all__ = ["simulate_resumable"]

_STATE_FIELDS = ("ion_position", "ion_velocity", "displacement", "velocity")
_RECORD_FIELDS = ("ts", "ion_positions", "ion_velocities", "site_displacements")
_REFUSED = ("adjoint", "progress", "check_echo")


def _segment_edges(duration: float, segment: float) -> np.ndarray:
    count = max(1, int(np.ceil(duration / segment * (1.0 - 1e-12))))
    return np.minimum(np.arange(count + 1) * segment, duration)


def _load(path, expected: str):
    if not os.path.exists(path):
        return None
    with np.load(path) as data:
        if str(data["fingerprint"]) != expected:
            raise ValueError(
                f"checkpoint {os.fspath(path)} was written by a run with other inputs; remove it or choose another path."
            )
        return {key: np.asarray(data[key]) for key in data.files}


def simulate_resumable(
    system: System,
    supercell: Sequence[int],
    ion_position,
    ion_velocity,
    duration: float,
    *,
    checkpoint: str | os.PathLike,
    segment: float,
    save_times=None,
    progress: bool = True,
    **options,
) -> SimulationResult:
    """:func:`jaxion.simulate` over ``duration`` in segments of ``segment`` τ, checkpointed to ``checkpoint``.

    Args:
        system, supercell, ion_position, ion_velocity, duration: as for :func:`jaxion.simulate`.
        checkpoint: ``.npz`` path. Written atomically after every segment; an existing file with the
            same inputs is resumed from (a file for other inputs raises ``ValueError``). Kept at the end,
            so a finished run returns at once when called again.
        segment: length of one segment (τ); the last one is shorter when it does not divide ``duration``.
        save_times: times in ``[0, duration]`` at which to record the trajectory (as for ``simulate``).
        progress: a progress bar over segments.
        options: other options of :func:`jaxion.simulate` (``solver``, ``dt``, ``rtol``, ``atol``,
            ``constraint``, ``stop_plane``, ``initial_displacement``, ``initial_velocity``,
            ``watch_sites``, ``max_steps`` per segment, ``max_frequency``). With ``solver="verlet"`` and no
            ``dt`` the step is fixed once from the initial speed (:func:`jaxion.verlet_time_step`).

    Returns:
        A :class:`jaxion.SimulationResult` for the whole run: loss and energy drift from the initial to
        the final state, the steps of all segments, the trajectory at ``save_times`` (``inf`` after an
        early stop) when given. A segment that fails (step budget, solver failure, non-finite state) or
        whose ion crosses ``stop_plane`` ends the run there; its status is the result's.
    """
    for name in _REFUSED:
        if name in options:
            raise ValueError(f"{name} is not an option of simulate_resumable (it is set per segment).")
    if checkpoint is None:
        raise ValueError("checkpoint must be a file path (.npz); use jaxion.simulate for a run without checkpoints.")
    check_positive("duration", duration)
    check_positive("segment", segment)
    supercell = _check_supercell(system, supercell)
    ion_position, ion_velocity, _ = check_ion_state(ion_position, ion_velocity, options.get("constraint"))
    duration, segment = float(duration), float(segment)
    echo = supercell_echo_time(system.lattice, supercell)
    if duration > echo:
        warnings.warn(
            f"the run lasts up to τ = {duration:.3g}, but sound goes around the periodic supercell {supercell} in "
            f"τ ≈ {echo:.3g}: from then on finite-size echoes return to the sites the ion touches.",
            EchoWarning,
            stacklevel=2,
        )
    edges = _segment_edges(duration, segment)
    dof = system.lattice.dof
    field_shape = (dof, *supercell)
    displacement = jnp.asarray(options.pop("initial_displacement", jnp.zeros(field_shape)), float)
    velocity = jnp.asarray(options.pop("initial_velocity", jnp.zeros(field_shape)), float)
    state0 = FullState(ion_position, ion_velocity, displacement, velocity)
    if options.get("solver") in FUSED_SOLVERS and options.get("dt") is None:
        max_frequency = options.setdefault("max_frequency", system.lattice.max_frequency(supercell))
        options["dt"] = float(verlet_time_step(max_frequency, jnp.linalg.norm(ion_velocity), system.potential.range))
    times = None
    if save_times is not None:
        times = np.atleast_1d(np.asarray(save_times, float))
        if times.ndim != 1 or np.any(np.diff(times) < 0) or times[0] < 0 or times[-1] > duration * (1 + 1e-12):
            raise ValueError(f"save_times must be a non-decreasing 1D array within [0, duration = {duration:g}].")

    key = fingerprint(system, tuple(supercell), state0, duration, segment, times, sorted((k, repr(v)) for k, v in options.items()))
    saved = _load(checkpoint, key)
    if saved is None:
        done, state, steps, code, stopped, end_time = 0, state0, 0, 0, False, 0.0
        records = {name: [] for name in _RECORD_FIELDS}
    else:
        done = int(saved["segments_done"])
        state = FullState(*(jnp.asarray(saved[name]) for name in _STATE_FIELDS))
        steps, code, stopped = int(saved["num_steps"]), int(saved["result"]), bool(saved["stopped_by_event"])
        end_time = float(saved["end_time"])
        records = {name: [saved[name]] if name in saved else [] for name in _RECORD_FIELDS}

    segments = range(done, len(edges) - 1)
    if progress and len(segments) > 1:
        from tqdm.auto import tqdm

        segments = tqdm(segments, desc="segments", unit="seg", initial=done, total=len(edges) - 1)
    for k in segments:
        if stopped or code != 0:
            break
        t0, t1 = edges[k], edges[k + 1]
        local = None
        if times is not None:
            inside = (times > t0) & (times <= t1) if k > 0 else (times >= t0) & (times <= t1)
            local = times[inside] - t0 if np.any(inside) else None
        out = simulate(
            system, supercell, state.ion_position, state.ion_velocity, t1 - t0,
            initial_displacement=state.displacement, initial_velocity=state.velocity,
            save_times=local, check_echo=False, **options,
        )
        state = out.final_state
        steps += int(out.num_steps)
        code, stopped = int(out.result), bool(out.stopped_by_event)
        end_time = t0 + float(out.end_time)
        if local is not None:
            records["ts"].append(np.asarray(out.ts) + t0)
            for name in _RECORD_FIELDS[1:]:
                records[name].append(np.asarray(getattr(out, name)))
        arrays = {name: np.concatenate(parts) for name, parts in records.items() if parts}
        save_npz(
            checkpoint, fingerprint=np.asarray(key), segments_done=np.asarray(k + 1), num_steps=np.asarray(steps),
            result=np.asarray(code), stopped_by_event=np.asarray(stopped), end_time=np.asarray(end_time),
            **{name: np.asarray(getattr(state, name)) for name in _STATE_FIELDS}, **arrays,
        )

    extras = {}
    if times is not None:
        got = {name: np.concatenate(parts) if parts else None for name, parts in records.items()}
        missing = times.size - (0 if got["ts"] is None else got["ts"].size)
        if missing:  # the run ended early: the remaining save times are inf, as in simulate
            watched = got["site_displacements"]
            shape = (len(options.get("watch_sites") or system.sites), dof) if watched is None else watched.shape[1:]
            pad = {"ts": np.full(missing, np.inf), "ion_positions": np.full((missing, 3), np.inf),
                   "ion_velocities": np.full((missing, 3), np.inf), "site_displacements": np.full((missing, *shape), np.inf)}
            got = {name: pad[name] if got[name] is None else np.concatenate([got[name], pad[name]]) for name in _RECORD_FIELDS}
        extras = {name: jnp.asarray(got[name]) for name in _RECORD_FIELDS}
    return result_between(system, supercell, state0, state, end_time, stopped, steps, code, **extras)
