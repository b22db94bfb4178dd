"""The stochastic time-local engine (jaxion.simulate_local_thermal) against independent references: the Boltzmann
distribution (equipartition, the position density exp(−U/T) by a Kolmogorov–Smirnov test, sampled independently by
inverse transform), the deterministic (1.26) of simulate_local as T → 0, the fluctuation–dissipation covariance 2TΓ
of the velocity increments, the vanishing Itô–Stratonovich drift, reproducibility and bad input."""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import jaxion as jx
from jaxion._constants import FOUR_PI_SQ

MU = 0.05
LINE = np.array([0.0, 0.0, 1.0])
CENTRE = np.array([1.0, 1.0, 1.0])  # the centre of a cubic cage of 8 repulsive atoms


@pytest.fixture(scope="module")
def cage():
    """An ion in the cage of the 8 atoms of a simple-cubic cell (paper values), held on the z line through the centre."""
    system = jx.System(jx.simple_cubic(), jx.Gaussian(4.0, 0.5), jx.cubic_cell_sites(), mass_ratio=MU)
    return jx.time_local_model(system)


def _line_density(model, temperature, z):
    energies = np.asarray(jax.vmap(lambda s: model.forces(jnp.asarray(CENTRE) + s * jnp.asarray(LINE))[2])(jnp.asarray(z)))
    weight = np.exp(-(energies - energies.min()) / temperature)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (weight[1:] + weight[:-1]) * np.diff(z))])
    return cdf / cdf[-1]


def _boltzmann_start(model, temperature, members, seed):
    """Members drawn from exp(−U/T) on the line (inverse transform of the numerical CDF) with Maxwell velocities."""
    z = np.linspace(-0.9, 0.9, 4001)
    cdf = _line_density(model, temperature, z)
    rng = np.random.default_rng(seed)
    offsets = np.interp(rng.random(members), cdf, z)
    positions = CENTRE + offsets[:, None] * LINE
    velocities = 2 * np.pi * np.sqrt(temperature / MU) * rng.standard_normal(members)[:, None] * LINE
    return positions, velocities, (z, cdf)


def test_boltzmann_is_stationary_on_a_line(cage):
    """Started in exp(−(μv²/8π² + U)/T), the ensemble stays there: ⟨μσ'²/(8π²)⟩ = T/2 and the positions pass a KS test
    against exp(−U/T) (members independent, so the test's assumptions hold at each time)."""
    temperature, members = 0.02, 1024
    positions, velocities, (z, cdf) = _boltzmann_start(cage, temperature, members, seed=0)
    result = jx.simulate_local_thermal(
        cage, positions, velocities, 10.0, thermal=jx.ThermalBath(temperature, jax.random.key(1), quantum=False),
        constraint=LINE, save_times=jnp.linspace(0.0, 10.0, 11),
    )
    assert np.all(np.asarray(result.status) == 0)
    kinetic = np.asarray(result.kinetic)[:, 1:]  # (members, 10 times); times 1 apart, members independent
    per_member = kinetic.mean(axis=1)
    ratio, error = per_member.mean() / (temperature / 2), per_member.std(ddof=1) / np.sqrt(members) / (temperature / 2)
    assert abs(ratio - 1) < 4 * error + 0.005, f"⟨KE⟩/(T/2) = {ratio:.4f} ± {error:.4f}"
    final = np.asarray(result.ion_positions)[:, -1] @ LINE - CENTRE @ LINE
    p = stats.kstest(final, lambda s: np.interp(s, z, cdf)).pvalue
    assert p > 1e-3, f"final positions vs exp(−U/T): KS p = {p:.2g}"


@pytest.mark.slow
def test_equipartition_free_ion_in_three_dimensions(cage):
    """A free ion started at rest in the cage heats up to T/2 per direction (the drag and noise alone bring it there)."""
    temperature, members = 0.01, 256
    start = np.tile(CENTRE, (members, 1))
    result = jx.simulate_local_thermal(
        cage, start, np.zeros_like(start), 40.0, thermal=jx.ThermalBath(temperature, jax.random.key(2), quantum=False),
        save_times=jnp.linspace(20.0, 40.0, 21),
    )
    velocities = np.asarray(result.ion_velocities)  # (members, times, 3)
    per_direction = MU * np.mean(velocities**2, axis=1) / (2 * FOUR_PI_SQ)  # (members, 3)
    ratio = per_direction.mean(axis=0) / (temperature / 2)
    error = per_direction.std(axis=0, ddof=1) / np.sqrt(members) / (temperature / 2)
    assert np.all(np.abs(ratio - 1) < 4 * error + 0.01), f"⟨KE_i⟩/(T/2) = {ratio} ± {error}"


