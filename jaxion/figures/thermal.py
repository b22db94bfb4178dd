"""Finite temperature (paper 1's "next work"): an ion hopping along a channel of a simple-cubic crystal, from the
stochastic time-local equation (:func:`jaxion.simulate_local_thermal`), against transition-state theory, Kramers and
the Mel'nikov–Meshkov turnover rate (:mod:`jaxion.theory.rates`) with the softened landscape and drag of (1.26).

The channel: the line of cube centres ``(α/2, α/2, z)`` of paper 1's simple-cubic lattice (``k1 = 15``, ``k2 = 5``,
``α = 2``); cage centres (wells) at ``z = α/2 + nα``, face centres (barriers) at ``z = nα``; every atom within
``cutoff`` of the line interacts (repulsive Gaussian), and the ion's position is reduced by whole periods
(``time_local_model(..., period=)``), so it can make any number of hops.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._constants import TWO_PI
from ..diffusion import arrhenius_fit, diffusion_einstein, hop_rate
from ..dynamics.local import time_local_model
from ..dynamics.local_thermal import simulate_local_thermal
from ..dynamics.thermal import ThermalBath
from ..lattice import simple_cubic
from ..plot import PALETTE
from ..potential import Gaussian
from ..system import System, channel_sites
from ..theory.rates import friction_regime, kramers_rate, landscape_extrema, melnikov_rate, transition_state_rate
from ._registry import FigureRun, figure, subplots

PERIOD = 2.0
LINE = np.array([0.0, 0.0, 1.0])
POINT = np.array([1.0, 1.0, 0.0])


def channel_model(mass_ratio: float = 0.05, strength: float = 4.0, width: float = 0.5, cutoff: float = 2.5):
    """The time-local model (1.26) of an ion in the cube-centre channel (module notes)."""
    lattice = simple_cubic()
    period = PERIOD * LINE
    system = System(lattice, Gaussian(strength, width), channel_sites(lattice, POINT, period, cutoff), mass_ratio=mass_ratio)
    return time_local_model(system, period=period)


def line_functions(model):
    """``U(z)`` and ``Γ_zz(z)`` along the channel: the softened landscape and the drag of (1.26)."""

    def at(z):
        return jnp.asarray(POINT) + z * jnp.asarray(LINE)

    return (lambda z: model.forces(at(z))[2]), (lambda z: model.forces(at(z))[1][2, 2])


def hop_ensemble(model, temperature: float, members: int, duration: float, *, key, save_every: float = 0.05,
                 equilibrate: float = 10.0, dwell: float = 0.0):
    """Counted hop rate and Einstein diffusion coefficient along the channel at one temperature: members start in a
    well with Maxwell velocities, run ``equilibrate`` first (discarded), then ``duration``."""
    mu = float(model.system.mass_ratio)
    start_key, noise_key = jax.random.split(key)
    well = POINT + 0.5 * PERIOD * LINE
    velocities = TWO_PI * np.sqrt(temperature / mu) * np.asarray(jax.random.normal(start_key, (members,)))[:, None] * LINE
    positions = np.tile(well, (members, 1))
    total = equilibrate + duration
    times = jnp.arange(int(round(total / save_every)) + 1) * save_every
    result = simulate_local_thermal(model, positions, velocities, float(times[-1]), save_times=times, constraint=LINE,
                                    thermal=ThermalBath(temperature, noise_key, quantum=False))
    keep = int(round(equilibrate / save_every))
    z = np.asarray(result.ion_positions)[:, keep:, 2]
    rate = hop_rate(z, PERIOD, save_every, origin=well[2], dwell=dwell)
    diffusion = diffusion_einstein(np.asarray(result.ion_positions)[:, keep:], save_every)
    return rate, diffusion, result


@figure("thermal-diffusion", paper=1, number="thermal", title="hop rate and diffusion of an ion in a channel against 1/T")
def thermal_diffusion(run: FigureRun) -> dict:
    """Hop rate and ``D`` against ``1/T`` (simple-cubic channel, μ = 0.05, Φ0 = 4, λ = 0.5): counted from the
    stochastic time-local engine, and TST, Kramers and Mel'nikov–Meshkov (lines), with an Arrhenius fit."""
    model = channel_model()
    mu = float(model.system.mass_ratio)
    potential, drag = line_functions(model)
    extrema = landscape_extrema(potential, PERIOD, mu)
    barrier = float(extrema.barrier_height)
    ratios = np.array([3.0, 4.0, 5.0, 6.0] if run.quick else [3.0, 4.0, 5.0, 6.0, 7.0, 8.0])
    temperatures = barrier / ratios
    members, duration = (128, 100.0) if run.quick else (512, 400.0)
    keys = jax.random.split(jax.random.key(2026), len(temperatures))
    rates, rate_errors, diffusions, diffusion_errors = [], [], [], []
    for temperature, key in zip(temperatures, keys):
        # an escape counts once the ion has settled for two oscillation periods in a new cage (a flight over several
        # barriers is one escape, as the rate theories count it)
        rate, diffusion, _ = hop_ensemble(model, float(temperature), members, duration, key=key,
                                          dwell=2 * TWO_PI / float(extrema.well_frequency))
        rates.append(float(rate.value))
        rate_errors.append(float(rate.error))
        diffusions.append(float(diffusion.tensor[2, 2]))
        diffusion_errors.append(float(diffusion.error[2, 2]))
        if run.progress:
            print(f"  T = {temperature:.4f} (ΔU/T = {barrier / temperature:.1f}): {rate.hops} hops, "
                  f"k = {rate.value:.4g} ± {rate.error:.2g} per τ", flush=True)
    rates, rate_errors = np.array(rates), np.array(rate_errors)
    diffusions, diffusion_errors = np.array(diffusions), np.array(diffusion_errors)
    well, top = float(extrema.well), float(extrema.barrier)

    def theory(function, temperature, **kw):
        return float(function(potential, *kw.pop("args", ()), PERIOD, temperature, mu, well=well, barrier=top).total)

    dense = np.linspace(temperatures.min() * 0.9, temperatures.max() * 1.1, 40)
    tst = np.array([theory(transition_state_rate, t) for t in dense])
    kramers = np.array([theory(kramers_rate, t, args=(drag,)) for t in dense])
    melnikov = np.array([theory(melnikov_rate, t, args=(drag,)) for t in dense])
    melnikov_at = np.array([theory(melnikov_rate, t, args=(drag,)) for t in temperatures])
    regimes = [str(friction_regime(potential, drag, PERIOD, float(t), mu, well=well, barrier=top)) for t in temperatures]
    fit = arrhenius_fit(temperatures, rates, rate_errors)
    theory_fit = arrhenius_fit(temperatures, melnikov_at)
    # at low friction k ∝ δ e^{−ΔU/T} with δ ∝ 1/T: the plain Arrhenius slope is ΔU − T; k·T removes the prefactor's T
    scaled_fit = arrhenius_fit(temperatures, rates * temperatures, rate_errors * temperatures)

    fig, (left, right) = subplots(1, 2, figsize=(11, 4.6))
    inverse = 1 / temperatures
    left.errorbar(inverse, rates, yerr=rate_errors, fmt="o", color=PALETTE[0], ms=5, capsize=2,
                  label="stochastic time-local (1.26) + 2TΓ noise: counted escapes")
    left.plot(1 / dense, tst, "--", color=PALETTE[7], lw=1, label="transition-state theory (ω₀/π) e^{−ΔU/T}")
    left.plot(1 / dense, kramers, ":", color=PALETTE[1], lw=1.3, label="Kramers (spatial diffusion)")
    left.plot(1 / dense, melnikov, "-", color=PALETTE[2], lw=1.5, label="Mel'nikov–Meshkov A(δ) × Kramers")
    left.plot(1 / dense, fit(dense), "-", color=PALETTE[0], lw=0.8, alpha=0.6,
              label=f"Arrhenius fit: E_a = {fit.activation_energy:.3f} ± {fit.activation_energy_error:.3f}")
    left.set_yscale("log")
    left.set_xlabel("1/T (T in units of ħΩ)")
    left.set_ylabel("hop rate out of a cage, both directions (per τ)")
    left.set_title(f"softened barrier ΔU = {barrier:.3f} ħΩ; friction regime: {', '.join(sorted(set(regimes)))}", fontsize=9)
    left.legend(fontsize=7, loc="lower left")
    right.errorbar(inverse, diffusions, yerr=diffusion_errors, fmt="s", color=PALETTE[0], ms=5, capsize=2,
                   label="Einstein ⟨Δz²⟩/2t (time-local + noise)")
    right.plot(inverse, rates * PERIOD**2 / 2, "o", mfc="none", color=PALETTE[3], ms=6, label="counted escapes × α²/2")
    right.plot(1 / dense, melnikov * PERIOD**2 / 2, "-", color=PALETTE[2], lw=1.5, label="Mel'nikov–Meshkov × α²/2")
    right.set_yscale("log")
    right.set_xlabel("1/T (T in units of ħΩ)")
    right.set_ylabel("diffusion coefficient D_zz (l² per τ)")
    right.set_title("long jumps at low friction make D exceed k α²/2", fontsize=9)
    right.legend(fontsize=7, loc="lower left")
    fig.suptitle(f"Ion in a simple-cubic channel (μ = {mu:g}, Φ0 = 4, λ = 0.5): hops from thermal noise", fontsize=10)

    ratio = rates / melnikov_at
    ratio_error = rate_errors / melnikov_at
    summary = (
        f"counted hop rate / Mel'nikov–Meshkov = {', '.join(f'{r:.2f}±{e:.2f}' for r, e in zip(ratio, ratio_error))} at "
        f"ΔU/T = {', '.join(f'{x:g}' for x in ratios)} ({', '.join(regimes)}); Arrhenius E_a = "
        f"{fit.activation_energy:.3f}±{fit.activation_energy_error:.3f} (Mel'nikov rates fitted alike: "
        f"{theory_fit.activation_energy:.3f}); fit of k·T (energy-diffusion prefactor ∝ 1/T removed): "
        f"{scaled_fit.activation_energy:.3f}±{scaled_fit.activation_energy_error:.3f} vs the softened barrier {barrier:.3f}"
    )
    data = {"temperatures": temperatures, "rates": rates, "rate_errors": rate_errors, "diffusion": diffusions,
            "diffusion_errors": diffusion_errors, "melnikov": melnikov_at, "dense_temperatures": dense, "tst": tst,
            "kramers": kramers, "melnikov_dense": melnikov}
    parameters: dict[str, Any] = {"mass_ratio": mu, "strength": 4.0, "width": 0.5, "cutoff": 2.5, "period": PERIOD,
                                  "members": members, "duration": duration, "barrier": barrier,
                                  "activation_energy": float(fit.activation_energy),
                                  "activation_energy_error": float(fit.activation_energy_error),
                                  "activation_energy_k_times_t": float(scaled_fit.activation_energy),
                                  "activation_energy_k_times_t_error": float(scaled_fit.activation_energy_error),
                                  "regimes": regimes}
    return {"figure": fig, "data": data, "parameters": parameters, "summary": summary}
