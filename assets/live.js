/* The pushed live picture, drawn in place (docs/architecture.md, "Live map").
 *
 * A live layer of a map (units, vessels, sensors) is a dash-leaflet GeoJSON whose only feature
 * is an anchor: {anchor: "units", labels, style}. Its pointToLayer (anchor(), below) answers with
 * this layer's own Leaflet layer, the same one every time; the layers control adds and removes
 * it, and a filter change reaches it as a new hideout.
 *
 * The records come from the server-sent stream /_stream/live: the whole picture first, then only
 * what changed. They are drawn by one canvas per map (Board, below) in a pane of its own: each
 * marker's projection is kept until the zoom changes, the markers are drawn look by look (the
 * canvas' colours set once per look, not per marker), and the whole board at most once per
 * animation frame, however many updates arrived. So an update costs what changed plus one small
 * path per marker, never rebuilt layers; the basemap's canvas is not redrawn with it. (Copying
 * pre-drawn sprites was measured slower on a software canvas: 45-90 ms for 8,200 markers
 * against 15-25 ms for the paths.)
 *
 * The canvas takes no pointer events: a click or a hover is matched to the nearest marker under
 * it from the map's own events. Tooltips and popups are built here from the record and the
 * label table the page put in the anchor, in the page's language, text set as text; an open
 * popup follows its marker and is refreshed in place. */
