"""jaxion: a differentiable simulator of an ion moving through a vibrating crystal.

Importing jaxion switches JAX to float64 (``jax_enable_x64``): losses are tiny differences of
kinetic energies and need double precision. This is the only global side effect of the import.

Every public name is re-exported here; the submodules are the implementation (see
``docs/architecture.md`` for the layers and what each may import).
"""

from importlib.metadata import PackageNotFoundError as _PackageNotFoundError, version as _version

import jax as _jax

_jax.config.update("jax_enable_x64", True)

try:
    __version__ = _version("jaxion")
except _PackageNotFoundError:  # a checkout on PYTHONPATH, not installed (e.g. a machine without a package index)
    __version__ = "0+unknown"

from . import (
    crystals as crystals,
    diffusion as diffusion,
    fit as fit,
    kernels as kernels,
    materials as materials,
    screening as screening,
    theory as theory,
)
from ._compilation_cache import enable_compilation_cache as enable_compilation_cache
from .crystals import (
    Crystal as Crystal,
    CrystalUnitsWarning as CrystalUnitsWarning,
    emt_crystal as emt_crystal,
    emt_phonopy as emt_phonopy,
    from_ase as from_ase,
    from_ase_phonons as from_ase_phonons,
    from_phonopy as from_phonopy,
)
from .diffusion import (
    ArrheniusFit as ArrheniusFit,
    BlockAverage as BlockAverage,
    DiffusionEstimate as DiffusionEstimate,
    Estimate as Estimate,
    HopCounts as HopCounts,
    HopRate as HopRate,
    MeanSquareDisplacement as MeanSquareDisplacement,
    VelocityAutocorrelation as VelocityAutocorrelation,
    arrhenius_fit as arrhenius_fit,
    block_average as block_average,
    count_hops as count_hops,
    diffusion_einstein as diffusion_einstein,
    diffusion_green_kubo as diffusion_green_kubo,
    drift_velocity as drift_velocity,
    hop_rate as hop_rate,
    mean_square_displacement as mean_square_displacement,
    mobility as mobility,
    nernst_einstein_mobility as nernst_einstein_mobility,
    velocity_autocorrelation as velocity_autocorrelation,
)
from .dynamics import (
    STATUS_MESSAGES as STATUS_MESSAGES,
    AbstractResult as AbstractResult,
    EchoWarning as EchoWarning,
    FullResult as FullResult,
    FullState as FullState,
    SimulationError as SimulationError,
    simulate as simulate,
    simulate_pass as simulate_pass,
    total_energy as total_energy,
    verlet_time_step as verlet_time_step,
)
from .dynamics.local import (
    LocalResult as LocalResult,
    TimeLocalModel as TimeLocalModel,
    simulate_local as simulate_local,
    simulate_local_batch as simulate_local_batch,
    time_local_model as time_local_model,
)
from .dynamics.local_thermal import (
    LangevinSplitting as LangevinSplitting,
    ThermalLocalResult as ThermalLocalResult,
    local_time_step as local_time_step,
    simulate_local_thermal as simulate_local_thermal,
)
from .dynamics.memory import (
    MemoryResult as MemoryResult,
    MemoryState as MemoryState,
    simulate_memory as simulate_memory,
    simulate_memory_batch as simulate_memory_batch,
)
from .dynamics.resumable import simulate_resumable as simulate_resumable
from .dynamics.thermal import (
    ThermalBath as ThermalBath,
    ThermalMotion as ThermalMotion,
    motion_from_amplitudes as motion_from_amplitudes,
    sample_mode_amplitudes as sample_mode_amplitudes,
    thermal_motion as thermal_motion,
    thermal_site_variance as thermal_site_variance,
)
from .dynamics.thermal_supercell import (
    ThermalEnergy as ThermalEnergy,
    ThermalState as ThermalState,
    thermal_energy as thermal_energy,
    thermal_state as thermal_state,
    thermal_state_from_noise as thermal_state_from_noise,
)
from .figures import reproduce as reproduce
from .fit import (
    AbstractTransform as AbstractTransform,
    Bounded as Bounded,
    FitResult as FitResult,
    Positive as Positive,
    Target as Target,
    Unbounded as Unbounded,
    chain_model as chain_model,
    mode_sum_model as mode_sum_model,
    paper2_model as paper2_model,
    simulation_model as simulation_model,
)

