"""Stability plots of sweep results (matplotlib; they read Datasets only, never run anything).

:func:`plot_stability_map` checks its arguments, selects the cells to draw and hands them to
the map panels (``_map_panels``: heat maps over grid parameter × learning rate, one panel per
model) or, without a grid dimension left, to the curve panels (``_curve_panels``: curves over
the learning rate, every model in one panel, with standard-error bands).
"""

from __future__ import annotations

import xarray as xr

from ._cells import _fixed_text, _grid_dims, select_cells
from ._curve_panels import _curves
from ._map_panels import _maps


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
