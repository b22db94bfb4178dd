"""Finite temperature across engines: the full engine (:func:`jaxion.simulate`, the harmonic framework of a periodic
supercell started from :func:`jaxion.dynamics.thermal_supercell.thermal_state`) and the stochastic time-local engine
(:func:`jaxion.simulate_local_thermal`) on the same ion in the cage of the 8 atoms of a simple-cubic cell.

Independent references (shared/NOTES.md, "Finite temperature" and "The time-local equation"):

- equipartition ``⟨μσ'²/(8π²)⟩ = T/2`` per direction, exact for both engines in equilibrium;
- the ion's equilibrium marginal. For a harmonic framework it is exactly
  ``∫dρ exp(−[ρᵀΞρ/2 + Φ(ρ, σ)]/T) ∝ E_{ρ∼N(0, TΞ⁺)}[exp(−Φ(ρ, σ)/T)]`` (only the 8 sites' displacements enter,
  covariance ``T G`` with ``G`` the supercell's static Green's function between them), here by Monte Carlo over ``ρ``
  and Gauss–Legendre quadrature over ``σ``; to leading order in the coupling it is ``exp(−U_soft/T)`` with
  ``U_soft = Φ(0, σ) − ½ ∇_ρΦ·G·∇_ρΦ`` (the time-local model's landscape, by quadrature). The printed (1.26) doubles
  the softening; the data reject it.

Estimators. The ion's position variance per direction ``⟨d²⟩`` plainly, and as the ratio estimator
``⟨d²⟩ (T/2)/⟨KE⟩`` (equipartition, tested separately, as the control variate): a member's slow energy wandering moves
``d²`` and ``KE`` together, so the ratio is ~10× more precise. Errors by :func:`jaxion.diffusion.block_average`
(never below its whole-member level: members are independent). The full engine's ion is measured relative to the
framework's centre of mass (the total momentum is set to zero at the start, so the centre of mass of ion and
framework is at rest; the framework's moves by ``μ(σ0 − σ)/N``) with the reduced mass, which makes both identities
exact on the finite supercell. Systematic allowances: ``(2πfh)²/4`` of the integrators (Verlet, BAOAB) for the ion's
``f ≈ 4.3`` oscillations, ``<= 0.1 %`` at the steps used.

The ion starts from the harmonic Gaussian of the *bare* landscape ``Φ(0, σ)`` (neither candidate) with Maxwell
velocities, the framework from the supercell's classical thermal state.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import jaxion as jx
from jaxion._constants import FOUR_PI_SQ
from jaxion.diffusion import block_average
from jaxion.dynamics.thermal_supercell import thermal_state

MU = 0.05
TEMPERATURE = 0.01  # barrier along the faces ≈ 0.21: ΔU/T ≈ 21, the ion stays in the cage
CENTRE = np.array([1.0, 1.0, 1.0])  # the centre of the cage of 8 repulsive atoms
SAVE_EVERY = 0.05


def cage_system() -> jx.System:
    return jx.System(jx.simple_cubic(), jx.Gaussian(4.0, 0.5), jx.cubic_cell_sites(), mass_ratio=MU)


class Ensemble(NamedTuple):
    """The ion's displacement from the cage centre and its kinetic energy per direction, ``(members, times, 3)``."""

    displacement: np.ndarray
    kinetic: np.ndarray


class Moments(NamedTuple):
    """Ensemble estimates (with standard errors) after equilibration."""

    kinetic: float  # ⟨KE⟩/(T/2) per direction
    kinetic_error: float
    variance: float  # ⟨d²⟩ per direction, plain
    variance_error: float
    ratio_variance: float  # ⟨d²⟩ (T/2)/⟨KE⟩
    ratio_variance_error: float


def save_times(duration: float) -> np.ndarray:
    return np.arange(int(round(duration / SAVE_EVERY)) + 1) * SAVE_EVERY


def ion_start(system: jx.System, members: int, key) -> tuple[np.ndarray, np.ndarray]:
    """Positions from the harmonic Gaussian of the bare landscape ``Φ(0, σ)`` at the centre, Maxwell velocities
    ``2π sqrt(T/μ)`` times standard normals."""
    curvature = float(jax.hessian(system.landscape)(jnp.asarray(CENTRE))[2, 2])  # isotropic (cubic symmetry)
    position_key, velocity_key = jax.random.split(key)
    positions = CENTRE + np.sqrt(TEMPERATURE / curvature) * np.asarray(jax.random.normal(position_key, (members, 3)))
    velocities = 2 * np.pi * np.sqrt(TEMPERATURE / MU) * np.asarray(jax.random.normal(velocity_key, (members, 3)))
    return positions, velocities


