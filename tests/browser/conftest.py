"""Real Chromium (Debian's /usr/bin/chromium) driven by Playwright. Every page a test opens
is watched: a failed request or a console error fails the test."""
import os
import shutil

import pytest

CHROMIUM = os.environ.get("SINERGI_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium not found at {CHROMIUM}: run the README's test command (it installs Debian's chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


REPORT_CSP_VIOLATIONS = """
document.addEventListener('securitypolicyviolation', e =>
  console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || 'inline'} in ${e.documentURI}`));
"""


@pytest.fixture()
def page(browser, live_server):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=live_server)
    # Every frame (map iframes too) reports CSP violations as console errors: Chromium logs a
    # violation to its console, but Playwright's console event carries only console.* calls.
    context.add_init_script(REPORT_CSP_VIOLATIONS)
    pg = context.new_page()
    problems = []
    pg.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    pg.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    # A navigation cancels what the page it leaves was still loading (net::ERR_ABORTED): that is
    # the browser's doing, not a fault. Chromium reports such an abort *before* the next page
    # commits, so the verdict waits for the end of the test: an aborted request is forgiven only
    # if the main frame committed a new page after the request was issued.
    commits = {"count": 0}
    aborted = []

    def on_navigated(frame):
        if frame == pg.main_frame:
            commits["count"] += 1

    def on_request(r):
        r.sinergi_commits = commits["count"]

    def on_failed(r):
        if r.failure == "net::ERR_ABORTED" and not r.is_navigation_request():
            aborted.append((r, f"request failed: {r.url} {r.failure}"))
        else:
            problems.append(f"request failed: {r.url} {r.failure}")

    def unforgiven_aborts():
        return [msg for r, msg in aborted if getattr(r, "sinergi_commits", commits["count"]) == commits["count"]]

    pg.on("framenavigated", on_navigated)
    pg.on("request", on_request)
    pg.on("requestfailed", on_failed)
    pg.unforgiven_aborts = unforgiven_aborts
    pg.aborted = aborted
    pg.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
    # No CDN: every request the page makes goes to the app itself.
    pg.on("request", lambda r: None if r.url.startswith((live_server, "data:", "blob:"))
          else problems.append(f"request outside the app: {r.url}"))
    pg.problems = problems
    yield pg
    problems.extend(unforgiven_aborts())
    context.close()
    assert problems == [], problems


def login(page, username, password="sinergi-demo"):
    page.goto("/login/")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "/login" not in page.url, f"login as {username} failed"
