from ._base import AbstractModel as AbstractModel
from ._discrete import DiscreteModel as DiscreteModel
from ._registry import MODELS as MODELS, make_model as make_model, register_model as register_model
from ._sde import (
    AbstractSDEModel as AbstractSDEModel,
    CorrectedModel as CorrectedModel,
    SME1Model as SME1Model,
    SME2Model as SME2Model,
    generator as generator,
)
