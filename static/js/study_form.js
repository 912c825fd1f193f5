// The new-study form: architectures whose minimum input size exceeds every chosen size cannot run.
"use strict";
(function () {
  // Architectures whose minimum input size exceeds every chosen size cannot run: grey them out.
  const minimum = JSON.parse(document.getElementById("arch-minimums").textContent);
  const sizes = () => Array.from(document.querySelectorAll("input[name=input_sizes]:checked")).map((el) => Number(el.value));
  function refresh() {
    const largest = Math.max(0, ...sizes());
    document.querySelectorAll("input[name=architectures]").forEach((box) => {
      const fits = largest >= (minimum[box.value] || 0);
      box.parentElement.style.opacity = fits ? "" : "0.45";
      box.parentElement.title = fits ? "" : "needs a larger input size";
    });
  }
  document.querySelectorAll("input[name=input_sizes]").forEach((el) => el.addEventListener("change", refresh));
  refresh();
})();

// The goal: the latency budget is asked only for "under a latency budget"; the Pareto front prunes nothing
// (Optuna cannot prune a study with two objectives), so the pruner is greyed out and a note says why.
(function () {
  const goal = document.getElementById("id_goal");
  if (!goal) return;
  const budget = document.getElementById("field-max_latency_ms");
  const pruner = document.getElementById("id_pruner");
  const note = document.getElementById("pareto-note");
  function refresh() {
    if (budget) budget.hidden = goal.value !== "latency_budget";
    if (pruner) pruner.disabled = goal.value === "pareto"; // (the server sets "none" for it anyway)
    if (note) note.hidden = goal.value !== "pareto";
  }
  goal.addEventListener("change", refresh);
  refresh();
})();
