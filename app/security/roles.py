"""The roles of Sinergi and the permissions each one holds.

This module is the single definition; ``flask --app run sinergi init`` makes the
database match it (idempotent). Admin holds every permission. The roles and
their meaning are in ../shared/docs/domain.md; their row scope lives in
app/security/scope.py (next issue).
"""
from __future__ import annotations

import re

ADMIN = "Admin"
BAPPEDA = "Bappeda Provinsi"
OPERATOR = "Operator TKPK"
OPD = "Petugas OPD"
PIMPINAN = "Pimpinan"
PUBLIC = "Public"

READ = "can_list|can_show|can_get|can_info|menu_access|can_geojson|can_export"  # export = the list as a file
ANY = ".*"
SELF_SERVICE = [  # every logged-in user may see and change their own profile/password
    ("UserInfoEditView", ANY),
    ("ResetMyPasswordView", ANY),
    ("SinergiUserDBModelView", "can_userinfo|userinfoedit"),
    ("LocaleView", ANY),
]
UNMASK = [("PersonalData", "can_see")]  # see full NIK / No KK (app/security/scope.py)

AREAS = "RegencyView|DistrictView|VillageView|RegencyApi|DistrictApi|VillageApi|Areas|Regencies|Districts|Villages"
HOUSEHOLDS = ("HouseholdView|HouseholdMemberView|HouseholdApi|HouseholdMemberApi|Households|Household members")
# Separation of duties (app/security/duties.py): member rows are read-only for all but Admin. The
# number of members changes through a data update request; the rows themselves come from the BDT
# import (a request cannot carry member rows yet).
MEMBERS = "HouseholdMemberView|HouseholdMemberApi|Household members"
ENROLMENTS = "EnrolmentView|EnrolmentApi|Enrolments"
PROGRAMS = "ProgramView|ProgramApi|Programs"
AGENCIES = "AgencyView|AgencyApi|Agencies"
TKPK = ("TkpkInstitutionView|TkpkMemberView|TkpkDocumentView|TkpkInstitutionApi|TkpkMemberApi|TkpkDocumentApi|"
        "TKPK|TKPK members|TKPK documents")
ZONES = "PriorityZoneView|PriorityZoneApi|Priority zones"
INDICATORS = "PovertyIndicatorView|PovertyIndicatorApi|Poverty indicators"
DOMAIN = "|".join((HOUSEHOLDS, ENROLMENTS, PROGRAMS, AGENCIES, TKPK, ZONES, INDICATORS))
# Analysis, maps and GIS endpoints: read-only for every staff role (their rows are scoped in
# gis/queries.py); accepting a located village is a write (can_accept_location).
ANALYSIS = ("AnalysisView|AnalysisApi|LocationCheckView|MapView|GeoFeaturesView|GeoTilesView|OgcApiView|GeoExportView|"
            "Analysis|Overlap|Gaps|Zone membership|Location check|Maps|Village map|Household map|"
            "SnapshotDiffView|SnapshotDiffApi|Snapshot changes")  # changes between snapshots
ANALYSIS_WRITE = "can_accept_location"
IMPORTS = "ImportView|Import"  # household / member / enrolment import (app/views/imports.py)
# Workflows (app/views/workflow.py): who may take which step is decided by the state machines
# in app/services/update_requests.py and complaints.py; these grant the screens.
WORKFLOW = ("UpdateRequestView|Update requests|Requests awaiting me|ComplaintView|Complaints|"
            "New complaints|Overdue complaints|"  # in the Households menu
            "InboxView")  # "Menunggu saya": the top-bar badge and /inbox/ (app/views/inbox.py)
WORKFLOW_READ = ("UpdateRequestView|Update requests|ComplaintView|Complaints|Overdue complaints",
                 "can_list|can_show|menu_access")  # Pimpinan: no files (evidence, photos hold personal data)
PUBLIC_COMPLAINTS = "Public complaints|PublicComplaintView|PublicTicketView|File a complaint|Track a complaint"
PUBLIC_COMPLAINT_PAGES = ("PublicComplaintView|PublicTicketView", ANY)  # staff: the pages, not the public menu
AUDIT = "Audit|AuditLogView|Audit trail|ExportLogView|Export log"
# LP2KD reports (app/views/reports.py): can_read = page, print, workbook; can_write = save the
# "problems and follow-up" text (which report's text a user may write is decided by scope.py).
REPORTS = "Lp2kdView|LP2KD|Reports"
REPORTS_READ = (REPORTS, "can_read|menu_access")

