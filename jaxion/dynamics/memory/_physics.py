"""Forces, energies and the coverage checks of the memory engine (the same for every method).

The ion(s) ``σ_i`` interact with the tracked sites ``R_a + Pρ_a`` through ``Φ = Σ_i Σ_a φ(R_a + Pρ_a − σ_i)``
(paper 1, Sec. III); the ions move by (2.14)/(1.3), ``(μ/4π²) σ'' = −∇_σΦ + F_bias`` (projected on the line of
motion when constrained), and the sites by the convolution (2.12) of ``∇_ρΦ``. Energy bookkeeping (paper 1,
(1.11)): the work ``W_F = ∫(−∇_ρΦ)·dρ`` done on the framework closes the balance
``E = Σ_i μσ_i'²/(8π²) + Φ + W_F − Σ_i F_bias·(σ_i − σ_i(0))``.

Coverage: only the tracked sites move, so a run is meaningful only while the ion stays out of range of every
other site. :class:`Physics` measures the largest ``|φ|`` between an ion and an *untracked* lattice site
(``all_sites_interact=True``: paper 2's chain, where every site interacts), and :func:`update_leaks` folds that,
and the energy of the tracked sites just outside the blocked method's window, into a :class:`Leaks` record
along the run; the result assembly turns a leak above ``coverage_tolerance × max|φ|`` into a status.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ..._constants import FOUR_PI_SQ
from ...potential import AbstractPairPotential
from ...system import System

__all__ = ["Physics", "Leaks", "no_leaks", "update_leaks", "Coverage", "coverage", "build_physics", "check_start_covered"]


class Physics(eqx.Module):
    """Forces, energies and the coverage checks, for the ions and a set of sites.

    ``potentials`` holds one pair potential per group of sites (``System.potentials``: one per species of a
    crystal with a basis), ``groups`` the group of each tracked site (``System.site_groups``); with one
    potential every site uses it (and the energy takes any set of sites, e.g. the blocked method's window)."""

    potentials: tuple[AbstractPairPotential, ...]
    polarisation: Array  # (3, dof)
    mass_ratio: Array
    line: Array  # (ions, 3) unit vectors (ignored unless constrained)
    bias: Array  # (ions, 3)
    # untracked-site check (all lattice sites interact)
    pinv: Array  # (dim, 3)
    vectors: Array  # (3, dim)
    cand_offsets: Array  # (C, dim) int
    mask: Array  # flat bool, True = tracked
    mask_lo: Array  # (dim,) int
    mask_shape: tuple = eqx.field(static=True)
    constrained: bool = eqx.field(static=True)
    check_untracked: bool = eqx.field(static=True)
    groups: tuple[int, ...] = eqx.field(static=True, default=())

    @property
    def potential(self) -> AbstractPairPotential:
        """The pair potential of every site (systems with one potential; the window and untracked-site checks)."""
        return self.potentials[0]

    def energy(self, sigma, rho, positions):
        """``Φ = Σ_i Σ_a φ_{κ(a)}(R_a + Pρ_a − σ_i)`` (paper 1, Sec. III; one potential per species)."""
        moved = positions + rho @ self.polarisation.T  # (W, 3)
        separations = moved[None, :, :] - sigma[:, None, :]
        if len(self.potentials) == 1:
            return jnp.sum(self.potential.energy(separations))
        groups = np.asarray(self.groups)
        return sum(jnp.sum(p.energy(separations[:, np.flatnonzero(groups == g)])) for g, p in enumerate(self.potentials))

    def forces(self, sigma, rho, positions):
        """``Φ``, ion accelerations ``(4π²/μ)(−∇_σΦ + F_bias)`` (projected if constrained), ``∇_ρΦ``."""
        phi, (g_sigma, g_rho) = jax.value_and_grad(self.energy, argnums=(0, 1))(sigma, rho, positions)
        force = -g_sigma + self.bias
        if self.constrained:
            force = self.line * jnp.sum(self.line * force, axis=-1, keepdims=True)
        return phi, FOUR_PI_SQ / self.mass_ratio * force, g_rho

    def untracked_energy(self, sigma):
        """Largest ``|φ|`` between an ion and a lattice site that is not tracked (paper-2 semantics,
        where every lattice site interacts): nonzero means the ion has left the tracked region."""
        if not self.check_untracked:
            return jnp.zeros(())
        reduced = sigma @ self.pinv.T  # (ions, dim)
        base = jnp.floor(reduced).astype(int)
        cells = base[:, None, :] + self.cand_offsets[None, :, :]  # (ions, C, dim)
        local = cells - self.mask_lo
        shape = jnp.asarray(self.mask_shape)
        inside = jnp.all((local >= 0) & (local < shape), axis=-1)
        flat = jnp.ravel_multi_index(tuple(jnp.moveaxis(jnp.clip(local, 0, shape - 1), -1, 0)), self.mask_shape, mode="clip")
        tracked = inside & self.mask[flat]
        positions = cells.astype(float) @ self.vectors.T
        energy = jnp.abs(self.potential.energy(positions - sigma[:, None, :]))
        return jnp.max(jnp.where(tracked, 0.0, energy))


# ============================================================================ leaks along a run


class Leaks(NamedTuple):
    """Largest ``|φ|`` of a tracked site outside the block window (``window``) and of an untracked lattice
    site (``untracked``) seen along a run, and the first step each exceeded the threshold (``-1``: never)."""

    window: Array
    first_window: Array
    untracked: Array
    first_untracked: Array


def no_leaks() -> Leaks:
    return Leaks(jnp.zeros(()), -jnp.ones((), int), jnp.zeros(()), -jnp.ones((), int))


def update_leaks(physics: Physics, sigmas, first_step, leaks: Leaks, leak_tol, neighbours=None, has=None) -> Leaks:
    """Vectorised coverage checks over the ion positions of a run of steps (``sigmas[j]`` is the state
    at global step ``first_step + j``): largest untracked-site energy and, with ``neighbours``, largest
    energy of the tracked sites just outside the window; and the first step each exceeded ``leak_tol``."""
    leak_w, first_w, leak_u, first_u = leaks
    steps = first_step + jnp.arange(sigmas.shape[0])

    def fold(value, first, per_step):
        over = per_step > leak_tol
        hit = jnp.where(jnp.any(over), steps[jnp.argmax(over)], -1)
        first = jnp.where((first < 0) & (hit >= 0), hit, first)
        return jnp.maximum(value, jnp.max(per_step)), first

    if physics.check_untracked:
        leak_u, first_u = fold(leak_u, first_u, jax.vmap(physics.untracked_energy)(sigmas))
    if neighbours is not None:
        assert has is not None  # given with `neighbours`
        energies = jnp.abs(physics.potential.energy(neighbours[None, None, :, :] - sigmas[:, :, None, :]))  # (L, I, 2)
        per_step = jnp.max(jnp.where(has[None, None, :], energies, 0.0), axis=(1, 2))
        leak_w, first_w = fold(leak_w, first_w, per_step)
    return Leaks(leak_w, first_w, leak_u, first_u)


# ============================================================================ building the physics


class Coverage(NamedTuple):
    """``radius``: beyond it ``|φ| <= tolerance × max|φ|``; ``scale``: ``max|φ|`` out to three ranges;
    ``threshold``: the leak energy ``tolerance × scale``."""

    radius: float
    scale: float
    threshold: float


def _energy_scale(potential, reach: float) -> float:
    r = np.linspace(0.0, reach, 2001)
    values = np.abs(np.asarray(potential.energy(jnp.asarray(np.stack([np.zeros_like(r), np.zeros_like(r), r], -1)))))
    scale = float(np.max(values[np.isfinite(values)], initial=0.0))
    return scale if scale > 0 else 1.0


def _coverage_radius(potential, tolerance: float) -> float:
    """Smallest ``r`` beyond which ``|φ| <= tolerance × max|φ|`` (searched out to 60 ranges)."""
    reach = 60.0 * float(potential.range)
    r = np.linspace(0.0, reach, 24001)
    pts = np.stack([np.zeros_like(r), np.zeros_like(r), r], -1)
    values = np.abs(np.asarray(potential.energy(jnp.asarray(pts))))
    scale = float(np.max(values[np.isfinite(values)], initial=0.0)) or 1.0
    above = np.nonzero(values > tolerance * scale)[0]
    if len(above) == 0:
        return float(potential.range)
    return float(r[min(above[-1] + 1, len(r) - 1)])


def coverage(potential, tolerance: float) -> Coverage:
    """The coverage radius and the leak threshold of ``potential`` (or a tuple of them, one per species: the
    widest radius and the largest scale) at ``coverage_tolerance``."""
    potentials = tuple(potential) if isinstance(potential, (tuple, list)) else (potential,)
    scale = max(_energy_scale(p, 3.0 * float(p.range)) for p in potentials)
    radius = max(_coverage_radius(p, tolerance) for p in potentials)
    return Coverage(radius, scale, tolerance * scale)


def _coverage_setup(system: System, radius: float):
    """Candidate-cell offsets around the ion and a mask of tracked cells (for ``all_sites_interact``)."""
    lattice = system.lattice
    vectors = np.asarray(lattice.primitive_vectors, dtype=float)
    pinv = np.linalg.pinv(vectors)  # (dim, 3)
    reach = [int(math.ceil(radius * np.linalg.norm(pinv[i]))) + 1 for i in range(lattice.dim)]
    axes = [np.arange(-r, r + 2) for r in reach]
    offsets = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, lattice.dim)
    cells = system.site_cells
    lo = cells.min(axis=0) - 1
    hi = cells.max(axis=0) + 1
    shape = tuple(int(s) for s in (hi - lo + 1))
    mask = np.zeros(shape, dtype=bool)
    mask[tuple((cells - lo).T)] = True
    return pinv, vectors, offsets, mask.reshape(-1), lo, shape


