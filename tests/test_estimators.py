"""Growth-rate estimators against exact oracles on problems unlike the isotropic one.

The oracle is independent of sdejax's own theory: the one-step second-moment operator
M ↦ E[x' x'ᵀ] formed here as a dense (d², d²) matrix for small d (``docs/theory.md`` §7), whose
spectral radius ρ gives the exact mean-square growth rate log(ρ)/η per unit time.
"""

import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from helpers import z_for

import sdejax

D = 4
EIGENVALUES = np.array([0.25, 0.5, 1.0, 2.0])  # condition number 8
ROTATION, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(D, D)))


def dense_operator(hessian, eta, n_workers, sigma1, compressor):
    """vec(M) ↦ vec(E[x' x'ᵀ]) for x' = x − η ḡ, ḡ the mean of N compressed gradients
    C_i(H x + Z_i), Z_i ~ N(0, σ1,i² ‖H x‖² I). Per worker, E[C(g) C(g)ᵀ] = S_C(E[g gᵀ]) with
    S_C(A) = A + ω Diag(A) (Bernoulli) or (1 − c) A + c d Diag(A), c = (d − k)/(k(d − 1))
    (rand-k), and E[g gᵀ | x] = G + σ1,i² tr(G) I, G = H x xᵀ H."""
    d = hessian.shape[0]
    sigma1 = np.broadcast_to(np.asarray(sigma1, float), (n_workers,))
    kind, value = compressor

    def second_moment(a):
        if kind == "bernoulli":
            return a + (1 / value - 1) * np.diag(np.diag(a))
        c = (d - value) / (value * (d - 1))
        return (1 - c) * a + c * d * np.diag(np.diag(a))

    def apply(m):
        g = hessian @ m @ hessian
        cov = sum(second_moment(g + s**2 * np.trace(g) * np.eye(d)) - g for s in sigma1) / n_workers**2
        a = np.eye(d) - eta * hessian
        return a @ m @ a + eta**2 * cov

    columns = [apply(e.reshape(d, d)).reshape(-1) for e in np.eye(d * d)]
    return np.stack(columns, axis=1)


def exact_rate(case, eta):
    operator = dense_operator(case["hessian"], eta, **case["oracle"])
    return float(np.log(np.max(np.abs(np.linalg.eigvals(operator)))) / eta)


def exact_threshold(case):
    from scipy.optimize import brentq

    grid = np.geomspace(0.05, 5.0, 200)
    rates = [exact_rate(case, e) for e in grid]
    i = next(i for i in range(len(grid) - 1) if rates[i] < 0 <= rates[i + 1])
    return brentq(lambda e: exact_rate(case, e), grid[i], grid[i + 1], xtol=1e-12)


