"""Numerical constants of the dimensionless units (paper 1, Sec. II; ``shared/NOTES.md``).

Time is measured in periods ``2π/Ω``, so a free mode evolves as ``exp(2πiωτ)`` and the equations of motion
carry ``4π²``: ``(μ/4π²) σ'' = −∇_σΦ`` (1.3), kinetic energy ``μσ'²/(8π²)``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["TWO_PI", "FOUR_PI_SQ"]

TWO_PI = 2.0 * np.pi
FOUR_PI_SQ = 4.0 * np.pi**2
