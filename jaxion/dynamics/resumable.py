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

import jax.numpy as jnp
import numpy as np

from .._validation import RealScalar, check_positive
from ..io import fingerprint, save_npz
from ..system import System
from ._common import SupercellLike, check_ion_state, check_save_times, check_status, check_supercell, warn_echo
from ._framework import FullState
from .full import FUSED_SOLVERS, FullResult, initial_state, make_args, result_between, simulate, verlet_time_step

__all__ = ["simulate_resumable"]

_STATE_FIELDS = ("ion_position", "ion_velocity", "displacement", "velocity")
_RECORD_FIELDS = ("ts", "ion_positions", "ion_velocities", "site_displacements")
_REFUSED = ("adjoint", "progress", "check_echo")
_FORMAT = "jaxion-resumable-v2"  # checkpoints of an earlier layout are refused as "other inputs"


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


class _Progress:
    """What a resumable run has done so far: finished segments, state, steps, status, records."""

    def __init__(self, state: FullState, saved: dict | None):
        if saved is None:
            self.done, self.state, self.steps, self.status, self.stopped, self.end_time = 0, state, 0, 0, False, 0.0
            self.records = {name: [] for name in _RECORD_FIELDS}
        else:
            self.done = int(saved["segments_done"])
            self.state = FullState(*(jnp.asarray(saved[name]) for name in _STATE_FIELDS))
            self.steps, self.status = int(saved["num_steps"]), int(saved["status"])
            self.stopped, self.end_time = bool(saved["stopped_by_event"]), float(saved["end_time"])
            self.records = {name: [saved[name]] if name in saved else [] for name in _RECORD_FIELDS}

    def add(self, out: FullResult, t0: float, saved_here: bool) -> None:
        self.state = out.final_state
        self.steps += int(out.num_steps)
        self.status, self.stopped = int(out.status), bool(out.stopped_by_event)
        self.end_time = t0 + float(out.end_time)
        if saved_here:
            self.records["ts"].append(np.asarray(out.ts) + t0)
            for name in _RECORD_FIELDS[1:]:
                self.records[name].append(np.asarray(getattr(out, name)))

    def save(self, path, key: str) -> None:
        arrays = {name: np.concatenate(parts) for name, parts in self.records.items() if parts}
        save_npz(
            path, fingerprint=np.asarray(key), segments_done=np.asarray(self.done), num_steps=np.asarray(self.steps),
            status=np.asarray(self.status), stopped_by_event=np.asarray(self.stopped), end_time=np.asarray(self.end_time),
            **{name: np.asarray(getattr(self.state, name)) for name in _STATE_FIELDS}, **arrays,
        )

    def trajectory(self, times, watched: int, dof: int) -> dict:
        """The records at every save time (``inf`` after an early end, as in :func:`jaxion.simulate`)."""
        got = {name: np.concatenate(parts) if parts else None for name, parts in self.records.items()}
        missing = times.size - (0 if got["ts"] is None else got["ts"].size)
        if missing:
            pad = {"ts": np.full(missing, np.inf), "ion_positions": np.full((missing, 3), np.inf),
                   "ion_velocities": np.full((missing, 3), np.inf), "site_displacements": np.full((missing, watched, dof), np.inf)}
            got = {name: pad[name] if (part := got[name]) is None else np.concatenate([part, pad[name]]) for name in _RECORD_FIELDS}
        return {name: jnp.asarray(got[name]) for name in _RECORD_FIELDS}


