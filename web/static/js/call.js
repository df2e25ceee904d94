// call.js: voice and video calls in a session (docs/protocol.md#calls), for
// the widget and the agent desktop. The hub signals; the media flows
// between the two browsers over WebRTC.
//
// CallManager follows a page's Connection: the durable call events
// (call.ringing, call.started, call.connected, call.ended) tell each
// session's call, in order, replays included; call.signal frames addressed
// to this page's device carry the other leg's SDP and ICE candidates. It
// holds at most one leg: the call this device placed or answered.
//
// Who does what (the protocol's rule): the device that ACCEPTS makes the
// RTCPeerConnection, adds its tracks, creates the offer and sends it; the
// inviting device, once it has seen call.started, answers the offer with
// its own tracks. Both trickle ICE candidates; candidates that come before
// the remote description are kept until it is set. When the peer
// connection is 'connected' the device sends call.connected; 'failed'
// hangs up. After its socket reconnected the device sends call.rejoin; a
// page that unloads (pagehide) during a call hangs up (best effort).
//
// Ringing follows the session's state, never a single event: a history
// replayed on load (call.ringing then call.ended) settles before the ring
// starts, so a call that already ended never rings.
//
// CallView shows one session's call: the incoming banner (Accept,
// Decline), "Calling…" (Cancel), the call (timer, Mute, Camera, Hang up,
// the videos or an <audio>), and a short line when it ends. The page
// exposes the peer connection of the call in progress as
// window.__sbCall ({pc, session_id, call_id}) for its tests and for
// whoever debugs a call in the console.

import { h } from "./dom.js";

export const REFUSED = "Microphone or camera access was refused";
export const UNSUPPORTED = "This browser cannot make calls";

const REASONS = {
  hangup: "hung up", declined: "declined", cancelled: "cancelled", no_answer: "no answer",
  network_lost: "connection lost", session_closed: "chat closed", agent_offline: "agent went offline",
  transferred: "chat transferred",
};

/** reasonText is the words for a call.ended reason. */
export function reasonText(reason) {
  return REASONS[reason] || (reason ? reason.replace(/_/g, " ") : "ended");
}

/** clock formats seconds as 3:07 (or 1:02:03). */
export function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds || 0));
  const mm = String(Math.floor(s / 60) % 60);
  const ss = String(s % 60).padStart(2, "0");
  return s >= 3600 ? `${Math.floor(s / 3600)}:${mm.padStart(2, "0")}:${ss}` : `${mm}:${ss}`;
}

/** callSupported tells whether this browser can make calls (WebRTC and a microphone API). */
export function callSupported() {
  return typeof globalThis.RTCPeerConnection === "function" && typeof globalThis.navigator?.mediaDevices?.getUserMedia === "function";
}

const mediaWord = (media) => (media === "video" ? "Video" : "Voice");

/**
 * callNote is the transcript's line for a call event: "Video call started",
 * "Voice call ended: no answer, 0:00"; null for the others. media is the
 * call's (call.started does not say it: call.ringing did).
 */
export function callNote(f, media) {
  if (f.type === "call.started") return `${mediaWord(media)} call started`;
  if (f.type === "call.ended") return `${mediaWord(f.media || media)} call ended: ${reasonText(f.reason)}, ${clock(f.duration_s)}`;
  return null;
}

function mediaError(err) {
  const name = err?.name || "";
  if (name === "NotAllowedError" || name === "SecurityError" || name === "PermissionDeniedError") return REFUSED;
  if (name === "NotFoundError" || name === "OverconstrainedError") return "No microphone or camera was found";
  if (name === "NotReadableError") return "The microphone or camera is in use by another program";
  return err?.message || REFUSED;
}

