"""A thermal state of the periodic supercell: the initial framework of the full engine at finite temperature.

The exact finite-temperature reference for a stochastic engine is the full dynamics (1.3)–(1.4)
(:func:`jaxion.simulate`) started from a thermal state of its own periodic supercell. This module samples that
state, the fields ``initial_displacement``, ``initial_velocity`` ``(channels, *supercell)`` of the full engine.

Modes of the supercell. With mass-weighted coordinates ``x_{m,c} = sqrt(m_c) ρ_{m,c}`` (channel ``c = s·dof + j``
of cell ``m``) the framework energy ``Σ m_s ρ'²/(8π²) + ρᵀΞρ/2`` (shared/NOTES.md; paper 1, (1.2)) becomes
``Σ x'²/(8π²) + xᵀ D x/2`` with ``D = M^{−1/2} Ξ M^{−1/2}``. The unitary discrete Fourier transform over the
cells, ``x̂(q) = N^{−1/2} Σ_m e^{−iq·m} x_m`` on the supercell's wavevectors ``q = 2πn/N``
(:meth:`jaxion.Lattice.supercell_wavevectors`), block-diagonalises it: ``(Dx)^(q) = D_c(q) x̂(q)`` with

    D_c(q)_st = Σ_R Φ(0s; Rt) e^{iq·R} / sqrt(m_s m_t) = e^{iq·τ_s} D(q)_st e^{−iq·τ_t},

the dynamical matrix in the *cell* phase convention (``R`` the integer cell offsets of the real-space stencil,
:meth:`jaxion.Lattice.apply_coupling`); :meth:`jaxion.Lattice.dynamical_matrix` uses the atoms' own positions
(phonopy's convention), hence the diagonal phases ``e^{±iq·τ}`` (the identity for one atom per cell). Its
eigenpairs ``ω_u(q)², e_u(q)`` are the normal modes; each mode is an oscillator ``X'²/(8π²) + ω²X²/2``.

Distribution: Gaussian in every mode, the Wigner function of the thermal oscillator (Hillery, O'Connell, Scully and
Wigner, Phys. Rep. 106, 121 (1984), Sec. 2.6), whose classical limit is the Boltzmann distribution:

- classical (``quantum=False``, equipartition, needs ``T > 0``): ``⟨X²⟩ = T/ω²``, ``⟨X'²⟩ = 4π²T``;
- quantum (``quantum=True``, Bose–Einstein with the zero-point term; the variances of paper 2's prescription in
  :mod:`jaxion.dynamics.thermal`): ``⟨X²⟩ = coth(ω/2T)/(2ω) = (n_B + ½)/ω``, ``⟨X'²⟩ = 4π²ω²⟨X²⟩``; ``T = 0``
  leaves the zero-point motion ``⟨X²⟩ = 1/(2ω)``.

``X`` and ``X'`` are independent and the modes are independent, so the fields are

    x = F⁻¹[A_x(q) F w_x],      x' = F⁻¹[A_v(q) F w_v],      A(q) = Σ_u e_u(q) sqrt(⟨X_u²⟩) e_u(q)^†,

with ``w_x, w_v`` real white noise ``(channels, *supercell)`` and ``F`` the unitary FFT over the cell axes: their
covariance is ``⟨x_m x_{m'}ᵀ⟩ = N^{−1} Σ_q e^{iq·(m−m')} A A^†``, the mode sum. ``A(−q) = A(q)^*`` (``Φ`` is real),
so the fields are real and real FFTs (``rfftn``) over half the grid suffice: O(N log N) work and memory
O(N × channels²), which scales to 100³ supercells. Classically ``⟨ρ ρᵀ⟩ = T Ξ⁺`` (the supercell's static Green's
function, :func:`jaxion.theory.static_greens_function`) and the kinetic energy of every channel is ``T/2`` less
its share of the zero modes.

Zero-frequency modes (the uniform translations at ``q = 0`` of an unconfined lattice, ``ω ≤ 10⁻⁶ ω_max`` as in
:mod:`jaxion.dynamics.thermal`) are left at rest, so the supercell's centre of mass neither moves nor drifts.
The sample is reproducible from a ``jax.random`` key; a batch of keys (``(E,)`` typed, ``(E, 2)`` raw) gives an
ensemble in one vmapped call.
"""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Inexact

