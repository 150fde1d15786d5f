"""The API reference at ``GET /docs``: one server-rendered page, no JavaScript and nothing from a CDN
(FastAPI's Swagger and ReDoc pages load their scripts from one, so air-gapped deployments see them
blank; :func:`~.app.create_app` turns them off and keeps ``/openapi.json``).

Everything on the page is read from ``app.openapi()`` (each route's method, path, summary, the
handler's docstring, its parameters, its request body's fields and the scope its key needs, from the
route's ``openapi_extra`` marker ``{"x-scope": ...}``) and from :func:`.codecs.describe_io` (the JSON
forms of this guard's context, action and data, with examples that decode). The page needs no key:
it shows the API and the guard's input forms, never a verdict or a record.
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from . import codecs
from .runtime import GuardService

#: The ``openapi_extra`` key naming the scope a route's key needs (``"none"``: no key).
SCOPE_KEY = "x-scope"
#: Scope marker of the routes that need no key.
NO_KEY = "none"
#: The error statuses and codes of :mod:`.http_support`, in words.
ERRORS: tuple[tuple[int, str, str], ...] = (
    (400, "bad_json", "the body is not JSON (UTF-8, no NaN or Infinity)"),
    (401, "unauthenticated", "no API key, or an unknown or revoked one"),
    (403, "forbidden", "the key lacks the route's scope"),
    (404, "not_found", "no such id or route"),
    (405, "method_not_allowed", "the route does not take this method"),
    (409, "conflict", "an id reused for another request, or an ASK already answered"),
    (413, "too_large", "the body is larger than the server's limit"),
    (422, "invalid", "a field of the wrong form; field names it"),
    (500, "internal", "the server's own failure (a check that fails is a REJECT, not a 500)"),
)
ERROR_EXAMPLE = {
    "error": {
        "status": 422,
        "code": "invalid",
        "field": "action",
        "message": "action: expected an action index in [0, 2], got 7",
    }
}
_METHODS = ("get", "post", "put", "patch", "delete")


def scope_marker(scope: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """A route's ``openapi_extra``: ``extra`` (e.g. a request body) with the scope its key needs."""
    return {**(extra or {}), SCOPE_KEY: scope}


def type_words(schema: dict[str, Any], spec: dict[str, Any]) -> str:
    """A JSON schema's type in words: ``"integer | string"``, ``"list of number"``, ``"any JSON"``."""
    schema = _resolve(schema, spec)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            parts = [type_words(s, spec) for s in schema[key]]
            return " | ".join(dict.fromkeys(p for p in parts if p != "null")) + (
                " | null" if "null" in parts else ""
            )
    kind = schema.get("type")
    if kind == "array":
        return f"list of {type_words(schema.get('items', {}), spec)}"
    if isinstance(kind, list):
        return " | ".join(kind)
    if "enum" in schema:
        return " | ".join(json.dumps(v) for v in schema["enum"])
    return str(kind) if kind else "any JSON"


