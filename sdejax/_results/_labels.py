"""Words and numbers on the plots and the CLI tables: axis labels of sweep variables,
``value ± SE`` formatting, the 95 % normal quantile ``Z95``, and why a measured threshold has
no value (``NO_CROSSING``, ``UNCLEAR``).
"""

from __future__ import annotations

import math

Z95 = 1.959963984540054  # two-sided 95 % normal quantile: bands and bars are ± Z95 · SE

_LABELS = {
    "ms_growth_rate": "mean-square growth rate per unit time",
    "as_growth_rate": "almost-sure growth rate per unit time",
    "diverged_fraction": "fraction of diverged paths",
    "final_loss_mean": "final loss (mean over live paths)",
    "ms_ratio_mean": "mean-square growth factor per step",
    "learning_rate": "learning rate η",
    "compressor.p": "keep-probability p",
    "compressor.k": "coordinates kept k",
    "noise.sigma1": "multiplicative noise σ1",
    "noise.sigma0": "additive noise σ0",
    "noise.sigma": "noise σ",
    "noise.scale": "noise scale σ",
    "noise.df": "degrees of freedom ν",
    "n_workers": "workers N",
    "algorithm.n_workers": "workers N",
}
# Why a measured crossing has no value, in words (bounds of sdejax.threshold, plus "unclear").
NO_CROSSING = {
    "above": "above the grid",
    "below": "below the grid",
    "undefined": "no usable rate",
    "unclear": "no clear crossing",
}
UNCLEAR = (
    "sdejax.threshold finds a zero crossing, but no path diverges above it and the growth rate "
    "is not significantly positive there (or turns significantly negative again): the rate "
    "fluctuates around 0, which is no threshold (e.g. DSignSGD, which does not diverge)."
)


def _label(name: str) -> str:
    return _LABELS.get(name, name)


def format_estimate(value: float, se: float) -> str:
    """``value ± se`` with two significant digits of the SE and the value to the same decimal
    (``1.4035 ± 0.0021``); without a usable SE, the value to 4 significant digits. The value
    never shows more than 6 significant digits (an SE below that is written ``± 7.9e-09``)."""
    if not math.isfinite(value):
        return str(value)
    if not math.isfinite(se) or se <= 0:
        return f"{value:.4g}" + (" ± 0" if se == 0 else "")
    if value != 0 and not 1e-3 <= abs(value) < 1e6:
        return f"{value:.4g} ± {se:.2g}"
    decimals = max(1 - math.floor(math.log10(se)), 0)
    most = max(5 - math.floor(math.log10(abs(value))), 0) if value != 0 else decimals
    if decimals > most:
        return f"{value:.{most}f} ± {se:.2g}"
    return f"{value:.{decimals}f} ± {se:.{decimals}f}"


def format_number(value: float) -> str:
    """A number with 5 significant digits; ``inf`` and ``nan`` spelled out."""
    return f"{value:.5g}" if math.isfinite(value) else str(value)
