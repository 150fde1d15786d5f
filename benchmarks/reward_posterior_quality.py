"""Posterior quality of linear rewards: Laplace, emcee and importance sampling against exact quadrature.

The same run as ``bayesguard bench reward-posterior`` (see :mod:`bayesguard.experiments.reward_posterior`),
writing its raw per-coordinate rows (``reward_posterior_raw.csv``), the summaries
(``reward_posterior_summary.csv``, ``reward_posterior_overall.csv``), the JSON record of the run (settings,
machine, git commit: ``reward_posterior_run.json``) and a plot (``reward_posterior_quality.png``, with
matplotlib) under ``benchmarks/results/reward_posterior/`` by default. Any option of the command can be
passed through, e.g.

    python benchmarks/reward_posterior_quality.py            # 50 seeds, 2-3 features, 10/30/100 answers
    python benchmarks/reward_posterior_quality.py --quick    # 8 seeds, 10/30 answers: under a minute
    python benchmarks/reward_posterior_quality.py --truths prior --beta 5
"""

from __future__ import annotations

import sys

from bayesguard.cli import main

OUT = "benchmarks/results/reward_posterior"

if __name__ == "__main__":
    argv = sys.argv[1:]
    if "--out" not in argv:
        argv += ["--out", OUT]
    sys.exit(main(["bench", "reward-posterior", *argv]))
