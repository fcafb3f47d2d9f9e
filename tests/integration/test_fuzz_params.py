"""Bad input never makes a 500: every GET route the app registered (screens, lists, shows,
exports, REST list/get/_info/export, OGC, tiles, GeoJSON, analysis, LP2KD), every PUT of
the REST resources and every add form gets probes of each class below, as each demo role;
every answer must be < 500, and a 400/404 must say what happened in Indonesian.

Endpoints come from ``app.url_map`` and ``appbuilder.baseviews``, so a new endpoint is
fuzzed without editing this file. Each probe class reaches every endpoint; the role of each
probe rotates over the demo users so that every role meets every probe class (a full
cross product would take many minutes). Run with ``-s`` for the counts.
"""
from __future__ import annotations

import collections
import itertools
import random
import re
from urllib.parse import quote

import pytest
from flask_appbuilder.api import ModelRestApi
from flask_appbuilder.baseviews import BaseModelView

from tests.conftest import DEMO_PASSWORD

ROLES = ["admin", "bappeda", "pimpinan", "op1807", "opd_dinsos"]
HUGE = "99999999999999999999"  # beyond bigint
INDONESIAN = re.compile(r"\b(tidak|harus|bukan|ditemukan|permintaan|nilai|parameter|halaman|kolom|akses|"
                        r"hanya|wilayah|berisi|antara|masuk|data|silakan|dikenal|diizinkan|boleh|diharapkan|paling|objek)\b", re.I)
# The parameters the app's own pages and APIs read (analysis, reports, GIS, exports).
PARAMS = ["desil", "year", "area", "regency", "regency_id", "district", "village", "k", "page", "page_size",
          "format", "sep", "q", "bbox", "limit", "offset", "zone", "program", "status", "datetime", "kind"]
BAD_VALUES = {
    "nul": "a\x00b",
    "uncastable": "1 OR 1=1",
    "out_of_range": HUGE,
    "negative": "-99999999999",
}
# Routes that change state or end the session on GET: not fuzzed.
SKIP_ENDPOINT = re.compile(r"(logout|delete|action|static|approve|reject|cancel|run_job)", re.I)


def _login(client, username):
    client.get("/logout/")
    r = client.post("/login/", data={"username": username, "password": DEMO_PASSWORD})
    assert r.status_code == 302 and "/login" not in r.headers.get("Location", ""), f"login {username} failed"


def _path_value(name: str, converter: str) -> str:
    return {"cid": "villages", "layer": "households", "z": "10", "x": "811", "y": "526",
            "filename": "x.csv", "lang": "id", "locale": "id"}.get(name, "1")


class Fuzz:
    def __init__(self, app):
        self.app = app
        self.clients = {}
        self.counts = collections.Counter()
        self.failures = []
        self.role_cycle = itertools.cycle(ROLES)
        self.roles_per_class = collections.defaultdict(set)

    def client(self, role):
        if role not in self.clients:
            client = self.app.test_client()
            _login(client, role)
            self.clients[role] = client
        return self.clients[role]

    def send(self, probe_class, method, url, **kwargs):
        role = next(self.role_cycle)
        self.roles_per_class[probe_class].add(role)
        r = self.client(role).open(url, method=method, **kwargs)
        self.counts["probes"] += 1
        if self.counts["probes"] % 500 == 0:
            print(f"fuzz: {self.counts['probes']} probes, {self.counts['5xx']} 5xx", flush=True)
        self.counts[f"class:{probe_class}"] += 1
        if r.status_code >= 500:
            self.counts["5xx"] += 1
            self.failures.append((probe_class, role, method, url, r.status_code, r.get_data()[:200]))
        elif r.status_code in (400, 404) and not self._indonesian(url, r):
            self.counts["not_indonesian"] += 1
            self.failures.append((probe_class, role, method, url, r.status_code, r.get_data()[:200]))
        r.close()
        return r

    @staticmethod
    def _indonesian(url, r) -> bool:
        if r.is_json:
            body = r.get_json(silent=True) or {}
            # OGC API answers carry the OGC exception form {"code", "description"}
            message = body.get("message") or body.get("description")
            text = message if isinstance(message, str) else str(message or "")
            return bool(INDONESIAN.search(text))
        return bool(INDONESIAN.search(r.get_data(as_text=True)))


