# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Which SDE gets the step-size limit right?
#
# DCSGD on an isotropic quadratic f = λ‖x‖²/2 with affine noise and Bernoulli sparsification
# has an exact mean-square threshold η* = 2/(λ(1 + B_eff/N)) (model.md §7, H1). Here we measure it
# for the discrete algorithm and its three SDE models, all built from the same three values.
# Set `SDEJAX_QUICK=1` for a small run.

# %%
import os

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import sdejax

QUICK = os.environ.get("SDEJAX_QUICK") == "1"
n_paths, steps, n_rates, substeps = (100, 30, 8, 20) if QUICK else (500, 100, 24, 30)

algorithm = sdejax.DCSGD(sdejax.BernoulliSparsifier(0.25), n_workers=8)  # ω = 3
problem = sdejax.Quadratic(jnp.ones(10))
noise = sdejax.AffineGaussianNoise(sigma0=0.0, sigma1=0.1)
print("B_eff =", sdejax.theory.effective_noise(algorithm, problem, noise))

# %% [markdown]
# One call maps every model over the learning-rate grid (one compiled batch per model).
#
# The SDEs are integrated by Euler–Maruyama with dt = η/`sde_substeps`. That integrator has a
# mean-square stability limit of its own: for SME-2 at η ≈ 4.5 with dt = η/10 the Euler factor
# (1 − dt(λ + ηλ²/2))² + dt·η·λ²B/N already exceeds 1, and an integrator artefact would look like
# a model threshold. With large η we therefore take 30 substeps (dt = η/30; 20 in the quick run).

# %%
models = ("discrete", "sme1", "sme2", "corrected")
ds = sdejax.stability_sweep(
    algorithm,
    problem,
    noise,
    x0=jnp.ones(10),
    learning_rates=np.linspace(0.4, 5.5, n_rates),
    steps=steps,
    n_paths=n_paths,
    key=jax.random.key(0),
    models=models,
    sde_substeps=substeps,
)
for model in models:
    predicted = sdejax.theory.ms_threshold(model, algorithm, problem, noise)
    print(f"{model:9s} measured {sdejax.threshold(ds, model):6.3f}   formula {predicted:6.3f}")

# %%
fig, ax = plt.subplots(figsize=(7, 4))
etas = ds.learning_rate.values
for model in models:
    rate, se = ds.ms_growth_rate.sel(model=model), ds.ms_growth_rate_se.sel(model=model)
    (line,) = ax.plot(etas, rate, label=f"{model} (measured)")
    ax.fill_between(etas, rate - 1.96 * se, rate + 1.96 * se, color=line.get_color(), alpha=0.2)
    exact = sdejax.theory.ms_growth_rate(model, algorithm, problem, noise, etas)
    ax.plot(etas, exact, ls="--", color=line.get_color(), lw=1)
ax.axhline(0, color="grey", lw=0.8)
ax.set(
    xlabel="learning rate η",
    ylabel="mean-square growth rate per unit time",
    ylim=(-3, 3),
    title="dashed: exact formulas of model.md §7",
)
ax.legend()

# %% [markdown]
# The corrected model's boundary coincides with the discrete one; SME-1 predicts stability far
# beyond it, and SME-2 predicts none at all here (B_eff < N).
