"""``bayesguard bench reward-posterior``: how close is each linear-reward posterior to the exact one?

For each seed, number of features ``f`` (2, 3) and number of answers ``m`` (10, 30, 100): a true weight
vector ``w*`` (``truth="sphere"``: uniform on the unit sphere, as the issue asks; ``truth="prior"``: drawn
from the prior, where an exact posterior's credible intervals cover ``w*`` at exactly their nominal rate
averaged over seeds, so any shortfall there is the method's own), ``m`` Bradley-Terry answers with
rationality ``beta`` to pairs of options with standard-normal features, and the family's Gaussian prior.
The reference is exact quadrature on a grid (:mod:`.reward_quadrature`); each method of
:func:`~bayesguard.inference.reward_posterior.linear_reward_posterior` is run with ``n_samples`` draws.

Per coordinate ``i`` (raw rows): the method's posterior mean and sd against the exact ones (the error of
the mean in exact sds, ``z``), its central 50 % and 90 % credible intervals, whether each covers ``w*_i``,
and the *exact* posterior mass of the method's intervals (0.5 and 0.9 for a perfect method, whatever
``w*`` is); the method's wall time and ESS. The summary pools coordinates and seeds; standard errors
come from the per-seed averages (coordinates of one seed are not independent). The method named
``quadrature`` is the exact reference itself (its coverage is what a perfect method would get).

Rows: ``truth, dim, answers, seed, method, coord, w_true, exact_mean, exact_sd, mean, sd, z, lo50, hi50,
lo90, hi90, in50, in90, mass50, mass90, seconds, ess``.
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing as mp
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..inference.reward_posterior import RewardMethod, fit_linear_reward
from ..theories.reward import HumanModel, LinearRewardFamily, Preferences
from .registry import NeedsExtra, Option, common_options, ints, positive, register, subset_of
from .report import Plot, Result, Table, col
from .reward_quadrature import bradley_terry_log_posterior, quadrature, weighted_quantile

METHODS = tuple(m.value for m in RewardMethod)
TRUTHS = ("sphere", "prior")
LEVELS = (0.5, 0.9)


@dataclass(frozen=True)
class QualityConfig:
    """Sizes of the posterior-quality benchmark.

    Attributes:
        dims: numbers of features; answers: numbers of preference answers.
        methods: the methods compared; truths: how ``w*`` is drawn (module docstring).
        beta: the Bradley-Terry rationality of the simulated human (known to the model).
        scale: the Gaussian prior's standard deviation.
        n_samples: draws per method.
        grid: quadrature points per axis for 2 and for 3 features.
    """

    dims: tuple[int, ...] = (2, 3)
    answers: tuple[int, ...] = (10, 30, 100)
    methods: tuple[str, ...] = METHODS
    truths: tuple[str, ...] = TRUTHS
    beta: float = 2.0
    scale: float = 1.0
    n_samples: int = 2000
    grid: tuple[int, int] = (300, 80)


def simulate(f: int, m: int, beta: float, truth: str, scale: float, rng: np.random.Generator):
    """``(w*, Preferences)``: the truth and ``m`` Bradley-Terry answers (``P(left) = sigmoid(beta d)``,
    ``d = w* . (phi_left - phi_right)``) to pairs of standard-normal option features ``(m, f)``."""
    w = rng.standard_normal(f)
    w = w / np.linalg.norm(w) if truth == "sphere" else scale * w
    left, right = rng.standard_normal((m, f)), rng.standard_normal((m, f))
    p_left = 1.0 / (1.0 + np.exp(-beta * (left - right) @ w))
    return w, Preferences(left, right, (rng.random(m) >= p_left).astype(np.int64))


def _rows(key: dict, w_true, exact, mean, sd, lo, hi, seconds: float, ess: float) -> list[dict]:
    mass = [exact.mass(lo[k], hi[k]) for k in range(len(LEVELS))]
    rows = []
    for i in range(w_true.size):  # coordinates (2 or 3)
        row = {**key, "coord": i, "w_true": float(w_true[i])}
        row |= {"exact_mean": float(exact.mean[i]), "exact_sd": float(exact.sd[i])}
        row |= {
            "mean": float(mean[i]),
            "sd": float(sd[i]),
            "z": float((mean[i] - exact.mean[i]) / exact.sd[i]),
        }
        for k, level in enumerate(LEVELS):
            tag = f"{round(100 * level)}"
            row[f"lo{tag}"], row[f"hi{tag}"] = float(lo[k][i]), float(hi[k][i])
            row[f"in{tag}"] = bool(lo[k][i] <= w_true[i] <= hi[k][i])
            row[f"mass{tag}"] = float(mass[k][i])
        rows.append(row | {"seconds": seconds, "ess": ess})
    return rows


def evaluate_seed(seed: int, cfg: QualityConfig) -> list[dict]:
    """Every (truth, dim, answers, method) of one seed (module docstring)."""
    rows: list[dict] = []
    for t, truth in enumerate(cfg.truths):
        for f in cfg.dims:
            for m in cfg.answers:
                rng = np.random.default_rng([seed, t, f, m])
                w_true, prefs = simulate(f, m, cfg.beta, truth, cfg.scale, rng)
                fam = LinearRewardFamily(f, 2, scale=cfg.scale, model=HumanModel(cfg.beta)).conditioned(prefs)
                key = {"truth": truth, "dim": f, "answers": m, "seed": seed}
                t0 = time.perf_counter()
                ref = bradley_terry_log_posterior(prefs, cfg.beta, cfg.scale)
                exact = quadrature(fam, cfg.grid[min(f, 3) - 2] if f > 1 else cfg.grid[0], log_density=ref)
                secs = time.perf_counter() - t0
                bounds = (
                    [exact.quantile((1 - lv) / 2) for lv in LEVELS],
                    [exact.quantile((1 + lv) / 2) for lv in LEVELS],
                )
                rows += _rows(
                    key | {"method": "quadrature"}, w_true, exact, exact.mean, exact.sd, *bounds, secs, np.nan
                )
                for method in cfg.methods:
                    fit = fit_linear_reward(fam, method, cfg.n_samples, seed=int(rng.integers(2**31)))
                    post = fit.posterior
                    x, p = post.theories, post.probs
                    mean = p @ x
                    sd = np.sqrt(p @ (x - mean) ** 2)
                    lo = [weighted_quantile(x, p, (1 - lv) / 2) for lv in LEVELS]
                    hi = [weighted_quantile(x, p, (1 + lv) / 2) for lv in LEVELS]
                    ess = fit.diagnostics.get("ess", float(post.n_theories))
                    rows += _rows(key | {"method": method}, w_true, exact, mean, sd, lo, hi, fit.seconds, ess)
    return rows


def _task(task: tuple[int, dict]) -> list[dict]:
    from threadpoolctl import threadpool_limits

    seed, cfg = task
    with threadpool_limits(1):
        return evaluate_seed(seed, QualityConfig(**cfg))


def run_quality(seeds: Sequence[int], cfg: QualityConfig | None = None, workers: int = 2) -> list[dict]:
    """Raw rows of every seed; each seed runs in its own process (``workers`` at a time)."""
    cfg = cfg or QualityConfig()
    unknown = set(cfg.methods) - set(METHODS)
    if unknown:
        raise ValueError(f"methods: unknown {sorted(unknown)}; expected a subset of {METHODS}")
    tasks = [(int(s), asdict(cfg)) for s in seeds]
    if workers <= 1 or len(tasks) == 1:
        return [r for t in tasks for r in _task(t)]
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
        return [r for part in pool.map(_task, tasks) for r in part]


def _mean_se(values_by_seed: dict[int, list[float]]) -> tuple[float, float]:
    """Mean over seeds of each seed's average, and its standard error."""
    per = np.array([np.mean(v) for v in values_by_seed.values()])
    se = float(per.std(ddof=1) / np.sqrt(per.size)) if per.size > 1 else float("nan")
    return float(per.mean()), se


