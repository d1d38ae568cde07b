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
# # Stability maps at scale
#
# `sdejax.stability_sweep` maps the mean-square growth rate of E‖x − x*‖² over learning rate ×
# any grid of parameters, here the compression level ω, the number of workers N, the dimension d
# and the noise level σ1, in one call. This notebook shows how the grid is laid out, how the work
# is cut into chunks that fit a memory budget, how an interrupted sweep resumes from its file, and
# how to read thresholds with their uncertainty. The estimators are those of
# [docs/theory.md](../docs/theory.md) §7; the mechanics are in `docs/scale.md`.
# `SDEJAX_NOTEBOOK_QUICK=1` runs a tiny version (one value of N and of d).

# %%
import os
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr
from IPython.display import display

import sdejax

QUICK = os.environ.get("SDEJAX_NOTEBOOK_QUICK") == "1"
if QUICK:
    keep, workers, dims, sigmas = np.geomspace(0.05, 1.0, 3), [8], [10], [0.0, 0.1]
    n_rates, n_paths, steps, budget = 8, 64, 40, 2 * 2**20
else:
    keep, workers, dims, sigmas = np.geomspace(0.05, 1.0, 6), [2, 8, 32], [5, 20], [0.0, 0.1, 0.2]
    n_rates, n_paths, steps, budget = 24, 256, 120, 64 * 2**20

# %% [markdown]
# ## The grid
#
# Each grid entry is a **parameter path** (`component.constructor_argument`) and becomes a
# dimension of the result named by the path. Array parameters (`compressor.p`, `noise.sigma1`)
# are vmapped inside one compiled program; static ones (`n_workers`, the dimension) compile once
# per value. The dimension enters through the problem's eigenvalue vector (`problem.eigenvalues`,
# one array per value, indexed 0, 1, …), so `x0` is a function of the problem.

# %%
algorithm = sdejax.DCSGD(sdejax.BernoulliSparsifier(0.5), n_workers=8)
problem = sdejax.Quadratic(jnp.ones(10))
noise = sdejax.AffineGaussianNoise(sigma0=0.0, sigma1=0.1)
grid = {
    "compressor.p": keep,  # ω = 1/p − 1
    "n_workers": workers,
    "problem.eigenvalues": [jnp.ones(d) for d in dims],
    "noise.sigma1": sigmas,
}
learning_rates = np.geomspace(0.15, 1.9, n_rates)
print("cells:", np.prod([len(v) for v in grid.values()]), "× learning rates:", n_rates)

# %% [markdown]
# ## Chunks, a file, an interruption and a resume
#
# The work is cut into **chunks** that fit `memory_budget` bytes per device (default 512 MiB);
# the result does not depend on the chunking, bit for bit. With `out=` the dataset so far is
# written atomically after every chunk, so a sweep killed at any moment leaves a valid file, and
# calling again with the same arguments resumes from the finished chunks.
#
# We set a small budget to get many chunks, and interrupt the sweep from its `callback` after
# three chunks, as a crash or a lost job would.

# %%
out = Path(tempfile.mkdtemp()) / "map.nc"
sweep = dict(
    x0=lambda problem: jnp.ones(problem.dim),
    learning_rates=learning_rates,
    steps=steps,
    n_paths=n_paths,
    key=jax.random.key(0),
    grid=grid,
    memory_budget=budget,  # bytes per chunk, small enough to give many chunks here
    out=out,
)


class Interrupted(Exception):
    pass


finished_chunks = []


def stop_after_three(done, total):
    finished_chunks.append(done)
    if len(finished_chunks) == 3:
        raise Interrupted(f"stopped after 3 chunks (of {total})")


try:
    sdejax.stability_sweep(algorithm, problem, noise, callback=stop_after_three, **sweep)
except Interrupted as stop:
    print(stop)

with xr.open_dataset(out) as partial:
    print(f"the file holds {int(partial.completed.sum())} of {partial.completed.size} finished tasks")

# %% [markdown]
# The file is a complete netCDF dataset whose `completed` variable says which (model, learning
# rate, cell) tasks are final; `sdejax plot` and `sdejax.plot_stability_map` mark such a file as
# partial. The same call picks up where it stopped:

# %%
resumed = []
ds = sdejax.stability_sweep(
    algorithm, problem, noise, callback=lambda done, total: resumed.append(done), **sweep
)
with xr.open_dataset(out) as final:
    print(f"resumed: ran {len(resumed)} more chunks; every task finished: {bool(final.completed.all())}")
display(ds)

# %% [markdown]
# ## One slice of the map
#
# `select` picks the other grid dimensions (nearest grid value; `problem.eigenvalues` by index).
# Blue is mean-square stable, red unstable; the dashed line is the exact threshold of §7a, the
# dots with bars the measured crossing ± 1.96 SE.

# %%
fig = sdejax.plot_stability_map(
    ds, x="compressor.p", select={"n_workers": 8, "problem.eigenvalues": 0, "noise.sigma1": 0.1}
)
plt.show()

# %% [markdown]
# ## Thresholds with their uncertainty
#
# `sdejax.threshold(ds, "discrete", with_se=True)` returns two DataArrays over every grid
# dimension: the measured threshold (where the growth rate crosses 0, quadratic interpolation)
# and its delta-method standard error (§7d). Where the learning-rate grid holds no crossing the
# value is NaN and the `bound` coordinate says why: `above` (stable over the whole grid: η* lies
# above it), `below` (unstable throughout), `unclear` (the rate changes sign but is never clearly
# positive) or `undefined` (no usable rate).

