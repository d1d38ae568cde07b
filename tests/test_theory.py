"""sdejax.theory: exact thresholds and rates (H1 closed forms, any quadratic, linearized
problems), the corrected/discrete gap on rotated Hessians, floors, and clear refusals."""

import math

import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from helpers import z_for

import sdejax
from sdejax import theory

MODELS = ("discrete", "sme1", "corrected", "sme2")


def _closed_rate(model, lam, b, eta):
    """docs/theory.md §6 H1 with b = B_eff/N."""
    if model == "discrete":
        return np.log((1 - eta * lam) ** 2 + eta**2 * lam**2 * b) / eta
    kappa = {"corrected": 1.0, "sme1": 0.0, "sme2": -1.0}[model]
    return -2 * lam + kappa * eta * lam**2 + eta * lam**2 * b


def _closed_threshold(model, lam, b):
    if model in ("discrete", "corrected"):
        return 2 / (lam * (1 + b))
    if model == "sme1":
        return 2 / (lam * b) if b > 0 else math.inf
    return 2 / (lam * (b - 1)) if b > 1 else math.inf


# (algorithm, λ, d, noise, B_eff): the H1 example twice (ω = 3 by Bernoulli p = 1/4 and by
# rand-k k = d/4), per-worker σ1 (B̄ from the mean of σ1²), B_eff > N (a finite SME-2 threshold)
# and the noise-free H2 case.
H1_CASES = {
    "example_bernoulli": (
        sdejax.DCSGD(sdejax.BernoulliSparsifier(0.25), 8),
        1.0,
        10,
        sdejax.AffineGaussianNoise(0.0, 0.1),
        3.4,
    ),
    "example_rand_k": (
        sdejax.DCSGD(sdejax.RandK(3), 8),
        1.0,
        12,
        sdejax.AffineGaussianNoise(0.0, 0.1),
        3 + 12 * 0.01 * 4,
    ),
    "per_worker_sigma1": (
        sdejax.DCSGD(sdejax.RandK(2), 3),
        2.0,
        6,
        sdejax.AffineGaussianNoise(0.0, jnp.array([0.1, 0.2, 0.4])),
        2 + 6 * np.mean(np.array([0.1, 0.2, 0.4]) ** 2) * 3,
    ),
    "sme2_finite": (
        sdejax.DCSGD(sdejax.BernoulliSparsifier(0.1), 2),
        0.5,
        4,
        sdejax.AffineGaussianNoise(0.3, 0.2),
        9 + 4 * 0.04 * 10,
    ),
    "noise_free_gd": (sdejax.DSGD(3), 3.0, 5, sdejax.GaussianNoise(0.0), 0.0),
}


@pytest.mark.parametrize("case", H1_CASES)
def test_h1_closed_forms(case):
    algorithm, lam, d, noise, b_eff = H1_CASES[case]
    problem = sdejax.Quadratic(lam * jnp.ones(d))
    np.testing.assert_allclose(
        theory.effective_noise(algorithm, problem, noise), b_eff, rtol=1e-12, atol=1e-15
    )
    b = b_eff / algorithm.n_workers
    etas = np.array([0.05, 0.3, 0.9, 1.7]) / lam
    for model in MODELS:
        expected = _closed_threshold(model, lam, b)
        value = theory.ms_threshold(model, algorithm, problem, noise)
        if math.isinf(expected):
            assert value == math.inf, (model, value)
        else:
            np.testing.assert_allclose(value, expected, rtol=1e-10)
        rates = theory.ms_growth_rate(model, algorithm, problem, noise, etas)
        assert rates.shape == etas.shape
        np.testing.assert_allclose(rates, _closed_rate(model, lam, b, etas), rtol=1e-10, atol=1e-12)


def test_h1_example_numbers():
    # docs/theory.md §6 H1: λ = 1, d = 10, N = 8, ω = 3, σ1 = 0.1 gives 1.4035, 4.706, none.
    algorithm, _, _, noise, _ = H1_CASES["example_bernoulli"]
    problem = sdejax.Quadratic(jnp.ones(10))
    assert round(theory.ms_threshold("discrete", algorithm, problem, noise), 4) == 1.4035
    assert round(theory.ms_threshold("corrected", algorithm, problem, noise), 4) == 1.4035
    assert round(theory.ms_threshold("sme1", algorithm, problem, noise), 3) == 4.706
    assert theory.ms_threshold("sme2", algorithm, problem, noise) == math.inf
    rate = theory.ms_growth_rate("discrete", algorithm, problem, noise, 1.0)
    assert isinstance(rate, float) and np.ndim(rate) == 0


