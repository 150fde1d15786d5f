"""The ``bayesguard`` command: ``demo`` and the ``bench`` subcommands."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np

from .experiments.bandit_episodes import BanditConfig
from .experiments.bandit_grid import ALPHAS, THRESHOLDS, TIES, Cell, grid_cells, run_grid, run_tightness
from .experiments.results import write_csv, write_json
from .experiments.two_doors import run_two_doors, two_doors_family
from .guard.guardrail import Guardrail
from .inference.exact import exact_posterior


def _floats(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _ties(text: str) -> list[str]:
    out = [t.strip() for t in text.split(",") if t.strip()]
    bad = [t for t in out if t not in TIES]
    if bad or not out:
        raise argparse.ArgumentTypeError(f"expected a comma-separated subset of {TIES}, got {text!r}")
    return out


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return n


def _table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> str:
    cells = [[str(h) for h in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _pm(mean: float, se: float, digits: int = 3) -> str:
    return f"{mean:.{digits}f} ± {2 * se:.{digits}f}"


def _plot(name: str, rows: Sequence[dict], path: Path) -> None:
    """Draw one of :mod:`bayesguard.experiments.plots` if matplotlib is there; say so if not."""
    try:
        from .experiments import plots
    except ImportError as exc:
        print(f"no plots: {exc}")
        return
    try:
        print(f"wrote {getattr(plots, name)(rows, path)}")
    except ImportError as exc:
        print(f"no plots: {exc}")


def _demo_valve(seed: int) -> list[dict]:
    """World 3 in miniature: the causal guard's verdicts and one ASK explained."""
    from .experiments.valve_demo import valve_verdicts

    print(
        "\nWorld 3 in miniature: does opening the valve raise the pressure? Observations cannot tell\n"
        "pressure -> valve (the truth) from valve -> pressure; a manual says the latter is very unlikely\n"
        "(prior 0.001). Causal guard, C = 0.05, exact posterior over all 25 DAGs or 1,000 sampled graphs:"
    )
    verdicts = valve_verdicts(seed)
    rows = [
        [label, action, v.decision.value, f"{v.harm_estimate:.3f}", v.witness_source]
        for label, action, v in verdicts
    ]
    print(_table(rows, ["guard", "action", "verdict", "cautious bound", "witness from"]))
    ask = next(v for _, _, v in verdicts if v.decision.value == "ASK")
    print("\nThe first ASK, explained:\n" + ask.explain())
    return [{"guard": label, "action_name": action, **v.to_dict()} for label, action, v in verdicts]


