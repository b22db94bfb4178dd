"""jaxion.theory.rates: escape rates and diffusion of an ion in a periodic 1D landscape.

Every reference is independent of the implementation: closed forms of the cosine landscape, the equation of
motion integrated with scipy, the exact Smoluchowski first-passage times (double integrals with numpy/scipy),
a direct quadrature of Mel'nikov's A(δ) and the iteration of the integral equation it solves.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import cumulative_trapezoid, quad, solve_ivp
from scipy.optimize import root_scalar
from scipy.special import erfc, i0e

import jaxion  # noqa: F401  (float64)
from jaxion.theory import rates

FOUR_PI_SQ = 4.0 * np.pi**2

# the cosine landscape U = (ΔU/2)(1 − cos 2π(z − z0)/a): well at z0, barrier at z0 + a/2, U'' = ±2π²ΔU/a²
A_COS, MU_COS, DU_COS, Z0 = 2.0, 3.0, 10.0, 0.3


@functools.cache  # the same function object for the same parameters: its derivatives compile once
def cosine(height=DU_COS, period=A_COS, shift=Z0):
    return lambda z: 0.5 * height * (1.0 - jnp.cos(2.0 * jnp.pi * (z - shift) / period))


def cosine_np(z, height=DU_COS, period=A_COS, shift=Z0):
    return 0.5 * height * (1.0 - np.cos(2.0 * np.pi * (z - shift) / period))


# an asymmetric landscape (one well, one barrier per period) and a position-dependent friction
A_ASYM, MU_ASYM = 1.5, 2.0
K_ASYM = 2.0 * np.pi / A_ASYM


@functools.cache  # the same function object for the same parameters: its derivatives compile once
def asym(height):
    return lambda z: height * (1.0 - jnp.cos(K_ASYM * z) + 0.3 * jnp.sin(2.0 * K_ASYM * z))


def asym_np(z, height):
    return height * (1.0 - np.cos(K_ASYM * z) + 0.3 * np.sin(2.0 * K_ASYM * z))


def asym_force_np(z, height):  # −U'
    return -height * K_ASYM * (np.sin(K_ASYM * z) + 0.6 * np.cos(2.0 * K_ASYM * z))


@functools.cache  # the same function object for the same parameters: its derivatives compile once
def drag_fn(scale):
    return lambda z: scale * (1.0 + 0.5 * jnp.cos(K_ASYM * z + 0.7))


def drag_np(z, scale):
    return scale * (1.0 + 0.5 * np.cos(K_ASYM * z + 0.7))


def asym_extrema_np(height):
    """Well and barrier of the asymmetric landscape by Brent's method on U' (sin θ + 0.6 cos 2θ = 0 ⇔ sin θ = s)."""
    s = (1.0 - np.sqrt(1.0 + 2.88)) / 2.4
    well = np.arcsin(s) / K_ASYM
    barrier = (np.pi - np.arcsin(s)) / K_ASYM
    f = lambda z: asym_force_np(z, height)
    well = root_scalar(f, bracket=(well - 0.05, well + 0.05), method="brentq", xtol=1e-15).root
    barrier = root_scalar(f, bracket=(barrier - 0.05, barrier + 0.05), method="brentq", xtol=1e-15).root
    return well, barrier


# ----------------------------------------------------------------------------- extrema and TST


def test_cosine_extrema_curvatures_and_tst_closed_forms():
    ext = rates.landscape_extrema(cosine(), A_COS, MU_COS)
    kappa = 2.0 * np.pi**2 * DU_COS / A_COS**2
    omega = 2.0 * np.pi * np.sqrt(kappa / MU_COS)
    assert float(ext.well) == pytest.approx(Z0, abs=1e-12)
    assert float(ext.barrier) == pytest.approx(Z0 + A_COS / 2, abs=1e-12)
    assert float(ext.barrier_height) == pytest.approx(DU_COS, rel=1e-13)
    assert float(ext.well_curvature) == pytest.approx(kappa, rel=1e-12)
    assert float(ext.barrier_curvature) == pytest.approx(-kappa, rel=1e-12)
    assert float(ext.well_frequency) == pytest.approx(omega, rel=1e-12)
    assert float(ext.barrier_frequency) == pytest.approx(omega, rel=1e-12)
    for temperature in (0.5, 2.0):
        tst = rates.transition_state_rate(cosine(), A_COS, temperature, MU_COS)
        expected = (2.0 * np.pi**2 / A_COS) * np.sqrt(2.0 * DU_COS / MU_COS) / (2.0 * np.pi) * np.exp(-DU_COS / temperature)
        assert float(tst.per_barrier) == pytest.approx(expected, rel=1e-12)
        assert float(tst.total) == pytest.approx(2.0 * expected, rel=1e-12)
    # given positions (rough) skip the search and are refined by Newton
    given = rates.landscape_extrema(cosine(), A_COS, MU_COS, well=Z0 + 0.1, barrier=Z0 + A_COS / 2 - 0.2)
    assert float(given.well) == pytest.approx(Z0, abs=1e-12) and float(given.barrier) == pytest.approx(Z0 + A_COS / 2, abs=1e-12)


def test_well_frequency_is_the_small_oscillation_frequency():
    """(μ/4π²) z'' = −U'(z) integrated with scipy: the period of a small oscillation is 2π/ω_0."""
    ext = rates.landscape_extrema(cosine(), A_COS, MU_COS)
    mass = MU_COS / FOUR_PI_SQ
    force = lambda z: -0.5 * DU_COS * (2.0 * np.pi / A_COS) * np.sin(2.0 * np.pi * (z - Z0) / A_COS)
    turn = lambda t, s: s[1]
    sol = solve_ivp(lambda t, s: [s[1], force(s[0]) / mass], [0.0, 3.0], [Z0 + 1e-4 * A_COS, 0.0], events=turn,
                    rtol=1e-12, atol=1e-16, method="DOP853")
    turning = sol.t_events[0]
    period = 2.0 * np.mean(np.diff(turning))
    assert period == pytest.approx(2.0 * np.pi / float(ext.well_frequency), rel=1e-6)


