"""Text the CLI prints about a results file: its configuration, how complete it is, and the
thresholds with their standard errors as small tables (``sdejax info``, ``sweep``, ``plot``).

Everything here reads a Dataset only (NumPy and xarray; never JAX), so ``sdejax info`` runs in
a fraction of a second.

Longer than the 300-line guideline because it is one concept, the text the CLI prints about a
results file: the configuration rows, the threshold tables and the ``info`` summaries share one
number and table layout (``_number``, ``_rows``, ``_table``, ``_LEFT``); the ruled sections mark
where it would split.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np

from .._results._cells import _grid_dims
from .._results._labels import NO_CROSSING, UNCLEAR, format_estimate, format_number
from .._results._measured import measured_thresholds
from .._results._scales import _is_geometric

_LEFT = "  "


def _number(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):g}"
    return str(value)


def show_values(values) -> str:
    """A list of values, short: ``10 × 1``, ``[0.1, 0.4]`` or ``[0.1, 0.2, 0.3, …, 1] (16 values)``."""
    array = np.asarray(values, dtype=object)
    if array.ndim > 1:
        return f"array of shape {array.shape}"
    items = [_number(v) for v in array.tolist()]
    if len(items) > 1 and len(set(items)) == 1:
        return f"{len(items)} × {items[0]}"
    if len(items) <= 6:
        return "[" + ", ".join(items) + "]"
    return "[" + ", ".join(items[:3]) + ", …, " + items[-1] + f"] ({len(items)} values)"


def show_spec(description) -> str:
    """A component (or value) described by ``sdejax._spec.spec``, as its constructor call."""
    if description is None or isinstance(description, (bool, int, float, str)):
        return _number(description) if not isinstance(description, str) else repr(description)
    if isinstance(description, list):
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in description):
            return show_values(description)
        return "[" + ", ".join(show_spec(v) for v in description) + "]"
    if "array" in description:
        array = description["array"]
        return _number(array) if not isinstance(array, list) else show_values(array)
    if "class" in description:
        args = ", ".join(
            f"{name}={show_spec(value)}" for name, value in description["args"].items() if value is not None
        )
        return f"{description['class']}({args})"
    if "callable" in description:
        return f"<Python callable {description['callable']}>"
    if "mapping" in description:
        return "{" + ", ".join(f"{k}: {show_spec(v)}" for k, v in description["mapping"].items()) + "}"
    return str(description.get("repr", description))


def callables(description, where: str = ""):
    """(where, name) of every Python callable in a configuration (which a file cannot rebuild)."""
    if isinstance(description, list):
        for i, value in enumerate(description):
            yield from callables(value, f"{where}[{i}]")
    elif isinstance(description, dict):
        if "callable" in description:
            yield where, description["callable"]
        elif "class" in description:
            for name, value in description["args"].items():
                yield from callables(value, f"{where}.{name}")
        elif "array" not in description:  # a mapping, or the configuration's top level
            for name, value in description.get("mapping", description).items():
                yield from callables(value, f"{where}.{name}" if where else name)


def show_repr(text: str) -> str:
    """An equinox repr stored by older files (and by simulate) on one line, arrays as numbers."""
    text = " ".join(str(text).split())
    text = re.sub(r"Array\((.*?), dtype=\w+\)", r"\1", text)
    text = re.sub(r"\w+=None, ", "", text)
    text = re.sub(r",? \w+=None(?=\s*\))", "", text)
    return text.replace("( ", "(").replace(" )", ")")


def _learning_rates(etas) -> str:
    etas = np.asarray(etas, dtype=float)
    if etas.size >= 3 and _is_geometric(etas):
        return f"{etas.size} from {etas[0]:g} to {etas[-1]:g} (geometric)"
    if etas.size >= 3 and np.allclose(np.diff(etas), etas[1] - etas[0], rtol=1e-6):
        return f"{etas.size} from {etas[0]:g} to {etas[-1]:g} (linear)"
    return show_values(etas.tolist())


def _key(sweep: dict) -> str:
    data = np.asarray(sweep.get("key_data", {}).get("array", []), dtype=np.uint64).reshape(-1)
    impl = sweep.get("key_impl", "?")
    if impl == "threefry2x32" and data.size == 2 and data[0] == 0:
        return f"jax.random.key({int(data[1])}) (threefry2x32)"
    return f"key data {data.tolist()} ({impl})"


def _provenance(ds) -> str:
    revision = str(ds.attrs.get("git_revision", "unknown"))
    match = re.fullmatch(r"([0-9a-f]{40})(\+dirty)?", revision)
    revision = match[1][:12] + (match[2] or "") if match else revision
    return (
        f"written by sdejax {ds.attrs.get('sdejax_version', 'unknown')} (git {revision}), "
        f"dtype {ds.attrs.get('dtype', 'unknown')}"
    )


def _rows(pairs) -> list[str]:
    width = max(len(key) for key, _ in pairs)
    return [f"{_LEFT}{key:<{width}}  {value}" for key, value in pairs]


def configuration(ds) -> tuple[list[tuple[str, str]], list]:
    """(key, text) rows of a sweep file's configuration, and its callables (if any)."""
    attrs = ds.attrs
    if "config" not in attrs:  # written before the configuration was stored as JSON
        rows = [(k, show_repr(attrs[k])) for k in ("algorithm", "problem", "noise") if k in attrs]
        rows += [
            (k, str(attrs[k]))
            for k in ("grid", "models", "steps", "n_paths", "burn_in", "path_block", "eta_block", "x0")
            if k in attrs
        ]
        return rows, [("configuration", "(not stored as JSON in this file)")]
    from .. import _spec

    config = _spec.loads(attrs["config"])
    sweep = config["sweep"]["mapping"]
    rows = [(name, show_spec(config[name])) for name in ("algorithm", "problem", "noise")]
    grid = (sweep.get("grid") or {}).get("mapping", {})
    for path, values in grid.items():
        shown = (
            ", ".join(_number(v) for v in values) + f" ({len(values)} values)"
            if all(isinstance(v, (int, float)) for v in values)
            else f"{len(values)} values"
        )
        rows.append((f"grid {path}", shown))
    rows.append(("learning rates", _learning_rates(ds["learning_rate"].values)))
    rows.append(("models", ", ".join(sweep.get("models", []))))
    burn_in = sweep.get("burn_in")
    rows.append(
        (
            "steps",
            f"{sweep.get('steps')} per path"
            + (f", growth measured after a burn-in of {burn_in:.0%} of them" if burn_in is not None else ""),
        )
    )
    rows.append(
        (
            "paths",
            f"{sweep.get('n_paths')} per cell (path_block {sweep.get('path_block')}, "
            f"eta_block {sweep.get('eta_block')})",
        )
    )
    x0 = sweep.get("x0")
    if isinstance(x0, dict) and "array" in x0:
        array = np.asarray(x0["array"], dtype=float)
        shown = (
            f"{array.reshape(-1)[0]:g} in every coordinate (d = {array.shape[-1]})"
            if array.ndim == 1 and array.size and np.all(array == array[0])
            else show_spec(x0)
        )
    else:
        shown = show_spec(x0)
    rows.append(("x0", shown))
    rows.append(("key", _key(sweep)))
    sampling = str(sweep.get("sampling"))
    used = attrs.get("sampling")
    rows.append(
        (
            "sampling",
            sampling + (f" (discrete model: {used})" if used and str(used) not in (sampling, "n/a") else ""),
        )
    )
    rows.append(("sde_substeps", _number(sweep.get("sde_substeps"))))
    bound = sweep.get("divergence_bound")
    rows.append(
        (
            "divergence bound",
            _number(bound)
            if bound is not None
            else f"automatic ({_number(attrs.get('divergence_bound', '?'))})",
        )
    )
    rows.append(("schedule", "none" if sweep.get("schedule") is None else show_spec(sweep["schedule"])))
    if sweep.get("model_options"):
        rows.append(("model_options", show_spec(sweep["model_options"])))
    if sweep.get("pooled"):
        rows.append(("pooled", "yes (legacy ms_pooled_growth_rate stored)"))
    return rows, list(callables(config))


