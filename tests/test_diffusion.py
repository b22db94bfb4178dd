"""Diffusion observables (jaxion.diffusion) against independent references: the exact Ornstein–Uhlenbeck
process (VACF σ² e^{−γs}, D = σ²/γ), the analytic standard error of an AR(1) mean, direct O(T²) sums,
hand-made hop paths, a lattice random walk of known rate, and exact Arrhenius data. Error bars are checked
against the scatter over independent seeds."""

import jax.numpy as jnp
import numpy as np
import pytest
from scipy.signal import lfilter

from jaxion import diffusion as jd

GAMMA, SIGMA2, DT = 1.0, 1.0, 0.1  # OU: friction rate (1/τ), velocity variance per component, save interval
D_EXACT = SIGMA2 / GAMMA


def ornstein_uhlenbeck(seed: int, members: int, times: int, dt: float = DT, gamma: float = GAMMA, sigma2: float = SIGMA2):
    """Exact discrete OU velocities and their exact time integral (Gillespie, Phys. Rev. E 54, 2084 (1996)):
    ``v_{n+1} = a v_n + ξ_v``, ``x_{n+1} = x_n + v_n (1 − a)/γ + ξ_x`` with ``a = e^{−γdt}``,
    ``Var ξ_v = σ²(1 − a²)``, ``Var ξ_x = (σ²/γ²)(2γdt − 3 + 4a − a²)``, ``Cov = (σ²/γ)(1 − a)²``; stationary start."""
    rng = np.random.default_rng(seed)
    a = np.exp(-gamma * dt)
    var_v = sigma2 * (1 - a * a)
    var_x = sigma2 / gamma**2 * (2 * gamma * dt - 3 + 4 * a - a * a)
    c = sigma2 / gamma * (1 - a) ** 2 / var_v
    xi_v = rng.standard_normal((members, times, 3)) * np.sqrt(var_v)
    eta = rng.standard_normal((members, times, 3)) * np.sqrt(var_x - c * c * var_v)
    drive = np.concatenate([rng.standard_normal((members, 1, 3)) * np.sqrt(sigma2), xi_v[:, :-1]], axis=1)
    v = np.asarray(lfilter([1.0], [1.0, -a], drive, axis=1))
    steps = v[:, :-1] * (1 - a) / gamma + c * xi_v[:, :-1] + eta[:, :-1]
    x = np.concatenate([np.zeros((members, 1, 3)), np.cumsum(steps, axis=1)], axis=1)
    return x, v


def ar1(rng, shape, phi):
    return np.asarray(lfilter([1.0], [1.0, -phi], rng.standard_normal(shape), axis=-1))


# ----------------------------------------------------------------------------- blocking


def test_block_average_matches_the_analytic_ar1_error():
    """AR(1) ``x_n = φ x_{n−1} + ε``: Var(mean) ≈ var (1+φ)/(1−φ)/N with var = 1/(1−φ²), τ_int = (1+φ)/(1−φ)."""
    phi, n = 0.9, 2**16
    se = np.sqrt(1 / (1 - phi**2) * (1 + phi) / (1 - phi) / n)
    results = [jd.block_average(ar1(np.random.default_rng(seed), n, phi)) for seed in range(12)]
    ratios = np.array([r.error / se for r in results])
    assert np.all(np.abs(ratios - 1) < 0.25), ratios
    assert abs(np.mean(ratios) - 1) < 0.06, np.mean(ratios)
    assert abs(np.mean([r.correlation_time for r in results]) / 19 - 1) < 0.12
    # the reported error is the scatter of the means over seeds
    means = np.array([r.mean for r in results])
    assert 0.6 < np.std(means, ddof=1) / np.mean([r.error for r in results]) < 1.5
    assert all(r.block_size * r.blocks <= n and r.error_of_error < 0.1 * r.error for r in results)


