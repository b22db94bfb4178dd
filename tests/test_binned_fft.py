"""Long 3D runs of the memory engine: the binned kernel and the FFT convolution.

(a) ``jaxion.kernels.binned_kernel`` (symmetry folding + frequency bins + FFT in time) against the
    mode-by-mode zone sum ``kernel_by_differences(method="sum")`` on the same grid, for site sets with
    every kind of symmetry, both grid boundaries and even/odd grids; (b) ``simulate_memory(method="fft")``
    (hierarchical FFT blocks) against the quadratic ``method="direct"`` on the same table: 3D, chain,
    truncated memory, a batch and a thermal ensemble; (c) the infinite-lattice kernel through the new
    path against the full engine before the supercell's echo; (d) bad input.
"""

import warnings

import jax
import numpy as np
import pytest

import jaxion as jx
from jaxion.dynamics.memory import simulate_memory
from jaxion.kernels import binned_kernel, kernel_by_differences, precompute_kernel, site_differences, symmetry_folding

SITE_SETS = {
    "line": jx.line_sites(4),
    "one": np.zeros((1, 3), dtype=int),
    "face": np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]]),
    "cell": jx.cubic_cell_sites(),
    "scattered": np.array([[0, 0, 0], [2, 1, 0], [0, -1, 3]]),
}


# ----------------------------------------------------------------------------- (a) binned kernel


BINNED_CASES = [(sites, "twisted", 12) for sites in SITE_SETS] + [(sites, "periodic", 13) for sites in SITE_SETS] + [
    ("line", "twisted", 13), ("face", "periodic", 12), ("cell", "periodic", 12)]


@pytest.mark.parametrize("sites, boundary, points", BINNED_CASES)
def test_binned_kernel_equals_the_mode_sum(sites, boundary, points):
    """Same grid, same sum: the binned kernel equals the mode-by-mode sum to ~1e-12 of its scale at 800
    times up to τ = 3.2 (long enough for the Taylor series in each bin to matter: 2πτδω/2 ≈ 0.1). Both
    boundaries on even and odd grids (an odd twisted grid holds q = π, an even periodic one q = π and 0)."""
    lattice = jx.simple_cubic(15.0, 5.0, 2.0)
    differences, _ = site_differences(np.asarray(SITE_SETS[sites]).reshape(-1, 3))
    dt, count = 0.004, 800
    reference = kernel_by_differences(lattice, differences, dt * np.arange(count), points, boundary=boundary, method="sum")
    binned = binned_kernel(lattice, differences, dt, count, points, boundary=boundary)
    assert binned.shape == reference.shape
    scale = np.max(np.abs(reference))
    assert np.max(np.abs(binned - reference)) < 1e-11 * scale


def _central(r, k):
    r = np.asarray(r, dtype=float)
    return r, k * np.outer(r, r) / (r @ r)


@pytest.mark.parametrize("kind", ["orthorhombic", "hexagonal", "square-2d"])
def test_binned_kernel_on_lattices_with_fewer_symmetries(kind):
    """An orthorhombic lattice (different springs along x, y, z and a (1,1,0) bond: no x ↔ y swap), a
    hexagonal one (non-orthogonal cell: the reduced-axis flips are not symmetries) and a confined square
    2D lattice whose masses move in 3D (dof ≠ dim: inversion only) — the folding finds only what holds,
    and the kernel is still the mode sum."""
    differences = np.array([[0, 0, 0], [0, 0, 2], [1, 0, 0]])
    if kind == "square-2d":
        plane = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
        bonds = [_central([1, 0, 0], 4.0), _central([0, 1, 0], 4.0), _central([1, 1, 0], 1.0), _central([1, -1, 0], 1.0)]
        lattice = jx.bravais_lattice(plane, bonds, confinement=np.eye(3))
        differences = np.array([[0, 0], [1, 0], [2, 1]])
    elif kind == "orthorhombic":
        bonds = [_central([1, 0, 0], 4.0), _central([0, 1, 0], 9.0), _central([0, 0, 1], 6.0), _central([1, 1, 0], 1.0)]
        lattice = jx.bravais_lattice(np.eye(3), bonds)
    else:
        vectors = np.array([[1.0, 0.5, 0.0], [0.0, np.sqrt(3) / 2, 0.0], [0.0, 0.0, 1.2]])
        bonds = [_central(vectors[:, 0], 5.0), _central(vectors[:, 1], 5.0), _central(vectors[:, 1] - vectors[:, 0], 5.0),
                 _central(vectors[:, 2], 3.0)]
        lattice = jx.bravais_lattice(vectors, bonds)
    flips, swaps = symmetry_folding(lattice, differences)
    assert swaps == () and flips == ((2,) if lattice.dim == 3 else ())  # the z mirror holds in both 3D lattices
    points = 14 if kind == "square-2d" else 10
    reference = kernel_by_differences(lattice, differences, 0.005 * np.arange(300), points, method="sum")
    binned = binned_kernel(lattice, differences, 0.005, 300, points)
    assert np.max(np.abs(binned - reference)) < 3e-11 * np.max(np.abs(reference))


