// avemotion web page: upload, progress (server-sent events, polling as fallback), player + emotion timeline.
// Plain JavaScript, no libraries. The recording is played from the browser's own copy (object URL).
"use strict";

// matplotlib's default colour cycle (tab10), so the page and the downloaded PNG agree
const COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
  "#bcbd22", "#17becf"];
const LANES = { fused: "#555555", audio: "#1b7837", video: "#762a83" };
const HEAD_NAMES = { fused: "fused", audio: "audio", video: "face" };
const $ = (id) => document.getElementById(id);

// gen: which page job is current. Every upload or sample increments it; replies, events and polls of an older
// one see a different number and are ignored (its server job is cancelled).
const state = { file: null, url: null, job: null, result: null, player: null, bounds: [], raf: 0, static: null,
  gen: 0, model: null, events: null, upload: null, mode: "timeline" };

function show(id, on) { $(id).hidden = !on; }
function message(text, note) {
  $("message").textContent = text || "";
  $("message").classList.toggle("note", !!note);
  show("message", !!text);
}
function fmtTime(t) {
  const m = Math.floor(t / 60), s = t - 60 * m;
  return `${m}:${s.toFixed(1).padStart(4, "0")}`;
}
function fmtWait(s) {
  if (s == null) return "";
  return s < 60 ? `about ${Math.max(1, Math.round(s))} s` : `about ${Math.round(s / 60)} min`;
}
function colour(label) { return COLOURS[state.result.labels.indexOf(label) % COLOURS.length]; }
// the heads whose predictions enter the model's decision (the server says; all three when it does not)
function heads() { return (state.model && state.model.heads) || ["fused", "audio", "video"]; }
function lanes() { return heads().filter((h) => h in LANES); }
function decisionLabel() {
  const h = heads();
  return h.includes("fused") ? "lanes: share of the fused, audio and face predictions in the decision"
    : `decision-level: ${h.map((x) => HEAD_NAMES[x] || x).join(" + ")}`;
}
function threshold() { return state.model ? state.model.uncertain_below : null; }
function isUncertain(p) { const t = threshold(); return t != null && p != null && p < t; }
function thresholdNote() {
  const t = threshold();
  const n = state.result ? state.result.labels.length : (state.model ? state.model.labels.length : 0);
  const chance = n ? ` Chance level with ${n} classes: ${(1 / n).toFixed(2)}.` : "";
  return t == null ? "This model has no measured confidence threshold, so no answer is marked uncertain." + chance
    : `Uncertain: confidence below ${t.toFixed(2)}. On speakers held out from training, answers below that `
      + `confidence were right less than half the time.${chance}`;
}

// ---- set-up --------------------------------------------------------------------------------------------
async function init() {
  try {
    const health = await (await fetch("/api/health")).json();
    const m = health.model;
    state.model = m;
    const line = `model: ${m.run || m.model} (${m.modality}; ${m.labels.join(", ")})`;
    $("model-info").textContent = line;
    $("model-info").title = line;
    $("limits").textContent = `up to ${health.limits.max_upload_mb} MiB`;
    $("window").placeholder = health.limits.window;
    $("hop").placeholder = health.limits.hop;
    sessionSetup(health);
  } catch (err) {
    message("The server does not answer: " + err);
  }
  const drop = $("drop"), input = $("file-input");
  $("pick").addEventListener("click", () => input.click());
  $("sample").addEventListener("click", trySample);
  $("cancel").addEventListener("click", cancel);
  input.addEventListener("change", () => { if (input.files.length) start(input.files[0]); input.value = ""; });
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, (e) => { e.preventDefault(); drop.classList.add("over"); });
  }
  for (const type of ["dragleave", "drop"]) {
    drop.addEventListener(type, (e) => { e.preventDefault(); drop.classList.remove("over"); });
  }
  drop.addEventListener("drop", (e) => { if (e.dataTransfer.files.length) start(e.dataTransfer.files[0]); });
  $("again").addEventListener("click", reset);
  $("session-again").addEventListener("click", reset);
  // window and hop are timeline settings: hidden while the session mode is chosen
  for (const radio of document.querySelectorAll("input[name=mode]")) {
    radio.addEventListener("change", () => show("settings", !sessionMode()));
  }
  const canvas = $("timeline");
  canvas.addEventListener("click", seekFromCanvas);
  canvas.addEventListener("mousemove", tooltip);
  canvas.addEventListener("mouseleave", () => show("tip", false));
  // redraw when the canvas gets its size (or a new one): layout can come after the result is shown
  let lastWidth = 0;
  new ResizeObserver(() => {
    if (state.result && canvas.clientWidth > 0 && canvas.clientWidth !== lastWidth) {
      lastWidth = canvas.clientWidth;
      drawTimeline();
    }
  }).observe(canvas);
  for (const el of [$("video"), $("audio")]) {
    el.addEventListener("timeupdate", updateNow);
    el.addEventListener("seeked", updateNow);
    el.addEventListener("play", loop);
    el.addEventListener("error", () => {
      if (!state.player) return;
      $("player-note").textContent = "This browser cannot play this file's format; the timeline is still shown "
        + "(click it to move the cursor).";
      show("player-note", true);
    });
  }
}

