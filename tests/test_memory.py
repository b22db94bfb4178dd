"""Memory (response-kernel) engine and the zone-quadrature kernels.

(a) the kernel against an independent quadrature of paper 2's (2.15), and its short-time expansion and
    recurrence on a 3D lattice; (b) the memory engine against the full engine on periodic supercells, up
    to their echo time; (c) the single-pass loss on paper 2's chain against the closed form (1.14)/(2.26);
    (d) bad input. Plus: direct and blocked convolutions agree, energy bookkeeping, bias, several ions.
"""

import warnings

import jax
import numpy as np
import pytest
from scipy.integrate import quad

import jaxion as jx
from jaxion.dynamics._common import AbstractResult, SimulationError
from jaxion.dynamics.memory import MemoryResult, simulate_memory
from jaxion.kernels import (
    default_points_per_axis,
    kernel_by_differences,
    kernel_valid_time,
    precompute_kernel,
    response_kernel,
)

OMEGA_FAST = 10.0
PAPER2_COUPLING = (OMEGA_FAST**2 - 1) / 4


def every(duration, dt, steps):
    """``save_times`` every ``steps`` steps of ``dt`` within ``[0, duration]``."""
    return dt * np.arange(0, int(np.floor(duration / dt + 1e-9)) + 1, steps)


# ----------------------------------------------------------------------------- (a) kernels


def _paper2_kernel_reference(n, tau, omega_fast=OMEGA_FAST, panels=300, order=20):
    """(2.15) by composite Gauss–Legendre in θ (300 panels × 20 nodes; independent of the zone-grid code)."""
    x, w = np.polynomial.legendre.leggauss(order)
    edges = np.linspace(0.0, np.pi / 2, panels + 1)
    half = 0.5 * np.diff(edges)[:, None]
    theta = (0.5 * (edges[:-1] + edges[1:])[:, None] + half * x[None, :]).ravel()
    weight = (half * w[None, :]).ravel()
    freq = np.sqrt(1 + (omega_fast**2 - 1) * np.sin(theta) ** 2)
    n = np.asarray(n, float)[:, None, None]
    tau = np.asarray(tau, float)[None, :, None]
    integrand = np.cos(2 * n * theta) * np.sin(2 * np.pi * tau * freq) / freq
    return 2 / np.pi * np.sum(weight * integrand, axis=-1)


def test_chain_kernel_matches_2_15():
    """Paper 2's chain: Γ_ab(τ) = Γ_{|a−b|}(τ) of (2.15) to 1e-8 (found ~1e-15), on a 60-point time
    grid up to τ = 6 and offsets up to 7; spot values also against adaptive quadrature."""
    lattice = jx.chain(OMEGA_FAST, spacing=40.0)
    cells = np.arange(8)[:, None]
    times = np.linspace(0.0, 6.0, 61)
    kernel = response_kernel(lattice, cells, times)
    assert kernel.shape == (61, 8, 1, 8, 1)
    reference = _paper2_kernel_reference(np.arange(8), times)  # (n, t)
    for a in range(8):
        for b in range(8):
            np.testing.assert_allclose(kernel[:, a, 0, b, 0], reference[abs(a - b)], atol=1e-8, rtol=0)
    w = lambda th: np.sqrt(1 + (OMEGA_FAST**2 - 1) * np.sin(th) ** 2)  # noqa: E731
    spots = [(0, 0.37), (3, 2.0), (7, 5.5)]
    values = response_kernel(lattice, [[0], [3], [7]], [t for _, t in spots])
    for i, (n, tau) in enumerate(spots):
        spot = 2 / np.pi * quad(lambda th: np.cos(2 * n * th) * np.sin(2 * np.pi * tau * w(th)) / w(th), 0, np.pi / 2,
                                limit=2000, epsabs=1e-13)[0]
        assert abs(values[i, 0, 0, i, 0] - spot) < 1e-8
    assert np.all(kernel[0] == 0.0)  # Γ(0) = 0
    if hasattr(jx.theory, "memory_kernel"):  # paper 2's own (2.15) routine, when present
        np.testing.assert_allclose(kernel[:, 0, 0, :, 0].T, np.asarray(jx.theory.memory_kernel(np.arange(8), times, OMEGA_FAST)), atol=1e-8)


