"""Materials screening (jaxion.screening): gradients of the energy per hop ((1.23) with (1.27)–(1.28))
against finite differences, and the bounded descent toward lower drag."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxion import screening as S
from jaxion.materials import GaussianLandscape, Material, cubic_voigt, energy_per_hop


def _landscape(amplitude=0.3, width=0.6):
    sites = jnp.array([[0.0, 0.0, 0.0], [2.0, 0.0, 0.0]])
    return GaussianLandscape(sites, jnp.array([amplitude]), jnp.array([width]))


def test_screening_gradients_match_finite_differences():
    """∂W/∂(C44, ρ, A, w) of the energy per hop ((1.23) with (1.27)–(1.28)) against central differences."""
    material = Material(cubic_voigt(165.7, 63.9, 79.6), jnp.asarray(2329.0))
    start, end, speed = (0.0, 1.0, -1.5), (2.0, 1.0, 1.5), 100.0
    grads = S.hop_energy_gradients(material, _landscape(), start, end, speed, points=64)

    def energy(c44=79.6, density=2329.0, amplitude=0.3, width=0.6):
        return float(energy_per_hop(Material(cubic_voigt(165.7, 63.9, c44), jnp.asarray(density)),
                                    _landscape(amplitude, width), start, end, speed, points=64))

    assert float(grads["energy"]) == pytest.approx(energy(), rel=1e-12)
    checks = {
        "c44": (float(grads["elastic_constants"][3, 3] + grads["elastic_constants"][4, 4] + grads["elastic_constants"][5, 5]), 79.6),
        "density": (float(grads["density"]), 2329.0),
        "amplitude": (float(grads["amplitudes"][0]), 0.3),
        "width": (float(grads["widths"][0]), 0.6),
    }
    for name, (analytic, value) in checks.items():
        h = 1e-5 * value
        finite = (energy(**{name: value + h}) - energy(**{name: value - h})) / (2 * h)
        assert analytic == pytest.approx(finite, rel=1e-5), name
    assert float(grads["density"]) > 0 > checks["c44"][0]  # heavier → more drag (1/ρ·ρ^{3/2}/C^{3/2}); stiffer → less


def test_descend_drag_lowers_the_energy_inside_the_bounds():
    result = S.descend_drag(120.0, 60.0, 50.0, 3000.0, _landscape(), (0.0, 1.0, -1.5), (2.0, 1.0, 1.5), 100.0,
                            bounds=(20.0, 250.0), steps=25, points=48)
    energies = np.asarray(result.energies)
    assert energies[-1] < 0.7 * energies[0]
    constants = np.asarray(result.constants)
    assert np.all((constants[:, [0, 2]] > 20.0) & (constants[:, [0, 2]] < 250.0))
    assert np.all(constants[:, 0] > constants[:, 1])  # C11 > C12 throughout
    assert float(result.material.density) == 3000.0
