"""Shared contract suites over the registries in helpers.py."""

import chex
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
import pytest
from helpers import ALGORITHMS, COMPRESSORS, NOISES, OPTIMIZERS, D, N

import sdejax


# ----------------------------------------------------------------------------- compressors
@pytest.mark.parametrize("name", sorted(COMPRESSORS))
def test_compressor_contract(name):
    compressor = COMPRESSORS[name]
    x = jnp.linspace(-1.0, 2.0, D)
    keys = jr.split(jr.key(0), 5)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def apply(k, v):
        return compressor(k, v)

    out = apply(keys[0], x)
    again = apply(keys[0], x)  # same key -> same output, and no retrace
    assert out.shape == x.shape and out.dtype == x.dtype
    np.testing.assert_array_equal(out, again)
    batched = jax.vmap(compressor)(keys, jnp.broadcast_to(x, (5, D)))  # vmap over keys/workers
    assert batched.shape == (5, D)
    np.testing.assert_array_equal(batched[0], out)
    # the state of a lax.cond through the compressor keeps shape and dtype
    branch = jax.lax.cond(True, lambda v: compressor(keys[1], v), lambda v: v, x)
    assert branch.shape == x.shape and branch.dtype == x.dtype
    assert isinstance(compressor.is_unbiased, bool)
    omega = float(compressor.omega(D))
    assert omega >= 0 and (np.isfinite(omega) == compressor.is_unbiased)


# ----------------------------------------------------------------------------- noise
@pytest.mark.parametrize("name", sorted(NOISES))
def test_noise_contract(name):
    noise = NOISES[name]
    grad = jnp.linspace(-1.0, 1.0, D)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def sample(k, g):
        return noise.sample(k, g, N)

    z = sample(jr.key(1), grad)
    np.testing.assert_array_equal(z, sample(jr.key(1), grad))
    chex.assert_shape(z, (N, D))
    assert z.dtype == grad.dtype
    assert np.all(np.isfinite(z))
    batched = jax.vmap(lambda k: noise.sample(k, grad, N))(jr.split(jr.key(2), 3))
    chex.assert_shape(batched, (3, N, D))
    m = noise.sign_mean(grad, N)
    chex.assert_shape(m, (N, D))
    assert np.all(np.abs(m) <= 1)
    np.testing.assert_array_equal(np.sign(m), np.sign(np.broadcast_to(grad, (N, D))))
    chex.assert_shape(noise.variance(grad, N), (N, D))
    p0 = np.asarray(noise.density_at_zero())
    assert np.all(p0 > 0)
    noise.check_workers(N)
    with pytest.raises(ValueError, match="n_workers"):
        if np.ndim(next(iter(noise.per_worker_parameters().values()))) == 1:
            noise.check_workers(N + 1)
        else:
            raise ValueError("scalar parameters fit any n_workers")


# ----------------------------------------------------------------------------- optimizers
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizer_contract(name):
    optimizer = OPTIMIZERS[name]()
    params = {"w": jnp.ones((2, 3)), "b": jnp.zeros(2)}
    grads = jax.tree_util.tree_map(lambda p: jr.normal(jr.key(0), (N, *p.shape), p.dtype), params)
    state = optimizer.init(params)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def step(g, s):
        return optimizer.update(g, s, params)

    updates, state1 = step(grads, state)
    updates_again, _ = step(grads, state)  # same state (key) -> same update; no retrace
    chex.assert_trees_all_equal(updates, updates_again)
    chex.assert_trees_all_equal_shapes_and_dtypes(updates, params)
    chex.assert_trees_all_equal_shapes_and_dtypes(state, state1)
    _, state2 = step(grads, state1)
    chex.assert_trees_all_equal_shapes_and_dtypes(state, state2)
    # state shape/dtype stable through lax.cond
    through = jax.lax.cond(True, lambda s: step(grads, s)[1], lambda s: s, state)
    chex.assert_trees_all_equal_shapes_and_dtypes(through, state)
    new_params = optax.apply_updates(params, updates)
    chex.assert_trees_all_equal_shapes_and_dtypes(new_params, params)
    assert all(np.all(np.isfinite(leaf)) for leaf in jax.tree_util.tree_leaves(new_params))


# ----------------------------------------------------------------------------- algorithms
@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_algorithm_model_contract(name):
    algorithm = ALGORITHMS[name]
    problem = sdejax.Quadratic(jnp.linspace(0.5, 2.0, D))
    noise = NOISES["gaussian"]
    algorithm.check(problem, noise)
    model = sdejax.DiscreteModel(algorithm, problem, noise)
    x = jnp.ones(D)

    @jax.jit
    @chex.assert_max_traces(n=1)
    def run(k, lr):
        state = model.init(jr.fold_in(k, 1), x, lr)
        one = model.step(k, state, lr, 1.0)
        two = model.step(jr.fold_in(k, 2), one, lr, 0.5)
        # the state through lax.cond (a data-dependent predicate), and vmapped over paths
        through = jax.lax.cond(lr > 0, lambda s: model.step(jr.fold_in(k, 3), s, lr, 1.0), lambda s: s, one)
        keys = jr.split(k, 7)
        paths = jax.vmap(lambda kp: model.step(kp, model.init(kp, x, lr), lr, 1.0))(keys)
        return state, one, two, through, jax.vmap(model.position)(paths)

    out = run(jr.key(0), 0.1)
    chex.assert_trees_all_equal(out, run(jr.key(0), 0.1))  # same key -> same output
    run(jr.key(0), 0.2)  # a new learning rate is a new value, not a new trace
    state, one, two, through, positions = out
    for later in (one, two, through):  # the state is a stable carry
        chex.assert_trees_all_equal_shapes_and_dtypes(later, state)
    assert model.position(two).shape == (D,) and model.position(two).dtype == x.dtype
    chex.assert_shape(positions, (7, D))
    assert np.all(np.isfinite(positions))
