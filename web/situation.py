"""Situation center: the operators' live dashboard, its JSON/GeoJSON API and the SSE stream."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)

from cadastre_gis import cameras, incidents, video
from cadastre_gis.errors import InvalidInput, NotFound

from . import situation_live
from .db import conn, engine, settings, write
from .security import current_role, require

bp = Blueprint("situation", __name__, url_prefix="/situation")

ACTIONS = ("triage", "dispatch", "resolve", "merge", "status")


def _filter() -> incidents.IncidentFilter:
    a = request.args
    return incidents.IncidentFilter.parse(category=a.get("category"), status=a.get("status"),
                                          district=a.get("district"), window=a.get("window"))


# Strings the dashboard's JavaScript shows, translated on the server (web/translations)
# and handed to the page as a JSON block: the script itself carries no language.
JS_MESSAGES = (
    "live", "reconnecting…", "incidents", "Priority", "Reported", "Deadline", "District",
    "Parcel", "Building", "floors", "Service", "Source", "Title", "Possible duplicate of",
    "Duplicate of", "Actions", "Cameras that see it", "Timeline", "No camera sees this point",
    "No actions in this status", "Triage", "Dispatch", "Start work", "Resolve", "Close",
    "Merge into", "Reject", "Reopen", "note", "incident #", "priority", "service", "Watch",
    "Snapshot", "Close video", "Snapshot attached to the timeline", "Stream unavailable",
    "Loading video…", "left", "overdue by", "d", "h", "min", "resolved in time",
    "No incidents match the filters", "online", "offline", "maintenance", "Camera",
    "distance", "Open attachment", "by", "Watch cameras", "Select an incident first",
    "New", "Triaged", "Dispatched", "In progress", "Resolved", "Closed", "Duplicate",
    "Rejected", "Created", "Status changed", "Assigned", "Moved", "Category changed",
    "Priority changed", "Merged", "Merged in", "Details", "Incidents", "Show list",
    # building uses and incident sources shown in the panel
    "residential", "apartment", "commercial", "office", "industrial", "public", "garage",
    "religious", "other", "Open311", "Dashboard", "QGIS", "Database (SQL)", "Phone call",
    "Demo data", "Import", "Citizen portal",
)
STATUS_LABELS = {"new": "New", "triaged": "Triaged", "dispatched": "Dispatched",
                 "in_progress": "In progress", "resolved": "Resolved", "closed": "Closed",
                 "duplicate": "Duplicate", "rejected": "Rejected"}
WINDOW_LABELS = {"1h": "Last hour", "24h": "Last 24 hours", "7d": "Last 7 days",
                 "30d": "Last 30 days", "90d": "Last 90 days"}


def js_catalog() -> dict[str, str]:
    """English message → the request's language, for the dashboard's script."""
    from flask_babel import gettext

    return {m: gettext(m) for m in JS_MESSAGES}


@bp.route("")
@bp.route("/")
def dashboard():  # type: ignore[no-untyped-def]
    """The live map for operators (others are sent to sign in or refused)."""
    from flask_babel import get_locale, gettext

    if current_role() is None:
        return redirect(url_for("auth.login", next="/situation"))
    require("situation.view")
    lang = str(get_locale() or "en")[:2]
    opts = incidents.dashboard_options(conn(), lang)
    config = {"lang": lang, "messages": js_catalog(),
              "transitions": {k: sorted(v) for k, v in incidents.TRANSITIONS.items()},
              "open_statuses": list(incidents.OPEN_STATUSES),
              "statuses": {k: gettext(v) for k, v in STATUS_LABELS.items()},
              "categories": {c["code"]: c["name"] for c in opts["categories"]},
              "bounds": opts["bounds"]}
    return render_template("situation/dashboard.html", config=config,
                           categories=opts["categories"], districts=opts["districts"],
                           services=opts["services"], statuses=config["statuses"],
                           windows={w: gettext(WINDOW_LABELS[w]) for w in
                                    list(incidents.WINDOWS)[:3]})


@bp.route("/api/incidents.geojson")
def incidents_geojson():  # type: ignore[no-untyped-def]
    """Incidents for the map, filtered by category, status, district and time window."""
    require("situation.view")
    return jsonify(incidents.geojson(conn(), _filter()))


@bp.route("/api/districts.geojson")
def districts_geojson():  # type: ignore[no-untyped-def]
    """District outlines (simplified to 20 m) as map context."""
    require("situation.view")
    return jsonify(incidents.district_outlines(conn()))


@bp.route("/api/cameras.geojson")
def cameras_geojson():  # type: ignore[no-untyped-def]
    """Cameras with view wedges and health (never their stream URLs: see the HLS relay)."""
    require("situation.view")
    return jsonify(cameras.cameras_geojson(conn(), settings().camera_offline_minutes))


@bp.route("/api/cameras/<code>/heartbeat", methods=["POST"])
def camera_heartbeat(code: str):  # type: ignore[no-untyped-def]
    """A camera (or its video system, with a token) reports it is alive."""
    require("camera.heartbeat")
    with write() as c:
        body = cameras.heartbeat(c, code, settings().camera_offline_minutes)
    return jsonify(body)


@bp.route("/api/incidents/<int:incident_id>")
def incident_panel(incident_id: int):  # type: ignore[no-untyped-def]
    """One incident: details, timeline, the cameras that see it, possible duplicates."""
    require("situation.view")
    c = conn()
    body = incidents.detail(c, incident_id)
    body["timeline"] = incidents.timeline(c, incident_id)
    body["cameras"] = cameras.cameras_seeing(c, incident_id, settings().camera_offline_minutes)
    return jsonify(body)


@bp.route("/api/incidents", methods=["POST"])
def create_incident():  # type: ignore[no-untyped-def]
    """Register an incident from the dashboard (e.g. a phone call)."""
    require("incident.manage")
    data = request.get_json(silent=True) or request.form
    try:
        lon, lat = float(data["lon"]), float(data["lat"])
        category = str(data["category"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInput("category, lon and lat are required") from exc
    with write() as c:
        body = incidents.create(c, category, lon, lat, source="dashboard",
                                title=data.get("title"), description=data.get("description"),
                                address=data.get("address"))
    return jsonify(body), 201


@bp.route("/api/incidents/<int:incident_id>/<action>", methods=["POST"])
def act(incident_id: int, action: str):  # type: ignore[no-untyped-def]
    """Operator actions: triage, dispatch, resolve, merge, status (JSON or form, CSRF)."""
    require("incident.manage")
    if action not in ACTIONS:
        abort(404)
    data = request.get_json(silent=True) or request.form
    note = data.get("note") or None
    version = _int(data.get("version"), "version")
    with write() as c:
        if action == "triage":
            incidents.triage(c, incident_id, _int(data.get("priority"), "priority"), note, version)
        elif action == "dispatch":
            incidents.dispatch(c, incident_id, _int(data.get("service_id"), "service_id"), note,
                               version)
        elif action == "resolve":
            incidents.resolve(c, incident_id, note, version)
        elif action == "merge":
            into = _int(data.get("into"), "into")
            if into is None:
                raise InvalidInput("merge needs 'into' (the incident to keep)")
            incidents.merge(c, incident_id, into, note)
        else:
            incidents.set_status(c, incident_id, str(data.get("status", "")), note, version)
    c2 = conn()
    body = incidents.detail(c2, incident_id)
    body["timeline"] = incidents.timeline(c2, incident_id)
    return jsonify(body)


def _int(value: Any, name: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{name} must be an integer") from exc


@bp.route("/stream")
def stream():  # type: ignore[no-untyped-def]
    """Server-Sent Events fed by LISTEN/NOTIFY; Last-Event-ID replays missed events."""
    require("situation.view")
    raw = request.headers.get("Last-Event-ID") or request.args.get("last_event_id")
    last_id: int | None = None
    if raw not in (None, ""):
        try:
            last_id = max(0, int(raw))
        except ValueError as exc:
            raise InvalidInput("Last-Event-ID must be an integer") from exc
    eng = engine()
    hub = situation_live.hub_for(settings().url(), eng)
    max_seconds = request.args.get("max_seconds", type=float)
    gen = situation_live.stream(hub, eng, last_id, max_seconds=max_seconds,
                                who=situation_live.who_is_calling())
    return Response(gen, mimetype="text/event-stream",
                    headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


# ---- live camera video (HLS relay, operators only) ------------------------------------------
SNAPSHOT_NAME = r"[0-9a-f]{32}\.jpg"


def relay() -> video.HlsRelay:
    """The app's HLS relay (one per process; the state is shared on disk by all workers)."""
    return _relay_of(current_app)


