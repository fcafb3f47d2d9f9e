"""Administrative areas: Province > Regency (kabupaten/kota) > District (kecamatan) > Village (desa/kelurahan).

Kemendagri codes are the natural keys (text, unique, format-checked). Geometry is
MULTIPOLYGON in EPSG:4326 with a GiST index (GeoAlchemy2 creates idx_<table>_geom).
"""
from __future__ import annotations

from flask_appbuilder import Model
from geoalchemy2 import Geometry
from sqlalchemy import CheckConstraint, Column, ForeignKey, Integer, Numeric, String
from sqlalchemy.orm import relationship

# One pattern per level; the importer normalises codes to this dotted form.
CODE_PATTERNS = {
    "province": r"^[0-9]{2}$",
    "regency": r"^[0-9]{2}\.[0-9]{2}$",
    "district": r"^[0-9]{2}\.[0-9]{2}\.[0-9]{2}$",
    "village": r"^[0-9]{2}\.[0-9]{2}\.[0-9]{2}\.[0-9]{4}$",
}
REGENCY_KINDS = ("kabupaten", "kota")
VILLAGE_KINDS = ("desa", "kelurahan")


def _code_check(level: str) -> CheckConstraint:
    return CheckConstraint(f"code ~ '{CODE_PATTERNS[level]}'", name="code_format")


class _Area:
    """Columns every level shares."""

    id = Column(Integer, primary_key=True)
    name = Column(String(150), nullable=False, index=True)
    area_km2 = Column(Numeric(12, 3))

    def __repr__(self) -> str:
        return f"{self.code} {self.name}"


class Province(_Area, Model):
    __tablename__ = "province"
    __table_args__ = (_code_check("province"),)
    code = Column(String(2), nullable=False, unique=True)
    geom = Column(Geometry("MULTIPOLYGON", srid=4326))


class Regency(_Area, Model):
    __tablename__ = "regency"
    __table_args__ = (
        _code_check("regency"),
        CheckConstraint("kind IN ('kabupaten', 'kota')", name="kind_valid"),
    )
    code = Column(String(5), nullable=False, unique=True)
    kind = Column(String(10), nullable=False)
    province_id = Column(Integer, ForeignKey("province.id"), nullable=False, index=True)
    province = relationship(Province)
    geom = Column(Geometry("MULTIPOLYGON", srid=4326), nullable=False)


class District(_Area, Model):
    __tablename__ = "district"
    __table_args__ = (_code_check("district"),)
    code = Column(String(8), nullable=False, unique=True)
    regency_id = Column(Integer, ForeignKey("regency.id"), nullable=False, index=True)
    regency = relationship(Regency)
    geom = Column(Geometry("MULTIPOLYGON", srid=4326), nullable=False)


class Village(_Area, Model):
    __tablename__ = "village"
    __table_args__ = (
        _code_check("village"),
        CheckConstraint("kind IN ('desa', 'kelurahan')", name="kind_valid"),
    )
    code = Column(String(13), nullable=False, unique=True)
    kind = Column(String(10), nullable=False)
    district_id = Column(Integer, ForeignKey("district.id"), nullable=False, index=True)
    district = relationship(District)
    geom = Column(Geometry("MULTIPOLYGON", srid=4326), nullable=False)

    @property
    def regency(self):
        return self.district.regency
