"""The commands a newcomer types: fit, keys add, serve (a real server process on a loopback port, one and
two workers), then audit verify and audit replay on what it recorded."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from service_fixtures import ARMS, EXAMPLES

pytest.importorskip("uvicorn")
from bayesguard.cli import main  # noqa: E402

BIN = Path(sys.executable).parent / "bayesguard"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _call(url: str, body: dict | None = None, key: str | None = None) -> tuple[int, dict]:
    headers = {"content-type": "application/json"} | ({"authorization": f"Bearer {key}"} if key else {})
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers=headers, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def _verdicts_total(url: str) -> float:
    """The sum of ``bayesguard_verdicts_total`` over decisions in one scrape of ``/metrics``."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
        text = r.read().decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    return sum(s.value for s in families["bayesguard_verdicts"].samples if s.name.endswith("_total"))


@pytest.mark.parametrize("workers", [1, 2])
def test_fit_keys_serve_verify_replay(tmp_path, capsys, workers):
    for f in EXAMPLES.glob("bandit.*"):
        shutil.copy(f, tmp_path / f.name)
    bundle, store = tmp_path / "guard", tmp_path / "audit.db"
    assert main(["fit", str(tmp_path / "bandit.toml"), "--out", str(bundle)]) == 0
    assert main(["keys", "add", "agent", "--scopes", "check,observe", "--store", str(store)]) == 0
    key = next(t for t in capsys.readouterr().out.split() if t.startswith("bgk_"))
    port = _port()
    tmp = tmp_path / "tmp"  # where serve --workers N makes its metrics directory
    tmp.mkdir()
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", TMPDIR=str(tmp))
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    cmd = [
        str(BIN),
        "serve",
        str(bundle),
        "--store",
        str(store),
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if _call(url + "/healthz")[0] == 200:
                    break
            except OSError:
                time.sleep(0.1)
        else:
            raise AssertionError(f"the server did not start: {proc.stderr.read().decode()[-2000:]}")
        assert _call(url + "/v1/check", {"context": ARMS, "action": 0})[0] == 401
        decisions = [
            _call(url + "/v1/check", {"context": ARMS, "action": a}, key)[1]["decision"] for a in range(3)
        ]
        assert set(decisions) <= {"ALLOW", "REJECT", "ASK"}
        status, out = _call(
            url + "/v1/observe", {"data": {"features": [[1, 0, 0, 0]], "rewards": [1.1]}}, key
        )
        assert status == 200 and out["posterior_version"].endswith(":1")
        time.sleep(0.6)  # another worker polls the store every 0.5 s
        after = _call(url + "/v1/check", {"context": ARMS, "action": 1}, key)[1]
        assert after["posterior_version"].endswith(":1")
        # 4 checks, spread over the workers: every scrape (whichever worker answers) shows all 4
        assert [_verdicts_total(url) for _ in range(4)] == [4.0] * 4
        assert len(list(tmp.glob("bayesguard-metrics-*"))) == (1 if workers > 1 else 0)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    assert not list(tmp.glob("bayesguard-metrics-*"))  # removed when the server stops
    assert main(["audit", "verify", str(store)]) == 0
    assert main(["audit", "replay", str(store), "--bundle", str(bundle)]) == 0
    assert "4 identical, 0 different" in capsys.readouterr().out