def test_block_average_of_independent_members_and_white_noise():
    rng = np.random.default_rng(3)
    phi, members, times = 0.8, 16, 4096
    tau = (1 + phi) / (1 - phi)
    x = ar1(rng, (members, times), phi)
    pooled = jd.block_average(x)
    assert abs(pooled.error / np.sqrt(tau / (1 - phi**2) / (members * times)) - 1) < 0.2
    assert jd.block_average(x.T, axis=0).error == pytest.approx(pooled.error, rel=1e-12)
    assert pooled.mean == pytest.approx(np.mean(x))
    # many short members: the whole-member level is exact (members are independent)
    short = ar1(rng, (400, 64), phi)
    result = jd.block_average(short)
    assert abs(result.error / (np.std(short.mean(axis=1), ddof=1) / 20) - 1) < 0.25
    white = jd.block_average(rng.standard_normal(2**14))
    assert abs(white.error * 2**7 - 1) < 0.15 and abs(white.correlation_time - 1) < 0.3


def test_block_average_warns_without_a_plateau():
    walk = np.cumsum(np.random.default_rng(0).standard_normal(1024))
    with pytest.warns(RuntimeWarning, match="no plateau"):
        jd.block_average(walk)


# ----------------------------------------------------------------------------- correlations


def _direct_msd(x, lags):
    return np.array(
        [
            np.mean([np.einsum("ti,tj->ij", m[k:] - m[: len(m) - k], m[k:] - m[: len(m) - k]) / (len(m) - k) for m in x], axis=0)
            for k in range(lags)
        ]
    )


def _direct_vacf(v, lags):
    return np.array([np.mean([np.einsum("ti,tj->ij", m[: len(m) - k], m[k:]) / (len(m) - k) for m in v], axis=0) for k in range(lags)])


@pytest.mark.parametrize("chunked", [False, True])
def test_fft_correlations_equal_the_direct_sums(chunked, monkeypatch):
    if chunked:  # one member per FFT batch
        monkeypatch.setattr(jd, "_FFT_CHUNK", 1)
    rng = np.random.default_rng(1)
    x = np.cumsum(rng.standard_normal((3, 57, 3)), axis=1) + 5.0
    msd = jd.mean_square_displacement(x, 0.5)
    np.testing.assert_allclose(msd.msd, _direct_msd(x, 57), rtol=0, atol=1e-12 * np.max(np.abs(msd.msd)))
    np.testing.assert_allclose(msd.lags, 0.5 * np.arange(57))
    vacf = jd.velocity_autocorrelation(jnp.asarray(x), 0.5, max_lag=10.0)  # JAX input, lags up to 10 τ
    assert vacf.C.shape == (21, 3, 3)
    np.testing.assert_allclose(vacf.C, _direct_vacf(x, 21), rtol=1e-12)
    one = jd.mean_square_displacement(x[0], 0.5, max_lag=3.0)  # a single (times, 3) member
    np.testing.assert_allclose(one.msd, _direct_msd(x[:1], 7), atol=1e-12 * np.max(np.abs(one.msd)))


def test_vacf_of_the_ou_process():
    _, v = ornstein_uhlenbeck(0, 32, 4000)
    vacf = jd.velocity_autocorrelation(v, DT, max_lag=4.0)
    exact = SIGMA2 * np.exp(-GAMMA * vacf.lags)
    np.testing.assert_allclose(np.einsum("kii->k", vacf.C) / 3, exact, atol=0.03)
    off = vacf.C[:, [0, 0, 1], [1, 2, 2]]
    assert np.max(np.abs(off)) < 0.03


# ----------------------------------------------------------------------------- diffusion


def test_einstein_and_green_kubo_recover_the_ou_diffusion_with_realistic_errors():
    seeds = 16
    estimates = {"einstein": [], "green_kubo": []}
    for seed in range(seeds):
        x, v = ornstein_uhlenbeck(seed, 32, 4000)
        estimates["einstein"].append(jd.diffusion_einstein(x, DT, fit_from=5.0, fit_to=50.0))
        estimates["green_kubo"].append(jd.diffusion_green_kubo(v, DT, max_lag=10.0))
    for name, runs in estimates.items():
        scalars = np.array([r.scalar for r in runs])
        errors = np.array([r.scalar_error for r in runs])
        assert np.all(np.abs(scalars - D_EXACT) < 4 * errors), (name, scalars, errors)
        assert 1 / 1.6 < np.std(scalars, ddof=1) / np.mean(errors) < 1.6, name
        diagonal = np.array([np.diag(r.tensor) for r in runs])
        diagonal_errors = np.array([np.diag(r.error) for r in runs])
        assert np.all(np.abs(diagonal - D_EXACT) < 4 * diagonal_errors), name
        assert 1 / 1.6 < np.std(diagonal, ddof=1) / np.mean(diagonal_errors) < 1.6, name
        off = np.array([r.tensor[0, 1] for r in runs])  # D_xy = 0
        assert np.all(np.abs(off) < 4 * np.array([r.error[0, 1] for r in runs])), name
        assert runs[0].samples == 32 and np.allclose(runs[0].tensor, runs[0].tensor.T)


