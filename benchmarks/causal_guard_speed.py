"""Latency of one causal-guard decision at d = 20: Monte Carlo over 1,000 theories against the amortised
network, and the quality of the amortised marginaliser against Monte Carlo with many theories.

Setup: a random linear-Gaussian SCM on 20 variables (ER, 2 edges per node), N = 200 rows, a structure-MCMC
posterior (4 chains, thinned, 1,000 graphs), harm ``X_h > mean + 1.5 sd`` on the variable with the most
ancestors, the actions ``do nothing`` and ``do(X_i = 2 sd)`` for three of its ancestors, and two
context variables. Both guards answer the same 500 contexts (rows of the data) for a random action.

Reported per decision (``Guard.check``, everything included): p50 and p99 in milliseconds, and the
marginaliser alone. The amortised error is measured at 50 held-out contexts against Monte Carlo with
20,000 fresh posterior theories.

    python benchmarks/causal_guard_speed.py [--out benchmarks/results] [--train-seconds 60]

Writes ``causal_guard_speed.json`` (summary) and ``causal_guard_speed.csv`` (every latency).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from bayesguard.datasets import sample_linear_gaussian_scm
from bayesguard.experiments.results import write_csv, write_json
from bayesguard.graphs.dag import transitive_closure
from bayesguard.guard.causal_guard import CausalGuard
from bayesguard.inference.mcmc import structure_mcmc
from bayesguard.marginal.amortised import AmortisedHarm
from bayesguard.marginal.montecarlo import monte_carlo_harm
from bayesguard.theories.causal.harm import HarmSpec
from bayesguard.theories.causal.harm_model import GaussianHarmModel
from bayesguard.theories.causal.linear_gaussian import sample_parameters
from bayesguard.theories.causal.scores import BGeScore
from bayesguard.theories.causal.structure import StructureScore


def build(seed: int) -> tuple:
    d = 20
    scm = sample_linear_gaussian_scm(d, 200, 2 * d, seed=seed)
    names = tuple(f"X{i}" for i in range(d))
    x = scm.data
    anc = transitive_closure(scm.adj[None])[0]  # anc[i, j]: i reaches j
    h = int(np.argmax(anc.sum(axis=0)))
    sources = [int(i) for i in np.flatnonzero(anc[:, h])][:3]
    others = [i for i in range(d) if i != h and i not in sources and not anc[h, i]]
    context = tuple(names[i] for i in others[:2])
    sd, mu = x.std(axis=0), x.mean(axis=0)
    actions = ({},) + tuple({names[i]: float(2 * sd[i])} for i in sources)
    spec = HarmSpec(names, f"{names[h]} > {mu[h] + 1.5 * sd[h]:.6f}", actions, context)
    score = StructureScore(BGeScore(x))
    mcmc = structure_mcmc(score, n_chains=4, n_steps=20_000, thin=40, seed=seed, progress=False)
    post = mcmc.posterior()
    return spec, x, post


def latencies(fn, contexts, actions) -> np.ndarray:
    out = np.empty(len(contexts))
    for k, (c, a) in enumerate(zip(contexts, actions, strict=True)):
        t0 = time.perf_counter()
        fn(c, a)
        out[k] = time.perf_counter() - t0
    return out * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="benchmarks/results")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-seconds", type=float, default=60.0)
    ap.add_argument("--decisions", type=int, default=500)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)

    t0 = time.perf_counter()
    spec, x, post = build(args.seed)
    setup_s = time.perf_counter() - t0
    print(f"posterior: {post.n_theories} graphs from structure MCMC ({setup_s:.1f} s); harm {spec.harm}")
    ctx_idx = spec.context_index
    rows = rng.integers(0, x.shape[0], args.decisions)
    contexts = [dict(zip(spec.context, x[r, ctx_idx].tolist(), strict=True)) for r in rows]
    acts = rng.integers(0, spec.n_actions, args.decisions).tolist()

    t0 = time.perf_counter()
    mc_guard = CausalGuard(spec, x, post, n_theories=1000, threshold=0.05, alpha=0.01)
    build_mc_s = time.perf_counter() - t0
    score = mc_guard.family.local
    graphs = post.theories

    def draw(r: np.random.Generator, n: int):
        return sample_parameters(score, graphs[r.integers(0, graphs.shape[0], n)], r, spec.names)

    t0 = time.perf_counter()
    q = AmortisedHarm(spec, seed=args.seed).fit(draw, x[:, ctx_idx], seconds=args.train_seconds, batch=512)
    train_s = time.perf_counter() - t0
    held_out = x[rng.integers(0, x.shape[0], 50)][:, ctx_idx]
    report = q.validate(draw, held_out, n_theories=20_000)
    am_guard = CausalGuard(spec, x, post, n_theories=1000, threshold=0.05, alpha=0.01, amortised=q)

    def mc_only(c, a):
        monte_carlo_harm(mc_guard._prepared().mc.harm(c), delta=0.05)

    def am_only(c, a):
        q.predict(c)

    for fn in (mc_guard.check, am_guard.check, mc_only, am_only):  # warm up
        latencies(fn, contexts[:20], acts[:20])
    timings = {
        "check_monte_carlo": latencies(mc_guard.check, contexts, acts),
        "check_amortised": latencies(am_guard.check, contexts, acts),
        "marginal_monte_carlo": latencies(mc_only, contexts, acts),
        "marginal_amortised": latencies(am_only, contexts, acts),
    }
    ref = GaussianHarmModel(spec, draw(np.random.default_rng(99), 1000))
    agree = np.mean(
        [
            (v1.decision == v2.decision)
            for v1, v2 in zip(
                list(mc_guard.history)[-args.decisions :],
                list(am_guard.history)[-args.decisions :],
                strict=True,
            )
        ]
    )
    summary = {
        "d": spec.d,
        "n_graphs": int(post.n_theories),
        "n_mc_theories": 1000,
        "setup_seconds": setup_s,
        "build_mc_guard_seconds": build_mc_s,
        "amortised_train_seconds": train_s,
        "amortised_steps": q.history[-1]["step"] if q.history else 0,
        "amortised_validation": report,
        "decisions": args.decisions,
        "decision_agreement_mc_vs_amortised": float(agree),
        "reference_mc_harm_range": [float(ref.harm(contexts[0]).min()), float(ref.harm(contexts[0]).max())],
    }
    for name, ms in timings.items():
        summary[name] = {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}
        print(f"{name:22s} p50 {summary[name]['p50_ms']:.3f} ms   p99 {summary[name]['p99_ms']:.3f} ms")
    print(f"amortised vs Monte Carlo (20,000 theories, 50 contexts): {report}")
    write_json(summary, out / "causal_guard_speed.json")
    write_csv(
        [
            {"path": name, "decision": k, "ms": float(v)}
            for name, ms in timings.items()
            for k, v in enumerate(ms)
        ],
        out / "causal_guard_speed.csv",
    )
    print(f"wrote {out / 'causal_guard_speed.json'}")


if __name__ == "__main__":
    main()
