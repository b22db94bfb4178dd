"""The catalogue of bad inputs: every case in ONE place.

Each :class:`Case` is a zero-argument callable that feeds one bad input to the API or to the
``jaxion`` command, the exception (or warning) type it must raise, a regular expression the message
must match (it names the offending parameter), and a description. ``tests/test_bad_inputs.py``
parametrizes over :data:`CASES`; ``docs/make_bad_input_table.py`` runs them and writes
``docs/bad_inputs.md``.

Warnings (``EchoWarning``) are run with that warning category turned into an error, so the call stops
at the warning instead of running the (long) simulation it warns about.

Command cases run ``jaxion.cli.main`` in-process; a non-zero exit becomes :class:`CommandError`
whose message is the command's exit code and its last line of standard error.

:data:`CRYSTAL_CASES` covers real crystals: :func:`jaxion.crystal` (acoustic sum rule, non-Hermitian ``D(q)``, imaginary
frequencies, masses, atoms on top of each other), the phonopy/ASE importers (unit mistakes as ``CrystalUnitsWarning``),
long waves, systems with one potential per species, the Born–Mayer and screened Coulomb potentials, crystal
screening, kernels and the memory engine on a basis, and ``jaxion run --phonopy``.

:data:`KNOWN_GAPS` lists inputs that are *not* handled well yet (empty at present; the five full-engine
gaps found first are fixed and live in :data:`FULL_ENGINE_CASES`): each states the behaviour it should
have; the tests mark them ``xfail(strict=True)``, so fixing one turns its test red until the case moves to
:data:`CASES`.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import io
import itertools
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

import jaxion as jx

K = 99 / 4  # paper 1, Fig. 2


@dataclass(frozen=True)
class Case:
    id: str
    call: Callable[[], object]
    expected: type  # an Exception subclass, or a Warning subclass (turned into an error)
    match: str  # regex the message must match; names the offending parameter
    description: str  # the input tried, in words
    api: str  # the function, class or command that receives it


class CommandError(Exception):
    """A ``jaxion`` command that exited with a non-zero status; message: ``exit N: <last stderr line>``."""


def run_case(case: Case):
    """Run one case; return what it raised (an exception instance) or ``None`` if it raised nothing."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if issubclass(case.expected, Warning):
            warnings.simplefilter("error", case.expected)
        try:
            case.call()
        except Exception as error:  # noqa: BLE001 - the catalogue records whatever happens
            return error
    return None


# ---------------------------------------------------------------------- shared inputs (cheap)


def _chain():
    return jx.System(jx.chain3d(K), jx.Gaussian(0.01, 1.0))


def _cubic():
    return jx.System(jx.simple_cubic(), jx.Gaussian(0.01, 1.0))


def _kernels():
    from jaxion import kernels

    return kernels


def _paper2_chain():
    return jx.System(jx.chain(10.0), jx.Gaussian(0.01, 1.0))


def _si():
    return jx.materials.EXAMPLE_MATERIALS["Si"]


def _landscape():
    return jx.GaussianLandscape(np.zeros((1, 3)), np.ones(1), np.ones(1))


def _command(*argv: str):
    """Run ``jaxion`` with ``argv`` (plus a scratch ``--out`` folder); raise CommandError on failure."""

    def call():
        from jaxion.cli import main

        with tempfile.TemporaryDirectory() as out:
            err = io.StringIO()
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                try:
                    code = main([*argv, "--out", out, "--no-progress"])
                except SystemExit as exit_:
                    code = exit_.code
            if code not in (0, None):
                lines = err.getvalue().strip().splitlines()
                raise CommandError(f"exit {code}: {lines[-1] if lines else ''}")
        return code

    return call


def _memory_longer_than_kernel():
    system = _paper2_chain()
    kernel = jx.precompute_kernel(system.lattice, system.site_cells, 1e-3, 0.05, cache=False)
    return jx.simulate_memory(system, [0.0, 0.0, -7.0], [0.0, 0.0, 10.0], 0.5, dt=1e-3, kernel=kernel)


def _thermal(temperature, quantum=True):
    import jax

    from jaxion.dynamics.thermal import ThermalBath

    return ThermalBath(temperature, jax.random.key(0), quantum=quantum)


def _local_model():
    return jx.time_local_model(_cubic(), drag=False, softening="off")


