"""Gradients of losses and drag of real crystals (jaxion.screening, jaxion.theory.modes) against central finite
differences, the new pair potentials' path transforms against quadrature, batched ranking against a loop, and the
descent toward lower drag.

- The mode sum (1.13) on a Cu3Au-like L1₂ crystal (4-atom cubic cell, unequal masses, one pair potential per
  species) on the 4³ supercell grid, which holds Γ and zone-boundary points where branches are degenerate: the
  Daleckii–Krein derivative with respect to force constants, masses, a strain and the potentials' parameters equals
  central differences, where differentiating ``eigh`` gives NaN.
- The recoil-based drag (1.23)/(1.27) on a Bravais (fcc) lattice of non-unit mass: gradients of the energy per hop
  against central differences; the hop energy over a long segment equals the low-speed loss (1.23) along the line.
"""


import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from crystal_models import fcc_neighbours

import jaxion as jx
from jaxion import screening
from jaxion.theory import modes

A = 2.0  # cubic lattice constant
GRID = jx.supercell_quadrature((4, 4, 4))  # q = 2πn/4: Γ, zone-boundary faces, edges and corners included




def cu3au(k_mixed=10.0, k_same=7.0, masses=(3.1, 1.0, 1.0, 1.0)):
    """L1₂ (Cu3Au-like): 'Au' at the cube corner, 'Cu' at the face centres, central nearest-neighbour springs
    ``k v̂v̂ᵀ`` (Au–Cu ``k_mixed``, Cu–Cu ``k_same``), built from real-space blocks with :func:`jaxion.crystal`."""
    basis = np.array([[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]])
    forces = []
    for s, tau in enumerate(basis):
        for d in fcc_neighbours():
            target = tau + d
            t = int(np.argmin(np.linalg.norm((basis - target) - np.round(basis - target), axis=1)))
            offset = np.round(target - basis[t]).astype(int)
            k = k_same if (s > 0 and t > 0) else k_mixed
            block = k * np.outer(d, d) / (d @ d)
            forces += [(offset, s, t, -block), ((0, 0, 0), s, s, block)]
    return jx.crystal(A * np.eye(3), basis, masses, forces, species=["Au", "Cu", "Cu", "Cu"], name="Cu3Au-like")


def fcc_bravais(k=10.0, mass=2.5):
    vectors = A * 0.5 * np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0]], float).T
    bonds = [(A * d, k * np.outer(d, d) / (d @ d)) for d in fcc_neighbours() if tuple(d) > tuple(-d)]
    return jx.bravais_lattice(vectors, bonds, mass=mass, name="fcc")


def _central(f, h):
    return (f(h) - f(-h)) / (2 * h)


def _random_strain(seed):
    e = np.random.default_rng(seed).normal(size=(3, 3))
    return 0.5 * (e + e.T)


# ----------------------------------------------------------------------------- pair potentials


@pytest.mark.parametrize(
    "potential",
    [jx.BornMayer(0.8, 0.45), jx.ScreenedCoulomb(0.6, 0.7), jx.ScreenedCoulomb(-0.6, 0.7, core_radius=0.3)],
    ids=["born-mayer", "screened-coulomb", "softened-coulomb"],
)
def test_closed_form_path_transforms_match_quadrature(potential):
    p = jnp.linspace(0.0, 6.0, 13)
    impacts = (0.35, 1.2) if isinstance(potential, jx.BornMayer) or float(potential.core_radius) == 0 else (0.0, 0.35, 1.2)
    for b in impacts:
        closed = np.asarray(potential.path_transform(p, b))
        numeric = np.asarray(jx.numerical_path_transform(potential, p, b))
        np.testing.assert_allclose(closed, numeric, rtol=2e-9, atol=1e-13 * np.max(np.abs(numeric)))


