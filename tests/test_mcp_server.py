"""The MCP server: an in-memory MCP client lists the tools and calls them; ``check_action`` gives the local
guard's verdicts (recorded, idempotent by id), ``observe`` moves the posterior version, a malformed field
is a tool error naming it, and every guard or service failure is a REJECT. Backed by a local
GuardService and by a Client of the HTTP service (in-process); ``bayesguard mcp`` over real stdio."""

from __future__ import annotations

import argparse
import asyncio
import sys

import mcp
import numpy as np
import pytest
from fastapi.testclient import TestClient
from guard_bundles import make_bundle

from bayesguard.experiments.mcp_cmd import build_server
from bayesguard.service import load_bundle
from bayesguard.service.app import create_app
from bayesguard.service.client import Client
from bayesguard.service.mcp_server import create_server, decision_of
from bayesguard.service.runtime import GuardService

URL = "http://testserver"
ROW = {"ambient": 0.2, "valve": -0.1, "pressure": 0.3}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return make_bundle("plant", tmp_path_factory.mktemp("plant"))


@pytest.fixture
def service(bundle, tmp_path):
    svc = GuardService(bundle, tmp_path / "audit.db")
    yield svc
    svc.close()


@pytest.fixture(params=["service", "client"])
def guard(request, service):
    """What the server is backed by: the local service, or a Client of it over (in-process) HTTP."""
    if request.param == "service":
        yield service
        return
    key = service.store.add_key("mcp", ["check", "observe"])
    with TestClient(create_app(service, page=False), raise_server_exceptions=False) as http:
        yield Client(URL, key, http=http)


def run(server, calls):
    """Open an in-memory MCP session to ``server`` and call ``calls(session)`` in it."""

    async def main():
        async with mcp.Client(server) as session:
            return await calls(session)

    return asyncio.run(main())


def test_tools_give_the_local_guards_verdicts(guard, service, bundle):
    local = load_bundle(bundle)

    async def calls(session):
        names = {t.name: t for t in (await session.list_tools()).tools}
        results = []
        for ambient in (-2.0, 0.0, 1.0, 2.0, 3.0):
            for action in (0, 1, "open the valve"):
                r = await session.call_tool(
                    "check_action", {"context": {"ambient": ambient}, "action": action}
                )
                results.append((ambient, action, r))
        again = await session.call_tool(
            "check_action", {"context": {"ambient": 2.0}, "action": 0, "id": "same-id"}
        )
        twice = await session.call_tool(
            "check_action", {"context": {"ambient": 2.0}, "action": 0, "id": "same-id"}
        )
        described = await session.call_tool("describe_guard", {})
        return names, results, again, twice, described

    names, results, again, twice, described = run(create_server(guard), calls)
    assert set(names) == {"check_action", "observe", "describe_guard"}
    assert set(names["check_action"].input_schema["required"]) == {"context", "action"}
    decisions = set()
    for ambient, action, r in results:
        assert not r.is_error
        out = r.structured_content
        want = local.check({"ambient": ambient}, 1 if action == "open the valve" else action)
        assert (out["decision"], out["action"], out["guaranteed"]) == (
            want.decision.value,
            want.action,
            want.guaranteed,
        )
        np.testing.assert_allclose(
            [out["harm_estimate"], out["posterior_harm"]],
            [want.harm_estimate, want.posterior_harm],
            rtol=1e-12,
        )
        assert out["recorded"] and out["posterior_version"] == service.version
        assert service.store.by_ref(out["id"]).seq == out["seq"]
        decisions.add(decision_of(out))
    assert {d.value for d in decisions} == {"ALLOW", "REJECT", "ASK"}
    assert again.structured_content["seq"] == twice.structured_content["seq"]  # one record for one id
    assert (
        again.structured_content["decision"] == "ASK" and again.structured_content["suggestion"] is not None
    )
    info = described.structured_content
    assert info["family"] == "causal" and info["action_names"] == ["do nothing", "open the valve"]
    assert info["posterior_version"] == service.version


