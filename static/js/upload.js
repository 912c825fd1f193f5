// Upload page: drag-and-drop or file picker, then an XHR upload with a real progress bar.
(function () {
  "use strict";
  const form = document.getElementById("upload-form");
  if (!form) return;
  const input = document.getElementById("id_file");
  const nameInput = document.getElementById("id_name");
  const zone = document.getElementById("dropzone");
  const title = document.getElementById("dropzone-title");
  const detail = document.getElementById("dropzone-detail");
  const errorBox = document.getElementById("upload-error");
  const progress = document.getElementById("upload-progress");
  const bar = document.getElementById("upload-bar");
  const percent = document.getElementById("upload-percent");
  const progressDetail = document.getElementById("upload-detail");
  const button = document.getElementById("upload-button");
  const cancel = document.getElementById("cancel-button");
  let nameTouched = false;
  let xhr = null;

  const maxBytes = () => Number(form.dataset.maxBytes);

  const formatBytes = window.Fmt.size; // static/js/format.js

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = !message;
  }

  function chosen(file) {
    showError("");
    zone.classList.toggle("has-file", Boolean(file));
    if (!file) return;
    title.textContent = file.name;
    detail.textContent = formatBytes(file.size);
    if (!nameTouched || !nameInput.value) nameInput.value = file.name.replace(/\.zip$/i, "");
    if (file.size > maxBytes()) showError("The file is " + formatBytes(file.size) + "; the largest upload accepted is " + form.dataset.maxSize + ".");
    else if (!/\.zip$/i.test(file.name)) showError("This does not look like a .zip file; ingestion will refuse anything but a zip.");
  }

  nameInput.addEventListener("input", () => { nameTouched = true; });
  input.addEventListener("change", () => chosen(input.files[0]));
  ["dragenter", "dragover"].forEach((type) => zone.addEventListener(type, (event) => {
    event.preventDefault();
    zone.classList.add("dragover");
  }));
  ["dragleave", "drop"].forEach((type) => zone.addEventListener(type, () => zone.classList.remove("dragover")));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    const files = event.dataTransfer.files;
    if (!files.length) return;
    const transfer = new DataTransfer();
    transfer.items.add(files[0]);
    input.files = transfer.files;
    chosen(files[0]);
  });

  function setBusy(busy) {
    button.disabled = busy;
    input.disabled = busy;
    cancel.hidden = !busy;
    progress.hidden = false;
  }

  function setProgress(fraction, text) {
    const pct = Math.round(fraction * 100);
    bar.style.width = pct + "%";
    percent.textContent = pct + "%";
    progressDetail.textContent = text || "";
  }

  cancel.addEventListener("click", () => { if (xhr) xhr.abort(); });

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const file = input.files[0];
    if (!file) { showError("Choose a .zip file first (drop it on the box or click it)."); return; }
    if (file.size > maxBytes()) { chosen(file); return; }
    showError("");
    const data = new FormData(form);  // csrf token, name and file
    xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
    xhr.setRequestHeader("Accept", "application/json");
    const started = Date.now();
    xhr.upload.addEventListener("progress", (e) => {
      if (!e.lengthComputable) return;
      const seconds = (Date.now() - started) / 1000;
      const rate = seconds > 0 ? e.loaded / seconds : 0;
      setProgress(e.loaded / e.total, formatBytes(e.loaded) + " of " + formatBytes(e.total) + (rate ? " · " + formatBytes(rate) + "/s" : ""));
    });
    xhr.upload.addEventListener("load", () => setProgress(1, "Uploaded; saving…"));
    xhr.addEventListener("load", () => {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (err) { body = {}; }
      if (xhr.status === 201 && body.url) { window.location.assign(body.url); return; }
      setBusy(false);
      progress.hidden = true;
      showError(body.error || ("The upload failed (HTTP " + xhr.status + "). Try again."));
    });
    xhr.addEventListener("error", () => { setBusy(false); progress.hidden = true; showError("The connection was lost during the upload; nothing was kept. Try again."); });
    xhr.addEventListener("abort", () => { setBusy(false); progress.hidden = true; showError("Upload cancelled; nothing was kept."); });
    setBusy(true);
    setProgress(0, "Starting…");
    xhr.send(data);
  });
})();
