"""Figure of E3 from the saved results."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import xarray as xr  # noqa: E402
from _common import ensure, parse  # noqa: E402

HERE = Path(__file__).resolve().parent


def main():
    args = parse(__doc__, HERE)
    ds = xr.open_dataset(Path(args.results) / "e3.nc")
    figures = ensure(args.figures)
    sigmas = ds.sigma.values
    fig, axes = plt.subplots(1, len(sigmas), figsize=(4.6 * len(sigmas), 4), sharey=True)
    colours = {
        "DSignSGD, constant η": "tab:blue",
        "DSignSGD, η0/√(k+1)": "tab:green",
        "DSGD, constant η": "tab:red",
    }
    names = {"DSGD, constant η": "DSGD, constant η (median path)"}
    for ax, sigma in zip(axes, sigmas, strict=True):
        for run, colour in colours.items():
            sel = ds.sel(sigma=sigma, run=run)
            mean, se = sel.loss_mean, sel.loss_se
            if run.startswith("DSGD"):  # no finite mean under Cauchy noise: show the median path
                mean = sel.loss_median
            ok = mean.values < 1e300
            ax.plot(sel.step[ok], mean[ok], color=colour, label=names.get(run, run))
            if run.startswith("DSignSGD"):  # DSGD under Cauchy noise has no finite moments: no SE band
                ax.fill_between(
                    sel.step[ok], (mean - 1.96 * se)[ok], (mean + 1.96 * se)[ok], color=colour, alpha=0.25
                )
            frac = float(sel.diverged_fraction[-1])
            if frac > 0:
                ax.text(
                    0.03, 0.04, f"DSGD: {frac:.0%} of paths diverged", transform=ax.transAxes, color="tab:red"
                )
        floor = float(ds.theory_floor.sel(sigma=sigma, run="DSignSGD, constant η"))
        ax.axhline(floor, color="tab:blue", ls="--", lw=1, label="H4 floor η σ d/(8N p(0))")
        ax.set(xscale="log", yscale="log", xlabel="step k", title=f"Cauchy noise, σ = {sigma:g}")
    axes[0].set_ylabel("loss: DSignSGD mean ± 1.96 SE; DSGD median")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4)
    fig.suptitle("E3: DSignSGD survives heavy tails; a 1/√(k+1) schedule converges for every σ")
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.savefig(figures / "e3_dsignsgd_heavy_tails.png", dpi=120)
    print(f"wrote {figures / 'e3_dsignsgd_heavy_tails.png'}")


if __name__ == "__main__":
    main()
