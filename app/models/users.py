"""The FAB user, extended with the area a user works in (an operator's kabupaten/kota)."""
from flask_appbuilder.security.sqla.models import User
from sqlalchemy import Column, ForeignKey, Integer
from sqlalchemy.orm import relationship


class SinergiUser(User):
    __tablename__ = "ab_user"
    regency_id = Column(Integer, ForeignKey("regency.id"), index=True)
    regency = relationship("Regency")
