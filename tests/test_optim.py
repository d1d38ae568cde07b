"""sdejax.optim: exact equivalences with optax, aggregation rules, a real training loop."""

import subprocess
import sys
import textwrap

import chex
import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
import pytest

import sdejax

PARAMS = {"w": jnp.arange(6.0).reshape(2, 3) / 7, "b": jnp.array([0.5, -0.25])}


def _grads(key, n_workers):
    leaves, tree = jax.tree_util.tree_flatten(PARAMS)
    keys = jr.split(key, len(leaves))
    return jax.tree_util.tree_unflatten(
        tree, [jr.normal(k, (n_workers, *leaf.shape)) for k, leaf in zip(keys, leaves, strict=True)]
    )


def _run(optimizer, grads_fn, steps, params=PARAMS):
    state = optimizer.init(params)
    for k in range(steps):
        updates, state = optimizer.update(grads_fn(k), state, params)
        params = optax.apply_updates(params, updates)
    return params


@pytest.mark.parametrize("learning_rate", [0.1, optax.cosine_decay_schedule(0.2, 5)])
def test_dcsgd_one_worker_identity_is_optax_sgd(learning_rate):
    grads = [_grads(jr.key(k), 1) for k in range(5)]
    ours = _run(sdejax.optim.dcsgd(learning_rate, sdejax.Identity(), key=jr.key(0)), lambda k: grads[k], 5)
    reference = _run(optax.sgd(learning_rate), lambda k: jax.tree_util.tree_map(lambda g: g[0], grads[k]), 5)
    jax.tree_util.tree_map(np.testing.assert_array_equal, ours, reference)


def test_dsignsgd_one_worker_is_optax_sign_sgd():
    grads = [_grads(jr.key(k), 1) for k in range(5)]
    ours = _run(sdejax.optim.dsignsgd(0.05), lambda k: grads[k], 5)
    reference = _run(optax.sign_sgd(0.05), lambda k: jax.tree_util.tree_map(lambda g: g[0], grads[k]), 5)
    jax.tree_util.tree_map(np.testing.assert_array_equal, ours, reference)


def test_mean_vote_and_majority_vote():
    g = {"v": jnp.array([[1.0, -2.0, 0.0], [3.0, 1.0, -1.0], [-1.0, 4.0, -2.0]])}
    p = {"v": jnp.zeros(3)}
    mean_opt = sdejax.optim.dsignsgd(1.0)
    majority_opt = sdejax.optim.dsignsgd(1.0, vote="majority")
    mean, _ = mean_opt.update(g, mean_opt.init(p))
    majority, _ = majority_opt.update(g, majority_opt.init(p))
    np.testing.assert_allclose(mean["v"], -np.array([1 / 3, 1 / 3, -2 / 3]))
    np.testing.assert_array_equal(majority["v"], -np.array([1.0, 1.0, -1.0]))


def test_dcsgd_compresses_each_worker_independently():
    # RandK(1) on D = 8 coordinates: each worker keeps one coordinate (scaled by 8); with
    # independent randomness the workers' kept coordinates differ.
    opt = optax.chain(sdejax.optim.compress_workers(sdejax.RandK(1), key=jr.key(1)))
    g = {"v": jnp.ones((16, 8))}
    out, _ = opt.update(g, opt.init({"v": jnp.ones(8)}))
    kept = np.asarray(out["v"]) != 0
    assert np.all(kept.sum(axis=1) == 1)
    assert len({int(np.argmax(row)) for row in kept}) > 1
    np.testing.assert_array_equal(np.asarray(out["v"])[kept], 8.0)


def test_rand_k_acts_on_the_whole_pytree():
    opt = sdejax.optim.compress_workers(sdejax.RandK(2), key=jr.key(2))
    params = {"a": jnp.ones(3), "b": jnp.ones((2, 2))}
    state = opt.init(params)
    g = jax.tree_util.tree_map(lambda p: jnp.ones((5, *p.shape)), params)
    out, _ = opt.update(g, state)
    counts = sum(
        np.sum(np.asarray(leaf) != 0, axis=tuple(range(1, leaf.ndim)))
        for leaf in jax.tree_util.tree_leaves(out)
    )
    np.testing.assert_array_equal(counts, 2)
    with pytest.raises(ValueError, match="k <= d = 7"):
        sdejax.optim.compress_workers(sdejax.RandK(8), key=jr.key(0)).init(params)


