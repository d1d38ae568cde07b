"""Each exact aggregate sampler equals the algorithm's optax chain in law (benchmarks/README.md).

For every covered (algorithm, noise) pair, one step's direction u = (x − x₁)/η at a fixed x is
drawn M times with ``sampling="aggregate"`` and M times from the algorithm's public
``sdejax.optim`` chain applied to the workers' noisy gradients (fixed, different seeds), and
compared per coordinate by
* the first two moments, |Δ| < z·SE, and
* a two-sample Kolmogorov–Smirnov test (scipy.stats.ks_2samp), Bonferroni-corrected.
"""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
import pytest
from helpers import z_for
from scipy import stats

import sdejax
from sdejax import optim

M = 20_000
PROBLEM = sdejax.Quadratic(jnp.array([1.0, 2.0, 0.5, 1.5, 1.0]))
# Gradients λ∘x = (0.8, −0.6, 0, 0.15, −2): a zero coordinate, small and large |∂f| relative to
# the noise scales below, so the sign probabilities q_j span (0, 1).
X = jnp.array([0.8, -0.3, 0.4, 0.1, -2.0])
FALSE_ALARM = 1e-3  # family-wise, per case: Bonferroni over coordinates and the three checks

CASES = {
    "dcsgd_bernoulli_affine_n8": (
        sdejax.DCSGD(sdejax.BernoulliSparsifier(0.25), 8),
        sdejax.AffineGaussianNoise(0.1, 0.3),
    ),
    "dcsgd_bernoulli_gaussian_n40": (
        sdejax.DCSGD(sdejax.BernoulliSparsifier(0.6), 40),
        sdejax.GaussianNoise(0.5),
    ),
    "dsgd_gaussian_n8": (sdejax.DSGD(8), sdejax.GaussianNoise(0.7)),
    "dcsgd_identity_affine_n3": (sdejax.DCSGD(sdejax.Identity(), 3), sdejax.AffineGaussianNoise(0.2, 0.4)),
    "dsignsgd_gaussian_n8": (sdejax.DSignSGD(8), sdejax.GaussianNoise(0.8)),
    "dsignsgd_student3_n8": (sdejax.DSignSGD(8), sdejax.StudentTNoise(3.0, 0.5)),
    "dsignsgd_cauchy_n64": (sdejax.DSignSGD(64), sdejax.StudentTNoise(1.0, 0.5)),
    "dsignsgd_majority_affine_n33": (
        sdejax.DSignSGD(33, vote="majority"),
        sdejax.AffineGaussianNoise(0.3, 0.2),
    ),
}


def _directions(algorithm, noise, sampling, seed, m=M):
    model = sdejax.DiscreteModel(algorithm, PROBLEM, noise, sampling=sampling)
    assert model.sampling == sampling
    step = jax.jit(jax.vmap(lambda key: X - model.step(key, X, 1.0, 1.0)))
    return np.asarray(step(jr.split(jr.key(seed), m)))


def _chain(algorithm):
    """The algorithm's public sdejax.optim chain, (learning_rate, key) -> transformation."""
    if isinstance(algorithm, sdejax.DSignSGD):
        return lambda lr, key: optim.dsignsgd(lr, vote=algorithm.vote)
    assert isinstance(algorithm, sdejax.DCSGD)
    return lambda lr, key: optim.dcsgd(lr, algorithm.compressor, key=key)


def _chain_directions(algorithm, noise, seed, m=M):
    """u = −update of the chain at η = 1 for the workers' gradients ∇f(x) + Z_i."""
    make, n = _chain(algorithm), algorithm.n_workers
    g = PROBLEM.gradient(X)

    def one(key):
        key_noise, key_chain = jr.split(key)
        grads = g[None, :] + noise.sample(key_noise, g, n)
        chain = make(1.0, key_chain)
        return -chain.update(grads, chain.init(X), X)[0]

    return np.asarray(jax.jit(jax.vmap(one))(jr.split(jr.key(seed), m)))


