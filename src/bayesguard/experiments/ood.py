"""``bayesguard bench ood``: do the scores tell contexts unlike the data from contexts like it?

For each seed and each of three shifts, in-distribution test contexts (fresh draws from the training
distribution) and out-of-distribution ones are scored, and each score's AUROC (out = positive; ties one
half) is recorded with its DeLong standard error. Scores are *epistemic* (the posterior's or ensemble's
own doubt, :mod:`bayesguard.marginal.ood`) or *baselines* (distances to the training contexts, no model);
a baseline's threshold is calibrated on the training contexts at ``fpr`` (the guard's support check), and
its false-alarm and detection rates at that threshold are recorded too.

1. **causal**: a random linear-Gaussian SCM on ``d`` variables (Erdős–Rényi,
   :func:`~bayesguard.datasets.sample_linear_gaussian_scm`); the harm is ``sink > q90`` of its data, the
   context is every other variable. The exact posterior over DAGs (BGe), ``n_param_draws`` parameter
   draws per graph. Out: test contexts shifted by ``causal_shift`` in Mahalanobis units along one random
   direction (a covariate shift). Epistemic: BALD and the disagreement of the harm probability over
   theories, and the epistemic/aleatoric variance ratio of the harm variable's predictive mean.
2. **moons**: two interleaved half-circles (noise ``moons_noise``), labels = which moon. Out: a ring of
   radius 2.5-4 around them. Models: an ensemble of tiny MLPs (BALD, disagreement) and Bayesian logistic
   regression on random Fourier features with a Laplace posterior (BALD, ``phi^T Sigma phi``).
3. **gridworld**: a ``grid x grid`` world with random lava cells (the label: harm when stepping there);
   the visits of random walks fenced into the left half are split at random into training visits and
   in-distribution test visits; out: right-half cells. Models on the
   coordinates as in (2), and the tabular (one-hot) Laplace model (unvisited cells keep the prior).

Rows: ``shift, seed, score, kind, model, auroc, auroc_se, false_alarm, detection, n_in, n_out``.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy.special import ndtr

from ..marginal.ood import KNNScore, MahalanobisScore, auroc, bald, disagreement, variance_ratio
from .ood_models import LaplaceLogistic, ensemble_probs, rff_map
from .registry import NeedsExtra, Option, common_options, positive, register, subset_of
from .report import Plot, Result, Table, col, pm

SHIFTS = ("causal", "moons", "gridworld")


@dataclass(frozen=True)
class OODConfig:
    """Sizes of the OOD benchmark (defaults: about a minute per seed on one core)."""

    n_train: int = 400
    n_test: int = 300
    fpr: float = 0.05
    causal_d: int = 4
    causal_shift: float = 3.0
    n_param_draws: int = 16
    moons_noise: float = 0.1
    members: int = 5
    hidden: int = 32
    epochs: int = 300
    rff_features: int = 300
    rff_lengthscale: float = 0.5
    laplace_samples: int = 200
    grid: int = 10
    walks: int = 20
    grid_lengthscale: float = 0.2


def _row(shift: str, seed: int, score: str, kind: str, model: str, s_in, s_out, fa=None, det=None) -> dict:
    a = auroc(s_in, s_out)
    return {
        "shift": shift,
        "seed": seed,
        "score": score,
        "kind": kind,
        "model": model,
        "auroc": a.value,
        "auroc_se": a.se,
        "false_alarm": fa,
        "detection": det,
        "n_in": len(s_in),
        "n_out": len(s_out),
    }


def _baselines(shift: str, seed: int, train: np.ndarray, q_in: np.ndarray, q_out: np.ndarray, fpr: float):
    rows = []
    for name, scorer in (("mahalanobis", MahalanobisScore(0.05)), ("knn", KNNScore(5))):
        scorer.fit(train)
        scorer.calibrate(fpr)
        s_in, s_out = scorer.score(q_in), scorer.score(q_out)
        fa, det = float(np.mean(s_in > scorer.threshold)), float(np.mean(s_out > scorer.threshold))
        rows.append(_row(shift, seed, name, "baseline", "distance", s_in, s_out, fa, det))
    return rows


def _classifier_scores(shift, seed, cfg: OODConfig, x, y, q_in, q_out, lengthscale) -> list[dict]:
    """Ensemble and RFF-Laplace scores for a 2-d classification problem."""
    queries = np.vstack([q_in, q_out])
    n_in = q_in.shape[0]
    rows = []
    ens = ensemble_probs(x, y, queries, members=cfg.members, hidden=cfg.hidden, epochs=cfg.epochs, seed=seed)
    for name, s in (("bald", bald(ens)), ("disagreement", disagreement(ens))):
        rows.append(_row(shift, seed, f"{name}-ensemble", "epistemic", "mlp-ensemble", s[:n_in], s[n_in:]))
    phi = rff_map(x.shape[1], cfg.rff_features, lengthscale, seed)
    lap = LaplaceLogistic().fit(phi(x), y.astype(float))
    pq = phi(queries)
    b = bald(lap.sample_probs(pq, cfg.laplace_samples, np.random.default_rng(seed)))
    v = lap.variance(pq)
    rows.append(_row(shift, seed, "bald-rff-laplace", "epistemic", "rff-laplace", b[:n_in], b[n_in:]))
    rows.append(_row(shift, seed, "laplace-variance-rff", "epistemic", "rff-laplace", v[:n_in], v[n_in:]))
    return rows


# ---------------------------------------------------------------------------- the three shifts
def causal_shift(seed: int, cfg: OODConfig) -> list[dict]:
    """Covariate shift of a tabular causal model (module docstring, 1)."""
    from ..datasets import sample_linear_gaussian_scm
    from ..graphs.dag import topological_order
    from ..theories.causal import CausalFamily, HarmSpec, exact_structure_posterior
    from ..theories.causal.graph_harm import parameter_draws
    from ..theories.causal.harm_model import GaussianHarmModel

    rng = np.random.default_rng(seed)
    d = cfg.causal_d
    scm = sample_linear_gaussian_scm(d, cfg.n_train + cfg.n_test, expected_edges=d, seed=seed)
    sink = int(topological_order(scm.adj)[-1])
    names = scm.names
    ctx = [j for j in range(d) if j != sink]
    train, test = scm.data[: cfg.n_train], scm.data[cfg.n_train :]
    t = float(np.quantile(train[:, sink], 0.9))
    spec = HarmSpec(names, f"{names[sink]} > {t:.6f}", ({},), context=tuple(names[j] for j in ctx))
    family = CausalFamily(spec, train, n_param_draws=cfg.n_param_draws, seed=seed)
    post = exact_structure_posterior(family.score)
    keep = post.probs > 1e-8
    theories = family.as_theories(post.theories[keep])
    model = GaussianHarmModel(spec, parameter_draws(family, theories))
    w = np.repeat(post.probs[keep] / post.probs[keep].sum(), cfg.n_param_draws) / cfg.n_param_draws
    x_train, q_in = train[:, ctx], test[:, ctx]
    u = rng.standard_normal(len(ctx))
    u /= np.linalg.norm(u)
    q_out = q_in + cfg.causal_shift * (np.linalg.cholesky(np.cov(x_train, rowvar=False)) @ u)
    queries = np.vstack([q_in, q_out])
    mean = model.mean_h[0][None] + np.einsum("nm,bnm->bn", model.gain[0], queries[:, None] - model.mean_x[0])
    harm = ndtr((mean - t) / model.sd[0][None])  # (B, n_theories): P(sink > t | context, theory)
    n_in = q_in.shape[0]
    rows = []
    aleatoric = np.broadcast_to(model.sd[0][:, None] ** 2, mean.T.shape)  # (n_theories, B)
    for name, s in (
        ("bald-harm", bald(harm.T, w)),
        ("disagreement-harm", disagreement(harm.T, w)),
        ("variance-ratio-outcome", variance_ratio(mean.T, aleatoric, w)),
    ):
        rows.append(_row("causal", seed, name, "epistemic", "causal-posterior", s[:n_in], s[n_in:]))
    return rows + _baselines("causal", seed, x_train, q_in, q_out, cfg.fpr)


def two_moons(n: int, noise: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` points of two interleaved half-circles with Gaussian noise, and their moon (0/1)."""
    y = rng.integers(0, 2, n)
    t = rng.uniform(0, np.pi, n)
    x = np.where(y[:, None] == 0, np.c_[np.cos(t), np.sin(t)], np.c_[1 - np.cos(t), 0.5 - np.sin(t)])
    return x + noise * rng.standard_normal((n, 2)), y


