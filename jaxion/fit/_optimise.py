"""The fit: χ² in log space minimised by optax for all starts at once, a Levenberg–Marquardt polish, and
the 1σ uncertainties (see :mod:`jaxion.fit`)."""

from __future__ import annotations

from collections.abc import Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float

from ._models import Model
from ._problem import _TINY, Target

__all__ = ["residuals", "uncertainties", "FitResult", "fit"]



def residuals(model: Model, target: Target, params: dict) -> Float[Array, " n"]:
    """``r_i = (ln Δ_model(σ'_i) − ln Δ_i)/(δΔ_i/Δ_i)`` (χ² = Σ r², see the module docstring)."""
    predicted = model.engine(params, target.speeds)
    return (jnp.log(jnp.maximum(jnp.abs(predicted), _TINY)) - jnp.log(target.losses)) / target.log_sigma


def _chi2_internal(model: Model, target: Target, u):
    r = residuals(model, target, model.physical(u))
    return jnp.sum(r**2)


@eqx.filter_jit
def _physical_jacobian(model: Model, target: Target, x):
    """Residuals and ``∂r/∂x`` in the physical free parameters (reverse mode: diffrax's checkpointed
    adjoint has no forward mode)."""
    r_of_x = lambda v: residuals(model, target, model.with_free(v))  # noqa: E731
    return r_of_x(x), jax.jacrev(r_of_x)(x)


def uncertainties(model: Model, target: Target, x: Float[Array, " p"]):
    """1σ uncertainties of the free parameters at physical values ``x`` from the Gauss–Newton curvature:
    ``cov = (Jᵀ J)⁻¹`` with ``J = ∂r/∂x`` (``r`` already divided by the uncertainties, i.e. ``JᵀWJ``).
    Without target uncertainties the covariance is scaled by the reduced χ² ``χ²/(n − p)``.

    Returns ``(sigma (p,), covariance (p, p), chi2)``.
    """
    r, jac = _physical_jacobian(model, target, jnp.asarray(x, float))
    covariance = jnp.linalg.pinv(jac.T @ jac)
    chi2 = jnp.sum(r**2)
    n, p = r.shape[0], x.shape[0]
    if target.uncertainties is None and n > p:
        covariance = covariance * chi2 / (n - p)
    return jnp.sqrt(jnp.diag(covariance)), covariance, chi2


def _check_sensitivity(model: Model, target: Target, x0) -> None:
    """Each free parameter must change the residuals at the start: a zero (or non-finite) column of
    ``∂r/∂x`` (scaled by the parameter's size) is a parameter the engine ignores."""
    jac = np.asarray(_physical_jacobian(model, target, jnp.asarray(x0))[1])
    scales = np.asarray([model.free[n].scale(jnp.asarray(v)) for n, v in zip(model.names, x0)])
    sensitivity = np.max(np.abs(jac) * scales[None, :], axis=0)
    for name, s, column in zip(model.names, sensitivity, jac.T):
        if not np.all(np.isfinite(column)):
            raise ValueError(
                f"the gradient of the model with respect to {name!r} is not finite at the start {dict(zip(model.names, map(float, x0)))}; "
                "this engine cannot be differentiated with respect to it (see the engine's docstring)."
            )
    top = float(np.max(sensitivity)) if np.all(np.isfinite(sensitivity)) else 0.0
    for name, s in zip(model.names, sensitivity):
        if not s > 1e-12 * max(top, 1e-300):
            raise ValueError(
                f"parameter {name!r} does not affect the model ({model.name}) at the start value "
                f"{float(x0[model.names.index(name)]):.6g}: ∂Δ/∂{name} = 0 at every speed (zero gradient path). "
                "Fix it, or start it away from a symmetry point."
            )


# ----------------------------------------------------------------------------- fitting


