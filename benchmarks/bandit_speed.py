"""Speed of the batched exploding-bandit engine against the straightforward per-episode implementation.

Both run the same cells on the same pre-drawn episodes in the same process, one after the other, and
must produce identical outcomes; the figure of merit is the ratio of their times. A second section
times the integer-level kernel the batched engine uses against the generic float rules of
``bayesguard.guard.rules`` on the same batch (the reason that kernel exists).

    python benchmarks/bandit_speed.py [--episodes 200] [--out benchmarks/results]

Writes ``bandit_speed.json`` and ``bandit_speed.csv`` under ``--out``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from bayesguard.experiments.bandit_episodes import (
    BanditConfig,
    _softmax_rows,
    all_theories,
    draw_episodes,
    level_estimates,
    run_batch,
    run_reference,
)
from bayesguard.experiments.bandit_grid import Cell
from bayesguard.experiments.results import write_csv, write_json
from bayesguard.guard.rules import Rule, harm_estimate
from bayesguard.theories.bandit import harm_table

CELLS = [
    Cell("none", 0.01),
    Cell("oracle", 0.1),
    Cell("posterior", 0.1),
    Cell("cautious-iid", 0.1),
    Cell("cautious", 0.1, 0.01, "worst"),
    Cell("cautious", 0.1, 0.3, "order"),
]


def time_engines(config: BanditConfig, episodes: int, seed: int) -> list[dict]:
    draws = draw_episodes(config, episodes, seed)
    rows = []
    for cell in CELLS:
        t0 = time.perf_counter()
        ref = run_reference(config, draws, cell.rule, cell.threshold, cell.alpha, cell.ties)
        t1 = time.perf_counter()
        fast = run_batch(config, draws, cell.rule, cell.threshold, cell.alpha, cell.ties)
        t2 = time.perf_counter()
        same = (
            np.array_equal(ref.died, fast.died)
            and np.array_equal(ref.steps, fast.steps)
            and np.array_equal(ref.all_rejected, fast.all_rejected)
            and np.allclose(ref.reward, fast.reward)
        )
        rows.append(
            {
                "section": "engine",
                "cell": cell.label,
                "threshold": cell.threshold,
                "episodes": episodes,
                "episode_steps": int(ref.steps.sum()),
                "reference_s": t1 - t0,
                "batched_s": t2 - t1,
                "speedup": (t1 - t0) / (t2 - t1),
                "identical_outcomes": bool(same),
            }
        )
        print(
            f"{cell.label:34s} reference {t1 - t0:7.2f} s  batched {t2 - t1:6.3f} s  "
            f"x{(t1 - t0) / (t2 - t1):6.1f}  identical={same}"
        )
    return rows


def time_kernel(config: BanditConfig, episodes: int, seed: int, repeats: int = 5) -> list[dict]:
    """Integer-level kernel vs generic float rules on one batch with a non-trivial posterior."""
    draws = draw_episodes(config, episodes, seed)
    theories = all_theories(config.n_features).astype(np.float64)
    table = harm_table(config.n_features, config.sigma, config.harm_threshold)
    levels = np.matmul(draws.features.astype(np.float64), theories.T).astype(np.int8)  # (b, A, T)
    harm_bat = table[levels]
    harm_generic = np.ascontiguousarray(harm_bat.transpose(0, 2, 1))  # (b, T, A), the public layout
    rng = np.random.default_rng(seed)
    probs = _softmax_rows(rng.normal(scale=3.0, size=(episodes, theories.shape[0])))
    true_levels = np.einsum("bak,bk->ba", draws.features, draws.weights).astype(np.int64)
    rows = []
    for rule, alpha in ((Rule.POSTERIOR, None), (Rule.CAUTIOUS_IID, None), (Rule.CAUTIOUS, 0.01)):

        def kernel(rule=rule, alpha=alpha):
            return level_estimates(rule, probs, levels, table, harm_bat, true_levels, alpha, "worst", None)

        def generic(rule=rule, alpha=alpha):
            return harm_estimate(rule, probs, harm_generic, alpha=alpha, validate=False).estimate

        assert np.allclose(kernel(), generic()), rule
        tk = min(_timed(kernel) for _ in range(repeats))
        tg = min(_timed(generic) for _ in range(repeats))
        rows.append(
            {
                "section": "kernel",
                "cell": rule.value,
                "episodes": episodes,
                "kernel_s": tk,
                "generic_s": tg,
                "speedup": tg / tk,
            }
        )
        print(
            f"kernel {rule.value:14s} level {tk * 1e3:7.2f} ms  generic {tg * 1e3:7.2f} ms  x{tg / tk:5.1f}"
        )
    return rows


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--kernel-episodes", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    config = BanditConfig()
    with threadpool_limits(1):  # both sides single-threaded: the ratio measures the algorithm
        engine = time_engines(config, args.episodes, args.seed)
        kernel = time_kernel(config, args.kernel_episodes, args.seed)
    out = Path(args.out)
    write_csv(engine + kernel, out / "bandit_speed.csv")
    total_ref = sum(r["reference_s"] for r in engine)
    total_fast = sum(r["batched_s"] for r in engine)
    write_json(
        {
            "benchmark": "bandit_speed",
            "episodes": args.episodes,
            "seed": args.seed,
            "reference_total_s": total_ref,
            "batched_total_s": total_fast,
            "speedup_total": total_ref / total_fast,
            "all_identical": all(r["identical_outcomes"] for r in engine),
            "rows": engine + kernel,
        },
        out / "bandit_speed.json",
    )
    print(
        f"total: reference {total_ref:.1f} s, batched {total_fast:.2f} s, ratio {total_ref / total_fast:.1f}"
    )


if __name__ == "__main__":
    main()
