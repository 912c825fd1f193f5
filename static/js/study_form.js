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
