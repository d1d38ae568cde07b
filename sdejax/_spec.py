"""Components as plain data: their constructor arguments, and JSON that rebuilds them.

Every sdejax component (algorithm, compressor, noise model, problem) is built by its
constructor from a few arguments; ``spec`` turns a component into ``{"class": name, "args":
{...}}`` (arrays as nested lists, components nested) and ``build`` turns that back into the
component through the same public constructor, so its checks run again. A component that holds
a Python callable (``LossProblem``'s loss, ``OptaxAlgorithm``'s factory, a schedule) cannot be
written as data: its spec says ``{"callable": qualified name}`` and ``build`` refuses it with a
clear error.
"""

from __future__ import annotations

import inspect
import json

import numpy as np


def constructor_arguments(module) -> dict:
    """Constructor arguments of ``module`` and their current values.

    A module may state them (``constructor_arguments()``); otherwise they are the constructor's
    parameters that the module stores under the same name (methods do not count).
    """
    if hasattr(module, "constructor_arguments"):
        return dict(module.constructor_arguments())
    signature = inspect.signature(type(module).__init__)
    stored = {}
    for name, parameter in signature.parameters.items():
        if name == "self" or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            continue
        if hasattr(module, name) and not inspect.ismethod(getattr(module, name)):
            stored[name] = getattr(module, name)
    return stored


def spec(value):
    """A JSON-ready description of ``value`` (a component, array, number, string or None)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (np.generic,)):
        return value.item()
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return {"array": np.asarray(value).tolist(), "dtype": str(np.asarray(value).dtype)}
    if isinstance(value, (list, tuple)):
        return [spec(v) for v in value]
    if isinstance(value, dict):
        return {"mapping": {str(k): spec(v) for k, v in value.items()}}
    if _is_component(value):
        return {
            "class": type(value).__name__,
            "args": {k: spec(v) for k, v in constructor_arguments(value).items()},
        }
    if callable(value):
        return {"callable": getattr(value, "__qualname__", repr(value))}
    return {"repr": repr(value)}


def build(description, what: str = "configuration", *, classes):
    """The value that :func:`spec` described, components through their public constructors,
    looked up by name in ``classes`` (the ``sdejax`` namespace, passed by the caller so that this
    bottom module imports nothing above it)."""
    if isinstance(description, list):
        return [build(v, what, classes=classes) for v in description]
    if not isinstance(description, dict):
        return description
    if "mapping" in description:
        return {k: build(v, f"{what}.{k}", classes=classes) for k, v in description["mapping"].items()}
    if "array" in description:
        return np.asarray(description["array"], dtype=description.get("dtype"))
    if "class" in description:
        cls = getattr(classes, description["class"], None)
        if not isinstance(cls, type):
            raise ValueError(f"{what}: unknown component class {description['class']!r}.")
        name = description["class"]
        args = {k: build(v, f"{what}.{name}.{k}", classes=classes) for k, v in description["args"].items()}
        return cls(**args)
    if "callable" in description:
        raise ValueError(
            f"{what}: holds a Python callable ({description['callable']}), which a results file cannot "
            "store; rebuild this run from the script that made it."
        )
    raise ValueError(f"{what}: cannot rebuild {description!r}.")


def dumps(config: dict) -> str:
    return json.dumps({k: spec(v) for k, v in config.items()})


def loads(text: str) -> dict:
    return json.loads(text)


def _is_component(value) -> bool:
    module = type(value).__module__ or ""
    return module.startswith("sdejax.") and hasattr(type(value), "__init__")
