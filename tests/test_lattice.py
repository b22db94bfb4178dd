"""Lattices: dispersion against the papers' formulas, the stencil against an FFT reference."""

import jax.numpy as jnp
import numpy as np
import pytest

import jaxion as jx


def explicit_cubic_dynamical_matrix(q, k1, k2):
    """Paper 1, (1.19), written out entry by entry."""
    qx, qy, qz = q
    c, s = np.cos, np.sin
    d1 = 2 * k1 * np.diag([1 - c(qx), 1 - c(qy), 1 - c(qz)])
    d2 = 2 * k2 * np.array(
        [
            [2 - c(qx) * c(qy) - c(qx) * c(qz), s(qx) * s(qy), s(qx) * s(qz)],
            [s(qy) * s(qx), 2 - c(qy) * c(qx) - c(qy) * c(qz), s(qy) * s(qz)],
            [s(qz) * s(qx), s(qz) * s(qy), 2 - c(qz) * c(qx) - c(qz) * c(qy)],
        ]
    )
    return d1 + d2


def test_cubic_dynamical_matrix_matches_eq_1_19():
    lattice = jx.simple_cubic(15.0, 5.0, 2.0)
    rng = np.random.default_rng(0)
    for q in rng.uniform(-np.pi, np.pi, size=(20, 3)):
        np.testing.assert_allclose(lattice.dynamical_matrix(q), explicit_cubic_dynamical_matrix(q, 15.0, 5.0), atol=1e-12)


def test_chain_dispersions_match_eq_1_12_and_paper2():
    q = np.linspace(-np.pi, np.pi, 17)[:, None]
    chain3d = jx.chain3d(coupling_parallel=3.0, coupling_perpendicular=2.0, confinement_parallel=0.5, confinement_perpendicular=1.5)
    omega = np.asarray(chain3d.frequencies(q))
    expected = np.sort(
        np.stack([1.5 + 8 * np.sin(q[:, 0] / 2) ** 2] * 2 + [0.5 + 12 * np.sin(q[:, 0] / 2) ** 2], axis=-1), axis=-1
    )
    np.testing.assert_allclose(omega**2, expected, atol=1e-12)
    paper2 = jx.chain(omega_fast=10.0)
    np.testing.assert_allclose(
        np.asarray(paper2.frequencies(q))[:, 0] ** 2, 1 + 99 * np.sin(q[:, 0] / 2) ** 2, atol=1e-12
    )


@pytest.mark.parametrize(
    "lattice, supercell",
    [
        (jx.chain3d(99 / 4, confinement_parallel=1.0), (16,)),
        (jx.chain(10.0), (12,)),
        (jx.simple_cubic(15.0, 5.0), (5, 6, 7)),
    ],
)
def test_stencil_matches_fourier_reference(lattice, supercell):
    """Ξρ by array shifts equals D(q) applied in Fourier space (independent route)."""
    rng = np.random.default_rng(1)
    rho = rng.normal(size=(lattice.dof, *supercell))
    axes = tuple(range(1, 1 + len(supercell)))
    q = lattice.supercell_wavevectors(supercell).reshape(*supercell, lattice.dim)
    d = np.asarray(lattice.dynamical_matrix(q))  # (*cells, dof, dof)
    rho_q = np.fft.fftn(rho, axes=axes)
    reference = np.real(np.fft.ifftn(np.einsum("...ij,j...->i...", d, rho_q), axes=axes))
    np.testing.assert_allclose(lattice.apply_coupling(jnp.asarray(rho)), reference, atol=1e-10)
    energy = 0.5 * np.sum(rho * reference)
    np.testing.assert_allclose(lattice.potential_energy(jnp.asarray(rho)), energy, rtol=1e-12)


def test_bravais_builder_reproduces_simple_cubic():
    k1, k2, a = 15.0, 5.0, 2.0
    neighbours = []
    for v in [(1, 0, 0), (0, 1, 0), (0, 0, 1)]:
        u = np.asarray(v, float)
        neighbours.append((a * u, k1 * np.outer(u, u)))
    for v in [(1, 1, 0), (1, -1, 0), (1, 0, 1), (1, 0, -1), (0, 1, 1), (0, 1, -1)]:
        u = np.asarray(v, float) / np.sqrt(2)
        neighbours.append((a * np.asarray(v, float), k2 * np.outer(u, u)))
    custom = jx.bravais_lattice(a * np.eye(3), neighbours)
    reference = jx.simple_cubic(k1, k2, a)
    q = reference.zone_grid(7)
    np.testing.assert_allclose(custom.dynamical_matrix(q), reference.dynamical_matrix(q), atol=1e-12)


def test_max_frequency_and_sound_speed():
    chain = jx.chain3d(99 / 4, confinement_parallel=0.0)
    assert chain.max_frequency() == pytest.approx(np.sqrt(99), rel=1e-9)
    # Unconfined chain: ω = 2√k |sin(q/2)|, fastest group velocity 2π √k × spacing at q → 0.
    assert chain.max_group_velocity() == pytest.approx(2 * np.pi * np.sqrt(99 / 4), rel=1e-3)
    cubic = jx.simple_cubic(15.0, 5.0, 2.0)
    # Longitudinal sound along [100]: S_xx = k1 + 2 k2 in reduced units -> 2π sqrt(25) × 2.
    assert cubic.max_group_velocity() >= 2 * np.pi * 5 * 2 * (1 - 1e-3)


def test_lattice_rejects_bad_input():
    with pytest.raises(ValueError, match="coupling_parallel"):
        jx.chain3d(coupling_parallel=-1.0)
    with pytest.raises(ValueError, match="spacing"):
        jx.simple_cubic(spacing=0.0)
    with pytest.raises(ValueError, match="omega_fast"):
        jx.chain(omega_fast=0.5)
    with pytest.raises(ValueError, match="symmetric"):
        jx.bravais_lattice(np.eye(3), [((1, 0, 0), [[1, 2, 0], [0, 1, 0], [0, 0, 1]])])
    with pytest.raises(ValueError, match="not a lattice vector"):
        jx.bravais_lattice(np.eye(3), [((0.5, 0, 0), np.eye(3))])
    with pytest.raises(ValueError, match="unstable"):
        jx.bravais_lattice(np.eye(3), [((1, 0, 0), -np.eye(3))])
    with pytest.raises(ValueError, match="shape"):
        jx.simple_cubic().apply_coupling(jnp.zeros((3, 4, 4)))
