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
# # Quickstart
#
# sdejax simulates distributed compressed optimizers over thousands of random paths at once, side
# by side with their SDE models. A run is specified by three values: a **problem**, a **noise**
# model and an **algorithm** (which holds the **compressor** and the number of workers N). The
# same three values drive the discrete algorithm and its three SDE models
# ([docs/theory.md](../docs/theory.md) §1–§5).
#
# This notebook: build the three values, simulate the algorithm and its SDE models, then draw a
# stability map with its exact theory overlay. Set the environment variable
# `SDEJAX_NOTEBOOK_QUICK=1` to run everything at a tiny size (the test suite does).

# %%
import os

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import sdejax

QUICK = os.environ.get("SDEJAX_NOTEBOOK_QUICK") == "1"
n_paths, map_paths, map_steps, n_rates, n_keep = (128, 64, 40, 8, 4) if QUICK else (1000, 256, 150, 24, 10)
# Each model of a map is one compiled program (about 15 s of compilation for an SDE model).
map_models = ("discrete",) if QUICK else ("discrete", "corrected")

# %% [markdown]
# ## Problem, noise, compressor, algorithm
#
# * Problem: the quadratic f(x) = ½‖x‖² in d = 10 dimensions (every eigenvalue λ = 1).
# * Noise: the paper's multiplicative affine noise, Z ~ N(0, σ1²‖∇f(x)‖² I) with σ1 = 0.1 (§2).
# * Compressor: the Bernoulli sparsifier keeps each coordinate with probability p and divides it
#   by p: unbiased, with compression variance ω = 1/p − 1 (§3). p = 0.2 gives ω = 4.
# * Algorithm: DCSGD over N = 8 workers: x ← x − η (1/N) Σ_i C_i(∇f(x) + Z_i) (§4).

# %%
d = 10
problem = sdejax.Quadratic(jnp.ones(d))
noise = sdejax.AffineGaussianNoise(sigma0=0.0, sigma1=0.1)
compressor = sdejax.BernoulliSparsifier(0.2)
algorithm = sdejax.DCSGD(compressor, n_workers=8)
x0 = jnp.ones(d)

print("ω =", compressor.omega(d))
print("B_eff = ω + dσ1²(1 + ω) =", sdejax.theory.effective_noise(algorithm, problem, noise))
models = ("discrete", "sme1", "sme2", "corrected")
exact = {m: sdejax.theory.ms_threshold(m, algorithm, problem, noise) for m in models}
print("exact mean-square thresholds η*:", {m: round(v, 4) for m, v in exact.items()})

# %% [markdown]
# The exact thresholds come from the second-moment operators of §7a; on this isotropic problem
# they are the closed forms of §6 H1: the discrete algorithm and the curvature-corrected SDE share
# η* = 2/(λ(1 + B_eff/N)) = 1.28; SME-1 predicts 2N/(λ B_eff) = 3.56, far too large; SME-2
# predicts no threshold at all here (B_eff < N).
#
# ## The algorithm and its three SDE models
#
# `sdejax.simulate` runs `n_paths` independent paths of one model and reduces them on the fly to
# means with standard errors. Below the threshold (η = 0.8) every model contracts; above it
# (η = 1.8) the discrete algorithm and the corrected SDE grow while SME-1 and SME-2 still
# contract. Both runs take 20 steps; the learning rate is a traced value, so the second η does
# not recompile (the number of steps does). The SDE models are integrated by Euler–Maruyama with
# dt = η/10 (`sde_substeps`).

# %%
fig, axes = plt.subplots(1, 2, figsize=(11, 4))
for ax, eta in zip(axes, (0.8, 1.8), strict=True):
    runs = {
        model: sdejax.simulate(
            algorithm,
            problem,
            noise,
            x0=x0,
            learning_rate=eta,
            steps=20,
            n_paths=n_paths,
            key=jax.random.key(0),
            model=model,
        )
        for model in models
    }
    sdejax.plot_trajectories(runs, ax=ax)
    ax.set_title(f"η = {eta} (exact η* = {exact['discrete']:.2f})")
plt.show()

# %% [markdown]
# Each curve is the mean loss with a 95 % band (mean ± 1.96 SE) over SDE time t = kη, the time in
# which the SDE models are written (§1). Above the threshold the mean is carried by a few paths
# that grow fast (E‖x‖² grows before typical paths do, §7b), so the growing curves are ragged.
#
# ## A stability map with its theory overlay
#
# `sdejax.stability_sweep` maps the mean-square growth rate of E‖x − x*‖² per unit time over
# learning rate × any parameter grid, here the keep-probability p (ω = 1/p − 1). Array
# parameters such as `compressor.p` are vmapped in one compiled program. The growth rate is
# estimated by population dynamics, with a standard error (§7d).

# %%
ds = sdejax.stability_sweep(
    algorithm,
    problem,
    noise,
    x0=x0,
    learning_rates=np.geomspace(0.3, 3.0, n_rates),
    steps=map_steps,
    n_paths=map_paths,
    key=jax.random.key(1),
    models=map_models,
    grid={"compressor.p": np.geomspace(0.05, 1.0, n_keep)},
)
fig = sdejax.plot_stability_map(ds, x="compressor.p")
plt.show()

# %% [markdown]
# Blue is stable (E‖x − x*‖² shrinks), red unstable. The dashed line is the exact threshold of
# each model (`theory_threshold`, §7a); the dots with bars are the measured zero crossings
# ± 1.96 SE. `sdejax.threshold(ds, model, with_se=True)` returns the measured threshold and its
# standard error for every cell (§7d):

# %%
table = {"p": ds["compressor.p"].values, "ω": 1 / ds["compressor.p"].values - 1}
table["exact η*"] = ds.theory_threshold.sel(model="discrete").values
for model in map_models:
    value, se = sdejax.threshold(ds, model, with_se=True)
    table[f"{model} measured"] = [f"{v:.3f} ± {s:.3f}" for v, s in zip(value.values, se.values, strict=True)]
    z = (value - ds.theory_threshold.sel(model=model)) / se
    print(f"{model}: (measured − exact)/SE ranges over [{float(z.min()):.1f}, {float(z.max()):.1f}]")
pd.DataFrame(table).round(3)

# %% [markdown]
# The discrete algorithm's measured thresholds agree with the exact ones to within a few standard
# errors (printed above). The corrected SDE's follow the same curve but are noisier at strong
# compression: its
# Gaussian increments spread log‖X‖² widely, the mean-square estimate is carried by rare paths,
# and the estimator's O(1/n_paths) bias (§7d) can put a cell a few standard errors off; more
# paths shrink both. Next, `02_which_sde_gets_the_step_size_right` puts all four models side by
# side on isotropic and rotated anisotropic problems.
