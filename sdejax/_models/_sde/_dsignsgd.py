"""SDE coefficients of DSignSGD with averaged signs (docs/theory.md §5)."""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
import lineax as lx

from ..._noise import AbstractNoise
from ..._problems import AbstractProblem
from ._coefficients import AbstractSDECoefficients


def worker_gradients(problem, x, n_workers):
    """∇f(x) (d,), shared by all workers, or the workers' own ∇f_i(x) (n_workers, d)."""
    if problem.is_heterogeneous:
        return problem.worker_gradients(x, n_workers)
    return problem.gradient(x)


class DSignSGDCoefficients(AbstractSDECoefficients):
    """b = −m̄, m̄ = (1/N) Σ_i m_i; S = Σ̂/N, Σ̂ = (1/N) Σ_i (I − diag(m_i∘m_i)) (docs/theory.md §5).

    m_i(x) = 2F_i(∇f_i(x)) − 1 coordinate-wise (the noise model's ``sign_mean``), exact for
    coordinate-independent symmetric noise ([paper] for SME-1), with each worker's own gradient
    ∇f_i when the problem gives workers their own objectives. Diagonal
    L = diag(√(mean_i(1 − m_i²)/N)). Works for every Student-t ν > 0 (the signs are bounded).
    The curvature correction J_b b = J_m̄ m̄ of the ``corrected`` and ``sme2`` models is
    [reconstructed] for this family (docs/theory.md §5).
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
        return self.noise.sign_mean(worker_gradients(self.problem, x, self.n_workers), self.n_workers)

    def drift(self, x):
        return -jnp.mean(self._means(x), axis=0)

    def covariance_diagonal(self, x):
        m = self._means(x)
        return jnp.mean(1.0 - m * m, axis=0) / self.n_workers

    def diffusion(self, x, scale):
        return lx.DiagonalLinearOperator(scale * jnp.sqrt(self.covariance_diagonal(x)))
