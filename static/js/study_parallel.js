// "Parameters vs accuracy" on the live study page: parallel coordinates in inline SVG, one vertical
// axis per searched parameter and a last one for validation accuracy, one path per trial.
// Drag up or down along an axis to brush a range (several axes at once; a click without a drag clears
// that axis): lines outside the brushes are dimmed and study_live.js filters the trial table with
// `matches`. study_live.js owns the data and calls `update` (at most every 500 ms); numbers go through
// window.Fmt (static/js/format.js). No inline script or style attribute: the page's CSP allows neither.
(function () {
  "use strict";
  const F = window.Fmt;
  const NS = "http://www.w3.org/2000/svg";
  const ACCURACY = "accuracy";
  // Learning rates and weight decays are searched on a log scale: one decade is enough for a log axis.
  const LOG_NAMES = /learning_rate|weight_decay/;
  // Completed trials from light green (low accuracy) to dark purple (high); red/orange/blue mean failed/best/running.
  const STOPS = [[0, [184, 222, 41]], [0.35, [53, 183, 121]], [0.65, [38, 130, 142]], [1, [68, 1, 84]]];
  const GROUPS = { completed: "completed", running: "running", queued: "running", failed: "failed", diverged: "failed" };
  const LAYERS = ["stopped", "failed", "completed", "running", "best"]; // drawn in this order: the best on top

  function make(name, attrs, parent) {
    const node = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    if (parent) parent.appendChild(node);
    return node;
  }

  function colour(f) {
    const x = Math.min(1, Math.max(0, f));
    let i = 1;
    while (i < STOPS.length - 1 && STOPS[i][0] < x) i += 1;
    const [[x0, a], [x1, b]] = [STOPS[i - 1], STOPS[i]];
    const t = (x - x0) / (x1 - x0);
    return "rgb(" + a.map((c, k) => Math.round(c + (b[k] - c) * t)).join(",") + ")";
  }

  const catKey = (v) => JSON.stringify(v);
  const round12 = (x) => Number(x.toPrecision(12));
  const present = (v) => v !== null && v !== undefined && !(typeof v === "number" && !Number.isFinite(v));
  function niceStep(span, parts) {
    const raw = span / parts;
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    const m = raw / power;
    return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * power;
  }

  // An axis: `pos(value)` is 0 at the bottom to 1 at the top (null: the trial has no such value).
  function numericAxis(key, xs) {
    let low = Math.min(...xs);
    let high = Math.max(...xs);
    if (low > 0 && high / low >= (LOG_NAMES.test(key) ? 10 : 100)) {
      const [a, b] = [Math.log10(low), Math.log10(high)];
      let ticks = [];
      for (let e = Math.ceil(a - 1e-9); e <= Math.floor(b + 1e-9); e += 1) ticks.push(round12(Math.pow(10, e)));
      if (ticks.length < 2) ticks = [low, high];
      return { kind: "log", low, high, ticks, pos: (v) => (v > 0 ? (Math.log10(v) - a) / (b - a) : null),
        invert: (f) => (f <= 0 ? low : f >= 1 ? high : Math.pow(10, a + f * (b - a))) };
    }
    const distinct = [...new Set(xs)].sort((p, q) => p - q);
    let ticks = distinct;
    if (high === low) {
      return { kind: "linear", low, high, ticks, pos: () => 0.5, invert: () => low };
    }
    if (distinct.length > 6 || !distinct.every(Number.isInteger)) {
      const step = niceStep(high - low, 4);
      low = round12(Math.floor(low / step) * step);
      high = round12(Math.ceil(high / step) * step);
      if (key === ACCURACY) { low = Math.max(0, low); high = Math.min(1, high); }
      ticks = [];
      for (let v = low; v <= high + step / 2; v += step) ticks.push(round12(v));
    }
    return { kind: "linear", low, high, ticks, pos: (v) => (typeof v === "number" ? (v - low) / (high - low) : null),
      invert: (f) => (f <= 0 ? low : f >= 1 ? high : low + f * (high - low)) };
  }

  function categoryAxis(values) {
    const byKey = new Map(values.map((v) => [catKey(v), v]));
    const sorted = [...byKey.entries()].sort(([, p], [, q]) =>
      typeof p === typeof q && typeof p !== "string" ? p - q : String(p).localeCompare(String(q)));
    const index = new Map(sorted.map(([k], i) => [k, i]));
    const n = sorted.length;
    return { kind: "category", cats: sorted.map(([k]) => k), ticks: sorted.map(([, v]) => v),
      pos: (v) => (index.has(catKey(v)) ? (index.get(catKey(v)) + 0.5) / n : null) };
  }

  function makeAxis(key, values) {
    const xs = values.filter(present);
    const axis = !xs.length ? numericAxis(key, [0, 1])
      : xs.every((v) => typeof v === "number") ? numericAxis(key, xs) : categoryAxis(xs);
    axis.key = key;
    return axis;
  }

  // Shorten `node`'s text until it fits `room` pixels; the full text then shows as its tooltip.
  function fit(node, full, room) {
    node.textContent = full;
    if (node.getComputedTextLength() <= room) return;
    let n = full.length;
    while (n > 1 && node.getComputedTextLength() > room) { n -= 1; node.textContent = full.slice(0, n).trimEnd() + "…"; }
    make("title", {}, node).textContent = full;
  }

  class StudyParallel {
    constructor(box, options) {
      this.box = box;
      this.card = box.closest(".card") || box; // its legend follows the lines' style
      this.onChange = (options && options.onChange) || (() => {});
      const labels = document.getElementById("param-labels");
      this.short = JSON.parse((labels && labels.textContent) || "{}"); // lr, wd, ... for narrow screens
      this.trials = [];
      this.best = null;
      this.axes = [];
      this.brushes = new Map(); // axis key -> {kind, low, high} (numbers) or {kind, cats, from, to} (categories)
      this.lines = new Map(); // trial number -> {path, title, d, stroke, tip, base, cls, trial}
      this.layoutKey = "";
      this.svg = make("svg", { class: "pc-svg", role: "group", "aria-label": "Parameters and validation accuracy, one line per trial" }, box);
      const lines = make("g", { class: "pc-lines" }, this.svg);
      this.layers = {};
      for (const name of LAYERS) this.layers[name] = make("g", { class: "pc-layer-" + name }, lines);
      this.axisLayer = make("g", { class: "pc-axes" }, this.svg);
      this.brushLayer = make("g", { class: "pc-brushes" }, this.svg);
      this.hitLayer = make("g", { class: "pc-hits" }, this.svg);
      this.empty = document.getElementById("parallel-empty");
      this.note = document.getElementById("parallel-note");
      const clear = document.getElementById("parallel-clear");
      if (clear) clear.addEventListener("click", () => this.clear());
      this.svg.addEventListener("pointerdown", (e) => this.down(e));
      this.svg.addEventListener("pointermove", (e) => this.move(e));
      this.svg.addEventListener("pointerup", (e) => this.up(e));
      this.svg.addEventListener("pointercancel", (e) => this.up(e));
      // A finger on an axis brushes instead of scrolling the page (Chromium ignores touch-action on SVG shapes).
      const onAxis = (e) => { if (this.drag || (e.target.closest && e.target.closest(".pc-hit"))) e.preventDefault(); };
      this.svg.addEventListener("touchstart", onAxis, { passive: false });
      this.svg.addEventListener("touchmove", onAxis, { passive: false });
      // The width comes from the observer, not from reading clientWidth on every update: that would force a
      // layout of the whole page (a 1,000-row table just redrawn) each time.
      this.boxWidth = box.clientWidth;
      if (window.ResizeObserver) {
        new ResizeObserver((entries) => {
          const width = Math.round(entries[entries.length - 1].contentRect.width);
          if (width === this.boxWidth) return;
          this.boxWidth = width;
          window.requestAnimationFrame(() => this.draw());
        }).observe(box);
      }
    }

    get active() { return this.brushes.size > 0; }

    // Whether a trial lies inside every brush (the data study_live.js has now, not what was last drawn).
    matches(t) {
      for (const [key, brush] of this.brushes) {
        const v = key === ACCURACY ? t.value : (t.params || {})[key];
        if (!present(v)) return false;
        if (brush.kind === "category" ? !brush.cats.has(catKey(v)) : !(typeof v === "number" && v >= brush.low && v <= brush.high)) return false;
      }
      return true;
    }

    clear() {
      if (!this.active) return;
      this.brushes.clear();
      this.drawBrushes();
      this.restyle();
      this.onChange();
    }

    // "Showing N of M trials — Clear filter", from the table study_live.js has just drawn.
    showCount(shown, total) {
      if (!this.note) return;
      this.note.hidden = !this.active;
      document.getElementById("parallel-shown").textContent = F.count(shown);
      document.getElementById("parallel-total").textContent = F.count(total);
    }

    update(trials, bestNumber) {
      this.trials = trials;
      this.best = bestNumber;
      this.draw();
    }

    draw() {
      const seen = new Map(); // parameter -> distinct values, in the order the trials name them
      for (const t of this.trials) {
        for (const [k, v] of Object.entries(t.params || {})) {
          if (!seen.has(k)) seen.set(k, new Set());
          if (present(v)) seen.get(k).add(catKey(v));
        }
      }
      let keys = [...seen.keys()].filter((k) => seen.get(k).size > 1); // the searched ones
      if (!keys.length) keys = [...seen.keys()]; // one trial so far: every parameter
      this.axes = keys.map((k) => makeAxis(k, this.trials.map((t) => (t.params || {})[k])));
      this.axes.push(makeAxis(ACCURACY, this.trials.map((t) => t.value)));
      for (const [key, brush] of this.brushes) { // a brush on an axis that went away would filter unseen
        const axis = this.axes.find((a) => a.key === key);
        if (!axis || (axis.kind === "category") !== (brush.kind === "category")) this.brushes.delete(key);
      }
      if (this.empty) this.empty.hidden = this.trials.length > 0;
      this.svg.classList.toggle("pc-hidden", !this.trials.length);
      this.layout();
      this.drawLines();
      this.drawBrushes();
    }

    layout() {
      const width = Math.max(240, this.boxWidth || 600);
      const n = this.axes.length;
      const spacing = width / n; // half a spacing either side: every name can be centred on its axis
      this.narrow = spacing < 70;
      this.svg.classList.toggle("pc-narrow", this.narrow);
      this.top = this.narrow ? 40 : 28;
      this.height = this.narrow ? 300 : 340;
      this.bottom = this.height - 10;
      this.axes.forEach((a, i) => { a.x = Math.round((i + 0.5) * spacing); });
      this.spacing = spacing;
      this.width = width;
      const key = JSON.stringify([width, this.axes.map((a) => [a.key, a.kind, a.low, a.high, a.cats, a.ticks])]);
      if (key === this.layoutKey) return;
      this.layoutKey = key;
      this.svg.setAttribute("viewBox", "0 0 " + width + " " + this.height);
      this.drawAxes();
      for (const line of this.lines.values()) line.d = null; // positions moved: every path again
    }

    y(f) { return Math.round((this.bottom - f * (this.bottom - this.top)) * 10) / 10; }

    axisName(axis, short) {
      if (axis.key === ACCURACY) return short ? "acc." : "val. accuracy";
      return short && this.short[axis.key] ? this.short[axis.key] : F.label(axis.key);
    }

    tickText(axis, v) {
      if (axis.key === ACCURACY) return F.percent(v, 0);
      return axis.kind === "category" ? F.value(v) : F.number(v);
    }

    axisTitle(axis) {
      const range = axis.kind === "category" ? axis.ticks.map((v) => this.tickText(axis, v)).join(", ")
        : (axis.kind === "log" ? "log scale, " : "") + this.tickText(axis, axis.low) + " to " + this.tickText(axis, axis.high);
      return this.axisName(axis, false) + " (" + range + "). Drag up or down to filter, click to clear.";
    }

    drawAxes() {
      this.axisLayer.replaceChildren();
      this.hitLayer.replaceChildren();
      const s = this.spacing;
      const last = this.axes.length - 1;
      this.axes.forEach((axis, i) => {
        const g = make("g", { class: "pc-axis", "data-axis": axis.key, "data-scale": axis.kind }, this.axisLayer);
        make("line", { class: "pc-axis-line", x1: axis.x, x2: axis.x, y1: this.top, y2: this.bottom }, g);
        // Ticks beside the axis (the accuracy axis's on its left); on a phone centred on it, over a white halo.
        const side = this.narrow ? 0 : i === last ? -1 : 1;
        for (const v of axis.ticks) {
          const f = axis.pos(v);
          if (f === null) continue;
          const y = this.y(f);
          make("line", { class: "pc-tick-mark", x1: axis.x - 3, x2: axis.x + 3, y1: y, y2: y }, g);
          const text = make("text", { class: "pc-tick", x: axis.x + side * 5, y, dy: "0.32em",
            "text-anchor": side === 0 ? "middle" : side > 0 ? "start" : "end" }, g);
          // Category names are shortened to fit; numbers never are (a "0.0…" would mislead).
          fit(text, this.tickText(axis, v), axis.kind !== "category" ? Infinity : this.narrow ? s - 2 : s - 12);
          if (side === 0) this.keepInside(text, axis.x);
        }
        // Names over the axes: on a phone in two staggered rows, short names first.
        const row = this.narrow && i % 2 === 1 ? 1 : 0;
        const name = make("text", { class: "pc-name", x: axis.x, y: this.top - 10 - row * 14, "text-anchor": "middle" }, g);
        // Staggered on a phone: twice the room, and the first and last names may lean inwards.
        const end = i === 0 || i === last;
        fit(name, this.axisName(axis, this.narrow), this.narrow ? (end ? 1.5 : 2) * s - 6 : s - 6);
        this.keepInside(name, axis.x);
        const title = this.axisTitle(axis);
        make("title", {}, g).textContent = title;
        const w = Math.min(36, s * 0.9);
        const hit = make("rect", { class: "pc-hit", "data-axis": axis.key, x: axis.x - w / 2, y: this.top - 6, width: w,
          height: this.bottom - this.top + 12 }, this.hitLayer);
        make("title", {}, hit).textContent = title;
      });
    }

    // Centred text moved sideways as far as needed to stay inside the drawing.
    keepInside(node, x) {
      const half = node.getComputedTextLength() / 2;
      node.setAttribute("x", Math.round(Math.min(Math.max(x, half + 1), this.width - half - 1)));
    }

    pathOf(t) {
      let d = "";
      let pen = false;
      for (const axis of this.axes) {
        const f = axis.pos(axis.key === ACCURACY ? t.value : (t.params || {})[axis.key]);
        if (f === null) { pen = false; continue; } // no accuracy yet: the line ends at the last parameter
        d += (pen ? "L" : "M") + axis.x + "," + this.y(f);
        pen = true;
      }
      return d || "M0,0";
    }

    drawLines() {
      // Past 200 trials the lines get fainter and lose their dashes (which make every repaint several times slower).
      this.card.classList.toggle("pc-crowd", this.trials.length > 200);
      const done = this.trials.filter((t) => t.state === "completed" && present(t.value)).map((t) => t.value);
      const low = done.length ? Math.min(...done) : 0;
      const span = done.length ? Math.max(...done) - low : 0;
      for (const [id, v] of [["parallel-low", low], ["parallel-high", low + span]]) {
        const node = document.getElementById(id);
        if (node && done.length) node.textContent = F.percent(v);
      }
      const numbers = new Set();
      for (const t of this.trials) {
        numbers.add(t.number);
        let line = this.lines.get(t.number);
        if (!line) {
          const path = make("path", { "data-trial": t.number });
          line = { path, title: make("title", {}, path) };
          this.lines.set(t.number, line);
        }
        const group = t.number === this.best ? "best" : GROUPS[t.state] || "stopped";
        if (line.group !== group) { this.layers[group].appendChild(line.path); line.group = group; }
        const d = this.pathOf(t);
        if (line.d !== d) { line.path.setAttribute("d", d); line.d = d; }
        const stroke = group === "completed" && present(t.value) ? colour(span ? (t.value - low) / span : 1) : "";
        if (line.stroke !== stroke) {
          if (stroke) line.path.setAttribute("stroke", stroke); else line.path.removeAttribute("stroke");
          line.stroke = stroke;
        }
        const tip = "trial #" + t.number + " (" + t.state + "): " + (present(t.value) ? F.percent(t.value) : "no accuracy yet");
        if (line.tip !== tip) { line.title.textContent = tip; line.tip = tip; }
        line.base = "pc-line pc-" + group + " state-" + t.state;
        line.trial = t;
      }
      for (const [number, line] of this.lines) {
        if (!numbers.has(number)) { line.path.remove(); this.lines.delete(number); }
      }
      this.restyle();
    }

    restyle() {
      const active = this.active;
      for (const line of this.lines.values()) {
        const cls = active && !this.matches(line.trial) ? line.base + " pc-dim" : line.base;
        if (line.cls !== cls) { line.path.setAttribute("class", cls); line.cls = cls; }
      }
    }

    drawBrushes() {
      this.brushLayer.replaceChildren();
      const w = Math.min(20, this.spacing * 0.55);
      for (const [key, brush] of this.brushes) {
        const axis = this.axes.find((a) => a.key === key);
        if (!axis) continue;
        const [from, to] = brush.kind === "category" ? [brush.from, brush.to]
          : [axis.pos(brush.low), axis.pos(brush.high)].map((f) => Math.min(1, Math.max(0, f || 0)));
        const rect = make("rect", { class: "pc-brush", "data-axis": key, x: axis.x - w / 2, y: this.y(to), width: w,
          height: Math.max(1, this.y(from) - this.y(to)) }, this.brushLayer);
        const text = brush.kind === "category" ? axis.ticks.filter((v) => brush.cats.has(catKey(v))).map((v) => this.tickText(axis, v)).join(", ")
          : this.tickText(axis, brush.low) + " to " + this.tickText(axis, brush.high);
        if (brush.kind !== "category") { rect.dataset.low = brush.low; rect.dataset.high = brush.high; }
        make("title", {}, rect).textContent = this.axisName(axis, false) + ": " + (text || "nothing");
      }
    }

    // ---- brushing with pointer events (mouse, pen and touch alike) ----
    fraction(event) {
      const box = this.svg.getBoundingClientRect();
      const y = (event.clientY - box.top) * (this.height / box.height);
      return Math.min(1, Math.max(0, (this.bottom - y) / (this.bottom - this.top)));
    }

    down(event) {
      const hit = event.target.closest && event.target.closest(".pc-hit");
      if (!hit || event.button !== 0) return;
      const axis = this.axes.find((a) => a.key === hit.dataset.axis);
      if (!axis) return;
      event.preventDefault();
      this.svg.setPointerCapture(event.pointerId);
      this.drag = { axis, id: event.pointerId, startY: event.clientY, start: this.fraction(event), moved: false, old: this.brushes.get(axis.key) };
    }

    move(event) {
      const drag = this.drag;
      if (!drag || event.pointerId !== drag.id) return;
      if (!drag.moved && Math.abs(event.clientY - drag.startY) < 4) return;
      drag.moved = true;
      const [from, to] = [drag.start, this.fraction(event)].sort((p, q) => p - q);
      const axis = drag.axis;
      if (axis.kind === "category") {
        const cats = new Set(axis.cats.filter((k, i) => { const f = (i + 0.5) / axis.cats.length; return f >= from && f <= to; }));
        this.brushes.set(axis.key, { kind: "category", cats, from, to });
      } else {
        this.brushes.set(axis.key, { kind: axis.kind, low: axis.invert(from), high: axis.invert(to) });
      }
      if (!this.moveFrame) {
        this.moveFrame = window.requestAnimationFrame(() => { this.moveFrame = 0; this.drawBrushes(); this.restyle(); });
      }
    }

    up(event) {
      const drag = this.drag;
      if (!drag || event.pointerId !== drag.id) return;
      this.drag = null;
      if (event.type === "pointercancel") { // the browser took the gesture: put the old brush back
        if (drag.old) this.brushes.set(drag.axis.key, drag.old); else this.brushes.delete(drag.axis.key);
      } else if (!drag.moved) {
        this.brushes.delete(drag.axis.key); // a click clears the axis
      }
      this.drawBrushes();
      this.restyle();
      this.onChange();
    }
  }

  window.StudyParallel = StudyParallel;
})();