# role -> list of (view-or-menu regex, permission regex). Which ROWS a role reaches is
# decided by app/security/scope.py; these decide which screens and operations it has.
ROLE_PERMISSIONS: dict[str, list[tuple[str, str]]] = {
    BAPPEDA: SELF_SERVICE + UNMASK + [(AREAS, READ), (DOMAIN, ANY), (ANALYSIS, ANY), (IMPORTS, ANY)],
    OPERATOR: SELF_SERVICE + UNMASK + [(AREAS, READ), (DOMAIN, ANY), (ANALYSIS, ANY), (IMPORTS, ANY)],
    OPD: SELF_SERVICE + [(AREAS, READ), (DOMAIN, READ), (PROGRAMS, ANY), (ENROLMENTS, ANY), (AGENCIES, ANY),
                         (ANALYSIS, f"(?!{ANALYSIS_WRITE}$).*")],
    PIMPINAN: SELF_SERVICE + [(AREAS, READ), (DOMAIN, READ), (ANALYSIS, f"(?!{ANALYSIS_WRITE}$).*")],
    PUBLIC: [("LocaleView", ANY)],
}
# Rules are joined by "or": the domain's full rights apply to every view but the members' and
# the households'. A household enters or leaves the data only through a "new household" /
# "removal" update request (app/security/duties.py): no add or delete, by screen or API, for any
# role but Admin; the direct edit keeps the fields no request decides (app/views/direct_edit.py).
HOUSEHOLD_SCREENS = "HouseholdView|HouseholdApi|Households"
HOUSEHOLD_NO_ENTRY = "can_add|can_delete|can_post"
for _role in (BAPPEDA, OPERATOR):
    ROLE_PERMISSIONS[_role] = [(f"(?!(?:{MEMBERS}|{HOUSEHOLD_SCREENS})$)(?:{DOMAIN})", ANY)
                               if rule == (DOMAIN, ANY) else rule
                               for rule in ROLE_PERMISSIONS[_role]] + [
        (MEMBERS, READ), (HOUSEHOLD_SCREENS, f"(?!(?:{HOUSEHOLD_NO_ENTRY})$).*")]
del _role
ROLE_PERMISSIONS[BAPPEDA] += [(WORKFLOW, ANY), PUBLIC_COMPLAINT_PAGES, (AUDIT, ANY)]
ROLE_PERMISSIONS[OPERATOR] += [(WORKFLOW, ANY), PUBLIC_COMPLAINT_PAGES]
ROLE_PERMISSIONS[OPD] += [PUBLIC_COMPLAINT_PAGES]  # OPD takes no part in the workflows (scope.py)
ROLE_PERMISSIONS[PIMPINAN] += [WORKFLOW_READ, PUBLIC_COMPLAINT_PAGES]
ROLE_PERMISSIONS[PUBLIC] += [(PUBLIC_COMPLAINTS, ANY)]  # exactly the complaint form and the ticket page
ROLE_PERMISSIONS[BAPPEDA] += [(REPORTS, ANY)]
ROLE_PERMISSIONS[OPERATOR] += [(REPORTS, ANY)]
ROLE_PERMISSIONS[OPD] += [REPORTS_READ]
ROLE_PERMISSIONS[PIMPINAN] += [REPORTS_READ]
# Duplicates & double aid (app/views/duplicates.py): operators decide on their regency's pairs,
# Bappeda also scans and edits the program exclusion rules; Pimpinan reads (masked).
DUPLICATES = "DuplicateView|Duplicates"
ROLE_PERMISSIONS[BAPPEDA] += [(DUPLICATES + "|ProgramExclusionRuleView|Program exclusion rules", ANY)]
ROLE_PERMISSIONS[OPERATOR] += [(DUPLICATES, "can_list|can_decide|menu_access")]
ROLE_PERMISSIONS[PIMPINAN] += [(DUPLICATES, "can_list|menu_access")]


def sync_roles(sm) -> dict[str, int]:
    """Create every role and give it exactly the permissions matched above.

    Returns the number of permissions per role. Permissions no longer matched are
    removed, so the code stays the one truth about what a role may do.
    """
    all_pvms = sm.session.query(sm.permissionview_model).all()
    counts = {}
    admin = sm.add_role(ADMIN)
    admin.permissions = list(all_pvms)
    counts[ADMIN] = len(all_pvms)
    for role_name, rules in ROLE_PERMISSIONS.items():
        role = sm.add_role(role_name)
        compiled = [(re.compile(f"^(?:{v})$"), re.compile(f"^(?:{p})$")) for v, p in rules]
        role.permissions = [
            pvm for pvm in all_pvms
            if pvm.view_menu and pvm.permission
            and any(v.match(pvm.view_menu.name) and p.match(pvm.permission.name) for v, p in compiled)
        ]
        counts[role_name] = len(role.permissions)
    sm.session.commit()
    return counts