def moons_shift(seed: int, cfg: OODConfig) -> list[dict]:
    """Two moons against a ring far from them (module docstring, 2)."""
    rng = np.random.default_rng(seed)
    x, y = two_moons(cfg.n_train, cfg.moons_noise, rng)
    q_in, _ = two_moons(cfg.n_test, cfg.moons_noise, rng)
    angle, radius = rng.uniform(0, 2 * np.pi, cfg.n_test), rng.uniform(2.5, 4.0, cfg.n_test)
    q_out = np.array([0.5, 0.25]) + radius[:, None] * np.c_[np.cos(angle), np.sin(angle)]
    rows = _classifier_scores("moons", seed, cfg, x, y, q_in, q_out, cfg.rff_lengthscale)
    return rows + _baselines("moons", seed, x, q_in, q_out, cfg.fpr)


def fenced_walks(grid: int, walks: int, steps: int, rng: np.random.Generator) -> np.ndarray:
    """Cells ``(walks * steps, 2)`` visited by random walks (stay, or move to a 4-neighbour) that never
    leave the left half of the grid; starts uniform over the left half."""
    half = grid // 2
    pos = np.c_[rng.integers(0, grid, walks), rng.integers(0, half, walks)]
    moves = np.array([[0, 0], [1, 0], [-1, 0], [0, 1], [0, -1]])
    out = np.empty((walks, steps, 2), dtype=np.int64)
    for t in range(steps):  # time steps; every walk moves at once
        nxt = pos + moves[rng.integers(0, 5, walks)]
        ok = (nxt[:, 0] >= 0) & (nxt[:, 0] < grid) & (nxt[:, 1] >= 0) & (nxt[:, 1] < half)
        pos = np.where(ok[:, None], nxt, pos)
        out[:, t] = pos
    return out.reshape(-1, 2)


