"""FAB security manager that knows Sinergi's user model (with its kabupaten/kota)."""
from flask_appbuilder.security.sqla.manager import SecurityManager
from flask_appbuilder.security.views import UserDBModelView
from flask_babel import lazy_gettext as _

from app.models.users import SinergiUser


class SinergiUserDBModelView(UserDBModelView):
    label_columns = {**UserDBModelView.label_columns, "regency": _("Regency")}
    show_fieldsets = [
        (_("User info"), {"fields": ["username", "active", "roles", "login_count", "regency"]}),
        *UserDBModelView.show_fieldsets[1:],
    ]
    user_show_fieldsets = [
        (_("User info"), {"fields": ["username", "active", "roles", "login_count", "regency"]}),
        *UserDBModelView.user_show_fieldsets[1:],
    ]
    add_columns = UserDBModelView.add_columns + ["regency"]
    edit_columns = UserDBModelView.edit_columns + ["regency"]
    list_columns = UserDBModelView.list_columns + ["regency"]


class SinergiSecurityManager(SecurityManager):
    user_model = SinergiUser
    userdbmodelview = SinergiUserDBModelView
