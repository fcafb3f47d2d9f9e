"""The public side of complaints (no login): the complaint form and the status of one ticket.

Abuse-proofing: the form is a Flask-WTF form under the app's CSRFProtect; its POST is rate
limited per IP (``COMPLAINT_RATE_LIMIT``), ticket look-ups too (``COMPLAINT_LOOKUP_RATE_LIMIT``),
both through FAB's Flask-Limiter — the IP is the TCP peer, or the one named by the configured
number of reverse proxies (``SINERGI_PROXY_HOPS``, app/__init__.py), and the counter is one per
server (gunicorn.conf.py); a photo is checked by size, content and pixel count and stored
re-encoded without its metadata (app/services/complaints.py); every text is escaped by Jinja.
The ticket page shows the state, category, dates and public resolution of the ONE complaint
whose code is given — never the description, the contact or anything of another ticket — and
answers an unknown and a malformed code with the same page and status.
"""
from __future__ import annotations

import json

from flask import current_app, flash, jsonify, make_response, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.security.decorators import permission_name
from flask_babel import gettext
from flask_babel import lazy_gettext as _
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from sqlalchemy import func, select
from wtforms import RadioField, SelectField, StringField, TextAreaField

from app.extensions import db
from app.models.areas import District, Regency, Village
from app.services import complaints as complaints_service
from app.services.validation import InputError
from app.views.households import parse_coordinate


class ComplaintForm(FlaskForm):
    category = RadioField(_("What is the complaint about?"),
                          choices=list(complaints_service.CATEGORY_LABELS.items()), validate_choice=False)
    regency = SelectField(_("Kabupaten/kota"), choices=[], validate_choice=False)
    district = SelectField(_("Kecamatan"), choices=[], validate_choice=False)
    village = SelectField(_("Desa/kelurahan"), choices=[], validate_choice=False)
    description = TextAreaField(_("Description"), description=_(
        "What happened, and who it concerns (the household's name and address). At least 10 characters."))
    contact = StringField(_("Your contact (optional)"), description=_(
        "Telephone or e-mail, if you want to be contacted. Only the officers handling the complaint see it."))
    latitude = StringField(_("Latitude"))
    longitude = StringField(_("Longitude"))
    photo = FileField(_("Photo (optional)"))


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _fill_choices(form: ComplaintForm) -> None:
    """Choices of the three selects: every kabupaten/kota; the kecamatan and desa of the
    chosen ones (so a refused form shows what was picked)."""
    regencies = db.session.execute(select(Regency.id, Regency.name).order_by(Regency.name)).all()
    form.regency.choices = [("", gettext("Choose the kabupaten/kota"))] + [(str(i), n) for i, n in regencies]
    village_id = _int(form.village.data)
    district_id = _int(form.district.data)
    regency_id = _int(form.regency.data)
    if village_id and not district_id:  # only the village came back: find its parents
        row = db.session.execute(select(Village.district_id, District.regency_id).join(District)
                                 .where(Village.id == village_id)).first()
        if row:
            district_id, regency_id = row
            form.district.data, form.regency.data = str(district_id), str(regency_id)
    form.district.choices = [("", gettext("Choose the kecamatan"))] + (
        [(str(i), n) for i, n in db.session.execute(select(District.id, District.name)
                                                      .where(District.regency_id == regency_id)
                                                      .order_by(District.name)).all()] if regency_id else [])
    form.village.choices = [("", gettext("Choose the desa/kelurahan"))] + (
        [(str(i), n) for i, n in db.session.execute(select(Village.id, Village.name)
                                                      .where(Village.district_id == district_id)
                                                      .order_by(Village.name)).all()] if district_id else [])


def _coordinates(form: ComplaintForm):
    """(lon, lat) or (None, None); a field error when one is missing or not a number."""
    lat_text, lon_text = (form.latitude.data or "").strip(), (form.longitude.data or "").strip()
    if not lat_text and not lon_text:
        return None, None
    try:
        return parse_coordinate(lon_text), parse_coordinate(lat_text)
    except ValueError:
        raise InputError({"location": [gettext("give latitude and longitude as decimal degrees, or leave both empty")]})


def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


