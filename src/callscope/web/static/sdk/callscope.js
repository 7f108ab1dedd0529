// Callscope browser SDK: reports getStats() and call events to /v1/ingest/*.
// A small ES module with no dependencies. It must never break the page: every call is guarded
// and a Callscope that is down only costs the reports that did not fit in the bounded queue.
//
//   import { Callscope } from "https://callscope.example/sdk/callscope.js";
//   const cs = new Callscope({ url, token, roomId, userId, sessionId });   // token: an ingest token
//   cs.addPeerConnection(pc, { pcId: "pub", peerId: "bob" });
//   cs.event("join", { platform: "web", network_type: "wifi" });

const MAX_QUEUE = 200; // reports and events kept while Callscope is unreachable
const MAX_ATTEMPTS = 6; // per batch, with exponential backoff
// Track starts: how often a new track's own stats are read, and how long media may take to flow
// before the start counts as failed (publish_failed / subscribe_failed).
const START_POLL_MS = 100;
const START_TIMEOUT_MS = 10000;

export class Callscope {
  constructor({ url, token, roomId, userId, sessionId, intervalMs = 5000, trackDevices = true }) {
    this.url = url.replace(/\/$/, "");
    this.token = token;
    this.ids = { room_id: roomId, user_id: userId, session_id: sessionId };
    this.intervalMs = intervalMs;
    this.connections = new Map(); // pc -> {pcId, peerId, screenTrackIds}
    this.reports = [];
    this.events = [];
    this.dropped = 0;
    this.sending = null;
    this.joinedAt = null; // when `join` was reported: first-frame times count from it at the earliest
    this.watched = new WeakSet(); // senders and receivers whose start is being (or was) timed
    this.timer = setInterval(() => this._guard(() => this.poll()), intervalMs);
    this._onPageHide = () => this._guard(() => this.close({ keepalive: true }));
    addEventListener("pagehide", this._onPageHide);
    if (trackDevices && navigator.mediaDevices) {
      navigator.mediaDevices.addEventListener("devicechange", () => this.event("device_change"));
    }
  }

  addPeerConnection(pc, { pcId = `pc${this.connections.size}`, peerId = "", screenTrackIds = [] } = {}) {
    this.connections.set(pc, { pcId, peerId, screenTrackIds: [...screenTrackIds] });
    pc.addEventListener("connectionstatechange", () =>
      this.event("connection_state", { state: pc.connectionState, peer_id: peerId }));
    pc.addEventListener("iceconnectionstatechange", () =>
      this.event("ice_state", { state: pc.iceConnectionState, peer_id: peerId }));
    for (const sender of pc.getSenders()) if (sender.track) this.watchTrack(sender.track);
    // Track starts: each sent track's first packets out (publish), each received track's first
    // packets in (subscribe) and first decoded frame or sample (first_video/audio_frame).
    for (const sender of pc.getSenders()) if (sender.track) this._watchStart(sender, "publish", "");
    pc.addEventListener("negotiationneeded", () => this._guard(() => {
      for (const sender of pc.getSenders()) if (sender.track) this._watchStart(sender, "publish", "");
    }));
    pc.addEventListener("track", (e) => this._watchStart(e.receiver, "subscribe", peerId));
  }

  // Reads one sender's or receiver's stats every START_POLL_MS until its media flows (and, for a
  // receiver, until the first frame or sample is decoded), or START_TIMEOUT_MS passes.
  _watchStart(party, role, peerId) {
    if (this.watched.has(party)) return;
    this.watched.add(party);
    const started = Date.now();
    const media = party.track && party.track.kind;
    let announced = false;
    const check = async () => {
      let flowing = false, decoded = false;
      for (const s of (await party.getStats()).values()) {
        if (role === "publish" && s.type === "outbound-rtp" && s.packetsSent > 0) flowing = true;
        if (role === "subscribe" && s.type === "inbound-rtp") {
          flowing = flowing || s.packetsReceived > 0;
          decoded = decoded || (media === "video" ? s.framesDecoded > 0 : s.totalSamplesReceived > 0);
        }
      }
      if (flowing && !announced) {
        announced = true;
        this.event(role, { peer_id: peerId });
        if (role === "publish") return undefined;
      }
      if (decoded) return this._firstFrame(media, peerId, started);
      if (Date.now() - started > START_TIMEOUT_MS) {
        if (!announced) this.event(`${role}_failed`, { peer_id: peerId, reason: "no_media" });
        return undefined;
      }
      return new Promise((r) => setTimeout(r, START_POLL_MS)).then(check);
    };
    this._guard(check);
  }

