"""Draw the stability map saved by run.py (reads only the netCDF file)."""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import xarray as xr  # noqa: E402

import sdejax  # noqa: E402

HERE = Path(__file__).resolve().parent


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--results", default=str(HERE / "results"))
    parser.add_argument("--figures", default=str(HERE / "figures"))
    args = parser.parse_args()
    figures = Path(args.figures)
    figures.mkdir(parents=True, exist_ok=True)
    with xr.open_dataset(Path(args.results) / "stability_map.nc") as ds:
        ds = ds.load()
    missing = int((ds["completed"] == 0).sum()) if "completed" in ds else 0
    if missing:
        print(f"note: {missing} cells not finished yet (drawn black); re-run run.py to resume")
    fig = sdejax.plot_stability_map(ds, x="compressor.p", path=figures / "stability_map.png")
    plt.close(fig)
    print(f"wrote {figures / 'stability_map.png'}")


if __name__ == "__main__":
    main()
