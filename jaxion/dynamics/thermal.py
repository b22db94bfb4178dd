"""Thermal (homogeneous) motion of the framework: random mode phases and amplitudes (paper 2, Sec. II).

Paper 2 splits the framework coordinates into the response to the ion and a homogeneous solution,
``ρ(τ) = ρ_hom(τ) − 2π ∫ Γ(τ − τ') ∇_ρΦ(τ') dτ'`` ((2.12)), and builds ``ρ_hom`` from the free normal
modes with random phases and amplitudes. Here the modes are those of the infinite lattice on the
zone grid of :func:`jaxion.kernels.zone_modes_grid` (the grid the memory engine uses for its
kernel): for each node ``q`` of the half zone, branch ``u`` and standing wave ``c ∈ {cos, sin}``

    ρ_a(τ) = Σ_{q,u,c} sqrt(w_q) part_c[u_{s_a,u}(q) e^{iq·x_a}] Re[Z_quc e^{2πiω_u(q)τ}],      ρ' = dρ/dτ,

with ``part_0 = Re``, ``part_1 = Im``, ``u_s = e_s/sqrt(m_s)`` the displacement of atom ``s`` per unit mode
amplitude (:attr:`jaxion.ZoneModes.displacements`), ``x_a = n_a + τ_{s_a}`` the site's fractional position
and ``w_q`` the zone weights (they sum to 1). The two standing waves of the pair ``±q`` are the real normal
modes ``Re``/``Im`` of the complex one (for one atom per cell, real ``u``: ``cos(q·n_a) u`` and
``sin(q·n_a) u``). For independent mode amplitudes the equal-time covariance is the Brillouin-zone average
``⟨ρ_a ρ_bᵀ⟩ = ⟨Σ_u Re[u_{s_a,u} u_{s_b,u}^† e^{iq·(x_a−x_b)}] ⟨X_u²⟩⟩_BZ``: classically ``ω_T`` times the
static Green's function (1.29), and the kinetic energy ``m_s⟨ρ'²⟩/(8π²)`` of every channel is ``ω_T/2``
whatever the masses (equipartition; tested).

Units and occupation (shared/NOTES.md; paper 2, Sec. II): time in ``2π/Ω``, length ``sqrt(ħ/(mΩ))``,
energy ``ħΩ``; the framework energy is ``Σ m_s ρ'²/(8π²) + ρᵀΞρ/2``, so one mode is an oscillator of energy
``X'²/(8π²) + ω²X²/2``. The temperature ``ω_T = k_B T/(ħΩ)`` is an energy in units of ``ħΩ``.

- ``quantum=True`` (paper 2's prescription): the number of quanta ``n`` is drawn from
  ``P(n) ∝ e^{−nω/ω_T}`` (geometric; Bose–Einstein mean ``n_B = 1/(e^{ω/ω_T} − 1)``), the amplitude is
  ``|Z| = sqrt(n + ½) sqrt(2/ω)`` and the phase uniform: ``⟨X²⟩ = (n_B + ½)/ω`` — the quantum
  variance *with* the zero-point term ``½``, ``⟨X'²⟩ = 4π²ω(n_B + ½)``. ``ω_T = 0`` is allowed: every
  mode has ``n = 0`` and only the zero-point motion ``⟨X²⟩ = 1/(2ω)`` remains.
- ``quantum=False`` (classical, equipartition): ``Z`` is a complex Gaussian, i.e. the mode energy is
  Boltzmann distributed with mean ``ω_T``: ``⟨X²⟩ = ω_T/ω²``, ``⟨X'²/(8π²)⟩ = ω_T/2``. Needs ``ω_T > 0``.

Modes of zero frequency (the uniform translation of an unconfined lattice) are left at rest: their
thermal amplitude is unbounded. On unconfined 1D/2D lattices the site variance diverges with the grid
(the usual infrared divergence); confined lattices (paper 2's chain) and 3D lattices converge.

The sampling is reproducible from a ``jax.random`` key and batches over keys: a key array of shape
``(E,)`` (typed keys) or ``(E, 2)`` (raw ``PRNGKey``) gives an ensemble of ``E`` independent baths in one
vmapped call (:func:`thermal_motion`, and :func:`jaxion.dynamics.memory.simulate_memory` with
``thermal=ThermalBath(...)``).
"""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import ArrayLike

from .._constants import TWO_PI
from .._validation import RealScalar, is_concrete
from ..kernels import zone_modes_grid
from ..kernels._tables import site_fractional, site_rows
from ..lattice import ZoneModes

