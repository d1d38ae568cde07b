"""The named optimizers as optax.chain one-liners.

Sign of zero: the update is −η·u for the aggregated direction u, exactly as ``optax.sgd`` and
``optax.sign_sgd`` compute it, so where u = 0 (a zero gradient, or a tied vote) the update is
−0.0. This is kept on purpose: the optimizers stay bitwise equal to optax's, −0.0 == 0.0, and
``optax.apply_updates`` with a −0.0 update leaves every parameter bitwise unchanged (p + (−0.0)
is p for every p, including ±0.0).

With ``optax.inject_hyperparams`` (to change the learning rate inside a jitted loop), name the
compressor as a static argument: optax treats every callable argument as a schedule, and a
compressor is callable::

    opt = optax.inject_hyperparams(sdejax.optim.dcsgd, static_args=("compressor",))(
        learning_rate=0.1, compressor=sdejax.RandK(2), key=jax.random.key(0))
    state = opt.init(params)
    state.hyperparams["learning_rate"] = 0.05   # takes effect at the next update

``dsignsgd`` needs no static arguments.
"""

from __future__ import annotations

import numbers

import jax
import numpy as np
import optax

from .._compressors import AbstractCompressor
from .._validation import is_concrete
from ._normalize import _SCALINGS, normalize_update, scale_by_theory_normalization
from ._workers import aggregate_workers, compress_workers, sign_workers


def check_learning_rate(learning_rate, owner: str) -> None:
    """A number or concrete array must be finite and >= 0 (a negative rate ascends).

    Schedules (callables) and traced values are not checked here: they are only known inside
    the update.
    """
    if callable(learning_rate):
        return
    if not isinstance(learning_rate, (numbers.Number, np.ndarray, np.generic, jax.Array)):
        raise TypeError(
            f"{owner}: `learning_rate` must be a number, an array or an optax schedule, "
            f"got {learning_rate!r}."
        )
    if not is_concrete(learning_rate):
        return
    arr = np.asarray(learning_rate)
    if np.iscomplexobj(arr) or arr.dtype == bool:
        raise TypeError(f"{owner}: `learning_rate` must be real, got {learning_rate!r}.")
    arr = arr.astype(float)
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError(
            f"{owner}: `learning_rate` must be finite and >= 0 (a negative rate would ascend), "
            f"got {learning_rate!r}."
        )


def dcsgd(learning_rate, compressor: AbstractCompressor, *, key=None, axis_name=None):
    """Distributed compressed SGD: x ← x − η_k (1/N) Σ_i C_i(g_i) (docs/theory.md §4).

    ``learning_rate`` is a float >= 0, an array or an optax schedule. With one worker and
    ``Identity()`` this is exactly ``optax.sgd(learning_rate)`` (bitwise, including −0.0 where
    the gradient is 0). ``key`` is required for random compressors and optional for
    ``Identity``, ``Sign`` and ``TopK``. The gradients carry a leading worker axis: each leaf
    has shape (N, *parameter shape) (checked; a clear error otherwise).

    ```python
    opt = sdejax.optim.dcsgd(0.1, sdejax.RandK(2), key=jax.random.key(0))
    state = opt.init(params)
    updates, state = opt.update(per_worker_grads, state, params)   # leaves of shape (N, ...)
    params = optax.apply_updates(params, updates)
    ```
    """
    check_learning_rate(learning_rate, "dcsgd")
    return optax.chain(
        compress_workers(compressor, key=key, axis_name=axis_name),
        aggregate_workers(vote="mean", axis_name=axis_name),
        optax.scale_by_learning_rate(learning_rate),
    )


def dsignsgd(learning_rate, *, vote: str = "mean", axis_name=None):
    """Distributed SignSGD: x ← x − η_k (1/N) Σ_i sign(g_i) [paper]; ``vote="majority"`` gives
    x ← x − η_k sign(Σ_i sign(g_i)). With one worker this is exactly ``optax.sign_sgd``.

    Where the vote is 0 (sign(0) = 0, or a tie) the update is −0.0, as in optax (see the module
    docstring: it never changes a parameter's bits).
    """
    check_learning_rate(learning_rate, "dsignsgd")
    return optax.chain(
        sign_workers(),
        aggregate_workers(vote=vote, axis_name=axis_name),
        optax.scale_by_learning_rate(learning_rate),
    )


def normalized_dcsgd(
    learning_rate,
    compressor: AbstractCompressor,
    *,
    key=None,
    scaling: str = "plain",
    axis_name=None,
    **theory_constants,
):
    """Normalized DCSGD (docs/theory.md §4).

    ``scaling="plain"``: x ← x − η_k ĝ/‖ĝ‖. ``scaling="theory"`` [reconstructed]:
    x ← x − η_k ĝ/D(‖ĝ‖) with D from :func:`scale_by_theory_normalization`, which needs the
    keyword constants ``l0``, ``l1``, ``n_workers`` (and optionally ``sigma0``, ``sigma1``,
    ``dim``, ``denominator``); ω is taken from the compressor.
    """
    check_learning_rate(learning_rate, "normalized_dcsgd")
    if scaling not in _SCALINGS:
        raise ValueError(f"normalized_dcsgd: `scaling` must be one of {_SCALINGS}, got {scaling!r}.")
    if scaling == "plain":
        if theory_constants:
            raise TypeError(
                f"normalized_dcsgd: constants {sorted(theory_constants)} only apply to scaling='theory'."
            )
        normalizer = normalize_update()
    else:
        missing = {"l0", "l1", "n_workers"} - set(theory_constants)
        if missing and "denominator" not in theory_constants:
            raise TypeError(f"normalized_dcsgd(scaling='theory') needs {sorted(missing)}.")
        if "denominator" not in theory_constants and "omega" not in theory_constants:
            if not compressor.is_unbiased:
                raise ValueError(
                    f"normalized_dcsgd(scaling='theory'): `compressor` must be unbiased (finite ω); "
                    f"{type(compressor).__name__} is biased (ω = inf would make every step 0). Use "
                    "scaling='plain' or pass a `denominator`."
                )
        theory_constants.setdefault("omega", compressor.omega)
        normalizer = scale_by_theory_normalization(**theory_constants)
    return optax.chain(
        compress_workers(compressor, key=key, axis_name=axis_name),
        aggregate_workers(vote="mean", axis_name=axis_name),
        normalizer,
        optax.scale_by_learning_rate(learning_rate),
    )
