"""Structure samplers against exact ground truth at d = 10-20: the dynamic programmes' edge marginals.

Per problem (``d``, ER-1 or ER-2 true graph, ``N`` rows, BGe on linear-Gaussian data or BDeu on
categorical data, seed): the exact edge marginals under each prior a sampler may target
(:func:`~bayesguard.inference.dp_structure.structure_dp` for the structure-modular posterior that
edge-flip MCMC and the GFlowNet target, ``d <= 15``; :func:`~bayesguard.inference.dp_order.order_dp` for
the order-modular posterior that order MCMC targets, ``d <= 20``), then every sampler for the same
wall-clock budget on one core, and its edge-marginal max abs error and RMSE against the truth of *its*
target. Where no exact truth of a sampler's target exists (structure-modular at ``d = 20``) the error
columns are empty and say why.

In-degree: ``max_parents(d)`` is None (no bound) up to ``d = 15`` and 3 above; every sampler and both
programmes use the same bound (edge-flip MCMC through :class:`~bayesguard.inference.parent_sets.
BoundedScore`, the GFlowNet through its mask), so they target one posterior.

BGe: ``alpha_mu = 1``, ``alpha_w = d + 2``, an Erdős–Rényi structure prior with the true expected edge
count. BDeu: binary variables, ``ess = 1``, the same prior.
"""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..datasets import sample_discrete_scm, sample_linear_gaussian_scm
from ..graphs.compare import edge_auroc
from ..graphs.markov import shd
from ..inference.dp_order import order_dp
from ..inference.dp_structure import MAX_D as STRUCTURE_MAX_D
from ..inference.dp_structure import structure_dp
from ..inference.parent_sets import BoundedScore, ParentSetTable, default_max_parents
from ..theories.causal.prior import StructurePrior
from ..theories.causal.scores import BDeuScore, BGeScore
from ..theories.causal.structure import StructureScore

#: Samplers and the prior each targets.
SAMPLERS = {
    "mcmc": "structure-modular",
    "order-mcmc": "order-modular",
    "gflownet": "structure-modular",
    "gflownet-attention": "structure-modular",
}
#: The in-degree bound used at ``d`` variables (None up to 15): the library's default.
max_parents = default_max_parents


@dataclass(frozen=True)
class Problem:
    """One benchmark problem: its score (with prior), the true graph and its description."""

    score: StructureScore
    truth: np.ndarray
    d: int
    graph: str
    n_samples: int
    kind: str
    seed: int


def make_problem(d: int, graph: str, n_samples: int, kind: str, seed: int) -> Problem:
    """``graph``: ``"ER-1"``/``"ER-2"`` (``d`` or ``2 d`` expected edges); ``kind``: ``"bge"``/``"bdeu"``."""
    per_node = {"ER-1": 1.0, "ER-2": 2.0}.get(graph)
    if per_node is None:
        raise ValueError(f"graph: expected 'ER-1' or 'ER-2', got {graph!r}")
    edges = min(per_node * d, d * (d - 1) / 2 - 0.5)
    prior = StructurePrior.make(d, kind="erdos-renyi", expected_edges=edges)
    if kind == "bge":
        scm = sample_linear_gaussian_scm(d, n_samples, edges, seed=seed)
        scorer: Any = BGeScore(scm.data, alpha_mu=1.0, alpha_w=d + 2.0)
    elif kind == "bdeu":
        scm = sample_discrete_scm(d, n_samples, edges, arities=2, seed=seed)
        scorer = BDeuScore(scm.data, np.full(d, 2), ess=1.0)
    else:
        raise ValueError(f"kind: expected 'bge' or 'bdeu', got {kind!r}")
    return Problem(StructureScore(scorer, prior), scm.adj, d, graph, n_samples, kind, seed)


def truths(problem: Problem) -> tuple[dict[str, np.ndarray], list[dict]]:
    """Exact edge marginals per prior (where computable) and one cost row per programme run."""
    k = max_parents(problem.d)
    table = ParentSetTable.build(problem.score, k)
    out: dict[str, np.ndarray] = {}
    rows = []
    runs = [("order-modular", order_dp)]
    if problem.d <= STRUCTURE_MAX_D:
        runs.append(("structure-modular", structure_dp))
    for prior, fn in runs:
        t0 = time.perf_counter()
        res = fn(problem.score, table=table)
        out[prior] = res.edge_marginals
        rows.append(
            {
                "d": problem.d,
                "prior": prior,
                "max_parents": table.max_parents,
                "parent_sets": table.n_sets,
                "seconds": time.perf_counter() - t0,
                "stated_memory_mb": res.memory_bytes / 2**20,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "normalisation_error": res.normalisation_error,
            }
        )
    return out, rows


