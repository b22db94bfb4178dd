"""Ionic diffusion from ensembles of trajectories, with errors that account for serial correlation.

Post-processing for a stochastic engine's ensembles: positions ``x`` or velocities ``v`` saved at equally
spaced times, arrays ``(members, times, 3)`` (or one member ``(times, 3)``), ``dt`` between saves; lengths in
``l``, time in ``τ`` (shared/NOTES.md), temperature ``T = k_BT/(ħΩ)`` with ``k_B = 1``. Members are independent
copies of one stationary process. Everything is eager NumPy float64 (JAX arrays are accepted and converted).

- :func:`block_average`: mean and standard error of a correlated series (Flyvbjerg & Petersen blocking,
  J. Chem. Phys. 91, 461 (1989); plateau by the rule of Lee et al., Phys. Rev. E 83, 066706 (2011)).
- :func:`velocity_autocorrelation`, :func:`mean_square_displacement`: tensors over all time origins by FFT
  (Kneller, Keiner, Kneller & Schiller, Comput. Phys. Commun. 91, 191 (1995), nMoldyn; Calandrini et al.).
- :func:`diffusion_einstein` (``⟨Δx_i Δx_j⟩ → 2 D_ij t``), :func:`diffusion_green_kubo`
  (``D_ij = ∫_0^∞ ⟨v_i(0) v_j(s)⟩ ds``): :class:`DiffusionEstimate` with the error from the spread over
  independent members (or over blocks of time of one member).
- :func:`count_hops`, :func:`hop_rate`: hops between the basins of a periodic landscape, with hysteresis.
- :func:`drift_velocity`, :func:`mobility`, :func:`nernst_einstein_mobility` (``u = D/T``),
  :func:`arrhenius_fit` (``ln y = ln A − E_a/T``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import equinox as eqx
import numpy as np
from jaxtyping import Float, Int

from ._validation import ArrayInput, RealScalar, check_finite, check_positive, warn_user

__all__ = [
    "Estimate",
    "BlockAverage",
    "VelocityAutocorrelation",
    "MeanSquareDisplacement",
    "DiffusionEstimate",
    "HopCounts",
    "HopRate",
    "ArrheniusFit",
    "block_average",
    "velocity_autocorrelation",
    "mean_square_displacement",
    "diffusion_einstein",
    "diffusion_green_kubo",
    "count_hops",
    "hop_rate",
    "drift_velocity",
    "mobility",
    "nernst_einstein_mobility",
    "arrhenius_fit",
]

_MIN_BLOCKS = 16  # fewer blocks at the chosen level: error-of-error above 1/sqrt(2·15) ≈ 18%, a warning
_FFT_CHUNK = 1 << 24  # about this many complex FFT entries per batch of members (bounds the memory)
_ONE_MEMBER_BLOCKS = 8  # default blocks of time when a single member is given


# ----------------------------------------------------------------------------- containers


class Estimate(NamedTuple):
    """A value and its one-standard-deviation error (same shape)."""

    value: Float[np.ndarray, "*shape"]
    error: Float[np.ndarray, "*shape"]


class BlockAverage(NamedTuple):
    """Result of :func:`block_average`.

    ``mean`` of all samples and its standard ``error`` at the chosen blocking level, ``error_of_error``
    (``error/sqrt(2(n_b − 1))``), the integrated ``correlation_time`` in samples
    (``τ_int = 1 + 2 Σ_{t≥1} ρ(t) = (error/error_naive)²``: the series holds ``N/τ_int`` independent samples),
    ``blocks`` (blocks at the chosen level, all members together, ``n_b``), ``block_size`` (samples per block)
    and ``level_errors`` (the error at every blocking level, block size ``2^k``, then whole members when there are
    several: plot it to see the plateau).
    """

    mean: float
    error: float
    error_of_error: float
    correlation_time: float
    blocks: int
    block_size: int
    level_errors: Float[np.ndarray, " levels"]

    @property
    def value(self) -> float:
        return self.mean


class VelocityAutocorrelation(NamedTuple):
    """``C[k, i, j] = ⟨v_i(t) v_j(t + lags[k])⟩`` over members and time origins; ``lags`` in τ."""

    lags: Float[np.ndarray, " lags"]
    C: Float[np.ndarray, "lags 3 3"]


class MeanSquareDisplacement(NamedTuple):
    """``msd[k, i, j] = ⟨Δx_i Δx_j⟩`` at lag ``lags[k]`` (τ), ``Δx = x(t + lag) − x(t)``, over members and origins."""

    lags: Float[np.ndarray, " lags"]
    msd: Float[np.ndarray, "lags 3 3"]


class DiffusionEstimate(NamedTuple):
    """Diffusion tensor ``D_ij`` (l²/τ) and its error (3, 3); ``scalar = tr D/3`` and its error (from the spread
    of the traces, so correlations between the diagonal entries count); ``samples``: the independent estimates
    (members, or members × blocks of time) the errors come from (relative error of an error ≈ 1/sqrt(2(samples − 1)))."""

    tensor: Float[np.ndarray, "3 3"]
    error: Float[np.ndarray, "3 3"]
    scalar: float
    scalar_error: float
    samples: int

    @property
    def value(self) -> Float[np.ndarray, "3 3"]:
        return self.tensor


class HopCounts(NamedTuple):
    """Result of :func:`count_hops`: hops per member (scalars for a single ``(times,)`` path), the net signed
    displacement in periods (the sum of the jumps) and every jump in periods (``±1`` between neighbouring
    minima, ``±2`` and more for long flights), members in order, each in time order."""

    counts: Int[np.ndarray, "*members"]
    net_displacement: Int[np.ndarray, "*members"]
    jumps: Int[np.ndarray, " hops"]


class HopRate(NamedTuple):
    """Hops per τ (both directions together) with ``error = max(poisson_error, member_error)``: the Poisson error
    ``sqrt(max(N, 1))/time`` of the count ``N`` and the standard error of the members' rates (NaN for one member,
    and then not used). ``hops`` is the total count, ``time`` the total observed time (τ)."""

    value: float
    error: float
    poisson_error: float
    member_error: float
    hops: int
    time: float


class ArrheniusFit(eqx.Module):
    """``y(T) = A exp(−E_a/T)`` (``k_B = 1``) fitted by :func:`arrhenius_fit`.

    ``covariance`` is that of the fitted linear parameters ``(ln A, E_a)``; ``prefactor_error = A σ_lnA``
    (first order). ``chi2`` is the weighted sum of squared residuals of ``ln y`` and ``dof = n − 2``.
    """

    activation_energy: float
    activation_energy_error: float
    prefactor: float
    prefactor_error: float
    covariance: Float[np.ndarray, "2 2"]
    chi2: float
    dof: int

    def __call__(self, temperature: ArrayInput) -> np.ndarray | float:
        """``A exp(−E_a/T)`` at the given temperature(s)."""
        return self.predict(temperature).value

    def predict(self, temperature: ArrayInput) -> Estimate:
        """``A exp(−E_a/T)`` and its error ``y sqrt(gᵀ C g)``, ``g = (1, −1/T)``, ``C`` = :attr:`covariance`."""
        t = np.asarray(temperature, dtype=float)
        check_positive("temperature", t)
        value = self.prefactor * np.exp(-self.activation_energy / t)
        g = np.stack([np.ones_like(t), -1.0 / t], axis=-1)
        var = np.einsum("...i,ij,...j->...", g, self.covariance, g)
        return Estimate(value, value * np.sqrt(var))


# ----------------------------------------------------------------------------- input checks


def _time_step(dt) -> float:
    if np.ndim(dt) != 0:
        raise ValueError(f"dt must be a scalar time step (τ); got shape {np.shape(dt)}.")
    check_positive("dt", dt)
    return float(dt)


def _trajectory(name: str, value) -> np.ndarray:
    """``(members, times, 3)`` float64 (one member ``(times, 3)`` gets a leading axis), finite, ``times ≥ 2``."""
    array = np.asarray(value, dtype=float)
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3 or array.shape[2] != 3 or array.shape[0] < 1 or array.shape[1] < 2:
        raise ValueError(
            f"{name} must have shape (members, times, 3) or (times, 3) with times >= 2 and members >= 1; got shape {np.shape(value)}."
        )
    check_finite(name, array)
    return array


def _lag_index(name: str, value, dt: float, times: int, minimum: int = 0, *, up: bool = False) -> int:
    """The lag index ``k`` of the time ``value`` (τ): ``floor(value/dt)`` (``ceil`` with ``up``), in ``[minimum, times − 1]``."""
    if np.ndim(value) != 0:
        raise ValueError(f"{name} must be a scalar time (τ); got shape {np.shape(value)}.")
    check_positive(name, value, allow_zero=minimum == 0)
    ratio = float(value) / dt
    index = int(np.ceil(ratio - 1e-9)) if up else int(np.floor(ratio + 1e-9))
    if not minimum <= index <= times - 1:
        raise ValueError(
            f"{name} = {value!r} must lie in [{minimum * dt!r}, {(times - 1) * dt!r}] (from {minimum} step(s) of dt = {dt!r} "
            f"to the length (times − 1)·dt of one member, or of one block of time)."
        )
    return index


def _unit_count(blocks, members: int) -> int:
    if blocks is None:
        return 1 if members >= 2 else _ONE_MEMBER_BLOCKS
    if isinstance(blocks, bool) or not isinstance(blocks, int | np.integer) or blocks < 1:
        raise ValueError(f"blocks must be an integer >= 1 (blocks of time per member) or None; got {blocks!r}.")
    if members * int(blocks) < 2:
        raise ValueError(f"blocks = {blocks!r} with one member leaves one estimate and no error; use blocks >= 2.")
    return int(blocks)


# ----------------------------------------------------------------------------- blocking


def block_average(samples: ArrayInput, axis: int = -1) -> BlockAverage:
    """Mean of a serially correlated series and its standard error by blocking.

    Flyvbjerg & Petersen, J. Chem. Phys. 91, 461 (1989): at level ``k`` neighbouring blocks are averaged in
    pairs (block size ``2^k``, an odd last sample dropped), and for ``n_k`` blocks of variance
    ``c_k = ⟨(b − b̄)²⟩`` the error of the mean is ``sqrt(c_k/(n_k − 1))`` ± ``sqrt(c_k/(n_k − 1))/sqrt(2(n_k − 1))``;
    it rises with ``k`` until the blocks are uncorrelated and then stays on a plateau.

    The plateau rule (Wolff, Comput. Phys. Commun. 156, 143 (2004); Lee, Conduit, Nemec, López Ríos & Drummond,
    Phys. Rev. E 83, 066706 (2011)): the smallest block size ``B = 2^k`` with ``B³ > 2 N τ_k²``, where ``N`` is the
    number of samples and ``τ_k = (error_k/error_0)²`` the correlation time seen at that level. It balances the
    bias of too small blocks (``∝ τ/B``) against the noise of too few (``∝ sqrt(B/N)``). A ``RuntimeWarning``
    says when no level passes or the chosen one has fewer than 16 blocks (the series is too short for its
    correlation time: the error is itself uncertain by more than ~18% and probably low).

    samples: a 1D series, or ``(members, times)`` of independent members of one process (``axis`` is the time
    axis; default the last). Members are blocked alike and pooled: ``n_k`` counts the blocks of all members, and
    the last level, one block per whole member, is exact (the members are independent) and always passes.
    The ``correlation_time`` returned is the integrated one, in samples: ``τ_int = 1 + 2Σρ(t) = (error/error_0)²``.
    """
    data = np.asarray(samples, dtype=float)
    if data.ndim not in (1, 2):
        raise ValueError(f"samples must be a 1D series or (members, times); got shape {data.shape}.")
    if not -data.ndim <= axis < data.ndim:
        raise ValueError(f"axis = {axis!r} is out of range for samples of shape {data.shape}.")
    data = np.moveaxis(np.atleast_2d(data) if data.ndim == 1 else data, axis if data.ndim == 2 else -1, -1)
    members, times = data.shape
    if times < 2 or members < 1:
        raise ValueError(f"samples needs at least 2 times per member; got shape {np.shape(samples)}.")
    check_finite("samples", data)
    mean = float(np.mean(data))
    sizes, variances, counts = [], [], []
    x = data
    while x.shape[1] >= 2:
        n = x.shape[1]
        sizes.append(2 ** len(sizes))
        variances.append(float(np.var(x)))
        counts.append(members * n)
        x = 0.5 * (x[:, 0 : 2 * (n // 2) : 2] + x[:, 1 : 2 * (n // 2) : 2])
    if members >= 2:  # the last level: one block per member, whole members, independent by construction
        sizes.append(times)
        variances.append(float(np.var(np.mean(data, axis=1))))
        counts.append(members)
    size, var, count = np.array(sizes), np.array(variances), np.array(counts)
    errors = np.sqrt(var / (count - 1))
    if var[0] == 0.0:  # a constant series: no error at any level
        return BlockAverage(mean, 0.0, 0.0, 1.0, int(count[0]), 1, errors)
    tau = (errors / errors[0]) ** 2  # τ_int at each level
    passed = np.flatnonzero((size.astype(float) ** 3 > 2.0 * members * times * tau**2) | (size == times))
    level = int(passed[0]) if passed.size else len(var) - 1
    if not passed.size or count[level] < _MIN_BLOCKS:
        warn_user(
            f"block_average: no plateau with enough blocks (chosen block size {size[level]}, {int(count[level])} blocks, "
            f"correlation time {tau[level]:.3g} samples); the error is uncertain and likely too small: use a longer series.",
            RuntimeWarning,
        )
    error = float(errors[level])
    return BlockAverage(
        mean=mean,
        error=error,
        error_of_error=error / float(np.sqrt(2 * (count[level] - 1))),
        correlation_time=float((error / errors[0]) ** 2),
        blocks=int(count[level]),
        block_size=int(size[level]),
        level_errors=errors,
    )


# ----------------------------------------------------------------------------- correlations by FFT


def _by_chunks(function: Callable[[np.ndarray], np.ndarray], data: np.ndarray) -> np.ndarray:
    """``function`` applied to chunks of the units (axis 0) and concatenated: bounds the memory of the FFTs and
    of the per-lag tensors to about ``_FFT_CHUNK`` complex entries however many members there are."""
    chunk = max(1, _FFT_CHUNK // (18 * data.shape[1]))
    return np.concatenate([function(data[start : start + chunk]) for start in range(0, data.shape[0], chunk)])


def _cross_sums(a: np.ndarray, lags: int) -> np.ndarray:
    """``S[u, k, i, j] = Σ_t a_i(u, t) a_j(u, t + k)`` for ``k < lags`` by zero-padded FFT (Wiener–Khinchin):
    ``S = IFFT(conj(FFT a_i) · FFT a_j)``, padded to ``≥ 2T`` so that no lag wraps around. ``a``: ``(units, T, 3)``."""
    size = 1 << int(2 * a.shape[1] - 1).bit_length()
    spectrum = np.fft.rfft(a, size, axis=1)
    return np.fft.irfft(np.conj(spectrum)[..., :, None] * spectrum[..., None, :], size, axis=1)[:, :lags]


def _vacf_units(velocities: np.ndarray, lags: int) -> np.ndarray:
    """Per-unit ``C_ij(k) = Σ_{t<T−k} v_i(t) v_j(t+k)/(T − k)``, ``(units, lags, 3, 3)``."""
    times = velocities.shape[1]
    return _cross_sums(velocities, lags) / (times - np.arange(lags))[:, None, None]


def _msd_units(positions: np.ndarray, lags: int) -> np.ndarray:
    """Per-unit ``MSD_ij(k) = Σ_{t<T−k} Δx_i Δx_j/(T − k)`` in O(T log T) (Kneller et al. 1995, nMoldyn):
    ``Σ_t [x_i x_j](t+k) + Σ_t [x_i x_j](t) − S_ij(k) − S_ji(k)``, the first two from cumulative sums of
    ``x_i x_j``, ``S`` the FFT cross-correlation. Positions are centred first (the MSD does not change) to
    keep the cancellation small."""
    x = positions - np.mean(positions, axis=1, keepdims=True)
    times = x.shape[1]
    square = x[..., :, None] * x[..., None, :]
    cumulative = np.concatenate([np.zeros_like(square[:, :1]), np.cumsum(square, axis=1)], axis=1)  # Σ_{s<t}
    k = np.arange(lags)
    later = cumulative[:, times : times + 1] - cumulative[:, k]  # Σ_{t=k}^{T−1}
    earlier = cumulative[:, times - k]  # Σ_{t=0}^{T−1−k}
    cross = _cross_sums(x, lags)
    total = later + earlier - cross - np.swapaxes(cross, -1, -2)
    return total / (times - k)[:, None, None]


def velocity_autocorrelation(velocities: ArrayInput, dt: RealScalar, max_lag: RealScalar | None = None) -> VelocityAutocorrelation:
    """Velocity autocorrelation tensor ``C_ij(s) = ⟨v_i(t) v_j(t + s)⟩``, averaged over members and over all
    time origins (``T − k`` of them at lag ``k``), computed by FFT in O(T log T) (Wiener–Khinchin).

    velocities: ``(members, times, 3)`` or ``(times, 3)`` (l/τ); dt: time between saves (τ); max_lag: the longest
    lag (τ; default ``(times − 1)·dt``). The raw second moment: for a biased (drifting) run subtract the mean
    drift velocity first if fluctuations are wanted.
    """
    v = _trajectory("velocities", velocities)
    step = _time_step(dt)
    lags = v.shape[1] if max_lag is None else _lag_index("max_lag", max_lag, step, v.shape[1]) + 1
    total = _by_chunks(lambda units: np.sum(_vacf_units(units, lags), axis=0, keepdims=True), v)
    return VelocityAutocorrelation(np.arange(lags) * step, np.sum(total, axis=0) / v.shape[0])


def mean_square_displacement(positions: ArrayInput, dt: RealScalar, max_lag: RealScalar | None = None) -> MeanSquareDisplacement:
    """Mean-square-displacement tensor ``MSD_ij(s) = ⟨[x_i(t+s) − x_i(t)][x_j(t+s) − x_j(t)]⟩`` averaged over
    members and all time origins, by the FFT algorithm of Kneller et al., Comput. Phys. Commun. 91, 191 (1995)
    (nMoldyn; Calandrini et al.) in O(T log T).

    positions: ``(members, times, 3)`` or ``(times, 3)`` (l, unwrapped); dt (τ); max_lag (τ; default the whole
    length). The raw moment (a drift adds ``(v_d s)_i (v_d s)_j``).
    """
    x = _trajectory("positions", positions)
    step = _time_step(dt)
    lags = x.shape[1] if max_lag is None else _lag_index("max_lag", max_lag, step, x.shape[1]) + 1
    total = _by_chunks(lambda units: np.sum(_msd_units(units, lags), axis=0, keepdims=True), x)
    return MeanSquareDisplacement(np.arange(lags) * step, np.sum(total, axis=0) / x.shape[0])


# ----------------------------------------------------------------------------- diffusion


def _spread(data: np.ndarray, blocks: int, estimator: Callable[[np.ndarray], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The estimate from whole members (mean over members) and the estimates of the independent units (members, or
    each member cut into ``blocks`` contiguous blocks of time), whose spread gives the error."""
    members, times = data.shape[:2]
    whole = _by_chunks(estimator, data)
    if blocks == 1:
        return np.mean(whole, axis=0), whole
    length = times // blocks
    units = data[:, : length * blocks].reshape(members * blocks, length, *data.shape[2:])
    return np.mean(whole, axis=0), _by_chunks(estimator, units)


