/* The map on the officer's task card (/field): the task's place (a pin), the officer's own
   position (a blue dot and its accuracy) and today's findings on patrol (orange dots), fitted to
   the task and the officer. Small, it keeps still so the thumb scrolls the page past it (no
   drag, no pinch); a tap on it, or its button, opens it over the whole screen, where it pans
   and zooms, and the button at the bottom closes it. field.js tells it what to show. */
(function () {
  "use strict";
  var box = document.getElementById("field-map-box"), el = document.getElementById("field-map");
  var sizeButton = document.getElementById("field-map-size");
  var FINDINGS_KEY = "field.findings", FINDINGS_KEPT_MS = 24 * 3600000, MAX_FINDINGS = 20;
  var GESTURES = ["dragging", "touchZoom", "doubleClickZoom", "scrollWheelZoom", "boxZoom", "keyboard"];
  var map = null, taskPin = null, meDot = null, meRing = null, findingDots = null, big = false;
  var task = null, me = null, fitted = null;

  function stored() {
    var now = Date.now();
    try {
      return JSON.parse(localStorage.getItem(FINDINGS_KEY) || "[]").filter(function (f) {
        return now - f.at < FINDINGS_KEPT_MS;
      });
    } catch (e) { return []; }
  }

  function fit() {  // not animated (see phone-map.js): a fit during another's zoom is dropped
    if (!map || big) return;  // over the whole screen the officer moves the map, not us
    var points = [task, me].filter(Boolean);
    var key = points.map(function (p) { return p.join(","); }).join(";");
    if (key === fitted || !points.length) return;
    fitted = key;
    if (points.length === 1) map.setView(points[0], 15, { animate: false });
    else map.fitBounds(points, { padding: [28, 28], maxZoom: 17, animate: false });
  }

  function setBig(on) {
    big = on;
    box.className = on ? "map-box big" : "map-box";
    document.body.classList.toggle("map-open", on);
    sizeButton.textContent = on ? "关闭地图 · Close map" : "放大地图 · Larger map";
    sizeButton.setAttribute("aria-pressed", on ? "true" : "false");
    GESTURES.forEach(function (g) { if (map[g]) map[g][on ? "enable" : "disable"](); });
    map.invalidateSize();
    fitted = null;
    if (on) {
      sizeButton.focus();  // a keyboard or a screen reader lands on the way back
      var points = [task, me].filter(Boolean);
      if (points.length > 1) map.fitBounds(points, { padding: [40, 40], maxZoom: 17, animate: false });
    } else {
      fit();
    }
  }

  function drawFindings() {
    findingDots.clearLayers();
    stored().forEach(function (f) {
      L.circleMarker([f.lat, f.lon], { radius: 6, color: "#fff", weight: 2, fillColor: "#e66a00",
                                        fillOpacity: 1 }).bindTooltip(f.label).addTo(findingDots);
    });
  }

  function start() {
    if (!window.L || !window.ecocommandPhoneMap) {  // Leaflet not loaded: the card works without
      box.hidden = true;
      return;
    }
    var options = { zoomControl: false };
    GESTURES.forEach(function (g) { options[g] = false; });
    map = window.ecocommandPhoneMap.create(el, options);
    L.control.zoom({ position: "topright" }).addTo(map);
    findingDots = L.layerGroup().addTo(map);
    drawFindings();
    map.on("click", function () { if (!big) setBig(true); });
    sizeButton.addEventListener("click", function () { setBig(!big); });
    document.addEventListener("keydown", function (e) { if (big && e.key === "Escape") setBig(false); });
  }

  window.ecocommandFieldMap = {
    task: function (t) {  // the task being shown, or null
      task = t && t.lat != null && t.lon != null ? [Number(t.lat), Number(t.lon)] : null;
      if (!map) return;
      if (!task && taskPin) { taskPin.remove(); taskPin = null; }
      if (task) {
        if (!taskPin) taskPin = L.marker(task, { title: "任务地点 · Task place", keyboard: false }).addTo(map);
        taskPin.setLatLng(task);
      }
      fit();
    },
    me: function (lat, lon, accuracy) {  // the phone's latest fix
      me = [lat, lon];
      if (!map) return;
      if (!meDot) {
        meRing = L.circle(me, { radius: 1, stroke: false, fillColor: "#1f78d1", fillOpacity: 0.15,
                                interactive: false }).addTo(map);
        meDot = L.circleMarker(me, { radius: 8, color: "#fff", weight: 3, fillColor: "#1f78d1",
                                     fillOpacity: 1 }).bindTooltip("我的位置 · Me").addTo(map);
      }
      meDot.setLatLng(me);
      meRing.setLatLng(me).setRadius(accuracy || 1);
      fit();
    },
    finding: function (lat, lon, label) {  // reported on patrol just now: kept for the day
      var all = stored().concat([{ lat: lat, lon: lon, label: label, at: Date.now() }]);
      localStorage.setItem(FINDINGS_KEY, JSON.stringify(all.slice(-MAX_FINDINGS)));
      if (map) drawFindings();
    },
    // for the browser tests: where the markers really are, as Leaflet has them
    state: function () {
      var at = function (m) { return m ? [m.getLatLng().lat, m.getLatLng().lng] : null; };
      return { ready: !!map, big: big, task: at(taskPin), me: at(meDot),
               findings: findingDots ? findingDots.getLayers().map(at) : [],
               bounds: map ? map.getBounds().toBBoxString() : null };
    }
  };
  start();
})();
