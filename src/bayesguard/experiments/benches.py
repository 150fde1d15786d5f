"""The ``bayesguard bench`` experiments, registered: bandit, structure, structure-scale and plant.

Each run function runs one experiment with the parsed options and returns a
:class:`~bayesguard.experiments.report.Result`; the files it names (CSV columns included) are what
users and tests read, so keep them stable. Modules that need PyTorch are imported inside the run.
"""

from __future__ import annotations

import argparse
import importlib
import time
from dataclasses import asdict
from types import ModuleType

from . import plots
from .bandit_grid import ALPHAS, THRESHOLDS, TIES, Cell
from .registry import NeedsExtra, Option, common_options, floats, ints, positive, register, subset_of
from .report import Plot, Result, Table, col, pm

_samplers = subset_of(("gflownet", "mcmc"), "gflownet and/or mcmc, comma-separated")
_plant_samplers = subset_of(("dp", "mcmc", "gflownet"), "dp, mcmc and/or gflownet, comma-separated")
_QUIET = Option("--quiet", "no progress bars", False)
_GFN = "pip install 'bayesguard[gfn]'"


def _seeds(args: argparse.Namespace) -> list[int]:
    return list(range(args.seed, args.seed + args.seeds))


def _with_torch(module: str, command: str) -> ModuleType:
    """Import the experiment module ``module``, which needs PyTorch; say how to install it if missing."""
    try:
        return importlib.import_module(f".{module}", __package__)
    except ImportError as exc:
        raise NeedsExtra(f"{command} needs PyTorch: {_GFN} ({exc})") from exc


@register(
    "bandit",
    group="bench",
    help="the exploding-bandit grid and tightness experiment",
    options=(
        Option("--episodes", "episodes per cell", 10_000, positive),
        *common_options("bayesguard-out/bandit", workers=None, backend=True),
        Option("--batch-size", "episodes advanced together", 500, positive),
        Option("--thresholds", "harm thresholds C, comma-separated", list(THRESHOLDS), floats),
        Option("--alphas", "cautious alphas, comma-separated", list(ALPHAS), floats),
        Option(
            "--ties",
            "tie modes of the cautious rule, comma-separated: worst, order (listing order), random",
            list(TIES),
            subset_of(TIES),
        ),
        Option("--tightness-episodes", "episodes of the tightness run (None: --episodes)", None, positive),
    ),
)
def bandit(args: argparse.Namespace) -> Result:
    """The guarded Boltzmann agent over the grid of rules and thresholds, then the tightness run."""
    from .bandit_episodes import BanditConfig
    from .bandit_grid import grid_cells, run_grid, run_tightness

    config = BanditConfig()
    cells = grid_cells(args.thresholds, args.alphas, args.ties)
    tight_n = args.tightness_episodes or args.episodes
    print(f"exploding bandit: {len(cells)} cells x {args.episodes:,} episodes, seed {args.seed}")
    t0 = time.perf_counter()
    rows = run_grid(
        config, args.episodes, args.seed, cells, batch_size=args.batch_size, workers=args.workers,
        backend=args.backend, address=args.address,
    )  # fmt: skip
    grid_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    tight = run_tightness(config, tight_n, args.seed, args.alphas, args.ties)
    tight_s = time.perf_counter() - t1
    grid_table = {
        "C": col("threshold"),
        "rule": lambda r: Cell(r["rule"], r["threshold"], r["alpha"], r["ties"]).label,
        "reward ± 2se": pm("reward_mean", 2, "reward_se"),
        "death rate ± 2se": pm("death_rate", 4, "death_se"),
    }
    tight_table = {
        "alpha": col("alpha", "g"),
        "ties": col("ties"),
        "bound": col("bound", ".4f"),
        "per decision ± 2se": pm("freq_step", 4),
        "whole episode ± 2se": pm("freq_episode", 4),
    }
    return Result(
        raw={"bandit_grid.csv": rows, "bandit_tightness.csv": tight},
        tables=(Table(rows, grid_table), Table(tight, tight_table)),
        settings={
            "config": asdict(config),
            "episodes": args.episodes,
            "tightness_episodes": tight_n,
            "seed": args.seed,
            "cells": len(cells),
            "workers": args.workers,
            "backend": args.backend,
            "address": args.address,
            "batch_size": args.batch_size,
        },
        timings={"grid_seconds": grid_s, "tightness_seconds": tight_s},
        record="bandit_run.json",
        plots=(
            Plot("bandit_grid.png", plots.plot_grid, (rows,)),
            Plot("bandit_tightness.png", plots.plot_tightness, (tight,)),
        ),
        notes=(f"\ngrid {grid_s:.1f} s, tightness {tight_s:.1f} s",),
    )


