"""Public complaints: filing without a login, routing and deadline, the state machine with every
forbidden transition (generated from the transition table), scope (op1807 neither sees nor
acts on another regency's complaints), and abuse: a missing CSRF token, a flood from one IP,
an oversize, fake, damaged or decompression-bomb photo, the metadata of a photo (EXIF GPS,
XMP, comments, PNG text chunks: never stored; orientation applied), HTML/JS in the text, and
a ticket page that never shows another ticket.

CSRF and the rate limit are tested against real servers: the session's ``live_server``
(gunicorn, CSRF on) and gunicorns of this module with the rate limit on and set low, started
with the repository's gunicorn.conf.py like `make run`: one process, so one exact counter,
and forwarding headers trusted only with SINERGI_PROXY_HOPS. Distinct clients are distinct
loopback addresses (127.0.0.x), real TCP peers.
"""
from __future__ import annotations

import datetime as dt
import os
import re
import socket
import struct
import subprocess
import sys
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
from flask_babel import force_locale
from PIL import ExifTags, Image, ImageCms, PngImagePlugin
from sqlalchemy import select, text

from app.models.workflow import COMPLAINT_STATES
from app.services.complaints import TICKET_RE, TRANSITIONS
from app.services.update_requests import WorkflowError
from tests.conftest import DEMO_PASSWORD, ROOT, sql

OWN, OTHER = "18.07", "18.01"
ALL_PAIRS = [(a, b) for a in COMPLAINT_STATES for b in COMPLAINT_STATES]
FORBIDDEN = [pair for pair in ALL_PAIRS if pair not in TRANSITIONS]
XSS = '<script>alert("pgd")</script><img src=x onerror=alert(1)> & "kutip"'




def login(client, username: str) -> None:
    client.get("/logout/")
    r = client.post("/login/", data={"username": username, "password": DEMO_PASSWORD})
    assert r.status_code == 302 and "/login" not in r.headers.get("Location", ""), f"login {username} failed"
    client.get("/lang/en")


def anonymous(client) -> None:
    client.get("/logout/")
    client.get("/lang/en")


def body(response) -> str:
    return response.get_data(as_text=True)


