"""Latency of one discrete do-query with evidence on a 27-variable network: the former single ``einsum``
over all tables against the elimination engine (:mod:`bayesguard.theories.causal.elimination`).

Networks:

- ``random27``: 27 nodes, 52 arcs, in-degree at most 3 (a random DAG, fixed seed) with the arities of the
  "insurance" network (8 binary, 5 ternary, 12 four-state, 2 five-state variables), shuffled; Dirichlet(1)
  tables. Also batched: ``random27_m64``, 64 theories sharing the graph.
- ``insurance``: the real network (Binder et al., 1997), when an installed ``pgmpy`` ships it in its
  package (``pgmpy/utils/example_models/insurance.bif.gz``, e.g. pgmpy 0.1.26); pgmpy's
  ``VariableElimination`` is then timed as well (on the mutilated model, built outside the timing).
  pgmpy is *not* a dependency of bayesguard.

Queries: a random target, one do-variable and 1-3 evidence variables (disjoint), random values; queries
whose evidence has probability 0 are redrawn. Per query: ``old`` (one einsum over every table, greedy path
search, no cache: timed once), ``new cold`` (plan cache cleared first), ``new warm`` (same variables, new
values, plan from the cache), for the default per-step contraction and for one einsum with the explicit
path (``method="path"``). Answers are checked against the old method (and pgmpy) and the largest
difference recorded. The old method runs in a forked child (timed inside it) and is stopped after
``--old-timeout-s``: such a query records the timeout as its time (``old_timed_out``), so the old
percentiles are then lower bounds and the ratios new/old upper bounds.

    python benchmarks/discrete_query_speed.py [--queries 50] [--seed 0] [--batch 64]
        [--out benchmarks/results/discrete_query_speed.json]

Writes every per-query timing (milliseconds) and a p50/p95 summary with the ratio new/old from the same run.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time
from pathlib import Path

import numpy as np

from bayesguard.experiments.results import write_json
from bayesguard.theories.causal.discrete import DiscreteTheories, query
from bayesguard.theories.causal.elimination import clear_plan_cache, contract_all, eliminate

INSURANCE_ARITIES = [2] * 8 + [3] * 5 + [4] * 12 + [5] * 2


def random27(seed: int, m: int) -> DiscreteTheories:
    """27 nodes, 52 arcs, in-degree <= 3, the insurance arities shuffled, Dirichlet(1) tables (m, q, r)."""
    rng = np.random.default_rng(seed)
    d = 27
    adj = np.zeros((d, d), dtype=bool)
    while adj.sum() < 52:
        i, j = sorted(rng.choice(d, 2, replace=False))
        if adj[:, j].sum() < 3:
            adj[i, j] = True
    perm = rng.permutation(d)
    adj = adj[np.ix_(perm, perm)]
    ar = rng.permutation(INSURANCE_ARITIES).astype(np.int64)
    cpts = tuple(
        rng.dirichlet(np.ones(ar[j]), size=(m, int(np.prod(ar[np.flatnonzero(adj[:, j])])))) for j in range(d)
    )
    return DiscreteTheories(adj, ar, cpts)


def new_query(theories: DiscreteTheories, target: int, do: dict, evidence: dict, method: str) -> np.ndarray:
    if method == "steps":
        return query(theories, target, do, evidence)
    joint = eliminate(theories.cpts, theories.adj, theories.arities, do, evidence, [target], method=method)
    return joint / joint.sum(axis=1, keepdims=True)


def draw_queries(theories: DiscreteTheories, n: int, rng: np.random.Generator) -> list[tuple]:
    """``n`` (target, do, evidence, warm do, warm evidence) with evidence of positive probability."""
    ar, out = theories.arities, []

    def values(vars_: list[int]) -> dict:
        return {v: int(rng.integers(ar[v])) for v in vars_}

    def ok(t: int, do: dict, ev: dict) -> bool:
        try:
            query(theories, t, do, ev)
        except ValueError:
            return False
        return True

    while len(out) < n:
        v = [int(i) for i in rng.permutation(theories.d)]
        n_ev = int(rng.integers(1, 4))
        t, do_v, ev_v = v[0], v[1:2], v[2 : 2 + n_ev]
        do, ev = values(do_v), values(ev_v)
        if not ok(t, do, ev):
            continue
        for _ in range(20):  # other values of the same variables for the warm query
            do2, ev2 = values(do_v), values(ev_v)
            if ok(t, do2, ev2):
                break
        else:
            do2, ev2 = do, ev
        out.append((t, do, ev, do2, ev2))
    clear_plan_cache()
    return out


def ms(fn, *args) -> tuple[float, np.ndarray]:
    """Milliseconds of ``fn(*args)`` and its result."""
    t0 = time.perf_counter()
    r = fn(*args)
    return 1e3 * (time.perf_counter() - t0), r


def load_insurance():
    """(theories m=1, pgmpy model, names) of the real insurance network, or None without pgmpy's file."""
    try:
        from pgmpy.utils import get_example_model

        model = get_example_model("insurance")
    except Exception:  # noqa: BLE001  (pgmpy missing, or a version that downloads its models)
        return None
    names = sorted(model.nodes())
    idx = {n: i for i, n in enumerate(names)}
    d = len(names)
    adj = np.zeros((d, d), dtype=bool)
    for a, b in model.edges():
        adj[idx[a], idx[b]] = True
    ar = np.array([model.get_cardinality(n) for n in names], dtype=np.int64)
    cpts = []
    for n in names:
        cpd = model.get_cpds(n)
        ev = [idx[e] for e in cpd.variables[1:]]
        vals = cpd.values.reshape((ar[idx[n]], *ar[ev]))  # (r, *r[evidence in cpd order])
        order = list(np.argsort(ev))
        table = np.transpose(vals, [1 + k for k in order] + [0]).reshape(-1, ar[idx[n]])
        cpts.append(table[None])
    return DiscreteTheories(adj, ar, tuple(cpts)), model, names


