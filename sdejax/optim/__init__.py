"""optax gradient transformations for distributed compressed optimizers.

Simulated workers are the leading axis of the incoming updates; pass ``axis_name`` to run each
worker on its own device inside ``shard_map``/``pmap``.
"""

from ._alias import dcsgd as dcsgd, dsignsgd as dsignsgd, normalized_dcsgd as normalized_dcsgd
from ._error_feedback import ErrorFeedbackState as ErrorFeedbackState, error_feedback as error_feedback
from ._normalize import (
    normalize_update as normalize_update,
    scale_by_theory_normalization as scale_by_theory_normalization,
    theory_step_denominator as theory_step_denominator,
)
from ._per_worker import PerWorkerState as PerWorkerState, per_worker as per_worker
from ._workers import (
    AggregateWorkersState as AggregateWorkersState,
    CompressWorkersState as CompressWorkersState,
    aggregate_workers as aggregate_workers,
    compress_workers as compress_workers,
    sign_workers as sign_workers,
)