def test_plain_normalization_gives_unit_steps():
    opt = sdejax.optim.normalized_dcsgd(0.3, sdejax.Identity(), key=jr.key(0))
    g = _grads(jr.key(4), 3)
    updates, _ = opt.update(g, opt.init(PARAMS))
    norm = np.sqrt(sum(np.sum(np.asarray(u) ** 2) for u in jax.tree_util.tree_leaves(updates)))
    np.testing.assert_allclose(norm, 0.3, rtol=1e-12)


def test_theory_normalization_formula():
    # D = (L0 + L1‖ĝ‖)(1 + B/N) + L1 d s0/N with B = ω + dσ1²(1 + ω), s0 = σ0²(1 + ω).
    l0, l1, n, s0, s1 = 2.0, 0.5, 4, 0.3, 0.2
    compressor = sdejax.BernoulliSparsifier(1.0)  # ω = 0 and deterministic: ĝ is the mean
    opt = sdejax.optim.normalized_dcsgd(
        1.0, compressor, key=jr.key(0), scaling="theory", l0=l0, l1=l1, n_workers=n, sigma0=s0, sigma1=s1
    )
    g = _grads(jr.key(5), n)
    updates, _ = opt.update(g, opt.init(PARAMS))
    mean = jax.tree_util.tree_map(lambda x: x.mean(axis=0), g)
    norm = np.sqrt(sum(np.sum(np.asarray(x) ** 2) for x in jax.tree_util.tree_leaves(mean)))
    d = 8
    denominator = (l0 + l1 * norm) * (1 + d * s1**2 / n) + l1 * d * s0**2 / n
    jax.tree_util.tree_map(
        lambda u, m: np.testing.assert_allclose(u, -np.asarray(m) / denominator, rtol=1e-12),
        updates,
        mean,
    )


def test_bad_arguments():
    with pytest.raises(ValueError, match="vote"):
        sdejax.optim.dsignsgd(0.1, vote="median")
    with pytest.raises(ValueError, match="scaling"):
        sdejax.optim.normalized_dcsgd(0.1, sdejax.Identity(), key=jr.key(0), scaling="x")
    with pytest.raises(TypeError, match="l0"):
        sdejax.optim.normalized_dcsgd(0.1, sdejax.Identity(), key=jr.key(0), scaling="theory")
    with pytest.raises(ValueError, match="key"):
        sdejax.optim.dcsgd(0.1, sdejax.RandK(1), key=None)
    with pytest.raises(TypeError, match="compressor"):
        sdejax.optim.dcsgd(0.1, "randk", key=jr.key(0))


# --------------------------------------------------------------------------- the worker axis
WITHOUT_WORKER_AXIS = {
    "dcsgd_identity": lambda: sdejax.optim.dcsgd(0.1, sdejax.Identity()),
    "dcsgd_bernoulli": lambda: sdejax.optim.dcsgd(0.1, sdejax.BernoulliSparsifier(0.5), key=jr.key(0)),
    "dcsgd_rand_k": lambda: sdejax.optim.dcsgd(0.1, sdejax.RandK(3), key=jr.key(0)),
    "dsignsgd_mean": lambda: sdejax.optim.dsignsgd(0.1),
    "dsignsgd_majority": lambda: sdejax.optim.dsignsgd(0.1, vote="majority"),
    "normalized": lambda: sdejax.optim.normalized_dcsgd(0.1, sdejax.TopK(2)),
    "aggregate": lambda: sdejax.optim.aggregate_workers(),
}


