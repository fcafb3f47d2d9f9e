"""The FAB user, extended with where a user works: a kabupaten/kota (operators) or an agency (OPD)."""
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import Column, ForeignKey, Integer
from sqlalchemy.orm import relationship


class SinergiUser(User):
    __tablename__ = "ab_user"
    regency_id = Column(Integer, ForeignKey("regency.id"), index=True)
    regency = relationship("Regency")
    agency_id = Column(Integer, ForeignKey("agency.id"), index=True)  # a Petugas OPD's agency
    agency = relationship("Agency")
