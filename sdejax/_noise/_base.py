"""The gradient-noise interface (model.md §2).

Worker i's stochastic gradient is g_i = ∇f(x) + Z_i with Z_i = s_i(x) ∘ T_i, where T_i has
i.i.d. standard coordinates (symmetric about 0) and s_i(x) is the per-worker, per-coordinate
scale. A concrete noise model fills in the standard distribution (sampler, CDF, density,
variance) and the scale; everything else (sign means for DSignSGD, covariances for the SDE
models) is derived here once.
"""

from __future__ import annotations

import abc

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._validation import check_workers_match


class AbstractNoise(eqx.Module):
    """Additive, coordinate-independent, symmetric gradient noise with per-worker scales."""

    # ----------------------------------------------------------------- slots to fill in
    @abc.abstractmethod
    def standard_sample(self, key: PRNGKeyArray, shape: tuple[int, ...], dtype) -> Array:
        """Samples of the standard (unit-scale) noise T, shape ``shape``.

        ``shape`` is (n_workers, d); per-worker shape parameters broadcast over axis 0.
        """

    @abc.abstractmethod
    def standard_cdf(self, u: Array) -> Array:
        """P(T <= u); u has shape (n_workers, d) or broadcasts to it."""

    @abc.abstractmethod
    def standard_density(self, u: Array) -> Array:
        """Density of T at u."""

    @abc.abstractmethod
    def standard_variance(self) -> Array:
        """Var T (``inf`` where it does not exist); scalar or per-worker (n_workers,)."""

    @abc.abstractmethod
    def noise_scale(self, gradient: Float[Array, "*n d"], n_workers: int) -> Float[Array, "n d"]:
        """Per-worker, per-coordinate scale s_i(x) given the true gradient.

        ``gradient`` is ∇f(x) of shape (d,), shared by every worker, or the workers' own
        gradients ∇f_i(x) of shape (n_workers, d) (heterogeneous workers).
        """

    @abc.abstractmethod
    def per_worker_parameters(self) -> dict[str, Array]:
        """The parameters that may be per-worker arrays, by name (for shape checks)."""

    # ----------------------------------------------------------------- derived
    def check_workers(self, n_workers: int) -> None:
        """Raise if a per-worker parameter does not have length ``n_workers``."""
        for name, value in self.per_worker_parameters().items():
            check_workers_match(name, value, n_workers, type(self).__name__)

    def density_at_zero(self) -> Array:
        """p(0) of the standard noise T (enters the DSignSGD floor, model.md §7 H4)."""
        return self.standard_density(jnp.zeros(()))

    def sample(self, key: PRNGKeyArray, gradient: Float[Array, "*n d"], n_workers: int):
        """Noise Z of shape (n_workers, d) for the gradient ``gradient`` ((d,) or (n_workers, d))."""
        shape = (n_workers, gradient.shape[-1])
        return self.noise_scale(gradient, n_workers) * self.standard_sample(key, shape, gradient.dtype)

    def variance(self, gradient, n_workers: int):
        """Per-worker diagonal covariance of Z, shape (n_workers, d); ``inf`` if infinite."""
        var = jnp.reshape(jnp.asarray(self.standard_variance()), (-1, 1))
        return self.noise_scale(gradient, n_workers) ** 2 * var

    def has_finite_variance(self):
        """Whether every worker's noise has a finite variance (a boolean array)."""
        return jnp.all(jnp.isfinite(self.standard_variance()))

    def sign_mean(self, gradient, n_workers: int):
        """m_i = E sign(∇f + Z_i) = 2F(∇f/s_i) − 1, shape (n_workers, d) (model.md §5.2).

        A zero scale gives sign(∇f) (noise-free worker).
        """
        s = self.noise_scale(gradient, n_workers)
        g = jnp.broadcast_to(gradient[None, :], s.shape)
        safe = jnp.where(s > 0, s, 1.0)
        m = 2.0 * self.standard_cdf(g / safe) - 1.0
        return jnp.where(s > 0, m, jnp.sign(g))

    def sign_mean_derivative(self, gradient, n_workers: int):
        """∂m_i/∂(∇f)_j at fixed scale = 2 p(∇f/s_i)/s_i, shape (n_workers, d)."""
        s = self.noise_scale(gradient, n_workers)
        g = jnp.broadcast_to(gradient[None, :], s.shape)
        safe = jnp.where(s > 0, s, 1.0)
        return jnp.where(s > 0, 2.0 * self.standard_density(g / safe) / safe, 0.0)


def per_worker(value, n_workers: int):
    """Broadcast a scalar or (n_workers,) parameter to shape (n_workers, 1)."""
    value = jnp.asarray(value)
    return jnp.broadcast_to(jnp.reshape(value, (-1, 1)), (n_workers, 1))
