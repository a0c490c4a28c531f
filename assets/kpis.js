/* KPI page (/kpis): the "Report" button prints the page as a dated report. A committed 'self'
 * script (the CSP allows no inline script), listening on the document because Dash renders the
 * button after this file loads. Before printing, the page takes the paper's width for a moment
 * (`.ec-kpi-printing`, assets/kpis.css) so that plotly redraws every chart to fit the page rather
 * than being cut off at its edge; afterwards it takes the screen's width again. */
(function () {
    var PRINT_DELAY_MS = 1000;  /* time for the charts to redraw at the narrower width */

    function done() {
        document.body.classList.remove("ec-kpi-printing");
        window.removeEventListener("afterprint", done);
    }

    document.addEventListener("click", function (event) {
        var button = event.target.closest && event.target.closest("#kpi-report");
        if (!button) {
            return;
        }
        document.body.classList.add("ec-kpi-printing");
        window.setTimeout(function () {
            window.addEventListener("afterprint", done);
            window.print();
        }, PRINT_DELAY_MS);
    });
}());
