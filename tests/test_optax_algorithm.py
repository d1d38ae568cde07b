"""OptaxAlgorithm, the built-ins as optax chains, EF21, per_worker, heterogeneous workers.

Exact oracles: heavy ball's companion matrix, EF21's fixed point and one-step moments, the
optim chains themselves (bitwise), the mean recursion of unbiased DCSGD on a shifted quadratic,
and gradient descent on a per-worker least-squares problem.
"""

import chex
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
import pytest
from helpers import z_for

import sdejax
from sdejax import optim
from sdejax._engine import _sweep
from sdejax._results._threshold import _crossing

FALSE_ALARM = 1e-3
NOISE_FREE = sdejax.GaussianNoise(0.0)


def _iterate(model, x0, learning_rate, steps, key, n_paths=1, schedule=None):
    """Positions of ``n_paths`` paths of ``model`` after each of ``steps`` steps (paths, steps, d)."""

    @jax.jit
    def run(key):
        def one_path(key_path):
            def body(state, k):
                multiplier = 1.0 if schedule is None else schedule(k)
                state = model.step(jr.fold_in(key_path, k), state, learning_rate, multiplier)
                return state, model.position(state)

            state0 = model.init(jr.fold_in(key_path, steps), x0, learning_rate)
            return jax.lax.scan(body, state0, jnp.arange(steps))[1]

        return jax.vmap(one_path)(jr.split(key, n_paths))

    return np.asarray(run(key))


# --------------------------------------------------------------------------- heavy ball
BETA, LAM = 0.5, 2.0


def _heavy_ball(learning_rate, key):
    del key
    return optax.chain(
        optim.aggregate_workers(), optax.trace(decay=BETA), optax.scale_by_learning_rate(learning_rate)
    )


def _heavy_ball_rate(eta):
    """Exact mean-square rate per unit time of heavy ball on f = λx²/2 without noise.

    m' = βm + λx, x' = x − η m' is x_{k+1} = (1 + β − ηλ) x_k − β x_{k−1}: the companion
    matrix [[1 + β − ηλ, −β], [1, 0]] with spectral radius ρ, so x_k² grows like ρ^{2k} and
    the rate per unit time is 2 log ρ / η (ρ < 1 iff 0 < ηλ < 2(1 + β) for 0 <= β < 1).
    """
    roots = np.roots([1.0, -(1.0 + BETA - eta * LAM), BETA])
    return 2.0 * np.log(np.max(np.abs(roots))) / eta


def test_heavy_ball_stable_iff_eta_lambda_below_two_one_plus_beta():
    algorithm = sdejax.OptaxAlgorithm(_heavy_ball, 2)
    problem = sdejax.Quadratic(jnp.array([LAM]))
    # Grid around η* = 2(1 + β)/λ = 1.5, inside the region of real companion roots
    # (ηλ >= (1 + √β)² ≈ 2.91): there x_k has no oscillating envelope and the windowed rate
    # equals 2 log ρ / η up to (β/ρ)^(2·burn-in steps), below 1e-15 here.
    etas = np.linspace(1.47, 1.59, 7)
    common = dict(x0=jnp.ones(1), steps=300, n_paths=4, key=jr.key(0), progress=False)
    ds = sdejax.stability_sweep(algorithm, problem, NOISE_FREE, learning_rates=etas, **common)
    rate = ds.ms_growth_rate.sel(model="discrete").values
    exact = np.array([_heavy_ball_rate(eta) for eta in etas])
    # Every grid point is at least 0.05 from 0 in exact rate: the sign is exact.
    assert np.all(np.abs(exact) > 0.05)
    np.testing.assert_array_equal(np.sign(rate), np.sign(exact))
    assert np.all(ds.diverged_fraction.values[..., etas < 1.5] == 0)

    # η* from the measured rates vs 2(1 + β)/λ. Tolerance: z·SE (the reported SE), plus the
    # bias of interpolating the rate on this grid, computed by running the same interpolation
    # on the exact rates, plus float64 rounding of 300 summed logs (300·2⁻⁵² ≈ 7e-14 per rate,
    # times 1/slope ≈ 0.2 on η*: 1e-12 bounds it).
    measured = sdejax.threshold(ds)
    truth = 2.0 * (1.0 + BETA) / LAM
    interpolated, _, bound = _crossing(exact, np.zeros_like(exact), etas)
    assert measured.bound == bound == "inside"
    bias = abs(interpolated - truth)
    assert abs(measured - truth) <= z_for(FALSE_ALARM) * measured.se + bias + 1e-12
    assert bias < 1e-3  # the grid is fine enough for the comparison to mean something

    # A new η is a new value, never a new program.
    before = _sweep.TRACE_COUNT["value"]
    sdejax.stability_sweep(algorithm, problem, NOISE_FREE, learning_rates=etas + 0.001, **common)
    assert _sweep.TRACE_COUNT["value"] == before


