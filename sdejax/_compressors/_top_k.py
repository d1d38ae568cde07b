"""Top-k sparsification (biased, contractive)."""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp

from .._validation import check_int_at_least
from ._base import AbstractCompressor


class TopK(AbstractCompressor):
    """Keep the k coordinates of largest magnitude, unscaled.

    Deterministic and biased, so ``omega`` is ``inf``; contractive:
    ‖C(x) − x‖² <= (1 − δ)‖x‖² with δ = k/d (``contraction(d)``). Requires 0 < k <= d
    (``omega`` and ``contraction`` raise a ValueError naming k and d otherwise). Its second moment
    does not close (``has_linear_second_moment`` is False).
    """

    k: int = eqx.field(static=True)
    is_positively_homogeneous: ClassVar[bool] = True
    is_unbiased: ClassVar[bool] = False

    def __init__(self, k: int):
        check_int_at_least("k", k, 1, "TopK")
        self.k = int(k)

    def check_dim(self, d):
        if self.k > d:
            raise ValueError(f"TopK: `k` must satisfy 0 < k <= d = {d}, got k={self.k}.")

    def __call__(self, key, x):
        del key
        _, index = jax.lax.top_k(jnp.abs(x), self.k)
        return jnp.zeros_like(x).at[index].set(x[index])

    def omega(self, d):
        self.check_dim(d)
        return float("inf")

    def contraction(self, d):
        """δ = k/d with ‖C(x) − x‖² <= (1 − δ)‖x‖²."""
        self.check_dim(d)
        return self.k / d
