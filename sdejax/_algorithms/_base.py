"""Algorithms as values: an optax chain over the workers' gradients (docs/theory.md §4).

An algorithm *is* an optax ``GradientTransformation`` from :mod:`sdejax.optim` (or any user
chain): its ``update`` maps the N workers' stochastic gradients (leading worker axis, shape
(N, d)) to the parameter update, learning rate included. The discrete model runs exactly that
chain (``sdejax.DiscreteModel``), so the simulator runs the code a training loop runs.

Two declarations let the discrete model go faster without changing the law of a step:

* ``is_stateless``: the chain's state carries nothing across steps but its PRNG key, so the model
  builds it afresh at every step from the step's key and a path's state is x alone;
* ``aggregate_form``: the server's direction is a vote over i.i.d. per-worker terms C_i(g_i), which
  the exact aggregate samplers (``sdejax._models._aggregate``) may draw in O(d) per step.
"""

from __future__ import annotations

import abc
from typing import ClassVar, NamedTuple

import equinox as eqx
import jax.numpy as jnp
import jax.random as jr
import optax

from .._compressors import AbstractCompressor
from .._validation import check_int_at_least


class AggregateForm(NamedTuple):
    """The server's direction as a vote over independent per-worker terms.

    u = (1/N) Σ_i C_i(g_i) (``vote="mean"``) or u = sign(Σ_i C_i(g_i)) (``vote="majority"``),
    the C_i independent copies of ``compressor`` and g_i = ∇f_i(x) + Z_i the workers' stochastic
    gradients; the update is −η u. DCSGD is (compressor, "mean"), DSignSGD (Sign(), vote).
    """

    compressor: AbstractCompressor
    vote: str
    n_workers: int


class AbstractAlgorithm(eqx.Module):
    """A distributed first-order method over ``n_workers`` workers, defined by its optax chain.

    * ``transformation(learning_rate, key, problem, noise)``: the chain. ``update(grads,
      state, params)`` takes per-worker gradients with a leading worker axis of size
      ``n_workers`` and returns the update (η included), shaped like ``params``;
    * ``is_stateless``: whether the chain's state carries nothing across steps but randomness;
    * ``aggregate_form``: an :class:`AggregateForm` where the direction is a vote over i.i.d.
      per-worker terms (exact aggregate samplers may use it), else ``None``;
    * ``compressor``: the workers' compressor, or ``None`` for a chain without a single one;
    * ``family``: the SDE family that models it (``"dcsgd"``, ``"dsignsgd"``), or another
      name where no SDE model exists;
    * ``separates_forcing``: whether the update is positively homogeneous of degree 1 in the
      gradients and the noise together, so that additive noise and heterogeneous minimizers
      only force its dynamics, and its mean-square growth rate is that of the dynamics without
      them (DSGD, and DCSGD with a positively homogeneous compressor: True; sign compression,
      natural compression, sign and normalized updates, and optax chains, which sdejax
      cannot inspect: False).
    """

    separates_forcing: ClassVar[bool] = False

    n_workers: eqx.AbstractVar[int]
    compressor: eqx.AbstractVar[AbstractCompressor | None]
    name: eqx.AbstractClassVar[str]
    family: eqx.AbstractClassVar[str]
    is_stateless: eqx.AbstractClassVar[bool]

    @abc.abstractmethod
    def transformation(self, learning_rate, key, problem, noise) -> optax.GradientTransformation:
        """The optax chain: per-worker gradients (N, d) -> the update (d,), η included."""

    @property
    def aggregate_form(self) -> AggregateForm | None:
        """The vote this algorithm's direction is, for exact aggregate samplers (or None)."""
        return None

    def check(self, problem, noise) -> None:
        """Raise a clear error if this algorithm cannot run on ``problem`` with ``noise``.

        Builds the chain once (cheap, nothing is traced), so that its own checks run here.
        """
        if self.compressor is not None:
            self.compressor.check_dim(problem.dim)
        noise.check_workers(self.n_workers)
        problem.check_workers(self.n_workers)
        self.transformation(1.0, jr.key(0), problem, noise)

    def direction(self, key, gradients, problem, noise):
        """One draw of the server's direction u (x' = x − η u) for per-worker gradients (N, d).

        Stateless algorithms only: the chain's update at η = 1, negated.
        """
        if not self.is_stateless:
            raise ValueError(f"{type(self).__name__}: a stateful chain has no one-step direction.")
        chain = self.transformation(1.0, key, problem, noise)
        params = jnp.zeros(gradients.shape[1:], gradients.dtype)
        updates, _ = chain.update(gradients, chain.init(params), params)
        return -updates


def check_workers(n_workers, owner):
    check_int_at_least("n_workers", n_workers, 1, owner)
    return int(n_workers)


def check_compressor(compressor, owner):
    if not isinstance(compressor, AbstractCompressor):
        raise TypeError(f"{owner}: `compressor` must be an AbstractCompressor, got {compressor!r}.")
    return compressor
