/* Situation center dashboard: MapLibre map, live updates over Server-Sent Events. */
(function () {
  "use strict";
  const root = document.getElementById("situation");
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const form = document.getElementById("filters");
  const feed = document.getElementById("feed");
  const panel = document.getElementById("panel");
  const live = document.getElementById("live");
  const countEl = document.getElementById("count");
  const STATUS_COLORS = {
    new: "#d92d20", triaged: "#f79009", dispatched: "#7a5af8", in_progress: "#2e90fa",
    resolved: "#12b76a", closed: "#667085", duplicate: "#98a2b3", rejected: "#344054"
  };
  const WINDOW_MS = { "1h": 3600e3, "24h": 86400e3, "7d": 7 * 86400e3 };
  const state = { data: { type: "FeatureCollection", features: [] }, byId: new Map(),
                  lastEvent: null, received: 0, selected: null };
  window.situation = state;

  const bounds = JSON.parse(root.dataset.bounds || "null");
  const tiles = (id) => location.origin + "/ogc/collections/" + id +
    "/tiles/WebMercatorQuad/{z}/{y}/{x}?f=mvt";
  const map = new maplibregl.Map({
    container: "map",
    style: {
      version: 8,
      sources: {
        parcels: { type: "vector", tiles: [tiles("parcels")], minzoom: 14, maxzoom: 18 },
        buildings: { type: "vector", tiles: [tiles("buildings")], minzoom: 14, maxzoom: 18 }
      },
      layers: [
        { id: "bg", type: "background", paint: { "background-color": "#eef1f4" } },
        { id: "parcels", type: "line", source: "parcels", "source-layer": "parcels", minzoom: 14,
          paint: { "line-color": "#98a2b3", "line-width": 0.6 } },
        { id: "buildings", type: "fill", source: "buildings", "source-layer": "buildings",
          minzoom: 14, paint: { "fill-color": "#d0d5dd", "fill-outline-color": "#667085" } }
      ]
    },
    bounds: bounds ? [[bounds[0], bounds[1]], [bounds[2], bounds[3]]] : undefined,
    center: bounds ? undefined : [69.2797, 41.3111], zoom: bounds ? undefined : 11,
    attributionControl: false,
    // Tiles are public data: fetch them without the session cookie (cacheable, no session work).
    transformRequest: (url) => url.indexOf("/ogc/") >= 0 ? { url: url, credentials: "omit" } : { url: url }
  });
  state.map = map;
  map.addControl(new maplibregl.NavigationControl(), "top-left");
  // Tiles come from the OGC API; a missing tile must not spoil the dashboard.
  map.on("error", (e) => { state.lastMapError = String(e && e.error && e.error.message); });

  function filters() {
    const f = new FormData(form); const o = {};
    for (const [k, v] of f.entries()) if (v) o[k] = v;
    return o;
  }
  function matches(p) {
    const f = filters();
    if (f.category && p.category !== f.category) return false;
    if (f.status === "open" && !["new", "triaged", "dispatched", "in_progress"].includes(p.status)) return false;
    if (f.status && f.status !== "open" && p.status !== f.status) return false;
    if (f.district && String(p.district_id) !== f.district) return false;
    if (f.window && Date.now() - Date.parse(p.reported_at) > WINDOW_MS[f.window]) return false;
    return true;
  }
  function redraw() {
    state.data = { type: "FeatureCollection", features: Array.from(state.byId.values()) };
    const src = map.getSource("incidents");
    if (src) src.setData(state.data);
    countEl.textContent = state.byId.size + " incidents";
    renderFeed();
  }
  function renderFeed() {
    const items = Array.from(state.byId.values())
      .sort((a, b) => Date.parse(b.properties.reported_at) - Date.parse(a.properties.reported_at))
      .slice(0, 60);
    feed.replaceChildren(...items.map((f) => {
      const p = f.properties; const li = document.createElement("li");
      li.dataset.incidentId = p.id; li.tabIndex = 0;
      const dot = document.createElement("span"); dot.className = "dot";
      dot.style.background = STATUS_COLORS[p.status] || "#000";
      const t = document.createElement("span");
      t.textContent = "#" + p.id + " " + p.category + " · " + p.status + " · P" + p.priority +
        (p.possible_duplicate_of ? " · dup? #" + p.possible_duplicate_of : "");
      if (p.overdue) t.className = "overdue";
      li.append(dot, t);
      li.addEventListener("click", () => openPanel(p.id, true));
      li.addEventListener("keydown", (e) => { if (e.key === "Enter") openPanel(p.id, true); });
      return li;
    }));
  }
  async function load() {
    const q = new URLSearchParams(filters());
    const r = await fetch("/situation/api/incidents.geojson?" + q, { credentials: "same-origin" });
    const fc = await r.json();
    state.byId = new Map(fc.features.map((f) => [f.id, f]));
    redraw();
  }
  async function loadCameras() {
    const r = await fetch("/situation/api/cameras.geojson", { credentials: "same-origin" });
    state.cameras = await r.json();
    map.getSource("cameras").setData(state.cameras);
  }
  state.reloadCameras = loadCameras;

  map.on("load", () => {
    map.addSource("districts", { type: "geojson", data: "/situation/api/districts.geojson" });
    map.addLayer({ id: "districts", type: "line", source: "districts",
      paint: { "line-color": "#475467", "line-width": 1.2, "line-dasharray": [3, 2] } }, "parcels");
    map.addSource("cameras", { type: "geojson", data: { type: "FeatureCollection", features: [] } });
    map.addLayer({ id: "camera-wedges", type: "fill", source: "cameras",
      filter: ["==", ["get", "kind"], "wedge"],
      paint: { "fill-color": ["match", ["get", "health"], "online", "#2e90fa", "#98a2b3"],
               "fill-opacity": 0.18 } });
    map.addLayer({ id: "cameras", type: "circle", source: "cameras",
      filter: ["==", ["get", "kind"], "camera"],
      paint: { "circle-radius": 3, "circle-color": ["match", ["get", "health"], "online", "#175cd3", "#667085"],
               "circle-stroke-color": "#fff", "circle-stroke-width": 1 } });
    map.addSource("incidents", { type: "geojson", data: state.data, promoteId: "id" });
    map.addLayer({ id: "incident-overdue", type: "circle", source: "incidents",
      filter: ["==", ["get", "overdue"], true],
      paint: { "circle-radius": ["+", 8, ["*", 2, ["-", 5, ["get", "priority"]]]],
               "circle-color": "#f04438", "circle-opacity": 0.25, "circle-blur": 0.4 } });
    map.addLayer({ id: "incidents", type: "circle", source: "incidents",
      paint: { "circle-radius": ["+", 3, ["-", 5, ["coalesce", ["get", "priority"], 4]]],
               "circle-color": ["match", ["get", "status"], ...Object.entries(STATUS_COLORS).flat(), "#000"],
               "circle-stroke-color": ["case", ["<=", ["coalesce", ["get", "priority"], 4], 1], "#000", "#fff"],
               "circle-stroke-width": 1 } });
    map.addLayer({ id: "incident-selected", type: "circle", source: "incidents",
      filter: ["==", ["get", "id"], -1],
      paint: { "circle-radius": 12, "circle-color": "rgba(0,0,0,0)", "circle-stroke-color": "#101828",
               "circle-stroke-width": 2.5 } });
    map.on("click", "incidents", (e) => openPanel(e.features[0].properties.id, false));
    map.on("mouseenter", "incidents", () => { map.getCanvas().style.cursor = "pointer"; });
    map.on("mouseleave", "incidents", () => { map.getCanvas().style.cursor = ""; });
    state.mapLoaded = true;
    redraw();
    loadCameras();
    setInterval(loadCameras, 60000);  // camera health changes with heartbeats
  });

  function connect() {
    const es = new EventSource("/situation/stream");
    state.es = es;
    es.onopen = () => { live.textContent = "live"; live.className = "live on"; };
    es.onerror = () => { live.textContent = "reconnecting…"; live.className = "live off"; };
    es.addEventListener("hello", (e) => { state.lastEvent = e.lastEventId; });
    es.addEventListener("reset", () => load());
    es.addEventListener("incident", (e) => {
      const m = JSON.parse(e.data);
      state.lastEvent = e.lastEventId; state.received += 1;
      if (m.op === "deleted" || !m.feature) state.byId.delete(m.id);
      else if (matches(m.feature.properties)) state.byId.set(m.id, m.feature);
      else state.byId.delete(m.id);
      scheduleRedraw();
      if (state.selected === m.id) openPanel(m.id, false);
    });
  }
  let pending = false;
  function scheduleRedraw() {
    if (pending) return; pending = true;
    requestAnimationFrame(() => { pending = false; redraw(); });
    setTimeout(() => { if (pending) { pending = false; redraw(); } }, 250);
  }

  function el(tag, text, cls) { const e = document.createElement(tag); if (text != null) e.textContent = text; if (cls) e.className = cls; return e; }
  async function post(id, action, body) {
    const r = await fetch("/situation/api/incidents/" + id + "/" + action, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body) });
    const j = await r.json();
    if (!r.ok) throw new Error(j.message || j.description || r.statusText);
    return j;
  }
  async function openPanel(id, fly) {
    state.selected = id;
    if (map.getLayer("incident-selected")) map.setFilter("incident-selected", ["==", ["get", "id"], id]);
    const r = await fetch("/situation/api/incidents/" + id, { credentials: "same-origin" });
    if (!r.ok) return;
    const d = await r.json();
    if (fly) map.flyTo({ center: [d.lon, d.lat], zoom: Math.max(map.getZoom(), 15) });
    const h = el("h3", "#" + d.id + " " + d.category_name + " — " + d.status);
    const dl = el("dl");
    const t = (v) => v ? v.slice(0, 16).replace("T", " ") : "—";
    const rows = [["Priority", d.priority], ["Reported", t(d.reported_at)], ["Deadline", t(d.deadline) + (d.overdue ? " (overdue)" : "")],
      ["District", d.district], ["Parcel", d.parcel_number ? d.parcel_number + (d.parcel_address ? " · " + d.parcel_address : "") : "—"],
      ["Building", d.building_number ? d.building_number + " · " + d.building_use + ", " + d.building_floors + " floors" : "—"],
      ["Service", d.service ? d.service + (d.service_phone ? " · " + d.service_phone : "") : "—"],
      ["Source", d.source], ["Title", d.title || "—"]];
    if (d.possible_duplicate_of) rows.push(["Possible duplicate of", "#" + d.possible_duplicate_of]);
    if (d.duplicate_of) rows.push(["Duplicate of", "#" + d.duplicate_of]);
    for (const [k, v] of rows) { dl.append(el("dt", k), el("dd", v == null ? "—" : String(v))); }
    const cams = el("ul"); cams.className = "cameras";
    for (const c of d.cameras) cams.append(el("li", c.code + " · " + c.distance_m + " m · " + c.health));
    if (!d.cameras.length) cams.append(el("li", "no camera sees this point"));
    const tl = el("ol"); tl.className = "timeline";
    for (const ev of d.timeline) tl.append(el("li", ev.at.slice(0, 19).replace("T", " ") + " · " + ev.kind +
      (ev.to_status ? " → " + ev.to_status : "") + " · " + ev.actor + (ev.note ? " · " + ev.note : "")));
    const msg = el("p", "", "msg");
    const actions = el("div"); actions.className = "actions";
    function action(name, label, extra) {
      const f = document.createElement("form"); f.dataset.action = name;
      if (extra) f.append(...extra());
      const b = el("button", label); b.type = "submit"; f.append(b);
      f.addEventListener("submit", async (e) => {
        e.preventDefault();
        const body = { version: d.version };
        for (const [k, v] of new FormData(f).entries()) if (v !== "") body[k] = v;
        try { await post(d.id, name, body); msg.textContent = ""; openPanel(d.id, false); }
        catch (err) { msg.textContent = err.message; }
      });
      actions.append(f);
    }
    const input = (name, ph, type) => { const i = document.createElement("input"); i.name = name; i.placeholder = ph; i.type = type || "text"; i.size = 8; i.setAttribute("aria-label", ph); return i; };
    action("triage", "Triage", () => { const s = document.createElement("select"); s.name = "priority"; s.setAttribute("aria-label", "priority");
      for (const p of [1, 2, 3, 4]) { const o = el("option", "P" + p); o.value = p; if (p === d.priority) o.selected = true; s.append(o); } return [s]; });
    action("dispatch", "Dispatch", () => { const s = document.getElementById("service-options").cloneNode(true);
      s.hidden = false; s.removeAttribute("id"); s.name = "service_id"; s.setAttribute("aria-label", "service"); if (d.service_id) s.value = d.service_id; return [s]; });
    action("resolve", "Resolve", () => [input("note", "note")]);
    action("merge", "Merge into", () => { const i = input("into", "incident #", "number"); if (d.possible_duplicate_of) i.value = d.possible_duplicate_of; return [i]; });
    panel.replaceChildren(h, dl, el("h4", "Actions"), actions, msg, el("h4", "Cameras that see it"), cams, el("h4", "Timeline"), tl);
    panel.hidden = false;
  }

  form.addEventListener("change", load);
  load().then(connect);
})();
