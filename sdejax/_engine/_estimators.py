"""Growth-rate estimators on the host: one implementation each, shared by ``simulate`` and
``stability_sweep`` (``docs/theory.md`` §7).

The kernel returns, per block of paths, the clones' per-step log W_k and Chan statistics of the
free paths; this module turns the blocks of each task (one model, grid cell and learning rate)
into the output variables:

* ``ms_growth_rate`` (mean-square, per unit time): the mean of log W_k over the usable steps
  k >= K0 of every block, divided by η. Its standard error comes from **batch means**: each
  block's usable steps are cut into consecutive batches (about ``TARGET_BATCHES`` in all over
  the blocks, each at least ``MIN_BATCH_STEPS`` steps long); blocks are independent
  populations and batches of one block are nearly so once they are longer than the
  population's memory, so SE² = Σ_j c_j² (b_j − mean)² / C² · J/(J − 1) over the J batches
  (means b_j, sizes c_j, C = Σ c_j).
* ``as_growth_rate`` (almost-sure): the mean over free paths of each path's own exponent, with
  SE = sd/√n (the paths are independent).

Everything runs element by element in a fixed order, so a task's numbers depend only on its
blocks, never on how tasks were grouped into chunks, devices or processes.
"""

from __future__ import annotations

import math

import numpy as np

# About this many batches per task in all (over its blocks) for the batch-means SE.
TARGET_BATCHES = 20
# A batch holds at least this many steps (shorter ones would be correlated with their
# neighbours through the population's memory).
MIN_BATCH_STEPS = 5


