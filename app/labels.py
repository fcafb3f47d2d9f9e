"""Column labels shared by screens and API (translated; Bahasa Indonesia by default)."""
from flask_babel import lazy_gettext as _

LABELS = {
    "code": _("Code"), "name": _("Name"), "kind": _("Kind"), "level": _("Level"), "regency": _("Regency"),
    "district": _("District"), "village": _("Village"), "province": _("Province"), "year": _("Year"),
    "status": _("Status"), "agency": _("Agency (OPD)"), "sector": _("Sector"),
    # TKPK
    "decree_number": _("Decree (SK) number"), "decree_date": _("Decree (SK) date"), "chair": _("Chair"),
    "secretariat_address": _("Secretariat address"), "facilities_available": _("Facilities available"),
    "facilities_lacking": _("Facilities lacking"), "institution": _("TKPK institution"),
    "position": _("Position"), "status_date": _("Status date"), "file": _("File"), "members": _("Members"),
    "documents": _("Documents"),
    # programs
    "cluster": _("Cluster"), "synergy_type": _("Synergy type"), "fiscal_year": _("Fiscal year"),
    "budget": _("Budget (Rp)"), "realised_budget": _("Realised budget (Rp)"),
    "target_households": _("Target households"), "target_desil": _("Target desil up to"), "regencies": _("Regencies covered"),
    "target_desil_min": _("Target desil from"), "target_source": _("Target desil source"),
    "target_desil_range": _("Target desil"),
    # households
    "no_kk": _("No KK"), "head_nik": _("Head's NIK"), "head_name": _("Head of household"), "address": _("Address"),
    "rt": _("RT"), "rw": _("RW"), "desil": _("Desil"), "member_count": _("Number of members"),
    "location": _("Location"), "latitude": _("Latitude"), "longitude": _("Longitude"),
    "source": _("Data source"), "source_date": _("Data date"), "household": _("Household"), "nik": _("NIK"),
    "sex": _("Sex"), "birth_date": _("Birth date"), "relationship_to_head": _("Relationship to head"),
    "program": _("Program"), "benefit_value": _("Benefit value (Rp)"), "date": _("Date"),
    # zones and indicators
    "priority_level": _("Priority level"), "basis": _("Basis"), "description": _("Description"),
    "source_villages": _("Villages"), "period": _("Period"), "poverty_rate": _("Poverty rate (%)"),
    "poor_people": _("Poor people"), "target_rate": _("RPJMD target (%)"), "area_name": _("Area"),
    "above_province": _("Above provincial rate"),
}