CASES: list[Case] = [
    # ------------------------------------------------------------------ potentials
    Case("gaussian-width-negative", lambda: jx.Gaussian(0.01, -1.0), ValueError, r"width must be finite and > 0",
         "Gaussian width λ = −1", "jx.Gaussian"),
    Case("gaussian-width-zero", lambda: jx.Gaussian(0.01, 0.0), ValueError, r"width must be finite and > 0",
         "Gaussian width λ = 0", "jx.Gaussian"),
    Case("gaussian-width-underflow", lambda: jx.Gaussian(0.01, 1e-200), ValueError, r"width = .* outside float64's range",
         "width 1e-200 (width² underflows to 0: NaN at contact before; found by hypothesis)", "jx.Gaussian"),
    Case("gaussian-amplitude-nan", lambda: jx.Gaussian(float("nan"), 1.0), ValueError, r"amplitude must be finite",
         "Gaussian amplitude Φ0 = NaN", "jx.Gaussian"),
    Case("custom-range-zero", lambda: jx.CustomPairPotential(lambda r: 0.01 / (1 + r**4), interaction_range=0.0),
         ValueError, r"interaction_range must be finite and > 0", "custom potential with interaction_range = 0",
         "jx.CustomPairPotential"),
    Case("custom-returns-nan", lambda: jx.CustomPairPotential(lambda r: r * np.nan, interaction_range=1.0),
         ValueError, r"function must return finite energies", "custom φ(r) that returns NaN",
         "jx.CustomPairPotential"),
    Case("custom-not-callable", lambda: jx.CustomPairPotential(3.0, interaction_range=1.0), ValueError,
         r"function must be callable", "custom potential given a number instead of φ(r)", "jx.CustomPairPotential"),
    # ------------------------------------------------------------------ lattices
    Case("chain3d-coupling-negative", lambda: jx.chain3d(-1.0), ValueError, r"coupling_parallel must be finite and > 0",
         "chain force constant k∥ = −1", "jx.chain3d"),
    Case("chain3d-coupling-zero", lambda: jx.chain3d(0.0), ValueError, r"coupling_parallel must be finite and > 0",
         "chain force constant k∥ = 0", "jx.chain3d"),
    Case("chain3d-confinement-negative", lambda: jx.chain3d(K, confinement_parallel=-1.0), ValueError,
         r"confinement_parallel must be finite and >= 0", "chain confinement κ∥ = −1", "jx.chain3d"),
    Case("chain3d-spacing-zero", lambda: jx.chain3d(K, spacing=0.0), ValueError, r"spacing must be finite and > 0",
         "chain spacing 0", "jx.chain3d"),
    Case("chain-omega-fast-below-1", lambda: jx.chain(0.5), ValueError, r"omega_fast must be > 1",
         "paper 2 chain with ω_fast = 0.5", "jx.chain"),
    Case("cubic-k1-negative", lambda: jx.simple_cubic(-1.0, 5.0), ValueError, r"k1 must be finite and >= 0",
         "cubic spring k1 = −1", "jx.simple_cubic"),
    Case("cubic-no-springs", lambda: jx.simple_cubic(0.0, 0.0), ValueError, r"k1 and k2 are both 0",
         "cubic lattice with k1 = k2 = 0 (no springs)", "jx.simple_cubic"),
    Case("bravais-negative-confinement", lambda: jx.bravais_lattice(np.eye(3), [((1, 0, 0), np.eye(3))], confinement=-np.eye(3)),
         ValueError, r"unstable: ω² = .* < 0 at q = ", "on-site confinement −1 (unstable framework)", "jx.bravais_lattice"),
    Case("bravais-nonsymmetric-block", lambda: jx.bravais_lattice(np.eye(3), [((1, 0, 0), [[1, 1, 0], [0, 1, 0], [0, 0, 1]])]),
         ValueError, r"force-constant blocks .* must be symmetric", "non-symmetric force-constant block", "jx.bravais_lattice"),
    Case("bravais-block-shape", lambda: jx.bravais_lattice(np.eye(3), [((1, 0, 0), np.eye(2))]), ValueError,
         r"neighbour block K must be a 3×3 matrix", "2×2 force-constant block in 3D", "jx.bravais_lattice"),
    Case("bravais-not-lattice-vector", lambda: jx.bravais_lattice(np.eye(3), [((0.5, 0, 0), np.eye(3))]), ValueError,
         r"neighbour vector .* not a lattice vector", "bond r = (0.5, 0, 0) on a unit cubic lattice", "jx.bravais_lattice"),
    Case("bravais-dependent-vectors", lambda: jx.bravais_lattice(np.ones((3, 3)), [((1, 1, 1), np.eye(3))]), ValueError,
         r"primitive_vectors are linearly dependent", "three equal primitive vectors", "jx.bravais_lattice"),
    Case("bravais-no-bonds", lambda: jx.bravais_lattice(np.eye(3), []), ValueError, r"neighbours must list at least one bond",
         "empty list of bonds", "jx.bravais_lattice"),
    # ------------------------------------------------------------------ system and sites
    Case("mass-ratio-zero", lambda: jx.System(jx.chain3d(K), jx.Gaussian(), mass_ratio=0.0), ValueError,
         r"mass_ratio must be finite and > 0", "ion mass ratio μ = 0", "jx.System"),
    Case("mass-ratio-negative", lambda: jx.System(jx.chain3d(K), jx.Gaussian(), mass_ratio=-1.0), ValueError,
         r"mass_ratio must be finite and > 0", "ion mass ratio μ = −1", "jx.System"),
    Case("mass-ratio-nan", lambda: jx.System(jx.chain3d(K), jx.Gaussian(), mass_ratio=float("nan")), ValueError,
         r"mass_ratio must be finite and > 0", "ion mass ratio μ = NaN", "jx.System"),
    Case("sites-wrong-shape", lambda: jx.System(jx.chain3d(K), jx.Gaussian(), sites=[[0, 0, 0]]), ValueError,
         r"sites must have shape \(n, 1\)", "3D cell (0, 0, 0) as a site of a chain", "jx.System"),
    Case("sites-not-integer", lambda: jx.System(jx.chain3d(K), jx.Gaussian(), sites=[[0.5]]), ValueError,
         r"sites must hold integer cell indices", "site at cell 0.5", "jx.System"),
    Case("sites-repeated", lambda: jx.System(jx.chain3d(K), jx.Gaussian(), sites=[[0], [0]]), ValueError,
         r"sites must not repeat", "the same site twice", "jx.System"),
    Case("system-lattice-not-lattice", lambda: jx.System("chain3d", jx.Gaussian()), ValueError,
         r"lattice must be a jaxion Lattice", "a string instead of a Lattice", "jx.System"),
    Case("line-sites-axis", lambda: jx.line_sites(4, axis=3), ValueError, r"axis must be a lattice axis",
         "line of sites along axis 3 of a 3D lattice", "jx.line_sites"),
    Case("sites-near-line-zero-direction", lambda: jx.sites_near_line(jx.chain3d(K), [0, 0, 0], [0, 0, 0], 1.0, 5.0),
         ValueError, r"\|direction\| must be finite and > 0", "path direction (0, 0, 0)", "jx.sites_near_line"),
    # ------------------------------------------------------------------ full engine
    Case("dt-unstable-tsit5", lambda: jx.simulate_pass(_chain(), 10.0, (200,), dt=0.05), ValueError,
         r"dt=0\.05 is too large for the fastest lattice mode .* dt <= ", "fixed dt = 0.05 with ω_max = 10 (Tsit5)",
         "jx.simulate_pass"),
    Case("dt-unstable-verlet", lambda: jx.simulate_pass(_chain(), 10.0, (200,), dt=0.05, solver="verlet"), ValueError,
         r"dt=0\.05 is too large for the fastest lattice mode .* dt <= ", "fixed dt = 0.05 with ω_max = 10 (Verlet)",
         "jx.simulate_pass"),
    Case("dt-negative", lambda: jx.simulate_pass(_chain(), 10.0, (200,), dt=-0.01), ValueError,
         r"dt must be finite and > 0", "dt = −0.01", "jx.simulate_pass"),
    Case("rtol-negative", lambda: jx.simulate_pass(_chain(), 10.0, (200,), rtol=-1.0), ValueError,
         r"rtol must be finite and > 0", "rtol = −1", "jx.simulate_pass"),
    Case("speed-zero", lambda: jx.simulate_pass(_chain(), 0.0, (200,)), ValueError, r"speed must be finite and > 0",
         "ion speed 0", "jx.simulate_pass"),
    Case("speed-nan", lambda: jx.simulate_pass(_chain(), float("nan"), (200,)), ValueError,
         r"speed must be finite and > 0", "ion speed NaN", "jx.simulate_pass"),
    Case("unknown-solver", lambda: jx.simulate_pass(_chain(), 10.0, (200,), solver="rk45"), ValueError,
         r"unknown solver 'rk45'; valid options", "solver 'rk45'", "jx.simulate_pass"),
    Case("unknown-option", lambda: jx.simulate_pass(_chain(), 10.0, (200,), tolerance=1e-3), TypeError,
         r"unexpected keyword argument 'tolerance'", "option tolerance= (not an option)", "jx.simulate_pass"),
    Case("path-leaves-supercell", lambda: jx.simulate_pass(_chain(), 10.0, (10,)), ValueError,
         r"the ion's path leaves the simulated supercell \(10,\)", "a pass 14λ long on a 10-cell chain", "jx.simulate_pass"),
    Case("supercell-wrong-dimension", lambda: jx.simulate_pass(_chain(), 10.0, (20, 20)), ValueError,
         r"supercell must give 1 sizes", "2D supercell for a chain", "jx.simulate_pass"),
    Case("impact-along-path", lambda: jx.simulate_pass(_chain(), 10.0, (200,), impact=(0.0, 0.0, 1.0)), ValueError,
         r"impact must be perpendicular to direction", "impact vector parallel to the path", "jx.simulate_pass"),
    Case("margin-negative", lambda: jx.simulate_pass(_chain(), 10.0, (200,), margin=-1.0), ValueError,
         r"margin must be finite and > 0", "start/stop margin −1", "jx.simulate_pass"),
    Case("echo-supercell-too-small", lambda: jx.simulate_pass(_chain(), 1.0, (30,), time_limit_factor=1.1), jx.EchoWarning,
         r"supercell \(30,\) in τ ≈ .*echoes", "a pass at speed 1 (τ ≈ 14) on 30 cells (echo after τ ≈ 1)",
         "jx.simulate_pass"),
    Case("ion-position-shape", lambda: jx.simulate(_chain(), (200,), [0.0, 0.0], [0.0, 0.0, 1.0], 1.0), ValueError,
         r"ion_position and ion_velocity must have shape \(3,\)", "ion position with 2 components", "jx.simulate"),
    Case("ion-velocity-nan", lambda: jx.simulate(_chain(), (200,), [0.0, 0.0, -7.0], [0.0, 0.0, np.nan], 1.0), ValueError,
         r"ion_velocity must be finite", "ion velocity (0, 0, NaN)", "jx.simulate"),
    Case("initial-displacement-shape", lambda: jx.simulate(_chain(), (200,), [0.0, 0.0, -7.0], [0.0, 0.0, 10.0], 1.0,
                                                          initial_displacement=np.zeros((3, 100))), ValueError,
         r"initial_displacement must have shape \(3, 200\)", "framework displacements of 100 cells for a 200-cell run",
         "jx.simulate"),
    Case("duration-zero", lambda: jx.simulate(_chain(), (200,), [0.0, 0.0, -7.0], [0.0, 0.0, 10.0], 0.0), ValueError,
         r"duration must be finite and > 0", "duration 0", "jx.simulate"),
    Case("sweep-speed-zero", lambda: jx.sweep_passes(_chain(), [10.0, 0.0], (200,), progress=False), ValueError,
         r"speeds must be finite and > 0", "speeds [10, 0]", "jx.sweep_passes"),
    Case("sweep-impacts-shape", lambda: jx.sweep_passes(_chain(), [10.0, 20.0], (200,), impacts=np.zeros((3, 3)), progress=False),
         ValueError, r"impacts must have shape \(3,\) or \(2, 3\)", "3 impact vectors for 2 speeds", "jx.sweep_passes"),
    Case("sweep-batch-size-zero", lambda: jx.sweep_passes(_chain(), [10.0, 20.0], (200,), batch_size=0, progress=False),
         ValueError, r"batch_size must be >= 1", "batch_size 0", "jx.sweep_passes"),
    Case("sweep-path-leaves-supercell", lambda: jx.sweep_passes(_chain(), [10.0, 20.0], (12,), progress=False), ValueError,
         r"the ion's path leaves the simulated supercell", "a sweep on a 12-cell chain", "jx.sweep_passes"),
    # ------------------------------------------------------------------ theory
    Case("mode-sum-speed-zero", lambda: jx.mode_sum_loss(_chain(), [0.0, 10.0], (0.0, 1.0, 0.0)), ValueError,
         r"speed must be finite and > 0", "speeds [0, 10]", "jx.mode_sum_loss"),
    Case("mode-sum-impact-nan", lambda: jx.mode_sum_loss(_cubic(), [10.0], (np.nan, 0.0, 0.0)), ValueError,
         r"impact must be finite", "impact (NaN, 0, 0)", "jx.mode_sum_loss"),
    Case("closed-form-speed-negative", lambda: jx.chain_loss_closed_form(-1.0, 0.01, 1.0), ValueError,
         r"speed must be finite and > 0", "speed −1", "jx.chain_loss_closed_form"),
    Case("closed-form-amplitude-nan", lambda: jx.chain_loss_closed_form(10.0, np.nan, 1.0), ValueError,
         r"amplitude must be finite", "amplitude NaN (was a silent NaN)", "jx.chain_loss_closed_form"),
    Case("closed-form-width-zero", lambda: jx.chain_loss_closed_form(10.0, 0.01, 0.0), ValueError,
         r"width must be finite and > 0", "width 0", "jx.chain_loss_closed_form"),
    Case("unconfined-speed-zero", lambda: jx.chain_loss_unconfined(0.0, 0.01, 1.0), ValueError,
         r"speed must be finite and > 0", "speed 0", "jx.chain_loss_unconfined"),
    Case("paper2-speed-zero", lambda: jx.single_pass_loss_gaussian(0.0, 0.01, 1.0), ValueError,
         r"speed must be finite and > 0", "speed 0", "jx.single_pass_loss_gaussian"),
    Case("paper2-steady-speed-zero", lambda: jx.steady_state_loss(0.0, jx.Gaussian()), ValueError,
         r"speed must be finite and > 0", "speed 0", "jx.steady_state_loss"),
    Case("memory-kernel-times-nan", lambda: jx.memory_kernel([0, 1], [np.nan, 1.0]), ValueError,
         r"times must be finite", "kernel times [NaN, 1]", "jx.memory_kernel"),
    Case("low-speed-loss-speed-zero", lambda: jx.low_speed_loss(_cubic(), 0.0), ValueError,
         r"speed must be finite and > 0", "speed 0", "jx.low_speed_loss"),
    Case("recoil-matrix-of-chain", lambda: jx.recoil_matrix(jx.chain3d(K)), ValueError,
         r"recoil matrix .* 3D lattices; got dim = 1", "recoil matrix of a 1D chain", "jx.recoil_matrix"),
    Case("greens-cells-shape", lambda: jx.static_greens_function(jx.simple_cubic(), [[0, 0]]), ValueError,
         r"cells_a must have shape \(n, 3\)", "2D cell on a 3D lattice", "jx.static_greens_function"),
    Case("greens-unconfined-chain", lambda: jx.static_greens_function(jx.chain3d(K, confinement_parallel=0.0), [[0]]),
         ValueError, r"static Green's function of an unconfined 1D lattice diverges",
         "Green's function of an unconfined infinite chain", "jx.static_greens_function"),
    # ------------------------------------------------------------------ time-local and memory engines
    Case("unknown-softening", lambda: jx.time_local_model(_cubic(), softening="third"), ValueError,
         r"unknown softening 'third'; valid options", "softening 'third'", "jx.time_local_model"),
    Case("local-rtol-negative", lambda: jx.simulate_local(_local_model(), [0, 0, -7.0], [0, 0, 1.0], 1.0, rtol=-1.0),
         ValueError, r"rtol must be finite and > 0", "rtol −1 (was ignored)", "jx.simulate_local"),
    Case("local-dt-too-large", lambda: jx.simulate_local(_local_model(), [0, 0, -7.0], [0, 0, 10.0], 1.0, dt=5.0),
         ValueError, r"dt = 5 is too large for the ion", "dt = 5 at speed 10 (was a silently wrong trajectory)",
         "jx.simulate_local"),
    Case("local-bias-nan", lambda: jx.simulate_local(_local_model(), [0, 0, -7.0], [0, 0, 1.0], 1.0, bias_force=[0, 0, np.nan]),
         ValueError, r"bias_force must be finite", "bias force (0, 0, NaN) (was a silent inf/NaN)", "jx.simulate_local"),
    Case("local-save-times-outside", lambda: jx.simulate_local(_local_model(), [0, 0, -7.0], [0, 0, 1.0], 1.0, save_times=[0.0, 2.0]),
         ValueError, r"save_times must be a non-decreasing 1D array within \[0, duration", "save time 2 in a run of duration 1",
         "jx.simulate_local"),
    Case("memory-method-unknown", lambda: jx.simulate_memory(_paper2_chain(), [0, 0, -7.0], [0, 0, 10.0], 1.0, dt=1e-3, method="spectral"),
         ValueError, r"unknown method 'spectral'", "memory engine method 'spectral'", "jx.simulate_memory"),
    Case("memory-fft-block-zero", lambda: jx.simulate_memory(_paper2_chain(), [0, 0, -7.0], [0, 0, 10.0], 1.0, dt=1e-3, method="fft",
                                                              block_steps=0),
         ValueError, r"block_steps must be a positive integer", "memory engine fft block_steps = 0", "jx.simulate_memory"),
    Case("kernel-method-unknown", lambda: _kernels().kernel_by_differences(jx.simple_cubic(), np.zeros((1, 3), int), [0.0, 0.1], 8,
                                                                          method="fast"),
         ValueError, r"unknown method 'fast'", "kernel method 'fast'", "jaxion.kernels.kernel_by_differences"),
    Case("kernel-binned-chain", lambda: _kernels().kernel_by_differences(jx.chain(10.0), np.zeros((1, 1), int), [0.0, 0.1], 8,
                                                                        method="binned"),
         ValueError, r"needs a 2D or 3D lattice", "binned kernel of a chain", "jaxion.kernels.kernel_by_differences"),
    Case("kernel-sum-grid-too-large", lambda: _kernels().kernel_by_differences(jx.simple_cubic(), np.zeros((1, 3), int), [0.0, 0.1, 0.3],
                                                                              400, method="sum"),
         ValueError, r"more than the mode-by-mode sum holds", "mode sum on a 400³ grid", "jaxion.kernels.kernel_by_differences"),
    Case("memory-dt-too-large", lambda: jx.simulate_memory(_paper2_chain(), [0, 0, -7.0], [0, 0, 10.0], 1.0, dt=0.1),
         ValueError, r"dt = 0\.1 is too large.*ω_max·dt <= ", "memory engine dt = 0.1 with ω_max = 10", "jx.simulate_memory"),
    Case("memory-longer-than-kernel", _memory_longer_than_kernel, ValueError,
         r"duration = 0\.5 .* longer than the precomputed kernel", "a run of τ = 0.5 with a kernel tabulated to τ = 0.05",
         "jx.simulate_memory"),
    Case("temperature-negative", lambda: _thermal(-1.0), ValueError, r"temperature must be finite and >= 0",
         "temperature ω_T = −1 (quantum bath)", "jaxion.dynamics.thermal.ThermalBath"),
    Case("temperature-zero-classical", lambda: _thermal(0.0, quantum=False), ValueError,
         r"temperature must be finite and > 0 for the classical bath", "temperature 0 for the classical bath",
         "jaxion.dynamics.thermal.ThermalBath"),
    # ------------------------------------------------------------------ materials
    Case("elastic-not-positive-definite", lambda: jx.Material(jx.materials.cubic_voigt(100.0, 150.0, 50.0), np.asarray(1000.0)),
         ValueError, r"elastic tensor is not positive definite", "C11 = 100, C12 = 150 GPa (Born-unstable)", "jx.Material"),
    Case("density-zero", lambda: jx.Material(jx.materials.cubic_voigt(165.0, 64.0, 80.0), np.asarray(0.0)), ValueError,
         r"density must be finite and > 0", "density 0", "jx.Material"),
    Case("density-negative", lambda: jx.christoffel(jx.materials.cubic_voigt(165.0, 64.0, 80.0), -1.0, [0, 0, 1.0]),
         ValueError, r"density must be finite and > 0", "density −1", "jx.christoffel"),
    Case("elastic-nan", lambda: jx.Material(jx.materials.cubic_voigt(np.nan, 64.0, 80.0), np.asarray(1000.0)), ValueError,
         r"elastic_constants .* must be finite", "C11 = NaN (was reported as 'not symmetric')", "jx.Material"),
    Case("christoffel-zero-direction", lambda: jx.christoffel(jx.materials.cubic_voigt(165.0, 64.0, 80.0), 1000.0, [0, 0, 0.0]),
         ValueError, r"\|directions\| must be finite and > 0", "direction (0, 0, 0) (was a silent NaN)", "jx.christoffel"),
    Case("landscape-amplitude-nan", lambda: jx.GaussianLandscape(np.zeros((1, 3)), np.array([np.nan]), np.ones(1)),
         ValueError, r"amplitudes must be finite", "landscape amplitude NaN (was accepted)", "jx.GaussianLandscape"),
    Case("landscape-terms-mismatch", lambda: jx.GaussianLandscape(np.zeros((1, 3)), np.ones(2), np.ones(3)), ValueError,
         r"amplitudes and widths must have one entry per Gaussian term", "2 amplitudes, 3 widths (was accepted)",
         "jx.GaussianLandscape"),
    Case("hop-zero-length", lambda: jx.energy_per_hop(_si(), _landscape(), [0, 0, 0.0], [0, 0, 0.0], 100.0), ValueError,
         r"hop length\) must be finite and > 0", "hop with start = end (was a silent NaN)", "jx.energy_per_hop"),
    Case("hop-speed-zero", lambda: jx.energy_per_hop(_si(), _landscape(), [0, 0, -3.0], [0, 0, 3.0], 0.0), ValueError,
         r"speed must be finite and > 0", "hop speed 0", "jx.energy_per_hop"),
    Case("units-mass-zero", lambda: jx.DimensionlessUnits(0.0, 1e13), ValueError, r"mass must be finite and > 0",
         "framework mass 0", "jx.DimensionlessUnits"),
    # ------------------------------------------------------------------ the jaxion command
    Case("cli-speeds-text", _command("--speeds", "fast"), CommandError, r"exit 2: .*speeds must be 'min:max:count'",
         "--speeds fast", "jaxion run"),
    Case("cli-speeds-range-zero", _command("--speeds", "0:10:3"), CommandError, r"exit 2: .*speeds 'min:max:count' needs .*> 0",
         "--speeds 0:10:3", "jaxion run"),
    Case("cli-speeds-negative", _command("--speeds=-1,2"), CommandError, r"exit 2: .*speeds must be finite and > 0",
         "--speeds=-1,2", "jaxion run"),
    Case("cli-speeds-nan", _command("--speeds", "nan"), CommandError, r"exit 2: .*speeds must be finite and > 0",
         "--speeds nan", "jaxion run"),
    Case("cli-supercell-text", _command("--supercell", "abc"), CommandError,
         r"exit 2: .*--supercell: expected comma-separated integers", "--supercell abc", "jaxion run"),
    Case("cli-supercell-small", _command("--supercell", "2", "--speeds", "10"), CommandError,
         r"exit 2: .*supercell size must be >= 3", "--supercell 2", "jaxion run"),
    Case("cli-supercell-dimension", _command("--supercell", "20,20", "--speeds", "10"), CommandError,
         r"exit 2: .*supercell must give 1 sizes", "--supercell 20,20 for the chain", "jaxion run"),
    Case("cli-unknown-lattice", _command("--lattice", "hexagonal"), CommandError,
         r"exit 2: .*--lattice: invalid choice: 'hexagonal'", "--lattice hexagonal", "jaxion run"),
    Case("cli-unknown-solver", _command("--solver", "euler3", "--speeds", "10"), CommandError,
         r"exit 2: .*unknown solver 'euler3'", "--solver euler3", "jaxion run"),
    Case("cli-unknown-option", _command("--bogus"), CommandError, r"exit 2: .*unrecognized arguments: --bogus",
         "--bogus", "jaxion run"),
    Case("cli-width-zero", _command("--width", "0", "--speeds", "10"), CommandError, r"exit 2: .*width must be finite and > 0",
         "--width 0", "jaxion run"),
    Case("cli-spacing-zero", _command("--spacing", "0", "--speeds", "10"), CommandError,
         r"exit 2: .*spacing must be finite and > 0", "--spacing 0 (was silently replaced by the default)", "jaxion run"),
    Case("cli-batch-size-zero", _command("--batch-size", "0", "--speeds", "10"), CommandError,
         r"exit 2: .*--batch-size must be an integer >= 1", "--batch-size 0 (was silently 'all')", "jaxion run"),
    Case("cli-mass-ratio-negative", _command("--mass-ratio", "-1", "--speeds", "10"), CommandError,
         r"exit 2: .*mass_ratio must be finite and > 0", "--mass-ratio -1", "jaxion run"),
    Case("cli-dt-unstable", _command("--dt", "1", "--speeds", "10"), CommandError,
         r"exit 2: .*dt=1 is too large for the fastest lattice mode", "--dt 1", "jaxion run"),
    Case("cli-sites-need-cubic", _command("--sites", "face", "--speeds", "10"), CommandError,
         r"exit 2: .*--sites face needs --lattice cubic", "--sites face on the chain (exited 1 before)", "jaxion run"),
    Case("cli-omega-fast", _command("--lattice", "chain", "--omega-fast", "0.5", "--speeds", "10"), CommandError,
         r"exit 2: .*omega_fast must be > 1", "--lattice chain --omega-fast 0.5", "jaxion run"),
    Case("cli-impacts-text", _command("--impacts", "a"), CommandError,
         r"exit 2: .*--impacts: expected comma-separated numbers", "--impacts a", "jaxion run"),
]