def test_dsgd_is_dcsgd_with_identity():
    problem = sdejax.Quadratic(
        jnp.array([1.0, 2.0, 5.0]), basis=jnp.asarray(np.linalg.qr(np.ones((3, 3)) + np.eye(3))[0])
    )
    noise = sdejax.AffineGaussianNoise(0.2, jnp.array([0.1, 0.3]))
    dsgd, identity = sdejax.DSGD(2), sdejax.DCSGD(sdejax.Identity(), 2)
    for model in MODELS:
        assert theory.ms_threshold(model, dsgd, problem, noise) == theory.ms_threshold(
            model, identity, problem, noise
        )
        np.testing.assert_array_equal(
            theory.ms_growth_rate(model, dsgd, problem, noise, [0.1, 0.5]),
            theory.ms_growth_rate(model, identity, problem, noise, [0.1, 0.5]),
        )
    assert theory.effective_noise(dsgd, problem, noise) == theory.effective_noise(identity, problem, noise)
    gaussian = sdejax.GaussianNoise(jnp.array([0.3, 0.6]))
    assert theory.dsgd_loss_floor(dsgd, problem, gaussian, 0.1) == theory.dsgd_loss_floor(
        identity, problem, gaussian, 0.1
    )


def _rotated(d, kappa, seed=0):
    basis, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))
    return jnp.geomspace(1.0, kappa, d), jnp.asarray(basis)


def test_any_quadratic_loss_problem_matches_quadratic():
    # A LossProblem with a dense Hessian is a quadratic: the same thresholds as Quadratic(basis).
    lam, basis = _rotated(5, 10.0)
    hessian = (basis * lam[None, :]) @ basis.T
    quadratic = sdejax.Quadratic(lam, basis=basis)
    loss = sdejax.LossProblem(lambda x: 0.5 * x @ hessian @ x, 5)
    algorithm = sdejax.DCSGD(sdejax.RandK(2), 4)
    noise = sdejax.AffineGaussianNoise(0.1, 0.2)
    for model in MODELS:
        np.testing.assert_allclose(
            theory.ms_threshold(model, algorithm, loss, noise),
            theory.ms_threshold(model, algorithm, quadratic, noise),
            rtol=1e-9,
        )


def test_linearized_at_a_minimizer():
    # f(x) = Σ λ_j log cosh(x_j − 1) is not quadratic; its minimizer is 1 with Hessian diag(λ).
    # Linear mean-square stability there (Wu, Ma & E) is the quadratic's threshold.
    lam = jnp.array([1.0, 3.0, 4.0])
    problem = sdejax.LossProblem(
        lambda x: jnp.sum(lam * jnp.log(jnp.cosh(x - 1.0))), 3, minimizer=jnp.ones(3)
    )
    algorithm = sdejax.DCSGD(sdejax.BernoulliSparsifier(0.5), 4)
    noise = sdejax.AffineGaussianNoise(0.0, 0.2)
    quadratic = sdejax.Quadratic(lam)
    for model in MODELS:
        expected = theory.ms_threshold(model, algorithm, quadratic, noise)
        np.testing.assert_allclose(
            theory.ms_threshold(model, algorithm, problem, noise), expected, rtol=1e-12
        )
    # `at` overrides the problem's minimizer: at 0 the Hessian is diag(λ sech²(1)).
    shrunk = sdejax.Quadratic(lam / np.cosh(1.0) ** 2)
    np.testing.assert_allclose(
        theory.ms_threshold("discrete", algorithm, problem, noise, at=jnp.zeros(3)),
        theory.ms_threshold("discrete", algorithm, shrunk, noise),
        rtol=1e-12,
    )


def test_rotated_gap_and_diagonal_agreement():
    # docs/theory.md §7: on a rotated Hessian with a coordinate-wise compressor the corrected
    # threshold is close to, but not exactly, the discrete one; on the diagonal one they agree.
    lam, basis = _rotated(10, 30.0, seed=1)
    algorithm = sdejax.DCSGD(sdejax.BernoulliSparsifier(0.25), 8)
    noise = sdejax.AffineGaussianNoise(0.0, 0.1)
    rotated = sdejax.Quadratic(lam, basis=basis)
    diagonal = sdejax.Quadratic(lam)
    gap = theory.ms_threshold("corrected", algorithm, rotated, noise) / theory.ms_threshold(
        "discrete", algorithm, rotated, noise
    )
    assert 1e-4 < abs(gap - 1) < 0.1
    np.testing.assert_allclose(
        theory.ms_threshold("corrected", algorithm, diagonal, noise),
        theory.ms_threshold("discrete", algorithm, diagonal, noise),
        rtol=1e-12,
    )


