import { describe, expect, it } from 'vitest';
import { distance, ecefToGeodetic, geodeticToEcef, LocalFrame } from '../../src/core/Geodesy';

describe('Geodesy', () => {
  it('round-trips geodetic <-> ECEF to the millimetre', () => {
    for (const [lon, lat, h] of [
      [24.94, 60.17, 12.5],
      [7.12, 43.58, -3],
      [-122.4, 37.8, 300],
      [0, 0, 0],
    ]) {
      const e = geodeticToEcef(lon, lat, h);
      const [lo, la, hh] = ecefToGeodetic(...e);
      expect(lo).toBeCloseTo(lon, 9);
      expect(la).toBeCloseTo(lat, 9);
      expect(hh).toBeCloseTo(h, 3);
    }
  });

  it('puts the equator on the semi-major axis', () => {
    const [x, y, z] = geodeticToEcef(0, 0, 0);
    expect(x).toBeCloseTo(6378137, 6);
    expect(y).toBeCloseTo(0, 6);
    expect(z).toBeCloseTo(0, 6);
  });

  it('builds a y-up local frame: east is +x, up is +y, north is -z', () => {
    const f = new LocalFrame(24.94, 60.17, 10);
    expect(f.geodeticToLocal(24.94, 60.17, 10).map((v) => Math.abs(v) < 1e-6)).toEqual([true, true, true]);
    const up = f.geodeticToLocal(24.94, 60.17, 30);
    expect(up[1]).toBeCloseTo(20, 6);
    const north = f.geodeticToLocal(24.94, 60.171, 10);
    expect(north[2]).toBeLessThan(-100);
    const east = f.geodeticToLocal(24.942, 60.17, 10);
    expect(east[0]).toBeGreaterThan(100);
  });

  it('inverts its own transform', () => {
    const f = new LocalFrame(2.35, 48.85, 35);
    const p: [number, number, number] = [123.4, -5.6, 789.1];
    const back = f.ecefToLocal(f.localToEcef(p));
    expect(distance(back, p)).toBeLessThan(1e-6);
    const [, , h] = f.localToGeodetic([0, 17, 0]);
    expect(h).toBeCloseTo(52, 6);
  });
});
