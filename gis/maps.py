"""folium map builders for the village and household maps, and folium's offline assets.

The pages are built with folium (``Figure`` + ``Map`` rendered by ``get_root().render()``)
and served as their own documents, shown in an iframe inside the FAB layout: folium's
page resets ``html, body``, which would break FAB's layout. folium's ``Map`` would also load
Bootstrap 5, jQuery, Font Awesome and awesome-markers into that document, on top of FAB's
Bootstrap 3, jQuery and Font Awesome in the page around it; the maps use none of them
(their chrome is Leaflet controls styled by static/js/maps/sinergi_maps.css), so they are
dropped (``DROPPED_ASSETS``) and a map page loads one copy of each, FAB's.

Data never passes through folium: ``folium.GeoJson(url)`` would fetch on the server. The
polygons, borders, zones and points are loaded in the browser from the scoped GIS
endpoints (gis/http.py) by app/static/js/maps/sinergi_maps.js, which the page starts
through a small folium element (``SinergiLayers``).

Offline: folium and branca write CDN URLs (jsdelivr, cdnjs, unpkg, code.jquery, d3js)
into every page through ``default_js`` / ``default_css`` class attributes and, for
branca's colormap legend, a hard-coded d3 link. ``install_offline_assets`` rewrites them
at start-up to the copies scripts/vendor_assets.sh puts in app/static/vendor, and refuses
to start if a class we use names an asset we have no copy of.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Optional

import folium
from branca.colormap import ColorMap
from branca.element import Element, Figure, JavascriptLink, MacroElement
from folium import plugins
from folium.elements import JSCSSMixin
from folium.template import Template
from markupsafe import escape
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from app.models.areas import District, Province, Regency, Village
from app.security.scope import Scope, choosable_areas
from gis import queries
from gis.queries import MEASURES  # the measures a village map is coloured by

# Up to this many household points in scope the browser clusters them (markercluster);
# beyond it the household map switches to vector tiles (gis/tiles.py).
CLUSTER_LIMIT = 100_000
HOUSEHOLD_COLOURINGS = ("desil", "programs")

# --- offline assets ------------------------------------------------------------------------------

# folium/branca asset name -> path under the app's static folder (scripts/vendor_assets.sh).
LOCAL_ASSETS = {
    # folium.Map
    "leaflet": "vendor/leaflet/leaflet.js",
    "leaflet_css": "vendor/leaflet/leaflet.css",
    # plugins.MarkerCluster / FastMarkerCluster
    "markerclusterjs": "vendor/leaflet.markercluster/leaflet.markercluster.js",
    "markerclustercss": "vendor/leaflet.markercluster/MarkerCluster.css",
    "markerclusterdefaultcss": "vendor/leaflet.markercluster/MarkerCluster.Default.css",
    # plugins.VectorGridProtobuf
    "vectorGrid": "vendor/leaflet.vectorgrid/Leaflet.VectorGrid.bundled.min.js",
    # branca.colormap legend
    "d3": "vendor/d3/d3.min.js",
}
# Map assets the pages do without. folium.Map loads Bootstrap 5 (JS + CSS), jQuery, Font Awesome
# and awesome-markers for folium.Icon markers and Bootstrap-styled popups: the maps draw their
# markers, popups, panel and legend themselves (sinergi_maps.js / .css), and the page around the
# frame already has FAB's Bootstrap 3, jQuery and Font Awesome — one copy of each per page.
# (A folium.Marker with a folium.Icon would need awesome-markers back.) Bootstrap 3's glyphicons
# and folium's rotate CSS have no npm package at all.
DROPPED_ASSETS = {"jquery", "bootstrap", "bootstrap_css", "awesome_markers", "awesome_markers_css",
                  "awesome_markers_font_css", "glyphicons_css", "awesome_rotate_css"}
# Every folium class whose assets the map pages may load.
FOLIUM_CLASSES = (folium.Map, plugins.MarkerCluster, plugins.FastMarkerCluster, plugins.VectorGridProtobuf)

_static_prefix: Optional[str] = None


def static_asset(path: str) -> str:
    """URL of a file under the app's static folder, as installed by install_offline_assets."""
    if _static_prefix is None:
        raise RuntimeError("gis.maps.install_offline_assets() has not run (app start-up)")
    return f"{_static_prefix}/{path}"


def _rewrite(assets: list[tuple[str, str]], owner: str) -> list[tuple[str, str]]:
    local = []
    for name, url in assets:
        if name in DROPPED_ASSETS:
            continue
        if name not in LOCAL_ASSETS:
            if not url.startswith(_static_prefix + "/"):
                raise RuntimeError(f"{owner} loads {name} from {url}: no local copy. Vendor it "
                                   "(scripts/vendor_assets.sh) and add it to gis.maps.LOCAL_ASSETS.")
            local.append((name, url))
            continue
        local.append((name, static_asset(LOCAL_ASSETS[name])))
    return local


