"""Plots of the experiments (matplotlib is an optional extra: ``pip install bayesguard[plot]``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .results import durable_open


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError("plots need matplotlib: pip install 'bayesguard[plot]'") from exc
    return plt


_OTHER_RULES = {
    "none": ("tab:gray", ":"),
    "oracle": ("tab:green", "--"),
    "posterior": ("tab:blue", "-."),
    "cautious-iid": ("tab:purple", "--"),
}
_TIES_STYLE = {"worst": ("tab:red", "o"), "order": ("tab:orange", "s")}


def plot_grid(rows: Sequence[dict], path: str | Path) -> Path:
    """Reward and death rate against alpha, one column per threshold C; other rules as lines.

    Error bars and bands are +/- 2 standard errors.
    """
    plt = _pyplot()
    thresholds = sorted({r["threshold"] for r in rows})
    fig, axes = plt.subplots(2, len(thresholds), figsize=(4.2 * len(thresholds), 6.5), squeeze=False)
    for j, c in enumerate(thresholds):
        cell = [r for r in rows if r["threshold"] == c]
        for i, (key, se, label) in enumerate(
            (("reward_mean", "reward_se", "mean episode reward"), ("death_rate", "death_se", "death rate"))
        ):
            ax = axes[i, j]
            for ties, (color, marker) in _TIES_STYLE.items():
                pts = sorted(
                    (r for r in cell if r["rule"] == "cautious" and r["ties"] == ties),
                    key=lambda r: r["alpha"],
                )
                if pts:
                    ax.errorbar(
                        [r["alpha"] for r in pts],
                        [r[key] for r in pts],
                        yerr=[2 * r[se] for r in pts],
                        color=color,
                        marker=marker,
                        ms=4,
                        capsize=2,
                        label=f"cautious (ties={ties})",
                    )
            for rule, (color, style) in _OTHER_RULES.items():
                for r in cell:
                    if r["rule"] == rule:
                        ax.axhline(r[key], color=color, ls=style, label=rule)
                        ax.axhspan(r[key] - 2 * r[se], r[key] + 2 * r[se], color=color, alpha=0.12)
            ax.set_xscale("log")
            ax.set_xlabel("alpha")
            if j == 0:
                ax.set_ylabel(label)
            if i == 0:
                ax.set_title(f"C = {c:g}")
    axes[0, 0].legend(fontsize=7, loc="best")
    return _finish(fig, "Exploding bandit: guarded Boltzmann agent (±2 s.e.)", path, plt)


def plot_tightness(rows: Sequence[dict], path: str | Path) -> Path:
    """Frequency that the cautious estimate covers the true harm, against its bound 1 - alpha * 2**K."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for ties, (color, marker) in _TIES_STYLE.items():
        pts = sorted((r for r in rows if r["ties"] == ties), key=lambda r: r["alpha"])
        if not pts:
            continue
        alphas = [r["alpha"] for r in pts]
        ax.errorbar(
            alphas,
            [r["freq_step"] for r in pts],
            yerr=[2 * r["freq_step_se"] for r in pts],
            color=color,
            marker=marker,
            label=f"per decision (ties={ties})",
        )
        ax.errorbar(
            alphas,
            [r["freq_episode"] for r in pts],
            yerr=[2 * r["freq_episode_se"] for r in pts],
            color=color,
            marker=marker,
            ls="--",
            mfc="none",
            label=f"every step of an episode (ties={ties})",
        )
    pts = sorted({(r["alpha"], r["bound"]) for r in rows})
    ax.plot([a for a, _ in pts], [b for _, b in pts], "k-", lw=2, label="bound 1 - alpha/p(true)")
    ax.set_xscale("log")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("alpha")
    ax.set_ylabel("P(cautious estimate >= true harm)")
    ax.set_title("Tightness: random agent, explosions off (±2 s.e.)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return _save(fig, path, plt)


def plot_demo(doors: Sequence[dict], bandit: Sequence[dict], path: str | Path) -> Path:
    """Two panels: two-doors death rate by rule; bandit reward and death rate by rule."""
    plt = _pyplot()
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    names = [d["rule"] for d in doors]
    a1.bar(names, [d["death_rate"] for d in doors], yerr=[2 * d["death_se"] for d in doors], color="tab:red")
    a1.axhline(0.25, color="k", ls=":", label="theory: 1/4")
    a1.set_ylabel("death rate")
    a1.set_title("Two doors: greedy agent trusting one theory")
    a1.legend()
    labels = [b["label"] for b in bandit]
    x = range(len(labels))
    a2.bar([i - 0.2 for i in x], [b["death_rate"] for b in bandit], 0.4, color="tab:red", label="death rate")
    a2b = a2.twinx()
    a2b.bar([i + 0.2 for i in x], [b["reward_mean"] for b in bandit], 0.4, color="tab:blue", label="reward")
    a2.set_xticks(list(x), labels, rotation=20, ha="right", fontsize=8)
    a2.set_ylabel("death rate", color="tab:red")
    a2b.set_ylabel("mean episode reward", color="tab:blue")
    a2.set_title(f"Exploding bandit, C = {bandit[0]['threshold']:g}")
    fig.tight_layout()
    return _save(fig, path, plt)


def _finish(fig, title: str, path: str | Path, plt) -> Path:
    """Title ``fig``, lay it out and save it to ``path``."""
    fig.suptitle(title)
    fig.tight_layout()
    return _save(fig, path, plt)


def _save(fig, path: str | Path, plt) -> Path:
    """Save ``fig`` durably (flushed, fsynced, renamed into place) in the format of the file suffix."""
    path = Path(path)
    try:
        with durable_open(path, "wb") as fh:
            fig.savefig(fh, format=path.suffix.lstrip(".") or "png", dpi=120)
    finally:
        plt.close(fig)
    return path


def plot_structure_small(summary: Sequence[dict], path: str | Path) -> Path:
    """JSD to the exact posterior and edge-marginal RMSE against wall-clock, per sampler (± 2 s.e.)."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    styles = {"gflownet": ("tab:blue", "o"), "mcmc": ("tab:red", "s")}
    for sampler, (color, marker) in styles.items():
        pts = sorted((r for r in summary if r["sampler"] == sampler), key=lambda r: r["budget_s"])
        if not pts:
            continue
        t = [r["budget_s"] for r in pts]
        for ax, m in zip(axes, ("jsd", "edge_rmse"), strict=True):
            se = [0 if r[m + "_se"] != r[m + "_se"] else 2 * r[m + "_se"] for r in pts]
            ax.errorbar(t, [r[m] for r in pts], yerr=se, color=color, marker=marker, label=sampler)
        if sampler == "gflownet":
            axes[0].plot(
                t, [r["jsd_samples"] for r in pts], color=color, ls=":", label="gflownet (10k samples)"
            )
    for ax, m, target in zip(
        axes, ("JSD to exact posterior", "edge-marginal RMSE"), (0.05, 0.02), strict=True
    ):
        ax.axhline(target, color="k", lw=1, ls="--", label=f"target {target}")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("wall-clock seconds (each sampler on one core of 2)")
        ax.set_ylabel(m)
        ax.legend(fontsize=8)
    return _finish(
        fig, "d = 5 structure posterior: samplers against exact enumeration (mean over seeds)", path, plt
    )


def plot_structure_scale(rows: Sequence[dict], large: Sequence[dict], path: str | Path) -> Path:
    """Left: edge-marginal max error against the exact DP by d, per sampler (mean ± 2 s.e. over
    problems). Right: E[SHD] / true edges at d = 50/100 per sampler, with the empty graph at 1."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    samplers = list(dict.fromkeys(r["sampler"] for r in rows))
    for name in samplers:
        dims = sorted({r["d"] for r in rows if r["sampler"] == name})
        means, errs, xs = [], [], []
        for d in dims:
            v = np.array([r["edge_max_error"] for r in rows if r["sampler"] == name and r["d"] == d])
            v = v[np.isfinite(v)]
            if v.size:
                xs.append(d)
                means.append(v.mean())
                errs.append(2 * v.std(ddof=1) / np.sqrt(v.size) if v.size > 1 else 0.0)
        if xs:
            axes[0].errorbar(xs, means, yerr=errs, marker="o", capsize=3, label=name)
    axes[0].axhline(0.05, color="k", lw=1, ls=":")
    axes[0].set_xlabel("d")
    axes[0].set_ylabel("edge-marginal max |error| vs exact DP")
    names = list(dict.fromkeys(r["sampler"] for r in large))
    dims = sorted({r["d"] for r in large})
    width = 0.8 / max(len(names), 1)
    for k, name in enumerate(names):
        vals = [
            np.mean(
                [
                    r["expected_shd"] / max(r["true_edges"], 1)
                    for r in large
                    if r["sampler"] == name and r["d"] == d
                ]
            )
            for d in dims
        ]
        axes[1].bar(np.arange(len(dims)) + (k - (len(names) - 1) / 2) * width, vals, width, label=name)
    axes[1].axhline(1.0, color="k", lw=1, ls=":", label="empty graph")
    axes[1].set_xticks(np.arange(len(dims)))
    axes[1].set_xticklabels([f"d={d}" for d in dims])
    axes[1].set_ylabel("E[SHD] / true edges (lower is better)")
    for ax in axes:
        ax.legend(fontsize=8)
    return _finish(fig, "Structure samplers at equal wall-clock, one core each", path, plt)


def plot_plant(summary: Sequence[dict], path: str | Path) -> Path:
    """The plant benchmark: harm rate, reward and ask rate per rule, one bar per sampler (± 2 s.e.)."""
    plt = _pyplot()
    rules = list(dict.fromkeys(r["rule"] for r in summary))
    samplers = list(dict.fromkeys(r["sampler"] for r in summary))
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    width = 0.8 / max(len(samplers), 1)
    colors = ("tab:blue", "tab:red", "tab:green")
    x = np.arange(len(rules))
    for k, sampler in enumerate(samplers):
        by_rule = {r["rule"]: r for r in summary if r["sampler"] == sampler}
        for ax, metric, se_key in zip(
            axes, ("harm_rate", "reward", "ask_rate"), ("harm_rate_se", "reward_se", None), strict=True
        ):
            vals = [by_rule[r][metric] if r in by_rule else np.nan for r in rules]
            errs = [2 * by_rule[r][se_key] if (se_key and r in by_rule) else 0.0 for r in rules]
            ax.bar(
                x + (k - (len(samplers) - 1) / 2) * width,
                vals,
                width,
                yerr=errs,
                color=colors[k % 3],
                label=sampler,
            )
    for ax, title in zip(axes, ("harm rate per step", "reward per step", "steps with an ASK"), strict=True):
        ax.set_xticks(x)
        ax.set_xticklabels(rules, rotation=40, ha="right", fontsize=8)
        ax.set_title(title)
        ax.legend(fontsize=8)
    return _finish(fig, "World 3, the ambiguous plant: guard rules and posterior samplers", path, plt)