# --------------------------------------------------------------------------- EF21
SHIFTS = jnp.array([[3.0, 0.0], [0.0, 1.0]])  # two workers, f_i = ½‖x − b_i‖², b̄ = (1.5, 0.5)


def _ef21_top_k(learning_rate, key):
    del key
    return optax.chain(
        optim.error_feedback(sdejax.TopK(1), n_workers=2),
        optim.aggregate_workers(),
        optax.scale_by_learning_rate(learning_rate),
    )


def test_ef21_top_k_reaches_the_mean_minimizer_where_top_k_stalls():
    # Heterogeneous workers, no noise. EF21's fixed point has c_i = 0, so g_i = ∇f_i(x) and
    # the server's ĝ = ∇f(x) = 0: x = b̄. TopK without feedback stops wherever the workers'
    # top coordinates cancel: from x0 = 0 both workers soon keep only coordinate 1 (|x_1 − 3|
    # and |x_1| dominate), which cancel at x_1 = 1.5 while x_2 never moves again.
    problem = sdejax.Quadratic(jnp.ones(2), shifts=SHIFTS)
    b_bar = np.array([1.5, 0.5])
    ef21 = sdejax.simulate(
        sdejax.OptaxAlgorithm(_ef21_top_k, 2), problem, NOISE_FREE, x0=jnp.zeros(2), learning_rate=0.3,
        steps=200, n_paths=2, key=jr.key(0), save_every=50,
    )  # fmt: skip
    assert ef21.attrs["sampling"] == "per_worker"
    # x_norm_sq and grad_norm_sq refer to the mean objective: ‖x − b̄‖² and ‖∇f‖² (= ‖x − b̄‖²).
    assert ef21.x_norm_sq_mean.values[-1] < 1e-20 and ef21.grad_norm_sq_mean.values[-1] < 1e-20
    # Its loss is the mean objective's minimum, (1/N) Σ ½‖b_i − b̄‖² = 1.25.
    np.testing.assert_allclose(ef21.loss_mean.values[-1], 1.25, rtol=1e-12)
    model = sdejax.DiscreteModel(sdejax.DCSGD(sdejax.TopK(1), 2), problem, NOISE_FREE)
    path = _iterate(model, jnp.zeros(2), 0.3, 200, jr.key(1))[0]
    x = path[-1]
    assert np.sum((x - b_bar) ** 2) > 0.04  # biased: ∇f(x) = x − b̄ ≠ 0 at the limit
    np.testing.assert_array_equal(path[-50:], np.broadcast_to(x, (50, 2)))  # stalled
    # ... at a fixed point of TopK-DCSGD: the mean of the kept coordinates is 0.
    np.testing.assert_array_equal(model.step(jr.key(2), jnp.asarray(x), 0.3, 1.0), x)


def test_top_k_has_no_bias_with_identical_workers():
    # Identical workers: TopK(∇f) = 0 only where ∇f = 0, so both methods reach the minimizer.
    problem = sdejax.Quadratic(jnp.array([1.0, 0.5]))
    for algorithm in (sdejax.OptaxAlgorithm(_ef21_top_k, 2), sdejax.DCSGD(sdejax.TopK(1), 2)):
        model = sdejax.DiscreteModel(algorithm, problem, NOISE_FREE)
        x = _iterate(model, jnp.array([1.0, -2.0]), 0.3, 300, jr.key(0))[0, -1]
        assert np.sum(x**2) < 1e-20, (type(algorithm).__name__, x)


