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

:data:`KNOWN_GAPS` lists inputs that are *not* handled well yet (empty at present; the five full-engine
gaps found first are fixed and live in :data:`FULL_ENGINE_CASES`): each states the behaviour it should
have; the tests mark them ``xfail(strict=True)``, so fixing one turns its test red until the case moves to
:data:`CASES`.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass

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

# Known gaps: inputs still not handled well (each entry states the error it *should* raise). None now.
KNOWN_GAPS: list[Case] = []