from .._constants import FOUR_PI_SQ
from .._validation import RealScalar
from ..lattice import Lattice
from ._common import Supercell, SupercellLike, check_supercell
from .thermal import _ZERO_FREQUENCY, _flat_keys, check_temperature

__all__ = [
    "ThermalState",
    "ThermalEnergy",
    "thermal_state",
    "thermal_state_from_noise",
    "thermal_energy",
    "mode_variances",
]


class ThermalState(NamedTuple):
    """A sampled thermal framework: ``displacement`` ``ρ`` and ``velocity`` ``ρ' = dρ/dτ``, each
    ``(*E, channels, *supercell)`` (the layout of :func:`jaxion.simulate`'s ``initial_displacement`` and
    ``initial_velocity``; ``*E`` the batch shape of the keys, empty for one key)."""

    displacement: Array
    velocity: Array


class ThermalEnergy(NamedTuple):
    """Ensemble means of the framework energy of a thermal state of the supercell (sums over the moving modes).

    Attributes:
        kinetic: ``⟨Σ m_s ρ'²/(8π²)⟩ = Σ_u ⟨X_u'²⟩/(8π²)`` (classically ``T/2`` per moving mode).
        potential: ``⟨ρᵀΞρ/2⟩ = Σ_u ω_u²⟨X_u²⟩/2`` (classically ``T/2`` per moving mode).
        moving_modes: number of modes of nonzero frequency (all ``channels × N`` modes less the zero modes).
    """

    kinetic: Array
    potential: Array
    moving_modes: Array


def _moving(omega2) -> tuple[Array, Array]:
    """``ω = sqrt(max(ω², 0))`` and where ``ω > 10⁻⁶ max ω`` (the threshold of :mod:`jaxion.dynamics.thermal`)."""
    omega = jnp.sqrt(jnp.clip(jnp.asarray(omega2, float), 0.0))
    return omega, omega > _ZERO_FREQUENCY * jnp.max(omega)


def mode_variances(
    omega2: Float[ArrayLike, "*modes"], temperature: RealScalar, quantum: bool
) -> tuple[Float[Array, "*modes"], Float[Array, "*modes"]]:
    """Per-mode ``⟨X²⟩`` and ``⟨X'²⟩`` of the thermal oscillator ``X'²/(8π²) + ω²X²/2`` (module notes): classical
    ``T/ω²`` and ``4π²T``; quantum ``coth(ω/2T)/(2ω)`` (``1/(2ω)`` at ``T = 0``) and ``4π²ω²⟨X²⟩``. Modes with
    ``ω ≤ 10⁻⁶ max ω`` (over all of ``omega2``) get zero for both."""
    omega, moving = _moving(omega2)
    safe = jnp.where(moving, omega, 1.0)
    temperature = jnp.asarray(temperature, float)
    if quantum:
        hot = temperature > 0
        coth = jnp.where(hot, 1.0 / jnp.tanh(safe / (2.0 * jnp.where(hot, temperature, 1.0))), 1.0)
        x2 = 0.5 * coth / safe
        v2 = FOUR_PI_SQ * safe**2 * x2
    else:
        x2 = temperature / safe**2
        v2 = FOUR_PI_SQ * temperature * jnp.ones_like(safe)
    return jnp.where(moving, x2, 0.0), jnp.where(moving, v2, 0.0)


