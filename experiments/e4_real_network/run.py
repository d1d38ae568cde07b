"""E4 (docs/theory.md §6, the paper's real-network experiment) on a network and data we have:
a small CNN on scikit-learn's digits, N = 8 workers with their own shards and minibatches,
trained with sdejax.optim in a jitted lax.scan loop, vmapped over seeds.

(a) DCSGD with Bernoulli sparsification and a constant learning rate destabilises as ω grows;
    theory-scaled normalization [reconstructed] converges for every ω. As in the paper's E1,
    affine noise Z_i ~ N(0, σ²‖g_i‖² I) (σ0 = 0, σ1 = σ) is injected into every worker's own
    minibatch gradient g_i before compression.
(b) Plain normalization (a fixed step length s) against theory-scaled normalization, same setting.
(c) DSignSGD under injected Student-t noise Z_i = σT (ν = 1, 2, 3; several σ), with a constant
    learning rate η and with η/√(k+1) (same η), plus a 10× smaller constant rate for reference;
    DSGD under the same noise for contrast.

Writes results/e4_dcsgd.nc (parts a, b) and results/e4_dsignsgd.nc (part c), each with the
resolved configuration as JSON, the sdejax version and the git revision in its attributes.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import jax.random as jr  # noqa: E402
import network as net  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402
from _common import ensure, parse  # noqa: E402

import sdejax  # noqa: E402

HERE = Path(__file__).resolve().parent

# ---------------------------------------------------------------------------- configuration
CONFIG = {
    "steps": 600,
    "record_every": 25,
    "seeds": 5,
    "n_workers": net.N_WORKERS,
    "batch_per_worker": net.BATCH,
    "channels": list(net.CHANNELS),
    # (a), (b): affine noise σ1 (σ0 = 0) and Bernoulli keep-probabilities p (ω = 1/p − 1).
    "affine_sigma1": 0.02,
    "keep_probabilities": [1.0, 0.5, 0.25, 0.1, 0.05, 0.02],
    # (L0, L1) of the theory-scaled rule: L0 = 4 bounds the largest Hessian eigenvalue measured
    # along a reference run (3.34, stored as `sharpness`), L1 = 1 is our choice.
    "l0": 4.0,
    "l1": 1.0,
    # method name -> (optimizer, learning rate): constant-η DCSGD, theory-scaled (η plays 2ε,
    # intended range (0, 2)), plain normalization (η is the step length s).
    "methods": {
        "constant η = 0.25": ["constant", 0.25],
        "constant η = 0.5": ["constant", 0.5],
        "theory-scaled η = 1": ["theory", 1.0],
        "theory-scaled η = 1.9": ["theory", 1.9],
        "plain s = 0.2": ["plain", 0.2],
        "plain s = 2": ["plain", 2.0],
    },
    # (c): Student-t noise, learning rates.
    "dfs": [1, 2, 3],
    "student_sigmas": [0.001, 0.01, 0.1],
    "sign_eta": 0.3,  # constant η, and η0 of η0/√(k+1)
    "sign_eta_small": 0.03,  # a small constant η, for reference
    "dsgd_eta": 0.5,  # DSGD under the same noise (contrast), σ = the middle value
}
QUICK = {
    "steps": 50,
    "record_every": 25,
    "seeds": 2,
    "keep_probabilities": [1.0, 0.05],
    "dfs": [1],
    "student_sigmas": [0.01],
}


def make_dcsgd(kind, config):
    def make(hyper, key):
        compressor = sdejax.BernoulliSparsifier(hyper["p"])
        if kind == "constant":
            return sdejax.optim.dcsgd(hyper["lr"], compressor, key=key)
        if kind == "plain":
            return sdejax.optim.normalized_dcsgd(hyper["lr"], compressor, key=key, scaling="plain")
        return sdejax.optim.normalized_dcsgd(
            hyper["lr"],
            compressor,
            key=key,
            scaling="theory",
            l0=config["l0"],
            l1=config["l1"],
            n_workers=config["n_workers"],
            sigma1=config["affine_sigma1"],
        )

    return make


def make_sign(schedule):
    def make(hyper, key):
        if schedule.startswith("constant"):
            return sdejax.optim.dsignsgd(hyper["lr"])
        if schedule == "1/sqrt(k+1)":
            return sdejax.optim.dsignsgd(lambda k: hyper["lr"] / jnp.sqrt(k + 1.0))
        return sdejax.optim.dcsgd(hyper["lr"], sdejax.Identity())  # DSGD

    return make


def sharpness_profile(steps=500, every=100, learning_rate=0.5):
    """Largest Hessian eigenvalue and ‖∇f‖ of the full training loss along plain minibatch SGD
    (batch 256, η = 0.5): the evidence for the (L0, L1) choice."""
    params, static = net.init_params(jr.key(0))
    loss, _ = net.make_loss(static)
    data = net.load_data()
    x, y = data["train_x"], data["train_y"]

    @jax.jit
    def advance(p):
        def step(p, k):
            idx = jr.randint(jr.key(k), (256,), 0, x.shape[0])
            g = jax.grad(loss)(p, x[idx], y[idx])
            return jax.tree_util.tree_map(lambda a, b: a - learning_rate * b, p, g), None

        return jax.lax.scan(step, p, jnp.arange(every))[0]

    rows = []
    for k in range(0, steps + 1, every):
        lam, grad_norm = net.hessian_top_eigenvalue(params, loss, x, y, iterations=20)
        rows.append((k, lam, grad_norm))
        params = advance(params)
    return np.asarray(rows)


def records_dataset(records, dims, coords, steps, every):
    data = {}
    units = {"train_loss": "1", "test_loss": "1", "test_accuracy": "1", "param_norm": "1"}
    names = {
        "train_loss": "cross-entropy on the whole training set",
        "test_loss": "cross-entropy on the test set",
        "test_accuracy": "fraction of test images classified correctly",
        "param_norm": "global Euclidean norm of the parameters",
    }
    for name in records:
        data[name] = (
            dims + ("seed", "step"),
            records[name],
            {"long_name": names[name], "units": units[name]},
        )
    coords = dict(coords)
    coords["step"] = np.arange(0, steps + 1, every)
    return xr.Dataset(data, coords=coords)


def main():
    args = parse(__doc__, HERE)
    config = dict(CONFIG)
    if args.quick:
        config.update(QUICK)
    out = ensure(args.results)
    seeds = jnp.arange(config["seeds"], dtype=jnp.uint32)
    steps, every = config["steps"], config["record_every"]
    started = time.time()
    provenance = {
        "sdejax_version": sdejax.__version__,
        "git_revision": net.git_revision(),
        "hardware": f"{platform.machine()} CPU, {jax.device_count()} JAX device(s) "
        f"({jax.devices()[0].platform})",
        "n_parameters": net.n_parameters(),
        "dtype": "float32",
    }
    print(
        f"E4: CNN with {provenance['n_parameters']} parameters, N = {config['n_workers']} workers", flush=True
    )

    # -------------------------------------------------------------- sharpness (L0 evidence)
    if args.quick:
        sharp = np.asarray([[0, np.nan, np.nan]])
    else:
        sharp = sharpness_profile()
        print(
            f"  largest Hessian eigenvalue along SGD (η = 0.5): {np.round(sharp[:, 1], 2)}; "
            f"L0 = {config['l0']}",
            flush=True,
        )
        if sharp[:, 1].max() > config["l0"]:
            print("  WARNING: measured sharpness exceeds L0", flush=True)

    # -------------------------------------------------------------- (a), (b): DCSGD family
    methods = list(config["methods"])
    keep = config["keep_probabilities"]
    noise = sdejax.AffineGaussianNoise(0.0, config["affine_sigma1"])
    shape = (len(methods), len(keep), config["seeds"], steps // every + 1)
    records = {
        k: np.full(shape, np.nan, np.float32)
        for k in ("train_loss", "test_loss", "test_accuracy", "param_norm")
    }
    seconds = np.zeros((len(methods), len(keep)))
    trainers = {}  # one compilation per optimizer kind; learning rates and p are traced
    for i, method in enumerate(methods):
        kind, lr = config["methods"][method]
        if kind not in trainers:
            trainers[kind] = net.make_trainer(make_dcsgd(kind, config), steps=steps, record_every=every)[0]
        train = trainers[kind]
        for j, p in enumerate(keep):
            t = time.time()
            result = train({"lr": jnp.asarray(lr), "p": jnp.asarray(p), "noise": noise}, seeds)
            for name in records:
                records[name][i, j] = np.asarray(result[name])
            seconds[i, j] = time.time() - t
            final = records["train_loss"][i, j, :, -1]
            print(
                f"  {method:22s} ω = {1 / p - 1:4.0f}: final train loss median {np.median(final):.4g} "
                f"(non-finite {np.mean(~np.isfinite(final)):.0%}), test acc "
                f"{np.mean(records['test_accuracy'][i, j, :, -1]):.3f}  [{seconds[i, j]:.1f} s]",
                flush=True,
            )
    ds = records_dataset(
        records, ("method", "omega"), {"method": methods, "omega": [1 / p - 1 for p in keep]}, steps, every
    )
    ds["omega"].attrs = {
        "long_name": "compression variance ω = 1/p − 1 (Bernoulli keep-probability p)",
        "units": "1",
    }
    ds["keep_probability"] = (
        "omega",
        np.asarray(keep),
        {"long_name": "Bernoulli keep-probability p", "units": "1"},
    )
    ds["seconds"] = (
        ("method", "omega"),
        seconds,
        {"long_name": "wall time of the 5-seed run incl. compilation", "units": "s"},
    )
    ds["sharpness_step"] = (
        "sharpness_index",
        sharp[:, 0],
        {"long_name": "SGD step of the sharpness probe", "units": "1"},
    )
    ds["sharpness"] = (
        "sharpness_index",
        sharp[:, 1],
        {"long_name": "largest Hessian eigenvalue of the training loss (power iteration)", "units": "1"},
    )
    ds["sharpness_grad_norm"] = (
        "sharpness_index",
        sharp[:, 2],
        {"long_name": "norm of the full-batch training gradient", "units": "1"},
    )
    ds.attrs = {"experiment": "E4 (a, b)", "config": json.dumps(config), **provenance}
    ds.to_netcdf(out / "e4_dcsgd.nc")

    # -------------------------------------------------------------- (c): DSignSGD, Student-t
    schedules = ["constant", "1/sqrt(k+1)", "constant small", "DSGD constant"]
    dfs, sigmas = config["dfs"], config["student_sigmas"]
    shape = (len(schedules), len(dfs), len(sigmas), config["seeds"], steps // every + 1)
    records = {
        k: np.full(shape, np.nan, np.float32)
        for k in ("train_loss", "test_loss", "test_accuracy", "param_norm")
    }
    middle = sigmas[len(sigmas) // 2]
    trainers = {}  # one compilation per chain (and per ν: the Student-t sampler is static)
    for i, schedule in enumerate(schedules):
        kind = "constant" if schedule.startswith("constant") else schedule
        if kind not in trainers:
            trainers[kind] = net.make_trainer(make_sign(kind), steps=steps, record_every=every)[0]
        train = trainers[kind]
        lr = {"DSGD constant": config["dsgd_eta"], "constant small": config["sign_eta_small"]}.get(
            schedule, config["sign_eta"]
        )
        for j, df in enumerate(dfs):
            for m, sigma in enumerate(sigmas):
                if schedule.startswith("DSGD") and sigma != middle:
                    continue  # contrast only at the middle σ
                t = time.time()
                result = train({"lr": jnp.asarray(lr), "noise": sdejax.StudentTNoise(df, sigma)}, seeds)
                for name in records:
                    records[name][i, j, m] = np.asarray(result[name])
                final = records["train_loss"][i, j, m, :, -1]
                print(
                    f"  {schedule:14s} ν = {df} σ = {sigma:g}: "
                    f"final train loss median {np.median(final):.4g} "
                    f"(non-finite {np.mean(~np.isfinite(final)):.0%}), test acc "
                    f"{np.mean(records['test_accuracy'][i, j, m, :, -1]):.3f}  [{time.time() - t:.1f} s]",
                    flush=True,
                )
    ds = records_dataset(
        records,
        ("schedule", "df", "sigma"),
        {"schedule": schedules, "df": dfs, "sigma": sigmas},
        steps,
        every,
    )
    ds["df"].attrs = {"long_name": "Student-t degrees of freedom ν", "units": "1"}
    ds["sigma"].attrs = {
        "long_name": "Student-t scale σ (scale of T, not its standard deviation)",
        "units": "1",
    }
    total = time.time() - started
    ds.attrs = {"experiment": "E4 (c)", "config": json.dumps(config), "total_seconds": total, **provenance}
    ds.to_netcdf(out / "e4_dsignsgd.nc")
    print(f"E4 done in {total / 60:.1f} min", flush=True)


if __name__ == "__main__":
    main()
