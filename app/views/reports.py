"""LP2KD report screens: the report of the province or a kabupaten/kota for a semester or a
year, as a page (``/lp2kd/``), a printable page without the navigation (``/lp2kd/print``),
an XLSX workbook with one sheet per section (``/lp2kd/xlsx``), and the save of its
free-text section "problems and follow-up" (``POST /lp2kd/note``).

The figures come from ``app.services.lp2kd.build_report`` with ``current_scope()``; this
module parses the request and lays the report out as sections of tables (``sections``),
which the page and the workbook both render, so they show the same numbers.

Arguments: ``area`` = ``province`` or a regency code (``18.07``), ``year``, ``period`` =
``s1`` | ``s2`` | ``tahunan``, ``snapshot`` = the id of a targeting snapshot ("Sumber data";
empty: each household's latest data, the kept measures). A regency-scoped user (operator,
regency Pimpinan) gets their regency only (another area: 403). A bad area, year or period on
the page is a message and the default report; a bad snapshot is a 400 everywhere (a report
printed from another source than the one asked for would carry the wrong heading).
"""
from __future__ import annotations

import datetime as dt
import io
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Optional

from flask import abort, flash, redirect, request, send_file, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import format_decimal, gettext, lazy_gettext as _, lazy_pgettext
from sqlalchemy import select

from app import exports
from app.exports import Column
from app.errors import BadInput
from app.extensions import db
from app.query_guard import guarded_connection
from app.models.areas import Regency
from app.models.workflow import COMPLAINT_CATEGORIES, COMPLAINT_STATES, REQUEST_KINDS, REQUEST_STATES
from app.security.scope import Scope, ScopeError, current_scope
from app.services import audit, lp2kd, snapshot_arg
from app.views.cell_format import date_text, datetime_text, format_value
from app.views.choices import (CLUSTER_CHOICES, DOCUMENT_KIND_CHOICES, DOCUMENT_STATUS_CHOICES, LEVEL_CHOICES,
                               PERIOD_CHOICES, PROGRAM_STATUS_CHOICES, ZONE_BASIS_CHOICES, snapshot_choices)

PERIOD_LABELS = {"s1": _("Semester I (January–June)"), "s2": _("Semester II (July–December)"),
                 "tahunan": _("Annual")}
PROVINCE = "province"
CLUSTERS = dict(CLUSTER_CHOICES)
INDICATOR_PERIODS = dict(PERIOD_CHOICES)
HTML_VILLAGE_ROWS = 15  # gap villages on the page; the workbook holds every one
RUPIAH_XLSX = '"Rp "#,##0.00'


def _label(mapping: dict, value) -> str:
    return "" if value is None else str(mapping.get(value, value))


def _workflow_labels():
    """The state/category labels of complaints and update requests (their services own them)."""
    from app.services import complaints as c, update_requests as u

    return c.CATEGORY_LABELS, c.STATE_LABELS, u.KIND_LABELS, u.STATE_LABELS


# --- layout: sections of tables, shared by the page and the workbook -----------------------------------

@dataclass
class Table:
    key: str
    title: Any
    columns: list[Column]
    rows: list
    total: Optional[dict] = None
    empty: Any = None          # the text shown instead of an empty table
    pairs: bool = False        # a two-column "item: value" table; rows are (label, value, kind)
    html_limit: Optional[int] = None  # rows on the page (the workbook holds every row)
    html_columns: Optional[list] = None  # fewer, narrower columns on the page (the workbook: ``columns``)

    @property
    def page_columns(self) -> list[Column]:
        return self.html_columns or self.columns


@dataclass
class Section:
    key: str
    title: Any
    tables: list[Table] = field(default_factory=list)
    notes: list = field(default_factory=list)
    sheet: Any = None  # a short title for the workbook's sheet tab (at most 31 characters)


def _period_title(report: lp2kd.Report) -> str:
    return f"{PERIOD_LABELS[report.period]} {report.year}"


def source_text(report: lp2kd.Report) -> str:
    """The report's "Sumber data": the chosen snapshot ("DTSEN 2025-Q3"), or by default the
    latest snapshot with the reminder that each household counts with its latest data."""
    if report.snapshot_id is not None:
        return report.snapshot_label
    if report.snapshot_label is None:
        return gettext("latest of each household")
    return gettext("%(label)s (latest data of each household)", label=report.snapshot_label)