// Ringer plays a ring (two short WebAudio tones every two seconds) while a
// call rings for this page. Without a user gesture the browser may keep
// the audio context suspended: then it is silent, and nothing fails.
class Ringer {
  constructor() {
    this.timer = null;
    this.ctx = null;
  }
  get on() {
    return !!this.timer;
  }
  start() {
    if (this.timer) return;
    this.beep();
    this.timer = setInterval(() => this.beep(), 2000);
  }
  stop() {
    clearInterval(this.timer);
    this.timer = null;
  }
  beep() {
    try {
      this.ctx ??= new AudioContext();
      if (this.ctx.state === "suspended") this.ctx.resume().catch(() => {});
      const now = this.ctx.currentTime;
      for (const at of [0, 0.5]) {
        const o = this.ctx.createOscillator();
        const g = this.ctx.createGain();
        o.frequency.value = 440;
        g.gain.setValueAtTime(0.0001, now + at);
        g.gain.exponentialRampToValueAtTime(0.15, now + at + 0.03);
        g.gain.exponentialRampToValueAtTime(0.0001, now + at + 0.4);
        o.connect(g).connect(this.ctx.destination);
        o.start(now + at);
        o.stop(now + at + 0.42);
      }
    } catch {
      /* no audio here: the banner says it rings */
    }
  }
}

const RING_SETTLE_MS = 200; // a replayed history settles within this before a ring starts
const FLASH_MS = 8000; // how long "Call ended: …" shows
const ELSEWHERE_MS = 5000; // how long "Answered elsewhere" shows
const ERROR_MS = 12000; // how long an error ("Microphone or camera access was refused") shows

/**
 * CallManager: the calls of the sessions a Connection follows, and this
 * device's leg. role is the page's party ("customer" or "agent"). Events:
 * "change" (render), "ring" (detail: {session_id, call}: a live call
 * started ringing here).
 */
export class CallManager extends EventTarget {
  constructor({ conn, role }) {
    super();
    this.conn = conn;
    this.role = role;
    this.calls = new Map(); // session id -> the call in progress as its events tell
    this.ended = new Set(); // ids of calls that ended (a late reply must not revive one)
    this.flashes = new Map(); // session id -> {text, until}
    this.errors = new Map(); // session id -> the last error of an action
    this.leg = null; // the call this device holds
    this.inviting = null; // {sid, media, cancelled} while the microphone and the invite are on their way
    this.accepting = ""; // the session whose call is being answered
    this.early = []; // call.signal frames for this device that came before their leg
    this.ringer = new Ringer();
    this.rung = new Set(); // call ids the "ring" event was dispatched for
    this.hellos = 0;
    this.onEvent = (e) => this.apply(e.detail);
    this.onNotice = (e) => this.notice(e.detail);
    this.onHello = () => this.hello();
    this.onResync = (e) => this.calls.delete(e.detail.session_id); // its events come again
    this.onUnload = () => this.unload();
    conn.addEventListener("event", this.onEvent);
    conn.addEventListener("notice", this.onNotice);
    conn.addEventListener("hello", this.onHello);
    conn.addEventListener("resync", this.onResync);
    // pagehide, not beforeunload: the site around the widget may cancel a
    // beforeunload (its own "leave this page?"), and the call would have
    // ended for a page that stayed.
    addEventListener("pagehide", this.onUnload);
  }

  get device() {
    return this.conn.device;
  }

  changed() {
    this.dispatchEvent(new CustomEvent("change"));
    clearTimeout(this.ringTimer);
    this.ringTimer = setTimeout(() => this.ringCheck(), RING_SETTLE_MS);
  }

  // incoming tells whether session sid's call rings for this page.
  incoming(sid) {
    const c = this.calls.get(sid);
    return !!c && c.state === "ringing" && c.from?.role !== this.role && !this.leg && this.accepting !== sid;
  }

  ringCheck() {
    const ringing = [...this.calls.keys()].filter((sid) => this.incoming(sid));
    if (ringing.length) {
      this.ringer.start();
      for (const sid of ringing) {
        const c = this.calls.get(sid);
        if (this.rung.has(c.id)) continue;
        this.rung.add(c.id);
        this.dispatchEvent(new CustomEvent("ring", { detail: { session_id: sid, call: c } }));
      }
    } else {
      this.ringer.stop();
    }
    this.dispatchEvent(new CustomEvent("change"));
  }

