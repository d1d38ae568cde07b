"""Affine-variance Gaussian gradient noise."""

from __future__ import annotations

from typing import ClassVar

import jax.numpy as jnp
import jax.random as jr
from jaxtyping import Array, Float

from .._validation import as_float_array, check_nonnegative, check_worker_shape
from ._base import AbstractNoise, NoiseCovariance, per_worker, per_worker_vector
from ._gaussian import GaussianNoise


class AffineGaussianNoise(AbstractNoise):
    """Z_i ~ N(0, (σ0,i² + σ1,i² ‖∇f(x)‖²) I): affine variance (docs/theory.md §2) [paper].

    The paper's experiments use σ0 = 0, σ1 = σ (multiplicative noise). Enters the DCSGD
    thresholds through B_eff = ω + d σ1²(1 + ω) (docs/theory.md §6 H1). Not additive: given
    E[∇f_i∇f_iᵀ] = G the covariance is σ0,i² I + σ1,i² tr(G) I (``covariance_coefficients``:
    constant σ0,i², homogeneous σ1,i²).

    **Arguments:**
    - `sigma0`: additive part, >= 0; scalar or per-worker (n_workers,).
    - `sigma1`: multiplicative part, >= 0; scalar or per-worker (n_workers,).
    """

    sigma0: Float[Array, "..."]
    sigma1: Float[Array, "..."]
    additive_fields: ClassVar[tuple[str, ...]] = ("sigma0",)
    is_additive: ClassVar[bool] = False
    scale_is_homogeneous: ClassVar[bool] = True

    def __init__(self, sigma0=0.0, sigma1=0.0):
        for name, value in (("sigma0", sigma0), ("sigma1", sigma1)):
            check_worker_shape(name, value, "AffineGaussianNoise")
            check_nonnegative(name, value, "AffineGaussianNoise")
        self.sigma0 = as_float_array(sigma0)
        self.sigma1 = as_float_array(sigma1)

    def standard_sample(self, key, shape, dtype):
        return jr.normal(key, shape, dtype)

    def standard_cdf(self, u):
        return GaussianNoise.standard_cdf(self, u)

    def standard_density(self, u):
        return GaussianNoise.standard_density(self, u)

    def standard_variance(self):
        return jnp.ones(())

    def noise_scale(self, gradient, n_workers):
        s0 = per_worker(self.sigma0, n_workers)
        s1 = per_worker(self.sigma1, n_workers)
        # ‖∇f_i‖² per worker: one row per worker, or the shared gradient's norm for all.
        square = jnp.reshape(jnp.sum(gradient * gradient, axis=-1), (-1, 1))
        s = jnp.sqrt(s0**2 + s1**2 * square)
        return jnp.broadcast_to(s, (n_workers, gradient.shape[-1]))

    def covariance_coefficients(self, n_workers):
        return NoiseCovariance(
            per_worker_vector(self.sigma0, n_workers) ** 2, per_worker_vector(self.sigma1, n_workers) ** 2
        )

    def per_worker_parameters(self):
        return {"sigma0": self.sigma0, "sigma1": self.sigma1}
