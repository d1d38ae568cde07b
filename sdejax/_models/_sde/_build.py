"""Which SDE family models an algorithm: one specification, four models."""

from __future__ import annotations

from ._dcsgd import DCSGDCoefficients
from ._dsignsgd import DSignSGDCoefficients
from ._majority import MajorityVoteCoefficients


def coefficients_for(algorithm, problem, noise, owner):
    """The :class:`AbstractSDECoefficients` of ``algorithm`` on ``problem`` with ``noise``.

    DSGD/DCSGD (unbiased compressor, finite noise variance) and DSignSGD (mean or majority
    vote, any noise) have SDE models; NormalizedDCSGD and user chains (``OptaxAlgorithm``) have
    none and raise a ``ValueError``. The components are checked by the entry points
    (``simulate``, ``stability_sweep``: ``algorithm.check`` runs once there), not again here.
    """
    family = algorithm.family
    if family == "dcsgd":
        return DCSGDCoefficients(problem, noise, algorithm.compressor, algorithm.n_workers, owner)
    if family == "dsignsgd":
        cls = DSignSGDCoefficients if algorithm.aggregate_form.vote == "mean" else MajorityVoteCoefficients
        return cls(problem, noise, algorithm.n_workers)
    if family == "optax":
        raise ValueError(
            f"{owner}: no SDE model for an OptaxAlgorithm (a user's optax chain, possibly "
            "stateful): SDE models exist only for the built-in algorithms DSGD, DCSGD with an "
            "unbiased compressor, and DSignSGD. Use model='discrete'."
        )
    raise ValueError(
        f"{owner}: no SDE model for {type(algorithm).__name__} (family {family!r}); SDE models "
        "exist only for the built-in algorithms DSGD, DCSGD with an unbiased compressor, and "
        "DSignSGD. Use model='discrete'."
    )
