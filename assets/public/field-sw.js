// The field app's service worker: keeps the page and its files so the app opens with no
// signal at all, its map included (Leaflet and the basemap). Network first (a new version is
// used as soon as it can be fetched), the kept copy when the network fails. Only the app's own files: the API and the stream pass by, and
// the page queues what it could not send (field.js).
"use strict";
var CACHE = "ecocommand-field-v2";
// kept by path: the pages ask for Leaflet's files with ?v=<version> (dashboard/phone_map.py)
var SHELL = [
  "/field", "/field/field.js", "/field/field-map.js", "/field/field.css",
  "/field/manifest.webmanifest", "/field/icon.svg",
  "/public/map/phone-map.js", "/public/map/basemap.json",
  "/public/vendor/leaflet/leaflet.js", "/public/vendor/leaflet/leaflet.css",
  "/public/vendor/leaflet/images/marker-icon.png", "/public/vendor/leaflet/images/marker-icon-2x.png",
  "/public/vendor/leaflet/images/marker-shadow.png"
];

self.addEventListener("install", function (e) {
  e.waitUntil(caches.open(CACHE).then(function (c) { return c.addAll(SHELL); }).then(function () {
    return self.skipWaiting();
  }));
});

self.addEventListener("activate", function (e) {
  e.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (n) { return n !== CACHE; }).map(function (n) {
      return caches.delete(n);
    }));
  }).then(function () { return self.clients.claim(); }));
});

self.addEventListener("fetch", function (e) {
  var url = new URL(e.request.url);
  if (e.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (SHELL.indexOf(url.pathname) < 0) return;
  e.respondWith(fetch(e.request).then(function (resp) {
    if (resp.ok && !resp.redirected) {
      var copy = resp.clone();
      caches.open(CACHE).then(function (c) { c.put(url.pathname, copy); });
    }
    return resp;
  }).catch(function () {
    return caches.match(url.pathname);
  }));
});
