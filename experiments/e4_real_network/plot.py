"""Figures of E4 from the saved results (results/e4_dcsgd.nc, results/e4_dsignsgd.nc).

Curves are the median over seeds with a band from the smallest to the largest seed (a diverged
seed, whose loss is non-finite, counts as +inf, so its band reaches the top of the axes); summary
panels show the final test accuracy as mean ± standard error over seeds.
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

HERE = Path(__file__).resolve().parent
LOSS_TOP = 20.0  # loss axis top: log(10) = 2.30 is chance level; above it the run has blown up


def as_inf(values):
    """Non-finite or huge losses count as +inf (diverged)."""
    values = np.asarray(values, float)
    return np.where(np.isfinite(values) & (values < 1e6), values, np.inf)


def band(ax, steps, runs, color, label, linestyle="-"):
    """Median over seeds (axis 0) with a min–max band; +inf clipped to the top of the axes."""
    runs = as_inf(runs)
    median = np.median(runs, axis=0)
    low, high = np.min(runs, axis=0), np.max(runs, axis=0)
    clip = lambda v: np.minimum(v, LOSS_TOP * 10)  # noqa: E731
    ax.fill_between(steps, clip(low), clip(high), color=color, alpha=0.18, linewidth=0)
    ax.plot(
        steps, np.where(np.isfinite(median), median, np.nan), color=color, label=label, linestyle=linestyle
    )
    # a median that became +inf: mark where
    gone = np.flatnonzero(~np.isfinite(median))
    if gone.size:
        ax.plot(steps[gone[0]], LOSS_TOP * 0.8, marker="x", color=color, markersize=7)


def mean_se(values):
    values = np.asarray(values, float)
    return values.mean(axis=-1), values.std(axis=-1, ddof=1) / np.sqrt(values.shape[-1])


def figure_a(ds, figures):
    cfg = json.loads(ds.attrs["config"])
    steps = ds.step.values
    omegas = ds.omega.values
    cmap = plt.get_cmap("viridis")
    colors = [cmap(j / max(len(omegas) - 1, 1)) for j in range(len(omegas))]
    panels = ["constant η = 0.25", "constant η = 0.5", "theory-scaled η = 1"]
    fig, axes = plt.subplots(1, 4, figsize=(17, 4.3), gridspec_kw={"width_ratios": [1, 1, 1, 1.1]})
    for ax, method in zip(axes[:3], panels, strict=True):
        for j, omega in enumerate(omegas):
            runs = ds.train_loss.sel({"method": method, "omega": omega}).values
            final = as_inf(runs[:, -1])
            tag = f" ({np.mean(~np.isfinite(final)):.0%} diverged)" if np.any(~np.isfinite(final)) else ""
            band(ax, steps, runs, colors[j], f"ω = {omega:g}{tag}")
        ax.set(
            yscale="log",
            ylim=(3e-3, LOSS_TOP),
            xlabel="step",
            title=method.replace("theory-scaled", "theory-scaled [reconstr.]"),
        )
        ax.axhline(np.log(10), color="0.6", linewidth=0.8, linestyle=":")
        ax.legend(fontsize=7.5, loc="lower left")
    axes[0].set_ylabel(f"training loss (median, min–max over {ds.sizes['seed']} seeds)")
    axes[0].text(steps[-1], np.log(10) * 1.08, "chance (log 10)", ha="right", fontsize=7, color="0.4")
    ax = axes[3]
    styles = {
        "constant η = 0.25": ("C3", "o"),
        "constant η = 0.5": ("C1", "s"),
        "theory-scaled η = 1": ("C0", "^"),
        "theory-scaled η = 1.9": ("C2", "v"),
    }
    x = np.arange(len(omegas))
    for k, (method, (color, marker)) in enumerate(styles.items()):
        acc = ds.test_accuracy.sel({"method": method}).values[:, :, -1]
        mean, se = mean_se(acc)
        ax.errorbar(x + (k - 1.5) * 0.08, mean, yerr=se, color=color, marker=marker, capsize=3, label=method)
    ax.set_xticks(x, [f"{o:g}" for o in omegas])
    ax.set(
        xlabel="compression ω (Bernoulli, p = 1/(1 + ω))",
        ylabel="final test accuracy (mean ± SE)",
        title=f"after {steps[-1]} steps",
        ylim=(0, 1.02),
    )
    ax.axhline(0.1, color="0.6", linewidth=0.8, linestyle=":")
    ax.legend(fontsize=8, loc="lower left")
    fig.suptitle(
        f"E4(a): CNN on digits, N = {cfg['n_workers']} workers × batch {cfg['batch_per_worker']}, DCSGD with "
        f"Bernoulli sparsification, injected affine noise σ1 = {cfg['affine_sigma1']:g}; "
        f"theory-scaled with (L0, L1) = ({cfg['l0']:g}, {cfg['l1']:g})"
    )
    fig.tight_layout()
    path = figures / "e4_a_dcsgd_constant_vs_theory.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"wrote {path}")


def figure_b(ds, figures):
    cfg = json.loads(ds.attrs["config"])
    steps = ds.step.values
    omegas = ds.omega.values
    cmap = plt.get_cmap("viridis")
    colors = [cmap(j / max(len(omegas) - 1, 1)) for j in range(len(omegas))]
    panels = ["plain s = 0.2", "plain s = 2", "theory-scaled η = 1.9"]
    fig, axes = plt.subplots(1, 4, figsize=(17, 4.3), gridspec_kw={"width_ratios": [1, 1, 1, 1.1]})
    for ax, method in zip(axes[:3], panels, strict=True):
        for j, omega in enumerate(omegas):
            band(
                ax,
                steps,
                ds.train_loss.sel({"method": method, "omega": omega}).values,
                colors[j],
                f"ω = {omega:g}",
            )
        title = method.replace("plain s", "plain, step length s").replace(
            "theory-scaled", "theory-scaled [reconstr.]"
        )
        ax.set(yscale="log", ylim=(3e-3, 4), xlabel="step", title=title)
        ax.legend(fontsize=7.5, loc="lower left")
    axes[0].set_ylabel(f"training loss (median, min–max over {ds.sizes['seed']} seeds)")
    ax = axes[3]
    styles = {
        "plain s = 0.2": ("C4", "o", "--"),
        "plain s = 2": ("C3", "s", "--"),
        "theory-scaled η = 1": ("C0", "^", "-"),
        "theory-scaled η = 1.9": ("C2", "v", "-"),
    }
    x = np.arange(len(omegas))
    for k, (method, (color, marker, ls)) in enumerate(styles.items()):
        final = as_inf(ds.train_loss.sel({"method": method}).values[:, :, -1])
        ax.plot(
            x + (k - 1.5) * 0.08,
            np.median(final, axis=1),
            color=color,
            marker=marker,
            linestyle=ls,
            label=method,
        )
        ax.vlines(x + (k - 1.5) * 0.08, final.min(axis=1), final.max(axis=1), color=color, linewidth=1)
    ax.set_xticks(x, [f"{o:g}" for o in omegas])
    ax.set(
        yscale="log",
        xlabel="compression ω",
        ylabel="final training loss (median, min–max)",
        title=f"after {steps[-1]} steps",
    )
    ax.legend(fontsize=8, loc="upper left")
    fig.suptitle(
        f"E4(b): plain normalization (fixed step length s) vs theory-scaled normalization, same network and "
        f"noise (σ1 = {cfg['affine_sigma1']:g})"
    )
    fig.tight_layout()
    path = figures / "e4_b_plain_vs_theory.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"wrote {path}")


def figure_c(ds, figures):
    cfg = json.loads(ds.attrs["config"])
    steps = ds.step.values
    dfs, sigmas = ds.df.values, ds.sigma.values
    fig, axes = plt.subplots(
        len(dfs), len(sigmas) + 1, figsize=(4.2 * (len(sigmas) + 1), 3.3 * len(dfs)), squeeze=False
    )
    styles = {
        "constant": ("C3", f"DSignSGD, constant η = {cfg['sign_eta']:g}"),
        "1/sqrt(k+1)": ("C0", f"DSignSGD, η = {cfg['sign_eta']:g}/√(k+1)"),
        "constant small": ("C1", f"DSignSGD, constant η = {cfg.get('sign_eta_small', 0):g}"),
        "DSGD constant": ("0.4", f"DSGD, constant η = {cfg['dsgd_eta']:g}"),
    }
    for r, df in enumerate(dfs):
        for c, sigma in enumerate(sigmas):
            ax = axes[r, c]
            for schedule, (color, label) in styles.items():
                if schedule not in ds.schedule.values:
                    continue
                runs = ds.train_loss.sel(schedule=schedule, df=df, sigma=sigma).values
                if np.all(np.isnan(runs)):
                    continue
                band(ax, steps, runs, color, label, linestyle="--" if schedule.startswith("DSGD") else "-")
            ax.set(yscale="log", ylim=(1e-3, LOSS_TOP), title=f"ν = {df}, σ = {sigma:g}")
            ax.axhline(np.log(10), color="0.6", linewidth=0.8, linestyle=":")
            if r == len(dfs) - 1:
                ax.set_xlabel("step")
            if c == 0:
                ax.set_ylabel("training loss")
            if r == 0 and c == len(sigmas) // 2:
                ax.legend(fontsize=7.5, loc="upper right")
        ax = axes[r, -1]
        x = np.arange(len(sigmas))
        for k, schedule in enumerate(("constant", "1/sqrt(k+1)", "constant small")):
            if schedule not in ds.schedule.values:
                continue
            color, label = styles[schedule]
            acc = ds.test_accuracy.sel(schedule=schedule, df=df).values[:, :, -1]
            mean, se = mean_se(acc)
            ax.errorbar(x + (k - 1) * 0.08, mean, yerr=se, color=color, marker="o", capsize=3, label=label)
        dsgd = ds.test_accuracy.sel(schedule="DSGD constant", df=df).values[:, :, -1]
        keep = ~np.all(np.isnan(dsgd), axis=1)
        if keep.any():
            mean, se = mean_se(dsgd[keep])
            ax.errorbar(
                x[keep],
                mean,
                yerr=se,
                color="0.4",
                marker="x",
                linestyle="none",
                capsize=3,
                label=styles["DSGD constant"][1],
            )
        ax.set_xticks(x, [f"{s:g}" for s in sigmas])
        ax.set(ylim=(0, 1.02), title=f"ν = {df}: final test accuracy (mean ± SE)")
        ax.axhline(0.1, color="0.6", linewidth=0.8, linestyle=":")
        if r == len(dfs) - 1:
            ax.set_xlabel("Student-t scale σ")
        if r == 0:
            ax.legend(fontsize=7, loc="center")
    fig.suptitle(
        f"E4(c): DSignSGD on the CNN under injected Student-t noise Z_i = σT (ν = 1 is Cauchy), N = 8; "
        f"median and min–max over {ds.sizes['seed']} seeds"
    )
    fig.tight_layout()
    path = figures / "e4_c_dsignsgd_student_t.png"
    fig.savefig(path, dpi=80)
    plt.close(fig)
    print(f"wrote {path}")


def main():
    args = parse(__doc__, HERE)
    figures = ensure(args.figures)
    results = Path(args.results)
    dcsgd = xr.open_dataset(results / "e4_dcsgd.nc")
    figure_a(dcsgd, figures)
    figure_b(dcsgd, figures)
    path = results / "e4_dsignsgd.nc"
    if path.exists():
        figure_c(xr.open_dataset(path), figures)


if __name__ == "__main__":
    main()
