"""A Brownian path from precomputed increments: one draw per solve, no tree descent."""

from __future__ import annotations

from typing import ClassVar

import jax.numpy as jnp
import jax.random as jr
from diffrax import AbstractBrownianPath, BrownianIncrement
from jaxtyping import Array, Float


class IncrementBrownianPath(AbstractBrownianPath):
    """W on the grid t_k = t0 + k h, h = (t1 − t0)/n, from n Gaussian increments drawn at once.

    ``evaluate(s, t)`` returns W(t_j) − W(t_i) with i, j the grid indices nearest to s and t, so
    it is exact for any fixed step that is a multiple of h (a coarser step sums the fine
    increments: nested grids share one path, as convergence tests need). Cheap: the increments
    are drawn once per solve, unlike a virtual Brownian tree's per-query descent (diffrax
    issue #517). Not for adaptive steps (use ``brownian="virtual_tree"``) or backpropagation.

    **Arguments:** `t0`, `t1` (traced scalars are fine), `n` grid intervals (static), `shape`
    (d,), `key`, `dtype`.
    """

    t0: Float[Array, ""]
    t1: Float[Array, ""]
    values: Float[Array, "n+1 d"]
    levy_area: ClassVar[type] = BrownianIncrement

    def __init__(self, t0, t1, n: int, shape, key, dtype=None):
        dtype = dtype or jnp.result_type(float)
        self.t0 = jnp.asarray(t0, dtype)
        self.t1 = jnp.asarray(t1, dtype)
        h = (self.t1 - self.t0) / n
        steps = jnp.sqrt(h) * jr.normal(key, (n, *shape), dtype)
        self.values = jnp.concatenate([jnp.zeros((1, *shape), dtype), jnp.cumsum(steps, axis=0)])

    def _index(self, t):
        n = self.values.shape[0] - 1
        position = (t - self.t0) / (self.t1 - self.t0) * n
        return jnp.clip(jnp.round(position), 0, n).astype(jnp.int32)

    def evaluate(self, t0, t1=None, left=True, use_levy=False):
        del left
        if t1 is None:
            value = self.values[self._index(t0)]
        else:
            value = self.values[self._index(t1)] - self.values[self._index(t0)]
        if use_levy:
            dt = jnp.asarray(0.0 if t1 is None else t1 - t0, value.dtype)
            return BrownianIncrement(dt=dt, W=value)
        return value