def test_asymmetric_extrema_against_brent_root():
    height = 5.0
    well, barrier = asym_extrema_np(height)
    ext = rates.landscape_extrema(asym(height), A_ASYM, MU_ASYM)
    offset = lambda x, y: (x - y + A_ASYM / 2) % A_ASYM - A_ASYM / 2  # positions are defined modulo the period
    assert offset(float(ext.well), well) == pytest.approx(0.0, abs=1e-11)
    assert offset(float(ext.barrier), barrier) == pytest.approx(0.0, abs=1e-11)
    assert 0 < float(ext.barrier) - float(ext.well) < A_ASYM
    assert float(ext.barrier_height) == pytest.approx(asym_np(barrier, height) - asym_np(well, height), rel=1e-12)
    second = lambda z: height * K_ASYM**2 * (np.cos(K_ASYM * z) - 1.2 * np.sin(2.0 * K_ASYM * z))
    assert float(ext.well_curvature) == pytest.approx(second(well), rel=1e-10)
    assert float(ext.barrier_curvature) == pytest.approx(second(barrier), rel=1e-10)


# ----------------------------------------------------------------------------- overdamped limit


def _mfpt_over_barrier(u, drag, temperature, reflect, start, absorb, n=400001):
    """Smoluchowski mean first-passage time from `start` to `absorb`, reflecting at `reflect`:
    τ = ∫_start^absorb dy (Γ(y)/T) e^{U(y)/T} ∫_reflect^y e^{−U(x)/T} dx."""
    y = np.linspace(reflect, absorb, n)
    inner = cumulative_trapezoid(np.exp(-u(y) / temperature), y, initial=0.0)
    outer = drag(y) / temperature * np.exp(u(y) / temperature) * inner
    keep = y >= start
    return np.trapezoid(outer[keep], y[keep])


@pytest.mark.parametrize("barrier_over_t", [8.0, 10.0])
def test_high_friction_kramers_against_exact_mean_first_passage(barrier_over_t):
    """Cosine, constant high friction (γ/ω_b ≈ 20): the rate over one barrier from the exact MFPT (well → next
    well, reflecting at the other barrier) agrees with Kramers within the known finite-barrier correction
    1 − T/2ΔU (from the asymptotics of I_0; agreement to 1.5% of it)."""
    temperature, gamma = DU_COS / barrier_over_t, 60.0
    kramers = float(rates.kramers_rate(cosine(), gamma, A_COS, temperature, MU_COS).per_barrier)
    omega = 2.0 * np.pi * np.sqrt(2.0 * np.pi**2 * DU_COS / A_COS**2 / MU_COS)
    high_friction = omega**2 / (2.0 * np.pi * FOUR_PI_SQ * gamma / MU_COS) * np.exp(-barrier_over_t)
    assert kramers == pytest.approx(high_friction, rel=5e-3)
    tau = _mfpt_over_barrier(cosine_np, lambda y: gamma + 0 * y, temperature, Z0 - A_COS / 2, Z0, Z0 + A_COS)
    ratio = 1.0 / tau / kramers
    assert abs(ratio - 1.0) < 0.08
    assert ratio == pytest.approx(1.0 - 0.5 / barrier_over_t, rel=0.015)