def test_chain3d_kernel_is_2_15_per_component():
    """Paper 1's chain (k = 99/4, κ = 1, masses moving in 3D) has the dispersion of paper 2's chain on
    each axis, so its kernel is (2.15) times the 3×3 identity."""
    lattice = jx.chain3d(PAPER2_COUPLING, confinement_parallel=1.0)
    times = np.linspace(0.0, 2.0, 21)
    kernel = response_kernel(lattice, [[0], [2]], times)
    reference = _paper2_kernel_reference([0, 2], times)
    np.testing.assert_allclose(kernel[:, 0, :, 1, :], reference[1][:, None, None] * np.eye(3), atol=1e-10)
    np.testing.assert_allclose(kernel[:, 1, :, 1, :], reference[0][:, None, None] * np.eye(3), atol=1e-10)


def test_cubic_kernel_short_time_expansion_and_recurrence():
    """Simple cubic (paper 1, k1 = 15, k2 = 5, α = 2): (i) Γ_ab(τ) = 2πτ δ_ab − (2πτ)³/6 Ξ_ab + O(τ⁵),
    Ξ_ab the real-space coupling block; (ii) a K-grid equals a finer grid up to its valid time and
    recurs (echoes) after it, like a K-periodic supercell."""
    lattice = jx.simple_cubic()
    cells = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 0, 2]])
    tau = np.array([1e-4, 2e-4])
    kernel = response_kernel(lattice, cells, tau, points_per_axis=8)
    k1, k2 = 15.0, 5.0
    onsite = (2 * k1 + 4 * k2) * np.eye(3)  # Σ_v 2 k v̂v̂ᵀ over the 9 stored bonds: 2k1 + 4k2 per axis
    xi = {  # real-space blocks Ξ_(0,b) = −K_v for neighbours, C + Σ 2K_v on site
        0: onsite,
        1: -k1 * np.diag([1.0, 0, 0]),
        2: -k2 * np.outer([1, 1, 0], [1, 1, 0]) / 2,
        3: np.zeros((3, 3)),
    }
    for b in range(4):
        for t, value in zip(tau, kernel[:, 0, :, b, :]):
            expected = (2 * np.pi * t if b == 0 else 0.0) * np.eye(3) - (2 * np.pi * t) ** 3 / 6 * xi[b]
            np.testing.assert_allclose(value, expected, atol=2e-13)
    # (ii) recurrence
    k = 20
    valid = kernel_valid_time(lattice, k, cells[:2])
    assert 0.1 < valid < 0.3
    times = np.linspace(0.0, 4 * valid, 41)
    coarse = kernel_by_differences(lattice, [[0, 0, 0], [1, 0, 0]], times, k)
    fine = kernel_by_differences(lattice, [[0, 0, 0], [1, 0, 0]], times, 48)
    error = np.max(np.abs(coarse - fine), axis=(1, 2, 3))
    assert np.max(error[times <= valid]) < 1e-12
    assert np.min(error[times >= 3.2 * valid]) > 1e-4  # the 20-periodic grid's echo
    assert default_points_per_axis(lattice, valid, cells[:2]) <= k


def test_kernel_cache_round_trip(tmp_path):
    lattice = jx.chain(OMEGA_FAST, spacing=40.0)
    first = precompute_kernel(lattice, [[0], [1]], 1e-2, 0.5, cache=tmp_path)
    files = list(tmp_path.glob("*.npz"))
    assert len(files) == 1
    again = precompute_kernel(lattice, [[0], [1]], 1e-2, 0.5, cache=tmp_path)
    np.testing.assert_array_equal(first.values, again.values)
    assert len(list(tmp_path.glob("*.npz"))) == 1  # reused, not rewritten under another name
    precompute_kernel(lattice, [[0], [1]], 1e-2, 0.6, cache=tmp_path)  # other parameters: another file
    assert len(list(tmp_path.glob("*.npz"))) == 2
    assert first.values.shape == (51, 2, 1, 2, 1)


# ----------------------------------------------------------------------------- (b) against the full engine


