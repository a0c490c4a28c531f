/* What is down, on every page (layouts/shell.down_banner): Dash's update requests are watched;
 * a 503 means the server answers but its data store (Redis) does not, a 502/504 from a proxy or
 * a request that never got an answer means the server cannot be reached. The banner stays until
 * an update succeeds again, so it goes away by itself once the part is back. No callback can do
 * this: each needs the very parts that are down. */
(function () {
    var UPDATES = "/_dash-update-component";
    var realFetch = window.fetch;

    function say(kind) {
        var banner = document.getElementById("shell-down");
        if (!banner) {
            return;
        }
        if (kind) {
            banner.textContent = banner.getAttribute("data-" + kind) || "";
            banner.hidden = false;
        } else if (!banner.hidden) {
            banner.hidden = true;
        }
    }

    window.fetch = function (input) {
        var url = typeof input === "string" ? input : (input && input.url) || "";
        var answer = realFetch.apply(this, arguments);
        if (url.indexOf(UPDATES) < 0) {
            return answer;
        }
        return answer.then(function (response) {
            if (response.status === 503) {
                say("store");
            } else if (response.status === 502 || response.status === 504) {
                say("web");
            } else if (response.ok) {
                say(null);
            }
            return response;
        }, function (error) {
            say("web");
            throw error;
        });
    };
})();
