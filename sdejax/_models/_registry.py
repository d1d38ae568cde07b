"""Models by name: ``"discrete"`` and the SDE models registered beside it."""

from __future__ import annotations

from ._discrete import DiscreteModel

MODELS: dict[str, type] = {"discrete": DiscreteModel}


def register_model(cls) -> type:
    """Register a model class under its ``name`` (used as a decorator)."""
    MODELS[cls.name] = cls
    return cls


def make_model(name: str, algorithm, problem, noise, **options):
    """Build the model ``name`` of ``algorithm`` on ``problem`` with ``noise``."""
    if name not in MODELS:
        raise ValueError(f"`model` must be one of {tuple(MODELS)}, got {name!r}.")
    return MODELS[name](algorithm, problem, noise, **options)
