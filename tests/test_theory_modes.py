"""Tests of the Brillouin-zone mode sums (paper 1, (1.11), (1.13), (1.23), (1.29)) and the chain
closed forms (1.14)–(1.17)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxion
from jaxion.theory import chain as chain_theory, greens, low_speed, modes

CHAIN_FORMS = (
    jaxion.chain_loss_closed_form, chain_theory.chain_loss_fast, chain_theory.chain_loss_slow, chain_theory.chain_loss_unconfined
)

K = 99 / 4


@pytest.fixture(scope="module")
def cubic():
    return jaxion.simple_cubic(15.0, 5.0, 2.0)


@pytest.fixture(scope="module")
def cubic_modes(cubic):
    """Default-rule modes of the paper's cubic lattice (computed once, ~2 s)."""
    return modes.zone_modes(cubic)


@pytest.fixture(scope="module")
def coarse_cubic_modes(cubic):
    return modes.zone_modes(cubic, modes.zone_quadrature(3, 3, 4, 1 / 3))


def straight_path(system, speed, impact, direction=(0.0, 0.0, 1.0), dt=1e-3):
    geometry = jaxion.pass_geometry(system, direction, impact)
    times = np.arange(0.0, float(geometry.path_length) / speed + dt / 2, dt)
    positions = np.asarray(geometry.start)[None] + speed * times[:, None] * np.asarray(geometry.direction)[None]
    return times, positions


# ----------------------------------------------------------------------------- quadrature


def test_zone_quadrature_is_a_zone_average():
    for dim in (1, 2, 3):
        nodes, weights = modes.zone_quadrature(dim)
        assert nodes.shape == (len(weights), dim)
        np.testing.assert_allclose(weights.sum(), 1.0, rtol=1e-13)
        assert np.min(np.linalg.norm(nodes, axis=-1)) > 0  # no node on q = 0
        assert np.all(np.abs(nodes) < np.pi)
    nodes, weights = modes.zone_quadrature(3, 3, 10, 1 / 3)
    # ⟨cos² q_x⟩ = 1/2, ⟨cos q_x cos q_y⟩ = 0, ⟨|q|²⟩ = π²
    np.testing.assert_allclose(weights @ np.cos(nodes[:, 0]) ** 2, 0.5, rtol=1e-12)
    np.testing.assert_allclose(weights @ (np.cos(nodes[:, 0]) * np.cos(nodes[:, 1])), 0.0, atol=1e-14)
    np.testing.assert_allclose(weights @ np.sum(nodes**2, -1), np.pi**2, rtol=1e-12)
    nodes, weights = modes.supercell_quadrature((4, 6))
    assert nodes.shape == (24, 2) and np.allclose(weights, 1 / 24)


# ----------------------------------------------------------------------------- (1.13) on the chain


@pytest.mark.parametrize("kappa", [0.0, 1.0])
def test_chain_mode_sum_equals_closed_form(kappa):
    """(1.13) by zone quadrature on the 3D-moving chain equals the closed form (1.14) to 1e-6 relative
    (observed ~1e-9) for speeds 1–80, s ∈ {0, 1}, λ ∈ {1/2, 1, 2, 4}, including the zero-frequency mode
    at κ = 0."""
    lattice = jaxion.chain3d(K, K, kappa, kappa, spacing=1.0)
    zone = modes.zone_modes(lattice)
    speeds = np.linspace(1.0, 80.0, 25)
    for width in (0.5, 1.0, 2.0, 4.0):
        system = jaxion.System(lattice, jaxion.Gaussian(0.01, width), sites=[(0,)])
        for s in (0.0, 1.0):
            numeric = np.asarray(modes.mode_sum_loss(system, speeds, (0.0, s, 0.0), modes=zone))
            closed = np.asarray(jaxion.chain_loss_closed_form(speeds, 0.01, width, s, K, K, kappa, kappa))
            np.testing.assert_allclose(numeric, closed, rtol=1e-6)


