"""Axis and colour scales of the stability plots: pcolormesh cell edges, log axes with
plain-number labels, whether a grid is geometric (drawn on a log axis), tick text, and the
colour map, norm and ticks of a map row.
"""

from __future__ import annotations

import math

import numpy as np


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
