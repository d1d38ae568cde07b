"""Bernoulli (independent) sparsification."""

from __future__ import annotations

from typing import ClassVar

import jax.numpy as jnp
import jax.random as jr
import numpy as np
from jaxtyping import Array, Float

from .._validation import as_float_array, check_in_interval
from ._base import AbstractCompressor, CovarianceStructure


class BernoulliSparsifier(AbstractCompressor):
    """Keep each coordinate independently with probability p and scale it by 1/p.

    Unbiased; requires 0 < p <= 1, a scalar (one compressor shared by the workers; a per-worker
    array raises). ω = 1/p − 1 with equality; Cov_C(C(x)) = ω diag(x∘x), so the
    second moment closes: S_C(G) = G + ω Diag(diag G) (``covariance_structure`` (ω, 0)).
    The keep-probability is an array leaf, so sweeping it does not recompile.
    """

    p: Float[Array, ""]
    is_positively_homogeneous: ClassVar[bool] = True
    is_unbiased: ClassVar[bool] = True
    has_linear_second_moment: ClassVar[bool] = True
    has_diagonal_covariance: ClassVar[bool] = True

    def __init__(self, p):
        if np.ndim(p) != 0:
            raise ValueError(
                "BernoulliSparsifier: `p` must be a scalar (one compressor is shared by all workers), "
                f"got shape {np.shape(p)}."
            )
        check_in_interval("p", p, 0.0, 1.0, "BernoulliSparsifier")
        self.p = as_float_array(p)

    def __call__(self, key, x):
        keep = jr.uniform(key, x.shape, x.dtype) < self.p
        return jnp.where(keep, x / self.p, 0.0)

    def omega(self, d):
        return 1.0 / self.p - 1.0

    def variance(self, x):
        return self.omega(x.shape[-1]) * x * x

    def covariance_structure(self, d):
        return CovarianceStructure(self.omega(d), 0.0)
