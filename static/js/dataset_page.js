// Dataset page: poll status.json while ingestion runs; draw the per-class chart once ready.
(function () {
  "use strict";
  const card = document.getElementById("ingest-card");
  if (card) {
    const url = card.dataset.statusUrl;
    const bar = document.getElementById("ingest-bar");
    const percent = document.getElementById("ingest-percent");
    const message = document.getElementById("ingest-message");
    const badge = document.getElementById("status-badge");
    const initial = card.dataset.status;
    // While dataset_live.js's socket is live it pushes every update, so polling slows to a
    // safety net (every 5 s) that still catches a final status the at-most-once channel dropped.
    let skipped = 0;
    const poll = async () => {
      if (card.dataset.live === "1" && skipped < 4) { skipped += 1; window.setTimeout(poll, 1000); return; }
      skipped = 0;
      try {
        const response = await fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" });
        if (response.ok) {
          const status = await response.json();
          if (status.status === "ready" || status.status === "failed") { window.location.reload(); return; }
          const pct = Math.round(status.progress * 100);
          bar.style.width = pct + "%";
          percent.textContent = pct + "%";
          message.textContent = status.message || "";
          if (status.status !== initial) { badge.textContent = status.status_label; badge.className = "badge " + status.status; }
        }
      } catch (err) {
        message.textContent = "Connection lost; retrying…";
      }
      window.setTimeout(poll, 1000);
    };
    window.setTimeout(poll, 1000);
  }

  const dataNode = document.getElementById("class-chart-data");
  const canvas = document.getElementById("class-chart");
  if (dataNode && canvas && window.Chart) {
    const data = JSON.parse(dataNode.textContent);
    new window.Chart(canvas, {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: [
          { label: "training", data: data.train, backgroundColor: "#3b5bdb", stack: "images" },
          { label: "validation", data: data.val, backgroundColor: "#91a7ff", stack: "images" },
        ],
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        scales: {
          // long class names are cut on the axis (the tooltip names the class in full)
          x: { stacked: true, ticks: { callback(value) { const name = String(this.getLabelForValue(value)); return name.length > 16 ? name.slice(0, 15) + "…" : name; } } },
          y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } },
        },
        plugins: { legend: { position: "bottom" }, tooltip: { mode: "index", intersect: false } },
      },
    });
  }
})();
