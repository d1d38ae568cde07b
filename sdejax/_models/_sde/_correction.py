"""Curvature corrections: the drift term that multiplies η·η_t² (docs/theory.md §5)."""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax


class CurvatureCorrection(eqx.Module):
    """x ↦ coefficient · J_b(x) b(x), with one ``jax.jvp`` of b along b (no Jacobian formed).

    ``coefficient`` = +½ gives the ``corrected`` model, −½ the second-order modified equation
    ``sme2`` (docs/theory.md §5). For DSGD/DCSGD b = −∇f and J_b b = ∇²f∇f [paper]; for DSignSGD
    b = −m̄ and J_b b = J_m̄ m̄ is [reconstructed] (docs/theory.md §5.2).

    Any callable ``correction(coefficients, x) -> (d,)`` may replace it (the ``correction``
    option of the SDE models); ``coefficients`` is the model's
    :class:`AbstractSDECoefficients` (``coefficients.drift`` is b).
    """

    coefficient: float = eqx.field(static=True)
    # J_b b is homogeneous of degree 1 wherever b is (the model's ``keeps_scale``).
    keeps_scale: ClassVar[bool] = True

    def __call__(self, coefficients, x):
        b = coefficients.drift(x)
        return self.coefficient * jax.jvp(coefficients.drift, (x,), (b,))[1]
