"""Fuzz the HTTP service with malformed and hostile requests: 0 ALLOW, no 5xx, every error logged.

The app runs in-process (FastAPI's TestClient: the whole ASGI stack, no sockets) on the bandit and the
causal example bundles, with API keys on and a SQLite audit store. Requests come from
``tests/hostile_requests.py`` (bad JSON, wrong types, NaN/Infinity/1e400, bodies over the 1 MiB limit,
unknown actions, missing/extra fields, missing/wrong keys and scopes, replayed ids with another body,
bad ids, wrong routes, bad observations and answers). Every response must be a 4xx with an error body,
and the service's log must hold one line per refused request. The chain must verify afterwards.

Usage: python benchmarks/service_fuzz.py [--n 10000] [--seed 0] [--out benchmarks/results]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from hostile_requests import Hostile  # noqa: E402
from service_common import EXAMPLES, fit, machine  # noqa: E402


class _Count(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.n = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.n += 1


def fuzz(bundle: Path, context, n: int, seed: int, work: Path) -> dict:
    from fastapi.testclient import TestClient

    from bayesguard.service.app import create_app
    from bayesguard.service.runtime import GuardService

    service = GuardService(bundle, str(work / f"{bundle.name}.db"))
    keys = {
        "good": service.store.add_key("all", ["admin"]),
        "observe_only": service.store.add_key("obs", ["observe"]),
        "check_only": service.store.add_key("chk", ["check"]),
    }
    app = create_app(service)
    logger = logging.getLogger("bayesguard.service")
    counter = _Count()
    logger.addHandler(counter)
    logger.setLevel(logging.INFO)
    statuses: Counter = Counter()
    by_cat: dict[str, Counter] = {}
    allow = server_errors = no_error_body = 0
    t0 = time.time()
    with TestClient(app, raise_server_exceptions=False) as http:
        first = http.post(
            "/v1/check",
            json={"context": context, "action": 0, "id": "used-id"},
            headers={"authorization": f"Bearer {keys['good']}"},
        )
        assert first.status_code == 200, first.text
        before = counter.n
        gen = Hostile(context, service.guard.n_actions, keys, "used-id")
        for cat, method, path, headers, body in gen.stream(np.random.default_rng(seed), n):
            r = http.request(method, path, headers=headers, content=body)
            statuses[r.status_code] += 1
            by_cat.setdefault(cat, Counter())[r.status_code] += 1
            try:
                out = r.json()
            except ValueError:
                out = {}
            if "ALLOW" in json.dumps(out):
                allow += 1
            if r.status_code >= 500:
                server_errors += 1
            if not (400 <= r.status_code < 500 and isinstance(out.get("error"), dict)):
                no_error_body += 1
        logged = counter.n - before
    logger.removeHandler(counter)
    found = service.store.verify()
    service.close()
    refused = sum(v for k, v in statuses.items() if k >= 400)
    return {
        "bundle": bundle.name,
        "requests": n,
        "seconds": time.time() - t0,
        "allow": allow,
        "server_errors": server_errors,
        "not_4xx_with_error_body": no_error_body,
        "refused": refused,
        "logged": logged,
        "unlogged": max(refused - logged, 0),
        "statuses": dict(sorted(statuses.items())),
        "by_category": {c: dict(sorted(v.items())) for c, v in by_cat.items()},
        "chain_ok": found.ok,
        "records": found.n,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000, help="hostile requests per guard")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="benchmarks/results")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="bg-fuzz-"))
    results = {"machine": machine(), "args": vars(args), "runs": []}
    import shutil

    for name, ctx in (("bandit", None), ("plant", None)):
        cfg_dir = work / name
        cfg_dir.mkdir()
        for f in EXAMPLES.glob(f"{name}.*"):
            shutil.copy(f, cfg_dir / f.name)
        bundle = fit(cfg_dir / f"{name}.toml", cfg_dir / f"{name}-bundle")
        from bayesguard.service import codecs, load_bundle

        example = codecs.describe_io(load_bundle(bundle))["context"]["example"] if ctx is None else ctx
        row = fuzz(bundle, example, args.n, args.seed, work)
        results["runs"].append(row)
        print(
            f"{name}: {row['requests']} hostile requests in {row['seconds']:.0f} s: ALLOW {row['allow']}, "
            f"5xx {row['server_errors']}, not 4xx+error {row['not_4xx_with_error_body']}, unlogged "
            f"{row['unlogged']}, statuses {row['statuses']}, chain ok {row['chain_ok']}"
        )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "service_fuzz.json").write_text(json.dumps(results, indent=2))
    print(f"wrote {out / 'service_fuzz.json'}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