def simulate_resumable(
    system: System,
    supercell: SupercellLike,
    ion_position,
    ion_velocity,
    duration: RealScalar,
    *,
    checkpoint: str | os.PathLike | None,  # None is the ValueError below, naming the parameter
    segment: RealScalar,
    save_times=None,
    progress: bool = True,
    throw: bool = True,
    **options,
) -> FullResult:
    """:func:`jaxion.simulate` over ``duration`` in segments of ``segment`` τ, checkpointed to ``checkpoint``.

    Args:
        system, supercell, ion_position, ion_velocity, duration: as for :func:`jaxion.simulate`.
        checkpoint: ``.npz`` path. Written atomically after every segment; an existing file with the
            same inputs is resumed from (a file for other inputs raises ``ValueError``). Kept at the end,
            so a finished run returns at once when called again.
        segment: length of one segment (τ); the last one is shorter when it does not divide ``duration``.
        save_times: times in ``[0, duration]`` at which to record the trajectory (as for ``simulate``).
        progress: a progress bar over segments.
        throw: raise :class:`jaxion.SimulationError` if a segment fails.
        options: other options of :func:`jaxion.simulate` (``solver``, ``dt``, ``rtol``, ``atol``,
            ``constraint``, ``bias_force``, ``stop_plane``, ``initial_displacement``, ``initial_velocity``,
            ``watch_sites``, ``max_steps`` per segment, ``max_frequency``). With ``solver="verlet"`` and no
            ``dt`` the step is fixed once from the initial speed (:func:`jaxion.verlet_time_step`).

    Returns:
        A :class:`jaxion.FullResult` for the whole run: loss and energy drift from the initial to the final
        state, the steps of all segments, the trajectory at ``save_times`` (``inf`` after an early stop)
        when given. A segment that fails (step budget, solver failure, non-finite state) or whose ion
        crosses ``stop_plane`` ends the run there; its status is the result's.
    """
    for name in _REFUSED:
        if name in options:
            raise ValueError(f"{name} is not an option of simulate_resumable (it is set per segment).")
    if checkpoint is None:
        raise ValueError("checkpoint must be a file path (.npz); use jaxion.simulate for a run without checkpoints.")
    check_positive("duration", duration)
    check_positive("segment", segment)
    supercell = check_supercell(system.lattice, supercell, system.site_cells)
    start = check_ion_state(ion_position, ion_velocity, options.get("constraint"))
    duration, segment = float(duration), float(segment)
    warn_echo(system.lattice, supercell, duration, what="the run")
    edges = _segment_edges(duration, segment)
    state0 = initial_state(system, supercell, start, options.pop("initial_displacement", None), options.pop("initial_velocity", None))
    if options.get("solver") in FUSED_SOLVERS and options.get("dt") is None:
        max_frequency = options.setdefault("max_frequency", system.lattice.max_frequency(supercell))
        options["dt"] = float(verlet_time_step(max_frequency, jnp.linalg.norm(start.velocity), system.interaction_range))
    times = None if save_times is None else np.asarray(check_save_times(save_times, duration))

    key = fingerprint(_FORMAT, system, tuple(supercell), state0, duration, segment, times, sorted((k, repr(v)) for k, v in options.items()))
    run = _Progress(state0, _load(checkpoint, key))
    segments = range(run.done, len(edges) - 1)
    if progress and len(segments) > 1:
        from tqdm.auto import tqdm

        segments = tqdm(segments, desc="segments", unit="seg", initial=run.done, total=len(edges) - 1)
    for k in segments:
        if run.stopped or run.status != 0:
            break
        t0, t1 = edges[k], edges[k + 1]
        local = None
        if times is not None:
            inside = (times > t0) & (times <= t1) if k > 0 else (times >= t0) & (times <= t1)
            local = times[inside] - t0 if np.any(inside) else None
        out = simulate(
            system, supercell, run.state.ion_position, run.state.ion_velocity, t1 - t0,
            initial_displacement=run.state.displacement, initial_velocity=run.state.velocity,
            save_times=local, check_echo=False, throw=False, **options,
        )
        run.add(out, t0, local is not None)
        run.done = k + 1
        run.save(checkpoint, key)

    args = make_args(system, supercell, start, options.get("bias_force"), options.get("stop_plane"), options.get("watch_sites"))
    trajectory = {} if times is None else run.trajectory(times, args.watch[0].shape[0], system.lattice.dof)
    result = result_between(args, supercell, state0, run.state, run.end_time, run.stopped, run.steps, run.status, **trajectory)
    return check_status(result, throw, engine="simulate_resumable")
