"""jaxion: a differentiable simulator of an ion moving through a vibrating crystal.

Importing jaxion switches JAX to float64 (``jax_enable_x64``): losses are tiny differences of
kinetic energies and need double precision. This is the only global side effect of the import.
"""

import jax

jax.config.update("jax_enable_x64", True)

from .dynamics import EchoWarning, FullState, SimulationResult, simulate, simulate_pass, total_energy  # noqa: E402
from .lattice import Lattice, bravais_lattice, chain, chain3d, simple_cubic, supercell_echo_time  # noqa: E402
from .potential import CustomPairPotential, Gaussian, PairPotential, SumOfPairPotentials  # noqa: E402
from .system import (  # noqa: E402
    PassGeometry,
    System,
    cubic_cell_sites,
    cubic_face_sites,
    line_sites,
    pass_geometry,
    single_site,
    sites_near_line,
)
from . import materials  # noqa: E402
from .dynamics.memory import MemoryResult, MemoryState, simulate_memory  # noqa: E402
from .dynamics.local import LocalResult, TimeLocalModel, simulate_local, time_local_model  # noqa: E402
from .materials import (  # noqa: E402
    DimensionlessUnits,
    GaussianLandscape,
    Material,
    christoffel,
    drag_tensor,
    energy_per_hop,
    lattice_elastic_constants,
    recoil_matrix_from_elastic,
)
from .sweep import SweepResult, sweep_passes  # noqa: E402
from .theory import *  # noqa: E402,F401,F403
from .theory.kernels import (  # noqa: E402
    ResponseKernel,
    default_points_per_axis,
    kernel_valid_time,
    precompute_kernel,
    response_kernel,
)
from .theory import __all__ as _theory_names  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "EchoWarning",
    "FullState",
    "SimulationResult",
    "simulate",
    "simulate_pass",
    "total_energy",
    "Lattice",
    "bravais_lattice",
    "chain",
    "chain3d",
    "simple_cubic",
    "supercell_echo_time",
    "CustomPairPotential",
    "Gaussian",
    "PairPotential",
    "SumOfPairPotentials",
    "PassGeometry",
    "System",
    "cubic_cell_sites",
    "cubic_face_sites",
    "line_sites",
    "pass_geometry",
    "single_site",
    "sites_near_line",
    "SweepResult",
    "sweep_passes",
    "LocalResult",
    "TimeLocalModel",
    "simulate_local",
    "time_local_model",
    "materials",
    "MemoryResult",
    "MemoryState",
    "simulate_memory",
    "ResponseKernel",
    "default_points_per_axis",
    "kernel_valid_time",
    "precompute_kernel",
    "response_kernel",
    "DimensionlessUnits",
    "GaussianLandscape",
    "Material",
    "christoffel",
    "drag_tensor",
    "energy_per_hop",
    "lattice_elastic_constants",
    "recoil_matrix_from_elastic",
    *_theory_names,
]
