"""Any optax chain over simulated workers as an algorithm, with its state carried per path."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import jax.tree_util as jtu

from ._base import AbstractAlgorithm, check_workers


class OptaxAlgorithm(AbstractAlgorithm):
    """A user's optax chain over ``n_workers`` simulated workers, stateful or not.

    ``make(learning_rate, key)`` returns an ``optax.GradientTransformation`` whose ``update``
    takes the per-worker gradients (leading worker axis of size ``n_workers``: shape (N, d))
    and returns the update, shaped like the parameters x and with the learning rate applied.
    The discrete model (``sdejax.DiscreteModel``) carries ``(x, optimizer state)`` per path
    across steps (momentum, error-feedback memories, step counts, ``optax.inject_hyperparams``
    hyperparameters), so memory is O(paths × state size):

    * ``init``: ``make(η, key).init(x0)``, ``key`` the path's own initial key;
    * ``step``: g_i = ∇f_i(x) + Z_i for each worker (problem and noise, as for every
      algorithm), then ``updates, state = chain.update(g, state, x)`` and
      x ← x + η_k · updates.

    **Learning rate and schedule.** η arrives as a traced scalar (a new η never recompiles):
    pass it to the chain (``optax.scale_by_learning_rate(learning_rate)``, ``optax.sgd``, …), and
    never branch on its value in Python. The engine's ``schedule`` η_k multiplies the chain's
    final update; that is scheduling the learning rate whenever the learning rate is applied
    last, as in ``optax.sgd``. A chain may instead schedule itself (``optax.inject_hyperparams``
    with a schedule of its step count).

    **Randomness.** Keys in the chain's state (optax ``add_noise`` style, e.g.
    ``sdejax.optim.compress_workers``) are re-drawn from the engine's per-path step key before
    every update: every typed key (``jax.random.key``) leaf of the state is replaced by a fresh
    one. A path's randomness is thus a function of its path key and step alone, as for the
    built-in algorithms, and paths that the mean-square estimator duplicates draw independently
    afterwards. (Legacy uint32 keys cannot be told from data and are carried as they are.)

    SDE models exist only for the built-in algorithms: ``model="discrete"`` only.

    **Arguments:**
    - `make`: ``(learning_rate, key) -> optax.GradientTransformation``.
    - `n_workers`: N >= 1, the size of the gradients' leading worker axis.

    ```python
    beta = 0.9
    heavy_ball = sdejax.OptaxAlgorithm(
        lambda learning_rate, key: optax.chain(
            sdejax.optim.aggregate_workers(), optax.trace(decay=beta),
            optax.scale_by_learning_rate(learning_rate)),
        n_workers=8)
    ds = sdejax.stability_sweep(heavy_ball, sdejax.Quadratic(jnp.ones(10)),
                                sdejax.GaussianNoise(0.1), x0=jnp.ones(10),
                                learning_rates=np.geomspace(0.1, 5.0, 32), steps=500,
                                n_paths=256, key=jax.random.key(0))
    ```
    """

    make: Callable
    n_workers: int = eqx.field(static=True)
    name: ClassVar[str] = "OptaxAlgorithm"
    family: ClassVar[str] = "optax"
    is_stateless: ClassVar[bool] = False

    def __init__(self, make: Callable, n_workers: int):
        if not callable(make):
            raise TypeError(
                "OptaxAlgorithm: `make` must be a callable (learning_rate, key) -> "
                f"optax.GradientTransformation, got {make!r}."
            )
        self.make = make
        self.n_workers = check_workers(n_workers, "OptaxAlgorithm")

    @property
    def compressor(self):
        """None: a chain may hold any number of compressors (grid paths ``compressor.*`` do not apply)."""
        return None

    def transformation(self, learning_rate, key, problem, noise):
        del problem, noise
        return self.make(learning_rate, key)

    def check(self, problem, noise):
        """Check the workers against the problem and noise, and trace the chain once (shapes
        only): ``update`` must map (n_workers, d) gradients to a (d,) update and return a state
        of the structure and shapes that ``init`` gave."""
        noise.check_workers(self.n_workers)
        problem.check_workers(self.n_workers)
        n, d = self.n_workers, problem.dim
        dtype = jnp.result_type(float)

        def trace(x, key, learning_rate):
            chain = self.make(learning_rate, key)
            if not (hasattr(chain, "init") and hasattr(chain, "update")):
                raise TypeError(f"`make` returned {chain!r}, not an optax.GradientTransformation")
            state = chain.init(x)
            updates, new_state = chain.update(jnp.zeros((n, d), x.dtype), state, x)
            return state, updates, new_state

        try:
            state, updates, new_state = jax.eval_shape(
                trace, jax.ShapeDtypeStruct((d,), dtype), jr.key(0), jax.ShapeDtypeStruct((), dtype)
            )
        except Exception as error:  # noqa: BLE001 - any failure here is the user's chain
            raise ValueError(
                f"OptaxAlgorithm: `make(learning_rate, key)` must return an optax "
                f"GradientTransformation mapping per-worker gradients of shape (n_workers, d) = "
                f"({n}, {d}) to an update of shape ({d},), with a traced learning rate; tracing it "
                f"raised {type(error).__name__}: {error}"
            ) from error
        if not hasattr(updates, "shape") or updates.shape != (d,):
            shapes = jtu.tree_map(lambda leaf: leaf.shape, updates)
            raise ValueError(
                f"OptaxAlgorithm: the chain's update must have the shape of x, ({d},), got {shapes} "
                "(aggregate the workers, e.g. with sdejax.optim.aggregate_workers())."
            )
        before = jtu.tree_map(lambda leaf: leaf.shape, state)
        after = jtu.tree_map(lambda leaf: leaf.shape, new_state)
        if jtu.tree_structure(state) != jtu.tree_structure(new_state) or before != after:
            raise ValueError(
                "OptaxAlgorithm: the chain's `update` must return a state of the structure and "
                f"shapes that `init` gives (it is carried across steps); init gave {before}, "
                f"update returned {after}."
            )