def test_thresholds_are_where_the_rates_cross_zero():
    lam, basis = _rotated(6, 10.0, seed=2)
    problem = sdejax.Quadratic(lam, basis=basis)
    algorithm = sdejax.DCSGD(sdejax.BernoulliSparsifier(0.2), 2)
    noise = sdejax.AffineGaussianNoise(0.0, 0.3)
    for model in MODELS:
        eta = theory.ms_threshold(model, algorithm, problem, noise)
        if math.isinf(eta):
            continue
        below, at, above = theory.ms_growth_rate(
            model, algorithm, problem, noise, eta * np.array([0.99, 1.0, 1.01])
        )
        assert below < 0 < above and abs(at) < 1e-8 * (abs(below) + abs(above)), (model, below, at, above)


# ---------------------------------------------------------------------- refusals


def _refused(match, *args, **kwargs):
    for fn in (theory.ms_threshold, lambda *a, **k: theory.ms_growth_rate(*a, 0.1, **k)):
        with pytest.raises(ValueError, match=match):
            fn("discrete", *args, **kwargs)


def test_refusals_where_moments_do_not_close():
    problem, noise = sdejax.Quadratic(jnp.ones(4)), sdejax.AffineGaussianNoise(0.0, 0.1)
    for algorithm in (
        sdejax.DSignSGD(2),
        sdejax.DSignSGD(2, vote="majority"),
        sdejax.NormalizedDCSGD(sdejax.RandK(2), 2),
    ):
        _refused("do not close.*stability_sweep", algorithm, problem, noise)
    for compressor in (sdejax.Sign(), sdejax.TopK(2), sdejax.NaturalCompression(), sdejax.RandomDithering(2)):
        _refused(
            f"{type(compressor).__name__}.*do not close.*stability_sweep",
            sdejax.DCSGD(compressor, 2),
            problem,
            noise,
        )
        with pytest.raises(ValueError, match="do not close"):
            theory.effective_noise(sdejax.DCSGD(compressor, 2), problem, noise)
    for df in (0.5, 1.0, 2.0):
        _refused("infinite second moments", sdejax.DSGD(2), problem, sdejax.StudentTNoise(df, 1.0))
    # ν > 2 has finite moments: additive, so the threshold is the noise-free one.
    assert theory.ms_threshold(
        "discrete", sdejax.DSGD(2), problem, sdejax.StudentTNoise(3.0, 1.0)
    ) == pytest.approx(2.0)


def test_refusals_of_bad_problems_and_inputs():
    algorithm, noise = sdejax.DCSGD(sdejax.BernoulliSparsifier(0.5), 2), sdejax.GaussianNoise(0.1)
    _refused("not positive definite", algorithm, sdejax.Quartic(2), noise)
    _refused("not positive definite", algorithm, sdejax.Quadratic(jnp.array([1.0, -1.0])), noise)
    _refused("not positive definite", algorithm, sdejax.Quadratic(jnp.array([1.0, 0.0])), noise)
    with pytest.raises(ValueError, match=r"`at`"):
        theory.ms_threshold("discrete", algorithm, sdejax.Quadratic(jnp.ones(2)), noise, at=jnp.zeros(3))
    with pytest.raises(ValueError, match="k=11.*d = 10|d = 10.*k=11"):
        theory.ms_threshold(
            "discrete", sdejax.DCSGD(sdejax.RandK(11), 2), sdejax.Quadratic(jnp.ones(10)), noise
        )
    with pytest.raises(ValueError, match="k=11"):
        theory.effective_noise(sdejax.DCSGD(sdejax.RandK(11), 2), sdejax.Quadratic(jnp.ones(10)), noise)
    with pytest.raises(ValueError, match="`model`"):
        theory.ms_threshold("sme3", algorithm, sdejax.Quadratic(jnp.ones(2)), noise)
    problem = sdejax.Quadratic(jnp.ones(2))
    for bad in (0.0, -1.0, np.nan, np.inf, [0.1, -0.1], []):
        with pytest.raises(ValueError, match="learning_rate"):
            theory.ms_growth_rate("discrete", algorithm, problem, noise, bad)
    with pytest.raises(TypeError, match="learning_rate"):
        theory.ms_growth_rate("discrete", algorithm, problem, noise, "fast")
    for bad in (0.0, -1.0, np.nan):
        with pytest.raises(ValueError, match="learning_rate"):
            theory.dsgd_loss_floor(sdejax.DSGD(2), problem, noise, bad)
        with pytest.raises(ValueError, match="learning_rate"):
            theory.dsignsgd_loss_floor(sdejax.DSignSGD(2), problem, noise, bad)
    with pytest.raises(ValueError, match="must be DSGD"):
        theory.effective_noise(sdejax.DSignSGD(2), problem, noise)


# ---------------------------------------------------------------------- floors


