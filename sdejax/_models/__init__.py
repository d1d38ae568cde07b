from ._base import AbstractModel as AbstractModel
from ._discrete import DiscreteModel as DiscreteModel
from ._registry import MODELS as MODELS, make_model as make_model, register_model as register_model
