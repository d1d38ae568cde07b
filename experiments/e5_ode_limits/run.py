"""E5 (docs/theory.md §6 H2, H3): gradient descent against its three ODE models.

Quadratic f = λx²/2 (H2): GD and the corrected ODE are stable iff η < 2/λ; SME-1/SME-2 are stable
for every η. Quartic f = x⁴/4 (H3): GD diverges iff η x0² > 2; the corrected ODE blows up iff
η x0² > 2/3 (right in kind, a factor 3 conservative); SME-1/SME-2 converge for every η.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from _common import ensure, parse  # noqa: E402

import sdejax  # noqa: E402

HERE = Path(__file__).resolve().parent
MODELS = ("discrete", "sme1", "sme2", "corrected")


def main():
    args = parse(__doc__, HERE)
    jax.config.update("jax_enable_x64", True)
    out = ensure(args.results)
    gd = sdejax.DSGD(1)
    noiseless = sdejax.GaussianNoise(0.0)
    n_rates = 25 if args.quick else 121
    steps = 60 if args.quick else 200
    # H2: λ = 1, η from 0.5 to 3 (threshold 2).
    quadratic = sdejax.stability_sweep(
        gd,
        sdejax.Quadratic(jnp.ones(1)),
        noiseless,
        x0=jnp.ones(1),
        learning_rates=np.linspace(0.5, 3.0, n_rates),
        steps=steps,
        n_paths=1,
        key=jax.random.key(0),
        models=MODELS,
        burn_in=0.0,
    )
    quadratic.to_netcdf(out / "quadratic.nc")
    # H3: x0 = 1, so η x0² = η; η from 0.1 to 3 brackets 2/3 and 2.
    quartic = sdejax.stability_sweep(
        gd,
        sdejax.Quartic(1),
        noiseless,
        x0=jnp.ones(1),
        learning_rates=np.linspace(0.1, 3.0, n_rates),
        steps=steps * 5,
        n_paths=1,
        key=jax.random.key(0),
        models=MODELS,
        burn_in=0.0,
        divergence_bound=1e3,
    )
    quartic.to_netcdf(out / "quartic.nc")
    for name, ds in (("quadratic", quadratic), ("quartic", quartic)):
        for model in MODELS:
            if name == "quadratic":
                value = sdejax.threshold(ds, model)
            else:
                diverged = ds.diverged_fraction.sel(model=model).values > 0
                value = float(ds.learning_rate.values[np.argmax(diverged)]) if diverged.any() else np.inf
            print(f"{name:9s} {model:9s} stability limit η ≈ {value:.3f}")


if __name__ == "__main__":
    main()
