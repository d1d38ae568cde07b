"""Input checks shared by ``simulate`` and ``stability_sweep``: clear errors before any trace.

Every check raises ``TypeError`` (wrong kind of value) or ``ValueError`` (right kind, bad value)
with a message that names the parameter, what was given and what is allowed.

dtype rule: the computation runs in the floating dtype of ``x0``: float32 or float64 (float64
needs ``jax_enable_x64``; without it JAX computes in float32). float16 and bfloat16 starts are
computed in float32 (their range, 6.5e4 for float16, cannot hold ‖x‖² of a growing path);
integer starts use JAX's default float dtype (float64 with x64, else float32). Complex, bool and
non-numeric starts are a ``TypeError``: nothing is discarded in silence.

Longer than the 300-line guideline because it is one concept, the input checks that
``simulate`` and ``stability_sweep`` share: small independent checks kept in one place so that
both entry points raise the same messages.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping

import jax
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
_SAMPLINGS = ("auto", "per_worker", "aggregate")


def check_components(algorithm, problem, noise, owner):
    if not isinstance(algorithm, AbstractAlgorithm):
        raise TypeError(f"{owner}: `algorithm` must be an sdejax algorithm, got {algorithm!r}.")
    if not isinstance(problem, AbstractProblem):
        raise TypeError(f"{owner}: `problem` must be an sdejax problem, got {problem!r}.")
    if not isinstance(noise, AbstractNoise):
        raise TypeError(f"{owner}: `noise` must be an sdejax noise model, got {noise!r}.")
    algorithm.check(problem, noise)


def computation_dtype(x0, owner, name="x0"):
    """The floating dtype the computation runs in for a start ``x0`` (module docstring rule)."""
    dtype = np.asarray(x0).dtype if not hasattr(x0, "dtype") else np.dtype(x0.dtype)
    if jnp.issubdtype(dtype, jnp.complexfloating):
        raise TypeError(
            f"{owner}: `{name}` must hold real numbers, got dtype {dtype} (the imaginary part "
            "would be discarded); pass its real part explicitly if that is what you mean."
        )
    if dtype == np.bool_ or not (jnp.issubdtype(dtype, jnp.floating) or jnp.issubdtype(dtype, jnp.integer)):
        raise TypeError(f"{owner}: `{name}` must hold real numbers (floats or ints), got dtype {dtype}.")
    if jnp.issubdtype(dtype, jnp.integer):
        return np.dtype(jnp.result_type(float))
    if dtype.itemsize < 4:  # float16, bfloat16
        return np.dtype(np.float32)
    return np.dtype(jax.dtypes.canonicalize_dtype(dtype))


def check_x0(x0, problem, n_paths, owner):
    """x0 of shape (d,) (shared by all paths) or (n_paths, d); real and finite.

    Returns an (n_paths, d) array in the computation dtype (:func:`computation_dtype`).
    """
    if isinstance(x0, (str, bytes)) or x0 is None:
        raise TypeError(f"{owner}: `x0` must be an array of shape ({problem.dim},), got {x0!r}.")
    try:
        arr = np.asarray(x0)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{owner}: `x0` must be an array of numbers, got {x0!r} ({error}).") from None
    dtype = computation_dtype(arr, owner)
    d = problem.dim
    if arr.shape not in ((d,), (n_paths, d)):
        raise ValueError(
            f"{owner}: `x0` must have shape ({d},) or (n_paths, {d}) = ({n_paths}, {d}) to match "
            f"the problem's dimension, got {arr.shape}."
        )
    wide = arr.astype(np.float64)
    if not np.all(np.isfinite(wide)):
        raise ValueError(f"{owner}: `x0` must be finite, got non-finite entries.")
    if np.any(np.abs(wide) > np.finfo(dtype).max):
        raise ValueError(
            f"{owner}: `x0` has entries beyond the range of {dtype} (max {np.finfo(dtype).max:.3g}), "
            "the computation dtype; pass a float64 x0 with jax_enable_x64, or rescale."
        )
    x = jnp.asarray(arr.astype(dtype) if arr.dtype != dtype else arr)
    return jnp.broadcast_to(x, (n_paths, d))


def check_counts(owner, **counts):
    for name, value in counts.items():
        check_int_at_least(name, value, 1, owner)


def _real_array(value, owner, name, what):
    """``value`` as a float64 NumPy array; TypeError naming ``name`` if it is not real numbers."""
    if isinstance(value, (str, bytes)) or value is None or callable(value):
        raise TypeError(f"{owner}: `{name}` must be {what}, got {value!r}.")
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):
        raise TypeError(f"{owner}: `{name}` must be {what}, got {value!r}.") from None
    if arr.dtype == np.bool_ or not (
        jnp.issubdtype(arr.dtype, jnp.floating) or jnp.issubdtype(arr.dtype, jnp.integer)
    ):
        raise TypeError(
            f"{owner}: `{name}` must be {what} (real numbers), got {value!r} of dtype {arr.dtype}."
        )
    return arr.astype(np.float64)


def check_learning_rate(value, owner, name="learning_rate"):
    arr = _real_array(value, owner, name, "a finite scalar > 0")
    if arr.ndim != 0 or not np.isfinite(arr) or arr <= 0:
        raise ValueError(f"{owner}: `{name}` must be a finite scalar > 0, got {value!r}.")
    return float(arr)


def check_learning_rates(values, owner):
    arr = _real_array(values, owner, "learning_rates", "a non-empty 1-D array of numbers > 0")
    if arr.ndim != 1 or arr.size < 1:
        raise ValueError(f"{owner}: `learning_rates` must be a non-empty 1-D array, got shape {arr.shape}.")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"{owner}: `learning_rates` must be finite and > 0, got {arr.tolist()}.")
    if np.any(np.diff(arr) <= 0):
        raise ValueError(f"{owner}: `learning_rates` must be strictly increasing, got {arr.tolist()}.")
    return arr


def largest_norm(dtype) -> float:
    """The largest ‖x‖ the engine can carry in ``dtype``: √(largest float)/2, so that ‖x‖² and
    sums of a few of them stay finite (9.2e18 in float32, 6.7e153 in float64)."""
    return float(np.sqrt(np.finfo(dtype).max)) / 2


def _max_norm(x) -> float:
    """max_p ‖x_p‖ in float64 without overflow (‖x‖ may exceed √(float64 max))."""
    x = np.abs(np.asarray(x, dtype=np.float64))
    scale = np.max(x, axis=-1, keepdims=True)
    safe = np.where(scale > 0, scale, 1.0)
    return float(np.max(scale[..., 0] * np.sqrt(np.sum((x / safe) ** 2, axis=-1))))


def divergence_bound_for(x0, divergence_bound, owner):
    """The divergence bound B for the checked start ``x0`` (n_paths, d).

    A path is diverged once ‖x‖ > B or ‖x‖² is non-finite. Default:
    B = min(1e6 · max(1, max_p ‖x0_p‖), :func:`largest_norm` of the dtype), always finite. A
    start at or beyond B (every path diverged before its first step) is an error, as is a given
    B beyond what the dtype can represent as ‖x‖². Norms are computed in float64.
    """
    dtype = np.dtype(getattr(x0, "dtype", np.float64))
    if not jnp.issubdtype(dtype, jnp.floating):
        dtype = np.dtype(jnp.result_type(float))
    cap = largest_norm(dtype)
    norm0 = _max_norm(x0)
    if divergence_bound is None:
        if norm0 >= cap:
            raise ValueError(
                f"{owner}: `x0` is too large for {dtype}: max ‖x0‖ = {norm0:.3g}, but the engine "
                f"tracks ‖x‖², which needs ‖x‖ < {cap:.3g} in {dtype}; "
                + (
                    "rescale the problem."
                    if dtype == np.float64
                    else "pass a float64 x0 (with jax_enable_x64) or rescale the problem."
                )
            )
        return min(DEFAULT_DIVERGENCE_FACTOR * max(1.0, norm0), cap)
    arr = _real_array(divergence_bound, owner, "divergence_bound", "a finite number > 0")
    if arr.ndim != 0 or not np.isfinite(arr) or arr <= 0:
        raise ValueError(
            f"{owner}: `divergence_bound` must be a finite number > 0, got {divergence_bound!r}."
        )
    value = float(arr)
    if value > cap:
        raise ValueError(
            f"{owner}: `divergence_bound` must be <= {cap:.3g} in {dtype} (‖x‖² must stay "
            f"finite), got {divergence_bound!r}."
        )
    if norm0 >= value:
        raise ValueError(
            f"{owner}: `divergence_bound` = {value:.3g} must exceed max ‖x0‖ = {norm0:.3g}; "
            "otherwise every path is diverged before its first step."
        )
    return value


def check_fraction(name, value, owner):
    arr = _real_array(value, owner, name, "a number in [0, 1)")
    if arr.ndim != 0 or not 0.0 <= float(arr) < 1.0:
        raise ValueError(f"{owner}: `{name}` must lie in [0, 1), got {value!r}.")
    return float(arr)


def model_options(model: str, sde_substeps: int, sampling: str, extra: dict | None, owner: str) -> dict:
    """Options for ``make_model``: ``sampling`` for the discrete model, ``sde_substeps`` for SDEs.

    Both are checked whatever the model, so a typo is never ignored in silence.
    """
    from .._models import MODELS

    what = "each entry of `models`" if owner == "stability_sweep" else "`model`"
    if not isinstance(model, str):
        raise TypeError(f"{owner}: {what} must be a model name, one of {tuple(MODELS)}, got {model!r}.")
    if model not in MODELS:
        raise ValueError(f"{owner}: {what} must be one of {tuple(MODELS)}, got {model!r}.")
    if not isinstance(sampling, str) or sampling not in _SAMPLINGS:
        raise ValueError(f"{owner}: `sampling` must be one of {_SAMPLINGS}, got {sampling!r}.")
    check_int_at_least("sde_substeps", sde_substeps, 1, owner)
    if extra is not None and (
        not isinstance(extra, Mapping) or not all(isinstance(key, str) for key in extra)
    ):
        raise TypeError(
            f"{owner}: `model_options` must be a dict of keyword arguments for the model, got {extra!r}."
        )
    if model == "discrete":
        return {"sampling": sampling, **(extra or {})}
    return {"sde_substeps": int(sde_substeps), **(extra or {})}


def check_schedule(schedule, steps: int, owner: str) -> None:
    """Raise a clear error for a schedule that is not a callable k ↦ η_k >= 0.

    The schedule is evaluated on the host at k = 0, …, steps − 1, at traced integer steps as the
    engine calls it (``jax.vmap(schedule)`` over ``jnp.arange(steps)``, or ``jax.lax.map`` when
    vmap cannot batch it); optax schedules work so. Every value must be a finite real scalar
    >= 0: a negative multiplier would run gradient ascent, a NaN would poison every path. A
    schedule that cannot be called with a traced integer (e.g. Python ``if k < 10``: use
    ``jnp.where``) is a ``TypeError`` here, since the engine's ``lax.scan`` could not run it
    either. Only the steps that run are checked (k >= steps is never used).
    """
    if schedule is None:
        return
    if not callable(schedule):
        raise TypeError(f"{owner}: `schedule` must be None or a callable k -> multiplier, got {schedule!r}.")
    ks = jnp.arange(steps)
    try:
        values = jax.vmap(schedule)(ks)
    except Exception:  # noqa: BLE001 - vmap cannot batch every function; try the engine's way
        try:
            values = jax.lax.map(schedule, ks)
        except Exception as error:  # noqa: BLE001 - any failure here is the user's schedule
            raise TypeError(
                f"{owner}: `schedule` must accept a traced integer step k (the engine calls it "
                f"inside lax.scan; use jnp.where instead of Python if), but schedule(k) raised "
                f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
            ) from None
    try:
        values = np.asarray(values)
    except (TypeError, ValueError):
        raise TypeError(f"{owner}: `schedule` must return a number for each step, got {values!r}.") from None
    if values.dtype == np.bool_ or not (
        jnp.issubdtype(values.dtype, jnp.floating) or jnp.issubdtype(values.dtype, jnp.integer)
    ):
        raise TypeError(f"{owner}: `schedule` must return real numbers, got dtype {values.dtype}.")
    if values.shape != (steps,):
        raise ValueError(
            f"{owner}: `schedule` must return a scalar for each step k, got shape {values.shape[1:]}."
        )
    values = values.astype(np.float64)
    bad = np.flatnonzero(~np.isfinite(values) | (values < 0))
    if bad.size:
        k = int(bad[0])
        raise ValueError(
            f"{owner}: `schedule` must return finite values >= 0 (a negative multiplier runs "
            f"gradient ascent), got schedule({k}) = {float(values[k])} ({bad.size} of {steps} "
            "steps bad)."
        )


def check_output_path(out, owner: str) -> None:
    """Fail before any computation if results cannot be written to ``out``.

    ``None`` is fine (nothing is written). Otherwise ``out`` must be a path (str or os.PathLike)
    whose folder exists and is writable; an existing ``out`` must be a file that is not a folder.
    Whether an existing file is a readable sweep is checked by ``load_matching``.
    """
    if out is None:
        return
    if not isinstance(out, (str, os.PathLike)):
        raise TypeError(f"{owner}: `out` must be a file path (str or os.PathLike), got {out!r}.")
    path = os.fspath(out)
    if not path:
        raise ValueError(f"{owner}: `out` must be a file path, got an empty string.")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"{owner}: `out` = {path!r}: the folder {folder!r} does not exist; create it first.")
    if os.path.isdir(path):
        raise ValueError(f"{owner}: `out` = {path!r} is a folder; pass a file path such as 'map.nc'.")
    try:  # the only sure test (permissions, read-only file systems, quotas) is to write
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".sdejax-write-check-")
        os.close(handle)
        os.remove(probe)
    except OSError as error:
        raise ValueError(
            f"{owner}: `out` = {path!r}: cannot write to the folder {folder!r} ({error.strerror})."
        ) from None
    if os.path.exists(path) and not os.access(path, os.R_OK):
        raise ValueError(f"{owner}: `out` = {path!r} exists but cannot be read.")