def _compare_with_full(system, supercell, start, velocity, dt, constraint, method, tol=1e-6):
    """Memory engine vs the full engine (1.3)–(1.4) on a periodic supercell, up to 0.9 × its echo time
    (``jaxion.supercell_echo_time``). The last tenth is left out: the returning wave front at the
    fastest group velocity is an Airy front whose precursor reaches the site ≈ 10 (v τ)^{1/3} cells
    ahead of it (see ``jaxion.kernels``), and the full engine's trajectory departs from the
    infinite lattice's there (by ~1e-5 for the trapped ion on the chain)."""
    echo = 0.9 * jx.supercell_echo_time(system.lattice, supercell)
    save_times = every(echo, dt, max(1, int(round(0.02 / dt))))
    memory = simulate_memory(system, start, velocity, echo, dt=dt, constraint=constraint, save_times=save_times, method=method, cache=False)
    times = np.asarray(memory.ts)
    assert times[-1] <= echo
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jx.EchoWarning)
        full = jx.simulate(system, supercell, start, velocity, float(times[-1]), constraint=constraint, save_times=times, max_steps=10**6)
    difference = np.max(np.abs(memory.ion_positions[: len(times)] - np.asarray(full.ion_positions)))
    moved = np.max(np.abs(memory.ion_positions[: len(times)] - np.asarray(start) - np.outer(times, velocity)))
    assert difference < tol, difference
    assert moved > 100 * difference  # the interaction did change the trajectory
    return memory


@pytest.mark.parametrize("case", ["pass", "trapped"])
def test_chain3d_memory_matches_full_engine(case):
    """Paper 1's chain, one interacting mass; supercell 150 (echo τ ≈ 5.3)."""
    lattice = jx.chain3d(99 / 4, confinement_parallel=1.0)
    if case == "pass":  # small Φ0 pass, off-axis (s = 0.5), constrained to z
        system = jx.System(lattice, jx.Gaussian(0.01, 1.0))
        _compare_with_full(system, (150,), [0.0, 0.5, -7.0], [0.0, 0.0, 10.0], 1e-3, [0, 0, 1], "blocked")
    else:  # ion trapped in an attractive well, moving freely in 3D
        system = jx.System(lattice, jx.Gaussian(-0.5, 1.0))
        _compare_with_full(system, (150,), [0.0, 0.3, 0.4], [0.0, 0.0, 0.0], 1.25e-4, None, "blocked")


@pytest.mark.parametrize("case", ["pass", "trapped"])
def test_simple_cubic_memory_matches_full_engine(case):
    """Paper 1's simple cubic lattice, one interacting atom; supercell 16³ (echo τ ≈ 0.51)."""
    lattice = jx.simple_cubic()
    if case == "pass":
        system = jx.System(lattice, jx.Gaussian(0.01, 1.0))
        _compare_with_full(system, (16, 16, 16), [0.5, 0.0, -3.0], [0.0, 0.0, 10.0], 5e-4, [0, 0, 1], "direct")
    else:
        system = jx.System(lattice, jx.Gaussian(-0.5, 1.0))
        _compare_with_full(system, (16, 16, 16), [0.2, 0.1, 0.3], [0.0, 0.0, 0.0], 2.5e-4, None, "direct")


def test_simple_cubic_eight_atoms_matches_full_engine():
    """The 8 atoms α(0, 0, j) of paper 1's Fig. 6 (``line_sites(8)``), a pass along them."""
    system = jx.System(jx.simple_cubic(), jx.Gaussian(0.01, 1.0), jx.line_sites(8))
    _compare_with_full(system, (16, 16, 16), [0.5, 0.0, -3.0], [0.0, 0.0, 12.0], 5e-4, [0, 0, 1], "blocked")


# ----------------------------------------------------------------------------- (c) single-pass loss, paper 2


@pytest.mark.parametrize("amplitude", [0.01, -0.01])
def test_paper2_single_pass_loss_matches_closed_form(amplitude):
    """Paper 2's chain (ω_fast = 10, α = 40, λ = 4): the kinetic-energy lost between two midpoints equals
    (1.14) with s = 0, κ∥ = 1, k∥ = (ω_fast² − 1)/4 (= (2.26)) within 1e-3 when KE ≫ Φ0 (here
    KE/|Φ0| > 1000); the remaining difference is the speed change near the mass, O(Φ0/KE), of the
    sign of Φ0 (paper 2, Sec. V). The framework's work equals the loss."""
    lattice = jx.chain(OMEGA_FAST, spacing=40.0)
    system = jx.System(lattice, jx.Gaussian(amplitude, 4.0), np.arange(-1, 2)[:, None])
    for speed in (30.0, 50.0, 80.0):
        duration = 40.0 / speed  # midpoint (−20) to midpoint (+20)
        result = simulate_memory(
            system, [0, 0, -20.0], [0, 0, speed], duration, dt=duration / 480, constraint=[0, 0, 1],
            save_times=[0.0, duration], all_sites_interact=True, cache=False,
        )
        expected = float(jx.single_pass_loss_gaussian(speed, amplitude, 4.0, OMEGA_FAST))  # (2.26)
        assert abs(result.ion_positions[-1, 2] - 20.0) < 0.05
        assert abs(result.loss / expected - 1) < 1e-3, (speed, result.loss / expected)
        assert abs(result.framework_work[-1] / expected - 1) < 1e-3
        assert np.max(np.abs(result.energy_error)) < 1e-3 * expected