def _simulate_nan_framework():
    system = _chain()
    result = jx.simulate(system, (30,), [0.0, 0.0, -7.0], [0.0, 0.0, 10.0], 0.01,
                         initial_displacement=np.full((3, 30), np.nan), check_echo=False)
    return result


def _simulate_fractional_supercell():
    return jx.simulate(_chain(), (30.5,), [0.0, 0.0, -7.0], [0.0, 0.0, 10.0], 0.01, check_echo=False)


# Inputs of the full engine that were accepted silently or reported without naming the parameter
# (fixed since; a separate list so the table shows what changed).
FULL_ENGINE_CASES: list[Case] = [
    Case("full-initial-displacement-nan", _simulate_nan_framework, ValueError, r"initial_displacement must be finite",
         "framework displacements all NaN (ran and returned NaN before)", "jx.simulate"),
    Case("full-fractional-supercell", _simulate_fractional_supercell, ValueError, r"supercell .* integer",
         "supercell (30.5,) (silently truncated to 30 before)", "jx.simulate"),
    Case("full-max-steps-zero", lambda: jx.simulate_pass(_chain(), 10.0, (200,), max_steps=0), ValueError,
         r"max_steps must be", "max_steps 0 (equinox's 'Must have at least one checkpoint' before)", "jx.simulate_pass"),
    Case("full-time-limit-factor-zero", lambda: jx.simulate_pass(_chain(), 10.0, (200,), time_limit_factor=0.0), ValueError,
         r"time_limit_factor must be", "time_limit_factor 0 (reported as 'duration must be > 0' before)", "jx.simulate_pass"),
    Case("full-supercell-zero", lambda: jx.simulate_pass(_chain(), 10.0, (0,)), ValueError, r"supercell size must be >= 3",
         "supercell (0,) (reported as the path leaving the supercell before)", "jx.simulate_pass"),
]
CASES += FULL_ENGINE_CASES

