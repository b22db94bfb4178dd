"""Time-local engine (1.26): conservation without drag, drag against the low-speed loss (1.23), and
the softened potential against the relaxed framework energy (the factor ½)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxion as jx
from jaxion.dynamics.local import simulate_local, time_local_model
from jaxion.theory.low_speed import low_speed_loss, recoil_matrix


@pytest.fixture(scope="module")
def cubic_recoil():
    return recoil_matrix(jx.simple_cubic())


@pytest.mark.parametrize("softening", ["off", "half", "printed"])
def test_energy_conserved_without_drag(softening, cubic_recoil):
    system = jx.System(jx.simple_cubic(), jx.Gaussian(1.0, 0.5), jx.line_sites(8))
    model = time_local_model(system, softening=softening, drag=False, recoil=cubic_recoil)
    out = simulate_local(model, [0.0, 0.0, 7.0], [0.0, 0.0, 7.5], 5.0, constraint=[0, 0, 1])
    assert int(out.status) == 0
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
    lattice = jx.Lattice(base.primitive_vectors, 0.5 * jnp.eye(3), base.pair_force_constants, base.pair_offsets, name="confined cubic")
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
        lambda v: simulate_local(
            model, jnp.array([0.0, 0.0, 7.0]), jnp.array([0.0, 0.0, 1.0]) * v, 2.0, constraint=jnp.array([0.0, 0.0, 1.0])
        )
    )(speeds)
    alone = simulate_local(model, [0.0, 0.0, 7.0], [0.0, 0.0, 7.5], 2.0, constraint=[0, 0, 1])
    np.testing.assert_allclose(batch.ion_positions[1], alone.ion_positions, rtol=1e-8, atol=1e-10)


def test_bad_input():
    system = jx.System(jx.simple_cubic(), jx.Gaussian(1.0, 0.5))
    with pytest.raises(ValueError, match="softening"):
        time_local_model(system, softening="quarter")
    with pytest.raises(ValueError, match="diverges"):
        time_local_model(jx.System(jx.simple_cubic(15.0, 0.0), jx.Gaussian(1.0, 0.5)))
    with pytest.raises(ValueError, match="3D"):
        time_local_model(jx.System(jx.chain3d(10.0, confinement_parallel=0.0), jx.Gaussian(1.0, 0.5)))


def _autodiff_forces(model, sigma):
    """The reference for the closed form: nested ``jax.grad``/``jax.hessian`` of the definitions."""
    return -jax.grad(model.softened_potential)(sigma), model.drag_matrix(sigma), model.softened_potential(sigma)


@pytest.mark.parametrize("softening", ["off", "half", "printed"])
@pytest.mark.parametrize("case", ["cubic-line", "cubic-cell-two-gaussians", "chain-1d-custom"])
def test_closed_form_forces_match_autodiff(case, softening, cubic_recoil):
    """``TimeLocalModel.forces`` (radial derivatives in closed form, used by the solver) against
    autodiff of ``softened_potential`` and ``drag_matrix``, off the symmetry axes, for a lattice whose
    displacements are 3D (P = I) and one whose masses move along x only (dof 1, P a 3×1 column)."""
    if case == "cubic-line":
        system = jx.System(jx.simple_cubic(15.0, 5.0, 2.0), jx.Gaussian(1.0, 0.5), jx.line_sites(8))
        model = time_local_model(system, softening=softening, recoil=cubic_recoil)
    elif case == "cubic-cell-two-gaussians":
        potential = jx.Gaussian(0.7, 0.6) + jx.Gaussian(-0.2, 1.3)
        system = jx.System(jx.simple_cubic(), potential, jx.cubic_cell_sites())
        model = time_local_model(system, softening=softening, recoil=cubic_recoil)
    else:
        potential = jx.CustomPairPotential(lambda r: 0.3 / (1.0 + r**2) ** 2 + 0.1 * jnp.exp(-r), interaction_range=1.0)
        system = jx.System(jx.chain(), potential, jx.line_sites(3, axis=0, dim=1, start=-1))
        greens = jnp.asarray(np.random.default_rng(1).normal(size=(3, 3, 1, 1)))
        greens = 0.5 * (greens + jnp.transpose(greens, (1, 0, 3, 2)))
        model = time_local_model(system, softening=softening, drag=False, greens=greens, recoil=jnp.eye(3) * 0.1)
    for sigma in (jnp.array([0.31, -0.27, 1.9]), jnp.array([-0.8, 0.45, 0.2])):
        force, drag, energy = model.forces(sigma)
        ref_force, ref_drag, ref_energy = _autodiff_forces(model, sigma)
        np.testing.assert_allclose(force, ref_force, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(drag, ref_drag, rtol=1e-10, atol=1e-15)
        np.testing.assert_allclose(energy, ref_energy, rtol=1e-12, atol=1e-15)


def test_batch_equals_single_solves(cubic_recoil):
    """``simulate_local_batch`` against ``simulate_local`` member by member (different speeds, starts,
    one member off the line is refused)."""
    system = jx.System(jx.simple_cubic(15.0, 5.0, 2.0), jx.Gaussian(1.0, 0.5), jx.line_sites(8))
    model = time_local_model(system, recoil=cubic_recoil)
    starts = np.array([[0.0, 0.0, 7.0], [0.0, 0.0, 6.9], [0.0, 0.0, 7.2]])
    velocities = np.array([[0.0, 0.0, 7.5], [0.0, 0.0, 5.0], [0.0, 0.0, 9.0]])
    batch = jx.simulate_local_batch(model, starts, velocities, 4.0, constraint=[0, 0, 1])
    assert batch.ion_positions.shape == (3, 301, 3) and batch.status.shape == (3,)
    for member in range(3):
        alone = simulate_local(model, starts[member], velocities[member], 4.0, constraint=[0, 0, 1])
        np.testing.assert_allclose(batch.ion_positions[member], alone.ion_positions, rtol=0, atol=1e-8)
        np.testing.assert_allclose(batch.dissipated[member], alone.dissipated, rtol=1e-7, atol=1e-14)
    with pytest.raises(ValueError, match=r"members \[1\]"):
        jx.simulate_local_batch(model, starts, velocities + np.array([[0, 0, 0], [0.1, 0, 0], [0, 0, 0]]), 4.0,
                                constraint=[0, 0, 1])
    with pytest.raises(ValueError, match="members, 3"):
        jx.simulate_local_batch(model, starts[0], velocities[0], 4.0)
    with pytest.raises(ValueError, match="ion_velocities"):
        jx.simulate_local_batch(model, starts, velocities * np.nan, 4.0)
