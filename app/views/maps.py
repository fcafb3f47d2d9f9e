"""Interactive village and household maps (menu "Maps").

Each map is a folium document (gis/maps.py) served by its own ``.../frame`` URL and shown
in an iframe inside the FAB layout: folium's page loads Bootstrap 5 and resets html/body,
which FAB's Bootstrap 3 pages must not get. The data comes from the scoped GIS endpoints
(gis/http.py) in the browser; these views only decide what the user may choose (regency,
year, k, measure) and how households are drawn (clusters up to gis.maps.CLUSTER_LIMIT
points in scope, vector tiles beyond). The maps' "Sumber data" (``snapshot=``) is the household
list's and the LP2KD's choice: the village map's measures, and the household map's points, desil
and villages, then come from that targeting snapshot.
"""
from __future__ import annotations

import re
from typing import Optional
from urllib.parse import urlencode

from flask import Response, current_app, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from app.errors import BadInput
from app.extensions import db
from app.models.snapshots import TargetingSnapshot
from app.security.scope import Scope, current_scope
from app.services.snapshot_arg import SnapshotArgError, parse_snapshot
from app.views.choices import DESIL_CHOICES, snapshot_choices
from app.views.household_filters import household_list_args
from app.services.snapshot_diff import choose_pair
from gis import maps, queries, targeting

MAX_DESIL = max(value for value, _label in DESIL_CHOICES)  # BDT 2015's desil 1..4
GEO_PATHS = {  # the GIS endpoints' contract (gis/http.py)
    "villages": "/gis/geojson/villages",
    "zones": "/gis/geojson/zones",
    "regencies": "/gis/geojson/regencies",
    "districts": "/gis/geojson/districts",
    "households": "/gis/geojson/households",
    "tiles": "/gis/tiles/households/{z}/{x}/{y}.pbf",
    "villageSearch": "/gis/geojson/villages/search",
    "villageTargeting": "/gis/geojson/villages/targeting",
}


def _measure_labels(conn) -> list[dict]:
    """The measures of the drop-down: the kept ones, and the targeting ones (gis/targeting.py)
    of the pages the user may open (the diff's only when two snapshots exist to compare)."""
    with_diff, with_duplicates = targeting.allowed(current_app.appbuilder.sm)
    extra = []
    if with_diff and choose_pair(conn, None, None) is not None:
        extra += [{"value": "desil_exit", "label": _("Left desil 1–4")},
                  {"value": "entered", "label": _("Entered the data")},
                  {"value": "left", "label": _("Left the data")}]
    if with_duplicates:
        extra.append({"value": "duplicates", "label": _("Open duplicate pairs")})
    return _kept_measure_labels() + extra


def _kept_measure_labels() -> list[dict]:
    return [
        {"value": "desil1", "label": _("Desil-1 households")},
        {"value": "coverage", "label": _("Coverage (%)")},
        {"value": "multi_program", "label": _("Households with 2+ programs")},
        {"value": "gaps", "label": _("Gap households")},
        {"value": "programs_0", "label": _("Households with no program")},
        {"value": "programs_1", "label": _("Households with 1 program")},
        {"value": "programs_2", "label": _("Households with 2 programs")},
        {"value": "programs_3plus", "label": _("Households with 3+ programs")},
    ]


def _targeting_links() -> dict[str, str]:
    """The village popup's links to the duplicate queue (filtered by the village) and to the
    changes between targeting snapshots, for the users who may open them."""
    sm = current_app.appbuilder.sm
    links = {}
    if sm.has_access("can_list", "DuplicateView"):
        links["duplicates"] = url_for("DuplicateView.index")
    if sm.has_access("can_read", "SnapshotDiffView"):
        links["snapshotDiff"] = url_for("SnapshotDiffView.page")
    return links


