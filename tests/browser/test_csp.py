"""Under the Content-Security-Policy the dashboard (Chart.js + Leaflet), the village map and the
household map (folium pages in an iframe, VectorGrid, markercluster) still draw, in real
Chromium, and the browser reports no CSP violation. Chromium logs a violation to its console,
but Playwright's console event only carries console.* calls, so the page fixture
(tests/browser/conftest.py) has each frame of every browser test listen for
``securitypolicyviolation`` and report it with console.error, which fails the test."""
from __future__ import annotations

from tests.browser.conftest import login
from tests.browser.test_maps import FRAME, TIMEOUT, open_map


def _policy(page, path):
    response = page.request.get(path)
    csp = response.headers.get("content-security-policy", "")
    assert "frame-ancestors 'self'" in csp and "'unsafe-eval'" not in csp, csp
    return csp


def test_dashboard_and_maps_draw_under_the_csp(page, artifacts):
    login(page, "bappeda")
    _policy(page, "/")
    page.goto("/")
    page.wait_for_load_state("networkidle")
    # Chart.js drew into the canvas (a blank canvas has no chart instance).
    page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('dashboard-chart'))",
                           timeout=TIMEOUT)
    page.screenshot(path=str(artifacts / "csp-dashboard.png"), full_page=True)

    _policy(page, "/maps/villages/frame")
    frame = open_map(page, "/maps/villages/", "villages")
    assert frame.locator(".leaflet-sinergi-villages-pane path").count() > 0
    page.screenshot(path=str(artifacts / "csp-village-map.png"), full_page=True)

    frame = open_map(page, "/maps/households/", "households")
    drawn = frame.locator(".leaflet-marker-icon, .leaflet-overlay-pane path, .leaflet-overlay-pane canvas, "
                          ".leaflet-tile-container canvas, .leaflet-tile-container svg")
    drawn.first.wait_for(timeout=TIMEOUT)
    assert drawn.count() > 0
    assert page.locator(FRAME).count() == 1
    page.screenshot(path=str(artifacts / "csp-household-map.png"), full_page=True)
    assert page.problems == [], page.problems


def test_a_violation_fails_the_browser_test(page):
    """The page fixture's watcher sees what the CSP blocks (else the test above could not fail)."""
    login(page, "bappeda")
    page.goto("/")
    page.evaluate("""() => { const s = document.createElement('script');
                             s.src = 'http://cdn.example.invalid/x.js'; document.head.appendChild(s); }""")
    page.wait_for_function("() => true")
    page.wait_for_timeout(500)
    seen = [p for p in page.problems if "CSP violation" in p and "script-src" in p]
    assert seen, page.problems
    page.problems.clear()  # the violation was provoked on purpose
