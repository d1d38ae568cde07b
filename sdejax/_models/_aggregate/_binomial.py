"""Fast exact Binomial(n, q) counts for the aggregate samplers (n static, q traced).

``jax.random.binomial`` runs a rejection loop (BTRS) and an inversion loop over the whole batch
and is slow on CPU (about 5 M variates/s against 100–400 M/s for uniforms, see
``benchmarks/``). The counts needed here have a small, static n (the number of workers), so
inversion of the CDF is exact and cheap. Every route returns K(u) = #{k < n : F(k) <= u} for a
uniform u and the CDF F of the law, i.e. the inverse CDF:

* n <= ``SMALL_N``: sequential ("chop-down") search with the pmf recurrence
  p_{k+1} = p_k · q/(1 − q) · (n − k)/(k + 1): one uniform, n multiply-adds per variate.
* n > ``SMALL_N`` and one q for every coordinate (Bernoulli sparsifier): the n + 1 CDF values
  are computed once per step and each variate is one lookup in a *cell table* (below).
* n > ``SMALL_N`` and one q per coordinate (DSignSGD): split q around the nearest point
  q_i = i/G of a grid (i = 0 … G/2, G a power of two >= n up to ``_MAX_GRID``). With
  U_1, …, U_n uniform and K = #{U_j < q}:

  - q >= q_i: K = K_i + R with K_i = #{U_j < q_i} ~ Binomial(n, q_i) and, given K_i, the
    other n − K_i uniforms are uniform on [q_i, 1), so R ~ Binomial(n − K_i, (q − q_i)/(1 − q_i));
  - q < q_i: given K_i the K_i uniforms below q_i are uniform on [0, q_i), each below q with
    probability q/q_i, so K = K_i − R with R ~ Binomial(K_i, (q_i − q)/q_i) [derived].

  K_i is a lookup in the cell table of row i (precomputed in float64, one row per grid point).
  R is drawn from the *same* uniform: given K_i = k, i.e. u in [F(k − 1), F(k)), the position
  (u − F(k − 1))/(F(k) − F(k − 1)) is uniform on [0, 1) and independent of K_i, so inverting
  R's CDF at it inverts the joint CDF of (K_i, R) in lexicographic order [derived] (with u on
  a grid of 2^-p, joint cells of probability below 2^-p are not resolved, as for any
  inversion). Marginally R ~ Binomial(n, |q − q_i|) (the uniforms between q and q_i), with
  mean λ <= n/(2G) <= 1/2, so P(R > S) <= λ^(S+1)/(S+1)! (union bound over (S+1)-subsets).
  R is found by S chop-down steps with S the smallest for which that bound is below
  ``_REST_TAIL`` (2^-40 in float32, 2^-64 in float64: S = 11 and 16 at λ <= 1/2), so the law
  differs from Binomial(n, q) by at most that in total variation [derived], far below the
  uniforms' resolution. One uniform per variate, one gather, no loop; cost independent of n.

**Cell tables [derived].** ``jax.random.uniform`` returns u = m·2^-p (m an integer, p = 23 in
float32, 52 in float64). The index c(u) is computed from the bits of u (u < 1/2) or of the
exact 1 − u (u >= 1/2): the binade and the top t bits of the mantissa, so the cells are
2^t per binade, fine where u or 1 − u is small (the tails) and monotone in u. For each cell c
the smallest and largest representable uniforms in it, s_c and e_c, are found once (numpy,
by bisection over m with the same integer formula). K is nondecreasing in u, so for u in
cell c, g_c := K(s_c) <= K(u) <= K(e_c) =: g_c + j_c. When the CDF values in (s_c, e_c] are
all equal (at most one distinct value: ties come only from rounding near 1), that value is
F(g_c) and

    K(u) = g_c + j_c · [F(g_c) <= u]

exactly. One gather and one comparison replace the binary search; t is the smallest value
for which the condition holds in every cell (checked in numpy for the static grid rows, and
in the trace for a traced scalar q, with the binary search as fallback when it fails). The
result is bit-for-bit the binary search's inverse of the same rounded CDF table (tested).
CDF tables are built two-sided (1 − F summed from the upper tail above the median, so that
the upper tail keeps its relative accuracy) and subnormal values are flushed to 0, as XLA's
CPU comparisons see them.

The chop-down and table routes are inversions of the exact CDF: exact up to floating-point
rounding of the CDF (probabilities below the uniforms' resolution, 2^-23 ≈ 1.2e-7 in
float32, are not represented); the per-coordinate route adds the truncation above (total
variation <= 2^-40 / 2^-64). q > 1/2 uses K = n − Binomial(n, 1 − q), so every recurrence
runs with q <= 1/2.

Longer than the 300-line guideline because it is one concept, one inverse-CDF sampler: its
three routes share the chop-down recurrence, the CDF tables and the cell-index arithmetic, and
about 60 lines are this derivation, which covers them together.
"""

