"""Throughput and latency of `bayesguard serve` over HTTP on loopback, and the decorator's overhead.

For the bandit guard (examples/bundles/bandit.toml), a causal guard at d = 20 (structure MCMC, its
Monte Carlo harm table prepared once per posterior version and reused by every check) and the same world
with order MCMC (in-degree <= 3) and an amortised harm network (``[amortised]``, trained and validated at
fit time, saved in the bundle: "causal_d20_amortised"), the server runs
in its own process (SQLite audit store, WAL, synchronous FULL, group commit; API keys on) and `wrk`
(Debian's package) sends POST /v1/check with rotating actions from C connections for T seconds.
Reported: checks/s, p50/p90/p99 latency, non-2xx count, and that the audit chain verifies and holds one
verdict per answered request. The in-process `@guarded` decorator's overhead is timed against a bare
`guard.check` in the same process, and the in-process time of one `guard.check` of each d = 20 guard.

Usage: python benchmarks/service_load.py [--seconds 15] [--connections 16] [--out benchmarks/results]
Needs `wrk` on PATH (apt-get install wrk).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import tempfile
import time
import timeit
from pathlib import Path

import numpy as np
from service_common import Server, add_key, bandit_bundle, causal_bundle, machine

LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {key}"
local bodies = {{ {bodies} }}
local i = 0
request = function()
  i = i + 1
  return wrk.format(nil, "/v1/check", nil, bodies[(i % #bodies) + 1])
end
"""


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def run_wrk(url: str, key: str, bodies: list[dict], seconds: int, connections: int, work: Path) -> dict:
    lua = work / "check.lua"
    quoted = ", ".join("[==[" + json.dumps(b) + "]==]" for b in bodies)  # JSON may hold "]]"
    lua.write_text(LUA.format(key=key, bodies=quoted))
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(lua), url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    lat = {p: _ms(v) for p, v in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M)}
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "checks_per_s": rps,
        "requests": total,
        "p50_ms": lat.get("50"),
        "p90_ms": lat.get("90"),
        "p99_ms": lat.get("99"),
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(1) if errors else None,
        "wrk_output": out,
    }


def bench_guard(
    name: str, bundle: Path, bodies: list[dict], args: argparse.Namespace, work: Path, workers: int = 1
) -> dict:
    from bayesguard.service.store import AuditStore

    store = str(work / f"{name}-w{workers}.db")
    key = add_key(store)
    server = Server(bundle, store, log=work / f"{name}.log", workers=workers)
    try:
        run_wrk(server.url, key, bodies, 2, args.connections, work)  # warm-up (prepares the posterior)
        result = run_wrk(server.url, key, bodies, args.seconds, args.connections, work)
    finally:
        server.stop()
    with AuditStore(store) as s:
        found = s.verify()
        n_verdicts = s.count(kind="verdict")
    if n_verdicts < result["requests"]:  # wrk counts a request it could not send as intended too
        raise RuntimeError(f"{name}: {result['requests']} requests but only {n_verdicts} verdicts recorded")
    result.update(
        guard=name,
        workers=workers,
        chain_ok=found.ok,
        records=found.n,
        verdicts_recorded=n_verdicts,
        connections=args.connections,
        seconds=args.seconds,
    )
    print(
        f"{name}, {workers} worker(s): {result['checks_per_s']:.0f} checks/s, p50 {result['p50_ms']:.2f} ms, "
        f"p99 {result['p99_ms']:.2f} ms, non-2xx {result['non_2xx']}, chain ok {found.ok}"
    )
    return result


def decorator_overhead(bundle: Path) -> dict:
    from bayesguard.service import guarded, load_bundle

    guard = load_bundle(bundle)
    arms = [[1.0] * guard.family.n_features] * guard.n_actions

    @guarded(guard, action=lambda a: a, context=lambda a: arms)
    def tool(a: int) -> int:
        return a

    allowed = [a for a in range(guard.n_actions) if guard.check(arms, a).allowed] or [0]
    a = allowed[0]
    n = 2000
    bare = min(timeit.repeat(lambda: guard.check(arms, a), number=n, repeat=5)) / n
    wrapped = []
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(n):
            try:
                tool(a)
            except Exception:  # a REJECT raises; the overhead is the same
                pass
        wrapped.append((time.perf_counter() - t0) / n)
    wrap = min(wrapped)
    return {"bare_check_us": bare * 1e6, "decorated_us": wrap * 1e6, "overhead_us": (wrap - bare) * 1e6}


def check_time(bundle: Path, bodies: list[dict], repeat: int = 5) -> dict:
    """In-process time of one ``guard.check`` (median and best over ``repeat`` passes of ``bodies``)."""
    from bayesguard.service import load_bundle

    guard = load_bundle(bundle)
    guard.check(bodies[0]["context"], bodies[0]["action"])  # prepares the posterior's tables
    per = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for b in bodies:
            guard.check(b["context"], b["action"])
        per.append((time.perf_counter() - t0) / len(bodies))
    margin = getattr(guard.bound.amortised, "error_margin", None)
    return {"median_ms": float(np.median(per)) * 1e3, "best_ms": min(per) * 1e3, "amortised_margin": margin}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--out", default="benchmarks/results")
    ap.add_argument("--workers", default="1,2", help="server processes to try, comma-separated")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    work = Path(tempfile.mkdtemp(prefix="bg-load-"))
    results = {
        "machine": machine(),
        "command": "python benchmarks/service_load.py "
        + " ".join(f"--{k} {v}" for k, v in vars(args).items() if k in ("seconds", "connections", "workers")),
    }
    b = bandit_bundle(work / "bandit")
    from bayesguard.service import load_bundle

    g = load_bundle(b)
    rng = np.random.default_rng(0)  # 20 different arm sets (contexts), every action
    bodies = [
        {
            "context": rng.integers(0, 2, size=(g.n_actions, g.family.n_features)).astype(float).tolist(),
            "action": a,
        }
        for _ in range(20)
        for a in range(g.n_actions)
    ]
    workers = [int(w) for w in args.workers.split(",")]
    results["bandit"] = [bench_guard("bandit", b, bodies, args, work, w) for w in workers]
    t0 = time.time()
    c = causal_bundle(work / "causal")
    results["causal_fit_s"] = time.time() - t0
    xs = np.linspace(-2.0, 2.0, 21).round(3)  # 21 contexts x 3 actions
    bodies = [{"context": {"x2": float(v)}, "action": a} for v in xs for a in range(3)]
    results["causal_d20"] = [bench_guard("causal_d20", c, bodies, args, work, w) for w in workers]
    t0 = time.time()
    am = causal_bundle(
        work / "causal_am",
        sampler="order-mcmc",
        max_parents=3,
        amortised={"steps": 3000, "seconds": 60.0, "seed": 0},
        name="causal_am",
    )
    results["causal_amortised_fit_s"] = time.time() - t0
    name = "causal_d20_amortised"
    results[name] = [bench_guard(name, am, bodies, args, work, w) for w in workers]
    results["check_in_process"] = {"causal_d20": check_time(c, bodies), name: check_time(am, bodies)}
    for k, v in results["check_in_process"].items():
        print(f"{k}: guard.check in-process {v['median_ms']:.3f} ms (best {v['best_ms']:.3f} ms)")
    results["decorator"] = decorator_overhead(b)
    print(
        f"decorator: bare check {results['decorator']['bare_check_us']:.1f} us, "
        f"overhead {results['decorator']['overhead_us']:.1f} us"
    )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "service_load.json").write_text(json.dumps(results, indent=2, default=str))
    print(f"wrote {out / 'service_load.json'}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
