"""Long single runs in checkpointed segments (``jaxion.simulate_resumable``): a run killed with SIGKILL
and resumed equals an uninterrupted one bit for bit; segments agree with one ``simulate`` call to the
solver's accuracy; a checkpoint for other inputs is refused; stale temporaries of killed writers go."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from processes import sigkill_when, subprocess_env

import jaxion as jx
import jaxion.dynamics.resumable as resumable
from jaxion.io import save_npz

# paper 1's chain, a Gaussian barrier crossed at speed 10, 24 segments of 0.1 τ (adaptive Tsit5)
RUN = textwrap.dedent(
    """
    import sys, numpy as np, jaxion as jx
    system = jx.System(jx.chain3d(99 / 4, confinement_parallel=1.0), jx.Gaussian(0.05, 1.0))
    out = jx.simulate_resumable(system, (200,), [0.0, 0.3, -7.0], [0.0, 0.0, 10.0], 2.4, checkpoint=sys.argv[1],
                                segment=0.1, save_times=np.linspace(0.0, 2.4, 49), progress=False)
    np.savez(sys.argv[2], loss=np.asarray(out.loss), positions=np.asarray(out.ion_positions),
             displacement=np.asarray(out.final_state.displacement), steps=np.asarray(out.num_steps))
    """
)


def _system():
    return jx.System(jx.chain3d(99 / 4, confinement_parallel=1.0), jx.Gaussian(0.05, 1.0))


def _segments_done(path: Path) -> int:
    try:
        with np.load(path) as data:
            return int(data["segments_done"])
    except (FileNotFoundError, OSError, ValueError, KeyError):
        return 0


_env = subprocess_env


@pytest.mark.slow  # ~25–40 s (three cold starts); the in-process crash-and-resume test below runs by default
def test_sigkill_then_resume_is_bit_for_bit(tmp_path):
    reference = subprocess.run([sys.executable, "-c", RUN, str(tmp_path / "ref.npz"), str(tmp_path / "ref_out.npz")],
                               env=_env(), capture_output=True, text=True, timeout=600)
    assert reference.returncode == 0, reference.stderr[-2000:]
    checkpoint = tmp_path / "run.npz"
    process = subprocess.Popen([sys.executable, "-c", RUN, str(checkpoint), str(tmp_path / "out.npz")], env=_env(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sigkill_when(process, lambda: _segments_done(checkpoint) >= 2)
    done = _segments_done(checkpoint)
    assert 2 <= done < 24, f"killed after {done} of 24 segments"
    assert not (tmp_path / "out.npz").exists()
    resumed = subprocess.run([sys.executable, "-c", RUN, str(checkpoint), str(tmp_path / "out.npz")], env=_env(),
                             capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert not list(tmp_path.glob(".*.tmp")), "a temporary file was left behind"
    with np.load(tmp_path / "out.npz") as a, np.load(tmp_path / "ref_out.npz") as b:
        for key in ("loss", "positions", "displacement", "steps"):
            assert np.array_equal(a[key], b[key]), f"{key} differs after the resume"
        assert a["loss"] > 0


def test_segments_agree_with_one_solve_and_resume_in_process(tmp_path, monkeypatch):
    """Adaptive Tsit5 in 5 segments against one ``simulate`` call (the controller restarts at each
    boundary: agreement to the tolerance, not bitwise); an in-process crash after the second segment,
    then a resume that computes only the missing segments and gives the same numbers bit for bit."""
    system = _system()
    args = (system, (200,), [0.0, 0.3, -7.0], [0.0, 0.0, 10.0], 1.5)
    saves = np.linspace(0.0, 1.5, 31)
    whole = jx.simulate(*args, save_times=saves)
    first = jx.simulate_resumable(*args, checkpoint=tmp_path / "a.npz", segment=0.3, save_times=saves, progress=False)
    np.testing.assert_allclose(first.ion_positions, whole.ion_positions, rtol=0, atol=1e-8)
    np.testing.assert_allclose(first.loss, whole.loss, rtol=1e-6)
    assert abs(float(first.energy_drift)) < 1e-6 * float(first.loss)

    calls, original = [], resumable.simulate

    def crash_after_two(*a, **k):
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(1)
        return original(*a, **k)

    monkeypatch.setattr(resumable, "simulate", crash_after_two)
    with pytest.raises(KeyboardInterrupt):
        jx.simulate_resumable(*args, checkpoint=tmp_path / "b.npz", segment=0.3, save_times=saves, progress=False)
    assert _segments_done(tmp_path / "b.npz") == 2
    calls.clear()
    monkeypatch.setattr(resumable, "simulate", lambda *a, **k: (calls.append(1), original(*a, **k))[1])
    again = jx.simulate_resumable(*args, checkpoint=tmp_path / "b.npz", segment=0.3, save_times=saves, progress=False)
    assert len(calls) == 3, f"the resumed run computed {len(calls)} segments; 3 were missing"
    for name in ("loss", "energy_drift", "ion_positions", "ion_velocities", "site_displacements", "num_steps"):
        assert np.array_equal(np.asarray(getattr(again, name)), np.asarray(getattr(first, name))), name
    assert np.array_equal(np.asarray(again.final_state.displacement), np.asarray(first.final_state.displacement))

    # the fused Verlet loop in segments: one fixed step for all of them, synchronised velocities at the
    # boundaries (the half kicks), so the segments reproduce one Verlet call to rounding and step size
    verlet_whole = jx.simulate(*args, solver="verlet", dt=2e-3)
    verlet = jx.simulate_resumable(*args, checkpoint=tmp_path / "v.npz", segment=0.3, solver="verlet", dt=2e-3, progress=False)
    np.testing.assert_allclose(verlet.final_state.ion_position, verlet_whole.final_state.ion_position, rtol=0, atol=1e-9)
    np.testing.assert_allclose(verlet.loss, verlet_whole.loss, rtol=1e-6)

    with pytest.raises(ValueError, match="other inputs"):
        jx.simulate_resumable(system, (200,), [0.0, 0.3, -7.0], [0.0, 0.0, 11.0], 1.5, checkpoint=tmp_path / "b.npz",
                              segment=0.3, progress=False)
    with pytest.raises(ValueError, match="segment"):
        jx.simulate_resumable(*args, checkpoint=tmp_path / "c.npz", segment=0.0)
    with pytest.raises(ValueError, match="adjoint"):
        jx.simulate_resumable(*args, checkpoint=tmp_path / "c.npz", segment=0.3, adjoint=None)


def test_stop_plane_ends_the_run_early(tmp_path):
    """A pass that crosses its stop plane in segment 3 of 10: the run ends there, like ``simulate_pass``."""
    system = _system()
    plane = (np.array([0.0, 0.0, 7.0]), np.array([0.0, 0.0, 1.0]))
    out = jx.simulate_resumable(system, (200,), [0.0, 0.3, -7.0], [0.0, 0.0, 10.0], 5.0, checkpoint=tmp_path / "p.npz",
                                segment=0.5, stop_plane=plane, save_times=np.linspace(0, 5.0, 11), progress=False)
    assert bool(out.stopped_by_event) and 1.4 < float(out.end_time) < 1.5
    assert np.all(np.isinf(np.asarray(out.ts)[4:])) and np.all(np.isfinite(np.asarray(out.ts)[:3]))
    single = jx.simulate_pass(system, 10.0, (200,), impact=(0.0, 0.3, 0.0), constrained=False)
    np.testing.assert_allclose(out.loss, single.loss, rtol=1e-5)


def test_stale_temporaries_of_dead_writers_are_removed(tmp_path):
    """A SIGKILL during a write leaves ``.<name>.<pid>.*.tmp``; the next write of the same file removes it
    when that process is gone, and leaves a live writer's temporary alone."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    dead = tmp_path / f".result.npz.{child.pid}.abc123.tmp"
    alive = tmp_path / f".result.npz.{os.getppid()}.def456.tmp"
    other = tmp_path / f".other.npz.{child.pid}.xyz.tmp"
    for path in (dead, alive, other):
        path.write_bytes(b"partial")
    save_npz(tmp_path / "result.npz", x=np.arange(3))
    assert not dead.exists() and alive.exists() and other.exists()
    with np.load(tmp_path / "result.npz") as data:
        assert np.array_equal(data["x"], np.arange(3))