def test_chain_default_quadrature_converged():
    """Two resolutions of the graded rule agree (the default has 40 levels × 8 points)."""
    lattice = jaxion.chain3d(K, K, 0.0, 0.0, spacing=1.0)
    system = jaxion.System(lattice, jaxion.Gaussian(0.01, 4.0), sites=[(0,)])
    speeds = np.array([0.5, 1.0, 5.0, 30.0])
    default = np.asarray(modes.mode_sum_loss(system, speeds, (0.0, 1.0, 0.0)))
    fine = np.asarray(modes.mode_sum_loss(system, speeds, (0.0, 1.0, 0.0), quadrature=modes.zone_quadrature(1, 60, 12, 0.5)))
    np.testing.assert_allclose(default, fine, rtol=1e-9)


def test_generic_potential_uses_numeric_transform():
    """A Gaussian written as a CustomPairPotential (numeric path transform, ∇⊥ by jax.jacfwd, tabulated
    in p) gives the same loss as the closed form (chain, s = 0 and 1)."""
    width = 1.0
    custom = jaxion.CustomPairPotential(lambda r: 0.01 * jnp.exp(-(r**2) / (2 * width**2)), interaction_range=width)
    lattice = jaxion.chain3d(K, K, 1.0, 1.0, spacing=1.0)
    for s, speed in ((0.0, 2.0), (1.0, 40.0)):
        a = modes.mode_sum_loss(jaxion.System(lattice, custom, sites=[(0,)]), speed, (0.0, s, 0.0), table_points=1025)
        b = modes.mode_sum_loss(jaxion.System(lattice, jaxion.Gaussian(0.01, width), sites=[(0,)]), speed, (0.0, s, 0.0))
        np.testing.assert_allclose(a, b, rtol=1e-5)


# ----------------------------------------------------------------------------- (1.13) on the cubic lattice


def test_cubic_mode_sum_converged(cubic, cubic_modes):
    """Convergence of the default 3D rule (84³ nodes) against a finer one (6 levels × 8 points,
    112³ nodes): agreement to 1e-4 relative (observed ≲ 3e-5) from speed 0.25 to 80."""
    fine = modes.zone_modes(cubic, modes.zone_quadrature(3, 6, 8, 1 / 3))
    speeds = np.array([0.25, 4.0, 80.0])
    for width, s in ((0.5, 0.0), (4.0, 1.0)):
        system = jaxion.System(cubic, jaxion.Gaussian(0.01, width))
        a = np.asarray(modes.mode_sum_loss(system, speeds, (s, 0.0, 0.0), modes=cubic_modes))
        b = np.asarray(modes.mode_sum_loss(system, speeds, (s, 0.0, 0.0), modes=fine))
        np.testing.assert_allclose(a, b, rtol=1e-4)


def test_cubic_curve_of_50_speeds_is_one_batched_call(cubic, cubic_modes):
    """50 speeds in one call (how a curve is drawn) equal the same speeds asked for in two halves (a speed's loss
    does not depend on its batch). Its speed is measured in benchmarks/, not here."""
    system = jaxion.System(cubic, jaxion.Gaussian(0.01, 1.0))
    speeds = np.geomspace(1.0, 80.0, 50)
    curve = np.asarray(modes.mode_sum_loss(system, speeds, (1.0, 0.0, 0.0), modes=cubic_modes))
    halves = np.concatenate([np.asarray(modes.mode_sum_loss(system, half, (1.0, 0.0, 0.0), modes=cubic_modes))
                             for half in (speeds[:25], speeds[25:])])
    assert np.all(curve > 0)
    np.testing.assert_allclose(curve, halves, rtol=1e-12)


# ----------------------------------------------------------------------------- (1.23)