def full_ensemble(system: jx.System, supercell: tuple[int, ...], members: int, duration: float, dt: float, key) -> Ensemble:
    """``members`` full-engine runs (fused Verlet, one vmapped call) from a classical thermal framework with the total
    momentum set to zero; the ion relative to the framework's centre of mass, with the reduced mass (module notes)."""
    framework_key, ion_key = jax.random.split(key)
    cells = int(np.prod(supercell))
    framework = thermal_state(system, supercell, jax.random.split(framework_key, members), TEMPERATURE)
    positions, velocities = ion_start(system, members, ion_key)
    shift = (MU * velocities / cells).reshape(members, 3, *([1] * len(supercell)))
    framework_velocity = framework.velocity - shift  # Σ ρ' + μ σ' = 0 (unit framework masses)
    times, omega_max = save_times(duration), system.lattice.max_frequency(supercell)

    def one(position, velocity, displacement, rate):
        result = jx.simulate(system, supercell, position, velocity, duration, initial_displacement=displacement,
                             initial_velocity=rate, solver="verlet", dt=dt, save_times=times, check_echo=False,
                             max_frequency=omega_max, max_steps=int(duration / dt) + 10, throw=False)
        return result.ion_positions, result.ion_velocities, result.status

    ion, ion_velocity, status = jax.vmap(one)(positions, velocities, framework.displacement, framework_velocity)
    assert np.all(np.asarray(status) == 0), np.asarray(status)
    factor = 1 + MU / cells  # ξ = σ − c, c = μ(σ0 − σ)/N: the ion relative to the framework's centre of mass
    relative = factor * np.asarray(ion) - (MU / cells) * positions[:, None, :] - CENTRE
    kinetic = factor * MU * np.asarray(ion_velocity) ** 2 / (2 * FOUR_PI_SQ)  # μ_red ξ'²/(8π²) = (1 + μ/N) μσ'²/(8π²)
    return Ensemble(relative, kinetic)


def local_ensemble(model: jx.TimeLocalModel, members: int, duration: float, dt: float, key) -> Ensemble:
    """``members`` free-ion trajectories of the stochastic time-local equation (BAOAB) from the same start."""
    start_key, noise_key = jax.random.split(key)
    positions, velocities = ion_start(model.system, members, start_key)
    result = jx.simulate_local_thermal(model, positions, velocities, duration, dt=dt, save_times=jnp.asarray(save_times(duration)),
                                       thermal=jx.ThermalBath(TEMPERATURE, noise_key, quantum=False))
    assert np.all(np.asarray(result.status) == 0)
    velocity = np.asarray(result.ion_velocities)
    return Ensemble(np.asarray(result.ion_positions) - CENTRE, MU * velocity**2 / (2 * FOUR_PI_SQ))


def _mean_and_error(series: np.ndarray) -> tuple[float, float]:
    """Mean of a ``(members, times)`` series and its error: the blocking plateau, never below the whole-member level."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "no plateau": the whole-member level below is exact anyway
        blocked = block_average(series)
    return blocked.mean, max(blocked.error, float(blocked.level_errors[-1]))


def moments(ensemble: Ensemble, start: float) -> Moments:
    """Equipartition, the plain variance and the ratio estimator (module notes) from time ``start`` on."""
    keep = int(round(start / SAVE_EVERY))
    squared = np.mean(ensemble.displacement[:, keep:] ** 2, axis=-1)  # (members, times): the 3 directions pooled
    kinetic = np.mean(ensemble.kinetic[:, keep:], axis=-1)
    half = TEMPERATURE / 2
    kinetic_mean, kinetic_error = _mean_and_error(kinetic)
    variance, variance_error = _mean_and_error(squared)
    ratio = float(np.mean(squared) / np.mean(kinetic))
    _, residual_error = _mean_and_error(squared - ratio * kinetic)  # delta method for the ratio of means
    return Moments(kinetic_mean / half, kinetic_error / half, variance, variance_error, ratio * half,
                   residual_error / float(np.mean(kinetic)) * half)


# ---------------------------------------------------------------------------------------------- references


def _cube(nodes: int, half_width: float):
    x, w = np.polynomial.legendre.leggauss(nodes)
    x, w = half_width * x, half_width * w
    points = np.stack(np.meshgrid(x, x, x, indexing="ij"), axis=-1).reshape(-1, 3)
    return points, np.einsum("i,j,k->ijk", w, w, w).reshape(-1)


def boltzmann_variance(energy, nodes: int = 32, half_width: float = 0.7, batch: int | None = None) -> float:
    """``∫ d² e^{−U/T} / ∫ e^{−U/T}`` per direction (3D Gauss–Legendre; 7 standard deviations each side)."""
    offsets, weights = _cube(nodes, half_width)
    points = jnp.asarray(CENTRE + offsets)
    values = np.asarray(jax.jit(jax.vmap(energy))(points) if batch is None else jax.lax.map(energy, points, batch_size=batch))
    boltzmann = np.exp(-(values - values.min()) / TEMPERATURE) * weights
    return float(np.sum(boltzmann * np.mean(offsets**2, axis=1)) / np.sum(boltzmann))


def marginal_cdf(energy, z: np.ndarray, nodes: int = 24, half_width: float = 0.7) -> np.ndarray:
    """CDF of one coordinate's offset under ``e^{−U/T}`` on the grid ``z`` (the other two integrated out)."""
    x, w = np.polynomial.legendre.leggauss(nodes)
    x, w = half_width * x, half_width * w
    grid = np.stack(np.meshgrid(x, x, z, indexing="ij"), axis=-1).reshape(-1, 3)
    values = np.asarray(jax.jit(jax.vmap(energy))(jnp.asarray(CENTRE + grid))).reshape(nodes, nodes, len(z))
    density = np.einsum("i,j,ijk->k", w, w, np.exp(-(values - values.min()) / TEMPERATURE))
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (density[1:] + density[:-1]) * np.diff(z))])
    return cdf / cdf[-1]


