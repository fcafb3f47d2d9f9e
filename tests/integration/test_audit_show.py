"""The audit row's page reads like a record of what happened: labelled fields with human values
(a village by name and code, a point as latitude, longitude, desil before and after), the action
and the record in words with a link to the record, and for an approved data update request who
proposed, verified and approved it."""
from __future__ import annotations

import re

from tests.conftest import sql
from tests.integration.test_analysis import session_client
from tests.integration.test_update_requests import areas, make_request, service_transition  # noqa: F401

RAW = re.compile(r"\b(?:None|True|False|update_request|household_member|SRID=|POINT\s*\()")


def visible_text(html: str) -> str:
    """The page without its scripts, tags and the folded raw record (that one keeps the JSON)."""
    html = re.sub(r"<details id=\"audit-raw\">.*?</details>", "", html, flags=re.S)
    html = re.sub(r"<(script|style)\b.*?</\1>", "", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


def test_an_approved_change_reads_with_labels_values_people_and_a_link(app, areas):
    other = sql(app, """SELECT v.id FROM village v JOIN district d ON d.id = v.district_id
                        JOIN regency r ON r.id = d.regency_id WHERE r.code = '18.07' ORDER BY v.code OFFSET 3 LIMIT 1""")[0][0]
    village_name, village_code = sql(app, "SELECT name, code FROM village WHERE id = :i", i=other)[0]
    pk = make_request(app, areas, "diverifikasi",
                      proposed={"desil": 1, "village_id": other, "location": "SRID=4326;POINT(105.7 -5.1)"})
    assert service_transition(app, pk, "disetujui", "bappeda") is None
    household = sql(app, "SELECT household_id FROM update_request WHERE id = :i", i=pk)[0][0]
    row = sql(app, """SELECT id FROM audit_log WHERE entity = 'household' AND entity_id = :h
                       AND note LIKE :n ORDER BY id DESC LIMIT 1""", h=household, n=f"pemutakhiran #{pk}%")[0][0]

    client = session_client(app, "bappeda")
    client.get("/lang/id")
    r = client.get(f"/auditlogview/show/{row}")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    summary = re.search(r'id="audit-summary">(.*?)</p>', html, re.S).group(1)
    assert "Disetujui" in summary and "Rumah Tangga" in summary.title() and f"#{household}" in summary

    def cells(field):
        tr = re.search(rf'<tr[^>]*data-field="{field}"[^>]*>(.*?)</tr>', html, re.S)
        assert tr, field
        return [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<t[hd]>(.*?)</t[hd]>", tr.group(1), re.S)]

    label, before, after = cells("desil")
    assert (label, before, after) == ("Desil", "2", "1")
    label, _before, after = cells("village_id")
    assert label == "Desa/Kelurahan" or label.startswith("Desa"), label
    assert village_name in after and village_code in after
    _label, _before, after = cells("location")
    assert after == "-5.100000, 105.700000"  # latitude, longitude
    assert 'data-changed="yes"' in html
    assert f'href="/householdview/show/{household}"' in html  # the record's own page
    steps = re.search(r'id="audit-request-steps">(.*?)</table>', html, re.S).group(1)
    assert re.search(r'data-step="proposed">.*?uji', steps, re.S)
    assert re.search(r'data-step="disetujui">.*?bappeda', steps, re.S)
    assert f'href="/updaterequestview/show/{pk}"' in html
    assert RAW.findall(visible_text(html)) == []
    assert not re.search(r"\b\d{4}-\d{2}-\d{2}\b", visible_text(html))  # no ISO dates

    # the request's own row: its state in words, its household by No KK
    request_row = sql(app, """SELECT id FROM audit_log WHERE entity = 'update_request' AND entity_id = :p
                               AND action = 'approve'""", p=pk)[0][0]
    html = client.get(f"/auditlogview/show/{request_row}").get_data(as_text=True)
    tr = re.search(r'<tr[^>]*data-field="household_id"[^>]*>(.*?)</tr>', html, re.S).group(1)
    assert "Rumah tangga" in tr and re.search(r"\b\d{16}\b", tr), tr
    tr = re.search(r'<tr[^>]*data-field="state"[^>]*>(.*?)</tr>', html, re.S).group(1)
    assert "Disetujui" in tr and "diverifikasi" in tr.lower(), tr
    assert RAW.findall(visible_text(html)) == []


def test_the_list_names_actions_and_records_in_words(app, areas):
    pk = make_request(app, areas, "diverifikasi", proposed={"desil": 3})
    assert service_transition(app, pk, "disetujui", "bappeda") is None
    client = session_client(app, "bappeda")
    client.get("/lang/id")
    html = client.get("/auditlogview/list/?_flt_0_entity=update_request").get_data(as_text=True)
    table = [t for t in re.findall(r"<table.*?</table>", html, re.S) if "/auditlogview/show/" in t][0]
    assert "Usulan Pemutakhiran Data" in table and "Disetujui" in table
    assert "update_request" not in visible_text(table) and "approve" not in visible_text(table)