def summarise(rows: Sequence[dict]) -> list[dict]:
    """Per (truth, dim, answers, method): coverage and exact interval mass at 50 % and 90 % (± se over
    seeds), RMS error of the mean in exact sds, mean ratio of sds, median seconds and mean ESS."""
    out = []
    keys = list(dict.fromkeys((r["truth"], r["dim"], r["answers"], r["method"]) for r in rows))
    for truth, dim, answers, method in keys:
        sel = [
            r
            for r in rows
            if (r["truth"], r["dim"], r["answers"], r["method"]) == (truth, dim, answers, method)
        ]
        rec: dict = {"truth": truth, "dim": dim, "answers": answers, "method": method}
        rec["seeds"] = len({r["seed"] for r in sel})
        for name in ("in50", "in90", "mass50", "mass90"):
            by_seed: dict[int, list[float]] = {}
            for r in sel:
                by_seed.setdefault(r["seed"], []).append(float(r[name]))
            rec[name], rec[name + "_se"] = _mean_se(by_seed)
        for level, name in ((0.5, "in50"), (0.9, "in90")):
            rec[f"ok{name[2:]}"] = bool(rec[name] >= level - 2 * rec[name + "_se"])
        rec["z_rms"] = float(np.sqrt(np.mean([r["z"] ** 2 for r in sel])))
        rec["sd_ratio"] = float(np.mean([r["sd"] / r["exact_sd"] for r in sel]))
        per_run = {(r["seed"]): (r["seconds"], r["ess"]) for r in sel}
        rec["seconds"] = float(np.median([s for s, _ in per_run.values()]))
        ess = [e for _, e in per_run.values() if e == e]
        rec["ess"] = float(np.mean(ess)) if ess else None
        out.append(rec)
    return out