  _firstFrame(media, peerId, started) {
    // From the later of the join and the subscription's start, so a publisher who arrives after
    // us does not make our first frame look slow.
    const since = Math.max(started, this.joinedAt || started);
    this.event(media === "video" ? "first_video_frame" : "first_audio_frame",
      { peer_id: peerId, elapsed_ms: Math.max(0, Date.now() - since) });
  }

  markScreenTrack(pc, trackId) {
    const entry = this.connections.get(pc);
    if (entry && !entry.screenTrackIds.includes(trackId)) entry.screenTrackIds.push(trackId);
  }

  // Camera/mic/screen on and off from a local track's enabled flag, mute and end.
  watchTrack(track, { screen = false } = {}) {
    const kind = screen ? "screen" : track.kind === "video" ? "camera" : "mic";
    const report = (on) => this.event(`${kind}_${on ? "on" : "off"}`, { reason: track.label || "" });
    track.addEventListener("mute", () => report(false));
    track.addEventListener("unmute", () => report(true));
    track.addEventListener("ended", () => report(false));
    let enabled = track.enabled;
    const check = setInterval(() => {
      if (track.readyState === "ended") return clearInterval(check);
      if (track.enabled !== enabled) { enabled = track.enabled; report(enabled); }
    }, 500);
  }

  mediaError(error) {
    this.event("media_error", { reason: `${error && error.name}: ${error && error.message}`.slice(0, 256) });
  }

  event(type, fields = {}) {
    if (type === "join" && this.joinedAt === null) this.joinedAt = Date.now();
    this._guard(() => {
      this._push(this.events, {
        ...this.ids, ts: Date.now(), type, event_id: Math.random().toString(36).slice(2, 12), ...fields,
      });
      if (type === "join" || type === "leave") this.flush();
    });
  }

  async poll() {
    for (const [pc, { pcId, peerId, screenTrackIds }] of this.connections) {
      if (pc.connectionState === "closed") continue;
      const stats = await pc.getStats();
      this._push(this.reports, {
        ...this.ids, pc_id: pcId, peer_id: peerId, screen_track_ids: screenTrackIds,
        ts: Date.now(), stats: [...stats.values()],
      });
    }
    await this.flush();
  }

  async flush({ keepalive = false } = {}) {
    if (this.sending && !keepalive) return this.sending;
    const events = this.events.splice(0), reports = this.reports.splice(0);
    this.sending = (async () => {
      if (events.length) await this._send("events", { events }, keepalive);
      if (reports.length) await this._send("webrtc", { reports }, keepalive);
    })().finally(() => { this.sending = null; });
    return this.sending;
  }

  async close({ keepalive = false } = {}) {
    clearInterval(this.timer);
    removeEventListener("pagehide", this._onPageHide);
    try { await this.poll(); } catch (_) { /* the page is going away */ }
    this.event("leave", { reason: "hangup" });
    await this.flush({ keepalive });
  }

  async _send(kind, body, keepalive) {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      try {
        const response = await fetch(`${this.url}/v1/ingest/${kind}`, {
          method: "POST", keepalive, body: JSON.stringify(body),
          headers: { "Authorization": `Bearer ${this.token}`, "Content-Type": "application/json" },
        });
        // 4xx other than 429 will not get better by retrying (bad token, bad data): give up.
        if (response.ok || (response.status >= 400 && response.status < 500 && response.status !== 429)) return;
      } catch (_) { /* network error: retry */ }
      if (keepalive) return; // the page is unloading; no time to back off
      await new Promise((r) => setTimeout(r, Math.min(30000, 500 * 2 ** attempt)));
    }
    const list = kind === "events" ? this.events : this.reports;
    for (const item of body[kind === "events" ? "events" : "reports"]) this._push(list, item);
  }

  _push(list, item) {
    list.push(item);
    while (list.length > MAX_QUEUE) { list.shift(); this.dropped++; }
  }

  _guard(fn) {
    try {
      const result = fn();
      if (result && typeof result.catch === "function") result.catch(() => {});
    } catch (_) { /* never break the page */ }
  }
}
export { join, Room } from "./rooms.js"; // media rooms through Callscope's signaling