def _diffusion_estimate(tensor: np.ndarray, units: np.ndarray) -> DiffusionEstimate:
    n = units.shape[0]
    traces = np.trace(units, axis1=-2, axis2=-1) / 3.0
    return DiffusionEstimate(
        tensor=tensor,
        error=np.std(units, axis=0, ddof=1) / np.sqrt(n),
        scalar=float(np.trace(tensor) / 3.0),
        scalar_error=float(np.std(traces, ddof=1) / np.sqrt(n)),
        samples=n,
    )


def diffusion_einstein(
    positions: ArrayInput,
    dt: RealScalar,
    fit_from: RealScalar | None = None,
    fit_to: RealScalar | None = None,
    *,
    blocks: int | None = None,
) -> DiffusionEstimate:
    """Diffusion tensor by the Einstein relation ``⟨Δx_i Δx_j⟩(s) → 2 D_ij s + const`` (s → ∞).

    ``D_ij`` is half the least-squares slope (with intercept, which absorbs the ballistic start) of the
    time-origin-averaged :func:`mean_square_displacement` over lags ``fit_from ≤ s ≤ fit_to`` (τ; default 10% to
    50% of the length of one member, or of one block). Check that the MSD is linear there: the window must start
    several velocity correlation times in.

    Error: the standard error over independent units — the members (two or more), or, for a single member, 8
    contiguous blocks of time (``blocks`` sets the number of blocks per member; the blocks must be much longer
    than ``fit_to``). The tensor itself uses the whole members (all origins).
    """
    x = _trajectory("positions", positions)
    step = _time_step(dt)
    count = _unit_count(blocks, x.shape[0])
    length = x.shape[1] // count
    duration = (length - 1) * step
    fit_from = 0.1 * duration if fit_from is None else fit_from
    fit_to = 0.5 * duration if fit_to is None else fit_to
    start = _lag_index("fit_from", fit_from, step, length, up=True)
    stop = _lag_index("fit_to", fit_to, step, length, minimum=1) + 1
    if stop - start < 2:
        raise ValueError(f"fit_to = {fit_to!r} must exceed fit_from = {fit_from!r} by at least dt = {step!r} (two lags to fit).")
    s = np.arange(start, stop) * step
    weights = (s - s.mean()) / np.sum((s - s.mean()) ** 2)  # least-squares slope = Σ w_k y_k

    def estimator(units: np.ndarray) -> np.ndarray:
        return 0.5 * np.einsum("k,ukij->uij", weights, _msd_units(units, stop)[:, start:])

    return _diffusion_estimate(*_spread(x, count, estimator))


