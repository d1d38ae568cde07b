"""Stability map (issue 4, workload W4 of benchmarks/README.md): learning rate × compression level.

DCSGD with the Bernoulli sparsifier (keep-probability p, ω = 1/p − 1), affine noise σ1 = 0.1
(σ0 = 0), N = 8 workers, f = ½‖x‖² with d = 10: the H1 setting of docs/theory.md §6, where the exact
mean-square threshold is η* = 2/(λ(1 + B_eff/N)), B_eff = ω + dσ1²(1 + ω). Default grid: 64
learning rates × 16 keep-probabilities × 256 paths × 500 steps, for the discrete algorithm and
its three SDE models, in one call. The sweep writes `results/stability_map.nc` chunk by chunk and
resumes from it if interrupted (run the same command again).

    python experiments/stability_map/run.py                # the full map
    python experiments/stability_map/run.py --quick        # 16 × 6 × 64 paths × 100 steps
    python experiments/stability_map/run.py --steps 100    # fewer steps (2-core laptops)
    # two processes (e.g. two hosts; here both on this machine):
    run=experiments/stability_map/run.py
    python $run --coordinator 127.0.0.1:12355 --num-processes 2 --process-id 0 &
    python $run --coordinator 127.0.0.1:12355 --num-processes 2 --process-id 1
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import sdejax

HERE = Path(__file__).resolve().parent
# Defaults (W4 of benchmarks/README.md), overridable from the command line.
CONFIG = dict(
    d=10,
    n_workers=8,
    sigma1=0.1,
    n_rates=64,
    eta_min=0.2,
    eta_max=6.0,
    n_levels=16,
    p_min=0.05,
    n_paths=256,
    steps=500,
    sde_substeps=10,
    seed=0,
    models=["discrete", "sme1", "sme2", "corrected"],
)
QUICK = dict(n_rates=16, n_levels=6, n_paths=64, steps=100)


def parse():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, for smoke tests")
    parser.add_argument("--results", default=str(HERE / "results"))
    parser.add_argument("--memory-budget", type=int, default=None, help="bytes per device per chunk")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--coordinator", help="host:port of process 0, for a multi-process run")
    parser.add_argument("--num-processes", type=int, help="number of processes (multi-process run)")
    parser.add_argument("--process-id", type=int, help="this process's rank (multi-process run)")
    for name, value in CONFIG.items():
        if name == "models":
            parser.add_argument("--models", nargs="+", default=None)
        else:
            parser.add_argument("--" + name.replace("_", "-"), type=type(value), default=None)
    args = parser.parse_args()
    config = {**CONFIG, **(QUICK if args.quick else {})}
    config.update({k: v for k, v in vars(args).items() if k in CONFIG and v is not None})
    return args, config


def main():
    args, config = parse()
    if args.coordinator is not None:
        # Every process runs this same script; the sweep shards over all their devices, every
        # process gets the full result, process 0 writes the file.
        jax.distributed.initialize(
            coordinator_address=args.coordinator,
            num_processes=args.num_processes,
            process_id=args.process_id,
        )
    out = Path(args.results)
    out.mkdir(parents=True, exist_ok=True)
    d, n = config["d"], config["n_workers"]
    keep = np.geomspace(config["p_min"], 1.0, config["n_levels"])
    etas = np.geomspace(config["eta_min"], config["eta_max"], config["n_rates"])
    path = out / "stability_map.nc"
    print(f"devices: {jax.devices()}; config: {json.dumps(config)}", flush=True)
    start = time.perf_counter()
    ds = sdejax.stability_sweep(
        sdejax.DCSGD(sdejax.BernoulliSparsifier(0.5), n),
        sdejax.Quadratic(jnp.ones(d)),
        sdejax.AffineGaussianNoise(0.0, config["sigma1"]),
        x0=jnp.ones(d),
        learning_rates=etas,
        steps=config["steps"],
        n_paths=config["n_paths"],
        key=jax.random.key(config["seed"]),
        models=tuple(config["models"]),
        grid={"compressor.p": keep},
        sde_substeps=config["sde_substeps"],
        memory_budget=args.memory_budget,
        out=str(path),
        progress=False if args.no_progress else None,
    )
    elapsed = time.perf_counter() - start
    cells = len(etas) * len(keep) * len(config["models"])
    print(
        f"{cells} cells × {config['n_paths']} paths × {config['steps']} steps in {elapsed:.1f} s "
        f"(wall, including compilation and any resumed chunks) -> {path}"
    )
    for model in config["models"]:
        measured = sdejax.threshold(ds, model)
        theory = ds["theory_threshold"].sel(model=model)
        rows = [
            f"p={p:.3f}: {m:.3f} (theory {t:.3f})"
            for p, m, t in zip(keep[::5], measured.values[::5], theory.values[::5], strict=True)
        ]
        print(f"  {model:9s} measured η*: " + "; ".join(rows))


if __name__ == "__main__":
    main()
