/**
 * Operations (operators and admins): the control tower. Every device with its state, last
 * seen and protocol; counts by layer and by state; filters; the quarantined devices to adopt
 * (admins); the open alerts to acknowledge or resolve; the rules and how many devices each
 * has firing. A click on a row flies the 3D view to the device and opens it. Other accounts
 * are told what role it needs, and nothing is fetched for them.
 */
import type { AppContext, TwinMode } from '../app/AppContext';
import { alertList, DevicePanel, typeTitle } from '../app/DevicePanel';
import { FloodView } from '../app/FloodView';
import { LiveFeed } from '../app/LiveFeed';
import { ApiError, explain } from '../core/ApiClient';
import type { LiveStatus } from '../core/LiveClient';
import { countBy, type DeviceDoc, type DeviceState, type Level, present } from '../core/LiveState';
import type { PickResult } from '../three/TwinViewer';
import { h } from '../ui/Shell';

export const OPS_ROLES = ['operator', 'admin'];
const ROWS_SHOWN = 200;

interface RuleDoc {
  name: string;
  metric: string;
  severity: string;
  for?: number;
  states?: { ok?: number; pending?: number; firing?: number };
}

export class OpsMode implements TwinMode {
  readonly name = 'ops';
  readonly title = 'Operations';
  readonly route = '/ops';
  private feed: LiveFeed | null = null;
  private panel: DevicePanel | null = null;
  private flood: FloodView | null = null;
  private filters = { text: '', layer: '', level: '', alerting: false };
  private els: Record<string, HTMLElement> = {};
  private renderQueued = false;

  async enter(ctx: AppContext): Promise<void> {
    const { shell, session } = ctx;
    if (!OPS_ROLES.includes(session.principal.role) || session.principal.anonymous) {
      const signIn = h('button', { id: 'ops-signin', type: 'button', text: 'Sign in as an operator' });
      signIn.addEventListener('click', () => shell.openSignIn());
      const who = session.principal.anonymous ? 'You are not signed in.' : `Your role is ${session.principal.role}.`;
      shell.setTools(
        h('h2', { text: 'Operations' }),
        h('p', { id: 'ops-denied', class: 'notice', text: `The control tower is for operators and administrators: this page needs an operator or admin account. ${who} The Live page shows what the sensors say to everyone.` }),
        h('div', { class: 'row' }, signIn, h('a', { href: '#/live', text: 'Open Live' })),
      );
      document.body.dataset.ops = 'denied';
      return;
    }
    document.body.dataset.ops = 'loading';
    const feed = new LiveFeed(ctx, 'all');
    this.feed = feed;
    this.panel = new DevicePanel(ctx, feed);
    this.flood = new FloodView(ctx, feed);
    this.els = {
      status: h('p', { id: 'ops-status', class: 'muted', text: 'Connecting to the live feed…' }),
      counts: h('div', { id: 'ops-counts' }),
      alerts: h('div', { id: 'ops-alerts' }),
      quarantine: h('div', { id: 'ops-quarantine' }),
      rules: h('div', { id: 'ops-rules' }),
      devices: h('div', { id: 'ops-devices' }),
    };
    shell.setTools(
      h('h2', { text: 'Operations' }),
      this.els.status,
      this.els.counts,
      this.els.alerts,
      this.flood.el,
      this.els.quarantine,
      this.filterBar(ctx),
      this.els.devices,
      this.els.rules,
    );
    feed.addEventListener('change', (e) => {
      this.queueRender(ctx);
      this.panel?.refresh((e as CustomEvent<string[] | null>).detail);
    });
    feed.addEventListener('status', (e) => {
      const s = (e as CustomEvent<LiveStatus>).detail;
      this.els.status.dataset.status = s;
      this.els.status.textContent = s === 'live' ? 'Live: every device, as it reports.' : s === 'refused' ? 'The live feed refused this account.' : 'The live feed is down: reconnecting…';
    });
    try {
      await feed.start();
    } catch (err) {
      shell.message(explain(err), 'error');
    }
    this.render(ctx);
    this.flood.refresh();
    await Promise.all([this.loadQuarantine(ctx), this.loadRules(ctx)]);
    document.body.dataset.ops = 'shown';
  }