def test_position_dependent_friction_kramers_against_mean_first_passage():
    """Asymmetric landscape, Γ(z): the MFPT rate approaches Kramers with Γ(z_b) as ΔU/T grows (|1 − ratio| ≲ T/ΔU)."""
    height, scale = 5.0, 40.0
    well, barrier = asym_extrema_np(height)
    du = asym_np(barrier, height) - asym_np(well, height)
    for temperature in (du / 11.0, du / 22.0):
        kramers = float(rates.kramers_rate(asym(height), drag_fn(scale), A_ASYM, temperature, MU_ASYM).per_barrier)
        tau = _mfpt_over_barrier(lambda y: asym_np(y, height), lambda y: drag_np(y, scale), temperature, barrier - A_ASYM,
                                 well, well + A_ASYM)
        assert abs(1.0 / tau / kramers - 1.0) < 1.5 * temperature / du


def test_lifson_jackson_cosine_closed_form():
    """⟨e^{±U/T}⟩ = e^{±ΔU/2T} I_0(ΔU/2T) for the cosine: D = (T/Γ)/I_0(ΔU/2T)²."""
    for temperature, gamma in ((1.0, 0.7), (0.25, 3.0), (5.0, 1.0)):
        x = DU_COS / (2.0 * temperature)
        expected = temperature / gamma / (i0e(x) * np.exp(x)) ** 2
        got = float(rates.lifson_jackson_diffusion(cosine(), A_COS, temperature, gamma))
        assert got == pytest.approx(expected, rel=1e-11)


def test_lifson_jackson_position_dependent_against_exit_time():
    """D = a²/2τ with τ the exact Smoluchowski mean exit time from (z_0 − a, z_0 + a) (a different algorithm:
    the backward equation's double integral on a fine grid), for an asymmetric U and a Γ(z)."""
    height, scale, temperature = 2.0, 1.3, 0.8
    z0 = 0.37
    y = np.linspace(z0 - A_ASYM, z0 + A_ASYM, 400001)
    psi = drag_np(y, scale) / temperature * np.exp(asym_np(y, height) / temperature)
    inner = cumulative_trapezoid(np.exp(-asym_np(y, height) / temperature), y, initial=0.0)
    c = np.trapezoid(psi * inner, y) / np.trapezoid(psi, y)
    tau = cumulative_trapezoid(psi * (c - inner), y, initial=0.0)[200000]
    got = float(rates.lifson_jackson_diffusion(asym(height), A_ASYM, temperature, drag_fn(scale)))
    assert got == pytest.approx(A_ASYM**2 / (2.0 * tau), rel=1e-8)


@pytest.mark.parametrize("barrier_over_t", [8.0, 10.0])
def test_lifson_jackson_against_hops_at_kramers_rate(barrier_over_t):
    temperature, gamma = DU_COS / barrier_over_t, 60.0
    exact = float(rates.lifson_jackson_diffusion(cosine(), A_COS, temperature, gamma))
    hops = float(rates.hop_diffusion(rates.kramers_rate(cosine(), gamma, A_COS, temperature, MU_COS), A_COS))
    assert abs(exact / hops - 1.0) < 0.08
    assert exact / hops == pytest.approx(1.0 - 0.5 / barrier_over_t, rel=0.015)


# ----------------------------------------------------------------------------- energy loss


def test_energy_loss_constant_friction_cosine_action():
    """Constant Γ on the cosine separatrix: z' = sqrt(2ΔU/m)|cos(π(z − z0)/a)|, ∫ z' dz = (2a/π) sqrt(2ΔU/m),
    so δE = 4aΓ sqrt(2ΔU/μ)."""
    for gamma in (0.05, 2.0):
        got = float(rates.energy_loss_per_orbit(cosine(), gamma, A_COS, MU_COS))
        assert got == pytest.approx(4.0 * A_COS * gamma * np.sqrt(2.0 * DU_COS / MU_COS), rel=1e-11)