def png(width: int = 2, height: int = 2) -> bytes:
    """A real PNG image (grey pixels)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def jpeg(padding: int = 0) -> bytes:
    """JPEG markers around ``padding`` bytes: enough for the signature check."""
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + b"\x00" * padding + b"\xff\xd9"


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_raw(width: int, height: int, idat: bytes, depth: int = 8) -> bytes:
    """A grey PNG with this IHDR and this IDAT content, valid CRCs: whatever Pillow's
    verify() accepts, with pixel data we choose."""
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, 0, 0, 0, 0))
            + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b""))


def png_bomb(width: int, height: int) -> bytes:
    """A real 1-bit PNG of width x height black pixels: a few kB that decode to width*height
    pixels (compressed row by row, so making it takes no memory)."""
    packer = zlib.compressobj(9)
    row = b"\x00" * (1 + (width + 7) // 8)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    return png_raw(width, height, idat, depth=1)


def png_chunk_types(data: bytes) -> list[bytes]:
    kinds, at = [], 8
    while at < len(data):
        length = struct.unpack(">I", data[at:at + 4])[0]
        kinds.append(data[at + 4:at + 8])
        at += 12 + length
    return kinds


RED, BLUE = (220, 20, 20), (20, 20, 220)


def phone_jpeg() -> bytes:
    """What a phone sends: a JPEG stored sideways (EXIF Orientation 6 = turn 90° clockwise to
    view) with the position in the GPS IFD, the make and model, XMP and a comment. Stored
    pixels: left half red, right half blue; seen upright: red on top, blue below."""
    image = Image.new("RGB", (80, 40), RED)
    image.paste(BLUE, (40, 0, 80, 40))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.Base.Make] = "PonselUji"
    exif[ExifTags.Base.Model] = "Seri-RAHASIA-42"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "S"
    gps[ExifTags.GPS.GPSLatitude] = (5.0, 25.0, 12.5)
    gps[ExifTags.GPS.GPSLongitudeRef] = "E"
    gps[ExifTags.GPS.GPSLongitude] = (105.0, 15.0, 30.0)
    out = BytesIO()
    image.save(out, "JPEG", quality=95, exif=exif, comment=b"komentar-RAHASIA",
               xmp=b'<x:xmpmeta xmlns:x="adobe:ns:meta/">xmp-RAHASIA</x:xmpmeta>')
    data = out.getvalue()
    check = Image.open(BytesIO(data))  # the test image really carries what the test says
    assert check.getexif().get_ifd(ExifTags.IFD.GPSInfo)[ExifTags.GPS.GPSLatitude] == (5.0, 25.0, 12.5)
    assert {"exif", "xmp", "comment"} <= set(check.info)
    return data


def stored_photo(app, ticket) -> tuple[str, bytes]:
    relative = sql(app, "SELECT photo FROM complaint WHERE ticket = :t", t=ticket)[0][0]
    return relative, (Path(app.config["UPLOAD_FOLDER"]) / relative).read_bytes()


@pytest.fixture(scope="module")
def client(app):
    return app.test_client()


@pytest.fixture(scope="module")
def areas(app):
    def village(code):
        return sql(app, """SELECT v.id, d.id, r.id FROM village v JOIN district d ON d.id = v.district_id
                           JOIN regency r ON r.id = d.regency_id WHERE r.code = :c ORDER BY v.code LIMIT 1""",
                   c=code)[0]

    own, other = village(OWN), village(OTHER)
    point = sql(app, "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM village WHERE id = :v) s",
                v=own[0])[0]
    return {"village": own[0], "district": own[1], "regency": own[2], "other_village": other[0],
            "other_regency": other[2], "lon": round(point[0], 6), "lat": round(point[1], 6)}


def form_data(areas, **overrides):
    data = {"category": "tidak_terdata", "regency": str(areas["regency"]), "district": str(areas["district"]),
            "village": str(areas["village"]), "description": "Keluarga Bapak Uji miskin tetapi belum terdata.",
            "contact": "0812-0000-0000"}
    data.update(overrides)
    return data


def file_complaint(client, areas, photo=None, **overrides):
    anonymous(client)
    data = form_data(areas, **overrides)
    if photo is not None:
        data["photo"] = (BytesIO(photo[1]), photo[0])
    return client.post("/pengaduan/", data=data, content_type="multipart/form-data")


def filed(client, areas, **overrides) -> str:
    r = file_complaint(client, areas, **overrides)
    assert r.status_code == 302, body(r)[:3000]
    ticket = r.headers["Location"].rstrip("/").rsplit("/", 1)[1]
    assert TICKET_RE.match(ticket), ticket
    page = body(client.get(r.headers["Location"]))  # the filer sees the code once, in a message
    assert "Your ticket code is" in page and ticket in page
    return ticket


def complaint_id(app, ticket) -> int:
    return sql(app, "SELECT id FROM complaint WHERE ticket = :t", t=ticket)[0][0]


def make_complaint(app, areas, state="baru", regency=OWN, **values) -> int:
    """A complaint straight in the database, in any state."""
    from app.services.complaints import new_ticket

    village = areas["village"] if regency == OWN else areas["other_village"]
    regency_id = areas["regency"] if regency == OWN else areas["other_regency"]
    row = {"t": new_ticket(), "c": "lainnya", "v": village, "r": regency_id, "d": "Keluhan uji", "s": state,
           "dl": dt.date.today() + dt.timedelta(days=14), **values}
    return sql(app, """INSERT INTO complaint (ticket, category, village_id, regency_id, description, state, deadline)
                       VALUES (:t, :c, :v, :r, :d, :s, :dl) RETURNING id""", **row)[0][0]


def state_of(app, pk) -> str:
    return sql(app, "SELECT state FROM complaint WHERE id = :i", i=pk)[0][0]


def user(username):
    from app.extensions import appbuilder

    return appbuilder.sm.find_user(username=username)


class _Ids:
    """user_ids.op1807 -> the id of the user op1807."""

    def __init__(self):
        self.app = None

    def __getattr__(self, username):
        return sql(self.app, "SELECT id FROM ab_user WHERE username = :u", u=username)[0][0]


user_ids = _Ids()


@pytest.fixture(scope="module", autouse=True)
def _bind_ids(app):
    user_ids.app = app


def service(app, pk, action, username, **kwargs):
    """Run a complaints service function as ``username``; the error message or None (committed)."""
    from app.extensions import db
    from app.models.workflow import Complaint
    from app.services import complaints

    with app.app_context(), force_locale("en"):
        try:
            getattr(complaints, action)(db.session, db.session.get(Complaint, pk), *kwargs.pop("args", ()),
                                        user=user(username), **kwargs)
            db.session.commit()
        except WorkflowError as exc:
            db.session.rollback()
            return str(exc)
    return None


# --- filing ----------------------------------------------------------------------------------------

def test_a_complaint_is_filed_without_login_routed_and_given_a_deadline(app, client, areas):
    anonymous(client)
    r = client.get("/pengaduan/")
    assert r.status_code == 200 and 'id="complaint-form"' in body(r)
    ticket = filed(client, areas, latitude=str(areas["lat"]), longitude=str(areas["lon"]))
    row = sql(app, """SELECT regency_id, state, deadline, created_at, ST_X(location), ST_Y(location), contact
                      FROM complaint WHERE ticket = :t""", t=ticket)[0]
    assert row[0] == areas["regency"] and row[1] == "baru"
    assert row[2] == (row[3].astimezone(dt.timezone(dt.timedelta(hours=7))).date() + dt.timedelta(days=14))
    assert (round(row[4], 6), round(row[5], 6)) == (areas["lon"], areas["lat"])
    r = client.get(f"/pengaduan/tiket/{ticket}")
    assert r.status_code == 200 and ticket in body(r)


def test_tickets_are_random_not_sequential(app, client, areas):
    tickets = [filed(client, areas) for _ in range(4)]
    assert len(set(tickets)) == 4 and all(TICKET_RE.match(t) for t in tickets)
    bodies = [t[4:] for t in tickets]
    # consecutive complaints share no prefix or suffix the way a counter would
    assert len({b[:6] for b in bodies}) == 4 and len({b[-6:] for b in bodies}) == 4


def test_the_deadline_follows_the_category_setting(app, client, areas):
    days = app.config["COMPLAINT_DEADLINE_DAYS"]
    saved = dict(days)
    days["bantuan_tidak_diterima"] = 7
    try:
        ticket = filed(client, areas, category="bantuan_tidak_diterima")
    finally:
        days.clear()
        days.update(saved)
    deadline, created = sql(app, "SELECT deadline, created_at FROM complaint WHERE ticket = :t", t=ticket)[0]
    assert deadline == created.astimezone(dt.timezone(dt.timedelta(hours=7))).date() + dt.timedelta(days=7)


def test_missing_fields_are_named_and_the_input_kept(app, client, areas):
    before = sql(app, "SELECT count(*) FROM complaint")[0][0]
    r = file_complaint(client, areas, category="", village="", description="pendek")
    page = body(r)
    assert r.status_code == 200
    assert 'data-field="category"' in page and 'data-field="village"' in page and 'data-field="description"' in page
    assert "pendek" in page and "0812-0000-0000" in page  # what was typed stays
    r = file_complaint(client, areas, latitude="-5.1")
    assert 'data-field="location"' in body(r)
    r = file_complaint(client, areas, latitude="5.0", longitude="100.0")  # Malaysia, not Lampung
    assert 'data-field="location"' in body(r) and "outside Lampung" in body(r)
    assert sql(app, "SELECT count(*) FROM complaint")[0][0] == before


# --- photos ----------------------------------------------------------------------------------------

def test_a_real_photo_is_kept_and_shown_only_to_staff_in_scope(app, client, areas):
    image = png()
    ticket = filed(client, areas, photo=("rumah.png", image))
    pk = complaint_id(app, ticket)
    stored = sql(app, "SELECT photo FROM complaint WHERE id = :i", i=pk)[0][0]
    assert re.fullmatch(r"complaints/[0-9a-f]{32}\.png", stored)
    anonymous(client)
    assert client.get(f"/complaintview/photo/{pk}").status_code in (302, 401)  # to the login page
    login(client, "op1807")
    r = client.get(f"/complaintview/photo/{pk}")
    assert r.status_code == 200 and r.mimetype == "image/png"
    shown, sent = Image.open(BytesIO(r.data)), Image.open(BytesIO(image))
    assert (shown.size, shown.mode, shown.tobytes()) == (sent.size, sent.mode, sent.tobytes())  # lossless
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    login(client, "op1801")
    assert client.get(f"/complaintview/photo/{pk}").status_code == 404
    login(client, "pimpinan")
    assert client.get(f"/complaintview/photo/{pk}").status_code == 403


def test_a_phone_photo_is_stored_upright_without_exif_gps_xmp_or_comment(app, client, areas):
    ticket = filed(client, areas, photo=("IMG_0001.JPG", phone_jpeg()))
    relative, data = stored_photo(app, ticket)
    assert relative.endswith(".jpg")
    for secret in (b"Exif", b"PonselUji", b"RAHASIA", b"xmpmeta", b"http://ns.adobe.com"):
        assert secret not in data, secret
    assert b"\xff\xe1" not in data  # no APP1 segment at all (EXIF and XMP live there)
    stored = Image.open(BytesIO(data))
    assert stored.format == "JPEG" and not stored.getexif() and not {"exif", "xmp", "comment"} & set(stored.info)
    # upright: the orientation was applied to the pixels (no tag is left to do it)
    assert stored.size == (40, 80)
    top, bottom = stored.getpixel((20, 10)), stored.getpixel((20, 70))
    assert all(abs(a - b) < 30 for a, b in zip(top, RED)) and all(abs(a - b) < 30 for a, b in zip(bottom, BLUE))


def test_a_png_loses_its_text_chunks_exif_and_colour_profile(app, client, areas):
    image = Image.new("RGB", (30, 20), (10, 120, 200))
    image.paste((250, 250, 0), (0, 0, 10, 20))
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "alamat-RAHASIA")  # tEXt
    info.add_text("Author", "nama-RAHASIA", zip=True)  # zTXt
    info.add_itxt("Description", "posisi-RAHASIA", lang="id")  # iTXt
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "PonselUji"  # an Exif with only a GPS IFD counts as empty for save()
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef], gps[ExifTags.GPS.GPSLatitude] = "S", (5.0, 25.0, 12.5)
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = BytesIO()
    image.save(out, "PNG", pnginfo=info, exif=exif, icc_profile=srgb)
    sent = out.getvalue()
    assert {b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"iCCP"} <= set(png_chunk_types(sent))
    ticket = filed(client, areas, photo=("rumah.png", sent))
    _, data = stored_photo(app, ticket)
    assert png_chunk_types(data)[0] == b"IHDR" and set(png_chunk_types(data)) == {b"IHDR", b"IDAT", b"IEND"}
    assert b"RAHASIA" not in data and b"PonselUji" not in data
    stored = Image.open(BytesIO(data))
    assert not stored.getexif() and stored.size == (30, 20) and stored.tobytes() == image.tobytes()  # the same pixels


def test_a_photo_too_large_in_pixels_is_refused(app, client, areas):
    """The pixel limit is ours (COMPLAINT_PHOTO_MAX_PIXELS), below Pillow's own bomb limit."""
    assert app.config["COMPLAINT_PHOTO_MAX_PIXELS"] == 40_000_000
    before = sql(app, "SELECT count(*) FROM complaint")[0][0]
    r = file_complaint(client, areas, photo=("besar.png", png_bomb(8000, 6000)))  # 48 MP in 6 kB
    page = body(r)
    assert 'data-field="photo"' in page and "too many pixels (48 megapixels; at most 40)" in page, page[:3000]
    saved = app.config["COMPLAINT_PHOTO_MAX_PIXELS"]
    app.config["COMPLAINT_PHOTO_MAX_PIXELS"] = 100
    try:
        r = file_complaint(client, areas, photo=("rumah.png", png(20, 10)))
    finally:
        app.config["COMPLAINT_PHOTO_MAX_PIXELS"] = saved
    assert "too many pixels" in body(r)
    assert sql(app, "SELECT count(*) FROM complaint")[0][0] == before


