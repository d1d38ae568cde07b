"""E1/E2 (docs/theory.md §6 and experiments/README.md): DCSGD on an MLP with affine noise, N = 8 workers.

Each worker's gradient is the full-batch gradient of an MLP on scikit-learn's digits plus
Z_i ~ N(0, σ²‖∇f‖² I) (affine noise, σ0 = 0, σ1 = σ; the predecessors' protocol of injected
synthetic noise), compressed by a Bernoulli sparsifier with keep-probability p (ω = 1/p − 1).
E1: with a constant step DCSGD destabilises as ω grows; theory-scaled normalization
[reconstructed] converges for every ω. E2: plain normalization ĝ/‖ĝ‖ with the same constant
step is less stable: its step length ignores compression and noise.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import equinox as eqx  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import jax.random as jr  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
import xarray as xr  # noqa: E402
from _common import ensure, parse  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

import sdejax  # noqa: E402

HERE = Path(__file__).resolve().parent
N_WORKERS, SIGMA = 8, 0.02
KEEP = (1.0, 0.5, 0.25, 0.1, 0.05, 0.02)
# Step sizes: constant DCSGD uses η = 2, plain normalization a step of length 0.05; the
# theory-scaled rule uses η = 1 (η plays 2ε, ε = 1/2). L0, L1 are not known for an MLP:
# L0 = 2, L1 = 1 are our choice.
ETA_CONSTANT, ETA_PLAIN, ETA_THEORY, L0, L1 = 2.0, 0.05, 1.0, 2.0, 1.0


def make_problem():
    digits = load_digits()
    x = jnp.asarray((digits.data - digits.data.mean(0)) / (digits.data.std(0) + 1e-8))
    y = jnp.asarray(digits.target)
    model = eqx.nn.MLP(64, 10, 32, 1, key=jr.key(0))
    params, static = eqx.partition(model, eqx.is_array)

    def loss(p):
        logits = jax.vmap(eqx.combine(p, static))(x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    return params, loss


def optimizer(method, p, key):
    compressor = sdejax.BernoulliSparsifier(p)
    if method == "constant":
        return sdejax.optim.dcsgd(ETA_CONSTANT, compressor, key=key)
    if method == "plain":
        return sdejax.optim.normalized_dcsgd(ETA_PLAIN, compressor, key=key)
    return sdejax.optim.normalized_dcsgd(
        ETA_THEORY, compressor, key=key, scaling="theory", l0=L0, l1=L1, n_workers=N_WORKERS, sigma1=SIGMA
    )


def train(method, params, loss, steps, record_every):
    @jax.jit
    def run(p, key):
        opt = optimizer(method, p, jr.fold_in(key, 1))
        state = opt.init(params)

        def step(carry, k):
            theta, s = carry
            value, grad = jax.value_and_grad(loss)(theta)
            flat, unravel = jax.flatten_util.ravel_pytree(grad)
            scale = SIGMA * jnp.linalg.norm(flat)
            noise = scale * jr.normal(jr.fold_in(key, k), (N_WORKERS, flat.shape[0]))
            per_worker = jax.vmap(unravel)(flat[None, :] + noise)
            updates, s = opt.update(per_worker, s, theta)
            theta = optax.apply_updates(theta, updates)
            return (theta, s), value

        _, losses = jax.lax.scan(step, (params, state), jnp.arange(steps))
        return losses[::record_every]

    return run


def main():
    args = parse(__doc__, HERE)
    jax.config.update("jax_enable_x64", True)
    out = ensure(args.results)
    steps, seeds = (100, 2) if args.quick else (600, 8)
    record_every = 5
    params, loss = make_problem()
    methods = ("constant", "plain", "theory")
    losses = np.zeros((len(methods), len(KEEP), seeds, steps // record_every))
    for i, method in enumerate(methods):
        run = jax.vmap(train(method, params, loss, steps, record_every), in_axes=(None, 0))
        for j, p in enumerate(KEEP):
            losses[i, j] = np.asarray(run(jnp.asarray(p), jr.split(jr.key(j), seeds)))
            final = losses[i, j, :, -1]
            print(
                f"{method:9s} p = {p:5.2f} (ω = {1 / p - 1:5.1f}): final loss "
                f"median {np.median(final):.4g}, non-finite {np.mean(~np.isfinite(final)):.0%}"
            )
    ds = xr.Dataset(
        {"loss": (("optimizer", "keep_probability", "seed", "step"), losses)},
        coords={
            "optimizer": list(methods),
            "keep_probability": list(KEEP),
            "seed": np.arange(seeds),
            "step": np.arange(0, steps, record_every),
        },
        attrs={
            "experiment": "E1/E2",
            "n_workers": N_WORKERS,
            "sigma1": SIGMA,
            "eta_constant": ETA_CONSTANT,
            "eta_plain": ETA_PLAIN,
            "eta_theory": ETA_THEORY,
            "l0": L0,
            "l1": L1,
            "sdejax_version": sdejax.__version__,
            "git_revision": sdejax._results._metadata.git_revision(),
        },
    )
    ds.to_netcdf(out / "e1.nc")


if __name__ == "__main__":
    main()
