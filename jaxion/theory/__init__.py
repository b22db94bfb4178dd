"""Loss predictions without a trajectory: closed forms and mode sums.

- Paper 1 chain closed forms (1.14)–(1.17): :mod:`jaxion.theory.chain`.
- Brillouin-zone mode sums for any lattice, (1.11), (1.13): :mod:`jaxion.theory.modes`.
- The low-speed theory, (1.23) and (1.29): :mod:`jaxion.theory.low_speed`.
- Paper 2 (chain moving along itself), (2.15), (2.16), (2.25)–(2.28), (2.33), Fig. 9: :mod:`jaxion.theory.paper2`.
- Hop rates and diffusion at finite temperature (transition-state theory, Kramers, Mel'nikov–Meshkov,
  Lifson–Jackson): :mod:`jaxion.theory.rates`.

The response kernels (2.13)/(1.10) of the memory engine are in :mod:`jaxion.kernels`.
"""

from . import chain as chain, low_speed as low_speed, modes as modes, paper2 as paper2, rates as rates
from .chain import (
    chain_loss_closed_form as chain_loss_closed_form,
    chain_loss_fast as chain_loss_fast,
    chain_loss_slow as chain_loss_slow,
    chain_loss_unconfined as chain_loss_unconfined,
)
from .greens import static_greens_function as static_greens_function
from .low_speed import (
    low_speed_loss as low_speed_loss,
    recoil_matrix as recoil_matrix,
)
from .modes import (
    interaction_forces as interaction_forces,
    mode_sum_loss as mode_sum_loss,
    supercell_quadrature as supercell_quadrature,
    trajectory_mode_loss as trajectory_mode_loss,
    zone_modes as zone_modes,
    zone_quadrature as zone_quadrature,
)
from .paper2 import (
    DriftVelocities as DriftVelocities,
    broadened_steady_state_loss as broadened_steady_state_loss,
    capture_speed as capture_speed,
    drift_velocities as drift_velocities,
    extremal_speed as extremal_speed,
    memory_kernel as memory_kernel,
    single_pass_loss as single_pass_loss,
    single_pass_loss_fast as single_pass_loss_fast,
    single_pass_loss_gaussian as single_pass_loss_gaussian,
    single_pass_loss_slow as single_pass_loss_slow,
    spike_speeds as spike_speeds,
    steady_state_loss as steady_state_loss,
    steady_state_roots as steady_state_roots,
    velocity_near_mass as velocity_near_mass,
)
from .rates import (
    EscapeRate as EscapeRate,
    LandscapeExtrema as LandscapeExtrema,
    depopulation_factor as depopulation_factor,
    energy_diffusion_rate as energy_diffusion_rate,
    energy_loss_per_orbit as energy_loss_per_orbit,
    friction_regime as friction_regime,
    hop_diffusion as hop_diffusion,
    kramers_rate as kramers_rate,
    landscape_extrema as landscape_extrema,
    lifson_jackson_diffusion as lifson_jackson_diffusion,
    melnikov_rate as melnikov_rate,
    transition_state_rate as transition_state_rate,
)

__all__ = [
    "chain",
    "low_speed",
    "modes",
    "paper2",
    "rates",
    "chain_loss_closed_form",
    "chain_loss_fast",
    "chain_loss_slow",
    "chain_loss_unconfined",
    "zone_quadrature",
    "supercell_quadrature",
    "zone_modes",
    "mode_sum_loss",
    "interaction_forces",
    "trajectory_mode_loss",
    "recoil_matrix",
    "low_speed_loss",
    "static_greens_function",
    "memory_kernel",
    "single_pass_loss",
    "single_pass_loss_gaussian",
    "single_pass_loss_fast",
    "single_pass_loss_slow",
    "steady_state_roots",
    "steady_state_loss",
    "spike_speeds",
    "DriftVelocities",
    "drift_velocities",
    "velocity_near_mass",
    "capture_speed",
    "extremal_speed",
    "broadened_steady_state_loss",
    "LandscapeExtrema",
    "EscapeRate",
    "landscape_extrema",
    "transition_state_rate",
    "kramers_rate",
    "energy_loss_per_orbit",
    "energy_diffusion_rate",
    "depopulation_factor",
    "melnikov_rate",
    "friction_regime",
    "lifson_jackson_diffusion",
    "hop_diffusion",
]
