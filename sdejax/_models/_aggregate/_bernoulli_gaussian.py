"""DCSGD with the Bernoulli sparsifier and Gaussian (or affine-variance Gaussian) noise."""

from __future__ import annotations

import jax.numpy as jnp
import jax.random as jr

from ..._compressors import BernoulliSparsifier
from ..._noise import AffineGaussianNoise, GaussianNoise
from ._base import AbstractAggregateSampler, worker_scale
from ._binomial import binomial


class BernoulliGaussianSampler(AbstractAggregateSampler):
    """u = (1/N) Σ_i C_i(∇f + s Z_i), C_i Bernoulli(p) sparsifiers, Z_i ~ N(0, I), sampled in O(d).

    Per coordinate j, worker i keeps it with probability p independently, so the number of
    keepers is M_j ~ Binomial(N, p); given M_j the kept terms are M_j i.i.d. N(∂_j f, s_j²)
    variables scaled by 1/p, whose sum is N(M_j ∂_j f, M_j s_j²)/p [derived]. Hence

        u_j = (M_j ∂_j f + s_j √M_j ξ_j) / (N p),   M_j ~ Binomial(N, p), ξ_j ~ N(0, 1),

    one binomial count and one normal per coordinate instead of N uniforms and N normals.
    Covers the mean vote of ``BernoulliSparsifier`` terms (DCSGD). Requires identical workers
    (scalar σ, σ0, σ1; p is always a scalar); s is the common noise scale (for affine noise
    s² = σ0² + σ1²‖∇f‖²).
    """

    def covers(self, form, noise):
        if not isinstance(form.compressor, BernoulliSparsifier) or form.vote != "mean":
            return "needs the mean of BernoulliSparsifier-compressed gradients (DCSGD)"
        if not isinstance(noise, (GaussianNoise, AffineGaussianNoise)):
            return "needs GaussianNoise or AffineGaussianNoise (a sum of Gaussians is Gaussian)"
        return None

    def direction(self, key, gradient, form, noise):
        key_count, key_normal = jr.split(key)
        n = form.n_workers
        p = jnp.asarray(form.compressor.p, gradient.dtype)
        kept = binomial(key_count, n, p, gradient.shape, gradient.dtype)
        xi = jr.normal(key_normal, gradient.shape, gradient.dtype)
        scale = worker_scale(noise, gradient)
        return (kept * gradient + scale * jnp.sqrt(kept) * xi) / (n * p)