N_EF, D_EF = 3, 4
GRADS = jnp.array([[1.0, -2.0, 0.5, 0.0], [0.3, 0.7, -1.5, 2.0], [-1.0, 0.0, 0.4, 0.9]])
MEMORY = jnp.array([[0.5, -1.0, 0.0, 0.2], [0.0, 1.0, -1.0, 1.0], [0.2, -0.3, 0.0, 0.0]])


def _ef21_server(compressor, key=None):
    return optax.chain(optim.error_feedback(compressor, n_workers=N_EF, key=key), optim.aggregate_workers())


def test_ef21_first_step_sends_the_gradient_and_top_k_step_is_exact():
    params = jnp.zeros(D_EF)
    chain = _ef21_server(sdejax.TopK(1))
    state = chain.init(params)
    first, state = chain.update(GRADS, state, params)  # g_i⁰ = ∇_i: ĝ = mean ∇_i
    np.testing.assert_allclose(first, GRADS.mean(0), rtol=1e-15)
    estimates = np.asarray(state[0].estimates)
    np.testing.assert_array_equal(estimates, GRADS)
    new = GRADS[::-1] * 0.5
    second, state = chain.update(new, state, params)
    # g_i ← g_i + TopK(∇_i − g_i), by hand
    difference = np.asarray(new - GRADS)
    top = np.zeros_like(difference)
    rows = np.arange(N_EF)
    cols = np.argmax(np.abs(difference), axis=1)
    top[rows, cols] = difference[rows, cols]
    np.testing.assert_allclose(state[0].estimates, GRADS + top, rtol=1e-15)
    np.testing.assert_allclose(second, (GRADS + top).mean(0), rtol=1e-15)
    # With the identity compressor every step gives the plain mean gradient.
    identity = _ef21_server(sdejax.Identity())
    state = identity.init(params)
    for g in (GRADS, new, GRADS * 2):
        out, state = identity.update(g, state, params)
        np.testing.assert_allclose(out, g.mean(0), rtol=1e-14)


def test_ef21_one_step_mean_and_variance_match_hand_computation():
    # Worker i holds g_i (MEMORY) and sees ∇_i (GRADS); with C a Bernoulli(p) sparsifier,
    # ĝ_j = (1/N) Σ_i (g_ij + δ_ij B_ij/p), δ = ∇ − g, B_ij ~ Bernoulli(p) independent. So
    # E ĝ_j = (1/N) Σ_i ∇_ij, and with Y_i = δ_ij (B_ij/p − 1)/N (independent, mean 0):
    # Var ĝ_j = Σ_i σ_i², σ_i² = δ_ij² (1 − p)/(p N²); E Y_i⁴ = δ_ij⁴ [(1 − p)⁴/p³ + (1 − p)]/N⁴,
    # μ4(ĝ_j) = Σ_i E Y_i⁴ + 3[(Σ_i σ_i²)² − Σ_i σ_i⁴].
    p, m = 0.3, 20_000
    params = jnp.zeros(D_EF)
    chain = _ef21_server(sdejax.BernoulliSparsifier(p), key=jr.key(0))
    state = chain.init(params)
    inner = state[0]._replace(count=jnp.ones([], jnp.int32), estimates=MEMORY)

    def draw(key):
        s = (inner._replace(compressor_state=inner.compressor_state._replace(key=key)),) + state[1:]
        return chain.update(GRADS, s, params)[0]

    u = np.asarray(jax.jit(jax.vmap(draw))(jr.split(jr.key(1), m)))
    delta = np.asarray(GRADS - MEMORY)
    sigma2 = delta**2 * (1 - p) / (p * N_EF**2)
    var = sigma2.sum(0)
    fourth = (delta**4 * ((1 - p) ** 4 / p**3 + (1 - p)) / N_EF**4).sum(0)
    mu4 = fourth + 3 * (var**2 - (sigma2**2).sum(0))
    z = z_for(FALSE_ALARM / (2 * D_EF))  # Bonferroni over coordinates and the two moments
    # SE of the sample mean sqrt(Var/M); of the sample variance sqrt((μ4 − Var²)/M).
    assert np.all(np.abs(u.mean(0) - np.asarray(GRADS.mean(0))) < z * np.sqrt(var / m))
    assert np.all(np.abs(u.var(0) - var) < z * np.sqrt((mu4 - var**2) / m))


