"""``bayesguard.Client``: the HTTP service's guard used like a local one. It gives the local guard's
verdicts (decisions and harm numbers) on the same bundle, fails closed on every transport, server, auth
and input error, resends a check with the same id (recorded once), and ``observe`` moves the posterior
version. The service runs in-process (Starlette's TestClient): no sockets, except a closed port."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import httpx
import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from guard_bundles import ARMS, make_bundle, plant_rows

import bayesguard
from bayesguard import BanditData, Decision, FiniteData
from bayesguard.service import ActionRejected, guarded, load_bundle
from bayesguard.service.app import create_app
from bayesguard.service.client import Client, InvalidRequest, ServiceError, Unavailable
from bayesguard.service.runtime import GuardService
from bayesguard.theories.causal.observations import CausalData

URL = "http://testserver"
AMBIENTS = (-2.0, 0.0, 1.0, 2.0, 3.0)


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    root = tmp_path_factory.mktemp("bundles")
    return {k: make_bundle(k, root / k) for k in ("plant", "bandit", "finite")}


def _served(bundle, tmp_path, name="svc"):
    service = GuardService(bundle, tmp_path / f"{name}.db")
    key = service.store.add_key("tester", ["admin"])
    http = TestClient(create_app(service, page=False), raise_server_exceptions=False)
    return service, http, key


@pytest.fixture
def plant(bundles, tmp_path):
    service, http, key = _served(bundles["plant"], tmp_path)
    with http:
        yield service, Client(URL, key, http=http), http
    service.close()


def _same(remote, local):
    assert (remote.action, remote.decision, remote.witness, remote.guaranteed) == (
        local.action,
        local.decision,
        local.witness,
        local.guaranteed,
    )
    np.testing.assert_allclose(
        [remote.harm_estimate, remote.posterior_harm], [local.harm_estimate, local.posterior_harm], rtol=1e-12
    )
    assert remote.reason == local.reason and remote.threshold == local.threshold


def test_gives_the_local_guards_verdicts(plant, bundles):
    service, client, _ = plant
    local = load_bundle(bundles["plant"])
    seen, seqs = set(), []
    for ambient in AMBIENTS:
        for action in (0, 1, "open the valve"):
            v = client.check({"ambient": np.float64(ambient)}, action)
            _same(v, local.check({"ambient": ambient}, 1 if action == "open the valve" else action))
            assert isinstance(v.action, int)
            seen.add(v.decision)
            rec = client.last_record
            assert rec.posterior_version == service.version and rec.seq is not None
            assert service.store.by_ref(rec.id).seq == rec.seq
            seqs.append(rec.seq)
        for r, w in zip(
            client.check_all(np.array([ambient])), local.check_all({"ambient": ambient}), strict=True
        ):
            _same(r, w)  # an array context is read in the context-variable order
        assert [r.id for r in client.last_records] == [
            f"{client.last_records[0].id[:-2]}/{a}" for a in (0, 1)
        ]
        np.testing.assert_array_equal(
            client.allowed_actions({"ambient": ambient}), local.allowed_actions({"ambient": ambient})
        )
    assert seen == set(Decision)  # not vacuous: ALLOW, REJECT and ASK all occur
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert client.n_actions == 2 and client.info()["family"] == "causal"


@pytest.mark.parametrize("kind", ["bandit", "finite"])
def test_other_families_and_their_native_data(bundles, tmp_path, kind):
    service, http, key = _served(bundles[kind], tmp_path)
    local = load_bundle(bundles[kind])
    with http, Client(URL, key, http=http) as client:
        contexts = [ARMS, 2 * ARMS] if kind == "bandit" else [None]
        for ctx in contexts:
            for r, w in zip(client.check_all(ctx), local.check_all(ctx), strict=True):
                _same(r, w)
        data = (
            BanditData(ARMS[[0, 0]], np.array([5.0, 4.5]))
            if kind == "bandit"
            else FiniteData(np.array([1, 1]), np.array([2, 2]))  # right -> nothing: left-cake
        )
        version = client.observe(data)
        local.observe(data)
        assert version.endswith(":1") and version == service.version
        for ctx in contexts:  # the posterior moved as the local guard's did
            for r, w in zip(client.check_all(ctx), local.check_all(ctx), strict=True):
                _same(r, w)
    service.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_fails_closed_on_a_dead_url():
    client = Client(f"http://127.0.0.1:{_closed_port()}", "k", timeout=0.5, retries=1, backoff=0.0)
    t0 = time.perf_counter()
    v = client.check({"ambient": 0.0}, 1)
    assert v.decision is Decision.REJECT and v.action == 1
    assert "failing closed" in v.reason and "ConnectError" in v.reason
    assert client.last_record.seq is None and client.last_record.id
    all_ = client.check_all({"ambient": 0.0})  # the number of actions was never learnt
    assert [(x.decision, x.action) for x in all_] == [(Decision.REJECT, None)]
    assert not client.allowed_actions({"ambient": 0.0}).any()
    with pytest.raises(Unavailable):
        client.observe({"rows": []})
    with pytest.raises(Unavailable):
        client.health()
    assert time.perf_counter() - t0 < 5
    client.close()


class Flaky:
    """An http client that fails the first ``n`` requests: before sending (``"connect"``), after the
    service handled it (``"lost"``: the response is lost), or with a 503 (``"503"``)."""

    def __init__(self, http, n, how):
        self.http, self.n, self.how, self.bodies = http, n, how, []

    def request(self, method, url, **kw):
        self.bodies.append(kw.get("json"))
        if len(self.bodies) > self.n:
            return self.http.request(method, url, **kw)
        if self.how == "connect":
            raise httpx.ConnectError("refused")
        self.http.request(method, url, **kw)  # the service handles it
        if self.how == "lost":
            raise httpx.ReadTimeout("response lost")
        return httpx.Response(503, json={"error": {"code": "down", "message": "try later"}})


@pytest.mark.parametrize("how", ["connect", "lost", "503"])
def test_retries_resend_the_same_id_and_record_once(plant, how):
    service, _, http = plant
    key = service.store.add_key(f"k-{how}", ["check", "observe"])
    flaky = Flaky(http, 2, how)
    client = Client(URL, key, http=flaky, retries=2, backoff=0.0)
    v = client.check({"ambient": 1.0}, 1)
    assert v.decision is Decision.REJECT and "failing closed" not in v.reason  # the real verdict
    ids = {b["id"] for b in flaky.bodies}
    assert len(flaky.bodies) == 3 and ids == {client.last_record.id}
    assert service.store.count(kind="verdict") == 1  # a lost response's retry got the recorded verdict
    version = Client(URL, key, http=Flaky(http, 1, how), retries=1, backoff=0.0).observe(
        {"rows": [{"ambient": 0.1, "valve": 0.2, "pressure": 0.3}]}
    )
    assert version.endswith(":1") and service.store.count(kind="observe") == 1


def test_retries_exhausted_fail_closed(plant):
    service, _, http = plant
    flaky = Flaky(http, 10, "503")
    client = Client(URL, service.store.add_key("exhausted", ["check"]), http=flaky, retries=2, backoff=0.0)
    v = client.check({"ambient": 0.0}, "do nothing")
    assert v.decision is Decision.REJECT and "try later" in v.reason
    assert len(flaky.bodies) == 3 and len({b["id"] for b in flaky.bodies}) == 1
    assert v.action is None  # a name, and the action names were never read
    flaky.n = 0
    client.info()  # once read, a name's index is known even when failing closed
    flaky.n = 10**6
    assert client.check({"ambient": 0.0}, "open the valve").action == 1
    assert client.threshold == 0.1 and client.rule == service.guard.rule.value


def test_bad_input_and_refused_keys_fail_closed(plant):
    service, client, http = plant
    n = service.store.count(kind="verdict")
    v = client.check({"ambient": "hot"}, 1)
    assert v.decision is Decision.REJECT and "context.ambient" in v.reason and v.action == 1
    v = client.check({"ambient": float("nan")}, 1)  # refused before sending
    assert v.decision is Decision.REJECT and "context.ambient: expected a finite number" in v.reason
    assert client.check({"ambient": 0.0}, 7).decision is Decision.REJECT
    assert client.check({"ambient": 0.0}, True).decision is Decision.REJECT
    for key in ("wrong", None):
        v = Client(URL, key, http=http).check({"ambient": -2.0}, 0)
        assert v.decision is Decision.REJECT and "authorization" in v.reason
    assert service.store.count(kind="verdict") == n  # nothing above was recorded
    checker = Client(URL, service.store.add_key("checker", ["check"]), http=http)
    assert checker.check({"ambient": -2.0}, 0).decision is Decision.ALLOW
    with pytest.raises(ServiceError) as err:
        checker.observe({"rows": [{"ambient": 0, "valve": 0, "pressure": 0}]})
    assert err.value.status == 403
    with pytest.raises(InvalidRequest) as err:
        client.observe({"rows": [{"ambient": 0, "valve": "open"}]})
    assert err.value.status == 422 and err.value.message.startswith("data.rows[0]")
    with pytest.raises(ValueError, match="url"):
        Client("127.0.0.1:8000")


def test_observe_moves_the_version(plant):
    service, client, _ = plant
    v0 = client.info()["posterior_version"]
    client.check({"ambient": 2.0}, 0)
    assert client.last_record.posterior_version == v0 and v0.endswith(":0")
    rows = plant_rows(50, seed=3)
    v1 = client.observe(pd.DataFrame(rows, columns=["ambient", "valve", "pressure"]))
    v2 = client.observe(CausalData(rows[:5]))
    assert (v1, v2) == (v0[:-1] + "1", v0[:-1] + "2") and service.version == v2
    client.check({"ambient": 2.0}, 0)
    assert client.last_record.posterior_version == v2
    assert client.refresh()["posterior_version"] == v2 and client.health()["status"] == "ok"


def test_asks_answers_and_recorded_verdicts(plant):
    service, client, _ = plant
    v = client.check({"ambient": 2.0}, 0)
    assert v.decision is Decision.ASK
    ask_id = client.last_record.id
    assert ask_id in [a["id"] for a in client.asks()]
    out = client.answer(ask_id, approve=True, by="operator", note="checked the gauge")
    assert out["seq"] > client.last_record.seq
    got = client.verdict(ask_id)
    assert got["decision"] == "ASK" and got["answer"]["approve"] is True
    assert got["request"]["context"] == {"ambient": 2.0}
    assert ask_id not in [a["id"] for a in client.asks()]
    with pytest.raises(InvalidRequest) as err:
        client.answer(ask_id, approve=False)
    assert err.value.status == 409
    with pytest.raises(InvalidRequest) as err:
        client.verdict("no-such-id")
    assert err.value.status == 404


def test_guarded_tools_through_the_client(plant):
    _, client, _ = plant
    ran = []

    @guarded(client, action=1, context=lambda ambient: {"ambient": ambient})
    def open_valve(ambient: float) -> str:
        ran.append(ambient)
        return "opened"

    assert open_valve(-2.0) == "opened"
    with pytest.raises(ActionRejected):
        open_valve(1.0)
    dead = Client(f"http://127.0.0.1:{_closed_port()}", retries=0, timeout=0.5)
    with pytest.raises(ActionRejected, match="ConnectError"):
        guarded(dead, action=1, context={"ambient": -2.0})(lambda: ran.append("dead"))()
    assert ran == [-2.0]


def test_exported_lazily_without_requiring_httpx():
    assert bayesguard.Client is Client and bayesguard.service.Client is Client
    code = (
        "import sys; sys.modules['httpx'] = None; import bayesguard, bayesguard.service; "
        "from bayesguard import *; print(json.dumps(sys.modules.get('httpx') is not None))"
    )
    out = subprocess.run(
        [sys.executable, "-c", "import json; " + code], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) is False


def test_a_verdict_for_another_action_or_a_malformed_response_is_a_reject():
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if body["context"] == "garbled":
            return httpx.Response(200, text="<html>proxy page</html>")
        verdict = {"decision": "ALLOW", "action": 0, "harm_estimate": 0.0, "posterior_harm": 0.0}
        return httpx.Response(
            200, json={"id": body["id"], "verdict": {**verdict, "threshold": 0.1, "rule": "x"}}
        )

    client = Client("http://guard.invalid", "k", transport=httpx.MockTransport(handler))
    assert client.check({"ambient": 0.0}, 0).decision is Decision.ALLOW  # the transport is used
    v = client.check({"ambient": 0.0}, 1)
    assert v.decision is Decision.REJECT and "answered for action 0, not 1" in v.reason
    v = client.check("garbled", 0)
    assert v.decision is Decision.REJECT and "not JSON" in v.reason
