"""The named optimizers as optax.chain one-liners."""

from __future__ import annotations

import optax

from .._compressors import AbstractCompressor
from ._normalize import _SCALINGS, normalize_update, scale_by_theory_normalization
from ._workers import aggregate_workers, compress_workers, sign_workers


def dcsgd(learning_rate, compressor: AbstractCompressor, *, key, axis_name=None):
    """Distributed compressed SGD: x ← x − η_k (1/N) Σ_i C_i(g_i) (model.md §4).

    ``learning_rate`` is a float, an array or an optax schedule. With one worker and
    ``Identity()`` this is exactly ``optax.sgd(learning_rate)``.

    ```python
    opt = sdejax.optim.dcsgd(0.1, sdejax.RandK(2), key=jax.random.key(0))
    state = opt.init(params)
    updates, state = opt.update(per_worker_grads, state)   # leaves of shape (N, ...)
    params = optax.apply_updates(params, updates)
    ```
    """
    return optax.chain(
        compress_workers(compressor, key=key, axis_name=axis_name),
        aggregate_workers(vote="mean", axis_name=axis_name),
        optax.scale_by_learning_rate(learning_rate),
    )


def dsignsgd(learning_rate, *, vote: str = "mean", axis_name=None):
    """Distributed SignSGD: x ← x − η_k (1/N) Σ_i sign(g_i) [paper]; ``vote="majority"`` gives
    x ← x − η_k sign(Σ_i sign(g_i)). With one worker this is exactly ``optax.sign_sgd``.
    """
    return optax.chain(
        sign_workers(),
        aggregate_workers(vote=vote, axis_name=axis_name),
        optax.scale_by_learning_rate(learning_rate),
    )


def normalized_dcsgd(
    learning_rate,
    compressor: AbstractCompressor,
    *,
    key,
    scaling: str = "plain",
    axis_name=None,
    **theory_constants,
):
    """Normalized DCSGD (model.md §4).

    ``scaling="plain"``: x ← x − η_k ĝ/‖ĝ‖. ``scaling="theory"`` [reconstructed]:
    x ← x − η_k ĝ/D(‖ĝ‖) with D from :func:`scale_by_theory_normalization`, which needs the
    keyword constants ``l0``, ``l1``, ``n_workers`` (and optionally ``sigma0``, ``sigma1``,
    ``dim``, ``denominator``); ω is taken from the compressor.
    """
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
        theory_constants.setdefault("omega", compressor.omega)
        normalizer = scale_by_theory_normalization(**theory_constants)
    return optax.chain(
        compress_workers(compressor, key=key, axis_name=axis_name),
        aggregate_workers(vote="mean", axis_name=axis_name),
        normalizer,
        optax.scale_by_learning_rate(learning_rate),
    )
