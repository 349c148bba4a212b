import { describe, expect, it } from 'vitest';
import { busStop, countBy, footprintMoved, type LiveItem, LiveState, present } from '../../src/core/LiveState';

const DEV = (id: string, type: string, extra: Record<string, unknown> = {}) => ({
  id,
  protocol: 'mqtt',
  type,
  status: 'active',
  visibility: 'public',
  layer: 'furniture',
  feature_id: 1,
  last_seen: null,
  location: { type: 'Point', coordinates: [24.94, 60.17, 0] },
  ...extra,
});
const item = (device_id: string, metric: string, value: number, at: string): LiveItem => ({ device_id, metric, value, at });

describe('LiveState', () => {
  it('keeps the newest value per metric, whatever order they come in', () => {
    const s = new LiveState();
    s.setRegistry([DEV('bay-1', 'parking')]);
    expect([...s.applyDelta([item('bay-1', 'occupied', 1, '2026-12-01T10:00:05Z')])]).toEqual(['bay-1']);
    s.applyDelta([item('bay-1', 'occupied', 0, '2026-12-01T10:00:01Z')]);
    expect(s.devices.get('bay-1')!.metrics.get('occupied')!.value).toBe(1);
    expect(s.devices.get('bay-1')!.lastSeen).toBe('2026-12-01T10:00:05Z');
  });

  it('a snapshot replaces the values, the registry drops devices it no longer lists', () => {
    const s = new LiveState();
    s.setRegistry([DEV('a', 'lamp'), DEV('b', 'lamp')]);
    s.applyDelta([item('a', 'power', 36, '2026-12-01T18:00:00Z')]);
    s.applySnapshot([item('b', 'power', 18, '2026-12-01T18:00:00Z')]);
    expect(s.devices.get('a')!.metrics.size).toBe(0);
    expect(present(s.devices.get('b')!).label).toBe('dimmed · 18 W');
    s.setRegistry([DEV('b', 'lamp')]);
    expect([...s.devices.keys()]).toEqual(['b']);
  });

  it('ignores malformed items instead of failing', () => {
    const s = new LiveState();
    expect(s.applyDelta([null as unknown as LiveItem, { device_id: 3 } as unknown as LiveItem]).size).toBe(0);
  });

  it('open alerts: resolved ones leave, the most severe first, an alert makes a device an alarm', () => {
    const s = new LiveState();
    s.setRegistry([DEV('g', 'flood_gauge')]);
    s.applyDelta([item('g', 'stage_m', 0.4, '2026-12-01T10:00:00Z')]);
    const base = { rule: 'r', device_id: 'g', message: 'm', value: 1, opened_at: '2026-12-01T10:00:00Z', acknowledged_at: null, acknowledged_by: null, resolved_at: null };
    s.applyAlert({ ...base, id: 1, state: 'open', severity: 'warning' });
    s.applyAlert({ ...base, id: 2, state: 'open', severity: 'critical' });
    expect(s.openAlerts().map((a) => a.id)).toEqual([2, 1]);
    expect(present(s.devices.get('g')!, true).level).toBe('alarm');
    expect(present(s.devices.get('g')!).level).toBe('ok');
    s.applyAlert({ ...base, id: 2, state: 'resolved', severity: 'critical', resolved_at: '2026-12-01T11:00:00Z' });
    expect(s.openAlerts().map((a) => a.id)).toEqual([1]);
  });

  it('reads each kind of device as a person would', () => {
    const s = new LiveState();
    s.setRegistry([DEV('p', 'parking'), DEV('c', 'co2'), DEV('l', 'lamp'), DEV('q', 'air_quality')]);
    s.applyDelta([
      item('p', 'occupied', 0, '2026-12-01T10:00:00Z'),
      item('c', 'co2', 1620, '2026-12-01T10:00:00Z'),
      item('l', 'power', 0, '2026-12-01T10:00:00Z'),
      item('q', 'pm2_5', 20, '2026-12-01T10:00:00Z'),
    ]);
    const p = (id: string) => present(s.devices.get(id)!);
    expect([p('p').label, p('p').level]).toEqual(['free', 'ok']);
    expect([p('c').label, p('c').level]).toEqual(['CO₂ 1620 ppm', 'alarm']);
    expect(p('l').level).toBe('off');
    expect(p('q').level).toBe('warn');
  });

  it('within a bbox; counts; bus stops from their external id', () => {
    const s = new LiveState();
    s.setRegistry([DEV('in', 'lamp'), DEV('out', 'lamp', { location: { type: 'Point', coordinates: [25.5, 60.5] } })]);
    expect(s.within([24.9, 60.1, 25.0, 60.2]).map((d) => d.id)).toEqual(['in']);
    expect(countBy(s.devices.values(), (d) => d.type)).toEqual([['lamp', 2]]);
    expect(busStop({ protocol: 'gtfs', externalId: 'demo-bus:123' })).toEqual({ feed: 'demo-bus', stop: '123' });
    expect(busStop({ protocol: 'mqtt', externalId: 'x:1' })).toBeNull();
  });

  it('a new subscription only when the footprint moved enough', () => {
    const a: [number, number, number, number] = [24.9, 60.1, 25.0, 60.2];
    expect(footprintMoved(null, a)).toBe(true);
    expect(footprintMoved(a, [24.905, 60.1, 25.005, 60.2])).toBe(false);
    expect(footprintMoved(a, [24.95, 60.1, 25.05, 60.2])).toBe(true);
  });
});
