"""Summaries, the checks against issue 12's targets, and the plots of ``bayesguard bench preferences``.

Every summary number is a mean over seeds with its standard error ``sd / sqrt(n_seeds)`` (``ddof=1``;
NaN with one seed). The checks compare means as measured; nothing here is tuned to pass.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def _mean_se(values: Sequence[float]) -> tuple[float, float]:
    a = np.asarray(values, dtype=np.float64)
    se = float(a.std(ddof=1) / math.sqrt(a.size)) if a.size > 1 else math.nan
    return float(a.mean()), se


def summarise(efficiency: Sequence[dict], goodhart: Sequence[dict]) -> tuple[list[dict], list[dict]]:
    """Per (strategy, answers) and per (queries, agent): means and standard errors over seeds, and the
    number of seeds whose policy games (``games_seeds`` / ``gaming_seeds``, written ``k/n``)."""
    eff = []
    for strategy, n in dict.fromkeys((r["strategy"], r["answers"]) for r in efficiency):
        sel = [r for r in efficiency if (r["strategy"], r["answers"]) == (strategy, n)]
        row: dict = {"strategy": strategy, "answers": n, "seeds": len(sel)}
        for key in ("regret", "regret_fraction", "cosine"):
            row[key], row[key + "_se"] = _mean_se([r[key] for r in sel])
        row["games_seeds"] = f"{sum(r['games'] for r in sel)}/{len(sel)}"
        eff.append(row)
    good = []
    for queries, agent in dict.fromkeys((r["queries"], r["agent"]) for r in goodhart):
        sel = [r for r in goodhart if (r["queries"], r["agent"]) == (queries, agent)]
        row = {"queries": queries, "agent": agent, "answers": sel[0]["answers"], "seeds": len(sel)}
        for key in ("true_return", "fraction", "proxy_return", "gaming_prob"):
            row[key], row[key + "_se"] = _mean_se([r[key] for r in sel])
        row["n_gaming"] = sum(r["games"] for r in sel)
        row["gaming_seeds"] = f"{row['n_gaming']}/{len(sel)}"
        good.append(row)
    return eff, good


def check_target(summary: Sequence[dict], raw: Sequence[dict]) -> dict:
    """The issue's target: EIG reaches random selection's mean regret at the largest budget ``B`` with at
    most ``B / 2`` answers, read as: EIG's mean regret at the largest budget ``b <= B / 2`` is at most
    random's at ``B`` (regret is not monotone in the answers, so an earlier budget that happens to be
    lower does not count; at 0 answers every strategy is the same). Returns the numbers, ``met`` (None
    when a strategy or budget is missing) and a line of text; ``paired_diff`` is the mean over seeds of
    (EIG at ``b``) - (random at ``B``) with its standard error (the strategies share each seed's world
    and questions)."""
    mean = {(r["strategy"], r["answers"]): r for r in summary}
    budgets = sorted({r["answers"] for r in summary})
    big = budgets[-1]
    half = [b for b in budgets if 0 < b <= big / 2]
    if ("eig", big) not in mean or ("random", big) not in mean or not half:
        return {"met": None, "text": "target: needs eig and random, and a budget in (0, B/2]"}
    ref, b = mean[("random", big)]["regret"], half[-1]
    at_b = mean[("eig", b)]["regret"]
    e = {r["seed"]: r["regret"] for r in raw if (r["strategy"], r["answers"]) == ("eig", b)}
    rnd = {r["seed"]: r["regret"] for r in raw if (r["strategy"], r["answers"]) == ("random", big)}
    diff, se = _mean_se([e[s] - rnd[s] for s in sorted(e)])
    met = bool(at_b <= ref)
    text = (
        f"target (EIG at {b} answers reaches random's regret at {big}): {'MET' if met else 'NOT MET'}; "
        f"random at {big}: {ref:.3f}, EIG at {b}: {at_b:.3f} (paired difference {diff:+.3f} ± {2 * se:.3f}, "
        "2 se)"
    )
    return {"largest_budget": big, "compared_budget": b, "random_regret_at_largest": ref,
            "eig_regret_at_compared": at_b, "paired_diff": diff, "paired_diff_se": se, "met": met,
            "text": text}  # fmt: skip


def check_goodhart(summary: Sequence[dict], conservative: Sequence[str], keep: float = 0.9) -> dict:
    """Per query mode: the seeds where the point-estimate maximiser (``point-mean``) games, and the
    conservative agents whose mean true return is at least ``keep`` of the optimum with gaming in no
    seed. ``met``: the point estimate games in some mode, and in every mode where it games some
    conservative agent clears that bar (a mode where the point estimate does not game needs no rescue)."""
    out: dict = {"modes": {}}
    lines = []
    for queries in dict.fromkeys(r["queries"] for r in summary):
        rows = {r["agent"]: r for r in summary if r["queries"] == queries}
        point = rows.get("point-mean")
        safe = [
            a for a in conservative if a in rows and rows[a]["fraction"] >= keep and rows[a]["n_gaming"] == 0
        ]
        games = point is not None and point["n_gaming"] > 0
        out["modes"][queries] = {"point_estimate_gaming": point and point["gaming_seeds"], "games": games,
                                 "kept": safe}  # fmt: skip
        lines.append(
            f"Goodharting ({queries} questions): point estimate games in "
            f"{point['gaming_seeds'] if point else '-'} seeds; conservative agents keeping >= "
            f"{100 * keep:.0f}% of the optimal true return with no gaming seed: {', '.join(safe) or 'none'}"
        )
    modes = out["modes"].values()
    out["met"] = any(m["games"] for m in modes) and all(m["kept"] for m in modes if m["games"])
    out["text"] = "\n".join(lines) + f"\ngoodharting target: {'MET' if out['met'] else 'NOT MET'}"
    return out


def plot_efficiency(summary: Sequence[dict], path: str | Path) -> Path:
    """Regret and cosine against the number of answers, one line per strategy, ± 2 s.e. bands."""
    from .plots import _finish, _pyplot

    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for strategy in dict.fromkeys(r["strategy"] for r in summary):
        sel = sorted((r for r in summary if r["strategy"] == strategy), key=lambda r: r["answers"])
        x = [r["answers"] for r in sel]
        for ax, key in zip(axes, ("regret", "cosine"), strict=True):
            y = np.array([r[key] for r in sel])
            se = np.nan_to_num(np.array([r[key + "_se"] for r in sel]))
            (line,) = ax.plot(x, y, marker="o", ms=3, label=strategy)
            ax.fill_between(x, y - 2 * se, y + 2 * se, color=line.get_color(), alpha=0.15)
    axes[0].set_ylabel("true-reward regret of the point-estimate policy")
    axes[1].set_ylabel("cosine(posterior mean, w*)")
    for ax in axes:
        ax.set_xlabel("answers")
        ax.legend(fontsize=8)
    return _finish(fig, "Query efficiency (± 2 s.e. over seeds)", path, plt)


def plot_goodhart(summary: Sequence[dict], path: str | Path) -> Path:
    """True return (fraction of optimal) and proxy return of each agent, bars per query mode."""
    from .plots import _finish, _pyplot

    plt = _pyplot()
    modes = list(dict.fromkeys(r["queries"] for r in summary))
    agents = list(dict.fromkeys(r["agent"] for r in summary))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    width = 0.8 / max(len(modes), 1)
    for i, queries in enumerate(modes):
        rows = {r["agent"]: r for r in summary if r["queries"] == queries}
        x = np.arange(len(agents)) + i * width
        for ax, key in zip(axes, ("fraction", "proxy_return"), strict=True):
            y = [rows[a][key] if a in rows else np.nan for a in agents]
            se = [2 * np.nan_to_num(rows[a][key + "_se"]) if a in rows else 0 for a in agents]
            ax.bar(x, y, width, yerr=se, label=f"{queries} questions", capsize=2)
    axes[0].axhline(0.9, color="k", ls=":", lw=1)
    axes[0].set_ylabel("true return / optimal")
    axes[1].set_ylabel("proxy return")
    for ax in axes:
        ax.set_xticks(np.arange(len(agents)) + width * (len(modes) - 1) / 2, agents, rotation=40, ha="right")
        ax.legend(fontsize=8)
    return _finish(fig, "Goodharting world (± 2 s.e. over seeds)", path, plt)
