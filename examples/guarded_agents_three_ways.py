"""One scripted tool-calling agent, guarded three ways, with the same verdicts each way (no network).

A plant operator agent has two tools: ``hold`` (leave the valve as it is) and ``open_valve``. Before a
tool runs, the guard of ``examples/bundles/plant.toml`` (a causal guard: may opening the valve push the
pressure above 3, given the ambient reading?) answers ALLOW, REJECT or ASK. The same script runs:

(a) **decorator**: the tools wrapped by ``@guarded(guard, ...)`` around a local guard loaded from the
    bundle (:mod:`bayesguard.service.adapters`);
(b) **HTTP**: the same decorator around ``bayesguard.Client``, talking to the HTTP service
    (``create_app(GuardService(...))``) in-process through Starlette's TestClient;
(c) **MCP**: the agent calls the MCP server's ``check_action`` tool first (as an LLM agent would) over
    an in-memory MCP session, and runs a tool only on ALLOW.

The service behind (b) and (c) records every verdict in one audit store. A tool runs only after ALLOW;
an ASK has no person to answer it here, so the tool does not run either.

Run: ``python examples/guarded_agents_three_ways.py``
"""

from __future__ import annotations

import asyncio
import math
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mcp
import numpy as np
from fastapi.testclient import TestClient

from bayesguard.service import ActionRejected, build_bundle, fit_guard, guarded, load_bundle
from bayesguard.service.app import create_app
from bayesguard.service.client import Client
from bayesguard.service.mcp_server import create_server, decision_of
from bayesguard.service.runtime import GuardService

CONFIG = Path(__file__).resolve().parent / "bundles" / "plant.toml"
HOLD, OPEN = 0, 1  # the bundle's actions: "do nothing", "open the valve"

#: What the tools really did; a tool the guard stops never appends here.
SIDE_EFFECTS: list[str] = []


def hold(ambient: float) -> str:
    """Leave the valve as it is."""
    SIDE_EFFECTS.append(f"hold at {ambient:+.1f}")
    return "holding"


def open_valve(ambient: float) -> str:
    """Open the valve."""
    SIDE_EFFECTS.append(f"open at {ambient:+.1f}")
    return "valve open"


TOOLS: dict[str, tuple[Callable[..., str], int]] = {"hold": (hold, HOLD), "open_valve": (open_valve, OPEN)}

#: The agent's plan: (tool, ambient reading), as an LLM would emit tool calls.
SCRIPT = [
    ("open_valve", -2.0),
    ("hold", 0.0),
    ("open_valve", 0.0),
    ("hold", 2.0),
    ("open_valve", 1.0),
    ("hold", 3.0),
]


def context_of(ambient: float) -> dict[str, float]:
    """The guard's context: the plant's ambient reading."""
    return {"ambient": ambient}


def guarded_tools(guard: Any) -> dict[str, Callable[..., str]]:
    """The tools, each wrapped so that it runs only when ``guard`` (local or Client) allows it."""
    return {
        name: guarded(guard, action=action, context=context_of)(fn) for name, (fn, action) in TOOLS.items()
    }


def run_decorated(guard: Any) -> list[tuple[str, float]]:
    """Ways (a) and (b): call each guarded tool; a refused call raises ActionRejected (NeedsHuman for
    ASK). Returns (decision, harm estimate) per call."""
    tools, out = guarded_tools(guard), []
    for name, ambient in SCRIPT:
        try:
            tools[name](ambient)
            verdict = tools[name].last_verdict
        except ActionRejected as refused:
            verdict = refused.verdict
        out.append((verdict.decision.value, verdict.harm_estimate))
    return out


async def run_mcp(server: Any) -> list[tuple[str, float]]:
    """Way (c): ask the MCP server's check_action before each call; run the plain tool only on ALLOW."""
    out = []
    async with mcp.Client(server) as session:
        for name, ambient in SCRIPT:
            fn, action = TOOLS[name]
            result = await session.call_tool(
                "check_action", {"context": context_of(ambient), "action": action}
            )
            verdict = None if result.is_error else result.structured_content
            decision = decision_of(verdict)  # anything but a verdict is a REJECT
            if decision.value == "ALLOW":
                fn(ambient)
            harm = (verdict or {}).get("harm_estimate")
            out.append((decision.value, math.nan if harm is None else harm))
    return out


def run_three_ways(root: Path) -> tuple[dict[str, list[tuple[str, float]]], dict[str, list[str]], int]:
    """Fit the plant guard into ``root`` and run the script each way. Returns each way's (decision,
    harm) per call, the tools each way really ran, and the number of verdicts the service recorded."""
    fitted = fit_guard(CONFIG)
    bundle = build_bundle(fitted.config, root / "plant-guard", fitted=fitted)
    results: dict[str, list[tuple[str, float]]] = {}
    ran: dict[str, list[str]] = {}

    def finish(way: str, outcome: list[tuple[str, float]]) -> None:
        results[way], ran[way] = outcome, SIDE_EFFECTS.copy()
        SIDE_EFFECTS.clear()

    SIDE_EFFECTS.clear()
    finish("decorator", run_decorated(load_bundle(bundle)))  # (a) the local guard
    with GuardService(bundle, root / "audit.db") as service:  # the service behind (b) and (c)
        key = service.store.add_key("operator-agent", ["check"])
        with TestClient(create_app(service, page=False)) as http:  # (b) HTTP, in-process
            finish("http", run_decorated(Client("http://testserver", key, http=http)))
        finish("mcp", asyncio.run(run_mcp(create_server(service))))  # (c) MCP, in memory
        records = service.store.count(kind="verdict")
    return results, ran, records


def main(workdir: str | Path | None = None) -> dict[str, Any]:
    """Run the script three ways (in ``workdir``, default a temporary directory), print a table and
    check that the ways agree.

    Returns:
        ``{"calls": [...], "decisions": {way: [...]}, "harm": {way: [...]}, "ran": {way: [...]},
        "records": verdicts recorded by the service}``.
    """
    with tempfile.TemporaryDirectory() as tmp:
        results, ran, records = run_three_ways(Path(workdir or tmp))
    calls = [f"{name}(ambient={ambient:+.1f})" for name, ambient in SCRIPT]
    decisions = {way: [d for d, _ in r] for way, r in results.items()}
    harm = {way: [h for _, h in r] for way, r in results.items()}

    print(f"{'call':26s}{'decorator':>11s}{'http':>11s}{'mcp':>11s}{'harm':>9s}")
    for i, call in enumerate(calls):
        row = "".join(f"{decisions[way][i]:>11s}" for way in ("decorator", "http", "mcp"))
        print(f"{call:26s}{row}{harm['decorator'][i]:9.3f}")

    assert decisions["decorator"] == decisions["http"] == decisions["mcp"], decisions
    for way in ("http", "mcp"):
        assert np.allclose(harm[way], harm["decorator"], rtol=1e-9, atol=0), harm
    assert ran["decorator"] == ran["http"] == ran["mcp"], ran
    print(f"the three ways agree; tools run: {ran['mcp']}; {records} verdicts in the audit store")
    return {"calls": calls, "decisions": decisions, "harm": harm, "ran": ran, "records": records}


if __name__ == "__main__":
    main()
