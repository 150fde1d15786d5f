"""The service's Prometheus metrics across worker processes (http_support.Metrics): with
``multiprocess=True`` two processes write to one ``$PROMETHEUS_MULTIPROC_DIR`` and one exposition
shows their sum (counters and histograms), the largest live ``degraded`` gauge and the latest
``open_asks``; a worker that stops (marked dead, or crashed) no longer counts in the live gauges while
its counts stay; without it each Metrics keeps its own registry (one app, one process)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import pytest

pytest.importorskip("prometheus_client")
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from bayesguard.service.http_support import MULTIPROC_ENV, Metrics, multiprocess_exposition  # noqa: E402

# one worker: records the verdicts in argv, sets the gauges, says "ready", then on a line from stdin
# exits, marking itself dead first when told "close" (a graceful shutdown) and not when told "crash"
WORKER = textwrap.dedent(
    """
    import os, sys
    from types import SimpleNamespace
    from bayesguard.service.http_support import Metrics

    decisions, degraded, asks = sys.argv[1].split(","), int(sys.argv[2]), int(sys.argv[3])
    m = Metrics(multiprocess=True)
    for d in decisions:
        m.verdict(SimpleNamespace(decision=SimpleNamespace(value=d)), 0.003)
    m.requests.labels("/v1/check", "200").inc(len(decisions))
    m.degraded.set(degraded)
    m.open_asks.set(asks)
    print("ready", os.getpid(), flush=True)
    if sys.stdin.readline().strip() == "close":
        m.close()
    """
)


def _samples(text: bytes) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(text.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _worker(tmp, decisions: str, degraded: int, asks: int) -> subprocess.Popen:
    env = dict(os.environ, **{MULTIPROC_ENV: str(tmp)})  # set before the child imports prometheus_client
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKER, decisions, str(degraded), str(asks)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    assert line.startswith("ready"), f"the worker did not start: {line!r}"
    return proc


def _stop(proc: subprocess.Popen, how: str) -> None:
    proc.stdin.write(how + "\n")
    proc.stdin.close()
    assert proc.wait(30) == 0


def test_two_processes_are_summed_in_one_exposition(tmp_path):
    a = _worker(tmp_path, "ALLOW,ALLOW,ALLOW,REJECT,REJECT", degraded=1, asks=5)
    b = None
    try:
        b = _worker(tmp_path, "ALLOW,ALLOW,ALLOW,ALLOW,ASK", degraded=0, asks=2)  # b lists ASKs last
        got = _samples(multiprocess_exposition(str(tmp_path)))
        verdicts = {
            d: got[("bayesguard_verdicts_total", (("decision", d),))] for d in ("ALLOW", "REJECT", "ASK")
        }
        assert verdicts == {"ALLOW": 7.0, "REJECT": 2.0, "ASK": 1.0}
        assert got[("bayesguard_check_seconds_count", ())] == 10.0
        assert got[("bayesguard_check_seconds_bucket", (("le", "0.005"),))] == 10.0
        assert got[("bayesguard_check_seconds_bucket", (("le", "0.002"),))] == 0.0
        assert got[("bayesguard_http_requests_total", (("route", "/v1/check"), ("status", "200")))] == 10.0
        assert got[("bayesguard_degraded", ())] == 1.0  # one live worker is degraded
        assert got[("bayesguard_open_asks", ())] == 2.0  # the latest listing
        _stop(a, "close")  # a stops gracefully: its live gauges go, its counts stay
        got = _samples(multiprocess_exposition(str(tmp_path)))
        assert got[("bayesguard_verdicts_total", (("decision", "ALLOW"),))] == 7.0
        assert got[("bayesguard_degraded", ())] == 0.0
        assert got[("bayesguard_open_asks", ())] == 2.0
        pid_b = b.pid
        _stop(b, "crash")  # b never marks itself dead: the next exposition notices it is gone
        assert any(f.name.endswith(f"_{pid_b}.db") and "live" in f.name for f in tmp_path.iterdir())
        got = _samples(multiprocess_exposition(str(tmp_path)))
        assert not any("live" in f.name for f in tmp_path.iterdir())
        assert ("bayesguard_degraded", ()) not in got and ("bayesguard_open_asks", ()) not in got
        assert got[("bayesguard_verdicts_total", (("decision", "ASK"),))] == 1.0
    finally:
        for p in (a, b):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait()


def test_multiprocess_mode_needs_the_variable_before_the_import(tmp_path, monkeypatch):
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    with pytest.raises(RuntimeError, match=MULTIPROC_ENV):
        Metrics(multiprocess=True)
    # set now, after prometheus_client was imported here: values would never reach the files
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))
    import prometheus_client.values as values

    if values.ValueClass is values.MutexValue:
        with pytest.raises(RuntimeError, match="set after prometheus_client was imported"):
            Metrics(multiprocess=True)


def test_without_multiprocess_each_app_counts_its_own():
    one, two = Metrics(), Metrics()
    for _ in range(3):
        one.verdict(SimpleNamespace(decision=SimpleNamespace(value="ALLOW")), 0.01)
    two.verdict(SimpleNamespace(decision=SimpleNamespace(value="REJECT")), 0.01)
    a, b = _samples(one.render()), _samples(two.render())
    assert a[("bayesguard_verdicts_total", (("decision", "ALLOW"),))] == 3.0
    assert ("bayesguard_verdicts_total", (("decision", "REJECT"),)) not in a
    assert b[("bayesguard_verdicts_total", (("decision", "REJECT"),))] == 1.0
    assert b[("bayesguard_check_seconds_count", ())] == 1.0
    one.close()  # nothing to mark: no files