def _labels() -> dict[str, str]:
    """UI strings of the map script, translated on the server."""
    return {
        "area": _("Area"), "wholeProvince": _("Whole province ({province})"), "year": _("Year"),
        "colourBy": _("Colour by"), "gapThreshold": _("Gap threshold"), "kOption": _("desil ≤ {k}"),
        "villages": _("Villages"), "zones": _("Priority zones"), "regencyBorders": _("Regency borders"),
        "districtBorders": _("District (kecamatan) borders"), "households": _("Households"),
        "reached": _("Reached by 1+ program"), "m_desil1": _("Desil-1 households"),
        "m_coverage": _("Coverage (%)"), "m_multi_program": _("Households with 2+ programs"),
        "m_gaps": _("Gap households (desil ≤ {k}, in a zone, no program)"),
        "m_programs_0": _("Households with no program"), "m_programs_1": _("Households with 1 program"),
        "m_programs_2": _("Households with 2 programs"), "m_programs_3plus": _("Households with 3+ programs"),
        "searchVillage": _("Find a village"), "searchPlaceholder": _("Village name or code"),
        "noVillageFound": _("No village found"),
        "districtPrefix": _("Kec."), "openHouseholdList": _("Households in this village"),
        "dataSource": _("Data source"),
        "villageDuplicates": _("Duplicates and double aid in this village"),
        "snapshotChanges": _("Changes between data periods"),
        "m_desil_exit": _("Left desil 1–4"), "m_entered": _("Entered the data"), "m_left": _("Left the data"),
        "m_duplicates": _("Open duplicate pairs"), "snapshotPair": _("{a} → {b}"),
        "desilExitNote": _("Desil 1–4 in {a}, desil 5 or more in {b}"),
        "sourcesDiffer": _("The two sources rank desil differently (BDT 2015: 1–4, DTSEN: 1–10)."),
        "noHouseholds": _("No households"), "priorityLevel": _("Priority level"), "basis": _("Basis"),
        "loadingVillages": _("Loading villages…"), "villagesShown": _("{n} villages"),
        "loadFailed": _("The map data could not be loaded ({error})."),
        "desil": _("Desil"), "desilN": _("Desil {n}"), "unknown": _("Unknown"),
        "programsInYear": _("Programs in {year}"), "noKk": _("No KK"), "locationStatus": _("Location status"),
        "householdNo": _("Household #{id}"), "openHousehold": _("Open household"),
        "legendDesil": _("Desil of the household"), "legendPrograms": _("Programs received in {year}"),
        "clusterNote": _("The ring of a cluster shows the mix of its households."),
        "tilesNote": _("Zoom in to see single households."),
        "groupsDesil1": _("Zoomed out, one circle per village: share in desil 1"),
        "groups": _("Zoomed out, one circle per village"), "groupOfHouseholds": _("Households of a village"),
        "loadingHouseholds": _("Loading households…"), "loadedHouseholds": _("Loading households… {n}"),
        "householdsShown": _("{n} households"),
        "clusterMode": _("Households are shown as clusters."),
        "tilesMode": _("More than {limit} households: shown as vector tiles."),
    }


def _status_labels() -> dict[str, str]:
    return {"cocok": _("Matches the declared village"), "beda_desa": _("In another village (beda desa)"),
            "di_luar_wilayah": _("Outside the region"), "tanpa_titik": _("No point")}


def _chosen_snapshot() -> Optional[int]:
    """The map's "Sumber data" (``snapshot=<id>``, the LP2KD's parser): None for the latest data;
    a bad value is a 400 naming it, as on the LP2KD and the GeoJSON."""
    try:
        return parse_snapshot(request.args)
    except SnapshotArgError as exc:
        raise BadInput(exc.message) from None


def _snapshot_options() -> list[dict]:
    """The "Sumber data" choices, labelled as on the household list and the LP2KD: the latest
    data first (the default), then every snapshot, the newest first."""
    return [{"value": "", "label": _("latest of each household")}] + [
        {"value": s.id, "label": s.label} for s in snapshot_choices()]


def _int_arg(name: str, default: int, allowed) -> int:
    try:
        value = int(request.args.get(name, default))
    except (TypeError, ValueError):
        return default
    return value if value in allowed else default


