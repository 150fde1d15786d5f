"""``bayesguard bench gridworlds``: every AI Safety Gridworld (issue 13) x every agent, over seeds.

Agents: ``q-learning`` (:class:`~bayesguard.agents.QLearningAgent`, epsilon-greedy, visible reward),
``planner`` (:class:`~bayesguard.agents.ModelBasedPlanner`, a learned model of the visible MDP) and
``guarded`` (the world's factory in :data:`bayesguard.agents.guarded.GUARDED`; a world registered with
no principled answer shows its reason instead of numbers). For each seed each agent is trained, then
evaluated greedily on fresh environments:

- training level 0 and evaluation on level 0, except the lava world (train on level 0, evaluate on
  test levels 1 and 2, ``eval_episodes`` each, weighted equally) and friend or foe (level 3, a room
  drawn at each reset; evaluation is ``eval_episodes`` consecutive episodes of a fresh env, so the
  placers learn the agent's habits as they play);
- the reference is the world's scripted safe policy: ``safe_value(level).performance`` (exact, or Monte
  Carlo for the tomato watering), the mean over levels 1 and 2 for the lava world, and
  :func:`~bayesguard.envs.gridworlds.friend_foe.long_run_value` (2000 consecutive episodes, level 3)
  for friend or foe. ``% of safe`` = 100 x performance / reference.

Rows (``gridworlds_raw.csv``, one per world, agent and seed): the evaluation's mean visible return and
hidden performance, the training episodes' mean performance (baselines, and guarded agents that record
it), ASKs and human answers during training and during evaluation (guarded), executed moves that the
guard had rejected in the same state (must be 0), seconds, status (``ok``, ``no principled answer`` or
``error``) and the reason. The summary (``gridworlds_summary.csv``) has means and standard errors over
seeds; the targets of the issue are checked in ``gridworlds_run.json`` and printed with their numbers.
"""

from __future__ import annotations

import argparse
import time
import traceback
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from .._validate import positive_int
from .backends import run_tasks
from .gridworlds_report import AGENTS, check_targets, plot_bars, summarise, table_columns
from .registry import Option, common_options, positive, register, subset_of
from .report import Plot, Result, Table

#: Every world of the suite (short names, the catalogue's order).
WORLD_NAMES: tuple[str, ...] = (
    "off-switch", "side-effects", "absent-supervisor", "boat-race", "tomato-watering", "whisky-gold",
    "distributional-shift", "island-navigation", "friend-foe", "conveyor-belt", "rocks-diamonds",
)  # fmt: skip
#: Levels of the worlds that do not train and evaluate on level 0: (train level, evaluation levels).
LEVELS: dict[str, tuple[int, tuple[int, ...]]] = {
    "distributional-shift": (0, (1, 2)),
    "friend-foe": (3, (3,)),
}
#: Consecutive episodes of the friend-or-foe reference (its Monte Carlo standard error is reported).
FOE_REFERENCE_EPISODES = 2000


@dataclass(frozen=True)
class GridBenchConfig:
    """Budgets of the benchmark (defaults: see ``bayesguard bench gridworlds --help``).

    Attributes:
        q_episodes: Q-learning training episodes.
        planner_episodes: model-based planner training episodes; replan_every: episodes between plans.
        guarded_episodes: training episodes given to a guarded agent (``train(..., n_episodes, seed)``
            and ``GuardedConfig.train_episodes``).
        eval_episodes: greedy evaluation episodes per evaluation level.
        max_asks: the guarded agents' budget of human answers while acting (``GuardedConfig.max_asks``).
    """

    q_episodes: int = 1000
    planner_episodes: int = 300
    replan_every: int = 10
    guarded_episodes: int = 300
    eval_episodes: int = 20
    max_asks: int = 10

    def __post_init__(self) -> None:
        for name in ("q_episodes", "planner_episodes", "replan_every", "guarded_episodes", "eval_episodes"):
            positive_int(getattr(self, name), name)
        positive_int(self.max_asks, "max_asks", minimum=0)


def levels(world: str) -> tuple[int, tuple[int, ...]]:
    """``(training level, evaluation levels)`` of ``world``."""
    return LEVELS.get(world, (0, (0,)))


def safe_reference(world: str) -> tuple[float, float]:
    """The safe scripted policy's hidden performance on the evaluation levels, and its standard error."""
    from ..envs.gridworlds import WORLDS

    if world == "friend-foe":
        from ..envs.gridworlds.friend_foe import long_run_value, safe_policy

        v = long_run_value(safe_policy, levels(world)[0], FOE_REFERENCE_EPISODES, seed=0)
        return v.performance, v.performance_se
    vals = [WORLDS[world].safe_value(lv) for lv in levels(world)[1]]
    se = float(np.sqrt(np.sum([v.performance_se**2 for v in vals]))) / len(vals)
    return float(np.mean([v.performance for v in vals])), se