  get ringing() {
    return this.ringer.on;
  }

  flash(sid, text, at, ms) {
    const until = at + ms;
    const left = until - Date.now();
    if (left <= 0) {
      this.flashes.delete(sid);
      return;
    }
    this.flashes.set(sid, { text, until });
    setTimeout(() => {
      const f = this.flashes.get(sid);
      if (f && f.until <= Date.now()) {
        this.flashes.delete(sid);
        this.changed();
      }
    }, left + 20);
  }

  // setError shows text with session sid's call for a while (ERROR_MS).
  setError(sid, text) {
    if (text) {
      this.errors.set(sid, text);
      setTimeout(() => {
        if (this.errors.get(sid) === text) this.setError(sid, "");
      }, ERROR_MS);
    } else {
      this.errors.delete(sid);
    }
    this.changed();
  }

  // apply follows one durable event of a followed session.
  apply(f) {
    if (!f.type.startsWith("call.")) return;
    const sid = f.session_id;
    const now = Date.now();
    const at = Math.min(Date.parse(f.at) || now, now);
    let c = this.calls.get(sid);
    if (f.type !== "call.ringing" && f.type !== "call.ended" && (!c || c.id !== f.call_id)) {
      // Its ringing was before the events replayed (a resync): what is known.
      c = { id: f.call_id, media: f.media || "audio", state: "accepted", from: null, inviter: "", answerer: "", invitedAt: at, startedAt: 0 };
      this.calls.set(sid, c);
    }
    switch (f.type) {
      case "call.ringing":
        this.calls.set(sid, { id: f.call_id, media: f.media, state: "ringing", from: f.from, inviter: f.device, answerer: "", invitedAt: at, startedAt: 0 });
        this.flashes.delete(sid);
        break;
      case "call.started": {
        const rangHere = c.state === "ringing" && c.from?.role !== this.role;
        c.state = "accepted";
        c.answerer = f.device;
        c.startedAt = at;
        if (rangHere && f.device !== this.device) this.flash(sid, "Answered elsewhere", at, ELSEWHERE_MS);
        if (this.leg?.callID === f.call_id) {
          this.leg.started = true;
          this.pump();
        }
        break;
      }
      case "call.connected":
        c.state = "connected";
        c.connectedAt = at;
        break;
      case "call.ended":
        this.ended.add(f.call_id);
        if (c?.id === f.call_id || !c) this.calls.delete(sid);
        this.flash(sid, `Call ended: ${reasonText(f.reason)}, ${clock(f.duration_s)}`, at, FLASH_MS);
        if (this.leg?.callID === f.call_id) this.drop();
        if (this.accepting === sid) this.accepting = "";
        break;
      default:
        return;
    }
    this.changed();
  }

  notice(f) {
    if (f.type !== "call.signal" || f.to !== this.device) return; // only what is addressed to this page
    if (this.leg && this.leg.callID === f.call_id) {
      this.leg.inbox.push(f);
      this.pump();
    } else if (!this.ended.has(f.call_id)) {
      this.early.push(f);
      if (this.early.length > 50) this.early.shift();
    }
  }

  hello() {
    this.hellos++;
    const leg = this.leg;
    if (this.hellos > 1 && leg) {
      // The socket came back: the media may have gone on without it.
      this.conn.command({ type: "call.rejoin", session_id: leg.sid, call_id: leg.callID }).then(
        (r) => {
          if (r.call_state === "ended" && this.leg === leg) this.drop();
        },
        (err) => {
          if (err.code === "not_found" && this.leg === leg) this.drop();
        });
    }
  }

  unload() {
    const leg = this.leg;
    if (!leg || leg.unloaded) return;
    leg.unloaded = true;
    // Best effort: the socket may still carry it; if not, the call ends
    // network_lost after the hub's grace.
    this.conn.command({ type: "call.hangup", session_id: leg.sid, call_id: leg.callID }).catch(() => {});
  }