class PublicComplaintView(BaseView):
    """/pengaduan/: the complaint form, and the kecamatan / desa lists and village outline it uses."""

    route_base = "/pengaduan"
    default_view = "form"
    base_permissions = ["can_access"]

    @expose("/", methods=["GET", "POST"])
    @has_access
    @permission_name("access")
    def form(self):
        form = ComplaintForm()
        errors: dict[str, list[str]] = {}
        if request.method == "POST" and not form.validate():
            flash(gettext("The complaint was not sent: %(reason)s",
                          reason="; ".join(" ".join(m) for m in form.errors.values())), "danger")
        elif request.method == "POST":
            upload = None
            storage = form.photo.data
            if storage is not None and getattr(storage, "filename", ""):
                upload = (storage.filename, storage.stream.read(complaints_service.photo_max_bytes() + 1))
            try:
                lon, lat = _coordinates(form)
                complaint = complaints_service.file_complaint(
                    db.session, category=form.category.data, village_id=_int(form.village.data),
                    description=form.description.data, contact=form.contact.data, lon=lon, lat=lat, photo=upload)
                db.session.commit()
            except InputError as exc:
                db.session.rollback()
                errors = exc.errors
                flash(gettext("The complaint was not sent: please correct the fields marked below."), "danger")
            else:
                flash(gettext("Your complaint has been recorded. Your ticket code is %(code)s: keep it to follow "
                              "the complaint.", code=complaint.ticket), "success")
                return redirect(url_for("PublicTicketView.ticket", code=complaint.ticket))
        _fill_choices(form)
        response = make_response(self.render_template(
            "public/complaint_form.html", form=form, errors=errors,
            photo_max_mb=complaints_service.photo_max_bytes() / 1048576,
            basemap=current_app.config.get("SINERGI_BASEMAP_URL") or ""))
        return _no_store(response)

    @expose("/kecamatan/<int:regency_id>")
    @has_access
    @permission_name("access")
    def districts(self, regency_id):
        rows = db.session.execute(select(District.id, District.name).where(District.regency_id == regency_id)
                                  .order_by(District.name)).all()
        return jsonify([{"id": i, "name": n} for i, n in rows])

    @expose("/desa/<int:district_id>")
    @has_access
    @permission_name("access")
    def villages(self, district_id):
        rows = db.session.execute(select(Village.id, Village.name, Village.kind).where(Village.district_id == district_id)
                                  .order_by(Village.name)).all()
        return jsonify([{"id": i, "name": n, "kind": k} for i, n, k in rows])

    @expose("/batas/<int:village_id>")
    @has_access
    @permission_name("access")
    def village_outline(self, village_id):
        """The village's outline, simplified to ~50 m (orientation on a map without base layer)."""
        row = db.session.execute(select(Village.name, func.ST_AsGeoJSON(
            func.ST_SimplifyPreserveTopology(Village.geom, 0.0005), 5)).where(Village.id == village_id)).first()
        if row is None:
            return jsonify({"message": "not found"}), 404
        response = jsonify({"type": "Feature", "geometry": json.loads(row[1]), "properties": {"name": row[0]}})
        response.headers["Cache-Control"] = "public, max-age=86400"
        return response


    @expose("/batas/kabupaten")
    @has_access
    @permission_name("access")
    def regency_outlines(self):
        """Every kabupaten/kota, simplified to ~300 m (about 65 kB): orientation on the form's map
        when no base layer is configured."""
        rows = db.session.execute(select(Regency.id, Regency.name, func.ST_AsGeoJSON(
            func.ST_SimplifyPreserveTopology(Regency.geom, 0.003), 4)).order_by(Regency.code)).all()
        response = jsonify({"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": json.loads(g), "properties": {"id": i, "name": n}} for i, n, g in rows]})
        response.headers["Cache-Control"] = "public, max-age=86400"
        return response


class PublicTicketView(BaseView):
    """/pengaduan/tiket/: the status of one ticket, by its code."""

    route_base = "/pengaduan/tiket"
    default_view = "lookup"
    base_permissions = ["can_access"]

    def _page(self, code):
        complaint = complaints_service.find_by_ticket(db.session, code)
        response = make_response(self.render_template(
            "public/ticket.html", complaint=complaint, asked=code is not None,
            category_label=complaints_service.CATEGORY_LABELS, state_label=complaints_service.STATE_LABELS,
            overdue=complaint is not None and complaints_service.is_overdue(complaint),
            filed_on=complaint.created_at.astimezone(complaints_service.WIB).date() if complaint else None),
            200 if complaint is not None or code is None else 404)
        return _no_store(response)

    @expose("/", methods=["GET"])
    @has_access
    @permission_name("access")
    def lookup(self):
        code = request.args.get("kode")
        return self._page(code if code else None)

    @expose("/<string:code>", methods=["GET"])
    @has_access
    @permission_name("access")
    def ticket(self, code):
        return self._page(code)


def _too_many() -> str:
    return gettext("Too many requests from your address. Please wait a while and try again.")


def register(appbuilder) -> None:
    form_view = appbuilder.add_view_no_menu(PublicComplaintView())
    ticket_view = appbuilder.add_view_no_menu(PublicTicketView())
    appbuilder.add_link("File a complaint", href="/pengaduan/", label=_("File a complaint"), icon="fa-bullhorn",
                        category="Public complaints", category_label=_("Complaints (pengaduan)"),
                        category_icon="fa-comments")
    appbuilder.add_link("Track a complaint", href="/pengaduan/tiket/", label=_("Track a complaint"),
                        icon="fa-search", category="Public complaints")
    limiter = appbuilder.sm.limiter
    limiter.limit(lambda: current_app.config["COMPLAINT_RATE_LIMIT"], methods=["POST"],
                  error_message=_too_many)(form_view.blueprint)
    limiter.limit(lambda: current_app.config["COMPLAINT_LOOKUP_RATE_LIMIT"], methods=["GET"],
                  error_message=_too_many)(ticket_view.blueprint)