def test_recoil_matrix_cubic(cubic):
    """M ∝ identity for the simple cubic lattice; V_cell × (Cartesian formula) equals the paper's
    reduced-unit formula with S(n̂) = ½ Σ_v k v̂v̂ᵀ (n̂·v)² for any lattice constant; converged in the
    sphere rule."""
    m = np.asarray(low_speed.recoil_matrix(cubic))
    assert m[0, 0] > 0
    np.testing.assert_allclose(m, m[0, 0] * np.eye(3), atol=1e-12 * m[0, 0])
    finer = np.asarray(low_speed.recoil_matrix(cubic, theta_points=96, phi_points=192))
    np.testing.assert_allclose(m, finer, atol=1e-12 * m[0, 0])

    vectors, springs = [], []
    for v, k in [((1, 0, 0), 15.0), ((0, 1, 0), 15.0), ((0, 0, 1), 15.0)] + [
        (v, 5.0) for v in [(1, 1, 0), (1, -1, 0), (1, 0, 1), (1, 0, -1), (0, 1, 1), (0, 1, -1)]
    ]:
        for sign in (1, -1):
            vectors.append(sign * np.asarray(v, float))
            springs.append(k)
    vectors, springs = np.array(vectors), np.array(springs)
    unit = vectors / np.linalg.norm(vectors, axis=1)[:, None]
    dirs, weights = low_speed._sphere_rule(48, 96)
    s_red = 0.5 * np.einsum("b,bi,bj,nb->nij", springs, unit, unit, (dirs @ vectors.T) ** 2)
    k, eta = np.linalg.eigh(s_red)
    reduced = np.einsum("n,niu,nu,nju->ij", weights, eta, 1 / (4 * (2 * np.pi * np.sqrt(k)) ** 3), eta)
    for spacing in (1.0, 2.0, 3.5):
        recoil = np.asarray(low_speed.recoil_matrix(jaxion.simple_cubic(15.0, 5.0, spacing)))
        np.testing.assert_allclose(recoil, reduced, rtol=1e-12, atol=1e-18)


def test_recoil_matrix_rejects_singular_lattices():
    with pytest.raises(ValueError, match="zero eigenvalue"):
        low_speed.recoil_matrix(jaxion.simple_cubic(15.0, 0.0))
    with pytest.raises(ValueError, match="3D"):
        low_speed.recoil_matrix(jaxion.chain3d(K, K, 0.0, 0.0))
    bonds = [((1, 0, 0), np.eye(3)), ((0, 1, 0), np.eye(3)), ((0, 0, 1), np.eye(3))]
    confined = jaxion.bravais_lattice(np.eye(3), bonds, confinement=np.eye(3))
    with pytest.raises(ValueError, match="confinement"):
        low_speed.recoil_matrix(confined)


def test_low_speed_loss_analytic_single_gaussian(cubic):
    """For one Gaussian site and isotropic M = m·1: ∫dz |H ẑ|² = Φ0² e^{−s²/λ²} sqrt(π) [s²/(2λ⁵) + 3/(4λ³)]."""
    m = float(low_speed.recoil_matrix(cubic)[0, 0])
    for width, s in ((0.5, 0.0), (1.0, 1.0), (2.0, 0.7)):
        system = jaxion.System(cubic, jaxion.Gaussian(0.01, width))
        got = float(low_speed.low_speed_loss(system, 3.0, (s, 0.0, 0.0)))
        want = 3.0 * m * 1e-4 * np.exp(-(s**2) / width**2) * np.sqrt(np.pi) * (s**2 / (2 * width**5) + 3 / (4 * width**3))
        np.testing.assert_allclose(got, want, rtol=1e-10)


def test_mode_sum_approaches_low_speed_limit(cubic, cubic_modes):
    """(1.13) → (1.23) as σ' → 0 for the paper's cubic lattice (Fig. 4): within 2% at σ' = 1 (observed
    ≤ 0.6%), within 0.2% at σ' = 0.25, and the ratio decreases monotonically towards 1."""
    recoil = low_speed.recoil_matrix(cubic)
    speeds = np.array([0.25, 0.5, 1.0, 2.0])
    for width in (0.5, 1.0, 2.0):
        system = jaxion.System(cubic, jaxion.Gaussian(0.01, width))
        for s in (0.0, 1.0):
            full = np.asarray(modes.mode_sum_loss(system, speeds, (s, 0.0, 0.0), modes=cubic_modes))
            local = np.asarray(low_speed.low_speed_loss(system, speeds, (s, 0.0, 0.0), recoil=recoil))
            ratio = full / local
            assert abs(ratio[2] - 1) < 0.02
            assert abs(ratio[0] - 1) < 2e-3
            assert np.all(np.diff(np.abs(ratio - 1)) > 0)


