"""Speed of the exact mean-square analysis (sdejax.theory), after compilation.

Targets (issue 9): a diagonal quadratic with d = 1,000 in under 1 s, a dense Hessian with
d = 100 in under 5 s, on 2 CPU cores. Each case is timed once to compile (first call) and then
``--repeats`` times; the table reports the first call and the best repeat, per model, for
``ms_threshold`` and for ``ms_growth_rate`` at one η.

    python benchmarks/theory_speed.py [--repeats 3] [--quick]
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

import sdejax

MODELS = ("discrete", "sme1", "corrected", "sme2")


def _cases(quick):
    # N = 8 workers, ω = 3 and d σ1² = 0.01 in every case; condition number 100.
    rng = np.random.default_rng(0)
    n = 8
    d = 200 if quick else 1000
    yield (
        f"diagonal, d = {d}, Bernoulli p = 0.25",
        sdejax.DCSGD(sdejax.BernoulliSparsifier(0.25), n),
        sdejax.Quadratic(jnp.asarray(np.geomspace(1.0, 100.0, d))),
        sdejax.AffineGaussianNoise(0.0, 0.1 / np.sqrt(d)),
    )
    yield (
        f"diagonal, d = {d}, rand-k k = {d // 4}",
        sdejax.DCSGD(sdejax.RandK(d // 4), n),
        sdejax.Quadratic(jnp.asarray(np.geomspace(1.0, 100.0, d))),
        sdejax.AffineGaussianNoise(0.0, 0.1 / np.sqrt(d)),
    )
    d = 40 if quick else 100
    basis, _ = np.linalg.qr(rng.normal(size=(d, d)))
    yield (
        f"dense Hessian (rotated), d = {d}, Bernoulli p = 0.25",
        sdejax.DCSGD(sdejax.BernoulliSparsifier(0.25), n),
        sdejax.Quadratic(jnp.asarray(np.geomspace(1.0, 100.0, d)), basis=jnp.asarray(basis)),
        sdejax.AffineGaussianNoise(0.0, 0.1 / np.sqrt(d)),
    )


def _time(fn, repeats):
    start = time.perf_counter()
    value = fn()
    first = time.perf_counter() - start
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return value, first, best


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke test)")
    args = parser.parse_args()
    print(f"jax {jax.__version__}, {jax.devices()[0].platform}, x64 {jax.config.jax_enable_x64}")
    print("| case | model | threshold η* | first call (s) | after compile (s) | rate at η*/2 (s) |")
    print("|---|---|---|---|---|---|")
    for name, *cell in _cases(args.quick):
        for model in MODELS:
            value, first, best = _time(
                lambda m=model, c=cell: sdejax.theory.ms_threshold(m, *c), args.repeats
            )
            eta = 0.5 * value if np.isfinite(value) else 0.01
            _, _, rate = _time(
                lambda m=model, c=cell, e=eta: sdejax.theory.ms_growth_rate(m, *c, e), args.repeats
            )
            print(f"| {name} | {model} | {value:.6g} | {first:.2f} | {best:.3f} | {rate:.3f} |", flush=True)


if __name__ == "__main__":
    main()
