"""Isotropic Gaussian gradient noise."""

from __future__ import annotations

from typing import ClassVar

import jax.numpy as jnp
import jax.random as jr
import jax.scipy.special as jsp
from jaxtyping import Array, Float

from .._validation import as_float_array, check_nonnegative, check_worker_shape
from ._base import AbstractNoise, NoiseCovariance, per_worker, per_worker_vector


class GaussianNoise(AbstractNoise):
    """Z_i ~ N(0, σ_i² I): bounded variance (docs/theory.md §2).

    Sign mean m_i = erf(∇f/(√2 σ_i)); p(0) = 1/√(2π). Additive: the covariance σ_i² I never
    depends on the gradient (``covariance_coefficients``: constant σ_i², homogeneous 0).

    **Arguments:**
    - `sigma`: standard deviation, >= 0; a scalar or a per-worker array of shape (n_workers,).
    """

    sigma: Float[Array, "..."]
    additive_fields: ClassVar[tuple[str, ...]] = ("sigma",)
    is_additive: ClassVar[bool] = True
    scale_is_homogeneous: ClassVar[bool] = True

    def __init__(self, sigma):
        check_worker_shape("sigma", sigma, "GaussianNoise")
        check_nonnegative("sigma", sigma, "GaussianNoise")
        self.sigma = as_float_array(sigma)

    def standard_sample(self, key, shape, dtype):
        return jr.normal(key, shape, dtype)

    def standard_cdf(self, u):
        return 0.5 * (1.0 + jsp.erf(u / jnp.sqrt(2.0)))

    def standard_density(self, u):
        return jnp.exp(-0.5 * u * u) / jnp.sqrt(2.0 * jnp.pi)

    def standard_variance(self):
        return jnp.ones(())

    def noise_scale(self, gradient, n_workers):
        return jnp.broadcast_to(per_worker(self.sigma, n_workers), (n_workers, gradient.shape[-1]))

    def covariance_coefficients(self, n_workers):
        constant = per_worker_vector(self.sigma, n_workers) ** 2
        return NoiseCovariance(constant, jnp.zeros_like(constant))

    def per_worker_parameters(self):
        return {"sigma": self.sigma}
