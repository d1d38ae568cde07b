"""Stability of the SDE models against the discrete algorithm: docs/theory.md §6 H1, H2, H3."""

import math

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest
from helpers import z_for

import sdejax

# H1 example of docs/theory.md §6: λ = 1, d = 10, N = 8, ω = 3, σ1 = 0.1 ⇒ B_eff = 3.4, η* ≈ 1.4035.
D, N = 10, 8
ALGORITHM = sdejax.DCSGD(sdejax.BernoulliSparsifier(0.25), N)
PROBLEM = sdejax.Quadratic(jnp.ones(D))
NOISE = sdejax.AffineGaussianNoise(0.0, 0.1)
B_OVER_N = 3.4 / N
KAPPA = {"sme1": 0.0, "sme2": -1.0, "corrected": 1.0}  # sign of the (η/2) J_b b term
SUBSTEPS = 10


def _one_step_factor(name, eta, m=SUBSTEPS, lam=1.0):
    """E‖X_η‖²/‖x0‖² of Euler–Maruyama with m substeps, exactly (isotropic quadratic).

    One substep of dX = aX dt + √η L dW, a = −λ + κηλ²/2, Tr(L Lᵀ) = λ²(B/N)‖X‖², multiplies
    E‖X‖² by (1 + a dt)² + η dt λ² B/N; as m → ∞ the m-th power tends to exp(cη) with c the
    model's rate of docs/theory.md §6 H1 (sdejax.theory.ms_growth_rate).
    """
    dt = eta / m
    a = -lam + KAPPA[name] * eta * lam**2 / 2
    return ((1 + a * dt) ** 2 + eta * dt * lam**2 * B_OVER_N) ** m


@pytest.fixture(scope="module")
def one_step_runs():
    """P one-interval solves per model and η from the same x0: ‖X_η‖²/‖x0‖² samples."""
    x0 = jnp.ones(D)
    keys = jr.split(jr.key(11), 20_000)
    runs = {}
    for name in KAPPA:
        model = sdejax.make_model(name, ALGORITHM, PROBLEM, NOISE, sde_substeps=SUBSTEPS)
        step = jax.jit(jax.vmap(model.step, in_axes=(0, None, None, None)))
        # Not η ≈ 4.7 (SME-1's threshold): there the per-coordinate multiplicative noise makes
        # log x_j² over one interval ≈ normal with sd ≈ 5.7, so E‖X_η‖² lives on paths of
        # probability ~1e-8 that no Monte Carlo sample reaches (docs/theory.md §6, "Mean-square vs
        # almost-sure"). The generator test below checks the rate there exactly instead.
        for eta in (0.8, 1.4035, 2.0):
            x1 = step(keys, x0, jnp.asarray(eta), jnp.asarray(1.0))
            runs[name, eta] = np.asarray(jnp.sum(x1 * x1, axis=1)) / D
    return runs


def test_h1_one_step_mean_square_factor(one_step_runs):
    # 9 checks, family false-alarm 1e-4.
    z = z_for(1e-4 / 9)
    for (name, eta), ratio in one_step_runs.items():
        se = ratio.std(ddof=1) / math.sqrt(ratio.size)
        assert abs(ratio.mean() - _one_step_factor(name, eta)) < z * se, (name, eta)


def test_h1_generator_rate_is_the_theory_rate():
    """c(η) = (L‖x‖²)(x)/‖x‖² from each model's own drift and diffusion, exactly (no Monte
    Carlo): −2λ + κηλ² + ηλ²B/N, so thresholds η* (corrected), 2N/(λB) (SME-1), none (SME-2)."""
    x = jnp.linspace(-1.0, 2.0, D)
    for name in KAPPA:
        model = sdejax.make_model(name, ALGORITHM, PROBLEM, NOISE)
        for eta in (0.8, 1.4035, 2.0, 4.7059, 6.0):
            rate = sdejax.generator(model, lambda y: jnp.sum(y * y), eta)(x) / jnp.sum(x * x)
            expected = sdejax.theory.ms_growth_rate(name, ALGORITHM, PROBLEM, NOISE, eta)
            np.testing.assert_allclose(float(rate), expected, rtol=1e-10, atol=1e-12)
        threshold = sdejax.theory.ms_threshold(name, ALGORITHM, PROBLEM, NOISE)
        if math.isfinite(threshold):
            rate = sdejax.generator(model, lambda y: jnp.sum(y * y), threshold)(x)
            assert abs(float(rate)) < 1e-10


def test_h1_em_factor_tends_to_the_model_rate():
    # The oracle above is the model's rate up to the O(dt) Euler–Maruyama bias.
    for name in KAPPA:
        for eta in (0.8, 1.4, 4.7):
            c = sdejax.theory.ms_growth_rate(name, ALGORITHM, PROBLEM, NOISE, eta)
            rate = math.log(_one_step_factor(name, eta, m=200_000)) / eta
            assert abs(rate - c) < 1e-4 * (1 + abs(c))


