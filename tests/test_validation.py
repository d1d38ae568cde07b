"""Bad input gets a clear error naming the parameter and what is allowed, at construction."""

import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import sdejax

PROBLEM = sdejax.Quadratic(jnp.ones(4))
NOISE = sdejax.GaussianNoise(0.1)
ALGORITHM = sdejax.DSGD(2)
RUN = dict(x0=jnp.ones(4), learning_rate=0.1, steps=3, n_paths=2, key=jr.key(0))


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: sdejax.RandK(0), "`k` must be an int >= 1"),
        (lambda: sdejax.RandK(-2), "`k` must be an int >= 1"),
        (lambda: sdejax.RandK(2.5), "`k` must be an int"),
        (lambda: sdejax.TopK(0), "`k` must be an int >= 1"),
        (lambda: sdejax.BernoulliSparsifier(0.0), r"`p` must lie in \(0.0, 1.0\]"),
        (lambda: sdejax.BernoulliSparsifier(1.5), r"`p` must lie in \(0.0, 1.0\]"),
        (lambda: sdejax.BernoulliSparsifier(float("nan")), "`p`"),
        (lambda: sdejax.RandomDithering(0), "`levels` must be an int >= 1"),
        (lambda: sdejax.StudentTNoise(0.0), "`df` must be finite and > 0"),
        (lambda: sdejax.StudentTNoise(-1.0), "`df` must be finite and > 0"),
        (lambda: sdejax.StudentTNoise(3.0, -1.0), "`scale` must be finite and >= 0"),
        (lambda: sdejax.GaussianNoise(-0.1), "`sigma` must be finite and >= 0"),
        (lambda: sdejax.GaussianNoise(jnp.ones((2, 2))), "`sigma` must be a scalar or a per-worker"),
        (lambda: sdejax.AffineGaussianNoise(-1.0, 0.0), "`sigma0` must be finite and >= 0"),
        (lambda: sdejax.AffineGaussianNoise(0.0, -1.0), "`sigma1` must be finite and >= 0"),
        (lambda: sdejax.DSGD(0), "`n_workers` must be an int >= 1"),
        (lambda: sdejax.DCSGD(sdejax.RandK(1), 0), "`n_workers` must be an int >= 1"),
        (lambda: sdejax.DCSGD("rand-k", 2), "`compressor` must be an AbstractCompressor"),
        (lambda: sdejax.DSignSGD(0), "`n_workers` must be an int >= 1"),
        (lambda: sdejax.DSignSGD(2, vote="median"), "`vote` must be one of"),
        (lambda: sdejax.NormalizedDCSGD(sdejax.Identity(), 2, scaling="x"), "`scaling` must be one of"),
        (lambda: sdejax.Quadratic(jnp.ones((2, 2))), "`eigenvalues` must be a 1-D array"),
        (lambda: sdejax.Quartic(0), "`dim` must be an int >= 1"),
        (lambda: sdejax.LossProblem(3, 2), "`loss_fn` must be callable"),
    ],
)
def test_construction_errors(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


@pytest.mark.parametrize(
    "change, match",
    [
        (dict(algorithm=sdejax.DCSGD(sdejax.RandK(5), 2)), r"`k` must satisfy 0 < k <= d = 4"),
        (dict(algorithm=sdejax.DCSGD(sdejax.TopK(9), 2)), r"`k` must satisfy 0 < k <= d = 4"),
        (dict(steps=0), "`steps` must be an int >= 1"),
        (dict(n_paths=0), "`n_paths` must be an int >= 1"),
        (dict(save_every=0), "`save_every` must be an int >= 1"),
        (dict(x0=jnp.array([1.0, np.nan, 0.0, 0.0])), "`x0` must be finite"),
        (dict(x0=jnp.array([1.0, np.inf, 0.0, 0.0])), "`x0` must be finite"),
        (dict(x0=jnp.ones(3)), r"`x0` must have shape \(4,\)"),
        (dict(x0=jnp.ones((3, 4))), r"`x0` must have shape \(4,\) or \(n_paths, 4\)"),
        (dict(learning_rate=-0.1), "`learning_rate` must be a finite scalar > 0"),
        (dict(learning_rate=jnp.ones(2)), "`learning_rate` must be a finite scalar > 0"),
        (dict(noise=sdejax.GaussianNoise(jnp.ones(3))), "3 per-worker values but n_workers=2"),
        (dict(model="sde"), "`model` must be one of"),
        (dict(key=0), "`key` must be a single jax.random key"),
        (dict(divergence_bound=-1.0), "`divergence_bound` must be a finite number > 0"),
        (dict(problem="quadratic"), "`problem` must be an sdejax problem"),
        (dict(burn_in=1.0), r"`burn_in` must lie in \[0, 1\)"),
    ],
)
def test_simulate_errors(change, match):
    kwargs = dict(algorithm=ALGORITHM, problem=PROBLEM, noise=NOISE, **RUN)
    kwargs.update(change)
    algorithm, problem, noise = kwargs.pop("algorithm"), kwargs.pop("problem"), kwargs.pop("noise")
    with pytest.raises((ValueError, TypeError), match=match):
        sdejax.simulate(algorithm, problem, noise, **kwargs)


@pytest.mark.parametrize(
    "learning_rates, match",
    [
        ([], "non-empty 1-D"),
        ([[0.1, 0.2]], "non-empty 1-D"),
        ([0.1, -0.2], "finite and > 0"),
        ([0.2, 0.1], "strictly increasing"),
    ],
)
def test_sweep_errors(learning_rates, match):
    with pytest.raises(ValueError, match=match):
        sdejax.stability_sweep(
            ALGORITHM,
            PROBLEM,
            NOISE,
            x0=jnp.ones(4),
            learning_rates=learning_rates,
            steps=3,
            n_paths=2,
            key=jr.key(0),
        )


def test_theory_normalization_needs_smoothness():
    problem = sdejax.LossProblem(lambda x: jnp.sum(jnp.cosh(x)), 4)
    with pytest.raises(ValueError, match=r"needs the problem's \(L0, L1\)"):
        sdejax.simulate(sdejax.NormalizedDCSGD(sdejax.Identity(), 2, scaling="theory"), problem, NOISE, **RUN)