# --------------------------------------------------------------------------- thresholds
def _cell_text(value, se, bound, etas, completed_count, n_etas) -> str:
    if completed_count == 0:
        return "not computed"
    if completed_count < n_etas:
        return f"partial ({completed_count} of {n_etas} η)"
    if bound == "inside":
        return format_estimate(float(value), float(se))
    text = NO_CROSSING[bound]
    if bound == "above":
        return f"{text} (> {etas[-1]:g})"
    if bound == "below":
        return f"{text} (< {etas[0]:g})"
    return text + ("†" if bound == "unclear" else "")


def _exact_text(value) -> str:
    if np.isnan(value):
        return "n/a‡"
    if np.isinf(value):
        return "none"
    return format_number(float(value))


def _table(header, rows) -> list[str]:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines = [_LEFT + "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    for row in rows:
        lines.append(_LEFT + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return lines


def threshold_tables(ds, models=None) -> str:
    """The measured thresholds of every model (mean-square and almost-sure, ± 1 SE) over the
    Dataset's grid cells, with the exact threshold and the z-score where both exist."""
    names = [str(m) for m in ds["model"].values]
    models = names if models is None else [str(m) for m in models]
    dims = _grid_dims(ds)
    etas = np.asarray(ds["learning_rate"].values, dtype=float)
    order = ("learning_rate", *dims)
    have_as = "as_growth_rate" in ds
    header = [*dims, "mean-square η*", "exact η*", "z"] + (["almost-sure η*"] if have_as else [])
    flags = set()
    tables = {}
    for model in models:
        ms = measured_thresholds(ds, model, "ms_growth_rate")
        almost = measured_thresholds(ds, model, "as_growth_rate") if have_as else None
        exact = (
            np.asarray(ds["theory_threshold"].sel(model=model).transpose(*dims).values, dtype=float)
            if "theory_threshold" in ds
            else np.full(ms[0].shape, np.nan)
        )
        done = (
            np.asarray(ds["completed"].sel(model=model).transpose(*order).values).sum(axis=0)
            if "completed" in ds
            else np.full(ms[0].shape, etas.size)
        )
        rows = []
        for index in np.ndindex(ms[0].shape):
            cell = [_number(np.asarray(ds[dim].values)[i].item()) for dim, i in zip(dims, index, strict=True)]
            count = int(done[index])
            measured = _cell_text(ms[0][index], ms[1][index], ms[2][index], etas, count, etas.size)
            truth = float(exact[index])
            z = ""
            if ms[2][index] == "inside" and count == etas.size and np.isfinite(truth) and ms[1][index] > 0:
                z = (ms[0][index] - truth) / ms[1][index]
                z = f"{z:+.2f}" if abs(z) < 100 else f"{z:+.3g}"
            row = [*cell, measured, _exact_text(truth) if "theory_threshold" in ds else "n/a", z]
            if almost is not None:
                row.append(
                    _cell_text(almost[0][index], almost[1][index], almost[2][index], etas, count, etas.size)
                )
            flags.update(bound for bound in (ms[2][index], *(() if almost is None else (almost[2][index],))))
            if np.isnan(truth):
                flags.add("n/a")
            if np.isinf(truth):
                flags.add("none")
            rows.append(row)
        tables[model] = rows
    lines = [
        "thresholds η*: the learning rate where the growth rate per unit time crosses 0 "
        "(sdejax.threshold), ± 1 standard error;",
        "exact: theory_threshold (docs/theory.md §7); z = (measured − exact)/SE",
    ]
    if dims:
        for model in models:
            lines.append(f"model {model}")
            lines += _table(header, tables[model])
    else:
        lines += _table(["model", *header], [[m, *tables[m][0]] for m in models])
    if "unclear" in flags:
        lines.append(f"† no clear crossing: {UNCLEAR}")
    if "none" in flags:
        lines.append("none: the model has no mean-square threshold (it is stable for every η).")
    if "n/a" in flags:
        lines += _exact_notes(ds, models)
    return "\n".join(lines)


def _exact_notes(ds, models) -> list[str]:
    """‡ lines: why the exact threshold is not available, each reason once with its models."""
    note = str(ds["theory_threshold"].attrs.get("note", "")) if "theory_threshold" in ds else ""
    reasons: dict[str, list[str]] = {}
    for part in note.split(" | "):
        model, _, reason = part.partition(": ")
        if model in models and reason:
            reasons.setdefault(reason.removeprefix("ms_threshold: "), []).append(model)
    if not reasons:
        return ["‡ n/a: the exact mean-square analysis does not apply."]
    return [f"‡ n/a for {', '.join(names)}: {reason}" for reason, names in reasons.items()]


# --------------------------------------------------------------------------- info
def info(ds, path) -> str:
    """What ``sdejax info`` prints about the results file ``path`` (loaded as ``ds``)."""
    if "time" in ds.dims:
        return _simulation_info(ds, path)
    from .._results._persist import completion

    done, total = completion(ds)
    state = (
        f"complete: {done} of {total} tasks computed"
        if done == total
        else f"partial: {done} of {total} tasks computed (finish it: sdejax sweep --from {path})"
    )
    lines = [
        f"{path}: stability sweep (sdejax.stability_sweep); {state}",
        _LEFT + "(a task is one model × learning rate × grid cell)",
        _LEFT + _provenance(ds),
    ]
    rows, found = configuration(ds)
    if found and found[0][0] == "configuration":
        heading = "configuration (older file: not stored as JSON, cannot be rebuilt by sdejax sweep --from)"
    elif found:
        where = ", ".join(f"{w} ({name})" for w, name in found)
        heading = f"configuration (holds a Python callable, so it cannot be rebuilt from the file: {where})"
    else:
        heading = f"configuration (rebuild and resume it: sdejax sweep --from {path})"
    lines += ["", heading, *_rows(rows), "", threshold_tables(ds)]
    return "\n".join(lines)


def _simulation_info(ds, path) -> str:
    attrs = ds.attrs
    steps, saved = attrs.get("steps", "?"), attrs.get("save_every", "?")
    lines = [
        f"{path}: simulation (sdejax.simulate) of the {attrs.get('model', '?')} model at "
        f"η = {_number(attrs.get('learning_rate', '?'))}: {_number(attrs.get('n_paths', '?'))} paths × "
        f"{_number(steps)} steps (saved every {_number(saved)})",
        _LEFT + _provenance(ds),
        "",
        "configuration",
    ]
    rows = [(k, show_repr(attrs[k])) for k in ("algorithm", "problem", "noise") if k in attrs]
    for key in ("schedule", "burn_in", "divergence_bound", "sampling", "clones"):
        if key in attrs:
            value = attrs[key]
            rows.append((key, f"{value:.0%} of the steps" if key == "burn_in" else _number(value)))
    lines += _rows(rows)
    lines += ["", "growth rates per unit time t = kη of ‖x − x*‖² (± 1 standard error)"]
    rates = []
    for name, label in (("ms_growth_rate", "mean-square"), ("as_growth_rate", "almost-sure")):
        if name in ds:
            value = float(ds[name].values)
            se = float(ds[name + "_se"].values) if name + "_se" in ds else math.nan
            rates.append((label, format_estimate(value, se)))
    lines += _rows(rates)
    last = {"time": float(ds["time"].values[-1])}
    if "loss_mean" in ds:
        loss = format_estimate(float(ds["loss_mean"].values[-1]), float(ds["loss_se"].values[-1]))
        diverged = float(ds["diverged_fraction"].values[-1]) if "diverged_fraction" in ds else math.nan
        lines += [
            "",
            f"at the last saved time t = {last['time']:g}: loss {loss} (mean over live paths); "
            f"diverged fraction {diverged:g}",
        ]
    return "\n".join(lines)


def dumps_config(ds) -> str:
    """The stored configuration JSON, indented (for ``sdejax info --json``)."""
    return json.dumps(json.loads(ds.attrs["config"]), indent=2)
