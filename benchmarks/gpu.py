"""The accelerator check of benchmarks/README.md, as one prepared script (targets: W4-shaped work
at >= 10^9 path-steps/s, W1 at >= 10^8).

    PYTHONPATH=. python benchmarks/gpu.py --out "$OUT/gpu.json"     # on the GPU machine
    python benchmarks/gpu.py --quick                                # a CPU smoke run

It prints the device, then times (after a compile call, median of 3):

* W1: ``sdejax.simulate`` of DCSGD with the Bernoulli sparsifier (p = 1/4), affine noise,
  d = 100, N = 8, 1,000 steps, 2^17 paths (2^12 with ``--quick``);
* W4-shaped: ``sdejax.stability_sweep`` over 64 learning rates × 16 keep-probabilities, d = 10,
  N = 8, 500 steps, 4,096 paths per cell (64 with ``--quick``), ``item_batch`` automatic;

and writes the numbers (path-steps/s, compile time, device, JAX version) as JSON. No netCDF is
written (the GPU image may lack netCDF4).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import jax.random as jr  # noqa: E402
from discrete_specs import W1  # noqa: E402
from workloads import W4_KEEP, W4_LEARNING_RATES, W4_SPEC  # noqa: E402

import sdejax  # noqa: E402


def timed(fn, repeats=3):
    start = time.perf_counter()
    jax.block_until_ready(fn())
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - start)
    return first, statistics.median(times)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", help="JSON file for the numbers")
    args = parser.parse_args(argv)
    device = jax.devices()[0]
    print(
        f"device: {device} ({jax.default_backend()}), {jax.device_count()} device(s), jax {jax.__version__}"
    )
    results = {"device": str(device), "backend": jax.default_backend(), "jax": jax.__version__}

    paths, steps = (2**12, 200) if args.quick else (2**17, 1000)
    algorithm, problem, noise = W1.sdejax_components()

    def w1():
        ds = sdejax.simulate(
            algorithm,
            problem,
            noise,
            x0=jnp.ones(W1.d),
            learning_rate=W1.learning_rate,
            steps=steps,
            n_paths=paths,
            key=jr.key(0),
            save_every=steps,
        )
        return ds["loss_mean"].values

    first, median = timed(w1)
    results["W1"] = dict(
        paths=paths,
        steps=steps,
        median_s=median,
        compile_s=first - median,
        path_steps_per_s=paths * steps / median,
    )
    print(
        f"W1: {paths} paths × {steps} steps: {median:.3f} s, {paths * steps / median:.3g} path-steps/s "
        f"(target 1e8), compile {first - median:.1f} s",
        flush=True,
    )

    cell_paths, map_steps = (64, 100) if args.quick else (4096, 500)
    algorithm, problem, noise = W4_SPEC.sdejax_components()

    def w4():
        ds = sdejax.stability_sweep(
            algorithm,
            problem,
            noise,
            x0=jnp.ones(W4_SPEC.d),
            learning_rates=W4_LEARNING_RATES,
            steps=map_steps,
            n_paths=cell_paths,
            key=jr.key(0),
            grid={"compressor.p": W4_KEEP},
            progress=False,
        )
        return ds["ms_growth_rate"].values, ds.attrs

    first, median = timed(w4)
    _, attrs = w4()
    total = len(W4_LEARNING_RATES) * len(W4_KEEP) * cell_paths * map_steps
    results["W4"] = dict(
        paths_per_cell=cell_paths,
        steps=map_steps,
        median_s=median,
        compile_s=first - median,
        path_steps_per_s=total / median,
        eta_block=int(attrs["eta_block"]),
        path_block=int(attrs["path_block"]),
    )
    print(
        f"W4-shaped: 64 η × 16 p × {cell_paths} paths × {map_steps} steps: {median:.3f} s, "
        f"{total / median:.3g} path-steps/s (target 1e9), compile {first - median:.1f} s",
        flush=True,
    )
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