_LINE_STARTS = np.array([[0.0, 0.0, -7.0], [0.0, 0.0, -6.0]])
_LINE_VELOCITIES = np.array([[0.0, 0.0, 5.0], [0.0, 0.0, 6.0]])

BATCH_AND_RESUME_CASES: list[Case] = [
    Case("local-batch-shape", lambda: jx.simulate_local_batch(_local_model(), [0, 0, -7.0], [0, 0, 5.0], 1.0), ValueError,
         r"must both have shape \(members, 3\)", "a single (3,) state given to the batch function", "jx.simulate_local_batch"),
    Case("local-batch-off-line", lambda: jx.simulate_local_batch(_local_model(), _LINE_STARTS,
                                                                 _LINE_VELOCITIES + [[0, 0, 0], [1, 0, 0]], 1.0,
                                                                 constraint=[0, 0, 1]),
         ValueError, r"parallel to the constraint direction; members \[1\]", "member 1's velocity off the constraint line",
         "jx.simulate_local_batch"),
    Case("local-batch-chunk-zero", lambda: jx.simulate_local_batch(_local_model(), _LINE_STARTS, _LINE_VELOCITIES, 1.0, chunk_size=0),
         ValueError, r"chunk_size must be a positive integer", "chunk_size 0", "jx.simulate_local_batch"),
    Case("memory-batch-thermal", lambda: jx.simulate_memory_batch(_paper2_chain(), _LINE_STARTS, _LINE_VELOCITIES, 1.0, dt=1e-3,
                                                                  thermal=object()),
         ValueError, r"takes no thermal bath", "a thermal bath given to the batch of independent runs", "jx.simulate_memory_batch"),
    Case("memory-batch-bias-per-member", lambda: jx.simulate_memory_batch(_paper2_chain(), _LINE_STARTS, _LINE_VELOCITIES, 1.0, dt=1e-3,
                                                                          constraint=[0, 0, 1], bias_force=np.ones((2, 3))),
         ValueError, r"bias_force must be a scalar or a \(3,\) vector shared by every member", "a bias per member",
         "jx.simulate_memory_batch"),
    Case("resumable-segment-zero", lambda: jx.simulate_resumable(_chain(), (200,), [0, 0, -7.0], [0, 0, 10.0], 1.0,
                                                                 checkpoint=tempfile.mktemp(suffix=".npz"), segment=0.0),
         ValueError, r"segment must be finite and > 0", "segment length 0", "jx.simulate_resumable"),
    Case("resumable-no-checkpoint", lambda: jx.simulate_resumable(_chain(), (200,), [0, 0, -7.0], [0, 0, 10.0], 1.0,
                                                                  checkpoint=None, segment=0.5),
         ValueError, r"checkpoint must be a file path", "no checkpoint path", "jx.simulate_resumable"),
    Case("memory-supercell-blocked", lambda: jx.simulate_memory(_paper2_chain(), [0, 0, -7.0], [0, 0, 10.0], 1.0, dt=1e-3,
                                                                supercell=(40,), method="blocked"),
         ValueError, r"supercell .* needs method='direct'", "a periodic supercell with the blocked method", "jx.simulate_memory"),
    Case("memory-supercell-too-small", lambda: jx.simulate_memory(_paper2_chain(), [0, 0, -7.0], [0, 0, 10.0], 1.0, dt=1e-3,
                                                                  supercell=(2,)),
         ValueError, r"every supercell size must be >= 3", "supercell 2", "jx.simulate_memory"),
    Case("memory-save-times-off-grid", lambda: jx.simulate_memory(_paper2_chain(), [0, 0, -7.0], [0, 0, 10.0], 1.0, dt=1e-3,
                                                                  save_times=[0.0, 0.0105]),
         ValueError, r"save_times must be multiples of dt", "save time 0.0105 between steps of 1e-3", "jx.simulate_memory"),
    Case("kernel-boundary-unknown", lambda: jx.response_kernel(jx.chain(), [[0]], [0.0, 0.1], points_per_axis=8, boundary="open"),
         ValueError, r"unknown boundary 'open'", "zone grid boundary 'open'", "jx.response_kernel"),
    Case("cli-negative-speed", _command("--speeds", "-1,2"), CommandError, r"exit 2: .*speeds must be",
         "`--speeds -1,2` (argparse's 'expected one argument' before)", "jaxion run"),
]
CASES += BATCH_AND_RESUME_CASES


# ---------------------------------------------------------------------- real crystals (a basis, importers, units)

_FC_CHAIN_A = 2.0  # spacing of the diatomic chain below
_FC_CHAIN_K = 10.0  # its nearest-neighbour spring


def _diatomic_entries(k=_FC_CHAIN_K, onsite=None):
    """Force-constant entries ``(R, s, t, Φ)`` of a diatomic chain (atoms at 0 and ½, springs ``k`` between
    neighbours): pairs with their partners, on-site blocks ``onsite`` (default ``2k``, the acoustic sum rule)."""
    entries = []
    for s, t, offset in ((0, 1, 0), (1, 0, 1)):
        entries += [((offset,), s, t, -k * np.eye(3)), ((-offset,), t, s, -k * np.eye(3))]
    diagonal = 2 * k if onsite is None else onsite
    return entries + [((0,), 0, 0, diagonal * np.eye(3)), ((0,), 1, 1, diagonal * np.eye(3))]


