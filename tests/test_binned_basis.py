"""The binned kernel on crystals with a basis (complex Hermitian ``D(q)``, site phases ``e^{iq·(Δn + τ_s − τ_t)}``).

(a) ``jaxion.kernels.binned_kernel(..., atom_pairs=...)`` (time-reversal folding + frequency bins with complex
    moments + FFT in time) against the mode-by-mode zone sum ``kernel_by_differences(method="sum")`` on the same grid
    and boundary: EMT crystals Cu-fcc-cubic (4 equal atoms), Cu3Au-L12 (4 atoms, 2 species) and Ni-hcp (atoms off
    inversion centres), periodic and twisted grids, entries between different atoms and cells, hundreds of times;
(b) the memory engine on the binned table (the dispatch of ``precompute_kernel``) against the same engine on the
    mode-by-mode table; (c) bad input.

The EMT crystals are built once per module on the smallest phonopy supercells (their force constants are a valid
Hermitian ``D(q)``; the comparison does not need converged ones).
"""

import numpy as np
import pytest

pytest.importorskip("phonopy")
pytest.importorskip("ase")

import jaxion as jx  # noqa: E402
from jaxion.dynamics.memory import simulate_memory  # noqa: E402
from jaxion.kernels import _tables, binned_kernel, kernel_by_differences, precompute_kernel  # noqa: E402

SUPERCELLS = {"Cu-fcc-cubic": (1, 1, 1), "Cu3Au-L12": (1, 1, 1), "Ni-hcp": (2, 2, 1)}


@pytest.fixture(scope="module")
def crystals():
    return {name: jx.emt_crystal(name, supercell=supercell) for name, supercell in SUPERCELLS.items()}


def _entries(atoms: int, count: int = 10, seed: int = 3):
    """Entries ``(Δn, s, t)``: the on-site blocks of every atom, every pair of atoms of one cell, and random ones
    between cells up to 2 apart (both orders of a pair: the table is not symmetric in ``(s, t)`` alone)."""
    rng = np.random.default_rng(seed)
    same = [(0, 0, 0, s, t) for s in range(atoms) for t in range(atoms)]
    other = np.concatenate([rng.integers(-2, 3, (count, 3)), rng.integers(0, atoms, (count, 2))], axis=1)
    rows = np.concatenate([np.asarray(same), other, [[1, 0, -1, 1, 0], [-1, 0, 1, 0, 1]]], axis=0)
    return rows[:, :3], rows[:, 3:]


# ----------------------------------------------------------------------------- (a) binned kernel


@pytest.mark.parametrize("name", list(SUPERCELLS))
@pytest.mark.parametrize("boundary, points", [("twisted", 7), ("periodic", 6)])
def test_binned_basis_kernel_equals_the_mode_sum(crystals, name, boundary, points):
    """Same grid, same sum: 400 times up to τ = 20 (the Taylor series in each bin at its full argument 0.1; the
    periodic grid's q = 0 translations give the 2πτ growth), every atom pair of a cell and entries between cells.
    Measured 0.95e-12 … 1.8e-12 of the table's scale (all three crystals, both boundaries)."""
    lattice = crystals[name].lattice
    differences, pairs = _entries(lattice.atoms)
    dt, count = 0.05, 400
    reference = kernel_by_differences(lattice, differences, dt * np.arange(count), points, boundary=boundary, method="sum",
                                      atom_pairs=pairs)
    binned = binned_kernel(lattice, differences, dt, count, points, boundary=boundary, atom_pairs=pairs)
    assert binned.shape == reference.shape == (count, len(differences), 3, 3)
    scale = np.max(np.abs(reference))
    deviation = np.max(np.abs(binned - reference))
    assert deviation < 1e-10 * scale, deviation / scale


