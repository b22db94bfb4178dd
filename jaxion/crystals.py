"""Real crystals: importers of phonopy and ASE force constants, and EMT test crystals made on the spot.

Every importer reads a primitive cell (positions in Å, masses in amu, chemical symbols) and the force constants of
a periodic supercell (eV/Å²), maps them onto the blocks ``Φ(0s; R t)`` of :func:`jaxion.lattice.crystal` and returns
a :class:`Crystal`: the :class:`~jaxion.lattice.Lattice` in paper 1's dimensionless units together with those
:class:`~jaxion.materials.DimensionlessUnits`.

Mapping (exactly as phonopy builds its dynamical matrix). A supercell force constant between atom ``s`` of the
origin cell and supercell atom ``k`` (a translate of primitive atom ``t``) stands for the whole periodic family of
images ``k + N``; it is given to the *shortest* vectors ``R + τ_t − τ_s`` of that family, split equally over the
``multiplicity`` images of equal length. Then

    D_st(q) = Σ_k Φ_sk Σ_{images} e^{iq·(R + τ_t − τ_s)} / (multiplicity sqrt(m_s m_t))      (1.12), (1.19)

is phonopy's ``get_dynamical_matrix_at_q`` term by term (reduced ``q = 2π q_phonopy``). phonopy's own shortest
vectors are used for a ``Phonopy`` object; for the raw arrays of ASE or hiphive the same images are searched here.

Units (paper 1, Sec. II): lengths in ``l = sqrt(ħ/(mΩ))``, masses in ``m``, force constants
``Φ = Φ_phys l²/(ħΩ) = Φ_phys/(mΩ²)``. Defaults: ``m`` is the lightest atom (or ``reference_mass_amu``), and
``Ω = 2π f_max`` with ``f_max`` the largest phonon frequency on the 12×12×12 grid of wavevectors of
:meth:`Lattice.max_frequency` (a 12³ supercell's modes: Γ and the zone boundary included), so that ``ω_max = 1`` on
that grid (to within the grid's sampling elsewhere). A largest frequency outside 0.01–100 THz, or a
nearest-neighbour distance outside 0.5–6 Å, raises a :class:`CrystalUnitsWarning` naming the likely mistake.

phonopy and ASE are optional (``pip install "jaxion[crystals]"``) and imported only when used.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from .lattice import Lattice, crystal
from .materials import DimensionlessUnits

__all__ = ["Crystal", "CrystalUnitsWarning", "from_phonopy", "from_ase", "from_ase_phonons", "emt_phonopy", "emt_crystal",
           "EMT_STRUCTURES"]

_FREQUENCY_RANGE_THZ = (0.01, 100.0)
_NEIGHBOUR_RANGE_ANGSTROM = (0.5, 6.0)
_ZONE_POINTS = 12  # f_max is taken over the 12³ wavevectors of a 12×12×12 supercell (Γ and the zone boundary included)
_ASE_ASYMMETRY = 1e-3  # relative Φ(0b; −R a) − Φ(0a; R b)ᵀ of ASE Phonons data taken as its symmetrisation's residue
_IMAGE_TOLERANCE = 1e-5  # Å: images of equal length within this are shared (phonopy's symprec)


class CrystalUnitsWarning(UserWarning):
    """Imported crystal data whose frequencies or distances suggest a unit mistake."""


def _require(module: str):
    """Import ``phonopy`` or ``ase`` (and submodules) lazily, with the install hint when missing."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as error:  # pragma: no cover - the test environment has both
        raise ImportError(f"{module} is needed to import crystals: pip install \"jaxion[crystals]\" (phonopy and ase).") from error


class Crystal(eqx.Module):
    """An imported crystal: the dimensionless :class:`Lattice` and the units that give it physical meaning.

    Attributes:
        lattice: the lattice (positions in ``l``, masses in ``m``, ``Φ`` in ``mΩ²``; species = chemical symbols).
        units: the :class:`DimensionlessUnits` (``m``, ``Ω``); ``units.to_physical(ω, "frequency")`` is in THz.
    """

    lattice: Lattice
    units: DimensionlessUnits

    @property
    def species(self) -> tuple[str, ...]:
        """Chemical symbols of the atoms of the primitive cell."""
        return self.lattice.species

    def frequencies_thz(self, q_phonopy: Float[ArrayLike, "*q 3"]) -> Float[Array, "*q branches"]:
        """Phonon frequencies (THz, ascending) at wavevectors in phonopy's reduced coordinates (reciprocal
        lattice units); our reduced wavevector is ``2π q_phonopy``."""
        q = 2 * np.pi * jnp.asarray(q_phonopy, dtype=float)
        return self.units.to_physical(self.lattice.frequencies(q), "frequency")


