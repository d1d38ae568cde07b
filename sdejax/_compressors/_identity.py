"""No compression."""

from __future__ import annotations

from typing import ClassVar

import jax.numpy as jnp

from ._base import AbstractCompressor, CovarianceStructure


class Identity(AbstractCompressor):
    """C(x) = x. Unbiased, ω = 0; S_C(G) = G (``covariance_structure`` (0, 0))."""

    is_positively_homogeneous: ClassVar[bool] = True
    is_unbiased: ClassVar[bool] = True
    has_linear_second_moment: ClassVar[bool] = True
    has_diagonal_covariance: ClassVar[bool] = True

    def __call__(self, key, x):
        del key
        return x

    def omega(self, d):
        return 0.0

    def variance(self, x):
        return jnp.zeros_like(x)

    def covariance_structure(self, d):
        return CovarianceStructure(0.0, 0.0)
