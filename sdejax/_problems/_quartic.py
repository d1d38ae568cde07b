"""Separable quartic f(x) = Σ_j x_j⁴ / 4."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp

from .._validation import check_int_at_least
from ._base import AbstractProblem


class Quartic(AbstractProblem):
    """f(x) = Σ_j x_j⁴ / 4: (L0, L1)-smooth but not L-smooth.

    Gradient x³, Hessian diag(3x²). In d = 1, |f''| = 3x² <= L0 + L1|x|³ holds exactly for the
    pairs with L0 = 4/L1² [derived, docs/theory.md §1]; ``smoothness`` returns (4, 1). For d > 1 the
    same pair bounds each coordinate, and ‖∇²f‖ = max_j 3x_j² <= 4 + max_j |x_j|³ <= 4 + ‖∇f‖.

    GD diverges iff η x0² > 2 (docs/theory.md §6 H3).
    """

    dim: int = eqx.field(static=True)

    def __init__(self, dim: int = 1):
        check_int_at_least("dim", dim, 1, "Quartic")
        self.dim = int(dim)

    def loss(self, x):
        return 0.25 * jnp.sum(x**4)

    def gradient(self, x):
        return x**3

    def hvp(self, x, v):
        return 3.0 * x**2 * v

    def smoothness(self):
        return (jnp.asarray(4.0), jnp.asarray(1.0))
