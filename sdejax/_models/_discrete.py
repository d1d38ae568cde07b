"""The discrete algorithm itself, as a model: the algorithm's optax chain, step by step."""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.random as jr
import jax.tree_util as jtu

from .._algorithms import AbstractAlgorithm
from .._noise import AbstractNoise
from .._problems import AbstractProblem
from ._aggregate import AbstractAggregateSampler, find_aggregate_sampler
from ._base import AbstractModel


class ChainState(NamedTuple):
    """A path's state under a stateful chain: the position and the optimizer state."""

    x: jax.Array
    optimizer_state: Any


class DiscreteModel(AbstractModel):
    """x_{k+1} = x_k + η_k · U_k, with (U_k, s_{k+1}) = chain.update(g, s_k, x_k) (docs/theory.md §4).

    g stacks the workers' stochastic gradients g_i = ∇f_i(x_k) + Z_i (shape (N, d); ∇f_i = ∇f
    for identical workers) and ``chain`` is the algorithm's optax transformation
    (``algorithm.transformation``), the learning rate η included: exactly what
    :mod:`sdejax.optim` does in a training loop. The schedule value η_k multiplies the chain's
    final update (scheduling η when the chain applies it last, as ``optax.sgd`` does).

    **State.** A stateful chain (:class:`sdejax.OptaxAlgorithm`) carries
    ``ChainState(x, optimizer_state)`` per path: ``init`` runs ``chain.init(x0)`` with the path's
    key, and before each update the state's typed PRNG keys are replaced by keys drawn from the
    step's key. A stateless algorithm (``algorithm.is_stateless``: DSGD, DCSGD, DSignSGD,
    NormalizedDCSGD, whose chains carry only a key) has state x: its chain is built and
    initialized afresh at each step with the step's key, which is the same law.

    ``sampling``: ``"per_worker"`` runs the chain on every worker's gradient; ``"aggregate"``
    draws the server's direction u with an exact sampler (O(d) per step, independent of N) and
    applies the chain's update −η u; ``"auto"`` picks ``"aggregate"`` where one exists. The
    resolved choice is ``self.sampling``, the sampler ``self.sampler`` (found once, here).
    Exact aggregate samplers exist for the votes an algorithm declares (``aggregate_form``)
    with identical workers: DCSGD with the Bernoulli sparsifier or the identity (DSGD) and
    Gaussian or affine noise, and DSignSGD with any noise (its CDF is known); each is tested
    equal in law to the chain.
    """

    algorithm: AbstractAlgorithm
    problem: AbstractProblem
    noise: AbstractNoise
    sampler: AbstractAggregateSampler | None
    sampling: str = eqx.field(static=True)
    name: ClassVar[str] = "discrete"
    is_reconstructed: ClassVar[bool] = False
    keeps_scale: ClassVar[bool] = True

    def __init__(self, algorithm, problem, noise, sampling: str = "auto"):
        self.algorithm = algorithm
        self.problem = problem
        self.noise = noise
        self.sampler = resolve_sampler(sampling, algorithm, noise, problem)
        self.sampling = "per_worker" if self.sampler is None else "aggregate"

    def init(self, key, x0, learning_rate):
        if self.algorithm.is_stateless:
            return x0
        chain = self.algorithm.transformation(learning_rate, key, self.problem, self.noise)
        return ChainState(x0, chain.init(x0))

    def position(self, state):
        return state if self.algorithm.is_stateless else state.x

    def step(self, key, state, learning_rate, multiplier):
        x = self.position(state)
        if self.sampler is not None:
            gradient = self.problem.gradient(x)
            form = self.algorithm.aggregate_form
            direction = self.sampler.direction(key, gradient, form, self.noise)
            # the chain's update −η u times η_k, as the program before samplers were declared
            return x - (learning_rate * multiplier) * direction
        key_noise, key_algorithm = jr.split(key)
        n = self.algorithm.n_workers
        if self.problem.is_heterogeneous:
            true = self.problem.worker_gradients(x, n)  # (N, d): worker i's own ∇f_i
        else:
            true = self.problem.gradient(x)  # (d,), shared
        noise = self.noise.sample(key_noise, true, n)
        gradients = jnp.broadcast_to(true, noise.shape) + noise
        chain = self.algorithm.transformation(learning_rate, key_algorithm, self.problem, self.noise)
        if self.algorithm.is_stateless:
            updates, _ = chain.update(gradients, chain.init(x), x)
            return _moved(x, updates, multiplier)
        carried = refresh_keys(state.optimizer_state, key_algorithm)
        updates, new_state = chain.update(gradients, carried, x)
        # The carry of lax.scan keeps its dtypes: a leaf promoted by a float64 constant of the
        # chain (under x64) is cast back.
        new_state = jtu.tree_map(_same_dtype, new_state, carried)
        return ChainState(_moved(x, updates, multiplier), new_state)


def _moved(x, updates, multiplier):
    """x + η_k · update, in the dtype of x."""
    return x + multiplier * updates.astype(x.dtype)


def _same_dtype(new, old):
    if hasattr(new, "dtype") and jnp.issubdtype(old.dtype, jnp.inexact) and new.dtype != old.dtype:
        return new.astype(old.dtype)
    return new


def _is_typed_key(leaf) -> bool:
    return hasattr(leaf, "dtype") and jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key)


def refresh_keys(tree, key):
    """``tree`` with its i-th typed PRNG key leaf replaced by a fresh key from ``key``: ``key``
    itself for the first (so a chain that only holds the compressor's key draws exactly as the
    stateless built-ins do), ``fold_in(key, i)`` for the others; a leaf of shape s gets
    ``jax.random.split(·, s)`` (e.g. per-worker keys)."""
    leaves, treedef = jtu.tree_flatten(tree)
    fresh, index = [], 0
    for leaf in leaves:
        if _is_typed_key(leaf):
            base = key if index == 0 else jr.fold_in(key, index)
            fresh.append(base if leaf.shape == () else jr.split(base, leaf.shape))
            index += 1
        else:
            fresh.append(leaf)
    return jtu.tree_unflatten(treedef, fresh)


_SAMPLINGS = ("auto", "per_worker", "aggregate")


def resolve_sampler(sampling: str, algorithm, noise, problem=None) -> AbstractAggregateSampler | None:
    """The exact aggregate sampler for ``sampling``, or ``None`` for the per-worker chain.

    ``"auto"`` takes the sampler where one covers the algorithm's declared vote; ``"aggregate"``
    raises a ``ValueError`` naming why none does (e.g. per-worker noise scales);
    ``"per_worker"`` is always available.
    """
    if sampling not in _SAMPLINGS:
        raise ValueError(f"`sampling` must be one of {_SAMPLINGS}, got {sampling!r}.")
    if sampling == "per_worker":
        return None
    sampler, reasons = find_aggregate_sampler(algorithm, noise, problem)
    if sampler is None and sampling == "aggregate":
        raise ValueError(
            f"`sampling='aggregate'`: no exact aggregate sampler for {type(algorithm).__name__} "
            f"with {type(noise).__name__} ({reasons}); use sampling='per_worker'."
        )
    return sampler


def resolve_sampling(sampling: str, algorithm, noise, problem=None) -> str:
    """``"aggregate"`` or ``"per_worker"``: the choice :func:`resolve_sampler` makes."""
    return "per_worker" if resolve_sampler(sampling, algorithm, noise, problem) is None else "aggregate"
