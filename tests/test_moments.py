"""The exact second-moment operators (sdejax/_models/_moments.py, docs/theory.md §7).

Oracles: an independent dense d²×d² construction written from the definitions, Monte Carlo one-
step moments of the discrete algorithm, the SDE models' generators, and the dense spectrum.
"""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from helpers import z_for

import sdejax
from sdejax._models._moments import CURVATURE, moment_operator
from sdejax._theory._spectral import LinearMap, rank_one_rightmost
from sdejax._theory._stability import growth_rate, threshold

D, N = 4, 4
SIGMA1 = jnp.array([0.05, 0.2, 0.1, 0.3])  # heterogeneous per-worker multiplicative noise
EIGENVALUES = jnp.array([1.0, 2.5, 4.0, 7.0])
MODELS = ("discrete", "sme1", "corrected", "sme2")


def _basis(d=D, seed=0):
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))
    return jnp.asarray(q)


COMPRESSORS = {"bernoulli": sdejax.BernoulliSparsifier(0.4), "rand_k": sdejax.RandK(2)}


def _case(name, rotated=True, sigma1=SIGMA1):
    algorithm = sdejax.DCSGD(COMPRESSORS[name], N)
    problem = sdejax.Quadratic(EIGENVALUES, basis=_basis() if rotated else None)
    return algorithm, problem, sdejax.AffineGaussianNoise(0.0, sigma1)


def _hessian(problem):
    """H = Q diag(λ) Qᵀ in NumPy."""
    lam = np.asarray(problem.eigenvalues, float)
    if problem.basis is None:
        return np.diag(lam)
    q = np.asarray(problem.basis, float)
    return (q * lam[None, :]) @ q.T


def _brute_force(algorithm, problem, noise):
    """(𝓛_η, 𝓑_η) as d²×d² matrices, written from docs/theory.md §7 with NumPy only."""
    d, n = problem.dim, algorithm.n_workers
    h = _hessian(problem)
    compressor = algorithm.compressor
    if isinstance(compressor, sdejax.RandK):
        c = (d - compressor.k) / (compressor.k * (d - 1))
        e = c * d
    else:
        c, e = 0.0, 1.0 / float(compressor.p) - 1.0
    s1 = np.broadcast_to(np.asarray(noise.sigma1, float) ** 2, (n,))

    def s_c(g):  # E[C(g)C(g)ᵀ] for E[g gᵀ] = g
        return (1 - c) * g + e * np.diag(np.diag(g))

    def cov(m):  # (1/N²) Σ_i [S_C(G + σ1,i² tr(G) I) − G], G = H M H
        g = h @ m @ h
        return sum(s_c(g + s * np.trace(g) * np.eye(d)) - g for s in s1) / n**2

    def matrix(fn):
        return np.stack([fn(e_j.reshape(d, d)).reshape(-1) for e_j in np.eye(d * d)], axis=1)

    def one_step(eta):
        a = np.eye(d) - eta * h
        return matrix(lambda m: a @ m @ a + eta**2 * cov(m))

    def rate(eta, model):
        k = h + CURVATURE[model] * eta * h @ h
        return matrix(lambda m: -(k @ m + m @ k) + eta * cov(m))

    return one_step, rate


def _brute_threshold(fn, grid):
    """First sign change of fn on a fine grid, refined by bisection (a slow, simple oracle)."""
    from scipy.optimize import brentq

    values = np.array([fn(x) for x in grid])
    above = np.nonzero(values > 0)[0]
    if above.size == 0:
        return np.inf
    i = above[0]
    return brentq(fn, grid[i - 1], grid[i], xtol=1e-15, rtol=1e-13)


@pytest.mark.parametrize("name", COMPRESSORS)
def test_operators_match_brute_force(name):
    # Rotated Hessian, per-worker σ1: growth rates and thresholds of all four models against
    # the dense d²×d² oracle, to rounding.
    algorithm, problem, noise = _case(name)
    one_step, rate = _brute_force(algorithm, problem, noise)
    operator = moment_operator(algorithm, problem, noise)
    for eta in (0.05, 0.2):
        expected = np.log(np.max(np.abs(np.linalg.eigvals(one_step(eta))))) / eta
        np.testing.assert_allclose(growth_rate(operator, "discrete", eta), expected, rtol=1e-10)
        for model in ("sme1", "corrected", "sme2"):
            expected = np.max(np.linalg.eigvals(rate(eta, model)).real)
            np.testing.assert_allclose(growth_rate(operator, model, eta), expected, rtol=1e-10)
    grid = np.geomspace(1e-3, 20.0, 150)
    oracles = {
        "discrete": lambda eta: np.max(np.abs(np.linalg.eigvals(one_step(eta)))) - 1.0,
        **{m: (lambda eta, m=m: np.max(np.linalg.eigvals(rate(eta, m)).real)) for m in CURVATURE},
    }
    for model, fn in oracles.items():
        np.testing.assert_allclose(threshold(operator, model), _brute_threshold(fn, grid), rtol=1e-9)


