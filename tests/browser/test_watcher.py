"""The page watcher of conftest.py: a request the browser cancels because the page navigates
away is not a fault; any other failed request is."""

HELD = "**/static/appbuilder/js/ab.js"


def test_an_abort_of_a_held_script_when_the_page_is_left_is_forgiven(page):
    page.route(HELD, lambda route: None)  # ab.js never arrives while the login page is shown
    page.goto("/login/", wait_until="commit")
    page.wait_for_timeout(300)
    page.goto("/pengaduan/", wait_until="commit")
    page.unroute(HELD)  # the next page gets its ab.js
    page.wait_for_load_state("load")
    assert any("ab.js" in msg for _, msg in page.aborted)  # it was aborted ...
    assert page.unforgiven_aborts() == []  # ... and forgiven


def test_an_abort_without_navigation_is_a_problem(page):
    page.goto("/pengaduan/")
    page.route("**/sinergi-missing.js", lambda route: route.abort("aborted"))
    page.evaluate("() => { const s = document.createElement('script'); s.src = '/sinergi-missing.js';"
                  " document.head.appendChild(s); }")
    page.wait_for_timeout(500)
    unforgiven = page.unforgiven_aborts()
    assert len(unforgiven) == 1 and "sinergi-missing.js" in unforgiven[0] and "ERR_ABORTED" in unforgiven[0]
    page.aborted.clear()  # seen and expected: not a failure of this test