def _routes(app):
    """(rule, url with sample path values, names of int-like path args) for every GET route."""
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or SKIP_ENDPOINT.search(rule.endpoint) or rule.endpoint.endswith("static"):
            continue
        values = {arg: _path_value(arg, type(rule._converters[arg]).__name__) for arg in rule.arguments}
        yield rule, values


def _build(rule, values):
    url = rule.rule
    for arg, value in values.items():
        url = re.sub(r"<(?:[^:<>]+:)?" + re.escape(arg) + ">", quote(value, safe=""), url)
    return url


def _view_of(app, endpoint):
    name = endpoint.split(".")[0]
    for view in app.appbuilder.baseviews:
        if view.endpoint == name:
            return view
    return None


def _search_filters(view, rng, limit=4):
    """A sample of (column, filter index, filter) the view offers for searching."""
    filters = getattr(view, "_filters", None)
    if filters is None:
        return []
    pairs = [(col, i, flt) for col, flts in filters.get_search_filters().items() for i, flt in enumerate(flts)]
    rng.shuffle(pairs)
    return pairs[:limit]


@pytest.fixture(scope="module")
def fuzz(app):
    # TESTING propagates exceptions to the test; here they must become the 500 a user would get.
    saved = app.config.get("PROPAGATE_EXCEPTIONS")
    app.config["PROPAGATE_EXCEPTIONS"] = False
    yield Fuzz(app)
    app.config["PROPAGATE_EXCEPTIONS"] = saved


def test_no_probe_gets_a_server_error(app, fuzz):
    rng = random.Random(13)
    kinds = collections.Counter()
    for rule, values in _routes(app):
        view = _view_of(app, rule.endpoint)
        url = _build(rule, values)
        kinds[rule.endpoint.split(".")[-1]] += 1
        sep = "&" if "?" in url else "?"
        # 1-4: every known parameter at once with a bad value of each class, then each one alone
        # (a view stops at its first bad parameter, so alone they reach the later ones too).
        for cls, bad in BAD_VALUES.items():
            fuzz.send(cls, "GET", url + sep + "&".join(f"{p}={quote(bad)}" for p in PARAMS))
            fuzz.send(cls, "GET", f"{url}{sep}{rng.choice(PARAMS)}={quote(bad)}")
        fuzz.send("nul_key", "GET", f"{url}{sep}a%00=1")
        # 5: malformed rison
        fuzz.send("rison_malformed", "GET", f"{url}{sep}q=((((((")
        # 6: path parameters beyond bigint, or not numbers, or with NUL
        for arg in values:
            if arg in ("cid", "layer", "z", "x", "y"):
                continue
            for cls, bad in (("path_huge", HUGE), ("path_text", "abc"), ("path_nul", "1\x00")):
                fuzz.send(cls, "GET", _build(rule, {**values, arg: bad}))
        for arg in ("z", "x", "y"):
            if arg in values:
                fuzz.send("path_huge", "GET", _build(rule, {**values, arg: HUGE}))
        if view is None or rule.arguments:
            continue
        # 7: FAB's list-screen parameters, on every route of a model view (list, export, ...)
        if isinstance(view, BaseModelView) and not isinstance(view, ModelRestApi):
            name = view.__class__.__name__
            for cls, query in (("page_text", f"page_{name}=abc"), ("page_huge", f"page_{name}={HUGE}"),
                               ("psize_text", f"psize_{name}=x"), ("psize_negative", f"psize_{name}=-5"),
                               ("order_unknown", f"_oc_{name}=nope&_od_{name}=asc"),
                               ("order_direction", f"_oc_{name}=id&_od_{name}=sideways")):
                fuzz.send(cls, "GET", f"{url}{sep}{query}")
            # 8: screen filters with values that cannot be cast, out of range, or NUL
            for col, i, _flt in _search_filters(view, rng):
                for cls, bad in (("flt_uncastable", "1 OR 1=1"), ("flt_huge", HUGE), ("flt_nul", "a\x00")):
                    fuzz.send(cls, "GET", f"{url}{sep}_flt_{i}_{col}={quote(bad)}")
        # 9: REST list/export: rison filters that cannot be cast, paging and order nonsense
        if isinstance(view, ModelRestApi):
            for col, _i, flt in _search_filters(view, rng):
                for cls, bad in (("rison_uncastable", "'1 OR 1=1'"), ("rison_huge", HUGE),
                                 ("rison_date", "'2020-13-45'")):
                    q = f"(filters:!((col:{col},opr:{flt.arg_name},value:{bad})))"
                    fuzz.send(cls, "GET", f"{url}{sep}q={quote(q)}")
            for cls, q in (("rison_page", "(page:-1,page_size:-1)"), ("rison_page", f"(page:{HUGE},page_size:{HUGE})"),
                           ("rison_page", "(page:abc)"), ("rison_order", "(order_column:nope,order_direction:asc)"),
                           ("rison_order", "(order_column:id,order_direction:sideways)"),
                           ("rison_columns", "(columns:!(nope))"), ("rison_keys", "(keys:!(nope))")):
                fuzz.send(cls, "GET", f"{url}{sep}q={quote(q)}")
    _put_probes(app, fuzz)
    _form_probes(app, fuzz)
    print(f"\nfuzz: {fuzz.counts['probes']} probes over {sum(kinds.values())} GET routes, "
          f"{fuzz.counts['5xx']} answered 5xx, {fuzz.counts['not_indonesian']} 400/404 without an Indonesian message")
    print("fuzz: probes per class:", {k[6:]: v for k, v in sorted(fuzz.counts.items()) if k.startswith("class:")})
    with open("test-artifacts/fuzz_failures.txt", "w") as out:  # every failure, for the report
        for failure in fuzz.failures:
            out.write(repr(failure) + "\n")
    for failure in fuzz.failures[:40]:
        print("fuzz FAIL:", failure)
    assert all(len(roles) == len(ROLES) or fuzz.counts[f"class:{cls}"] < len(ROLES)
               for cls, roles in fuzz.roles_per_class.items())
    assert not fuzz.failures, f"{len(fuzz.failures)} bad answers, first: {fuzz.failures[:5]}"