def exact_marginal_energy(system: jx.System, greens, samples: int = 2048, seed: int = 0):
    """``U(σ) = −T log E_ρ[exp(−Φ(ρ, σ)/T)]``, ``ρ ∼ N(0, T G)`` between the sites (Monte Carlo, common random numbers
    for every σ): the full engine's exact equilibrium marginal on its supercell (module notes)."""
    sites, dof = np.asarray(greens).shape[0], np.asarray(greens).shape[-1]
    covariance = np.asarray(greens).transpose(0, 2, 1, 3).reshape(sites * dof, sites * dof)
    factor = np.linalg.cholesky(TEMPERATURE * covariance)
    noise = np.random.default_rng(seed).standard_normal((samples, sites * dof))
    displacements = jnp.asarray((noise @ factor.T).reshape(samples, sites, dof))

    def energy(position):
        bare = system.landscape(position)
        shifted = jax.vmap(lambda rho: system.interaction_energy(position, rho))(displacements) - bare
        return bare - TEMPERATURE * jax.scipy.special.logsumexp(-shifted / TEMPERATURE, b=1.0 / samples)

    return energy


def ks_pvalue(ensemble: Ensemble, start: float, every: float, cdf_grid: np.ndarray, cdf: np.ndarray) -> float:
    """KS test of the pooled coordinates against the marginal CDF, thinned to one sample per ``every`` per member
    (about two relaxation times apart, so nearly independent)."""
    keep, stride = int(round(start / SAVE_EVERY)), int(round(every / SAVE_EVERY))
    values = ensemble.displacement[:, keep::stride].reshape(-1)
    return float(stats.kstest(values, lambda s: np.interp(s, cdf_grid, cdf)).pvalue)


@pytest.fixture(scope="module")
def system():
    return cage_system()


# ---------------------------------------------------------------------------------------------- tests


def test_full_engine_equipartition_and_softened_variance_small_supercell(system):
    """Fast: 128 full-engine members on a 4³ supercell for τ = 10 (Verlet, h = 0.004): the ion's kinetic energy is
    T/2 per direction and its position variance (ratio estimator) is exp(−U_soft/T)'s with the 4³ Green's function."""
    supercell = (4, 4, 4)
    ensemble = full_ensemble(system, supercell, 128, 10.0, 0.004, jax.random.key(11))
    measured = moments(ensemble, start=2.0)
    reference = boltzmann_variance(jx.time_local_model(system, supercell=supercell).softened_potential)
    assert abs(measured.kinetic - 1) < 4 * measured.kinetic_error, measured
    ratio, error = measured.ratio_variance / reference, measured.ratio_variance_error / reference
    # 0.3 %: the exact marginal's O(T) remainder below U_soft (−0.27 % here) and Verlet's (2πfh)²/4 = 0.3 %
    assert abs(ratio - 1) < 4 * error + 0.006, f"⟨d²⟩/U_soft = {ratio:.4f} ± {error:.4f}"
    assert abs(measured.variance / reference - 1) < 4 * measured.variance_error / reference, measured


