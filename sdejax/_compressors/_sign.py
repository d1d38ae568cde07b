"""Sign compression (1 bit per coordinate)."""

from __future__ import annotations

from typing import ClassVar

import jax.numpy as jnp

from ._base import AbstractCompressor


class Sign(AbstractCompressor):
    """C(x) = sign(x), with sign(0) = 0 (optax's ``scale_by_sign`` convention).

    Deterministic and biased: not in any U(ω), so ``omega`` is ``inf``; its second moment does
    not close (``has_linear_second_moment`` is False).
    """

    is_unbiased: ClassVar[bool] = False

    def __call__(self, key, x):
        del key
        return jnp.sign(x)

    def omega(self, d):
        return float("inf")
