"""Reward learning from preferences: query efficiency and the Goodharting gridworld.

The same run as ``bayesguard bench preferences`` (see :mod:`bayesguard.experiments.preferences`),
writing the raw per-seed rows (``efficiency_raw.csv``, ``goodhart_raw.csv``), the summaries
(``efficiency_summary.csv``, ``goodhart_summary.csv``), the JSON record of the run (settings, the
checks against issue 12's targets, machine, git commit: ``preferences_run.json``) and two plots (with
matplotlib) under ``benchmarks/results/preferences/`` by default. Any option of the command can be
passed through, e.g.

    python benchmarks/preferences.py                 # 20 seeds (about 2.5 minutes on 2 cores)
    python benchmarks/preferences.py --quick         # 4 seeds, smaller problems (under 10 s)
    python benchmarks/preferences.py --seeds 40 --answers 10
"""

from __future__ import annotations

import sys

from bayesguard.cli import main

OUT = "benchmarks/results/preferences"

if __name__ == "__main__":
    argv = sys.argv[1:]
    if "--out" not in argv:
        argv += ["--out", OUT]
    sys.exit(main(["bench", "preferences", *argv]))
