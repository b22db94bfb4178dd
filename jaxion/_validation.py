"""Input checks shared by the modules.

Every check names the parameter, the offending value and the valid range, and raises
`ValueError`. Checks run only on concrete values: inside `jax.jit`/`jax.vmap` the values are
tracers and the check is skipped (the same object was checked when it was built eagerly).
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from typing import Any, TypeAlias

import jax
import numpy as np
from jax.core import Tracer
from jaxtyping import Array, ArrayLike, Real

# A real number given as a Python or NumPy scalar or a 0-d NumPy or JAX array (a tracer under jit, vmap
# or grad): what a function that takes a physical parameter accepts (``ArrayLike`` without ``complex``).
RealScalar: TypeAlias = Real[Array | np.ndarray | np.number | float, ""]
# An array given as a JAX or NumPy array, a scalar, or nested lists/tuples of numbers (``numpy.typing.ArrayLike``
# without its protocols, which the run-time checker does not match for tuples).
ArrayInput: TypeAlias = ArrayLike | Sequence[Any]


def is_concrete(value) -> bool:
    """True when `value` holds numbers (not a JAX tracer)."""
    leaves = jax.tree_util.tree_leaves(value)
    return not any(isinstance(leaf, Tracer) for leaf in leaves)


def check_positive(name: str, value, *, allow_zero: bool = False) -> None:
    """Raise ``ValueError`` unless every entry of `value` is finite and > 0 (>= 0)."""
    if not is_concrete(value):
        return
    array = np.asarray(value, dtype=float)
    bad = ~np.isfinite(array) | ((array < 0) if allow_zero else (array <= 0))
    if np.any(bad):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {bound}; got {value!r}.")


def check_finite(name: str, value) -> None:
    """Raise ``ValueError`` if any entry of `value` is NaN or infinite."""
    if not is_concrete(value):
        return
    array = np.asarray(value, dtype=float)
    if not np.all(np.isfinite(array)):
        shown = repr(value) if array.size <= 8 else f"{int(np.sum(~np.isfinite(array)))} NaN/inf entries of shape {array.shape}"
        raise ValueError(f"{name} must be finite; got {shown}.")


def check_choice(name: str, value, choices) -> None:
    """Raise ``ValueError`` unless `value` is one of `choices`."""
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; valid options are {sorted(choices)}.")


def check_cells(name: str, cells, dim: int, meaning: str | None = None) -> np.ndarray:
    """Integer cell indices as an ``(n, dim)`` array (one ``(dim,)`` cell is accepted); ``meaning`` says what a
    row is in the error (default: an integer cell of a ``dim``-dimensional lattice).

    Raises ``ValueError`` naming `name` when the entries are not finite integers or the last axis does
    not have ``dim`` entries (instead of silently truncating or reshaping them).
    """
    array = np.asarray(cells)
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise ValueError(f"{name} must be integer cell indices of shape (n, {dim}); got {cells!r}.")
    if array.size == 0:
        return np.zeros((0, dim), dtype=int)
    if array.ndim == 1 and dim == 1:
        array = array[:, None]  # a chain's cells may be given as a flat list
    elif array.ndim == 1 and array.size == dim:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] != dim:
        raise ValueError(
            f"{name} must have shape (n, {dim}) ({meaning or f'integer cells of a {dim}-dimensional lattice'}); got shape {array.shape}."
        )
    as_float = array.astype(float)
    if not np.all(np.isfinite(as_float)) or np.any(as_float != np.round(as_float)):
        raise ValueError(f"{name} must hold integer cell indices; got {array.tolist()}.")
    return as_float.astype(int)


_INTERNAL_MODULES = ("jaxion", "jaxion_cli", "jaxtyping", "beartype", "equinox", "jax", "jaxlib")


def warn_user(message: str, category: type[Warning]) -> None:
    """``warnings.warn`` attributed to the first frame outside jaxion (and outside the wrappers around it:
    jaxtyping, beartype, equinox, JAX's tracing), so that a warning names the user's line, not one of jaxion's, at
    any depth of calls."""
    frame, level = sys._getframe(0), 1  # stacklevel 1 is this function's frame, the one that calls warnings.warn
    while frame is not None and frame.f_globals.get("__name__", "").split(".")[0] in _INTERNAL_MODULES:
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
