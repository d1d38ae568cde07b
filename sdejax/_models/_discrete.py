"""The discrete algorithm itself, as a model."""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax.random as jr

from .._algorithms import AbstractAlgorithm
from .._noise import AbstractNoise
from .._problems import AbstractProblem
from ._base import AbstractModel


class DiscreteModel(AbstractModel):
    """x_{k+1} = x_k − η η_k · u(g_1, …, g_N), g_i = ∇f(x_k) + Z_i (model.md §4).

    The direction u is the algorithm's optax transformation applied to the per-worker
    stochastic gradients, so this is exactly what :mod:`sdejax.optim` does in a training loop.

    ``sampling``: ``"per_worker"`` simulates every worker; ``"aggregate"`` samples the server's
    average directly where its law is known exactly (O(d) per step, independent of N);
    ``"auto"`` picks ``"aggregate"`` where it exists. The resolved choice is in ``self.sampling``.
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
        self.sampling = resolve_sampling(sampling, algorithm, noise)

    def step(self, key, x, learning_rate, multiplier):
        key_noise, key_algorithm = jr.split(key)
        gradient = self.problem.gradient(x)
        gradients = gradient[None, :] + self.noise.sample(key_noise, gradient, self.algorithm.n_workers)
        direction = self.algorithm.direction(key_algorithm, gradients, self.problem, self.noise)
        return x - (learning_rate * multiplier) * direction


_SAMPLINGS = ("auto", "per_worker", "aggregate")


def resolve_sampling(sampling: str, algorithm, noise) -> str:
    """Resolve ``"auto"`` to ``"aggregate"`` where an exact aggregate sampler exists."""
    if sampling not in _SAMPLINGS:
        raise ValueError(f"`sampling` must be one of {_SAMPLINGS}, got {sampling!r}.")
    if sampling == "aggregate":
        raise ValueError(
            f"`sampling='aggregate'`: no exact aggregate sampler for {type(algorithm).__name__} "
            f"with {type(noise).__name__}; use sampling='per_worker'."
        )
    return "per_worker"
