"""Registries: every compressor, noise model and optimizer is listed once here and runs
through the shared contract suites."""

import jax
import jax.numpy as jnp
import optax

import sdejax

D = 8  # dimension used by the contract suites
N = 4  # workers used by the contract suites

COMPRESSORS = {
    "identity": sdejax.Identity(),
    "rand_k": sdejax.RandK(3),
    "bernoulli": sdejax.BernoulliSparsifier(0.3),
    "natural": sdejax.NaturalCompression(),
    "dithering": sdejax.RandomDithering(4),
    "sign": sdejax.Sign(),
    "top_k": sdejax.TopK(3),
}
UNBIASED = [name for name, c in COMPRESSORS.items() if c.is_unbiased]

NOISES = {
    "gaussian": sdejax.GaussianNoise(0.5),
    "gaussian_per_worker": sdejax.GaussianNoise(jnp.linspace(0.1, 1.0, N)),
    "affine": sdejax.AffineGaussianNoise(0.2, 0.3),
    "affine_per_worker": sdejax.AffineGaussianNoise(jnp.zeros(N), jnp.linspace(0.1, 0.4, N)),
    "student_t_cauchy": sdejax.StudentTNoise(1.0, 0.5),
    "student_t_3": sdejax.StudentTNoise(3.0, 0.5),
    "student_t_fractional": sdejax.StudentTNoise(2.5, 0.5),
    "student_t_per_worker": sdejax.StudentTNoise(jnp.array([1.0, 2.0, 3.0, 10.0]), 0.5),
}


def _optimizers():
    key = jax.random.key(3)
    return {
        "dcsgd_rand_k": lambda: sdejax.optim.dcsgd(0.1, sdejax.RandK(3), key=key),
        "dcsgd_bernoulli": lambda: sdejax.optim.dcsgd(0.1, sdejax.BernoulliSparsifier(0.5), key=key),
        "dcsgd_natural": lambda: sdejax.optim.dcsgd(0.1, sdejax.NaturalCompression(), key=key),
        "dsignsgd_mean": lambda: sdejax.optim.dsignsgd(0.1),
        "dsignsgd_majority": lambda: sdejax.optim.dsignsgd(0.1, vote="majority"),
        "normalized_plain": lambda: sdejax.optim.normalized_dcsgd(0.1, sdejax.RandK(3), key=key),
        "normalized_theory": lambda: sdejax.optim.normalized_dcsgd(
            0.1,
            sdejax.RandK(3),
            key=key,
            scaling="theory",
            l0=1.0,
            l1=0.5,
            n_workers=N,
            sigma1=0.1,
        ),
        "ef21_top_k": lambda: optax.chain(
            sdejax.optim.error_feedback(sdejax.TopK(3), n_workers=N),
            sdejax.optim.aggregate_workers(),
            optax.scale_by_learning_rate(0.1),
        ),
        "ef21_rand_k": lambda: optax.chain(
            sdejax.optim.error_feedback(sdejax.RandK(3), n_workers=N, key=key),
            sdejax.optim.aggregate_workers(),
            optax.scale_by_learning_rate(0.1),
        ),
        "per_worker_clip": lambda: optax.chain(
            sdejax.optim.per_worker(optax.clip_by_global_norm(1.0)),
            sdejax.optim.aggregate_workers(),
            optax.scale_by_learning_rate(0.1),
        ),
        "per_worker_momentum": lambda: optax.chain(
            sdejax.optim.per_worker(optax.trace(decay=0.9), n_workers=N),
            sdejax.optim.aggregate_workers(),
            optax.scale_by_learning_rate(0.1),
        ),
    }


OPTIMIZERS = _optimizers()


def _heavy_ball(learning_rate, key):
    del key
    return optax.chain(
        sdejax.optim.aggregate_workers(), optax.trace(decay=0.5), optax.scale_by_learning_rate(learning_rate)
    )


def _ef21_momentum(learning_rate, key):
    return optax.chain(
        sdejax.optim.error_feedback(sdejax.RandK(3), n_workers=N, key=key),
        sdejax.optim.aggregate_workers(),
        optax.trace(decay=0.5),
        optax.scale_by_learning_rate(learning_rate),
    )


def _scheduled(learning_rate, key):
    del key
    return optax.chain(
        sdejax.optim.aggregate_workers(),
        optax.inject_hyperparams(optax.sgd)(learning_rate=lambda count: learning_rate * 0.99**count),
    )


ALGORITHMS = {
    "dsgd": sdejax.DSGD(N),
    "dcsgd_rand_k": sdejax.DCSGD(sdejax.RandK(3), N),
    "dcsgd_bernoulli": sdejax.DCSGD(sdejax.BernoulliSparsifier(0.5), N),
    "dsignsgd": sdejax.DSignSGD(N),
    "dsignsgd_majority": sdejax.DSignSGD(N, vote="majority"),
    "normalized_plain": sdejax.NormalizedDCSGD(sdejax.RandK(3), N),
    "normalized_theory": sdejax.NormalizedDCSGD(sdejax.BernoulliSparsifier(0.5), N, scaling="theory"),
    "optax_heavy_ball": sdejax.OptaxAlgorithm(_heavy_ball, N),
    "optax_ef21_momentum": sdejax.OptaxAlgorithm(_ef21_momentum, N),
    "optax_inject_hyperparams": sdejax.OptaxAlgorithm(_scheduled, N),
}


def z_for(false_alarm: float) -> float:
    """Two-sided normal quantile: |estimate − truth| < z·SE fails with probability false_alarm."""
    from scipy.stats import norm

    return float(norm.ppf(1 - false_alarm / 2))