  /** canInvite tells whether this page may place a call in sid now. */
  canInvite(sid) {
    return !this.leg && !this.inviting && !this.accepting && !this.calls.has(sid);
  }

  async media(kind) {
    return navigator.mediaDevices.getUserMedia({ audio: true, video: kind === "video" });
  }

  /** invite places a call (media "audio" or "video") in session sid. */
  async invite(sid, kind) {
    if (!this.canInvite(sid)) return;
    this.errors.delete(sid);
    if (!callSupported()) {
      this.setError(sid, UNSUPPORTED);
      return;
    }
    const inviting = (this.inviting = { sid, media: kind, cancelled: false });
    this.changed();
    let local;
    try {
      local = await this.media(kind);
    } catch (err) {
      this.inviting = null;
      this.setError(sid, mediaError(err));
      return;
    }
    let r;
    try {
      r = await this.conn.command({ type: "call.invite", session_id: sid, media: kind });
    } catch (err) {
      local.getTracks().forEach((t) => t.stop());
      this.inviting = null;
      this.setError(sid, "The call could not start: " + err.message);
      return;
    }
    this.inviting = null;
    const c = this.calls.get(sid);
    this.leg = this.newLeg({ sid, callID: r.call_id, media: kind, role: "inviter", local, iceServers: r.ice_servers,
      started: c?.id === r.call_id && c.state !== "ringing" });
    if (this.ended.has(r.call_id)) this.drop();
    else if (inviting.cancelled) this.hangup(sid);
    this.changed();
  }

  /** accept answers the call ringing in session sid from this device. */
  async accept(sid) {
    const c = this.calls.get(sid);
    if (!c || c.state !== "ringing" || this.leg || this.accepting) return;
    this.errors.delete(sid);
    if (!callSupported()) {
      this.setError(sid, UNSUPPORTED);
      return;
    }
    this.accepting = sid;
    this.ringer.stop();
    this.changed();
    let local;
    try {
      local = await this.media(c.media);
    } catch (err) {
      this.accepting = "";
      this.setError(sid, mediaError(err));
      return;
    }
    let r;
    try {
      r = await this.conn.command({ type: "call.accept", session_id: sid, call_id: c.id });
    } catch (err) {
      local.getTracks().forEach((t) => t.stop());
      this.accepting = "";
      if (err.message === "call answered elsewhere") this.flash(sid, "Answered elsewhere", Date.now(), ELSEWHERE_MS);
      else if (err.code !== "not_found") this.setError(sid, "The call could not be answered: " + err.message);
      this.changed();
      return;
    }
    this.accepting = "";
    const leg = (this.leg = this.newLeg({ sid, callID: c.id, media: c.media, role: "answerer", local, iceServers: r.ice_servers, started: true }));
    if (this.ended.has(c.id)) {
      this.drop();
      return;
    }
    this.changed();
    try {
      const pc = this.peer(leg);
      const offer = await pc.createOffer();
      await pc.setLocalDescription(offer);
      this.signal(leg, { sdp: pc.localDescription.toJSON() });
    } catch (err) {
      console.warn("switchboard: the call's offer failed", err);
      this.hangup(sid);
      return;
    }
    this.pump();
  }

  /** decline refuses the call ringing in session sid. */
  decline(sid) {
    const c = this.calls.get(sid);
    if (!c) return;
    this.conn.command({ type: "call.decline", session_id: sid, call_id: c.id }).catch((err) => {
      if (err.code !== "not_found" && err.code !== "conflict") this.setError(sid, "Not declined: " + err.message);
    });
  }

  /** hangup ends (or, while it rings, cancels) this device's call in sid. */
  hangup(sid) {
    if (this.inviting?.sid === sid) {
      this.inviting.cancelled = true;
      return;
    }
    const leg = this.leg;
    if (!leg || leg.sid !== sid) return;
    const c = this.calls.get(sid);
    const type = leg.role === "inviter" && (!c || c.state === "ringing") ? "call.cancel" : "call.hangup";
    this.conn.command({ type, session_id: sid, call_id: leg.callID }).catch((err) => {
      // Already over (the other party hung up at the same time): fine.
      if (err.code !== "not_found") console.warn(`switchboard: ${type} failed`, err);
    });
    this.drop();
  }

