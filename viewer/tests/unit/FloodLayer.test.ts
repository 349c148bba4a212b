import { describe, expect, it } from 'vitest';
import { LocalFrame } from '../../src/core/Geodesy';
import { FloodLayer } from '../../src/three/FloodLayer';

/** Area (m²) of the layer's triangles in the local x/z plane. */
function area(layer: FloodLayer): number {
  const pos = (layer.group.children[0] as unknown as { geometry: { attributes: { position: { array: Float32Array } } } }).geometry.attributes.position.array;
  let a = 0;
  for (let i = 0; i < pos.length; i += 9) {
    const [ax, az, bx, bz, cx, cz] = [pos[i], pos[i + 2], pos[i + 3], pos[i + 5], pos[i + 6], pos[i + 8]];
    a += Math.abs((bx - ax) * (cz - az) - (cx - ax) * (bz - az)) / 2;
  }
  return a;
}

describe('FloodLayer', () => {
  const frame = new LocalFrame(24.94, 60.17, 0);
  // a square of 0.001° of longitude by 0.0005° of latitude, with a hole a quarter of it
  const [lon, lat, dlon, dlat] = [24.94, 60.17, 0.001, 0.0005];
  const outer = [[lon, lat], [lon + dlon, lat], [lon + dlon, lat + dlat], [lon, lat + dlat], [lon, lat]];
  const hole = [[lon + dlon / 4, lat + dlat / 4], [lon + dlon / 4, lat + (3 * dlat) / 4], [lon + (3 * dlon) / 4, lat + (3 * dlat) / 4], [lon + (3 * dlon) / 4, lat + dlat / 4], [lon + dlon / 4, lat + dlat / 4]];

  it('triangulates polygons with their holes, draped above the ground', () => {
    const full = new FloodLayer(frame, { type: 'FeatureCollection', features: [{ geometry: { type: 'Polygon', coordinates: [outer] } }] });
    const holed = new FloodLayer(frame, { type: 'FeatureCollection', features: [{ geometry: { type: 'MultiPolygon', coordinates: [[outer, hole]] } }] });
    expect(full.triangles).toBe(2);
    // 0.001° of longitude at 60.17° N is about 55.6 m; 0.0005° of latitude about 55.7 m
    expect(area(full)).toBeGreaterThan(3050);
    expect(area(full)).toBeLessThan(3150);
    expect(area(holed) / area(full)).toBeCloseTo(0.75, 3);
    const ys = (full.group.children[0] as unknown as { geometry: { attributes: { position: { array: Float32Array } } } }).geometry.attributes.position.array.filter((_, i) => i % 3 === 1);
    expect([...new Set(ys)]).toEqual([Math.fround(0.6)]);
  });

  it('draws nothing for an empty extent', () => {
    expect(new FloodLayer(frame, { type: 'FeatureCollection', features: [] }).triangles).toBe(0);
  });
});
