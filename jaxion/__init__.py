"""jaxion: a differentiable simulator of an ion moving through a vibrating crystal.

Importing jaxion switches JAX to float64 (``jax_enable_x64``): losses are tiny differences of
kinetic energies and need double precision. This is the only global side effect of the import.
"""

import jax

jax.config.update("jax_enable_x64", True)

from .dynamics import EchoWarning, FullState, SimulationResult, simulate, simulate_pass, total_energy  # noqa: E402
from .dynamics.full import verlet_time_step  # noqa: E402
from .dynamics.resumable import simulate_resumable  # noqa: E402
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
from .dynamics.memory import MemoryResult, MemoryState, simulate_memory, simulate_memory_batch  # noqa: E402
from .dynamics.local import LocalResult, TimeLocalModel, simulate_local, simulate_local_batch, time_local_model  # noqa: E402
from .dynamics.thermal import (  # noqa: E402
    ThermalBath,
    ThermalModes,
    ThermalMotion,
    motion_from_amplitudes,
    sample_mode_amplitudes,
    thermal_modes,
    thermal_motion,
    thermal_site_variance,
)
from .materials import (  # noqa: E402
    EXAMPLE_MATERIALS,
    DimensionlessUnits,
    GaussianLandscape,
    Material,
    christoffel,
    cubic_voigt,
    drag_tensor,
    energy_per_hop,
    isotropic_voigt,
    lattice_elastic_constants,
    recoil_matrix_from_elastic,
)
from .sweep import SweepResult, sweep_passes  # noqa: E402
from . import fit  # noqa: E402  (jx.fit: the fitting module; jx.fit_parameters: its main function)
from .fit import (  # noqa: E402
    Bounded,
    DragDescent,
    FitResult,
    Positive,
    Target,
    Unbounded,
    chain_model,
    descend_drag,
    hop_energy_gradients,
    mode_sum_model,
    paper2_model,
    simulation_model,
)
from .fit import fit as fit_parameters  # noqa: E402
from .figures import reproduce  # noqa: E402
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
    "simulate_resumable",
    "total_energy",
    "verlet_time_step",
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
    "fit",
    "fit_parameters",
    "Bounded",
    "DragDescent",
    "FitResult",
    "Positive",
    "Target",
    "Unbounded",
    "chain_model",
    "descend_drag",
    "hop_energy_gradients",
    "mode_sum_model",
    "paper2_model",
    "simulation_model",
    "reproduce",
    "LocalResult",
    "TimeLocalModel",
    "simulate_local",
    "simulate_local_batch",
    "time_local_model",
    "materials",
    "MemoryResult",
    "MemoryState",
    "simulate_memory",
    "simulate_memory_batch",
    "ThermalBath",
    "ThermalModes",
    "ThermalMotion",
    "motion_from_amplitudes",
    "sample_mode_amplitudes",
    "thermal_modes",
    "thermal_motion",
    "thermal_site_variance",
    "ResponseKernel",
    "default_points_per_axis",
    "kernel_valid_time",
    "precompute_kernel",
    "response_kernel",
    "EXAMPLE_MATERIALS",
    "DimensionlessUnits",
    "GaussianLandscape",
    "Material",
    "christoffel",
    "cubic_voigt",
    "drag_tensor",
    "energy_per_hop",
    "isotropic_voigt",
    "lattice_elastic_constants",
    "recoil_matrix_from_elastic",
    *_theory_names,
]
