/**
 * WGS84 geodesy in plain numbers (no three.js): geodetic <-> ECEF and local ENU frames.
 *
 * The viewer draws the twin in a local, y-up, metric frame centred on the district (so
 * float32 vertices stay precise and WebXR's floor is the street); these functions give the
 * exact float64 conversions between that frame, ECEF (the 3D Tiles frame) and CRS84.
 */

export const WGS84_A = 6378137.0;
export const WGS84_F = 1 / 298.257223563;
export const WGS84_E2 = WGS84_F * (2 - WGS84_F);

export type Vec3 = [number, number, number];
/** 4x4 matrix, column-major (the order of three.js `Matrix4.elements` and 3D Tiles). */
export type Mat4 = number[];

const RAD = Math.PI / 180;

export function geodeticToEcef(lonDeg: number, latDeg: number, h: number): Vec3 {
  const lon = lonDeg * RAD;
  const lat = latDeg * RAD;
  const sinLat = Math.sin(lat);
  const cosLat = Math.cos(lat);
  const n = WGS84_A / Math.sqrt(1 - WGS84_E2 * sinLat * sinLat);
  return [
    (n + h) * cosLat * Math.cos(lon),
    (n + h) * cosLat * Math.sin(lon),
    (n * (1 - WGS84_E2) + h) * sinLat,
  ];
}

/** ECEF -> [lon deg, lat deg, ellipsoidal height m] (Bowring, then two refinements). */
export function ecefToGeodetic(x: number, y: number, z: number): Vec3 {
  const lon = Math.atan2(y, x);
  const p = Math.hypot(x, y);
  let lat = Math.atan2(z, p * (1 - WGS84_E2));
  let h = 0;
  for (let i = 0; i < 5; i++) {
    const sinLat = Math.sin(lat);
    const n = WGS84_A / Math.sqrt(1 - WGS84_E2 * sinLat * sinLat);
    h = p / Math.cos(lat) - n;
    lat = Math.atan2(z, p * (1 - (WGS84_E2 * n) / (n + h)));
  }
  return [lon / RAD, lat / RAD, h];
}

/** East, north, up unit vectors at a geodetic point, in ECEF. */
export function enuAxes(lonDeg: number, latDeg: number): { east: Vec3; north: Vec3; up: Vec3 } {
  const lon = lonDeg * RAD;
  const lat = latDeg * RAD;
  const sl = Math.sin(lon);
  const cl = Math.cos(lon);
  const sp = Math.sin(lat);
  const cp = Math.cos(lat);
  return {
    east: [-sl, cl, 0],
    north: [-sp * cl, -sp * sl, cp],
    up: [cp * cl, cp * sl, sp],
  };
}

/**
 * The viewer's local frame at a geodetic origin: x east, y up, z south (three.js y-up).
 * `toLocal` maps ECEF to local; `toEcef` is its inverse. Both are column-major Mat4.
 */
export class LocalFrame {
  readonly origin: Vec3;
  readonly toEcef: Mat4;
  readonly toLocal: Mat4;

  constructor(
    readonly lon: number,
    readonly lat: number,
    readonly height: number,
  ) {
    this.origin = geodeticToEcef(lon, lat, height);
    const { east, north, up } = enuAxes(lon, lat);
    const south: Vec3 = [-north[0], -north[1], -north[2]];
    const o = this.origin;
    // columns: local x -> east, local y -> up, local z -> south
    this.toEcef = [...east, 0, ...up, 0, ...south, 0, o[0], o[1], o[2], 1];
    // inverse of a rigid transform: R^T and -R^T o
    const dot = (a: Vec3, b: Vec3) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
    this.toLocal = [
      east[0], up[0], south[0], 0,
      east[1], up[1], south[1], 0,
      east[2], up[2], south[2], 0,
      -dot(east, o), -dot(up, o), -dot(south, o), 1,
    ];
  }

  ecefToLocal(p: Vec3): Vec3 {
    return applyMat4(this.toLocal, p);
  }

  localToEcef(p: Vec3): Vec3 {
    return applyMat4(this.toEcef, p);
  }

  geodeticToLocal(lon: number, lat: number, h: number): Vec3 {
    return this.ecefToLocal(geodeticToEcef(lon, lat, h));
  }

  localToGeodetic(p: Vec3): Vec3 {
    const e = this.localToEcef(p);
    return ecefToGeodetic(e[0], e[1], e[2]);
  }
}

export function applyMat4(m: Mat4, p: Vec3): Vec3 {
  return [
    m[0] * p[0] + m[4] * p[1] + m[8] * p[2] + m[12],
    m[1] * p[0] + m[5] * p[1] + m[9] * p[2] + m[13],
    m[2] * p[0] + m[6] * p[1] + m[10] * p[2] + m[14],
  ];
}

export function distance(a: Vec3, b: Vec3): number {
  return Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);
}