def test_one_member_uses_blocks_of_time():
    scalars, errors = [], []
    for seed in range(10):
        x, v = ornstein_uhlenbeck(100 + seed, 1, 40000)
        einstein = jd.diffusion_einstein(x[0], DT, 5.0, 50.0)
        kubo = jd.diffusion_green_kubo(v, DT, 10.0, blocks=16)
        assert einstein.samples == 8 and kubo.samples == 16
        for result in (einstein, kubo):
            assert abs(result.scalar - D_EXACT) < 4 * result.scalar_error
        scalars.append(kubo.scalar)
        errors.append(kubo.scalar_error)
    assert 0.5 < np.std(scalars, ddof=1) / np.mean(errors) < 2.0


def test_mobility_from_drift_matches_nernst_einstein():
    """Langevin ion with mass m, friction γ, force F at temperature T: v = F/(mγ) + OU(σ² = T/m), so the
    drift mobility 1/(mγ) equals D/T (Einstein–Smoluchowski) — the identity the two functions compare."""
    mass, temperature, force = 2.0, 0.5, np.array([0.0, 0.0, 0.02])
    x, v = ornstein_uhlenbeck(7, 64, 4000, sigma2=temperature / mass)
    drift = force / (mass * GAMMA)
    x = x + drift * DT * np.arange(4000)[:, None]
    u_drift = jd.mobility(jd.drift_velocity(x, DT), force)
    u_ne = jd.nernst_einstein_mobility(jd.diffusion_green_kubo(v, DT, 10.0), temperature)
    assert abs(u_drift.value - 1 / (mass * GAMMA)) < 4 * u_drift.error
    assert abs(u_ne.value[2, 2] - 1 / (mass * GAMMA)) < 4 * u_ne.error[2, 2]
    assert abs(u_drift.value - u_ne.value[2, 2]) < 4 * np.hypot(u_drift.error, u_ne.error[2, 2])
    # scalar arithmetic and the projection along the force
    assert jd.mobility(0.3, 0.1).value == pytest.approx(3.0)
    assert np.isnan(jd.mobility(0.3, 0.1).error)
    projected = jd.mobility(jd.Estimate(np.array([1.0, 2.0, 2.0]), np.array([0.0, 0.3, 0.4])), np.array([0.0, 0.0, 2.0]))
    assert projected.value == pytest.approx(1.0) and projected.error == pytest.approx(0.2)


# ----------------------------------------------------------------------------- hops


def test_count_hops_on_hand_made_paths():
    recross = [0.0, 0.1, 0.45, 0.55, 0.7, 0.6, 0.45, 0.52, 0.3, 0.0]  # over the barrier at 0.5, never within 0.25 of 1
    assert jd.count_hops(recross, 1.0).counts == 0
    flight = [0.0, 0.4, 0.7, 1.3, 1.6, 2.0, 2.1]  # skips the core of 1 (|x − 1| = 0.3)
    hops = jd.count_hops(flight, 1.0)
    assert hops.counts == 1 and hops.net_displacement == 2 and hops.jumps.tolist() == [2]
    there_and_back = jd.count_hops([0.0, 0.9, 1.1, 0.5, 0.2, -0.1], 1.0)
    assert there_and_back.counts == 2 and there_and_back.net_displacement == 0 and there_and_back.jumps.tolist() == [1, -1]
    assert jd.count_hops([0.5, 0.6, 1.0, 1.1], 1.0).counts == 0  # starts on the barrier: the first core is home
    origin, period = 0.3, 2.0
    shifted = origin + period * np.array([0.0, -0.6, -1.0, -1.5, -2.4, -3.1])
    batch = jd.count_hops(np.stack([shifted, np.full(6, origin)]), period, origin=origin)
    assert batch.counts.tolist() == [2, 0] and batch.net_displacement.tolist() == [-3, 0] and batch.jumps.tolist() == [-1, -2]
    wide = jd.count_hops(recross, 1.0, core=0.35)  # a wider core reaches 0.7: now two hops
    assert wide.counts == 2


