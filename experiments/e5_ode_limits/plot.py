"""Figures of E5 from the saved results."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import xarray as xr  # noqa: E402
from _common import ensure, parse  # noqa: E402

HERE = Path(__file__).resolve().parent
STYLE = {
    "discrete": ("k", "-", "GD (discrete)"),
    "sme1": ("tab:blue", "--", "SME-1"),
    "sme2": ("tab:orange", ":", "SME-2"),
    "corrected": ("tab:red", "-.", "corrected"),
}


def main():
    args = parse(__doc__, HERE)
    results, figures = Path(args.results), ensure(args.figures)
    quadratic = xr.open_dataset(results / "quadratic.nc")
    quartic = xr.open_dataset(results / "quartic.nc")
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for model, (colour, line, label) in STYLE.items():
        rate = quadratic.ms_growth_rate.sel(model=model)
        left.plot(quadratic.learning_rate, rate, color=colour, ls=line, lw=2, label=label)
        div = quartic.diverged_fraction.sel(model=model).values
        offset = {"discrete": 0.0, "sme1": 0.03, "sme2": 0.06, "corrected": 0.09}[model]
        right.step(quartic.learning_rate, div + offset, where="mid", color=colour, ls=line, lw=2, label=label)
    left.axhline(0, color="grey", lw=0.8)
    left.axvline(2.0, color="grey", ls="--", lw=1)
    left.text(2.02, left.get_ylim()[0] * 0.9, "η = 2/λ", color="grey")
    left.set(
        xlabel="learning rate η",
        ylabel="growth rate of x² per unit time",
        title="H2: f = x²/2 (λ = 1), no noise",
    )
    left.legend(loc="lower left")
    for value, text, align in (
        (2 / 3, "η x0² = 2/3\n(corrected ODE)", "left"),
        (2.0, "η x0² = 2\n(GD)", "right"),
    ):
        right.axvline(value, color="grey", ls="--", lw=1)
        shift = 0.03 if align == "left" else -0.03
        right.text(value + shift, 0.75, text, color="grey", ha=align)
    right.set(
        xlabel="η x0² (x0 = 1)",
        ylabel="diverged (1) or not (0); curves offset",
        title="H3: f = x⁴/4: divergence vs step size",
        ylim=(-0.1, 1.25),
    )
    right.legend(loc="center right", bbox_to_anchor=(0.99, 0.45))
    fig.tight_layout()
    fig.savefig(figures / "e5_ode_limits.png", dpi=120)
    print(f"wrote {figures / 'e5_ode_limits.png'}")


if __name__ == "__main__":
    main()