CASES = {
    # diagonal Hessian, Bernoulli sparsifier
    "diagonal_bernoulli": dict(
        components=(
            sdejax.DCSGD(sdejax.BernoulliSparsifier(0.3), 4),
            sdejax.Quadratic(jnp.asarray(EIGENVALUES)),
            sdejax.AffineGaussianNoise(0.0, 0.1),
        ),
        hessian=np.diag(EIGENVALUES),
        oracle=dict(n_workers=4, sigma1=0.1, compressor=("bernoulli", 0.3)),
    ),
    # rotated Hessian, rand-k, per-worker noise scales (the per-worker path)
    "rotated_rand_k": dict(
        components=(
            sdejax.DCSGD(sdejax.RandK(2), 3),
            sdejax.Quadratic(jnp.asarray(EIGENVALUES), basis=jnp.asarray(ROTATION)),
            sdejax.AffineGaussianNoise(0.0, jnp.array([0.05, 0.1, 0.2])),
        ),
        hessian=ROTATION @ np.diag(EIGENVALUES) @ ROTATION.T,
        oracle=dict(n_workers=3, sigma1=[0.05, 0.1, 0.2], compressor=("rand_k", 2)),
    ),
    # rotated Hessian, Bernoulli (a coordinate-wise compressor on a non-diagonal problem)
    "rotated_bernoulli": dict(
        components=(
            sdejax.DCSGD(sdejax.BernoulliSparsifier(0.5), 2),
            sdejax.Quadratic(jnp.asarray(EIGENVALUES), basis=jnp.asarray(ROTATION)),
            sdejax.AffineGaussianNoise(0.0, 0.2),
        ),
        hessian=ROTATION @ np.diag(EIGENVALUES) @ ROTATION.T,
        oracle=dict(n_workers=2, sigma1=0.2, compressor=("bernoulli", 0.5)),
    ),
    # rotated Hessian, heterogeneous minimizers and additive noise: both force E‖x − x*‖² to a
    # stationary level below the threshold; the exact operator is that of the dynamics without
    # them (the estimator's clones follow model.without_forcing())
    "forced_heterogeneous_bernoulli": dict(
        components=(
            sdejax.DCSGD(sdejax.BernoulliSparsifier(0.3), 4),
            sdejax.Quadratic(
                jnp.asarray(EIGENVALUES),
                shifts=jnp.asarray(np.random.default_rng(1).normal(size=(4, D))),
                basis=jnp.asarray(ROTATION),
            ),
            sdejax.AffineGaussianNoise(0.2, 0.1),
        ),
        hessian=ROTATION @ np.diag(EIGENVALUES) @ ROTATION.T,
        oracle=dict(n_workers=4, sigma1=0.1, compressor=("bernoulli", 0.3)),
    ),
}
FACTORS = np.array([0.95, 1.05])  # learning rates η*·factor bracketing the exact threshold
# Default suite: 8 keys of 2,000 paths; the slow suite: 20 keys of 4,000 paths (the sizes at
# which the threshold's SE must stay under 2% of η*). 200 steps, burn-in 25%.
SIZES = {"default": (8, 2000), "slow": (20, 4000)}


def _z_scores(case, n_keys, n_paths):
    """z = (estimate − exact)/SE of the mean-square rate at each key and learning rate, and of the
    measured threshold, plus the threshold's SE relative to η*."""
    eta_star = exact_threshold(case)
    etas = eta_star * FACTORS
    exact = np.array([exact_rate(case, e) for e in etas])
    # threshold() interpolates linearly between the grid points; its target is the crossing of
    # the exact rates interpolated the same way (the grid's deterministic bias is not noise).
    target = etas[0] - exact[0] * (etas[1] - etas[0]) / (exact[1] - exact[0])
    rate_z, threshold_z, relative_se = [], [], []
    for seed in range(n_keys):
        ds = sdejax.stability_sweep(
            *case["components"],
            x0=jnp.ones(case["hessian"].shape[0]),
            learning_rates=etas,
            steps=200,
            n_paths=n_paths,
            key=jr.key(seed),
            progress=False,
        )
        rate = ds["ms_growth_rate"].sel(model="discrete").values
        se = ds["ms_growth_rate_se"].sel(model="discrete").values
        rate_z.append((rate - exact) / se)
        measured = sdejax.threshold(ds, "discrete")
        threshold_z.append((measured - target) / measured.se)
        relative_se.append(measured.se / eta_star)
    return np.asarray(rate_z), np.asarray(threshold_z), np.asarray(relative_se)


