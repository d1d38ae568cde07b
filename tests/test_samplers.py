"""The fast exact binomial behind the aggregate samplers, against scipy's Binomial law.

(The fast Student-t samplers, ν = 1 from one uniform and integer ν from squared normals, are
KS-tested against scipy.stats.t in test_noise.py.)
"""

import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from scipy import stats

from sdejax._models._aggregate import binomial
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