@register(
    "structure",
    group="bench",
    help="d = 5 structure posterior: GFlowNet and MCMC against exact enumeration",
    options=(
        *common_options("bayesguard-out/structure", seeds=10, backend=True),
        Option("--budgets", "wall-clock seconds, comma-separated", [60.0, 300.0, 1200.0], floats),
        Option("--samplers", "gflownet and/or mcmc, comma-separated", ["gflownet", "mcmc"], _samplers),
        _QUIET,
    ),
)
def structure(args: argparse.Namespace) -> Result:
    """Samplers against the exact d = 5 posterior at several wall-clock budgets."""
    small = _with_torch("structure_small", "bench structure")
    seeds = _seeds(args)
    print(f"structure posterior, d = 5: seeds {seeds}, budgets {args.budgets} s, samplers {args.samplers}")
    rows = small.run_structure_small(
        seeds, args.budgets, samplers=args.samplers, workers=args.workers, progress=not args.quiet,
        backend=args.backend, address=args.address,
    )  # fmt: skip
    summary = small.summarise(rows)
    columns = {
        "sampler": col("sampler"),
        "seconds": col("budget_s", "g"),
        "JSD ± 2se": pm("jsd", 4),
        "JSD (samples) ± 2se": pm("jsd_samples", 4),
        "edge RMSE ± 2se": pm("edge_rmse", 4),
        "edge r": col("edge_pearson", ".4f"),
    }
    return Result(
        raw={"structure_small_raw.csv": rows},
        summary={"structure_small.csv": summary},
        tables=(Table(summary, columns),),
        settings={
            "seeds": seeds,
            "budgets_s": args.budgets,
            "samplers": args.samplers,
            "workers": args.workers,
            "backend": args.backend,
            "address": args.address,
            "note": "each (seed, sampler) task runs in its own process on one core, `workers` at a time",
        },
        record="structure_small_run.json",
        plots=(Plot("structure_small.png", plots.plot_structure_small, (summary,)),),
    )


_SCALE_SAMPLERS = ("mcmc", "order-mcmc", "gflownet", "gflownet-attention")


