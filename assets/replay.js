/* The replay page (/replay, layouts/replay.py): plays what the page loaded (#replay-data, JSON
 * from views/replay.py) on its Leaflet map, in the browser, with no server round trip.
 *
 * The map's anchor feature (views/replay.anchor) is answered by pointToLayer below with a
 * LayerGroup of ours: adding it gives us the Leaflet map, as assets/live.js gets its maps. Each
 * track is a polyline with time ticks (a dot and its local time every few minutes) and a moving
 * marker placed by linear interpolation between the two points around the replay's time; an
 * incident's timeline events are listed and show as the replay reaches them. The slider is the
 * replay's clock: dragging it moves everything to that time; playing advances it at x1, x10 or
 * x60. Text from the data is set as text, never as markup.
 *
 * window.ecocommand.replay.state holds the time, speed and each marker's place, for the browser
 * test (tests/test_replay_browser.py). Inert on every other page. */
(function () {
    var state = {t: 0, from: 0, to: 0, playing: false, speed: 60, loaded: 0, positions: {}};
    var map = null, group = null, data = null, raw = null, tracks = [], lastFrame = null;
    var ticks = [];  /* the time ticks' markers, for declutter() */
    var PANE = "ecReplayMarkers";  /* above the ticks' labels (tooltips, 650) */
    var TICK_MIN = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440];

    function el(id) { return document.getElementById(id); }

    /* Local time (UTC+8 unless the data says otherwise) as "YYYY-MM-DD HH:MM:SS". */
    function clock(ms) {
        var off = (data && data.tz_offset_min !== undefined ? data.tz_offset_min : 480) * 60000;
        return new Date(ms + off).toISOString().slice(0, 19).replace("T", " ");
    }

    /* [lat, lng] of a track at time t: between the two points around it, else its first or
     * last point (a marker waits at its start and stays at its end). */
    function at(points, t) {
        var lo = 0, hi = points.length - 1;
        if (t <= points[0][0]) { return [points[0][1], points[0][2]]; }
        if (t >= points[hi][0]) { return [points[hi][1], points[hi][2]]; }
        while (hi - lo > 1) {
            var mid = (lo + hi) >> 1;
            if (points[mid][0] <= t) { lo = mid; } else { hi = mid; }
        }
        var a = points[lo], b = points[hi], f = b[0] === a[0] ? 0 : (t - a[0]) / (b[0] - a[0]);
        return [a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f];
    }

    function tickStep(span) {
        for (var i = 0; i < TICK_MIN.length; i++) {
            if (span / (TICK_MIN[i] * 60000) <= 10) { return TICK_MIN[i] * 60000; }
        }
        return TICK_MIN[TICK_MIN.length - 1] * 60000;
    }

    function drawTrack(tr) {
        var pts = tr.points, latlngs = pts.map(function (p) { return [p[1], p[2]]; });
        L.polyline(latlngs, {color: tr.colour, weight: 3, opacity: 0.75, interactive: false}).addTo(group);
        var first = pts[0][0], last = pts[pts.length - 1][0], step = tickStep(last - first);
        for (var t = Math.ceil(first / step) * step; t <= last; t += step) {
            ticks.push(L.circleMarker(at(pts, t), {radius: 3, color: tr.colour, weight: 2, fillColor: "#fff", fillOpacity: 1})
                .bindTooltip(clock(t).slice(11, 16), {permanent: true, direction: "right", className: "ec-replay-tick"})
                .addTo(group));
        }
        var marker = L.circleMarker(latlngs[0], {radius: 8, color: "#102030", weight: 2, fillColor: tr.colour, fillOpacity: 0.95, pane: PANE});
        marker.bindTooltip(tr.label, {direction: "top"}).addTo(group);
        return {id: tr.id, points: pts, marker: marker};
    }

    /* The timeline's panel: an incident's events (or that there are none), else no panel. */
    function eventsList() {
        var list = el("replay-events");
        if (!list) { return; }
        var side = list.closest(".ec-replay-side"), none = el("replay-no-events");
        if (side) { side.hidden = data.kind !== "incident"; }
        if (none) { none.hidden = (data.events || []).length > 0; }
        list.textContent = "";
        (data.events || []).forEach(function (e) {
            var li = document.createElement("li");
            li.textContent = e.text;
            li.dataset.ts = e.ts;
            li.hidden = true;
            list.appendChild(li);
        });
    }

    function slider() {
        var box = el("replay-slider");
        if (!box) { return null; }
        var input = box.querySelector("input");
        if (!input) {
            input = document.createElement("input");
            input.type = "range";
            input.className = "ec-replay-slider";
            input.addEventListener("input", function () { seek(Number(input.value)); });
            box.appendChild(input);
        }
        return input;
    }

    /* Where a track doubles back its ticks' labels would overlap: at this zoom, a label that
       would cover one already shown is hidden (its dot stays). Measured, not assumed: the
       labels' boxes as drawn. */
    function declutter() {
        var shown = [];
        ticks.forEach(function (m) {
            var tip = m.getTooltip(), label = tip && tip.getElement();
            if (!label) { return; }
            var b = label.getBoundingClientRect();
            var clash = shown.some(function (a) {
                return b.left < a.right && a.left < b.right && b.top < a.bottom && a.top < b.bottom;
            });
            label.style.visibility = clash ? "hidden" : "";
            if (!clash) { shown.push(b); }
        });
    }

    function load() {
        if (!map || !group || !data) { return; }
        group.clearLayers();
        ticks = [];
        tracks = data.tracks.filter(function (tr) { return tr.points.length; }).map(drawTrack);
        if (data.place) {
            L.circleMarker(data.place, {radius: 10, color: "#000", weight: 3, fillColor: "#ffd400", fillOpacity: 0.9}).addTo(group);
        }
        var all = [];
        tracks.forEach(function (tr) { tr.points.forEach(function (p) { all.push([p[1], p[2]]); }); });
        if (data.place) { all.push(data.place); }
        if (all.length) { map.fitBounds(L.latLngBounds(all), {padding: [30, 30], maxZoom: 15, animate: false}); }
        declutter();
        state.from = data.from;
        state.to = data.to;
        state.loaded = tracks.length;
        var input = slider();
        if (input) {
            input.min = data.from;
            input.max = data.to;
            input.step = "any";  /* the exact time of a point, not a second near it */
        }
        var play = el("replay-play");
        if (play) { play.disabled = !tracks.length; }
        eventsList();
        pause();
        seek(tracks.length ? Math.max(data.from, tracks.reduce(function (m, tr) { return Math.min(m, tr.points[0][0]); }, Infinity)) : data.from);
    }

    function render() {
        var input = slider();
        if (input) { input.value = String(Math.round(state.t)); }
        var shown = el("replay-time");
        if (shown) { shown.textContent = clock(state.t); }
        state.positions = {};
        tracks.forEach(function (tr) {
            var p = at(tr.points, state.t);
            tr.marker.setLatLng(p);
            state.positions[tr.id] = p;
        });
        var list = el("replay-events");
        if (list) {
            Array.prototype.forEach.call(list.children, function (li) {
                li.hidden = Number(li.dataset.ts) > state.t;
            });
        }
    }

    function seek(t) {
        state.t = Math.min(Math.max(t, state.from), state.to);
        render();
    }

    function label() {
        var play = el("replay-play");
        if (play) { play.textContent = state.playing ? play.dataset.pause : play.dataset.play; }
    }

    function frame(now) {
        if (!state.playing) { return; }
        if (lastFrame !== null) { state.t += (now - lastFrame) * state.speed; }
        lastFrame = now;
        if (state.t >= state.to) { state.t = state.to; render(); pause(); return; }
        render();
        window.requestAnimationFrame(frame);
    }

    function start() {
        if (!tracks.length) { return; }
        if (state.t >= state.to) { state.t = state.from; }
        state.playing = true;
        lastFrame = null;
        label();
        window.requestAnimationFrame(frame);
    }

    function pause() {
        state.playing = false;
        lastFrame = null;
        label();
    }

    function setSpeed(n) {
        state.speed = n;
        document.querySelectorAll(".ec-replay-speed").forEach(function (b) {
            b.classList.toggle("ec-active", Number(b.dataset.speed) === n);
        });
    }

    /* The buttons are Dash's (rebuilt with the page): one listener for them all. */
    document.addEventListener("click", function (e) {
        var target = e.target && e.target.closest ? e.target.closest("#replay-play, .ec-replay-speed") : null;
        if (!target) { return; }
        if (target.id === "replay-play") {
            if (state.playing) { pause(); } else { start(); }
        } else {
            setSpeed(Number(target.dataset.speed));
        }
    });

    /* What the page's load callback put in #replay-data: a new text is a new replay. */
    window.setInterval(function () {
        var box = el("replay-data");
        if (!box) { return; }
        var text = box.textContent;
        if (text === raw) { return; }
        raw = text;
        try { data = text ? JSON.parse(text) : null; } catch (err) { data = null; }
        if (data) { load(); } else if (group) { group.clearLayers(); tracks = []; ticks = []; state.loaded = 0; }
    }, 250);

    var ReplayLayer = null;
    function pointToLayer() {
        ReplayLayer = ReplayLayer || L.LayerGroup.extend({
            onAdd: function (m) {
                L.LayerGroup.prototype.onAdd.call(this, m);
                map = m;
                group = this;
                if (!m.getPane(PANE)) { m.createPane(PANE).style.zIndex = 660; }
                m.on("zoomend", declutter);
                load();
            },
            onRemove: function (m) {
                L.LayerGroup.prototype.onRemove.call(this, m);
                m.off("zoomend", declutter);
                if (group === this) { pause(); map = null; group = null; tracks = []; ticks = []; }
            }
        });
        return new ReplayLayer();
    }

    window.ecocommand = Object.assign({}, window.ecocommand);
    /* Where each marker is drawn on the map now (Leaflet's own place, not our arithmetic). */
    function markers() {
        var out = {};
        tracks.forEach(function (tr) { var p = tr.marker.getLatLng(); out[tr.id] = [p.lat, p.lng]; });
        return out;
    }

    window.ecocommand.replay = {pointToLayer: pointToLayer, state: state, seek: seek, speed: setSpeed, markers: markers};
}());