def _formula(symbols: Sequence[str]) -> str:
    """``"AuCu3"`` for the symbols of a cell (alphabetical, counts above 1)."""
    counts = Counter(symbols)
    return "".join(f"{s}{counts[s] if counts[s] > 1 else ''}" for s in sorted(counts))


# ---------------------------------------------------------------------- the one mapping routine


def _reduced_basis(basis: np.ndarray) -> np.ndarray:
    """A Gauss (pairwise size-)reduced basis of the lattice spanned by the rows of ``basis``."""
    basis = basis.copy()
    for _ in range(100):
        changed = False
        for i in range(3):
            for j in range(3):
                mu = np.round(basis[i] @ basis[j] / (basis[j] @ basis[j])) if i != j else 0.0
                if mu:
                    basis[i] -= mu * basis[j]
                    changed = True
        if not changed:
            break
    return basis


def _shortest_images(vectors: np.ndarray, supercell: np.ndarray) -> list[np.ndarray]:
    """For each Cartesian vector (rows), its shortest translates by the supercell lattice (rows of ``supercell``),
    all of those within :data:`_IMAGE_TOLERANCE` of the shortest (the multiplicity)."""
    basis = _reduced_basis(supercell)
    fractional = vectors @ np.linalg.inv(basis)
    fractional -= np.round(fractional)
    shifts = np.stack(np.meshgrid(*[np.arange(-2, 3)] * 3, indexing="ij"), -1).reshape(-1, 3)
    candidates = (fractional[:, None, :] + shifts[None]) @ basis  # (vectors, 125, 3)
    lengths = np.linalg.norm(candidates, axis=-1)
    keep = lengths <= lengths.min(axis=1, keepdims=True) + _IMAGE_TOLERANCE
    return [candidates[i][keep[i]] for i in range(len(vectors))]


def _supercell_entries(cell, fractional, supercell, supercell_positions, rows, origins, parameter: str):
    """``(image vectors (m, 3) fractional, s, t, block)`` for the force-constant ``rows[s, k]`` between the origin
    atom ``origins[s]`` (a supercell index) of primitive atom ``s`` and supercell atom ``k``."""
    inverse = np.linalg.inv(cell)
    lattice_in_cells = supercell @ inverse
    if not np.allclose(lattice_in_cells, np.round(lattice_in_cells), atol=1e-6):
        raise ValueError(f"{parameter}: the supercell vectors {supercell.tolist()} are not lattice vectors of the primitive cell.")
    size = len(fractional) * round(abs(np.linalg.det(lattice_in_cells)))
    if len(supercell_positions) != size:
        raise ValueError(f"{parameter}: the supercell has {len(supercell_positions)} atoms; its volume holds {size}.")
    x = supercell_positions @ inverse  # fractional coordinates of the primitive cell
    offset = x[:, None, :] - fractional[None, :, :]
    misfit = np.linalg.norm((offset - np.round(offset)) @ cell, axis=-1)  # (supercell atoms, primitive atoms)
    targets = np.argmin(misfit, axis=1)
    if np.any(misfit[np.arange(len(x)), targets] > 1e-4):
        bad = int(np.argmax(misfit[np.arange(len(x)), targets]))
        raise ValueError(f"{parameter}: supercell atom {bad} at {supercell_positions[bad].round(5).tolist()} Å is not a lattice "
                         "translate of an atom of the primitive cell.")
    entries = []
    for s, origin in enumerate(origins):
        images = _shortest_images((x - x[origin]) @ cell, supercell)
        entries += [(v @ inverse, s, int(targets[k]), rows[s, k]) for k, v in enumerate(images)]
    return entries


