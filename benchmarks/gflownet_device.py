"""The DAG-GFlowNet's policy on a GPU against one CPU core, at equal wall-clock, at d = 20 and 50.

Problems as ``bayesguard bench structure-scale`` (ER-2 linear-Gaussian SCMs, N = 100, BGe with an ER
prior; ``explore_stop = 1/(1+d)``, ``stop_bias = log d``), the same hyperparameters on every device.
Each (d, device) pair trains in its own process (CPU runs limited to one thread, as on the 2-core
development machine) for ``--seconds``; then 1,000 graphs are sampled. Reported: gradient steps and
steps per second, graphs sampled per second, expected SHD and edge AUROC against the true graph.

    PYTHONPATH=src python benchmarks/gflownet_device.py [--dims 20,50] [--seconds 90] \
        [--devices cpu,cuda] [--seed 0] [--out benchmarks/results/gflownet_device]

Writes ``gflownet_device.csv`` (one row per run) and ``gflownet_device.json`` (machine, GPU, versions).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from bayesguard.experiments.results import write_csv, write_json
from bayesguard.experiments.structure_scale import edge_auroc, scale_problem
from bayesguard.graphs.markov import shd
from bayesguard.inference.gflownet import DAGGFlowNet, GFlowNetConfig


def run_one(task: tuple[int, str, int, float]) -> dict:
    d, device, seed, seconds = task
    torch.set_num_threads(1)
    with threadpool_limits(1):
        score, truth = scale_problem("er", seed, d, 100)
        config = GFlowNetConfig(
            seed=seed, explore_stop=1.0 / (1.0 + d), stop_bias=float(np.log(d)), device=device
        )
        model = DAGGFlowNet(score, config)
        model.train(steps=20, progress=False)  # warm-up: CUDA context, kernels, first scores
        steps0, t0 = model.steps, time.perf_counter()
        model.train(seconds=seconds, progress=False)
        train_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        graphs = model.sample(1000, seed=seed)
        sample_s = time.perf_counter() - t1
    dist = shd(graphs, truth[None])
    return {
        "d": d,
        "device": device,
        "device_name": torch.cuda.get_device_name() if device.startswith("cuda") else "cpu (1 thread)",
        "seed": seed,
        "train_s": train_s,
        "steps": model.steps - steps0,
        "steps_per_s": (model.steps - steps0) / train_s,
        "graphs_per_s": 1000 / sample_s,
        "expected_shd": float(dist.mean()),
        "edge_auroc": edge_auroc(graphs.mean(axis=0), truth),
        "mean_edges": float(graphs.sum(axis=(1, 2)).mean()),
        "true_edges": int(truth.sum()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", default="20,50")
    parser.add_argument("--devices", default="cpu,cuda")
    parser.add_argument("--seconds", type=float, default=90.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/gflownet_device"))
    args = parser.parse_args()
    tasks = [
        (int(d), dev, args.seed, args.seconds)
        for d in args.dims.split(",")
        for dev in args.devices.split(",")
    ]
    with ProcessPoolExecutor(max_workers=len(tasks), mp_context=mp.get_context("spawn")) as pool:
        rows = list(pool.map(run_one, tasks))
    for r in rows:
        print(
            f"d={r['d']:>3} {r['device_name']:<24} steps/s {r['steps_per_s']:8.1f}  graphs/s "
            f"{r['graphs_per_s']:8.0f}  E[SHD] {r['expected_shd']:7.1f}  AUROC {r['edge_auroc']:.3f}"
        )
    write_csv(rows, args.out / "gflownet_device.csv")
    args_text = {k: str(v) for k, v in vars(args).items()}
    write_json(
        {"torch": torch.__version__, "cuda": torch.version.cuda, "args": args_text},
        args.out / "gflownet_device.json",
    )
    print(f"wrote {args.out}/gflownet_device.csv, gflownet_device.json")


if __name__ == "__main__":
    main()
