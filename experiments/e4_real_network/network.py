"""The real network of E4 (and of E2's real-network map): a small CNN on scikit-learn's digits,
trained by N simulated workers with sdejax.optim.

* Data: the 1,797 bundled 8×8 digits, pixels scaled to [0, 1], a stratified 75/25 train/test
  split (fixed seed); the training set is dealt into N equal shards, one per worker.
* Network: conv 3×3 (1 → C channels) → ReLU → conv 3×3 (C → C) → ReLU → 2×2 average pool →
  linear (16·C → 10), in equinox.
* A step: each worker draws its own minibatch (without replacement) from its own shard; the
  per-worker gradients come from vmapping the per-worker loss (leading worker axis N); noise
  is injected into each worker's gradient (``inject``); the sdejax.optim chain aggregates and
  steps. Steps run under ``lax.scan``; :func:`make_trainer` returns a jitted function that
  vmaps over seeds and over a batch of hyperparameter values (one compilation per chain shape).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import optax
from jax.flatten_util import ravel_pytree
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

N_WORKERS = 8
BATCH = 32  # per worker and step
CHANNELS = (8, 16)


def git_revision() -> str:
    """The checkout's short git revision, with "+dirty" if tracked files changed."""
    root = Path(__file__).resolve().parents[2]
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def load_data(n_workers: int = N_WORKERS):
    """Shards (N, n, 8, 8) and labels (N, n) per worker, the training and test sets, in float32."""
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)  # (n, 8, 8)
    y = digits.target.astype(np.int32)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    per = len(y_train) // n_workers
    shards_x = x_train[: per * n_workers].reshape(n_workers, per, *x.shape[1:])
    shards_y = y_train[: per * n_workers].reshape(n_workers, per)
    return {
        "shards_x": jnp.asarray(shards_x),
        "shards_y": jnp.asarray(shards_y),
        "train_x": jnp.asarray(x_train[: per * n_workers]),
        "train_y": jnp.asarray(y_train[: per * n_workers]),
        "test_x": jnp.asarray(x_test),
        "test_y": jnp.asarray(y_test),
    }


def _patches(x, stride: int):
    """(B, H, W, C) -> (B, (H/stride)·(W/stride), 9·C): the 3×3 neighbourhoods (zero padding 1)
    at every output pixel, so that a 3×3 convolution is one matrix product.

    Why not ``lax.conv``: on XLA's CPU backend a convolution inside ``lax.scan`` ran about 5×
    slower than outside it, and vmapping it over seeds (per-seed weights) turns it into a
    grouped convolution that was slower still; matrix products have neither problem.
    """
    size = x.shape[1]
    padded = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    views = [padded[:, i : i + size : stride, j : j + size : stride, :] for i in range(3) for j in range(3)]
    out = jnp.concatenate(views, axis=-1)
    return out.reshape(x.shape[0], -1, out.shape[-1])


class Conv3x3(eqx.Module):
    """A 3×3 convolution with zero padding 1 on a batch of NHWC images (as a matrix product)."""

    weight: jax.Array  # (9·C_in, C_out), rows ordered (kernel row, kernel column, input channel)
    bias: jax.Array  # (C_out,)
    stride: int = eqx.field(static=True)

    def __init__(self, c_in: int, c_out: int, key, stride: int = 1):
        bound = 1.0 / np.sqrt(9 * c_in)  # the default uniform initialization of torch and equinox
        key_w, key_b = jr.split(key)
        self.weight = jr.uniform(key_w, (9 * c_in, c_out), minval=-bound, maxval=bound)
        self.bias = jr.uniform(key_b, (c_out,), minval=-bound, maxval=bound)
        self.stride = stride

    def __call__(self, x):  # (B, H, W, C_in) -> (B, H/stride, W/stride, C_out)
        size = x.shape[1] // self.stride
        out = _patches(x, self.stride) @ self.weight + self.bias
        return out.reshape(x.shape[0], size, size, -1)


class CNN(eqx.Module):
    """conv 3×3 stride 2 (1 → C1) → ReLU → conv 3×3 (C1 → C2) → ReLU → linear (16·C2 → 10).

    Takes a batch of 8×8 images (B, 8, 8) and returns logits (B, 10). The stride-2 first layer
    (8×8 → 4×4) keeps a training step at a few milliseconds on a CPU.
    """

    conv1: Conv3x3
    conv2: Conv3x3
    head: eqx.nn.Linear

    def __init__(self, key, channels: tuple[int, int] = CHANNELS):
        k1, k2, k3 = jr.split(key, 3)
        c1, c2 = channels
        self.conv1 = Conv3x3(1, c1, k1, stride=2)
        self.conv2 = Conv3x3(c1, c2, k2)
        self.head = eqx.nn.Linear(16 * c2, 10, key=k3)

    def __call__(self, images):
        h = jax.nn.relu(self.conv1(images[..., None]))  # (B, 4, 4, C1)
        h = jax.nn.relu(self.conv2(h))  # (B, 4, 4, C2)
        return jax.vmap(self.head)(h.reshape(h.shape[0], -1))


def init_params(key):
    return eqx.partition(CNN(key), eqx.is_array)


