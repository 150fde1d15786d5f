"""Shared by the service benchmarks: build example bundles, start and stop `bayesguard serve`.

Not a benchmark itself. The bundles are built from the configs under ``examples/bundles/`` (bandit) and
from a synthetic d = 20 linear-Gaussian world (causal: structure MCMC, or another sampler with an
amortised harm network), into a scratch directory.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples" / "bundles"
BIN = Path(sys.executable).parent / "bayesguard"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fit(config: Path, out: Path) -> Path:
    """``bayesguard fit CONFIG --out OUT`` (quiet); returns OUT."""
    subprocess.run(
        [str(BIN), "fit", str(config), "--out", str(out), "--overwrite"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return out


def bandit_bundle(work: Path) -> Path:
    work.mkdir(parents=True, exist_ok=True)
    for f in EXAMPLES.glob("bandit.*"):
        shutil.copy(f, work / f.name)
    return fit(work / "bandit.toml", work / "bandit-bundle")


def causal_bundle(
    work: Path,
    d: int = 20,
    n: int = 500,
    seed: int = 0,
    n_steps: int = 4000,
    *,
    sampler: str = "mcmc",
    max_parents: int | None = None,
    amortised: dict | None = None,
    name: str = "causal",
) -> Path:
    """A d-variable chain-plus-random-edges linear-Gaussian world; harm on the last variable; actions
    do nothing / set x0 / set x1; context the second variable. Posterior: structure MCMC (default) or
    ``sampler`` ("dp", "order-mcmc", ...) with in-degree bound ``max_parents``; ``amortised`` (a dict of
    ``[amortised]`` fields, e.g. ``{"steps": 3000}``) adds the amortised harm network. The bundle is
    ``work / f"{name}-bundle"``; the default arguments give the same config as before these options."""
    work.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = [f"x{i}" for i in range(d)]
    w = np.zeros((d, d))
    for j in range(1, d):
        w[j - 1, j] = rng.uniform(0.5, 1.0)
        for i in rng.choice(j, size=min(j, 1), replace=False):
            w[i, j] = w[i, j] or rng.uniform(-0.8, 0.8)
    x = np.zeros((n, d))
    for j in range(d):
        x[:, j] = x @ w[:, j] + rng.normal(size=n)
    pd.DataFrame(x, columns=names).to_csv(work / "world.csv", index=False)
    hi = float(np.quantile(x[:, -1], 0.99))
    if sampler == "mcmc":
        budget = f"n_steps = {n_steps}\nn_chains = 2\n"
    elif sampler == "order-mcmc":
        budget = f"n_steps = {n_steps}\nn_chains = 2\n"
    else:
        budget = ""
    if max_parents is not None:
        budget += f"max_parents = {max_parents}\n"
    toml = f"""family = "causal"
[data]
csv = "world.csv"
kind = "continuous"
[harm]
event = "x{d - 1} > {hi:.3f}"
actions = [{{}}, {{ x0 = 2.0 }}, {{ x1 = -1.0 }}]
action_names = ["nothing", "raise x0", "lower x1"]
context = ["x2"]
[rule]
threshold = 0.05
alpha = 0.01
delta = 0.05
[sampler]
method = "{sampler}"
seed = {seed}
{budget}n_theories = 200
n_param_draws = 8
"""
    if amortised is not None:
        toml += "[amortised]\n" + "".join(f"{k} = {v!r}\n" for k, v in amortised.items())
    (work / f"{name}.toml").write_text(toml)
    return fit(work / f"{name}.toml", work / f"{name}-bundle")


def add_key(store: str, name: str = "bench", scopes: str = "admin") -> str:
    out = subprocess.run(
        [str(BIN), "keys", "add", name, "--scopes", scopes, "--store", store],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    for token in out.split():
        if token.startswith("bgk_"):
            return token
    raise RuntimeError(f"no key in: {out}")


class Server:
    """``bayesguard serve`` in a child process on a free loopback port."""

    def __init__(
        self, bundle: Path, store: str, *, timeout: float = 5.0, log: Path | None = None, workers: int = 1
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        self.log = open(log or os.devnull, "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                str(BIN),
                "serve",
                str(bundle),
                "--store",
                store,
                "--port",
                str(self.port),
                "--timeout",
                str(timeout),
                "--log-level",
                "warning",
                "--workers",
                str(workers),
            ],
            stdout=self.log,
            stderr=self.log,
            env=env,
        )
        self.wait_ready()

    def wait_ready(self, limit: float = 60.0) -> None:
        t0 = time.time()
        while time.time() - t0 < limit:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("server did not become healthy")

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def post(url: str, path: str, body: dict, key: str, timeout: float = 10.0) -> tuple[int, dict]:
    req = urllib.request.Request(
        url + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def machine() -> dict:
    import platform

    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_avg_at_start": os.getloadavg(),
    }
