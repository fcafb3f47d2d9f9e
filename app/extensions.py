"""Extension singletons, created unbound and initialised in create_app()."""
from flask_appbuilder import AppBuilder
from flask_appbuilder.models.sqla.base import SQLA
from flask_compress import Compress
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect

db = SQLA()
appbuilder = AppBuilder(update_perms=False, base_template="sinergi_base.html")
migrate = Migrate()
csrf = CSRFProtect()
compress = Compress()