def test_dsgd_floor_uses_the_mean_variance():
    # E f_∞ = Σ_j η avg(σ_i²)/(2N(2 − ηλ_j)); with σ = (0.3, 0.6, 1.2) the old (avg σ)² was 22% low.
    sigma = np.array([0.3, 0.6, 1.2])
    lam = np.array([1.0, 2.0])
    eta = 0.1
    floor = theory.dsgd_loss_floor(
        sdejax.DSGD(3), sdejax.Quadratic(jnp.asarray(lam)), sdejax.GaussianNoise(jnp.asarray(sigma)), eta
    )
    np.testing.assert_allclose(floor, np.sum(eta * np.mean(sigma**2) / (6 * (2 - eta * lam))), rtol=1e-12)
    assert np.mean(sigma) ** 2 / np.mean(sigma**2) == pytest.approx(0.778, abs=1e-3)
    assert (
        theory.dsgd_loss_floor(
            sdejax.DSGD(3), sdejax.Quadratic(jnp.asarray(lam)), sdejax.GaussianNoise(1.0), 2.0
        )
        == math.inf
    )


def test_dsignsgd_floor_uses_the_harmonic_mean():
    sigma = np.array([0.3, 0.8, 1.5])
    floor = theory.dsignsgd_loss_floor(
        sdejax.DSignSGD(3), sdejax.Quadratic(jnp.ones(2)), sdejax.GaussianNoise(jnp.asarray(sigma)), 0.01
    )
    harmonic = 1 / np.mean(1 / sigma)
    np.testing.assert_allclose(floor, 2 * 0.01 * harmonic * np.sqrt(2 * np.pi) / (8 * 3), rtol=1e-12)
    with pytest.raises(ValueError, match="noise scale > 0"):
        theory.dsignsgd_loss_floor(
            sdejax.DSignSGD(2),
            sdejax.Quadratic(jnp.ones(2)),
            sdejax.GaussianNoise(jnp.array([0.0, 1.0])),
            0.01,
        )


# Floors against simulation. Each path's loss after `steps` steps (>= 5 relaxation times:
# 1/(ηλ) = 100 steps for DSGD, 1/(ηaλ) ≈ 72 for DSignSGD with a its linear sign-mean gain, so
# the start x0 = 0 is forgotten to e^-10) is an independent draw from the stationary law; the
# mean over PATHS paths has SE = sd/√PATHS. Family false-alarm 1e-4 over the two checks.
PATHS, Z_FLOOR = 2000, z_for(1e-4 / 2)


def _stationary_loss(algorithm, noise, eta, steps, key):
    ds = sdejax.simulate(
        algorithm,
        sdejax.Quadratic(jnp.ones(2)),
        noise,
        x0=jnp.zeros(2),
        learning_rate=eta,
        steps=steps,
        n_paths=PATHS,
        key=key,
        save_every=steps,
    )
    return float(ds.loss_mean[-1]), float(ds.loss_se[-1])


def test_heterogeneous_floors_against_simulation(key):
    # DSGD, σ = (0.3, 0.6, 1.2): the exact floor. DSignSGD, σ = (0.3, 0.8, 1.5): the harmonic-mean
    # floor, a small-η approximation whose deterministic bias (the AR(1) factor 1/(1 − ηaλ/2),
    # a = 2 avg(p(0)/σ), plus the O(u²) curvature of the sign mean, u = ∂f/σ ≈ 0.1 here) is
    # allowed as floor·ηaλ on top of z·SE; the arithmetic mean would be 52% high, ≫ both.
    eta = 0.01
    dsgd, dsgd_noise = sdejax.DSGD(3), sdejax.GaussianNoise(jnp.array([0.3, 0.6, 1.2]))
    mean, se = _stationary_loss(dsgd, dsgd_noise, eta, 500, jr.fold_in(key, 1))
    floor = theory.dsgd_loss_floor(dsgd, sdejax.Quadratic(jnp.ones(2)), dsgd_noise, eta)
    assert abs(mean - floor) < Z_FLOOR * se, (mean, floor, se)
    sign, sign_noise = sdejax.DSignSGD(3), sdejax.GaussianNoise(jnp.array([0.3, 0.8, 1.5]))
    mean, se = _stationary_loss(sign, sign_noise, eta, 1000, jr.fold_in(key, 2))
    floor = theory.dsignsgd_loss_floor(sign, sdejax.Quadratic(jnp.ones(2)), sign_noise, eta)
    a = 2 * np.mean(1 / np.sqrt(2 * np.pi) / np.array([0.3, 0.8, 1.5]))
    assert abs(mean - floor) < floor * eta * a + Z_FLOOR * se, (mean, floor, se)
    arithmetic = floor * np.mean([0.3, 0.8, 1.5]) * np.mean(1 / np.array([0.3, 0.8, 1.5]))
    assert abs(mean - arithmetic) > 10 * se