def pgmpy_query(model, names, target: int, do: dict, ev: dict) -> tuple[float, np.ndarray]:
    """pgmpy VariableElimination on the mutilated model (do-node a uniform root, then observed)."""
    from pgmpy.factors.discrete import TabularCPD
    from pgmpy.inference import VariableElimination

    mm = model.copy()
    states = {}
    for v, c in do.items():
        x = names[v]
        sn = model.get_cpds(x).state_names[x]
        for p in list(mm.get_parents(x)):
            mm.remove_edge(p, x)
        mm.remove_cpds(x)
        mm.add_cpds(TabularCPD(x, len(sn), [[1 / len(sn)]] * len(sn), state_names={x: sn}))
        states[x] = sn[c]
    for v, c in ev.items():
        states[names[v]] = model.get_cpds(names[v]).state_names[names[v]][c]
    ve = VariableElimination(mm)
    t, r = ms(lambda: ve.query([names[target]], evidence=states, show_progress=False))
    return t, r.values[None]


def _old_child(conn, theories: DiscreteTheories, t: int, do: dict, ev: dict) -> None:
    conn.send(ms(contract_all, theories, t, do, ev))


def old_timed(theories: DiscreteTheories, t: int, do: dict, ev: dict, timeout_s: float):
    """``(ms, answer)`` of the old method, run in a forked child (timed inside it), or None when it has
    not finished after ``timeout_s`` (the child is then killed)."""
    ctx = mp.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    child = ctx.Process(target=_old_child, args=(send, theories, t, do, ev))
    child.start()
    out = recv.recv() if recv.poll(timeout_s) else None
    if out is None:
        child.kill()
    child.join()
    return out