def diffusion_green_kubo(velocities: ArrayInput, dt: RealScalar, max_lag: RealScalar, *, blocks: int | None = None) -> DiffusionEstimate:
    """Diffusion tensor by the Green–Kubo relation ``D_ij = ½ ∫_0^∞ [C_ij(s) + C_ji(s)] ds``,
    ``C_ij(s) = ⟨v_i(0) v_j(s)⟩`` (the symmetric part: the one the Einstein slope measures).

    The integral is the trapezoid rule over the time-origin-averaged :func:`velocity_autocorrelation` from 0 to
    ``max_lag`` (τ; choose it where ``C`` has decayed: beyond, the integral only adds noise). Error: the standard
    error over independent units — members, or 8 blocks of time of a single member (``blocks`` per member).
    """
    v = _trajectory("velocities", velocities)
    step = _time_step(dt)
    count = _unit_count(blocks, v.shape[0])
    lags = _lag_index("max_lag", max_lag, step, v.shape[1] // count, minimum=1) + 1
    weights = np.full(lags, step)
    weights[[0, -1]] = 0.5 * step

    def estimator(units: np.ndarray) -> np.ndarray:
        integral = np.einsum("k,ukij->uij", weights, _vacf_units(units, lags))
        return 0.5 * (integral + np.swapaxes(integral, -1, -2))

    return _diffusion_estimate(*_spread(v, count, estimator))


# ----------------------------------------------------------------------------- hops


def _coordinate(coordinate) -> tuple[np.ndarray, bool]:
    array = np.asarray(coordinate, dtype=float)
    single = array.ndim == 1
    array = array[None] if single else array
    if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] < 2:
        raise ValueError(f"coordinate must have shape (members, times) or (times,) with times >= 2; got shape {np.shape(coordinate)}.")
    check_finite("coordinate", array)
    return array, single


