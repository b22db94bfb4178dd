"""Full engine (1.3)–(1.4): against the closed form (1.14), conservation laws, Newton's third law,
gradients against finite differences, batching, and bad input."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxion as jx

K = 99 / 4  # paper 1, Fig. 2


def chain_system(confinement=1.0, amplitude=0.01, width=1.0):
    return jx.System(jx.chain3d(K, confinement_parallel=confinement), jx.Gaussian(amplitude, width))


@pytest.mark.parametrize("confinement", [0.0, 1.0])
def test_chain_loss_matches_closed_form_1_14(confinement):
    """Fig. 2 parameters: simulated loss within 1 % of (1.14) for speeds 10–80, s ∈ {0, 1}."""
    system = chain_system(confinement)
    speeds = np.array([10.0, 20.0, 40.0, 80.0])
    all_speeds = np.concatenate([speeds, speeds])
    impacts = np.concatenate([np.zeros((4, 3)), np.tile([0.0, 1.0, 0.0], (4, 1))])
    sweep = jx.sweep_passes(system, all_speeds, (200,), impacts=impacts, progress=False)
    assert np.all(sweep.ok)
    expected = jx.chain_loss_closed_form(
        all_speeds, 0.01, 1.0, impacts[:, 1], K, confinement_parallel=confinement
    )
    np.testing.assert_allclose(sweep.loss, expected, rtol=1e-2)
    # The work left in the framework equals the ion's loss (energy bookkeeping).
    np.testing.assert_allclose(sweep.framework_energy, sweep.loss, rtol=1e-3)


def test_energy_conserved_over_a_pass_without_event():
    """Fixed end time, no event: total energy drifts by < 1e-3 of the loss (default tolerances)."""
    system = chain_system(1.0)
    geometry = jx.pass_geometry(system, impact=(0.0, 1.0, 0.0))
    speed = 15.0
    result = jx.simulate(
        system, (200,), geometry.start, speed * geometry.direction, float(geometry.path_length) / speed,
        constraint=geometry.direction,
    )
    assert abs(float(result.energy_drift)) < 1e-3 * float(result.loss)
    cubic = jx.System(jx.simple_cubic(), jx.Gaussian(0.01, 1.0))
    geometry = jx.pass_geometry(cubic, impact=(1.0, 0.0, 0.0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jx.EchoWarning)
        result = jx.simulate(cubic, (8, 8, 8), geometry.start, speed * geometry.direction, float(geometry.path_length) / speed)
    assert abs(float(result.energy_drift)) < 1e-3 * float(result.loss)


def test_newton_third_law_in_the_interaction():
    """The force on the ion is minus the sum of the forces on the sites, for any configuration."""
    system = jx.System(jx.simple_cubic(), jx.Gaussian(-0.3, 0.7), jx.cubic_cell_sites())
    rng = np.random.default_rng(3)
    for _ in range(5):
        sigma = jnp.asarray(rng.normal(size=3))
        rho = jnp.asarray(0.1 * rng.normal(size=(8, 3)))
        g_ion, g_sites = jax.grad(system.interaction_energy, argnums=(0, 1))(sigma, rho)
        np.testing.assert_allclose(g_ion, -jnp.sum(g_sites, axis=0), atol=1e-14)


def test_momentum_conserved_for_free_ion_and_unconfined_lattice():
    """No confinement, ion free in 3D: total momentum μσ' + Σρ' is conserved along the solve."""
    system = jx.System(jx.simple_cubic(), jx.Gaussian(0.05, 1.0), mass_ratio=2.0)
    velocity = jnp.array([0.3, -0.2, 6.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jx.EchoWarning)
        result = jx.simulate(system, (8, 8, 8), jnp.array([0.4, 0.2, -5.0]), velocity, 1.8)
    final = result.final_state
    momentum0 = 2.0 * velocity
    momentum1 = 2.0 * final.ion_velocity + jnp.sum(final.velocity, axis=(1, 2, 3))
    np.testing.assert_allclose(momentum1, momentum0, atol=1e-9)
    assert float(jnp.linalg.norm(final.ion_velocity - velocity)) > 1e-6  # the ion did exchange momentum


def test_gradient_of_loss_matches_finite_differences():
    """jax.grad of the loss w.r.t. Φ0 and λ through the solve, against central differences."""
    lattice = jx.chain3d(K, confinement_parallel=1.0)

    def loss(params):
        amplitude, width = params
        system = jx.System(lattice, jx.Gaussian(amplitude, width))
        return jx.simulate_pass(system, 12.0, (60,), impact=(0.0, 0.5, 0.0), dt=2e-3, margin=7.0).loss

    params = jnp.array([0.02, 1.0])
    gradient = jax.grad(loss)(params)
    for i in range(2):
        h = 1e-5 * float(params[i])
        step = jnp.zeros(2).at[i].set(h)
        finite = (loss(params + step) - loss(params - step)) / (2 * h)
        np.testing.assert_allclose(gradient[i], finite, rtol=1e-5)


def test_batched_members_do_not_disturb_each_other():
    """A reflected ion (never reaches the stop plane) in the batch leaves the others unchanged."""
    system = jx.System(jx.chain3d(K, confinement_parallel=1.0), jx.Gaussian(0.05, 1.0))
    speeds = np.array([0.5, 12.0, 30.0])  # KE at 0.5 is below Φ0: reflected
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jx.EchoWarning)
        sweep = jx.sweep_passes(system, speeds, (200,), progress=False)
        assert list(sweep.stopped_by_event) == [False, True, True]
        geometry = jx.pass_geometry(system)
        # the reflected ion runs to the time limit; the others end when they cross the stop plane
        assert sweep.end_time[0] == pytest.approx(3.0 * float(geometry.path_length) / speeds[0], rel=1e-12)
        for i in (1, 2):
            alone = jx.simulate_pass(system, speeds[i], (200,))
            assert float(alone.loss) == pytest.approx(sweep.loss[i], rel=1e-8)
            assert float(alone.end_time) == pytest.approx(sweep.end_time[i], rel=1e-10)
            crossed = float(np.dot(np.asarray(alone.final_state.ion_position - geometry.stop_point), np.asarray(geometry.direction)))
            assert abs(crossed) < 1e-9  # the final state is on the stop plane


def test_sweep_over_widths_with_batched_potentials():
    system = chain_system(1.0)
    widths = jnp.array([0.5, 1.0])
    potentials = jax.vmap(lambda w: jx.Gaussian(0.01, w))(widths)
    sweep = jx.sweep_passes(system, [30.0, 30.0], (200,), potentials=potentials, progress=False)
    expected = jx.chain_loss_closed_form(30.0, 0.01, np.asarray(widths), 0.0, K, confinement_parallel=1.0)
    np.testing.assert_allclose(sweep.loss, expected, rtol=1e-2)


@pytest.mark.filterwarnings("ignore::jaxion.EchoWarning")  # the slow pass outlasts the echo; not what is tested
def test_sweep_resumes_from_checkpoint(tmp_path):
    system = chain_system(1.0)
    speeds = [15.0, 25.0, 35.0, 45.0]
    path = tmp_path / "sweep.npz"
    full = jx.sweep_passes(system, speeds, (200,), batch_size=2, checkpoint=path, progress=False)
    # Keep only the first batch, as if the run had been killed after it.
    with np.load(path) as data:
        kept = {k: data[k] for k in data.files if not k.endswith("_1")}
    kept["batches"] = np.asarray(1)
    np.savez(path, **kept)
    resumed = jx.sweep_passes(system, speeds, (200,), batch_size=2, checkpoint=path, progress=False)
    np.testing.assert_array_equal(resumed.loss, full.loss)
    with pytest.raises(ValueError, match="other inputs"):
        jx.sweep_passes(system, [1.0, 2.0], (200,), batch_size=2, checkpoint=path, progress=False)


def test_bad_input_gives_clear_errors():
    system = chain_system(1.0)
    with pytest.raises(ValueError, match="mass_ratio"):
        jx.System(system.lattice, system.potential, mass_ratio=0.0)
    with pytest.raises(ValueError, match="speed"):
        jx.simulate_pass(system, -1.0, (200,))
    with pytest.raises(ValueError, match="too large for the fastest lattice mode"):
        jx.simulate_pass(system, 10.0, (200,), dt=0.05)
    with pytest.raises(ValueError, match="leaves the simulated supercell"):
        jx.simulate_pass(system, 10.0, (10,))
    with pytest.raises(ValueError, match="unknown solver"):
        jx.simulate_pass(system, 10.0, (200,), solver="rk45")
    with pytest.raises(ValueError, match="supercell must give 1"):
        jx.simulate_pass(system, 10.0, (20, 20))
    with pytest.raises(ValueError, match="perpendicular"):
        jx.simulate_pass(system, 10.0, (200,), impact=(0.0, 0.0, 1.0))
    with pytest.raises(ValueError, match="speeds"):
        jx.sweep_passes(system, [10.0, 0.0], (200,))
    with pytest.raises(ValueError, match="sites"):
        jx.System(system.lattice, system.potential, sites=[[0], [0]])
    with pytest.warns(jx.EchoWarning, match="echoes"):
        jx.simulate_pass(system, 1.0, (30,), time_limit_factor=1.1)


def test_simulate_pass_under_jit_equals_eager():
    """The solver set-up (ω_max for the first step and the stability check) works while a jit is traced."""
    system = jx.System(jx.chain3d(), jx.Gaussian(0.01, 1.0))
    jitted = jax.jit(lambda a: jx.simulate_pass(jx.System(system.lattice, jx.Gaussian(a, 1.0)), 20.0, (100,)).loss)
    assert float(jitted(0.01)) == pytest.approx(float(jx.simulate_pass(system, 20.0, (100,)).loss), rel=1e-12)


def test_warnings_point_at_the_callers_line():
    """An echo warning names the line of the caller's code (here, this file), not a line inside jaxion or the
    annotation checkers wrapped around it (``_validation.user_stacklevel``)."""
    import inspect
    import warnings

    system = jx.System(jx.chain3d(99 / 4, confinement_parallel=1.0), jx.Gaussian(0.01, 1.0))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        line = inspect.currentframe().f_lineno + 1
        jx.sweep_passes(system, np.array([1.0, 20.0]), (60,), impacts=(0, 1.0, 0), progress=False, solver="verlet")
    echoes = [w for w in caught if issubclass(w.category, jx.EchoWarning)]
    assert echoes, [str(w.message) for w in caught]
    assert all((w.filename, w.lineno) == (__file__, line) for w in echoes), [(w.filename, w.lineno) for w in echoes]
