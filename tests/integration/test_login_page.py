"""The login page says what it is and whose: Sinergi, its purpose and the province, in
Indonesian, with nothing loaded from outside the app."""
from __future__ import annotations

import re

ASSET = re.compile(r"""<(?:script|link|img)\b[^>]*?\b(?:src|href)\s*=\s*["']([^"']+)""", re.I)


def test_the_login_page_is_branded_and_local(app):
    client = app.test_client()
    client.get("/lang/id")
    html = client.get("/login/").get_data(as_text=True)
    brand = re.sub(r"<[^>]+>", " ", re.search(r'id="login-brand">(.*?)</div>\s*<div class="panel', html, re.S).group(1))
    for text in ("Sinergi", "Sistem Informasi Terpadu Penanggulangan Kemiskinan", "Provinsi Lampung", "TKPK"):
        assert text in brand, brand
    assert 'id="username"' in html and 'id="password"' in html and 'type="submit"' in html
    assert [u for u in ASSET.findall(html) if re.match(r"(?:https?:)?//", u)] == []
    assert "Enter your login and password below" not in html
