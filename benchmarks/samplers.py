"""Sampler micro-benchmark: jax.random's binomial and Student-t against sdejax's exact ones.

Each draws paths × d variates (one step of W1/W2's shapes, paths × 100), repeated over 20 steps
inside one jitted scan, vmapped over per-path keys as the engine does.
"""

from __future__ import annotations

import jax
import jax.lax as lax
import jax.numpy as jnp
import jax.random as jr
from _common import measure


def _scanned(draw, paths, d, steps):
    @jax.jit
    def run(key):
        keys = jax.vmap(lambda i: jr.fold_in(key, i))(jnp.arange(paths))
        q = jnp.linspace(0.05, 0.95, d)

        def body(acc, k):
            step_keys = jax.vmap(jr.fold_in, in_axes=(0, None))(keys, k)
            return acc + jax.vmap(lambda kk: draw(kk, q))(step_keys), None

        acc, _ = lax.scan(body, jnp.zeros((paths, d)), jnp.arange(steps))
        return acc

    return run


def samplers(sizes):
    import sdejax
    from sdejax._models._aggregate import binomial

    paths, d, steps = sizes.paths, 100, 20
    key = jr.key(0)
    cases = [
        ("uniform", lambda k, q: jr.uniform(k, (d,))),
        ("normal", lambda k, q: jr.normal(k, (d,))),
    ]
    for n in (8, 64, 512):
        cases += [
            (f"jax.random.binomial n={n}", lambda k, q, n=n: jr.binomial(k, n, q, (d,))),
            (
                f"sdejax binomial n={n}, q per coordinate",
                lambda k, q, n=n: binomial(k, n, q, (d,), jnp.float32),
            ),
            (
                f"sdejax binomial n={n}, one q",
                lambda k, q, n=n: binomial(k, n, jnp.float32(0.25), (d,), jnp.float32),
            ),
        ]
    for df in (1.0, 3.0):
        noise = sdejax.StudentTNoise(df, 1.0)
        cases += [
            (f"jax.random.t df={df:g}", lambda k, q, df=df: jr.t(k, df, (d,))),
            (
                f"sdejax Student-t df={df:g}",
                lambda k, q, noise=noise: noise.standard_sample(k, (d,), jnp.float32),
            ),
        ]
    impls = []
    for name, draw in cases:
        run = _scanned(draw, paths, d, steps)
        role = "peer" if name.startswith("jax.random.") else "sdejax"
        impls.append(
            (name, role, paths * d, steps, lambda run=run: run(key), "variates/s = path-steps/s column")
        )
    return measure("S", impls, sizes.repeats)