def _diatomic(entries=None, positions=((0.0,), (0.5,)), masses=(1.0, 3.0), **kwargs):
    """``jx.crystal`` of the diatomic chain (a tiny crystal with a basis: 2 atoms, 6 branches)."""
    return jx.crystal(np.array([[0.0], [0.0], [_FC_CHAIN_A]]), positions, masses,
                      _diatomic_entries() if entries is None else entries, **kwargs)


def _edited_entries(index, entry):
    entries = _diatomic_entries()
    entries[index] = entry
    return entries


def _diatomic_system(sites=((0, 0), (0, 1)), potential=None):
    lattice = _diatomic(species=("A", "B"))
    return jx.System(lattice, jx.Gaussian(0.01, 0.5) if potential is None else potential, sites=sites)


def _cscl(shells=((np.sqrt(3), 10.0), (2.0, 3.0)), acoustic_sum_rule="enforce", onsite_shift=0.0):
    """A CsCl-type crystal (cubic constant 2, atoms at 0 and (½, ½, ½), masses 1 and 2) with central springs
    ``k`` to every neighbour at the distances of ``shells``; ``onsite_shift`` is added to the on-site blocks."""
    cell, basis = 2.0 * np.eye(3), np.array([[0.0, 0.0, 0.0], [0.5, 0.5, 0.5]])
    entries = []
    for s in range(2):
        onsite = np.zeros((3, 3))
        for offset in itertools.product((-1, 0, 1), repeat=3):
            for t in range(2):
                d = cell @ (np.asarray(offset) + basis[t] - basis[s])
                for distance, k in shells:
                    if abs(np.linalg.norm(d) - distance) < 1e-9:
                        block = k * np.outer(d, d) / (d @ d)
                        entries.append((offset, s, t, -block))
                        onsite += block
        entries.append(((0, 0, 0), s, s, onsite + onsite_shift * np.eye(3)))
    return jx.crystal(cell, basis, [1.0, 2.0], entries, species=("Cs", "Cl"), acoustic_sum_rule=acoustic_sum_rule, name="cscl")


@functools.cache
def _emt_cu_phonopy():
    """phonopy's EMT copper on a 2×2×2 supercell (made once; each case edits a deep copy)."""
    from jaxion.crystals import emt_phonopy

    return emt_phonopy("Cu-fcc", supercell=(2, 2, 2))


def _cu_phonopy(scale=1.0, edit=None, masses=None):
    """A copy of :func:`_emt_cu_phonopy` with its force constants times ``scale``, ``edit(fc)`` applied in place
    and ``masses`` (amu) set."""
    phonon = copy.deepcopy(_emt_cu_phonopy())
    fc = np.array(phonon.force_constants) * scale
    if edit is not None:
        edit(fc)
    phonon.force_constants = fc
    if masses is not None:
        phonon.masses = masses
    return phonon


def _from_phonopy(*args, **kwargs):
    from jaxion.crystals import from_phonopy

    return lambda: from_phonopy(_cu_phonopy(*args), **kwargs)


def _add_block(atom_a, atom_b, block):
    def edit(fc):
        fc[atom_a, atom_b] += block
    return edit


def _no_force_constants():
    from jaxion.crystals import from_phonopy

    phonon = copy.deepcopy(_emt_cu_phonopy())
    phonon.force_constants = None
    return from_phonopy(phonon)


def _garbage_file(text="force_constants: [1, 2\n  not: yaml: at all\n", name="not-yaml.yaml"):
    """A file that phonopy cannot load, under a fixed name in the temporary folder (so the table reads the same)."""
    path = Path(tempfile.gettempdir()) / "jaxion-bad-inputs" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return str(path)


def _ase_pair(scale_lengths=1.0):
    """The primitive cell and the supercell of :func:`_emt_cu_phonopy` as ASE ``Atoms`` (lengths times
    ``scale_lengths``) and its force constants."""
    from ase import Atoms

    phonon = _emt_cu_phonopy()
    cells = []
    for cell in (phonon.primitive, phonon.supercell):
        cells.append(Atoms(cell.symbols, cell=np.asarray(cell.cell) * scale_lengths, scaled_positions=cell.scaled_positions,
                           pbc=True))
    return cells[0], cells[1], np.array(phonon.force_constants)


def _from_ase(scale_lengths=1.0, fc_slice=slice(None), shift_atom=None):
    from jaxion.crystals import from_ase

    primitive, supercell, fc = _ase_pair(scale_lengths)
    if shift_atom is not None:
        supercell.positions[shift_atom] += 0.3
    return from_ase(primitive, fc[:, fc_slice], supercell_atoms=supercell)


def _ase_phonons(asymmetric: bool):
    """An ``ase.phonons.Phonons`` of a 1-atom copper cell on a 2×2×2 supercell, without force constants or with
    force constants whose ``Φ(0; R)`` differs from ``Φ(0; −R)ᵀ`` (a non-Hermitian ``D(q)``)."""
    from ase.build import bulk
    from ase.phonons import Phonons

    from jaxion.crystals import from_ase_phonons

    with tempfile.TemporaryDirectory() as folder:
        phonons = Phonons(bulk("Cu", "fcc", a=3.6), None, supercell=(2, 2, 2), name=f"{folder}/phonon")
    if asymmetric:
        fc = np.zeros((8, 3, 3))
        fc[1] = -np.eye(3)
        fc[1, 0, 1] = -0.5  # its partner Φ(0; −R) = fc[1] (R ≡ −R on a 2-cell period) is not its transpose
        fc[0] = -np.sum(fc[1:], axis=0)
        phonons.C_N = fc
    return from_ase_phonons(phonons)


def _elastic(lattice_builder):
    from jaxion.lattice._long_waves import elastic_tensor

    return lambda: elastic_tensor(lattice_builder())


def _memory_blocked_on_basis():
    system = _diatomic_system()
    return jx.simulate_memory(system, [0.3, 0.0, -3.0], [0.0, 0.0, 5.0], 0.1, dt=1e-2, method="blocked")


def _screening():
    from jaxion import screening

    return screening