def _relay_of(app: Flask) -> video.HlsRelay:
    r = app.extensions.get("hls_relay")
    if r is None:
        s = app.extensions["cadastre_settings"]
        r = video.HlsRelay(s.data_path / "tmp" / "hls", s.data_path,
                           idle_seconds=s.camera_idle_seconds)
        app.extensions["hls_relay"] = r
    return r


def _no_store(resp: Response) -> Response:
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.route("/cameras/<int:camera_id>/hls/index.m3u8")
def camera_playlist(camera_id: int):  # type: ignore[no-untyped-def]
    """The camera's live HLS playlist; starts the relay on first request (``?viewer=`` id)."""
    require("camera.stream")
    cam = cameras.stream_source(conn(), camera_id)
    viewer = request.args.get("viewer") or ""
    data = relay().playlist(camera_id, cam["stream_url"] or "", viewer)
    # segment names only: the player resolves them against this URL
    lines = [Path(ln).name if ln and not ln.startswith("#") else ln
             for ln in data.decode("utf-8", "replace").splitlines()]
    return _no_store(Response("\n".join(lines) + "\n", mimetype="application/vnd.apple.mpegurl"))


@bp.route("/cameras/<int:camera_id>/hls/<name>")
def camera_segment(camera_id: int, name: str):  # type: ignore[no-untyped-def]
    """One MPEG-TS segment of a running relay."""
    require("camera.stream")
    path = relay().segment(camera_id, name)
    return _no_store(send_file(path, mimetype="video/mp2t", conditional=False, max_age=0))