def run_case(
    name: str, theories: DiscreteTheories, queries: list[tuple], old_timeout_s: float, pg=None
) -> dict:
    """Time every query with every method; the old method's time is censored at ``old_timeout_s``."""
    rows = []
    for k, (t, do, ev, do2, ev2) in enumerate(queries):
        row: dict = {"query": k, "target": t, "do": do, "evidence": ev}
        for method in ("steps", "path"):
            clear_plan_cache()
            row[f"new_{method}_cold_ms"], new = ms(new_query, theories, t, do, ev, method)
            row[f"new_{method}_warm_ms"], _ = ms(new_query, theories, t, do2, ev2, method)
        old = old_timed(theories, t, do, ev, old_timeout_s)
        row["old_timed_out"] = old is None
        row["old_ms"] = 1e3 * old_timeout_s if old is None else old[0]
        if old is not None:
            row["max_abs_diff_old"] = float(np.abs(old[1] - new).max())
        if pg is not None:
            row["pgmpy_ms"], ref = pgmpy_query(*pg, t, do, ev)
            row["max_abs_diff_pgmpy"] = float(np.abs(ref - new).max())
        rows.append(row)
        print(
            f"{name} {k:3d} old {'>' if old is None else ' '}{row['old_ms']:9.1f} ms  new cold "
            f"{row['new_steps_cold_ms']:.2f} warm {row['new_steps_warm_ms']:.3f} ms",
            flush=True,
        )
    return {"rows": rows, "summary": summarise(rows)}


def summarise(rows: list[dict]) -> dict:
    """p50/p95 of every timing; old times that hit the timeout count as the timeout (a lower bound), so
    the ratios new/old are upper bounds where ``old_timed_out`` > 0."""
    out: dict = {}
    for key in dict.fromkeys(k for r in rows for k in r if k.endswith("_ms")):
        vals = np.array([r[key] for r in rows], dtype=float)
        out[key] = {"p50": float(np.median(vals)), "p95": float(np.percentile(vals, 95)), "n": len(vals)}
    out["old_timed_out"] = sum(r["old_timed_out"] for r in rows)
    old = np.array([r["old_ms"] for r in rows])
    for key in ("new_steps_cold_ms", "new_steps_warm_ms", "new_path_cold_ms", "new_path_warm_ms"):
        new = np.array([r[key] for r in rows])
        out[f"ratio_{key[:-3]}_over_old"] = {
            "p50_over_p50": float(np.median(new) / np.median(old)),
            "p95_over_p95": float(np.percentile(new, 95) / np.percentile(old, 95)),
            "median_per_query": float(np.median(new / old)),
        }
    diffs = [r["max_abs_diff_old"] for r in rows if "max_abs_diff_old" in r]
    out["max_abs_diff_old"] = max(diffs) if diffs else None
    if "max_abs_diff_pgmpy" in rows[0]:
        out["max_abs_diff_pgmpy"] = max(r["max_abs_diff_pgmpy"] for r in rows)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--queries", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=64, help="theories in the batched case")
    ap.add_argument("--old-timeout-s", type=float, default=5.0, help="censor the old method's time here")
    ap.add_argument("--out", default="benchmarks/results/discrete_query_speed.json")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    cases: dict = {}
    single = random27(args.seed, 1)
    qs = draw_queries(single, args.queries, rng)
    cases["random27"] = run_case("random27", single, qs, args.old_timeout_s)
    batched = random27(args.seed, args.batch)  # the same graph, m tables per node
    qs_b = draw_queries(batched, args.queries, np.random.default_rng(args.seed + 1))
    cases[f"random27_m{args.batch}"] = run_case(f"random27_m{args.batch}", batched, qs_b, args.old_timeout_s)
    ins = load_insurance()
    if ins is not None:
        theories, model, names = ins
        qs_i = draw_queries(theories, args.queries, np.random.default_rng(args.seed + 2))
        cases["insurance"] = run_case("insurance", theories, qs_i, args.old_timeout_s, pg=(model, names))
    else:
        print("insurance: pgmpy with a shipped insurance model is not importable; skipped")
    record = {
        "benchmark": "discrete_query_speed",
        "args": vars(args),
        "networks": {k: {"d": 27, "arcs": 52} for k in cases},
        "summary": {k: v["summary"] for k, v in cases.items()},
        "per_query": {k: v["rows"] for k, v in cases.items()},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_json(record, args.out)
    for k, v in cases.items():
        print(k, {key: val for key, val in v["summary"].items()})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
