/* The live map's search (layouts/map.py Ids.SEARCH): units by name or id, vessels by name, MMSI
 * or call sign, open incidents by id or type, over the records the page already holds from the
 * pushed stream (assets/live.js), and the district's places (sub-districts, communities, grid
 * cells, coastline segments, sea cells, zones, named places: the box's data-places), so a
 * keystroke costs no request. A pick centres the map on it and opens its popup; "follow" also
 * keeps it centred as it moves. Keyboard: arrows, Enter, Escape. Labels come from the box's data
 * attributes (the page's language). */
(function () {
    var MAX = 8, PLACES = 3;  /* rows in all; rows kept for each kind of place */
    var FIELDS = {vessels: ["name", "callsign"], units: ["name", "callsign", "plate"], incidents: ["type"]};
    var picked = -1, hits = [];

    function live() { return window.ecocommand && window.ecocommand.map && window.ecocommand.map.live; }

    /* How well a text matches: 0 it starts with the query, 1 it holds it, 3 not at all. */
    function match(t, q) {
        if (t === undefined || t === null) { return 3; }
        var at = String(t).toLowerCase().indexOf(q);
        return at === 0 ? 0 : (at > 0 ? 1 : 3);
    }
    /* Places whose "name" is a code (grid cells dapeng-01, sea cells, coastline segments): it
     * matches as an id does, after any real name. */
    var CODED = {land: true, sea: true, coast: true};

    /* One ranking for the live picture and the places: prefix before substring; a place's id
     * (or code) after any name; at equal rank the live picture before places (a vessel called
     * YUE DAPENG 88 above the district's 40 "dapeng-…" cells, the sub-district 大鹏/Dapeng
     * above a vessel that only holds its name). Each kind of place keeps a few rows. */
    function find(q, types, places) {
        var L = live(), out = [];
        q = q.trim().toLowerCase();
        if (!L || q.length < 2) { return out; }
        Object.keys(FIELDS).forEach(function (layer) {
            var recs = L.records[layer] || {};
            Object.keys(recs).forEach(function (id) {
                var r = recs[id], texts = [id].concat(FIELDS[layer].map(function (f) { return r[f]; }));
                if (layer === "incidents") { texts.push(types[r.type]); }  /* its type, as the page says it */
                var best = Math.min.apply(null, texts.map(function (t) { return match(t, q); }));
                var label = r.name || (layer === "incidents" ? (types[r.type] || r.type) : id);
                if (best < 3) { out.push({layer: layer, id: id, rank: best, place: 0, label: label}); }
            });
        });
        places.forEach(function (p) {  /* [name, id, lat, lon, kind] */
            var named = CODED[p[4]] ? 3 : match(p[0], q);
            var coded = Math.min(CODED[p[4]] ? match(p[0], q) : 3, match(p[1], q));
            var best = Math.min(named, coded < 3 ? coded + 2 : 5);
            if (best < 5) {
                out.push({layer: "place:" + p[4], id: p[1], rank: best, place: 1, label: p[0], lat: p[2], lon: p[3]});
            }
        });
        out.sort(function (a, b) {
            return a.rank - b.rank || a.place - b.place || (a.label > b.label ? 1 : (a.label < b.label ? -1 : 0));
        });
        var perKind = {}, kept = [];
        for (var i = 0; i < out.length && kept.length < MAX; i++) {
            var h = out[i];
            if (h.place) {
                perKind[h.layer] = (perKind[h.layer] || 0) + 1;
                if (perKind[h.layer] > PLACES) { continue; }
            }
            kept.push(h);
        }
        return kept;
    }

    function box(input) { return input.closest(".ec-search"); }

    var parsed = null;  /* the places index, parsed once per page */
    function placesOf(b) {
        if (!parsed || parsed.box !== b) {
            parsed = {box: b, rows: JSON.parse(b.getAttribute("data-places") || "[]"),
                      kinds: JSON.parse(b.getAttribute("data-place-kinds") || "{}")};
        }
        return parsed.rows;
    }

    function show(input) {
        var list = box(input).querySelector(".ec-search-hits");
        if (!list) { return; }
        var kinds = JSON.parse(box(input).getAttribute("data-kinds") || "{}");
        var followLabel = box(input).getAttribute("data-follow") || "follow";
        list.textContent = "";
        hits.forEach(function (h, i) {
            var li = document.createElement("li");
            li.id = input.id + "-hit-" + i;
            li.setAttribute("role", "option");
            li.className = "ec-search-hit" + (i === picked ? " ec-search-picked" : "");
            li.setAttribute("data-layer", h.layer);
            li.setAttribute("data-id", h.id);
            var name = document.createElement("span");
            name.textContent = h.label + (h.label !== h.id ? " · " + h.id : "");
            var kind = document.createElement("small");
            var placeKind = h.layer.indexOf("place:") === 0 ? h.layer.slice(6) : null;
            kind.textContent = placeKind ? (parsed && parsed.kinds[placeKind]) || placeKind : kinds[h.layer] || h.layer;
            var follow = document.createElement("button");
            follow.type = "button";
            follow.className = "ec-search-follow";
            follow.textContent = followLabel;
            li.appendChild(kind); li.appendChild(name);
            if (!placeKind) { li.appendChild(follow); }  /* a place does not move */
            list.appendChild(li);
        });
        list.hidden = hits.length === 0;
        input.setAttribute("aria-expanded", hits.length ? "true" : "false");
        input.setAttribute("aria-controls", list.id);
    }

    function pick(input, i, followed) {
        var h = hits[i];
        if (!h || !live()) { return; }
        if (h.layer.indexOf("place:") === 0) { live().centre(h.lat, h.lon); } else { live().focus(h.layer, h.id, followed); }
        hits = []; picked = -1;
        show(input);
    }

    /* dcc.Input puts its className on a wrapper: the search's input is the <input> in the box */
    function isSearch(el) { return !!(el && el.tagName === "INPUT" && el.closest && el.closest(".ec-search")); }

    document.addEventListener("input", function (e) {
        if (!isSearch(e.target)) { return; }
        var b = box(e.target);
        hits = find(e.target.value, JSON.parse(b.getAttribute("data-types") || "{}"), placesOf(b));
        picked = hits.length ? 0 : -1;
        show(e.target);
    });
    document.addEventListener("keydown", function (e) {
        if (!isSearch(e.target) || !hits.length) { return; }
        if (e.key === "ArrowDown" || e.key === "ArrowUp") {
            picked = (picked + (e.key === "ArrowDown" ? 1 : hits.length - 1)) % hits.length;
            show(e.target);
            e.preventDefault();
        } else if (e.key === "Enter") {
            pick(e.target, Math.max(picked, 0), e.shiftKey);
            e.preventDefault();
        } else if (e.key === "Escape") {
            hits = []; picked = -1; show(e.target);
        }
    });
    document.addEventListener("click", function (e) {
        var li = e.target.closest && e.target.closest(".ec-search-hit");
        if (!li) { return; }
        var input = li.closest(".ec-search").querySelector("input");
        var i = Array.prototype.indexOf.call(li.parentNode.children, li);
        pick(input, i, e.target.classList.contains("ec-search-follow"));
    });
}());