def test_low_speed_loss_multiple_sites(cubic):
    """Fig. 5 geometry: 4 face sites / 8 cell sites, path through the face centre. The loss is linear
    in the speed, positive, and invariant under the cubic symmetry (path along x vs along z through the
    equivalent face)."""
    pot = jaxion.Gaussian(0.0025, 1.0)
    face = jaxion.System(cubic, pot, sites=jaxion.cubic_face_sites())
    a = float(low_speed.low_speed_loss(face, 1.0))
    b = float(low_speed.low_speed_loss(face, 2.0))
    np.testing.assert_allclose(b, 2 * a, rtol=1e-14)
    face_x = jaxion.System(cubic, pot, sites=[(0, 0, 0), (0, 1, 0), (0, 0, 1), (0, 1, 1)])
    np.testing.assert_allclose(float(low_speed.low_speed_loss(face_x, 1.0, direction=(1.0, 0.0, 0.0))), a, rtol=1e-12)
    cell = jaxion.System(cubic, pot, sites=jaxion.cubic_cell_sites())
    assert float(low_speed.low_speed_loss(cell, 1.0)) > 0


# ----------------------------------------------------------------------------- (1.29)


def test_static_greens_function_infinite_lattice(cubic):
    """(1.29) on the infinite cubic lattice vs N³ supercells (zero modes excluded): the supercell result
    tends to the zone integral like 1/N (the missing q = 0 cell) — the errors halve as N doubles and the
    Richardson extrapolation 2G(64) − G(32) matches to 5e-4 of the on-site value. The on-site block is
    isotropic."""
    cells = [(0, 0, 0), (0, 0, 1), (1, 0, 0), (1, 1, 1), (0, 0, 2)]
    source = [(0, 0, 0)]
    infinite = np.asarray(greens.static_greens_function(cubic, cells, source))
    scale = infinite[0, 0, 0, 0]
    np.testing.assert_allclose(infinite[0, 0], scale * np.eye(3), atol=1e-12)
    g = {n: np.asarray(greens.static_greens_function(cubic, cells, source, supercell=(n, n, n))) for n in (16, 32, 64)}
    err = {n: np.max(np.abs(g[n] - infinite)) / scale for n in g}
    assert err[64] < 0.02
    assert 0.4 < err[32] / err[16] < 0.6 and 0.4 < err[64] / err[32] < 0.6
    np.testing.assert_allclose(2 * g[64] - g[32], infinite, atol=5e-4 * scale)


@pytest.mark.slow
def test_static_greens_function_infinite_converged(cubic):
    """Convergence of the zone rule for (1.29): the default (9 levels × 5 points, outer panels cut for
    the separations) vs a finer one (10 × 5 with more outer panels) agree to 2e-6 relative (observed 5e-7,
    also for separations up to 7 cells)."""
    cells = [(0, 0, 0), (0, 0, 1), (1, 0, 0), (1, 1, 1), (0, 0, 3), (0, 0, 7)]
    source = [(0, 0, 0)]
    infinite = np.asarray(greens.static_greens_function(cubic, cells, source))
    finer = np.asarray(greens.static_greens_function(cubic, cells, source, quadrature=modes.zone_quadrature(3, 10, 5, 1 / 3, (2, 2, 8))))
    np.testing.assert_allclose(infinite, finer, atol=2e-6 * infinite[0, 0, 0, 0])


