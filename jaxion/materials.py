"""Physical units, sound velocities from elastic constants, and drag screening of materials.

Paper 1 puts the recoil matrix in physical units (1.27)–(1.28):

    (2π/(mΩ³)) M = (1/ρ) (1/(4π)²) Σ_u ∫ dS η_u η_uᵀ / v_u³                        (1.28)

with ``ρ`` the mass density and ``v_u(n̂), η_u(n̂)`` the acoustic velocities and polarisations along
``n̂``. They follow from any elastic tensor by the Christoffel equation
``ρ v² η = Γ(n̂) η``, ``Γ_ik = C_ijkl n_j n_l``. The drag force on an ion of potential energy ``U(R)`` is
``F = −H M_phys H Ṙ`` (1.27) with ``H = ∇∇U`` and ``M_phys`` the left side of (1.28). Everything here
is differentiable (elastic constants, density, landscape amplitudes and widths) and vmappable over
materials.

Units of the physical API: elastic constants in GPa, density in kg/m³, lengths in Å, energies in eV,
speeds in m/s; ``M_phys`` is returned in SI (s³/kg).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt
from jaxtyping import Array, ArrayLike, Float

from ._validation import RealScalar, check_finite, check_positive, is_concrete

__all__ = [
    "HBAR",
    "EV",
    "ANGSTROM",
    "AMU",
    "DimensionlessUnits",
    "voigt_to_tensor",
    "christoffel",
    "recoil_matrix_from_elastic",
    "isotropic_voigt",
    "cubic_voigt",
    "lattice_elastic_constants",
    "lattice_density",
    "lattice_material",
    "Material",
    "EXAMPLE_MATERIALS",
    "GaussianLandscape",
    "drag_tensor",
    "energy_per_hop",
]

HBAR = 1.054571817e-34  # J s
EV = 1.602176634e-19  # J
ANGSTROM = 1e-10  # m
AMU = 1.66053906660e-27  # kg
GPA = 1e9  # Pa

_VOIGT = {(0, 0): 0, (1, 1): 1, (2, 2): 2, (1, 2): 3, (2, 1): 3, (0, 2): 4, (2, 0): 4, (0, 1): 5, (1, 0): 5}


class DimensionlessUnits(eqx.Module):
    """Paper 1's units for a framework mass ``m`` (kg) and frequency scale ``Ω`` (rad/s):
    time ``2π/Ω`` per τ, length ``l = sqrt(ħ/(mΩ))``, energy ``ħΩ``, mass ``m`` (Sec. II; ``shared/NOTES.md``).

    A free mode evolves as ``exp(2πiωτ)``, so a dimensionless frequency ``ω`` is the ordinary frequency
    ``ωΩ/(2π)``; force constants scale as ``mΩ²`` (``Φ = Φ_phys l²/(ħΩ) = Φ_phys/(mΩ²)``). Build one from
    crystal data with :meth:`from_amu_thz`; convert with :meth:`to_si`/:meth:`from_si` (SI) or
    :meth:`to_physical`/:meth:`from_physical` (Å, fs, eV, THz, m/s, amu, eV/Å²)."""

    mass: float
    frequency: float

    def __check_init__(self):
        check_positive("mass", self.mass)
        check_positive("frequency", self.frequency)

    @classmethod
    def from_amu_thz(cls, mass_amu: RealScalar, frequency_thz: RealScalar) -> DimensionlessUnits:
        """The units of a reference mass ``mass_amu`` (amu) and an ordinary frequency ``frequency_thz``
        (THz) that becomes ``ω = 1``: ``m = mass_amu·u``, ``Ω = 2π·frequency_thz·10¹²`` rad/s."""
        check_positive("mass_amu", mass_amu)
        check_positive("frequency_thz", frequency_thz)
        return cls(mass=float(mass_amu) * AMU, frequency=2 * np.pi * float(frequency_thz) * 1e12)

    @property
    def length(self):
        return jnp.sqrt(HBAR / (self.mass * self.frequency))

    @property
    def time(self):
        return 2 * jnp.pi / self.frequency

    @property
    def energy(self):
        return HBAR * self.frequency

    @property
    def speed(self):
        """One dimensionless speed unit (l per τ) in m/s."""
        return self.length / self.time

    def _si_scales(self) -> dict:
        """One dimensionless unit of each kind in SI: ordinary frequency ``Ω/(2π)`` in Hz, force constant
        ``mΩ²`` in N/m (J/m²)."""
        return {"length": self.length, "time": self.time, "energy": self.energy, "speed": self.speed, "mass": self.mass,
                "frequency": self.frequency / (2 * jnp.pi), "force_constant": self.mass * self.frequency**2}

    def to_si(self, value: ArrayLike, kind: str):
        """Convert a dimensionless ``value`` of ``kind`` (length m, time s, energy J, speed m/s, mass kg,
        frequency Hz (ordinary), force_constant N/m) to SI."""
        scale = self._si_scales()
        if kind not in scale:
            raise ValueError(f"unknown kind {kind!r}; valid options are {sorted(scale)}.")
        return value * scale[kind]

    def from_si(self, value: ArrayLike, kind: str):
        """Convert an SI ``value`` of ``kind`` to dimensionless units."""
        return value / self.to_si(1.0, kind)

    def to_physical(self, value: ArrayLike, kind: str):
        """Convert a dimensionless ``value`` of ``kind`` to the crystal units of phonopy and ASE: length Å,
        time fs, energy eV, frequency THz (ordinary, as phonopy prints), speed m/s, mass amu,
        force_constant eV/Å²."""
        return self.to_si(value, kind) / _PHYSICAL_IN_SI[kind]

    def from_physical(self, value: ArrayLike, kind: str):
        """Convert a ``value`` of ``kind`` in the units of :meth:`to_physical` to dimensionless units."""
        return value / self.to_physical(1.0, kind)


# one unit of each kind of `DimensionlessUnits.to_physical`, in SI
_PHYSICAL_IN_SI = {"length": ANGSTROM, "time": 1e-15, "energy": EV, "frequency": 1e12, "speed": 1.0, "mass": AMU,
                   "force_constant": EV / ANGSTROM**2}


# `voigt` is annotated without its shape (6×6) so that a wrong shape reaches the ValueError below
def voigt_to_tensor(voigt: ArrayLike) -> Float[Array, "3 3 3 3"]:
    """The full ``C_ijkl`` from a 6×6 Voigt matrix (order xx, yy, zz, yz, xz, xy)."""
    voigt = jnp.asarray(voigt, float)
    if voigt.shape != (6, 6):
        raise ValueError(f"the Voigt elastic matrix must be 6×6; got {voigt.shape}.")
    index = np.empty((3, 3), dtype=int)
    for (i, j), v in _VOIGT.items():
        index[i, j] = v
    return voigt[index[:, :, None, None], index[None, None, :, :]]


def _check_elastic(voigt, density) -> None:
    check_positive("density", density)
    if not is_concrete(voigt):
        return
    voigt = np.asarray(voigt, float)
    if voigt.shape != (6, 6):
        raise ValueError(f"the Voigt elastic matrix must be 6×6; got {voigt.shape}.")
    check_finite("elastic_constants (Voigt matrix)", voigt)
    if not np.allclose(voigt, voigt.T, rtol=1e-10, atol=1e-12 * np.max(np.abs(voigt))):
        raise ValueError("the Voigt elastic matrix must be symmetric.")
    lowest = float(np.min(np.linalg.eigvalsh(voigt)))
    if lowest <= 0:
        raise ValueError(
            f"the elastic tensor is not positive definite (lowest Voigt eigenvalue {lowest:.4g}): the crystal "
            "would be mechanically unstable (Born criteria)."
        )


# `directions` (..., 3) is annotated without its shape so that a wrong shape reaches the ValueError below
def christoffel(voigt, density, directions: npt.ArrayLike):
    """Acoustic velocities and polarisations along ``directions`` from the Christoffel equation
    ``ρ v² η = Γ(n̂) η``, ``Γ_ik = C_ijkl n_j n_l``.

    Returns ``(velocities (..., 3) ascending, polarisations (..., 3, 3) as columns)`` in the units of
    ``sqrt(C/ρ)`` (m/s for GPa·1e9 and kg/m³ in SI)."""
    _check_elastic(voigt, density)
    tensor = voigt_to_tensor(voigt)
    n = jnp.asarray(directions, float)
    if n.shape[-1:] != (3,):
        raise ValueError(f"directions must have shape (..., 3); got {n.shape}.")
    if is_concrete(n):
        check_positive("|directions|", jnp.linalg.norm(n, axis=-1))
    n = n / jnp.linalg.norm(n, axis=-1, keepdims=True)
    gamma = jnp.einsum("ijkl,...j,...l->...ik", tensor, n, n) / density
    eig, vec = jnp.linalg.eigh(gamma)
    return jnp.sqrt(eig), vec


def _sphere(theta_points: int = 48, phi_points: int = 96):
    x, w = np.polynomial.legendre.leggauss(theta_points)
    phi = 2 * np.pi * (np.arange(phi_points) + 0.5) / phi_points
    ct, ph = np.meshgrid(x, phi, indexing="ij")
    st = np.sqrt(1 - ct**2)
    dirs = np.stack([st * np.cos(ph), st * np.sin(ph), ct], axis=-1).reshape(-1, 3)
    weights = (w[:, None] * np.full(phi_points, 2 * np.pi / phi_points)[None, :]).reshape(-1)
    return jnp.asarray(dirs), jnp.asarray(weights)


def recoil_matrix_from_elastic(voigt, density, *, theta_points: int = 48, phi_points: int = 96) -> Float[Array, "3 3"]:
    """(1.28): ``(1/ρ)(1/(4π)²) Σ_u ∫ dS η_u η_uᵀ / v_u³`` from an elastic tensor (Voigt) and a density,
    by Gauss–Legendre × uniform quadrature over the sphere. In SI (GPa·1e9, kg/m³) the result is in
    s³/kg; for dimensionless elastic constants it is ``2π M`` of (1.23)."""
    dirs, weights = _sphere(theta_points, phi_points)
    velocity, eta = christoffel(voigt, density, dirs)
    integrand = jnp.einsum("niu,nu,nju->nij", eta, velocity**-3.0, eta)
    return jnp.einsum("n,nij->ij", weights, integrand) / (density * (4 * jnp.pi) ** 2)


def isotropic_voigt(longitudinal_speed, transverse_speed, density):
    """Voigt matrix of an isotropic solid with the given sound speeds (``C11 = ρv_L²``, ``C44 = ρv_T²``)."""
    c11 = density * longitudinal_speed**2
    c44 = density * transverse_speed**2
    return cubic_voigt(c11, c11 - 2 * c44, c44)


def cubic_voigt(c11, c12, c44):
    """Voigt matrix of a cubic crystal from ``C11, C12, C44``."""
    c11, c12, c44 = (jnp.asarray(x, float) for x in (c11, c12, c44))
    top = jnp.array([[1, 0, 0], [0, 1, 0], [0, 0, 1]]) * (c11 - c12) + c12
    return jnp.block([[top, jnp.zeros((3, 3))], [jnp.zeros((3, 3)), c44 * jnp.eye(3)]])


def _check_lattice(lattice) -> None:
    from .lattice import Lattice

    if not isinstance(lattice, Lattice):
        raise ValueError(f"lattice must be a jaxion Lattice; got {type(lattice).__name__}.")


def lattice_elastic_constants(lattice) -> Float[Array, "6 6"]:
    """Voigt elastic constants (order xx, yy, zz, yz, xz, xy) of any jaxion crystal — one atom per cell or a basis
    with any masses — from its force constants by Born & Huang's method of long waves
    (:func:`jaxion.lattice._long_waves.elastic_tensor`): ``C_ijkl = ([ik,jl] + [jk,il] − [ij,kl] + (ij,kl))``
    with the square brackets ``[ik,jl] = −(1/2V) Σ Φ_ik d_j d_l`` and the internal-strain round brackets
    ``(ij,kl) = −(1/V) Λᵀ(Φ(q=0))⁺Λ``. With the density ``ρ = M_cell/V_cell`` (:func:`lattice_density`) the
    Christoffel equation ``ρ v² η = Γ(n̂) η``, ``Γ_ik = C_ijkl n_j n_l`` of (1.28) reproduces the lattice's acoustic
    long-wavelength tensor, ``Γ/ρ = S(n̂)`` (:meth:`jaxion.Lattice.long_wavelength_tensor`), for a crystal in
    equilibrium (a ``RuntimeWarning`` otherwise). For one atom per cell and central springs ``k v̂v̂ᵀ`` this is the
    Cauchy-symmetric ``C_ijkl = (1/V) Σ_v k |r_v|² v̂_i v̂_j v̂_k v̂_l``. Mass-independent; dimensionless units
    (energy ħΩ per l³), i.e. the units of the force constants per length (eV/Å³ for eV/Å² and Å)."""
    from .lattice._long_waves import elastic_tensor

    _check_lattice(lattice)
    tensor = elastic_tensor(lattice)
    pairs = [(0, 0), (1, 1), (2, 2), (1, 2), (0, 2), (0, 1)]
    return jnp.array([[tensor[i, j, k, m] for (k, m) in pairs] for (i, j) in pairs])


def lattice_density(lattice) -> Float[Array, ""]:
    """Mass density ``ρ = M_cell/V_cell`` of a 3D jaxion crystal (reference masses per l³; ``M_cell = Σ_s m_s``):
    with :func:`lattice_elastic_constants` the density of the Christoffel equation ``ρ v² η = Γ(n̂) η`` and of
    (1.28), so that ``Γ(n̂)/ρ`` is the lattice's acoustic tensor ``S(n̂)`` (paper 1, before (1.22))."""
    _check_lattice(lattice)
    if lattice.dim != 3:
        raise ValueError(f"the density needs a 3D lattice; got dim = {lattice.dim}.")
    return lattice.cell_mass / lattice.cell_volume