from __future__ import annotations

import functools as ft
import math

import jax.lax as lax
import jax.numpy as jnp
import jax.random as jr
import numpy as np

# Chop-down inversion costs n cheap steps per variate; above this n the table methods win
# (measured in benchmarks/: at n = 16 chop-down still runs near the speed of the uniforms).
SMALL_N = 16
# Grid of the per-coordinate method: G = the power of two >= n, at most this (and halved until
# the table fits _MAX_TABLE_BYTES); the remainder R has mean <= n/(2G), so <= 1/2 up to
# n = _MAX_GRID in float32 (larger n take more chop-down steps).
_MAX_GRID = 512
_MAX_TABLE_N = 4096
# Grid tables are kept under this size (G is halved until they fit).
_MAX_TABLE_BYTES = 4 << 20
# The remainder's chop-down stops after S steps with P(R > S) below this (total variation
# from the exact law; far below the uniforms' resolution 2^-23 and 2^-52).
_REST_TAIL = {np.dtype(np.float32): 2.0**-40, np.dtype(np.float64): 2.0**-64}
# Mantissa bits, exponent bias and the integer type of the bit patterns, per float dtype.
_FLOAT_BITS = {np.dtype(np.float32): (23, 127, np.int32), np.dtype(np.float64): (52, 1023, np.int64)}
_CELL_BITS = range(2, 11)  # candidate t (2^t cells per binade)


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
        count = _scalar_lookup(jr.uniform(key, shape, dtype), n, q_half)
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
    upper = jnp.concatenate([jnp.cumsum(pmf[::-1])[::-1][1:], jnp.zeros((1,), q.dtype)])
    cdf = _flush(lax.cummax(_two_sided(jnp.cumsum(pmf), upper, jnp.where)), jnp.where)
    return jnp.concatenate([cdf[:-1], jnp.full((1,), jnp.inf, q.dtype)])


def _flush(cdf, where):
    """Subnormal CDF values set to 0, as XLA's CPU comparisons see them (flush to zero)."""
    return where(cdf < np.finfo(cdf.dtype).tiny, 0.0, cdf).astype(cdf.dtype)


def _two_sided(lower, upper, where):
    """F(k) = Σ_{j<=k} p_j below the median and 1 − Σ_{j>k} p_j above it, so that 1 − F keeps
    its relative accuracy in the upper tail (a plain cumulative sum ends at 1 ± rounding)."""
    return where(lower < 0.5, lower, 1.0 - upper)


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


# --- cell tables ---------------------------------------------------------------------------


def _cell_count(dtype, t: int) -> int:
    p = _FLOAT_BITS[np.dtype(dtype)][0]
    return 2 * ((p - 1) << t) + 2


def _cell_index_bits(bits_u, bits_v, low_half, p: int, bias: int, t: int, maximum, where):
    """The cell of u from the bits of u and of v = 1 − u (shared by numpy and jax)."""
    shift, offset = p - t, ((bias - p) << t) - 1
    n_low = (p - 1) << t  # cells 0 … n_low for u < 1/2 (cell 0: u = 0)
    low = maximum((bits_u >> shift) - offset, 0)
    high = 2 * n_low + 2 - ((bits_v >> shift) - offset)  # v in [2^-p, 1/2]: n_low + 1 …
    return where(low_half, low, high)


def _cell_index(u, t: int):
    """Cell index (int32) of uniforms u of ``jax.random.uniform`` (multiples of 2^-p in [0, 1))."""
    p, bias, itype = _FLOAT_BITS[np.dtype(u.dtype)]
    bits_u = lax.bitcast_convert_type(u, itype)
    bits_v = lax.bitcast_convert_type(1.0 - u, itype)
    index = _cell_index_bits(bits_u, bits_v, u < 0.5, p, bias, t, jnp.maximum, jnp.where)
    return index.astype(jnp.int32)


def _cell_index_numpy(m, dtype, t: int):
    """The same index for u = m · 2^-p (int64 m), computed exactly in numpy."""
    p, bias, itype = _FLOAT_BITS[np.dtype(dtype)]
    u = np.ldexp(m.astype(np.float64), -p).astype(dtype)
    v = (1.0 - u.astype(np.float64)).astype(dtype)  # exact for u >= 1/2
    bits_u = u.view(itype).astype(np.int64)
    bits_v = v.view(itype).astype(np.int64)
    return _cell_index_bits(bits_u, bits_v, u < 0.5, p, bias, t, np.maximum, np.where)


