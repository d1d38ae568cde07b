"""Plots of sweep and simulation results (matplotlib; they read Datasets only, never run anything).

* :func:`plot_stability_map`: heat maps of the mean-square growth rate and the diverged
  fraction over (grid parameter × learning rate), one panel per model, with the exact
  threshold and the measured one overlaid; a sweep without a grid dimension (or with every
  grid dimension selected) is drawn as curves over the learning rate, every model in one
  panel, with standard-error bands;
* :func:`plot_trajectories`: loss curves with 95% confidence bands.

A threshold is drawn only where one is defined: the exact one (``theory_threshold``) where it
is finite, the measured one (:func:`sdejax.threshold`) where the grid holds a crossing that the
data support (:func:`measured_thresholds`).
"""

from __future__ import annotations

import math

import numpy as np
import xarray as xr

Z95 = 1.959963984540054  # two-sided 95 % normal quantile: bands and bars are ± Z95 · SE

_LABELS = {
    "ms_growth_rate": "mean-square growth rate per unit time",
    "as_growth_rate": "almost-sure growth rate per unit time",
    "diverged_fraction": "fraction of diverged paths",
    "final_loss_mean": "final loss (mean over live paths)",
    "ms_ratio_mean": "mean-square growth factor per step",
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
# Why a measured crossing has no value, in words (bounds of sdejax.threshold, plus "unclear").
NO_CROSSING = {
    "above": "above the grid",
    "below": "below the grid",
    "undefined": "no usable rate",
    "unclear": "no clear crossing",
}
UNCLEAR = (
    "sdejax.threshold finds a zero crossing, but no path diverges above it and the growth rate "
    "is not significantly positive there (or turns significantly negative again): the rate "
    "fluctuates around 0, which is no threshold (e.g. DSignSGD, which does not diverge)."
)


def _label(name: str) -> str:
    return _LABELS.get(name, name)


def format_estimate(value: float, se: float) -> str:
    """``value ± se`` with two significant digits of the SE and the value to the same decimal
    (``1.4035 ± 0.0021``); without a usable SE, the value to 4 significant digits. The value
    never shows more than 6 significant digits (an SE below that is written ``± 7.9e-09``)."""
    if not math.isfinite(value):
        return str(value)
    if not math.isfinite(se) or se <= 0:
        return f"{value:.4g}" + (" ± 0" if se == 0 else "")
    if value != 0 and not 1e-3 <= abs(value) < 1e6:
        return f"{value:.4g} ± {se:.2g}"
    decimals = max(1 - math.floor(math.log10(se)), 0)
    most = max(5 - math.floor(math.log10(abs(value))), 0) if value != 0 else decimals
    if decimals > most:
        return f"{value:.{most}f} ± {se:.2g}"
    return f"{value:.{decimals}f} ± {se:.{decimals}f}"


def format_number(value: float) -> str:
    """A number with 5 significant digits; ``inf`` and ``nan`` spelled out."""
    return f"{value:.5g}" if math.isfinite(value) else str(value)


def _supported(value, rates, ses, diverged, etas) -> bool:
    """Whether the data support a measured crossing at ``value``: above it some paths diverge,
    or the growth rate is significantly positive (by Z95 standard errors) and never
    significantly negative."""
    above = etas > value
    if np.any(diverged[above] > 0) or np.any(np.isposinf(rates[above])):
        return True
    with np.errstate(invalid="ignore"):
        positive = rates - Z95 * ses > 0
        negative = rates + Z95 * ses < 0
    return bool(np.any(positive & above) and not np.any(negative & above))


def measured_thresholds(ds: xr.Dataset, model: str, variable: str = "ms_growth_rate"):
    """``(values, ses, bounds)`` of :func:`sdejax.threshold` for ``model``, as NumPy arrays over
    the Dataset's grid dimensions (in their order; 0-d without grid dimensions).

    ``bounds`` is ``"inside"`` where a crossing is measured and drawn, or a reason where
    ``values`` is NaN: ``"above"``/``"below"`` (the grid holds no crossing: stable/unstable
    on all of it), ``"undefined"`` (no usable rate), or ``"unclear"``: threshold() found a
    crossing but the data do not support it (no path diverges above it and the rate is not
    significantly positive there, or is significantly negative again: noise around 0, as for
    DSignSGD; see ``UNCLEAR``).
    """
    from ._threshold import threshold

    value, se = threshold(ds, model, variable=variable, with_se=True)
    dims = _grid_dims(ds)
    if isinstance(value, xr.DataArray):
        bounds = np.asarray(value["bound"].transpose(*dims).values, dtype=object)
        value = np.array(value.transpose(*dims).values, dtype=float)
        se = np.array(se.transpose(*dims).values, dtype=float)
    else:
        bounds = np.array(value.bound, dtype=object)
        value, se = np.array(float(value)), np.array(float(se))
    order = ("learning_rate", *dims)
    select = {"model": model} if "model" in ds.dims else {}
    rates = np.asarray(ds[variable].sel(select).transpose(*order).values, dtype=float)
    se_name = variable + "_se"
    ses = (
        np.asarray(ds[se_name].sel(select).transpose(*order).values, dtype=float)
        if se_name in ds
        else np.full(rates.shape, np.nan)
    )
    diverged = (
        np.asarray(ds["diverged_fraction"].sel(select).transpose(*order).values, dtype=float)
        if "diverged_fraction" in ds
        else np.zeros(rates.shape)
    )
    etas = np.asarray(ds["learning_rate"].values, dtype=float)
    for index in np.ndindex(value.shape):
        column = (slice(None), *index)
        if bounds[index] == "inside" and not _supported(
            value[index], rates[column], ses[column], diverged[column], etas
        ):
            value[index], se[index], bounds[index] = np.nan, np.nan, "unclear"
    return value, se, bounds.astype(str)


def _grid_dims(ds: xr.Dataset) -> list:
    return [dim for dim in ds["ms_growth_rate"].dims if dim not in ("model", "learning_rate")]


def select_cells(ds: xr.Dataset, select: dict | None, owner: str = "plot_stability_map"):
    """``(view, fixed)``: ``ds`` at the grid values ``select`` = {dimension: value}, each value
    matched to the nearest coordinate (relative tolerance 1e-6, for values typed by hand);
    ``fixed`` holds the coordinates chosen. Unknown dimensions or values raise ValueError."""
    grid_dims = _grid_dims(ds)
    fixed = {}
    for dim, wanted in (select or {}).items():
        if dim not in grid_dims:
            raise ValueError(
                f"{owner}: `select` names {dim!r}, which is not a grid dimension; "
                f"grid dimensions: {grid_dims or 'none'}."
            )
        values = np.asarray(ds[dim].values)
        if np.issubdtype(values.dtype, np.number):
            try:
                target = float(wanted)
            except (TypeError, ValueError):
                target = math.nan
            close = np.isclose(values.astype(float), target, rtol=1e-6, atol=1e-12)
        else:
            close = values.astype(str) == str(wanted)
        if not np.any(close):
            shown = ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values.tolist())
            raise ValueError(f"{owner}: {dim} = {wanted!r} is not on the grid; its values: {shown}.")
        fixed[dim] = values[int(np.argmax(close))]
    return (ds.sel(fixed) if fixed else ds), fixed


