"""The command line: demo, sweep from a TOML configuration or a results file (--from), info,
plot, example-config, and its errors."""

import contextlib
import inspect
import io
import json
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path
from types import SimpleNamespace

import matplotlib.image as mpimg
import numpy as np
import pytest
import xarray as xr
from test_plots import synthetic

import sdejax
from sdejax._cli import main
from sdejax._cli._config import (
    ALGORITHMS,
    COMPRESSORS,
    EXAMPLE,
    NOISES,
    PROBLEMS,
    SWEEP,
    ConfigError,
    _Reader,
    build,
)
from sdejax._results._labels import format_estimate, format_number
from sdejax._results._persist import write_atomic

REPO = Path(__file__).resolve().parents[1]
SMALL = (
    EXAMPLE.replace("num = 64", "num = 6")
    .replace("num = 16", "num = 3")
    .replace("steps = 300", "steps = 20")
    .replace("n_paths = 256", "n_paths = 16")
    .replace('models = ["discrete", "sme1", "sme2", "corrected"]', 'models = ["discrete"]')
)


def _small_config(tmp_path, text=SMALL):
    path = tmp_path / "map.toml"
    path.write_text(text)
    return path


def test_example_config_builds(capsys):
    assert main(["example-config"]) == 0
    config = tomllib.loads(capsys.readouterr().out)
    algorithm, problem, noise, kwargs = build(config)
    assert type(algorithm).__name__ == "DCSGD" and algorithm.n_workers == 8
    assert problem.dim == 10 and kwargs["learning_rates"].shape == (64,)
    assert set(kwargs["grid"]) == {"compressor.p"}
    assert kwargs["models"] == ("discrete", "sme1", "sme2", "corrected")


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One `sdejax sweep` run of the small configuration (1 model × 6 η × 3 p). A tiny memory
    budget cuts it into one chunk per p, so that a partial file can resume chunk by chunk;
    every later run in this module uses the same budget and reuses the compiled program."""
    folder = tmp_path_factory.mktemp("reference")
    config = _small_config(folder)
    out, png = folder / "map.nc", folder / "map.png"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        argv = [
            "sweep",
            str(config),
            "--out",
            str(out),
            "--png",
            str(png),
            "--quiet",
            "--memory-budget",
            "1KB",
        ]
        assert main(argv) == 0
    with xr.open_dataset(out) as stored:
        ds = stored.load()
    return SimpleNamespace(config=config, out=out, png=png, stdout=stdout.getvalue(), ds=ds)


def _load(path):
    with xr.open_dataset(path) as stored:
        return stored.load()


def assert_same_numbers(a, b):
    assert sorted(a.data_vars) == sorted(b.data_vars)
    for name in a.data_vars:
        np.testing.assert_array_equal(a[name].values, b[name].values, err_msg=name)  # bitwise
    assert a.attrs["config"] == b.attrs["config"]


def test_sweep_and_plot_commands(reference, tmp_path, capsys):
    ds = reference.ds
    assert ds["ms_growth_rate"].shape == (1, 6, 3)
    assert np.all(np.isfinite(ds["ms_growth_rate"].values))
    assert ds["completed"].attrs["flag_meanings"] == "pending finished"
    assert "long_name" in ds["completed"].attrs
    np.testing.assert_array_equal(ds["completed"].attrs["flag_values"], [0, 1])
    image = mpimg.imread(reference.png)
    assert image.shape[0] > 100 and image.std() > 0
    # Thresholds print as a table, never as a DataArray repr.
    assert "<xarray" not in reference.stdout and "array(" not in reference.stdout
    assert "mean-square η*" in reference.stdout and "model discrete" in reference.stdout
    png2 = tmp_path / "again.png"
    assert main(["plot", str(reference.out), "--png", str(png2)]) == 0
    assert png2.stat().st_size > 1000
    captured = capsys.readouterr()
    assert "mean-square η*" in captured.out and "partial" not in captured.err
    assert "<xarray" not in captured.out


def _partial(reference, path, tamper=False):
    """The reference with only its first chunk (p = 0.1, every η) finished, as a killed sweep
    leaves it: the other cells NaN with completed = 0. ``tamper`` shifts a finished value."""
    ds = reference.ds.copy(deep=True)
    done = np.zeros(ds["completed"].shape, np.int8)
    done[..., 0] = 1
    ds["completed"].values[:] = done
    for name, variable in ds.data_vars.items():
        if name != "completed" and variable.dims == ds["completed"].dims:
            variable.values[done == 0] = np.nan
    if tamper:
        ds["ms_growth_rate"].values[0, 0, 0] += 1.0
    write_atomic(ds, path)
    return path


def test_sweep_from_rebuilds_the_run_bitwise(reference, tmp_path, capsys):
    again = tmp_path / "again.nc"
    argv = ["sweep", "--from", str(reference.out), "--out", str(again), "--quiet", "--memory-budget", "1KB"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"re-running the configuration of {reference.out} into {again}")
    assert_same_numbers(_load(again), reference.ds)


def test_sweep_from_resumes_a_partial_file_bitwise(reference, tmp_path, capsys):
    partial = _partial(reference, tmp_path / "partial.nc")
    assert main(["sweep", "--from", str(partial), "--quiet", "--memory-budget", "1KB"]) == 0
    assert f"resuming {partial}: 6 of 18 tasks already computed" in capsys.readouterr().out
    assert_same_numbers(_load(partial), reference.ds)  # the same file, finished
    # The finished chunk is kept, not recomputed: a value changed in it survives the resume.
    tampered = _partial(reference, tmp_path / "tampered.nc", tamper=True)
    assert main(["sweep", "--from", str(tampered), "--quiet", "--memory-budget", "1KB"]) == 0
    resumed = _load(tampered)
    expected = reference.ds["ms_growth_rate"].values.copy()
    expected[0, 0, 0] += 1.0
    np.testing.assert_array_equal(resumed["ms_growth_rate"].values, expected)
    # A complete file: nothing to compute, the numbers stay.
    assert main(["sweep", "--from", str(partial), "--quiet", "--memory-budget", "1KB"]) == 0
    assert "is complete (18 of 18 tasks); nothing to compute" in capsys.readouterr().out
    assert_same_numbers(_load(partial), reference.ds)


def _with_config(reference, path, change):
    ds = reference.ds.copy()
    config = json.loads(ds.attrs["config"])
    change(config)
    ds.attrs["config"] = json.dumps(config)
    write_atomic(ds, path)
    return path


def _one_line_error(capsys, command="sweep"):
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"sdejax {command}: error: "), err
    return err


def test_sweep_from_refuses_what_it_cannot_rebuild(reference, tmp_path, capsys):
    from sdejax import _spec

    loss = sdejax.LossProblem(lambda x: x @ x, 2)
    lossy = _with_config(reference, tmp_path / "loss.nc", lambda c: c.update(problem=_spec.spec(loss)))
    assert main(["sweep", "--from", str(lossy), "--quiet"]) == 2
    err = _one_line_error(capsys)
    assert "cannot be rebuilt from the file: problem.loss_fn holds a Python callable (" in err
    assert "<locals>.<lambda>), which a results file cannot store; re-run the script" in err
    scheduled = _with_config(
        reference,
        tmp_path / "schedule.nc",
        lambda c: c["sweep"]["mapping"].update(schedule={"callable": "cosine_decay"}),
    )
    assert main(["sweep", "--from", str(scheduled), "--quiet"]) == 2
    assert "sweep.schedule holds a Python callable (cosine_decay)" in _one_line_error(capsys)
    old = reference.ds.copy()
    del old.attrs["config"]
    write_atomic(old, tmp_path / "old.nc")
    assert main(["sweep", "--from", str(tmp_path / "old.nc")]) == 2
    assert "holds no configuration JSON" in _one_line_error(capsys)
    _simulation().to_netcdf(tmp_path / "sim.nc")
    assert main(["sweep", "--from", str(tmp_path / "sim.nc")]) == 2
    assert "a simulation (sdejax.simulate), not a sweep" in _one_line_error(capsys)
    assert main(["sweep", str(reference.config), "--from", str(reference.out)]) == 2
    assert "not both" in _one_line_error(capsys)
    assert main(["sweep"]) == 2
    assert "give a TOML configuration file, or --from results.nc" in _one_line_error(capsys)
    assert main(["sweep", str(reference.config)]) == 2
    assert "pass --out" in _one_line_error(capsys)


def _simulation():
    """A Dataset shaped like sdejax.simulate's output (21 saved steps), made up."""
    time_ = np.arange(21) * 3 * 0.8
    loss = np.exp(-time_)
    attrs = {
        "sdejax_version": "0.1.0",
        "git_revision": "1a6ec5cc5742b8d4d73174a614f608b1a1c607fa",
        "algorithm": "DCSGD(n_workers=4, compressor=BernoulliSparsifier(p=Array(0.5, dtype=float32)))",
        "problem": "Quadratic(\n  dim=5,\n  eigenvalues=Array([1., 1.], dtype=float32),\n  shifts=None,\n"
        "  basis=None\n)",
        "noise": "AffineGaussianNoise(\n  sigma0=Array(0., dtype=float32),"
        " sigma1=Array(0.1, dtype=float32)\n)",
        "model": "discrete",
        "learning_rate": 0.8,
        "steps": 60,
        "n_paths": 64,
        "save_every": 3,
        "schedule": "None",
        "burn_in": 0.25,
        "dtype": "float32",
    }
    data = {
        "loss_mean": ("time", loss),
        "loss_se": ("time", 0.01 * loss),
        "diverged_fraction": ("time", np.zeros(21)),
        "ms_growth_rate": ((), -1.9556766),
        "ms_growth_rate_se": ((), 0.028533636),
        "as_growth_rate": ((), -2.40213),
        "as_growth_rate_se": ((), 0.0291),
    }
    return xr.Dataset(data, coords={"time": time_, "step": ("time", np.arange(21) * 3)}, attrs=attrs)


