"""The guard as an MCP server (the ``mcp`` SDK, 2.x): tools an agent calls before it acts.

Tools:

- ``check_action(context, action, id?)``: the verdict, as a JSON object: ``decision`` (ALLOW, REJECT
  or ASK), ``action`` (the index), ``reason``, the harm numbers (``harm_estimate``, ``posterior_harm``,
  ``posterior_upper``, ``threshold``), ``guaranteed``, ``assumptions``, ``suggestion``, the witness and
  its causal path, and where it was recorded: ``id``, ``posterior_version``, ``seq``, ``record_hash``
  (``recorded`` is False for a fail-closed REJECT that no record holds).
- ``observe(data, id?)``: record an observation; returns the new ``posterior_version``.
- ``describe_guard()``: the family, the action names and the JSON forms of context and data.

The server is backed by a :class:`GuardBackend`: a local :class:`~.runtime.GuardService`
(:class:`ServiceBackend`) or a remote HTTP service through :class:`~.client.Client`
(:class:`ClientBackend`). ``check_action`` never fails for a guard error: it answers REJECT (fail
closed). A request with malformed fields is a tool error (``is_error``) whose message starts with the
field's path, e.g. ``context.ambient: expected a finite number``.

Run over stdio: ``bayesguard mcp BUNDLE --store audit.db`` or ``bayesguard mcp --url URL --key KEY``.
In-process (tests, examples): ``async with mcp.Client(create_server(service)) as session: ...``.
"""

from __future__ import annotations

import json
import math
from typing import Any, Protocol

import anyio.to_thread
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from ..guard.verdict import Decision, Verdict
from .client import Client, InvalidRequest, verdict_from_json
from .runtime import GuardService

INSTRUCTIONS = (
    "A Bayesian harm guard. Before you take an action that could cause harm, call check_action with "
    "the context and the action; act only when its decision is ALLOW. REJECT means do not act; ASK "
    "means a person must decide first (the suggestion says what would help). Call describe_guard for "
    "the actions and the JSON form of a context. Report what you observed with observe."
)


class GuardBackend(Protocol):
    """What the MCP tools need from a guard. ``check`` and ``observe`` raise ValueError/TypeError
    (message starting with the field's path) for malformed fields; any other exception is a guard error."""

    def check(self, context: Any, action: Any, id: str | None) -> dict[str, Any]:
        """The recorded verdict as :func:`verdict_result` gives it."""
        ...

    def observe(self, data: Any, id: str | None) -> dict[str, Any]:
        """``{"posterior_version", "seq", "record_hash"}`` after the observation."""
        ...

    def describe(self) -> dict[str, Any]:
        """The guard's description (as ``GET /v1/guard``)."""
        ...

    def fail_closed(self, action: Any, exc: BaseException) -> Verdict:
        """The REJECT for ``exc``."""
        ...


