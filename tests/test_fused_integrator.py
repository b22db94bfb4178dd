"""Fused fixed-step velocity Verlet (``solver="verlet"``) for (1.3)–(1.4): the loss against adaptive
Tsit5 at rtol 1e-9 and against the closed form (1.14), energy conservation, the stop-plane event, the
vmapped sweep against single runs, gradients, and the time-step checks."""

import warnings

import jax
import numpy as np
import pytest

import jaxion as jx
from jaxion.dynamics.full import verlet_time_step

K = 99 / 4  # paper 1, Fig. 2


@pytest.fixture(scope="module")
def chain():
    return jx.System(jx.chain3d(K, confinement_parallel=1.0), jx.Gaussian(0.01, 1.0))


@pytest.fixture(scope="module")
def cubic():
    return jx.System(jx.simple_cubic(15.0, 5.0, 2.0), jx.Gaussian(0.01, 1.0))


def test_default_step_matches_tsit5_on_the_chain(chain):
    """Default dt: loss within 1e-3 (seen ≤ 2e-4) of adaptive Tsit5 at rtol 1e-9, speeds 5–80, s = 1."""
    speeds = np.array([5.0, 20.0, 80.0])
    verlet = jx.sweep_passes(chain, speeds, (200,), impacts=(0.0, 1.0, 0.0), solver="verlet", progress=False)
    tsit5 = jx.sweep_passes(chain, speeds, (200,), impacts=(0.0, 1.0, 0.0), progress=False)
    assert np.all(verlet.ok) and np.all(tsit5.ok)
    np.testing.assert_allclose(verlet.loss, tsit5.loss, rtol=1e-3)
    np.testing.assert_allclose(verlet.end_time, tsit5.end_time, rtol=0.02)


