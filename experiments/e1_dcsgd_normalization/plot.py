"""Figure of E1/E2 from the saved results."""

from __future__ import annotations

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
TITLES = {
    "constant": "DCSGD, constant η = {eta_constant:g}",
    "plain": "plain normalized, step {eta_plain:g}·ĝ/‖ĝ‖",
    "theory": "theory-scaled normalized, η = {eta_theory:g} [reconstructed]",
}


def main():
    args = parse(__doc__, HERE)
    ds = xr.open_dataset(Path(args.results) / "e1.nc")
    figures = ensure(args.figures)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2), sharey=True)
    cmap = plt.get_cmap("viridis")
    keep = ds.keep_probability.values
    for ax, method in zip(axes, ds.optimizer.values, strict=True):
        for j, p in enumerate(keep):
            loss = ds.loss.sel(optimizer=method, keep_probability=p).values
            finite = np.where(np.isfinite(loss) & (loss < 1e6), loss, np.nan)
            alive = np.any(np.isfinite(finite), axis=0)
            median = np.full(finite.shape[1], np.nan)
            median[alive] = np.nanmedian(finite[:, alive], axis=0)
            blown = np.mean(~np.isfinite(finite), axis=0)
            label = f"ω = {1 / p - 1:g}" + (" (diverged)" if blown[-1] > 0.5 else "")
            ax.plot(ds.step, median, color=cmap(j / max(len(keep) - 1, 1)), label=label)
        ax.set(yscale="log", xlabel="step", title=TITLES[str(method)].format(**ds.attrs))
        ax.legend(fontsize=8, loc="upper right")
    axes[0].set_ylabel(f"training loss (median over {ds.sizes['seed']} seeds)")
    fig.suptitle(
        f"E1/E2: MLP on digits, N = {ds.attrs['n_workers']} workers, Bernoulli "
        f"sparsification, affine noise σ1 = {ds.attrs['sigma1']:g}"
    )
    fig.tight_layout()
    fig.savefig(figures / "e1_dcsgd_normalization.png", dpi=120)
    print(f"wrote {figures / 'e1_dcsgd_normalization.png'}")


if __name__ == "__main__":
    main()
