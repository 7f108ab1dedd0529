// The demo room page: join with camera and mic, show everyone with live quality numbers.
// Everything it does goes through the SDK (sdk/rooms.js); the numbers are the page's own
// getStats() view (sdk/quality.js), refreshed every second.

import { Room } from "../../sdk/callscope.js";

const $ = (id) => document.getElementById(id);
const roomId = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() || "");
const token = new URLSearchParams(location.hash.slice(1)).get("token");
const tiles = new Map(); // "user/source" → {el, video, numbers}
// For people and tests alike: what happened, when (ms since the epoch).
const demo = (window.demo = { room: null, events: [], error: "" });

$("room-id").textContent = roomId;

function log(type, detail = {}) {
  const { stream, ...rest } = detail;
  demo.events.push({ type, at: Date.now(), ...rest });
}

function status(text) {
  $("status").textContent = text;
}

function notice(text, tone = "") {
  const el = $("notice");
  el.textContent = text;
  el.className = tone;
  el.hidden = !text;
}

function tile(user, source, label) {
  const key = `${user}/${source}`;
  let t = tiles.get(key);
  if (!t) {
    const el = document.createElement("section");
    el.className = "tile";
    el.dataset.user = user;
    el.dataset.source = source;
    const video = document.createElement("video");
    video.autoplay = true;
    video.playsInline = true;
    const who = document.createElement("div");
    who.className = "who";
    who.textContent = label;
    const numbers = document.createElement("div");
    numbers.className = "numbers";
    el.append(video, who, numbers);
    $("tiles").append(el);
    t = { el, video, numbers };
    tiles.set(key, t);
  }
  return t;
}

function removeTile(user, source) {
  const key = `${user}/${source}`;
  const t = tiles.get(key);
  if (t) { t.el.remove(); tiles.delete(key); }
}

async function play(video, stream, muted) {
  video.srcObject = stream;
  video.muted = muted;
  try {
    await video.play();
  } catch (_) { // autoplay with sound needs a click on this page first
    video.muted = true;
    await video.play().catch(() => {});
  }
}

function show(value, unit) {
  return value == null ? "–" : `${value}${unit}`;
}

// One line per stream: what is sent (up) from our own tiles, what is received (down) on theirs.
async function refreshNumbers(room) {
  const lines = new Map();
  for (const s of await room.stats()) {
    const key = `${s.user}/${s.source}`;
    const size = s.width ? ` ${s.width}×${s.height}` : "";
    const fps = s.kind === "video" ? ` ${show(s.fps, " fps")}${size}` : "";
    const line = `${s.direction === "up" ? "↑" : "↓"} ${s.kind} ${show(s.kbps, " kbps")}${fps}` +
      ` loss ${show(s.lossPct, " %")} rtt ${show(s.rttMs, " ms")} jitter ${show(s.jitterMs, " ms")}`;
    if (!lines.has(key)) lines.set(key, []);
    lines.get(key).push(line);
    const t = tiles.get(key);
    if (t && s.kind === "video" && s.framesDecoded != null) t.el.dataset.framesDecoded = String(s.framesDecoded);
  }
  for (const [key, t] of tiles) t.numbers.textContent = (lines.get(key) || []).join("\n");
}

function controls(room) {
  const toggle = (id, kind, on, off) => {
    $(id).onclick = async () => {
      const muted = !room.muted[kind];
      await room.mute(kind, muted).catch((e) => notice(e.message, "warn"));
      $(id).textContent = muted ? on : off;
    };
  };
  toggle("mic", "audio", "Unmute mic", "Mute mic");
  toggle("camera", "video", "Turn camera on", "Turn camera off");
  $("screen").onclick = async () => {
    if (room.screenStream) await room.stopScreen();
    else await room.shareScreen().catch((e) => notice(`screen: ${e.message}`, "warn"));
    $("screen").textContent = room.screenStream ? "Stop sharing" : "Share screen";
  };
  $("leave").onclick = () => room.leave();
  $("controls").hidden = false;
}

function ended(text) {
  $("controls").hidden = true;
  for (const [key] of tiles) { const [user, source] = key.split("/"); removeTile(user, source); }
  status("not in the room");
  notice(text, "bad");
}

async function main() {
  if (!token) {
    $("help").hidden = false;
    status("no join token");
    return;
  }
  history.replaceState(null, "", location.pathname); // the token leaves the address bar
  status("joining…");
  // Listeners go on before start(): subscriptions begin while the join is still publishing.
  const room = (demo.room = new Room(token));
  for (const type of ["participant", "left", "muted", "unstream", "error"]) {
    room.addEventListener(type, (e) => log(type, e.detail));
  }
  room.addEventListener("joined", (e) => {
    log("joined", e.detail);
    status(`joined as ${room.user}`);
    if (room.localStream) play(tile(room.user, "camera", `${room.user} (you)`).video, room.localStream, true);
  });
  room.addEventListener("stream", (e) => {
    const { user, source, stream } = e.detail;
    log("stream", e.detail);
    play(tile(user, source, source === "screen" ? `${user} (screen)` : user).video, stream, false);
  });
  room.addEventListener("unstream", (e) => removeTile(e.detail.user, e.detail.source));
  room.addEventListener("left", (e) => notice(`${e.detail.user} left (${e.detail.reason})`));
  room.addEventListener("kicked", (e) => { log("kicked", e.detail); ended(`You were removed from the room: ${e.detail.reason}`); });
  room.addEventListener("dismissed", (e) => { log("dismissed", e.detail); ended(`The room was ended: ${e.detail.reason}`); });
  room.addEventListener("closed", (e) => { log("closed", e.detail); ended(`Left the room (${e.detail.reason})`); });
  room.addEventListener("reconnecting", (e) => {
    log("reconnecting", e.detail);
    for (const key of [...tiles.keys()]) if (!key.startsWith(`${room.user}/`)) removeTile(...key.split("/"));
    status("reconnecting…");
    notice(`Media server lost (${e.detail.reason}); reconnecting, attempt ${e.detail.attempt}`, "warn");
  });
  room.addEventListener("rejoined", (e) => {
    log("rejoined", e.detail);
    status(`joined as ${room.user}`);
    notice("Reconnected");
  });
  try {
    await room.start();
  } catch (error) {
    demo.error = error.message;
    status("could not join");
    notice(`Could not join: ${error.message}`, "bad");
    return;
  }
  if (room.roomId !== roomId) {
    notice(`This token is for room ${room.roomId}, not ${roomId}`, "bad");
    room.leave();
    return;
  }
  log("started", { user: room.user, sessionId: room.sessionId });
  controls(room);
  const timer = setInterval(() => {
    if (room.state === "closed") clearInterval(timer);
    else refreshNumbers(room).catch(() => {});
  }, 1000);
}

main();