# `units` is any object: a wrong one raises the ValueError below (naming it), not a type-check error
def lattice_material(lattice, units: object) -> Material:
    """The :class:`Material` (elastic constants in GPa, density in kg/m³) of a jaxion crystal in the
    dimensionless ``units`` of its force constants, masses and lengths (e.g. a :class:`jaxion.Crystal`'s
    ``lattice`` and ``units``): :func:`lattice_elastic_constants` (Born & Huang (27.9)) times ``ħΩ/l³`` and
    :func:`lattice_density` times ``m/l³``. Its :meth:`Material.recoil_matrix` is ``(2π/(mΩ³)) M`` of
    (1.27)–(1.28), ``M`` the lattice's recoil matrix (1.23)."""
    if not isinstance(units, DimensionlessUnits):
        raise ValueError(f"units must be a jaxion DimensionlessUnits; got {type(units).__name__}.")
    volume = units.length**3
    return Material(lattice_elastic_constants(lattice) * (units.energy / volume / GPA), lattice_density(lattice) * (units.mass / volume))


class Material(eqx.Module):
    """A framework material: Voigt elastic constants (GPa) and density (kg/m³). Stack several with
    ``jax.tree_util.tree_map(lambda *x: jnp.stack(x), *materials)`` and vmap to screen them."""

    elastic_constants: Float[Array, "6 6"]
    density: RealScalar

    def __check_init__(self):
        _check_elastic(self.elastic_constants, self.density)

    def recoil_matrix(self) -> Float[Array, "3 3"]:
        """``M_phys`` of (1.28) in SI (s³/kg)."""
        return recoil_matrix_from_elastic(self.elastic_constants * GPA, self.density)