def test_static_greens_function_inverts_coupling(cubic):
    """Ξ G = 1 on a supercell: exact for a confined lattice; 1 − 1/N (projector off the uniform
    translations, the excluded zero modes) for the unconfined cubic lattice."""
    n = 5
    cells = np.stack(np.meshgrid(*([np.arange(n)] * 3), indexing="ij"), -1).reshape(-1, 3)
    g = np.asarray(greens.static_greens_function(cubic, cells, [(0, 0, 0)], supercell=(n, n, n)))  # (N, 1, 3, 3)
    for j in range(3):
        column = jnp.asarray(g[:, 0, :, j].T.reshape(3, n, n, n))
        applied = np.asarray(cubic.apply_coupling(column)).reshape(3, -1).T  # (N, 3)
        want = -np.full((n**3, 3), 0.0)
        want[:, j] -= 1.0 / n**3
        want[0, j] += 1.0
        np.testing.assert_allclose(applied, want, atol=1e-12)
    confined = jaxion.chain3d(K, 2.0, 1.0, 0.5, spacing=1.0)
    cells = np.arange(12)[:, None]
    g = np.asarray(greens.static_greens_function(confined, cells, [(0,)], supercell=(12,)))
    for j in range(3):
        applied = np.asarray(confined.apply_coupling(jnp.asarray(g[:, 0, :, j].T)))
        want = np.zeros((3, 12))
        want[j, 0] = 1.0
        np.testing.assert_allclose(applied, want, atol=1e-12)
    # confined infinite chain: the zone integral equals a large supercell (exponential convergence)
    np.testing.assert_allclose(
        greens.static_greens_function(confined, [(0,), (3,)], [(0,)]),
        greens.static_greens_function(confined, [(0,), (3,)], [(0,)], supercell=(400,)),
        rtol=1e-10,
    )


def test_static_greens_function_rejects_divergent_cases():
    with pytest.raises(ValueError, match="diverges"):
        greens.static_greens_function(jaxion.chain3d(K, K, 0.0, 0.0), [(0,)])
    with pytest.raises(ValueError, match="diverges"):
        greens.static_greens_function(jaxion.simple_cubic(15.0, 0.0), [(0, 0, 0)])


# ----------------------------------------------------------------------------- (1.11)


def test_trajectory_mode_loss_matches_mode_sum_on_chain():
    """(1.11) on the recorded forces of a constant-speed path equals (1.13) (independent code paths:
    a numeric time integral vs the analytic path transform), one and three sites."""
    lattice = jaxion.chain3d(K, K, 1.0, 1.0, spacing=1.0)
    zone = modes.zone_modes(lattice)
    for sites, impact, speed in (([(0,)], (0.0, 1.0, 0.0), 10.0), ([(0,), (1,), (2,)], (0.0, 0.5, 0.0), 7.0)):
        system = jaxion.System(lattice, jaxion.Gaussian(0.01, 1.0), sites=sites)
        times, positions = straight_path(system, speed, impact)
        forces = modes.interaction_forces(system, positions)
        a = float(modes.trajectory_mode_loss(system, times, forces, modes=zone))
        b = float(modes.mode_sum_loss(system, speed, impact, modes=zone))
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_trajectory_mode_loss_matches_mode_sum_on_cubic(cubic, coarse_cubic_modes):
    """Same on the cubic lattice with the 8 cell sites (Fig. 5, off-centre path) — this checks the phases
    e^{iq·n_a} e^{ipz_a} of the multi-site mode sum. A coarse zone rule is shared by both sides."""
    for sites, impact in ((jaxion.cubic_cell_sites(), (0.3, 0.2, 0.0)),):
        system = jaxion.System(cubic, jaxion.Gaussian(0.01, 1.0), sites=sites)
        times, positions = straight_path(system, 10.0, impact, dt=2e-3)
        forces = modes.interaction_forces(system, positions)
        a = float(modes.trajectory_mode_loss(system, times, forces, modes=coarse_cubic_modes))
        b = float(modes.mode_sum_loss(system, 10.0, impact, modes=coarse_cubic_modes))
        np.testing.assert_allclose(a, b, rtol=1e-6)