def _targeting_changes_section(report: lp2kd.Report) -> Section:
    """What changed between the two latest targeting snapshots, as the screen "Perubahan antar
    periode data" counts it (app/services/snapshot_diff.py)."""
    from app.snapshot_diff_answers import REGENCY_COLUMNS, VILLAGE_COLUMNS

    section = Section("targeting_changes", _("Changes in the targeting data"), sheet=_("Targeting data changes"))
    t = report.targeting_changes
    if t is None:
        section.notes.append(_("Fewer than two targeting data snapshots are loaded: nothing to compare yet."))
        return section
    if t["a"] is None:
        section.notes.append(gettext("%(label)s is the first targeting data snapshot: there is no earlier period "
                                     "to compare it with.", label=t["b"]))
        return section
    section.notes.append(gettext("Compares %(b)s (the data source of this report) with the snapshot before it, "
                                 "%(a)s.", a=t["a"], b=t["b"]))
    s = t["summary"]
    section.tables.append(Table("changes_total", f"{t['a']} → {t['b']}", [], pairs=True, rows=[
        (_("Households in the older snapshot"), s["households_a"], "int"),
        (_("Households in the newer snapshot"), s["households_b"], "int"),
        (_("Entered"), s["entered"], "int"), (_("Left"), s["left"], "int"),
        (_("Desil up"), s["desil_up"], "int"), (_("Desil down"), s["desil_down"], "int"),
        (_("Moved to another village"), s["moved"], "int"),
        (_("Households with members added"), s["members_added"], "int"),
        (_("Households with members removed"), s["members_removed"], "int")]))
    section.tables.append(Table(
        "changes_areas", _("Changes per regency") if report.is_province else _("Changes per village"),
        REGENCY_COLUMNS if report.is_province else VILLAGE_COLUMNS, t["by_area"], html_limit=HTML_VILLAGE_ROWS,
        empty=_("No household changed."),
        # The page is narrower than the workbook: the member columns get short labels.
        html_columns=[c for c in (REGENCY_COLUMNS if report.is_province else VILLAGE_COLUMNS)
                      if c.key not in ("members_added", "members_removed", "district_name")]
        + [Column("members_added", _("Members added"), "int"), Column("members_removed", _("Members removed"), "int")]))
    if t["sources_differ"]:
        section.notes.append(_("The two snapshots come from different sources (BDT 2015: desil 1–4, DTSEN: "
                               "desil 1–10): desil up and down compare the numbers as they are."))
    section.notes.append(_("A household can count in several columns (moved and desil up)."))
    return section


