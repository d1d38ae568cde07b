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


# ---------------------------------------------------------------- declared covariances

PER_WORKER = {
    "gaussian": sdejax.GaussianNoise(jnp.array([0.1, 1.0, 2.0])),
    "affine": sdejax.AffineGaussianNoise(jnp.array([0.0, 0.3, 0.1]), jnp.array([0.2, 0.0, 0.5])),
    "student_t": sdejax.StudentTNoise(jnp.array([3.0, 5.0, 10.0]), jnp.array([0.5, 1.0, 0.0])),
}


@pytest.mark.parametrize("name", PER_WORKER)
def test_covariance_coefficients_match_variance(name):
    # Cov(Z_i | ∇f_i) = (constant_i + homogeneous_i ‖∇f_i‖²) I, for a shared gradient and for
    # the workers' own gradients.
    noise, n = PER_WORKER[name], 3
    constant, homogeneous = (np.asarray(a) for a in noise.covariance_coefficients(n))
    assert constant.shape == homogeneous.shape == (n,)
    own = GRAD[None, :] * jnp.array([[1.0], [0.5], [-2.0]])
    for gradient in (GRAD, own):
        norms = np.broadcast_to(np.sum(np.asarray(gradient) ** 2, axis=-1), (n,))
        expected = (constant + homogeneous * norms)[:, None] * np.ones(4)
        np.testing.assert_allclose(noise.variance(gradient, n), expected, rtol=1e-14)
    assert noise.is_additive == (name != "affine")
    if noise.is_additive:
        assert np.all(homogeneous == 0)


def test_infinite_variance_is_declared():
    constant, _ = sdejax.StudentTNoise(
        jnp.array([1.0, 2.0, 3.0]), jnp.array([1.0, 0.0, 1.0])
    ).covariance_coefficients(3)
    assert np.isinf(constant[0]) and constant[1] == 0.0 and constant[2] == pytest.approx(3.0)


def test_sign_law_with_per_worker_gradients():
    # q_i and m_i from each worker's own gradient; a zero scale gives sign(∇f_i).
    noise = sdejax.GaussianNoise(jnp.array([0.5, 0.0, 2.0]))
    own = jnp.stack([GRAD, -GRAD, 2 * GRAD])
    m = np.asarray(noise.sign_mean(own, 3))
    np.testing.assert_allclose(m[0], special.erf(np.asarray(GRAD) / (np.sqrt(2) * 0.5)), atol=1e-14)
    np.testing.assert_array_equal(m[1], np.sign(-np.asarray(GRAD)))
    np.testing.assert_allclose(m[2], special.erf(2 * np.asarray(GRAD) / (np.sqrt(2) * 2.0)), atol=1e-14)
    np.testing.assert_allclose(noise.sign_probability(own, 3), (1 + m) / 2, atol=1e-15)


@pytest.mark.parametrize("df", [1.0, 2.0, 3.0])
def test_sign_mean_derivative_is_twice_the_density(df):
    # The custom JVP: d m/d(∇f) = 2 p(∇f/σ)/σ, finite at 0 where autodiff through betainc is not.
    noise = sdejax.StudentTNoise(df, 0.5)
    gradient = jnp.array([0.0, 0.3, -1.0])
    _, tangent = jax.jvp(lambda g: noise.sign_mean(g, 1)[0], (gradient,), (jnp.ones(3),))
    expected = 2 * stats.t(df).pdf(np.asarray(gradient) / 0.5) / 0.5
    np.testing.assert_allclose(tangent, expected, rtol=1e-10)
    assert not hasattr(noise, "sign_mean_derivative")
