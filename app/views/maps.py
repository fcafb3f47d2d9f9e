"""Interactive village and household maps — being built."""


def register(appbuilder) -> None:
    """Adds this module's views to the app (filled in by its owner)."""
