"""A walk of every menu page, and one level deeper (the first record of each list), for every
role, in Indonesian, in real Chromium: every page answers without error, loads nothing from
outside the app and logs no console error (the ``page`` fixture fails on each), and its visible
text holds no Python value (None / True / False) and no ISO date (2026-12-05) — dates read
"5 Desember 2026". A screenshot of every page is kept in test-artifacts/walk/.
"""
from __future__ import annotations

import re

import pytest

from tests.browser.conftest import login

ROLES = ["admin", "bappeda", "op1807", "pimpinan", "opd_dinsos"]
PYTHON_VALUE = re.compile(r"\b(?:None|True|False)\b")
ISO_DATE = re.compile(r"\b(?:19|20)\d\d-[01]\d-[0-3]\d\b")
BARE_COUNT = re.compile(r"Jumlah data:\s*\d{4,}")  # 2663 instead of 2.663
SKIP = re.compile(r"/(?:logout|lang)/|/export|/xlsx|/csv|/download|/geopackage|\.gpkg|\.geojson|/swagger|/ogc/|"
                  r"/api/|/gis/|/static/|^#|^javascript:|^mailto:")
# FAB's own security screens keep their stock columns; the permission lists are FAB's data.
NOT_OURS = re.compile(r"/(?:permissions|viewmenus|permissionviews|roles)/")

MENU_LINKS = """() => [...document.querySelectorAll('.navbar a[href]')]
    .map(a => a.getAttribute('href')).filter(h => h && h.startsWith('/'))"""
FIRST_RECORD = """() => { const a = document.querySelector('table a[href*="/show/"]');
    return a ? a.getAttribute('href') : null; }"""


def visible_text(page) -> str:
    # innerText is what a person sees: hidden inputs, scripts and collapsed menus are not in it.
    return page.evaluate("() => document.body.innerText")


def readable_problems(page, path: str) -> list[str]:
    text = visible_text(page)
    problems = [f"{path}: Python value {m.group(0)!r} in “…{text[max(m.start() - 40, 0):m.end() + 20]}…”"
                for m in PYTHON_VALUE.finditer(text)]
    problems += [f"{path}: ISO date {m.group(0)} in “…{text[max(m.start() - 40, 0):m.end() + 20]}…”"
                 for m in ISO_DATE.finditer(text)]
    problems += [f"{path}: count without thousands mark: {m.group(0)}" for m in BARE_COUNT.finditer(text)]
    return problems


@pytest.mark.parametrize("username", ROLES)
def test_every_page_of_the_role_reads_in_indonesian(page, artifacts, username):
    shots = artifacts / "walk"
    shots.mkdir(exist_ok=True)
    login(page, username)
    page.goto("/lang/id")
    page.goto("/")
    # the top bar keeps to one row at 1280 px (a wrapped bar pushes every page down)
    assert page.evaluate("() => document.querySelector('.navbar').offsetHeight") < 70
    menu = sorted({h for h in page.evaluate(MENU_LINKS) if not SKIP.search(h) and not NOT_OURS.search(h)})
    assert len(menu) >= 5, menu
    seen, problems, n = set(), [], 0
    for path in menu:
        for target in (path, "deeper"):
            if target == "deeper":
                target = page.evaluate(FIRST_RECORD)
                if not target or target in seen or SKIP.search(target):
                    break
            seen.add(target)
            response = page.goto(target)
            page.wait_for_load_state("networkidle")
            assert response is not None and response.status < 300, (target, response and response.status)
            problems += readable_problems(page, target)
            n += 1
            page.screenshot(path=str(shots / f"{username}_{n:02d}.png"), full_page=True)
    assert problems == [], "\n".join(problems)