@pytest.mark.parametrize("name", COMPRESSORS)
@pytest.mark.parametrize("rotated", [False, True])
def test_matrix_free_agrees_with_dense(name, rotated):
    # Dense spectrum of the formed operator vs ARPACK on the matrix-free map (and, for the
    # corrected/SME-2 models on a rotated Hessian, the bracket search); diagonal problems also
    # through the O(d) secular equation (method "auto").
    operator = moment_operator(*_case(name, rotated))
    for model in MODELS:
        dense = threshold(operator, model, method="dense")
        np.testing.assert_allclose(threshold(operator, model, method="arnoldi"), dense, rtol=1e-9)
        np.testing.assert_allclose(threshold(operator, model), dense, rtol=1e-10)
        for eta in (0.03, 0.3):
            dense_rate = growth_rate(operator, model, eta, method="dense")
            for method in ("arnoldi", "auto"):
                np.testing.assert_allclose(
                    growth_rate(operator, model, eta, method=method), dense_rate, rtol=1e-9, atol=1e-12
                )


def test_sme2_crossing_matrix_free():
    # A finite SME-2 threshold (B_eff > N) on a rotated d = 5 problem: bracket search = dense.
    algorithm = sdejax.DCSGD(sdejax.BernoulliSparsifier(0.1), 2)
    problem = sdejax.Quadratic(jnp.array([1.0, 1.5, 2.0, 3.0, 5.0]), basis=_basis(5, seed=3))
    operator = moment_operator(algorithm, problem, sdejax.AffineGaussianNoise(0.0, 0.2))
    dense = threshold(operator, "sme2", method="dense")
    assert np.isfinite(dense)
    np.testing.assert_allclose(threshold(operator, "sme2", method="arnoldi"), dense, rtol=1e-9)


@pytest.mark.parametrize("name", COMPRESSORS)
def test_diagonal_representation_equals_matrix_representation(name):
    # On a diagonal Hessian the d-vector operators (sign-flip symmetry: the top eigenvector is
    # diagonal) give the same spectra as the d×d-matrix operators.
    case = _case(name, rotated=False)
    vector = moment_operator(*case)
    matrix = moment_operator(*case, diagonal=False)
    assert vector.is_diagonal and not matrix.is_diagonal
    for model in MODELS:
        np.testing.assert_allclose(
            threshold(vector, model), threshold(matrix, model, method="dense"), rtol=1e-10
        )
        for eta in (0.05, 0.25):
            np.testing.assert_allclose(
                growth_rate(vector, model, eta), growth_rate(matrix, model, eta, method="dense"), rtol=1e-10
            )


