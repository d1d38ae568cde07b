"""SDE coefficients of DSignSGD with averaged signs (model.md §5.2)."""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx

from ..._noise import AbstractNoise
from ..._problems import AbstractProblem
from ._coefficients import AbstractSDECoefficients


@jax.custom_jvp
def _standard_sign_mean(noise, u):
    """E sign(u + T) = 2F(u) − 1 for the standard noise T."""
    return 2.0 * noise.standard_cdf(u) - 1.0


@_standard_sign_mean.defjvp
def _standard_sign_mean_jvp(primals, tangents):
    # d/du (2F(u) − 1) = 2p(u). Autodiff through the Student-t CDF (a regularized incomplete
    # beta of u²/(ν + u²)) gives 0·∞ = NaN at u = 0; the density is finite there. The noise
    # parameters are not differentiated (their tangent is dropped).
    noise, u = primals
    _, u_dot = tangents
    return _standard_sign_mean(noise, u), 2.0 * noise.standard_density(u) * u_dot


def sign_means(noise, gradient, n_workers):
    """m_i = E sign(∇f + Z_i), shape (n_workers, d), differentiable everywhere in ∇f.

    Same values as ``noise.sign_mean`` (a zero scale gives sign(∇f)); the derivative uses the
    density, so a jvp at ∇f_j = 0 is finite for every noise model.
    """
    scale = noise.noise_scale(gradient, n_workers)
    positive = scale > 0
    safe = jnp.where(positive, scale, 1.0)
    m = _standard_sign_mean(noise, gradient[None, :] / safe)
    return jnp.where(positive, m, jnp.sign(gradient)[None, :])


class DSignSGDCoefficients(AbstractSDECoefficients):
    """b = −m̄, m̄ = (1/N) Σ_i m_i; S = Σ̂/N, Σ̂ = (1/N) Σ_i (I − diag(m_i∘m_i)) (model.md §5.2).

    m_i(x) = 2F_i(∇f(x)) − 1 coordinate-wise, exact for coordinate-independent symmetric noise
    ([paper] for SME-1). Diagonal L = diag(√(mean_i(1 − m_i²)/N)). Works for every Student-t
    ν > 0 (the signs are bounded). The curvature correction J_b b = J_m̄ m̄ of the ``corrected``
    and ``sme2`` models is [reconstructed] for this family (model.md §5.2).
    """

    problem: AbstractProblem
    noise: AbstractNoise
    n_workers: int = eqx.field(static=True)
    is_reconstructed: ClassVar[bool] = True

    def __init__(self, problem, noise, n_workers):
        self.problem = problem
        self.noise = noise
        self.n_workers = int(n_workers)

    def _means(self, x):
        return sign_means(self.noise, self.problem.gradient(x), self.n_workers)

    def drift(self, x):
        return -jnp.mean(self._means(x), axis=0)

    def covariance_diagonal(self, x):
        m = self._means(x)
        return jnp.mean(1.0 - m * m, axis=0) / self.n_workers

    def diffusion(self, x, scale):
        return lx.DiagonalLinearOperator(scale * jnp.sqrt(self.covariance_diagonal(x)))
