/* The citizen's report page (/report): the place (a tap on the map, the pin dragged, the phone's
   position, or typed as numbers: the fields are what is sent, the map only fills them), the
   proof of work the server asks for (Web Crypto: needs HTTPS or localhost), and the form sent as
   multipart to /api/v1/reports; the server judges the place (inside the district, etc.). Every
   refusal the server gives is shown as it says it. Served by dashboard/report_pages.py, outside
   Dash's assets (this page loads Leaflet and phone-map.js, nothing else). */
(function () {
  "use strict";
  var form = document.getElementById("report-form");
  var status = document.getElementById("report-status");
  var send = document.getElementById("report-send");
  var MAX_PHOTOS = 3;

  function say(text, kind) {
    status.textContent = text;
    status.className = kind || "";
    if (text) status.scrollIntoView({ block: "center" });  // under the thumb, not off screen
  }

  var latField = document.getElementById("report-lat");
  var lonField = document.getElementById("report-lon");
  var where = document.getElementById("report-where");
  var map = null, pin = null;

  // The one way the place is set, from whatever chose it; `note` says how it was found.
  function setPlace(lat, lon, note, fromFields) {
    if (!fromFields) {
      latField.value = lat.toFixed(6);
      lonField.value = lon.toFixed(6);
    }
    where.textContent = "已选位置 · Place: " + lat.toFixed(6) + ", " + lon.toFixed(6) + (note || "");
    if (!map) return;
    if (!pin) {
      pin = L.marker([lat, lon], { draggable: true, title: "举报位置 · The report's place",
                                   autoPan: true }).addTo(map);
      pin.on("dragend", function () {
        var at = pin.getLatLng();
        setPlace(at.lat, at.lng);
      });
    }
    pin.setLatLng([lat, lon]);
  }
  function clearPlace() {
    if (pin) { pin.remove(); pin = null; }
    where.textContent = "";
  }
  function typedPlace() {  // numbers typed in the fields move the pin (checked by the server)
    var lat = Number(latField.value), lon = Number(lonField.value);
    if (!latField.value || !lonField.value || !isFinite(lat) || !isFinite(lon) ||
        Math.abs(lat) > 90 || Math.abs(lon) > 180) return;
    setPlace(lat, lon, "", true);
    // at once, not animated: a keyboard user's Enter on the map right after (it picks the
    // centre) must pick the typed place, not a centre on the way to it
    if (map) map.panTo([lat, lon], { animate: false });
  }
  latField.addEventListener("change", typedPlace);
  lonField.addEventListener("change", typedPlace);

  if (window.L && window.ecocommandPhoneMap) {
    // on a touch screen one finger scrolls the page past the map (two pinch, a tap picks);
    // with a mouse it drags the map as usual
    map = window.ecocommandPhoneMap.create(document.getElementById("report-map"),
                                           { dragging: !L.Browser.mobile });
    map.on("click", function (e) { setPlace(e.latlng.lat, e.latlng.lng); });
    map.getContainer().addEventListener("keydown", function (e) {  // keyboard: its centre
      if (e.key !== "Enter" && e.key !== " ") return;
      e.preventDefault();
      var c = map.getCenter();
      setPlace(c.lat, c.lng);
    });
  } else {
    document.getElementById("report-map").hidden = true;  // the fields and the button still work
  }
  // for the browser tests: the map and where the pin really is, as Leaflet has it
  window.ecocommandReport = {
    map: function () { return map; },
    pin: function () { return pin ? [pin.getLatLng().lat, pin.getLatLng().lng] : null; }
  };

  document.getElementById("report-locate").addEventListener("click", function () {
    if (!navigator.geolocation) {
      say("此设备无法定位 · This device cannot tell its position", "error");
      return;
    }
    say("正在定位… · Finding your position…");
    navigator.geolocation.getCurrentPosition(
      function (pos) {
        var lat = pos.coords.latitude, lon = pos.coords.longitude;
        setPlace(lat, lon, " (±" + Math.round(pos.coords.accuracy) + " m)");
        if (map) map.setView([lat, lon], Math.max(map.getZoom(), 16), { animate: false });
        say("");
      },
      function (err) {
        say("无法定位：" + err.message + " · Could not get your position", "error");
      },
      { enableHighAccuracy: true, timeout: 20000, maximumAge: 60000 }
    );
  });

  function leadingZeroBits(bytes) {
    var bits = 0;
    for (var i = 0; i < bytes.length; i++) {
      if (bytes[i] === 0) { bits += 8; continue; }
      return bits + Math.clz32(bytes[i]) - 24;
    }
    return bits;
  }

  /* The nonce: decimal digits whose SHA-256 of challenge + ":" + nonce starts with `bits` zero
     bits. Digests run in batches: each is a promise, and one at a time would spend most of
     the time waiting on the event loop. */
  async function solve(challenge, bits) {
    var enc = new TextEncoder(), batch = 512;
    for (var start = 0; ; start += batch) {
      var jobs = [];
      for (var n = start; n < start + batch; n++) {
        jobs.push(crypto.subtle.digest("SHA-256", enc.encode(challenge + ":" + n)));
      }
      var digests = await Promise.all(jobs);
      for (var i = 0; i < digests.length; i++) {
        if (leadingZeroBits(new Uint8Array(digests[i])) >= bits) return String(start + i);
      }
    }
  }

  form.addEventListener("submit", async function (ev) {
    ev.preventDefault();
    var photos = document.getElementById("report-photos").files;
    if (!latField.value || !lonField.value) {
      say("请在地图上点选位置，或“使用我的位置” · Tap the map, or “Use my position”, first", "error");
      return;
    }
    if (photos.length > MAX_PHOTOS) {
      say("最多3张照片 · At most 3 photos", "error");
      return;
    }
    if (!window.crypto || !crypto.subtle) {
      say("请用 https 打开本页 · Open this page over https", "error");
      return;
    }
    send.disabled = true;
    try {
      say("正在准备… · Preparing…");
      var ch = await (await fetch("/api/v1/reports/challenge", { cache: "no-store" })).json();
      var nonce = await solve(ch.challenge, ch.bits);
      var data = new FormData(form);
      data.delete("photo");
      for (var i = 0; i < photos.length; i++) data.append("photo", photos[i], photos[i].name);
      if (!data.get("phone")) data.delete("phone");
      data.append("challenge", ch.challenge);
      data.append("nonce", nonce);
      say("正在提交… · Sending…");
      var resp = await fetch("/api/v1/reports", { method: "POST", body: data });
      var body = await resp.json();
      if (resp.status === 201) {
        form.reset();
        clearPlace();
        say("");
        var link = document.createElement("a");
        link.href = body.track_url;
        link.id = "report-code";
        link.textContent = body.code;
        status.className = "done";
        status.append("已收到，查询码 · Received, your code: ", link);
        status.scrollIntoView({ block: "center" });
      } else {
        say("未能提交 · Not sent: " + (body.error || resp.status), "error");
      }
    } catch (e) {
      say("网络问题，请稍后再试 · Network trouble: try again shortly", "error");
    } finally {
      send.disabled = false;
    }
  });
})();
