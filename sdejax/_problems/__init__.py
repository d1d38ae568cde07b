from ._base import AbstractProblem as AbstractProblem
from ._loss import LossProblem as LossProblem
from ._quadratic import Quadratic as Quadratic
from ._quartic import Quartic as Quartic