function clearResult() {
  for (const el of [$("video"), $("audio")]) { el.pause(); el.removeAttribute("src"); el.load(); el.hidden = true; }
  if (state.url) URL.revokeObjectURL(state.url);
  Object.assign(state, { url: null, result: null, player: null, cursor: null, static: null });
  show("result", false); show("player-note", false); show("tip", false);
  clearSession();
}

// stop following the current job; cancel it on the server when it has not ended
function abandon() {
  state.gen += 1;
  if (state.events) { state.events.close(); state.events = null; }
  if (state.upload) { state.upload.abort(); state.upload = null; }
  const job = state.job;
  state.job = null;
  if (job) fetch(`/api/jobs/${job}`, { method: "DELETE" }).catch(() => {});
}

function reset() {
  abandon();
  clearResult();
  state.file = null;
  show("progress-box", false); show("upload", true); message("");
  $("file-input").value = "";
}

function cancel() {
  const name = state.file ? state.file.name : "the recording";
  reset();
  message(`Cancelled: ${name} is not analysed.`, true);
  $("pick").focus();
}

async function trySample() {
  const button = $("sample");
  button.disabled = true;
  try {
    const reply = await fetch("/static/sample.mp4");
    if (!reply.ok) throw new Error(`the server answered ${reply.status}`);
    const blob = await reply.blob();
    start(new File([blob], "avemotion-sample.mp4", { type: "video/mp4" }));
  } catch (err) {
    message("Could not load the sample: " + err);
  } finally {
    button.disabled = false;
  }
}

// ---- upload and progress -----------------------------------------------------------------------------------
async function start(file) {
  abandon();  // one job per page: a new file replaces the one in progress
  const gen = state.gen;
  clearResult();
  message("");
  state.file = file;
  $("progress-name").textContent = file.name;
  $("progress-text").textContent = "uploading…";
  $("progress").removeAttribute("value");
  show("progress-box", true);
  state.mode = sessionMode() ? "session" : "timeline";  // fixed for this job, whatever is clicked meanwhile
  const body = new FormData();
  body.append("file", file);
  if (state.mode === "timeline") {
    for (const name of ["window", "hop"]) { if ($(name).value) body.append(name, $(name).value); }
  }
  const upload = new AbortController();
  state.upload = upload;
  let reply, data;
  try {
    reply = await fetch(`/api/${state.mode}`, { method: "POST", body, signal: upload.signal });
    data = await reply.json().catch(() => ({}));
  } catch (err) {
    if (gen === state.gen) fail("Upload failed: " + err);
    return;
  }
  if (gen !== state.gen) {  // replaced or cancelled while uploading: the job is not wanted
    if (reply.ok && data.job) fetch(`/api/jobs/${data.job}`, { method: "DELETE" }).catch(() => {});
    return;
  }
  state.upload = null;
  if (!reply.ok) return fail(data.detail || `the server answered ${reply.status}`);
  state.job = data.job;
  follow(data.job, gen);
}

function fail(text) {
  state.job = null;
  show("progress-box", false);
  message(text);
}

