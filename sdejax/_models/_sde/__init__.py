"""SDE models of the distributed algorithms (docs/theory.md §5): sme1, sme2, corrected."""

from ._base import AbstractSDEModel as AbstractSDEModel
from ._brownian import IncrementBrownianPath as IncrementBrownianPath
from ._build import coefficients_for as coefficients_for
from ._coefficients import AbstractSDECoefficients as AbstractSDECoefficients
from ._correction import CurvatureCorrection as CurvatureCorrection
from ._generator import generator as generator
from ._low_rank import diagonal_minus_rank_one_root as diagonal_minus_rank_one_root
from ._models import (
    CorrectedModel as CorrectedModel,
    SME1Model as SME1Model,
    SME2Model as SME2Model,
)
