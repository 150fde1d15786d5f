"""``bench structure-scale``: structure samplers against exact ground truth (d = 10-20) and at the sizes
where no exact answer exists (d = 50, 100).

**Against the truth** (:mod:`.structure_truth`): per problem, the dynamic programmes' exact edge
marginals under the prior each sampler targets, then every sampler at the same wall-clock budget on one
core (sequentially in one process), its edge-marginal max abs error and RMSE, R-hat, E-SHD, AUROC; and
the programmes' own time and memory.

**At scale** (d = 50, 100; ER-2, ``N = 100``, BGe, in-degree <= 3): no truth, so quality is measured
against the true graph (expected SHD ``E[SHD(G, G*)]`` and the AUROC of the edge marginals as a classifier
of the true edges), chain agreement (split-R-hat), and the *agreement of independent runs*: the largest
difference between the edge marginals of two runs with different seeds (a sampler that has converged
gives the same answer twice). The empty graph's SHD (the number of true edges) is the baseline.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from ..datasets import sample_linear_gaussian_scm
from ..graphs.compare import edge_auroc
from ..theories.causal.scores import BGeScore
from ..theories.causal.structure import StructureScore
from .backends import run_tasks
from .structure_truth import SAMPLERS, evaluate, make_problem, run_sampler, truths

__all__ = ["edge_auroc", "large_task", "run_structure_scale", "score_cost", "truth_task"]

#: Samplers run at scale (the attention policy is an option: at equal time it is slower and no better).
LARGE_SAMPLERS = ("order-mcmc", "mcmc", "gflownet")


def _quiet_torch() -> None:
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover - torch is a dependency of the samplers that need it
        pass


def truth_task(args: tuple) -> tuple[list[dict], list[dict]]:
    """One problem against its exact truth: ``(d, graph, N, kind, seed, samplers, budget)`` ->
    ``(sampler rows, DP cost rows)``."""
    d, graph, n_samples, kind, seed, samplers, budget = args
    _quiet_torch()
    with threadpool_limits(1):
        problem = make_problem(d, graph, n_samples, kind, seed)
        exact, cost = truths(problem)
        rows = [evaluate(name, problem, run_sampler(name, problem, budget, seed), exact) for name in samplers]
    for c in cost:
        c.update(graph=graph, n_samples=n_samples, score=kind, seed=seed)
    return rows, cost


def large_task(args: tuple) -> dict:
    """One run at scale: ``(d, seed, run, sampler, budget)`` -> a row with the edge marginals."""
    d, seed, run, sampler, budget = args
    _quiet_torch()
    with threadpool_limits(1):
        problem = make_problem(d, "ER-2", 100, "bge", seed)
        out = run_sampler(sampler, problem, budget, seed + 1000 * run)
        row = evaluate(sampler, problem, out, {})
    row.update(
        run=run,
        true_edges=int(problem.truth.sum()),
        empty_graph_shd=int(problem.truth.sum()),
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        marginals=out["marginals"],
    )
    return row


def _scale_task(job: tuple[str, tuple]) -> Any:
    """``("truth", args)`` -> :func:`truth_task`, ``("large", args)`` -> :func:`large_task`: both
    sections share one pool, so the runs at scale start as soon as a core is free."""
    kind, args = job
    return truth_task(args) if kind == "truth" else large_task(args)


def _agreement(rows: list[dict]) -> list[dict]:
    """Pair the runs of each (d, seed, sampler): max abs difference of their edge marginals."""
    out = []
    for r in rows:
        if r["run"] != 0:
            continue
        key = (r["d"], r["seed"], r["sampler"])
        other = [o for o in rows if o["run"] == 1 and (o["d"], o["seed"], o["sampler"]) == key]
        agree = float(np.abs(r["marginals"] - other[0]["marginals"]).max()) if other else float("nan")
        for row in [r, *other]:
            row["run_disagreement"] = agree
    for r in rows:
        out.append({k: v for k, v in r.items() if k != "marginals"})
    return out


def run_structure_scale(
    truth_dims: Sequence[int],
    large_dims: Sequence[int],
    seeds: Sequence[int],
    budget: float,
    *,
    graphs: Sequence[str] = ("ER-1", "ER-2"),
    n_samples: Sequence[int] = (100, 1000),
    scores: Sequence[str] = ("bge", "bdeu"),
    samplers: Sequence[str] = tuple(SAMPLERS),
    large_samplers: Sequence[str] = LARGE_SAMPLERS,
    large_budget: float | None = None,
    workers: int = 2,
    progress: bool = True,
    backend: str = "local",
    address: str | None = None,
) -> tuple[list[dict], list[dict], list[dict]]:
    """Both sections; returns ``(truth rows, DP cost rows, large rows)``. Every problem (and every run
    at scale) is one task on one core: ``workers`` processes, or Ray tasks with ``backend="ray"``
    (:func:`~.backends.run_tasks`)."""
    if budget <= 0:
        raise ValueError(f"budget: expected a positive number of seconds, got {budget!r}")
    unknown = set(samplers) - set(SAMPLERS) | set(large_samplers) - set(SAMPLERS)
    if unknown:
        raise ValueError(f"samplers: unknown {sorted(unknown)}; expected some of {sorted(SAMPLERS)}")
    big = float(budget if large_budget is None else large_budget)
    t_tasks = [
        (d, g, n, k, s, tuple(samplers), float(budget))
        for d in truth_dims
        for g in graphs
        for n in n_samples
        for k in scores
        for s in seeds
    ]
    l_tasks = [(d, s, r, m, big) for d in large_dims for s in seeds for m in large_samplers for r in (0, 1)]
    jobs = [("truth", t) for t in t_tasks] + [("large", t) for t in l_tasks]
    done = run_tasks(
        _scale_task, jobs, backend=backend, workers=workers, address=address, progress=progress,
        desc="structure at scale", unit="problem",
    )  # fmt: skip
    truth_rows = [row for rows, _ in done[: len(t_tasks)] for row in rows]
    cost_rows = [row for _, cost in done[: len(t_tasks)] for row in cost]
    return truth_rows, cost_rows, _agreement(done[len(t_tasks) :])


def dp_cost(dims: Sequence[int], seed: int = 0) -> list[dict]:
    """The programmes' time and memory by ``d`` on one ER-2 BGe problem each (``N = 100``)."""
    rows = []
    with threadpool_limits(1):
        for d in dims:
            _, cost = truths(make_problem(d, "ER-2", 100, "bge", seed))
            rows += cost
    return rows


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
