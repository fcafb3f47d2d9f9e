"""HTTP surface of the GIS layer (GeoJSON, vector tiles, OGC API Features) — being built."""


def register(appbuilder) -> None:
    """Adds this module's views to the app (filled in by its owner)."""
