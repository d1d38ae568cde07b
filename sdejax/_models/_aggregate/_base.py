"""The aggregate-sampler interface: sample the server's direction without simulating workers.

With homogeneous workers the server's direction u = (1/N) Σ_i v_i(g_i) is a sum of N i.i.d.
terms; where its law is known in closed form it can be sampled directly in O(d) per step,
whatever N is (performance.md, "The floor"). A sampler states which (algorithm, noise) pairs it
covers and draws u; each one is checked against the per-worker reference by a two-sample test
(tests/test_aggregate.py).
"""

from __future__ import annotations

import abc

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray


class AbstractAggregateSampler(eqx.Module):
    """Draws the server's direction u(g_1, …, g_N) in O(d), equal in law to the per-worker path."""

    @abc.abstractmethod
    def unsupported_reason(self, algorithm, noise) -> str | None:
        """``None`` when this sampler is exact for ``algorithm`` with ``noise``, else why not."""

    @abc.abstractmethod
    def direction(
        self, key: PRNGKeyArray, gradient: Float[Array, " d"], algorithm, noise
    ) -> Float[Array, " d"]:
        """One draw of the direction at the true gradient ``gradient``."""


def heterogeneity_reason(noise, *extra: tuple[str, object]) -> str | None:
    """Why the workers are not identical (a per-worker parameter), or ``None`` if they are."""
    named = list(noise.per_worker_parameters().items()) + list(extra)
    for name, value in named:
        if jnp.size(jnp.asarray(value)) > 1:
            return (
                f"`{name}` is per-worker (heterogeneous workers); aggregate samplers need "
                "identical workers (scalar parameters)"
            )
    return None


def worker_scale(noise, gradient):
    """The common noise scale s(x) of identical workers, shape (d,)."""
    return noise.noise_scale(gradient, 1)[0]
