// Dataset page: ingestion progress pushed over /ws/datasets/<id>/ (the same mechanism as the study
// page). While the socket is live, dataset_page.js's polling stands down (card.dataset.live).
(function () {
  "use strict";
  const script = document.currentScript;
  const card = document.getElementById("ingest-card");
  if (!card || !script || !window.LiveSocket) return;
  const bar = document.getElementById("ingest-bar");
  const percent = document.getElementById("ingest-percent");
  const message = document.getElementById("ingest-message");
  const badge = document.getElementById("status-badge");
  let indicator = document.getElementById("ingest-live");
  if (!indicator) {
    indicator = document.createElement("span");
    indicator.id = "ingest-live";
    indicator.className = "live-status";
    const heading = card.querySelector("h2");
    (heading || card).appendChild(indicator);
  }
  const showStatus = window.LiveSocket.indicator(indicator);
  let finished = false;

  function show(status) {
    if (status.type !== "dataset" || finished) return;
    if (status.status === "ready" || status.status === "failed") {
      finished = true; // the finished page (charts, thumbnails or the reason) is rendered by the server
      window.location.reload();
      return;
    }
    const pct = Math.round(status.progress * 100);
    bar.style.width = pct + "%";
    percent.textContent = pct + "%";
    message.textContent = status.message || "";
    if (badge) { badge.textContent = status.status_label; badge.className = "badge " + status.status; }
  }

  const socket = new window.LiveSocket(script.dataset.wsPath, {
    onMessage: show,
    onStatus: (state, detail) => {
      card.dataset.live = state === "live" ? "1" : "";
      showStatus(state, detail);
    },
  });
  socket.start();
})();
