"""What the HTTP layer needs besides routes: strict JSON bodies, a body-size limit, API keys with scopes,
error bodies and Prometheus metrics.

Error bodies are always ``{"error": {"status", "code", "field", "message"}}`` with a 4xx status for
anything the client sent (400 bad JSON, 401 no or unknown key, 403 missing scope, 404 unknown id,
409 id reused for another request or ASK already answered, 413 body too large, 422 a field of the wrong
form) and 5xx only for the server's own failures. Every error is logged and counted.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from .store import AuditStore

log = logging.getLogger("bayesguard.service")

#: Largest request body accepted by default (bytes).
MAX_BODY = 1 << 20
SCOPES = ("check", "observe", "answer", "admin")


class ApiError(Exception):
    """An error answered with ``status`` and a JSON error body."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field

    def response(self) -> JSONResponse:
        body = {"status": self.status, "code": self.code, "field": self.field, "message": self.message}
        return JSONResponse({"error": body}, status_code=self.status)


def field_error(exc: Exception, status: int = 422, code: str = "invalid") -> ApiError:
    """An :class:`ApiError` from a ValueError/TypeError whose message starts with ``field: ...``."""
    text = str(exc) or type(exc).__name__
    head, sep, _ = text.partition(":")
    field = head if sep and " " not in head.strip() and len(head) < 200 else None
    return ApiError(status, code, text[:2000], field)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (write numbers as finite values)")


def parse_json_object(body: bytes, allowed: set[str], required: set[str] = frozenset()) -> dict[str, Any]:
    """Strict JSON: UTF-8, no NaN/Infinity, an object with only ``allowed`` keys and all ``required``.

    Raises:
        ApiError: 400 for bad JSON, 422 for a wrong shape (naming the field).
    """
    try:
        value = json.loads(body.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ApiError(400, "bad_json", f"body: not valid JSON ({str(exc)[:200]})") from None
    if not isinstance(value, dict):
        raise ApiError(422, "invalid", f"body: expected a JSON object, got {type(value).__name__}", "body")
    extra = sorted(set(value) - allowed)
    if extra:
        raise ApiError(422, "invalid", f"{extra[0]}: unknown field (allowed: {sorted(allowed)})", extra[0])
    missing = sorted(required - set(value))
    if missing:
        raise ApiError(422, "invalid", f"{missing[0]}: required", missing[0])
    return value


class BodyLimit:
    """ASGI middleware: refuse a body over ``max_bytes`` with 413, whether or not it declares its length."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY, on_error: Any = None) -> None:
        self.app, self.max_bytes, self.on_error = app, int(max_bytes), on_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            err = ApiError(413, "too_large", f"body: larger than {self.max_bytes} bytes")
            log.info(
                "%s %s -> 413 too_large (declared length %r)",
                scope.get("method"),
                scope.get("path"),
                declared,
            )
            if self.on_error is not None:
                self.on_error("too_large")
            await err.response()(scope, receive, send)
            return
        seen = 0

        async def limited() -> Any:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_bytes:
                    raise HTTPException(413, f"body: larger than {self.max_bytes} bytes")
            return msg

        await self.app(scope, limited, send)


class CountRequests:
    """ASGI middleware: count every HTTP response by route and status (a plain ASGI wrapper: Starlette's
    ``BaseHTTPMiddleware`` costs a task and a stream per request)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = {"code": 500}

        async def sending(message: Any) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", "other")
            self.metrics.requests.labels(route, str(status["code"])).inc()


class KeyRing:
    """API keys checked against the store (only SHA-256 hashes are stored), cached for ``ttl`` seconds
    so a revoked key stops working within ``ttl``."""

    def __init__(self, store: AuditStore, ttl: float = 5.0) -> None:
        self.store, self.ttl = store, float(ttl)
        self._cache: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def scopes(self, secret: str) -> frozenset[str] | None:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(secret)
        if hit is not None and now - hit[0] < self.ttl:
            key = hit[1]
        else:
            key = self.store.authenticate(secret)
            with self._lock:
                if len(self._cache) > 10_000:
                    self._cache.clear()
                self._cache[secret] = (now, key)
        return None if key is None else frozenset(key.scopes)


def secret_from(headers: Any, cookies: Any = None) -> str | None:
    """The API key from ``Authorization: Bearer KEY``, ``X-API-Key: KEY`` or the page's cookie."""
    auth = headers.get("authorization")
    if auth:
        kind, _, value = auth.partition(" ")
        if kind.lower() == "bearer" and value.strip():
            return value.strip()
    key = headers.get("x-api-key")
    if key:
        return key.strip()
    if cookies is not None:
        return cookies.get("bayesguard_key") or None
    return None


def authorize(ring: KeyRing | None, secret: str | None, scope: str) -> None:
    """Raise 401 without a valid key, 403 when the key lacks ``scope`` (admin holds every scope)."""
    if ring is None:  # auth disabled (tests, a loopback demo)
        return
    if not secret:
        raise ApiError(
            401, "unauthenticated", "authorization: send 'Authorization: Bearer KEY' or 'X-API-Key'"
        )
    if len(secret) > 256:
        raise ApiError(401, "unauthenticated", "authorization: unknown or revoked API key")
    scopes = ring.scopes(secret)
    if scopes is None:
        raise ApiError(401, "unauthenticated", "authorization: unknown or revoked API key")
    if scope not in scopes and "admin" not in scopes:
        raise ApiError(403, "forbidden", f"authorization: this key lacks the {scope!r} scope")


#: The environment variable that puts prometheus_client in multiprocess mode (read when it is imported).
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_exposition(path: str) -> bytes:
    """The Prometheus text of every process that wrote metrics under ``path`` (prometheus_client's
    multiprocess mode), summed over processes; the live-mode gauges of processes that are gone are
    dropped first (:func:`reap_dead`)."""
    from prometheus_client import generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    reap_dead(path)
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=path)
    return generate_latest(registry)


