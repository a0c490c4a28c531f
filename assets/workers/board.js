/* The live board's drawing, off the page's main thread (assets/live.js, "Board").
 *
 * The page hands this worker its board canvas once (transferControlToOffscreen) and then, at most
 * once per animation frame, a message with what changed since the last one and the view:
 *   {canvas?, looks: {key: look}, changes: [[layer, id, x0, y0, lookKey, angle, label] or
 *    [layer, id] for gone], shown: [layers, bottom to top], view: {seq, w, h, dpr, minX, minY,
 *    scale, originX, originY, labels}}
 * x0, y0 are Web Mercator pixels at zoom 0; a look is {shape, fill, stroke, weight, radius, half}.
 * It draws the markers look by look (a software canvas pays for colour changes, so each look's
 * colours are set once) and answers {drawn: seq}. Rasterising thousands of small paths takes a
 * software canvas tens of milliseconds a frame: here, that time is not the page's. This file is
 * kept out of the page's own scripts (dashboard/app.py: assets_path_ignore). */
importScripts("../shapes.js");

var trace = self.ecocommandShapes.trace;
var canvas = null, ctx = null;
var looks = {};
var items = {};  /* layer -> Map(id -> [x0, y0, lookKey, angle, label]) */

function apply(changes) {
    for (var i = 0; i < changes.length; i++) {
        var c = changes[i], layer = items[c[0]] = items[c[0]] || new Map();
        if (c.length === 2) { layer.delete(c[1]); } else { layer.set(c[1], c.slice(2)); }
    }
}

function draw(view, shown) {
    var w = Math.max(1, Math.round(view.w * view.dpr)), h = Math.max(1, Math.round(view.h * view.dpr));
    if (canvas.width !== w || canvas.height !== h) {
        canvas.width = w;
        canvas.height = h;
    } else {
        ctx.setTransform(1, 0, 0, 1, 0, 0);
        ctx.clearRect(0, 0, w, h);
    }
    ctx.setTransform(view.dpr, 0, 0, view.dpr, -view.minX * view.dpr, -view.minY * view.dpr);
    ctx.lineJoin = "miter";
    var maxX = view.minX + view.w, maxY = view.minY + view.h, labels = [];
    shown.forEach(function (layer) {
        var byLook = {};
        (items[layer] || new Map()).forEach(function (it) {
            var lk = looks[it[2]];
            if (!lk) { return; }
            var x = it[0] * view.scale - view.originX, y = it[1] * view.scale - view.originY;
            if (x < view.minX - lk.half || x > maxX + lk.half || y < view.minY - lk.half || y > maxY + lk.half) {
                return;
            }
            (byLook[it[2]] = byLook[it[2]] || []).push(x, y, it[3]);
            if (view.labels && it[4]) { labels.push(x + lk.half + 2, y + 4, it[4]); }
        });
        Object.keys(byLook).forEach(function (key) {
            var list = byLook[key], lk = looks[key];
            ctx.fillStyle = lk.fill;
            ctx.strokeStyle = lk.stroke;
            ctx.lineWidth = lk.weight;
            for (var i = 0; i < list.length; i += 3) {
                ctx.beginPath();
                trace(ctx, lk.shape, list[i], list[i + 1], lk.radius, list[i + 2]);
                ctx.fill();
                ctx.stroke();
            }
        });
    });
    ctx.font = "600 13px sans-serif";
    ctx.lineWidth = 3;
    ctx.strokeStyle = "rgba(255,255,255,0.9)";
    ctx.fillStyle = "#102030";
    var placed = place(labels);
    for (var i = 0; i < placed.length; i += 3) {
        ctx.strokeText(placed[i + 2], placed[i], placed[i + 1]);
        ctx.fillText(placed[i + 2], placed[i], placed[i + 1]);
    }
    return {labels: placed.length / 3, hidden: (labels.length - placed.length) / 3};
}

/* Labels that do not overlap: each in turn (the same order every frame, so the same ones win
 * and nothing flickers) is kept when its box touches no kept one. Boxes are looked up in a
 * grid of CELL px, so a crowded harbour costs a few comparisons per label, not all pairs. */
var CELL = 32, widths = new Map();
function place(labels) {
    var grid = new Map(), out = [];
    for (var i = 0; i < labels.length; i += 3) {
        var text = labels[i + 2], w = widths.get(text);
        if (w === undefined) {
            w = ctx.measureText(text).width;
            if (widths.size > 20000) { widths.clear(); }
            widths.set(text, w);
        }
        var box = [labels[i] - 2, labels[i + 1] - 13, labels[i] + w + 2, labels[i + 1] + 4];
        var cells = [], free = true;
        for (var cx = Math.floor(box[0] / CELL); cx <= Math.floor(box[2] / CELL) && free; cx++) {
            for (var cy = Math.floor(box[1] / CELL); cy <= Math.floor(box[3] / CELL); cy++) {
                var key = cx + ":" + cy, held = grid.get(key) || [];
                for (var j = 0; j < held.length; j++) {
                    var b = held[j];
                    if (box[0] < b[2] && b[0] < box[2] && box[1] < b[3] && b[1] < box[3]) { free = false; break; }
                }
                if (!free) { break; }
                cells.push(key);
            }
        }
        if (!free) { continue; }
        cells.forEach(function (key) { (grid.get(key) || grid.set(key, []).get(key)).push(box); });
        out.push(labels[i], labels[i + 1], text);
    }
    return out;
}

self.onmessage = function (e) {
    var m = e.data;
    if (m.canvas) {
        canvas = m.canvas;
        ctx = canvas.getContext("2d");
    }
    Object.assign(looks, m.looks || {});
    apply(m.changes || []);
    if (m.view && ctx) {
        var t0 = performance.now();
        var drew = draw(m.view, m.shown || []) || {};
        self.postMessage({drawn: m.view.seq, ms: performance.now() - t0, labels: drew.labels,
                          hidden: drew.hidden});
    }
};
