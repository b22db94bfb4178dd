"""Engines that integrate the ion's motion: the full dynamics (1.3)–(1.4), the memory kernel (2.12)–(2.14),
the time-local equation (1.26), resumable runs and the thermal bath. What they share is in ``_common``."""

from ._common import (
    STATUS_MESSAGES as STATUS_MESSAGES,
    AbstractResult as AbstractResult,
    EchoWarning as EchoWarning,
    SimulationError as SimulationError,
)
from ._framework import FullState as FullState, total_energy as total_energy
from ._verlet import verlet_time_step as verlet_time_step
from .full import FullResult as FullResult, simulate as simulate, simulate_pass as simulate_pass
