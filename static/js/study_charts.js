// Chart.js charts of the live study page: per-epoch accuracy and loss (one line per trial),
// best-so-far by trial number, parameter vs accuracy, parameter importance.
// study_live.js owns the data; this file only draws it. Charts are built once and
// updated in place (animation off, pre-parsed {x, y} data) so 1,000 trials stay fast.
(function () {
  "use strict";

  const GREY = "rgba(134, 142, 150, 0.55)";
  const RED = "rgba(224, 49, 49, 0.7)";
  const RUNNING = "#3b5bdb";
  const BEST = "#e8590c";
  const F = window.Fmt; // static/js/format.js
  const pct = F.percent;

  // Log axes: label the powers of ten only (1e-4, 0.001, 0.01, 0.1, 1, ...).
  function logTick(value) {
    const exponent = Math.log10(value);
    if (Math.abs(exponent - Math.round(exponent)) > 1e-6) return "";
    return value >= 0.001 ? String(+value.toPrecision(1)) : "1e" + Math.round(exponent);
  }

  // Completed trials in greens, teals and purples: red/orange mean failed/best, solid blue means running.
  const HUES = [150, 265, 175, 300, 125, 195, 285, 160];
  function trialColour(number, alpha) {
    return "hsla(" + (HUES[number % HUES.length] + (number % 5) * 4) + ", 50%, 45%, " + alpha + ")";
  }

  // How a trial's curve looks: the best one thick and on top, running ones solid blue,
  // pruned/cancelled/skipped dashed grey, failed/diverged dashed red.
  function curveStyle(trial, isBest, crowd) {
    if (isBest) return { borderColor: BEST, borderWidth: 3.5, borderDash: [], order: 0 };
    switch (trial.state) {
      case "running": return { borderColor: RUNNING, borderWidth: 2, borderDash: [], order: 1 };
      case "completed": return { borderColor: trialColour(trial.number, crowd ? 0.3 : 0.6), borderWidth: crowd ? 1 : 1.5, borderDash: [], order: 2 };
      case "failed":
      case "diverged": return { borderColor: RED, borderWidth: 1, borderDash: [2, 3], order: 3 };
      default: return { borderColor: GREY, borderWidth: 1, borderDash: [5, 4], order: 4 };
    }
  }

  // A curve's line and its points in one colour (Chart.js would otherwise fill points with its default).
  function paint(dataset, style) {
    Object.assign(dataset, style);
    dataset.backgroundColor = style.borderColor;
    dataset.pointBackgroundColor = style.borderColor;
    dataset.pointBorderColor = style.borderColor;
  }

  function baseOptions(yAxis, xTitle) {
    return {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      parsing: false,
      normalized: true,
      spanGaps: true,
      interaction: { mode: "nearest", intersect: false },
      elements: { point: { radius: 0, hitRadius: 6 }, line: { tension: 0 } },
      plugins: { legend: { display: false }, decimation: { enabled: false }, colors: { enabled: false } },
      scales: {
        x: { type: "linear", title: { display: true, text: xTitle }, ticks: { precision: 0 } },
        y: yAxis,
      },
    };
  }

  const percentAxis = (title) => ({
    min: 0, max: 1, title: { display: true, text: title }, ticks: { callback: (v) => F.percent(v, 0) },
  });

  class StudyCharts {
    constructor(Chart) {
      this.Chart = Chart;
      this.curves = { accuracy: new Map(), loss: new Map() };
      this.crowded = false;
      this.accuracy = this.curveChart("chart-accuracy", percentAxis("validation accuracy"), 1);
      this.loss = this.curveChart("chart-loss", { beginAtZero: true, title: { display: true, text: "validation loss" }, ticks: { callback: (v) => F.number(v) } }, 2);
      this.best = this.bestChart();
      this.scatter = this.scatterChart();
      this.importance = this.importanceChart();
    }

    curveChart(id, yAxis, index) {
      const canvas = document.getElementById(id);
      if (!canvas) return null;
      const options = baseOptions(yAxis, "epoch");
      options.scales.x.min = 1;
      options.plugins.tooltip = {
        callbacks: {
          title: (items) => (items.length ? "trial #" + items[0].dataset.trialNumber : ""),
          label: (item) => "epoch " + item.parsed.x + ": " + (index === 1 ? pct(item.parsed.y) : F.number(item.parsed.y)),
        },
      };
      return new this.Chart(canvas, { type: "line", data: { datasets: [] }, options });
    }

    bestChart() {
      const canvas = document.getElementById("chart-best");
      if (!canvas) return null;
      const options = baseOptions(percentAxis("validation accuracy"), "trial number");
      options.scales.x.min = 0;
      options.plugins.legend = { display: true, position: "bottom", labels: { boxWidth: 12 } };
      options.plugins.tooltip = { callbacks: { label: (item) => item.dataset.label + " #" + item.parsed.x + ": " + pct(item.parsed.y) } };
      return new this.Chart(canvas, {
        type: "line",
        data: {
          datasets: [
            { label: "best so far", data: [], borderColor: BEST, backgroundColor: BEST, stepped: "before", borderWidth: 2.5, pointRadius: 2, clip: 6, order: 0 },
            { type: "scatter", label: "completed", data: [], backgroundColor: "rgba(59, 91, 219, 0.75)", pointRadius: 3.5, clip: 6, order: 1 },
            { type: "scatter", label: "pruned / stopped", data: [], backgroundColor: "rgba(255,255,255,0)", borderColor: GREY, pointRadius: 3.5, clip: 6, order: 2 },
          ],
        },
        options,
      });
    }

    scatterChart() {
      const canvas = document.getElementById("chart-scatter");
      if (!canvas) return null;
      const options = baseOptions(percentAxis("validation accuracy"), "");
      options.parsing = true; // category x values ("adam") are parsed into label indices
      options.elements.point.radius = 4;
      options.plugins.legend = { display: true, position: "bottom", labels: { boxWidth: 12 } };
      options.plugins.tooltip = {
        callbacks: { label: (item) => "trial #" + item.raw.n + ": " + item.raw.label + " → " + pct(item.parsed.y) },
      };
      return new this.Chart(canvas, {
        type: "scatter",
        data: {
          datasets: [
            { label: "completed", data: [], backgroundColor: "rgba(59, 91, 219, 0.75)" },
            { label: "pruned / stopped", data: [], backgroundColor: "rgba(255,255,255,0)", borderColor: GREY },
            { label: "best", data: [], backgroundColor: BEST, pointRadius: 7, pointStyle: "star", borderColor: BEST },
          ],
        },
        options,
      });
    }

    importanceChart() {
      const canvas = document.getElementById("chart-importance");
      if (!canvas) return null;
      return new this.Chart(canvas, {
        type: "bar",
        data: { labels: [], datasets: [{ data: [], backgroundColor: "rgba(59, 91, 219, 0.8)", borderRadius: 4 }] },
        options: {
          indexAxis: "y", responsive: true, maintainAspectRatio: false, animation: false,
          plugins: { legend: { display: false }, tooltip: { callbacks: { label: (item) => pct(item.parsed.x) + " of the variation explained" } } },
          scales: { x: { min: 0, max: 1, ticks: { callback: (v) => F.percent(v, 0) } } },
        },
      });
    }

    // Update the curves of the trials in `numbers` (all when null), then redraw.
    updateCurves(trials, bestNumber, numbers) {
      if (this.crowded !== trials.size > 150) this.restyle(trials, bestNumber);
      const todo = numbers || trials.keys();
      for (const n of todo) {
        const trial = trials.get(n);
        if (!trial) continue;
        this.setCurve(this.accuracy, this.curves.accuracy, trial, 1, bestNumber);
        this.setCurve(this.loss, this.curves.loss, trial, 2, bestNumber);
      }
      this.fitLossAxis();
      const many = trials.size > 60;
      for (const chart of [this.accuracy, this.loss]) {
        if (!chart) continue;
        chart.options.elements.point.radius = many ? 0 : 2;
        // Not update("none"): in that mode Chart.js keeps the points' shared options, so a trial's
        // dots would keep the colour of its first draw. Animation is off, so this costs nothing more.
        chart.update();
      }
    }

    // The loss axis ends where the normal trials' losses end (Fmt.robustMax): a diverged trial's 3,500 or a
    // pruned one's 2e28 is cut off at the top, and a note under the chart says how many points were.
    fitLossAxis() {
      if (!this.loss) return;
      const values = [];
      for (const dataset of this.curves.loss.values()) for (const point of dataset.data) values.push(point.y);
      const axis = F.robustMax(values);
      this.loss.options.scales.y.max = axis ? axis.max : undefined;
      this.lossClipped = axis ? axis.clipped : 0;
      const note = document.getElementById("chart-loss-note");
      if (note) {
        note.hidden = !this.lossClipped;
        note.textContent = this.lossClipped
          ? F.count(this.lossClipped) + " point" + (this.lossClipped === 1 ? "" : "s") + " of diverged or stopped trials above " + F.number(axis.max) + " cut off at the top."
          : "";
      }
    }

    lossAxis() {
      return this.loss ? { max: this.loss.scales.y.max, clipped: this.lossClipped || 0 } : null;
    }

    setCurve(chart, datasets, trial, column, bestNumber) {
      if (!chart) return;
      let dataset = datasets.get(trial.number);
      if (!dataset) {
        dataset = { data: [], trialNumber: trial.number, fill: false, pointBackgroundColor: undefined };
        datasets.set(trial.number, dataset);
        chart.data.datasets.push(dataset);
      }
      dataset.data = trial.epochs.map((e) => ({ x: e[0], y: e[column] }));
      paint(dataset, curveStyle(trial, trial.number === bestNumber, this.crowded));
    }

    // Restyle every curve when the best trial changes (only the old and new best really change).
    restyle(trials, bestNumber) {
      this.crowded = trials.size > 150; // fainter lines so the best and running ones stand out
      for (const map of [this.curves.accuracy, this.curves.loss]) {
        for (const [n, dataset] of map) {
          const trial = trials.get(n);
          if (trial) {
            paint(dataset, curveStyle(trial, n === bestNumber, this.crowded));
          }
        }
      }
    }

    updateBest(rows) {
      if (!this.best) return;
      const [line, done, stopped] = this.best.data.datasets;
      line.data = [];
      done.data = [];
      stopped.data = [];
      let best = null;
      for (const t of rows) {
        if (t.value === null || t.value === undefined) continue;
        if (t.state === "completed") {
          done.data.push({ x: t.number, y: t.value });
          best = best === null ? t.value : Math.max(best, t.value);
        } else if (t.state !== "running") {
          stopped.data.push({ x: t.number, y: t.value });
        }
        if (best !== null) line.data.push({ x: t.number, y: best });
      }
      this.best.update();
    }

    updateScatter(rows, param, bestNumber) {
      if (!this.scatter) return;
      const [done, stopped, best] = this.scatter.data.datasets;
      done.data = [];
      stopped.data = [];
      best.data = [];
      const values = rows.filter((t) => t.value !== null && t.value !== undefined && t.params && param in t.params);
      const numeric = values.length > 0 && values.every((t) => typeof t.params[param] === "number");
      const xScale = this.scatter.options.scales.x;
      let labels = [];
      if (numeric) {
        const xs = values.map((t) => t.params[param]);
        const low = Math.min(...xs);
        const high = Math.max(...xs);
        xScale.type = low > 0 && high / low >= 100 ? "logarithmic" : "linear";
        xScale.ticks = xScale.type === "logarithmic" ? { callback: logTick, autoSkip: true, maxRotation: 0 } : { maxRotation: 0, maxTicksLimit: 6 };
        delete xScale.labels;
      } else {
        labels = [...new Set(values.map((t) => String(t.params[param])))].sort();
        xScale.type = "category";
        xScale.labels = labels;
        xScale.ticks = { maxRotation: 0 };
      }
      xScale.title = { display: true, text: param || "" };
      for (const t of values) {
        const raw = t.params[param];
        const point = { x: numeric ? raw : String(raw), y: t.value, n: t.number, label: String(raw) };
        if (t.number === bestNumber) best.data.push(point);
        (t.state === "completed" ? done : stopped).data.push(point);
      }
      this.scatter.update();
    }

    updateImportance(importance) {
      if (!this.importance) return;
      const entries = Object.entries(importance || {}).sort((a, b) => b[1] - a[1]);
      this.importance.data.labels = entries.map((e) => e[0]);
      this.importance.data.datasets[0].data = entries.map((e) => e[1]);
      this.importance.update();
    }

    // The "nothing to draw yet" line over each chart that has no point.
    showEmpty() {
      for (const chart of [this.accuracy, this.loss, this.best, this.scatter]) {
        if (!chart) continue;
        const note = document.querySelector('.chart-empty[data-for="' + chart.canvas.id + '"]');
        if (note) note.hidden = chart.data.datasets.some((d) => d.data.length > 0);
      }
    }

    pointCount() {
      let count = 0;
      if (this.accuracy) for (const d of this.accuracy.data.datasets) count += d.data.length;
      return count;
    }
  }

  window.StudyCharts = StudyCharts;
})();
