"""Exact aggregate samplers: the server's direction in O(d) per step (one sampler per file)."""

from ._base import AbstractAggregateSampler as AbstractAggregateSampler
from ._bernoulli_gaussian import BernoulliGaussianSampler as BernoulliGaussianSampler
from ._binomial import binomial as binomial
from ._dsgd_gaussian import DSGDGaussianSampler as DSGDGaussianSampler
from ._dsignsgd import DSignSGDSampler as DSignSGDSampler

SAMPLERS: tuple[AbstractAggregateSampler, ...] = (
    BernoulliGaussianSampler(),
    DSGDGaussianSampler(),
    DSignSGDSampler(),
)


def find_aggregate_sampler(algorithm, noise, problem=None):
    """(sampler, None) for the first exact sampler covering the pair, else (None, reasons).

    Every sampler needs identical workers: a problem with per-worker objectives
    (``problem.is_heterogeneous``) always takes the per-worker path.
    """
    if problem is not None and problem.is_heterogeneous:
        return None, (
            f"{type(problem).__name__} gives each worker its own objective (heterogeneous workers); "
            "exact aggregate samplers need identical workers"
        )
    reasons = []
    for sampler in SAMPLERS:
        reason = sampler.unsupported_reason(algorithm, noise)
        if reason is None:
            return sampler, None
        reasons.append(f"{type(sampler).__name__}: {reason}")
    return None, "; ".join(reasons)
