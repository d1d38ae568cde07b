"""sdejax: distributed compressed optimizers and their SDE models, simulated in JAX."""

from . import optim as optim, theory as theory
from ._algorithms import (
    DCSGD as DCSGD,
    DSGD as DSGD,
    AbstractAlgorithm as AbstractAlgorithm,
    DSignSGD as DSignSGD,
    NormalizedDCSGD as NormalizedDCSGD,
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
from ._results._metadata import package_version as _package_version
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

__version__ = _package_version()
