"""Exact square roots of diagonal-minus-low-rank covariances in O(d) (docs/theory.md §5)."""

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


class _DiagonalMinusLowRankRoot(eqx.Module):
    """w ↦ D^{1/2}(w − P(γ ∘ (Pᵀ w))): the map of L = D^{1/2}(I − P diag(γ) Pᵀ), O(d R)."""

    root_diagonal: Float[Array, " d"]
    basis: Float[Array, "d r"]
    gamma: Float[Array, " r"]

    def __call__(self, w):
        return self.root_diagonal * (w - self.basis @ (self.gamma * (self.basis.T @ w)))


def diagonal_minus_low_rank_root(diagonal, c, rows) -> lx.FunctionLinearOperator:
    """A factor L with L Lᵀ = diag(D) − c Σ_r u_r u_rᵀ (the rows u_r of ``rows``), in O(d R).

    The rank-R generalisation of :func:`diagonal_minus_rank_one_root` (heterogeneous workers
    with rand-k: one rank-one term per worker). With V = √c D^{−1/2} Uᵀ (d × R) and its thin
    SVD V = P diag(s) Rᵀ, L = D^{1/2}(I − P diag(γ) Pᵀ), γ = s²/(1 + √(1 − s²)): then
    (I − PγPᵀ)² = I − P diag(2γ − γ²) Pᵀ = I − P diag(s²) Pᵀ = I − V Vᵀ, so
    L Lᵀ = D − c UᵀU exactly. Requires diag(D) − c UᵀU ⪰ 0 (s <= 1; clipped against rounding);
    coordinates with D_j = 0 must have u_rj = 0 and get a zero row.

    **Arguments:** `diagonal` D (d,) >= 0, `c` >= 0, `rows` U (R, d).
    """
    positive = diagonal > 0
    safe = jnp.where(positive, diagonal, 1.0)
    v = jnp.where(positive[:, None], jnp.sqrt(c) * rows.T / jnp.sqrt(safe)[:, None], 0.0)
    basis, s, _ = jnp.linalg.svd(v, full_matrices=False)
    s2 = jnp.minimum(s * s, 1.0)
    gamma = s2 / (1.0 + jnp.sqrt(1.0 - s2))
    root = _DiagonalMinusLowRankRoot(jnp.sqrt(jnp.where(positive, diagonal, 0.0)), basis, gamma)
    structure = jax.ShapeDtypeStruct(diagonal.shape, diagonal.dtype)
    return lx.FunctionLinearOperator(root, structure, closure_convert=False)