CRYSTAL_CASES: list[Case] = [
    # ------------------------------------------------------------------ jx.crystal: force constants
    Case("crystal-asr-small-enforce", lambda: _diatomic(_diatomic_entries(onsite=2 * _FC_CHAIN_K * (1 + 1e-4))), RuntimeWarning,
         r"break the acoustic sum rule by 0\.0001 .* corrected by shifting the on-site blocks",
         "on-site blocks 1e-4 off the acoustic sum rule (default 'enforce': corrected, with a warning)", "jx.crystal"),
    Case("crystal-asr-small-check", lambda: _diatomic(_diatomic_entries(onsite=2 * _FC_CHAIN_K * (1 + 1e-4)), acoustic_sum_rule="check"),
         ValueError, r"break the acoustic sum rule by 0\.0001 .*acoustic_sum_rule='check'",
         "on-site blocks 1e-4 off the acoustic sum rule with acoustic_sum_rule='check'", "jx.crystal"),
    Case("crystal-asr-far-off", lambda: _diatomic(_diatomic_entries(onsite=3 * _FC_CHAIN_K)), ValueError,
         r"break the acoustic sum rule by 0\.333 .*do not describe a free crystal",
         "on-site blocks 50 % too large (refused in every mode)", "jx.crystal"),
    Case("crystal-asr-onsite-missing", lambda: _diatomic(_diatomic_entries()[:-2]), ValueError,
         r"acoustic sum rule .* No on-site block \(0, s, s, Φ\(0s; 0s\)\) was given for atom\(s\) \[0, 1\]",
         "pair blocks only, no on-site blocks (the hint naming them is new)", "jx.crystal"),
    Case("crystal-asr-unknown-mode", lambda: _diatomic(acoustic_sum_rule="ignore"), ValueError,
         r"unknown acoustic_sum_rule 'ignore'; valid options", "acoustic_sum_rule='ignore'", "jx.crystal"),
    Case("crystal-non-hermitian", lambda: _diatomic(_edited_entries(1, ((0,), 1, 0, -1.1 * _FC_CHAIN_K * np.eye(3)))), ValueError,
         r"make D\(q\) non-Hermitian: Φ\(01; \(0,\) 0\) differs from Φ\(00; \(0,\) 1\)ᵀ by 1",
         "a pair and its partner (−R, t, s) with different springs (10 and 11)", "jx.crystal"),
    Case("crystal-non-hermitian-not-transpose",
         lambda: _diatomic(_edited_entries(1, ((0,), 1, 0, -_FC_CHAIN_K * (np.eye(3) + np.eye(3, k=1) / 2)))), ValueError,
         r"non-Hermitian", "a partner block that is not the transpose of its pair's", "jx.crystal"),
    Case("crystal-unstable", lambda: _diatomic(_diatomic_entries(k=-_FC_CHAIN_K, onsite=-2 * _FC_CHAIN_K)), ValueError,
         r"the lattice is unstable: ω² = -26\.7 < 0 at q = \[0\.0\] .*an imaginary frequency",
         "springs of the wrong sign (Φ(0s; Rt) > 0): the optical branch has ω² < 0", "jx.crystal"),
    Case("crystal-unstable-kept-confinement", lambda: _diatomic(_diatomic_entries(onsite=2 * _FC_CHAIN_K * (1 - 1e-3)),
                                                                acoustic_sum_rule="keep"),
         ValueError, r"the lattice is unstable: ω² = .* < 0 at q = \[0\.0\]",
         "a negative on-site confinement kept with acoustic_sum_rule='keep' (ω² < 0 at Γ)", "jx.crystal"),
    Case("crystal-force-constants-nan", lambda: _diatomic(_diatomic_entries(k=np.nan)), ValueError,
         r"force_constants must be finite", "force-constant blocks of NaN", "jx.crystal"),
    Case("crystal-atom-index", lambda: _diatomic(_edited_entries(0, ((0,), 0, 2, -np.eye(3)))), ValueError,
         r"every force constant must be \(R \(dim ints\), s, t, 3×3 block\) with atoms 0\.\.1; got R=\(0,\), s=0, t=2",
         "a block for atom 2 of a 2-atom cell", "jx.crystal"),
    Case("crystal-block-shape", lambda: _diatomic(_edited_entries(0, ((0,), 0, 1, -np.eye(2)))), ValueError,
         r"every force constant must be .* block shape \(2, 2\)", "a 2×2 force-constant block", "jx.crystal"),
    Case("crystal-offset-dimension", lambda: _diatomic(_edited_entries(0, ((0, 0), 0, 1, -np.eye(3)))), ValueError,
         r"every force constant must be \(R \(dim ints\).* got R=\(0, 0\)", "a 2D cell offset R on a chain", "jx.crystal"),
    Case("crystal-no-springs", lambda: _diatomic([]), ValueError, r"force constants and the confinement are all zero",
         "an empty list of force constants", "jx.crystal"),
    # ------------------------------------------------------------------ jx.crystal: masses, positions, species
    Case("crystal-mass-zero", lambda: _diatomic(masses=(0.0, 1.0)), ValueError, r"masses must be finite and > 0",
         "atom mass 0", "jx.crystal"),
    Case("crystal-mass-negative", lambda: _diatomic(masses=(-1.0, 1.0)), ValueError, r"masses must be finite and > 0",
         "atom mass −1", "jx.crystal"),
    Case("crystal-mass-count", lambda: _diatomic(masses=(1.0,)), ValueError, r"masses must give one mass per atom \(2\); got 1",
         "one mass for a 2-atom cell", "jx.crystal"),
    Case("crystal-atoms-on-top", lambda: _diatomic(positions=((0.0,), (0.0,))), ValueError,
         r"basis atoms 0 and 1 sit on top of each other", "both basis atoms at τ = 0", "jx.crystal"),
    Case("crystal-atoms-on-top-translate", lambda: _diatomic(positions=((0.0,), (1.0,))), ValueError,
         r"basis atoms 0 and 1 sit on top of each other", "basis atoms at τ = 0 and τ = 1 (a lattice translate)", "jx.crystal"),
    Case("crystal-positions-shape", lambda: _diatomic(positions=((0.0, 0.0), (0.5, 0.5))), ValueError,
         r"basis_positions must have shape \(atoms, 1\)",
         "2D fractional positions on a chain (read as 4 atoms and reported as a mass count before)", "jx.crystal"),
    Case("crystal-positions-nan", lambda: _diatomic(positions=((0.0,), (np.nan,))), ValueError,
         r"basis_positions must be finite", "basis position NaN", "jx.crystal"),
    Case("crystal-species-count", lambda: _diatomic(species=("A",)), ValueError, r"species must name each of the 2 atoms",
         "one species name for a 2-atom cell", "jx.crystal"),
    # ------------------------------------------------------------------ importers: phonopy, ASE, EMT
    Case("phonopy-no-force-constants", _no_force_constants, ValueError, r"phonon_or_path has no force constants",
         "a Phonopy object without force constants", "jx.from_phonopy"),
    Case("phonopy-not-phonopy", lambda: jx.from_phonopy(3.0), ValueError,
         r"phonon_or_path must be a phonopy\.Phonopy or a phonopy\.yaml path; got float", "a number instead of a Phonopy",
         "jx.from_phonopy"),
    Case("phonopy-missing-file", lambda: jx.from_phonopy("/nonexistent/phonopy.yaml"), ValueError,
         r"phonon_or_path '/nonexistent/phonopy\.yaml': no such file", "a path that does not exist (FileNotFoundError before)",
         "jx.from_phonopy"),
    Case("phonopy-garbage-file", lambda: jx.from_phonopy(_garbage_file()), ValueError,
         r"phonon_or_path '.*\.yaml' could not be read as a phonopy\.yaml",
         "a file that is not YAML (yaml's ParserError before)", "jx.from_phonopy"),
    Case("phonopy-not-phonopy-yaml", lambda: jx.from_phonopy(_garbage_file("just: text\n", "not-phonopy.yaml")), ValueError,
         r"phonon_or_path '.*\.yaml' could not be read as a phonopy\.yaml",
         "YAML without a cell (phonopy's RuntimeError before)", "jx.from_phonopy"),
    Case("phonopy-units-fc-too-large", _from_phonopy(1e3), jx.CrystalUnitsWarning,
         r"largest phonon frequency .* is 2\d\d THz, outside 0\.01–100 THz.*eV/nm²",
         "force constants ×1000 (e.g. eV/nm² or J/m² read as eV/Å²)", "jx.from_phonopy"),
    Case("phonopy-units-fc-too-small", _from_phonopy(1e-6), jx.CrystalUnitsWarning,
         r"largest phonon frequency .* is 0\.008\d* THz, outside 0\.01–100 THz.*Hartree/Bohr²",
         "force constants ×1e-6", "jx.from_phonopy"),
    Case("phonopy-units-masses-kg", _from_phonopy(1.0, None, [63.546 * 1.66054e-27]), jx.CrystalUnitsWarning,
         r"outside 0\.01–100 THz.*masses in kg", "the copper mass in kg (1.06e-25) instead of amu", "jx.from_phonopy"),
    Case("phonopy-mass-zero", _from_phonopy(1.0, None, [0.0]), ValueError, r"masses must be finite and > 0 \(amu\)",
         "atom mass 0 amu", "jx.from_phonopy"),
    Case("phonopy-asr-broken-enforce", _from_phonopy(1.0, _add_block(0, 0, 1e-3 * np.eye(3))), RuntimeWarning,
         r"break the acoustic sum rule by 0\.000\d+ .*corrected", "on-site force constant +1e-3 eV/Å² (corrected, with a warning)",
         "jx.from_phonopy"),
    Case("phonopy-asr-broken-check", _from_phonopy(1.0, _add_block(0, 0, 1e-3 * np.eye(3)), acoustic_sum_rule="check"), ValueError,
         r"acoustic_sum_rule='check'", "on-site force constant +1e-3 eV/Å² with acoustic_sum_rule='check'", "jx.from_phonopy"),
    Case("phonopy-non-hermitian", _from_phonopy(1.0, _add_block(0, 1, 0.3 * np.eye(3, k=1))), ValueError,
         r"non-Hermitian: Φ\(00; .*\) differs from Φ\(00; .*\)ᵀ", "Φ(0; 1) off its partner's transpose by 0.3 eV/Å²",
         "jx.from_phonopy"),
    Case("phonopy-unstable", _from_phonopy(-1.0), ValueError,
         r"the lattice is unstable: ω² = .* < 0 at q = .*in units of the reciprocal lattice vectors, as phonopy writes it\)",
         "force constants of the wrong sign (every branch imaginary)", "jx.from_phonopy"),
    Case("phonopy-fc-nan", _from_phonopy(np.nan), ValueError, r"force_constants must be finite", "force constants NaN",
         "jx.from_phonopy"),
    Case("phonopy-reference-mass", _from_phonopy(1.0, reference_mass_amu=-1.0), ValueError,
         r"reference_mass_amu must be finite and > 0", "reference_mass_amu = −1 (reported as 'mass_amu' before)", "jx.from_phonopy"),
    Case("ase-positions-in-nm", lambda: _from_ase(scale_lengths=0.1), jx.CrystalUnitsWarning,
         r"nearest-neighbour distance .* is 0\.25\d* Å, outside 0\.5–6 Å: positions are probably in nm",
         "cell and positions in nm read as Å", "jx.from_ase"),
    Case("ase-positions-in-bohr-x4", lambda: _from_ase(scale_lengths=7.56), jx.CrystalUnitsWarning,
         r"nearest-neighbour distance .* Å, outside 0\.5–6 Å", "lengths 7.56× too large", "jx.from_ase"),
    Case("ase-fc-shape", lambda: _from_ase(fc_slice=slice(0, 4)), ValueError,
         r"force_constants must have shape \(N, N, 3, 3\) for the N = 8 supercell atoms", "force constants of 8 × 4 atoms",
         "jx.from_ase"),
    Case("ase-supercell-atom-off", lambda: _from_ase(shift_atom=3), ValueError,
         r"supercell_atoms: supercell atom 3 .* is not a lattice translate", "a supercell atom moved by 0.3 Å", "jx.from_ase"),
    Case("ase-phonons-not-read", lambda: _ase_phonons(False), ValueError, r"phonons has no force constants",
         "ase Phonons before run()/read()", "jx.from_ase_phonons"),
    Case("ase-phonons-non-hermitian", lambda: _ase_phonons(True), ValueError, r"phonons: the force constants make D\(q\) non-Hermitian",
         "ase Phonons with Φ(0; −R) ≠ Φ(0; R)ᵀ by half the largest block", "jx.from_ase_phonons"),
    Case("emt-unknown-structure", lambda: jx.emt_crystal("NaCl"), ValueError, r"unknown structure 'NaCl'; valid options",
         "EMT structure 'NaCl'", "jx.emt_crystal"),
    Case("emt-displacement-zero", lambda: jx.emt_crystal("Cu-fcc", displacement=0.0), ValueError,
         r"displacement must be in \(0, 0\.5\) Å", "finite displacement 0 Å", "jx.emt_crystal"),
    Case("emt-supercell-two-numbers", lambda: jx.emt_crystal("Cu-fcc", supercell=(2, 2)), ValueError,
         r"supercell must be three positive integers", "phonopy supercell (2, 2)", "jx.emt_crystal"),
    # ------------------------------------------------------------------ long waves (elastic constants, recoil)
    Case("elastic-of-chain", _elastic(lambda: jx.chain3d(K)), ValueError, r"elastic constants need a 3D lattice",
         "elastic constants of a chain", "jaxion.lattice._long_waves.elastic_tensor"),
    Case("elastic-basis-confined", _elastic(lambda: _cscl(acoustic_sum_rule="keep", onsite_shift=1e-4)), ValueError,
         r"elastic constants of a crystal with a basis needs the acoustic sum rule",
         "a basis with an on-site confinement kept (acoustic_sum_rule='keep')", "jaxion.lattice._long_waves.elastic_tensor"),
    Case("elastic-loose-internal-coordinate", _elastic(lambda: _cscl(shells=((2.0, 3.0),))), ValueError,
         r"zero or negative mode besides the three uniform translations .* an internal coordinate has no restoring force",
         "CsCl with Cs–Cs and Cl–Cl springs only (the two sublattices slide freely)", "jaxion.lattice._long_waves.elastic_tensor"),
    Case("recoil-basis-confined", lambda: jx.recoil_matrix(_cscl(acoustic_sum_rule="keep", onsite_shift=1e-4)), ValueError,
         r"recoil matrix .* needs an acoustic \(unconfined\) lattice", "recoil matrix of a confined basis", "jx.recoil_matrix"),
    # ------------------------------------------------------------------ System on a basis, potentials per species
    Case("system-species-without-potential", lambda: _diatomic_system(potential={"A": jx.Gaussian(0.01, 0.5)}), ValueError,
         r"species \['B'\] of the interacting sites have no pair potential", "potentials for species A only; a site of B",
         "jx.System"),
    Case("system-species-not-a-potential", lambda: _diatomic_system(potential={"A": jx.Gaussian(0.01, 0.5), "B": 3.0}), ValueError,
         r"potential must be a jaxion AbstractPairPotential; got float", "the number 3 as species B's potential", "jx.System"),
    Case("system-basis-site-without-atom", lambda: _diatomic_system(sites=((0,),)), ValueError, r"sites must have shape \(n, 2\)",
         "a site given as a cell only on a crystal with a basis", "jx.System"),
    Case("system-basis-atom-out-of-range", lambda: _diatomic_system(sites=((0, 2),)), ValueError,
         r"sites of a crystal with 2 atoms per cell are \(cell \.\.\., atom\) with atom in 0\.\.1", "site (cell 0, atom 2)", "jx.System"),
    Case("system-one-potential-of-many", lambda: _diatomic_system(potential={"A": jx.Gaussian(), "B": jx.Gaussian()}).potential,
         ValueError, r"one pair potential per species \(A, B\); use system\.potentials",
         "system.potential of a system with one potential per species", "jx.System.potential"),
    Case("born-mayer-decay-zero", lambda: jx.BornMayer(1.0, 0.0), ValueError, r"decay_length must be finite and > 0",
         "Born–Mayer decay length ρ = 0", "jx.BornMayer"),
    Case("born-mayer-decay-inf", lambda: jx.BornMayer(1.0, np.inf), ValueError, r"decay_length must be finite and > 0",
         "Born–Mayer decay length ρ = ∞", "jx.BornMayer"),
    Case("born-mayer-amplitude-nan", lambda: jx.BornMayer(np.nan, 1.0), ValueError, r"amplitude must be finite",
         "Born–Mayer amplitude NaN", "jx.BornMayer"),
    Case("born-mayer-units-type", lambda: jx.BornMayer.from_ev_angstrom(100.0, 0.3, "eV"), ValueError,
         r"units must be a jaxion\.materials\.DimensionlessUnits; got str", "units='eV'", "jx.BornMayer.from_ev_angstrom"),
    Case("screened-coulomb-length-zero", lambda: jx.ScreenedCoulomb(1.0, 0.0), ValueError,
         r"screening_length must be finite and > 0", "screening length 0", "jx.ScreenedCoulomb"),
    Case("screened-coulomb-core-negative", lambda: jx.ScreenedCoulomb(1.0, 1.0, -0.1), ValueError,
         r"core_radius must be finite and >= 0", "core radius −0.1", "jx.ScreenedCoulomb"),
    Case("screened-coulomb-two-strengths", lambda: jx.ScreenedCoulomb.from_ev_angstrom(
        0.5, jx.DimensionlessUnits.from_amu_thz(63.5, 8.0), charge_product=3.0, prefactor=1.0), ValueError,
         r"give exactly one of charge_product .* and prefactor", "both charge_product and prefactor",
         "jx.ScreenedCoulomb.from_ev_angstrom"),
    # ------------------------------------------------------------------ crystal screening
    Case("strain-shape", lambda: _screening().strained(_diatomic_system(), np.eye(2)), ValueError,
         r"strain must be a 3×3 displacement gradient; got shape \(2, 2\)", "a 2×2 strain", "jaxion.screening.strained"),
    Case("strain-inverts-cell", lambda: _screening().crystal_loss(_diatomic_system(), 1.0, strain=-2 * np.eye(3)), ValueError,
         r"det\(1 \+ strain\) must be > 0", "strain −2·1 (turns the cell inside out)", "jaxion.screening.crystal_loss"),
    Case("strain-nan", lambda: _screening().strained(_diatomic_system(), np.full((3, 3), np.nan)), ValueError,
         r"strain must be finite", "strain NaN", "jaxion.screening.strained"),
    Case("drag-position-shape", lambda: _screening().crystal_drag_tensor(_diatomic_system(), [0.0, 0.0]), ValueError,
         r"position must be a 3-vector", "a 2-component ion position", "jaxion.screening.crystal_drag_tensor"),
    Case("crystal-hop-zero-length", lambda: _screening().crystal_hop_energy(_diatomic_system(), [0, 0.3, 0], [0, 0.3, 0], 0.1),
         ValueError, r"\|end - start\| \(hop length\) must be finite and > 0", "a hop with start = end",
         "jaxion.screening.crystal_hop_energy"),
    Case("crystal-hop-one-point", lambda: _screening().crystal_hop_energy(_diatomic_system(), [0, 0.3, 0], [0, 0.3, 1], 0.1, points=1),
         ValueError, r"points must be an integer >= 2", "a hop integrated on 1 point", "jaxion.screening.crystal_hop_energy"),
    Case("stack-different-structures", lambda: _screening().stack_systems([_diatomic_system(), _diatomic_system(sites=((0, 0),))]),
         ValueError, r"systems\[1\] does not have the structure of systems\[0\]", "two systems with different sites",
         "jaxion.screening.stack_systems"),
    Case("rank-drag-not-scalar", lambda: _screening().rank_by_drag([_diatomic_system()] * 2, lambda s: s.lattice.masses), ValueError,
         r"drag must return one scalar per system; got shape \(2,\)", "a drag measure that returns the two masses",
         "jaxion.screening.rank_by_drag"),
    Case("descend-steps-zero", lambda: _screening().descend_crystal_drag(_diatomic_system(), lambda s: s.lattice.masses.sum(), steps=0),
         ValueError, r"steps must be a positive integer", "0 descent steps", "jaxion.screening.descend_crystal_drag"),
    Case("descend-start-outside-bounds", lambda: _screening().descend_crystal_drag(_diatomic_system(), lambda s: s.lattice.masses.sum(),
                                                                                   stiffness_bounds=(2.0, 3.0)),
         ValueError, r"start value of stiffness factor .* is outside its range \(2\.0, 3\.0\)",
         "stiffness bounds (2, 3) that exclude the start factor 1", "jaxion.screening.descend_crystal_drag"),
    # ------------------------------------------------------------------ kernels and the memory engine on a basis
    Case("memory-blocked-on-basis", _memory_blocked_on_basis, ValueError,
         r"method='blocked' carries real standing-wave modes of a Bravais lattice; on a crystal with a basis",
         "the blocked memory engine on a 2-atom cell", "jx.simulate_memory"),
    Case("kernel-atom-pairs-shape", lambda: _kernels().kernel_by_differences(_diatomic(), np.zeros((2, 1), int), [0.0, 0.1], 4,
                                                                             atom_pairs=np.zeros((1, 2), int)),
         ValueError, r"atom_pairs must give the two atoms \(s, t\), each in 0\.\.1, of each of the 2 differences",
         "one atom pair for two differences", "jaxion.kernels.kernel_by_differences"),
    Case("kernel-basis-atom-out-of-range", lambda: jx.response_kernel(_diatomic(), [[0, 3]], [0.0, 0.1], points_per_axis=4),
         ValueError, r"cells of a crystal with 2 atoms per cell are rows \(cell \.\.\., atom\) with atom in 0\.\.1; got atoms \[3\]",
         "kernel site (cell 0, atom 3)", "jx.response_kernel"),
    Case("system-basis-sites-without-atom", lambda: jx.System(_diatomic(), jx.Gaussian(0.1, 1.0), np.zeros((2, 1), int)), ValueError,
         r"sites must have shape \(n, 2\) \(rows \(cell \.\.\., atom\) of a 1D crystal with 2 atoms per cell\)",
         "sites of a 2-atom crystal given as cells only (the atom column missing)", "jx.System"),
    Case("lattice-positions-atom-out-of-range", lambda: _diatomic().positions(np.zeros((1, 1), int), np.array([5])), ValueError,
         r"atoms must be basis-atom indices 0 … 1 of this lattice; got \[5\]",
         "Lattice.positions of atom 5 on a 2-atom cell (JAX would clamp the index: another atom's position)", "Lattice.positions"),
    Case("lattice-positions-atom-out-of-range-jit",
         lambda: jax.block_until_ready(eqx.filter_jit(lambda a: _diatomic().positions(jnp.zeros((1, 1), int), a))(jnp.array([5]))),
         eqx.EquinoxRuntimeError, r"atoms must be basis-atom indices 0 … 1 of this lattice",
         "the same under jit (an in-graph check)", "Lattice.positions"),
    # ------------------------------------------------------------------ jaxion run --phonopy
    Case("cli-phonopy-unknown-structure", _command("--phonopy", "emt:NaCl", "--speeds", "10000"), CommandError,
         r"exit 2: .*unknown structure 'NaCl'", "--phonopy emt:NaCl", "jaxion run"),
    Case("cli-phonopy-missing-file", _command("--phonopy", "/nonexistent/phonopy.yaml", "--speeds", "10000"), CommandError,
         r"exit 2: .*--phonopy /nonexistent/phonopy\.yaml: no such file", "--phonopy with a missing file", "jaxion run"),
    Case("cli-phonopy-garbage-file", lambda: _command("--phonopy", _garbage_file(), "--speeds", "10000")(), CommandError,
         r"exit 2: .*'.*\.yaml' could not be read as a phonopy\.yaml", "--phonopy with a file that is not YAML (a traceback before)",
         "jaxion run"),
    Case("cli-phonopy-ion-mass", _command("--phonopy", "emt:Cu-fcc", "--ion-mass", "-1"), CommandError,
         r"exit 2: .*--ion-mass must be a positive mass in amu", "--ion-mass -1", "jaxion run"),
    Case("cli-phonopy-direction-zero", _command("--phonopy", "emt:Cu-fcc", "--direction", "0,0,0"), CommandError,
         r"exit 2: .*--direction must be three numbers, not all zero", "--direction 0,0,0", "jaxion run"),
]
CASES += CRYSTAL_CASES



