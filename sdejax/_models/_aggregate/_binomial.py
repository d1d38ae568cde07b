"""Fast exact Binomial(n, q) counts for the aggregate samplers (n static, q traced).

``jax.random.binomial`` runs a rejection loop (BTRS) and an inversion loop over the whole batch
and is slow on CPU (about 5 M variates/s against 100–400 M/s for uniforms, see
``benchmarks/``). The counts needed here have a small, static n (the number of workers), so
inversion of the CDF is exact and cheap:

* n <= ``SMALL_N``: sequential ("chop-down") search with the pmf recurrence
  p_{k+1} = p_k · q/(1 − q) · (n − k)/(k + 1): one uniform, n multiply-adds per variate.
* n > ``SMALL_N`` and one q for every coordinate (Bernoulli sparsifier): the n + 1 CDF values
  are computed once per step and each variate is a binary search (one uniform, log2 n gathers).
* n > ``SMALL_N`` and one q per coordinate (DSignSGD): split q = q_lo + (q − q_lo) with q_lo on a
  grid of step 1/G. With U_1, …, U_n uniform, K = #{U_i < q} = K_lo + K_mid where
  K_lo = #{U_i < q_lo} ~ Binomial(n, q_lo) and, given K_lo, the other n − K_lo uniforms are
  uniform on [q_lo, 1), so K_mid ~ Binomial(n − K_lo, (q − q_lo)/(1 − q_lo)) [derived]. K_lo is
  inverted against a precomputed table (one row per grid point); K_mid has mean <= 2n/G <= 1
  and is inverted by chop-down. Two uniforms per variate, cost independent of n.

All three are inversions of the exact CDF: exact up to floating-point rounding of the CDF
(probabilities below the uniforms' resolution, about 6e-8 in float32, are not represented).
q > 1/2 uses K = n − Binomial(n, 1 − q), so every recurrence runs with q <= 1/2.
"""

from __future__ import annotations

import functools as ft
import math

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

# Chop-down inversion costs n cheap steps per variate; above this n the table methods win
# (measured in benchmarks/: at n = 16 chop-down still runs near the speed of the uniforms).
SMALL_N = 16
# Grid rows for the per-coordinate table method: G = 2n rows up to this many (a table of
# (G/2 + 1) × (n + 1) floats; 1025 × 4097 ≈ 16 MiB in float32 at the largest n).
_MAX_GRID = 2048
_MAX_TABLE_N = 4096


def binomial(key, n: int, q, shape, dtype):
    """K ~ Binomial(n, q), exact by inversion; ``q`` broadcasts to ``shape``; float ``dtype``.

    ``n`` is a static Python int >= 0; q in [0, 1]. Returns floats holding integers.
    """
    q = jnp.asarray(q, dtype)
    if n == 0:
        return jnp.zeros(shape, dtype)
    flip = q > 0.5
    q_half = jnp.where(flip, 1.0 - q, q)
    if n <= SMALL_N:
        count = _chop_down(jr.uniform(key, shape, dtype), n, q_half)
    elif q.ndim == 0:
        count = _table_search(jr.uniform(key, shape, dtype), n, _cdf_table(n, q_half))
    elif n <= _MAX_TABLE_N:
        count = _grid(key, n, jnp.broadcast_to(q_half, shape), dtype)
    else:
        # Very large n per coordinate: exact but slow rejection sampler from jax.random.
        count = jr.binomial(key, n, jnp.broadcast_to(q_half, shape), shape, dtype)
    return jnp.where(flip, n - count, count)


def _chop_down(u, n: int, q, count0=None):
    """Smallest k with u < F(k) for Binomial(n, q), q <= 1/2, by n pmf-recurrence steps."""
    ratio = q / (1.0 - q)
    pmf = jnp.broadcast_to((1.0 - q) ** n, u.shape)
    count = jnp.zeros_like(u)
    for k in range(n):  # n <= SMALL_N: unrolled
        count = count + (u >= pmf)
        u = u - pmf
        pmf = pmf * ratio * ((n - k) / (k + 1))
    return count


