/* Sound (and a browser notification when the page is hidden) for a new critical alert, a new
 * incident and a case that becomes overdue, heard from the pushed stream (assets/live.js's
 * "ecocommand:live" events: what was already there when the page opened makes no sound).
 * Browsers play sound only after a click on the page, so the header's button (layouts/shell.py
 * Ids.SOUND) turns it on or off; the choice is kept in this browser (localStorage), so a wall
 * screen keeps it. `window.ecocommand.sound.played` lists what was played and whether the
 * audio's play() resolved (for the browser tests). */
(function () {
    var KEY = "ecocommand.sound";
    var URL = "/assets/sounds/alert.wav";
    var audio = null, seen = null, played = [];

    function on() {
        try { return window.localStorage.getItem(KEY) === "on"; } catch (e) { return false; }
    }
    function button() { return document.querySelector(".ec-sound"); }
    function label() {
        var b = button();
        if (!b) { return; }
        var text = on() ? b.getAttribute("data-on") : b.getAttribute("data-off");
        var word = b.getAttribute("data-word");  /* short: the header has little room */
        var shown = (on() ? "\u266A " : "\u00D7 ") + word;  /* a note when on, a cross when off */
        if (b.textContent !== shown) { b.textContent = shown; }
        b.title = text;
        b.setAttribute("aria-label", text);
        b.setAttribute("aria-pressed", on() ? "true" : "false");
    }
    function sound() {
        if (!audio) { audio = new Audio(URL); audio.preload = "auto"; }
        return audio;
    }

    function play(kind, text) {
        var rec = {kind: kind, text: text, at: Date.now(), ok: null, error: null};
        played.push(rec);
        if (played.length > 50) { played.shift(); }
        if (!on()) { rec.ok = false; rec.error = "muted"; return; }
        var a = sound();
        a.currentTime = 0;
        var p = a.play();
        if (p && p.then) {
            p.then(function () { rec.ok = true; }, function (err) { rec.ok = false; rec.error = err && err.name; });
        }
        if (document.hidden && "Notification" in window && Notification.permission === "granted") {
            new Notification(text);  // eslint-disable-line no-new
        }
    }

    function snapshot(records) {
        var out = {alerts: {}, incidents: {}, late: {}};
        Object.keys(records.alerts || {}).forEach(function (id) { out.alerts[id] = true; });
        Object.keys(records.incidents || {}).forEach(function (id) {
            out.incidents[id] = true;
            if ((records.incidents[id].late || []).length) { out.late[id] = true; }
        });
        return out;
    }

    document.addEventListener("ecocommand:live", function (e) {
        var d = e.detail, recs = d.records;
        if (d.kind === "picture" || seen === null) { seen = snapshot(recs); return; }
        var b = button(), says = function (k) { return (b && b.getAttribute("data-" + k)) || k; };
        Object.keys((d.changed || {}).alerts || {}).forEach(function (id) {
            var r = (recs.alerts || {})[id];
            if (!seen.alerts[id] && r && r.severity === "critical") {
                play("alert", says("alert") + ": " + (r.message || r.source || id));
            }
            seen.alerts[id] = true;
        });
        Object.keys((d.changed || {}).incidents || {}).forEach(function (id) {
            var r = (recs.incidents || {})[id];
            if (!r) { return; }
            if (!seen.incidents[id]) { play("incident", says("incident") + ": " + id); }
            seen.incidents[id] = true;
            if ((r.late || []).length && !seen.late[id]) { play("overdue", says("overdue") + ": " + id); }
            if ((r.late || []).length) { seen.late[id] = true; }
        });
    });

    document.addEventListener("click", function (e) {
        if (!e.target.classList || !e.target.classList.contains("ec-sound")) { return; }
        try { window.localStorage.setItem(KEY, on() ? "off" : "on"); } catch (err) { return; }
        label();
        if (!on()) { return; }
        var a = sound();  /* played once, muted, inside the click: the browser lets it play later */
        a.muted = true;
        var p = a.play();
        var unmute = function () { a.pause(); a.muted = false; a.currentTime = 0; };
        if (p && p.then) { p.then(unmute, unmute); } else { unmute(); }
        if ("Notification" in window && Notification.permission === "default") {
            Notification.requestPermission();
        }
    });

    window.setInterval(label, 1000);  /* the header is drawn by Dash after this script runs */
    window.ecocommand = Object.assign({}, window.ecocommand);
    window.ecocommand.sound = {played: played, on: on};
}());
