"""Inverse problems: fit a potential (and lattice constants) to measured loss-versus-speed curves with
optax. (Screening materials toward lower drag is in :mod:`jaxion.screening`.)

The pieces:

- :class:`Target`: speeds ``σ'``, losses ``Δ`` and optional 1σ uncertainties (validated).
- A model (:class:`Model`): an *engine* ``(physical parameters, speeds) → Δ`` plus the free parameters,
  each with a reparametrisation (an :class:`AbstractTransform`: :class:`Positive` = ``sign·exp(u)``,
  :class:`Bounded` = sigmoid-scaled, :class:`Unbounded`, or your own subclass). Engines: :func:`chain_model`
  (closed form (1.14)), :func:`paper2_model` ((2.26)),
  :func:`mode_sum_model` ((1.13), any lattice, one or several Gaussians), :func:`simulation_model` (the full
  solve (1.3)–(1.4) by :func:`jaxion.simulate_pass`, vmapped over speeds, gradients through diffrax with
  ``RecursiveCheckpointAdjoint(checkpoints=...)``).
- :func:`fit`: χ² in log space, minimised by an optax optimiser (default ``optax.adam(0.05)``; any optax
  transformation, e.g. ``optax.lbfgs()`` with its zoom line search) for all starts in one ``jax.vmap``,
  then a Levenberg–Marquardt polish; stops with a reason; returns the best start and all of them, with 1σ
  uncertainties from the Gauss–Newton curvature ``JᵀWJ`` in the physical parameters.

Not here: a time-local (1.26) engine (wrap :func:`jaxion.simulate_local` in a :class:`Model` engine the same
way as :func:`simulation_model` if needed).

Why χ² in log space: losses fall over many decades with speed (``σ'^{-4}`` at high speed, ``e^{−Λ²κ}`` at
low speed for the confined chain). Absolute residuals would let the two or three slowest speeds decide
the fit; relative ones weight each point by its own scale. The residual is
``r_i = (ln Δ_model − ln Δ_i)/(δΔ_i/Δ_i)``, i.e. relative residuals over relative uncertainties (equal to
the linear χ² to first order in the noise), and stays well defined when the model is off by a factor 100
at a start. Without uncertainties every point gets a relative uncertainty of 1 and the reported 1σ is
rescaled by the reduced χ² (``χ²/(n − p)``).

Sign of ``Φ0``: every linear-response engine ((1.13), (1.14), (2.26)) is quadratic in ``Φ0`` — the sign of a
single Gaussian cannot be recovered from them. ``Positive(sign=±1)`` fixes the sign (that of the start) and
fits the magnitude; only the full simulation (the ion slows down differently over a barrier and a well)
or several Gaussians of different signs (their cross terms) carry the sign.

Memory of gradients through diffrax (measured with :func:`gradient_memory`: XLA's compiled
``memory_analysis().temp_size_in_bytes`` of ``jax.jit(jax.grad(loss))`` with respect to ``(Φ0, λ)``;
chain3d, 40 masses (state 246 floats), speed 20, fixed-step Tsit5, CPU, 2026-11-27)::

    steps      checkpoints=16     checkpoints=steps (store every step)
    250        0.47 MB            7.1 MB
    1000       0.47 MB            28.5 MB
    4000       0.47 MB            114 MB

With a fixed number of checkpoints the gradient's memory does not grow with the solve length (the
backward pass recomputes the forward segments, ``O(n log n)`` time); storing every step grows linearly.
"""

from ._models import (
    Model as Model,
    chain_model as chain_model,
    gradient_memory as gradient_memory,
    mode_sum_model as mode_sum_model,
    paper2_model as paper2_model,
    simulation_model as simulation_model,
)
from ._optimise import FitResult as FitResult, fit as fit, residuals as residuals, uncertainties as uncertainties
from ._problem import (
    AbstractTransform as AbstractTransform,
    Bounded as Bounded,
    Positive as Positive,
    Target as Target,
    Unbounded as Unbounded,
)