def _check_equal_in_law(a, b):
    d = a.shape[1]
    z = z_for(FALSE_ALARM / (3 * d))
    ks_level = FALSE_ALARM / (3 * d)
    # Lattice values (a mean of N signs) are computed as (2K − N)/N on one side and as a sum
    # of ±1/N on the other: equal up to rounding, which would split every atom in the KS test.
    a, b = np.round(a, 10), np.round(b, 10)
    for j in range(d):
        x, y = a[:, j], b[:, j]
        # Means: independent samples, SE(x̄ − ȳ) = sqrt(s_x²/M + s_y²/M).
        se_mean = np.sqrt(x.var() / x.size + y.var() / y.size)
        # Second moments: the sample mean of x² has SE sqrt(Var(x²)/M) (finite: every law
        # here has a fourth moment), and the two samples are independent.
        se_second = np.sqrt(np.var(x * x) / x.size + np.var(y * y) / y.size)
        if se_mean == 0.0:  # a deterministic coordinate (e.g. a noise-free sign): equal exactly
            np.testing.assert_array_equal(x, y)
            continue
        assert abs(x.mean() - y.mean()) < z * se_mean, f"coordinate {j}: means differ"
        # (<=: a constant u², e.g. ±1 majority votes, has SE 0 and must then agree exactly.)
        assert abs(np.mean(x * x) - np.mean(y * y)) <= z * se_second, f"coordinate {j}: E u²"
        # KS on lattice-valued laws (sign votes, the atom at 0 of sparsified sums) is
        # conservative: its p-values are then larger than under a continuous law.
        assert stats.ks_2samp(x, y).pvalue > ks_level, f"coordinate {j}: KS rejects"


@pytest.mark.parametrize("case", list(CASES))
def test_aggregate_equals_the_chain(case):
    algorithm, noise = CASES[case]
    assert sdejax.DiscreteModel(algorithm, PROBLEM, noise).sampling == "aggregate"
    aggregate = _directions(algorithm, noise, "aggregate", seed=1)
    reference = _chain_directions(algorithm, noise, seed=2)
    _check_equal_in_law(aggregate, reference)


@pytest.mark.slow
@pytest.mark.parametrize(
    "case",
    [
        (sdejax.DSignSGD(512), sdejax.StudentTNoise(2.5, 0.5)),
        (sdejax.DCSGD(sdejax.BernoulliSparsifier(0.25), 512), sdejax.AffineGaussianNoise(0.0, 0.2)),
        (sdejax.DSignSGD(200), sdejax.GaussianNoise(0.3)),
    ],
    ids=["dsignsgd_student2.5_n512", "dcsgd_bernoulli_n512", "dsignsgd_gaussian_n200"],
)
def test_aggregate_equals_the_chain_large_n(case):
    algorithm, noise = case
    aggregate = _directions(algorithm, noise, "aggregate", seed=3, m=50_000)
    reference = _chain_directions(algorithm, noise, seed=4, m=50_000)
    _check_equal_in_law(aggregate, reference)


def test_aggregate_matches_closed_form_moments():
    # DCSGD with Bernoulli(p): E u = ∇f, Var u_j = ((1/p)(∂_j f² + s²) − ∂_j f²)/N [derived:
    # a worker's term has second moment (∂_j f² + s²)/p]. Checked against the aggregate draws.
    p, n, s = 0.25, 8, 0.5
    algorithm = sdejax.DCSGD(sdejax.BernoulliSparsifier(p), n)
    u = _directions(algorithm, sdejax.GaussianNoise(s), "aggregate", seed=5)
    g = np.asarray(PROBLEM.gradient(X))
    var = ((g * g + s * s) / p - g * g) / n
    z = z_for(FALSE_ALARM / (2 * g.size))
    assert np.all(np.abs(u.mean(0) - g) < z * np.sqrt(var / M))
    # SE of a sample variance, sqrt((μ4 − σ⁴)/M), with μ4 estimated from the sample.
    mu4 = np.mean((u - u.mean(0)) ** 4, axis=0)
    assert np.all(np.abs(u.var(0) - var) < z * np.sqrt((mu4 - var**2) / M))