@ft.lru_cache(maxsize=32)
def _cell_bounds(dtype, t: int):
    """(s_c, e_c): the smallest and largest uniform m·2^-p with index c (e_c < s_c: empty cell)."""
    p = _FLOAT_BITS[np.dtype(dtype)][0]
    cells = np.arange(_cell_count(dtype, t))
    low = np.zeros(cells.size, np.int64)  # smallest m with index(m) >= c, by bisection
    high = np.full(cells.size, 1 << p, np.int64)
    while np.any(low < high):
        mid = (low + high) // 2
        above = _cell_index_numpy(np.minimum(mid, (1 << p) - 1), dtype, t) >= cells
        above |= mid >= 1 << p
        high = np.where(above, mid, high)
        low = np.where(above, low, mid + 1)
    start = np.ldexp(low.astype(np.float64), -p)
    end = np.ldexp(np.append(low[1:], 1 << p).astype(np.float64) - 1.0, -p)
    return start, end


def _cell_counts_numpy(cdf, dtype, t: int):
    """(F rounded to ``dtype``, K(s_c), K(e_c), valid) of the cell tables of the rows of ``cdf``."""
    cdf = _flush(np.asarray(cdf, dtype), np.where)
    start, end = _cell_bounds(dtype, t)
    low = np.stack([np.searchsorted(row, start, side="right") for row in cdf])
    high = np.stack([np.searchsorted(row, end, side="right") for row in cdf])
    threshold = np.take_along_axis(cdf, low, axis=1)
    last = np.take_along_axis(cdf, np.maximum(high - 1, low), axis=1)
    return cdf, low, high, bool(np.all((high == low) | (last == threshold)))


def _pack(low, high):
    """g = K(s_c) in the high 16 bits, the jump K(e_c) − K(s_c) in the low 16 (n < 2^15)."""
    return (low.astype(np.int32) << 16) | (high - low).astype(np.int32)


def _cell_lookup(u, t: int, packed, thresholds, row_offset=0):
    """K(u) = g_c + jump_c · [F(g_c) <= u] in cell c of u (row ``row_offset`` of flat tables)."""
    index = row_offset + _cell_index(u, t)
    word = packed[index]
    jump = jnp.where(u >= thresholds[index], word & 0xFFFF, 0)
    return ((word >> 16) + jump).astype(u.dtype)


# --- one q for every coordinate --------------------------------------------------------------


@ft.lru_cache(maxsize=32)
def _scalar_cells(n: int, dtype):
    """t for a traced scalar q: the smallest that fits every row of a 1/64-step q grid."""
    if n >= 1 << 15:
        return None
    cdf = _grid_cdf(n, 64)
    return next((t for t in _CELL_BITS if _cell_counts_numpy(cdf, dtype, t)[3]), None)


def _scalar_lookup(u, n: int, q):
    table = _cdf_table(n, q)
    t = _scalar_cells(n, np.dtype(u.dtype))
    if t is None:
        return _table_search(u, n, table)
    start, end = (jnp.asarray(b, u.dtype) for b in _cell_bounds(np.dtype(u.dtype), t))
    low = jnp.searchsorted(table, start, side="right")
    high = jnp.searchsorted(table, end, side="right")
    thresholds = table[low]
    valid = jnp.all((high == low) | (table[jnp.maximum(high - 1, low)] == thresholds))
    # Valid for every q of the 1/64 grid; checked here for this q, else the binary search.
    return lax.cond(
        valid,
        lambda: _cell_lookup(u, t, _pack(low, high), thresholds),
        lambda: _table_search(u, n, table),
    )


# --- one q per coordinate ----------------------------------------------------------------------


@ft.lru_cache(maxsize=16)
def _grid_cells(n: int, dtype):
    """(G, t, table) of the per-coordinate method; table rows (i·C + c) hold, as bits of the
    integer type: the packed (g_c, jump_c), F(g_c − 1), F(g_c) and F(g_c + jump_c) (capped at
    1, F(−1) = 0) for grid point i = 0 … G/2 and cell c."""
    itype = _FLOAT_BITS[np.dtype(dtype)][2]
    size = min(1 << max(1, math.ceil(math.log2(n))), _MAX_GRID)
    while True:
        cdf = _grid_cdf(n, size)
        for t in _CELL_BITS:
            if (
                size > 2
                and cdf.shape[0] * _cell_count(dtype, t) * 4 * np.dtype(itype).itemsize > _MAX_TABLE_BYTES
            ):
                break
            flushed, low, high, valid = _cell_counts_numpy(cdf, dtype, t)
            if valid:
                capped = np.concatenate([np.zeros_like(flushed[:, :1]), np.minimum(flushed, 1.0)], 1)
                values = [np.take_along_axis(capped, j, axis=1) for j in (low, low + 1, high + 1)]
                table = np.stack(
                    [_pack(low, high).astype(itype)] + [v.astype(dtype).view(itype) for v in values], -1
                )
                return size, t, table.reshape(-1, 4)
        size //= 2
        if size < 2:
            raise ValueError(f"no cell table for n = {n}")  # not reached for n <= _MAX_TABLE_N


