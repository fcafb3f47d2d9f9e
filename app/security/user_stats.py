"""Admin's "Statistik Pengguna" as a plain table. FAB's own UserStatsChartView draws with
Google Charts, whose loader fetches its code from the internet: Sinergi runs offline, so the
figures (logins, failed logins, last login) are listed, sortable, instead of charted."""
from __future__ import annotations

from flask_appbuilder import ModelView
from flask_appbuilder.models.sqla.interface import SQLAInterface
from flask_babel import lazy_gettext as _

from app.models.users import SinergiUser
from app.views.cell_format import datetime_text, number_text


class UserStatsView(ModelView):
    datamodel = SQLAInterface(SinergiUser)
    route_base = "/userstats"
    list_title = _("User Statistics")
    base_permissions = ["can_list"]
    list_columns = ["username", "first_name", "last_name", "login_count", "fail_login_count", "last_login"]
    label_columns = {"username": _("User Name"), "first_name": _("First Name"), "last_name": _("Last Name"),
                     "login_count": _("Login count"), "fail_login_count": _("Failed login count"),
                     "last_login": _("Last login")}
    formatters_columns = {"login_count": lambda n: number_text(n or 0), "fail_login_count": lambda n: number_text(n or 0),
                          "last_login": datetime_text}
    search_columns = ["username", "first_name", "last_name"]
    base_order = ("username", "asc")  # descending counts would put the never-logged-in (NULL) first
