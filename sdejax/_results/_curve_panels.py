"""Curve panels of :func:`sdejax.plot_stability_map` (no grid dimension left): every model as
a curve over the learning rate with its 95 % band, its exact threshold as a dashed line, its
measured one as a diamond with a 95 % bar, both stated in the legend.
"""

from __future__ import annotations

import math

import numpy as np

from ._labels import NO_CROSSING, Z95, _label, format_estimate, format_number
from ._measured import measured_thresholds
from ._scales import _is_geometric, _log_axis


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
