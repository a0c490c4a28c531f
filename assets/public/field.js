// The officer's field app (/field). Everything the officer does goes into one queue kept in
// IndexedDB and is sent in order, each action once (its idempotency key travels with it): with
// a signal the queue empties at once; without one (at sea, in a valley) it waits, survives a
// reload, and is sent when the connection returns. Each action keeps the time it was taken as
// the device's claim (`ts`); the server judges it against the unit's track.
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var LABELS = JSON.parse($("field-labels").textContent);
  var UNIT = $("field-unit").textContent.trim();
  var SEND_EVERY_MS = 10000;  // a position at most this often while on duty ...
  var MOVED_M = 25;           // ... or as soon as the officer moved this far
  var RETRY_MS = 5000;        // how often a waiting queue is tried again
  var MAX_POSITIONS = 2000;   // queued offline: about 5 hours at one every 10 s
  var db = null, flushing = false, onDuty = localStorage.getItem("field.duty") === "1";
  var watchId = null, lastSent = null, lastFix = null, task = null, lastTaskId = null;
  var withdrawn = "", leftKind = "withdrawn";  // how the last task left, on the card until the next change
  var done = JSON.parse(localStorage.getItem("field.done") || "{}");  // incident -> last action
  var noop = function () {};
  var fieldMap = window.ecocommandFieldMap || { task: noop, me: noop, finding: noop };  // field-map.js

  function say(text, isError) {
    var el = $("field-status");
    el.textContent = text;
    el.className = isError ? "error" : "done";
  }
  function key() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var a = new Uint8Array(16);
    crypto.getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  function nextSeq() {  // per phone, never repeats: with ts, a position's identity
    var s = Number(localStorage.getItem("field.seq") || 0) + 1;
    localStorage.setItem("field.seq", String(s));
    return s;
  }
  function csrf() {
    var m = document.cookie.match(/(?:^|; )_csrf_token=([^;]*)/);
    return m ? decodeURIComponent(m[1]) : "";
  }

  // --- the queue ------------------------------------------------------------------------
  function open() {
    return new Promise(function (resolve, reject) {
      var req = indexedDB.open("ecocommand-field-" + UNIT, 1);
      req.onupgradeneeded = function () {
        req.result.createObjectStore("actions", { keyPath: "n", autoIncrement: true });
      };
      req.onsuccess = function () { resolve(req.result); };
      req.onerror = function () { reject(req.error); };
    });
  }
  function tx(mode, fn) {  // waits for the database: the stream may bring work before it opens
    return dbReady.then(function () {
      return new Promise(function (resolve, reject) {
        var t = db.transaction("actions", mode), out = fn(t.objectStore("actions"));
        t.oncomplete = function () { resolve(out && out.result); };
        t.onerror = function () { reject(t.error); };
      });
    });
  }
  var dbReady = open().then(function (d) { db = d; });
  function queued() { return tx("readonly", function (s) { return s.getAll(); }); }
  function showQueue() {
    return tx("readonly", function (s) { return s.count(); }).then(function (n) {
      $("field-queue").textContent = "待发送 " + n + " · Waiting to send " + n;
    });
  }
  function enqueue(action) {
    action.key = key();
    return tx("readwrite", function (s) { return s.add(action); }).then(function () {
      return trimPositions();
    }).then(flush);
  }
  function trimPositions() {
    return queued().then(function (all) {
      var positions = all.filter(function (a) { return a.kind === "position"; });
      var extra = positions.slice(0, Math.max(0, positions.length - MAX_POSITIONS));
      if (!extra.length) return null;
      return tx("readwrite", function (s) { extra.forEach(function (a) { s.delete(a.n); }); });
    });
  }

  function request(a) {
    var headers = { "Idempotency-Key": a.key, "X-CSRFToken": csrf() };
    if (a.kind === "evidence" || a.kind === "finding") {  // a form with its photos
      var form = new FormData();
      Object.keys(a.fields).forEach(function (k) { form.append(k, a.fields[k]); });
      a.photos.forEach(function (p) { form.append("photo", p.blob, p.name); });
      return fetch("/api/v1/field/" + a.kind, { method: "POST", headers: headers, body: form,
                                                credentials: "same-origin" });
    }
    headers["Content-Type"] = "application/json";
    return fetch("/api/v1/field/" + a.kind, { method: "POST", headers: headers,
                                               body: JSON.stringify(a.body), credentials: "same-origin" });
  }

  // Sends the queue in order. A network failure or a server error stops it (tried again
  // later: the server took the action once, whatever it answered, because of the key); a
  // refusal (4xx) is shown and the action dropped, since sending it again cannot change it.
  function flush() {
    if (flushing || !db) return db ? showQueue() : null;
    flushing = true;
    return queued().then(function step(all) {
      if (!all.length) return null;
      var a = all[0];
      return request(a).then(function (resp) {
        if (resp.status === 401) {
          say("请重新登录后继续发送 · Sign in again to send the rest", true);
          return null;
        }
        if (resp.status >= 500 || resp.status === 429) return null;
        var drop = tx("readwrite", function (s) { return s.delete(a.n); });
        if (!resp.ok) {
          return resp.json().catch(function () { return {}; }).then(function (b) {
            say("未被接受 · Refused: " + (b.error || resp.status), true);
            return drop;
          }).then(function () { return step(all.slice(1)); });
        }
        return drop.then(function () { return step(all.slice(1)); });
      });
    }).catch(function () {
      return null;  // offline: the queue waits
    }).then(function () {
      flushing = false;
      return showQueue();
    });
  }

  // --- connection -----------------------------------------------------------------------
  function network() {
    var on = navigator.onLine;
    $("field-net").textContent = on ? "在线 · Online" : "离线 · Offline";
    $("field-net").className = on ? "" : "offline";
    return on ? flush() : showQueue();  // offline: what is waiting still shows
  }

  // --- duty and position ----------------------------------------------------------------
  function distance(a, b) {
    var r = 6371000, rad = Math.PI / 180;
    var x = (b.lon - a.lon) * rad * Math.cos((a.lat + b.lat) * rad / 2), y = (b.lat - a.lat) * rad;
    return Math.sqrt(x * x + y * y) * r;
  }
  var POINTS = [["北", "N"], ["东北", "NE"], ["东", "E"], ["东南", "SE"], ["南", "S"], ["西南", "SW"],
                ["西", "W"], ["西北", "NW"]];
  function direction(a, b) {  // the compass point from a to b, as one reads it walking
    var x = (b.lon - a.lon) * Math.cos((a.lat + b.lat) * Math.PI / 360), y = b.lat - a.lat;
    var deg = (Math.atan2(x, y) * 180 / Math.PI + 360) % 360, p = POINTS[Math.round(deg / 45) % 8];
    return "方向 " + p[0] + " " + p[1];
  }
  function onPosition(p) {
    var here = { lat: p.coords.latitude, lon: p.coords.longitude };
    var moved = !lastFix || distance(lastFix, here) > 10;
    lastFix = here;
    fieldMap.me(here.lat, here.lon, p.coords.accuracy);
    if (moved && task) renderTask();  // the distance and direction to the task
    $("field-where").textContent = here.lat.toFixed(5) + ", " + here.lon.toFixed(5) +
      (p.coords.accuracy ? " (±" + Math.round(p.coords.accuracy) + " m)" : "");
    if (!onDuty) return;
    var now = Date.now();
    if (lastSent && now - lastSent.at < SEND_EVERY_MS && distance(lastSent, here) < MOVED_M) return;
    lastSent = { lat: here.lat, lon: here.lon, at: now };
    var body = { unit_id: UNIT, seq: nextSeq(), ts: now, lat: here.lat, lon: here.lon };
    if (p.coords.accuracy != null) body.accuracy_m = Math.min(p.coords.accuracy, 100000);
    if (p.coords.speed != null && p.coords.speed >= 0) body.speed_kmh = Math.min(p.coords.speed * 3.6, 400);
    if (p.coords.heading != null && p.coords.heading >= 0) body.course = p.coords.heading % 360;
    enqueue({ kind: "position", body: body });
  }
  function onPositionError(e) {
    say("无法定位 · No position: " + e.message, true);
  }
  function locate() {
    if (!navigator.geolocation) return say("此设备不能定位 · This device has no location", true);
    if (watchId === null) {
      watchId = navigator.geolocation.watchPosition(onPosition, onPositionError,
        { enableHighAccuracy: true, maximumAge: 5000, timeout: 30000 });
    }
  }
  function duty(on) {
    onDuty = on;
    localStorage.setItem("field.duty", on ? "1" : "0");
    $("field-duty").textContent = on ? "上班 · On duty" : "下班 · Off duty";
    $("field-on").disabled = on;
    $("field-off").disabled = !on;
  }
  function setDuty(on) {
    duty(on);
    if (on) localStorage.setItem("field.dutySince", String(Date.now()));
    lastSent = null;
    enqueue({ kind: "status", body: { unit_id: UNIT, ts: Date.now(), status: on ? "available" : "off_duty" } });
    if (on) locate();
  }
  // the watch keeps running off duty too (the page shows where the officer is); while on
  // duty, a quiet watch is asked again so a phone standing still still reports
  setInterval(function () {
    if (onDuty && navigator.geolocation) {
      navigator.geolocation.getCurrentPosition(onPosition, onPositionError,
        { enableHighAccuracy: true, maximumAge: 0, timeout: 30000 });
    }
  }, SEND_EVERY_MS);

  // --- the task -------------------------------------------------------------------------
  var NEXT = { assigned: "ack", en_route: "arrived", on_scene: "handled" };
  var ORDER = ["ack", "arrived", "handled"];
  function when(ms) {  // the bureau's time (Shenzhen), whatever zone the phone is set to
    if (!ms) return "";
    return new Date(ms).toLocaleTimeString("zh-CN", { timeZone: "Asia/Shanghai", hour: "2-digit",
                                                      minute: "2-digit", hour12: false });
  }
  function alertOfficer() {
    if (navigator.vibrate) navigator.vibrate([300, 150, 300]);
    try {
      var ctx = new (window.AudioContext || window.webkitAudioContext)(), o = ctx.createOscillator();
      o.frequency.value = 880;
      o.connect(ctx.destination);
      o.start();
      o.stop(ctx.currentTime + 0.4);
    } catch (e) { /* no sound before the officer touched the page: vibration only */ }
  }
  /* The task went without this phone's own "handled". Sent elsewhere (a new task), or the
     case rejected or transferred: said aloud, as a new task is, and kept on the card, or the
     officer drives on to a task that is no more. Done by a colleague (the server says so):
     said on the card only. */
  function taskLeft(was, now) {
    var at = when(Date.now());
    function withdraw() {
      leftKind = "withdrawn";
      withdrawn = "任务 " + was + " 已撤销 " + at + " · Task " + was + " withdrawn" +
        (now ? "，改派 " + now.incident_id + " · now " + now.incident_id : "");
      alertOfficer();
      renderTask();
    }
    if (now) return withdraw();
    fetch("/api/v1/field/ended/" + encodeURIComponent(was), { credentials: "same-origin" })
      .then(function (resp) { return resp.ok ? resp.json() : null; })
      .then(function (how) {
        if (lastTaskId) return;  // a new task came meanwhile: its own alert says enough
        if (!how || !how.done) return withdraw();
        leftKind = "task-done";
        withdrawn = "任务 " + was + " 已处置完毕 " + at + " · Task " + was + " handled";
        renderTask();
      })
      .catch(withdraw);  // no signal: the officer is told it went, to ask the centre why
  }
  function renderTask() {
    var body = $("field-task-body"), nav = $("field-task-nav");
    var buttons = { ack: $("field-ack"), arrived: $("field-arrived"), handled: $("field-handled") };
    Object.keys(buttons).forEach(function (k) { buttons[k].disabled = true; });
    nav.textContent = "";
    fieldMap.task(task);
    var note = document.createElement("div");
    note.className = leftKind;
    note.textContent = withdrawn;
    if (!task) {
      body.textContent = "暂无任务 · No task";
      if (withdrawn) body.appendChild(note);
      $("field-task").className = "card";
      return;
    }
    var lines = [
      task.incident_id + " · " + (LABELS.types[task.type] || task.type),
      "优先级 Priority " + task.priority + " · " + (LABELS.states[task.state] || task.state),
      task.arrive_by_ms ? "到达时限 Arrive by " + when(task.arrive_by_ms) : "",
      task.description || ""
    ];
    body.textContent = "";
    lines.filter(Boolean).forEach(function (l, i) {
      var p = document.createElement("div");
      if (!i) p.className = "big";
      p.textContent = l;
      body.appendChild(p);
    });
    if (withdrawn) body.appendChild(note);
    $("field-task").className = Number(task.priority) <= 1 ? "card urgent" : "card";
    if (task.lat != null && task.lon != null) {
      var a = document.createElement("a");
      a.href = "geo:" + task.lat + "," + task.lon + "?q=" + task.lat + "," + task.lon;
      a.textContent = "导航 · Navigate (" + Number(task.lat).toFixed(5) + ", " + Number(task.lon).toFixed(5) + ")";
      nav.appendChild(a);
      if (lastFix) {
        var to = { lat: Number(task.lat), lon: Number(task.lon) }, d = distance(lastFix, to);
        var way = document.createElement("div");
        way.textContent = "距离 " + (d < 1000 ? Math.round(d) + " m" : (d / 1000).toFixed(1) + " km") +
          " · " + direction(lastFix, to);
        nav.appendChild(way);
      }
    }
    // the next step: the server's state, or further along if this phone already queued it
    var step = NEXT[task.state], mine = done[task.incident_id];
    if (mine && step && ORDER.indexOf(mine) >= ORDER.indexOf(step)) step = ORDER[ORDER.indexOf(mine) + 1];
    if (step) buttons[step].disabled = false;
  }
  function report(action) {
    if (!task) return;
    var note = $("field-note").value.trim().slice(0, 500), files = $("field-photo").files;
    var at = Date.now(), id = task.incident_id;
    done[id] = action;
    localStorage.setItem("field.done", JSON.stringify(done));
    var steps = [{ kind: "task", body: { unit_id: UNIT, incident_id: id, action: action, seq: nextSeq(), ts: at, note: note } }];
    if (files && files.length) {
      var photos = photosOf($("field-photo"));
      steps.push({ kind: "evidence", fields: { incident_id: id, caption: note }, photos: photos });
    }
    $("field-note").value = "";
    $("field-photo").value = "";
    renderTask();
    steps.reduce(function (p, s) { return p.then(function () { return enqueue(s); }); }, Promise.resolve())
      .then(function () { say("已记录 · Recorded " + when(at)); });
  }

  function photosOf(input) {
    return Array.prototype.slice.call(input.files || [], 0, 3).map(function (f) {
      return { blob: f, name: f.name };
    });
  }
  // a finding on patrol: a new incident where the officer stands, with its photos
  function reportFinding() {
    if (!navigator.geolocation) return say("此设备不能定位 · This device has no location", true);
    var button = $("field-finding-send");
    button.disabled = true;
    navigator.geolocation.getCurrentPosition(function (p) {
      var fields = { type: $("field-finding-type").value, lat: p.coords.latitude,
                     lon: p.coords.longitude, description: $("field-finding-text").value.trim() };
      var photos = photosOf($("field-finding-photo"));
      fieldMap.finding(fields.lat, fields.lon, LABELS.types[fields.type] || fields.type);
      $("field-finding-text").value = "";
      $("field-finding-photo").value = "";
      button.disabled = false;
      enqueue({ kind: "finding", fields: fields, photos: photos }).then(function () {
        say("已上报 · Reported " + when(Date.now()));
      });
    }, function (e) {
      button.disabled = false;
      onPositionError(e);
    }, { enableHighAccuracy: true, maximumAge: 30000, timeout: 30000 });
  }

  // --- messages -------------------------------------------------------------------------
  var shownMessages = {};  // this page load's: the ids it has sent a "read" for
  function renderMessages(list) {
    var ol = $("field-thread"), unread = [], fresh = false;
    ol.textContent = "";
    (list || []).forEach(function (m) {
      var li = document.createElement("li"), mine = m.dir === "from_unit";
      li.className = mine ? "mine" : (m.read_ms ? "" : "unread");
      var who = document.createElement("span");
      who.className = "when";
      who.textContent = when(m.at_ms) + " " + (mine ? "我 · Me" : "指挥中心 · Centre") + ": ";
      li.appendChild(who);
      li.appendChild(document.createTextNode(m.text));  // text, never markup
      ol.appendChild(li);
      if (!mine && !m.read_ms && !shownMessages[m.id]) {  // new here: shown, marked read once
        unread.push(m.id);
        fresh = true;
        shownMessages[m.id] = true;
      }
    });
    ol.scrollTop = ol.scrollHeight;
    if (fresh) alertOfficer();
    if (unread.length) enqueue({ kind: "read", body: { ids: unread } });
  }
  function sendReply() {
    var text = $("field-reply-text").value.trim().slice(0, 500);
    if (!text) return;
    $("field-reply-text").value = "";
    enqueue({ kind: "reply", body: { text: text } }).then(function () {
      say("已发送 · Sent " + when(Date.now()));
    });
  }

  // --- patrol: my places, and the log checked against my track ------------------------
  var BEAT_EVERY_MS = 60000;
  function dayTime(ms) {
    return new Date(ms).toLocaleString("zh-CN", { timeZone: "Asia/Shanghai", month: "2-digit",
      day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false });
  }
  function renderBeat(b) {
    var ul = $("field-places"), ol = $("field-logs");
    ul.textContent = "";
    if (!b.places.length) {
      var none = document.createElement("li");
      none.textContent = "暂无负责的地块 · No places are yours yet";
      ul.appendChild(none);
    }
    b.places.forEach(function (p) {
      var li = document.createElement("li"), label = document.createElement("label");
      var box = document.createElement("input"), text = document.createElement("span");
      box.type = "checkbox";
      box.value = p.place_id;
      box.checked = p.overdue;
      text.className = p.overdue ? "overdue" : "";
      text.textContent = p.label + " · " + (p.last_visit_ms ? "上次 last " + dayTime(p.last_visit_ms) : "未巡 never") +
        " · " + (p.overdue ? "待巡 due now" : "应于 due " + dayTime(p.due_ms));
      label.appendChild(box);
      label.appendChild(text);
      li.appendChild(label);
      ul.appendChild(li);
    });
    ol.textContent = "";
    b.logs.forEach(function (log) {
      var li = document.createElement("li");
      li.className = log.flagged ? "unread" : "";
      li.textContent = dayTime(log.from_ms) + "–" + when(log.to_ms) + " · " + log.checks.length + " 处 places · " +
        (log.flagged ? log.flagged + " 处与轨迹不符 not on the track" : "与轨迹相符 on the track");
      ol.appendChild(li);
    });
  }
  function loadBeat() {
    return fetch("/api/v1/field/beat", { credentials: "same-origin" }).then(function (resp) {
      return resp.ok ? resp.json().then(renderBeat) : null;
    }).catch(function () { return null; });  // offline: the last one shown stays
  }
  function sendPatrolLog() {
    var places = Array.prototype.filter.call($("field-places").querySelectorAll("input"), function (b) {
      return b.checked;
    }).map(function (b) { return b.value; });
    if (!places.length) return say("请勾选巡查的地块 · Tick the places you patrolled", true);
    var now = Date.now(), since = Number(localStorage.getItem("field.dutySince") || 0);
    var from = Math.max(since || now - 4 * 3600000, now - 7 * 86400000 + 60000);
    enqueue({ kind: "patrol-log", body: { unit_id: UNIT, ts: now, from_ms: from, to_ms: now, places: places } })
      .then(function () {
        say("巡查记录已提交 · Patrol log sent");
        setTimeout(loadBeat, 3000);
      });
  }
  setInterval(loadBeat, BEAT_EVERY_MS);

  function listen() {
    var es = new EventSource("/_stream/field");
    es.addEventListener("task", function (e) {
      var me = JSON.parse(e.data);
      renderMessages(me.messages);
      var was = lastTaskId;
      task = me.task;
      lastTaskId = task ? task.incident_id : null;
      if (lastTaskId !== was) withdrawn = "";
      if (was && lastTaskId !== was && done[was] !== "handled") {
        taskLeft(was, task);
      } else if (task && lastTaskId !== was && task.state === "assigned") {
        alertOfficer();
      }
      renderTask();
    });
    es.addEventListener("bye", function () {
      es.close();
      say("已退出登录 · Signed out: sign in again", true);
    });
  }

  // --- start ----------------------------------------------------------------------------
  $("field-on").addEventListener("click", function () { setDuty(true); });
  $("field-finding-send").addEventListener("click", reportFinding);
  $("field-reply-send").addEventListener("click", sendReply);
  $("field-log-send").addEventListener("click", sendPatrolLog);
  $("field-off").addEventListener("click", function () { setDuty(false); });
  ORDER.forEach(function (action) {
    $("field-" + action).addEventListener("click", function () { report(action); });
  });
  window.addEventListener("online", network);
  window.addEventListener("offline", network);
  setInterval(flush, RETRY_MS);
  duty(onDuty);
  if (onDuty) locate();
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/field/sw.js", { scope: "/field" }).catch(function () {});
  }
  dbReady.then(network).catch(function () {
    say("此浏览器不能离线保存 · This browser cannot keep actions offline", true);
  });
  listen();
  loadBeat();
})();
