"""Analysis screens: program overlap, gaps, priority-zone membership and the location check.

Every figure comes from gis/queries.py, asked with ``current_scope()``; the filters and the
named answers with their columns live in app/analysis_answers.py, and this module renders
them. The same answers serve three surfaces, so they cannot drift apart:

- the screens here (``AnalysisView``: /analysis/overlap/, /analysis/gaps/, /analysis/zones/;
  ``LocationCheckView``: /locationcheck/list/),
- the JSON API (app/api/analysis.py, /api/v1/analysis/...),
- the CSV / XLSX downloads (app/exports.py), from a button under each table and from the
  API with ``?format=csv|xlsx``.

``ANSWERS`` (app/analysis_answers.py) maps an answer name (``overlap-villages`` ...) to its
title, columns and rows.
"""
from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, replace
from typing import Optional
from urllib.parse import urlencode

from flask import abort, flash, jsonify, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.security.decorators import permission_name
from flask_babel import gettext, lazy_gettext as _, ngettext
from sqlalchemy import or_, select
from sqlalchemy.orm import joinedload

from app import exports
from app.errors import BadInput
from app.exports import Column
from app.extensions import db
from app.query_guard import guarded_connection
from app.models.areas import District, Village
from app.models.households import Household
from app.security import scope as scope_mod
from app.security.scope import Scope, current_scope, mask_number
from app.services import audit
from app.views.cell_format import format_value
from app.views.choices import snapshot_choices
from gis import queries
from app.analysis_answers import (ANSWERS, Answer, FilterError, Filters, HTML_PAGE_SIZE, LOCATION_PAGE_SIZE, LOCATION_STATUS_LABELS, SCREEN_MIN_SHARE_PCT, _float_arg, _mismatch_statuses, export_answer, households_url, matrix, outside_target_url, parse_filters)


# --- rendering -------------------------------------------------------------------------------------

@dataclass
class Table:
    """One answer ready for the screen: header, formatted cells with links, a page of rows,
    and the download links with the same filters."""

    answer: Answer
    columns: list[Column]
    rows: list
    filters: Filters
    page_arg: Optional[str] = None  # paginated (and sortable, over all pages) when set
    page: int = 1
    total_row: Optional[dict] = None
    sort: Optional[str] = None  # a column key; rows in the answer's order when None
    descending: bool = False

    def __post_init__(self):
        if self.sort:
            # None last whichever the direction; text compared without case
            def key(row):
                value = row[self.sort]
                return (value is None, value.casefold() if isinstance(value, str) else value)

            present = sorted((r for r in self.rows if r[self.sort] is not None), key=key, reverse=self.descending)
            self.rows = present + [r for r in self.rows if r[self.sort] is None]

    @property
    def name(self) -> str:
        return self.answer.name

    @property
    def title(self):
        return self.answer.title

    @property
    def total(self) -> int:
        return len(self.rows)

    @property
    def pages(self) -> int:
        return max(1, math.ceil(len(self.rows) / HTML_PAGE_SIZE)) if self.page_arg else 1

    @property
    def shown(self) -> list:
        if not self.page_arg:
            return self.rows
        start = (min(self.page, self.pages) - 1) * HTML_PAGE_SIZE
        return self.rows[start:start + HTML_PAGE_SIZE]

    def cells(self, row) -> list[tuple[str, Optional[str], bool]]:
        out = []
        for column in self.columns:
            value = column.value(row)
            link = self.answer.links.get(column.key)
            url = link(row, self.filters) if link and value is not None else None
            out.append((format_value(value, column.kind), url,
                        column.kind in exports.NUMERIC_KINDS))
        return out

    def total_cells(self) -> list[tuple[str, Optional[str], bool]]:
        return [(format_value(self.total_row.get(c.key), c.kind) if isinstance(c.key, str) else "", None,
                 c.kind in exports.NUMERIC_KINDS) for c in self.columns]

    def downloads(self) -> list[tuple[str, str]]:
        args = self.filters.query_args(*self.answer.filters)
        return [("CSV", url_for("AnalysisView.download", name=self.name, fmt="csv", **args)),
                (gettext("CSV (;)"), url_for("AnalysisView.download", name=self.name, fmt="csv", sep=";", **args)),
                ("XLSX", url_for("AnalysisView.download", name=self.name, fmt="xlsx", **args))]

    def page_url(self, page: int) -> str:
        args = request.args.to_dict()
        args[self.page_arg] = page
        return request.path + "?" + urlencode(args)

    def sortable(self, column) -> bool:
        return bool(self.page_arg) and isinstance(column.key, str)

    def sort_url(self, column) -> str:
        """The page sorted by ``column`` (descending first for numbers), from page 1; the same
        column again turns the order round."""
        args = request.args.to_dict()
        args.pop(self.page_arg, None)
        first = "desc" if column.kind in exports.NUMERIC_KINDS else "asc"
        args["sort"] = column.key
        args["dir"] = ("asc" if self.descending else "desc") if self.sort == column.key else first
        return request.path + "?" + urlencode(args)

    def map_url(self, row) -> Optional[str]:
        """The village map zoomed to the row's village, coloured by the sorted column when the
        map has that measure, else by the table's own (``MAP_MEASURES``)."""
        measure = MAP_MEASURES.get(self.name)
        if measure is None or not row.get("code"):
            return None
        if self.sort in queries.MEASURES:
            measure = self.sort
        elif self.sort == "gap_households":
            measure = "gaps"
        args = {"village": row["code"], "measure": measure, "year": self.filters.year}
        if self.name.startswith("gaps"):
            args["k"] = self.filters.k
        return url_for("MapView.villages", **args)


