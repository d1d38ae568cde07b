"""The interface every SDE family fills in: the base drift b(x) and a factor of S(x).

For the single-worker template x_{k+1} = x_k + η b(x_k) + η·(zero-mean noise with covariance
S(x)) of docs/theory.md §5, a family (DCSGD, DSignSGD, ...) states b and a linear operator L(x) with
L Lᵀ = S(x). The models (``sme1``, ``sme2``, ``corrected``) add the curvature correction and the
scales √η η_t; the coefficients never see η.
"""

from __future__ import annotations

import abc
from typing import ClassVar

import equinox as eqx
import lineax as lx
from jaxtyping import Array, Float


class AbstractSDECoefficients(eqx.Module):
    """b(x) and L(x), L Lᵀ = S(x), derived from one (algorithm, problem, noise) triple.

    Declares its guarantees:

    - ``is_reconstructed``: whether the curvature correction J_b b built on this family is a
      [reconstructed] choice (docs/theory.md, "What is [reconstructed]") (True for DSignSGD).
    - ``exact_covariance``: whether S is exact (False where a documented approximation is used).
    - ``has_additive_noise``: whether L does not depend on x (then Heun and Milstein are valid).
    """

    is_reconstructed: ClassVar[bool] = False

    @abc.abstractmethod
    def drift(self, x: Float[Array, " d"]) -> Float[Array, " d"]:
        """The base drift b(x): the mean of one step's direction, with a minus sign."""

    @abc.abstractmethod
    def diffusion(self, x: Float[Array, " d"], scale) -> lx.AbstractLinearOperator:
        """``scale`` · L(x), a structured lineax operator with L Lᵀ = S(x)."""

    @abc.abstractmethod
    def covariance_diagonal(self, x: Float[Array, " d"]) -> Float[Array, " d"]:
        """The diagonal of S(x) (for checks and cheap traces)."""

    @property
    def exact_covariance(self) -> bool:
        return True

    @property
    def has_additive_noise(self) -> bool:
        return False