EXAMPLE_MATERIALS = {
    # Silicon at room temperature: C11 = 165.7, C12 = 63.9, C44 = 79.6 GPa, ρ = 2329 kg/m³
    # (H. J. McSkimin, J. Appl. Phys. 24, 988 (1953); tabulated in M. A. Hopcroft, W. D. Nix,
    # T. W. Kenny, J. Microelectromech. Syst. 19, 229 (2010)).
    "Si": Material(cubic_voigt(165.7, 63.9, 79.6), jnp.asarray(2329.0)),
    # Copper at room temperature: C11 = 168.4, C12 = 121.4, C44 = 75.4 GPa, ρ = 8960 kg/m³
    # (G. Simmons and H. Wang, Single Crystal Elastic Constants, MIT Press (1971)).
    "Cu": Material(cubic_voigt(168.4, 121.4, 75.4), jnp.asarray(8960.0)),
    # Synthetic, clearly not a real material: isotropic, v_L = 6000 m/s, v_T = 3500 m/s, ρ = 3000 kg/m³.
    "synthetic-stiff": Material(isotropic_voigt(6.0, 3.5, 3000.0) * 1e-3, jnp.asarray(3000.0)),
    # Synthetic: isotropic, v_L = 3000 m/s, v_T = 1700 m/s, ρ = 2000 kg/m³.
    "synthetic-soft": Material(isotropic_voigt(3.0, 1.7, 2000.0) * 1e-3, jnp.asarray(2000.0)),
}