def _import(cell, fractional, masses_amu, symbols, entries, *, units, reference_mass_amu, acoustic_sum_rule, name) -> Crystal:
    """The crystal of physical cell (rows, Å), fractional positions, masses (amu) and image entries (eV/Å²)."""
    masses_amu = np.asarray(masses_amu, dtype=float)
    if not np.all(np.isfinite(masses_amu) & (masses_amu > 0)):
        raise ValueError(f"masses must be finite and > 0 (amu); got {masses_amu.tolist()}.")
    if units is not None and not isinstance(units, DimensionlessUnits):
        raise ValueError(f"units must be a jaxion.materials.DimensionlessUnits (or None for the default); got {type(units).__name__}.")
    if reference_mass_amu is not None and not (np.isfinite(reference_mass_amu) and reference_mass_amu > 0):
        raise ValueError(f"reference_mass_amu must be finite and > 0 (amu); got {reference_mass_amu!r}.")
    blocks = []
    for vectors, s, t, block in entries:
        block = np.asarray(block, dtype=float)
        if not np.all(np.isfinite(block)):
            raise ValueError("force_constants must be finite; got NaN/inf entries.")
        for vector in vectors:
            offset = vector - (fractional[t] - fractional[s])
            blocks.append((np.round(offset).astype(int), s, t, block / len(vectors)))
    lengths = [np.linalg.norm(v @ cell, axis=-1) for v, *_ in entries]
    nearest = float(np.min(np.concatenate(lengths)[np.concatenate(lengths) > 1e-8]))
    reference = float(masses_amu.min() if reference_mass_amu is None else reference_mass_amu)
    trial = DimensionlessUnits.from_amu_thz(reference, 1.0) if units is None else units
    lattice = _dimensionless(cell, fractional, masses_amu, symbols, blocks, trial, acoustic_sum_rule, name)
    largest = float(trial.to_physical(lattice.max_frequency(supercell=(_ZONE_POINTS,) * 3), "frequency"))
    _warn_units(largest, nearest)
    if units is None:  # Ω = 2π f_max: lengths l ∝ Ω^(-1/2), force constants in mΩ²
        units = DimensionlessUnits.from_amu_thz(reference, largest)
        lattice = eqx.tree_at(lambda x: (x.primitive_vectors, x.pair_force_constants, x.confinement), lattice,
                              (lattice.primitive_vectors * np.sqrt(largest), lattice.pair_force_constants / largest**2,
                               lattice.confinement / largest**2))
    return Crystal(lattice, units)


def _dimensionless(cell, fractional, masses_amu, symbols, blocks, units: DimensionlessUnits, acoustic_sum_rule, name) -> Lattice:
    length = float(units.to_physical(1.0, "length"))
    stiffness = float(units.to_physical(1.0, "force_constant"))
    return crystal(
        cell.T / length,
        fractional,
        masses_amu / float(units.to_physical(1.0, "mass")),
        [(offset, s, t, block / stiffness) for offset, s, t, block in blocks],
        species=list(symbols),
        acoustic_sum_rule=acoustic_sum_rule,
        name=name,
    )


def _warn_units(largest_thz: float, nearest_angstrom: float) -> None:
    low, high = _FREQUENCY_RANGE_THZ
    if not low <= largest_thz <= high:
        likely = ("force constants in eV/nm² or J/m² (numbers larger than eV/Å²), or masses in kg or kg/mol instead of amu"
                  if largest_thz > high else
                  "force constants in Hartree/Bohr² or eV/m², or masses in g/mol·1000 or electron masses instead of amu")
        warnings.warn(f"the largest phonon frequency of the imported data is {largest_thz:.3g} THz, outside {low:g}–{high:g} THz: "
                      f"check the units (eV/Å², amu, Å); likely {likely}.", CrystalUnitsWarning, stacklevel=4)
    low, high = _NEIGHBOUR_RANGE_ANGSTROM
    if not low <= nearest_angstrom <= high:
        warnings.warn(f"the nearest-neighbour distance of the imported cell is {nearest_angstrom:.3g} Å, outside {low:g}–{high:g} Å: "
                      "positions are probably in nm or Bohr instead of Å.", CrystalUnitsWarning, stacklevel=4)


# ---------------------------------------------------------------------- importers