def _check_landscape(period, origin, core) -> None:
    for name, value in (("period", period), ("origin", origin), ("core", core)):
        if np.ndim(value) != 0:
            raise ValueError(f"{name} must be a scalar; got shape {np.shape(value)}.")
    check_positive("period", period)
    check_finite("origin", origin)
    if not np.isfinite(core) or not 0 < float(core) < 0.5:
        raise ValueError(f"core must lie in (0, 0.5) (the core radius in periods; cores must not touch); got core = {core!r}.")


def _persistent(inside: np.ndarray, nearest: np.ndarray, dwell: int) -> np.ndarray:
    """``inside`` kept only on runs of at least ``dwell`` consecutive samples in the core of one minimum."""
    if dwell <= 1:
        return inside
    members, times = inside.shape
    key = np.where(inside, nearest, np.nan)
    start = np.ones((members, times), bool)
    start[:, 1:] = ~((key[:, 1:] == key[:, :-1]) & inside[:, 1:] & inside[:, :-1])
    run = np.cumsum(start.reshape(-1)).reshape(members, times)  # run labels, increasing over the flattened array
    lengths = np.bincount(run.reshape(-1))
    return inside & (lengths[run] >= dwell)


def count_hops(coordinate: ArrayInput, period: RealScalar, origin: RealScalar = 0.0, core: RealScalar = 0.25,
               dwell: int = 1) -> HopCounts:
    """Transitions of a 1D coordinate between the basins of a periodic landscape with minima at ``origin + n·period``.

    With hysteresis (a two-state "core" definition of transitions): the ion is assigned to minimum ``n`` only once
    it comes within ``core·period`` of it, and it keeps that assignment until it reaches the core of another
    minimum ``n'``; that counts one hop of ``n' − n`` periods. A crossing of the barrier that returns before the
    next core is not a hop. The first core the path visits is where it starts (nothing before counts). Jumps of
    more than one period happen when the ion flies over several barriers between two core visits (the
    low-friction regime), or between two saves when ``dt`` is long.

    ``dwell``: a core visit counts only when the ion stays in that core for at least ``dwell`` consecutive samples,
    so an ion that flies through several wells at low friction makes one hop of several periods (an escape event,
    what escape-rate theories such as :func:`jaxion.melnikov_rate` count) instead of one hop per well crossed.

    coordinate: ``(members, times)`` or ``(times,)`` (l); period > 0 (l); origin (l); core in (0, 0.5); dwell >= 1.
    """
    x, single = _coordinate(coordinate)
    _check_landscape(period, origin, core)
    if isinstance(dwell, bool) or int(dwell) != dwell or int(dwell) < 1:
        raise ValueError(f"dwell must be a positive integer (samples); got dwell = {dwell!r}.")
    scaled = (x - float(origin)) / float(period)
    nearest = np.round(scaled)
    inside = _persistent(np.abs(scaled - nearest) <= float(core), nearest, int(dwell))
    times = np.arange(x.shape[1])
    last = np.maximum.accumulate(np.where(inside, times, -1), axis=1)  # the last core visit up to t (−1: none yet)
    state = np.take_along_axis(nearest, np.maximum(last, 0), axis=1).astype(np.int64)
    change = np.diff(state, axis=1) * (last[:, :-1] >= 0)
    counts = np.count_nonzero(change, axis=1)
    net = np.sum(change, axis=1)
    jumps = change[change != 0]
    if single:
        return HopCounts(counts[0], net[0], jumps)
    return HopCounts(counts, net, jumps)


