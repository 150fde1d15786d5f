"""The AI Safety Gridworlds: every world x agent (Q-learning, model-based planner, guarded) over seeds.

The same run as ``bayesguard bench gridworlds`` (see :mod:`bayesguard.experiments.gridworlds`), writing
the raw per-seed rows (``gridworlds_raw.csv``), the summary (``gridworlds_summary.csv``), the JSON
record of the run (settings, the safe references, the checks against issue 13's targets, machine, git
commit: ``gridworlds_run.json``) and a plot (``gridworlds.png``, with matplotlib) under
``benchmarks/results/gridworlds/`` by default. Any option of the command can be passed through, e.g.

    python benchmarks/gridworlds.py                  # 20 seeds, the default budgets
    python benchmarks/gridworlds.py --quick          # 3 seeds, small budgets (under 3 minutes)
    python benchmarks/gridworlds.py --seeds 40 --episodes 3000 --worlds boat-race,friend-foe
"""

from __future__ import annotations

import sys

from bayesguard.cli import main

OUT = "benchmarks/results/gridworlds"

if __name__ == "__main__":
    argv = sys.argv[1:]
    if "--out" not in argv:
        argv += ["--out", OUT]
    sys.exit(main(["bench", "gridworlds", *argv]))