def test_ef21_on_devices_matches_simulated_workers():
    # axis_name: each mapped worker keeps its own g_i and draws from fold_in(key, i), the
    # stream of simulated worker i; jax.vmap with an axis name stands in for shard_map.
    params = jnp.zeros(D_EF)
    simulated = _ef21_server(sdejax.RandK(2), key=jr.key(5))
    real = optax.chain(
        optim.error_feedback(sdejax.RandK(2), key=jr.key(5), axis_name="workers"),
        optim.aggregate_workers(axis_name="workers"),
    )
    state = simulated.init(params)
    device_state = jax.tree_util.tree_map(lambda leaf: jnp.stack([leaf] * N_EF), real.init(params))
    devices = jax.jit(jax.vmap(lambda gi, si: real.update(gi, si, params), axis_name="workers"))
    for g in (GRADS, GRADS * 0.5 - 1.0, -GRADS):
        reference, state = simulated.update(g, state, params)
        out, device_state = devices(g, device_state)
        np.testing.assert_allclose(out, jnp.broadcast_to(reference, out.shape), rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(device_state[0].estimates, state[0].estimates, rtol=1e-14, atol=1e-15)


def test_error_feedback_needs_n_workers_and_checks_it():
    with pytest.raises(ValueError, match="n_workers=N"):
        optim.error_feedback(sdejax.TopK(1))
    chain = optim.error_feedback(sdejax.TopK(1), n_workers=2)
    with pytest.raises(ValueError, match="3 workers.*n_workers=2"):
        chain.update(GRADS, chain.init(jnp.zeros(D_EF)), jnp.zeros(D_EF))
    with pytest.raises(ValueError, match="`key` is required"):
        optim.error_feedback(sdejax.RandK(1), n_workers=2)


# --------------------------------------------------------------------------- per_worker
def test_per_worker_applies_the_transformation_to_each_worker():
    params = jnp.zeros(D_EF)
    clip = optim.per_worker(optax.clip_by_global_norm(1.0))
    out, _ = clip.update(GRADS, clip.init(params), params)
    norms = np.linalg.norm(np.asarray(GRADS), axis=1, keepdims=True)
    np.testing.assert_allclose(out, np.asarray(GRADS) * np.minimum(1.0, 1.0 / norms), rtol=1e-14)
    # a stateful transformation keeps one state per worker, fed only that worker's updates
    momentum = optim.per_worker(optax.trace(decay=0.5), n_workers=N_EF)
    state = momentum.init(params)
    chex.assert_shape(state.inner_state.trace, (N_EF, D_EF))
    out1, state = momentum.update(GRADS, state, params)
    out2, state = momentum.update(MEMORY, state, params)
    np.testing.assert_allclose(out2, 0.5 * GRADS + MEMORY, rtol=1e-15)
    with pytest.raises(ValueError, match="pass n_workers=N"):
        optim.per_worker(optax.trace(decay=0.5)).init(params)


def test_per_worker_keys_are_distinct_across_workers():
    def noisy():
        return optax.GradientTransformation(
            lambda params: {"key": jr.key(0)},
            lambda updates, state, params=None: (
                updates + jr.normal(state["key"], updates.shape),
                {"key": jr.split(state["key"])[0]},
            ),
        )

    chain = optim.per_worker(noisy(), n_workers=N_EF)
    out, _ = chain.update(jnp.zeros((N_EF, D_EF)), chain.init(jnp.zeros(D_EF)), jnp.zeros(D_EF))
    assert len({tuple(row) for row in np.asarray(out)}) == N_EF


# --------------------------------------------------------------------------- the built-ins are chains
PROBLEM = sdejax.Quadratic(jnp.array([1.0, 2.0, 0.5]))
X = jnp.array([0.8, -0.3, 0.4])
NOISE = sdejax.AffineGaussianNoise(0.1, 0.3)
BUILTINS = {
    "dcsgd": (sdejax.DCSGD(sdejax.RandK(2), 4), lambda lr, key: optim.dcsgd(lr, sdejax.RandK(2), key=key)),
    "dsgd": (sdejax.DSGD(4), lambda lr, key: optim.dcsgd(lr, sdejax.Identity(), key=key)),
    "dsignsgd": (sdejax.DSignSGD(4, vote="majority"), lambda lr, key: optim.dsignsgd(lr, vote="majority")),
    "normalized": (
        sdejax.NormalizedDCSGD(sdejax.BernoulliSparsifier(0.5), 4),
        lambda lr, key: optim.normalized_dcsgd(lr, sdejax.BernoulliSparsifier(0.5), key=key),
    ),
}


@pytest.mark.parametrize("name", list(BUILTINS))
def test_builtin_step_is_its_optim_chain(name):
    # The per-worker step is x + η_k · (the sdejax.optim chain's update), bit for bit, and an
    # OptaxAlgorithm around the same chain runs exactly the same path (its state's key is
    # re-drawn from the step key as the built-in's chain is built from it).
    algorithm, make = BUILTINS[name]
    model = sdejax.DiscreteModel(algorithm, PROBLEM, NOISE, sampling="per_worker")
    wrapped = sdejax.DiscreteModel(sdejax.OptaxAlgorithm(make, 4), PROBLEM, NOISE)

    @jax.jit
    def run(key):
        key_noise, key_chain = jr.split(key)
        g = PROBLEM.gradient(X)
        grads = g[None, :] + NOISE.sample(key_noise, g, 4)
        chain = make(0.1, key_chain)
        updates, _ = chain.update(grads, chain.init(X), X)
        x, state = X, wrapped.init(jr.key(9), X, 0.1)
        for k in range(3):
            x = model.step(jr.fold_in(key, k), x, 0.1, 1.0)
            state = wrapped.step(jr.fold_in(key, k), state, 0.1, 1.0)
        return model.step(key, X, 0.1, 0.5), X + 0.5 * updates, x, wrapped.position(state)

    step, reference, path, wrapped_path = run(jr.key(3))
    np.testing.assert_array_equal(step, reference)
    np.testing.assert_array_equal(wrapped_path, path)


def test_dsgd_is_dcsgd_with_identity_everywhere():
    dsgd, dcsgd = sdejax.DSGD(4), sdejax.DCSGD(sdejax.Identity(), 4)
    assert dsgd == dcsgd
    noise = sdejax.GaussianNoise(0.3)
    a, b = sdejax.DiscreteModel(dsgd, PROBLEM, noise), sdejax.DiscreteModel(dcsgd, PROBLEM, noise)
    assert a == b and a.sampler is b.sampler and a.sampling == "aggregate"
    for name in ("sme1", "corrected"):
        assert sdejax.make_model(name, dsgd, PROBLEM, noise) == sdejax.make_model(name, dcsgd, PROBLEM, noise)
    with pytest.raises(ValueError, match="n_workers"):
        sdejax.DSGD(0)


def test_inject_hyperparams_schedule_equals_the_engine_schedule():
    def decaying(learning_rate, key):
        del key
        return optax.chain(
            optim.aggregate_workers(),
            optax.inject_hyperparams(optax.sgd)(learning_rate=lambda count: learning_rate * 0.9**count),
        )

    noise = sdejax.GaussianNoise(0.3)
    stateful = sdejax.DiscreteModel(sdejax.OptaxAlgorithm(decaying, 3), PROBLEM, noise)
    engine = sdejax.DiscreteModel(sdejax.DSGD(3), PROBLEM, noise, sampling="per_worker")
    ours = _iterate(stateful, X, 0.2, 20, jr.key(0), n_paths=2)
    reference = _iterate(engine, X, 0.2, 20, jr.key(0), n_paths=2, schedule=lambda k: 0.9**k)
    np.testing.assert_allclose(ours, reference, rtol=1e-12, atol=1e-14)


# --------------------------------------------------------------------------- errors
def test_sde_models_and_bad_chains_raise_clear_errors():
    algorithm = sdejax.OptaxAlgorithm(_heavy_ball, 2)
    for name in ("sme1", "sme2", "corrected"):
        with pytest.raises(ValueError, match="SDE models exist only for the built-in algorithms"):
            sdejax.make_model(name, algorithm, PROBLEM, NOISE)
    with pytest.raises(TypeError, match="`make` must be a callable"):
        sdejax.OptaxAlgorithm(optax.sgd(0.1), 2)
    unaggregated = sdejax.OptaxAlgorithm(lambda lr, key: optax.sgd(lr), 2)
    with pytest.raises(ValueError, match=r"update must have the shape of x, \(3,\)"):
        unaggregated.check(PROBLEM, NOISE)

    def growing(learning_rate, key):
        def update(updates, state, params=None):
            return jnp.mean(updates, 0), jnp.concatenate([state, state])

        return optax.GradientTransformation(lambda params: jnp.zeros(1), update)

    with pytest.raises(ValueError, match="structure and shapes that `init` gives"):
        sdejax.OptaxAlgorithm(growing, 2).check(PROBLEM, NOISE)

    def branching(learning_rate, key):
        if learning_rate > 1:  # Python control flow on a traced value
            raise AssertionError
        return _heavy_ball(learning_rate, key)

    with pytest.raises(ValueError, match="traced learning rate"):
        sdejax.simulate(
            sdejax.OptaxAlgorithm(branching, 2), PROBLEM, NOISE, x0=X, learning_rate=0.1, steps=2,
            n_paths=2, key=jr.key(0),
        )  # fmt: skip


# --------------------------------------------------------------------------- heterogeneous workers
def test_unbiased_dcsgd_on_shifted_quadratic_converges_in_mean_to_mean_of_shifts():
    # f_i = ½ (x − b_i)ᵀ H (x − b_i): E[update | x] = −η H (x − b̄) for DCSGD with any unbiased
    # compressor (here the identity: DSGD), so E x_k = b̄ + (I − ηH)^k (x0 − b̄) exactly [derived].
    shifts = jnp.array([[1.0, -2.0, 0.5], [3.0, 0.0, -1.0], [-1.0, 1.0, 2.0], [0.5, 0.5, 0.5]])
    problem = sdejax.Quadratic(jnp.array([1.0, 2.0, 0.5]), shifts=shifts)
    b_bar = np.asarray(shifts.mean(0))
    eta, steps, m = 0.2, 30, 4000
    x0 = jnp.zeros(3)
    expected = b_bar + (1 - eta * np.array([1.0, 2.0, 0.5])) ** steps * (np.asarray(x0) - b_bar)
    z = z_for(FALSE_ALARM / 3)  # Bonferroni over the 3 coordinates
    model = sdejax.DiscreteModel(sdejax.DCSGD(sdejax.Identity(), 4), problem, sdejax.GaussianNoise(0.5))
    assert model.sampling == "per_worker"  # heterogeneous: no aggregate sampler
    x = _iterate(model, x0, eta, steps, jr.key(1), n_paths=m)[:, -1]
    se = x.std(0, ddof=1) / np.sqrt(m)  # the paths are independent
    assert np.all(np.abs(x.mean(0) - expected) < z * se), (x.mean(0), expected, se)


def test_simulate_reports_the_mean_objective_on_shifted_workers():
    # DSGD on f_i = ½ Σ_j λ_j (x_j − b_ij)²: the mean gradient is H(x − b̄), so from x0 = b̄ the
    # error e = x − b̄ follows e' = (1 − ηλ) e − η ξ, ξ ~ N(0, σ²/N) per coordinate, and
    # E e_{j,K}² = s_j (1 − (1 − ηλ_j)^{2K}) with s_j = ησ²/(Nλ_j(2 − ηλ_j)) [derived]. The
    # loss is the mean objective: E f = Σ_j ½ λ_j E e_j² + (1/N) Σ_i ½ (b_i − b̄)ᵀ H (b_i − b̄).
    lam = np.array([1.0, 2.0])
    shifts = np.array([[1.0, -1.0], [3.0, 0.0], [-1.0, 2.0]])
    problem = sdejax.Quadratic(jnp.asarray(lam), shifts=jnp.asarray(shifts))
    b_bar = shifts.mean(0)
    eta, sigma, n, steps = 0.3, 0.5, 3, 40
    ds = sdejax.simulate(
        sdejax.DCSGD(sdejax.Identity(), n), problem, sdejax.GaussianNoise(sigma), x0=jnp.asarray(b_bar),
        learning_rate=eta, steps=steps, n_paths=4000, key=jr.key(2), save_every=steps,
    )  # fmt: skip
    assert ds.attrs["sampling"] == "per_worker"
    e2 = eta * sigma**2 / (n * lam * (2 - eta * lam)) * (1 - (1 - eta * lam) ** (2 * steps))
    spread = np.mean(np.sum(0.5 * lam * (shifts - b_bar) ** 2, axis=1))
    z = z_for(FALSE_ALARM / 3)  # three checks
    final = ds.isel(time=-1)
    assert abs(float(final.x_norm_sq_mean) - e2.sum()) < z * float(final.x_norm_sq_se)
    assert abs(float(final.grad_norm_sq_mean) - np.sum(lam**2 * e2)) < z * float(final.grad_norm_sq_se)
    assert abs(float(final.loss_mean) - (np.sum(0.5 * lam * e2) + spread)) < z * float(final.loss_se)


def _least_squares():
    """Per-worker least squares f_i(x) = ‖A_i x − y_i‖²/(2m) on fixed random data."""
    rng = np.random.default_rng(0)
    n, m, d = 3, 8, 3
    a = rng.normal(size=(n, m, d)) + np.array([0.0, 1.0, -1.0])[:, None, None]  # shards differ
    y = rng.normal(size=(n, m))
    hessian = np.einsum("imd,ime->de", a, a) / (n * m)
    minimizer = np.linalg.solve(hessian, np.einsum("imd,im->d", a, y) / (n * m))
    a_j, y_j = jnp.asarray(a), jnp.asarray(y)

    def loss(x, i):
        r = a_j[i] @ x - y_j[i]
        return 0.5 * jnp.mean(r * r)

    problem = sdejax.LossProblem(loss, d, n_workers=n, minimizer=minimizer)
    return problem, hessian, minimizer, a, y


def test_per_worker_least_squares_end_to_end():
    # Noise-free DSGD is gradient descent on the mean objective: the sweep's mean-square rate
    # has the sign of the exact GD rate 2 log max_j|1 − ηλ_j(H̄)| / η, its threshold is
    # 2/λ_max(H̄), and where it is stable the final loss is the mean objective's minimum f(x*)
    # (0.8 and 0.9 of the threshold contract by at most max(|1 − ηλ_min|, ηλ_max − 1) <= 0.8 per
    # step: 0.8^400 of the squared error is left after 200 steps).
    problem, hessian, minimizer, a, y = _least_squares()
    lam = np.linalg.eigvalsh(hessian)
    threshold = 2.0 / lam[-1]
    etas = threshold * np.array([0.8, 0.9, 0.95, 1.05, 1.1, 1.2])
    sweep = sdejax.stability_sweep(
        sdejax.DSGD(3), problem, NOISE_FREE, x0=jnp.zeros(3), learning_rates=etas, steps=200, n_paths=2,
        key=jr.key(0), progress=False,
    )  # fmt: skip
    assert sweep.attrs["sampling"] == "per_worker"
    exact = np.array([2 * np.log(np.max(np.abs(1 - e * lam))) / e for e in etas])
    np.testing.assert_array_equal(np.sign(sweep.ms_growth_rate.values.ravel()), np.sign(exact))
    measured = sdejax.threshold(sweep)
    assert etas[2] < measured < etas[3]
    f_star = np.mean(0.5 * np.mean((a @ minimizer - y) ** 2, axis=1))
    np.testing.assert_allclose(sweep.final_loss_mean.values.ravel()[:2], f_star, rtol=1e-12)