@register(
    "structure-scale",
    group="bench",
    help="samplers against the exact DP truth (d = 10-20) and at d = 50/100 (E-SHD, AUROC, R-hat, agreement)",
    options=(
        Option(
            "--truth-dims", "variables of the problems with exact truth, comma-separated", [10, 15, 20], ints
        ),
        Option(
            "--large-dims",
            "variables of the problems without truth (above 62 only order-mcmc: the others use 64-bit masks)",
            [50],
            ints,
        ),
        Option(
            "--graphs", "true-graph densities, comma-separated", ["ER-1", "ER-2"], subset_of(("ER-1", "ER-2"))
        ),
        Option("--n-samples", "rows of data, comma-separated", [100, 1000], ints),
        Option(
            "--scores",
            "bge (linear-Gaussian) and/or bdeu (binary)",
            ["bge", "bdeu"],
            subset_of(("bge", "bdeu")),
        ),
        Option(
            "--samplers",
            "samplers against the truth, comma-separated",
            list(_SCALE_SAMPLERS),
            subset_of(_SCALE_SAMPLERS),
        ),
        Option(
            "--large-samplers",
            "samplers at d = 50/100, comma-separated",
            ["order-mcmc", "mcmc", "gflownet"],
            subset_of(_SCALE_SAMPLERS),
        ),
        *common_options("bayesguard-out/structure-scale", seeds=2, backend=True),
        Option("--budget", "seconds per sampler and problem (one core)", 120.0, float),
        Option("--large-budget", "seconds per sampler and run at d = 50/100", 600.0, float),
        Option(
            "--dp-dims",
            "sizes of the DP time/memory sweep, comma-separated",
            [10, 12, 14, 15, 16, 18, 20],
            ints,
        ),
        Option("--quick", "d = 10 and 50 only, one seed, 8-12 s budgets: under 2 minutes (80 s here)", False),
        _QUIET,
    ),
)
def structure_scale(args: argparse.Namespace) -> Result:
    """Every sampler against the exact DP truth at d = 10-20, and at d = 50/100 without truth."""
    scale = _with_torch("structure_scale", "bench structure-scale")
    if args.quick:
        args.truth_dims, args.large_dims, args.graphs, args.n_samples = [10], [50], ["ER-2"], [100]
        args.scores, args.seeds, args.budget, args.large_budget, args.dp_dims = (
            ["bge"],
            1,
            12.0,
            8.0,
            [10, 12],
        )
    seeds = _seeds(args)
    if max(args.truth_dims, default=0) > 24 or min(args.truth_dims + args.large_dims, default=2) < 2:
        raise ValueError("--truth-dims/--large-dims: truth d in [2, 24] (the DP's 2^d tables), large d >= 2")
    masked = sorted(set(args.large_samplers) - {"order-mcmc"})
    if max(args.large_dims, default=0) > 62 and masked:
        raise ValueError(
            f"--large-samplers: {masked} hold parent sets as 64-bit masks, so d <= 62; above, use order-mcmc"
        )
    print(
        f"structure at scale: truth d in {args.truth_dims} ({args.graphs}, N in {args.n_samples}, "
        f"{args.scores}), {args.budget:g} s per sampler; d in {args.large_dims} at {args.large_budget:g} s; "
        f"seeds {seeds}"
    )
    t0 = time.perf_counter()
    rows, cost, large = scale.run_structure_scale(
        args.truth_dims,
        args.large_dims,
        seeds,
        args.budget,
        graphs=args.graphs,
        n_samples=args.n_samples,
        scores=args.scores,
        samplers=args.samplers,
        large_samplers=args.large_samplers,
        large_budget=args.large_budget,
        workers=args.workers,
        progress=not args.quiet,
        backend=args.backend,
        address=args.address,
    )
    sweep = scale.dp_cost(args.dp_dims)
    truth_cols = {
        "d": col("d"),
        "graph": col("graph"),
        "N": col("n_samples"),
        "score": col("score"),
        "seed": col("seed"),
        "sampler": col("sampler"),
        "edge max err": col("edge_max_error", ".3f"),
        "edge RMSE": col("edge_rmse", ".4f"),
        "R-hat": col("r_hat", ".3f"),
        "E[SHD]": col("expected_shd", ".1f"),
        "AUROC": col("edge_auroc", ".3f"),
    }
    large_cols = {
        "d": col("d"),
        "seed": col("seed"),
        "run": col("run"),
        "sampler": col("sampler"),
        "E[SHD]": col("expected_shd", ".1f"),
        "empty SHD": col("empty_graph_shd"),
        "AUROC": col("edge_auroc", ".3f"),
        "R-hat": col("r_hat", ".3f"),
        "run gap": col("run_disagreement", ".3f"),
        "edges": col("mean_edges", ".1f"),
    }
    cost_cols = {
        "d": col("d"),
        "prior": col("prior"),
        "k": col("max_parents"),
        "sets": col("parent_sets"),
        "seconds": col("seconds", ".2f"),
        "memory MB": col("stated_memory_mb", ".0f"),
        "peak RSS MB": col("peak_rss_mb", ".0f"),
        "norm. error": col("normalisation_error", ".1e"),
    }
    return Result(
        raw={"structure_truth.csv": rows, "structure_large.csv": large, "dp_cost.csv": sweep + cost},
        tables=(Table(rows, truth_cols), Table(large, large_cols), Table(sweep, cost_cols)),
        settings={
            "truth_dims": args.truth_dims,
            "large_dims": args.large_dims,
            "graphs": args.graphs,
            "n_samples": args.n_samples,
            "scores": args.scores,
            "samplers": args.samplers,
            "large_samplers": args.large_samplers,
            "seeds": seeds,
            "budget_s": args.budget,
            "large_budget_s": args.large_budget,
            "workers": args.workers,
            "backend": args.backend,
            "address": args.address,
            "note": "each problem's samplers run one after another in one process on one core",
        },
        record="structure_scale_run.json",
        plots=(Plot("structure_scale.png", plots.plot_structure_scale, (rows, large)),),
        notes=(f"\nwall time {time.perf_counter() - t0:.0f} s",),
    )