def test_observe_moves_the_version_and_bad_input_names_the_field(guard, service):
    async def calls(session):
        before = (await session.call_tool("describe_guard", {})).structured_content["posterior_version"]
        obs = await session.call_tool("observe", {"data": {"rows": [ROW, ROW]}})
        bad_ctx = await session.call_tool("check_action", {"context": {"ambient": "hot"}, "action": 1})
        bad_act = await session.call_tool("check_action", {"context": {"ambient": 0.0}, "action": "fly"})
        no_act = await session.call_tool("check_action", {"context": {"ambient": 0.0}})
        bad_data = await session.call_tool("observe", {"data": {"rows": [{"ambient": 1.0}]}})
        return before, obs, bad_ctx, bad_act, no_act, bad_data

    n = service.store.count(kind="verdict")
    before, obs, bad_ctx, bad_act, no_act, bad_data = run(create_server(guard), calls)
    assert not obs.is_error
    after = obs.structured_content["posterior_version"]
    assert before.endswith(":0") and after == before[:-1] + "1" == service.version
    for result, field in (
        (bad_ctx, "context.ambient"),
        (bad_act, "action"),
        (no_act, "action"),
        (bad_data, "data.rows[0]"),
    ):
        assert result.is_error and field in result.content[0].text
    assert service.store.count(kind="verdict") == n  # malformed checks are not recorded
    assert service.store.count(kind="observe") == 1


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_guard_failures_fail_closed(bundle, tmp_path):
    dead_service = GuardService(bundle, tmp_path / "dead.db")
    dead_service.close()  # its guard thread is gone: every check fails
    dead_client = Client(f"http://127.0.0.1:{_closed_port()}", "k", retries=0, timeout=0.5)
    for guard, word in ((dead_service, "RuntimeError"), (dead_client, "ConnectError")):

        async def calls(session):
            return await session.call_tool("check_action", {"context": {"ambient": -2.0}, "action": 1})

        r = run(create_server(guard), calls)
        assert not r.is_error  # a verdict, not an error: REJECT
        out = r.structured_content
        assert out["decision"] == "REJECT" and out["action"] == 1 and not out["recorded"]
        assert "failing closed" in out["reason"] and word in out["reason"]
    assert decision_of(None).value == decision_of({"decision": "maybe"}).value == "REJECT"

    class Broken:  # a backend whose check and even whose fail_closed fail
        def check(self, context, action, id):
            raise RuntimeError("disk on fire")

        observe = describe = check

        def fail_closed(self, action, exc):
            raise RuntimeError("still on fire")

    async def calls(session):
        return await session.call_tool("check_action", {"context": None, "action": 0})

    out = run(create_server(Broken()), calls).structured_content
    assert out["decision"] == "REJECT" and "disk on fire" in out["reason"] and not out["recorded"]
    with pytest.raises(TypeError, match="guard"):
        create_server(object())


def test_cli_builds_either_backend(bundle, tmp_path):
    ns = argparse.Namespace(bundle=str(bundle), store=str(tmp_path / "a.db"), url=None, key=None, timeout=5.0)
    server, close, line = build_server(ns)
    try:
        assert str(bundle) in line

        async def calls(session):
            return await session.call_tool("check_action", {"context": {"ambient": -2.0}, "action": 0})

        assert run(server, calls).structured_content["decision"] == "ALLOW"
    finally:
        close()
    ns.url = "http://127.0.0.1:1"
    with pytest.raises(ValueError, match="not both"):
        build_server(ns)
    ns.bundle = None
    server, close, line = build_server(ns)
    close()
    assert "http://127.0.0.1:1" in line


def test_bayesguard_mcp_over_stdio(bundle, tmp_path):
    """The command speaks MCP on stdout (nothing else may be written there) and records its verdicts."""
    params = mcp.StdioServerParameters(
        command=sys.executable,
        args=["-m", "bayesguard.cli", "mcp", str(bundle), "--store", str(tmp_path / "stdio.db")],
    )

    async def calls(session):
        return await session.call_tool("check_action", {"context": {"ambient": 1.0}, "action": 1})

    out = run(params, calls).structured_content
    assert out["decision"] == "REJECT" and out["recorded"]
    with GuardService(bundle, tmp_path / "stdio.db") as svc:
        assert svc.store.by_ref(out["id"]).verdict().decision.value == "REJECT"