def _grid(key, n: int, q, dtype):
    size, t, table = _grid_cells(n, np.dtype(dtype))
    row = jnp.round(q * size).astype(jnp.int32)  # nearest grid point q_i = i/G, i <= G/2
    q_i = row.astype(dtype) / size
    u = jr.uniform(key, q.shape, dtype)
    k_i, residual = _grid_lookup(u, t, jnp.asarray(table), row * _cell_count(dtype, t))
    below = q >= q_i
    trials = jnp.where(below, n - k_i, k_i)
    r = jnp.where(below, (q - q_i) / (1.0 - q_i), (q_i - q) / jnp.where(below, 1.0, q_i))
    steps = _rest_steps(n / (2 * size), dtype)
    rest = _chop_down_rest(residual, trials, jnp.clip(r, 0.0, 1.0), steps)
    return k_i + jnp.where(below, rest, -rest)


def _grid_lookup(u, t: int, table, row_offset):
    """(K_i(u), the position of u in K_i's CDF interval): a uniform independent of K_i."""
    entry = table[row_offset + _cell_index(u, t)]
    word = entry[..., 0].astype(jnp.int32)
    below_g, at_g, after = (lax.bitcast_convert_type(entry[..., j], u.dtype) for j in (1, 2, 3))
    passed = u >= at_g  # K_i = g + jump, in [F(g), F(g + jump)); else K_i = g, in [F(g − 1), F(g))
    k_i = ((word >> 16) + jnp.where(passed, word & 0xFFFF, 0)).astype(u.dtype)
    start = jnp.where(passed, at_g, below_g)
    width = jnp.where(passed, after, at_g) - start
    residual = jnp.minimum((u - start) / width, np.nextafter(np.asarray(1.0, u.dtype), 0))
    return k_i, residual


def _chop_down_rest(u, m, r, steps: int):
    """min(Binomial(m, r), steps) (per-element m, r <= 1/2) by ``steps`` chop-down steps."""
    ratio = r / (1.0 - r)
    pmf = jnp.exp(m * jnp.log1p(-r))
    count = jnp.zeros_like(u)
    for k in range(steps):
        # An element is still searching at step k iff count == k (it passed every earlier step).
        more = (count == k) & (k < m) & (u >= pmf)
        # × 1/(k + 1), a constant: a multiply, not a per-element division (XLA keeps x / c).
        u, pmf, count = u - pmf, pmf * ratio * ((m - k) * (1.0 / (k + 1))), count + more
    return count


def _rest_steps(mean: float, dtype) -> int:
    """Smallest S with mean^(S+1)/(S+1)! <= ``_REST_TAIL`` of ``dtype``: a bound on P(R > S)."""
    steps, bound = 0, mean
    while bound > _REST_TAIL[np.dtype(dtype)]:
        steps += 1
        bound *= mean / (steps + 1)
    return steps


def _log_choose(n: int):
    log_factorial = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, n + 1)))])
    return log_factorial[n] - log_factorial - log_factorial[::-1]


@ft.lru_cache(maxsize=16)
def _grid_cdf(n: int, size: int):
    """Rows i = 0 … size/2: F(0), …, F(n − 1), +inf of Binomial(n, i/size), in float64."""
    q = np.arange(size // 2 + 1)[:, None] / size
    k = np.arange(n + 1)[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        log_pmf = _log_choose(n)[None, :] + k * np.log(q) + (n - k) * np.log1p(-q)
    pmf = np.where(q > 0, np.exp(np.nan_to_num(log_pmf, nan=-np.inf)), (k == 0) * 1.0)
    upper = np.cumsum(pmf[:, ::-1], axis=1)[:, ::-1]
    upper = np.concatenate([upper[:, 1:], np.zeros_like(upper[:, :1])], axis=1)
    cdf = np.maximum.accumulate(_two_sided(np.cumsum(pmf, axis=1), upper, np.where), axis=1)
    cdf[:, -1] = np.inf
    return cdf
