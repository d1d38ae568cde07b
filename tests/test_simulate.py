"""The discrete simulator: H1 (one-step ratio and threshold), H4 floors, divergence, compiles."""

import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from helpers import z_for

import sdejax
from sdejax import theory

# docs/theory.md §6 H1 example: λ = 1, d = 10, N = 8, ω = 3, σ1 = 0.1 -> B_eff = 3.4, η* ≈ 1.4035.
EXAMPLE = dict(
    algorithm=sdejax.DCSGD(sdejax.BernoulliSparsifier(0.25), 8),
    problem=sdejax.Quadratic(jnp.ones(10)),
    noise=sdejax.AffineGaussianNoise(0.0, 0.1),
)
# Another case of our choice: rand-k with k = 2 of d = 6, N = 3, λ = 2, σ1 = 0.2.
OTHER = dict(
    algorithm=sdejax.DCSGD(sdejax.RandK(2), 3),
    problem=sdejax.Quadratic(2.0 * jnp.ones(6)),
    noise=sdejax.AffineGaussianNoise(0.0, 0.2),
)
CASES = {"example": EXAMPLE, "rand_k": OTHER}
Z = z_for(1e-4)


def test_example_values():
    b = theory.effective_noise(**EXAMPLE)
    np.testing.assert_allclose(b, 3.4, rtol=1e-6)
    np.testing.assert_allclose(theory.ms_threshold("discrete", **EXAMPLE), 1.4035, atol=1e-4)
    np.testing.assert_allclose(theory.ms_threshold("sme1", **EXAMPLE), 4.706, atol=1e-3)
    assert theory.ms_threshold("sme2", **EXAMPLE) == np.inf


@pytest.fixture(scope="module", params=sorted(CASES))
def h1_sweep(request):
    case = CASES[request.param]
    eta_star = theory.ms_threshold("discrete", **case)
    etas = eta_star * np.linspace(0.7, 1.3, 13)
    ds = sdejax.stability_sweep(
        **case,
        x0=jnp.ones(case["problem"].dim),
        learning_rates=etas,
        steps=120,
        n_paths=2000,
        key=jr.key(17),
        burn_in=0.0,
    )
    return case, ds


def test_h1_one_step_ratio(h1_sweep):
    # E[R_k | x_k] = ρ(η) = (1 − ηλ)² + η²λ²B/N exactly, so mean_k R_k is unbiased with
    # SE sd(R_k)/√K (martingale differences). Bonferroni over the 13 learning rates.
    case, ds = h1_sweep
    etas = ds.learning_rate.values
    rho = np.exp(etas * theory.ms_growth_rate("discrete", **case, learning_rate=etas))
    est = ds.ms_ratio_mean.sel(model="discrete").values
    se = ds.ms_ratio_se.sel(model="discrete").values
    assert np.all(np.abs(est - rho) <= z_for(1e-4 / len(etas)) * se), (est, rho, se)


def test_h1_threshold(h1_sweep):
    # The crossing of the estimated rate has SE ≈ SE(rate)/|slope| at η*, slope = ρ'(η*)/η*.
    # Linear interpolation on this grid has a deterministic bias, computed from the exact curve.
    case, ds = h1_sweep
    etas = ds.learning_rate.values
    eta_star = theory.ms_threshold("discrete", **case)
    estimate = sdejax.threshold(ds, "discrete")
    exact_curve = ds.ms_growth_rate.sel(model="discrete").copy(
        data=theory.ms_growth_rate("discrete", **case, learning_rate=etas)
    )
    interpolation_bias = sdejax.threshold(exact_curve.to_dataset(name="ms_growth_rate"))
    interpolation_bias -= eta_star
    h = 1e-6
    slope = (
        theory.ms_growth_rate("discrete", **case, learning_rate=eta_star + h)
        - theory.ms_growth_rate("discrete", **case, learning_rate=eta_star - h)
    ) / (2 * h)
    i = np.searchsorted(etas, eta_star)
    se_rate = ds.ms_growth_rate_se.sel(model="discrete").values[i - 1 : i + 1].max()
    assert abs(estimate - eta_star) <= abs(interpolation_bias) + Z * se_rate / slope


