"""Thermal framework (paper 2, Sec. II) and its use in the memory engine.

References are independent of the sampler: site variances from the continuous Brillouin-zone integral
(scipy ``quad``) of the per-mode variances in the package's units — framework energy
``ρ'²/(8π²) + ρᵀΞρ/2`` makes each mode an oscillator ``X'²/(8π²) + ω²X²/2`` (``ħ = 1``, time in ``2π/Ω``), so
``⟨X²⟩ = (n_B + ½)/ω = coth(ω/2ω_T)/(2ω)`` (quantum, with zero-point term) or ``ω_T/ω²`` (classical,
equipartition), and ``⟨X'²⟩ = 4π²ω²⟨X²⟩`` (classical: ``4π²ω_T`` for every mode and lattice). On the cubic
lattice the reference is a full-zone mode sum with ``numpy.linalg.eigh`` of ``D(q)``.
"""

import jax
import numpy as np
import pytest
from scipy.integrate import quad

import jaxion as jx
from jaxion.dynamics.memory import simulate_memory
from jaxion.dynamics.thermal import ThermalBath, sample_mode_amplitudes, thermal_motion
from jaxion.kernels import zone_modes_grid

OMEGA_FAST, SPACING = 10.0, 40.0
TWO_PI = 2 * np.pi


def _chain_frequency(q):
    """Paper 2's dispersion ``ω² = 1 + (ω_fast² − 1) sin²(q/2)``."""
    return np.sqrt(1 + (OMEGA_FAST**2 - 1) * np.sin(q / 2) ** 2)


def _x2(omega, temperature, quantum):
    if quantum:
        return 0.5 / omega / np.tanh(omega / (2 * temperature)) if temperature > 0 else 0.5 / omega
    return temperature / omega**2


def _chain_reference(temperature, quantum, velocity=False):
    """``(1/π) ∫_0^π dq ⟨X²⟩(ω(q))`` (or ``⟨X'²⟩``): the infinite chain's per-site variance."""

    def integrand(q):
        w = _chain_frequency(q)
        x2 = _x2(w, temperature, quantum)
        return x2 * (TWO_PI * w) ** 2 if velocity else x2

    return quad(integrand, 0, np.pi, limit=200)[0] / np.pi


@pytest.fixture(scope="module")
def chain_lattice():
    return jx.chain(OMEGA_FAST, spacing=SPACING)


def _chain_samples(lattice, temperature, quantum, seed=0, ensemble=48):
    keys = jax.random.split(jax.random.key(seed), ensemble)
    times = np.linspace(0.0, 40.0, 41)
    motion = thermal_motion(lattice, np.arange(0, 12, 3)[:, None], times, keys, temperature, quantum=quantum, points_per_axis=1024)
    return np.asarray(motion.displacement), np.asarray(motion.velocity)


@pytest.mark.parametrize("temperature, quantum", [(2.0, True), (0.0, True), (2.0, False)])
def test_chain_site_variance_matches_zone_integral(chain_lattice, temperature, quantum):
    x, v = _chain_samples(chain_lattice, temperature, quantum)
    assert x.shape == (48, 41, 4, 1)
    want_x = _chain_reference(temperature, quantum)
    want_v = _chain_reference(temperature, quantum, velocity=True)
    assert np.mean(x**2) == pytest.approx(want_x, rel=0.04)
    assert np.mean(v**2) == pytest.approx(want_v, rel=0.04)
    assert abs(np.mean(x)) < 0.2 * np.sqrt(want_x)  # zero mean (slow modes correlate the samples)
    if not quantum:  # equipartition: ⟨ρ'²/(8π²)⟩ = ω_T/2 whatever the spectrum
        assert np.mean(v**2) / (8 * np.pi**2) == pytest.approx(temperature / 2, rel=0.04)


def test_zero_point_motion_is_not_random_in_amplitude(chain_lattice):
    """At ω_T = 0 every mode has n = 0: |Z|² = 1/ω exactly (paper 2's amplitude sqrt(½)·sqrt(2/ω))."""
    modes = zone_modes_grid(chain_lattice, 64)
    z = np.asarray(sample_mode_amplitudes(jax.random.key(1), modes.omega, 0.0, quantum=True))
    np.testing.assert_allclose(np.abs(z) ** 2, np.broadcast_to(1 / np.asarray(modes.omega)[..., None], z.shape), rtol=1e-12)


