"""Input checks shared by ``simulate`` and ``stability_sweep``: clear errors before any trace."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from .._algorithms import AbstractAlgorithm
from .._noise import AbstractNoise
from .._problems import AbstractProblem
from .._validation import check_int_at_least

# Default divergence bound: a path is diverged once ‖x‖ > 1e6 · max(1, max_p ‖x0_p‖), or when it
# is non-finite. 1e6 leaves ‖x‖² ≈ 1e12·‖x0‖² well inside float32 range, so the last finite
# state of a blowing-up path is still representable.
DEFAULT_DIVERGENCE_FACTOR = 1e6


def check_components(algorithm, problem, noise, owner):
    if not isinstance(algorithm, AbstractAlgorithm):
        raise TypeError(f"{owner}: `algorithm` must be an sdejax algorithm, got {algorithm!r}.")
    if not isinstance(problem, AbstractProblem):
        raise TypeError(f"{owner}: `problem` must be an sdejax problem, got {problem!r}.")
    if not isinstance(noise, AbstractNoise):
        raise TypeError(f"{owner}: `noise` must be an sdejax noise model, got {noise!r}.")
    algorithm.check(problem, noise)


def check_x0(x0, problem, n_paths, owner):
    """x0 of shape (d,) (shared by all paths) or (n_paths, d); finite. Returns (n_paths, d)."""
    arr = np.asarray(x0)
    d = problem.dim
    if arr.shape not in ((d,), (n_paths, d)):
        raise ValueError(
            f"{owner}: `x0` must have shape ({d},) or (n_paths, {d}) = ({n_paths}, {d}) to match "
            f"the problem's dimension, got {arr.shape}."
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{owner}: `x0` must be finite, got non-finite entries.")
    dtype = jnp.result_type(float) if not np.issubdtype(arr.dtype, np.floating) else None
    x = jnp.asarray(x0, dtype=dtype if dtype is not None else jnp.result_type(x0, float))
    return jnp.broadcast_to(x, (n_paths, d))


def check_counts(owner, **counts):
    for name, value in counts.items():
        check_int_at_least(name, value, 1, owner)


def check_learning_rate(value, owner, name="learning_rate"):
    arr = np.asarray(value, dtype=float)
    if arr.ndim != 0 or not np.isfinite(arr) or arr <= 0:
        raise ValueError(f"{owner}: `{name}` must be a finite scalar > 0, got {value!r}.")
    return float(arr)


def check_learning_rates(values, owner):
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1 or arr.size < 1:
        raise ValueError(f"{owner}: `learning_rates` must be a non-empty 1-D array, got shape {arr.shape}.")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"{owner}: `learning_rates` must be finite and > 0.")
    if np.any(np.diff(arr) <= 0):
        raise ValueError(f"{owner}: `learning_rates` must be strictly increasing.")
    return arr


def divergence_bound_for(x0, divergence_bound, owner):
    if divergence_bound is None:
        scale = float(np.max(np.linalg.norm(np.asarray(x0), axis=-1)))
        return DEFAULT_DIVERGENCE_FACTOR * max(1.0, scale)
    value = float(divergence_bound)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(
            f"{owner}: `divergence_bound` must be a finite number > 0, got {divergence_bound!r}."
        )
    return value


def check_fraction(name, value, owner):
    if not 0.0 <= float(value) < 1.0:
        raise ValueError(f"{owner}: `{name}` must lie in [0, 1), got {value!r}.")
    return float(value)


def model_options(model: str, sde_substeps: int, sampling: str, extra: dict | None, owner: str) -> dict:
    """Options for ``make_model``: ``sampling`` for the discrete model, ``sde_substeps`` for SDEs."""
    if model == "discrete":
        return {"sampling": sampling, **(extra or {})}
    check_int_at_least("sde_substeps", sde_substeps, 1, owner)
    return {"sde_substeps": int(sde_substeps), **(extra or {})}


def check_schedule(schedule, steps: int, owner: str) -> None:
    """Raise a clear error for a schedule that is not a callable k ↦ η_k >= 0."""
    if schedule is not None and not callable(schedule):
        raise TypeError(f"{owner}: `schedule` must be None or a callable k -> multiplier, got {schedule!r}.")
