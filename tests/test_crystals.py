"""Importers of real crystals (jaxion.crystals) against phonopy's and ASE's own spectra of the same force
constants, the physical units, and bad input.

The EMT crystals are built once per module (phonopy finite displacements, tiny supercells). phonopy and ASE carry
older CODATA constants than jaxion.materials (about 1.2e-7 apart in √(eV/Å²/amu) → THz); the comparisons convert
their frequencies with their own constants into √(eV/Å²/amu) and ours with ours, so the tolerance is 1e-8."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

phonopy = pytest.importorskip("phonopy")
ase = pytest.importorskip("ase")

import jaxion as jx  # noqa: E402
from jaxion import crystals as cr  # noqa: E402
from jaxion.materials import AMU, ANGSTROM, EV  # noqa: E402

SUPERCELLS = {"Cu-fcc": (3, 3, 3), "Cu-fcc-cubic": (2, 2, 2), "Ni-hcp": (3, 3, 2), "Cu3Au-L12": (2, 2, 2)}
# √(eV/Å²/amu) in rad/s with jaxion's constants
OUR_SQRT_EV_A2_AMU = np.sqrt(EV / (ANGSTROM**2 * AMU))


@pytest.fixture(scope="module")
def phonons():
    return {name: cr.emt_phonopy(name, supercell=supercell) for name, supercell in SUPERCELLS.items()}


@pytest.fixture(scope="module")
def imported(phonons):
    return {name: cr.from_phonopy(phonon) for name, phonon in phonons.items()}


def _wavevectors(count: int = 30) -> np.ndarray:
    """Random reduced wavevectors (phonopy's units) plus Γ, a small q and zone-boundary points."""
    special = [(0, 0, 0), (1e-3, 0, 0), (0.5, 0, 0), (0.5, 0.5, 0), (0.5, 0.5, 0.5), (1 / 3, 1 / 3, 0), (0.25, -0.1, 0.4)]
    return np.concatenate([special, np.random.default_rng(7).uniform(-1, 1, (count, 3))])


def _omega2_in_ev_a2_amu(crystal: jx.Crystal, omega2: np.ndarray) -> np.ndarray:
    """Our dimensionless ω² in eV/Å²/amu (the eigenvalue units of phonopy's dynamical matrix)."""
    angular = float(crystal.units.frequency)  # Ω in rad/s
    return omega2 * (angular / OUR_SQRT_EV_A2_AMU) ** 2


def _phonopy_modes(phonon, q):
    phonon.run_qpoints(q, with_eigenvectors=True)
    result = phonon.qpoints
    thz = np.asarray(result.frequencies)
    # phonopy's THz → eigenvalue (eV/Å²/amu) with phonopy's own factor (negative frequencies are negative ω²)
    return np.sign(thz) * (thz / phonon.unit_conversion_factor) ** 2, np.asarray(result.eigenvectors)


@pytest.mark.parametrize("structure", list(SUPERCELLS))
def test_frequencies_and_eigenvectors_equal_phonopy(phonons, imported, structure):
    phonon, crystal = phonons[structure], imported[structure]
    q = _wavevectors()
    reference, vectors = _phonopy_modes(phonon, q)
    modes = crystal.lattice.modes(2 * np.pi * q)
    ours = _omega2_in_ev_a2_amu(crystal, np.asarray(modes.omega2))
    scale = float(np.max(reference))
    np.testing.assert_allclose(ours, reference, rtol=1e-8, atol=1e-10 * scale)
    # frequencies (THz with our constants) of the optical and finite-q modes to 1e-8 relative
    ours_thz = np.sqrt(np.abs(ours)) * OUR_SQRT_EV_A2_AMU / (2 * np.pi * 1e12)
    phonopy_thz = np.sqrt(np.abs(reference)) * OUR_SQRT_EV_A2_AMU / (2 * np.pi * 1e12)
    finite = phonopy_thz > 1e-3 * phonopy_thz.max()
    assert np.max(np.abs(ours_thz[finite] / phonopy_thz[finite] - 1)) < 1e-8
    np.testing.assert_allclose(np.asarray(crystal.frequencies_thz(q))[finite], ours_thz[finite], rtol=1e-12)
    # eigenvectors: projectors onto each degenerate eigenspace
    eta = np.asarray(modes.eta)
    worst = 0.0
    for i in range(len(q)):
        values = reference[i]
        start = 0
        while start < len(values):
            stop = start + 1
            while stop < len(values) and values[stop] - values[stop - 1] < 1e-6 * scale:
                stop += 1
            mine, theirs = eta[i][:, start:stop], vectors[i][:, start:stop]
            worst = max(worst, float(np.max(np.abs(mine @ mine.conj().T - theirs @ theirs.conj().T))))
            start = stop
    assert worst < 1e-8, worst
    assert crystal.lattice.atoms == len(phonon.primitive)
    assert crystal.species == tuple(phonon.primitive.symbols)


def test_default_units_put_the_largest_frequency_at_one(phonons, imported):
    crystal, masses = imported["Cu3Au-L12"], phonons["Cu3Au-L12"].primitive.masses
    assert crystal.lattice.max_frequency(supercell=(12, 12, 12)) == pytest.approx(1.0, rel=1e-12)
    assert crystal.species == ("Au", "Cu", "Cu", "Cu")
    assert float(crystal.units.to_physical(1.0, "mass")) == pytest.approx(masses[1], rel=1e-12)  # the lightest: Cu
    np.testing.assert_allclose(np.asarray(crystal.lattice.masses), masses / masses[1], rtol=1e-12)


def _compare_lattices(a: jx.Crystal, b: jx.Crystal, rtol: float) -> float:
    q = 2 * np.pi * _wavevectors(10)
    da = _omega2_scale(a) * np.asarray(a.lattice.dynamical_matrix(q))
    db = _omega2_scale(b) * np.asarray(b.lattice.dynamical_matrix(q))
    difference = float(np.max(np.abs(da - db)) / np.max(np.abs(db)))
    assert difference < rtol, difference
    np.testing.assert_allclose(np.asarray(a.lattice.basis_positions), np.asarray(b.lattice.basis_positions), atol=1e-12)
    return difference


def _omega2_scale(crystal: jx.Crystal) -> float:
    return _omega2_in_ev_a2_amu(crystal, np.ones(1))[0]


def test_full_and_compact_force_constants_give_the_same_lattice(phonons, imported):
    phonon = phonons["Cu3Au-L12"]
    compact = phonon.copy()
    compact.force_constants = np.asarray(phonon.force_constants)[phonon.primitive.p2s_map]
    a, b = imported["Cu3Au-L12"], cr.from_phonopy(compact)
    assert a.lattice.pair_offsets == b.lattice.pair_offsets and a.lattice.pair_atoms == b.lattice.pair_atoms
    np.testing.assert_array_equal(np.asarray(a.lattice.pair_force_constants), np.asarray(b.lattice.pair_force_constants))
    assert float(a.units.frequency) == float(b.units.frequency)


def test_phonopy_yaml_path_equals_the_object(phonons, imported, tmp_path):
    path = tmp_path / "phonopy.yaml"
    phonons["Ni-hcp"].save(path, settings={"force_constants": True})
    from_path = cr.from_phonopy(str(path))
    _compare_lattices(from_path, imported["Ni-hcp"], rtol=1e-8)  # the yaml holds ~10 decimals
    assert from_path.species == ("Ni", "Ni")


def _ase_atoms(cell):
    return ase.Atoms(cell.symbols, cell=cell.cell, scaled_positions=cell.scaled_positions, masses=cell.masses, pbc=True)


@pytest.mark.parametrize("structure", ["Ni-hcp", "Cu3Au-L12"])
def test_ase_raw_array_import_equals_phonopy_import(phonons, imported, structure):
    """Our own search of shortest images (raw (N, N, 3, 3) form) against phonopy's shortest vectors."""
    phonon = phonons[structure]
    crystal = cr.from_ase(_ase_atoms(phonon.primitive), np.asarray(phonon.force_constants),
                          supercell_atoms=_ase_atoms(phonon.supercell))
    assert _compare_lattices(crystal, imported[structure], rtol=1e-13) < 1e-13
    assert float(crystal.units.frequency) == pytest.approx(float(imported[structure].units.frequency), rel=1e-13)


def test_ase_phonons_import_equals_ase_spectrum_on_the_supercell_grid(tmp_path):
    """ase.phonons.Phonons with EMT (hcp Ni, 2 atoms): at the supercell's own wavevectors the images of a force
    constant all carry the same phase, so our spectrum must equal ASE's band_structure there — up to the part of
    ASE's data that is not Hermitian (its symmetrisation leaves ~1e-5; ASE diagonalises the upper triangle, we the
    Hermitian part)."""
    from ase.calculators.emt import EMT
    from ase.phonons import Phonons

    supercell = (3, 3, 2)
    ph = Phonons(cr._relaxed("Ni-hcp"), EMT(), supercell=supercell, delta=0.01, name=str(tmp_path / "phonon"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ph.run()
    ph.read(acoustic=True)
    crystal = cr.from_ase_phonons(ph)
    grid = np.stack(np.meshgrid(*[np.arange(n) / n for n in supercell], indexing="ij"), -1).reshape(-1, 3)
    energies = np.asarray(ph.band_structure(grid, verbose=False))  # ħω in eV (ASE's constants)
    units = ase.units
    reference = np.sign(energies) * (energies * units._e / units._hbar / (np.sqrt(units._e / units._amu) * 1e10)) ** 2
    ours = _omega2_in_ev_a2_amu(crystal, np.asarray(crystal.lattice.modes(2 * np.pi * grid).omega2))
    # the data's own non-Hermitian part bounds the agreement
    fc, cells = ph.get_force_constant(), ph.compute_lattice_vectors().T
    index = {tuple(c % supercell): i for i, c in enumerate(cells)}
    partner = fc[[index[tuple(-c % supercell)] for c in cells]].swapaxes(1, 2)
    asymmetry = float(np.max(np.abs(fc - partner)) / np.max(np.abs(fc)))
    difference = float(np.max(np.abs(ours - reference)) / np.max(reference))
    assert difference < max(10 * asymmetry, 1e-8), (difference, asymmetry)
    assert crystal.species == ("Ni", "Ni")
    # the same ASE data through the raw (N, N, 3, 3) path: the block layout of get_force_constant()
    n = len(ph.atoms)
    hermitian = (0.5 * (fc + partner)).reshape(len(cells), n, 3, n, 3)
    raw = np.zeros((len(cells) * n,) * 2 + (3, 3))
    positions = (cells[:, None, :] + ph.atoms.get_scaled_positions()[None]).reshape(-1, 3) @ np.asarray(ph.atoms.cell)
    big = ase.Atoms(ph.atoms.get_chemical_symbols() * len(cells), positions=positions, cell=np.diag(supercell) @ ph.atoms.cell,
                    pbc=True)
    for c, shift in enumerate(cells):  # Φ(R' a; R'+R b) = Φ(0a; R b) for every origin cell R'
        for d, origin in enumerate(cells):
            target = index[tuple((origin + shift) % supercell)]
            raw[d * n : d * n + n, target * n : target * n + n] = hermitian[c].transpose(0, 2, 1, 3)
    _compare_lattices(cr.from_ase(ph.atoms, raw, supercell_atoms=big), crystal, rtol=1e-12)


# ---------------------------------------------------------------------- units


KINDS = ["length", "time", "energy", "frequency", "speed", "mass", "force_constant"]


@pytest.mark.parametrize("kind", KINDS)
def test_units_round_trip(kind):
    units = jx.DimensionlessUnits.from_amu_thz(63.546, 7.0)
    value = np.array([0.3, 2.5, 17.0])
    np.testing.assert_allclose(np.asarray(units.from_physical(units.to_physical(value, kind), kind)), value, rtol=1e-14)
    np.testing.assert_allclose(np.asarray(units.from_si(units.to_si(value, kind), kind)), value, rtol=1e-14)


def test_units_against_hand_computation():
    units = jx.DimensionlessUnits.from_amu_thz(63.546, 7.0)
    mass = 63.546 * 1.66053906660e-27
    omega = 2 * np.pi * 7.0e12
    assert float(units.to_physical(1.0, "frequency")) == pytest.approx(7.0, rel=1e-14)
    assert float(units.to_physical(1.0, "time")) == pytest.approx(1e15 / 7.0e12, rel=1e-14)  # one period in fs
    assert float(units.to_physical(1.0, "energy")) == pytest.approx(4.135667696e-15 * 7.0e12, rel=1e-9)  # h·f in eV
    assert float(units.to_physical(1.0, "length")) == pytest.approx(np.sqrt(1.054571817e-34 / (mass * omega)) * 1e10, rel=1e-14)
    assert float(units.to_physical(1.0, "mass")) == pytest.approx(63.546, rel=1e-14)
    assert float(units.to_physical(1.0, "force_constant")) == pytest.approx(mass * omega**2 / 16.02176634, rel=1e-12)
    assert float(units.to_physical(1.0, "speed")) == pytest.approx(np.sqrt(1.054571817e-34 / (mass * omega)) * 7.0e12, rel=1e-14)


def test_copper_maximal_frequency_and_sound_speed(phonons, imported):
    """Cu with EMT: largest frequency near real copper's 7.2 THz; the longitudinal sound speed along [100] from the
    slope of our acoustic branch, in m/s through the units, equals phonopy's slope in SI and lies near copper's
    sqrt(C11/ρ) ≈ 4.3 km/s (sanity ranges; the exact tests are the phonopy comparisons above)."""
    crystal, phonon = imported["Cu-fcc"], phonons["Cu-fcc"]
    largest = float(crystal.units.to_physical(1.0, "frequency"))
    assert 6.0 < largest < 9.0, largest
    k_angstrom = 1e-4  # |k| in 1/Å along x, for both
    step = k_angstrom * float(crystal.units.to_physical(1.0, "length"))  # the same k in 1/l
    q = np.asarray(crystal.lattice.primitive_vectors).T @ np.array([step, 0.0, 0.0])  # reduced q_i = a_i·k
    slope = 2 * np.pi * float(crystal.lattice.frequencies(q)[-1]) / step  # l per τ
    ours = float(crystal.units.to_physical(slope, "speed"))
    q_phonopy = np.asarray(phonon.primitive.cell) @ np.array([k_angstrom, 0.0, 0.0]) / (2 * np.pi)
    phonon.run_qpoints([q_phonopy])
    angular = float(np.max(phonon.qpoints.frequencies)) / phonon.unit_conversion_factor * OUR_SQRT_EV_A2_AMU  # rad/s
    assert ours == pytest.approx(angular / (k_angstrom * 1e10), rel=1e-6)
    assert 3000.0 < ours < 6500.0, ours


# ---------------------------------------------------------------------- bad input


@pytest.fixture(scope="module")
def copper(phonons):
    phonon = phonons["Cu-fcc"]
    return _ase_atoms(phonon.primitive), np.asarray(phonon.force_constants), _ase_atoms(phonon.supercell)


def test_broken_acoustic_sum_rule_is_corrected_or_refused(copper, imported):
    atoms, fc, supercell = copper
    broken = fc.copy()
    broken[np.arange(len(fc)), np.arange(len(fc))] += 1e-4 * np.max(np.abs(fc)) * np.eye(3)
    with pytest.warns(RuntimeWarning, match="acoustic sum rule"):
        corrected = cr.from_ase(atoms, broken, supercell_atoms=supercell)
    assert corrected.lattice.acoustic
    _compare_lattices(corrected, imported["Cu-fcc"], rtol=1e-12)
    with pytest.raises(ValueError, match="acoustic_sum_rule='check'"):
        cr.from_ase(atoms, broken, supercell_atoms=supercell, acoustic_sum_rule="check")


def test_non_hermitian_force_constants_are_refused(copper):
    atoms, fc, supercell = copper
    broken = fc.copy()
    nearest = int(np.argsort(np.linalg.norm(supercell.positions - supercell.positions[0], axis=1))[1])
    broken[0, nearest] += 1e-3 * np.max(np.abs(fc)) * np.array([[0, 1, 0], [-1, 0, 0], [0, 0, 0]])
    with pytest.raises(ValueError, match="non-Hermitian"):
        cr.from_ase(atoms, broken, supercell_atoms=supercell)


def test_bad_masses_shapes_and_phonopy_input_are_refused(copper, phonons):
    atoms, fc, supercell = copper
    massless = atoms.copy()
    massless.set_masses([0.0])
    with pytest.raises(ValueError, match=r"masses must be finite and > 0 \(amu\)"):
        cr.from_ase(massless, fc, supercell_atoms=supercell)
    with pytest.raises(ValueError, match=r"force_constants must have shape \(N, N, 3, 3\)"):
        cr.from_ase(atoms, fc[:, :5], supercell_atoms=supercell)
    with pytest.raises(ValueError, match="is not a lattice translate"):
        shifted = supercell.copy()
        shifted.positions[3] += 0.3
        cr.from_ase(atoms, fc, supercell_atoms=shifted)
    bare = phonopy.Phonopy(phonons["Cu-fcc"].unitcell, supercell_matrix=np.diag([2, 2, 2]), primitive_matrix="P")
    with pytest.raises(ValueError, match="phonon_or_path has no force constants"):
        cr.from_phonopy(bare)
    with pytest.raises(ValueError, match="phonon_or_path must be a phonopy.Phonopy"):
        cr.from_phonopy(42)
    with pytest.raises(ValueError, match="unknown structure 'NaCl'"):
        cr.emt_phonopy("NaCl")


def test_units_off_by_orders_of_magnitude_warn(copper):
    atoms, fc, supercell = copper
    with pytest.warns(jx.CrystalUnitsWarning, match="outside 0.01–100 THz.*masses in kg"):
        heavy = atoms.copy()
        heavy.set_masses(atoms.get_masses() * AMU)  # kg given as amu
        cr.from_ase(heavy, fc, supercell_atoms=supercell)
    with pytest.warns(jx.CrystalUnitsWarning, match="outside 0.01–100 THz.*g/mol·1000"):
        cr.from_ase(atoms, fc * 1e-8, supercell_atoms=supercell)
    with pytest.warns(jx.CrystalUnitsWarning, match="positions are probably in nm or Bohr"):
        small, small_super = atoms.copy(), supercell.copy()
        small.set_cell(atoms.cell * 0.1, scale_atoms=True)
        small_super.set_cell(supercell.cell * 0.1, scale_atoms=True)
        cr.from_ase(small, fc, supercell_atoms=small_super)
