"""The aggregate-sampler interface: sample the server's direction without simulating workers.

An algorithm declares its direction as a vote over per-worker terms (its ``aggregate_form``:
u = (1/N) Σ_i C_i(g_i), or the majority sign). With identical workers these terms are i.i.d.;
where the law of u is known in closed form it can be sampled directly in O(d) per step,
whatever N is (benchmarks/README.md, "The floor"). A sampler states which forms and noise models it
covers and whether it needs identical workers, and draws u; each one is checked against the
algorithm's optax chain by a two-sample test (tests/test_aggregate.py).
"""

from __future__ import annotations

import abc
from typing import ClassVar

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray


class AbstractAggregateSampler(eqx.Module):
    """Draws the server's direction u of an :class:`~sdejax._algorithms.AggregateForm` in O(d),
    equal in law to the algorithm's chain.

    Declares ``requires_identical_workers``: then it covers only problems where every worker
    sees the same objective and noise (and compressor) parameters that are scalars.
    """

    requires_identical_workers: ClassVar[bool] = True

    @abc.abstractmethod
    def covers(self, form, noise) -> str | None:
        """``None`` when this sampler is exact for the vote ``form`` with ``noise``, else why not."""

    @abc.abstractmethod
    def direction(self, key: PRNGKeyArray, gradient: Float[Array, " d"], form, noise) -> Float[Array, " d"]:
        """One draw of the direction at the true gradient ``gradient``."""

    def unsupported_reason(self, form, noise, problem=None) -> str | None:
        """``None`` when this sampler is exact here, else why not (its coverage, then the
        identical-workers condition)."""
        reason = self.covers(form, noise)
        if reason is None and self.requires_identical_workers:
            reason = heterogeneity_reason(noise, problem)
        return reason


def heterogeneity_reason(noise, problem=None) -> str | None:
    """Why the workers are not identical (own objectives, or a per-worker noise parameter), or
    ``None`` if they are."""
    if problem is not None and problem.is_heterogeneous:
        return (
            f"{type(problem).__name__} gives each worker its own objective (heterogeneous "
            "workers); exact aggregate samplers need identical workers"
        )
    for name, value in noise.per_worker_parameters().items():
        if jnp.size(jnp.asarray(value)) > 1:
            return (
                f"`{name}` is per-worker (heterogeneous workers); aggregate samplers need "
                "identical workers (scalar parameters)"
            )
    return None


def worker_scale(noise, gradient):
    """The common noise scale s(x) of identical workers, shape (d,)."""
    return noise.noise_scale(gradient, 1)[0]