def test_symmetry_folding_of_the_paper_site_sets():
    """Sites on a z line keep all three mirrors and the x ↔ y swap (16-fold); a whole cell keeps only
    the inversion; a face in the xy plane keeps the z mirror."""
    lattice = jx.simple_cubic(15.0, 5.0, 2.0)

    def folding(cells):
        differences, _ = site_differences(np.asarray(cells).reshape(-1, 3))
        return symmetry_folding(lattice, differences)

    assert folding(jx.line_sites(8)) == ((0, 1, 2), ((0, 1),))
    assert folding(jx.cubic_cell_sites()) == ((), ())
    assert folding(SITE_SETS["face"]) == ((2,), ())
    assert symmetry_folding(jx.chain3d(99 / 4), np.array([[0], [1]])) == ((), ())  # dof ≠ dim: inversion only


def test_kernel_method_choice_and_errors():
    lattice = jx.simple_cubic(15.0, 5.0, 2.0)
    differences = np.zeros((1, 3), dtype=int)
    times = 0.01 * np.arange(1, 101)
    auto = kernel_by_differences(lattice, differences, times, 12)  # small: the sum
    binned = kernel_by_differences(lattice, differences, times, 12, method="binned")  # times start at dt: sliced
    np.testing.assert_allclose(binned, auto, atol=1e-12 * np.max(np.abs(auto)))
    with pytest.raises(ValueError, match="unknown method"):
        kernel_by_differences(lattice, differences, times, 12, method="fast")
    with pytest.raises(ValueError, match="uniform times"):
        kernel_by_differences(lattice, differences, np.array([0.0, 0.1, 0.3]), 12, method="binned")
    with pytest.raises(ValueError, match="2D or 3D"):
        kernel_by_differences(jx.chain(10.0), np.zeros((1, 1), dtype=int), times, 12, method="binned")
    with pytest.raises(ValueError, match="method='binned'"):
        kernel_by_differences(lattice, differences, np.array([0.0, 0.1, 0.3]), 400, method="sum")


# ----------------------------------------------------------------------------- (b) fft convolution


def _fig6_system(sites: int = 8):
    return jx.System(jx.simple_cubic(15.0, 5.0, 2.0), jx.Gaussian(1.0, 0.5), jx.line_sites(sites))


FIG6_START = ([0.0, 0.0, 7.0], [0.0, 0.0, 7.5])


@pytest.mark.filterwarnings("ignore:allow_recurrence:UserWarning")  # asked for on purpose: the kernel recurs by design here
def test_fft_convolution_equals_the_direct_sum_in_3d():
    """Paper 1's Fig. 6 ion on a recurring K = 16 kernel, 2 400 steps (38 blocks, 6 levels of squares):
    the hierarchical FFT sum equals the quadratic one to rounding, positions and site displacements."""
    system = _fig6_system()
    dt, duration = 0.005, 12.0
    kernel = precompute_kernel(system.lattice, system.site_cells, dt, duration, points_per_axis=16, cache=False)
    kwargs = dict(dt=dt, constraint=[0, 0, 1], kernel=kernel, allow_recurrence=True, save_times=dt * np.arange(0, 2401, 4))
    direct = simulate_memory(system, *FIG6_START, duration, method="direct", **kwargs)
    fft = simulate_memory(system, *FIG6_START, duration, method="fft", **kwargs)
    assert fft.method == "fft" and fft.block_steps == 64
    np.testing.assert_allclose(fft.ts, direct.ts)
    np.testing.assert_allclose(fft.ion_positions, direct.ion_positions, atol=1e-11, rtol=0)
    np.testing.assert_allclose(fft.site_displacements, direct.site_displacements, atol=1e-12, rtol=0)
    np.testing.assert_allclose(fft.energy_error, direct.energy_error, atol=1e-11)
    assert np.max(np.abs(fft.energy_error)) < 2e-3 * np.max(fft.framework_work)  # dt² error of the trapezoid sum
    odd = simulate_memory(system, *FIG6_START, duration, method="fft", block_steps=37, **kwargs)  # partial last block
    np.testing.assert_allclose(odd.ion_positions, direct.ion_positions, atol=1e-11, rtol=0)


