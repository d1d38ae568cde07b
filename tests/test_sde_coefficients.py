"""SDE coefficients against their definitions and against the discrete algorithm (docs/theory.md §5)."""

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from helpers import z_for

import sdejax
from sdejax._models._sde import coefficients_for, diagonal_minus_rank_one_root
from sdejax._models._sde._low_rank import diagonal_minus_low_rank_root

D = 4
N = 3
# Each statistical assertion below checks many entries at once; Bonferroni over at most 200
# entries per test with a family false-alarm rate 1e-4 gives z = z_for(5e-7) ≈ 5.0.
Z = z_for(1e-4 / 200)
X0 = jnp.array([0.7, -0.4, 1.3, 0.2])


def _problem():
    # A non-quadratic problem so that ∇f is not linear in x.
    return sdejax.LossProblem(lambda x: jnp.sum(0.25 * x**4 + 0.5 * x**2) + 0.3 * x[0] * x[1], D)


def _dense_covariance(coefficients, x):
    matrix = coefficients.diffusion(x, 1.0).as_matrix()
    return matrix @ matrix.T


def _directions(algorithm, problem, noise, key, n):
    """n samples of the discrete algorithm's direction u at X0 (x1 = x0 − η u)."""
    g = problem.gradient(X0)

    def one(k):
        k1, k2 = jr.split(k)
        grads = g[None, :] + noise.sample(k1, g, algorithm.n_workers)
        return algorithm.direction(k2, grads, problem, noise)

    return jax.jit(jax.vmap(one))(jr.split(key, n))


def _check_mean_covariance(samples, mean, covariance, bounded_by=None):
    """|sample moment − model moment| < Z·SE entrywise; SE from the samples themselves.

    ``bounded_by`` = r when |u_j − E u_j| <= r surely (signs: r = 2). Then
    Var[(u_a − μ_a)(u_b − μ_b)] <= r² min(S_aa, S_bb), used as a floor for the SE of
    coordinates so nearly deterministic that n samples cannot show their variance.
    """
    samples = np.asarray(samples)
    n = samples.shape[0]
    mu = samples.mean(0)
    # Under the null, Var u_j is the model's S_jj; the larger of it and the sample variance
    # guards coordinates that are almost deterministic (|m_j| ≈ 1). The 1e-9 floor only
    # covers probabilities below 1/n that no sample can show.
    variance = np.maximum(np.diag(np.asarray(covariance)), samples.var(0, ddof=1))
    se_mu = np.sqrt(variance / n)
    assert np.all(np.abs(mu - np.asarray(mean)) < Z * se_mu + 1e-9), (mu, mean, se_mu)
    centred = samples - np.asarray(mean)[None, :]
    products = centred[:, :, None] * centred[:, None, :]
    cov = products.mean(0)
    se_cov = products.std(0, ddof=1) / np.sqrt(n)
    if bounded_by is not None:
        diag = np.diag(np.asarray(covariance))
        floor = bounded_by**2 * np.minimum(diag[:, None], diag[None, :])
        se_cov = np.maximum(se_cov, np.sqrt(floor / n))
    assert np.all(np.abs(cov - np.asarray(covariance)) < Z * se_cov + 1e-9), (cov, covariance)


# ---------------------------------------------------------------- rand-k O(d) square root


def test_diagonal_minus_rank_one_root_is_exact():
    rng = np.random.default_rng(0)
    for c in (0.0, 0.05, 0.3):
        u = rng.normal(size=7)
        diagonal = c * 7 * u**2 + rng.uniform(0.0, 1.0, size=7)
        operator = diagonal_minus_rank_one_root(jnp.asarray(diagonal), c, jnp.asarray(u))
        root = operator.as_matrix()
        target = np.diag(diagonal) - c * np.outer(u, u)
        np.testing.assert_allclose(root @ root.T, target, rtol=1e-12, atol=1e-12)
    # The singular edge ‖v‖ = 1 (rand-k without noise): still exact.
    u = jnp.asarray(rng.normal(size=5))
    c = 0.2
    operator = diagonal_minus_rank_one_root(c * 5 * u**2, c, u)
    root = operator.as_matrix()
    np.testing.assert_allclose(root @ root.T, c * (5 * np.diag(u**2) - np.outer(u, u)), atol=1e-12)


