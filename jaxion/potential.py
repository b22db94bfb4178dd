"""Pair potentials between the ion and a framework mass.

The interaction is a sum of pair terms ``Φ(ρ, σ) = Σ_a φ(R_a + ρ_a − σ)`` (paper 1, Sec. III). A pair
potential is an :class:`equinox.Module` that maps the *squared* separation ``|r|²`` to an energy (in units
of ``ħΩ``); working with ``|r|²`` keeps gradients finite when the ion passes straight through a mass
(``s = 0``). Forces are always ``jax.grad`` of these energies.

- :class:`Gaussian`: ``φ(r) = Φ0 exp(−|r|²/(2λ²))`` (``Φ0 > 0`` repulsive, ``Φ0 < 0`` attractive).
- :class:`BornMayer`: ``φ(r) = A exp(−r/ρ)``, the short-range repulsion of ionic crystals.
- :class:`ScreenedCoulomb`: ``φ(r) = Q exp(−s/λ)/s`` with ``s = sqrt(r² + a²)`` (Yukawa / Debye–Hückel; an
  optional core radius ``a`` softens the ``1/r`` at contact).
- :class:`SumOfPairPotentials` (or ``a + b``): several terms, e.g. sums of Gaussians.
- :class:`CustomPairPotential`: any differentiable ``φ(r)`` given as a function of distance.

The classes follow equinox's abstract/final pattern: :class:`AbstractPairPotential` declares what every
potential provides; :class:`Gaussian`, :class:`SumOfPairPotentials` and :class:`CustomPairPotential` are
final (do not subclass them). :class:`BornMayer` and :class:`ScreenedCoulomb` have closed-form path transforms
(modified Bessel functions ``K_0``, ``K_1``) and a constructor ``from_ev_angstrom`` from physical units.

Writing your own potential (e.g. to fit its parameters: they must be fields, i.e. pytree leaves, which
the function inside a :class:`CustomPairPotential` is not): subclass :class:`AbstractPairPotential` and
implement its three abstract members,

- ``__call__(squared_distance)``: ``φ`` as a function of ``|r|²`` (written with ``jax.numpy``);
- ``range`` (a property): a length beyond which ``φ`` is negligible;
- ``path_transform(wavenumber, impact_parameter)``: ``Φ̃_p(b)``; without a closed form, return
  :func:`numerical_path_transform` ``(self, wavenumber, impact_parameter)``.

Example::

    class Lorentzian(jx.AbstractPairPotential):
        amplitude: Float[Array, ""]
        width: Float[Array, ""]

        def __call__(self, squared_distance):
            return self.amplitude / (1 + squared_distance / self.width**2)

        @property
        def range(self):
            return 10 * self.width

        def path_transform(self, wavenumber, impact_parameter):
            return jx.numerical_path_transform(self, wavenumber, impact_parameter)
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ._validation import RealScalar, check_finite, check_positive, is_concrete

if TYPE_CHECKING:
    from .materials import DimensionlessUnits

__all__ = [
    "AbstractPairPotential",
    "Gaussian",
    "BornMayer",
    "ScreenedCoulomb",
    "COULOMB_EV_ANGSTROM",
    "SumOfPairPotentials",
    "CustomPairPotential",
    "numerical_path_transform",
]


class AbstractPairPotential(eqx.Module):
    """Abstract pair potential ``φ`` as a function of the squared separation.

    Subclasses are final and implement the three abstract members ``__call__``, ``range`` and
    ``path_transform`` (see the module docstring for an example); :meth:`energy` and ``+`` are the same
    for every potential.
    """

    @abc.abstractmethod
    def __call__(self, squared_distance: Float[Array, ...]) -> Float[Array, ...]:
        """``φ`` at squared separations ``|r|²`` (energies in units of ``ħΩ``)."""

    @property
    @abc.abstractmethod
    def range(self) -> RealScalar:
        """A length beyond which ``φ`` is negligible; paths start and stop ``7 × range`` away (paper 1)."""

    @abc.abstractmethod
    def path_transform(self, wavenumber, impact_parameter) -> Float[Array, ...]:
        """Fourier transform along a straight path, ``Φ̃_p(b) = ∫ dz e^{ipz} φ(sqrt(b² + z²))``.

        Real, since the integrand is even in ``z``. Potentials without a closed form return
        :func:`numerical_path_transform` ``(self, wavenumber, impact_parameter)``.
        """

    def energy(self, separation: Float[Array, "... 3"]) -> Float[Array, ...]:
        """``φ(r)`` for Cartesian separations ``r`` of shape ``(..., 3)``."""
        return self(jnp.sum(separation**2, axis=-1))

    def __add__(self, other: AbstractPairPotential) -> SumOfPairPotentials:
        if not isinstance(other, AbstractPairPotential):
            return NotImplemented
        mine = self.terms if isinstance(self, SumOfPairPotentials) else (self,)
        theirs = other.terms if isinstance(other, SumOfPairPotentials) else (other,)
        return SumOfPairPotentials(mine + theirs)


def numerical_path_transform(
    potential: AbstractPairPotential, wavenumber, impact_parameter
) -> Float[Array, ...]:
    """``Φ̃_p(b) = ∫ dz e^{ipz} φ(sqrt(b² + z²))`` of any ``potential`` by quadrature.

    A 4001-point trapezoid rule over ``|z| ≤ 12 × potential.range`` (the integrand is even, so the
    transform is real and only ``cos(pz)`` is integrated). ``wavenumber`` and ``impact_parameter``
    broadcast against each other. Used by :class:`CustomPairPotential`, and by user-written potentials
    without a closed form.
    """
    z = jnp.linspace(-12.0 * potential.range, 12.0 * potential.range, 4001)
    p = jnp.asarray(wavenumber, float)[..., None]
    b2 = jnp.asarray(impact_parameter, float)[..., None] ** 2
    integrand = jnp.cos(p * z) * potential(b2 + z**2)
    return jnp.trapezoid(integrand, z, axis=-1)


class Gaussian(AbstractPairPotential):
    """``φ(r) = Φ0 exp(−|r|²/(2λ²))`` with ``amplitude = Φ0`` and ``width = λ > 0``."""

    amplitude: Float[Array, ""]
    width: Float[Array, ""]

    def __init__(self, amplitude: RealScalar = 0.01, width: RealScalar = 1.0):
        self.amplitude = jnp.asarray(amplitude, dtype=float)
        self.width = jnp.asarray(width, dtype=float)

    def __check_init__(self):
        check_finite("amplitude", self.amplitude)
        check_positive("width", self.width)
        if is_concrete(self.width):
            squared = np.asarray(self.width, dtype=float) ** 2
            if np.any((squared == 0) | ~np.isfinite(squared)):
                raise ValueError(
                    f"width = {self.width!r} is outside float64's range for a Gaussian: width² must be a positive "
                    "finite number (|width| between ~1e-154 and ~1e154)."
                )

    def __call__(self, squared_distance):
        return self.amplitude * jnp.exp(-squared_distance / (2.0 * self.width**2))

    @property
    def range(self):
        return self.width

    def path_transform(self, wavenumber, impact_parameter):
        """Closed form ``Φ0 sqrt(2π) λ exp(−b²/(2λ²)) exp(−p²λ²/2)`` (paper 1 after (1.13))."""
        p = jnp.asarray(wavenumber, float)
        b = jnp.asarray(impact_parameter, float)
        lam = self.width
        return self.amplitude * jnp.sqrt(2 * jnp.pi) * lam * jnp.exp(-(b**2) / (2 * lam**2) - (p * lam) ** 2 / 2)


# ----------------------------------------------------------------------------- exponential potentials

COULOMB_EV_ANGSTROM = 14.399645478425668  # e²/(4πε0) in eV·Å (CODATA 2018)

# Trapezoid nodes in t for K_ν(x) = ∫_0^∞ e^{−x cosh t} cosh(νt) dt: the integrand is analytic and even in t, so
# the trapezoid rule converges exponentially (error ~ exp(−2π²/(x h²)), below 1e-15 relative for x ≲ 200);
# t ≤ 16 suffices for x ≥ 1e-4, below which the small-x series is used.
_BESSEL_STEP = 0.04
_BESSEL_NODES = np.arange(0.0, 16.0 + _BESSEL_STEP / 2, _BESSEL_STEP)
_BESSEL_WEIGHTS = np.full(_BESSEL_NODES.shape, _BESSEL_STEP)
_BESSEL_WEIGHTS[0] = _BESSEL_STEP / 2
_BESSEL_SMALL = 1e-4
_EULER_GAMMA = 0.5772156649015329


def _bessel_k0_xk1(x: Float[Array, ...]) -> tuple[Float[Array, ...], Float[Array, ...]]:
    """``K_0(x)`` and ``x K_1(x)`` (modified Bessel functions of the second kind) for ``x >= 0``, differentiable.

    ``x >= 1e-4``: ``K_ν(x) = e^{−x} ∫_0^∞ e^{−2x sinh²(t/2)} cosh(νt) dt`` by the trapezoid rule (~1e-15
    relative). Below: the series ``K_0 = −L(1 + x²/4) + x²/4``, ``x K_1 = 1 + (x²/2)(L − ½)``, ``L = ln(x/2) + γ``
    (error ``O(x⁴ ln x)``). ``K_0(0) = ∞``, ``0·K_1(0) = 1``."""
    x = jnp.asarray(x, float)
    small = x < _BESSEL_SMALL
    xq = jnp.where(small, 1.0, x)[..., None]
    t = jnp.asarray(_BESSEL_NODES)
    w = jnp.asarray(_BESSEL_WEIGHTS)
    kernel = w * jnp.exp(-xq * (1.0 + 2.0 * jnp.sinh(t / 2) ** 2))
    k0_quad = jnp.sum(kernel, axis=-1)
    xk1_quad = xq[..., 0] * jnp.sum(kernel * jnp.cosh(t), axis=-1)
    positive = x > 0
    xs = jnp.where(small & positive, x, 0.5 * _BESSEL_SMALL)  # the series at x = 0 is its limit (no 0·∞ in a derivative)
    log_term = jnp.log(xs / 2) + _EULER_GAMMA
    k0_series = jnp.where(positive, -log_term * (1 + xs**2 / 4) + xs**2 / 4, jnp.inf)
    xk1_series = jnp.where(positive, 1.0 + 0.5 * xs**2 * (log_term - 0.5), 1.0)
    return jnp.where(small, k0_series, k0_quad), jnp.where(small, xk1_series, xk1_quad)


def _safe_sqrt(squared: Float[Array, ...]) -> Float[Array, ...]:
    """``sqrt`` with a zero (not infinite) derivative at 0: the force of a radial ``φ`` on a pair at zero separation
    is taken as zero (by symmetry; the cusp of ``φ(r)`` at ``r = 0`` has no gradient)."""
    positive = squared > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, squared, 1.0)), 0.0)


def _units_scales(units: DimensionlessUnits) -> tuple[float, float]:
    """(1 eV, 1 Å) in the dimensionless units of ``units`` (energy ``ħΩ``, length ``l``)."""
    from .materials import ANGSTROM, EV, DimensionlessUnits

    if not isinstance(units, DimensionlessUnits):
        raise ValueError(f"units must be a jaxion.materials.DimensionlessUnits; got {type(units).__name__}.")
    return EV / float(units.energy), ANGSTROM / float(units.length)


class BornMayer(AbstractPairPotential):
    """Born–Mayer repulsion ``φ(r) = A exp(−r/ρ)`` with ``amplitude = A`` (energy, units of ``ħΩ``; either sign) and
    ``decay_length = ρ > 0`` (units of ``l``).

    ``φ`` is finite at ``r = 0`` but has a cusp there (its force ``A/ρ`` points along ``r̂``); the force at exactly
    zero separation is taken as zero. ``range = 3.5ρ``: ``7 × range`` away (where paths start) ``φ/A = e^{−24.5}``,
    as for a :class:`Gaussian` at ``7λ``. Build from eV and Å with :meth:`from_ev_angstrom`.
    """

    amplitude: Float[Array, ""]
    decay_length: Float[Array, ""]

    def __init__(self, amplitude: RealScalar, decay_length: RealScalar):
        self.amplitude = jnp.asarray(amplitude, dtype=float)
        self.decay_length = jnp.asarray(decay_length, dtype=float)

    def __check_init__(self):
        check_finite("amplitude", self.amplitude)
        check_positive("decay_length", self.decay_length)

    @classmethod
    def from_ev_angstrom(cls, amplitude: RealScalar, decay_length: RealScalar, units: DimensionlessUnits) -> BornMayer:
        """``A`` in eV and ``ρ`` in Å, converted with ``units`` (energy ``ħΩ``, length ``l = sqrt(ħ/(mΩ))``)."""
        check_finite("amplitude", amplitude)
        check_positive("decay_length", decay_length)
        ev, angstrom = _units_scales(units)
        return cls(jnp.asarray(amplitude, float) * ev, jnp.asarray(decay_length, float) * angstrom)

    def __call__(self, squared_distance):
        return self.amplitude * jnp.exp(-_safe_sqrt(squared_distance) / self.decay_length)

    @property
    def range(self):
        return 3.5 * self.decay_length

    def path_transform(self, wavenumber, impact_parameter):
        """Closed form ``Φ̃_p(b) = 2A (b/ρ) K_1(b κ)/κ``, ``κ = sqrt(1/ρ² + p²)`` (Gradshteyn–Ryzhik 3.961.2,
        ``∫_0^∞ e^{−β sqrt(b² + z²)} cos(pz) dz = βb K_1(b sqrt(β² + p²))/sqrt(β² + p²)``); ``2A(1/ρ)/κ²`` at ``b = 0``."""
        p = jnp.asarray(wavenumber, float)
        b = jnp.asarray(impact_parameter, float)
        beta = 1.0 / self.decay_length
        kappa2 = beta**2 + p**2
        _, xk1 = _bessel_k0_xk1(b * jnp.sqrt(kappa2))
        return 2.0 * self.amplitude * beta * xk1 / kappa2


class ScreenedCoulomb(AbstractPairPotential):
    """Screened (Yukawa, Debye–Hückel) Coulomb interaction ``φ(r) = Q exp(−s/λ)/s``, ``s = sqrt(r² + a²)``, with
    ``prefactor = Q`` (energy × length, units of ``ħΩ·l``; ``Q = Z₁Z₂e²/(4πε₀)``, positive for like charges),
    ``screening_length = λ > 0`` and ``core_radius = a >= 0`` (units of ``l``).

    Behaviour at ``r → 0``: with ``a = 0`` (the default, the plain screened Coulomb) ``φ`` and the path transform
    diverge when the ion meets a site (``Φ̃ ~ −2Q ln b`` as the impact parameter ``b → 0``): a path through a site is
    then infinite, as the physics says; an ion passes through a site only in pathological set-ups. ``a > 0`` softens
    the core to ``φ(0) = Q e^{−a/λ}/a`` and keeps the closed-form transform (with ``b² → b² + a²``).
    ``range = 3.5λ + a``. Build from eV, Å and charges with :meth:`from_ev_angstrom`.
    """

    prefactor: Float[Array, ""]
    screening_length: Float[Array, ""]
    core_radius: Float[Array, ""]

    def __init__(self, prefactor: RealScalar, screening_length: RealScalar, core_radius: RealScalar = 0.0):
        self.prefactor = jnp.asarray(prefactor, dtype=float)
        self.screening_length = jnp.asarray(screening_length, dtype=float)
        self.core_radius = jnp.asarray(core_radius, dtype=float)

    def __check_init__(self):
        check_finite("prefactor", self.prefactor)
        check_positive("screening_length", self.screening_length)
        check_positive("core_radius", self.core_radius, allow_zero=True)

    @classmethod
    def from_ev_angstrom(
        cls,
        screening_length: RealScalar,
        units: DimensionlessUnits,
        *,
        charge_product: RealScalar | None = None,
        prefactor: RealScalar | None = None,
        core_radius: RealScalar = 0.0,
    ) -> ScreenedCoulomb:
        """From physical units: ``screening_length`` and ``core_radius`` in Å, and either ``charge_product = Z₁Z₂``
        (charges in units of ``e``: ``Q = Z₁Z₂ × 14.3996 eV·Å``) or ``prefactor = Q`` in eV·Å (exactly one)."""
        if (charge_product is None) == (prefactor is None):
            raise ValueError("give exactly one of charge_product (Z1·Z2, units of e²) and prefactor (eV·Å).")
        if charge_product is not None:
            check_finite("charge_product", charge_product)
            q = jnp.asarray(charge_product, float) * COULOMB_EV_ANGSTROM
        else:
            check_finite("prefactor", prefactor)
            q = jnp.asarray(prefactor, float)
        check_positive("screening_length", screening_length)
        check_positive("core_radius", core_radius, allow_zero=True)
        ev, angstrom = _units_scales(units)
        return cls(q * ev * angstrom, jnp.asarray(screening_length, float) * angstrom, jnp.asarray(core_radius, float) * angstrom)

    def __call__(self, squared_distance):
        s = jnp.sqrt(squared_distance + self.core_radius**2)
        return self.prefactor * jnp.exp(-s / self.screening_length) / s

    @property
    def range(self):
        return 3.5 * self.screening_length + self.core_radius

    def path_transform(self, wavenumber, impact_parameter):
        """Closed form ``Φ̃_p(b) = 2Q K_0(sqrt(b² + a²) κ)``, ``κ = sqrt(1/λ² + p²)`` (Gradshteyn–Ryzhik 3.961.2,
        ``∫_0^∞ e^{−β sqrt(c² + z²)} cos(pz) dz / sqrt(c² + z²) = K_0(c sqrt(β² + p²))``); infinite at
        ``b = a = 0``."""
        p = jnp.asarray(wavenumber, float)
        b = jnp.asarray(impact_parameter, float)
        kappa = jnp.sqrt(1.0 / self.screening_length**2 + p**2)
        k0, _ = _bessel_k0_xk1(jnp.sqrt(b**2 + self.core_radius**2) * kappa)
        return 2.0 * self.prefactor * k0


class SumOfPairPotentials(AbstractPairPotential):
    """A sum of pair potentials, ``φ = Σ_i φ_i`` (e.g. several Gaussians)."""

    terms: tuple[AbstractPairPotential, ...]

    def __init__(self, terms):
        self.terms = tuple(terms)

    def __check_init__(self):
        if not self.terms:
            raise ValueError("SumOfPairPotentials needs at least one term.")
        for term in self.terms:
            if not isinstance(term, AbstractPairPotential):
                raise ValueError(f"every term must be an AbstractPairPotential; got {type(term).__name__}.")

    def __call__(self, squared_distance):
        return sum(term(squared_distance) for term in self.terms)

    @property
    def range(self):
        return jnp.max(jnp.stack([jnp.asarray(term.range, float) for term in self.terms]))

    def path_transform(self, wavenumber, impact_parameter):
        """``Σ_i Φ̃_{i,p}(b)``: each term's own transform (closed form where it has one)."""
        return sum(term.path_transform(wavenumber, impact_parameter) for term in self.terms)


