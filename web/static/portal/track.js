/* Tracking page: a small map with the report's pin (our own tiles). */
(function () {
  "use strict";
  var el = document.getElementById("track-map");
  if (!el || !window.cadastreBasemap || !window.cadastreBasemap.supported()) { if (el) { el.hidden = true; } return; }
  var lon = +el.dataset.lon, lat = +el.dataset.lat;
  var map = new maplibregl.Map({ container: el, center: [lon, lat], zoom: 16, interactive: true,
    dragRotate: false, pitchWithRotate: false, attributionControl: { compact: true },
    style: window.cadastreBasemap.style({ lang: el.dataset.lang, attribution: el.dataset.attribution, streets: true }) });
  new maplibregl.Marker({ color: "#b3261e" }).setLngLat([lon, lat]).addTo(map);
  window.trackMap = map;
})();
