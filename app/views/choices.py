"""Translated choices for the enumerated columns (stored values stay stable codes)."""
from flask_babel import lazy_gettext as _

LEVEL_CHOICES = [("provinsi", _("Province")), ("kabupaten", _("Kabupaten/kota"))]
DOCUMENT_KIND_CHOICES = [("spkd", _("Poverty strategy (SPKD)")), ("pedoman", _("Program guideline document"))]
DOCUMENT_STATUS_CHOICES = [("belum", _("None")), ("penyusunan", _("Drafting")), ("selesai", _("Done"))]
CLUSTER_CHOICES = [(1, _("1 — basic services")), (2, _("2 — community empowerment")),
                   (3, _("3 — micro-enterprise empowerment"))]
SYNERGY_CHOICES = [
    ("a", _("a. Housing repair (BSPS / Bedah Rumah / RTLH)")),
    ("b", _("b. Women's economic empowerment")),
    ("c", _("c. Entrepreneurship training")),
    ("d", _("d. Facilities for farmers and fishers")),
    ("e", _("e. Community nutrition improvement")),
    ("f", _("f. Social protection for PMKS")),
    ("g", _("g. UMKM development")),
    ("h", _("h. Scholarships")),
    ("lainnya", _("Other")),
]
PROGRAM_STATUS_CHOICES = [("perencanaan", _("Planning")), ("berjalan", _("Running")), ("selesai", _("Finished")),
                          ("dibatalkan", _("Cancelled"))]
DESIL_CHOICES = [(1, "1"), (2, "2"), (3, "3"), (4, "4")]  # BDT 2015
# Any source's desil (DTSEN: 1-10); the rule of a row's own range is app/services/validation.py.
ANY_DESIL_CHOICES = [(value, str(value)) for value in range(1, 11)]
# A program's target source: none = BDT 2015, as the programs before DTSEN.
TARGET_SOURCE_CHOICES = [("", _("BDT 2015 (no source given)")), ("BDT 2015", "BDT 2015"), ("DTSEN", "DTSEN")]
SEX_CHOICES = [("L", _("Male (L)")), ("P", _("Female (P)"))]
RELATIONSHIP_CHOICES = [("kepala", _("Head")), ("istri/suami", _("Spouse")), ("anak", _("Child")),
                        ("menantu", _("Child-in-law")), ("cucu", _("Grandchild")), ("orang tua", _("Parent")),
                        ("mertua", _("Parent-in-law")), ("famili lain", _("Other relative")),
                        ("lainnya", _("Other"))]
ENROLMENT_STATUS_CHOICES = [("usulan", _("Proposed (usulan)")), ("ditetapkan", _("Decided (ditetapkan)")),
                            ("disalurkan", _("Delivered (disalurkan)")), ("ditolak", _("Rejected (ditolak)"))]
ZONE_BASIS_CHOICES = [("kewilayahan", _("Territory (kewilayahan)")), ("desil", _("Desil")), ("lainnya", _("Other"))]
PRIORITY_CHOICES = [(1, _("1 — highest")), (2, _("2")), (3, _("3"))]
PERIOD_CHOICES = [("maret", _("March")), ("september", _("September")), ("tahunan", _("Annual"))]


def select_field(label, choices, coerce=str, **kw):
    from flask_appbuilder.fieldwidgets import Select2Widget
    from wtforms import SelectField

    return SelectField(label, choices=choices, coerce=coerce, widget=Select2Widget(), **kw)


def choice_label(choices):
    """Formatter showing the translated label of a stored code."""
    mapping = dict(choices)
    return lambda value: mapping.get(value, value)


def snapshot_choices() -> list:
    """The targeting snapshots, the newest period first: the "Sumber data" choices of the
    household list, the analysis pages and the import form."""
    from sqlalchemy import select

    from app.extensions import db
    from app.models.snapshots import TargetingSnapshot

    return db.session.execute(select(TargetingSnapshot).order_by(TargetingSnapshot.period_start.desc(),
                                                                 TargetingSnapshot.id.desc())).scalars().all()
