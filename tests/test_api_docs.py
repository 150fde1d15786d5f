"""The API reference at /docs (bayesguard.service.api_docs) through FastAPI's TestClient: served without a
key and without JavaScript or CDN links, listing every route with its scope, body fields and the error
form; each route's ``x-scope`` is the scope the service enforces; the example bodies it shows are
requests the guard accepts; text from docstrings and guards is escaped."""

from __future__ import annotations

import html
import json
import re

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("jinja2")
from fastapi.testclient import TestClient  # noqa: E402
from service_fixtures import bandit_bundle, mail_bundle  # noqa: E402

from bayesguard.service import codecs  # noqa: E402
from bayesguard.service.api_docs import NO_KEY, SCOPE_KEY, request_examples, type_words  # noqa: E402
from bayesguard.service.app import create_app  # noqa: E402
from bayesguard.service.http_support import SCOPES  # noqa: E402
from bayesguard.service.runtime import GuardService  # noqa: E402

BUNDLES = {"finite": mail_bundle, "bandit": bandit_bundle}


@pytest.fixture(scope="module", params=sorted(BUNDLES))
def bundle(request, tmp_path_factory):
    return BUNDLES[request.param](tmp_path_factory.mktemp(request.param))


@pytest.fixture
def served(bundle, tmp_path):
    svc = GuardService(bundle, str(tmp_path / "audit.db"))
    keys = {s: svc.store.add_key(s, [s]) for s in ("check", "observe", "answer")}
    app = create_app(svc)
    yield app, svc, TestClient(app), keys
    svc.close()


def _operations(app):
    for path, item in app.openapi()["paths"].items():
        for method, op in item.items():
            yield method.upper(), path, op


def test_docs_need_no_key_load_nothing_from_elsewhere_and_list_every_route(served):
    app, svc, http, _ = served
    r = http.get("/docs")  # no key, no cookie
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "script-src" not in r.headers["content-security-policy"]  # default-src 'none': no scripts
    page = r.text
    assert "<script" not in page.lower() and "swagger" not in page.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page, re.I), "an external URL"
    assert not re.search(r"https?://", page), "an absolute URL"
    ops = list(_operations(app))
    v1 = [(m, p) for m, p, _ in ops if p.startswith("/v1/")]
    assert len(v1) >= 7
    for method, path, op in ops:  # each route: its own section with method, path, scope, docstring
        anchor = re.escape(method.lower() + "-" + re.sub(r"[^a-z0-9]+", "-", path.lower()).strip("-"))
        section = re.search(rf'<section class="card route" id="{anchor}">(.*?)</section>', page, re.S)
        assert section, (method, path)
        text = section.group(1)
        assert f">{method}<" in text and path in text
        scope = op[SCOPE_KEY]
        assert ("no key" if scope == NO_KEY else f"scope {scope}") in text
        assert op["description"].split("\n")[0] in html.unescape(text)
    check = re.search(r'id="post-v1-check">(.*?)</section>', page, re.S).group(1)
    for field in ("context", "action", "id"):
        assert f'<td class="mono">{field}</td>' in check
    assert "integer | string" in check  # action's type, from the body schema
    # the error body's form and the family's JSON forms, with examples
    shown = html.unescape(page)
    assert all(k in shown for k in ('"status": 422', '"code"', '"field"', '"message"', "unauthenticated"))
    io = codecs.describe_io(svc.guard)
    assert f"family {io['family']}" in shown
    for name in ("context", "data", "action"):
        assert io[name]["form"] in shown
        assert json.dumps(io[name]["example"], indent=2) in shown
    # Swagger and ReDoc (which load scripts from a CDN) are off; the OpenAPI document stays
    assert http.get("/redoc", follow_redirects=False).headers["location"] == "/docs"
    assert http.get("/docs/oauth2-redirect").status_code == 404
    assert http.get("/openapi.json").json()["paths"].keys() == {p for _, p, _ in ops}


def test_each_routes_scope_marker_is_the_scope_it_enforces(served):
    app, _, http, keys = served
    checked = 0
    for method, path, op in _operations(app):
        scope = op.get(SCOPE_KEY)
        assert scope == NO_KEY or scope in SCOPES, (method, path, scope)
        url = re.sub(r"\{[^}]+\}", "some-id", path)

        def call(key: str | None, url: str = url, method: str = method) -> int:
            headers = {} if key is None else {"authorization": f"Bearer {key}"}
            body = {} if method == "POST" else None
            return http.request(method, url, json=body, headers=headers).status_code

        if scope == NO_KEY:
            assert call(None) not in (401, 403), (method, path)
            continue
        assert call(None) == 401, (method, path)
        for name, key in keys.items():
            status = call(key)
            assert (status == 403) == (name != scope), (method, path, name, status)
        checked += 1
    assert checked >= 7


def test_the_example_bodies_shown_are_accepted(served):
    _, svc, http, keys = served
    examples = request_examples(codecs.describe_io(svc.guard))
    page = http.get("/docs").text
    routes = {"POST /v1/check": "check", "POST /v1/check_all": "check", "POST /v1/observe": "observe"}
    for key, scope in routes.items():
        method, path = key.split(" ")
        r = http.post(path, json=examples[key], headers={"authorization": f"Bearer {keys[scope]}"})
        assert r.status_code == 200, (key, r.text)
        assert f'id="{method.lower()}-{path.strip("/").replace("/", "-").replace("_", "-")}"' in page
    assert "Ada (operator)" in page


def test_docstrings_and_names_are_escaped(bundle, tmp_path):
    svc = GuardService(bundle, str(tmp_path / "audit.db"))
    app = create_app(svc, page=False)  # without the page: the docs still serve their style sheet

    @app.get("/v1/x<b>", openapi_extra={SCOPE_KEY: "check"})
    def hostile() -> dict:
        """Says <script>alert('x')</script> & <img src=x onerror=alert(1)>."""
        return {}

    http = TestClient(app)
    page = http.get("/docs").text
    assert "<script" not in page and "<img" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &lt;img src=x" in page
    assert "/v1/x&lt;b&gt;" in page
    css = http.get("/ui/static/page.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert http.get("/ui").status_code == 404  # the page itself is off
    svc.close()


def test_type_words():
    spec = {"components": {"schemas": {"Pair": {"type": "array", "items": {"type": "number"}}}}}
    assert type_words({"anyOf": [{"type": "integer"}, {"type": "string"}]}, spec) == "integer | string"
    assert type_words({"anyOf": [{"type": "null"}, {"type": "string"}]}, spec) == "string | null"
    assert type_words({"$ref": "#/components/schemas/Pair"}, spec) == "list of number"
    assert type_words({"enum": ["a", 1]}, spec) == '"a" | 1'
    assert type_words({}, spec) == "any JSON"