def _half_wavevectors(lattice: Lattice, supercell: Supercell) -> np.ndarray:
    """The supercell's wavevectors on the half grid of ``rfftn`` ``(N_1, …, N_d//2 + 1, dim)`` (the other half
    follows from ``A(−q) = A(q)^*``); taken from :meth:`Lattice.supercell_wavevectors` (at an even last size the
    Nyquist plane is ``−π`` there, the same modes as ``+π``)."""
    q = lattice.supercell_wavevectors(supercell).reshape(*supercell, lattice.dim)
    return q[..., : supercell[-1] // 2 + 1, :]


def _cell_dynamical_matrix(lattice: Lattice, q: Float[Array, "*q dim"]) -> Inexact[Array, "*q channels channels"]:
    """``D_c(q) = P D(q) P^†``, ``P = diag(e^{iq·τ_s})`` per channel: the transform of the cell-offset stencil
    (module notes). For one atom per cell the phase cancels and ``D_c = D`` is real."""
    matrix = lattice.dynamical_matrix(q)
    if lattice.real_spectrum:
        return matrix
    phase = jnp.exp(1j * jnp.repeat(q @ lattice.basis_positions.T, lattice.dof, axis=-1))  # (*q, channels)
    return phase[..., :, None] * matrix * jnp.conj(phase)[..., None, :]


@eqx.filter_jit
def _scalings(lattice: Lattice, q: Float[Array, "*q dim"], temperature, quantum: bool):
    """``A_x(q), A_v(q)`` ``(*q, channels, channels)``: ``Σ_u e_u sqrt(⟨X_u²⟩) e_u^†`` and the same with ``⟨X_u'²⟩``."""
    omega2, vectors = jnp.linalg.eigh(_cell_dynamical_matrix(lattice, q))
    x2, v2 = mode_variances(omega2, temperature, quantum)

    def matrix_function(values):
        root = jnp.where(values > 0, jnp.sqrt(jnp.where(values > 0, values, 1.0)), 0.0)  # finite derivative at the zero modes
        return jnp.einsum("...iu,...u,...ju->...ij", vectors, root, jnp.conj(vectors))

    return matrix_function(x2), matrix_function(v2)


def _colour(scaling, noise, supercell: Supercell):
    """``F⁻¹[A(q) F w]`` for real white noise ``w`` ``(channels, *supercell)`` (unitary FFTs over the cells)."""
    axes = tuple(range(1, 1 + len(supercell)))
    spectrum = jnp.moveaxis(jnp.fft.rfftn(noise, axes=axes, norm="ortho"), 0, -1)  # (*half, channels)
    coloured = jnp.moveaxis(jnp.einsum("...ij,...j->...i", scaling, spectrum), -1, 0)
    return jnp.fft.irfftn(coloured, s=supercell, axes=axes, norm="ortho")


def _fields(lattice: Lattice, scalings, noise, supercell: Supercell):
    """``(ρ, ρ')`` from the noise ``(2, channels, *supercell)``: ``x = F⁻¹[A F w]``, ``ρ = x/sqrt(m_c)``."""
    inverse_root = (1.0 / jnp.sqrt(lattice.channel_masses)).reshape((-1,) + (1,) * len(supercell))
    a_x, a_v = scalings
    return inverse_root * _colour(a_x, noise[0], supercell), inverse_root * _colour(a_v, noise[1], supercell)


@eqx.filter_jit
def _from_noise(lattice: Lattice, noise, q, temperature, supercell: Supercell, quantum: bool):
    return _fields(lattice, _scalings(lattice, q, temperature, quantum), noise, supercell)


@eqx.filter_jit
def _sample_batch(lattice: Lattice, keys, q, temperature, supercell: Supercell, quantum: bool):
    scalings = _scalings(lattice, q, temperature, quantum)  # once for the whole ensemble
    shape = (2, lattice.channels, *supercell)
    return jax.vmap(lambda key: _fields(lattice, scalings, jax.random.normal(key, shape), supercell))(keys)


def _check_inputs(lattice, supercell, temperature, quantum) -> tuple[Lattice, Supercell]:
    from ..system import System

    if isinstance(lattice, System):
        lattice = lattice.lattice
    if not isinstance(lattice, Lattice):
        raise ValueError(f"lattice must be a jaxion Lattice (or a System); got {type(lattice).__name__}.")
    if not isinstance(quantum, (bool, np.bool_)):
        raise ValueError(f"quantum must be True or False; got {quantum!r}.")
    check_temperature(temperature, bool(quantum))
    return lattice, check_supercell(lattice, supercell)


def thermal_state(lattice, supercell: SupercellLike, key: ArrayLike, temperature: RealScalar, *,
                  quantum: bool = False) -> ThermalState:
    """Sample a thermal state of the periodic ``supercell`` for :func:`jaxion.simulate` (module notes).

    Gaussian in the normal-mode coordinates of the supercell's own modes: ``⟨X²⟩ = T/ω²``, ``⟨X'²⟩ = 4π²T``
    (classical) or ``⟨X²⟩ = coth(ω/2T)/(2ω)``, ``⟨X'²⟩ = 4π²ω²⟨X²⟩`` (``quantum=True``, the Wigner distribution with
    the zero-point term); zero-frequency modes at rest. Computed by real FFTs over the cell axes.

    Args:
        lattice: a :class:`jaxion.Lattice` (or a :class:`jaxion.System`, for its lattice).
        supercell: cells per lattice axis (integers ``>= 3``), as for :func:`jaxion.simulate`.
        key: a ``jax.random`` key, or a batch of keys (``(E,)`` typed or ``(E, 2)`` raw ``PRNGKey``): an ensemble in
            one vmapped call. The same key gives the same state.
        temperature: ``T = k_BT/(ħΩ)`` (``> 0`` classical, ``>= 0`` quantum).
        quantum: Bose–Einstein with zero-point motion instead of equipartition.

    Returns:
        :class:`ThermalState` with ``displacement`` and ``velocity`` ``(*E, channels, *supercell)``.
    """
    lattice, supercell = _check_inputs(lattice, supercell, temperature, quantum)
    keys, batch = _flat_keys(key)
    if not jnp.issubdtype(keys.dtype, jax.dtypes.prng_key):  # raw PRNGKey data: the same bits as typed keys, one compile
        keys = jax.random.wrap_key_data(keys)
    q = jnp.asarray(_half_wavevectors(lattice, supercell))
    displacement, velocity = _sample_batch(lattice, keys, q, jnp.asarray(temperature, float), supercell, bool(quantum))
    field = (lattice.channels, *supercell)
    return ThermalState(displacement.reshape(batch + field), velocity.reshape(batch + field))


def thermal_state_from_noise(lattice, supercell: SupercellLike, noise: ArrayLike,
                             temperature: RealScalar, *, quantum: bool = False) -> ThermalState:
    """The linear map of :func:`thermal_state` from its white noise: ``noise[0]``, ``noise[1]``
    ``(channels, *supercell)`` (standard normal for a thermal state) give ``ρ = M^{−1/2} F⁻¹[A_x F noise[0]]`` and
    ``ρ' = M^{−1/2} F⁻¹[A_v F noise[1]]`` (module notes). For custom noise (antithetic pairs, quasi-random numbers)
    or the exact covariance of the sampler (its Jacobian ``J``: ``⟨(ρ, ρ')(ρ, ρ')ᵀ⟩ = J Jᵀ``)."""
    lattice, supercell = _check_inputs(lattice, supercell, temperature, quantum)
    noise = jnp.asarray(noise, float)
    if noise.shape != (2, lattice.channels, *supercell):
        raise ValueError(f"noise must have shape (2, channels, *supercell) = {(2, lattice.channels, *supercell)}; got {noise.shape}.")
    q = jnp.asarray(_half_wavevectors(lattice, supercell))
    return ThermalState(*_from_noise(lattice, noise, q, jnp.asarray(temperature, float), supercell, bool(quantum)))


@eqx.filter_jit
def _energies(lattice: Lattice, q, temperature, quantum: bool):
    omega2 = lattice.modes(q).omega2
    x2, v2 = mode_variances(omega2, temperature, quantum)
    return jnp.sum(v2) / (2 * FOUR_PI_SQ), 0.5 * jnp.sum(jnp.clip(omega2, 0.0) * x2), jnp.sum(_moving(omega2)[1])


def thermal_energy(lattice, supercell: SupercellLike, temperature: RealScalar, *, quantum: bool = False) -> ThermalEnergy:
    """Ensemble-mean kinetic and potential energy of :func:`thermal_state`'s states (sums over the supercell's
    moving modes, eigenvalues of :meth:`jaxion.Lattice.modes` on :meth:`jaxion.Lattice.supercell_wavevectors`):
    classically ``T/2`` each per moving mode; quantum ``(ω/4) coth(ω/2T)`` each per mode (``ω/4`` at ``T = 0``, half
    the zero-point energy ``ω/2`` in units of ``ħΩ``). Arguments as for :func:`thermal_state`."""
    lattice, supercell = _check_inputs(lattice, supercell, temperature, quantum)
    q = jnp.asarray(lattice.supercell_wavevectors(supercell))
    kinetic, potential, moving = _energies(lattice, q, jnp.asarray(temperature, float), bool(quantum))
    return ThermalEnergy(kinetic, potential, moving)
