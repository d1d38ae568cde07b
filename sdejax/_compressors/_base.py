"""The compressor interface (model.md §3)."""

from __future__ import annotations

import abc
from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray


class AbstractCompressor(eqx.Module):
    """A (possibly random) map C: R^d -> R^d applied by each worker to its gradient.

    Declares its guarantees the way diffrax solvers declare their order:
    ``is_unbiased`` (E C(x) = x) and ``omega(d)``, the constant of the class U(ω):
    E‖C(x) − x‖² <= ω‖x‖². Biased compressors return ``inf`` from ``omega``.

    ``__call__(key, x)`` acts on one worker's flat vector x of shape (d,); vmap it over workers.
    """

    is_unbiased: eqx.AbstractClassVar[bool]
    # True when Cov_C(C(x)) is diagonal for every x (coordinates compressed independently).
    has_diagonal_covariance: ClassVar[bool] = False

    @abc.abstractmethod
    def __call__(self, key: PRNGKeyArray, x: Float[Array, " d"]) -> Float[Array, " d"]:
        """Compress one vector."""

    @abc.abstractmethod
    def omega(self, d: int):
        """ω such that E‖C(x) − x‖² <= ω‖x‖² (``inf`` when no such ω exists)."""

    def check_dim(self, d: int) -> None:
        """Raise a clear error if this compressor cannot act on vectors of length ``d``."""

    def variance(self, x: Float[Array, " d"]) -> Float[Array, " d"]:
        """Diagonal of Cov_C(C(x)) for a fixed x (unbiased compressors)."""
        raise NotImplementedError(f"{type(self).__name__} does not declare its variance.")


def _zero_safe(x):
    return jnp.where(x == 0, 1.0, x)
