"""Inverse problems (jaxion.fit): recovery of known parameters from synthetic loss curves, uncertainties
against the scatter of repeated noisy fits, gradients through the full solve, a user-defined
reparametrisation, and bad input. (Screening: tests/test_screening.py.)"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxion as jx
from jaxion import fit as F
from jaxion.theory.modes import zone_modes, zone_quadrature

K = 99 / 4
SPEEDS = np.geomspace(3.0, 60.0, 12)


def chain_data(amplitude, width, coupling=K, speeds=SPEEDS):
    """(1.14) through the public closed form (not through jaxion.fit)."""
    return np.asarray(jx.chain_loss_closed_form(speeds, amplitude, width, 0.0, coupling, confinement_parallel=1.0))


def factor_two_starts(truth: dict) -> dict:
    """Starts a factor 2 away from the truth (up and down, alternating between parameters)."""
    return {
        name: [value * 2.0, value / 2.0] if i % 2 == 0 else [value / 2.0, value * 2.0]
        for i, (name, value) in enumerate(truth.items())
    }


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_chain_recovery_without_noise(sign):
    """(1.14) with Φ0, λ and k∥ free, from starts a factor 2 away: within 1 %."""
    truth = {"amplitude": sign * 0.02, "width": 1.3, "coupling_parallel": 30.0}
    target = F.Target(SPEEDS, chain_data(truth["amplitude"], truth["width"], truth["coupling_parallel"]))
    model = F.chain_model(
        {"amplitude": F.Positive(sign), "width": F.Positive(), "coupling_parallel": F.Bounded(1.0, 200.0)}
    )
    result = F.fit(model, target, factor_two_starts(truth), max_iterations=300, polish_steps=40)
    assert result.all_params.shape == (2, 3)
    for name, value in truth.items():
        assert result.params[name] == pytest.approx(value, rel=1e-2), (name, result.params, result.reasons)
    assert np.sign(result.params["amplitude"]) == sign
    assert result.reasons[result.best_index] in ("gradient norm", "relative change")
    assert result.history.shape[1] == 2 and result.history[-1, result.best_index] < 1e-12
    assert max(result.iterations) <= 300 + 40  # the optax phase's limit plus the polish's
    # printed: the fitted numbers by name with their 1σ, not array shapes
    printed = repr(result)
    for name in truth:
        assert f"{name} = {result.params[name]:.6g} ± {result.errors[name]:.2g}" in printed, printed
    assert "f64[" not in printed and "stopped by:" in printed


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_cubic_mode_sum_recovery_without_noise(sign):
    """(1.13) on paper 1's simple cubic lattice (coarse zone rule, same for data and fit), offset path."""
    lattice = jx.simple_cubic(15.0, 5.0, 2.0)
    quadrature = zone_quadrature(3, 1, 3, 1 / 2)  # 18³ nodes: fast; the same rule for data and fit
    truth = {"amplitude": sign * 0.015, "width": 0.8}
    speeds = np.geomspace(2.0, 40.0, 8)
    system = jx.System(lattice, jx.Gaussian(truth["amplitude"], truth["width"]))
    data = jx.mode_sum_loss(system, speeds, (0.5, 0.0, 0.0), modes=zone_modes(lattice, quadrature))
    model = F.mode_sum_model(lattice, {"amplitude": F.Positive(sign), "width": F.Positive()},
                             impact=(0.5, 0.0, 0.0), quadrature=quadrature)
    result = F.fit(model, F.Target(speeds, data), factor_two_starts(truth), max_iterations=30)
    for name, value in truth.items():
        assert result.params[name] == pytest.approx(value, rel=1e-2), (name, result.params, result.reasons)


def test_two_gaussians_of_opposite_sign_on_the_chain():
    """Several Gaussians through the mode sum (their cross term fixes the relative sign)."""
    lattice = jx.chain3d(K, confinement_parallel=1.0)
    truth = {"amplitude_0": 0.03, "width_0": 0.7, "amplitude_1": -0.01, "width_1": 1.6}
    potential = jx.Gaussian(0.03, 0.7) + jx.Gaussian(-0.01, 1.6)
    data = jx.mode_sum_loss(jx.System(lattice, potential), SPEEDS, (0.0, 0.5, 0.0))
    model = F.mode_sum_model(
        lattice, {"amplitude_0": F.Positive(), "amplitude_1": F.Positive(-1.0)},
        {"width_0": 0.7, "width_1": 1.6}, gaussians=2, impact=(0.0, 0.5, 0.0),
    )
    result = F.fit(model, F.Target(SPEEDS, data), {"amplitude_0": [0.06, 0.015], "amplitude_1": [-0.005, -0.02]})
    for name in ("amplitude_0", "amplitude_1"):
        assert result.params[name] == pytest.approx(truth[name], rel=1e-2)


