// The live study page: a snapshot over the WebSocket, then every event applied in seq order
// (idempotently: an epoch replaces the same epoch, counts are absolute), drawn at most once
// per animation frame. The events are the studies app's (platform_web/studies/records.py):
// study.state, study.progress, study.best, trial.started, trial.epoch, trial.<final state>.
(function () {
  "use strict";
  const root = document.getElementById("study-live");
  if (!root || !window.LiveSocket) return;

  const ACTIVE = ["queued", "running", "cancelling"];
  const STATE_LABELS = { queued: "Queued", running: "Running", completed: "Completed", cancelling: "Cancelling",
    cancelled: "Cancelled", failed: "Failed", pruned: "Pruned", diverged: "Diverged", skipped: "Skipped" };
  const CHART_INTERVAL_MS = 400;
  const $ = (id) => document.getElementById(id);
  const esc = (v) => String(v === null || v === undefined ? "" : v).replace(/[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  const F = window.Fmt; // static/js/format.js: the same rules as the server's pages
  const pct = F.percent;

  const state = {
    seq: null, study: null, progress: null, progressAt: 0, trials: new Map(), best: null,
    importance: null, importanceBasedOn: 0, importanceNeeds: 5,
    sortKey: "number", sortDir: -1, scatterParam: null, initialState: root.dataset.state, lastEventAt: Date.now(),
  };
  // A running study silent this long is asked for a fresh snapshot, which says whether it stalled.
  const QUIET_MS = 1000 * Number(root.dataset.stallSeconds || 60);
  const dirty = { header: false, table: false, curves: new Set(), allCurves: false, summary: false, importance: false, parallel: false };
  let charts = null;
  let frame = 0;
  let lastChartDraw = 0;
  let importanceTimer = 0;
  // "Parameters vs accuracy" (static/js/study_parallel.js): redrawn at most every 500 ms; its brushes filter the table.
  const PARALLEL_INTERVAL_MS = 500;
  let parallel = null;
  let lastParallelDraw = 0;
  let parallelTimer = 0;

  const fmtDuration = F.duration;

  const fmtClock = F.clock;

  // ---- applying messages -------------------------------------------------------------
  function trial(number) {
    let t = state.trials.get(number);
    if (!t) {
      t = { number, state: "running", params: {}, value: null, best_epoch: null, epochs_done: 0, epochs_planned: 0,
        train_seconds: null, started_at: null, finished_at: null, download_url: "", model_url: "", error: "",
        retry_of: null, epochs: [] };
      state.trials.set(number, t);
    }
    return t;
  }

  function touch(number) {
    dirty.table = true;
    dirty.parallel = true;
    dirty.summary = true;
    dirty.curves.add(number);
  }

  function applySnapshot(snap) {
    state.seq = snap.seq;
    state.study = snap.study;
    state.progress = snap.progress;
    state.progressAt = Date.now();
    state.trials = new Map(snap.trials.map((t) => [t.number, t]));
    const best = snap.study.best_trial;
    state.best = best ? { number: best.number, value: best.value } : null;
    state.bestChanged = best !== null; // a snapshot after a reconnect may bring a best found while away
    state.importance = snap.importance;
    state.importanceBasedOn = snap.importance_based_on;
    state.importanceNeeds = snap.importance_needs;
    Object.assign(dirty, { header: true, table: true, allCurves: true, summary: true, importance: true, parallel: true });
  }

  function applyEvent(ev) {
    if (state.seq !== null && ev.seq <= state.seq) return; // already in the snapshot or applied
    if (state.seq !== null && ev.seq !== state.seq + 1) {
      socket.send({ action: "snapshot" }); // never expected (the server fills holes): start over
      return;
    }
    state.seq = ev.seq;
    state.lastEventAt = Date.now();
    if (state.study.stall) { state.study.stall = ""; dirty.header = true; } // something ran: not stalled
    const p = ev.payload || {};
    if (ev.type === "study.state") {
      state.study.state = p.state;
      state.study.error = p.error || "";
      if (state.progress) state.progress.state = p.state;
      dirty.header = true;
    } else if (ev.type === "study.progress") {
      state.progress = p;
      state.progressAt = Date.now();
      if (p.state) state.study.state = p.state;
      dirty.header = true;
    } else if (ev.type === "study.best") {
      const old = state.best ? state.best.number : null;
      state.best = { number: p.number, value: p.value };
      state.bestChanged = true;
      dirty.allCurves = dirty.allCurves || old !== p.number;
      dirty.header = true;
      touch(p.number);
    } else if (ev.type === "trial.started") {
      Object.assign(trial(p.number), { state: "running", params: p.params || {}, epochs_planned: p.epochs_planned || 0,
        retry_of: p.retry_of === undefined ? null : p.retry_of, note: p.note || "", started_at: ev.at });
      touch(p.number);
    } else if (ev.type === "trial.epoch") {
      const t = trial(p.number);
      const row = [p.epoch, p.val_accuracy === undefined ? null : p.val_accuracy, p.val_loss === undefined ? null : p.val_loss];
      const at = t.epochs.findIndex((e) => e[0] >= p.epoch);
      if (at === -1) t.epochs.push(row);
      else if (t.epochs[at][0] === p.epoch) t.epochs[at] = row;
      else t.epochs.splice(at, 0, row);
      t.epochs_done = Math.max(t.epochs_done || 0, p.epoch);
      if (p.epochs) t.epochs_planned = p.epochs;
      touch(p.number);
    } else if (ev.type.startsWith("trial.")) {
      const t = trial(p.number);
      for (const key of ["state", "value", "best_epoch", "epochs_done", "epochs_planned", "train_seconds", "latency_ms_batch1", "error", "params", "retry_of", "note"]) {
        if (p[key] !== undefined) t[key] = p[key];
      }
      t.finished_at = ev.at;
      if (t.state === "completed" && !t.download_url) {
        t.download_url = root.dataset.downloadTemplate.replace("/999999999/", "/" + t.number + "/");
        t.model_url = root.dataset.modelTemplate.replace("/999999999/", "/" + t.number + "/");
        window.clearTimeout(importanceTimer);
        importanceTimer = window.setTimeout(() => socket.send({ action: "importance" }), 3000);
      }
      touch(p.number);
    }
  }

  function onMessage(message) {
    if (message.type === "snapshot") applySnapshot(message);
    else if (message.type === "events") message.events.forEach(applyEvent);
    else if (message.type === "importance") {
      state.importance = message.importance;
      state.importanceBasedOn = message.based_on;
      dirty.importance = true;
    }
    schedule();
  }

  // ---- drawing ------------------------------------------------------------------------
  function schedule() {
    if (!frame) frame = window.requestAnimationFrame(render);
  }

  function render() {
    frame = 0;
    if (!state.study) return;
    if (dirty.header) { renderHeader(); dirty.header = false; }
    if (dirty.table) { renderTable(); dirty.table = false; }
    if (dirty.parallel && parallel) renderParallel();
    const chartWork = dirty.allCurves || dirty.curves.size || dirty.summary || dirty.importance;
    if (chartWork && charts) {
      const wait = lastChartDraw + CHART_INTERVAL_MS - performance.now();
      if (wait > 0) { window.setTimeout(schedule, wait); return; }
      lastChartDraw = performance.now();
      renderCharts();
    }
  }

  function setText(id, text) {
    const el = $(id);
    if (el && el.textContent !== text) el.textContent = text;
  }

  function renderHeader() {
    const study = state.study;
    const p = state.progress || {};
    const badge = $("study-state");
    if (badge) { badge.textContent = STATE_LABELS[study.state] || study.state; badge.className = "badge " + study.state; }
    showStatus();
    const bar = $("progress-bar");
    if (bar && p.fraction !== undefined) bar.style.width = Math.round(p.fraction * 100) + "%";
    if (p.trials_finished !== undefined) {
      const of = study.n_trials ? " of " + study.n_trials : "";
      setText("progress-text", p.trials_finished + of + " trial" + (p.trials_finished === 1 && !of ? "" : "s") + " finished");
    }
    for (const name of ["completed", "pruned", "diverged", "failed", "running"]) {
      if (p["trials_" + name] !== undefined) setText("count-" + name, String(p["trials_" + name]));
    }
    if (p.compute_seconds !== undefined) {
      setText("compute-seconds", fmtDuration(p.compute_seconds));
    }
    const stallBox = $("study-stall");
    if (stallBox) {
      stallBox.hidden = !study.stall;
      if (study.stall) setText("study-stall-text", study.stall);
    }
    const errorBox = $("study-error");
    if (errorBox && study.error) { errorBox.hidden = false; setText("study-error-text", study.error); }
    if (state.bestChanged) { renderBestCard(); state.bestChanged = false; }
    tick();
    if (!ACTIVE.includes(study.state) && ACTIVE.includes(state.initialState)) {
      // The study stopped while the page was open: reload once so the controls (resume, re-run) match.
      state.initialState = study.state;
      window.setTimeout(() => window.location.reload(), 1500);
    }
  }

  // The socket's indicator, except that a stopped study's says "ended" (grey): nothing more comes unless it is
  // resumed. The socket stays open meanwhile, so a resume from another tab still arrives.
  const showSocketStatus = window.LiveSocket.indicator($("live-status"));
  let socketStatus = ["connecting", ""];
  function showStatus(status, detail) {
    if (status !== undefined) socketStatus = [status, detail];
    const studyState = state.study ? state.study.state : root.dataset.state;
    const indicator = $("live-status");
    if (indicator && !ACTIVE.includes(studyState) && ["connecting", "live"].includes(socketStatus[0])) {
      indicator.dataset.state = "ended";
      indicator.textContent = "ended";
      indicator.title = "The study has ended: resume it or re-run trials to continue.";
    } else {
      showSocketStatus(socketStatus[0], socketStatus[1]);
    }
  }

  // A new best trial while the page is open: redraw the server-rendered "Best trial" card from the live data.
  function renderBestCard() {
    const card = $("best-card");
    const t = state.best && state.trials.get(state.best.number);
    if (!card || !t) return;
    card.dataset.drawn = "live"; // drawn from the live data (tests tell it from the server's HTML by this)
    const link = (url, css, text, download) => (url ? '<a class="button' + css + '" href="' + esc(url) + '"' + (download ? ' id="best-download" download' : "") + ">" + text + "</a> " : "");
    card.innerHTML = "<h2>Best trial</h2>"
      + '<div class="stats"><div class="stat"><div class="value" id="best-value">' + pct(state.best.value) + "</div>"
      + '<div class="label">validation accuracy (trial #' + t.number + (t.best_epoch ? ", epoch " + t.best_epoch : "") + ")</div></div>"
      + (t.train_seconds ? '<div class="stat"><div class="value">' + fmtDuration(t.train_seconds) + '</div><div class="label">training time</div></div>' : "")
      + (t.latency_ms_batch1 ? '<div class="stat"><div class="value">' + F.milliseconds(t.latency_ms_batch1) + '</div><div class="label">inference, one image</div></div>' : "")
      + "</div>"
      + '<dl class="params-list">' + Object.entries(t.params || {}).map(([k, v]) => "<dt>" + esc(F.label(k)) + "</dt><dd>" + esc(F.value(v)) + "</dd>").join("") + "</dl>"
      + "<p>" + link(t.model_url, "", "Open the model", false) + link(t.download_url, " secondary", "Download .pth", true) + "</p>";
  }

  // Elapsed, time left and expected finish move every second between progress events.
  function tick() {
    if (!state.study || !state.progress) return;
    const p = state.progress;
    const running = state.study.state === "running";
    const since = (Date.now() - state.progressAt) / 1000;
    setText("live-elapsed", fmtDuration((p.elapsed_seconds || 0) + (running ? since : 0)));
    let left = "—";
    let finish = "—";
    if (state.study.state === "cancelling") left = "stopping…";
    else if (!ACTIVE.includes(state.study.state)) left = STATE_LABELS[state.study.state].toLowerCase();
    else if (p.eta_seconds === null || p.eta_seconds === undefined) left = "estimating…";
    else {
      const remaining = p.eta_seconds - (running ? since : 0);
      left = remaining > 0 ? fmtDuration(remaining) : "any moment now";
      finish = fmtClock(new Date(state.progressAt + p.eta_seconds * 1000));
    }
    setText("live-eta", left);
    setText("live-finish", finish);
    setText("eta-text", ACTIVE.includes(state.study.state) ? (finish === "—" ? left : left + " left · done around " + finish) : "");
  }

  const SORTS = {
    number: (t) => t.number,
    state: (t) => t.state,
    architecture: (t) => String(t.params.architecture || "") + String(t.params.input_size || "").padStart(4, "0"),
    learning_rate: (t) => t.params.learning_rate || 0,
    epochs: (t) => t.epochs_done || 0,
    value: (t) => (t.value === null || t.value === undefined ? -1 : t.value),
    duration: (t) => duration(t) || 0,
  };

  function duration(t) {
    if (t.started_at && t.finished_at) return (Date.parse(t.finished_at) - Date.parse(t.started_at)) / 1000;
    if (t.started_at && t.state === "running") return (Date.now() - Date.parse(t.started_at)) / 1000;
    return t.train_seconds;
  }

  function paramsCell(t) {
    const p = t.params || {};
    if (p.architecture === undefined) {
      return Object.entries(p).map(([k, v]) => esc(F.label(k)) + " " + esc(F.value(v))).join("<br>");
    }
    return esc(p.architecture) + '<div class="muted small">' + esc(p.input_size) + " px · batch " + esc(p.batch_size) + "</div>";
  }

  // The searched numbers, each under its short name from the declaration the page embeds; zeros (off) left out.
  const PARAM_LABELS = JSON.parse((document.getElementById("param-labels") || {}).textContent || "{}");
  function numbersLine(p) {
    return Object.entries(PARAM_LABELS)
      .filter(([name]) => typeof p[name] === "number" && p[name] !== 0)
      .map(([name, label]) => esc(label) + " " + esc(F.number(p[name])))
      .join(" · ");
  }

  // The study's goal in the table (platform_web/studies/goals.py): each measured trial's latency, "front" on the
  // trials of a Pareto study's front (static/js/study_pareto.js's rule), "over budget" under a latency budget.
  const goal = () => (state.study && state.study.goal) || {};
  function paretoFront() {
    if (goal().goal !== "pareto" || !window.StudyPareto) return new Set();
    return window.StudyPareto.front([...state.trials.values()]
      .filter((t) => t.state === "completed" && typeof t.value === "number" && typeof t.latency_ms_batch1 === "number")
      .map((t) => ({ number: t.number, value: t.value, latency_ms: t.latency_ms_batch1 })));
  }
  function goalCell(t, front) {
    const g = goal();
    if (!g.goal || g.goal === "accuracy" || t.state !== "completed") return "";
    const ms = typeof t.latency_ms_batch1 === "number" ? t.latency_ms_batch1 : null;
    let mark = "";
    if (g.goal === "pareto" && front.has(t.number)) {
      mark = ' <span class="badge front" title="On the Pareto front: no other trial is both as accurate and faster">front</span>';
    } else if (g.goal === "latency_budget" && (ms === null || ms > g.max_latency_ms)) {
      mark = ' <span class="badge over-budget" title="Over the latency budget of ' + esc(F.milliseconds(g.max_latency_ms)) + ' per image: never offered as the best model">over budget</span>';
    }
    return '<div class="muted small trial-latency">' + esc(F.milliseconds(ms)) + mark + "</div>";
  }

  function rowHtml(t, bestNumber, front) {
    const p = t.params || {};
    const isBest = t.number === bestNumber;
    const settings = p.optimizer === undefined ? "" : esc(p.optimizer) + " · augment " + F.yesNo(p.augment)
      + '<div class="muted small">' + numbersLine(p) + "</div>";
    const links = t.download_url && t.state === "completed"
      ? (t.model_url ? '<a href="' + esc(t.model_url) + '">model</a> · ' : "") + '<a href="' + esc(t.download_url) + '" download>.pth</a>'
      : "";
    return '<tr class="trial-row state-' + esc(t.state) + (isBest ? " is-best" : "") + '" data-number="' + t.number + '">'
      + "<td>#" + t.number + (t.retry_of !== null && t.retry_of !== undefined ? ' <span class="muted" title="' + esc(t.note || "runs trial #" + t.retry_of + " again") + '">↻' + esc(t.retry_of) + "</span>" : "") + "</td>"
      + '<td><span class="badge ' + esc(t.state) + '">' + esc(STATE_LABELS[t.state] || t.state) + "</span></td>"
      + "<td>" + paramsCell(t) + "</td><td>" + settings + "</td>"
      + '<td class="num">' + (t.epochs_done || 0) + " / " + (t.epochs_planned || "?") + "</td>"
      + '<td class="num">' + (t.value === null || t.value === undefined ? '<span class="muted">—</span>' : "<strong>" + pct(t.value) + "</strong>")
      + (isBest ? ' <span class="badge completed">best</span>' : "")
      + (t.best_epoch ? '<div class="muted small">epoch ' + t.best_epoch + "</div>" : "") + goalCell(t, front) + "</td>"
      + '<td class="num">' + fmtDuration(duration(t)) + "</td>"
      + '<td class="small">' + links + (t.note ? '<div class="muted trial-note">' + esc(t.note) + "</div>" : "")
      + (t.error ? '<div class="trial-error">' + esc(t.error) + "</div>" : "") + rerunForm(t) + "</td></tr>";
  }

  // An unsuccessful trial not yet run again gets a Re-run form (a diverged one also "lr ÷ 3"); it posts
  // like the page's other controls, with the CSRF token the template puts on #controls.
  const RERUNNABLE = ["failed", "diverged", "cancelled", "skipped"];
  const controls = $("controls");
  let rerunSeen = { seq: undefined, numbers: new Set() };
  function rerunNumbers() { // the trials some other trial retries or re-runs, once per event
    if (rerunSeen.seq !== state.seq) rerunSeen = { seq: state.seq, numbers: new Set([...state.trials.values()].map((o) => o.retry_of)) };
    return rerunSeen.numbers;
  }
  function rerunForm(t) {
    const study = state.study;
    if (!controls || !controls.dataset.rerunUrl || !study || study.state === "cancelling") return "";
    if (!RERUNNABLE.includes(t.state) || (study.pending_reruns || []).includes(t.number)) return "";
    if (rerunNumbers().has(t.number)) return "";
    const lower = t.state === "diverged"
      ? ' <button class="button small secondary rerun-lower" type="submit" name="lower_lr" value="1" title="Run it again with its learning rate divided by 3">Re-run, lr ÷ 3</button>'
      : "";
    return '<form method="post" class="inline rerun-form" action="' + esc(controls.dataset.rerunUrl.replace("/999999999/", "/" + t.number + "/")) + '">'
      + '<input type="hidden" name="csrfmiddlewaretoken" value="' + esc(controls.dataset.csrfToken) + '">'
      + '<button class="button small secondary rerun-same" type="submit" title="Run it again with the same parameters">Re-run</button>' + lower + "</form>";
  }

  function renderTable() {
    const body = $("live-trials-body");
    if (!body) return;
    const key = SORTS[state.sortKey] || SORTS.number;
    const dir = state.sortDir;
    // Each key computed once per render, not once per comparison.
    const keyed = [...state.trials.values()].map((t) => [key(t), t.number, t]);
    keyed.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] - b[1]) * dir);
    const filtered = parallel !== null && parallel.active;
    const rows = keyed.map((k) => k[2]).filter((t) => !filtered || parallel.matches(t));
    const bestNumber = state.best ? state.best.number : null;
    const front = paretoFront();
    body.innerHTML = rows.length
      ? rows.map((t) => rowHtml(t, bestNumber, front)).join("")
      : '<tr><td colspan="8" class="muted">' + (filtered ? "No trial lies in the ranges chosen in “Parameters vs accuracy”." : "No trial has started yet.") + "</td></tr>";
    setText("trial-count", filtered ? "showing " + F.count(rows.length) + " of " + F.count(keyed.length) + " trials (filtered)"
      : rows.length + " trial" + (rows.length === 1 ? "" : "s"));
    const clear = $("table-clear-filter");
    if (clear) clear.hidden = !filtered;
    if (parallel) parallel.showCount(rows.length, keyed.length);
    for (const th of document.querySelectorAll("#live-trials th[data-sort]")) {
      th.setAttribute("aria-sort", th.dataset.sort === state.sortKey ? (dir > 0 ? "ascending" : "descending") : "none");
    }
  }

  function renderParallel() {
    const wait = lastParallelDraw + PARALLEL_INTERVAL_MS - performance.now();
    if (wait > 0) {
      if (!parallelTimer) parallelTimer = window.setTimeout(() => { parallelTimer = 0; schedule(); }, wait);
      return;
    }
    lastParallelDraw = performance.now();
    dirty.parallel = false;
    parallel.update([...state.trials.values()].sort((a, b) => a.number - b.number), state.best ? state.best.number : null);
  }

  function renderCharts() {
    state.drawnSeq = state.seq;
    const bestNumber = state.best ? state.best.number : null;
    if (dirty.allCurves) charts.restyle(state.trials, bestNumber);
    if (dirty.allCurves || dirty.curves.size) charts.updateCurves(state.trials, bestNumber, dirty.allCurves ? null : dirty.curves);
    dirty.allCurves = false;
    dirty.curves = new Set();
    if (dirty.summary) {
      const rows = [...state.trials.values()].sort((a, b) => a.number - b.number);
      charts.updateBest(rows);
      fillParamChoices(rows);
      charts.updateScatter(rows, state.scatterParam, bestNumber);
      if (window.studyPareto) window.studyPareto.update(rows); // "Accuracy vs latency", a Pareto study's only
      dirty.summary = false;
    }
    charts.showEmpty();
    if (dirty.importance) {
      charts.updateImportance(state.importance);
      const note = $("importance-note");
      if (note) {
        note.textContent = state.importance
          ? "Optuna's estimate over " + state.importanceBasedOn + " completed trials: how much of the accuracy's variation each parameter explains."
          : "Appears once " + state.importanceNeeds + " trials have completed (" + state.importanceBasedOn + " so far).";
      }
      dirty.importance = false;
      dirty.summary = true; // the scatter's default parameter follows importance
      schedule();
    }
  }

  function fillParamChoices(rows) {
    const select = $("scatter-param");
    if (!select) return;
    const seen = new Map();
    for (const t of rows) for (const [k, v] of Object.entries(t.params || {})) {
      if (!seen.has(k)) seen.set(k, new Set());
      seen.get(k).add(String(v));
    }
    const varying = [...seen.keys()].filter((k) => seen.get(k).size > 1).sort();
    const names = varying.length ? varying : [...seen.keys()].sort(); // nothing varies yet: offer every parameter
    select.closest("label").hidden = names.length === 0;
    if (!state.scatterParam || !names.includes(state.scatterParam)) {
      const ranked = Object.keys(state.importance || {}).filter((k) => names.includes(k));
      state.scatterParam = ranked[0] || (names.includes("learning_rate") ? "learning_rate" : names[0]) || null;
    }
    const html = names.map((k) => '<option value="' + esc(k) + '"' + (k === state.scatterParam ? " selected" : "") + ">" + esc(F.label(k)) + "</option>").join("");
    if (select.dataset.html !== html) { select.innerHTML = html; select.dataset.html = html; }
  }

  // ---- wiring -------------------------------------------------------------------------
  const head = document.querySelector("#live-trials thead");
  if (head) {
    head.addEventListener("click", (event) => { // one listener for every header, none per row
      const th = event.target.closest("th[data-sort]");
      if (!th) return;
      state.sortDir = state.sortKey === th.dataset.sort ? -state.sortDir : (th.dataset.sort === "number" ? -1 : 1);
      if (th.dataset.sort === "value" && state.sortKey !== "value") state.sortDir = -1;
      state.sortKey = th.dataset.sort;
      dirty.table = true;
      schedule();
    });
  }
  const select = $("scatter-param");
  if (select) select.addEventListener("change", () => { state.scatterParam = select.value; dirty.summary = true; schedule(); });

  if (window.Chart && window.StudyCharts) charts = new window.StudyCharts(window.Chart);
  if (window.StudyParallel && $("parallel-plot")) {
    parallel = new window.StudyParallel($("parallel-plot"), { onChange: () => { dirty.table = true; schedule(); } });
    const count = $("trial-count");
    if (count) { // the table's own "Clear filter" next to "showing N of M trials"
      count.insertAdjacentHTML("afterend", '<button type="button" class="link small" id="table-clear-filter" hidden>Clear filter</button>');
      $("table-clear-filter").addEventListener("click", () => parallel.clear());
    }
  }
  const socket = new window.LiveSocket(root.dataset.wsPath, {
    onMessage,
    onStatus: showStatus,
    afterSeq: () => state.seq,
    syncEveryMs: 10000,
  });
  socket.start();
  showStatus(); // a stopped study's page says "ended" from the start
  // When the socket cannot connect (a proxy without WebSockets, the channel layer down), the same
  // snapshot comes over HTTP every few seconds and is drawn by the same code.
  const FALLBACK_AFTER_MS = 6000;
  const FALLBACK_EVERY_MS = 4000;
  let notLiveSince = Date.now();
  async function fallback() {
    if (socket.status === "live") notLiveSince = Date.now();
    const active = !state.study || ACTIVE.includes(state.study.state);
    if (socket.status !== "live" && active && Date.now() - notLiveSince >= FALLBACK_AFTER_MS) {
      try {
        const response = await fetch(root.dataset.snapshotUrl, { headers: { Accept: "application/json" } });
        if (response.ok && socket.status !== "live") { applySnapshot(await response.json()); schedule(); }
      } catch (err) { /* the server restarts or the network blips: the next round tries again */ }
    }
    window.setTimeout(fallback, FALLBACK_EVERY_MS);
  }
  window.setTimeout(fallback, FALLBACK_EVERY_MS);
  let ticks = 0;
  window.setInterval(() => {
    tick();
    ticks += 1;
    if (state.study && ACTIVE.includes(state.study.state) && socket.status === "live" && Date.now() - state.lastEventAt > QUIET_MS) {
      state.lastEventAt = Date.now();
      socket.send({ action: "snapshot" });
    }
    // Running trials' durations move: redraw the table every second, every 5 s past 200 trials.
    const due = state.trials.size <= 200 || ticks % 5 === 0;
    if (due && state.study && state.study.state === "running" && document.visibilityState === "visible") {
      dirty.table = dirty.table || [...state.trials.values()].some((t) => t.state === "running");
      schedule();
    }
  }, 1000);

  // For tests.
  window.studyLive = {
    get live() { return socket.status === "live" && state.study !== null; },
    get seq() { return state.seq; },
    // True once every applied event is drawn everywhere (charts lag up to CHART_INTERVAL_MS behind).
    get drawn() { return !frame && state.drawnSeq === state.seq && !dirty.summary && !dirty.curves.size && !dirty.table; },
    pointCount: () => (charts ? charts.pointCount() : 0),
    lossAxis: () => (charts ? charts.lossAxis() : null),
    trialCount: () => state.trials.size,
  };
})();