def hop_rate(coordinate: ArrayInput, period: RealScalar, dt: RealScalar, origin: RealScalar = 0.0, core: RealScalar = 0.25,
             dwell: RealScalar = 0.0) -> HopRate:
    """Hop rate ``k = N/(M (T − 1) dt)`` per τ (both directions), ``N`` hops of :func:`count_hops` over ``M`` members
    (``dwell``: the least time in τ the ion must stay in a new core for the hop to count; see :func:`count_hops`).

    Errors: Poisson ``sqrt(N)/time`` (for hops independent in time, exponential dwell times; one hop is used when
    none was seen), and the standard error of the members' rates, which also catches correlated hops (bursts,
    recrossing chains); ``error`` is the larger of the two.
    """
    x, _ = _coordinate(coordinate)
    step = _time_step(dt)
    check_positive("dwell", dwell, allow_zero=True)
    hops = count_hops(x, period, origin, core, dwell=max(1, int(np.ceil(float(dwell) / step - 1e-9))))
    per_member = (x.shape[1] - 1) * step
    total_time = x.shape[0] * per_member
    total = int(np.sum(hops.counts))
    poisson = float(np.sqrt(max(total, 1)) / total_time)
    rates = hops.counts / per_member
    spread = float(np.std(rates, ddof=1) / np.sqrt(rates.size)) if rates.size > 1 else float("nan")
    return HopRate(total / total_time, float(np.nanmax([poisson, spread])), poisson, spread, total, float(total_time))