def sections(report: lp2kd.Report) -> list[Section]:
    """The report as numbered sections, in order; each becomes a part of the page and one
    sheet of the workbook."""
    categories, complaint_states, kinds, request_states = _workflow_labels()
    s = report.summary
    out = []

    summary = Section("summary", _("Summary"), sheet=_("Summary"))
    summary.tables.append(Table("summary", _("Summary"), [], pairs=True, rows=[
        (_("Area"), report.area_name, "text"),
        (_("Period"), _period_title(report), "text"),
        (_("Days"), f"{date_text(report.first_day)} – {date_text(report.last_day)}", "text"),
        (_("Data source"), source_text(report), "text"),
        (_("Poverty rate (%)"), s["poverty_rate"], "number"),
        (_("RPJMD target (%)"), s["target_rate"], "number"),
        (_("Programs"), s["programs"], "int"),
        (_("Budget (Rp)"), s["budget"], "money"),
        (_("Realised budget (Rp)"), s["realised_budget"], "money"),
        (_("Realisation (%)"), s["realisation"], "number"),
        (_("Households in desil 1–4"), s["households"], "int"),
        (_("Households reached (1+ program)"), s["reached"], "int"),
        (_("Coverage (%)"), s["coverage"], "decimal"),
        (_("Households with 2+ programs"), s["multi_program"], "int"),
        (_("Gap households (desil 1 in priority zones, no program)"), s["gap_households"], "int"),
        (_("Enrolments counted"), s["enrolments"], "int"),
        (_("Benefit value (Rp)"), s["benefit_value"], "money"),
        (_("Priority zones"), s["zones"], "int"),
        (_("Complaints filed"), s["complaints"], "int"),
        (_("Data update requests"), s["requests"], "int"),
    ]))
    summary.notes.append(_("Counted enrolments: status usulan, ditetapkan or disalurkan, of households in the area."))
    if report.snapshot_id is not None:
        summary.notes.append(gettext("Desil, village and point of each household as %(label)s lists them; households "
                                     "it does not list are not counted (beneficiaries, coverage, overlap, gaps, "
                                     "zones).", label=report.snapshot_label))
    elif report.snapshot_label is not None:
        summary.notes.append(_("Desil, village and point: each household's latest data (a household the latest "
                               "snapshot no longer lists keeps those of the last snapshot listing it)."))
    if report.period != "tahunan":
        summary.notes.append(_("A semester holds the enrolments of the year dated inside it; programs belong to "
                               "the report by their fiscal year."))
        if report.undated_enrolments:
            summary.notes.append(gettext("%(num)s counted enrolments of %(year)s have no date inside the year: "
                                         "they count in the annual report only.",
                                         num=format_decimal(report.undated_enrolments, format="#,##0"),
                                         year=report.year))
    if report.scope_kind == "agency":
        summary.notes.append(_("Only the programs of your agency are counted."))
    out.append(summary)

    indicator_columns = [
        Column("area_name", _("Area")), Column("year", _("Year"), "year"),
        Column(lambda r: _label(INDICATOR_PERIODS, r["period"]), _("Period")),
        Column("poverty_rate", _("Poverty rate (%)"), "number"),
        Column("target_rate", _("RPJMD target (%)"), "number"),
        Column("difference", _("Rate minus target (points)"), "number"),
        Column("poor_people", _("Poor people"), "int"),
        Column("source", _("Source")),
    ]
    if not report.is_province:
        indicator_columns.insert(-1, Column(lambda r: gettext("yes") if r["above_province"] else gettext("no"),
                                            _("Above provincial rate")))
    indicators = Section("indicators", _("Poverty indicators and the RPJMD target"), sheet=_("Indicators"))
    indicators.tables.append(Table("indicators_period", _("This period"), indicator_columns,
                                   report.indicators["period"],
                                   empty=_("No poverty rate recorded for this area and period.")))
    indicators.tables.append(Table("indicators_series", _("The series"), indicator_columns,
                                   report.indicators["series"], empty=_("No poverty rate recorded for this area.")))
    if report.is_province:
        indicators.tables.append(Table("indicators_above", _("Kabupaten/kota above the provincial rate"),
                                       indicator_columns, report.indicators["above_province"],
                                       empty=_("None recorded for this period.")))
    indicators.notes.append(_("BPS measures poverty in March and September: semester I shows March, semester II "
                              "September, the annual report both."))
    out.append(indicators)

    tkpk = Section("tkpk", _("TKPK institution"), sheet="TKPK")
    t = report.tkpk
    if t is None:
        tkpk.notes.append(_("No TKPK institution recorded for this area."))
    else:
        tkpk.tables.append(Table("tkpk", _("Institution"), [], pairs=True, rows=[
            (_("Level"), _label(dict(LEVEL_CHOICES), t["level"]), "text"),
            (_("Decree (SK) number"), t["decree_number"], "text"),
            (_("Decree (SK) date"), t["decree_date"], "date"),
            (_("Chair"), t["chair"], "text"),
            (_("Secretariat address"), t["secretariat_address"], "text"),
            (_("Members"), t["members"], "int"),
        ]))
        tkpk.tables.append(Table("tkpk_documents", _("Documents"), [
            Column(lambda r: _label(dict(DOCUMENT_KIND_CHOICES), r["kind"]), _("Document")),
            Column(lambda r: _label(dict(DOCUMENT_STATUS_CHOICES), r["status"]), _("Status")),
            Column("status_date", _("Status date"), "date"),
            Column(lambda r: gettext("yes") if r["has_file"] else gettext("no"), _("File uploaded")),
        ], t["documents"], empty=_("No documents recorded.")))
        facilities = ([dict(state=gettext("available"), item=i) for i in t["facilities_available"]]
                      + [dict(state=gettext("lacking"), item=i) for i in t["facilities_lacking"]])
        tkpk.tables.append(Table("tkpk_facilities", _("Secretariat facilities"), [
            Column("state", _("Available / lacking")), Column("item", _("Facility"))], facilities,
            empty=_("No facilities recorded.")))
    out.append(tkpk)

    p = report.programs
    programs = Section("programs", _("Programs by cluster: budget and realisation"), sheet=_("Programs"))
    money_columns = [Column("budget", _("Budget (Rp)"), "money"),
                     Column("realised_budget", _("Realised budget (Rp)"), "money"),
                     Column("realisation", _("Realisation (%)"), "number")]
    programs.tables.append(Table("program_clusters", _("By cluster"), [
        Column(lambda r: _label(CLUSTERS, r["cluster"]) if r["cluster"] else gettext("Total"), _("Cluster")),
        Column("programs", _("Programs"), "int")] + money_columns, p["clusters"], total=p["total"]))
    reached = report.overlap["program_households"]
    program_name = Column(lambda r: f"{r['code']} · {r['name']}", _("Program"))
    cluster_number = Column("cluster", _("Cluster"), "year")
    households_reached = Column(lambda r: reached.get(r["id"], 0), _("Households reached in the period"), "int")
    programs.tables.append(Table("program_list", _("Programs"), [
        Column("code", _("Code")), Column("name", _("Program")),
        Column(lambda r: _label(CLUSTERS, r["cluster"]), _("Cluster")), Column("agency", _("OPD")),
        Column(lambda r: _label(dict(LEVEL_CHOICES), r["level"]), _("Level")),
        Column(lambda r: _label(dict(PROGRAM_STATUS_CHOICES), r["status"]), _("Status"))] + money_columns + [
        Column("target_households", _("Target households"), "int"), households_reached],
        p["rows"], empty=_("No programs of this fiscal year in the area."),
        html_columns=[program_name, cluster_number, Column("agency", _("OPD"))] + money_columns + [
            Column("target_households", _("Target households"), "int"), households_reached]))
    programs.notes.append(_("Budget and realisation are each program's own figures; a program covering several "
                            "kabupaten/kota is not divided between them."))
    out.append(programs)

    b = report.beneficiaries
    measures = [Column("households", _("Households"), "int"), Column("enrolments", _("Enrolments"), "int"),
                Column("benefit_value", _("Benefit value (Rp)"), "money")]
    beneficiaries = Section("beneficiaries", _("Beneficiaries"), sheet=_("Beneficiaries"))
    beneficiaries.tables.append(Table("beneficiaries_desil", _("By desil"),
                                      [Column(lambda r: r["desil"] or gettext("Total"), _("Desil"), "year")]
                                      + measures, b["desil"],
                                      total=dict(b["total"], desil=None)))
    beneficiaries.tables.append(Table("beneficiaries_cluster", _("By cluster"),
                                      [Column(lambda r: _label(CLUSTERS, r["cluster"]) if r.get("cluster") else
                                              gettext("Total"), _("Cluster"))] + measures,
                                      b["cluster"], total=dict(b["total"], cluster=None)))
    beneficiaries.tables.append(Table("beneficiaries_program", _("By program"), [
        Column("code", _("Code")), Column("name", _("Program")),
        Column(lambda r: _label(CLUSTERS, r["cluster"]), _("Cluster")), Column("agency", _("OPD"))] + measures,
        b["program"], empty=_("No counted enrolments in the period."),
        html_columns=[program_name, cluster_number, Column("agency", _("OPD"))] + measures))
    beneficiaries.notes.append(_("A household reached by several programs is counted once in each row it "
                                 "belongs to, and once in the total."))
    out.append(beneficiaries)

    coverage = Section("coverage", _("Coverage of desil 1–4"), sheet=_("Coverage"))
    coverage.tables.append(Table("coverage", _("Households per desil and how many were reached"), [
        Column(lambda r: r["desil"] or gettext("Total"), _("Desil"), "year"),
        Column("households", _("Households"), "int"), Column("reached", _("Reached (1+ program)"), "int"),
        Column("coverage", _("Coverage (%)"), "decimal"),
        Column("multi_program", _("With 2+ programs"), "int")], report.coverage[:-1], total=report.coverage[-1]))
    out.append(coverage)

    o = report.overlap
    overlap = Section("overlap", _("Overlap"), sheet=_("Overlap"))
    overlap.tables.append(Table("overlap_distribution", _("Households by number of programs received"), [
        Column("programs", _("Programs received")), Column("households", _("Households"), "int"),
        Column("share", _("Share (%)"), "decimal")], o["distribution"],
        total=dict(programs=gettext("Total"), households=o["households"], share=None)))
    overlap.tables.append(Table("overlap_pairs", _("The busiest program pairs"), [
        Column("code_a", _("Program A")), Column("name_a", _("Name")),
        Column("code_b", _("Program B")), Column("name_b", _("Name")),
        Column("households", _("Households in both"), "int")], o["pairs"],
        empty=_("No household received two programs in the period.")))
    overlap.notes.append(gettext("%(num)s program pairs share households; the %(top)s with the most are listed.",
                                 num=o["pair_count"], top=lp2kd.TOP_PAIRS))
    out.append(overlap)

    g = report.gaps
    gaps = Section("gaps", _("Gaps"), sheet=_("Gaps"))
    gaps.tables.append(Table("gaps_total", _("Gaps"), [], pairs=True, rows=[
        (_("Gap households (desil 1 in priority zones, no program)"), g["total"], "int"),
        (_("Villages with gaps"), len(g["by_village"]), "int")]))
    gaps.tables.append(Table("gaps_villages", _("Villages with the most gap households"), [
        Column("code", _("Village code")), Column("name", _("Village")), Column("district", _("District")),
        Column("gap_households", _("Gap households"), "int")], g["by_village"], html_limit=HTML_VILLAGE_ROWS,
        empty=_("No gaps: every desil-1 household in the priority zones received a program.")))
    gaps.notes.append(_("A gap: a household of desil 1 inside a priority zone of the year with no counted "
                        "enrolment in the period (the rule of the analysis screen Gaps)."))
    out.append(gaps)

    zones = Section("zones", _("Priority zones"), sheet=_("Priority zones"))
    zones.tables.append(Table("zones", _("Priority zones of the year"), [
        Column("name", _("Zone")),
        Column(lambda r: r["regency"] or gettext("Province-wide"), _("Set by")),
        Column("priority_level", _("Priority level"), "year"),
        Column(lambda r: _label(dict(ZONE_BASIS_CHOICES), r["basis"]), _("Basis")),
        Column("villages", _("Villages"), "int"), Column("households", _("Households"), "int"),
        Column("desil1", _("Desil 1 households"), "int"), Column("gap_households", _("Gap households"), "int")],
        report.zones, empty=_("No priority zones for this year in the area.")))
    zones.notes.append(_("Villages: more than 1 % of the village's area inside the zone; households and gaps "
                         "counted in this report's area only."))
    out.append(zones)

    out.append(_targeting_changes_section(report))

    c, r = report.complaints, report.requests
    workflow = Section("complaints", _("Complaints and data update requests"), sheet=_("Complaints and requests"))
    workflow.tables.append(_matrix_table("complaints", _("Complaints filed in the period"), _("Category"),
                                         COMPLAINT_CATEGORIES, categories, COMPLAINT_STATES, complaint_states, c))
    workflow.tables.append(_matrix_table("requests", _("Data update requests made in the period"), _("Kind"),
                                         REQUEST_KINDS, kinds, REQUEST_STATES, request_states, r))
    workflow.notes.append(_("Counted by the day they were filed (Lampung time), in their present state."))
    out.append(workflow)

    note = Section("note", _("Problems and follow-up"), sheet=lazy_pgettext("sheet", "Problems and follow-up"))
    n = report.note or {}
    note.tables.append(Table("note", _("Problems and follow-up"), [], pairs=True, rows=[
        (_("Problems"), n.get("problems") or "", "text"),
        (_("Follow-up"), n.get("follow_up") or "", "text"),
        (_("Last written by"), n.get("updated_by") or "", "text"),
        (_("Last written at"), n.get("updated_at"), "datetime"),
    ]))
    out.append(note)
    return out