@bp.route("/cameras/<int:camera_id>/hls/leave", methods=["POST"])
def camera_leave(camera_id: int):  # type: ignore[no-untyped-def]
    """The viewer closed the player: stop the relay if nobody else watches."""
    require("camera.stream")
    data = request.get_json(silent=True) or request.form
    relay().leave(camera_id, str(data.get("viewer") or request.args.get("viewer") or ""))
    return "", 204


@bp.route("/api/incidents/<int:incident_id>/snapshot", methods=["POST"])
def incident_snapshot(incident_id: int):  # type: ignore[no-untyped-def]
    """Attach one frame of a camera to the incident's timeline as evidence (JPEG)."""
    require("camera.stream")
    require("incident.manage")
    data = request.get_json(silent=True) or request.form
    camera_id = _int(data.get("camera_id"), "camera_id")
    if camera_id is None:
        raise InvalidInput("camera_id is required")
    c = conn()
    incidents.detail(c, incident_id)  # 404 before any work
    cam = cameras.stream_source(c, camera_id)
    name = uuid.uuid4().hex + ".jpg"
    out = _evidence_dir(incident_id) / name
    seg = relay().latest_segment(camera_id)
    video.snapshot(seg if seg is not None else
                   video.source_args(cam["stream_url"] or "", settings().data_path), out)
    with write() as w:
        ev = incidents.add_event(w, incident_id, "snapshot", data.get("note") or None, {
            "attachment": name, "content_type": "image/jpeg", "bytes": out.stat().st_size,
            "camera_id": cam["id"], "camera": cam["code"]})
    ev["url"] = url_for("situation.incident_attachment", incident_id=incident_id, name=name)
    return jsonify(ev), 201


@bp.route("/api/incidents/<int:incident_id>/attachments/<name>")
def incident_attachment(incident_id: int, name: str):  # type: ignore[no-untyped-def]
    """An evidence file of an incident (operators only)."""
    require("situation.view")
    import re

    if not re.fullmatch(SNAPSHOT_NAME, name):
        raise NotFound("no such attachment")
    path = _evidence_dir(incident_id) / name
    if not path.is_file():
        raise NotFound("no such attachment")
    resp = send_file(path, mimetype="image/jpeg", max_age=0)
    resp.headers["Cache-Control"] = "private, no-store"
    return resp


def _evidence_dir(incident_id: int) -> Path:
    return settings().data_path / "evidence" / "incidents" / str(int(incident_id))


def init_app(app: Flask) -> None:
    """Register the blueprint; stop every video relay of this process at exit."""
    import atexit

    app.register_blueprint(bp)
    # relays left behind by a process that died (ffmpeg runs in its own session) stop here
    # once their viewers are silent, even before anyone watches again
    try:
        _relay_of(app).reap()
    except OSError:
        pass

    def _stop() -> None:
        r = app.extensions.get("hls_relay")
        if r is not None:
            r.stop_all()

    atexit.register(_stop)