class FitResult(eqx.Module):
    """Outcome of :func:`fit`.

    Attributes:
        names: free parameters, in order.
        best: physical values of the best start, ``(p,)``.
        sigma: 1σ uncertainties of ``best`` (Gauss–Newton curvature, see :func:`uncertainties`).
        covariance: ``(p, p)``.
        chi2: χ² of the best start; ``all_chi2`` of every start, ``(starts,)``.
        all_params: physical values of every start's optimum, ``(starts, p)``.
        starts: physical start values, ``(starts, p)``.
        history: χ² per iteration and start, ``(iterations, starts)`` (optax phase, then the polish).
        reasons: why each start stopped ("gradient norm", "relative change", "max iterations",
            "non-finite").
        iterations: iterations of each start: the optax phase's (at most ``max_iterations``) plus the polish's (at
            most ``polish_steps``).
        best_index: index of the best start.

    Printed, it shows the numbers (``name = value ± 1σ``, χ², why each start stopped), not array shapes.
    """

    names: tuple[str, ...] = eqx.field(static=True)
    best: Float[Array, " p"]
    sigma: Float[Array, " p"]
    covariance: Float[Array, "p p"]
    chi2: Float[Array, ""]
    all_params: Float[Array, "starts p"]
    all_chi2: Float[Array, " starts"]
    starts: Float[Array, "starts p"]
    history: np.ndarray
    reasons: tuple[str, ...] = eqx.field(static=True)
    iterations: tuple[int, ...] = eqx.field(static=True)
    best_index: int = eqx.field(static=True)

    @property
    def params(self) -> dict[str, float]:
        """Best values by name."""
        return {n: float(v) for n, v in zip(self.names, self.best)}

    @property
    def errors(self) -> dict[str, float]:
        """1σ by name."""
        return {n: float(v) for n, v in zip(self.names, self.sigma)}

    def __repr__(self) -> str:
        lines = [f"FitResult: best of {len(self.reasons)} start(s) = start {self.best_index}, χ² = {float(self.chi2):.6g}"]
        lines += [f"  {name} = {float(value):.6g} ± {float(error):.2g}" for name, value, error in zip(self.names, self.best, self.sigma)]
        stops = {reason: self.reasons.count(reason) for reason in dict.fromkeys(self.reasons)}
        lines.append("  stopped by: " + ", ".join(f"{reason} ({count})" for reason, count in stops.items())
                     + f"; iterations {min(self.iterations)}–{max(self.iterations)}")
        return "\n".join(lines)

    __str__ = __repr__


def _masked(active, new, old):
    return jax.tree_util.tree_map(
        lambda a, b: jnp.where(jnp.reshape(active, (-1,) + (1,) * (a.ndim - 1)), a, b), new, old
    )


def _iterate(step, carry, value, max_iterations, gtol, ftol, desc, progress, patience: int = 3):
    """Drive a vmapped ``step(carry) → (carry, value, gradient norm)`` until every start has stopped:
    gradient norm ``≤ gtol``, or a relative change of χ² ``≤ ftol`` on ``patience`` successive steps."""
    from tqdm.auto import tqdm

    starts = value.shape[0]
    active = np.isfinite(np.asarray(value))
    reasons = ["running" if a else "non-finite" for a in active]
    iterations = [0] * starts
    flat = np.zeros(starts, int)
    history = [np.asarray(value)]
    previous = np.asarray(value)
    with tqdm(total=max_iterations, desc=desc, disable=not progress, leave=False) as bar:
        for it in range(max_iterations):
            if not active.any():
                break
            new_carry, new_value, gnorm = step(carry)
            carry = _masked(jnp.asarray(active), new_carry, carry)
            new_value, gnorm = np.asarray(new_value), np.asarray(gnorm)
            value = np.where(active, new_value, previous)
            history.append(value)
            for i in np.flatnonzero(active):
                iterations[i] = it + 1
                if not np.isfinite(value[i]):
                    reasons[i], active[i] = "non-finite", False
                elif gnorm[i] <= gtol:
                    reasons[i], active[i] = "gradient norm", False
                else:
                    small = abs(previous[i] - value[i]) <= ftol * max(abs(value[i]), 1e-300)
                    flat[i] = flat[i] + 1 if small else 0
                    if flat[i] >= patience:
                        reasons[i], active[i] = "relative change", False
            previous = value
            bar.update(1)
            bar.set_postfix(chi2=float(np.nanmin(value)), running=int(active.sum()))
    reasons = ["max iterations" if r == "running" else r for r in reasons]
    return carry, np.stack(history), reasons, iterations


def _optax_one(model, target, optimizer, carry):
    f = lambda u: _chi2_internal(model, target, u)  # noqa: E731
    u, state = carry
    try:  # line-search optimisers (lbfgs) keep the value and gradient of the last step
        value, grad = optax.value_and_grad_from_state(f)(u, state=state)
    except ValueError:
        value, grad = jax.value_and_grad(f)(u)
    updates, state = optimizer.update(grad, state, u, value=value, grad=grad, value_fn=f)
    u = optax.apply_updates(u, updates)
    new_value, new_grad = jax.value_and_grad(f)(u)
    return (u, state), new_value, jnp.linalg.norm(new_grad)


# Module-level compiled steps (model, target and optimizer are arguments): repeated fits of the same
# kind of model reuse the compilation.
@eqx.filter_jit
def _optax_step(model, target, optimizer, carry):
    return jax.vmap(lambda c: _optax_one(model, target, optimizer, c))(carry)


@eqx.filter_jit
def _optax_init(optimizer, u):
    return jax.vmap(optimizer.init)(u)


@eqx.filter_jit
def _chi2_batch(model, target, u):
    return jax.vmap(lambda v: _chi2_internal(model, target, v))(u)