def _matrix_table(key, title, row_header, groups, group_labels, states, state_labels, counts) -> Table:
    columns = [Column("label", row_header)] + [Column(s, state_labels.get(s, s), "int") for s in states] + [
        Column("total", _("Total"), "int")]
    rows = [dict({s: counts["cells"].get((g, s), 0) for s in states}, label=str(group_labels.get(g, g)),
                 total=counts["by_group"].get(g, 0)) for g in groups]
    total = dict({s: counts["by_state"].get(s, 0) for s in states}, label=gettext("Total"), total=counts["total"])
    return Table(key, title, columns, rows, total=total)


# --- the workbook --------------------------------------------------------------------------------------

XLSX_FORMATS = dict(exports.XLSX_FORMATS, money=RUPIAH_XLSX, number="#,##0.00")


def _sheet_name(index: int, title: str, used: set) -> str:
    name = re.sub(r"[\[\]:*?/\\]", "-", f"{index}. {title}")[:31].rstrip()
    base, n = name, 2
    while name.lower() in used:
        name = f"{base[:28]} {n}"
        n += 1
    used.add(name.lower())
    return name


def write_workbook(report: lp2kd.Report, target) -> list[str]:
    """The report as an XLSX workbook in ``target`` (a path or binary file): one sheet per
    section, in the page's order; numbers, money (Rupiah format) and dates are typed cells.
    Returns the sheet names."""
    import xlsxwriter

    workbook = xlsxwriter.Workbook(target, {"in_memory": True, "strings_to_numbers": False,
                                            "strings_to_formulas": False, "strings_to_urls": False})
    bold = workbook.add_format({"bold": True})
    title_format = workbook.add_format({"bold": True, "font_size": 13})
    header_format = workbook.add_format({"bold": True, "bg_color": "#F2F2F2", "bottom": 1, "text_wrap": True,
                                         "valign": "top"})
    formats = {kind: workbook.add_format({"num_format": fmt}) for kind, fmt in XLSX_FORMATS.items()}
    total_formats = {kind: workbook.add_format({"num_format": fmt, "bold": True, "top": 1})
                     for kind, fmt in XLSX_FORMATS.items()}
    wrap = workbook.add_format({"text_wrap": True, "valign": "top"})
    heading = f"LP2KD — {report.area_name} — {_period_title(report)}"
    source = f"{gettext('Data source')}: {source_text(report)}"
    names, used = [], set()
    for index, section in enumerate(sections(report)):
        sheet = workbook.add_worksheet(_sheet_name(index + 1, str(section.sheet or section.title), used))
        names.append(sheet.name)
        sheet.write_string(0, 0, exports.defuse(heading), title_format)
        sheet.write_string(1, 0, exports.defuse(str(section.title)), bold)
        sheet.write_string(2, 0, exports.defuse(source))
        row, widths = 3, {}
        for table in section.tables:
            if len(section.tables) > 1 or table.title != section.title:
                sheet.write_string(row, 0, exports.defuse(str(table.title)), bold)
                row += 1
            if table.pairs:
                for label, value, kind in table.rows:
                    sheet.write_string(row, 0, exports.defuse(str(label)))
                    _cell(sheet, row, 1, value, kind, formats if kind != "text" else {"text": wrap})
                    widths[0] = max(widths.get(0, 10), min(len(str(label)) + 2, 60))
                    widths[1] = max(widths.get(1, 10), min(len(format_value(value, kind)) + 2, 80))
                    row += 1
            else:
                titles = exports.headers(table.columns)
                sheet.write_row(row, 0, titles, header_format)
                for i, (column, header) in enumerate(zip(table.columns, titles)):
                    widths[i] = max(widths.get(i, 8), exports.XLSX_WIDTHS.get(column.kind, 12), min(len(header) + 2, 40))
                row += 1
                for data in table.rows:
                    for i, column in enumerate(table.columns):
                        value = column.value(data)
                        _cell(sheet, row, i, value, column.kind, formats)
                        if column.kind == "text" and value:
                            widths[i] = max(widths[i], min(len(str(value)) + 2, 60))
                    row += 1
                if not table.rows and table.empty:
                    sheet.write_string(row, 0, exports.defuse(str(table.empty)))
                    row += 1
                if table.total is not None:
                    for i, column in enumerate(table.columns):
                        _cell(sheet, row, i, column.value(table.total), column.kind, total_formats)
                    row += 1
            row += 1
        for note in section.notes:
            sheet.write_string(row, 0, exports.defuse(str(note)))
            row += 1
        for i, width in widths.items():
            sheet.set_column(i, i, width)
    workbook.close()
    return names