def test_noisy_fit_uncertainty_matches_scatter():
    """1 % multiplicative noise: the fit lands within 3σ of the truth for each seed, χ²/(n−p) is of
    order 1, and the reported σ agrees with the scatter of the estimates over 24 noise realisations."""
    truth = {"amplitude": -0.02, "width": 1.3}
    clean = chain_data(truth["amplitude"], truth["width"])
    model = F.chain_model({"amplitude": F.Positive(-1.0), "width": F.Positive()})
    estimates, sigmas = [], []
    for seed in range(24):
        noisy = clean * (1.0 + 0.01 * np.random.default_rng(seed).standard_normal(clean.size))
        result = F.fit(model, F.Target(SPEEDS, noisy, 0.01 * noisy), factor_two_starts(truth))
        values = np.array([result.params[n] for n in truth])
        sigma = np.array([result.errors[n] for n in truth])
        if seed < 3:
            assert np.all(np.abs(values - np.array(list(truth.values()))) < 3 * sigma), (seed, values, sigma)
            assert np.all(sigma < 0.05 * np.abs(values))
            assert 0.1 < float(result.chi2) / (SPEEDS.size - 2) < 3.0
        estimates.append(values)
        sigmas.append(sigma)
    scatter = np.std(np.array(estimates), axis=0, ddof=1)
    reported = np.mean(np.array(sigmas), axis=0)
    np.testing.assert_allclose(scatter, reported, rtol=0.4)


@pytest.mark.slow
def test_lbfgs_option_recovers_the_chain():
    """``optimizer=optax.lbfgs()`` (zoom line search), no polish."""
    truth = {"amplitude": 0.02, "width": 1.3}
    model = F.chain_model({"amplitude": F.Positive(), "width": F.Positive()})
    target = F.Target(SPEEDS, chain_data(**truth))
    result = F.fit(model, target, factor_two_starts(truth), optimizer=optax.lbfgs(), polish_steps=0)
    for name, value in truth.items():
        assert result.params[name] == pytest.approx(value, rel=1e-6)


@pytest.mark.slow  # ~30 s on 2 cores; the full engine's own gradient test (test_full_engine.py) runs by default
def test_gradient_through_full_solve_matches_finite_differences():
    """jax.grad of the simulated loss (RecursiveCheckpointAdjoint with few checkpoints) vs central
    differences, with respect to Φ0 and λ."""
    model = F.simulation_model(jx.chain3d(K, confinement_parallel=1.0), (24,),
                               {"amplitude": F.Positive(), "width": F.Positive()},
                               impact=(0.0, 0.5, 0.0), dt=5e-3, margin=7.0, checkpoints=4)
    speeds = jnp.array([20.0])

    @jax.jit
    def loss(x):
        return model.predict({"amplitude": x[0], "width": x[1]}, speeds)[0]

    x = jnp.array([0.03, 1.1])
    gradient = jax.jit(jax.grad(loss))(x)
    for i in range(2):
        h = 1e-5 * float(x[i])
        step = jnp.zeros(2).at[i].set(h)
        finite = (loss(x + step) - loss(x - step)) / (2 * h)
        # 1e-4: the pass ends at the first fixed step past the stop plane, a step function of (Φ0, λ)
        # that the finite difference sees at the 1e-5 level
        np.testing.assert_allclose(gradient[i], finite, rtol=1e-4)
    # the simulated loss is near (1.14) at this speed (sanity of the engine, 2 %)
    closed = jx.chain_loss_closed_form(20.0, 0.03, 1.1, 0.5, K, confinement_parallel=1.0)
    assert float(loss(x)) == pytest.approx(float(closed), rel=2e-2)


@pytest.mark.slow
def test_fit_through_full_simulation():
    """Φ0 and λ recovered through the full solve (chain3d, 24 masses, three speeds), LM only."""
    truth = {"amplitude": 0.03, "width": 1.2}
    model = F.simulation_model(jx.chain3d(K, confinement_parallel=1.0), (24,),
                               {"amplitude": F.Positive(), "width": F.Positive()},
                               impact=(0.0, 0.5, 0.0), dt=5e-3, margin=7.0)
    speeds = np.array([15.0, 25.0, 40.0])
    data = model.predict(truth, speeds)
    result = F.fit(model, F.Target(speeds, data), {"amplitude": [0.06], "width": [0.8]},
                   max_iterations=0, polish_steps=20)
    for name, value in truth.items():
        assert result.params[name] == pytest.approx(value, rel=1e-2)


@pytest.mark.slow
def test_gradient_memory_is_bounded_with_checkpoints():
    system = jx.System(jx.chain3d(K, confinement_parallel=1.0), jx.Gaussian(0.01, 1.0))
    short = F.gradient_memory(system, (40,), 20.0, 250, 16)["temp"]
    long = F.gradient_memory(system, (40,), 20.0, 2000, 16)["temp"]
    stored = F.gradient_memory(system, (40,), 20.0, 2000, None)["temp"]
    assert long < 1.2 * short
    assert stored > 3 * long


# ----------------------------------------------------------------------------- user-defined transform