  private filterBar(ctx: AppContext): HTMLElement {
    const text = h('input', { id: 'ops-filter-text', type: 'search', placeholder: 'Device id or type', 'aria-label': 'Filter devices' });
    text.addEventListener('input', () => {
      this.filters.text = text.value.trim().toLowerCase();
      this.render(ctx);
    });
    const layer = h('select', { id: 'ops-filter-layer', 'aria-label': 'Layer' });
    this.els.layerSelect = layer;
    layer.addEventListener('change', () => {
      this.filters.layer = layer.value;
      this.render(ctx);
    });
    const level = h('select', { id: 'ops-filter-level', 'aria-label': 'State' });
    for (const [v, label] of [['', 'Any state'], ['alarm', 'Alarm'], ['warn', 'Watch'], ['ok', 'Normal'], ['off', 'Off'], ['unknown', 'No reading']]) level.append(h('option', { value: v, text: label }));
    level.addEventListener('change', () => {
      this.filters.level = level.value;
      this.render(ctx);
    });
    const alerting = h('input', { id: 'ops-filter-alerting', type: 'checkbox' });
    alerting.addEventListener('change', () => {
      this.filters.alerting = alerting.checked;
      this.render(ctx);
    });
    return h('div', { id: 'ops-filters' }, h('h3', { text: 'Devices' }), h('div', { class: 'row' }, text, layer, level), h('label', { class: 'check' }, alerting, ' With an open alert only'));
  }

  private queueRender(ctx: AppContext): void {
    if (this.renderQueued) return;
    this.renderQueued = true;
    requestAnimationFrame(() => {
      this.renderQueued = false;
      this.render(ctx);
    });
  }

  private render(ctx: AppContext): void {
    const feed = this.feed;
    if (!feed) return;
    const alerting = new Set(feed.state.openAlerts().map((a) => a.device_id));
    const all = [...feed.state.devices.values()].filter((d) => d.status !== 'quarantined');
    const level = (d: DeviceState): Level => present(d, alerting.has(d.id)).level;
    // counts
    const chip = (k: string, n: number, attr: string) => h('span', { class: 'chip', [attr]: k, text: `${k} ${n}` });
    this.els.counts.replaceChildren(
      h('p', { class: 'chips', id: 'ops-count-layer' }, h('strong', { text: 'By layer ' }), ...countBy(all, (d) => d.layer ?? 'unbound').map(([k, n]) => chip(k, n, 'data-layer'))),
      h('p', { class: 'chips', id: 'ops-count-status' }, h('strong', { text: 'By state ' }), ...countBy(all, level).map(([k, n]) => chip(k, n, 'data-level'))),
    );
    const sel = this.els.layerSelect as HTMLSelectElement;
    const layers = [...new Set(all.map((d) => d.layer ?? 'unbound'))].sort();
    if (sel.options.length !== layers.length + 1) {
      sel.replaceChildren(h('option', { value: '', text: 'Any layer' }), ...layers.map((l) => h('option', { value: l, text: l, selected: l === this.filters.layer })));
    }
    // alerts
    const open = feed.state.openAlerts();
    this.els.alerts.replaceChildren(
      h('h3', { text: `Open alerts (${open.length})` }),
      !feed.alertsAvailable ? h('p', { class: 'muted', text: 'This twin has no alert rules yet.' }) : open.length ? alertList(ctx, feed, open, (a) => this.openDevice(a.device_id)) : h('p', { class: 'muted', text: 'No open alert.' }),
    );
    // devices
    const f = this.filters;
    const rows = all
      .filter((d) => !f.text || d.id.toLowerCase().includes(f.text) || d.type.toLowerCase().includes(f.text))
      .filter((d) => !f.layer || (d.layer ?? 'unbound') === f.layer)
      .filter((d) => !f.level || level(d) === f.level)
      .filter((d) => !f.alerting || alerting.has(d.id))
      .sort((a, b) => Number(alerting.has(b.id)) - Number(alerting.has(a.id)) || a.id.localeCompare(b.id));
    const table = h(
      'table',
      { id: 'ops-table', class: 'grid' },
      h('thead', {}, h('tr', {}, ...['Device', 'State', 'Last seen', 'Protocol'].map((t) => h('th', { text: t })))),
      h(
        'tbody',
        {},
        ...rows.slice(0, ROWS_SHOWN).map((d) => {
          const p = present(d, alerting.has(d.id));
          const tr = h(
            'tr',
            { 'data-device': d.id, 'data-level': p.level, tabindex: 0 },
            h('td', {}, h('span', { class: `dot level-${p.level}` }), ` ${d.id}`, h('br'), h('small', { class: 'muted', text: typeTitle(d.type) })),
            h('td', { text: p.label }),
            h('td', { text: ago(d.lastSeen) }),
            h('td', { text: d.protocol ?? '' }),
          );
          const open = () => this.openDevice(d.id);
          tr.addEventListener('click', open);
          tr.addEventListener('keydown', (e) => {
            if (e.key === 'Enter') open();
          });
          return tr;
        }),
      ),
    );
    const more = rows.length > ROWS_SHOWN ? h('p', { class: 'muted', text: `${rows.length - ROWS_SHOWN} more: narrow the filters.` }) : null;
    const scroll = this.els.devices.querySelector('.table-wrap')?.scrollTop ?? 0;
    const wrap = h('div', { class: 'table-wrap' }, table);
    this.els.devices.replaceChildren(h('p', { class: 'muted', id: 'ops-shown', text: `${rows.length} of ${all.length} devices` }), wrap, ...(more ? [more] : []));
    wrap.scrollTop = scroll; // a redraw on new values keeps the operator's place
  }