def test_energy_loss_position_dependent_against_time_integration():
    """Γ(z) on the asymmetric landscape: integrate the undamped orbit in time from just past one barrier top to
    just before the next (scipy DOP853), accumulating ∫ Γ z'² dτ; the ends left out are O(ε²)."""
    height, scale = 5.0, 40.0
    _, barrier = asym_extrema_np(height)
    mass = MU_ASYM / FOUR_PI_SQ
    top = asym_np(barrier, height)
    eps = 1e-5 * A_ASYM
    start = barrier + eps
    speed = np.sqrt(2.0 * (top - asym_np(start, height)) / mass)
    end = lambda t, s: s[0] - (barrier + A_ASYM - eps)
    end.terminal = True
    rhs = lambda t, s: [s[1], asym_force_np(s[0], height) / mass, drag_np(s[0], scale) * s[1] ** 2]
    sol = solve_ivp(rhs, [0.0, 100.0], [start, speed, 0.0], events=end, rtol=1e-11, atol=1e-13, method="DOP853")
    got = float(rates.energy_loss_per_orbit(asym(height), drag_fn(scale), A_ASYM, MU_ASYM))
    assert got == pytest.approx(sol.y[2, -1], rel=1e-8)


# ----------------------------------------------------------------------------- A(δ) and the turnover


def _a_quadrature(delta):
    f = lambda x: np.log(-np.expm1(-delta * (x * x + 0.25))) / (x * x + 0.25)
    return np.exp(quad(f, 0.0, np.inf, limit=400, epsabs=1e-13, epsrel=1e-12)[0] / np.pi)


def _a_kernel_iteration(delta, h=0.05, lo=-35.0, hi=25.0):
    """Mel'nikov's integral equation for the energies ε (units T, from the barrier top) of the ions arriving at the
    barrier, f(ε') = ∫_{ε<0} P(ε'|ε) f(ε) dε with the Gaussian loss kernel (mean δ, variance 2δ), f → e^{−ε} deep
    in the well; the escaping flux is ∫_0^∞ f. Written for φ = f e^{ε} (kernel of mean +δ), cell-averaged."""
    e = (np.arange(int(lo / h), int(hi / h)) + 0.5) * h
    width = np.sqrt(4.0 * delta)
    s = e[:, None] - e[None, :]
    kernel = 0.5 * (erfc((s - delta - h / 2) / width) - erfc((s - delta + h / 2) / width))
    from_below = 0.5 * erfc((e - delta - (e[0] - h / 2)) / width)
    phi, negative = np.ones_like(e), e < 0
    for _ in range(5000):
        new = kernel @ (phi * negative) + from_below
        if np.max(np.abs(new - phi)) < 1e-13:
            break
        phi = new
    return float(np.sum(np.exp(-e[~negative]) * phi[~negative]) * h)


def test_depopulation_factor_quadrature_kernel_and_limits():
    deltas = np.array([1e-4, 0.03, 0.5, 2.0, 7.0, 30.0])
    got = np.asarray(rates.depopulation_factor(deltas))
    np.testing.assert_allclose(got, [_a_quadrature(d) for d in deltas], rtol=1e-9)
    for delta in (0.5, 2.0):
        assert float(rates.depopulation_factor(delta)) == pytest.approx(_a_kernel_iteration(delta), rel=1e-3)
    assert float(rates.depopulation_factor(1e-8)) / 1e-8 == pytest.approx(1.0, abs=1e-3)  # A → δ
    assert float(rates.depopulation_factor(60.0)) == pytest.approx(1.0, abs=1e-6)  # A → 1
    assert float(rates.depopulation_factor(0.0)) == 0.0
    assert np.all(np.diff(np.asarray(rates.depopulation_factor(np.geomspace(1e-6, 50, 40)))) > 0)


def test_melnikov_between_energy_and_spatial_diffusion():
    temperature = 1.0
    action = 4.0 * A_COS * np.sqrt(2.0 * DU_COS / MU_COS)  # δE per unit Γ (closed form above)
    tst = float(rates.transition_state_rate(cosine(), A_COS, temperature, MU_COS).per_barrier)
    low = 1e-7
    energy = rates.energy_diffusion_rate(cosine(), low, A_COS, temperature, MU_COS)
    assert float(energy.per_barrier) == pytest.approx(tst * low * action / temperature, rel=1e-10)
    assert float(energy.total) == pytest.approx(2 * float(energy.per_barrier), rel=1e-14)
    melnikov = float(rates.melnikov_rate(cosine(), low, A_COS, temperature, MU_COS).per_barrier)
    assert melnikov / float(energy.per_barrier) == pytest.approx(1.0, abs=2e-3)
    high = 30.0  # δ ≈ 620, γ_b/2ω_b ≈ 8
    kramers = float(rates.kramers_rate(cosine(), high, A_COS, temperature, MU_COS).per_barrier)
    melnikov = float(rates.melnikov_rate(cosine(), high, A_COS, temperature, MU_COS).per_barrier)
    assert melnikov / kramers == pytest.approx(1.0, abs=1e-9)
    assert kramers < tst
    # in between: below both limits
    mid = 1.0 / action  # δ = 1
    melnikov = float(rates.melnikov_rate(cosine(), mid, A_COS, temperature, MU_COS).per_barrier)
    assert melnikov < min(float(rates.energy_diffusion_rate(cosine(), mid, A_COS, temperature, MU_COS).per_barrier),
                          float(rates.kramers_rate(cosine(), mid, A_COS, temperature, MU_COS).per_barrier))
    labels = [rates.friction_regime(cosine(), g / action, A_COS, temperature, MU_COS) for g in (0.2, 3.0, 50.0)]
    assert labels == ["energy-diffusion", "turnover", "spatial-diffusion"]


