"""Engines that integrate the ion's motion."""

from .full import EchoWarning, FullState, SimulationResult, simulate, simulate_pass, total_energy

__all__ = ["EchoWarning", "FullState", "SimulationResult", "simulate", "simulate_pass", "total_energy"]