# ----------------------------------------------------------------------------- mobility and activation


def drift_velocity(positions: ArrayInput, dt: RealScalar, *, blocks: int | None = None) -> Estimate:
    """Mean drift velocity ``v_d = ⟨x(t_end) − x(0)⟩/t_end`` (l/τ, (3,)) with its error from the spread over
    members (or over 8 blocks of time of one member; ``blocks`` per member)."""
    x = _trajectory("positions", positions)
    step = _time_step(dt)
    count = _unit_count(blocks, x.shape[0])
    estimator = lambda units: (units[:, -1] - units[:, 0]) / ((units.shape[1] - 1) * step)
    value, units = _spread(x, count, estimator)
    return Estimate(value, np.std(units, axis=0, ddof=1) / np.sqrt(units.shape[0]))


def mobility(drift_velocity: Estimate | ArrayInput, bias_force: ArrayInput, error: ArrayInput | None = None) -> Estimate:
    """Mobility ``u = v_d/F`` (l²/(ħΩ τ)): a scalar drift over a scalar force, or for vectors the response along
    the force, ``u = v_d·F/|F|²``. ``drift_velocity`` may be an :class:`Estimate` (e.g. from
    :func:`drift_velocity`; its error is propagated) or a plain value with an optional ``error`` (NaN when none).
    Linear response holds only for a small bias; compare with :func:`nernst_einstein_mobility`.
    """
    if isinstance(drift_velocity, Estimate):
        velocity, sigma = np.asarray(drift_velocity.value, float), np.asarray(drift_velocity.error, float)
    else:
        velocity = np.asarray(drift_velocity, float)
        sigma = np.full_like(velocity, np.nan) if error is None else np.asarray(error, float)
    force = np.asarray(bias_force, float)
    if force.shape not in ((), (3,)) or velocity.shape != force.shape or sigma.shape != force.shape:
        raise ValueError(
            f"drift_velocity {velocity.shape}, its error {sigma.shape} and bias_force {force.shape} must all be scalars or all (3,)."
        )
    check_finite("drift_velocity", velocity)
    check_finite("bias_force", force)
    norm2 = float(np.sum(force**2))
    if norm2 == 0.0:
        raise ValueError(f"bias_force must be nonzero; got {bias_force!r}.")
    return Estimate(np.sum(velocity * force) / norm2, np.sqrt(np.sum((force * sigma) ** 2)) / norm2)