  private openDevice(id: string): void {
    const d = this.feed?.device(id);
    if (!d) return;
    this.feed!.flyTo(d);
    this.panel?.show(id);
  }

  private async loadQuarantine(ctx: AppContext): Promise<void> {
    const box = this.els.quarantine;
    if (ctx.session.principal.role !== 'admin') {
      box.replaceChildren(h('h3', { text: 'Quarantined devices' }), h('p', { class: 'muted', text: 'Devices heard of but not registered are shown to administrators, who adopt them.' }));
      return;
    }
    try {
      const { devices } = await ctx.api.json<{ devices: DeviceDoc[] }>('/api/devices?status=quarantined');
      const list = h(
        'ul',
        { class: 'results', id: 'quarantine-list' },
        ...devices.map((d) => {
          const b = h('button', { type: 'button', class: 'small', 'data-adopt': d.id, text: 'Adopt' });
          b.addEventListener('click', async () => {
            b.disabled = true;
            try {
              await ctx.api.post(`/api/devices/${encodeURIComponent(d.id)}/adopt`);
              await this.feed?.loadRegistry();
              this.feed?.refreshPins(null);
              await this.loadQuarantine(ctx);
              this.render(ctx);
              ctx.shell.message(`Device ${d.id} adopted: it is active, its observations kept.`, 'info');
            } catch (err) {
              b.disabled = false;
              ctx.shell.message(explain(err), 'error');
            }
          });
          return h('li', { 'data-device': d.id }, `${d.id} · ${d.protocol}${d.last_seen ? ` · last seen ${ago(d.last_seen)}` : ''} `, b);
        }),
      );
      box.replaceChildren(h('h3', { text: `Quarantined devices (${devices.length})` }), devices.length ? list : h('p', { class: 'muted', text: 'None.' }));
    } catch (err) {
      box.replaceChildren(h('h3', { text: 'Quarantined devices' }), h('p', { class: 'error', text: explain(err) }));
    }
  }

  private async loadRules(ctx: AppContext): Promise<void> {
    const box = this.els.rules;
    try {
      const rules = await ctx.api.json<RuleDoc[]>('/api/rules');
      box.replaceChildren(
        h('h3', { text: `Rules (${rules.length})` }),
        h(
          'table',
          { id: 'ops-rules-table', class: 'grid' },
          h('thead', {}, h('tr', {}, ...['Rule', 'Metric', 'Severity', 'Firing', 'Pending', 'OK'].map((t) => h('th', { text: t })))),
          h(
            'tbody',
            {},
            ...rules.map((r) =>
              h(
                'tr',
                { 'data-rule': r.name, 'data-firing': String(r.states?.firing ?? 0) },
                h('td', { text: r.name }),
                h('td', { text: r.metric }),
                h('td', { text: r.severity }),
                h('td', { text: String(r.states?.firing ?? 0) }),
                h('td', { text: String(r.states?.pending ?? 0) }),
                h('td', { text: String(r.states?.ok ?? 0) }),
              ),
            ),
          ),
        ),
      );
    } catch (err) {
      const none = err instanceof ApiError && err.status === 404;
      box.replaceChildren(h('h3', { text: 'Rules' }), h('p', { class: 'muted', text: none ? 'This twin has no rules API yet.' : explain(err) }));
    }
  }

  onPick(_ctx: AppContext, hit: PickResult | null): boolean {
    const id = hit ? this.feed?.markers.deviceAt(hit.object, hit.instanceId) : null;
    if (!id) return false;
    this.panel?.show(id);
    return true;
  }

  onSession(ctx: AppContext): void {
    this.exit(ctx);
    void this.enter(ctx);
  }

  exit(_ctx: AppContext): void {
    this.panel?.close();
    this.flood?.dispose();
    this.flood = null;
    this.feed?.stop();
    this.feed = null;
    this.panel = null;
    this.els = {};
    delete document.body.dataset.ops;
  }

  dispose(): void {}
}

/** "12 s ago", "5 min ago", "3 h ago", or a date. */
export function ago(at: string | null, now = Date.now()): string {
  if (!at) return 'never';
  const s = Math.max(0, (now - Date.parse(at)) / 1000);
  if (!Number.isFinite(s)) return 'never';
  if (s < 90) return `${Math.round(s)} s ago`;
  if (s < 5400) return `${Math.round(s / 60)} min ago`;
  if (s < 86400 * 2) return `${Math.round(s / 3600)} h ago`;
  return new Date(at).toLocaleDateString();
}
