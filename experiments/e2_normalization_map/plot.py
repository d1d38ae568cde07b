"""Figures of E2 from the saved results: the quartic maps (results/quartic_plain.nc,
results/quartic_theory.nc) and the network grid (results/network.nc).

Failure criteria (also used in FINDINGS.md):
* quartic: the mean final loss over paths is above TARGET (f(x0) = 202.5), and "stalled" marks
  cells whose almost-sure growth rate over the second half of the run is not significantly
  negative (rate + 2 SE >= 0): typical paths no longer approach the minimizer;
* network, on the median training-loss curve over seeds: "unstable" when it ends non-finite,
  above 1.25× its best recorded value, or above its starting value; "no progress" when it ends
  above 0.9× its starting value (log 10 ≈ 2.30) without being unstable; "slow" when it ends above
  0.5 otherwise.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402
from _common import ensure, parse  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402

HERE = Path(__file__).resolve().parent
TARGET = 1e-3  # quartic: final loss to reach
REGRESSION, NO_PROGRESS, SLOW = 1.25, 0.9, 0.5  # network criteria


def quartic_tables(results):
    """(learning rates, ω, σ1, {scaling: (loss, stalled, diverged)}) from the two sweeps."""
    out = {}
    for scaling in ("plain", "theory"):
        ds = xr.open_dataset(results / f"quartic_{scaling}.nc").sel(model="discrete")
        loss = ds.final_loss_mean.transpose("noise.sigma1", "compressor.p", "learning_rate").values
        rate = ds.as_growth_rate.transpose("noise.sigma1", "compressor.p", "learning_rate").values
        se = ds.as_growth_rate_se.transpose("noise.sigma1", "compressor.p", "learning_rate").values
        diverged = ds.diverged_fraction.transpose("noise.sigma1", "compressor.p", "learning_rate").values
        out[scaling] = (loss, rate + 2 * se >= 0, diverged)
        etas = ds.learning_rate.values
        omegas = 1 / ds["compressor.p"].values - 1
        sigmas = ds["noise.sigma1"].values
        info = {"steps": int(ds.attrs.get("steps", 0)), "n_paths": int(ds.attrs.get("n_paths", 0))}
    return etas, omegas, sigmas, out, info


def figure_quartic(results, figures):
    etas, omegas, sigmas, tables, info = quartic_tables(results)
    steps = info["steps"]
    fig, axes = plt.subplots(
        len(sigmas), 2, figsize=(11, 3.0 * len(sigmas) + 0.8), squeeze=False, sharex=True
    )
    norm = LogNorm(1e-6, 1e2)
    for r, sigma in enumerate(sigmas):
        for c, scaling in enumerate(("plain", "theory")):
            ax = axes[r, c]
            loss, stalled, diverged = (t[r] for t in tables[scaling])
            shown = np.clip(np.where(np.isfinite(loss), loss, 1e2), 1e-6, 1e2)
            mesh = ax.pcolormesh(
                np.arange(len(etas) + 1),
                np.arange(len(omegas) + 1),
                shown,
                norm=norm,
                cmap="magma_r",
                shading="flat",
            )
            for j in range(len(omegas)):
                for i in range(len(etas)):
                    color = "white" if shown[j, i] > 1e-2 else "black"
                    if diverged[j, i] > 0:
                        ax.text(i + 0.5, j + 0.5, "div", ha="center", va="center", fontsize=7, color=color)
                        continue
                    if not loss[j, i] <= TARGET:
                        ax.plot(i + 0.4, j + 0.5, marker="x", markersize=5, color=color, markeredgewidth=1.2)
                    if stalled[j, i]:
                        ax.plot(
                            i + 0.72, j + 0.5, marker="o", markersize=4, markerfacecolor="none", color=color
                        )
            ax.set_yticks(np.arange(len(omegas)) + 0.5, [f"{o:g}" for o in omegas])
            ax.set_xticks(np.arange(len(etas)) + 0.5, [f"{e:.3g}" for e in etas], rotation=60, fontsize=7)
            what = "step length s" if scaling == "plain" else "η (= 2ε) [reconstructed rule]"
            ax.set_title(f"{scaling} normalization, σ1 = {sigma:g}", fontsize=10)
            if r == len(sigmas) - 1:
                ax.set_xlabel(what)
            if c == 0:
                ax.set_ylabel("compression ω")
    fig.subplots_adjust(left=0.08, right=0.86, bottom=0.1, top=0.92, hspace=0.35, wspace=0.12)
    cbar = fig.colorbar(mesh, cax=fig.add_axes([0.885, 0.15, 0.018, 0.7]))
    cbar.set_label(f"mean final loss f(x_K) over {info['n_paths']} paths (f(x0) = 202.5)")
    cbar.set_ticks([1e-6, 1e-4, 1e-2, 1, 1e2], labels=["1e-6", "1e-4", "1e-2", "1", "≥1e2"])
    fig.suptitle(
        f"E2 on the quartic Σx⁴/4, d = 10, x0 = 3·1, N = 8, Bernoulli, affine noise, {steps} steps.  "
        f"×: loss > {TARGET:g};  ○: stalled (typical paths no longer approach x*)",
        fontsize=10,
    )
    path = figures / "e2_quartic_map.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"wrote {path}")


def summarize_quartic(results):
    """Print, per (σ1, ω), the learning rates where each rule reaches TARGET and where plain
    normalization fails while theory-scaled normalization (at the same η) does not."""
    etas, omegas, sigmas, tables, _ = quartic_tables(results)

    def fmt(mask):
        idx = np.flatnonzero(mask)
        return (
            "none" if idx.size == 0 else f"{etas[idx[0]]:.3g}–{etas[idx[-1]]:.3g} ({idx.size} of {len(etas)})"
        )

    print(f"quartic: learning rates reaching mean final loss <= {TARGET:g}")
    print(
        "σ1    ω   | plain reaches        | theory reaches       "
        "| plain fails, theory not | theory fails, plain not "
        "| plain stalled | theory stalled | diverged"
    )
    for r, sigma in enumerate(sigmas):
        for j, omega in enumerate(omegas):
            ok = {s: tables[s][0][r, j] <= TARGET for s in tables}
            stalled = {s: tables[s][1][r, j] for s in tables}
            diverged = max(float(tables[s][2][r, j].max()) for s in tables)
            print(
                f"{sigma:4g} {omega:4g}  | {fmt(ok['plain']):20s} | {fmt(ok['theory']):20s} | "
                f"{fmt(~ok['plain'] & ok['theory']):23s} | {fmt(ok['plain'] & ~ok['theory']):23s} | "
                f"{int(stalled['plain'].sum()):2d} of {len(etas)}      "
                f"| {int(stalled['theory'].sum()):2d} of {len(etas)}       "
                f"| {diverged:.0%}"
            )


def network_status(curves):
    """(final median loss, status) per cell; curves (..., seed, step); status is "unstable",
    "no progress", "slow" or "" (module docstring)."""
    med = np.median(np.where(np.isfinite(curves), curves, np.inf), axis=-2)
    final, start = med[..., -1], med[..., 0]
    best = np.min(med, axis=-1)
    unstable = ~np.isfinite(final) | (final > REGRESSION * best) | (final > start)
    stuck = ~unstable & (final > NO_PROGRESS * start)
    slow = ~unstable & ~stuck & (final > SLOW)
    status = np.where(unstable, "unstable", np.where(stuck, "no progress", np.where(slow, "slow", "")))
    return final, status


def figure_network(results, figures):
    ds = xr.open_dataset(results / "network.nc")
    cfg = json.loads(ds.attrs["config"])
    omegas, sigmas = ds.omega.values, ds.sigma1.values
    fig, axes = plt.subplots(
        len(sigmas),
        2,
        figsize=(10, 2.6 * len(sigmas) + 0.9),
        squeeze=False,
        gridspec_kw={"width_ratios": [len(ds.plain_rate), len(ds.theory_rate)]},
    )
    norm = LogNorm(1e-3, 3)
    for c, kind in enumerate(("plain", "theory")):
        rates = ds[f"{kind}_rate"].values
        curves = ds[f"{kind}_train_loss"].transpose("sigma1", "omega", f"{kind}_rate", "seed", "step").values
        final, status = network_status(curves)
        for r, sigma in enumerate(sigmas):
            ax = axes[r, c]
            shown = np.clip(np.where(np.isfinite(final[r]), final[r], 3), 1e-3, 3)
            mesh = ax.pcolormesh(
                np.arange(len(rates) + 1),
                np.arange(len(omegas) + 1),
                shown,
                norm=norm,
                cmap="magma_r",
                shading="flat",
            )
            for j in range(len(omegas)):
                for i in range(len(rates)):
                    tag = status[r, j, i]
                    value = final[r, j, i]
                    text = f"{value:.2g}" if np.isfinite(value) else "inf"
                    ax.text(
                        i + 0.5,
                        j + 0.5,
                        text + ("\n" + tag if tag else ""),
                        ha="center",
                        va="center",
                        fontsize=7.5,
                        color="white" if shown[j, i] > 0.2 else "black",
                    )
            ax.set_xticks(np.arange(len(rates)) + 0.5, [f"{v:g}" for v in rates])
            ax.set_yticks(np.arange(len(omegas)) + 0.5, [f"{o:g}" for o in omegas])
            ax.set_title(f"{kind} normalization, σ1 = {sigma:g}", fontsize=10)
            if r == len(sigmas) - 1:
                ax.set_xlabel("step length s" if kind == "plain" else "η (= 2ε)")
            if c == 0:
                ax.set_ylabel("compression ω")
    fig.subplots_adjust(left=0.08, right=0.86, bottom=0.12, top=0.86, hspace=0.5, wspace=0.15)
    cbar = fig.colorbar(mesh, cax=fig.add_axes([0.885, 0.15, 0.018, 0.68]))
    cbar.set_label("final training loss (median over seeds)")
    cbar.set_ticks([1e-3, 1e-2, 1e-1, 1, 3], labels=["1e-3", "0.01", "0.1", "1", "≥3"])
    fig.suptitle(
        f"E2 on the CNN (digits), N = 8, {cfg['steps']} steps, {cfg['seeds']} seeds. Unstable: final > "
        f"{REGRESSION:g}× best or > start; no progress: final > {NO_PROGRESS:g}× start; "
        f"slow: final > {SLOW:g}",
        fontsize=10,
    )
    path = figures / "e2_network_map.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"wrote {path}")


def summarize_network(results):
    """Print the final median training loss and status of every network cell."""
    ds = xr.open_dataset(results / "network.nc")
    for kind in ("plain", "theory"):
        curves = ds[f"{kind}_train_loss"].transpose("sigma1", "omega", f"{kind}_rate", "seed", "step").values
        acc = ds[f"{kind}_test_accuracy"].transpose("sigma1", "omega", f"{kind}_rate", "seed", "step").values
        final, status = network_status(curves)
        for r, sigma in enumerate(ds.sigma1.values):
            for j, omega in enumerate(ds.omega.values):
                cells = []
                for i, rate in enumerate(ds[f"{kind}_rate"].values):
                    tag = {"unstable": "U", "no progress": "N", "slow": "s", "": " "}[status[r, j, i]]
                    cells.append(
                        f"{rate:g}: {final[r, j, i]:.3g}{tag} acc {np.mean(acc[r, j, i, :, -1]):.3f}"
                    )
                print(f"network {kind:6s} σ1 = {sigma:g} ω = {omega:3g} | " + " | ".join(cells))


def main():
    args = parse(__doc__, HERE)
    figures = ensure(args.figures)
    results = Path(args.results)
    figure_quartic(results, figures)
    summarize_quartic(results)
    if (results / "network.nc").exists():
        figure_network(results, figures)
        summarize_network(results)


if __name__ == "__main__":
    main()