def nernst_einstein_mobility(diffusion: DiffusionEstimate | Estimate | ArrayInput, temperature: RealScalar) -> Estimate:
    """Nernst–Einstein (Einstein–Smoluchowski) mobility ``u = D/(k_B T)`` with ``k_B = 1``: ``D`` (l²/τ) and its
    error divided by ``T = k_BT/(ħΩ)``. A :class:`DiffusionEstimate` gives the tensor ``u_ij`` (along the force
    ``F̂``: ``F̂·u·F̂``); a plain value gives NaN as its error."""
    if np.ndim(temperature) != 0:
        raise ValueError(f"temperature must be a scalar (k_BT/(ħΩ)); got shape {np.shape(temperature)}.")
    check_positive("temperature", temperature)
    if isinstance(diffusion, DiffusionEstimate | Estimate):
        value, error = np.asarray(diffusion[0], float), np.asarray(diffusion[1], float)
    else:
        value = np.asarray(diffusion, float)
        error = np.full_like(value, np.nan)
    check_finite("diffusion", value)
    return Estimate(value / float(temperature), error / float(temperature))


def _positive_vector(name: str, value, size: int | None = None) -> np.ndarray:
    array = np.asarray(value, dtype=float)
    if array.ndim != 1 or (size is not None and array.size != size):
        expected = f"({size},) like temperatures" if size is not None else "1D"
        raise ValueError(f"{name} must be {expected}; got shape {array.shape}.")
    check_positive(name, array)
    return array