def test_new_potentials_values_limits_and_units():
    bm, sc = jx.BornMayer(0.8, 0.45), jx.ScreenedCoulomb(0.6, 0.7, core_radius=0.2)
    r = jnp.array([0.0, 0.3, 1.7])
    np.testing.assert_allclose(bm(r**2), 0.8 * np.exp(-r / 0.45), rtol=1e-14)
    s = np.sqrt(r**2 + 0.04)
    np.testing.assert_allclose(sc(r**2), 0.6 * np.exp(-s / 0.7) / s, rtol=1e-14)
    # b → 0: the Born–Mayer transform tends to the 1D transform of A e^{−|z|/ρ}, 2Aρ/(1 + p²ρ²)
    p = np.array([0.0, 1.0, 3.0])
    np.testing.assert_allclose(bm.path_transform(p, 0.0), 2 * 0.8 * 0.45 / (1 + (p * 0.45) ** 2), rtol=1e-12)
    # forces at contact are finite (taken as zero for the cusp of e^{−r/ρ}), and the softened core is smooth
    for potential in (bm, sc):
        assert np.all(np.isfinite(np.asarray(jax.grad(lambda x: potential.energy(x))(jnp.zeros(3)))))
    assert np.all(np.isfinite(np.asarray(jax.grad(lambda b: bm.path_transform(p, b).sum())(0.0))))
    units = jx.DimensionlessUnits(63.546 * 1.66053906660e-27, 2 * np.pi * 5e12)
    ev, angstrom = 1.602176634e-19 / float(units.energy), 1e-10 / float(units.length)
    physical = jx.BornMayer.from_ev_angstrom(1000.0, 0.3, units)
    np.testing.assert_allclose([float(physical.amplitude), float(physical.decay_length)], [1000.0 * ev, 0.3 * angstrom], rtol=1e-14)
    coulomb = jx.ScreenedCoulomb.from_ev_angstrom(2.0, units, charge_product=-1.0, core_radius=0.1)
    np.testing.assert_allclose(float(coulomb.prefactor), -14.399645478425668 * ev * angstrom, rtol=1e-14)
    np.testing.assert_allclose(float(coulomb.screening_length), 2.0 * angstrom, rtol=1e-14)


def test_new_potentials_reject_bad_input():
    units = jx.DimensionlessUnits(1e-25, 1e13)
    with pytest.raises(ValueError, match="decay_length"):
        jx.BornMayer(1.0, 0.0)
    with pytest.raises(ValueError, match="decay_length"):
        jx.BornMayer(1.0, float("nan"))
    with pytest.raises(ValueError, match="amplitude"):
        jx.BornMayer(float("nan"), 1.0)
    with pytest.raises(ValueError, match="screening_length"):
        jx.ScreenedCoulomb(1.0, -1.0)
    with pytest.raises(ValueError, match="core_radius"):
        jx.ScreenedCoulomb(1.0, 1.0, core_radius=-0.1)
    with pytest.raises(ValueError, match="prefactor"):
        jx.ScreenedCoulomb(float("inf"), 1.0)
    with pytest.raises(ValueError, match="charge_product"):
        jx.ScreenedCoulomb.from_ev_angstrom(1.0, units)
    with pytest.raises(ValueError, match="units"):
        jx.BornMayer.from_ev_angstrom(1.0, 0.3, units=None)  # pyright: ignore[reportArgumentType]


# ----------------------------------------------------------------------------- mode sum at degeneracies


def test_mode_sum_gradients_on_a_degenerate_grid_match_finite_differences():
    lattice = cu3au()
    potentials = {"Au": jx.BornMayer(0.05, 0.3), "Cu": jx.Gaussian(0.02, 0.45)}
    system = jx.System(lattice, potentials, [[0, 0, 0, 0], [0, 0, 0, 1]])
    speed, impact = 3.0, (0.3, 0.1, 0.0)
    # the grid is degenerate: at Γ (and elsewhere) eigenvalues of D(q) repeat
    omega2 = np.asarray(lattice.modes(GRID[0]).omega2)
    assert np.sum(np.abs(np.diff(omega2, axis=1)) < 1e-9 * omega2.max()) > 100

    def loss(lattice, strain, bm, gauss):
        s = jx.System(lattice, {"Au": bm, "Cu": gauss}, system.sites)
        return screening.crystal_loss(s, speed, impact, strain=strain, quadrature=GRID)

    args = (lattice, jnp.zeros((3, 3)), potentials["Au"], potentials["Cu"])
    value, grads = eqx.filter_jit(eqx.filter_value_and_grad(lambda a: loss(*a)))(args)
    g_lattice, g_strain, g_bm, g_gauss = grads
    reference = modes.mode_sum_loss(system, speed, impact, modes=modes.zone_modes(lattice, GRID))
    np.testing.assert_allclose(float(value), float(reference), rtol=1e-12)  # same value as the eigh-based sum

    rng = np.random.default_rng(0)
    direction_fc = rng.normal(size=lattice.pair_force_constants.shape)
    direction_strain = _random_strain(1)

    def with_fc(h):
        return eqx.tree_at(lambda x: x.pair_force_constants, lattice, lattice.pair_force_constants + h * direction_fc)

    def f_fc(h):
        return float(loss(with_fc(h), *args[1:]))

    def f_strain(h):
        return float(loss(lattice, h * direction_strain, *args[2:]))

    checks = [("force constants", float(jnp.sum(g_lattice.pair_force_constants * direction_fc)), _central(f_fc, 1e-4)),
              ("strain", float(jnp.sum(g_strain * direction_strain)), _central(f_strain, 1e-5))]
    for atom in range(lattice.atoms):
        step = np.zeros(lattice.atoms)
        step[atom] = 1.0
        def f_mass(h, step=step):
            return float(loss(eqx.tree_at(lambda x: x.masses, lattice, lattice.masses + h * step), *args[1:]))

        checks.append((f"mass {atom}", float(g_lattice.masses[atom]), _central(f_mass, 1e-5)))
    for name, grad, field in (("Born-Mayer", g_bm, "amplitude"), ("Born-Mayer", g_bm, "decay_length"),
                              ("Gaussian", g_gauss, "amplitude"), ("Gaussian", g_gauss, "width")):
        index = 2 if name == "Born-Mayer" else 3

        def f(h, index=index, field=field):
            moved = list(args)
            moved[index] = eqx.tree_at(lambda p: getattr(p, field), args[index], getattr(args[index], field) + h)
            return float(loss(*moved))

        checks.append((f"{name} {field}", float(getattr(grad, field)), _central(f, 1e-6)))
    for name, analytic, finite in checks:
        assert analytic == pytest.approx(finite, rel=1e-6), name

    # for comparison: the eigenvector derivative of eigh is singular at these degeneracies (here at Γ)
    gamma = int(np.argmin(np.linalg.norm(GRID[0], axis=1)))
    matrix = lattice.dynamical_matrix(GRID[0][gamma])
    tangent = with_fc(1e-3).dynamical_matrix(GRID[0][gamma])
    _, (_, d_vectors) = jax.jvp(jnp.linalg.eigh, (matrix,), (tangent - matrix,))
    assert not np.all(np.isfinite(np.asarray(d_vectors)))