__all__ = [
    "ThermalBath",
    "ThermalMotion",
    "sample_mode_amplitudes",
    "motion_from_amplitudes",
    "thermal_motion",
    "thermal_site_variance",
    "check_temperature",
    "key_batch_shape",
]

_ZERO_FREQUENCY = 1e-6  # modes with ω below this × ω_max are left at rest (q = 0 of a periodic grid: ω² is roundoff there)
_TIME_CHUNK = 512


def check_temperature(temperature, quantum: bool) -> None:
    """``ValueError`` naming ``temperature``, its value and the valid range: ``>= 0`` for the quantum
    bath (``0`` = zero-point motion only), ``> 0`` for the classical one (at ``0`` nothing moves)."""
    if not is_concrete(temperature):
        return
    value = np.asarray(temperature, dtype=float)
    if value.ndim != 0:
        raise ValueError(f"temperature must be a scalar (ω_T in units of ħΩ); got shape {value.shape}.")
    if quantum:
        if not np.isfinite(value) or value < 0:
            raise ValueError(
                f"temperature must be finite and >= 0 for the quantum bath (ω_T in units of ħΩ; 0 = zero-point "
                f"motion only); got temperature = {temperature!r}."
            )
    elif not np.isfinite(value) or value <= 0:
        raise ValueError(
            f"temperature must be finite and > 0 for the classical bath (ω_T in units of ħΩ; use quantum=True "
            f"for zero-point motion at 0); got temperature = {temperature!r}."
        )


def key_batch_shape(key) -> tuple:
    """Batch shape of a key array: ``key.shape`` for typed keys, ``key.shape[:-1]`` for raw ``uint32``
    ``PRNGKey`` arrays."""
    key = key if isinstance(key, jax.Array) else jnp.asarray(key)
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return tuple(key.shape)
    if key.dtype != jnp.uint32 or key.ndim < 1 or key.shape[-1] != 2:
        raise ValueError(f"key must be a jax.random key (jax.random.key or PRNGKey), or a batch of them; got {key.dtype} {key.shape}.")
    return tuple(key.shape[:-1])


def sample_mode_amplitudes(key, omega, temperature, quantum: bool = True):
    """Complex amplitudes ``Z`` ``(…omega.shape, 2)`` (last axis: cos / sin standing wave), paper 2, Sec. II.

    Quantum: ``|Z| = sqrt(2(n + ½)/ω)``, ``n`` geometric with ``P(n) ∝ e^{−nω/ω_T}``, uniform phase;
    classical: ``Re Z, Im Z`` Gaussian of variance ``ω_T/ω²`` each. Zero-frequency modes get ``Z = 0``.
    One key, no batch (vmap this, or use :func:`thermal_motion` / :class:`ThermalBath`)."""
    check_temperature(temperature, quantum)
    return _sample(key, jnp.asarray(omega, float), jnp.asarray(temperature, float), bool(quantum))


@eqx.filter_jit
def _sample(key, omega, temperature, quantum: bool):
    shape = omega.shape + (2,)
    om = omega[..., None]
    moving = om > _ZERO_FREQUENCY * jnp.max(omega)
    safe = jnp.where(moving, om, 1.0)
    temperature = jnp.asarray(temperature, float)
    k_phase, k_amp = jax.random.split(key)
    if quantum:
        phase = jax.random.uniform(k_phase, shape, maxval=TWO_PI)
        # n = floor(E ω_T/ω), E ~ Exp(1): P(n >= k) = e^{−kω/ω_T} (n = 0 at ω_T = 0)
        energy = jax.random.exponential(k_amp, shape)
        ratio = jnp.where(temperature > 0, temperature / safe, 0.0)
        n = jnp.floor(energy * ratio)
        amplitude = jnp.sqrt(2.0 * (n + 0.5) / safe)
        z = amplitude * jnp.exp(1j * phase)
    else:
        parts = jax.random.normal(k_amp, shape + (2,))
        sigma = jnp.sqrt(temperature) / safe
        z = sigma * (parts[..., 0] + 1j * parts[..., 1])
    return jnp.where(moving, z, 0.0)


class ThermalMotion(NamedTuple):
    """Homogeneous motion of the tracked sites: ``displacement``, ``velocity`` ``(…, times, sites, dof)``
    (``velocity = dρ/dτ``), at ``times``."""

    times: jax.Array
    displacement: jax.Array
    velocity: jax.Array


