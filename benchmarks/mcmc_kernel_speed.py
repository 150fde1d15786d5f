"""Speed of ``structure_mcmc`` on the shared edge-flip kernel and driver against the former hand-written
loop, in one process.

The former implementation is read from git (``src/bayesguard/inference/mcmc.py`` at ``--before``, the
commit before the kernel refactor) and loaded as a module beside the package, so both versions run on
the same score object, cache and machine. Setup: a random linear-Gaussian SCM on ``d = 10`` variables
(ER, 2 edges per node), N = 200 rows, BGe score with a uniform prior; 4 chains, ``--steps`` steps,
thin 10; the score cache is warmed by one untimed run of each. Runs alternate (before, after) ``--repeats``
times; the ratio is median(after) / median(before), below 1 when the new code is faster (the ratio of
the fastest runs is reported too).

    python benchmarks/mcmc_kernel_speed.py [--out benchmarks/results] [--steps 20000] [--repeats 7]

Writes ``mcmc_kernel_speed.json`` (summary) and ``mcmc_kernel_speed.csv`` (every timing).
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from bayesguard.datasets import sample_linear_gaussian_scm
from bayesguard.experiments.results import write_csv, write_json
from bayesguard.inference.mcmc import structure_mcmc
from bayesguard.theories.causal.scores import BGeScore
from bayesguard.theories.causal.structure import StructureScore

BEFORE = "e2b97f5"  # last commit with the hand-written structure-MCMC loop
SOURCE = "src/bayesguard/inference/mcmc.py"


def load_before(commit: str):
    """The former ``mcmc`` module, loaded as ``bayesguard.inference._mcmc_before`` (its relative imports
    resolve against the installed package)."""
    root = Path(__file__).resolve().parents[1]
    text = subprocess.run(
        ["git", "show", f"{commit}:{SOURCE}"], cwd=root, capture_output=True, text=True, check=True
    ).stdout
    name = "bayesguard.inference._mcmc_before"
    spec = importlib.util.spec_from_loader(name, loader=None)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "bayesguard.inference"
    sys.modules[name] = module
    exec(compile(text, f"{commit}:{SOURCE}", "exec"), module.__dict__)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--before", default=BEFORE)
    args = parser.parse_args()

    old = load_before(args.before)
    d = 10
    scm = sample_linear_gaussian_scm(d, 200, 2 * d, seed=0)
    score = StructureScore(BGeScore(scm.data))
    runners = {"before": old.structure_mcmc, "after": structure_mcmc}
    kwargs = dict(n_chains=4, n_steps=args.steps, thin=10, progress=False)
    for fn in runners.values():  # warm the score cache and imports
        fn(score, seed=99, **kwargs)
    rows = []
    for rep in range(args.repeats):
        for version, fn in runners.items():
            t0 = time.perf_counter()
            run = fn(score, seed=rep, **kwargs)
            seconds = time.perf_counter() - t0
            rows.append(
                {
                    "repeat": rep,
                    "version": version,
                    "seconds": seconds,
                    "steps": run.n_steps,
                    "acceptance": float(np.mean(run.acceptance)),
                    "steps_per_s": run.n_steps / seconds,
                }
            )
            print(f"{version:>6} rep {rep}: {seconds:.3f} s ({run.n_steps / seconds:,.0f} steps/s per chain)")
    med = {v: float(np.median([r["seconds"] for r in rows if r["version"] == v])) for v in runners}
    best = {v: float(np.min([r["seconds"] for r in rows if r["version"] == v])) for v in runners}
    ratio = med["after"] / med["before"]
    ratio_min = best["after"] / best["before"]
    print(f"median before {med['before']:.3f} s, after {med['after']:.3f} s, ratio after/before {ratio:.3f}")
    print(f"fastest before {best['before']:.3f} s, after {best['after']:.3f} s, ratio {ratio_min:.3f}")
    args.out.mkdir(parents=True, exist_ok=True)
    write_csv(rows, args.out / "mcmc_kernel_speed.csv")
    write_json(
        {
            "d": d,
            "n_chains": 4,
            "n_steps": args.steps,
            "thin": 10,
            "repeats": args.repeats,
            "before_commit": args.before,
            "median_seconds_before": med["before"],
            "median_seconds_after": med["after"],
            "ratio_after_over_before": ratio,
            "min_seconds_before": best["before"],
            "min_seconds_after": best["after"],
            "ratio_min_after_over_before": ratio_min,
        },
        args.out / "mcmc_kernel_speed.json",
    )


if __name__ == "__main__":
    main()
