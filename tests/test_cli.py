"""The command line: demo, sweep from a TOML configuration, plot, example-config."""

import tomllib

import matplotlib.image as mpimg
import numpy as np
import pytest
import xarray as xr

from sdejax._cli import main
from sdejax._cli._config import EXAMPLE, build


def _small_config(tmp_path):
    text = EXAMPLE.replace("num = 64", "num = 6").replace("num = 16", "num = 3")
    text = text.replace("steps = 300", "steps = 20").replace("n_paths = 256", "n_paths = 16")
    text = text.replace('models = ["discrete", "sme1", "sme2", "corrected"]', 'models = ["discrete"]')
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


def test_sweep_and_plot_commands(tmp_path, capsys):
    config = _small_config(tmp_path)
    out, png = tmp_path / "map.nc", tmp_path / "map.png"
    assert main(["sweep", str(config), "--out", str(out), "--png", str(png), "--quiet"]) == 0
    ds = xr.open_dataset(out)
    assert ds["ms_growth_rate"].shape == (1, 6, 3)
    assert np.all(np.isfinite(ds["ms_growth_rate"].values))
    image = mpimg.imread(png)
    assert image.shape[0] > 100 and image.std() > 0
    png2 = tmp_path / "again.png"
    assert main(["plot", str(out), "--png", str(png2)]) == 0
    assert png2.stat().st_size > 1000
    assert "threshold" in capsys.readouterr().out


def test_demo_quick(tmp_path, capsys):
    assert (
        main(["demo", "--quick", "--paths", "16", "--steps", "20", "--quiet", "--out-dir", str(tmp_path)])
        == 0
    )
    assert (tmp_path / "stability_map.png").stat().st_size > 1000
    ds = xr.open_dataset(tmp_path / "stability_map.nc")
    assert "compressor.p" in ds.dims and ds.attrs["sdejax_version"]
    assert "measured" in capsys.readouterr().out


def test_bad_config(tmp_path):
    with pytest.raises(ValueError, match="`algorithm.name` must be one of"):
        build({"algorithm": {"name": "Adam"}, "problem": {}, "noise": {}, "sweep": {}})
    with pytest.raises(ValueError, match=r"missing section \[noise\]"):
        build({"algorithm": {"name": "DSGD", "n_workers": 2}, "problem": {}, "sweep": {}})


def test_help_lists_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for command in ("demo", "sweep", "plot", "example-config"):
        assert command in text
