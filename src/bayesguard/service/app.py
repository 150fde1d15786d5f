"""The HTTP service (FastAPI): ``create_app(service)``; ``bayesguard serve BUNDLE`` runs it under uvicorn.

Routes (JSON in, JSON out; the request forms are in the OpenAPI document at ``/openapi.json``, rendered
without JavaScript at ``/docs`` by :mod:`.api_docs`; each route's scope is its ``x-scope`` marker)::

    POST /v1/check                 {"context", "action", "id"?}     scope check
    POST /v1/check_all             {"context", "id"?}               scope check
    POST /v1/observe               {"data", "id"?}                  scope observe
    GET  /v1/verdicts/{id}                                          scope check
    GET  /v1/asks                                                   scope answer
    POST /v1/asks/{id}/answer      {"approve", "data"?, "by"?, "note"?}   scope answer
    GET  /v1/guard                 the family, actions and the JSON forms of context and data
    GET  /healthz                  no key; 503 when degraded
    GET  /metrics                  Prometheus text; no key (serve it on an internal network)

A verdict is returned only after its audit record is durable; every response names the posterior
version it was made under. Errors: :mod:`.http_support`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import codecs
from .api_docs import NO_KEY, mount_api_docs, scope_marker
from .http_support import (
    MAX_BODY,
    ApiError,
    BodyLimit,
    CountRequests,
    KeyRing,
    Metrics,
    authorize,
    field_error,
    parse_json_object,
    secret_from,
)
from .runtime import Checked, Conflict, GuardService, NotFound
from .store import Record

log = logging.getLogger("bayesguard.service")


class CheckBody(BaseModel):
    context: Any = Field(None, description="the context in the family's JSON form (GET /v1/guard)")
    action: int | str = Field(..., description="an action index or name")
    id: str | None = Field(None, description="request id (idempotent); default a new UUID")


class CheckAllBody(BaseModel):
    context: Any = None
    id: str | None = None


class ObserveBody(BaseModel):
    data: Any = Field(..., description="an observation in the family's JSON form (GET /v1/guard)")
    id: str | None = None


class AnswerBody(BaseModel):
    approve: bool
    data: Any = Field(None, description="optional observation that updates the posterior")
    by: str = ""
    note: str = ""


def _doc(model: type[BaseModel], scope: str) -> dict[str, Any]:
    schema = model.model_json_schema()
    body = {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}
    return scope_marker(scope, body)


def verdict_json(c: Checked | Record, rid: str | None = None) -> dict[str, Any]:
    """The response for one recorded verdict."""
    rec = c.record if isinstance(c, Checked) else c
    v = rec.payload.get("verdict", rec.payload)
    return {
        "id": c.id if isinstance(c, Checked) else (rid or rec.payload.get("id")),
        "decision": v["decision"],
        "verdict": v,
        "posterior_version": rec.posterior_version,
        "bundle_sha256": rec.bundle_hash,
        "seq": rec.seq,
        "record_hash": rec.hash,
        "created": rec.created,
    }


def create_app(
    service: GuardService,
    *,
    auth: bool = True,
    max_body: int = MAX_BODY,
    page: bool = True,
    close_on_shutdown: bool = False,
    metrics: Metrics | None = None,
) -> FastAPI:
    """The FastAPI application serving ``service``.

    Args:
        service: the guard service (owns the guard and the store).
        auth: require API keys (``store.add_key``); False only for tests and loopback demos.
        max_body: the largest request body in bytes.
        page: mount the page for people (:mod:`.page`) at ``/``.
        close_on_shutdown: close ``service`` (flush its audit queue, close the store) when the app stops.
        metrics: the Prometheus metrics (default: a registry of this app's own; the workers of
            ``serve --workers N`` pass multiprocess ones, summed over workers at ``/metrics``).
    """

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if close_on_shutdown:
            service.close()
        metrics.close()

    app = FastAPI(
        lifespan=lifespan,
        title="bayesguard",
        version="1",
        description="A Bayesian harm guard: ALLOW, REJECT or ASK, with every verdict in an audit chain.",
        docs_url=None,  # Swagger and ReDoc load scripts from a CDN: /docs is served by .api_docs
        redoc_url=None,
    )
    ring = KeyRing(service.store) if auth else None
    metrics = Metrics() if metrics is None else metrics
    app.add_middleware(BodyLimit, max_bytes=max_body, on_error=lambda code: metrics.errors.labels(code).inc())
    service.on_verdict = metrics.verdict
    app.state.service, app.state.metrics, app.state.ring = service, metrics, ring

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        metrics.errors.labels(exc.code).inc()
        log.info("%s %s -> %d %s: %s", request.method, request.url.path, exc.status, exc.code, exc.message)
        return exc.response()

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(exc.status_code, "http")
        return await _api_error(request, ApiError(exc.status_code, code, str(exc.detail)))

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or "request"
        return await _api_error(
            request, ApiError(422, "invalid", f"{where}: {first.get('msg', 'invalid')}", where)
        )

    @app.exception_handler(Exception)
    async def _server_error(request: Request, exc: Exception) -> JSONResponse:
        metrics.errors.labels("internal").inc()
        log.exception("%s %s failed", request.method, request.url.path)
        err = ApiError(500, "internal", f"server error: {type(exc).__name__}: {str(exc)[:300]}")
        return err.response()

    app.add_middleware(CountRequests, metrics=metrics)

    async def body_of(request: Request, scope: str, allowed: set[str], required: set[str]) -> dict[str, Any]:
        authorize(ring, secret_from(request.headers, request.cookies), scope)
        return parse_json_object(await request.body(), allowed, required)

    async def call(fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            if asyncio.iscoroutinefunction(fn):
                return await fn(*args, **kwargs)
            return await run_in_threadpool(fn, *args, **kwargs)
        except Conflict as exc:
            raise field_error(exc, 409, "conflict") from None
        except NotFound as exc:
            raise field_error(
                ValueError(exc.args[0] if exc.args else "id: not found"), 404, "not_found"
            ) from None
        except (ValueError, TypeError) as exc:
            code = 409 if type(exc).__name__ == "AskAlreadyAnswered" else 422
            raise field_error(exc, code, "conflict" if code == 409 else "invalid") from None

    @app.post("/v1/check", openapi_extra=_doc(CheckBody, "check"), tags=["guard"])
    async def check(request: Request) -> dict[str, Any]:
        """Check one action; ALLOW, REJECT or ASK, recorded before it is returned."""
        body = await body_of(request, "check", {"context", "action", "id"}, {"action"})
        return verdict_json(
            await call(service.check_async, body.get("context"), body["action"], body.get("id"))
        )

    @app.post("/v1/check_all", openapi_extra=_doc(CheckAllBody, "check"), tags=["guard"])
    async def check_all(request: Request) -> dict[str, Any]:
        """Check every action in one context."""
        body = await body_of(request, "check", {"context", "id"}, set())
        out = await call(service.check_all, body.get("context"), body.get("id"))
        return {"verdicts": [verdict_json(c) for c in out]}

    @app.post("/v1/observe", openapi_extra=_doc(ObserveBody, "observe"), tags=["guard"])
    async def observe(request: Request) -> dict[str, Any]:
        """Record an observation and update the posterior; returns the new posterior version."""
        body = await body_of(request, "observe", {"data", "id"}, {"data"})
        rec = await call(service.observe, body["data"], body.get("id"))
        metrics.observations.inc()
        return {"seq": rec.seq, "record_hash": rec.hash, "posterior_version": service.version}

    @app.get("/v1/verdicts/{vid:path}", tags=["audit"], openapi_extra=scope_marker("check"))
    async def verdict(vid: str, request: Request) -> dict[str, Any]:
        """One recorded verdict, and the answer to it if it was an ASK that was answered."""
        authorize(ring, secret_from(request.headers, request.cookies), "check")
        rec, answer = await call(service.verdict, vid)
        out = verdict_json(rec, vid)
        out["request"] = rec.payload.get("request")
        out["answer"] = None if answer is None else answer.payload
        return out

    @app.get("/v1/asks", tags=["people"], openapi_extra=scope_marker("answer"))
    async def asks(request: Request, limit: int = 100) -> dict[str, Any]:
        """The open ASK verdicts, oldest first."""
        authorize(ring, secret_from(request.headers, request.cookies), "answer")
        if not 1 <= limit <= 1000:
            raise ApiError(422, "invalid", "limit: expected 1 to 1000", "limit")
        recs = await call(service.asks, limit)
        metrics.open_asks.set(len(recs))
        return {"asks": [verdict_json(r, r.payload.get("id")) | {"id": _ref(r)} for r in recs]}

    @app.post("/v1/asks/{aid:path}/answer", openapi_extra=_doc(AnswerBody, "answer"), tags=["people"])
    async def answer(aid: str, request: Request) -> dict[str, Any]:
        """Answer an open ASK; data in the answer update the posterior."""
        body = await body_of(request, "answer", {"approve", "data", "by", "note"}, {"approve"})
        kwargs = {k: body[k] for k in ("data", "by", "note") if k in body}
        rec = await call(service.answer, aid, approve=body["approve"], **kwargs)
        return {"seq": rec.seq, "record_hash": rec.hash, "posterior_version": service.version}

    @app.get("/v1/guard", tags=["guard"], openapi_extra=scope_marker("check"))
    async def guard_info(request: Request) -> dict[str, Any]:
        """The guard's family, actions, rule and the JSON forms of context and data."""
        authorize(ring, secret_from(request.headers, request.cookies), "check")
        g = service.guard
        info = codecs.describe_io(g)
        info.update(
            rule=g.rule.value,
            threshold=g.threshold,
            params=g.params,
            posterior_version=service.version,
            bundle_sha256=service.bundle_hash,
        )
        return info

    @app.get("/healthz", tags=["ops"], openapi_extra=scope_marker(NO_KEY))
    async def healthz() -> JSONResponse:
        """The service's health: 200 when it serves, 503 when checks fail closed after a failed update."""
        h = service.health()
        metrics.degraded.set(1 if service.degraded else 0)
        return JSONResponse(h, status_code=503 if service.degraded else 200)

    @app.get("/metrics", tags=["ops"], openapi_extra=scope_marker(NO_KEY))
    async def prometheus() -> Response:
        """Prometheus metrics in the text format (with several workers, summed over them)."""
        return Response(await run_in_threadpool(metrics.render), media_type=CONTENT_TYPE_LATEST)

    if page:
        from .page import mount_page

        mount_page(app, service, ring)
    mount_api_docs(app, service)
    return app


#: The environment variable through which ``bayesguard serve --workers N`` configures each worker.
SERVE_ENV = "BAYESGUARD_SERVE"


def app_from_env() -> FastAPI:
    """The app of one worker of ``bayesguard serve --workers N`` (uvicorn's factory): its own
    :class:`GuardService` on the shared store, configured by the JSON in ``$BAYESGUARD_SERVE``."""
    import json
    import os

    from .http_support import MULTIPROC_ENV

    cfg = json.loads(os.environ[SERVE_ENV])
    # serve sets $PROMETHEUS_MULTIPROC_DIR before it spawns the workers, so before they import prometheus
    metrics = Metrics(multiprocess=True) if os.environ.get(MULTIPROC_ENV) else None
    service = GuardService(cfg["bundle"], cfg["store"], timeout=cfg["timeout"])
    return create_app(
        service, auth=cfg["auth"], max_body=cfg["max_body"], close_on_shutdown=True, metrics=metrics
    )


def _ref(rec: Record) -> str | None:
    return getattr(rec, "ref", None)