# ----------------------------------------------------------------------------- consistency and bookkeeping


def test_direct_and_blocked_agree_with_bias_and_window():
    """A biased ion crossing 6 masses of paper 2's chain (Φ0 = 2): the blocked convolution with a moving
    window of sites equals the direct quadratic sum; energy is conserved with the bias work counted."""
    lattice = jx.chain(OMEGA_FAST, spacing=40.0)
    system = jx.System(lattice, jx.Gaussian(2.0, 4.0), np.arange(-1, 12)[:, None])
    args = (system, [0, 0, 20.0], [0, 0, 30.0], 8.0)
    kwargs = dict(dt=1 / 600, constraint=[0, 0, 1], bias_force=0.01 / 40, save_times=every(8.0, 1 / 600, 60), all_sites_interact=True,
                  cache=False)
    direct = simulate_memory(*args, method="direct", **kwargs)
    blocked = simulate_memory(*args, method="blocked", block_steps=120, **kwargs)
    assert blocked.window < 13  # a moving window, not all sites
    np.testing.assert_allclose(blocked.ion_positions, direct.ion_positions, atol=1e-9, rtol=0)
    np.testing.assert_allclose(blocked.framework_work, direct.framework_work, rtol=1e-8, atol=1e-14)
    both = np.isfinite(blocked.site_displacements)
    np.testing.assert_allclose(blocked.site_displacements[both], direct.site_displacements[both], atol=1e-11)
    assert direct.framework_work[-1] > 0.01
    assert np.max(np.abs(direct.energy_error)) < 1e-3 * direct.framework_work[-1]
    assert np.max(np.abs(blocked.bias_work - 0.01 / 40 * (blocked.ion_positions[:, 2] - 20.0))) < 1e-12


def test_bias_alone_is_uniform_acceleration():
    """No interaction (Φ0 = 0): Verlet is exact for a constant force, σ = σ0 + v0 t + ½(4π²/μ) F t²."""
    system = jx.System(jx.chain(OMEGA_FAST, spacing=40.0), jx.Gaussian(0.0, 4.0), [[0], [1]], mass_ratio=2.0)
    result = simulate_memory(system, [0, 0, 5.0], [0, 0, 1.0], 1.0, dt=1e-3, constraint=[0, 0, 1], bias_force=0.3,
                             save_times=every(1.0, 1e-3, 100), cache=False)
    expected = 5.0 + result.ts + 0.5 * (4 * np.pi**2 / 2.0) * 0.3 * result.ts**2
    np.testing.assert_allclose(result.ion_positions[:, 2], expected, atol=1e-10)


def test_several_ions_are_independent_until_sound_connects_them():
    """Two ions at two far-apart sites of paper 1's chain move exactly as when alone until sound covers
    the 60 cells between them (τ ≈ 2.1); later they feel each other through the lattice."""
    lattice = jx.chain3d(99 / 4, confinement_parallel=1.0)
    system = jx.System(lattice, jx.Gaussian(-0.5, 1.0), [[0], [60]])
    starts = np.array([[0.0, 0.3, 0.4], [0.2, 0.0, 60.3]])
    velocities = np.zeros((2, 3))
    kwargs = dict(dt=1e-3, save_times=every(4.0, 1e-3, 50), cache=False, points_per_axis=400)
    both = simulate_memory(system, starts, velocities, 4.0, **kwargs)
    alone = [simulate_memory(system, starts[i], velocities[i], 4.0, **kwargs) for i in range(2)]
    assert both.ion_positions.shape == (len(both.ts), 2, 3)
    early = both.ts < 1.5
    for i in range(2):
        np.testing.assert_allclose(both.ion_positions[early, i], alone[i].ion_positions[early], atol=1e-12)
    late = np.max(np.abs(both.ion_positions[~early, 0] - alone[0].ion_positions[~early]))
    assert late > 1e-9
    assert np.max(np.abs(both.energy_error)) < 1e-6


