"""The fast exact binomial behind the aggregate samplers, against scipy's Binomial law.

(The fast Student-t samplers, ν = 1 from one uniform and integer ν from squared normals, are
KS-tested against scipy.stats.t in test_noise.py.)
"""

import functools as ft
import math

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from scipy import stats

from sdejax._models._aggregate import _binomial as B, binomial
from sdejax._models._aggregate._binomial import SMALL_N

M = 40_000  # draws per (n, q) case


def _chi_square_pvalue(counts, n, q):
    """Pearson χ² of the observed counts against Binomial(n, q), cells with expectation >= 5
    (the tails pooled into the end cells), so the χ² approximation of the statistic holds."""
    pmf = stats.binom(n, q).pmf(np.arange(n + 1))
    observed = np.bincount(counts.astype(int), minlength=n + 1).astype(float)
    cells_o, cells_e, acc_o, acc_e = [], [], 0.0, 0.0
    for o, e in zip(observed, pmf * counts.size, strict=True):
        acc_o, acc_e = acc_o + o, acc_e + e
        if acc_e >= 5:
            cells_o.append(acc_o)
            cells_e.append(acc_e)
            acc_o = acc_e = 0.0
    cells_o[-1] += acc_o
    cells_e[-1] += acc_e
    if len(cells_o) < 2:
        return 1.0
    return stats.chisquare(cells_o, cells_e).pvalue


# Each route of `binomial`: chop-down (n <= SMALL_N), the CDF table (one q for all, n > SMALL_N),
# the q-grid split (one q per coordinate, n > SMALL_N); q > 1/2 goes through K = n − Bin(n, 1 − q).
CASES = [(n, q) for n in (1, 8, SMALL_N, SMALL_N + 1, 64, 512) for q in (0.02, 0.25, 0.5, 0.77)]
# Family-wise false-alarm 1e-3 over the 2 × len(CASES) goodness-of-fit tests (Bonferroni).
LEVEL = 1e-3 / (2 * len(CASES))