@pytest.mark.slow
@pytest.mark.parametrize("supercell", [(4, 4, 4), (8, 8, 8)])
def test_full_and_time_local_engines_share_the_equilibrium(system, supercell):
    """Slow (~40 s per size): 128 full-engine members (Verlet h = 0.002, τ = 30) and 256 stochastic time-local members
    (BAOAB at a third of the default step, the supercell's Green's function) at T = 0.01, measured from τ = 5:
    (i) equipartition in both; (ii) the position variance against exp(−U/T) by quadrature — the time-local engine
    against its own U_soft, the full engine against the exact marginal (Monte Carlo over ρ) and against U_soft to the
    exact marginal's O(T) remainder; KS tests of the marginals; (iii) full / time-local; and the printed softening
    (factor 1) rejected."""
    half_model = jx.time_local_model(system, supercell=supercell)
    printed_model = jx.time_local_model(system, supercell=supercell, softening="printed", greens=half_model.greens)
    references = {
        "half": boltzmann_variance(half_model.softened_potential),
        "printed": boltzmann_variance(printed_model.softened_potential),
        "exact": boltzmann_variance(exact_marginal_energy(system, half_model.greens), nodes=24, half_width=0.6, batch=128),
    }
    full = full_ensemble(system, supercell, 128, 30.0, 0.002, jax.random.key(20))
    dt = jx.local_time_step(half_model, CENTRE[None]) / 3
    local = local_ensemble(half_model, 256, 30.0, dt, jax.random.key(21))
    full_m, local_m = moments(full, start=5.0), moments(local, start=5.0)
    remainder = abs(references["exact"] / references["half"] - 1)
    lines = [f"supercell {supercell}: references ⟨d²⟩ half {references['half']:.6f}, printed {references['printed']:.6f}, "
             f"exact {references['exact']:.6f} (exact/half − 1 = {references['exact'] / references['half'] - 1:+.4f})"]
    for name, m in (("full", full_m), ("time-local", local_m)):
        lines.append(f"  {name}: KE/(T/2) = {m.kinetic:.4f} ± {m.kinetic_error:.4f}; ⟨d²⟩ plain {m.variance:.6f} ± "
                     f"{m.variance_error:.6f}, ratio estimator {m.ratio_variance:.6f} ± {m.ratio_variance_error:.6f}")
    print("\n".join(lines))

    # (i) equipartition; BAOAB's recorded velocity carries an O(h²) bias (≈ 0.07 % at this step)
    assert abs(full_m.kinetic - 1) < 4 * full_m.kinetic_error, lines
    assert abs(local_m.kinetic - 1) < 4 * local_m.kinetic_error + 0.002, lines
    # (ii) the time-local engine samples its own landscape
    assert abs(local_m.variance / references["half"] - 1) < 4 * local_m.variance_error / references["half"], lines
    assert abs(local_m.ratio_variance / references["half"] - 1) < 4 * local_m.ratio_variance_error / references["half"] + 0.002, lines
    # (ii) the full engine samples the exact marginal, and U_soft to its O(T) remainder
    for name, allowance in (("exact", 0.002), ("half", 0.002 + remainder)):
        ratio, error = full_m.ratio_variance / references[name], full_m.ratio_variance_error / references[name]
        assert abs(ratio - 1) < 4 * error + allowance, (name, ratio, error, lines)
    assert abs(full_m.variance / references["half"] - 1) < 4 * full_m.variance_error / references["half"], lines
    z = np.linspace(-0.7, 0.7, 561)
    cdf = marginal_cdf(half_model.softened_potential, z)
    for name, ensemble in (("full", full), ("time-local", local)):
        p = ks_pvalue(ensemble, 5.0, 5.0, z, cdf)
        assert p > 1e-3, f"{name}: KS p = {p:.2g} against exp(−U_soft/T)"
    # (iii) the two engines against each other
    ratio = full_m.ratio_variance / local_m.ratio_variance
    error = ratio * np.hypot(full_m.ratio_variance_error / full_m.ratio_variance, local_m.ratio_variance_error / local_m.ratio_variance)
    assert abs(ratio - 1) < 4 * error + remainder + 0.003, (ratio, error, lines)
    # the printed softening (factor 1) is rejected by the full engine
    distance = (references["printed"] - full_m.ratio_variance) / full_m.ratio_variance_error
    assert distance > 5, f"printed softening only {distance:.1f} standard errors away: {lines}"
