/* Shared basemap for the portal pages (map, report, tracking): our own OGC API vector tiles
 * (districts, parcels, buildings, streets) and glyphs; no outside requests.
 * window.cadastreBasemap.style({lang, attribution, streets}) returns a MapLibre style. */
(function () {
  "use strict";
  var origin = window.location.origin;

  function tiles(id) {
    return [origin + "/ogc/collections/" + id + "/tiles/WebMercatorQuad/{z}/{y}/{x}?f=mvt"];
  }

  function supported() {
    try {
      var c = document.createElement("canvas");
      return !!(window.maplibregl && ((window.WebGL2RenderingContext && c.getContext("webgl2")) ||
             (window.WebGLRenderingContext && c.getContext("webgl"))));
    } catch (e) { return false; }
  }

  // Land-use colours: one table for the map and its legend.
  var USE_COLORS = [
    ["individual_housing", "#fbf3d5"], ["multi_apartment", "#f6dfc4"], ["commercial", "#f4cfd0"],
    ["office", "#e9d4ee"], ["industrial", "#dcd6e8"], ["public", "#d6e6f5"],
    ["recreation", "#cfe8c6"], ["agriculture", "#e3eec2"]
  ];
  var OTHER_COLOR = "#f2f0ea";

  function useColorExpression() {
    var e = ["match", ["get", "permitted_use"]];
    USE_COLORS.forEach(function (p) { e.push(p[0], p[1]); });
    e.push(OTHER_COLOR);
    return e;
  }

  function style(o) {
    o = o || {};
    var sources = {
      districts: { type: "vector", tiles: tiles("districts"), minzoom: 0, maxzoom: 14,
                   attribution: o.attribution || "" },
      parcels: { type: "vector", tiles: tiles("parcels"), minzoom: 14, maxzoom: 16 },
      buildings: { type: "vector", tiles: tiles("buildings"), minzoom: 15, maxzoom: 16 }
    };
    var layers = [
      { id: "background", type: "background", paint: { "background-color": "#f3efe6" } },
      { id: "district-fill", type: "fill", source: "districts", "source-layer": "districts",
        paint: { "fill-color": "#e8e2d2", "fill-opacity": ["interpolate", ["linear"], ["zoom"], 10, 1, 15, 0.4] } },
      { id: "parcel-fill", type: "fill", source: "parcels", "source-layer": "parcels", minzoom: 14,
        paint: { "fill-color": useColorExpression(), "fill-opacity": 0.95 } },
      { id: "parcel-line", type: "line", source: "parcels", "source-layer": "parcels", minzoom: 14,
        paint: { "line-color": "#9a8f7a", "line-width": ["interpolate", ["linear"], ["zoom"], 14, 0.3, 18, 1.2] } },
      { id: "building-fill", type: "fill", source: "buildings", "source-layer": "buildings", minzoom: 15,
        paint: { "fill-color": "#c9b8a3", "fill-outline-color": "#8c7a66" } },
      { id: "district-line", type: "line", source: "districts", "source-layer": "districts",
        paint: { "line-color": "#5b5346", "line-dasharray": [3, 2],
                 "line-width": ["interpolate", ["linear"], ["zoom"], 9, 1, 15, 2.5] } }
    ];
    if (o.streets) {
      sources.streets = { type: "vector", tiles: tiles("streets"), minzoom: 12, maxzoom: 16 };
      layers.push(
        { id: "street-casing", type: "line", source: "streets", "source-layer": "streets", minzoom: 12,
          layout: { "line-cap": "round", "line-join": "round" },
          paint: { "line-color": "#b9ad98", "line-width": ["interpolate", ["linear"], ["zoom"], 12, 2, 18, 16] } },
        { id: "street-line", type: "line", source: "streets", "source-layer": "streets", minzoom: 12,
          layout: { "line-cap": "round", "line-join": "round" },
          paint: { "line-color": ["match", ["get", "kind"], "avenue", "#fff3c4", "#ffffff"],
                   "line-width": ["interpolate", ["linear"], ["zoom"], 12, 1, 18, 13] } },
        { id: "street-label", type: "symbol", source: "streets", "source-layer": "streets", minzoom: 14,
          layout: { "symbol-placement": "line", "text-field": ["get", o.lang === "ru" ? "name_ru" : "name"],
                    "text-font": ["DejaVuSans"], "text-size": ["interpolate", ["linear"], ["zoom"], 14, 10, 18, 13],
                    "text-max-angle": 30, "symbol-spacing": 300 },
          paint: { "text-color": "#4a4032", "text-halo-color": "#ffffff", "text-halo-width": 1.4 } });
    }
    return { version: 8, name: "Tashkent cadastre",
             glyphs: origin + "/static/portal/glyphs/{fontstack}/{range}.pbf",
             sources: sources, layers: layers };
  }

  window.cadastreBasemap = { style: style, supported: supported, tiles: tiles,
                             USE_COLORS: USE_COLORS, OTHER_COLOR: OTHER_COLOR };
})();