def _fixed_text(fixed: dict) -> str:
    def shown(v):
        v = np.asarray(v).item()
        return f"{v:g}" if isinstance(v, float) else str(v)

    return ", ".join(f"{k} = {shown(v)}" for k, v in fixed.items())


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


def _tick_text(value: float) -> str:
    return f"{value + 0.0:.3g}".replace("-", "\N{MINUS SIGN}")  # + 0.0 turns -0 into 0


def _colour_scale(variable: str, finite):
    """(colour map, norm, ticks) of a map row; every tick gets a label."""
    import matplotlib.colors as mcolors
    import matplotlib.pyplot as plt
    import matplotlib.ticker as mticker

    if variable.endswith("growth_rate"):
        low = float(finite.min()) if finite.size else -1.0
        high = float(finite.max()) if finite.size else 1.0
        if low < 0 < high:
            # Centred at 0 (blue stable, red unstable), each side scaled to its own extreme; a
            # side is at least a tenth of the other, so that noise around 0 stays pale.
            low, high = min(low, -0.1 * high), max(high, -0.1 * low)
            norm = mcolors.TwoSlopeNorm(vmin=low, vcenter=0.0, vmax=high)
            below = mticker.MaxNLocator(nbins=4).tick_values(low, 0.0)
            above = mticker.MaxNLocator(nbins=3).tick_values(0.0, high)
            ticks = np.concatenate([below[below >= low], above[(above > 0) & (above <= high)]])
        else:
            bound = max(abs(low), abs(high), 1e-12)
            norm = mcolors.Normalize(-bound, bound)
            ticks = mticker.MaxNLocator(nbins=6, symmetric=True).tick_values(-bound, bound)
            ticks = ticks[(ticks >= -bound) & (ticks <= bound)]
        return plt.get_cmap("RdBu_r"), norm, ticks
    if variable == "diverged_fraction":
        return plt.get_cmap("Reds"), mcolors.Normalize(0.0, 1.0), np.linspace(0.0, 1.0, 6)
    low = float(finite.min()) if finite.size else 0.0
    high = float(finite.max()) if finite.size else 1.0
    if finite.size and low > 0 and high / low > 10:
        norm = mcolors.LogNorm(low, high)
        decades = np.arange(math.ceil(math.log10(low)), math.floor(math.log10(high)) + 1)
        step = max(1, math.ceil(decades.size / 7))  # at most 7 labelled powers of 10
        ticks = 10.0 ** decades[::step]
        if ticks.size < 3:
            ticks = mticker.LogLocator(base=10.0, subs=(1.0, 2.0, 5.0)).tick_values(low, high)
            ticks = ticks[(ticks >= low) & (ticks <= high)]
    else:
        norm = mcolors.Normalize(low, high if high > low else low + 1.0)
        ticks = mticker.MaxNLocator(nbins=6).tick_values(norm.vmin, norm.vmax)
        ticks = ticks[(ticks >= norm.vmin) & (ticks <= norm.vmax)]
    return plt.get_cmap("viridis"), norm, ticks


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
    """Draw a :func:`sdejax.stability_sweep` result: maps over (grid parameter × learning rate),
    or curves over the learning rate.

    **Maps** (a grid dimension ``x`` on the horizontal axis): one column per model, one row per
    variable; the vertical axis is the learning rate (log scale when the grid is geometric).
    Growth rates use a diverging colour map centred at 0 (blue stable, red unstable); the
    fraction of diverged paths runs from white to red; every colour-bar tick is labelled.
    Overlays: the exact mean-square threshold (``theory_threshold``, dashed; docs/theory.md §7)
    and the measured crossing of the growth rate ± 1.96 SE (:func:`sdejax.threshold`, dots
    with bars).

    **Curves** (no grid dimension left once ``select`` is applied): one panel per variable,
    every model in it as one curve with its 95 % band (± 1.96 SE); each model's exact
    threshold is a dashed vertical line in its colour, its measured threshold a diamond on
    the zero line with a horizontal 95 % bar, and the legend states both.

    A threshold is drawn only where one is defined: the exact one where it is finite, the
    measured one where the grid holds a crossing that the data support (no marker for a model
    that never diverges and whose rate only fluctuates around 0, such as DSignSGD; see
    ``measured_thresholds``).

    **Arguments:**
    - `ds`: the Dataset (or one re-opened from the netCDF file).
    - `x`: the grid dimension on the horizontal axis of the maps (default: the first grid
      dimension not in `select`).
    - `models`: models to draw (default: all).
    - `variables`: one row per variable (e.g. ``"as_growth_rate"``, ``"final_loss_mean"``).
    - `select`: {grid dimension: value} for the other grid dimensions (default: their first
      value); a value is matched to the nearest grid point. Selecting every grid dimension
      gives curves.
    - `theory`, `measured`: draw the threshold overlays.
    - `path`: if given, save the figure there (PNG) at ``dpi``.

    A partial file (a sweep stopped before its end, whose ``completed`` flags are 0 for some
    cells) is marked "partial: N of M cells computed" above the panels, and its cells not yet
    computed are hatched.

    **Returns:** the matplotlib ``Figure``.

    ```python
    fig = sdejax.plot_stability_map(ds, x="compressor.p", select={"noise.sigma1": 0.1})
    ```
    """
    names = [str(m) for m in ds["model"].values]
    models = names if models is None else [str(m) for m in ([models] if isinstance(models, str) else models)]
    unknown = [m for m in models if m not in names]
    if unknown or not models:
        raise ValueError(f"plot_stability_map: `models` must be names from {names}, got {models}.")
    variables = [variables] if isinstance(variables, str) else list(variables)
    missing = [v for v in variables if v not in ds.data_vars or "learning_rate" not in ds[v].dims]
    if missing or not variables:
        choices = [v for v in ds.data_vars if "learning_rate" in ds[v].dims and v != "completed"]
        raise ValueError(f"plot_stability_map: `variables` must be names from {choices}, got {variables}.")
    view, fixed = select_cells(ds, select)
    grid_dims = _grid_dims(view)
    if x is None and grid_dims:
        x = grid_dims[0]
    if x is not None and x not in grid_dims:
        raise ValueError(
            f"plot_stability_map: `x` must be one of the grid dimensions {grid_dims} "
            f"(not selected), got {x!r}."
        )
    for dim in grid_dims:
        if dim != x:
            fixed[dim] = view[dim].values[0]
    view = view.sel({dim: fixed[dim] for dim in grid_dims if dim != x})
    options = dict(theory=theory, measured=measured, fixed=_fixed_text(fixed))
    if x is None:
        fig = _curves(view, models, variables, **options)
    else:
        fig = _maps(view, x, models, variables, **options)
    if "completed" in ds:
        n_done, n_total = int(ds["completed"].sum()), int(ds["completed"].size)
        if n_done < n_total:
            below = fig.get_suptitle()
            fig.suptitle(
                f"partial: {n_done} of {n_total} cells computed (the sweep was stopped or is running)"
                + (f"\n{below}" if below else ""),
                color="crimson",
                fontweight="bold",
            )
    if path is not None:
        fig.savefig(path, dpi=dpi)
    return fig