class MapView(BaseView):
    route_base = "/maps"
    default_view = "villages"

    # --- shared request parsing --------------------------------------------------------------
    def _common(self, conn, scope: Scope) -> dict:
        regencies = maps.choosable_regencies(conn, scope)
        fixed_regency = scope.kind == "regency"
        code = request.args.get("regency", "")
        chosen: Optional[dict] = None
        if fixed_regency:
            chosen = next((r for r in regencies if r["id"] == scope.regency_id), None)
        elif code:
            chosen = next((r for r in regencies if r["code"] == code), None)
        years = maps.available_years(conn, scope)
        year = _int_arg("year", queries.default_year(conn, scope), years)
        root = request.script_root
        return {
            "regency_id": chosen["id"] if chosen else None,
            "bounds": maps.area_bounds(conn, chosen["id"] if chosen else None),
            "config": {
                "regency": chosen["code"] if chosen else "",
                "regencies": [{"code": r["code"], "name": r["name"], "id": r["id"]} for r in regencies],
                "canChooseRegency": not fixed_regency and len(regencies) > 1,
                "province": maps.province_name(conn),
                "year": year, "years": years,
                "locale": str(get_locale() or "id").replace("_", "-"),
                "labels": _labels(),
                "urls": {key: root + path for key, path in GEO_PATHS.items()} | {
                    "householdList": url_for("HouseholdView.list"),
                    "householdShow": url_for("HouseholdView.show", pk=0).rsplit("/", 1)[0] + "/__id__",
                } | _targeting_links(),
            },
        }

    def _page(self, title, config: dict, bounds) -> maps.MapPage:
        cfg = current_app.config
        basemap = cfg.get("SINERGI_BASEMAP_URL") or ""
        attribution = cfg.get("SINERGI_BASEMAP_ATTRIBUTION") or (
            "&copy; OpenStreetMap contributors" if "openstreetmap" in basemap else "")
        return maps.MapPage(title=str(title), bounds=bounds, config=config, basemap_url=basemap,
                            basemap_attribution=attribution, base_layer_label=_("Base map"))

    @staticmethod
    def _document(html: str) -> Response:
        response = Response(html, mimetype="text/html")
        # Only our own pages may frame the map; its content depends on the user's scope.
        response.headers["X-Frame-Options"] = "SAMEORIGIN"
        response.headers["Content-Security-Policy"] = "frame-ancestors 'self'"
        response.headers["Cache-Control"] = "private, no-store"
        return response

    def _host(self, title, frame_endpoint: str, help_text, downloads: Optional[dict] = None):
        return self.render_template("maps/page.html", title=title, help_text=help_text,
                                    frame_url=url_for(frame_endpoint, **request.args.to_dict()), downloads=downloads)

    def _downloads(self) -> Optional[dict]:
        """The village map's GeoJSON / GeoPackage downloads (gis/geo_export.py), for users whose
        role may export. The links carry the page's filters; app/static/js/maps/host.js swaps
        in the map's current ones on click, since the filters change inside the iframe."""
        if not self.appbuilder.sm.has_access("can_export", "GeoExportView"):
            return None
        args = {k: v for k, v in request.args.items() if k in ("regency", "year", "k", "snapshot")}
        links = {}
        for key, endpoint in (("gpkg", "GeoExportView.geopackage"), ("villages", "GeoExportView.villages_geojson"),
                              ("zones", "GeoExportView.zones_geojson")):
            base = url_for(endpoint)
            links[key] = {"base": base, "href": url_for(endpoint, **args)}
        return links

    # --- village map -------------------------------------------------------------------------
    @expose("/villages/")
    @has_access
    def villages(self):
        _chosen_snapshot()  # a bad one is refused here already, not only inside the frame
        return self._host(_("Village map"), "MapView.village_frame",
                          _("Villages coloured by the chosen measure; click a village for its figures and its "
                            "households. Priority zones and borders can be switched on and off."),
                          downloads=self._downloads())

    @expose("/villages/frame")
    @has_access
    def village_frame(self):
        scope = current_scope()
        with db.engine.connect() as conn:
            common = self._common(conn, scope)
            measures = _measure_labels(conn)
        config = common["config"]
        snapshot = _chosen_snapshot()
        measure = request.args.get("measure", "desil1")
        focus = request.args.get("village", "")
        config.update({
            "measure": measure if measure in {m["value"] for m in measures} else "desil1",
            # ?village=<code>: open zoomed to that village (the analysis tables' rows link here)
            "focus": focus if re.fullmatch(r"\d{2}\.\d{2}\.\d{2}\.\d{4}", focus) else "",
            "k": _int_arg("k", 1, range(1, MAX_DESIL + 1)),
            "maxDesil": MAX_DESIL,
            "measures": measures,
            # "Sumber data": the desil-based measures of a snapshot instead of the latest data
            # (/gis/geojson/villages?snapshot=); the popup's household list link keeps it.
            "snapshot": snapshot or "",
            "snapshots": _snapshot_options(),
            "householdListArgs": household_list_args(),
        })
        page = self._page(_("Village map"), config, common["bounds"])
        return self._document(maps.village_map_html(page))

    # --- household map -----------------------------------------------------------------------
    @expose("/households/")
    @has_access
    def households(self):
        _chosen_snapshot()  # a bad one is refused here already, not only inside the frame
        return self._host(_("Household map"), "MapView.household_frame",
                          _("Households with a location, coloured by desil or by the number of programs they "
                            "receive; click a point for the household."))

    @expose("/households/frame")
    @has_access
    def household_frame(self):
        scope = current_scope()
        snapshot = _chosen_snapshot()
        snapshots = _snapshot_options()
        with db.engine.connect() as conn, queries.reading_snapshot(snapshot):
            common = self._common(conn, scope)
            count = maps.household_point_count(conn, scope, common["regency_id"])
            # The legend's desil range: the chosen snapshot's (BDT 2015: 1-4), else the widest loaded
            # (each household's latest data mixes sources: DTSEN's 1-10 beside BDT's 1-4).
            ranges = select(func.max(TargetingSnapshot.desil_max))
            if snapshot:
                ranges = ranges.where(TargetingSnapshot.id == snapshot)
            max_desil = conn.execute(ranges).scalar() or MAX_DESIL
        config = common["config"]
        requested = request.args.get("mode", "")
        if requested in ("cluster", "tiles"):
            mode = requested
        else:
            requested = ""
            mode = "cluster" if count <= maps.CLUSTER_LIMIT else "tiles"
        colour = request.args.get("colour", "desil")
        config.update({
            "count": count, "clusterLimit": maps.CLUSTER_LIMIT, "requestedMode": requested,
            "maxDesil": max_desil,
            # "Sumber data": the points, desil and villages of one targeting snapshot (the village
            # map's and the household list's choice); the GeoJSON and the tiles get ``snapshot=``.
            "snapshot": snapshot or "",
            "snapshotLabel": next((o["label"] for o in snapshots if o["value"] == snapshot), "") if snapshot else "",
            "snapshots": snapshots,
            "colour": colour if colour in maps.HOUSEHOLD_COLOURINGS else "desil",
            "colourings": [{"value": "desil", "label": _("Desil")},
                           {"value": "programs", "label": _("Number of programs")}],
            "statusLabels": _status_labels(),
        })
        tile_url = config["urls"]["tiles"] + "?" + urlencode({"year": config["year"], **(
            {"snapshot": snapshot} if snapshot else {})})
        page = self._page(_("Household map"), config, common["bounds"])
        return self._document(maps.household_map_html(page, mode, tile_url))


def register(appbuilder) -> None:
    """Menu "Maps": "Village map" and "Household map" (permissions: app/security/roles.py).
    Also points folium's and branca's asset URLs at the app's static copies (no CDN)."""
    maps.install_offline_assets(current_app.static_url_path)
    appbuilder.add_view(MapView, "Village map", label=_l("Village map"), icon="fa-map", category="Maps",
                        category_label=_l("Maps"), category_icon="fa-globe")
    appbuilder.add_link("Household map", href="MapView.households", label=_l("Household map"),
                        icon="fa-dot-circle-o", category="Maps")