def install_offline_assets(static_url_path: str = "/static") -> None:
    """Point folium's and branca's asset URLs at the app's own static files. Idempotent;
    called once at start-up (app.views.maps.register)."""
    global _static_prefix
    _static_prefix = static_url_path.rstrip("/")
    for cls in FOLIUM_CLASSES:
        for attr in ("default_js", "default_css"):
            if attr in vars(cls):  # only where the class defines them (subclasses inherit)
                setattr(cls, attr, _rewrite(list(getattr(cls, attr)), f"{cls.__module__}.{cls.__name__}"))
    if not getattr(ColorMap.render, "_sinergi_offline", False):
        original = ColorMap.render

        def render(self, **kwargs):
            original(self, **kwargs)
            # branca adds d3 from cdnjs under the name "d3"; replace it with our copy.
            self.get_root().header.add_child(JavascriptLink(static_asset(LOCAL_ASSETS["d3"])), name="d3")

        render._sinergi_offline = True
        ColorMap.render = render


ASSET_TAG = re.compile(r"""<(?:script|link)\b[^>]*?\b(?:src|href)\s*=\s*["']?([^"'\s>]+)""", re.I)


def outside_asset_urls(html: str, allowed_origin: Optional[str] = None) -> list[str]:
    """The <script src> / <link href> URLs of a page that point outside the app
    (absolute http(s) or protocol-relative URLs, except ones on ``allowed_origin``)."""
    found = []
    for url in ASSET_TAG.findall(html):
        if re.match(r"^(?:https?:)?//", url, re.I) and not (allowed_origin and url.startswith(allowed_origin)):
            found.append(url)
    return found


# --- what the pages need from the database -----------------------------------------------------------

def _bounds(conn: Connection, geom_query) -> Optional[list[list[float]]]:
    row = conn.execute(geom_query).one_or_none()
    if row is None or row[0] is None:
        return None
    return [[row[1], row[0]], [row[3], row[2]]]  # [[south, west], [north, east]]


def area_bounds(conn: Connection, regency_id: Optional[int] = None) -> Optional[list[list[float]]]:
    """Leaflet bounds of one regency, or of the province (all regencies) when None."""
    extent = func.ST_Extent(Regency.geom)
    query = select(func.ST_XMin(extent), func.ST_YMin(extent), func.ST_XMax(extent), func.ST_YMax(extent))
    if regency_id is not None:
        query = query.where(Regency.id == regency_id)
    return _bounds(conn, query)


def choosable_regencies(conn: Connection, scope: Scope) -> list[dict[str, Any]]:
    """The regencies a user may put on a map: all of them for province-wide users and OPD
    staff (their rows are still scoped by the endpoints), only their own for a regency
    scope, none for no scope."""
    pred = choosable_areas(Regency, scope, write=False)
    query = select(Regency.id, Regency.code, Regency.name).order_by(Regency.code)
    if pred is not None:
        query = query.where(pred)
    return [dict(r) for r in conn.execute(query).mappings()]


def province_name(conn: Connection) -> str:
    return conn.execute(select(Province.name).order_by(Province.id).limit(1)).scalar() or ""


def available_years(conn: Connection, scope: Scope) -> list[int]:
    """Years worth offering: those of the scoped programs and zones (queries.analysis_years),
    with the year the map opens on; the current year when there is no data."""
    return sorted(set(queries.analysis_years(conn, scope)) | {queries.default_year(conn, scope)})


def household_point_count(conn: Connection, scope: Scope, regency_id: Optional[int] = None) -> int:
    """Households with a point that the user may see (in one regency when given), of the snapshot
    read (``queries.household_points``). Decides clustering versus vector tiles."""
    pts = queries.household_points(scope).subquery("pts")
    query = select(func.count()).select_from(pts).where(pts.c.location.is_not(None))
    if regency_id is not None:
        villages = select(Village.id).join(District, District.id == Village.district_id) \
            .where(District.regency_id == regency_id)
        query = query.where(pts.c.village_id.in_(villages))
    return conn.execute(query).scalar_one()


# --- the pages --------------------------------------------------------------------------------------

