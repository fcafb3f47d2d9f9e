"""Demo users (demo mode only). One password for all, from SINERGI_DEMO_PASSWORD.

admin (Admin), bappeda (Bappeda Provinsi), pimpinan (Pimpinan), two Operator TKPK per
kabupaten/kota, bound to it: the operator who enters data and proposes updates, named op +
code without dots (op1801 ... op1872), and the TKPK secretariat's verifier, ver + code
(ver1801 ... ver1872) — separation of duties (app/services/update_requests.py) lets nobody
verify a request they proposed, so each regency needs a second officer to check the first
one's proposals before Bappeda Provinsi approves them — and two
Petugas OPD bound to an agency, named opd_ + a short agency slug:
opd_dinsos (Dinas Sosial of the province) and opd_dinkop_lamtim (Dinas Koperasi dan UMKM
of Lampung Timur). The OPD users appear once their agencies exist (seeds/demo_domain.py).
"""
from __future__ import annotations

from sqlalchemy import select

from app.models.areas import Regency
from app.models.tkpk import Agency
from app.security import roles as R

# username, full name, agency name, agency's regency code (None = provincial agency)
OPD_USERS = [
    ("opd_dinsos", "Petugas Dinas Sosial Provinsi", "Dinas Sosial", None),
    ("opd_dinkop_lamtim", "Petugas Dinas Koperasi dan UMKM Lampung Timur", "Dinas Koperasi dan UMKM", "18.07"),
]


def _agency_id(session, name: str, regency_code: str | None) -> int | None:
    query = select(Agency.id).where(Agency.name == name)
    if regency_code is None:
        query = query.where(Agency.regency_id.is_(None))
    else:
        query = query.join(Regency, Regency.id == Agency.regency_id).where(Regency.code == regency_code)
    return session.execute(query.limit(1)).scalar()


def demo_user_specs(session) -> list[tuple[str, str, str, int | None, int | None]]:
    """(username, full name, role, regency_id, agency_id) for every demo user that can exist now."""
    specs = [("admin", "Administrator Sistem", R.ADMIN, None, None),
             ("bappeda", "Analis Bappeda Provinsi", R.BAPPEDA, None, None),
             ("pimpinan", "Pimpinan Daerah", R.PIMPINAN, None, None)]
    for rid, code, name in session.execute(select(Regency.id, Regency.code, Regency.name).order_by(Regency.code)):
        specs.append((f"op{code.replace('.', '')}", f"Operator TKPK {name}", R.OPERATOR, rid, None))
        specs.append((f"ver{code.replace('.', '')}", f"Verifikator TKPK {name}", R.OPERATOR, rid, None))
    for username, full_name, agency_name, regency_code in OPD_USERS:
        agency_id = _agency_id(session, agency_name, regency_code)
        if agency_id is not None:  # agencies come with the demo data
            specs.append((username, full_name, R.OPD, None, agency_id))
    return specs


def create_demo_users(sm, password: str) -> list[str]:
    """Create missing demo users; existing ones keep their password and role (idempotent)."""
    lines = []
    for username, full_name, role_name, regency_id, agency_id in demo_user_specs(sm.session):
        role = sm.find_role(role_name)
        if role is None:
            raise RuntimeError(f"peran {role_name} belum ada: jalankan dulu 'flask --app run sinergi init'")
        user = sm.find_user(username=username)
        if user is None:
            first, _, last = full_name.partition(" ")
            user = sm.add_user(username, first, last or "-", f"{username}@demo.sinergi.invalid", role,
                               password=password)
            if not user:
                raise RuntimeError(f"pengguna {username} tidak dapat dibuat")
            lines.append(f"pengguna {username} ({role_name}) dibuat")
        if user.regency_id != regency_id or user.agency_id != agency_id:
            user.regency_id = regency_id
            user.agency_id = agency_id
            sm.session.commit()
    return lines
