/* Live map functions, referenced from Python by name through
 * dash_extensions.javascript.Namespace("ecocommand", "map") — a committed 'self' script, so the
 * CSP needs no eval. dash-leaflet calls them with the layer's props (hideout) as `context`. */
window.ecocommand = Object.assign({}, window.ecocommand);
window.ecocommand.map = Object.assign({}, window.ecocommand.map, {
    /* Canvas circle markers (the map sets preferCanvas): colour from the feature, size from
     * the layer's hideout; vessels get a white rim so they stand out from units at sea. */
    pointToLayer: function (feature, latlng, context) {
        var p = feature.properties || {};
        var hideout = (context && context.hideout) || {};
        var vessel = p.kind === "vessel";
        return L.circleMarker(latlng, {
            radius: hideout.radius || 6,
            color: vessel ? "#ffffff" : "#1a1a1a",
            weight: vessel ? 2 : 1,
            fillColor: p.color || "#6a3d9a",
            fillOpacity: 0.9
        });
    },
    /* A tile that fails to load (no network, wrong URL): show the "tiles unavailable" note. */
    tileError: function () {
        var note = document.getElementById("map-tiles-note");
        if (note) { note.hidden = false; }
    }
});