def test_auto_resolution_and_errors():
    gaussian = sdejax.GaussianNoise(0.5)
    per_worker_scale = sdejax.GaussianNoise(jnp.linspace(0.1, 1.0, 4))
    bernoulli = sdejax.DCSGD(sdejax.BernoulliSparsifier(0.5), 4)
    assert sdejax.DiscreteModel(bernoulli, PROBLEM, gaussian).sampling == "aggregate"
    assert sdejax.DiscreteModel(bernoulli, PROBLEM, per_worker_scale).sampling == "per_worker"
    rand_k = sdejax.DCSGD(sdejax.RandK(2), 4)
    assert sdejax.DiscreteModel(rand_k, PROBLEM, gaussian).sampling == "per_worker"
    student = sdejax.StudentTNoise(3.0, 0.5)
    assert sdejax.DiscreteModel(bernoulli, PROBLEM, student).sampling == "per_worker"
    with pytest.raises(ValueError, match="per-worker"):
        sdejax.DiscreteModel(bernoulli, PROBLEM, per_worker_scale, sampling="aggregate")
    with pytest.raises(ValueError, match="no exact aggregate sampler for DCSGD"):
        sdejax.DiscreteModel(rand_k, PROBLEM, gaussian, sampling="aggregate")
    with pytest.raises(ValueError, match="`sampling` must be one of"):
        sdejax.DiscreteModel(rand_k, PROBLEM, gaussian, sampling="fast")


def test_samplers_are_declared_and_stored():
    # The algorithm declares its vote (aggregate_form), the sampler its coverage and the
    # identical-workers condition; the model stores the sampler object found once.
    gaussian = sdejax.GaussianNoise(0.5)
    samplers = [
        (sdejax.DCSGD(sdejax.BernoulliSparsifier(0.5), 4), "BernoulliGaussianSampler"),
        (sdejax.DSGD(4), "DSGDGaussianSampler"),
        (sdejax.DCSGD(sdejax.Identity(), 4), "DSGDGaussianSampler"),
        (sdejax.DSignSGD(4, vote="majority"), "DSignSGDSampler"),
    ]
    for algorithm, name in samplers:
        model = sdejax.DiscreteModel(algorithm, PROBLEM, gaussian)
        assert type(model.sampler).__name__ == name and model.sampler.requires_identical_workers
    shifted = sdejax.Quadratic(jnp.ones(5), shifts=jnp.ones((4, 5)))
    for algorithm, _ in samplers:
        model = sdejax.DiscreteModel(algorithm, shifted, gaussian)
        assert model.sampling == "per_worker" and model.sampler is None
        with pytest.raises(ValueError, match="own objective"):
            sdejax.DiscreteModel(algorithm, shifted, gaussian, sampling="aggregate")
    heavy_ball = sdejax.OptaxAlgorithm(
        lambda lr, key: optax.chain(sdejax.optim.aggregate_workers(), optax.trace(0.5), optax.sgd(lr)), 4
    )
    for algorithm in (sdejax.NormalizedDCSGD(sdejax.BernoulliSparsifier(0.5), 4), heavy_ball):
        assert algorithm.aggregate_form is None
        with pytest.raises(ValueError, match="declares no aggregate form"):
            sdejax.DiscreteModel(algorithm, PROBLEM, gaussian, sampling="aggregate")


def test_noise_free_sign_votes_are_exact():
    # Zero noise scale: every worker sends sign(∂_j f), sign(0) = 0, with both samplings.
    algorithm = sdejax.DSignSGD(8)
    for sampling in ("aggregate", "per_worker"):
        u = _directions(algorithm, sdejax.GaussianNoise(0.0), sampling, seed=6, m=10)
        np.testing.assert_array_equal(u, np.broadcast_to(np.sign(PROBLEM.gradient(X)), u.shape))


def test_simulate_records_sampling():
    common = dict(x0=X, learning_rate=0.1, steps=5, n_paths=16, key=jr.key(0))
    noise = sdejax.AffineGaussianNoise(0.0, 0.1)
    bernoulli = sdejax.DCSGD(sdejax.BernoulliSparsifier(0.25), 8)
    ds = sdejax.simulate(bernoulli, PROBLEM, noise, **common)
    assert ds.attrs["sampling"] == "aggregate"
    ds = sdejax.simulate(sdejax.DCSGD(sdejax.RandK(2), 8), PROBLEM, noise, **common)
    assert ds.attrs["sampling"] == "per_worker"
    ds = sdejax.simulate(sdejax.DSignSGD(8), PROBLEM, noise, sampling="per_worker", **common)
    assert ds.attrs["sampling"] == "per_worker"