# The village map's measure a village table's rows open the map with.
MAP_MEASURES = {"overlap-villages": "programs_0", "gaps-villages": "gaps", "zone-villages": "desil1"}


def _table(name, conn, scope, filters, page_arg=None, total_keys=()) -> Table:
    answer = ANSWERS[name]
    columns = answer.columns_for(conn, scope, filters)
    rows = [dict(r) if hasattr(r, "keys") else r for r in answer.rows(conn, scope, filters)]
    page, sort, descending = 1, None, False
    if page_arg:
        try:
            page = max(1, int(request.args.get(page_arg, 1)))
        except ValueError:
            page = 1
        sort = request.args.get("sort") or None
        keys = [c.key for c in columns if isinstance(c.key, str)]
        if sort is not None and sort not in keys:
            raise BadInput(gettext("Parameter sort: sort by one of %(keys)s.", keys=", ".join(keys)))
        direction = request.args.get("dir", "asc")
        if direction not in ("asc", "desc"):
            raise BadInput(gettext("Parameter dir: asc or desc."))
        descending = direction == "desc"
    total_row = {k: sum(r[k] or 0 for r in rows) for k in total_keys} if total_keys and rows else None
    if total_row is not None:
        total_row[columns[1].key] = str(_("Total"))
    return Table(answer, columns, rows, filters, page_arg, page, total_row, sort, descending)


def _regency_choices(scope: Scope):
    """Regencies for the filter: only for users whose scope spans several regencies."""
    if scope.kind == "regency":
        return []
    from app.views.households import scoped_regencies

    return scoped_regencies(write=False)


def _year_choices(conn, scope, filters) -> list[int]:
    years = set(queries.analysis_years(conn, scope)) | {filters.year, dt.date.today().year}
    return sorted(years, reverse=True)


class _AnalysisPage(BaseView):
    """Common: parse filters (a bad argument is a flash message and the defaults)."""

    def _filters(self, conn, scope, page_size=HTML_PAGE_SIZE) -> Filters:
        try:
            return parse_filters(request.args, conn, scope, page_size)
        except FilterError as exc:
            if exc.status == 403:
                abort(403)
            flash(exc.message, "danger")
            return parse_filters({}, conn, scope, page_size)

    def _render(self, template, conn, scope, filters, **kwargs):
        return self.render_template(template, filters=filters, scope=scope, fmt=format_value,
                                    years=_year_choices(conn, scope, filters),
                                    regencies=_regency_choices(scope), snapshots=snapshot_choices(), **kwargs)