def test_memory_length_truncates_the_convolution():
    """``memory_length`` = the run reproduces the full memory exactly; a short one is an approximation
    (the chain's kernel decays only as τ^{−1/2}) that changes the trapped ion's motion slightly."""
    system = jx.System(jx.chain(OMEGA_FAST, spacing=40.0), jx.Gaussian(-2.0, 4.0), np.arange(-1, 2)[:, None])
    args = (system, [0.0, 0.0, 3.0], [0.0, 0.0, 0.0], 3.0)
    kwargs = dict(dt=1 / 600, constraint=[0, 0, 1], save_times=every(3.0, 1 / 600, 60), method="direct", cache=False)
    full = simulate_memory(*args, **kwargs)
    same = simulate_memory(*args, memory_length=3.0, **kwargs)
    short = simulate_memory(*args, memory_length=0.5, **kwargs)
    np.testing.assert_array_equal(same.ion_positions, full.ion_positions)
    change = np.max(np.abs(short.ion_positions - full.ion_positions))
    assert 1e-9 < change < 1e-1 * np.max(np.abs(full.ion_positions[:, 2] - 3.0))


# ----------------------------------------------------------------------------- (d) bad input


def test_bad_input_raises_value_errors_naming_the_parameter():
    lattice = jx.chain(OMEGA_FAST, spacing=40.0)
    system = jx.System(lattice, jx.Gaussian(2.0, 4.0), np.arange(-1, 3)[:, None])
    start, speed = [0, 0, -20.0], [0, 0, 30.0]
    line = [0, 0, 1]
    with pytest.raises(ValueError, match="dt"):
        simulate_memory(system, start, speed, 1.0, dt=0.0, constraint=line)
    with pytest.raises(ValueError, match="dt"):
        simulate_memory(system, start, speed, 1.0, dt=-1e-3, constraint=line)
    with pytest.raises(ValueError, match="dt"):  # ω_max dt = 0.5
        simulate_memory(system, start, speed, 1.0, dt=0.05, constraint=line)
    with pytest.raises(ValueError, match="duration"):
        simulate_memory(system, start, speed, -1.0, dt=1e-3, constraint=line)
    with pytest.raises(TypeError):  # dt is keyword-only and required
        simulate_memory(system, start, speed, 1.0, 1e-3, constraint=line)
    # a run longer than the precomputed kernel
    kernel = precompute_kernel(lattice, system.site_cells, 1 / 600, 0.5, cache=False)
    with pytest.raises(ValueError, match="duration"):
        simulate_memory(system, start, speed, 1.0, dt=1 / 600, constraint=line, kernel=kernel, method="direct")
    with pytest.raises(ValueError, match="dt"):
        simulate_memory(system, start, speed, 0.4, dt=1 / 500, constraint=line, kernel=kernel, method="direct")
    # a zone grid too coarse for the run
    with pytest.raises(ValueError, match="points_per_axis"):
        simulate_memory(system, start, speed, 1.0, dt=1 / 600, constraint=line, points_per_axis=20)
    # the ion leaves the tracked sites (every chain mass interacts): it reaches mass 3 (z = 120) — a failed run,
    # not a bad input: SimulationError with throw=True (the default), status 4 with throw=False
    with pytest.raises(SimulationError, match="system.sites"):
        simulate_memory(system, start, speed, 5.0, dt=1 / 600, constraint=line, all_sites_interact=True, cache=False)
    left = simulate_memory(system, start, speed, 5.0, dt=1 / 600, constraint=line, all_sites_interact=True, cache=False, throw=False)
    assert int(left.status) == 4 and not bool(left.ok) and "system.sites" in left.message
    # ... or starts far from every tracked site, next to untracked ones (a bad input)
    with pytest.raises(ValueError, match="ion_position"):
        simulate_memory(system, [0, 0, 400.0], speed, 1.0, dt=1 / 600, constraint=line, all_sites_interact=True, cache=False)
    # a block window too narrow for a fast ion
    long_system = jx.System(lattice, jx.Gaussian(0.5, 4.0), np.arange(-1, 40)[:, None])
    with pytest.raises(SimulationError, match="window"):
        simulate_memory(long_system, [0, 0, 20.0], [0, 0, 60.0], 4.0, dt=1 / 600, constraint=line, method="blocked", window=2,
                        block_steps=1200, cache=False)
    with pytest.raises(ValueError, match="constraint"):
        simulate_memory(system, start, [0, 1.0, 30.0], 1.0, dt=1e-3, constraint=line)
    with pytest.raises(ValueError, match="save_times"):
        simulate_memory(system, start, speed, 1.0, dt=1e-3, constraint=line, save_times=[0.5, 0.2])
    with pytest.raises(ValueError, match="memory_length"):
        simulate_memory(system, start, speed, 1.0, dt=1e-3, constraint=line, memory_length=-1.0)
    with pytest.raises(ValueError, match="bias_force"):
        simulate_memory(system, start, speed, 1.0, dt=1e-3, bias_force=0.1)  # a scalar force needs a line
    with pytest.raises(ValueError, match="supercell"):
        simulate_memory(jx.System(jx.simple_cubic(), jx.Gaussian(0.4, 0.8)), [0.5, 0.5, -2.5], [0, 0, 3.0], 0.1, dt=1e-3,
                        supercell=(6, 6, 8))


