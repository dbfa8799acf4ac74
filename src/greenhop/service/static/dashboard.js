// The greenhop dashboard: reads /api/v1, draws /api/v1/figures/* with Plotly, refreshes on
// every server-sent event (and by polling, as a fallback), and sends operator actions
// with the bearer token. Everything comes from this server; nothing from outside.
(function () {
  "use strict";

  var API = "/api/v1";
  var PLOT_CONFIG = {responsive: true, displaylogo: false};
  // every kind of event a run logs (greenhop.runtime.store.EVENT_KINDS; a test keeps
  // them the same): the stream names each, and a listener hears only the names it gave
  var KINDS = [
    "run-start", "run-resume", "run-done", "run-stopped", "run-failed", "recover",
    "power", "decision", "booked", "place", "migrate", "suspend", "resume", "scale",
    "phase", "done", "job-failed", "trainer-start", "trainer-failed", "transfer-failed",
    "restore-failed", "checkpoint-corrupt", "checkpoint-fallback", "foreign-checkpoint",
    "agent-restart", "operator-request", "operator", "grid-event-request", "grid-event"];
  var POLL_MS = 3000;
  var FIGURE_MS = 2000;  // figures (the larger reads) at most this often; tables every event
  var lastFigures = 0;
  var lastRead = 0;  // when every view last answered [ms since the epoch]
  var unreachableSince = null;  // when reads began to fail; null while they answer
  var figureTimer = null;
  var lastEventId = 0;
  var busy = false;
  var again = false;
  var stream = null;

  function $(id) { return document.getElementById(id); }

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    if (cls) { e.className = cls; }
    return e;
  }

  function kw(w) { return (w === null || w === undefined) ? "–" : (w / 1e3).toFixed(2); }

  function bytes(b) {
    if (b === null || b === undefined) { return "–"; }
    var units = ["B", "kB", "MB", "GB", "TB"];
    var i = 0;
    while (b >= 1000 && i < units.length - 1) { b /= 1000; i += 1; }
    return b.toFixed(b < 10 && i > 0 ? 2 : 0) + " " + units[i];
  }

  function duration(s) {
    if (s === null || s === undefined) { return "–"; }
    if (s < 90) { return Math.round(s) + " s"; }
    if (s < 5400) { return Math.round(s / 60) + " min"; }
    return (s / 3600).toFixed(1) + " h";
  }

  function getJSON(path) {
    return fetch(path, {headers: {"Accept": "application/json"}}).then(function (r) {
      if (!r.ok) { throw new Error(path + ": HTTP " + r.status); }
      return r.json();
    });
  }

  function fill(tbody, rows) {
    tbody.replaceChildren.apply(tbody, rows);
  }

  // ------------------------------------------------------------------ tables

  function renderRun(run) {
    $("run-name").textContent = run.scenario ? String(run.scenario).split("/").pop()
      : "(starting)";
    $("run-policy").textContent = run.policy || "–";
    $("run-status").textContent = run.status || "–";
    $("run-step").textContent = run.n_steps ? run.step + " / " + run.n_steps : String(run.step);
    if (run.start_unix_s !== null && run.step_s) {
      var t = new Date((run.start_unix_s + run.step * run.step_s) * 1000);
      $("run-time").textContent = t.toISOString().replace("T", " ").slice(0, 16) + " UTC";
    }
    $("run-paused").hidden = !run.paused;
  }

  function actionButton(label, action, target, kind) {
    var b = el("button", label);
    b.type = "button";
    b.setAttribute("data-action", action);
    b.setAttribute("data-" + kind, target);
    b.addEventListener("click", function () { act(action, kind, target); });
    return b;
  }

  function renderSites(sites) {
    fill($("sites").tBodies[0], sites.map(function (s) {
      var tr = el("tr");
      tr.setAttribute("data-site", s.name);
      if (s.drained) { tr.className = "drained"; }
      var fc = s.forecast_window_s;
      var fcText = fc ? [fc["0.1"], fc["0.5"], fc["0.9"]].map(duration).join(" / ") : "–";
      [s.name].forEach(function (v) { tr.appendChild(el("td", v)); });
      tr.appendChild(el("td", kw(s.renewable_w), "num"));
      tr.appendChild(el("td", kw(s.surplus_w), "num"));
      tr.appendChild(el("td", s.in_window ? "open" : "closed"));
      tr.appendChild(el("td", fcText));
      var jobs = el("td", (s.jobs || []).join(", ") || "–");
      jobs.className = "jobs";
      tr.appendChild(jobs);
      tr.appendChild(el("td", s.drained ? "drained" : "open"));
      var td = el("td");
      td.appendChild(actionButton("Drain", "drain", s.name, "site"));
      td.appendChild(actionButton("Undrain", "undrain", s.name, "site"));
      tr.appendChild(td);
      return tr;
    }));
  }

  function renderJobs(jobs) {
    fill($("jobs").tBodies[0], jobs.map(function (j) {
      var tr = el("tr");
      tr.setAttribute("data-job", j.name);
      tr.appendChild(el("td", j.name));
      tr.appendChild(el("td", j.phase));
      tr.appendChild(el("td", j.dest ? (j.site || "–") + " → " + j.dest : (j.site || "–")));
      var td = el("td");
      // the run's books decide when a job finishes; the trainer's steps until they load
      var done = (j.work_done !== null && j.work_done !== undefined) ? j.work_done
        : (j.progress || 0);
      var bar = el("progress");
      bar.max = 1;
      bar.value = done;
      td.appendChild(bar);
      td.appendChild(el("span", " " + Math.round(100 * done) + " %"));
      tr.appendChild(td);
      tr.appendChild(el("td", j.pinned ? "pinned" : ""));
      var actions = el("td");
      actions.appendChild(actionButton("Pin", "pin", j.name, "job"));
      actions.appendChild(actionButton("Unpin", "unpin", j.name, "job"));
      tr.appendChild(actions);
      return tr;
    }));
  }

  function renderMigrations(migs) {
    var inflight = migs.filter(function (m) { return !m.finished; });
    var done = migs.filter(function (m) { return m.finished; }).slice(-10).reverse();
    fill($("migrations-inflight").tBodies[0], inflight.map(function (m) {
      var tr = el("tr");
      tr.setAttribute("data-job", m.job);
      tr.appendChild(el("td", m.job));
      tr.appendChild(el("td", m.src + " → " + m.dst));
      tr.appendChild(el("td", m.phase));
      tr.appendChild(el("td", bytes(m.bytes_moved) + " of " + bytes(m.bytes_total), "num"));
      var td = el("td");
      var bar = el("progress");
      bar.max = m.bytes_total || 1;
      bar.value = Math.min(m.bytes_moved || 0, bar.max);
      td.appendChild(bar);
      tr.appendChild(td);
      tr.appendChild(el("td", duration(m.eta_s), "num"));
      tr.appendChild(el("td", m.by || "policy"));
      return tr;
    }));
    $("migrations-none").hidden = inflight.length > 0;
    fill($("migrations-done").tBodies[0], done.map(function (m) {
      var tr = el("tr");
      tr.setAttribute("data-job", m.job);
      tr.appendChild(el("td", m.job));
      tr.appendChild(el("td", m.src + " → " + m.dst));
      tr.appendChild(el("td", bytes(m.bytes_moved), "num"));
      tr.appendChild(el("td", m.by || "policy"));
      return tr;
    }));
  }

  function appendEvents(events) {
    var tbody = $("events").tBodies[0];
    events.forEach(function (e) {
      var tr = el("tr");
      tr.setAttribute("data-event", e.id);
      tr.appendChild(el("td", e.id, "num"));
      tr.appendChild(el("td", e.step, "num"));
      tr.appendChild(el("td", e.kind));
      tr.appendChild(el("td", e.job || ""));
      var data = el("td", JSON.stringify(e.data));
      data.title = JSON.stringify(e.data);
      tr.appendChild(data);
      tbody.insertBefore(tr, tbody.firstChild);
      lastEventId = Math.max(lastEventId, e.id);
    });
    while (tbody.rows.length > 300) { tbody.deleteRow(tbody.rows.length - 1); }
  }

  function loadEvents() {
    return getJSON(API + "/events?after=" + lastEventId + "&limit=500").then(function (evs) {
      appendEvents(evs);
      if (evs.length === 500) { return loadEvents(); }
      return null;
    });
  }

  function drawFigure(name, id) {
    return getJSON(API + "/figures/" + name).then(function (fig) {
      return Plotly.react(id, fig.data, fig.layout, PLOT_CONFIG);
    });
  }

  // ------------------------------------------------------------------ refresh

  function refresh() {
    if (busy) { again = true; return Promise.resolve(); }
    busy = true;
    var reads = [
      getJSON(API + "/run").then(renderRun),
      getJSON(API + "/sites").then(renderSites),
      getJSON(API + "/jobs").then(renderJobs),
      getJSON(API + "/migrations").then(renderMigrations),
      loadEvents(),
    ];
    var wait = FIGURE_MS - (Date.now() - lastFigures);
    if (wait <= 0) {
      lastFigures = Date.now();
      reads.push(drawFigure("timeline", "fig-timeline"),
                 drawFigure("placement", "fig-placement"),
                 drawFigure("feasibility", "fig-feasibility"));
    } else if (figureTimer === null) {  // draw them once the interval has passed
      figureTimer = window.setTimeout(function () { figureTimer = null; refresh(); }, wait);
    }
    var work = Promise.all(reads);
    return work.then(function () {
      lastRead = Date.now();
      if (unreachableSince !== null) {  // back: say how the page follows the run again
        unreachableSince = null;
        $("run-status").classList.remove("stale");
        setLive(stream && stream.readyState === 1 ? "live (server-sent events)"
          : "reconnecting… (polling meanwhile)", stream && stream.readyState === 1 ? "ok"
          : "warn");
      }
    }, function (err) {
      // every read failed or one did: the tables keep the last answers, so say how old
      // they are (the run's status shown is then not the run's status now)
      if (unreachableSince === null) { unreachableSince = Date.now(); }
      $("run-status").classList.add("stale");
      var what = /HTTP \d/.test(err.message) ? "reads failing" : "server unreachable";
      setLive(what + " since " + clock(unreachableSince) + " (" + err.message +
              "); showing the run as read at " + (lastRead ? clock(lastRead) : "–") +
              "; retrying every " + POLL_MS / 1000 + " s", "bad");
    }).then(function () {
      busy = false;
      document.body.setAttribute("data-refreshed", String(Date.now()));
      if (again) { again = false; return refresh(); }
      return null;
    });
  }

  function clock(ms) {
    return new Date(ms).toTimeString().slice(0, 8);
  }

  function setLive(text, cls) {
    var s = $("live-status");
    s.textContent = text;
    s.className = "badge " + (cls || "");
  }

  function listen() {
    if (!window.EventSource) { setLive("polling", "warn"); return; }
    stream = new EventSource(API + "/events/stream?after=" + lastEventId);
    var kick = function () { refresh(); };
    stream.onopen = function () { setLive("live (server-sent events)", "ok"); };
    stream.onmessage = kick;
    KINDS.forEach(function (k) { stream.addEventListener(k, kick); });
    stream.onerror = function () {
      // the poll's verdict stands while the server does not answer it either
      if (unreachableSince === null) { setLive("reconnecting… (polling meanwhile)", "warn"); }
    };
  }

  // ------------------------------------------------------------------ operator actions

  function say(text, cls) {
    var m = $("op-message");
    m.textContent = text;
    m.className = cls;
  }

  function act(action, kind, target) {
    var token = $("token").value.trim();
    var path = kind === "site" ? "/sites/" + encodeURIComponent(target) + "/" + action
      : kind === "job" ? "/jobs/" + encodeURIComponent(target) + "/" + action
        : "/policy/" + action;
    var what = action + (target ? " " + target : "");
    var headers = {"Content-Type": "application/json"};
    if (token) { headers.Authorization = "Bearer " + token; }
    say(what + ": sending…", "");
    return fetch(API + path, {method: "POST", headers: headers, body: "{}"}).then(function (r) {
      return r.text().then(function (body) {
        var detail = body, applies = "at the start of the controller's next step";
        try {
          var doc = JSON.parse(body);
          detail = doc.detail || body;
          applies = doc.applies || applies;  // the server knows whether a controller runs
        } catch (e) { /* plain text */ }
        if (r.ok) {
          say(what + ": accepted, applied " + applies, "accepted");
          refresh();
        } else if (r.status === 401) {
          say(what + ": refused (401): " + (token ? "wrong token" : "no token given") +
              ": " + detail, "refused");
        } else if ((r.status === 404 || r.status === 405) && detail === "Not Found") {
          say(what + ": refused (" + r.status + "): this service has no operator token " +
              "configured, so it takes no actions", "refused");
        } else {
          say(what + ": refused (" + r.status + "): " + detail, "refused");
        }
      });
    }).catch(function (err) { say(what + ": failed: " + err.message, "refused"); });
  }

  function start() {
    var saved = window.sessionStorage.getItem("greenhop-token");
    if (saved) { $("token").value = saved; }
    $("token").addEventListener("change", function () {
      window.sessionStorage.setItem("greenhop-token", $("token").value.trim());
    });
    document.querySelectorAll("#operator button[data-action]").forEach(function (b) {
      b.addEventListener("click", function () {
        act(b.getAttribute("data-action"), "policy", null);
      });
    });
    refresh().then(listen);
    window.setInterval(refresh, POLL_MS);
  }

  start();
}());
