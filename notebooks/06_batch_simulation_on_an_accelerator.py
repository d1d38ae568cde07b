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
# # Batch simulation on an accelerator
#
# sdejax vmaps over paths and learning rates, scans over steps and reduces on the fly, so the
# same call fills a CPU core or a GPU. This notebook times two workloads of `benchmarks/` through
# the public API, with sizes that follow the device: small on a CPU, ≥ 10⁵ paths on a GPU. It
# prints the throughput in **path-steps per second** (paths × steps / wall time, compilation
# excluded) and compares it with the CPU figures of `benchmarks/RESULTS.md`.
#
# * **W1**: `sdejax.simulate` of DCSGD with the Bernoulli sparsifier (p = 1/4), affine noise
#   σ1 = 0.1, d = 100, N = 8 workers, η = 0.05.
# * **W4**: a `sdejax.stability_sweep` map of 64 learning rates × 16 keep-probabilities, d = 10,
#   500 steps: the estimators of [docs/theory.md](../docs/theory.md) §7 on every cell.
#
# On a GPU, install the CUDA build of JAX (`pip install -e ".[cuda]"`); nothing else changes.
# `SDEJAX_NOTEBOOK_QUICK=1` runs a tiny version.

# %%
import os
import statistics
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import sdejax

QUICK = os.environ.get("SDEJAX_NOTEBOOK_QUICK") == "1"
backend = jax.default_backend()
on_accelerator = backend != "cpu"
if QUICK:
    w1_paths, w1_steps, w4_paths, w4_steps, repeats = 256, 50, 8, 50, 1
elif on_accelerator:
    w1_paths, w1_steps, w4_paths, w4_steps, repeats = 2**17, 1000, 4096, 500, 3
else:
    w1_paths, w1_steps, w4_paths, w4_steps, repeats = 4096, 1000, 256, 500, 2
print(f"backend {backend}: {jax.device_count()} × {jax.devices()[0].device_kind}")
print(
    f"host: {os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f} (other work slows the timings)"
)
print(f"W1: {w1_paths} paths × {w1_steps} steps; W4: 64 × 16 cells × {w4_paths} paths × {w4_steps} steps")


# %% [markdown]
# A timer: the first call compiles, the median of the next calls is the throughput. Both entry
# points return an xarray Dataset of host arrays, so the timing covers the whole computation.


# %%
def throughput(run, path_steps):
    """Path-steps per second of ``run()`` after its first call, and its last result."""
    start = time.perf_counter()
    run()
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    rate = path_steps / median
    print(f"  first call {first:.2f} s (compilation included), then {median:.3f} s: {rate:.3g} path-steps/s")
    return rate, result


# %% [markdown]
# ## W1: many paths of one algorithm

# %%
w1 = dict(
    algorithm=sdejax.DCSGD(sdejax.BernoulliSparsifier(0.25), n_workers=8),
    problem=sdejax.Quadratic(jnp.ones(100)),
    noise=sdejax.AffineGaussianNoise(0.0, 0.1),
    x0=jnp.ones(100),
    learning_rate=0.05,
    steps=w1_steps,
    n_paths=w1_paths,
    key=jax.random.key(0),
    save_every=w1_steps,
)
print("W1")
ours = {}
ours["W1"], _ = throughput(lambda: sdejax.simulate(**w1), w1_paths * w1_steps)

# %% [markdown]
# ## W4: a whole stability map

# %%
w4 = dict(
    algorithm=sdejax.DCSGD(sdejax.BernoulliSparsifier(0.25), n_workers=8),
    problem=sdejax.Quadratic(jnp.ones(10)),
    noise=sdejax.AffineGaussianNoise(0.0, 0.1),
    x0=jnp.ones(10),
    learning_rates=np.geomspace(0.05, 3.0, 64),
    steps=w4_steps,
    n_paths=w4_paths,
    key=jax.random.key(0),
    grid={"compressor.p": np.linspace(0.1, 1.0, 16)},
)
print("W4")
ours["W4"], stability_map = throughput(lambda: sdejax.stability_sweep(**w4), 64 * 16 * w4_paths * w4_steps)
value, se = sdejax.threshold(stability_map, with_se=True)
exact = stability_map.theory_threshold.sel(model="discrete")
for i in (0, 5, 15):
    p = value["compressor.p"][i].item()
    print(
        f"  p = {p:.1f}: measured η* {value[i].item():.3f} ± {se[i].item():.3f}, exact {exact[i].item():.3f}"
    )

# %% [markdown]
# ## Against the CPU figures of `benchmarks/RESULTS.md`
#
# The benchmark file records, for each workload, sdejax's path-steps per second on a 2-core CPU
# (W1 at 4,096 paths × 1,000 steps; W4 at 256 paths per cell, compilation included). We read the
# `sdejax` row of each table; if the file is not found (the notebook was moved), the values
# recorded there on 2026-11-29 are used: W1 1.25 × 10⁶ and W4 2.58 × 10⁷ path-steps/s.

# %%
recorded = {"W1": 1.25e6, "W4": 2.58e7}
results = Path("..") / "benchmarks" / "RESULTS.md"  # the notebook runs in notebooks/
if results.exists():
    for name in recorded:
        section = results.read_text().split(f"## {name}\n", 1)[1]
        rows = [line.strip("|").split("|") for line in section.splitlines() if line.startswith("| ")]
        columns = [cell.strip() for cell in rows[0]]  # the table's header
        ours_row = next(row for row in rows[1:] if row[columns.index("role")].strip() == "sdejax")
        recorded[name] = float(ours_row[columns.index("path-steps/s")])
    print("read from", results)
for name in recorded:
    ratio = ours[name] / recorded[name]
    print(
        f"{name}: {ours[name]:.3g} path-steps/s here ({backend}), {recorded[name]:.3g} in RESULTS.md", end=""
    )
    print(f" (× {ratio:.2g})")

fig, ax = plt.subplots(figsize=(6, 3.5))
x = np.arange(len(recorded))
ax.bar(x - 0.2, list(recorded.values()), 0.4, label="RESULTS.md, 2-core CPU")
ax.bar(x + 0.2, [ours[name] for name in recorded], 0.4, label=f"this run ({backend})")
ax.set(xticks=x, xticklabels=list(recorded), yscale="log", ylabel="path-steps per second")
ax.legend()
plt.show()

# %% [markdown]
# On a quiet CPU like the one of `RESULTS.md` the numbers here should be close to those recorded
# there (W4's there includes compilation, ours does not); they are lower on a loaded machine (see
# the load average printed at the top) and at the quick size, where fixed costs dominate. The
# project's targets for an accelerator are 10⁸ path-steps/s for W1 and 10⁹ for W4-shaped work
# (not yet measured: see `benchmarks/RESULTS.md`); `benchmarks/gpu.py` is the prepared script
# that measures both. On an accelerator, `stability_sweep` batches about 2¹⁷ paths' worth of
# items per launch (`item_batch`), and with several devices it shards them (`devices=`), bitwise
# the same.
