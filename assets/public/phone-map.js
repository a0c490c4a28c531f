/* The phone pages' small Leaflet map (/field's task card, /report's place picker), served by
   dashboard/phone_map.py with Leaflet's own files (XStatic-Leaflet). The sea is the container's
   colour; the land and the district's outline come from /public/map/basemap.json, so the map is
   readable with no tile server and at sea with no signal (the field app's service worker keeps
   that file); tiles from MAP_TILES_URL (the element's data-tiles) are drawn over them. */
(function () {
  "use strict";
  var LAND = { color: "#b9ad8f", weight: 0.5, fillColor: "#ece4cf", fillOpacity: 1 };
  var DISTRICT = { color: "#7a1f5c", weight: 2, fill: false, dashArray: "6 4" };
  var DISTRICT_VIEW = [[22.4415, 114.3328], [22.6728, 114.624]];  // until the basemap says

  // One basemap request per page, shared by its maps.
  var basemap = null;
  function loadBasemap() {
    if (!basemap) {
      basemap = fetch("/public/map/basemap.json", { credentials: "same-origin" }).then(function (r) {
        return r.ok ? r.json() : null;
      }).catch(function () { return null; });
    }
    return basemap;
  }

  // el: the map's element. options: Leaflet's map options (gestures), and `ready(map, bounds)`
  // called once the basemap is drawn (or could not be had).
  function create(el, options) {
    var opts = options || {};
    var map = L.map(el, Object.assign({ zoomSnap: 0.5, attributionControl: true }, opts));
    // not animated, here or anywhere on these maps: a place set while Leaflet's zoom animation
    // runs is undone when it ends (seen: a typed place lost), or dropped if it zooms too
    map.setView([22.55, 114.48], 10);
    map.fitBounds(DISTRICT_VIEW, { animate: false });
    L.control.scale({ imperial: false, position: "bottomleft" }).addTo(map);
    var tiles = el.getAttribute("data-tiles");
    if (tiles) L.tileLayer(tiles, { maxZoom: 18, pane: "tilePane" }).addTo(map);
    map.createPane("district");  // above the tiles, under the markers
    map.getPane("district").style.zIndex = 450;
    map.getPane("district").style.pointerEvents = "none";
    loadBasemap().then(function (base) {
      if (base) {
        // the land under the tiles: shown where tiles are missing (no tile server, no signal)
        map.createPane("land");
        map.getPane("land").style.zIndex = 150;
        L.geoJSON(base.land, { style: LAND, interactive: false, pane: "land" }).addTo(map);
        L.geoJSON(base.district, { style: DISTRICT, interactive: false, pane: "district" }).addTo(map);
      }
      if (opts.ready) opts.ready(map, base ? base.bounds : DISTRICT_VIEW);
    });
    return map;
  }

  window.ecocommandPhoneMap = { create: create };
})();