def overall(summary: Sequence[dict]) -> list[dict]:
    """Per method, pooled over truths, dims and answer counts: the worst coverage shortfall, the worst
    exact interval mass error, the largest RMS mean error, and the total median time."""
    out = []
    for method in dict.fromkeys(r["method"] for r in summary):
        sel = [r for r in summary if r["method"] == method]
        out.append(
            {
                "method": method,
                "cells_ok": sum(r["ok50"] and r["ok90"] for r in sel),
                "cells": len(sel),
                "worst_mass_err": max(max(abs(r["mass50"] - 0.5), abs(r["mass90"] - 0.9)) for r in sel),
                "max_z_rms": max(r["z_rms"] for r in sel),
                "seconds": float(sum(r["seconds"] for r in sel)),
            }
        )
    return out


def plot_quality(summary: Sequence[dict], path: str | Path) -> Path:
    """Exact mass of each method's 90 % interval (top) and wall time (bottom) against the number of
    answers, one column per (truth, dim); ± 2 s.e. bars."""
    from .plots import _finish, _pyplot

    plt = _pyplot()
    panels = list(dict.fromkeys((r["truth"], r["dim"]) for r in summary))
    fig, axes = plt.subplots(2, len(panels), figsize=(4.2 * len(panels), 6.5), squeeze=False)
    for j, (truth, dim) in enumerate(panels):
        for method in dict.fromkeys(r["method"] for r in summary):
            sel = sorted(
                (r for r in summary if (r["truth"], r["dim"], r["method"]) == (truth, dim, method)),
                key=lambda r: r["answers"],
            )
            xs = [r["answers"] for r in sel]
            axes[0, j].errorbar(
                xs,
                [r["mass90"] for r in sel],
                yerr=[2 * r["mass90_se"] for r in sel],
                marker="o",
                ms=3,
                capsize=2,
                label=method,
            )
            axes[1, j].plot(xs, [r["seconds"] for r in sel], marker="o", ms=3, label=method)
        axes[0, j].axhline(0.9, color="k", lw=1, ls=":")
        axes[0, j].set_title(f"truth {truth}, {dim} features")
        axes[0, j].set_ylabel("exact mass of the 90% interval")
        axes[1, j].set_yscale("log")
        axes[1, j].set_ylabel("seconds (median)")
        for ax in axes[:, j]:
            ax.set_xscale("log")
            ax.set_xlabel("answers")
    axes[0, 0].legend(fontsize=7)
    return _finish(fig, "Linear reward posteriors against exact quadrature", path, plt)


