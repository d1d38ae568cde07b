"""Plots of sweep and simulation results (matplotlib; they read Datasets only, never run anything).

* :func:`plot_stability_map`: heat maps of the mean-square growth rate and the diverged
  fraction over (grid parameter × learning rate), one panel per model, with the closed-form
  threshold and the measured one overlaid;
* :func:`plot_trajectories`: loss curves with 95% confidence bands.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

_LABELS = {
    "ms_growth_rate": "mean-square growth rate per unit time",
    "as_growth_rate": "almost-sure growth rate per unit time",
    "diverged_fraction": "fraction of diverged paths",
    "final_loss_mean": "final loss (mean over live paths)",
    "learning_rate": "learning rate η",
    "compressor.p": "keep-probability p",
    "compressor.k": "coordinates kept k",
    "noise.sigma1": "multiplicative noise σ1",
    "noise.sigma0": "additive noise σ0",
    "noise.sigma": "noise σ",
    "noise.scale": "noise scale σ",
    "noise.df": "degrees of freedom ν",
    "n_workers": "workers N",
    "algorithm.n_workers": "workers N",
}


def _label(name: str) -> str:
    return _LABELS.get(name, name)


def _edges(values, log: bool):
    """Cell edges for pcolormesh: midpoints (geometric on a log axis), extended at both ends."""
    v = np.asarray(values, dtype=float)
    if v.size == 1:
        return np.array([v[0] * 0.9, v[0] * 1.1]) if log else np.array([v[0] - 0.5, v[0] + 0.5])
    t = np.log(v) if log else v
    mid = 0.5 * (t[1:] + t[:-1])
    edges = np.concatenate([[t[0] - (mid[0] - t[0])], mid, [t[-1] + (t[-1] - mid[-1])]])
    return np.exp(edges) if log else edges


def _log_axis(axis) -> None:
    """Log scale with plain-number labels at 1, 2, 5 × 10^n (no crowded minor labels)."""
    import matplotlib.ticker as mticker

    axis.set_major_locator(mticker.LogLocator(base=10.0, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(mticker.FormatStrFormatter("%g"))
    axis.set_minor_formatter(mticker.NullFormatter())


def _is_geometric(values) -> bool:
    v = np.asarray(values, dtype=float)
    if v.size < 3 or np.any(v <= 0):
        return False
    ratios = v[1:] / v[:-1]
    return bool(np.max(ratios) / np.min(ratios) < 1.05 and np.max(ratios) > 1.05)


def plot_stability_map(
    ds: xr.Dataset,
    *,
    x: str | None = None,
    models=None,
    variables=("ms_growth_rate", "diverged_fraction"),
    select: dict | None = None,
    theory: bool = True,
    measured: bool = True,
    path=None,
    dpi: int = 120,
):
    """Heat maps of a :func:`sdejax.stability_sweep` result, one column per model.

    Rows are ``variables`` (default: the mean-square growth rate, on a diverging colour map
    centred at 0 — blue is stable, red unstable — and the fraction of diverged paths); the
    vertical axis is the learning rate (log scale when the grid is geometric), the horizontal
    axis the grid dimension ``x`` (default: the first grid dimension). Overlays: the closed-form
    mean-square threshold (``theory_threshold``, dashed) and the measured zero crossing of the
    growth rate (:func:`sdejax.threshold`, dots). Without grid dimensions each panel is a
    curve over the learning rate instead.

    **Arguments:**
    - `ds`: the Dataset (or one re-opened from the netCDF file).
    - `x`: the grid dimension on the horizontal axis.
    - `models`: models to draw (default: all).
    - `variables`: one row per variable.
    - `select`: values for any further grid dimensions (default: their first value).
    - `theory`, `measured`: draw the threshold overlays.
    - `path`: if given, save the figure there (PNG) at ``dpi``.

    A partial file (a sweep stopped before its end, whose ``completed`` flags are 0 for some
    cells) is marked "partial: N of M cells computed" above the panels, and its cells not yet
    computed are hatched.

    **Returns:** the matplotlib ``Figure``.
    """
    import matplotlib.colors as mcolors
    import matplotlib.patheffects as patheffects
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    from ._threshold import threshold as measured_threshold

    models = list(ds["model"].values) if models is None else list(models)
    grid_dims = [d for d in ds["ms_growth_rate"].dims if d not in ("model", "learning_rate")]
    if x is None and grid_dims:
        x = grid_dims[0]
    if x is not None and x not in grid_dims:
        raise ValueError(
            f"plot_stability_map: `x` must be one of the grid dimensions {grid_dims}, got {x!r}."
        )
    chosen = dict(select or {})
    fixed = {}
    for dim in grid_dims:
        if dim == x:
            continue
        fixed[dim] = chosen.pop(dim, ds[dim].values[0])
    if chosen:
        raise ValueError(f"plot_stability_map: `select` names unknown dimensions {sorted(chosen)}.")
    view = ds.sel(fixed) if fixed else ds
    etas = np.asarray(view["learning_rate"].values, dtype=float)
    log_eta = _is_geometric(etas)

    halo = [patheffects.withStroke(linewidth=3.5, foreground="white")]
    legend, undefined = {}, False
    # A partial file (stopped or running sweep): cells flagged 0 in `completed` were not
    # computed. They are hatched and marked as such, never shown as "rate undefined".
    computed = view["completed"] == 1 if "completed" in view else None
    n_done = int(ds["completed"].sum()) if "completed" in ds else None
    n_total = int(ds["completed"].size) if "completed" in ds else None
    n_rows, n_cols = len(variables), len(models)
    fig, axes = plt.subplots(
        n_rows,
        n_cols,
        figsize=(4.2 * n_cols + 1.2, 3.6 * n_rows),
        squeeze=False,
        constrained_layout=True,
    )
    suffix = ", ".join(f"{k} = {np.asarray(v).item():g}" for k, v in fixed.items())
    for r, variable in enumerate(variables):
        data = view[variable]
        finite = np.asarray(data.values, dtype=float)
        finite = finite[np.isfinite(finite)]
        if variable in ("ms_growth_rate", "as_growth_rate"):
            cmap = plt.get_cmap("RdBu_r")
            low = float(finite.min()) if finite.size else -1.0
            high = float(finite.max()) if finite.size else 1.0
            bound = max(abs(low), abs(high), 1e-12)
            norm = (
                mcolors.TwoSlopeNorm(vmin=min(low, -1e-12), vcenter=0.0, vmax=max(high, 1e-12))
                if low < 0 < high
                else mcolors.Normalize(-bound, bound)
            )
        elif variable == "diverged_fraction":
            cmap, norm = plt.get_cmap("Reds"), mcolors.Normalize(0.0, 1.0)
        else:
            cmap = plt.get_cmap("viridis")
            norm = mcolors.LogNorm() if finite.size and np.all(finite > 0) else None
        cmap = cmap.with_extremes(over="darkred", bad="lightgrey")
        mappable = None
        for c, model in enumerate(models):
            ax = axes[r, c]
            values = data.sel(model=model)
            if x is None:
                curve = np.asarray(values.values, dtype=float)
                ax.plot(etas, curve, "o-", ms=3, color="C0")
                if variable + "_se" in view:
                    band = 1.96 * np.asarray(view[variable + "_se"].sel(model=model).values, float)
                    ax.fill_between(etas, curve - band, curve + band, color="C0", alpha=0.25, lw=0)
                if variable.endswith("growth_rate"):
                    ax.axhline(0.0, color="grey", lw=0.8)
                    if measured:
                        found, found_se = measured_threshold(
                            view, str(model), variable=variable, with_se=True
                        )
                        if np.isfinite(found):
                            ax.axvspan(
                                found - 1.96 * found_se,
                                found + 1.96 * found_se,
                                color="gold",
                                alpha=0.35,
                                label=f"measured η* = {found:.4g} ± {found_se:.2g}",
                            )
                            ax.legend(loc="best", fontsize=8)
                if theory and "theory_threshold" in view and variable == "ms_growth_rate":
                    t = float(view["theory_threshold"].sel(model=model))
                    if np.isfinite(t):
                        ax.axvline(t, color="k", ls="--", label=f"exact η* = {t:.4g}")
                        ax.legend(loc="best", fontsize=8)
                if log_eta:
                    ax.set_xscale("log")
                    _log_axis(ax.xaxis)
                ax.set_xlabel(_label("learning_rate"))
                ax.set_ylabel(_label(variable))
            else:
                xs = np.asarray(view[x].values, dtype=float)
                log_x = _is_geometric(xs)
                grid = np.asarray(values.transpose("learning_rate", x).values, dtype=float)
                # +inf (every path blew up) is drawn as the colour map's "over" colour.
                grid = np.where(np.isposinf(grid), np.finfo(float).max, grid)
                mappable = ax.pcolormesh(
                    _edges(xs, log_x),
                    _edges(etas, log_eta),
                    np.ma.masked_invalid(grid),
                    cmap=cmap,
                    norm=norm,
                    shading="flat",
                )
                if log_x:
                    ax.set_xscale("log")
                    _log_axis(ax.xaxis)
                if log_eta:
                    ax.set_yscale("log")
                    _log_axis(ax.yaxis)
                ax.set_xlabel(_label(x))
                ax.set_ylabel(_label("learning_rate"))
                if theory and "theory_threshold" in view:
                    t = np.asarray(view["theory_threshold"].sel(model=model).transpose(x).values, float)
                    shown = np.where(np.isfinite(t) & (t >= etas[0]) & (t <= etas[-1]), t, np.nan)
                    if np.any(np.isfinite(shown)):
                        ax.plot(
                            xs,
                            shown,
                            "--",
                            color="k",
                            lw=2.0,
                            label="exact η* (docs/theory.md §7)",
                            path_effects=halo,
                        )
                if measured and variable in ("ms_growth_rate", "as_growth_rate", "diverged_fraction"):
                    rate = variable if variable.endswith("growth_rate") else "ms_growth_rate"
                    m, m_se = measured_threshold(view, str(model), variable=rate, with_se=True)
                    m = np.asarray(m.transpose(x).values, float)
                    m_se = np.asarray(m_se.transpose(x).values, float)
                    if np.any(np.isfinite(m)):
                        ax.errorbar(
                            xs,
                            m,
                            yerr=1.96 * np.where(np.isfinite(m_se), m_se, 0.0),
                            fmt="o",
                            color="gold",
                            mec="k",
                            ecolor="k",
                            elinewidth=1.0,
                            capsize=2.5,
                            ms=5,
                            label=(
                                "measured a.s. η* ± 1.96 SE (typical paths start to grow)"
                                if rate == "as_growth_rate"
                                else "measured η* ± 1.96 SE (mean-square growth = 0)"
                            ),
                        )
                missing = np.zeros(grid.shape, bool)
                if computed is not None:
                    missing = ~np.asarray(
                        computed.sel(model=model).transpose("learning_rate", x).values, bool
                    )
                    if np.any(missing):
                        ax.pcolor(
                            _edges(xs, log_x),
                            _edges(etas, log_eta),
                            np.ma.masked_where(~missing, np.zeros(grid.shape)),
                            cmap=mcolors.ListedColormap(["white"]),
                            hatch="///",
                            edgecolor="0.55",
                            linewidth=0.0,
                        )
                        legend.setdefault(
                            "hatched: not computed (partial file)",
                            Patch(facecolor="white", edgecolor="0.55", hatch="///"),
                        )
                if np.any(np.isnan(grid) & ~missing):
                    undefined = True
                for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
                    legend.setdefault(label, handle)
                ax.set_ylim(_edges(etas, log_eta)[0], _edges(etas, log_eta)[-1])
            title = f"{model}" + (f" ({suffix})" if suffix else "")
            ax.set_title(f"model: {title}\n{_label(variable)}", fontsize=10)
        if mappable is not None:
            bar = fig.colorbar(
                mappable,
                ax=list(axes[r, :]),
                shrink=0.9,
                extend="max" if variable.endswith("growth_rate") else "neither",
            )
            bar.set_label(
                "growth rate (red: unstable)" if variable.endswith("growth_rate") else _label(variable)
            )
    if n_done is not None and n_done < n_total:
        fig.suptitle(
            f"partial: {n_done} of {n_total} cells computed (the sweep was stopped or is running)",
            color="crimson",
            fontweight="bold",
        )
    if undefined:
        legend["grey: rate undefined (no usable step: the state underflowed to 0 or was never finite)"] = (
            Patch(facecolor="lightgrey", edgecolor="grey")
        )
    if legend:
        fig.legend(
            list(legend.values()),
            list(legend),
            loc="outside lower center",
            ncol=min(3, len(legend)),
            fontsize=9,
            frameon=False,
        )
    if path is not None:
        fig.savefig(path, dpi=dpi)
    return fig


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
        mean = np.where(np.isfinite(mean), mean, np.nan)
        low = np.maximum(mean - 1.96 * se, np.where(mean > 0, mean * 1e-3, np.nan))
        ax.plot(t, mean, color=f"C{i}", lw=1.6, label=label)
        ax.fill_between(t, low, mean + 1.96 * se, color=f"C{i}", alpha=0.25, lw=0)
    ax.set_yscale("log")
    ax.set_xlabel("time t = kη")
    ax.set_ylabel(f"{_label(variable + '_mean') if variable != 'loss' else 'loss f(x)'}")
    ax.set_title(f"mean {variable} over paths, 95% band (± 1.96 SE)", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    if path is not None:
        fig.savefig(path, dpi=dpi)
    return fig
