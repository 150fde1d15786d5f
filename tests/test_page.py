"""The page for people (bayesguard.service.page) through FastAPI's TestClient: the timeline and its
filters, one verdict's explanation, the ASK queue and answering through the form, keys and scopes,
CSRF, and escaping."""

from __future__ import annotations

import html
import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("jinja2")
from fastapi.testclient import TestClient  # noqa: E402

from bayesguard.guard.verdict import Decision, Verdict  # noqa: E402
from bayesguard.service.app import create_app  # noqa: E402
from bayesguard.service.bundle import build_bundle  # noqa: E402
from bayesguard.service.runtime import GuardService  # noqa: E402
from bayesguard.service.store_records import verdict_payload  # noqa: E402

PLANT = Path(__file__).resolve().parents[1] / "examples" / "bundles" / "plant.toml"
# a coarse sweep of ambient readings plus a fine one where doing nothing turns from ALLOW to REJECT
AMBIENT = [float(x) for x in np.round(np.r_[np.linspace(-1.5, 3.0, 10), np.arange(1.9, 2.2, 0.02)], 3)]
DATA = (
    '{"rows": [{"ambient": 0.1, "valve": 0.2, "pressure": 0.3}, '
    '{"ambient": -0.5, "valve": 0.1, "pressure": -0.2}]}'
)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    if not PLANT.exists():
        pytest.skip(f"the causal example {PLANT} is missing")
    return build_bundle(PLANT, tmp_path_factory.mktemp("page") / "bundle")


@pytest.fixture
def service(bundle, tmp_path):
    svc = GuardService(bundle, str(tmp_path / "audit.db"))
    for i, amb in enumerate(AMBIENT):
        svc.check_all({"ambient": amb}, id=f"req-{i:03d}")
    yield svc
    svc.close()


@pytest.fixture
def keys(service):
    s = service.store
    return {
        "admin": s.add_key("admin", ["admin"]),
        "viewer": s.add_key("viewer", ["check"]),
        "answerer": s.add_key("answerer", ["check", "answer"]),
        "observer": s.add_key("observer", ["observe"]),
    }


@pytest.fixture
def client(service):
    with TestClient(create_app(service)) as c:
        yield c


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
    assert found, "no CSRF token on the page"
    return found.group(1)


def login(client: TestClient, key: str) -> None:
    form = client.get("/ui/login")
    r = client.post("/ui/login", data={"csrf": csrf_of(form.text), "key": key, "next": "/ui"})
    assert r.status_code == 200 and r.url.path == "/ui", r.text[:500]


def rows(page: str) -> list[str]:
    """The decisions of the timeline's rows, in order."""
    return re.findall(r'<tr class="row-(allow|reject|ask)">', page)


def ids(page: str) -> list[str]:
    """The verdict ids of the timeline's rows, in order."""
    return [html.unescape(i) for i in re.findall(r'<td class="mono id"><a href="[^"]+">([^<]+)</a>', page)]


def ask_ids(service: GuardService) -> list[str]:
    ids = [r.ref for r in service.asks(100)]
    assert ids, "the sweep gave no ASK (the example guard changed?)"
    return ids


