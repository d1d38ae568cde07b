"""A Brownian path on a fixed grid, its increments drawn by grid index when queried."""

from __future__ import annotations

from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
from diffrax import AbstractBrownianPath, BrownianIncrement
from jaxtyping import Array, Float, PRNGKeyArray


class IncrementBrownianPath(AbstractBrownianPath):
    """W on the grid t_k = t0 + k h, h = (t1 − t0)/n, from n independent Gaussian increments.

    The increment over [t_k, t_{k+1}] is √h · normal(fold_in(key, k)), drawn when a query
    needs it (nothing is precomputed or stored). ``evaluate(s, t)`` returns W(t_j) − W(t_i)
    with i, j the grid indices nearest to s and t, i.e. the sum of the increments k = i..j−1:
    it is exact for any fixed step that is a multiple of h, and a coarser step sums the same
    fine increments (nested grids share one path, as convergence tests need). A step of one
    grid interval, the fixed-step solve with dt = h, costs one (d,) normal, like diffrax's
    ``UnsafeBrownianPath``, without a virtual tree's per-query descent (diffrax issue #517).
    Not for adaptive steps (use ``brownian="virtual_tree"``) or backpropagation.

    **Arguments:** `t0`, `t1` (traced scalars are fine), `n` grid intervals (static), `shape`
    (d,), `key`, `dtype`.
    """

    t0: Float[Array, ""]
    t1: Float[Array, ""]
    key: PRNGKeyArray
    n: int = eqx.field(static=True)
    shape: tuple[int, ...] = eqx.field(static=True)
    dtype: object = eqx.field(static=True)
    levy_area: ClassVar[type] = BrownianIncrement

    def __init__(self, t0, t1, n: int, shape, key, dtype=None):
        self.dtype = jnp.dtype(dtype or jnp.result_type(float))
        self.t0 = jnp.asarray(t0, self.dtype)
        self.t1 = jnp.asarray(t1, self.dtype)
        self.key = key
        self.n = int(n)
        self.shape = tuple(shape)

    def increment(self, k):
        """W(t_{k+1}) − W(t_k) for grid interval k (0 <= k < n)."""
        h = (self.t1 - self.t0) / self.n
        return jnp.sqrt(h) * jr.normal(jr.fold_in(self.key, k), self.shape, self.dtype)

    def _index(self, t):
        position = (t - self.t0) / (self.t1 - self.t0) * self.n
        return jnp.clip(jnp.round(position), 0, self.n).astype(jnp.int32)

    def _between(self, i, j):
        """Σ_{k=i}^{j−1} increment(k) for i <= j: the first one directly (a fixed step of one
        grid interval needs no loop iteration), the rest, if any, in a loop."""
        first = jnp.where(j > i, self.increment(i), jnp.zeros(self.shape, self.dtype))
        return jax.lax.fori_loop(i + 1, j, lambda k, total: total + self.increment(k), first)

    def evaluate(self, t0, t1=None, left=True, use_levy=False):
        del left
        if t1 is None:
            t0, t1 = self.t0, t0
        i, j = self._index(t0), self._index(t1)
        value = self._between(jnp.minimum(i, j), jnp.maximum(i, j))
        value = jnp.where(j >= i, value, -value)
        if use_levy:
            dt = jnp.asarray(t1 - t0, self.dtype)
            return BrownianIncrement(dt=dt, W=value)
        return value
