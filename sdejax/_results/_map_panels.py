"""Map panels of :func:`sdejax.plot_stability_map`: one colour map per (variable, model) over
grid parameter × learning rate, with the exact and measured thresholds overlaid and the cells
of a partial file that were not computed hatched.
"""

from __future__ import annotations

import numpy as np

from ._labels import Z95, _label
from ._measured import measured_thresholds
from ._scales import _colour_scale, _edges, _is_geometric, _log_axis, _tick_text


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