# ---------------------------------------------------------------------------- keys and scopes
def test_without_a_key_every_page_sends_the_browser_to_login(client, keys):
    for path in ("/ui", "/ui/asks", "/ui/verdicts/req-000/0"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/ui/login?next=%2Fui")
    r = client.post("/ui/asks/req-000/0/answer", data={"approve": "yes"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/ui/login")
    assert client.get("/", follow_redirects=False).headers["location"] == "/ui"
    page = client.get("/ui/login").text
    assert "posterior version" not in page  # nothing about the guard before a key is shown


def test_login_sets_a_strict_httponly_cookie_and_refuses_bad_keys(client, keys):
    token = csrf_of(client.get("/ui/login").text)
    bad = client.post("/ui/login", data={"csrf": token, "key": "bgk_nope"})
    assert (
        bad.status_code == 401
        and "unknown or was revoked" in bad.text
        and "bayesguard_key" not in bad.cookies
    )
    no_scope = client.post("/ui/login", data={"csrf": token, "key": keys["observer"]})
    assert no_scope.status_code == 403 and "check" in no_scope.text
    r = client.post("/ui/login", data={"csrf": token, "key": keys["viewer"]}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ui"
    cookie = r.headers["set-cookie"].lower()
    assert "bayesguard_key=" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    assert client.get("/ui").status_code == 200
    # the token follows the session; an open redirect is refused: next stays on the page
    assert client.post("/ui/login", data={"csrf": token, "key": keys["viewer"]}).status_code == 403
    token = csrf_of(client.get("/ui/login").text)
    r = client.post(
        "/ui/login",
        data={"csrf": token, "key": keys["viewer"], "next": "//evil.example/"},
        follow_redirects=False,
    )
    assert r.headers["location"] == "/ui"


def test_a_key_without_the_scope_gets_403(client, keys, service):
    client.cookies.set("bayesguard_key", keys["observer"])
    r = client.get("/ui")
    assert r.status_code == 403 and "check" in r.text and "Traceback" not in r.text
    client.cookies.set("bayesguard_key", keys["viewer"])
    assert client.get("/ui").status_code == 200
    aid = ask_ids(service)[0]
    queue = client.get("/ui/asks")
    assert queue.status_code == 200 and "lacks the <code>answer</code> scope" in queue.text
    r = client.post(f"/ui/asks/{aid}/answer", data={"csrf": csrf_of(queue.text), "approve": "yes"})
    assert r.status_code == 403 and service.store.ask_status(aid) == "open"


def test_a_revoked_key_is_sent_back_to_login_and_its_cookie_dropped(client, keys, service):
    login(client, keys["viewer"])
    service.store.revoke_key("viewer")
    client.app.state.ring._cache.clear()
    r = client.get("/ui", follow_redirects=False)
    assert r.status_code == 303 and "/ui/login" in r.headers["location"]
    assert 'bayesguard_key=""' in r.headers["set-cookie"] or "max-age=0" in r.headers["set-cookie"].lower()


def test_logout_clears_the_cookie_and_needs_the_token(client, keys):
    login(client, keys["viewer"])
    assert client.post("/ui/logout", data={}).status_code == 403
    token = csrf_of(client.get("/ui").text)
    r = client.post("/ui/logout", data={"csrf": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/ui/login"
    client.cookies.clear()
    assert client.get("/ui", follow_redirects=False).status_code == 303


# ---------------------------------------------------------------------------- the timeline
def test_timeline_header_and_rows(client, keys, service):
    login(client, keys["viewer"])
    r = client.get("/ui")
    assert r.status_code == 200
    page = r.text
    for fact in ("causal", service.guard.rule.value, service.version, service.bundle_hash[:12]):
        assert fact in page
    assert f"<dt>open ASKs</dt><dd>{len(service.asks(100))}</dd>" in page
    assert '<span class="health ok"' in page
    total = service.store.count(kind="verdict")
    assert total == 2 * len(AMBIENT) and f"{total} matching" in page
    assert len(rows(page)) == 50  # one page of the default size, newest first
    shown = ids(page)
    assert shown == [r.ref for r in service.store.query(kind="verdict", limit=50)]  # newest first
    assert shown[0] == f"req-{len(AMBIENT) - 1:03d}/1" and "req-000/0" not in shown
    assert "Content-Security-Policy" in r.headers and "script-src" not in r.headers["Content-Security-Policy"]


def test_timeline_filters_count_the_matching_rows(client, keys, service):
    login(client, keys["viewer"])
    store = service.store
    for decision in ("ALLOW", "REJECT", "ASK"):
        page = client.get("/ui", params={"decision": decision, "limit": 500}).text
        found = rows(page)
        assert len(found) == store.count(kind="verdict", decision=decision) > 0
        assert set(found) == {decision.lower()}
    by_name = rows(client.get("/ui", params={"action": "open the valve", "limit": 500}).text)
    by_index = rows(client.get("/ui", params={"action": "1", "limit": 500}).text)
    assert by_name == by_index and len(by_name) == len(AMBIENT)
    both = rows(client.get("/ui", params={"decision": "ASK", "action": "0", "limit": 500}).text)
    assert len(both) == store.count(kind="verdict", decision="ASK", action=0)
    future = client.get("/ui", params={"since": "2999-01-01T00:00"}).text
    assert rows(future) == [] and "No verdicts match" in future
    everything = client.get("/ui", params={"until": "2999-01-01T00:00", "limit": 500}).text
    assert len(rows(everything)) == 2 * len(AMBIENT)
    assert rows(client.get("/ui", params={"until": "2000-01-01T00:00:00Z"}).text) == []


def test_timeline_pages_and_bad_filters(client, keys, service):
    login(client, keys["viewer"])
    first = client.get("/ui", params={"limit": 7}).text
    second = client.get("/ui", params={"limit": 7, "offset": 7}).text
    assert len(ids(first)) == 7 and len(ids(second)) == 7 and not set(ids(first)) & set(ids(second))
    assert 'rel="next"' in first and "offset=7" in first
    bad = client.get("/ui", params={"decision": "MAYBE", "action": "fly", "since": "yesterday", "limit": "0"})
    assert bad.status_code == 422
    for field in ("decision:", "action:", "since:", "limit:"):
        assert field in bad.text
    assert "Traceback" not in bad.text


# ---------------------------------------------------------------------------- one verdict
def test_verdict_page_explains_the_verdict(client, keys, service):
    login(client, keys["viewer"])
    rec = next(
        r
        for r in service.store.query(kind="verdict", decision="REJECT", limit=100)
        if r.verdict().witness_theory
    )
    v = rec.verdict()
    page = client.get(f"/ui/verdicts/{rec.ref}").text
    assert html.escape(v.witness_theory) in page and html.escape(v.explanation) in page
    assert f"posterior mass {v.witness_prob:.3g}" in page
    assert (
        'Guaranteed: <span class="yes">yes' if v.guaranteed else 'Guaranteed: <span class="no">no'
    ) in page
    for a in v.assumptions:
        assert html.escape(a) in page
    assert html.escape(v.reason) in page and f"{v.harm_estimate:.4g}" in page and f"{v.threshold:.4g}" in page
    assert rec.hash in page and rec.prev_hash in page and f'<dd class="mono">{rec.seq}</dd>' in page
    assert '"ambient": ' in html.unescape(page)  # the request as received
    missing = client.get("/ui/verdicts/no-such-id")
    assert missing.status_code == 404 and "no verdict" in missing.text and "Traceback" not in missing.text


# ---------------------------------------------------------------------------- answering ASKs
def test_answer_through_the_form_records_it_and_moves_the_posterior(client, keys, service):
    login(client, keys["answerer"])
    asks = ask_ids(service)
    queue = client.get("/ui/asks")
    assert queue.status_code == 200 and f"{len(asks)} open" in queue.text
    assert '"rows": [' in html.unescape(queue.text)  # the data form's example, as a hint
    before = service.version
    r = client.post(
        f"/ui/asks/{asks[0]}/answer",
        data={"csrf": csrf_of(queue.text), "approve": "no", "by": "Ada", "note": "too close", "data": DATA},
    )
    assert r.status_code == 200 and r.url.path == "/ui/asks"
    assert service.version != before and service.version.endswith(":1")
    assert f"Posterior version is now {service.version}" in r.text and "refused" in r.text
    ans = service.store.by_ref(f"{asks[0]}/answer")
    assert ans.kind == "answer" and ans.payload["approve"] is False and ans.payload["by"] == "Ada"
    assert ans.payload["note"] == "too close" and ans.payload["data"]["rows"][0]["valve"] == 0.2
    assert service.store.ask_status(asks[0]) == "answered"
    assert (
        f"{len(asks) - 1} open" in r.text
        and f'href="/ui/verdicts/{asks[0].replace("/", "%2F")}"' not in r.text
    )
    assert "Posterior version is now" not in client.get("/ui/asks").text  # the flash shows once
    shown = client.get(f"/ui/verdicts/{asks[0]}").text
    assert (
        "refused" in shown
        and "Ada" in shown
        and "too close" in shown
        and '"valve": 0.2' in html.unescape(shown)
    )


def test_an_answer_without_data_leaves_the_posterior_and_a_repeat_is_409(client, keys, service):
    login(client, keys["admin"])
    aid = ask_ids(service)[0]
    before = service.version
    token = csrf_of(client.get("/ui/asks").text)
    r = client.post(
        f"/ui/asks/{aid}/answer", data={"csrf": token, "approve": "yes", "next": f"/ui/verdicts/{aid}"}
    )
    assert r.status_code == 200 and r.url.path == f"/ui/verdicts/{aid}" and "approved" in r.text
    assert f"Posterior version stays {before}" in r.text
    assert service.version == before
    again = client.post(f"/ui/asks/{aid}/answer", data={"csrf": token, "approve": "no"})
    assert again.status_code == 409 and "already answered" in again.text
    assert service.store.by_ref(f"{aid}/answer").payload["approve"] is True


def test_answer_errors_rerender_the_form(client, keys, service):
    login(client, keys["answerer"])
    aid = ask_ids(service)[0]
    token = csrf_of(client.get("/ui/asks").text)
    cases = [
        ({"approve": "yes", "data": "{not json"}, "data: not valid JSON"),
        ({"approve": "yes", "data": '{"rows": [{"ambient": 1}]}'}, "data.rows[0]"),
        ({"approve": "yes", "data": '{"rows": [{"ambient": NaN, "valve": 0, "pressure": 0}]}'}, "NaN"),
        ({"data": ""}, "approve:"),
    ]
    for fields, message in cases:
        r = client.post(f"/ui/asks/{aid}/answer", data={"csrf": token, "by": "Bo", **fields})
        assert r.status_code == 422, (fields, r.status_code)
        assert message in html.unescape(r.text) and "Traceback" not in r.text
        assert 'value="Bo"' in r.text  # what was typed is kept
    assert service.store.ask_status(aid) == "open" and service.version.endswith(":0")
    r = client.post("/ui/asks/nope/answer", data={"csrf": token, "approve": "yes"})
    assert r.status_code == 404 and "nope" in r.text


def test_csrf_missing_or_wrong_is_403_and_nothing_is_recorded(client, keys, service):
    login(client, keys["admin"])
    aid = ask_ids(service)[0]
    n = len(service.store)
    for data in ({"approve": "yes"}, {"approve": "yes", "csrf": "0" * 64}):
        r = client.post(f"/ui/asks/{aid}/answer", data=data)
        assert r.status_code == 403 and "csrf" in r.text
    assert len(service.store) == n and service.store.ask_status(aid) == "open"
    # a token is bound to the session: another key's token does not work
    other = TestClient(client.app)
    login(other, keys["answerer"])
    theirs = csrf_of(other.get("/ui/asks").text)
    assert client.post(f"/ui/asks/{aid}/answer", data={"approve": "yes", "csrf": theirs}).status_code == 403


def test_without_keys_the_page_is_open_but_forms_still_need_the_token(bundle, tmp_path):
    with GuardService(bundle, str(tmp_path / "open.db")) as svc:
        svc.check_all({"ambient": 0.0}, id="only")
        with TestClient(create_app(svc, auth=False)) as c:
            page = c.get("/ui")
            assert page.status_code == 200 and len(rows(page.text)) == 2 and "Log out" not in page.text
            assert c.get("/ui/login", follow_redirects=False).status_code == 303
            assert c.post("/ui/asks/only/0/answer", data={"approve": "yes"}).status_code == 403


# ---------------------------------------------------------------------------- escaping
def test_everything_from_requests_and_people_is_escaped(client, keys, service):
    evil = "<script>alert('x')</script>"
    verdict = Verdict(
        decision=Decision.ASK,
        action=0,
        harm_estimate=0.2,
        posterior_harm=0.1,
        threshold=0.1,
        rule="cautious",
        witness_theory="<b>theory</b>",
        explanation="a -> <i>b</i>",
        reason=f"reason {evil}",
        suggestion="<img src=x onerror=alert(1)>",
    )
    payload = verdict_payload(verdict, {"context": {"ambient": evil}, "action": 0})
    service.store.append(
        "verdict", payload, posterior_version=service.version, bundle_hash=service.bundle_hash, ref="<evil>"
    )
    login(client, keys["answerer"])
    pages = [client.get("/ui").text, client.get("/ui/verdicts/<evil>").text, client.get("/ui/asks").text]
    for page in pages:
        assert "<script>" not in page and "<evil>" not in page and "<b>theory</b>" not in page
        assert "<img" not in page
    assert (
        "&lt;script&gt;" in pages[1]
        and "&lt;b&gt;theory&lt;/b&gt;" in pages[1]
        and "&lt;evil&gt;" in pages[0]
    )
    token = csrf_of(pages[2])
    client.post("/ui/asks/<evil>/answer", data={"csrf": token, "approve": "yes", "by": evil, "note": evil})
    shown = client.get("/ui/verdicts/%3Cevil%3E").text
    assert "<script>" not in shown and shown.count("&lt;script&gt;") >= 3
