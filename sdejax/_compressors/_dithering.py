"""Random dithering (QSGD) with s levels."""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
import jax.random as jr

from .._validation import check_int_at_least
from ._base import AbstractCompressor, _zero_safe


class RandomDithering(AbstractCompressor):
    """QSGD: C(x) = ‖x‖ sign(x) ξ/s, ξ_j the unbiased stochastic rounding of s|x_j|/‖x‖ to an
    integer level in {0, …, s}.

    Unbiased, ω = min(d/s², √d/s) (Alistarh et al., 2017). Given ‖x‖, coordinates are rounded
    independently: Cov_C(C(x)) = diag(‖x‖² (u − l)(l + 1 − u)/s²), u = s|x_j|/‖x‖, l = ⌊u⌋.
    This is not quadratic in x, so the second moment does not close
    (``has_linear_second_moment`` is False; exact second-moment analysis refuses it).

    **Arguments:**
    - `levels`: the number of levels s >= 1.
    """

    levels: int = eqx.field(static=True)
    is_positively_homogeneous: ClassVar[bool] = True
    is_unbiased: ClassVar[bool] = True
    has_diagonal_covariance: ClassVar[bool] = True

    def __init__(self, levels: int):
        check_int_at_least("levels", levels, 1, "RandomDithering")
        self.levels = int(levels)

    def _levels(self, x):
        # ‖x‖ computed as m·‖x/m‖ with m = max|x_j|: no overflow of ‖x‖² for huge float32 x.
        largest = jnp.max(jnp.abs(x))
        norm = largest * jnp.linalg.norm(x / _zero_safe(largest))
        u = self.levels * jnp.abs(x) / _zero_safe(norm)
        return norm, u, jnp.floor(u)

    def __call__(self, key, x):
        norm, u, low = self._levels(x)
        level = low + (jr.uniform(key, x.shape, x.dtype) < u - low)
        return norm * jnp.sign(x) * level / self.levels

    def omega(self, d):
        return min(d / self.levels**2, d**0.5 / self.levels)

    def variance(self, x):
        norm, u, low = self._levels(x)
        return norm**2 * (u - low) * (low + 1.0 - u) / self.levels**2
