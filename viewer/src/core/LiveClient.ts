/**
 * The `/ws/live` connection: the token in the first message (never in the address, which
 * proxies log), a subscription sent again whenever it changes and after every reconnect, and
 * the server's messages handed on as events. It reconnects on its own (backoff 1 s to 15 s),
 * so a restarted server or a dropped phone connection only greys the picture for a moment.
 *
 * Events: `status` (detail: 'connecting' | 'live' | 'closed' | 'refused'), `snapshot` and
 * `delta` (detail: LiveItem[]), `alert` (detail: Alert), `flood` (detail: a gauge's flood
 * extent, app/FloodView), `error` (detail: the reason).
 */
import type { Alert, BBox, LiveItem } from './LiveState';

export interface Subscription {
  layers?: string[];
  bbox?: BBox;
  devices?: string[];
}

export type LiveStatus = 'connecting' | 'live' | 'closed' | 'refused';

export function liveUrl(base: string): string {
  const u = new URL('/ws/live', base);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  return u.toString();
}

export class LiveClient extends EventTarget {
  status: LiveStatus = 'closed';
  /** messages received and subscriptions sent (tests read them) */
  received = 0;
  subscriptions = 0;
  private ws: WebSocket | null = null;
  private sub: Subscription = {};
  private retry = 1000;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = true;

  constructor(
    private readonly url: string,
    private readonly token: () => string | null,
  ) {
    super();
  }

  start(sub: Subscription): void {
    this.sub = sub;
    this.stopped = false;
    this.connect();
  }

  /** Change what is followed: sent at once when connected, else on connect. */
  subscribe(sub: Subscription): void {
    this.sub = sub;
    if (this.ws?.readyState === WebSocket.OPEN) this.send({ subscribe: sub });
  }

  /** Drop the connection and open a new one (the account changed). */
  restart(): void {
    this.closeSocket();
    if (!this.stopped) this.connect();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.closeSocket();
    this.setStatus('closed');
  }

  private closeSocket(): void {
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onclose = null;
      ws.onmessage = null;
      ws.close();
    }
  }

  private connect(): void {
    this.setStatus('connecting');
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onopen = () => {
      const token = this.token();
      if (token) ws.send(JSON.stringify({ token }));
      this.send({ subscribe: this.sub });
      this.retry = 1000;
      this.setStatus('live');
    };
    ws.onmessage = (ev) => this.onMessage(ev.data);
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      // 1008 (policy) and 4xxx: the server refused this account or subscription
      if (ev.code === 1008 || (ev.code >= 4000 && ev.code < 5000)) {
        this.setStatus('refused');
        this.emit('error', ev.reason || 'the live feed refused this account');
      } else this.setStatus('closed');
      if (this.stopped) return;
      this.timer = setTimeout(() => this.connect(), this.retry);
      this.retry = Math.min(15000, this.retry * 2);
    };
  }

  private send(msg: { subscribe: Subscription }): void {
    this.subscriptions++;
    this.ws?.send(JSON.stringify(msg));
  }

  private onMessage(data: unknown): void {
    let msg: { type?: string; items?: LiveItem[]; alert?: Alert; flood?: unknown; reason?: string };
    try {
      msg = JSON.parse(String(data));
    } catch {
      return; // a live feed never stops on one bad message
    }
    this.received++;
    switch (msg.type) {
      case 'snapshot':
      case 'delta':
        this.emit(msg.type, Array.isArray(msg.items) ? msg.items : []);
        break;
      case 'alert':
        if (msg.alert) this.emit('alert', msg.alert);
        break;
      case 'flood':
        if (msg.flood) this.emit('flood', msg.flood);
        break;
      case 'resync':
        break; // a fresh snapshot follows
      case 'error':
        this.emit('error', msg.reason ?? 'the live feed refused the subscription');
        break;
    }
  }

  private setStatus(s: LiveStatus): void {
    if (s === this.status) return;
    this.status = s;
    this.emit('status', s);
  }

  private emit(type: string, detail: unknown): void {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}
