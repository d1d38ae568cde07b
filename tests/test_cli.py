"""The command line: demo, sweep from a TOML configuration, plot, example-config, and its errors."""

import inspect
import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest
import xarray as xr

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


def test_sweep_and_plot_commands(tmp_path, capsys):
    config = _small_config(tmp_path)
    out, png = tmp_path / "map.nc", tmp_path / "map.png"
    assert main(["sweep", str(config), "--out", str(out), "--png", str(png), "--quiet"]) == 0
    ds = xr.open_dataset(out)
    assert ds["ms_growth_rate"].shape == (1, 6, 3)
    assert np.all(np.isfinite(ds["ms_growth_rate"].values))
    assert ds["completed"].attrs["flag_meanings"] == "pending finished"
    assert "long_name" in ds["completed"].attrs
    np.testing.assert_array_equal(ds["completed"].attrs["flag_values"], [0, 1])
    image = mpimg.imread(png)
    assert image.shape[0] > 100 and image.std() > 0
    png2 = tmp_path / "again.png"
    assert main(["plot", str(out), "--png", str(png2)]) == 0
    assert png2.stat().st_size > 1000
    captured = capsys.readouterr()
    assert "threshold" in captured.out and "partial" not in captured.err


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
    for command in ("demo", "sweep", "plot", "example-config", "--version", "--debug"):
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


def test_plot_of_a_partial_file_warns_and_marks_it(tmp_path, capsys):
    from sdejax._results._persist import write_atomic

    config = _small_config(tmp_path)
    out = tmp_path / "map.nc"
    assert main(["sweep", str(config), "--out", str(out), "--quiet"]) == 0
    with xr.open_dataset(out) as stored:
        ds = stored.load()
    # A sweep killed after half its cells: the rest are NaN with completed = 0.
    done = np.zeros(ds["completed"].shape, np.int8)
    done[:, :3, :] = 1
    ds["completed"].values[:] = done
    for name, variable in ds.data_vars.items():
        if name != "completed" and variable.dims == ds["completed"].dims:
            variable.values[done == 0] = np.nan
    write_atomic(ds, out)
    png = tmp_path / "partial.png"
    assert main(["plot", str(out), "--png", str(png)]) == 0
    err = capsys.readouterr().err
    assert "partial: 9 of 18 cells computed" in err
    fig = sdejax.plot_stability_map(ds)
    assert fig._suptitle.get_text().startswith("partial: 9 of 18 cells computed")
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
