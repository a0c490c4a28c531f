/* The pushed live picture, drawn in place (docs/architecture.md, "Live map").
 *
 * A live layer of the map (units, vessels, sensors) is a dash-leaflet GeoJSON whose only
 * feature is an anchor: {anchor: "units", labels, style}. Its pointToLayer (anchor(), below)
 * answers with this layer's own Leaflet group, the same one every time, which holds one Glyph
 * marker per feature id. The markers come from the server-sent stream /_stream/live: the whole
 * picture first, then only what changed, applied to the marker where it is (setLatLng,
 * setStyle, the open popup's content), so nothing is rebuilt and an open popup stays open.
 * The layers control and the filters still work through dash-leaflet: hiding the overlay
 * removes the group with its markers; a filter change re-adds the anchor with the new hideout,
 * and the group shows only what passes. Tooltips and popups are built here from the record and
 * the label table the page put in the anchor, in the page's language; text is set as text. */
(function () {
    var groups = {};      /* layer -> {group, labels, style, filters, radius, markers: {id: marker}} */
    var records = {};     /* layer -> {id: record}: the picture as the stream gave it */
    var source = null;
    var skew = 0;         /* server clock minus this browser's, from each event's `now` */

    function ns() { return window.ecocommand.map; }

    function text(s) {    /* HTML-escaped: records come from the field, never trusted */
        return String(s === undefined || s === null ? "—" : s).replace(/[&<>"']/g, function (c) {
            return {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c];
        });
    }
    function label(labels, prefix, value) {
        if (value === undefined || value === null || value === "") { return "—"; }
        var found = labels[prefix + "." + value];
        return found === undefined ? String(value) : found;
    }
    function num(v, digits) { return typeof v === "number" ? v.toFixed(digits) : "—"; }
    function age(labels, ts) {
        if (typeof ts !== "number") { return "—"; }
        var s = Math.max(0, (Date.now() + skew - ts) / 1000);
        if (s < 120) { return (labels["age.seconds"] || "{n} s").replace("{n}", Math.floor(s)); }
        if (s < 7200) { return (labels["age.minutes"] || "{n} min").replace("{n}", Math.floor(s / 60)); }
        return (labels["age.hours"] || "{n} h").replace("{n}", Math.floor(s / 3600));
    }

    /* Rows of a popup, per layer: [label, value] (values already in words). */
    var ROWS = {
        units: function (id, r, L_) {
            return [[L_["field.id"], id], [L_["field.department"], label(L_, "dept", r.department)],
                    [L_["field.kind"], label(L_, "kind", r.kind)], [L_["field.level"], label(L_, "level", r.level)],
                    [L_["field.subdistrict"], label(L_, "subdistrict", r.subdistrict)],
                    [L_["field.status"], label(L_, "status", r.status)],
                    [L_["field.speed"], num(r.speed_kmh, 1) + " km/h"], [L_["field.last_report"], age(L_, r.ts)]];
        },
        vessels: function (id, r, L_) {
            return [[L_["field.mmsi"], id], [L_["field.callsign"], r.callsign], [L_["field.ship_type"], r.ship_type],
                    [L_["field.speed"], num(r.sog_kn, 1) + " kn"], [L_["field.course"], num(r.course, 0) + "°"],
                    [L_["field.last_report"], age(L_, r.ts)]];
        },
        sensors: function (id, r, L_) {
            var rows = [[L_["field.id"], id], [L_["field.state"], label(L_, "sensor", r.state)]];
            if (r.water_class) { rows.push([L_["field.class"], r.water_class]); }
            (r.readings || []).forEach(function (x) {
                var v = num(x[1], 2) + (x[2] ? " (" + r.water_class + ": " + x[2] + ")" : "");
                rows.push([x[0], v + (x[3] ? " ⚠ " + (L_["sensor.breach"] || "!") : "")]);
            });
            rows.push([L_["field.last_report"], age(L_, r.ts)]);
            return rows;
        }
    };

    function popupHtml(layer, id, r) {
        var g = groups[layer], rows = ROWS[layer](id, r, g.labels);
        return "<b>" + text(r.name || id) + "</b>" + rows.map(function (row) {
            return "<br>" + text(row[0]) + ": " + text(row[1]);
        }).join("");
    }

    /* What the marker looks like, from the record and the layer's style table. */
    function looks(layer, r) {
        var st = groups[layer].style, o;
        if (layer === "units") {
            var silent = typeof r.ts === "number" && Date.now() + skew - r.ts > st.silentMs;
            o = {shape: st.shapes[r.kind] || "circle", fillColor: st.status[r.status] || st.unknown,
                 color: st.department[r.department] || st.unknownDepartment,
                 fillOpacity: silent ? 0.3 : 0.92, weight: 2, angle: 0, label: ""};
        } else if (layer === "vessels") {
            var course = typeof r.course === "number";
            o = {shape: course ? "ship" : "circle", angle: course ? r.course : 0, fillColor: st.vessel,
                 color: "#ffffff", weight: 1.5, fillOpacity: 0.92, label: r.name || ""};
        } else {
            o = {shape: "hexagon", fillColor: st.sensor[r.state] || st.unknown, color: "#1a1a1a",
                 weight: 2, fillOpacity: 0.92, angle: 0, label: ""};
        }
        return o;
    }

    function passes(layer, r) {
        var filters = groups[layer].filters || {};
        for (var key in filters) {
            var allowed = filters[key];
            if (allowed && allowed.length && r[key] !== undefined && r[key] !== null &&
                allowed.indexOf(r[key]) < 0) { return false; }
        }
        return true;
    }

    function show(layer, id) {
        var g = groups[layer], r = records[layer][id], m = g.markers[id];
        if (!r || !passes(layer, r)) {
            if (m) { g.group.removeLayer(m); ns().forget(id, m); delete g.markers[id]; }
            return;
        }
        var at = [r.lat, r.lon], o = looks(layer, r);
        if (!m) {
            m = ns().glyph(at, Object.assign({featureId: id, radius: g.radius, labelZoom: 13}, o));
            m.bindTooltip(function () { return text(records[layer][id] ? records[layer][id].name || id : id); });
            /* no autoPan: a moving marker with its popup open must not drag the map along */
            m.bindPopup(function () { return popupHtml(layer, id, records[layer][id] || {}); },
                        {autoPan: false});
            g.markers[id] = m;
            g.group.addLayer(m);
        } else {
            var before = m.getLatLng();
            if (before.lat !== r.lat || before.lng !== r.lon) { m.setLatLng(at); }
            Object.assign(m.options, {shape: o.shape, angle: o.angle, label: o.label});
            m.setStyle({fillColor: o.fillColor, color: o.color, fillOpacity: o.fillOpacity, weight: o.weight});
            if (m.isPopupOpen()) { m.getPopup().setContent(popupHtml(layer, id, r)); }
        }
        ns().mark(id, m, r.lat, r.lon);
    }

    function showAll(layer) {
        if (!groups[layer]) { return; }
        Object.keys(groups[layer].markers).forEach(function (id) {
            if (!records[layer][id]) { show(layer, id); }
        });
        Object.keys(records[layer] || {}).forEach(function (id) { show(layer, id); });
    }

    function merge(layer, changed, gone) {
        var held = records[layer] = records[layer] || {};
        Object.keys(changed || {}).forEach(function (id) {
            var r = held[id] ? Object.assign({}, held[id], changed[id]) : changed[id];
            Object.keys(r).forEach(function (k) { if (r[k] === null) { delete r[k]; } });
            held[id] = r;
            if (groups[layer]) { show(layer, id); }
        });
        (gone || []).forEach(function (id) {
            delete held[id];
            if (groups[layer]) { show(layer, id); }
        });
    }

    function onPicture(e) {
        var body = JSON.parse(e.data);
        skew = (body.now || Date.now()) - Date.now();
        Object.keys(body.layers).forEach(function (layer) {
            records[layer] = body.layers[layer];
            showAll(layer);
        });
    }

    function onUpdate(e) {
        var body = JSON.parse(e.data);
        skew = (body.now || Date.now()) - Date.now();
        var layers = {};
        Object.keys(body.changed || {}).forEach(function (l) { layers[l] = true; });
        Object.keys(body.gone || {}).forEach(function (l) { layers[l] = true; });
        Object.keys(layers).forEach(function (layer) {
            merge(layer, (body.changed || {})[layer], (body.gone || {})[layer]);
        });
        ns().live.seq = body.seq;
    }

    /* EventSource retries a dropped connection by itself (with Last-Event-ID), but a refusal
     * (401, a proxy's 502 while deploying, a login page) closes it for good: then reconnect
     * here, with back-off, resuming from the last event through ?last=. */
    var lastId = "", backoffMs = 1000;
    function connect() {
        if (source && source.readyState !== EventSource.CLOSED) { return; }
        var url = "/_stream/live" + (lastId ? "?last=" + encodeURIComponent(lastId) : "");
        source = new EventSource(url);
        function seen(handler) {
            return function (e) { lastId = e.lastEventId || lastId; backoffMs = 1000; handler(e); };
        }
        source.addEventListener("picture", seen(onPicture));
        source.addEventListener("update", seen(onUpdate));
        source.addEventListener("bye", function () {  /* signed out elsewhere: to the sign-in page */
            source.close();
            window.location.reload();
        });
        source.onerror = function () {
            if (source.readyState === EventSource.CLOSED) {
                window.setTimeout(connect, backoffMs);
                backoffMs = Math.min(backoffMs * 2, 30000);
            }
        };
    }

    /* The anchor feature's pointToLayer: this layer's group, made once, with the hideout and
     * labels the page gave (a filter change arrives here as a new hideout). */
    function anchor(feature, latlng, context) {
        var p = feature.properties, layer = p.anchor, hideout = (context && context.hideout) || {};
        var g = groups[layer];
        if (!g) {
            g = groups[layer] = {group: L.featureGroup(), markers: {}};
        }
        g.labels = p.labels || {};
        g.style = p.style || {};
        g.radius = hideout.radius || 6;
        g.filters = hideout.filters || {};
        showAll(layer);
        connect();
        return g.group;
    }

    /* Silent units fade, popups' ages move on: every 15 s, without a server round trip. */
    window.setInterval(function () {
        Object.keys(groups).forEach(function (layer) {
            Object.keys(groups[layer].markers).forEach(function (id) {
                var m = groups[layer].markers[id];
                if (m.isPopupOpen()) { m.getPopup().setContent(popupHtml(layer, id, records[layer][id])); }
            });
            if (layer === "units") { showAll(layer); }
        });
    }, 15000);

    window.ecocommand = Object.assign({}, window.ecocommand);
    window.ecocommand.map = Object.assign({}, window.ecocommand.map);
    /* groups: for the browser tests (a marker by id: groups.units.markers["U-1"]) */
    window.ecocommand.map.live = {anchor: anchor, records: records, groups: groups, seq: null};
}());
