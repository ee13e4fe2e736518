/* Camera wall: several live cameras side by side, played with hls.js from our relay
   (/situation/cameras/<id>/hls/index.m3u8); the browser never sees a camera's own URL.
   window.CameraWall(element, options) → { open(camera), close(id), closeAll(), players } */
(function () {
  "use strict";
  function randomId() {
    const a = new Uint8Array(12); crypto.getRandomValues(a);
    return Array.from(a, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  window.CameraWall = function (wall, opts) {
    const T = opts.t; const csrf = opts.csrf;
    const players = new Map();

    function leave(id, viewer) {
      // keepalive: the request survives the page being closed
      fetch("/situation/cameras/" + id + "/hls/leave", {
        method: "POST", credentials: "same-origin", keepalive: true,
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: JSON.stringify({ viewer: viewer }) }).catch(() => {});
    }

    function close(id) {
      const p = players.get(id);
      if (!p) return;
      players.delete(id);
      if (p.hls) p.hls.destroy();
      p.video.removeAttribute("src"); p.video.load();
      p.tile.remove();
      leave(id, p.viewer);
      wall.hidden = players.size === 0;
      if (opts.onChange) opts.onChange();
    }

    function el(tag, text, cls) {
      const e = document.createElement(tag);
      if (text != null) e.textContent = text;
      if (cls) e.className = cls;
      return e;
    }

    function open(cam) {
      if (players.has(cam.id)) { players.get(cam.id).tile.scrollIntoView({ block: "nearest" }); return; }
      const viewer = randomId();
      const url = "/situation/cameras/" + cam.id + "/hls/index.m3u8?viewer=" + viewer;
      const tile = el("figure", null, "tile"); tile.dataset.cameraId = cam.id;
      const video = document.createElement("video");
      video.muted = true; video.autoplay = true; video.playsInline = true; video.controls = true;
      video.setAttribute("aria-label", T("Camera") + " " + cam.code);
      const cap = el("figcaption");
      const name = el("span", cam.code + (cam.name ? " · " + cam.name : ""), "cam-name");
      const status = el("span", T("Loading video…"), "cam-status");
      const snap = el("button", T("Snapshot")); snap.type = "button"; snap.dataset.role = "snapshot";
      const x = el("button", "×", "close"); x.type = "button"; x.title = T("Close video");
      x.setAttribute("aria-label", T("Close video"));
      cap.append(name, status, snap, x);
      tile.append(video, cap);
      wall.append(tile); wall.hidden = false;
      const p = { tile: tile, video: video, viewer: viewer, hls: null, cam: cam, status: status };
      players.set(cam.id, p);
      video.addEventListener("playing", () => { status.textContent = ""; tile.classList.add("playing"); });
      if (window.Hls && window.Hls.isSupported()) {
        const hls = new window.Hls({ liveSyncDurationCount: 2, manifestLoadingMaxRetry: 2,
          xhrSetup: (xhr) => { xhr.withCredentials = true; } });
        p.hls = hls;
        hls.on(window.Hls.Events.ERROR, (_e, data) => {
          if (data.fatal) { status.textContent = T("Stream unavailable"); tile.classList.add("failed"); hls.destroy(); p.hls = null; }
        });
        hls.loadSource(url); hls.attachMedia(video);
        hls.on(window.Hls.Events.MANIFEST_PARSED, () => { video.play().catch(() => {}); });
      } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
        video.src = url;  // Safari plays HLS natively
      } else {
        status.textContent = T("Stream unavailable");
      }
      snap.addEventListener("click", async () => {
        const incident = opts.selectedIncident();
        if (!incident) { status.textContent = T("Select an incident first"); return; }
        snap.disabled = true;
        try {
          const r = await fetch("/situation/api/incidents/" + incident + "/snapshot", {
            method: "POST", credentials: "same-origin",
            headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
            body: JSON.stringify({ camera_id: cam.id }) });
          const j = await r.json();
          if (!r.ok) throw new Error(j.description || r.statusText);
          status.textContent = T("Snapshot attached to the timeline");
          if (opts.onSnapshot) opts.onSnapshot(incident, j);
        } catch (err) { status.textContent = err.message; }
        finally { snap.disabled = false; }
      });
      x.addEventListener("click", () => close(cam.id));
      if (opts.onChange) opts.onChange();
    }

    function closeAll() { for (const id of Array.from(players.keys())) close(id); }
    window.addEventListener("pagehide", closeAll);
    return { open: open, close: close, closeAll: closeAll, players: players };
  };
})();
