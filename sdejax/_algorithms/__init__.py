from ._base import AbstractAlgorithm as AbstractAlgorithm, AggregateForm as AggregateForm
from ._dsgd import DCSGD as DCSGD, DSGD as DSGD
from ._dsignsgd import DSignSGD as DSignSGD
from ._normalized import NormalizedDCSGD as NormalizedDCSGD
from ._optax import OptaxAlgorithm as OptaxAlgorithm
