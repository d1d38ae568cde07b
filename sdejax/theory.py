"""Exact predictions of docs/theory.md, used as test oracles, plot overlays and on their own.

* :func:`ms_growth_rate` and :func:`ms_threshold`: the exact mean-square growth rate and
  threshold of DSGD/DCSGD and of its three SDE models (``"discrete"``, ``"sme1"``, ``"sme2"``,
  ``"corrected"``) on every quadratic problem, from the linear second-moment operators of
  docs/theory.md §7; for other problems, of the dynamics linearized at a minimizer (Wu, Ma & E,
  2018). They refuse, with a ``ValueError`` that says why, where the second moments do not close.
* :func:`effective_noise`: B̄ of docs/theory.md §4 and §6 H1.
* :func:`dsgd_loss_floor` (exact) and :func:`dsignsgd_loss_floor` (small-η approximation): the
  stationary losses of docs/theory.md §6 H4.
* :func:`standard_density_at_zero`: p(0) of the standard noise.

Each function raises a clear error outside its setting rather than return a number that does
not apply.
"""

from ._theory import (
    dsgd_loss_floor as dsgd_loss_floor,
    dsignsgd_loss_floor as dsignsgd_loss_floor,
    effective_noise as effective_noise,
    ms_growth_rate as ms_growth_rate,
    ms_threshold as ms_threshold,
    standard_density_at_zero as standard_density_at_zero,
)

__all__ = [
    "dsgd_loss_floor",
    "dsignsgd_loss_floor",
    "effective_noise",
    "ms_growth_rate",
    "ms_threshold",
    "standard_density_at_zero",
]
