"""``method="blocked"``: the kernel (2.13) written as its zone quadrature, evaluated in blocks of ``B`` steps.

Each zone-grid node ``q`` and branch ``u`` is a driven oscillator (paper 2, (2.12)–(2.13)):

- *far field* — everything the forces before the block left in the lattice. Each mode carries a complex
  amplitude ``A_μ = δ Σ_m w_m e^{2πiω_μ(t−τ_m)} p_μ(m)`` (``p_μ`` the force projected on the mode, ``w_m`` the
  trapezoid weights of (A1)), so that ``ρ_a(t) = −2π Σ_μ (w_q/ω_μ) C_aμ Im A_μ(t)`` (``C_aμ`` =
  ``cos/sin(q·n_a) η_u``). Inside the block the amplitudes only rotate, ``A_μ(t_k + s) = e^{2πiω_μ s} A_μ(t_k)``,
  and the displacement of the block's sites is read out for all ``B`` steps at once. The time dependence is
  separated by interpolating ``e^{2πi(ω−ω̄)y}`` in ``ω`` at ``n`` Chebyshev nodes of the band
  (:mod:`._chebyshev`, exact to ~1e-14), which turns the read-out and the update ``A ← e^{2πiωBδ}A + ΔA`` of all
  modes into two ``(modes × n)`` matrix products per block;
- *near field* — the forces inside the block, by the direct sum (A1) with the table for lags ``1 … B``.

Only the *window* of sites the ion can touch during a block enters (``P_w`` components): cost per step
``O(B P_w²)`` (near) + ``O(modes · n · P_w / B)`` (far). A thermal bath starts the far-field amplitudes at its
values, so the same rotation carries the ion's wake and the thermal motion (2.12).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from ..._constants import TWO_PI
from ...kernels import kernel_by_differences, site_differences
from ...system import System
from ._chebyshev import barycentric_matrix, chebyshev_nodes, frequency_band
from ._physics import Leaks, Physics, update_leaks
from ._plan import MemoryPlan
from ._runs import Ions, Records, reversed_layout, run_cores

__all__ = ["run_blocked"]

_UNROLL = 1  # inner time-step loop unrolling (XLA CPU)


class _Modes(eqx.Module):
    """Zone-grid modes ``(q, u)`` for the far field and the matrices of the block algorithm."""

    nodes: Array  # (J', dim)
    eta: Array  # (J', dof, dof)  eta[q, d, u]
    coef_re: Array  # (J', dof)  w_q/ω e^{2πiν T_B/2}
    coef_im: Array
    half_re: Array  # (J', dof)  e^{2πiν T_B/2}
    half_im: Array
    rot_re: Array  # (J', dof)  e^{2πiω T_B}
    rot_im: Array
    ell: Array  # (J'·dof, n) Lagrange basis at ν
    ell_t: Array  # (n, J'·dof) its transpose (contiguous)
    z_re: Array  # (B+1, n)
    z_im: Array
    q_re: Array  # (n, B)
    q_im: Array
    off_cos: Array  # (J', W) cos(q·(n_j − n_0)) for the window's offsets
    off_sin: Array


def _build_modes(plan: MemoryPlan, offsets: np.ndarray) -> _Modes:
    """The far-field matrices of the plan's zone modes, block and Chebyshev nodes, for a window of sites at
    ``offsets`` (cells relative to the window's first site)."""
    grid, dt, block, n = plan.modes, plan.dt, plan.block_steps, plan.chebyshev_nodes
    assert grid is not None and grid.weights is not None  # a blocked plan holds its zone modes (a quadrature)
    nodes, weights, eta = (np.asarray(a) for a in (grid.nodes, grid.weights, grid.channel_displacements))
    off_phase = nodes @ np.asarray(offsets, dtype=float).T  # (J', W)
    omega, centre, half_width = frequency_band(grid.omega)
    block_time = block * dt
    t_nodes = chebyshev_nodes(n)
    nu_nodes = half_width * t_nodes
    nu = (omega - centre).reshape(-1)
    ell = barycentric_matrix(nu / half_width, t_nodes)  # (J'·dof, n)
    half = np.exp(1j * TWO_PI * (omega - centre) * block_time / 2.0)
    coef = weights[:, None] / omega * half
    rot = np.exp(1j * TWO_PI * omega * block_time)
    s = dt * np.arange(block + 1)
    z = np.exp(1j * TWO_PI * (centre * s[:, None] + nu_nodes[None, :] * (s[:, None] - block_time / 2.0)))
    s_src = dt * np.arange(block)
    qm = dt * np.exp(1j * TWO_PI * (centre * (block_time - s_src[None, :]) + nu_nodes[:, None] * (block_time / 2.0 - s_src[None, :])))
    return _Modes(
        nodes=jnp.asarray(nodes),
        eta=jnp.asarray(eta),
        coef_re=jnp.asarray(np.real(coef)),
        coef_im=jnp.asarray(np.imag(coef)),
        half_re=jnp.asarray(np.real(half)),
        half_im=jnp.asarray(np.imag(half)),
        rot_re=jnp.asarray(np.real(rot)),
        rot_im=jnp.asarray(np.imag(rot)),
        ell=jnp.asarray(ell),
        ell_t=jnp.asarray(np.ascontiguousarray(ell.T)),
        z_re=jnp.asarray(np.real(z)),
        z_im=jnp.asarray(np.imag(z)),
        q_re=jnp.asarray(np.real(qm)),
        q_im=jnp.asarray(np.imag(qm)),
        off_cos=jnp.asarray(np.cos(off_phase)),
        off_sin=jnp.asarray(np.sin(off_phase)),
    )


@eqx.filter_jit
def _blocked_core(
    physics, modes, sigma, vel, cells, positions, coords, near, dt, num_blocks: int, block: int, tail: int, window: int,
    dof: int, record_full: tuple, record_tail: tuple, windowed: bool, leak_tol, radius, block_time, amp0=None,
):
    """``amp0``: ``None`` (framework at rest at τ = 0) or the initial far-field mode amplitudes
    ``(re, im)``, each ``(J', dof, 2)``, of a homogeneous (thermal) motion."""
    num_sites = positions.shape[0]
    wd = window * dof
    jq = modes.nodes.shape[0]

    def window_start(sigma, vel):
        if not windowed:
            return jnp.zeros((), int)
        direction = (positions[-1] - positions[0]) / jnp.linalg.norm(positions[-1] - positions[0])
        xi = sigma @ direction
        ahead = xi + 1.5 * (vel @ direction) * block_time
        lo = jnp.min(jnp.minimum(xi, ahead)) - radius
        hi = jnp.max(jnp.maximum(xi, ahead)) + radius
        first = jnp.searchsorted(coords, lo, side="left")
        last = jnp.searchsorted(coords, hi, side="right")
        start = first - jnp.maximum(0, (window - (last - first)) // 2)
        return jnp.clip(start, 0, num_sites - window).astype(int)

    def run_block(carry, length: int, record_index: tuple, update: bool):
        sigma, vel, amp_re, amp_im, work, k, leak_w, first_w, leak_u, first_u, _, _, _ = carry
        start = window_start(sigma, vel)
        pos_w = jax.lax.dynamic_slice_in_dim(positions, start, window, axis=0)
        # cos/sin(q·n_a) for the window's sites n_a = n_start + (n_j − n_0): one sincos per node
        base = modes.nodes @ cells[start].astype(float)  # (J',)
        cb, sb = jnp.cos(base)[:, None], jnp.sin(base)[:, None]
        cos_p = cb * modes.off_cos - sb * modes.off_sin  # (J', W)
        sin_p = sb * modes.off_cos + cb * modes.off_sin
        # ---- far field: read out every step of the block from the mode amplitudes at its start
        #      (real arithmetic: amp_re/amp_im are (J', u, c) with c = cos, sin)
        coef_re, coef_im = modes.coef_re[:, :, None], modes.coef_im[:, :, None]
        x_re = coef_re * amp_re - coef_im * amp_im
        x_im = coef_re * amp_im + coef_im * amp_re
        eta_t = jnp.transpose(modes.eta, (0, 2, 1))[:, :, None, :]  # (J', u, 1, d)
        mix_re = cos_p[:, None, :] * x_re[:, :, 0:1] + sin_p[:, None, :] * x_re[:, :, 1:2]  # Σ_c trig_c X_c: (J', u, W)
        mix_im = cos_p[:, None, :] * x_im[:, :, 0:1] + sin_p[:, None, :] * x_im[:, :, 1:2]
        s_mat = jnp.concatenate(
            [(mix_re[..., None] * eta_t).reshape(jq * dof, wd), (mix_im[..., None] * eta_t).reshape(jq * dof, wd)], axis=1
        )
        y = modes.ell_t @ s_mat  # (n, 2wd)
        far = -TWO_PI * (modes.z_re @ y[:, wd:] + modes.z_im @ y[:, :wd])  # (B+1, wd)
        rho0 = far[0].reshape(window, dof)
        phi0, acc0, g0 = physics.forces(sigma, rho0, pos_w)
        neighbours = jnp.stack([positions[jnp.maximum(start - 1, 0)], positions[jnp.minimum(start + window, num_sites - 1)]])
        has = jnp.stack([start > 0, start + window < num_sites])

        def step(inner, r):
            sigma, vel, acc, g, rho, phi, work, hist = inner
            n_global = k * block + r
            record = (sigma, vel, phi, work, rho.reshape(-1))
            sigma1 = sigma + dt * vel + 0.5 * dt * dt * acc
            hist = hist.at[r].set(jnp.where(n_global == 0, 0.5, 1.0) * g.reshape(-1))
            near_part = jax.lax.dynamic_slice(near, (0, (block - r - 1) * wd), (wd, block * wd)) @ hist.reshape(-1)
            rho1 = (far[r + 1] + near_part).reshape(window, dof)
            phi1, acc1, g1 = physics.forces(sigma1, rho1, pos_w)
            vel1 = vel + 0.5 * dt * (acc + acc1)
            work1 = work - 0.5 * jnp.sum((g + g1) * (rho1 - rho))
            return (sigma1, vel1, acc1, g1, rho1, phi1, work1, hist), (record, sigma1)

        inner0 = (sigma, vel, acc0, g0, rho0, phi0, work, jnp.zeros((block, wd)))
        inner, (records, sigmas) = jax.lax.scan(step, inner0, jnp.arange(length), unroll=_UNROLL)
        sigma, vel, _, _, rho, phi, work, hist = inner
        leak_w, first_w, leak_u, first_u = update_leaks(
            physics, sigmas, k * block + 1, Leaks(leak_w, first_w, leak_u, first_u), leak_tol,
            neighbours if windowed else None, has,
        )
        if update:
            # ---- fold the block's forces into the mode amplitudes: A ← e^{2πiωT_B} A + ΔA
            lh = modes.ell @ jnp.concatenate([modes.q_re @ hist, modes.q_im @ hist], axis=1)  # (J'·u, 2wd)
            p_re = jnp.einsum("quad,qdu->qua", lh[:, :wd].reshape(jq, dof, window, dof), modes.eta)
            p_im = jnp.einsum("quad,qdu->qua", lh[:, wd:].reshape(jq, dof, window, dof), modes.eta)
            d_re = jnp.stack([jnp.sum(p_re * cos_p[:, None, :], -1), jnp.sum(p_re * sin_p[:, None, :], -1)], axis=-1)
            d_im = jnp.stack([jnp.sum(p_im * cos_p[:, None, :], -1), jnp.sum(p_im * sin_p[:, None, :], -1)], axis=-1)
            rot_re, rot_im = modes.rot_re[:, :, None], modes.rot_im[:, :, None]
            half_re, half_im = modes.half_re[:, :, None], modes.half_im[:, :, None]
            amp_re, amp_im = (
                rot_re * amp_re - rot_im * amp_im + half_re * d_re - half_im * d_im,
                rot_re * amp_im + rot_im * amp_re + half_re * d_im + half_im * d_re,
            )
        picked = jax.tree_util.tree_map(lambda a: a[jnp.asarray(record_index)], records)
        picked = picked + (jnp.full((len(record_index),), start),)
        carry = (sigma, vel, amp_re, amp_im, work, k + 1, leak_w, first_w, leak_u, first_u, rho.reshape(-1), phi, start)
        return carry, picked

    amp_re0, amp_im0 = (jnp.zeros((jq, dof, 2)), jnp.zeros((jq, dof, 2))) if amp0 is None else amp0
    carry = (
        sigma, vel, amp_re0, amp_im0, jnp.zeros(()), jnp.zeros((), int),
        jnp.zeros(()), -jnp.ones((), int), jnp.zeros(()), -jnp.ones((), int),
        jnp.zeros(wd), jnp.zeros(()), jnp.zeros((), int),
    )
    parts = []
    if num_blocks > 0:
        carry, records = jax.lax.scan(lambda c, _: run_block(c, block, record_full, True), carry, None, length=num_blocks)
        parts.append(jax.tree_util.tree_map(lambda a: a.reshape((-1,) + a.shape[2:]), records))
    if tail > 0:
        carry, records = run_block(carry, tail, record_tail, False)
        parts.append(records)
    sigma, vel, _, _, work, k, leak_w, first_w, leak_u, first_u, rho, phi, start = carry
    parts.append(jax.tree_util.tree_map(lambda f: jnp.asarray(f)[None], (sigma, vel, phi, work, rho, start)))
    positions, velocities, phis, works, rhos, starts = jax.tree_util.tree_map(lambda *a: jnp.concatenate(a), *parts)
    return Records(positions, velocities, phis, works, rhos, starts, Leaks(leak_w, first_w, leak_u, first_u))


def _thermal_amplitudes(zs, omega, weights):
    """Far-field amplitudes ``A`` of a free motion ``Σ sqrt(w) trig η Re[Z e^{2πiωτ}]``: the far field reads
    ``ρ = −2π Σ (w/ω) C Im[A e^{2πiωτ}]``, so ``A = −i Z ω/(2π sqrt(w))``."""
    factor = np.asarray(omega)[..., None] / (TWO_PI * np.sqrt(np.asarray(weights)))[:, None, None]
    amps = -1j * zs * factor
    return jnp.real(amps), jnp.imag(amps)


def _near_table(plan: MemoryPlan, lattice, cells: np.ndarray) -> np.ndarray:
    """``−2πδ Γ(lδ)``, ``l = 1 … B``, between ``cells`` (the plan's zone modes): ``(B, P, P)``, ``P = S·dof``."""
    unique, inverse = site_differences(cells)
    lags, dt = plan.block_steps, plan.dt
    by_diff = kernel_by_differences(lattice, unique, dt * np.arange(1, lags + 1), plan.points_per_axis, modes=plan.modes)
    table = by_diff[:, inverse]  # (L, S, S, dof, dof)
    s, dof = len(cells), plan.dof
    table = np.transpose(table, (0, 1, 3, 2, 4)).reshape(lags, s * dof, s * dof)
    return -TWO_PI * dt * table


def _record_indices(plan: MemoryPlan):
    """Rows the core keeps in a full block and in the last, short one, and the stride over block starts
    when the recording stride is longer than a block (the block divides it)."""
    block, stride = plan.block_steps, plan.stride
    tail = plan.num_steps % block
    if stride <= block:
        return tuple(range(0, block, stride)), tuple(range(0, tail, stride)), 1
    return (0,), tuple(range(0, tail, block)), stride // block


def run_blocked(plan: MemoryPlan, physics: Physics, ions: Ions, system: System) -> Records:
    """Every run of the plan (one, a thermal ensemble, or a batch) with the blocked convolution."""
    cells = system.site_cells
    num_sites, window, block = plan.num_sites, plan.window, plan.block_steps
    modes = _build_modes(plan, cells[:window] - cells[0])
    near = reversed_layout(_near_table(plan, system.lattice, cells[:window]), circular=False)
    # The last block is cut short when ``block`` does not divide the run (its forces need no mode update).
    num_blocks, tail = divmod(plan.num_steps, block)
    record_full, record_tail, stride = _record_indices(plan)
    coords = plan.coords if plan.coords is not None else np.zeros(num_sites)
    after = (
        jnp.asarray(cells), jnp.asarray(system.site_positions()), jnp.asarray(coords), jnp.asarray(near), jnp.asarray(plan.dt),
        num_blocks, block, tail, window, plan.dof, record_full, record_tail, plan.windowed, jnp.asarray(plan.threshold),
        jnp.asarray(plan.radius), jnp.asarray(block * plan.dt),
    )
    thermal = None
    if plan.thermal_amplitudes is not None:
        assert plan.modes is not None  # a blocked plan holds its zone modes
        thermal = (_thermal_amplitudes(plan.thermal_amplitudes, plan.modes.omega, plan.modes.weights), lambda amp: amp)
    records = run_cores(_blocked_core, (physics, modes), after, ions, thermal)
    if stride == 1:
        return records
    rows = records.positions.shape[1]
    keep = np.concatenate([np.arange(0, rows - 1, stride), [rows - 1]])
    return records._replace(**{name: getattr(records, name)[:, keep] for name in Records._fields if name != "leaks"})
