# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # optax in a real training loop
#
# `sdejax.optim` holds the paper's optimizers as plain optax `GradientTransformation`s
# ([docs/theory.md](../docs/theory.md) §4, `docs/optax.md`). They chain with anything in optax:
# here gradient clipping, weight decay and a warm-up–cosine schedule, training a small MLP on
# scikit-learn's digits over 8 workers, each with its own data shard and minibatches. First the
# workers are simulated (a leading axis of the gradients), then each worker is a device under
# `jax.shard_map`, with the same transformation and the same numbers. Last, the simulation
# engine maps the stability of two stateful chains: heavy-ball momentum and EF21 error feedback.
#
# To have 8 devices on a CPU, XLA is asked for 8 fake host devices **before JAX starts**.
# `SDEJAX_NOTEBOOK_QUICK=1` runs a tiny version.

# %%
import os

os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8"

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from jax.sharding import Mesh, PartitionSpec as P  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

import sdejax  # noqa: E402

QUICK = os.environ.get("SDEJAX_NOTEBOOK_QUICK") == "1"
train_steps, sweep_paths, sweep_steps, n_rates = (40, 64, 60, 8) if QUICK else (600, 256, 300, 16)
n_workers, batch = 8, 16
print(jax.device_count(), "devices:", jax.devices())

# %% [markdown]
# ## Data and model
#
# The 1,797 8×8 digit images, 80 % for training, split into 8 equal shards, one per worker. The
# model is an MLP 64 → 32 → 10 (2,410 parameters) with the softmax cross-entropy loss.

# %%
digits = load_digits()
x_train, x_test, y_train, y_test = train_test_split(
    digits.data / 16.0, digits.target, test_size=0.2, random_state=0, stratify=digits.target
)
per_worker = len(x_train) // n_workers
shards_x = jnp.asarray(x_train[: n_workers * per_worker].reshape(n_workers, per_worker, 64), jnp.float32)
shards_y = jnp.asarray(y_train[: n_workers * per_worker].reshape(n_workers, per_worker))


def init_params(key):
    k1, k2 = jax.random.split(key)
    return {
        "w1": jax.random.normal(k1, (64, 32)) / 8.0,
        "b1": jnp.zeros(32),
        "w2": jax.random.normal(k2, (32, 10)) / jnp.sqrt(32.0),
        "b2": jnp.zeros(10),
    }


def logits(params, x):
    return jnp.tanh(x @ params["w1"] + params["b1"]) @ params["w2"] + params["b2"]


def loss(params, x, y):
    return optax.softmax_cross_entropy_with_integer_labels(logits(params, x), y).mean()


def minibatch_gradient(params, shard_x, shard_y, key):
    """One worker: a minibatch of its own shard, its loss and gradient."""
    rows = jax.random.choice(key, shard_x.shape[0], (batch,), replace=False)
    return jax.value_and_grad(loss)(params, shard_x[rows], shard_y[rows])


params0 = init_params(jax.random.key(0))
n_params = sum(leaf.size for leaf in jax.tree_util.tree_leaves(params0))
print("parameters:", n_params, "| samples per worker:", per_worker)

# %% [markdown]
# ## The optimizer: a chain
#
# `compress_workers` compresses each worker's whole update (a rand-k over all 2,410 parameters,
# rescaled by d/k: unbiased with ω = d/k − 1) with the worker's own randomness;
# `aggregate_workers` averages over workers (DCSGD); then ordinary optax: clip the global norm
# of the averaged update, add weight decay, apply the scheduled learning rate. With
# `axis_name=None` the workers are the leading axis of the gradients.