def _check(rate_z, threshold_z, relative_se):
    # Every z-score within ±3 (the SE covers the exact operator); no bias (the mean of the n
    # z-scores within 3/√n of 0, n counting keys only: the two learning rates of a key share
    # their paths); a spread near 1 (the SE is neither too small nor too large: for 8 keys the
    # sample sd of unit normals lies in [0.5, 1.6] with probability > 99%, for 20 in [0.6, 1.45]).
    n_keys = rate_z.shape[0]
    assert np.all(np.abs(rate_z) < 3), rate_z
    assert abs(rate_z.mean()) < 3 / np.sqrt(n_keys), rate_z.mean()
    low, high = (0.5, 1.6) if n_keys < 20 else (0.6, 1.45)
    assert low < rate_z.std(ddof=1) < high, rate_z.std(ddof=1)
    # The threshold's SE bounds the error from above (the delta method with the two bracketing
    # estimates taken as perfectly correlated), so its z-scores lie within ±3 with a spread <= 1.
    assert np.all(np.abs(threshold_z) < 3), threshold_z
    assert np.all(relative_se < 0.02), relative_se


@pytest.mark.parametrize("name", sorted(CASES))
def test_mean_square_rate_and_threshold_cover_the_exact_operator(name):
    _check(*_z_scores(CASES[name], *SIZES["default"]))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_mean_square_rate_and_threshold_cover_the_exact_operator_20_keys(name):
    _check(*_z_scores(CASES[name], *SIZES["slow"]))


def _rotation(d, seed):
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))
    return q * np.sign(np.diag(r))


def _held_out_case(d, eigenvalues, kind, value, n_workers, sigma1, seed):
    """A case built like CASES but with other values (``seed`` None: diagonal Hessian)."""
    q = np.eye(d) if seed is None else _rotation(d, seed)
    compressor = sdejax.BernoulliSparsifier(value) if kind == "bernoulli" else sdejax.RandK(value)
    scales = jnp.asarray(sigma1) if isinstance(sigma1, list) else sigma1
    return dict(
        components=(
            sdejax.DCSGD(compressor, n_workers),
            sdejax.Quadratic(jnp.asarray(eigenvalues), basis=None if seed is None else jnp.asarray(q)),
            sdejax.AffineGaussianNoise(0.0, scales),
        ),
        hessian=q @ np.diag(eigenvalues) @ q.T,
        oracle=dict(n_workers=n_workers, sigma1=sigma1, compressor=(kind, value)),
    )


# Cases never used to tune the estimator (d = 3-6, condition numbers 5-32, Bernoulli and rand-k,
# diagonal and rotated, N = 2-8, per-worker noise in one): 5 keys of 4,000 paths each, where the
# threshold's SE must stay under 2 % of η*. Measured when added: rate z in [-2.13, +2.96],
# threshold z in [-2.30, +1.31], SE <= 0.11 % of η*.
HELD_OUT = {
    "rotated_bernoulli_d3": _held_out_case(3, [0.3, 1.0, 3.0], "bernoulli", 0.4, 3, 0.15, 10),
    "rotated_rand_k_d5": _held_out_case(5, np.geomspace(0.2, 4.0, 5), "rand_k", 2, 4, 0.05, 11),
    "diagonal_bernoulli_d5": _held_out_case(5, np.geomspace(0.5, 10.0, 5), "bernoulli", 0.2, 8, 0.1, None),
    "diagonal_rand_k_d4": _held_out_case(4, [0.1, 0.4, 1.6, 3.2], "rand_k", 1, 2, 0.2, None),
    "rotated_bernoulli_d6_per_worker": _held_out_case(
        6, np.geomspace(1.0, 20.0, 6), "bernoulli", 0.6, 5, [0.0, 0.1, 0.2, 0.3, 0.4], 14
    ),
    "rotated_rand_k_d4": _held_out_case(4, [1.0, 1.0, 2.0, 5.0], "rand_k", 3, 6, 0.3, 15),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(HELD_OUT))
def test_held_out_cases_cover_the_exact_operator(name):
    rate_z, threshold_z, relative_se = _z_scores(HELD_OUT[name], 5, 4000)
    assert np.all(np.abs(rate_z) < 3), rate_z
    assert np.all(np.abs(threshold_z) < 3), threshold_z
    assert np.all(relative_se < 0.02), relative_se


