// Callscope rooms: join a media room through Callscope's signaling (WebSocket /v1/rooms/signal).
// No dependencies. Callscope drives Janus for the page: one publisher PC for camera + mic, one for
// a screen share, one subscriber PC per remote feed. Every PC is reported by the telemetry SDK
// (callscope.js) with the ingest token the `joined` message carries, so the page never needs the
// app's secret key, and telemetry that cannot reach Callscope never touches the call.
//
//   import { join } from "https://callscope.example/sdk/callscope.js";
//   const room = await join(token);                      // a join token from the app's backend
//   room.addEventListener("stream", (e) => show(e.detail.user, e.detail.source, e.detail.stream));
//   room.addEventListener("kicked", (e) => alert(e.detail.reason));
//   await room.mute("audio", true); await room.shareScreen(); await room.leave();
//
// Events (CustomEvent, fields in `detail`): joined {user, sessionId, participants}, participant
// {user}, stream {user, feed, source, stream}, unstream {user, feed, source}, left {user, reason},
// muted {user, kind, muted}, kicked {reason}, dismissed {reason}, reconnecting {reason, attempt},
// rejoined {sessionId}, closed {reason}, error {message, request}.

import { Callscope } from "./callscope.js";
import { streamNumbers } from "./quality.js";

const WAIT_MS = 15000; // for any one answer of the server
const REJOIN_DELAY_MS = 1000;

async function connected(pc, timeoutMs = WAIT_MS) {
  for (let waited = 0; pc.connectionState !== "connected" && waited < timeoutMs; waited += 100) {
    await new Promise((r) => setTimeout(r, 100));
  }
  return pc.connectionState === "connected";
}

export async function join(token, options = {}) {
  const room = new Room(token, options);
  await room.start();
  return room;
}

export class Room extends EventTarget {
  constructor(token, {
    url = new URL("..", import.meta.url).href, // Callscope's base URL: where this SDK came from
    media = null, // a MediaStream to publish; default: getUserMedia({audio, video})
    audio = true,
    video = { width: 640, height: 480 },
    iceServers = [],
    telemetry = true,
    statsIntervalMs = 2000,
    rejoinAttempts = 30, // after the media server was lost; one a second
  } = {}) {
    super();
    this.token = token;
    this.url = url.replace(/\/$/, "");
    this.options = { audio, video, iceServers, telemetry, statsIntervalMs, rejoinAttempts };
    this.localStream = media;
    this.screenStream = null;
    this.user = "";
    this.sessionId = "";
    this.state = "new"; // joining, joined, reconnecting, closed
    this.feeds = new Map(); // feed → {user, source, pc, stream}
    this.muted = { audio: false, video: false };
    this._ws = null;
    this._pub = {}; // source (camera, screen) → its publisher PC
    this._waiters = new Map();
    this._telemetry = null;
  }

  async start() {
    this.state = "joining";
    const captured = !this.localStream && (this.options.audio || this.options.video);
    if (captured) {
      // Capture before any PC exists: with capture permission Chromium gives real host
      // candidates instead of mDNS names, which Janus cannot resolve.
      this.localStream = await navigator.mediaDevices.getUserMedia({
        audio: this.options.audio, video: this.options.video,
      });
    }
    try {
      await this._join();
    } catch (error) {
      // Not in the room: release what we opened (the camera light goes off), keep the page's own.
      const ws = this._ws;
      this._ws = null;
      if (ws) try { ws.close(); } catch (_) { /* already closed */ }
      this._closePeerConnections();
      this._stopTelemetry();
      if (captured) for (const t of this.localStream.getTracks()) t.stop();
      this.state = "closed";
      throw error;
    }
  }

  async _join() {
    this._pub = {};
    const joined = await this._connect();
    this.sessionId = joined.session_id;
    this.roomId = joined.room_id;
    this.canPublish = joined.can_publish;
    this._startTelemetry(joined);
    this.state = "joined";
    this._emit("joined", { user: this.user, sessionId: this.sessionId, participants: joined.participants });
    for (const p of joined.participants) {
      this._emit("participant", { user: p.user });
      if (p.publishing) this._guard(() => this._subscribe(p.feed, p.user, "camera"));
      if (p.screen_feed) this._guard(() => this._subscribe(p.screen_feed, p.user, "screen"));
    }
    if (this.canPublish && this.localStream) await this._publish("camera", this.localStream);
    if (this.canPublish && this.screenStream) await this._publish("screen", this.screenStream);
    // Muted before a rejoin: mute again once Janus has the media (it refuses before).
    const muted = ["audio", "video"].filter((kind) => this.muted[kind]);
    if (muted.length && this._pub.camera && await connected(this._pub.camera)) {
      for (const kind of muted) await this.mute(kind, true).catch((e) => this._emit("error", { message: e.message }));
    }
  }