def _cell(sheet, row: int, col: int, value, kind: str, formats) -> None:
    fmt = formats.get(kind)
    if value is None or value == "":
        return
    if kind in exports.NUMERIC_KINDS and isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        sheet.write_number(row, col, float(value), fmt)
    elif kind == "datetime" and isinstance(value, dt.datetime):
        sheet.write_datetime(row, col, value.astimezone(lp2kd.WIB).replace(tzinfo=None) if value.tzinfo else value,
                             fmt)
    elif kind in ("date", "datetime") and isinstance(value, dt.date):
        sheet.write_datetime(row, col, value, fmt)
    else:
        sheet.write_string(row, col, exports.defuse(str(value))[:exports.EXCEL_MAX_CELL], fmt)


# --- request arguments -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Choice:
    area: str                  # "province" or a regency code
    regency_id: Optional[int]  # None for the province
    area_name: str
    year: int
    period: str
    snapshot: Optional[int] = None  # the targeting snapshot read; None: each household's latest

    def args(self) -> dict:
        args = {"area": self.area, "year": self.year, "period": self.period}
        return args if self.snapshot is None else {**args, "snapshot": self.snapshot}


class ChoiceError(ValueError):
    def __init__(self, message: str, status: int = 400, argument: Optional[str] = None):
        super().__init__(message)
        self.message, self.status, self.argument = message, status, argument


