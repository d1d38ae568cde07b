"""The problem interface: a loss with gradient and Hessian-vector products."""

from __future__ import annotations

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float


class AbstractProblem(eqx.Module):
    """An objective f: R^d -> R.

    Subclasses fill in ``loss`` and ``dim``; ``gradient`` and ``hvp`` default to autodiff
    (never a dense Hessian). ``smoothness`` returns the (L0, L1) pair of model.md §1 where it
    is known, else ``None``.
    """

    dim: eqx.AbstractVar[int]

    @abc.abstractmethod
    def loss(self, x: Float[Array, " d"]) -> Float[Array, ""]:
        """f(x)."""

    def gradient(self, x: Float[Array, " d"]) -> Float[Array, " d"]:
        """∇f(x)."""
        return jax.grad(self.loss)(x)

    def hvp(self, x: Float[Array, " d"], v: Float[Array, " d"]) -> Float[Array, " d"]:
        """∇²f(x) v by forward-over-reverse autodiff."""
        return jax.jvp(self.gradient, (x,), (v,))[1]

    def smoothness(self) -> tuple[float, float] | None:
        """(L0, L1) with ‖∇²f(x)‖ <= L0 + L1‖∇f(x)‖, or None when not known."""
        return None

    def check_point(self, x) -> None:
        """Raise a clear error when ``x`` cannot be a point of this problem."""
        shape = jnp.shape(x)
        if shape != (self.dim,):
            raise ValueError(f"{type(self).__name__}: a point must have shape ({self.dim},), got {shape}.")