def from_phonopy(
    phonon_or_path: Any,
    *,
    units: DimensionlessUnits | None = None,
    reference_mass_amu: float | None = None,
    acoustic_sum_rule: str = "enforce",
    name: str | None = None,
) -> Crystal:
    """The crystal of a ``phonopy.Phonopy`` object with force constants (full or compact), or of a
    ``phonopy.yaml`` path (read with ``phonopy.load``).

    ``D(q)`` equals phonopy's ``get_dynamical_matrix_at_q(q_phonopy)`` at ``q = 2π q_phonopy`` (module notes):
    the primitive's shortest vectors and multiplicities split each supercell force constant over its images.
    Lengths and force constants are converted from the calculator's units to Å and eV/Å² (phonopy's
    ``get_calculator_physical_units``). ``units`` (default: module notes), ``acoustic_sum_rule`` as in
    :func:`jaxion.lattice.crystal`.
    """
    phonopy = _require("phonopy")
    if isinstance(phonon_or_path, (str, Path)):
        if not Path(phonon_or_path).is_file():
            raise ValueError(f"phonon_or_path {str(phonon_or_path)!r}: no such file (give a phonopy.yaml with force constants).")
        try:
            phonon = phonopy.load(phonon_or_path)
        except Exception as error:  # noqa: BLE001 - phonopy and yaml raise many types for a file that is not phonopy's
            raise ValueError(f"phonon_or_path {str(phonon_or_path)!r} could not be read as a phonopy.yaml "
                             f"({type(error).__name__}: {' '.join(str(error).split())}).") from error
    elif isinstance(phonon_or_path, phonopy.Phonopy):
        phonon = phonon_or_path
    else:
        raise ValueError(f"phonon_or_path must be a phonopy.Phonopy or a phonopy.yaml path; got {type(phonon_or_path).__name__}.")
    fc = phonon.force_constants
    if fc is None:
        raise ValueError("phonon_or_path has no force constants: produce them first (phonon.forces = ...; "
                         "phonon.produce_force_constants()) or save the yaml with force constants.")
    fc = np.asarray(fc, dtype=float)
    primitive, size = phonon.primitive, len(phonon.supercell)
    p2s, s2p, p2p = primitive.p2s_map, primitive.s2p_map, primitive.p2p_map
    if fc.shape not in ((size, size, 3, 3), (len(p2s), size, 3, 3)):
        raise ValueError(f"force_constants of phonon_or_path must be (supercell atoms, supercell atoms, 3, 3) or compact "
                         f"(primitive atoms, supercell atoms, 3, 3) = ({len(p2s)}, {size}, 3, 3); got {fc.shape}.")
    rows = fc[p2s] if fc.shape[0] == size else fc
    svecs, multi = primitive.get_smallest_vectors()
    if not primitive.store_dense_svecs:  # pragma: no cover - phonopy ≥ 2.? stores the dense form by default
        svecs, multi = _require("phonopy.structure.cells").sparse_to_dense_svecs(svecs, multi)
    physical = _require("phonopy.physical_units").get_calculator_physical_units(phonon.calculator)
    to_angstrom = physical.distance_to_A
    to_ev_per_a2 = physical.energy_to_eV / to_angstrom**2
    entries = [(svecs[multi[k, s, 1] : multi[k, s, 1] + multi[k, s, 0]], s, int(p2p[s2p[k]]), rows[s, k] * to_ev_per_a2)
               for s in range(len(p2s)) for k in range(size)]
    return _import(np.asarray(primitive.cell, float) * to_angstrom, np.asarray(primitive.scaled_positions, float),
                   primitive.masses, primitive.symbols, entries, units=units, reference_mass_amu=reference_mass_amu,
                   acoustic_sum_rule=acoustic_sum_rule, name=name or f"phonopy-{_formula(primitive.symbols)}")


def from_ase(
    atoms: Any,
    force_constants: ArrayLike,
    *,
    supercell_atoms: Any,
    units: DimensionlessUnits | None = None,
    reference_mass_amu: float | None = None,
    acoustic_sum_rule: str = "enforce",
    name: str | None = None,
) -> Crystal:
    """The crystal of an ASE ``Atoms`` primitive cell and the ``(N, N, 3, 3)`` force constants (eV/Å²) of a
    supercell ``supercell_atoms`` of ``N`` atoms (hiphive's raw form,
    ``ForceConstants.from_supercell_force_constants``), or of ``atoms.repeat(supercell_atoms)`` when it is three
    integers. Each supercell atom's images are found here (the shortest ones, multiplicities shared; module notes).
    """
    _require("ase")
    if isinstance(supercell_atoms, (tuple, list)):
        supercell_atoms = atoms.repeat(tuple(int(n) for n in supercell_atoms))
    fc = np.asarray(force_constants, dtype=float)
    size = len(supercell_atoms)
    if fc.shape != (size, size, 3, 3):
        raise ValueError(f"force_constants must have shape (N, N, 3, 3) for the N = {size} supercell atoms; got {fc.shape}.")
    cell = np.asarray(atoms.cell, float)
    fractional = np.asarray(atoms.get_scaled_positions(wrap=False), float)
    positions = np.asarray(supercell_atoms.positions, float)
    inverse = np.linalg.inv(cell)
    # origin of primitive atom s: the first supercell atom that is a translate of it
    offset = (positions @ inverse)[:, None, :] - fractional[None]
    match = np.linalg.norm((offset - np.round(offset)) @ cell, axis=-1) < 1e-4
    if not np.all(match.any(axis=0)):
        raise ValueError("supercell_atoms must contain a translate of every atom of atoms (the primitive cell).")
    origins = np.argmax(match, axis=0)
    entries = _supercell_entries(cell, fractional, np.asarray(supercell_atoms.cell, float), positions, fc[origins], origins,
                                 "supercell_atoms")
    return _import(cell, fractional, atoms.get_masses(), atoms.get_chemical_symbols(), entries, units=units,
                   reference_mass_amu=reference_mass_amu, acoustic_sum_rule=acoustic_sum_rule,
                   name=name or f"ase-{_formula(atoms.get_chemical_symbols())}")