@register(
    "plant",
    group="bench",
    help="World 3, the ambiguous plant: guard rules x posterior samplers on harm, reward, asks",
    options=(
        *common_options("bayesguard-out/plant", seeds=4, backend=True),
        Option("--steps", "steps per episode", 60, positive),
        Option("--d", "variables, 8 to 15", 8, positive),
        Option("--threshold", "the harm threshold C", 0.05, float),
        Option(
            "--samplers",
            "dp, mcmc and/or gflownet, comma-separated",
            ["dp", "mcmc", "gflownet"],
            _plant_samplers,
        ),
        Option(
            "--truth",
            "the hidden orientation: valve -> pressure, pressure -> valve, or mixed over seeds",
            "mixed",
            choices=("mixed", "valve", "pressure"),
        ),
        Option("--mcmc-seconds", "structure-MCMC budget per world", 20.0, float),
        Option("--gfn-seconds", "GFlowNet training budget per world", 60.0, float),
        _QUIET,
    ),
)
def plant(args: argparse.Namespace) -> Result:
    """Every guard rule with every posterior sampler on the ambiguous plant."""
    from .plant import PlantConfig, config_dict, run_plant, summarise

    if "gflownet" in args.samplers:
        try:
            import torch  # noqa: F401
        except ImportError as exc:
            raise NeedsExtra(f"the gflownet sampler needs PyTorch: {_GFN} ({exc})") from exc
    seeds = _seeds(args)
    cfg = PlantConfig(
        d=args.d,
        steps=args.steps,
        threshold=args.threshold,
        mcmc_seconds=args.mcmc_seconds,
        gfn_seconds=args.gfn_seconds,
    )
    print(
        f"the ambiguous plant: d = {cfg.d}, seeds {seeds}, {cfg.steps} steps, "
        f"samplers {args.samplers}, truth {args.truth}"
    )
    rows = run_plant(
        seeds, args.samplers, cfg=cfg, truth=args.truth, workers=args.workers, progress=not args.quiet,
        backend=args.backend, address=args.address,
    )  # fmt: skip
    summary = summarise(rows)
    columns = {
        "sampler": col("sampler"),
        "rule": col("rule"),
        "harm rate": pm("harm_rate"),
        "reward": pm("reward", 2),
        "regret": col("regret_vs_best_safe", ".2f"),
        "ask": col("ask_rate", ".3f"),
        "reject": col("reject_rate", ".3f"),
        "ms p50 / p99": lambda r: f"{r['decision_ms_p50']:.2f} / {r['decision_ms_p99']:.1f}",
    }
    return Result(
        raw={"plant_steps.csv": rows},
        summary={"plant_summary.csv": summary},
        tables=(Table(summary, columns),),
        settings={
            "seeds": seeds,
            "samplers": args.samplers,
            "truth": args.truth,
            "config": config_dict(cfg),
            "workers": args.workers,
            "backend": args.backend,
            "address": args.address,
            "note": "each (seed, sampler) pair runs every rule in its own process on one core",
        },
        record="plant_run.json",
        plots=(Plot("plant.png", plots.plot_plant, (summary,)),),
    )