class AnalysisView(_AnalysisPage):
    """Overlap, gaps and zone membership pages, and the downloads of their tables."""

    route_base = "/analysis"
    default_view = "overlap"
    method_permission_name = {"overlap": "read", "gaps": "read", "zones": "read", "download": "read"}

    @expose("/overlap/")
    @has_access
    def overlap(self):
        scope, conn = current_scope(), guarded_connection()
        filters = self._filters(conn, scope)
        regencies = _table("overlap-regencies", conn, scope, filters,
                           total_keys=("households", "reached", "multi_program", "program_enrolments"))
        villages = _table("overlap-villages", conn, scope, filters, page_arg="page")
        programs, cells = matrix(conn, scope, filters)
        largest = max([v for (a, b), v in cells.items() if a != b] or [0])
        return self._render("analysis/overlap.html", conn, scope, filters, title=_("Program overlap"),
                            regency_table=regencies, village_table=villages, programs=programs, cells=cells,
                            largest=largest, matrix_answer=ANSWERS["overlap-matrix"],
                            outside_target_url=outside_target_url,
                            household_answer=ANSWERS["overlap-households"])

    @expose("/gaps/")
    @has_access
    def gaps(self):
        scope, conn = current_scope(), guarded_connection()
        filters = self._filters(conn, scope)
        zones = _table("gaps-zones", conn, scope, filters, total_keys=())
        villages = _table("gaps-villages", conn, scope, filters, page_arg="page")
        return self._render("analysis/gaps.html", conn, scope, filters, title=_("Gaps"), zone_table=zones,
                            village_table=villages)

    @expose("/zones/")
    @has_access
    def zones(self):
        scope, conn = current_scope(), guarded_connection()
        filters = self._filters(conn, scope)
        # The min share is typed as a percentage on the screen (min_share_pct, default 1 %: a
        # village touching a zone along its border is not "in" it) and is a 0-1 fraction in
        # the API and the download links.
        if request.args.get("min_share") in (None, ""):
            try:
                pct = _float_arg(request.args, "min_share_pct", 0, 100, SCREEN_MIN_SHARE_PCT)
            except FilterError as exc:
                flash(exc.message, "danger")
                pct = SCREEN_MIN_SHARE_PCT
            filters = replace(filters, min_share=pct / 100.0)
        zone_table = _table("zones", conn, scope, filters)
        village_table = _table("zone-villages", conn, scope, filters, page_arg="page")
        lookup_text = (request.args.get("village") or "").strip()
        found, village_zones = self._village_lookup(conn, scope, lookup_text, filters.village_id,
                                                    filters.min_share)
        all_zones = queries.zone_summary(conn, scope)
        return self._render("analysis/zones.html", conn, scope, filters, title=_("Zone membership"),
                            zone_table=zone_table, village_table=village_table, all_zones=all_zones,
                            lookup_text=lookup_text, found=found, village_zones=village_zones)

    @staticmethod
    def _village_lookup(conn, scope, text: str, village_id: Optional[int], min_share: float = 0.0):
        """Villages matching a code or a name (up to 10, within the areas the user may pick)
        and, per village, the scoped zones it lies in."""
        if not text and village_id is None:
            return [], {}
        query = (select(Village.id, Village.code, Village.name, District.name.label("district_name"))
                 .join(District, District.id == Village.district_id).order_by(Village.code).limit(10))
        if village_id is not None:
            query = query.where(Village.id == village_id)
        else:
            query = query.where(or_(Village.code.startswith(text), Village.name.ilike(f"%{text}%")))
        allowed = scope_mod.choosable_areas(Village, scope, write=False)
        if allowed is not None:
            query = query.where(allowed)
        found = conn.execute(query).mappings().all()
        zones: dict[int, list] = {v["id"]: [] for v in found}
        for row in queries.zones_of_villages(conn, scope, list(zones)):
            if row["share"] > min_share:
                zones[row["village_id"]].append({**row, "share_pct": round(100.0 * row["share"], 1)})
        return found, zones

    @expose("/download/<name>.<fmt>")
    @has_access
    def download(self, name: str, fmt: str):
        if name not in ANSWERS:
            abort(404)
        scope, conn = current_scope(), guarded_connection()
        try:
            filters = parse_filters(request.args, conn, scope)
            return export_answer(name, fmt, filters, request.args.get("sep"))
        except FilterError as exc:
            return jsonify(message=exc.message), exc.status