def test_default_step_matches_tsit5_on_cubic_20(cubic):
    """Simple cubic 20³ (k1 = 15, k2 = 5, α = 2), speed 20 head-on: within 1e-3 of Tsit5 at rtol 1e-9."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jx.EchoWarning)
        verlet = jx.simulate_pass(cubic, 20.0, (20, 20, 20), solver="verlet")
        tsit5 = jx.simulate_pass(cubic, 20.0, (20, 20, 20))
    assert int(verlet.status) == 0 and bool(verlet.stopped_by_event)
    np.testing.assert_allclose(float(verlet.loss), float(tsit5.loss), rtol=1e-3)
    assert abs(float(verlet.energy_drift)) < 1e-3 * float(verlet.loss)


def test_chain_loss_matches_closed_form_1_14(chain):
    """Fig. 2 parameters, speeds 10–80, s ∈ {0, 1}: within 1 % of (1.14), as the diffrax engine."""
    speeds = np.array([10.0, 40.0, 80.0, 10.0, 40.0, 80.0])
    impacts = np.repeat([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0]], 3, axis=0)
    sweep = jx.sweep_passes(chain, speeds, (200,), impacts=impacts, solver="verlet", progress=False)
    assert np.all(sweep.ok)
    expected = jx.chain_loss_closed_form(speeds, 0.01, 1.0, impacts[:, 1], K, confinement_parallel=1.0)
    np.testing.assert_allclose(sweep.loss, expected, rtol=1e-2)
    np.testing.assert_allclose(sweep.framework_energy, sweep.loss, rtol=1e-3)


def test_second_order_convergence_and_energy(chain):
    """Halving dt divides the loss error by ~4 (second order); without an event the run ends at
    ``duration`` exactly and the total energy drifts by < 1e-3 of the loss."""
    geometry = jx.pass_geometry(chain, impact=(0.0, 1.0, 0.0))
    speed = 15.0
    duration = float(geometry.path_length) / speed
    run = lambda dt: jx.simulate(  # noqa: E731
        chain, (200,), geometry.start, speed * geometry.direction, duration, constraint=geometry.direction, solver="verlet", dt=dt
    )
    reference = float(jx.simulate(chain, (200,), geometry.start, speed * geometry.direction, duration, constraint=geometry.direction).loss)
    errors = [abs(float(run(dt).loss) / reference - 1) for dt in (8e-3, 4e-3)]
    assert 3.0 < errors[0] / errors[1] < 5.0
    result = run(8e-3)
    assert not bool(result.stopped_by_event) and int(result.status) == 0
    assert int(result.num_steps) == int(np.ceil(duration / 8e-3))
    np.testing.assert_allclose(float(result.end_time), duration, rtol=1e-12)
    assert abs(float(result.energy_drift)) < 1e-3 * float(result.loss)


def test_stop_plane_event(chain):
    """The loop stops in the step where the ion crosses the plane; an ion too slow to get there runs
    to the time limit; a step budget that is too small is reported (code 1)."""
    speed = 20.0
    result = jx.simulate_pass(chain, speed, (200,), impact=(0.0, 1.0, 0.0), solver="verlet", dt=2e-3)
    geometry = jx.pass_geometry(chain, impact=(0.0, 1.0, 0.0))
    assert bool(result.stopped_by_event) and int(result.status) == 0
    past = float(np.dot(np.asarray(result.final_state.ion_position) - np.asarray(geometry.stop_point), np.asarray(geometry.direction)))
    assert 0.0 < past <= speed * 2e-3
    np.testing.assert_allclose(float(result.end_time), float(geometry.path_length) / speed, atol=2 * 2e-3)
    budget = jx.simulate_pass(chain, speed, (200,), impact=(0.0, 1.0, 0.0), solver="verlet", dt=2e-3, max_steps=50, throw=False)
    assert int(budget.status) == 1 and not bool(budget.stopped_by_event) and int(budget.num_steps) == 50
    # Reflected: barrier Φ0 = 1 > kinetic energy σ'²/(8π²) ≈ 0.05 at σ' = 2.
    reflected = jx.simulate_pass(jx.System(chain.lattice, jx.Gaussian(1.0, 1.0)), 2.0, (200,), solver="verlet", time_limit_factor=1.5)
    assert not bool(reflected.stopped_by_event) and int(reflected.status) == 0


def test_vmapped_sweep_equals_single_runs(chain):
    speeds = np.array([7.0, 30.0])
    impacts = np.array([[0.0, 0.5, 0.0], [0.0, 1.0, 0.0]])
    sweep = jx.sweep_passes(chain, speeds, (200,), impacts=impacts, solver="verlet", progress=False)
    for i, speed in enumerate(speeds):
        single = jx.simulate_pass(chain, speed, (200,), impact=impacts[i], solver="verlet")
        np.testing.assert_allclose(sweep.loss[i], float(single.loss), rtol=1e-10)
        assert sweep.num_steps[i] == int(single.num_steps)
        np.testing.assert_allclose(sweep.end_time[i], float(single.end_time), rtol=1e-12)


def test_gradient_through_the_loop_matches_finite_differences():
    """Reverse mode through the checkpointed while-loop: d loss / d Φ0 and d λ (fixed start and
    duration, so that the number of steps does not depend on the parameters)."""
    lattice = jx.chain3d(K, confinement_parallel=1.0)

    def loss(params):
        system = jx.System(lattice, jx.Gaussian(params[0], params[1]))
        return jx.simulate(
            system, (40,), [0.0, 1.0, -8.0], [0.0, 0.0, 20.0], 0.8, constraint=[0.0, 0.0, 1.0], solver="verlet", dt=2e-3, max_frequency=10.0
        ).loss

    params = np.array([0.01, 1.0])
    gradient = np.asarray(jax.grad(loss)(params))
    # Steps of 1e-3 relative: the loss (~1e-5) is a difference of kinetic energies ~5, so smaller steps
    # drown the quotient in rounding (1e-4 relative at 1e-5).
    steps = 1e-3 * params
    numeric = [(float(loss(params + h * e)) - float(loss(params - h * e))) / (2 * h) for h, e in zip(steps, np.eye(2))]
    np.testing.assert_allclose(gradient, numeric, rtol=1e-5)


def test_saved_trajectory_matches_the_adaptive_solver(chain):
    """``save_times`` inside the fused loop: the ion and a watched mass at 40 times (several in one step,
    one exactly at the end) equal Dopri8's dense output at rtol 1e-13 to Verlet's O(dt²) accuracy; positions
    converge as dt² (halving dt divides the error by ~4; velocities too, but their O(dt²) error oscillates
    within a step, so their maximum over fixed times is not a clean power); the end record is the final
    state; times after the stop plane are ``inf``."""
    geometry = jx.pass_geometry(chain, impact=(0.0, 1.0, 0.0))
    speed = 15.0
    duration = float(geometry.path_length) / speed
    times = np.concatenate([np.linspace(0.0, duration, 37), [0.1, 0.1 + 1e-4, 0.1 + 2e-4]])
    times.sort()
    options = dict(constraint=geometry.direction, save_times=times, watch_sites=[[0], [3]])
    start, velocity = geometry.start, speed * geometry.direction
    reference = jx.simulate(chain, (200,), start, velocity, duration, solver="dopri8", rtol=1e-13, atol=1e-15, **options)

    def error(dt):
        run = jx.simulate(chain, (200,), start, velocity, duration, solver="verlet", dt=dt, **options)
        np.testing.assert_array_equal(np.asarray(run.ts), times)
        return [float(np.max(np.abs(np.asarray(getattr(run, name)) - np.asarray(getattr(reference, name)))))
                for name in ("ion_positions", "ion_velocities", "site_displacements")]

    coarse, fine = error(4e-3), error(2e-3)
    assert coarse[0] < 1e-6 and coarse[1] < 2e-5 and coarse[2] < 1e-6
    for a, b in zip(coarse[::2], fine[::2]):  # ion and site positions
        assert 3.0 < a / b < 5.0
    assert fine[1] < 0.5 * coarse[1]
    # the end state is the result's final state exactly
    run = jx.simulate(chain, (200,), start, velocity, duration, solver="verlet", dt=4e-3, **options)
    np.testing.assert_array_equal(np.asarray(run.ion_positions)[-1], np.asarray(run.final_state.ion_position))
    # a pass that stops at the plane: the save times after the event are inf, the earlier ones finite
    late = np.linspace(0.0, 2 * duration, 9)
    stopped = jx.simulate_pass(chain, speed, (200,), impact=(0.0, 1.0, 0.0), solver="verlet", save_times=late)
    end = float(stopped.end_time)
    assert np.all(np.isinf(np.asarray(stopped.ts)[late > end]))
    assert np.all(np.isfinite(np.asarray(stopped.ion_positions)[late < end - 0.01]))


def test_unstable_and_bad_options_raise(chain):
    limit = 1.8 / (2 * np.pi * 10.0)
    with pytest.raises(ValueError, match=r"dt=0\.04 .*ω_max = 10.*dt <= 0\.0286"):
        jx.simulate_pass(chain, 20.0, (200,), solver="verlet", dt=0.04)
    jx.simulate_pass(chain, 20.0, (200,), solver="verlet", dt=0.99 * limit)  # just inside: runs
    with pytest.raises(jx.SimulationError, match="step budget exhausted"):
        jx.simulate_pass(chain, 20.0, (200,), solver="verlet", dt=2e-3, max_steps=50)
    with pytest.raises(ValueError, match="unknown solver"):
        jx.simulate_pass(chain, 20.0, (200,), solver="leapfrog")
    # The default step: the lattice bound at low speed, the transit bound at high speed.
    np.testing.assert_allclose(float(verlet_time_step(10.0, 1.0, 1.0)), 0.5 / (2 * np.pi * 10.0))
    np.testing.assert_allclose(float(verlet_time_step(10.0, 80.0, 1.0)), 0.05 / 80.0)
