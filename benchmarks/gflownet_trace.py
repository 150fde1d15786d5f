"""Training curves of the DAG-GFlowNet at scale: loss, sampled graph size and expected SHD over time.

Same problems and settings as ``benchmarks/gflownet_device.py``; one process per learning rate, every
``--every`` seconds of training 200 graphs are sampled (time not counted) and the loss (mean of the last
100 steps), the mean number of edges and the expected SHD against the true graph are recorded.

    PYTHONPATH=src python benchmarks/gflownet_trace.py [--d 50] [--device cuda] [--lrs 1e-3,3e-4] \
        [--seconds 90] [--every 10] [--out benchmarks/results/gflownet_trace]

Writes ``gflownet_trace.csv`` (one row per checkpoint) and ``gflownet_trace.json``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from bayesguard.experiments.results import write_csv, write_json
from bayesguard.experiments.structure_scale import scale_problem
from bayesguard.graphs.markov import shd
from bayesguard.inference.gflownet import DAGGFlowNet, GFlowNetConfig


def trace(task: tuple[int, str, float, int, float, float]) -> list[dict]:
    d, device, lr, seed, seconds, every = task
    torch.set_num_threads(1)
    with threadpool_limits(1):
        score, truth = scale_problem("er", seed, d, 100)
        config = GFlowNetConfig(
            seed=seed, explore_stop=1.0 / (1.0 + d), stop_bias=float(np.log(d)), device=device, lr=lr
        )
        model = DAGGFlowNet(score, config)

        def check(m: DAGGFlowNet) -> dict[str, float]:
            g = m.sample(200, seed=seed)
            return {
                "mean_edges": float(g.sum(axis=(1, 2)).mean()),
                "expected_shd": float(shd(g, truth[None]).mean()),
            }

        history = model.train(seconds=seconds, progress=False, callback=check, callback_every=every)
    return [{"d": d, "device": device, "lr": lr, "true_edges": int(truth.sum()), **h} for h in history]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--d", type=int, default=50)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--lrs", default="1e-3,3e-4")
    parser.add_argument("--seconds", type=float, default=90.0)
    parser.add_argument("--every", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/gflownet_trace"))
    args = parser.parse_args()
    tasks = [
        (args.d, args.device, float(lr), args.seed, args.seconds, args.every) for lr in args.lrs.split(",")
    ]
    with ProcessPoolExecutor(max_workers=len(tasks), mp_context=mp.get_context("spawn")) as pool:
        rows = [r for part in pool.map(trace, tasks) for r in part]
    for r in rows:
        print(
            f"lr={r['lr']:<7g} step {r['step']:>6} {r['seconds']:6.1f} s  loss {r['loss']:8.3g}  "
            f"edges {r['mean_edges']:7.1f} (true {r['true_edges']})  E[SHD] {r['expected_shd']:7.1f}"
        )
    write_csv(rows, args.out / "gflownet_trace.csv")
    write_json(
        {"torch": torch.__version__, "args": {k: str(v) for k, v in vars(args).items()}},
        args.out / "gflownet_trace.json",
    )
    print(f"wrote {args.out}/gflownet_trace.csv, gflownet_trace.json")


if __name__ == "__main__":
    main()
