"""Random-k sparsification, rescaled to be unbiased."""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr

from .._validation import check_int_at_least
from ._base import AbstractCompressor, CovarianceStructure


class RandK(AbstractCompressor):
    """Keep a uniformly random set S of k coordinates and scale them by d/k.

    C(x) = (d/k) Σ_{j∈S} x_j e_j. Unbiased; requires 0 < k <= d (``omega``, ``variance`` and the
    second-moment methods raise a ValueError naming k and d otherwise). ω = d/k − 1 with
    equality for every x. Cov_C(C(x)) = c (d diag(x∘x) − x xᵀ), c = (d−k)/(k(d−1))
    [derived, docs/theory.md §3]: diagonal minus rank one. The second moment closes:
    S_C(G) = (1 − c) G + c d Diag(diag G) (a coordinate is kept with probability k/d, a pair
    with probability k(k−1)/(d(d−1))); c = 0 when d = 1 or k = d.

    Unlike a widely used framework's "random-k", this rescales by d/k; without it the
    compressor is biased (docs/theory.md §3).
    """

    k: int = eqx.field(static=True)
    is_positively_homogeneous: ClassVar[bool] = True
    is_unbiased: ClassVar[bool] = True
    has_linear_second_moment: ClassVar[bool] = True

    def __init__(self, k: int):
        check_int_at_least("k", k, 1, "RandK")
        self.k = int(k)

    def check_dim(self, d):
        if self.k > d:
            raise ValueError(f"RandK: `k` must satisfy 0 < k <= d = {d}, got k={self.k}.")

    def __call__(self, key, x):
        d = x.shape[-1]
        # The k largest of d i.i.d. uniforms index a uniformly random k-subset.
        _, index = jax.lax.top_k(jr.uniform(key, (d,)), self.k)
        mask = jnp.zeros((d,), x.dtype).at[index].set(d / self.k)
        return x * mask

    def omega(self, d):
        self.check_dim(d)
        return d / self.k - 1.0

    def rank_one_coefficient(self, d):
        """c = (d − k)/(k(d − 1)) of Cov = c(d diag(x∘x) − x xᵀ) (0 when d = 1)."""
        self.check_dim(d)
        return 0.0 if d == 1 else (d - self.k) / (self.k * (d - 1))

    def variance(self, x):
        d = x.shape[-1]
        return self.rank_one_coefficient(d) * (d - 1) * x * x

    def covariance_structure(self, d):
        c = self.rank_one_coefficient(d)
        return CovarianceStructure(c * d, c)
