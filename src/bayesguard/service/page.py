"""The page for people: server-rendered HTML (Jinja2, autoescaped), plain links and forms, no JavaScript.

Routes (mounted by :func:`mount_page`; :func:`~.app.create_app` does it unless ``page=False``)::

    GET  /                          redirects to /ui
    GET  /ui                        the verdict timeline, newest first: filters decision, action,
                                    since, until (UTC), pages of ``limit`` from ``offset``
    GET  /ui/verdicts/{id}          one verdict's explanation, its request and place in the audit chain
    GET  /ui/asks                   the open ASK queue, each with a form to answer it
    POST /ui/asks/{id}/answer       approve or refuse, optionally with an observation -> 303 to /ui/asks
    GET  /ui/login, POST /ui/login  paste an API key (kept in an HttpOnly, SameSite=Strict cookie)
    GET  /ui/logout, POST /ui/logout
    GET  /ui/static/page.css        the one style sheet

Viewing needs a key with scope ``check``, answering one with ``answer`` (when the service runs without
keys, neither). Every state-changing form carries a CSRF token (:mod:`.page_auth`). The page reads the
service and its store through their APIs only (:mod:`.page_views`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool

from . import page_views as pv
from .http_support import KeyRing
from .page_auth import LoginRequired, PageAuth, PageError, safe_next
from .runtime import GuardService, NotFound

log = logging.getLogger("bayesguard.service")

TEMPLATES = Path(__file__).with_name("templates")
#: Sent with every page: no scripts at all, styles and forms from this origin only, never framed.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def make_env() -> Environment:
    """The Jinja2 environment of the page's templates (autoescape on for every template but the CSS)."""
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(
            enabled_extensions=("html",), default=True, disabled_extensions=("css",)
        ),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["fmt"] = pv.fmt
    env.filters["url_id"] = lambda s: quote(str(s), safe="")
    env.filters["when"] = pv.when
    return env