def test_h1_thresholds_from_stability_sweep(key):
    """Through stability_sweep: corrected crosses zero at the discrete η*, as discrete does."""
    # The grid spans about ±5 threshold SEs (SE ≈ 0.08 here) so that the crossing lies inside
    # it for any key; the tolerance below is z·SE whatever the grid.
    etas = np.linspace(1.0, 1.8, 9)
    ds = sdejax.stability_sweep(
        ALGORITHM,
        PROBLEM,
        NOISE,
        x0=jnp.ones(D),
        learning_rates=etas,
        steps=60,
        n_paths=1000,
        key=key,
        models=("discrete", "corrected"),
    )
    eta_star = sdejax.theory.ms_threshold("discrete", ALGORITHM, PROBLEM, NOISE)
    assert abs(eta_star - 1.4035) < 1e-4
    z = z_for(1e-4 / 2)
    for name in ("discrete", "corrected"):
        rates = ds.ms_growth_rate.sel(model=name).values
        se = ds.ms_growth_rate_se.sel(model=name).values
        slope = np.polyfit(etas, rates, 1)[0]
        threshold = sdejax.threshold(ds, name)
        # SE of the crossing: rate SE near η* over the slope (delta method).
        near = np.argsort(np.abs(etas - eta_star))[:2]  # the two grid points around η*
        threshold_se = float(np.max(se[near])) / slope
        assert abs(threshold - eta_star) < z * threshold_se, (name, threshold, threshold_se)
    # SME-1 and SME-2 (no threshold near η*) are checked exactly by the generator test.


def test_h1_diagonal_quadratic_discrete_matrix_is_identity_plus_eta_rate_matrix(key):
    """Diagonal quadratic: the discrete one-step matrix A of (E x_j²)_j equals I + ηB, B the
    corrected model's rate matrix (from its generator applied to x_j²), so their thresholds
    coincide (docs/theory.md §6 H1)."""
    lam = jnp.array([0.5, 1.0, 2.0])
    problem = sdejax.Quadratic(lam)
    algorithm = sdejax.DCSGD(sdejax.BernoulliSparsifier(0.5), 4)
    noise = sdejax.AffineGaussianNoise(0.0, 0.2)
    corrected = sdejax.make_model("corrected", algorithm, problem, noise)
    discrete = sdejax.make_model("discrete", algorithm, problem, noise)
    step = jax.jit(jax.vmap(discrete.step, in_axes=(0, None, None, None)))
    eye = jnp.eye(3)
    z = z_for(1e-4 / 18)
    radii = []
    for eta in (0.6, 0.9):
        rate = np.array(
            [
                [sdejax.generator(corrected, lambda x, j=j: x[j] ** 2, eta)(eye[k]) for k in range(3)]
                for j in range(3)
            ]
        )
        predicted = np.eye(3) + eta * rate
        for k in range(3):
            x1 = step(jr.split(jr.fold_in(key, k), 20_000), eye[k], jnp.asarray(eta), jnp.asarray(1.0))
            squares = np.asarray(x1**2)
            se = squares.std(0, ddof=1) / math.sqrt(squares.shape[0])
            assert np.all(np.abs(squares.mean(0) - predicted[:, k]) < z * se + 1e-12), (eta, k)
        radii.append(max(abs(np.linalg.eigvals(predicted))))
    # Exact discrete threshold here is 0.75 (the λ = 2 coordinate): below it stable, above not.
    assert radii[0] < 1 < radii[1]


def test_h2_deterministic_limit(key):
    # ω = 0, σ = 0: corrected and GD stop at η = 2/λ; SME-1 and SME-2 never do.
    etas = np.array([0.5, 1.0, 1.5, 1.9, 2.1, 2.5, 3.0, 4.0])
    ds = sdejax.stability_sweep(
        sdejax.DSGD(2),
        sdejax.Quadratic(jnp.ones(2)),
        sdejax.GaussianNoise(0.0),
        x0=jnp.ones(2),
        learning_rates=etas,
        steps=20,
        n_paths=2,
        key=key,
        models=("discrete", "corrected", "sme1", "sme2"),
    )
    for name in ("discrete", "corrected"):
        assert abs(sdejax.threshold(ds, name) - 2.0) < 0.01
    for name in ("sme1", "sme2"):
        assert math.isnan(sdejax.threshold(ds, name))


def _quartic_run(model, eta, x0, key, substeps=10, steps=100):
    return sdejax.simulate(
        sdejax.DSGD(1),
        sdejax.Quartic(1),
        sdejax.GaussianNoise(0.0),
        x0=jnp.array([x0]),
        learning_rate=eta,
        steps=steps,
        n_paths=1,
        key=key,
        model=model,
        sde_substeps=substeps,
        save_every=steps,
    )


def test_h3_quartic(key):
    eta = 0.1
    # GD diverges iff η x0² > 2.
    for product, diverges in ((1.9, False), (2.1, True)):
        ds = _quartic_run("discrete", eta, math.sqrt(product / eta), key)
        assert bool(ds.diverged_fraction[-1] == 1.0) == diverges, product
    # The corrected ODE dX = (−X³ + (3η/2)X⁵) dt blows up iff η X0² > 2/3: a factor 3 more
    # conservative than GD (docs/theory.md §6 H3, shown as it is).
    for product, diverges in ((0.6, False), (0.75, True)):
        ds = _quartic_run("corrected", eta, math.sqrt(product / eta), key)
        assert bool(ds.diverged_fraction[-1] == 1.0) == diverges, product
        if not diverges:
            assert float(ds.loss_mean[-1]) < 0.25 * (product / eta) ** 2
    # SME-1 and SME-2 converge for every η (here past GD's limit). Euler–Maruyama must resolve
    # the stiff start: dt·|∂drift/∂x| < 2 needs m ≈ 100 substeps for SME-2 at η x0² = 3.
    for name in ("sme1", "sme2"):
        for product in (2.1, 3.0):
            ds = _quartic_run(name, eta, math.sqrt(product / eta), key, substeps=100)
            assert float(ds.diverged_fraction[-1]) == 0.0
            assert float(ds.loss_mean[-1]) < 0.25 * (product / eta) ** 2 / 10
