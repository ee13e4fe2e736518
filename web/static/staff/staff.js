// Staff pages: a MapLibre map of the parcel and its neighbours; on operation pages the
// preview of the proposed result (a dry run on the server) before the registrar confirms.
(function () {
  "use strict";
  var el = document.getElementById("map");
  if (!el || !window.maplibregl) return;
  var current = JSON.parse(el.dataset.geojson);
  var empty = { type: "FeatureCollection", features: [] };

  function bounds(geojson) {
    var b = new maplibregl.LngLatBounds();
    (function walk(c) {
      if (typeof c[0] === "number") { b.extend(c); return; }
      c.forEach(walk);
    })(geojson.features ? geojson.features.map(function (f) { return f.geometry.coordinates; })
                        : geojson.geometry.coordinates);
    return b;
  }

  var map = new maplibregl.Map({
    container: el,
    style: { version: 8, sources: {}, layers: [
      { id: "bg", type: "background", paint: { "background-color": "#f4f1ea" } }] },
    bounds: bounds(current), fitBoundsOptions: { padding: 60 }, attributionControl: false
  });
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }));
  window.staffMap = map;

  map.on("load", function () {
    map.addSource("context", { type: "geojson", data: empty });
    map.addSource("current", { type: "geojson", data: current });
    map.addSource("preview", { type: "geojson", data: empty });
    map.addSource("cut", { type: "geojson", data: empty });
    map.addLayer({ id: "context-line", type: "line", source: "context",
      paint: { "line-color": "#8a8f98", "line-width": 1 } });
    map.addLayer({ id: "current-fill", type: "fill", source: "current",
      paint: { "fill-color": "#0b5cad", "fill-opacity": 0.15 } });
    map.addLayer({ id: "current-line", type: "line", source: "current",
      paint: { "line-color": "#0b5cad", "line-width": 2 } });
    map.addLayer({ id: "preview-fill", type: "fill", source: "preview",
      filter: ["==", ["get", "role"], "result"],
      paint: { "fill-color": ["match", ["%", ["to-number", ["get", "id"]], 4], 0, "#e8590c", 1, "#2b8a3e", 2, "#5f3dc4", "#c2255c"],
               "fill-opacity": 0.45 } });
    map.addLayer({ id: "preview-line", type: "line", source: "preview",
      filter: ["==", ["get", "role"], "result"],
      paint: { "line-color": "#212529", "line-width": 2 } });
    map.addLayer({ id: "preview-label", type: "symbol", source: "preview",
      filter: ["==", ["get", "role"], "result"],
      layout: { "text-field": ["get", "cadastral_number"], "text-size": 12 } });
    map.addLayer({ id: "cut-line", type: "line", source: "cut",
      paint: { "line-color": "#d00", "line-width": 2, "line-dasharray": [2, 1] } });
    if (el.dataset.context) {
      fetch(el.dataset.context, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : empty; })
        .then(function (gj) { map.getSource("context").setData(gj); });
    }
    el.dataset.ready = "1";
  });

  var form = document.getElementById("opform");
  if (!form) return;
  var confirmBtn = document.getElementById("confirm");
  var msg = document.getElementById("preview-msg");
  var cut = document.getElementById("cut_line");
  var points = [];

  if (cut) {
    map.on("click", function (e) {
      points.push([+e.lngLat.lng.toFixed(7), +e.lngLat.lat.toFixed(7)]);
      var line = { type: "LineString", coordinates: points };
      cut.value = JSON.stringify(line);
      if (points.length > 1) map.getSource("cut").setData({ type: "Feature", geometry: line, properties: {} });
      confirmBtn.disabled = true;
    });
  }
  form.addEventListener("input", function () { confirmBtn.disabled = true; });

  // Owners and shares before and after, side by side (labels come from the server).
  var detail = document.getElementById("preview-detail");
  function node(tag, text, cls) {
    var e = document.createElement(tag);
    if (text != null) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }
  function parcelCard(p, L, side) {
    var card = node("div", null, "pv-parcel");
    var h = node("h4", p.cadastral_number);
    if (side === "before" && p.retired) h.append(node("span", " — " + L.retired, "pv-retired"));
    if (side === "after" && p.new) h.append(node("span", " (" + L["new"] + ")", "pv-new"));
    card.append(h, node("p", L.area + ": " + p.area_m2 + " m² · " + p.land_category + " · " + p.permitted_use, "small"));
    card.append(node("h5", L.owners));
    var ul = node("ul", null, "pv-owners");
    p.owners.forEach(function (o) { ul.append(node("li", o.name + " — " + o.share)); });
    if (!p.owners.length) ul.append(node("li", L.none));
    card.append(ul, node("h5", L.other));
    var ol = node("ul", null, "pv-other");
    p.other.forEach(function (o) { ol.append(node("li", o.label + (o.name ? " — " + o.name : "") + (o.registration_number ? " · " + o.registration_number : ""))); });
    if (!p.other.length) ol.append(node("li", L.none));
    card.append(ol);
    return card;
  }
  function showPreview(pv) {
    var L = pv.labels;
    var before = node("div", null, "pv-col"); before.dataset.side = "before";
    before.append(node("h3", L.before));
    pv.before.forEach(function (p) { before.append(parcelCard(p, L, "before")); });
    var after = node("div", null, "pv-col"); after.dataset.side = "after";
    after.append(node("h3", L.after));
    pv.after.forEach(function (p) { after.append(parcelCard(p, L, "after")); });
    detail.replaceChildren(before, after);
    detail.hidden = false;
  }

  document.getElementById("preview").addEventListener("click", function () {
    var data = new FormData(form);
    msg.textContent = "…";
    fetch(form.dataset.preview, {
      method: "POST", body: data, credentials: "same-origin",
      headers: { "X-CSRF-Token": data.get("csrf_token"), "Accept": "application/json" }
    }).then(function (r) {
      return r.json().then(function (body) { return { ok: r.ok, body: body }; });
    }).then(function (res) {
      if (!res.ok) {
        msg.className = "error";
        msg.textContent = res.body.description || "error";
        map.getSource("preview").setData(empty);
        detail.hidden = true;
        confirmBtn.disabled = true;
        return;
      }
      msg.className = "";
      var pv = res.body.preview;
      msg.textContent = pv ? pv.sentence : res.body.result.message;
      if (pv) showPreview(pv);
      map.getSource("preview").setData(res.body.geojson);
      var b = bounds(res.body.geojson);
      if (!b.isEmpty()) map.fitBounds(b, { padding: 60, duration: 0 });
      confirmBtn.disabled = false;
      el.dataset.previewed = String(res.body.geojson.features.length);
    });
  });
})();