# --- location check ---------------------------------------------------------------------------------

class LocationCheckView(_AnalysisPage):
    """Households whose point lies in another village than the declared one, or outside every
    village: a list with a map of the listed points, and the action that accepts the located
    village as the declared one (write scope, audited)."""

    route_base = "/locationcheck"
    default_view = "list"
    method_permission_name = {"list": "read", "geojson": "read", "download": "read"}

    def _page(self, conn, scope, filters):
        return queries.location_mismatch_page(conn, scope, _mismatch_statuses(filters), filters.regency_id,
                                              limit=filters.page_size, offset=(filters.page - 1) * filters.page_size)

    @expose("/list/")
    @has_access
    def list(self):
        scope, conn = current_scope(), guarded_connection()
        filters = self._filters(conn, scope, LOCATION_PAGE_SIZE)
        total, rows = self._page(conn, scope, filters)
        rows = [{**r, "no_kk": mask_number(r["no_kk"], scope),
                 "status_label": LOCATION_STATUS_LABELS.get(r["location_status"], r["location_status"])}
                for r in rows]
        can_accept = self.appbuilder.sm.has_access("can_accept_location", self.class_permission_name)
        pages = max(1, math.ceil(total / filters.page_size))
        filter_args = filters.query_args("regency_id", "status")
        downloads = [("CSV", url_for(".download", fmt="csv", **filter_args)),
                     (gettext("CSV (;)"), url_for(".download", fmt="csv", sep=";", **filter_args)),
                     ("XLSX", url_for(".download", fmt="xlsx", **filter_args))]
        return self.render_template(
            "analysis/location.html", title=_("Location check"), filters=filters, scope=scope, rows=rows,
            total=total, pages=pages, can_accept=can_accept, regencies=_regency_choices(scope),
            statuses=[(s, LOCATION_STATUS_LABELS[s]) for s in queries.MISMATCH_STATUSES],
            geojson_url=url_for(".geojson", **filters.query_args("regency_id", "status", "page", "page_size")),
            downloads=downloads, households_url=households_url,
            page_url=lambda p: url_for(".list", **{**filter_args, "page": p}),
        )

    @expose("/geojson")
    @has_access
    def geojson(self):
        """The listed households (same filters and page as the list) as GeoJSON: their points,
        declared villages and located villages. Scoped; No KK masked as on the list."""
        scope, conn = current_scope(), guarded_connection()
        try:
            filters = parse_filters(request.args, conn, scope, LOCATION_PAGE_SIZE)
        except FilterError as exc:
            return jsonify(message=exc.message), exc.status
        _total, rows = self._page(conn, scope, filters)
        by_id = {r["household_id"]: r for r in rows}
        features = []
        for f in queries.location_mismatch_features(conn, scope, list(by_id)):
            properties = {"role": f["role"], "id": f["id"]}
            if f["role"] == "household":
                r = by_id[f["household_id"]]
                properties.update(no_kk=mask_number(r["no_kk"], scope), head_name=r["head_name"],
                                  status=r["location_status"],
                                  status_label=str(LOCATION_STATUS_LABELS.get(r["location_status"], "")),
                                  declared=f"{r['village_name']} ({r['village_code']})",
                                  located=f"{r['located_name']} ({r['located_code']})" if r["located_code"] else "")
            features.append({"type": "Feature", "geometry": json.loads(f["geojson"]), "properties": properties})
        return jsonify({"type": "FeatureCollection", "features": features})

    @expose("/download/<fmt>")
    @has_access
    def download(self, fmt: str):
        scope, conn = current_scope(), guarded_connection()
        try:
            filters = parse_filters(request.args, conn, scope)
            return export_answer("location-check", fmt, filters, request.args.get("sep"))
        except FilterError as exc:
            return jsonify(message=exc.message), exc.status

    @expose("/accept", methods=["POST"])
    @has_access
    @permission_name("accept_location")
    def accept(self):
        """Accept the located village as the declared village of the selected households.

        Only households in the user's WRITE scope: one outside the read scope answers 404, one
        visible but not writable 403, and nothing is changed. The household must still lie in
        the write scope afterwards (an operator cannot move a household into another regency).
        Each change is audited as accept_location with the villages in the note."""
        back = url_for(".list", **{k: v for k, v in request.form.items() if k in ("regency_id", "status", "page")
                                   and v})
        try:
            ids = sorted({int(v) for v in request.form.getlist("rowid")})
        except ValueError:
            abort(400)
        if not ids:
            flash(gettext("Select at least one household."), "warning")
            return redirect(back)
        scope = current_scope()
        visible = set(db.session.scalars(scope_mod.apply(select(Household.id).where(Household.id.in_(ids)),
                                                         Household, scope)))
        if visible != set(ids):
            abort(404)
        households = db.session.scalars(
            scope_mod.apply(select(Household).where(Household.id.in_(ids)), Household, scope, write=True)
            .options(joinedload(Household.village), joinedload(Household.located_village))
            .order_by(Household.id)).unique().all()
        if len(households) != len(ids):
            abort(403)
        acceptable = [h for h in households if h.location_status == "beda_desa" and h.located_village_id]
        skipped = [h for h in households if h not in acceptable]
        for h in acceptable:
            before, after = h.village, h.located_village
            audit.annotate(db.session, "accept_location",
                           f"located village accepted: {before.code} {before.name} -> {after.code} {after.name}")
            h.village_id = after.id
            h.location_status = "cocok"
            db.session.flush()  # one audit row per household, named by the annotation
        outside = [h for h in acceptable if not scope_mod.is_in_scope(db.session, h, scope, write=True)]
        if outside:
            db.session.rollback()
            flash(gettext("Nothing was changed: the located village of %(name)s (%(kk)s) lies outside your area.",
                          name=outside[0].head_name, kk=mask_number(outside[0].no_kk, scope)), "danger")
            return redirect(back)
        db.session.commit()
        if acceptable:
            flash(ngettext("%(num)d household now has its located village as its village.",
                           "%(num)d households now have their located village as their village.",
                           len(acceptable)), "success")
        if skipped:
            flash(ngettext("%(num)d household was left as it is: it has no located village (no point, or the "
                           "point lies outside every village).",
                           "%(num)d households were left as they are: they have no located village (no point, "
                           "or the point lies outside every village).", len(skipped)), "warning")
        return redirect(back)


def register(appbuilder) -> None:
    """The Analysis menu (overlap, gaps, zone membership, location check); the analysis API is
    registered with the other APIs (app/views/__init__.py register_apis)."""
    category = dict(category="Analysis", category_label=_("Analysis"), category_icon="fa-bar-chart")
    appbuilder.add_view(AnalysisView, "Overlap", href="AnalysisView.overlap", label=_("Overlap"), icon="fa-clone",
                        **category)
    appbuilder.add_link("Gaps", href="AnalysisView.gaps", label=_("Gaps"), icon="fa-circle-o", **category)
    appbuilder.add_link("Zone membership", href="AnalysisView.zones", label=_("Zone membership"),
                        icon="fa-object-group", **category)
    appbuilder.add_view(LocationCheckView, "Location check", href="LocationCheckView.list",
                        label=_("Location check"), icon="fa-map-pin", **category)
