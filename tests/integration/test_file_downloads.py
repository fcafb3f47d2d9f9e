"""Uploaded files leave only through the view that owns them, in scope. FAB gives every
ModelView /<view>/download/<filename> serving any file at the top of UPLOAD_FOLDER; here only
the TKPK documents' view serves files, and only those of documents in the user's scope."""
from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from sqlalchemy import select

from app.models import Regency, TkpkDocument, TkpkInstitution
from tests.conftest import DEMO_PASSWORD


@pytest.fixture(scope="module")
def files(app):
    """A TKPK document of Lampung Timur (18.07) with its file, and a stray file beside it."""
    from app.extensions import db

    folder = Path(app.config["UPLOAD_FOLDER"])
    folder.mkdir(parents=True, exist_ok=True)
    document_name = f"{secrets.token_hex(8)}_sep_pedoman-lamtim.pdf"
    stray_name = f"{secrets.token_hex(8)}_sep_catatan.pdf"
    document_bytes = b"%PDF-1.4 pedoman TKPK Lampung Timur " + secrets.token_bytes(16)
    stray_bytes = b"%PDF-1.4 berkas lepas " + secrets.token_bytes(16)
    (folder / document_name).write_bytes(document_bytes)
    (folder / stray_name).write_bytes(stray_bytes)
    with app.app_context():
        regency = db.session.execute(select(Regency).where(Regency.code == "18.07")).scalar_one()
        inst = db.session.execute(select(TkpkInstitution).where(TkpkInstitution.regency_id == regency.id)).scalar()
        if inst is None:
            inst = TkpkInstitution(level="kabupaten", regency=regency, chair="Ketua Uji Berkas")
            db.session.add(inst)
        document = db.session.execute(select(TkpkDocument).where(TkpkDocument.institution == inst,
                                                                 TkpkDocument.kind == "pedoman")).scalar()
        if document is None:
            document = TkpkDocument(institution=inst, kind="pedoman", status="selesai")
            db.session.add(document)
        document.file = document_name
        db.session.commit()
    yield {"document": (document_name, document_bytes), "stray": (stray_name, stray_bytes)}
    (folder / document_name).unlink()
    (folder / stray_name).unlink()


def _client(app, username):
    client = app.test_client()
    assert client.post("/login/", data={"username": username, "password": DEMO_PASSWORD}).status_code == 302
    return client


@pytest.mark.parametrize("username,allowed", [("bappeda", True), ("op1807", True), ("op1801", False),
                                              ("pimpinan", False), ("opd_dinsos", False)])
def test_a_tkpk_document_downloads_only_in_scope(app, files, username, allowed):
    name, content = files["document"]
    r = _client(app, username).get(f"/tkpkdocumentview/download/{name}")
    if allowed:
        assert r.status_code == 200 and r.data == content
    else:
        assert r.status_code in (403, 404) and content not in r.data


def test_no_view_serves_a_stray_file_or_another_views_file(app, files):
    """Bappeda holds every permission on the domain views: still no other view hands out a
    TKPK document's file, and no view at all a file that belongs to no row."""
    from app.extensions import appbuilder
    from app.views.base import ScopedModelView

    client = _client(app, "bappeda")
    views = [v for v in appbuilder.baseviews if isinstance(v, ScopedModelView)]
    assert len(views) >= 10
    for view in views:
        for key, (name, content) in files.items():
            if key == "document" and view.route_base == "/tkpkdocumentview":
                continue
            r = client.get(f"{view.route_base}/download/{name}")
            assert r.status_code in (403, 404), (view.route_base, key, r.status_code)
            assert content not in r.data