def from_ase_phonons(
    phonons: Any,
    *,
    units: DimensionlessUnits | None = None,
    reference_mass_amu: float | None = None,
    acoustic_sum_rule: str = "enforce",
    name: str | None = None,
) -> Crystal:
    """The crystal of an ``ase.phonons.Phonons`` calculation after ``phonons.read()``: its force constants
    ``get_force_constant()`` (``(cells, 3n, 3n)``, eV/Å², block ``(a, b)`` of cell ``R`` = ``Φ(0a; R b)``) on the
    supercell ``phonons.supercell`` (``N_c``), mapped like :func:`from_ase`."""
    _require("ase")
    if getattr(phonons, "C_N", None) is None:
        raise ValueError("phonons has no force constants: run phonons.run() and phonons.read() first.")
    atoms = phonons.atoms
    n = len(atoms)
    if list(phonons.indices) != list(range(n)):
        raise ValueError(f"phonons must displace every atom of the cell (phonons.indices = {list(phonons.indices)}).")
    fc = np.asarray(phonons.get_force_constant(), dtype=float)  # (cells, 3n, 3n)
    cells = np.asarray(phonons.compute_lattice_vectors()).T  # (cells, 3): R of each block relative to the reference cell
    # ASE alternates symmetrisation and the acoustic sum rule a few times, which leaves Φ(0b; −R a) = Φ(0a; R b)ᵀ broken
    # at ~1e-5 (ASE diagonalises the upper triangle): take the Hermitian part, as phonopy does, unless it is far off.
    period = np.asarray(phonons.supercell)
    keys = {tuple(c % period): i for i, c in enumerate(cells)}
    partner = fc[[keys[tuple(-c % period)] for c in cells]].swapaxes(1, 2)
    asymmetry = float(np.max(np.abs(fc - partner)) / np.max(np.abs(fc)))
    if asymmetry > _ASE_ASYMMETRY:
        raise ValueError(f"phonons: the force constants make D(q) non-Hermitian by {asymmetry:.3g} of the largest block "
                         f"(Φ(0b; −R a) ≠ Φ(0a; R b)ᵀ; above {_ASE_ASYMMETRY:g}, more than ASE's symmetrisation leaves).")
    fc = 0.5 * (fc + partner)
    rows = fc.reshape(len(cells), n, 3, n, 3).transpose(1, 0, 3, 2, 4).reshape(n, len(cells) * n, 3, 3)
    cell = np.asarray(atoms.cell, float)
    fractional = np.asarray(atoms.get_scaled_positions(wrap=False), float)
    positions = ((cells[:, None, :] + fractional[None]) @ cell).reshape(-1, 3)  # supercell atom c·n + b
    reference = int(np.flatnonzero(~cells.any(axis=1))[0])
    supercell = np.diag(np.asarray(phonons.supercell, float)) @ cell
    entries = _supercell_entries(cell, fractional, supercell, positions, rows, reference * n + np.arange(n), "phonons")
    return _import(cell, fractional, atoms.get_masses(), atoms.get_chemical_symbols(), entries, units=units,
                   reference_mass_amu=reference_mass_amu, acoustic_sum_rule=acoustic_sum_rule,
                   name=name or f"ase-{_formula(atoms.get_chemical_symbols())}")


# ---------------------------------------------------------------------- EMT test crystals


def _cubic_cell(symbols: str, positions, a: float):
    return _require("ase").Atoms(symbols, scaled_positions=positions, cell=np.eye(3) * a, pbc=True)


def _hcp(symbol: str, a: float):
    return _require("ase.build").bulk(symbol, "hcp", a=a, c=a * np.sqrt(8 / 3))


