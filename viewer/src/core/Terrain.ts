/**
 * The twin's terrain as the server gives it (`GET /api/terrain`): heights on a regular
 * lon/lat grid, rows from north to south, null where the DEM says nothing. No three.js here:
 * the ground mesh, the overlays and the markers all ask `heightAt` where the ground is, so
 * everything the viewer lays on the ground lies on the same surface.
 */
export interface TerrainGrid {
  source: string;
  synthetic: boolean;
  vertical_datum: string;
  resolution_m: number;
  /** lon0, lat0, lon1, lat1 (CRS84) */
  bbox: [number, number, number, number];
  width: number;
  height: number;
  heights: (number | null)[];
}

export class Terrain {
  readonly min: number;
  readonly max: number;

  constructor(readonly grid: TerrainGrid) {
    let lo = Infinity;
    let hi = -Infinity;
    for (const h of grid.heights) {
      if (h === null) continue;
      lo = Math.min(lo, h);
      hi = Math.max(hi, h);
    }
    if (!Number.isFinite(lo)) throw new Error('the terrain has no height at all');
    this.min = lo;
    this.max = hi;
  }

  /** The node (column, row) of a grid index, and its lon/lat. */
  node(i: number): [number, number] {
    const { bbox, width, height } = this.grid;
    const c = i % width;
    const r = Math.floor(i / width);
    return [bbox[0] + ((bbox[2] - bbox[0]) * c) / (width - 1), bbox[3] - ((bbox[3] - bbox[1]) * r) / (height - 1)];
  }

  /** Height at lon/lat (m, the DEM's datum), bilinear between the grid's nodes; null off the
   * grid or next to a node without height. */
  heightAt(lon: number, lat: number): number | null {
    const { bbox, width, height, heights } = this.grid;
    const fc = ((lon - bbox[0]) / (bbox[2] - bbox[0])) * (width - 1);
    const fr = ((bbox[3] - lat) / (bbox[3] - bbox[1])) * (height - 1);
    if (!(fc >= 0 && fr >= 0 && fc <= width - 1 && fr <= height - 1)) return null;
    const c0 = Math.min(Math.floor(fc), width - 2);
    const r0 = Math.min(Math.floor(fr), height - 2);
    const tc = fc - c0;
    const tr = fr - r0;
    const at = (r: number, c: number) => heights[r * width + c];
    const a = at(r0, c0);
    const b = at(r0, c0 + 1);
    const c = at(r0 + 1, c0);
    const d = at(r0 + 1, c0 + 1);
    if (a === null || b === null || c === null || d === null) return null;
    return (a * (1 - tc) + b * tc) * (1 - tr) + (c * (1 - tc) + d * tc) * tr;
  }
}