@pytest.mark.slow
def test_trajectory_mode_loss_matches_full_simulation():
    """(1.11) with the forces of a full simulation (100-mass periodic chain) and the supercell's exact
    modes reproduces the framework energy the engine reports (observed 1e-9)."""
    lattice = jaxion.chain3d(K, K, 0.0, 0.0, spacing=1.0)
    system = jaxion.System(lattice, jaxion.Gaussian(0.01, 1.0), sites=[(0,)])
    geometry = jaxion.pass_geometry(system, (0, 0, 1), (0, 1.0, 0))
    save = np.linspace(0, float(geometry.path_length) / 5.0, 4001)
    result = jaxion.simulate_pass(system, 5.0, (100,), impact=(0, 1.0, 0), save_times=save)
    ok = np.isfinite(np.asarray(result.ts))
    forces = modes.interaction_forces(system, np.asarray(result.ion_positions)[ok], np.asarray(result.site_displacements)[ok])
    energy = modes.trajectory_mode_loss(system, np.asarray(result.ts)[ok], forces, quadrature=modes.supercell_quadrature((100,)))
    np.testing.assert_allclose(float(energy), float(result.framework_energy), rtol=1e-6)


# ----------------------------------------------------------------------------- gradients, vmap, inputs


def _central(f, x, h):
    return (f(x + h) - f(x - h)) / (2 * h)


def test_mode_sum_gradients_match_finite_differences(cubic, coarse_cubic_modes):
    lattice = jaxion.chain3d(K, K, 1.0, 1.0, spacing=1.0)
    zone = modes.zone_modes(lattice)

    def loss(speed, amplitude, width, lat=lattice, zm=zone, impact=(0.0, 1.0, 0.0)):
        sites = [(0,)] if lat.dim == 1 else [(0, 0, 0)]
        system = jaxion.System(lat, jaxion.Gaussian(amplitude, width), sites=sites)
        return modes.mode_sum_loss(system, speed, impact, modes=zm)

    for lat, zm, impact in ((lattice, zone, (0.0, 1.0, 0.0)), (cubic, coarse_cubic_modes, (1.0, 0.0, 0.0))):
        x = (7.0, 0.01, 1.3)
        grads = jax.grad(lambda *a: loss(*a, lat=lat, zm=zm, impact=impact), argnums=(0, 1, 2))(*x)
        for i, h in enumerate((1e-4, 1e-6, 1e-5)):
            def f(v, i=i):
                args = list(x)
                args[i] = v
                return float(loss(*args, lat=lat, zm=zm, impact=impact))

            np.testing.assert_allclose(float(grads[i]), _central(f, x[i], h), rtol=1e-6)


def test_chain_closed_form_gradients_match_finite_differences():
    functions = list(CHAIN_FORMS)
    x = (5.0, 0.01, 1.0)
    for fn in functions:
        grads = jax.grad(lambda v, a, w: fn(v, a, w, 1.0), argnums=(0, 1, 2))(*x)
        for i, h in enumerate((1e-5, 1e-7, 1e-6)):
            def f(v, i=i):
                args = list(x)
                args[i] = v
                return float(fn(*args, 1.0))

            np.testing.assert_allclose(float(grads[i]), _central(f, x[i], h), rtol=1e-6)


def test_mode_sum_vmaps_over_speed(coarse_cubic_modes, cubic):
    system = jaxion.System(cubic, jaxion.Gaussian(0.01, 1.0))
    speeds = jnp.array([1.0, 5.0, 20.0])
    batched = jax.vmap(lambda v: modes.mode_sum_loss(system, v, (1.0, 0.0, 0.0), modes=coarse_cubic_modes))(speeds)
    direct = modes.mode_sum_loss(system, speeds, (1.0, 0.0, 0.0), modes=coarse_cubic_modes)
    np.testing.assert_allclose(batched, direct, rtol=1e-12)
    jitted = jax.jit(jax.vmap(jax.grad(lambda v: modes.mode_sum_loss(system, v, (1.0, 0.0, 0.0), modes=coarse_cubic_modes))))(speeds)
    assert np.all(np.isfinite(np.asarray(jitted)))