def _fcc(symbol: str, a: float, cubic: bool):
    return _require("ase.build").bulk(symbol, "fcc", a=a, cubic=cubic)


# name → (builder of the cell at lattice constant a, starting a (Å), default supercell)
EMT_STRUCTURES = {
    "Cu-fcc": (partial(_fcc, "Cu", cubic=False), 3.6, (4, 4, 4)),
    "Cu-fcc-cubic": (partial(_fcc, "Cu", cubic=True), 3.6, (3, 3, 3)),
    "Ni-hcp": (partial(_hcp, "Ni"), 2.5, (4, 4, 3)),
    "Cu3Au-L12": (partial(_cubic_cell, "AuCu3", [(0, 0, 0), (0, 0.5, 0.5), (0.5, 0, 0.5), (0.5, 0.5, 0)]), 3.75, (3, 3, 3)),
}


def _relaxed(structure: str):
    """The EMT cell of ``structure`` at the lattice constant of least energy (shape fixed: ideal c/a for hcp;
    every atom sits where symmetry cancels its force)."""
    from scipy.optimize import minimize_scalar

    emt = _require("ase.calculators.emt")
    build, start, _ = EMT_STRUCTURES[structure]

    def energy(a: float) -> float:
        atoms = build(a)
        atoms.calc = emt.EMT()
        return float(atoms.get_potential_energy())

    best = minimize_scalar(energy, bounds=(0.9 * start, 1.1 * start), method="bounded", options={"xatol": 1e-7})
    return build(float(best.x))


def emt_phonopy(structure: str, *, supercell: Sequence[int] | None = None, displacement: float = 0.01):
    """A ``phonopy.Phonopy`` object with force constants of an EMT crystal (ASE's effective-medium potential), made
    on the spot by phonopy's finite displacements (``displacement`` Å) on ``supercell`` (default per structure).

    ``structure`` is one of :data:`EMT_STRUCTURES`: ``"Cu-fcc"`` (primitive, 1 atom), ``"Cu-fcc-cubic"`` (the
    conventional 4-atom cell used as the primitive), ``"Ni-hcp"`` (2 atoms, off inversion centres) and
    ``"Cu3Au-L12"`` (Au at the corner, Cu at the face centres: 4 atoms, 2 species). The lattice constant minimises
    the EMT energy; the force constants are symmetrised (index permutation and acoustic sum rule).
    """
    if structure not in EMT_STRUCTURES:
        raise ValueError(f"unknown structure {structure!r}; valid options are {sorted(EMT_STRUCTURES)}.")
    if not (np.isfinite(displacement) and 0 < displacement < 0.5):
        raise ValueError(f"displacement must be in (0, 0.5) Å; got {displacement!r}.")
    phonopy, ase, emt = _require("phonopy"), _require("ase"), _require("ase.calculators.emt")
    supercell = tuple(EMT_STRUCTURES[structure][2] if supercell is None else supercell)
    if len(supercell) != 3 or any(int(n) != n or n < 1 for n in supercell):
        raise ValueError(f"supercell must be three positive integers; got {supercell!r}.")
    cell = _relaxed(structure)
    unitcell = _require("phonopy.structure.atoms").PhonopyAtoms(
        symbols=cell.get_chemical_symbols(), cell=np.asarray(cell.cell), scaled_positions=cell.get_scaled_positions())
    phonon = phonopy.Phonopy(unitcell, supercell_matrix=np.diag([int(n) for n in supercell]), primitive_matrix="P")
    phonon.generate_displacements(distance=displacement)
    forces = []
    for displaced in phonon.supercells_with_displacements:
        atoms = ase.Atoms(displaced.symbols, cell=displaced.cell, scaled_positions=displaced.scaled_positions, pbc=True)
        atoms.calc = emt.EMT()
        forces.append(atoms.get_forces())
    phonon.forces = np.asarray(forces)
    phonon.produce_force_constants()
    phonon.symmetrize_force_constants()
    return phonon


def emt_crystal(structure: str, *, supercell: Sequence[int] | None = None, displacement: float = 0.01, **kwargs) -> Crystal:
    """:func:`from_phonopy` of :func:`emt_phonopy` (``kwargs`` go to :func:`from_phonopy`), e.g.
    ``emt_crystal("Cu3Au-L12").lattice``."""
    return from_phonopy(emt_phonopy(structure, supercell=supercell, displacement=displacement), **kwargs)