class GaussianLandscape(eqx.Module):
    """An ion landscape ``U(R) = Σ_a Σ_g A_g exp(−|R − R_a|²/(2 w_g²))`` in physical units
    (positions and widths in Å, amplitudes in eV)."""

    sites: Float[Array | np.ndarray, "sites 3"]
    # one entry per Gaussian term each; that the two agree is __check_init__'s ValueError (naming both)
    amplitudes: Float[Array | np.ndarray, " terms"]
    widths: Float[Array | np.ndarray, " width_terms"]

    def __check_init__(self):
        check_positive("widths", self.widths)
        check_finite("amplitudes", self.amplitudes)
        check_finite("sites", self.sites)
        if self.sites.ndim < 1 or self.sites.shape[-1] != 3:
            raise ValueError(f"sites must have shape (sites, 3) (positions in Å); got {self.sites.shape}.")
        if self.amplitudes.shape[-1:] != self.widths.shape[-1:]:
            raise ValueError(
                f"amplitudes and widths must have one entry per Gaussian term; got shapes {self.amplitudes.shape} "
                f"and {self.widths.shape}."
            )

    def __call__(self, position: Float[Array, 3]) -> Float[Array, ""]:
        r2 = jnp.sum((self.sites - position) ** 2, axis=-1)
        return jnp.sum(self.amplitudes[None, :] * jnp.exp(-r2[:, None] / (2 * self.widths[None, :] ** 2)))


