"""Demo users (demo mode only). One password for all, from SINERGI_DEMO_PASSWORD.

admin (Admin), bappeda (Bappeda Provinsi), pimpinan (Pimpinan) and one operator per
kabupaten/kota, named op + code without dots (op1801 ... op1872), bound to it.
"""
from __future__ import annotations

from sqlalchemy import select

from app.models.areas import Regency
from app.security import roles as R


def demo_user_specs(session) -> list[tuple[str, str, str, int | None]]:
    """(username, full name, role, regency_id) for every demo user."""
    specs = [("admin", "Administrator Sistem", R.ADMIN, None),
             ("bappeda", "Analis Bappeda Provinsi", R.BAPPEDA, None),
             ("pimpinan", "Pimpinan Daerah", R.PIMPINAN, None)]
    for rid, code, name in session.execute(select(Regency.id, Regency.code, Regency.name).order_by(Regency.code)):
        specs.append((f"op{code.replace('.', '')}", f"Operator TKPK {name}", R.OPERATOR, rid))
    return specs


def create_demo_users(sm, password: str) -> list[str]:
    """Create missing demo users; existing ones are left as they are (idempotent)."""
    lines = []
    for username, full_name, role_name, regency_id in demo_user_specs(sm.session):
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
        if user.regency_id != regency_id:
            user.regency_id = regency_id
            sm.session.commit()
    return lines
