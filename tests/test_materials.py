"""Physical units (1.27)–(1.28): Christoffel velocities, recoil matrix from elastic constants against
closed forms and against the lattice route (1.23), and differentiable screening."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxion as jx
from jaxion import materials as mt
from jaxion.theory.low_speed import recoil_matrix


def test_isotropic_christoffel_and_recoil_closed_form():
    v_l, v_t, rho = 6000.0, 3500.0, 3000.0
    voigt = mt.isotropic_voigt(v_l, v_t, rho)
    dirs = np.random.default_rng(0).normal(size=(5, 3))
    velocity, _ = mt.christoffel(voigt, rho, dirs)
    np.testing.assert_allclose(velocity, np.tile([v_t, v_t, v_l], (5, 1)), rtol=1e-12)
    expected = (1 / rho) / (4 * np.pi) ** 2 * (4 * np.pi / 3) * (1 / v_l**3 + 2 / v_t**3) * np.eye(3)
    np.testing.assert_allclose(mt.recoil_matrix_from_elastic(voigt, rho), expected, rtol=1e-10, atol=1e-30)


def test_cubic_lattice_elastic_route_equals_long_wavelength_route():
    k1, k2, a = 15.0, 5.0, 2.0
    lattice = jx.simple_cubic(k1, k2, a)
    voigt = mt.lattice_elastic_constants(lattice)
    c = np.asarray(voigt)
    np.testing.assert_allclose([c[0, 0], c[0, 1], c[3, 3]], [(k1 + 2 * k2) / a, k2 / a, k2 / a], rtol=1e-12)
    via_christoffel = mt.recoil_matrix_from_elastic(voigt, 1.0 / a**3) / (2 * np.pi)
    np.testing.assert_allclose(via_christoffel, recoil_matrix(lattice), rtol=1e-8, atol=1e-15)


def test_si_conversion_of_recoil_matrix_1_28():
    """(2π/(mΩ³)) M of (1.23) equals M_phys of (1.28) computed in SI from the same lattice."""
    lattice = jx.simple_cubic(15.0, 5.0, 2.0)
    units = mt.DimensionlessUnits(mass=7 * mt.AMU, frequency=2 * np.pi * 5e12)
    length = float(units.length)
    voigt_si = mt.lattice_elastic_constants(lattice) * float(units.energy) / length**3
    density_si = units.mass / (2.0 * length) ** 3
    phys = mt.recoil_matrix_from_elastic(voigt_si, density_si)
    expected = 2 * np.pi / (units.mass * units.frequency**3) * np.asarray(recoil_matrix(lattice))
    np.testing.assert_allclose(phys, expected, rtol=1e-8, atol=1e-10 * np.max(np.abs(expected)))
    assert float(units.from_si(units.to_si(3.0, "speed"), "speed")) == pytest.approx(3.0)


@pytest.mark.slow  # ~25 s on 2 cores; test_screening.py's gradient checks run by default
def test_screening_is_batched_and_differentiable():
    landscape = mt.GaussianLandscape(jnp.array([[0.0, 0.0, 0.0], [3.0, 0.0, 0.0]]), jnp.array([0.3, -0.1]), jnp.array([0.8, 1.5]))
    names = ["Si", "Cu", "synthetic-stiff", "synthetic-soft"]
    stacked = jax.tree_util.tree_map(lambda *x: jnp.stack(x), *[mt.EXAMPLE_MATERIALS[n] for n in names])
    start, end = jnp.array([1.5, 1.0, -4.0]), jnp.array([1.5, 1.0, 4.0])
    batch = jax.vmap(lambda m: mt.energy_per_hop(m, landscape, start, end, 800.0))(stacked)
    for i, name in enumerate(names):
        alone = mt.energy_per_hop(mt.EXAMPLE_MATERIALS[name], landscape, start, end, 800.0)
        np.testing.assert_allclose(batch[i], alone, rtol=1e-10)
    assert np.all(np.asarray(batch) > 0)
    # Scaling laws as independent checks of the gradients: W ∝ ρ^{1/2} at fixed C, W ∝ A².
    si = mt.EXAMPLE_MATERIALS["Si"]
    w = lambda rho: mt.energy_per_hop(mt.Material(si.elastic_constants, rho), landscape, start, end, 800.0)
    rho = si.density
    np.testing.assert_allclose(jax.grad(w)(rho) * rho / w(rho), 0.5, rtol=1e-8)
    scale = lambda s: mt.energy_per_hop(  # noqa: E731
        si, mt.GaussianLandscape(landscape.sites, s * landscape.amplitudes, landscape.widths), start, end, 800.0
    )
    np.testing.assert_allclose(jax.grad(scale)(1.0) / scale(1.0), 2.0, rtol=1e-8)


def test_bad_material_input():
    with pytest.raises(ValueError, match="positive definite"):
        mt.Material(mt.cubic_voigt(100.0, 120.0, 50.0), jnp.asarray(1000.0))
    with pytest.raises(ValueError, match="density"):
        mt.Material(mt.cubic_voigt(100.0, 50.0, 50.0), jnp.asarray(0.0))
    with pytest.raises(ValueError, match="6×6"):
        mt.voigt_to_tensor(jnp.eye(3))
    with pytest.raises(ValueError, match="widths"):
        mt.GaussianLandscape(jnp.zeros((1, 3)), jnp.ones(1), jnp.zeros(1))
    with pytest.raises(ValueError, match="mass"):
        mt.DimensionlessUnits(mass=-1.0, frequency=1.0)