def test_info_shows_configuration_completeness_and_thresholds(reference, tmp_path, capsys):
    assert main(["info", str(reference.out)]) == 0
    out = capsys.readouterr().out
    ds = reference.ds
    for text in (
        f"{reference.out}: stability sweep (sdejax.stability_sweep); complete: 18 of 18 tasks computed",
        f"written by sdejax {ds.attrs['sdejax_version']} "
        f"(git {ds.attrs['git_revision'][:12]}{'+dirty' * ds.attrs['git_revision'].endswith('+dirty')}), "
        "dtype float64",
        f"rebuild and resume it: sdejax sweep --from {reference.out}",
        "algorithm          DCSGD(compressor=BernoulliSparsifier(p=0.25), n_workers=8)",
        "problem            Quadratic(eigenvalues=10 × 1)",
        "noise              AffineGaussianNoise(sigma0=0, sigma1=0.1)",
        "grid compressor.p  0.1, 0.55, 1 (3 values)",
        "learning rates     6 from 0.2 to 3 (geometric)",
        "models             discrete",
        "steps              20 per path, growth measured after a burn-in of 25% of them",
        "paths              16 per cell (path_block 16, eta_block 6)",
        "x0                 1 in every coordinate (d = 10)",
        "key                jax.random.key(0) (threefry2x32)",
    ):
        assert text in out, (text, out)
    assert "<xarray" not in out and "array(" not in out
    # One row per p: measured ± SE as sdejax.threshold gives them, the exact value, the z-score.
    measured, errors = sdejax.threshold(ds, "discrete", with_se=True)
    rows = {line.split()[0]: line for line in out.splitlines() if re.match(r"  (0\.1|0\.55|1) ", line)}
    assert len(rows) == 3, out
    for p, row in zip(("0.1", "0.55", "1"), range(3), strict=True):
        value, se = float(measured[row]), float(errors[row])
        exact = float(ds["theory_threshold"].values[0, row])
        if measured["bound"].values[row] == "inside":
            assert format_estimate(value, se) in rows[p], rows[p]
            z = (value - exact) / se
            assert (f"{z:+.2f}" if abs(z) < 100 else f"{z:+.3g}") in rows[p]
        assert format_number(exact) in rows[p]
    partial = _partial(reference, tmp_path / "partial.nc")
    assert main(["info", str(partial)]) == 0
    out = capsys.readouterr().out
    assert f"partial: 6 of 18 tasks computed (finish it: sdejax sweep --from {partial})" in out
    assert out.count("not computed") == 2 * 2  # p = 0.55 and 1, mean-square and almost-sure


