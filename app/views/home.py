"""The home page: the dashboard of the user's scope at a glance.

Anonymous visitors see the area counts and the login prompt, nothing about households.
A signed-in user with a scope sees, for one year (``?year=``, default: the analysis
screens' year): households by desil and how many were reached, coverage, households with
2+ programs, gaps, open complaints and open update requests, the poverty rate against the
RPJMD target over time (Chart.js, vendored) and a small village map (Leaflet, vendored;
villages from ``/gis/geojson/villages``, coloured by coverage). Every household figure is
``gis/queries.py`` asked with ``current_scope()``: ``regency_overlap`` (households,
reached, 2+ programs), ``gaps_by_village`` (gaps) and the per-household program counts of
``_program_counts`` (by desil).
"""
from __future__ import annotations

from typing import Optional

from flask import current_app, request, send_from_directory, url_for
from flask_appbuilder import IndexView, expose
from flask_babel import gettext
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from app.extensions import db
from app.query_guard import guarded_connection
from app.models.areas import District, Province, Regency, Village
from app.models.tkpk import Agency
from app.models.workflow import Complaint, UpdateRequest
from app.security.scope import Scope, current_scope, in_scope
from app.services import complaints, lp2kd, update_requests
from app.views.household_filters import household_list_url
from gis import queries

MAP_ZOOM = 8  # the village layer's simplification: one pixel at zoom 8 (~600 m)


def _count(conn: Connection, model, scope: Scope, *where) -> int:
    return conn.execute(select(func.count()).select_from(model)
                        .where(in_scope(model, scope), *where)).scalar_one()


def dashboard(conn: Connection, scope: Scope, year: int) -> dict:
    """The dashboard figures of the scope for the year (see the module docstring)."""
    *desil, total = lp2kd.desil_coverage(conn, scope, None, year)
    gaps = sum(r["gap_households"] for r in queries.gaps_by_village(conn, year, scope, max_desil=1))
    return dict(
        year=year, households=total["households"], reached=total["reached"], multi_program=total["multi_program"],
        gap_households=gaps, coverage=total["coverage"], desil=desil,
        open_complaints=_count(conn, Complaint, scope, Complaint.state.in_(complaints.OPEN_STATES)),
        open_requests=_count(conn, UpdateRequest, scope, UpdateRequest.state.in_(update_requests.OPEN_STATES)),
    )


def household_links(year: int) -> dict:
    """The household list of exactly the households each dashboard count counts (``dashboard``):
    desil 1-4 (lp2kd.desil_coverage), reached = 1+ counted program in the year, 2+ programs,
    gaps = desil 1 in a priority zone of the year with no program (gaps_by_village, max_desil 1),
    and per desil its households and those reached. The list's scope is the user's, as here."""
    top = lp2kd.COVERAGE_DESILS[-1]
    return dict(
        households=household_list_url(desil_to=top),
        reached=household_list_url(desil_to=top, year=year, programs_min=1),
        multi_program=household_list_url(desil_to=top, year=year, programs_min=2),
        gap_households=household_list_url(desil_to=1, year=year, programs=0, in_zone=True),
        desil={d: dict(households=household_list_url(desil_from=d, desil_to=d),
                       reached=household_list_url(desil_from=d, desil_to=d, year=year, programs_min=1))
               for d in lp2kd.COVERAGE_DESILS},
    )


def poverty_chart(conn: Connection, scope: Scope) -> dict:
    """Chart data: labels ('2016 Mar') and the poverty rate and RPJMD target of the province and,
    for a regency scope, of the regency (None where a period has no row)."""
    series = [(gettext("Province"), lp2kd.indicator_series(conn, scope, None))]
    if scope.kind == "regency":
        name = conn.execute(select(Regency.name).where(Regency.id == scope.regency_id)).scalar()
        series.insert(0, (name, lp2kd.indicator_series(conn, scope, scope.regency_id)))
    rank = {"maret": 0, "september": 1, "tahunan": 2}
    short = {"maret": gettext("Mar"), "september": gettext("Sep"), "tahunan": gettext("year")}
    keys = sorted({(r["year"], r["period"]) for _, rows in series for r in rows},
                  key=lambda k: (k[0], rank.get(k[1], 9)))
    datasets = []
    for name, rows in series:
        by_key = {(r["year"], r["period"]): r for r in rows}

        def values(field):
            return [float(by_key[k][field]) if k in by_key and by_key[k][field] is not None else None for k in keys]

        if rows:
            datasets.append(dict(label=gettext("%(area)s: poverty rate (%%)", area=name), data=values("poverty_rate"),
                                 kind="rate"))
            datasets.append(dict(label=gettext("%(area)s: RPJMD target (%%)", area=name), data=values("target_rate"),
                                 kind="target"))
    return dict(labels=[f"{y} {short.get(p, p)}" for y, p in keys], datasets=datasets)


