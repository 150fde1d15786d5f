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
import threading
import time
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


class Metrics:
    """The service's Prometheus metrics, in a registry of its own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
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
        self.degraded = Gauge(
            "bayesguard_degraded", "1 when checks fail closed after a failed update", registry=r
        )
        self.open_asks = Gauge("bayesguard_open_asks", "Open ASK verdicts (at the last listing)", registry=r)

    def verdict(self, verdict: Any, seconds: float) -> None:
        self.verdicts.labels(verdict.decision.value).inc()
        self.check_seconds.observe(seconds)
