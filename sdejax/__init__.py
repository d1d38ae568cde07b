"""sdejax: distributed compressed optimizers and their SDE models, simulated in JAX.

Public names are loaded on first use (PEP 562), so that ``import sdejax`` and the command
line's ``--help`` do not start JAX; ``from sdejax import X`` and ``sdejax.X`` work as usual.
"""

from __future__ import annotations

import importlib
from importlib import metadata as _metadata
from typing import TYPE_CHECKING

# public name -> the private module that defines it
_EXPORTS = {
    "optim": ".optim",
    "theory": ".theory",
    "AbstractAlgorithm": "._algorithms",
    "DCSGD": "._algorithms",
    "DSGD": "._algorithms",
    "DSignSGD": "._algorithms",
    "NormalizedDCSGD": "._algorithms",
    "OptaxAlgorithm": "._algorithms",
    "AbstractCompressor": "._compressors",
    "BernoulliSparsifier": "._compressors",
    "Identity": "._compressors",
    "NaturalCompression": "._compressors",
    "RandK": "._compressors",
    "RandomDithering": "._compressors",
    "Sign": "._compressors",
    "TopK": "._compressors",
    "simulate": "._engine",
    "stability_sweep": "._engine",
    "MODELS": "._models",
    "AbstractModel": "._models",
    "AbstractSDEModel": "._models",
    "CorrectedModel": "._models",
    "DiscreteModel": "._models",
    "SME1Model": "._models",
    "SME2Model": "._models",
    "generator": "._models",
    "make_model": "._models",
    "register_model": "._models",
    "AbstractNoise": "._noise",
    "AffineGaussianNoise": "._noise",
    "GaussianNoise": "._noise",
    "StudentTNoise": "._noise",
    "AbstractProblem": "._problems",
    "LossProblem": "._problems",
    "Quadratic": "._problems",
    "Quartic": "._problems",
    "plot_stability_map": "._results",
    "plot_trajectories": "._results",
    "threshold": "._results",
}
__all__ = sorted(_EXPORTS)

try:
    __version__ = _metadata.version("sdejax")
except _metadata.PackageNotFoundError:  # running from a source tree without install
    __version__ = "unknown"


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'sdejax' has no attribute {name!r}")
    module = importlib.import_module(_EXPORTS[name], __name__)
    value = module if _EXPORTS[name] == "." + name else getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:  # for type checkers and editors: the same names, imported eagerly
    from . import optim as optim, theory as theory
    from ._algorithms import (
        DCSGD as DCSGD,
        DSGD as DSGD,
        AbstractAlgorithm as AbstractAlgorithm,
        DSignSGD as DSignSGD,
        NormalizedDCSGD as NormalizedDCSGD,
        OptaxAlgorithm as OptaxAlgorithm,
    )
    from ._compressors import (
        AbstractCompressor as AbstractCompressor,
        BernoulliSparsifier as BernoulliSparsifier,
        Identity as Identity,
        NaturalCompression as NaturalCompression,
        RandK as RandK,
        RandomDithering as RandomDithering,
        Sign as Sign,
        TopK as TopK,
    )
    from ._engine import simulate as simulate, stability_sweep as stability_sweep
    from ._models import (
        MODELS as MODELS,
        AbstractModel as AbstractModel,
        AbstractSDEModel as AbstractSDEModel,
        CorrectedModel as CorrectedModel,
        DiscreteModel as DiscreteModel,
        SME1Model as SME1Model,
        SME2Model as SME2Model,
        generator as generator,
        make_model as make_model,
        register_model as register_model,
    )
    from ._noise import (
        AbstractNoise as AbstractNoise,
        AffineGaussianNoise as AffineGaussianNoise,
        GaussianNoise as GaussianNoise,
        StudentTNoise as StudentTNoise,
    )
    from ._problems import (
        AbstractProblem as AbstractProblem,
        LossProblem as LossProblem,
        Quadratic as Quadratic,
        Quartic as Quartic,
    )
    from ._results import (
        plot_stability_map as plot_stability_map,
        plot_trajectories as plot_trajectories,
        threshold as threshold,
    )