# ----------------------------------------------------------------------------- recoil-based drag (Bravais, m ≠ 1)


def test_hop_energy_gradients_match_finite_differences_and_the_low_speed_line():
    lattice = fcc_bravais(mass=2.5)
    gauss = jx.Gaussian(0.05, 0.5)
    sites = np.array([[0, 0, 0], [1, 0, 0]])
    system = jx.System(lattice, gauss, sites)
    centre = np.asarray(system.site_positions()).mean(axis=0) + np.array([0.2, 0.0, 0.0])
    d = np.array([0.0, 0.0, 1.0])
    speed = 0.7

    # over a segment long enough, the hop energy is the low-speed loss (1.23) along the line (independent quadrature)
    np.testing.assert_allclose(float(screening.crystal_hop_energy(system, centre - 8 * d, centre + 8 * d, speed, points=400)),
                               float(jx.low_speed_loss(system, speed, (0.2, 0.0, 0.0))), rtol=1e-8)

    start, end = centre - 1.5 * d, centre + 1.5 * d

    def energy(lattice, strain, gauss):
        return screening.crystal_hop_energy(jx.System(lattice, gauss, sites), start, end, speed, strain=strain)

    args = (lattice, jnp.zeros((3, 3)), gauss)
    g_lattice, g_strain, g_gauss = jax.grad(lambda a: energy(*a))(args)
    direction_fc = np.random.default_rng(2).normal(size=lattice.pair_force_constants.shape)
    direction_fc = 0.5 * (direction_fc + np.swapaxes(direction_fc, 1, 2))  # Bravais blocks stay symmetric
    direction_strain = _random_strain(3)
    fc = lattice.pair_force_constants
    checks = [
        ("force constants", float(jnp.sum(g_lattice.pair_force_constants * direction_fc)),
         _central(lambda h: float(energy(eqx.tree_at(lambda x: x.pair_force_constants, lattice, fc + h * direction_fc), *args[1:])), 1e-4)),
        ("mass", float(g_lattice.masses[0]),
         _central(lambda h: float(energy(eqx.tree_at(lambda x: x.masses, lattice, lattice.masses + h), *args[1:])), 1e-5)),
        ("strain", float(jnp.sum(g_strain * direction_strain)),
         _central(lambda h: float(energy(lattice, h * direction_strain, gauss)), 1e-5)),
        ("amplitude", float(g_gauss.amplitude), _central(lambda h: float(energy(lattice, args[1], jx.Gaussian(0.05 + h, 0.5))), 1e-6)),
        ("width", float(g_gauss.width), _central(lambda h: float(energy(lattice, args[1], jx.Gaussian(0.05, 0.5 + h))), 1e-6)),
    ]
    for name, analytic, finite in checks:
        assert analytic == pytest.approx(finite, rel=1e-6), name
    assert float(g_lattice.masses[0]) > 0  # heavier framework → more drag (M ∝ sqrt(m), (1.28))

    # the drag tensor is H M H with M the recoil matrix
    hessian = np.asarray(jax.hessian(system.landscape)(jnp.asarray(centre)))
    np.testing.assert_allclose(np.asarray(screening.crystal_drag_tensor(system, centre)),
                               hessian @ np.asarray(jx.recoil_matrix(lattice)) @ hessian, rtol=1e-12)


# ----------------------------------------------------------------------------- ranking and descent


