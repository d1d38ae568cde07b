"""Which SDE family models an algorithm: one specification, four models."""

from __future__ import annotations

from ..._algorithms import DSignSGD
from ._dcsgd import DCSGDCoefficients
from ._dsignsgd import DSignSGDCoefficients
from ._majority import MajorityVoteCoefficients


def coefficients_for(algorithm, problem, noise, owner):
    """The :class:`AbstractSDECoefficients` of ``algorithm`` on ``problem`` with ``noise``.

    DSGD/DCSGD (unbiased compressor, finite noise variance) and DSignSGD (mean or majority
    vote, any noise) have SDE models; NormalizedDCSGD has none yet and raises.
    """
    algorithm.check(problem, noise)
    family = algorithm.family
    if family == "dcsgd":
        return DCSGDCoefficients(problem, noise, algorithm.compressor, algorithm.n_workers, owner)
    if family == "dsignsgd" and isinstance(algorithm, DSignSGD):
        cls = DSignSGDCoefficients if algorithm.vote == "mean" else MajorityVoteCoefficients
        return cls(problem, noise, algorithm.n_workers)
    raise ValueError(
        f"{owner}: no SDE model for {type(algorithm).__name__} (family {family!r}); SDE models "
        "exist for DSGD, DCSGD with an unbiased compressor, and DSignSGD. Use model='discrete'."
    )
