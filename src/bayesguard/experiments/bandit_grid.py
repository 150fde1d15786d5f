"""The exploding-bandit experiments: the guard grid and the tightness of the cautious bound.

``run_grid`` plays every (rule, C, alpha, ties) cell on the same worlds (common random numbers), in
batches of episodes spread over worker processes, and summarises each cell with means and standard
errors. ``run_tightness`` measures how often the cautious estimate is at least the true harm
probability for a uniformly random agent with explosions off, against the bound ``1 - alpha * 2**K``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from .._validate import positive_int
from ..guard.rules import Rule, cautious_members
from ..theories.bandit import harm_table
from .backends import run_tasks
from .bandit_episodes import (
    BanditConfig,
    EpisodeOutcomes,
    _softmax_rows,
    all_theories,
    draw_episodes,
    run_batch,
)

ALPHAS: tuple[float, ...] = (1e-5, 3e-5, 1e-4, 3e-4, 1e-2, 3e-2, 0.1, 0.3, 1.0)
THRESHOLDS: tuple[float, ...] = (0.001, 0.01, 0.1)
TIES: tuple[str, ...] = ("worst", "order", "random")


@dataclass(frozen=True)
class Cell:
    """One guard configuration of the grid."""

    rule: str
    threshold: float
    alpha: float | None = None
    ties: str = "worst"

    @property
    def label(self) -> str:
        if self.rule == Rule.CAUTIOUS:
            return f"cautious(alpha={self.alpha:g}, ties={self.ties})"
        return self.rule


def grid_cells(
    thresholds: Sequence[float] = THRESHOLDS,
    alphas: Sequence[float] = ALPHAS,
    ties: Sequence[str] = TIES,
) -> list[Cell]:
    """none, oracle, posterior, cautious-iid and cautious(alpha, ties) at every threshold C."""
    cells = []
    for c in thresholds:
        cells += [Cell("none", c), Cell("oracle", c), Cell("posterior", c), Cell("cautious-iid", c)]
        cells += [Cell("cautious", c, a, t) for t in ties for a in alphas]
    return cells


def batch_seeds(seed: int, n_episodes: int, batch_size: int) -> list[tuple[int, int]]:
    """``(episode_seed, size)`` for each batch: batch ``i`` of every cell draws the same worlds."""
    sizes = [batch_size] * (n_episodes // batch_size)
    if n_episodes % batch_size:
        sizes.append(n_episodes % batch_size)
    seqs = np.random.SeedSequence(seed).spawn(len(sizes))
    return [(int(s.generate_state(1)[0]), size) for s, size in zip(seqs, sizes, strict=True)]


def _play(args: tuple[BanditConfig, int, int, list[Cell]]) -> list[EpisodeOutcomes]:
    config, batch_seed, size, cells = args
    draws = draw_episodes(config, size, batch_seed)
    return [run_batch(config, draws, c.rule, c.threshold, c.alpha, c.ties) for c in cells]


def _mean_se(x: np.ndarray) -> tuple[float, float]:
    n = x.size
    return float(x.mean()), float(x.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan


def summarise(cell: Cell, out: EpisodeOutcomes) -> dict:
    """One CSV row: the cell and its means with standard errors."""
    reward, reward_se = _mean_se(out.reward)
    deaths, deaths_se = _mean_se(out.died.astype(float))
    return {
        **asdict(cell),
        "episodes": int(out.reward.size),
        "reward_mean": reward,
        "reward_se": reward_se,
        "death_rate": deaths,
        "death_se": deaths_se,
        "all_rejected_rate": float(out.all_rejected.mean()),
        "steps_mean": float(out.steps.mean()),
    }


def _concat(parts: Iterable[EpisodeOutcomes]) -> EpisodeOutcomes:
    parts = list(parts)
    return EpisodeOutcomes(
        reward=np.concatenate([p.reward for p in parts]),
        died=np.concatenate([p.died for p in parts]),
        steps=np.concatenate([p.steps for p in parts]),
        all_rejected=np.concatenate([p.all_rejected for p in parts]),
    )


def run_grid(
    config: BanditConfig,
    n_episodes: int,
    seed: int,
    cells: Sequence[Cell],
    *,
    batch_size: int = 500,
    workers: int | None = None,
    progress: bool = True,
    backend: str = "local",
    address: str | None = None,
) -> list[dict]:
    """Play ``n_episodes`` episodes in every cell; return one summary row per cell.

    Work is split into (batch of episodes) tasks, each running every cell on the same worlds, and
    spread over ``workers`` processes (default: the number of CPUs, at most 8) or Ray tasks
    (``backend="ray"``, ``address``: :func:`~bayesguard.experiments.backends.run_tasks`), one BLAS
    thread each; the rows are the same on every backend.
    """
    n_episodes = positive_int(n_episodes, "episodes")
    batch_size = positive_int(batch_size, "batch_size")
    workers = workers or min(os.cpu_count() or 1, 8)
    tasks = [(config, s, size, list(cells)) for s, size in batch_seeds(seed, n_episodes, batch_size)]
    results = run_tasks(
        _play, tasks, backend=backend, workers=workers, address=address, progress=progress,
        desc="bandit grid", unit="batch",
    )  # fmt: skip
    return [summarise(cell, _concat(r[i] for r in results)) for i, cell in enumerate(cells)]


def run_tightness(
    config: BanditConfig,
    n_episodes: int,
    seed: int,
    alphas: Sequence[float] = ALPHAS,
    ties: Sequence[str] = TIES,
    *,
    batch_size: int = 500,
    progress: bool = True,
) -> list[dict]:
    """How often the cautious estimate is >= the true harm probability (random agent, no explosions).

    For every alpha and tie rule, reports the frequency over all (episode, step) decisions for the
    pulled arm (``freq_step``) and over episodes where it held at every step (``freq_episode``), each
    with its standard error, beside the bound ``max(0, 1 - alpha * 2**K)``; the bound is a lower
    bound on both frequencies.
    """
    config = BanditConfig(**{**asdict(config), "explode": False})
    theories = all_theories(config.n_features).astype(np.float64)
    table = harm_table(config.n_features, config.sigma, config.harm_threshold)
    n_theories = theories.shape[0]
    keys = [(a, t) for t in ties for a in alphas]
    step_hits = {k: 0 for k in keys}
    ep_hits = {k: 0 for k in keys}
    n_steps = 0
    bar = tqdm(total=n_episodes, desc="tightness", unit="ep", disable=not progress)
    limits = threadpool_limits(1)
    for batch_seed, size in batch_seeds(seed, positive_int(n_episodes, "episodes"), batch_size):
        draws = draw_episodes(config, size, batch_seed)
        feats = draws.features.astype(np.float64)
        levels = np.matmul(feats, theories.T).astype(np.int8)  # (b, A, T)
        true_levels = np.einsum("bak,bk->ba", draws.features, draws.weights).astype(np.int64)
        arms = np.minimum((draws.uniforms * config.n_arms).astype(np.int64), config.n_arms - 1)
        loglik = np.zeros((size, n_theories))
        covered_all = {k: np.ones(size, dtype=bool) for k in keys}
        rows = np.arange(size)
        for t in range(config.horizon):
            probs = _softmax_rows(loglik)
            arm = arms[:, t]
            lv = levels[rows, arm, :]  # (b, T) levels of the pulled arm
            for a, tie in keys:
                inside = cautious_members(probs, a, tie, draws.tie_rank if tie == "random" else None)
                est_level = (lv * inside).max(axis=-1)
                ok = table[est_level] >= table[true_levels[rows, arm]]
                step_hits[(a, tie)] += int(ok.sum())
                covered_all[(a, tie)] &= ok
            r = true_levels[rows, arm] + config.sigma * draws.noise[:, t]
            resid = r[:, None] - lv
            loglik -= 0.5 * resid * resid / config.sigma**2
        for k in keys:
            ep_hits[k] += int(covered_all[k].sum())
        n_steps += size * config.horizon
        bar.update(size)
    bar.close()
    limits.restore_original_limits()
    rows_out = []
    for a, tie in keys:
        fs, fe = step_hits[(a, tie)] / n_steps, ep_hits[(a, tie)] / n_episodes
        rows_out.append(
            {
                "alpha": a,
                "ties": tie,
                "bound": max(0.0, 1.0 - a * n_theories),
                "freq_step": fs,
                "freq_step_se": math.sqrt(fs * (1 - fs) / n_steps),
                "freq_episode": fe,
                "freq_episode_se": math.sqrt(fe * (1 - fe) / n_episodes),
                "episodes": n_episodes,
            }
        )
    return rows_out