def _resolve(schema: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return schema
    node: Any = spec
    for part in ref[2:].split("/"):
        node = node.get(part, {}) if isinstance(node, dict) else {}
    return node if isinstance(node, dict) else {}


def _fields(schema: dict[str, Any], spec: dict[str, Any]) -> list[dict[str, Any]]:
    schema = _resolve(schema, spec)
    required = set(schema.get("required", ()))
    out = []
    for name, prop in (schema.get("properties") or {}).items():
        prop = _resolve(prop, spec)
        default = prop.get("default")
        out.append(
            {
                "name": name,
                "type": type_words(prop, spec),
                "required": name in required,
                "default": None if name in required or default is None else json.dumps(default),
                "description": prop.get("description", ""),
            }
        )
    return out


def _anchor(method: str, path: str) -> str:
    return method + "-" + (re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-") or "root")


def routes(spec: dict[str, Any], examples: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Each operation of the OpenAPI document ``spec``, in its order: ``method``, ``path``,
    ``summary``, ``description``, ``scope`` (None where unmarked), ``params`` and ``body`` (lists
    of fields: name, type, required, default, description), ``tags`` and ``example`` (a request
    body from ``examples``, keyed ``"METHOD path"``, or None)."""
    out = []
    for path, item in spec.get("paths", {}).items():
        for method in _METHODS:
            op = item.get(method)
            if op is None:
                continue
            params = []
            for p in op.get("parameters", []):
                p = _resolve(p, spec)
                schema = p.get("schema", {})
                params.append(
                    {
                        "name": p.get("name", ""),
                        "where": p.get("in", ""),
                        "type": type_words(schema, spec),
                        "required": bool(p.get("required")),
                        "default": None if "default" not in schema else json.dumps(schema["default"]),
                        "description": p.get("description", ""),
                    }
                )
            content = (op.get("requestBody") or {}).get("content", {})
            body_schema = content.get("application/json", {}).get("schema")
            key = f"{method.upper()} {path}"
            out.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "anchor": _anchor(method, path),
                    "summary": op.get("summary", ""),
                    "description": (op.get("description") or "").strip(),
                    "scope": op.get(SCOPE_KEY),
                    "tags": op.get("tags", []),
                    "params": params,
                    "body": None if body_schema is None else _fields(body_schema, spec),
                    "example": None
                    if examples is None or key not in examples
                    else json.dumps(examples[key], indent=2),
                }
            )
    return out


def request_examples(io: dict[str, Any]) -> dict[str, Any]:
    """Example request bodies (keyed ``"METHOD path"``) built from :func:`.codecs.describe_io`'s
    examples, so each one is a request this guard accepts."""
    context, action = io["context"]["example"], io["action"]["example"]
    return {
        "POST /v1/check": {"context": context, "action": action},
        "POST /v1/check_all": {"context": context},
        "POST /v1/observe": {"data": io["data"]["example"]},
        "POST /v1/asks/{aid}/answer": {"approve": False, "by": "Ada (operator)", "note": "checked by hand"},
    }


def reference(app: FastAPI, service: GuardService) -> dict[str, Any]:
    """What the page shows: ``title``, ``version``, ``description``, ``routes`` (:func:`routes`),
    ``io`` (:func:`.codecs.describe_io` with each example as indented JSON text under ``json``),
    ``extras`` (the family's other facts as JSON text), ``errors`` and ``error_example``."""
    spec = app.openapi()
    io = codecs.describe_io(service.guard)
    forms = {}
    for name in ("context", "action", "data"):
        entry = io.get(name) or {}
        forms[name] = {"form": entry.get("form", ""), "json": json.dumps(entry.get("example"), indent=2)}
    skip = {"context", "action", "data", "family"}
    extras = {k: json.dumps(v) for k, v in io.items() if k not in skip}
    info = spec.get("info", {})
    return {
        "title": info.get("title", ""),
        "version": info.get("version", ""),
        "description": info.get("description", ""),
        "openapi_url": app.openapi_url,
        "routes": routes(spec, request_examples(io)),
        "family": io.get("family"),
        "io": forms,
        "extras": extras,
        "errors": ERRORS,
        "error_example": json.dumps(ERROR_EXAMPLE, indent=2),
    }


def mount_api_docs(app: FastAPI, service: GuardService) -> None:
    """Serve the reference at ``GET /docs`` (and send ``/redoc`` there), with the page's style sheet
    at ``/ui/static/page.css`` unless the page (:mod:`.page`) already serves it."""
    from .page import SECURITY_HEADERS, TEMPLATES, make_env

    env = make_env()
    css_path = "/ui/static/page.css"
    if not any(getattr(r, "path", None) == css_path for r in app.routes):
        css = (TEMPLATES / "static" / "page.css").read_text(encoding="utf-8")

        @app.get(css_path, include_in_schema=False)
        def stylesheet() -> Response:
            return Response(css, media_type="text/css", headers={"Cache-Control": "max-age=3600"})

    @app.get("/docs", include_in_schema=False)
    def api_docs(request: Request) -> HTMLResponse:
        html = env.get_template("api_docs.html").render(
            ref=reference(app, service), scopes=frozenset(), guard=None, path=request.url.path
        )
        return HTMLResponse(html, headers=SECURITY_HEADERS)

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> RedirectResponse:
        return RedirectResponse("/docs", status_code=308)


__all__ = ["ERRORS", "NO_KEY", "SCOPE_KEY", "mount_api_docs", "reference", "request_examples", "routes"]