function onProgress(job) {
  const p = job.progress;
  if (job.status === "queued") {
    const q = job.queue || {};
    const wait = fmtWait(q.wait_estimate_s);
    $("progress-text").textContent = q.position ? `waiting: number ${q.position} in the queue`
      + (wait ? `, starts in ${wait}` : "") : "waiting for a worker…";
    $("progress").removeAttribute("value");
  } else if (p.total) {
    $("progress").max = p.total;
    $("progress").value = p.done;
    const left = fmtWait(job.remaining_estimate_s);
    const what = job.kind === "session" ? sessionProgressText(job) : `window ${p.done} of ${p.total}`;
    $("progress-text").textContent = what + (left ? ` · ${left} left` : "");
  }
}

function follow(id, gen) {
  let finished = false;
  const current = () => gen === state.gen && state.job === id;
  const finish = async (job) => {
    if (finished || !current()) return;
    finished = true;
    if (job.status === "failed") return fail(job.error);
    if (job.status === "cancelled") { reset(); message("The job was cancelled.", true); return; }
    const reply = await fetch(`/api/jobs/${id}`);
    const full = await reply.json().catch(() => ({}));
    if (!current()) return;
    if (!reply.ok || !full.result) return fail(full.detail || `the server answered ${reply.status}`);
    if (full.kind === "session") {
      show("progress-box", false); show("upload", false);
      renderSession(id, full.result, state.file);
      return;
    }
    render(full.result);
  };
  if (!window.EventSource) return poll(id, finish, current);
  const events = new EventSource(`/api/jobs/${id}/events`);
  state.events = events;
  events.addEventListener("progress", (e) => { if (current()) onProgress(JSON.parse(e.data)); });
  for (const kind of ["done", "failed", "cancelled"]) {
    events.addEventListener(kind, (e) => { events.close(); finish(JSON.parse(e.data)); });
  }
  events.onerror = () => { events.close(); if (!finished && current()) poll(id, finish, current); };
}

async function poll(id, finish, current) {
  while (current()) {
    const reply = await fetch(`/api/jobs/${id}`);
    const job = await reply.json().catch(() => ({}));
    if (!current()) return;
    if (!reply.ok) return fail(job.detail || `the server answered ${reply.status}`);
    onProgress(job);
    if (["done", "failed", "cancelled"].includes(job.status)) return finish(job);
    await new Promise((r) => setTimeout(r, 500));
  }
}

// ---- result ------------------------------------------------------------------------------------------------
function render(result) {
  state.result = result;
  const w = result.windows;
  const centres = w.map((x) => (x.start + x.end) / 2);
  state.bounds = [w[0].start, ...centres.slice(1).map((c, i) => (c + centres[i]) / 2), w[w.length - 1].end];
  const isVideo = result.media ? result.media.has_video : state.file.type.startsWith("video");
  const player = isVideo ? $("video") : $("audio");
  state.url = URL.createObjectURL(state.file);
  player.src = state.url;
  player.hidden = false;
  state.player = player;
  $("result-name").textContent = result.filename;
  show("progress-box", false); show("upload", false); show("result", true);
  state.shown = null;
  renderLegend(); renderSegments(); renderSummary(); setDownloads();
  drawTimeline();
  updateNow();
}

function renderLegend() {
  const box = $("legend");
  box.replaceChildren(...state.result.labels.map((label) => {
    const item = document.createElement("span");
    item.className = "key";
    const swatch = document.createElement("i");
    swatch.style.background = colour(label);  // CSSOM: allowed by the server's style policy
    item.append(swatch, label);
    return item;
  }));
  const none = document.createElement("span");
  none.className = "key";
  const grey = document.createElement("i");
  grey.className = "nosignal";
  none.append(grey, "no usable signal");
  const note = document.createElement("span");
  note.id = "lanes-note";
  note.className = "muted";
  note.textContent = decisionLabel();
  box.append(none, note);
}