def area_title(conn: Connection, scope: Scope) -> str:
    if scope.kind == "regency":
        return conn.execute(select(Regency.name).where(Regency.id == scope.regency_id)).scalar() or ""
    province = conn.execute(select(Province.name).order_by(Province.code).limit(1)).scalar() or ""
    if scope.kind == "agency":
        agency = conn.execute(select(Agency.name).where(Agency.id == scope.agency_id)).scalar() or ""
        return gettext("%(province)s — programs of %(agency)s", province=province, agency=agency)
    return province


class SinergiIndexView(IndexView):
    index_template = "home.html"

    @expose("/")
    def index(self):
        counts = {
            label: db.session.execute(select(func.count()).select_from(model)).scalar_one()
            for label, model in (("province", Province), ("regency", Regency), ("district", District),
                                 ("village", Village))
        }
        province = db.session.execute(select(Province.name).order_by(Province.code).limit(1)).scalar()
        synthetic = bool(province and "sintetis" in province.lower())
        context = dict(counts=counts, province=province, synthetic=synthetic, env=current_app.config["SINERGI_ENV"],
                       board=None)
        scope = current_scope()
        if scope.kind != "none":
            context.update(self._dashboard(scope))
        return self.render_template(self.index_template, **context)

    def _dashboard(self, scope: Scope) -> dict:
        conn = guarded_connection()
        year = _year_arg() or lp2kd.default_year(conn, scope)
        years = sorted(set(queries.analysis_years(conn, scope)) | {year}, reverse=True)
        board = dashboard(conn, scope, year)
        sm = self.appbuilder.sm

        def link(permission, view, endpoint, **args) -> Optional[str]:
            if not sm.has_access(permission, view):
                return None
            return url_for(endpoint, **args)

        regency_code = None
        if scope.kind == "regency":
            regency_code = conn.execute(select(Regency.code).where(Regency.id == scope.regency_id)).scalar()
        map_url = link("can_villages", "GeoFeaturesView", "GeoFeaturesView.villages", zoom=MAP_ZOOM, year=year,
                       **({"regency": regency_code} if regency_code else {}))
        links = dict(
            overlap=link("can_read", "AnalysisView", "AnalysisView.overlap", year=year),
            gaps=link("can_read", "AnalysisView", "AnalysisView.gaps", year=year),
            complaints=link("can_list", "ComplaintView", "ComplaintView.list"),
            requests=link("can_list", "UpdateRequestView", "UpdateRequestView.list"),
            lp2kd=link("can_read", "Lp2kdView", "Lp2kdView.report", year=year),
            village_map=link("can_villages", "MapView", "MapView.villages", year=year),
        )
        client = dict(chart=poverty_chart(conn, scope), map_url=map_url,
                      basemap=current_app.config.get("SINERGI_BASEMAP_URL") or "",
                      attribution=current_app.config.get("SINERGI_BASEMAP_ATTRIBUTION") or "",
                      labels=dict(households=gettext("Households"), reached=gettext("Reached (1+ program)"),
                                  coverage=gettext("Coverage"), gaps=gettext("Gap households"),
                                  none=gettext("No households"), rate=gettext("Poverty rate (%)"),
                                  legend=gettext("Coverage of households (%)")))
        # Each household count opens the household list of exactly those households.
        count_links = household_links(year) if sm.has_access("can_list", "HouseholdView") else None
        return dict(board=board, years=years, area=area_title(conn, scope), links=links, client=client,
                    scope=scope, count_links=count_links)

    @expose("/favicon.ico")
    def favicon(self):
        return send_from_directory(current_app.static_folder, "favicon.svg", mimetype="image/svg+xml",
                                   max_age=86400)


def _year_arg() -> Optional[int]:
    raw = (request.args.get("year") or "").strip()
    if raw.isdigit() and 2000 <= int(raw) <= 2100:
        return int(raw)
    return None