def test_rand_k_root_samples_have_the_covariance(key):
    # Samples L ξ, ξ ~ N(0, I): their covariance must be D − c u uᵀ (statistical test).
    u = jnp.array([1.0, -2.0, 0.5, 0.0, 1.5])
    c = 0.15
    diagonal = c * 5 * u**2 + jnp.array([0.1, 0.2, 0.3, 0.4, 0.5])
    operator = diagonal_minus_rank_one_root(diagonal, c, u)
    xi = jr.normal(key, (40_000, 5))
    samples = jax.vmap(operator.mv)(xi)
    _check_mean_covariance(samples, jnp.zeros(5), jnp.diag(diagonal) - c * jnp.outer(u, u))


# ---------------------------------------------------------------- DSGD / DCSGD


def _formula_covariance(algorithm, problem, noise, x):
    """Σ̃/N of docs/theory.md §5 written densely from the definitions (test oracle)."""
    g = np.asarray(problem.gradient(x))
    var = np.asarray(noise.variance(problem.gradient(x), algorithm.n_workers))
    compressor = algorithm.compressor
    total = np.zeros((D, D))
    for v in var:
        noise_cov = np.diag(v)
        second = np.outer(g, g) + noise_cov
        if isinstance(compressor, sdejax.RandK):
            c = compressor.rank_one_coefficient(D)
            omega_i = c * (D * np.diag(np.diag(second)) - second)
        else:
            omega_i = float(compressor.omega(D)) * np.diag(np.diag(second))
        total += noise_cov + omega_i
    return total / algorithm.n_workers / algorithm.n_workers


CASES = {
    "dsgd_gaussian": (sdejax.DSGD(N), sdejax.GaussianNoise(jnp.array([0.3, 0.5, 0.8]))),
    "bernoulli_affine": (
        sdejax.DCSGD(sdejax.BernoulliSparsifier(0.4), N),
        sdejax.AffineGaussianNoise(0.1, 0.2),
    ),
    "rand_k_gaussian": (sdejax.DCSGD(sdejax.RandK(2), N), sdejax.GaussianNoise(0.4)),
    "rand_k_affine": (sdejax.DCSGD(sdejax.RandK(1), N), sdejax.AffineGaussianNoise(0.2, 0.1)),
    "rand_k_student": (sdejax.DCSGD(sdejax.RandK(3), N), sdejax.StudentTNoise(5.0, 0.3)),
}


@pytest.mark.parametrize("case", CASES)
def test_dcsgd_covariance_matches_definition(case):
    algorithm, noise = CASES[case]
    problem = _problem()
    coefficients = coefficients_for(algorithm, problem, noise, "test")
    covariance = _dense_covariance(coefficients, X0)
    np.testing.assert_allclose(
        covariance, _formula_covariance(algorithm, problem, noise, X0), rtol=1e-10, atol=1e-12
    )
    np.testing.assert_allclose(coefficients.covariance_diagonal(X0), np.diag(covariance), rtol=1e-10)
    np.testing.assert_allclose(coefficients.drift(X0), -problem.gradient(X0))
    # Trace identity [derived]: Tr Σ̃_i = ω‖∇f‖² + (1 + ω) Tr Σ_i, averaged over workers / N.
    g = problem.gradient(X0)
    omega = float(algorithm.compressor.omega(D))
    var = noise.variance(g, N)
    trace = (omega * jnp.sum(g * g) + (1 + omega) * jnp.mean(jnp.sum(var, axis=1))) / N
    np.testing.assert_allclose(jnp.trace(covariance), trace, rtol=1e-10)


@pytest.mark.parametrize("case", ["bernoulli_affine", "rand_k_affine", "rand_k_gaussian"])
def test_dcsgd_coefficients_match_discrete_direction(case, key):
    # The discrete algorithm's direction u has mean −b and covariance S (Monte Carlo).
    algorithm, noise = CASES[case]
    problem = _problem()
    coefficients = coefficients_for(algorithm, problem, noise, "test")
    samples = _directions(algorithm, problem, noise, key, 40_000)
    _check_mean_covariance(samples, -coefficients.drift(X0), _dense_covariance(coefficients, X0))


