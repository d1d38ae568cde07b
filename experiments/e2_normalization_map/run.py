"""E2 revisited (docs/theory.md §4, §6): plain normalization (a fixed step length s) against
theory-scaled normalization [reconstructed], mapped over step length × compression ω × noise σ,
to find where plain normalization fails and theory-scaled normalization does not.

1. The quartic f = Σ_j x_j⁴/4 (d = 10, (L0, L1) = (4, 1)), started far out at x0 = 3·(1, …, 1),
   N = 8 workers, Bernoulli sparsification, affine noise σ1: `sdejax.stability_sweep` with
   `sdejax.NormalizedDCSGD(BernoulliSparsifier(p), 8, scaling="plain" | "theory")` over a grid of
   learning rates (plain: the step length s; theory-scaled: η, which plays 2ε ∈ (0, 2)) ×
   compressor.p × noise.sigma1. Each scaling writes results/quartic_<scaling>.nc (resumable).
2. The real network of E4 (the CNN on digits, N = 8 workers with their own shards and
   minibatches, injected affine noise), a coarser grid; writes results/network.nc.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e4_real_network"))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import network as net  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402
from _common import ensure, parse  # noqa: E402

import sdejax  # noqa: E402

HERE = Path(__file__).resolve().parent

CONFIG = {
    "quartic": {
        "dim": 10,
        "x0": 3.0,
        "n_workers": 8,
        "learning_rates": np.geomspace(0.005, 1.9, 12).round(4).tolist(),
        "keep_probabilities": [1.0, 0.5, 0.25, 0.1, 0.05, 0.02],
        "sigma1": [0.0, 0.1, 0.3],
        "steps": 1000,
        "n_paths": 128,
        "burn_in": 0.5,
        "seed": 0,
    },
    "network": {
        "plain_step_lengths": [0.1, 0.5, 2.0, 5.0],
        "theory_learning_rates": [0.5, 1.0, 1.9],
        "keep_probabilities": [1.0, 0.1, 0.02],
        "sigma1": [0.02, 0.1],
        "l0": 4.0,  # as in E4: bounds the measured sharpness (3.34), L1 our choice
        "l1": 1.0,
        "steps": 400,
        "record_every": 50,
        "seeds": 3,
    },
}
QUICK = {
    "quartic": {
        "learning_rates": [0.05, 0.5],
        "keep_probabilities": [1.0, 0.1],
        "sigma1": [0.0, 0.3],
        "steps": 100,
        "n_paths": 32,
    },
    "network": {
        "plain_step_lengths": [2.0],
        "theory_learning_rates": [1.0],
        "keep_probabilities": [0.1],
        "sigma1": [0.1],
        "steps": 50,
        "record_every": 25,
        "seeds": 2,
    },
}


def run_quartic(cfg, out):
    problem = sdejax.Quartic(cfg["dim"])
    x0 = jnp.full(cfg["dim"], cfg["x0"], jnp.float32)
    for scaling in ("plain", "theory"):
        t = time.time()
        algorithm = sdejax.NormalizedDCSGD(sdejax.BernoulliSparsifier(1.0), cfg["n_workers"], scaling=scaling)
        ds = sdejax.stability_sweep(
            algorithm,
            problem,
            sdejax.AffineGaussianNoise(0.0, 0.0),
            x0=x0,
            learning_rates=np.asarray(cfg["learning_rates"], np.float32),
            steps=cfg["steps"],
            n_paths=cfg["n_paths"],
            key=jax.random.key(cfg["seed"]),
            burn_in=cfg["burn_in"],
            grid={"compressor.p": cfg["keep_probabilities"], "noise.sigma1": cfg["sigma1"]},
            out=str(out / f"quartic_{scaling}.nc"),
            progress=False,
        )
        loss = ds.final_loss_mean.sel(model="discrete")
        print(
            f"  quartic, {scaling:6s}: {time.time() - t:.0f} s; final loss over the map "
            f"{float(loss.min()):.2e} … {float(loss.max()):.2e}, diverged "
            f"{float(ds.diverged_fraction.max()):.0%} at most",
            flush=True,
        )


def run_network(cfg, out, provenance):
    def make(kind):
        def optimizer(hyper, key):
            compressor = sdejax.BernoulliSparsifier(hyper["p"])
            if kind == "plain":
                return sdejax.optim.normalized_dcsgd(hyper["lr"], compressor, key=key)
            return sdejax.optim.normalized_dcsgd(
                hyper["lr"],
                compressor,
                key=key,
                scaling="theory",
                l0=cfg["l0"],
                l1=cfg["l1"],
                n_workers=net.N_WORKERS,
                sigma1=hyper["sigma1"],
            )

        return optimizer

    seeds = jnp.arange(cfg["seeds"], dtype=jnp.uint32)
    steps, every = cfg["steps"], cfg["record_every"]
    datasets = {}
    for kind, rates in (("plain", cfg["plain_step_lengths"]), ("theory", cfg["theory_learning_rates"])):
        train = net.make_trainer(make(kind), steps=steps, record_every=every)[0]
        shape = (
            len(rates),
            len(cfg["keep_probabilities"]),
            len(cfg["sigma1"]),
            cfg["seeds"],
            steps // every + 1,
        )
        records = {
            k: np.full(shape, np.nan, np.float32)
            for k in ("train_loss", "test_loss", "test_accuracy", "param_norm")
        }
        for a, rate in enumerate(rates):
            for b, p in enumerate(cfg["keep_probabilities"]):
                for c, sigma in enumerate(cfg["sigma1"]):
                    t = time.time()
                    hyper = {
                        "lr": jnp.asarray(rate),
                        "p": jnp.asarray(p),
                        "sigma1": jnp.asarray(sigma),
                        "noise": sdejax.AffineGaussianNoise(0.0, sigma),
                    }
                    result = train(hyper, seeds)
                    for name in records:
                        records[name][a, b, c] = np.asarray(result[name])
                    curve = np.median(records["train_loss"][a, b, c], axis=0)
                    print(
                        f"  network, {kind:6s} {rate:4g} ω = {1 / p - 1:3.0f} σ1 = {sigma:g}: train loss "
                        f"median final {curve[-1]:.3g} (best {np.nanmin(curve):.3g})  "
                        f"[{time.time() - t:.1f} s]",
                        flush=True,
                    )
        dims = ("learning_rate", "omega", "sigma1", "seed", "step")
        datasets[kind] = {name: (dims, values) for name, values in records.items()}
        datasets[kind + "_rates"] = rates
    coords = {
        "omega": [1 / p - 1 for p in cfg["keep_probabilities"]],
        "sigma1": cfg["sigma1"],
        "seed": np.arange(cfg["seeds"]),
        "step": np.arange(0, steps + 1, every),
    }
    merged = {}
    for kind in ("plain", "theory"):
        for name, (dims, values) in datasets[kind].items():
            merged[f"{kind}_{name}"] = (
                (f"{kind}_rate",) + dims[1:],
                values,
                {"long_name": f"{name.replace('_', ' ')} ({kind} normalization)", "units": "1"},
            )
        coords[f"{kind}_rate"] = datasets[kind + "_rates"]
    ds = xr.Dataset(merged, coords=coords)
    ds["plain_rate"].attrs = {"long_name": "step length s of plain normalization", "units": "1"}
    ds["theory_rate"].attrs = {
        "long_name": "learning rate η of theory-scaled normalization (η = 2ε)",
        "units": "1",
    }
    ds["omega"].attrs = {"long_name": "compression variance ω = 1/p − 1 (Bernoulli)", "units": "1"}
    ds["sigma1"].attrs = {"long_name": "affine noise coefficient σ1 (σ0 = 0)", "units": "1"}
    ds.attrs = {"experiment": "E2 on the real network", "config": json.dumps(cfg), **provenance}
    ds.to_netcdf(out / "network.nc")


def main():
    args = parse(__doc__, HERE)
    config = {key: dict(value) for key, value in CONFIG.items()}
    if args.quick:
        for key, value in QUICK.items():
            config[key].update(value)
    out = ensure(args.results)
    provenance = {
        "sdejax_version": sdejax.__version__,
        "git_revision": net.git_revision(),
        "hardware": f"{platform.machine()} CPU, {jax.device_count()} JAX device(s) "
        f"({jax.devices()[0].platform})",
    }
    started = time.time()
    print("E2, part 1: the quartic", flush=True)
    run_quartic(config["quartic"], out)
    t = time.time()
    print("E2, part 2: the CNN on digits", flush=True)
    run_network(config["network"], out, {**provenance, "quartic_seconds": t - started})
    (out / "run_summary.json").write_text(
        json.dumps(
            {
                "config": config,
                "seconds_quartic": t - started,
                "seconds_network": time.time() - t,
                **provenance,
            },
            indent=1,
        )
    )
    print(f"E2 done in {(time.time() - started) / 60:.1f} min", flush=True)


if __name__ == "__main__":
    main()
