// A form with data-confirm="question" (or a submit button with its own data-confirm) asks before it
// submits, with window.confirm: Cancel keeps the page as it is. Loaded on every page from base.html,
// so no inline onclick is needed (the Content-Security-Policy forbids inline script). Without
// JavaScript the form submits at once, as before.
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    const form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    const button = event.submitter;
    const question = (button && button.dataset.confirm) || form.dataset.confirm;
    if (question && !window.confirm(question)) {
      event.preventDefault();
      event.stopImmediatePropagation(); // the page's own submit handlers do not run either
    }
  }, true); // the capture phase: before any handler of the form itself
})();
