/* Situation center dashboard: MapLibre map (clustered incidents, cameras), live updates over
   Server-Sent Events, the incident panel (a bottom sheet on phones), the camera wall.
   Every visible string comes from the server's catalog (#situation-config), in uz/ru/en. */
(function () {
  "use strict";
  const root = document.getElementById("situation");
  const cfg = JSON.parse(document.getElementById("situation-config").textContent);
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const form = document.getElementById("filters");
  const feed = document.getElementById("feed");
  const panel = document.getElementById("panel");
  const live = document.getElementById("live");
  const countEl = document.getElementById("count");
  const sheet = document.getElementById("sheet");
  const handle = document.getElementById("sheet-handle");
  const layout = document.getElementById("layout");
  const T = (m) => (cfg.messages && cfg.messages[m]) || m;
  const STATUS = (s) => (cfg.statuses && cfg.statuses[s]) || s;
  const CATEGORY = (c) => (cfg.categories && cfg.categories[c]) || c;
  const STATUS_COLORS = {
    new: "#d92d20", triaged: "#f79009", dispatched: "#7a5af8", in_progress: "#2e90fa",
    resolved: "#12b76a", closed: "#667085", duplicate: "#98a2b3", rejected: "#344054"
  };
  const EVENT_LABELS = { created: "Created", status: "Status changed", assigned: "Assigned",
    moved: "Moved", recategorized: "Category changed", priority: "Priority changed",
    merged: "Merged", merged_in: "Merged in", snapshot: "Snapshot" };
  const SOURCE_LABELS = { open311: "Open311", dashboard: "Dashboard", qgis: "QGIS", sql: "Database (SQL)",
    phone: "Phone call", camera: "Camera", demo: "Demo data", "import": "Import", portal: "Citizen portal" };
  const WINDOW_MS = { "1h": 3600e3, "24h": 86400e3, "7d": 7 * 86400e3 };
  const LOCALES = { uz: "uz-Latn-UZ", ru: "ru-RU", en: "en-GB" };
  const dateFmt = new Intl.DateTimeFormat(LOCALES[cfg.lang] || "en-GB", {
    timeZone: "Asia/Tashkent", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit" });
  const fmtTime = (iso) => iso ? dateFmt.format(new Date(iso)) : "—";
  const state = { data: { type: "FeatureCollection", features: [] }, byId: new Map(),
                  lastEvent: null, received: 0, selected: null, detail: null, t: T };
  window.situation = state;

  // ---- layout: the map fills the screen below the filters; on phones the panel is a sheet
  function fitLayout() {
    const top = layout.getBoundingClientRect().top + window.scrollY;
    layout.style.setProperty("--top", Math.max(0, Math.round(top)) + "px");
  }
  window.addEventListener("resize", fitLayout);
  fitLayout();
  if (window.matchMedia("(max-width: 800px)").matches) document.getElementById("legend").open = false;
  function expandSheet(on) {
    sheet.classList.toggle("expanded", on);
    handle.setAttribute("aria-expanded", on ? "true" : "false");
  }
  handle.addEventListener("click", () => expandSheet(!sheet.classList.contains("expanded")));

  // ---- time left until the deadline (SLA)
  function duration(ms) {
    const m = Math.max(0, Math.round(ms / 60000));
    const d = Math.floor(m / 1440); const h = Math.floor((m % 1440) / 60); const mm = m % 60;
    if (d) return d + " " + T("d") + " " + h + " " + T("h");
    if (h) return h + " " + T("h") + " " + mm + " " + T("min");
    return mm + " " + T("min");
  }
  function sla(p) {
    if (!p.deadline) return null;
    if (!cfg.open_statuses.includes(p.status)) return null;
    const left = Date.parse(p.deadline) - Date.now();
    return left >= 0 ? { text: duration(left) + " " + T("left"), overdue: false }
                     : { text: T("overdue by") + " " + duration(-left), overdue: true };
  }
  function refreshCountdowns() {
    for (const e of document.querySelectorAll("[data-deadline]")) {
      const s = sla({ deadline: e.dataset.deadline, status: e.dataset.status });
      e.textContent = s ? s.text : "";
      e.classList.toggle("overdue", !!(s && s.overdue));
    }
  }
  setInterval(refreshCountdowns, 30000);
  function countdown(p) {
    const s = el("span", "", "sla"); s.dataset.deadline = p.deadline || ""; s.dataset.status = p.status;
    const v = sla(p); if (v) { s.textContent = v.text; if (v.overdue) s.classList.add("overdue"); }
    return s;
  }

  // ---- map
  const bounds = cfg.bounds;
  const tiles = (id) => location.origin + "/ogc/collections/" + id +
    "/tiles/WebMercatorQuad/{z}/{y}/{x}?f=mvt";
  const map = new maplibregl.Map({
    container: "map",
    style: {
      version: 8,
      glyphs: location.origin + "/static/portal/glyphs/{fontstack}/{range}.pbf",
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

  const wall = window.CameraWall(document.getElementById("wall"), {
    t: T, csrf: csrf, selectedIncident: () => state.selected,
    onSnapshot: (id) => { if (state.selected === id) openPanel(id, false); },
    onChange: () => root.classList.toggle("watching", wall && wall.players.size > 0)
  });
  state.wall = wall;

  function filters() {
    const f = new FormData(form); const o = {};
    for (const [k, v] of f.entries()) if (v) o[k] = v;
    return o;
  }
  function matches(p) {
    const f = filters();
    if (f.category && p.category !== f.category) return false;
    if (f.status === "open" && !cfg.open_statuses.includes(p.status)) return false;
    if (f.status && f.status !== "open" && p.status !== f.status) return false;
    if (f.district && String(p.district_id) !== f.district) return false;
    if (f.window && Date.now() - Date.parse(p.reported_at) > WINDOW_MS[f.window]) return false;
    return true;
  }
  function redraw() {
    state.data = { type: "FeatureCollection", features: Array.from(state.byId.values()) };
    const src = map.getSource("incidents");
    if (src) src.setData(state.data);
    countEl.textContent = state.byId.size + " " + T("incidents");
    renderFeed();
  }
  function renderFeed() {
    const items = Array.from(state.byId.values())
      .sort((a, b) => Date.parse(b.properties.reported_at) - Date.parse(a.properties.reported_at))
      .slice(0, 60);
    if (!items.length) { feed.replaceChildren(el("li", T("No incidents match the filters"), "empty")); return; }
    feed.replaceChildren(...items.map((f) => {
      const p = f.properties; const li = document.createElement("li");
      li.dataset.incidentId = p.id; li.tabIndex = 0;
      const dot = el("span", null, "dot"); dot.style.background = STATUS_COLORS[p.status] || "#000";
      const t = el("span", "#" + p.id + " " + CATEGORY(p.category) + " · " + STATUS(p.status) +
        " · P" + p.priority + (p.possible_duplicate_of ? " · " + T("Possible duplicate of") + " #" + p.possible_duplicate_of : ""));
      if (p.overdue) t.className = "overdue";
      li.append(dot, t, countdown(p));
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
  function fitToFiltered() {
    const feats = Array.from(state.byId.values());
    if (!feats.length) return;
    const b = new maplibregl.LngLatBounds();
    for (const f of feats) b.extend(f.geometry.coordinates);
    map.fitBounds(b, { padding: 40, maxZoom: 16, duration: 300 });
  }
  state.fitToFiltered = fitToFiltered;
  document.getElementById("fit").addEventListener("click", fitToFiltered);

  const unclustered = ["!", ["has", "point_count"]];
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
      paint: { "circle-radius": ["interpolate", ["linear"], ["zoom"], 11, 2.5, 16, 6],
               "circle-color": ["match", ["get", "health"], "online", "#175cd3", "#667085"],
               "circle-stroke-color": "#fff", "circle-stroke-width": 1 } });
    map.addSource("incidents", { type: "geojson", data: state.data, cluster: true,
      clusterRadius: 40, clusterMaxZoom: 14 });
    map.addLayer({ id: "clusters", type: "circle", source: "incidents", filter: ["has", "point_count"],
      paint: { "circle-color": "#475467", "circle-opacity": 0.85, "circle-stroke-color": "#fff",
               "circle-stroke-width": 1.5,
               "circle-radius": ["step", ["get", "point_count"], 12, 10, 16, 50, 21, 200, 26] } });
    map.addLayer({ id: "cluster-count", type: "symbol", source: "incidents", filter: ["has", "point_count"],
      layout: { "text-field": ["get", "point_count_abbreviated"], "text-font": ["DejaVuSans-Bold"],
                "text-size": 12, "text-allow-overlap": true },
      paint: { "text-color": "#fff" } });
    map.addLayer({ id: "incident-overdue", type: "circle", source: "incidents",
      filter: ["all", unclustered, ["==", ["get", "overdue"], true]],
      paint: { "circle-radius": ["+", 8, ["*", 2, ["-", 5, ["get", "priority"]]]],
               "circle-color": "#f04438", "circle-opacity": 0.25, "circle-blur": 0.4 } });
    map.addLayer({ id: "incidents", type: "circle", source: "incidents", filter: unclustered,
      paint: { "circle-radius": ["+", 3, ["-", 5, ["coalesce", ["get", "priority"], 4]]],
               "circle-color": ["match", ["get", "status"], ...Object.entries(STATUS_COLORS).flat(), "#000"],
               "circle-stroke-color": ["case", ["<=", ["coalesce", ["get", "priority"], 4], 1], "#000", "#fff"],
               "circle-stroke-width": 1 } });
    map.addLayer({ id: "incident-selected", type: "circle", source: "incidents",
      filter: ["all", unclustered, ["==", ["get", "id"], -1]],
      paint: { "circle-radius": 12, "circle-color": "rgba(0,0,0,0)", "circle-stroke-color": "#101828",
               "circle-stroke-width": 2.5 } });
    map.on("click", "incidents", (e) => openPanel(e.features[0].properties.id, false));
    map.on("click", "clusters", async (e) => {
      const f = e.features[0];
      const z = await map.getSource("incidents").getClusterExpansionZoom(f.properties.cluster_id);
      map.easeTo({ center: f.geometry.coordinates, zoom: z });
    });
    map.on("click", "cameras", (e) => {
      if (map.queryRenderedFeatures(e.point, { layers: ["incidents"] }).length) return;
      const p = e.features[0].properties;
      if (p.has_stream) wall.open({ id: p.id, code: p.code, name: p.name });
    });
    for (const layer of ["incidents", "clusters", "cameras"]) {
      map.on("mouseenter", layer, () => { map.getCanvas().style.cursor = "pointer"; });
      map.on("mouseleave", layer, () => { map.getCanvas().style.cursor = ""; });
    }
    state.mapLoaded = true;
    redraw();
    loadCameras();
    setInterval(loadCameras, 60000);  // camera health changes with heartbeats
  });

  function connect() {
    const es = new EventSource("/situation/stream");
    state.es = es;
    es.onopen = () => { live.textContent = T("live"); live.className = "live on"; };
    es.onerror = () => { live.textContent = T("reconnecting…"); live.className = "live off"; };
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

  // Which actions the lifecycle allows from a status (migration 0007, incident_transition).
  function actionsFor(status) {
    const next = new Set(cfg.transitions[status] || []);
    const out = [];
    if (status === "new") out.push("triage");
    if (next.has("dispatched")) out.push("dispatch");
    if (next.has("in_progress")) out.push(status === "resolved" ? "reopen_work" : "start");
    if (next.has("resolved")) out.push("resolve");
    if (next.has("closed")) out.push("close");
    if (next.has("duplicate")) out.push("merge");
    if (next.has("rejected")) out.push("reject");
    if (next.has("new")) out.push("reopen");
    return out;
  }
  state.actionsFor = actionsFor;

  async function openPanel(id, fly) {
    state.selected = id;
    if (map.getLayer("incident-selected")) map.setFilter("incident-selected", ["all", unclustered, ["==", ["get", "id"], id]]);
    const r = await fetch("/situation/api/incidents/" + id, { credentials: "same-origin" });
    if (!r.ok) return;
    const d = await r.json();
    state.detail = d;
    if (fly) map.flyTo({ center: [d.lon, d.lat], zoom: Math.max(map.getZoom(), 15) });
    const h = el("h3", "#" + d.id + " " + CATEGORY(d.category) + " — " + STATUS(d.status));
    h.dataset.status = d.status;
    const dl = el("dl");
    const deadline = el("span", fmtTime(d.deadline) + " ");
    deadline.append(countdown(d));
    const rows = [[T("Priority"), "P" + d.priority], [T("Reported"), fmtTime(d.reported_at)], [T("Deadline"), deadline],
      [T("District"), d.district], [T("Parcel"), d.parcel_number ? d.parcel_number + (d.parcel_address ? " · " + d.parcel_address : "") : "—"],
      [T("Building"), d.building_number ? d.building_number + " · " + T(d.building_use) + ", " + d.building_floors + " " + T("floors") : "—"],
      [T("Service"), d.service ? d.service + (d.service_phone ? " · " + d.service_phone : "") : "—"],
      [T("Source"), T(SOURCE_LABELS[d.source] || d.source)], [T("Title"), d.title || "—"]];
    if (d.possible_duplicate_of) rows.push([T("Possible duplicate of"), "#" + d.possible_duplicate_of]);
    if (d.duplicate_of) rows.push([T("Duplicate of"), "#" + d.duplicate_of]);
    for (const [k, v] of rows) {
      const dd = el("dd"); if (v instanceof Node) dd.append(v); else dd.textContent = v == null ? "—" : String(v);
      dl.append(el("dt", k), dd);
    }
    const cams = el("ul", null, "cameras");
    for (const c of d.cameras) {
      const li = el("li"); li.dataset.cameraId = c.id;
      li.append(el("span", c.code + " · " + c.distance_m + " m · " + T(c.health)));
      if (c.has_stream) {
        const b = el("button", T("Watch")); b.type = "button"; b.dataset.role = "watch";
        b.addEventListener("click", () => wall.open({ id: c.id, code: c.code, name: c.name }));
        li.append(" ", b);
      }
      cams.append(li);
    }
    if (!d.cameras.length) cams.append(el("li", T("No camera sees this point")));
    else if (d.cameras.filter((c) => c.has_stream).length > 1) {
      const all = el("button", T("Watch cameras")); all.type = "button"; all.dataset.role = "watch-all";
      all.addEventListener("click", () => { for (const c of d.cameras) if (c.has_stream) wall.open({ id: c.id, code: c.code, name: c.name }); });
      const li = el("li"); li.append(all); cams.append(li);
    }
    const tl = el("ol", null, "timeline");
    for (const ev of d.timeline) {
      const li = el("li", fmtTime(ev.at) + " · " + T(EVENT_LABELS[ev.kind] || ev.kind) +
        (ev.to_status ? " → " + STATUS(ev.to_status) : "") + " · " + ev.actor + (ev.note ? " · " + ev.note : ""));
      li.dataset.kind = ev.kind;
      if (ev.kind === "snapshot" && ev.data && ev.data.attachment) {
        const a = el("a"); a.href = "/situation/api/incidents/" + d.id + "/attachments/" + ev.data.attachment;
        a.target = "_blank"; a.rel = "noopener";
        const img = el("img"); img.src = a.href; img.alt = T("Snapshot") + " " + (ev.data.camera || "");
        img.className = "thumb"; img.loading = "lazy";
        a.append(img); li.append(" ", a);
      }
      tl.append(li);
    }
    const msg = el("p", "", "msg");
    const actions = el("div", null, "actions");
    function action(name, label, extra, endpoint, fixed) {
      const f = document.createElement("form"); f.dataset.action = name;
      if (extra) f.append(...extra());
      const b = el("button", label); b.type = "submit"; f.append(b);
      f.addEventListener("submit", async (e) => {
        e.preventDefault();
        const body = Object.assign({ version: d.version }, fixed || {});
        for (const [k, v] of new FormData(f).entries()) if (v !== "") body[k] = v;
        try { await post(d.id, endpoint || name, body); msg.textContent = ""; openPanel(d.id, false); }
        catch (err) { msg.textContent = err.message; }
      });
      actions.append(f);
    }
    const input = (name, ph, type) => { const i = document.createElement("input"); i.name = name; i.placeholder = ph; i.type = type || "text"; i.size = 8; i.setAttribute("aria-label", ph); return i; };
    const allowed = actionsFor(d.status);
    for (const a of allowed) {
      if (a === "triage") action("triage", T("Triage"), () => { const s = document.createElement("select"); s.name = "priority"; s.setAttribute("aria-label", T("priority"));
        for (const p of [1, 2, 3, 4]) { const o = el("option", "P" + p); o.value = p; if (p === d.priority) o.selected = true; s.append(o); } return [s]; });
      else if (a === "dispatch") action("dispatch", T("Dispatch"), () => { const s = document.getElementById("service-options").cloneNode(true);
        s.hidden = false; s.removeAttribute("id"); s.name = "service_id"; s.setAttribute("aria-label", T("service")); if (d.service_id) s.value = d.service_id; return [s]; });
      else if (a === "start") action("start", T("Start work"), null, "status", { status: "in_progress" });
      else if (a === "reopen_work") action("reopen_work", T("Reopen"), () => [input("note", T("note"))], "status", { status: "in_progress" });
      else if (a === "resolve") action("resolve", T("Resolve"), () => [input("note", T("note"))]);
      else if (a === "close") action("close", T("Close"), null, "status", { status: "closed" });
      else if (a === "merge") action("merge", T("Merge into"), () => { const i = input("into", T("incident #"), "number"); if (d.possible_duplicate_of) i.value = d.possible_duplicate_of; return [i]; });
      else if (a === "reject") action("reject", T("Reject"), () => [input("note", T("note"))], "status", { status: "rejected" });
      else if (a === "reopen") action("reopen", T("Reopen"), null, "status", { status: "new" });
    }
    if (!allowed.length) actions.append(el("p", T("No actions in this status"), "muted"));
    panel.replaceChildren(h, dl, el("h4", T("Actions")), actions, msg, el("h4", T("Cameras that see it")), cams, el("h4", T("Timeline")), tl);
    panel.hidden = false;
    document.getElementById("sheet-title").textContent = "#" + d.id + " " + CATEGORY(d.category);
    expandSheet(true);
  }
  state.openPanel = openPanel;

  form.addEventListener("change", load);
  load().then(connect);
})();
