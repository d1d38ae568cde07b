"""The discrete workloads W1, W1b, W2 (and the W4/W5 variants) as plain parameters."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class DiscreteSpec:
    """f = ½‖x‖² (λ = 1), x0 = 1, N workers; ``kind`` picks the algorithm and noise."""

    kind: str  # "bernoulli" (DCSGD, affine noise), "randk" (DCSGD, affine), "dsgd" (Gaussian),
    # "sign" (DSignSGD, Student-t)
    d: int = 100
    n_workers: int = 8
    p: float = 0.25  # Bernoulli keep-probability
    k: int = 25  # rand-k (k = d/4)
    sigma1: float = 0.1  # affine noise σ1 (σ0 = 0), the paper's multiplicative noise
    sigma: float = 0.5  # Gaussian noise σ (DSGD)
    df: float = 3.0  # Student-t ν (DSignSGD)
    scale: float = 1.0  # Student-t scale
    learning_rate: float = 0.05

    def with_workers(self, n_workers: int) -> DiscreteSpec:
        return replace(self, n_workers=n_workers)

    def sdejax_components(self):
        import sdejax

        if self.kind == "bernoulli":
            algorithm = sdejax.DCSGD(sdejax.BernoulliSparsifier(self.p), self.n_workers)
            noise = sdejax.AffineGaussianNoise(0.0, self.sigma1)
        elif self.kind == "randk":
            algorithm = sdejax.DCSGD(sdejax.RandK(self.k), self.n_workers)
            noise = sdejax.AffineGaussianNoise(0.0, self.sigma1)
        elif self.kind == "dsgd":
            algorithm = sdejax.DSGD(self.n_workers)
            noise = sdejax.GaussianNoise(self.sigma)
        elif self.kind == "sign":
            algorithm = sdejax.DSignSGD(self.n_workers)
            noise = sdejax.StudentTNoise(self.df, self.scale)
        else:
            raise ValueError(self.kind)
        import jax.numpy as jnp

        return algorithm, sdejax.Quadratic(jnp.ones(self.d)), noise

    def aggregate_draws(self):
        """The variates one exact aggregate step draws per path: (kind, shape) pairs."""
        if self.kind == "bernoulli":
            return [("uniform", (self.d,)), ("normal", (self.d,))]
        if self.kind == "dsgd":
            return [("normal", (self.d,))]
        if self.kind == "sign":
            return [("uniform", (self.d,))]
        return None

    def per_worker_draws(self):
        """The variates one per-worker step draws per path (exact samplers)."""
        shape = (self.n_workers, self.d)
        if self.kind in ("bernoulli", "randk"):
            return [("uniform", shape), ("normal", shape)]
        if self.kind == "dsgd":
            return [("normal", shape)]
        # Student-t, integer ν: one normal over sqrt(χ²_ν/ν), χ²_ν from ν squared normals.
        return [("normal", (int(self.df) + 1, *shape))]


W1 = DiscreteSpec("bernoulli")
W1B = DiscreteSpec("randk")
W2 = DiscreteSpec("sign", learning_rate=0.01)
DSGD = DiscreteSpec("dsgd")