def _site_matrix(modes: ZoneModes, z, positions, atoms=None):
    """``C[q, u, a, d] = sqrt(w_q) Σ_c part_c[u_{s_a,du}(q) e^{iq·x_a}] Z_quc`` (complex; module notes)."""
    assert modes.weights is not None  # zone-grid modes carry their quadrature weights
    phase = modes.nodes @ jnp.asarray(positions, float).T  # (J, S)
    if atoms is None:  # one atom per cell: real u, the standing waves cos(q·n_a) u and sin(q·n_a) u
        trig = jnp.stack([jnp.cos(phase), jnp.sin(phase)], axis=-1)  # (J, S, c)
        return jnp.einsum("q,qsc,qdu,quc->qusd", jnp.sqrt(modes.weights), trig, modes.channel_displacements, z)
    wave = modes.displacements[:, jnp.asarray(atoms)] * jnp.exp(1j * phase)[:, :, None, None]  # (J, S, d, u)
    parts = jnp.stack([jnp.real(wave), jnp.imag(wave)], axis=-1)  # (J, S, d, u, c)
    return jnp.einsum("q,qsduc,quc->qusd", jnp.sqrt(modes.weights), parts, z)


@eqx.filter_jit
def motion_from_amplitudes(modes: ZoneModes, z, cells, times, with_velocity: bool = True, atoms=None):
    """``ρ_a(τ) = Σ sqrt(w_q) part_c[u_{s_a} e^{iq·x_a}] Re[Z e^{2πiωτ}]`` (module notes) and ``dρ_a/dτ`` at
    ``times`` for one set of amplitudes ``z`` ``(J, branches, 2)``: arrays ``(times, sites, dof)`` (evaluated in
    time chunks). ``cells``: the sites' cells ``(S, dim)``, or on a crystal with a basis their fractional
    positions ``x_a = n_a + τ_{s_a}`` with ``atoms`` ``(S,)`` the atom of each (``None``: one atom per cell)."""
    cmat = _site_matrix(modes, z, cells, atoms)  # (J, u, S, d)
    jq, branches, s, d = cmat.shape
    cflat = cmat.reshape(jq * branches, s * d)
    omega = modes.omega.reshape(-1)
    times = jnp.asarray(times, float)
    nt = times.shape[0]
    chunk = min(_TIME_CHUNK, max(nt, 1))
    pad = (-nt) % chunk
    padded = jnp.concatenate([times, jnp.zeros(pad)]).reshape(-1, chunk)

    def block(ts):
        rot = jnp.exp(1j * TWO_PI * ts[:, None] * omega[None, :])  # (chunk, J·u)
        x = rot @ cflat
        v = (rot * (1j * TWO_PI * omega)[None, :]) @ cflat if with_velocity else jnp.zeros_like(x)
        return jnp.real(x), jnp.real(v)

    x, v = jax.lax.map(block, padded)
    x = x.reshape(-1, s, d)[:nt]
    v = v.reshape(-1, s, d)[:nt]
    return x, v


class ThermalBath(eqx.Module):
    """A thermal framework for :func:`jaxion.dynamics.memory.simulate_memory` (paper 2, Sec. II).

    Attributes:
        temperature: ``ω_T = k_BT/(ħΩ)`` (``>= 0`` quantum, ``> 0`` classical).
        key: a ``jax.random`` key, or a batch ``(E,)`` of keys (``(E, 2)`` raw): an ensemble of ``E``
            runs computed in one vmapped call.
        quantum: Bose–Einstein occupation with zero-point term (paper 2), else equipartition.
        points_per_axis: zone grid ``K`` of the thermal modes; ``None`` = the engine's kernel grid (the
            blocked method always uses that grid: a given ``K`` must then equal it, or is used as it).
    """

    temperature: RealScalar
    key: ArrayLike  # a key or a batch of keys (typed or raw uint32), validated by `__check_init__` (ValueError)
    quantum: bool = eqx.field(static=True, default=True)
    points_per_axis: int | None = eqx.field(static=True, default=None)

    def __check_init__(self):
        check_temperature(self.temperature, self.quantum)
        key_batch_shape(self.key)
        if self.points_per_axis is not None and (int(self.points_per_axis) != self.points_per_axis or self.points_per_axis < 1):
            raise ValueError(f"points_per_axis must be a positive integer or None; got {self.points_per_axis!r}.")

    @property
    def batch_shape(self) -> tuple:
        return key_batch_shape(self.key)

    def amplitudes(self, omega):
        """``Z`` ``(E…, J, dof, 2)`` for all keys (vmapped)."""
        keys, batch = _flat_keys(self.key)
        z = _sample_batch(keys, jnp.asarray(omega, float), jnp.asarray(self.temperature, float), self.quantum)
        return z.reshape(batch + z.shape[1:])