@pytest.mark.slow
def test_zero_temperature_limit_is_the_deterministic_equation(cage):
    """As T → 0 a stochastic trajectory is (1.26)'s: the splitting integrator against simulate_local's adaptive dopri8."""
    start, velocity = CENTRE + np.array([0.05, -0.03, 0.3]), np.array([0.4, 0.2, -0.5])
    times = jnp.linspace(0.0, 5.0, 11)
    reference = jx.simulate_local(cage, start, velocity, 5.0, save_times=times)
    deviations = []
    for dt in (4e-3, 2e-3):
        noisy = jx.simulate_local_thermal(cage, start[None], velocity[None], 5.0, dt=dt, save_times=times,
                                          thermal=jx.ThermalBath(1e-14, jax.random.key(3), quantum=False))
        deviations.append(np.max(np.abs(np.asarray(noisy.ion_positions[0]) - np.asarray(reference.ion_positions))))
    # second order in the step (BAOAB): halving it divides the deviation by ~4, and it is small
    assert 3.0 < deviations[0] / deviations[1] < 5.0, deviations
    assert deviations[1] < 3e-3, deviations
    np.testing.assert_allclose(noisy.dissipated[0, -1], reference.dissipated[-1], rtol=1e-2)


@pytest.mark.parametrize("solver", [pytest.param("euler", marks=pytest.mark.slow), "baoab"])
def test_velocity_increments_have_covariance_two_t_gamma(cage, solver):
    """Fluctuation–dissipation: one step from rest, the velocity increments' covariance is (4π²/μ)² 2TΓ(σ) h."""
    temperature, members, h = 0.5, 20000, 1e-4
    position = CENTRE + np.array([0.2, -0.1, 0.15])
    start = np.tile(position, (members, 1))
    result = jx.simulate_local_thermal(cage, start, np.zeros_like(start), h, dt=h, solver=solver,
                                       thermal=jx.ThermalBath(temperature, jax.random.key(4), quantum=False),
                                       save_times=jnp.array([0.0, h]))
    increments = np.asarray(result.ion_velocities[:, -1] - result.ion_velocities[:, 0])
    force = np.asarray(cage.forces(jnp.asarray(position))[0])
    noise = increments - FOUR_PI_SQ / MU * force * h
    measured = noise.T @ noise / members
    expected = (FOUR_PI_SQ / MU) ** 2 * 2 * temperature * np.asarray(cage.forces(jnp.asarray(position))[1]) * h
    scale = np.sqrt(np.outer(np.diag(expected), np.diag(expected)))
    assert np.max(np.abs(measured - expected) / scale) < 5 * np.sqrt(2 / members), (measured, expected)


def test_ito_and_stratonovich_drift_correction_vanishes(cage):
    """½ Σ_jk g_jk ∂g_ik/∂y_j = 0 for the noise amplitude g(y) of the engine: the two readings are one process."""
    from jaxion.dynamics.local_thermal import _member_amplitude, _noise_factor, _ThermalArgs

    args = _ThermalArgs(cage, None, jnp.zeros(3), _noise_factor(cage, 0.3))
    y = jnp.concatenate([jnp.asarray(CENTRE) + jnp.array([0.1, 0.2, -0.1]), jnp.array([0.3, -0.4, 0.5]), jnp.zeros(1)])
    g = _member_amplitude(y, args)  # (7, 3)
    derivative = jax.jacfwd(lambda yy: _member_amplitude(yy, args))(y)  # (7, 3, 7): ∂g_ik/∂y_j
    correction = 0.5 * jnp.einsum("jk,ikj->i", g, derivative)
    assert float(jnp.max(jnp.abs(g))) > 1e-6  # the amplitude is not trivially zero
    assert float(jnp.max(jnp.abs(correction))) == 0.0