def test_fft_convolution_on_a_chain_with_truncated_memory_and_bias():
    """Paper 2's chain, a trapped biased ion: fft equals direct with the full memory and with a truncated
    one (``memory_length``: the table is zero past it)."""
    system = jx.System(jx.chain(10.0, spacing=40.0), jx.Gaussian(-2.0, 4.0), np.arange(-1, 2)[:, None])
    args = (system, [0.0, 0.0, 3.0], [0.0, 0.0, 2.0], 2.0)
    kwargs = dict(dt=1 / 600, constraint=[0, 0, 1], bias_force=0.01 / 40, save_times=np.arange(0, 1201, 30) / 600, cache=False)
    for memory_length in (None, 0.4):
        direct = simulate_memory(*args, method="direct", memory_length=memory_length, **kwargs)
        fft = simulate_memory(*args, method="fft", memory_length=memory_length, **kwargs)
        np.testing.assert_allclose(fft.ion_positions, direct.ion_positions, atol=1e-11, rtol=0)
        np.testing.assert_allclose(fft.framework_work, direct.framework_work, atol=1e-13, rtol=1e-9)


@pytest.mark.filterwarnings("ignore:allow_recurrence:UserWarning")  # asked for on purpose: the kernel recurs by design here
def test_fft_batch_and_thermal_ensemble_equal_the_direct_ones():
    """``simulate_memory_batch`` and a two-key thermal ensemble run with the fft core equal the direct core."""
    system = jx.System(jx.chain3d(99 / 4, confinement_parallel=1.0), jx.Gaussian(-0.5, 1.0), [[0], [1]])
    starts = np.array([[0.0, 0.3, 0.4], [0.0, -0.2, 0.5]])
    velocities = np.array([[0.0, 0.0, 0.5], [0.0, 0.4, 0.0]])
    kwargs = dict(dt=2e-3, save_times=2e-3 * np.arange(0, 501, 20), points_per_axis=64, allow_recurrence=True, cache=False)
    direct = jx.simulate_memory_batch(system, starts, velocities, 1.0, method="direct", **kwargs)
    fft = jx.simulate_memory_batch(system, starts, velocities, 1.0, method="fft", block_steps=16, **kwargs)
    np.testing.assert_allclose(fft.ion_positions, direct.ion_positions, atol=1e-12, rtol=0)
    bath = jx.ThermalBath(temperature=0.5, key=jax.random.split(jax.random.PRNGKey(1), 2))
    one = dict(kwargs, thermal=bath)
    direct = simulate_memory(system, starts[0], velocities[0], 1.0, method="direct", **one)
    fft = simulate_memory(system, starts[0], velocities[0], 1.0, method="fft", block_steps=16, **one)
    assert fft.ion_positions.shape[0] == 2
    np.testing.assert_allclose(fft.ion_positions, direct.ion_positions, atol=1e-12, rtol=0)


# ----------------------------------------------------------------------------- (c) cross-engine


def test_binned_infinite_kernel_and_fft_match_the_full_engine_before_the_echo():
    """An ion between 4 sites on a z line of the simple cubic lattice, 3 time units: the default path for
    a long 3D run (auto → fft; the exact twisted-grid kernel, K = 130, binned because it is large) equals
    the full engine on a 16³ supercell up to that supercell's first echo (τ ≈ 0.51; to the memory engine's
    dt² error: 3.1e-6 at dt = 1e-3, 6.9e-7 at 5e-4), and parts from it after (~1e-3)."""
    system = jx.System(jx.simple_cubic(15.0, 5.0, 2.0), jx.Gaussian(0.4, 0.8), jx.line_sites(4))
    start, velocity = [0.0, 0.0, 3.0], [0.0, 0.0, 3.0]
    size = (16, 16, 16)
    echo = jx.supercell_echo_time(system.lattice, size)
    memory = simulate_memory(system, start, velocity, 3.0, dt=5e-4, constraint=[0, 0, 1], save_times=5e-4 * np.arange(0, 6001, 20),
                             cache=False)
    assert memory.method == "fft" and memory.valid_time >= 3.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jx.EchoWarning)
        full = jx.simulate(system, size, start, velocity, float(memory.ts[-1]), constraint=[0, 0, 1], save_times=np.asarray(memory.ts),
                           max_steps=10**6, rtol=1e-11, atol=1e-13)
    early = np.asarray(memory.ts) <= echo
    difference = np.max(np.abs(memory.ion_positions[early] - np.asarray(full.ion_positions)[early]))
    assert difference < 1e-6, difference
    late = np.asarray(memory.ts) > echo + 0.5
    assert np.max(np.abs(memory.ion_positions[late] - np.asarray(full.ion_positions)[late])) > 100 * difference


# ----------------------------------------------------------------------------- (d) bad input


def test_fft_bad_input():
    system = _fig6_system(2)
    with pytest.raises(ValueError, match="block_steps"):
        simulate_memory(system, [0, 0, 1.0], [0, 0, 1.0], 0.1, dt=1e-3, constraint=[0, 0, 1], method="fft", block_steps=0, cache=False)
    with pytest.raises(ValueError, match="valid options"):
        simulate_memory(system, [0, 0, 1.0], [0, 0, 1.0], 0.1, dt=1e-3, method="fast", cache=False)
