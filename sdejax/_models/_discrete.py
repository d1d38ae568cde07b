"""The discrete algorithm itself, as a model."""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
import jax.random as jr

from .._algorithms import AbstractAlgorithm
from .._noise import AbstractNoise
from .._problems import AbstractProblem
from ._aggregate import find_aggregate_sampler
from ._base import AbstractModel


class DiscreteModel(AbstractModel):
    """x_{k+1} = x_k − η η_k · u(g_1, …, g_N), g_i = ∇f(x_k) + Z_i (model.md §4).

    The direction u is the algorithm's optax transformation applied to the per-worker
    stochastic gradients, so this is exactly what :mod:`sdejax.optim` does in a training loop.

    ``sampling``: ``"per_worker"`` simulates every worker; ``"aggregate"`` samples the server's
    average directly where its law is known exactly (O(d) per step, independent of N);
    ``"auto"`` picks ``"aggregate"`` where it exists and ``"per_worker"`` elsewhere. The resolved
    choice is in ``self.sampling``. Exact aggregate samplers exist, for identical workers
    (scalar noise and compressor parameters), for DCSGD with the Bernoulli sparsifier and
    Gaussian or affine noise, DSGD with Gaussian or affine noise, and DSignSGD with any noise
    (its CDF is known); each is tested equal in law to the per-worker path.
    """

    algorithm: AbstractAlgorithm
    problem: AbstractProblem
    noise: AbstractNoise
    sampling: str = eqx.field(static=True)
    name: ClassVar[str] = "discrete"
    is_reconstructed: ClassVar[bool] = False

    def __init__(self, algorithm, problem, noise, sampling: str = "auto"):
        self.algorithm = algorithm
        self.problem = problem
        self.noise = noise
        self.sampling = resolve_sampling(sampling, algorithm, noise, problem)

    def step(self, key, x, learning_rate, multiplier):
        if self.sampling == "aggregate":
            gradient = self.problem.gradient(x)
            sampler, _ = find_aggregate_sampler(self.algorithm, self.noise, self.problem)
            direction = sampler.direction(key, gradient, self.algorithm, self.noise)
            return x - (learning_rate * multiplier) * direction
        key_noise, key_algorithm = jr.split(key)
        n = self.algorithm.n_workers
        if self.problem.is_heterogeneous:
            true = self.problem.worker_gradients(x, n)  # (N, d): worker i's own ∇f_i
        else:
            true = self.problem.gradient(x)  # (d,), shared
        noise = self.noise.sample(key_noise, true, n)
        gradients = jnp.broadcast_to(true, noise.shape) + noise
        direction = self.algorithm.direction(key_algorithm, gradients, self.problem, self.noise)
        return x - (learning_rate * multiplier) * direction


_SAMPLINGS = ("auto", "per_worker", "aggregate")


def resolve_sampling(sampling: str, algorithm, noise, problem=None) -> str:
    """Resolve ``"auto"`` to ``"aggregate"`` where an exact aggregate sampler exists.

    ``"aggregate"`` raises a ``ValueError`` naming why no exact sampler covers the pair (e.g.
    per-worker noise scales); ``"per_worker"`` is always available.
    """
    if sampling not in _SAMPLINGS:
        raise ValueError(f"`sampling` must be one of {_SAMPLINGS}, got {sampling!r}.")
    if sampling == "per_worker":
        return "per_worker"
    sampler, reasons = find_aggregate_sampler(algorithm, noise, problem)
    if sampler is not None:
        return "aggregate"
    if sampling == "aggregate":
        raise ValueError(
            f"`sampling='aggregate'`: no exact aggregate sampler for {type(algorithm).__name__} "
            f"with {type(noise).__name__} ({reasons}); use sampling='per_worker'."
        )
    return "per_worker"
