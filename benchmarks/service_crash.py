"""Kill -9 the server under load, again and again: is every verdict a client received in the store?

Each round starts `bayesguard serve` on one SQLite audit store (the same file every round), sends checks
from several client threads and observations from one more, and SIGKILLs the server after a random
0.3-2 s. After each kill the store is opened by this process: the hash chain must verify (no torn or
half-written record), every response a client received (HTTP 200) must be in the store with the same
seq, hash and decision, and the restarted server must resume at the posterior version of every
observation recorded so far.

Usage: python benchmarks/service_crash.py [--rounds 20] [--threads 4] [--seed 0] [--backend sqlite|postgresql]
       [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
from service_common import Server, add_key, bandit_bundle, machine, post


def client(url: str, key: str, tag: str, body: dict, path: str, got: list, stop: threading.Event) -> None:
    i = 0
    while not stop.is_set():
        i += 1
        rid = f"{tag}-{i}"
        try:
            status, out = post(url, path, {**body, "id": rid}, key, timeout=5)
        except OSError:
            return  # the server is gone
        if status == 200:
            got.append((rid, path, out))
        if path == "/v1/observe":
            time.sleep(0.05)


def one_round(k: int, bundle: Path, store: str, key: str, args: argparse.Namespace, rng, work: Path) -> dict:
    from bayesguard.service import load_bundle
    from bayesguard.service.store import AuditStore

    server = Server(bundle, store, log=work / "server.log")
    with urllib.request.urlopen(server.url + "/healthz") as r:
        version_at_start = json.loads(r.read())["posterior_version"]
    g = load_bundle(bundle)
    arms = [[float((i + j) % 2) for j in range(g.family.n_features)] for i in range(g.n_actions)]
    got: list = []
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=client,
            args=(
                server.url,
                key,
                f"r{k}-c{t}",
                {"context": arms, "action": t % g.n_actions},
                "/v1/check",
                got,
                stop,
            ),
        )
        for t in range(args.threads)
    ]
    obs = {"data": {"features": [arms[1]], "rewards": [0.5]}}
    threads.append(
        threading.Thread(target=client, args=(server.url, key, f"r{k}-o", obs, "/v1/observe", got, stop))
    )
    for t in threads:
        t.start()
    time.sleep(float(rng.uniform(0.3, 2.0)))
    server.kill9()
    stop.set()
    for t in threads:
        t.join()
    missing = mismatched = 0
    with AuditStore(store) as s:
        found = s.verify()
        n_observe = s.count(kind="observe")
        for rid, path, out in got:
            rec = s.by_ref(rid)
            if rec is None:
                missing += 1
            elif (
                rec.seq != out["seq"]
                or rec.hash != out["record_hash"]
                or (path == "/v1/check" and rec.payload["verdict"]["decision"] != out["decision"])
            ):
                mismatched += 1
    return {
        "round": k,
        "received": len(got),
        "received_checks": sum(p == "/v1/check" for _, p, _ in got),
        "received_observations": sum(p == "/v1/observe" for _, p, _ in got),
        "missing": missing,
        "mismatched": mismatched,
        "chain_ok": found.ok,
        "chain_reason": found.reason,
        "records": found.n,
        "observe_records": n_observe,
        "version_at_start": version_at_start,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--backend",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="the audit store: a SQLite file, or a throwaway PostgreSQL server (tests/pg_server.py)",
    )
    ap.add_argument("--out", default="benchmarks/results")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bg-crash-"))
    try:
        if args.backend == "sqlite":
            run(args, work, str(work / "audit.db"))
        else:
            sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
            import pg_server

            with pg_server.throwaway_server() as url:
                run(args, work, url)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path, store: str) -> None:
    """The rounds on one store; writes ``service_crash[_postgresql].json``."""
    rng = np.random.default_rng(args.seed)
    bundle = bandit_bundle(work / "bandit")
    key = add_key(store)
    rows = []
    for k in range(args.rounds):
        row = one_round(k, bundle, store, key, args, rng, work)
        # the next round's server must resume at the version of every observation recorded so far
        if rows:
            row["resumed_version_ok"] = row["version_at_start"].endswith(f":{rows[-1]['observe_records']}")
        rows.append(row)
        chain = "ok" if row["chain_ok"] else f"BROKEN: {row['chain_reason']}"
        print(
            f"round {k}: {row['received']} received, {row['missing']} missing, "
            f"{row['mismatched']} mismatched, chain {chain}, {row['records']} records"
        )
    summary = {
        "rounds": len(rows),
        "received": sum(r["received"] for r in rows),
        "missing": sum(r["missing"] for r in rows),
        "mismatched": sum(r["mismatched"] for r in rows),
        "chain_ok_every_round": all(r["chain_ok"] for r in rows),
        "resumed_version_ok_every_round": all(r.get("resumed_version_ok", True) for r in rows),
    }
    print(summary)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    name = "service_crash.json" if args.backend == "sqlite" else f"service_crash_{args.backend}.json"
    (out / name).write_text(
        json.dumps({"machine": machine(), "args": vars(args), "summary": summary, "rounds": rows}, indent=2)
    )
    print(f"wrote {out / name}")


if __name__ == "__main__":
    main()