def test_approximate_compressors_build():
    problem = _problem()
    for compressor in (sdejax.NaturalCompression(), sdejax.RandomDithering(4)):
        coefficients = coefficients_for(
            sdejax.DCSGD(compressor, N), problem, sdejax.GaussianNoise(0.3), "test"
        )
        assert not coefficients.exact_covariance
        s = coefficients.covariance_diagonal(X0)
        assert s.shape == (D,) and bool(jnp.all(jnp.isfinite(s) & (s >= 0)))


# ---------------------------------------------------------------- DSignSGD

SIGN_NOISES = {
    "gaussian": sdejax.GaussianNoise(0.8),
    "affine": sdejax.AffineGaussianNoise(0.3, 0.4),
    "t1": sdejax.StudentTNoise(1.0, 0.8),
    "t2": sdejax.StudentTNoise(2.0, 0.8),
    "t3": sdejax.StudentTNoise(3.0, 0.8),
    "t10": sdejax.StudentTNoise(10.0, 0.8),
}


@pytest.mark.parametrize(
    ("name", "vote"),
    [(name, "mean") for name in SIGN_NOISES] + [("gaussian", "majority"), ("t1", "majority")],
)
def test_dsignsgd_coefficients_match_monte_carlo(name, vote, key):
    # E u = m̄ (= −b) and Cov u = S for the discrete DSignSGD direction u.
    noise = SIGN_NOISES[name]
    algorithm = sdejax.DSignSGD(N, vote=vote)
    problem = _problem()
    coefficients = coefficients_for(algorithm, problem, noise, "test")
    samples = _directions(algorithm, problem, noise, jr.fold_in(key, hash(name) % 1000), 40_000)
    covariance = jnp.diag(coefficients.covariance_diagonal(X0))
    _check_mean_covariance(samples, -coefficients.drift(X0), covariance, bounded_by=2.0)
    np.testing.assert_allclose(_dense_covariance(coefficients, X0), covariance, atol=1e-14)