# ---------------------------------------------------------------------- finite temperature
@functools.cache
def _cage_model():
    system = jx.System(jx.simple_cubic(), jx.Gaussian(4.0, 0.5), jx.cubic_cell_sites(), mass_ratio=0.05)
    return jx.time_local_model(system)


def _noisy(thermal=None, dt=None, positions=None, model=None, **kwargs):
    starts = np.tile([1.0, 1.0, 1.0], (2, 1)) if positions is None else positions
    bath = jx.ThermalBath(0.02, jax.random.key(0), quantum=False) if thermal is None else thermal
    return lambda: jx.simulate_local_thermal(_cage_model() if model is None else model, starts, np.zeros_like(starts), 0.1,
                                             thermal=bath, dt=dt, **kwargs)


def _traced_temperature(value):
    def run():
        starts = np.tile([1.0, 1.0, 1.0], (2, 1))
        solve = eqx.filter_jit(lambda t: jx.simulate_local_thermal(
            _cage_model(), starts, 0 * starts, 0.05, thermal=jx.ThermalBath(t, jax.random.key(0), quantum=False), dt=0.005,
            max_steps=20).kinetic)
        return jax.block_until_ready(solve(jnp.asarray(value)))
    return run


def _cosine(z):
    return 0.1 * (1 - jnp.cos(jnp.pi * z))


