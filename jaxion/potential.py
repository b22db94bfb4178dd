"""Pair potentials between the ion and a framework mass.

The interaction is a sum of pair terms ``Φ(ρ, σ) = Σ_a φ(R_a + ρ_a − σ)`` (paper 1, Sec. III). A pair
potential is an :class:`equinox.Module` that maps the *squared* separation ``|r|²`` to an energy (in units
of ``ħΩ``); working with ``|r|²`` keeps gradients finite when the ion passes straight through a mass
(``s = 0``). Forces are always ``jax.grad`` of these energies.

- :class:`Gaussian`: ``φ(r) = Φ0 exp(−|r|²/(2λ²))`` (``Φ0 > 0`` repulsive, ``Φ0 < 0`` attractive).
- :class:`SumOfPairPotentials` (or ``a + b``): several terms, e.g. sums of Gaussians.
- :class:`CustomPairPotential`: any differentiable ``φ(r)`` given as a function of distance.

The classes follow equinox's abstract/final pattern: :class:`AbstractPairPotential` declares what every
potential provides; :class:`Gaussian`, :class:`SumOfPairPotentials` and :class:`CustomPairPotential` are
final (do not subclass them).

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
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ._validation import RealScalar, check_finite, check_positive, is_concrete

__all__ = [
    "AbstractPairPotential",
    "Gaussian",
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
