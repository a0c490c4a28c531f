/* Marker outlines, shared by the page (assets/map.js) and the live board's worker
 * (assets/workers/board.js, which loads this file with importScripts): `self` is the window in a
 * page and the global scope in a worker. */
(function (root) {
    var TAU = Math.PI * 2;

    /* Corners around (0, 0) in radii, flat [x0, y0, x1, y1, ...], screen y pointing down; a
     * circle has none. Made once: tracing allocates nothing (the board traces thousands of
     * markers per frame). */
    var SHAPES = {
        square: [-0.85, -0.85, 0.85, -0.85, 0.85, 0.85, -0.85, 0.85],
        diamond: [0, -1.2, 1, 0, 0, 1.2, -1, 0],
        triangle: [0, -1.15, 1, 0.85, -1, 0.85],
        hexagon: [],
        ship: [0, -1.6, 0.75, -0.3, 0.75, 1.1, -0.75, 1.1, -0.75, -0.3]  /* a hull along the course */
    };
    for (var k = 0; k < 6; k++) {
        SHAPES.hexagon.push(1.1 * Math.cos(k * TAU / 6), 1.1 * Math.sin(k * TAU / 6));
    }

    /* Marker outline (circle, square, diamond, triangle, hexagon, ship), with corners at radius r
     * around (x, y); angle in degrees clockwise from north. */
    function trace(ctx, shape, x, y, r, angle) {
        var pts = SHAPES[shape];
        if (!pts) {
            ctx.moveTo(x + r, y);
            ctx.arc(x, y, r, 0, TAU, false);
            return;
        }
        var a = (angle || 0) * Math.PI / 180, c = Math.cos(a) * r, s = Math.sin(a) * r;
        for (var i = 0; i < pts.length; i += 2) {
            var px = x + pts[i] * c - pts[i + 1] * s, py = y + pts[i] * s + pts[i + 1] * c;
            if (i === 0) { ctx.moveTo(px, py); } else { ctx.lineTo(px, py); }
        }
        ctx.closePath();
    }

    root.ecocommandShapes = {trace: trace};
}(self));