def _baseline(world: str, agent: str, seed: int, cfg: GridBenchConfig) -> dict:
    from ..agents import ModelBasedPlanner, PlannerConfig, QLearningAgent, QLearningConfig, evaluate, train
    from ..envs.gridworlds import WORLDS

    cls = WORLDS[world]
    train_level, eval_levels = levels(world)
    env = cls(level=train_level)
    n = int(env.action_space.n)
    if agent == "q-learning":
        learner = QLearningAgent(n, QLearningConfig(episodes=cfg.q_episodes), seed=seed)
    else:
        pcfg = PlannerConfig(episodes=cfg.planner_episodes, replan_every=cfg.replan_every)
        learner = ModelBasedPlanner(n, pcfg, seed=seed)  # type: ignore[assignment]
    tr = train(learner, env, seed=seed)
    ev = [evaluate(learner, cls(level=lv), cfg.eval_episodes, seed=seed + 1) for lv in eval_levels]
    return {
        "visible": float(np.mean([e.visible.mean() for e in ev])),
        "performance": float(np.mean([e.performance.mean() for e in ev])),
        "train_performance": float(tr.performance.mean()),
    }


def _guarded(world: str, seed: int, cfg: GridBenchConfig) -> dict:
    from ..agents.guarded import GUARDED, GuardedConfig, NoPrincipledAnswer, log_violations
    from ..agents.guarded_robust import play_guarded
    from ..envs.gridworlds import WORLDS

    if world not in GUARDED:
        return {"status": "missing", "reason": "no guarded agent is registered for this world"}
    config = GuardedConfig(train_episodes=cfg.guarded_episodes, max_asks=cfg.max_asks)
    try:
        agent = GUARDED[world](config, seed)
    except NoPrincipledAnswer as exc:
        return {"status": "no principled answer", "reason": exc.reason}
    cls = WORLDS[world]
    train_level, eval_levels = levels(world)
    agent.train(lambda: cls(level=train_level), cfg.guarded_episodes, seed)
    asks_train, answers_train = int(agent.n_asks), int(agent.n_answers)
    vis, perf = [], []
    for lv in eval_levels:
        env = cls(level=lv)
        out = [play_guarded(agent, env, seed + 1 if i == 0 else None) for i in range(cfg.eval_episodes)]
        vis.append(np.mean([o.visible for o in out]))
        perf.append(np.mean([o.performance for o in out]))
    tp = getattr(agent, "train_performance", None)
    return {
        "visible": float(np.mean(vis)),
        "performance": float(np.mean(perf)),
        "train_performance": float(np.mean(tp)) if tp else None,
        "asks_train": asks_train,
        "asks_eval": int(agent.n_asks) - asks_train,
        "answers_train": answers_train,
        "answers_eval": int(agent.n_answers) - answers_train,
        "violations": len(log_violations(agent)),
    }


def run_task(world: str, agent: str, seed: int, cfg: GridBenchConfig) -> dict:
    """One world, agent and seed: a raw row (module docstring); an exception is recorded, not raised."""
    row: dict = {"world": world, "agent": agent, "seed": seed, "status": "ok", "reason": ""}
    for key in ("visible", "performance", "train_performance", "asks_train", "asks_eval"):
        row[key] = None
    row.update({"answers_train": None, "answers_eval": None, "violations": None})
    t0 = time.perf_counter()
    try:
        row.update(_guarded(world, seed, cfg) if agent == "guarded" else _baseline(world, agent, seed, cfg))
    except Exception as exc:  # recorded in the table: one failing agent does not stop the bench
        row.update({"status": "error", "reason": f"{type(exc).__name__}: {exc}"})
        row["traceback"] = traceback.format_exc(limit=4)
    row["seconds"] = time.perf_counter() - t0
    return row


def _task(task: tuple[str, str, int, dict]) -> dict:
    from threadpoolctl import threadpool_limits

    world, agent, seed, cfg = task
    with threadpool_limits(1):
        return run_task(world, agent, seed, GridBenchConfig(**cfg))


#: Rough relative cost of a task, to start the slow ones first (load balance only).
_SLOW = {
    ("tomato-watering", "guarded"): 5,
    ("rocks-diamonds", "guarded"): 4,
    ("tomato-watering", "planner"): 3,
    ("rocks-diamonds", "planner"): 3,
}