def test_hop_rate_of_a_lattice_random_walk():
    """Each step the ion hops ±1 with probability p = k dt (k = total rate), otherwise rattles in its core."""
    rate, dt, period, members, times = 0.05, 0.5, 3.0, 20, 20000
    values, errors = [], []
    for seed in range(6):
        rng = np.random.default_rng(seed)
        hops = rng.choice([-1, 0, 1], p=[rate * dt / 2, 1 - rate * dt, rate * dt / 2], size=(members, times - 1))
        sites = np.concatenate([np.zeros((members, 1)), np.cumsum(hops, axis=1)], axis=1)
        x = period * (sites + rng.uniform(-0.2, 0.2, sites.shape))
        result = jd.hop_rate(x, period, dt)
        counted = jd.count_hops(x, period)
        assert result.hops == np.count_nonzero(hops) and set(np.abs(counted.jumps)) == {1}
        np.testing.assert_array_equal(counted.net_displacement, sites[:, -1] - sites[:, 0])
        assert abs(result.value - rate) < 3.5 * result.error
        assert 0.6 < result.member_error / result.poisson_error < 1.5
        values.append(result.value)
        errors.append(result.error)
    assert 0.4 < np.std(values, ddof=1) / np.mean(errors) < 2.0


# ----------------------------------------------------------------------------- Arrhenius


def test_arrhenius_fit_recovers_exact_data_and_realistic_errors():
    energy, prefactor = 2.0, 5.0
    t = np.linspace(0.2, 1.0, 8)
    exact = prefactor * np.exp(-energy / t)
    fit = jd.arrhenius_fit(t, exact)
    assert fit.activation_energy == pytest.approx(energy, rel=1e-12) and fit.prefactor == pytest.approx(prefactor, rel=1e-12)
    np.testing.assert_allclose(fit(t), exact, rtol=1e-12)
    rng = np.random.default_rng(0)
    draws = [exact * np.exp(0.05 * rng.standard_normal(t.size)) for _ in range(400)]
    weighted = [jd.arrhenius_fit(t, y, errors=0.05 * y) for y in draws]
    plain = [jd.arrhenius_fit(t, y) for y in draws]
    for fits in (weighted, plain):
        energies = np.array([f.activation_energy for f in fits])
        prefactors = np.array([f.prefactor for f in fits])
        assert abs(np.mean(energies) - energy) < 4 * np.std(energies) / 20
        assert abs(np.std(energies) / np.mean([f.activation_energy_error for f in fits]) - 1) < 0.15
        assert abs(np.std(np.log(prefactors)) / np.mean([f.prefactor_error / f.prefactor for f in fits]) - 1) < 0.15
        correlation = np.corrcoef(energies, np.log(prefactors))[0, 1]
        reported = fits[0].covariance[0, 1] / np.sqrt(fits[0].covariance[0, 0] * fits[0].covariance[1, 1])
        assert abs(correlation - reported) < 0.05
    predictions = np.array([f(0.5) for f in weighted])
    assert abs(np.std(np.log(predictions)) / (weighted[0].predict(0.5).error / weighted[0](0.5)) - 1) < 0.15
    assert np.isnan(jd.arrhenius_fit([0.5, 1.0], [1.0, 2.0]).activation_energy_error)


# ----------------------------------------------------------------------------- bad input