@pytest.fixture(scope="module")
def floors():
    """Stationary losses for DSignSGD (Gaussian, Student-t 3, Cauchy) and DSGD (Gaussian)."""
    problem = sdejax.Quadratic(jnp.ones(2))
    n_workers, eta, steps, paths = 4, 0.01, 1500, 4000
    out = {}
    for name, algorithm, make_noise in [
        ("sign_gaussian", sdejax.DSignSGD(n_workers), sdejax.GaussianNoise),
        ("sign_t3", sdejax.DSignSGD(n_workers), lambda s: sdejax.StudentTNoise(3.0, s)),
        ("sign_cauchy", sdejax.DSignSGD(n_workers), lambda s: sdejax.StudentTNoise(1.0, s)),
        ("dsgd_gaussian", sdejax.DSGD(n_workers), sdejax.GaussianNoise),
    ]:
        for sigma in (0.5, 1.0, 2.0):
            noise = make_noise(sigma)
            ds = sdejax.simulate(
                algorithm,
                problem,
                noise,
                x0=jnp.zeros(2),
                learning_rate=eta,
                steps=steps,
                n_paths=paths,
                key=jr.key(3),
                save_every=steps,
            )
            out[name, sigma] = (
                algorithm,
                problem,
                noise,
                eta,
                float(ds.loss_mean[-1]),
                float(ds.loss_se[-1]),
            )
    return out


@pytest.mark.parametrize("name", ["sign_gaussian", "sign_t3", "sign_cauchy"])
def test_h4_dsignsgd_floor_linear_in_sigma(floors, name):
    # E f_∞ ≈ d η σ/(8 N p(0)). Exact for the linearized chain up to the factor 1/(1 − a/2),
    # a = 2ηλp(0)/σ (the AR(1) variance η²/N/(1 − (1 − a)²) vs its small-a form), which we allow
    # as a deterministic bias, plus z·SE of the path average.
    for sigma in (0.5, 1.0, 2.0):
        algorithm, problem, noise, eta, mean, se = floors[name, sigma]
        floor = theory.dsignsgd_loss_floor(algorithm, problem, noise, eta)
        a = 2 * eta * float(noise.density_at_zero()) / sigma
        assert abs(mean - floor) <= floor * a + Z * se, (sigma, mean, floor, se)


def test_h4_dsgd_floor_quadratic_in_sigma(floors):
    # DSGD: E f_∞ = d η σ²/(2N(2 − ηλ)) exactly.
    for sigma in (0.5, 1.0, 2.0):
        algorithm, problem, noise, eta, mean, se = floors["dsgd_gaussian", sigma]
        floor = theory.dsgd_loss_floor(algorithm, problem, noise, eta)
        assert abs(mean - floor) <= Z * se, (sigma, mean, floor, se)
    ratio = floors["dsgd_gaussian", 2.0][4] / floors["dsgd_gaussian", 0.5][4]
    sign_ratio = floors["sign_gaussian", 2.0][4] / floors["sign_gaussian", 0.5][4]
    assert ratio > 12 and sign_ratio < 5  # 16 (quadratic) vs 4 (linear), with MC slack


def test_divergence_is_data_not_nan():
    # Above the almost-sure blow-up point (≈ 1.6 in the example) many paths diverge.
    ds = sdejax.simulate(
        **EXAMPLE, x0=jnp.ones(10), learning_rate=1.9, steps=300, n_paths=200, key=jr.key(0), save_every=10
    )
    assert 0 < float(ds.diverged_fraction[-1]) <= 1
    for name in ("loss_mean", "loss_se", "grad_norm_sq_mean", "x_norm_sq_mean"):
        assert not np.any(np.isnan(ds[name].values)), name
    assert np.all(np.diff(ds.diverged_fraction.values) >= 0)  # frozen: never un-diverge
    assert float(ds.ms_growth_rate) > 0


def test_all_paths_diverged_gives_inf_not_nan():
    ds = sdejax.simulate(
        sdejax.DSGD(1),
        sdejax.Quadratic(jnp.ones(2)),
        sdejax.GaussianNoise(0.0),
        x0=jnp.ones(2),
        learning_rate=5.0,
        steps=40,
        n_paths=4,
        key=jr.key(0),
    )
    assert float(ds.diverged_fraction[-1]) == 1.0
    assert np.isinf(float(ds.loss_mean[-1])) and not np.isnan(float(ds.loss_se[-1]))


def test_dsignsgd_never_diverges_under_cauchy():
    # H5: each step moves at most η per coordinate.
    ds = sdejax.simulate(
        sdejax.DSignSGD(4),
        sdejax.Quadratic(jnp.ones(3)),
        sdejax.StudentTNoise(1.0, 10.0),
        x0=jnp.ones(3),
        learning_rate=0.1,
        steps=200,
        n_paths=100,
        key=jr.key(1),
        save_every=50,
    )
    assert float(ds.diverged_fraction[-1]) == 0.0
    assert np.all(np.isfinite(ds.loss_mean.values))


