"""What paper 2's figures share: the chain (``ω_fast = 10``, ``α = 40``), its constants, and the single pass
of the memory engine that several figures repeat."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..lattice import chain
from ..potential import Gaussian
from ..system import System
from ._registry import FigureRun

__all__ = ["OMEGA_FAST", "ALPHA", "WIDTH", "BIAS", "chain_lattice", "single_pass", "single_pass_sweep", "midpoint_speeds"]

OMEGA_FAST = 10.0
ALPHA = 40.0
WIDTH = 4.0
BIAS = 0.01
TWO_PI = 2.0 * np.pi
EIGHT_PI_SQ = 8.0 * np.pi**2
# fastest group velocity of ω² = 1 + (ω_fast² − 1) sin²(q/2), in sites per τ: exactly π(ω_fast − 1)
SOUND_SITES = np.pi * (OMEGA_FAST - 1.0)
FRONT_THRESHOLD = 0.2


def chain_lattice():
    return chain(OMEGA_FAST, spacing=ALPHA)


def progress(iterable, run: FigureRun, desc: str, total=None):
    if not run.progress:
        return iterable
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover
        return iterable
    return tqdm(iterable, desc=desc, total=total, leave=False)


def kinetic(speed):
    return np.asarray(speed) ** 2 / EIGHT_PI_SQ


def crossings(ts, z, v, level):
    """Times and speeds where ``z`` first rises through ``level`` (linear interpolation)."""
    above = z >= level
    idx = np.flatnonzero(~above[:-1] & above[1:])
    if len(idx) == 0:
        return None
    i = idx[0]
    f = (level - z[i]) / (z[i + 1] - z[i])
    return ts[i] + f * (ts[i + 1] - ts[i]), v[i] + f * (v[i + 1] - v[i])


def midpoint_speeds(ts, z, v, first_midpoint=ALPHA / 2):
    """Speeds at every forward crossing of a midpoint between masses (``first_midpoint + kα``)."""
    k = np.floor((z - first_midpoint) / ALPHA)
    step = np.flatnonzero(np.diff(k) > 0)
    times, speeds, where = [], [], []
    for i in step:
        level = first_midpoint + ALPHA * k[i + 1]
        if not (z[i] < level <= z[i + 1]):
            continue
        f = (level - z[i]) / (z[i + 1] - z[i])
        times.append(ts[i] + f * (ts[i + 1] - ts[i]))
        speeds.append(v[i] + f * (v[i + 1] - v[i]))
        where.append(level)
    return np.asarray(times), np.asarray(speeds), np.asarray(where)


# ============================================================================ single passes (memory engine)


def transit_time(amplitude, width, speed):
    """Time from one midpoint to the next past a fixed mass, from energy conservation (2.16)."""
    u = np.linspace(-ALPHA / 2, ALPHA / 2, 8001)
    phi = amplitude * np.exp(-(u**2) / (2 * width**2))
    squared = speed**2 - EIGHT_PI_SQ * (phi - phi[0])
    if np.min(squared) <= (0.05 * speed) ** 2:
        return np.inf
    return float(np.trapezoid(1.0 / np.sqrt(squared), u))


def single_pass(amplitude, width, speed, *, dt_max=1 / 600, min_steps=512, record=False) -> dict[str, Any]:
    """One pass of paper 2's protocol (Sec. V): the chain at rest, the ion midway between masses
    (``σ = −α/2``) with ``speed``; the loss is the kinetic energy at the start minus that at the next
    midpoint (``σ = +α/2``, interpolated between steps). Memory engine, direct convolution.
    Returns ``dict(loss, speed_at_mass_min, speed_at_mass_max, ...)``; ``loss = nan`` if the ion
    cannot cross (repulsive barrier above its kinetic energy)."""
    from ..dynamics.memory import simulate_memory

    transit = transit_time(amplitude, width, speed)
    if not np.isfinite(transit):
        return {"loss": np.nan, "v_min": np.nan, "v_max": np.nan}
    duration = 1.2 * transit
    steps = int(min_steps)
    while duration / steps > dt_max or speed * duration / steps > 0.25 * width:
        steps *= 2
    system = System(chain_lattice(), Gaussian(amplitude, width), np.arange(-1, 5)[:, None])
    result = simulate_memory(
        system, [0.0, 0.0, -ALPHA / 2], [0.0, 0.0, speed], duration, dt=duration / steps,
        constraint=[0, 0, 1], all_sites_interact=True, method="direct",
    )
    ts, z, v, energy_error = (np.asarray(a) for a in (result.ts, result.ion_positions[..., 2], result.ion_velocities[..., 2],
                                                       result.energy_error))
    hit = crossings(ts, z, v, ALPHA / 2)
    if hit is None:
        return {"loss": np.nan, "v_min": np.nan, "v_max": np.nan}
    t_end, v_end = hit
    inside = ts <= t_end
    out = {
        "loss": float(kinetic(speed) - kinetic(v_end)),
        "v_min": float(np.min(v[inside])),
        "v_max": float(np.max(v[inside])),
        "energy_error": float(np.max(np.abs(energy_error[inside]))),
        "steps": steps,
    }
    if record:
        at_mass = crossings(ts, z, v, 0.0)
        assert at_mass is not None  # the ion went from −α/2 past α/2, so it rose through the mass at 0
        out.update(ts=ts[inside], z=z[inside], v=v[inside], t_mass=at_mass[0])
    return out


def single_pass_sweep(run, amplitude, width, speeds, desc, **kwargs):
    rows = [single_pass(amplitude, width, float(s), **kwargs) for s in progress(speeds, run, desc)]
    return np.array([r["loss"] for r in rows]), rows


# ============================================================================ Fig. 2
