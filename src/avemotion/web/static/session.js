// avemotion web page, session view: a whole recording analysed as a session (who speaks when, each speaker's
// emotions). The report is the one `avemotion session` writes, served by the job (GET /api/jobs/ID/session.html)
// into a sandboxed frame; its time stamps ask this page (postMessage) to seek the player, which plays the
// browser's own copy of the recording. Loaded before app.js, which calls these functions.
"use strict";

const session = { player: null, url: null, available: true };
const STAGES = { waiting: "waiting for another session to finish", speakers: "finding speech and speakers", emotion: "emotion of each speech segment",
  faces: "following the faces" };

function sessionSetup(health) {
  const info = health.session || { available: false, reason: "this server does not offer session analysis" };
  session.available = info.available;
  const radio = document.getElementById("mode-session");
  const note = document.getElementById("session-note");
  if (!info.available) {
    radio.disabled = true;
    radio.parentElement.classList.add("off");
    note.textContent = "Not available on this server: " + info.reason;
    note.hidden = false;
  } else {
    const minutes = health.limits.max_session_seconds / 60;
    note.textContent = `Recordings up to ${minutes >= 1 ? Math.round(minutes) + " min" : health.limits.max_session_seconds + " s"}`
      + ` with sound; the speakers are found from the voices.`;
    note.hidden = false;
  }
}

function sessionMode() {
  const radio = document.getElementById("mode-session");
  return session.available && radio.checked;
}

function sessionProgressText(job) {
  // steps: 1 for speech and speakers, 1 per speech segment, 1 per second of video with faces
  const p = job.progress;
  const stage = STAGES[job.stage] || "working";
  return ["waiting", "speakers"].includes(job.stage) || !p.total ? `${stage}…` : `${stage}: step ${p.done} of ${p.total}`;
}

function renderSession(job, result, file) {
  clearSession();
  const isVideo = result.media ? result.media.has_video : file.type.startsWith("video");
  const player = document.getElementById(isVideo ? "session-video" : "session-audio");
  session.url = URL.createObjectURL(file);
  player.src = session.url;
  player.hidden = false;
  session.player = player;
  document.getElementById("session-name").textContent =
    `${result.filename}: ${result.speakers.length} speaker${result.speakers.length === 1 ? "" : "s"}`;
  document.getElementById("session-report").src = `/api/jobs/${job}/session.html`;
  const stem = result.filename.replace(/\.[^.]*$/, "");
  const names = { json: ".session.json", html: ".session.html", rttm: ".rttm", eaf: ".eaf", csv: ".tiers.csv" };
  for (const [fmt, suffix] of Object.entries(names)) {
    const a = document.getElementById(`sdl-${fmt}`);
    a.href = `/api/jobs/${job}/session.${fmt}` + (fmt === "html" ? "?download=1" : "");
    a.download = stem + suffix;
    a.textContent = stem + suffix;
  }
  document.getElementById("session-result").hidden = false;
}

function clearSession() {
  for (const id of ["session-video", "session-audio"]) {
    const el = document.getElementById(id);
    el.pause(); el.removeAttribute("src"); el.load(); el.hidden = true;
  }
  if (session.url) URL.revokeObjectURL(session.url);
  session.url = null;
  session.player = null;
  const frame = document.getElementById("session-report");
  frame.removeAttribute("src");
  frame.style.height = "";
  document.getElementById("session-result").hidden = true;
}

// messages from the report's frame only: seek the player, fit the frame to the report's height
window.addEventListener("message", (event) => {
  const frame = document.getElementById("session-report");
  if (!frame || event.source !== frame.contentWindow || !event.data || typeof event.data !== "object") return;
  const { avemotion: kind } = event.data;
  if (kind === "seek" && session.player && Number.isFinite(event.data.time)) {
    try { session.player.currentTime = event.data.time; } catch (err) { /* not seekable yet */ }
    session.player.play().catch(() => {});
  } else if (kind === "height" && Number.isFinite(event.data.height)) {
    frame.style.height = `${Math.min(Math.max(event.data.height + 24, 200), 20000)}px`;  // CSSOM: allowed
  }
});