def test_schedule_and_save_every():
    ds = sdejax.simulate(
        sdejax.DSGD(2),
        sdejax.Quadratic(jnp.ones(2)),
        sdejax.GaussianNoise(0.0),
        x0=jnp.ones(2),
        learning_rate=0.5,
        steps=7,
        n_paths=3,
        key=jr.key(0),
        save_every=3,
        schedule=lambda k: 1.0 / jnp.sqrt(k + 1.0),
    )
    np.testing.assert_array_equal(ds.step.values, [0, 3, 6, 7])
    np.testing.assert_allclose(ds.time.values, [0, 1.5, 3.0, 3.5])
    # deterministic GD with η_k = 1/√(k+1): x_7 = Π_k (1 − 0.5/√(k+1)) x_0
    factor = np.prod([1 - 0.5 / np.sqrt(k + 1) for k in range(7)])
    np.testing.assert_allclose(ds.loss_mean.values[-1], factor**2, rtol=1e-12)


def test_no_recompilation_for_new_values():
    from sdejax._engine._simulate import _run as _run_compiled

    kwargs = dict(x0=jnp.ones(3), steps=5, n_paths=4, key=jr.key(0))
    problem = sdejax.Quadratic(jnp.ones(3))
    sdejax.simulate(
        sdejax.DCSGD(sdejax.BernoulliSparsifier(0.5), 2),
        problem,
        sdejax.AffineGaussianNoise(0.05, 0.1),
        learning_rate=0.1,
        **kwargs,
    )
    before = _run_compiled._cached._cache_size()
    sdejax.simulate(
        sdejax.DCSGD(sdejax.BernoulliSparsifier(0.3), 2),
        sdejax.Quadratic(2 * jnp.ones(3)),
        sdejax.AffineGaussianNoise(0.1, 0.2),
        learning_rate=0.3,
        **kwargs,
    )
    assert _run_compiled._cached._cache_size() == before
    # Without any forcing (σ0 = 0, one minimizer) the clones need no second model: one more
    # program, then new values again compile nothing.
    for sigma0, sigma1 in ((0.0, 0.1), (0.0, 0.3)):
        sdejax.simulate(
            sdejax.DCSGD(sdejax.BernoulliSparsifier(0.5), 2),
            problem,
            sdejax.AffineGaussianNoise(sigma0, sigma1),
            learning_rate=0.2,
            **kwargs,
        )
    assert _run_compiled._cached._cache_size() == before + 1


def test_same_key_same_numbers_and_metadata():
    kwargs = dict(x0=jnp.ones(3), learning_rate=0.2, steps=10, n_paths=8, key=jr.key(4))
    args = (sdejax.DCSGD(sdejax.RandK(1), 2), sdejax.Quadratic(jnp.ones(3)), sdejax.GaussianNoise(0.3))
    a = sdejax.simulate(*args, **kwargs)
    b = sdejax.simulate(*args, **kwargs)
    np.testing.assert_array_equal(a.loss_mean.values, b.loss_mean.values)
    assert a.attrs["sampling"] in ("per_worker", "aggregate")
    assert "RandK" in a.attrs["algorithm"] and a.attrs["sdejax_version"]


def test_h6_trends_in_workers_dimension_and_compression():
    # H6: the DCSGD threshold grows with N, falls with ω and with d (through dσ1²(1 + ω)).
    # Measured per cell by one sweep over a grid; each measured threshold agrees with H1 within
    # z·SE(rate)/slope plus the grid's interpolation bias (as in test_h1_threshold), and the
    # measured values order as the theory does.
    noise = sdejax.AffineGaussianNoise(0.0, 0.3)
    for d in (4, 16):
        problem = sdejax.Quadratic(jnp.ones(d))
        ds = sdejax.stability_sweep(
            sdejax.DCSGD(sdejax.BernoulliSparsifier(0.5), 2),
            problem,
            noise,
            x0=jnp.ones(d),
            learning_rates=np.linspace(0.3, 2.2, 20),
            steps=60,
            n_paths=1000,
            key=jr.key(8),
            burn_in=0.0,
            grid={"n_workers": [2, 8], "compressor.p": [0.25, 1.0]},
        )
        measured = sdejax.threshold(ds, "discrete")
        for n_workers in (2, 8):
            for p in (0.25, 1.0):
                algorithm = sdejax.DCSGD(sdejax.BernoulliSparsifier(p), n_workers)
                eta_star = theory.ms_threshold("discrete", algorithm, problem, noise)
                rates = ds.sel({"n_workers": n_workers, "compressor.p": p, "model": "discrete"})
                i = np.searchsorted(rates.learning_rate.values, eta_star)
                se = float(rates.ms_growth_rate_se.values[i - 1 : i + 1].max())
                h = 1e-6
                slope = (
                    theory.ms_growth_rate("discrete", algorithm, problem, noise, eta_star + h)
                    - theory.ms_growth_rate("discrete", algorithm, problem, noise, eta_star - h)
                ) / (2 * h)
                etas = rates.learning_rate.values
                exact = rates.ms_growth_rate.copy(
                    data=theory.ms_growth_rate("discrete", algorithm, problem, noise, etas)
                )
                bias = sdejax.threshold(exact.to_dataset(name="ms_growth_rate")) - eta_star
                value = float(measured.sel({"n_workers": n_workers, "compressor.p": p}))
                assert abs(value - eta_star) <= abs(bias) + Z * se / slope, (d, n_workers, p, value, eta_star)
        m = measured
        assert float(m.sel({"n_workers": 8, "compressor.p": 0.25})) > float(
            m.sel({"n_workers": 2, "compressor.p": 0.25})
        )
        assert float(m.sel({"n_workers": 2, "compressor.p": 1.0})) > float(
            m.sel({"n_workers": 2, "compressor.p": 0.25})
        )
        if d == 4:
            small_d = measured
    assert float(small_d.sel({"n_workers": 2, "compressor.p": 0.25})) > float(
        measured.sel({"n_workers": 2, "compressor.p": 0.25})
    )


