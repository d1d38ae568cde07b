"""The model interface: one step of length η (one discrete iteration, or SDE time η)."""

from __future__ import annotations

import abc

import equinox as eqx
from jaxtyping import Array, Float, PRNGKeyArray

from .._algorithms import AbstractAlgorithm
from .._noise import AbstractNoise
from .._problems import AbstractProblem


class AbstractModel(eqx.Module):
    """A model of a distributed algorithm on a problem with a noise model.

    ``step(key, x, learning_rate, multiplier)`` advances one path by one discrete iteration
    (or by SDE time η = ``learning_rate``), with schedule value η_k = ``multiplier``. Every
    model of one (algorithm, problem, noise) triple is derived from those same values.
    """

    algorithm: eqx.AbstractVar[AbstractAlgorithm]
    problem: eqx.AbstractVar[AbstractProblem]
    noise: eqx.AbstractVar[AbstractNoise]
    name: eqx.AbstractClassVar[str]
    is_reconstructed: eqx.AbstractClassVar[bool]

    @abc.abstractmethod
    def step(self, key: PRNGKeyArray, x: Float[Array, " d"], learning_rate, multiplier) -> Float[Array, " d"]:
        """x_k -> x_{k+1}."""
