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
# # DSignSGD under heavy-tailed noise
#
# Signs bound every step, so DSignSGD never diverges (H5); with a constant step its loss
# plateaus at ≈ d η σ/(8 N p(0)) — linear in σ, where SGD's floor is quadratic (H4).
# Set `SDEJAX_QUICK=1` for a small run.

# %%
import os

import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt

import sdejax

QUICK = os.environ.get("SDEJAX_QUICK") == "1"
n_paths, steps = (128, 400) if QUICK else (2000, 3000)
problem = sdejax.Quadratic(jnp.ones(4))
algorithm = sdejax.DSignSGD(n_workers=4)
eta = 0.01

# %%
fig, ax = plt.subplots(figsize=(7, 4))
for df in (1.0, 3.0, 10.0):
    for sigma in (0.5, 2.0):
        noise = sdejax.StudentTNoise(df, sigma)
        ds = sdejax.simulate(
            algorithm,
            problem,
            noise,
            x0=jnp.zeros(4),
            learning_rate=eta,
            steps=steps,
            n_paths=n_paths,
            key=jax.random.key(1),
            save_every=steps // 50,
        )
        floor = sdejax.theory.dsignsgd_loss_floor(algorithm, problem, noise, eta)
        (line,) = ax.plot(ds.step, ds.loss_mean, label=f"ν = {df:g}, σ = {sigma:g}")
        ax.axhline(floor, color=line.get_color(), ls="--", lw=0.8)
        print(
            f"ν = {df:4g} σ = {sigma:3g}: final {float(ds.loss_mean[-1]):.4f} "
            f"± {float(ds.loss_se[-1]):.4f}, H4 floor {floor:.4f}, "
            f"diverged {float(ds.diverged_fraction[-1]):.0%}"
        )
ax.set(xlabel="step", ylabel="mean loss", yscale="log", title="dashed: H4 floors")
ax.legend(fontsize=8)