@pytest.mark.parametrize("name", sorted(WITHOUT_WORKER_AXIS))
@pytest.mark.parametrize("pass_params", [True, False])
def test_gradients_without_worker_axis_raise(name, pass_params):
    # Issue 10 item 1: a (65,) gradient for (65,) params used to be averaged into a () update
    # that apply_updates broadcast over every parameter (RandK: a raw top_k error).
    params = jnp.arange(65.0)
    opt = WITHOUT_WORKER_AXIS[name]()
    state = opt.init(params)
    with pytest.raises(ValueError, match=r"one leading worker axis more than `params`.*\(n_workers, 65\)"):
        opt.update(0.1 * jnp.ones(65), state, params if pass_params else None)
    updates, _ = opt.update(0.1 * jnp.ones((4, 65)), state, params if pass_params else None)
    assert updates.shape == (65,)


@pytest.mark.parametrize("pass_params", [True, False])
def test_mismatched_worker_axes_raise_the_same_clear_error(pass_params):
    params = {"a": jnp.ones(3), "b": jnp.ones(2)}
    opt = sdejax.optim.dcsgd(0.1, sdejax.RandK(2), key=jr.key(0))
    state = opt.init(params)
    p = params if pass_params else None
    with pytest.raises(ValueError, match=r"same leading worker axis.*4.*3"):
        opt.update({"a": jnp.ones((4, 3)), "b": jnp.ones((3, 2))}, state, p)
    with pytest.raises(ValueError, match=r"leaf \['b'\] has shape \(4, 3\), expected \(n_workers, 2\)"):
        opt.update({"a": jnp.ones((4, 3)), "b": jnp.ones((4, 3))}, state, p)
    with pytest.raises(ValueError, match="tree structure"):
        opt.update({"a": jnp.ones((4, 3))}, state, p)


def test_recorded_shapes_survive_jit_vmap_and_cond():
    params = {"w": jnp.ones((2, 3)), "b": jnp.zeros(2)}
    opt = sdejax.optim.dcsgd(0.1, sdejax.RandK(2), key=jr.key(0))
    grads = jax.tree_util.tree_map(lambda p: jnp.ones((4, *p.shape)), params)
    states = jax.vmap(lambda k: opt.init(params))(jnp.arange(3))  # three optimizer copies
    updates, _ = jax.jit(jax.vmap(lambda s: opt.update(grads, s)))(states)
    assert updates["w"].shape == (3, 2, 3)
    state = opt.init(params)
    through = jax.lax.cond(True, lambda s: opt.update(grads, s)[1], lambda s: s, state)
    chex.assert_trees_all_equal_shapes_and_dtypes(through, state)
    with pytest.raises(ValueError, match="worker axis"):
        jax.jit(lambda s: opt.update(params, s))(state)


# --------------------------------------------------------------------------- small ones (item 8)
@pytest.mark.parametrize(
    "make",
    [
        lambda lr: sdejax.optim.dcsgd(lr, sdejax.Identity()),
        lambda lr: sdejax.optim.dsignsgd(lr),
        lambda lr: sdejax.optim.normalized_dcsgd(lr, sdejax.Identity()),
    ],
)
@pytest.mark.parametrize("learning_rate", [-0.1, -1, float("nan"), float("inf"), np.array([-1.0])])
def test_negative_or_non_finite_learning_rate_raises(make, learning_rate):
    with pytest.raises(ValueError, match="`learning_rate` must be finite and >= 0"):
        make(learning_rate)


def test_learning_rate_of_the_wrong_type_raises():
    with pytest.raises(TypeError, match="`learning_rate`"):
        sdejax.optim.dsignsgd("0.1")
    with pytest.raises(TypeError, match="`learning_rate`"):
        sdejax.optim.dsignsgd(1j)


@pytest.mark.parametrize("compressor", [sdejax.Identity(), sdejax.TopK(2), sdejax.Sign()])
def test_deterministic_compressors_need_no_key(compressor):
    params = jnp.arange(4.0)
    g = jnp.array([[1.0, -2.0, 3.0, 0.5], [0.0, 1.0, -1.0, 2.0]])
    for opt in (
        sdejax.optim.dcsgd(0.1, compressor),
        sdejax.optim.compress_workers(compressor),
        sdejax.optim.normalized_dcsgd(0.1, compressor),
    ):
        updates, _ = opt.update(g, opt.init(params), params)
        assert updates.shape[-1] == 4
    with pytest.raises(ValueError, match="`key` is required.*BernoulliSparsifier"):
        sdejax.optim.dcsgd(0.1, sdejax.BernoulliSparsifier(0.5))