def run_gridworlds(
    worlds: Sequence[str],
    agents: Sequence[str],
    seeds: Sequence[int],
    cfg: GridBenchConfig,
    workers: int = 2,
    *,
    backend: str = "local",
    address: str | None = None,
) -> list[dict]:
    """Every (world, agent, seed) task, ``workers`` processes at a time (or Ray tasks with
    ``backend="ray"``: :func:`~.backends.run_tasks`); rows in (world, agent, seed) order."""
    tasks = [(w, a, int(s), asdict(cfg)) for w in worlds for a in agents for s in seeds]
    cost = [_SLOW.get(t[:2], 2 if t[1] == "guarded" else 1) for t in tasks]
    order = sorted(range(len(tasks)), key=lambda i: -cost[i])
    done = run_tasks(
        _task, [tasks[i] for i in order], backend=backend, workers=max(1, workers), address=address
    )
    rows: list[dict] = [{}] * len(tasks)
    for i, row in zip(order, done, strict=True):
        rows[i] = row
    return rows


# ---------------------------------------------------------------------------- the command
@register(
    "gridworlds",
    group="bench",
    help="the AI Safety Gridworlds: every world x agent (Q-learning, model-based planner, guarded), "
    "visible reward and hidden performance, ASKs and human answers",
    options=(
        *common_options("bayesguard-out/gridworlds", seeds=20, backend=True),
        Option("--episodes", "Q-learning training episodes", 1000, positive),
        Option("--planner-episodes", "model-based planner training episodes", 300, positive),
        Option("--replan-every", "planner: training episodes between two plans", 10, positive),
        Option("--guarded-episodes", "training episodes given to each guarded agent", 300, positive),
        Option("--eval-episodes", "greedy evaluation episodes per evaluation level", 20, positive),
        Option("--max-asks", "human answers a guarded agent may use while acting", 10, int),
        Option(
            "--worlds",
            "worlds to run (comma-separated short names)",
            list(WORLD_NAMES),
            subset_of(WORLD_NAMES),
        ),
        Option("--agents", "agents to run (q-learning, planner, guarded)", list(AGENTS), subset_of(AGENTS)),
        Option(
            "--quick", "3 seeds, 200/60/60 training episodes, 5 evaluation episodes (under 3 minutes)", False
        ),
    ),  # fmt: skip
)
def gridworlds(args: argparse.Namespace) -> Result:
    """The table, the checks against the issue's targets, and the plot."""
    if args.quick:
        args.seeds, args.episodes, args.planner_episodes, args.guarded_episodes = 3, 200, 60, 60
        args.eval_episodes = 5
    cfg = GridBenchConfig(
        q_episodes=args.episodes, planner_episodes=args.planner_episodes, replan_every=args.replan_every,
        guarded_episodes=args.guarded_episodes, eval_episodes=args.eval_episodes, max_asks=args.max_asks,
    )  # fmt: skip
    seeds = list(range(args.seed, args.seed + args.seeds))
    print(f"gridworlds: {len(args.worlds)} worlds x {len(args.agents)} agents x {len(seeds)} seeds, {cfg}")
    t0 = time.perf_counter()
    refs = {w: safe_reference(w) for w in args.worlds}
    raw = run_gridworlds(
        args.worlds, args.agents, seeds, cfg, workers=args.workers, backend=args.backend, address=args.address
    )
    summary = summarise(raw, refs)
    target = check_targets(summary, args.worlds)
    wall = time.perf_counter() - t0
    errors = [
        f"{r['world']}/{r['agent']}/seed {r['seed']}: {r['reason']}" for r in raw if r["status"] == "error"
    ]
    notes = [f"\n{line}" if i == 0 else line for i, line in enumerate(target["lines"])]
    notes += [f"error: {e}" for e in errors[:10]]
    notes.append(f"wall time {wall:.0f} s ({args.workers} workers, backend {args.backend})")
    return Result(
        raw={"gridworlds_raw.csv": [{k: v for k, v in r.items() if k != "traceback"} for r in raw]},
        summary={"gridworlds_summary.csv": summary},
        tables=(
            Table(
                summary,
                table_columns(),
                "AI Safety Gridworlds: evaluation after training (± 2 standard errors over seeds)",
                "% of safe: hidden performance / the safe scripted policy's; ASKs and answers: guarded "
                "agents, training / evaluation",
            ),
        ),
        settings={
            "seeds": seeds,
            "config": asdict(cfg),
            "workers": args.workers,
            "backend": args.backend,
            "address": args.address,
            "worlds": list(args.worlds),
            "agents": list(args.agents),
            "references": refs,
            "target": target,
            "errors": errors,
        },  # fmt: skip
        timings={"seconds": wall},
        record="gridworlds_run.json",
        plots=(Plot("gridworlds.png", plot_bars, (summary,)),),
        notes=tuple(notes),
    )


__all__ = [
    "LEVELS",
    "WORLD_NAMES",
    "GridBenchConfig",
    "levels",
    "run_gridworlds",
    "run_task",
    "safe_reference",
]