fit_parameters = fit.fit  # the fitting function (jaxion.fit is its module)
from .kernels import (
    ResponseKernel as ResponseKernel,
    default_points_per_axis as default_points_per_axis,
    kernel_valid_time as kernel_valid_time,
    precompute_kernel as precompute_kernel,
    response_kernel as response_kernel,
    zone_modes_grid as zone_modes_grid,
)
from .lattice import (
    Lattice as Lattice,
    ZoneModes as ZoneModes,
    bravais_lattice as bravais_lattice,
    chain as chain,
    chain3d as chain3d,
    crystal as crystal,
    simple_cubic as simple_cubic,
    supercell_echo_time as supercell_echo_time,
)
from .materials import (
    EXAMPLE_MATERIALS as EXAMPLE_MATERIALS,
    DimensionlessUnits as DimensionlessUnits,
    GaussianLandscape as GaussianLandscape,
    Material as Material,
    christoffel as christoffel,
    cubic_voigt as cubic_voigt,
    drag_tensor as drag_tensor,
    energy_per_hop as energy_per_hop,
    isotropic_voigt as isotropic_voigt,
    lattice_density as lattice_density,
    lattice_elastic_constants as lattice_elastic_constants,
    lattice_material as lattice_material,
    recoil_matrix_from_elastic as recoil_matrix_from_elastic,
)
from .potential import (
    AbstractPairPotential as AbstractPairPotential,
    BornMayer as BornMayer,
    CustomPairPotential as CustomPairPotential,
    Gaussian as Gaussian,
    ScreenedCoulomb as ScreenedCoulomb,
    SumOfPairPotentials as SumOfPairPotentials,
    numerical_path_transform as numerical_path_transform,
)
from .screening import (
    CrystalDescent as CrystalDescent,
    DragDescent as DragDescent,
    DragRanking as DragRanking,
    crystal_drag_tensor as crystal_drag_tensor,
    crystal_hop_energy as crystal_hop_energy,
    crystal_loss as crystal_loss,
    descend_crystal_drag as descend_crystal_drag,
    descend_drag as descend_drag,
    hop_energy_gradients as hop_energy_gradients,
    rank_by_drag as rank_by_drag,
    stack_systems as stack_systems,
)
from .sweep import (
    SweepResult as SweepResult,
    sweep_passes as sweep_passes,
)
from .system import (
    PassGeometry as PassGeometry,
    System as System,
    channel_sites as channel_sites,
    cubic_cell_sites as cubic_cell_sites,
    cubic_face_sites as cubic_face_sites,
    line_sites as line_sites,
    pass_geometry as pass_geometry,
    single_site as single_site,
    sites_near_line as sites_near_line,
)
from .theory import (
    DriftVelocities as DriftVelocities,
    EscapeRate as EscapeRate,
    LandscapeExtrema as LandscapeExtrema,
    broadened_steady_state_loss as broadened_steady_state_loss,
    capture_speed as capture_speed,
    chain_loss_closed_form as chain_loss_closed_form,
    chain_loss_fast as chain_loss_fast,
    chain_loss_slow as chain_loss_slow,
    chain_loss_unconfined as chain_loss_unconfined,
    depopulation_factor as depopulation_factor,
    drift_velocities as drift_velocities,
    energy_diffusion_rate as energy_diffusion_rate,
    energy_loss_per_orbit as energy_loss_per_orbit,
    extremal_speed as extremal_speed,
    friction_regime as friction_regime,
    hop_diffusion as hop_diffusion,
    interaction_forces as interaction_forces,
    kramers_rate as kramers_rate,
    landscape_extrema as landscape_extrema,
    lifson_jackson_diffusion as lifson_jackson_diffusion,
    low_speed_loss as low_speed_loss,
    melnikov_rate as melnikov_rate,
    memory_kernel as memory_kernel,
    mode_sum_loss as mode_sum_loss,
    recoil_matrix as recoil_matrix,
    single_pass_loss as single_pass_loss,
    single_pass_loss_fast as single_pass_loss_fast,
    single_pass_loss_gaussian as single_pass_loss_gaussian,
    single_pass_loss_slow as single_pass_loss_slow,
    spike_speeds as spike_speeds,
    static_greens_function as static_greens_function,
    steady_state_loss as steady_state_loss,
    steady_state_roots as steady_state_roots,
    supercell_quadrature as supercell_quadrature,
    trajectory_mode_loss as trajectory_mode_loss,
    transition_state_rate as transition_state_rate,
    velocity_near_mass as velocity_near_mass,
    zone_modes as zone_modes,
    zone_quadrature as zone_quadrature,
)