# %%
value, se = sdejax.threshold(ds, "discrete", with_se=True)
exact = ds.theory_threshold.sel(model="discrete")
print("cells by bound:", pd.Series(value.bound.values.ravel()).value_counts().to_dict())
frame = pd.DataFrame(
    {
        "measured": value.values.ravel(),
        "se": se.values.ravel(),
        "exact": exact.transpose(*value.dims).values.ravel(),
        "bound": value.bound.values.ravel(),
    },
    index=value.to_series().index,
)
frame[frame.bound != "inside"].head()

# %% [markdown]
# Where the crossing is inside the grid, the exact threshold is a test of the standard errors: the
# z-scores (measured − exact)/SE should look like draws of a standard normal, give or take the
# estimator's O(1/n_paths) bias (and the delta-method SE is conservative, §7d).

# %%
inside = frame[frame.bound == "inside"]
z = (inside.measured - inside.exact) / inside.se
print(f"{len(z)} cells: |z| < 2 in {np.mean(np.abs(z) < 2):.0%}, median |z| = {np.median(np.abs(z)):.2f}")
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
axes[0].errorbar(inside.exact, inside.measured, yerr=1.96 * inside.se, fmt="o", ms=3, alpha=0.7)
axes[0].plot([0, 2], [0, 2], color="grey", lw=0.8)
axes[0].set(xlabel="exact η* (§7a)", ylabel="measured η* ± 1.96 SE", title="every cell with a crossing")
axes[1].hist(z, bins=20)
axes[1].set(xlabel="(measured − exact) / SE", ylabel="cells", title="z-scores")
plt.show()

# %% [markdown]
# The trends of §6 H6: the threshold rises with N and falls with ω, d and σ1.

# %%
fig, axes = plt.subplots(1, len(dims), figsize=(5.5 * len(dims), 4), sharey=True, squeeze=False)
one_plus_omega = 1 / keep  # 1 + ω = 1/p: a log axis that shows ω = 0
for ax, (i, d) in zip(axes[0], enumerate(dims), strict=True):
    for n in workers:
        at = {"n_workers": n, "problem.eigenvalues": i, "noise.sigma1": sigmas[-1]}
        (line,) = ax.plot(one_plus_omega, exact.sel(at), ls="--", lw=1)
        ax.errorbar(
            one_plus_omega,
            value.sel(at),
            yerr=1.96 * se.sel(at),
            fmt="o",
            color=line.get_color(),
            label=f"N = {n}",
        )
    ax.set(xscale="log", xlabel="1 + ω", title=f"d = {d}, σ1 = {sigmas[-1]}")
axes[0, 0].set_ylabel("η* (dots: measured ± 1.96 SE; dashed: exact)")
axes[0, 0].legend()
plt.show()

# %% [markdown]
# ## Mean-square versus almost-sure
#
# E‖x − x*‖² is carried by rare paths, so it starts to grow before typical paths do (§7b). The
# almost-sure growth rate `as_growth_rate` (the top Lyapunov exponent of typical paths) has its
# own, larger threshold, read the same way with `variable="as_growth_rate"`. Where typical paths
# do not blow up anywhere on the grid, its bound is `above`.

# %%
almost_sure, almost_sure_se = sdejax.threshold(ds, "discrete", variable="as_growth_rate", with_se=True)
at = {"n_workers": 8, "problem.eigenvalues": 0, "noise.sigma1": sigmas[-1]}
fig, ax = plt.subplots(figsize=(6.5, 4))
ax.plot(one_plus_omega, exact.sel(at), "k--", lw=1, label="mean-square, exact")
ax.errorbar(one_plus_omega, value.sel(at), yerr=1.96 * se.sel(at), fmt="o", label="mean-square, measured")
ax.errorbar(
    one_plus_omega,
    almost_sure.sel(at),
    yerr=1.96 * almost_sure_se.sel(at),
    fmt="s",
    label="almost-sure, measured",
)
ax.set(xscale="log", xlabel="1 + ω", ylabel="threshold η*", title=f"N = 8, d = {dims[0]}, σ1 = {sigmas[-1]}")
ax.legend()
plt.show()
print("almost-sure bound per ω:", [str(bound) for bound in almost_sure.bound.sel(at).values])

# %% [markdown]
# ## Explore the precomputed map
#
# With ipywidgets and a live kernel, the sliders below redraw the map for any N, d and σ1 from the
# dataset already computed (nothing is simulated again). Without a frontend (a static view of the
# notebook, or the test suite) the widget is built but cannot be shown.

# %%
try:
    import ipywidgets
except ImportError:
    ipywidgets = None

if ipywidgets is not None:

    def show(n_workers, dimension, sigma1):
        select = {
            "n_workers": n_workers,
            "problem.eigenvalues": dims.index(dimension),
            "noise.sigma1": sigma1,
        }
        sdejax.plot_stability_map(ds, x="compressor.p", select=select)
        plt.show()

    ipywidgets.interact(
        show,
        n_workers=ipywidgets.SelectionSlider(options=workers, value=workers[len(workers) // 2]),
        dimension=ipywidgets.SelectionSlider(options=dims),
        sigma1=ipywidgets.SelectionSlider(options=sigmas),
    )