class LogBounded(F.AbstractTransform):
    """A user's reparametrisation: ``ln x`` uniform in ``(ln lower, ln upper)`` (sigmoid-scaled)."""

    lower: float
    upper: float

    def to_physical(self, u):
        lo, hi = jnp.log(self.lower), jnp.log(self.upper)
        return jnp.exp(lo + (hi - lo) * jax.nn.sigmoid(u))

    def to_internal(self, name, x):
        x = np.asarray(x, float)
        if np.any(~np.isfinite(x)) or np.any(x <= self.lower) or np.any(x >= self.upper):
            raise ValueError(f"start value of {name} = {x.tolist()} is outside its range ({self.lower}, {self.upper}).")
        f = (np.log(x) - np.log(self.lower)) / (np.log(self.upper) - np.log(self.lower))
        return np.log(f) - np.log1p(-f)

    def scale(self, x):
        return jnp.abs(x)


def test_user_defined_transform_recovers_the_chain_amplitude():
    """A subclass of AbstractTransform is accepted by a model and fits Φ0 of (1.14) (data from the
    public closed form, λ fixed) from starts a factor 2 away: within 1e-6."""
    transform = LogBounded(1e-4, 1.0)
    np.testing.assert_allclose(transform.to_physical(transform.to_internal("amplitude", [0.01, 0.3])), [0.01, 0.3])
    target = F.Target(SPEEDS, chain_data(0.02, 1.3))
    model = F.chain_model({"amplitude": transform}, {"width": 1.3})
    result = F.fit(model, target, {"amplitude": [0.04, 0.01]}, max_iterations=40, polish_steps=15)
    assert result.params["amplitude"] == pytest.approx(0.02, rel=1e-6), (result.params, result.reasons)
    with pytest.raises(ValueError, match=r"start value of amplitude = .*outside its range \(0\.0001, 1\.0\)"):
        F.fit(model, target, {"amplitude": 2.0})


def test_transforms_must_be_abstract_transforms():
    with pytest.raises(ValueError, match="must be an AbstractTransform"):
        F.chain_model({"amplitude": "positive"})

    class Incomplete(F.AbstractTransform):  # no scale
        def to_physical(self, u):
            return u

        def to_internal(self, name, x):
            return np.asarray(x, float)

    with pytest.raises(TypeError, match="abstract"):
        Incomplete()


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "speeds, losses, sigma, match",
    [
        ([1.0, -2.0], [1.0, 1.0], None, r"speeds\[1\] = -2\.0.*\(0, inf\)"),
        ([1.0, 0.0], [1.0, 1.0], None, r"speeds\[1\] = 0\.0"),
        ([1.0, 2.0], [1.0, np.nan], None, r"losses\[1\] = nan"),
        ([1.0, 2.0], [np.inf, 1.0], None, r"losses\[0\] = inf"),
        ([1.0, 2.0], [1.0, 1.0, 1.0], None, r"losses has 3 entries but speeds has 2"),
        ([1.0, 2.0], [1.0, 1.0], [0.1], r"uncertainties has 1 entries"),
        ([1.0, 2.0], [1.0, 1.0], [0.1, 0.0], r"uncertainties\[1\] = 0\.0"),
        ([1.0, 2.0], [1.0, 1.0], [0.1, -1.0], r"uncertainties\[1\] = -1\.0"),
    ],
)
def test_target_rejects_bad_input(speeds, losses, sigma, match):
    with pytest.raises(ValueError, match=match):
        F.Target(speeds, losses, sigma)


def test_model_rejects_bad_parameters():
    target = F.Target(SPEEDS, chain_data(0.02, 1.0))
    with pytest.raises(ValueError, match="unknown parameters"):
        F.chain_model({"amplitud": F.Positive()})
    with pytest.raises(ValueError, match=r"start value of amplitude = .*outside its range \(0, inf\)"):
        F.fit(F.chain_model({"amplitude": F.Positive()}), target, {"amplitude": -0.01, "width": 1.0})
    with pytest.raises(ValueError, match=r"start value of width = .*\(0\.5, 2\.0\)"):
        F.fit(F.chain_model({"width": F.Bounded(0.5, 2.0)}, {"amplitude": 0.02}), target, {"width": 3.0})
    with pytest.raises(ValueError, match="missing"):
        F.fit(F.chain_model({"amplitude": F.Positive(), "width": F.Positive()}), target, {"amplitude": 0.02})
    with pytest.raises(ValueError, match="lower < upper"):
        F.Bounded(2.0, 1.0)
    with pytest.raises(ValueError, match="sign"):
        F.Positive(0.5)


def test_parameter_without_effect_is_reported():
    """k⊥ enters (1.14) only through the transverse channel, which vanishes at s = 0."""
    target = F.Target(SPEEDS, chain_data(0.02, 1.0))
    model = F.chain_model({"amplitude": F.Positive(), "coupling_perpendicular": F.Positive()},
                          {"width": 1.0, "impact_parameter": 0.0})
    with pytest.raises(ValueError, match="'coupling_perpendicular' does not affect the model"):
        F.fit(model, target, {"amplitude": 0.02, "coupling_perpendicular": 10.0})