  toggleMute() {
    const leg = this.leg;
    if (!leg) return;
    leg.muted = !leg.muted;
    leg.local.getAudioTracks().forEach((t) => (t.enabled = !leg.muted));
    this.changed();
  }

  toggleCamera() {
    const leg = this.leg;
    if (!leg) return;
    leg.cameraOff = !leg.cameraOff;
    leg.local.getVideoTracks().forEach((t) => (t.enabled = !leg.cameraOff));
    this.changed();
  }

  newLeg({ sid, callID, media, role, local, iceServers, started }) {
    const leg = {
      sid, callID, media, role, local, started,
      iceServers: iceServers?.length ? iceServers : this.conn.iceServers || [],
      pc: null, remote: null, inbox: [], candidates: [], remoteSet: false, pumping: false,
      connectedSent: false, muted: false, cameraOff: false,
    };
    leg.inbox = this.early.filter((f) => f.call_id === callID);
    this.early = this.early.filter((f) => f.call_id !== callID);
    return leg;
  }

  // peer makes the leg's RTCPeerConnection with its local tracks.
  peer(leg) {
    if (leg.pc) return leg.pc;
    const pc = new RTCPeerConnection({ iceServers: leg.iceServers });
    leg.pc = pc;
    for (const t of leg.local.getTracks()) pc.addTrack(t, leg.local);
    pc.onicecandidate = (e) => {
      if (e.candidate && e.candidate.candidate && this.leg === leg) this.signal(leg, { candidate: e.candidate.toJSON() });
    };
    pc.ontrack = (e) => {
      if (e.streams[0]) leg.remote = e.streams[0];
      else (leg.remote ??= new MediaStream()).addTrack(e.track);
      this.changed();
    };
    pc.onconnectionstatechange = () => {
      if (this.leg !== leg) return;
      if (pc.connectionState === "connected" && !leg.connectedSent) {
        leg.connectedSent = true;
        this.conn.command({ type: "call.connected", session_id: leg.sid, call_id: leg.callID }).catch(() => {
          leg.connectedSent = false;
        });
      } else if (pc.connectionState === "failed") {
        this.hangup(leg.sid);
      }
      this.changed();
    };
    globalThis.__sbCall = { pc, session_id: leg.sid, call_id: leg.callID };
    return pc;
  }

  signal(leg, body) {
    this.conn.command({ type: "call.signal", session_id: leg.sid, call_id: leg.callID, ...body }).catch((err) => {
      console.warn("switchboard: call.signal not sent", err);
    });
  }

  // pump handles the leg's signals in order, one at a time; the inviting
  // device waits for call.started before it takes the offer.
  pump() {
    const leg = this.leg;
    if (!leg || leg.pumping || !leg.started) return;
    leg.pumping = true;
    (async () => {
      while (leg.inbox.length && this.leg === leg) {
        const f = leg.inbox.shift();
        try {
          await this.handleSignal(leg, f);
        } catch (err) {
          console.warn("switchboard: a call signal failed", err);
        }
      }
      leg.pumping = false;
    })();
  }

  async handleSignal(leg, f) {
    if (f.sdp) {
      const pc = this.peer(leg);
      await pc.setRemoteDescription(f.sdp);
      leg.remoteSet = true;
      for (const c of leg.candidates.splice(0)) await pc.addIceCandidate(c).catch((e) => console.warn("switchboard: candidate", e));
      if (f.sdp.type === "offer") {
        const answer = await pc.createAnswer();
        await pc.setLocalDescription(answer);
        if (this.leg === leg) this.signal(leg, { sdp: pc.localDescription.toJSON() });
      }
    } else if (f.candidate) {
      if (!leg.remoteSet) leg.candidates.push(f.candidate);
      else await leg.pc.addIceCandidate(f.candidate);
    }
  }

