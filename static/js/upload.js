// Upload page: drag-and-drop or file picker, then an XHR upload with a real progress bar.
// Only a .zip that starts like one (PK\x03\x04), is not empty and fits the server's limit
// (data-max-bytes, from settings.UPLOAD_MAX_BYTES) enables the Upload button; anything else
// is said in the error message style and the drop box shows its error state.
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
  const notice = document.getElementById("upload-notice");
  const progress = document.getElementById("upload-progress");
  const bar = document.getElementById("upload-bar");
  const percent = document.getElementById("upload-percent");
  const progressDetail = document.getElementById("upload-detail");
  const button = document.getElementById("upload-button");
  const cancel = document.getElementById("cancel-button");
  const initialTitle = title.textContent;
  const initialDetail = detail.textContent;
  const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04]; // "PK\x03\x04": the first local file header of a zip
  const EMPTY_ZIP_MAGIC = [0x50, 0x4b, 0x05, 0x06]; // a zip with no entries at all
  let nameTouched = false;
  let xhr = null;
  let valid = false; // the chosen file passed every check
  let checking = 0; // which choice the running byte check belongs to

  const maxBytes = () => Number(form.dataset.maxBytes); // read each time: a test may lower it
  const formatBytes = window.Fmt.size; // static/js/format.js

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = !message;
  }

  function showNotice(message) {
    notice.textContent = message;
    notice.hidden = !message;
  }

  function setState(state) {
    // state: "empty" (nothing chosen), "ok" (a zip), "error" (something that will not be accepted)
    zone.classList.toggle("has-file", state === "ok");
    zone.classList.toggle("has-error", state === "error");
    input.setAttribute("aria-invalid", state === "error" ? "true" : "false");
    valid = state === "ok";
    button.disabled = !valid || xhr !== null;
  }

  function refuse(message) {
    setState("error");
    showError(message);
  }

  // The reason the file cannot be uploaded, from what is known without reading it; "" if none.
  function problemOf(file) {
    if (!/\.zip$/i.test(file.name)) {
      return "“" + file.name + "” is not a .zip file. Choose the dataset's .zip (one folder per class inside).";
    }
    if (file.size === 0) return "“" + file.name + "” is empty (0 B). Choose the dataset's .zip.";
    if (file.size > maxBytes()) {
      return "The file is " + formatBytes(file.size) + "; the largest upload accepted is " + form.dataset.maxSize + ".";
    }
    return "";
  }

  function startsWith(bytes, magic) {
    return magic.every((b, i) => bytes[i] === b);
  }

  // The first bytes of a zip are PK\x03\x04: a renamed JPEG or PDF is caught before it is sent.
  function checkBytes(file, token) {
    if (!file.slice || !file.slice(0, 4).arrayBuffer) return;
    file.slice(0, 4).arrayBuffer().then((buffer) => {
      if (token !== checking) return; // another file was chosen meanwhile
      const bytes = new Uint8Array(buffer);
      if (startsWith(bytes, ZIP_MAGIC)) return;
      if (startsWith(bytes, EMPTY_ZIP_MAGIC)) refuse("“" + file.name + "” is an empty zip: it holds no files.");
      else refuse("“" + file.name + "” is named .zip but is not a zip archive (it does not start like one). Choose the dataset's .zip.");
    }, () => {
      if (token === checking) refuse("“" + file.name + "” could not be read. Choose it again.");
    });
  }

  function chosen(file) {
    showError("");
    showNotice("");
    checking += 1;
    if (!file) {
      title.textContent = initialTitle;
      detail.textContent = initialDetail;
      setState("empty");
      return;
    }
    title.textContent = file.name;
    detail.textContent = formatBytes(file.size);
    const problem = problemOf(file);
    if (problem) { refuse(problem); return; }
    if (!nameTouched || !nameInput.value) nameInput.value = file.name.replace(/\.zip$/i, "");
    setState("ok");
    checkBytes(file, checking);
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
    if (xhr) return; // an upload is running: the input is locked
    const files = event.dataTransfer.files;
    if (!files.length) return;
    const transfer = new DataTransfer();
    transfer.items.add(files[0]);
    input.files = transfer.files;
    chosen(files[0]);
  });

  function setBusy(busy) {
    input.disabled = busy;
    nameInput.readOnly = busy;
    cancel.hidden = !busy;
    progress.hidden = !busy;
    button.disabled = busy || !valid;
  }

  function setProgress(fraction, text) {
    const pct = Math.round(fraction * 100);
    bar.style.width = pct + "%";
    percent.textContent = pct + "%";
    progressDetail.textContent = text || "";
  }

  function finished() {
    xhr = null;
    setBusy(false);
  }

  // Back to an empty form, as when the page was opened.
  function resetForm() {
    form.reset();
    nameTouched = false;
    setProgress(0, "");
    chosen(null);
  }

  cancel.addEventListener("click", () => { if (xhr) xhr.abort(); });

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (xhr) return;
    const file = input.files[0];
    if (!file) { refuse("Choose a .zip file first (drop it on the box or click it)."); return; }
    const problem = problemOf(file);
    if (problem) { refuse(problem); return; }
    if (!valid) return; // the byte check refused it; its message is shown
    showError("");
    showNotice("");
    const data = new FormData(form); // csrf token, name and file
    const request = new XMLHttpRequest();
    xhr = request;
    request.open("POST", form.action);
    request.setRequestHeader("X-Requested-With", "XMLHttpRequest");
    request.setRequestHeader("Accept", "application/json");
    const started = Date.now();
    request.upload.addEventListener("progress", (e) => {
      if (!e.lengthComputable) return;
      const seconds = (Date.now() - started) / 1000;
      const rate = seconds > 0 ? e.loaded / seconds : 0;
      setProgress(e.loaded / e.total, formatBytes(e.loaded) + " of " + formatBytes(e.total) + (rate ? " · " + formatBytes(rate) + "/s" : ""));
    });
    request.upload.addEventListener("load", () => setProgress(1, "Uploaded; saving…"));
    request.addEventListener("load", () => {
      let body = {};
      try { body = JSON.parse(request.responseText); } catch (err) { body = {}; }
      if (request.status === 201 && body.url) { window.location.assign(body.url); return; }
      finished();
      showError(body.error || ("The upload failed (HTTP " + request.status + "). Try again."));
    });
    request.addEventListener("error", () => {
      finished();
      showError("The connection was lost during the upload; nothing was kept. Try again.");
    });
    request.addEventListener("abort", () => {
      finished();
      resetForm();
      showNotice("Upload cancelled; nothing was kept. Choose a .zip to upload again.");
    });
    setBusy(true);
    setProgress(0, "Starting…");
    request.send(data);
  });

  if (input.files && input.files[0]) chosen(input.files[0]); // a file kept by the browser's back button
  else setState("empty");
})();
