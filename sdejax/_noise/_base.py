"""The gradient-noise interface (docs/theory.md §2).

Worker i's stochastic gradient is g_i = ∇f_i(x) + Z_i with Z_i = s_i(x) ∘ T_i, where T_i has
i.i.d. standard coordinates (symmetric about 0) and s_i(x) is the per-worker, per-coordinate
scale. A concrete noise model fills in the standard distribution (sampler, CDF, density,
variance), the scale and its covariance declaration; everything else (sign means for DSignSGD,
covariances for the SDE models) is derived here once.
"""

from __future__ import annotations

import abc
from typing import ClassVar, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from .._validation import check_workers_match


class NoiseCovariance(NamedTuple):
    """Cov(Z_i | ∇f_i) = (``constant``_i + ``homogeneous``_i ‖∇f_i‖²) I, both of shape (n_workers,).

    For a random gradient with E[∇f_i ∇f_iᵀ] = G the covariance is therefore
    ``constant``_i I + ``homogeneous``_i tr(G) I: a constant (additive) part and a part linear
    in G. ``constant`` is ``inf`` where the variance does not exist (Student-t, ν <= 2).
    """

    constant: Array
    homogeneous: Array


class AbstractNoise(eqx.Module):
    """Additive, coordinate-independent, symmetric gradient noise with per-worker scales.

    Declares its guarantees:

    - ``is_additive``: the covariance never depends on the gradient (no homogeneous part);
    - ``covariance_coefficients(n_workers)``: the covariance as a function of the gradient's
      second moment (:class:`NoiseCovariance`);
    - ``sign_probability``/``sign_mean``: the law of sign(∇f_i + Z_i) (DSignSGD), from the
      standard CDF;
    - ``additive_fields``: the fields that scale the part of the noise that does not grow with
      the gradient (σ0, σ, the Student-t scale). ``without_additive_part()`` sets them to 0: what
      is left is the homogeneous part that the mean-square growth rate is about
      (``docs/theory.md`` §7);
    - ``scale_is_homogeneous``: with the additive part removed, the scale is positively
      homogeneous of degree 1 in the gradient, s_i(c ∇f) = c s_i(∇f) for c > 0 (False unless
      declared; purely additive noise declares True: nothing is left).
    """

    is_additive: eqx.AbstractClassVar[bool]
    scale_is_homogeneous: ClassVar[bool] = False
    additive_fields: eqx.AbstractClassVar[tuple[str, ...]]

    def without_additive_part(self) -> AbstractNoise:
        """This noise with its additive part removed (every field of ``additive_fields`` set to 0)."""
        names = self.additive_fields
        return eqx.tree_at(
            lambda noise: tuple(getattr(noise, name) for name in names),
            self,
            tuple(jnp.zeros_like(getattr(self, name)) for name in names),
        )

    def has_additive_part(self) -> bool:
        """False only where every additive field is known to be 0 (a traced value counts as not)."""
        for name in self.additive_fields:
            value = getattr(self, name)
            if isinstance(value, jax.core.Tracer) or np.any(np.asarray(value) != 0):
                return True
        return False

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
    def covariance_coefficients(self, n_workers: int) -> NoiseCovariance:
        """The per-worker (constant, homogeneous) coefficients of :class:`NoiseCovariance`."""

    @abc.abstractmethod
    def per_worker_parameters(self) -> dict[str, Array]:
        """The parameters that may be per-worker arrays, by name (for shape checks)."""

    # ----------------------------------------------------------------- derived
    def check_workers(self, n_workers: int) -> None:
        """Raise if a per-worker parameter does not have length ``n_workers``."""
        for name, value in self.per_worker_parameters().items():
            check_workers_match(name, value, n_workers, type(self).__name__)

    def density_at_zero(self) -> Array:
        """p(0) of the standard noise T (enters the DSignSGD floor, docs/theory.md §6 H4)."""
        return self.standard_density(jnp.zeros(()))

    def sample(self, key: PRNGKeyArray, gradient: Float[Array, "*n d"], n_workers: int):
        """Noise Z of shape (n_workers, d) for the gradient ``gradient`` ((d,) or (n_workers, d))."""
        shape = (n_workers, gradient.shape[-1])
        return self.noise_scale(gradient, n_workers) * self.standard_sample(key, shape, gradient.dtype)

    def variance(self, gradient, n_workers: int):
        """Per-worker diagonal covariance of Z, shape (n_workers, d); ``inf`` if infinite."""
        var = jnp.reshape(jnp.asarray(self.standard_variance(), gradient.dtype), (-1, 1))
        return self.noise_scale(gradient, n_workers) ** 2 * var

    def has_finite_variance(self):
        """Whether every worker's noise has a finite variance (a boolean array)."""
        return jnp.all(jnp.isfinite(self.standard_variance()))

    def sign_probability(self, gradient, n_workers: int):
        """q_i = P(∇f_i + Z_i > 0) = F(∇f_i/s_i) coordinate-wise, shape (n_workers, d).

        ``gradient`` is (d,) (shared) or (n_workers, d). A zero scale (noise-free worker) gives
        (1 + sign ∇f_i)/2. Differentiable everywhere in the gradient: the derivative of F is the
        density (a custom JVP; autodiff through the Student-t CDF gives 0·∞ at 0).
        """
        scale = self.noise_scale(gradient, n_workers)
        g = jnp.broadcast_to(gradient, scale.shape)
        positive = scale > 0
        safe = jnp.where(positive, scale, 1.0)
        q = _standard_cdf(self, g / safe)
        return jnp.where(positive, q, 0.5 * (1.0 + jnp.sign(g)))

    def sign_mean(self, gradient, n_workers: int):
        """m_i = E sign(∇f_i + Z_i) = 2F(∇f_i/s_i) − 1, shape (n_workers, d) (docs/theory.md §5).

        The one definition of DSignSGD's sign mean (SDE drifts, diffusions and the aggregate
        sampler all use it or ``sign_probability``); a zero scale gives sign(∇f_i); its
        derivative in the gradient is 2 p(∇f_i/s_i)/s_i, finite at 0 for every noise model.
        """
        return 2.0 * self.sign_probability(gradient, n_workers) - 1.0


@jax.custom_jvp
def _standard_cdf(noise, u):
    """F(u) = P(T <= u) of the standard noise, with the density as its derivative."""
    return jnp.asarray(noise.standard_cdf(u), jnp.result_type(u))


@_standard_cdf.defjvp
def _standard_cdf_jvp(primals, tangents):
    # d/du F(u) = p(u). Autodiff through the Student-t CDF (a regularized incomplete beta of
    # u²/(ν + u²)) gives 0·∞ = NaN at u = 0; the density is finite there. The noise parameters
    # are not differentiated (their tangent is dropped).
    noise, u = primals
    _, u_dot = tangents
    # In u's dtype: a parameter kept in another precision must not change the tangent's.
    value = jnp.asarray(_standard_cdf(noise, u), u.dtype)
    return value, jnp.asarray(noise.standard_density(u), u.dtype) * u_dot


def per_worker(value, n_workers: int):
    """Broadcast a scalar or (n_workers,) parameter to shape (n_workers, 1)."""
    value = jnp.asarray(value)
    return jnp.broadcast_to(jnp.reshape(value, (-1, 1)), (n_workers, 1))


def per_worker_vector(value, n_workers: int):
    """Broadcast a scalar or (n_workers,) parameter to shape (n_workers,)."""
    return jnp.broadcast_to(jnp.reshape(jnp.asarray(value), (-1,)), (n_workers,))