def test_pooled_estimator_was_biased():
    """The legacy pooled ratio reads growth many SEs too low at the threshold of an
    anisotropic problem; the population estimator does not."""
    case = CASES["diagonal_bernoulli"]
    eta = exact_threshold(case)
    ds = sdejax.stability_sweep(
        *case["components"],
        x0=jnp.ones(D),
        learning_rates=np.array([eta]),
        steps=200,
        n_paths=2000,
        key=jr.key(99),
        progress=False,
        pooled=True,
    )
    pooled_z = float((ds["ms_pooled_growth_rate"] / ds["ms_pooled_growth_rate_se"]).squeeze())
    population_z = float((ds["ms_growth_rate"] / ds["ms_growth_rate_se"]).squeeze())
    assert pooled_z < -z_for(1e-6), pooled_z  # exact rate is 0 at η*
    assert abs(population_z) < z_for(1e-3), population_z


# ---------------------------------------------------------------------------- almost-sure
# d = 1, DSGD with affine noise: x' = x (1 − ηλ(1 + σ1 ξ)), ξ ~ N(0, 1/N) (the mean of the N
# workers' standard normals, the sign of x absorbed by symmetry). The one-step factor m is i.i.d.,
# so the almost-sure exponent of x² per unit time is E log m²/η (by quadrature) and the
# mean-square one log E m²/η = log((1 − ηλ)² + η²λ²σ1²/N)/η.
SCALAR = dict(lam=1.0, sigma1=1.5, n_workers=2)


def scalar_rates(eta):
    from scipy import integrate, stats

    lam, s, n = SCALAR["lam"], SCALAR["sigma1"], SCALAR["n_workers"]
    sd = 1 / np.sqrt(n)

    def integrand(xi):
        return np.log((1 - eta * lam * (1 + s * xi)) ** 2) * stats.norm.pdf(xi, scale=sd)

    root = (1 / (eta * lam) - 1) / s  # the factor vanishes here: a log singularity
    pieces = [(-np.inf, root), (root, np.inf)]
    almost_sure = sum(integrate.quad(integrand, a, b, limit=200)[0] for a, b in pieces) / eta
    mean_square = np.log((1 - eta * lam) ** 2 + eta**2 * lam**2 * s**2 / n) / eta
    return almost_sure, mean_square


@pytest.fixture(scope="module")
def scalar_map():
    etas = np.array([0.3, 0.6, 0.9, 1.2])  # mean-square threshold 2/2.125 ≈ 0.941
    ds = sdejax.stability_sweep(
        sdejax.DSGD(SCALAR["n_workers"]),
        sdejax.Quadratic(jnp.array([SCALAR["lam"]])),
        sdejax.AffineGaussianNoise(0.0, SCALAR["sigma1"]),
        x0=jnp.ones(1),
        learning_rates=etas,
        steps=200,
        n_paths=2000,
        key=jr.key(5),
        progress=False,
        divergence_bound=1e100,
    )
    return etas, ds.sel(model="discrete")


def test_almost_sure_rate_matches_quadrature(scalar_map):
    # Paths are independent, so as_growth_rate_se = sd/√n is exact up to O(1/n); Bonferroni
    # over the three learning rates at a false-alarm rate of 1e-3.
    etas, ds = scalar_map
    expected = np.array([scalar_rates(e)[0] for e in etas])
    z = (ds["as_growth_rate"].values - expected) / ds["as_growth_rate_se"].values
    assert np.all(np.abs(z) < z_for(1e-3 / len(etas))), (z, expected, ds["as_growth_rate"].values)


def test_mean_square_exceeds_almost_sure(scalar_map):
    etas, ds = scalar_map
    expected = np.array([scalar_rates(e)[1] for e in etas])
    z = (ds["ms_growth_rate"].values - expected) / ds["ms_growth_rate_se"].values
    assert np.all(np.abs(z) < z_for(1e-3 / len(etas))), (z, expected)
    assert np.all(ds["ms_growth_rate"].values > ds["as_growth_rate"].values)


