"""The theory overlay of a stability map: the exact mean-square threshold of every cell."""

from __future__ import annotations

import numpy as np

from .. import theory


def theory_thresholds(models, cells):
    """``(values, notes)``: ``values[m, c]`` is ``theory.ms_threshold(models[m], *cells[c])``
    (``inf`` where the model has no threshold); NaN where the exact analysis does not apply
    (the second moments do not close), with the reason in ``notes`` (distinct messages)."""
    values = np.full((len(models), len(cells)), np.nan)
    notes: list[str] = []
    for m, name in enumerate(models):
        for c, cell in enumerate(cells):
            try:
                values[m, c] = theory.ms_threshold(name, *cell)
            except (ValueError, TypeError) as error:
                message = f"{name}: {error}"
                if message not in notes:
                    notes.append(message)
    return values, notes