def _block_batches(log_growth, usable, window_start: int, n_batches: int):
    """Sums and counts of log W_k over the consecutive batches of one block's usable steps.

    Steps k >= ``window_start`` are used; a block with no usable step there (its population
    underflowed or overflowed during the burn-in) uses every usable step instead.
    """
    steps = np.arange(len(usable))
    use = usable & (steps >= window_start)
    if not use.any():
        use = usable
    where = np.flatnonzero(use)
    sums = np.zeros(n_batches)
    counts = np.zeros(n_batches, np.int64)
    if where.size == 0:
        return sums, counts
    m = max(1, min(n_batches, where.size // MIN_BATCH_STEPS))
    for j, part in enumerate(np.array_split(where, m)):
        sums[j] = math.fsum(float(v) for v in log_growth[part])
        counts[j] = part.size
    return sums, counts


class TaskAccumulator:
    """The running statistics of a set of tasks (rows), fed block by block, in block order."""

    def __init__(self, n_tasks: int, n_blocks: int, window_start: int, dtype):
        self.dtype = np.dtype(dtype)
        self.window_start = int(window_start)
        self.per_block = max(1, math.ceil(TARGET_BATCHES / max(n_blocks, 1)))
        self.batch_sums: list[np.ndarray] = []
        self.batch_counts: list[np.ndarray] = []
        self.blown = np.zeros(n_tasks, bool)
        self.n_diverged = np.zeros(n_tasks, np.int64)
        self.as_moments = _Moments(n_tasks)
        self.loss_moments = _Moments(n_tasks)
        self.pooled = None

    def add(self, stats):
        """Add blocks: every leaf of ``stats`` has leading axes (tasks, blocks)."""
        log_growth = np.asarray(stats.log_growth)
        usable = np.asarray(stats.usable)
        n_tasks, n_blocks = usable.shape[:2]
        for b in range(n_blocks):
            sums = np.zeros((n_tasks, self.per_block))
            counts = np.zeros((n_tasks, self.per_block), np.int64)
            for t in range(n_tasks):
                sums[t], counts[t] = _block_batches(
                    log_growth[t, b], usable[t, b], self.window_start, self.per_block
                )
            self.batch_sums.append(sums)
            self.batch_counts.append(counts)
            self.blown |= np.asarray(stats.clones_blown)[:, b]
            self.n_diverged += np.asarray(stats.n_diverged)[:, b]
            self.as_moments.add(*(np.asarray(v)[:, b] for v in (stats.as_count, stats.as_mean, stats.as_m2)))
            self.loss_moments.add(
                *(np.asarray(v)[:, b] for v in (stats.loss_count, stats.loss_mean, stats.loss_m2))
            )
            if stats.pooled_numerator is not None:
                pair = np.stack(
                    [np.asarray(stats.pooled_numerator)[:, b], np.asarray(stats.pooled_denominator)[:, b]]
                )
                self.pooled = pair if self.pooled is None else self.pooled + pair

    def finalize(self, learning_rates, n_paths: int) -> dict:
        """Output variables per task (numpy arrays in the run's dtype)."""
        eta = np.asarray(learning_rates, float)
        diverged = self.n_diverged > 0
        ms = _batch_mean_rate(
            np.concatenate(self.batch_sums, axis=1), np.concatenate(self.batch_counts, axis=1), eta
        )
        undefined = np.where(self.blown | diverged, np.inf, np.nan)
        ms_rate = np.where(ms["count"] > 0, ms["rate"], undefined)
        ms_se = np.where(ms["count"] > 0, ms["se"], np.where(np.isnan(undefined), np.nan, 0.0))
        # math.exp element by element: a vectorized exp may round differently depending on an
        # element's position in the array, which would tie the bits to the chunking.
        factor = np.asarray([_exp(v) for v in ms["per_step"].tolist()])
        n, mean, se = self.as_moments.mean_se()
        as_rate = np.where(n > 0, mean, np.where(diverged, np.inf, np.nan))
        as_se = np.where(n > 0, se, np.where(diverged, 0.0, np.nan))
        n_loss, loss_mean, loss_se = self.loss_moments.mean_se()
        out = {
            "ms_growth_rate": ms_rate,
            "ms_growth_rate_se": ms_se,
            "ms_ratio_mean": np.where(ms["count"] > 0, factor, np.where(np.isnan(undefined), np.nan, np.inf)),
            "ms_ratio_se": np.where(ms["count"] > 0, factor * ms["per_step_se"], ms_se),
            "as_growth_rate": as_rate,
            "as_growth_rate_se": as_se,
            "diverged_fraction": self.n_diverged / n_paths,
            "final_loss_mean": np.where(n_loss > 0, loss_mean, np.inf),
            "final_loss_se": np.where(n_loss > 0, loss_se, 0.0),
        }
        if self.pooled is not None:
            rate, rate_se = pooled_growth_rate(
                self.pooled[0], self.pooled[1], self.window_start, eta, diverged
            )
            out["ms_pooled_growth_rate"], out["ms_pooled_growth_rate_se"] = rate, rate_se
        return {name: np.asarray(value, self.dtype) for name, value in out.items()}


def _exp(value: float) -> float:
    try:
        return math.exp(value)
    except OverflowError:
        return math.inf


def _batch_mean_rate(sums, counts, eta):
    """Mean of log W_k over all batches and its batch-means SE, per unit time (rows: tasks)."""
    total = np.sum(counts, axis=1)
    safe_total = np.maximum(total, 1)
    per_step = np.sum(sums, axis=1) / safe_total
    used = counts > 0
    n_batches = np.sum(used, axis=1)
    means = np.where(used, sums / np.maximum(counts, 1), 0.0)
    spread = np.where(used, counts**2 * (means - per_step[:, None]) ** 2, 0.0)
    var = np.sum(spread, axis=1) / safe_total**2 * n_batches / np.maximum(n_batches - 1, 1)
    per_step_se = np.where(n_batches > 1, np.sqrt(var), np.inf)
    return {
        "count": total,
        "per_step": per_step,
        "per_step_se": per_step_se,
        "rate": per_step / eta,
        "se": per_step_se / eta,
    }


class _Moments:
    """Chan et al.'s parallel (count, mean, M2), combined in the order blocks arrive."""

    def __init__(self, n: int):
        self.count = np.zeros(n, np.int64)
        self.mean = np.zeros(n)
        self.m2 = np.zeros(n)

    def add(self, count, mean, m2):
        count = np.asarray(count, np.int64)
        total = self.count + count
        safe = np.maximum(total, 1)
        delta = np.asarray(mean, float) - self.mean
        self.mean = np.where(total > 0, self.mean + delta * (count / safe), 0.0)
        self.m2 = np.where(
            total > 0, self.m2 + np.asarray(m2, float) + delta**2 * (self.count * count / safe), 0.0
        )
        self.count = total

    def mean_se(self):
        n = self.count
        se = np.sqrt(self.m2 / np.maximum(n - 1, 1) / np.maximum(n, 1))
        return n, self.mean, np.where(n > 1, se, np.where(n == 1, np.inf, 0.0))


def pooled_growth_rate(numerator, denominator, window_start, eta, diverged):
    """The legacy pooled estimator log(mean_k R_k)/η, R_k = Σ_p‖x_{k+1}‖²/Σ_p‖x_k‖² over the
    free paths (consistent only on isotropic problems; kept to show the bias it had)."""
    floor = np.finfo(np.float32).tiny / np.finfo(np.float32).eps
    steps = np.arange(numerator.shape[-1])
    usable = (denominator >= floor) & np.isfinite(numerator)
    window = usable & (steps >= window_start)
    use = np.where(np.any(window, axis=-1, keepdims=True), window, usable)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = np.where(use, numerator / np.where(use, denominator, 1.0), 0.0)
        count = np.sum(use, axis=-1)
        mean = np.sum(ratio, axis=-1) / np.maximum(count, 1)
        var = np.maximum(np.sum(ratio**2, axis=-1) / np.maximum(count, 1) - mean**2, 0.0)
        se = np.sqrt(var / np.maximum(count - 1, 1))
        rate = np.where(count > 0, np.log(mean) / eta, np.where(diverged, np.inf, np.nan))
        rate_se = np.where(count > 1, se / mean / eta, np.inf)
    return rate, rate_se
