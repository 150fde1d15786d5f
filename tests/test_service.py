"""The guard service (runtime.py) behind HTTP (app.py): verdicts equal the local guard's, are durable
and named by posterior version; ids are idempotent; time limits, bad input and failed updates fail
closed; observations reach other workers and restarts through the store; replay recomputes verdicts."""

from __future__ import annotations

import sqlite3
import time

import pytest
from service_fixtures import ARMS, bandit_bundle, mail_bundle

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from bayesguard.service import load_bundle  # noqa: E402
from bayesguard.service.app import create_app  # noqa: E402
from bayesguard.service.replay import replay  # noqa: E402
from bayesguard.service.runtime import GuardService  # noqa: E402


@pytest.fixture()
def bandit(tmp_path):
    return bandit_bundle(tmp_path)


@pytest.fixture()
def served(tmp_path, bandit):
    svc = GuardService(bandit, f"sqlite:///{tmp_path / 'audit.db'}")
    keys = {s: svc.store.add_key(s, [s]) for s in ("check", "observe", "answer", "admin")}
    with TestClient(create_app(svc)) as http:
        yield svc, http, keys
    svc.close()


def auth(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def test_http_verdicts_equal_the_local_guard_and_are_recorded(served, bandit):
    svc, http, keys = served
    local = load_bundle(bandit)
    for a in range(3):
        r = http.post("/v1/check", json={"context": ARMS, "action": a}, headers=auth(keys["check"]))
        assert r.status_code == 200, r.text
        out = r.json()
        v = local.check(ARMS, a)
        assert out["decision"] == v.decision.value
        assert out["verdict"]["harm_estimate"] == pytest.approx(v.harm_estimate, rel=1e-12)
        assert out["posterior_version"] == svc.version and out["bundle_sha256"] == svc.bundle_hash
        rec = svc.store.by_ref(out["id"])
        assert rec.seq == out["seq"] and rec.hash == out["record_hash"]
    r = http.post("/v1/check_all", json={"context": ARMS, "id": "all-1"}, headers=auth(keys["check"]))
    assert [v["decision"] for v in r.json()["verdicts"]] == [v.decision.value for v in local.check_all(ARMS)]
    assert [v["id"] for v in r.json()["verdicts"]] == ["all-1/0", "all-1/1", "all-1/2"]
    assert svc.store.verify().ok


def test_ids_are_idempotent_and_a_reused_id_is_a_conflict(served):
    svc, http, keys = served
    body = {"context": ARMS, "action": 1, "id": "req-1"}
    first = http.post("/v1/check", json=body, headers=auth(keys["check"])).json()
    again = http.post("/v1/check", json=body, headers=auth(keys["check"])).json()
    assert again["seq"] == first["seq"] and again["record_hash"] == first["record_hash"]
    r = http.post("/v1/check", json={**body, "action": 0}, headers=auth(keys["check"]))
    assert r.status_code == 409 and r.json()["error"]["field"] == "id"
    assert svc.store.count(kind="verdict") == 1


def test_keys_scopes_and_errors_are_4xx_with_the_field_named(served):
    svc, http, keys = served
    body = {"context": ARMS, "action": 0}
    assert http.post("/v1/check", json=body).status_code == 401
    assert http.post("/v1/check", json=body, headers=auth("bgk_wrong")).status_code == 401
    assert http.post("/v1/check", json=body, headers=auth(keys["observe"])).status_code == 403
    assert http.post("/v1/check", json=body, headers={"x-api-key": keys["admin"]}).status_code == 200
    r = http.post("/v1/check", json={"context": ARMS, "action": 7}, headers=auth(keys["check"]))
    assert r.status_code == 422 and r.json()["error"]["field"] == "action"
    bad = b'{"context": [[NaN, 1, 1, 1], [1, 0, 0, 0], [0, 1, 1, 0]], "action": 0}'
    r = http.post("/v1/check", content=bad, headers=auth(keys["check"]))
    assert r.status_code == 400 and "NaN" in r.json()["error"]["message"]
    r = http.post("/v1/check", json={"context": ARMS[:2], "action": 0}, headers=auth(keys["check"]))
    assert r.status_code == 422 and r.json()["error"]["field"].startswith("context")
    r = http.post("/v1/check", json={"context": ARMS, "action": 0, "x": 1}, headers=auth(keys["check"]))
    assert r.status_code == 422 and r.json()["error"]["field"] == "x"
    assert svc.store.count(kind="verdict") == 1  # only the good one


def test_body_limit_declared_and_streamed(tmp_path, bandit):
    svc = GuardService(bandit, f"sqlite:///{tmp_path / 'a.db'}")
    with TestClient(create_app(svc, auth=False, max_body=1000)) as http:
        big = b'{"context": null, "action": 0, "id": "' + b"x" * 2000 + b'"}'
        assert http.post("/v1/check", content=big).status_code == 413

        def chunks():
            for _ in range(20):
                yield b" " * 100

        r = http.post("/v1/check", content=chunks())  # no content-length: counted as it arrives
        assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"
    svc.close()


def test_a_check_past_its_time_limit_is_a_recorded_reject(tmp_path, bandit):
    svc = GuardService(bandit, f"sqlite:///{tmp_path / 'a.db'}", timeout=0.2)
    slow_check = svc.vg.check

    def slow(request):
        time.sleep(0.6)
        return slow_check(request)

    svc.vg.check = slow
    allowed = [a for a in range(3) if load_bundle(bandit).check(ARMS, a).allowed]
    c = svc.check(ARMS, allowed[0], id="slow-1")
    assert c.verdict.decision == "REJECT" and "TimeoutError" in c.verdict.reason
    assert c.record.payload["request"]["timed_out"] is True
    time.sleep(0.8)  # the late result finishes and is dropped, not recorded over the REJECT
    assert svc.store.count(kind="verdict") == 1
    svc.vg.check = slow_check
    assert svc.check(ARMS, allowed[0]).verdict.decision == "ALLOW"
    svc.close()


def test_observations_move_the_version_reach_other_workers_and_survive_restart(tmp_path, bandit):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    a = GuardService(bandit, url, sync_interval=0.0)
    b = GuardService(bandit, url, sync_interval=0.0)
    v0 = a.version
    assert v0.endswith(":0")
    data = {"features": [[1.0, 1.0, 1.0, 1.0]] * 3, "rewards": [3.9, 4.2, 4.1]}
    rec = a.observe(data)
    assert a.version.endswith(":1") and rec.posterior_version == v0
    ca = a.check(ARMS, 0)
    cb = b.check(ARMS, 0)  # b polls the store before checking
    assert cb.record.posterior_version == ca.record.posterior_version == a.version
    assert cb.verdict.harm_estimate == ca.verdict.harm_estimate
    local = load_bundle(bandit)
    from bayesguard.service import codecs

    local.observe(codecs.decode_data(local, data))
    assert ca.verdict.harm_estimate == pytest.approx(local.check(ARMS, 0).harm_estimate, rel=1e-12)
    a.close()
    b.close()
    c = GuardService(bandit, url)  # a restart resumes at the recorded version
    assert c.version == a.version
    c.close()


def test_bad_observations_are_refused_before_they_enter_the_chain(tmp_path, bandit):
    svc = GuardService(bandit, f"sqlite:///{tmp_path / 'a.db'}")
    with pytest.raises(ValueError, match="data"):
        svc.observe({"features": [[1.0, 0.0]], "rewards": [1.0]})
    assert svc.store.count(kind="observe") == 0 and svc.version.endswith(":0")
    svc.close()


def test_a_recorded_update_that_fails_degrades_to_reject(tmp_path, bandit):
    url = f"sqlite:///{tmp_path / 'a.db'}"
    svc = GuardService(bandit, url)
    svc.store.append(
        "observe",
        {"data": {"rows": "not bandit data"}, "source": {}},
        posterior_version=svc.version,
        bundle_hash=svc.bundle_hash,
    )
    svc.close()
    svc = GuardService(bandit, url)
    assert svc.degraded and "record 1" in svc.degraded
    assert all(svc.check(ARMS, a).verdict.decision == "REJECT" for a in range(3))
    with TestClient(create_app(svc, auth=False)) as http:
        assert http.get("/healthz").status_code == 503
    svc.close()


def test_ask_queue_answer_with_data_updates_the_posterior(tmp_path):
    bundle = mail_bundle(tmp_path)
    svc = GuardService(bundle, f"sqlite:///{tmp_path / 'a.db'}")
    keys = {s: svc.store.add_key(s, [s]) for s in ("check", "answer")}
    with TestClient(create_app(svc)) as http:
        r = http.post(
            "/v1/check", json={"context": None, "action": "send", "id": "m1"}, headers=auth(keys["check"])
        )
        assert r.json()["decision"] == "ASK"
        assert http.get("/v1/asks", headers=auth(keys["check"])).status_code == 403
        asks = http.get("/v1/asks", headers=auth(keys["answer"])).json()["asks"]
        assert [a["id"] for a in asks] == ["m1"]
        answer = {
            "approve": False,
            "by": "ops",
            "note": "sent once: it harmed",
            "data": {"actions": ["send"], "outcomes": ["harm"]},
        }
        r = http.post("/v1/asks/m1/answer", json=answer, headers=auth(keys["answer"]))
        assert r.status_code == 200 and r.json()["posterior_version"].endswith(":1")
        r = http.post("/v1/asks/m1/answer", json=answer, headers=auth(keys["answer"]))
        assert r.status_code == 409
        assert http.get("/v1/asks", headers=auth(keys["answer"])).json()["asks"] == []
        got = http.get("/v1/verdicts/m1", headers=auth(keys["check"])).json()
        assert got["answer"]["approve"] is False and got["request"]["action"] == "send"
        r = http.post("/v1/check", json={"context": None, "action": "send"}, headers=auth(keys["check"]))
        assert r.json()["decision"] == "REJECT"  # the answer's data: sending harms
        assert r.json()["verdict"]["posterior_harm"] == pytest.approx(1.0)
    svc.close()


def test_replay_recomputes_every_verdict_and_finds_an_edit(tmp_path, bandit):
    path = tmp_path / "a.db"
    svc = GuardService(bandit, f"sqlite:///{path}")
    for a in range(3):
        svc.check(ARMS, a)
    svc.observe({"features": [[1.0, 0.0, 0.0, 0.0]], "rewards": [0.7]})
    svc.check_all(ARMS)
    svc.observe({"features": [[1.0, 1.0, 1.0, 1.0]], "rewards": [4.5]})
    last = svc.check(ARMS, 2)
    report = replay(svc.store, [bandit])
    assert report.ok and report.checked == 7 and report.same == 7 and report.observations == 2, str(report)
    svc.close()
    with sqlite3.connect(path) as db:  # an insider edits one stored number (the chain would say so too)
        (payload,) = db.execute("SELECT payload FROM records WHERE seq = ?", (last.record.seq,)).fetchone()
        edited = payload.replace('"harm_estimate":', '"harm_estimate":0.5,"x":', 1)
        db.execute("UPDATE records SET payload = ? WHERE seq = ?", (edited, last.record.seq))
    from bayesguard.service.store import AuditStore

    with AuditStore(f"sqlite:///{path}") as store:
        report = replay(store, [bandit])
        assert not report.ok and report.differences[0].seq == last.record.seq


def test_metrics_and_openapi(served):
    svc, http, keys = served
    http.post("/v1/check", json={"context": ARMS, "action": 0}, headers=auth(keys["check"]))
    text = http.get("/metrics").text
    assert "bayesguard_verdicts_total" in text and "bayesguard_check_seconds_bucket" in text
    spec = http.get("/openapi.json").json()
    assert {"/v1/check", "/v1/check_all", "/v1/observe", "/v1/asks", "/healthz"} <= set(spec["paths"])


def test_an_observation_that_rules_out_every_theory_is_refused_unrecorded(tmp_path):
    svc = GuardService(mail_bundle(tmp_path), f"sqlite:///{tmp_path / 'a.db'}")
    with pytest.raises(ValueError, match="^data: the posterior cannot absorb"):
        svc.observe({"actions": ["read"], "outcomes": ["harm"]})  # no theory lets reading harm
    assert svc.store.count(kind="observe") == 0 and svc.degraded is None
    svc.close()


@pytest.mark.parametrize("audit_url", ["sqlite", "postgresql"], indirect=True)
def test_two_workers_share_one_store_on_each_backend(audit_url, bandit):
    """Stateless workers behind a load balancer: each holds a copy of the guard; an observation made
    through one is applied by the other in the same order; both chains of verdicts verify and replay."""
    a = GuardService(bandit, audit_url, sync_interval=0.0)
    b = GuardService(bandit, audit_url, sync_interval=0.0)
    a.observe({"features": [[1.0, 1.0, 1.0, 1.0]], "rewards": [4.4]})
    b.observe({"features": [[1.0, 0.0, 0.0, 0.0]], "rewards": [0.8]})
    got = [w.check(ARMS, k % 3) for k, w in enumerate([a, b, a, b, b, a])]
    assert {c.record.posterior_version for c in got} == {a.version} and a.version == b.version
    assert a.version.endswith(":2") and a.store.verify().ok
    report = replay(a.store, [bandit])
    assert report.ok and report.checked == 6 and report.observations == 2, str(report)
    a.close()
    b.close()


def test_http_check_past_its_time_limit_is_a_recorded_reject_and_a_retry_returns_it(tmp_path, bandit):
    svc = GuardService(bandit, f"sqlite:///{tmp_path / 'a.db'}", timeout=0.2)
    fast = svc.vg.check
    allowed = [a for a in range(3) if load_bundle(bandit).check(ARMS, a).allowed][0]

    def slow(request):
        time.sleep(0.6)
        return fast(request)

    svc.vg.check = slow
    with TestClient(create_app(svc, auth=False)) as http:
        body = {"context": ARMS, "action": allowed, "id": "late-1"}
        r = http.post("/v1/check", json=body)
        assert r.status_code == 200 and r.json()["decision"] == "REJECT"
        assert "did not finish within 0.2 s" in r.json()["verdict"]["reason"]
        time.sleep(0.8)
        svc.vg.check = fast
        again = http.post("/v1/check", json=body).json()  # recomputed (ALLOW), refused as a duplicate
        assert again["decision"] == "REJECT" and again["seq"] == r.json()["seq"]
    assert svc.store.count(kind="verdict") == 1
    svc.close()


def test_two_bundles_on_one_store_keep_their_own_versions(tmp_path, bandit):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    mail = GuardService(mail_bundle(tmp_path), url, sync_interval=0.0)
    arms = GuardService(bandit, url, sync_interval=0.0)
    mail.observe({"actions": ["send"], "outcomes": ["fine"]})
    arms.observe({"features": [[1.0, 0.0, 0.0, 0.0]], "rewards": [0.5]})
    mail.observe({"actions": ["read"], "outcomes": ["fine"]})
    c = arms.check(ARMS, 1)
    assert arms.degraded is None and mail.degraded is None
    assert arms.version.endswith(":1") and mail.version.endswith(":2")
    assert c.record.posterior_version == arms.version
    assert replay(arms.store, [bandit]).ok
    mail.close()
    arms.close()
