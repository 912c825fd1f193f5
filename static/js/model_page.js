// Model page: training curves, the evaluation and exports (run by the worker, polled here), try-it uploads, snippet copy.
(function () {
  "use strict";

  function csrfToken(form) {
    var input = form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  var fileSize = window.Fmt.size; // static/js/format.js

  // Training curves: validation accuracy (left axis) and loss (right axis) per epoch.
  function drawCurves() {
    var data = document.getElementById("epoch-data");
    var canvas = document.getElementById("curve-chart");
    if (!data || !canvas || typeof Chart === "undefined") return;
    var epochs = JSON.parse(data.textContent);
    var labels = epochs.map(function (e) { return e.epoch; });
    var F = window.Fmt;
    var lossAxis = F.robustMax(epochs.map(function (e) { return e.val_loss; })); // the study page's rule too
    new Chart(canvas, {
      type: "line",
      data: {
        labels: labels,
        datasets: [
          { label: "validation accuracy", data: epochs.map(function (e) { return e.val_accuracy; }), borderColor: "#3b5bdb", backgroundColor: "#3b5bdb", yAxisID: "acc", tension: 0.2 },
          { label: "training accuracy", data: epochs.map(function (e) { return e.train_accuracy; }), borderColor: "#91a7ff", backgroundColor: "#91a7ff", borderDash: [4, 4], yAxisID: "acc", tension: 0.2 },
          { label: "validation loss", data: epochs.map(function (e) { return e.val_loss; }), borderColor: "#e8590c", backgroundColor: "#e8590c", yAxisID: "loss", tension: 0.2 },
        ],
      },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        interaction: { mode: "index", intersect: false },
        scales: {
          x: { title: { display: true, text: "epoch" } },
          acc: { position: "left", min: 0, max: 1, title: { display: true, text: "accuracy" }, ticks: { callback: function (v) { return F.percent(v, 0); } } },
          loss: { position: "right", beginAtZero: true, max: lossAxis ? lossAxis.max : undefined, grid: { drawOnChartArea: false }, title: { display: true, text: "loss" }, ticks: { callback: function (v) { return F.number(v); } } },
        },
      },
    });
  }

  // A message in the page's own style (the .messages list under the top bar).
  function flash(text, level) {
    var list = document.querySelector("main .messages");
    if (!list) {
      list = document.createElement("div");
      list.className = "messages";
      var main = document.querySelector("main");
      main.insertBefore(list, main.firstChild);
    }
    var item = document.createElement("div");
    item.className = "message " + (level || "info");
    item.textContent = text;
    list.appendChild(item);
  }

  var POLL_MS = 1000;

  // JSON from the evaluation and export routes; {state: "offline"} when the server cannot be reached.
  function askJson(url, options) {
    var init = Object.assign({ credentials: "same-origin", headers: {} }, options || {});
    init.headers.Accept = "application/json";
    return fetch(url, init)
      .then(function (response) {
        return response.json().catch(function () {
          return { state: "failed", error: "The server answered HTTP " + response.status + "." };
        });
      })
      .catch(function () { return { state: "offline" }; });
  }

  function elapsedText(answer) {
    return answer.phase === "running"
      ? "Running for " + answer.seconds + " s."
      : "Queued " + answer.seconds + " s ago; it starts when a worker is free.";
  }

  // Pending work shows its message and how long it has been going; the numbers tick between polls.
  function showProgress(container, answer) {
    var message = container.querySelector(".job-message");
    var elapsed = container.querySelector(".job-elapsed");
    if (message && answer.message) message.textContent = answer.message;
    if (elapsed) elapsed.textContent = elapsedText(answer);
  }

  // The evaluation runs in the worker; the section polls until it is ready or has failed.
  function watchEvaluation() {
    var section = document.getElementById("evaluation");
    if (!section || section.dataset.state === "ready") return;
    var offline = 0;
    function poll(options) {
      askJson(section.dataset.url, options).then(function (answer) {
        if (answer.state === "ready" || answer.state === "failed") {
          section.innerHTML = answer.html;
          section.dataset.state = answer.state;
          if (answer.state === "failed") { bindEvaluationRetry(); flash(answer.error, "error"); }
          return;
        }
        if (answer.state === "offline") {
          offline += 1;
          var elapsed = section.querySelector(".job-elapsed");
          if (elapsed) elapsed.textContent = "Lost contact with the server; trying again…";
        } else {
          offline = 0;
          if (!section.querySelector(".job-progress")) {
            section.innerHTML = '<h2>Validation results</h2><p class="loading job-progress" role="status"><span class="spinner"></span>' +
              '<span><span class="job-message"></span> <span class="help job-elapsed"></span></span></p>';
          }
          section.dataset.state = "pending";
          showProgress(section, answer);
        }
        setTimeout(poll, offline ? Math.min(10000, POLL_MS * (offline + 1)) : POLL_MS);
      });
    }
    function bindEvaluationRetry() {
      var form = section.querySelector("form.evaluation-retry");
      if (!form) return;
      form.addEventListener("submit", function (e) {
        e.preventDefault();
        form.querySelector("button").disabled = true;
        poll({ method: "POST", headers: { "X-CSRFToken": csrfToken(form) } });
      });
    }
    bindEvaluationRetry();
    if (section.dataset.state !== "failed") setTimeout(poll, POLL_MS);
  }

  // Exports run in the worker too: the row shows its progress, then the file or the reason it failed.
  function setupExports() {
    var table = document.querySelector("table.files");
    if (!table) return;
    function replaceRow(kind, html) {
      var old = table.querySelector("tr[data-kind=" + kind + "]");
      var holder = document.createElement("tbody");
      holder.innerHTML = html.trim();
      var row = holder.firstElementChild;
      old.parentNode.replaceChild(row, old);
      return row;
    }
    function follow(kind, answer) {
      var row = answer.row_html ? replaceRow(kind, answer.row_html) : table.querySelector("tr[data-kind=" + kind + "]");
      if (answer.state === "ready") { flash(answer.message, "success"); return; }
      if (answer.state === "failed") {
        if (!answer.row_html) row.querySelector("button").disabled = false;
        flash(answer.error, "error");
        return;
      }
      if (answer.state === "pending") showProgress(row, answer);
      if (answer.state === "offline") {
        var elapsed = row.querySelector(".job-elapsed");
        if (elapsed) elapsed.textContent = "Lost contact with the server; trying again…";
      }
      setTimeout(function () {
        askJson(row.dataset.statusUrl).then(function (next) { follow(kind, next); });
      }, answer.state === "offline" ? 3 * POLL_MS : POLL_MS);
    }
    table.addEventListener("submit", function (e) {
      var form = e.target.closest("form.export-form");
      if (!form) return;
      e.preventDefault();
      var kind = form.closest("tr").dataset.kind;
      form.querySelector("button").disabled = true;
      askJson(form.action, { method: "POST", headers: { "X-CSRFToken": csrfToken(form) } }).then(function (answer) {
        if (answer.state === "offline") {
          form.querySelector("button").disabled = false;
          flash("Could not reach the server; try again.", "error");
          return;
        }
        follow(kind, answer);
      });
    });
    table.querySelectorAll("tr[data-state=pending]").forEach(function (row) {
      follow(row.dataset.kind, { state: "waiting" });
    });
  }

  // Try it. Files that are not images (by their type, or by the server's answer) are listed as such,
  // never shown as a broken picture and never counted: the summary counts the images classified.
  var IMAGE_FORMATS = "JPEG, PNG, WebP, GIF, BMP or TIFF";
  var IMAGE_SUFFIX = /\.(jpe?g|png|bmp|gif|webp|tiff?)$/i;

  function looksLikeImage(file) {
    if (file.type) return file.type.indexOf("image/") === 0;
    return IMAGE_SUFFIX.test(file.name); // no type known (an unusual extension): go by the name
  }

  function plural(n, one, many) { return n + " " + (n === 1 ? one : many); }

  function resultCard(file, result) {
    // The preview only for a classified image: a file the server could not read would show a broken picture.
    var preview = file && result.predictions ? '<img alt="" src="' + URL.createObjectURL(file) + '">' : '<span class="no-preview" aria-hidden="true"></span>';
    var body;
    if (result.error) {
      body = '<div class="error">' + escapeHtml(result.error) + "</div>";
    } else {
      body = result.predictions.map(function (p) {
        var pct = window.Fmt.percent(p.probability);
        return '<div class="prob"><span class="label" title="' + escapeHtml(p["class"]) + '">' + escapeHtml(p["class"]) + '</span>' +
          '<div class="progress"><div class="bar" style="width:' + pct + '"></div></div>' +
          '<span class="pct">' + pct + "</span></div>";
      }).join("");
    }
    return '<div class="result' + (result.error ? " failed" : "") + '" data-filename="' + escapeHtml(result.filename) + '">' + preview +
      '<div><div class="name">' + escapeHtml(result.filename) + "</div>" + body + "</div></div>";
  }

  function setupTryIt() {
    var form = document.getElementById("try-form");
    if (!form) return;
    var input = document.getElementById("try-files");
    var drop = document.getElementById("try-drop");
    var status = document.getElementById("try-status");
    var results = document.getElementById("try-results");
    var skipped = document.getElementById("try-skipped");
    var button = document.getElementById("try-submit");
    var maxBytes = parseInt(form.dataset.maxBytes, 10);
    var maxFiles = parseInt(form.dataset.maxFiles, 10);

    ["dragenter", "dragover"].forEach(function (name) {
      drop.addEventListener(name, function (e) { e.preventDefault(); drop.classList.add("over"); });
    });
    ["dragleave", "drop"].forEach(function (name) {
      drop.addEventListener(name, function () { drop.classList.remove("over"); });
    });
    drop.addEventListener("drop", function (e) {
      e.preventDefault();
      input.files = e.dataTransfer.files;
      form.requestSubmit();
    });
    var chosen = document.getElementById("try-chosen");
    input.addEventListener("change", function () {
      var files = Array.prototype.slice.call(input.files);
      var names = files.map(function (f) { return f.name; });
      var others = files.filter(function (f) { return !looksLikeImage(f); }).length;
      chosen.textContent = names.length
        ? names.length + " chosen: " + names.slice(0, 4).join(", ") + (names.length > 4 ? ", …" : "") +
          (others ? " (" + plural(others, "is not an image", "are not images") + " and will be skipped)" : "")
        : "";
    });

    // "not an image: notes.txt — choose JPEG, PNG, …" for each file that is not one.
    function listSkipped(names) {
      skipped.innerHTML = names.map(function (name) {
        return '<li data-filename="' + escapeHtml(name) + '">not an image: <strong>' + escapeHtml(name) + "</strong> — choose " + IMAGE_FORMATS + "</li>";
      }).join("");
      skipped.hidden = !names.length;
    }

    function summary(classified, notImages, unusable) {
      var text = classified ? "Done: " + plural(classified, "image", "images") + " classified." : "No image was classified.";
      if (notImages) text += " Skipped " + plural(notImages, "file that is not an image", "files that are not images") + ".";
      if (unusable) text += " " + plural(unusable, "image", "images") + " could not be used (see below).";
      return text;
    }

    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var files = Array.prototype.slice.call(input.files);
      if (!files.length) { status.textContent = "Choose one or more images first."; return; }
      if (files.length > maxFiles) { status.textContent = "Try at most " + maxFiles + " images at a time."; return; }
      var notImages = files.filter(function (f) { return !looksLikeImage(f); }).map(function (f) { return f.name; });
      var images = files.filter(looksLikeImage);
      var local = images.filter(function (f) { return f.size > maxBytes; }).map(function (f) {
        return { file: f, result: { filename: f.name, predictions: null, error: fileSize(f.size) + " is too large; images up to " + fileSize(maxBytes) + " can be tried." } };
      });
      var sent = images.filter(function (f) { return f.size <= maxBytes; });
      var localCards = function () { return local.map(function (r) { return resultCard(r.file, r.result); }); };
      listSkipped(notImages);
      results.innerHTML = "";
      if (!sent.length) {
        results.innerHTML = localCards().join("");
        status.textContent = summary(0, notImages.length, local.length);
        return;
      }
      var body = new FormData();
      sent.forEach(function (f) { body.append("files", f); });
      button.disabled = true;
      status.textContent = "Classifying " + plural(sent.length, "image", "images") + "…";
      fetch(form.action, { method: "POST", body: body, credentials: "same-origin", headers: { "X-CSRFToken": csrfToken(form) } })
        .then(function (response) {
          return response.json().then(function (json) { return { ok: response.ok, json: json }; }, function () {
            return { ok: false, json: { error: "The server answered HTTP " + response.status + "." } };
          });
        })
        .then(function (answer) {
          var answered = answer.json.results || [];
          // The server decides too: a file named .png that is text comes back as not an image.
          var refused = answered.filter(function (r) { return r.not_image; }).map(function (r) { return r.filename; });
          listSkipped(notImages.concat(refused));
          if (!answer.ok) {
            results.innerHTML = localCards().join("");
            // a 400 naming the files when none is an image; they are listed below, nothing is counted
            status.textContent = answer.json.error || "Classification failed.";
            return;
          }
          var cards = [];
          var classified = 0;
          var unusable = local.length;
          answered.forEach(function (r, i) {
            if (r.not_image) return;
            if (r.predictions && !r.error) classified += 1; else unusable += 1;
            cards.push(resultCard(sent[i], r));
          });
          results.innerHTML = cards.concat(localCards()).join("");
          status.textContent = summary(classified, notImages.length + refused.length, unusable);
        })
        .catch(function () { status.textContent = "Could not reach the server; try again."; })
        .finally(function () { button.disabled = false; });
    });
  }

  function setupCopy() {
    var button = document.getElementById("copy-snippet");
    var code = document.getElementById("snippet-code");
    if (!button || !code) return;
    button.addEventListener("click", function () {
      var text = code.textContent;
      var done = function () { button.textContent = "Copied"; setTimeout(function () { button.textContent = "Copy"; }, 1500); };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done);
      } else {
        var area = document.createElement("textarea");
        area.value = text; document.body.appendChild(area); area.select();
        document.execCommand("copy"); document.body.removeChild(area); done();
      }
    });
  }

  drawCurves();
  watchEvaluation();
  setupExports();
  setupTryIt();
  setupCopy();
})();