def test_loss_quantiles_count_diverged_paths_as_inf():
    # Quantiles are over all paths: a diverged path counts as +inf, so the median reads the
    # typical path even when heavy tails make the mean meaningless; never NaN.
    ds = sdejax.simulate(
        sdejax.DSGD(1),
        sdejax.Quadratic(jnp.ones(2)),
        sdejax.GaussianNoise(0.0),
        x0=jnp.ones(2),
        learning_rate=5.0,
        steps=40,
        n_paths=4,
        key=jr.key(0),
    )
    assert np.isinf(float(ds.loss_median[-1])) and np.isinf(float(ds.loss_q10[-1]))
    calm = sdejax.simulate(
        sdejax.DSGD(2),
        sdejax.Quadratic(jnp.ones(2)),
        sdejax.GaussianNoise(0.3),
        x0=jnp.ones(2),
        learning_rate=0.1,
        steps=30,
        n_paths=301,
        key=jr.key(1),
        save_every=30,
    )
    assert float(calm.loss_q10[-1]) <= float(calm.loss_median[-1]) <= float(calm.loss_q90[-1])
    assert not np.any(np.isnan(calm.loss_median.values))


def test_without_clones_the_paths_are_unchanged_and_the_mean_square_rate_says_why():
    """simulate(clones=False) runs the free paths only, and clones=C runs C clones beside the
    first C paths: every statistic of the paths is the same whatever the clone population (the
    same keys and arithmetic; the first C paths are stepped in one call with their clones, so
    equal up to float64 rounding), on an anisotropic, heterogeneous, forced
    problem; the mean-square outputs are NaN with a note, never a silent number, without
    clones; a bad count or a non-bool is refused by name."""
    common = dict(
        algorithm=sdejax.DCSGD(sdejax.BernoulliSparsifier(0.3), 4),
        problem=sdejax.Quadratic(
            jnp.array([0.5, 1.0, 3.0]), shifts=jnp.array([[0.1, 0.0, -0.2]] * 2 + [[0.0] * 3] * 2)
        ),
        noise=sdejax.AffineGaussianNoise(0.1, 0.2),
        x0=jnp.ones(3),
        learning_rate=0.4,
        steps=41,
        n_paths=64,
        key=jr.key(3),
        save_every=3,
    )
    with_clones = sdejax.simulate(**common)
    without = sdejax.simulate(**common, clones=False)
    some = sdejax.simulate(**common, clones=20)
    assert (with_clones.attrs["clones"], without.attrs["clones"], some.attrs["clones"]) == (64, 0, 20)
    for other in (without, some):
        for name in ("loss_mean", "loss_se", "x_norm_sq_mean", "loss_median", "diverged_fraction"):
            np.testing.assert_allclose(other[name].values, with_clones[name].values, rtol=1e-12, err_msg=name)
        np.testing.assert_allclose(float(other.as_growth_rate), float(with_clones.as_growth_rate), rtol=1e-12)
    assert np.isfinite(float(with_clones.ms_growth_rate))
    assert np.isfinite(float(some.ms_growth_rate))
    assert float(some.ms_growth_rate) != float(with_clones.ms_growth_rate)
    assert np.isnan(float(without.ms_growth_rate))
    assert "clones=False" in without.ms_growth_rate.attrs["note"]
    with pytest.raises(TypeError, match="clones"):
        sdejax.simulate(**common, clones="no")
    for bad in (0, 65, -3):
        with pytest.raises(
            ValueError, match=r"`clones` must be True, False or a count in \[1, n_paths = 64\]"
        ):
            sdejax.simulate(**common, clones=bad)


def test_default_clone_population():
    """simulate's default population: every path up to 512, then max(512, n_paths // 8)."""
    from sdejax._engine._simulate import default_clones

    assert [default_clones(n) for n in (1, 100, 512, 513, 4096, 4104, 40_000)] == [
        1,
        100,
        512,
        512,
        512,
        513,
        5000,
    ]