# ---------------------------------------------------------------------------- the command
@register(
    "reward-posterior",
    group="bench",
    help="posterior quality of linear rewards: Laplace, emcee, importance sampling vs exact quadrature",
    options=(
        *common_options("bayesguard-out/reward-posterior", seeds=50),
        Option("--dims", "numbers of features, comma-separated (1 to 3)", [2, 3], ints),
        Option("--answers", "numbers of preference answers, comma-separated", [10, 30, 100], ints),
        Option("--methods", "methods, comma-separated", list(METHODS), subset_of(METHODS)),
        Option("--truths", "sphere and/or prior, comma-separated", list(TRUTHS), subset_of(TRUTHS)),
        Option("--beta", "rationality of the simulated human", 2.0, float),
        Option("--n-samples", "draws per method", 2000, positive),
        Option("--quick", "8 seeds, 10 and 30 answers, coarser grids: under a minute", False),
    ),
)
def reward_posterior(args: argparse.Namespace) -> Result:
    """Every method against quadrature over seeds; the summary table and the per-method overview."""
    if "emcee" in args.methods and importlib.util.find_spec("emcee") is None:
        raise NeedsExtra(
            "method emcee needs emcee: pip install 'bayesguard[reward]' (or leave it out of --methods)"
        )
    grid = (300, 80)
    if args.quick:
        args.seeds, args.answers, grid = 8, [10, 30], (150, 40)
    if any(f < 1 or f > 3 for f in args.dims):
        raise ValueError(f"--dims: quadrature needs 1 to 3 features, got {args.dims}")
    if any(m < 1 for m in args.answers):
        raise ValueError(f"--answers: expected positive numbers of answers, got {args.answers}")
    cfg = QualityConfig(
        dims=tuple(args.dims),
        answers=tuple(args.answers),
        methods=tuple(args.methods),
        truths=tuple(args.truths),
        beta=args.beta,
        n_samples=args.n_samples,
        grid=grid,
    )
    seeds = list(range(args.seed, args.seed + args.seeds))
    print(f"reward posterior quality: dims {cfg.dims}, answers {cfg.answers}, {len(seeds)} seeds")
    t0 = time.perf_counter()
    rows = run_quality(seeds, cfg, workers=args.workers)
    summary = summarise(rows)
    pm2 = lambda k: lambda r: f"{r[k]:.3f} ± {2 * r[k + '_se']:.3f}"  # noqa: E731
    columns = {
        "truth": col("truth"),
        "f": col("dim"),
        "answers": col("answers"),
        "method": col("method"),
        "cover 50%": pm2("in50"),
        "cover 90%": pm2("in90"),
        "mass 50%": pm2("mass50"),
        "mass 90%": pm2("mass90"),
        "z rms": col("z_rms", ".3f"),
        "sd ratio": col("sd_ratio", ".3f"),
        "seconds": col("seconds", ".4f"),
        "ESS": lambda r: "-" if r["ess"] is None else f"{r['ess']:.0f}",
    }
    over = overall(summary)
    over_cols = {
        "method": col("method"),
        "cells with coverage >= nominal - 2se": lambda r: f"{r['cells_ok']}/{r['cells']}",
        "worst |mass - nominal|": col("worst_mass_err", ".3f"),
        "max z rms": col("max_z_rms", ".3f"),
        "seconds (sum of medians)": col("seconds", ".3f"),
    }
    note = (
        "cover: fraction of (seed, coordinate) where the central interval holds w*; mass: exact "
        "posterior mass of the method's interval; z: error of the mean in exact sds; ± 2 se over seeds"
    )
    return Result(
        raw={"reward_posterior_raw.csv": rows},
        summary={"reward_posterior_summary.csv": summary, "reward_posterior_overall.csv": over},
        tables=(Table(summary, columns, note=note), Table(over, over_cols, title="\nper method, every cell")),
        settings={"seeds": seeds, "config": asdict(cfg), "workers": args.workers},
        record="reward_posterior_run.json",
        plots=(Plot("reward_posterior_quality.png", plot_quality, (summary,)),),
        notes=(f"\nwall time {time.perf_counter() - t0:.0f} s",),
    )