def _flat_keys(key):
    """Keys as a flat batch ``(E,)`` (typed) / ``(E, 2)`` (raw), and the original batch shape."""
    key = key if isinstance(key, jax.Array) else jnp.asarray(key)
    batch = key_batch_shape(key)
    typed = jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
    return (key.reshape(-1) if typed else key.reshape(-1, 2)), batch


@eqx.filter_jit
def _sample_batch(keys, omega, temperature, quantum: bool):
    return jax.vmap(lambda k: _sample(k, omega, temperature, quantum))(keys)


@eqx.filter_jit
def _motion_batch(modes, keys, cells, times, temperature, quantum: bool, atoms=None):
    def one(k):
        return motion_from_amplitudes(modes, _sample(k, modes.omega, temperature, quantum), cells, times, atoms=atoms)

    return jax.vmap(one)(keys)


def thermal_motion(lattice, cells, times, key, temperature, *, quantum: bool = True, points_per_axis: int = 256) -> ThermalMotion:
    """Homogeneous (thermal) motion of the sites ``cells`` at ``times`` (paper 2, Sec. II).

    Args:
        lattice: any lattice of the package (paper 2's chain: ``jaxion.chain``; crystals with a basis).
        cells: ``(sites, dim)`` integer cells; on a crystal with a basis rows ``(cell ..., atom)``
            ``(sites, dim + 1)`` (like :class:`jaxion.System`'s ``sites``).
        times: ``(T,)`` times ``τ``.
        key: a ``jax.random`` key or a batch of keys (ensemble, one vmapped call).
        temperature: ``ω_T`` in units of ``ħΩ``.
        quantum: Bose–Einstein with zero-point term (paper 2) or classical equipartition.
        points_per_axis: zone grid ``K`` (``K^dim`` modes; the motion is periodic in the grid's
            recurrence time, like a ``K``-periodic supercell's).

    Returns:
        :class:`ThermalMotion` with arrays ``(E…, T, sites, dof)``.
    """
    check_temperature(temperature, quantum)
    rows = site_rows(lattice, cells)
    atoms = None if lattice.atoms == 1 else jnp.asarray(rows[:, -1])
    modes = zone_modes_grid(lattice, points_per_axis)
    times = jnp.asarray(times, float)
    keys, batch = _flat_keys(key)
    x, v = _motion_batch(modes, keys, jnp.asarray(site_fractional(lattice, rows)), times, jnp.asarray(temperature, float),
                         bool(quantum), atoms)
    return ThermalMotion(times, x.reshape(batch + x.shape[1:]), v.reshape(batch + v.shape[1:]))


def thermal_site_variance(modes: ZoneModes, temperature, quantum: bool = True):
    """Ensemble variance ``⟨ρ_{a,d}²⟩`` and ``⟨ρ'_{a,d}²⟩`` ``(channels,)`` (``(dof,)`` for one atom per cell;
    channel ``s·dof + d`` on a crystal with a basis) the sampler targets on this grid:
    ``Σ_q w_q Σ_u |u_{sd,u}|² ⟨X_u²⟩`` with ``⟨X²⟩ = coth(ω/2ω_T)/(2ω)`` (quantum) or ``ω_T/ω²`` (classical),
    and ``⟨X'²⟩ = 4π²ω²⟨X²⟩``."""
    omega = np.asarray(modes.omega)
    moving = omega > _ZERO_FREQUENCY * omega.max()
    safe = np.where(moving, omega, 1.0)
    t = float(temperature)
    if quantum:
        x2 = (0.5 / safe) / np.tanh(safe / (2 * t)) if t > 0 else 0.5 / safe
    else:
        x2 = t / safe**2
    x2 = np.where(moving, x2, 0.0)
    eta2 = np.abs(np.asarray(modes.channel_displacements)) ** 2  # (J, channels, u)
    w = np.asarray(modes.weights)
    disp = np.einsum("q,qdu,qu->d", w, eta2, x2)
    vel = np.einsum("q,qdu,qu->d", w, eta2, x2 * (TWO_PI * safe) ** 2 * moving)
    return disp, vel