@pytest.mark.slow
def test_same_key_same_trajectories_and_chunks_do_not_matter(cage):
    start = np.tile(CENTRE, (6, 1)) + 0.01 * np.arange(6)[:, None]
    run = lambda chunk, seed=5: jx.simulate_local_thermal(  # noqa: E731
        cage, start, np.zeros_like(start), 1.0, dt=0.005, chunk_size=chunk,
        thermal=jx.ThermalBath(0.02, jax.random.key(seed), quantum=False))
    a, b = run(6), run(6)
    assert np.array_equal(np.asarray(a.ion_positions), np.asarray(b.ion_positions))
    c = run(2)  # each member keeps its own key, whatever chunk it runs in
    np.testing.assert_allclose(np.asarray(c.ion_positions), np.asarray(a.ion_positions), rtol=0, atol=1e-12)
    d = run(6, seed=6)
    assert not np.allclose(np.asarray(d.ion_positions), np.asarray(a.ion_positions))


@pytest.mark.slow
def test_channel_model_equals_the_long_site_list():
    """A channel model (period reduction, sites around one period) = the same landscape from an explicit long list."""
    lattice = jx.simple_cubic()
    period = np.array([0.0, 0.0, 2.0])
    short = jx.System(lattice, jx.Gaussian(4.0, 0.5), jx.channel_sites(lattice, [1.0, 1.0, 0.0], period, 2.5), mass_ratio=MU)
    long = jx.System(lattice, jx.Gaussian(4.0, 0.5), jx.sites_near_line(lattice, [1.0, 1.0, -6.0], [0, 0, 1.0], 2.5, 12.0),
                     mass_ratio=MU)
    channel = jx.time_local_model(short, period=period)
    explicit = jx.time_local_model(long)
    for z in (-0.7, 0.0, 0.31, 1.0, 2.9):
        for model_shift in (0.0, 2.0, -4.0):
            if abs(z + model_shift) > 3.0:
                continue
            p = jnp.array([1.05, 0.97, z + model_shift])
            a, b = channel.forces(p), explicit.forces(p)
            for x, y in zip(a, b):
                np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-7, atol=2e-7)  # cutoff 5λ: e^{-12.5} terms


def test_bad_input_names_the_parameter(cage):
    start = CENTRE[None]
    bath = jx.ThermalBath(0.02, jax.random.key(0), quantum=False)
    with pytest.raises(ValueError, match="quantum"):
        jx.simulate_local_thermal(cage, start, 0 * start, 1.0, thermal=jx.ThermalBath(0.02, jax.random.key(0)))
    with pytest.raises(ValueError, match="temperature"):
        jx.ThermalBath(-0.1, jax.random.key(0), quantum=False)
    with pytest.raises(ValueError, match="oscillation"):
        jx.simulate_local_thermal(cage, start, 0 * start, 1.0, thermal=bath, dt=0.2)
    with pytest.raises(ValueError, match="thermal.key"):
        jx.simulate_local_thermal(cage, np.tile(CENTRE, (3, 1)), np.zeros((3, 3)), 1.0,
                                  thermal=jx.ThermalBath(0.02, jax.random.split(jax.random.key(0), 2), quantum=False))
    with pytest.raises(ValueError, match="recoil"):
        bad = jx.TimeLocalModel(cage.system, -cage.recoil, cage.greens)
        jx.simulate_local_thermal(bad, start, 0 * start, 1.0, thermal=bath)
    with pytest.raises(ValueError, match="drag"):
        jx.simulate_local_thermal(jx.time_local_model(cage.system, drag=False, greens=cage.greens), start, 0 * start, 1.0,
                                  thermal=bath)
    with pytest.raises(ValueError, match="thermal must be"):
        jx.simulate_local_thermal(cage, start, 0 * start, 1.0, thermal=0.02)


def test_traced_negative_temperature_is_an_error(cage):
    """Under jit the temperature is a tracer: the in-graph check still refuses a negative one."""
    start = CENTRE[None]

    @jax.jit
    def run(temperature):
        bath = jx.ThermalBath(temperature, jax.random.key(0), quantum=False)
        return jx.simulate_local_thermal(cage, start, 0 * start, 0.05, thermal=bath, dt=0.005, max_steps=20).kinetic

    assert np.all(np.isfinite(np.asarray(run(0.02))))
    with pytest.raises(Exception, match="temperature"):
        jax.block_until_ready(run(-0.02))