@pytest.mark.parametrize("name", COMPRESSORS)
def test_one_step_equals_corrected_rate_on_diagonal_problems(name):
    # docs/theory.md §6 H1: 𝓛_η = I + η 𝓑_η (corrected) exactly when H is diagonal.
    operator = moment_operator(*_case(name, rotated=False))
    for eta in (0.05, 0.2, 0.6):
        one_step = LinearMap(operator, "discrete", None, eta).matrix()
        rate = LinearMap(operator, "rate", "corrected", eta).matrix()
        np.testing.assert_allclose(one_step, np.eye(D) + eta * rate, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("name", COMPRESSORS)
def test_one_step_gap_on_rotated_problems(name):
    # 𝓛_η − (I + η𝓑_η) = η²(HMH − (H²M + MH²)/2) ≠ 0 when M and H do not commute.
    algorithm, problem, noise = _case(name)
    operator = moment_operator(algorithm, problem, noise)
    h = _hessian(problem)
    m = np.outer([1.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0])
    eta = 0.1
    gap = np.asarray(operator.discrete(jnp.asarray(m), eta)) - (
        m + eta * np.asarray(operator.rate(jnp.asarray(m), eta, "corrected"))
    )
    expected = eta**2 * (h @ m @ h - 0.5 * (h @ h @ m + m @ h @ h))
    np.testing.assert_allclose(gap, expected, atol=1e-14)
    assert np.max(np.abs(expected)) > 1e-3


# Monte Carlo: (a, b) entries of E[y'_a y'_b] from SAMPLES one-step draws. The sample mean of
# y'_a y'_b has standard error sd/√n (sd its sample standard deviation; n = 40,000 makes the
# normal approximation of the mean accurate for these finite-variance products). With a family
# false-alarm rate of 1e-4 Bonferroni-split over the D(D+1)/2 = 10 entries and over the 4 cases
# of the test below, |estimate − exact| < z·SE with z = z_for(1e-4/40) ≈ 4.2.
SAMPLES = 40_000
Z_MC = z_for(1e-4 / (10 * 4))


@pytest.mark.parametrize("name", COMPRESSORS)
@pytest.mark.parametrize("eta", [0.1, 0.3])
def test_operator_equals_monte_carlo_one_step(name, eta, key):
    # Rotated Hessian, per-worker σ1, σ0 = 0: E[y' y'ᵀ | y] = 𝓛_η(y yᵀ) exactly, with y = x − x*.
    algorithm, problem, noise = _case(name)
    operator = moment_operator(algorithm, problem, noise)
    model = sdejax.make_model("discrete", algorithm, problem, noise)
    x = jnp.array([0.8, -0.5, 0.3, 1.1])
    step = jax.jit(jax.vmap(model.step, in_axes=(0, None, None, None)))
    y1 = np.asarray(step(jr.split(jr.fold_in(key, hash(name) % 97), SAMPLES), x, eta, 1.0))
    products = y1[:, :, None] * y1[:, None, :]
    estimate = products.mean(axis=0)
    se = products.std(axis=0, ddof=1) / np.sqrt(SAMPLES)
    exact = np.asarray(operator.discrete(jnp.outer(x, x), eta))
    upper = np.triu_indices(D)
    assert np.all(np.abs(estimate - exact)[upper] < Z_MC * se[upper]), (estimate, exact, se)


@pytest.mark.parametrize("name", COMPRESSORS)
@pytest.mark.parametrize("model_name", ["sme1", "corrected", "sme2"])
def test_operator_equals_generator_on_quadratic_test_functions(name, model_name):
    # (L φ_ab)(x) for φ_ab(x) = y_a y_b is d/dt E[Y_a Y_b] from X = x: exactly 𝓑_η(y yᵀ)_ab.
    algorithm, problem, noise = _case(name)
    operator = moment_operator(algorithm, problem, noise)
    model = sdejax.make_model(model_name, algorithm, problem, noise)
    x = jnp.array([0.8, -0.5, 0.3, 1.1])
    eta = 0.2
    expected = np.asarray(operator.rate(jnp.outer(x, x), eta, model_name))
    for a in range(D):
        for b in range(a, D):
            value = sdejax.generator(model, lambda y, a=a, b=b: y[a] * y[b], eta)(x)
            np.testing.assert_allclose(float(value), expected[a, b], rtol=1e-10, atol=1e-12)


def test_heterogeneous_hessians():
    # Workers with their own Hessians (LossProblem with n_workers): the operator uses each
    # H_i; the diagonal (d-vector) and matrix representations agree, and a rotated version of
    # the same workers matches the brute-force operator built from the H_i.
    scales = jnp.array([[1.0, 2.0, 3.0], [2.0, 1.0, 4.0]])

    def loss(x, i):
        return 0.5 * jnp.sum(scales[i] * x * x)

    problem = sdejax.LossProblem(loss, 3, n_workers=2)
    algorithm = sdejax.DCSGD(sdejax.RandK(2), 2)
    noise = sdejax.AffineGaussianNoise(0.0, jnp.array([0.1, 0.3]))
    vector = moment_operator(algorithm, problem, noise)
    matrix = moment_operator(algorithm, problem, noise, diagonal=False)
    assert vector.is_diagonal and vector.worker_hessians is not None
    for model in MODELS:
        np.testing.assert_allclose(
            threshold(vector, model), threshold(matrix, model, method="dense"), rtol=1e-10
        )
    # Brute force from the definition with per-worker H_i (discrete model).
    h_i = [np.diag(np.asarray(s)) for s in scales]
    h = sum(h_i) / 2
    c = (3 - 2) / (2 * 2)
    e = 3 * c

    def cov(m):
        total = 0.0
        for hi, s in zip(h_i, (0.1, 0.3), strict=True):
            g = hi @ m @ hi
            g_noise = g + s**2 * np.trace(g) * np.eye(3)
            total = total + (1 - c) * g_noise + e * np.diag(np.diag(g_noise)) - g
        return total / 4

    def one_step(eta):
        a = np.eye(3) - eta * h
        return np.stack([(a @ m @ a + eta**2 * cov(m)).reshape(-1) for m in np.eye(9).reshape(9, 3, 3)], 1)

    eta = 0.3
    expected = np.log(np.max(np.abs(np.linalg.eigvals(one_step(eta))))) / eta
    np.testing.assert_allclose(growth_rate(vector, "discrete", eta), expected, rtol=1e-10)


def test_shifted_workers_do_not_move_the_operator():
    # Heterogeneous minimizers b_i only add forcing: the same operator as without shifts.
    shifts = jnp.asarray(np.random.default_rng(1).normal(size=(N, D)))
    algorithm, problem, noise = _case("rand_k")
    shifted = sdejax.Quadratic(EIGENVALUES, shifts=shifts, basis=problem.basis)
    for model in MODELS:
        np.testing.assert_allclose(
            threshold(moment_operator(algorithm, shifted, noise), model),
            threshold(moment_operator(algorithm, problem, noise), model),
            rtol=1e-12,
        )


def test_rank_one_rightmost():
    rng = np.random.default_rng(2)
    for trial in range(20):
        d = int(rng.integers(1, 30))
        a = rng.normal(size=d)
        u, v = rng.uniform(size=d), rng.uniform(size=d)
        if trial % 3 == 0:
            u[rng.uniform(size=d) < 0.5] = 0.0  # uncoupled coordinates
        if trial % 5 == 0:
            a[:] = a[0]  # a repeated top (isotropic)
        expected = np.max(np.linalg.eigvals(np.diag(a) + np.outer(u, v)).real)
        np.testing.assert_allclose(rank_one_rightmost(a, u, v), expected, rtol=1e-12, atol=1e-12)
