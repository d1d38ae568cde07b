"""The exact O(d) square root of a diagonal-minus-rank-one covariance (model.md §5.1)."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import lineax as lx
from jaxtyping import Array, Float


class _DiagonalMinusRankOneRoot(eqx.Module):
    """w ↦ D^{1/2}(w − γ v (v·w)): the map of L = D^{1/2}(I − γ v vᵀ), never a d×d matrix."""

    root_diagonal: Float[Array, " d"]
    direction: Float[Array, " d"]
    gamma: Float[Array, ""]

    def __call__(self, w):
        return self.root_diagonal * (w - self.gamma * jnp.dot(self.direction, w) * self.direction)


def diagonal_minus_rank_one_root(diagonal, c, u) -> lx.FunctionLinearOperator:
    """A factor L with L Lᵀ = diag(D) − c u uᵀ, applied in O(d).

    L = D^{1/2}(I − γ v vᵀ), v = √c D^{−1/2} u, γ = (1 − √(1 − ‖v‖²))/‖v‖² = 1/(1 + √(1 − ‖v‖²))
    (the second form is stable as ‖v‖ → 0). Then (I − γvvᵀ)² = I − vvᵀ, so
    L Lᵀ = D^{1/2}(I − vvᵀ)D^{1/2} = D − c u uᵀ exactly. Requires D − c u uᵀ ⪰ 0, i.e. ‖v‖ <= 1
    (true for rand-k: D_j >= c d u_j², so ‖v‖² <= 1/d·d = 1); ‖v‖² is clipped to 1 against
    rounding. Coordinates with D_j = 0 must have u_j = 0 and get a zero row.

    **Arguments:** `diagonal` D (d,) >= 0, `c` >= 0, `u` (d,).

    **Returns:** a ``lineax.FunctionLinearOperator`` (its ``mv`` costs O(d)).
    """
    positive = diagonal > 0
    safe = jnp.where(positive, diagonal, 1.0)
    v = jnp.where(positive, jnp.sqrt(c) * u / jnp.sqrt(safe), 0.0)
    norm_sq = jnp.minimum(jnp.dot(v, v), 1.0)
    gamma = 1.0 / (1.0 + jnp.sqrt(1.0 - norm_sq))
    root = _DiagonalMinusRankOneRoot(jnp.sqrt(jnp.where(positive, diagonal, 0.0)), v, gamma)
    structure = jax.ShapeDtypeStruct(u.shape, u.dtype)
    return lx.FunctionLinearOperator(root, structure, closure_convert=False)
