"""The SDE model interface: drift, diffusion and one interval of SDE time η (docs/theory.md §5)."""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax.numpy as jnp

from ..._algorithms import AbstractAlgorithm
from ..._noise import AbstractNoise
from ..._problems import AbstractProblem
from .._base import AbstractModel
from ._coefficients import AbstractSDECoefficients
from ._integrate import is_fixed_step, solve_interval


class AbstractSDEModel(AbstractModel):
    """dX = [η_t b(X) + η η_t² c(X)] dt + √η η_t L(X) dW, L Lᵀ = S (docs/theory.md §5).

    b and L come from ``coefficients`` (one per algorithm family, derived from the same
    algorithm, problem and noise as the discrete model); c is the model's ``correction``
    (None for SME-1). η is the base learning rate, η_t the schedule value (constant over
    one interval).

    ``step(key, x, learning_rate, multiplier)`` integrates over SDE time [0, η] with
    dt = η/``sde_substeps`` (diffrax, Euler–Maruyama by default), so one call matches one
    discrete iteration and growth rates per unit time compare directly.
    """

    algorithm: eqx.AbstractVar[AbstractAlgorithm]
    problem: eqx.AbstractVar[AbstractProblem]
    noise: eqx.AbstractVar[AbstractNoise]
    coefficients: eqx.AbstractVar[AbstractSDECoefficients]
    correction: eqx.AbstractVar[Callable | None]
    sde_substeps: eqx.AbstractVar[int]
    solver: eqx.AbstractVar[object]
    brownian: eqx.AbstractVar[str]
    stepsize_controller: eqx.AbstractVar[object]
    max_steps: eqx.AbstractVar[int]

    @property
    def is_reconstructed(self) -> bool:
        """True when the drift uses a [reconstructed] correction (DSignSGD corrected/sme2)."""
        return self.correction is not None and self.coefficients.is_reconstructed

    @property
    def keeps_scale(self) -> bool:
        """Fixed steps (an adaptive controller's tolerances are absolute) and a correction that
        declares ``keeps_scale`` (the built-in J_b b does; an arbitrary callable is not trusted)."""
        return is_fixed_step(self.stepsize_controller) and (
            self.correction is None or bool(getattr(self.correction, "keeps_scale", False))
        )

    def drift(self, x, learning_rate, multiplier):
        """η_t b(x) + η η_t² c(x)."""
        drift = multiplier * self.coefficients.drift(x)
        if self.correction is None:
            return drift
        return drift + learning_rate * multiplier**2 * self.correction(self.coefficients, x)

    def diffusion(self, x, learning_rate, multiplier):
        """√η η_t L(x) as a lineax operator."""
        return self.coefficients.diffusion(x, jnp.sqrt(learning_rate) * multiplier)

    def step(self, key, x, learning_rate, multiplier):
        return solve_interval(
            lambda y: self.drift(y, learning_rate, multiplier),
            lambda y: self.diffusion(y, learning_rate, multiplier),
            x,
            learning_rate,
            key,
            substeps=self.sde_substeps,
            solver=self.solver,
            brownian=self.brownian,
            stepsize_controller=self.stepsize_controller,
            max_steps=self.max_steps,
        )
