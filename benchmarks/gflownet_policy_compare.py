"""MLP vs attention forward policy of the DAG-GFlowNet, for the same wall-clock training on one thread.

Problems: linear-Gaussian SCMs on Erdős–Rényi DAGs with ``E = min(2 d, d (d - 1) / 4)`` expected edges
(ER-2 at ``d >= 6``; at ``d = 5`` ER-2 would be the complete DAG, so half the pairs: 5 edges), ``N = 100``,
BGe with an ER prior of the same expected edge count (as
:func:`bayesguard.experiments.structure_scale.scale_problem`). GFlowNet settings as ``structure_scale``:
``explore_stop = 1 / (1 + d)``, ``stop_bias = log d``, every other field at its default unless a variant
overrides it. Each cell (d, seed, variant) trains in its own process, ``torch.set_num_threads(1)``, for
``--seconds`` of training, then draws ``--n-samples`` graphs.

Reported per cell: gradient steps, mean sampled edges, expected SHD to the true graph (and its standard
error), the SHD of the empty graph (= the number of true edges), the mean log posterior of the sampled
graphs and that of the true graph, the fraction of samples violating ``max_parents`` (must be 0), and at
``d <= 5`` the exact Jensen-Shannon divergence and total variation between the sampler's law and its
target (the exact posterior, restricted to in-degree <= max_parents when that is set).

Variants are ``policy[:field=value,...]`` with ``GFlowNetConfig`` fields, e.g. ``attention:hidden=64``,
``attention:lr=3e-4,target_every=100``.

    PYTHONPATH=src python benchmarks/gflownet_policy_compare.py [--dims 5,20] [--with-50] \\
        [--seconds 5=30,20=60,50=120] [--seeds 0] [--max-parents none,3] [--variants mlp attention] \\
        [--workers 2] [--out benchmarks/results]

Writes ``gflownet_policy_compare.csv`` (one row per cell) and ``gflownet_policy_compare.json`` (rows, the
arguments, the machine and the commit) under ``--out``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import fields
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from bayesguard.datasets import sample_linear_gaussian_scm
from bayesguard.experiments.results import write_csv, write_json
from bayesguard.graphs.compare import jensen_shannon
from bayesguard.graphs.markov import shd
from bayesguard.inference.gflownet import (
    DAGGFlowNet,
    GFlowNetConfig,
    sampler_distribution,
    target_distribution,
)
from bayesguard.marginal.montecarlo import sampler_tv_exact
from bayesguard.theories.causal.prior import StructurePrior
from bayesguard.theories.causal.scores import BGeScore
from bayesguard.theories.causal.structure import StructureScore

EXACT_MAX_D = 5


def expected_edges(d: int) -> float:
    """ER-2 (``2 d``), capped at half the node pairs (the ER prior needs fewer than all pairs)."""
    return min(2.0 * d, d * (d - 1) / 4)


def problem(d: int, seed: int, n: int) -> tuple[StructureScore, np.ndarray]:
    e = expected_edges(d)
    scm = sample_linear_gaussian_scm(d, n, e, seed=seed)
    prior = StructurePrior.make(d, kind="erdos-renyi", expected_edges=e)
    return StructureScore(BGeScore(scm.data), prior), scm.adj


def parse_variant(text: str) -> tuple[str, dict]:
    """``"attention:hidden=64,lr=3e-4"`` -> ``("attention", {"hidden": 64, "lr": 3e-4})``."""
    policy, _, rest = text.partition(":")
    types = {f.name: f.type for f in fields(GFlowNetConfig)}
    overrides: dict = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        if key not in types or key in ("policy", "seed", "device"):
            raise SystemExit(f"--variants: unknown or fixed field {key!r} in {text!r}")
        kind = str(types[key])
        if value == "None":
            overrides[key] = None
        elif kind.startswith("int"):
            overrides[key] = int(value)
        elif kind.startswith("float"):
            overrides[key] = float(value)
        else:
            overrides[key] = value
    return policy, overrides


def cell(task: tuple) -> dict:
    d, seed, variant, seconds, max_parents, n_samples, n_data = task
    torch.set_num_threads(1)
    with threadpool_limits(1):
        policy, overrides = parse_variant(variant)
        score, truth = problem(d, seed, n_data)
        config = GFlowNetConfig(
            **{
                "seed": seed,
                "policy": policy,
                "explore_stop": 1.0 / (1.0 + d),
                "stop_bias": float(np.log(d)),
                **overrides,
            }
        )
        model = DAGGFlowNet(score, config, max_parents=max_parents)
        n_params = sum(p.numel() for p in model.policy.parameters())
        model.train(seconds=seconds, progress=False)
        t0 = time.perf_counter()
        graphs = model.sample(n_samples, seed=seed + 1)
        sample_s = time.perf_counter() - t0
        dist = shd(graphs, truth[None])
        log_post = score.log_posterior(graphs)
        row = {
            "d": d,
            "seed": seed,
            "variant": variant,
            "policy": policy,
            "max_parents": max_parents,
            "n_params": n_params,
            "budget_s": seconds,
            "train_seconds": model.train_seconds,
            "steps": model.steps,
            "sample_seconds": sample_s,
            "true_edges": int(truth.sum()),
            "mean_edges": float(graphs.sum(axis=(1, 2)).mean()),
            "expected_shd": float(dist.mean()),
            "expected_shd_se": float(dist.std(ddof=1) / np.sqrt(dist.size)),
            "empty_shd": int(shd(np.zeros_like(truth), truth)),
            "mean_log_posterior": float(log_post.mean()),
            "true_log_posterior": float(score.log_posterior(truth[None])[0]),
            "violations": float(np.mean(graphs.sum(axis=1).max(axis=1) > max_parents))
            if max_parents is not None
            else 0.0,
            "exact_jsd": float("nan"),
            "exact_tv": float("nan"),
            "masked_out_mass": float("nan"),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
        if d <= EXACT_MAX_D:
            p, excluded = target_distribution(model)
            q = sampler_distribution(model)
            row |= {"exact_jsd": jensen_shannon(p, q), "exact_tv": sampler_tv_exact(q, p)}
            row["masked_out_mass"] = excluded
        return row


def parse_seconds(text: str) -> dict[int, float]:
    out = {}
    for item in text.split(","):
        d, _, s = item.partition("=")
        out[int(d)] = float(s)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", default="5,20", help="comma-separated numbers of variables")
    parser.add_argument("--with-50", action="store_true", help="add d = 50")
    parser.add_argument("--seconds", default="5=30,20=60,50=120", help="training seconds per d: d=s,...")
    parser.add_argument("--seeds", default="0", help="comma-separated data / network seeds")
    parser.add_argument(
        "--max-parents", default="none", help="comma-separated in-degree bounds, 'none' for no bound"
    )
    parser.add_argument("--variants", nargs="+", default=["mlp", "attention"])
    parser.add_argument("--n-samples", type=int, default=1000)
    parser.add_argument("--n-data", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--name", default="gflownet_policy_compare", help="file name stem of the results")
    args = parser.parse_args()
    dims = [int(x) for x in args.dims.split(",")] + ([50] if args.with_50 else [])
    seconds = parse_seconds(args.seconds)
    missing = [d for d in dims if d not in seconds]
    if missing:
        raise SystemExit(f"--seconds: no budget for d = {missing}")
    for v in args.variants:
        policy, overrides = parse_variant(v)
        GFlowNetConfig(policy=policy, **overrides)  # fail here, not in a worker
    seeds = [int(s) for s in args.seeds.split(",")]
    bounds = [None if b.strip().lower() == "none" else int(b) for b in args.max_parents.split(",")]
    tasks = [
        (d, s, v, seconds[d], b, args.n_samples, args.n_data)
        for d in dims
        for b in bounds
        for s in seeds
        for v in args.variants
    ]
    load_start = os.getloadavg()  # other work on the machine changes how many steps fit in a budget
    with ProcessPoolExecutor(max_workers=args.workers, mp_context=mp.get_context("spawn")) as pool:
        rows = list(pool.map(cell, tasks))
    load_end = os.getloadavg()
    for r in rows:
        exact = f"  JSD {r['exact_jsd']:.4f} TV {r['exact_tv']:.3f}" if r["d"] <= EXACT_MAX_D else ""
        print(
            f"d={r['d']:<3} seed {r['seed']} {r['variant']:<32} mp={r['max_parents']} {r['steps']:>6} steps  "
            f"edges {r['mean_edges']:6.1f} (true {r['true_edges']})  "
            f"E-SHD {r['expected_shd']:6.1f} ± {r['expected_shd_se']:.1f} (empty {r['empty_shd']})  "
            f"log post {r['mean_log_posterior']:.0f} (true {r['true_log_posterior']:.0f}){exact}"
        )
    stem = args.out / args.name
    write_csv(rows, stem.with_suffix(".csv"))
    write_json(
        {
            "torch": torch.__version__,
            "threads_per_cell": 1,
            "workers": args.workers,
            "loadavg_start": load_start,
            "loadavg_end": load_end,
            "args": {k: str(v) for k, v in vars(args).items()},
            "rows": [{k: None if v != v else v for k, v in r.items()} for r in rows],  # NaN -> null
        },
        stem.with_suffix(".json"),
    )
    print(f"wrote {stem}.csv, {stem}.json")


if __name__ == "__main__":
    main()