(function () {
    var TAU = Math.PI * 2, MAX_LAT = 85.0511287798, DEG = Math.PI / 180;
    var ORDER = ["vessels", "sensors", "units"];  /* drawn bottom to top */
    var layers = {};      /* layer -> {labels, style, filters, radius, on: LiveLayer, items} */
    var records = {};     /* layer -> {id: record}: the picture as the stream gave it */
    var boards = [];      /* one Board per map that shows a live layer */
    var source = null;
    var skew = 0;         /* server clock minus this browser's, from each event's `now` */

    function ns() { return window.ecocommand.map; }

    /* What the main thread spends here, for `run.py bench map`: per kind (draw, update,
     * picture) how many, their total and longest time in ms. */
    var stats = {};
    function count(kind, ms) {
        var s = stats[kind] = stats[kind] || {n: 0, ms: 0, max: 0};
        s.n += 1; s.ms += ms; s.max = Math.max(s.max, ms);
    }

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
                rows.push([label(L_, "param", x[0]), v + (x[3] ? " ⚠ " + (L_["sensor.breach"] || "!") : "")]);
            });
            rows.push([L_["field.last_report"], age(L_, r.ts)]);
            return rows;
        }
    };

    function popupHtml(layer, id) {
        var r = records[layer][id] || {}, rows = ROWS[layer](id, r, layers[layer].labels);
        return "<b>" + text(r.name || id) + "</b>" + rows.map(function (row) {
            return "<br>" + text(row[0]) + ": " + text(row[1]);
        }).join("");
    }

    /* What a marker looks like, from the record and the layer's style table. */
    function looks(layer, r) {
        var st = layers[layer].style;
        if (layer === "units") {
            var silent = typeof r.ts === "number" && Date.now() + skew - r.ts > st.silentMs;
            return {shape: st.shapes[r.kind] || "circle", fill: st.status[r.status] || st.unknown,
                    stroke: st.department[r.department] || st.unknownDepartment,
                    opacity: silent ? 0.3 : 0.92, weight: 2, angle: 0};
        }
        if (layer === "vessels") {
            var course = typeof r.course === "number";
            return {shape: course ? "ship" : "circle", angle: course ? r.course : 0,
                    fill: st.vessel, stroke: "#ffffff", weight: 1.5, opacity: 0.92};
        }
        return {shape: "hexagon", fill: st.sensor[r.state] || st.unknown, stroke: "#1a1a1a",
                weight: 2, opacity: 0.92, angle: 0};
    }

    /* A marker's look, shared by every marker that looks the same (so the board sets the
     * canvas' colours once per look, not once per marker: state changes are what a software
     * canvas pays for). The fill's opacity is in its colour: fill and outline need no alpha
     * switch. Bounded: the looks are a few colours and shapes (a ship's angle is its own). */
    var looksCache = {}, looksCount = 0;
    function rgba(hex, alpha) {
        var m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex || "");
        if (!m) { return hex; }
        return "rgba(" + parseInt(m[1], 16) + "," + parseInt(m[2], 16) + "," + parseInt(m[3], 16) + "," + alpha + ")";
    }
    function look(o, radius) {
        var key = [o.shape, o.fill, o.stroke, o.weight, o.opacity, radius].join("|");
        var found = looksCache[key];
        if (found) { return found; }
        if (looksCount > 2000) { looksCache = {}; looksCount = 0; }  /* never grows without bound */
        looksCount += 1;
        return (looksCache[key] = {key: key, shape: o.shape, fill: rgba(o.fill, o.opacity), stroke: o.stroke,
                                   weight: o.weight, radius: radius, half: radius * 1.6 + o.weight});
    }

    function passes(layer, r) {
        var filters = layers[layer].filters || {};
        for (var key in filters) {
            var allowed = filters[key];
            if (allowed && allowed.length && r[key] !== undefined && r[key] !== null &&
                allowed.indexOf(r[key]) < 0) { return false; }
        }
        return true;
    }

    /* Web Mercator (Leaflet's EPSG:3857) at zoom 0, in pixels: a marker's place is kept in
     * these and scaled, so panning and updates never re-project the others. */
    function project(lat, lon) {
        var phi = Math.max(Math.min(lat, MAX_LAT), -MAX_LAT) * DEG;
        return [256 * (lon / 360 + 0.5), 256 * (0.5 - Math.log(Math.tan(Math.PI / 4 + phi / 2)) / TAU)];
    }

    /* A layer's item: what is drawn for one record (its place, look, whether it shows). */
    /* `all`: tell the boards even if nothing changed (a board that has not drawn it yet). */
    function refresh(layer, id, all) {
        var g = layers[layer], r = records[layer][id], it = g.items[id];
        if (!r || !passes(layer, r)) {
            if (it) {
                delete g.items[id];
                ns().forget(id, it);
                boards.forEach(function (b) { b.changed(layer, id); });
            }
            return;
        }
        it = g.items[id] = g.items[id] || {id: id, layer: layer, dirty: true};
        it.dirty = it.dirty || it.lat !== r.lat || it.lon !== r.lon;  /* drawn somewhere new */
        var o = looks(layer, r), lk = look(o, g.radius), label = layer === "vessels" ? r.name || "" : "";
        if (!all && !it.dirty && it.look === lk && it.angle === o.angle && it.label === label) {
            return;  /* drawn as it is: the boards have it */
        }
        var p = project(r.lat, r.lon);
        it.lat = r.lat; it.lon = r.lon; it.x0 = p[0]; it.y0 = p[1];
        it.look = lk; it.angle = o.angle; it.label = label;
        boards.forEach(function (b) { b.changed(layer, id); });
    }

    function refreshAll(layer, all) {
        var g = layers[layer];
        if (!g) { return; }
        Object.keys(g.items).forEach(function (id) { if (!records[layer][id]) { refresh(layer, id); } });
        Object.keys(records[layer] || {}).forEach(function (id) { refresh(layer, id, all); });
        redraw();
    }

    function redraw() {
        boards = boards.filter(function (b) { return b._map; });  /* a map gone with its page */
        boards.forEach(function (b) { b.request(); });
    }

    /* One canvas per map, above the basemap (its own pane), under popups and tooltips: a Leaflet
     * renderer, so Leaflet keeps it placed through pans and zoom animations, whose drawing is
     * done by a worker (assets/workers/board.js) on the canvas handed to it: rasterising
     * thousands of markers takes a software canvas tens of milliseconds a frame, which the page
     * then does not spend. At most one frame is in the worker's hands at a time: what changes
     * meanwhile goes with the next one. The canvas is moved to its new place when the worker has
     * drawn the view for it, so a pan never shows the old drawing in the new place. */
    var WORKER_URL = "/assets/workers/board.js";
    var Board = null;
    /* A map's box changes size when the stale banner comes or goes, the entity list folds, the
     * window or the full screen changes; Leaflet measures itself only on a window resize. Here
     * every change is measured at once, so markers are drawn where they are seen and a click lands
     * on what is under it. When an edge of the box stayed where it was (the banner pushed the top
     * down, the list moved the left edge), everything keeps its place on the screen: nothing jumps
     * under the pointer of someone aiming at a marker. When no edge stayed (full screen), the
     * centre is kept. The wall screen fits the district again instead (layouts/map.py puts the
     * bounds in #map-fit): dash-leaflet fits once, when the map is made, which can be before the
     * page's layout gave the map its final size, and nobody pans a wall. */
    function watchBox(map) {
        if (typeof ResizeObserver === "undefined") { return; }
        var box = map.getContainer(), fit = document.getElementById("map-fit");
        var bounds = fit && JSON.parse(fit.getAttribute("data-bounds"));
        var place = function () {  /* on the page, not the viewport: a scroll is no move */
            var r = box.getBoundingClientRect(), x = window.scrollX, y = window.scrollY;
            return {left: r.left + x, right: r.right + x, top: r.top + y, bottom: r.bottom + y};
        };
        var last = place();
        new ResizeObserver(function () {
            var now = place(), was = last;
            last = now;
            if (bounds) {
                map.invalidateSize({animate: false});
                map.fitBounds(bounds, {padding: [12, 12], animate: false});
                return;
            }
            var same = function (a, b) { return Math.abs(a - b) < 0.5; };
            var stayed = same(now.left, was.left) || same(now.right, was.right) ||
                same(now.top, was.top) || same(now.bottom, was.bottom);
            map.invalidateSize({pan: !stayed, animate: false});
            if (stayed && (now.left !== was.left || now.top !== was.top)) {
                map.panBy([now.left - was.left, now.top - was.top], {animate: false});
            }
        }).observe(box);
    }

    /* Every map with live markers gets a full-screen button and, where the page has no legend
     * of its own (the dispatch and coverage maps), a small one in its corner: what the colours
     * mean, with the scale bar beside it. Labels come with the layer, in the page's language. */
    function controls(map, layer) {
        if (map._ecoControls) { return; }
        map._ecoControls = true;
        var L_ = (layers[layer] && layers[layer].labels) || {}, st = (layers[layer] && layers[layer].style) || {};
        var Full = L.Control.extend({
            options: {position: "topleft"},
            onAdd: function () {
                var bar = L.DomUtil.create("div", "leaflet-bar ec-fullscreen");
                var a = L.DomUtil.create("a", "", bar);
                a.href = "#";
                a.setAttribute("role", "button");
                a.title = L_["control.fullscreen"] || "Full screen";
                a.setAttribute("aria-label", a.title);
                var NS = "http://www.w3.org/2000/svg", svg = document.createElementNS(NS, "svg");
                svg.setAttribute("viewBox", "0 0 18 18");
                var path = document.createElementNS(NS, "path");  /* four corners */
                path.setAttribute("d", "M1 6V1h5M12 1h5v5M17 12v5h-5M6 17H1v-5");
                path.setAttribute("fill", "none");
                path.setAttribute("stroke", "#14202e");
                path.setAttribute("stroke-width", "2");
                svg.appendChild(path);
                a.appendChild(svg);
                L.DomEvent.on(a, "click", function (e) {
                    L.DomEvent.preventDefault(e);
                    var box = map.getContainer();
                    if (document.fullscreenElement) { document.exitFullscreen(); } else if (box.requestFullscreen) { box.requestFullscreen(); }
                });
                L.DomEvent.disableClickPropagation(bar);
                return bar;
            }
        });
        new Full().addTo(map);
        if (document.getElementById("map-legend") || !st.status) { return; }
        var Legend = L.Control.extend({
            options: {position: "bottomright"},
            onAdd: function () {
                var div = L.DomUtil.create("div", "ec-map-legend");
                Object.keys(st.status).forEach(function (s) {
                    var row = L.DomUtil.create("div", "ec-map-legend-row", div);
                    var dot = L.DomUtil.create("span", "ec-map-legend-dot", row);
                    dot.style.background = st.status[s];
                    row.appendChild(document.createTextNode(L_["status." + s] || s));
                });
                return div;
            }
        });
        new Legend().addTo(map);
    }

    function board(map) {
        if (map._ecoLiveBoard) { return map._ecoLiveBoard; }
        watchBox(map);
        Board = Board || L.Renderer.extend({
            _initContainer: function () {
                var c = this._container = document.createElement("canvas");
                c.style.pointerEvents = "none";
                var off = c.transferControlToOffscreen();
                this._worker = new Worker(WORKER_URL);
                this._worker.postMessage({canvas: off}, [off]);
                this._worker.onmessage = L.Util.bind(this._drawn, this);
                this._seq = 0;
                this._dirty = new Set();
                this._looksSent = {};
                this._frame = null;   /* the frame the worker is drawing */
                this._wanted = false;
            },
            _destroyContainer: function () {
                L.Util.cancelAnimFrame(this._request);
                this._worker.terminate();
                L.DomUtil.remove(this._container);
                delete this._container;
            },
            _update: function () {
                if (this._map._animatingZoom && this._bounds) { return; }
                L.Renderer.prototype._update.call(this);
                this.request();
            },
            changed: function (layer, id) {
                this._dirty.add(layer + "\n" + id);
                this.request();
            },
            request: function () {
                this._wanted = true;
                if (this._map && !this._request && !this._frame) {
                    this._request = L.Util.requestAnimFrame(this._send, this);
                }
            },
            _send: function () {
                var t0 = performance.now();
                this._post();
                count("send", performance.now() - t0);
            },
            _post: function () {
                this._request = null;
                var map = this._map;
                if (!map || !this._bounds || !this._wanted) { return; }
                this._wanted = false;
                var b = this._bounds, size = b.getSize(), origin = map.getPixelOrigin();
                var changes = [], looksOut = {}, sent = this._looksSent, moved = [];
                this._dirty.forEach(function (key) {
                    var cut = key.indexOf("\n"), layer = key.slice(0, cut), id = key.slice(cut + 1);
                    var it = layers[layer] && layers[layer].items[id];
                    if (!it) { changes.push([layer, id]); return; }
                    if (!sent[it.look.key]) { sent[it.look.key] = true; looksOut[it.look.key] = it.look; }
                    changes.push([layer, id, it.x0, it.y0, it.look.key, it.angle, it.label]);
                    if (it.dirty) { it.dirty = false; moved.push(it); }
                });
                this._dirty.clear();
                this._seq += 1;
                this._frame = {seq: this._seq, min: b.min, size: size, moved: moved};
                this._worker.postMessage({
                    looks: looksOut, changes: changes, shown: shown(map),
                    view: {seq: this._seq, w: size.x, h: size.y, dpr: window.devicePixelRatio || 1,
                           minX: b.min.x, minY: b.min.y, scale: Math.pow(2, map.getZoom()),
                           originX: origin.x, originY: origin.y, labels: map.getZoom() >= 13}
                });
                var open = map._ecoLivePopup;
                if (open) { follow(map, open); }
            },
            _drawn: function (e) {
                var f = this._frame, now = Date.now();
                if (!f || e.data.drawn !== f.seq) { return; }
                this._frame = null;
                count("draw", e.data.ms);
                ns().live.labels = {shown: e.data.labels, hidden: e.data.hidden};  /* the last frame's */
                if (this._container) {
                    L.DomUtil.setPosition(this._container, f.min);
                    this._container.style.width = f.size.x + "px";
                    this._container.style.height = f.size.y + "px";
                }
                f.moved.forEach(function (it) { ns().mark(it.id, it, it.lat, it.lon, now); });
                if (this._wanted) { this.request(); }
            }
        });
        if (!map.getPane("ecoLive")) {
            var pane = map.createPane("ecoLive");
            pane.style.zIndex = 450;
            pane.style.pointerEvents = "none";
        }
        var b = map._ecoLiveBoard = new Board({pane: "ecoLive", padding: 0.1});
        boards.push(b);
        b.addTo(map);
        map.on("click", function (e) { onClick(map, e); });
        map.on("mousemove", function (e) { onHover(map, e); });
        map.on("mouseout", function () { hover(map, null); });
        map.on("popupclose", function (e) {
            if (map._ecoLivePopup && e.popup === map._ecoLivePopup.popup) { map._ecoLivePopup = null; }
        });
        return b;
    }

    function shown(map) {  /* the live layers on this map, bottom to top */
        return ORDER.filter(function (l) { return layers[l] && layers[l].on && layers[l].on._map === map; });
    }

    /* The topmost marker under a layer point, or null. */
    function hit(map, point) {
        var found = null, best = Infinity, scale = Math.pow(2, map.getZoom()), origin = map.getPixelOrigin();
        shown(map).forEach(function (layer) {
            var items = layers[layer].items, reach = layers[layer].radius + 3;
            for (var id in items) {
                var it = items[id], dx = it.x0 * scale - origin.x - point.x;
                var dy = it.y0 * scale - origin.y - point.y, d = dx * dx + dy * dy;
                if (d <= reach * reach && d <= best) { best = d; found = it; }
            }
        });
        return found;
    }

    function onClick(map, e) {
        var it = hit(map, e.layerPoint);
        if (it) { openPopup(map, it.layer, it.id); }
    }

    function openPopup(map, layer, id) {
        var r = records[layer][id];
        if (!r) { return false; }
        var offset = [0, -layers[layer].radius];
        /* no autoPan: a moving marker with its popup open must not drag the map along */
        var popup = L.popup({autoPan: false, offset: offset}).setLatLng([r.lat, r.lon])
            .setContent(popupHtml(layer, id));
        map._ecoLivePopup = {popup: popup, layer: layer, id: id, lat: r.lat, lon: r.lon};
        map.openPopup(popup);
        /* the unit and vessel panel (assets/entity_list.js) opens on what was picked */
        document.dispatchEvent(new CustomEvent("ecocommand:picked", {detail: {layer: layer, id: id}}));
        return true;
    }

    /* An open popup follows its marker and shows its record as it is now; a marker picked to
     * be followed (focus) keeps the map centred on it while its popup is open. */
    function follow(map, open) {
        var r = records[open.layer][open.id];
        if (!r) { map.closePopup(open.popup); return; }
        if (r.lat !== open.lat || r.lon !== open.lon) {
            open.lat = r.lat; open.lon = r.lon;
            open.popup.setLatLng([r.lat, r.lon]);
            if (open.followed) { map.panTo([r.lat, r.lon], {animate: false}); }
        }
        var html = popupHtml(open.layer, open.id);
        if (html !== open.html) { open.html = html; open.popup.setContent(html); }
    }

    var pendingHover = null;
    function onHover(map, e) {
        if (pendingHover) { pendingHover.e = e; return; }
        pendingHover = {e: e};
        L.Util.requestAnimFrame(function () {
            var ev = pendingHover.e;
            pendingHover = null;
            hover(map, hit(map, ev.layerPoint));
        });
    }

    function hover(map, it) {
        var cur = map._ecoLiveHover;
        if (cur && it && cur.it === it) { return; }
        if (cur) { map.closeTooltip(cur.tip); map._ecoLiveHover = null; }
        map.getContainer().style.cursor = it ? "pointer" : "";
        if (!it) { return; }
        var r = records[it.layer][it.id] || {};
        var tip = L.tooltip({direction: "top", offset: [0, -layers[it.layer].radius]})
            .setLatLng([it.lat, it.lon]).setContent(text(r.name || it.id));
        map._ecoLiveHover = {it: it, tip: tip};
        map.openTooltip(tip);
    }

    /* The layer the anchor hands to dash-leaflet: adding it shows the layer on the map's board. */
    var LiveLayer = null;
    function liveLayer(layer) {
        LiveLayer = LiveLayer || L.Layer.extend({
            onAdd: function (map) { board(map); controls(map, this.layer); refreshAll(this.layer, true); },
            onRemove: function (map) {
                var g = layers[this.layer];
                Object.keys(g.items).forEach(function (id) { ns().forget(id, g.items[id]); g.items[id].dirty = true; });
                var open = map._ecoLivePopup;
                if (open && open.layer === this.layer) { map.closePopup(open.popup); }
                hover(map, null);
                this._map = null;  /* shown() no longer draws it */
                redraw();
            }
        });
        var on = new LiveLayer();
        on.layer = layer;
        return on;
    }

    function merge(layer, changed, gone) {
        var held = records[layer] = records[layer] || {};
        Object.keys(changed || {}).forEach(function (id) {
            var r = held[id] ? Object.assign({}, held[id], changed[id]) : changed[id];
            Object.keys(r).forEach(function (k) { if (r[k] === null) { delete r[k]; } });
            held[id] = r;
            if (layers[layer]) { refresh(layer, id); }
        });
        (gone || []).forEach(function (id) {
            delete held[id];
            if (layers[layer]) { refresh(layer, id); }
        });
    }

    function timed(kind, handler) {
        return function (e) {
            var t0 = performance.now();
            handler(e);
            count(kind, performance.now() - t0);
        };
    }

    /* Other modules (assets/sound.js) hear what the stream brought, after it is applied. */
    function tell(kind, changed, gone) {
        document.dispatchEvent(new CustomEvent("ecocommand:live", {
            detail: {kind: kind, changed: changed, gone: gone, records: records}
        }));
    }

    function onPicture(e) {
        var body = JSON.parse(e.data);
        skew = (body.now || Date.now()) - Date.now();
        Object.keys(body.layers).forEach(function (layer) {
            records[layer] = body.layers[layer];
            refreshAll(layer);
        });
        tell("picture", body.layers, {});
    }

    function onUpdate(e) {
        var body = JSON.parse(e.data), changed = body.changed || {}, gone = body.gone || {};
        skew = (body.now || Date.now()) - Date.now();
        var touched = {};
        Object.keys(changed).concat(Object.keys(gone)).forEach(function (l) { touched[l] = true; });
        Object.keys(touched).forEach(function (layer) { merge(layer, changed[layer], gone[layer]); });
        ns().live.seq = body.seq;
        redraw();
        tell("update", changed, gone);
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
        source.addEventListener("picture", seen(timed("picture", onPicture)));
        source.addEventListener("update", seen(timed("update", onUpdate)));
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

    /* The anchor feature's pointToLayer: this layer's Leaflet layer, made once, with the
     * hideout and labels the page gave (a filter change arrives here as a new hideout). */
    function anchor(feature, latlng, context) {
        var p = feature.properties, layer = p.anchor, hideout = (context && context.hideout) || {};
        var g = layers[layer] = layers[layer] || {items: {}};
        g.on = g.on || liveLayer(layer);
        g.labels = p.labels || {};
        g.style = p.style || {};
        g.radius = hideout.radius || 6;
        g.filters = hideout.filters || {};
        records[layer] = records[layer] || {};
        refreshAll(layer);
        connect();
        return g.on;
    }

    /* Silent units fade, an open popup's ages move on: every 15 s, without a server round trip. */
    window.setInterval(function () {
        if (layers.units) { refreshAll("units"); }  /* only those that faded are redrawn */
        boards.forEach(function (b) { if (b._map && b._map._ecoLivePopup) { follow(b._map, b._map._ecoLivePopup); } });
    }, 15000);

    /* For the browser tests and `run.py bench map`: a marker's place, and a click on it. */
    function item(layer, id) {
        var it = layers[layer] && layers[layer].items[id];
        return it ? {lat: it.lat, lng: it.lon} : null;
    }
    function containerPoint(layer, id) {
        var it = layers[layer] && layers[layer].items[id], map = layers[layer] && layers[layer].on._map;
        if (!it || !map) { return null; }
        var p = map.latLngToContainerPoint([it.lat, it.lon]);
        return {x: p.x, y: p.y};
    }
    /* Centre the map on a record (a search's pick: assets/search.js), open its popup, and with
     * `followed` keep it centred as it moves, until its popup closes. */
    function focus(layer, id, followed) {
        var map = null, r = records[layer] && records[layer][id];
        boards.forEach(function (b) { if (b._map) { map = b._map; } });
        if (!map || !r) { return false; }
        map.setView([r.lat, r.lon], Math.max(map.getZoom(), FOCUS_ZOOM), {animate: false});
        if (layers[layer] && openPopup(map, layer, id)) { map._ecoLivePopup.followed = !!followed; }
        return true;
    }
    var FOCUS_ZOOM = 14;
    function centre(lat, lon) {  /* a place (the search's): the map on it, nothing to open */
        var map = null;
        boards.forEach(function (b) { if (b._map) { map = b._map; } });
        if (!map) { return false; }
        map.setView([lat, lon], Math.max(map.getZoom(), FOCUS_ZOOM), {animate: false});
        return true;
    }

    /* What the map follows ({layer, id}, or null), and to stop following it (the list's
     * follow toggle: assets/entity_list.js). */
    function following() {
        var found = null;
        boards.forEach(function (b) {
            var open = b._map && b._map._ecoLivePopup;
            if (open && open.followed) { found = {layer: open.layer, id: open.id}; }
        });
        return found;
    }
    function unfollow() {
        boards.forEach(function (b) { if (b._map && b._map._ecoLivePopup) { b._map._ecoLivePopup.followed = false; } });
    }

    function polylines() {  /* the lines on the map (the dispatch map's routes), for tests */
        var out = [];
        boards.forEach(function (b) {
            if (!b._map) { return; }
            b._map.eachLayer(function (l) {
                if (l instanceof L.Polyline && !(l instanceof L.Polygon)) {
                    out.push({points: l.getLatLngs().length, color: l.options.color, dash: l.options.dashArray || null});
                }
            });
        });
        return out;
    }

    function view() {  /* the map's extent: [[south, west], [north, east]] and its zoom */
        var map = null;
        boards.forEach(function (b) { if (b._map) { map = b._map; } });
        if (!map) { return null; }
        var b = map.getBounds();
        return {bounds: [[b.getSouth(), b.getWest()], [b.getNorth(), b.getEast()]], zoom: map.getZoom()};
    }
    function popupText() {
        var open = null;
        boards.forEach(function (b) { if (b._map && b._map._ecoLivePopup) { open = b._map._ecoLivePopup; } });
        var el = open && open.popup.getElement();
        return el ? el.innerText : null;
    }

    window.ecocommand = Object.assign({}, window.ecocommand);
    window.ecocommand.map = Object.assign({}, window.ecocommand.map);
    window.ecocommand.map.live = {anchor: anchor, records: records, layers: layers, seq: null, stats: stats,
                                  item: item, containerPoint: containerPoint, popupText: popupText,
                                  view: view, focus: focus, centre: centre, polylines: polylines,
                                  following: following, unfollow: unfollow};
}());
