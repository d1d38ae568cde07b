"""DSignSGD (mean or majority vote) with any continuous symmetric noise of known CDF."""

from __future__ import annotations

import jax.numpy as jnp

from ..._compressors import Sign
from ._base import AbstractAggregateSampler, worker_scale
from ._binomial import binomial


class DSignSGDSampler(AbstractAggregateSampler):
    """u = (1/N) Σ_i sign(∇f + s T_i) sampled through the count of positive signs, O(d).

    For continuous noise P(∂_j f + s T = 0) = 0, so each worker's sign is +1 with probability
    q_j = P(T > −∂_j f/s) = F(∂_j f/s) (F the standard CDF, symmetric) and −1 otherwise,
    independently across workers. The number of +1 is K_j ~ Binomial(N, q_j) and [derived]

        vote="mean":     u_j = (2 K_j − N)/N,
        vote="majority": u_j = sign(2 K_j − N).

    q is the noise model's ``sign_probability`` (the one definition of the sign law). A zero
    scale (noise-free workers) gives sign(∂_j f) exactly, as the per-worker path does.
    Covers every sdejax noise model (each declares its CDF: Gaussian, affine Gaussian,
    Student-t including Cauchy and non-integer ν, whose per-worker sampler is slow); requires
    identical workers and noise without atoms. Covers the mean and majority votes of ``Sign``.
    """

    def covers(self, form, noise):
        if not isinstance(form.compressor, Sign):
            return "needs a vote over the workers' signs (DSignSGD)"
        return None

    def direction(self, key, gradient, form, noise):
        n = form.n_workers
        positive = worker_scale(noise, gradient) > 0
        q = jnp.clip(noise.sign_probability(gradient, 1)[0], 0.0, 1.0)
        count = binomial(key, n, q, gradient.shape, gradient.dtype)
        vote = (2.0 * count - n) / n
        if form.vote == "majority":
            vote = jnp.sign(vote)
        return jnp.where(positive, vote, jnp.sign(gradient))