def test_batched_ranking_equals_the_loop_of_single_calls():
    candidates = [(10.0, 7.0, (3.1, 1.0, 1.0, 1.0)), (14.0, 5.0, (3.1, 1.0, 1.0, 1.0)), (8.0, 8.0, (2.0, 1.5, 1.5, 1.5))]
    potentials = {"Au": jx.Gaussian(0.02, 0.4), "Cu": jx.Gaussian(0.01, 0.5)}
    grid = modes.zone_quadrature(3, 2, 3, 1 / 3)  # graded towards Γ (18³ nodes, none on Γ: no zero modes)
    systems = [jx.System(cu3au(*c), potentials, [[0, 0, 0, 0], [0, 0, 0, 2]]) for c in candidates]

    def drag(s):  # the mode-sum loss at a low speed as the basis's drag measure
        return screening.crystal_loss(s, 1.5, (0.25, 0.0, 0.0), quadrature=grid)

    ranking = screening.rank_by_drag(systems, drag)
    loop = np.array([float(drag(s)) for s in systems])
    np.testing.assert_allclose(np.asarray(ranking.drags), loop, rtol=1e-12)
    np.testing.assert_array_equal(np.asarray(ranking.order), np.argsort(loop))
    assert len(set(np.round(loop / loop.max(), 6))) == 3  # distinct candidates

    constants = ((10.0, 2.5), (12.0, 1.0), (6.0, 4.0))
    bravais = [jx.System(fcc_bravais(k, m), jx.Gaussian(0.05, 0.5), [[0, 0, 0], [1, 0, 0]]) for k, m in constants]
    start, end = (0.2, 0.0, -2.0), (0.2, 0.0, 2.0)
    hop = screening.rank_by_drag(bravais, lambda s: screening.crystal_hop_energy(s, start, end, 0.5))
    loop = [float(screening.crystal_hop_energy(s, start, end, 0.5)) for s in bravais]
    np.testing.assert_allclose(np.asarray(hop.drags), loop, rtol=1e-12)
    with pytest.raises(ValueError, match="structure"):
        screening.stack_systems([systems[0], bravais[0]])


def test_descent_lowers_the_drag_inside_the_bounds():
    system = jx.System(fcc_bravais(mass=2.5), jx.Gaussian(0.05, 0.5), [[0, 0, 0], [1, 0, 0]])
    start, end = (0.2, 0.0, -2.0), (0.2, 0.0, 2.0)
    result = screening.descend_crystal_drag(system, lambda s: screening.crystal_hop_energy(s, start, end, 0.5),
                                            stiffness_bounds=(0.5, 3.0), mass_bounds=(0.5, 2.0), steps=20, learning_rate=0.2)
    drags = np.asarray(result.drags)
    assert drags[-1] < 0.5 * drags[0]
    np.testing.assert_allclose(drags[-1], float(screening.crystal_hop_energy(result.system, start, end, 0.5)), rtol=1e-12)
    for factors, (lo, hi) in ((result.stiffness_factors, (0.5, 3.0)), (result.mass_factors, (0.5, 2.0))):
        assert np.all((np.asarray(factors) > lo) & (np.asarray(factors) < hi))
    with pytest.raises(ValueError, match="stiffness factor"):
        screening.descend_crystal_drag(system, lambda s: screening.crystal_hop_energy(s, start, end, 0.5), stiffness_bounds=(1.5, 3.0))


@pytest.mark.slow
def test_hop_energy_gradients_on_a_basis_match_finite_differences():
    """The recoil-based energy per hop on the Cu3Au-like basis (recoil matrix with its internal-strain correction):
    gradients with respect to the force constants and every mass against central differences (~20 s)."""
    lattice = cu3au()
    sites = [[0, 0, 0, 0], [0, 0, 0, 1]]
    start, end = (0.3, 0.1, -1.5), (0.3, 0.1, 1.5)

    def energy(lattice):
        system = jx.System(lattice, {"Au": jx.BornMayer(0.05, 0.3), "Cu": jx.Gaussian(0.02, 0.45)}, sites)
        return screening.crystal_hop_energy(system, start, end, 0.5)

    grad = jax.grad(energy)(lattice)
    direction = np.random.default_rng(4).normal(size=lattice.pair_force_constants.shape)
    fc = lattice.pair_force_constants
    finite = _central(lambda h: float(energy(eqx.tree_at(lambda x: x.pair_force_constants, lattice, fc + h * direction))), 1e-4)
    assert float(jnp.sum(grad.pair_force_constants * direction)) == pytest.approx(finite, rel=1e-6)
    for atom in range(lattice.atoms):
        step = np.eye(lattice.atoms)[atom]
        finite = _central(lambda h, step=step: float(energy(eqx.tree_at(lambda x: x.masses, lattice, lattice.masses + h * step))), 1e-5)
        assert float(grad.masses[atom]) == pytest.approx(finite, rel=1e-6), atom