def make_loss(static):
    def loss(params, x, y):
        logits = eqx.combine(params, static)(x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    def evaluate(params, x, y):
        logits = eqx.combine(params, static)(x)
        nll = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        return nll, jnp.mean(jnp.argmax(logits, -1) == y)

    return loss, evaluate


# --------------------------------------------------------------------------- injected noise
def inject(noise, key, grads_flat):
    """g_i + Z_i for each worker, Z_i drawn from an sdejax noise model given the worker's own
    minibatch gradient g_i (rows of ``grads_flat``, shape (N, d)):
    ``AffineGaussianNoise(0, σ)``: Z_i ~ N(0, σ²‖g_i‖² I); ``StudentTNoise(ν, σ)``: Z_i = σ T,
    T_j i.i.d. standard Student-t (σ the scale of T, not its standard deviation)."""
    n = grads_flat.shape[0]
    scale = noise.noise_scale(grads_flat, n)
    return grads_flat + scale * noise.standard_sample(key, grads_flat.shape, grads_flat.dtype)


# --------------------------------------------------------------------------- training loop
def make_trainer(make_optimizer, *, steps: int, record_every: int, seed_params: bool = False):
    """A jitted ``train(hyper, seeds) -> records`` for one configuration, vmapped over seeds.

    ``make_optimizer(hyper, key) -> optax.GradientTransformation``; ``hyper`` is a pytree of
    one configuration's hyperparameters (arrays: a new value does not recompile) whose entry
    ``"noise"`` is the sdejax noise model injected into every worker's gradient (:func:`inject`);
    ``seeds`` is a (S,) uint32 array, vmapped over.
    The initial network is the same for every seed (key 0) unless ``seed_params``; the seed
    drives minibatches, noise and compression. Records every ``record_every`` steps (and at
    step 0): full-train loss, test loss, test accuracy, and the global parameter norm;
    non-finite values mark a diverged run. Returns a dict of (S, steps//record_every + 1)
    arrays. Call it once per configuration: it compiles once per optimizer structure (and
    noise family), and hyperparameter values are traced.
    """
    data = load_data()
    params0, static = init_params(jr.key(0))
    loss, evaluate = make_loss(static)
    n_workers, per = data["shards_y"].shape

    def record(params):
        train_loss, _ = evaluate(params, data["train_x"], data["train_y"])
        test_loss, test_acc = evaluate(params, data["test_x"], data["test_y"])
        norm = optax.global_norm(params)
        return dict(train_loss=train_loss, test_loss=test_loss, test_accuracy=test_acc, param_norm=norm)

    def worker_batches(key):
        keys = jr.split(key, n_workers)
        idx = jax.vmap(lambda k: jr.permutation(k, per)[:BATCH])(keys)  # (N, B) own shard
        xb = jnp.take_along_axis(data["shards_x"], idx[:, :, None, None], axis=1)
        yb = jnp.take_along_axis(data["shards_y"], idx, axis=1)
        return xb, yb

    def one_run(hyper, seed):
        key = jr.key(seed)
        key_init, key_opt, key_data = jr.split(key, 3)
        params = init_params(key_init)[0] if seed_params else params0
        opt = make_optimizer(hyper, key_opt)
        state = opt.init(params)

        def step(carry, k):
            p, s = carry
            key_batch, key_noise = jr.split(jr.fold_in(key_data, k))
            xb, yb = worker_batches(key_batch)
            grads = jax.vmap(jax.grad(loss), in_axes=(None, 0, 0))(p, xb, yb)  # leaves (N, ...)
            flat = jax.vmap(lambda g: ravel_pytree(g)[0])(grads)
            unravel = ravel_pytree(p)[1]
            flat = inject(hyper["noise"], key_noise, flat)
            grads = jax.vmap(unravel)(flat)
            updates, s = opt.update(grads, s, p)
            p = optax.apply_updates(p, updates)
            return (p, s), None

        def block(carry, j):
            carry, _ = jax.lax.scan(step, carry, j * record_every + jnp.arange(record_every))
            return carry, record(carry[0])

        first = record(params)
        _, later = jax.lax.scan(block, (params, state), jnp.arange(steps // record_every))
        return jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a[None], b]), first, later)

    return jax.jit(jax.vmap(one_run, in_axes=(None, 0))), params0, data


def n_parameters():
    params0, _ = init_params(jr.key(0))
    return int(ravel_pytree(params0)[0].size)


def hessian_top_eigenvalue(params, loss, x, y, iterations: int = 30, key=None):
    """Largest |eigenvalue| of ∇²f at ``params`` (full-batch loss on (x, y)) by power iteration on
    Hessian-vector products; with ‖∇f‖ there, for the (L0, L1) choice."""
    flat, unravel = ravel_pytree(params)

    def f(v):
        return loss(unravel(v), x, y)

    grad = jax.grad(f)

    @jax.jit
    def hvp(v):
        return jax.jvp(grad, (flat,), (v,))[1]

    v = jr.normal(jr.key(1) if key is None else key, flat.shape, flat.dtype)
    v = v / jnp.linalg.norm(v)
    value = 0.0
    for _ in range(iterations):
        w = hvp(v)
        value = float(jnp.vdot(v, w))
        v = w / jnp.linalg.norm(w)
    return abs(value), float(jnp.linalg.norm(grad(flat)))
