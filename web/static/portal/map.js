/* Citizen portal map: MapLibre GL JS on our own OGC API vector tiles, no outside requests.
 * Basemap = our layers (basemap.js: districts, parcels, buildings, streets); labels from glyph PBFs we serve
 * (web/static/portal/glyphs, made by scripts/make_glyphs.py). The URL hash keeps the view. */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("portal-config").textContent);
  var t = cfg.i18n;
  var origin = window.location.origin;
  var portal = (window.portal = { highlighted: null, ready: false });

  // The basemap (districts, parcels by land use, buildings, named streets) is shared with the
  // report and tracking pages; this page adds district names, parcel labels and the highlight.
  var style = window.cadastreBasemap.style({ lang: cfg.lang, attribution: t.attribution, streets: true });
  style.sources["district-labels"] = { type: "geojson", data: origin + "/api/districts/labels" };
  style.sources.highlight = { type: "geojson", data: { type: "FeatureCollection", features: [] } };
  style.layers.push(
    { id: "highlight-fill", type: "fill", source: "highlight",
      paint: { "fill-color": "#ffbf47", "fill-opacity": 0.45 } },
    { id: "highlight-line", type: "line", source: "highlight",
      paint: { "line-color": "#b3261e", "line-width": 3 } },
    // At high zoom each parcel shows its plot number (the last part of the cadastral number);
    // the selected parcel shows its full number.
    { id: "parcel-label", type: "symbol", source: "parcels", "source-layer": "parcels", minzoom: 17,
      layout: { "text-field": ["slice", ["get", "cadastral_number"], 15], "text-font": ["DejaVuSans"],
                "text-size": ["interpolate", ["linear"], ["zoom"], 17, 10, 19, 13],
                "text-max-width": 20, "symbol-placement": "point" },
      paint: { "text-color": "#3b3226", "text-halo-color": "#ffffff", "text-halo-width": 1.2 } },
    { id: "highlight-label", type: "symbol", source: "highlight", minzoom: 14,
      layout: { "text-field": ["get", "cadastral_number"], "text-font": ["DejaVuSans-Bold"],
                "text-size": 13, "text-allow-overlap": true, "text-ignore-placement": true },
      paint: { "text-color": "#7a1a14", "text-halo-color": "#ffffff", "text-halo-width": 2 } },
    { id: "district-label", type: "symbol", source: "district-labels", maxzoom: 15,
      layout: { "text-field": ["get", cfg.lang === "ru" ? "name_ru" : "name"], "text-font": ["DejaVuSans-Bold"],
                "text-size": ["interpolate", ["linear"], ["zoom"], 9, 9, 11, 12, 14, 16],
                "text-transform": "uppercase", "text-letter-spacing": 0.03,
                "text-max-width": 7, "text-padding": 1 },
      paint: { "text-color": "#2d2a26", "text-halo-color": "#ffffff", "text-halo-width": 1.5 } });

  // ---- land-use legend (colours from the basemap, names from the server) -----------------
  var legend = document.getElementById("map-legend-list");
  if (legend && cfg.uses) {
    var names = {};
    cfg.uses.forEach(function (u) { names[u.code] = u.name; });
    window.cadastreBasemap.USE_COLORS.forEach(function (p) {
      if (!names[p[0]]) { return; }
      var li = document.createElement("li");
      var sw = document.createElement("span"); sw.className = "swatch"; sw.style.background = p[1];
      li.appendChild(sw); li.appendChild(document.createTextNode(names[p[0]]));
      li.dataset.use = p[0];
      legend.appendChild(li);
    });
  }

  function supported() {
    try {
      var c = document.createElement("canvas");
      return !!(window.WebGL2RenderingContext && c.getContext("webgl2")) ||
             !!(window.WebGLRenderingContext && c.getContext("webgl"));
    } catch (e) { return false; }
  }

  var map = null;
  if (window.maplibregl && supported()) {
    var opts = { container: "map", style: style, hash: true, maxZoom: 20, minZoom: 8,
                 center: cfg.centre, zoom: cfg.zoom, attributionControl: { compact: true },
                 cooperativeGestures: false, dragRotate: false, pitchWithRotate: false,
                 locale: { "NavigationControl.ZoomIn": "+", "NavigationControl.ZoomOut": "−" } };
    if (cfg.bounds && !window.location.hash) { opts.bounds = cfg.bounds; opts.fitBoundsOptions = { padding: 10 }; }
    if (cfg.bounds) { opts.maxBounds = [[cfg.bounds[0] - 0.3, cfg.bounds[1] - 0.3], [cfg.bounds[2] + 0.3, cfg.bounds[3] + 0.3]]; }
    map = new maplibregl.Map(opts);
    map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
    map.addControl(new maplibregl.GeolocateControl({
      positionOptions: { enableHighAccuracy: true }, trackUserLocation: false }), "top-right");
    map.addControl(new maplibregl.ScaleControl({ unit: "metric", maxWidth: 120 }), "bottom-left");
    map.on("load", function () { portal.ready = true; });
    map.on("click", "parcel-fill", function (e) {
      var f = e.features && e.features[0];
      if (f && f.properties.cadastral_number) { openParcel(f.properties.cadastral_number, false); }
    });
    map.on("mouseenter", "parcel-fill", function () { map.getCanvas().style.cursor = "pointer"; });
    map.on("mouseleave", "parcel-fill", function () { map.getCanvas().style.cursor = ""; });
    window.portalMap = map;
  } else {
    document.getElementById("map-fallback").hidden = false;
  }

  portal.renderedParcels = function () {
    if (!map || !map.getLayer("parcel-fill")) { return []; }
    return map.queryRenderedFeatures({ layers: ["parcel-fill"] }).map(function (f) {
      return f.properties.cadastral_number;
    });
  };

  // ---- search and parcel card ---------------------------------------------------------
  var form = document.getElementById("search-form");
  var input = document.getElementById("search-q");
  var statusEl = document.getElementById("search-status");
  var list = document.getElementById("search-results");
  var card = document.getElementById("parcel-card");
  var fmt = new Intl.NumberFormat(cfg.lang === "en" ? "en-US" : (cfg.lang === "ru" ? "ru-RU" : "uz-UZ"),
                                  { maximumFractionDigits: 0 });
  function num(v, unit) { return v === null || v === undefined ? "—" : fmt.format(v) + " " + unit; }

  function setHighlight(card) {
    portal.highlighted = card ? card.cadastral_number : null;
    if (!map) { return; }
    var apply = function () {
      var src = map.getSource("highlight");
      if (!src) { return; }
      src.setData(card ? { type: "FeatureCollection", features: [{ type: "Feature", geometry: card.geometry,
        properties: { cadastral_number: card.cadastral_number } }] } : { type: "FeatureCollection", features: [] });
      if (card) {
        map.fitBounds(card.bbox, { padding: 60, maxZoom: 18, duration: portal.instant ? 0 : 900 });
      }
    };
    if (map.loaded() || map.isStyleLoaded()) { apply(); } else { map.once("load", apply); }
  }

  function showCard(c) {
    document.getElementById("card-title").textContent = c.cadastral_number;
    var set = function (k, v) { card.querySelector('[data-field="' + k + '"]').textContent = v || "—"; };
    set("address", c.address); set("district", c.district);
    set("area", num(c.area_m2, t.m2)); set("land_category_name", c.land_category_name);
    set("permitted_use_name", c.permitted_use_name); set("value", num(c.cadastral_value, t.uzs));
    var ul = card.querySelector('[data-field="buildings"]');
    ul.textContent = "";
    if (!c.buildings.length) { var li0 = document.createElement("li"); li0.textContent = t.noBuildings; ul.appendChild(li0); }
    c.buildings.forEach(function (b) {
      var li = document.createElement("li");
      var parts = [b.cadastral_number, t.use[b.building_use] || b.building_use];
      if (b.floors) { parts.push(t.floors + ": " + b.floors); }
      if (b.floor_area_m2) { parts.push(num(b.floor_area_m2, t.m2)); }
      if (b.year_built) { parts.push(t.built + " " + b.year_built); }
      if (b.cadastral_value) { parts.push(num(b.cadastral_value, t.uzs)); }
      li.textContent = parts.join(" · ");
      ul.appendChild(li);
    });
    card.hidden = false;
  }

  function openParcel(number, focus) {
    return fetch("/api/parcels/" + encodeURIComponent(number), { headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (c) {
        showCard(c); setHighlight(c);
        if (focus) { card.focus({ preventScroll: true }); }
        // On a phone the map sits below the search: bring it into view.
        var el = document.getElementById("map");
        if (el && el.getBoundingClientRect().top > window.innerHeight * 0.5) {
          el.scrollIntoView({ block: "start", behavior: portal.instant ? "auto" : "smooth" });
        }
        return c;
      })
      .catch(function () { statusEl.textContent = t.notFound; });
  }
  portal.openParcel = openParcel;

  function search(q) {
    statusEl.textContent = t.searching;
    list.textContent = "";
    return fetch("/api/search?limit=10&q=" + encodeURIComponent(q), { headers: { Accept: "application/json" } })
      .then(function (r) { return r.json().then(function (j) { return { ok: r.ok, body: j }; }); })
      .then(function (res) {
        if (!res.ok) { statusEl.textContent = res.body.description || t.error; return; }
        var items = res.body.results;
        if (!items.length) { statusEl.textContent = t.none; return; }
        statusEl.textContent = t.found.replace("{n}", items.length);
        items.forEach(function (it) {
          var li = document.createElement("li");
          var b = document.createElement("button");
          b.type = "button"; b.className = "result";
          b.dataset.number = it.cadastral_number;
          var strong = document.createElement("strong"); strong.textContent = it.cadastral_number;
          var span = document.createElement("span"); span.textContent = it.address || "";
          b.appendChild(strong); b.appendChild(span);
          b.addEventListener("click", function () { openParcel(it.cadastral_number, true); });
          li.appendChild(b); list.appendChild(li);
        });
        return openParcel(items[0].cadastral_number, false);
      })
      .catch(function () { statusEl.textContent = t.error; });
  }
  portal.search = search;

  form.addEventListener("submit", function (e) {
    e.preventDefault();
    var q = input.value.trim();
    if (q.length >= 2) { search(q); }
  });
  document.getElementById("card-close").addEventListener("click", function () {
    card.hidden = true; setHighlight(null); input.focus();
  });
  document.addEventListener("keydown", function (e) {
    if (e.key === "Escape" && !card.hidden) { card.hidden = true; setHighlight(null); input.focus(); }
  });
  // Switching language keeps the map view (the hash is not sent to the server).
  Array.prototype.forEach.call(document.querySelectorAll(".langs a"), function (a) {
    a.addEventListener("click", function () { a.href = a.href.split("#")[0] + window.location.hash; });
  });
  if (cfg.parcel) { openParcel(cfg.parcel, false); }
})();
