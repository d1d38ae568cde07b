"""H4: the DSignSGD loss floor of the SDE models matches the discrete one (docs/theory.md §6)."""

import math

import jax.numpy as jnp
import jax.random as jr
import pytest
from helpers import z_for

import sdejax

ETA = 0.05
HORIZON = 12.0  # SDE time; the near-optimum relaxation time is σ/(2p(0)λ) ≈ 1.25


def _floor(model, noise, key, n_paths=500):
    """Time-averaged loss over t ∈ [5, 12] and a conservative SE.

    Saves are one time unit apart and positively correlated, so the variance of their mean is
    at most the largest single-save variance: that SE bounds the true one from above.
    """
    steps = int(round(HORIZON / ETA))
    ds = sdejax.simulate(
        sdejax.DSignSGD(2),
        sdejax.Quadratic(jnp.ones(4)),
        noise,
        x0=jnp.zeros(4),
        learning_rate=ETA,
        steps=steps,
        n_paths=n_paths,
        key=key,
        model=model,
        save_every=int(round(1 / ETA)),
    )
    return float(ds.loss_mean.values[5:].mean()), float(ds.loss_se.values[5:].max())


def _check(noise, models, key):
    z = z_for(1e-4 / len(models))
    reference, reference_se = _floor("discrete", noise, key)
    theory = sdejax.theory.dsignsgd_loss_floor(sdejax.DSignSGD(2), sdejax.Quadratic(jnp.ones(4)), noise, ETA)
    # Sanity: the small-η formula η σ d/(8 N p(0)) is within 5% here (measured: 1%).
    assert abs(reference - theory) < 0.05 * theory
    for model in models:
        value, se = _floor(model, noise, jr.fold_in(key, 1))
        assert abs(value - reference) < z * math.hypot(se, reference_se), (model, value, reference)


def test_h4_floor_corrected_matches_discrete(key):
    _check(sdejax.GaussianNoise(1.0), ("corrected",), key)


@pytest.mark.slow  # Student-t sign means go through betainc, slow on CPU (40 s here)
def test_h4_floor_corrected_matches_discrete_cauchy(key):
    _check(sdejax.StudentTNoise(1.0, 1.0), ("corrected",), key)


@pytest.mark.slow
@pytest.mark.parametrize("df", [1.0, 2.0, 3.0, 10.0])
def test_h4_floor_every_model_student_t(df, key):
    _check(sdejax.StudentTNoise(df, 1.0), ("sme1", "sme2", "corrected"), key)