GREY_ROWS = b"".join(b"\x00" + b"\x80" * 16 for _ in range(16))


@pytest.mark.parametrize("name,data,reason", [
    ("rumah.jpg", b"<html><body><script>alert(1)</script></body></html>", "not a real"),
    ("rumah.png", jpeg(), "not a real"),  # a JPEG named .png
    ("rumah.gif", b"GIF89a" + b"\x00" * 20, "only JPG, PNG"),
    ("rumah.svg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "only JPG, PNG"),
    ("besar.jpg", jpeg(5 * 1024 * 1024 + 1), "too large"),
    ("rumah.jpg", jpeg(2000), "not a real"),  # JPEG markers around zeros: nothing to decode
    ("rumah.png", png(40, 40)[:60], "not a real"),  # cut off: no IEND, CRC of IDAT wrong
    ("rumah.png", png_raw(16, 16, b"not a zlib stream" * 4), "cannot be read"),  # well-formed chunks, garbage pixels
    ("rumah.png", png_raw(16, 16, zlib.compress(GREY_ROWS[:40])), "cannot be read"),  # 2 rows of 16
    ("bom.png", png_bomb(20000, 20000), "too many pixels (400 megapixels; at most 40)"),  # 48 kB -> 400 MP
    ("bom.png", png_raw(60000, 60000, zlib.compress(b"\x00" * 64)), "too many pixels (3600 megapixels"),
], ids=["html-as-jpg", "jpeg-as-png", "gif", "svg", "oversize", "jpeg-no-image", "png-truncated",
        "png-garbage-pixels", "png-missing-rows", "png-bomb", "png-bomb-header"])
def test_a_fake_or_oversize_photo_is_refused_with_a_message(app, client, areas, name, data, reason):
    before = sql(app, "SELECT count(*) FROM complaint")[0][0]
    files_before = set((Path(app.config["UPLOAD_FOLDER"]) / "complaints").glob("*"))
    r = file_complaint(client, areas, photo=(name, data))
    page = body(r)
    assert r.status_code == 200 and 'data-field="photo"' in page and reason in page, page[:500]
    assert sql(app, "SELECT count(*) FROM complaint")[0][0] == before
    assert set((Path(app.config["UPLOAD_FOLDER"]) / "complaints").glob("*")) == files_before


# --- escaping and the ticket page -----------------------------------------------------------------

def test_html_in_the_text_is_shown_escaped_to_staff(app, client, areas):
    ticket = filed(client, areas, description=XSS, contact='<b onmouseover="x()">kontak</b>')
    pk = complaint_id(app, ticket)
    login(client, "op1807")
    page = body(client.get(f"/complaintview/show/{pk}"))
    assert '<script>alert("pgd")' not in page and "<img src=x" not in page and '<b onmouseover' not in page
    assert "&lt;script&gt;alert(&#34;pgd&#34;)&lt;/script&gt;" in page or "&lt;script&gt;alert(&quot;pgd&quot;)" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    # the resolution, written by staff and shown to the public, is escaped too
    assert service(app, pk, "transition", "op1807", args=("diproses",)) is None
    assert service(app, pk, "transition", "op1807", args=("selesai",), resolution="<i>sudah</i> didata") is None
    anonymous(client)
    public = body(client.get(f"/pengaduan/tiket/{ticket}"))
    assert "&lt;i&gt;sudah&lt;/i&gt; didata" in public and "<i>sudah</i>" not in public


def test_the_ticket_page_shows_one_ticket_and_nothing_else(app, client, areas):
    first = filed(client, areas, description="Deskripsi rahasia pertama", contact="kontak-pertama@uji.invalid")
    second = filed(client, areas, description="Deskripsi rahasia kedua", contact="kontak-kedua@uji.invalid",
                   category="bantuan_tidak_diterima")
    second_pk = complaint_id(app, second)
    for step, kwargs in (("diproses", {}), ("selesai", {"resolution": "Penyelesaian kedua"})):
        assert service(app, second_pk, "transition", "op1807", args=(step,), **kwargs) is None
    anonymous(client)
    page = body(client.get(f"/pengaduan/tiket/{first}"))
    assert first in page
    for leak in (second, "Deskripsi rahasia", "kontak-pertama", "kontak-kedua", "Penyelesaian kedua"):
        assert leak not in page, leak
    page = body(client.get(f"/pengaduan/tiket/{second}"))
    assert "Penyelesaian kedua" in page and "Resolved" in page and "Aid not received" in page
    assert first not in page and "Deskripsi rahasia" not in page and "kontak-kedua" not in page
    assert client.get(f"/pengaduan/tiket/?kode={first.lower()}").status_code == 200  # typed in lower case


def test_unknown_and_malformed_codes_get_the_same_answer(app, client, areas):
    anonymous(client)
    ticket = filed(client, areas)
    anonymous(client)
    answers = []
    for code in ("PGD-0000000000", ticket[:-1] + ("0" if ticket[-1] != "0" else "1"), "PGD-123", "../../etc/passwd",
                 "' OR 1=1 --", "x" * 200, str(complaint_id(app, ticket))):
        r = client.get("/pengaduan/tiket/", query_string={"kode": code})
        answers.append((r.status_code, re.sub(r'name="csrf_token"[^>]*', "", body(r))))
    assert {a[0] for a in answers} == {404}
    assert len({a[1] for a in answers}) == 1
    assert ticket not in answers[0][1]


# --- CSRF and the rate limit on real servers -------------------------------------------------------

def _csrf(session: requests.Session, url: str) -> str:
    r = session.get(url)
    assert r.status_code == 200
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', r.text).group(1)


def test_a_post_without_the_csrf_token_is_refused(app, live_server, areas):
    session = requests.Session()
    before = sql(app, "SELECT count(*) FROM complaint")[0][0]
    token = _csrf(session, f"{live_server}/pengaduan/")
    r = session.post(f"{live_server}/pengaduan/", data=form_data(areas), allow_redirects=False)
    assert r.status_code == 400 and "CSRF" in r.text
    r = requests.post(f"{live_server}/pengaduan/", data={**form_data(areas), "csrf_token": token},
                      allow_redirects=False)  # a token without its session (another site's form)
    assert r.status_code == 400
    assert sql(app, "SELECT count(*) FROM complaint")[0][0] == before
    r = session.post(f"{live_server}/pengaduan/", data={**form_data(areas), "csrf_token": token},
                     allow_redirects=False)
    assert r.status_code == 302 and "/pengaduan/tiket/PGD-" in r.headers["Location"]


class _FromAddress(requests.adapters.HTTPAdapter):
    """Connect from this local address: 127.0.0.x are distinct real clients to the server."""

    def __init__(self, address: str):
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def client_at(address: str) -> requests.Session:
    session = requests.Session()
    session.mount("http://", _FromAddress(address))
    return session


def _gunicorn(name: str, *args: str, wait_for: str = "/pengaduan/", **env):
    """Start the app with gunicorn like `make run` (the repository's gunicorn.conf.py, read by
    gunicorn from the working directory; the command line adds ``args``), the rate limit on
    and set low. Returns the server (url, process, log path) once it answers."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "RATELIMIT_ENABLED": "1", "SINERGI_COMPLAINT_RATE_LIMIT": "3 per minute",
           "SINERGI_COMPLAINT_LOOKUP_RATE_LIMIT": "5 per minute", **env}
    log_path = ROOT / "test-artifacts" / f"{name}.log"
    log = open(log_path, "w")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "--bind", f"127.0.0.1:{port}", *args,
                             "run:app"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            requests.get(url + wait_for, timeout=2)
            break
        except requests.RequestException:
            if proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited; see {log_path}")
            time.sleep(0.5)
    return SimpleNamespace(url=url, proc=proc, log=log_path)


def _stop(server) -> None:
    server.proc.terminate()
    server.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def limited_server(app):
    """The default deployment: gunicorn.conf.py decides the processes (memory:// storage)."""
    server = _gunicorn("limited_server")
    yield server
    _stop(server)


@pytest.fixture(scope="module")
def proxied_server(app):
    """The same behind one reverse proxy (SINERGI_PROXY_HOPS=1); the test plays the proxy."""
    server = _gunicorn("proxied_server", SINERGI_PROXY_HOPS="1")
    yield server
    _stop(server)


def worker_pids(master_pid: int) -> list[int]:
    """The processes gunicorn's master forked (from /proc: real processes, not settings)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master_pid:
            children.append(int(stat.parent.name))
    return children


def _bad_form(session: requests.Session, url: str, areas) -> dict:
    """The form with a valid CSRF token and a refused description: it counts against the
    limit and stores nothing."""
    session.get(f"{url}/lang/en")
    return {**form_data(areas, description=""), "csrf_token": _csrf(session, f"{url}/pengaduan/")}


def test_a_flood_from_one_ip_gets_429(app, limited_server, areas):
    url = limited_server.url
    session = requests.Session()
    bad = _bad_form(session, url, areas)
    codes = [session.post(f"{url}/pengaduan/", data=bad, allow_redirects=False).status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429], codes
    r = session.post(f"{url}/pengaduan/", data=bad, headers={"X-Forwarded-For": "203.0.113.9"})
    assert r.status_code == 429  # a forged forwarding header does not reset the counter
    assert "Terlalu banyak permintaan" in r.text
    assert session.get(f"{url}/pengaduan/").status_code == 200  # reading the form is not limited
    lookups = [session.get(f"{url}/pengaduan/tiket/", params={"kode": "PGD-0000000000"}).status_code
               for _ in range(6)]
    assert lookups[:5] == [404] * 5 and lookups[5] == 429, lookups  # guessing tickets is limited too


def test_forged_forwarding_headers_never_reset_the_limit_without_a_proxy(app, limited_server, areas):
    """SINERGI_PROXY_HOPS=0 (default): the address is the TCP peer, whatever the headers say."""
    url = limited_server.url
    session = client_at("127.0.0.2")
    bad = _bad_form(session, url, areas)
    forged = [{"X-Forwarded-For": f"198.51.100.{i}"} for i in range(1, 4)] + [
        {"X-Forwarded-For": "198.51.100.77, 198.51.100.78"}, {"X-Real-IP": "198.51.100.79"},
        {"Forwarded": "for=198.51.100.80"}, {"X-Forwarded-For": "127.0.0.1"}]
    codes = [session.post(f"{url}/pengaduan/", data=bad, headers=h, allow_redirects=False).status_code
             for h in forged]
    assert codes == [200, 200, 200] + [429] * 4, codes  # one counter: 127.0.0.2's


def test_the_default_server_is_one_process_so_one_exact_counter(app, limited_server, areas):
    """With the memory:// storage gunicorn.conf.py runs one process (threads for concurrency):
    every request of an address meets the same counter, even ten at the same moment."""
    assert len(worker_pids(limited_server.proc.pid)) == 1
    log = limited_server.log.read_text()
    assert "Rate limits counted in memory:// by 1 process(es) x 8 thread(s)" in log and "gthread" in log
    url = limited_server.url
    first = client_at("127.0.0.3")
    bad = _bad_form(first, url, areas)

    def post(_):
        session = client_at("127.0.0.3")
        session.cookies.update(first.cookies)
        return session.post(f"{url}/pengaduan/", data=bad, allow_redirects=False).status_code

    with ThreadPoolExecutor(max_workers=10) as pool:
        codes = sorted(pool.map(post, range(10)))
    assert codes == [200] * 3 + [429] * 7, codes
    assert client_at("127.0.0.4").get(f"{url}/pengaduan/").status_code == 200  # another address is not limited


def test_behind_one_proxy_forwarded_clients_are_limited_separately(app, proxied_server, areas):
    """SINERGI_PROXY_HOPS=1: the address the proxy appended is the client's; one entry only,
    so what a client wrote in front of it changes nothing."""
    url = proxied_server.url
    proxy = requests.Session()
    bad = _bad_form(proxy, url, areas)

    def post(forwarded_for):
        return proxy.post(f"{url}/pengaduan/", data=bad, headers={"X-Forwarded-For": forwarded_for},
                          allow_redirects=False).status_code

    assert [post("203.0.113.10") for _ in range(4)] == [200, 200, 200, 429]
    assert post("203.0.113.20") == 200  # another client behind the same proxy
    assert post("198.51.100.1, 203.0.113.10") == 429  # a forged first entry does not help client .10
    assert [post("203.0.113.20") for _ in range(3)] == [200, 200, 429]


def test_several_workers_with_memory_storage_get_a_warning(app):
    """Someone who overrides the workers without a shared storage is told the limits multiply."""
    server = _gunicorn("warned_server", "--workers", "2", wait_for="/login/")
    try:
        log = server.log.read_text()
    finally:
        _stop(server)
    assert "Rate limits are counted in memory:// by each of the 2 worker processes" in log, log[-3000:]


# --- the state machine and scope -------------------------------------------------------------------

def test_the_table_is_what_the_issue_describes():
    assert set(TRANSITIONS) == {("baru", "diproses"), ("baru", "ditolak"), ("diproses", "selesai"),
                                ("diproses", "ditolak")}


@pytest.mark.parametrize("from_state,to_state", FORBIDDEN, ids=[f"{a}->{b}" for a, b in FORBIDDEN])
def test_every_forbidden_transition_is_refused(app, client, areas, from_state, to_state):
    pk = make_complaint(app, areas, from_state)
    message = service(app, pk, "transition", "admin", args=(to_state,), resolution="catatan",
                      handler_id=user_ids.op1807)
    assert message and "cannot go to" in message, message
    assert state_of(app, pk) == from_state
    login(client, "op1807")
    r = client.post(f"/complaintview/transition/{pk}", data={"to_state": to_state, "resolution": "catatan"},
                    follow_redirects=True)
    assert r.status_code == 200 and "cannot go to" in body(r)
    assert state_of(app, pk) == from_state


def test_resolving_or_rejecting_needs_a_resolution(app, areas):
    for from_state, to_state in (("baru", "ditolak"), ("diproses", "selesai"), ("diproses", "ditolak")):
        pk = make_complaint(app, areas, from_state, handler_id=user_ids.op1807)
        message = service(app, pk, "transition", "op1807", args=(to_state,), resolution=" ")
        assert message and "resolution" in message
        assert state_of(app, pk) == from_state


def test_the_handler_is_a_user_of_the_complaints_regency(app, areas):
    pk = make_complaint(app, areas)
    message = service(app, pk, "transition", "bappeda", args=("diproses",))  # Bappeda has no regency
    assert message and "Choose the handler" in message
    message = service(app, pk, "transition", "bappeda", args=("diproses",), handler_id=user_ids.op1801)
    assert message and "of the complaint's regency" in message
    assert service(app, pk, "transition", "bappeda", args=("diproses",), handler_id=user_ids.op1807) is None
    assert sql(app, "SELECT handler_id FROM complaint WHERE id = :i", i=pk)[0][0] == user_ids.op1807
    message = service(app, pk, "assign", "op1807", args=(user_ids.op1801,))
    assert message and "of the complaint's regency" in message


def test_an_operator_neither_sees_nor_acts_on_another_regency(app, client, areas):
    other = make_complaint(app, areas, regency=OTHER, description="Keluhan Lampung Selatan")
    own = make_complaint(app, areas, description="Keluhan Lampung Timur")
    other_ticket = sql(app, "SELECT ticket FROM complaint WHERE id = :i", i=other)[0][0]
    login(client, "op1807")
    listing = body(client.get("/complaintview/list/?psize_ComplaintView=100"))
    assert other_ticket not in listing
    assert client.get(f"/complaintview/show/{other}").status_code == 404
    for path in (f"/complaintview/transition/{other}", f"/complaintview/assign/{other}",
                 f"/complaintview/update_request/{other}"):
        assert client.post(path, data={"to_state": "diproses", "kind": "baru", "handler_id": ""}).status_code == 404
    assert client.get(f"/complaintview/photo/{other}").status_code == 404
    assert state_of(app, other) == "baru"
    message = service(app, other, "transition", "op1807", args=("diproses",))
    assert message and "outside your area" in message
    assert client.get(f"/complaintview/show/{own}").status_code == 200
    login(client, "pimpinan")
    assert client.get(f"/complaintview/show/{other}").status_code == 200  # read-only, province-wide
    assert client.post(f"/complaintview/transition/{other}", data={"to_state": "diproses"}).status_code == 403


def test_contact_is_shown_to_operators_and_hidden_from_pimpinan(app, client, areas):
    ticket = filed(client, areas, contact="0813-9999-1234")
    pk = complaint_id(app, ticket)
    login(client, "op1807")
    assert "0813-9999-1234" in body(client.get(f"/complaintview/show/{pk}"))
    login(client, "pimpinan")
    page = body(client.get(f"/complaintview/show/{pk}"))
    assert "0813-9999-1234" not in page and "(hidden)" in page


def test_anonymous_users_reach_only_the_public_pages(app, client):
    anonymous(client)
    for path in ("/complaintview/list/", "/updaterequestview/list/", "/auditlogview/list/"):
        r = client.get(path)
        assert r.status_code == 302 and "/login" in r.headers["Location"], path
    from app.extensions import appbuilder

    with app.app_context():
        role = appbuilder.sm.find_role("Public")
        views = {pv.view_menu.name for pv in role.permissions if pv.permission.name != "menu_access"}
    assert views - {"LocaleView"} == {"PublicComplaintView", "PublicTicketView"}


# --- the staff side ---------------------------------------------------------------------------------

def test_an_operator_handles_a_complaint_and_the_public_sees_the_result(app, client, areas):
    ticket = filed(client, areas)
    pk = complaint_id(app, ticket)
    mark = sql(app, "SELECT coalesce(max(id), 0) FROM audit_log")[0][0]
    login(client, "op1807")
    r = client.post(f"/complaintview/transition/{pk}", data={"to_state": "diproses"}, follow_redirects=True)
    assert state_of(app, pk) == "diproses", body(r)[:2000]
    assert sql(app, "SELECT handler_id FROM complaint WHERE id = :i", i=pk)[0][0] == user_ids.op1807
    r = client.post(f"/complaintview/transition/{pk}",
                    data={"to_state": "selesai", "resolution": "Rumah tangga diusulkan masuk DTKS."})
    assert state_of(app, pk) == "selesai"
    rows = sql(app, "SELECT action, entity, entity_id, after->>'state', username FROM audit_log WHERE id > :m "
                    "ORDER BY id", m=mark)
    assert rows == [("handle", "complaint", pk, "diproses", "op1807"), ("resolve", "complaint", pk, "selesai",
                                                                        "op1807")]
    anonymous(client)
    page = body(client.get(f"/pengaduan/tiket/{ticket}"))
    assert "Resolved" in page and "Rumah tangga diusulkan masuk DTKS." in page


def test_a_data_update_request_is_made_from_a_complaint(app, client, areas):
    ticket = filed(client, areas, category="tidak_terdata")
    pk = complaint_id(app, ticket)
    login(client, "op1807")
    r = client.post(f"/complaintview/update_request/{pk}", data={"kind": "baru"})
    assert r.status_code == 302 and "/updaterequestview/edit/" in r.headers["Location"], body(r)[:2000]
    request_id = int(r.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    assert sql(app, "SELECT update_request_id FROM complaint WHERE id = :i", i=pk)[0][0] == request_id
    kind, state, proposed, note = sql(app, "SELECT kind, state, proposed, note FROM update_request WHERE id = :i",
                                      i=request_id)[0]
    assert (kind, state, proposed["village_id"]) == ("baru", "draft", areas["village"]) and ticket in note
    assert f"/updaterequestview/show/{request_id}" in body(client.get(f"/complaintview/show/{pk}"))
    assert ticket in body(client.get(f"/updaterequestview/show/{request_id}"))
    r = client.post(f"/complaintview/update_request/{pk}", data={"kind": "baru"}, follow_redirects=True)
    assert "already has a data update request" in body(r)


def test_the_overdue_list_and_its_count(app, client, areas):
    late = make_complaint(app, areas, "diproses", dl=dt.date.today() - dt.timedelta(days=3),
                          handler_id=user_ids.op1807)
    done_late = make_complaint(app, areas, "selesai", dl=dt.date.today() - dt.timedelta(days=3))
    on_time = make_complaint(app, areas, "baru")
    other_late = make_complaint(app, areas, "baru", regency=OTHER, dl=dt.date.today() - dt.timedelta(days=1))
    tickets = {pk: sql(app, "SELECT ticket FROM complaint WHERE id = :i", i=pk)[0][0]
               for pk in (late, done_late, on_time, other_late)}
    login(client, "op1807")
    listing = body(client.get("/complaintview/list/?preset=overdue&psize_ComplaintView=100"))
    assert "Overdue complaints" in listing
    assert tickets[late] in listing
    assert tickets[done_late] not in listing and tickets[on_time] not in listing and tickets[other_late] not in listing
    expected = sql(app, """SELECT count(*) FROM complaint WHERE state IN ('baru', 'diproses') AND regency_id = :r
                           AND deadline < (now() AT TIME ZONE 'Asia/Jakarta')::date""", r=areas["regency"])[0][0]
    menu = re.search(r"Overdue complaints \((\d+)\)", body(client.get("/")))
    assert menu and int(menu.group(1)) == expected
    assert "Overdue" in body(client.get(f"/complaintview/show/{late}"))


def test_a_regency_pimpinan_is_no_handler(app, areas):
    """A regency's Pimpinan only reads: it is not offered as handler, and cannot be made one."""
    from app.extensions import appbuilder, db
    from app.models import Complaint, Regency
    from app.security import roles as R
    from app.services import complaints as service

    with app.app_context():
        leader = appbuilder.sm.find_user(username="pimpinan_uji_1807")
        if leader is None:
            leader = appbuilder.sm.add_user("pimpinan_uji_1807", "Pimpinan", "Lampung Timur", "pim1807@uji.local",
                                            [appbuilder.sm.find_role(R.PIMPINAN)], password=DEMO_PASSWORD)
            leader.regency_id = db.session.execute(select(Regency.id).where(Regency.code == OWN)).scalar_one()
            db.session.commit()
        complaint = db.session.get(Complaint, make_complaint(app, areas))
        handlers = {u.username for u in service.eligible_handlers(db.session, complaint)}
        assert "op1807" in handlers and "pimpinan_uji_1807" not in handlers
        with force_locale("en"), pytest.raises(WorkflowError, match="handler"):
            service.assign(db.session, complaint, leader.id, user("op1807"))
        db.session.rollback()
