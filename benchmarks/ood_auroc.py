"""OOD detection benchmark: AUROC of epistemic scores against distance baselines on three shifts.

The same run as ``bayesguard bench ood`` (see :mod:`bayesguard.experiments.ood`), writing its raw
per-seed rows (``ood_raw.csv``), the summary (``ood_summary.csv``), the JSON record of the run (settings,
machine, git commit: ``ood_run.json``) and a plot (``ood_auroc.png``, with matplotlib) under
``benchmarks/results/ood/`` by default. Any option of the command can be passed through, e.g.

    python benchmarks/ood_auroc.py                 # 10 seeds, the three shifts (about a minute on 2 cores)
    python benchmarks/ood_auroc.py --quick         # 2 seeds, smaller problems
    python benchmarks/ood_auroc.py --seeds 20 --causal-shift 2
"""

from __future__ import annotations

import sys

from bayesguard.cli import main

OUT = "benchmarks/results/ood"

if __name__ == "__main__":
    argv = sys.argv[1:]
    if "--out" not in argv:
        argv += ["--out", OUT]
    sys.exit(main(["bench", "ood", *argv]))
