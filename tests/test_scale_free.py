"""Scale-free dynamics and the clones of the mean-square estimator.

``AbstractModel.is_scale_free`` is a declaration (scheme, algorithm, problem, noise); here it is
checked against the dynamics themselves: with the same key, a step from x* + c(x − x*) must be
x* + c(step from x − x*). Where it holds the kernel rescales every resampled clone to unit
distance, which must keep every interval usable where the clones' sizes would otherwise leave
the floating-point range.
"""

import jax
import jax.numpy as jnp
import jax.random as jr
import numpy as np
import pytest

import sdejax
from sdejax._engine._kernel import clone_populations, run_block, scale_free_clones
from sdejax._validation import cast_floating

D = 4
ROTATION, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(D, D)))
EIGENVALUES = jnp.asarray([0.25, 0.5, 1.0, 2.0])


def _rotated(shifts=None):
    return sdejax.Quadratic(EIGENVALUES, shifts=shifts, basis=jnp.asarray(ROTATION))


HOMOGENEOUS = [
    pytest.param("discrete", sdejax.DCSGD(sdejax.BernoulliSparsifier(0.5), 2), {}, id="discrete-bernoulli"),
    pytest.param("discrete", sdejax.DCSGD(sdejax.RandK(2), 3), {}, id="discrete-rand-k"),
    pytest.param("discrete", sdejax.DSGD(3), {"sampling": "aggregate"}, id="discrete-dsgd-aggregate"),
    pytest.param("sme1", sdejax.DCSGD(sdejax.RandK(2), 3), {}, id="sme1"),
    pytest.param("sme2", sdejax.DCSGD(sdejax.BernoulliSparsifier(0.5), 2), {}, id="sme2"),
    pytest.param("corrected", sdejax.DCSGD(sdejax.BernoulliSparsifier(0.5), 2), {}, id="corrected"),
]


@pytest.mark.parametrize(("name", "algorithm", "options"), HOMOGENEOUS)
def test_declared_scale_free_models_commute_with_scaling(name, algorithm, options):
    noise = sdejax.AffineGaussianNoise(0.0, 0.3)
    model = sdejax.make_model(name, algorithm, _rotated(), noise, **options)
    assert model.is_scale_free()
    x = jnp.asarray([0.7, -1.2, 0.4, 2.0])
    key = jr.key(3)
    base = model.step(key, x, 0.4, 1.0)
    for c in (1e-3, 7.0):
        scaled = model.step(key, c * x, 0.4, 1.0)
        np.testing.assert_allclose(np.asarray(scaled), c * np.asarray(base), rtol=1e-9, atol=0)


def test_forced_models_rescale_their_unforced_clones():
    """Additive noise and heterogeneous minimizers: the clones follow the unforced model, which
    is scale-free about the mean minimizer."""
    shifts = jnp.asarray(np.random.default_rng(1).normal(size=(2, D)))
    model = sdejax.make_model(
        "discrete",
        sdejax.DCSGD(sdejax.BernoulliSparsifier(0.5), 2),
        _rotated(shifts),
        sdejax.AffineGaussianNoise(0.2, 0.3),
    )
    assert model.has_forcing()
    assert scale_free_clones(model)
    unforced = model.without_forcing()
    center = unforced.problem.minimizer()
    x = center + jnp.asarray([0.7, -1.2, 0.4, 2.0])
    base = unforced.step(jr.key(5), x, 0.4, 1.0) - center
    scaled = unforced.step(jr.key(5), center + 5.0 * (x - center), 0.4, 1.0) - center
    np.testing.assert_allclose(np.asarray(scaled), 5.0 * np.asarray(base), rtol=1e-9)


NOT_SCALE_FREE = [
    pytest.param("discrete", sdejax.DSignSGD(2), sdejax.Quadratic(EIGENVALUES), {}, id="sign-update"),
    pytest.param(
        "discrete",
        sdejax.NormalizedDCSGD(sdejax.RandK(2), 2),
        sdejax.Quadratic(EIGENVALUES),
        {},
        id="normalized",
    ),
    pytest.param(
        "discrete", sdejax.DCSGD(sdejax.RandK(2), 2), sdejax.Quartic(D), {}, id="nonlinear-gradient"
    ),
    pytest.param(
        "corrected",
        sdejax.DCSGD(sdejax.RandK(2), 2),
        sdejax.Quadratic(EIGENVALUES),
        {"correction": lambda coefficients, x: jnp.zeros_like(x)},
        id="untrusted-correction",
    ),
]


@pytest.mark.parametrize(("name", "algorithm", "problem", "options"), NOT_SCALE_FREE)
def test_undeclared_dynamics_keep_their_scale(name, algorithm, problem, options):
    model = sdejax.make_model(name, algorithm, problem, sdejax.AffineGaussianNoise(0.0, 0.3), **options)
    assert not model.is_scale_free()
    assert not scale_free_clones(model)


def test_rescaled_clones_never_overflow():
    """Rotated quadratic, Bernoulli compression, above the threshold, float32: without
    rescaling the clones' sizes spread past 1e38 within ~90 steps and the population stopped
    counting (every later interval unusable); with it every interval is usable."""
    model = sdejax.make_model(
        "discrete",
        sdejax.DCSGD(sdejax.BernoulliSparsifier(0.5), 2),
        _rotated(),
        sdejax.AffineGaussianNoise(0.0, 0.2),
    )
    model = cast_floating(model, jnp.float32)
    n_paths, steps = 2000, 300
    x0 = jnp.ones((n_paths, D), jnp.float32)
    keys = jax.vmap(lambda i: jr.fold_in(jr.key(0), i))(jnp.arange(n_paths))
    results = {}
    for scale_free in (False, True):
        stats, _ = jax.jit(
            lambda m, x, k, sf=scale_free: run_block(
                m,
                x,
                jnp.float32(0.74),
                k,
                jnp.ones(n_paths, bool),
                jnp.float32(1e15),
                jnp.int32(0),
                jr.key(1),
                steps=steps,
                scale_free=sf,
                populations=clone_populations(n_paths),
            )
        )(model, x0, keys)
        results[scale_free] = stats
    assert clone_populations(n_paths) == 2
    assert results[True].usable.shape == (steps // 2, 2)
    assert bool(np.all(results[True].usable)), np.flatnonzero(~np.asarray(results[True].usable).all(-1))
    assert not bool(np.any(results[True].clones_blown))
    # the regression it guards against: without rescaling the population overflows
    assert bool(np.any(results[False].clones_blown))


@pytest.mark.parametrize(
    ("block", "expected"), [(1, 1), (999, 1), (2000, 2), (3999, 3), (4000, 4), (10**6, 4)]
)
def test_clone_populations(block, expected):
    assert clone_populations(block) == expected