def test_almost_sure_threshold_lies_beyond_the_mean_square_one(scalar_map):
    etas, ds = scalar_map
    # At η = 1.2 E x² grows (the mean-square rate is positive) while typical paths still
    # contract: the almost-sure exponent is negative on the whole grid.
    as_threshold = sdejax.threshold(ds, variable="as_growth_rate")
    ms_threshold, se = sdejax.threshold(ds, with_se=True)
    assert np.isnan(as_threshold) and as_threshold.bound == "above"
    assert ms_threshold.bound == "inside" and np.isfinite(se)


def test_forcing_is_declared_and_removed_with_the_same_structure():
    import equinox as eqx

    shifts = jnp.asarray(np.random.default_rng(2).normal(size=(3, D)))
    problem = sdejax.Quadratic(jnp.asarray(EIGENVALUES), shifts=shifts)
    noise = sdejax.AffineGaussianNoise(0.3, 0.1)
    for name in ("discrete", "corrected"):
        model = sdejax.make_model(name, sdejax.DCSGD(sdejax.RandK(2), 3), problem, noise)
        assert model.has_forcing()
        stripped = model.without_forcing()
        assert eqx.tree_equal(eqx.partition(model, eqx.is_array)[1], eqx.partition(stripped, eqx.is_array)[1])
        # every worker now has the mean objective's minimizer, and no additive noise is left
        assert np.allclose(stripped.problem.worker_gradients(problem.minimizer(), 3), 0.0)
        assert not stripped.noise.has_additive_part()
        assert float(stripped.noise.sigma1) == 0.1
    unforced = (sdejax.DSGD(3), sdejax.Quadratic(jnp.ones(D)), sdejax.GaussianNoise(0.0))
    plain = sdejax.make_model("discrete", *unforced)
    assert not plain.has_forcing()
    # sign and normalized updates do not separate their forcing: the process itself is followed
    for algorithm in (sdejax.DSignSGD(3), sdejax.NormalizedDCSGD(sdejax.RandK(2), 3)):
        assert sdejax.make_model("discrete", algorithm, problem, noise).without_forcing() is None


def test_compressors_that_are_not_homogeneous_keep_the_forced_process():
    problem = sdejax.Quadratic(jnp.asarray(EIGENVALUES))
    noise = sdejax.StudentTNoise(1.0, 1.0)
    for compressor, separates in (
        (sdejax.Sign(), False),
        (sdejax.NaturalCompression(), False),
        (sdejax.TopK(2), True),
    ):
        model = sdejax.make_model("discrete", sdejax.DCSGD(compressor, 2), problem, noise)
        assert (model.without_forcing() is not None) == separates


def test_simulate_default_clone_population_covers_the_exact_rate():
    """simulate runs fewer clones than paths by default (512 beside 2,048 paths here); its
    mean-square rate still covers the exact operator's, on the rotated per-worker-noise case and
    the forced heterogeneous one, at a learning rate on each side of the threshold."""
    z_scores = []
    for name in ("rotated_rand_k", "forced_heterogeneous_bernoulli"):
        case = CASES[name]
        eta_star = exact_threshold(case)
        for eta in eta_star * FACTORS:
            ds = sdejax.simulate(
                *case["components"],
                x0=jnp.ones(D),
                learning_rate=eta,
                steps=400,
                n_paths=2048,
                key=jr.key(11),
                save_every=400,
            )
            assert ds.attrs["clones"] == 512
            rate, se = float(ds.ms_growth_rate), float(ds.ms_growth_rate_se)
            # informative: the side of the threshold at ±5 % of η* is resolved at 4 SE
            assert 0 < se < 0.25 * abs(exact_rate(case, eta))
            z_scores.append((rate - exact_rate(case, eta)) / se)
    assert np.all(np.abs(z_scores) <= z_for(0.01 / len(z_scores))), z_scores
