// "Accuracy vs latency" on the study page of a Pareto study (templates/studies/_pareto.html): a Chart.js
// scatter of every completed trial's validation accuracy against its latency per image, the front (the
// trials no other beats on both) in orange and joined; a click on a point opens that trial's model page.
// The server renders the first points (json "pareto-points", computed by platform_web/studies/goals.py);
// study_live.js then calls window.studyPareto.update(trials) as trials complete and asks it which
// trials are on the front for the table. `front` is the same rule as goals.pareto_front.
(function () {
  "use strict";
  const FRONT = "#e8590c";
  const OTHER = "hsla(150, 45%, 45%, 0.55)";

  const measured = (t) => t.state === "completed" && typeof t.value === "number" && typeof t.latency_ms === "number";

  // Numbers of the points ({number, value, latency_ms}) that no other point dominates (as accurate and as
  // fast, better in one); equal points are both kept. One sweep from the fastest.
  function front(points) {
    const ordered = [...points].sort((a, b) => a.latency_ms - b.latency_ms || b.value - a.value);
    const numbers = new Set();
    let bestValue = -Infinity;
    let bestLatency = null;
    for (const p of ordered) {
      if (p.value > bestValue) {
        numbers.add(p.number);
        bestValue = p.value;
        bestLatency = p.latency_ms;
      } else if (p.value === bestValue && p.latency_ms === bestLatency) {
        numbers.add(p.number);
      }
    }
    return numbers;
  }
  // Node (tests/studies/test_latency_goal.py checks the rule against goals.pareto_front): the rule only.
  if (typeof module !== "undefined" && module.exports) { module.exports = { front }; return; }
  const F = window.Fmt; // static/js/format.js

  function pointsOf(trials) {
    return trials.map((t) => ({ number: t.number, state: t.state, value: t.value, latency_ms: t.latency_ms_batch1,
      model_url: t.model_url || "" })).filter(measured);
  }

  class ParetoChart {
    constructor(Chart, canvas, points) {
      this.points = points;
      this.onFront = new Set(points.filter((p) => p.on_front).map((p) => p.number));
      this.chart = Chart ? new Chart(canvas, {
        type: "scatter",
        data: { datasets: [
          { label: "Pareto front", data: [], showLine: true, borderColor: FRONT, backgroundColor: FRONT, pointRadius: 5, pointHoverRadius: 7, order: 0 },
          { label: "other trials", data: [], borderColor: OTHER, backgroundColor: OTHER, pointRadius: 3.5, pointHoverRadius: 6, order: 1 },
        ] },
        options: {
          responsive: true, maintainAspectRatio: false, animation: false,
          plugins: { legend: { display: false }, colors: { enabled: false },
            tooltip: { callbacks: { label: (c) => "#" + c.raw.n + ": " + F.percent(c.raw.y) + ", " + F.milliseconds(c.raw.x) } } },
          scales: {
            x: { type: "linear", title: { display: true, text: "latency per image, batch 1 (ms)" }, ticks: { callback: (v) => F.number(v) } },
            y: { title: { display: true, text: "validation accuracy" }, ticks: { callback: (v) => F.percent(v, 0) } },
          },
          onClick: (event, elements) => this.open(elements),
          onHover: (event, elements) => { canvas.style.cursor = elements.length ? "pointer" : ""; },
        },
      }) : null;
      this.draw();
    }

    // Points from the live trials (the same fields the snapshot and the events carry).
    update(trials) {
      const points = pointsOf(trials);
      const numbers = front(points);
      this.points = points.map((p) => Object.assign(p, { on_front: numbers.has(p.number) }));
      this.onFront = numbers;
      this.draw();
    }

    draw() {
      const count = document.getElementById("pareto-count");
      if (count) count.textContent = String(this.points.length);
      const empty = document.querySelector('.chart-empty[data-for="chart-pareto"]');
      if (empty) empty.hidden = this.points.length > 0;
      if (!this.chart) return;
      const asPoint = (p) => ({ x: p.latency_ms, y: p.value, n: p.number, url: p.model_url });
      const [onFront, others] = this.chart.data.datasets;
      onFront.data = this.points.filter((p) => p.on_front).sort((a, b) => a.latency_ms - b.latency_ms).map(asPoint);
      others.data = this.points.filter((p) => !p.on_front).map(asPoint);
      this.chart.update();
    }

    open(elements) {
      if (!elements.length) return;
      const raw = this.chart.data.datasets[elements[0].datasetIndex].data[elements[0].index];
      if (raw && raw.url) window.location.assign(raw.url);
    }
  }

  const canvas = document.getElementById("chart-pareto");
  const data = document.getElementById("pareto-points");
  // Chart.js loads with `defer` like this file; both run after parsing, in document order, Chart first.
  const start = () => {
    window.studyPareto = new ParetoChart(window.Chart, canvas, JSON.parse(data.textContent || "[]"));
    window.studyPareto.front = front;
  };
  if (canvas && data) start();
  window.StudyPareto = { front };
})();