def mount_page(app: FastAPI, service: GuardService, ring: KeyRing | None) -> None:
    """Add the page's routes (module docstring) to ``app``.

    Args:
        app: the service's FastAPI application.
        service: the guard service it serves.
        ring: the API keys (None: the service runs without keys, and so does the page).
    """
    env = make_env()
    auth = PageAuth(ring)
    css = (TEMPLATES / "static" / "page.css").read_text(encoding="utf-8")

    def render(request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        flash = auth.read_flash(request)
        guard = None
        if ctx.get("scopes"):  # the guard's facts only for a key that may view them
            try:
                guard = pv.guard_info(service)
            except Exception:  # the header must not hide the page's own message
                log.exception("page: reading the guard's state failed")
        html = env.get_template(name).render(
            request=request,
            guard=guard,
            csrf=auth.csrf_token(request),
            auth_on=auth.enabled,
            flash=flash,
            path=request.url.path,
            status=status,
            **ctx,
        )
        response = HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)
        if flash is not None or "bayesguard_flash" in request.cookies:
            auth.clear_flash(response)
        return response

    async def on_page_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, LoginRequired):
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            if request.method != "GET":
                target = "/ui/asks" if "/asks/" in request.url.path else "/ui"
            resp = RedirectResponse("/ui/login?" + urlencode({"next": target}), status_code=303)
            if exc.stale:
                auth.clear_key(resp)
            resp.headers.update(SECURITY_HEADERS)
            return resp
        assert isinstance(exc, PageError)
        scopes = _scopes_quietly(request)
        return await run_in_threadpool(
            render, request, "error.html", exc.status, message=exc.message, scopes=scopes
        )

    def _scopes_quietly(request: Request) -> frozenset[str]:
        try:
            return auth.require(request, "check")
        except (LoginRequired, PageError):
            return frozenset()

    app.add_exception_handler(PageError, on_page_error)
    app.add_exception_handler(LoginRequired, on_page_error)

    def names() -> list[str]:
        return pv.codecs.action_names(service.guard)

    # ------------------------------------------------------------------ pages
    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/ui", status_code=303)

    @app.get("/ui/static/page.css", include_in_schema=False)
    def stylesheet() -> Response:
        return Response(css, media_type="text/css", headers={"Cache-Control": "max-age=3600"})

    @app.get("/ui", include_in_schema=False)
    def timeline(request: Request) -> HTMLResponse:
        scopes = auth.require(request, "check")
        action_names = names()
        filters = pv.parse_filters(request.query_params, action_names)
        try:
            rows, total = pv.timeline(service, filters, action_names)
        except ValueError as exc:  # the store refused a filter: show it, with no rows
            filters.errors.append(str(exc))
            rows, total = [], 0
        return render(
            request,
            "timeline.html",
            422 if filters.errors else 200,
            scopes=scopes,
            rows=rows,
            total=total,
            filters=filters,
            decisions=pv.DECISIONS,
            action_names=action_names,
        )

    @app.get("/ui/verdicts/{vid:path}", include_in_schema=False)
    def verdict(vid: str, request: Request) -> HTMLResponse:
        scopes = auth.require(request, "check")
        try:
            rec, answer = service.verdict(vid)
        except (NotFound, ValueError) as exc:
            raise PageError(404, _message(exc)) from None
        d = pv.detail(service, rec, answer, names())
        form, example = pv.data_hint(service)
        return render(
            request,
            "verdict.html",
            scopes=scopes,
            d=d,
            data_form=form,
            data_example=example,
            values={},
            error=None,
        )

    @app.get("/ui/asks", include_in_schema=False)
    def ask_queue(request: Request) -> HTMLResponse:
        scopes = auth.require(request, "check")
        return _queue(request, scopes)

    def _queue(
        request: Request,
        scopes: frozenset[str],
        status: int = 200,
        error_for: str | None = None,
        error: str | None = None,
        values: dict[str, str] | None = None,
    ) -> HTMLResponse:
        items = pv.asks(service, names(), limit=100)
        form, example = pv.data_hint(service)
        return render(
            request,
            "asks.html",
            status,
            scopes=scopes,
            items=items,
            data_form=form,
            data_example=example,
            error_for=error_for,
            error=error,
            values=values or {},
        )

    @app.post("/ui/asks/{aid:path}/answer", include_in_schema=False)
    async def answer(aid: str, request: Request) -> Response:
        scopes = await run_in_threadpool(auth.require, request, "answer")
        form = await request.form()
        auth.check_csrf(request, form.get("csrf"))
        values = {k: str(form.get(k, "") or "") for k in ("approve", "data", "by", "note", "next")}
        back = safe_next(values["next"], "/ui/asks")
        try:
            if values["approve"] not in ("yes", "no"):
                raise ValueError("approve: choose approve or refuse")
            data = pv.parse_data(values["data"])
            rec = await run_in_threadpool(
                service.answer,
                aid,
                approve=values["approve"] == "yes",
                data=data,
                by=values["by"].strip(),
                note=values["note"].strip(),
            )
        except NotFound as exc:
            return await _answer_error(request, scopes, aid, back, 404, _message(exc), values)
        except (ValueError, TypeError) as exc:
            code = 409 if type(exc).__name__ == "AskAlreadyAnswered" else 422
            return await _answer_error(request, scopes, aid, back, code, _message(exc), values)
        verb = "approved" if values["approve"] == "yes" else "refused"
        if data is not None:
            message = f"ASK {aid} {verb} with an observation (audit record {rec.seq}). "
            message += f"Posterior version is now {service.version}."
        else:
            message = f"ASK {aid} {verb} (audit record {rec.seq}). "
            message += f"Posterior version stays {service.version} (no observation)."
        resp = RedirectResponse(back, status_code=303)
        auth.set_flash(resp, request, message)
        return resp

    async def _answer_error(
        request: Request,
        scopes: frozenset[str],
        aid: str,
        back: str,
        status: int,
        message: str,
        values: dict[str, str],
    ) -> Response:
        if back.startswith("/ui/verdicts/"):
            try:
                rec, answer_rec = await run_in_threadpool(service.verdict, aid)
            except (NotFound, ValueError):
                raise PageError(status, message) from None
            d = await run_in_threadpool(pv.detail, service, rec, answer_rec, names())
            form, example = pv.data_hint(service)
            return await run_in_threadpool(
                render,
                request,
                "verdict.html",
                status,
                scopes=scopes,
                d=d,
                data_form=form,
                data_example=example,
                values=values,
                error=message,
            )
        return await run_in_threadpool(_queue, request, scopes, status, aid, message, values)

    # ------------------------------------------------------------------ login
    @app.get("/ui/login", include_in_schema=False)
    def login_form(request: Request) -> Response:
        if not auth.enabled:
            return RedirectResponse("/ui", status_code=303)
        nxt = safe_next(request.query_params.get("next"), "/ui")
        return render(request, "login.html", scopes=frozenset(), next=nxt, error=None)

    @app.post("/ui/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        form = await request.form()
        auth.check_csrf(request, form.get("csrf"))
        nxt = safe_next(form.get("next"), "/ui")
        key = str(form.get("key", "") or "").strip()
        if not auth.enabled:
            return RedirectResponse(nxt, status_code=303)
        try:
            await run_in_threadpool(auth.check_key, key)
        except PageError as exc:
            return await run_in_threadpool(
                render, request, "login.html", exc.status, scopes=frozenset(), next=nxt, error=exc.message
            )
        resp = RedirectResponse(nxt, status_code=303)
        auth.set_key(resp, request, key)
        return resp

    @app.get("/ui/logout", include_in_schema=False)
    def logout_form(request: Request) -> Response:
        return render(request, "logout.html", scopes=_scopes_quietly(request))

    @app.post("/ui/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        form = await request.form()
        auth.check_csrf(request, form.get("csrf"))
        resp = RedirectResponse("/ui/login" if auth.enabled else "/ui", status_code=303)
        auth.clear_key(resp)
        return resp


def _message(exc: BaseException) -> str:
    """An exception's message for people (a KeyError's repr quotes removed)."""
    return str(exc.args[0]) if exc.args else type(exc).__name__


__all__ = ["SECURITY_HEADERS", "make_env", "mount_page"]