def test_kramers_temperature_gradient_is_the_arrhenius_slope():
    """d ln k/dT = ΔU/T² (the prefactor of the Kramers rate does not depend on T): jax.grad through the formula."""
    height, scale, temperature = 5.0, 3.0, 0.7
    ext = rates.landscape_extrema(asym(height), A_ASYM, MU_ASYM)
    slope = jax.grad(lambda t: jnp.log(rates.kramers_rate(asym(height), drag_fn(scale), A_ASYM, t, MU_ASYM).per_barrier))(temperature)
    assert float(slope) == pytest.approx(float(ext.barrier_height) / temperature**2, rel=1e-12)


def test_hop_diffusion():
    rate = rates.transition_state_rate(cosine(), A_COS, 1.0, MU_COS)
    assert float(rates.hop_diffusion(rate, A_COS)) == pytest.approx(float(rate.total) * A_COS**2 / 2, rel=1e-15)
    assert float(rates.hop_diffusion(0.3, 2.0)) == pytest.approx(0.6)


# ----------------------------------------------------------------------------- bad input


def test_bad_inputs_name_the_parameter():
    u = cosine()
    for bad in (0.0, -1.0, np.nan, np.inf):
        with pytest.raises(ValueError, match="temperature"):
            rates.kramers_rate(u, 1.0, A_COS, bad, MU_COS)
        with pytest.raises(ValueError, match="temperature"):
            rates.lifson_jackson_diffusion(u, A_COS, bad, 1.0)
    for bad in (0.0, -2.0, np.nan):
        with pytest.raises(ValueError, match="period"):
            rates.transition_state_rate(u, bad, 1.0, MU_COS)
        with pytest.raises(ValueError, match="period"):
            rates.hop_diffusion(1.0, bad)
    with pytest.raises(ValueError, match="mass_ratio"):
        rates.landscape_extrema(u, A_COS, 0.0)
    flat = lambda z: 0.0 * z + 1.5
    with pytest.raises(ValueError, match="potential has no barrier"):
        rates.transition_state_rate(flat, A_COS, 1.0, MU_COS)
    with pytest.raises(ValueError, match="potential has no barrier"):
        rates.melnikov_rate(flat, 1.0, A_COS, 1.0, MU_COS, well=0.0, barrier=1.0)
    with pytest.raises(ValueError, match="drag must be >= 0 at the barrier"):
        rates.kramers_rate(u, lambda z: -1.0 + 0.0 * z, A_COS, 1.0, MU_COS)
    with pytest.raises(ValueError, match="drag must be >= 0 along the orbit"):
        rates.energy_loss_per_orbit(u, lambda z: jnp.cos(2 * jnp.pi * (z - Z0) / A_COS), A_COS, MU_COS)
    with pytest.raises(ValueError, match="drag"):
        rates.lifson_jackson_diffusion(u, A_COS, 1.0, -0.5)
    with pytest.raises(ValueError, match="well"):
        rates.landscape_extrema(u, A_COS, MU_COS, well=np.nan)
    with pytest.raises(ValueError, match="rate"):
        rates.hop_diffusion(-1.0, A_COS)
    with pytest.raises(ValueError, match="points"):
        rates.lifson_jackson_diffusion(u, A_COS, 0.01, 1.0, points=64)
    with pytest.warns(RuntimeWarning, match="2 local minima"):
        rates.landscape_extrema(lambda z: jnp.cos(4 * jnp.pi * z / A_COS) + 0.2 * jnp.cos(2 * jnp.pi * z / A_COS), A_COS)