def build_physics(system: System, line, bias, radius: float, all_sites_interact: bool) -> Physics:
    """The forces of one run: ``line`` (``(ions, 3)`` unit vectors, or ``None`` for free ions) and ``bias``
    (``(ions, 3)``, validated), the coverage check of ``all_sites_interact`` out to ``radius``."""
    if all_sites_interact and system.lattice.atoms > 1:
        raise ValueError(
            "all_sites_interact (every lattice site interacts: paper 2's chain) is for Bravais lattices; on a crystal "
            "with a basis list the interacting sites (cell ..., atom) in system.sites."
        )
    pinv, vectors, offsets, mask, mask_lo, mask_shape = _coverage_setup(system, radius)
    constrained = line is not None
    return Physics(
        potentials=tuple(system.potentials),
        groups=tuple(system.site_groups),
        polarisation=jnp.asarray(system.lattice.polarisation_matrix),
        mass_ratio=jnp.asarray(system.mass_ratio, float),
        line=jnp.asarray(line if constrained else jnp.tile(jnp.array([0.0, 0.0, 1.0]), (bias.shape[0], 1))),
        bias=jnp.asarray(bias),
        pinv=jnp.asarray(pinv),
        vectors=jnp.asarray(vectors),
        cand_offsets=jnp.asarray(offsets),
        mask=jnp.asarray(mask),
        mask_lo=jnp.asarray(mask_lo),
        mask_shape=mask_shape,
        constrained=constrained,
        check_untracked=bool(all_sites_interact),
    )


@eqx.filter_jit
def _untracked_energy(physics: Physics, sigma):
    return physics.untracked_energy(sigma)


def check_start_covered(physics: Physics, positions, cover: Coverage, tolerance: float) -> None:
    """``ValueError`` (bad input, before the run) when an ion *starts* within range of untracked sites."""
    if not physics.check_untracked:
        return
    start_leak = float(_untracked_energy(physics, jnp.asarray(positions)))
    if start_leak > cover.threshold:
        raise ValueError(
            "ion_position lies within interaction range of lattice sites that are not in system.sites "
            f"(|φ| = {start_leak:.3g} > {tolerance:g} × {cover.scale:.3g}); track those sites (system.sites)."
        )