  // drop ends this device's leg here: the tracks stop, the connection closes.
  drop() {
    const leg = this.leg;
    if (!leg) return;
    this.leg = null;
    leg.local?.getTracks().forEach((t) => t.stop());
    try {
      leg.pc?.close();
    } catch {
      /* closed */
    }
    if (globalThis.__sbCall?.call_id === leg.callID) delete globalThis.__sbCall;
    this.changed();
  }

  /**
   * focus is the session whose call a page shows: this device's call, a
   * ringing one, else preferred if it has something to show, else the
   * latest "Answered elsewhere" or "Call ended" line, else preferred.
   */
  focus(preferred) {
    if (this.leg) return this.leg.sid;
    if (this.inviting) return this.inviting.sid;
    if (this.accepting) return this.accepting;
    for (const sid of this.calls.keys()) if (this.incoming(sid)) return sid;
    if (preferred && this.view(preferred).state !== "idle") return preferred;
    let latest = null;
    for (const [sid, f] of this.flashes) if (!latest || f.until > latest[1]) latest = [sid, f.until];
    return latest ? latest[0] : preferred;
  }

  /**
   * view is what a page shows of session sid's call: state (idle,
   * incoming, outgoing, connecting, connected, busy, ended), the status
   * text, the call, this device's leg (if in sid), the error.
   */
  view(sid) {
    const c = this.calls.get(sid) || null;
    const leg = this.leg?.sid === sid ? this.leg : null;
    const error = this.errors.get(sid) || "";
    const flash = this.flashes.get(sid);
    const v = { state: "idle", text: "", call: c, leg, error, media: c?.media || leg?.media || "", since: 0 };
    if (leg) {
      if (leg.role === "inviter" && (!c || c.state === "ringing")) return { ...v, state: "outgoing", text: "Calling…" };
      const connected = c?.state === "connected";
      return { ...v, state: connected ? "connected" : "connecting", text: connected ? "In call" : "Connecting…", since: c?.startedAt || 0 };
    }
    if (this.inviting?.sid === sid) return { ...v, state: "outgoing", text: "Calling…", media: this.inviting.media };
    if (this.accepting === sid) return { ...v, state: "connecting", text: "Answering…" };
    if (c) {
      if (this.incoming(sid)) {
        const who = c.from?.name ? ` from ${c.from.name}` : "";
        return { ...v, state: "incoming", text: `Incoming ${c.media === "video" ? "video" : "voice"} call${who}` };
      }
      if (flash) return { ...v, state: "busy", text: flash.text };
      if (c.state === "ringing") return { ...v, state: "busy", text: c.from?.role === this.role ? "Calling from another device…" : "A call is ringing" };
      return { ...v, state: "busy", text: "A call is in progress on another device", since: c.startedAt };
    }
    if (flash) return { ...v, state: "ended", text: flash.text };
    return v;
  }

  dispose() {
    if (this.leg) this.hangup(this.leg.sid);
    this.drop();
    this.ringer.stop();
    clearTimeout(this.ringTimer);
    this.conn.removeEventListener("event", this.onEvent);
    this.conn.removeEventListener("notice", this.onNotice);
    this.conn.removeEventListener("hello", this.onHello);
    this.conn.removeEventListener("resync", this.onResync);
    removeEventListener("pagehide", this.onUnload);
  }
}

/**
 * CallView: the call area of a page, for one session at a time. prefix
 * goes before every data-testid ("sb-" in the widget). It re-renders on
 * the manager's changes and every second (the timer).
 */
