"""NumPy peers: the discrete workloads as a vectorized loop over steps (per-worker sampling)."""

from __future__ import annotations

import numpy as np


def discrete(spec, paths: int, steps: int, seed: int = 0, learning_rate=None):
    """Run ``steps`` iterations of ``paths`` paths; float32, numpy's default Generator (PCG64)."""
    rng = np.random.default_rng(seed)
    eta = np.float32(spec.learning_rate if learning_rate is None else learning_rate)
    x = np.ones((paths, spec.d), np.float32)
    shape = (paths, spec.n_workers, spec.d)
    for _ in range(steps):
        g = x  # ∇f for f = ½‖x‖²
        if spec.kind == "sign":
            t = rng.standard_t(spec.df, size=shape).astype(np.float32)
            direction = np.sign(g[:, None, :] + np.float32(spec.scale) * t).mean(axis=1)
        else:
            if spec.kind == "dsgd":
                s = np.full((paths, 1, 1), spec.sigma, np.float32)
            else:
                s = (np.float32(spec.sigma1) * np.linalg.norm(g, axis=-1))[:, None, None]
            grads = g[:, None, :] + s * rng.standard_normal(shape, dtype=np.float32)
            if spec.kind == "bernoulli":
                keep = rng.random(shape, dtype=np.float32) < spec.p
                grads = np.where(keep, grads / np.float32(spec.p), np.float32(0))
            elif spec.kind == "randk":
                index = np.argpartition(rng.random(shape, dtype=np.float32), spec.k, axis=-1)
                mask = np.zeros(shape, np.float32)
                np.put_along_axis(mask, index[..., : spec.k], np.float32(spec.d / spec.k), axis=-1)
                grads = grads * mask
            direction = grads.mean(axis=1)
        x = x - eta * direction
    return x


def bernoulli_eta_vectorized(spec, paths: int, steps: int, learning_rates, seed: int = 0):
    """One keep-probability cell of W4 with sdejax's two tricks, in NumPy: the exact aggregate
    sampler (M ~ Binomial(N, p) keepers per coordinate, their noise sum Gaussian given M) and
    every learning rate of the cell sharing the same variates, vectorized over (η, path, d).

    Simulation only (no divergence flags or ratio sums): a reference for what the tricks alone
    buy, not a peer of benchmarks/README.md.
    """
    rng = np.random.default_rng(seed)
    eta = np.asarray(learning_rates, np.float32)[:, None, None]
    x = np.ones((eta.shape[0], paths, spec.d), np.float32)
    n, p = spec.n_workers, np.float32(spec.p)
    with np.errstate(over="ignore", invalid="ignore"):  # unstable learning rates blow up
        for _ in range(steps):
            kept = rng.binomial(n, spec.p, size=(paths, spec.d)).astype(np.float32)
            noise = np.sqrt(kept) * rng.standard_normal((paths, spec.d), dtype=np.float32)
            s = np.float32(spec.sigma1) * np.sqrt(np.sum(x * x, axis=-1, keepdims=True))
            x = x - eta * ((kept * x + s * noise) / (n * p))
    return x