def _lm_one(model, target, carry):
    """One Levenberg–Marquardt step on the internal parameters: ``(JᵀJ + μ diag JᵀJ) δ = −Jᵀr``;
    μ falls (÷3) after an accepted step and rises (×4) after a rejected one."""
    r_of_u = lambda u: residuals(model, target, model.physical(u))  # noqa: E731
    u, mu = carry
    r = r_of_u(u)
    jac = jax.jacrev(r_of_u)(u)
    jtj, g = jac.T @ jac, jac.T @ r
    delta = -jnp.linalg.solve(jtj + mu * jnp.diag(jnp.diag(jtj) + 1e-300), g)
    trial = u + delta
    old, new = jnp.sum(r**2), jnp.sum(r_of_u(trial) ** 2)
    better = jnp.isfinite(new) & (new <= old)
    u = jnp.where(better, trial, u)
    mu = jnp.where(better, mu / 3.0, mu * 4.0)
    # the gradient norm is that of the step's starting point (no second Jacobian per step)
    return (u, mu), jnp.where(better, new, old), 2 * jnp.linalg.norm(g)


@eqx.filter_jit
def _lm_step(model, target, carry):
    return jax.vmap(lambda c: _lm_one(model, target, c))(carry)


def _optax_phase(model, target, u0, optimizer, max_iterations, gtol, ftol, progress):
    carry = (u0, _optax_init(optimizer, u0))
    value = _chi2_batch(model, target, u0)
    (u, _), history, reasons, iterations = _iterate(
        lambda c: _optax_step(model, target, optimizer, c), carry, value, max_iterations, gtol, ftol,
        f"fit {model.name}", progress,
    )
    return u, history, reasons, iterations


def _lm_phase(model, target, u0, steps, gtol, ftol, progress):
    carry = (u0, jnp.full(u0.shape[0], 1e-3))
    value = _chi2_batch(model, target, u0)
    (u, _), history, reasons, iterations = _iterate(
        lambda c: _lm_step(model, target, c), carry, value, steps, gtol, ftol, f"polish {model.name}", progress,
        patience=8,
    )
    return u, history, reasons, iterations


_DEFAULT_OPTIMIZER = optax.adam(0.05)


def fit(
    model: Model,
    target: Target,
    starts: Mapping[str, object],
    *,
    optimizer: optax.GradientTransformation | None = None,
    max_iterations: int = 200,
    polish_steps: int = 30,
    gtol: float = 1e-9,
    ftol: float = 1e-12,
    progress: bool = False,
    check_sensitivity: bool = True,
) -> FitResult:
    """Fit ``model`` to ``target`` from several starts at once.

    Minimises χ² = Σ_i r_i², ``r_i = (ln Δ_model − ln Δ_i)/(δΔ_i/Δ_i)`` (log space, see the module
    docstring) over the internal (reparametrised) coordinates: all starts advance together in one
    ``jax.jit(jax.vmap(step))``; first ``optimizer`` (default ``optax.adam(0.05)``; any optax
    transformation, e.g. ``optax.lbfgs()`` with its zoom line search), then up to ``polish_steps``
    Levenberg–Marquardt steps (0 to skip). A start stops when the gradient norm (internal coordinates)
    falls below ``gtol``, when χ² changes by less than ``ftol`` relative, or after ``max_iterations``;
    ``FitResult.reasons`` says which. The best start (lowest χ²) gets 1σ uncertainties from the
    Gauss–Newton curvature in the physical parameters (:func:`uncertainties`).

    Args:
        starts: physical start values by free-parameter name: scalars or arrays of the number of starts
            (each start must lie inside its parameter's range).
        progress: tqdm progress bars (one per phase).
        check_sensitivity: raise ``ValueError`` if a free parameter does not change the model at the
            first start (zero gradient path).
    """
    if not isinstance(target, Target):
        raise ValueError(f"target must be a Target; got {type(target).__name__}.")
    u0 = jnp.asarray(model.internal(starts))
    x0 = jax.vmap(lambda u: model.free_vector(model.physical(u)))(u0)
    if check_sensitivity:
        _check_sensitivity(model, target, np.asarray(x0[0]))
    optimizer = _DEFAULT_OPTIMIZER if optimizer is None else optimizer
    u, history, reasons, iterations = _optax_phase(model, target, u0, optimizer, max_iterations, gtol, ftol, progress)
    if polish_steps > 0:
        u, h2, reasons2, it2 = _lm_phase(model, target, u, polish_steps, gtol, ftol, progress)
        history = np.concatenate([history, h2[1:]])
        reasons = [r2 if r2 != "max iterations" else r1 for r1, r2 in zip(reasons, reasons2)]
        iterations = [a + b for a, b in zip(iterations, it2)]
    chi2 = _chi2_batch(model, target, u)
    chi2 = jnp.where(jnp.isfinite(chi2), chi2, jnp.inf)
    x = jax.vmap(lambda v: model.free_vector(model.physical(v)))(u)
    best = int(jnp.argmin(chi2))
    sigma, covariance, best_chi2 = uncertainties(model, target, x[best])
    return FitResult(
        names=model.names, best=x[best], sigma=sigma, covariance=covariance, chi2=best_chi2, all_params=x,
        all_chi2=chi2, starts=x0, history=history, reasons=tuple(reasons), iterations=tuple(iterations),
        best_index=best,
    )