def _put_probes(app, fuzz):
    """PUT every REST resource's first visible row with numbers beyond int4/bigint and NUL text."""
    from sqlalchemy import Integer, String, Text

    admin = fuzz.client("admin")
    for api in app.appbuilder.baseviews:
        if not isinstance(api, ModelRestApi) or not getattr(api, "edit_columns", None):
            continue
        base = f"/api/v1/{api.resource_name}"
        listing = admin.get(f"{base}/?q=(page_size:1,columns:!(id))")
        ids = listing.get_json(silent=True) or {}
        pk = (ids.get("ids") or [1])[0]
        table = api.datamodel.obj.__table__
        for col in api.edit_columns:
            column = table.columns.get(col)
            if column is None:
                column = table.columns.get(f"{col}_id")
            if column is None:
                continue
            if isinstance(column.type, Integer):
                for cls, value in (("put_int4", 999999999999), ("put_bigint", 2**70), ("put_2_40", 2**40)):
                    fuzz.send(cls, "PUT", f"{base}/{pk}", json={col: value})
            elif isinstance(column.type, (String, Text)):
                fuzz.send("put_nul", "PUT", f"{base}/{pk}", json={col: "a\x00b"})
        fuzz.send("put_huge_pk", "PUT", f"{base}/{HUGE}", json={})
        fuzz.send("get_huge_pk", "GET", f"{base}/{HUGE}")


def _form_probes(app, fuzz):
    """A NUL byte in every add form (CSRF is off in the test app: the check must come first)."""
    for view in app.appbuilder.baseviews:
        if isinstance(view, BaseModelView) and not isinstance(view, ModelRestApi) and getattr(view, "add_columns", None):
            data = {col: "a\x00b" for col in view.add_columns}
            fuzz.send("form_nul", "POST", f"{view.route_base}/add", data=data)
