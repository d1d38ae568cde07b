"""DSGD (DCSGD without compression) with Gaussian or affine-variance Gaussian noise."""

from __future__ import annotations

import jax.numpy as jnp
import jax.random as jr

from ..._algorithms import DCSGD, DSGD
from ..._compressors import Identity
from ..._noise import AffineGaussianNoise, GaussianNoise
from ._base import AbstractAggregateSampler, heterogeneity_reason, worker_scale


class DSGDGaussianSampler(AbstractAggregateSampler):
    """u = (1/N) Σ_i (∇f + s Z_i) = ∇f + s ξ / √N, ξ ~ N(0, I) [derived]: one normal per coordinate.

    Covers DSGD and DCSGD with the ``Identity`` compressor. Requires identical workers (scalar
    σ, or scalar σ0 and σ1); s is their common noise scale.
    """

    def unsupported_reason(self, algorithm, noise):
        plain = type(algorithm) is DSGD or (
            type(algorithm) is DCSGD and isinstance(algorithm.compressor, Identity)
        )
        if not plain:
            return "needs DSGD (or DCSGD with Identity)"
        if not isinstance(noise, (GaussianNoise, AffineGaussianNoise)):
            return "needs GaussianNoise or AffineGaussianNoise (a mean of Gaussians is Gaussian)"
        return heterogeneity_reason(noise)

    def direction(self, key, gradient, algorithm, noise):
        xi = jr.normal(key, gradient.shape, gradient.dtype)
        scale = worker_scale(noise, gradient)
        return gradient + scale * xi / jnp.sqrt(jnp.asarray(algorithm.n_workers, gradient.dtype))