def test_binned_basis_kernel_through_precompute_kernel(crystals, monkeypatch):
    """``precompute_kernel`` on a basis hands long uniform tables to the binned kernel (here forced by a zero
    threshold) and maps its ``(Δn, s, t)`` entries onto the ``(T, S, 3, S, 3)`` table of the sites: the same table
    as the mode-by-mode sum, and the same table ``response_kernel`` gives."""
    lattice = crystals["Cu3Au-L12"].lattice
    sites = [[0, 0, 0, 0], [0, 0, 0, 3], [0, 0, 0, 1], [0, 0, 1, 2], [1, 0, 0, 1]]
    summed = precompute_kernel(lattice, sites, 0.05, 5.0, points_per_axis=6, cache=False)
    monkeypatch.setattr(_tables, "_BINNED_ABOVE", 0.0)
    binned = precompute_kernel(lattice, sites, 0.05, 5.0, points_per_axis=6, cache=False)
    scale = np.max(np.abs(summed.values))
    assert np.max(np.abs(binned.values - summed.values)) < 1e-10 * scale
    # a table of non-uniform times still sums mode by mode
    times = np.array([0.0, 0.3, 1.1])
    np.testing.assert_allclose(jx.response_kernel(lattice, sites, times, points_per_axis=6),
                               summed.values[[0, 6, 22]], rtol=0, atol=1e-10 * scale)


# ----------------------------------------------------------------------------- (b) memory engine


def test_memory_engine_on_the_binned_basis_table(crystals, monkeypatch):
    """A light ion (μ = 0.11, Li on Cu) oscillating about the tetrahedral site of Cu3Au along z, a Born–Mayer
    potential per species: the memory engine on the binned table against the same engine on the mode-by-mode table
    (grid K = 6, recurrence allowed: both tables are the same 6-periodic supercell's), to 1e-8 of the cell."""
    crystal = crystals["Cu3Au-L12"]
    lattice, units = crystal.lattice, crystal.units
    a = float(lattice.primitive_vectors[0, 0])
    potentials = {"Au": jx.BornMayer.from_ev_angstrom(800.0, 0.2, units), "Cu": jx.BornMayer.from_ev_angstrom(500.0, 0.2, units)}
    sites = [[0, 0, 0, 0], [0, 0, 0, 3], [0, 0, 0, 1], [0, 0, 0, 2], [0, 0, 1, 0], [0, 0, 1, 3]]
    system = jx.System(lattice, potentials, sites, mass_ratio=6.94 / 63.546)
    start, velocity, line = [0.25 * a, 0.25 * a, 0.25 * a], [0.0, 0.0, 60.0], [0.0, 0.0, 1.0]
    options = dict(dt=0.004, constraint=line, points_per_axis=6, allow_recurrence=True, cache=False, method="direct")
    with pytest.warns(UserWarning, match="allow_recurrence"):
        summed = simulate_memory(system, start, velocity, 0.8, **options)
    monkeypatch.setattr(_tables, "_BINNED_ABOVE", 0.0)
    with pytest.warns(UserWarning, match="allow_recurrence"):
        binned = simulate_memory(system, start, velocity, 0.8, **options)
    difference = float(np.max(np.abs(np.asarray(binned.ion_positions) - np.asarray(summed.ion_positions))))
    assert difference < 1e-8 * a, difference
    moved = float(np.ptp(np.asarray(summed.ion_positions)[:, 2]))
    assert moved > 0.05 * a  # a real oscillation in the trap (measured 0.11 a), not a rest state


# ----------------------------------------------------------------------------- (c) bad input


def test_binned_basis_kernel_bad_input(crystals):
    lattice = crystals["Ni-hcp"].lattice
    with pytest.raises(ValueError, match="atom_pairs"):
        binned_kernel(lattice, [[0, 0, 0]], 0.05, 10, 4, atom_pairs=[[0, 2]])
    with pytest.raises(ValueError, match="atom_pairs"):
        binned_kernel(lattice, [[0, 0, 0], [1, 0, 0]], 0.05, 10, 4, atom_pairs=[[0, 1]])
    with pytest.raises(ValueError, match="unknown boundary"):
        binned_kernel(lattice, [[0, 0, 0]], 0.05, 10, 4, boundary="open", atom_pairs=[[0, 1]])
    with pytest.raises(ValueError, match="points_per_axis"):
        binned_kernel(lattice, [[0, 0, 0]], 0.05, 10, 0, atom_pairs=[[0, 1]])
    with pytest.raises(ValueError, match="too coarse"):
        binned_kernel(lattice, [[0, 0, 0]], 2.0, 10, 4, atom_pairs=[[0, 1]])
