"""Statistical checks of the compressors' declared guarantees (docs/theory.md §3)."""

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


# ---------------------------------------------------------------- declared second moments

CLOSING = [name for name, c in COMPRESSORS.items() if c.has_linear_second_moment]


def test_which_compressors_close():
    assert sorted(CLOSING) == ["bernoulli", "identity", "rand_k"]
    for name, compressor in COMPRESSORS.items():
        if name not in CLOSING:
            with pytest.raises(ValueError, match="do not close"):
                compressor.second_moment(jnp.eye(D))
            with pytest.raises(ValueError, match="do not close"):
                compressor.second_moment_diagonal(jnp.ones(D))


@pytest.mark.parametrize("name", CLOSING)
def test_declared_second_moment_monte_carlo(draws, name):
    # E[C(x)C(x)ᵀ] = S_C(x xᵀ), entrywise; the sample mean of C_a C_b has SE sd/√M. Bonferroni
    # over the D(D+1)/2 entries at family false-alarm 1e-4.
    samples = draws[name]
    products = samples[:, :, None] * samples[:, None, :]
    estimate = products.mean(axis=0)
    se = products.std(axis=0, ddof=1) / np.sqrt(M)
    exact = np.asarray(COMPRESSORS[name].second_moment(jnp.outer(X, X)))
    upper = np.triu_indices(D)
    z = z_for(1e-4 / len(upper[0]))
    # The floor covers rounding in the sum of M equal products (identity: SE = 0).
    floor = 1e-10 * np.abs(exact[upper])
    assert np.all(np.abs(estimate - exact)[upper] <= z * se[upper] + floor)


@pytest.mark.parametrize("name", CLOSING)
def test_second_moment_forms_agree(name):
    compressor = COMPRESSORS[name]
    rng = np.random.default_rng(0)
    a = rng.normal(size=(D, D))
    g = jnp.asarray(a @ a.T)
    s = np.asarray(compressor.second_moment(g))
    e, c = compressor.covariance_structure(D)
    np.testing.assert_allclose(s, (1 - c) * g + float(e) * np.diag(np.diag(g)), rtol=1e-14)
    # Linear in G; the diagonal form is the diagonal of S_C(Diag(g)) and acts coordinate-wise.
    v = jnp.asarray(rng.uniform(size=D))
    np.testing.assert_allclose(
        compressor.second_moment(2.0 * g + jnp.diag(v)),
        2.0 * s + np.diag(np.asarray(compressor.second_moment_diagonal(v))),
        rtol=1e-13,
    )
    gain = np.asarray(compressor.second_moment_diagonal(jnp.ones(D)))
    np.testing.assert_allclose(compressor.second_moment_diagonal(v), gain * np.asarray(v), rtol=1e-14)
    np.testing.assert_allclose(gain, 1 + float(compressor.omega(D)), rtol=1e-14)  # 1 + ω = 1 − c + e
    # Commutes with coordinate sign flips (the diagonal reduction of docs/theory.md §7).
    flip = jnp.diag(jnp.asarray(rng.choice([-1.0, 1.0], size=D)))
    np.testing.assert_allclose(compressor.second_moment(flip @ g @ flip), flip @ s @ flip, rtol=1e-14)


def test_rand_k_second_moment_coefficients():
    # (1 − c) G + c d Diag(diag G): a coordinate kept with probability k/d and scaled by d/k,
    # a pair with probability k(k − 1)/(d(d − 1)); c = 0 when d = 1 or k = d.
    for d, k in ((8, 3), (5, 1), (6, 6), (1, 1)):
        e, c = sdejax.RandK(k).covariance_structure(d)
        assert c == pytest.approx(0.0 if d in (1, k) else (d - k) / (k * (d - 1)))
        pair = (d / k) ** 2 * k * (k - 1) / (d * (d - 1)) if d > 1 else 1.0
        assert 1 - c == pytest.approx(pair)
        assert 1 - c + e == pytest.approx(d / k)


def test_k_larger_than_d_raises():
    for compressor in (sdejax.RandK(11), sdejax.TopK(11)):
        with pytest.raises(ValueError, match=r"k <= d = 10, got k=11"):
            compressor.omega(10)
    with pytest.raises(ValueError, match=r"k=11"):
        sdejax.RandK(11).covariance_structure(10)
    with pytest.raises(ValueError, match=r"k=11"):
        sdejax.TopK(11).contraction(10)


def test_bernoulli_p_must_be_scalar():
    with pytest.raises(ValueError, match="`p` must be a scalar"):
        sdejax.BernoulliSparsifier(jnp.array([0.2, 0.5]))