def gridworld_shift(seed: int, cfg: OODConfig) -> list[dict]:
    """Unseen gridworld states (module docstring, 3)."""
    rng = np.random.default_rng(seed)
    g = cfg.grid
    lava = rng.random((g, g)) < 0.25
    steps = -(-(cfg.n_train + cfg.n_test) // cfg.walks)
    cells = fenced_walks(g, cfg.walks, steps, rng)[rng.permutation(cfg.walks * steps)]
    visits, q_in_cells = cells[: cfg.n_train], cells[cfg.n_train : cfg.n_train + cfg.n_test]
    right = np.argwhere(np.ones((g, g), dtype=bool))
    right = right[right[:, 1] >= g // 2]
    q_out_cells = right[rng.integers(0, right.shape[0], cfg.n_test)]
    coords = lambda cells: cells / (g - 1)  # noqa: E731
    y = lava[visits[:, 0], visits[:, 1]].astype(int)
    x, q_in, q_out = coords(visits), coords(q_in_cells), coords(q_out_cells)
    rows = _classifier_scores("gridworld", seed, cfg, x, y, q_in, q_out, cfg.grid_lengthscale)
    onehot = lambda cells: np.eye(g * g)[cells[:, 0] * g + cells[:, 1]]  # noqa: E731
    tab = LaplaceLogistic().fit(onehot(visits), y.astype(float))
    phi = np.vstack([onehot(q_in_cells), onehot(q_out_cells)])
    v = tab.variance(phi)
    b = bald(tab.sample_probs(phi, cfg.laplace_samples, rng))
    n_in = cfg.n_test
    rows.append(
        _row("gridworld", seed, "laplace-variance-onehot", "epistemic", "tabular-laplace", v[:n_in], v[n_in:])
    )
    rows.append(
        _row("gridworld", seed, "bald-onehot-laplace", "epistemic", "tabular-laplace", b[:n_in], b[n_in:])
    )
    return rows + _baselines("gridworld", seed, x, q_in, q_out, cfg.fpr)


_RUNNERS = {"causal": causal_shift, "moons": moons_shift, "gridworld": gridworld_shift}


def _task(task: tuple[int, tuple[str, ...], dict]) -> list[dict]:
    from threadpoolctl import threadpool_limits

    seed, shifts, cfg = task
    with threadpool_limits(1):
        return [r for s in shifts for r in _RUNNERS[s](seed, OODConfig(**cfg))]


def run_ood(
    seeds: Sequence[int], shifts: Sequence[str] = SHIFTS, cfg: OODConfig | None = None, workers: int = 2
) -> list[dict]:
    """One row per (shift, seed, score); each seed runs in its own process (``workers`` at a time)."""
    cfg = cfg or OODConfig()
    unknown = set(shifts) - set(SHIFTS)
    if unknown:
        raise ValueError(f"shifts: unknown {sorted(unknown)}; expected a subset of {SHIFTS}")
    tasks = [(int(s), tuple(shifts), asdict(cfg)) for s in seeds]
    if workers <= 1 or len(tasks) == 1:
        return [r for t in tasks for r in _task(t)]
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
        return [r for part in pool.map(_task, tasks) for r in part]


def summarise(rows: Sequence[dict]) -> list[dict]:
    """Per (shift, score): mean AUROC and its standard error over seeds, the mean DeLong error of one
    seed, and (baselines) the mean false-alarm and detection rates at the calibrated threshold."""
    out = []
    keys = list(dict.fromkeys((r["shift"], r["score"], r["kind"], r["model"]) for r in rows))
    for shift, score, kind, model in keys:
        sel = [r for r in rows if (r["shift"], r["score"]) == (shift, score)]
        a = np.array([r["auroc"] for r in sel])
        rec = {"shift": shift, "score": score, "kind": kind, "model": model, "seeds": len(sel)}
        rec["auroc"] = float(a.mean())
        rec["auroc_se"] = float(a.std(ddof=1) / np.sqrt(a.size)) if a.size > 1 else float("nan")
        rec["delong_se"] = float(np.mean([r["auroc_se"] for r in sel]))
        for m in ("false_alarm", "detection"):
            vals = [r[m] for r in sel if r[m] is not None]
            rec[m] = float(np.mean(vals)) if vals else None
        out.append(rec)
    return out


def plot_ood(summary: Sequence[dict], path: str | Path) -> Path:
    """AUROC ± 2 s.e. over seeds of each score, one panel per shift (epistemic blue, baselines grey)."""
    from .plots import _finish, _pyplot

    plt = _pyplot()
    shifts = list(dict.fromkeys(r["shift"] for r in summary))
    fig, axes = plt.subplots(1, len(shifts), figsize=(4.5 * len(shifts), 3.8), squeeze=False)
    for ax, shift in zip(axes[0], shifts, strict=True):
        sel = [r for r in summary if r["shift"] == shift]
        se = [0.0 if r["auroc_se"] != r["auroc_se"] else 2 * r["auroc_se"] for r in sel]
        colors = ["tab:blue" if r["kind"] == "epistemic" else "tab:gray" for r in sel]
        ax.barh(range(len(sel)), [r["auroc"] for r in sel], xerr=se, color=colors)
        ax.set_yticks(range(len(sel)), [r["score"] for r in sel], fontsize=8)
        ax.axvline(0.5, color="k", lw=1, ls=":")
        ax.set_xlim(0, 1.02)
        ax.set_xlabel("AUROC (out vs in)")
        ax.set_title(shift)
    return _finish(fig, "OOD detection: epistemic scores (blue) vs distance baselines (grey)", path, plt)


# ---------------------------------------------------------------------------- the command
@register(
    "ood",
    group="bench",
    help="OOD detection: AUROC of epistemic scores vs distance baselines (causal, two moons, gridworld)",
    options=(
        *common_options("bayesguard-out/ood", seeds=10),
        Option(
            "--shifts", "causal, moons and/or gridworld, comma-separated", list(SHIFTS), subset_of(SHIFTS)
        ),
        Option("--n-train", "training contexts per shift", OODConfig.n_train, positive),
        Option("--n-test", "in- and out-of-distribution test contexts (each)", OODConfig.n_test, positive),
        Option("--fpr", "false-alarm rate the baselines' thresholds are calibrated to", OODConfig.fpr, float),
        Option("--causal-shift", "covariate shift of the causal contexts, Mahalanobis units", 3.0, float),
        Option("--quick", "2 seeds, 200 training contexts, 150 epochs: about 15 s", False),
    ),
)
def ood(args: argparse.Namespace) -> Result:
    """AUROC of every score on every shift over seeds, and the calibrated baselines' rates."""
    if set(args.shifts) & {"moons", "gridworld"}:
        try:
            import torch  # noqa: F401
        except ImportError as exc:
            raise NeedsExtra(
                f"the MLP ensembles need PyTorch: pip install 'bayesguard[gfn]' ({exc})"
            ) from exc
    epochs = OODConfig.epochs
    if args.quick:
        args.seeds, args.n_train, args.n_test, epochs = 2, 200, 200, 150
    cfg = OODConfig(
        n_train=args.n_train, n_test=args.n_test, fpr=args.fpr, causal_shift=args.causal_shift, epochs=epochs
    )
    seeds = list(range(args.seed, args.seed + args.seeds))
    print(f"OOD detection: shifts {args.shifts}, seeds {seeds}, {cfg.n_train} training contexts")
    t0 = time.perf_counter()
    rows = run_ood(seeds, args.shifts, cfg, workers=args.workers)
    summary = summarise(rows)
    rate = lambda k: lambda r: "-" if r[k] is None else f"{r[k]:.3f}"  # noqa: E731
    columns = {
        "shift": col("shift"),
        "score": col("score"),
        "kind": col("kind"),
        "AUROC ± 2se": pm("auroc", 3),
        "DeLong se": col("delong_se", ".3f"),
        f"false alarm (fpr {cfg.fpr:g})": rate("false_alarm"),
        "detection": rate("detection"),
    }
    return Result(
        raw={"ood_raw.csv": rows},
        summary={"ood_summary.csv": summary},
        tables=(Table(summary, columns, note="± 2 standard errors over seeds; DeLong se: one seed's"),),
        settings={"seeds": seeds, "shifts": args.shifts, "config": asdict(cfg), "workers": args.workers},
        record="ood_run.json",
        plots=(Plot("ood_auroc.png", plot_ood, (summary,)),),
        notes=(f"\nwall time {time.perf_counter() - t0:.0f} s",),
    )
