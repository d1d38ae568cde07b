"""The exact analysis behind :mod:`sdejax.theory` (see that module)."""

from ._floors import (
    dsgd_loss_floor as dsgd_loss_floor,
    dsignsgd_loss_floor as dsignsgd_loss_floor,
    effective_noise as effective_noise,
    standard_density_at_zero as standard_density_at_zero,
)
from ._stability import ms_growth_rate as ms_growth_rate, ms_threshold as ms_threshold
