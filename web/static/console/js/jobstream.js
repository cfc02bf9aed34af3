// One job's events over `/ws/jobs/<id>?after=<seq>`: applied in seq order exactly once; a dropped
// connection is opened again from the last seq seen, so the text goes on with no gap and no repeat.
import { api, socketUrl } from "./api.js";

const TERMINAL = new Set(["completed", "failed", "cancelled"]);
const MAX_FAILED_CONNECTS = 8;

export class JobStream {
  /** handlers: onState(state, stream), onEvent(event, stream), onEnd(event, stream) */
  constructor(jobId, handlers = {}) {
    this.jobId = jobId;
    this.handlers = handlers;
    this.lastSeq = 0;
    this.text = "";
    this.drops = 0;
    this.failedConnects = 0;
    this.done = false;
    this.stopped = false;
    this.ws = null;
    this.state = "idle";
  }

  start() {
    this.connect();
    return this;
  }

  stop() {
    this.stopped = true;
    if (this.ws) this.ws.close(1000);
  }

  setState(state) {
    this.state = state;
    if (this.handlers.onState) this.handlers.onState(state, this);
  }

  connect() {
    this.setState(this.drops ? "reconnecting" : "connecting");
    const ws = new WebSocket(socketUrl(`/ws/jobs/${encodeURIComponent(this.jobId)}`, { after: this.lastSeq }));
    let opened = false;
    this.ws = ws;
    ws.onopen = () => {
      opened = true;
      this.failedConnects = 0;
      this.setState(this.drops ? "resumed" : "streaming");
    };
    ws.onmessage = (message) => this.receive(JSON.parse(message.data));
    ws.onclose = () => {
      if (ws !== this.ws) return;
      this.ws = null;
      if (this.done || this.stopped) return;
      if (opened) this.drops += 1;
      else this.failedConnects += 1;
      this.reconnect();
    };
  }

  async reconnect() {
    if (this.failedConnects >= MAX_FAILED_CONNECTS) {
      this.setState("disconnected");
      return;
    }
    if (this.failedConnects > 0 && !(await this.stillThere())) return;
    this.setState("reconnecting");
    const delay = Math.min(5000, 250 * 2 ** this.failedConnects);
    setTimeout(() => { if (!this.stopped && !this.done) this.connect(); }, delay);
  }

  /** After a refused handshake: is the job still ours to follow? (401/404 end the stream.) */
  async stillThere() {
    try {
      await api("GET", `/api/jobs/${encodeURIComponent(this.jobId)}`);
      return true;
    } catch (err) {
      if (err.status === 401 || err.status === 404) {
        this.stopped = true;
        this.setState("error");
        return false;
      }
      return true; // the network or the server is down: keep trying
    }
  }

  receive(event) {
    if (event.seq <= this.lastSeq) return; // a repeat: already applied
    if (event.seq !== this.lastSeq + 1) { // a gap: resume from what we have
      if (this.ws) this.ws.close(4000);
      return;
    }
    this.lastSeq = event.seq;
    if ((event.type === "started" || event.type === "retry") && event.restarted) this.text = "";
    if (event.type === "token") this.text += event.text;
    if (this.state !== "streaming" && this.state !== "resumed") this.setState(this.drops ? "resumed" : "streaming");
    if (this.handlers.onEvent) this.handlers.onEvent(event, this);
    if (TERMINAL.has(event.type)) {
      this.done = true;
      this.setState(event.type);
      if (this.handlers.onEnd) this.handlers.onEnd(event, this);
    }
  }
}

/** Cancel a job; its stream then ends with a `cancelled` event. */
export function cancelJob(jobId) {
  return api("POST", `/api/jobs/${encodeURIComponent(jobId)}/cancel`);
}
