"""Analysis screens (overlap, gaps, zone membership, location checks) — being built."""


def register(appbuilder) -> None:
    """Adds this module's views to the app (filled in by its owner)."""
