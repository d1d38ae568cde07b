"""Natural compression: stochastic rounding to powers of two."""

from __future__ import annotations

from typing import ClassVar

import jax.numpy as jnp
import jax.random as jr

from ._base import AbstractCompressor, _zero_safe


class NaturalCompression(AbstractCompressor):
    """Round each |x_j| to one of its two neighbouring powers of two, unbiasedly; keep the sign.

    For 2^a <= |x_j| < 2^(a+1): round up with probability (|x_j| − 2^a)/2^a, else down.
    Unbiased, ω = 1/8 (Horváth et al., 2019). Coordinates independent (diagonal covariance
    (2^(a+1) − |x_j|)(|x_j| − 2^a)). The variance is piecewise quadratic, not quadratic, in x,
    so the second moment does not close (``has_linear_second_moment`` is False): exact
    second-moment analysis refuses it (use Monte Carlo, ``sdejax.stability_sweep``).
    """

    is_unbiased: ClassVar[bool] = True
    has_diagonal_covariance: ClassVar[bool] = True

    def _bounds(self, x):
        magnitude = jnp.abs(x)
        low = jnp.exp2(jnp.floor(jnp.log2(_zero_safe(magnitude))))
        return magnitude, low

    def __call__(self, key, x):
        magnitude, low = self._bounds(x)
        up = jr.uniform(key, x.shape, x.dtype) < (magnitude - low) / low
        rounded = jnp.where(up, 2.0 * low, low)
        return jnp.where(magnitude == 0, 0.0, jnp.sign(x) * rounded)

    def omega(self, d):
        return 0.125

    def variance(self, x):
        magnitude, low = self._bounds(x)
        return jnp.where(magnitude == 0, 0.0, (2.0 * low - magnitude) * (magnitude - low))