class CustomPairPotential(AbstractPairPotential):
    """Any differentiable ``φ(r)`` of the distance ``r``, with a stated interaction range.

    Example: ``CustomPairPotential(lambda r: 0.01 / (1 + r**4), interaction_range=3.0)``.
    The function must be written with ``jax.numpy``. At ``r = 0`` the gradient is taken as zero (the
    force on a pair at zero separation vanishes by symmetry for any smooth ``φ``).
    """

    # φ(r), a callable; any object is accepted here so that a non-callable reaches `__check_init__`'s ValueError
    function: Any = eqx.field(static=True)
    interaction_range: float = eqx.field(static=True)

    def __check_init__(self):
        if not callable(self.function):
            raise ValueError("function must be callable: φ(r) of the distance r.")
        check_positive("interaction_range", self.interaction_range)
        probe = np.asarray([0.5, 1.0]) * float(self.interaction_range)
        value = self.function(jnp.asarray(probe))
        if np.asarray(value).shape != (2,):
            raise ValueError("function must map an array of distances elementwise to energies.")
        if not np.all(np.isfinite(np.asarray(value, dtype=float))):
            raise ValueError(
                f"function must return finite energies; φ(r) at r = {probe.tolist()} gave {np.asarray(value).tolist()}."
            )

    def __call__(self, squared_distance):
        positive = squared_distance > 0
        safe = jnp.where(positive, squared_distance, 1.0)
        distance = jnp.where(positive, jnp.sqrt(safe), 0.0)
        return self.function(distance)

    @property
    def range(self):
        return self.interaction_range

    def path_transform(self, wavenumber, impact_parameter):
        """Numerically, by :func:`numerical_path_transform` (4001-point trapezoid rule)."""
        return numerical_path_transform(self, wavenumber, impact_parameter)
