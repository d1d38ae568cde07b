"""SDE coefficients of DSignSGD with a majority vote: the exact per-coordinate vote law."""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx

from ..._noise import AbstractNoise
from ..._problems import AbstractProblem
from ._coefficients import AbstractSDECoefficients
from ._dsignsgd import worker_gradients


def positive_count_distribution(q):
    """P(K = k), k = 0..N, for K = Σ_i Bernoulli(q_i) (Poisson-binomial), per coordinate.

    ``q`` has shape (N, d); returns (N + 1, d). O(N² d) by adding one worker at a time.
    """
    n, d = q.shape
    start = jnp.zeros((n + 1, d), q.dtype).at[0].set(1.0)

    def add_worker(p, qi):
        shifted = jnp.concatenate([jnp.zeros((1, d), q.dtype), p[:-1]], axis=0)
        return p * (1.0 - qi[None, :]) + shifted * qi[None, :], None

    p, _ = jax.lax.scan(add_worker, start, q)
    return p


class MajorityVoteCoefficients(AbstractSDECoefficients):
    """DSignSGD(vote="majority"): u = sign(Σ_i sign(g_i)), coordinate-wise exact law.

    Worker i's sign is +1 with probability q_i (the noise model's ``sign_probability``, from
    each worker's own gradient; continuous noise: never 0).
    With K the number of positive signs (Poisson-binomial, computed exactly), the vote has
    mean v = P(K > N/2) − P(K < N/2) and, coordinates being independent, covariance
    diag(1 − P(K = N/2) − v²) (a tie, possible for even N, gives 0). b = −v, L = diag(√S).
    The curvature correction built on it is [reconstructed] (docs/theory.md §5).
    """

    problem: AbstractProblem
    noise: AbstractNoise
    n_workers: int = eqx.field(static=True)
    is_reconstructed: ClassVar[bool] = True

    def __init__(self, problem, noise, n_workers):
        self.problem = problem
        self.noise = noise
        self.n_workers = int(n_workers)

    def _vote(self, x):
        gradients = worker_gradients(self.problem, x, self.n_workers)
        p = positive_count_distribution(self.noise.sign_probability(gradients, self.n_workers))
        k = jnp.arange(self.n_workers + 1)[:, None]
        twice, n = 2 * k, self.n_workers
        mean = jnp.sum(jnp.where(twice > n, p, 0.0) - jnp.where(twice < n, p, 0.0), axis=0)
        tie = jnp.sum(jnp.where(twice == n, p, 0.0), axis=0)
        return mean, 1.0 - tie - mean * mean

    def drift(self, x):
        return -self._vote(x)[0]

    def covariance_diagonal(self, x):
        return jnp.maximum(self._vote(x)[1], 0.0)

    def diffusion(self, x, scale):
        return lx.DiagonalLinearOperator(scale * jnp.sqrt(self.covariance_diagonal(x)))