def _cdf_table(n: int, q):
    """F(0), …, F(n − 1), +inf for Binomial(n, q) with scalar q (computed in the trace)."""
    k = jnp.arange(n + 1, dtype=q.dtype)
    log_choose = jnp.asarray(_log_choose(n), q.dtype)
    safe = jnp.clip(q, 1e-30, 0.5)
    log_pmf = log_choose + k * jnp.log(safe) + (n - k) * jnp.log1p(-safe)
    pmf = jnp.where(q > 0, jnp.exp(log_pmf), (k == 0).astype(q.dtype))
    cdf = jnp.cumsum(pmf)
    return jnp.concatenate([cdf[:-1], jnp.full((1,), jnp.inf, q.dtype)])


def _table_search(u, n: int, table, row_offset=0):
    """#{k : table[row_offset + k] <= u}: the inverse CDF, by binary search over n + 1 entries."""
    low = jnp.zeros(u.shape, jnp.int32)  # answer in [low, high]
    high = jnp.full(u.shape, n, jnp.int32)
    for _ in range(max(1, math.ceil(math.log2(n + 1)))):
        mid = (low + high) // 2
        go_right = table[row_offset + mid] <= u
        low = jnp.where(go_right, mid + 1, low)
        high = jnp.where(go_right, high, mid)
    return low.astype(u.dtype)


def _grid(key, n: int, q, dtype):
    key_lo, key_mid = jr.split(key)
    size = min(2 * n, _MAX_GRID)  # G: grid step 1/G, rows for q_lo in {0, 1/G, …, 1/2}
    table = jnp.asarray(_grid_table(n, size), dtype).reshape(-1)
    row = jnp.clip(jnp.floor(q * size), 0, size // 2).astype(jnp.int32)
    q_lo = row.astype(dtype) / size
    k_lo = _table_search(jr.uniform(key_lo, q.shape, dtype), n, table, row * (n + 1))
    r = jnp.clip((q - q_lo) / (1.0 - q_lo), 0.0, 1.0)
    k_mid = _chop_down_loop(jr.uniform(key_mid, q.shape, dtype), n - k_lo, r)
    return k_lo + k_mid


def _chop_down_loop(u, m, r):
    """Binomial(m, r) by chop-down with per-element m, run until every element is placed.

    Used with mean m·r <= 1, so the loop runs a handful of times (the batch maximum).
    """
    ratio = r / (1.0 - r)
    pmf = jnp.exp(m * jnp.log1p(-r))

    def cond(carry):
        _, u, pmf, count = carry
        return jnp.any((u >= pmf) & (count < m))

    def body(carry):
        k, u, pmf, count = carry
        more = (u >= pmf) & (count < m)
        count = count + more
        u = u - pmf
        pmf = pmf * ratio * (m - k) / (k + 1)
        return k + 1, u, pmf, count

    init = (jnp.zeros((), u.dtype), u, pmf, jnp.zeros_like(u))
    return jax.lax.while_loop(cond, body, init)[3]


def _log_choose(n: int):
    log_factorial = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, n + 1)))])
    return log_factorial[n] - log_factorial - log_factorial[::-1]


@ft.lru_cache(maxsize=16)
def _grid_table(n: int, size: int):
    """Rows i = 0 … size/2: F(0), …, F(n − 1), +inf of Binomial(n, i/size), in float64."""
    q = np.arange(size // 2 + 1)[:, None] / size
    k = np.arange(n + 1)[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        log_pmf = _log_choose(n)[None, :] + k * np.log(q) + (n - k) * np.log1p(-q)
    pmf = np.where(q > 0, np.exp(np.nan_to_num(log_pmf, nan=-np.inf)), (k == 0) * 1.0)
    cdf = np.cumsum(pmf, axis=1)
    cdf[:, -1] = np.inf
    return cdf
