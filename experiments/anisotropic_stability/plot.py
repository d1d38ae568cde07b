"""Figure of run.py's results: thresholds relative to the exact discrete one, per κ and ω.

Rows: compressor × (diagonal or rotated Hessian); columns: condition number κ. In each panel,
against ω: the exact thresholds of the four models (lines), the Monte Carlo threshold of the
discrete algorithm ± 1.96 SE (dots) and the legacy pooled estimator's reading (crosses), all
divided by the exact discrete threshold. Values off the vertical range are marked at its edge
with their value; SME-2's "none" (no threshold) is written out.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402
from _common import ensure, parse  # noqa: E402

HERE = Path(__file__).resolve().parent
LOW, HIGH = 0.85, 1.3
STYLE = {
    "discrete": dict(color="k", ls="-", lw=2.0, label="exact: discrete"),
    "corrected": dict(color="C2", ls="--", lw=1.8, label="exact: corrected SDE"),
    "sme1": dict(color="C0", ls=":", lw=1.6, label="exact: SME-1"),
    "sme2": dict(color="C3", ls="-.", lw=1.6, label="exact: SME-2"),
}


def main():
    args = parse(__doc__.splitlines()[0], str(HERE))
    table = xr.open_dataset(Path(args.results) / "anisotropic_stability.nc").to_dataframe()
    families = list(dict.fromkeys(table["family"]))
    kappas = sorted(set(table["kappa"]))
    rows = [(f, r) for f in families for r in (0, 1)]
    fig, axes = plt.subplots(
        len(rows), len(kappas), figsize=(3.6 * len(kappas), 2.7 * len(rows)), squeeze=False, sharey=True
    )
    for i, (family, rotated) in enumerate(rows):
        for j, kappa in enumerate(kappas):
            ax = axes[i, j]
            part = table[(table.family == family) & (table.rotated == rotated) & (table.kappa == kappa)]
            part = part.sort_values("omega")
            if part.empty:  # a cell run.py has not reached yet (it resumes where it stopped)
                ax.text(0.5, 0.5, "not run yet", ha="center", va="center", transform=ax.transAxes)
                ax.set_title(f"{family}, {'rotated' if rotated else 'diagonal'}, κ = {kappa:g}", fontsize=9)
                continue
            omega = part["omega"].to_numpy()
            reference = part["exact_discrete"].to_numpy()
            off = []
            for model, style in STYLE.items():
                ratio = part[f"exact_{model}"].to_numpy() / reference
                ax.plot(omega, np.clip(ratio, LOW, HIGH), **style)
                outside = [r for r in ratio if not (LOW <= r <= HIGH)]  # inf (none) included
                if outside:
                    finite = [r for r in outside if np.isfinite(r)]
                    text = f"×{min(finite):.2g}–{max(finite):.2g}" if finite else ""
                    text += (", " if finite else "") + "none" * (len(finite) < len(outside))
                    off.append(f"{model}: {text}")
            measured = part["measured"].to_numpy() / reference
            se = part["measured_se"].to_numpy() / reference
            ax.errorbar(
                omega,
                measured,
                yerr=1.96 * se,
                fmt="o",
                color="gold",
                mec="k",
                ecolor="k",
                capsize=3,
                ms=6,
                zorder=5,
                label="Monte Carlo (population) ± 1.96 SE",
            )
            pooled = part["pooled"].to_numpy() / reference
            ax.plot(
                omega,
                np.clip(pooled, LOW, HIGH),
                "x",
                color="C1",
                ms=8,
                mew=2,
                label="legacy pooled ratio (biased)",
            )
            ax.set_xscale("log")
            ax.set_xticks(omega)
            ax.set_xticklabels([f"{w:g}" for w in omega])
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.set_ylim(LOW - 0.01, HIGH + 0.01)
            ax.axhline(1.0, color="grey", lw=0.6)
            where = "rotated" if rotated else "diagonal"
            steps, paths = int(part["steps"].iloc[0]), int(part["n_paths"].iloc[0])
            ax.set_title(f"{family}, {where} H, κ = {kappa:g}\n({paths} paths × {steps} steps)", fontsize=9)
            if off:
                ax.text(
                    0.02, 0.97, "off scale:\n" + "\n".join(off), transform=ax.transAxes, fontsize=6, va="top"
                )
            if j == 0:
                ax.set_ylabel("η* / exact discrete η*")
            if i == len(rows) - 1:
                ax.set_xlabel("compression ω")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=9, frameon=False)
    attrs = xr.open_dataset(Path(args.results) / "anisotropic_stability.nc").attrs
    fig.suptitle(
        f"DCSGD mean-square thresholds on anisotropic quadratics (d = 10, N = {attrs['n_workers']}, "
        f"σ1 = {attrs['sigma1']})",
        fontsize=11,
    )
    fig.tight_layout(rect=(0, 0.05, 1, 0.97))
    out = ensure(args.figures) / "anisotropic_stability.png"
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
