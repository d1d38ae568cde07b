"""The model interface: one step of length η (one discrete iteration, or SDE time η)."""

from __future__ import annotations

import abc

import equinox as eqx
from jaxtyping import Array, Float, PRNGKeyArray, PyTree

from .._algorithms import AbstractAlgorithm
from .._noise import AbstractNoise
from .._problems import AbstractProblem


class AbstractModel(eqx.Module):
    """A model of a distributed algorithm on a problem with a noise model.

    A path's *state* is what one step needs: the position x for a stateless method, or x with
    an optimizer state (momentum, error-feedback memories, step counts) for a stateful one.

    * ``init(key, x0, learning_rate) -> state``: the state at x0 (default: x0 itself);
    * ``step(key, state, learning_rate, multiplier) -> state``: one discrete iteration, or SDE
      time η = ``learning_rate``, with schedule value η_k = ``multiplier``;
    * ``position(state) -> x``: the position (default: the state itself).

    Every model of one (algorithm, problem, noise) triple is derived from those same values.
    """

    algorithm: eqx.AbstractVar[AbstractAlgorithm]
    problem: eqx.AbstractVar[AbstractProblem]
    noise: eqx.AbstractVar[AbstractNoise]
    name: eqx.AbstractClassVar[str]
    is_reconstructed: eqx.AbstractClassVar[bool]

    def init(self, key: PRNGKeyArray, x0: Float[Array, " d"], learning_rate) -> PyTree:
        """The state of a path starting at ``x0``."""
        del key, learning_rate
        return x0

    @abc.abstractmethod
    def step(self, key: PRNGKeyArray, state: PyTree, learning_rate, multiplier) -> PyTree:
        """state_k -> state_{k+1}."""

    def position(self, state: PyTree) -> Float[Array, " d"]:
        """The position x of a path's state."""
        return state