@pytest.mark.parametrize(("n", "q"), CASES)
def test_binomial_exact(n, q):
    shared = np.asarray(binomial(jr.key(n), n, jnp.asarray(q), (M,), jnp.float64))
    per_coordinate = np.asarray(
        binomial(jr.key(n + 1), n, jnp.full((M // 100, 100), q), (M // 100, 100), jnp.float64)
    ).ravel()
    for counts in (shared, per_coordinate):
        assert np.all((counts >= 0) & (counts <= n) & (counts == np.round(counts)))
        assert _chi_square_pvalue(counts, n, q) > LEVEL


def test_binomial_mixed_probabilities():
    # One draw per coordinate with every q different (the DSignSGD case): the standardized
    # sum Σ (K_j − n q_j)/sqrt(Σ n q_j (1 − q_j)) is N(0, 1) by the CLT; two-sided z at 1e-4.
    n = 300
    q = jnp.linspace(0.0, 1.0, M)
    counts = np.asarray(binomial(jr.key(5), n, q, (M,), jnp.float64))
    q = np.asarray(q)
    z = np.sum(counts - n * q) / np.sqrt(np.sum(n * q * (1 - q)))
    assert abs(z) < stats.norm.ppf(1 - 1e-4 / 2)
    assert counts[0] == 0 and counts[-1] == n  # q = 0 and q = 1 are point masses


def test_binomial_float32():
    q = jnp.full((M,), 0.3, jnp.float32)
    counts = np.asarray(binomial(jr.key(9), 64, q, (M,), jnp.float32))
    assert counts.dtype == np.float32
    assert _chi_square_pvalue(counts, 64, 0.3) > 1e-4


# --- the cell tables (n > SMALL_N): bit-for-bit the inverse of the same CDF table ------------


def test_cell_index_matches_bounds_for_every_float32_uniform():
    # All 2^23 float32 uniforms m·2^-23: the jnp cell index is monotone and each cell is the
    # interval [s_c, e_c] that the numpy bisection found (the exactness argument rests on it).
    t = 4
    m = np.arange(1 << 23)
    u = jnp.asarray(np.ldexp(m.astype(np.float64), -23).astype(np.float32))
    cells = np.asarray(B._cell_index(u, t))
    start, end = B._cell_bounds(np.dtype(np.float32), t)
    assert np.all(np.diff(cells) >= 0)
    assert np.array_equal(cells, np.searchsorted(np.ldexp(start, 23), m, side="right") - 1)
    nonempty = np.nonzero(end >= start)[0]
    last = np.searchsorted(cells, nonempty, side="right") - 1
    assert np.array_equal(np.ldexp(end[nonempty], 23), m[last])


def _boundary_uniforms(dtype, t, count, seed):
    start, end = B._cell_bounds(np.dtype(dtype), t)
    edges = np.concatenate([start, end])
    edges = edges[(edges >= 0) & (edges < 1)]
    random = np.asarray(jr.uniform(jr.key(seed), (count,), dtype))
    return np.concatenate([random, edges]).astype(dtype)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
@pytest.mark.parametrize("n", [SMALL_N + 1, 64, 512])
def test_grid_lookup_equals_binary_search(n, dtype):
    # Every grid row, at random uniforms and at every cell's first and last uniform: the
    # one-gather lookup returns exactly the binary search's #{k : F(k) <= u}, and the residual
    # lies in [0, 1) at the right place ((u − F(K − 1))/(F(K) − F(K − 1))).
    size, t, table = B._grid_cells(n, np.dtype(dtype))
    rows = table.shape[0] // B._cell_count(dtype, t)
    u = _boundary_uniforms(dtype, t, 5000, n)
    u_all = jnp.asarray(np.tile(u, rows))
    row = jnp.asarray(np.repeat(np.arange(rows), u.size), jnp.int32)
    k_i, residual = B._grid_lookup(u_all, t, jnp.asarray(table), row * B._cell_count(dtype, t))
    cdf = jnp.asarray(B._grid_cdf(n, size), dtype)
    expected = B._table_search(u_all, n, cdf.reshape(-1), row * (n + 1))
    assert np.array_equal(np.asarray(k_i), np.asarray(expected))
    residual = np.asarray(residual)
    assert np.all((residual >= 0) & (residual < 1))
    cdf = np.minimum(np.concatenate([np.zeros((rows, 1)), np.asarray(cdf)], 1), 1.0)
    k = np.asarray(k_i).astype(int)
    lo, hi = cdf[np.asarray(row), k], cdf[np.asarray(row), k + 1]
    tol = 4 * np.finfo(dtype).eps / np.maximum(hi - lo, np.finfo(dtype).tiny)
    assert np.all(np.abs(residual - (np.asarray(u_all) - lo) / (hi - lo)) <= tol + 1e-300)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.float64])
def test_scalar_lookup_equals_binary_search(dtype):
    n = 512
    t = B._scalar_cells(n, np.dtype(dtype))
    u = jnp.asarray(_boundary_uniforms(dtype, t, 20000, 3))
    both = jax.jit(lambda q: (B._scalar_lookup(u, n, q), B._table_search(u, n, B._cdf_table(n, q))))
    for q in (0.0, 1e-4, 0.013, 1 / 64, 0.25, 0.3, 0.5):
        got, expected = both(jnp.asarray(q, dtype))
        assert np.array_equal(np.asarray(got), np.asarray(expected)), q


def test_rest_steps_bound():
    # P(R > S) <= mean^(S+1)/(S+1)! (union bound over (S+1)-subsets) below the tolerance.
    for dtype in (np.float32, np.float64):
        for mean in (0.25, 0.5, 1.0, 8.0):
            s = B._rest_steps(mean, dtype)
            assert mean ** (s + 1) / math.factorial(s + 1) <= B._REST_TAIL[np.dtype(dtype)]


# Per-coordinate q through the grid split: q in the tails, exactly on grid points i/G, just
# off them, at grid midpoints (the largest remainder mean, n/(2G)), near 1/2 and above it.
def _grid_qs(n):
    size = B._grid_cells(n, np.dtype(np.float64))[0]
    return [1e-3, 1 / size, 1 / size + 1e-6, 1.5 / size, 0.25, 0.25 + 0.5 / size, 0.5 - 1e-6, 0.5, 0.999]


GOF_CASES = [(n, dtype, q) for n in (64, 512) for dtype in ("float32", "float64") for q in _grid_qs(n)]
GOF_LEVEL = 1e-3 / len(GOF_CASES)


@ft.cache
def _per_coordinate(n, dtype):
    return jax.jit(lambda key, q: binomial(key, n, q, q.shape, q.dtype))


@pytest.mark.parametrize(("n", "dtype", "q"), GOF_CASES)
def test_grid_chi_square(n, dtype, q):
    q_arr = jnp.full((M // 100, 100), q, dtype)
    counts = np.asarray(_per_coordinate(n, dtype)(jr.key(int(q * 1e6) + n), q_arr)).ravel()
    assert np.all((counts >= 0) & (counts <= n) & (counts == np.round(counts)))
    # q is rounded to dtype before sampling: test against the law of the rounded q.
    assert _chi_square_pvalue(counts, n, float(np.asarray(q, dtype))) > GOF_LEVEL


@pytest.mark.parametrize("q", [1e-3, 0.3, 0.5])
def test_scalar_lookup_chi_square_float32(q):
    counts = np.asarray(binomial(jr.key(11), 512, jnp.float32(q), (M,), jnp.float32))
    assert _chi_square_pvalue(counts, 512, float(np.float32(q))) > 1e-3 / 3