def drag_tensor(material_recoil: Float[Array, "3 3"], landscape: GaussianLandscape, position) -> Float[Array, "3 3"]:
    """The drag tensor ``H M_phys H`` (1.27) at ``position`` (Å), in SI (kg/s): drag force ``−(HMH)·Ṙ``."""
    hessian = jax.hessian(landscape)(jnp.asarray(position, float)) * EV / ANGSTROM**2  # J/m²
    return hessian @ material_recoil @ hessian


def energy_per_hop(
    material: Material,
    landscape: GaussianLandscape,
    start,
    end,
    speed,
    *,
    points: int = 400,
) -> Float[Array, ""]:
    """Energy (eV) dissipated by an ion crossing from ``start`` to ``end`` (Å) at constant ``speed``
    (m/s): ``W = v ∫ dz d̂·H M_phys H·d̂`` (1.23) in physical units. vmap over materials to screen."""
    check_positive("speed", speed)
    start, end = jnp.asarray(start, float), jnp.asarray(end, float)
    check_finite("start", start)
    check_finite("end", end)
    if start.shape != (3,) or end.shape != (3,):
        raise ValueError(f"start and end must be 3-vectors (Å); got shapes {start.shape}, {end.shape}.")
    length = jnp.linalg.norm(end - start)
    check_positive("|end - start| (hop length)", length)
    unit = (end - start) / length
    x, w = np.polynomial.legendre.leggauss(points)
    s = 0.5 * (x + 1.0)
    positions = start[None, :] + (s[:, None] * length) * unit[None, :]
    recoil = material.recoil_matrix()
    values = jax.vmap(lambda p: unit @ drag_tensor(recoil, landscape, p) @ unit)(positions)
    integral = jnp.sum(jnp.asarray(0.5 * w) * values) * length * ANGSTROM  # kg/s · m
    return speed * integral / EV
