"""Every scoped screen (ScopedModelView): roles that see NIK / No KK masked may not sort on them.

FAB's list screens sort on any ``_oc_<View>=<column>`` given in the URL (even columns not
listed, and dotted paths like ``household.no_kk``); sorting a masked column is an oracle for
the hidden digits, as the REST API already knows (ScopedModelRestApi refuses it). Filters are
safe already: FAB ignores ``_flt_`` on columns outside ``search_columns``, and none lists them.
"""
from __future__ import annotations

from app.errors import BadInput
from app.security import scope as scope_mod

REFUSED = "Pengurutan menurut NIK / No KK tidak diizinkan: nomor itu disamarkan untuk peran Anda."


class MaskedSortMixin:
    def _get_list_widget(self, **kwargs):
        order_column = kwargs.get("order_column") or ""
        if order_column and scope_mod.masked_column(order_column):
            raise BadInput(REFUSED)  # the 400 page says why, not only that
        if not order_column and self.base_order and scope_mod.masked_column(self.base_order[0]):
            # the default No KK order would leak the order of the masked digits too
            kwargs.update(order_column="id", order_direction="asc")
        return super()._get_list_widget(**kwargs)
