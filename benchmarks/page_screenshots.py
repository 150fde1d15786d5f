"""Screenshots of the page for people (docs/screenshots/): the verdict timeline, one verdict's explanation,
the ASK queue and the API reference at /docs, taken by Debian's chromium through Playwright (no browser
download).

It builds the causal plant guard (examples/bundles/plant.toml), fills a fresh SQLite audit store with a
few dozen verdicts (some of them ASKs, one answered with an observation), serves the app with uvicorn on
a loopback port, logs in with an API key through the login form and saves four PNGs (the API
reference needs no key).

    python benchmarks/page_screenshots.py [--out docs/screenshots] [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = (
    "--headless=new --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking "
    "--disable-component-update --disable-sync"
).split()
# mostly quiet readings, a few near 2.0 where doing nothing is an ASK, a few high ones (all REJECT)
AMBIENT = tuple(
    float(x)
    for x in "-1.2 -0.4 0.3 0.9 1.4 2.0 -0.8 0.1 2.04 1.1 2.6 0.6 2.02 -1.6 1.8 2.06 0 3.1 "
    "0.45 -0.2 1.25 2.01 0.75 -1.0".split()
)
OBSERVATION = {
    "rows": [
        {"ambient": 0.12, "valve": 0.31, "pressure": 0.18},
        {"ambient": 1.05, "valve": 1.12, "pressure": 0.97},
    ]
}


def build(workdir: Path) -> tuple[object, str]:
    """A service over a fresh store filled with verdicts (one ASK answered with an observation, then a
    few more checks under the new posterior version), and an admin key."""
    from bayesguard.service.bundle import build_bundle
    from bayesguard.service.page_demo import fill_plant
    from bayesguard.service.runtime import GuardService

    bundle = build_bundle(ROOT / "examples" / "bundles" / "plant.toml", workdir / "plant-guard")
    service = GuardService(bundle, str(workdir / "audit.db"))
    fill_plant(service, AMBIENT[:18], prefix="plant")
    asks = service.asks(100)
    if len(asks) < 3:
        raise RuntimeError(f"expected several ASKs from the plant guard, got {len(asks)}")
    service.answer(
        asks[0].ref, approve=False, data=OBSERVATION, by="Ada (operator)", note="pressure gauge ok"
    )
    fill_plant(service, AMBIENT[18:], prefix="plant-b")
    key = service.store.add_key("screenshots", ["admin"])
    return service, key


def shoot(url: str, key: str, out: Path, chromium: str) -> list[Path]:
    """Log in at ``url`` and save timeline.png, verdict.png, asks.png and api.png under ``out``."""
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            ctx = browser.new_context(viewport={"width": 1200, "height": 800}, java_script_enabled=False)
            page = ctx.new_page()
            page.goto(f"{url}/ui")
            page.fill("input[name=key]", key)
            page.click("button[type=submit]")
            page.wait_for_url(f"{url}/ui")
            page.screenshot(path=str(out / "timeline.png"))
            # an answered ASK's explanation: the numbers, witness, causal path, chain position, answer
            page.select_option("select[name=decision]", "ASK")
            page.click("form.filters button[type=submit]")
            page.click("table.verdicts tbody tr:has(.status.answered) td.id a")
            page.wait_for_selector("h2:has-text('The numbers')")
            page.screenshot(path=str(out / "verdict.png"), full_page=True)
            # answer one ASK through the form: the queue comes back with the new posterior version
            page.click("nav a:has-text('ASK queue')")
            card = page.locator("article.ask").first
            card.locator("label.approve input").check()
            card.locator("input[name=by]").fill("Grace (shift lead)")
            card.locator("input[name=note]").fill("valve closed by hand")
            card.locator("button:has-text('Send answer')").click()
            page.wait_for_selector(".flash")
            page.locator("article.ask details").first.click()
            page.screenshot(path=str(out / "asks.png"))
            # the API reference, as someone without a key sees it (a fresh context: no cookie)
            docs = browser.new_context(viewport={"width": 1200, "height": 800}, java_script_enabled=False)
            api = docs.new_page()
            api.goto(f"{url}/docs")
            api.wait_for_selector("h1:has-text('API reference')")
            api.screenshot(path=str(out / "api.png"))
        finally:
            browser.close()
    return [out / "timeline.png", out / "verdict.png", out / "asks.png", out / "api.png"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args(argv)
    if not Path(args.chromium).exists():
        print(f"no chromium at {args.chromium} (Debian: apt install chromium)", file=sys.stderr)
        return 2
    from bayesguard.service.app import create_app
    from bayesguard.service.page_demo import BackgroundServer

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        service, key = build(Path(tmp))
        try:
            with BackgroundServer(create_app(service)) as server:
                saved = shoot(server.url, key, args.out, args.chromium)
        finally:
            service.close()
    for path in saved:
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    print(f"{time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
