"""Pair potentials: values, transforms along a path (closed form vs quadrature), sums."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxion as jx


def test_gaussian_values_and_sign():
    repulsive, attractive = jx.Gaussian(0.5, 2.0), jx.Gaussian(-0.5, 2.0)
    r = jnp.array([[0.0, 0.0, 0.0], [2.0, 0.0, 0.0]])
    np.testing.assert_allclose(repulsive.energy(r), [0.5, 0.5 * np.exp(-0.5)])
    np.testing.assert_allclose(attractive.energy(r), -repulsive.energy(r))


def test_gaussian_transform_closed_form_matches_quadrature():
    gaussian = jx.Gaussian(0.7, 1.3)
    numeric = jx.CustomPairPotential(lambda r: 0.7 * jnp.exp(-(r**2) / (2 * 1.3**2)), interaction_range=1.3)
    p = jnp.linspace(0.0, 4.0, 9)
    for b in (0.0, 0.8):
        np.testing.assert_allclose(gaussian.path_transform(p, b), numeric.path_transform(p, b), rtol=1e-8, atol=1e-14)


def test_sum_of_potentials_adds_terms():
    a, b = jx.Gaussian(1.0, 1.0), jx.Gaussian(-0.3, 3.0)
    total = a + b
    r2 = jnp.linspace(0, 9, 5)
    np.testing.assert_allclose(total(r2), a(r2) + b(r2))
    assert float(total.range) == 3.0
    assert len((total + a).terms) == 3


def test_custom_potential_gradient_is_finite_at_contact():
    custom = jx.CustomPairPotential(lambda r: 1.0 / (1.0 + r**4), interaction_range=2.0)
    grad = jax.grad(lambda x: custom.energy(x))(jnp.zeros(3))
    assert np.all(np.isfinite(grad))


def test_potentials_reject_bad_input():
    with pytest.raises(ValueError, match="width"):
        jx.Gaussian(0.01, 0.0)
    with pytest.raises(ValueError, match="width"):
        jx.Gaussian(0.01, -1.0)
    with pytest.raises(ValueError, match="amplitude"):
        jx.Gaussian(float("nan"), 1.0)
    with pytest.raises(ValueError, match="interaction_range"):
        jx.CustomPairPotential(lambda r: r, interaction_range=0.0)
