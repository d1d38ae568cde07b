"""JAX references: a straightforward per-worker version (no tricks) and the floors."""

from __future__ import annotations

import jax
import jax.lax as lax
import jax.numpy as jnp
import jax.random as jr


def straightforward(spec, paths: int, steps: int):
    """What a JAX user writes first: vmap over paths of per-worker sampling, scan over steps.

    Uses ``jax.random.t`` for Student-t noise and ``lax.top_k`` of uniforms for rand-k.
    Returns a jitted ``run(key) -> x``.
    """
    d, n = spec.d, spec.n_workers

    def one_path(key, x):
        key_noise, key_compress = jr.split(key)
        g = x
        if spec.kind == "sign":
            t = jr.t(key_noise, spec.df, (n, d), x.dtype)
            return x - spec.learning_rate * jnp.mean(jnp.sign(g + spec.scale * t), axis=0)
        s = spec.sigma if spec.kind == "dsgd" else spec.sigma1 * jnp.linalg.norm(g)
        grads = g + s * jr.normal(key_noise, (n, d), x.dtype)
        if spec.kind == "bernoulli":
            keep = jr.uniform(key_compress, (n, d), x.dtype) < spec.p
            grads = jnp.where(keep, grads / spec.p, 0.0)
        elif spec.kind == "randk":

            def rand_k(key, v):
                _, index = lax.top_k(jr.uniform(key, (d,)), spec.k)
                return v * jnp.zeros((d,), v.dtype).at[index].set(d / spec.k)

            grads = jax.vmap(rand_k)(jr.split(key_compress, n), grads)
        return x - spec.learning_rate * jnp.mean(grads, axis=0)

    @jax.jit
    def run(key):
        def body(x, key_step):
            return jax.vmap(one_path)(jr.split(key_step, paths), x), None

        x, _ = lax.scan(body, jnp.ones((paths, d)), jr.split(key, steps))
        return x

    return run


_SAMPLERS = {"uniform": jr.uniform, "normal": jr.normal}


def floor(draws, paths: int, steps: int, d: int):
    """Time to draw just the variates: ``draws`` per path per step, in the engine's key layout.

    Path p's key at step k is fold_in(fold_in(key, p), k), as in sdejax's kernel; each draw is
    summed into an accumulator of shape (paths, d) so that XLA cannot drop it.
    """

    @jax.jit
    def run(key):
        keys = jax.vmap(lambda i: jr.fold_in(key, i))(jnp.arange(paths))

        def one_path(key_path):
            total = jnp.zeros((d,))
            for key_draw, (kind, shape) in zip(jr.split(key_path, len(draws)), draws, strict=True):
                sample = _SAMPLERS[kind](key_draw, shape)
                total = total + jnp.reshape(sample, (-1, d)).sum(axis=0)
            return total

        def body(acc, k):
            step_keys = jax.vmap(jr.fold_in, in_axes=(0, None))(keys, k)
            return acc + jax.vmap(one_path)(step_keys), None

        acc, _ = lax.scan(body, jnp.zeros((paths, d)), jnp.arange(steps))
        return acc

    return run


def model_steps_only(model, paths: int, steps: int, d: int, learning_rate: float):
    """sdejax's ``model.step`` vmapped over paths and scanned, without the engine's bookkeeping
    (divergence flags, ratio sums, saved statistics): isolates the sampler's own cost."""

    @jax.jit
    def run(key):
        keys = jax.vmap(lambda i: jr.fold_in(key, i))(jnp.arange(paths))
        step = jax.vmap(model.step, in_axes=(0, 0, None, None))

        def body(x, k):
            step_keys = jax.vmap(jr.fold_in, in_axes=(0, None))(keys, k)
            return step(step_keys, x, learning_rate, 1.0), None

        x, _ = lax.scan(body, jnp.ones((paths, d)), jnp.arange(steps))
        return x

    return run