@pytest.mark.slow
def test_forward_and_reverse_derivatives_match_finite_differences(cage):
    """Pathwise derivative of a noisy observable with respect to the potential's strength (fixed key): jax.jvp with the
    fast Brownian path and jax.grad with the Brownian tree, against central differences of the same runs."""
    start, velocity = CENTRE[None] + 0.1, np.array([[0.3, -0.2, 0.4]])

    def observable(strength, brownian):
        system = jx.System(cage.system.lattice, jx.Gaussian(strength, 0.5), jx.cubic_cell_sites(), mass_ratio=MU)
        model = jx.TimeLocalModel(system, cage.recoil, cage.greens)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = jx.simulate_local_thermal(model, start, velocity, 1.0, dt=0.005, brownian=brownian, max_steps=201,
                                               thermal=jx.ThermalBath(0.05, jax.random.key(7), quantum=False))
        return result.ion_positions[0, -1, 2]

    eps = 1e-5
    for brownian, derivative in (("unsafe", lambda f, x: jax.jvp(f, (x,), (1.0,))[1]), ("tree", lambda f, x: jax.grad(f)(x))):
        f = lambda s, b=brownian: observable(s, b)  # noqa: E731
        exact = float(derivative(f, jnp.asarray(4.0)))
        numeric = (float(f(jnp.asarray(4.0 + eps))) - float(f(jnp.asarray(4.0 - eps)))) / (2 * eps)
        assert abs(exact - numeric) < 1e-5 * max(1.0, abs(numeric)), (brownian, exact, numeric)


@pytest.mark.slow
def test_hop_rates_against_rate_theory_and_the_barrier(tmp_path):
    """The thermal-diffusion figure's numbers (quick size): escapes counted from the stochastic engine against the
    Mel'nikov–Meshkov rate of the same softened landscape and drag (energy-diffusion regime), and the activation
    energy of k·T (prefactor ∝ 1/T removed) against the softened static barrier."""
    from jaxion.figures import FigureRun
    from jaxion.figures.thermal import thermal_diffusion

    out = thermal_diffusion(FigureRun(out=tmp_path, quick=True, progress=False))
    data, parameters = out["data"], out["parameters"]
    ratio = data["rates"] / data["melnikov"]
    assert np.all((ratio > 0.4) & (ratio < 1.3)), ratio
    assert set(parameters["regimes"]) == {"energy-diffusion"}
    barrier, fitted = parameters["barrier"], parameters["activation_energy_k_times_t"]
    error = parameters["activation_energy_k_times_t_error"]
    assert abs(fitted - barrier) < 3 * error + 0.05 * barrier, (fitted, error, barrier)


@pytest.mark.slow
def test_mobility_under_a_small_bias_obeys_nernst_einstein():
    """Linear response: the drift under a small bias F along a channel gives the mobility v_d/F = D/T, with D from
    the Einstein relation of unbiased runs (turnover friction: Φ0 = 40 in the cube-centre channel, ΔU/T ≈ 2)."""
    from jaxion.figures.thermal import LINE, POINT, channel_model

    model = channel_model(strength=40.0)
    temperature, members, duration, bias = 1.0, 256, 40.0, 0.05
    rng = np.random.default_rng(1)
    velocities = 2 * np.pi * np.sqrt(temperature / MU) * rng.standard_normal(members)[:, None] * LINE
    starts = np.tile(POINT + LINE, (members, 1))
    times = jnp.linspace(0.0, duration, 401)
    runs = [jx.simulate_local_thermal(model, starts, velocities, duration, constraint=LINE, save_times=times, bias_force=f,
                                      thermal=jx.ThermalBath(temperature, jax.random.key(seed), quantum=False))
            for f, seed in ((0.0, 0), (bias, 5))]
    diffusion = jx.diffusion_einstein(np.asarray(runs[0].ion_positions)[:, 40:], 0.1)
    mobility = jx.mobility(jx.drift_velocity(np.asarray(runs[1].ion_positions)[:, 40:], 0.1), bias * LINE)
    einstein = jx.nernst_einstein_mobility(float(diffusion.tensor[2, 2]), temperature)
    einstein_error = float(diffusion.error[2, 2]) / temperature
    assert mobility.error < 0.15 * mobility.value and einstein_error < 0.15 * einstein.value  # the test can resolve it
    combined = np.hypot(mobility.error, einstein_error)
    assert abs(mobility.value - einstein.value) < 3 * combined, (mobility, einstein.value, einstein_error)
