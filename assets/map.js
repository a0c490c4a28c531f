/* Live map functions, referenced from Python by name through
 * dash_extensions.javascript.Namespace("ecocommand", "map") — a committed 'self' script, so the
 * CSP needs no eval. dash-leaflet calls them with the layer's props (hideout) as `context`.
 *
 * Markers are drawn on the map's canvas (the map sets preferCanvas), never as DOM elements:
 * a Glyph is a circle marker whose outline is a shape chosen by the feature (circle, square,
 * diamond, triangle, or a ship hull rotated to its course), so hit-testing and bounds stay
 * Leaflet's own circle logic. */
(function () {

    /* assets/shapes.js (loaded after this file: used at draw time only) */
    function trace(ctx, shape, x, y, r, angle) {
        self.ecocommandShapes.trace(ctx, shape, x, y, r, angle);
    }

    /* Where each marker on the map is, by feature id, with the time it was drawn (epoch ms):
     * lets the browser tests and `run.py bench map` see what the page shows without reading
     * pixels. Entries leave with their marker, so it never outgrows the map. */
    var drawn = {};
    var owners = {};  /* id -> the marker that owns the entry (a newer one may replace it) */

    /* Made on first use: this asset may run before the Leaflet bundle has defined `L`. */
    var Glyph = null;
    function glyph(latlng, options) {
        Glyph = Glyph || L.CircleMarker.extend({
            _updatePath: drawGlyph,
            onRemove: function (map) {  /* filtered out, layer hidden or data replaced */
                var id = this.options.featureId;
                if (id !== undefined && owners[id] === this) {
                    delete owners[id];
                    delete drawn[id];
                }
                return L.CircleMarker.prototype.onRemove.call(this, map);
            }
        });
        return new Glyph(latlng, options);
    }

    /* Canvas drawing of a Glyph; hit-testing and bounds stay CircleMarker's. */
    function drawGlyph() {
        var renderer = this._renderer;
        if (!(renderer instanceof L.Canvas)) {  /* SVG fallback: a plain circle */
            return L.CircleMarker.prototype._updatePath.call(this);
        }
        if (!renderer._drawing || this._empty()) { return; }
        var ctx = renderer._ctx, p = this._point, o = this.options;
        ctx.beginPath();
        trace(ctx, o.shape, p.x, p.y, this._radius, o.angle);
        renderer._fillStroke(ctx, this);
        if (o.label && this._map && this._map.getZoom() >= o.labelZoom) {
            ctx.font = "600 13px sans-serif";
            ctx.lineWidth = 3;
            ctx.strokeStyle = "rgba(255,255,255,0.9)";
            ctx.fillStyle = "#102030";
            ctx.strokeText(o.label, p.x + this._radius + 4, p.y + 4);
            ctx.fillText(o.label, p.x + this._radius + 4, p.y + 4);
        }
    }


    window.ecocommand = Object.assign({}, window.ecocommand);
    window.ecocommand.map = Object.assign({}, window.ecocommand.map, {
        drawn: drawn,
        glyph: glyph,

        /* A live marker (assets/live.js) drawn at (lat, lng), or gone. */
        mark: function (id, marker, lat, lng) {
            drawn[id] = {lat: lat, lng: lng, t: Date.now()};
            owners[id] = marker;
        },
        forget: function (id, marker) {
            if (owners[id] === marker) {
                delete owners[id];
                delete drawn[id];
            }
        },

        pointToLayer: function (feature, latlng, context) {
            var p = feature.properties || {};
            if (p.anchor) {  /* a live layer fed by the pushed stream (assets/live.js) */
                return window.ecocommand.map.live.anchor(feature, latlng, context);
            }
            var hideout = (context && context.hideout) || {};
            var vessel = p.kind === "vessel";
            var marker = glyph(latlng, {
                featureId: p.id,
                radius: hideout.radius || 6,
                shape: p.shape || (vessel ? "ship" : "circle"),
                angle: p.angle || 0,
                label: vessel ? p.label : "",
                labelZoom: hideout.labelZoom || 13,
                color: p.stroke || (vessel ? "#ffffff" : "#1a1a1a"),
                weight: p.strokeWeight || (vessel ? 1.5 : 2),
                fillColor: p.color || "#6a3d9a",
                fillOpacity: p.fillOpacity !== undefined ? p.fillOpacity : 0.92
            });
            if (p.id !== undefined) {
                drawn[p.id] = {lat: latlng.lat, lng: latlng.lng, t: Date.now()};
                owners[p.id] = marker;
            }
            return marker;
        },

        /* Browser-side filters: hideout.filters maps a property (department, subdistrict,
         * status) to the values to show; an empty or missing list shows everything, and a
         * feature without that property (a vessel has no department) is not filtered by it. */
        filter: function (feature, context) {
            var filters = ((context && context.hideout) || {}).filters || {};
            var p = feature.properties || {};
            for (var key in filters) {
                var allowed = filters[key];
                if (!allowed || !allowed.length || p[key] === undefined || p[key] === null) {
                    continue;
                }
                if (allowed.indexOf(p[key]) < 0) { return false; }
            }
            return true;
        },

        /* A tile that fails to load (no network, wrong URL): show the "tiles unavailable" note. */
        tileError: function () {
            var note = document.getElementById("map-tiles-note");
            if (note) { note.hidden = false; }
        }
    });
}());