  // Resolves with `joined`; rejects with the server's reason and the close code (4401: the
  // token is refused, 4503: the media server is not ready yet, 1006: Callscope unreachable).
  _connect() {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`${this.url.replace(/^http/, "ws")}/v1/rooms/signal`);
      this._ws = ws;
      let refusal = "";
      const fail = (message, code) => { clearTimeout(timer); reject(Object.assign(new Error(message), { code })); };
      const timer = setTimeout(() => { fail(`no answer within ${WAIT_MS} ms`, 0); ws.close(); }, WAIT_MS);
      ws.onopen = () => ws.send(JSON.stringify({ type: "join", token: this.token }));
      ws.onclose = (e) => fail(refusal || `signaling closed (${e.code})`, e.code);
      ws.onmessage = (e) => {
        const m = JSON.parse(e.data);
        if (m.type === "error") refusal = m.message;
        if (m.type !== "joined") return;
        clearTimeout(timer);
        this.user = m.user;
        ws.onmessage = (e) => this._guard(() => this._receive(JSON.parse(e.data)));
        ws.onclose = (e) => this._guard(() => this._closed(ws, e.code));
        resolve(m);
      };
    });
  }

  // -- server messages ------------------------------------------------------------------------

  _receive(m) {
    if (m.type === "error" && m.request) {
      // A refused request answers whoever waits for it (a publish its answer, and so on).
      const prefix = { publish: "answer-", subscribe: "offer-", answer: "subscribed-", mute: "muted-" }[m.request];
      for (const [key, waiter] of this._waiters) {
        if (prefix && key.startsWith(prefix)) { this._waiters.delete(key); waiter(m); }
      }
    }
    const key = m.type === "answer" ? `answer-${m.source || "camera"}`
      : m.type === "offer" || m.type === "subscribed" ? `${m.type}-${m.feed}`
      : m.type === "muted" && m.user === this.user ? `muted-${m.kind}`
      : m.type;
    const waiter = this._waiters.get(key);
    if (waiter) { this._waiters.delete(key); waiter(m); }
    switch (m.type) {
      case "participant_joined": this._emit("participant", { user: m.user }); break;
      case "published": this._guard(() => this._subscribe(m.feed, m.user, m.source || "camera")); break;
      case "unpublished": this._drop(m.feed); break;
      case "left":
        for (const [feed, f] of this.feeds) if (f.user === m.user) this._drop(feed);
        this._emit("left", { user: m.user, reason: m.reason });
        break;
      case "muted": this._emit("muted", { user: m.user, kind: m.kind, muted: m.muted }); break;
      case "candidate": this._remoteCandidate(m); break;
      case "kicked": case "dismissed":
        this._end(m.type, m.reason);
        break;
      case "media_server_lost": this._guard(() => this._lost(m.reason)); break;
      case "error": this._emit("error", { message: m.message, request: m.request }); break;
    }
  }

  _closed(ws, code) {
    if (ws !== this._ws) return;
    for (const [key, waiter] of this._waiters) { this._waiters.delete(key); waiter({ type: "closed", code }); }
    // Kicked, dismissed, left: already ended. Anything else (Callscope restarted, network
    // gone) is handled like a lost media server: rejoin, a bounded number of times.
    if (this.state === "joined") this._guard(() => this._lost(`signaling closed (${code})`));
  }

  // -- publishing -----------------------------------------------------------------------------

  async _publish(source, stream) {
    const pc = new RTCPeerConnection({ iceServers: this.options.iceServers });
    this._pub[source] = pc;
    for (const track of stream.getTracks()) pc.addTransceiver(track, { direction: "sendonly", streams: [stream] });
    this._report(pc, { pcId: `pub-${source}`, screen: source === "screen" ? stream.getTracks() : [] });
    const trickle = this._trickle(pc, { source });
    await pc.setLocalDescription(await pc.createOffer());
    const answered = this._expect(`answer-${source}`);
    this._send({ type: "publish", sdp: pc.localDescription.sdp, sdp_type: "offer", source });
    trickle.ready();
    const answer = await answered;
    if (answer.type !== "answer") throw new Error(answer.message || `publish ${source}: ${answer.type}`);
    await pc.setRemoteDescription({ type: answer.sdp_type, sdp: answer.sdp });
  }

  async mute(kind, muted) {
    this.muted[kind] = muted;
    if (this.localStream) for (const t of this.localStream.getTracks()) if (t.kind === kind) t.enabled = !muted;
    if (this.state !== "joined" || !this._pub.camera) return;
    const echoed = this._expect(`muted-${kind}`);
    this._send({ type: "mute", kind, muted });
    const answer = await echoed;
    if (answer.type !== "muted") throw new Error(answer.message || `mute ${kind}: ${answer.type}`);
  }

  async shareScreen(constraints = { video: true, audio: false }) {
    if (this._pub.screen) return this.screenStream;
    const stream = await navigator.mediaDevices.getDisplayMedia(constraints);
    this.screenStream = stream;
    for (const track of stream.getTracks()) track.addEventListener("ended", () => this.stopScreen());
    await this._publish("screen", stream);
    return stream;
  }

  async stopScreen() {
    const pc = this._pub.screen, stream = this.screenStream;
    this.screenStream = null;
    if (!pc) return;
    delete this._pub.screen;
    if (this.state === "joined") this._send({ type: "unpublish", source: "screen" });
    pc.close();
    if (stream) for (const t of stream.getTracks()) t.stop();
  }

  // -- subscribing ----------------------------------------------------------------------------

  async _subscribe(feed, user, source) {
    if (this.feeds.has(feed)) return;
    const entry = { user, source, pc: null, stream: new MediaStream(), pending: [] };
    this.feeds.set(feed, entry);
    const offered = this._expect(`offer-${feed}`);
    this._send({ type: "subscribe", feed });
    const offer = await offered;
    if (offer.type !== "offer" || this.feeds.get(feed) !== entry) {
      if (this.feeds.get(feed) === entry) this.feeds.delete(feed);
      return;
    }
    const pc = entry.pc = new RTCPeerConnection({ iceServers: this.options.iceServers });
    pc.ontrack = (e) => {
      entry.stream.addTrack(e.track);
      if (source === "screen" && this._telemetry) this._guard(() => this._telemetry.markScreenTrack(pc, e.track.id));
    };
    this._report(pc, { pcId: `sub-${feed}`, peerId: user });
    const trickle = this._trickle(pc, { feed });
    await pc.setRemoteDescription({ type: offer.sdp_type, sdp: offer.sdp });
    for (const c of entry.pending.splice(0)) await pc.addIceCandidate(c).catch(() => {});
    await pc.setLocalDescription(await pc.createAnswer());
    const subscribed = this._expect(`subscribed-${feed}`);
    this._send({ type: "answer", feed, sdp: pc.localDescription.sdp, sdp_type: "answer" });
    trickle.ready();
    await subscribed;
    if (this.feeds.get(feed) === entry) this._emit("stream", { user, feed, source, stream: entry.stream });
  }

  _drop(feed) {
    const entry = this.feeds.get(feed);
    if (!entry) return;
    this.feeds.delete(feed);
    if (entry.pc) entry.pc.close();
    this._emit("unstream", { user: entry.user, feed, source: entry.source });
  }

  // -- ICE ------------------------------------------------------------------------------------

  // Our candidates wait until the description they belong to has been sent.
  _trickle(pc, target) {
    let queue = [];
    const send = (candidate) => this._send({ type: "candidate", ...target, candidate });
    pc.onicecandidate = (e) => {
      const candidate = e.candidate ? e.candidate.toJSON() : null;
      if (queue) queue.push(candidate); else send(candidate);
    };
    return { ready: () => { for (const c of queue) send(c); queue = null; } };
  }

  _remoteCandidate(m) {
    if (!m.candidate) return; // Janus's end of candidates
    const pc = m.feed == null ? this._pub[m.source || "camera"] : this.feeds.get(m.feed)?.pc;
    if (pc && pc.remoteDescription) pc.addIceCandidate(m.candidate).catch(() => {});
    else if (m.feed != null && this.feeds.has(m.feed)) this.feeds.get(m.feed).pending.push(m.candidate);
  }

  // -- the end, and coming back ---------------------------------------------------------------

  async leave() {
    if (this.state === "closed") return;
    this._send({ type: "leave" });
    this._end("closed", "left");
  }

  _end(event, reason) {
    const ws = this._ws;
    this._ws = null;
    this.state = "closed";
    this._closePeerConnections();
    for (const stream of [this.localStream, this.screenStream]) if (stream) for (const t of stream.getTracks()) t.stop();
    if (ws) try { ws.close(); } catch (_) { /* already closed */ }
    this._stopTelemetry();
    this._emit(event, { reason });
  }

  _closePeerConnections() {
    for (const pc of Object.values(this._pub || {})) pc.close();
    this._pub = {};
    for (const feed of [...this.feeds.keys()]) this._drop(feed);
  }

  // The Janus node went down (or signaling dropped): Callscope recreates the room on the
  // restarted node, so join again with the same token, keeping the local media.
  async _lost(reason) {
    if (this.state !== "joined") return;
    this.state = "reconnecting";
    const ws = this._ws;
    this._ws = null;
    if (ws) try { ws.close(); } catch (_) { /* already closed */ }
    this._closePeerConnections();
    this._stopTelemetry();
    for (let attempt = 1; attempt <= this.options.rejoinAttempts; attempt++) {
      this._emit("reconnecting", { reason, attempt });
      await new Promise((r) => setTimeout(r, REJOIN_DELAY_MS));
      if (this.state !== "reconnecting") return; // left meanwhile
      try {
        await this._join();
        this._emit("rejoined", { sessionId: this.sessionId });
        return;
      } catch (error) {
        reason = error.message;
        if (error.code === 4401) break; // the token was refused (expired, revoked): no retry helps
        const stale = this._ws;
        this._ws = null;
        if (stale) try { stale.close(); } catch (_) { /* already closed */ }
        this._closePeerConnections();
        this.state = "reconnecting";
      }
    }
    this._end("closed", reason);
  }

  // -- telemetry ------------------------------------------------------------------------------

  _startTelemetry(joined) {
    if (!this.options.telemetry || !joined.telemetry) return;
    this._guard(() => {
      this._telemetry = new Callscope({
        url: this.url, token: joined.telemetry.token, roomId: joined.room_id, userId: joined.user,
        sessionId: joined.session_id, intervalMs: this.options.statsIntervalMs,
      });
      this._telemetry.event("join", {
        platform: "web", sdk_name: "callscope-js", sdk_type: "webrtc", browser: navigator.userAgent.slice(0, 128),
      });
    });
  }

  _report(pc, { pcId, peerId = "", screen = [] }) {
    if (!this._telemetry) return;
    this._guard(() => {
      this._telemetry.addPeerConnection(pc, { pcId, peerId, screenTrackIds: screen.map((t) => t.id) });
      for (const track of screen) this._telemetry.watchTrack(track, { screen: true });
    });
  }

  _stopTelemetry() {
    const telemetry = this._telemetry;
    this._telemetry = null;
    if (telemetry) this._guard(() => telemetry.close());
  }

  // Live numbers per stream for the page (sent and received), from getStats().
  async stats() {
    const pcs = [
      ...Object.entries(this._pub || {}).map(([source, pc]) => ({ pc, user: this.user, source, feed: 0 })),
      ...[...this.feeds].filter(([, f]) => f.pc).map(([feed, f]) => ({ pc: f.pc, user: f.user, source: f.source, feed })),
    ];
    const out = [];
    for (const { pc, ...who } of pcs) {
      try {
        for (const numbers of streamNumbers(pc, await pc.getStats())) out.push({ ...who, ...numbers });
      } catch (_) { /* a PC closing under us */ }
    }
    return out;
  }

  // -- plumbing -------------------------------------------------------------------------------

  _send(message) {
    const ws = this._ws;
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(message));
  }

  _expect(key) {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        if (this._waiters.get(key) === done) { this._waiters.delete(key); resolve({ type: "timeout", message: `no ${key} within ${WAIT_MS} ms` }); }
      }, WAIT_MS);
      const done = (m) => { clearTimeout(timer); resolve(m); };
      this._waiters.set(key, done);
    });
  }

  _emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  _guard(fn) {
    try {
      const result = fn();
      if (result && typeof result.catch === "function") {
        result.catch((error) => this._emit("error", { message: String(error && error.message || error) }));
      }
    } catch (error) {
      this._emit("error", { message: String(error && error.message || error) });
    }
  }
}
