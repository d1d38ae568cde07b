"""Noise models: sample moments, exact fast Student-t samplers, sign means and densities."""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from helpers import z_for
from scipy import special, stats

import sdejax

M = 50_000
GRAD = jnp.array([0.5, -1.0, 0.0, 2.0])


@pytest.mark.parametrize(
    "noise",
    [
        sdejax.GaussianNoise(0.7),
        sdejax.AffineGaussianNoise(0.3, 0.4),
        sdejax.GaussianNoise(jnp.array([0.1, 1.0, 2.0])),
    ],
    ids=["gaussian", "affine", "per_worker"],
)
def test_gaussian_variance(noise):
    n = 3
    z = np.asarray(jax.vmap(lambda k: noise.sample(k, GRAD, n))(jr.split(jr.key(0), M)))
    var_hat = z.var(axis=0)
    truth = np.asarray(noise.variance(GRAD, n))
    # SE of a Gaussian sample variance: σ²·sqrt(2/M); Bonferroni over the n·d entries.
    assert np.all(np.abs(var_hat - truth) <= z_for(1e-4 / truth.size) * truth * np.sqrt(2 / M))
    assert np.all(np.abs(z.mean(axis=0)) <= z_for(1e-4 / truth.size) * np.sqrt(truth / M))


@pytest.mark.parametrize("df", [1.0, 3.0, 10.0, 2.5, 40.0])
def test_student_t_sampler_exact(df):
    # ν = 1 (tan of a uniform), integer ν (sum of squared normals), fractional or large ν
    # (jax.random.t): every route must be exactly Student-t. KS test at level 1e-4.
    noise = sdejax.StudentTNoise(df, 1.0)
    samples = np.asarray(noise.standard_sample(jr.key(7), (M,), jnp.float64))
    assert stats.kstest(samples, stats.t(df).cdf).pvalue > 1e-4


def test_student_t_scale_convention():
    # σ is the scale of T, not its standard deviation: Var = σ²ν/(ν − 2).
    noise = sdejax.StudentTNoise(5.0, 2.0)
    np.testing.assert_allclose(noise.variance(GRAD, 1), 4.0 * 5.0 / 3.0)
    assert not bool(sdejax.StudentTNoise(2.0, 1.0).has_finite_variance())


@pytest.mark.parametrize("df", [1.0, 2.0, 3.0, 10.0])
def test_student_t_sign_mean_closed_forms(df):
    noise = sdejax.StudentTNoise(df, 0.5)
    u = np.asarray(GRAD) / 0.5
    m = np.asarray(noise.sign_mean(GRAD, 1))[0]
    np.testing.assert_allclose(m, 2 * stats.t(df).cdf(u) - 1, atol=1e-10)
    if df == 1.0:
        np.testing.assert_allclose(m, 2 / np.pi * np.arctan(u), atol=1e-10)
    if df == 2.0:
        np.testing.assert_allclose(m, u / np.sqrt(2 + u * u), atol=1e-10)


def test_gaussian_sign_mean_is_erf():
    m = np.asarray(sdejax.GaussianNoise(0.8).sign_mean(GRAD, 2))
    np.testing.assert_allclose(
        m, np.broadcast_to(special.erf(np.asarray(GRAD) / (np.sqrt(2) * 0.8)), (2, 4)), atol=1e-12
    )


def test_sign_mean_monte_carlo():
    # E sign(g + Z) by Monte Carlo for heavy tails; SE of a mean of ±1 values <= 1/√M.
    noise = sdejax.StudentTNoise(1.0, 0.5)
    z = np.asarray(jax.vmap(lambda k: noise.sample(k, GRAD, 1))(jr.split(jr.key(3), M)))[:, 0]
    mc = np.mean(np.sign(np.asarray(GRAD) + z), axis=0)
    se = np.sqrt(np.maximum(1 - mc**2, 1e-12) / M)
    m = np.asarray(noise.sign_mean(GRAD, 1))[0]
    assert np.all(np.abs(mc - m) <= z_for(1e-4 / 4) * se + 1e-12)


@pytest.mark.parametrize("df", [1.0, 3.0, 7.5])
def test_density_at_zero(df):
    expected = special.gamma((df + 1) / 2) / (np.sqrt(df * np.pi) * special.gamma(df / 2))
    np.testing.assert_allclose(sdejax.StudentTNoise(df).density_at_zero(), expected, rtol=1e-10)
    np.testing.assert_allclose(sdejax.GaussianNoise(1.0).density_at_zero(), 1 / np.sqrt(2 * np.pi))
