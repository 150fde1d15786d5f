"""Hostile requests (tests/hostile_requests.py) against the service: every one is a 4xx with an error
body, none is ALLOW, none is a 5xx, each is logged, and the audit chain still verifies.
`benchmarks/service_fuzz.py` runs the same generator for 10,000 requests per guard."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from hostile_requests import CATEGORIES, Hostile
from service_fixtures import ARMS, bandit_bundle, mail_bundle

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from bayesguard.service.app import create_app  # noqa: E402
from bayesguard.service.runtime import GuardService  # noqa: E402


@pytest.mark.parametrize("which", ["bandit", "mail"])
def test_hostile_requests_are_refused_and_logged(tmp_path, caplog, which):
    bundle = bandit_bundle(tmp_path) if which == "bandit" else mail_bundle(tmp_path)
    context = ARMS if which == "bandit" else None
    svc = GuardService(bundle, f"sqlite:///{tmp_path / 'audit.db'}")
    keys = {
        "good": svc.store.add_key("all", ["admin"]),
        "observe_only": svc.store.add_key("obs", ["observe"]),
        "check_only": svc.store.add_key("chk", ["check"]),
    }
    gen = Hostile(context, svc.guard.n_actions, keys, "used-id")
    seen: dict[str, set[int]] = {}
    with TestClient(create_app(svc), raise_server_exceptions=False) as http:
        ok = http.post(
            "/v1/check", json={"context": context, "action": 0, "id": "used-id"}, headers=gen.headers()
        )
        assert ok.status_code == 200
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="bayesguard.service"):
            n = 3 * len(CATEGORIES) * 6
            for cat, method, path, headers, body in gen.stream(np.random.default_rng(0), n):
                r = http.request(method, path, headers=headers, content=body)
                seen.setdefault(cat, set()).add(r.status_code)
                assert 400 <= r.status_code < 500, (cat, r.status_code, r.text[:300])
                assert "ALLOW" not in r.text, (cat, r.text[:300])
                assert isinstance(r.json()["error"]["message"], str)
        logged = [rec for rec in caplog.records if rec.name == "bayesguard.service"]
        assert len(logged) >= n
    assert set(seen) == set(CATEGORIES)
    assert 413 in seen["huge"] and 409 in seen["replayed_id"] and {401} == seen["bad_key"]
    assert svc.store.verify().ok and svc.store.count(kind="verdict") == 1
    svc.close()
    json.dumps(seen, default=list)
