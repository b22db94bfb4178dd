"""The result fields every engine shares (``jaxion.AbstractResult``) mean the same thing in every engine.

- full engine (1.3)–(1.4) against the memory engine on the same periodic supercell's own kernel (2.12): the
  same pass gives the same ``ts``, ``ion_positions``, ``ion_velocities``, ``loss``, ``end_time`` and a
  vanishing ``energy_drift`` in both (the memory engine *is* the full engine for the tracked sites);
- full engine against the time-local equation (1.26) for a weak interaction: the same pass, stopped by the same
  plane, gives the same ``end_time``, ``stopped_by_event`` and ion trajectory;
- in every engine ``loss`` is ``μ(v0² − v1²)/(8π²)`` of its own recorded velocities, ``status`` is 0 and ``ok``
  true, and the arrays are JAX arrays.
"""

import warnings

import jax
import numpy as np
import pytest

import jaxion as jx

K = 99 / 4


def _kinetic(mass_ratio, velocity):
    return mass_ratio * np.sum(np.asarray(velocity) ** 2, axis=-1) / (8 * np.pi**2)


def _check_shared_fields(result, mass_ratio):
    for name in ("ts", "ion_positions", "ion_velocities", "loss", "energy_drift", "end_time", "num_steps", "status"):
        assert isinstance(getattr(result, name), jax.Array), name
    assert int(result.status) == 0 and bool(result.ok) and result.message == "success"
    if float(result.ts[-1]) == float(result.end_time):  # the last record is the end of the run
        v = np.asarray(result.ion_velocities)
        np.testing.assert_allclose(float(result.loss), _kinetic(mass_ratio, v[0]) - _kinetic(mass_ratio, v[-1]), rtol=1e-9)


@pytest.fixture(scope="module")
def chain_pass():
    """Paper 1's chain (κ = 1), one site, speed 12 with offset 1; 64 cells (echo after τ ≈ 2.3 > the pass)."""
    system = jx.System(jx.chain3d(K, confinement_parallel=1.0), jx.Gaussian(0.05, 1.0))
    geometry = jx.pass_geometry(system, impact=(0.0, 1.0, 0.0))
    speed, dt = 12.0, 1e-3
    steps = int(np.ceil(float(geometry.path_length) / speed / dt))
    times = dt * np.arange(0, steps + 1, 20)
    return system, geometry, speed, dt, times


def test_full_and_memory_engine_on_the_same_supercell_agree(chain_pass):
    system, geometry, speed, dt, times = chain_pass
    duration = float(times[-1])
    start, velocity = np.asarray(geometry.start), speed * np.asarray(geometry.direction)
    full = jx.simulate(system, (64,), start, velocity, duration, constraint=geometry.direction, save_times=times, rtol=1e-11, atol=1e-13)
    memory = jx.simulate_memory(system, start, velocity, duration, dt=dt, constraint=geometry.direction, save_times=times,
                                supercell=(64,), cache=False)
    for result in (full, memory):
        _check_shared_fields(result, 1.0)
        assert not bool(result.stopped_by_event)
    np.testing.assert_array_equal(np.asarray(memory.ts), np.asarray(full.ts))
    np.testing.assert_allclose(float(memory.end_time), float(full.end_time), rtol=1e-12)
    # the memory engine's trapezoid convolution and Verlet ion are second order in dt = 1e-3
    np.testing.assert_allclose(np.asarray(memory.ion_positions), np.asarray(full.ion_positions), atol=1e-6)
    np.testing.assert_allclose(np.asarray(memory.ion_velocities), np.asarray(full.ion_velocities), atol=1e-5)
    np.testing.assert_allclose(float(memory.loss), float(full.loss), rtol=1e-4)
    assert abs(float(full.energy_drift)) < 1e-6 * float(full.loss)
    assert abs(float(memory.energy_drift)) < 1e-3 * float(memory.loss)


def test_full_engine_and_time_local_equation_agree_for_a_weak_interaction():
    """Cubic 16³ and a barely interacting ion (Φ0 = 1e-4): both engines move it at nearly constant speed, so the
    same stop plane ends both passes at the same time, and they record the same trajectory."""
    system = jx.System(jx.simple_cubic(), jx.Gaussian(1e-4, 1.0))
    geometry = jx.pass_geometry(system, impact=(0.5, 0.0, 0.0))
    speed = 20.0
    duration = 1.5 * float(geometry.path_length) / speed
    times = np.linspace(0.0, 0.9 * float(geometry.path_length) / speed, 25)
    plane = (geometry.stop_point, geometry.direction)
    start, velocity = np.asarray(geometry.start), speed * np.asarray(geometry.direction)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jx.EchoWarning)
        full = jx.simulate(system, (16, 16, 16), start, velocity, duration, constraint=geometry.direction, stop_plane=plane,
                           save_times=times)
    model = jx.time_local_model(system)
    local = jx.simulate_local(model, start, velocity, duration, constraint=geometry.direction, stop_plane=plane, save_times=times)
    for result in (full, local):
        _check_shared_fields(result, 1.0)
        assert bool(result.stopped_by_event)
    np.testing.assert_array_equal(np.asarray(local.ts), np.asarray(full.ts))
    np.testing.assert_allclose(float(local.end_time), float(full.end_time), rtol=1e-6)
    np.testing.assert_allclose(float(full.end_time), float(geometry.path_length) / speed, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(local.ion_positions), np.asarray(full.ion_positions), atol=1e-6)
    # both losses are tiny (second order in Φ0) and positive; the full engine's is its final kinetic energy's
    assert 0 < float(local.loss) < 1e-6 and 0 < float(full.loss) < 1e-6
    final = _kinetic(1.0, full.final_state.ion_velocity)
    np.testing.assert_allclose(float(full.loss), _kinetic(1.0, velocity) - final, rtol=1e-6)
