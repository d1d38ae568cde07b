"""The model interface: one step of length η (one discrete iteration, or SDE time η)."""

from __future__ import annotations

import abc

import equinox as eqx
import jax.tree_util as jtu
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
    * ``position(state) -> x``: the position (default: the state itself);
    * ``keeps_scale``: whether the step commutes with scaling about x* whenever its drift and
      noise do (a property of the scheme: True for the discrete model and for the SDE models
      on fixed steps with the built-in corrections; False by default).

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

    @property
    def keeps_scale(self) -> bool:
        return False

    def is_scale_free(self) -> bool:
        """Whether the dynamics are positively homogeneous of degree 1 about x*: with the same
        random variates, the path from x* + c(x0 − x*) is x* + c(path from x0 − x*) for every
        c > 0, and the state is the position.

        Declared by the components, never inferred from values: the scheme ``keeps_scale``, the
        algorithm is stateless and ``separates_forcing`` (a positively homogeneous update), the
        problem's ``gradient_is_linear`` and the noise's ``scale_is_homogeneous``. It describes
        the dynamics without forcing (``without_forcing()``); the mean-square estimator then
        rescales its clones to unit distance after each resampling, which changes no growth
        factor but keeps them inside the floating-point range (``docs/theory.md`` §7).
        """
        return bool(
            self.keeps_scale
            and self.algorithm.is_stateless
            and self.algorithm.separates_forcing
            and self.problem.gradient_is_linear
            and self.noise.scale_is_homogeneous
        )

    # ----------------------------------------------------------------- forcing
    def has_forcing(self) -> bool:
        """Whether the dynamics carry a constant forcing: additive noise, or heterogeneous
        minimizers (∇f_i(x*) ≠ 0). False only where both are known to be absent."""
        return self.problem.is_heterogeneous or self.noise.has_additive_part()

    def without_forcing(self) -> AbstractModel | None:
        """This model with its forcing removed, the same structure with other values: every
        problem in the model (its SDE coefficients hold them too) without its heterogeneity and
        every noise model without its additive part. ``None`` where the algorithm does not
        declare that forcing separates from its homogeneous dynamics
        (``algorithm.separates_forcing``) or the problem cannot drop its heterogeneity.

        The forcing moves the stationary level of E‖x − x*‖², not its growth rate or the
        threshold (``docs/theory.md`` §7); the mean-square estimator follows this model.
        """
        if not self.algorithm.separates_forcing:
            return None
        if self.problem.without_heterogeneity() is None:
            return None

        def strip(node):
            if isinstance(node, AbstractProblem):
                return node.without_heterogeneity()
            if isinstance(node, AbstractNoise):
                return node.without_additive_part()
            return node

        is_part = lambda node: isinstance(node, (AbstractProblem, AbstractNoise))  # noqa: E731
        return jtu.tree_map(strip, self, is_leaf=is_part)
