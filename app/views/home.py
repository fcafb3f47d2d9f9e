"""The home page: what the user's area holds, at a glance."""
from flask import current_app, send_from_directory
from flask_appbuilder import IndexView, expose
from sqlalchemy import func, select

from app.extensions import db
from app.models.areas import District, Province, Regency, Village


class SinergiIndexView(IndexView):
    index_template = "home.html"

    @expose("/")
    def index(self):
        counts = {
            label: db.session.execute(select(func.count()).select_from(model)).scalar_one()
            for label, model in (("province", Province), ("regency", Regency), ("district", District),
                                 ("village", Village))
        }
        province = db.session.execute(select(Province.name).order_by(Province.code).limit(1)).scalar()
        synthetic = bool(province and "sintetis" in province.lower())
        return self.render_template(self.index_template, counts=counts, province=province, synthetic=synthetic,
                                    env=current_app.config["SINERGI_ENV"])

    @expose("/favicon.ico")
    def favicon(self):
        return send_from_directory(current_app.static_folder, "favicon.svg", mimetype="image/svg+xml",
                                   max_age=86400)