@pytest.mark.parametrize("vote", ["mean", "majority"])
def test_zero_vote_gives_minus_zero_like_optax_and_never_moves_a_parameter(vote):
    # Documented choice (optim/_alias.py): the update is −η·u as in optax, so u = 0 gives −0.0;
    # it is bitwise what optax.sign_sgd gives, and applying it changes no parameter's bits.
    g = jnp.array([[1.0, -1.0, 0.0, 0.0], [-1.0, 1.0, 0.0, 0.0]])
    params = jnp.array([0.0, -0.0, 1.5, -0.0])
    opt = sdejax.optim.dsignsgd(0.1, vote=vote)
    updates, _ = opt.update(g, opt.init(params), params)
    np.testing.assert_array_equal(np.signbit(updates), True)
    assert np.all(np.asarray(updates) == 0)
    reference, _ = optax.sign_sgd(0.1).update(jnp.zeros(4), optax.sign_sgd(0.1).init(params), params)
    np.testing.assert_array_equal(np.signbit(reference), True)
    new = optax.apply_updates(params, updates)
    np.testing.assert_array_equal(np.asarray(new).view(np.int64), np.asarray(params).view(np.int64))


def test_inject_hyperparams_recipe():
    # Documented in optim/_alias.py: optax treats callables as schedules, and a compressor is
    # callable, so it must be a static argument; the learning rate then lives in the state.
    params = jnp.arange(5.0)
    g = jnp.ones((3, 5))
    opt = optax.inject_hyperparams(sdejax.optim.dcsgd, static_args=("compressor",))(
        learning_rate=0.1, compressor=sdejax.RandK(2), key=jr.key(0)
    )
    state = opt.init(params)
    step = jax.jit(opt.update)
    first, state = step(g, state, params)
    # RandK(2) of 5 keeps 2 coordinates scaled by 5/2: each worker's update sums to 5.
    assert first.shape == (5,) and np.isclose(float(jnp.sum(first)), -0.1 * 5)
    state.hyperparams["learning_rate"] = jnp.asarray(0.2)
    second, _ = step(g, state, params)
    assert np.isclose(float(jnp.sum(second)), -0.2 * 5)
    sign = optax.inject_hyperparams(sdejax.optim.dsignsgd)(0.1, vote="majority")
    updates, _ = sign.update(g, sign.init(params), params)
    np.testing.assert_allclose(updates, -0.1 * np.ones(5))


def test_plain_normalization_of_huge_float32_updates_is_still_unit_length():
    # ‖ĝ‖² of 1e30-sized float32 updates overflows; the norm is computed scaled, so the step
    # keeps length η instead of collapsing to 0.
    params = {"a": jnp.zeros(3, jnp.float32), "b": jnp.zeros(2, jnp.float32)}
    grads = {"a": jnp.full((2, 3), 1e30, jnp.float32), "b": jnp.full((2, 2), -1e30, jnp.float32)}
    opt = sdejax.optim.normalized_dcsgd(0.5, sdejax.Identity())
    updates, _ = opt.update(grads, opt.init(params), params)
    norm = np.sqrt(sum(np.sum(np.asarray(u, np.float64) ** 2) for u in jax.tree_util.tree_leaves(updates)))
    np.testing.assert_allclose(norm, 0.5, rtol=1e-6)


def test_theory_normalization_refuses_a_biased_compressor():
    with pytest.raises(ValueError, match="`compressor` must be unbiased.*TopK"):
        sdejax.optim.normalized_dcsgd(0.5, sdejax.TopK(1), scaling="theory", l0=1.0, l1=1.0, n_workers=2)
    with pytest.raises(ValueError, match="`omega` must be finite"):
        sdejax.optim.scale_by_theory_normalization(l0=1.0, l1=1.0, omega=float("inf"), n_workers=2)