def _describe_threshold(view, model, variable, theory: bool, measured: bool):
    """(legend text, measured value, measured SE, exact value) of one model in a curve panel."""
    etas = np.asarray(view["learning_rate"].values, dtype=float)
    parts, found, found_se, exact = [], math.nan, math.nan, math.nan
    if measured:
        value, se, bound = measured_thresholds(view, model, variable)
        if str(bound) == "inside":
            found, found_se = float(value), float(se)
            parts.append(f"η* = {format_estimate(found, found_se)}")
        elif str(bound) == "above":
            parts.append(f"stable on the grid (η* > {etas[-1]:g})")
        elif str(bound) == "below":
            parts.append(f"unstable on the grid (η* < {etas[0]:g})")
        else:
            parts.append(NO_CROSSING[str(bound)])
    if theory and variable == "ms_growth_rate" and "theory_threshold" in view:
        exact = float(view["theory_threshold"].sel(model=model))
        if np.isnan(exact):
            parts.append("no exact η*")
        elif np.isinf(exact):
            parts.append("exact: none (never unstable)")
        elif etas[0] <= exact <= etas[-1]:
            parts.append(f"exact {format_number(exact)}")
        else:
            parts.append(f"exact {format_number(exact)}, off the grid")
            exact = math.nan
    return ("; ".join(parts), found, found_se, exact)


