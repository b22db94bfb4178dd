"""Property-based tests (hypothesis): input validation over random inputs, and physical invariants —
the loss is even in the impact parameter (mode sum and full simulation), Newton's third law in the
interaction, conservation of the total energy, and time reversal of the conservative full system.

Kept fast: few examples, small lattices, and every jitted function is called with the same shapes so
that it compiles once.
"""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, example, given, settings, strategies as st

import jaxion as jx

K = 99 / 4
# database=None: no example database is written into the working tree.
FAST = settings(max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
SLOW = settings(max_examples=3, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

# Numbers a user might type: sensible magnitudes, plus the bad ones (0, negatives, NaN, ±inf).
reasonable = st.floats(min_value=1e-3, max_value=1e3)
bad_extras = st.sampled_from([0.0, -0.0, -1.0, -1e-3, -1e3, math.nan, math.inf, -math.inf])
any_number = st.one_of(reasonable, st.floats(min_value=-1e3, max_value=1e3), bad_extras)


def _positive(x):
    return math.isfinite(x) and x > 0


# ---------------------------------------------------------------------- validation over random inputs


@FAST
@given(amplitude=any_number, width=any_number, r=st.floats(min_value=0.0, max_value=20.0))
@example(amplitude=1.0, width=2.718437244397292e-231, r=0.0)  # found by hypothesis: width² underflowed to 0
def test_gaussian_accepts_valid_rejects_invalid_never_nan(amplitude, width, r):
    # width² must be representable (a width of 1e-231 squares to 0 and would give 0/0 at contact)
    valid = math.isfinite(amplitude) and _positive(width) and 0.0 < width * width < math.inf
    if not valid:
        with pytest.raises(ValueError, match="amplitude|width"):
            jx.Gaussian(amplitude, width)
        return
    potential = jx.Gaussian(amplitude, width)
    value = float(potential(jnp.asarray(r * r)))
    assert math.isfinite(value)
    assert abs(value) <= abs(amplitude) * (1 + 1e-12)


@settings(max_examples=12, deadline=None, database=None)
@given(coupling=any_number, confinement=any_number, spacing=any_number)
def test_chain3d_accepts_valid_rejects_invalid(coupling, confinement, spacing):
    valid = _positive(coupling) and math.isfinite(confinement) and confinement >= 0 and _positive(spacing)
    if not valid:
        with pytest.raises(ValueError, match="coupling_parallel|confinement_parallel|spacing"):
            jx.chain3d(coupling, confinement_parallel=confinement, spacing=spacing)
        return
    lattice = jx.chain3d(coupling, confinement_parallel=confinement, spacing=spacing)
    omega = np.asarray(lattice.frequencies(lattice.zone_grid(9)))
    assert np.all(np.isfinite(omega))
    # band edges of ω² = κ + 4k sin²(q/2): κ at q = 0 and κ + 4k at the zone boundary
    np.testing.assert_allclose(omega.max() ** 2, confinement + 4 * coupling, rtol=1e-10)
    np.testing.assert_allclose(omega.min() ** 2, confinement, atol=1e-9 * (confinement + coupling))


@FAST
@given(mass_ratio=any_number)
def test_system_mass_ratio(mass_ratio):
    lattice = jx.chain3d(K)
    if not _positive(mass_ratio):
        with pytest.raises(ValueError, match="mass_ratio"):
            jx.System(lattice, jx.Gaussian(), mass_ratio=mass_ratio)
    else:
        assert float(jx.System(lattice, jx.Gaussian(), mass_ratio=mass_ratio).mass_ratio) == mass_ratio


@FAST
@given(
    speed=st.one_of(st.floats(min_value=0.1, max_value=1e3), bad_extras),
    amplitude=st.one_of(st.floats(min_value=-1.0, max_value=1.0), st.sampled_from([math.nan, math.inf])),
    width=st.one_of(st.floats(min_value=0.1, max_value=10.0), bad_extras),
    impact=st.floats(min_value=-5.0, max_value=5.0),
    coupling=st.floats(min_value=0.01, max_value=100.0),
    confinement=st.floats(min_value=0.0, max_value=10.0),
)
def test_closed_form_finite_nonnegative_or_rejected(speed, amplitude, width, impact, coupling, confinement):
    args = (speed, amplitude, width, impact, coupling)
    valid = _positive(speed) and math.isfinite(amplitude) and _positive(width)
    if not valid:
        with pytest.raises(ValueError, match="speed|amplitude|width"):
            jx.chain_loss_closed_form(*args, confinement_parallel=confinement)
        return
    loss = float(jx.chain_loss_closed_form(*args, confinement_parallel=confinement))
    assert math.isfinite(loss) and loss >= 0.0


@FAST
@given(
    c11=st.floats(min_value=-300.0, max_value=300.0),
    c12=st.floats(min_value=-300.0, max_value=300.0),
    c44=st.floats(min_value=-100.0, max_value=100.0),
    density=st.one_of(st.floats(min_value=100.0, max_value=2e4), bad_extras),
)
def test_material_born_criteria(c11, c12, c44, density):
    # Born stability of a cubic crystal, written independently of the code's eigenvalue test.
    margins = (c11 - c12, c11 + 2 * c12, c44)
    assume(all(abs(m) > 1e-6 for m in margins))
    stable = all(m > 0 for m in margins)
    voigt = jx.materials.cubic_voigt(c11, c12, c44)
    if not (stable and _positive(density)):
        with pytest.raises(ValueError, match="positive definite|density"):
            jx.Material(voigt, jnp.asarray(density))
        return
    material = jx.Material(voigt, jnp.asarray(density))
    velocities, _ = jx.christoffel(material.elastic_constants * 1e9, material.density, jnp.asarray([0.0, 0.0, 1.0]))
    # along [001]: ρv² = C44 (twice) and C11
    np.testing.assert_allclose(np.sort(np.asarray(velocities) ** 2 * density / 1e9), np.sort([c44, c44, c11]), rtol=1e-10)


@FAST
@given(speed=st.one_of(st.floats(min_value=0.5, max_value=100.0), bad_extras))
def test_mode_sum_speed_validation(speed):
    system = _chain_system()
    if not _positive(speed):
        with pytest.raises(ValueError, match="speed"):
            jx.mode_sum_loss(system, jnp.asarray([speed]), (0.0, 1.0, 0.0), modes=_chain_modes())
    else:
        loss = np.asarray(jx.mode_sum_loss(system, jnp.asarray([speed]), (0.0, 1.0, 0.0), modes=_chain_modes()))
        assert np.all(np.isfinite(loss)) and np.all(loss >= 0)


# ---------------------------------------------------------------------- invariants


_CACHE = {}


def _chain_system(amplitude=0.01, width=1.0):
    return jx.System(jx.chain3d(K), jx.Gaussian(amplitude, width))


def _chain_modes():
    if "modes" not in _CACHE:
        _CACHE["modes"] = jx.zone_modes(jx.chain3d(K))
    return _CACHE["modes"]


@FAST
@given(s=st.floats(min_value=0.0, max_value=2.5), speed=st.floats(min_value=2.0, max_value=80.0),
       width=st.floats(min_value=0.5, max_value=2.0))
def test_mode_sum_loss_is_even_in_the_impact_parameter(s, speed, width):
    system = _chain_system(0.01, width)
    speeds = jnp.asarray([speed])
    modes = _chain_modes()
    plus = float(jx.mode_sum_loss(system, speeds, (0.0, s, 0.0), modes=modes)[0])
    minus = float(jx.mode_sum_loss(system, speeds, (0.0, -s, 0.0), modes=modes)[0])
    sideways = float(jx.mode_sum_loss(system, speeds, (-s, 0.0, 0.0), modes=modes)[0])  # k⊥ equal in x and y
    assert math.isfinite(plus) and plus > 0
    np.testing.assert_allclose(minus, plus, rtol=1e-12)
    np.testing.assert_allclose(sideways, plus, rtol=1e-9)


@SLOW
@given(s=st.floats(min_value=0.2, max_value=1.5), speed=st.floats(min_value=15.0, max_value=40.0))
def test_simulated_loss_is_even_in_the_impact_parameter(s, speed):
    system = _chain_system()
    kwargs = dict(max_frequency=system.lattice.max_frequency((40,)), check_echo=False)
    plus = jx.simulate_pass(system, speed, (40,), impact=(0.0, s, 0.0), **kwargs)
    minus = jx.simulate_pass(system, speed, (40,), impact=(0.0, -s, 0.0), **kwargs)
    assert int(plus.status) == 0 and bool(plus.stopped_by_event)
    assert float(plus.loss) > 0
    np.testing.assert_allclose(float(minus.loss), float(plus.loss), rtol=1e-9)
    # the mirror image of the whole final state: y → −y
    mirrored = np.asarray(minus.final_state.displacement).copy()
    mirrored[1] *= -1
    np.testing.assert_allclose(mirrored, np.asarray(plus.final_state.displacement), atol=1e-12)


@eqx.filter_jit
def _forces(system, sigma, rho):
    grad_ion, grad_sites = jax.grad(system.interaction_energy, argnums=(0, 1))(sigma, rho)
    return -grad_ion, -grad_sites


@FAST
@given(
    seed=st.integers(0, 2**31 - 1),
    amplitude=st.floats(min_value=-2.0, max_value=2.0),
    width=st.floats(min_value=0.3, max_value=2.0),
    lattice_kind=st.sampled_from(["cubic", "chain"]),
)
def test_newton_third_law_in_the_interaction(seed, amplitude, width, lattice_kind):
    rng = np.random.default_rng(seed)
    if lattice_kind == "cubic":
        system = jx.System(jx.simple_cubic(), jx.Gaussian(amplitude, width), jx.cubic_cell_sites())
    else:
        system = jx.System(jx.chain(10.0, spacing=1.5), jx.Gaussian(amplitude, width), [[0], [1], [2]])
    sites, dof = len(system.sites), system.lattice.dof
    centre = np.asarray(system.site_positions()).mean(axis=0)
    sigma = jnp.asarray(centre + rng.normal(scale=1.5, size=3))
    rho = jnp.asarray(rng.normal(scale=0.3, size=(sites, dof)))
    force_ion, force_sites = _forces(system, sigma, rho)
    polarisation = system.lattice.polarisation_matrix  # (3, dof)
    # The pair forces are equal and opposite: the ion's force along each site's displacement directions
    # cancels the sum of the sites' forces (all of it for masses moving in 3D).
    total = polarisation.T @ np.asarray(force_ion) + np.asarray(force_sites).sum(axis=0)
    scale = np.abs(np.asarray(force_sites)).sum() + 1e-300
    np.testing.assert_allclose(total, 0.0, atol=1e-12 * scale)
    # and they agree with the theory module's site forces
    np.testing.assert_allclose(
        np.asarray(jx.interaction_forces(system, sigma[None], rho[None]))[0], np.asarray(force_sites), rtol=1e-12, atol=1e-300
    )


SUPERCELL = (16,)
DURATION = 0.4


def _run(system, position, velocity, displacement, framework_velocity):
    return jx.simulate(
        system, SUPERCELL, position, velocity, DURATION,
        initial_displacement=displacement, initial_velocity=framework_velocity,
        rtol=1e-11, atol=1e-13, check_echo=False, max_frequency=_CACHE.setdefault("wmax", jx.chain3d(K).max_frequency(SUPERCELL)),
    )


def _random_state(seed):
    rng = np.random.default_rng(seed)
    position = jnp.asarray(rng.uniform(-1.5, 1.5, size=3))
    velocity = jnp.asarray(rng.normal(scale=3.0, size=3))
    displacement = jnp.asarray(rng.normal(scale=0.2, size=(3, *SUPERCELL)))
    framework_velocity = jnp.asarray(rng.normal(scale=2.0, size=(3, *SUPERCELL)))
    return position, velocity, displacement, framework_velocity


@SLOW
@given(seed=st.integers(0, 2**31 - 1), amplitude=st.floats(min_value=-0.5, max_value=0.5),
       width=st.floats(min_value=0.6, max_value=1.5))
def test_total_energy_is_conserved(seed, amplitude, width):
    system = _chain_system(amplitude, width)
    state = _random_state(seed)
    out = _run(system, *state)
    assert int(out.status) == 0
    start = jx.FullState(*state)
    e0 = float(jx.total_energy(system, start, SUPERCELL))
    e1 = float(jx.total_energy(system, out.final_state, SUPERCELL))
    assert e0 > 0
    # conserved to far better than the tolerance-driven bound (rtol 1e-11 per step, a few hundred steps)
    assert abs(e1 - e0) <= 1e-8 * e0
    np.testing.assert_allclose(float(out.energy_drift), e1 - e0, atol=1e-12 * e0)


@SLOW
@given(seed=st.integers(0, 2**31 - 1), amplitude=st.floats(min_value=-0.5, max_value=0.5))
def test_time_reversal_of_the_conservative_system(seed, amplitude):
    system = _chain_system(amplitude, 1.0)
    position, velocity, displacement, framework_velocity = _random_state(seed)
    forward = _run(system, position, velocity, displacement, framework_velocity).final_state
    moved = float(jnp.max(jnp.abs(forward.displacement - displacement)))
    assert moved > 1e-2  # the framework really evolved
    back = _run(system, forward.ion_position, -forward.ion_velocity, forward.displacement, -forward.velocity).final_state
    np.testing.assert_allclose(np.asarray(back.ion_position), np.asarray(position), atol=1e-7)
    np.testing.assert_allclose(np.asarray(-back.ion_velocity), np.asarray(velocity), atol=1e-6)
    np.testing.assert_allclose(np.asarray(back.displacement), np.asarray(displacement), atol=1e-7)
    np.testing.assert_allclose(np.asarray(-back.velocity), np.asarray(framework_velocity), atol=1e-6)