def test_quantum_occupation_is_bose_einstein(chain_lattice):
    """n is geometric with P(n) ∝ e^{−nω/ω_T}: mean |Z|²ω/2 − ½ = n_B = 1/(e^{ω/ω_T} − 1) per mode."""
    modes = zone_modes_grid(chain_lattice, 16)
    keys = jax.random.split(jax.random.key(7), 4000)
    z = np.asarray(jax.vmap(lambda k: sample_mode_amplitudes(k, modes.omega, 3.0, True))(keys))
    omega = np.asarray(modes.omega)[None, ..., None]
    n = np.abs(z) ** 2 * omega / 2 - 0.5
    np.testing.assert_allclose(n, np.round(n), atol=1e-9)  # integers
    n_b = 1 / np.expm1(np.asarray(modes.omega) / 3.0)
    np.testing.assert_allclose(n.mean(axis=(0, -1)), n_b, rtol=0.08, atol=0.01)


def test_quantum_tends_to_classical_at_high_temperature(chain_lattice):
    temperature = 200.0
    xq, vq = _chain_samples(chain_lattice, temperature, True, seed=5)
    classical = _chain_reference(temperature, False)
    assert np.mean(xq**2) == pytest.approx(classical, rel=0.04)
    assert np.mean(vq**2) == pytest.approx(4 * np.pi**2 * temperature, rel=0.04)
    # ... while at ω_T = 0.5 the zero-point term keeps it well above the classical value
    xl, _ = _chain_samples(chain_lattice, 0.5, True, seed=5)
    assert np.mean(xl**2) > 1.5 * _chain_reference(0.5, False)


def test_cubic_lattice_variance_matches_full_zone_sum():
    """Any lattice: simple cubic (paper 1), 3 branches, per Cartesian component, against a full-zone
    mode sum with numpy eigh of D(q) on the same offset grid (the sampler keeps half the zone)."""
    lattice = jx.simple_cubic()
    k, temperature = 8, 1.5
    m = (np.arange(k) + 0.5) / k * TWO_PI
    q = np.stack(np.meshgrid(m, m, m, indexing="ij"), -1).reshape(-1, 3)
    d = np.asarray(lattice.dynamical_matrix(q))
    eig, vec = np.linalg.eigh(0.5 * (d + np.swapaxes(d, -1, -2)))
    omega = np.sqrt(eig)
    want = np.einsum("qdu,qu->d", vec**2, _x2(omega, temperature, True)) / len(q)
    keys = jax.random.split(jax.random.key(11), 64)
    cells = [[0, 0, 0], [1, 2, 0], [3, 1, 1], [5, 5, 5]]
    motion = thermal_motion(lattice, cells, np.linspace(0, 3, 10), keys, temperature, points_per_axis=k)
    x = np.asarray(motion.displacement)
    assert x.shape == (64, 10, 4, 3)
    np.testing.assert_allclose(np.mean(x**2, axis=(0, 1, 2)), want, rtol=0.05)
    v = np.asarray(motion.velocity)
    want_v = np.einsum("qdu,qu->d", vec**2, _x2(omega, temperature, True) * (TWO_PI * omega) ** 2) / len(q)
    np.testing.assert_allclose(np.mean(v**2, axis=(0, 1, 2)), want_v, rtol=0.05)


def test_velocity_is_time_derivative(chain_lattice):
    times = np.linspace(1.0, 1.0 + 2e-5, 3)
    m = thermal_motion(chain_lattice, [[0], [5]], times, jax.random.key(2), 1.0, points_per_axis=128)
    x, v = np.asarray(m.displacement), np.asarray(m.velocity)
    np.testing.assert_allclose((x[2] - x[0]) / (times[2] - times[0]), v[1], rtol=1e-6, atol=1e-7)


