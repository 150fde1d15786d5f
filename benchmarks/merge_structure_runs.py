"""Merge several ``bayesguard bench structure`` runs (e.g. one per seed, run when cores were free) into
one raw table and one summary over seeds.

    python benchmarks/merge_structure_runs.py benchmarks/results/structure_20min_s* \
        --out benchmarks/results/structure_20min

Each input directory must hold ``structure_small_raw.csv``. A (seed, sampler, budget) row found in two
runs is an error. Writes ``structure_small_raw.csv`` (all rows), ``structure_small.csv`` (mean and
standard error over seeds per sampler and budget) and ``per_seed.csv`` (one row per seed and budget,
samplers side by side), and prints the summary.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from bayesguard.experiments.structure_small import summarise


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="directories of structure bench runs")
    parser.add_argument("--out", type=Path, required=True, help="directory for the merged tables")
    args = parser.parse_args()
    frames = []
    for run in args.runs:
        path = run / "structure_small_raw.csv"
        if not path.is_file():
            raise SystemExit(f"runs: no structure_small_raw.csv in {run}")
        frames.append(pd.read_csv(path).assign(run=str(run)))
    raw = pd.concat(frames, ignore_index=True)
    dup = raw.duplicated(["seed", "sampler", "budget_s"], keep=False)
    if dup.any():
        raise SystemExit(
            f"runs: rows measured twice:\n{raw.loc[dup, ['seed', 'sampler', 'budget_s', 'run']]}"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    raw.sort_values(["seed", "sampler", "budget_s"]).to_csv(args.out / "structure_small_raw.csv", index=False)
    summary = pd.DataFrame(summarise(raw.to_dict("records")))
    summary.to_csv(args.out / "structure_small.csv", index=False)
    wide = raw.pivot_table(
        index=["seed", "budget_s"], columns="sampler", values=["jsd", "edge_rmse", "r_hat"]
    )
    wide.columns = [f"{s}_{m}" for m, s in wide.columns]
    wide.reset_index().to_csv(args.out / "per_seed.csv", index=False)
    pd.set_option("display.width", 160)
    print(f"seeds: {sorted(raw.seed.unique().tolist())}")
    print(summary.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(wide.to_string(float_format=lambda v: f"{v:.4f}"))
    print(f"wrote {args.out}/structure_small_raw.csv, structure_small.csv, per_seed.csv")


if __name__ == "__main__":
    main()