def parse_snapshot(source) -> Optional[int]:
    """The ``snapshot`` argument: None (empty or absent) or the id of an existing targeting
    snapshot; ChoiceError (400, Indonesian) otherwise (the one parser: app/services/snapshot_arg.py)."""
    try:
        return snapshot_arg.parse_snapshot(source)
    except snapshot_arg.SnapshotArgError as exc:
        raise ChoiceError(exc.message, argument="snapshot") from None


def area_choices(scope: Scope) -> list[tuple[str, str]]:
    """(value, name) of the areas the user may report on: a regency-scoped user their regency;
    everyone else the province and every kabupaten/kota."""
    regencies = select(Regency.code, Regency.name).order_by(Regency.code)
    if scope.kind == "regency":
        regencies = regencies.where(Regency.id == scope.regency_id)
    out = [] if scope.kind == "regency" else [(PROVINCE, province_label())]
    return out + [(code, name) for code, name in db.session.execute(regencies).all()]


def province_label() -> str:
    from app.models.areas import Province

    name = db.session.execute(select(Province.name).order_by(Province.code).limit(1)).scalar() or "Lampung"
    return gettext("Province of %(name)s", name=name)


def parse_choice(args, scope: Scope, form=None) -> Choice:
    """The report asked for, checked; defaults: the user's regency (or the province), the year
    of the analysis screens, the annual period, each household's latest data."""
    source = form if form is not None else args
    snapshot = parse_snapshot(source)
    conn = guarded_connection()
    area = (source.get("area") or "").strip()
    if not area:
        area = PROVINCE
        if scope.kind == "regency":
            area = db.session.execute(select(Regency.code).where(Regency.id == scope.regency_id)).scalar() or PROVINCE
    if area == PROVINCE:
        regency_id, name = None, province_label()
    else:
        found = db.session.execute(select(Regency.id, Regency.name).where(Regency.code == area[:10])).first()
        if found is None:
            raise ChoiceError(gettext("area: there is no kabupaten/kota with the code \"%(code)s\"", code=area[:10]))
        regency_id, name = found
    if not lp2kd.may_report_on(scope, regency_id):
        raise ChoiceError(gettext("This report lies outside your area."), 403)
    raw_year = (source.get("year") or "").strip()
    if raw_year:
        if not raw_year.isdigit() or not 2000 <= int(raw_year) <= 2100:
            raise ChoiceError(gettext("year must be a year from 2000 to 2100, not \"%(value)s\"", value=raw_year[:10]))
        year = int(raw_year)
    else:
        year = lp2kd.default_year(conn, scope)
    period = (source.get("period") or "tahunan").strip()
    if period not in lp2kd.PERIODS:
        raise ChoiceError(gettext("period must be one of %(values)s, not \"%(value)s\"",
                                  values=", ".join(lp2kd.PERIODS), value=period[:20]))
    return Choice(area, regency_id, name, year, period, snapshot)