THERMAL_CASES: list[Case] = [
    Case("thermal-local-quantum", lambda: _noisy(thermal=jx.ThermalBath(0.02, jax.random.key(0)))(), ValueError,
         r"thermal\.quantum must be False", "the stochastic time-local engine with a quantum bath (its noise is classical)",
         "jx.simulate_local_thermal"),
    Case("thermal-local-not-a-bath", lambda: _noisy(thermal=0.02)(), ValueError, r"thermal must be a jaxion\.ThermalBath",
         "thermal=0.02 instead of a ThermalBath", "jx.simulate_local_thermal"),
    Case("thermal-local-negative-temperature", lambda: jx.ThermalBath(-0.1, jax.random.key(0), quantum=False), ValueError,
         r"temperature must be finite and > 0", "T = −0.1", "jx.ThermalBath"),
    Case("thermal-local-nan-temperature", lambda: jx.ThermalBath(float("nan"), jax.random.key(0), quantum=False), ValueError,
         r"temperature must be finite and > 0", "T = NaN", "jx.ThermalBath"),
    Case("thermal-local-traced-negative-temperature", _traced_temperature(-0.02), eqx.EquinoxRuntimeError,
         r"thermal\.temperature must be finite and > 0", "T = −0.02 traced under jit (an in-graph check)",
         "jx.simulate_local_thermal"),
    Case("thermal-local-dt-oscillation", _noisy(dt=0.2), ValueError, r"dt = 0\.2 is too large for the landscape's oscillation",
         "a step of 0.2 τ, longer than 1/8 of the cage's oscillation period", "jx.simulate_local_thermal"),
    Case("thermal-local-dt-negative", _noisy(dt=-0.01), ValueError, r"dt must be finite and > 0", "dt = −0.01",
         "jx.simulate_local_thermal"),
    Case("thermal-local-key-shape", lambda: _noisy(thermal=jx.ThermalBath(0.02, jax.random.split(jax.random.key(0), 3),
                                                                           quantum=False))(),
         ValueError, r"thermal\.key must be one key or one key per member \(shape \(2,\)\)", "3 keys for 2 members",
         "jx.simulate_local_thermal"),
    Case("thermal-local-key-kind", lambda: jx.ThermalBath(0.02, np.arange(3.0), quantum=False), ValueError,
         r"key must be a jax\.random key",
         "a float array as the key", "jx.ThermalBath"),
    Case("thermal-local-recoil-not-psd", lambda: _noisy(model=jx.TimeLocalModel(_cage_model().system, -_cage_model().recoil,
                                                                                _cage_model().greens))(),
         ValueError, r"model\.recoil must be symmetric positive semi-definite", "a negative recoil matrix (the noise needs sqrt(Γ))",
         "jx.simulate_local_thermal"),
    Case("thermal-local-no-drag", lambda: _noisy(model=jx.time_local_model(_cage_model().system, drag=False,
                                                                           greens=_cage_model().greens))(),
         ValueError, r"model\.drag must be True", "a model without drag (no noise without it)", "jx.simulate_local_thermal"),
    Case("thermal-local-positions-shape", _noisy(positions=np.ones(3)), ValueError,
         r"ion_positions and ion_velocities must both have shape \(members, 3\)", "one (3,) position instead of (members, 3)",
         "jx.simulate_local_thermal"),
    Case("thermal-local-solver", _noisy(solver="rk4"), ValueError, r"unknown solver 'rk4'", "solver='rk4'",
         "jx.simulate_local_thermal"),
    Case("thermal-period-zero", lambda: jx.time_local_model(_cage_model().system, recoil=_cage_model().recoil,
                                                            greens=_cage_model().greens, period=[0.0, 0.0, 0.0]),
         ValueError, r"period must be a nonzero lattice translation", "a zero channel period", "jx.time_local_model"),
    Case("thermal-channel-sites-period-shape", lambda: jx.channel_sites(jx.simple_cubic(), [1.0, 1.0, 0.0], [2.0], 2.5), ValueError,
         r"period must be a lattice translation \(3,\)", "a channel period of shape (1,)", "jx.channel_sites"),
    Case("thermal-state-negative-temperature", lambda: jx.thermal_state(jx.simple_cubic(), (4, 4, 4), jax.random.key(0), -1.0),
         ValueError, r"temperature must be finite and > 0", "a supercell thermal state at T = −1", "jx.thermal_state"),
    Case("thermal-state-bad-supercell", lambda: jx.thermal_state(jx.simple_cubic(), (4, 4), jax.random.key(0), 0.1),
         ValueError, r"supercell", "a 2-axis supercell for a 3D lattice", "jx.thermal_state"),
    Case("thermal-rates-temperature", lambda: jx.transition_state_rate(_cosine, 2.0, 0.0), ValueError, r"temperature",
         "transition-state rate at T = 0", "jx.transition_state_rate"),
    Case("thermal-rates-flat", lambda: jx.landscape_extrema(lambda z: 0.0 * z, 2.0), ValueError, r"potential",
         "a flat landscape (no barrier)", "jx.landscape_extrema"),
    Case("thermal-rates-negative-drag", lambda: jx.kramers_rate(_cosine, -1.0, 2.0, 0.05), ValueError, r"drag",
         "a negative friction", "jx.kramers_rate"),
    Case("thermal-hops-period", lambda: jx.count_hops(np.zeros(10), 0.0), ValueError, r"period must be finite and > 0",
         "hop counting with period 0", "jx.count_hops"),
    Case("thermal-arrhenius-one-temperature", lambda: jx.arrhenius_fit([0.1], [1.0]), ValueError, r"temperatures",
         "an Arrhenius fit of one point", "jx.arrhenius_fit"),
    Case("thermal-einstein-dt", lambda: jx.diffusion_einstein(np.zeros((2, 10, 3)), -1.0), ValueError, r"dt", "dt = −1",
         "jx.diffusion_einstein"),
]
CASES += THERMAL_CASES

# Known gaps: inputs still not handled well (each entry states the error it *should* raise). None now.
KNOWN_GAPS: list[Case] = []
