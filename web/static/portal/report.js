/* Report a problem: pin on the map (tap, "use my location" or address search), photo checks
 * before upload, and "is it one of these?" — open incidents of the category within 50 m. */
(function () {
  "use strict";
  var cfg = JSON.parse(document.getElementById("report-config").textContent);
  var t = cfg.i18n;
  var lat = document.getElementById("report-lat");
  var lon = document.getElementById("report-lon");
  var pinEl = document.getElementById("report-pin");
  var category = document.getElementById("report-category");
  var addressEl = document.getElementById("report-address");
  var nearbyBox = document.getElementById("report-nearby");
  var nearbyList = document.getElementById("report-nearby-list");
  var report = (window.report = { nearby: [], ready: false });
  var map = null, marker = null;

  function fmt(v) { return Number(v).toFixed(5); }

  function setPin(lng, la, fly) {
    lon.value = fmt(lng); lat.value = fmt(la);
    pinEl.textContent = t.pinPlaced.replace("{lat}", fmt(la)).replace("{lon}", fmt(lng));
    if (map) {
      if (!marker) { marker = new maplibregl.Marker({ color: "#b3261e", draggable: true }); 
        marker.on("dragend", function () { var p = marker.getLngLat(); setPin(p.lng, p.lat, false); }); }
      marker.setLngLat([lng, la]).addTo(map);
      if (fly) { map.jumpTo({ center: [lng, la], zoom: Math.max(map.getZoom(), 17) }); }
    }
    checkNearby();
  }
  report.setPin = setPin;

  if (window.cadastreBasemap && window.cadastreBasemap.supported()) {
    var opts = { container: "report-map", style: window.cadastreBasemap.style({ lang: cfg.lang, attribution: t.attribution, streets: true }),
                 center: cfg.centre, zoom: 11, maxZoom: 20, minZoom: 8, dragRotate: false,
                 pitchWithRotate: false, attributionControl: { compact: true } };
    if (cfg.bounds) { opts.bounds = cfg.bounds; opts.fitBoundsOptions = { padding: 10 };
      opts.maxBounds = [[cfg.bounds[0] - 0.3, cfg.bounds[1] - 0.3], [cfg.bounds[2] + 0.3, cfg.bounds[3] + 0.3]]; }
    map = new maplibregl.Map(opts);
    map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");
    map.on("click", function (e) { setPin(e.lngLat.lng, e.lngLat.lat, false); });
    map.on("load", function () { report.ready = true; });
    window.reportMap = map;
  } else {
    document.getElementById("report-map-fallback").hidden = false;
    report.ready = true;
  }
  if (lat.value && lon.value && !isNaN(+lat.value) && !isNaN(+lon.value)) { setPin(+lon.value, +lat.value, true); }
  lat.addEventListener("change", function () { if (lat.value && lon.value) { setPin(+lon.value, +lat.value, true); } });
  lon.addEventListener("change", function () { if (lat.value && lon.value) { setPin(+lon.value, +lat.value, true); } });

  document.getElementById("report-locate").addEventListener("click", function () {
    if (!navigator.geolocation) { pinEl.textContent = t.noLocation; return; }
    pinEl.textContent = t.locating;
    navigator.geolocation.getCurrentPosition(function (p) {
      setPin(p.coords.longitude, p.coords.latitude, true);
    }, function () { pinEl.textContent = t.noLocation; }, { enableHighAccuracy: true, timeout: 15000 });
  });

  // ---- address search (our /api/search) ------------------------------------------------
  var place = document.getElementById("report-place");
  var results = document.getElementById("report-place-results");
  function findPlace() {
    var q = place.value.trim();
    if (q.length < 2) { return; }
    results.textContent = "";
    pinEl.textContent = t.searching;
    fetch("/api/search?limit=5&q=" + encodeURIComponent(q), { headers: { Accept: "application/json" } })
      .then(function (r) { return r.json(); })
      .then(function (j) {
        var items = j.results || [];
        if (!items.length) { pinEl.textContent = j.description || t.none; return; }
        items.forEach(function (it) {
          var li = document.createElement("li"), b = document.createElement("button");
          b.type = "button"; b.className = "result"; b.dataset.number = it.cadastral_number;
          var s = document.createElement("strong"); s.textContent = it.address || it.cadastral_number;
          var sp = document.createElement("span"); sp.textContent = it.district || "";
          b.appendChild(s); b.appendChild(sp);
          b.addEventListener("click", function () {
            addressEl.value = it.address || "";
            results.textContent = "";
            setPin(it.centroid[0], it.centroid[1], true);
          });
          li.appendChild(b); results.appendChild(li);
        });
        results.firstChild.querySelector("button").click();
      })
      .catch(function () { pinEl.textContent = t.none; });
  }
  document.getElementById("report-place-go").addEventListener("click", findPlace);
  place.addEventListener("keydown", function (e) { if (e.key === "Enter") { e.preventDefault(); findPlace(); } });

  // ---- "is it one of these?" -------------------------------------------------------------
  function checkNearby() {
    if (!category.value || !lat.value || !lon.value) { nearbyBox.hidden = true; report.nearby = []; return; }
    var q = "/api/reports/nearby?category=" + encodeURIComponent(category.value) +
            "&lon=" + encodeURIComponent(lon.value) + "&lat=" + encodeURIComponent(lat.value);
    fetch(q, { headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : { incidents: [] }; })
      .then(function (j) {
        report.nearby = j.incidents || [];
        nearbyList.textContent = "";
        report.nearby.forEach(function (it) {
          var li = document.createElement("li");
          var p = document.createElement("p");
          var strong = document.createElement("strong"); strong.textContent = "#" + it.id + " · " + (t.status[it.status] || it.status);
          var span = document.createElement("span"); span.textContent = " · " + t.metres.replace("{n}", Math.round(it.distance_m));
          p.appendChild(strong); p.appendChild(span);
          var d = document.createElement("p"); d.className = "small"; d.textContent = it.description || it.title || "";
          var b = document.createElement("button");
          b.type = "submit"; b.className = "secondary follow"; b.name = "incident_id"; b.value = it.id;
          b.formAction = "/reports/subscribe"; b.formNoValidate = true; b.textContent = t.follow;
          li.appendChild(p); li.appendChild(d); li.appendChild(b); nearbyList.appendChild(li);
        });
        nearbyBox.hidden = report.nearby.length === 0;
      })
      .catch(function () { nearbyBox.hidden = true; });
  }
  category.addEventListener("change", checkNearby);
  report.checkNearby = checkNearby;

  // ---- photos: count, size and type before anything is uploaded ----------------------------
  var photos = document.getElementById("report-photos");
  var photosStatus = document.getElementById("report-photos-status");
  function checkPhotos() {
    var files = Array.prototype.slice.call(photos.files || []);
    var msg = "";
    if (files.length > cfg.maxPhotos) { msg = t.tooMany; }
    files.forEach(function (f) {
      if (!msg && f.size > cfg.maxBytes) { msg = t.tooBig.replace("{name}", f.name); }
      if (!msg && f.type && f.type.indexOf("image/") !== 0) { msg = t.notImage.replace("{name}", f.name); }
    });
    photos.setCustomValidity(msg);
    photosStatus.textContent = msg || (files.length ? t.photosOk.replace("{n}", files.length) : "");
    photosStatus.classList.toggle("error", !!msg);
    return !msg;
  }
  photos.addEventListener("change", checkPhotos);
  document.getElementById("report-form").addEventListener("submit", function (e) {
    var sub = e.submitter;
    if (sub && sub.name === "incident_id") { return; }
    if (!checkPhotos()) { e.preventDefault(); photos.focus(); }
  });
  var err = document.getElementById("report-error");
  if (err) { err.scrollIntoView({ block: "start" }); }
})();