def year_choices(scope: Scope, year: int) -> list[int]:
    from gis import queries

    years = set(queries.analysis_years(guarded_connection(), scope)) | {year, dt.date.today().year}
    return sorted(years, reverse=True)


def _build(scope: Scope, choice: Choice) -> lp2kd.Report:
    report = lp2kd.build_report(guarded_connection(), scope, choice.regency_id, choice.year, choice.period,
                                choice.snapshot)
    report.area_name = choice.area_name  # "Province of Lampung" rather than the bare name
    return report


# --- the view --------------------------------------------------------------------------------------------

class Lp2kdView(BaseView):
    """The LP2KD report: page, printable page, workbook, and its free-text section."""

    route_base = "/lp2kd"
    default_view = "report"
    method_permission_name = {"report": "read", "printable": "read", "xlsx": "read", "note": "write"}

    def _choice(self, scope: Scope, form=None) -> Choice:
        try:
            return parse_choice(request.args, scope, form)
        except ChoiceError as exc:
            if exc.status == 403:
                abort(403)
            raise BadInput(exc.message) from None

    def _page(self, printable: bool):
        scope = current_scope()
        try:
            choice = parse_choice(request.args, scope)
        except ChoiceError as exc:
            if exc.status == 403:
                abort(403)
            if exc.argument == "snapshot":
                raise BadInput(exc.message) from None
            flash(exc.message, "danger")
            choice = parse_choice({"snapshot": request.args.get("snapshot")}, scope)
        report = _build(scope, choice)
        can_write = (not printable and lp2kd.note_writable(scope, choice.regency_id)
                     and self.appbuilder.sm.has_access("can_write", self.class_permission_name))
        return self.render_template(
            "reports/lp2kd.html", report=report, sections=sections(report), choice=choice, printable=printable,
            areas=area_choices(scope), years=year_choices(scope, choice.year), periods=list(PERIOD_LABELS.items()),
            snapshots=snapshot_choices(), source=source_text(report),
            period_title=_period_title(report), fmt=format_value, can_write=can_write,
            generated=datetime_text(dt.datetime.now(lp2kd.WIB)), today=dt.datetime.now(lp2kd.WIB).date(),
            audit_head="{1}:{2}".format(*audit.head(guarded_connection())),
            numeric=exports.NUMERIC_KINDS, title=gettext("LP2KD report"))

    @expose("/")
    @has_access
    def report(self):
        return self._page(printable=False)

    @expose("/print")
    @has_access
    def printable(self):
        return self._page(printable=True)

    @expose("/xlsx")
    @has_access
    def xlsx(self):
        scope = current_scope()
        choice = self._choice(scope)
        report = _build(scope, choice)
        buffer = io.BytesIO()
        write_workbook(report, buffer)
        buffer.seek(0)
        chosen = "" if report.snapshot_id is None else "_" + report.snapshot_label.replace(" ", "-")
        name = exports.safe_filename(f"LP2KD_{report.area_code}_{report.year}_{report.period}{chosen}.xlsx")
        response = send_file(buffer, mimetype=exports.XLSX_MIMETYPE, as_attachment=True, download_name=name,
                             max_age=0)
        response.headers["Cache-Control"] = "no-store"
        return response

    @expose("/note", methods=["POST"])
    @has_access
    def note(self):
        scope = current_scope()
        choice = self._choice(scope, form=request.form)
        back = url_for("Lp2kdView.report", **choice.args()) + "#section-note"
        user = self.appbuilder.sm.current_user
        try:
            lp2kd.save_note(db.session, scope, choice.regency_id, choice.year, choice.period,
                            request.form.get("problems"), request.form.get("follow_up"),
                            getattr(user, "username", "?"))
            db.session.commit()
        except ScopeError:
            db.session.rollback()
            abort(403)
        flash(gettext("The problems and follow-up of %(area)s, %(period)s were saved.", area=choice.area_name,
                      period=f"{PERIOD_LABELS[choice.period]} {choice.year}"), "success")
        return redirect(back)


def register(appbuilder) -> None:
    """The Reports menu: the LP2KD report."""
    appbuilder.add_view(Lp2kdView, "LP2KD", label=_("LP2KD report"), icon="fa-file-text-o", category="Reports",
                        category_label=_("Reports"), category_icon="fa-book")
