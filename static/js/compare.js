// Compare page: the picker's Compare button is enabled once something is ticked; then one line per
// compared trial (accuracy and loss per epoch), one per study (best so far).
(function () {
  "use strict";
  var form = document.getElementById("compare-form");
  var submit = document.getElementById("compare-submit");
  var hint = document.getElementById("compare-hint");
  if (form && submit) {
    var boxes = form.querySelectorAll("input[type=checkbox][name=t], input[type=checkbox][name=s]");
    var refresh = function () {
      var ticked = Array.prototype.filter.call(boxes, function (box) { return box.checked; }).length;
      submit.disabled = ticked === 0;
      submit.setAttribute("aria-disabled", ticked === 0 ? "true" : "false");
      if (hint) {
        hint.textContent = ticked === 0 ? "Tick one or more models to compare."
          : ticked === 1 ? "Tick one more to see two side by side (a study alone shows its best-so-far curve)."
          : "";
        hint.hidden = !hint.textContent;
      }
    };
    form.addEventListener("change", refresh);
    form.addEventListener("submit", function (event) {
      if (submit.disabled) event.preventDefault(); // Enter in the form with nothing ticked: no silent reload
    });
    window.addEventListener("pageshow", refresh); // boxes restored by the back button
    refresh();
  }

  var node = document.getElementById("compare-data");
  if (!node || typeof Chart === "undefined") return;
  var data = JSON.parse(node.textContent);

  function epochChart(canvasId, key, yOptions) {
    var canvas = document.getElementById(canvasId);
    if (!canvas) return;
    new Chart(canvas, {
      type: "line",
      data: {
        datasets: data.trials.map(function (t) {
          return {
            label: t.label,
            data: t.epochs.map(function (e) { return { x: e.epoch, y: e[key] }; }),
            borderColor: t.color, backgroundColor: t.color, tension: 0.2, pointRadius: 2,
          };
        }),
      },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false, parsing: true,
        interaction: { mode: "nearest", intersect: false },
        scales: { x: { type: "linear", title: { display: true, text: "epoch" }, ticks: { precision: 0 } }, y: yOptions },
        plugins: { legend: { position: "bottom" } },
      },
    });
  }

  var F = window.Fmt; // static/js/format.js: the numbers, and the loss axis rule of every chart
  var percentTicks = { callback: function (v) { return F.percent(v, 0); } };
  var losses = [];
  data.trials.forEach(function (t) { t.epochs.forEach(function (e) { losses.push(e.val_loss); }); });
  var lossAxis = F.robustMax(losses);
  epochChart("acc-chart", "val_accuracy", { min: 0, max: 1, title: { display: true, text: "validation accuracy" }, ticks: percentTicks });
  epochChart("loss-chart", "val_loss", { beginAtZero: true, max: lossAxis ? lossAxis.max : undefined, title: { display: true, text: "validation loss" },
                                         ticks: { callback: function (v) { return F.number(v); } } });

  var studyCanvas = document.getElementById("study-chart");
  if (studyCanvas && data.studies.length) {
    var datasets = [];
    data.studies.forEach(function (s) {
      datasets.push({
        label: s.label + " (best so far)", data: s.points.map(function (p) { return { x: p.trial, y: p.best }; }),
        borderColor: s.color, backgroundColor: s.color, stepped: true, pointRadius: 0,
      });
      datasets.push({
        label: s.label + " (each trial)", data: s.points.map(function (p) { return { x: p.trial, y: p.value }; }),
        borderColor: s.color, backgroundColor: s.color, showLine: false, pointRadius: 3, pointStyle: "crossRot",
      });
    });
    new Chart(studyCanvas, {
      type: "line",
      data: { datasets: datasets },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        scales: { x: { type: "linear", title: { display: true, text: "trial number" }, ticks: { precision: 0 } },
                  y: { min: 0, max: 1, title: { display: true, text: "validation accuracy" }, ticks: percentTicks } },
        plugins: { legend: { position: "bottom" } },
      },
    });
  }
})();