# %%
schedule = optax.warmup_cosine_decay_schedule(0.0, 0.5, train_steps // 10, train_steps)


def make_optimizer(compressor, *, key, axis_name=None):
    return optax.chain(
        sdejax.optim.compress_workers(compressor, key=key, axis_name=axis_name),
        sdejax.optim.aggregate_workers(axis_name=axis_name),
        optax.clip_by_global_norm(1.0),
        optax.add_decayed_weights(1e-4),
        optax.scale_by_learning_rate(schedule),
    )


# %% [markdown]
# ## 8 simulated workers
#
# The training loop is one jitted `lax.scan`. At step k, worker i draws its minibatch from
# `fold_in(step key, i)`; its gradient is computed by `vmap` over the workers, so every gradient
# leaf has shape (8, …).

# %%
workers = jnp.arange(n_workers)


def train_simulated(compressor, steps=train_steps):
    optimizer = make_optimizer(compressor, key=jax.random.key(1))

    def step(carry, key):
        params, state = carry
        keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(key, workers)
        losses, grads = jax.vmap(minibatch_gradient, in_axes=(None, 0, 0, 0))(
            params, shards_x, shards_y, keys
        )
        updates, state = optimizer.update(grads, state, params)
        return (optax.apply_updates(params, updates), state), losses.mean()

    keys = jax.random.split(jax.random.key(2), steps)
    (params, _), losses = jax.jit(lambda: jax.lax.scan(step, (params0, optimizer.init(params0)), keys))()
    return params, losses


def accuracy(params):
    return float(jnp.mean(jnp.argmax(logits(params, x_test), axis=-1) == y_test))


compressors = {"no compression": sdejax.Identity()}
for k in (241, 48):
    compressors[f"rand-{k} (ω = {n_params / k - 1:.0f})"] = sdejax.RandK(k)
runs = {name: train_simulated(c) for name, c in compressors.items()}

fig, ax = plt.subplots(figsize=(7, 4))
window = max(1, train_steps // 30)
for name, (params, losses) in runs.items():
    smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
    ax.plot(np.arange(len(smooth)) + window, smooth, label=f"{name}: test accuracy {accuracy(params):.1%}")
ax.set(yscale="log", xlabel="step", ylabel="training loss (workers' minibatches, running mean)")
ax.legend()
plt.show()

# %% [markdown]
# Stronger compression makes the averaged gradient noisier (its variance grows with ω/N, §3);
# clipping keeps every step bounded, and training still reaches a good test accuracy, more slowly.
#
# ## One worker per device under `shard_map`
#
# Now each of the 8 (fake CPU) devices is a worker holding its own shard. The **same**
# transformation is built with `axis_name="workers"`: compression draws from
# `fold_in(key, axis index)`, exactly as simulated worker i does, and aggregation becomes a `pmean`
# collective. Parameters and optimizer state are replicated; each device sees only its own data.

# %%
mesh = Mesh(np.array(jax.devices()), ("workers",))
compressor = sdejax.RandK(241)


def train_on_devices(compressor, steps=train_steps):
    optimizer = make_optimizer(compressor, key=jax.random.key(1), axis_name="workers")

    def per_device(params, state, shard_x, shard_y, keys):
        def step(carry, key):
            params, state = carry
            worker_key = jax.random.fold_in(key, jax.lax.axis_index("workers"))
            # The parameters are replicated; mark them as varying over workers before
            # differentiating, so each device gets its own worker's gradient (otherwise JAX
            # sums the gradient of a replicated input over the devices).
            local = jax.lax.pcast(params, "workers", to="varying")
            value, grads = minibatch_gradient(local, shard_x[0], shard_y[0], worker_key)
            updates, state = optimizer.update(grads, state, params)
            return (optax.apply_updates(params, updates), state), jax.lax.pmean(value, "workers")

        (params, state), losses = jax.lax.scan(step, (params, state), keys)
        return params, losses

    sharded = jax.shard_map(
        per_device, mesh=mesh, in_specs=(P(), P(), P("workers"), P("workers"), P()), out_specs=(P(), P())
    )
    keys = jax.random.split(jax.random.key(2), steps)
    return jax.jit(sharded)(params0, optimizer.init(params0), shards_x, shards_y, keys)


params_devices, losses_devices = train_on_devices(compressor)
params_simulated, losses_simulated = runs["rand-241 (ω = 9)"]
difference = max(
    float(jnp.max(jnp.abs(a - b)))
    for a, b in zip(
        jax.tree_util.tree_leaves(params_devices), jax.tree_util.tree_leaves(params_simulated), strict=True
    )
)
print(f"after {train_steps} steps: max |params(devices) − params(simulated)| = {difference:.2e}")
print(f"test accuracy: devices {accuracy(params_devices):.1%}, simulated {accuracy(params_simulated):.1%}")

# %% [markdown]
# The two runs agree to float32 rounding (a `pmean` over devices sums in a different order than a
# mean over an array axis): simulating workers is a faithful stand-in for a real data-parallel
# run.
#
# ## Stateful chains in the simulation engine: heavy ball and EF21
#
# `sdejax.OptaxAlgorithm(make, n_workers)` turns any chain into an algorithm that `simulate` and
# `stability_sweep` run over thousands of paths; `make(learning_rate, key)` receives the learning
# rate as a traced value, and the chain's state (momentum, error-feedback memories) is carried
# per path. Only the discrete model exists for such a chain. The problem is f = ½‖x‖², d = 10,
# with affine noise of level σ1, gridded.
#
# * **Heavy-ball momentum**, m ← βm + ĝ, x ← x − ηm, with `optax.trace`. Without noise it is
#   stable for η < 2(1 + β)/λ = 3 at β = 0.5 (`docs/optax.md`).
# * **EF21 with top-k** (`sdejax.optim.error_feedback`, §4): each worker sends a top-2 compressed
#   correction to its running gradient estimate; compared with compressing the gradients
#   themselves by top-2 (`sdejax.DCSGD(sdejax.TopK(2), 8)`).

# %%
beta = 0.5


def heavy_ball(learning_rate, key):
    return optax.chain(
        sdejax.optim.aggregate_workers(),
        optax.trace(decay=beta),
        optax.scale_by_learning_rate(learning_rate),
    )


def ef21_top_k(learning_rate, key):
    return optax.chain(
        sdejax.optim.error_feedback(sdejax.TopK(2), n_workers=8),
        sdejax.optim.aggregate_workers(),
        optax.scale_by_learning_rate(learning_rate),
    )


algorithms = {
    f"heavy ball, β = {beta}": sdejax.OptaxAlgorithm(heavy_ball, n_workers=8),
    "EF21 + top-2": sdejax.OptaxAlgorithm(ef21_top_k, n_workers=8),
    "top-2, no feedback": sdejax.DCSGD(sdejax.TopK(2), n_workers=8),
}
sigmas = np.array([0.0, 0.2]) if QUICK else np.array([0.0, 0.1, 0.2, 0.3])
maps = {
    name: sdejax.stability_sweep(
        algorithm,
        sdejax.Quadratic(jnp.ones(10)),
        sdejax.AffineGaussianNoise(0.0, 0.1),
        x0=jnp.ones(10),
        learning_rates=np.geomspace(0.5, 4.0, n_rates),
        steps=sweep_steps,
        n_paths=sweep_paths,
        key=jax.random.key(0),
        grid={"noise.sigma1": sigmas},
    )
    for name, algorithm in algorithms.items()
}

# %% [markdown]
# The sweeps ran on all 8 devices (the default); results do not depend on the number of devices.
# Measured thresholds ± 1.96 SE against σ1, with the exact threshold of plain DSGD (no momentum,
# no compression, §6 H1) for reference:

# %%
dsgd = sdejax.DSGD(8)
exact_dsgd = [
    sdejax.theory.ms_threshold(
        "discrete", dsgd, sdejax.Quadratic(jnp.ones(10)), sdejax.AffineGaussianNoise(0.0, s)
    )
    for s in sigmas
]
fig, ax = plt.subplots(figsize=(7, 4))
ax.plot(sigmas, exact_dsgd, "k--", lw=1, label="DSGD, exact")
ax.axhline(
    2 * (1 + beta),
    color="grey",
    ls=":",
    lw=1,
    label=f"heavy ball without noise, exact 2(1 + β) = {2 * (1 + beta):g}",
)
for name, ds in maps.items():
    value, se = sdejax.threshold(ds, with_se=True)
    ax.errorbar(sigmas, value, yerr=1.96 * se, fmt="o-", capsize=3, label=name)
ax.set(xlabel="affine noise level σ1", ylabel="mean-square threshold η*")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# Momentum raises the threshold (to 3 without noise) and multiplicative noise lowers every
# threshold. Error feedback makes top-k converge to the minimizer of the mean objective even when
# workers differ (`docs/optax.md` shows the heterogeneous case), at the price of a slightly lower
# threshold than top-k alone on this homogeneous problem.
