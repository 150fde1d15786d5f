"""The DAG GFlowNet at d = 15-50: plain, with candidate-parent masks, and with masks plus replay seeded
from order-MCMC draws. Does it stay sparse (no drift to dense graphs), beat the empty graph's SHD, and
how close are its edge marginals to the exact structure-modular DP where one exists (d <= 16)?

Per (d, seed) of the ``bench structure-scale`` generator (ER-2, N = 100, BGe with alpha_w = d + 2, the
ER prior with the true expected edge count, in-degree bound 3 above d = 15):

- ``plain``: the GFlowNet as ``bench structure-scale`` runs it (in-degree mask only);
- ``masked``: also the candidate-parent mask of order MCMC's pruned space (chosen from the scores and
  widened by its pilot run), so the action space holds ~12 parents a node instead of d - 1;
- ``masked+seeded``: the same masks, and a quarter of every minibatch from trajectories to order-MCMC's
  DAG draws (:meth:`DAGGFlowNet.seed_replay`). Order MCMC targets the order-modular posterior, the
  GFlowNet the structure-modular one; the seeds only change where the network is trained, not its
  optimum.

The order-MCMC run that gives the masks and seeds takes ``--mcmc-seconds`` and counts in the budget of
both masked modes (their training gets ``--seconds`` minus it). Every ``--every`` seconds of training
the script samples 1,000 graphs and records the mean edge count, E-SHD (and the empty graph's SHD),
edge AUROC and, at d <= 16, the max and RMS error of the edge marginals against ``structure_dp``.
One thread per task. Raw rows: ``benchmarks/results/gflownet_at_scale.{csv,json}``.

    python benchmarks/gflownet_at_scale.py --dims 15,50 --seeds 0 --seconds 600 --workers 2
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

MODES = ("plain", "masked", "masked+seeded")


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",")]


def task(args: tuple) -> list[dict]:
    d, seed, mode, seconds, mcmc_seconds, every = args
    import torch
    from threadpoolctl import threadpool_limits

    from bayesguard.experiments.structure_truth import make_problem, max_parents
    from bayesguard.graphs.compare import edge_auroc
    from bayesguard.graphs.markov import shd
    from bayesguard.inference.dp_structure import MAX_D, structure_dp
    from bayesguard.inference.gflownet import DAGGFlowNet, GFlowNetConfig
    from bayesguard.inference.order_mcmc import OrderMCMCConfig, order_mcmc
    from bayesguard.inference.parent_sets import ParentSetTable

    torch.set_num_threads(1)
    rows: list[dict] = []
    with threadpool_limits(1):
        problem = make_problem(d, "ER-2", 100, "bge", seed)
        k = max_parents(d)
        truth = None
        if d <= MAX_D:
            truth = structure_dp(problem.score, table=ParentSetTable.build(problem.score, k)).edge_marginals
        t0 = time.perf_counter()
        candidates, seeds = None, None
        if mode != "plain":
            run = order_mcmc(
                problem.score,
                OrderMCMCConfig(max_parents=d - 1 if k is None else k),
                n_steps=10**12,
                time_budget=mcmc_seconds,
                seed=seed,
                progress=False,
                candidates="pruned" if d > 20 else "all",
            )
            seeds = run.samples.reshape(-1, d, d)
            # the pruned space's candidates, plus the plus-one parents its draws used
            candidates = run.space.candidates | seeds.any(axis=0) if d > 20 else None
        config = GFlowNetConfig(seed=seed, explore_stop=1.0 / (1.0 + d), stop_bias=float(np.log(d)))
        model = DAGGFlowNet(problem.score, config, candidates=candidates, max_parents=k)
        if mode == "masked+seeded":
            model.seed_replay(seeds, 0.25)
        setup = time.perf_counter() - t0
        off = ~np.eye(d, dtype=bool)
        t = every
        while True:
            model.train(seconds=max(t - setup - model.train_seconds, 0.0), progress=False)
            graphs = model.sample(1000, seed=seed)
            marg = graphs.mean(axis=0)
            row = {
                "d": d,
                "seed": seed,
                "mode": mode,
                "seconds": setup + model.train_seconds,
                "setup_seconds": setup,
                "steps": model.steps,
                "mean_edges": float(graphs.sum(axis=(1, 2)).mean()),
                "true_edges": int(problem.truth.sum()),
                "expected_shd": float(shd(graphs, problem.truth[None]).mean()),
                "empty_graph_shd": int(problem.truth.sum()),
                "edge_auroc": edge_auroc(marg, problem.truth),
                "true_parents_outside_candidates": (
                    0 if candidates is None else int((problem.truth & ~candidates).sum())
                ),
            }
            if truth is not None:
                err = (marg - truth)[off]
                row["edge_max_error"] = float(np.abs(err).max())
                row["edge_rmse"] = float(np.sqrt(np.mean(err**2)))
            rows.append(row)
            if t >= seconds:
                break
            t = min(t + every, seconds)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dims", type=_ints, default=[15, 50])
    p.add_argument("--seeds", type=_ints, default=[0])
    p.add_argument("--modes", type=lambda s: s.split(","), default=list(MODES))
    p.add_argument("--seconds", type=float, default=600.0, help="budget per task, order MCMC included")
    p.add_argument("--mcmc-seconds", type=float, default=60.0)
    p.add_argument("--every", type=float, default=120.0, help="seconds between evaluations")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "gflownet_at_scale")
    args = p.parse_args()
    tasks = [
        (d, s, m, args.seconds, args.mcmc_seconds, args.every)
        for d in args.dims
        for s in args.seeds
        for m in args.modes
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    import pandas as pd

    rows: list[dict] = []
    with ProcessPoolExecutor(args.workers, mp_context=mp.get_context("spawn")) as pool:
        futures = [pool.submit(task, t) for t in tasks]
        for f in as_completed(futures):  # each task's rows reach the disk when it ends
            rows += f.result()
            pd.DataFrame(rows).to_csv(args.out.with_suffix(".partial.csv"), index=False)

    frame = pd.DataFrame(rows)
    frame.to_csv(args.out.with_suffix(".csv"), index=False)
    meta = {"argv": vars(args) | {"out": str(args.out)}, "machine": _machine()}
    args.out.with_suffix(".json").write_text(
        json.dumps({"meta": meta, "rows": rows}, indent=1, default=float)
    )
    last = frame.sort_values("seconds").groupby(["d", "seed", "mode"]).tail(1)
    cols = [
        c
        for c in (
            "d",
            "seed",
            "mode",
            "seconds",
            "mean_edges",
            "true_edges",
            "expected_shd",
            "empty_graph_shd",
            "edge_auroc",
            "edge_max_error",
            "edge_rmse",
        )
        if c in last
    ]
    print(last[cols].to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    print(f"wrote {args.out.with_suffix('.csv')} and .json")


def _machine() -> dict:
    import os
    import platform

    return {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()}


if __name__ == "__main__":
    main()