def test_bad_inputs_raise(cubic):
    system = jaxion.System(jaxion.chain3d(K, K, 1.0, 1.0), jaxion.Gaussian(0.01, 1.0), sites=[(0,)])
    for bad in (0.0, -1.0, [1.0, 0.0]):
        with pytest.raises(ValueError, match="speed"):
            modes.mode_sum_loss(system, bad)
        with pytest.raises(ValueError, match="speed"):
            low_speed.low_speed_loss(jaxion.System(cubic, jaxion.Gaussian(0.01, 1.0)), bad)
        for fn in CHAIN_FORMS:
            with pytest.raises(ValueError, match="speed"):
                fn(bad, 0.01, 1.0)
    for fn in CHAIN_FORMS:
        with pytest.raises(ValueError, match="width"):
            fn(5.0, 0.01, 0.0)
    with pytest.raises(ValueError, match="width"):
        jaxion.Gaussian(0.01, -1.0)
    with pytest.raises(ValueError, match="perpendicular"):
        modes.mode_sum_loss(system, 5.0, impact=(0.0, 0.0, 1.0))
    with pytest.raises(ValueError, match="increasing"):
        modes.trajectory_mode_loss(system, np.array([0.0, 0.0, 1.0]), np.zeros((3, 1, 3)))


# ----------------------------------------------------------------------------- (1.15)–(1.17)


@pytest.mark.parametrize("kappa", [0.0, 1.0])
@pytest.mark.parametrize("s", [0.0, 1.0])
def test_chain_limits_approach_closed_form(kappa, s):
    """(1.15) → (1.14) as σ' → ∞ (relative error ∝ Λ² ∝ 1/σ'²); (1.16) → (1.14) as σ' → 0 (error ∝ 1/Λ²)."""
    args = (0.01, 1.0, s, K, None, kappa)
    fast_speeds = np.array([1e3, 1e4, 1e5])
    err_fast = np.abs(chain_theory.chain_loss_fast(fast_speeds, *args) / jaxion.chain_loss_closed_form(fast_speeds, *args) - 1)
    assert err_fast[-1] < 1e-6
    np.testing.assert_allclose(err_fast[:-1] / err_fast[1:], 100.0, rtol=0.02)
    # (at κ = 1 and σ' = 0.1 both underflow: e^{−Λ²κ} ~ e^{−4000})
    slow_speeds = np.array([1.0, 0.3, 0.1]) if kappa == 0 else np.array([1.0, 0.3])
    err_slow = np.abs(chain_theory.chain_loss_slow(slow_speeds, *args) / jaxion.chain_loss_closed_form(slow_speeds, *args) - 1)
    assert err_slow[-1] < 1e-5
    assert np.all(np.diff(err_slow) < 0)


def test_chain_unconfined_limit():
    """(1.17) equals (1.16) at κ = 0 and is the low-speed limit of (1.14) at κ = 0 (Δ ∝ 1/σ')."""
    speeds = np.array([1.0, 0.1, 0.01])
    for s in (0.0, 1.0):
        unconfined = chain_theory.chain_loss_unconfined(speeds, 0.01, 1.0, s, K, 2.0)
        np.testing.assert_allclose(unconfined, chain_theory.chain_loss_slow(speeds, 0.01, 1.0, s, K, 2.0, 0.0, 0.0), rtol=1e-14)
        err = np.abs(unconfined / jaxion.chain_loss_closed_form(speeds, 0.01, 1.0, s, K, 2.0, 0.0, 0.0) - 1)
        assert err[-1] < 1e-7 and np.all(np.diff(err) < 0)
        np.testing.assert_allclose(unconfined[1] / unconfined[0], 10.0, rtol=1e-14)
