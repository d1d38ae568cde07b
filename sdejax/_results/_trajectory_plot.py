""":func:`plot_trajectories`: mean loss (or gradient or state norm) of :func:`sdejax.simulate`
results over time, with 95 % confidence bands (matplotlib; reads Datasets only).
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ._labels import Z95, _label


def plot_trajectories(results, *, variable: str = "loss", path=None, dpi: int = 120, ax=None):
    """Mean loss over time with 95% confidence bands (mean ± 1.96 SE), log y-axis.

    **Arguments:**
    - `results`: a Dataset from :func:`sdejax.simulate` (variables ``loss_mean``, ``loss_se``
      over ``time``), or a dict {label: Dataset} / list of Datasets (labelled by their
      ``model`` attribute) to compare models on one axis.
    - `variable`: ``"loss"``, ``"grad_norm_sq"`` or ``"x_norm_sq"``.
    - `path`: if given, save the figure there (PNG).

    **Returns:** the matplotlib ``Figure``.
    """
    import matplotlib.pyplot as plt

    if isinstance(results, xr.Dataset):
        results = {str(results.attrs.get("model", variable)): results}
    elif isinstance(results, (list, tuple)):
        results = {str(ds.attrs.get("model", f"run {i}")): ds for i, ds in enumerate(results)}
    if not results:
        raise ValueError("plot_trajectories: `results` is empty.")
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.4, 4.2), constrained_layout=True)
    else:
        fig = ax.figure
    for i, (label, ds) in enumerate(results.items()):
        for name in (f"{variable}_mean", f"{variable}_se", "time"):
            if name not in ds.variables:
                raise ValueError(
                    f"plot_trajectories: the Dataset {label!r} has no {name!r} "
                    "(expected sdejax.simulate output)."
                )
        t = np.asarray(ds["time"].values, float)
        mean = np.asarray(ds[f"{variable}_mean"].values, float)
        se = np.asarray(ds[f"{variable}_se"].values, float)
        mean = np.where(np.isfinite(mean) & (mean > 0), mean, np.nan)  # 0 (underflow): no log point
        low = np.maximum(mean - Z95 * se, np.where(mean > 0, mean * 1e-3, np.nan))
        ax.plot(t, mean, color=f"C{i}", lw=1.6, label=label)
        ax.fill_between(t, low, mean + Z95 * se, color=f"C{i}", alpha=0.25, lw=0)
    ax.set_yscale("log")
    ax.set_xlabel("time t = kη")
    ax.set_ylabel(f"{_label(variable + '_mean') if variable != 'loss' else 'loss f(x)'}")
    ax.set_title(f"mean {variable} over paths, 95% band (± 1.96 SE)", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    if path is not None:
        fig.savefig(path, dpi=dpi)
    return fig