def reap_dead(path: str) -> list[int]:
    """Mark every process with live-gauge files under ``path`` that no longer runs as dead (a worker
    that crashed never marked itself); returns their pids."""
    from prometheus_client.multiprocess import mark_process_dead

    dead = []
    for f in Path(path).glob("gauge_live*_*.db"):
        pid = f.stem.rpartition("_")[2]
        if pid.isdigit() and int(pid) not in dead and not _alive(int(pid)):
            dead.append(int(pid))
    for pid in dead:
        mark_process_dead(pid, path)
    return dead


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it runs
        return True
    return True


class Metrics:
    """The service's Prometheus metrics.

    By default in a registry of their own (one app, one process: ``render`` shows this app's counts).
    With ``multiprocess=True`` (``bayesguard serve --workers N``) every worker process writes its
    values to files under ``$PROMETHEUS_MULTIPROC_DIR`` and ``render`` sums them over all workers
    (prometheus_client's multiprocess mode): that variable must have been set before
    ``prometheus_client`` was first imported in this process, and each process may hold only one
    ``Metrics`` (two in one process would write the same file entries).

    Raises:
        RuntimeError: ``multiprocess=True`` but prometheus_client is not in multiprocess mode.
    """

    def __init__(self, multiprocess: bool = False) -> None:
        self.multiprocess_dir: str | None = None
        if multiprocess:
            from prometheus_client import values

            path = os.environ.get(MULTIPROC_ENV)
            if not path or not Path(path).is_dir():
                raise RuntimeError(f"{MULTIPROC_ENV}: expected an existing directory, got {path!r}")
            if values.ValueClass is values.MutexValue:
                raise RuntimeError(
                    f"{MULTIPROC_ENV}: set after prometheus_client was imported in this process; "
                    "set it before the process starts"
                )
            self.multiprocess_dir = path
        # in multiprocess mode the values live in files; the registry holds nothing (render reads files)
        self.registry = CollectorRegistry()
        r = None if multiprocess else self.registry
        self.requests = Counter(
            "bayesguard_http_requests", "HTTP requests by route and status", ["route", "status"], registry=r
        )
        self.verdicts = Counter(
            "bayesguard_verdicts", "Recorded verdicts by decision", ["decision"], registry=r
        )
        self.check_seconds = Histogram(
            "bayesguard_check_seconds",
            "Seconds from a check's arrival to its durable verdict",
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.errors = Counter("bayesguard_errors", "Refused requests by error code", ["code"], registry=r)
        self.observations = Counter("bayesguard_observations", "Observations recorded", registry=r)
        # across workers: degraded when any live worker is; open ASKs as the latest listing saw them
        self.degraded = Gauge(
            "bayesguard_degraded",
            "1 when checks fail closed after a failed update (in any worker)",
            registry=r,
            multiprocess_mode="livemax",
        )
        self.open_asks = Gauge(
            "bayesguard_open_asks",
            "Open ASK verdicts (at the last listing)",
            registry=r,
            multiprocess_mode="livemostrecent",
        )

    def verdict(self, verdict: Any, seconds: float) -> None:
        self.verdicts.labels(verdict.decision.value).inc()
        self.check_seconds.observe(seconds)

    def render(self) -> bytes:
        """The Prometheus text exposition: this app's metrics, or every worker's summed."""
        if self.multiprocess_dir is not None:
            return multiprocess_exposition(self.multiprocess_dir)
        from prometheus_client import generate_latest

        return generate_latest(self.registry)

    def close(self) -> None:
        """At a worker's shutdown: mark this process dead (its live gauges no longer count)."""
        if self.multiprocess_dir is not None:
            from prometheus_client.multiprocess import mark_process_dead

            mark_process_dead(os.getpid(), self.multiprocess_dir)