def cmd_demo(args: argparse.Namespace) -> int:
    out = Path(args.out)
    family = two_doors_family()
    posterior = exact_posterior(family)
    print("World 1: two doors. Two theories explain the data equally well:")
    for t in range(family.n_theories):
        print(f"  p = {posterior.probs[t]:.2f}  {family.describe(t)}")
    print("\nVerdicts (C = 0.1):")
    rows = []
    for rule, alpha in (("none", None), ("posterior", None), ("cautious-iid", None), ("cautious", 0.5)):
        guard = Guardrail(family, posterior, rule, 0.1, alpha=alpha)
        for v in guard.check_all(None):
            rows.append([guard.rule.value, family.action_names[v.action], v.decision.value, v.reason])
    print(_table(rows, ["rule", "action", "verdict", "reason"]))
    print(f"\nOutcomes over {args.episodes:,} episodes (greedy agent trusting one theory at random):")
    doors = [
        run_two_doors(args.episodes, args.seed, rule, 0.1, alpha)
        for rule, alpha in (("none", None), ("oracle", None), ("posterior", None), ("cautious", 0.5))
    ]
    print(
        _table(
            [[d["rule"], _pm(d["death_rate"], d["death_se"]), f"{d['reward_mean']:.3f}"] for d in doors],
            ["rule", "death rate ± 2se", "mean reward"],
        )
    )

    config = BanditConfig()
    n_bandit = max(args.episodes // 10, 2)
    print(f"\nWorld 2: the exploding bandit ({n_bandit} episodes per rule, C = 0.1, 2**10 theories):")
    cells = [
        Cell("none", 0.1),
        Cell("oracle", 0.1),
        Cell("posterior", 0.1),
        Cell("cautious-iid", 0.1),
        Cell("cautious", 0.1, 0.1, "order"),
        Cell("cautious", 0.1, 0.1, "worst"),
    ]
    t0 = time.perf_counter()
    bandit = run_grid(config, n_bandit, args.seed, cells, workers=1, progress=False)
    for row, cell in zip(bandit, cells, strict=True):
        row["label"] = cell.label
    print(
        _table(
            [
                [
                    b["label"],
                    _pm(b["reward_mean"], b["reward_se"], 2),
                    _pm(b["death_rate"], b["death_se"]),
                    f"{b['all_rejected_rate']:.3f}",
                ]
                for b in bandit
            ],
            ["rule", "reward ± 2se", "death rate ± 2se", "all arms rejected"],
        )
    )
    print(f"({time.perf_counter() - t0:.1f} s)")
    valve = _demo_valve(args.seed)
    write_csv(doors, out / "demo_two_doors.csv")
    write_csv(valve, out / "demo_valve.csv")
    write_csv(bandit, out / "demo_bandit.csv")
    try:
        from .experiments.plots import plot_demo

        path = plot_demo(doors, bandit, out / "demo.png")
        print(
            f"\nwrote {path}, {out / 'demo_two_doors.csv'}, {out / 'demo_bandit.csv'}, "
            f"{out / 'demo_valve.csv'}"
        )
    except ImportError as exc:
        print(f"\nno plot: {exc}")
    return 0


def cmd_bench_bandit(args: argparse.Namespace) -> int:
    out = Path(args.out)
    config = BanditConfig()
    cells = grid_cells(args.thresholds, args.alphas, args.ties)
    print(f"exploding bandit: {len(cells)} cells x {args.episodes:,} episodes, seed {args.seed}")
    t0 = time.perf_counter()
    rows = run_grid(config, args.episodes, args.seed, cells, batch_size=args.batch_size, workers=args.workers)
    grid_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    tight = run_tightness(config, args.tightness_episodes or args.episodes, args.seed, args.alphas, args.ties)
    tight_s = time.perf_counter() - t1
    csv_path = write_csv(rows, out / "bandit_grid.csv")
    tight_path = write_csv(tight, out / "bandit_tightness.csv")
    meta = write_json(
        {
            "command": " ".join(sys.argv),
            "config": asdict(config),
            "episodes": args.episodes,
            "tightness_episodes": args.tightness_episodes or args.episodes,
            "seed": args.seed,
            "cells": len(cells),
            "workers": args.workers,
            "batch_size": args.batch_size,
            "grid_seconds": grid_s,
            "tightness_seconds": tight_s,
            "files": [csv_path.name, tight_path.name],
        },
        out / "bandit_run.json",
    )
    print(
        _table(
            [
                [
                    r["threshold"],
                    Cell(r["rule"], r["threshold"], r["alpha"], r["ties"]).label,
                    _pm(r["reward_mean"], r["reward_se"], 2),
                    _pm(r["death_rate"], r["death_se"], 4),
                ]
                for r in rows
            ],
            ["C", "rule", "reward ± 2se", "death rate ± 2se"],
        )
    )
    print()
    print(
        _table(
            [
                [
                    f"{t['alpha']:g}",
                    t["ties"],
                    f"{t['bound']:.4f}",
                    _pm(t["freq_step"], t["freq_step_se"], 4),
                    _pm(t["freq_episode"], t["freq_episode_se"], 4),
                ]
                for t in tight
            ],
            ["alpha", "ties", "bound", "per decision ± 2se", "whole episode ± 2se"],
        )
    )
    print(f"\ngrid {grid_s:.1f} s, tightness {tight_s:.1f} s; wrote {csv_path}, {tight_path}, {meta}")
    if not args.no_plots:
        _plot("plot_grid", rows, out / "bandit_grid.png")
        _plot("plot_tightness", tight, out / "bandit_tightness.png")
    return 0


def cmd_bench_structure(args: argparse.Namespace) -> int:
    try:
        from .experiments.structure_small import run_structure_small, summarise
    except ImportError as exc:
        print(f"bench structure needs PyTorch: pip install 'bayesguard[gfn]' ({exc})", file=sys.stderr)
        return 2
    out = Path(args.out)
    seeds = list(range(args.seed, args.seed + args.seeds))
    print(f"structure posterior, d = 5: seeds {seeds}, budgets {args.budgets} s, samplers {args.samplers}")
    t0 = time.perf_counter()
    rows = run_structure_small(
        seeds, args.budgets, samplers=args.samplers, workers=args.workers, progress=not args.quiet
    )
    summary = summarise(rows)
    raw = write_csv(rows, out / "structure_small_raw.csv")
    summ = write_csv(summary, out / "structure_small.csv")
    meta = write_json(
        {
            "command": " ".join(sys.argv),
            "seeds": seeds,
            "budgets_s": args.budgets,
            "samplers": args.samplers,
            "workers": args.workers,
            "note": "each (seed, sampler) task runs in its own process on one core, `workers` at a time",
            "seconds": time.perf_counter() - t0,
            "files": [raw.name, summ.name],
        },
        out / "structure_small_run.json",
    )
    print(
        _table(
            [
                [
                    r["sampler"],
                    f"{r['budget_s']:g}",
                    _pm(r["jsd"], r["jsd_se"], 4),
                    _pm(r["jsd_samples"], r["jsd_samples_se"], 4),
                    _pm(r["edge_rmse"], r["edge_rmse_se"], 4),
                    f"{r['edge_pearson']:.4f}",
                ]
                for r in summary
            ],
            ["sampler", "seconds", "JSD ± 2se", "JSD (samples) ± 2se", "edge RMSE ± 2se", "edge r"],
        )
    )
    print(f"wrote {raw}, {summ}, {meta}")
    if not args.no_plots:
        _plot("plot_structure_small", summary, out / "structure_small.png")
    return 0


def cmd_bench_structure_scale(args: argparse.Namespace) -> int:
    try:
        from .experiments.structure_scale import run_structure_scale, score_cost
    except ImportError as exc:
        print(f"bench structure-scale needs PyTorch: pip install 'bayesguard[gfn]' ({exc})", file=sys.stderr)
        return 2
    out = Path(args.out)
    seeds = list(range(args.seed, args.seed + args.seeds))
    print(
        f"structure at scale: d in {args.dims}, seeds {seeds}, "
        f"{args.budget:g} s per sampler, Sachs: {not args.no_sachs}"
    )
    t0 = time.perf_counter()
    rows = run_structure_scale(
        args.dims, seeds, args.budget, sachs=not args.no_sachs, workers=args.workers, progress=not args.quiet
    )
    cost = [score_cost(d) for d in args.dims]
    raw = write_csv(rows, out / "structure_scale.csv")
    cost_path = write_csv(cost, out / "structure_score_cost.csv")
    meta = write_json(
        {
            "command": " ".join(sys.argv),
            "dims": args.dims,
            "seeds": seeds,
            "budget_s": args.budget,
            "workers": args.workers,
            "note": "each (problem, seed, sampler) task runs in its own process on one core",
            "seconds": time.perf_counter() - t0,
            "files": [raw.name, cost_path.name],
        },
        out / "structure_scale_run.json",
    )
    print(
        _table(
            [
                [
                    r["problem"],
                    r["d"],
                    r["seed"],
                    r["sampler"],
                    f"{r['expected_shd']:.1f}",
                    f"{r['edge_auroc']:.3f}",
                    f"{r['mean_edges']:.1f} / {r['true_edges']}",
                    r["steps"],
                    f"{r['peak_rss_mb']:.0f}",
                ]
                for r in rows
            ],
            ["problem", "d", "seed", "sampler", "E[SHD]", "AUROC", "edges / true", "steps", "peak MB"],
        )
    )
    for c in cost:
        print(
            f"d = {c['d']}: {c['us_per_score']:.2f} us per BGe local score (batched), "
            f"{c['us_per_cached']:.2f} us cached"
        )
    print(f"wrote {raw}, {cost_path}, {meta}")
    if not args.no_plots:
        _plot("plot_structure_scale", rows, out / "structure_scale.png")
    return 0


def cmd_bench_plant(args: argparse.Namespace) -> int:
    from .experiments.plant import PlantConfig, config_dict, run_plant, summarise

    if "gflownet" in args.samplers:
        try:
            import torch  # noqa: F401
        except ImportError as exc:
            print(
                f"the gflownet sampler needs PyTorch: pip install 'bayesguard[gfn]' ({exc})", file=sys.stderr
            )
            return 2
    out = Path(args.out)
    seeds = list(range(args.seed, args.seed + args.seeds))
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
    t0 = time.perf_counter()
    rows = run_plant(
        seeds, args.samplers, cfg=cfg, truth=args.truth, workers=args.workers, progress=not args.quiet
    )
    summary = summarise(rows)
    raw = write_csv(rows, out / "plant_steps.csv")
    summ = write_csv(summary, out / "plant_summary.csv")
    meta = write_json(
        {
            "command": " ".join(sys.argv),
            "seeds": seeds,
            "samplers": args.samplers,
            "truth": args.truth,
            "config": config_dict(cfg),
            "seconds": time.perf_counter() - t0,
            "note": "each (seed, sampler) pair runs every rule in its own process on one core",
            "files": [raw.name, summ.name],
        },
        out / "plant_run.json",
    )
    print(
        _table(
            [
                [
                    r["sampler"],
                    r["rule"],
                    _pm(r["harm_rate"], r["harm_rate_se"]),
                    _pm(r["reward"], r["reward_se"], 2),
                    f"{r['regret_vs_best_safe']:.2f}",
                    f"{r['ask_rate']:.3f}",
                    f"{r['reject_rate']:.3f}",
                    f"{r['decision_ms_p50']:.2f} / {r['decision_ms_p99']:.1f}",
                ]
                for r in summary
            ],
            ["sampler", "rule", "harm rate", "reward", "regret", "ask", "reject", "ms p50 / p99"],
        )
    )
    print(f"wrote {raw}, {summ}, {meta}")
    if not args.no_plots:
        _plot("plot_plant", summary, out / "plant.png")
    return 0


def _samplers(text: str) -> list[str]:
    vals = [t.strip() for t in text.split(",") if t.strip()]
    bad = [v for v in vals if v not in ("gflownet", "mcmc")]
    if not vals or bad:
        raise argparse.ArgumentTypeError(f"expected gflownet and/or mcmc, comma-separated, got {text!r}")
    return vals


def _common(
    p: argparse.ArgumentParser, out: str, *, workers: int | None = 2, seeds: int | None = None
) -> None:
    """Options every benchmark shares."""
    if seeds is not None:
        p.add_argument("--seeds", type=_positive, default=seeds, help="number of seeds (worlds or data sets)")
    p.add_argument("--seed", type=int, default=0, help="first seed (runs are reproducible from it)")
    p.add_argument("--out", default=out, help="directory for the raw CSV/JSON results and plots")
    p.add_argument(
        "--workers", type=_positive, default=workers, help="processes, one core each (None: every CPU)"
    )
    p.add_argument("--no-plots", action="store_true", help="write no PNG plots")


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.ArgumentDefaultsHelpFormatter
    parser = argparse.ArgumentParser(
        prog="bayesguard",
        description="A Bayesian harm guardrail between an AI agent and the world.",
        formatter_class=fmt,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo", help="two doors, a small exploding-bandit run and World 3 in miniature", formatter_class=fmt
    )
    demo.add_argument("--episodes", type=_positive, default=10_000, help="two-doors episodes per rule")
    demo.add_argument("--seed", type=int, default=0, help="random seed")
    demo.add_argument("--out", default="bayesguard-out", help="directory for the CSVs and the plot")
    demo.set_defaults(func=cmd_demo)

    bench = sub.add_parser("bench", help="reproducible experiments", formatter_class=fmt)
    bench_sub = bench.add_subparsers(dest="bench", required=True)
    bandit = bench_sub.add_parser(
        "bandit", help="the exploding-bandit grid and tightness experiment", formatter_class=fmt
    )
    bandit.add_argument("--episodes", type=_positive, default=10_000, help="episodes per cell")
    _common(bandit, "bayesguard-out/bandit", workers=None)
    bandit.add_argument("--batch-size", type=_positive, default=500, help="episodes advanced together")
    bandit.add_argument(
        "--thresholds", type=_floats, default=list(THRESHOLDS), help="harm thresholds C, comma-separated"
    )
    bandit.add_argument(
        "--alphas", type=_floats, default=list(ALPHAS), help="cautious alphas, comma-separated"
    )
    bandit.add_argument(
        "--ties",
        type=_ties,
        default=list(TIES),
        help="tie modes of the cautious rule, comma-separated: worst, order (listing order), random",
    )
    bandit.add_argument(
        "--tightness-episodes",
        type=_positive,
        default=None,
        help="episodes of the tightness run (None: --episodes)",
    )
    bandit.set_defaults(func=cmd_bench_bandit)

    structure = bench_sub.add_parser(
        "structure",
        help="d = 5 structure posterior: GFlowNet and MCMC against exact enumeration",
        formatter_class=fmt,
    )
    _common(structure, "bayesguard-out/structure", seeds=10)
    structure.add_argument(
        "--budgets", type=_floats, default=[60.0, 300.0, 1200.0], help="wall-clock seconds, comma-separated"
    )
    structure.add_argument(
        "--samplers",
        type=_samplers,
        default=["gflownet", "mcmc"],
        help="gflownet and/or mcmc, comma-separated",
    )
    structure.add_argument("--quiet", action="store_true", help="no progress bars")
    structure.set_defaults(func=cmd_bench_structure)

    scale = bench_sub.add_parser(
        "structure-scale",
        help="d = 20 / 50 and Sachs: expected SHD and edge AUROC, MCMC vs GFlowNet",
        formatter_class=fmt,
    )
    scale.add_argument(
        "--dims",
        type=lambda t: [int(v) for v in _floats(t)],
        default=[20, 50],
        help="numbers of variables, comma-separated",
    )
    _common(scale, "bayesguard-out/structure-scale", seeds=3)
    scale.add_argument("--budget", type=float, default=120.0, help="seconds per sampler and problem")
    scale.add_argument("--no-sachs", action="store_true", help="skip the Sachs flow-cytometry problem")
    scale.add_argument("--quiet", action="store_true", help="no progress bars")
    scale.set_defaults(func=cmd_bench_structure_scale)

    plant = bench_sub.add_parser(
        "plant",
        help="World 3, the ambiguous plant: guard rules x posterior samplers on harm, reward, asks",
        formatter_class=fmt,
    )
    _common(plant, "bayesguard-out/plant", seeds=4)
    plant.add_argument("--steps", type=_positive, default=60, help="steps per episode")
    plant.add_argument("--d", type=_positive, default=8, help="variables, 8 to 15")
    plant.add_argument("--threshold", type=float, default=0.05, help="the harm threshold C")
    plant.add_argument(
        "--samplers",
        type=_samplers,
        default=["mcmc", "gflownet"],
        help="gflownet and/or mcmc, comma-separated",
    )
    plant.add_argument(
        "--truth",
        choices=["mixed", "valve", "pressure"],
        default="mixed",
        help="the hidden orientation: valve -> pressure, pressure -> valve, or mixed over seeds",
    )
    plant.add_argument("--mcmc-seconds", type=float, default=20.0, help="structure-MCMC budget per world")
    plant.add_argument("--gfn-seconds", type=float, default=60.0, help="GFlowNet training budget per world")
    plant.add_argument("--quiet", action="store_true", help="no progress bars")
    plant.set_defaults(func=cmd_bench_plant)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (ValueError, TypeError) as exc:
        parser.exit(2, f"bayesguard: error: {exc}\n")
    return 1


if __name__ == "__main__":  # pragma: no cover
    np.seterr(all="warn")
    sys.exit(main())
