"""Report a problem: the form, every refusal with nothing stored, the incident on the Open311
path, photos cleaned and moderated, the tracking page without personal data, notifications."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import text

from .portal_helpers import csrf

INSIDE = (69.2797, 41.3111)  # Amir Temur square
OUTSIDE = (69.9, 41.8)
_ip = iter(range(10, 250))


def _client(app):  # type: ignore[no-untyped-def]
    """A test client with its own address (the rate limit counts per address)."""
    c = app.test_client()
    c.environ_base["REMOTE_ADDR"] = f"10.99.0.{next(_ip)}"
    return c


def _jpeg(size=(2400, 1800), exif: bool = True) -> bytes:
    from PIL import Image

    img = Image.new("RGB", size, (200, 60, 40))
    out = io.BytesIO()
    kw = {}
    if exif:
        ex = Image.Exif()
        ex[0x010F] = "SecretCam"  # Make
        ex[0x8825] = {1: "N", 2: (41.0, 18.0, 40.0)}  # GPS IFD
        kw["exif"] = ex
    img.save(out, "JPEG", **kw)
    return out.getvalue()


def _form(c, **over):  # type: ignore[no-untyped-def]
    data = {"csrf_token": csrf(c, "/report?lang=en"), "category": "water",
            "lon": str(INSIDE[0]), "lat": str(INSIDE[1]),
            "description": "Water pours from a broken pipe near the bus stop",
            "email": "citizen.one@example.uz", "phone": "", "name": "Aziz Karimov",
            "consent": "1"}
    data.update(over)
    return data


def _counts(engine) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    with engine.connect() as c:
        return tuple(c.execute(text(
            "SELECT (SELECT count(*) FROM incident), (SELECT count(*) FROM citizen_report),"
            " (SELECT count(*) FROM incident_photo)")).one())  # type: ignore[return-value]


@pytest.fixture(scope="module")
def categories(engine):  # type: ignore[no-untyped-def]
    with engine.connect() as c:
        return set(c.execute(text("SELECT code FROM incident_category WHERE public")).scalars())


def test_form_in_three_languages(app, categories) -> None:  # type: ignore[no-untyped-def]
    c = _client(app)
    en = c.get("/report?lang=en").get_data(as_text=True)
    assert "Report a problem in the city" in en and 'name="csrf_token"' in en
    assert 'href="/report"' in c.get("/?lang=en").get_data(as_text=True)  # linked in the header
    assert "water" in categories and 'value="water"' in en
    assert "<script>" not in en.replace('<script id="report-config" type="application/json">', "")
    assert " on" + "click=" not in en
    ru = c.get("/report?lang=ru").get_data(as_text=True)
    assert "Сообщить о проблеме" in ru
    uz = c.get("/report?lang=uz").get_data(as_text=True)
    assert "Muammo haqida xabar berish" in uz


def test_report_becomes_incident_and_tracking_page(app, engine) -> None:  # type: ignore[no-untyped-def]
    c = _client(app)
    resp = c.post("/report?lang=en", data={**_form(c), "photos": (io.BytesIO(_jpeg()), "leak.jpg")},
                  content_type="multipart/form-data")
    assert resp.status_code == 303, resp.get_data(as_text=True)[:2000]
    token = resp.headers["Location"].split("/reports/")[1].split("?")[0]
    assert len(token) >= 20
    with engine.connect() as db:
        inc = db.execute(text(
            "SELECT i.* FROM incident i JOIN citizen_report r ON r.incident_id = i.id"
            " WHERE r.token = :t"), {"t": token}).mappings().one()
        photo = db.execute(text("SELECT * FROM incident_photo WHERE incident_id = :i"),
                           {"i": inc["id"]}).mappings().one()
        subs = db.execute(text("SELECT channel, address, role FROM incident_subscription"
                               " WHERE incident_id = :i"), {"i": inc["id"]}).all()
    # the Open311 path: enriched, deadline, service, reporter kept privately
    assert inc["source"] == "portal" and inc["status"] == "new"
    assert inc["district_id"] and inc["deadline"] and inc["service_id"]
    assert inc["reporter_email"] == "citizen.one@example.uz"
    assert subs == [("email", "citizen.one@example.uz", "reporter")]
    # the photo: resized, metadata gone
    assert max(photo["width"], photo["height"]) <= 1600 and not photo["approved"]
    from PIL import Image

    with Image.open(app.extensions["cadastre_settings"].data_path / photo["path"]) as img:
        assert not img.getexif() and "exif" not in img.info and "icc_profile" not in img.info
    # the tracking page: status, timeline, no personal data, photo not yet public
    page = c.get(f"/reports/{token}?lang=en")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "received" in html and "Timeline" in html
    assert "Aziz" not in html and "citizen.one" not in html
    assert f"/reports/photos/{photo['id']}.jpg" not in html
    assert c.get(f"/reports/photos/{photo['id']}.jpg").status_code == 404
    js = c.get(f"/reports/{token}?f=json").get_json()
    assert js["id"] == inc["id"] and js["status"] == "new" and "reporter_email" not in js
    assert "Aziz" not in str(js)
    # an unknown token is a 404, never a guessable id
    assert c.get(f"/reports/{inc['id']}").status_code == 404
    assert c.get("/reports/" + "x" * 22).status_code == 404


@pytest.mark.parametrize("case", ["outside", "nopin", "script", "big", "notimage", "category",
                                  "csrf", "email"])
def test_bad_input_clear_message_nothing_stored(app, engine, case) -> None:  # type: ignore[no-untyped-def]
    c = _client(app)
    data = _form(c)
    files = None
    expect = {
        "outside": "outside the city", "nopin": "Place a pin", "script": "no HTML or script",
        "big": "10 MB", "notimage": "JPEG, PNG or WebP", "category": "kind of problem",
        "csrf": "reload the page", "email": "e-mail address"}[case]
    if case == "outside":
        data.update(lon=str(OUTSIDE[0]), lat=str(OUTSIDE[1]))
    elif case == "nopin":
        data.update(lon="", lat="")
    elif case == "script":
        data["description"] = 'Leak <script>alert(1)</script>'
    elif case == "big":
        files = (io.BytesIO(b"\xff\xd8\xff" + b"0" * (20 * 1024 * 1024)), "huge.jpg")
    elif case == "notimage":
        files = (io.BytesIO(b"%PDF-1.4 not a photo at all"), "doc.jpg")
    elif case == "category":
        data["category"] = "no_such_thing"
    elif case == "csrf":
        data["csrf_token"] = "forged"
    elif case == "email":
        data["email"] = "not-an-address"
    if files:
        data["photos"] = files
    before = _counts(engine)
    resp = c.post("/report?lang=en", data=data, content_type="multipart/form-data")
    html = resp.get_data(as_text=True)
    assert 400 <= resp.status_code < 500, (resp.status_code, html[:500])
    assert expect in html, html[:3000]
    if case != "csrf":
        assert 'id="report-error"' in html and 'id="report-form"' in html
        assert data["description"].replace("<", "&lt;")[:20] in html or case == "script"
    assert _counts(engine) == before


def test_rate_limited_per_address(app, engine) -> None:  # type: ignore[no-untyped-def]
    from cadastre_gis import reports

    c = _client(app)
    codes = [c.post("/report?lang=en", data=_form(c, consent="", email=""),
                    content_type="multipart/form-data").status_code
             for _ in range(reports.REPORTS_PER_HOUR + 1)]
    assert codes[:-1] == [303] * reports.REPORTS_PER_HOUR and codes[-1] == 429
    other = _client(app)
    assert other.post("/report?lang=en", data=_form(other, consent="", email=""),
                      content_type="multipart/form-data").status_code == 303


def test_nearby_and_subscribe_instead(app, engine) -> None:  # type: ignore[no-untyped-def]
    c = _client(app)
    lon, lat = 69.2401, 41.3202
    first = c.post("/report?lang=en", data=_form(c, lon=str(lon), lat=str(lat), consent="",
                                                 email="", category="road"),
                   content_type="multipart/form-data")
    assert first.status_code == 303
    near = c.get(f"/api/reports/nearby?category=road&lon={lon + 0.0002}&lat={lat}").get_json()
    ids = [i["id"] for i in near["incidents"]]
    assert ids and all(i["distance_m"] <= 50 for i in near["incidents"])
    assert "Aziz" not in str(near)
    far = c.get(f"/api/reports/nearby?category=road&lon={lon + 0.002}&lat={lat}").get_json()
    assert ids[0] not in [i["id"] for i in far["incidents"]]
    before = _counts(engine)
    resp = c.post("/reports/subscribe?lang=en", data=_form(c, incident_id=str(ids[0]),
                                                          email="follower@example.uz"))
    assert resp.status_code == 303 and "/reports/" in resp.headers["Location"]
    assert _counts(engine)[0] == before[0]  # no new incident
    with engine.connect() as db:
        assert db.execute(text("SELECT count(*) FROM incident_subscription WHERE incident_id = :i"
                               " AND address = 'follower@example.uz'"), {"i": ids[0]}).scalar() == 1


def _status(engine, incident_id: int, to: str) -> None:  # type: ignore[no-untyped-def]
    from cadastre_gis import incidents

    with engine.begin() as db:
        db.execute(text("SELECT set_config('cadastre.actor', 'operator:test', true)"))
        incidents.set_status(db, incident_id, to, note="crew on site, call +998 90 123 45 67")


def test_status_change_notifies_reporter_with_optout(app, engine) -> None:  # type: ignore[no-untyped-def]
    c = _client(app)
    resp = c.post("/report?lang=ru", data=_form(c, email="notify.me@example.uz"),
                  content_type="multipart/form-data")
    token = resp.headers["Location"].split("/reports/")[1].split("?")[0]
    silent = c.post("/report?lang=en", data=_form(c, email="no.consent@example.uz", consent=""),
                    content_type="multipart/form-data")
    silent_token = silent.headers["Location"].split("/reports/")[1].split("?")[0]
    with engine.connect() as db:
        iid = db.execute(text("SELECT incident_id FROM citizen_report WHERE token = :t"),
                         {"t": token}).scalar_one()
        sid = db.execute(text("SELECT incident_id FROM citizen_report WHERE token = :t"),
                         {"t": silent_token}).scalar_one()
    _status(engine, iid, "dispatched")
    _status(engine, sid, "dispatched")
    from cadastre_gis import notify

    with app.test_request_context():
        from web.report import deliver_now

        deliver_now()
    with engine.connect() as db:
        rows = notify.outbox(db, notify.OutboxFilter(incident_id=iid))
        assert notify.outbox(db, notify.OutboxFilter(incident_id=sid)) == []  # no consent
    assert len(rows) == 1 and rows[0]["status"] == "sent" and rows[0]["transport"].startswith("sandbox")
    body = rows[0]["body"]
    assert "передано службе" in body and f"/reports/{token}" in body  # the reporter's language
    optout = re.search(r"/notifications/optout/(\S+)", body).group(1)
    # the tracking page shows the new status, the note redacted
    html = c.get(f"/reports/{token}?lang=en").get_data(as_text=True)
    assert "sent to the service" in html and "123 45 67" not in html and "crew on site" in html
    # opt out: then no more messages
    page = c.get(f"/notifications/optout/{optout}?lang=en")
    assert page.status_code == 200 and "notify.me" not in page.get_data(as_text=True)
    tok = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    assert c.post(f"/notifications/optout/{optout}", data={"csrf_token": tok}).status_code == 200
    _status(engine, iid, "in_progress")
    with engine.connect() as db:
        assert len(notify.outbox(db, notify.OutboxFilter(incident_id=iid))) == 1
    assert c.get("/notifications/optout/forged.abc").status_code == 400


def test_photo_moderation_and_outbox_need_operator(app, engine) -> None:  # type: ignore[no-untyped-def]
    from .portal_helpers import login

    c = _client(app)
    resp = c.post("/report?lang=en", data={**_form(c), "photos": (io.BytesIO(_jpeg((800, 600))), "a.jpg")},
                  content_type="multipart/form-data")
    token = resp.headers["Location"].split("/reports/")[1].split("?")[0]
    with engine.connect() as db:
        pid, iid = db.execute(text("SELECT p.id, p.incident_id FROM incident_photo p JOIN citizen_report r"
                                   " ON r.incident_id = p.incident_id WHERE r.token = :t"),
                              {"t": token}).one()
    assert c.get("/notifications/outbox").status_code in (401, 403)
    assert c.post(f"/reports/photos/{pid}/moderate", data={"approved": "1"}).status_code in (400, 401, 403)
    op = _client(app)
    assert login(op, "operator", "operator-demo-2026").status_code in (302, 303)
    assert op.get(f"/reports/photos/{pid}.jpg").status_code == 200  # operators see it at once
    assert op.get(f"/api/incidents/{iid}/photos").get_json()[0]["approved"] is False
    tok = csrf(op, "/report")
    assert op.post(f"/reports/photos/{pid}/moderate", data={"approved": "1", "csrf_token": tok}
                   ).status_code == 200
    assert c.get(f"/reports/photos/{pid}.jpg").status_code == 200
    assert f"/reports/photos/{pid}.jpg" in c.get(f"/reports/{token}").get_data(as_text=True)
    assert op.get("/notifications/outbox?lang=en").status_code == 200


def test_signed_in_citizen_sees_reports_in_my(app) -> None:  # type: ignore[no-untyped-def]
    from .portal_helpers import login

    c = _client(app)
    login(c)
    resp = c.post("/report?lang=en", data=_form(c, description="Street light is dark all night",
                                                 category="lighting"),
                  content_type="multipart/form-data")
    token = resp.headers["Location"].split("/reports/")[1].split("?")[0]
    html = c.get("/my?lang=en").get_data(as_text=True)
    assert f"/reports/{token}" in html and "My reports of city problems" in html
    other = _client(app)
    assert f"/reports/{token}" not in other.get("/report").get_data(as_text=True)


def test_hidden_by_moderator_leaves_status_only(app, engine) -> None:  # type: ignore[no-untyped-def]
    c = _client(app)
    resp = c.post("/report?lang=en", data=_form(c, description="Rude words about my neighbour"),
                  content_type="multipart/form-data")
    token = resp.headers["Location"].split("/reports/")[1].split("?")[0]
    with engine.begin() as db:
        db.execute(text("UPDATE incident SET moderation_status = 'hidden' WHERE id ="
                        " (SELECT incident_id FROM citizen_report WHERE token = :t)"), {"t": token})
    html = c.get(f"/reports/{token}?lang=en").get_data(as_text=True)
    assert "neighbour" not in html and "received" in html


def test_photo_turned_upright_and_stripped() -> None:
    from PIL import Image

    from cadastre_gis import photos

    img = Image.new("RGB", (3200, 1600), (10, 200, 10))
    ex = Image.Exif()
    ex[0x0112] = 6  # orientation: rotate 90° clockwise to view
    ex[0x010F] = "SecretCam"
    out = io.BytesIO()
    img.save(out, "JPEG", exif=ex)
    p = photos.clean(out.getvalue())
    assert (p.width, p.height) == (800, 1600)  # upright, long side 1600
    with Image.open(io.BytesIO(p.data)) as back:
        assert not back.getexif() and b"SecretCam" not in p.data
    with pytest.raises(Exception, match="not a photo"):
        photos.clean(b"GIF89a" + b"\x00" * 100)