def verdict_result(verdict: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    """One flat JSON object: the verdict's fields, then where it was recorded (``id``, ``seq``,
    ``posterior_version``, ``record_hash``, ``bundle_sha256``, ``recorded``)."""
    out = dict(verdict)
    out.update(record)
    out["recorded"] = record.get("seq") is not None
    return out


def _verdict_json(verdict: Verdict) -> dict[str, Any]:
    return json.loads(verdict.to_json())


class ServiceBackend:
    """The tools on a local :class:`~.runtime.GuardService` (verdicts recorded in its audit store)."""

    def __init__(self, service: GuardService) -> None:
        self.service = service

    def check(self, context: Any, action: Any, id: str | None) -> dict[str, Any]:
        checked = self.service.check(context, action, id)
        rec = checked.record
        return verdict_result(
            _verdict_json(checked.verdict),
            {
                "id": checked.id,
                "seq": rec.seq,
                "posterior_version": rec.posterior_version,
                "record_hash": rec.hash,
                "bundle_sha256": rec.bundle_hash,
            },
        )

    def observe(self, data: Any, id: str | None) -> dict[str, Any]:
        rec = self.service.observe(data, id)
        return {"posterior_version": self.service.version, "seq": rec.seq, "record_hash": rec.hash}

    def describe(self) -> dict[str, Any]:
        from . import codecs

        g = self.service.guard
        info = codecs.describe_io(g)
        info.update(
            rule=g.rule.value,
            threshold=g.threshold,
            params=g.params,
            posterior_version=self.service.version,
            bundle_sha256=self.service.bundle_hash,
        )
        return json.loads(json.dumps(info, default=str))

    def fail_closed(self, action: Any, exc: BaseException) -> Verdict:
        return self.service.guard.error_verdict(action, exc)


class ClientBackend:
    """The tools in front of a remote HTTP service, through a :class:`~.client.Client`."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def check(self, context: Any, action: Any, id: str | None) -> dict[str, Any]:
        body = self.client.check_raw(context, action, id=id)
        verdict = _verdict_json(verdict_from_json(body["verdict"]))
        keys = ("id", "seq", "posterior_version", "record_hash", "bundle_sha256")
        return verdict_result(verdict, {k: body.get(k) for k in keys})

    def observe(self, data: Any, id: str | None) -> dict[str, Any]:
        version = self.client.observe(data, id=id)
        return {"posterior_version": version, "seq": None, "record_hash": None}

    def describe(self) -> dict[str, Any]:
        return self.client.refresh()

    def fail_closed(self, action: Any, exc: BaseException) -> Verdict:
        return self.client.fail_closed(action, exc)


def backend_for(guard: GuardService | Client | GuardBackend) -> GuardBackend:
    """The backend of a :class:`GuardService`, a :class:`Client`, or a backend given as it is."""
    if isinstance(guard, GuardService):
        return ServiceBackend(guard)
    if isinstance(guard, Client):
        return ClientBackend(guard)
    for name in ("check", "observe", "describe", "fail_closed"):
        if not callable(getattr(guard, name, None)):
            raise TypeError(
                f"guard: expected a GuardService, a Client or a GuardBackend, got {type(guard).__name__}"
            )
    return guard


def _input_error(exc: BaseException) -> bool:
    """A malformed request (its message names the field), as opposed to a guard or service error."""
    return isinstance(exc, InvalidRequest) or (
        isinstance(exc, ValueError | TypeError) and not isinstance(exc, ConnectionError)
    )


def _message(exc: BaseException) -> str:
    return exc.message if isinstance(exc, InvalidRequest) else str(exc)


def _index(action: Any) -> int | None:
    return action if isinstance(action, int) and not isinstance(action, bool) else None


def _rejected(backend: GuardBackend, action: int | None, exc: BaseException) -> Verdict:
    """The backend's REJECT for ``exc``; a plain one if even that fails."""
    try:
        verdict = backend.fail_closed(action, exc)
        if isinstance(verdict, Verdict) and verdict.decision is Decision.REJECT:
            return verdict
    except Exception:  # the REJECT below still names the original error
        pass
    reason = f"guard error, failing closed: {type(exc).__name__}: {exc}"
    return Verdict(Decision.REJECT, action, math.nan, math.nan, math.nan, "unknown", reason=reason)


def create_server(guard: GuardService | Client | GuardBackend, *, name: str = "bayesguard") -> MCPServer:
    """An MCP server whose tools check actions with ``guard`` (see the module docstring).

    Args:
        guard: a local :class:`~.runtime.GuardService`, a :class:`~.client.Client` of a remote service,
            or any :class:`GuardBackend`.
        name: the server's name, as clients see it.
    """
    backend = backend_for(guard)
    server = MCPServer(name, instructions=INSTRUCTIONS, log_level="WARNING")

    @server.tool()
    async def check_action(context: Any, action: int | str, id: str | None = None) -> dict[str, Any]:
        """Ask the guard whether an action is safe before taking it. context: the situation in the JSON
        form describe_guard gives (null when the guard takes none); action: the action's index or name;
        id: optional request id (the same id returns the same recorded verdict). Returns the verdict:
        decision ALLOW (act), REJECT (do not act) or ASK (a person decides first), with the reason, the
        harm estimate, the threshold and the posterior version it was made under."""
        try:
            return await anyio.to_thread.run_sync(backend.check, context, action, id)
        except Exception as exc:
            if _input_error(exc):
                raise ToolError(_message(exc)) from exc
            verdict = _rejected(backend, _index(action), exc)  # fail closed
            return verdict_result(_verdict_json(verdict), {"id": id, "seq": None, "posterior_version": None})

    @server.tool()
    async def observe(data: Any, id: str | None = None) -> dict[str, Any]:
        """Report an observation to the guard (the JSON form describe_guard gives); it updates the
        guard's beliefs. id: optional request id (idempotent). Returns the new posterior_version."""
        try:
            return await anyio.to_thread.run_sync(backend.observe, data, id)
        except Exception as exc:
            if _input_error(exc):
                raise ToolError(_message(exc)) from exc
            raise ToolError(f"observe failed: {type(exc).__name__}: {exc}") from exc

    @server.tool()
    async def describe_guard() -> dict[str, Any]:
        """What the guard knows how to check: its family, the action names, its rule and threshold, the
        JSON forms (with examples) of a context and of an observation, and its posterior version."""
        try:
            return await anyio.to_thread.run_sync(backend.describe)
        except Exception as exc:
            raise ToolError(f"describe_guard failed: {type(exc).__name__}: {exc}") from exc

    return server


def decision_of(result: dict[str, Any] | None) -> Decision:
    """The decision in a ``check_action`` result; REJECT for anything that is not a verdict."""
    try:
        return Decision(result["decision"])  # type: ignore[index]
    except (KeyError, TypeError, ValueError):
        return Decision.REJECT


__all__ = [
    "INSTRUCTIONS",
    "ClientBackend",
    "GuardBackend",
    "ServiceBackend",
    "backend_for",
    "create_server",
    "decision_of",
]
