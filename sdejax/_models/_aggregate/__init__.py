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
    """(sampler, None) for the exact sampler of ``algorithm``'s declared vote, else (None, why).

    The algorithm declares its direction as a vote over per-worker terms (``aggregate_form``;
    ``None`` for chains that are not one, e.g. normalized or stateful ones); each sampler
    declares which votes and noise models it covers and whether it needs identical workers.
    Called once, when a model is built.
    """
    form = algorithm.aggregate_form
    if form is None:
        return None, (
            f"{type(algorithm).__name__} declares no aggregate form (its update is not a vote over "
            "independent per-worker terms)"
        )
    reasons = []
    for sampler in SAMPLERS:
        reason = sampler.unsupported_reason(form, noise, problem)
        if reason is None:
            return sampler, None
        reasons.append(f"{type(sampler).__name__}: {reason}")
    return None, "; ".join(reasons)
