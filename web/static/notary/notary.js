/* Notary form: search parcels by the beginning of the cadastral number or by the address. */
(function () {
  "use strict";
  const input = document.getElementById("cadastral_number");
  const list = document.getElementById("parcel-options");
  if (!input || !list) return;
  let timer = null; let last = "";
  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const q = input.value.trim();
      if (q.length < 2 || q === last) return;
      last = q;
      const r = await fetch("/notary/api/parcels?q=" + encodeURIComponent(q), { credentials: "same-origin" });
      if (!r.ok) return;
      const j = await r.json();
      list.replaceChildren(...j.parcels.map((p) => {
        const o = document.createElement("option");
        o.value = p.cadastral_number; o.label = p.cadastral_number + (p.address ? " · " + p.address : "");
        o.textContent = o.label;
        return o;
      }));
    }, 200);
  });
  // a second click while the first request runs must not send the form again
  const form = document.getElementById("extract-form");
  form.addEventListener("submit", () => { document.getElementById("issue").disabled = true; });
})();
