// synthtrace web UI: upload, show the server-rendered result panel, history, notes.
// Server fragments are escaped by jinja2; text from JSON is set with textContent only.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const status = $("status");

  function headers(extra) {
    const h = Object.assign({ "X-Synthtrace-UI": "1" }, extra || {});
    const token = sessionStorage.getItem("synthtrace-token");
    if (token) h["Authorization"] = "Bearer " + token;
    return h;
  }

  async function api(url, opts) {
    const o = Object.assign({ credentials: "same-origin" }, opts || {});
    o.headers = headers(o.headers);
    const r = await fetch(url, o);
    if (!r.ok) {
      let msg = r.status + " " + r.statusText;
      try { const j = await r.json(); if (j && j.error) msg = j.error.message + " (" + j.error.code + ")"; } catch (e) { /* not JSON */ }
      throw new Error(msg);
    }
    return r;
  }

  function say(text, isError) {
    status.textContent = text;
    status.classList.toggle("error", !!isError);
  }

  async function showScan(id) {
    const r = await api("/ui/scans/" + encodeURIComponent(id));
    const result = $("result");
    result.innerHTML = await r.text();
    const h = $("result-h");
    if (h) h.focus();
    wirePanel();
  }

  function wirePanel() {
    // Export links work by navigation with the UI cookie; with a token (remote use) fetch and save instead.
    document.querySelectorAll("#result a[data-export]").forEach((a) => {
      a.addEventListener("click", async (ev) => {
        if (!sessionStorage.getItem("synthtrace-token")) return;
        ev.preventDefault();
        try {
          const blob = await (await api(a.getAttribute("href"))).blob();
          const url = URL.createObjectURL(blob);
          const tmp = document.createElement("a");
          tmp.href = url;
          tmp.download = a.dataset.export;
          document.body.appendChild(tmp);
          tmp.click();
          tmp.remove();
          setTimeout(() => URL.revokeObjectURL(url), 10000);
        } catch (e) { say("Export failed: " + e.message, true); }
      });
    });
    const form = $("note-form");
    if (form) {
      form.addEventListener("submit", async (ev) => {
        ev.preventDefault();
        const id = form.dataset.scanId;
        try {
          await api("/v1/scans/" + encodeURIComponent(id) + "/note", {
            method: "PUT", headers: { "Content-Type": "application/json" },
            body: JSON.stringify({ note: $("note-input").value }),
          });
          $("note-status").textContent = "Note saved.";
          loadHistory();
        } catch (e) { $("note-status").textContent = "Could not save: " + e.message; }
      });
    }
    const del = $("delete-button");
    if (del) {
      del.addEventListener("click", async () => {
        if (!window.confirm("Delete this scan and its evidence?")) return;
        try {
          await api("/v1/scans/" + encodeURIComponent(del.dataset.scanId), { method: "DELETE" });
          $("result").innerHTML = '<h2 id="result-h" tabindex="-1">Result</h2><p class="muted">Scan deleted.</p>';
          $("result-h").focus();
          loadHistory();
        } catch (e) { $("note-status").textContent = "Could not delete: " + e.message; }
      });
    }
  }

  async function loadHistory() {
    const q = $("search-input").value;
    const v = $("verdict-filter").value;
    const params = new URLSearchParams();
    if (q) params.set("q", q);
    if (v) params.set("verdict", v);
    try {
      const r = await api("/ui/history?" + params.toString());
      $("history").innerHTML = await r.text();
      document.querySelectorAll("#history .history-item").forEach((b) => {
        b.addEventListener("click", () => showScan(b.dataset.scan).catch((e) => say(e.message, true)));
      });
    } catch (e) {
      $("history").textContent = "History not available: " + e.message;
    }
  }

  async function waitForJob(jobId) {
    for (;;) {
      const j = await (await api("/v1/jobs/" + encodeURIComponent(jobId))).json();
      say("Scanning… " + j.done + " of " + j.total + " done.");
      if (j.status === "done" || j.status === "failed") return j;
      await new Promise((res) => setTimeout(res, 500));
    }
  }

  async function upload(files) {
    if (!files || !files.length) { say("Choose one or more images first.", true); return; }
    const fd = new FormData();
    for (const f of files) fd.append("files", f, f.name);
    fd.append("detector", $("detector-select").value);
    fd.append("figures", "true");
    say("Uploading and scanning " + files.length + " file" + (files.length > 1 ? "s" : "") + "…");
    $("scan-button").disabled = true;
    try {
      const r = await api("/v1/scans", { method: "POST", body: fd });
      const batch = await r.json();
      let ids = batch.scans.map((s) => s.id);
      if (r.status === 202) {
        const job = await waitForJob(batch.job.id);
        ids = job.scan_ids;
      }
      say("Done: " + ids.length + " scan" + (ids.length === 1 ? "" : "s") + " stored.");
      if (ids.length) await showScan(ids[0]);
      loadHistory();
    } catch (e) {
      say("Scan failed: " + e.message, true);
    } finally {
      $("scan-button").disabled = false;
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    const drop = $("drop-zone");
    const input = $("file-input");
    ["dragenter", "dragover"].forEach((t) => drop.addEventListener(t, (ev) => { ev.preventDefault(); drop.classList.add("over"); }));
    ["dragleave", "drop"].forEach((t) => drop.addEventListener(t, () => drop.classList.remove("over")));
    drop.addEventListener("drop", (ev) => { ev.preventDefault(); upload(ev.dataTransfer.files); });
    drop.addEventListener("click", () => input.click());
    drop.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); input.click(); }
    });
    $("upload-form").addEventListener("submit", (ev) => { ev.preventDefault(); upload(input.files); });
    $("search-form").addEventListener("submit", (ev) => { ev.preventDefault(); loadHistory(); });
    const tf = $("token-form");
    if (tf) tf.addEventListener("submit", (ev) => {
      ev.preventDefault();
      sessionStorage.setItem("synthtrace-token", $("token-input").value.trim());
      loadHistory();
    });
    loadHistory();
    document.body.dataset.ready = "1";  // for tests: every handler is attached
  });
})();