def test_info_of_a_simulation(tmp_path, capsys):
    path = tmp_path / "sim.nc"
    _simulation().to_netcdf(path)
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(
        f"{path}: simulation (sdejax.simulate) of the discrete model at η = 0.8: 64 paths × 60 steps"
    )
    assert "DCSGD(n_workers=4, compressor=BernoulliSparsifier(p=0.5))" in out
    assert "Quadratic(dim=5, eigenvalues=[1., 1.])" in out
    assert "mean-square  -1.956 ± 0.029" in out and "almost-sure  -2.402 ± 0.029" in out
    assert "thresholds" not in out


def test_threshold_table_and_plot_selection(tmp_path, capsys):
    # discrete: a crossing at η* = 1 (exact 1); sme2: stable on the grid, no exact threshold;
    # fast: unstable on the whole grid; dsign: a rate around 0 and no exact analysis (DSignSGD).
    models = ["discrete", "sme2", "fast", "dsign"]
    grid = {"compressor.p": [0.2, 0.6], "noise.sigma1": [0.0, 0.3]}
    ds = synthetic(
        models, grid, star=[1.0, 50.0, 0.01, 1.0], exact=[None, np.inf, None, np.nan], flat=["dsign"]
    )
    path = tmp_path / "made_up.nc"
    write_atomic(ds, path)
    png = tmp_path / "select.png"
    argv = ["plot", str(path), "--png", str(png), "--select", "noise.sigma1=0.3"]
    assert main([*argv, "--models", "discrete", "sme2", "fast", "dsign"]) == 0
    captured = capsys.readouterr()
    assert png.stat().st_size > 10_000 and captured.err == ""
    out = captured.out
    assert out.startswith("selected: noise.sigma1 = 0.3\n")
    assert "<xarray" not in out and "array(" not in out
    star = sdejax.threshold(ds.sel({"noise.sigma1": 0.3, "compressor.p": 0.2}), "discrete")
    lines = out.splitlines()
    table = lines[lines.index("model discrete") + 1 : lines.index("model sme2")]
    assert table[0].split() == ["compressor.p", "mean-square", "η*", "exact", "η*", "z", "almost-sure", "η*"]
    assert table[1].startswith("  0.2           " + format_estimate(float(star), star.se))
    assert re.search(r"  1\.1  +[+-]0\.00  ", table[1])  # exact 1.1 = 1 + 0.5·0.2, z = 0
    sme2 = lines[lines.index("model sme2") + 2]
    assert "above the grid (> 3)" in sme2 and re.search(r"\)  +none  ", sme2)
    assert "below the grid (< 0.2)" in lines[lines.index("model fast") + 2]
    dsign = lines[lines.index("model dsign") + 2]
    assert "no clear crossing†" in dsign and "n/a‡" in dsign
    assert any(
        line.startswith("† no clear crossing: sdejax.threshold finds a zero crossing") for line in lines
    )
    assert "none: the model has no mean-square threshold (it is stable for every η)." in lines
    assert "‡ n/a for dsign: the second moments do not close." in lines
    # --models restricts the table; an unselected dimension is named with the value drawn.
    assert main(["plot", str(path), "--png", str(png), "--models", "dsign"]) == 0
    captured = capsys.readouterr()
    assert "model dsign" in captured.out and "model discrete" not in captured.out
    assert captured.err.startswith(
        "note: noise.sigma1 has 2 values; the plot shows noise.sigma1 = 0; choose another with "
        "--select noise.sigma1=VALUE."
    )
    # Every grid dimension selected: curves, and a one-row table per model.
    argv = [
        "plot",
        str(path),
        "--png",
        str(png),
        "--select",
        "noise.sigma1=0",
        "--select",
        "compressor.p=0.6",
    ]
    assert main([*argv, "--variables", "ms_growth_rate", "as_growth_rate"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^  discrete +1\.30+ ± ", out, flags=re.M), out
    # Clear one-line errors.
    for bad, message in (
        (["--select", "noise.sigma1=0.5"], "noise.sigma1 = 0.5 is not on the grid; its values: 0, 0.3"),
        (["--select", "sigma"], "--select 'sigma': write DIMENSION=VALUE"),
        (["--select", "noise.sigma=1"], "'noise.sigma', which is not a grid dimension"),
        (["--models", "sme1"], "`models` must be names from ['discrete', 'sme2', 'fast', 'dsign']"),
        (["--variables", "loss"], "`variables` must be names from"),
    ):
        assert main(["plot", str(path), "--png", str(png), *bad]) == 2
        assert message in _one_line_error(capsys, "plot")


def test_demo_quick(tmp_path, capsys):
    assert (
        main(["demo", "--quick", "--paths", "16", "--steps", "20", "--quiet", "--out-dir", str(tmp_path)])
        == 0
    )
    assert (tmp_path / "stability_map.png").stat().st_size > 1000
    ds = xr.open_dataset(tmp_path / "stability_map.nc")
    assert "compressor.p" in ds.dims and ds.attrs["sdejax_version"]
    assert "measured" in capsys.readouterr().out


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for command in ("demo", "sweep", "info", "plot", "example-config", "--version", "--debug"):
        assert command in text


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"sdejax {sdejax.__version__}"


# --------------------------------------------------------------------------- bad configurations
def _edit(text, old, new):
    assert old in text, old
    return text.replace(old, new)


_NAME_LINE = next(line for line in SMALL.splitlines() if line.startswith('name = "DCSGD"'))
BAD = {
    "syntax": (
        lambda t: _edit(t, 'name = "DCSGD"', 'name = "DCSGD'),
        [f"TOML syntax error at line {SMALL.splitlines().index(_NAME_LINE) + 1}, column"],
    ),
    "algorithm_string": (
        lambda t: 'algorithm = "DCSGD"\n' + t[t.index("[problem]") :],
        ['algorithm = "DCSGD": must be a table'],
    ),
    "missing_learning_rates": (
        lambda t: re.sub(r"learning_rates = .*\n", "", t),
        ["[sweep] needs learning_rates"],
    ),
    "seed_string": (lambda t: _edit(t, "seed = 0", 'seed = "zero"'), ['sweep.seed = "zero"', "integer"]),
    "seed_negative": (lambda t: _edit(t, "seed = 0", "seed = -1"), ["sweep.seed = -1", ">= 0"]),
    "x0_length": (
        lambda t: re.sub(r"x0 = 1.0.*\n", "x0 = [1.0, 2.0]\n", t),
        ["sweep.x0 = [1.0, 2.0]", "list of 10 numbers"],
    ),
    "unknown_sweep_key": (
        lambda t: _edit(t, "steps = 20", "steps = 20\nstep = 3"),
        ["[sweep] has unknown key step", "allowed keys:", "steps", "memory_budget"],
    ),
    "unknown_algorithm_key": (
        lambda t: _edit(t, "n_workers = 8", "n_workers = 8\nworkers = 8"),
        ["[algorithm] has unknown key workers", "allowed keys: compressor, n_workers, name"],
    ),
    "unknown_problem_key": (
        lambda t: _edit(t, "dim = 10", "dim = 10\nsize = 3"),
        ["[problem] has unknown key size", "curvature, dim, eigenvalues, name"],
    ),
    "unknown_noise_key": (
        lambda t: _edit(t, "sigma1 = 0.1", "sigma1 = 0.1\nsigma2 = 0.1"),
        ["[noise] has unknown key sigma2", "name, sigma0, sigma1"],
    ),
    "unknown_compressor_key": (
        lambda t: _edit(t, "p = 0.25 }", "q = 0.25 }"),
        ["[algorithm.compressor] has unknown key q", "name, p"],
    ),
    "unknown_section": (lambda t: t + "\n[extra]\na = 1\n", ["[top level] has unknown key extra", "grid"]),
    "unknown_range_key": (
        lambda t: _edit(t, "num = 3 }", "num = 3, step = 2 }"),
        ["[grid.compressor.p] has unknown key step", "num, spacing, start, stop"],
    ),
    "bad_compressor_value": (
        lambda t: _edit(t, 'name = "BernoulliSparsifier", p = 0.25', 'name = "RandK", k = 0'),
        ['algorithm.compressor = { name = "RandK", k = 0 }', "RandK: `k` must be an int >= 1"],
    ),
    "float_n_workers": (
        lambda t: _edit(t, "n_workers = 8", "n_workers = 2.5"),
        ["algorithm.n_workers = 2.5"],
    ),
    "bad_algorithm_name": (
        lambda t: _edit(t, 'name = "DCSGD"', 'name = "Adam"'),
        ['algorithm.name = "Adam"'],
    ),
    "list_algorithm_name": (
        lambda t: _edit(t, 'name = "DCSGD"', 'name = ["DCSGD"]'),
        ['algorithm.name = ["DCSGD"]', "must be one of"],
    ),
    "bad_model": (
        lambda t: _edit(t, 'models = ["discrete"]', 'models = ["discrete", "sde"]'),
        ["sweep.models", "unknown model 'sde'", "corrected"],
    ),
    "memory_budget": (
        lambda t: _edit(t, "seed = 0", 'seed = 0\nmemory_budget = "lots"'),
        ['sweep.memory_budget = "lots"', "512MB"],
    ),
    "bad_grid_path": (
        lambda t: _edit(t, '"compressor.p"', '"compressor.q"'),
        ["unknown grid path 'compressor.q'", "compressor.p"],
    ),
    "bad_grid_value": (
        lambda t: re.sub(r'"compressor.p" = .*', '"compressor.p" = [0.5, 2.0]', t),
        ["BernoulliSparsifier", "`p`"],
    ),
    "lr_negative": (
        lambda t: re.sub(r"learning_rates = .*", "learning_rates = [-0.1, 0.5]", t),
        ["learning_rates", "> 0"],
    ),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_config_prints_one_line_and_exits_2(name, tmp_path, capsys):
    # Issue 10 item 6: each of these used to print a 11–50 line traceback.
    mutate, expected = BAD[name]
    config = _small_config(tmp_path, mutate(SMALL))
    out = tmp_path / "map.nc"
    assert main(["sweep", str(config), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("sdejax sweep: error: ")
    assert str(config) in err, err
    for text in expected:
        assert text in err, (text, err)
    assert not out.exists()


def test_debug_shows_the_traceback(tmp_path):
    config = _small_config(tmp_path, SMALL.replace("seed = 0", 'seed = "zero"'))
    with pytest.raises(ConfigError, match="sweep.seed"):
        main(["sweep", str(config), "--out", str(tmp_path / "x.nc"), "--debug"])
    with pytest.raises(ConfigError, match="sweep.seed"):
        main(["--debug", "sweep", str(config), "--out", str(tmp_path / "x.nc")])


def test_missing_config_file(tmp_path, capsys):
    assert main(["sweep", str(tmp_path / "nope.toml"), "--out", str(tmp_path / "x.nc")]) == 2
    err = capsys.readouterr().err
    assert "nope.toml" in err and "cannot read" in err


def test_models_string_is_one_model_and_integer_grids_stay_integers():
    config = tomllib.loads(
        SMALL.replace('models = ["discrete"]', 'models = "discrete"')
        .replace('BernoulliSparsifier", p = 0.25', 'RandK", k = 2')
        .replace('"compressor.p" = { start = 0.1, stop = 1.0, num = 3 }', '"compressor.k" = [1, 2, 5]')
        + '"n_workers" = { start = 2, stop = 6, num = 3 }\n'
    )
    _, _, _, kwargs = build(config, "map.toml")
    assert kwargs["models"] == ("discrete",)
    assert kwargs["grid"]["compressor.k"] == [1, 2, 5]
    assert kwargs["grid"]["n_workers"] == [2, 4, 6]
    assert all(type(v) is int for grid in kwargs["grid"].values() for v in grid)


def test_integer_grid_sweep_runs(tmp_path, capsys):
    # Issue 10 item 6: "compressor.k" = [1, 2, 5] used to fail with "got 1.0".
    text = (
        SMALL.replace("num = 6", "num = 2")
        .replace("steps = 20", "steps = 5")
        .replace("n_paths = 16", "n_paths = 4")
        .replace('BernoulliSparsifier", p = 0.25', 'RandK", k = 2')
        .replace('"compressor.p" = { start = 0.1, stop = 1.0, num = 3 }', '"compressor.k" = [1, 2]')
        .replace("n_workers = 8", "n_workers = 2")
        + '"n_workers" = [2]\n'  # one value: each N compiles anew, and ints are what is tested
    )
    out = tmp_path / "k.nc"
    assert main(["sweep", str(_small_config(tmp_path, text)), "--out", str(out), "--quiet"]) == 0
    with xr.open_dataset(out) as ds:
        assert ds["compressor.k"].values.tolist() == [1, 2]
        assert ds["n_workers"].values.tolist() == [2]


@pytest.mark.parametrize(
    "value, expected",
    [
        (1024, 1024),
        ("512MB", 512 * 10**6),
        ("512MiB", 512 * 2**20),
        ("1.5 GiB", int(1.5 * 2**30)),
        ("2gb", 2e9),
    ],
)
def test_memory_budget_sizes(value, expected):
    assert _Reader("map.toml").bytes("sweep.memory_budget", value) == expected


@pytest.mark.parametrize("value", [0, -5, "lots", "5 parsecs", True, 1.5])
def test_memory_budget_errors(value):
    with pytest.raises(ConfigError, match="sweep.memory_budget"):
        _Reader("map.toml").bytes("sweep.memory_budget", value)


def test_schema_matches_constructors_and_docs():
    docs = (REPO / "docs" / "config.md").read_text()
    not_in_toml = {"denominator", "shifts", "basis"}  # Python objects: documented as API-only
    extra = {"Quadratic": {"dim", "curvature"}}  # shorthand for equal eigenvalues
    for table in (ALGORITHMS, COMPRESSORS, NOISES, PROBLEMS):
        for name, keys in table.items():
            assert f'"{name}"' in docs, name
            parameters = inspect.signature(getattr(sdejax, name)).parameters
            assert set(keys) - extra.get(name, set()) <= set(parameters), name
            assert set(parameters) - not_in_toml <= set(keys), name
            for key in keys:
                assert f"`{key}`" in docs, (name, key)
    sweep_parameters = set(inspect.signature(sdejax.stability_sweep).parameters)
    for key in SWEEP:
        assert f"`{key}`" in docs, key
        assert key in sweep_parameters or key == "seed", key
    for key in re.findall(r"^(\w+) =", EXAMPLE, flags=re.M):
        assert f"`{key}`" in docs, key


# --------------------------------------------------------------------------- results files
def test_bad_out_fails_before_any_computation(tmp_path, capsys):
    config = _small_config(tmp_path)
    assert main(["sweep", str(config), "--out", str(tmp_path / "missing" / "map.nc")]) == 2
    assert "does not exist" in capsys.readouterr().err
    garbage = tmp_path / "garbage.nc"
    garbage.write_bytes(b"not a netcdf file" * 10)
    assert main(["sweep", str(config), "--out", str(garbage), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a readable netCDF" in err and "delete" in err
    assert garbage.read_bytes() == b"not a netcdf file" * 10  # never overwritten
    assert main(["plot", str(garbage), "--png", str(tmp_path / "g.png")]) == 2
    assert "not a readable netCDF" in capsys.readouterr().err


def test_plot_of_a_partial_file_warns_and_marks_it(reference, tmp_path, capsys):
    out = _partial(reference, tmp_path / "map.nc")
    png = tmp_path / "partial.png"
    assert main(["plot", str(out), "--png", str(png)]) == 0
    err = capsys.readouterr().err
    assert "partial: 6 of 18 cells computed" in err and f"sdejax sweep --from {out}" in err
    fig = sdejax.plot_stability_map(_load(out))
    assert fig._suptitle.get_text().startswith("partial: 6 of 18 cells computed")
    labels = [text.get_text() for legend in fig.legends for text in legend.get_texts()]
    assert any("not computed" in label for label in labels)
    assert not any("rate undefined" in label for label in labels), labels


# --------------------------------------------------------------------------- start-up cost
PROBE = textwrap.dedent(
    """
    import contextlib, importlib.util, io, sys
    spec = importlib.util.spec_from_file_location(
        "cli_probe", sys.argv[1] + "/__init__.py", submodule_search_locations=[sys.argv[1]])
    cli = importlib.util.module_from_spec(spec)
    sys.modules["cli_probe"] = cli
    spec.loader.exec_module(cli)
    for argv in (["--help"], ["--version"], ["sweep", "--help"]):
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                cli.main(argv)
            except SystemExit:
                pass
    with contextlib.redirect_stdout(io.StringIO()):
        cli.main(["example-config"])
    print("JAX_IMPORTED" if "jax" in sys.modules else "NO_JAX")
    """
)


def test_cli_module_does_not_import_jax_for_help():
    # The CLI itself imports JAX only in commands that compute.
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(REPO / "sdejax" / "_cli")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip() == "NO_JAX", result.stderr[-2000:]


def test_sdejax_help_does_not_import_jax():
    code = textwrap.dedent(
        """
        import sys
        sys.argv = ["sdejax", "--help"]
        try:
            from sdejax._cli import main
            main()
        except SystemExit:
            pass
        print("JAX_IMPORTED" if "jax" in sys.modules else "NO_JAX")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=REPO
    )
    assert result.stdout.strip().endswith("NO_JAX"), result.stdout[-500:] + result.stderr[-2000:]


def test_info_and_plot_read_the_file_without_jax(tmp_path):
    # Loading a file compiles nothing: `info` and `plot` never import JAX.
    path = tmp_path / "made_up.nc"
    write_atomic(synthetic(["discrete"], {"compressor.p": [0.2, 0.6]}), path)
    code = textwrap.dedent(
        f"""
        import sys
        from sdejax._cli import main
        assert main(["info", {str(path)!r}]) == 0
        assert main(["plot", {str(path)!r}, "--png", {str(tmp_path / "map.png")!r}]) == 0
        print("JAX_IMPORTED" if "jax" in sys.modules else "NO_JAX")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO
    )
    assert result.stdout.strip().endswith("NO_JAX"), result.stdout[-500:] + result.stderr[-2000:]
    assert (tmp_path / "map.png").stat().st_size > 10_000
