"""On-the-fly reductions over paths: masked means and standard errors, one-step ratios."""

from __future__ import annotations

import math
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np


def masked_mean_se(values, mask):
    """Mean and standard error of ``values`` over paths where ``mask`` holds.

    Diverged (masked-out) paths never enter, so a blown-up path cannot turn the mean into NaN.
    With no path left the mean is +inf (every path diverged) and the SE is 0.
    """
    count = jnp.sum(mask)
    safe = jnp.where(mask, values, 0.0)
    n = jnp.maximum(count, 1)
    mean = jnp.sum(safe) / n
    centred = jnp.where(mask, values - mean, 0.0)
    var = jnp.sum(centred * centred) / jnp.maximum(count - 1, 1)
    se = jnp.sqrt(var / n)
    mean = jnp.where(count > 0, mean, jnp.inf)
    se = jnp.where(count > 1, se, 0.0)
    return mean, se


def usable_floor(dtype) -> float:
    """Smallest Σ‖x_k‖² that a one-step ratio may divide by: tiny/eps of the dtype.

    Above it, x_{k+1} stays in the normal range unless the step contracts ‖x‖² by more than
    1/eps, so a ratio is not ruined by underflow (a fast-converging state otherwise yields
    spurious zero ratios on the step where it flushes to 0).
    """
    info = np.finfo(dtype)
    return float(info.tiny / info.eps)


class RatioAccumulator(NamedTuple):
    """Running sums of the one-step mean-square ratios R_k over a window of steps.

    R_k = Σ_p ‖x_{k+1,p}‖² / Σ_p ‖x_{k,p}‖² over the paths alive at step k whose next state is
    finite (model.md §7, "Mean-square vs almost-sure"). For isotropic problems E[R_k | x_k] is
    exactly the one-step mean-square factor ρ, so the R_k are unbiased and their deviations
    uncorrelated across k: SE(mean R) = sd(R_k)/√K.
    """

    total: jnp.ndarray
    total_sq: jnp.ndarray
    count: jnp.ndarray

    @classmethod
    def zeros(cls, dtype):
        zero = jnp.zeros((), dtype)
        return cls(zero, zero, jnp.zeros((), jnp.int32))

    def add(self, numerator, denominator, use):
        use = use & (denominator >= usable_floor(denominator.dtype)) & jnp.isfinite(numerator)
        ratio = jnp.where(use, numerator / jnp.where(use, denominator, 1.0), 0.0)
        return RatioAccumulator(
            self.total + ratio, self.total_sq + ratio * ratio, self.count + use.astype(jnp.int32)
        )


def growth_rate_numpy(total, total_sq, count, learning_rate, any_diverged):
    """Mean-square growth rate per unit time, log(mean R)/η, and its delta-method SE, on the host,
    elementwise over tasks (``simulate`` and ``stability_sweep`` share it).

    No usable step (every path blew up at once) gives +inf if paths diverged, NaN otherwise
    (the state was exactly 0: the rate is undefined).

    The logarithm is taken one element at a time with ``math.log``: vectorized logarithms
    (numpy's SIMD loops, XLA's) may round differently depending on an element's position in
    the array, which would make results depend on how tasks are chunked.
    """
    dtype = np.result_type(total)
    n = np.maximum(count, 1)
    mean = (total / n).astype(dtype)
    with np.errstate(over="ignore", invalid="ignore"):
        var = np.maximum(total_sq / n - mean * mean, 0.0) * n / np.maximum(n - 1, 1)
    var = np.where(np.isfinite(total_sq), var, np.inf)
    se_mean = np.sqrt(var / n).astype(dtype)
    positive = mean > 0
    log_mean = np.asarray([math.log(m) if m > 0 else -math.inf for m in mean.tolist()], dtype)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = (log_mean / learning_rate).astype(dtype)
        rate_se = (se_mean / np.where(positive, mean, 1.0) / learning_rate).astype(dtype)
    rate = np.where(count > 0, rate, np.where(any_diverged, np.inf, np.nan)).astype(dtype)
    rate_se = np.where(count > 1, rate_se, np.where(count > 0, np.inf, 0.0)).astype(dtype)
    return rate, rate_se, mean, se_mean