def test_save_times_on_the_step_grid_and_jax_arrays():
    """``save_times`` off the step grid ``n·dt`` are refused naming ``save_times``; sparse save times give the
    dense run's rows (the same final state, loss and drift); every array of the result is a JAX array."""
    system = jx.System(jx.chain(OMEGA_FAST, spacing=40.0), jx.Gaussian(2.0, 4.0), np.arange(-1, 3)[:, None])
    args = (system, [0, 0, -20.0], [0, 0, 30.0], 1.0)
    kwargs = dict(dt=1 / 600, constraint=[0, 0, 1], cache=False)
    with pytest.raises(ValueError, match="save_times must be multiples of dt"):
        simulate_memory(*args, save_times=[0.0, 0.5 / 600], **kwargs)
    for method in ("direct", "blocked"):
        dense = simulate_memory(*args, method=method, **kwargs)
        assert dense.ts.shape == (601,) and dense.num_steps == 600
        for picked in (np.array([0, 7, 7, 150, 300, 599]), np.array([150, 450])):  # recorded every step / every 150 steps
            sparse = simulate_memory(*args, method=method, save_times=picked / 600 * (1 + 1e-12), **kwargs)  # snapped to the grid
            np.testing.assert_array_equal(sparse.ts, picked * (1 / 600))
            for field in ("ion_positions", "ion_velocities", "site_displacements", "framework_work", "energy_error", "kinetic_energy"):
                np.testing.assert_allclose(getattr(sparse, field), getattr(dense, field)[picked], rtol=0, atol=1e-11, err_msg=field)
            np.testing.assert_allclose(sparse.final_state.ion_position, dense.ion_positions[-1], rtol=0, atol=1e-11)
            np.testing.assert_allclose(sparse.loss, dense.loss, rtol=0, atol=1e-11)
            np.testing.assert_allclose(sparse.energy_drift, dense.energy_error[-1], rtol=0, atol=1e-11)
    assert isinstance(dense, MemoryResult) and isinstance(dense, AbstractResult)
    for field in ("ts", "ion_positions", "ion_velocities", "site_displacements", "kinetic_energy", "interaction_energy", "framework_work",
                  "bias_work", "energy_error", "loss", "energy_drift", "end_time", "stopped_by_event", "num_steps", "status"):
        assert isinstance(getattr(dense, field), jax.Array), field
    assert dense.loss.shape == () and int(dense.status) == 0 and not bool(dense.stopped_by_event)
    assert float(dense.end_time) == pytest.approx(1.0) and dense.dt == 1 / 600


