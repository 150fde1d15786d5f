"""The page for people in a real headless browser: Debian's chromium driven by Playwright (the system
browser; nothing is downloaded), against the app served by uvicorn on a loopback port, with page
JavaScript switched off (the page needs none).

Skipped when /usr/bin/chromium or Playwright is missing, unless BAYESGUARD_REQUIRE_BROWSER=1 (CI), where
that is a failure."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = Path(os.environ.get("BAYESGUARD_CHROMIUM", "/usr/bin/chromium"))
REQUIRED = os.environ.get("BAYESGUARD_REQUIRE_BROWSER") == "1"
ARGS = (
    "--headless=new --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking "
    "--disable-component-update --disable-sync"
).split()
PLANT = Path(__file__).resolve().parents[1] / "examples" / "bundles" / "plant.toml"
AMBIENT = [float(x) for x in np.round(np.r_[np.linspace(-1.5, 3.0, 8), np.arange(1.96, 2.12, 0.02)], 3)]
DATA = '{"rows": [{"ambient": 0.2, "valve": 0.1, "pressure": 0.3}]}'


def _unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"BAYESGUARD_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason, allow_module_level=True)


if not CHROMIUM.exists():
    _unavailable(f"no chromium at {CHROMIUM} (Debian: apt install chromium)")
try:
    from playwright.sync_api import Browser, sync_playwright
except ImportError:
    _unavailable("the Python package playwright is not installed")

from bayesguard.service.app import create_app  # noqa: E402
from bayesguard.service.bundle import build_bundle  # noqa: E402
from bayesguard.service.page_demo import BackgroundServer, fill_plant  # noqa: E402
from bayesguard.service.runtime import GuardService  # noqa: E402


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """``(url, service, key)``: the plant guard with a few dozen verdicts, served on a free port."""
    if not PLANT.exists():
        pytest.skip(f"the causal example {PLANT} is missing")
    tmp = tmp_path_factory.mktemp("browser")
    service = GuardService(build_bundle(PLANT, tmp / "bundle"), str(tmp / "audit.db"))
    fill_plant(service, AMBIENT)
    key = service.store.add_key("person", ["check", "answer"])
    try:
        with BackgroundServer(create_app(service)) as server:
            yield server.url, service, key
    finally:
        service.close()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, timeout=20_000)
        try:
            yield b
        finally:
            b.close()


def test_a_person_logs_in_filters_explains_and_answers(served, browser: Browser):
    url, service, key = served
    store = service.store
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1200, "height": 800})
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        # no key yet: the page sends the browser to the login form
        page.goto(f"{url}/ui")
        assert page.url.startswith(f"{url}/ui/login")
        page.fill("input[name=key]", "bgk_wrong")
        page.click("button:has-text('Log in')")
        assert "unknown or was revoked" in page.inner_text("[role=alert]")
        page.fill("input[name=key]", key)
        page.click("button:has-text('Log in')")
        page.wait_for_url(f"{url}/ui")
        cookie = next(c for c in context.cookies() if c["name"] == "bayesguard_key")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"

        # the timeline: newest first, a header naming the guard
        total = store.count(kind="verdict")
        assert page.locator("table.verdicts tbody tr").count() == min(50, total)
        assert service.version in page.inner_text("dl.guard")

        # filter by ASK through the GET form
        page.select_option("select[name=decision]", "ASK")
        page.click("form.filters button[type=submit]")
        page.wait_for_url(re.compile(r".*decision=ASK.*"))
        badges = page.locator("table.verdicts tbody .badge").all_inner_texts()
        assert set(badges) == {"ASK"} and len(badges) == store.count(kind="verdict", decision="ASK") > 0

        # open one verdict: its explanation
        first_id = page.locator("table.verdicts tbody td.id a").first.inner_text()
        page.locator("table.verdicts tbody td.id a").first.click()
        page.wait_for_selector("h2:has-text('The numbers')")
        rec, _ = service.verdict(first_id)
        v = rec.verdict()
        assert first_id in page.inner_text("h1")
        assert v.witness_theory in page.inner_text("pre.theory")
        assert v.explanation in page.inner_text("pre.path")
        assert ("yes" if v.guaranteed else "no") in page.inner_text(".guarantee h2")
        assert rec.hash in page.inner_text("dl.chain")

        # answer the oldest open ASK through the queue's form, with an observation
        page.click("nav a:has-text('ASK queue')")
        page.wait_for_url(f"{url}/ui/asks")
        n_before, version_before = page.locator("article.ask").count(), service.version
        assert n_before == len(service.asks(100)) > 0
        oldest = service.asks(1)[0].ref
        card = page.locator("article.ask").first
        assert oldest in card.inner_text()
        card.locator("label.refuse input").check()
        card.locator("input[name=by]").fill("Grace")
        card.locator("input[name=note]").fill("gauge looks fine")
        card.locator("details summary").click()
        card.locator("textarea[name=data]").fill(DATA)
        card.locator("button:has-text('Send answer')").click()
        page.wait_for_selector(".flash")
        assert page.url == f"{url}/ui/asks"
        assert service.version != version_before
        assert f"Posterior version is now {service.version}" in page.inner_text(".flash")
        assert page.locator("article.ask").count() == n_before - 1
        assert service.version in page.inner_text("dl.guard")
        answer = store.by_ref(f"{oldest}/answer")
        assert answer.payload["approve"] is False and answer.payload["by"] == "Grace"
        assert answer.payload["data"] == {"rows": [{"ambient": 0.2, "valve": 0.1, "pressure": 0.3}]}
    finally:
        context.close()