function renderSegments() {
  const body = $("segments").tBodies[0];
  body.replaceChildren(...state.result.segments.map((s) => {
    const row = document.createElement("tr");
    row.tabIndex = 0;
    const cells = [fmtTime(s.start), fmtTime(s.end), s.emotion || "no usable signal",
      s.mean_confidence == null ? "–" : s.mean_confidence.toFixed(2)];
    for (const text of cells) { const td = document.createElement("td"); td.textContent = text; row.append(td); }
    if (isUncertain(s.mean_confidence)) {
      for (const k of [2, 3]) { row.cells[k].classList.add("uncertain"); row.cells[k].title = thresholdNote(); }
      row.cells[3].append(" (uncertain)");
    }
    if (s.emotion) {
      const dot = document.createElement("i");
      dot.className = "dot";
      dot.style.background = colour(s.emotion);
      row.cells[2].prepend(dot);
    }
    row.addEventListener("click", () => seek(s.start));
    row.addEventListener("keydown", (e) => { if (e.key === "Enter") seek(s.start); });
    return row;
  }));
}

function renderSummary() {
  const s = state.result.summary;
  const shares = Object.entries(s.share).filter(([, v]) => v > 0).sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${(100 * v).toFixed(0)}%`).join(", ");
  $("summary").textContent = s.dominant ? `overall: ${s.dominant} (${shares}); ${s.predicted} of ${s.windows} windows`
    : "no window could be predicted";
}

function setDownloads() {
  for (const fmt of ["csv", "json", "png"]) {
    const a = $(`dl-${fmt}`);
    a.href = `/api/jobs/${state.job}/timeline.${fmt}`;
    const stem = state.result.filename.replace(/\.[^.]*$/, "");
    a.download = `${stem}.timeline.${fmt}`;
    a.textContent = `${stem}.timeline.${fmt}`;
  }
}

// ---- timeline drawing ----------------------------------------------------------------------------------------
const LAYOUT = { left: 58, right: 24, top: 8, area: 140, gap: 10, lane: 22, laneGap: 4, axis: 22 };

function geometry() {
  const canvas = $("timeline");
  const width = canvas.clientWidth;
  const height = LAYOUT.top + LAYOUT.area + LAYOUT.gap + lanes().length * (LAYOUT.lane + LAYOUT.laneGap) + LAYOUT.axis;
  const duration = state.result.duration || 1;
  const x = (t) => LAYOUT.left + (width - LAYOUT.left - LAYOUT.right) * t / duration;
  const t = (px) => Math.min(duration, Math.max(0, (px - LAYOUT.left) * duration / (width - LAYOUT.left - LAYOUT.right)));
  return { canvas, width, height, duration, x, t };
}

function drawTimeline() {
  const g = geometry();
  if (g.width <= 0) return;  // not laid out yet: the ResizeObserver draws it when it is
  const ratio = window.devicePixelRatio || 1;
  const off = document.createElement("canvas");
  off.width = g.canvas.width = Math.round(g.width * ratio);
  off.height = g.canvas.height = Math.round(g.height * ratio);
  g.canvas.style.height = `${g.height}px`;
  const ctx = off.getContext("2d");
  ctx.scale(ratio, ratio);
  const { labels, windows } = state.result;
  const top = LAYOUT.top, bottom = LAYOUT.top + LAYOUT.area;
  const y = (p) => bottom - p * LAYOUT.area;
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, g.width, g.height);
  // windows without a prediction: hatched grey over their own span
  ctx.fillStyle = "#e3e3e3";
  windows.forEach((w, i) => {
    if (!w.emotion) ctx.fillRect(g.x(state.bounds[i]), top, g.x(state.bounds[i + 1]) - g.x(state.bounds[i]), LAYOUT.area);
  });
  // stacked class probabilities at each window's centre; each run of predicted windows is drawn on its own,
  // held out to the run's edges (as the PNG, which holds the first and last window to the recording's edges)
  let i = 0;
  while (i < windows.length) {
    if (!windows[i].emotion) { i++; continue; }
    let j = i;
    while (j + 1 < windows.length && windows[j + 1].emotion) j++;
    const run = windows.slice(i, j + 1);
    const pts = [state.bounds[i], ...run.map((w) => (w.start + w.end) / 2), state.bounds[j + 1]];
    const probs = run.map((w) => labels.map((l) => w.probabilities[l]));
    drawStack(ctx, g, y, pts, [probs[0], ...probs, probs[probs.length - 1]]);
    i = j + 1;
  }
  ctx.strokeStyle = "#999";
  ctx.lineWidth = 1;
  ctx.strokeRect(LAYOUT.left + 0.5, top + 0.5, g.x(g.duration) - LAYOUT.left, LAYOUT.area);
  ctx.fillStyle = "#333";
  ctx.font = "11px system-ui, sans-serif";
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (const p of [0, 0.5, 1]) ctx.fillText(p.toFixed(1), LAYOUT.left - 6, y(p));
  ctx.save();
  ctx.translate(12, top + LAYOUT.area / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.textAlign = "center";
  ctx.fillText("probability", 0, 0);
  ctx.restore();
  // one lane per head: the share of the decision from the fused, audio and video predictions
  lanes().forEach((name, j) => {
    const tint = LANES[name];
    const ly = bottom + LAYOUT.gap + j * (LAYOUT.lane + LAYOUT.laneGap);
    ctx.fillStyle = "#f4f4f4";
    ctx.fillRect(LAYOUT.left, ly, g.x(g.duration) - LAYOUT.left, LAYOUT.lane);
    ctx.fillStyle = tint;
    windows.forEach((w, i) => {
      if (!w.contributions) return;
      const share = w.contributions[name] || 0;
      const h = share * LAYOUT.lane;
      ctx.fillRect(g.x(state.bounds[i]), ly + LAYOUT.lane - h, g.x(state.bounds[i + 1]) - g.x(state.bounds[i]), h);
    });
    ctx.fillStyle = "#333";
    ctx.textAlign = "right";
    ctx.fillText(HEAD_NAMES[name], LAYOUT.left - 6, ly + LAYOUT.lane / 2);
  });
  // time axis
  const axisY = g.height - LAYOUT.axis + 4;
  const step = niceStep(g.duration, (g.width - LAYOUT.left) / 70);
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  for (let t = 0; t <= g.duration + 1e-9; t += step) {
    ctx.fillRect(g.x(t), axisY - 4, 1, 4);
    ctx.fillText(step < 1 ? `${t.toFixed(1)} s` : `${Math.round(t)} s`, g.x(t), axisY + 3);
  }
  state.static = off;
  paintCursor();
}

function drawStack(ctx, g, y, pts, rows) {
  const cum = rows.map(() => 0);
  state.result.labels.forEach((label, k) => {
    const lower = cum.slice();
    rows.forEach((r, i) => { cum[i] += r[k]; });
    ctx.beginPath();
    pts.forEach((t, i) => (i ? ctx.lineTo(g.x(t), y(cum[i])) : ctx.moveTo(g.x(t), y(cum[i]))));
    for (let i = pts.length - 1; i >= 0; i--) ctx.lineTo(g.x(pts[i]), y(lower[i]));
    ctx.closePath();
    ctx.fillStyle = COLOURS[k % COLOURS.length];
    ctx.globalAlpha = 0.85;
    ctx.fill();
    ctx.globalAlpha = 1;
  });
}

function niceStep(duration, maxTicks) {
  const raw = duration / Math.max(1, maxTicks);
  for (const s of [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600]) if (s >= raw) return s;
  return 1200;
}

function paintCursor() {
  if (!state.static || !state.static.width || !state.static.height) return;
  const g = geometry();
  const ctx = g.canvas.getContext("2d");
  const ratio = window.devicePixelRatio || 1;
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.drawImage(state.static, 0, 0);
  ctx.scale(ratio, ratio);
  const now = currentTime();
  ctx.fillStyle = "#000";
  ctx.fillRect(Math.round(g.x(now)) - 1, LAYOUT.top - 4, 2, g.height - LAYOUT.axis - LAYOUT.top + 4);
}

// ---- playback link -------------------------------------------------------------------------------------------
function currentTime() { return state.player && !Number.isNaN(state.player.currentTime) ? (state.cursor ?? state.player.currentTime) : 0; }

function seek(t) {
  if (state.player) {
    try { state.player.currentTime = t; } catch (err) { /* not seekable yet */ }
  }
  state.cursor = t;  // until the player reports the new position
  updateNow();
}

function seekFromCanvas(event) {
  const rect = event.currentTarget.getBoundingClientRect();
  seek(geometry().t(event.clientX - rect.left));
}

function windowAt(t) {
  const b = state.bounds;
  for (let i = 0; i < b.length - 1; i++) if (t < b[i + 1] || i === b.length - 2) return i;
  return -1;
}

function updateNow(event) {
  if (!state.result) return;
  if (event && state.player && (event.type === "timeupdate" || event.type === "seeked")) state.cursor = null;
  const t = currentTime();
  const i = windowAt(t);
  const w = state.result.windows[i];
  const el = $("now-emotion");
  if (i !== state.shown) {  // the panel changes with the window, not with each frame
    state.shown = i;
    const uncertain = !!(w && w.emotion && isUncertain(w.confidence));
    el.classList.toggle("uncertain", uncertain);
    show("now-flag", uncertain);
    $("now-flag").title = thresholdNote();
    $("top3").classList.toggle("uncertain", uncertain);
    if (w && w.emotion) {
      el.textContent = w.emotion;
      el.style.color = uncertain ? "#8a8a8f" : colour(w.emotion);  // muted: not a confident answer
      renderTop3(w);
    } else {
      el.textContent = "no usable signal";
      el.style.color = "#777";
      $("top3").replaceChildren();
    }
  }
  let detail = fmtTime(t);
  if (w && w.emotion) {
    const c = w.contributions || {};
    const shares = heads().filter((h) => h in c).map((h) => `${HEAD_NAMES[h] || h} ${c[h].toFixed(2)}`);
    const how = heads().includes("fused") ? "share of the decision" : `share of the decision (${decisionLabel()})`;
    detail += ` · p ${w.confidence.toFixed(2)}` + (shares.length ? ` · ${how}: ${shares.join(", ")}` : "");
  } else if (w && w.error) {
    detail += " · " + w.error;
  }
  $("now-detail").textContent = detail;
  paintCursor();
}

function renderTop3(w) {
  const top = Object.entries(w.probabilities).sort((a, b) => b[1] - a[1]).slice(0, 3);
  $("top3").title = thresholdNote();
  $("top3").replaceChildren(...top.map(([label, p]) => {
    const item = document.createElement("li");
    const name = document.createElement("span");
    name.textContent = label;
    const bar = document.createElement("span");
    bar.className = "bar";
    const fill = document.createElement("i");
    fill.style.width = `${(100 * p).toFixed(1)}%`;  // CSSOM: allowed by the server's style policy
    fill.style.background = colour(label);
    bar.append(fill);
    const value = document.createElement("span");
    value.className = "p";
    value.textContent = p.toFixed(2);
    item.append(name, bar, value);
    return item;
  }));
}

// hover: time, emotion and p of the window under the pointer
function tooltip(event) {
  if (!state.result) return;
  const rect = event.currentTarget.getBoundingClientRect();
  const g = geometry();
  const px = event.clientX - rect.left;
  if (px < LAYOUT.left || px > g.width - LAYOUT.right) { show("tip", false); return; }
  const t = g.t(px);
  const w = state.result.windows[windowAt(t)];
  let text = fmtTime(t);
  if (w && w.emotion) {
    text += ` · ${w.emotion} · p ${w.confidence.toFixed(2)}` + (isUncertain(w.confidence) ? " (uncertain)" : "");
  } else {
    text += " · no usable signal";
  }
  const tip = $("tip");
  tip.textContent = text;
  show("tip", true);
  const box = $("timeline-box").getBoundingClientRect();
  const x = Math.min(event.clientX - box.left + 12, box.width - tip.offsetWidth - 4);
  tip.style.left = `${Math.max(0, x)}px`;
  tip.style.top = `${Math.max(0, event.clientY - box.top - tip.offsetHeight - 10)}px`;
}

function loop() {
  cancelAnimationFrame(state.raf);
  const step = () => {
    if (!state.player || state.player.paused) return;
    state.cursor = null;
    updateNow();
    state.raf = requestAnimationFrame(step);
  };
  state.raf = requestAnimationFrame(step);
}

init();