class SinergiLayers(JSCSSMixin, MacroElement):
    """Starts app/static/js/maps/sinergi_maps.js on a folium map: ``SinergiMaps.<kind>(map,
    config, handles)``; the handles are the folium objects the script works with (layer
    control, base layer, cluster group, vector grid)."""

    _template = Template("""
        {% macro script(this, kwargs) %}
            SinergiMaps.{{ this.kind }}({{ this._parent.get_name() }}, {{ this.config|tojson }}, {
                {%- for key, obj in this.handles.items() %}
                {{ key|tojson }}: {{ obj.get_name() if obj is not none else 'null' }},
                {%- endfor %}
            });
        {% endmacro %}
    """)

    def __init__(self, kind: str, config: dict, handles: dict):
        super().__init__()
        self._name = "SinergiLayers"
        self.kind, self.config, self.handles = kind, config, handles
        self.default_js = [("leaflet", static_asset(LOCAL_ASSETS["leaflet"])),
                           ("sinergi_maps", static_asset("js/maps/sinergi_maps.js"))]
        self.default_css = [("sinergi_maps_css", static_asset("js/maps/sinergi_maps.css"))]


@dataclass
class MapPage:
    """Everything a map page needs; built by the view from the request and the scope."""
    title: str
    bounds: Optional[list[list[float]]]
    config: dict = field(default_factory=dict)
    basemap_url: str = ""
    basemap_attribution: str = ""
    base_layer_label: str = "Base map"


def _figure(page: MapPage) -> tuple[Figure, folium.Map, Optional[folium.TileLayer]]:
    figure = Figure(title=str(escape(page.title)))
    figure.header.add_child(Element('<meta name="robots" content="noindex">'), name="robots")
    south_west, north_east = page.bounds or [[-6.0, 103.5], [-3.5, 106.2]]  # Lampung
    center = [(south_west[0] + north_east[0]) / 2, (south_west[1] + north_east[1]) / 2]
    # control_scale off: sinergi_maps.js adds a metric-only scale (folium's shows miles too).
    fmap = folium.Map(location=center, zoom_start=8, tiles=None, control_scale=False, width="100%", height="100%",
                      zoom_snap=0.25, minZoom=6, maxZoom=19)
    figure.add_child(fmap)
    basemap = None
    if page.basemap_url:
        basemap = folium.TileLayer(tiles=page.basemap_url, attr=page.basemap_attribution or page.base_layer_label,
                                   name=page.base_layer_label, max_zoom=19, overlay=False, control=True)
        basemap.add_to(fmap)
    return figure, fmap, basemap


def village_map_html(page: MapPage) -> str:
    """The village map document: villages coloured by a measure (loaded per zoom by the
    script), regency and district borders, priority zones in the layer control, legend."""
    figure, fmap, basemap = _figure(page)
    control = folium.LayerControl(collapsed=False, position="topright")
    control.add_to(fmap)
    SinergiLayers("villageMap", {**page.config, "bounds": page.bounds},
                  {"layerControl": control, "basemap": basemap}).add_to(fmap)
    return figure.render()


CLUSTER_ICON = """function (cluster) { return SinergiMaps.clusterIcon(cluster); }"""
TILE_OPTIONS = """{
    rendererFactory: L.canvas.tile,
    interactive: true,
    maxNativeZoom: 18,
    getFeatureId: function (f) {  // the MVT feature id is the household id: hand it to the popup
        if (f.properties.count === undefined && f.properties.id === undefined) { f.properties.id = f.id; }
        return f.id;
    },
    vectorTileLayerStyles: { households: function (p, z) { return SinergiMaps.householdTileStyle(p, z); },
                             villages: function (p, z) { return SinergiMaps.householdTileStyle(p, z); } }
}"""


def household_map_html(page: MapPage, mode: str, tile_url: str = "") -> str:
    """The household map document: points clustered in the browser (``mode='cluster'``, fed
    page by page from the scoped GeoJSON endpoint) or drawn from vector tiles
    (``mode='tiles'``); regency borders for orientation; a legend."""
    figure, fmap, basemap = _figure(page)
    handles: dict[str, Any] = {"basemap": basemap, "cluster": None, "tiles": None}
    label = page.config.get("labels", {}).get("households", "Households")
    if mode == "cluster":
        handles["cluster"] = plugins.MarkerCluster(name=label, icon_create_function=CLUSTER_ICON,
                                                   chunkedLoading=True, showCoverageOnHover=False,
                                                   spiderfyOnMaxZoom=True, disableClusteringAtZoom=18)
        handles["cluster"].add_to(fmap)
    else:
        handles["tiles"] = plugins.VectorGridProtobuf(tile_url, name=label, options=TILE_OPTIONS)
        handles["tiles"].add_to(fmap)
    control = folium.LayerControl(collapsed=False, position="topright")
    control.add_to(fmap)
    handles["layerControl"] = control
    SinergiLayers("householdMap", {**page.config, "bounds": page.bounds, "mode": mode}, handles).add_to(fmap)
    return figure.render()


__all__ = ["CLUSTER_LIMIT", "HOUSEHOLD_COLOURINGS", "MEASURES", "MapPage", "area_bounds", "available_years",
           "choosable_regencies", "household_map_html", "household_point_count",
           "install_offline_assets", "outside_asset_urls", "static_asset", "village_map_html"]
