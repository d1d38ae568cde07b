"""Statistical checks of the compressors' declared guarantees (model.md §3)."""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from helpers import COMPRESSORS, UNBIASED, z_for
from hypothesis import given, settings, strategies as st

import sdejax

D = 8
M = 40_000  # Monte Carlo draws per check
# One family-wise false-alarm rate per test, Bonferroni-split over its D coordinates.
Z_COORD = z_for(1e-4 / D)
Z_SCALAR = z_for(1e-4)
X = jnp.array([0.3, -1.2, 2.0, 0.0, 0.7, -0.05, 1.5, -3.0])


@pytest.fixture(scope="module")
def draws():
    """M compressions of X for every registered compressor (one compiled vmap each)."""
    keys = jr.split(jr.key(11), M)
    return {
        name: np.asarray(jax.jit(jax.vmap(c, in_axes=(0, None)))(keys, X)) for name, c in COMPRESSORS.items()
    }


@pytest.mark.parametrize("name", UNBIASED)
def test_unbiased(draws, name):
    # Per coordinate: the sample mean has SE = sd/√M; |mean − x_j| < z·SE for every j.
    samples = draws[name]
    se = samples.std(axis=0, ddof=1) / np.sqrt(M)
    err = np.abs(samples.mean(axis=0) - np.asarray(X))
    assert np.all(err <= Z_COORD * se + 1e-12), (err, se)


@pytest.mark.parametrize("name", ["rand_k", "bernoulli"])
def test_exact_omega(draws, name):
    # E‖C(x) − x‖² = ω‖x‖² with equality; the sample mean of the squared error has SE sd/√M.
    sq = np.sum((draws[name] - np.asarray(X)) ** 2, axis=1)
    truth = float(COMPRESSORS[name].omega(D)) * float(jnp.sum(X * X))
    assert abs(sq.mean() - truth) <= Z_SCALAR * sq.std(ddof=1) / np.sqrt(M)


@pytest.mark.parametrize("name", UNBIASED)
def test_declared_variance(draws, name):
    # The declared diagonal Cov_C(C(x)) matches the per-coordinate sample variance. The SE of a
    # sample variance is sqrt((m4 − s⁴)/M) with m4 the fourth central moment.
    samples = draws[name]
    centred = samples - np.asarray(X)
    var_hat = np.mean(centred**2, axis=0)
    se = np.sqrt(np.maximum(np.mean(centred**4, axis=0) - var_hat**2, 0.0) / M)
    truth = np.asarray(COMPRESSORS[name].variance(X))
    assert np.all(np.abs(var_hat - truth) <= Z_COORD * se + 1e-12)


@pytest.mark.parametrize("name", UNBIASED)
def test_omega_bound(draws, name):
    # E‖C(x) − x‖² <= ω‖x‖²: one-sided, the sample mean may exceed the bound by z·SE at most.
    sq = np.sum((draws[name] - np.asarray(X)) ** 2, axis=1)
    bound = float(COMPRESSORS[name].omega(D)) * float(jnp.sum(X * X))
    assert sq.mean() - Z_SCALAR * sq.std(ddof=1) / np.sqrt(M) <= bound


def test_natural_compression_attains_one_eighth():
    # |x_j| = (4/3)·2^a maximizes (2l − m)(m − l)/m² = 1/8: the declared ω is tight.
    x = (4.0 / 3.0) * jnp.exp2(jnp.arange(-3.0, 5.0))
    variance = sdejax.NaturalCompression().variance(x)
    np.testing.assert_allclose(np.sum(variance), 0.125 * np.sum(np.asarray(x) ** 2), rtol=1e-12)


def test_rand_k_structure(draws):
    samples = draws["rand_k"]
    k = COMPRESSORS["rand_k"].k
    nonzero = samples != 0
    nonzero_x = np.asarray(X) != 0
    # exactly k kept coordinates (a kept zero coordinate stays zero), each scaled by d/k
    kept = np.abs(samples[:, nonzero_x] / np.asarray(X)[nonzero_x])
    assert np.all(np.isclose(kept, 0.0) | np.isclose(kept, D / k, rtol=1e-12))
    assert np.all(nonzero.sum(axis=1) <= k)
    # each coordinate kept with probability k/d: binomial SE sqrt(q(1−q)/M)
    q = k / D
    freq = nonzero[:, nonzero_x].mean(axis=0)
    assert np.all(np.abs(freq - q) <= Z_COORD * np.sqrt(q * (1 - q) / M))


def test_rand_k_covariance_rank_one_form():
    # Cov_C(C(x)) = c (d diag(x∘x) − x xᵀ), c = (d − k)/(k(d − 1)): check the off-diagonal too.
    compressor = sdejax.RandK(3)
    keys = jr.split(jr.key(5), M)
    samples = np.asarray(jax.vmap(compressor, in_axes=(0, None))(keys, X))
    x = np.asarray(X)
    c = compressor.rank_one_coefficient(D)
    truth = c * (D * np.diag(x * x) - np.outer(x, x))
    centred = samples - x
    products = centred[:, :, None] * centred[:, None, :]
    cov_hat = products.mean(axis=0)
    se = products.std(axis=0, ddof=1) / np.sqrt(M)
    z = z_for(1e-4 / D**2)
    assert np.all(np.abs(cov_hat - truth) <= z * se + 1e-12)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=4, max_size=4), st.integers(1, 4))
def test_top_k_contractive(values, k):
    x = jnp.asarray(values)
    out = sdejax.TopK(k)(jr.key(0), x)
    err = float(jnp.sum((out - x) ** 2))
    assert err <= (1 - k / 4) * float(jnp.sum(x * x)) * (1 + 1e-12) + 1e-12
    assert int(jnp.sum(out != 0)) <= k


def test_sign_convention():
    out = sdejax.Sign()(jr.key(0), jnp.array([-2.0, 0.0, 3.0]))
    np.testing.assert_array_equal(out, [-1.0, 0.0, 1.0])  # sign(0) = 0, as optax
