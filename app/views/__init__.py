"""Registers every view and menu; the menu labels are translated (Bahasa Indonesia by default)."""
from flask_babel import lazy_gettext as _


def register_views(appbuilder) -> None:
    from app.views.areas import DistrictView, RegencyView, VillageView
    from app.views.households import EnrolmentView, HouseholdMemberView, HouseholdView
    from app.views.indicators import PovertyIndicatorView
    from app.views.programs import ProgramView
    from app.views.tkpk import AgencyView, TkpkDocumentView, TkpkInstitutionView, TkpkMemberView
    from app.views.zones import PriorityZoneView

    def add(view, name, label, icon, category, category_label=None, category_icon=None):
        appbuilder.add_view(view, name, label=label, icon=icon, category=category,
                            category_label=category_label or category, category_icon=category_icon or "")

    add(HouseholdView, "Households", _("Households"), "fa-home", "Households", _("Households"), "fa-users")
    add(HouseholdMemberView, "Household members", _("Household members"), "fa-user", "Households")
    add(EnrolmentView, "Enrolments", _("Enrolments"), "fa-check-square-o", "Households")
    add(ProgramView, "Programs", _("Programs"), "fa-cubes", "Programs", _("Programs"), "fa-cubes")
    add(AgencyView, "Agencies", _("Agencies (OPD)"), "fa-building", "Programs")
    add(TkpkInstitutionView, "TKPK", _("TKPK institutions"), "fa-sitemap", "TKPK", _("TKPK"), "fa-sitemap")
    add(TkpkMemberView, "TKPK members", _("TKPK members"), "fa-id-badge", "TKPK")
    add(TkpkDocumentView, "TKPK documents", _("TKPK documents"), "fa-file-text-o", "TKPK")
    add(PovertyIndicatorView, "Poverty indicators", _("Poverty indicators"), "fa-line-chart", "TKPK")
    add(PriorityZoneView, "Priority zones", _("Priority zones"), "fa-crosshairs", "Areas", _("Areas"),
        "fa-globe")
    add(RegencyView, "Regencies", _("Regencies"), "fa-map", "Areas")
    add(DistrictView, "Districts", _("Districts"), "fa-map-o", "Areas")
    add(VillageView, "Villages", _("Villages"), "fa-map-marker", "Areas")


    from app.views import audit as audit_views, public, workflow  # data updates, complaints, audit trail
    workflow.register(appbuilder)
    public.register(appbuilder)
    audit_views.register(appbuilder)

    from app.views import reports; reports.register(appbuilder)  # LP2KD reports (the Reports menu)
    from app.views import imports; imports.register(appbuilder)  # household import: upload, report, commit
    from app.views import duplicates; duplicates.register(appbuilder)  # duplicates & double aid, exclusion rules
    from app.views import inbox; inbox.register(appbuilder)  # "Menunggu saya": the top-bar badge and /inbox/

    # Analysis, maps and the GIS endpoints register themselves (their modules own their menus).
    from app.views import analysis, maps
    from gis import http as gis_http

    analysis.register(appbuilder)
    maps.register(appbuilder)
    gis_http.register(appbuilder)
    from app.views import snapshot_diff; snapshot_diff.register(appbuilder)  # changes between snapshots


def register_apis(appbuilder) -> None:
    from app.api.analysis import AnalysisApi
    from app.api.areas import DistrictApi, RegencyApi, VillageApi
    from app.api.households import EnrolmentApi, HouseholdApi, HouseholdMemberApi
    from app.api.programs import ProgramApi
    from app.api.tkpk import AgencyApi, TkpkDocumentApi, TkpkInstitutionApi, TkpkMemberApi
    from app.api.zones import PovertyIndicatorApi, PriorityZoneApi

    for api in (RegencyApi, DistrictApi, VillageApi, HouseholdApi, HouseholdMemberApi, EnrolmentApi, ProgramApi,
                AgencyApi, TkpkInstitutionApi, TkpkMemberApi, TkpkDocumentApi, PriorityZoneApi, PovertyIndicatorApi,
                AnalysisApi):
        appbuilder.add_api(api)
    from app.api.snapshot_diff import SnapshotDiffApi; appbuilder.add_api(SnapshotDiffApi)  # snapshot diff