def arrhenius_fit(temperatures: ArrayInput, values: ArrayInput, errors: ArrayInput | None = None) -> ArrheniusFit:
    """Arrhenius law ``y = A exp(−E_a/T)`` (``k_B = 1``) by weighted linear least squares of
    ``ln y = ln A − E_a/T``.

    With ``errors`` (one σ of each value) the weights are ``1/σ_ln²``, ``σ_ln = σ/y`` (first order), and the
    covariance of ``(ln A, E_a)`` is ``(XᵀWX)⁻¹``, ``X = [1, −1/T]``. Without, the points weigh alike and the
    covariance is scaled by the residual variance ``χ²/(n − 2)`` (NaN for two points). Needs ≥ 2 distinct
    temperatures > 0 and values > 0.
    """
    t = _positive_vector("temperatures", temperatures)
    if t.size < 2 or np.unique(t).size < 2:
        raise ValueError(f"temperatures must hold at least 2 distinct values; got {t.tolist()}.")
    y = _positive_vector("values", values, t.size)
    sigma = None if errors is None else _positive_vector("errors", errors, t.size)
    log_y = np.log(y)
    weights = np.ones_like(t) if sigma is None else (y / sigma) ** 2
    design = np.stack([np.ones_like(t), -1.0 / t], axis=1)
    normal = design.T @ (weights[:, None] * design)
    covariance = np.linalg.inv(normal)
    log_a, energy = covariance @ (design.T @ (weights * log_y))
    residual = log_y - design @ np.array([log_a, energy])
    chi2, dof = float(np.sum(weights * residual**2)), t.size - 2
    if sigma is None:
        covariance = covariance * (chi2 / dof if dof > 0 else np.nan)
    prefactor = float(np.exp(log_a))
    return ArrheniusFit(
        activation_energy=float(energy),
        activation_energy_error=float(np.sqrt(covariance[1, 1])),
        prefactor=prefactor,
        prefactor_error=prefactor * float(np.sqrt(covariance[0, 0])),
        covariance=covariance,
        chi2=chi2,
        dof=dof,
    )
