"""Plain NumPy/SciPy reference implementation of paper 1's pass (equations (1.3)-(1.4)).

This is the code a user would write without jaxion, used as the baseline in
``bench_full_engine.py``:

* the coupling matrix ``Ξ`` of a periodic supercell of any :class:`jaxion.Lattice` assembled once as a
  ``scipy.sparse`` CSR matrix (from the lattice's ``pair_offsets``, ``pair_force_constants`` and
  ``confinement``, converted to NumPy),
* the same equations of motion in dimensionless time τ::

      σ'' = −(4π²/μ) ∇_σ Φ             (projected on the line of motion: the ion is constrained)
      ρ'' = −4π² (Ξρ + ∇_ρ Φ),          Φ = Σ_a Φ0 exp(−|R_a + Pρ_a − σ|²/(2λ²)),

* (a) a fixed-step classic RK4 integrator that stops after the step on which the ion crosses the stop
  plane, and (b) ``scipy.integrate.solve_ivp(method="DOP853")`` with a terminal event on that plane,
* the loss of one pass ``μ(v0² − v1²)/(8π²)`` with jaxion's pass protocol (start 7λ before the
  interacting sites, stop 7λ past them, framework at rest; ``jaxion.pass_geometry``).

The state layout matches jaxion's: displacements channels-first ``(dof, *supercell)`` flattened in C
order, so ``Ξ = Σ kron(K, P)`` with ``K`` a ``dof × dof`` block and ``P`` a cells × cells shift matrix.

Run ``python benchmarks/baseline_numpy.py --check`` to compare the baseline with jaxion on small cases
(the losses must agree to 1e-6 relative when both integrators are converged).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.integrate import solve_ivp

FOUR_PI_SQ = 4.0 * np.pi**2

__all__ = [
    "coupling_matrix",
    "BaselineProblem",
    "make_problem",
    "rk4_pass",
    "dop853_pass",
    "pass_loss",
]


# ----------------------------------------------------------------------------- coupling matrix


def _cyclic_shift(n: int, offset: int) -> sp.csr_matrix:
    """``(S x)[m] = x[(m + offset) mod n]`` as a sparse n × n matrix."""
    rows = np.arange(n)
    cols = (rows + offset) % n
    return sp.csr_matrix((np.ones(n), (rows, cols)), shape=(n, n))


def _shift(supercell: Sequence[int], offset: Sequence[int]) -> sp.csr_matrix:
    """``(S x)[m] = x[m + offset]`` on a periodic supercell flattened in C order."""
    matrix = sp.identity(1, format="csr")
    for n, o in zip(supercell, offset):
        matrix = sp.kron(matrix, _cyclic_shift(int(n), int(o)), format="csr")
    return matrix


def coupling_matrix(lattice, supercell: Sequence[int]) -> sp.csr_matrix:
    """``Ξ`` of a periodic supercell as a CSR matrix acting on ``ρ.reshape(-1)`` (``ρ`` of shape
    ``(dof, *supercell)``):

        (Ξρ)_m = C ρ_m + Σ_v K_v (2ρ_m − ρ_{m+v} − ρ_{m−v}).
    """
    supercell = tuple(int(n) for n in supercell)
    cells = int(np.prod(supercell))
    if lattice.atoms != 1:
        raise ValueError("the baseline handles Bravais lattices (one atom per cell, unit mass) only.")
    blocks = -np.asarray(lattice.pair_force_constants, dtype=float)  # the bonds K_v = −Φ_v
    confinement = np.asarray(lattice.confinement, dtype=float)[0]
    offsets = [tuple(v) for v in lattice.pair_offsets]
    diagonal = confinement + 2.0 * blocks.sum(axis=0)
    xi = sp.kron(sp.csr_matrix(diagonal), sp.identity(cells, format="csr"), format="csr")
    for block, offset in zip(blocks, offsets):
        neighbours = _shift(supercell, offset) + _shift(supercell, [-o for o in offset])
        xi = xi - sp.kron(sp.csr_matrix(block), neighbours, format="csr")
    xi = sp.csr_matrix(xi)
    xi.eliminate_zeros()
    xi.sum_duplicates()
    xi.sort_indices()
    return xi


# ----------------------------------------------------------------------------- problem


@dataclass
class BaselineProblem:
    """Everything the right-hand side needs, as NumPy arrays."""

    xi: sp.csr_matrix  # (dof·cells, dof·cells)
    dof: int
    cells: int
    site_index: np.ndarray  # (sites,) flat cell index of each interacting site
    site_positions: np.ndarray  # (sites, 3) equilibrium positions R_a
    polarisation: np.ndarray  # (3, dof)
    amplitude: float  # Φ0
    width: float  # λ
    mass_ratio: float  # μ
    line: np.ndarray | None  # unit direction of the constrained ion, or None (free ion)
    start: np.ndarray  # ion start position
    direction: np.ndarray  # unit direction of motion
    stop_point: np.ndarray  # a point of the stop plane (normal = direction)
    path_length: float

    @property
    def size(self) -> int:
        return 6 + 2 * self.dof * self.cells

    def initial_state(self, speed: float) -> np.ndarray:
        y = np.zeros(self.size)
        y[0:3] = self.start
        y[3:6] = speed * self.direction
        return y

    def rhs(self, t: float, y: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """``dy/dτ`` for ``y = [σ, σ', ρ, ρ']`` (ρ flattened from ``(dof, *supercell)``)."""
        n = self.dof * self.cells
        sigma = y[0:3]
        rho = y[6 : 6 + n]
        if out is None:
            out = np.empty_like(y)
        out[0:3] = y[3:6]
        out[6 : 6 + n] = y[6 + n :]
        # Framework: ρ'' = −4π² (Ξρ + ∇_ρ Φ).
        acc = out[6 + n :]
        acc[:] = self.xi @ rho
        # Interaction with the sites (a handful of entries).
        sites_rho = rho.reshape(self.dof, self.cells)[:, self.site_index].T  # (sites, dof)
        separation = self.site_positions + sites_rho @ self.polarisation.T - sigma  # r_a = R_a + Pρ_a − σ
        phi = self.amplitude * np.exp(-np.sum(separation**2, axis=1) / (2 * self.width**2))
        d_phi_d_r = -(phi / self.width**2)[:, None] * separation  # ∂φ/∂r_a
        grad_sigma = -np.sum(d_phi_d_r, axis=0)  # ∂Φ/∂σ = −Σ ∂φ/∂r_a
        grad_sites = d_phi_d_r @ self.polarisation  # ∂Φ/∂ρ_a = Pᵀ ∂φ/∂r_a, (sites, dof)
        acc_view = acc.reshape(self.dof, self.cells)
        np.add.at(acc_view, (slice(None), self.site_index), grad_sites.T)
        acc *= -FOUR_PI_SQ
        force = -grad_sigma
        if self.line is not None:
            force = self.line * np.dot(self.line, force)
        out[3:6] = FOUR_PI_SQ / self.mass_ratio * force
        return out

    def crossed(self, y: np.ndarray) -> float:
        """Signed distance of the ion past the stop plane."""
        return float(np.dot(y[0:3] - self.stop_point, self.direction))

    def loss(self, speed: float, y_final: np.ndarray) -> float:
        v1 = y_final[3:6]
        return self.mass_ratio * (speed**2 - float(np.dot(v1, v1))) / (2 * FOUR_PI_SQ)


def make_problem(
    system, supercell: Sequence[int], *, direction=(0.0, 0.0, 1.0), impact=(0.0, 0.0, 0.0), constrained=True, xi=None
) -> BaselineProblem:
    """Convert a :class:`jaxion.System` (Gaussian or sum-free Gaussian potential) into NumPy arrays.

    Only the geometry helper ``jaxion.pass_geometry`` is borrowed from jaxion, so both codes start
    and stop the ion at exactly the same places. ``xi`` may be passed to reuse an assembled matrix.
    """
    import jaxion as jx

    potential = system.potential
    if not isinstance(potential, jx.Gaussian):
        raise ValueError("the baseline implements the Gaussian pair potential only.")
    lattice = system.lattice
    supercell = tuple(int(n) for n in np.atleast_1d(supercell))
    cells = int(np.prod(supercell))
    sites = np.asarray(system.sites, dtype=int).reshape(-1, lattice.dim)
    site_index = np.ravel_multi_index(tuple(np.mod(sites, supercell).T), supercell)
    geometry = jx.pass_geometry(system, direction, impact)
    unit = np.asarray(geometry.direction, dtype=float)
    return BaselineProblem(
        xi=coupling_matrix(lattice, supercell) if xi is None else xi,
        dof=lattice.dof,
        cells=cells,
        site_index=np.asarray(site_index, dtype=np.int64),
        site_positions=np.asarray(system.site_positions(), dtype=float),
        polarisation=np.asarray(lattice.polarisation, dtype=float),
        amplitude=float(potential.amplitude),
        width=float(potential.width),
        mass_ratio=float(system.mass_ratio),
        line=unit if constrained else None,
        start=np.asarray(geometry.start, dtype=float),
        direction=unit,
        stop_point=np.asarray(geometry.stop_point, dtype=float),
        path_length=float(geometry.path_length),
    )


# ----------------------------------------------------------------------------- integrators


@dataclass
class PassResult:
    loss: float
    end_time: float
    num_steps: int
    num_rhs: int
    stopped: bool


def rk4_pass(problem: BaselineProblem, speed: float, dt: float, time_limit_factor: float = 3.0) -> PassResult:
    """Classic fixed-step RK4; stops after the step on which the ion crosses the stop plane."""
    y = problem.initial_state(speed)
    duration = time_limit_factor * problem.path_length / speed
    k1, k2, k3, k4 = (np.empty_like(y) for _ in range(4))
    tmp = np.empty_like(y)
    t, steps = 0.0, 0
    while t < duration:
        h = min(dt, duration - t)
        problem.rhs(t, y, k1)
        np.multiply(k1, 0.5 * h, out=tmp)
        tmp += y
        problem.rhs(t + 0.5 * h, tmp, k2)
        np.multiply(k2, 0.5 * h, out=tmp)
        tmp += y
        problem.rhs(t + 0.5 * h, tmp, k3)
        np.multiply(k3, h, out=tmp)
        tmp += y
        problem.rhs(t + h, tmp, k4)
        k2 += k3
        k2 *= 2.0
        k1 += k2
        k1 += k4
        k1 *= h / 6.0
        y += k1
        t += h
        steps += 1
        if problem.crossed(y) > 0:
            return PassResult(problem.loss(speed, y), t, steps, 4 * steps, True)
    return PassResult(problem.loss(speed, y), t, steps, 4 * steps, False)


def dop853_pass(
    problem: BaselineProblem, speed: float, rtol: float, atol: float = 1e-12, time_limit_factor: float = 3.0, first_step=None
) -> PassResult:
    """``scipy.integrate.solve_ivp(method="DOP853")`` with a terminal event on the stop plane."""
    y0 = problem.initial_state(speed)
    duration = time_limit_factor * problem.path_length / speed

    def event(t, y):
        return problem.crossed(y)

    event.terminal = True
    event.direction = 1.0
    solution = solve_ivp(
        lambda t, y: problem.rhs(t, y),
        (0.0, duration),
        y0,
        method="DOP853",
        rtol=rtol,
        atol=atol,
        events=event,
        first_step=first_step,
        dense_output=False,
    )
    if solution.status == -1:
        raise RuntimeError(f"solve_ivp failed: {solution.message}")
    stopped = solution.status == 1
    y_end = solution.y_events[0][0] if stopped else solution.y[:, -1]
    t_end = solution.t_events[0][0] if stopped else solution.t[-1]
    return PassResult(problem.loss(speed, y_end), float(t_end), len(solution.t) - 1, int(solution.nfev), bool(stopped))


def pass_loss(
    system, speed: float, supercell, *, impact=(0.0, 0.0, 0.0), method="dop853", dt=None, rtol=1e-10, atol=1e-12, problem=None
) -> float:
    """Loss ``μ(v0² − v1²)/(8π²)`` of one pass with the baseline (``method`` = ``"rk4"`` or ``"dop853"``)."""
    problem = make_problem(system, supercell, impact=impact) if problem is None else problem
    if method == "rk4":
        if dt is None:
            raise ValueError("rk4 needs dt.")
        return rk4_pass(problem, speed, dt).loss
    if method == "dop853":
        return dop853_pass(problem, speed, rtol, atol).loss
    raise ValueError(f"unknown method {method!r}")


# ----------------------------------------------------------------------------- check against jaxion


def _check() -> None:
    import warnings

    import jax

    import jaxion as jx

    warnings.simplefilter("ignore", jx.EchoWarning)
    chain = jx.System(jx.chain3d(99 / 4, confinement_parallel=1.0), jx.Gaussian(0.01, 1.0))
    cubic = jx.System(jx.simple_cubic(15.0, 5.0, 2.0), jx.Gaussian(0.01, 1.0))
    cases = [
        ("chain3d N=64, v=10, s=1", chain, 10.0, (64,), (0.0, 1.0, 0.0)),
        ("chain3d N=64, v=3, s=0", chain, 3.0, (64,), (0.0, 0.0, 0.0)),
        ("simple cubic 8^3, v=20, s=0", cubic, 20.0, (8, 8, 8), (0.0, 0.0, 0.0)),
        ("simple cubic 8^3, v=5, s=0.5", cubic, 5.0, (8, 8, 8), (0.5, 0.0, 0.0)),
    ]
    worst = 0.0
    for label, system, speed, supercell, impact in cases:
        # The matrix must equal the jaxion stencil on a random field.
        problem = make_problem(system, supercell, impact=impact)
        rng = np.random.default_rng(0)
        field = rng.standard_normal((system.lattice.dof, *supercell))
        stencil = np.asarray(system.lattice.apply_coupling(jax.numpy.asarray(field))).reshape(-1)
        matvec = problem.xi @ field.reshape(-1)
        err_matvec = np.max(np.abs(stencil - matvec)) / np.max(np.abs(stencil))
        assert err_matvec < 1e-13, f"{label}: Ξρ differs from lattice.apply_coupling by {err_matvec:.2e}"

        t0 = time.perf_counter()
        ref = jx.simulate_pass(system, speed, supercell, impact=impact, solver="dopri8", rtol=1e-12, atol=1e-15)
        jax_loss = float(ref.loss)
        t_jax = time.perf_counter() - t0
        assert int(ref.status) == 0 and bool(ref.stopped_by_event), f"{label}: jaxion pass did not finish"
        t0 = time.perf_counter()
        dop = dop853_pass(problem, speed, rtol=1e-12, atol=1e-15)
        t_dop = time.perf_counter() - t0
        omega_max = system.lattice.max_frequency(supercell)
        dt = min(0.02 / (2 * np.pi * omega_max), problem.path_length / speed / 4000)
        t0 = time.perf_counter()
        rk4 = rk4_pass(problem, speed, dt)
        t_rk4 = time.perf_counter() - t0
        rel_dop = abs(dop.loss - jax_loss) / abs(jax_loss)
        rel_rk4 = abs(rk4.loss - jax_loss) / abs(jax_loss)
        worst = max(worst, rel_dop, rel_rk4)
        print(
            f"{label:32s} jaxion dopri8(1e-12) {jax_loss:.10e} [{t_jax:5.1f}s]  "
            f"DOP853(1e-12) {dop.loss:.10e} rel {rel_dop:.1e} [{t_dop:5.1f}s]  "
            f"RK4(dt={dt:.2e}) {rk4.loss:.10e} rel {rel_rk4:.1e} [{t_rk4:5.1f}s]  |Ξρ| err {err_matvec:.1e}"
        )
        assert rel_dop < 1e-6, f"{label}: DOP853 and jaxion disagree by {rel_dop:.2e} relative"
        assert rel_rk4 < 1e-6, f"{label}: RK4 and jaxion disagree by {rel_rk4:.2e} relative"
    print(f"check passed: worst relative difference {worst:.2e} (< 1e-6)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare the baseline with jaxion on small cases (assertions)")
    args = parser.parse_args()
    if args.check:
        _check()
    else:
        parser.print_help()


if __name__ == "__main__":
    main()