def _se_name(view, variable):
    """The name of ``variable``'s standard error in ``view``, or None."""
    for name in (variable + "_se", variable.removesuffix("_mean") + "_se"):
        if name in view and name != variable:
            return name
    return None


def _dashes(values, index):
    """Line style of the ``index``-th exact threshold: dashed, and where several models share a
    value, their dashes interleave so that every colour stays visible."""
    same = [i for i, v in enumerate(values) if np.isfinite(v) and np.isclose(v, values[index])]
    if len(same) < 2:
        return "--"
    return (4.0 * same.index(index), (4.0, 4.0 * (len(same) - 1)))


def _curves(view, models, variables, *, theory, measured, fixed):
    """Every model in one panel per variable, with 95 % bands and threshold marks."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    etas = np.asarray(view["learning_rate"].values, dtype=float)
    log_eta = _is_geometric(etas)
    n_paths = view.attrs.get("n_paths")
    fig, axes = plt.subplots(
        len(variables), 1, figsize=(9.0, 3.4 * len(variables)), squeeze=False, constrained_layout=True
    )
    for row, variable in enumerate(variables):
        ax = axes[row, 0]
        is_rate = variable.endswith("growth_rate")
        described = [
            _describe_threshold(view, model, variable, theory, measured)
            if is_rate
            else ("", np.nan, np.nan, np.nan)
            for model in models
        ]
        exact_values = [entry[3] for entry in described]
        drew_exact = drew_measured = False
        se_name = _se_name(view, variable)
        for i, model in enumerate(models):
            colour = f"C{i}"
            text, found, found_se, exact = described[i]
            curve = np.asarray(view[variable].sel(model=model).values, dtype=float)
            if se_name is not None:
                half = Z95 * np.asarray(view[se_name].sel(model=model).values, float)
            elif variable == "diverged_fraction" and isinstance(n_paths, (int, np.integer)):
                half = Z95 * np.sqrt(np.clip(curve * (1 - curve), 0, None) / int(n_paths))  # binomial
            else:
                half = None
            ax.plot(
                etas, curve, "o-", ms=3, lw=1.5, color=colour, label=f"{model}: {text}" if text else model
            )
            if half is not None:
                low, high = curve - half, curve + half
                if variable == "diverged_fraction":
                    low, high = np.clip(low, 0, 1), np.clip(high, 0, 1)
                elif variable == "final_loss_mean":
                    low = np.where(low > 0, low, curve * 1e-3)  # a log axis: keep the band drawable
                ax.fill_between(etas, low, high, color=colour, alpha=0.2, lw=0)
            if np.isfinite(exact):
                ax.axvline(exact, color=colour, ls=_dashes(exact_values, i), lw=1.4, gid=f"exact η* {model}")
                drew_exact = True
            if np.isfinite(found):
                ax.errorbar(
                    [found],
                    [0.0],
                    xerr=[[Z95 * found_se if np.isfinite(found_se) else 0.0]] * 2,
                    fmt="D",
                    ms=6,
                    color=colour,
                    mec="k",
                    ecolor=colour,
                    elinewidth=2.0,
                    capsize=3,
                    zorder=5,
                    gid=f"measured η* {model}",
                )
                drew_measured = True
        if is_rate:
            ax.axhline(0.0, color="grey", lw=0.8)
        if variable == "final_loss_mean":
            values = np.asarray(view[variable].sel(model=models).values, dtype=float)
            positive = values[np.isfinite(values) & (values > 0)]
            if positive.size and positive.max() > 100 * positive.min():
                ax.set_yscale("log")  # a loss of exactly 0 (underflow) is left out
        if log_eta:
            ax.set_xscale("log")
            _log_axis(ax.xaxis)
        ax.set_xlim(etas[0], etas[-1])
        ax.set_xlabel(_label("learning_rate"))
        ax.set_ylabel(_label(variable))
        ax.set_title(
            _label(variable) + (" (band: ± 1.96 SE)" if se_name or variable == "diverged_fraction" else ""),
            fontsize=10,
        )
        ax.grid(True, which="major", alpha=0.3)
        handles, labels = ax.get_legend_handles_labels()
        if drew_exact:
            handles.append(Line2D([], [], color="k", ls="--", lw=1.4))
            labels.append("exact mean-square η* (docs/theory.md §7)")
        if drew_measured:
            handles.append(Line2D([], [], color="k", marker="D", mec="k", ls="-", lw=2.0))
            labels.append("measured η* ± 1.96 SE")
        ax.legend(handles, labels, loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
    if fixed:
        fig.suptitle(fixed, fontsize=10)
    return fig


def _maps(view, x, models, variables, *, theory, measured, fixed):
    """One column per model, one row per variable: colour maps with threshold overlays."""
    import matplotlib.colors as mcolors
    import matplotlib.patheffects as patheffects
    import matplotlib.pyplot as plt
    import matplotlib.ticker as mticker
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    etas = np.asarray(view["learning_rate"].values, dtype=float)
    log_eta = _is_geometric(etas)
    xs = np.asarray(view[x].values, dtype=float)
    log_x = _is_geometric(xs)
    halo = [patheffects.withStroke(linewidth=3.5, foreground="white")]
    legend, undefined, unclear = {}, False, False
    # A partial file (stopped or running sweep): cells flagged 0 in `completed` were not
    # computed. They are hatched and marked as such, never shown as "rate undefined".
    computed = view["completed"] == 1 if "completed" in view else None
    fig, axes = plt.subplots(
        len(variables),
        len(models),
        figsize=(4.2 * len(models) + 1.4, 3.6 * len(variables)),
        squeeze=False,
        constrained_layout=True,
    )
    thresholds = {}
    for r, variable in enumerate(variables):
        data = view[variable].sel(model=models)
        finite = np.asarray(data.values, dtype=float)
        finite = finite[np.isfinite(finite)]
        cmap, norm, ticks = _colour_scale(variable, finite)
        cmap = cmap.with_extremes(over="darkred", bad="lightgrey")
        mappable = None
        for c, model in enumerate(models):
            ax = axes[r, c]
            grid = np.asarray(data.sel(model=model).transpose("learning_rate", x).values, dtype=float)
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
            if xs.size <= 10:  # few columns: a tick at each grid value, none between
                ax.set_xticks(xs, [_tick_text(v) for v in xs])
                ax.xaxis.set_minor_locator(mticker.NullLocator())
            if log_eta:
                ax.set_yscale("log")
                _log_axis(ax.yaxis)
            ax.set_xlabel(_label(x))
            ax.set_ylabel(_label("learning_rate"))
            if theory and "theory_threshold" in view:
                t = np.asarray(view["theory_threshold"].sel(model=model).values, float).reshape(-1)
                shown = np.where(np.isfinite(t) & (t >= etas[0]) & (t <= etas[-1]), t, np.nan)
                if np.any(np.isfinite(shown)):
                    ax.plot(  # a tick at each grid value: a lone finite value still shows
                        xs,
                        shown,
                        "--",
                        marker="_",
                        ms=14,
                        mew=2.0,
                        color="k",
                        lw=2.0,
                        label="exact mean-square η* (docs/theory.md §7)",
                        path_effects=halo,
                        gid=f"exact η* {model}",
                    )
            if measured and variable in ("ms_growth_rate", "as_growth_rate", "diverged_fraction"):
                rate = variable if variable.endswith("growth_rate") else "ms_growth_rate"
                if (model, rate) not in thresholds:
                    thresholds[model, rate] = measured_thresholds(view, model, rate)
                m, m_se, bounds = thresholds[model, rate]
                if np.any(bounds == "unclear"):
                    unclear = True
                if np.any(np.isfinite(m)):
                    ax.errorbar(
                        xs,
                        m,
                        yerr=Z95 * np.where(np.isfinite(m_se), m_se, 0.0),
                        fmt="o",
                        color="gold",
                        mec="k",
                        ecolor="k",
                        elinewidth=1.0,
                        capsize=2.5,
                        ms=5,
                        gid=f"measured η* {model}",
                        label=(
                            "measured a.s. η* ± 1.96 SE (typical paths start to grow)"
                            if rate == "as_growth_rate"
                            else "measured η* ± 1.96 SE (mean-square growth = 0)"
                        ),
                    )
            missing = np.zeros(grid.shape, bool)
            if computed is not None:
                missing = ~np.asarray(computed.sel(model=model).transpose("learning_rate", x).values, bool)
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
            title = model + (f" ({fixed})" if fixed else "")
            ax.set_title(f"model: {title}\n{_label(variable)}", fontsize=10)
        bar = fig.colorbar(
            mappable,
            ax=list(axes[r, :]),
            shrink=0.9,
            ticks=ticks,
            extend="max" if variable.endswith("growth_rate") else "neither",
        )
        bar.minorticks_off()
        bar.ax.yaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: _tick_text(v)))
        bar.set_label(
            "growth rate per unit time\n(red: unstable)"
            if variable.endswith("growth_rate")
            else _label(variable),
            fontsize=9,
        )
    if unclear:
        legend[
            "no dot where the growth rate only fluctuates around 0 and nothing diverges (no threshold)"
        ] = Line2D([], [], ls="none")
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
