// OGC API HTML pages: draw the page's features (and the collection's tiles) with MapLibre.
// Data comes from <script type="application/json" id="ogc-map-data"> (no inline script).
(function () {
  var block = document.getElementById('ogc-map-data');
  if (!block || !window.maplibregl) { return; }
  var data = JSON.parse(block.textContent);
  var features = data.features || [];
  var fc = {type: 'FeatureCollection', features: features.filter(function (f) { return f.geometry; })};
  var style = {version: 8, sources: {}, layers: [{id: 'bg', type: 'background', paint: {'background-color': '#f4f3ef'}}]};
  var map = new maplibregl.Map({container: 'ogc-map', style: style, center: [69.28, 41.31], zoom: 10});
  map.on('load', function () {
    if (data.tiles_url) {
      map.addSource('tiles', {type: 'vector', tiles: [data.tiles_url], minzoom: 0, maxzoom: 16});
      map.addLayer({id: 'tiles-line', type: 'line', source: 'tiles', 'source-layer': data.layer,
                    paint: {'line-color': '#7a869a', 'line-width': 0.5}});
    }
    map.addSource('items', {type: 'geojson', data: fc});
    map.addLayer({id: 'items-fill', type: 'fill', source: 'items', filter: ['==', ['geometry-type'], 'Polygon'],
                  paint: {'fill-color': '#3b6fd4', 'fill-opacity': 0.25}});
    map.addLayer({id: 'items-fill-m', type: 'fill', source: 'items', filter: ['==', ['geometry-type'], 'MultiPolygon'],
                  paint: {'fill-color': '#3b6fd4', 'fill-opacity': 0.25}});
    map.addLayer({id: 'items-line', type: 'line', source: 'items', paint: {'line-color': '#1f3f8a', 'line-width': 1}});
    map.addLayer({id: 'items-point', type: 'circle', source: 'items', filter: ['==', ['geometry-type'], 'Point'],
                  paint: {'circle-radius': 5, 'circle-color': '#d4513b'}});
    var b = null;
    fc.features.forEach(function (f) {
      (JSON.stringify(f.geometry.coordinates).match(/-?\d+(\.\d+)?,-?\d+(\.\d+)?/g) || []).forEach(function (p) {
        var xy = p.split(',').map(Number);
        b = b ? [Math.min(b[0], xy[0]), Math.min(b[1], xy[1]), Math.max(b[2], xy[0]), Math.max(b[3], xy[1])] : [xy[0], xy[1], xy[0], xy[1]];
      });
    });
    if (!b && data.bounds) { b = data.bounds; }
    if (b) { map.fitBounds([[b[0], b[1]], [b[2], b[3]]], {padding: 20, maxZoom: 17, duration: 0}); }
  });
})();
