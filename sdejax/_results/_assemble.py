"""Result Datasets: variables with their CF attributes (long_name, units), built from arrays.

Time t = k·η is dimensionless (η is), so rates per unit time and learning rates carry units
"1"; ``long_name`` says what each one is.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

_GROWTH = "per unit time t = k·η, of the squared distance ‖x − x*‖² to the minimizer"
ATTRIBUTES = {
    "ms_growth_rate": ("mean-square growth rate " + _GROWTH + " (population-dynamics estimate)", "1"),
    "ms_growth_rate_se": ("standard error of ms_growth_rate (batch means)", "1"),
    "ms_ratio_mean": ("mean-square growth factor of one step, exp(η · ms_growth_rate)", "1"),
    "ms_ratio_se": ("standard error of ms_ratio_mean", "1"),
    "as_growth_rate": ("almost-sure growth rate " + _GROWTH + " (mean of the paths' exponents)", "1"),
    "as_growth_rate_se": ("standard error of as_growth_rate over paths", "1"),
    "ms_pooled_growth_rate": ("legacy pooled one-step-ratio estimate of the mean-square growth rate", "1"),
    "ms_pooled_growth_rate_se": ("standard error of ms_pooled_growth_rate", "1"),
    "diverged_fraction": ("fraction of paths that diverged (‖x − x*‖ above the bound or non-finite)", "1"),
    "final_loss_mean": ("mean of the final loss over the paths that did not diverge", "1"),
    "final_loss_se": ("standard error of final_loss_mean", "1"),
    "theory_threshold": ("exact mean-square threshold learning rate (sdejax.theory.ms_threshold)", "1"),
    "learning_rate": ("learning rate η", "1"),
    "loss_mean": ("mean loss over the live paths", "1"),
    "loss_se": ("standard error of loss_mean", "1"),
    "grad_norm_sq_mean": ("mean squared gradient norm ‖∇f(x)‖² over the live paths", "1"),
    "grad_norm_sq_se": ("standard error of grad_norm_sq_mean", "1"),
    "x_norm_sq_mean": ("mean squared distance ‖x − x*‖² to the minimizer over the live paths", "1"),
    "x_norm_sq_se": ("standard error of x_norm_sq_mean", "1"),
    "loss_q10": ("10th percentile of the loss over all paths (a diverged path counts as +inf)", "1"),
    "loss_median": ("median of the loss over all paths (a diverged path counts as +inf)", "1"),
    "loss_q90": ("90th percentile of the loss over all paths (a diverged path counts as +inf)", "1"),
    "time": ("SDE time t = k·η", "1"),
    "step": ("iteration k", "1"),
}
COMPLETED = {
    "long_name": "whether the cell's task has finished (resumable sweeps)",
    "flag_values": np.asarray([0, 1], np.int8),
    "flag_meanings": "pending finished",
}


def describe_variables(ds: xr.Dataset) -> xr.Dataset:
    """Attach ``long_name`` and ``units`` to every known variable and coordinate of ``ds``."""
    for name in list(ds.data_vars) + list(ds.coords):
        if name in ATTRIBUTES:
            long_name, units = ATTRIBUTES[name]
            ds[name].attrs.setdefault("long_name", long_name)
            ds[name].attrs.setdefault("units", units)
    if "completed" in ds:
        ds["completed"].attrs.update(COMPLETED)
    return ds


class SweepResults:
    """The numbers of a sweep as they are computed: one row per task (model, learning rate,
    cell, flattened row-major), a ``completed`` flag per task, and the Dataset built from them.

    ``restore`` takes the finished tasks of a stored (resumed) file, ``store`` the tasks of a
    finished chunk; ``dataset`` assembles the Dataset at any moment.
    """

    def __init__(self, names, models, etas, grid, theory_values, theory_notes, attrs, dtype):
        self.names = tuple(names)
        self.dims = ("model", "learning_rate", *grid.dims)
        self.coords = {"model": list(models), "learning_rate": np.asarray(etas), **grid.coordinates}
        self.shape = (len(models), len(etas), *grid.shape)
        self.theory = np.asarray(theory_values).reshape((len(models), *grid.shape))
        self.theory_notes = theory_notes
        self.attrs = attrs
        self.dtype = np.dtype(dtype)
        size = int(np.prod(self.shape))
        self.values = np.full((len(self.names), size), np.nan, self.dtype)
        self.completed = np.zeros(size, np.int8)

    def dataset(self, include_completed: bool = False) -> xr.Dataset:
        return sweep_dataset(
            {name: self.values[i].reshape(self.shape) for i, name in enumerate(self.names)},
            self.dims,
            self.coords,
            self.theory,
            self.theory_notes,
            self.attrs,
            self.completed.reshape(self.shape) if include_completed else None,
        )

    def restore(self, stored: xr.Dataset) -> None:
        for i, name in enumerate(self.names):
            self.values[i] = np.asarray(stored[name].values, self.dtype).reshape(-1)
        self.completed[:] = np.asarray(stored["completed"].values).reshape(-1)

    def store(self, tasks, final: dict) -> None:
        for i, name in enumerate(self.names):
            self.values[i, tasks] = final[name]
        self.completed[tasks] = 1

    def finished(self, tasks) -> bool:
        return bool(np.all(self.completed[tasks] == 1))


def sweep_dataset(
    values: dict, dims, coords, theory_values, theory_notes, attrs, completed=None
) -> xr.Dataset:
    """The Dataset of a stability sweep: ``values[name]`` over ``dims`` (model, learning_rate,
    *grid), ``theory_threshold`` over (model, *grid), and the ``completed`` mask if given."""
    data = {name: (dims, array) for name, array in values.items()}
    data["theory_threshold"] = ((dims[0], *dims[2:]), theory_values)
    if completed is not None:
        data["completed"] = (dims, completed)
    ds = xr.Dataset(data, coords=coords, attrs=dict(attrs))
    ds["theory_threshold"].attrs["description"] = (
        "exact mean-square threshold of each model (docs/theory.md §7); inf: the model has none; "
        "NaN: the second moments do not close (see `note`)"
    )
    ds["theory_threshold"].attrs["note"] = (
        " | ".join(theory_notes) if theory_notes else "exact for every cell"
    )
    return describe_variables(ds)