_X = np.zeros((2, 10, 3))
BAD = [
    (lambda: jd.mean_square_displacement(np.zeros((2, 10, 2)), 0.1), "positions"),
    (lambda: jd.velocity_autocorrelation(np.zeros((10,)), 0.1), "velocities"),
    (lambda: jd.velocity_autocorrelation(np.zeros((1, 3)), 0.1), "velocities"),
    (lambda: jd.mean_square_displacement(_X, 0.0), "dt"),
    (lambda: jd.mean_square_displacement(_X, -1.0), "dt"),
    (lambda: jd.mean_square_displacement(np.where(np.arange(3) == 1, np.nan, _X), 0.1), "positions"),
    (lambda: jd.velocity_autocorrelation(_X, 0.1, max_lag=5.0), "max_lag"),
    (lambda: jd.diffusion_einstein(_X, 0.1, fit_from=0.5, fit_to=0.5), "fit_to"),
    (lambda: jd.diffusion_einstein(_X, 0.1, fit_from=-0.1, fit_to=0.5), "fit_from"),
    (lambda: jd.diffusion_einstein(_X, 0.1, fit_from=0.1, fit_to=2.0), "fit_to"),
    (lambda: jd.diffusion_einstein(_X[0], 0.1, 0.1, 0.3, blocks=1), "blocks"),
    (lambda: jd.diffusion_green_kubo(_X, 0.1, max_lag=0.0), "max_lag"),
    (lambda: jd.diffusion_green_kubo(_X, 0.1, 0.5, blocks=0), "blocks"),
    (lambda: jd.block_average(np.zeros((2, 3, 4))), "samples"),
    (lambda: jd.block_average([1.0]), "samples"),
    (lambda: jd.block_average([1.0, np.inf]), "samples"),
    (lambda: jd.block_average(np.zeros((2, 4)), axis=2), "axis"),
    (lambda: jd.count_hops(np.zeros(5), 0.0), "period"),
    (lambda: jd.count_hops(np.zeros(5), -1.0), "period"),
    (lambda: jd.count_hops(np.zeros(5), 1.0, core=0.5), "core"),
    (lambda: jd.count_hops(np.zeros(5), 1.0, origin=np.nan), "origin"),
    (lambda: jd.count_hops(np.zeros((2, 3, 4)), 1.0), "coordinate"),
    (lambda: jd.count_hops([0.0, np.nan], 1.0), "coordinate"),
    (lambda: jd.hop_rate(np.zeros(5), 1.0, dt=0.0), "dt"),
    (lambda: jd.arrhenius_fit([1.0], [1.0]), "temperatures"),
    (lambda: jd.arrhenius_fit([1.0, 1.0], [1.0, 2.0]), "temperatures"),
    (lambda: jd.arrhenius_fit([1.0, -2.0], [1.0, 2.0]), "temperatures"),
    (lambda: jd.arrhenius_fit([1.0, 2.0], [1.0, 0.0]), "values"),
    (lambda: jd.arrhenius_fit([1.0, 2.0], [1.0, 2.0, 3.0]), "values"),
    (lambda: jd.arrhenius_fit([1.0, 2.0], [1.0, np.nan]), "values"),
    (lambda: jd.arrhenius_fit([1.0, 2.0], [1.0, 2.0], errors=[0.1, -0.1]), "errors"),
    (lambda: jd.mobility(1.0, 0.0), "bias_force"),
    (lambda: jd.mobility(np.ones(3), 1.0), "bias_force"),
    (lambda: jd.nernst_einstein_mobility(1.0, 0.0), "temperature"),
]


@pytest.mark.parametrize("call, name", BAD, ids=[f"{i}-{name}" for i, (_, name) in enumerate(BAD)])
def test_bad_input_names_the_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()


# Wrong types: the suite's run-time type check (jaxtyping + beartype) refuses them first, as a TypeError naming the
# parameter; without it the module's own checks raise a ValueError naming it.
WRONG_TYPE = [
    (lambda: jd.mean_square_displacement(_X, np.ones(2)), "dt"),
    (lambda: jd.diffusion_green_kubo(_X, 0.1, 0.5, blocks=2.5), "blocks"),  # pyright: ignore[reportArgumentType]
]


@pytest.mark.parametrize("call, name", WRONG_TYPE, ids=[name for _, name in WRONG_TYPE])
def test_wrong_types_name_the_parameter(call, name):
    with pytest.raises((TypeError, ValueError), match=name):
        call()
