"""Time-local engine (1.26): conservation without drag, drag against the low-speed loss (1.23), and
the softened potential against the relaxed framework energy (the factor ½)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxion as jx
from jaxion.dynamics.local import simulate_local, time_local_model
from jaxion.theory.modes import low_speed_loss, recoil_matrix


@pytest.fixture(scope="module")
def cubic_recoil():
    return recoil_matrix(jx.simple_cubic())


@pytest.mark.parametrize("softening", ["off", "half", "printed"])
def test_energy_conserved_without_drag(softening, cubic_recoil):
    system = jx.System(jx.simple_cubic(), jx.Gaussian(1.0, 0.5), jx.line_sites(8))
    model = time_local_model(system, softening=softening, drag=False, recoil=cubic_recoil)
    out = simulate_local(model, [0.0, 0.0, 7.0], [0.0, 0.0, 7.5], 5.0, constraint=[0, 0, 1])
    assert int(out.result) == 0
    kinetic = 7.5**2 / (8 * np.pi**2)
    assert float(jnp.max(jnp.abs(out.energy - out.energy[0]))) < 1e-8 * kinetic
    assert float(out.dissipated[-1]) == 0.0


def test_drag_loss_matches_low_speed_formula(cubic_recoil):
    """A slow straight pass with a tiny barrier: ∫σ'·HMH·σ'dτ along the solved path equals (1.23)."""
    system = jx.System(jx.simple_cubic(), jx.Gaussian(1e-5, 1.0))
    model = time_local_model(system, softening="off", recoil=cubic_recoil)
    speed = 0.5
    out = simulate_local(model, [0.0, 0.0, -12.0], [0.0, 0.0, speed], 24.0 / speed, constraint=[0, 0, 1])
    expected = low_speed_loss(system, speed, recoil=cubic_recoil)
    np.testing.assert_allclose(out.dissipated[-1], expected, rtol=5e-3)


def test_half_softening_is_the_relaxed_framework_energy():
    """U(σ) with c = ½ equals min_ρ [ρᵀΞρ/2 + Φ(ρ, σ)] to second order in Φ0 (computed independently by
    relaxing the whole periodic supercell with conjugate gradients); the printed form (c = 1) does not."""
    base = jx.simple_cubic()
    lattice = jx.Lattice(base.primitive_vectors, base.force_constants, 0.5 * jnp.eye(3), base.bond_offsets, name="confined cubic")
    supercell = (8, 8, 8)
    amplitude = 1e-3
    system = jx.System(lattice, jx.Gaussian(amplitude, 0.8), jx.cubic_face_sites())
    half = time_local_model(system, softening="half", drag=False, supercell=supercell)
    printed = time_local_model(system, softening="printed", drag=False, supercell=supercell)
    sigma = jnp.array([1.0, 0.7, 0.3])
    # Independent route: the linear response of the full supercell, Ξρ = −∇_ρΦ(0, σ), by CG.
    g = half.site_gradient(sigma)
    force = jnp.zeros((3, *supercell))
    cells = np.mod(system.site_cells, supercell)
    force = force.at[:, cells[:, 0], cells[:, 1], cells[:, 2]].add(-g.T)
    rho, _ = jax.scipy.sparse.linalg.cg(lattice.apply_coupling, force, tol=1e-14, maxiter=2000)
    relaxed = system.landscape(sigma) + 0.5 * jnp.vdot(rho, lattice.apply_coupling(rho)) + jnp.vdot(-force, rho)
    correction = system.landscape(sigma) - relaxed
    assert float(correction) > 0
    np.testing.assert_allclose(system.landscape(sigma) - half.softened_potential(sigma), correction, rtol=1e-8)
    np.testing.assert_allclose(system.landscape(sigma) - printed.softened_potential(sigma), 2 * correction, rtol=1e-8)


def test_batched_initial_conditions(cubic_recoil):
    system = jx.System(jx.simple_cubic(), jx.Gaussian(1.0, 0.5), jx.line_sites(8))
    model = time_local_model(system, recoil=cubic_recoil, greens=jnp.zeros((8, 8, 3, 3)), softening="half")
    speeds = jnp.array([5.0, 7.5])
    batch = jax.vmap(
        lambda v: simulate_local(model, jnp.array([0.0, 0.0, 7.0]), jnp.array([0.0, 0.0, 1.0]) * v, 2.0, constraint=jnp.array([0.0, 0.0, 1.0]))
    )(speeds)
    alone = simulate_local(model, [0.0, 0.0, 7.0], [0.0, 0.0, 7.5], 2.0, constraint=[0, 0, 1])
    np.testing.assert_allclose(batch.positions[1], alone.positions, rtol=1e-8, atol=1e-10)


def test_bad_input():
    system = jx.System(jx.simple_cubic(), jx.Gaussian(1.0, 0.5))
    with pytest.raises(ValueError, match="softening"):
        time_local_model(system, softening="quarter")
    with pytest.raises(ValueError, match="diverges"):
        time_local_model(jx.System(jx.simple_cubic(15.0, 0.0), jx.Gaussian(1.0, 0.5)))
    with pytest.raises(ValueError, match="3D"):
        time_local_model(jx.System(jx.chain3d(10.0, confinement_parallel=0.0), jx.Gaussian(1.0, 0.5)))
