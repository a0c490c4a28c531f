/* The wall screen's clock (layouts/map.py Ids.CLOCK): the local time of the district, whatever
 * the screen's own time zone, ticking once a second. Hidden on other pages (map.css). */
(function () {
    var formats = {};
    function format(tz) {
        if (!formats[tz]) {
            formats[tz] = new Intl.DateTimeFormat("en-GB", {
                timeZone: tz, month: "2-digit", day: "2-digit",
                hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false
            });
        }
        return formats[tz];
    }
    function tick() {
        var clocks = document.querySelectorAll(".ec-wall .ec-clock");
        for (var i = 0; i < clocks.length; i++) {
            var tz = clocks[i].getAttribute("data-tz") || "Asia/Shanghai";
            var p = {};
            format(tz).formatToParts(new Date()).forEach(function (x) { p[x.type] = x.value; });
            clocks[i].textContent = p.month + "-" + p.day + " " + p.hour + ":" + p.minute + ":" + p.second;
        }
    }
    setInterval(tick, 1000);
}());
