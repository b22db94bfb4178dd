"""Loss predictions without a trajectory: closed forms and mode sums.

- Paper 1 chain closed forms (1.14)–(1.17): :mod:`jaxion.theory.chain`.
- Brillouin-zone mode sums for any lattice, (1.11), (1.13), (1.23), (1.29): :mod:`jaxion.theory.modes`.
- Paper 2 (chain moving along itself), (2.15), (2.25)–(2.28), (2.33): :mod:`jaxion.theory.paper2`.
"""

from .chain import chain_loss_closed_form, chain_loss_fast, chain_loss_slow, chain_loss_unconfined
from .modes import (
    ZoneModes,
    interaction_forces,
    low_speed_loss,
    mode_sum_loss,
    recoil_matrix,
    static_greens_function,
    supercell_quadrature,
    trajectory_mode_loss,
    zone_modes,
    zone_quadrature,
)
from .paper2 import (
    DriftVelocities,
    drift_velocities,
    memory_kernel,
    single_pass_loss,
    single_pass_loss_fast,
    single_pass_loss_gaussian,
    single_pass_loss_slow,
    spike_speeds,
    steady_state_loss,
    steady_state_roots,
)

__all__ = [
    "chain_loss_closed_form",
    "chain_loss_fast",
    "chain_loss_slow",
    "chain_loss_unconfined",
    "ZoneModes",
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
]
