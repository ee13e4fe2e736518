/* Analytics charts (Chart.js) and the hexagon heat map (MapLibre). */
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("analytics-data").textContent);
  const T = (m) => (data.messages && data.messages[m]) || m;
  const NAME = (c) => (data.names && data.names[c]) || c;
  const totals = data.categories.map((c) =>
    Object.values(data.matrix).reduce((s, row) => s + (row[c] || 0), 0));
  window.analytics = { charts: [] };
  window.analytics.charts.push(new Chart(document.getElementById("chart-counts"), {
    type: "bar", data: { labels: data.categories.map(NAME), datasets: [{ label: T("Incidents"), data: totals, backgroundColor: "#2e90fa" }] },
    options: { animation: false, plugins: { legend: { display: false } } } }));
  window.analytics.charts.push(new Chart(document.getElementById("chart-resolve"), {
    type: "bar", data: { labels: data.by_category.map((r) => NAME(r.key)),
      datasets: [{ label: T("median h"), data: data.by_category.map((r) => r.median_hours), backgroundColor: "#12b76a" },
                 { label: T("p90 h"), data: data.by_category.map((r) => r.p90_hours), backgroundColor: "#f79009" }] },
    options: { animation: false } }));
  // trend over time: reported and resolved per day (per hour in short windows)
  window.analytics.charts.push(new Chart(document.getElementById("chart-trend"), {
    type: "line", data: { labels: data.trend.labels,
      datasets: [{ label: T("Reported"), data: data.trend.reported, borderColor: "#d92d20", backgroundColor: "#d92d20", tension: 0.2 },
                 { label: T("Resolved"), data: data.trend.resolved, borderColor: "#12b76a", backgroundColor: "#12b76a", tension: 0.2 }] },
    options: { animation: false, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } } }));

  const map = new maplibregl.Map({ container: "hexmap", center: [69.2797, 41.2995], zoom: 10.2,
    attributionControl: false,
    style: { version: 8, sources: {}, layers: [{ id: "bg", type: "background", paint: { "background-color": "#eef1f4" } }] } });
  window.analytics.map = map;
  map.on("error", (e) => { window.analytics.lastMapError = String(e && e.error && e.error.message); });
  const sizeSel = document.getElementById("hex-size");
  function url() {
    const q = new URLSearchParams(location.search); q.set("size", sizeSel.value);
    return "/analytics/api/hexagons.geojson?" + q;
  }
  async function load() {
    const fc = await (await fetch(url(), { credentials: "same-origin" })).json();
    window.analytics.hex = fc;
    const max = Math.max(1, fc.max);
    map.getSource("hex").setData(fc);
    map.setPaintProperty("hex", "fill-color", ["interpolate", ["linear"], ["get", "count"],
      1, "#fef0c7", Math.max(2, max / 2), "#f79009", Math.max(3, max), "#b42318"]);
    // the legend shows the same ramp with its end values
    document.getElementById("hex-min").textContent = "1";
    document.getElementById("hex-mid").textContent = max > 2 ? String(Math.round(max / 2)) : "";
    document.getElementById("hex-max").textContent = String(max);
  }
  map.on("load", () => {
    map.addSource("districts", { type: "geojson", data: "/situation/api/districts.geojson" });
    map.addSource("hex", { type: "geojson", data: { type: "FeatureCollection", features: [] } });
    map.addLayer({ id: "hex", type: "fill", source: "hex", paint: { "fill-color": "#f79009", "fill-opacity": 0.75, "fill-outline-color": "#ffffff" } });
    map.addLayer({ id: "districts", type: "line", source: "districts", paint: { "line-color": "#475467", "line-width": 1 } });
    load();
  });
  sizeSel.addEventListener("change", load);
})();