def run_sampler(name: str, problem: Problem, budget: float, seed: int) -> dict[str, Any]:
    """Run one sampler for ``budget`` seconds; returns its edge marginals, draws and diagnostics."""
    import torch

    torch.set_num_threads(1)
    d, k = problem.d, max_parents(problem.d)
    score = problem.score if k is None else BoundedScore(problem.score, k)
    t0 = time.perf_counter()
    if name == "mcmc":
        from ..inference.mcmc import structure_mcmc

        run = structure_mcmc(
            score, n_chains=4, n_steps=10**12, thin=50, seed=seed, time_budget=budget, progress=False
        )
        graphs, marg = run.samples.reshape(-1, d, d), run.edge_marginals()
        extra = {"r_hat": run.max_r_hat, "steps": run.n_steps}
    elif name == "order-mcmc":
        from ..inference.order_mcmc import OrderMCMCConfig, order_mcmc

        cfg = OrderMCMCConfig(max_parents=d - 1 if k is None else k)
        cand = "all" if d <= 20 else "auto"
        run = order_mcmc(
            problem.score, cfg, n_steps=10**12, time_budget=budget, seed=seed, progress=False, candidates=cand
        )
        graphs, marg = run.samples.reshape(-1, d, d), run.edge_marginals()
        cand = run.space.candidates
        extra = {
            "r_hat": run.max_r_hat,
            "steps": int(run.n_steps),
            "true_parents_outside_candidates": int((problem.truth & ~cand).sum()),
        }
    elif name.startswith("gflownet"):
        from ..inference.gflownet import DAGGFlowNet, GFlowNetConfig

        policy = "attention" if name.endswith("attention") else "mlp"
        config = GFlowNetConfig(
            seed=seed, explore_stop=1.0 / (1.0 + d), stop_bias=float(np.log(d)), policy=policy
        )
        model = DAGGFlowNet(problem.score, config, max_parents=k)
        model.train(seconds=budget, progress=False)
        graphs = model.sample(2000, seed=seed)
        marg = graphs.mean(axis=0)
        extra = {"r_hat": float("nan"), "steps": model.steps}
    else:
        raise ValueError(f"sampler: expected one of {sorted(SAMPLERS)}, got {name!r}")
    return {"graphs": graphs, "marginals": marg, "seconds": time.perf_counter() - t0, **extra}


def evaluate(name: str, problem: Problem, out: dict[str, Any], exact: dict[str, np.ndarray]) -> dict:
    """One result row: errors against the exact marginals of the sampler's target, E-SHD, AUROC."""
    target = SAMPLERS[name]
    off = ~np.eye(problem.d, dtype=bool)
    row: dict[str, Any] = {
        "d": problem.d,
        "graph": problem.graph,
        "n_samples": problem.n_samples,
        "score": problem.kind,
        "seed": problem.seed,
        "sampler": name,
        "target": target,
        "max_parents": max_parents(problem.d),
        "seconds": out["seconds"],
        "steps": out["steps"],
        "r_hat": out["r_hat"],
        "expected_shd": float(shd(out["graphs"], problem.truth[None]).mean()),
        "edge_auroc": edge_auroc(out["marginals"], problem.truth),
        "mean_edges": float(out["graphs"].sum(axis=(1, 2)).mean()),
        "true_parents_outside_candidates": out.get("true_parents_outside_candidates", 0),
        "true_nodes_over_bound": int(
            (problem.truth.sum(axis=0) > (max_parents(problem.d) or problem.d)).sum()
        ),
    }
    if target in exact:
        err = (out["marginals"] - exact[target])[off]
        row["edge_max_error"] = float(np.abs(err).max())
        row["edge_rmse"] = float(np.sqrt(np.mean(err**2)))
        row["truth_note"] = f"exact {target} DP"
    else:
        row["edge_max_error"] = row["edge_rmse"] = float("nan")
        cost = "2^d subsets" if target == "order-modular" else "3^d pairs"
        row["truth_note"] = f"no exact {target} truth at d = {problem.d} ({cost})"
    return row
