/* The live map's list of units and vessels, and a unit's or vessel's panel (layouts/map.py
 * entity_list; not on the wall screen).
 *
 * Built from the records the page already holds from the pushed stream (assets/live.js): no
 * request of its own but one when a panel opens (its particulars: callbacks/map.particulars,
 * through the pick store). Searchable by name, id, MMSI, call sign or plate (the units' call
 * signs and plates are not in the pushed records: the aside's data-handles), filtered by status
 * (a unit's, as its record has it; a vessel's from its speed, or "in a zone" while a zone alert
 * names it). Only the first SHOWN matches are drawn, with how many more: 5,000 units and 3,000
 * vessels stay cheap, and the list is redrawn at most once a second as the stream moves.
 *
 * A row's click centres the map on it and opens its panel; its follow toggle keeps the map on it
 * as it moves. The panel opens too from the search and from a click on the map (live.js tells
 * "ecocommand:picked"). Texts come from the aside's data attributes and the live layers' label
 * table (the page's language), set as text, never as markup. */
(function () {
    var SHOWN = 200, MOVING_KN = 0.5, QUIET_MS = 1000;
    var KEEP = "ecocommand.entities.open";  /* collapsed or not, kept in this browser */
    var st = {layer: "units", q: "", status: "", pick: null, picks: 0};
    var ui = null, timer = null;

    function live() { return window.ecocommand && window.ecocommand.map && window.ecocommand.map.live; }
    function parsed(el, name, fallback) {
        try { return JSON.parse(el.getAttribute(name) || "null") || fallback; } catch (e) { return fallback; }
    }
    function make(tag, cls, text) {
        var e = document.createElement(tag);
        if (cls) { e.className = cls; }
        if (text !== undefined) { e.textContent = text; }
        return e;
    }
    function say(key, n, total) {
        var s = (ui && ui.labels[key]) || key;
        return s.replace("{n}", n).replace("{total}", total);
    }
    function liveLabel(key) {
        var L = live(), g = L && (L.layers.units || L.layers.vessels);
        var found = g && g.labels && g.labels[key];
        return found || (ui && ui.labels[key]) || null;
    }

    /* The open zone alerts' vessels (a geofence or loitering alert names its vessel's MMSI as
       its source: ingest/vessels.py, ingest/vessel_watch.py). */
    var ZONE_KINDS = {geofence: true, loitering: true};
    function inZone(L) {
        var out = {}, alerts = L.records.alerts || {};
        Object.keys(alerts).forEach(function (k) {
            if (ZONE_KINDS[alerts[k].kind] && alerts[k].source) { out[alerts[k].source] = true; }
        });
        return out;
    }
    function statusOf(layer, id, r, zones) {
        if (layer === "units") { return r.status || ""; }
        if (zones[id]) { return "in_zone"; }
        if (typeof r.sog_kn !== "number") { return "unknown"; }
        return r.sog_kn >= MOVING_KN ? "under_way" : "stopped";
    }
    function matches(layer, id, r, q) {
        var texts = [id, r.name, r.callsign, layer === "units" ? ui.handles[id] : null];
        for (var i = 0; i < texts.length; i++) {
            if (texts[i] && String(texts[i]).toLowerCase().indexOf(q) >= 0) { return true; }
        }
        return false;
    }
    function colour(layer, s) {
        var L = live(), g = L && L.layers[layer], style = (g && g.style) || {};
        if (layer === "units") { return (style.status || {})[s] || style.unknown || "#888888"; }
        return s === "in_zone" ? "#e0261b" : (style.vessel || "#1f78d1");
    }

    /* The list's controls, made once per page (a page rebuilt, for a new language, makes new). */
    function build() {
        var root = document.getElementById("map-entities");
        var host = root && root.querySelector("#map-entity-list");
        if (!host) { ui = null; return null; }
        if (ui && ui.root === root) { return ui; }
        ui = {root: root, host: host, labels: parsed(root, "data-labels", {}),
              statuses: parsed(root, "data-statuses", {units: {}, vessels: {}}),
              handles: parsed(root, "data-handles", {})};
        host.textContent = "";
        var head = make("div", "ec-entities-head");
        ui.toggle = make("button", "ec-entities-toggle", "");
        ui.toggle.type = "button";
        ui.toggle.id = "map-entities-toggle";
        ui.toggle.title = say("entities.toggle");
        ui.toggle.setAttribute("aria-controls", "map-entities-body");
        head.appendChild(ui.toggle);
        head.appendChild(make("h2", "ec-entities-title", say("entities.title")));
        host.appendChild(head);
        var body = ui.body = make("div", "ec-entities-body");
        body.id = "map-entities-body";
        var tabs = make("div", "ec-entities-tabs");
        ui.tabs = {};
        ["units", "vessels"].forEach(function (layer) {
            var b = ui.tabs[layer] = make("button", "ec-entities-tab", "");
            b.type = "button";
            b.id = "map-entities-tab-" + layer;
            b.setAttribute("data-layer", layer);
            tabs.appendChild(b);
        });
        body.appendChild(tabs);
        ui.filter = make("input", "ec-input ec-entities-filter");
        ui.filter.type = "search";
        ui.filter.id = "map-entities-filter";
        ui.filter.autocomplete = "off";
        ui.filter.placeholder = root.getAttribute("data-filter") || "";
        ui.filter.setAttribute("aria-label", ui.filter.placeholder);
        body.appendChild(ui.filter);
        ui.status = make("select", "ec-input ec-entities-status");
        ui.status.id = "map-entities-status";
        ui.status.setAttribute("aria-label", say("entities.any_status"));
        body.appendChild(ui.status);
        ui.count = make("div", "ec-entities-count");
        ui.count.setAttribute("role", "status");
        body.appendChild(ui.count);
        ui.rows = make("ul", "ec-entities-rows");
        ui.rows.id = "map-entities-rows";
        body.appendChild(ui.rows);
        ui.more = make("div", "ec-entities-more");
        ui.more.id = "map-entities-more";
        body.appendChild(ui.more);
        host.appendChild(body);
        ui.detail = root.querySelector("#map-detail");
        ui.box = root.querySelector("#map-detail-box");
        setOpen(window.localStorage.getItem(KEEP) !== "0");
        statusOptions();
        return ui;
    }

    function setOpen(open) {
        ui.open = open;
        ui.host.classList.toggle("ec-entities-collapsed", !open);
        ui.toggle.setAttribute("aria-expanded", open ? "true" : "false");
        ui.toggle.textContent = open ? "‹" : "›";
        try { window.localStorage.setItem(KEEP, open ? "1" : "0"); } catch (e) { /* private mode */ }
        /* the map beside it changes width: assets/live.js watchBox measures it again */
    }

    function statusOptions() {
        ui.status.textContent = "";
        var any = make("option", "", say("entities.any_status"));
        any.value = "";
        ui.status.appendChild(any);
        var names = ui.statuses[st.layer] || {};
        Object.keys(names).forEach(function (k) {
            var o = make("option", "", names[k]);
            o.value = k;
            ui.status.appendChild(o);
        });
        ui.status.value = st.status;
    }

    function later() {
        if (!timer) { timer = window.setTimeout(draw, QUIET_MS); }
    }
    function now() {
        if (timer) { window.clearTimeout(timer); timer = null; }
        draw();
    }

    function draw() {
        timer = null;
        var L = live();
        if (!build() || !L) { return; }
        ["units", "vessels"].forEach(function (layer) {
            var n = Object.keys(L.records[layer] || {}).length;
            ui.tabs[layer].textContent = say("count." + layer) + " " + n;
            ui.tabs[layer].setAttribute("aria-pressed", layer === st.layer ? "true" : "false");
        });
        drawDetail(L);
        if (!ui.open) { return; }  /* collapsed: nothing to draw */
        var recs = L.records[st.layer] || {}, zones = inZone(L), q = st.q.trim().toLowerCase();
        var found = [], total = 0;
        Object.keys(recs).forEach(function (id) {
            var r = recs[id], s = statusOf(st.layer, id, r, zones);
            total += 1;
            if ((st.status && s !== st.status) || (q && !matches(st.layer, id, r, q))) { return; }
            found.push({id: id, r: r, s: s, name: String(r.name || id)});
        });
        found.sort(function (a, b) {
            return a.name < b.name ? -1 : (a.name > b.name ? 1 : (a.id < b.id ? -1 : 1));
        });
        ui.count.textContent = found.length ? say("entities.shown", found.length, total) : say("entities.none");
        var followed = L.following ? L.following() : null, frag = document.createDocumentFragment();
        found.slice(0, SHOWN).forEach(function (f) { frag.appendChild(row(f, followed)); });
        ui.rows.textContent = "";
        ui.rows.appendChild(frag);
        ui.more.textContent = found.length > SHOWN ? say("entities.more", found.length - SHOWN) : "";
    }

    function row(f, followed) {
        var li = make("li", "ec-entity-row" + (st.pick && st.pick.id === f.id && st.pick.layer === st.layer ? " ec-entity-picked" : ""));
        li.setAttribute("data-layer", st.layer);
        li.setAttribute("data-id", f.id);
        li.setAttribute("data-status", f.s);
        var pick = make("button", "ec-entity-pick");
        pick.type = "button";
        var dot = make("span", "ec-dot");
        dot.style.background = colour(st.layer, f.s);
        pick.appendChild(dot);
        pick.appendChild(make("span", "ec-entity-name", f.name));
        if (f.name !== f.id) { pick.appendChild(make("small", "ec-entity-id", f.id)); }
        var names = ui.statuses[st.layer] || {};
        pick.appendChild(make("small", "ec-entity-status", names[f.s] || f.s || "—"));
        li.appendChild(pick);
        var on = !!(followed && followed.layer === st.layer && followed.id === f.id);
        var follow = make("button", "ec-entity-follow", say("search.follow"));
        follow.type = "button";
        follow.setAttribute("aria-pressed", on ? "true" : "false");
        follow.title = on ? say("entities.unfollow") : say("search.follow");
        li.appendChild(follow);
        return li;
    }

    /* -- the panel ---------------------------------------------------------------------------- */

    function open(layer, id) {
        if (!build() || (layer !== "units" && layer !== "vessels")) { return; }
        var same = st.pick && st.pick.layer === layer && st.pick.id === id;
        st.pick = {layer: layer, id: id};
        ui.box.hidden = false;
        if (!ui.open) { setOpen(true); }
        if (!same && window.dash_clientside && window.dash_clientside.set_props) {
            st.picks += 1;  /* the server reads its particulars once per opening */
            window.dash_clientside.set_props("map-detail-pick", {data: {layer: layer, id: id, n: st.picks}});
        }
        now();
    }
    function close() {
        st.pick = null;
        if (ui) { ui.box.hidden = true; }
        now();
    }

    function fmtTime(ts) {
        if (typeof ts !== "number") { return "—"; }
        var d = new Date(ts + 8 * 3600 * 1000);  /* Shenzhen time, as every page shows it */
        var hhmmss = d.toISOString().slice(11, 19), s = Math.max(0, (Date.now() - ts) / 1000);
        var age = s < 120 ? (liveLabel("age.seconds") || "{n} s").replace("{n}", Math.floor(s))
            : s < 7200 ? (liveLabel("age.minutes") || "{n} min").replace("{n}", Math.floor(s / 60))
                : (liveLabel("age.hours") || "{n} h").replace("{n}", Math.floor(s / 3600));
        return hhmmss + " (" + age + ")";
    }
    function num(v, digits, unit) { return typeof v === "number" ? v.toFixed(digits) + unit : "—"; }

    function drawDetail(L) {
        if (!st.pick || !ui.detail) { return; }
        var layer = st.pick.layer, id = st.pick.id, r = (L.records[layer] || {})[id] || {};
        var zones = inZone(L), s = statusOf(layer, id, r, zones), names = ui.statuses[layer] || {};
        var d = ui.detail;
        d.textContent = "";
        var head = make("div", "ec-detail-head");
        head.appendChild(make("h2", "ec-detail-name", String(r.name || id)));
        var x = make("button", "ec-detail-close", "×");
        x.type = "button";
        x.title = say("detail.close");
        x.setAttribute("aria-label", say("detail.close"));
        head.appendChild(x);
        d.appendChild(head);
        d.appendChild(make("div", "ec-detail-kind", say("count." + layer) + " · " + id));
        d.appendChild(make("h3", "ec-detail-title", say("detail.last_report")));
        var rows = [[say("detail.time"), fmtTime(r.ts)],
                    [say("detail.position"), typeof r.lat === "number" ? r.lat.toFixed(5) + ", " + r.lon.toFixed(5) : "—"],
                    [liveLabel("field.speed") || "speed", layer === "units" ? num(r.speed_kmh, 1, " km/h") : num(r.sog_kn, 1, " kn")],
                    [liveLabel("field.course") || "course", num(r.course, 0, "°")],
                    [liveLabel("field.status") || "status", names[s] || s || "—"]];
        var dl = make("dl", "ec-detail-rows");
        rows.forEach(function (pair) { dl.appendChild(make("dt", "", pair[0])); dl.appendChild(make("dd", "", pair[1])); });
        d.appendChild(dl);
        d.appendChild(make("h3", "ec-detail-title", say("detail.alerts")));
        var alerts = L.records.alerts || {}, list = make("ul", "ec-detail-alerts");
        Object.keys(alerts).forEach(function (k) {
            var a = alerts[k];
            if (String(a.source) !== String(id)) { return; }
            var li = make("li", "ec-detail-alert ec-severity-" + (a.severity || "info"));
            li.textContent = fmtTime(a.ts).slice(0, 8) + " " + (ui.labels["alert." + a.kind] || a.kind || "");
            list.appendChild(li);
        });
        d.appendChild(list.children.length ? list : make("p", "ec-feed-empty", say("detail.no_alerts")));
        var link = make("a", "ec-detail-replay", say("detail.replay"));
        link.href = "/replay?" + (layer === "units" ? "unit=" : "vessel=") + encodeURIComponent(id);
        d.appendChild(link);
    }

    /* -- events ------------------------------------------------------------------------------- */

    function inList(el) { return !!(el && el.closest && el.closest("#map-entities")); }

    document.addEventListener("ecocommand:live", function () { if (build()) { later(); } });
    document.addEventListener("ecocommand:picked", function (e) { open(e.detail.layer, e.detail.id); });
    document.addEventListener("input", function (e) {
        if (!inList(e.target) || !ui) { return; }
        if (e.target === ui.filter) { st.q = e.target.value; now(); }
    });
    document.addEventListener("change", function (e) {
        if (ui && e.target === ui.status) { st.status = e.target.value; now(); }
    });
    document.addEventListener("click", function (e) {
        if (!inList(e.target) || !build()) { return; }
        var t = e.target, L = live();
        if (t.closest("#map-entities-toggle")) { setOpen(!ui.open); now(); return; }
        if (t.closest(".ec-detail-close")) { close(); return; }
        var tab = t.closest(".ec-entities-tab");
        if (tab) { st.layer = tab.getAttribute("data-layer"); st.status = ""; statusOptions(); now(); return; }
        var li = t.closest(".ec-entity-row");
        if (!li || !L) { return; }
        var layer = li.getAttribute("data-layer"), id = li.getAttribute("data-id");
        if (t.closest(".ec-entity-follow")) {
            var f = L.following(), on = !!(f && f.layer === layer && f.id === id);
            if (on) { L.unfollow(); } else { L.focus(layer, id, true); }
        } else {
            L.focus(layer, id, false);
        }
        open(layer, id);  /* also when the layer is hidden and no popup opens */
    });

    /* An alert's source in the feed: the unit's or vessel's panel, the map on it. */
    document.addEventListener("click", function (e) {
        var s = e.target.closest && e.target.closest(".ec-alert-source[data-source]");
        var L = live(), id = s && s.getAttribute("data-source");
        if (!id || !L || !build()) { return; }
        var layer = (L.records.vessels || {})[id] ? "vessels" : (L.records.units || {})[id] ? "units" : null;
        if (!layer) { return; }  /* a sensor's, or one no longer in the picture */
        L.focus(layer, id, false);
        open(layer, id);
    });

    window.ecocommand = Object.assign({}, window.ecocommand);
    window.ecocommand.entities = {open: open, state: st, shown: SHOWN};
}());
