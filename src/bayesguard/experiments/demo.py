"""``bayesguard demo``, registered: two doors, a small exploding-bandit run and World 3 in miniature.

Every verdict table shows whether the verdict's number is guaranteed, and every verdict CSV has a
``guaranteed`` column (and the ``assumptions`` behind it).
"""

from __future__ import annotations

import argparse
import time

from . import plots
from .registry import Option, positive, register
from .report import VERDICT_COLUMNS, Plot, Result, Table, col, pm, verdict_row

_C = 0.1  # the harm threshold of the two-doors and bandit parts


def _two_doors(args: argparse.Namespace) -> tuple[list[dict], list[dict], str]:
    """The guard's verdicts on both doors under each rule, the outcomes of each rule, the table title."""
    from ..guard.guardrail import Guardrail
    from ..inference.exact import exact_posterior
    from .two_doors import run_two_doors, two_doors_family

    family = two_doors_family()
    posterior = exact_posterior(family)
    theories = "\n".join(
        f"  p = {posterior.probs[t]:.2f}  {family.describe(t)}" for t in range(family.n_theories)
    )
    verdicts = []
    for rule, alpha in (("none", None), ("posterior", None), ("cautious-iid", None), ("cautious", 0.5)):
        guard = Guardrail(family, posterior, rule, _C, alpha=alpha)
        verdicts += [
            verdict_row(v, rule=guard.rule.value, action_name=family.action_names[v.action])
            for v in guard.check_all(None)
        ]
    doors = [
        run_two_doors(args.episodes, args.seed, rule, _C, alpha)
        for rule, alpha in (("none", None), ("oracle", None), ("posterior", None), ("cautious", 0.5))
    ]
    title = (
        f"World 1: two doors. Two theories explain the data equally well:\n{theories}\n\nVerdicts (C = {_C}):"
    )
    return verdicts, doors, title


def _bandit(args: argparse.Namespace) -> tuple[list[dict], float]:
    """A few hundred exploding-bandit episodes per rule; the rows and the seconds taken."""
    from .bandit_episodes import BanditConfig
    from .bandit_grid import Cell, run_grid

    cells = [
        Cell("none", _C),
        Cell("oracle", _C),
        Cell("posterior", _C),
        Cell("cautious-iid", _C),
        Cell("cautious", _C, 0.1, "order"),
        Cell("cautious", _C, 0.1, "worst"),
    ]
    t0 = time.perf_counter()
    rows = run_grid(BanditConfig(), _bandit_episodes(args), args.seed, cells, workers=1, progress=False)
    for row, cell in zip(rows, cells, strict=True):
        row["label"] = cell.label
    return rows, time.perf_counter() - t0


def _bandit_episodes(args: argparse.Namespace) -> int:
    return max(args.episodes // 10, 2)


def _valve(args: argparse.Namespace) -> tuple[list[dict], str]:
    """World 3 in miniature: the causal guards' verdict rows and the first ASK explained."""
    from .valve_demo import valve_verdicts

    verdicts = valve_verdicts(args.seed)
    ask = next(v for _, _, v in verdicts if v.decision.value == "ASK")
    rows = [verdict_row(v, guard=label, action_name=action) for label, action, v in verdicts]
    return rows, "\nThe first ASK, explained:\n" + ask.explain()


_VALVE_TITLE = (
    "World 3 in miniature: does opening the valve raise the pressure? Observations cannot tell\n"
    "pressure -> valve (the truth) from valve -> pressure; a manual says the latter is very unlikely\n"
    "(prior 0.001). Causal guard, C = 0.05, exact posterior over all 25 DAGs or 1,000 sampled graphs:"
)


@register(
    "demo",
    help="two doors, a small exploding-bandit run and World 3 in miniature",
    options=(
        Option(
            "--episodes", "two-doors episodes per rule (the bandit plays a tenth of them)", 10_000, positive
        ),
        Option("--seed", "random seed", 0, int),
        Option("--out", "directory for the CSVs, the JSON record and the plot", "bayesguard-out", str),
        Option("--no-plots", "draw no plot", False),
    ),
)
def demo(args: argparse.Namespace) -> Result:
    """The three worlds of the talk in a few seconds."""
    verdicts, doors, doors_title = _two_doors(args)
    bandit, bandit_s = _bandit(args)
    valve, ask = _valve(args)
    n_bandit = _bandit_episodes(args)
    tables = (
        Table(
            verdicts,
            {"rule": col("rule"), "action": col("action_name"), **VERDICT_COLUMNS, "reason": col("reason")},
            title=doors_title,
        ),
        Table(
            doors,
            {
                "rule": col("rule"),
                "death rate ± 2se": pm("death_rate", 3, "death_se"),
                "mean reward": col("reward_mean", ".3f"),
            },
            title=f"Outcomes over {args.episodes:,} episodes (greedy agent trusting one theory at random):",
        ),
        Table(
            bandit,
            {
                "rule": col("label"),
                "reward ± 2se": pm("reward_mean", 2, "reward_se"),
                "death rate ± 2se": pm("death_rate", 3, "death_se"),
                "all arms rejected": col("all_rejected_rate", ".3f"),
            },
            title=f"World 2: the exploding bandit ({n_bandit} episodes per rule, C = {_C}, 2**10 theories):",
            note=f"({bandit_s:.1f} s)",
        ),
        Table(
            valve,
            {
                "guard": col("guard"),
                "action": col("action_name"),
                **VERDICT_COLUMNS,
                "cautious bound": col("harm_estimate", ".3f"),
                "witness from": col("witness_source"),
            },
            title=_VALVE_TITLE,
            note=ask,
        ),
    )
    return Result(
        raw={"demo_two_doors.csv": doors, "demo_valve.csv": valve, "demo_bandit.csv": bandit},
        summary={"demo_verdicts.csv": verdicts},
        tables=tables,
        settings={"episodes": args.episodes, "bandit_episodes": n_bandit, "seed": args.seed, "threshold": _C},
        timings={"bandit_seconds": bandit_s},
        record="demo_run.json",
        plots=(Plot("demo.png", plots.plot_demo, (doors, bandit)),),
    )
