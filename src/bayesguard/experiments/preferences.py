"""``bayesguard bench preferences``: learning a reward from a simulated human's answers, in the
Goodharting gridworld of :mod:`bayesguard.worlds.goodhart`.

For every seed: a world (its layout drawn from the seed), the simulated human (true reward,
Bradley-Terry ``beta``, mistake rate ``eps``), the reward posterior over ``n_candidates`` prior draws
(exact on that set: :func:`~.preferences_agents.reward_posterior`), and a pool of ``n_pool``
trajectories of ``segment`` steps in the seen region, of which ``n_pairs`` random pairs are the
questions that can be asked. Every strategy asks on the same world, pool and pairs (paired seeds).

1. **Query efficiency.** Questions chosen by expected information gain, vote disagreement or at random
   (:mod:`bayesguard.marginal.questions`), one at a time, each answer updating the posterior before the
   next is chosen. After each budget in ``budgets``: the true-reward regret ``V* - V^pi`` of the
   optimal policy of the posterior-mean weights, and the cosine of the posterior mean to ``w*``. The
   issue's target: EIG reaches random selection's regret at the largest budget (40) with at most half
   of it (20). It is checked on the means and reported as measured, met or not.
2. **Goodharting.** After ``goodhart_answers`` answers (random questions: passive; EIG: active), every
   agent of :mod:`~.preferences_agents` picks a policy; its exact true return (as a fraction of
   ``V*``), proxy return and gaming (entering a cell where the proxy exceeds anything the human has seen
   and the true reward is negative; see :mod:`bayesguard.worlds.goodhart`) are recorded. The issue
   asks that the point-estimate maximiser game and that some conservative rule keep >= 90 % of the
   optimal true return while gaming in none of the seeds; both are checked and reported as measured.

Rows: ``efficiency_raw.csv`` (seed, strategy, answers, regret, cosine, games) and ``goodhart_raw.csv``
(seed, queries, agent, true return, fraction of optimal, proxy return, gaming probability), with
summaries (means and standard errors over seeds) and the checks in ``preferences_run.json``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field

import numpy as np

from .._validate import positive_int
from ..marginal.questions import QueryStrategy, sample_pairs
from ..worlds.goodhart import GoodhartConfig, GoodhartWorld
from .preferences_agents import (
    AGENTS,
    AgentConfig,
    ask_questions,
    candidate_family,
    choose_policies,
    mean_weights_regret,
)
from .preferences_report import check_goodhart, check_target, plot_efficiency, plot_goodhart, summarise
from .registry import Option, common_options, ints, positive, register, subset_of
from .report import Plot, Result, Table, col, pm

STRATEGIES = tuple(s.value for s in QueryStrategy)
#: The agents that act conservatively (every agent but the point estimates and the plain mean).
CONSERVATIVE = ("lcb", "worst-case", "cvar", "broil", "quantilizer")


@dataclass(frozen=True)
class PreferenceBenchConfig:
    """Sizes of the benchmark (defaults: about 10 s per seed on one core).

    Attributes:
        n_candidates: prior draws holding the reward posterior.
        n_pool: trajectories the questions compare; n_pairs: candidate questions (random pairs);
        segment: steps per trajectory.
        budgets: numbers of answers at which the query-efficiency curves are read.
        strategies: the query strategies compared.
        goodhart_answers: answers before the agents of the Goodharting table act.
        goodhart_queries: the strategies of that table (``random``: passive; ``eig``: active).
        agents: the agents' parameters; world: the world's.
    """

    n_candidates: int = 3000
    n_pool: int = 60
    n_pairs: int = 300
    segment: int = 10
    budgets: tuple[int, ...] = (0, 5, 10, 20, 40)
    strategies: tuple[str, ...] = STRATEGIES
    goodhart_answers: int = 20
    goodhart_queries: tuple[str, ...] = ("random", "eig")
    agents: AgentConfig = field(default_factory=AgentConfig)
    world: GoodhartConfig = field(default_factory=GoodhartConfig)

    def __post_init__(self) -> None:
        for name in ("n_candidates", "n_pool", "n_pairs", "segment"):
            positive_int(getattr(self, name), name, minimum=2 if name == "n_pool" else 1)
        if not self.budgets or min(self.budgets) < 0:
            raise ValueError(f"budgets: expected numbers of answers >= 0, got {self.budgets}")
        for name in ("strategies", "goodhart_queries"):
            for s in getattr(self, name):
                QueryStrategy.parse(s)
        if self.goodhart_answers < 0:
            raise ValueError(f"goodhart_answers: expected >= 0, got {self.goodhart_answers}")


def run_seed(seed: int, cfg: PreferenceBenchConfig) -> tuple[list[dict], list[dict]]:
    """Both experiments on one world: (query-efficiency rows, Goodharting rows)."""
    world = GoodhartWorld.make(seed, cfg.world)
    human = world.human()
    family = candidate_family(world, cfg.n_candidates, np.random.default_rng([seed, 0]))
    pool_rng = np.random.default_rng([seed, 1])
    _, _, items = world.support_trajectories(cfg.n_pool, cfg.segment, pool_rng)
    pairs = sample_pairs(cfg.n_pool, cfg.n_pairs, pool_rng)
    v_star = world.optimal_true_return()
    efficiency: list[dict] = []
    by_mode: dict[str, list[dict]] = {}
    opt = world.evaluate(world.optimal_policies(world.true_weights))
    strategies = list(dict.fromkeys([*cfg.strategies, *cfg.goodhart_queries]))
    for k, strategy in enumerate(strategies):  # a handful of strategies; each step is batched
        budgets = set(cfg.budgets) if strategy in cfg.strategies else set()
        if strategy in cfg.goodhart_queries:
            budgets.add(cfg.goodhart_answers)
        runs = ask_questions(
            family, items, pairs, human, strategy, tuple(sorted(budgets)), np.random.default_rng([seed, 2, k])
        )
        if strategy in cfg.strategies:
            for n in sorted(cfg.budgets):
                regret, cos, games = mean_weights_regret(world, runs[n][1])
                efficiency.append(
                    {"seed": seed, "strategy": strategy, "answers": n, "regret": regret,
                     "regret_fraction": regret / v_star, "cosine": cos, "games": games, "v_star": v_star}
                )  # fmt: skip
        if strategy in cfg.goodhart_queries:
            belief = runs[cfg.goodhart_answers][1]
            cand, chosen = choose_policies(world, belief, cfg.agents, np.random.default_rng([seed, 3, k]))
            ev = world.evaluate(cand.policies)
            rows = [(agent, dist, ev) for agent, dist in chosen.items()] + [("true-optimal", np.ones(1), opt)]
            by_mode[strategy] = [
                _goodhart_row(seed, strategy, cfg.goodhart_answers, agent, dist, e, v_star)
                for agent, dist, e in rows
            ]
    return efficiency, [r for strategy in cfg.goodhart_queries for r in by_mode[strategy]]


def _goodhart_row(seed, queries, answers, agent, dist, ev, v_star) -> dict:
    true = float(dist @ ev.true)
    gaming = float(dist @ ev.gaming)
    return {
        "seed": seed, "queries": queries, "answers": answers, "agent": agent, "true_return": true,
        "optimal_return": v_star, "fraction": true / v_star if v_star > 0 else float("nan"),
        "proxy_return": float(dist @ ev.proxy), "gaming_prob": gaming, "games": gaming > 0,
    }  # fmt: skip


def _task(task: tuple[int, dict]) -> tuple[list[dict], list[dict]]:
    from threadpoolctl import threadpool_limits

    seed, cfg = task
    with threadpool_limits(1):
        return run_seed(seed, cfg_from_dict(cfg))


def cfg_from_dict(d: dict) -> PreferenceBenchConfig:
    """Inverse of ``dataclasses.asdict`` for :class:`PreferenceBenchConfig`."""
    d = dict(d)
    d["agents"] = AgentConfig(**d["agents"])
    d["world"] = GoodhartConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in d["world"].items()})
    return PreferenceBenchConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def run_preferences(
    seeds: Sequence[int], cfg: PreferenceBenchConfig | None = None, workers: int = 2
) -> tuple[list[dict], list[dict]]:
    """Every seed (``workers`` processes at a time): (query-efficiency rows, Goodharting rows)."""
    cfg = cfg or PreferenceBenchConfig()
    tasks = [(int(s), asdict(cfg)) for s in seeds]
    if workers <= 1 or len(tasks) == 1:
        parts = [_task(t) for t in tasks]
    else:
        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
            parts = list(pool.map(_task, tasks))
    return [r for p in parts for r in p[0]], [r for p in parts for r in p[1]]


# ---------------------------------------------------------------------------- the command
@register(
    "preferences",
    group="bench",
    help="reward learning from preferences: query efficiency (EIG vs disagreement vs random) and a "
    "Goodharting gridworld (point estimate vs conservative rules)",
    options=(
        *common_options("bayesguard-out/preferences", seeds=20),
        Option("--candidates", "prior draws holding the reward posterior", 3000, positive),
        Option(
            "--budgets", "numbers of answers at which regret and cosine are read", [0, 5, 10, 20, 40], ints
        ),
        Option(
            "--strategies",
            "query strategies compared (eig, disagreement, random)",
            list(STRATEGIES),
            subset_of(STRATEGIES),
        ),
        Option("--answers", "answers before the agents of the Goodharting table act", 20, int),
        Option("--pool", "trajectories in the pool the questions compare", 60, positive),
        Option("--pairs", "candidate questions (random pairs of the pool)", 300, positive),
        Option("--quick", "4 seeds, 1000 candidates, budgets up to 20, 10 answers (about 10 s)", False),
    ),  # fmt: skip
)
def preferences(args: argparse.Namespace) -> Result:
    """The two tables, the checks against the issue's targets, and the plots."""
    if args.quick:
        args.seeds, args.candidates, args.budgets, args.answers = 4, 1000, [0, 5, 10, 20], 10
        args.pool, args.pairs = 40, 150
    cfg = PreferenceBenchConfig(
        n_candidates=args.candidates, n_pool=args.pool, n_pairs=args.pairs, budgets=tuple(args.budgets),
        strategies=tuple(args.strategies), goodhart_answers=args.answers,
    )  # fmt: skip
    seeds = list(range(args.seed, args.seed + args.seeds))
    print(f"preferences: seeds {seeds}, {cfg.n_candidates} candidate rewards, budgets {cfg.budgets}")
    t0 = time.perf_counter()
    eff, good = run_preferences(seeds, cfg, workers=args.workers)
    eff_sum, good_sum = summarise(eff, good)
    target = check_target(eff_sum, eff)
    goodhart = check_goodhart(good_sum, CONSERVATIVE)
    eff_cols = {
        "strategy": col("strategy"), "answers": col("answers"), "regret ± 2se": pm("regret", 3),
        "regret / V* ± 2se": pm("regret_fraction", 3), "cosine ± 2se": pm("cosine", 3),
        "point estimate games": col("games_seeds"),
    }  # fmt: skip
    good_cols = {
        "queries": col("queries"), "agent": col("agent"), "true return ± 2se": pm("true_return", 2),
        "% of optimal ± 2se": lambda r: f"{100 * r['fraction']:.1f} ± {200 * r['fraction_se']:.1f}",
        "proxy return ± 2se": pm("proxy_return", 2), "gaming seeds": col("gaming_seeds"),
    }  # fmt: skip
    return Result(
        raw={"efficiency_raw.csv": eff, "goodhart_raw.csv": good},
        summary={"efficiency_summary.csv": eff_sum, "goodhart_summary.csv": good_sum},
        tables=(
            Table(
                eff_sum,
                eff_cols,
                "Query efficiency (point-estimate policy of the posterior mean)",
                "± 2 standard errors over seeds; 'games': seeds whose point-estimate policy games",
            ),
            Table(
                good_sum,
                good_cols,
                f"Goodharting world, after {cfg.goodhart_answers} answers",
                "± 2 standard errors over seeds; gaming seeds: seeds where the agent may enter a gaming cell",
            ),
        ),  # fmt: skip
        settings={
            "seeds": seeds,
            "config": asdict(cfg),
            "workers": args.workers,
            "agents": list(AGENTS),
            "target": target,
            "goodhart_check": goodhart,
        },  # fmt: skip
        record="preferences_run.json",
        plots=(
            Plot("preferences_efficiency.png", plot_efficiency, (eff_sum,)),
            Plot("preferences_goodhart.png", plot_goodhart, (good_sum,)),
        ),
        notes=(f"\n{target['text']}", goodhart["text"], f"wall time {time.perf_counter() - t0:.0f} s"),
    )