@pytest.mark.parametrize("method", [pytest.param("direct", marks=pytest.mark.slow), "blocked"])  # direct: ~20 s
def test_batch_of_independent_runs_equals_single_runs(method):
    """``simulate_memory_batch``: three biased ions on paper 2's chain from different speeds, in one
    vmapped call, each equal to its own ``simulate_memory`` run (a batch is independent runs, not several
    ions on one lattice); a member that leaves the tracked sites is named in a warning and its status, the
    others are kept."""
    lattice = jx.chain(OMEGA_FAST, spacing=40.0)
    system = jx.System(lattice, jx.Gaussian(-2.0, 4.0), np.arange(-1, 12)[:, None])
    starts = np.array([[0.0, 0.0, 20.0], [0.0, 0.0, 25.0], [0.0, 0.0, 20.0]])
    velocities = np.array([[0.0, 0.0, 30.0], [0.0, 0.0, 12.0], [0.0, 0.0, 45.0]])
    kwargs = dict(dt=1 / 600, constraint=[0, 0, 1], bias_force=0.01 / 40, save_times=every(6.0, 1 / 600, 60), all_sites_interact=True,
                  cache=False, method=method)
    if method == "blocked":
        kwargs["block_steps"] = 120
    batch = jx.simulate_memory_batch(system, starts, velocities, 6.0, **kwargs)
    assert batch.ion_positions.shape == (3, len(batch.ts[0]), 3) and batch.loss.shape == (3,)
    assert np.all(np.asarray(batch.status) == 0)
    for member in range(3):
        alone = simulate_memory(system, starts[member], velocities[member], 6.0, **kwargs)
        np.testing.assert_allclose(batch.ion_positions[member], alone.ion_positions, atol=1e-10, rtol=0)
        np.testing.assert_allclose(batch.framework_work[member], alone.framework_work, rtol=1e-9, atol=1e-15)
        assert np.max(np.abs(batch.energy_error[member])) < 1e-3 * max(alone.framework_work[-1], 1e-6)
    with pytest.warns(RuntimeWarning, match=r"member 1 \(initial speed 72\).*system.sites"):
        failed = jx.simulate_memory_batch(system, starts, velocities * np.array([[1], [6], [1]]), 6.0, **kwargs)
    assert int(failed.status[1]) != 0 and int(failed.status[0]) == 0 and int(failed.status[2]) == 0
    np.testing.assert_allclose(failed.ion_positions[0], batch.ion_positions[0], atol=1e-10, rtol=0)  # the others are kept
    with pytest.raises(ValueError, match="members, 3"):
        jx.simulate_memory_batch(system, starts[0], velocities[0], 6.0, **kwargs)



@pytest.mark.parametrize("case", ["chain3d", "cubic-cell"])
def test_periodic_supercell_kernel_equals_full_engine_through_echoes(case):
    """``simulate_memory(supercell=K)``: the zone sum on the periodic grid q = 2πm/K (q = 0 included) is
    the periodic K-supercell's response, so the memory engine equals the full engine on that supercell
    for 4 echo times — the echoes included — not just before the first echo (the twisted default grid
    is the infinite lattice's kernel, which parts from the supercell at the echo)."""
    if case == "chain3d":
        system = jx.System(jx.chain3d(99 / 4, confinement_parallel=1.0), jx.Gaussian(-0.5, 1.0))
        # a trapped free ion: the memory engine's Verlet error (∝ dt², 2.7e-5 at dt = 2e-3) sets the tolerance
        supercell, start, velocity, constraint, dt, tol = (24,), [0.0, 0.4, 0.3], [0.0, 0.0, 0.5], None, 5e-4, 3e-6
    else:
        system = jx.System(jx.simple_cubic(), jx.Gaussian(0.4, 0.8), jx.cubic_cell_sites())
        supercell, start, velocity, constraint, dt, tol = (6, 6, 6), [0.5, 0.5, -2.5], [0.0, 0.0, 3.0], [0, 0, 1], 1e-3, 1e-6
    echo = jx.supercell_echo_time(system.lattice, supercell)
    duration = 4.0 * echo
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jx.EchoWarning)
        save_times = every(duration, dt, int(round(0.02 / dt)))
        memory = simulate_memory(system, start, velocity, duration, dt=dt, constraint=constraint, save_times=save_times,
                                 supercell=supercell, cache=False)
        full = jx.simulate(system, supercell, start, velocity, float(memory.ts[-1]), constraint=constraint,
                           save_times=np.asarray(memory.ts), max_steps=10**6, rtol=1e-11, atol=1e-13)
        infinite = simulate_memory(system, start, velocity, duration, dt=dt, constraint=constraint, save_times=save_times, cache=False)
    difference = np.max(np.abs(memory.ion_positions - np.asarray(full.ion_positions)))
    assert difference < tol, difference
    late = memory.ts > 1.5 * echo
    parted = np.max(np.abs(infinite.ion_positions[late] - memory.ion_positions[late]))
    assert parted > 100 * difference  # the echoes matter: the infinite lattice's trajectory differs