export class CallView {
  constructor(manager, { prefix = "", onAccept = () => {} } = {}) {
    this.m = manager;
    this.sid = "";
    const id = (s) => prefix + s;
    const button = (label, cls, onclick, extra = {}) => h("button", { type: "button", class: cls, onclick, ...extra }, label);
    this.status = h("p", { class: "call-status", role: "status", "data-testid": id("call-status") });
    this.timer = h("span", { class: "call-timer", "data-testid": id("call-timer"), "aria-label": "Call duration", hidden: true });
    this.error = h("p", { class: "call-error", role: "alert", "data-testid": id("call-error"), hidden: true });
    this.accept = button("Accept", "call-accept", () => {
      onAccept(this.sid);
      this.m.accept(this.sid);
    });
    this.decline = button("Decline", "call-decline", () => this.m.decline(this.sid));
    this.cancel = button("Cancel", "call-hangup", () => this.m.hangup(this.sid));
    this.mute = button("Mute", "call-toggle", () => this.m.toggleMute(), { "aria-pressed": "false" });
    this.camera = button("Camera off", "call-toggle", () => this.m.toggleCamera(), { "aria-pressed": "false" });
    this.hang = button("Hang up", "call-hangup", () => this.m.hangup(this.sid));
    this.remoteVideo = h("video", { class: "call-remote", autoplay: true, playsinline: true, "data-testid": id("call-remote-video"), "aria-label": "The other party's video" });
    this.localVideo = h("video", { class: "call-local", autoplay: true, playsinline: true, muted: true, "data-testid": id("call-local-video"), "aria-label": "Your camera" });
    this.localVideo.muted = true;
    this.remoteAudio = h("audio", { autoplay: true, "data-testid": id("call-remote-audio") });
    this.videos = h("div", { class: "call-videos", hidden: true }, this.remoteVideo, this.localVideo);
    this.el = h("section", { class: "call", role: "region", "aria-label": "Call", "data-testid": id("call"), "data-state": "idle", hidden: true },
      h("div", { class: "call-head" }, this.status, this.timer),
      this.error, this.videos, this.remoteAudio,
      h("div", { class: "call-buttons" }, this.accept, this.decline, this.cancel, this.mute, this.camera, this.hang));
    manager.addEventListener("change", () => this.render());
    this.tick = setInterval(() => this.renderTimer(), 1000);
  }

  show(sid) {
    this.sid = sid || "";
    this.render();
  }

  render() {
    const v = this.sid ? this.m.view(this.sid) : { state: "idle", error: "" };
    this.v = v;
    const el = this.el;
    el.dataset.state = v.state;
    el.dataset.media = v.media || "";
    el.dataset.ringing = String(v.state === "incoming" && this.m.ringing);
    if (v.call) el.dataset.call = v.call.id;
    else delete el.dataset.call;
    el.hidden = v.state === "idle" && !v.error;
    this.status.textContent = v.text || "";
    this.status.hidden = !v.text;
    this.error.textContent = v.error || "";
    this.error.hidden = !v.error;
    const inCall = v.state === "connecting" || v.state === "connected";
    this.accept.hidden = this.decline.hidden = v.state !== "incoming";
    this.cancel.hidden = v.state !== "outgoing";
    this.hang.hidden = this.mute.hidden = !inCall;
    this.camera.hidden = !inCall || v.media !== "video";
    const leg = v.leg;
    if (leg) {
      this.mute.textContent = leg.muted ? "Unmute" : "Mute";
      this.mute.setAttribute("aria-pressed", String(leg.muted));
      this.camera.textContent = leg.cameraOff ? "Camera on" : "Camera off";
      this.camera.setAttribute("aria-pressed", String(leg.cameraOff));
    }
    const video = !!leg && leg.media === "video";
    this.videos.hidden = !video;
    this.setSource(this.remoteVideo, video ? leg.remote : null);
    this.setSource(this.localVideo, video ? leg.local : null);
    this.setSource(this.remoteAudio, leg && !video ? leg.remote : null);
    this.renderTimer();
  }

  dispose() {
    clearInterval(this.tick);
  }

  setSource(el, stream) {
    if (el.srcObject === stream) return;
    el.srcObject = stream;
    if (stream) el.play?.().catch(() => {}); // autoplay may wait for a gesture; the stats flow regardless
  }

  renderTimer() {
    const v = this.v;
    const show = !!v && (v.state === "connecting" || v.state === "connected" || (v.state === "busy" && v.since)) && v.since > 0;
    this.timer.hidden = !show;
    if (show) this.timer.textContent = clock((Date.now() - v.since) / 1000);
  }
}
