"""``method="fft"``: the quadratic sum of ``"direct"`` ((A1) of paper 2's Appendix) regrouped, exactly.

Same table ``−2πδ Γ(lδ)`` (2.13), same trapezoid weights: the two agree to ~1e-13. The strictly-lower-triangular
(output step × input step) plane is cut into blocks of ``B`` steps; the diagonal blocks are summed directly (lags
``1 … B``), and the rest is tiled by the dyadic squares "inputs ``[jB − sB, jB)`` → outputs ``[jB, jB + sB)``"
for ``s = 1, 2, 4, …`` and ``j ≡ s (mod 2s)``. Each square is one Toeplitz product, done by real FFTs of length
``2sB`` against a per-level kernel spectrum computed once, when its inputs are complete and before its first
output is needed. Cost ``O(T log² T · P²)`` for ``T`` steps instead of ``O(T² P²)``, memory ``O(T P²)`` for the
spectra: the choice for 3D runs on long, exact, binned kernels (paper 1's Fig. 6 on the infinite lattice).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ...system import System
from ._direct import table_records, thermal_motion_arg
from ._physics import Physics, no_leaks, update_leaks
from ._plan import MemoryPlan
from ._runs import Ions, Records, run_cores

__all__ = ["run_fft"]


def _fft_levels(total_steps: int, block: int) -> tuple[int, int]:
    """Number of blocks and of dyadic levels: squares of ``2^ℓ`` blocks for ``2^ℓ < blocks``."""
    blocks = -(-int(total_steps) // int(block))
    levels = max(1, int(blocks - 1).bit_length()) if blocks > 1 else 0
    return blocks, levels


def _fft_tables(table: np.ndarray, block: int):
    """Spectra of the kernel for the hierarchical convolution, and the near-field table.

    ``table``: ``K[l]``, ``l = 1 … L`` (``(L, P, P)``, already ``−2πδΓ``). For level ``ℓ`` (``s = 2^ℓ``
    blocks, ``n = sB`` steps) the square ``inputs [jB − n, jB) → outputs [jB, jB + n)`` involves lags
    ``2 … 2n``: its kernel is ``K'[v] = K[v + 1]`` (``v = 1 … 2n − 1``, zero past ``L``), transformed with a
    real FFT of length ``2n``. The near field (the current block) uses ``K[B − r]``, ``r = 0 … B − 1``."""
    lags, p, _ = table.shape
    blocks, levels = _fft_levels(lags, block)
    padded = np.zeros((2 * block * (1 << max(levels - 1, 0)) + 2, p, p))
    padded[1 : lags + 1] = table[: len(padded) - 1]  # padded[l] = K[l]
    spectra = []
    for level in range(levels):
        n = block << level
        shifted = np.zeros((2 * n, p, p))
        shifted[1 : 2 * n] = padded[2 : 2 * n + 1]  # K'[v] = K[v + 1]
        spectra.append(jnp.asarray(np.fft.rfft(shifted, axis=0)))
    near = np.zeros((block, p, p))
    upto = min(block, lags)
    near[block - upto :] = table[:upto][::-1]  # near[r] = K[B − r]
    return tuple(spectra), jnp.asarray(near)


@eqx.filter_jit
def _fft_core(physics, sigma, vel, positions, spectra, near, dt, total_steps: int, block: int, dof: int, leak_tol, stride: int,
              hom=None):
    """The trapezoid convolution of the direct method, reorganised (exact, to rounding) as near field +
    dyadic squares (module notes). Computes every step and keeps every ``stride``-th (and the last)."""
    num_sites = positions.shape[0]
    p = num_sites * dof
    blocks, levels = _fft_levels(total_steps, block)
    steps = blocks * block
    longest = block << max(levels - 1, 0)
    rho0 = jnp.zeros((num_sites, dof)) if hom is None else hom[0]
    phi0, acc0, g0 = physics.forces(sigma, rho0, positions)
    history = jnp.zeros((steps, p))
    far = jnp.zeros((steps + longest, p))

    def square(level, j, far, history):
        n = block << level
        x = jax.lax.dynamic_slice(history, ((j - (1 << level)) * block, 0), (n, p))
        spectrum = jnp.einsum("fpq,fq->fp", spectra[level], jnp.fft.rfft(x, n=2 * n, axis=0))
        y = jnp.fft.irfft(spectrum, n=2 * n, axis=0)[n:]
        start = (j * block, 0)
        return jax.lax.dynamic_update_slice(far, jax.lax.dynamic_slice(far, start, (n, p)) + y, start)

    def run_block(carry, j):
        sigma, vel, acc, g, rho, phi, work, history, far = carry
        for level in range(levels):  # the squares whose inputs ended with the previous block
            s = 1 << level
            far = jax.lax.cond((j >= s) & (j % (2 * s) == s), lambda f, lv=level: square(lv, j, f, history), lambda f: f, far)
        local = jnp.zeros((2 * block, p))  # rows B + i: this block's forces

        def step(carry, t):
            sigma, vel, acc, g, rho, phi, work, history, local = carry
            n = j * block + t
            weighted = jnp.where(n == 0, 0.5, 1.0) * g.reshape(-1)
            history = jax.lax.dynamic_update_slice(history, weighted[None], (n, 0))
            local = jax.lax.dynamic_update_slice(local, weighted[None], (block + t, 0))
            sigma1 = sigma + dt * vel + 0.5 * dt * dt * acc
            recent = jax.lax.dynamic_slice(local, (t + 1, 0), (block, p))
            rho1 = (far[n] + jnp.einsum("rpq,rq->p", near, recent)).reshape(num_sites, dof)
            if hom is not None:
                rho1 = rho1 + hom[jnp.minimum(n + 1, hom.shape[0] - 1)]
            phi1, acc1, g1 = physics.forces(sigma1, rho1, positions)
            vel1 = vel + 0.5 * dt * (acc + acc1)
            work1 = work - 0.5 * jnp.sum((g + g1) * (rho1 - rho))
            return (sigma1, vel1, acc1, g1, rho1, phi1, work1, history, local), (sigma1, vel1, phi1, work1, rho1.reshape(-1))

        inner = (sigma, vel, acc, g, rho, phi, work, history, local)
        (sigma, vel, acc, g, rho, phi, work, history, _), records = jax.lax.scan(step, inner, jnp.arange(block))
        return (sigma, vel, acc, g, rho, phi, work, history, far), records

    carry0 = (sigma, vel, acc0, g0, rho0, phi0, jnp.zeros(()), history, far)
    _, records = jax.lax.scan(run_block, carry0, jnp.arange(blocks))
    records = jax.tree_util.tree_map(lambda r: r.reshape((steps,) + r.shape[2:])[:total_steps], records)
    first = (sigma, vel, phi0, jnp.zeros(()), rho0.reshape(-1))
    stacked = jax.tree_util.tree_map(lambda f, r: jnp.concatenate([f[None], r]), first, records)  # steps 0 … total
    leaks = update_leaks(physics, stacked[0][1:], 1, no_leaks(), leak_tol)
    return table_records(jax.tree_util.tree_map(lambda a: a[::stride], stacked), leaks)


def run_fft(plan: MemoryPlan, physics: Physics, ions: Ions, system: System) -> Records:
    """As :func:`~._direct.run_direct`, with the hierarchical FFT convolution (a truncated memory: the table is
    zero past ``plan.lags``)."""
    table = plan.table
    assert table is not None  # an fft plan holds its table
    if plan.lags < plan.num_steps:
        table = np.concatenate([table, np.zeros((plan.num_steps - plan.lags,) + table.shape[1:])])
    spectra, near = _fft_tables(table, plan.block_steps)
    after = (
        jnp.asarray(system.site_positions()), spectra, near, jnp.asarray(plan.dt), plan.num_steps, plan.block_steps, plan.dof,
        jnp.asarray(plan.threshold), plan.stride,
    )
    return run_cores(_fft_core, (physics,), after, ions, thermal_motion_arg(plan, system))
