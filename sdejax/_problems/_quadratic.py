"""Diagonal quadratic f(x) = ½ Σ_j λ_j x_j²."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._validation import as_float_array, is_concrete
from ._base import AbstractProblem


class Quadratic(AbstractProblem):
    """f(x) = ½ Σ_j λ_j x_j², a diagonal quadratic.

    Gradient λ∘x, Hessian diag(λ). (L0, L1) = (max λ, 0) [derived, model.md §1].

    **Arguments:**
    - `eigenvalues`: array of shape (d,) with the diagonal Hessian λ (any sign; L-smoothness
      constants assume λ >= 0).

    ```python
    problem = sdejax.Quadratic(jnp.ones(10))   # isotropic, λ = 1, d = 10
    ```
    """

    eigenvalues: Float[Array, " d"]
    dim: int = eqx.field(static=True)

    def __init__(self, eigenvalues):
        shape = np.shape(eigenvalues)
        if len(shape) != 1 or shape[0] < 1:
            raise ValueError(
                f"Quadratic: `eigenvalues` must be a 1-D array of length d >= 1, got shape {shape}."
            )
        if is_concrete(eigenvalues) and not np.all(np.isfinite(np.asarray(eigenvalues, float))):
            raise ValueError("Quadratic: `eigenvalues` must be finite.")
        self.eigenvalues = as_float_array(eigenvalues)
        self.dim = int(shape[0])

    def loss(self, x):
        return 0.5 * jnp.sum(self.eigenvalues * x * x)

    def gradient(self, x):
        return self.eigenvalues * x

    def hvp(self, x, v):
        return self.eigenvalues * v

    def smoothness(self):
        return (jnp.max(jnp.abs(self.eigenvalues)), jnp.zeros(()))
