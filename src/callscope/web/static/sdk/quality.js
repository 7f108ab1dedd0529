// Live quality numbers of one RTCPeerConnection, for a page to show (the demo room page).
// What Callscope stores comes from the same getStats() reports, normalized on the server
// (collectors/webrtc.py); these are only the page's own view, computed between two calls.

const previous = new WeakMap(); // pc → {ts, byId}

// One entry per RTP stream: direction up (we send) or down (we receive), kind, and the numbers.
export function streamNumbers(pc, report) {
  const byId = new Map();
  for (const s of report.values()) byId.set(s.id, s);
  const before = previous.get(pc);
  previous.set(pc, { byId });
  const rttMs = pairRttMs(byId);
  const out = [];
  for (const s of byId.values()) {
    if (s.type !== "outbound-rtp" && s.type !== "inbound-rtp") continue;
    const old = before && before.byId.get(s.id);
    const ms = old ? s.timestamp - old.timestamp : 0;
    const delta = (field) => (old && s[field] != null && old[field] != null ? s[field] - old[field] : null);
    const bytes = delta(s.type === "outbound-rtp" ? "bytesSent" : "bytesReceived");
    const entry = {
      direction: s.type === "outbound-rtp" ? "up" : "down",
      kind: s.kind,
      kbps: ms > 0 && bytes != null ? Math.round((bytes * 8) / ms) : null,
      fps: s.framesPerSecond ?? null,
      width: s.frameWidth ?? null,
      height: s.frameHeight ?? null,
      rttMs,
      lossPct: null,
      jitterMs: null,
      framesDecoded: s.framesDecoded ?? null,
      packetsReceived: s.packetsReceived ?? null,
    };
    if (s.type === "inbound-rtp") {
      const lost = delta("packetsLost"), received = delta("packetsReceived");
      if (lost != null && received != null && lost + received > 0) entry.lossPct = round1((100 * lost) / (lost + received));
      if (s.jitter != null) entry.jitterMs = round1(s.jitter * 1000);
    } else {
      // The receiver's view of what we send: Janus's RTCP receiver reports.
      const remote = [...byId.values()].find((r) => r.type === "remote-inbound-rtp" && r.localId === s.id);
      if (remote) {
        if (remote.fractionLost != null) entry.lossPct = round1(remote.fractionLost * 100);
        if (remote.roundTripTime != null) entry.rttMs = Math.round(remote.roundTripTime * 1000);
        if (remote.jitter != null) entry.jitterMs = round1(remote.jitter * 1000);
      }
    }
    out.push(entry);
  }
  return out;
}

// RTT of the selected ICE candidate pair (STUN consent checks), in ms.
function pairRttMs(byId) {
  for (const s of byId.values()) {
    if (s.type !== "transport" || !s.selectedCandidatePairId) continue;
    const pair = byId.get(s.selectedCandidatePairId);
    if (pair && pair.currentRoundTripTime != null) return Math.round(pair.currentRoundTripTime * 1000);
  }
  return null;
}

function round1(x) {
  return Math.round(x * 10) / 10;
}
