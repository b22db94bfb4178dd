"""What is fitted: the target curve and the reparametrisations of the free parameters."""

from __future__ import annotations

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

__all__ = ["Target", "AbstractTransform", "Positive", "Bounded", "Unbounded"]

_TINY = 1e-300


def _check_array(name: str, value, *, positive: bool) -> np.ndarray:
    array = np.asarray(value, dtype=float)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty 1D array; got shape {array.shape}.")
    bad = ~np.isfinite(array)
    if positive:
        bad |= array <= 0
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        bound = "finite and > 0" if positive else "finite"
        raise ValueError(f"{name}[{i}] = {array[i]} is invalid: every entry must be {bound} (valid range (0, inf)).")
    return array


# ----------------------------------------------------------------------------- target


class Target(eqx.Module):
    """Measured (or synthetic) losses ``Δ_i`` at speeds ``σ'_i`` with optional 1σ ``uncertainties``
    (absolute, same units as the losses; dimensionless ħΩ and l per τ).

    Validation (``ValueError`` naming the parameter, the value and the valid range): speeds, losses and
    uncertainties must be finite and > 0 (the χ² is taken in log space), of equal length, and there must
    be at least one point.
    """

    speeds: Float[Array, " n"]
    losses: Float[Array, " n"]
    uncertainties: Float[Array, " n"] | None = None

    def __init__(self, speeds, losses, uncertainties=None):
        speeds = _check_array("speeds", speeds, positive=True)
        losses = _check_array("losses", losses, positive=True)
        if losses.shape != speeds.shape:
            raise ValueError(f"losses has {losses.size} entries but speeds has {speeds.size}; they must match.")
        if uncertainties is not None:
            uncertainties = _check_array("uncertainties", uncertainties, positive=True)
            if uncertainties.shape != speeds.shape:
                raise ValueError(
                    f"uncertainties has {uncertainties.size} entries but speeds has {speeds.size}; they must match."
                )
            uncertainties = jnp.asarray(uncertainties)
        self.speeds = jnp.asarray(speeds)
        self.losses = jnp.asarray(losses)
        self.uncertainties = uncertainties

    @property
    def log_sigma(self) -> Float[Array, " n"]:
        """Uncertainty of ``ln Δ``: ``δΔ/Δ`` (1 for every point when no uncertainties were given)."""
        if self.uncertainties is None:
            return jnp.ones_like(self.losses)
        return self.uncertainties / self.losses


# ----------------------------------------------------------------------------- reparametrisations


class AbstractTransform(eqx.Module):
    """Reparametrisation of one free parameter: the optimiser moves an unconstrained internal coordinate
    ``u`` (any real number), the engine sees the physical value ``x = to_physical(u)``.

    :class:`Positive`, :class:`Bounded` and :class:`Unbounded` are final subclasses. To add your own,
    subclass this class and implement the three abstract methods (and validate your fields in
    ``__check_init__``). Example, a log-uniform parameter inside ``(lower, upper)``::

        class LogBounded(jx.fit.AbstractTransform):
            lower: float
            upper: float

            def to_physical(self, u):
                lo, hi = jnp.log(self.lower), jnp.log(self.upper)
                return jnp.exp(lo + (hi - lo) * jax.nn.sigmoid(u))

            def to_internal(self, name, x):
                x = np.asarray(x, float)
                if np.any(~np.isfinite(x)) or np.any(x <= self.lower) or np.any(x >= self.upper):
                    raise ValueError(f"start value of {name} = {x.tolist()} is outside its range "
                                     f"({self.lower}, {self.upper}).")
                f = (np.log(x) - np.log(self.lower)) / (np.log(self.upper) - np.log(self.lower))
                return np.log(f) - np.log1p(-f)

            def scale(self, x):
                return jnp.abs(x)
    """

    @abc.abstractmethod
    def to_physical(self, u: Float[Array, ...]) -> Float[Array, ...]:
        """Internal coordinate ``u`` → physical value ``x`` (differentiable, written with ``jax.numpy``;
        it must map the whole real line into the parameter's range)."""

    @abc.abstractmethod
    def to_internal(self, name: str, x) -> np.ndarray:
        """Physical start value(s) ``x`` (scalar or array, NumPy) → internal ``u``, the inverse of
        :meth:`to_physical`. Raise ``ValueError`` naming the parameter ``name``, the value and the valid
        range when ``x`` is outside the range (or not finite)."""

    @abc.abstractmethod
    def scale(self, x: Float[Array, ...]) -> Float[Array, ...]:
        """A typical size of the parameter at the physical value ``x`` (same units as ``x``, > 0): the
        sensitivity check multiplies ``∂r/∂x`` by it to compare parameters of different units."""


class Positive(AbstractTransform):
    """``x = sign · exp(u)``: a parameter of fixed sign (``sign = −1`` for an attractive ``Φ0``)."""

    sign: Float[Array, ""]

    def __init__(self, sign=1.0):
        if float(sign) not in (1.0, -1.0):
            raise ValueError(f"sign must be +1 or -1; got {sign!r}.")
        self.sign = jnp.asarray(float(sign))

    def to_physical(self, u):
        return self.sign * jnp.exp(u)

    def to_internal(self, name: str, x):
        x = np.asarray(x, float)
        if np.any(~np.isfinite(x)) or np.any(np.sign(x) != float(self.sign)):
            raise ValueError(
                f"start value of {name} = {x.tolist()} is outside its range {'(0, inf)' if float(self.sign) > 0 else '(-inf, 0)'}."
            )
        return np.log(np.abs(x))

    def scale(self, x):
        return jnp.abs(x)


class Bounded(AbstractTransform):
    """``x = lower + (upper − lower) · sigmoid(u)``: a parameter inside ``(lower, upper)``."""

    lower: float
    upper: float

    def __check_init__(self):
        if not (np.isfinite(self.lower) and np.isfinite(self.upper) and self.upper > self.lower):
            raise ValueError(f"Bounded needs finite lower < upper; got lower={self.lower!r}, upper={self.upper!r}.")

    def to_physical(self, u):
        return self.lower + (self.upper - self.lower) * jax.nn.sigmoid(u)

    def to_internal(self, name: str, x):
        x = np.asarray(x, float)
        if np.any(~np.isfinite(x)) or np.any(x <= self.lower) or np.any(x >= self.upper):
            raise ValueError(f"start value of {name} = {x.tolist()} is outside its range ({self.lower}, {self.upper}).")
        f = (x - self.lower) / (self.upper - self.lower)
        return np.log(f) - np.log1p(-f)

    def scale(self, x):
        return jnp.full_like(x, self.upper - self.lower)


class Unbounded(AbstractTransform):
    """``x = u``: a parameter of any sign and size (e.g. an impact parameter)."""

    def to_physical(self, u):
        return u

    def to_internal(self, name: str, x):
        x = np.asarray(x, float)
        if np.any(~np.isfinite(x)):
            raise ValueError(f"start value of {name} = {x.tolist()} must be finite (valid range (-inf, inf)).")
        return x

    def scale(self, x):
        return jnp.maximum(jnp.abs(x), 1.0)