# --------------------------------------------------------------------------- a real model
class MLP(eqx.Module):
    layers: list

    def __init__(self, key):
        k1, k2 = jr.split(key)
        self.layers = [eqx.nn.Linear(64, 32, key=k1), eqx.nn.Linear(32, 10, key=k2)]

    def __call__(self, x):
        return self.layers[1](jax.nn.relu(self.layers[0](x)))


def test_mlp_trained_by_dcsgd_with_8_workers_clipping_and_schedule():
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = jnp.asarray(digits.data / 16.0)
    y = jnp.asarray(digits.target)
    x_train, y_train, x_test, y_test = x[:1400], y[:1400], x[1400:], y[1400:]
    n_workers, batch = 8, 32
    model = MLP(jr.key(0))
    params, static = eqx.partition(model, eqx.is_array)

    def loss_fn(p, xb, yb):
        logits = jax.vmap(eqx.combine(p, static))(xb)
        return optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()

    schedule = optax.warmup_cosine_decay_schedule(0.0, 0.5, 20, 400)
    optimizer = optax.chain(
        sdejax.optim.compress_workers(sdejax.RandK(600), key=jr.key(1)),
        sdejax.optim.aggregate_workers(),
        optax.clip_by_global_norm(1.0),
        optax.scale_by_learning_rate(schedule),
    )
    state = optimizer.init(params)

    @eqx.filter_jit
    def step(p, s, key):
        index = jr.randint(key, (n_workers, batch), 0, x_train.shape[0])
        grads = jax.vmap(jax.grad(loss_fn), in_axes=(None, 0, 0))(p, x_train[index], y_train[index])
        updates, s = optimizer.update(grads, s, p)
        return optax.apply_updates(p, updates), s

    initial = float(loss_fn(params, x_train, y_train))
    for k in range(400):
        params, state = step(params, state, jr.key(100 + k))
    final = float(loss_fn(params, x_train, y_train))
    logits = jax.vmap(eqx.combine(params, static))(x_test)
    accuracy = float(jnp.mean(jnp.argmax(logits, axis=-1) == y_test))
    assert final < 0.25 * initial, (initial, final)
    assert accuracy > 0.85, accuracy


# --------------------------------------------------------------------------- real devices
SHARD_MAP_SCRIPT = textwrap.dedent(
    """
    import os
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
    import jax, jax.numpy as jnp, jax.random as jr, numpy as np
    from jax.sharding import Mesh, PartitionSpec as P
    jax.config.update("jax_enable_x64", True)
    import sdejax
    assert jax.device_count() == 4
    mesh = Mesh(np.array(jax.devices()), ("workers",))
    params = {"w": jnp.ones((3, 2)), "b": jnp.zeros(2)}
    grads = {"w": jr.normal(jr.key(0), (4, 3, 2)), "b": jr.normal(jr.key(1), (4, 2))}
    for make in (
        lambda axis: sdejax.optim.dcsgd(0.1, sdejax.RandK(3), key=jr.key(7), axis_name=axis),
        lambda axis: sdejax.optim.dsignsgd(0.1, vote="majority", axis_name=axis),
        lambda axis: sdejax.optim.normalized_dcsgd(0.1, sdejax.BernoulliSparsifier(0.5),
                                                   key=jr.key(7), axis_name=axis),
    ):
        simulated = make(None)
        reference, _ = simulated.update(grads, simulated.init(params), params)
        real = make("workers")
        state = real.init(params)

        def per_device(g):
            g = jax.tree_util.tree_map(lambda leaf: leaf[0], g)
            updates, _ = real.update(g, state, params)
            return updates

        fn = jax.shard_map(per_device, mesh=mesh, in_specs=(P("workers"),), out_specs=P())
        out = jax.jit(fn)(grads)
        jax.tree_util.tree_map(
            lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15), out, reference)
    print("SHARD_MAP_OK")
    """
)


def test_axis_name_workers_on_devices_match_simulated_workers():
    result = subprocess.run(
        [sys.executable, "-c", SHARD_MAP_SCRIPT], capture_output=True, text=True, timeout=300
    )
    assert "SHARD_MAP_OK" in result.stdout, result.stderr[-3000:]