def test_reproducible_and_ensemble_equals_loop(chain_lattice):
    cells, times = [[0], [1], [4]], np.linspace(0, 5, 7)
    keys = jax.random.split(jax.random.key(4), 3)
    batch = thermal_motion(chain_lattice, cells, times, keys, 1.0, points_per_axis=96)
    again = thermal_motion(chain_lattice, cells, times, keys, 1.0, points_per_axis=96)
    np.testing.assert_array_equal(batch.displacement, again.displacement)
    for i in range(3):
        one = thermal_motion(chain_lattice, cells, times, keys[i], 1.0, points_per_axis=96)
        np.testing.assert_allclose(batch.displacement[i], one.displacement, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(batch.velocity[i], one.velocity, rtol=1e-13, atol=1e-14)
    assert not np.allclose(batch.displacement[0], batch.displacement[1])
    raw = thermal_motion(chain_lattice, cells, times, jax.random.PRNGKey(4), 1.0, points_per_axis=96)
    assert raw.displacement.shape == (7, 3, 1)


@pytest.mark.parametrize("temperature, quantum", [(-1.0, True), (-0.5, False), (0.0, False), (float("nan"), True)])
def test_bad_temperature(chain_lattice, temperature, quantum):
    with pytest.raises(ValueError, match="temperature") as info:
        ThermalBath(temperature, jax.random.key(0), quantum=quantum)
    assert (">= 0" if quantum else "> 0") in str(info.value)
    assert repr(temperature) in str(info.value)
    with pytest.raises(ValueError, match="temperature"):
        thermal_motion(chain_lattice, [[0]], [0.0], jax.random.key(0), temperature, quantum=quantum)


def test_bad_key():
    with pytest.raises(ValueError, match="key"):
        ThermalBath(1.0, np.zeros(3))


# ----------------------------------------------------------------------------- the memory engine with a bath


def _chain_system(amplitude, sites=range(-2, 4)):
    return jx.System(jx.chain(OMEGA_FAST, spacing=SPACING), jx.Gaussian(amplitude, 4.0), np.asarray(list(sites))[:, None])


def _run(system, method, bath, speed=8.0, duration=2.0, **kw):
    return simulate_memory(
        system, [0, 0, 20.0], [0, 0, speed], duration, dt=1 / 600, constraint=[0, 0, 1], method=method, thermal=bath,
        all_sites_interact=True, save_times=np.arange(0, round(duration * 600) + 1, 10) / 600, **kw,
    )


@pytest.mark.parametrize("method", ["direct", "blocked"])
def test_zero_amplitude_ion_sees_the_bath_motion(method):
    """With Φ0 = 0 the response vanishes: the tracked sites move exactly as the bath (ρ = ρ_hom)."""
    system = _chain_system(0.0)
    key = jax.random.key(9)
    out = _run(system, method, ThermalBath(1.0, key))
    ref = thermal_motion(system.lattice, system.site_cells, out.ts, key, 1.0, points_per_axis=out.points_per_axis)
    assert np.max(np.abs(ref.displacement)) > 0.1
    np.testing.assert_allclose(out.site_displacements, ref.displacement, rtol=0, atol=1e-11)
    np.testing.assert_allclose(out.ion_velocities[:, 2], 8.0, rtol=1e-14)  # the ion feels nothing


def test_thermal_direct_equals_blocked_and_keeps_energy():
    system = _chain_system(2.0)
    """Both methods, each an ensemble of two classical baths in one vmapped call."""
    bath = ThermalBath(3.0, jax.random.split(jax.random.key(1), 2), quantum=False)
    a = _run(system, "direct", bath)
    b = _run(system, "blocked", bath, points_per_axis=a.points_per_axis)
    cold = _run(system, "direct", None)
    assert a.ion_positions.shape == b.ion_positions.shape == (2,) + cold.ion_positions.shape
    np.testing.assert_allclose(a.ion_positions, b.ion_positions, rtol=0, atol=1e-9)
    np.testing.assert_allclose(a.site_displacements, b.site_displacements, rtol=0, atol=1e-9)
    for i in range(2):
        assert np.max(np.abs(a.ion_positions[i] - cold.ion_positions)) > 1e-3  # the bath matters
        assert np.max(np.abs(a.energy_error[i])) < 1e-4 * np.max(np.abs(a.framework_work[i]))


def test_thermal_ensemble_is_one_call_equal_to_a_loop():
    system = _chain_system(-2.0)
    keys = jax.random.split(jax.random.key(2), 3)
    batch = _run(system, "direct", ThermalBath(1.0, keys), duration=1.0)
    assert batch.ion_positions.shape[0] == 3 and batch.loss.shape == (3,)
    for i in range(3):
        one = _run(system, "direct", ThermalBath(1.0, keys[i]), duration=1.0)
        np.testing.assert_allclose(batch.ion_positions[i], one.ion_positions, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(batch.site_displacements[i], one.site_displacements, rtol=1e-12, atol=1e-12)
    assert not np.allclose(batch.ion_positions[0], batch.ion_positions[1])


def test_thermal_grid_mismatch_is_refused():
    system = _chain_system(1.0)
    with pytest.raises(ValueError, match="points_per_axis"):
        _run(system, "blocked", ThermalBath(1.0, jax.random.key(0), points_per_axis=300), points_per_axis=400)
