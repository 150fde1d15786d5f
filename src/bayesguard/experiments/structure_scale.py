"""Structure learning where the posterior cannot be enumerated: d = 20 and 50, and the Sachs data.

Quality is measured against the true (or consensus) graph, as the literature does when no exact posterior
exists: the expected structural Hamming distance ``E[SHD(G, G*)]`` under the sampler's graphs, and the
area under the ROC curve of the edge marginals as a classifier of the true edges (directed, off-diagonal).
MCMC and the GFlowNet get the same wall-clock budget, each in its own process on one core. The GFlowNet
uses ``explore_stop = 1/(1+d)`` and ``stop_bias = log d`` (see :class:`GFlowNetConfig`).

Synthetic: linear-Gaussian SCMs on Erdős–Rényi DAGs with ``2 d`` expected edges ("ER-2": two edges per
node), ``N = 100``, BGe score with an ER prior of the same expected edge count.

Sachs: the 7,466 cells of :func:`~bayesguard.datasets.load_sachs`, log-transformed and
standardised per column (the concentrations are positive and heavy-tailed; BGe's prior assumes unit
scale), BGe with an ER prior of ``d = 11`` expected edges (a generic sparsity prior, not the answer),
compared with the 18-edge consensus graph of :func:`~bayesguard.datasets.sachs_consensus`.
"""

from __future__ import annotations

import multiprocessing as mp
import resource
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch
from scipy.stats import rankdata
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from ..datasets import load_sachs, sachs_consensus, sample_linear_gaussian_scm
from ..graphs.markov import shd
from ..inference.gflownet import DAGGFlowNet, GFlowNetConfig
from ..inference.mcmc import structure_mcmc
from ..theories.causal.prior import StructurePrior
from ..theories.causal.scores import BGeScore
from ..theories.causal.structure import StructureScore


def edge_auroc(marginals: np.ndarray, truth: np.ndarray) -> float:
    """AUROC of ``(d, d)`` edge marginals against ``(d, d)`` true edges (off-diagonal; ties count 1/2)."""
    off = ~np.eye(truth.shape[0], dtype=bool)
    s, y = marginals[off], truth[off].astype(bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(s)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def scale_problem(kind: str, seed: int, d: int, n_samples: int) -> tuple[StructureScore, np.ndarray]:
    """The score and true graph ``(d, d)`` of one problem: ``kind`` ``"sachs"`` or synthetic ER-2."""
    if kind == "sachs":
        frame = load_sachs()
        x = np.log(frame.to_numpy())
        x = (x - x.mean(axis=0)) / x.std(axis=0)
        truth = sachs_consensus().adj
        prior = StructurePrior.make(list(frame.columns), kind="erdos-renyi", expected_edges=float(x.shape[1]))
        return StructureScore(BGeScore(x), prior), truth
    scm = sample_linear_gaussian_scm(d, n_samples, 2.0 * d, seed=seed)
    prior = StructurePrior.make(d, kind="erdos-renyi", expected_edges=2.0 * d)
    return StructureScore(BGeScore(scm.data), prior), scm.adj


def _task(args: tuple) -> dict:
    kind, seed, d, sampler, budget, n_samples = args
    torch.set_num_threads(1)
    with threadpool_limits(1):
        score, truth = scale_problem(kind, seed, d, n_samples)
        d = score.d
        t0 = time.perf_counter()
        if sampler == "gflownet":
            config = GFlowNetConfig(seed=seed, explore_stop=1.0 / (1.0 + d), stop_bias=float(np.log(d)))
            model = DAGGFlowNet(score, config)
            model.train(seconds=budget, progress=False)
            t1 = time.perf_counter()
            graphs = model.sample(1000, seed=seed)
            sample_s = time.perf_counter() - t1
            extra = {"steps": model.steps, "graphs_per_s": 1000 / sample_s, "r_hat": float("nan")}
        else:
            thin = max(1, int(budget * 2000 / 1000))
            run = structure_mcmc(
                score, n_chains=4, n_steps=10**12, thin=thin, seed=seed, time_budget=budget, progress=False
            )
            graphs = run.samples.reshape(-1, d, d)
            extra = {"steps": run.n_steps, "graphs_per_s": float("nan"), "r_hat": run.max_r_hat}
        seconds = time.perf_counter() - t0
        marg = graphs.mean(axis=0)
        dist = shd(graphs, truth[None])
        return {
            "problem": kind,
            "seed": seed,
            "d": d,
            "true_edges": int(truth.sum()),
            "sampler": sampler,
            "budget_s": budget,
            "seconds": seconds,
            "n_graphs": int(graphs.shape[0]),
            "expected_shd": float(dist.mean()),
            "expected_shd_se": float(dist.std(ddof=1) / np.sqrt(dist.size))
            if dist.size > 1
            else float("nan"),
            "edge_auroc": edge_auroc(marg, truth),
            "mean_edges": float(graphs.sum(axis=(1, 2)).mean()),
            "scored_families": len(score.cache),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            **extra,
        }


def run_structure_scale(
    dims: Sequence[int],
    seeds: Sequence[int],
    budget: float,
    *,
    sachs: bool = True,
    samplers: Sequence[str] = ("gflownet", "mcmc"),
    n_samples: int = 100,
    workers: int = 2,
    progress: bool = True,
) -> list[dict]:
    """One row per (problem, seed, sampler): expected SHD, edge AUROC, speed and memory.

    ``peak_rss_mb`` is the worker process's resident-memory high-water mark so far: worker processes
    are reused across tasks, so it bounds the task's peak from above (the first task of a worker is
    exact).
    """
    if budget <= 0:
        raise ValueError(f"budget: expected a positive number of seconds, got {budget!r}")
    tasks = [("synthetic", s, d, m, float(budget), n_samples) for d in dims for s in seeds for m in samplers]
    if sachs:
        tasks += [("sachs", 0, 11, m, float(budget), n_samples) for m in samplers]
    ctx = mp.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        return list(
            tqdm(pool.map(_task, tasks), total=len(tasks), desc="structure scale", disable=not progress)
        )


def score_cost(d: int = 20, n_samples: int = 100, n_families: int = 20_000, seed: int = 0) -> dict:
    """Time per local BGe evaluation (uncached, batched) and per cached lookup, at ``d`` variables."""
    scm = sample_linear_gaussian_scm(d, n_samples, 2.0 * d, seed=seed)
    score = StructureScore(BGeScore(scm.data))
    rng = np.random.default_rng(seed)
    nodes = rng.integers(0, d, n_families)
    masks = (rng.random((n_families, d)) < 2.0 / d).astype(np.int64) @ (
        np.int64(1) << np.arange(d, dtype=np.int64)
    )
    masks &= ~(np.int64(1) << nodes)
    t0 = time.perf_counter()
    score.scorer.local_many(nodes, masks)
    raw = time.perf_counter() - t0
    score.local_many(nodes, masks)  # fill the cache
    t1 = time.perf_counter()
    score.local_many(nodes, masks)
    cached = time.perf_counter() - t1
    return {
        "d": d,
        "families": n_families,
        "us_per_score": 1e6 * raw / n_families,
        "us_per_cached": 1e6 * cached / n_families,
    }