def test_dsignsgd_closed_forms():
    # docs/theory.md §5: Gaussian erf, Cauchy (2/π) arctan, ν = 2: u/√(2 + u²).
    problem = sdejax.Quadratic(jnp.ones(D))
    x = jnp.array([0.0, 0.3, -1.0, 4.0])
    for noise, mean in (
        (sdejax.GaussianNoise(0.5), jax.scipy.special.erf(x / (jnp.sqrt(2.0) * 0.5))),
        (sdejax.StudentTNoise(1.0, 0.5), 2 / jnp.pi * jnp.arctan(x / 0.5)),
        (sdejax.StudentTNoise(2.0, 0.5), (x / 0.5) / jnp.sqrt(2 + (x / 0.5) ** 2)),
    ):
        coefficients = coefficients_for(sdejax.DSignSGD(2), problem, noise, "test")
        np.testing.assert_allclose(-coefficients.drift(x), mean, rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(
            coefficients.covariance_diagonal(x), (1 - mean**2) / 2, rtol=1e-10, atol=1e-14
        )


@pytest.mark.parametrize("df", [1.0, 2.0, 3.0, 10.0])
def test_dsignsgd_correction_is_finite_at_the_optimum(df):
    # J_m̄ m̄ by one jvp; the density replaces the CDF's 0·∞ derivative at ∇f = 0.
    problem = sdejax.Quadratic(jnp.array([1.0, 2.0]))
    model = sdejax.make_model("corrected", sdejax.DSignSGD(2), problem, sdejax.StudentTNoise(df, 1.0))
    x = jnp.array([0.0, 0.5])
    drift = model.drift(x, 0.1, 1.0)
    assert bool(jnp.all(jnp.isfinite(drift)))
    # J_b b = diag(2p(∇f/σ)/σ) ∇²f m̄ for fixed-scale noise (docs/theory.md §5).
    noise = model.noise
    m = -model.coefficients.drift(x)
    density = 2 * noise.standard_density(problem.gradient(x))
    expected = -m + 0.05 * density * problem.eigenvalues * m
    np.testing.assert_allclose(drift, expected, rtol=1e-10, atol=1e-14)


# ---------------------------------------------------------------- errors


def test_heavy_tails_without_finite_diffusion_raise():
    problem = sdejax.Quadratic(jnp.ones(D))
    for df in (1.0, 2.0):
        for algorithm in (sdejax.DSGD(N), sdejax.DCSGD(sdejax.RandK(2), N)):
            with pytest.raises(ValueError, match="infinite variance"):
                sdejax.make_model("corrected", algorithm, problem, sdejax.StudentTNoise(df, 1.0))
    # DSignSGD works for every ν > 0.
    for df in (0.5, 1.0, 2.0):
        model = sdejax.make_model("corrected", sdejax.DSignSGD(N), problem, sdejax.StudentTNoise(df, 1.0))
        assert bool(jnp.all(jnp.isfinite(model.drift(jnp.ones(D), 0.1, 1.0))))
        assert bool(jnp.all(jnp.isfinite(model.coefficients.covariance_diagonal(jnp.ones(D)))))


def test_unsupported_algorithms_raise():
    problem = sdejax.Quadratic(jnp.ones(D))
    noise = sdejax.GaussianNoise(0.1)
    for compressor in (sdejax.TopK(2), sdejax.Sign()):
        with pytest.raises(ValueError, match="unbiased compressor"):
            sdejax.make_model("sme1", sdejax.DCSGD(compressor, N), problem, noise)
    with pytest.raises(ValueError, match="no SDE model for NormalizedDCSGD"):
        sdejax.make_model("sme2", sdejax.NormalizedDCSGD(sdejax.RandK(2), N), problem, noise)
    with pytest.raises(ValueError, match="heun"):
        sdejax.make_model("sme1", sdejax.DCSGD(sdejax.RandK(2), N), problem, noise, solver="heun")
    with pytest.raises(ValueError, match="milstein"):
        sdejax.make_model("sme1", sdejax.DSignSGD(N), problem, noise, solver="milstein")
    with pytest.raises(ValueError, match="virtual_tree"):
        import diffrax

        sdejax.make_model(
            "sme1",
            sdejax.DSGD(N),
            problem,
            noise,
            stepsize_controller=diffrax.PIDController(rtol=1e-3, atol=1e-3),
        )
    with pytest.raises(ValueError, match="brownian"):
        sdejax.make_model("sme1", sdejax.DSGD(N), problem, noise, brownian="tree")


def test_reconstructed_flags():
    problem = sdejax.Quadratic(jnp.ones(D))
    noise = sdejax.GaussianNoise(0.1)
    flags = {
        (name, label): sdejax.make_model(name, alg, problem, noise).is_reconstructed
        for name in ("sme1", "sme2", "corrected")
        for label, alg in (("DSGD", sdejax.DSGD(N)), ("DSignSGD", sdejax.DSignSGD(N)))
    }
    assert flags == {
        ("sme1", "DSGD"): False,
        ("sme2", "DSGD"): False,
        ("corrected", "DSGD"): False,
        ("sme1", "DSignSGD"): False,
        ("sme2", "DSignSGD"): True,
        ("corrected", "DSignSGD"): True,
    }


# ---------------------------------------------------------------- contracts

CONTRACT_MODELS = {
    "corrected_rand_k": (
        "corrected",
        sdejax.DCSGD(sdejax.RandK(2), N),
        sdejax.AffineGaussianNoise(0.1, 0.2),
        {},
    ),
    "sme2_majority": ("sme2", sdejax.DSignSGD(N, vote="majority"), sdejax.GaussianNoise(0.5), {}),
    "sme1_dsignsgd_t1": (
        "sme1",
        sdejax.DSignSGD(N),
        sdejax.StudentTNoise(1.0, 0.5),
        {"brownian": "unsafe"},
    ),
    "sme1_heun_increments": (
        "sme1",
        sdejax.DSGD(N),
        sdejax.GaussianNoise(0.5),
        {"solver": "heun", "brownian": "increments"},
    ),
    "corrected_tree": (
        "corrected",
        sdejax.DSGD(N),
        sdejax.GaussianNoise(0.5),
        {"brownian": "virtual_tree", "sde_substeps": 4},
    ),
}


@pytest.mark.parametrize("case", CONTRACT_MODELS)
def test_step_contract(case, key):
    name, algorithm, noise, options = CONTRACT_MODELS[case]
    model = sdejax.make_model(name, algorithm, _problem(), noise, **options)
    compiles = []

    @eqx.filter_jit
    def run(model, keys, x, eta):
        compiles.append(1)
        return jax.vmap(model.step, in_axes=(0, None, None, None))(keys, x, eta, jnp.asarray(1.0))

    keys = jr.split(key, 5)
    first = run(model, keys, X0, jnp.asarray(0.1))
    again = run(model, keys, X0, jnp.asarray(0.1))
    other = run(model, keys, X0, jnp.asarray(0.2))
    assert len(compiles) == 1  # a new learning rate does not recompile
    assert first.shape == (5, D) and first.dtype == X0.dtype
    np.testing.assert_array_equal(first, again)  # same key ⇒ same output
    assert bool(jnp.all(jnp.isfinite(other)))
    assert not np.allclose(first[0], first[1])  # different keys ⇒ different paths


# ---------------------------------------------------------------- heterogeneous workers

SHIFTS = jnp.array([[0.5, -1.0, 0.2, 0.0], [-0.3, 0.4, 1.0, -0.6], [0.0, 0.8, -0.5, 0.3]])


def _heterogeneous_problem():
    # f_i(x) = ½ (x − b_i)ᵀ H (x − b_i): each worker its own minimizer (and gradient).
    basis, _ = np.linalg.qr(np.random.default_rng(4).normal(size=(D, D)))
    return sdejax.Quadratic(jnp.array([1.0, 2.0, 3.0, 0.5]), shifts=SHIFTS, basis=jnp.asarray(basis))


def test_diagonal_minus_low_rank_root_is_exact():
    rng = np.random.default_rng(1)
    rows = rng.normal(size=(3, 7))
    c = 0.2
    diagonal = c * 7 * np.mean(rows**2, axis=0) * 3 + rng.uniform(0.0, 1.0, size=7)
    root = diagonal_minus_low_rank_root(jnp.asarray(diagonal), c, jnp.asarray(rows)).as_matrix()
    np.testing.assert_allclose(root @ root.T, np.diag(diagonal) - c * rows.T @ rows, rtol=1e-12, atol=1e-12)


HETEROGENEOUS = {
    "bernoulli": (
        sdejax.DCSGD(sdejax.BernoulliSparsifier(0.4), N),
        sdejax.AffineGaussianNoise(0.1, jnp.array([0.1, 0.3, 0.2])),
    ),
    "rand_k": (
        sdejax.DCSGD(sdejax.RandK(2), N),
        sdejax.AffineGaussianNoise(0.0, jnp.array([0.2, 0.05, 0.1])),
    ),
}


def _heterogeneous_directions(algorithm, problem, noise, key, n):
    """n samples of the discrete direction u at X0 with each worker's own gradient."""
    model = sdejax.make_model("discrete", algorithm, problem, noise)
    step = jax.jit(jax.vmap(model.step, in_axes=(0, None, None, None)))
    return (X0[None, :] - step(jr.split(key, n), X0, 1.0, 1.0)) / 1.0


@pytest.mark.parametrize("case", HETEROGENEOUS)
def test_heterogeneous_dcsgd_coefficients(case, key):
    # S = (1/N²) Σ_i Cov(C(∇f_i + Z_i)) with each worker's own ∇f_i: the spread of the true
    # gradients does not enter. Against the definition (exact) and Monte Carlo.
    algorithm, noise = HETEROGENEOUS[case]
    problem = _heterogeneous_problem()
    coefficients = coefficients_for(algorithm, problem, noise, "test")
    gradients = np.asarray(problem.worker_gradients(X0, N))
    variances = np.asarray(noise.variance(jnp.asarray(gradients), N))
    total = np.zeros((D, D))
    for g, v in zip(gradients, variances, strict=True):
        second = np.outer(g, g) + np.diag(v)
        total += np.asarray(algorithm.compressor.second_moment(jnp.asarray(second))) - np.outer(g, g)
    covariance = _dense_covariance(coefficients, X0)
    np.testing.assert_allclose(covariance, total / N**2, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(coefficients.covariance_diagonal(X0), np.diag(covariance), rtol=1e-10)
    np.testing.assert_allclose(coefficients.drift(X0), -gradients.mean(axis=0), rtol=1e-12, atol=1e-14)
    samples = _heterogeneous_directions(algorithm, problem, noise, key, 40_000)
    _check_mean_covariance(samples, -coefficients.drift(X0), covariance)


def test_heterogeneous_dsignsgd_coefficients(key):
    # m_i from each worker's own gradient: b = −mean_i m_i(∇f_i), S = diag(mean_i(1 − m_i²))/N.
    problem = _heterogeneous_problem()
    noise = sdejax.GaussianNoise(jnp.array([0.5, 1.0, 2.0]))
    algorithm = sdejax.DSignSGD(N)
    coefficients = coefficients_for(algorithm, problem, noise, "test")
    gradients = np.asarray(problem.worker_gradients(X0, N))
    m = jax.scipy.special.erf(gradients / (np.sqrt(2.0) * np.array([[0.5], [1.0], [2.0]])))
    np.testing.assert_allclose(-coefficients.drift(X0), m.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(
        coefficients.covariance_diagonal(X0), np.mean(1 - m**2, axis=0) / N, rtol=1e-12
    )
    samples = _heterogeneous_directions(algorithm, problem, noise, key, 40_000)
    covariance = jnp.diag(coefficients.covariance_diagonal(X0))
    _check_mean_covariance(samples, -coefficients.drift(X0), covariance, bounded_by=2.0)


def test_additive_noise_is_declared():
    # L is constant (Heun, Milstein allowed) iff the noise is additive and the compressor adds no
    # variance (ω = 0, e.g. Bernoulli with p = 1).
    problem = sdejax.Quadratic(jnp.ones(D))
    flags = {
        name: coefficients_for(algorithm, problem, noise, "test").has_additive_noise
        for name, algorithm, noise in (
            ("dsgd_gaussian", sdejax.DSGD(N), sdejax.GaussianNoise(0.3)),
            (
                "keep_all_student",
                sdejax.DCSGD(sdejax.BernoulliSparsifier(1.0), N),
                sdejax.StudentTNoise(4.0, 1.0),
            ),
            ("dsgd_affine", sdejax.DSGD(N), sdejax.AffineGaussianNoise(0.3, 0.0)),
            (
                "bernoulli_gaussian",
                sdejax.DCSGD(sdejax.BernoulliSparsifier(0.5), N),
                sdejax.GaussianNoise(0.3),
            ),
            ("rand_k_gaussian", sdejax.DCSGD(sdejax.RandK(2), N), sdejax.GaussianNoise(0.3)),
        )
    }
    assert flags == {
        "dsgd_gaussian": True,
        "keep_all_student": True,
        "dsgd_affine": False,
        "bernoulli_gaussian": False,
        "rand_k_gaussian": False,
    }


def test_heterogeneous_rand_k_model_steps(key):
    # The rank-N root inside the integrator: jit, vmap over keys, finite paths.
    algorithm, noise = HETEROGENEOUS["rand_k"]
    model = sdejax.make_model("corrected", algorithm, _heterogeneous_problem(), noise)

    @eqx.filter_jit
    def run(model, keys):
        return jax.vmap(model.step, in_axes=(0, None, None, None))(
            keys, X0, jnp.asarray(0.1), jnp.asarray(1.0)
        )

    x1 = run(model, jr.split(key, 8))
    assert x1.shape == (8, D) and bool(jnp.all(jnp.isfinite(x1)))
