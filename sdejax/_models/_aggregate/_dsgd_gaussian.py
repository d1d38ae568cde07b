"""DSGD (DCSGD with the identity compressor) with Gaussian or affine-variance Gaussian noise."""

from __future__ import annotations

import jax.numpy as jnp
import jax.random as jr

from ..._compressors import Identity
from ..._noise import AffineGaussianNoise, GaussianNoise
from ._base import AbstractAggregateSampler, worker_scale


class DSGDGaussianSampler(AbstractAggregateSampler):
    """u = (1/N) Σ_i (∇f + s Z_i) = ∇f + s ξ / √N, ξ ~ N(0, I) [derived]: one normal per coordinate.

    Covers the mean vote of uncompressed gradients (``DSGD(n)``, which is
    ``DCSGD(Identity(), n)``). Requires identical workers (scalar σ, or scalar σ0 and σ1); s is
    their common noise scale.
    """

    def covers(self, form, noise):
        if not isinstance(form.compressor, Identity) or form.vote != "mean":
            return "needs the mean of uncompressed gradients (DSGD = DCSGD with Identity)"
        if not isinstance(noise, (GaussianNoise, AffineGaussianNoise)):
            return "needs GaussianNoise or AffineGaussianNoise (a mean of Gaussians is Gaussian)"
        return None

    def direction(self, key, gradient, form, noise):
        xi = jr.normal(key, gradient.shape, gradient.dtype)
        scale = worker_scale(noise, gradient)
        return gradient + scale * xi / jnp.sqrt(jnp.asarray(form.n_workers, gradient.dtype))
